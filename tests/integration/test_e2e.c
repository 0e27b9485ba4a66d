/* End to end with real processes: swapsim (Modbus TCP) + dronesim (MAVLink over a
 * pseudo-terminal) + swapd complete swaps; swapd killed with SIGKILL at random points
 * and restarted never loses a battery, and moves nothing before it has reconciled. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "rig.h"
#include "regmap/regmap.h"

/* Plant and drones run this many times faster than the wall clock; swapd's own
 * deadlines are upper bounds, so a faster plant only finishes earlier. */
#define RTF "3"
#define CONFIG "tests/data/swapd-e2e.ini"

static void start_sim(struct rig *r) { ck_assert_msg(rig_start_sim(r, RTF) == 0, "%s", r->err); }
static void start_drones(struct rig *r, const char *n) { ck_assert_msg(rig_start_drones(r, n, "3") == 0, "%s", r->err); }
static void start_swapd(struct rig *r, bool autostart)
{
    ck_assert_msg(rig_start_swapd(r, CONFIG, autostart) == 0, "%s", r->err);
}
static void stop_all(struct rig *r) { ck_assert_msg(rig_stop_all(r) == 0, "%s", r->err); }
static json_t *swapd_req(struct rig *r, const char *line) { return rig_swapd(r, line); }
static json_t *sim_req(struct rig *r, const char *line) { return rig_sim(r, line); }
static json_t *status(struct rig *r) { return rig_status(r); }
static bool wait_swaps(struct rig *r, long long n, int timeout_ms)
{
    bool ok = rig_wait_swaps(r, n, timeout_ms);
    ck_assert_msg(ok || proc_alive(r->swapd), "%s", r->err);
    return ok;
}

/* Every pack the plant holds is where the registry says, and the registry knows it. */
static void check_inventory(struct rig *r)
{
    json_t *truth = sim_req(r, "{\"cmd\":\"truth\"}");
    json_t *reg = swapd_req(r, "{\"cmd\":\"batteries\"}");
    ck_assert_ptr_nonnull(truth);
    ck_assert_ptr_nonnull(reg);
    json_t *packs = json_object_get(json_object_get(reg, "result"), "batteries");
    size_t i;
    json_t *b;
    int checked = 0;
    json_array_foreach(json_object_get(truth, "batteries"), i, b) {
        unsigned tag = (unsigned)json_integer_value(json_object_get(b, "tag"));
        const char *place = json_string_value(json_object_get(b, "place"));
        char id[32], want[32];
        snprintf(id, sizeof id, "SWP-%08X", tag);
        if (!strcmp(place, "slot"))
            snprintf(want, sizeof want, "slot %lld", json_integer_value(json_object_get(b, "slot")) + 1);
        else if (!strcmp(place, "gripper_a"))
            snprintf(want, sizeof want, "gripper A");
        else if (!strcmp(place, "gripper_b"))
            snprintf(want, sizeof want, "gripper B");
        else
            snprintf(want, sizeof want, "drone");  /* on the pad or flying */
        const char *loc = NULL;
        size_t k;
        json_t *p;
        json_array_foreach(packs, k, p) {
            if (!strcmp(json_string_value(json_object_get(p, "battery")), id))
                loc = json_string_value(json_object_get(p, "location"));
        }
        if (!loc && !strcmp(want, "drone"))
            continue;  /* a drone's own pack that never visited the station */
        ck_assert_msg(loc, "pack %s (%s in the plant) is not in the registry", id, place);
        ck_assert_msg(!strncmp(loc, want, strlen(want)), "pack %s: registry says %s, plant says %s", id, loc,
                      want);
        checked++;
    }
    ck_assert_int_ge(checked, 8);
    json_decref(truth);
    json_decref(reg);
}

