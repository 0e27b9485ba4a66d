/* Battery health estimators; see health.h. */
#include "health/health.h"

#include <math.h>
#include <string.h>

#include "regmap/regmap.h"

/* NMC cell OCV at 25 degC, SoC 0, 10, ..., 100 % (V), from the battery reference. */
static const double ocv_V[11] = {
    2.590, 3.263, 3.431, 3.555, 3.656, 3.745, 3.838, 3.926, 4.036, 4.093, 4.196,
};

#define T_REF_K 298.15
/* A DCIR step whose current wanders more than this (relative) is not a clean step. */
#define DCIR_STEADY_REL 0.05
/* Capacity windows implying a capacity outside this range of rated are absurd. */
#define WINDOW_MIN_REL 0.3
#define WINDOW_MAX_REL 2.0

double health_ocv_from_soc(double soc)
{
    if (!(soc > 0.0))
        return ocv_V[0];
    if (soc >= 1.0)
        return ocv_V[10];
    double x = soc * 10.0;
    int i = (int)x;
    return ocv_V[i] + (x - i) * (ocv_V[i + 1] - ocv_V[i]);
}

double health_soc_from_ocv(double cell_V)
{
    if (!(cell_V > ocv_V[0]))
        return 0.0;
    if (cell_V >= ocv_V[10])
        return 1.0;
    int i = 0;
    while (i < 9 && cell_V >= ocv_V[i + 1])
        i++;
    return (i + (cell_V - ocv_V[i]) / (ocv_V[i + 1] - ocv_V[i])) / 10.0;
}

double health_ocv_slope(double soc)
{
    int i = (int)(soc * 10.0);
    if (i < 0)
        i = 0;
    if (i > 9)
        i = 9;
    return (ocv_V[i + 1] - ocv_V[i]) * 10.0;
}

/* ---- telemetry -------------------------------------------------------------------- */

int health_sample_from_slot(const uint16_t regs[10], double t_s, struct health_sample *out)
{
    uint16_t mv = regs[REGMAP_IR_SLOT_VOLTAGE];
    int16_t ma = (int16_t)regs[REGMAP_IR_SLOT_CURRENT];
    int16_t dt = (int16_t)regs[REGMAP_IR_SLOT_TEMP];
    if (mv == 0xFFFFu || mv == 0 || dt == REGMAP_TEMP_OPEN ||
        regs[REGMAP_IR_SLOT_CHG_STATE] == CHARGER_FAULT || regs[REGMAP_IR_SLOT_CHG_FAULT] != 0)
        return -1;
    out->t_s = t_s;
    out->voltage_V = mv / 1000.0;
    out->current_A = ma / 1000.0;
    out->temp_degC = dt / 10.0;
    return 0;
}

int health_sample_from_battery_status(const struct mav_battery_status *bs, double t_s,
                                      struct health_sample *out)
{
    double v = 0.0;
    int n = 0;
    for (int i = 0; i < 10; i++) {
        if (bs->voltages[i] == UINT16_MAX)
            continue;
        v += bs->voltages[i] / 1000.0;
        n++;
    }
    for (int i = 0; i < 4; i++) {
        /* Extension cells: 0 also means "not present" there. */
        if (bs->voltages_ext[i] == 0 || bs->voltages_ext[i] == UINT16_MAX)
            continue;
        v += bs->voltages_ext[i] / 1000.0;
        n++;
    }
    if (n == 0 || bs->current_battery == -1 || bs->temperature == INT16_MAX ||
        bs->current_consumed < 0)
        return -1;
    out->t_s = t_s;
    out->voltage_V = v;
    /* BATTERY_STATUS reports discharge as positive centiamps. */
    out->current_A = -bs->current_battery / 100.0;
    out->temp_degC = bs->temperature / 100.0;
    return 0;
}

/* ---- estimator --------------------------------------------------------------------- */

static const char *const reject_names[HEALTH_REJ_COUNT] = {
    [HEALTH_REJ_NAN] = "not a number",
    [HEALTH_REJ_VOLTAGE] = "voltage out of range",
    [HEALTH_REJ_CURRENT] = "current out of range",
    [HEALTH_REJ_TEMP] = "temperature out of range",
    [HEALTH_REJ_TIME] = "time not increasing",
    [HEALTH_REJ_GAP] = "gap in the current record",
    [HEALTH_REJ_UNRESTED] = "window end not relaxed",
    [HEALTH_REJ_SMALL_WINDOW] = "window too small",
    [HEALTH_REJ_INCONSISTENT] = "window inconsistent",
    [HEALTH_REJ_DCIR] = "DCIR step unusable",
};

