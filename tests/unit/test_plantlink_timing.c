/* The plant link's measured durations: mean and maximum exact, median and 99th
 * percentile within one bin (2 %) and never above the maximum, at the scales of a TCP
 * loop (ms) and an RTU loop (100 ms); an empty histogram says 0. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "plantlink/plantlink_timing.h"

static struct plantlink_timing_hist h;

static void near(double got, double want, const char *what)
{
    ck_assert_msg(got >= want * 0.98 - 1e-9 && got <= want * 1.02 + 1e-9, "%s: %g, want %g +- 2 %%", what, got, want);
}

START_TEST(quantiles_within_a_bin_at_any_scale)
{
    const double scale_us[] = { 1000, 100000 };   /* steps of 1 us and of 100 us */
    for (int k = 0; k < 2; k++) {
        memset(&h, 0, sizeof h);
        for (int i = 1; i <= 1000; i++)
            plantlink_timing_add(&h, i * scale_us[k] / 1000.0);
        struct plantlink_timing t;
        plantlink_timing_get(&h, &t);
        double unit_ms = scale_us[k] / 1000.0 / 1000.0;   /* one step in ms */
        ck_assert_uint_eq(t.n, 1000);
        near(t.mean_ms, 500.5 * unit_ms, "mean");
        near(t.p50_ms, 500 * unit_ms, "p50");
        near(t.p99_ms, 990 * unit_ms, "p99");
        ck_assert(t.max_ms == 1000 * unit_ms);
        ck_assert(t.p99_ms <= t.max_ms && t.p50_ms <= t.p99_ms);
    }
}
END_TEST

START_TEST(one_slow_exchange_in_a_hundred_is_the_p99)
{
    memset(&h, 0, sizeof h);
    for (int i = 0; i < 99; i++)
        plantlink_timing_add(&h, 76000);
    plantlink_timing_add(&h, 108000);
    struct plantlink_timing t;
    plantlink_timing_get(&h, &t);
    near(t.p50_ms, 76, "p50");
    near(t.p99_ms, 76, "p99 of 99 equal and one long");   /* the 99th of 100 */
    ck_assert(t.max_ms == 108);
    plantlink_timing_add(&h, 108000);
    plantlink_timing_get(&h, &t);
    near(t.p99_ms, 108, "p99 with two long of 101");
}
END_TEST

START_TEST(empty_and_out_of_range)
{
    memset(&h, 0, sizeof h);
    struct plantlink_timing t;
    plantlink_timing_get(&h, &t);
    ck_assert(t.n == 0 && t.mean_ms == 0 && t.p99_ms == 0 && t.max_ms == 0);
    plantlink_timing_add(&h, 0);
    plantlink_timing_add(&h, 1e9);   /* beyond the last bin: counted there */
    plantlink_timing_get(&h, &t);
    ck_assert_uint_eq(t.n, 2);
    ck_assert(t.max_ms == 1e6);
    ck_assert(t.p50_ms <= 0.1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plantlink_timing");
    TCase *tc = tcase_create("plantlink_timing");
    tcase_add_test(tc, quantiles_within_a_bin_at_any_scale);
    tcase_add_test(tc, one_slow_exchange_in_a_hundred_is_the_p99);
    tcase_add_test(tc, empty_and_out_of_range);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
