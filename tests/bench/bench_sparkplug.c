/* Many edge nodes on one broker: N fleet links (the same code swapd runs, one thread
 * each, default 200; BENCH_FLEET_NODES overrides) on a real mosquitto started here,
 * each reporting at 1 Hz (a changed metric and one event a second), and a subscriber in
 * the role of the host. Prints the broker's delivered messages/s, event-to-host latency
 * p50/p99 (the event's post time to its arrival at the subscriber, one clock), and the
 * scan-side cost of the hand-over (fleetlink_publish of a full snapshot and
 * fleetlink_post_event) beside a plain copy of the same snapshot measured in the same
 * run.
 *
 * Before that, swapd's own cost of the fleet link: two real stations (swapsim + drones
 * + swapd each) run side by side on this broker, one with [fleet] enabled and one
 * without, and swapd's CPU time per scan (utime + stime over the scans it counted) is
 * compared over the same window; the events of the fleet station give the event-to-
 * fleet-view latency (the event's time in the scan to its arrival at the host, one
 * wall clock). Asserts nothing about time; fails only if something does not come up. */
#include <math.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleetlink/fleetlink.h"
#include "fleetrig.h"
#include "proc.h"
#include "rig.h"
#include "sparkplug/spb.h"

#define RUN_S 10
#define STATION_S 20
#define MAX_LAT 200000

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct {
    uint64_t msgs, events;
    double lat_ms[MAX_LAT];
    size_t n_lat;
    /* the real station's events: arrival (wall) minus the event's own time */
    double st_lat_ms[MAX_LAT];
    size_t n_st_lat;
    double st_worst_ms;
    char st_worst[200];
} sub;

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return NAN;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return NAN;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void on_msg(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m, (void)obj;
    sub.msgs++;
    struct spb_decoded d;
    if (spb_decode(msg->payload, (size_t)msg->payloadlen, &d) != 0)
        return;
    uint64_t now = mono_us();
    if (strstr(msg->topic, "/NDATA/st-bench")) {
        uint64_t wall = wall_ms();
        for (size_t i = 0; i < d.p.n_metrics; i++) {
            const struct spb_metric *x = &d.metrics[i];
            if (x->has_alias && x->alias == FLEETLINK_ALIAS_EVENT_ID && x->has_timestamp && !x->is_historical &&
                sub.n_st_lat < MAX_LAT) {
                double lat = (double)wall - (double)x->timestamp_ms;
                sub.st_lat_ms[sub.n_st_lat++] = lat;
                for (size_t k = 0; lat > sub.st_worst_ms && k < d.p.n_metrics; k++)
                    if (d.metrics[k].has_alias && d.metrics[k].alias == FLEETLINK_ALIAS_EVENT_TEXT && d.metrics[k].s)
                        snprintf(sub.st_worst, sizeof sub.st_worst, "%s", d.metrics[k].s);
                if (lat > sub.st_worst_ms)
                    sub.st_worst_ms = lat;
            }
        }
    }
    for (size_t i = 0; i < d.p.n_metrics; i++) {
        const struct spb_metric *x = &d.metrics[i];
        if (x->has_alias && x->alias == FLEETLINK_ALIAS_EVENT_ID && x->s && !strncmp(x->s, "b-", 2)) {
            sub.events++;
            if (sub.n_lat < MAX_LAT)
                sub.lat_ms[sub.n_lat++] = (double)(now - strtoull(x->s + 2, NULL, 10)) / 1000.0;
        }
    }
    spb_decoded_free(&d);
}

