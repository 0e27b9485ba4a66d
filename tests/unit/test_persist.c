/* The daemon's persistence worker (controller/swapd/persist.c) on a real registry:
 * a move the store refuses for a reason that may pass (full disk, I/O error) stays at
 * the head of the queue and is retried in order until it commits; the acknowledgement
 * is per move, so a later success never stands in for an earlier failure.
 *
 * Storage failures are injected by wrapping registry_move_battery at link time
 * (-Wl,--wrap); the real function runs once the injected failures are used up. */
#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "faultvfs.h"
#include "proc.h"
#include "registry/registry.h"
#include "swapd/persist.h"

int __real_registry_move_battery(struct registry *reg, uint32_t tag, struct registry_location to,
                                 const char *step_name, int64_t swap_id, int64_t step_start_ms, int64_t now_ms);
int __wrap_registry_move_battery(struct registry *reg, uint32_t tag, struct registry_location to,
                                 const char *step_name, int64_t swap_id, int64_t step_start_ms, int64_t now_ms);

static atomic_int fail_left;       /* storage failures still to inject */
static atomic_int attempts;

int __wrap_registry_move_battery(struct registry *reg, uint32_t tag, struct registry_location to,
                                 const char *step_name, int64_t swap_id, int64_t step_start_ms, int64_t now_ms)
{
    atomic_fetch_add(&attempts, 1);
    if (atomic_load(&fail_left) != 0) {
        if (atomic_load(&fail_left) > 0)
            atomic_fetch_sub(&fail_left, 1);
        return REGISTRY_EDB;  /* what SQLITE_FULL / SQLITE_IOERR become */
    }
    return __real_registry_move_battery(reg, tag, to, step_name, swap_id, step_start_ms, now_ms);
}

static char dir[256], db_path[300];
static struct persist *p;

static void setup(void)
{
    atomic_store(&fail_left, 0);
    atomic_store(&attempts, 0);
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "persist"), 0);
    snprintf(db_path, sizeof db_path, "%s/station.db", dir);
    struct registry_error err;
    struct registry *reg = registry_open(db_path, REGISTRY_OPEN_CREATE, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
    for (uint32_t t = 1; t <= 3; t++) {
        struct registry_battery b = { .tag = t, .rated_mah = 5000, .cells = 6, .capacity_mah = 5000,
                                      .capacity_sd_mah = 150, .dcir_mohm = 75, .dcir_sd_mohm = 15,
                                      .peak_temp_degC = NAN, .loc = { REGISTRY_PLACE_SLOT, (int)t } };
        snprintf(b.serial, sizeof b.serial, "SWP-%08X", t);
        ck_assert_int_eq(registry_add_battery(reg, &b, 1000), 0);
    }
    char e[256];
    p = persist_start(reg, e, sizeof e);
    ck_assert_msg(p != NULL, "%s", e);
}

static void teardown(void)
{
    persist_stop(p);
    p = NULL;
    proc_rmtree(dir);
}

static void move(uint32_t seq, uint32_t tag, struct registry_location to)
{
    struct persist_job j = { .kind = PERSIST_MOVE, .t_ms = 2000 + seq, .seq = seq, .tag = tag, .to = to,
                             .step_start_ms = 2000 };
    snprintf(j.step, sizeof j.step, "step%u", (unsigned)seq);
    ck_assert_int_eq(persist_submit(p, &j), 0);
}

static void nap_ms(int ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

/* Polls (the worker is a thread) until cond holds or 5 s pass. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        long long end_ = proc_now_ms() + 5000;                                                     \
        while (!(cond) && proc_now_ms() < end_)                                                    \
            nap_ms(2);                                                                             \
    } while (0)

static struct registry_location where(uint32_t tag)
{
    struct registry_error err;
    struct registry *r = registry_open(db_path, REGISTRY_OPEN_READONLY, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    struct registry_battery b;
    ck_assert_int_eq(registry_get_battery(r, tag, &b), 0);
    registry_close(r);
    return b.loc;
}

static const struct registry_location GRIP_A = { REGISTRY_PLACE_GRIPPER_A, 0 };
static const struct registry_location GRIP_B = { REGISTRY_PLACE_GRIPPER_B, 0 };

START_TEST(failed_move_is_retried_in_order_until_it_commits)
{
    atomic_store(&fail_left, -1);           /* the disk is full until further notice */
    move(1, 1, GRIP_A);
    move(2, 2, GRIP_B);
    WAIT_FOR(persist_blocked(p, NULL, 0) && atomic_load(&attempts) >= 3);
    char why[256];
    ck_assert(persist_blocked(p, why, sizeof why));
    ck_assert_msg(strstr(why, "battery move"), "reason: %s", why);
    ck_assert_uint_eq(persist_committed_seq(p), 0);
    /* Nothing overtook the failing move: pack 2 is still in its slot. */
    ck_assert_int_eq(where(2).place, REGISTRY_PLACE_SLOT);
    ck_assert_int_eq(where(1).place, REGISTRY_PLACE_SLOT);
    atomic_store(&fail_left, 0);            /* space freed */
    WAIT_FOR(persist_committed_seq(p) == 2);
    ck_assert_uint_eq(persist_committed_seq(p), 2);
    ck_assert(!persist_blocked(p, NULL, 0));
    ck_assert_int_eq(where(1).place, REGISTRY_PLACE_GRIPPER_A);
    ck_assert_int_eq(where(2).place, REGISTRY_PLACE_GRIPPER_B);
}
END_TEST

