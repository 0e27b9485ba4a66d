/* Reconciliation and resume after a restart: adopting the plant's own image, checking
 * the inventory against the sensors, adopting a gripper's or a sensor's state, a renewed
 * plant connection, and resuming a swap that was in progress when the controller stopped. */
#include "core/station.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/station_impl.h"

/* ---- reconciliation -------------------------------------------------------------- */

void station_adopt_image(struct station *st, const struct station_plant_in *p)
{
    struct station_plant_out *c = &st->cmd;
    memset(c, 0, sizeof *c);
    if (p->have_readback) {
        memcpy(c->co, p->co_readback, sizeof c->co);
    } else {
        c->co[REGMAP_CO_CENTER_CLOSE] = p->center_closed;
        c->co[REGMAP_CO_CLAMP_LOCK] = p->clamp_locked;
        c->co[REGMAP_CO_STROKE_EXTEND] = p->stroke_extended;
        c->co[REGMAP_CO_WRIST_B] = p->wrist_b;
        c->co[REGMAP_CO_GRIP_A_CLOSE] = p->grip_a_closed;
        c->co[REGMAP_CO_GRIP_B_CLOSE] = p->grip_b_closed;
    }
    /* Whatever the plant held: nothing moves until the core has reconciled. */
    c->co[REGMAP_CO_X_ENABLE] = c->co[REGMAP_CO_X_HOME] = false;
    c->co[REGMAP_CO_Z_ENABLE] = c->co[REGMAP_CO_Z_HOME] = false;
    c->co[REGMAP_CO_CAROUSEL_ENABLE] = false;
    c->co[REGMAP_CO_FAULT_RESET] = false;
    c->x_target_mm = p->x_pos_mm;
    c->z_target_mm = p->z_pos_mm;
    c->carousel_target = p->carousel_pos >= 0 ? (uint16_t)p->carousel_pos : 0;
    st->image_adopted = true;
}

/* Compares the persisted inventory with the sensors. Returns true when they agree;
 * otherwise writes the first disagreement to why. */
bool station_inventory_agrees(const struct station *st, const struct station_inputs *in, char *why, size_t size)
{
    const struct station_plant_in *p = &in->plant;
    const struct station_inventory_in *inv = &in->inv;
    for (int s = 0; s < station_n_slots(st); s++) {
        const struct station_slot_in *sl = &p->slot[s];
        uint32_t want = inv->slot_tag[s];
        if (!want && sl->present) {
            snprintf(why, size, "slot %d holds a pack (tag SWP-%08X) the inventory does not know", s, sl->tag);
            return false;
        }
        if (want && !sl->present) {
            snprintf(why, size, "slot %d should hold pack SWP-%08X but is empty", s, want);
            return false;
        }
        if (want && !sl->tag_ok) {
            snprintf(why, size, "slot %d: tag unreadable, cannot confirm pack SWP-%08X", s, want);
            return false;
        }
        if (want && sl->tag != want) {
            snprintf(why, size, "slot %d holds pack SWP-%08X, inventory says SWP-%08X", s, sl->tag, want);
            return false;
        }
    }
    if ((inv->grip_a_tag != 0) != p->grip_a_holding) {
        snprintf(why, size, "gripper A %s a pack, inventory says %s", p->grip_a_holding ? "holds" : "does not hold",
                 inv->grip_a_tag ? "it does" : "empty");
        return false;
    }
    if ((inv->grip_b_tag != 0) != p->grip_b_holding) {
        snprintf(why, size, "gripper B %s a pack, inventory says %s", p->grip_b_holding ? "holds" : "does not hold",
                 inv->grip_b_tag ? "it does" : "empty");
        return false;
    }
    bool drone = p->load_g >= (unsigned)st->cfg.touchdown_g;
    if (inv->pad_tag && !drone) {
        snprintf(why, size, "pack SWP-%08X should be in a drone on the pad, but the pad is empty", inv->pad_tag);
        return false;
    }
    int ls = inv->last_step;
    if (ls >= SWAPSEQ_CENTER_CLOSE && ls <= SWAPSEQ_RELEASE_DRONE && !drone) {
        snprintf(why, size, "last step %s was on the pad, but the pad is empty", swapseq_name(ls));
        return false;
    }
    return true;
}

