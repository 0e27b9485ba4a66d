/* Synthetic charge / flight logs from the simulator; see health_simlog.h. */
#include "health_simlog.h"

#include <string.h>

#include "battery/cyclelog.h"

void health_simlog_defaults(struct health_simlog_params *p)
{
    memset(p, 0, sizeof *p);
    p->seed = 1;
    p->cycles = 100;
    p->shape = SIM_CYCLELOG_LINEAR;
    p->grade = SIM_SENSOR_CHARGER;
    p->period_s = 1.0;
    p->fade_scale = 1.0;
}

struct adapter {
    const struct health_simlog_sink *sink;
    enum sim_cyclelog_phase phase;
    bool started;
};

static const enum health_state state_of[] = {
    [SIM_CYCLELOG_REST] = HEALTH_STATE_REST,
    [SIM_CYCLELOG_CHARGE] = HEALTH_STATE_CHARGE,
    [SIM_CYCLELOG_PAD] = HEALTH_STATE_PAD,
    [SIM_CYCLELOG_FLIGHT] = HEALTH_STATE_FLIGHT,
};

static void on_sample(void *ctx, const struct sim_cyclelog_sample *s)
{
    struct adapter *a = ctx;
    struct health_sample h = {
        .t_s = s->t_s, .voltage_V = s->voltage_V, .current_A = s->current_A, .temp_degC = s->temp_degC,
        .state = state_of[s->phase], .sensor = s->sensor, .has_counter = s->has_counter,
        .counter_mAh = s->counter_mAh,
    };
    const char *event = "";
    if (!a->started || s->phase != a->phase)
        event = health_state_name(h.state);
    a->started = true;
    a->phase = s->phase;
    a->sink->sample(a->sink->ctx, &h, event);
}

static int on_cycle(void *ctx, const struct sim_cyclelog_truth *t)
{
    struct adapter *a = ctx;
    if (!a->sink->cycle_end)
        return 0;
    struct health_simlog_truth o = {
        .cycle = t->cycle, .t_s = t->t_s, .soh = t->soh, .capacity_mAh = t->capacity_mAh,
        .dcir_mohm = t->dcir_mohm, .efc = t->efc,
    };
    return a->sink->cycle_end(a->sink->ctx, &o);
}

int health_simlog_run(const struct plantcfg *cfg, const struct health_simlog_params *p,
                      uint32_t tag, const struct health_simlog_sink *sink)
{
    struct sim_cyclelog_params cp;
    sim_cyclelog_defaults(&cp);
    cp.seed = p->seed;
    cp.cycles = p->cycles;
    cp.shape = p->shape >= 0 && p->shape < SIM_CYCLELOG_SHAPE_COUNT ? (enum sim_cyclelog_shape)p->shape
                                                                    : SIM_CYCLELOG_LINEAR;
    cp.fade_scale = p->fade_scale > 0 ? p->fade_scale : 1.0;
    enum sim_sensor_grade g = p->grade >= 0 && p->grade < SIM_SENSOR_GRADE_COUNT ? (enum sim_sensor_grade)p->grade
                                                                                 : SIM_SENSOR_CHARGER;
    sim_sensor_grade_cfg(&cp.charger, g == SIM_SENSOR_POWER_MODULE ? g : g == SIM_SENSOR_IDEAL ? g : SIM_SENSOR_CHARGER);
    sim_sensor_grade_cfg(&cp.drone, g);
    cp.charger.period_s = cp.drone.period_s = p->period_s >= 1 ? p->period_s : 1.0;
    struct adapter a = { .sink = sink };
    struct sim_cyclelog_sink cs = { on_sample, on_cycle, &a };
    return sim_cyclelog_run(cfg, &cp, tag, &cs);
}
