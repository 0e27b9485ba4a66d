/* Battery-health benchmark: accuracy of the estimators against the battery model over a
 * pool of 8 packs x 500 cycles (SoH RMSE, DCIR max relative error after cycle 10), and the
 * estimator's throughput, as a ratio to the simulator producing the same samples
 * (baseline measured in this run). Prints; never asserts on time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health/health.h"
#include "health/health_simlog.h"
#include "plantcfg/plantcfg.h"

#define PACKS 8
#define CYCLES 500

struct recorder {
    struct health_sample *s;
    size_t n, cap;
    struct health_simlog_truth truth[CYCLES + 1];
    size_t truth_at[CYCLES + 1];   /* sample count at each cycle end */
    int n_truth;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void record(void *ctx, const struct health_sample *s, const char *event)
{
    (void)event;
    struct recorder *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1 << 16;
        r->s = realloc(r->s, r->cap * sizeof *r->s);
        if (!r->s)
            abort();
    }
    r->s[r->n++] = *s;
}

static int record_truth(void *ctx, const struct health_simlog_truth *t)
{
    struct recorder *r = ctx;
    r->truth[r->n_truth] = *t;
    r->truth_at[r->n_truth++] = r->n;
    return 0;
}

int main(void)
{
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    struct health_config hc;
    health_config_defaults(&hc);
    struct health_simlog_params p;
    health_simlog_defaults(&p);
    p.cycles = CYCLES;

    static struct recorder rec[PACKS];
    double t0 = now_s();
    size_t total = 0;
    for (int k = 0; k < PACKS; k++) {
        p.seed = 1000 + (uint64_t)k;
        struct health_simlog_sink sink = { record, record_truth, &rec[k] };
        health_simlog_run(&pc, &p, 0x5A000001u + (uint32_t)k, &sink);
        total += rec[k].n;
    }
    double t_sim = now_s() - t0;

    double sq = 0, max_dcir = 0;
    int n = 0;
    long windows = 0, steps = 0;
    t0 = now_s();
    for (int k = 0; k < PACKS; k++) {
        struct health_estimator e;
        health_est_init(&e, &hc, pc.battery_cells, pc.battery_rated_mah);
        size_t i = 0;
        for (int c = 0; c < rec[k].n_truth; c++) {
            for (; i < rec[k].truth_at[c]; i++)
                health_est_feed(&e, &rec[k].s[i]);
            const struct health_simlog_truth *t = &rec[k].truth[c];
            double err = (health_est_soh(&e) - t->soh) * 100.0;
            sq += err * err;
            n++;
            if (t->cycle > 10) {
                double rel = fabs(e.dcir_mohm - t->dcir_mohm) / t->dcir_mohm;
                if (rel > max_dcir)
                    max_dcir = rel;
            }
        }
        windows += e.cap_count;
        steps += e.dcir_count;
    }
    double t_est = now_s() - t0;

    printf("pool: %d packs x %d cycles, %zu samples\n", PACKS, CYCLES, total);
    printf("SoH RMSE:                 %.3f percentage points (%d cycle ends)\n", sqrt(sq / n), n);
    printf("DCIR max relative error:  %.2f %% after cycle 10\n", max_dcir * 100.0);
    printf("capacity windows used:    %ld, DCIR steps used: %ld\n", windows, steps);
    printf("estimator throughput:     %.1f M samples/s\n", total / t_est / 1e6);
    printf("baseline (battery model): %.1f M samples/s\n", total / t_sim / 1e6);
    printf("ratio estimator / model:  %.2f x faster\n", t_sim / t_est);
    for (int k = 0; k < PACKS; k++)
        free(rec[k].s);
    return 0;
}
