/* The daemon's persistence worker (controller/swapd/persist.c) on a real registry:
 * a move the store refuses for a reason that may pass (full disk, I/O error) stays at
 * the head of the queue and is retried in order until it commits; the acknowledgement
 * is per move, so a later success never stands in for an earlier failure.
 *
 * Storage failures are injected by wrapping registry_move_battery at link time
 * (-Wl,--wrap); the real function runs once the injected failures are used up. A
 * batch's commit is failed by wrapping sqlite3_step for the COMMIT statement (what a
 * full disk does to the write-ahead log): SQLite keeps the transaction open and the
 * registry rolls it back, as on a real failure. */
#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "faultvfs.h"
#include "dbread.h"
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

int __real_sqlite3_step(sqlite3_stmt *stmt);
int __wrap_sqlite3_step(sqlite3_stmt *stmt);

static atomic_int commit_fail_left;  /* batch commits still to fail */
static atomic_int commits_failed;
static atomic_int unblocked_at_failed_commit; /* retries at which the store did not read blocked */
static struct persist *p;

int __wrap_sqlite3_step(sqlite3_stmt *stmt)
{
    const char *sql = sqlite3_sql(stmt);
    if (sql && !strcmp(sql, "COMMIT") && atomic_load(&commit_fail_left) > 0) {
        atomic_fetch_sub(&commit_fail_left, 1);
        /* a retry of a batch that failed before: what the scan would read now */
        if (atomic_fetch_add(&commits_failed, 1) > 0 && p && !persist_blocked(p, NULL, 0))
            atomic_fetch_add(&unblocked_at_failed_commit, 1);
        return SQLITE_FULL;
    }
    return __real_sqlite3_step(stmt);
}

static char dir[256], db_path[300];