void station_take_inventory(struct station *st, const struct station_inventory_in *inv)
{
    memcpy(st->slot_tag, inv->slot_tag, sizeof st->slot_tag);
    st->grip_a_tag = inv->grip_a_tag;
    st->grip_b_tag = inv->grip_b_tag;
    st->pad_tag = inv->pad_tag;
    st->committed_seq = inv->moves_committed_seq;
    if (st->move_seq < st->committed_seq)
        st->move_seq = st->committed_seq;
}

/* The drone the station had cleared to land before a restart is expected: it is served
 * (not taken for an obstruction) once the station runs. */
static void note_cleared_drone(struct station *st, const struct station_inputs *in)
{
    int ls = in->inv.last_step;
    if (!in->inv.pad_sysid || ls < SWAPSEQ_FETCH_TRAVEL || ls > SWAPSEQ_AWAIT_TOUCHDOWN || st->chain)
        return;
    st->resume_sysid = in->inv.pad_sysid;
}

/* A gripper is the one device that moves a pack by itself: it takes the pack when it
 * reaches closed and lets go when it reaches open. One caught between its ends (by a
 * restart or an e-stop) is sent back towards what its holding sensor says, which moves
 * no pack, and the inventory is compared only once both grippers rest at an end; else
 * a gripper finishing its stroke after the comparison would move a pack unrecorded. */
static bool gripper_settled(bool *close_cmd, bool open, bool closed, bool holding)
{
    if (*close_cmd ? closed : open)
        return true;
    *close_cmd = holding;
    return false;
}

bool station_grippers_settled(struct station *st, const struct station_plant_in *p)
{
    bool a = gripper_settled(&st->cmd.co[REGMAP_CO_GRIP_A_CLOSE], p->grip_a_open, p->grip_a_closed, p->grip_a_holding);
    bool b = gripper_settled(&st->cmd.co[REGMAP_CO_GRIP_B_CLOSE], p->grip_b_open, p->grip_b_closed, p->grip_b_holding);
    return a && b;
}

void station_reconcile(struct station *st, const struct station_inputs *in)
{
    /* Compared only with a live image: one whose heartbeat echo has followed this core
     * (after a restart a frozen image would agree with a stale past). */
    if (st->reconciled || !in->plant.valid || !in->inv.valid || !st->echo_followed)
        return;
    if (!station_grippers_settled(st, &in->plant))
        return;
    char why[96];
    if (station_inventory_agrees(st, in, why, sizeof why)) {
        station_take_inventory(st, &in->inv);
        st->reconciled = true;
        st->resume_checked = false;
        note_cleared_drone(st, in);
        diag_update(&st->diag, DIAG_INVENTORY_MISMATCH, false, -1, st->now_ms);
        station_record_event(st, station_states[st->state].name, station_states[st->state].name,
                     "reconciled: inventory agrees with the sensors");
        return;
    }
    if (st->state == ST_HELD)
        return;
    station_alarm_raise(st, in, DIAG_INVENTORY_MISMATCH, -1);
    st->recon_hold = true;
    char reason[128];
    snprintf(reason, sizeof reason, "reconciliation: %s", why);
    station_transition(st, in, ST_HELD, reason);
}

/* The operator's decision after a mismatch: the sensors are right. Every difference
 * becomes a move to persist; packs the sensors cannot find go to quarantine. */
/* A gripper holds a pack the inventory does not put there: it took it where the head
 * stands, from the drone on the pad or from the slot in front of it. The move from
 * that place is recorded, so the registry no longer shows the pack where it was. */
