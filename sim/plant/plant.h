/* The plant model: every device of the station (DESIGN §2) with its timings from the
 * plant configuration, the interlocks and watchdog a real PLC has, fault injection, and
 * the ground truth that the controller never sees.
 *
 * Pure computation: sim_plant_step(plant, dt_ms) advances the physics; it does no I/O
 * and reads no clock (the plant's time is the sum of the steps). The outside world sees
 * the plant only through the register image of protocols/regmap/regmap.h, exactly as a
 * Modbus client would: swapsim serves that image over Modbus TCP, and the controller's
 * in-process backend calls the same functions directly.
 */
#ifndef SWAP_SIM_PLANT_H
#define SWAP_SIM_PLANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "battery/battery.h"
#include "plantcfg/plantcfg.h"
#include "regmap/regmap.h"

struct sim_plant;

/* Modbus tables. */
enum sim_table { SIM_DI, SIM_CO, SIM_HR, SIM_IR };

/* Results of image access: 0, or a Modbus exception code. */
#define SIM_EXC_ADDRESS 2   /* ILLEGAL_DATA_ADDRESS: outside the map */
#define SIM_EXC_VALUE   3   /* ILLEGAL_DATA_VALUE: a written value out of range */

/* Creates a plant from cfg (copied) with n = cfg->n_slots slots; seed drives every
 * random draw (battery spread, noise). Initial state: axes unhomed at 0, head up,
 * stroke retracted, grippers open, wrist A, pad empty, clamp unlocked, centering open,
 * e-stop ok, guard closed, every slot filled with a new pack at 50 % SoC (tags
 * 0x5A000001 + slot). Returns NULL on allocation failure or for a configuration the model
 * cannot run (n_slots outside 1..REGMAP_MAX_SLOTS, a time, speed or size that is not
 * positive); plantcfg_load's ranges always pass. */
struct sim_plant *sim_plant_new(const struct plantcfg *cfg, uint64_t seed);
void sim_plant_free(struct sim_plant *p);

/* Advances the plant by dt_ms (>= 1). Large steps are internally subdivided so that
 * results do not depend on how time is sliced beyond one millisecond. */
void sim_plant_step(struct sim_plant *p, uint32_t dt_ms);

/* Batteries and chargers live k (>= 1) of their seconds per plant second (default 1):
 * a pack's life runs faster than the robot, for tests of what takes hours of charging
 * and resting. Every battery tick keeps its length; there are k of them per second,
 * evenly spaced when k divides 1000. */
void sim_plant_set_battery_time_scale(struct sim_plant *p, int k);

/* Plant time (ms since creation). */
uint64_t sim_plant_now_ms(const struct sim_plant *p);

/* The configuration the plant was made with. */
const struct plantcfg *sim_plant_config(const struct sim_plant *p);

/* ---- register image (what a Modbus client sees) ---------------------------------- */

/* Reads n bits of DI or CO starting at addr into out (one byte per bit, 0/1).
 * Returns 0 or SIM_EXC_ADDRESS if any address is outside the map. */
int sim_plant_read_bits(struct sim_plant *p, enum sim_table t, unsigned addr, unsigned n,
                        uint8_t *out);
/* Reads n registers of HR or IR. Returns 0 or SIM_EXC_ADDRESS. */
int sim_plant_read_regs(struct sim_plant *p, enum sim_table t, unsigned addr, unsigned n,
                        uint16_t *out);
/* Writes n coils. All-or-nothing: returns 0, or SIM_EXC_ADDRESS without changing
 * anything. */
int sim_plant_write_coils(struct sim_plant *p, unsigned addr, unsigned n, const uint8_t *v);
/* Writes n holding registers. All-or-nothing: 0, SIM_EXC_ADDRESS, or SIM_EXC_VALUE when
 * a value is outside its documented range (nothing changes then). */
int sim_plant_write_regs(struct sim_plant *p, unsigned addr, unsigned n, const uint16_t *v);

