/* Configuration loader: defaults, every kind of bad value, file:line in messages. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "config/cfg.h"
#include "health/health.h"
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

/* ---- lines of any length, decimal integers, NUL bytes, lines of checks across keys --- */

struct wide {
    char text[1024];
    int n;
    int lo, hi;
};
#define W struct wide
static const struct cfg_key wide_keys[] = {
    CFG_S("s", "text", W, text, "", "a long string"),
    CFG_I("s", "n", W, n, 0, 1000, "1", "", "a number"),
    CFG_I("r", "lo", W, lo, 0, 1000, "1", "", "low"),
    CFG_I("r", "hi", W, hi, 0, 1000, "2", "", "high"),
};
#undef W

static int load_wide(const char *text, struct wide *w, struct cfg_error *err, struct cfg_where *where)
{
    const struct cfg_table t = { wide_keys, sizeof wide_keys / sizeof wide_keys[0], w };
    return cfg_load_tables_string_where("w.ini", text, &t, 1, err, where);
}

/* "X" repeated n times (static storage; one at a time). */
static const char *repeat(char ch, size_t n)
{
    static char buf[CFG_LINE_MAX + 16];
    ck_assert_uint_lt(n, sizeof buf);
    memset(buf, ch, n);
    buf[n] = 0;
    return buf;
}

START_TEST(a_long_comment_keeps_the_line_numbers)
{
    /* libinih as packaged cuts lines at 200 bytes and read the rest as a line of its own */
    static char text[3 * CFG_LINE_MAX];
    snprintf(text, sizeof text, "; %s\n[s]\nn = 2000\n", repeat('c', 400));
    struct wide w;
    struct cfg_error err;
    ck_assert_int_eq(load_wide(text, &w, &err, NULL), -1);
    ck_assert_msg(strstr(err.msg, "w.ini:3: [s] n = \"2000\": out of range"), "%s", err.msg);
    ck_assert_int_eq(err.n_errors, 1);
}
END_TEST

START_TEST(a_long_value_is_read_whole)
{
    static char text[3 * CFG_LINE_MAX], want[CFG_LINE_MAX + 64];
    snprintf(want, sizeof want, "/srv/%s/swapd.db", repeat('d', 900));
    snprintf(text, sizeof text, "[s]\n  text =  %s   ; where it lives\nn = 7\n", want);
    struct wide w;
    struct cfg_error err;
    struct cfg_where where;
    ck_assert_msg(load_wide(text, &w, &err, &where) == 0, "%s", err.msg);
    ck_assert_str_eq(w.text, want);
    ck_assert_int_eq(w.n, 7);
    ck_assert_int_eq(cfg_where_line(&where, "s", "text"), 2);
    ck_assert_int_eq(cfg_where_line(&where, "s", "n"), 3);
    /* a long section header line (its comment) and a long bad value */
    snprintf(text, sizeof text, "[r] ; %s\nlo = 3\n[s]\nn = 1", repeat('c', 300));
    strcat(text, repeat('0', 300));
    strcat(text, "\n");
    ck_assert_int_eq(load_wide(text, &w, &err, NULL), -1);
    ck_assert_msg(strstr(err.msg, "w.ini:4: [s] n = \"1000"), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "not an integer"), "%s", err.msg);
    /* a value too long for its field */
    snprintf(text, sizeof text, "[s]\ntext = %s\n", repeat('t', 2000));
    ck_assert_int_eq(load_wide(text, &w, &err, NULL), -1);
    ck_assert_msg(strstr(err.msg, "w.ini:2: [s] text = ") && strstr(err.msg, "too long"), "%s", err.msg);
}
END_TEST

START_TEST(a_long_line_that_is_no_setting_is_a_syntax_error_at_its_line)
{
    static char text[3 * CFG_LINE_MAX];
    struct wide w;
    struct cfg_error err;
    snprintf(text, sizeof text, "[s]\nn = 3\n%s\n", repeat('w', 500));
    ck_assert_int_eq(load_wide(text, &w, &err, NULL), -1);
    ck_assert_msg(strstr(err.msg, "w.ini:3: syntax error"), "%s", err.msg);
    snprintf(text, sizeof text, "[s]\n[%s\nn = 3\n", repeat('w', 500));
    ck_assert_int_eq(load_wide(text, &w, &err, NULL), -1);
    ck_assert_msg(strstr(err.msg, "w.ini:2: syntax error"), "%s", err.msg);
    snprintf(text, sizeof text, "[s]\ntext = %s\n", repeat('h', CFG_LINE_MAX));
    ck_assert_int_eq(load_wide(text, &w, &err, NULL), -1);
    ck_assert_msg(strstr(err.msg, "w.ini:2: line longer than"), "%s", err.msg);
}
END_TEST

