/* Hand-out, charging and retirement policy, and its configuration table. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"
#include "proc.h"

static struct health_config cfg;

static void setup(void)
{
    health_config_defaults(&cfg);
}

static struct health_pack good_pack(uint32_t tag)
{
    struct health_pack p = {
        .tag = tag, .in_service = true, .fault = false, .tag_readable = true,
        .soc = 0.95, .soh = 0.95, .rated_mAh = 5000, .efc = 100, .temp_degC = 24,
        .rest_s = 3600, .since_charge_end_s = 3600,
    };
    return p;
}

START_TEST(shipped_health_ini_equals_defaults)
{
    char path[512];
    struct health_config loaded, defaults;
    struct cfg_error err;
    proc_config("health.ini", path, sizeof path);
    memset(&loaded, 0, sizeof loaded);
    ck_assert_msg(health_config_load(path, &loaded, &err) == 0, "%s", err.msg);
    health_config_defaults(&defaults);
    ck_assert_int_eq(memcmp(&loaded, &defaults, sizeof loaded), 0);
    ck_assert_double_eq_tol(loaded.retire_soh, 0.80, 1e-12);
}
END_TEST

static const struct {
    const char *text;
    const char *expect;
} bad_ini[] = {
    { "[retirement]\nsoh = 1.5\n", "t.ini:2: [retirement] soh = \"1.5\": out of range" },
    { "[retirement]\nsoh = nan\n", "not a finite number" },
    { "[retirement]\nconfirmations = many\n", "not an integer" },
    { "[estimator]\nmin_rest = 5\n", "unknown key" },
    { "[estimater]\nmin_rest_s = 5\n", "unknown section" },
};

START_TEST(bad_policy_value_is_refused)
{
    struct health_config c;
    struct cfg_error err;
    ck_assert_int_eq(cfg_load_string("t.ini", bad_ini[_i].text, health_policy_keys,
                                     health_policy_n_keys, &c, &err), -1);
    ck_assert_msg(strstr(err.msg, bad_ini[_i].expect), "got \"%s\"", err.msg);
}
END_TEST

START_TEST(inconsistent_windows_are_refused)
{
    struct health_config c;
    struct cfg_error err;
    ck_assert_int_eq(cfg_load_string("t.ini", "[estimator]\ndcir_soc_min = 0.9\n", health_policy_keys,
                                     health_policy_n_keys, &c, &err), 0);
    ck_assert_int_eq(health_config_check(&c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "dcir_soc_min must be below dcir_soc_max"));
}
END_TEST

START_TEST(policy_keys_load_as_one_of_several_tables)
{
    struct health_config c;
    struct cfg_table tables[] = { { health_policy_keys, health_policy_n_keys, &c } };
    struct cfg_error err;
    ck_assert_int_eq(cfg_load_tables_string("s.ini", "[retirement]\nsoh = 0.75\n", tables, 1, &err), 0);
    ck_assert_double_eq_tol(c.retire_soh, 0.75, 1e-12);
}
END_TEST

static void spoil_status(struct health_pack *p) { p->in_service = false; }
static void spoil_fault(struct health_pack *p) { p->fault = true; }
static void spoil_tag(struct health_pack *p) { p->tag_readable = false; }
static void spoil_temp_unknown(struct health_pack *p) { p->temp_degC = NAN; }
static void spoil_cold(struct health_pack *p) { p->temp_degC = -25; }
static void spoil_hot(struct health_pack *p) { p->temp_degC = 40; }
static void spoil_fresh(struct health_pack *p) { p->since_charge_end_s = 30; }
static void spoil_busy(struct health_pack *p) { p->rest_s = 10; }
static void spoil_empty(struct health_pack *p) { p->soc = 0.5; }

static const struct {
    void (*spoil)(struct health_pack *p);
    const char *why;
} spoilers[] = {
    { spoil_status, "not in service" },
    { spoil_fault, "fault" },
    { spoil_tag, "tag unreadable" },
    { spoil_temp_unknown, "unknown reading" },
    { spoil_cold, "outside the discharge window" },
    { spoil_hot, "still cooling" },
    { spoil_fresh, "still cooling" },
    { spoil_busy, "not rested" },
    { spoil_empty, "below the" },
};

START_TEST(ineligible_pack_is_refused_with_reason)
{
    struct health_pack p = good_pack(1);
    char why[128];
    ck_assert_int_eq(health_pack_eligible(&cfg, &p, 0.5, why, sizeof why), 0);
    spoilers[_i].spoil(&p);
    ck_assert_int_eq(health_pack_eligible(&cfg, &p, 0.5, why, sizeof why), -1);
    ck_assert_msg(strstr(why, spoilers[_i].why), "got \"%s\"", why);
}
END_TEST

START_TEST(most_usable_energy_is_chosen)
{
    struct health_pack packs[3] = { good_pack(1), good_pack(2), good_pack(3) };
    packs[0].soh = 0.85;
    packs[1].soh = 0.97;
    packs[2].soh = 0.99;
    packs[2].fault = true;
    ck_assert_int_eq(health_choose_pack(&cfg, packs, 3, 0.5), 1);
}
END_TEST

START_TEST(tie_goes_to_fewest_cycles)
{
    struct health_pack packs[3] = { good_pack(1), good_pack(2), good_pack(3) };
    packs[0].efc = 300;
    packs[1].efc = 120;
    packs[1].soh = 0.948;       /* 0.2 % less energy: a tie */
    packs[2].efc = 200;
    ck_assert_int_eq(health_choose_pack(&cfg, packs, 3, 0.5), 1);
}
END_TEST

