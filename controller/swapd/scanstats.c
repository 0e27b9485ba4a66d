/* The scan's own statistics: lateness against the deadline, work per scan, overruns;
 * in the console's form. */
#include <jansson.h>

#include "swapd.h"

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
