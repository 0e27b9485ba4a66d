/* The swap step table and its two orders; see swapseq.h. */
#include "core/swapseq.h"

#include <math.h>
#include <stdlib.h>

#include "core/diag.h"

/* Columns: name, text; levels of centering, clamp, stroke, wrist (1 = B), gripper A,
 * gripper B (SWK keeps); X, Z and carousel targets; extra completion conditions; whether
 * the pad-zone rule gates the step; the inventory move its completion causes. */
#define STEP(name, text, c, cl, s, w, ga, gb, x, z, car, req, gate, mv) \
    { name, text, c, cl, s, w, ga, gb, x, z, car, req, gate, mv }

const struct swapseq_step swapseq_steps[SWAPSEQ_COUNT] = {
    [SWAPSEQ_FETCH_TRAVEL] = STEP("fetch_travel", "head to the magazine, carousel to the fresh pack, gripper B to the work",
        SWK, SWK, 0, 1, SWK, 0, SWX_MAGAZINE, SWZ_TOP, SWS_FRESH, SWAPSEQ_REQ_EMPTY_B, false, SWM_NONE),
    [SWAPSEQ_FETCH_LOWER] = STEP("fetch_lower", "Z down to the slot",
        SWK, SWK, SWK, SWK, SWK, SWK, SWX_KEEP, SWZ_SLOT, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_FETCH_EXTEND] = STEP("fetch_extend", "stroke into the slot",
        SWK, SWK, 1, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_FETCH_GRIP] = STEP("fetch_grip", "gripper B takes the fresh pack",
        SWK, SWK, SWK, SWK, SWK, 1, SWX_KEEP, SWZ_KEEP, SWS_KEEP, SWAPSEQ_REQ_HOLD_B, false, SWM_SLOT_TO_B),
    [SWAPSEQ_FETCH_RETRACT] = STEP("fetch_retract", "stroke back with the fresh pack",
        SWK, SWK, 0, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_FETCH_RAISE] = STEP("fetch_raise", "Z up to travel height",
        SWK, SWK, SWK, SWK, SWK, SWK, SWX_KEEP, SWZ_TOP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_TO_STANDBY] = STEP("to_standby", "head to standby next to the pad, gripper A to the work",
        SWK, SWK, SWK, 0, SWK, SWK, SWX_STANDBY, SWZ_TOP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_AWAIT_TOUCHDOWN] = STEP("await_touchdown", "wait for the drone on the load cell",
        SWK, SWK, SWK, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, SWAPSEQ_REQ_TOUCHDOWN, false, SWM_NONE),
    [SWAPSEQ_CENTER_CLOSE] = STEP("center_close", "centering pushers close",
        1, SWK, SWK, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_CLAMP] = STEP("clamp", "clamp the drone",
        SWK, 1, SWK, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_TO_BAY] = STEP("to_bay", "head from standby to the drone's bay",
        SWK, SWK, SWK, SWK, SWK, SWK, SWX_BAY, SWZ_TOP, SWS_KEEP, 0, true, SWM_NONE),
    [SWAPSEQ_TAKE_EXTEND] = STEP("take_extend", "stroke into the bay",
        SWK, SWK, 1, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_TAKE_GRIP] = STEP("take_grip", "gripper A takes the old pack (unlatches it)",
        SWK, SWK, SWK, SWK, 1, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, SWAPSEQ_REQ_HOLD_A, false, SWM_DRONE_TO_A),
    [SWAPSEQ_TAKE_RETRACT] = STEP("take_retract", "stroke back with the old pack",
        SWK, SWK, 0, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, SWAPSEQ_REQ_HOLD_A | SWAPSEQ_REQ_LOAD_DROP, false, SWM_NONE),
    [SWAPSEQ_WRIST_TURN] = STEP("wrist_turn", "wrist turns gripper B to the bay",
        SWK, SWK, SWK, 1, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_INSERT_EXTEND] = STEP("insert_extend", "stroke pushes the fresh pack into the bay",
        SWK, SWK, 1, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_INSERT_RELEASE] = STEP("insert_release", "gripper B opens; the pack latches",
        SWK, SWK, SWK, SWK, SWK, 0, SWX_KEEP, SWZ_KEEP, SWS_KEEP, SWAPSEQ_REQ_EMPTY_B, false, SWM_B_TO_DRONE),
    [SWAPSEQ_INSERT_RETRACT] = STEP("insert_retract", "stroke back, empty",
        SWK, SWK, 0, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_POWERUP_CHECK] = STEP("powerup_check", "drone powers up on the new pack; head leaves the pad zone meanwhile",
        SWK, SWK, SWK, SWK, SWK, SWK, SWX_STANDBY, SWZ_KEEP, SWS_KEEP, SWAPSEQ_REQ_POWERUP, false, SWM_NONE),
    [SWAPSEQ_RELEASE_DRONE] = STEP("release_drone", "unclamp and open the centering together",
        0, 0, SWK, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_STORE_TRAVEL] = STEP("store_travel", "head to the magazine, carousel to a free slot, gripper A to the work",
        SWK, SWK, 0, 0, SWK, SWK, SWX_MAGAZINE, SWZ_TOP, SWS_STORE, SWAPSEQ_REQ_HOLD_A, false, SWM_NONE),
    [SWAPSEQ_STORE_LOWER] = STEP("store_lower", "Z down to the slot",
        SWK, SWK, SWK, SWK, SWK, SWK, SWX_KEEP, SWZ_SLOT, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_STORE_EXTEND] = STEP("store_extend", "stroke pushes the old pack into the slot",
        SWK, SWK, 1, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_STORE_RELEASE] = STEP("store_release", "gripper A opens; the pack goes on charge",
        SWK, SWK, SWK, SWK, 0, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, SWAPSEQ_REQ_EMPTY_A, false, SWM_A_TO_SLOT),
    [SWAPSEQ_STORE_RETRACT] = STEP("store_retract", "stroke back, empty",
        SWK, SWK, 0, SWK, SWK, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_STORE_RAISE] = STEP("store_raise", "Z up to travel height",
        SWK, SWK, SWK, SWK, SWK, SWK, SWX_KEEP, SWZ_TOP, SWS_KEEP, 0, false, SWM_NONE),
    [SWAPSEQ_NAIVE_TO_BAY] = STEP("naive_to_bay", "head to the drone's bay, gripper A to the work",
        SWK, SWK, 0, 0, SWK, SWK, SWX_BAY, SWZ_TOP, SWS_KEEP, 0, true, SWM_NONE),
    [SWAPSEQ_NAIVE_FETCH_TRAVEL] = STEP("naive_fetch_travel", "carousel to the fresh pack",
        SWK, SWK, 0, 0, SWK, SWK, SWX_MAGAZINE, SWZ_TOP, SWS_FRESH, SWAPSEQ_REQ_EMPTY_A, false, SWM_NONE),
    [SWAPSEQ_NAIVE_FETCH_GRIP] = STEP("naive_fetch_grip", "gripper A takes the fresh pack",
        SWK, SWK, SWK, SWK, 1, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, SWAPSEQ_REQ_HOLD_A, false, SWM_SLOT_TO_A),
    [SWAPSEQ_NAIVE_INSERT_RELEASE] = STEP("naive_insert_release", "gripper A opens; the pack latches",
        SWK, SWK, SWK, SWK, 0, SWK, SWX_KEEP, SWZ_KEEP, SWS_KEEP, SWAPSEQ_REQ_EMPTY_A, false, SWM_A_TO_DRONE),
};

