/* A pack's station life as its sensors log it; see cyclelog.h. */
#include "battery/cyclelog.h"

#include <math.h>
#include <string.h>

#include "battery/battery.h"
#include "regmap/regmap.h"
#include "rng/rng.h"

#define MAX_SENSORS 16
#define DCIR_REF_S 10.0
/* Physics step while current flows: the sensors' counters integrate at this step. */
#define STEP_S 1.0
/* A charge that never ends must not hang a test. */
#define CHARGE_MAX_S (6 * 3600.0)
/* Drone loads (A): on the pad disarmed, take-off, landing. */
#define PAD_A 0.8
#define TAKEOFF_A 25.0
#define TAKEOFF_S 20.0
#define LANDING_A 4.0
#define LANDING_S 10.0
/* Long idle periods of the recovery shape: chance per cycle, and how often they log. */
#define IDLE_CHANCE 0.05
#define IDLE_LOG_S 600.0

static const char *const shape_names[SIM_CYCLELOG_SHAPE_COUNT] = {
    [SIM_CYCLELOG_LINEAR] = "linear",
    [SIM_CYCLELOG_KNEE] = "knee",
    [SIM_CYCLELOG_RECOVERY] = "recovery",
};

const char *sim_cyclelog_shape_name(enum sim_cyclelog_shape s)
{
    return (unsigned)s < SIM_CYCLELOG_SHAPE_COUNT ? shape_names[s] : "unknown";
}

void sim_cyclelog_defaults(struct sim_cyclelog_params *p)
{
    memset(p, 0, sizeof *p);
    p->seed = 1;
    p->cycles = 100;
    p->shape = SIM_CYCLELOG_LINEAR;
    p->fade_scale = 1.0;
    sim_sensor_grade_cfg(&p->charger, SIM_SENSOR_CHARGER);
    sim_sensor_grade_cfg(&p->drone, SIM_SENSOR_POWER_MODULE);
    p->chargers = 8;
    p->drones = 3;
    p->rest_log_s = 30.0;
    p->short_rest_frac = 0.25;
}

struct run {
    const struct sim_cyclelog_params *p;
    const struct sim_cyclelog_sink *sink;
    struct sim_rng rng;
    struct sim_battery b;
    struct sim_sensor chg[MAX_SENSORS], drone[MAX_SENSORS];
    int n_chg, n_drone;
    int slot, drone_k;
    double t_s, ambient_degC;
};

/* Logs one reading of sensor s (unless it goes missing). */
static void emit(struct run *r, struct sim_sensor *s, uint32_t id, enum sim_cyclelog_phase ph,
                 double i_in, bool has_counter, const char **event)
{
    if (sim_sensor_missing(s))
        return;
    struct sim_cyclelog_sample o = {
        .t_s = r->t_s, .phase = ph, .sensor = id,
        .voltage_V = sim_sensor_voltage(s, sim_battery_voltage(&r->b, -i_in)),
        .current_A = sim_sensor_current(s, i_in),
        .temp_degC = sim_sensor_temp(s, r->b.temp_degC),
        .has_counter = has_counter,
        /* Counters report whole mAh (charger register, BATTERY_STATUS). */
        .counter_mAh = has_counter ? round(s->counter_mAh) : 0.0,
        .event = *event,
    };
    *event = "";
    r->sink->sample(r->sink->ctx, &o);
}

static void rest(struct run *r, double duration_s, double log_s)
{
    struct sim_sensor *s = &r->chg[r->slot];
    double every = fmax(log_s, s->cfg.period_s);
    const char *ev = "rest";
    for (double left = duration_s; left > 0;) {
        double dt = left < every ? left : every;
        sim_battery_step(&r->b, 0.0, dt, r->ambient_degC);
        r->t_s += dt;
        left -= dt;
        emit(r, s, (uint32_t)r->slot + 1, SIM_CYCLELOG_REST, 0.0, false, &ev);
    }
}