static void adopt_gripper(struct station *st, const struct station_inputs *in, bool is_b)
{
    const struct station_plant_in *p = &in->plant;
    uint32_t *tag = is_b ? &st->grip_b_tag : &st->grip_a_tag;
    if (*tag || !(is_b ? p->grip_b_holding : p->grip_a_holding))
        return;
    struct station_location to = station_loc(is_b ? STATION_PLACE_GRIPPER_B : STATION_PLACE_GRIPPER_A, 0);
    double tol = st->pc.position_tolerance_mm + 0.05;
    int s = p->carousel_pos;
    if (fabs(p->x_pos_mm - st->pc.x_bay_mm) <= tol) {
        /* The drone whose swap was given up is still the one on the pad. */
        uint8_t sys = st->serving_sysid ? st->serving_sysid : in->inv.pad_sysid ? in->inv.pad_sysid : st->left_sysid;
        uint32_t t = st->pad_tag ? st->pad_tag : sys == st->left_sysid ? st->left_tag : 0;
        const struct station_drone_in *d = station_find_drone(in, sys);
        if (!t && d)
            t = d->battery_tag;
        *tag = t ? t : STATION_TAG_UNKNOWN;
        st->pad_tag = 0;
        station_emit_move(st, *tag, station_loc(STATION_PLACE_DRONE, sys), to, "adopt_sensors");
    } else if (fabs(p->x_pos_mm - st->pc.x_magazine_mm) <= tol && s >= 0 && s < station_n_slots(st) && st->slot_tag[s] &&
               !p->slot[s].present) {
        *tag = st->slot_tag[s];
        st->slot_tag[s] = 0;
        station_emit_move(st, *tag, station_loc(STATION_PLACE_SLOT, s), to, "adopt_sensors");
    } else {
        *tag = STATION_TAG_UNKNOWN;
        station_emit_move(st, *tag, station_loc(STATION_PLACE_NONE, 0), to, "adopt_sensors");
    }
}

/* A new connection to the plant: the plant may have restarted (power cycle, PLC reboot)
 * and hold other levels than the core's. As after a restart of the controller: the core
 * adopts what the plant holds (image_adopted cleared: the read-back of the new
 * connection), compares the inventory with the sensors before anything moves, and keeps
 * the swap it was in. Held: Unhold compares, then resumes the step; a mismatch stays
 * Held for the operator (adopt sensors). Starting or Completing (the robot moves) stop;
 * in a state where nothing moves (Stopped, Resetting, Idle, Complete) the comparison
 * runs by itself, in place. */
void station_plant_renewed(struct station *st, const struct station_inputs *in)
{
    bool was = st->image_adopted;
    st->image_adopted = false;
    /* A new connection's echo starts afresh: it must follow this core again before the
     * image counts as live, and the frozen-image watch re-arms from there. */
    st->echo_seen = false;
    st->echo_followed = false;
    st->echo_armed = false;
    st->echo_n = 0;
    /* Only heartbeats sent from now on count as followed: an image still frozen since
     * before the renewal echoes an older one of ours, and adopting or reconciling on it
     * would book what the plant no longer holds. */
    st->echo_span = 0;
    if (!was || !st->reconciled)
        return;  /* still reconciling from the start: nothing was adopted yet */
    st->reconciled = false;
    const char *why = "plant connection renewed: adopting the plant's levels, reconciling before anything moves";
    station_record_event(st, station_states[st->state].name, station_states[st->state].name, "%s", why);
    if (station_in_execute_family(st->state) || st->state == ST_HOLDING || st->state == ST_HELD) {
        /* The link was lost in a swap, however briefly: the operator sees comm_loss. */
        if (diag_raise(&st->diag, DIAG_COMM_LOSS, -1) > 0)
            station_record_alarm(st, DIAG_COMM_LOSS, true);
        st->recon_hold = true;
        st->plant_renewed = true;
        if (st->state != ST_HOLDING && st->state != ST_HELD)
            station_transition(st, in, ST_HOLDING, why);
    } else if (st->state == ST_STARTING || st->state == ST_COMPLETING) {
        station_transition(st, in, ST_STOPPING, why);
    }
}

/* States in which nothing moves station_reconcile again by themselves after a renewed link. */
bool station_reconciles_in_place(enum station_state s)
{
    return s == ST_RESETTING || s == ST_IDLE || s == ST_COMPLETE;
}