START_TEST(swaps_complete_over_modbus_and_mavlink)
{
    struct rig r = { 0 };
    start_sim(&r);
    start_drones(&r, "2");
    start_swapd(&r, true);
    ck_assert_msg(wait_swaps(&r, 3, 120000), "fewer than 3 swaps in 120 s");
    check_inventory(&r);
    json_t *s = status(&r);
    ck_assert_str_eq(json_string_value(json_object_get(s, "state")), "Execute");
    ck_assert_int_eq(json_integer_value(json_object_get(s, "alarms_active")), 0);
    json_decref(s);
    stop_all(&r);
}
END_TEST

/* A coil change that makes something move: enabling an axis, homing or the carousel
 * (disabling them stops motion, which is always allowed), or switching any
 * two-position device either way. */
static bool is_motion_coil(unsigned addr, json_int_t new_value)
{
    switch (addr) {
    case REGMAP_CO_X_ENABLE: case REGMAP_CO_X_HOME: case REGMAP_CO_Z_ENABLE: case REGMAP_CO_Z_HOME:
    case REGMAP_CO_CAROUSEL_ENABLE:
        return new_value != 0;
    case REGMAP_CO_CENTER_CLOSE: case REGMAP_CO_CLAMP_LOCK: case REGMAP_CO_STROKE_EXTEND:
    case REGMAP_CO_WRIST_B: case REGMAP_CO_GRIP_A_CLOSE: case REGMAP_CO_GRIP_B_CLOSE:
        return true;
    default:
        return false;
    }
}

static json_int_t plant_ms(struct rig *r)
{
    json_t *st = sim_req(r, "{\"cmd\":\"status\"}");
    json_int_t t = st ? json_integer_value(json_object_get(st, "plant_ms")) : -1;
    json_decref(st);
    return t;
}

/* Motion commands the plant received with plant time in [t0, t1]. The log is replayed
 * from the start so that a new target counts as motion only while its axis is enabled. */
static int motion_commands_between(struct rig *r, json_int_t t0, json_int_t t1, char *first, size_t size)
{
    json_t *log = sim_req(r, "{\"cmd\":\"log\",\"from\":0}");
    ck_assert_ptr_nonnull(log);
    int n = 0;
    json_int_t co[REGMAP_CO_COUNT] = { 0 };
    static const unsigned enable_of[] = { [REGMAP_HR_X_TARGET] = REGMAP_CO_X_ENABLE,
                                          [REGMAP_HR_Z_TARGET] = REGMAP_CO_Z_ENABLE,
                                          [REGMAP_HR_CAROUSEL_TARGET] = REGMAP_CO_CAROUSEL_ENABLE };
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(log, "entries"), i, e) {
        json_int_t t = json_integer_value(json_object_get(e, "t_ms"));
        const char *table = json_string_value(json_object_get(e, "table"));
        unsigned addr = (unsigned)json_integer_value(json_object_get(e, "addr"));
        json_int_t v = json_integer_value(json_object_get(e, "new"));
        bool is_co = !strcmp(table, "co");
        bool motion = is_co ? is_motion_coil(addr, v)
                            : addr >= REGMAP_HR_X_TARGET && addr <= REGMAP_HR_CAROUSEL_TARGET && co[enable_of[addr]];
        if (is_co && addr < REGMAP_CO_COUNT)
            co[addr] = v;
        if (t >= t0 && t <= t1 && motion && n++ == 0)
            snprintf(first, size, "t=%lld %s %u %lld->%lld", (long long)t, table, addr,
                     json_integer_value(json_object_get(e, "old")), (long long)v);
    }
    json_decref(log);
    return n;
}

