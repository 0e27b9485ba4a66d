/* Battery registry over years of operation: grouped writes, retention and pruning, the
 * event log read by pages, the working set of packs, constant-time restart lookups, and
 * the migration of a version-2 file. */
#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbread.h"
#include "proc.h"
#include "registry/registry.h"

#define DAY_MS 86400000LL
#define NOW_MS (1800000000000LL)

static char dir[256];
static char db_path[300];
static struct registry *reg;

static void setup(void)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "regyears"), 0);
    snprintf(db_path, sizeof db_path, "%s/station.db", dir);
    struct registry_error err;
    reg = registry_open(db_path, REGISTRY_OPEN_CREATE, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
}

static void teardown(void)
{
    registry_close(reg);
    reg = NULL;
    proc_rmtree(dir);
}

static void add(uint32_t tag, struct registry_location loc)
{
    struct registry_battery b;
    memset(&b, 0, sizeof b);
    b.tag = tag;
    snprintf(b.serial, sizeof b.serial, "SWP-%08X", tag);
    b.rated_mah = 5000;
    b.cells = 6;
    b.capacity_mah = 5000;
    b.capacity_sd_mah = 150;
    b.dcir_mohm = 75;
    b.dcir_sd_mohm = 15;
    b.peak_temp_degC = NAN;
    b.loc = loc;
    ck_assert_msg(registry_add_battery(reg, &b, 1000) == 0, "%s", registry_last_error(reg));
}

static int64_t count_rows(const char *sql)
{
    char err[256];
    int64_t n = dbread_scalar(db_path, sql, err, sizeof err);
    ck_assert_msg(n != DBREAD_NONE, "%s", err);
    return n;
}

static void event_at(int64_t t_ms, enum registry_severity sev, const char *source, const char *text)
{
    ck_assert_msg(registry_add_event(reg, t_ms, sev, source, text, NULL) == 0, "%s", registry_last_error(reg));
}

/* ---- grouped writes ------------------------------------------------------------------ */

START_TEST(batch_commits_together_and_a_failed_write_keeps_the_others)
{
    add(1, (struct registry_location){ REGISTRY_PLACE_SLOT, 1 });
    add(2, (struct registry_location){ REGISTRY_PLACE_SLOT, 2 });
    ck_assert_int_eq(registry_batch_begin(reg), 0);
    ck_assert_int_eq(registry_batch_begin(reg), REGISTRY_ESTATE);
    event_at(NOW_MS, REGISTRY_INFO, "state", "one");
    /* slot 2 is taken: this write fails alone */
    ck_assert_int_eq(registry_move_battery(reg, 1, (struct registry_location){ REGISTRY_PLACE_SLOT, 2 },
                                           "x", 0, NOW_MS, NOW_MS),
                     REGISTRY_EOCCUPIED);
    ck_assert_int_eq(registry_move_battery(reg, 1, (struct registry_location){ REGISTRY_PLACE_GRIPPER_B, 0 },
                                           "fetch", 0, NOW_MS, NOW_MS), 0);
    event_at(NOW_MS, REGISTRY_INFO, "state", "two");
    /* nothing is visible to another connection before the batch commits */
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM events WHERE source = 'state'"), 0);
    ck_assert_int_eq(registry_batch_commit(reg), 0);
    ck_assert_int_eq(registry_batch_commit(reg), REGISTRY_ESTATE);
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM events WHERE source = 'state'"), 2);
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM locations WHERE tag = 1 AND place = 'gripper_b'"), 1);
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM location_history WHERE tag = 1"), 2);
}
END_TEST

START_TEST(sync_is_chosen_between_transactions_only)
{
    ck_assert_int_eq(registry_batch_begin(reg), 0);
    ck_assert_int_eq(registry_set_sync(reg, false), REGISTRY_ESTATE);
    ck_assert_int_eq(registry_batch_commit(reg), 0);
    ck_assert_int_eq(registry_set_sync(reg, false), 0);
    event_at(NOW_MS, REGISTRY_INFO, "state", "relaxed");
    ck_assert_int_eq(registry_set_sync(reg, true), 0);
    event_at(NOW_MS + 1, REGISTRY_INFO, "state", "full");
    /* both committed: another connection reads them */
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM events WHERE text IN ('relaxed', 'full')"), 2);
}
END_TEST

