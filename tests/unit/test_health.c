/* Health estimators against the battery model's ground truth: accuracy and end-of-life
 * detection over a grid of sensor grades, sample periods and ageing shapes, flights,
 * known rests and offsets, relaxation, and telemetry that must never reach an estimate. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"
#include "health/health_simlog.h"
#include "healthgrid.h"
#include "plantcfg/plantcfg.h"

/* ---- accuracy over the grid of sensors, sample periods and ageing shapes ------------- */

/* make check runs a reduced grid (2 packs x 230 cycles, ageing 2.5 times as fast so that end
 * of life falls inside the run) with the same targets as the full grid of bench_health
 * (8 packs x 500 cycles). */
static const struct {
    enum sim_sensor_grade grade;
    double period_s;
} grid_sensors[] = {
    { SIM_SENSOR_IDEAL, 10 },
    { SIM_SENSOR_CHARGER, 10 },
    { SIM_SENSOR_POWER_MODULE, 10 },
    { SIM_SENSOR_POWER_MODULE, 1 },
};
#define N_GRID_SENSORS ((int)(sizeof grid_sensors / sizeof grid_sensors[0]))

START_TEST(grid_cell_meets_targets)
{
    struct health_config hc;
    health_config_defaults(&hc);
    struct healthgrid_cell c = {
        .grade = grid_sensors[_i % N_GRID_SENSORS].grade,
        .period_s = grid_sensors[_i % N_GRID_SENSORS].period_s,
        .shape = (enum sim_cyclelog_shape)(_i / N_GRID_SENSORS),
        .packs = 2, .cycles = 230, .fade_scale = 2.5, .seed = 4100,
    };
    struct healthgrid_result r;
    healthgrid_run(&c, &hc, &r);
    printf("grid %-12s %4.0f s %-8s: SoH RMSE %.3f pp, coverage %.1f %%, end of life %d/%d, lag %d, "
           "true SoH at retirement %.2f %%\n", sim_sensor_grade_name(c.grade), c.period_s,
           sim_cyclelog_shape_name(c.shape), r.rmse_pp, r.coverage * 100, r.detected, r.crossings, r.max_lag,
           r.max_soh_at_retire * 100);
    ck_assert_msg(r.rmse_pp <= 1.0, "RMSE %.3f pp", r.rmse_pp);
    ck_assert_msg(r.coverage >= 0.8, "coverage %.3f", r.coverage);
    ck_assert_msg(r.crossings > 0, "no pack reached end of life: the cell tests nothing");
    ck_assert_msg(r.detected == r.crossings && r.max_lag <= 10, "end of life: %d/%d detected, lag %d",
                  r.detected, r.crossings, r.max_lag);
    ck_assert_msg(r.early == 0 && r.max_soh_at_retire <= 0.82, "retired at true SoH %.4f", r.max_soh_at_retire);
}
END_TEST

/* The true crossing of a truth that recovers: a dip that a long rest takes back is not
 * end of life; the first run of HEALTHGRID_SUSTAIN_CYCLES cycle ends below it is. A
 * monotonic truth crosses where it first falls below. */
START_TEST(true_crossing_is_the_first_that_lasts)
{
    struct healthgrid_eol e;
    healthgrid_eol_init(&e, 0.80);
    /* 100..104 above, dip at 105..106, back above 107..111, below from 112 on. */
    static const double dip[] = { 0.803, 0.802, 0.802, 0.801, 0.801, 0.7995, 0.799, 0.809, 0.806, 0.803,
                                  0.801, 0.8001 };
    int c = 100;
    for (size_t i = 0; i < sizeof dip / sizeof dip[0]; i++)
        healthgrid_eol_observe(&e, c++, dip[i]);
    ck_assert_int_eq(e.first_below, 105);
    ck_assert_int_eq(healthgrid_eol_crossing(&e, false), -1);  /* nothing lasting yet */
    ck_assert_int_eq(healthgrid_eol_crossing(&e, true), -1);   /* above it now */
    for (int k = 0; k < HEALTHGRID_SUSTAIN_CYCLES - 1; k++)
        healthgrid_eol_observe(&e, c++, 0.7999 - 0.0003 * k);
    ck_assert_int_eq(healthgrid_eol_crossing(&e, false), -1);  /* 9 below: pending */
    ck_assert_int_eq(healthgrid_eol_crossing(&e, true), 112);  /* retired: the lag is known */
    healthgrid_eol_observe(&e, c++, 0.7970);
    ck_assert_int_eq(healthgrid_eol_crossing(&e, false), 112);
    healthgrid_eol_observe(&e, c++, 0.8050);                    /* a later bump changes nothing */
    ck_assert_int_eq(healthgrid_eol_crossing(&e, false), 112);

    healthgrid_eol_init(&e, 0.80);
    for (int k = 0; k < 40; k++)
        healthgrid_eol_observe(&e, k, 0.8205 - 0.001 * k);
    ck_assert_int_eq(e.first_below, 21);
    ck_assert_int_eq(healthgrid_eol_crossing(&e, false), 21);
}
END_TEST

