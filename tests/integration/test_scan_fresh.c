/* The scan on fresh input ([scan] on_fresh_input = true) on real processes: swapd over
 * Modbus TCP to swapsim scans as the plant link hands images over (more often than the
 * 20 ms clock would), reaches Execute, and keeps the comm-loss rule: a silent plant
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

    /* Scans follow the images: over a second of wall time, more than the 50 a fixed
     * 20 ms clock would run (each image is a round trip and a 1 ms pause apart). */
    long long n0 = scans(&r), t0 = proc_now_ms();
    while (proc_now_ms() - t0 < 1000)
        nap();
    long long n1 = scans(&r), dt = proc_now_ms() - t0;
    printf("scan on fresh input: %lld scans in %lld ms\n", n1 - n0, dt);
    ck_assert_int_gt(n1 - n0, 2 * dt / 20);

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
