/* Battery registry: inventory, moves, swaps, events, alarms, migrations, and refusing
 * databases it must not touch. */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"
#include "registry/registry.h"

static char dir[256];
static char db_path[300];
static struct registry *reg;

static void setup(void)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "registry"), 0);
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

static struct registry_battery pack(uint32_t tag)
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
    return b;
}

static struct registry_location slot(int n)
{
    return (struct registry_location){ REGISTRY_PLACE_SLOT, n };
}

static void add(uint32_t tag, struct registry_location loc)
{
    struct registry_battery b = pack(tag);
    b.loc = loc;
    ck_assert_msg(registry_add_battery(reg, &b, 1000) == 0, "%s", registry_last_error(reg));
}

static int count_history(uint32_t tag)
{
    return registry_list_history(reg, tag, NULL, NULL);
}

static int collect_queued(const struct registry_queued_drone *q, void *ctx)
{
    struct registry_queued_drone *out = ctx;
    for (int i = 0; i < 4; i++)
        if (out[i].sysid == 0) {
            out[i] = *q;
            break;
        }
    return 0;
}

/* The landing queue survives the process: entries in arrival order, one per drone (a
 * second put replaces), removed when the drone stops waiting; reopened, it is there. */
START_TEST(landing_queue_is_kept_in_arrival_order)
{
    struct registry_queued_drone a = { .sysid = 12, .compid = 1, .seq = 7, .request_ms = 5000, .flags = 0,
                                       .pack_tag = 0x5A00000C, .remaining_pct = 20, .voltage_v = 21.5 };
    struct registry_queued_drone b = { .sysid = 11, .compid = 1, .seq = 9, .request_ms = 6000, .flags = 1,
                                       .pack_tag = 0, .remaining_pct = 8, .voltage_v = 20 };
    struct registry_queued_drone c = { .sysid = 13, .compid = 1, .seq = 10, .request_ms = 7000 };
    ck_assert_int_eq(registry_queue_put(reg, &b), 0);
    ck_assert_int_eq(registry_queue_put(reg, &a), 0);
    ck_assert_int_eq(registry_queue_put(reg, &c), 0);
    b.request_ms = 6500;
    ck_assert_int_eq(registry_queue_put(reg, &b), 0);    /* replaces, no second row */
    ck_assert_int_eq(registry_queue_remove(reg, 13), 0);
    ck_assert_int_eq(registry_queue_remove(reg, 99), 0); /* none: not an error */
    c.sysid = 0;
    ck_assert_int_eq(registry_queue_put(reg, &c), REGISTRY_EINVAL);
    registry_close(reg);
    struct registry_error err;
    reg = registry_open(db_path, 0, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
    struct registry_queued_drone got[4] = { 0 };
    ck_assert_int_eq(registry_queue_list(reg, collect_queued, got), 2);
    ck_assert_int_eq(got[0].sysid, 12);
    ck_assert_int_eq(got[0].seq, 7);
    ck_assert_uint_eq(got[0].pack_tag, 0x5A00000C);
    ck_assert_double_eq(got[0].voltage_v, 21.5);
    ck_assert_int_eq(got[1].sysid, 11);
    ck_assert_int_eq(got[1].flags, 1);
    ck_assert_int_eq(got[1].request_ms, 6500);
}
END_TEST

START_TEST(new_database_has_current_schema)
{
    ck_assert_int_eq(registry_schema_version(reg), REGISTRY_SCHEMA_VERSION);
    ck_assert_int_eq(registry_check_integrity(reg), 0);
}
END_TEST

START_TEST(battery_round_trips)
{
    add(0x5A000001, slot(1));
    struct registry_battery b;
    ck_assert_int_eq(registry_get_battery(reg, 0x5A000001, &b), 0);
    ck_assert_str_eq(b.serial, "SWP-5A000001");
    ck_assert_int_eq(b.status, REGISTRY_IN_SERVICE);
    ck_assert_int_eq(b.loc.place, REGISTRY_PLACE_SLOT);
    ck_assert_int_eq(b.loc.index, 1);
    ck_assert_double_eq_tol(b.capacity_mah, 5000, 1e-9);
    ck_assert_double_eq_tol(b.dcir_new_mohm, 75, 1e-9);
    ck_assert(isnan(b.peak_temp_degC));
    ck_assert_int_eq(b.commissioned_ms, 1000);
    ck_assert_int_eq(registry_get_battery(reg, 0x5A000002, &b), REGISTRY_ENOTFOUND);
}
END_TEST

START_TEST(duplicate_tag_or_serial_is_refused)
{
    add(7, slot(1));
    struct registry_battery b = pack(7);
    ck_assert_int_eq(registry_add_battery(reg, &b, 1), REGISTRY_EEXIST);
    b = pack(8);
    snprintf(b.serial, sizeof b.serial, "SWP-%08X", 7);
    ck_assert_int_eq(registry_add_battery(reg, &b, 1), REGISTRY_EEXIST);
    ck_assert_int_eq(registry_list_batteries(reg, NULL, NULL), 1);
}
END_TEST

START_TEST(invalid_battery_is_refused)
{
    struct registry_battery b = pack(9);
    b.capacity_mah = NAN;
    ck_assert_int_eq(registry_add_battery(reg, &b, 1), REGISTRY_EINVAL);
    b = pack(9);
    b.cells = 0;
    ck_assert_int_eq(registry_add_battery(reg, &b, 1), REGISTRY_EINVAL);
    b = pack(0);
    ck_assert_int_eq(registry_add_battery(reg, &b, 1), REGISTRY_EINVAL);
    b = pack(9);
    b.loc = (struct registry_location){ REGISTRY_PLACE_SLOT, 0 };
    ck_assert_int_eq(registry_add_battery(reg, &b, 1), REGISTRY_EINVAL);
    ck_assert_int_eq(registry_list_batteries(reg, NULL, NULL), 0);
}
END_TEST

START_TEST(move_writes_location_history_and_step_together)
{
    add(1, slot(3));
    int64_t swap;
    ck_assert_int_eq(registry_begin_swap(reg, 12, 5000, &swap), 0);
    struct registry_location gb = { REGISTRY_PLACE_GRIPPER_B, 0 };
    ck_assert_int_eq(registry_move_battery(reg, 1, gb, "fetch", swap, 4000, 4800), 0);
    struct registry_battery b;
    ck_assert_int_eq(registry_get_battery(reg, 1, &b), 0);
    ck_assert_int_eq(b.loc.place, REGISTRY_PLACE_GRIPPER_B);
    ck_assert_int_eq(b.loc_since_ms, 4800);
    ck_assert_int_eq(count_history(1), 2);
    struct registry_swap_step steps[4];
    int n;
    int64_t on_pad;
    ck_assert_int_eq(registry_get_swap(reg, swap, &on_pad, steps, 4, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(steps[0].step, "fetch");
    ck_assert_int_eq(steps[0].start_ms, 4000);
    ck_assert_int_eq(steps[0].end_ms, 4800);
    ck_assert_int_eq(on_pad, -1);
}
END_TEST

START_TEST(move_into_occupied_place_changes_nothing)
{
    add(1, slot(1));
    add(2, slot(2));
    ck_assert_int_eq(registry_move_battery(reg, 2, slot(1), "store", 0, 0, 2000), REGISTRY_EOCCUPIED);
    ck_assert_ptr_nonnull(strstr(registry_last_error(reg), "slot 1 already holds a battery"));
    struct registry_battery b;
    ck_assert_int_eq(registry_get_battery(reg, 2, &b), 0);
    ck_assert_int_eq(b.loc.index, 2);
    ck_assert_int_eq(count_history(2), 1);
    /* a place without a limit takes several */
    struct registry_location q = { REGISTRY_PLACE_QUARANTINE, 0 };
    ck_assert_int_eq(registry_move_battery(reg, 1, q, "quarantine", 0, 0, 2000), 0);
    ck_assert_int_eq(registry_move_battery(reg, 2, q, "quarantine", 0, 0, 2000), 0);
}
END_TEST

START_TEST(move_of_unknown_tag_or_swap_is_refused)
{
    add(1, slot(1));
    ck_assert_int_eq(registry_move_battery(reg, 99, slot(4), "x", 0, 0, 1), REGISTRY_ENOTFOUND);
    ck_assert_int_eq(registry_move_battery(reg, 1, slot(4), "x", 42, 0, 1), REGISTRY_ENOTFOUND);
    ck_assert_int_eq(registry_move_battery(reg, 1, slot(4), "", 0, 0, 1), REGISTRY_EINVAL);
    struct registry_location bad = { (enum registry_place)77, 0 };
    ck_assert_int_eq(registry_move_battery(reg, 1, bad, "x", 0, 0, 1), REGISTRY_EINVAL);
    ck_assert_int_eq(count_history(1), 1);
}
END_TEST

START_TEST(inventory_queries)
{
    add(1, slot(1));
    add(2, slot(5));
    add(3, (struct registry_location){ REGISTRY_PLACE_DRONE, 12 });
    uint32_t tag = 0;
    ck_assert_int_eq(registry_find_at(reg, slot(5), &tag), 0);
    ck_assert_uint_eq(tag, 2);
    ck_assert_int_eq(registry_find_at(reg, (struct registry_location){ REGISTRY_PLACE_DRONE, 12 }, &tag), 0);
    ck_assert_uint_eq(tag, 3);
    ck_assert_int_eq(registry_find_at(reg, slot(4), &tag), REGISTRY_ENOTFOUND);
    ck_assert_int_eq(registry_list_batteries(reg, NULL, NULL), 3);
}
END_TEST

START_TEST(swap_records_on_pad_time)
{
    add(1, slot(1));
    add(2, (struct registry_location){ REGISTRY_PLACE_DRONE, 5 });
    int64_t swap;
    ck_assert_int_eq(registry_begin_swap(reg, 5, 10000, &swap), 0);
    ck_assert_int_eq(registry_record_step(reg, swap, "clamp", 10000, 11800), 0);
    ck_assert_int_eq(registry_finish_swap(reg, swap, 2, 1, 52000, "ok"), 0);
    ck_assert_int_eq(registry_finish_swap(reg, swap, 2, 1, 53000, "ok"), REGISTRY_ESTATE);
    int64_t on_pad;
    int n;
    ck_assert_int_eq(registry_get_swap(reg, swap, &on_pad, NULL, 0, &n), 0);
    ck_assert_int_eq(on_pad, 42000);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(registry_begin_swap(reg, 0, 1, &swap), REGISTRY_EINVAL);
    ck_assert_int_eq(registry_record_step(reg, 999, "x", 1, 2), REGISTRY_ENOTFOUND);
}
END_TEST

static int collect_event(const struct registry_event *e, void *ctx)
{
    char *out = ctx;
    strcat(out, e->text);
    strcat(out, ";");
    return 0;
}

START_TEST(events_listed_since)
{
    ck_assert_int_eq(registry_add_event(reg, 100, REGISTRY_INFO, "core", "a", NULL), 0);
    ck_assert_int_eq(registry_add_event(reg, 200, REGISTRY_WARNING, "core", "b", "{\"slot\":3}"), 0);
    ck_assert_int_eq(registry_add_event(reg, 300, REGISTRY_INFO, "core", "c", NULL), 0);
    char out[64] = "";
    ck_assert_int_eq(registry_list_events(reg, 200, 0, collect_event, out), 2);
    ck_assert_str_eq(out, "b;c;");
    out[0] = '\0';
    ck_assert_int_eq(registry_list_events(reg, 0, 1, collect_event, out), 1);
    ck_assert_str_eq(out, "a;");
}
END_TEST

START_TEST(malformed_event_json_is_refused)
{
    ck_assert_int_eq(registry_add_event(reg, 1, REGISTRY_INFO, "core", "x", "{\"slot\":"), REGISTRY_EINVAL);
    ck_assert_int_eq(registry_add_event(reg, 1, (enum registry_severity)9, "core", "x", NULL), REGISTRY_EINVAL);
    ck_assert_int_eq(registry_list_events(reg, 0, 0, NULL, NULL), 0);
}
END_TEST

static int count_alarm(const struct registry_alarm *a, void *ctx)
{
    (void)a;
    (*(int *)ctx)++;
    return 0;
}

START_TEST(alarm_lifecycle)
{
    int64_t id;
    ck_assert_int_eq(registry_raise_alarm(reg, "BATT_HOT", "slot 3 pack at 61 degC", 1000, &id), 0);
    int n = 0;
    ck_assert_int_eq(registry_list_alarms(reg, 0, true, count_alarm, &n), 1);
    ck_assert_int_eq(registry_ack_alarm(reg, id, 2000), 0);
    ck_assert_int_eq(registry_ack_alarm(reg, id, 2100), REGISTRY_ESTATE);
    ck_assert_int_eq(registry_clear_alarm(reg, id, 3000), 0);
    ck_assert_int_eq(registry_clear_alarm(reg, id, 3100), REGISTRY_ESTATE);
    ck_assert_int_eq(registry_list_alarms(reg, 0, true, NULL, NULL), 0);
    ck_assert_int_eq(registry_list_alarms(reg, 0, false, NULL, NULL), 1);
    ck_assert_int_eq(registry_list_alarms(reg, 1001, false, NULL, NULL), 0);
    ck_assert_int_eq(registry_ack_alarm(reg, 77, 1), REGISTRY_ENOTFOUND);
    /* raising logs an event too */
    ck_assert_int_eq(registry_list_events(reg, 0, 0, NULL, NULL), 1);
}
END_TEST

START_TEST(status_change_keeps_reason_and_logs)
{
    add(1, slot(1));
    ck_assert_int_eq(registry_set_status(reg, 1, REGISTRY_RETIRED, "SoH 79.1 % below 80 %", 5000), 0);
    struct registry_battery b;
    ck_assert_int_eq(registry_get_battery(reg, 1, &b), 0);
    ck_assert_int_eq(b.status, REGISTRY_RETIRED);
    ck_assert_str_eq(b.status_reason, "SoH 79.1 % below 80 %");
    ck_assert_int_eq(registry_list_events(reg, 5000, 0, NULL, NULL), 1);
    ck_assert_int_eq(registry_set_status(reg, 2, REGISTRY_RETIRED, "x", 1), REGISTRY_ENOTFOUND);
}
END_TEST

START_TEST(estimates_update_and_nan_is_refused)
{
    add(1, slot(1));
    struct registry_battery b;
    registry_get_battery(reg, 1, &b);
    b.capacity_mah = 4800;
    b.efc = 12.5;
    b.charge_count = 20;
    ck_assert_int_eq(registry_update_estimates(reg, &b), 0);
    b.capacity_mah = NAN;
    ck_assert_int_eq(registry_update_estimates(reg, &b), REGISTRY_EINVAL);
    b.capacity_mah = -1;
    ck_assert_int_eq(registry_update_estimates(reg, &b), REGISTRY_EINVAL);
    registry_get_battery(reg, 1, &b);
    ck_assert_double_eq_tol(b.capacity_mah, 4800, 1e-9);
    ck_assert_double_eq_tol(b.efc, 12.5, 1e-9);
}
END_TEST

START_TEST(charges_and_flights_need_a_known_pack)
{
    add(1, slot(1));
    struct registry_charge c = { .tag = 1, .slot = 1, .start_ms = 1, .end_ms = 2, .charge_mah = 3000,
                                 .ocv_start_mV = 22000, .ocv_end_mV = NAN, .capacity_mah = NAN,
                                 .capacity_sd_mah = NAN, .dcir_mohm = 74, .peak_temp_degC = 30,
                                 .result = "done" };
    ck_assert_int_eq(registry_add_charge(reg, &c), 0);
    c.tag = 2;
    ck_assert_int_eq(registry_add_charge(reg, &c), REGISTRY_ENOTFOUND);
    c.tag = 1;
    c.charge_mah = -5;
    ck_assert_int_eq(registry_add_charge(reg, &c), REGISTRY_EINVAL);
    struct registry_flight f = { .tag = 1, .drone = 3, .start_ms = 1, .end_ms = 9, .consumed_mah = 2500,
                                 .min_voltage_mV = 20000, .peak_temp_degC = 38, .remaining_pct = 40 };
    ck_assert_int_eq(registry_add_flight(reg, &f), 0);
    f.drone = 0;
    ck_assert_int_eq(registry_add_flight(reg, &f), REGISTRY_EINVAL);
}
END_TEST

START_TEST(read_only_open_refuses_writes)
{
    add(1, slot(1));
    struct registry_error err;
    struct registry *ro = registry_open(db_path, REGISTRY_OPEN_READONLY, &err);
    ck_assert_msg(ro != NULL, "%s", err.msg);
    struct registry_battery b;
    ck_assert_int_eq(registry_get_battery(ro, 1, &b), 0);
    ck_assert_int_eq(registry_move_battery(ro, 1, slot(2), "x", 0, 0, 1), REGISTRY_EDB);
    registry_close(ro);
}
END_TEST

START_TEST(version_1_file_is_migrated)
{
    char path[320];
    snprintf(path, sizeof path, "%s/old.db", dir);
    struct registry_error err;
    struct registry *old = registry_open_version(path, REGISTRY_OPEN_CREATE, 1, &err);
    ck_assert_msg(old != NULL, "%s", err.msg);
    ck_assert_int_eq(registry_schema_version(old), 1);
    /* a version-1 row, written as version 1 code would */
    sqlite3 *db;
    registry_close(old);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO batteries (tag, serial, rated_mah, cells, commissioned_ms,"
                                      " capacity_mah, capacity_sd_mah, dcir_mohm, dcir_sd_mohm)"
                                      " VALUES (5, 'SWP-00000005', 5000, 6, 77, 4900, 50, 80, 4)",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct registry *r = registry_open(path, 0, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(registry_schema_version(r), REGISTRY_SCHEMA_VERSION);
    struct registry_battery b;
    ck_assert_int_eq(registry_get_battery(r, 5, &b), 0);
    ck_assert_double_eq_tol(b.dcir_new_mohm, 80, 1e-9);
    ck_assert_int_eq(b.last_used_ms, 77);
    registry_close(r);
}
END_TEST

/* ---- files that must be refused and left alone ------------------------------------ */

static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void overwrite(const char *path, long offset, int byte, size_t n)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    char buf[4096];
    memset(buf, byte, sizeof buf);
    ck_assert_int_eq(pwrite(fd, buf, n, offset), (ssize_t)n);
    close(fd);
}

/* A populated, closed database (the WAL checkpointed into the main file). */
static void populate_and_close(void)
{
    for (uint32_t t = 1; t <= 8; t++)
        add(t, slot((int)t));
    for (int i = 0; i < 200; i++)
        registry_add_event(reg, i, REGISTRY_INFO, "test", "filler event text to spread over pages", NULL);
    registry_close(reg);
    reg = NULL;
}

static void assert_refused_untouched(const char *expect)
{
    size_t n0, n1;
    char *before = slurp(db_path, &n0);
    struct registry_error err;
    struct registry *r = registry_open(db_path, REGISTRY_OPEN_CREATE, &err);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err.msg, expect), "got \"%s\"", err.msg);
    char *after = slurp(db_path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_msg(memcmp(before, after, n0) == 0, "file changed");
    free(before);
    free(after);
}

START_TEST(text_file_is_not_a_database)
{
    registry_close(reg);
    reg = NULL;
    unlink(db_path);
    FILE *f = fopen(db_path, "w");
    fputs("slot,tag\n1,5A000001\n", f);
    fclose(f);
    assert_refused_untouched("not an SQLite database");
}
END_TEST

START_TEST(overwritten_header_is_refused)
{
    populate_and_close();
    overwrite(db_path, 0, 'X', 8);
    assert_refused_untouched("not an SQLite database");
}
END_TEST

START_TEST(overwritten_page_size_is_refused)
{
    populate_and_close();
    overwrite(db_path, 16, 0x03, 2);
    assert_refused_untouched("refusing");
}
END_TEST

START_TEST(corrupted_page_is_refused_not_repaired)
{
    populate_and_close();
    /* page 3 onwards: table b-tree pages overwritten with garbage */
    overwrite(db_path, 2 * 4096, 0xA5, 4096);
    assert_refused_untouched("refusing");
}
END_TEST

START_TEST(newer_schema_is_refused)
{
    populate_and_close();
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_refused_untouched("schema version 99 is newer");
}
END_TEST

/* A zero-length file is what a truncation or a failed copy leaves: with CREATE it
 * must not become a new, empty registry (only a path that does not exist does). */
START_TEST(empty_file_is_refused_even_with_create)
{
    registry_close(reg);
    reg = NULL;
    unlink(db_path);
    FILE *f = fopen(db_path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    assert_refused_untouched("empty file");
    char side[400];
    snprintf(side, sizeof side, "%s-wal", db_path);
    ck_assert_int_eq(access(side, F_OK), -1);
    snprintf(side, sizeof side, "%s-journal", db_path);
    ck_assert_int_eq(access(side, F_OK), -1);
    /* The documented way to a new registry: remove the file. */
    unlink(db_path);
    struct registry_error err;
    reg = registry_open(db_path, REGISTRY_OPEN_CREATE, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
}
END_TEST

START_TEST(missing_file_without_create_is_refused)
{
    char path[320];
    snprintf(path, sizeof path, "%s/absent.db", dir);
    struct registry_error err;
    ck_assert_ptr_null(registry_open(path, 0, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_database_has_current_schema);
    tcase_add_test(tc, battery_round_trips);
    tcase_add_test(tc, duplicate_tag_or_serial_is_refused);
    tcase_add_test(tc, invalid_battery_is_refused);
    tcase_add_test(tc, move_writes_location_history_and_step_together);
    tcase_add_test(tc, move_into_occupied_place_changes_nothing);
    tcase_add_test(tc, move_of_unknown_tag_or_swap_is_refused);
    tcase_add_test(tc, inventory_queries);
    tcase_add_test(tc, swap_records_on_pad_time);
    tcase_add_test(tc, events_listed_since);
    tcase_add_test(tc, malformed_event_json_is_refused);
    tcase_add_test(tc, alarm_lifecycle);
    tcase_add_test(tc, status_change_keeps_reason_and_logs);
    tcase_add_test(tc, estimates_update_and_nan_is_refused);
    tcase_add_test(tc, charges_and_flights_need_a_known_pack);
    tcase_add_test(tc, read_only_open_refuses_writes);
    tcase_add_test(tc, version_1_file_is_migrated);
    tcase_add_test(tc, landing_queue_is_kept_in_arrival_order);
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("refusals");
    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_test(bad, text_file_is_not_a_database);
    tcase_add_test(bad, overwritten_header_is_refused);
    tcase_add_test(bad, overwritten_page_size_is_refused);
    tcase_add_test(bad, corrupted_page_is_refused_not_repaired);
    tcase_add_test(bad, newer_schema_is_refused);
    tcase_add_test(bad, missing_file_without_create_is_refused);
    tcase_add_test(bad, empty_file_is_refused_even_with_create);
    suite_add_tcase(s, bad);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