/* ---- flights alone: the windows that close after a flight ------------------------------ */

struct flight_run {
    struct health_estimator est;
    enum health_state last_active;
    double truth_mAh;
    int flight_windows;
    double max_rel;
};

static void flight_sample(void *ctx, const struct health_sample *s, const char *event)
{
    (void)event;
    struct flight_run *r = ctx;
    enum health_state before = r->last_active;
    if (s->state == HEALTH_STATE_CHARGE || s->state == HEALTH_STATE_FLIGHT)
        r->last_active = s->state;
    /* The window that closes when a charge starts spans the flight before it. */
    if ((health_est_feed(&r->est, s) & HEALTH_EV_CAPACITY) && before == HEALTH_STATE_FLIGHT &&
        r->truth_mAh > 0) {
        r->flight_windows++;
        double rel = fabs(r->est.last_cycle.capacity_meas_mAh - r->truth_mAh) / r->truth_mAh;
        if (rel > r->max_rel)
            r->max_rel = rel;
    }
}

static int flight_cycle_end(void *ctx, const struct health_simlog_truth *t)
{
    struct flight_run *r = ctx;
    r->truth_mAh = t->capacity_mAh;
    return 0;
}

START_TEST(flights_give_capacity_windows)
{
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    struct health_config hc;
    health_config_defaults(&hc);
    struct health_simlog_params p;
    health_simlog_defaults(&p);
    p.cycles = 40;
    p.grade = SIM_SENSOR_POWER_MODULE;
    static struct flight_run r;
    memset(&r, 0, sizeof r);
    health_est_init(&r.est, &hc, pc.battery_cells, pc.battery_rated_mah);
    struct health_simlog_sink sink = { flight_sample, flight_cycle_end, &r };
    health_simlog_run(&pc, &p, 0x5A300000u, &sink);
    ck_assert_int_ge(r.flight_windows, 15);
    ck_assert_msg(r.max_rel < 0.04, "a flight window was %.2f %% off", r.max_rel * 100);
}
END_TEST

/* ---- rests and offsets from what is known ---------------------------------------------- */

static struct health_sample smp(double t, double v, double i, enum health_state st)
{
    struct health_sample s = { .t_s = t, .voltage_V = v, .current_A = i, .temp_degC = 22.0, .state = st, .sensor = 1 };
    return s;
}

START_TEST(known_rest_survives_current_noise_and_learns_the_offset)
{
    struct health_config hc;
    health_config_defaults(&hc);
    struct health_estimator known, guessed;
    health_est_init(&known, &hc, 6, 5000);
    health_est_init(&guessed, &hc, 6, 5000);
    /* An hour at rest whose sensor reads 60 mA of offset and spikes of 0.4 A. */
    for (int i = 0; i <= 360; i++) {
        double spike = i % 50 == 25 ? 0.4 : 0.0;
        struct health_sample s = smp(i * 10.0, 6 * health_ocv_from_soc(0.4), 0.06 + spike, HEALTH_STATE_REST);
        health_est_feed(&known, &s);
        s.state = HEALTH_STATE_UNKNOWN;
        health_est_feed(&guessed, &s);
    }
    /* The known rest counted nothing but an hour's self-discharge (0.14 mAh); the guessed
     * one counted the spikes as charge. */
    ck_assert(known.q_mAh <= 0.0 && known.q_mAh > -0.2);
    ck_assert(guessed.q_mAh > 5.0);
    ck_assert(known.resting);
    ck_assert_double_eq_tol(known.offsets[0].offset_A, 0.06, 0.02);
    /* An hour of charge at 5 A read with the same offset: counted without it. */
    for (int i = 1; i <= 360; i++) {
        struct health_sample s = smp(3600 + i * 10.0, 6 * 3.9, 5.06, HEALTH_STATE_CHARGE);
        health_est_feed(&known, &s);
    }
    ck_assert_double_eq_tol(known.q_mAh, 5000.0, 5.0);
}
END_TEST

