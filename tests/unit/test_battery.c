/* Battery pack and charger model: OCV table, CC-CV charging, fade, resistance growth,
 * spread, heating, storage mode, charger faults, JSON round trip. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "battery/battery.h"
#include "battery/battery_json.h"
#include "regmap/regmap.h"

static struct plantcfg cfg;

static void setup(void) { plantcfg_defaults(&cfg); }

static void new_pack(struct sim_battery *b, double soc, uint64_t seed)
{
    struct sim_rng r;
    sim_rng_seed(&r, seed);
    sim_battery_init(b, &cfg, 0x5A0000AA, soc, &r);
}

START_TEST(ocv_table_points)
{
    static const double mV[11] = { 2590, 3263, 3431, 3555, 3656, 3745, 3838, 3926, 4036, 4093, 4196 };
    for (int i = 0; i <= 10; i++)
        ck_assert_double_eq_tol(sim_battery_cell_ocv(i / 10.0) * 1000.0, mV[i], 1e-6);
    ck_assert_double_eq_tol(sim_battery_cell_ocv(0.55) * 1000.0, (3745 + 3838) / 2.0, 1e-6);
    ck_assert_double_eq_tol(sim_battery_cell_ocv(-0.5) * 1000.0, 2590, 1e-6);
    ck_assert_double_eq_tol(sim_battery_cell_ocv(1.5) * 1000.0, 4196, 1e-6);
}
END_TEST

START_TEST(pack_ocv_is_cells_in_series)
{
    struct sim_battery b;
    cfg.battery_capacity_spread_pct = 0;
    new_pack(&b, 0.5, 1);
    memset(b.cell_offset, 0, sizeof b.cell_offset);
    ck_assert_double_eq_tol(sim_battery_ocv(&b), 6 * 3.745, 1e-9);
    ck_assert_double_eq_tol(sim_battery_voltage(&b, 10.0), 6 * 3.745 - 10.0 * sim_battery_r0_eff(&b), 1e-9);
}
END_TEST

/* Charging from 20 % at 1 C: CC first, then CV, then done. The CC phase must take the
 * time the C-rate implies for the charge it delivered, and the whole charge about
 * (1 - 0.2) / C hours. */
START_TEST(cc_then_cv_from_20_percent)
{
    const double dt = 1.0;
    struct sim_battery b;
    struct sim_charger c;
    memset(&c, 0, sizeof c);
    new_pack(&b, 0.2, 7);
    double i_cc = cfg.charge_c_rate * b.rated_ah;
    double t = 0, t_cc_end = -1, soc_cc_end = 0, mah_cc_end = 0;
    int last = CHARGER_IDLE;
    while (t < 4 * 3600) {
        sim_charger_step(&c, &b, &cfg, CHARGER_MODE_CHARGE, dt, 20.0);
        t += dt;
        if (c.state == CHARGER_CC)
            ck_assert_int_eq(last == CHARGER_CV || last == CHARGER_DONE, 0); /* never back to CC */
        if (c.state == CHARGER_CC)
            ck_assert_double_eq_tol(c.current_a, i_cc, 1e-9);
        if (last == CHARGER_CC && c.state == CHARGER_CV) {
            t_cc_end = t - dt;
            soc_cc_end = b.soc;
            mah_cc_end = c.charge_mah;
        }
        if (c.state == CHARGER_CV)
            ck_assert(c.current_a <= i_cc + 1e-9);
        ck_assert_int_ne(c.state, CHARGER_FAULT);
        last = c.state;
        if (c.state == CHARGER_DONE)
            break;
    }
    ck_assert_int_eq(last, CHARGER_DONE);
    ck_assert_msg(t_cc_end > 0, "no CC -> CV transition");
    /* CC time from capacity and rate, for the SoC it covered (1 % tolerance + 1 step). */
    double expect_cc = (soc_cc_end - 0.2) * b.capacity_ah * 3600.0 / i_cc;
    ck_assert_msg(fabs(t_cc_end - expect_cc) <= 0.01 * expect_cc + dt, "CC %.0f s, expected %.0f s",
                  t_cc_end, expect_cc);
    ck_assert_double_eq_tol(mah_cc_end, i_cc * t_cc_end / 3.6, 0.01 * mah_cc_end);
    /* CC ends when the terminal voltage (OCV + I R) reaches 4.2 V/cell: well above 80 % SoC. */
    ck_assert_msg(soc_cc_end > 0.8 && soc_cc_end < 0.97, "CC ended at SoC %.3f", soc_cc_end);
    /* Whole charge: 0.8 h at 1 C plus a CV tail; well under 1.3 x. */
    double t_ideal = 0.8 * 3600.0 / cfg.charge_c_rate;
    ck_assert_msg(t > t_ideal * 0.95 && t < t_ideal * 1.3, "charge took %.0f s (ideal %.0f)", t, t_ideal);
    ck_assert(b.soc > 0.98);
    ck_assert_double_eq_tol(c.voltage_v, 0.0 + sim_battery_voltage(&b, 0.0), 1e-9);
}
END_TEST

