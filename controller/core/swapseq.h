/* The swap as a step chain (IEC 61131-3 SFC style). ONE table names every step with its
 * action (the output levels it commands), its completion condition (the sensor edges
 * its action must produce, plus step-specific facts such as "gripper holds a pack" or
 * "the drone reports the new pack") and, derived from the plant configuration, its
 * deadline; a missed deadline names the alarm of the first device that is late.
 * Two orders run through the same table: the pipelined chain of DESIGN §7 (fetch before
 * touchdown, store after release) and a naive baseline (fetch after the old pack is
 * stored) for the benchmark. Pure: no I/O, no clock, no allocation.
 */
#ifndef SWAP_CORE_SWAPSEQ_H
#define SWAP_CORE_SWAPSEQ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/station_io.h"
#include "plantcfg/plantcfg.h"

enum swapseq_id {
    /* fetch the fresh pack into gripper B (pipelined: before touchdown) */
    SWAPSEQ_FETCH_TRAVEL,
    SWAPSEQ_FETCH_LOWER,
    SWAPSEQ_FETCH_EXTEND,
    SWAPSEQ_FETCH_GRIP,
    SWAPSEQ_FETCH_RETRACT,
    SWAPSEQ_FETCH_RAISE,
    SWAPSEQ_TO_STANDBY,
    SWAPSEQ_AWAIT_TOUCHDOWN,
    /* the mandatory on-pad chain */
    SWAPSEQ_CENTER_CLOSE,
    SWAPSEQ_CLAMP,
    SWAPSEQ_TO_BAY,
    SWAPSEQ_TAKE_EXTEND,
    SWAPSEQ_TAKE_GRIP,
    SWAPSEQ_TAKE_RETRACT,
    SWAPSEQ_WRIST_TURN,
    SWAPSEQ_INSERT_EXTEND,
    SWAPSEQ_INSERT_RELEASE,
    SWAPSEQ_INSERT_RETRACT,
    SWAPSEQ_POWERUP_CHECK,
    SWAPSEQ_RELEASE_DRONE,
    /* store the old pack from gripper A (pipelined: after release) */
    SWAPSEQ_STORE_TRAVEL,
    SWAPSEQ_STORE_LOWER,
    SWAPSEQ_STORE_EXTEND,
    SWAPSEQ_STORE_RELEASE,
    SWAPSEQ_STORE_RETRACT,
    SWAPSEQ_STORE_RAISE,
    /* only in the naive baseline: one gripper does everything */
    SWAPSEQ_NAIVE_TO_BAY,
    SWAPSEQ_NAIVE_FETCH_TRAVEL,
    SWAPSEQ_NAIVE_FETCH_GRIP,
    SWAPSEQ_NAIVE_INSERT_RELEASE,
    SWAPSEQ_COUNT
};

/* Where an axis goes; KEEP leaves the present target. */
enum swapseq_x { SWX_KEEP, SWX_MAGAZINE, SWX_STANDBY, SWX_BAY };
enum swapseq_z { SWZ_KEEP, SWZ_TOP, SWZ_SLOT };
enum swapseq_slot { SWS_KEEP, SWS_FRESH, SWS_STORE };

/* Extra completion conditions. */
#define SWAPSEQ_REQ_TOUCHDOWN 0x01u  /* a drone stands on the pad (load cell, debounced) */
#define SWAPSEQ_REQ_HOLD_A    0x02u
#define SWAPSEQ_REQ_EMPTY_A   0x04u
#define SWAPSEQ_REQ_HOLD_B    0x08u
#define SWAPSEQ_REQ_EMPTY_B   0x10u
#define SWAPSEQ_REQ_LOAD_DROP 0x20u  /* the load cell lost about one pack's mass */
#define SWAPSEQ_REQ_POWERUP   0x40u  /* the drone reports the new pack, sane voltage */

/* The inventory move a step's completion causes. */
enum swapseq_move {
    SWM_NONE,
    SWM_SLOT_TO_B,      /* fresh pack: slot -> gripper B */
    SWM_DRONE_TO_A,     /* old pack: drone -> gripper A */
    SWM_B_TO_DRONE,     /* fresh pack: gripper B -> drone */
    SWM_A_TO_SLOT,      /* old pack: gripper A -> store slot */
    SWM_SLOT_TO_A,      /* naive: fresh pack slot -> gripper A */
    SWM_A_TO_DRONE,     /* naive: fresh pack gripper A -> drone */
};

#define SWK (-1)        /* keep a two-position device where it is */

struct swapseq_step {
    const char *name;
    const char *text;           /* for the operator and the docs */
    /* action: levels for the two-position devices (SWK = keep) and axis targets */
    int8_t center, clamp, stroke, wrist_b, grip_a, grip_b;
    enum swapseq_x x;
    enum swapseq_z z;
    enum swapseq_slot carousel;
    unsigned require;           /* SWAPSEQ_REQ_* */
    bool pad_gate;              /* the pad-zone entry rule must hold before the action */
    enum swapseq_move move;
};

extern const struct swapseq_step swapseq_steps[SWAPSEQ_COUNT];

enum swapseq_order { SWAPSEQ_PIPELINED, SWAPSEQ_NAIVE, SWAPSEQ_ORDER_COUNT };

/* A chain: the step ids in order, and where the on-pad part starts (the touchdown wait)
 * and ends (the release; the station clears the drone for take-off when it completes). */
struct swapseq_chain {
    const char *name;
    const enum swapseq_id *steps;
    int n_steps;
    int touchdown_index;        /* index of SWAPSEQ_AWAIT_TOUCHDOWN */
    int release_index;          /* index of SWAPSEQ_RELEASE_DRONE */
};

extern const struct swapseq_chain swapseq_chains[SWAPSEQ_ORDER_COUNT];
/* The store-only chain: after a restart with a pack left in gripper A. */
extern const struct swapseq_chain swapseq_store_chain;

/* What a step needs to know besides the sensors. */
struct swapseq_ctx {
    int fresh_slot, store_slot;
    uint16_t touchdown_load_g;  /* load at touchdown, for the pack-removed check */
    double pack_mass_g;
    bool powerup_ok;            /* judged by the core from the drone's report */
    bool drone_present;         /* debounced by the core */
};

/* Applies the step's action to the held output image (levels and targets). */
void swapseq_apply(enum swapseq_id id, const struct plantcfg *pc, const struct swapseq_ctx *ctx,
                   struct station_plant_out *cmd);

/* Completion: returns -1 when every condition of the step holds, otherwise the alarm
 * (enum diag_id) of the first condition that does not. */
int swapseq_check(enum swapseq_id id, const struct plantcfg *pc, const struct swapseq_ctx *ctx,
                  const struct station_plant_in *in);

/* The nominal duration (ms) of the step from the plant configuration and where the
 * devices stand now (axis distance, carousel steps); 0 for the touchdown wait. */
double swapseq_nominal_ms(enum swapseq_id id, const struct plantcfg *pc,
                          const struct swapseq_ctx *ctx, const struct station_plant_in *in);

/* X and Z target (mm) of a position; KEEP returns -1. */
double swapseq_x_mm(enum swapseq_x x, const struct plantcfg *pc);
double swapseq_z_mm(enum swapseq_z z, const struct plantcfg *pc);

const char *swapseq_name(int id);

#endif
