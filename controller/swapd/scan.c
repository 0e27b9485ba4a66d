/* The scan's bookkeeping shared by swapd and the invariant campaign (which runs it on a
 * virtual clock): events, the plant connection's read-back, and what each scan hands the
 * persistence worker (battery moves, write-ahead intents, progress, swap records, alarms).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "swapd.h"

int64_t swapd_wall_ms(const struct swapd *d, uint64_t mono_ms)
{
    return d->wall_start_ms + (int64_t)(mono_ms - d->mono_start_ms);
}

json_t *swapd_event_json(const struct swapd_event *e)
{
    json_t *ev = ctlproto_event(e->seq, e->t_ms, e->type, e->text);
    if (ev && e->to[0]) {
        json_object_set_new(ev, "from", json_string(e->from));
        json_object_set_new(ev, "to", json_string(e->to));
        json_object_set_new(ev, "reason", json_string(e->reason));
    }
    return ev;
}

/* Records an event: stderr log, the ring the console reads, the registry, followers. */
static void record_event(struct swapd *d, uint64_t mono_ms, enum registry_severity sev, const char *type,
                         const char *from, const char *to, const char *reason, const char *text)
{
    struct swapd_event *e = &d->events[(d->event_seq + 1) % SWAPD_EVENT_RING];
    memset(e, 0, sizeof *e);
    e->seq = ++d->event_seq;
    e->t_ms = swapd_wall_ms(d, mono_ms);
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->text, sizeof e->text, "%s", text);
    if (to) {
        snprintf(e->from, sizeof e->from, "%s", from);
        snprintf(e->to, sizeof e->to, "%s", to);
        snprintf(e->reason, sizeof e->reason, "%s", reason);
    }
    fprintf(stderr, "<%d>swapd: %s: %s\n", sev >= REGISTRY_ERROR ? 3 : sev == REGISTRY_WARNING ? 4 : 6,
            type, e->text);
    if (d->persist) {
        struct persist_job j = { .kind = PERSIST_EVENT, .t_ms = e->t_ms, .severity = sev };
        snprintf(j.source, sizeof j.source, "%s", type);
        snprintf(j.text, sizeof j.text, "%s", e->text);
        persist_submit(d->persist, &j);
    }
    if (d->console && !d->reader) {  /* with a registry, followers get it once committed */
        json_t *ev = swapd_event_json(e);
        if (ev) {
            ctlsock_broadcast_event(d->console, ev);
            json_decref(ev);
        }
    }
    swapd_fleet_event(d, e);
}

void swapd_transition(struct swapd *d, uint64_t mono_ms, const char *from, const char *to, const char *reason)
{
    char text[200];
    snprintf(text, sizeof text, "%s -> %s: %s", from, to, reason);
    record_event(d, mono_ms, REGISTRY_INFO, swapd_transition_type(from, to), from, to, reason, text);
}