/* A charger's counter register that still holds the last charge's count when the new
 * charge's current already reads: that count is not this interval's charge. */
START_TEST(stale_counter_at_charge_start_is_not_counted)
{
    struct health_config hc;
    health_config_defaults(&hc);
    struct health_estimator e;
    health_est_init(&e, &hc, 6, 5000);
    for (int i = 0; i <= 60; i++) {
        struct health_sample s = smp(i * 10.0, 6 * health_ocv_from_soc(0.3), 0.0, HEALTH_STATE_REST);
        health_est_feed(&e, &s);
    }
    double q0 = e.q_mAh;
    struct health_sample s = smp(610, 6 * 3.7, 10.0, HEALTH_STATE_CHARGE);
    s.has_counter = true;
    s.counter_mAh = 3896;  /* the previous charge's */
    health_est_feed(&e, &s);
    ck_assert_double_eq_tol(e.q_mAh - q0, 10.0 * 10 / 3.6, 1.0);
    /* The counter restarted meanwhile: the interval is counted from the current. */
    s = smp(620, 6 * 3.7, 10.0, HEALTH_STATE_CHARGE);
    s.has_counter = true;
    s.counter_mAh = 28;
    health_est_feed(&e, &s);
    ck_assert_double_eq_tol(e.q_mAh - q0, 2 * 10.0 * 10 / 3.6, 1.0);
    s = smp(630, 6 * 3.71, 10.0, HEALTH_STATE_CHARGE);
    s.has_counter = true;
    s.counter_mAh = 56;
    health_est_feed(&e, &s);
    ck_assert_double_eq_tol(e.q_mAh - q0, 2 * 10.0 * 10 / 3.6 + 28, 1.0);
    /* A counter that restarted with the charge is taken whole. */
    health_est_init(&e, &hc, 6, 5000);
    for (int i = 0; i <= 60; i++) {
        struct health_sample r = smp(i * 10.0, 6 * health_ocv_from_soc(0.3), 0.0, HEALTH_STATE_REST);
        health_est_feed(&e, &r);
    }
    q0 = e.q_mAh;
    s = smp(610, 6 * 3.7, 10.0, HEALTH_STATE_CHARGE);
    s.has_counter = true;
    s.counter_mAh = 20;
    health_est_feed(&e, &s);
    ck_assert_double_eq_tol(e.q_mAh - q0, 20.0, 0.5);
}
END_TEST

START_TEST(relaxation_is_extrapolated)
{
    /* After a flight the voltage creeps up towards the OCV for hours; a 40-minute rest
     * fitted with the relaxation model lands close to the true OCV, the last reading does
     * not. */
    struct health_config hc;
    health_config_defaults(&hc);
    struct health_estimator e;
    health_est_init(&e, &hc, 6, 5000);
    double ocv = health_ocv_from_soc(0.5);
    double t = 0;
    for (int i = 0; i < 120; i++, t += 10) {
        struct health_sample s = smp(t, 6 * (ocv - 0.1), -12.0, HEALTH_STATE_FLIGHT);
        health_est_feed(&e, &s);
    }
    double t0 = t, last = 0;
    for (; t < t0 + 2400; t += 10) {
        double tr = t - t0;
        double v = ocv - 0.012 * exp(-tr / 500.0) - 0.010 * exp(-tr / 4000.0);
        struct health_sample s = smp(t, 6 * v, 0.0, HEALTH_STATE_REST);
        health_est_feed(&e, &s);
        last = v;
    }
    struct health_sample go = smp(t, 6 * ocv, 5.0, HEALTH_STATE_CHARGE);
    health_est_feed(&e, &go);
    ck_assert(e.have_anchor);
    double soc_fit = e.anchor_soc, soc_last = health_soc_from_ocv(last);
    /* The hysteresis correction (after a discharge the OCV sits low) shifts the fit up. */
    double shift = hc.hyst_mV / 1000.0 / health_ocv_slope(0.5);
    ck_assert_msg(fabs(soc_fit - shift - 0.5) < 0.003, "fit %.4f", soc_fit - shift);
    ck_assert(fabs(soc_last - 0.5) > 0.004);
}
END_TEST

/* ---- one bad charge moves the estimate little ----------------------------------------- */