/* ---- the outside world: a drone on the pad ----------------------------------------- */

/* A drone touches down (load cell rises by drone + battery mass). battery may be NULL
 * (a drone without a pack). Returns 0, or -1 if the pad is occupied (or the plant has
 * no room left to track another pack), or -3 if a pack with that tag is already in the
 * plant (a physical pack cannot be in two places). A pack that left on a drone earlier
 * (SIM_PLACE_AWAY) and comes back keeps its truth record. */
int sim_plant_drone_land(struct sim_plant *p, const struct sim_battery *battery);

/* The drone lifts off and takes its battery along (copied to *battery if not NULL;
 * *has_battery says whether there was one). Returns 0, or -1 if no drone is on the pad,
 * or -2 if the drone is clamped or centred, or the head's stroke reaches into its bay
 * (it cannot leave; the truth records an attempted take-off while clamped). */
int sim_plant_drone_takeoff(struct sim_plant *p, struct sim_battery *battery, bool *has_battery);

/* The battery currently latched in the drone on the pad, or NULL. The drone simulator
 * uses this to power up on the new pack. */
const struct sim_battery *sim_plant_drone_battery(const struct sim_plant *p);

/* An operator takes the pack out of a magazine slot by hand (maintenance): the pack
 * leaves the plant (*battery gets it when not NULL). Returns 0, -1 for an empty or
 * unknown slot, or -2 when the head reaches into that slot (stroke not retracted at the
 * magazine with the slot at the transfer position). */
int sim_plant_remove_pack(struct sim_plant *p, int slot, struct sim_battery *battery);

/* Electrical load of the drone on its pack while powered on the pad (A); 0 = off. */
void sim_plant_drone_set_load(struct sim_plant *p, double current_a);

/* ---- fault injection ------------------------------------------------------------- */

enum sim_fault_kind {
    SIM_FAULT_NONE,
    SIM_FAULT_AXIS_JAM,          /* a = 0 X, 1 Z: the axis stops moving (following error) */
    SIM_FAULT_SENSOR_STUCK,      /* a = table (SIM_DI or SIM_IR), b = address, value */
    SIM_FAULT_GRIPPER_NO_CLOSE,  /* a = 0 A, 1 B: the gripper never reaches closed */
    SIM_FAULT_ACTUATOR_STUCK,    /* a = actuator (enum sim_actuator): never leaves its end
                                  * (SIM_ACT_CAROUSEL: the carousel does not turn) */
    SIM_FAULT_CHARGER,           /* a = slot: charger hardware fault */
    SIM_FAULT_OVERTEMP,          /* a = slot: the pack in the slot heats up (value degC) */
    SIM_FAULT_TAG_UNREADABLE,    /* a = slot: RFID reads nothing */
    SIM_FAULT_ESTOP,             /* e-stop pressed (clear releases it) */
    SIM_FAULT_GUARD_OPEN,        /* guard door opened */
    SIM_FAULT_WEATHER,           /* value = wind m/s; b = 1 rain */
    SIM_FAULT_IMAGE_FROZEN,      /* the DI and IR image stays as it was at injection (a
                                  * gateway serving a stale copy); writes still act */
    SIM_FAULT_COUNT
};

enum sim_actuator { SIM_ACT_CENTER, SIM_ACT_CLAMP, SIM_ACT_STROKE, SIM_ACT_WRIST,
                   SIM_ACT_CAROUSEL, SIM_ACT_COUNT };

struct sim_fault {
    enum sim_fault_kind kind;
    int a, b;
    double value;
};

/* Activates a fault. Returns 0, or -1 for arguments outside the plant. */
int sim_plant_inject(struct sim_plant *p, const struct sim_fault *f);
/* Removes every injected fault of that kind (SIM_FAULT_NONE: all). Latched plant faults
 * stay latched until a fault reset. */