/* The plant steps chargers once per second: a full charge at 1 s steps must agree with
 * one at 0.05 s steps (CC duration, total time, delivered charge, peak temperature). */
START_TEST(one_second_charger_steps_agree_with_fine_steps)
{
    double dt[2] = { 1.0, 0.05 }, t_cc[2] = { 0 }, t_done[2] = { 0 }, mah[2] = { 0 }, peak[2] = { 0 };
    for (int k = 0; k < 2; k++) {
        struct sim_battery b;
        struct sim_charger c;
        memset(&c, 0, sizeof c);
        new_pack(&b, 0.2, 8);
        double t = 0;
        while (c.state != CHARGER_DONE && t < 4 * 3600) {
            sim_charger_step(&c, &b, &cfg, CHARGER_MODE_CHARGE, dt[k], 20.0);
            t += dt[k];
            if (c.state == CHARGER_CC)
                t_cc[k] = t;
        }
        t_done[k] = t;
        mah[k] = c.charge_mah;
        peak[k] = b.peak_temp_degC;
    }
    ck_assert_double_eq_tol(t_cc[0], t_cc[1], 0.002 * t_cc[1] + 1.0);
    ck_assert_double_eq_tol(t_done[0], t_done[1], 0.01 * t_done[1]);
    ck_assert_double_eq_tol(mah[0], mah[1], 0.002 * mah[1]);
    ck_assert_double_eq_tol(peak[0], peak[1], 0.05);
}
END_TEST

/* The charged pack rests at (about) 4.2 V/cell open circuit. */
START_TEST(charge_ends_near_cv_voltage)
{
    struct sim_battery b;
    struct sim_charger c;
    memset(&c, 0, sizeof c);
    new_pack(&b, 0.5, 3);
    for (int i = 0; i < 4 * 3600 && c.state != CHARGER_DONE; i++)
        sim_charger_step(&c, &b, &cfg, CHARGER_MODE_CHARGE, 1.0, 20.0);
    ck_assert_int_eq(c.state, CHARGER_DONE);
    ck_assert_double_eq_tol(sim_battery_ocv(&b) / b.cells, 4.2, 0.03);
}
END_TEST

START_TEST(storage_mode_reaches_storage_voltage_from_both_sides)
{
    double start[2] = { 0.95, 0.15 };
    for (int k = 0; k < 2; k++) {
        struct sim_battery b;
        struct sim_charger c;
        memset(&c, 0, sizeof c);
        new_pack(&b, start[k], 11);
        bool discharged = false;
        for (int i = 0; i < 5 * 3600 && c.state != CHARGER_DONE; i++) {
            sim_charger_step(&c, &b, &cfg, CHARGER_MODE_STORAGE, 1.0, 20.0);
            discharged |= c.current_a < 0;
            if (c.state != CHARGER_DONE)
                ck_assert_int_eq(c.state, CHARGER_STORAGE);
        }
        ck_assert_int_eq(c.state, CHARGER_DONE);
        ck_assert_int_eq(discharged, k == 0);
        ck_assert_double_eq_tol(sim_battery_ocv(&b) / b.cells, cfg.storage_v_per_cell, 0.03);
    }
}
END_TEST

