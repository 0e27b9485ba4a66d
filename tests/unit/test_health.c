/* Health estimators against the battery model's ground truth: accuracy over a pool of
 * packs, retirement at end of life, and telemetry that must never reach an estimate. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"
#include "health/health_simlog.h"
#include "plantcfg/plantcfg.h"

/* ---- accuracy over a pool ----------------------------------------------------------- */

struct pool_run {
    struct health_estimator est;
    double sq_err_sum;          /* SoH error^2, percentage points^2 */
    int n;
    double max_dcir_rel;        /* after the first 10 cycles */
    double max_soh_err;
};

static void feed_sample(void *ctx, const struct health_sample *s, const char *event)
{
    (void)event;
    struct pool_run *r = ctx;
    health_est_feed(&r->est, s);
}

static int pool_cycle_end(void *ctx, const struct health_simlog_truth *t)
{
    struct pool_run *r = ctx;
    double err_pp = (health_est_soh(&r->est) - t->soh) * 100.0;
    r->sq_err_sum += err_pp * err_pp;
    r->n++;
    if (fabs(err_pp) > r->max_soh_err)
        r->max_soh_err = fabs(err_pp);
    if (t->cycle > 10) {
        double rel = fabs(r->est.dcir_mohm - t->dcir_mohm) / t->dcir_mohm;
        if (rel > r->max_dcir_rel)
            r->max_dcir_rel = rel;
    }
    return 0;
}

START_TEST(pool_of_8_packs_500_cycles_meets_accuracy)
{
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    struct health_config hc;
    health_config_defaults(&hc);
    struct health_simlog_params p;
    health_simlog_defaults(&p);
    p.cycles = 500;
    double sq = 0, max_dcir = 0, max_soh = 0;
    int n = 0;
    long windows = 0, dcirs = 0;
    for (int k = 0; k < 8; k++) {
        struct pool_run r;
        memset(&r, 0, sizeof r);
        health_est_init(&r.est, &hc, pc.battery_cells, pc.battery_rated_mah);
        p.seed = 1000 + (uint64_t)k;
        struct health_simlog_sink sink = { feed_sample, pool_cycle_end, &r };
        ck_assert_int_eq(health_simlog_run(&pc, &p, 0x5A000001u + (uint32_t)k, &sink), 500);
        sq += r.sq_err_sum;
        n += r.n;
        if (r.max_dcir_rel > max_dcir)
            max_dcir = r.max_dcir_rel;
        if (r.max_soh_err > max_soh)
            max_soh = r.max_soh_err;
        windows += r.est.cap_count;
        dcirs += r.est.dcir_count;
    }
    double rmse = sqrt(sq / n);
    printf("pool: SoH RMSE %.3f pp (max %.2f pp), DCIR max rel err %.2f %% after cycle 10, "
           "%ld capacity windows, %ld DCIR steps over %d cycles\n",
           rmse, max_soh, max_dcir * 100, windows, dcirs, n);
    fflush(stdout);
    ck_assert_msg(rmse <= 1.0, "SoH RMSE %.3f pp", rmse);
    ck_assert_msg(max_dcir <= 0.10, "DCIR max relative error %.3f", max_dcir);
}
END_TEST


/* ---- retirement at end of life ------------------------------------------------------- */

struct eol_run {
    struct health_estimator est;
    struct health_config cfg;
    int cycle_below_80;         /* first cycle whose true SoH < 80 % (0: not yet) */
    int cycle_retired;
    double soh_at_retire;
};

static void eol_sample(void *ctx, const struct health_sample *s, const char *event)
{
    (void)event;
    struct eol_run *r = ctx;
    health_est_feed(&r->est, s);
}

static int eol_cycle_end(void *ctx, const struct health_simlog_truth *t)
{
    struct eol_run *r = ctx;
    if (!r->cycle_below_80 && t->soh < 0.80)
        r->cycle_below_80 = t->cycle;
    char why[128];
    if (!r->cycle_retired && health_judge(&r->cfg, &r->est, true, why, sizeof why) == HEALTH_RETIRE) {
        r->cycle_retired = t->cycle;
        r->soh_at_retire = t->soh;
    }
    /* Run a little past retirement so a late or missing decision shows. */
    return r->cycle_retired && t->cycle > r->cycle_retired + 5 && r->cycle_below_80;
}

