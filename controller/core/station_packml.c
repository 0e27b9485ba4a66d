/* The PackML state machine: the state actions (entry and run of each state) and the
 * state table (station_states) with its command transitions. */
#include "core/station.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/station_impl.h"

/* ---- state actions --------------------------------------------------------------------- */

void station_stop_axes(struct station *st)
{
    st->cmd.co[REGMAP_CO_X_ENABLE] = st->cmd.co[REGMAP_CO_X_HOME] = false;
    st->cmd.co[REGMAP_CO_Z_ENABLE] = st->cmd.co[REGMAP_CO_Z_HOME] = false;
    st->cmd.co[REGMAP_CO_CAROUSEL_ENABLE] = false;
}

static bool robot_still(const struct station_plant_in *p)
{
    return !p->x_busy && !p->z_busy && !p->carousel_busy;
}

static void pulse_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)in;
    st->pulse_until_ms = now_ms + (uint64_t)st->cfg.reset_pulse_ms;
    for (int s = 0; s < REGMAP_MAX_SLOTS; s++)
        st->charger_blocked[s] = false;
}

/* After the pulse: clear what is gone; true when nothing holds the station back. */
static bool pulse_done(struct station *st, const struct station_inputs *in)
{
    if (st->now_ms < st->pulse_until_ms)
        return false;
    uint64_t cleared = diag_reset(&st->diag);
    for (int i = 0; i < DIAG_COUNT; i++)
        if (cleared & (1ull << i))
            station_record_alarm(st, i, false);
    return in->plant.valid && in->plant.plant_ready && in->plant.estop_ok && !station_hold_or_abort_alarm(st);
}

static bool timed_out(const struct station *st)
{
    return st->now_ms >= st->state_since_ms + (uint64_t)st->cfg.reset_timeout_ms;
}

static void stopped_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    station_reconcile(st, in);
}

static void resetting_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (pulse_done(st, in))
        station_request(st, ST_IDLE, "reset complete");
    else if (timed_out(st))
        station_request(st, ST_STOPPED, "reset failed: %s", diag_name(station_first_blocking_alarm(st)));
}

static void starting_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)in;
    const struct plantcfg *pc = &st->pc;
    double t_s = pc->x.home_time_s + pc->z.home_time_s + plantcfg_move_time_s(&pc->z, pc->z.length_mm) +
                 pc->stroke_s;
    st->step_deadline_ms = now_ms + (uint64_t)llround(t_s * 1000 * st->cfg.deadline_margin) +
                           (uint64_t)st->cfg.deadline_extra_ms;
    st->swaps_done = 0;
}

/* Starting brings the robot to a known pose: stroke in, Z homed and up, X homed. */
static void starting_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    const struct station_plant_in *p = &in->plant;
    struct station_plant_out *c = &st->cmd;
    double top = swapseq_z_mm(SWZ_TOP, &st->pc);
    c->co[REGMAP_CO_STROKE_EXTEND] = false;
    bool z_ready = p->z_homed && p->z_in_pos && fabs(p->z_pos_mm - top) <= st->pc.position_tolerance_mm + 0.05;
    if (p->stroke_retracted) {
        c->co[REGMAP_CO_Z_HOME] = !p->z_homed;
        if (p->z_homed) {
            c->z_target_mm = top;
            c->co[REGMAP_CO_Z_ENABLE] = true;
        }
        c->co[REGMAP_CO_X_HOME] = z_ready && !p->x_homed;
        if (p->x_homed && !c->co[REGMAP_CO_X_ENABLE]) {
            c->x_target_mm = p->x_pos_mm;
            c->co[REGMAP_CO_X_ENABLE] = true;
        }
    }
    if (z_ready && p->x_homed && p->stroke_retracted && !p->x_busy) {
        station_request(st, ST_EXECUTE, "robot homed and at travel height");
        return;
    }
    if (now_ms >= st->step_deadline_ms)
        station_alarm_raise(st, in, DIAG_HOMING_TIMEOUT, -1);
}