START_TEST(charger_faults_latch_until_off)
{
    struct sim_battery b;
    struct sim_charger c;
    memset(&c, 0, sizeof c);
    new_pack(&b, 0.3, 5);
    b.temp_degC = cfg.charger_max_temp_degC + 5;
    sim_charger_step(&c, &b, &cfg, CHARGER_MODE_CHARGE, 1.0, 20.0);
    ck_assert_int_eq(c.state, CHARGER_FAULT);
    ck_assert_int_eq(c.fault, CHGF_OVERTEMP);
    ck_assert_double_eq(c.current_a, 0.0);
    b.temp_degC = 20;
    sim_charger_step(&c, &b, &cfg, CHARGER_MODE_CHARGE, 1.0, 20.0);
    ck_assert_int_eq(c.state, CHARGER_FAULT); /* latched while enabled */
    sim_charger_step(&c, &b, &cfg, CHARGER_MODE_OFF, 1.0, 20.0);
    ck_assert_int_eq(c.state, CHARGER_IDLE);
    ck_assert_int_eq(c.fault, CHGF_NONE);

    memset(&c, 0, sizeof c);
    sim_charger_step(&c, NULL, &cfg, CHARGER_MODE_CHARGE, 1.0, 20.0);
    ck_assert_int_eq(c.fault, CHGF_NO_BATTERY);

    memset(&c, 0, sizeof c);
    c.forced_fault = true;
    sim_charger_step(&c, &b, &cfg, CHARGER_MODE_CHARGE, 1.0, 20.0);
    ck_assert_int_eq(c.fault, CHGF_HW);

    struct plantcfg quick = cfg;
    quick.charge_timeout_s = 60;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 62; i++)
        sim_charger_step(&c, &b, &quick, CHARGER_MODE_CHARGE, 1.0, 20.0);
    ck_assert_int_eq(c.fault, CHGF_TIMEOUT);
}
END_TEST

START_TEST(charge_counter_restarts_when_enabled)
{
    struct sim_battery b;
    struct sim_charger c;
    memset(&c, 0, sizeof c);
    new_pack(&b, 0.3, 5);
    for (int i = 0; i < 360; i++)
        sim_charger_step(&c, &b, &cfg, CHARGER_MODE_CHARGE, 1.0, 20.0);
    ck_assert_double_eq_tol(c.charge_mah, 500.0, 1.0); /* 5 A for 0.1 h */
    sim_charger_step(&c, &b, &cfg, CHARGER_MODE_OFF, 1.0, 20.0);
    ck_assert_double_eq_tol(c.charge_mah, 500.0, 1.0); /* kept for reading */
    sim_charger_step(&c, &b, &cfg, CHARGER_MODE_CHARGE, 0.0, 20.0);
    ck_assert_double_eq(c.charge_mah, 0.0);
}
END_TEST

/* Cycle partially (SoC 0.2 <-> 0.8 at 1 C) until n EFC and compare with the power law. */
static void cycle_to(struct sim_battery *b, double efc_target, double lo, double hi, double dt)
{
    double i = b->rated_ah;
    double dir = 1.0;
    while (b->efc < efc_target) {
        sim_battery_step(b, dir * i, dt, 20.0);
        if (dir > 0 && b->soc <= lo)
            dir = -1.0;
        else if (dir < 0 && b->soc >= hi)
            dir = 1.0;
    }
}

/* The power law alone: no knee, no recoverable part. */
static void power_law_only(void)
{
    cfg.battery_knee_efc = 0;
    cfg.battery_recover_pct = 0;
}

START_TEST(capacity_fades_with_throughput_as_configured)
{
    struct sim_battery b;
    power_law_only();
    new_pack(&b, 0.5, 21);
    cycle_to(&b, 200.0, 0.2, 0.8, 10.0);
    double expect = 1.0 - cfg.battery_fade_k * pow(b.efc, cfg.battery_fade_exp);
    ck_assert_double_eq_tol(b.capacity_ah / b.capacity_new_ah, expect, 0.002);
    ck_assert_double_eq_tol(b.efc, b.ah_throughput / (2.0 * b.rated_ah), 1e-9);
    /* SoH relative to rated includes the pack's manufacturing spread. */
    ck_assert_double_eq_tol(sim_battery_soh(&b), expect * b.capacity_new_ah / b.rated_ah, 0.002);
}
END_TEST

