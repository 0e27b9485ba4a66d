/* swapsim control-socket client for the drone pad; see padsock.h. */
#include "dronesim/padsock.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "battery/battery_json.h"

void padsock_init(struct padsock *p, const char *path, int timeout_ms)
{
    memset(p, 0, sizeof *p);
    p->fd = -1;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    if (path)
        snprintf(p->path, sizeof p->path, "%s", path);
}

int padsock_connect(struct padsock *p)
{
    if (p->fd >= 0 || p->path[0] == '\0')
        return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(p->last_error, sizeof p->last_error, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", p->path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(p->last_error, sizeof p->last_error, "%s: %s", p->path, strerror(errno));
        close(fd);
        return -1;
    }
    p->fd = fd;
    p->rx_len = 0;
    return 0;
}

void padsock_close(struct padsock *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *fail_io(struct padsock *p, const char *what)
{
    snprintf(p->last_error, sizeof p->last_error, "%s: %s", p->path, what);
    p->errors++;
    padsock_close(p);
    return NULL;
}

/* Sends one request and waits for its reply line. Returns the reply (caller decrefs),
 * or NULL when swapsim cannot be reached or answers garbage. */
static json_t *request(struct padsock *p, json_t *req)
{
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text)
        return fail_io(p, "out of memory");
    if (padsock_connect(p) != 0) {
        free(text);
        p->errors++;
        return NULL;
    }
    size_t len = strlen(text);
    text[len] = '\n';
    size_t done = 0;
    long long end = mono_ms() + p->timeout_ms;
    while (done < len + 1) {
        ssize_t n = send(p->fd, text + done, len + 1 - done, MSG_NOSIGNAL);
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            free(text);
            return fail_io(p, strerror(errno));
        }
        if (n > 0)
            done += (size_t)n;
        if (mono_ms() > end) {
            free(text);
            return fail_io(p, "send timed out");
        }
    }
    free(text);
    for (;;) {
        char *nl = memchr(p->rx, '\n', p->rx_len);
        if (nl) {
            *nl = '\0';
            json_error_t e;
            json_t *rep = json_loads(p->rx, 0, &e);
            size_t used = (size_t)(nl - p->rx) + 1;
            memmove(p->rx, p->rx + used, p->rx_len - used);
            p->rx_len -= used;
            if (!rep || !json_is_object(rep)) {
                json_decref(rep);
                return fail_io(p, "reply is not a JSON object");
            }
            return rep;
        }
        if (p->rx_len >= sizeof p->rx - 1)
            return fail_io(p, "reply too long");
        long long left = end - mono_ms();
        if (left <= 0)
            return fail_io(p, "no reply");
        struct pollfd pf = { .fd = p->fd, .events = POLLIN };
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        ssize_t n = recv(p->fd, p->rx + p->rx_len, sizeof p->rx - 1 - p->rx_len, 0);
        if (n == 0)
            return fail_io(p, "swapsim closed the connection");
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return fail_io(p, strerror(errno));
        if (n > 0)
            p->rx_len += (size_t)n;
    }
}

static bool reply_ok(struct padsock *p, const json_t *rep)
{
    if (json_is_true(json_object_get(rep, "ok")))
        return true;
    const char *e = json_string_value(json_object_get(rep, "error"));
    snprintf(p->last_error, sizeof p->last_error, "swapsim: %s", e ? e : "refused");
    return false;
}

/* Reads "battery" of a reply: 0 with *has, or -1 when it is not a valid pack. */
static int reply_battery(struct padsock *p, const json_t *rep, struct sim_battery *b, bool *has)
{
    const json_t *jb = json_object_get(rep, "battery");
    if (!jb || json_is_null(jb)) {
        *has = false;
        return 0;
    }
    char err[256] = "";
    if (sim_battery_from_json(jb, b, err, sizeof err) != 0) {
        snprintf(p->last_error, sizeof p->last_error, "swapsim sent a bad battery: %s", err);
        p->errors++;
        return -1;
    }
    *has = true;
    return 0;
}

static int pad_land(void *ctx, const struct sim_battery *battery)
{
    struct padsock *p = ctx;
    if (p->path[0] == '\0') {
        if (p->present)
            return -1;
        p->present = true;
        p->has = battery != NULL;
        if (battery)
            p->bay = *battery;
        return 0;
    }
    json_t *jb = battery ? sim_battery_to_json(battery) : json_null();
    json_t *rep = request(p, json_pack("{s:s,s:o}", "cmd", "drone_land", "battery", jb ? jb : json_null()));
    if (!rep)
        return -2;   /* the plant cannot be reached (restarting): the drone lands anyway */
    if (json_is_true(json_object_get(rep, "held"))) {
        json_decref(rep);
        return -2;   /* the test holds the landing: touch down later */
    }
    int rc = reply_ok(p, rep) ? 0 : -1;
    json_decref(rep);
    return rc;
}

static int pad_takeoff(void *ctx, struct sim_battery *battery, bool *has_battery)
{
    struct padsock *p = ctx;
    if (p->path[0] == '\0') {
        if (!p->present)
            return -1;
        *has_battery = p->has;
        if (p->has)
            *battery = p->bay;
        p->present = p->has = false;
        return 0;
    }
    json_t *rep = request(p, json_pack("{s:s}", "cmd", "drone_takeoff"));
    if (!rep)
        return -3;
    int rc = 0;
    if (!reply_ok(p, rep)) {
        const char *e = json_string_value(json_object_get(rep, "error"));
        rc = e && strstr(e, "clamped") ? -2 : e && strstr(e, "no drone") ? -1 : -3;
    } else if (reply_battery(p, rep, battery, has_battery) != 0) {
        *has_battery = false; /* it left; what it carries is unknown */
    }
    json_decref(rep);
    return rc;
}

static int pad_bay(void *ctx, struct sim_battery *battery, bool *has_battery)
{
    struct padsock *p = ctx;
    if (p->path[0] == '\0') {
        *has_battery = p->present && p->has;
        if (*has_battery)
            *battery = p->bay;
        return 0;
    }
    json_t *rep = request(p, json_pack("{s:s}", "cmd", "drone_battery"));
    if (!rep)
        return -1;
    int rc = reply_ok(p, rep) ? reply_battery(p, rep, battery, has_battery) : -1;
    json_decref(rep);
    return rc;
}

static void pad_load(void *ctx, double current_a)
{
    struct padsock *p = ctx;
    if (p->path[0] == '\0')
        return;
    json_t *rep = request(p, json_pack("{s:s,s:f}", "cmd", "drone_load", "current_a", current_a));
    json_decref(rep);
}

struct sim_drone_pad padsock_pad(struct padsock *p)
{
    struct sim_drone_pad pad = { p, pad_land, pad_takeoff, pad_bay, pad_load };
    return pad;
}
