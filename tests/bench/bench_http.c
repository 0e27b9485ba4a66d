/* Does the HTTP endpoint delay the scan? One station (swapsim + dronesim + swapd with
 * [http] on, swaps running), two windows of the same run: quiet, then under HTTP load
 * (4 clients scraping /metrics and the JSON API back to back, 20 idle connections, 5
 * slow clients: all from one address, inside its [http] max_per_ip). Prints the scan lateness p99 of each window, from swapd's own
 * swapd_scan_lateness_seconds histogram, and their ratio. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "rig.h"
#include "web.h"

#define WINDOW_MS 8000
#define N_BUCKETS 16

static int port;
static atomic_bool loading;
static atomic_long served;

struct lateness {
    int n;
    double le_s[N_BUCKETS];
    double cum[N_BUCKETS];  /* cumulative count per bucket, the last is +Inf */
};

static bool scrape(struct lateness *l)
{
    char *text = NULL;
    if (web_request(port, "GET", "/metrics", &text, 5000) != 200 || !text) {
        free(text);
        return false;
    }
    l->n = 0;
    const char *key = "swapd_scan_lateness_seconds_bucket{le=\"";
    for (const char *p = strstr(text, key); p && l->n < N_BUCKETS; p = strstr(p + 1, key)) {
        const char *v = p + strlen(key);
        l->le_s[l->n] = strncmp(v, "+Inf", 4) ? strtod(v, NULL) : -1;
        l->cum[l->n] = strtod(strchr(v, ' ') + 1, NULL);
        l->n++;
    }
    free(text);
    return l->n > 0;
}

/* Upper edge (us) of the bucket holding the window's p99; -1 for +Inf. */
static double p99_us(const struct lateness *a, const struct lateness *b, double *scans)
{
    double total = b->cum[b->n - 1] - a->cum[a->n - 1];
    *scans = total;
    for (int i = 0; i < b->n; i++)
        if (b->cum[i] - a->cum[i] >= 0.99 * total)
            return b->le_s[i] < 0 ? -1 : b->le_s[i] * 1e6;
    return -1;
}

static void *client(void *arg)
{
    const char *paths[] = { "/metrics", "/api/v1/status", "/api/v1/batteries", "/api/v1/slots",
                            "/", "/api/v1/events?since=0" };
    unsigned k = (unsigned)(size_t)arg;
    /* Real clients (Prometheus, a tablet) run elsewhere: here they take only the CPU the
     * station leaves over, so the figure is the server's work, not the load generator's. */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
    while (atomic_load(&loading)) {
        char *body = NULL;
        if (web_request(port, "GET", paths[k++ % 6], &body, 5000) == 200)
            atomic_fetch_add(&served, 1);
        free(body);
    }
    return NULL;
}

static void nap(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void print_p99(const char *what, double us, double scans)
{
    if (us < 0)
        printf("  %-34s p99 > 9.95 ms (%.0f scans)\n", what, scans);
    else
        printf("  %-34s p99 <= %.0f us (%.0f scans)\n", what, us, scans);
}

int main(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 1024 && rl.rlim_max >= 1024) {
        rl.rlim_cur = 1024;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct rig r = { 0 };
    if (rig_start_sim(&r, "3") || rig_start_drones(&r, "2", "2") ||
        rig_start_swapd(&r, "tests/data/swapd-http.ini", true)) {
        fprintf(stderr, "bench_http: %s\n", r.err);
        rig_stop_all(&r);
        return 1;
    }
    port = web_port_from_log(r.swapd_log, r.swapd, 10000);
    if (port <= 0 || !rig_wait_swaps(&r, 1, 120000)) {
        fprintf(stderr, "bench_http: no HTTP port or no first swap (%s)\n", r.err);
        rig_stop_all(&r);
        return 1;
    }
    struct lateness q0, q1, l0, l1;
    bool ok = scrape(&q0);
    nap(WINDOW_MS);
    ok = ok && scrape(&q1);

    ok = ok && scrape(&l0);  /* the histogram is cumulative: scraped just before and after */
    atomic_store(&loading, true);
    enum { CLIENTS = 4, IDLE = 20, SLOW = 5 };  /* 29 of [http] max_per_ip 32 */
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&th[i], NULL, client, (void *)(size_t)i);
    int idle[IDLE + SLOW], n_idle = 0;
    for (int i = 0; i < IDLE + SLOW; i++) {
        int fd = web_connect(port, 2000);
        if (fd < 0)
            continue;
        if (i >= IDLE)
            (void)!send(fd, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", 34, MSG_NOSIGNAL);
        idle[n_idle++] = fd;
    }
    nap(WINDOW_MS);
    atomic_store(&loading, false);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < n_idle; i++)
        close(idle[i]);
    /* the held connections fill [http] max_per_ip until swapd has seen them close */
    bool got = false;
    for (int k = 0; k < 100 && ok && !got; k++)
        if (!(got = scrape(&l1)))
            nap(20);
    ok = ok && got;
    long long swaps = rig_swaps(&r);
    int rc = rig_stop_all(&r);
    if (!ok || rc) {
        fprintf(stderr, "bench_http: a scrape failed or the station did not stop cleanly (%s)\n", r.err);
        return 1;
    }
    double qs, ls;
    double quiet = p99_us(&q0, &q1, &qs), loaded = p99_us(&l0, &l1, &ls);
    printf("bench_http: scan lateness with and without HTTP load, same run (%d s windows, %lld swaps)\n",
           WINDOW_MS / 1000, swaps);
    print_p99("quiet:", quiet, qs);
    char what[96];
    snprintf(what, sizeof what, "loaded (%ld requests, %d held):", atomic_load(&served), n_idle);
    print_p99(what, loaded, ls);
    if (quiet > 0 && loaded > 0)
        printf("  ratio loaded/quiet p99: %.2fx (bucket edges: 50 us .. 9.95 ms)\n", loaded / quiet);
    else
        printf("  ratio loaded/quiet p99: n/a (a p99 beyond the histogram's last edge)\n");
    return 0;
}