static const enum swapseq_id pipelined_steps[] = {
    SWAPSEQ_FETCH_TRAVEL, SWAPSEQ_FETCH_LOWER, SWAPSEQ_FETCH_EXTEND, SWAPSEQ_FETCH_GRIP,
    SWAPSEQ_FETCH_RETRACT, SWAPSEQ_FETCH_RAISE, SWAPSEQ_TO_STANDBY,
    SWAPSEQ_AWAIT_TOUCHDOWN,
    SWAPSEQ_CENTER_CLOSE, SWAPSEQ_CLAMP, SWAPSEQ_TO_BAY, SWAPSEQ_TAKE_EXTEND, SWAPSEQ_TAKE_GRIP,
    SWAPSEQ_TAKE_RETRACT, SWAPSEQ_WRIST_TURN, SWAPSEQ_INSERT_EXTEND, SWAPSEQ_INSERT_RELEASE,
    SWAPSEQ_INSERT_RETRACT, SWAPSEQ_POWERUP_CHECK, SWAPSEQ_RELEASE_DRONE,
    SWAPSEQ_STORE_TRAVEL, SWAPSEQ_STORE_LOWER, SWAPSEQ_STORE_EXTEND, SWAPSEQ_STORE_RELEASE,
    SWAPSEQ_STORE_RETRACT, SWAPSEQ_STORE_RAISE,
};

