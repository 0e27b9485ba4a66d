/* The swap chain runner: starts and ends a chain of swapseq steps, applies each step's
 * action and its battery move, checks its completion and deadline, and picks the slot a
 * returned pack goes to. */
#include "core/station.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/station_impl.h"

/* ---- the swap chain ----------------------------------------------------------------- */

enum swapseq_id station_cur_step(const struct station *st)
{
    return st->chain->steps[st->chain_pos];
}

void station_chain_start(struct station *st, const struct swapseq_chain *c, int pos)
{
    st->chain = c;
    st->chain_pos = pos;
    st->step_applied = false;
    st->step_retry_count = 0;
    st->gate_wait_since_ms = 0;
}

void station_chain_end(struct station *st)
{
    st->chain = NULL;
    st->chain_pos = -1;
    st->step_applied = false;
    st->clear_deferred = false;
}

int station_pick_store_slot(const struct station *st, const struct station_plant_in *p)
{
    for (int s = 0; s < station_n_slots(st); s++)
        if (!st->slot_tag[s] && !p->slot[s].present)
            return s;
    return -1;
}

static bool powerup_verified(const struct station *st, const struct station_inputs *in)
{
    const struct station_drone_in *d = station_find_drone(in, st->serving_sysid);
    if (!d || !d->battery_report_ms || d->battery_report_ms < st->insert_ms)
        return false;
    if (d->battery_tag && st->fresh_tag && st->fresh_tag != STATION_TAG_UNKNOWN && d->battery_tag != st->fresh_tag)
        return false;
    uint32_t cells = (uint32_t)st->pc.battery_cells;
    return d->battery_mV >= cells * (uint32_t)st->cfg.cell_min_mV &&
           d->battery_mV <= cells * (uint32_t)st->cfg.cell_max_mV;
}

void station_apply_move(struct station *st, const struct station_inputs *in, enum swapseq_id id)
{
    const char *name = swapseq_steps[id].name;
    uint8_t sys = st->serving_sysid;
    switch (swapseq_steps[id].move) {
    case SWM_NONE:
        return;
    case SWM_SLOT_TO_B:
    case SWM_SLOT_TO_A: {
        int fs = st->ctx.fresh_slot;
        bool known = fs >= 0 && fs < station_n_slots(st);
        uint32_t tag = known && st->slot_tag[fs] ? st->slot_tag[fs] : st->fresh_tag;
        if (known)
            st->slot_tag[fs] = 0;
        bool to_b = swapseq_steps[id].move == SWM_SLOT_TO_B;
        *(to_b ? &st->grip_b_tag : &st->grip_a_tag) = tag;
        station_emit_move(st, tag, known ? station_loc(STATION_PLACE_SLOT, fs) : station_loc(STATION_PLACE_NONE, 0),
                  station_loc(to_b ? STATION_PLACE_GRIPPER_B : STATION_PLACE_GRIPPER_A, 0), name);
        return;
    }
    case SWM_DRONE_TO_A:
        st->grip_a_tag = st->pad_tag ? st->pad_tag : STATION_TAG_UNKNOWN;
        st->pad_tag = 0;
        station_emit_move(st, st->grip_a_tag, station_loc(STATION_PLACE_DRONE, sys), station_loc(STATION_PLACE_GRIPPER_A, 0), name);
        return;
    case SWM_B_TO_DRONE:
        st->pad_tag = st->grip_b_tag;
        st->grip_b_tag = 0;
        st->insert_ms = st->now_ms;
        station_emit_move(st, st->pad_tag, station_loc(STATION_PLACE_GRIPPER_B, 0), station_loc(STATION_PLACE_DRONE, sys), name);
        return;
    case SWM_A_TO_DRONE:
        st->pad_tag = st->grip_a_tag;
        st->grip_a_tag = 0;
        st->insert_ms = st->now_ms;
        station_emit_move(st, st->pad_tag, station_loc(STATION_PLACE_GRIPPER_A, 0), station_loc(STATION_PLACE_DRONE, sys), name);
        return;
    case SWM_A_TO_SLOT: {
        int s = st->ctx.store_slot;
        if (s < 0 || s >= station_n_slots(st))
            return; /* unreachable: the store step cannot complete without its slot */
        uint32_t tag = st->grip_a_tag;
        /* A pack that came without a known serial is named by the slot's reader. */
        if ((tag == STATION_TAG_UNKNOWN || !tag) && in->plant.slot[s].tag_ok)
            tag = in->plant.slot[s].tag;
        st->slot_tag[s] = tag;
        st->grip_a_tag = 0;
        st->charger_blocked[s] = false;
        station_emit_move(st, tag, station_loc(STATION_PLACE_GRIPPER_A, 0), station_loc(STATION_PLACE_SLOT, s), name);
        return;
    }
    }
}