struct skew_run {
    struct health_estimator est;
    int cycle;                  /* cycles completed */
    int skew_cycle;             /* in this cycle the current sensor reads 5 % high */
    double soh_after;
};

static void skew_sample(void *ctx, const struct health_sample *s, const char *event)
{
    (void)event;
    struct skew_run *r = ctx;
    struct health_sample x = *s;
    if (r->cycle + 1 == r->skew_cycle) {
        x.current_A *= 1.05;
        x.counter_mAh *= 1.05;
    }
    health_est_feed(&r->est, &x);
}

static int skew_cycle_end(void *ctx, const struct health_simlog_truth *t)
{
    struct skew_run *r = ctx;
    r->cycle = t->cycle;
    if (t->cycle == 150)
        r->soh_after = health_est_soh(&r->est);
    return t->cycle >= 150;
}

START_TEST(one_miscounted_charge_moves_soh_little)
{
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    struct health_config hc;
    health_config_defaults(&hc);
    struct health_simlog_params p;
    health_simlog_defaults(&p);
    p.cycles = 150;
    double soh[2];
    for (int k = 0; k < 2; k++) {
        struct skew_run r;
        memset(&r, 0, sizeof r);
        r.skew_cycle = k ? 150 : -1;
        health_est_init(&r.est, &hc, pc.battery_cells, pc.battery_rated_mah);
        struct health_simlog_sink sink = { skew_sample, skew_cycle_end, &r };
        health_simlog_run(&pc, &p, 0x5A200000u, &sink);
        soh[k] = r.soh_after;
    }
    /* A 5 % error in one window moves the filtered SoH by well under a point. */
    ck_assert_msg(fabs(soh[1] - soh[0]) < 0.01, "moved %.4f", soh[1] - soh[0]);
}
END_TEST

/* ---- telemetry that must not reach an estimate --------------------------------------- */

static struct health_estimator primed(void)
{
    struct health_config hc;
    health_config_defaults(&hc);
    struct health_estimator e;
    health_est_init(&e, &hc, 6, 5000);
    /* a relaxed pack at about 40 % */
    for (int i = 0; i <= 10; i++) {
        struct health_sample s = { .t_s = i * 120.0, .voltage_V = 6 * health_ocv_from_soc(0.4), .current_A = 0.0, .temp_degC = 22.0 };
        health_est_feed(&e, &s);
    }
    return e;
}

static void assert_estimates_equal(const struct health_estimator *a, const struct health_estimator *b)
{
    ck_assert(a->cap_mAh == b->cap_mAh);
    ck_assert(a->fade_mAh_efc == b->fade_mAh_efc);
    ck_assert(a->dcir_mohm == b->dcir_mohm);
    ck_assert(a->efc == b->efc);
    ck_assert(a->q_mAh == b->q_mAh);
    ck_assert(a->anchor_soc == b->anchor_soc);
    ck_assert(a->prev.t_s == b->prev.t_s);
    ck_assert(memcmp(a->P, b->P, sizeof a->P) == 0);
}

static const struct {
    struct health_sample s;
    enum health_reject why;
} bad_samples[] = {
    { { .t_s = 1500, .voltage_V = NAN, .current_A = 0, .temp_degC = 22 }, HEALTH_REJ_NAN },
    { { .t_s = 1500, .voltage_V = 22.0, .current_A = NAN, .temp_degC = 22 }, HEALTH_REJ_NAN },
    { { .t_s = NAN, .voltage_V = 22.0, .current_A = 0, .temp_degC = 22 }, HEALTH_REJ_NAN },
    { { .t_s = 1500, .voltage_V = 22.0, .current_A = 0, .temp_degC = INFINITY }, HEALTH_REJ_NAN },
    { { .t_s = 1500, .voltage_V = 65.535, .current_A = 0, .temp_degC = 22 }, HEALTH_REJ_VOLTAGE },    /* 0xFFFF mV taken at face value */
    { { .t_s = 1500, .voltage_V = 0.0, .current_A = 0, .temp_degC = 22 }, HEALTH_REJ_VOLTAGE },
    { { .t_s = 1500, .voltage_V = 1000.0, .current_A = 0, .temp_degC = 22 }, HEALTH_REJ_VOLTAGE },
    { { .t_s = 1500, .voltage_V = 22.0, .current_A = 655.35, .temp_degC = 22 }, HEALTH_REJ_CURRENT },
    { { .t_s = 1500, .voltage_V = 22.0, .current_A = -5000, .temp_degC = 22 }, HEALTH_REJ_CURRENT },
    { { .t_s = 1500, .voltage_V = 22.0, .current_A = 0, .temp_degC = 3276.7 }, HEALTH_REJ_TEMP },     /* open NTC at face value */
    { { .t_s = 1500, .voltage_V = 22.0, .current_A = 0, .temp_degC = -273 }, HEALTH_REJ_TEMP },
    { { .t_s = 100, .voltage_V = 22.0, .current_A = 0, .temp_degC = 22 }, HEALTH_REJ_TIME },           /* back in time */
};

