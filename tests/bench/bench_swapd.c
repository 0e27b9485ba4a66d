/* The station as it runs: swapsim + dronesim + swapd over Modbus TCP on loopback and
 * MAVLink over a pty, in real time. Prints the scan's lateness against its absolute
 * deadline (p50/p99/max) next to a bare clock_nanosleep loop measured in the same run,
 * swapd's CPU use at 50 Hz next to swapsim's, the on-pad time against the lower bound
 * of DESIGN §7, and the sensor-edge-to-command latency as the simulator sees it.
 *
 * The latency: in the simulator a two-position device reaches its end exactly its
 * configured travel time after the command that moved it, and an axis after
 * plantcfg_move_time_s() of its distance. For each such command in the simulator's
 * command log, the latency is the time from that sensor edge to the next motion
 * command of the swap chain. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plantcfg/plantcfg.h"
#include "proc.h"
#include "regmap/regmap.h"
#include "rig.h"

static double cpu_s(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return NAN;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* fields after the comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return NAN;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static long long pct(long long *v, size_t n, double q)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof *v, cmp_ll);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i];
}

/* The bare baseline: a thread that sleeps to absolute 20 ms deadlines and records how
 * late it wakes, while the station runs beside it. */
#define BASE_MAX 20000
static long long base_late[BASE_MAX];
static size_t base_n;
static volatile int base_stop;

static void *baseline(void *arg)
{
    (void)arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!base_stop && base_n < BASE_MAX) {
        next.tv_nsec += 20 * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        base_late[base_n++] = (now.tv_sec - next.tv_sec) * 1000000LL + (now.tv_nsec - next.tv_nsec) / 1000;
    }
    return NULL;
}

static bool two_position(unsigned addr)
{
    return addr == REGMAP_CO_CENTER_CLOSE || addr == REGMAP_CO_CLAMP_LOCK || addr == REGMAP_CO_STROKE_EXTEND ||
           addr == REGMAP_CO_WRIST_B || addr == REGMAP_CO_GRIP_A_CLOSE || addr == REGMAP_CO_GRIP_B_CLOSE;
}

static double travel_ms(const struct plantcfg *c, unsigned addr)
{
    switch (addr) {
    case REGMAP_CO_CENTER_CLOSE: return c->center_s * 1000;
    case REGMAP_CO_CLAMP_LOCK: return c->clamp_s * 1000;
    case REGMAP_CO_STROKE_EXTEND: return c->stroke_s * 1000;
    case REGMAP_CO_WRIST_B: return c->wrist_s * 1000;
    default: return c->gripper_s * 1000;
    }
}

