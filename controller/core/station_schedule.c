/* Scheduling and the landing queue: pre-staging the fresh pack at standby (DESIGN §7),
 * clearing a drone to land when the head will be ready, choosing the next swap, and the
 * queue of drones asking to land. */
#include "core/station.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/station_impl.h"

static bool prestage(struct station *st, const struct station_inputs *in);
/* DESIGN §7: the fresh pack waits in gripper B at standby before any drone asks, so a
 * requesting drone is cleared at once and lands with the head already next to the pad. */
static const enum swapseq_id prestage_steps[] = {
    SWAPSEQ_FETCH_TRAVEL, SWAPSEQ_FETCH_LOWER, SWAPSEQ_FETCH_EXTEND, SWAPSEQ_FETCH_GRIP,
    SWAPSEQ_FETCH_RETRACT, SWAPSEQ_FETCH_RAISE, SWAPSEQ_TO_STANDBY,
};
static const struct swapseq_chain prestage_chain = {
    "prestage", prestage_steps, (int)(sizeof prestage_steps / sizeof prestage_steps[0]), -1, -1,
};

bool station_prestage_wanted(const struct station *st, const struct station_inputs *in)
{
    return !st->chain && !st->grip_a_tag && !st->grip_b_tag && st->mode == STATION_MODE_PRODUCTION &&
           st->cfg.sequence == SWAPSEQ_PIPELINED && st->cfg.prestage && station_fresh_slot_ok(st, in);
}

/* Fetches the policy's pack into gripper B (the pre-staging chain). */
static void fetch_to_b(struct station *st, const struct station_inputs *in)
{
    st->serving_sysid = 0;
    st->onpad = false;
    st->ctx.fresh_slot = in->inv.fresh_slot;
    st->ctx.store_slot = -1;
    st->ctx.pack_mass_g = st->pc.battery_mass_g;
    st->fresh_tag = st->slot_tag[in->inv.fresh_slot];
    station_chain_start(st, &prestage_chain, 0);
    station_record_event(st, "idle", "prestage", "fetching pack SWP-%08X to standby", st->fresh_tag);
}

static bool prestage(struct station *st, const struct station_inputs *in)
{
    if (!station_prestage_wanted(st, in))
        return false;
    fetch_to_b(st, in);
    return true;
}

void station_clear_to_land(struct station *st)
{
    st->onpad = false;
    for (int i = 0; i < st->n_queue; i++)
        if (st->queue[i] == st->serving_sysid)
            st->queue_pos_sent[i] = 0;
    station_send_msg(st, st->serving_sysid, STATION_MSG_CLEARED_TO_LAND, (st->cfg.landing_timeout_ms + 999) / 1000);
    station_record_event(st, "landing_queue", "cleared_to_land", "drone %u cleared to land, fresh pack SWP-%08X",
                 st->serving_sysid, st->fresh_tag);
}

/* A drone that asks while the pack is being pre-staged is cleared at once: the running
 * fetch becomes the first part of its swap (the same steps at the same positions). */
static void prestage_adopt_drone(struct station *st, const struct station_inputs *in)
{
    if (!st->n_queue || st->grip_a_tag || st->mode != STATION_MODE_PRODUCTION ||
        (st->cfg.swaps_per_run > 0 && st->swaps_done >= (unsigned)st->cfg.swaps_per_run))
        return;
    int block = station_external_block(st, in);
    if (block >= 0 && block != DIAG_NO_BATTERY)
        return;
    st->chain = &swapseq_chains[SWAPSEQ_PIPELINED];
    st->serving_sysid = st->queue[0];
    st->serving_asked = st->serving_sysid;   /* queued, so it asked: a cancel withdraws it */
    st->clear_deferred = true;
    station_clear_when_ready(st, in);
}

/* Nominal time (ms) until the chain reaches the touchdown wait: what is left of the
 * present step plus the steps before the wait. */
