/* The many-drones check (tests/support/dronewait.c) on hand-made drone event logs: it
 * passes a queue served as docs/drone-protocol.md §9 says and catches each way of
 * breaking it, so the integration test and the bench built on it can fail. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dronewait.h"
#include "proc.h"

static char dir[256], path[320];
static FILE *out;

static void begin(void)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swap-dronewait"), 0);
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    out = fopen(path, "w");
    ck_assert_ptr_nonnull(out);
}

static void ev(double ms, int sysid, const char *rest)
{
    fprintf(out, "{\"mono_ms\":%.1f,\"t_ms\":0,\"sysid\":%d,%s}\n", ms, sysid, rest);
}

/* A drone asks at ms and is queued at position pos (0: accepted at once). */
static void ask(double ms, int sysid, int pos, bool critical)
{
    char r[128];
    snprintf(r, sizeof r, "\"event\":\"request\",\"attempt\":1,\"critical\":%s", critical ? "true" : "false");
    ev(ms, sysid, r);
    ev(ms + 5, sysid, "\"event\":\"state\",\"from\":\"requesting\",\"to\":\"queued\",\"reason\":0");
    if (pos) {
        snprintf(r, sizeof r, "\"event\":\"position\",\"position\":%d", pos);
        ev(ms + 5, sysid, r);
    }
}

static void clear(double ms, int sysid)
{
    ev(ms, sysid, "\"event\":\"state\",\"from\":\"queued\",\"to\":\"landing\",\"reason\":0");
}

static unsigned check(struct dwait_log *log, double now, double per_pos, uint8_t *q, unsigned *nq, char *why)
{
    fclose(out);
    ck_assert_int_eq(dwait_load(path, log), 0);
    ck_assert_uint_eq(log->bad_lines, 0);
    unsigned bad = dwait_check(log, now, 50, per_pos, 5000, q, nq, why, 256);
    proc_rmtree(dir);
    return bad;
}

static struct dwait_log log_;

START_TEST(served_in_order_passes)
{
    begin();
    ask(0, 10, 0, false);
    clear(20, 10);
    ask(100, 11, 1, false);
    ask(200, 12, 2, false);
    ask(300, 13, 1, true); /* critical: ahead of 11 and 12 */
    clear(1000, 13);
    clear(2000, 11);
    uint8_t q[8];
    unsigned nq = 0;
    char why[256];
    ck_assert_msg(check(&log_, 2500, 180000, q, &nq, why) == 0, "%s", why);
    ck_assert_uint_eq(nq, 1);
    ck_assert_uint_eq(q[0], 12);
    ck_assert_uint_eq(dwait_cleared(&log_), 3);
}
END_TEST

START_TEST(out_of_order_is_caught)
{
    begin();
    ask(0, 10, 0, false);
    clear(20, 10);
    ask(100, 11, 1, false);
    ask(200, 12, 2, false);
    clear(1000, 12);
    char why[256];
    ck_assert_uint_ge(check(&log_, 1500, 180000, NULL, NULL, why), 1);
    ck_assert_ptr_nonnull(strstr(why, "drone 12 cleared"));
}
END_TEST

START_TEST(critical_passed_over_is_caught)
{
    begin();
    ask(0, 10, 0, false);
    clear(20, 10);
    ask(100, 11, 1, false);
    ask(300, 13, 1, true);
    clear(1000, 11);
    char why[256];
    ck_assert_uint_ge(check(&log_, 1500, 180000, NULL, NULL, why), 1);
    ck_assert_ptr_nonnull(strstr(why, "critical drone 13"));
}
END_TEST

START_TEST(wrong_position_is_caught)
{
    begin();
    ask(0, 10, 0, false);
    clear(20, 10);
    ask(100, 11, 1, false);
    ask(200, 12, 1, false); /* should be 2 */
    char why[256];
    ck_assert_uint_ge(check(&log_, 500, 180000, NULL, NULL, why), 1);
    ck_assert_ptr_nonnull(strstr(why, "told position 1; the queue gives 2"));
}
END_TEST

START_TEST(broken_promise_is_caught)
{
    begin();
    ask(0, 10, 0, false);
    clear(20, 10);
    ask(100, 11, 1, false);
    clear(5000, 11); /* 4.9 s at position 1, with 1 s promised per position */
    ask(200, 12, 2, false);
    char why[256];
    ck_assert_uint_ge(check(&log_, 5100, 1000, NULL, NULL, why), 1);
    ck_assert_ptr_nonnull(strstr(why, "drone 11 waited"));
}
END_TEST

START_TEST(silent_drone_leaves_the_queue)
{
    begin();
    ask(0, 10, 0, false);
    clear(20, 10);
    ask(100, 11, 1, false);
    ask(200, 12, 2, false);
    ev(300, 11, "\"event\":\"misbehave\",\"kind\":\"link_loss\"");
    ev(5400, 12, "\"event\":\"position\",\"position\":1");
    uint8_t q[8];
    unsigned nq = 0;
    char why[256];
    fclose(out);
    ck_assert_int_eq(dwait_load(path, &log_), 0);
    dwait_drop(&log_, 11, 5300);
    ck_assert_msg(dwait_check(&log_, 6000, 50, 180000, 5000, q, &nq, why, sizeof why) == 0, "%s", why);
    ck_assert_uint_eq(nq, 1);
    ck_assert_uint_eq(q[0], 12);
    /* Not yet dropped at 5000 ms: still ahead of 12. */
    ck_assert_uint_eq(dwait_check(&log_, 5000, 50, 180000, 5000, q, &nq, why, sizeof why), 0);
    ck_assert_uint_eq(nq, 2);
    ck_assert_uint_eq(q[0], 11);
    proc_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dronewait");
    TCase *tc = tcase_create("replay");
    tcase_add_test(tc, served_in_order_passes);
    tcase_add_test(tc, out_of_order_is_caught);
    tcase_add_test(tc, critical_passed_over_is_caught);
    tcase_add_test(tc, wrong_position_is_caught);
    tcase_add_test(tc, broken_promise_is_caught);
    tcase_add_test(tc, silent_drone_leaves_the_queue);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