START_TEST(bad_sample_is_rejected_counted_and_changes_nothing)
{
    struct health_estimator e = primed();
    struct health_estimator before = e;
    unsigned ev = health_est_feed(&e, &bad_samples[_i].s);
    ck_assert_uint_eq(ev, HEALTH_EV_REJECTED);
    ck_assert_int_eq(e.rejected[bad_samples[_i].why], 1);
    ck_assert_int_eq(health_est_rejected_total(&e), 1);
    assert_estimates_equal(&e, &before);
}
END_TEST

START_TEST(unknown_slot_readings_are_refused)
{
    uint16_t regs[10] = { 0x5A00, 0x0001, 22500, 5000, 251, 100, 3750, 3760, 1, 0 };
    struct health_sample s;
    ck_assert_int_eq(health_sample_from_slot(regs, 1.0, &s), 0);
    ck_assert_double_eq_tol(s.voltage_V, 22.5, 1e-9);
    ck_assert_double_eq_tol(s.current_A, 5.0, 1e-9);
    ck_assert_double_eq_tol(s.temp_degC, 25.1, 1e-9);
    regs[2] = 0xFFFF;
    ck_assert_int_eq(health_sample_from_slot(regs, 1.0, &s), -1);
    regs[2] = 22500;
    regs[4] = 32767;
    ck_assert_int_eq(health_sample_from_slot(regs, 1.0, &s), -1);
    regs[4] = 251;
    /* The charger's state says what is known: CC charges (with its counter), done rests. */
    ck_assert_int_eq(health_sample_from_slot(regs, 1.0, &s), 0);
    ck_assert_int_eq(s.state, HEALTH_STATE_CHARGE);
    ck_assert(s.has_counter);
    ck_assert_double_eq_tol(s.counter_mAh, 100.0, 1e-9);
    regs[8] = 3;    /* done */
    ck_assert_int_eq(health_sample_from_slot(regs, 1.0, &s), 0);
    ck_assert_int_eq(s.state, HEALTH_STATE_REST);
    ck_assert(!s.has_counter);
    regs[8] = 4;    /* charger fault */
    ck_assert_int_eq(health_sample_from_slot(regs, 1.0, &s), -1);
}
END_TEST

START_TEST(unknown_battery_status_fields_are_refused)
{
    struct mav_battery_status bs;
    memset(&bs, 0, sizeof bs);
    for (int i = 0; i < 10; i++)
        bs.voltages[i] = i < 6 ? 3700 : UINT16_MAX;
    bs.current_battery = 1200;      /* 12 A discharging */
    bs.temperature = 3150;
    bs.current_consumed = 800;
    struct health_sample s;
    ck_assert_int_eq(health_sample_from_battery_status(&bs, 5.0, &s), 0);
    ck_assert_double_eq_tol(s.voltage_V, 22.2, 1e-9);
    ck_assert_double_eq_tol(s.current_A, -12.0, 1e-9);
    ck_assert_double_eq_tol(s.temp_degC, 31.5, 1e-9);
    ck_assert_int_eq(s.state, HEALTH_STATE_FLIGHT);
    ck_assert(s.has_counter);
    ck_assert_double_eq_tol(s.counter_mAh, -800.0, 1e-9);
    /* Disarmed on the pad: a small known load, not a rest; -1 consumed: no counter. */
    bs.current_consumed = -1;
    ck_assert_int_eq(health_sample_from_drone(&bs, false, 5.0, &s), 0);
    ck_assert_int_eq(s.state, HEALTH_STATE_PAD);
    ck_assert(!s.has_counter);
    bs.current_consumed = -5;       /* negative capacity (-1 means "not counted") */
    ck_assert_int_eq(health_sample_from_battery_status(&bs, 5.0, &s), -1);
    bs.current_consumed = 800;
    bs.current_battery = -1;
    ck_assert_int_eq(health_sample_from_battery_status(&bs, 5.0, &s), -1);
    bs.current_battery = 1200;
    bs.temperature = INT16_MAX;
    ck_assert_int_eq(health_sample_from_battery_status(&bs, 5.0, &s), -1);
    bs.temperature = 3150;
    for (int i = 0; i < 10; i++)
        bs.voltages[i] = UINT16_MAX;
    ck_assert_int_eq(health_sample_from_battery_status(&bs, 5.0, &s), -1);
}
END_TEST

