/* Thirty drones on one link, over a pseudo-terminal, against the real swapd and swapsim
 * (docs/drone-protocol.md §9 and §8): dronesim flies thirty drones that come home one
 * after another in a shuffled order, two of them critical; three fall silent while queued.
 * The drones' own event log (dronesim --events) is replayed against the documented queue:
 * every clearance goes to the drone at the head (critical first, then first come first
 * served), every position told is the one the document gives, no wait breaks its
 * position's promise, the silent drones leave the queue 5 s after their last frame, and
 * the drones still waiting stand in the station's queue in the document's order. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dronelink/dronelink.h"
#include "droneproto/dproto.h"
#include "dronewait.h"
#include "proc.h"
#include "rig.h"

#define RTF "5"
#define CONFIG "tests/data/swapd-drones.ini"
#define CLEARANCES 7

/* With --seed 3 --ask-order shuffled the drones come home in this order (dronesim logs
 * it): 35 23 19 24 26 13 27 39 31 10 17 30 22 11 32 37 25 12 21 15 34 20 16 33 14 28 18 29
 * 36 38. The silent ones ask 18th, 28th and 30th, so none is near the head when it falls
 * silent; the critical ones ask 22nd and 24th. */
static const int silent[] = { 12, 29, 38 };
#define N_SILENT 3

/* The station's landing queue (swapctl drones), -1 if swapd did not answer. */
static int station_queue(struct rig *r, uint8_t *q, unsigned max)
{
    json_t *rep = rig_swapd(r, "{\"cmd\":\"drones\"}");
    json_t *arr = json_object_get(json_object_get(rep, "result"), "queue");
    if (!json_is_array(arr)) {
        json_decref(rep);
        return -1;
    }
    unsigned n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (n < max)
            q[n++] = (uint8_t)json_integer_value(v);
    json_decref(rep);
    return (int)n;
}

static bool in(const uint8_t *q, int n, int sysid)
{
    for (int i = 0; i < n; i++)
        if (q[i] == sysid)
            return true;
    return false;
}

