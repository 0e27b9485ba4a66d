/* What a real measurement channel does to a value: a charger's or a drone power
 * module's current sensor (gain error, fixed offset, noise, quantisation, its own coulomb
 * counter), voltage and temperature readings with noise and quantisation, a sample period
 * and occasional missing samples. Each sensor draws its own offset and gain once from its
 * seed, so the same seed gives the same sensor. Pure computation, no I/O.
 *
 * Sign: whatever the caller passes; the gain and offset apply to the value as given.
 */
#ifndef SWAP_SIM_SENSOR_H
#define SWAP_SIM_SENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "rng/rng.h"

enum sim_sensor_grade {
    SIM_SENSOR_IDEAL,          /* exact values, every sample */
    SIM_SENSOR_CHARGER,        /* a balance charger's shunt and ADC */
    SIM_SENSOR_POWER_MODULE,   /* a drone's hall-effect power module */
    SIM_SENSOR_GRADE_COUNT
};

const char *sim_sensor_grade_name(enum sim_sensor_grade g);

struct sim_sensor_cfg {
    double current_noise_A;    /* white noise (sd) of one reading */
    double current_offset_A;   /* offset drawn uniformly in +-this, once per sensor */
    double current_gain_rel;   /* gain error drawn uniformly in +-this, once per sensor */
    double current_lsb_A;      /* quantisation step of a reading (0: none) */
    double voltage_noise_V;    /* pack voltage noise (sd) */
    double voltage_lsb_V;      /* pack voltage quantisation */
    double cell_noise_V;       /* per-cell reading noise (sd) */
    double cell_lsb_V;         /* per-cell quantisation */
    double temp_noise_degC;
    double temp_lsb_degC;
    double period_s;           /* a new reading every period_s (1..10 s) */
    double missing_frac;       /* share of readings that never arrive */
};

struct sim_sensor {
    struct sim_sensor_cfg cfg;
    struct sim_rng rng;
    double offset_A, gain;     /* this sensor's draws: reading = gain * true + offset + noise */
    double counter_mAh;        /* the sensor's own coulomb counter (integrates gain * I + offset) */
};

/* Fills cfg with the typical figures of a grade (docs/plant-model.md lists them). */
void sim_sensor_grade_cfg(struct sim_sensor_cfg *cfg, enum sim_sensor_grade g);

/* A new sensor: draws its offset and gain from seed; counter at 0. */
void sim_sensor_init(struct sim_sensor *s, const struct sim_sensor_cfg *cfg, uint64_t seed);

/* One reading of each kind (noise, gain/offset for current, quantisation). */
double sim_sensor_current(struct sim_sensor *s, double true_A);
double sim_sensor_voltage(struct sim_sensor *s, double true_V);
double sim_sensor_cell(struct sim_sensor *s, double true_V);
double sim_sensor_temp(struct sim_sensor *s, double true_degC);

/* Advances the sensor's coulomb counter by dt_s at true_A (sampled internally far faster
 * than it reports, so only gain and offset remain). */
void sim_sensor_count(struct sim_sensor *s, double true_A, double dt_s);

/* Whether the reading due now goes missing (draws from the sensor's stream). */
bool sim_sensor_missing(struct sim_sensor *s);

#endif