static void setup(void)
{
    atomic_store(&fail_left, 0);
    atomic_store(&attempts, 0);
    atomic_store(&commit_fail_left, 0);
    atomic_store(&commits_failed, 0);
    atomic_store(&unblocked_at_failed_commit, 0);
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

static void alarm_job(enum persist_kind kind, const char *code, int64_t t_ms)
{
    struct persist_job j = { .kind = kind, .t_ms = t_ms };
    snprintf(j.code, sizeof j.code, "%s", code);
    snprintf(j.text, sizeof j.text, "%s text", code);
    ck_assert_int_eq(persist_submit(p, &j), 0);
    persist_kick(p);
}

struct alarm_rows {
    int n;
    struct registry_alarm a[8];
};

static int collect_alarm(const struct registry_alarm *a, void *ctx)
{
    struct alarm_rows *rows = ctx;
    if (rows->n < 8)
        rows->a[rows->n++] = *a;
    return 0;
}

/* The registry's alarm rows of code (as another connection sees them). */
static int alarm_rows_of(const char *code, struct registry_alarm *first)
{
    struct registry_error err;
    struct registry *r = registry_open(db_path, REGISTRY_OPEN_READONLY, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    struct alarm_rows rows = { 0 };
    ck_assert_int_ge(registry_list_alarms(r, 0, false, collect_alarm, &rows), 0);
    registry_close(r);
    int n = 0;
    for (int i = 0; i < rows.n; i++)
        if (!strcmp(rows.a[i].code, code) && n++ == 0 && first)
            *first = rows.a[i];
    return n;
}

/* Waits until everything queued so far is on the disk: a marker event queued behind it
 * comes back from the committed-event follower. */
static void drain(void)
{
    static int mark;
    char text[32];
    snprintf(text, sizeof text, "mark %d", ++mark);
    /* a warning: written at once, with everything queued before it */
    struct persist_job j = { .kind = PERSIST_EVENT, .t_ms = 9000, .severity = REGISTRY_WARNING };
    snprintf(j.source, sizeof j.source, "test");
    snprintf(j.text, sizeof j.text, "%s", text);
    ck_assert_int_eq(persist_submit(p, &j), 0);
    persist_kick(p);
    bool seen = false;
    long long end = proc_now_ms() + 3000;
    while (!seen && proc_now_ms() < end) {
        struct registry_event ev[16];
        int n = persist_take_events(p, ev, 16, NULL);
        for (int i = 0; i < n; i++)
            seen = seen || !strcmp(ev[i].text, text);
        if (!seen)
            nap_ms(2);
    }
    ck_assert_msg(seen, "%s never committed", text);
}

/* A batch that raised an alarm is rolled back and retried: the alarm is written again
 * (not taken as written because an id was handed out), and its clear later closes that
 * row, not the row that took the rolled-back id (here the next alarm's). */
START_TEST(alarm_raised_in_a_rolled_back_batch_is_written_again)
{
    persist_follow_events(p, 0);
    atomic_store(&commit_fail_left, 1);
    alarm_job(PERSIST_ALARM_RAISE, "first_alarm", 3000);
    drain();
    ck_assert_int_eq(atomic_load(&commit_fail_left), 0);
    alarm_job(PERSIST_ALARM_RAISE, "second_alarm", 3100);
    alarm_job(PERSIST_ALARM_CLEAR, "first_alarm", 3200);
    drain();
    struct registry_alarm first = { 0 }, second = { 0 };
    ck_assert_int_eq(alarm_rows_of("first_alarm", &first), 1);
    ck_assert_int_eq(alarm_rows_of("second_alarm", &second), 1);
    ck_assert_int_ne(first.id, second.id);
    ck_assert_int_eq(first.cleared_ms, 3200);
    ck_assert_int_eq(second.cleared_ms, 0);   /* still active: nobody cleared it */
}
END_TEST

/* A batch that cleared an alarm is rolled back and retried: the clear is written again
 * (the row id was forgotten with the rolled-back clear). */
START_TEST(alarm_cleared_in_a_rolled_back_batch_is_cleared_again)
{
    persist_follow_events(p, 0);
    alarm_job(PERSIST_ALARM_RAISE, "some_alarm", 3000);
    drain();
    atomic_store(&commit_fail_left, 1);
    alarm_job(PERSIST_ALARM_CLEAR, "some_alarm", 3300);
    drain();
    ck_assert_int_eq(atomic_load(&commit_fail_left), 0);
    struct registry_alarm a = { 0 };
    ck_assert_int_eq(alarm_rows_of("some_alarm", &a), 1);
    ck_assert_int_eq(a.cleared_ms, 3300);
}
END_TEST

/* A batch that finished a swap is rolled back and retried: the swap is still the one in
 * progress, so the retry records its end. */
START_TEST(swap_finished_in_a_rolled_back_batch_is_finished_again)
{
    persist_follow_events(p, 0);
    struct persist_job b = { .kind = PERSIST_BEGIN_SWAP, .t_ms = 4000, .drone = 2 };
    ck_assert_int_eq(persist_submit(p, &b), 0);
    drain();
    int64_t id = persist_swap_id(p);
    ck_assert_int_gt(id, 0);
    atomic_store(&commit_fail_left, 1);
    struct persist_job f = { .kind = PERSIST_FINISH_SWAP, .t_ms = 4500, .tag = 1, .tag_in = 2 };
    snprintf(f.text, sizeof f.text, "ok");
    ck_assert_int_eq(persist_submit(p, &f), 0);
    drain();
    ck_assert_int_eq(atomic_load(&commit_fail_left), 0);
    ck_assert_int_eq(persist_swap_id(p), 0);
    struct registry_error err;
    struct registry *r = registry_open(db_path, REGISTRY_OPEN_READONLY, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    int64_t on_pad_ms = -1;
    int n_steps = 0;
    int rc = registry_get_swap(r, id, &on_pad_ms, NULL, 0, &n_steps);
    registry_close(r);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(on_pad_ms, 500);
}
END_TEST

/* A full disk fails a batch at its commit, not at its writes (SQLite keeps them in
 * memory until then). While the batch is retried the store reads blocked throughout: a
 * write that passed inside the batch does not unblock it (else an Unhold could pass on
 * a full disk, in the moment between a retry's writes and its failing commit). */
static int64_t rows(const char *sql)
{
    char err[256];
    int64_t v = dbread_scalar(db_path, sql, err, sizeof err);
    ck_assert_msg(v != DBREAD_NONE, "%s", err);
    return v;
}

static void event_job(enum registry_severity sev, const char *source, const char *text, int64_t t_ms)
{
    struct persist_job j = { .kind = PERSIST_EVENT, .t_ms = t_ms, .severity = sev };
    snprintf(j.source, sizeof j.source, "%s", source);
    snprintf(j.text, sizeof j.text, "%s", text);
    ck_assert_int_eq(persist_submit(p, &j), 0);
}

/* The write volume (docs/operator-guide.md, Storage): a routine event waits for the next
 * transaction that goes at once (a battery move here), at most PERSIST_HOLD_MS (2 s),
 * and is then written before the move, in order; a restart record and a landing-queue
 * entry do not wait, they go ahead of the routine rows; a warning and a state change go
 * at once. On the worker's virtual clock. */
START_TEST(routine_rows_wait_for_the_next_move_and_restart_records_do_not)
{
    teardown();
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "persist"), 0);
    snprintf(db_path, sizeof db_path, "%s/station.db", dir);
    struct registry_error err;
    struct registry *reg = registry_open(db_path, REGISTRY_OPEN_CREATE, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
    struct registry_battery b = { .tag = 1, .rated_mah = 5000, .cells = 6, .capacity_mah = 5000,
                                  .capacity_sd_mah = 150, .dcir_mohm = 75, .dcir_sd_mohm = 15,
                                  .peak_temp_degC = NAN, .loc = { REGISTRY_PLACE_SLOT, 1 } };
    snprintf(b.serial, sizeof b.serial, "SWP-%08X", 1u);
    ck_assert_int_eq(registry_add_battery(reg, &b, 1000), 0);
    p = persist_start_manual(reg);
    ck_assert_ptr_nonnull(p);

    event_job(REGISTRY_INFO, "step", "center_close -> clamp", 1000);
    struct persist_job prog = { .kind = PERSIST_PROGRESS, .t_ms = 1000, .seq = 3, .drone = 7, .tag = 1 };
    snprintf(prog.step, sizeof prog.step, "clamp");
    ck_assert_int_eq(persist_submit(p, &prog), 0);
    struct persist_job queued = { .kind = PERSIST_QUEUE_PUT, .t_ms = 1000,
                                  .queued = { .sysid = 12, .compid = 1, .seq = 1, .request_ms = 1000 } };
    ck_assert_int_eq(persist_submit(p, &queued), 0);
    ck_assert(persist_run(p, 1000));   /* the restart record and the queue's entry go ahead */
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM restart_log WHERE kind = 'progress'"), 1);
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM landing_queue WHERE sysid = 12"), 1);
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM events"), 0);
    ck_assert(!persist_run(p, 2999));   /* held: nothing written */
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM events"), 0);

    event_job(REGISTRY_INFO, "step", "clamp -> take_grip", 2999);
    move(1, 1, GRIP_A);
    ck_assert(persist_run(p, 2999));    /* the move goes at once, the events before it with it */
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM events"), 2);
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM events WHERE text = 'center_close -> clamp' AND id <"
                          " (SELECT id FROM events WHERE text = 'clamp -> take_grip')"), 1);
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM locations WHERE tag = 1 AND place = 'gripper_a'"), 1);
    ck_assert_uint_eq(persist_committed_seq(p), 1);

    event_job(REGISTRY_INFO, "drone", "drone 7 left the pad", 5000);
    ck_assert(!persist_run(p, 5000));
    ck_assert(!persist_run(p, 6999));
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM events"), 2);
    ck_assert(persist_run(p, 7000));    /* held for PERSIST_HOLD_MS: written without a move */
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM events"), 3);

    event_job(REGISTRY_WARNING, "battery", "pack SWP-00000001 hot", 7001);
    ck_assert(persist_run(p, 7001));
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM events"), 4);
    event_job(REGISTRY_INFO, "state", "Execute -> Holding: operator", 7002);
    ck_assert(persist_run(p, 7002));
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM events"), 5);

    /* stopping writes what still waits */
    event_job(REGISTRY_INFO, "step", "z_top -> idle", 7003);
    persist_stop(p);
    p = NULL;
    ck_assert_int_eq(rows("SELECT COUNT(*) FROM events"), 6);
}
END_TEST

START_TEST(store_stays_blocked_while_a_batch_fails_at_its_commit)
{
    atomic_store(&commit_fail_left, 4);
    move(1, 1, GRIP_A);
    persist_kick(p);
    WAIT_FOR(persist_committed_seq(p) == 1);
    ck_assert_uint_eq(persist_committed_seq(p), 1);
    int failed = atomic_load(&commits_failed), unblocked = atomic_load(&unblocked_at_failed_commit);
    ck_assert_int_eq(failed, 4);
    ck_assert_int_eq(unblocked, 0);
    ck_assert(!persist_blocked(p, NULL, 0));   /* committed: unblocked */
    ck_assert_int_eq(where(1).place, REGISTRY_PLACE_GRIPPER_A);
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
    tcase_add_test(tc, alarm_raised_in_a_rolled_back_batch_is_written_again);
    tcase_add_test(tc, alarm_cleared_in_a_rolled_back_batch_is_cleared_again);
    tcase_add_test(tc, swap_finished_in_a_rolled_back_batch_is_finished_again);
    tcase_add_test(tc, store_stays_blocked_while_a_batch_fails_at_its_commit);
    tcase_add_test(tc, routine_rows_wait_for_the_next_move_and_restart_records_do_not);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
