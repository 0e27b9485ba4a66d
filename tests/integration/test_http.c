/* swapd's HTTP endpoint against the real station (swapsim + dronesim + swapd): off by
 * default (no port opened); /metrics during swaps (promtool check metrics, counters only
 * rise, the on-pad histogram counts every completed swap); the JSON API is the control
 * protocol's; the event stream resumes after Last-Event-ID; hostile clients (a thousand
 * connections, slow headers, huge headers, path traversal, every method but GET/HEAD on
 * every path) change nothing and crash nothing. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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

#define HTTP_CONFIG "tests/data/swapd-http.ini"

static void nap(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int start_station(struct rig *r, const char *config, bool drones)
{
    ck_assert_msg(rig_start_sim(r, "3") == 0, "%s", r->err);
    if (drones)
        ck_assert_msg(rig_start_drones(r, "1", "2") == 0, "%s", r->err);
    else
        snprintf(r->pty, sizeof r->pty, "/nonexistent-pty");
    ck_assert_msg(rig_start_swapd(r, config, true) == 0, "%s", r->err);
    return web_port_from_log(r->swapd_log, r->swapd, strstr(config, "http") ? 10000 : 0);
}

static void stop_station(struct rig *r) { ck_assert_msg(rig_stop_all(r) == 0, "%s", r->err); }

static json_t *get_json(int port, const char *path)
{
    char *body = NULL;
    int st = web_request(port, "GET", path, &body, 3000);
    json_t *j = st == 200 && body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return j;
}

/* ---- off by default ------------------------------------------------------------ */

START_TEST(off_by_default_no_port_is_opened)
{
    struct rig r = { 0 };
    start_station(&r, "tests/data/swapd-e2e.ini", false);
    json_t *st = rig_status(&r);  /* up and answering: every socket it opens is open */
    ck_assert(st);
    json_decref(st);
    int n = web_listening_sockets(r.swapd);
    stop_station(&r);
    ck_assert_int_eq(n, 0);
}
END_TEST

/* ---- metrics during swaps --------------------------------------------------------- */

/* Counter-like samples (_total, _count, _bucket) of one scrape into map; false when a
 * sample fell below the previous scrape's value (named in why). */
static bool check_rising(const char *text, json_t *map, char *why, size_t size)
{
    char *copy = strdup(text), *save = NULL;
    bool ok = true;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        char *sp = strrchr(line, ' ');
        if (!sp)
            continue;
        *sp = 0;
        const char *name_end = strpbrk(line, "{");
        size_t nl = name_end ? (size_t)(name_end - line) : strlen(line);
        bool counter = (nl > 6 && !strncmp(line + nl - 6, "_total", 6)) ||
                       (nl > 6 && !strncmp(line + nl - 6, "_count", 6)) ||
                       (nl > 7 && !strncmp(line + nl - 7, "_bucket", 7));
        if (!counter)
            continue;
        double v = strtod(sp + 1, NULL);
        json_t *prev = json_object_get(map, line);
        if (prev && v < json_real_value(prev)) {
            snprintf(why, size, "%s fell from %g to %g", line, json_real_value(prev), v);
            ok = false;
        }
        json_object_set_new(map, line, json_real(v));
    }
    free(copy);
    return ok;
}

