/* The scan on fresh input ([scan] on_fresh_input = true) on real processes: swapd over
 * Modbus TCP to swapsim scans as the plant link hands images over (more often than the
 * 20 ms clock would) while a swap awaits plant edges, paces itself by the period at rest
 * (also after the drone's pty hung up), and keeps the comm-loss rule: a silent plant
 * holds the station with comm_loss and the plant's own watchdog trips. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proc.h"
#include "rig.h"

#define RTF "3"

static void write_config(struct rig *r, char *path, size_t size)
{
    snprintf(path, size, "%s/swapd-fresh.ini", r->dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[eligibility]\nmin_rest_after_charge_s = 0\n[scan]\non_fresh_input = true\n");
    fclose(f);
}

static const char *state_of(struct rig *r, char *buf, size_t size)
{
    json_t *s = rig_status(r);
    snprintf(buf, size, "%s", s ? json_string_value(json_object_get(s, "state")) : "?");
    json_decref(s);
    return buf;
}

static long long scans(struct rig *r)
{
    json_t *s = rig_status(r);
    long long n = s ? json_integer_value(json_object_get(json_object_get(s, "scan"), "scans")) : -1;
    json_decref(s);
    return n;
}

/* A swap step is in progress (status "step" is not null). */
static bool in_step(struct rig *r)
{
    json_t *s = rig_status(r);
    bool yes = s && json_is_string(json_object_get(s, "step"));
    json_decref(s);
    return yes;
}

static bool alarm_active(struct rig *r, const char *code)
{
    json_t *rep = rig_swapd(r, "{\"cmd\":\"alarms\"}");
    bool found = false;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "alarms"), i, a) {
        found |= !strcmp(json_string_value(json_object_get(a, "code")), code);
    }
    json_decref(rep);
    return found;
}

static void nap(void)
{
    struct timespec ts = { 0, 10 * 1000000L };
    nanosleep(&ts, NULL);
}

START_TEST(fresh_images_drive_the_scan_and_comm_loss_still_holds)
{
    struct rig r = { 0 };
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    ck_assert_msg(rig_start_drones(&r, "1", "3") == 0, "%s", r.err);
    char cfg[600];
    write_config(&r, cfg, sizeof cfg);
    ck_assert_msg(rig_start_swapd(&r, cfg, true) == 0, "%s", r.err);
    char st[32];
    long long end = proc_now_ms() + 30000;
    while (proc_now_ms() < end && strcmp(state_of(&r, st, sizeof st), "Execute") && strcmp(st, "Suspended"))
        nap();
    ck_assert_msg(!strcmp(st, "Execute") || !strcmp(st, "Suspended"), "station did not start: %s", st);

    /* While a swap runs the core awaits plant edges: scans follow the images back to
     * back, more than twice the 25 a fixed 20 ms clock would run in half a second. */
    long long n0 = -1, n1 = -1, t0 = 0, dt = 0;
    for (end = proc_now_ms() + 60000; proc_now_ms() < end;) {
        if (!in_step(&r)) {
            nap();
            continue;
        }
        n0 = scans(&r);
        t0 = proc_now_ms();
        while (proc_now_ms() - t0 < 500)
            nap();
        n1 = scans(&r);
        dt = proc_now_ms() - t0;
        if (in_step(&r))
            break;   /* the whole window inside a swap */
        n0 = -1;
    }
    ck_assert_msg(n0 >= 0, "no half second inside a swap step within 60 s");
    printf("scan on fresh input, swap running: %lld scans in %lld ms\n", n1 - n0, dt);
    ck_assert_int_gt(n1 - n0, 2 * dt / 20);

    /* At rest (the drone gone: its pty hung up, the old pack stored, nothing moving) the
     * link paces itself by its period: a few scans per period, not the ~800 per second of
     * back-to-back polling, nor a scan spinning on the hung-up drone link; and the plant
     * echo keeps following (no plant_frozen). */
    proc_stop(r.drones, 5000);
    r.drones = 0;
    bool rest = false;
    for (end = proc_now_ms() + 60000; !rest && proc_now_ms() < end;) {
        rest = !in_step(&r) && !strcmp(state_of(&r, st, sizeof st), "Suspended");
        if (!rest)
            nap();
    }
    ck_assert_msg(rest, "station not at rest within 60 s of the drone leaving (state %s)", st);
    n0 = scans(&r);
    t0 = proc_now_ms();
    while (proc_now_ms() - t0 < 1000)
        nap();
    n1 = scans(&r);
    dt = proc_now_ms() - t0;
    printf("scan on fresh input, at rest: %lld scans in %lld ms\n", n1 - n0, dt);
    ck_assert_int_lt(n1 - n0, 8 * dt / 20);
    ck_assert_msg(!alarm_active(&r, "plant_frozen"), "plant_frozen at rest");
    ck_assert_str_eq(state_of(&r, st, sizeof st), "Suspended");

    /* The comm-loss rule is the same: a silent plant holds the station. */
    json_t *rep = rig_sim(&r, "{\"cmd\":\"inject\",\"fault\":\"silent\"}");
    ck_assert(rep && json_is_true(json_object_get(rep, "ok")));
    json_decref(rep);
    long long since = proc_now_ms();
    bool held = false;
    while (!held && proc_now_ms() - since < 10000) {
        held = alarm_active(&r, "comm_loss") && !strcmp(state_of(&r, st, sizeof st), "Held");
        if (!held)
            nap();
    }
    ck_assert_msg(held, "no comm_loss hold within 10 s of the plant going silent (state %s)", st);
    printf("silent plant on fresh input: Held with comm_loss after %lld ms\n", proc_now_ms() - since);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scan_fresh");
    TCase *tc = tcase_create("scan_fresh");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fresh_images_drive_the_scan_and_comm_loss_still_holds);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