const char *health_reject_name(enum health_reject r)
{
    return (unsigned)r < HEALTH_REJ_COUNT ? reject_names[r] : "unknown";
}

static void cycle_reset(struct health_cycle *c, int index, double t_s)
{
    memset(c, 0, sizeof *c);
    c->index = index;
    c->t_start_s = t_s;
    c->capacity_meas_mAh = NAN;
    c->capacity_meas_sd_mAh = NAN;
    c->dcir_meas_mohm = NAN;
    c->peak_temp_degC = NAN;
}

void health_est_init(struct health_estimator *e, const struct health_config *cfg, int cells,
                     double rated_mAh)
{
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    e->cells = cells > 0 ? cells : 1;
    e->rated_mAh = rated_mAh > 0 ? rated_mAh : 1.0;
    e->cap_mAh = e->rated_mAh;
    double sd = cfg->capacity_prior_sd * e->rated_mAh;
    e->P[0][0] = sd * sd;
    /* A new pack's fade rate is unknown within a few per mille of rated per EFC. */
    double fsd = 0.005 * e->rated_mAh;
    e->P[1][1] = fsd * fsd;
    e->dcir_mohm = cfg->dcir_rated_mohm;
    double rsd = 0.2 * cfg->dcir_rated_mohm;
    e->dcir_var = rsd * rsd;
    e->dcir_new_mohm = cfg->dcir_rated_mohm;
    e->peak_temp_degC = NAN;
    cycle_reset(&e->cycle, 0, NAN);
    cycle_reset(&e->last_cycle, 0, NAN);
}

void health_est_restore(struct health_estimator *e, double cap_mAh, double cap_sd_mAh,
                        double dcir_mohm, double dcir_sd_mohm, double dcir_new_mohm,
                        double efc, int charge_count)
{
    if (isfinite(cap_mAh) && cap_mAh > 0 && isfinite(cap_sd_mAh) && cap_sd_mAh >= 0) {
        e->cap_mAh = cap_mAh;
        e->P[0][0] = cap_sd_mAh * cap_sd_mAh;
        e->P[0][1] = e->P[1][0] = 0.0;
        e->cap_count = 1;
    }
    if (isfinite(dcir_mohm) && dcir_mohm > 0 && isfinite(dcir_sd_mohm) && dcir_sd_mohm >= 0) {
        e->dcir_mohm = dcir_mohm;
        e->dcir_var = dcir_sd_mohm * dcir_sd_mohm;
    }
    if (isfinite(dcir_new_mohm) && dcir_new_mohm > 0) {
        e->dcir_new_mohm = dcir_new_mohm;
        e->dcir_count = e->cfg.dcir_new_count;
    }
    if (isfinite(efc) && efc >= 0) {
        e->efc = efc;
        e->efc_at_update = efc;
        e->dcir_efc = efc;
        e->ah_throughput = efc * 2.0 * e->rated_mAh / 1000.0;
    }
    if (charge_count >= 0)
        e->charge_count = charge_count;
}

static unsigned reject(struct health_estimator *e, enum health_reject why)
{
    e->rejected[why]++;
    return HEALTH_EV_REJECTED;
}

/* Level and fade rate now, predicted from the last update over the EFC since. */
static void cap_predict(const struct health_estimator *e, double x[2], double P[2][2])
{
    double dE = e->efc - e->efc_at_update;
    if (dE < 0)
        dE = 0;
    double ql = e->cfg.capacity_process_sd * e->rated_mAh;
    double qf = e->cfg.fade_process_sd * e->rated_mAh;
    x[0] = e->cap_mAh + e->fade_mAh_efc * dE;
    x[1] = e->fade_mAh_efc;
    /* P' = F P F^T + Q with F = [[1, dE], [0, 1]]. */
    double p00 = e->P[0][0], p01 = e->P[0][1], p11 = e->P[1][1];
    P[0][0] = p00 + 2 * dE * p01 + dE * dE * p11 + ql * ql * dE;
    P[0][1] = P[1][0] = p01 + dE * p11;
    P[1][1] = p11 + qf * qf * dE;
}