START_TEST(partial_cycles_age_like_full_cycles_at_equal_throughput)
{
    struct sim_battery shallow, deep;
    power_law_only();
    new_pack(&shallow, 0.5, 22);
    new_pack(&deep, 0.5, 22);
    cycle_to(&shallow, 50.0, 0.45, 0.55, 5.0);
    cycle_to(&deep, 50.0, 0.02, 0.98, 5.0);
    ck_assert_double_eq_tol(shallow.capacity_ah, deep.capacity_ah, 0.002 * deep.capacity_ah);
}
END_TEST

START_TEST(resistance_grows_with_fade)
{
    struct sim_battery b;
    power_law_only();
    new_pack(&b, 0.5, 23);
    double r_new = b.r0_ohm;
    cycle_to(&b, 300.0, 0.2, 0.8, 20.0);
    double fade = 1.0 - b.capacity_ah / b.capacity_new_ah;
    ck_assert(fade > 0.05);
    ck_assert_double_eq_tol(b.r0_ohm / r_new, 1.0 + cfg.battery_r_gamma * fade, 1e-9);
    ck_assert_double_eq_tol(b.r1_ohm / b.r1_new_ohm, 1.0 + cfg.battery_r_gamma * fade, 1e-9);

    struct sim_battery c;
    new_pack(&c, 0.5, 23);
    sim_battery_set_efc(&c, b.efc);
    ck_assert_double_eq_tol(c.capacity_ah, b.capacity_ah, 1e-3 * b.capacity_ah);
}
END_TEST

START_TEST(resistance_depends_on_temperature_and_soc_ends)
{
    struct sim_battery b;
    new_pack(&b, 0.5, 24);
    b.temp_degC = 25.0;
    double r25 = sim_battery_r0_eff(&b);
    ck_assert_double_eq_tol(r25, b.r0_ohm, 1e-12);
    b.temp_degC = 0.0;
    ck_assert_double_eq_tol(sim_battery_r0_eff(&b) / r25, 2.1, 0.1);
    b.temp_degC = 10.0;
    ck_assert_double_eq_tol(sim_battery_r0_eff(&b) / r25, 1.5, 0.1);
    b.temp_degC = 45.0;
    ck_assert_double_eq_tol(sim_battery_r0_eff(&b) / r25, 0.6, 0.05);
    b.temp_degC = 25.0;
    b.soc = 0.0;
    ck_assert_double_eq_tol(sim_battery_r0_eff(&b) / r25, 1.2, 0.01);
    b.soc = 1.0;
    ck_assert_double_eq_tol(sim_battery_r0_eff(&b) / r25, 1.2, 0.01);
}
END_TEST

START_TEST(discharge_heats_by_joule_losses)
{
    struct sim_battery b;
    new_pack(&b, 0.9, 25);
    double t0 = b.temp_degC, i = 3.0 * b.rated_ah;
    double p_w = i * i * sim_battery_r0_eff(&b);
    sim_battery_step(&b, i, 10.0, t0);
    /* After 10 s, R0 losses dominate (V1 still small): dT ~ P dt / C. */
    ck_assert_double_eq_tol(b.temp_degC - t0, p_w * 10.0 / b.heat_capacity_j_k, 0.2 * p_w * 10.0 / b.heat_capacity_j_k);
    for (int k = 0; k < 60; k++)
        sim_battery_step(&b, i, 10.0, t0);
    ck_assert(b.temp_degC > t0 + 3.0);
    ck_assert_double_eq(b.peak_temp_degC, b.temp_degC);
    for (int k = 0; k < 2000; k++)
        sim_battery_step(&b, 0.0, 10.0, t0);
    ck_assert_double_eq_tol(b.temp_degC, t0, 0.1); /* cools back to ambient */
    ck_assert(b.peak_temp_degC > t0 + 3.0);
}
END_TEST

START_TEST(rc_branch_relaxes_with_tau)
{
    struct sim_battery b;
    new_pack(&b, 0.5, 26);
    b.temp_degC = 25.0;
    sim_battery_step(&b, 1.0, 20.0 * b.tau_s, 25.0); /* steady: V1 = I R1 */
    ck_assert_double_eq_tol(b.v1, 1.0 * b.r1_ohm, 0.01 * b.r1_ohm);
    double v = b.v1;
    sim_battery_step(&b, 0.0, b.tau_s, 25.0);
    ck_assert_double_eq_tol(b.v1, v / M_E, 1e-9);
}
END_TEST