void sim_plant_clear_faults(struct sim_plant *p, enum sim_fault_kind kind);
/* Name of a fault kind ("axis_jam", ...) and the reverse; -1 if unknown. */
const char *sim_fault_name(enum sim_fault_kind k);
int sim_fault_from_name(const char *name);

/* ---- ground truth (never used by the controller) ----------------------------------- */

enum sim_place { SIM_PLACE_NONE, SIM_PLACE_SLOT, SIM_PLACE_GRIPPER_A, SIM_PLACE_GRIPPER_B,
                 SIM_PLACE_DRONE, SIM_PLACE_AWAY /* left on a drone that took off */ };

#define SIM_MAX_BATTERIES (REGMAP_MAX_SLOTS + 8)

struct sim_truth_battery {
    uint32_t tag;
    enum sim_place place;
    int slot;                    /* when place == SIM_PLACE_SLOT */
    double soc, soh, capacity_ah, r0_ohm, r1_ohm, temp_degC, efc;
};

struct sim_truth {
    uint64_t now_ms;
    double x_mm, z_mm;
    double x_vel_mm_s, z_vel_mm_s;
    int carousel_slot;           /* -1 between slots */
    double stroke_pos;           /* 0 retracted .. 1 extended */
    double wrist_pos;            /* 0 A .. 1 B */
    double grip_a_pos, grip_b_pos, center_pos, clamp_pos; /* 0 open/unlocked .. 1 */
    bool head_in_pad_zone;       /* x >= pad_zone_mm */
    bool drone_present, drone_clamped, drone_centred;
    bool drone_battery_latched;
    bool watchdog_tripped;
    unsigned plant_fault;
    unsigned takeoff_while_clamped; /* count of attempted take-offs while held */
    unsigned collisions;            /* count of physically impossible moves refused */
    size_t n_batteries;
    struct sim_truth_battery batteries[SIM_MAX_BATTERIES];
};

void sim_plant_truth(const struct sim_plant *p, struct sim_truth *out);

/* Direct access to a pack by tag (NULL if not in the plant); for test set-up such as
 * ageing a pack to a given SoH. */
struct sim_battery *sim_plant_battery(struct sim_plant *p, uint32_t tag);

/* ---- power cycle: the physical plant outlives its PLC ------------------------------- */

/* Writes the plant's physical state (everything but the command log) over the file open
 * on fd, with one pwrite at offset 0 (a killed process never leaves half of it), for
 * sim_plant_restore after the process was killed. The format is this build's memory
 * image: only the same program reads it. 0 or -1 with errno. */
int sim_plant_save(const struct sim_plant *p, int fd);

/* Replaces p's state with the one saved at path, as a PLC finds it after a power
 * cycle: devices, packs, the drone on the pad and plant time are where they were; the
 * two-position valves keep their level (they are bistable), while every axis and
 * carousel enable, homing, fault reset, light and horn output is 0, the axis targets
 * are where the axes stand, the axes stand still, the heartbeat register is 0 and the
 * watchdog is disarmed, latched faults and injected faults are gone. Returns 0, or -1
 * with err filled (missing, short or foreign file, another slot count). */
int sim_plant_restore(struct sim_plant *p, const char *path, char *err, size_t errsize);

/* ---- command log: every change of a coil or holding register, with plant time ----- */

struct sim_log_entry {
    uint64_t t_ms;
    enum sim_table table;        /* SIM_CO or SIM_HR */
    uint16_t addr;
    uint16_t old_value, new_value;
};

/* Copies up to max entries with index >= from (entries are numbered from 0 since
 * creation; the plant keeps the last SIM_LOG_KEEP). Returns the count copied; *next is
 * the index to ask for next time. Entries that were overwritten are skipped. */
#define SIM_LOG_KEEP 65536
size_t sim_plant_log(const struct sim_plant *p, uint64_t from, struct sim_log_entry *out,
                     size_t max, uint64_t *next);

#endif
