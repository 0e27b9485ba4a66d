/* The battery pack and its charger; see battery.h. */
#include "battery/battery.h"

#include <math.h>
#include <string.h>

#include "regmap/regmap.h"

/* NMC cell OCV at 25 degC, SoC 0, 10, ..., 100 % (reference/battery.md). */
static const double ocv_table_V[11] = {
    2.590, 3.263, 3.431, 3.555, 3.656, 3.745, 3.838, 3.926, 4.036, 4.093, 4.196,
};

/* Arrhenius constant Ea/R (K) fitted to 2.1x at 0 degC, 1.5x at 10 degC, 0.6x at 45 degC. */
#define ARRHENIUS_K 2420.0
#define T_REF_K 298.15
/* Resistance rises by this fraction at SoC 0 and 1 (quartic bowl, 1.0 in the middle). */
#define SOC_END_RISE 0.2
/* Cell-to-cell SoC spread (standard deviation) and its hard limit. */
#define CELL_SPREAD_SD 0.004
#define CELL_SPREAD_MAX 0.012

double sim_battery_cell_ocv(double soc)
{
    if (!(soc > 0.0))
        return ocv_table_V[0];
    if (soc >= 1.0)
        return ocv_table_V[10];
    double x = soc * 10.0;
    int i = (int)x;
    double f = x - i;
    return ocv_table_V[i] + f * (ocv_table_V[i + 1] - ocv_table_V[i]);
}

static double clamp01(double x) { return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x; }

static double resistance_factor(const struct sim_battery *b)
{
    double m = 2.0 * b->soc - 1.0;
    m *= m;
    double soc_f = 1.0 + SOC_END_RISE * m * m;
    double t_K = b->temp_degC + 273.15;
    if (t_K < 200.0)
        t_K = 200.0;
    return soc_f * exp(ARRHENIUS_K * (1.0 / t_K - 1.0 / T_REF_K));
}

double sim_battery_r0_eff(const struct sim_battery *b) { return b->r0_ohm * resistance_factor(b); }

/* Resistances follow fade relative to the pack's own new capacity, so a pack born 2 %
 * above rated does not start with less than its new resistance. (Stepping applies the
 * same law as increments, so values set from outside are kept as the starting point.) */
static void update_resistance(struct sim_battery *b)
{
    double fade = 1.0 - b->capacity_ah / b->capacity_new_ah;
    if (fade < 0.0)
        fade = 0.0;
    double g = 1.0 + b->r_gamma * fade;
    b->r0_ohm = b->r0_new_ohm * g;
    b->r1_ohm = b->r1_new_ohm * g;
    b->r2_ohm = b->r2_new_ohm * g;
    b->r3_ohm = b->r3_new_ohm * g;
}

void sim_battery_init(struct sim_battery *b, const struct plantcfg *cfg, uint32_t tag,
                      double soc, struct sim_rng *rng)
{
    memset(b, 0, sizeof *b);
    b->tag = tag;
    b->cells = cfg->battery_cells;
    if (b->cells < 1)
        b->cells = 1;
    if (b->cells > SIM_BATTERY_MAX_CELLS)
        b->cells = SIM_BATTERY_MAX_CELLS;
    b->rated_ah = cfg->battery_rated_mah / 1000.0;
    double cs = cfg->battery_capacity_spread_pct / 100.0;
    double rs = cfg->battery_resistance_spread_pct / 100.0;
    b->capacity_new_ah = b->rated_ah * (1.0 + sim_rng_range(rng, -cs, cs));
    b->capacity_ah = b->capacity_new_ah;
    /* One draw for both resistances: welds and tabs make a pack uniformly better or worse. */
    double rf = 1.0 + sim_rng_range(rng, -rs, rs);
    b->r0_new_ohm = cfg->battery_r0_mohm / 1000.0 * rf;
    b->r1_new_ohm = cfg->battery_r1_mohm / 1000.0 * rf;
    b->r0_ohm = b->r0_new_ohm;
    b->r1_ohm = b->r1_new_ohm;
    b->tau_s = cfg->battery_tau_s;
    for (int i = 0; i < b->cells; i++) {
        double o = CELL_SPREAD_SD * sim_rng_normal(rng);
        b->cell_offset[i] = o > CELL_SPREAD_MAX ? CELL_SPREAD_MAX : o < -CELL_SPREAD_MAX ? -CELL_SPREAD_MAX : o;
    }
    b->soc = clamp01(soc);
    b->temp_degC = cfg->ambient_degC;
    b->peak_temp_degC = b->temp_degC;
    b->heat_capacity_j_k = cfg->battery_heat_capacity_j_k;
    b->cooling_w_k = cfg->battery_cooling_w_k;
    b->fade_k = cfg->battery_fade_k;
    b->fade_exp = cfg->battery_fade_exp;
    b->r_gamma = cfg->battery_r_gamma;
    b->knee_efc = cfg->battery_knee_efc;
    b->knee_k = cfg->battery_knee_k;
    b->recover_max = cfg->battery_recover_pct / 100.0;
    b->recover_tau_s = cfg->battery_recover_tau_h * 3600.0;
    b->recover_efc = cfg->battery_recover_efc;
    b->spread_growth = cfg->battery_spread_growth;
    b->r2_new_ohm = b->r2_ohm = cfg->battery_r2_mohm / 1000.0 * rf;
    b->r3_new_ohm = b->r3_ohm = cfg->battery_r3_mohm / 1000.0 * rf;
    b->tau2_s = cfg->battery_tau2_s;
    b->tau3_s = cfg->battery_tau3_s;
    b->hyst_v = cfg->battery_hyst_mV / 1000.0;
    b->hyst_soc = cfg->battery_hyst_soc;
    b->self_discharge_per_s = cfg->battery_self_discharge_pct_month / 100.0 / (30.0 * 86400.0);
}

