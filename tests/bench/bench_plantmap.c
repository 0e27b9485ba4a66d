/* Plant maps and links side by side: for each link (Modbus TCP, RTU 115200 8N1, RTU
 * 38400 8N1) and map (the default, the foreign test map), the scan plan (requests and
 * bytes per fast scan and per slow cycle), the fast-loop period the plan needs on that
 * link, and the on-pad time of fault-free swaps at that period with the plant served
 * through the map (in-process, virtual clock) against the DESIGN §7 lower bound, in one
 * run. The period is the plan's (computed from bytes and line timing), not measured on a
 * wire; the campaign runs the controller at exactly that period. Asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "core/swapseq.h"
#include "plantcfg/plantcfg.h"
#include "plantmap/plantmap.h"
#include "plantmap/scanplan.h"

#define SWAPS 50
#define SLOW_PERIOD_MS 1000

struct link_row {
    const char *name;
    struct scanplan_link l;
};

static double onpad_mean(const struct plantmap *m, unsigned scan_ms, double *max_s)
{
    struct campaign_result total = { 0 };
    for (unsigned w = 0; w < SWAPS / 25; w++) {
        struct campaign_opts o = { .seed = 100 + w, .swaps = 25, .sequence = SWAPSEQ_PIPELINED, .faults = false,
                                   .n_drones = 1, .scan_ms = scan_ms, .report = stderr, .plant_map = m };
        struct campaign_result r;
        if (campaign_run(&o, &r) != 0) {
            fprintf(stderr, "bench_plantmap: world %u failed: %s\n", w, r.first_violation);
            exit(1);
        }
        campaign_result_add(&total, &r);
    }
    *max_s = total.onpad_max_s;
    return total.onpad_n ? total.onpad_sum_s / total.onpad_n : 0;
}

int main(void)
{
    const char *src = getenv("SWAP_SRC");
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/configs/plantmap/foreign.ini", src && *src ? src : ".");
    struct plantmap maps[2];
    if (plantmap_default(&maps[0]) != 0 || plantmap_load(path, &maps[1], err, sizeof err) != 0) {
        fprintf(stderr, "bench_plantmap: %s\n", err);
        return 1;
    }
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    double bound_s = plantcfg_onpad_lower_bound_s(&pc);
    const struct link_row links[] = {
        { "TCP", { .tcp_bps = 100e6, .tcp_request_us = 200 } },
        { "RTU 115200", { .rtu = true, .baud = 115200, .data_bits = 8, .stop_bits = 1, .parity = 'N' } },
        { "RTU 38400", { .rtu = true, .baud = 38400, .data_bits = 8, .stop_bits = 1, .parity = 'N' } },
    };
    printf("on-pad lower bound (DESIGN §7): %.3f s; %u slots; slow period %d ms; %d swaps per row\n", bound_s,
           (unsigned)pc.n_slots, SLOW_PERIOD_MS, SWAPS);
    printf("%-11s %-12s %17s %17s %17s %9s %14s %9s\n", "link", "map", "fast scan (worst)", "typical scan",
           "slow cycle", "period", "on-pad mean", "ratio");
    for (size_t li = 0; li < sizeof links / sizeof links[0]; li++) {
        for (int mi = 0; mi < 2; mi++) {
            struct scanplan *p = malloc(sizeof *p);
            if (!p || scanplan_build(&maps[mi], (unsigned)pc.n_slots, &links[li].l, p, err, sizeof err) != 0) {
                fprintf(stderr, "bench_plantmap: %s\n", p ? err : "out of memory");
                return 1;
            }
            int period = scanplan_min_period_ms(p, &links[li].l, SLOW_PERIOD_MS);
            if (period < 20)
                period = 20;  /* the shipped scan period */
            struct scanplan_cost fw, ty, sc;
            scanplan_costs(p, &links[li].l, period, SLOW_PERIOD_MS, &fw, &ty, &sc);
            double max_s, mean = onpad_mean(&maps[mi], (unsigned)period, &max_s);
            char f1[32], f2[32], f3[32];
            snprintf(f1, sizeof f1, "%u req %4u B", fw.requests, fw.bytes);
            snprintf(f2, sizeof f2, "%u req %4u B", ty.requests, ty.bytes);
            snprintf(f3, sizeof f3, "%u req %4u B", sc.requests, sc.bytes);
            printf("%-11s %-12s %17s %17s %17s %6d ms %12.3f s %8.3fx (max %.3fx)\n", links[li].name, maps[mi].name,
                   f1, f2, f3, period, mean, mean / bound_s, max_s / bound_s);
            free(p);
        }
    }
    plantmap_free(&maps[0]);
    plantmap_free(&maps[1]);
    return 0;
}