void swapd_event(struct swapd *d, uint64_t mono_ms, enum registry_severity sev, const char *type,
                 const char *fmt, ...)
{
    char text[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    record_event(d, mono_ms, sev, type, NULL, NULL, NULL, text);
}

/* The plant link's read-back of the coils (seq: which connection read it, 0 none yet).
 * A new connection after the first (the plant may have restarted) is, for the core, a
 * restart: it adopts the read-back and reconciles before anything moves. */
void swapd_plant_readback(struct swapd *d, uint64_t seq, const uint8_t *co, unsigned long long reconnects,
                          uint64_t now_ms)
{
    d->in.plant.have_readback = seq > 0;
    d->in.plant.renewed = d->readback_seen != 0 && seq != d->readback_seen;
    if (d->in.plant.renewed)
        swapd_event(d, now_ms, REGISTRY_WARNING, "plant",
                    "new plant connection (reconnect %llu): treated as a plant restart: reading back, "
                    "reconciling, nothing moves until then", reconnects);
    if (seq > 0)
        d->readback_seen = seq;
    if (seq > 0)
        for (int i = 0; i < REGMAP_CO_COUNT; i++)
            d->in.plant.co_readback[i] = co[i] != 0;
}

struct registry_location swapd_registry_location(struct station_location l)
{
    switch (l.place) {
    case STATION_PLACE_SLOT: return (struct registry_location){ REGISTRY_PLACE_SLOT, l.index + 1 };
    case STATION_PLACE_GRIPPER_A: return (struct registry_location){ REGISTRY_PLACE_GRIPPER_A, 0 };
    case STATION_PLACE_GRIPPER_B: return (struct registry_location){ REGISTRY_PLACE_GRIPPER_B, 0 };
    case STATION_PLACE_DRONE: return (struct registry_location){ REGISTRY_PLACE_DRONE, l.index };
    case STATION_PLACE_QUARANTINE: return (struct registry_location){ REGISTRY_PLACE_QUARANTINE, 0 };
    default: return (struct registry_location){ REGISTRY_PLACE_UNKNOWN, 0 };
    }
}

/* The move a step is about to make, written ahead of its action (write-ahead intent). */
static void persist_intent(struct swapd *d, int step, uint64_t now_ms)
{
    const struct station *c = &d->core;
    uint32_t tag = 0;
    struct station_location from = { STATION_PLACE_NONE, 0 }, to = from;
    uint8_t sys = c->serving_sysid;
    switch (swapseq_steps[step].move) {
    case SWM_SLOT_TO_B:
    case SWM_SLOT_TO_A:
        if (c->ctx.fresh_slot < 0)
            return;
        tag = c->slot_tag[c->ctx.fresh_slot];
        from = (struct station_location){ STATION_PLACE_SLOT, c->ctx.fresh_slot };
        to = (struct station_location){ swapseq_steps[step].move == SWM_SLOT_TO_B ? STATION_PLACE_GRIPPER_B
                                                                                  : STATION_PLACE_GRIPPER_A, 0 };
        break;
    case SWM_DRONE_TO_A:
        tag = c->pad_tag;
        from = (struct station_location){ STATION_PLACE_DRONE, sys };
        to = (struct station_location){ STATION_PLACE_GRIPPER_A, 0 };
        break;
    case SWM_B_TO_DRONE:
        tag = c->grip_b_tag;
        from = (struct station_location){ STATION_PLACE_GRIPPER_B, 0 };
        to = (struct station_location){ STATION_PLACE_DRONE, sys };
        break;
    case SWM_A_TO_DRONE:
        tag = c->grip_a_tag;
        from = (struct station_location){ STATION_PLACE_GRIPPER_A, 0 };
        to = (struct station_location){ STATION_PLACE_DRONE, sys };
        break;
    case SWM_A_TO_SLOT:
        if (c->ctx.store_slot < 0)
            return;
        tag = c->grip_a_tag;
        from = (struct station_location){ STATION_PLACE_GRIPPER_A, 0 };
        to = (struct station_location){ STATION_PLACE_SLOT, c->ctx.store_slot };
        break;
    default:
        return;
    }
    if (!tag || tag == STATION_TAG_UNKNOWN)
        return;
    struct persist_job j = { .kind = PERSIST_INTENT, .t_ms = swapd_wall_ms(d, now_ms), .tag = tag,
                             .from = swapd_registry_location(from), .to = swapd_registry_location(to) };
    snprintf(j.step, sizeof j.step, "%s", swapseq_name(step));
    persist_submit(d->persist, &j);
}

/* Battery moves, swap records, events and alarms of this scan, to the registry. */
void swapd_persist_outputs(struct swapd *d, uint64_t now_ms)
{
    const struct station_outputs *o = &d->out;
    for (int i = 0; i < o->n_moves; i++) {
        if (o->moves[i].seq <= d->submitted_seq)
            continue;
        /* A pack the core cannot name (its sensors did not say, e.g. adopted while the
         * load cell lied) is the one the shell has where it came from: else the registry
         * keeps it there while it moves on unrecorded. */
        struct station_move named_move = o->moves[i];
        if (named_move.tag == STATION_TAG_UNKNOWN || named_move.tag == 0)
            named_move.tag = swapd_inventory_name_at(d, named_move.from);
        if (!named_move.tag)
            named_move.tag = o->moves[i].tag;
        const struct station_move *m = &named_move;
        if (m->tag != STATION_TAG_UNKNOWN && m->tag != 0 && !swapd_pack_find(d, m->tag) &&
            swapd_inventory_register(d, m->tag, (struct registry_location){ REGISTRY_PLACE_UNKNOWN, 0 }, now_ms) != 0)
            break;  /* cannot track it: the move waits, the core holds at its deadline */
        if (m->from.place == STATION_PLACE_DRONE && m->tag != STATION_TAG_UNKNOWN && m->tag != 0 &&
            swapd_inventory_unbook_drone(d, m->from.index, m->tag, m->step, now_ms) != 0)
            break;  /* queue full: retried next scan */
        struct persist_job j = { .kind = PERSIST_MOVE, .t_ms = swapd_wall_ms(d, m->t_ms),
                                 .seq = m->seq, .tag = m->tag,
                                 .step_start_ms = swapd_wall_ms(d, m->step_start_ms) };
        j.to = swapd_registry_location(m->to);
        snprintf(j.step, sizeof j.step, "%s", m->step ? m->step : "");
        if (persist_submit(d->persist, &j) != 0)
            break;  /* queue full: retried next scan, the core keeps waiting */
        d->submitted_seq = m->seq;
        if (d->swap_open && m->step && d->last_step >= 0 && !strcmp(m->step, swapseq_name(d->last_step)))
            d->step_row_written = true;  /* the move's commit records the step's row */
        swapd_inventory_apply_move(d, m);
        bool named = m->tag && m->tag != STATION_TAG_UNKNOWN;  /* else an event, not a record */
        if (m->from.place == STATION_PLACE_DRONE && named)
            d->out_tag = m->tag;
        if (m->to.place == STATION_PLACE_DRONE && named)
            d->in_tag = m->tag;
    }
    /* Swap records: a swap opens with the first on-pad step, closes with the clearance. */
    if (o->step != d->last_step) {
        if (d->swap_open && d->last_step >= 0 && !d->step_row_written) {
            struct persist_job j = { .kind = PERSIST_STEP, .t_ms = swapd_wall_ms(d, now_ms),
                                     .step_start_ms = swapd_wall_ms(d, d->step_start_ms) };
            snprintf(j.step, sizeof j.step, "%s", swapseq_name(d->last_step));
            persist_submit(d->persist, &j);
        }
        if (o->step == SWAPSEQ_CENTER_CLOSE && !d->swap_open) {
            struct persist_job j = { .kind = PERSIST_BEGIN_SWAP, .t_ms = swapd_wall_ms(d, now_ms),
                                     .drone = o->serving_sysid };
            persist_submit(d->persist, &j);
            d->swap_open = true;
            d->out_tag = d->in_tag = 0;
        }
        d->last_step = o->step;
        d->step_start_ms = now_ms;
        d->step_row_written = false;
        /* The served drone's pack goes with it: the core's, else the one the drone's
         * request named (a restarted link does not hear it again). */
        struct persist_job pj = { .kind = PERSIST_PROGRESS, .t_ms = swapd_wall_ms(d, now_ms),
                                  .seq = (uint32_t)(int32_t)o->step, .drone = o->serving_sysid,
                                  .tag = d->core.pad_tag != STATION_TAG_UNKNOWN ? d->core.pad_tag : 0 };
        for (int i = 0; !pj.tag && o->serving_sysid && i < STATION_MAX_DRONES; i++)
            if (d->in.drones[i].sysid == o->serving_sysid)
                pj.tag = d->in.drones[i].battery_tag;
        snprintf(pj.step, sizeof pj.step, "%s", o->step >= 0 ? swapseq_name(o->step) : "");
        persist_submit(d->persist, &pj);
        if (o->step >= 0)
            persist_intent(d, o->step, now_ms);
        d->boot_progress_used = true;
    }
    for (int i = 0; i < o->n_msgs; i++) {
        if (o->msgs[i].kind != STATION_MSG_CLEARED_TAKEOFF && o->msgs[i].kind != STATION_MSG_SWAP_ABORTED)
            continue;
        if (!d->swap_open)
            continue;
        bool ok = o->msgs[i].kind == STATION_MSG_CLEARED_TAKEOFF;
        struct persist_job j = { .kind = PERSIST_FINISH_SWAP, .t_ms = swapd_wall_ms(d, now_ms),
                                 .tag = d->out_tag, .tag_in = d->in_tag };
        snprintf(j.text, sizeof j.text, "%s", ok ? "ok" : "aborted");
        persist_submit(d->persist, &j);
        d->swap_open = false;
        swapd_event(d, now_ms, REGISTRY_INFO, "swap", "drone %u %s, on pad %.2f s", o->msgs[i].sysid,
                    ok ? "cleared for take-off" : "swap aborted",
                    d->core.last_onpad_ms / 1000.0);
    }
    for (int i = 0; i < o->n_events; i++) {
        const struct station_event *e = &o->events[i];
        swapd_transition(d, e->t_ms, e->from, e->to, e->reason);
    }
    for (int i = 0; i < o->n_alarm_events; i++) {
        const struct station_alarm_event *a = &o->alarm_events[i];
        const struct diag_def *def = a->alarm >= 0 && a->alarm < DIAG_COUNT ? &diag_table[a->alarm] : NULL;
        struct persist_job j = { .kind = a->raised ? PERSIST_ALARM_RAISE : PERSIST_ALARM_CLEAR,
                                 .t_ms = swapd_wall_ms(d, a->t_ms) };
        snprintf(j.code, sizeof j.code, "%s", def ? def->name : "unknown");
        if (def && a->raised)
            d->alarm_raised_wall_ms[a->alarm] = j.t_ms;
        snprintf(j.text, sizeof j.text, "%s%s%s", def ? def->text : "", a->note[0] ? ": " : "", a->note);
        persist_submit(d->persist, &j);
        swapd_event(d, a->t_ms, a->raised ? REGISTRY_ERROR : REGISTRY_INFO, "alarm", "%s %s%s%s%s%s",
                    j.code, a->raised ? "raised" : "cleared", def ? ": " : "", def ? def->text : "",
                    a->note[0] ? ": " : "", a->note);
    }
}

/* Upper edge of the bucket holding the q-quantile of lateness. */
static int64_t quantile_us(const struct swapd_stats *s, double q)
{
    uint64_t want = (uint64_t)(q * (double)s->scans), seen = 0;
    for (int b = 0; b < SWAPD_HIST_BUCKETS; b++) {
        seen += s->hist[b];
        if (seen > want)
            return b == SWAPD_HIST_BUCKETS - 1 ? s->jitter_us_max : (int64_t)(b + 1) * SWAPD_HIST_US;
    }
    return s->jitter_us_max;
}

json_t *swapd_scan_stats_json(const struct swapd_stats *s)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "scans", (json_int_t)s->scans, "overruns",
                     (json_int_t)s->overruns, "late_p50_us", (json_int_t)quantile_us(s, 0.5),
                     "late_p99_us", (json_int_t)quantile_us(s, 0.99), "late_max_us",
                     (json_int_t)s->jitter_us_max, "work_max_us", (json_int_t)s->scan_us_max);
}