/* No sensor watches (gripper, carousel): the pack only rests. */
static void carry(struct run *r, double duration_s)
{
    sim_battery_step(&r->b, 0.0, duration_s, r->ambient_degC);
    r->t_s += duration_s;
}

static void charge(struct run *r, const struct plantcfg *cfg)
{
    struct sim_sensor *s = &r->chg[r->slot];
    struct sim_charger c;
    memset(&c, 0, sizeof c);
    s->counter_mAh = 0.0;
    double t0 = r->t_s, since = 0.0;
    const char *ev = "charge_start";
    while (r->t_s - t0 < CHARGE_MAX_S) {
        sim_charger_step(&c, &r->b, cfg, CHARGER_MODE_CHARGE, STEP_S, r->ambient_degC);
        sim_sensor_count(s, c.current_a, STEP_S);
        r->t_s += STEP_S;
        since += STEP_S;
        if (c.state == CHARGER_DONE || c.state == CHARGER_FAULT)
            break;
        if (since + 1e-9 >= s->cfg.period_s) {
            since = 0.0;
            emit(r, s, (uint32_t)r->slot + 1, SIM_CYCLELOG_CHARGE, c.current_a, true, &ev);
        }
    }
}

/* Draws i_a (discharge) for duration_s on the drone, logging at the sensor's period. */
static void load(struct run *r, double i_a, double duration_s, enum sim_cyclelog_phase ph, const char **ev,
                 double *since, double noise_a)
{
    struct sim_sensor *s = &r->drone[r->drone_k];
    for (double t = 0; t < duration_s; t += STEP_S) {
        double i = i_a + (noise_a > 0 ? noise_a * sim_rng_normal(&r->rng) : 0.0);
        sim_battery_step(&r->b, i, STEP_S, r->ambient_degC);
        sim_sensor_count(s, i, STEP_S);
        r->t_s += STEP_S;
        *since += STEP_S;
        if (*since + 1e-9 >= s->cfg.period_s) {
            *since = 0.0;
            emit(r, s, 0x100u + (uint32_t)r->drone_k, ph, -i, true, ev);
        }
    }
}

static void fly(struct run *r)
{
    r->drone_k = (int)sim_rng_below(&r->rng, (uint32_t)r->n_drone);
    struct sim_sensor *s = &r->drone[r->drone_k];
    s->counter_mAh = 0.0; /* the drone powers up on this pack */
    double since = 0.0;
    const char *ev = "pad";
    load(r, PAD_A, sim_rng_range(&r->rng, 20.0, 90.0), SIM_CYCLELOG_PAD, &ev, &since, 0.0);
    ev = "flight_start";
    load(r, TAKEOFF_A, TAKEOFF_S, SIM_CYCLELOG_FLIGHT, &ev, &since, 0.0);
    double target = sim_rng_range(&r->rng, 0.15, 0.60);
    while (r->b.soc > target) {
        double i = sim_rng_range(&r->rng, 8.0, 18.0);
        double seg_s = sim_rng_range(&r->rng, 30.0, 240.0);
        for (double t = 0; t < seg_s && r->b.soc > target; t += 10.0)
            load(r, i, 10.0, SIM_CYCLELOG_FLIGHT, &ev, &since, 0.3);
    }
    load(r, LANDING_A, LANDING_S, SIM_CYCLELOG_FLIGHT, &ev, &since, 0.0);
    ev = "pad";
    load(r, PAD_A, sim_rng_range(&r->rng, 20.0, 60.0), SIM_CYCLELOG_PAD, &ev, &since, 0.0);
}

static double rest_length(struct run *r, double long_min_s, double long_max_s)
{
    if (sim_rng_uniform(&r->rng) < r->p->short_rest_frac)
        return sim_rng_range(&r->rng, 60.0, 600.0);
    return sim_rng_range(&r->rng, long_min_s, long_max_s);
}

