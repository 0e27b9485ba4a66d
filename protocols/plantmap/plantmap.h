/* The plant map: where every logical signal of the register map (regmap.h) lives on a
 * particular plant's wire — Modbus table, address, bit within a register, type, word and
 * byte order, scaling, inversion, and how often it is read (fast / slow class).
 *
 * The station keeps working on its logical image (regmap.h's layout, the core's contract);
 * the map translates between that image and the wire tables of the plant at hand. The
 * compiled layout is the default map's data (plantmap_default), and
 * configs/plantmap/default.ini writes the same map as a file. An integrator brings swapd
 * to a new robot by writing a map file (docs/plant-map.md), not C.
 *
 * Values: engineering value = raw * scale + offset, in the unit the signal catalogue gives
 * (the register map's unit, e.g. 0.1 mm for x_pos). Booleans ignore scale and offset and
 * may be inverted. Decoding a value that does not fit the logical register (NaN, out of
 * range) yields the register's "no value" sentinel (0xFFFF, or 0x8000 when signed), which
 * plantio_decode refuses; encoding clamps into the wire type's range.
 */
#ifndef SWAP_PLANTMAP_H
#define SWAP_PLANTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "regmap/regmap.h"

enum plantmap_table { PLANTMAP_NONE, PLANTMAP_COIL, PLANTMAP_DI, PLANTMAP_IR, PLANTMAP_HR, PLANTMAP_TABLES };
enum plantmap_type { PLANTMAP_BOOL, PLANTMAP_U16, PLANTMAP_S16, PLANTMAP_U32, PLANTMAP_S32, PLANTMAP_F32 };
/* Byte order of a value as A B C D = most to least significant byte: abcd is Modbus'
 * big-endian, high word first; cdab swaps the words; badc swaps the bytes in each word. */
enum plantmap_order { PLANTMAP_ABCD, PLANTMAP_CDAB, PLANTMAP_BADC, PLANTMAP_DCBA };
enum plantmap_class { PLANTMAP_FAST, PLANTMAP_SLOW };

#define PLANTMAP_ADDR_SPACE 65536u
/* Modbus application protocol limits per request. */
#define PLANTMAP_READ_REGS_MAX 125
#define PLANTMAP_READ_BITS_MAX 2000
#define PLANTMAP_WRITE_REGS_MAX 123
#define PLANTMAP_WRITE_BITS_MAX 1968

/* One logical signal the core uses (compiled, from regmap.h). */
struct plantmap_sigdef {
    const char *name;               /* map file section, e.g. "x_pos", "slot_voltage" */
    enum plantmap_table ltable;     /* where it lives in the logical image */
    unsigned laddr;                 /* logical address (slot 0 for per-slot signals) */
    unsigned lstride;               /* logical stride per slot; 0 = not per slot */
    enum plantmap_type ltype;       /* bool, u16, s16 or u32 */
    bool output;                    /* written by the controller (coil / holding) */
    bool required;                  /* a map must place it */
    enum plantmap_class dclass;     /* default class */
    const char *unit;
    const char *meaning;
};

/* Where one signal lives on this plant's wire. */
struct plantmap_sig {
    bool present;
    enum plantmap_table table;
    unsigned addr;                  /* slot 0's address for per-slot signals (base) */
    unsigned stride;                /* per-slot signals: distance between slots */
    int bit;                        /* -1, or the bit (0..15) within a register */
    enum plantmap_type type;
    enum plantmap_order order;
    double scale, offset;
    bool invert;
    enum plantmap_class cls;
    int line;                       /* line of the section in the file; 0 = built in */
};

#define PLANTMAP_NAME_MAX 64

struct plantmap {
    unsigned id;                    /* unique per loaded map in this process (caches key on it) */
    char name[PLANTMAP_NAME_MAX];
    char file[256];
    unsigned slots;                 /* slots the layout has room for */
    /* Device limits (a PLC may take less than the protocol allows per request), and the
     * largest gap a read may bridge (-1: whenever that is cheaper than another request). */
    unsigned max_read_regs, max_read_bits, max_write_regs, max_write_bits;
    int max_gap_regs, max_gap_bits;
    struct plantmap_sig *sig;       /* plantmap_signal_count() entries, owned */
};

/* The wire tables of one plant, the whole 16-bit address space (heap: 384 KiB). */
struct plantmap_wire {
    uint8_t co[PLANTMAP_ADDR_SPACE], di[PLANTMAP_ADDR_SPACE];
    uint16_t hr[PLANTMAP_ADDR_SPACE], ir[PLANTMAP_ADDR_SPACE];
};

/* The logical image (regmap.h's layout) for up to REGMAP_MAX_SLOTS slots. */
struct plantmap_image {
    uint8_t di[REGMAP_DI_COUNT(REGMAP_MAX_SLOTS)];
    uint16_t ir[REGMAP_IR_COUNT(REGMAP_MAX_SLOTS)];
    uint8_t co[REGMAP_CO_COUNT];
    uint16_t hr[REGMAP_HR_COUNT(REGMAP_MAX_SLOTS)];
};