START_TEST(pack_is_retired_within_10_cycles_of_crossing_80_percent)
{
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    struct health_simlog_params p;
    health_simlog_defaults(&p);
    p.cycles = 1500;
    p.fade_k = 0.03 + 0.01 * _i;    /* reaches 80 % after roughly 100-250 cycles */
    p.seed = 77 + (uint64_t)_i;
    struct eol_run r;
    memset(&r, 0, sizeof r);
    health_config_defaults(&r.cfg);
    health_est_init(&r.est, &r.cfg, pc.battery_cells, pc.battery_rated_mah);
    struct health_simlog_sink sink = { eol_sample, eol_cycle_end, &r };
    health_simlog_run(&pc, &p, 0x5A100000u + (uint32_t)_i, &sink);
    printf("eol fade_k %.3f: true SoH < 80 %% at cycle %d, retired at cycle %d (true SoH %.2f %%)\n",
           p.fade_k, r.cycle_below_80, r.cycle_retired, r.soh_at_retire * 100);
    fflush(stdout);
    ck_assert_int_gt(r.cycle_below_80, 0);
    ck_assert_int_gt(r.cycle_retired, 0);
    ck_assert_msg(r.soh_at_retire <= 0.82, "retired at true SoH %.3f", r.soh_at_retire);
    ck_assert_msg(r.cycle_retired - r.cycle_below_80 <= 10, "retired %d cycles after crossing",
                  r.cycle_retired - r.cycle_below_80);
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
    if (r->cycle + 1 == r->skew_cycle)
        x.current_A *= 1.05;
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
        struct health_sample s = { i * 120.0, 6 * health_ocv_from_soc(0.4), 0.0, 22.0 };
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
    { { 1500, NAN, 0, 22 }, HEALTH_REJ_NAN },
    { { 1500, 22.0, NAN, 22 }, HEALTH_REJ_NAN },
    { { NAN, 22.0, 0, 22 }, HEALTH_REJ_NAN },
    { { 1500, 22.0, 0, INFINITY }, HEALTH_REJ_NAN },
    { { 1500, 65.535, 0, 22 }, HEALTH_REJ_VOLTAGE },    /* 0xFFFF mV taken at face value */
    { { 1500, 0.0, 0, 22 }, HEALTH_REJ_VOLTAGE },
    { { 1500, 1000.0, 0, 22 }, HEALTH_REJ_VOLTAGE },
    { { 1500, 22.0, 655.35, 22 }, HEALTH_REJ_CURRENT },
    { { 1500, 22.0, -5000, 22 }, HEALTH_REJ_CURRENT },
    { { 1500, 22.0, 0, 3276.7 }, HEALTH_REJ_TEMP },     /* open NTC at face value */
    { { 1500, 22.0, 0, -273 }, HEALTH_REJ_TEMP },
    { { 100, 22.0, 0, 22 }, HEALTH_REJ_TIME },           /* back in time */
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
    bs.current_consumed = -5;       /* negative capacity */
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
        struct health_sample s = { t, 6 * 3.9, -5.0, 25.0 };
        ck_assert_uint_eq(health_est_feed(&e, &s) & HEALTH_EV_REJECTED, 0);
    }
    double cap = e.cap_mAh;
    for (int i = 0; i < 12; i++) {
        t += 120;
        struct health_sample s = { t, 6 * health_ocv_from_soc(0.9), 0.0, 25.0 };
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
    tcase_add_test(tc, pool_of_8_packs_500_cycles_meets_accuracy);
    tcase_add_loop_test(tc, pack_is_retired_within_10_cycles_of_crossing_80_percent, 0, 4);
    tcase_add_test(tc, one_miscounted_charge_moves_soh_little);
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