/* mosquitto_loop() uses select(), blind to descriptors >= 1024 (200 spools are open). */
static void loop(struct mosquitto *m, int timeout_ms)
{
    struct pollfd p = { .fd = mosquitto_socket(m), .events = POLLIN | (mosquitto_want_write(m) ? POLLOUT : 0) };
    if (p.fd >= 0 && poll(&p, 1, timeout_ms) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
        mosquitto_loop_read(m, 1);
    if (mosquitto_want_write(m))
        mosquitto_loop_write(m, 1);
    mosquitto_loop_misc(m);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One station for the scan-cost comparison; fleet selects [fleet] enabled. */
static int start_bench_station(struct fleetrig *f, struct rig *r, bool fleet)
{
    char cfg[RIG_PATH], text[4096];
    if (rig_start_sim(r, "3") != 0 || rig_start_drones(r, "1", "3") != 0)
        return -1;
    if (fleetrig_station_config(f, r, fleet ? "st-bench" : "st-nofleet", cfg, sizeof cfg) != 0)
        return -1;
    FILE *in = fopen(cfg, "r");
    size_t n = in ? fread(text, 1, sizeof text - 1, in) : 0;
    if (in)
        fclose(in);
    text[n] = 0;
    char *en = strstr(text, "enabled = true");
    if (!fleet && en)
        memcpy(en, "enabled =false", 14);
    FILE *out = fopen(cfg, "w");
    if (!out)
        return -1;
    fputs(text, out);
    fclose(out);
    return rig_start_swapd(r, cfg, true);
}

static long long scans_of(struct rig *r)
{
    json_t *s = rig_status(r);
    long long n = json_integer_value(json_object_get(json_object_get(s, "scan"), "scans"));
    json_decref(s);
    return n;
}

/* swapd with and without the fleet link, side by side: CPU per scan. */
static int station_phase(struct fleetrig *f, struct mosquitto *m)
{
    struct rig r[2];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 2; i++)
        if (start_bench_station(f, &r[i], i == 1) != 0) {
            fprintf(stderr, "bench_sparkplug: station %d: %s\n", i, r[i].err);
            rig_stop_all(&r[0]);
            rig_stop_all(&r[1]);
            return -1;
        }
    for (int i = 0; i < 2; i++)
        if (!rig_wait_swaps(&r[i], 1, 150000)) {
            fprintf(stderr, "bench_sparkplug: station %d never swapped: %s (log %s)\n", i, r[i].err, r[i].swapd_log);
            r[0].keep = r[1].keep = true;
            rig_stop_all(&r[0]);
            rig_stop_all(&r[1]);
            return -1;
        }
    double cpu0[2];
    long long scans0[2];
    for (int i = 0; i < 2; i++) {
        cpu0[i] = cpu_s(r[i].swapd);
        scans0[i] = scans_of(&r[i]);
    }
    sub.n_st_lat = 0;
    uint64_t end = mono_us() + (uint64_t)STATION_S * 1000000u;
    while (mono_us() < end)
        loop(m, 20);
    double us[2];
    long long scans[2], swaps[2];
    for (int i = 0; i < 2; i++) {
        scans[i] = scans_of(&r[i]) - scans0[i];
        us[i] = (cpu_s(r[i].swapd) - cpu0[i]) * 1e6 / (double)(scans[i] > 0 ? scans[i] : 1);
        swaps[i] = rig_swaps(&r[i]);
    }
    qsort(sub.st_lat_ms, sub.n_st_lat, sizeof sub.st_lat_ms[0], cmp_d);
    printf("fleet     swapd CPU per scan over %d s, side by side: %.1f us without the fleet link (%lld scans), "
           "%.1f us with it (%lld scans); the link costs %.1f us a scan, ratio %.2f\n",
           STATION_S, us[0], scans[0], us[1], scans[1], us[1] - us[0], us[0] > 0 ? us[1] / us[0] : 0);
    printf("fleet     station events to the fleet view: %zu, latency p50 %.0f ms, p90 %.0f ms, p99 %.0f ms (ms clock); "
           "swaps %lld / %lld\n",
           sub.n_st_lat, sub.n_st_lat ? sub.st_lat_ms[sub.n_st_lat / 2] : 0,
           sub.n_st_lat ? sub.st_lat_ms[sub.n_st_lat * 9 / 10] : 0,
           sub.n_st_lat ? sub.st_lat_ms[sub.n_st_lat * 99 / 100] : 0, swaps[0], swaps[1]);
    printf("fleet     slowest station event %.0f ms: %s\n", sub.st_worst_ms, sub.st_worst);
    for (int i = 0; i < 2; i++)
        rig_stop_all(&r[i]);
    return 0;
}

/* The stations here measure the fleet link, not the plant's watchdog: a copy of
 * plant.ini whose watchdog tolerates a controller the loaded machine stalls a while
 * (as test_fleet does). */
static char configs_dir[256];

static int use_tolerant_plant(void)
{
    char src[512], line[512], path[320];
    if (proc_mkdtemp(configs_dir, sizeof configs_dir, "swap-bench-cfg") != 0)
        return -1;
    FILE *in = fopen(proc_config("plant.ini", src, sizeof src), "r");
    snprintf(path, sizeof path, "%s/plant.ini", configs_dir);
    FILE *out = fopen(path, "w");
    if (!in || !out)
        return -1;
    while (fgets(line, sizeof line, in))
        fputs(!strncmp(line, "watchdog_ms", 11) ? "watchdog_ms = 3000\n" : line, out);
    fclose(in);
    fclose(out);
    setenv("SWAP_CONFIGS", configs_dir, 1);
    return 0;
}

int main(void)
{
    if (use_tolerant_plant() != 0) {
        fprintf(stderr, "bench_sparkplug: cannot copy plant.ini\n");
        return 1;
    }
    int n = getenv("BENCH_FLEET_NODES") ? atoi(getenv("BENCH_FLEET_NODES")) : 200;
    struct fleetrig f = { 0 };
    if (fleetrig_start_broker(&f, "allow_anonymous true\nmax_connections -1") != 0) {
        fprintf(stderr, "bench_sparkplug: %s\n", f.err);
        return 1;
    }
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new("bench-host", true, NULL);
    mosquitto_message_callback_set(m, on_msg);
    if (mosquitto_connect(m, "127.0.0.1", f.port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_sparkplug: subscriber cannot connect\n");
        return 1;
    }
    mosquitto_subscribe(m, NULL, "spBv1.0/bench/#", 0);
    /* First swapd with and without the link, reporting to this broker and a real host,
     * before the many nodes below load the machine. */
    mosquitto_subscribe(m, NULL, "spBv1.0/test/#", 0);
    if (getenv("BENCH_FLEET_NO_STATIONS") == NULL) {
        if (fleetrig_start_host(&f) != 0 || station_phase(&f, m) != 0) {
            fprintf(stderr, "bench_sparkplug: %s\n", f.err);
            return 1;
        }
    }
    struct fleetlink **nodes = calloc((size_t)n, sizeof *nodes);
    static struct fleetlink_snapshot snap;
    for (int id = 0; id < FM_COUNT; id++)
        snap.v[id] = (struct fleetlink_value){ .num = id };
    snprintf(snap.v[FM_STATE].str, sizeof snap.v[FM_STATE].str, "Execute");
    snap.n_packs = 12;
    for (int p = 0; p < snap.n_packs; p++) {
        snprintf(snap.packs[p].id, sizeof snap.packs[p].id, "SWP-5A%06d", p);
        snprintf(snap.packs[p].location, sizeof snap.packs[p].location, "slot %d", p + 1);
        snprintf(snap.packs[p].status, sizeof snap.packs[p].status, "in_service");
        snap.packs[p].soh_pct = 95;
    }
    char err[256];
    for (int i = 0; i < n; i++) {
        struct fleetlink_cfg c = { .port = f.port, .keepalive_s = 30, .backoff_min_ms = 200, .backoff_max_ms = 2000,
                                   .publish_period_ms = 100, .spool_max = 10000 };
        snprintf(c.host, sizeof c.host, "127.0.0.1");
        snprintf(c.group_id, sizeof c.group_id, "bench");
        snprintf(c.edge_node_id, sizeof c.edge_node_id, "node-%03d", i);
        if (snprintf(c.spool_path, sizeof c.spool_path, "%.200s/spool-%03d.db", f.dir, i % 1000) < 0)
            return 1;
        nodes[i] = fleetlink_start(&c, err, sizeof err);
        if (!nodes[i]) {
            fprintf(stderr, "bench_sparkplug: node %d: %s\n", i, err);
            return 1;
        }
        fleetlink_publish(nodes[i], &snap);
    }
    /* every node born */
    uint64_t until = mono_us() + 60000000u;
    int born = 0;
    while (born < n && mono_us() < until) {
        loop(m, 20);
        born = 0;
        for (int i = 0; i < n; i++) {
            struct fleetlink_stats s;
            fleetlink_get_stats(nodes[i], &s);
            born += s.births > 0;
        }
    }
    if (born < n) {
        fprintf(stderr, "bench_sparkplug: only %d of %d nodes born\n", born, n);
        return 1;
    }
    /* 1 Hz per node, spread over the second */
    sub.msgs = sub.events = sub.n_lat = 0;
    uint64_t t0 = mono_us(), end = t0 + RUN_S * 1000000u;
    uint64_t pub_ns = 0, copy_ns = 0, post_ns = 0, calls = 0;
    int next = 0;
    long long tick = 0;
    while (mono_us() < end) {
        uint64_t now = mono_us();
        long long due = (long long)((now - t0) * (uint64_t)n / 1000000u);
        for (; tick < due; tick++, next = (next + 1) % n) {
            snap.v[FM_SWAPS].num += 1;
            snap.v[FM_SWAPS_PER_HOUR].num += 1;
            struct timespec a, b, c2, d2;
            static struct fleetlink_snapshot copy;
            clock_gettime(CLOCK_MONOTONIC, &a);
            memcpy(&copy, &snap, sizeof copy);
            clock_gettime(CLOCK_MONOTONIC, &b);
            fleetlink_publish(nodes[next], &copy);
            struct fleetlink_event e = { .t_ms = 0 };
            snprintf(e.id, sizeof e.id, "b-%llu", (unsigned long long)mono_us());
            snprintf(e.type, sizeof e.type, "swap");
            snprintf(e.text, sizeof e.text, "drone 10 cleared for take-off, on pad 8.40 s");
            clock_gettime(CLOCK_MONOTONIC, &c2);
            fleetlink_post_event(nodes[next], &e);
            clock_gettime(CLOCK_MONOTONIC, &d2);
            copy_ns += (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
            pub_ns += (uint64_t)((c2.tv_sec - b.tv_sec) * 1000000000L + (c2.tv_nsec - b.tv_nsec));
            post_ns += (uint64_t)((d2.tv_sec - c2.tv_sec) * 1000000000L + (d2.tv_nsec - c2.tv_nsec));
            calls++;
        }
        loop(m, 5);
    }
    /* drain the last second's events */
    uint64_t drain = mono_us() + 3000000u;
    while (mono_us() < drain && sub.events < calls)
        loop(m, 20);
    double secs = (double)(mono_us() - t0) / 1e6;
    qsort(sub.lat_ms, sub.n_lat, sizeof sub.lat_ms[0], cmp_d);
    double p50 = sub.n_lat ? sub.lat_ms[sub.n_lat / 2] : 0, p99 = sub.n_lat ? sub.lat_ms[sub.n_lat * 99 / 100] : 0;
    printf("fleet     edge nodes %d on one mosquitto, %d s at 1 Hz each\n", n, RUN_S);
    printf("fleet     broker delivered %8.0f msg/s to the host (%llu msgs)\n", (double)sub.msgs / secs,
           (unsigned long long)sub.msgs);
    printf("fleet     events %llu posted, %llu at the host; latency p50 %.1f ms, p99 %.1f ms\n",
           (unsigned long long)calls, (unsigned long long)sub.events, p50, p99);
    printf("fleet     scan hand-over: publish %.0f ns + post_event %.0f ns per scan; ratio %.1f x a plain "
           "snapshot copy (%.0f ns); %.4f %% of a 20 ms scan\n",
           (double)pub_ns / (double)calls, (double)post_ns / (double)calls,
           (double)(pub_ns + post_ns) / (double)(copy_ns ? copy_ns : 1), (double)copy_ns / (double)calls,
           100.0 * (double)(pub_ns + post_ns) / (double)calls / 20e6);
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    for (int i = 0; i < n; i++)
        fleetlink_stop(nodes[i]);
    free(nodes);
    fleetrig_stop(&f);
    proc_rmtree(configs_dir);
    return 0;
}