static const enum swapseq_id naive_steps[] = {
    SWAPSEQ_AWAIT_TOUCHDOWN,
    SWAPSEQ_CENTER_CLOSE, SWAPSEQ_CLAMP, SWAPSEQ_NAIVE_TO_BAY, SWAPSEQ_TAKE_EXTEND,
    SWAPSEQ_TAKE_GRIP, SWAPSEQ_TAKE_RETRACT,
    SWAPSEQ_STORE_TRAVEL, SWAPSEQ_STORE_LOWER, SWAPSEQ_STORE_EXTEND, SWAPSEQ_STORE_RELEASE,
    SWAPSEQ_STORE_RETRACT, SWAPSEQ_STORE_RAISE,
    SWAPSEQ_NAIVE_FETCH_TRAVEL, SWAPSEQ_FETCH_LOWER, SWAPSEQ_FETCH_EXTEND,
    SWAPSEQ_NAIVE_FETCH_GRIP, SWAPSEQ_FETCH_RETRACT, SWAPSEQ_FETCH_RAISE,
    SWAPSEQ_NAIVE_TO_BAY, SWAPSEQ_INSERT_EXTEND, SWAPSEQ_NAIVE_INSERT_RELEASE,
    SWAPSEQ_INSERT_RETRACT, SWAPSEQ_POWERUP_CHECK, SWAPSEQ_RELEASE_DRONE,
};

static const enum swapseq_id store_steps[] = {
    SWAPSEQ_STORE_TRAVEL, SWAPSEQ_STORE_LOWER, SWAPSEQ_STORE_EXTEND, SWAPSEQ_STORE_RELEASE,
    SWAPSEQ_STORE_RETRACT, SWAPSEQ_STORE_RAISE,
};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

const struct swapseq_chain swapseq_chains[SWAPSEQ_ORDER_COUNT] = {
    [SWAPSEQ_PIPELINED] = { "pipelined", pipelined_steps, N_OF(pipelined_steps), 7, 19 },
    [SWAPSEQ_NAIVE] = { "naive", naive_steps, N_OF(naive_steps), 0, 24 },
};

const struct swapseq_chain swapseq_store_chain = { "store", store_steps, N_OF(store_steps), -1, -1 };

double swapseq_x_mm(enum swapseq_x x, const struct plantcfg *pc)
{
    switch (x) {
    case SWX_KEEP: return -1;
    case SWX_MAGAZINE: return pc->x_magazine_mm;
    case SWX_STANDBY: return pc->x_standby_mm;
    case SWX_BAY: return pc->x_bay_mm;
    }
    abort();
}