static double sample(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

START_TEST(metrics_rise_during_swaps_and_pass_promtool)
{
    struct rig r = { 0 };
    int port = start_station(&r, HTTP_CONFIG, true);
    ck_assert_msg(port > 0, "no HTTP port in %s", r.swapd_log);
    ck_assert_int_eq(web_listening_sockets(r.swapd), 1);
    json_t *map = json_object();
    char *text = NULL, why[256] = "";
    int scrapes = 0;
    bool rising = true;
    long long end = proc_now_ms() + 120000;
    while (proc_now_ms() < end) {
        free(text);
        text = NULL;
        int st = web_request(port, "GET", "/metrics", &text, 3000);
        ck_assert_msg(st == 200 && text, "GET /metrics: %d", st);
        scrapes++;
        if (!check_rising(text, map, why, sizeof why))
            rising = false;
        if (sample(text, "swapd_swaps_completed_total") >= 2)
            break;
        nap(250);
    }
    json_decref(map);
    long long swaps = rig_swaps(&r);
    char path[RIG_PATH + 16], cmd[RIG_PATH + 64];
    snprintf(path, sizeof path, "%s/metrics.txt", r.dir);
    FILE *f = fopen(path, "w");
    ck_assert(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int prc = p ? pclose(p) : -1;
    double completed = sample(text, "swapd_swaps_completed_total");
    double onpad = sample(text, "swapd_onpad_seconds_count");
    double periods = sample(text, "swapd_plant_link_period_seconds_count");
    double exchanged = sample(text, "swapd_plant_link_exchange_seconds_count");
    double period_sum = sample(text, "swapd_plant_link_period_seconds_sum");
    free(text);
    stop_station(&r);
    ck_assert_msg(prc == 0, "promtool check metrics failed (%d):\n%s", prc, out);
    ck_assert_msg(rising, "a counter fell between scrapes: %s", why);
    ck_assert_msg(completed >= 2, "fewer than 2 swaps in %d scrapes", scrapes);
    /* the measured fast loop: one period between two images in a row, so fewer than images */
    ck_assert_msg(periods > 0 && periods < exchanged && period_sum > 0, "link period: %g periods, %g images, sum %g s",
                  periods, exchanged, period_sum);
    ck_assert_msg(onpad == completed, "on-pad histogram counts %g swaps, the counter %g", onpad, completed);
    ck_assert_msg(swaps >= (long long)completed, "the control socket says %lld swaps, /metrics %g", swaps, completed);
}
END_TEST

/* ---- the JSON API and the event stream ------------------------------------------- */

START_TEST(api_answers_as_the_control_protocol_and_the_stream_resumes)
{
    struct rig r = { 0 };
    int port = start_station(&r, HTTP_CONFIG, false);
    ck_assert(port > 0);
    const char *docs[] = { "status", "slots", "batteries", "drones", "alarms", "events" };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char path[64], line[64];
        snprintf(path, sizeof path, "/api/v1/%s", docs[i]);
        snprintf(line, sizeof line, "{\"cmd\":\"%s\"}", docs[i]);
        json_t *web = NULL;
        for (int k = 0; k < 50 && !web; k++)  /* the first snapshot comes with the first scans */
            if (!(web = get_json(port, path)))
                nap(100);
        json_t *ctl = rig_swapd(&r, line);
        ck_assert_msg(web && ctl, "%s: no answer", path);
        ck_assert(json_is_true(json_object_get(web, "ok")));
        /* the same keys at the top and in the result */
        const char *key;
        json_t *v;
        json_object_foreach(ctl, key, v) ck_assert_msg(json_object_get(web, key), "%s lacks \"%s\"", path, key);
        json_t *wr = json_object_get(web, "result"), *cr = json_object_get(ctl, "result");
        json_object_foreach(cr, key, v) ck_assert_msg(json_object_get(wr, key), "%s result lacks \"%s\"", path, key);
        json_object_foreach(wr, key, v) ck_assert_msg(json_object_get(cr, key), "%s result has extra \"%s\"", path, key);
        json_decref(web);
        json_decref(ctl);
    }
    /* since: a future time gives no events; a malformed one is refused */
    json_t *none = get_json(port, "/api/v1/events?since=99999999999999");
    ck_assert(none);
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(none, "result"), "events")), 0);
    json_decref(none);
    ck_assert_int_eq(web_request(port, "GET", "/api/v1/events?since=yesterday", NULL, 3000), 400);

    /* the stream, resumed after event 1, starts with event 2 */
    int fd = web_connect(port, 3000);
    ck_assert(fd >= 0);
    const char *req = "GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1\r\n\r\n";
    ck_assert(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    char buf[8192];
    size_t have = 0;
    long long end = proc_now_ms() + 5000;
    while (proc_now_ms() < end && have < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
        if (strstr(buf, "\nid: 3\n"))
            break;
    }
    close(fd);
    buf[have] = 0;
    stop_station(&r);
    ck_assert_msg(strstr(buf, "text/event-stream"), "not an event stream:\n%s", buf);
    ck_assert_msg(strstr(buf, "\nid: 2\ndata: {\"seq\":2,") && !strstr(buf, "\nid: 1\n"),
                  "the stream did not resume after event 1:\n%s", buf);
}
END_TEST

/* ---- hostile clients --------------------------------------------------------------- */

/* Commands the station heard, and transitions an operator caused: the station may move
 * on its own meanwhile (with no drone it suspends), but nothing here may command it. */
static int count_command_events(struct rig *r)
{
    json_t *rep = rig_swapd(r, "{\"cmd\":\"events\",\"limit\":256}");
    json_t *evs = json_object_get(json_object_get(rep, "result"), "events");
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e) {
        const char *reason = json_string_value(json_object_get(e, "reason"));
        n += !strcmp(json_string_value(json_object_get(e, "type")), "command") ||
             (reason && !strncmp(reason, "operator", 8));
    }
    json_decref(rep);
    return n;
}

