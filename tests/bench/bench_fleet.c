/* Thirty drones on one link (docs/drone-protocol.md §9): the whole in-process station —
 * plant, core, drone link and thirty simulated drones talking MAVLink — with every drone
 * asking one after the other, three of them diverting once while queued. Prints each
 * request's wait against the position the station promised it, as a ratio to the swap
 * cycle (clearance to clearance) measured in the same run, and checks the order and the
 * documented bound per position. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "campaign.h"
#include "core/swapseq.h"
#include "dronelink/dronelink.h"

#define DRONES 30
#define SWAPS 60

int main(void)
{
    static struct campaign_wait waits[512];
    struct campaign_opts o = { .seed = 7, .swaps = SWAPS, .sequence = SWAPSEQ_PIPELINED, .faults = false,
                               .n_drones = DRONES, .fleet = true, .fleet_divert = 3, .waits = waits,
                               .max_waits = 512, .report = stderr };
    struct campaign_result r;
    if (campaign_run(&o, &r) != 0) {
        fprintf(stderr, "bench_fleet: the world failed (%s%s)\n", r.first_violation, r.first_stall);
        return 1;
    }
    /* The cycle: mean time between consecutive clearances. */
    uint64_t first = 0, last = 0;
    unsigned n_cleared = 0;
    for (unsigned i = 0; i < r.n_waits; i++) {
        if (!waits[i].cleared_ms)
            continue;
        if (!first || waits[i].cleared_ms < first)
            first = waits[i].cleared_ms;
        if (waits[i].cleared_ms > last)
            last = waits[i].cleared_ms;
        n_cleared++;
    }
    double cycle_s = n_cleared > 1 ? (double)(last - first) / 1000.0 / (n_cleared - 1) : 0;
    printf("fleet: %u drones, %u requests, %u cleared, swap cycle %.2f s (clearance to clearance, this run)\n",
           DRONES, r.n_waits, n_cleared, cycle_s);
    printf("fleet: %-6s %8s %4s %9s %9s %12s\n", "drone", "asked_s", "pos", "wait_s", "per_pos_s", "per_pos/cycle");
    double worst = 0;
    for (unsigned i = 0; i < r.n_waits; i++) {
        const struct campaign_wait *w = &waits[i];
        if (w->diverted) {
            printf("fleet: %-6u %8.1f %4u %9s\n", w->sysid, w->asked_ms / 1000.0, w->position, "diverted");
            continue;
        }
        if (!w->cleared_ms) {
            printf("fleet: %-6u %8.1f %4u %9s (%.1f s so far)\n", w->sysid, w->asked_ms / 1000.0, w->position,
                   "waiting", (r.virtual_ms - w->asked_ms) / 1000.0);
            continue;
        }
        double wait = (w->cleared_ms - w->asked_ms) / 1000.0;
        double per = w->position ? wait / w->position : 0;
        double ratio = cycle_s > 0 ? per / cycle_s : 0;
        if (ratio > worst)
            worst = ratio;
        printf("fleet: %-6u %8.1f %4u %9.1f %9.1f %12.2f\n", w->sysid, w->asked_ms / 1000.0, w->position, wait, per,
               ratio);
    }
    char why[256];
    int rc = campaign_fleet_check(waits, r.n_waits, DRONELINK_WAIT_PER_POSITION_MS, r.virtual_ms, why, sizeof why);
    printf("fleet: worst wait per position / cycle %.2f; first come first served and within %.0f s per position: %s\n",
           worst, DRONELINK_WAIT_PER_POSITION_MS / 1000.0, rc == 0 ? "yes" : why);
    return rc == 0 ? 0 : 1;
}
