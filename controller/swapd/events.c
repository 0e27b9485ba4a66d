/* The daemon's events: each one goes to stderr, the ring the console reads, the
 * registry (through the persistence worker), the console's followers and whoever
 * listens (the fleet link); and the type a transition's event gets. Times are the
 * run's monotonic ms, stamped with the wall clock. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
    if (d->on_event)
        d->on_event(d, e);
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

/* The core reports every transition alike (from, to, reason); the names tell them
 * apart: PackML states and unit modes are fixed lists, the landing queue and a pack
 * taken out by hand name their source, and everything else is the swap's step chain. */
const char *swapd_transition_type(const char *from, const char *to)
{
    if (to && ctlproto_in_list(ctlproto_states, to))
        return "state";
    for (int m = 0; to && ctlproto_modes[m]; m++)
        if (!strcasecmp(to, ctlproto_modes[m])) /* the core spells them "Maintenance" */
            return "mode";
    if (from && !strcmp(from, "landing_queue"))
        return "drone";
    if (from && !strcmp(from, "slot"))
        return "battery";
    return "step";
}