/* ---- retention ------------------------------------------------------------------------- */

static const struct registry_retention keep = {
    .events_days = 30, .restart_days = 7, .alarms_days = 30, .history_days = 180,
    .telemetry_days = 365, .swap_steps_days = 30, .swaps_days = 730,
};

START_TEST(prune_deletes_only_what_expired_in_bounded_batches)
{
    /* 300 old events, 5 new ones, old restart marks with the newest kept */
    for (int i = 0; i < 300; i++)
        event_at(NOW_MS - 60 * DAY_MS + i, REGISTRY_INFO, "state", "old");
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(registry_add_restart_record(reg, NOW_MS - 20 * DAY_MS + i, "intent", "i", "{\"n\":1}"), 0);
        ck_assert_int_eq(registry_add_restart_record(reg, NOW_MS - 20 * DAY_MS + i, "progress", "p", "{\"n\":1}"), 0);
    }
    for (int i = 0; i < 5; i++)
        event_at(NOW_MS - DAY_MS + i, REGISTRY_INFO, "state", "new");
    struct registry_prune_stats st;
    int total = 0, rounds = 0, n;
    while ((n = registry_prune(reg, &keep, NOW_MS, 100, 16, &st)) > 0) {
        ck_assert_int_le(st.events, 2 * 100 + 100);
        total += n;
        rounds++;
    }
    ck_assert_int_eq(n, 0);
    ck_assert_int_ge(rounds, 3);
    ck_assert_int_eq(total, 300 + 4);
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM events WHERE text = 'new'"), 5);
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM restart_log WHERE kind = 'intent'"), 1);
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM restart_log WHERE kind = 'progress'"), 1);
    struct registry_event e;
    ck_assert_int_eq(registry_last_restart_record(reg, "intent", &e), 0);
    ck_assert_int_eq(e.time_ms, NOW_MS - 20 * DAY_MS + 2);
}
END_TEST

START_TEST(swaps_stay_while_a_pack_is_in_service_and_details_expire)
{
    add(10, (struct registry_location){ REGISTRY_PLACE_SLOT, 1 });
    add(11, (struct registry_location){ REGISTRY_PLACE_SLOT, 2 });
    add(12, (struct registry_location){ REGISTRY_PLACE_QUARANTINE, 0 });
    add(13, (struct registry_location){ REGISTRY_PLACE_SLOT, 3 });
    int64_t old = NOW_MS - 800 * DAY_MS, swap_a, swap_b;
    ck_assert_int_eq(registry_begin_swap(reg, 7, old, &swap_a), 0);
    ck_assert_int_eq(registry_record_step(reg, swap_a, "clamp", old, old + 600), 0);
    ck_assert_int_eq(registry_finish_swap(reg, swap_a, 12, 13, old + 9000, "ok"), 0);
    ck_assert_int_eq(registry_begin_swap(reg, 7, old + 1000, &swap_b), 0);
    ck_assert_int_eq(registry_record_step(reg, swap_b, "clamp", old + 1000, old + 1600), 0);
    ck_assert_int_eq(registry_finish_swap(reg, swap_b, 10, 11, old + 10000, "ok"), 0);
    ck_assert_int_eq(registry_set_status(reg, 12, REGISTRY_RETIRED, "worn", old + 20000), 0);
    /* pack 13 of swap A is still in service: its swap stays; steps of both expire */
    while (registry_prune(reg, &keep, NOW_MS, 50, 16, NULL) > 0)
        ;
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM swap_steps"), 0);
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM swaps"), 2);
    ck_assert_int_eq(registry_set_status(reg, 13, REGISTRY_RETIRED, "worn", NOW_MS), 0);
    while (registry_prune(reg, &keep, NOW_MS, 50, 16, NULL) > 0)
        ;
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM swaps"), 1);
    int64_t on_pad;
    ck_assert_int_eq(registry_get_swap(reg, swap_b, &on_pad, NULL, 0, NULL), 0);
    /* packs are never deleted: their rows are the lifetime summary */
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM batteries"), 4);
}
END_TEST

