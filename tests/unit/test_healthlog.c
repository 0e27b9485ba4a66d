/* The charge / flight log's number format: shortest round-trip decimals, plain in the
 * readable range, "-" for what is not finite. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "healthlog/healthlog.h"

START_TEST(numbers_are_shortest_and_plain_in_range)
{
    char b[32];
    ck_assert_str_eq(healthlog_num(b, sizeof b, 0.1), "0.1");
    ck_assert_str_eq(healthlog_num(b, sizeof b, 22.51), "22.51");
    ck_assert_str_eq(healthlog_num(b, sizeof b, 0), "0");
    ck_assert_str_eq(healthlog_num(b, sizeof b, -0.008), "-0.008");
    /* Unix-epoch seconds stay plain, never 1.7e+09 */
    ck_assert_str_eq(healthlog_num(b, sizeof b, 1764633600.25), "1764633600.25");
    ck_assert_ptr_null(strchr(healthlog_num(b, sizeof b, 1e14), 'e'));
    ck_assert_ptr_nonnull(strchr(healthlog_num(b, sizeof b, 1e-7), 'e'));
}
END_TEST

START_TEST(not_finite_is_a_dash)
{
    char b[32];
    ck_assert_str_eq(healthlog_num(b, sizeof b, NAN), "-");
    ck_assert_str_eq(healthlog_num(b, sizeof b, INFINITY), "-");
    ck_assert_str_eq(healthlog_num(b, sizeof b, -INFINITY), "-");
}
END_TEST

START_TEST(every_number_reads_back_exactly)
{
    char b[32];
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v))
            continue;
        ck_assert(strtod(healthlog_num(b, sizeof b, v), NULL) == v);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("healthlog");
    TCase *tc = tcase_create("num");
    tcase_add_test(tc, numbers_are_shortest_and_plain_in_range);
    tcase_add_test(tc, not_finite_is_a_dash);
    tcase_add_test(tc, every_number_reads_back_exactly);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