static double ms_to_touchdown(const struct station *st, const struct station_inputs *in)
{
    const struct swapseq_chain *c = st->chain;
    if (!c || c->touchdown_index < 0 || st->chain_pos >= c->touchdown_index)
        return 0;
    double ms = 0;
    for (int i = st->chain_pos; i < c->touchdown_index; i++) {
        double n = swapseq_nominal_ms(c->steps[i], &st->pc, &st->ctx, &in->plant);
        if (i == st->chain_pos && st->step_applied) {
            n -= (double)(st->now_ms - st->step_start_ms);
            if (n < 0)
                n = 0;
        }
        ms += n;
    }
    return ms;
}

/* Clears the serving drone once the fresh pack will be at standby when it lands, so it
 * does not wait on the pad for the fetch (DESIGN §7: the pack is staged before touchdown). */
void station_clear_when_ready(struct station *st, const struct station_inputs *in)
{
    if (!st->clear_deferred || !st->serving_sysid)
        return;
    if (ms_to_touchdown(st, in) > (double)st->cfg.landing_expect_ms)
        return;
    st->clear_deferred = false;
    station_clear_to_land(st);
}

/* Starts the next piece of work, if any. Returns true when the chain runs. */
bool station_schedule(struct station *st, const struct station_inputs *in)
{
    if (st->chain == &prestage_chain)
        prestage_adopt_drone(st, in);
    if (st->chain)
        return true;
    if (station_resume_swap(st, in))
        return true;
    if (st->grip_a_tag) {
        if (station_pick_store_slot(st, &in->plant) >= 0) {
            station_chain_start(st, &swapseq_store_chain, 0);
            return true;
        }
        /* Magazine full: taking the next charged pack into gripper B frees its slot. */
        if (!st->grip_b_tag && station_fresh_slot_ok(st, in)) {
            fetch_to_b(st, in);
            return true;
        }
        return false;
    }
    if (st->cfg.swaps_per_run > 0 && st->swaps_done >= (unsigned)st->cfg.swaps_per_run)
        return false;
    if (!st->n_queue || st->mode != STATION_MODE_PRODUCTION || station_external_block(st, in) >= 0)
        return prestage(st, in);
    const struct swapseq_chain *c = &swapseq_chains[st->cfg.sequence];
    st->serving_sysid = st->queue[0];
    st->serving_asked = st->serving_sysid;   /* queued, so it asked: a cancel withdraws it */
    st->ctx.fresh_slot = -1;
    if (st->grip_b_tag && c == &swapseq_chains[SWAPSEQ_PIPELINED]) {
        st->fresh_tag = st->grip_b_tag;
        station_chain_start(st, c, c->touchdown_index - 1);   /* to_standby */
    } else {
        st->ctx.fresh_slot = in->inv.fresh_slot;
        st->fresh_tag = st->slot_tag[in->inv.fresh_slot];
        station_chain_start(st, c, 0);
    }
    st->ctx.store_slot = -1;
    st->ctx.pack_mass_g = st->pc.battery_mass_g;
    st->clear_deferred = true;
    station_clear_when_ready(st, in);
    return true;
}

/* ---- landing queue ------------------------------------------------------------------ */

static bool accepting_drones(const struct station *st)
{
    if (st->mode != STATION_MODE_PRODUCTION)
        return false;
    switch (st->state) {
    case ST_STARTING: case ST_EXECUTE: case ST_SUSPENDING: case ST_SUSPENDED: case ST_UNSUSPENDING:
    case ST_HOLDING: case ST_HELD: case ST_UNHOLDING:
        return true;
    default:
        return false;
    }
}

/* The drone cleared to land withdrew before touching down (it cancelled, or the link
 * gave its clearance up): the pad is free for the next drone. A fetch under way goes on
 * as pre-staging (the same steps at the same positions), so the pack waits at standby. */