static void cap_update(struct health_estimator *e, double z_mAh, double var)
{
    double x[2], P[2][2];
    cap_predict(e, x, P);
    double s = P[0][0] + var;
    double k0 = P[0][0] / s, k1 = P[1][0] / s;
    double y = z_mAh - x[0];
    e->cap_mAh = x[0] + k0 * y;
    e->fade_mAh_efc = x[1] + k1 * y;
    e->P[0][0] = (1 - k0) * P[0][0];
    e->P[0][1] = e->P[1][0] = (1 - k0) * P[0][1];
    e->P[1][1] = P[1][1] - k1 * P[0][1];
    e->efc_at_update = e->efc;
    e->cap_count++;
    if (e->cap_mAh / e->rated_mAh < e->cfg.retire_soh)
        e->below_count++;
    else
        e->below_count = 0;
}

static void dcir_update(struct health_estimator *e, double z_mohm)
{
    /* Resistance drifts with ageing: process noise per EFC since the last DCIR. */
    double dE = e->efc - e->dcir_efc;
    double q = e->cfg.dcir_process_sd * e->dcir_mohm;
    double var_pred = e->dcir_var + q * q * (dE > 0 ? dE : 0);
    e->dcir_efc = e->efc;
    double r = e->cfg.dcir_sd_rel * z_mohm;
    double k = var_pred / (var_pred + r * r);
    e->dcir_mohm += k * (z_mohm - e->dcir_mohm);
    e->dcir_var = (1 - k) * var_pred;
    e->dcir_count++;
    if (e->dcir_count == e->cfg.dcir_new_count)
        e->dcir_new_mohm = e->dcir_mohm;
}

/* The rest that just ended: is its end relaxed, and what does it say together with the
 * previous relaxed point? Returns HEALTH_EV_CAPACITY when a window was filtered in. */
static unsigned close_rest(struct health_estimator *e, bool *anchored)
{
    *anchored = false;
    const struct health_config *c = &e->cfg;
    e->resting = false;
    if (e->rest_n == 0)
        return 0;
    int last = (e->rest_head + HEALTH_REST_MAX - 1) % HEALTH_REST_MAX;
    double t_end = e->rest_t[last];
    if (t_end - e->rest_start_s < c->min_rest_s) {
        e->have_anchor = false;
        e->rejected[HEALTH_REJ_UNRESTED]++;
        return 0;
    }
    /* Mean and slope (least squares) of the samples in the last rest_window_s. */
    double st = 0, sv = 0;
    int n = 0;
    for (int k = 0; k < e->rest_n; k++) {
        int i = (last + HEALTH_REST_MAX - k) % HEALTH_REST_MAX;
        if (t_end - e->rest_t[i] > c->rest_window_s)
            break;
        st += e->rest_t[i];
        sv += e->rest_v[i];
        n++;
    }
    if (n < 3) {
        e->have_anchor = false;
        e->rejected[HEALTH_REJ_UNRESTED]++;
        return 0;
    }
    double tm = st / n, vm = sv / n, stt = 0, stv = 0;
    for (int k = 0; k < n; k++) {
        int i = (last + HEALTH_REST_MAX - k) % HEALTH_REST_MAX;
        stt += (e->rest_t[i] - tm) * (e->rest_t[i] - tm);
        stv += (e->rest_t[i] - tm) * (e->rest_v[i] - vm);
    }
    double slope_mV_min = stt > 0 ? stv / stt * 60000.0 / e->cells : 0.0;
    if (fabs(slope_mV_min) > c->max_dvdt_mV_min) {
        e->have_anchor = false;
        e->rejected[HEALTH_REJ_UNRESTED]++;
        return 0;
    }
    double soc = health_soc_from_ocv(vm / e->cells);
    double sd_soc = c->ocv_sd_mV / 1000.0 / health_ocv_slope(soc);
    double var_soc = sd_soc * sd_soc;
    unsigned ev = 0;
    if (e->have_anchor) {
        double dq = e->q_mAh - e->anchor_q_mAh;
        double dsoc = soc - e->anchor_soc;
        if (fabs(dsoc) < c->min_window_soc) {
            e->rejected[HEALTH_REJ_SMALL_WINDOW]++;
        } else if (dq * dsoc <= 0 || dq / dsoc < WINDOW_MIN_REL * e->rated_mAh ||
                   dq / dsoc > WINDOW_MAX_REL * e->rated_mAh) {
            e->rejected[HEALTH_REJ_INCONSISTENT]++;
        } else {
            double qm = dq / dsoc;
            double rel_var = (var_soc + e->anchor_var_soc) / (dsoc * dsoc) +
                             c->current_gain_sd * c->current_gain_sd;
            double var = qm * qm * rel_var;
            cap_update(e, qm, var);
            e->cycle.capacity_meas_mAh = qm;
            e->cycle.capacity_meas_sd_mAh = sqrt(var);
            ev = HEALTH_EV_CAPACITY;
        }
    }
    /* A small window keeps its old anchor: the next rest may complete a larger one. */
    *anchored = true;
    if (!(e->have_anchor && fabs(soc - e->anchor_soc) < c->min_window_soc)) {
        e->have_anchor = true;
        e->anchor_soc = soc;
        e->anchor_q_mAh = e->q_mAh;
        e->anchor_var_soc = var_soc;
    }
    return ev;
}