static double fade_at(const struct sim_battery *b, double efc)
{
    if (!(efc > 0.0))
        return 0.0;
    double q = b->fade_k * pow(efc, b->fade_exp);
    if (b->knee_efc > 0.0 && efc > b->knee_efc)
        q += b->knee_k * (efc - b->knee_efc) * (efc - b->knee_efc);
    return q;
}

/* Exact step of an RC branch at constant current (no branch when r or tau is 0). */
static double rc_step(double v, double current_a, double r_ohm, double tau_s, double dt_s)
{
    if (!(r_ohm > 0.0) || !(tau_s > 0.0))
        return 0.0;
    double e = exp(-dt_s / tau_s);
    return v * e + current_a * r_ohm * (1.0 - e);
}

static double rc_heat(double v, double r_ohm)
{
    return r_ohm > 0.0 ? v * v / r_ohm : 0.0;
}

void sim_battery_step(struct sim_battery *b, double current_a, double dt_s, double ambient_degC)
{
    if (!(dt_s > 0.0))
        return;
    double rf = resistance_factor(b);
    double r0 = b->r0_ohm * rf, r1 = b->r1_ohm * rf;
    double r2 = b->r2_ohm * rf, r3 = b->r3_ohm * rf;

    double dsoc = current_a * dt_s / (3600.0 * b->capacity_ah);
    b->soc = clamp01(b->soc - dsoc - b->self_discharge_per_s * dt_s);

    /* Exact solution of the RC branches for a constant current over dt: stable at any step. */
    double e = exp(-dt_s / b->tau_s);
    b->v1 = b->v1 * e + current_a * r1 * (1.0 - e);
    b->v2 = rc_step(b->v2, current_a, r2, b->tau2_s, dt_s);
    b->v3 = rc_step(b->v3, current_a, r3, b->tau3_s, dt_s);

    /* Hysteresis turns towards +1 while charging, -1 while discharging, over hyst_soc. */
    if (current_a != 0.0 && b->hyst_soc > 0.0) {
        double target = current_a < 0.0 ? 1.0 : -1.0;
        b->hyst = target + (b->hyst - target) * exp(-fabs(dsoc) / b->hyst_soc);
    }

    double p_w = current_a * current_a * r0 + b->v1 * b->v1 / r1 + rc_heat(b->v2, r2) + rc_heat(b->v3, r3);
    double t_eq = ambient_degC + p_w / b->cooling_w_k;
    b->temp_degC = t_eq + (b->temp_degC - t_eq) * exp(-dt_s * b->cooling_w_k / b->heat_capacity_j_k);
    if (b->temp_degC > b->peak_temp_degC)
        b->peak_temp_degC = b->temp_degC;

    if (current_a != 0.0) {
        /* Fade follows throughput continuously (a half cycle ages half as much as the
         * power law says for it), applied as an increment so that a capacity set from
         * outside (tests, JSON) is kept as the starting point. */
        double efc0 = b->efc;
        b->ah_throughput += fabs(current_a) * dt_s / 3600.0;
        b->efc = b->ah_throughput / (2.0 * b->rated_ah);
        double dq = fade_at(b, b->efc) - fade_at(b, efc0);
        if (b->capacity_ah - b->capacity_new_ah * dq < 0.01 * b->capacity_new_ah)
            dq = 0.0; /* a dead pack: stop fading rather than reach zero */
        b->capacity_ah -= b->capacity_new_ah * dq;
        b->r0_ohm += b->r0_new_ohm * b->r_gamma * dq;
        b->r1_ohm += b->r1_new_ohm * b->r_gamma * dq;
        b->r2_ohm += b->r2_new_ohm * b->r_gamma * dq;
        b->r3_ohm += b->r3_new_ohm * b->r_gamma * dq;
        /* Use pulls the recoverable part (anode overhang, lithium redistribution) back out. */
        if (b->recover_max > 0.0 && b->recover_efc > 0.0) {
            double gap = b->recover_max * b->capacity_new_ah - b->recover_ah;
            double drop = gap * (1.0 - exp(-(b->efc - efc0) / b->recover_efc));
            if (drop > 0.0 && b->capacity_ah - drop > 0.01 * b->capacity_new_ah) {
                b->capacity_ah -= drop;
                b->recover_ah += drop;
            }
        }
    } else if (b->recover_ah > 0.0 && b->recover_tau_s > 0.0) {
        /* A rest gives the recoverable part back, slowly. */
        double back = b->recover_ah * (1.0 - exp(-dt_s / b->recover_tau_s));
        b->capacity_ah += back;
        b->recover_ah -= back;
    }
}

