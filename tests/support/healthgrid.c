/* The battery-health accuracy grid; see healthgrid.h. */
#include "healthgrid.h"

#include <math.h>
#include <string.h>

#include "plantcfg/plantcfg.h"

struct pack_run {
    struct health_estimator est;
    struct health_config hc;
    bool fresh;              /* a capacity window in the cycle in progress */
    int fresh_cycles, cycles;
    double sq, max_err, dcir_max_rel;
    struct healthgrid_eol eol;
    int retire_cycle;
    double soh_at_retire;
};

void healthgrid_eol_init(struct healthgrid_eol *e, double retire_soh)
{
    memset(e, 0, sizeof *e);
    e->retire_soh = retire_soh;
    e->first_below = e->run_start = e->cross_cycle = -1;
}

void healthgrid_eol_observe(struct healthgrid_eol *e, int cycle, double true_soh)
{
    if (!(true_soh < e->retire_soh)) {
        e->run_len = 0;
        return;
    }
    if (e->first_below < 0)
        e->first_below = cycle;
    if (e->run_len++ == 0)
        e->run_start = cycle;
    if (e->cross_cycle < 0 && e->run_len >= HEALTHGRID_SUSTAIN_CYCLES)
        e->cross_cycle = e->run_start;
}

int healthgrid_eol_crossing(const struct healthgrid_eol *e, bool retired)
{
    if (e->cross_cycle >= 0)
        return e->cross_cycle;
    return retired && e->run_len > 0 ? e->run_start : -1;
}

static const char *const events[] = { "rest", "charge", "pad", "flight" };

static void on_sample(void *ctx, const struct sim_cyclelog_sample *s)
{
    struct pack_run *r = ctx;
    struct health_sample h = {
        .t_s = s->t_s, .voltage_V = s->voltage_V, .current_A = s->current_A, .temp_degC = s->temp_degC,
        .sensor = s->sensor, .has_counter = s->has_counter, .counter_mAh = s->counter_mAh,
    };
    int st = health_state_from_name(events[s->phase]);
    h.state = st < 0 ? HEALTH_STATE_UNKNOWN : (enum health_state)st;
    if (health_est_feed(&r->est, &h) & HEALTH_EV_CAPACITY)
        r->fresh = true;
}

static int on_cycle(void *ctx, const struct sim_cyclelog_truth *t)
{
    struct pack_run *r = ctx;
    double err = (health_est_soh(&r->est) - t->soh) * 100.0;
    r->sq += err * err;
    if (fabs(err) > r->max_err)
        r->max_err = fabs(err);
    r->cycles++;
    r->fresh_cycles += r->fresh;
    r->fresh = false;
    if (t->cycle > 10) {
        double rel = fabs(r->est.dcir_mohm - t->dcir_mohm) / t->dcir_mohm;
        if (rel > r->dcir_max_rel)
            r->dcir_max_rel = rel;
    }
    healthgrid_eol_observe(&r->eol, t->cycle, t->soh);
    if (r->retire_cycle < 0) {
        char why[128];
        if (health_judge(&r->hc, &r->est, true, why, sizeof why) == HEALTH_RETIRE) {
            r->retire_cycle = t->cycle;
            r->soh_at_retire = t->soh;
        }
    }
    return 0;
}

void healthgrid_run(const struct healthgrid_cell *c, const struct health_config *hc,
                    struct healthgrid_result *out)
{
    memset(out, 0, sizeof *out);
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    struct sim_cyclelog_params p;
    sim_cyclelog_defaults(&p);
    p.cycles = c->cycles;
    p.shape = c->shape;
    p.fade_scale = c->fade_scale > 0 ? c->fade_scale : 1.0;
    sim_sensor_grade_cfg(&p.charger, c->grade == SIM_SENSOR_IDEAL ? SIM_SENSOR_IDEAL : SIM_SENSOR_CHARGER);
    sim_sensor_grade_cfg(&p.drone, c->grade);
    if (c->grade == SIM_SENSOR_POWER_MODULE)
        sim_sensor_grade_cfg(&p.charger, SIM_SENSOR_POWER_MODULE);
    p.charger.period_s = p.drone.period_s = c->period_s;
    double sq = 0;
    int n = 0, fresh = 0;
    for (int k = 0; k < c->packs; k++) {
        static struct pack_run r;
        memset(&r, 0, sizeof r);
        r.hc = *hc;
        r.retire_cycle = -1;
        healthgrid_eol_init(&r.eol, hc->retire_soh);
        health_est_init(&r.est, hc, pc.battery_cells, pc.battery_rated_mah);
        p.seed = c->seed + (unsigned long long)k;
        struct sim_cyclelog_sink sink = { on_sample, on_cycle, &r };
        sim_cyclelog_run(&pc, &p, 0x5A000001u + (uint32_t)k, &sink);
        health_est_finish(&r.est);
        sq += r.sq;
        n += r.cycles;
        fresh += r.fresh_cycles;
        if (r.max_err > out->max_err_pp)
            out->max_err_pp = r.max_err;
        if (r.dcir_max_rel > out->dcir_max_rel)
            out->dcir_max_rel = r.dcir_max_rel;
        out->windows += r.est.cap_count;
        out->dcir_steps += r.est.dcir_count;
        out->samples += r.est.samples;
        if (r.retire_cycle >= 0) {
            if (r.soh_at_retire > out->max_soh_at_retire)
                out->max_soh_at_retire = r.soh_at_retire;
            if (r.soh_at_retire > hc->retire_soh + 0.02)
                out->early++;
        }
        int cross = healthgrid_eol_crossing(&r.eol, r.retire_cycle >= 0);
        if (cross >= 0) {
            out->crossings++;
            int lag, lag_first;
            if (r.retire_cycle >= 0) {
                out->detected++;
                lag = r.retire_cycle - cross;
                lag_first = r.retire_cycle - r.eol.first_below;
            } else {
                lag = r.cycles - cross + 1; /* not yet: at least this late */
                lag_first = r.cycles - r.eol.first_below + 1;
            }
            if (lag > out->max_lag)
                out->max_lag = lag;
            if (lag_first > out->max_lag_first)
                out->max_lag_first = lag_first;
        }
    }
    out->rmse_pp = n ? sqrt(sq / n) : NAN;
    out->coverage = n ? (double)fresh / n : 0;
}

bool healthgrid_ok(const struct healthgrid_result *r)
{
    return r->rmse_pp <= 1.0 && r->coverage >= 0.8 && r->max_lag <= 10 && r->early == 0 &&
           r->max_soh_at_retire <= 0.82 && r->detected == r->crossings;
}