int main(void)
{
    struct plantcfg pc;
    struct cfg_error cerr;
    char cfgpath[512];
    if (plantcfg_load(proc_config("plant.ini", cfgpath, sizeof cfgpath), &pc, &cerr) != 0) {
        fprintf(stderr, "bench_swapd: %s\n", cerr.msg);
        return 1;
    }
    struct rig r = { 0 };
    if (rig_start_sim(&r, "1") || rig_start_drones(&r, "3", "4") ||
        rig_start_swapd(&r, "tests/data/swapd-e2e.ini", true)) {
        fprintf(stderr, "bench_swapd: %s\n", r.err);
        rig_stop_all(&r);
        return 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, baseline, NULL);
    long long t0 = proc_now_ms();
    double cpu0 = cpu_s(r.swapd), sim0 = cpu_s(r.sim);
    const int want = 4;
    double onpad[16];
    int n_onpad = 0;
    long long seen = 0;
    while (seen < want) {
        if (!rig_wait_swaps(&r, seen + 1, 120000)) {
            fprintf(stderr, "bench_swapd: %s\n", r.err);
            base_stop = 1;
            pthread_join(th, NULL);
            rig_stop_all(&r);
            return 1;
        }
        json_t *s = rig_status(&r);
        seen = json_integer_value(json_object_get(s, "swaps"));
        if (n_onpad < 16)
            onpad[n_onpad++] = json_real_value(json_object_get(s, "last_onpad_s"));
        json_decref(s);
    }
    double wall = (proc_now_ms() - t0) / 1000.0;
    double cpu = cpu_s(r.swapd) - cpu0, simcpu = cpu_s(r.sim) - sim0;
    base_stop = 1;
    pthread_join(th, NULL);

    json_t *s = rig_status(&r);
    json_t *scan = json_object_get(s, "scan");
    long long p50 = json_integer_value(json_object_get(scan, "late_p50_us"));
    long long p99 = json_integer_value(json_object_get(scan, "late_p99_us"));
    long long mx = json_integer_value(json_object_get(scan, "late_max_us"));
    long long scans = json_integer_value(json_object_get(scan, "scans"));
    long long work = json_integer_value(json_object_get(scan, "work_max_us"));
    json_decref(s);
    long long b50 = pct(base_late, base_n, 0.5), b99 = pct(base_late, base_n, 0.99), bmax = pct(base_late, base_n, 1.0);

    /* Sensor edge -> next motion command, from the simulator's command log. */
    json_t *log = rig_sim(&r, "{\"cmd\":\"log\",\"from\":0}");
    long long lat[4096];
    size_t n_lat = 0;
    json_t *entries = json_object_get(log, "entries");
    size_t n_e = json_array_size(entries);
    double x_target = 0, x_prev = 0;
    for (size_t i = 0; i < n_e && n_lat < 4096; i++) {
        json_t *e = json_array_get(entries, i);
        const char *table = json_string_value(json_object_get(e, "table"));
        unsigned addr = (unsigned)json_integer_value(json_object_get(e, "addr"));
        long long t = json_integer_value(json_object_get(e, "t_ms"));
        double edge;
        if (!strcmp(table, "co") && two_position(addr)) {
            edge = (double)t + travel_ms(&pc, addr);
        } else if (!strcmp(table, "hr") && addr == REGMAP_HR_X_TARGET) {
            x_prev = x_target;
            x_target = json_integer_value(json_object_get(e, "new")) / 10.0;
            edge = (double)t + 1000 * plantcfg_move_time_s(&pc.x, x_target - x_prev);
        } else {
            continue;
        }
        /* the next motion command after the edge, if it follows within 300 ms */
        for (size_t k = i + 1; k < n_e; k++) {
            json_t *f = json_array_get(entries, k);
            long long tf = json_integer_value(json_object_get(f, "t_ms"));
            const char *tb = json_string_value(json_object_get(f, "table"));
            unsigned a = (unsigned)json_integer_value(json_object_get(f, "addr"));
            bool motion = (!strcmp(tb, "co") && (two_position(a) || a == REGMAP_CO_X_ENABLE)) ||
                          (!strcmp(tb, "hr") && a == REGMAP_HR_X_TARGET);
            if (!motion || tf < edge)
                continue;
            if (tf - edge <= 300)
                lat[n_lat++] = (long long)(tf - edge);
            break;
        }
    }
    json_decref(log);
    long long l50 = pct(lat, n_lat, 0.5), l99 = pct(lat, n_lat, 0.99);

    double bound = plantcfg_onpad_lower_bound_s(&pc), sum = 0, worst = 0;
    for (int i = 0; i < n_onpad; i++) {
        sum += onpad[i];
        worst = onpad[i] > worst ? onpad[i] : worst;
    }
    printf("station over Modbus TCP (loopback) and MAVLink (pty), real time, %lld swaps in %.1f s\n", seen, wall);
    printf("  on-pad time        mean %.2f s, max %.2f s; lower bound %.2f s: %.3fx (target <= 1.05x)\n",
           sum / n_onpad, worst, bound, sum / n_onpad / bound);
    printf("  scan lateness      p50 %lld us, p99 %lld us, max %lld us over %lld scans (longest scan %lld us)\n",
           p50, p99, mx, scans, work);
    printf("  baseline sleeper   p50 %lld us, p99 %lld us, max %lld us (bare 20 ms clock_nanosleep, same run)\n",
           b50, b99, bmax);
    printf("  lateness ratio     p99 %.2fx the baseline's\n", b99 > 0 ? (double)p99 / (double)b99 : NAN);
    printf("  CPU                swapd %.2f%% of a core at 50 Hz; swapsim %.2f%% (baseline, 1 kHz physics)\n",
           100 * cpu / wall, 100 * simcpu / wall);
    printf("  edge -> command    p50 %lld ms, p99 %lld ms over %zu edges (scan period 20 ms: %.2fx)\n", l50, l99,
           n_lat, (double)l99 / 20.0);
    rig_stop_all(&r);
    return 0;
}
