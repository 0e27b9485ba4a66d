/* Measured durations of the plant link; see plantlink_timing.h. */
#include "plantlink/plantlink_timing.h"

#include <math.h>
#include <string.h>

#define BASE_US 100.0
#define STEP 1.02

void plantlink_timing_add(struct plantlink_timing_hist *h, double us)
{
    int b = !(us > BASE_US) ? 0 : 1 + (int)(log(us / BASE_US) / log(STEP));
    h->bin[b < PLANTLINK_TIMING_BINS ? b : PLANTLINK_TIMING_BINS - 1]++;
    h->n++;
    h->sum_us += us;
    if (us > h->max_us)
        h->max_us = us;
}

static double quantile_ms(const struct plantlink_timing_hist *h, double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)h->n), seen = 0;
    if (want < 1)
        want = 1;
    for (int b = 0; b < PLANTLINK_TIMING_BINS; b++) {
        seen += h->bin[b];
        if (seen >= want) {
            double edge_us = BASE_US * pow(STEP, b);
            return (edge_us < h->max_us ? edge_us : h->max_us) / 1000.0;
        }
    }
    return h->max_us / 1000.0;
}

void plantlink_timing_get(const struct plantlink_timing_hist *h, struct plantlink_timing *t)
{
    memset(t, 0, sizeof *t);
    if (!h->n)
        return;
    t->n = h->n;
    t->sum_ms = h->sum_us / 1000.0;
    t->mean_ms = t->sum_ms / (double)h->n;
    t->p50_ms = quantile_ms(h, 0.5);
    t->p99_ms = quantile_ms(h, 0.99);
    t->max_ms = h->max_us / 1000.0;
}