double swapseq_z_mm(enum swapseq_z z, const struct plantcfg *pc)
{
    switch (z) {
    case SWZ_KEEP: return -1;
    case SWZ_TOP: return pc->z_bay_mm < pc->z_travel_max_mm ? pc->z_bay_mm : 0;
    case SWZ_SLOT: return pc->z_slot_mm;
    }
    abort();
}

static int slot_of(enum swapseq_slot s, const struct swapseq_ctx *ctx)
{
    switch (s) {
    case SWS_KEEP: return -1;
    case SWS_FRESH: return ctx->fresh_slot;
    case SWS_STORE: return ctx->store_slot;
    }
    abort();
}

static void set_level(bool *coil, int8_t level)
{
    if (level != SWK)
        *coil = level != 0;
}

void swapseq_apply(enum swapseq_id id, const struct plantcfg *pc, const struct swapseq_ctx *ctx,
                   struct station_plant_out *cmd)
{
    const struct swapseq_step *s = &swapseq_steps[id];
    set_level(&cmd->co[REGMAP_CO_CENTER_CLOSE], s->center);
    set_level(&cmd->co[REGMAP_CO_CLAMP_LOCK], s->clamp);
    set_level(&cmd->co[REGMAP_CO_STROKE_EXTEND], s->stroke);
    set_level(&cmd->co[REGMAP_CO_WRIST_B], s->wrist_b);
    set_level(&cmd->co[REGMAP_CO_GRIP_A_CLOSE], s->grip_a);
    set_level(&cmd->co[REGMAP_CO_GRIP_B_CLOSE], s->grip_b);
    if (s->x != SWX_KEEP) {
        cmd->x_target_mm = swapseq_x_mm(s->x, pc);
        cmd->co[REGMAP_CO_X_ENABLE] = true;
    }
    if (s->z != SWZ_KEEP) {
        cmd->z_target_mm = swapseq_z_mm(s->z, pc);
        cmd->co[REGMAP_CO_Z_ENABLE] = true;
    }
    int slot = slot_of(s->carousel, ctx);
    if (slot >= 0) {
        cmd->carousel_target = (uint16_t)slot;
        cmd->co[REGMAP_CO_CAROUSEL_ENABLE] = true;
    }
}

static bool at_mm(double pos, double target, const struct plantcfg *pc)
{
    return fabs(pos - target) <= pc->position_tolerance_mm + 0.05;
}

/* Expected sensor edge of each two-position device for a commanded level. Both end
 * sensors on is a sensor fault (the core's sensor_conflict), never the end reached. */
static bool level_reached(int8_t level, bool at_one, bool at_zero)
{
    return level == SWK || (level ? at_one && !at_zero : at_zero && !at_one);
}

