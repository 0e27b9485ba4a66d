/* The landing queue against docs/drone-protocol.md with real processes: swapsim (Modbus
 * TCP), dronesim (MAVLink over a pseudo-terminal) and swapd. Each test names the section
 * it checks. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proc.h"
#include "rig.h"

#define RTF "3"
#define CONFIG "tests/data/swapd-e2e.ini"

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The state swapctl drones shows for sysid, copied into out ("" when not listed). */
static void drone_state(struct rig *r, int sysid, char *out, size_t size)
{
    out[0] = 0;
    json_t *rep = rig_swapd(r, "{\"cmd\":\"drones\"}");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "drones"), i, d)
        if (json_integer_value(json_object_get(d, "sysid")) == sysid)
            snprintf(out, size, "%s", json_string_value(json_object_get(d, "state")));
    json_decref(rep);
}

/* The number of the first event after seq whose text holds text, 0 none. */
static long long event_after(struct rig *r, long long seq, const char *text)
{
    json_t *rep = rig_swapd(r, "{\"cmd\":\"events\",\"limit\":100000}");
    long long found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "events"), i, e) {
        const char *t = json_string_value(json_object_get(e, "text"));
        long long n = json_integer_value(json_object_get(e, "seq"));
        if (!found && n > seq && t && strstr(t, text))
            found = n;
    }
    json_decref(rep);
    return found;
}

/* §8 and §3: drone 10 never acks its clearance. swapctl drones shows it "cleared" (in the
 * air), never "on_pad"; after six transmissions the station cancels it (timeout), frees
 * the pad, and drone 11 is cleared to land next. */
START_TEST(unacked_clearance_frees_the_pad_for_the_next_drone)
{
    struct rig r = { 0 };
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    ck_assert_msg(rig_start_drones_mis(&r, "2", "3", "no_ack@0+80000/10") == 0, "%s", r.err);
    ck_assert_msg(rig_start_swapd(&r, CONFIG, true) == 0, "%s", r.err);
    bool cleared_seen = false;
    long long withdrawn = 0, next = 0;
    long long end = proc_now_ms() + 120000;
    char st[32];
    while (proc_now_ms() < end && !next) {
        ck_assert_msg(proc_alive(r.swapd), "swapd died");
        drone_state(&r, 10, st, sizeof st);
        ck_assert_msg(strcmp(st, "on_pad") != 0, "drone 10 never landed but is shown on_pad");
        cleared_seen |= !strcmp(st, "cleared");
        if (!withdrawn)
            withdrawn = event_after(&r, 0, "drone 10 withdrew before touchdown");
        if (withdrawn)
            next = event_after(&r, withdrawn, "drone 11 cleared to land");
        pause_ms(100);
    }
    if (getenv("DRONEQUEUE_VERBOSE")) {
        json_t *ev = rig_swapd(&r, "{\"cmd\":\"events\"}");
        json_dumpf(ev, stdout, JSON_INDENT(1));
        json_decref(ev);
        ev = rig_swapd(&r, "{\"cmd\":\"drones\"}");
        json_dumpf(ev, stdout, 0);
        json_decref(ev);
    }
    ck_assert_msg(cleared_seen, "drone 10 was never shown cleared");
    ck_assert_msg(withdrawn, "drone 10's clearance was never given up");
    ck_assert_msg(next, "drone 11 was not cleared after drone 10's clearance lapsed");
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}
END_TEST

/* §5: a protocol version other than 1 is denied bad_request (final): the drone diverts and
 * the station never queues it. */
START_TEST(wrong_version_is_never_queued)
{
    struct rig r = { 0 };
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    ck_assert_msg(rig_start_drones_mis(&r, "1", "2", "bad_version@0+80000") == 0, "%s", r.err);
    ck_assert_msg(rig_start_swapd(&r, CONFIG, true) == 0, "%s", r.err);
    long long end = proc_now_ms() + 6000;
    char st[32];
    while (proc_now_ms() < end) {
        drone_state(&r, 10, st, sizeof st);
        ck_assert_msg(strcmp(st, "queued") && strcmp(st, "cleared"), "drone 10 was queued (%s)", st);
        pause_ms(200);
    }
    ck_assert_int_le(rig_swaps(&r), 0);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dronequeue");
    TCase *tc = tcase_create("processes");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, unacked_clearance_frees_the_pad_for_the_next_drone);
    tcase_add_test(tc, wrong_version_is_never_queued);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
