/* The battery-health accuracy grid shared by the unit test and the benchmark: one cell =
 * one sensor grade x sample period x ageing shape, run over a pool of packs through
 * sim_cyclelog and the station's estimator, scored against the model's truth. */
#ifndef SWAP_TEST_HEALTHGRID_H
#define SWAP_TEST_HEALTHGRID_H

#include <stdbool.h>

#include "battery/cyclelog.h"
#include "battery/sensor.h"
#include "health/health.h"

struct healthgrid_cell {
    enum sim_sensor_grade grade;
    double period_s;
    enum sim_cyclelog_shape shape;
    int packs, cycles;
    double fade_scale;       /* 1: end of life near cycle 350 */
    unsigned long long seed;
};

struct healthgrid_result {
    double rmse_pp;          /* SoH RMSE over every cycle end of every pack */
    double max_err_pp;
    double coverage;         /* share of cycles with a fresh capacity estimate */
    int crossings;           /* packs whose true SoH fell below the retirement SoH (at
                              * least 10 cycles before the end of the run, or detected) */
    int detected;            /* ... of those, retired by the estimator */
    int max_lag;             /* worst: cycles from the true crossing to retirement */
    double max_soh_at_retire;/* worst: true SoH when the estimator retired (0: none) */
    int early;               /* retirements while the true SoH was above retire + 2 pp */
    double dcir_max_rel;     /* after cycle 10 */
    long windows, dcir_steps, samples;
};

/* Runs the cell with the estimator configuration hc. */
void healthgrid_run(const struct healthgrid_cell *c, const struct health_config *hc,
                    struct healthgrid_result *out);

/* Whether a result meets the targets (RMSE <= 1 pp, coverage >= 80 %, every crossing
 * detected within 10 cycles, none above 82 %). */
bool healthgrid_ok(const struct healthgrid_result *r);

#endif