START_TEST(no_eligible_pack_gives_minus_one)
{
    struct health_pack packs[2] = { good_pack(1), good_pack(2) };
    packs[0].soc = packs[1].soc = 0.3;
    ck_assert_int_eq(health_choose_pack(&cfg, packs, 2, 0.5), -1);
    ck_assert_int_eq(health_choose_pack(&cfg, packs, 0, 0.5), -1);
}
END_TEST

START_TEST(charging_is_just_in_time)
{
    struct health_pack p = good_pack(1);
    p.soc = 0.4;
    /* 0.6 h CC (2160 s) + 20 min CV + 15 min margin = 4260 s */
    ck_assert_int_eq(health_charge_decision(&cfg, &p, 4200, 0), HEALTH_CHARGE_FULL);
    ck_assert_int_eq(health_charge_decision(&cfg, &p, 4300, 0), HEALTH_CHARGE_OFF);
    ck_assert_int_eq(health_charge_decision(&cfg, &p, -1, 0), HEALTH_CHARGE_OFF);
}
END_TEST

/* A pack that is not full rests before its charge (its rested OCV closes the window of the
 * flight that emptied it and opens the charge's), unless it is needed sooner; a full pack
 * is left alone. */
START_TEST(pack_rests_before_a_charge_not_needed_sooner)
{
    struct health_pack p = good_pack(1);
    p.soc = 0.4;
    p.rest_s = cfg.rest_before_charge_s - 1;
    ck_assert_int_eq(health_charge_decision(&cfg, &p, -1, 0), HEALTH_CHARGE_REST);
    ck_assert_int_eq(health_charge_decision(&cfg, &p, 10000, 0), HEALTH_CHARGE_REST);
    ck_assert_int_eq(health_charge_decision(&cfg, &p, 0, 0), HEALTH_CHARGE_FULL);
    p.rest_s = cfg.rest_before_charge_s;
    ck_assert_int_eq(health_charge_decision(&cfg, &p, -1, 0), HEALTH_CHARGE_OFF);
    ck_assert_int_eq(health_charge_decision(&cfg, &p, 0, 0), HEALTH_CHARGE_FULL);
    p.soc = 1.0;
    p.rest_s = 0;
    ck_assert_int_eq(health_charge_decision(&cfg, &p, -1, 0), HEALTH_CHARGE_OFF);
}
END_TEST

START_TEST(idle_pack_goes_to_storage)
{
    struct health_pack p = good_pack(1);
    ck_assert_int_eq(health_charge_decision(&cfg, &p, -1, 9 * 86400.0), HEALTH_CHARGE_OFF);
    ck_assert_int_eq(health_charge_decision(&cfg, &p, -1, 11 * 86400.0), HEALTH_CHARGE_STORAGE);
}
END_TEST