START_TEST(manufacturing_spread_within_bounds)
{
    double cmin = 9, cmax = 0, rmin = 9, rmax = 0, omax = 0;
    for (uint64_t seed = 1; seed <= 2000; seed++) {
        struct sim_battery b;
        new_pack(&b, 0.5, seed);
        double c = b.capacity_new_ah / b.rated_ah, r = b.r0_new_ohm / (cfg.battery_r0_mohm / 1000.0);
        cmin = fmin(cmin, c);
        cmax = fmax(cmax, c);
        rmin = fmin(rmin, r);
        rmax = fmax(rmax, r);
        for (int i = 0; i < b.cells; i++)
            omax = fmax(omax, fabs(b.cell_offset[i]));
        for (int i = b.cells; i < SIM_BATTERY_MAX_CELLS; i++)
            ck_assert_double_eq(b.cell_offset[i], 0.0);
    }
    ck_assert(cmin >= 0.98 && cmax <= 1.02);
    ck_assert(rmin >= 0.95 && rmax <= 1.05);
    /* A pool, not clones: the draws use the whole band. */
    ck_assert(cmin < 0.982 && cmax > 1.018);
    ck_assert(rmin < 0.955 && rmax > 1.045);
    ck_assert(omax > 0.002 && omax <= 0.012);
}
END_TEST

START_TEST(cell_spread_shows_in_min_max)
{
    struct sim_battery b;
    new_pack(&b, 0.7, 31);
    double vmin, vmax;
    sim_battery_cell_minmax(&b, 0.0, &vmin, &vmax);
    ck_assert(vmax > vmin);
    ck_assert(vmax - vmin < 0.05);
    ck_assert(vmin * b.cells <= sim_battery_ocv(&b) + 1e-9);
    ck_assert(vmax * b.cells >= sim_battery_ocv(&b) - 1e-9);
}
END_TEST

/* ---- ageing and relaxation as lab data shows them -------------------------------------- */

START_TEST(knee_accelerates_fade_late_in_life)
{
    struct sim_battery a, b;
    cfg.battery_recover_pct = 0;
    cfg.battery_knee_efc = 0;
    new_pack(&a, 0.5, 31);
    cfg.battery_knee_efc = 100;
    cfg.battery_knee_k = 1e-5;
    new_pack(&b, 0.5, 31);
    cycle_to(&a, 200.0, 0.2, 0.8, 10.0);
    cycle_to(&b, 200.0, 0.2, 0.8, 10.0);
    /* Past the knee the loss grows by knee_k (EFC - knee)^2: 10 % more at 200 EFC. */
    double extra = (a.capacity_ah - b.capacity_ah) / a.capacity_new_ah;
    ck_assert_double_eq_tol(extra, 1e-5 * (b.efc - 100) * (b.efc - 100), 0.003);
}
END_TEST

START_TEST(capacity_recovers_over_a_long_rest_and_drops_back_with_use)
{
    struct sim_battery b;
    cfg.battery_knee_efc = 0;
    cfg.battery_recover_pct = 2.0;
    new_pack(&b, 0.5, 32);
    cycle_to(&b, 20.0, 0.3, 0.7, 10.0);
    double used = b.capacity_ah;
    ck_assert(b.recover_ah > 0.015 * b.capacity_new_ah);
    /* A week on the shelf gives the recoverable part back... */
    for (int h = 0; h < 7 * 24; h++)
        sim_battery_step(&b, 0.0, 3600.0, 20.0);
    ck_assert(b.capacity_ah - used > 0.015 * b.capacity_new_ah);
    ck_assert(b.recover_ah < 0.001 * b.capacity_new_ah);
    /* ... and a few cycles of use take it again. */
    cycle_to(&b, b.efc + 10.0, 0.3, 0.7, 10.0);
    ck_assert(b.capacity_ah < used + 0.002 * b.capacity_new_ah);
}
END_TEST

