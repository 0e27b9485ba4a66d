/* Plant maps and links side by side: for each link (Modbus TCP, RTU 115200 8N1, RTU
 * 38400 8N1) and map (the default, the foreign test map), the scan plan (requests and
 * bytes per fast scan and per slow cycle), the fast-loop period the plan needs on that
 * link, and the on-pad time of fault-free swaps at that period with the plant served
 * through the map (in-process, virtual clock) against the DESIGN §7 lower bound, in one
 * run; then the fast loop measured on a real wire beside the plan's figures: swapsim
 * serving the map (over loopback TCP, or RTU through a socat pty pair with --rtu-pace,
 * so each reply takes the line's time) and swapd's plant link, whose own measurement
 * (status plant_link_timing, also /metrics) gives the period between images and the
 * exchange time, mean and p99, with the fixed exchange period and on fresh input (back
 * to back). The station is started and idle (no drones): the heartbeat is the only
 * output that changes. Asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "proc.h"
#include "rig.h"
#include "core/swapseq.h"
#include "plantcfg/plantcfg.h"
#include "plantmap/plantmap.h"
#include "plantmap/scanplan.h"

#define SWAPS 50
#define FIXED_IMAGES 150         /* images measured with the fixed exchange period */
#define FRESH_IMAGES 400         /* images measured on fresh input */
#define SLOW_PERIOD_MS 1000

struct link_row {
    const char *name;
    struct scanplan_link l;
};

struct wire_figures {
    bool ok;
    double period_mean_ms, period_p99_ms, exchange_mean_ms, exchange_p99_ms;
    long long n;
};

static double num(const json_t *o, const char *a, const char *b)
{
    return json_number_value(json_object_get(json_object_get(o, a), b));
}

/* swapsim serving map_path (NULL: the default) over the row's link and swapd's plant link
 * against it, until swapd has measured images periods; its own figures. */
static struct wire_figures measure_wire(const struct link_row *row, const char *map_path, int unit, int period_ms,
                                        bool fresh, long long images)
{
    struct wire_figures w = { 0 };
    struct rig r = { 0 };
    char ini[RIG_PATH + 16], log[RIG_PATH + 16], bin[512], cfg[512], baud_s[16], plant_arg[64];
    snprintf(baud_s, sizeof baud_s, "%d", row->l.baud);
    r.plant_map = map_path;
    r.plant_unit = unit;
    r.rtu_baud = row->l.rtu ? baud_s : NULL;
    if (rig_start_sim(&r, "1") != 0) {
        fprintf(stderr, "bench_plantmap: %s\n", r.err);
        goto out;
    }
    proc_config("plant.ini", cfg, sizeof cfg);
    snprintf(ini, sizeof ini, "%s/swapd.ini", r.dir);
    FILE *f = fopen(ini, "w");
    if (!f)
        goto out;
    fprintf(f, "[scan]\non_fresh_input = %s\n\n[plant_link]\nunit_id = %d\nperiod_ms = %d\ntimeout_ms = 200\n",
            fresh ? "true" : "false", unit, period_ms);
    if (map_path)
        fprintf(f, "map = %s\n", map_path);
    if (row->l.rtu)
        fprintf(f, "transport = rtu\ndevice = %s\nbaud = %d\n", r.pty_pc, row->l.baud);
    fclose(f);
    snprintf(log, sizeof log, "%s/swapd.log", r.dir);
    snprintf(r.db, sizeof r.db, "%s/swapd.db", r.dir);
    snprintf(plant_arg, sizeof plant_arg, "127.0.0.1:%ld", r.port ? r.port : 1);
    char link[RIG_PATH + 16];
    snprintf(link, sizeof link, "pty:%s/no-drones", r.dir);
    char *swapd[] = { (char *)proc_bin("swapd", bin, sizeof bin), "--config", ini, "--plant-config", cfg, "--db", r.db,
                      "--control", r.swapd_sock, "--plant", plant_arg, "--link", link, "--start", NULL };
    r.swapd = proc_spawn(swapd, log);
    if (proc_wait_path(r.swapd_sock, r.swapd, 10000) != 0)
        goto out;
    long long end = proc_now_ms() + 120000;
    while (proc_now_ms() < end && proc_alive(r.swapd)) {
        json_t *st = rig_status(&r);
        json_t *t = st ? json_object_get(st, "plant_link_timing") : NULL;
        if (t && (long long)num(t, "period", "n") >= images) {
            w.ok = true;
            w.n = (long long)num(t, "period", "n");
            w.period_mean_ms = num(t, "period", "mean_ms");
            w.period_p99_ms = num(t, "period", "p99_ms");
            w.exchange_mean_ms = num(t, "exchange", "mean_ms");
            w.exchange_p99_ms = num(t, "exchange", "p99_ms");
        }
        json_decref(st);
        if (w.ok)
            break;
        proc_nap_ms(200);
    }
out:
    if (!w.ok)
        fprintf(stderr, "bench_plantmap: no figures from the wire (logs kept in %s)\n", r.dir);
    r.keep = !w.ok;
    rig_stop_all(&r);
    return w;
}

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
    printf("\nthe fast loop on a real wire: swapsim serving the map (RTU through a socat pty pair, replies paced"
           " to the line), swapd's own measurement from its start (start-up included, then at rest, where fresh"
           " input keeps the period's grid); ratio: measured exchange on the wire / the plan's typical scan\n");
    printf("%-11s %-12s %9s %9s | %-25s | %-25s %-25s %8s\n", "link", "map", "plan scan", "period",
           "fixed: period mean / p99", "fresh: period mean / p99", "exchange mean / p99", "ratio");
    for (size_t li = 0; li < sizeof links / sizeof links[0]; li++) {
        for (int mi = 0; mi < 2; mi++) {
            struct scanplan *p = malloc(sizeof *p);
            if (!p || scanplan_build(&maps[mi], (unsigned)pc.n_slots, &links[li].l, p, err, sizeof err) != 0)
                return 1;
            int period = scanplan_min_period_ms(p, &links[li].l, SLOW_PERIOD_MS);
            if (period < 20)
                period = 20;
            struct scanplan_cost fw, ty, sc;
            scanplan_costs(p, &links[li].l, period, SLOW_PERIOD_MS, &fw, &ty, &sc);
            free(p);
            const char *mp = mi ? path : NULL;
            int unit = mi ? 17 : 1;
            struct wire_figures fx = measure_wire(&links[li], mp, unit, period, false, FIXED_IMAGES);
            struct wire_figures fr = measure_wire(&links[li], mp, unit, period, true, FRESH_IMAGES);
            char a[40], b[40], c[40];
            snprintf(a, sizeof a, fx.ok ? "%7.1f / %7.1f ms" : "(failed)", fx.period_mean_ms, fx.period_p99_ms);
            snprintf(b, sizeof b, fr.ok ? "%7.1f / %7.1f ms" : "(failed)", fr.period_mean_ms, fr.period_p99_ms);
            snprintf(c, sizeof c, fr.ok ? "%7.1f / %7.1f ms" : "(failed)", fr.exchange_mean_ms, fr.exchange_p99_ms);
            /* the exchange measured on the wire against the plan's typical scan of the same run */
            printf("%-11s %-12s %6.1f ms %6d ms | %-25s | %-25s %-25s %7.2fx\n", links[li].name, maps[mi].name,
                   ty.us / 1000.0, period, a, b, c, fr.ok ? fr.exchange_mean_ms / (ty.us / 1000.0) : 0.0);
        }
    }
    plantmap_free(&maps[0]);
    plantmap_free(&maps[1]);
    return 0;
}
