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

static const char *const state_names[HEALTH_STATE_COUNT] = {
    [HEALTH_STATE_UNKNOWN] = "unknown",
    [HEALTH_STATE_REST] = "rest",
    [HEALTH_STATE_CHARGE] = "charge",
    [HEALTH_STATE_PAD] = "pad",
    [HEALTH_STATE_FLIGHT] = "flight",
};

const char *health_state_name(enum health_state st)
{
    return (unsigned)st < HEALTH_STATE_COUNT ? state_names[st] : "unknown";
}

int health_state_from_name(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "charge_start") == 0)
        return HEALTH_STATE_CHARGE;
    if (strcmp(name, "flight_start") == 0)
        return HEALTH_STATE_FLIGHT;
    for (int i = 0; i < HEALTH_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

int health_sample_from_slot(const uint16_t regs[10], double t_s, struct health_sample *out)
{
    uint16_t mv = regs[REGMAP_IR_SLOT_VOLTAGE];
    int16_t ma = (int16_t)regs[REGMAP_IR_SLOT_CURRENT];
    int16_t dt = (int16_t)regs[REGMAP_IR_SLOT_TEMP];
    uint16_t st = regs[REGMAP_IR_SLOT_CHG_STATE];
    if (mv == 0xFFFFu || mv == 0 || dt == REGMAP_TEMP_OPEN || st == CHARGER_FAULT ||
        regs[REGMAP_IR_SLOT_CHG_FAULT] != 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->t_s = t_s;
    out->voltage_V = mv / 1000.0;
    out->current_A = ma / 1000.0;
    out->temp_degC = dt / 10.0;
    bool charging = st == CHARGER_CC || st == CHARGER_CV || st == CHARGER_STORAGE;
    out->state = charging ? HEALTH_STATE_CHARGE
               : st == CHARGER_IDLE || st == CHARGER_DONE ? HEALTH_STATE_REST : HEALTH_STATE_UNKNOWN;
    /* The counter counts charge in; storage may discharge, where it says nothing. */
    out->has_counter = st == CHARGER_CC || st == CHARGER_CV;
    out->counter_mAh = regs[REGMAP_IR_SLOT_CHARGE_MAH];
    return 0;
}

int health_sample_from_drone(const struct mav_battery_status *bs, bool armed, double t_s,
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
    /* consumed -1: the drone does not count (no counter); other negatives are garbage. */
    if (n == 0 || bs->current_battery == -1 || bs->temperature == INT16_MAX ||
        bs->current_consumed < -1)
        return -1;
    memset(out, 0, sizeof *out);
    out->t_s = t_s;
    out->voltage_V = v;
    /* BATTERY_STATUS reports discharge as positive centiamps. */
    out->current_A = -bs->current_battery / 100.0;
    out->temp_degC = bs->temperature / 100.0;
    out->state = armed ? HEALTH_STATE_FLIGHT : HEALTH_STATE_PAD;
    out->has_counter = bs->current_consumed >= 0;
    out->counter_mAh = -(double)bs->current_consumed;
    return 0;
}

int health_sample_from_battery_status(const struct mav_battery_status *bs, double t_s,
                                      struct health_sample *out)
{
    return health_sample_from_drone(bs, true, t_s, out);
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

/* ---- current sensors: offsets learned in known rests ---------------------------------- */

static struct health_offset *offset_slot(struct health_estimator *e, uint32_t sensor, bool create)
{
    struct health_offset *free_slot = NULL, *oldest = &e->offsets[0];
    for (int i = 0; i < HEALTH_SENSORS; i++) {
        struct health_offset *o = &e->offsets[i];
        if (o->used && o->sensor == sensor)
            return o;
        if (!o->used && !free_slot)
            free_slot = o;
        if (o->n < oldest->n)
            oldest = o;
    }
    if (!create)
        return NULL;
    struct health_offset *o = free_slot ? free_slot : oldest;
    double sd = e->cfg.current_offset_sd_A;
    *o = (struct health_offset){ .sensor = sensor, .offset_A = 0.0, .var = sd * sd, .used = true };
    return o;
}

/* The sensor's offset (A) and its variance: learned, or the prior of an unknown sensor. */
static double offset_of(struct health_estimator *e, uint32_t sensor, double *var)
{
    const struct health_offset *o = offset_slot(e, sensor, false);
    if (o) {
        *var = o->var;
        return o->offset_A;
    }
    *var = e->cfg.current_offset_sd_A * e->cfg.current_offset_sd_A;
    return 0.0;
}

/* A reading taken while no current flows is the sensor's offset plus noise. The offset is
 * a constant: the filter's variance falls as noise^2 / n, with a floor for drift; readings
 * more than 4 sd away are spikes, not offset. */
static void offset_learn(struct health_estimator *e, uint32_t sensor, double reading_A)
{
    struct health_offset *o = offset_slot(e, sensor, true);
    double r = e->cfg.current_noise_A * e->cfg.current_noise_A;
    if (r <= 0)
        r = 1e-8;
    double y = reading_A - o->offset_A;
    /* A spike (a relay, a fan starting) is not the offset. */
    if (y * y > 16.0 * (o->var + r))
        return;
    double k = o->var / (o->var + r);
    o->offset_A += k * y;
    o->var = (1 - k) * o->var;
    if (o->var < 1e-8)
        o->var = 1e-8;  /* 0.1 mA: temperature drift of a real sensor */
    o->n++;
}

/* ---- the window between two relaxed points ---------------------------------------------- */

static void win_reset(struct health_estimator *e)
{
    e->win_n = 0;
    e->win_noise_var = 0.0;
    e->win_selfdis_mAh = 0.0;
    e->win_flight_mAh = 0.0;
    e->win_charge_mAh = 0.0;
}

const char *health_window_kind_name(enum health_window_kind k)
{
    switch (k) {
    case HEALTH_WINDOW_CHARGE: return "charge";
    case HEALTH_WINDOW_FLIGHT: return "flight";
    case HEALTH_WINDOW_MIXED: break;
    }
    return "mixed";
}

/* A window is a flight's or a charge's when the other kind moved at most this share. */
#define WINDOW_KIND_OTHER_REL 0.02

static enum health_window_kind win_kind(const struct health_estimator *e)
{
    if (e->win_charge_mAh <= WINDOW_KIND_OTHER_REL * e->win_flight_mAh)
        return HEALTH_WINDOW_FLIGHT;
    if (e->win_flight_mAh <= WINDOW_KIND_OTHER_REL * e->win_charge_mAh)
        return HEALTH_WINDOW_CHARGE;
    return HEALTH_WINDOW_MIXED;
}

static void win_add(struct health_estimator *e, uint32_t sensor, double dt_s, double dq_mAh, double off_var)
{
    int i = 0;
    while (i < e->win_n && e->win[i].sensor != sensor)
        i++;
    if (i == e->win_n) {
        if (e->win_n < HEALTH_WIN_SENSORS) {
            e->win[e->win_n++] = (struct health_win_sensor){ .sensor = sensor };
        } else {
            i = HEALTH_WIN_SENSORS - 1;  /* more sensors: share the last (counted as correlated) */
        }
    }
    struct health_win_sensor *w = &e->win[i];
    w->active_s += dt_s;
    w->abs_mAh += fabs(dq_mAh);
    if (off_var > w->offset_var)
        w->offset_var = off_var;
}

/* Variance (mAh^2) of the charge counted since the anchor: each sensor's offset error
 * acts over its whole active time (fully correlated), its gain error over its whole
 * charge; reading noise adds up sample by sample. */
static double win_var(const struct health_estimator *e)
{
    double v = e->win_noise_var + 0.25 * e->win_selfdis_mAh * e->win_selfdis_mAh;
    double g2 = e->cfg.current_gain_sd * e->cfg.current_gain_sd;
    for (int i = 0; i < e->win_n; i++) {
        const struct health_win_sensor *w = &e->win[i];
        double t_h = w->active_s / 3600.0;
        v += w->offset_var * 1e6 * t_h * t_h + g2 * w->abs_mAh * w->abs_mAh;
    }
    return v;
}

/* ---- rests: relaxation fit ------------------------------------------------------------------ */

static void rest_begin(struct health_estimator *e, double t0_s)
{
    e->resting = true;
    e->rest_start_s = t0_s;
    e->rest_last_s = t0_s;
    e->rest_i_A[0] = fabs(e->i_branch_A[0]);
    e->rest_i_A[1] = fabs(e->i_branch_A[1]);
    e->rest_n = 0;
    e->fit_n = 0;
    memset(e->fit_A, 0, sizeof e->fit_A);
    memset(e->fit_b, 0, sizeof e->fit_b);
    e->fit_vv = 0.0;
    e->rest_tail_n = 0;
}

static void rest_add(struct health_estimator *e, double t_s, double v_pack)
{
    e->rest_n++;
    e->rest_last_s = t_s;
    for (int k = 3; k > 0; k--)
        e->rest_tail_v[k] = e->rest_tail_v[k - 1];
    e->rest_tail_v[0] = v_pack;
    if (e->rest_tail_n < 4)
        e->rest_tail_n++;
    double tr = t_s - e->rest_start_s;
    if (tr < e->cfg.rest_skip_s)
        return;
    double y = v_pack / e->cells;
    double phi[3] = { 1.0, exp(-tr / e->cfg.relax_tau1_s), exp(-tr / e->cfg.relax_tau2_s) };
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++)
            e->fit_A[i][j] += phi[i] * phi[j];
        e->fit_b[i] += phi[i] * y;
    }
    e->fit_vv += y * y;
    e->fit_n++;
}

static double rest_tail_mean(const struct health_estimator *e)
{
    double s = 0;
    for (int i = 0; i < e->rest_tail_n; i++)
        s += e->rest_tail_v[i];
    return e->rest_tail_n ? s / e->rest_tail_n : NAN;
}

/* Inverts the symmetric positive definite 3x3 m into inv; false when singular. */
static bool inv3(const double m[3][3], double inv[3][3])
{
    double c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1];
    double c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2];
    double c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
    double det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02;
    if (!(fabs(det) > 1e-300) || !isfinite(det))
        return false;
    inv[0][0] = c00 / det;
    inv[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
    inv[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
    inv[1][0] = c01 / det;
    inv[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
    inv[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
    inv[2][0] = c02 / det;
    inv[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
    inv[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
    return true;
}

/* The rest's open-circuit voltage per cell, extrapolated to t -> infinity: a Bayesian
 * least-squares fit of V(t) = OCV + a1 e^(-t/tau1) + a2 e^(-t/tau2) over the rest after
 * rest_skip_s, with the amplitudes' prior scaled by the current that flowed last (a pack
 * that rested after a small current cannot be far from its OCV). Its variance holds the
 * fit's, a share of the extrapolated part (model error) and the OCV model error.
 * Returns false when the rest is too short or the fit degenerate. */
static bool rest_ocv(const struct health_estimator *e, double *ocv_out_V, double *var_V2)
{
    const struct health_config *c = &e->cfg;
    double dur = e->rest_last_s - e->rest_start_s;
    if (dur < c->min_rest_s || e->fit_n < 3)
        return false;
    double p1 = c->relax_prior_mohm / 1000.0 * e->rest_i_A[0] + 0.0005;
    double p2 = c->relax_prior_mohm / 1000.0 * e->rest_i_A[1] + 0.0005;
    double floor_V = c->voltage_sd_mV / 1000.0 / e->cells;
    double s2 = floor_V * floor_V;
    double theta[3] = { 0 }, cov[3][3];
    for (int pass = 0; pass < 2; pass++) {
        double m[3][3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                m[i][j] = e->fit_A[i][j] / s2;
        m[1][1] += 1.0 / (p1 * p1);
        m[2][2] += 1.0 / (p2 * p2);
        if (!inv3(m, cov))
            return false;
        for (int i = 0; i < 3; i++) {
            theta[i] = 0;
            for (int j = 0; j < 3; j++)
                theta[i] += cov[i][j] * e->fit_b[j] / s2;
        }
        if (pass == 1 || e->fit_n <= 10)
            break;
        /* Residual variance of the fit: when the readings are noisier than the floor,
         * believe the residuals. */
        double rss = e->fit_vv;
        for (int i = 0; i < 3; i++) {
            rss -= 2 * theta[i] * e->fit_b[i];
            for (int j = 0; j < 3; j++)
                rss += theta[i] * e->fit_A[i][j] * theta[j];
        }
        double r2 = rss / (double)(e->fit_n - 3);
        if (!(r2 > s2))
            break;
        s2 = r2;
    }
    double tr = dur;
    double left = theta[1] * exp(-tr / c->relax_tau1_s) + theta[2] * exp(-tr / c->relax_tau2_s);
    double model = c->relax_model_rel * left;
    double ocv_sd = c->ocv_sd_mV / 1000.0;
    *ocv_out_V = theta[0];
    *var_V2 = cov[0][0] + model * model + ocv_sd * ocv_sd;
    return isfinite(*ocv_out_V) && isfinite(*var_V2);
}

/* The rest that just ended: its OCV, and what it says together with the previous relaxed
 * point. Returns HEALTH_EV_CAPACITY when a window was filtered in. */
static unsigned close_rest(struct health_estimator *e)
{
    const struct health_config *c = &e->cfg;
    e->resting = false;
    if (e->rest_n == 0)
        return 0;
    double ocv, var;
    if (!rest_ocv(e, &ocv, &var)) {
        e->rejected[HEALTH_REJ_UNRESTED]++;
        /* A rest too short to relax still separates the window (no current flowed); the
         * anchor stays. */
        return 0;
    }
    /* Hysteresis: the rested OCV sits above the table after a charge, below after a
     * discharge. */
    double h = c->hyst_mV / 1000.0 * e->hyst;
    double hs = c->hyst_sd_rel * h;
    ocv -= h;
    var += hs * hs;
    double soc = health_soc_from_ocv(ocv);
    double slope = health_ocv_slope(soc);
    double var_soc = var / (slope * slope);
    unsigned ev = 0;
    bool keep_anchor = false;
    if (e->have_anchor) {
        double dq = e->q_mAh - e->anchor_q_mAh;
        double dsoc = soc - e->anchor_soc;
        double qm = fabs(dsoc) > 1e-9 ? dq / dsoc : NAN;
        double var_dq = win_var(e);
        double rel_var = (var_soc + e->anchor_var_soc) / (dsoc * dsoc) +
                         (fabs(dq) > 1e-9 ? var_dq / (dq * dq) : 1e9);
        bool absurd = dq * dsoc <= 0 || qm < WINDOW_MIN_REL * e->rated_mAh || qm > WINDOW_MAX_REL * e->rated_mAh;
        if (absurd && fabs(dsoc) >= c->min_window_soc) {
            e->rejected[HEALTH_REJ_INCONSISTENT]++;
        } else if (absurd || !(sqrt(rel_var) <= c->max_window_sd_rel)) {
            e->rejected[HEALTH_REJ_SMALL_WINDOW]++;
            keep_anchor = fabs(dsoc) < c->min_window_soc;
        } else {
            double vq = qm * qm * rel_var;
            /* Capacity given back by a long rest is lost again with use: windows soon
             * after one measure a capacity the pack will not keep. */
            if (e->have_long_rest) {
                double r = c->recovery_sd * qm;
                vq += r * r * exp(-(e->efc - e->long_rest_efc) / c->recovery_efc);
            }
            cap_update(e, qm, vq);
            e->cycle.capacity_meas_mAh = qm;
            e->cycle.capacity_meas_sd_mAh = sqrt(vq);
            e->last_window = (struct health_window){ qm, sqrt(vq), win_kind(e) };
            e->cap_flight_count += e->last_window.kind == HEALTH_WINDOW_FLIGHT;
            e->cap_charge_count += e->last_window.kind == HEALTH_WINDOW_CHARGE;
            ev = HEALTH_EV_CAPACITY;
        }
    }
    if (c->recovery_rest_s > 0 && e->rest_last_s - e->rest_start_s >= c->recovery_rest_s) {
        e->have_long_rest = true;
        e->long_rest_efc = e->efc;
    }
    /* A small rejected window keeps its old anchor: the next rest may complete a larger
     * one. Otherwise this point is the new anchor. */
    if (!keep_anchor) {
        e->have_anchor = true;
        e->anchor_soc = soc;
        e->anchor_q_mAh = e->q_mAh;
        e->anchor_var_soc = var_soc;
        win_reset(e);
    }
    return ev;
}

static bool sample_ok(struct health_estimator *e, const struct health_sample *s, unsigned *ev)
{
    const struct health_config *c = &e->cfg;
    enum health_reject why = HEALTH_REJ_COUNT;
    if (!isfinite(s->t_s) || !isfinite(s->voltage_V) || !isfinite(s->current_A) ||
        !isfinite(s->temp_degC) || (s->has_counter && !isfinite(s->counter_mAh)))
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

/* A load step (charge start, take-off, landing): DCIR once dcir_delay_s have passed. */
static unsigned track_step(struct health_estimator *e, const struct health_sample *s, double i_A)
{
    const struct health_config *c = &e->cfg;
    if (i_A < e->step_i_min)
        e->step_i_min = i_A;
    if (i_A > e->step_i_max)
        e->step_i_max = i_A;
    double t_d = e->step_t0 + c->dcir_delay_s;
    if (s->t_s < t_d)
        return 0;
    e->step_active = false;
    /* Voltage and charge at exactly t_d, between the previous sample and this one. */
    double f = (t_d - e->prev.t_s) / (s->t_s - e->prev.t_s);
    if (f < 0)
        f = 0;
    double v = e->prev.voltage_V + f * (s->voltage_V - e->prev.voltage_V);
    double dq_last = e->q_mAh - e->step_q_before_last;
    double q = e->q_mAh - (1 - f) * dq_last;
    double i_mean = (q - e->step_q0) * 3.6 / (t_d - e->step_t0);
    double di = i_mean - e->step_i0;
    double i_abs = fabs(i_mean);
    if (e->step_soc0 < c->dcir_soc_min || e->step_soc0 > c->dcir_soc_max || fabs(di) < c->dcir_min_step_A ||
        e->step_i_max - e->step_i_min > DCIR_STEADY_REL * i_abs) {
        e->rejected[HEALTH_REJ_DCIR]++;
        return 0;
    }
    /* The OCV itself moves while charge flows; take that out with the table. */
    double dsoc = (q - e->step_q0) / e->cap_mAh;
    double docv = e->cells * (health_ocv_from_soc(e->step_soc0 + dsoc) - health_ocv_from_soc(e->step_soc0));
    double r_mohm = (v - e->step_v0 - docv) / di * 1000.0;
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

/* A load step between the previous sample and s: from i0 (A) at v0 to s's current i1.
 * When the interval's charge dq came from the sensor's counter, it tells when in the
 * interval the step happened; without a counter, the step is placed at the previous
 * sample, which is good enough only when samples come much faster than dcir_delay_s. */
static void step_begin(struct health_estimator *e, const struct health_sample *s, double v0, double i0,
                       double i1, double q_before, double dq, bool counted)
{
    double dt = s->t_s - e->prev.t_s;
    double t0 = e->prev.t_s, q0 = q_before;
    if (counted && fabs(i1 - i0) > 1e-6) {
        double in_s = (dq - i0 * dt / 3.6) * 3.6 / (i1 - i0);
        if (in_s < 0)
            in_s = 0;
        if (in_s > dt)
            in_s = dt;
        t0 = s->t_s - in_s;
        q0 = q_before + i0 * (dt - in_s) / 3.6;
    } else if (dt > e->cfg.dcir_delay_s / 4) {
        e->rejected[HEALTH_REJ_DCIR]++;
        return;
    }
    e->step_active = true;
    e->step_t0 = t0;
    e->step_v0 = v0;
    e->step_i0 = i0;
    e->step_q0 = q0;
    e->step_soc0 = health_soc_from_ocv((v0 - i0 * e->dcir_mohm / 1000.0) / e->cells);
    e->step_i_min = INFINITY;
    e->step_i_max = -INFINITY;
}

/* The most a counter that restarted in the interval before s can have counted: the larger
 * of the two readings over the interval, with margin, plus its resolution. A register
 * that still holds the last charge's count when the new charge's current already reads
 * is above it, and is not taken for this interval's charge. */
static double counter_bound_mAh(const struct health_estimator *e, const struct health_sample *s, double dt)
{
    double i = fmax(fabs(s->current_A), fabs(e->prev.current_A)) + e->cfg.current_noise_A * 4;
    return 1.5 * i * dt / 3.6 + 2.0;
}

/* Whether the sample is a rest: known from the state, else from the current. */
static bool is_rest(struct health_estimator *e, const struct health_sample *s)
{
    if (s->state == HEALTH_STATE_REST)
        return true;
    if (s->state != HEALTH_STATE_UNKNOWN)
        return false;
    double var;
    double off = offset_of(e, s->sensor, &var);
    return fabs(s->current_A - off) <= e->cfg.rest_current_A;
}

static bool is_charge(const struct health_sample *s, bool rest, double rest_current_A)
{
    if (s->state == HEALTH_STATE_CHARGE)
        return true;
    return s->state == HEALTH_STATE_UNKNOWN && !rest && s->current_A > rest_current_A;
}

unsigned health_est_feed(struct health_estimator *e, const struct health_sample *s)
{
    const struct health_config *c = &e->cfg;
    unsigned ev = 0;
    if (!sample_ok(e, s, &ev))
        return ev;
    e->samples++;
    bool rest_now = is_rest(e, s);
    if (rest_now)
        offset_learn(e, s->sensor, s->current_A);
    if (!e->have_prev) {
        e->have_prev = true;
        e->prev = *s;
        e->prev_rest = rest_now;
        cycle_reset(&e->cycle, 0, s->t_s);
        if (rest_now) {
            rest_begin(e, s->t_s);
            rest_add(e, s->t_s, s->voltage_V);
        }
        return ev;
    }
    double dt = s->t_s - e->prev.t_s;
    bool rest_before = e->prev_rest;
    bool same_counter = s->has_counter && e->prev.has_counter && e->prev.sensor == s->sensor;
    bool fresh_counter = s->has_counter && !same_counter && (rest_before || e->prev.sensor != s->sensor);

    /* Charge that flowed while nobody watched breaks the count: no window may span it. */
    if (!rest_now && dt > c->max_gap_s && !same_counter && !fresh_counter) {
        e->rejected[HEALTH_REJ_GAP]++;
        e->have_anchor = false;
        e->step_active = false;
        e->resting = false;
        e->prev = *s;
        e->prev_rest = rest_now;
        return ev | HEALTH_EV_REJECTED;
    }

    /* A rest ends with this sample: judge it before its charge is counted. */
    bool rest_ended = !rest_now && e->resting;
    double rest_v0 = NAN;
    if (rest_ended) {
        rest_v0 = rest_tail_mean(e);
        ev |= close_rest(e);
    }

    /* The charge of the interval, offset removed (a rest counts nothing). */
    double off_var = 0.0, dq = 0.0, i_corr = 0.0;
    bool counted = false;
    if (!rest_now) {
        double off = offset_of(e, s->sensor, &off_var);
        i_corr = s->current_A - off;
        if (same_counter && (s->counter_mAh - e->prev.counter_mAh) * s->current_A >= 0) {
            dq = s->counter_mAh - e->prev.counter_mAh - off * dt / 3.6;
            counted = true;
        } else if (fresh_counter && fabs(s->counter_mAh) <= counter_bound_mAh(e, s, dt)) {
            /* The counter restarted when the charge began or the drone powered up. */
            dq = s->counter_mAh - off * dt / 3.6;
            counted = true;
        } else {
            dq = i_corr * dt / 3.6;
            double n = c->current_noise_A * dt / 3.6;
            e->win_noise_var += n * n;
        }
        win_add(e, s->sensor, dt, dq, off_var);
        bool on_drone = s->state == HEALTH_STATE_FLIGHT || s->state == HEALTH_STATE_PAD ||
                        (s->state == HEALTH_STATE_UNKNOWN && dq < 0);
        if (on_drone)
            e->win_flight_mAh += fabs(dq);
        else
            e->win_charge_mAh += fabs(dq);
        double i_mean = dq * 3.6 / dt;
        for (int k = 0; k < 2; k++) {
            double d = exp(-dt / (k ? c->relax_tau2_s : c->relax_tau1_s));
            e->i_branch_A[k] = e->i_branch_A[k] * d + i_mean * (1.0 - d);
        }
        if (c->hyst_soc > 0 && dq != 0.0) {
            double target = dq > 0 ? 1.0 : -1.0;
            e->hyst = target + (e->hyst - target) * exp(-fabs(dq) / (c->hyst_soc * e->cap_mAh));
        }
    } else {
        /* Self-discharge: charge leaves a resting pack where no sensor sees it. */
        double sd_mAh = c->self_discharge_pct_month / 100.0 / (30.0 * 86400.0) * e->cap_mAh * dt;
        e->q_mAh -= sd_mAh;
        e->win_selfdis_mAh += sd_mAh;
    }
    double q_before = e->q_mAh;
    e->step_q_before_last = q_before;
    e->q_mAh += dq;
    e->ah_throughput += fabs(dq) / 1000.0;
    e->efc += fabs(dq) / (2.0 * e->rated_mAh);

    bool charge_now = is_charge(s, rest_now, c->rest_current_A);
    bool charge_before = is_charge(&e->prev, rest_before, c->rest_current_A);
    if (charge_now && !charge_before) {
        /* A charge starts: the cycle before it is complete. Cycle 0 is whatever came
         * before the first charge: not a cycle. */
        if (e->cycle.index > 0) {
            e->last_cycle = e->cycle;
            ev |= HEALTH_EV_CYCLE;
        }
        cycle_reset(&e->cycle, e->cycle.index + 1, e->prev.t_s);
        e->charge_count++;
        e->step_active = false;
        if (rest_ended && isfinite(rest_v0))
            step_begin(e, s, rest_v0, 0.0, i_corr, q_before, dq, counted);
    } else if (s->state == HEALTH_STATE_FLIGHT && e->prev.state == HEALTH_STATE_PAD && e->pad_n > 0) {
        /* Take-off: the load step from the pad current. */
        step_begin(e, s, e->pad_v_sum / e->pad_n, e->pad_i_sum / e->pad_n, i_corr, q_before, dq, counted);
    } else if (s->state == HEALTH_STATE_PAD && e->prev.state == HEALTH_STATE_FLIGHT) {
        /* Landing: the step down from the last flight reading. */
        double var;
        double off = offset_of(e, e->prev.sensor, &var);
        step_begin(e, s, e->prev.voltage_V, e->prev.current_A - off, i_corr, q_before, dq, counted);
    }
    if (s->state == HEALTH_STATE_PAD) {
        if (e->prev.state != HEALTH_STATE_PAD || e->pad_n >= 8) {
            e->pad_n = 0;
            e->pad_v_sum = e->pad_i_sum = 0.0;
        }
        e->pad_v_sum += s->voltage_V;
        e->pad_i_sum += i_corr;
        e->pad_n++;
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
        if (!e->resting)
            rest_begin(e, e->prev.t_s);
        rest_add(e, s->t_s, s->voltage_V);
        if (e->step_active) {
            e->step_active = false;
            e->rejected[HEALTH_REJ_DCIR]++;
        }
    } else if (e->step_active) {
        ev |= track_step(e, s, i_corr);
    }
    e->prev = *s;
    e->prev_rest = rest_now;
    return ev;
}

unsigned health_est_finish(struct health_estimator *e)
{
    unsigned ev = 0;
    if (e->resting)
        ev |= close_rest(e);
    if (e->cycle.index > 0 && (e->cycle.charged_mAh > 0 || e->cycle.discharged_mAh > 0)) {
        e->last_cycle = e->cycle;
        ev |= HEALTH_EV_CYCLE;
        cycle_reset(&e->cycle, e->cycle.index + 1, e->prev.t_s);
    }
    return ev;
}

unsigned health_est_rest_end(struct health_estimator *e)
{
    return e->resting ? close_rest(e) : 0;
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