static void step_enter(struct station *st, const struct station_inputs *in)
{
    enum swapseq_id id = station_cur_step(st);
    if (id == SWAPSEQ_STORE_TRAVEL)
        st->ctx.store_slot = station_pick_store_slot(st, &in->plant);
    /* The drone's weight with its old pack, taken before anything touches the pack
     * (a restarted grip may find the pack already unlatched). */
    if ((id == SWAPSEQ_TO_BAY || id == SWAPSEQ_NAIVE_TO_BAY) && st->pad_tag)
        st->ctx.touchdown_load_g = (uint16_t)(in->plant.load_g + (in->plant.grip_a_holding ? st->pc.battery_mass_g : 0));
    st->step_start_ms = st->now_ms;
    swapseq_apply(id, &st->pc, &st->ctx, &st->cmd);
    double nominal_ms = swapseq_nominal_ms(id, &st->pc, &st->ctx, &in->plant);
    if (swapseq_steps[id].require & SWAPSEQ_REQ_TOUCHDOWN)
        st->step_deadline_ms = st->now_ms + (uint64_t)st->cfg.landing_timeout_ms;
    else
        st->step_deadline_ms = st->now_ms + (uint64_t)llround(nominal_ms * st->cfg.deadline_margin) +
                               (uint64_t)st->cfg.deadline_extra_ms;
    st->step_applied = true;
    st->gate_wait_since_ms = 0;
    if (st->onpad && st->chain_pos > st->chain->touchdown_index)
        station_send_msg(st, st->serving_sysid, STATION_MSG_PROGRESS,
                 (st->chain_pos - st->chain->touchdown_index) |
                 (st->chain->release_index - st->chain->touchdown_index) << 8);
}

static void swap_finished(struct station *st)
{
    st->swaps_done++;
    st->fresh_tag = 0;
}