static void execute_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    /* Re-entering Execute (Unhold, Unsuspend, Start after Stop) restarts the step:
     * its levels are re-applied and its deadline re-armed. */
    st->step_applied = false;
    st->operator_suspend = false;
    /* Starting pulled the stroke in: a grip or release that had not finished pushes in
     * again first (its gripper was sent back when the station stopped), or it would
     * take or drop a pack in front of the bay or the slot instead of in it. */
    if (st->chain && st->chain_pos > 0 && in->plant.valid) {
        enum swapseq_id id = station_cur_step(st), prev = st->chain->steps[st->chain_pos - 1];
        const struct swapseq_step *s = &swapseq_steps[id];
        bool gripper_step = (s->grip_a != SWK || s->grip_b != SWK) && s->stroke == SWK;
        if (gripper_step && swapseq_steps[prev].stroke == 1 &&
            !station_at_end(in->plant.stroke_extended, in->plant.stroke_retracted) &&
            swapseq_check(id, &st->pc, &st->ctx, &in->plant) >= 0)
            st->chain_pos--;
    }
}

bool station_store_possible(const struct station *st, const struct station_inputs *in)
{
    return station_pick_store_slot(st, &in->plant) >= 0 || (!st->grip_b_tag && station_fresh_slot_ok(st, in));
}

void station_execute_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (station_schedule(st, in))
        station_chain_run(st, in);
    if (st->state != ST_EXECUTE || st->requested != ST_NONE || st->chain)
        return;
    if (st->cfg.swaps_per_run > 0 && st->swaps_done >= (unsigned)st->cfg.swaps_per_run) {
        station_request(st, ST_COMPLETING, "%u swaps done", st->swaps_done);
        return;
    }
    int block = station_external_block(st, in);
    if (!st->n_queue)
        station_request(st, ST_SUSPENDING, "landing queue empty");
    else if (block >= 0)
        station_request(st, ST_SUSPENDING, "%s", diag_table[block].text);
}

static void completing_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    const struct station_plant_in *p = &in->plant;
    struct station_plant_out *c = &st->cmd;
    c->co[REGMAP_CO_STROKE_EXTEND] = false;
    c->z_target_mm = swapseq_z_mm(SWZ_TOP, &st->pc);
    c->co[REGMAP_CO_Z_ENABLE] = true;
    c->x_target_mm = st->pc.x_magazine_mm;
    c->co[REGMAP_CO_X_ENABLE] = true;
    if (p->stroke_retracted && p->x_in_pos && p->z_in_pos && robot_still(p) &&
        fabs(p->x_pos_mm - st->pc.x_magazine_mm) <= st->pc.position_tolerance_mm + 0.05)
        station_request(st, ST_COMPLETE, "head parked at the magazine");
}

/* Stopping the axes does not stop a gripper halfway through its stroke: it would take
 * or let go of a pack after the step that records the move has been left. One caught
 * between its ends goes back towards what its holding sensor says, which moves no pack
 * (as after a restart); the step re-applies its level when it resumes. */
static void stop_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    station_stop_axes(st);
    if (in->plant.valid && st->reconciled)
        (void)station_grippers_settled(st, &in->plant);
}

static void holding_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (robot_still(&in->plant) || !in->plant.valid)
        station_request(st, ST_HELD, "robot stopped");
}

static void held_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    (void)in;
    (void)st;
}

/* After a renewed plant link: the gripper of the step in progress may have finished its
 * stroke while the link was down (its valve keeps its level), so the pack moved without
 * the core seeing it. True when the sensors agree with the inventory as it will be
 * after this step's move; the chain then records that move when the step completes. */
static bool step_finished_while_away(const struct station *st, const struct station_inputs *in)
{
    if (!st->chain || !st->step_applied || swapseq_steps[station_cur_step(st)].move == SWM_NONE ||
        swapseq_check(station_cur_step(st), &st->pc, &st->ctx, &in->plant) >= 0)
        return false;
    struct station after = *st;
    station_apply_move(&after, in, station_cur_step(st));
    struct station_inputs expect = *in;
    memcpy(expect.inv.slot_tag, after.slot_tag, sizeof expect.inv.slot_tag);
    expect.inv.grip_a_tag = after.grip_a_tag;
    expect.inv.grip_b_tag = after.grip_b_tag;
    expect.inv.pad_tag = after.pad_tag;
    char why[96];
    return station_inventory_agrees(&after, &expect, why, sizeof why);
}

