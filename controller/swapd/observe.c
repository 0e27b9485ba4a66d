/* The HTTP endpoint's side of the scan: counts what the metrics need every scan (swaps,
 * step durations, scan lateness) and, at most every [http] publish_ms, renders the
 * snapshot the endpoint serves: the control protocol's read replies, built by the
 * console's own handlers (one schema), the metric values and the event ring. Nothing
 * here waits: a snapshot the endpoint cannot take at once is offered again next scan.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "swapd.h"

struct swapd_observe {
    struct httpd_metrics m;
    unsigned swaps_seen;
    int step;                     /* step in progress, -1 none */
    uint64_t step_start_ms;
    uint64_t last_publish_ms;
    struct httpd_snapshot *pending;
    uint64_t late_hist_seen[SWAPD_HIST_BUCKETS];
    /* each event rendered once, when it enters the ring */
    long long ev_seq[SWAPD_EVENT_RING];
    char *ev_json[SWAPD_EVENT_RING];
};

int swapd_observe_start(struct swapd *d, char *err, size_t errsize)
{
    err[0] = 0;
    d->http = httpd_start(&d->http_cfg, err, errsize);
    if (!d->http)
        return err[0] ? -1 : 0;
    d->observe = calloc(1, sizeof *d->observe);
    if (!d->observe) {
        httpd_stop(d->http);
        d->http = NULL;
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    d->observe->step = -1;
    fprintf(stderr, "<6>swapd: http: listening on http://%s%s%s:%d/ (read-only)\n",
            strchr(d->http_cfg.address, ':') ? "[" : "", d->http_cfg.address,
            strchr(d->http_cfg.address, ':') ? "]" : "", httpd_port(d->http));
    return 0;
}

void swapd_observe_stop(struct swapd *d)
{
    httpd_stop(d->http);
    d->http = NULL;
    if (!d->observe)
        return;
    httpd_snapshot_release(d->observe->pending);
    for (int i = 0; i < SWAPD_EVENT_RING; i++)
        free(d->observe->ev_json[i]);
    free(d->observe);
    d->observe = NULL;
}

/* The console's reply to a read command, as compact JSON text. */
static char *console_read(struct swapd *d, const char *name, size_t *len)
{
    static const struct ctlsock_peer peer;  /* read commands need no credentials */
    const struct ctlproto_cmd *cmd = ctlproto_find(name);
    json_t *req = json_pack("{s:s}", "cmd", name);
    /* only reads: the endpoint never reaches a command, whatever a table says */
    json_t *rep = cmd && cmd->access != CTLPROTO_COMMAND && req ? swapd_console_handle(d, &peer, cmd, req) : NULL;
    char *text = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
    json_decref(req);
    json_decref(rep);
    *len = text ? strlen(text) : 0;
    return text;
}

static double pct_ratio(const json_t *v) { return json_is_number(v) ? json_number_value(v) / 100.0 : NAN; }

static void fill_slots(struct httpd_metrics *m, const char *slots_reply)
{
    json_t *rep = slots_reply ? json_loads(slots_reply, 0, NULL) : NULL;
    json_t *arr = json_object_get(json_object_get(rep, "result"), "slots");
    m->n_slots = 0;
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) {
        if (i >= HTTPD_MAX_SLOTS)
            break;
        struct httpd_slot_metrics *sl = &m->slot[i];
        const char *charge = json_string_value(json_object_get(s, "charge"));
        sl->charge = 0;
        for (int c = 0; charge && ctlproto_charge_states[c]; c++)
            if (!strcmp(charge, ctlproto_charge_states[c]))
                sl->charge = c;
        sl->present = charge && strcmp(charge, "empty");
        sl->soc_ratio = pct_ratio(json_object_get(s, "soc_pct"));
        sl->soh_ratio = pct_ratio(json_object_get(s, "soh_pct"));
        json_t *t = json_object_get(s, "temp_degC");
        sl->temp_degC = json_is_number(t) ? json_number_value(t) : NAN;
        m->n_slots = (int)i + 1;
    }
    json_decref(rep);
}

