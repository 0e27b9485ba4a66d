/* swapctl's side of the control socket; see swapctl.h. */
#include "swapctl/swapctl.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Replies carrying long event logs are large but never unbounded. */
#define REPLY_MAX (16u * 1024u * 1024u)

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int swapctl_connect(struct swapctl_conn *c, const char *path, char *err, size_t errsize)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!path || !path[0] || strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errsize, "control socket path \"%s\" is empty or too long (max %zu)",
                 path ? path : "", sizeof sa.sun_path - 1);
        return -1;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(err, errsize, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        if (e == ENOENT)
            snprintf(err, errsize, "cannot connect to swapd: no socket at %s. Is swapd "
                     "running (systemctl status swapd)? Another path: --socket PATH or "
                     "SWAPD_SOCKET", path);
        else if (e == EACCES || e == EPERM)
            snprintf(err, errsize, "cannot connect to swapd: permission denied on %s. Ask "
                     "for membership of the socket's group (ls -l %s), then log in again",
                     path, path);
        else if (e == ECONNREFUSED)
            snprintf(err, errsize, "cannot connect to swapd: nothing listens on %s (swapd "
                     "stopped or crashed?). Check: systemctl status swapd", path);
        else
            snprintf(err, errsize, "cannot connect to swapd at %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}

void swapctl_disconnect(struct swapctl_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

int swapctl_send(struct swapctl_conn *c, const json_t *req, char *err, size_t errsize)
{
    char *text = json_dumps(req, JSON_COMPACT);
    if (!text) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    size_t len = strlen(text);
    int rc = 0;
    struct { const char *p; size_t n; } parts[2] = { { text, len }, { "\n", 1 } };
    for (int i = 0; i < 2 && rc == 0; i++) {
        size_t off = 0;
        while (off < parts[i].n) {
            ssize_t n = send(c->fd, parts[i].p + off, parts[i].n - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                snprintf(err, errsize, "lost the connection to swapd at %s: %s", c->path,
                         strerror(errno));
                rc = -1;
                break;
            }
            off += (size_t)n;
        }
    }
    free(text);
    return rc;
}

bool swapctl_buffered(const struct swapctl_conn *c)
{
    return c->len && memchr(c->buf, '\n', c->len);
}

json_t *swapctl_recv(struct swapctl_conn *c, int timeout_ms, bool *timed_out, char *err,
                     size_t errsize)
{
    long long end = mono_ms() + timeout_ms;
    if (timed_out)
        *timed_out = false;
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            json_error_t jerr;
            json_t *msg = json_loadb(c->buf, n, 0, &jerr);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            if (!json_is_object(msg)) {
                json_decref(msg);
                snprintf(err, errsize, "swapd sent a malformed line (%s); are swapctl and "
                         "swapd the same version?", msg ? "not an object" : jerr.text);
                return NULL;
            }
            return msg;
        }
        if (c->len + 65536 > c->cap) {
            if (c->cap >= REPLY_MAX) {
                snprintf(err, errsize, "reply from swapd longer than %u bytes; narrow the "
                         "request (e.g. events --since)", REPLY_MAX);
                return NULL;
            }
            size_t cap = c->cap ? c->cap * 2 : 131072;
            char *p = realloc(c->buf, cap);
            if (!p) {
                snprintf(err, errsize, "out of memory");
                return NULL;
            }
            c->buf = p;
            c->cap = cap;
        }
        int wait = -1;
        if (timeout_ms >= 0) {
            long long left = end - mono_ms();
            wait = left > 0 ? (int)left : 0;
        }
        struct pollfd p = { c->fd, POLLIN, 0 };
        int r = poll(&p, 1, wait);
        if (r < 0 && errno == EINTR) {
            snprintf(err, errsize, "interrupted");
            return NULL;
        }
        if (r == 0) {
            if (timed_out)
                *timed_out = true;
            snprintf(err, errsize, "no reply from swapd within %.1f s; is it hung? Check "
                     "journalctl -u swapd, or allow longer with --timeout", timeout_ms / 1000.0);
            return NULL;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errsize, "swapd closed the connection%s%s", n < 0 ? ": " : "",
                     n < 0 ? strerror(errno) : "");
            return NULL;
        }
        c->len += (size_t)n;
    }
}

json_t *swapctl_call(struct swapctl_conn *c, const json_t *req, int timeout_ms,
                     void (*on_event)(void *, const json_t *), void *user, char *err,
                     size_t errsize)
{
    if (swapctl_send(c, req, err, errsize) < 0)
        return NULL;
    long long end = mono_ms() + timeout_ms;
    for (;;) {
        long long left = end - mono_ms();
        json_t *msg = swapctl_recv(c, left > 0 ? (int)left : 0, NULL, err, errsize);
        if (!msg)
            return NULL;
        if (json_object_get(msg, "event") && !json_object_get(msg, "ok")) {
            if (on_event)
                on_event(user, json_object_get(msg, "event"));
            json_decref(msg);
            continue;
        }
        return msg;
    }
}