void sim_battery_set_efc(struct sim_battery *b, double efc)
{
    if (!(efc >= 0.0))
        efc = 0.0;
    b->efc = efc;
    b->ah_throughput = efc * 2.0 * b->rated_ah;
    b->capacity_ah = b->capacity_new_ah * (1.0 - fade_at(b, efc));
    if (b->capacity_ah < 0.01 * b->capacity_new_ah)
        b->capacity_ah = 0.01 * b->capacity_new_ah;
    b->recover_ah = 0.0;
    update_resistance(b);
}

double sim_battery_cell_offset(const struct sim_battery *b, int i)
{
    double g = b->spread_growth > 0.0 ? 1.0 + b->spread_growth * b->efc / 100.0 : 1.0;
    return b->cell_offset[i] * g;
}

/* A cell's OCV with the hysteresis of the present state. */
static double cell_ocv_now(const struct sim_battery *b, int i)
{
    return sim_battery_cell_ocv(b->soc + sim_battery_cell_offset(b, i)) + b->hyst_v * b->hyst;
}

double sim_battery_ocv(const struct sim_battery *b)
{
    double v = 0.0;
    for (int i = 0; i < b->cells; i++)
        v += cell_ocv_now(b, i);
    return v;
}

/* Voltage drop over the resistances at current_a (V, pack). */
static double drop_v(const struct sim_battery *b, double current_a)
{
    return current_a * sim_battery_r0_eff(b) + b->v1 + b->v2 + b->v3;
}

double sim_battery_voltage(const struct sim_battery *b, double current_a)
{
    return sim_battery_ocv(b) - drop_v(b, current_a);
}

double sim_battery_dcir_ohm(const struct sim_battery *b, double dt_s)
{
    double r = b->r0_ohm + b->r1_ohm * (1.0 - exp(-dt_s / b->tau_s));
    if (b->tau2_s > 0.0)
        r += b->r2_ohm * (1.0 - exp(-dt_s / b->tau2_s));
    if (b->tau3_s > 0.0)
        r += b->r3_ohm * (1.0 - exp(-dt_s / b->tau3_s));
    return r;
}

void sim_battery_cell_minmax(const struct sim_battery *b, double current_a, double *vmin,
                             double *vmax)
{
    double drop = drop_v(b, current_a) / b->cells;
    double lo = 1e9, hi = -1e9;
    for (int i = 0; i < b->cells; i++) {
        double v = cell_ocv_now(b, i) - drop;
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
    }
    *vmin = lo;
    *vmax = hi;
}

void sim_battery_measure(const struct sim_battery *b, double current_a, double *v, double *vmin,
                         double *vmax)
{
    double drop = drop_v(b, current_a);
    double sum = 0.0, lo = 1e9, hi = -1e9;
    for (int i = 0; i < b->cells; i++) {
        double ocv = cell_ocv_now(b, i);
        sum += ocv;
        lo = ocv < lo ? ocv : lo;
        hi = ocv > hi ? ocv : hi;
    }
    *v = sum - drop;
    *vmin = lo - drop / b->cells;
    *vmax = hi - drop / b->cells;
}

double sim_battery_soh(const struct sim_battery *b) { return b->capacity_ah / b->rated_ah; }

/* ---- charger -------------------------------------------------------------------- */

/* Storage mode discharges at most at this C-rate (a bleeder, not a load bank). */
#define STORAGE_DISCHARGE_C 0.5
/* A cell this far above the CV voltage trips the over-voltage protection. */
#define OVERVOLT_MARGIN_V 0.1