START_TEST(integers_are_decimal)
{
    struct wide w;
    struct cfg_error err;
    ck_assert_msg(load_wide("[s]\nn = 020\n", &w, &err, NULL) == 0, "%s", err.msg);
    ck_assert_int_eq(w.n, 20);
    ck_assert_msg(load_wide("[s]\nn = 0009\n", &w, &err, NULL) == 0, "%s", err.msg);
    ck_assert_int_eq(w.n, 9);
    ck_assert_int_eq(load_wide("[s]\nn = 0x10\n", &w, &err, NULL), -1);
    ck_assert_msg(strstr(err.msg, "w.ini:2: [s] n = \"0x10\": not an integer"), "%s", err.msg);
}
END_TEST

static const char *write_temp(const char *data, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/cfgtest-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

START_TEST(a_nul_byte_is_refused_with_its_line)
{
    static const char data[] = "[s]\nn = 2\ntext = abc\0def\n";
    const char *path = write_temp(data, sizeof data - 1);
    struct wide w;
    struct cfg_error err;
    const struct cfg_table t = { wide_keys, sizeof wide_keys / sizeof wide_keys[0], &w };
    int rc = cfg_load_tables(path, &t, 1, &err);
    unlink(path);
    ck_assert_int_eq(rc, -1);
    char want[128];
    snprintf(want, sizeof want, "%s:3: NUL byte at column 11", path);
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
}
END_TEST

START_TEST(a_directory_is_not_a_configuration)
{
    struct plantcfg c;
    struct cfg_error err;
    ck_assert_int_eq(plantcfg_load("/tmp", &c, &err), -1);
    ck_assert_msg(strstr(err.msg, "/tmp: not a regular file"), "%s", err.msg);
}
END_TEST

START_TEST(a_check_across_keys_names_the_line_of_a_key_involved)
{
    struct wide w;
    struct cfg_error err;
    struct cfg_where where;
    ck_assert_int_eq(load_wide("[r]\n; the range\n\nhi = 5\nlo = 9\n", &w, &err, &where), 0);
    cfg_where_error(&where, &err, "[r] hi must not be below lo");
    ck_assert_str_eq(err.msg, "w.ini:4: [r] hi must not be below lo");
    /* only lo set in the file: its line */
    ck_assert_int_eq(load_wide("[r]\nlo = 9\n", &w, &err, &where), 0);
    cfg_where_error(&where, &err, "[r] hi must not be below lo");
    ck_assert_str_eq(err.msg, "w.ini:2: [r] hi must not be below lo");
    /* a key of another section with the same name does not count */
    ck_assert_int_eq(load_wide("[s]\nn = 4\n", &w, &err, &where), 0);
    cfg_where_error(&where, &err, "[r] n is not a key here");
    ck_assert_str_eq(err.msg, "w.ini: [r] n is not a key here");
    /* plant.ini's own checks */
    const char *text = "[magazine]\nslots = 8\n[axis_x]\nstandby_mm = 550\n";
    const char *path = write_temp(text, strlen(text));
    struct plantcfg c;
    int rc = plantcfg_load(path, &c, &err);
    unlink(path);
    ck_assert_int_eq(rc, -1);
    char want[128];
    snprintf(want, sizeof want, "%s:4: [axis_x] need standby_mm < pad_zone_mm", path);
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
    /* health.ini's own checks (swaphealth) */
    text = "[estimator]\n; a narrow window\ndcir_soc_min = 0.9\n";
    path = write_temp(text, strlen(text));
    struct health_config h;
    rc = health_config_load(path, &h, &err);
    unlink(path);
    ck_assert_int_eq(rc, -1);
    snprintf(want, sizeof want, "%s:3: [estimator] dcir_soc_min must be below dcir_soc_max", path);
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
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
    tcase_add_test(tc, a_long_comment_keeps_the_line_numbers);
    tcase_add_test(tc, a_long_value_is_read_whole);
    tcase_add_test(tc, a_long_line_that_is_no_setting_is_a_syntax_error_at_its_line);
    tcase_add_test(tc, integers_are_decimal);
    tcase_add_test(tc, a_nul_byte_is_refused_with_its_line);
    tcase_add_test(tc, a_directory_is_not_a_configuration);
    tcase_add_test(tc, a_check_across_keys_names_the_line_of_a_key_involved);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
