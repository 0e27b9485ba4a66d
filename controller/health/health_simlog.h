/* Synthetic charge / flight logs from the simulator's battery model (sim/battery): what a
 * slot charger and a drone would have recorded for one pack over many cycles, with sensor
 * noise, plus the model's ground truth at the end of every cycle. It feeds
 * `swaphealth --simulate`, the estimator accuracy tests and the benchmark; the station
 * itself never runs it. Pure computation: samples go to a callback.
 *
 * One cycle: rest after the flight -> CC-CV charge to full in a slot -> rest -> flight
 * of random depth (constant-current segments) down to a start SoC of 15..60 %.
 */
#ifndef SWAP_HEALTH_SIMLOG_H
#define SWAP_HEALTH_SIMLOG_H

#include <stdint.h>

#include "health/health.h"
#include "plantcfg/plantcfg.h"

struct health_simlog_params {
    uint64_t seed;
    int cycles;
    double fade_k;              /* 0: the plant configuration's */
    double v_noise_mV;          /* pack voltage noise (sd) */
    double i_noise_rel;         /* current noise, relative (sd) */
    double i_offset_A;          /* current offset noise (sd) */
    double t_noise_degC;
    double charge_dt_s;         /* sample period while charging (the first 30 s: 1 s) */
    double flight_dt_s;
    double rest_dt_s;
    double short_rest_frac;     /* share of rests too short to relax */
};

/* Ground truth at the end of a cycle (just before the next charge). */
struct health_simlog_truth {
    int cycle;                  /* 1, 2, ... */
    double t_s;
    double soh;                 /* capacity / rated */
    double capacity_mAh;
    double dcir_mohm;           /* R0 + R1 (1 - exp(-10 s / tau)) at 25 degC, mid SoC */
    double efc;
};

struct health_simlog_sink {
    void (*sample)(void *ctx, const struct health_sample *s, const char *event);
    /* Returns non-zero to stop the run early. */
    int (*cycle_end)(void *ctx, const struct health_simlog_truth *t);
    void *ctx;
};

/* Defaults: 3 mV, 0.5 %, 5 mA, 0.3 degC; 5 s charge, 5 s flight, 120 s rest samples;
 * 25 % short rests. */
void health_simlog_defaults(struct health_simlog_params *p);

/* Runs p->cycles cycles of one new pack (tag) built from cfg with the spread drawn from
 * the seed. Returns the number of cycles completed. */
int health_simlog_run(const struct plantcfg *cfg, const struct health_simlog_params *p,
                      uint32_t tag, const struct health_simlog_sink *sink);

#endif