START_TEST(rest_voltage_relaxes_for_hours_and_hysteresis_separates_branches)
{
    struct sim_battery dis, chg;
    new_pack(&dis, 0.6, 33);
    new_pack(&chg, 0.4, 33);
    for (int i = 0; i < 720; i++) {      /* 12 min at C/2, down from 60 % or up from 40 % */
        sim_battery_step(&dis, 0.5 * dis.capacity_ah, 1.0, 20.0);
        sim_battery_step(&chg, -0.5 * chg.capacity_ah, 1.0, 20.0);
    }
    double v[3];
    double at_s[3] = { 300, 1800, 4 * 3600 };
    double t = 0;
    for (int k = 0; k < 3; k++) {
        for (; t < at_s[k]; t += 10)
            sim_battery_step(&dis, 0.0, 10.0, 20.0);
        v[k] = sim_battery_voltage(&dis, 0.0);
    }
    /* Still rising after half an hour (slow branches), nearly settled after four. */
    ck_assert(v[1] - v[0] > 0.004);
    ck_assert(v[2] - v[1] > 0.001);
    for (t = 0; t < 4 * 3600; t += 10)
        sim_battery_step(&chg, 0.0, 10.0, 20.0);
    /* At (nearly) the same SoC the pack that was charged rests higher: hysteresis. */
    double dsoc = chg.soc - dis.soc;
    double gap = (sim_battery_voltage(&chg, 0.0) - v[2]) / chg.cells -
                 dsoc * (sim_battery_cell_ocv(0.51) - sim_battery_cell_ocv(0.49)) / 0.02;
    /* Each turned from 0 over a 10 % swing: 1 - e^(-0.1 / hyst_soc) of the way. */
    double turned = 1.0 - exp(-0.1 / cfg.battery_hyst_soc);
    ck_assert_double_eq_tol(gap, 2.0 * cfg.battery_hyst_mV / 1000.0 * turned, 0.001);
}
END_TEST

START_TEST(self_discharge_lowers_soc_at_rest)
{
    struct sim_battery b;
    new_pack(&b, 0.5, 34);
    for (int d = 0; d < 30; d++)
        sim_battery_step(&b, 0.0, 86400.0, 20.0);
    ck_assert_double_eq_tol(0.5 - b.soc, cfg.battery_self_discharge_pct_month / 100.0, 0.002);
}
END_TEST

START_TEST(cell_spread_grows_with_age)
{
    struct sim_battery b;
    new_pack(&b, 0.5, 35);
    double lo, hi;
    sim_battery_cell_minmax(&b, 0.0, &lo, &hi);
    double spread_new = hi - lo;
    sim_battery_set_efc(&b, 300.0);
    sim_battery_cell_minmax(&b, 0.0, &lo, &hi);
    ck_assert_double_eq_tol((hi - lo) / spread_new, 1.0 + cfg.battery_spread_growth * 3.0, 0.05);
}
END_TEST