START_TEST(hostile_clients_change_nothing)
{
    struct rig r = { 0 };
    int port = start_station(&r, "tests/data/swapd-http-hostile.ini", false);
    ck_assert(port > 0);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 1200 && rl.rlim_max >= 1200) {
        rl.rlim_cur = 1200;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* wait until the station has settled in its state (no drones: it waits for one) */
    json_t *st0 = NULL;
    for (int k = 0; k < 100; k++) {
        json_decref(st0);
        st0 = rig_status(&r);
        const char *s = json_string_value(json_object_get(st0, "state"));
        if (s && !strcmp(s, "Execute"))
            break;
        nap(100);
    }
    json_decref(st0);
    int commands0 = count_command_events(&r);

    /* every method but GET and HEAD, on every path, with a command in the body */
    const char *paths[] = { "/", "/index.html", "/style.css", "/app.js", "/metrics", "/api/v1/status",
                            "/api/v1/slots", "/api/v1/batteries", "/api/v1/drones", "/api/v1/alarms",
                            "/api/v1/events", "/api/v1/events/stream", "/api/v1/stop", "/nothing" };
    const char *methods[] = { "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT" };
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
        for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
            char req[512];
            const char *body = "{\"cmd\":\"stop\"}";
            int n = snprintf(req, sizeof req,
                             "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                             methods[m], paths[p], strlen(body), body);
            int stc = web_raw(port, req, (size_t)n, NULL, 3000);
            ck_assert_msg(stc == 405 || (stc == 400 && !strcmp(methods[m], "CONNECT")),
                          "%s %s answered %d", methods[m], paths[p], stc);
        }

    /* path traversal */
    const char *evil[] = { "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                           "/api/v1/../../../etc/passwd", "//etc/passwd", "/index.html/../../etc/passwd",
                           "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/app.js%00.html", "/.%2e/swapd.db" };
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        char req[512], *body = NULL;
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", evil[i]);
        int stc = web_raw(port, req, (size_t)n, &body, 3000);
        ck_assert_msg(stc == 404 || stc == 400, "GET %s answered %d", evil[i], stc);
        ck_assert_msg(!body || !strstr(body, "root:"), "GET %s leaked a file", evil[i]);
        free(body);
    }

    /* oversized headers: refused (431/400/413) or cut off, never served */
    size_t big = 64 * 1024;
    char *huge = malloc(big + 256);
    int hn = snprintf(huge, 256, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(huge + hn, 'a', big);
    memcpy(huge + hn + big, "\r\n\r\n", 5);
    int hst = web_raw(port, huge, (size_t)hn + big + 4, NULL, 5000);
    free(huge);
    ck_assert_msg(hst == 431 || hst == 400 || hst == 413 || hst == 0 || hst == -1,
                  "a 64 KiB header was answered %d", hst);

    /* slow clients: partial headers, cut off after [http] timeout_s (2 s in this config) */
    int slow[20];
    for (int i = 0; i < 20; i++) {
        slow[i] = web_connect(port, 6000);
        ck_assert(slow[i] >= 0);
        ck_assert(send(slow[i], "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", 34, MSG_NOSIGNAL) == 34);
    }
    ck_assert_int_eq(web_request(port, "GET", "/api/v1/status", NULL, 3000), 200); /* still served */
    int closed = 0;
    for (int i = 0; i < 20; i++) {
        char c;
        ssize_t n = recv(slow[i], &c, 1, 0);  /* 6 s receive timeout: closed long before */
        closed += n == 0 || (n < 0 && errno == ECONNRESET);
        close(slow[i]);
    }
    ck_assert_int_eq(closed, 20);

    /* a thousand connections at once (loopback only), then normal service again */
    enum { FLOOD = 1000 };
    static int fds[FLOOD];
    int opened = 0;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < FLOOD; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fds[i] < 0)
            break;
        if (connect(fds[i], (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
            close(fds[i]);
            break;
        }
        opened++;
    }
    ck_assert_msg(opened >= 900, "only %d connections opened (fd limit?)", opened);
    json_t *mid = rig_status(&r);  /* the scan and the console carry on meanwhile */
    ck_assert_msg(mid, "swapd stopped answering its control socket under the flood");
    long long scans_mid = json_integer_value(json_object_get(json_object_get(mid, "scan"), "scans"));
    json_decref(mid);
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    int after = -1;
    for (int k = 0; k < 50 && after != 200; k++) {
        after = web_request(port, "GET", "/api/v1/status", NULL, 3000);
        if (after != 200)
            nap(100);
    }
    ck_assert_int_eq(after, 200);
    json_t *st1 = rig_status(&r);
    ck_assert(st1);
    long long scans_after = json_integer_value(json_object_get(json_object_get(st1, "scan"), "scans"));
    json_decref(st1);
    ck_assert_msg(scans_after > scans_mid, "the scan stopped");

    int commands1 = count_command_events(&r);
    ck_assert(proc_alive(r.swapd));
    stop_station(&r);
    ck_assert_int_eq(commands1, commands0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, off_by_default_no_port_is_opened);
    tcase_add_test(tc, api_answers_as_the_control_protocol_and_the_stream_resumes);
    tcase_add_test(tc, hostile_clients_change_nothing);
    tcase_add_test(tc, metrics_rise_during_swaps_and_pass_promtool);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
