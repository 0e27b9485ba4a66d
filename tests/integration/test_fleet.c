/* The fleet with real processes (docs/fleet.md): a mosquitto broker on a free port,
 * stations (swapsim + dronesim + swapd as Sparkplug B edge nodes) and the swapfleet
 * host application. Swaps counted at each station equal the fleet view's; a killed
 * station is seen offline and reborn with a new bdSeq; rebirth on request; an illegal
 * command is refused with its reason; a broker outage loses no event. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleetrig.h"
#include "proc.h"
#include "rig.h"

#define RTF "3"

static void nap_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void start_station(struct fleetrig *f, struct rig *r, const char *node, bool drones, bool autostart)
{
    char cfg[RIG_PATH];
    ck_assert_msg(rig_start_sim(r, RTF) == 0, "%s", r->err);
    /* Without drones wanted, one drone still connects but the station is not started. */
    (void)drones;
    ck_assert_msg(rig_start_drones(r, "1", "3") == 0, "%s", r->err);
    ck_assert_int_eq(fleetrig_station_config(f, r, node, cfg, sizeof cfg), 0);
    ck_assert_msg(rig_start_swapd(r, cfg, autostart) == 0, "%s", r->err);
}

static long long jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static json_t *metric(json_t *st, const char *name) { return json_object_get(json_object_get(st, "metrics"), name); }

/* Waits until the host's record of node satisfies pred; returns it (new reference). */
typedef bool (*station_pred)(json_t *st, void *arg);
static json_t *wait_station(struct fleetrig *f, const char *node, station_pred pred, void *arg, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < end) {
        json_t *st = fleetrig_station(f, node);
        if (st && pred(st, arg))
            return st;
        json_decref(st);
        nap_ms(50);
    }
    return NULL;
}

static bool is_online(json_t *st, void *arg) { (void)arg; return json_is_true(json_object_get(st, "online")); }
static bool is_offline(json_t *st, void *arg) { (void)arg; return json_is_false(json_object_get(st, "online")); }
static bool swaps_equal(json_t *st, void *arg)
{
    return json_integer_value(metric(st, "Station/Swaps")) == *(long long *)arg;
}
static bool births_at_least(json_t *st, void *arg) { return jint(st, "births") >= *(long long *)arg && is_online(st, NULL); }

static int count_swap_events(json_t *st)
{
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(st, "events"), i, e)
        if (!strcmp(json_string_value(json_object_get(e, "type")), "swap") &&
            strstr(json_string_value(json_object_get(e, "text")), "cleared for take-off"))
            n++;
    return n;
}

START_TEST(test_swaps_at_each_station_equal_the_fleet_view)
{
    struct fleetrig f = { 0 };
    ck_assert_msg(fleetrig_start_broker(&f, NULL) == 0, "%s", f.err);
    ck_assert_msg(fleetrig_start_host(&f) == 0, "%s", f.err);
    static const char *const nodes[] = { "st-a", "st-b" };
    struct rig r[2];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 2; i++)
        start_station(&f, &r[i], nodes[i], true, true);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(rig_wait_swaps(&r[i], 2, 90000), "%s: %s", nodes[i], r[i].err);
    /* The drones go home; then every count must agree. */
    for (int i = 0; i < 2; i++) {
        proc_stop(r[i].drones, 5000);
        r[i].drones = 0;
    }
    for (int i = 0; i < 2; i++) {
        long long want = rig_swaps(&r[i]);
        json_t *st = wait_station(&f, nodes[i], swaps_equal, &want, 10000);
        ck_assert_msg(st, "%s: the fleet view never showed %lld swaps", nodes[i], want);
        ck_assert_int_eq(count_swap_events(st), want);
        ck_assert(json_is_true(json_object_get(st, "online")));
        ck_assert_int_eq(jint(st, "duplicates"), 0);
        ck_assert_int_eq(jint(st, "seq_gaps"), 0);
        ck_assert_msg(json_is_string(metric(st, "robot/Step")), "no robot device metrics");
        ck_assert_int_ge(json_integer_value(metric(st, "magazine/Slots")), 8);
        ck_assert_int_ge(json_array_size(metric(st, "magazine/Packs")), 8);
        json_decref(st);
    }
    char out[4096];
    const char *status[] = { "status", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, status), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(strstr(out, nodes[i]), "status lacks %s:\n%s", nodes[i], out);
    const char *bats[] = { "batteries", "--json", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, bats), 0);
    json_t *arr = json_loads(out, 0, NULL);
    ck_assert_msg(json_array_size(arr) >= 8, "batteries: %s", out);
    json_decref(arr);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(rig_stop_all(&r[i]) == 0, "%s", r[i].err);
    fleetrig_stop(&f);
}
END_TEST

START_TEST(test_killed_station_goes_offline_and_is_reborn)
{
    struct fleetrig f = { 0 };
    ck_assert_msg(fleetrig_start_broker(&f, NULL) == 0, "%s", f.err);
    ck_assert_msg(fleetrig_start_host(&f) == 0, "%s", f.err);
    struct rig r = { 0 };
    start_station(&f, &r, "st-k", false, false);
    json_t *st = wait_station(&f, "st-k", is_online, NULL, 15000);
    ck_assert_msg(st, "no birth from st-k");
    long long bd = jint(st, "bdseq"), births = jint(st, "births");
    json_decref(st);

    /* Rebirth on request: a new NBIRTH with the same bdSeq. */
    char out[1024];
    const char *rebirth[] = { "cmd", "st-k", "rebirth", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, rebirth), 0);
    long long want = births + 1;
    st = wait_station(&f, "st-k", births_at_least, &want, 10000);
    ck_assert_msg(st, "no rebirth");
    ck_assert_int_eq(jint(st, "bdseq"), bd);
    json_decref(st);

    /* An illegal command is refused with the core's reason; a legal one is accepted. */
    const char *unhold[] = { "cmd", "st-k", "unhold", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, unhold), 1);
    ck_assert_msg(strstr(out, "REFUSED") && strstr(out, "not possible in"), "%s", out);

    /* SIGKILL: the broker publishes the will (NDEATH with the same bdSeq). */
    proc_kill_wait(r.swapd, SIGKILL);
    r.swapd = 0;
    st = wait_station(&f, "st-k", is_offline, NULL, 15000);
    ck_assert_msg(st, "the host never saw st-k offline");
    ck_assert_int_eq(jint(st, "deaths"), 1);
    json_decref(st);
    const char *status[] = { "status", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, status), 0);
    ck_assert_msg(strstr(out, "OFFLINE"), "%s", out);

    /* Restart: a new bdSeq, a new birth. */
    char cfg[RIG_PATH];
    fleetrig_station_config(&f, &r, "st-k", cfg, sizeof cfg);
    ck_assert_msg(rig_start_swapd(&r, cfg, false) == 0, "%s", r.err);
    want = births + 2;
    st = wait_station(&f, "st-k", births_at_least, &want, 15000);
    ck_assert_msg(st, "no birth after the restart");
    ck_assert_int_ne(jint(st, "bdseq"), bd);
    json_decref(st);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
    fleetrig_stop(&f);
}
END_TEST

Suite *fleet_suite(void);
Suite *fleet_suite(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("node");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_killed_station_goes_offline_and_is_reborn);
    suite_add_tcase(s, tc);
    tc = tcase_create("counts");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_swaps_at_each_station_equal_the_fleet_view);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fleet_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
