/* The metric table and the text exposition renderer; see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto/ctlproto.h"

/* Scan lateness bounds are multiples of the scan's own 50 us buckets (observe.c re-buckets
 * them; 9.95 ms is the last edge the scan's histogram resolves). */
const struct httpd_hist_bounds httpd_hist_bounds[HTTPD_HIST_KIND_COUNT] = {
    [HTTPD_HIST_ONPAD] = { 10, { 5, 10, 15, 20, 25, 30, 40, 60, 90, 120 } },
    [HTTPD_HIST_STEP] = { 10, { 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30 } },
    [HTTPD_HIST_SCAN_LATE] = { 14, { 50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3, 1.5e-3, 2e-3, 3e-3,
                                    4e-3, 5e-3, 7.5e-3, 9.95e-3 } },
    [HTTPD_HIST_REGISTRY] = { 11, { 0.5e-3, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 0.1, 0.25, 0.5, 1 } },
};

const char *const httpd_drop_reasons[] = {
    "bad_crc", "bad_length", "incompatible_flags", "bad_sysid", "unsigned", "bad_signature",
    "replay", "stale", "too_many_streams", "unchecked", "not_allowed", "denied", "bad_request",
    "table_full", "output_overflow", NULL,
};

void httpd_hist_observe(struct httpd_hist *h, enum httpd_hist_kind kind, double v)
{
    const struct httpd_hist_bounds *b = &httpd_hist_bounds[kind];
    int i = 0;
    while (i < b->n && v > b->le_s[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += v;
}

enum metric_id {
    M_STATE, M_MODE, M_SWAPS_COMPLETED, M_SWAPS_ABORTED, M_ONPAD, M_STEP, M_SCANS, M_OVERRUNS,
    M_SCAN_LATE, M_PLANT_UP, M_PLANT_EXCHANGES, M_PLANT_ERRORS, M_PLANT_RECONNECTS, M_PLANT_RTT,
    M_PLANT_RTT_MAX, M_PLANT_PERIOD, M_PLANT_EXCHANGE, M_DRONE_FRAMES, M_DRONE_DROPS, M_DRONE_RETX, M_QUEUE, M_SLOT_PRESENT, M_SLOT_SOC,
    M_SLOT_SOH, M_SLOT_TEMP, M_SLOT_CHARGER, M_ALARM, M_ALARMS, M_REGISTRY, M_REGISTRY_FAIL, M_UPTIME,
    M_BUILD, M_BUILD_MAX, M_COUNT
};

struct metric_def {
    const char *name, *type, *labels, *help;
};

/* Every family /metrics exposes, in the order it exposes them. */
static const struct metric_def metric_defs[M_COUNT] = {
    [M_STATE] = { "swapd_state", "gauge", "state", "1 for the PackML state the station is in, 0 for every other state" },
    [M_MODE] = { "swapd_mode", "gauge", "mode", "1 for the unit mode (production, maintenance, manual), 0 for the others" },
    [M_SWAPS_COMPLETED] = { "swapd_swaps_completed_total", "counter", "", "Swaps that ended with the drone cleared for take-off since swapd started" },
    [M_SWAPS_ABORTED] = { "swapd_swaps_aborted_total", "counter", "", "Swaps that were aborted since swapd started" },
    [M_ONPAD] = { "swapd_onpad_seconds", "histogram", "", "On-pad time of each completed swap: touchdown to cleared for take-off" },
    [M_STEP] = { "swapd_step_duration_seconds", "histogram", "step", "Time each step of the swap chain took, by step name" },
    [M_SCANS] = { "swapd_scans_total", "counter", "", "Scan cycles run" },
    [M_OVERRUNS] = { "swapd_scan_overruns_total", "counter", "", "Scans that took longer than [scan] overrun_warn_pct of the period" },
    [M_SCAN_LATE] = { "swapd_scan_lateness_seconds", "histogram", "", "How late each scan woke against its absolute deadline" },
    [M_PLANT_UP] = { "swapd_plant_link_up", "gauge", "", "1 while the Modbus link to the plant is connected" },
    [M_PLANT_EXCHANGES] = { "swapd_plant_link_exchanges_total", "counter", "", "Process-image exchanges with the plant that succeeded" },
    [M_PLANT_ERRORS] = { "swapd_plant_link_errors_total", "counter", "", "Process-image exchanges with the plant that failed" },
    [M_PLANT_RECONNECTS] = { "swapd_plant_link_reconnects_total", "counter", "", "Reconnects of the plant link" },
    [M_PLANT_RTT] = { "swapd_plant_link_round_trip_seconds", "gauge", "", "Round trip of the last process-image exchange" },
    [M_PLANT_RTT_MAX] = { "swapd_plant_link_round_trip_max_seconds", "gauge", "", "Longest process-image exchange since swapd started" },
    [M_PLANT_PERIOD] = { "swapd_plant_link_period_seconds", "summary", "quantile", "Measured fast-loop period: time between two process images read in a row since swapd started (quantiles from bins 2 % wide)" },
    [M_PLANT_EXCHANGE] = { "swapd_plant_link_exchange_seconds", "summary", "quantile", "Measured time of one process-image exchange on the wire, first read to image, since swapd started" },
    [M_DRONE_FRAMES] = { "swapd_drone_link_frames_total", "counter", "", "MAVLink frames received and accepted on the drone link" },
    [M_DRONE_DROPS] = { "swapd_drone_link_drops_total", "counter", "reason", "Frames or requests dropped on the drone link, by reason" },
    [M_DRONE_RETX] = { "swapd_drone_link_retransmissions_total", "counter", "", "Station commands sent again because the drone did not acknowledge" },
    [M_QUEUE] = { "swapd_landing_queue_length", "gauge", "", "Drones waiting in the landing queue" },
    [M_SLOT_PRESENT] = { "swapd_slot_battery_present", "gauge", "slot", "1 when the magazine slot senses a pack" },
    [M_SLOT_SOC] = { "swapd_slot_soc_ratio", "gauge", "slot", "State of charge of the pack in the slot, 0..1 (absent when the slot is empty)" },
    [M_SLOT_SOH] = { "swapd_slot_soh_ratio", "gauge", "slot", "State of health (estimated / rated capacity) of the pack in the slot, 0..1" },
    [M_SLOT_TEMP] = { "swapd_slot_temperature_celsius", "gauge", "slot", "Temperature of the pack in the slot" },
    [M_SLOT_CHARGER] = { "swapd_slot_charger_state", "gauge", "slot, state", "1 for the slot charger's state (empty, idle, cc, cv, done, storage, fault, off)" },
    [M_ALARM] = { "swapd_alarm_active", "gauge", "alarm", "1 while the alarm is active (raised and not cleared)" },
    [M_ALARMS] = { "swapd_alarms_active", "gauge", "", "Number of active alarms" },
    [M_REGISTRY] = { "swapd_registry_write_seconds", "histogram", "", "Time the battery registry (SQLite) took per write (a write with a battery move waits for the disk)" },
    [M_REGISTRY_FAIL] = { "swapd_registry_write_failures_total", "counter", "", "Registry writes that failed" },
    [M_UPTIME] = { "swapd_uptime_seconds", "gauge", "", "Time since swapd started" },
    [M_BUILD] = { "swapd_http_snapshot_build_seconds", "gauge", "", "Scan time the last snapshot for this endpoint took to render ([http] publish_ms apart)" },
    [M_BUILD_MAX] = { "swapd_http_snapshot_build_max_seconds", "gauge", "", "Longest snapshot rendering since swapd started" },
};

struct out {
    char *buf;
    size_t len, cap;
    bool oom;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    for (;;) {
        if (o->oom)
            return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)(n > 0 ? n : 0);
        char *nb = realloc(o->buf, cap);
        if (!nb) {
            o->oom = true;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
}

/* A float sample: Go-style NaN/+Inf spelling as the format wants. */
static void put_value(struct out *o, double v)
{
    if (isnan(v))
        put(o, "NaN\n");
    else if (isinf(v))
        put(o, v > 0 ? "+Inf\n" : "-Inf\n");
    else
        put(o, "%.10g\n", v);
}

static void put_hist(struct out *o, const char *name, const char *label, const char *lv,
                     const struct httpd_hist *h, enum httpd_hist_kind kind)
{
    const struct httpd_hist_bounds *b = &httpd_hist_bounds[kind];
    char lab[128] = "";
    if (label)
        snprintf(lab, sizeof lab, "%s=\"%s\",", label, lv);
    uint64_t cum = 0;
    for (int i = 0; i < b->n; i++) {
        cum += h->bucket[i];
        put(o, "%s_bucket{%sle=\"%.6g\"} %llu\n", name, lab, b->le_s[i], (unsigned long long)cum);
    }
    cum += h->bucket[b->n];
    put(o, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, lab, (unsigned long long)cum);
    if (label) {
        snprintf(lab, sizeof lab, "{%s=\"%s\"}", label, lv);
    }
    put(o, "%s_sum%s %.10g\n", name, lab, h->sum);
    put(o, "%s_count%s %llu\n", name, lab, (unsigned long long)h->count);
}

static void put_summary(struct out *o, const char *name, const struct httpd_summary *s)
{
    put(o, "%s{quantile=\"0.5\"} ", name);
    put_value(o, s->count ? s->p50 : NAN);
    put(o, "%s{quantile=\"0.99\"} ", name);
    put_value(o, s->count ? s->p99 : NAN);
    put(o, "%s_sum %.10g\n", name, s->sum);
    put(o, "%s_count %llu\n", name, (unsigned long long)s->count);
}

static void put_u(struct out *o, const char *name, uint64_t v)
{
    put(o, "%s %llu\n", name, (unsigned long long)v);
}

static void render_one(struct out *o, const struct httpd_metrics *m, enum metric_id id)
{
    const char *n = metric_defs[id].name;
    switch (id) {
    case M_STATE:
        for (int s = 0; ctlproto_states[s]; s++)
            put(o, "%s{state=\"%s\"} %d\n", n, ctlproto_states[s], s == m->state);
        break;
    case M_MODE:
        for (int s = 0; ctlproto_modes[s]; s++)
            put(o, "%s{mode=\"%s\"} %d\n", n, ctlproto_modes[s], s == m->mode);
        break;
    case M_SWAPS_COMPLETED: put_u(o, n, m->swaps_completed); break;
    case M_SWAPS_ABORTED: put_u(o, n, m->swaps_aborted); break;
    case M_ONPAD: put_hist(o, n, NULL, NULL, &m->onpad, HTTPD_HIST_ONPAD); break;
    case M_STEP:
        for (int s = 0; s < m->n_steps && s < HTTPD_MAX_STEPS; s++)
            put_hist(o, n, "step", m->step_name[s], &m->step[s], HTTPD_HIST_STEP);
        break;
    case M_SCANS: put_u(o, n, m->scans); break;
    case M_OVERRUNS: put_u(o, n, m->overruns); break;
    case M_SCAN_LATE: put_hist(o, n, NULL, NULL, &m->scan_late, HTTPD_HIST_SCAN_LATE); break;
    case M_PLANT_UP: put(o, "%s %d\n", n, m->plant_up); break;
    case M_PLANT_EXCHANGES: put_u(o, n, m->plant_exchanges); break;
    case M_PLANT_ERRORS: put_u(o, n, m->plant_errors); break;
    case M_PLANT_RECONNECTS: put_u(o, n, m->plant_reconnects); break;
    case M_PLANT_RTT: put(o, "%s ", n); put_value(o, m->plant_rtt_s); break;
    case M_PLANT_RTT_MAX: put(o, "%s ", n); put_value(o, m->plant_rtt_max_s); break;
    case M_PLANT_PERIOD: put_summary(o, n, &m->plant_period); break;
    case M_PLANT_EXCHANGE: put_summary(o, n, &m->plant_exchange); break;
    case M_DRONE_FRAMES: put_u(o, n, m->drone_frames); break;
    case M_DRONE_DROPS:
        for (int r = 0; httpd_drop_reasons[r] && r < HTTPD_MAX_DROPS; r++)
            put(o, "%s{reason=\"%s\"} %llu\n", n, httpd_drop_reasons[r], (unsigned long long)m->drone_drops[r]);
        break;
    case M_DRONE_RETX: put_u(o, n, m->drone_retransmissions); break;
    case M_QUEUE: put(o, "%s %d\n", n, m->landing_queue); break;
    case M_SLOT_PRESENT:
    case M_SLOT_SOC:
    case M_SLOT_SOH:
    case M_SLOT_TEMP:
        for (int s = 0; s < m->n_slots && s < HTTPD_MAX_SLOTS; s++) {
            const struct httpd_slot_metrics *sl = &m->slot[s];
            double v = id == M_SLOT_PRESENT ? (sl->present ? 1 : 0)
                       : id == M_SLOT_SOC   ? sl->soc_ratio
                       : id == M_SLOT_SOH   ? sl->soh_ratio
                                            : sl->temp_degC;
            if (isnan(v))
                continue;  /* an empty slot or an unknown reading has no sample */
            put(o, "%s{slot=\"%d\"} ", n, s + 1);
            put_value(o, v);
        }
        break;
    case M_SLOT_CHARGER:
        for (int s = 0; s < m->n_slots && s < HTTPD_MAX_SLOTS; s++)
            for (int c = 0; ctlproto_charge_states[c]; c++)
                put(o, "%s{slot=\"%d\",state=\"%s\"} %d\n", n, s + 1, ctlproto_charge_states[c],
                    c == m->slot[s].charge);
        break;
    case M_ALARM:
        for (int a = 0; a < m->n_alarms && a < HTTPD_MAX_ALARMS; a++)
            put(o, "%s{alarm=\"%s\"} %d\n", n, m->alarm_name[a], m->alarm_active[a]);
        break;
    case M_ALARMS: {
        int k = 0;
        for (int a = 0; a < m->n_alarms && a < HTTPD_MAX_ALARMS; a++)
            k += m->alarm_active[a];
        put(o, "%s %d\n", n, k);
        break;
    }
    case M_REGISTRY: put_hist(o, n, NULL, NULL, &m->registry_write, HTTPD_HIST_REGISTRY); break;
    case M_REGISTRY_FAIL: put_u(o, n, m->registry_failures); break;
    case M_UPTIME: put(o, "%s ", n); put_value(o, m->uptime_s); break;
    case M_BUILD: put(o, "%s ", n); put_value(o, m->snapshot_build_s); break;
    case M_BUILD_MAX: put(o, "%s ", n); put_value(o, m->snapshot_build_max_s); break;
    default: abort();
    }
}

char *httpd_metrics_render(const struct httpd_metrics *m, size_t *len)
{
    struct out o = { .buf = malloc(16384), .cap = 16384 };
    if (!o.buf)
        return NULL;
    o.buf[0] = 0;
    for (int id = 0; id < M_COUNT; id++) {
        put(&o, "# HELP %s %s\n# TYPE %s %s\n", metric_defs[id].name, metric_defs[id].help,
            metric_defs[id].name, metric_defs[id].type);
        render_one(&o, m, (enum metric_id)id);
    }
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

void httpd_metrics_write_markdown(FILE *f)
{
    fprintf(f, "<!-- generated by `swapd --metrics-reference` from the metric table; do not edit -->\n"
               "| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n");
    for (int id = 0; id < M_COUNT; id++)
        fprintf(f, "| `%s` | %s | %s | %s |\n", metric_defs[id].name, metric_defs[id].type,
                metric_defs[id].labels[0] ? metric_defs[id].labels : "", metric_defs[id].help);
}