/* Polls until swapd says it has reconciled, or holds for the operator. */
static const char *wait_reconciled(struct rig *r, int timeout_ms)
{
    static char state[32];
    long long end = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < end) {
        json_t *s = status(r);
        if (s) {
            snprintf(state, sizeof state, "%s", json_string_value(json_object_get(s, "state")));
            bool done = json_is_true(json_object_get(s, "reconciled")) || !strcmp(state, "Held");
            json_decref(s);
            if (done)
                return state;
        }
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

START_TEST(sigkill_at_random_points_never_loses_a_battery)
{
    struct rig r = { 0 };
    start_sim(&r);
    start_drones(&r, "2");
    start_swapd(&r, true);
    ck_assert_msg(wait_swaps(&r, 1, 120000), "no first swap");
    /* SWAP_E2E_SEED explores other kill points; the default keeps the suite repeatable. */
    unsigned seed = getenv("SWAP_E2E_SEED") ? (unsigned)strtoul(getenv("SWAP_E2E_SEED"), NULL, 0) : 20261126;
    for (int kill_no = 0; kill_no < 4; kill_no++) {
        /* Let it work for a random 0.2..6 s, then kill it without warning. */
        long long until = proc_now_ms() + 200 + (long long)(rand_r(&seed) % 5800);
        while (proc_now_ms() < until) {  /* picks the kill time; waits on nothing */
            ck_assert(proc_alive(r.swapd));
            struct timespec ts = { 0, 10 * 1000000L };
            nanosleep(&ts, NULL);
        }
        proc_kill_wait(r.swapd, SIGKILL);
        json_int_t t0 = plant_ms(&r);
        start_swapd(&r, false);
        const char *state = wait_reconciled(&r, 15000);
        ck_assert_msg(state, "swapd neither reconciled nor held after restart %d", kill_no);
        json_int_t t1 = plant_ms(&r);
        char first[128] = "";
        int n = motion_commands_between(&r, t0, t1, first, sizeof first);
        ck_assert_msg(n == 0, "restart %d: %d motion commands before reconciliation, first %s", kill_no, n, first);
        if (!strcmp(state, "Held")) {
            /* Reconciliation stopped for the operator: the safe outcome; nothing moved. */
            ck_assert_int_eq(proc_stop(r.swapd, 5000), 0);
            r.swapd = 0;
            break;
        }
        check_inventory(&r);
        json_t *rep = swapd_req(&r, "{\"cmd\":\"reset\"}");
        json_decref(rep);
        json_t *st;
        long long end = proc_now_ms() + 20000;
        for (;;) {
            st = status(&r);
            const char *s = st ? json_string_value(json_object_get(st, "state")) : "";
            bool idle = s && !strcmp(s, "Idle");
            json_decref(st);
            if (idle || proc_now_ms() > end)
                break;
            struct timespec ts = { 0, 20 * 1000000L };
            nanosleep(&ts, NULL);
        }
        rep = swapd_req(&r, "{\"cmd\":\"start\"}");
        json_decref(rep);
        ck_assert_msg(wait_swaps(&r, 1, 120000), "no swap after restart %d", kill_no);
    }
    stop_all(&r);
}
END_TEST

/* Whether swapd reports alarm code as active. */
static bool alarm_active(struct rig *r, const char *code)
{
    json_t *rep = swapd_req(r, "{\"cmd\":\"alarms\"}");
    bool found = false;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "alarms"), i, a) {
        found |= !strcmp(json_string_value(json_object_get(a, "code")), code);
    }
    json_decref(rep);
    return found;
}

static const char *state_of(struct rig *r, char *buf, size_t size)
{
    json_t *s = status(r);
    snprintf(buf, size, "%s", s ? json_string_value(json_object_get(s, "state")) : "?");
    json_decref(s);
    return buf;
}

