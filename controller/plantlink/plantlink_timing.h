/* Durations the plant link measures (the period between images, the exchange time),
 * kept in log-spaced bins so that a quantile is known within one bin (2 %) at any
 * scale from 100 us to seconds, in constant memory. Pure bookkeeping: the link passes
 * the durations in.
 */
#ifndef SWAP_PLANTLINK_TIMING_H
#define SWAP_PLANTLINK_TIMING_H

#include <stdint.h>

#define PLANTLINK_TIMING_BINS 600     /* bin 0 up to 100 us, then each 2 % wider: ~14 s */

struct plantlink_timing_hist {
    uint64_t n;
    double sum_us, max_us;
    uint32_t bin[PLANTLINK_TIMING_BINS];
};

/* What a histogram says: count, sum, mean, median, 99th percentile (the upper edge of
 * the bin that holds it, never above the maximum) and maximum, in ms; all 0 when empty. */
struct plantlink_timing {
    uint64_t n;
    double sum_ms, mean_ms, p50_ms, p99_ms, max_ms;
};

/* Adds one duration (us, >= 0). */
void plantlink_timing_add(struct plantlink_timing_hist *h, double us);

void plantlink_timing_get(const struct plantlink_timing_hist *h, struct plantlink_timing *t);

#endif
