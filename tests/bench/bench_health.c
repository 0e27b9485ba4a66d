/* Battery-health benchmark: the estimator's accuracy over the full grid of sensor grades
 * (ideal, charger, power module) x sample periods (1 s, 10 s) x ageing shapes (linear,
 * knee, recovery), 8 packs x 500 cycles per cell, against the battery model's truth:
 * SoH RMSE, coverage (cycles with a fresh capacity estimate), end-of-life detection.
 * Prints the table that docs/battery-health.md shows and marks a cell that misses a target
 * (RMSE <= 1 pp, coverage >= 80 %, end of life within 10 cycles and never above 82 %)
 * MISSED; make check asserts the same targets on a reduced grid.
 * Throughput is a ratio against the simulator producing the same samples, never a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "healthgrid.h"

#define PACKS 8
#define CYCLES 500

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void count_sample(void *ctx, const struct sim_cyclelog_sample *s)
{
    (void)s;
    ++*(long *)ctx;
}

int main(void)
{
    struct health_config hc;
    health_config_defaults(&hc);
    static const enum sim_sensor_grade grades[] = { SIM_SENSOR_IDEAL, SIM_SENSOR_CHARGER, SIM_SENSOR_POWER_MODULE };
    static const double periods[] = { 1.0, 10.0 };
    printf("%d packs x %d cycles per cell (seeds 1000..%d)\n\n", PACKS, CYCLES, 1000 + PACKS - 1);
    printf("| sensors | period | ageing | SoH RMSE (pp) | worst (pp) | coverage | end of life detected | worst lag (cycles) | worst lag from first dip | worst true SoH at retirement | DCIR max error | result |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    int failed = 0;
    double t_grid = 0;
    long samples = 0;
    for (int s = 0; s < SIM_CYCLELOG_SHAPE_COUNT; s++)
        for (size_t g = 0; g < sizeof grades / sizeof grades[0]; g++)
            for (size_t k = 0; k < sizeof periods / sizeof periods[0]; k++) {
                struct healthgrid_cell c = {
                    .grade = grades[g], .period_s = periods[k], .shape = (enum sim_cyclelog_shape)s,
                    .packs = PACKS, .cycles = CYCLES, .fade_scale = 1.0, .seed = 1000,
                };
                struct healthgrid_result r;
                double t0 = now_s();
                healthgrid_run(&c, &hc, &r);
                t_grid += now_s() - t0;
                samples += r.samples;
                bool ok = healthgrid_ok(&r);
                failed |= !ok;
                printf("| %s | %.0f s | %s | %.2f | %.2f | %.1f %% | %d / %d | %d | %d | %.2f %% | %.0f %% | %s |\n",
                       sim_sensor_grade_name(c.grade), c.period_s, sim_cyclelog_shape_name(c.shape), r.rmse_pp,
                       r.max_err_pp, r.coverage * 100, r.detected, r.crossings, r.max_lag, r.max_lag_first,
                       r.max_soh_at_retire * 100, r.dcir_max_rel * 100, ok ? "ok" : "MISSED");
                fflush(stdout);
            }
    /* Baseline from this run: the simulator alone producing one cell's samples. */
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    struct sim_cyclelog_params p;
    sim_cyclelog_defaults(&p);
    p.cycles = CYCLES;
    long n = 0;
    double t0 = now_s();
    for (int k = 0; k < PACKS; k++) {
        p.seed = 1000 + (unsigned long long)k;
        struct sim_cyclelog_sink sink = { count_sample, NULL, &n };
        sim_cyclelog_run(&pc, &p, 0x5A000001u + (uint32_t)k, &sink);
    }
    double t_sim = now_s() - t0;
    double per_sample_sim = t_sim / (double)n, per_sample_grid = t_grid / (double)samples;
    printf("\nsimulator + estimator per sample / simulator alone per sample: %.2f (estimator share %.0f %%)\n",
           per_sample_grid / per_sample_sim, 100.0 * (1.0 - per_sample_sim / per_sample_grid));
    printf("%s\n", failed ? "a cell missed a target" : "every cell meets every target");
    return 0;
}