static void unholding_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (st->recon_hold) {
        char why[96] = "";
        if (!st->reconciled && in->inv.valid && station_inventory_agrees(st, in, why, sizeof why))
            station_reconcile(st, in);
        else if (!st->reconciled && in->inv.valid && st->plant_renewed && station_grippers_settled(st, &in->plant) &&
                 step_finished_while_away(st, in)) {
            station_take_inventory(st, &in->inv);
            st->reconciled = true;
            station_record_event(st, "unholding", swapseq_name(station_cur_step(st)),
                         "reconciled: the step finished while the plant was away; its move is recorded now");
        }
        if (st->reconciled) {
            diag_update(&st->diag, DIAG_INVENTORY_MISMATCH, false, -1, st->now_ms);
            if (diag_reset(&st->diag) & (1ull << DIAG_INVENTORY_MISMATCH))
                station_record_alarm(st, DIAG_INVENTORY_MISMATCH, false);
            st->recon_hold = false;
            if (!st->plant_renewed) {
                station_request(st, ST_STOPPED, "reconciled after operator intervention");
                return;
            }
            /* The plant came back: the core kept its swap; Unhold resumes the step. */
            st->plant_renewed = false;
            station_record_event(st, "unholding", "unholding", "reconciled with the renewed plant: resuming");
        } else {
            /* The operator sees why in the alarm list: adopt the sensors or fix by hand. */
            if (diag_raise(&st->diag, DIAG_INVENTORY_MISMATCH, -1) > 0)
                station_record_alarm(st, DIAG_INVENTORY_MISMATCH, true);
            station_request(st, ST_HOLDING, "inventory still disagrees: %s", why);
            return;
        }
    }
    if (pulse_done(st, in))
        station_request(st, ST_EXECUTE, "unhold complete: plant ready");
    else if (timed_out(st))
        station_request(st, ST_HOLDING, "unhold failed: %s", diag_name(station_first_blocking_alarm(st)));
}

/* A swap whose drone has been cleared to land: from the clearance until its old pack
 * is stored (the chain's end). */
static bool swap_in_progress(const struct station *st)
{
    return st->chain && st->chain->release_index >= 0 && !st->clear_deferred &&
           (st->serving_sysid || st->chain_pos > st->chain->release_index);
}

/* Suspend takes no new work, but it never strands a drone: a swap whose drone is cleared
 * to land or on the pad is finished first (swapped, verified, released, its old pack
 * stored), then the station suspends. */
static void suspending_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (swap_in_progress(st)) {
        station_chain_run(st, in);
        if (st->state != ST_SUSPENDING || st->requested != ST_NONE || swap_in_progress(st))
            return;
    }
    if (robot_still(&in->plant))
        station_request(st, ST_SUSPENDED, "robot parked");
}

static void suspended_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (st->mode != STATION_MODE_PRODUCTION || st->operator_suspend)
        return;
    bool store = st->grip_a_tag && station_store_possible(st, in);
    bool work = store || (st->n_queue && station_external_block(st, in) < 0) || station_prestage_wanted(st, in);
    if (work && !(st->cfg.swaps_per_run > 0 && st->swaps_done >= (unsigned)st->cfg.swaps_per_run))
        station_request(st, ST_UNSUSPENDING, store ? "pack in gripper A to store" : st->n_queue ? "drone waiting, conditions ok" :
                "a charged pack to pre-stage");
}

static void unsuspending_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)in;
    (void)now_ms;
    station_request(st, ST_EXECUTE, "resumed");
}

static void stopping_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (robot_still(&in->plant) || !in->plant.valid)
        station_request(st, ST_STOPPED, "robot stopped");
}

static void aborting_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    stop_entry(st, in, now_ms);
    if (st->serving_sysid)
        station_send_msg(st, st->serving_sysid, STATION_MSG_SWAP_ABORTED, 0);
}

/* DESIGN §5 rule 3: an explicit operator abort may release the drone, but only once the
 * robot has stopped, with the head out of the pad zone and the stroke in (nothing of the
 * robot in the bay); deciding while the head still brakes would let it coast in. */