void station_adopt_sensors(struct station *st, const struct station_inputs *in)
{
    const struct station_plant_in *p = &in->plant;
    station_take_inventory(st, &in->inv);
    adopt_gripper(st, in, false);
    adopt_gripper(st, in, true);
    for (int s = 0; s < station_n_slots(st); s++) {
        const struct station_slot_in *sl = &p->slot[s];
        uint32_t seen = sl->present ? (sl->tag_ok ? sl->tag : STATION_TAG_UNKNOWN) : 0;
        if (seen == st->slot_tag[s])
            continue;
        if (st->slot_tag[s])
            station_emit_move(st, st->slot_tag[s], station_loc(STATION_PLACE_SLOT, s), station_loc(STATION_PLACE_QUARANTINE, 0), "adopt_sensors");
        if (seen && seen != STATION_TAG_UNKNOWN)
            station_emit_move(st, seen, station_loc(STATION_PLACE_NONE, 0), station_loc(STATION_PLACE_SLOT, s), "adopt_sensors");
        st->slot_tag[s] = seen;
    }
    if (st->grip_a_tag && !p->grip_a_holding) {
        station_emit_move(st, st->grip_a_tag, station_loc(STATION_PLACE_GRIPPER_A, 0), station_loc(STATION_PLACE_QUARANTINE, 0), "adopt_sensors");
        st->grip_a_tag = 0;
    }
    if (st->grip_b_tag && !p->grip_b_holding) {
        station_emit_move(st, st->grip_b_tag, station_loc(STATION_PLACE_GRIPPER_B, 0), station_loc(STATION_PLACE_QUARANTINE, 0), "adopt_sensors");
        st->grip_b_tag = 0;
    }
    if (st->pad_tag && p->load_g < (unsigned)st->cfg.touchdown_g) {
        station_emit_move(st, st->pad_tag, station_loc(STATION_PLACE_DRONE, 0), station_loc(STATION_PLACE_QUARANTINE, 0), "adopt_sensors");
        st->pad_tag = 0;
    }
    st->reconciled = true;
    diag_update(&st->diag, DIAG_INVENTORY_MISMATCH, false, -1, st->now_ms);
    station_record_event(st, station_states[st->state].name, station_states[st->state].name,
                 "operator adopted the sensors' view of the inventory");
}

/* A move the inventory already shows (committed before a restart) is not made twice. */
bool station_move_already_done(const struct station *st, enum swapseq_id id)
{
    switch (swapseq_steps[id].move) {
    case SWM_NONE: return false;
    case SWM_DRONE_TO_A: return st->pad_tag == 0;
    case SWM_B_TO_DRONE: return st->grip_b_tag == 0;
    case SWM_A_TO_DRONE: return st->grip_a_tag == 0 && st->pad_tag != 0;
    case SWM_A_TO_SLOT: return st->grip_a_tag == 0;
    case SWM_SLOT_TO_A: return st->grip_a_tag != 0;
    case SWM_SLOT_TO_B: return st->grip_b_tag != 0;
    }
    return false;
}
/* After a restart while a drone was cleared to land (the persisted last step is a fetch
 * step or the touchdown wait, and the persisted pad drone names it): the drone is still
 * coming, or already stands on the pad, so it is served first. The chain restarts from
 * where the packs are: the fetch from the top while gripper B is empty (each fetch step
 * re-applies its levels, which moves nothing already there), else from to_standby. */
static bool resume_before_touchdown(struct station *st, const struct station_inputs *in)
{
    int ls = in->inv.last_step;
    uint8_t sys = st->resume_sysid;
    const struct swapseq_chain *c = &swapseq_chains[SWAPSEQ_PIPELINED];
    if (!sys || ls < SWAPSEQ_FETCH_TRAVEL || ls > SWAPSEQ_AWAIT_TOUCHDOWN)
        return false;
    st->resume_sysid = 0;
    if (st->cfg.sequence != SWAPSEQ_PIPELINED || st->grip_a_tag)
        return false;
    st->serving_sysid = sys;
    if (!station_in_queue(st, sys) && st->n_queue < STATION_MAX_DRONES) {
        memmove(&st->queue[1], &st->queue[0], (size_t)st->n_queue);
        memmove(&st->queue_pos_sent[1], &st->queue_pos_sent[0], (size_t)st->n_queue * sizeof st->queue_pos_sent[0]);
        st->queue[0] = sys;
        st->queue_pos_sent[0] = 0;
        st->n_queue++;
    }
    st->ctx.fresh_slot = -1;
    st->ctx.store_slot = -1;
    st->ctx.pack_mass_g = st->pc.battery_mass_g;
    if (st->grip_b_tag) {
        st->fresh_tag = st->grip_b_tag;
        station_chain_start(st, c, c->touchdown_index - 1);
    } else if (station_fresh_slot_ok(st, in)) {
        st->ctx.fresh_slot = in->inv.fresh_slot;
        st->fresh_tag = st->slot_tag[in->inv.fresh_slot];
        station_chain_start(st, c, 0);
    } else {
        /* No pack to give: withdraw the clearance; a drone already down is released by
         * the operator (it counts as a pad obstruction from now on). */
        station_send_msg(st, sys, STATION_MSG_DENIED, STATION_DENY_NO_BATTERY);
        station_queue_remove(st, sys);
        st->serving_sysid = 0;
        return false;
    }
    station_record_event(st, "restart", swapseq_name(ls), "drone %u was cleared to land before the restart: serving it", sys);
    station_clear_to_land(st);
    return true;
}
/* After a restart with a drone on the pad in the middle of its swap (the persisted last
 * step is an on-pad step and the inventory agreed with the sensors), the chain resumes
 * at that step: its levels are re-applied, which moves nothing that is already there. */