static bool sample_ok(struct health_estimator *e, const struct health_sample *s, unsigned *ev)
{
    const struct health_config *c = &e->cfg;
    enum health_reject why = HEALTH_REJ_COUNT;
    if (!isfinite(s->t_s) || !isfinite(s->voltage_V) || !isfinite(s->current_A) ||
        !isfinite(s->temp_degC))
        why = HEALTH_REJ_NAN;
    else if (s->voltage_V / e->cells < c->min_cell_V || s->voltage_V / e->cells > c->max_cell_V)
        why = HEALTH_REJ_VOLTAGE;
    else if (fabs(s->current_A) > c->max_current_A)
        why = HEALTH_REJ_CURRENT;
    else if (s->temp_degC < c->min_temp_degC || s->temp_degC > c->max_temp_degC)
        why = HEALTH_REJ_TEMP;
    else if (e->have_prev && s->t_s <= e->prev.t_s)
        why = HEALTH_REJ_TIME;
    if (why == HEALTH_REJ_COUNT)
        return true;
    *ev |= reject(e, why);
    return false;
}

/* The charge-start step: DCIR once dcir_delay_s have passed. */
static unsigned track_step(struct health_estimator *e, const struct health_sample *s)
{
    const struct health_config *c = &e->cfg;
    if (s->current_A < e->step_i_min)
        e->step_i_min = s->current_A;
    if (s->current_A > e->step_i_max)
        e->step_i_max = s->current_A;
    double t_d = e->step_t0 + c->dcir_delay_s;
    if (s->t_s < t_d)
        return 0;
    e->step_active = false;
    /* Voltage and charge at exactly t_d, between the previous sample and this one. */
    double f = (t_d - e->prev.t_s) / (s->t_s - e->prev.t_s);
    if (f < 0)
        f = 0;
    double v = e->prev.voltage_V + f * (s->voltage_V - e->prev.voltage_V);
    double q = e->q_mAh - (1 - f) * s->current_A * (s->t_s - e->prev.t_s) / 3.6;
    double i_mean = (q - e->step_q0) * 3.6 / c->dcir_delay_s;
    if (e->step_soc0 < c->dcir_soc_min || e->step_soc0 > c->dcir_soc_max || i_mean < c->dcir_min_step_A ||
        e->step_i_max - e->step_i_min > DCIR_STEADY_REL * i_mean) {
        e->rejected[HEALTH_REJ_DCIR]++;
        return 0;
    }
    /* The OCV itself rises while charge flows in; take that out with the table. */
    double dsoc = (q - e->step_q0) / e->cap_mAh;
    double docv = e->cells * (health_ocv_from_soc(e->step_soc0 + dsoc) - health_ocv_from_soc(e->step_soc0));
    double r_mohm = (v - e->step_v0 - docv) / i_mean * 1000.0;
    double t_K = s->temp_degC + 273.15;
    double r25 = r_mohm / exp(c->arrhenius_K * (1.0 / t_K - 1.0 / T_REF_K));
    if (!(r25 > 0) || r25 > 20.0 * c->dcir_rated_mohm) {
        e->rejected[HEALTH_REJ_DCIR]++;
        return 0;
    }
    dcir_update(e, r25);
    e->cycle.dcir_meas_mohm = r25;
    return HEALTH_EV_DCIR;
}