static void serving_withdrawn(struct station *st)
{
    station_record_event(st, "landing_queue", "withdrawn", "drone %u withdrew before touchdown", st->serving_sysid);
    station_queue_remove(st, st->serving_sysid);
    st->serving_sysid = 0;
    st->serving_asked = 0;
    st->clear_deferred = false;
    if (st->chain == &swapseq_chains[SWAPSEQ_PIPELINED] && st->chain_pos < st->chain->touchdown_index)
        st->chain = &prestage_chain;
    else if (st->chain && st->chain->touchdown_index >= 0 && st->chain_pos == st->chain->touchdown_index)
        station_chain_end(st);
}

/* The link keeps the landing queue's order (critical first, then by arrival) and hands
 * over its head in that order: the core's queue follows it. A drone the link no longer
 * hands over has left the queue (only the one being served stays). */
static void queue_follow_link(struct station *st, const struct station_inputs *in)
{
    uint8_t q[STATION_MAX_DRONES];
    int n = 0;
    for (int i = 0; i < st->n_queue; i++)
        if (!station_find_drone(in, st->queue[i]))
            q[n++] = st->queue[i];
    for (int i = 0; i < STATION_MAX_DRONES && n < STATION_MAX_DRONES; i++)
        if (in->drones[i].sysid && station_in_queue(st, in->drones[i].sysid))
            q[n++] = in->drones[i].sysid;
    for (int i = 0; i < n; i++) {
        if (st->queue[i] == q[i])
            continue;
        for (int j = i + 1; j < st->n_queue; j++) {
            if (st->queue[j] != q[i])
                continue;
            uint8_t s = st->queue[i];
            int p = st->queue_pos_sent[i];
            st->queue[i] = st->queue[j], st->queue_pos_sent[i] = st->queue_pos_sent[j];
            st->queue[j] = s, st->queue_pos_sent[j] = p;
            break;
        }
    }
}

void station_service_queue(struct station *st, const struct station_inputs *in)
{
    for (int i = st->n_queue - 1; i >= 0; i--)
        if (!station_find_drone(in, st->queue[i]) && st->queue[i] != st->serving_sysid)
            station_queue_remove(st, st->queue[i]);
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        const struct station_drone_in *d = &in->drones[i];
        if (!d->sysid)
            continue;
        bool queued = station_in_queue(st, d->sysid);
        if (d->sysid == st->serving_sysid && d->swap_requested)
            st->serving_asked = d->sysid;
        else if (d->sysid == st->serving_sysid && st->serving_asked == d->sysid && !st->onpad &&
                 !st->drone_present && !st->departing)
            serving_withdrawn(st);
        if (!d->swap_requested || !d->present) {
            if (queued && d->sysid != st->serving_sysid)
                station_queue_remove(st, d->sysid);
            st->denied_sysid[i] = 0;
            continue;
        }
        if (queued)
            continue;
        if (!accepting_drones(st)) {
            if (st->denied_sysid[i] != d->sysid)
                station_send_msg(st, d->sysid, STATION_MSG_DENIED, STATION_DENY_NOT_RUNNING);
            st->denied_sysid[i] = d->sysid;
            continue;
        }
        if (st->n_queue >= STATION_MAX_DRONES) {
            if (st->denied_sysid[i] != d->sysid)
                station_send_msg(st, d->sysid, STATION_MSG_DENIED, STATION_DENY_QUEUE_FULL);
            st->denied_sysid[i] = d->sysid;
            continue;
        }
        st->queue[st->n_queue] = d->sysid;
        st->queue_pos_sent[st->n_queue] = 0;
        st->n_queue++;
    }
    queue_follow_link(st, in);
    for (int i = 0; i < st->n_queue; i++) {
        if (st->queue[i] == st->serving_sysid)
            continue;
        if (st->queue_pos_sent[i] != i + 1) {
            station_send_msg(st, st->queue[i], STATION_MSG_QUEUED, i + 1);
            st->queue_pos_sent[i] = i + 1;
        }
    }
}