bool station_resume_swap(struct station *st, const struct station_inputs *in)
{
    if (st->resume_checked)
        return false;
    st->resume_checked = true;
    int ls = in->inv.last_step;
    const struct swapseq_chain *c = &swapseq_chains[st->cfg.sequence];
    const struct station_plant_in *p = &in->plant;
    if (resume_before_touchdown(st, in))
        return true;
    bool held = !p->clamp_unlocked || !p->center_open;
    if (ls < 0 && st->drone_present && held && c == &swapseq_chains[SWAPSEQ_PIPELINED]) {
        /* No persisted step, but a drone is held on the pad: where the packs are tells
         * how far the swap got. Each guess restarts a step that is safe to repeat. */
        if (st->pad_tag && st->grip_b_tag && !st->grip_a_tag)
            ls = SWAPSEQ_TO_STANDBY;            /* old pack still in: from the top */
        else if (!st->pad_tag && st->grip_a_tag && st->grip_b_tag)
            ls = SWAPSEQ_WRIST_TURN;            /* old pack out, fresh one not in */
        else if (st->pad_tag)
            ls = SWAPSEQ_INSERT_RETRACT;        /* a pack is in: check it, release */
    }
    if (!st->drone_present || ls < SWAPSEQ_TO_STANDBY || ls > SWAPSEQ_RELEASE_DRONE)
        return false;
    /* Starting pulled the stroke in: a grip or release interrupted before its gripper
     * reached its end has to push in again first. */
    if (ls == SWAPSEQ_TAKE_GRIP && !p->grip_a_holding && !p->stroke_extended)
        ls = SWAPSEQ_TAKE_EXTEND;
    if (ls == SWAPSEQ_INSERT_RELEASE && p->grip_b_holding && !p->stroke_extended)
        ls = SWAPSEQ_INSERT_EXTEND;
    int pos = -1;
    for (int i = c->touchdown_index - 1; i <= c->release_index && pos < 0; i++)
        if ((int)c->steps[i] == ls)
            pos = i;
    if (pos < 0)
        return false;
    uint8_t sys = in->inv.pad_sysid;
    for (int i = 0; !sys && i < STATION_MAX_DRONES; i++)
        if (in->drones[i].sysid && in->drones[i].present && in->drones[i].landed_state == 1)
            sys = in->drones[i].sysid;
    st->serving_sysid = sys;
    station_chain_start(st, c, pos);
    st->resumed = true;
    st->onpad = true;
    st->departing = false;
    st->touchdown_ms = st->now_ms;
    st->insert_ms = 0;
    bool inserted = pos > 0 && station_move_already_done(st, SWAPSEQ_INSERT_RELEASE) &&
                    ls >= SWAPSEQ_INSERT_RELEASE;
    st->fresh_tag = inserted ? st->pad_tag : st->grip_b_tag;
    st->ctx.fresh_slot = -1;
    st->ctx.store_slot = -1;
    st->ctx.pack_mass_g = st->pc.battery_mass_g;
    /* The drone's weight with its old pack, for the pack-removed check: the gripper may
     * have taken the pack out while the controller was down. */
    bool pack_out = inserted || !st->pad_tag || in->plant.grip_a_holding;
    st->ctx.touchdown_load_g = (uint16_t)(in->plant.load_g + (pack_out ? st->pc.battery_mass_g : 0));
    station_record_event(st, "restart", swapseq_name(ls), "resuming the swap of drone %u at step %s", sys, swapseq_name(ls));
    return true;
}