/* The ageing shape on a copy of the plant's battery model, with this pack's own rate. */
static void shape_cfg(struct plantcfg *c, const struct sim_cyclelog_params *p, struct sim_rng *rng)
{
    double k = p->fade_scale * sim_rng_range(rng, 0.8, 1.25);
    c->battery_knee_efc = 0.0;
    c->battery_knee_k = 0.0;
    c->battery_recover_pct = 0.0;
    switch (p->shape) {
    case SIM_CYCLELOG_KNEE:
        c->battery_fade_k = 0.006 * k;
        c->battery_fade_exp = 0.5;
        c->battery_knee_efc = 150.0 / p->fade_scale * sim_rng_range(rng, 0.85, 1.15);
        c->battery_knee_k = 1.2e-5 * k;
        break;
    case SIM_CYCLELOG_RECOVERY:
        c->battery_fade_k = 0.0076 * k;
        c->battery_fade_exp = 0.6;
        c->battery_recover_pct = 2.0;
        break;
    case SIM_CYCLELOG_LINEAR:
    default:
        c->battery_fade_k = 9e-4 * k;
        c->battery_fade_exp = 1.0;
        break;
    }
}

int sim_cyclelog_run(const struct plantcfg *cfg_in, const struct sim_cyclelog_params *p, uint32_t tag,
                     const struct sim_cyclelog_sink *sink)
{
    struct plantcfg cfg = *cfg_in;
    struct run r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.sink = sink;
    sim_rng_seed(&r.rng, p->seed * 0x9E3779B97F4A7C15ull + tag);
    shape_cfg(&cfg, p, &r.rng);
    r.n_chg = p->chargers < 1 ? 1 : p->chargers > MAX_SENSORS ? MAX_SENSORS : p->chargers;
    r.n_drone = p->drones < 1 ? 1 : p->drones > MAX_SENSORS ? MAX_SENSORS : p->drones;
    for (int i = 0; i < r.n_chg; i++)
        sim_sensor_init(&r.chg[i], &p->charger, p->seed * 1000003u + 17u * (uint64_t)i + tag);
    for (int i = 0; i < r.n_drone; i++)
        sim_sensor_init(&r.drone[i], &p->drone, p->seed * 1000033u + 29u * (uint64_t)i + tag + 7u);
    sim_battery_init(&r.b, &cfg, tag, sim_rng_range(&r.rng, 0.3, 0.6), &r.rng);
    r.ambient_degC = cfg.ambient_degC;
    r.slot = (int)sim_rng_below(&r.rng, (uint32_t)r.n_chg);
    int done = 0;
    /* The pack arrives from the warehouse rested. */
    rest(&r, 3600.0, p->rest_log_s);
    for (int k = 1; k <= p->cycles; k++) {
        r.ambient_degC = cfg.ambient_degC + sim_rng_range(&r.rng, -5.0, 8.0);
        charge(&r, &cfg);
        rest(&r, rest_length(&r, 900.0, 6 * 3600.0), p->rest_log_s);
        carry(&r, 40.0);
        fly(&r);
        carry(&r, 40.0);
        r.slot = (int)sim_rng_below(&r.rng, (uint32_t)r.n_chg);
        if (p->shape == SIM_CYCLELOG_RECOVERY && sim_rng_uniform(&r.rng) < IDLE_CHANCE)
            rest(&r, sim_rng_range(&r.rng, 1.0, 7.0) * 86400.0, IDLE_LOG_S);
        rest(&r, rest_length(&r, 900.0, 3 * 3600.0), p->rest_log_s);
        struct sim_cyclelog_truth t = {
            .cycle = k,
            .t_s = r.t_s,
            .soh = sim_battery_soh(&r.b),
            .capacity_mAh = r.b.capacity_ah * 1000.0,
            .dcir_mohm = sim_battery_dcir_ohm(&r.b, DCIR_REF_S) * 1000.0,
            .efc = r.b.efc,
        };
        done = k;
        if (sink->cycle_end && sink->cycle_end(sink->ctx, &t))
            break;
    }
    return done;
}