START_TEST(never_charged_outside_window_or_with_fault)
{
    struct health_pack p = good_pack(1);
    p.soc = 0.2;
    p.temp_degC = 50;
    ck_assert_int_eq(health_charge_decision(&cfg, &p, 10, 0), HEALTH_CHARGE_OFF);
    p.temp_degC = -5;
    ck_assert_int_eq(health_charge_decision(&cfg, &p, 10, 0), HEALTH_CHARGE_OFF);
    p.temp_degC = NAN;
    ck_assert_int_eq(health_charge_decision(&cfg, &p, 10, 0), HEALTH_CHARGE_OFF);
    p.temp_degC = 20;
    p.fault = true;
    ck_assert_int_eq(health_charge_decision(&cfg, &p, 10, 0), HEALTH_CHARGE_OFF);
}
END_TEST

static struct health_estimator estimator(void)
{
    struct health_estimator e;
    health_est_init(&e, &cfg, 6, 5000);
    return e;
}

START_TEST(new_pack_is_kept)
{
    struct health_estimator e = estimator();
    char why[128];
    ck_assert_int_eq(health_judge(&cfg, &e, true, why, sizeof why), HEALTH_KEEP);
}
END_TEST

START_TEST(resistance_doubled_retires)
{
    struct health_estimator e = estimator();
    e.dcir_count = cfg.dcir_new_count + 10;
    e.dcir_new_mohm = 70;
    e.dcir_var = 1.0;
    e.dcir_mohm = 135;
    char why[128];
    ck_assert_int_eq(health_judge(&cfg, &e, true, why, sizeof why), HEALTH_KEEP);
    e.dcir_mohm = 142;
    ck_assert_int_eq(health_judge(&cfg, &e, true, why, sizeof why), HEALTH_RETIRE);
    ck_assert_ptr_nonnull(strstr(why, "DCIR"));
}
END_TEST

START_TEST(low_soh_needs_confidence)
{
    struct health_estimator e = estimator();
    e.cap_count = 20;
    e.cap_mAh = 0.795 * 5000;
    e.P[0][0] = 50.0 * 50.0;    /* sd 1 %: the upper bound is still above 80 % */
    e.below_count = 1;
    char why[128];
    ck_assert_int_eq(health_judge(&cfg, &e, true, why, sizeof why), HEALTH_KEEP);
    e.below_count = cfg.retire_confirmations;
    ck_assert_int_eq(health_judge(&cfg, &e, true, why, sizeof why), HEALTH_RETIRE);
    ck_assert_ptr_nonnull(strstr(why, "SoH"));
}
END_TEST

START_TEST(over_temperature_and_unreadable_tag_quarantine)
{
    struct health_estimator e = estimator();
    char why[128];
    ck_assert_int_eq(health_judge(&cfg, &e, false, why, sizeof why), HEALTH_QUARANTINE);
    ck_assert_ptr_nonnull(strstr(why, "tag"));
    e.peak_temp_degC = 70;
    ck_assert_int_eq(health_judge(&cfg, &e, true, why, sizeof why), HEALTH_QUARANTINE);
    ck_assert_ptr_nonnull(strstr(why, "over-temperature"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("health_policy");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, shipped_health_ini_equals_defaults);
    tcase_add_test(tc, pack_rests_before_a_charge_not_needed_sooner);
    tcase_add_loop_test(tc, bad_policy_value_is_refused, 0, (int)(sizeof bad_ini / sizeof bad_ini[0]));
    tcase_add_test(tc, inconsistent_windows_are_refused);
    tcase_add_test(tc, policy_keys_load_as_one_of_several_tables);
    suite_add_tcase(s, tc);
    TCase *pol = tcase_create("policy");
    tcase_add_checked_fixture(pol, setup, NULL);
    tcase_add_loop_test(pol, ineligible_pack_is_refused_with_reason, 0,
                        (int)(sizeof spoilers / sizeof spoilers[0]));
    tcase_add_test(pol, most_usable_energy_is_chosen);
    tcase_add_test(pol, tie_goes_to_fewest_cycles);
    tcase_add_test(pol, no_eligible_pack_gives_minus_one);
    tcase_add_test(pol, charging_is_just_in_time);
    tcase_add_test(pol, idle_pack_goes_to_storage);
    tcase_add_test(pol, never_charged_outside_window_or_with_fault);
    tcase_add_test(pol, new_pack_is_kept);
    tcase_add_test(pol, resistance_doubled_retires);
    tcase_add_test(pol, low_soh_needs_confidence);
    tcase_add_test(pol, over_temperature_and_unreadable_tag_quarantine);
    suite_add_tcase(s, pol);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