int swapseq_check(enum swapseq_id id, const struct plantcfg *pc, const struct swapseq_ctx *ctx,
                  const struct station_plant_in *in)
{
    const struct swapseq_step *s = &swapseq_steps[id];
    if (!level_reached(s->center, in->center_closed, in->center_open))
        return DIAG_CENTER_TIMEOUT;
    if (!level_reached(s->clamp, in->clamp_locked, in->clamp_unlocked))
        return DIAG_CLAMP_TIMEOUT;
    if (!level_reached(s->stroke, in->stroke_extended, in->stroke_retracted))
        return DIAG_STROKE_TIMEOUT;
    if (!level_reached(s->wrist_b, in->wrist_b, in->wrist_a))
        return DIAG_WRIST_TIMEOUT;
    if (!level_reached(s->grip_a, in->grip_a_closed, in->grip_a_open))
        return DIAG_GRIP_A_TIMEOUT;
    if (!level_reached(s->grip_b, in->grip_b_closed, in->grip_b_open))
        return DIAG_GRIP_B_TIMEOUT;
    if (s->x != SWX_KEEP && !(in->x_in_pos && !in->x_busy && at_mm(in->x_pos_mm, swapseq_x_mm(s->x, pc), pc)))
        return DIAG_X_TIMEOUT;
    if (s->z != SWZ_KEEP && !(in->z_in_pos && !in->z_busy && at_mm(in->z_pos_mm, swapseq_z_mm(s->z, pc), pc)))
        return DIAG_Z_TIMEOUT;
    int slot = slot_of(s->carousel, ctx);
    if (s->carousel != SWS_KEEP && !(in->carousel_in_pos && !in->carousel_busy && in->carousel_pos == slot))
        return DIAG_CAROUSEL_TIMEOUT;
    if ((s->require & SWAPSEQ_REQ_HOLD_A) && !in->grip_a_holding)
        return DIAG_GRIP_A_TIMEOUT;
    if ((s->require & SWAPSEQ_REQ_EMPTY_A) && in->grip_a_holding)
        return DIAG_GRIP_A_TIMEOUT;
    if ((s->require & SWAPSEQ_REQ_HOLD_B) && !in->grip_b_holding)
        return DIAG_GRIP_B_TIMEOUT;
    if ((s->require & SWAPSEQ_REQ_EMPTY_B) && in->grip_b_holding)
        return DIAG_GRIP_B_TIMEOUT;
    if ((s->require & SWAPSEQ_REQ_LOAD_DROP) &&
        !((double)in->load_g + ctx->pack_mass_g / 2 <= (double)ctx->touchdown_load_g))
        return DIAG_BATTERY_NOT_REMOVED;
    if ((s->require & SWAPSEQ_REQ_POWERUP) && !ctx->powerup_ok)
        return DIAG_POWERUP_FAILED;
    if ((s->require & SWAPSEQ_REQ_TOUCHDOWN) && !ctx->drone_present)
        return DIAG_LANDING_TIMEOUT;
    return -1;
}

static double max2(double a, double b)
{
    return a > b ? a : b;
}

double swapseq_nominal_ms(enum swapseq_id id, const struct plantcfg *pc,
                          const struct swapseq_ctx *ctx, const struct station_plant_in *in)
{
    const struct swapseq_step *s = &swapseq_steps[id];
    double t_s = 0;
    if (s->center != SWK)
        t_s = max2(t_s, pc->center_s);
    if (s->clamp != SWK)
        t_s = max2(t_s, pc->clamp_s);
    if (s->stroke != SWK)
        t_s = max2(t_s, pc->stroke_s);
    if (s->wrist_b != SWK)
        t_s = max2(t_s, pc->wrist_s);
    if (s->grip_a != SWK || s->grip_b != SWK)
        t_s = max2(t_s, pc->gripper_s);
    double z_s = 0;
    if (s->z != SWZ_KEEP)
        z_s = plantcfg_move_time_s(&pc->z, swapseq_z_mm(s->z, pc) - in->z_pos_mm);
    if (s->x != SWX_KEEP) {
        /* Z first goes to travel height when it is below it; the X move follows. */
        double up_s = in->z_pos_mm > pc->z_travel_max_mm ? plantcfg_move_time_s(&pc->z, in->z_pos_mm) : 0;
        t_s = max2(t_s, up_s + plantcfg_move_time_s(&pc->x, swapseq_x_mm(s->x, pc) - in->x_pos_mm));
    }
    t_s = max2(t_s, z_s);
    int slot = slot_of(s->carousel, ctx);
    if (slot >= 0) {
        int n = pc->n_slots, from = in->carousel_pos;
        int d = from < 0 ? n / 2 + 1 : abs(slot - from);
        if (d > n - d)
            d = n - d;
        t_s = max2(t_s, d * pc->carousel_step_s);
    }
    if (s->require & SWAPSEQ_REQ_POWERUP)
        t_s = max2(t_s, pc->drone_boot_s);
    return t_s * 1000.0;
}

const char *swapseq_name(int id)
{
    return (id >= 0 && id < SWAPSEQ_COUNT) ? swapseq_steps[id].name : "-";
}
