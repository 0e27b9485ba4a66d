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
    int crossings;           /* packs whose true SoH crossed the retirement SoH for good
                              * (HEALTHGRID_SUSTAIN_CYCLES below it; see below) */
    int detected;            /* ... of those, retired by the estimator */
    int max_lag;             /* worst: cycles from the true crossing to retirement */
    int max_lag_first;       /* the same from the first cycle end below it (a dip that
                              * recovery may take back): shown, not a target */
    double max_soh_at_retire;/* worst: true SoH when the estimator retired (0: none) */
    int early;               /* retirements while the true SoH was above retire + 2 pp */
    double dcir_max_rel;     /* after cycle 10 */
    long windows, dcir_steps, samples;
};

/* The true crossing of a truth that is not monotonic (capacity that a long rest gives
 * back and use takes again): the first cycle end of the first run of this many
 * consecutive cycle ends below the retirement SoH, i.e. the first crossing that lasts as
 * long as the detection may lag. A dip that recovers within it is not end of life; a
 * monotonic truth's crossing is its first one. docs/battery-health.md, section 5. */
#define HEALTHGRID_SUSTAIN_CYCLES 10

/* Follows one pack's true SoH at each cycle end and finds its crossing. */
struct healthgrid_eol {
    double retire_soh;
    int first_below;         /* first cycle end below retire_soh (-1: none) */
    int run_start, run_len;  /* the current run of cycle ends below it */
    int cross_cycle;         /* the true crossing (-1: none yet) */
};

void healthgrid_eol_init(struct healthgrid_eol *e, double retire_soh);
void healthgrid_eol_observe(struct healthgrid_eol *e, int cycle, double true_soh);
/* At the end of the run: a run below retire_soh still open (shorter than
 * HEALTHGRID_SUSTAIN_CYCLES) is taken as the crossing when the pack was retired (its lag
 * is then known), else the crossing is still pending. Returns the crossing or -1. */
int healthgrid_eol_crossing(const struct healthgrid_eol *e, bool retired);

/* Runs the cell with the estimator configuration hc. */
void healthgrid_run(const struct healthgrid_cell *c, const struct health_config *hc,
                    struct healthgrid_result *out);

/* Whether a result meets the targets (RMSE <= 1 pp, coverage >= 80 %, every crossing
 * detected within 10 cycles, none above 82 %). */
bool healthgrid_ok(const struct healthgrid_result *r);

#endif