/* Polls until swapd holds with alarm code; returns the wall ms it took, or -1. */
static long long wait_safe(struct rig *r, const char *code, long long since, int timeout_ms)
{
    char st[32];
    while (proc_now_ms() - since < timeout_ms) {
        if (alarm_active(r, code) && !strcmp(state_of(r, st, sizeof st), "Held"))
            return proc_now_ms() - since;
        struct timespec ts = { 0, 5 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return -1;
}

static bool plant_watchdog_tripped(struct rig *r)
{
    json_t *t = sim_req(r, "{\"cmd\":\"truth\"}");
    bool tripped = t && json_is_true(json_object_get(t, "watchdog_tripped"));
    json_decref(t);
    return tripped;
}

/* A running station (Execute, waiting for drones) on a real plant. */
static void start_idle_station(struct rig *r)
{
    start_sim(r);
    start_drones(r, "1");
    start_swapd(r, true);
    long long end = proc_now_ms() + 30000;
    char st[32];
    while (proc_now_ms() < end && strcmp(state_of(r, st, sizeof st), "Execute") &&
           strcmp(st, "Suspended")) {
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(!strcmp(st, "Execute") || !strcmp(st, "Suspended"), "station did not start: %s", st);
}

/* The configured bound: comm_loss_ms of configs/swapd.ini (100 ms) plus one exchange
 * period and one response timeout, plus slack for a loaded test machine. */
#define SAFE_BOUND_MS (100 + 20 + 50 + 1000)

START_TEST(silent_plant_reaches_the_safe_state)
{
    struct rig r = { 0 };
    start_idle_station(&r);
    long long t0 = proc_now_ms();
    json_t *rep = sim_req(&r, "{\"cmd\":\"inject\",\"fault\":\"silent\"}");
    ck_assert(rep && json_is_true(json_object_get(rep, "ok")));
    json_decref(rep);
    long long took = wait_safe(&r, "comm_loss", t0, 10000);
    ck_assert_msg(took >= 0, "no comm_loss hold within 10 s of the plant going silent");
    printf("silent plant: Held with comm_loss after %lld ms (bound %d ms)\n", took, SAFE_BOUND_MS);
    ck_assert_int_le(took, SAFE_BOUND_MS);
    /* The plant stopped hearing heartbeats too: its own watchdog stops the robot. */
    long long end = proc_now_ms() + 5000;
    while (!plant_watchdog_tripped(&r) && proc_now_ms() < end) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(plant_watchdog_tripped(&r), "plant watchdog did not trip while its link was silent");
    stop_all(&r);
}
END_TEST

START_TEST(killed_plant_reaches_the_safe_state)
{
    struct rig r = { 0 };
    start_idle_station(&r);
    long long t0 = proc_now_ms();
    proc_kill_wait(r.sim, SIGKILL);
    r.sim = 0;
    long long took = wait_safe(&r, "comm_loss", t0, 10000);
    ck_assert_msg(took >= 0, "no comm_loss hold within 10 s of the plant dying");
    printf("killed plant: Held with comm_loss after %lld ms (bound %d ms)\n", took, SAFE_BOUND_MS);
    ck_assert_int_le(took, SAFE_BOUND_MS);
    ck_assert(proc_alive(r.swapd));
    stop_all(&r);
}
END_TEST

START_TEST(frozen_controller_trips_the_plant_watchdog)
{
    struct rig r = { 0 };
    start_idle_station(&r);
    ck_assert(!plant_watchdog_tripped(&r));
    kill(r.swapd, SIGSTOP);
    long long t0 = proc_now_ms();
    while (!plant_watchdog_tripped(&r) && proc_now_ms() - t0 < 5000) {
        struct timespec ts = { 0, 5 * 1000000L };
        nanosleep(&ts, NULL);
    }
    long long took = proc_now_ms() - t0;
    ck_assert_msg(plant_watchdog_tripped(&r), "plant watchdog did not trip with swapd frozen");
    printf("frozen swapd: plant watchdog tripped after %lld ms wall (300 ms plant time at %sx)\n", took, RTF);
    kill(r.swapd, SIGCONT);
    /* Back to life, swapd sees the latched watchdog and holds; it does not resume alone. */
    ck_assert_msg(wait_safe(&r, "watchdog", proc_now_ms(), 10000) >= 0,
                  "swapd did not hold on the plant's watchdog trip");
    stop_all(&r);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("e2e");
    TCase *tc = tcase_create("station");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, swaps_complete_over_modbus_and_mavlink);
    tcase_add_test(tc, sigkill_at_random_points_never_loses_a_battery);
    tcase_add_test(tc, silent_plant_reaches_the_safe_state);
    tcase_add_test(tc, killed_plant_reaches_the_safe_state);
    tcase_add_test(tc, frozen_controller_trips_the_plant_watchdog);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