static void aborting_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    const struct station_plant_in *p = &in->plant;
    if (!(robot_still(p) || !p->valid))
        return;
    if (st->operator_abort && p->valid && !station_head_may_reach_pad_zone(st, p) &&
        station_at_end(p->stroke_retracted, p->stroke_extended)) {
        st->cmd.co[REGMAP_CO_CLAMP_LOCK] = false;
        st->cmd.co[REGMAP_CO_CENTER_CLOSE] = false;
    }
    station_request(st, ST_ABORTED, "robot stopped");
}

static void aborted_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)st;
    (void)in;
    (void)now_ms;
}

static void clearing_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (pulse_done(st, in) || (st->now_ms >= st->pulse_until_ms && diag_first_with(&st->diag, DIAG_REACT_ABORT) < 0)) {
        /* The aborted swap is over; what the robot holds is re-checked against the
         * inventory before anything moves again. */
        station_chain_end(st);
        st->onpad = false;
        st->operator_abort = false;
        if (st->serving_sysid && st->drone_present) {
            st->left_sysid = st->serving_sysid;
            st->left_tag = st->pad_tag;
        }
        st->serving_sysid = 0;
        st->reconciled = false;
        station_request(st, ST_STOPPED, "cleared");
    } else if (timed_out(st)) {
        station_request(st, ST_ABORTED, "clear failed: %s", diag_name(station_first_blocking_alarm(st)));
    }
}

/* ---- the PackML table --------------------------------------------------------------- */

#define N ST_NONE
/*                                         Reset         Start        Stop         Hold        Unhold        Suspend        Unsuspend        Abort        Clear */
const struct station_state_def station_states[ST_COUNT] = {
    [ST_STOPPED]      = { "Stopped",      NULL,          stopped_run,      { ST_RESETTING, N, N, N, N, N, N, ST_ABORTING, N }, false },
    [ST_RESETTING]    = { "Resetting",    pulse_entry,   resetting_run,    { N, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, false },
    [ST_IDLE]         = { "Idle",         NULL,          NULL,             { N, ST_STARTING, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, false },
    [ST_STARTING]     = { "Starting",     starting_entry, starting_run,    { N, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, true },
    [ST_EXECUTE]      = { "Execute",      execute_entry, station_execute_run,      { N, N, ST_STOPPING, ST_HOLDING, N, ST_SUSPENDING, N, ST_ABORTING, N }, true },
    [ST_COMPLETING]   = { "Completing",   NULL,          completing_run,   { N, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, true },
    [ST_COMPLETE]     = { "Complete",     stop_entry,    NULL,             { ST_RESETTING, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, false },
    [ST_HOLDING]      = { "Holding",      stop_entry,    holding_run,      { N, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, false },
    [ST_HELD]         = { "Held",         stop_entry,    held_run,         { N, N, ST_STOPPING, N, ST_UNHOLDING, N, N, ST_ABORTING, N }, false },
    [ST_UNHOLDING]    = { "Unholding",    pulse_entry,   unholding_run,    { N, N, ST_STOPPING, ST_HOLDING, N, N, N, ST_ABORTING, N }, false },
    [ST_SUSPENDING]   = { "Suspending",   NULL,          suspending_run,   { N, N, ST_STOPPING, ST_HOLDING, N, N, N, ST_ABORTING, N }, true },
    [ST_SUSPENDED]    = { "Suspended",    NULL,          suspended_run,    { N, N, ST_STOPPING, ST_HOLDING, N, N, ST_UNSUSPENDING, ST_ABORTING, N }, true },
    [ST_UNSUSPENDING] = { "Unsuspending", NULL,          unsuspending_run, { N, N, ST_STOPPING, ST_HOLDING, N, N, N, ST_ABORTING, N }, true },
    [ST_STOPPING]     = { "Stopping",     stop_entry,    stopping_run,     { N, N, N, N, N, N, N, ST_ABORTING, N }, false },
    [ST_ABORTING]     = { "Aborting",     aborting_entry, aborting_run,    { N, N, N, N, N, N, N, N, N }, false },
    [ST_ABORTED]      = { "Aborted",      stop_entry,    aborted_run,      { N, N, N, N, N, N, N, N, ST_CLEARING }, false },
    [ST_CLEARING]     = { "Clearing",     pulse_entry,   clearing_run,     { N, N, N, N, N, N, N, ST_ABORTING, N }, false },
};
#undef N