static void fill_metrics(struct swapd *d, struct swapd_observe *ob, uint64_t now_ms)
{
    struct httpd_metrics *m = &ob->m;
    m->state = 0;
    for (int s = 0; ctlproto_states[s]; s++)
        if (!strcmp(ctlproto_states[s], station_state_name(d->out.state)))
            m->state = s;
    m->mode = (int)d->out.mode;
    m->scans = d->stats.scans;
    m->overruns = d->stats.overruns;
    /* Lateness: the scan's own 50 us histogram, re-bucketed (bounds are multiples of 50 us). */
    memset(m->scan_late.bucket, 0, sizeof m->scan_late.bucket);
    const struct httpd_hist_bounds *lb = &httpd_hist_bounds[HTTPD_HIST_SCAN_LATE];
    for (int b = 0; b < SWAPD_HIST_BUCKETS; b++) {
        double upper_s = (b + 1) * SWAPD_HIST_US * 1e-6;
        int k = 0;
        while (k < lb->n && upper_s > lb->le_s[k] + 1e-9)
            k++;
        if (b == SWAPD_HIST_BUCKETS - 1)
            k = lb->n;
        m->scan_late.bucket[k] += d->stats.hist[b];
    }
    m->scan_late.count = d->stats.scans;
    m->scan_late.sum = d->stats.late_s_sum;
    m->plant_up = d->plant_status.connected;
    m->plant_exchanges = d->plant_status.exchanges;
    m->plant_errors = d->plant_status.failures;
    m->plant_reconnects = d->plant_status.reconnects;
    m->plant_rtt_s = d->plant_status.exchange_us_last / 1e6;
    m->plant_rtt_max_s = d->plant_status.exchange_us_max / 1e6;
    struct plantlink_timing per = { 0 }, ex = { 0 };
    if (d->plantlink)
        plantlink_get_timing(d->plantlink, &per, &ex);
    m->plant_period = (struct httpd_summary){ per.n, per.sum_ms / 1e3, per.p50_ms / 1e3, per.p99_ms / 1e3 };
    m->plant_exchange = (struct httpd_summary){ ex.n, ex.sum_ms / 1e3, ex.p50_ms / 1e3, ex.p99_ms / 1e3 };
    const struct mav_parser *p = &d->drones.parser;
    const struct dronelink_counters *c = &d->drones.count;
    m->drone_frames = p->frames_ok;
    const uint64_t drops[] = { p->drops[MAV_DROP_BAD_CRC], p->drops[MAV_DROP_BAD_LEN],
                               p->drops[MAV_DROP_INCOMPAT_FLAGS], p->drops[MAV_DROP_BAD_SYSID],
                               p->drops[MAV_DROP_UNSIGNED], p->drops[MAV_DROP_BAD_SIGNATURE],
                               p->drops[MAV_DROP_REPLAY], p->drops[MAV_DROP_STALE],
                               p->drops[MAV_DROP_TOO_MANY_STREAMS], p->drops[MAV_DROP_UNCHECKED],
                               c->denied_not_allowed, c->denied_other, c->bad_requests, c->table_full,
                               c->out_overflow };
    _Static_assert(sizeof drops / sizeof drops[0] <= HTTPD_MAX_DROPS, "drop reasons");
    memcpy(m->drone_drops, drops, sizeof drops);
    m->drone_retransmissions = c->retransmissions;
    m->landing_queue = d->core.n_queue;
    m->n_alarms = DIAG_COUNT < HTTPD_MAX_ALARMS ? DIAG_COUNT : HTTPD_MAX_ALARMS;
    for (int a = 0; a < m->n_alarms; a++) {
        m->alarm_name[a] = diag_table[a].name;
        m->alarm_active[a] = d->out.alarms_active >> a & 1;
    }
    unsigned failures = 0;
    if (d->persist)
        persist_write_latency(d->persist, &m->registry_write, &failures);
    m->registry_failures = failures;
    m->uptime_s = (double)(now_ms - d->mono_start_ms) / 1000.0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct httpd_snapshot *build(struct swapd *d, struct swapd_observe *ob, uint64_t now_ms)
{
    double t0 = mono_s();
    struct httpd_snapshot *s = httpd_snapshot_new();
    if (!s)
        return NULL;
    for (int i = 0; i < HTTPD_DOC_COUNT; i++)
        s->doc[i] = console_read(d, httpd_doc_names[i], &s->doc_len[i]);
    fill_metrics(d, ob, now_ms);
    fill_slots(&ob->m, s->doc[HTTPD_DOC_SLOTS]);
    long long first = d->event_seq - SWAPD_EVENT_RING + 1;
    for (long long seq = first < 1 ? 1 : first; seq <= d->event_seq && s->n_events < HTTPD_EVENTS; seq++) {
        const struct swapd_event *e = &d->events[seq % SWAPD_EVENT_RING];
        if (e->seq != seq)
            continue;
        int k = (int)(seq % SWAPD_EVENT_RING);
        if (ob->ev_seq[k] != seq || !ob->ev_json[k]) {
            free(ob->ev_json[k]);
            json_t *j = swapd_event_json(e);
            ob->ev_json[k] = j ? json_dumps(j, JSON_COMPACT) : NULL;
            ob->ev_seq[k] = seq;
            json_decref(j);
        }
        char *copy = ob->ev_json[k] ? strdup(ob->ev_json[k]) : NULL;
        if (!copy)
            continue;
        s->events[s->n_events++] = (struct httpd_event){ .seq = seq, .t_ms = e->t_ms, .json = copy };
    }
    /* what this took shows in the snapshot after it (the metrics are copied last) */
    s->metrics = ob->m;
    double took = mono_s() - t0;
    ob->m.snapshot_build_s = took;
    if (took > ob->m.snapshot_build_max_s)
        ob->m.snapshot_build_max_s = took;
    return s;
}

void swapd_observe_scan(struct swapd *d, uint64_t now_ms)
{
    struct swapd_observe *ob = d->observe;
    if (!ob)
        return;
    struct httpd_metrics *m = &ob->m;
    /* every scan: what only this scan sees */
    if (d->core.swaps_done != ob->swaps_seen) {
        m->swaps_completed += d->core.swaps_done - ob->swaps_seen;
        ob->swaps_seen = d->core.swaps_done;
        httpd_hist_observe(&m->onpad, HTTPD_HIST_ONPAD, d->core.last_onpad_ms / 1000.0);
    }
    for (int i = 0; i < d->out.n_msgs; i++)
        if (d->out.msgs[i].kind == STATION_MSG_SWAP_ABORTED)
            m->swaps_aborted++;
    if (d->out.step != ob->step) {
        if (ob->step >= 0 && ob->step < HTTPD_MAX_STEPS)
            httpd_hist_observe(&m->step[ob->step], HTTPD_HIST_STEP, (now_ms - ob->step_start_ms) / 1000.0);
        ob->step = d->out.step;
        ob->step_start_ms = now_ms;
    }
    if (!m->n_steps) {
        m->n_steps = SWAPSEQ_COUNT < HTTPD_MAX_STEPS ? SWAPSEQ_COUNT : HTTPD_MAX_STEPS;
        for (int s = 0; s < m->n_steps; s++)
            m->step_name[s] = swapseq_name(s);
    }
    /* at most every publish_ms: the snapshot */
    if (!ob->pending) {
        if (ob->last_publish_ms && now_ms - ob->last_publish_ms < (uint64_t)d->http_cfg.publish_ms)
            return;
        ob->pending = build(d, ob, now_ms);
        ob->last_publish_ms = now_ms;
    }
    if (ob->pending && httpd_publish(d->http, ob->pending))
        ob->pending = NULL;
}
