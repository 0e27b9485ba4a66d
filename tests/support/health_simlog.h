/* Synthetic charge / flight logs for `swaphealth --simulate`: a pack's station life from
 * the simulator (sim_cyclelog: charges in slots, rests, flights on drones, each sensor
 * with its own errors, the pack ageing along a chosen shape), turned into the estimator's
 * samples with the event (known state) of each, plus the model's ground truth at the end
 * of every cycle. The station itself never runs it. Pure computation: samples go to a
 * callback.
 */
#ifndef SWAP_HEALTH_SIMLOG_H
#define SWAP_HEALTH_SIMLOG_H

#include <stdint.h>

#include "health/health.h"
#include "plantcfg/plantcfg.h"

struct health_simlog_params {
    uint64_t seed;
    int cycles;
    int shape;                  /* 0 linear, 1 knee, 2 recovery */
    int grade;                  /* sensors: 0 ideal, 1 charger grade, 2 power-module grade */
    double period_s;            /* sensor sample period, 1..10 s */
    double fade_scale;          /* 1: end of life near cycle 350 */
};

/* Ground truth at the end of a cycle (just before the next charge). */
struct health_simlog_truth {
    int cycle;                  /* 1, 2, ... */
    double t_s;
    double soh;                 /* capacity / rated */
    double capacity_mAh;
    double dcir_mohm;           /* 10 s pack DCIR at 25 degC, mid SoC */
    double efc;
};

struct health_simlog_sink {
    /* event: the state from this sample on ("rest", "charge", "pad", "flight") when it
     * changes, "" otherwise. */
    void (*sample)(void *ctx, const struct health_sample *s, const char *event);
    /* Returns non-zero to stop the run early. */
    int (*cycle_end)(void *ctx, const struct health_simlog_truth *t);
    void *ctx;
};

/* Defaults: seed 1, 100 cycles, linear, charger grade, 1 s, fade scale 1. */
void health_simlog_defaults(struct health_simlog_params *p);

/* Runs p->cycles cycles of one new pack (tag). Returns the number of cycles completed. */
int health_simlog_run(const struct plantcfg *cfg, const struct health_simlog_params *p,
                      uint32_t tag, const struct health_simlog_sink *sink);

#endif