unsigned health_est_feed(struct health_estimator *e, const struct health_sample *s)
{
    const struct health_config *c = &e->cfg;
    unsigned ev = 0;
    if (!sample_ok(e, s, &ev))
        return ev;
    e->samples++;
    if (!e->have_prev) {
        e->have_prev = true;
        e->prev = *s;
        cycle_reset(&e->cycle, 0, s->t_s);
        if (fabs(s->current_A) <= c->rest_current_A) {
            e->resting = true;
            e->rest_start_s = s->t_s;
            e->rest_t[0] = s->t_s;
            e->rest_v[0] = s->voltage_V;
            e->rest_n = 1;
            e->rest_head = 1;
        }
        return ev;
    }
    double dt = s->t_s - e->prev.t_s;
    bool rest_now = fabs(s->current_A) <= c->rest_current_A;
    bool rest_before = fabs(e->prev.current_A) <= c->rest_current_A;

    /* A sample holds the mean current since the previous one: a long interval is fine
     * when nothing flowed in it. */
    if (dt > c->max_gap_s && !rest_now) {
        /* Charge flowed while nobody watched: no window may span this. */
        e->rejected[HEALTH_REJ_GAP]++;
        e->have_anchor = false;
        e->step_active = false;
        e->resting = false;
        e->prev = *s;
        return ev | HEALTH_EV_REJECTED;
    }

    /* A rest ends with this sample: judge it before its charge is counted. */
    bool anchored_now = false;
    if (!rest_now && e->resting)
        ev |= close_rest(e, &anchored_now);

    double dq = s->current_A * dt / 3.6;
    double q_before = e->q_mAh;
    e->q_mAh += dq;
    e->ah_throughput += fabs(dq) / 1000.0;
    e->efc += fabs(dq) / (2.0 * e->rated_mAh);

    if (rest_before && s->current_A > c->rest_current_A) {
        /* A charge starts: the cycle before it is complete. */
        /* Cycle 0 is whatever came before the first charge: not a cycle. */
        if (e->cycle.index > 0) {
            e->last_cycle = e->cycle;
            ev |= HEALTH_EV_CYCLE;
        }
        cycle_reset(&e->cycle, e->cycle.index + 1, e->prev.t_s);
        e->charge_count++;
        e->step_active = false;
        if (anchored_now && s->current_A >= c->dcir_min_step_A) {
            e->step_active = true;
            e->step_t0 = e->prev.t_s;
            /* The relaxed mean is better than the last single (noisy) rest reading. */
            e->step_v0 = health_ocv_from_soc(e->anchor_soc) * e->cells;
            e->step_q0 = q_before;
            e->step_soc0 = e->anchor_soc;
            e->step_i_min = e->step_i_max = s->current_A;
        }
    }
    if (dq > 0)
        e->cycle.charged_mAh += dq;
    else
        e->cycle.discharged_mAh -= dq;
    if (!(s->temp_degC <= e->peak_temp_degC))
        e->peak_temp_degC = s->temp_degC;
    if (!(s->temp_degC <= e->cycle.peak_temp_degC))
        e->cycle.peak_temp_degC = s->temp_degC;

    if (rest_now) {
        if (!e->resting) {
            e->resting = true;
            e->rest_start_s = e->prev.t_s;
            e->rest_n = 0;
            e->rest_head = 0;
        }
        e->rest_t[e->rest_head] = s->t_s;
        e->rest_v[e->rest_head] = s->voltage_V;
        e->rest_head = (e->rest_head + 1) % HEALTH_REST_MAX;
        if (e->rest_n < HEALTH_REST_MAX)
            e->rest_n++;
        if (e->step_active) {
            e->step_active = false;
            e->rejected[HEALTH_REJ_DCIR]++;
        }
    } else if (e->step_active) {
        ev |= track_step(e, s);
    }
    e->prev = *s;
    return ev;
}

unsigned health_est_finish(struct health_estimator *e)
{
    unsigned ev = 0;
    bool anchored;
    if (e->resting)
        ev |= close_rest(e, &anchored);
    if (e->cycle.index > 0 && (e->cycle.charged_mAh > 0 || e->cycle.discharged_mAh > 0)) {
        e->last_cycle = e->cycle;
        ev |= HEALTH_EV_CYCLE;
        cycle_reset(&e->cycle, e->cycle.index + 1, e->prev.t_s);
    }
    return ev;
}

double health_est_soh(const struct health_estimator *e)
{
    double x[2], P[2][2];
    cap_predict(e, x, P);
    return x[0] / e->rated_mAh;
}

double health_est_capacity_sd(const struct health_estimator *e)
{
    double x[2], P[2][2];
    cap_predict(e, x, P);
    return sqrt(P[0][0]);
}

double health_est_soh_sd(const struct health_estimator *e)
{
    return health_est_capacity_sd(e) / e->rated_mAh;
}

double health_est_dcir_sd(const struct health_estimator *e)
{
    return sqrt(e->dcir_var);
}

long health_est_rejected_total(const struct health_estimator *e)
{
    long n = 0;
    for (int i = 0; i < HEALTH_REJ_COUNT; i++)
        n += e->rejected[i];
    return n;
}
