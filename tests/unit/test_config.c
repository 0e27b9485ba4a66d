/* Configuration loader: defaults, every kind of bad value, file:line in messages. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "plantcfg/plantcfg.h"

static char configs_dir[512];

static const char *config_path(const char *name)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", configs_dir, name);
    return path;
}

START_TEST(shipped_plant_ini_equals_defaults)
{
    struct plantcfg loaded, defaults;
    struct cfg_error err;
    ck_assert_msg(plantcfg_load(config_path("plant.ini"), &loaded, &err) == 0, "%s", err.msg);
    plantcfg_defaults(&defaults);
    ck_assert_int_eq(loaded.n_slots, 8);
    ck_assert_int_eq(memcmp(&loaded, &defaults, sizeof loaded), 0);
}
END_TEST

static int load(const char *text, struct plantcfg *cfg, struct cfg_error *err)
{
    return cfg_load_string("t.ini", text, plantcfg_keys, plantcfg_n_keys, cfg, err);
}

START_TEST(values_override_defaults)
{
    struct plantcfg c;
    struct cfg_error err;
    ck_assert_int_eq(load("[magazine]\nslots = 12\n[head]\nstroke_s=0.25\n", &c, &err), 0);
    ck_assert_int_eq(c.n_slots, 12);
    ck_assert_double_eq_tol(c.stroke_s, 0.25, 1e-12);
    ck_assert_double_eq_tol(c.wrist_s, 0.6, 1e-12);
}
END_TEST

static const struct {
    const char *text;
    const char *expect; /* substring of the message */
} bad[] = {
    { "[magazine]\nslots = 0\n", "t.ini:2: [magazine] slots = \"0\": out of range (allowed: 1..16 slots)" },
    { "[magazine]\nslots = eight\n", "t.ini:2: [magazine] slots = \"eight\": not an integer" },
    { "[magazine]\nslots = 8x\n", "not an integer" },
    { "[magazine]\n\nslots =\n", "t.ini:3: [magazine] slots = \"\": empty value" },
    { "[head]\nstroke_s = nan\n", "not a finite number" },
    { "[head]\nstroke_s = 1e400\n", "not a finite number" },
    { "[head]\nstroke_s = -1\n", "out of range" },
    { "[head]\nstrok_s = 1\n", "t.ini:2: [head] strok_s: unknown key" },
    { "[hed]\nstroke_s = 1\n", "t.ini:2: [hed]: unknown section" },
    { "[head]\nstroke_s = 1\nstroke_s = 1\n", "t.ini:3: [head] stroke_s: set twice" },
    { "[head\nstroke_s = 1\n", "t.ini:1: syntax error" },
    { "[head]\njust words\n", "t.ini:2: syntax error" },
};

START_TEST(bad_value_is_refused_with_line_and_reason)
{
    struct plantcfg c;
    struct cfg_error err;
    ck_assert_int_eq(load(bad[_i].text, &c, &err), -1);
    ck_assert_msg(strstr(err.msg, bad[_i].expect), "got \"%s\", want \"%s\"", err.msg, bad[_i].expect);
}
END_TEST

START_TEST(missing_file_is_an_error)
{
    struct plantcfg c;
    struct cfg_error err;
    ck_assert_int_eq(plantcfg_load("/nonexistent/plant.ini", &c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/plant.ini: cannot open"));
}
END_TEST

START_TEST(inconsistent_geometry_is_refused)
{
    char path[] = "/tmp/plantcfg-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "[axis_x]\nstandby_mm = 550\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct plantcfg c;
    struct cfg_error err;
    ck_assert_int_eq(plantcfg_load(path, &c, &err), -1);
    unlink(path);
    ck_assert_ptr_nonnull(strstr(err.msg, "standby_mm < pad_zone_mm"));
}
END_TEST

START_TEST(lower_bound_of_default_plant)
{
    struct plantcfg c;
    plantcfg_defaults(&c);
    /* 120 mm at 1000 mm/s^2 never reaches 500 mm/s: triangular, 2*sqrt(0.12) s. */
    ck_assert_double_eq_tol(plantcfg_move_time_s(&c.x, 120), 2 * 0.346410161513775, 1e-9);
    /* 600 mm: 0.5 s up, 0.5 s down (250 mm), 350 mm at 500 mm/s. */
    ck_assert_double_eq_tol(plantcfg_move_time_s(&c.x, 600), 1.7, 1e-9);
    double expect = 1.2 + 0.6 + 0.692820323 + 0.5 + 0.3 + 0.5 + 0.6 + 0.5 + 0.3 + 0.5 + 1.5 + 1.2;
    ck_assert_double_eq_tol(plantcfg_onpad_lower_bound_s(&c), expect, 1e-6);
}
END_TEST

int main(void)
{
    const char *dir = getenv("SWAP_CONFIGS");
    snprintf(configs_dir, sizeof configs_dir, "%s", dir ? dir : "configs");
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, shipped_plant_ini_equals_defaults);
    tcase_add_test(tc, values_override_defaults);
    tcase_add_loop_test(tc, bad_value_is_refused_with_line_and_reason, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, missing_file_is_an_error);
    tcase_add_test(tc, inconsistent_geometry_is_refused);
    tcase_add_test(tc, lower_bound_of_default_plant);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