START_TEST(later_success_does_not_acknowledge_an_earlier_failure)
{
    /* Move 1 is refused for good (gripper A already holds pack 3 after move 1's
     * predecessor); move 2 commits. The scan must not be told 2. */
    move(1, 3, GRIP_A);
    WAIT_FOR(persist_committed_seq(p) == 1);
    ck_assert_uint_eq(persist_committed_seq(p), 1);
    move(2, 1, GRIP_A);                     /* occupied: refused, not retried */
    move(3, 2, GRIP_B);
    WAIT_FOR(where(2).place == REGISTRY_PLACE_GRIPPER_B);
    ck_assert_int_eq(where(2).place, REGISTRY_PLACE_GRIPPER_B);
    nap_ms(50);
    ck_assert_uint_eq(persist_committed_seq(p), 1);
    ck_assert(!persist_blocked(p, NULL, 0));
    char why[256];
    ck_assert_uint_ge(persist_failures(p, why, sizeof why), 1);
    ck_assert_msg(strstr(why, "battery move"), "reason: %s", why);
}
END_TEST

START_TEST(jobs_behind_a_failing_move_wait_for_it)
{
    atomic_store(&fail_left, 3);            /* three failures, then the disk recovers */
    move(1, 1, GRIP_A);
    struct persist_job ev = { .kind = PERSIST_EVENT, .t_ms = 5000, .severity = REGISTRY_INFO };
    snprintf(ev.source, sizeof ev.source, "test");
    snprintf(ev.text, sizeof ev.text, "after the move");
    ck_assert_int_eq(persist_submit(p, &ev), 0);
    move(2, 1, GRIP_B);
    WAIT_FOR(persist_committed_seq(p) == 2);
    ck_assert_uint_eq(persist_committed_seq(p), 2);
    ck_assert_int_eq(atomic_load(&attempts), 5);   /* 3 failed + 2 committed */
    /* Applied in order: A first, then B (a reversed order would leave it in A). */
    ck_assert_int_eq(where(1).place, REGISTRY_PLACE_GRIPPER_B);
}
END_TEST

START_TEST(stop_while_blocked_returns)
{
    atomic_store(&fail_left, -1);
    move(1, 1, GRIP_A);
    WAIT_FOR(persist_blocked(p, NULL, 0));
    long long t0 = proc_now_ms();
    persist_stop(p);
    p = NULL;
    ck_assert_int_lt(proc_now_ms() - t0, 3000);
}
END_TEST

/* The worker without its thread (as the campaign runs it), on a store whose commits fail
 * like a full disk: a batch that raised an alarm is rolled back and run again, and the
 * alarm must be raised again then, not taken for raised by its rolled-back row id (the
 * alarm was lost and its clear refused: "alarm N does not exist"). */
static int count_alarm(const struct registry_alarm *a, void *ctx)
{
    int *n = ctx;
    if (!strcmp(a->code, "commit_timeout") && a->cleared_ms == 3000)
        (*n)++;
    return 0;
}

START_TEST(an_alarm_of_a_batch_that_failed_to_commit_is_raised_again)
{
    teardown();   /* this test opens its own registry through the failing VFS */
    ck_assert_int_eq(faultvfs_install(), 0);
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "persist"), 0);
    snprintf(db_path, sizeof db_path, "%s/station.db", dir);
    struct registry_error err;
    struct registry *reg = registry_open(db_path, REGISTRY_OPEN_CREATE, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
    p = persist_start_manual(reg);
    ck_assert_ptr_nonnull(p);
    struct persist_job raise = { .kind = PERSIST_ALARM_RAISE, .t_ms = 1000 };
    snprintf(raise.code, sizeof raise.code, "commit_timeout");
    snprintf(raise.text, sizeof raise.text, "a move was not committed in time");
    ck_assert_int_eq(persist_submit(p, &raise), 0);
    faultvfs_set(SQLITE_FULL);
    ck_assert(persist_run(p, 0));
    ck_assert(persist_blocked(p, NULL, 0));
    ck_assert_uint_gt(faultvfs_refused(), 0);
    faultvfs_set(0);
    ck_assert(!persist_run(p, 10));     /* the back-off: 50 ms */
    ck_assert(persist_run(p, 2000));
    ck_assert(!persist_blocked(p, NULL, 0));
    struct persist_job clear = { .kind = PERSIST_ALARM_CLEAR, .t_ms = 3000 };
    snprintf(clear.code, sizeof clear.code, "commit_timeout");
    ck_assert_int_eq(persist_submit(p, &clear), 0);
    char why[256];
    unsigned failures = persist_failures(p, why, sizeof why);
    ck_assert(persist_run(p, 3000));
    ck_assert_msg(persist_failures(p, why, sizeof why) == failures, "%s", why);
    persist_stop(p);
    p = NULL;
    reg = registry_open(db_path, REGISTRY_OPEN_READONLY, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
    int n = 0;
    ck_assert_int_ge(registry_list_alarms(reg, 0, false, count_alarm, &n), 0);
    registry_close(reg);
    ck_assert_int_eq(n, 1);   /* raised once, cleared at 3000 */
    proc_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("persist");
    TCase *tc = tcase_create("retry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, failed_move_is_retried_in_order_until_it_commits);
    tcase_add_test(tc, later_success_does_not_acknowledge_an_earlier_failure);
    tcase_add_test(tc, jobs_behind_a_failing_move_wait_for_it);
    tcase_add_test(tc, stop_while_blocked_returns);
    tcase_add_test(tc, an_alarm_of_a_batch_that_failed_to_commit_is_raised_again);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
