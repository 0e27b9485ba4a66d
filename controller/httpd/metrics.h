/* The station's metrics in the Prometheus text exposition format (0.0.4): one table
 * names every metric family (name, type, labels, meaning); the scan fills a plain struct
 * of values, the HTTP thread renders it. The same table writes the metrics reference in
 * docs/operator-guide.md (swapd --metrics-reference). Base units throughout: seconds,
 * ratios 0..1, degrees Celsius; counters end in _total, histograms in _seconds.
 */
#ifndef SWAP_HTTPD_METRICS_H
#define SWAP_HTTPD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HTTPD_MAX_SLOTS 32
#define HTTPD_MAX_STEPS 32
#define HTTPD_MAX_ALARMS 64
#define HTTPD_MAX_DROPS 16
#define HTTPD_HIST_MAX 16

/* Histogram bucket bounds (upper edges, seconds; +Inf is implied). */
enum httpd_hist_kind { HTTPD_HIST_ONPAD, HTTPD_HIST_STEP, HTTPD_HIST_SCAN_LATE, HTTPD_HIST_REGISTRY,
                       HTTPD_HIST_KIND_COUNT };
struct httpd_hist_bounds {
    int n;
    double le_s[HTTPD_HIST_MAX];
};
extern const struct httpd_hist_bounds httpd_hist_bounds[HTTPD_HIST_KIND_COUNT];

/* Per-bucket (not cumulative) counts; bucket[n] is the +Inf bucket. */
struct httpd_hist {
    uint64_t count;
    double sum;
    uint64_t bucket[HTTPD_HIST_MAX + 1];
};

/* Adds one observation v (seconds) to h with the bounds of kind. */
void httpd_hist_observe(struct httpd_hist *h, enum httpd_hist_kind kind, double v);

/* A summary measured elsewhere (seconds): observations, their sum, two quantiles. */
struct httpd_summary {
    uint64_t count;
    double sum, p50, p99;
};

struct httpd_slot_metrics {
    bool present;
    double soc_ratio, soh_ratio, temp_degC;     /* NaN when unknown */
    int charge;                                 /* index into ctlproto_charge_states */
};

/* Everything /metrics shows; filled by the scan, copied into the snapshot. */
struct httpd_metrics {
    int state;                                  /* index into ctlproto_states */
    int mode;                                   /* index into ctlproto_modes */
    uint64_t swaps_completed, swaps_aborted;
    struct httpd_hist onpad;
    int n_steps;                                /* step names in step_name[] */
    const char *step_name[HTTPD_MAX_STEPS];     /* static strings (the step table) */
    struct httpd_hist step[HTTPD_MAX_STEPS];
    uint64_t scans, overruns;
    struct httpd_hist scan_late;
    bool plant_up;
    uint64_t plant_exchanges, plant_errors, plant_reconnects;
    double plant_rtt_s, plant_rtt_max_s;
    struct httpd_summary plant_period, plant_exchange;
    uint64_t drone_frames;
    uint64_t drone_drops[HTTPD_MAX_DROPS];      /* by httpd_drop_reasons[] */
    uint64_t drone_retransmissions;
    int landing_queue;
    int n_slots;
    struct httpd_slot_metrics slot[HTTPD_MAX_SLOTS];
    int n_alarms;                               /* alarm names in alarm_name[] */
    const char *alarm_name[HTTPD_MAX_ALARMS];
    bool alarm_active[HTTPD_MAX_ALARMS];
    struct httpd_hist registry_write;
    uint64_t registry_failures;
    double uptime_s;
    double snapshot_build_s, snapshot_build_max_s;  /* the scan's cost of this endpoint */
};

/* The drop reasons of swapd_drone_link_drops_total, NULL-terminated. */
extern const char *const httpd_drop_reasons[];

/* Renders m into a new malloc'd NUL-terminated buffer (length in *len). NULL when out of
 * memory. */
char *httpd_metrics_render(const struct httpd_metrics *m, size_t *len);

/* Writes the metrics reference (Markdown table) from the metric table. */
void httpd_metrics_write_markdown(FILE *f);

#endif