START_TEST(json_round_trip_is_lossless)
{
    struct sim_battery b, back;
    new_pack(&b, 0.37, 41);
    cycle_to(&b, 3.3, 0.2, 0.8, 7.0);
    b.tag_unreadable = true;
    json_t *j = sim_battery_to_json(&b);
    ck_assert_ptr_nonnull(j);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    json_error_t jerr;
    json_t *j2 = json_loads(text, 0, &jerr);
    ck_assert_ptr_nonnull(j2);
    char err[200] = "";
    memset(&back, 0x55, sizeof back);
    ck_assert_msg(sim_battery_from_json(j2, &back, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(json_string_value(json_object_get(j2, "serial")), "SWP-5A0000AA");
    json_decref(j2);
    free(text);
    ck_assert_int_eq(memcmp(&b, &back, sizeof b), 0);
}
END_TEST

static const struct {
    const char *key;
    const char *value; /* JSON text; NULL = remove the key */
    const char *reason;
} bad_json[] = {
    { "soc", "1.5", "\"soc\" = 1.5 outside" },
    { "soc", "-0.1", "\"soc\"" },
    { "soc", "\"half\"", "\"soc\" missing or not a number" },
    { "capacity_ah", "0", "\"capacity_ah\"" },
    { "capacity_new_ah", "-1", "\"capacity_new_ah\"" },
    { "cells", "0", "\"cells\" 0 outside 1..14" },
    { "cells", "15", "\"cells\" 15 outside 1..14" },
    { "cells", "6.5", "\"cells\" missing or not an integer" },
    { "tag", "-1", "\"tag\" -1 outside" },
    { "tag", "4294967296", "\"tag\"" },
    { "r0_ohm", "0", "\"r0_ohm\"" },
    { "temp_degC", "1e300", "\"temp_degC\"" },
    { "cell_offset", "[0,0]", "one per cell" },
    { "cell_offset", "[0,0,0,0,0,\"x\"]", "\"cell_offset\"[5]" },
    { "cell_offset", "[0,0,0,0,0,0.5]", "\"cell_offset\"[5] = 0.5" },
    { "tag_unreadable", "1", "\"tag_unreadable\"" },
    { "efc", NULL, "\"efc\" missing" },
    { "colour", "\"red\"", "unknown field \"colour\"" },
    { "serial", "7", "\"serial\" is not a string" },
};

START_TEST(bad_json_is_refused_with_a_reason)
{
    struct sim_battery b, out;
    new_pack(&b, 0.5, 42);
    json_t *j = sim_battery_to_json(&b);
    if (bad_json[_i].value) {
        json_error_t jerr;
        json_t *v = json_loads(bad_json[_i].value, JSON_DECODE_ANY, &jerr);
        ck_assert_ptr_nonnull(v);
        json_object_set_new(j, bad_json[_i].key, v);
    } else {
        json_object_del(j, bad_json[_i].key);
    }
    char err[200] = "";
    memset(&out, 0x33, sizeof out);
    struct sim_battery before = out;
    ck_assert_int_eq(sim_battery_from_json(j, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, bad_json[_i].reason), "got \"%s\", want \"%s\"", err, bad_json[_i].reason);
    ck_assert_int_eq(memcmp(&out, &before, sizeof out), 0);
    json_decref(j);
}
END_TEST

START_TEST(non_object_json_is_refused)
{
    struct sim_battery out;
    char err[100];
    json_t *a = json_array();
    ck_assert_int_eq(sim_battery_from_json(a, &out, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a JSON object"));
    ck_assert_int_eq(sim_battery_from_json(NULL, &out, err, sizeof err), -1);
    json_decref(a);
}
END_TEST

static Suite *battery_suite(void)
{
    Suite *s = suite_create("battery");
    TCase *tc = tcase_create("model");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ocv_table_points);
    tcase_add_test(tc, pack_ocv_is_cells_in_series);
    tcase_add_test(tc, cc_then_cv_from_20_percent);
    tcase_add_test(tc, charge_ends_near_cv_voltage);
    tcase_add_test(tc, one_second_charger_steps_agree_with_fine_steps);
    tcase_add_test(tc, storage_mode_reaches_storage_voltage_from_both_sides);
    tcase_add_test(tc, charger_faults_latch_until_off);
    tcase_add_test(tc, charge_counter_restarts_when_enabled);
    tcase_add_test(tc, capacity_fades_with_throughput_as_configured);
    tcase_add_test(tc, partial_cycles_age_like_full_cycles_at_equal_throughput);
    tcase_add_test(tc, resistance_grows_with_fade);
    tcase_add_test(tc, knee_accelerates_fade_late_in_life);
    tcase_add_test(tc, capacity_recovers_over_a_long_rest_and_drops_back_with_use);
    tcase_add_test(tc, rest_voltage_relaxes_for_hours_and_hysteresis_separates_branches);
    tcase_add_test(tc, self_discharge_lowers_soc_at_rest);
    tcase_add_test(tc, cell_spread_grows_with_age);
    tcase_add_test(tc, resistance_depends_on_temperature_and_soc_ends);
    tcase_add_test(tc, discharge_heats_by_joule_losses);
    tcase_add_test(tc, rc_branch_relaxes_with_tau);
    tcase_add_test(tc, manufacturing_spread_within_bounds);
    tcase_add_test(tc, cell_spread_shows_in_min_max);
    tcase_add_test(tc, json_round_trip_is_lossless);
    tcase_add_loop_test(tc, bad_json_is_refused_with_a_reason, 0,
                        (int)(sizeof bad_json / sizeof bad_json[0]));
    tcase_add_test(tc, non_object_json_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(battery_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
