/* Sensor errors for the simulators; see sensor.h. */
#include "battery/sensor.h"

#include <math.h>
#include <string.h>

static const char *const grade_names[SIM_SENSOR_GRADE_COUNT] = {
    [SIM_SENSOR_IDEAL] = "ideal",
    [SIM_SENSOR_CHARGER] = "charger",
    [SIM_SENSOR_POWER_MODULE] = "power-module",
};

const char *sim_sensor_grade_name(enum sim_sensor_grade g)
{
    return (unsigned)g < SIM_SENSOR_GRADE_COUNT ? grade_names[g] : "unknown";
}

void sim_sensor_grade_cfg(struct sim_sensor_cfg *c, enum sim_sensor_grade g)
{
    memset(c, 0, sizeof *c);
    c->period_s = 1.0;
    switch (g) {
    case SIM_SENSOR_IDEAL:
        break;
    case SIM_SENSOR_CHARGER:
        /* A shunt with a 12-bit ADC in a hobby-grade balance charger. */
        c->current_noise_A = 0.020;
        c->current_offset_A = 0.030;
        c->current_gain_rel = 0.005;
        c->current_lsb_A = 0.001;
        c->voltage_noise_V = 0.003;
        c->voltage_lsb_V = 0.010;
        c->cell_noise_V = 0.001;
        c->cell_lsb_V = 0.001;
        c->temp_noise_degC = 0.3;
        c->temp_lsb_degC = 0.1;
        c->missing_frac = 0.01;
        break;
    case SIM_SENSOR_POWER_MODULE:
        /* A hall-effect power module on a drone: noisier, a larger offset. */
        c->current_noise_A = 0.050;
        c->current_offset_A = 0.060;
        c->current_gain_rel = 0.010;
        c->current_lsb_A = 0.010;
        c->voltage_noise_V = 0.010;
        c->voltage_lsb_V = 0.010;
        c->cell_noise_V = 0.002;
        c->cell_lsb_V = 0.001;
        c->temp_noise_degC = 1.0;
        c->temp_lsb_degC = 0.01;
        c->missing_frac = 0.03;
        break;
    default:
        break;
    }
}

void sim_sensor_init(struct sim_sensor *s, const struct sim_sensor_cfg *cfg, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    sim_rng_seed(&s->rng, seed ^ 0x5E4503ull);
    s->offset_A = sim_rng_range(&s->rng, -cfg->current_offset_A, cfg->current_offset_A);
    s->gain = 1.0 + sim_rng_range(&s->rng, -cfg->current_gain_rel, cfg->current_gain_rel);
}

static double quantise(double v, double lsb)
{
    /* Divide by the inverse step: 197 / 10 is the double nearest 19.7, 197 * 0.1 is not. */
    return lsb > 0 ? round(v / lsb) / (1.0 / lsb) : v;
}

static double noisy(struct sim_sensor *s, double sd)
{
    return sd > 0 ? sd * sim_rng_normal(&s->rng) : 0.0;
}

double sim_sensor_current(struct sim_sensor *s, double true_A)
{
    return quantise(s->gain * true_A + s->offset_A + noisy(s, s->cfg.current_noise_A), s->cfg.current_lsb_A);
}

double sim_sensor_voltage(struct sim_sensor *s, double true_V)
{
    return quantise(true_V + noisy(s, s->cfg.voltage_noise_V), s->cfg.voltage_lsb_V);
}

double sim_sensor_cell(struct sim_sensor *s, double true_V)
{
    return quantise(true_V + noisy(s, s->cfg.cell_noise_V), s->cfg.cell_lsb_V);
}

double sim_sensor_temp(struct sim_sensor *s, double true_degC)
{
    return quantise(true_degC + noisy(s, s->cfg.temp_noise_degC), s->cfg.temp_lsb_degC);
}

void sim_sensor_count(struct sim_sensor *s, double true_A, double dt_s)
{
    if (dt_s > 0)
        s->counter_mAh += (s->gain * true_A + s->offset_A) * dt_s / 3.6;
}

bool sim_sensor_missing(struct sim_sensor *s)
{
    return s->cfg.missing_frac > 0 && sim_rng_uniform(&s->rng) < s->cfg.missing_frac;
}