/* The signal catalogue. */
size_t plantmap_signal_count(void);
const struct plantmap_sigdef *plantmap_signal(size_t i);
/* Index of the signal named name, or -1. */
int plantmap_signal_find(const char *name);

const char *plantmap_table_name(enum plantmap_table t);
const char *plantmap_type_name(enum plantmap_type t);
const char *plantmap_order_name(enum plantmap_order o);
/* Registers (or bits, for bool in a bit table) one value of type t occupies. */
unsigned plantmap_type_width(enum plantmap_type t);

/* Fills m with the compiled layout (regmap.h). Returns 0 or -1 (out of memory). */
int plantmap_default(struct plantmap *m);

/* The compiled layout, built once and shared (never freed); NULL only without memory. */
const struct plantmap *plantmap_builtin(void);

/* Loads and validates a map file. Returns 0; or -1 with err = "file:line: reason" (the
 * first problem: syntax, unknown signal or key, a required signal missing, two signals
 * overlapping, a type that does not fit its table, a limit beyond the protocol's). m is
 * then empty (plantmap_free is still safe). */
int plantmap_load(const char *path, struct plantmap *m, char *err, size_t errsize);
int plantmap_load_string(const char *name, const char *text, struct plantmap *m, char *err, size_t errsize);

void plantmap_free(struct plantmap *m);

/* Checks the map for a plant with n_slots slots. Returns 0 or -1 with err set. */
int plantmap_check_slots(const struct plantmap *m, unsigned n_slots, char *err, size_t errsize);

/* Wire address of signal i for slot s (0 for a signal not per slot). */
unsigned plantmap_addr(const struct plantmap *m, size_t i, unsigned slot);

/* Wire -> logical: every input (outputs == false) or output (true) signal the map places,
 * for n_slots slots, into img. Inputs the map leaves out read their default (map_version:
 * REGMAP_VERSION, n_slots: n_slots, others 0). */
void plantmap_decode(const struct plantmap *m, const struct plantmap_wire *w, unsigned n_slots, bool outputs,
                     struct plantmap_image *img);

/* Logical -> wire: the input or output signals of img into w (other wire values stay). */
void plantmap_encode(const struct plantmap *m, const struct plantmap_image *img, unsigned n_slots, bool outputs,
                     struct plantmap_wire *w);

/* Writes the map as a map file (defaults left out), e.g. the default map's. */
void plantmap_write_ini(FILE *f, const struct plantmap *m);

/* Writes the map as the integrator's Markdown table (docs/register-map.md). */
void plantmap_write_markdown(FILE *f, const struct plantmap *m, unsigned n_slots);

#endif

#ifndef SWAP_PLANTMAP_SERVER
#define SWAP_PLANTMAP_SERVER
/* A plant that speaks a map: serves wire requests from a plant model that holds the
 * logical image (swapsim, the in-process plant), so a test can put the simulator behind a
 * layout the controller has never seen in code. Reads encode the model's present image;
 * a write decodes the outputs of the written range and hands the model its whole coil
 * and holding-register blocks (all-or-nothing there). Unmapped addresses read 0 and take
 * any write. Results are 0 or a Modbus exception code. */
struct plantmap_server_io {
    void *ctx;
    /* logical tables: PLANTMAP_DI / PLANTMAP_COIL bits, PLANTMAP_IR / PLANTMAP_HR registers */
    int (*read_bits)(void *ctx, enum plantmap_table t, unsigned addr, unsigned n, uint8_t *out);
    int (*read_regs)(void *ctx, enum plantmap_table t, unsigned addr, unsigned n, uint16_t *out);
    int (*write_coils)(void *ctx, unsigned addr, unsigned n, const uint8_t *v);
    int (*write_regs)(void *ctx, unsigned addr, unsigned n, const uint16_t *v);
};

struct plantmap_server {
    const struct plantmap *map;
    unsigned n_slots;
    struct plantmap_server_io io;
    struct plantmap_wire *wire;
    struct plantmap_image img;
};

/* Returns 0, or -1 (out of memory, slot count beyond the map). */
int plantmap_server_init(struct plantmap_server *s, const struct plantmap *m, unsigned n_slots,
                         const struct plantmap_server_io *io);
void plantmap_server_free(struct plantmap_server *s);
int plantmap_server_read_bits(struct plantmap_server *s, enum plantmap_table t, unsigned addr, unsigned n,
                              uint8_t *out);
int plantmap_server_read_regs(struct plantmap_server *s, enum plantmap_table t, unsigned addr, unsigned n,
                              uint16_t *out);
int plantmap_server_write_coils(struct plantmap_server *s, unsigned addr, unsigned n, const uint8_t *v);
int plantmap_server_write_regs(struct plantmap_server *s, unsigned addr, unsigned n, const uint16_t *v);
#endif