static void charger_fault(struct sim_charger *c, int code)
{
    c->state = CHARGER_FAULT;
    c->fault = code;
    c->current_a = 0.0;
}

void sim_charger_step(struct sim_charger *c, struct sim_battery *b, const struct plantcfg *cfg,
                      int mode, double dt_s, double ambient_degC)
{
    if (dt_s < 0.0)
        dt_s = 0.0;
    if (mode != CHARGER_MODE_CHARGE && mode != CHARGER_MODE_STORAGE)
        mode = CHARGER_MODE_OFF;

    if (mode != c->mode) {
        if (c->mode == CHARGER_MODE_OFF) {
            c->charge_mah = 0.0;
            c->t_since_enable_s = 0.0;
        }
        c->mode = mode;
        c->t_in_state_s = 0.0;
        if (c->state != CHARGER_FAULT || mode == CHARGER_MODE_OFF) {
            c->state = mode == CHARGER_MODE_CHARGE ? CHARGER_CC
                     : mode == CHARGER_MODE_STORAGE ? CHARGER_STORAGE : CHARGER_IDLE;
            c->fault = CHGF_NONE;
        }
    }

    if (c->forced_fault)
        charger_fault(c, CHGF_HW);
    else if (mode == CHARGER_MODE_OFF) {
        c->state = CHARGER_IDLE;
        c->fault = CHGF_NONE;
        c->current_a = 0.0;
    } else if (c->state != CHARGER_FAULT) {
        if (!b)
            charger_fault(c, CHGF_NO_BATTERY);
        else if (b->temp_degC > cfg->charger_max_temp_degC)
            charger_fault(c, CHGF_OVERTEMP);
        else if (c->t_since_enable_s > cfg->charge_timeout_s && c->state != CHARGER_DONE)
            charger_fault(c, CHGF_TIMEOUT);
    }

    if (b && c->state != CHARGER_FAULT && c->state != CHARGER_IDLE) {
        double i_cc = cfg->charge_c_rate * b->rated_ah;
        double i_cut = cfg->charge_cutoff_c * b->rated_ah;
        double r0 = sim_battery_r0_eff(b);
        double ocv = sim_battery_ocv(b);
        double i = 0.0;
        if (c->state == CHARGER_CC || c->state == CHARGER_CV) {
            double v_cv = cfg->charge_v_per_cell * b->cells;
            /* Current that holds the terminal at v_cv; CC limits it from above. */
            double i_cv = (v_cv - ocv + b->v1 + b->v2 + b->v3) / r0;
            if (c->state == CHARGER_CC && i_cv < i_cc) {
                c->state = CHARGER_CV;
                c->t_in_state_s = 0.0;
            }
            i = c->state == CHARGER_CC ? i_cc : (i_cv < i_cc ? i_cv : i_cc);
            /* The OCV table ends at 100 % (4.196 V): a full pack takes no more charge
             * even where the CV law would still push a little current. */
            if (c->state == CHARGER_CV && (i < i_cut || b->soc >= 1.0 - 1e-9)) {
                c->state = CHARGER_DONE;
                c->t_in_state_s = 0.0;
                i = 0.0;
            }
        } else if (c->state == CHARGER_STORAGE) {
            double v_st = cfg->storage_v_per_cell * b->cells;
            double i_dis = STORAGE_DISCHARGE_C * b->rated_ah;
            i = (v_st - ocv + b->v1 + b->v2 + b->v3) / r0;
            if (i > i_cc)
                i = i_cc;
            if (i < -i_dis)
                i = -i_dis;
            if (fabs(i) < i_cut) {
                c->state = CHARGER_DONE;
                c->t_in_state_s = 0.0;
                i = 0.0;
            }
        }
        c->current_a = i;
    } else if (c->state != CHARGER_FAULT) {
        c->current_a = 0.0;
    }

    if (b) {
        sim_battery_step(b, -c->current_a, dt_s, ambient_degC);
        sim_battery_measure(b, -c->current_a, &c->voltage_v, &c->cell_min_v, &c->cell_max_v);
        if (c->current_a > 0.0 && c->cell_max_v > cfg->charge_v_per_cell + OVERVOLT_MARGIN_V)
            charger_fault(c, CHGF_OVERVOLT);
    } else {
        c->voltage_v = c->cell_min_v = c->cell_max_v = 0.0;
    }
    c->charge_mah += c->current_a * dt_s / 3.6;
    c->t_in_state_s += dt_s;
    if (mode != CHARGER_MODE_OFF)
        c->t_since_enable_s += dt_s;
}