/* Runs the chain as far as the sensors allow in this scan. */
void station_chain_run(struct station *st, const struct station_inputs *in)
{
    const struct station_plant_in *p = &in->plant;
    station_clear_when_ready(st, in);
    for (int guard = 0; st->chain && guard < SWAPSEQ_COUNT + 2; guard++) {
        /* DESIGN §5 rule 4: a move is in the database before the next step starts. */
        if (st->committed_seq < st->move_seq) {
            if (st->commit_wait_since_ms &&
                st->now_ms + 1 - st->commit_wait_since_ms > (uint64_t)st->cfg.commit_timeout_ms)
                station_alarm_raise(st, in, DIAG_COMMIT_TIMEOUT, (int)st->move_seq);
            return;
        }
        enum swapseq_id id = station_cur_step(st);
        if (!st->step_applied) {
            bool gated = (swapseq_steps[id].pad_gate && !station_pad_gate_ok(st, in)) ||
                         (id == SWAPSEQ_CLAMP && !station_disarmed_since_touchdown(st, in));
            if (gated) {
                if (!st->gate_wait_since_ms)
                    st->gate_wait_since_ms = st->now_ms + 1;
                if (st->now_ms + 1 - st->gate_wait_since_ms > (uint64_t)st->cfg.disarm_wait_ms)
                    station_alarm_raise(st, in, DIAG_DRONE_NOT_DISARMED, st->serving_sysid);
                return;
            }
            if ((id == SWAPSEQ_STORE_TRAVEL) && station_pick_store_slot(st, p) < 0) {
                /* No free slot: the old pack waits in gripper A; station_schedule() frees one by
                 * taking the next fresh pack into gripper B, or raises magazine_full. */
                station_record_event(st, st->chain->name, "magazine_full", "no free slot: pack SWP-%08X stays in gripper A",
                             st->grip_a_tag);
                station_chain_end(st);
                return;
            }
            station_record_event(st, st->chain_pos > 0 ? swapseq_name(st->chain->steps[st->chain_pos - 1]) : st->chain->name,
                         swapseq_name(id), "step start");
            step_enter(st, in);
            station_clear_when_ready(st, in);
        }
        st->ctx.drone_present = st->drone_present;
        st->ctx.powerup_ok = powerup_verified(st, in);
        /* An axis move is judged on an image read after its target went out: the image of
         * the scan that commands it may show the axis at rest near the new target with the
         * in-position bit of the old one (after a jam, a restarted plant), and the stroke
         * would then start where the plant's interlock refuses it. */
        if (st->step_start_ms == st->now_ms &&
            (swapseq_steps[id].x != SWX_KEEP || swapseq_steps[id].z != SWZ_KEEP))
            return;
        int late = swapseq_check(id, &st->pc, &st->ctx, p);
        if (late >= 0) {
            if (st->now_ms >= st->step_deadline_ms) {
                if (late == DIAG_LANDING_TIMEOUT) {
                    /* The drone did not come: withdraw its clearance and keep the fresh
                     * pack in gripper B for the next drone. */
                    station_alarm_raise(st, in, DIAG_LANDING_TIMEOUT, st->serving_sysid);
                    station_send_msg(st, st->serving_sysid, STATION_MSG_DENIED, STATION_DENY_TIMEOUT);
                    station_queue_remove(st, st->serving_sysid);
                    st->serving_sysid = 0;
                    station_chain_end(st);
                } else {
                    station_alarm_raise(st, in, (enum diag_id)late, (int)id);
                }
            }
            return;
        }
        /* complete */
        if (id == SWAPSEQ_POWERUP_CHECK)
            st->release_allowed = true;
        if (!(st->resumed && station_move_already_done(st, id)))
            station_apply_move(st, in, id);
        st->resumed = false;
        if (id == SWAPSEQ_AWAIT_TOUCHDOWN) {
            /* The pack in the drone is the one it reported on the link, if it did. */
            const struct station_drone_in *d = station_find_drone(in, st->serving_sysid);
            if (d && d->battery_tag)
                st->pad_tag = d->battery_tag;
            else if (!st->pad_tag && in->inv.pad_tag)
                st->pad_tag = in->inv.pad_tag;  /* the registry's (a restarted link has not heard it) */
            else if (!st->pad_tag)
                st->pad_tag = STATION_TAG_UNKNOWN;
            st->onpad = true;
            st->touchdown_ms = st->load_since_ms ? st->load_since_ms - 1 : st->now_ms;
        }
        if (st->chain_pos == st->chain->release_index) {
            st->onpad = false;
            st->release_allowed = false;
            st->last_onpad_ms = st->now_ms - st->touchdown_ms;
            station_send_msg(st, st->serving_sysid, STATION_MSG_CLEARED_TAKEOFF,
                     (int32_t)(st->pad_tag == STATION_TAG_UNKNOWN ? 0 : st->pad_tag));
            station_record_event(st, swapseq_name(id), "cleared_for_takeoff", "on-pad %llu ms",
                         (unsigned long long)st->last_onpad_ms);
            station_queue_remove(st, st->serving_sysid);
            st->serving_sysid = 0;
            st->departing = true;
            swap_finished(st);
        }
        if (++st->chain_pos >= st->chain->n_steps) {
            station_record_event(st, swapseq_name(id), st->chain->name, "chain complete");
            station_chain_end(st);
            return;
        }
        st->step_applied = false;
        st->step_retry_count = 0;
    }
}

/* DESIGN §5 rule 8 on the policy's choice: the pack is where the inventory says, its tag
 * reads, its telemetry has been read since it arrived, its temperature is known and inside the hand-out window, its charger is sane. */
bool station_fresh_slot_ok(const struct station *st, const struct station_inputs *in)
{
    int s = in->inv.fresh_slot;
    if (s < 0 || s >= station_n_slots(st) || !st->slot_tag[s])
        return false;
    const struct station_slot_in *sl = &in->plant.slot[s];
    return sl->present && sl->tag_ok && sl->tag == st->slot_tag[s] && !sl->telemetry_stale && sl->temp_ok &&
           sl->temp_degC >= st->cfg.handout_min_degC && sl->temp_degC <= st->cfg.handout_max_degC &&
           !st->charger_blocked[s] && sl->chg_state != CHARGER_FAULT;
}

/* Is there a reason not to clear the next drone? Returns the diag id or -1. */
int station_external_block(const struct station *st, const struct station_inputs *in)
{
    if (!station_weather_ok(st, &in->plant))
        return DIAG_WEATHER;
    if (st->drone_present || st->departing)
        return DIAG_PAD_OBSTRUCTED;
    if (!st->grip_b_tag && !station_fresh_slot_ok(st, in))
        return DIAG_NO_BATTERY;
    /* Gripper A takes the next drone's old pack; it still holds the last one only when
     * no slot is free for it (station_schedule() stores it as soon as one is). */
    if (st->grip_a_tag)
        return DIAG_MAGAZINE_FULL;
    return -1;
}