START_TEST(window_with_wrong_sign_is_rejected)
{
    /* The SoC rises while the counter says charge left the pack: a swapped sensor. */
    struct health_estimator e = primed();
    double t = 1200;
    for (int i = 0; i < 2000; i++) {
        t += 5;
        struct health_sample s = { .t_s = t, .voltage_V = 6 * 3.9, .current_A = -5.0, .temp_degC = 25.0 };
        ck_assert_uint_eq(health_est_feed(&e, &s) & HEALTH_EV_REJECTED, 0);
    }
    double cap = e.cap_mAh;
    for (int i = 0; i < 12; i++) {
        t += 120;
        struct health_sample s = { .t_s = t, .voltage_V = 6 * health_ocv_from_soc(0.9), .current_A = 0.0, .temp_degC = 25.0 };
        health_est_feed(&e, &s);
    }
    health_est_finish(&e);
    ck_assert_int_eq(e.rejected[HEALTH_REJ_INCONSISTENT], 1);
    ck_assert(e.cap_mAh == cap);
}
END_TEST

START_TEST(restored_estimator_continues_from_stored_values)
{
    struct health_config hc;
    health_config_defaults(&hc);
    struct health_estimator e;
    health_est_init(&e, &hc, 6, 5000);
    health_est_restore(&e, 4400, 20, 90, 2, 70, 250, 400);
    ck_assert_double_eq_tol(health_est_soh(&e), 0.88, 1e-12);
    ck_assert_double_eq_tol(health_est_soh_sd(&e), 0.004, 1e-12);
    ck_assert_double_eq_tol(e.dcir_new_mohm, 70, 1e-12);
    ck_assert_double_eq_tol(e.efc, 250, 1e-12);
    ck_assert_int_eq(e.charge_count, 400);
    /* NaN or negative stored values keep the prior instead */
    health_est_init(&e, &hc, 6, 5000);
    health_est_restore(&e, NAN, 20, -1, 2, NAN, -3, -1);
    ck_assert_double_eq_tol(health_est_soh(&e), 1.0, 1e-12);
    ck_assert_double_eq_tol(e.dcir_mohm, hc.dcir_rated_mohm, 1e-12);
    ck_assert_double_eq_tol(e.efc, 0, 1e-12);
}
END_TEST

START_TEST(ocv_table_inverts)
{
    for (int i = 0; i <= 100; i++) {
        double soc = i / 100.0;
        ck_assert_double_eq_tol(health_soc_from_ocv(health_ocv_from_soc(soc)), soc, 1e-9);
    }
    ck_assert_double_eq_tol(health_ocv_from_soc(0.5), 3.745, 1e-12);
    ck_assert_double_eq(health_soc_from_ocv(1.0), 0.0);
    ck_assert_double_eq(health_soc_from_ocv(5.0), 1.0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("accuracy");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, grid_cell_meets_targets, 0, N_GRID_SENSORS * SIM_CYCLELOG_SHAPE_COUNT);
    tcase_add_test(tc, true_crossing_is_the_first_that_lasts);
    tcase_add_test(tc, flights_give_capacity_windows);
    tcase_add_test(tc, one_miscounted_charge_moves_soh_little);
    tcase_add_test(tc, known_rest_survives_current_noise_and_learns_the_offset);
    tcase_add_test(tc, relaxation_is_extrapolated);
    tcase_add_test(tc, stale_counter_at_charge_start_is_not_counted);
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("bad_input");
    tcase_add_loop_test(bad, bad_sample_is_rejected_counted_and_changes_nothing, 0,
                        (int)(sizeof bad_samples / sizeof bad_samples[0]));
    tcase_add_test(bad, unknown_slot_readings_are_refused);
    tcase_add_test(bad, unknown_battery_status_fields_are_refused);
    tcase_add_test(bad, window_with_wrong_sign_is_rejected);
    tcase_add_test(bad, ocv_table_inverts);
    tcase_add_test(bad, restored_estimator_continues_from_stored_values);
    suite_add_tcase(s, bad);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
