/* Thirty drones on one link over a pseudo-terminal, against the real swapd and swapsim
 * (docs/drone-protocol.md §9): dronesim flies thirty drones that come home one after
 * another in a shuffled order, two of them critical, and each leaves after one swap. The
 * drones' own event log is replayed against the documented queue. Prints each drone's
 * wait (request to clearance) against the bound promised for its position
 * (n × DRONELINK_WAIT_PER_POSITION_MS) and against the swap cycle measured in the same
 * run, the worst ratios, and whether the order was first come first served within a
 * priority. Exit 1 on a violation or when not every drone got its swap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dronelink/dronelink.h"
#include "droneproto/dproto.h"
#include "dronewait.h"
#include "proc.h"
#include "rig.h"

#define DRONES 30
#define RTF "5"

static int by_asked(const void *a, const void *b)
{
    const struct dwait_req *x = a, *y = b;
    return x->asked_ms < y->asked_ms ? -1 : x->asked_ms > y->asked_ms;
}

int main(void)
{
    static struct rig r;
    static struct dwait_log log;
    if (rig_tolerant_plant() != 0 || rig_start_sim(&r, RTF) != 0) {
        fprintf(stderr, "bench_drones: %s\n", r.err);
        return 1;
    }
    char events[RIG_PATH + 16];
    snprintf(events, sizeof events, "%s/events.jsonl", r.dir);
    const char *extra[] = { "--soc", "1.0", "--soc-step", "0", "--stagger-s", "0.4", "--ask-order", "shuffled",
                            "--critical", "20,33", "--swaps", "1", "--events", events,
                            /* Waits are minutes of station time, five times as many for drones
                             * flying at 5x: a light drone lasts them out. */
                            "--hover-a", "5", NULL };
    if (rig_start_drones_args(&r, "30", "20", extra) != 0 || rig_start_swapd(&r, "tests/data/swapd-drones.ini", true) != 0) {
        fprintf(stderr, "bench_drones: %s\n", r.err);
        rig_stop_all(&r);
        return 1;
    }
    long long t0 = proc_now_ms(), end = t0 + 600000;
    int rc = 0;
    while (log.swaps < DRONES) {
        if (!proc_alive(r.swapd) || !proc_alive(r.drones) || proc_now_ms() > end) {
            fprintf(stderr, "bench_drones: %s after %.0f s with %u swaps (logs kept in %s)\n",
                    proc_now_ms() > end ? "gave up" : "a program died", (proc_now_ms() - t0) / 1000.0, log.swaps,
                    r.dir);
            r.keep = true;
            rc = 1;
            break;
        }
        proc_nap_ms(500);
        dwait_load(events, &log);
    }
    double now = (double)proc_now_ms();
    char why[256];
    unsigned bad = dwait_check(&log, now, 150, DRONELINK_WAIT_PER_POSITION_MS, DPROTO_LINK_LOST_MS, NULL, NULL, why,
                               sizeof why);

    /* The cycle: mean time between consecutive clearances. */
    double first = 0, last = 0, first_ask = 0;
    unsigned n_cleared = 0;
    for (unsigned i = 0; i < log.n; i++) {
        const struct dwait_req *w = &log.req[i];
        if (!first_ask || w->asked_ms < first_ask)
            first_ask = w->asked_ms;
        if (!w->cleared_ms)
            continue;
        if (!first || w->cleared_ms < first)
            first = w->cleared_ms;
        if (w->cleared_ms > last)
            last = w->cleared_ms;
        n_cleared++;
    }
    double cycle_s = n_cleared > 1 ? (last - first) / 1000.0 / (n_cleared - 1) : 0;
    printf("drones: %d drones on one pty (plant and drones at %sx), %u requests, %u cleared, %u swapped, "
           "swap cycle %.2f s (clearance to clearance, this run)\n",
           DRONES, RTF, log.n, n_cleared, log.swaps, cycle_s);
    printf("drones: %-5s %4s %8s %4s %5s %8s %9s %10s %13s\n", "drone", "crit", "asked_s", "pos", "model", "wait_s",
           "per_pos_s", "wait/bound", "per_pos/cycle");
    qsort(log.req, log.n, sizeof log.req[0], by_asked);
    double worst_bound = 0, worst_cycle = 0;
    for (unsigned i = 0; i < log.n; i++) {
        const struct dwait_req *w = &log.req[i];
        unsigned pos = w->position ? w->position : 1;
        if (!w->cleared_ms) {
            printf("drones: %-5u %4s %8.1f %4u %5u %8s\n", w->sysid, w->critical ? "yes" : "", (w->asked_ms - first_ask) / 1000.0,
                   w->position, w->model_position, w->silent_ms ? "left" : "waiting");
            continue;
        }
        double wait = (w->cleared_ms - w->asked_ms) / 1000.0;
        double bound = pos * DRONELINK_WAIT_PER_POSITION_MS / 1000.0;
        double per = wait / pos, ratio = cycle_s > 0 ? per / cycle_s : 0;
        if (wait / bound > worst_bound)
            worst_bound = wait / bound;
        if (ratio > worst_cycle)
            worst_cycle = ratio;
        printf("drones: %-5u %4s %8.1f %4u %5u %8.1f %9.1f %10.3f %13.2f\n", w->sysid, w->critical ? "yes" : "",
               (w->asked_ms - first_ask) / 1000.0, w->position, w->model_position, wait, per, wait / bound, ratio);
    }
    printf("drones: worst wait / bound (position × %.0f s) %.3f; worst wait per position / cycle %.2f\n",
           DRONELINK_WAIT_PER_POSITION_MS / 1000.0, worst_bound, worst_cycle);
    printf("drones: first come first served within a priority, positions as documented, every promise kept: %s\n",
           bad == 0 ? "yes" : why);
    if (rig_stop_all(&r) != 0) {
        fprintf(stderr, "bench_drones: %s\n", r.err);
        rc = 1;
    }
    proc_rmtree(getenv("SWAP_CONFIGS"));
    return rc || bad || log.swaps < DRONES ? 1 : 0;
}