START_TEST(zero_days_keeps_for_ever)
{
    struct registry_retention forever = { 0 };
    event_at(1000, REGISTRY_INFO, "state", "ancient");
    ck_assert_int_eq(registry_prune(reg, &forever, NOW_MS, 100, 16, NULL), 0);
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM events"), 1);
}
END_TEST

START_TEST(pruned_space_is_reused)
{
    struct registry_storage_info info;
    ck_assert_int_eq(registry_storage(reg, &info), 0);
    ck_assert(info.incremental_vacuum);
    char text[200];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = 0;
    for (int i = 0; i < 3000; i++)
        event_at(NOW_MS - 60 * DAY_MS + i, REGISTRY_INFO, "state", text);
    ck_assert_int_eq(registry_storage(reg, &info), 0);
    int64_t full = info.bytes;
    while (registry_prune(reg, &keep, NOW_MS, 500, 64, NULL) > 0)
        ;
    for (int i = 0; i < 40; i++)  /* the incremental vacuum, a few pages at a time */
        registry_prune(reg, &keep, NOW_MS, 500, 64, NULL);
    ck_assert_int_eq(registry_storage(reg, &info), 0);
    ck_assert_msg(info.bytes < full / 4, "file %lld bytes after pruning, %lld before", (long long)info.bytes,
                  (long long)full);
}
END_TEST

/* ---- the event log by pages ---------------------------------------------------------- */

static int collect(const struct registry_event *e, void *ctx)
{
    int64_t *ids = ctx;
    ids[++ids[0]] = e->id;
    return 0;
}

START_TEST(events_page_by_id_since_and_newest)
{
    for (int i = 0; i < 20; i++)
        event_at(NOW_MS + i * 1000, i % 5 == 4 ? REGISTRY_DEBUG : REGISTRY_INFO, "state", "e");
    int64_t last = registry_last_event_id(reg);
    ck_assert_int_eq(last, 20);
    int64_t ids[32] = { 0 };
    /* since the 10th second: ids 11..20 without the debug ones (15, 20) */
    ck_assert_int_eq(registry_page_events(reg, NOW_MS + 10000, 0, last, 100, false, collect, ids), 8);
    ck_assert_int_eq(ids[1], 11);
    ck_assert_int_eq(ids[8], 19);
    /* pages of 3 continue after the last id seen, and stop at upto_id */
    memset(ids, 0, sizeof ids);
    ck_assert_int_eq(registry_page_events(reg, 0, 0, 8, 3, false, collect, ids), 3);
    ck_assert_int_eq(registry_page_events(reg, 0, ids[3], 8, 3, false, collect, ids), 3);
    ck_assert_int_eq(registry_page_events(reg, 0, ids[6], 8, 3, false, collect, ids), 1);
    ck_assert_int_eq(ids[4], 4);
    ck_assert_int_eq(ids[5], 6);  /* 5 is a debug event */
    ck_assert_int_eq(ids[7], 8);
    /* the newest two */
    memset(ids, 0, sizeof ids);
    ck_assert_int_eq(registry_page_events(reg, 0, 0, last, 2, true, collect, ids), 2);
    ck_assert_int_eq(ids[1], 19);
    ck_assert_int_eq(ids[2], 18);
    /* nothing after the end */
    ck_assert_int_eq(registry_page_events(reg, NOW_MS + 100000, 0, last, 10, false, collect, ids), 0);
}
END_TEST

/* ---- packs --------------------------------------------------------------------------- */

static int count_cb(const struct registry_battery *b, void *ctx)
{
    (void)b;
    ++*(int *)ctx;
    return 0;
}

