/* Many edge nodes on one broker: N fleet links (the same code swapd runs, one thread
 * each, default 200; BENCH_FLEET_NODES overrides) on a real mosquitto started here,
 * each reporting at 1 Hz (a changed metric and one event a second), and a subscriber in
 * the role of the host. Prints the broker's delivered messages/s, event-to-host latency
 * p50/p99 (the event's post time to its arrival at the subscriber, one clock), and the
 * scan-side cost of the hand-over (fleetlink_publish of a full snapshot and
 * fleetlink_post_event) beside a plain copy of the same snapshot measured in the same
 * run. Asserts nothing about time; fails only if the nodes do not all come up. */
#include <mosquitto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleetlink/fleetlink.h"
#include "fleetrig.h"
#include "proc.h"
#include "sparkplug/spb.h"

#define RUN_S 10
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
} sub;

static void on_msg(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m, (void)obj;
    sub.msgs++;
    struct spb_decoded d;
    if (spb_decode(msg->payload, (size_t)msg->payloadlen, &d) != 0)
        return;
    uint64_t now = mono_us();
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

int main(void)
{
    int n = getenv("BENCH_FLEET_NODES") ? atoi(getenv("BENCH_FLEET_NODES")) : 200;
    struct fleetrig f = { 0 };
    if (fleetrig_start_broker(&f, "allow_anonymous true\nmax_connections -1") != 0) {
        fprintf(stderr, "bench_sparkplug: %s\n", f.err);
        return 1;
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
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new("bench-host", true, NULL);
    mosquitto_message_callback_set(m, on_msg);
    if (mosquitto_connect(m, "127.0.0.1", f.port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_sparkplug: subscriber cannot connect\n");
        return 1;
    }
    mosquitto_subscribe(m, NULL, "spBv1.0/bench/#", 0);
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
    return 0;
}
