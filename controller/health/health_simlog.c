/* Synthetic charge / flight logs from the battery model; see health_simlog.h. */
#include "health/health_simlog.h"

#include <math.h>
#include <string.h>

#include "battery/battery.h"
#include "regmap/regmap.h"
#include "rng/rng.h"

#define DCIR_REF_S 10.0
/* Safety stop for a charge that never ends (a broken model must not hang a test). */
#define CHARGE_MAX_S (6 * 3600.0)

void health_simlog_defaults(struct health_simlog_params *p)
{
    memset(p, 0, sizeof *p);
    p->seed = 1;
    p->cycles = 100;
    p->v_noise_mV = 3.0;
    p->i_noise_rel = 0.005;
    p->i_offset_A = 0.005;
    p->t_noise_degC = 0.3;
    p->charge_dt_s = 5.0;
    p->flight_dt_s = 5.0;
    p->rest_dt_s = 120.0;
    p->short_rest_frac = 0.25;
}

struct run {
    const struct health_simlog_params *p;
    const struct health_simlog_sink *sink;
    struct sim_rng rng;
    struct sim_battery b;
    double t_s;
    double ambient_degC;
};

/* Logs what the sensors see: true values plus noise, quantised like the registers. */
static void emit(struct run *r, double v, double i_in, const char *event)
{
    struct health_sample s;
    s.t_s = r->t_s;
    s.voltage_V = round((v + r->p->v_noise_mV / 1000.0 * sim_rng_normal(&r->rng)) * 1000.0) / 1000.0;
    s.current_A = round((i_in * (1.0 + r->p->i_noise_rel * sim_rng_normal(&r->rng)) +
                         r->p->i_offset_A * sim_rng_normal(&r->rng)) * 1000.0) / 1000.0;
    s.temp_degC = round((r->b.temp_degC + r->p->t_noise_degC * sim_rng_normal(&r->rng)) * 10.0) / 10.0;
    r->sink->sample(r->sink->ctx, &s, event);
}

static void rest(struct run *r, double duration_s, const char *event)
{
    double left = duration_s;
    bool first = true;
    while (left > 0) {
        double dt = left < r->p->rest_dt_s ? left : r->p->rest_dt_s;
        sim_battery_step(&r->b, 0.0, dt, r->ambient_degC);
        r->t_s += dt;
        left -= dt;
        emit(r, sim_battery_voltage(&r->b, 0.0), 0.0, first ? event : "");
        first = false;
    }
}

static double rest_length(struct run *r, double long_min_s, double long_max_s)
{
    if (sim_rng_uniform(&r->rng) < r->p->short_rest_frac)
        return sim_rng_range(&r->rng, 60.0, 600.0);
    return sim_rng_range(&r->rng, long_min_s, long_max_s);
}

static void charge(struct run *r, const struct plantcfg *cfg)
{
    struct sim_charger c;
    memset(&c, 0, sizeof c);
    double t0 = r->t_s;
    bool first = true;
    while (r->t_s - t0 < CHARGE_MAX_S) {
        double dt = r->t_s - t0 < 30.0 ? 1.0 : r->p->charge_dt_s;
        sim_charger_step(&c, &r->b, cfg, CHARGER_MODE_CHARGE, dt, r->ambient_degC);
        r->t_s += dt;
        if (c.state == CHARGER_DONE || c.state == CHARGER_FAULT)
            break;
        emit(r, c.voltage_v, c.current_a, first ? "charge_start" : "");
        first = false;
    }
}

static void flight(struct run *r)
{
    double target = sim_rng_range(&r->rng, 0.15, 0.60);
    bool first = true;
    while (r->b.soc > target) {
        /* A constant-current segment: climb, cruise or hover. */
        double i = sim_rng_range(&r->rng, 8.0, 15.0);
        double seg_s = sim_rng_range(&r->rng, 60.0, 300.0);
        for (double t = 0; t < seg_s && r->b.soc > target; t += r->p->flight_dt_s) {
            sim_battery_step(&r->b, i, r->p->flight_dt_s, r->ambient_degC);
            r->t_s += r->p->flight_dt_s;
            emit(r, sim_battery_voltage(&r->b, i), -i, first ? "flight_start" : "");
            first = false;
        }
    }
}

int health_simlog_run(const struct plantcfg *cfg_in, const struct health_simlog_params *p,
                      uint32_t tag, const struct health_simlog_sink *sink)
{
    struct plantcfg cfg = *cfg_in;
    if (p->fade_k > 0)
        cfg.battery_fade_k = p->fade_k;
    struct run r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.sink = sink;
    sim_rng_seed(&r.rng, p->seed * 0x9E3779B97F4A7C15ull + tag);
    sim_battery_init(&r.b, &cfg, tag, sim_rng_range(&r.rng, 0.3, 0.6), &r.rng);
    r.ambient_degC = cfg.ambient_degC;
    int done = 0;
    /* The pack arrives from the warehouse rested. */
    rest(&r, 3600.0, "rest");
    for (int k = 1; k <= p->cycles; k++) {
        r.ambient_degC = cfg.ambient_degC + sim_rng_range(&r.rng, -5.0, 8.0);
        charge(&r, &cfg);
        rest(&r, rest_length(&r, 900.0, 6 * 3600.0), "rest");
        flight(&r);
        rest(&r, rest_length(&r, 900.0, 3 * 3600.0), "rest");
        struct health_simlog_truth t = {
            .cycle = k,
            .t_s = r.t_s,
            .soh = sim_battery_soh(&r.b),
            .capacity_mAh = r.b.capacity_ah * 1000.0,
            .dcir_mohm = (r.b.r0_ohm + r.b.r1_ohm * (1.0 - exp(-DCIR_REF_S / r.b.tau_s))) * 1000.0,
            .efc = r.b.efc,
        };
        done = k;
        if (sink->cycle_end && sink->cycle_end(sink->ctx, &t))
            break;
    }
    return done;
}