START_TEST(retired_packs_leave_the_working_set_but_stay_queryable)
{
    for (uint32_t t = 1; t <= 500; t++)
        add(t, t <= 8 ? (struct registry_location){ REGISTRY_PLACE_SLOT, (int)t }
                      : (struct registry_location){ REGISTRY_PLACE_QUARANTINE, 0 });
    for (uint32_t t = 3; t <= 495; t++)
        ck_assert_int_eq(registry_set_status(reg, t, REGISTRY_RETIRED, "worn", NOW_MS), 0);
    int n = 0;
    /* 1, 2 in service; 3..8 retired but still in slots; 496..500 in service */
    ck_assert_int_eq(registry_list_working_set(reg, count_cb, &n), 13);
    int counts[REGISTRY_STATUS_COUNT];
    ck_assert_int_eq(registry_count_batteries(reg, counts), 500);
    ck_assert_int_eq(counts[REGISTRY_RETIRED], 493);
    struct registry_battery b;
    ck_assert_int_eq(registry_get_battery(reg, 100, &b), 0);
    ck_assert_int_eq(b.status, REGISTRY_RETIRED);
}
END_TEST

/* ---- migration and opening ---------------------------------------------------------- */

START_TEST(version_2_file_is_migrated_with_its_history)
{
    char path[320];
    snprintf(path, sizeof path, "%s/v2.db", dir);
    struct registry_error err;
    struct registry *old = registry_open_version(path, REGISTRY_OPEN_CREATE, 2, &err);
    ck_assert_msg(old != NULL, "%s", err.msg);
    registry_close(old);
    /* a version-2 file as the previous release wrote it: no auto-vacuum, rows in place */
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db,
                                  "PRAGMA auto_vacuum = NONE; VACUUM;"
                                  "INSERT INTO events (time_ms, severity, source, text, json) VALUES"
                                  " (5, 'debug', 'intent', 'a', '{}'), (6, 'info', 'state', 'b', NULL),"
                                  " (7, 'debug', 'intent', 'c', '{}');",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct registry *r = registry_open(path, 0, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(registry_schema_version(r), REGISTRY_SCHEMA_VERSION);
    struct registry_event e;
    ck_assert_int_eq(registry_last_restart_record(r, "intent", &e), 0);  /* carried over */
    ck_assert_str_eq(e.text, "c");
    struct registry_storage_info info;
    ck_assert_int_eq(registry_storage(r, &info), 0);
    ck_assert(!info.incremental_vacuum);  /* an old file reuses its free pages instead */
    /* the three events expire; "c", the newest intent, stays in the restart log */
    ck_assert_int_eq(registry_prune(r, &keep, NOW_MS, 100, 16, NULL), 3);
    ck_assert_int_eq(registry_last_restart_record(r, "intent", &e), 0);
    ck_assert_str_eq(e.text, "c");
    ck_assert_int_eq(registry_check_integrity(r), 0);
    registry_close(r);
}
END_TEST

START_TEST(an_old_file_is_compacted_and_then_shrinks_after_pruning)
{
    /* a file as releases before incremental auto-vacuum wrote it: 4 KiB pages, none */
    registry_close(reg);
    reg = NULL;
    unlink(db_path);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA page_size = 4096; PRAGMA auto_vacuum = NONE;"
                                      " CREATE TABLE t (x); DROP TABLE t;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct registry_error err;
    reg = registry_open(db_path, 0, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
    struct registry_storage_info info, before, after;
    ck_assert_int_eq(registry_storage(reg, &info), 0);
    ck_assert(!info.incremental_vacuum);
    ck_assert_int_eq(info.page_size, 4096);
    char text[200];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = 0;
    ck_assert_int_eq(registry_batch_begin(reg), 0);
    for (int i = 0; i < 3000; i++)
        event_at(NOW_MS - 60 * DAY_MS + i, REGISTRY_INFO, "state", text);
    for (int i = 0; i < 500; i++)
        event_at(NOW_MS - i, REGISTRY_INFO, "state", text);
    ck_assert_int_eq(registry_batch_commit(reg), 0);
    while (registry_prune(reg, &keep, NOW_MS, 500, 64, NULL) > 0)
        ;
    ck_assert_int_eq(registry_storage(reg, &info), 0);
    int64_t pruned = info.bytes;
    ck_assert_int_gt(info.free_bytes, info.bytes / 2);  /* the old format keeps its free pages */
    ck_assert_int_eq(registry_compact(reg, &before, &after), 0);
    ck_assert_int_eq(before.bytes, pruned);
    ck_assert(after.incremental_vacuum);
    ck_assert_int_eq(after.page_size, 512);
    ck_assert_int_eq(after.free_bytes, 0);
    ck_assert_msg(after.bytes < pruned / 3, "%lld bytes after compacting, %lld before", (long long)after.bytes,
                  (long long)pruned);
    ck_assert_int_eq(count_rows("SELECT COUNT(*) FROM events WHERE source = 'state'"), 500);
    /* from now on, pruning gives the space back like on a new file: a month later the
     * next 3000 events expire too */
    int64_t compacted = after.bytes;
    ck_assert_int_eq(registry_batch_begin(reg), 0);
    for (int i = 0; i < 3000; i++)
        event_at(NOW_MS + i, REGISTRY_INFO, "state", text);
    ck_assert_int_eq(registry_batch_commit(reg), 0);
    ck_assert_int_eq(registry_storage(reg, &info), 0);
    ck_assert_int_gt(info.bytes, 2 * compacted);
    while (registry_prune(reg, &keep, NOW_MS + 40 * DAY_MS, 500, 64, NULL) > 0)
        ;
    for (int i = 0; i < 100; i++)
        registry_prune(reg, &keep, NOW_MS + 40 * DAY_MS, 500, 64, NULL);
    ck_assert_int_eq(registry_storage(reg, &info), 0);
    ck_assert_msg(info.bytes <= compacted + compacted / 4, "%lld bytes after pruning, %lld compacted",
                  (long long)info.bytes, (long long)compacted);
    ck_assert_int_eq(registry_check_integrity(reg), 0);
    /* and the connection still writes in WAL mode */
    ck_assert_int_eq(count_rows("SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
}
END_TEST

START_TEST(a_large_file_opens_without_reading_every_page)
{
    /* 6 MB of rows, then garbage over a page deep inside them: the cheap open does not
     * read it; the operator's full check finds it. */
    char *blob = malloc(4000);
    memset(blob, 'q', 4000);
    ck_assert_int_eq(registry_batch_begin(reg), 0);
    for (int i = 0; i < 1500; i++) {
        blob[3999] = 0;
        event_at(NOW_MS + i, REGISTRY_INFO, "bulk", blob);
    }
    ck_assert_int_eq(registry_batch_commit(reg), 0);
    free(blob);
    registry_close(reg);
    reg = NULL;
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    FILE *f = fopen(db_path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    ck_assert_int_gt(size, REGISTRY_QUICK_CHECK_MAX_BYTES);
    fseek(f, (size / 2 / 4096) * 4096, SEEK_SET);
    char junk[4096];
    memset(junk, 0xA5, sizeof junk);
    ck_assert_int_eq(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    fclose(f);
    struct registry_error err;
    reg = registry_open(db_path, 0, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
    ck_assert_int_eq(registry_check_integrity(reg), REGISTRY_EDB);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry_years");
    TCase *tc = tcase_create("years");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, batch_commits_together_and_a_failed_write_keeps_the_others);
    tcase_add_test(tc, sync_is_chosen_between_transactions_only);
    tcase_add_test(tc, prune_deletes_only_what_expired_in_bounded_batches);
    tcase_add_test(tc, swaps_stay_while_a_pack_is_in_service_and_details_expire);
    tcase_add_test(tc, zero_days_keeps_for_ever);
    tcase_add_test(tc, pruned_space_is_reused);
    tcase_add_test(tc, events_page_by_id_since_and_newest);
    tcase_add_test(tc, retired_packs_leave_the_working_set_but_stay_queryable);
    tcase_add_test(tc, version_2_file_is_migrated_with_its_history);
    tcase_add_test(tc, a_large_file_opens_without_reading_every_page);
    tcase_add_test(tc, an_old_file_is_compacted_and_then_shrinks_after_pruning);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