START_TEST(thirty_drones_served_in_order_silent_ones_dropped)
{
    static struct rig r;
    static struct dwait_log log;
    memset(&r, 0, sizeof r);
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    char events[RIG_PATH + 16];
    snprintf(events, sizeof events, "%s/events.jsonl", r.dir);
    const char *extra[] = { "--soc", "1.0", "--soc-step", "0", "--stagger-s", "0.4", "--ask-order", "shuffled",
                            "--critical", "20,33", "--swaps", "1", "--events", events,
                            "--misbehave", "link_loss@35+80000/12", "--misbehave", "link_loss@35+80000/29",
                            "--misbehave", "link_loss@35+80000/38", NULL };
    ck_assert_msg(rig_start_drones_args(&r, "30", "20", extra) == 0, "%s", r.err);
    ck_assert_msg(rig_start_swapd(&r, CONFIG, true) == 0, "%s", r.err);

    /* Watch the station's queue for the silent drones leaving it. */
    bool seen[N_SILENT] = { false };
    double gone_ms[N_SILENT] = { 0 };
    long long end = proc_now_ms() + 90000, next_load = 0;
    uint8_t q[DRONELINK_MAX_DRONES];
    for (;;) {
        ck_assert_msg(proc_alive(r.swapd), "swapd died (see %s)", r.swapd_log);
        ck_assert_msg(proc_alive(r.drones), "dronesim died");
        int n = station_queue(&r, q, DRONELINK_MAX_DRONES);
        double now = (double)proc_now_ms();
        bool all_gone = true;
        for (int s = 0; s < N_SILENT; s++) {
            if (n >= 0 && in(q, n, silent[s]))
                seen[s] = true;
            else if (n >= 0 && seen[s] && !gone_ms[s])
                gone_ms[s] = now;
            all_gone &= gone_ms[s] > 0;
        }
        if (proc_now_ms() >= next_load) {
            ck_assert_int_eq(dwait_load(events, &log), 0);
            next_load = proc_now_ms() + 500;
            if (all_gone && dwait_cleared(&log) >= CLEARANCES)
                break;
        }
        ck_assert_msg(proc_now_ms() < end, "after 90 s: %u clearances, silent drones gone: %d %d %d",
                      dwait_cleared(&log), gone_ms[0] > 0, gone_ms[1] > 0, gone_ms[2] > 0);
        proc_nap_ms(40);
    }

    /* The station's queue and the drones' log at one moment: the queue read twice, 0.3 s
     * apart and equal (nothing moved in between, and the drones have logged what the
     * station did before), then the log up to the second reading. */
    uint8_t q2[DRONELINK_MAX_DRONES];
    int n = -1;
    double at_ms = 0;
    for (int tries = 0; tries < 20 && n < 0; tries++) {
        int n1 = station_queue(&r, q, DRONELINK_MAX_DRONES);
        proc_nap_ms(300);
        int n2 = station_queue(&r, q2, DRONELINK_MAX_DRONES);
        at_ms = (double)proc_now_ms();
        if (n1 >= 0 && n1 == n2 && !memcmp(q, q2, (size_t)n1))
            n = n1;
    }
    ck_assert_int_eq(dwait_load(events, &log), 0);
    ck_assert_msg(n >= 0, "the station's queue never held still");
    for (int s = 0; s < N_SILENT; s++)
        dwait_drop(&log, (uint8_t)silent[s], gone_ms[s]);

    uint8_t expect[DWAIT_MAX_REQS];
    unsigned n_expect = 0;
    char why[256];
    unsigned bad = dwait_check(&log, at_ms, 150, DRONELINK_WAIT_PER_POSITION_MS, DPROTO_LINK_LOST_MS, expect,
                               &n_expect, why, sizeof why);
    fprintf(stderr, "dronefair: %u requests, %u cleared, %u swapped, %u waiting; silent drones left after", log.n,
            dwait_cleared(&log), log.swaps, n_expect);
    for (int s = 0; s < N_SILENT; s++) {
        double silent_ms = 0;
        bool cleared = false;
        for (unsigned i = 0; i < log.n; i++)
            if (log.req[i].sysid == silent[s]) {
                silent_ms = log.req[i].silent_ms ? log.req[i].silent_ms : silent_ms;
                cleared |= log.req[i].cleared_ms > 0;
            }
        ck_assert_msg(silent_ms > 0, "drone %d never fell silent in the log", silent[s]);
        ck_assert_msg(!cleared, "silent drone %d was cleared", silent[s]);
        double after = gone_ms[s] - silent_ms;
        fprintf(stderr, " %.2f s", after / 1000.0);
        /* §8: unheard for 5 s. Its last frame left at most one telemetry period (0.2 s
         * here) before the silence; the probe looks every 40 ms or so. */
        ck_assert_msg(after >= DPROTO_LINK_LOST_MS - 500 && after <= DPROTO_LINK_LOST_MS + 1500,
                      "silent drone %d left the queue %.0f ms after it fell silent (§8: 5 s)", silent[s], after);
    }
    fprintf(stderr, "; violations %u%s%s\n", bad, bad ? ": " : "", bad ? why : "");
    ck_assert_int_eq(log.bad_lines, 0);
    ck_assert_msg(bad == 0, "%s", why);
    ck_assert_uint_ge(dwait_cleared(&log), CLEARANCES);
    /* Both critical drones asked while others waited and were served before them. */
    for (unsigned i = 0; i < log.n; i++)
        if (log.req[i].critical)
            ck_assert_msg(log.req[i].cleared_ms > 0, "critical drone %u not served", log.req[i].sysid);
    /* Nobody starves: every drone that asked and did not fall silent was cleared or waits
     * in the station's queue exactly where the document puts it. */
    ck_assert_uint_eq(dwait_cleared(&log) + n_expect + N_SILENT, 30);
    ck_assert_int_eq(n, (int)n_expect);
    for (unsigned i = 0; i < n_expect; i++)
        ck_assert_msg(q[i] == expect[i], "queue position %u: the station has drone %u, the document %u", i + 1, q[i],
                      expect[i]);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}
END_TEST

int main(void)
{
    if (rig_tolerant_plant() != 0)
        return EXIT_FAILURE;
    Suite *s = suite_create("dronefair");
    TCase *tc = tcase_create("processes");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, thirty_drones_served_in_order_silent_ones_dropped);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    proc_rmtree(getenv("SWAP_CONFIGS"));
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
