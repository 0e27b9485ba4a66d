/* Plant I/O: the register image of regmap.h <-> the station core's typed plant inputs
 * and output image, and a small backend interface (libmodbus style: a struct of
 * function pointers) that moves blocks of the plant's wire tables. Every transfer goes
 * through a plant map (plantmap.h; the compiled layout when the backend names none) and
 * its scan plan: the wire blocks are read, the map decodes them into the logical image,
 * and plantio_decode checks and types that. The in-process backend talks straight to the
 * simulator's plant model; the Modbus link (controller/plantlink) does the same with its
 * own scheduling, so the mapping code is the same either way.
 */
#ifndef SWAP_PLANTIO_H
#define SWAP_PLANTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/station_io.h"
#include "plantmap/plantmap.h"
#include "plantmap/scanplan.h"
#include "regmap/regmap.h"

#define PLANTIO_DI_MAX REGMAP_DI_COUNT(REGMAP_MAX_SLOTS)
#define PLANTIO_IR_MAX REGMAP_IR_COUNT(REGMAP_MAX_SLOTS)
#define PLANTIO_HR_MAX REGMAP_HR_COUNT(REGMAP_MAX_SLOTS)

/* One scan's worth of registers for a plant with n_slots slots. */
struct plantio_image {
    unsigned n_slots;
    uint8_t di[PLANTIO_DI_MAX];
    uint16_t ir[PLANTIO_IR_MAX];
    uint8_t co[REGMAP_CO_COUNT];
    uint16_t hr[PLANTIO_HR_MAX];
};

/* Decodes the input blocks (di: REGMAP_DI_COUNT(n) bits, ir: REGMAP_IR_COUNT(n)
 * registers) into out. Checks the image before trusting it: register map version,
 * slot count, bits other than 0/1, and every input register against its physical range
 * (enum codes, positions, velocities, temperatures, voltages; the 0x8000 and 0xFFFF
 * "no value" sentinels are outside every range). Returns 0 with out->valid = true and
 * out->refused = false; or -1 with err naming the first bad register and its value, and
 * then out->valid = false, out->refused = true with refused_addr / refused_why set (a
 * bad n_slots argument leaves refused false), and nothing else in out changed. */
int plantio_decode(const uint8_t *di, const uint16_t *ir, unsigned n_slots,
                   struct station_plant_in *out, char *err, size_t errsize);

/* Encodes the core's output image into coils (REGMAP_CO_COUNT) and holding registers
 * (REGMAP_HR_COUNT(n)); values are clamped into the documented ranges. */
void plantio_encode(const struct station_plant_out *o, unsigned n_slots, uint8_t *co, uint16_t *hr);

/* A transport for the four blocks. Each call returns 0, or -1 with errno set (EIO for
 * a Modbus exception, ETIMEDOUT, ...). */
struct plantio_backend {
    const char *name;
    void *ctx;
    int (*read_di)(void *ctx, unsigned addr, unsigned n, uint8_t *out);
    int (*read_ir)(void *ctx, unsigned addr, unsigned n, uint16_t *out);
    int (*read_co)(void *ctx, unsigned addr, unsigned n, uint8_t *out);
    int (*read_hr)(void *ctx, unsigned addr, unsigned n, uint16_t *out);
    int (*write_co)(void *ctx, unsigned addr, unsigned n, const uint8_t *v);
    int (*write_hr)(void *ctx, unsigned addr, unsigned n, const uint16_t *v);
    void (*close)(void *ctx);
    /* The plant's layout (not owned); NULL: the compiled default map. */
    const struct plantmap *map;
};

/* The scan plan of map (NULL: the default) for n_slots slots, computed once per map and
 * slot count and kept for the process (costed for Modbus TCP). NULL with err set when
 * the map has no room for n_slots. */
const struct scanplan *plantio_plan(const struct plantmap *map, unsigned n_slots, char *err, size_t errsize);

/* Server callbacks onto a backend that holds the logical image (e.g. the in-process
 * plant), for a plantmap_server; logical must outlive io. */
void plantio_server_io(struct plantmap_server_io *io, const struct plantio_backend *logical);

/* A backend serving the wire layout of srv's map from srv's logical plant (see
 * plantmap_server); close does nothing. */
void plantio_served_backend(struct plantio_backend *b, struct plantmap_server *srv);

/* Reads every read block of the plan (fast and slow) and decodes them through the map
 * into the logical input blocks (di: REGMAP_DI_COUNT(n) bits, ir: REGMAP_IR_COUNT(n)
 * registers), unchecked. Returns 0 or -1 with err set. */
int plantio_read_image(const struct plantio_backend *b, unsigned n_slots, uint8_t *di, uint16_t *ir, char *err,
                       size_t errsize);

/* Reads the plant's output blocks through the map into the logical coils (co:
 * REGMAP_CO_COUNT). Returns 0 or -1 with err set. */
int plantio_read_coils(const struct plantio_backend *b, uint8_t *co, char *err, size_t errsize);

/* Reads every read block of the plan (fast and slow) and decodes them through the map.
 * Returns 0; or -1 with err set and in->valid = false (transport failure or a garbage
 * image). */
int plantio_read(const struct plantio_backend *b, unsigned n_slots, struct station_plant_in *in,
                 char *err, size_t errsize);

/* Encodes through the map and writes every write block (coils, then holding
 * registers). Returns 0 or -1 with err set. */
int plantio_write(const struct plantio_backend *b, unsigned n_slots, const struct station_plant_out *o,
                  char *err, size_t errsize);

/* Reads the plant's present outputs (the plan's write blocks) and decodes the coil levels
 * into in->co_readback (have_readback = true), so the core can adopt them at start-up.
 * Returns 0 or -1 with err set. */
int plantio_readback(const struct plantio_backend *b, struct station_plant_in *in, char *err, size_t errsize);

#endif
