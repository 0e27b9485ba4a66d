/* Control-socket server: non-blocking, bounded work per call; see ctlsock.h. */
#include "ctlsock/ctlsock.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_DEFAULT (1024u * 1024u)
#define QUEUE_MIN 4096u
#define EVENTS_MAX 64
#define ACCEPTS_MAX 8

struct client {
    int fd;
    struct ctlsock_peer peer;
    char *in;            /* max_line + 1 bytes */
    size_t in_len;
    char *out;           /* unsent bytes: out[out_off .. out_len) */
    size_t out_len, out_off, out_cap;
    bool follow;         /* subscribed to events */
    bool commander;      /* allowed to command (ctlsock_set_reserved's auth) */
    uint64_t last_request_ms;  /* accept or last complete request line, monotonic */
    bool pending;        /* whole lines wait in `in` (budget ran out) */
    bool eof;            /* the client sent all it will; close once replies are out */
    bool dead;           /* closed; freed at the end of the service call */
};

struct ctlsock {
    int listen_fd;
    int ep;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    unsigned mode;
    gid_t gid;                /* (gid_t)-1: leave the group */
    dev_t dev;                /* the socket file we bound, to notice it removed or replaced */
    ino_t ino;
    int max_clients;
    int max_per_user;         /* 1..max_clients - 1 (or 1) */
    const struct ctlsock_auth *auth;  /* NULL: everyone counts as allowed to command */
    int reserved;             /* places only users allowed to command may take */
    int idle_ms;              /* 0: no idle timeout */
    size_t max_line;
    size_t queue_limit;
    struct client **clients;  /* max_clients entries, NULL when free */
    int n_clients;
    unsigned long next_id;
    struct ctlsock_stats stats;
};

/* epoll user data for the listening socket: no client has this address. */
static char listener_tag;

static void seterr(struct ctlsock_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void seterr(struct ctlsock_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err)
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* A socket file left by a crashed daemon is replaced; a live one is not stolen. */
static int clear_stale(const char *path, struct ctlsock_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : (seterr(err, "%s: %s", path, strerror(errno)), -1);
    if (!S_ISSOCK(st.st_mode)) {
        seterr(err, "%s exists and is not a socket; remove it or set another [control] path",
               path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        seterr(err, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (r == 0) {
        seterr(err, "%s: another station controller is serving this socket; stop it first "
               "or set another [control] path", path);
        return -1;
    }
    if (e != ECONNREFUSED && e != ENOENT) {
        seterr(err, "%s: cannot check the existing socket: %s", path, strerror(e));
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        seterr(err, "%s: cannot remove the stale socket: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Creates, binds and listens on a socket at path with mode and group; records the
 * file's identity. Returns the listening fd, or -1 with err. */
static int bind_listener(const char *path, unsigned mode, gid_t gid, int backlog, dev_t *dev,
                         ino_t *ino, struct ctlsock_err *err)
{
    if (clear_stale(path, err) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        seterr(err, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        seterr(err, "%s: cannot create the socket: %s (does the directory exist and is it "
               "writable?)", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* Permissions before listen(): nobody can connect while the mode is still wider. */
    struct stat st;
    if (chmod(path, mode) < 0 || (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0)) {
        seterr(err, "%s: cannot set mode %04o%s: %s", path, mode,
               gid != (gid_t)-1 ? " and the group" : "", strerror(errno));
        goto fail;
    }
    if (lstat(path, &st) < 0) {
        seterr(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (listen(fd, backlog) < 0) {
        seterr(err, "%s: listen: %s", path, strerror(errno));
        goto fail;
    }
    *dev = st.st_dev;
    *ino = st.st_ino;
    return fd;
fail:
    unlink(path);
    close(fd);
    return -1;
}

struct ctlsock *ctlsock_open(const char *path, unsigned mode, const char *group, int max_clients,
                             size_t max_line, struct ctlsock_err *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!path || !path[0] || strlen(path) >= sizeof sa.sun_path) {
        seterr(err, "control socket path must be 1..%zu characters", sizeof sa.sun_path - 1);
        return NULL;
    }
    if (max_clients < 1 || max_line < 64 || mode > 0777) {
        seterr(err, "control socket: max_clients must be >= 1, max_line >= 64, mode <= 0777");
        return NULL;
    }
    gid_t gid = (gid_t)-1;
    if (group && group[0]) {
        struct group *gr = getgrnam(group);
        if (!gr) {
            seterr(err, "control socket group \"%s\" does not exist; create it or change "
                   "[control] group", group);
            return NULL;
        }
        gid = gr->gr_gid;
    }

    struct ctlsock *srv = calloc(1, sizeof *srv);
    if (!srv) {
        seterr(err, "out of memory");
        return NULL;
    }
    srv->listen_fd = srv->ep = -1;
    srv->mode = mode;
    srv->gid = gid;
    srv->max_clients = max_clients;
    srv->max_line = max_line;
    srv->queue_limit = QUEUE_DEFAULT;
    srv->next_id = 1;
    memcpy(srv->path, path, strlen(path) + 1);
    srv->clients = calloc((size_t)max_clients, sizeof *srv->clients);
    if (!srv->clients) {
        seterr(err, "out of memory");
        goto fail;
    }
    srv->listen_fd = bind_listener(path, mode, gid, max_clients < 64 ? 64 : max_clients, &srv->dev,
                                   &srv->ino, err);
    if (srv->listen_fd < 0)
        goto fail;
    srv->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listener_tag };
    if (srv->ep < 0 || epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->listen_fd, &ev) < 0) {
        seterr(err, "epoll: %s", strerror(errno));
        unlink(path);
        goto fail;
    }
    return srv;
fail:
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    if (srv->ep >= 0)
        close(srv->ep);
    free(srv->clients);
    free(srv);
    return NULL;
}

/* True while the file at our path is the socket we bound. */
static bool path_is_ours(const struct ctlsock *srv)
{
    struct stat st;
    return lstat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino;
}

int ctlsock_check_path(struct ctlsock *srv, struct ctlsock_err *err)
{
    if (!srv || path_is_ours(srv))
        return 0;
    dev_t dev;
    ino_t ino;
    int fd = bind_listener(srv->path, srv->mode, srv->gid, srv->max_clients < 64 ? 64 : srv->max_clients,
                           &dev, &ino, err);
    if (fd < 0)
        return -1;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listener_tag };
    if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        seterr(err, "epoll: %s", strerror(errno));
        unlink(srv->path);
        close(fd);
        return -1;
    }
    /* Connections accepted on the old socket stay; only new ones use the new file. */
    epoll_ctl(srv->ep, EPOLL_CTL_DEL, srv->listen_fd, NULL);
    close(srv->listen_fd);
    srv->listen_fd = fd;
    srv->dev = dev;
    srv->ino = ino;
    srv->stats.recreated++;
    return 1;
}

void ctlsock_set_queue_limit(struct ctlsock *srv, size_t bytes)
{
    srv->queue_limit = bytes < QUEUE_MIN ? QUEUE_MIN : bytes;
}

void ctlsock_set_user_limit(struct ctlsock *srv, int max_per_user)
{
    int most = srv->max_clients > 1 ? srv->max_clients - 1 : 1;
    srv->max_per_user = max_per_user > 0 && max_per_user < most ? max_per_user : most;
}

void ctlsock_set_reserved(struct ctlsock *srv, const struct ctlsock_auth *auth, int reserved)
{
    srv->auth = auth;
    srv->reserved = reserved < 0 ? 0 : reserved >= srv->max_clients ? srv->max_clients - 1 : reserved;
}

void ctlsock_set_idle_timeout(struct ctlsock *srv, int idle_ms)
{
    srv->idle_ms = idle_ms > 0 ? idle_ms : 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ctlsock_fd(const struct ctlsock *srv)
{
    return srv->ep;
}

int ctlsock_client_count(const struct ctlsock *srv)
{
    return srv->n_clients;
}

void ctlsock_get_stats(const struct ctlsock *srv, struct ctlsock_stats *out)
{
    *out = srv->stats;
}

static void client_free(struct client *c)
{
    free(c->in);
    free(c->out);
    free(c);
}

/* Closes now; the memory lives until the end of the service call, because epoll events
 * for this client may still be in the caller's array. */
static void client_close(struct ctlsock *srv, struct client *c)
{
    if (c->dead)
        return;
    epoll_ctl(srv->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->dead = true;
    srv->n_clients--;
    srv->stats.closed++;
}

static void reap_dead(struct ctlsock *srv)
{
    for (int i = 0; i < srv->max_clients; i++) {
        if (srv->clients[i] && srv->clients[i]->dead) {
            client_free(srv->clients[i]);
            srv->clients[i] = NULL;
        }
    }
}

static void watch_output(struct ctlsock *srv, struct client *c)
{
    struct epoll_event ev = { .events = (c->eof ? 0u : EPOLLIN) |
                                        (c->out_len > c->out_off ? EPOLLOUT : 0u),
                              .data.ptr = c };
    epoll_ctl(srv->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* One send(); returns -1 if the client is gone. */
static int flush_once(struct ctlsock *srv, struct client *c)
{
    bool had = c->out_len > c->out_off;
    if (!had)
        return 0;
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            n = 0;
        else
            return -1;
    }
    c->out_off += (size_t)n;
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->eof)
            return -1;  /* everything answered: the half-closed client is done */
    }
    if (had != (c->out_len > c->out_off) || n == 0)
        watch_output(srv, c);
    return 0;
}

/* Appends one line; drops the client (returns -1) if its queue would overflow. */
static int queue_line(struct ctlsock *srv, struct client *c, const char *text, size_t len)
{
    size_t unsent = c->out_len - c->out_off;
    if (unsent + len + 1 > srv->queue_limit) {
        srv->stats.dropped_slow++;
        client_close(srv, c);
        return -1;
    }
    if (c->out_off && c->out_len + len + 1 > c->out_cap) {
        memmove(c->out, c->out + c->out_off, unsent);
        c->out_len = unsent;
        c->out_off = 0;
    }
    if (c->out_len + len + 1 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len + 1)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) {
            client_close(srv, c);
            return -1;
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, text, len);
    c->out[c->out_len + len] = '\n';
    c->out_len += len + 1;
    return 0;
}

static int queue_json(struct ctlsock *srv, struct client *c, const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text) {
        client_close(srv, c);
        return -1;
    }
    int r = queue_line(srv, c, text, strlen(text));
    free(text);
    return r;
}

/* Best effort: the client is dropped right after, whether or not it is read. */
static void send_final_error(int fd, const char *code, const char *message)
{
    json_t *r = ctlproto_reply_error(NULL, code, "%s", message);
    char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
    if (text) {
        size_t len = strlen(text);
        struct iovec iov[2] = { { text, len }, { (char *)"\n", 1 } };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
        if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            /* the client is going away regardless */
        }
    }
    free(text);
    json_decref(r);
}

static void read_groups(int fd, struct ctlsock_peer *p)
{
    p->n_groups = 0;
#ifdef SO_PEERGROUPS
    /* The groups at connect time, straight from the kernel: no race with the pid. */
    socklen_t len = sizeof p->groups;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) == 0) {
        p->n_groups = (int)(len / sizeof(gid_t));
        return;
    }
    if (errno == ERANGE) {
        /* more than we keep: take the first CTLSOCK_MAX_GROUPS */
        gid_t *all = malloc(len);
        if (all && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, all, &len) == 0) {
            memcpy(p->groups, all, sizeof p->groups);
            p->n_groups = CTLSOCK_MAX_GROUPS;
        }
        free(all);
        if (p->n_groups)
            return;
    }
#endif
    /* Fallback: /proc is local and never waits on a directory service. */
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Groups:", 7))
            continue;
        char *s = line + 7, *end;
        while (p->n_groups < CTLSOCK_MAX_GROUPS) {
            unsigned long g = strtoul(s, &end, 10);
            if (end == s)
                break;
            p->groups[p->n_groups++] = (gid_t)g;
            s = end;
        }
        break;
    }
    fclose(f);
}

static int connections_of(const struct ctlsock *srv, uid_t uid)
{
    int n = 0;
    for (int i = 0; i < srv->max_clients; i++)
        if (srv->clients[i] && !srv->clients[i]->dead && srv->clients[i]->peer.uid == uid)
            n++;
    return n;
}

/* Connections of users not allowed to command: they share the unreserved places. */
static int readers_connected(const struct ctlsock *srv)
{
    int n = 0;
    for (int i = 0; i < srv->max_clients; i++)
        if (srv->clients[i] && !srv->clients[i]->dead && !srv->clients[i]->commander)
            n++;
    return n;
}

static int accept_one(struct ctlsock *srv)
{
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return -1;
    struct ctlsock_peer peer = { 0 };
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        peer.uid = cred.uid;
        peer.gid = cred.gid;
        peer.pid = cred.pid;
    } else {
        /* Unknown identity: a uid nobody would list, so commands are refused. */
        peer.uid = (uid_t)-1;
        peer.gid = (gid_t)-1;
    }
    read_groups(fd, &peer);
    bool commander = !srv->auth || ctlsock_auth_permits(srv->auth, &peer);
    if (srv->n_clients >= srv->max_clients) {
        srv->stats.refused_full++;
        send_final_error(fd, CTLPROTO_ERR_TOO_MANY_CLIENTS,
                         "the station serves its maximum number of clients; close another "
                         "console or try again later");
        close(fd);
        return 0;
    }
    /* Users who may only read share what is not kept for those who may command, so
     * that no number of readers can lock an operator out. */
    if (!commander && readers_connected(srv) >= srv->max_clients - srv->reserved) {
        char msg[200];
        snprintf(msg, sizeof msg, "all %d places open to users who may only read are taken (%d "
                 "more are kept for operators, [control] reserved); try again later",
                 srv->max_clients - srv->reserved, srv->reserved);
        srv->stats.refused_full++;
        send_final_error(fd, CTLPROTO_ERR_TOO_MANY_CLIENTS, msg);
        close(fd);
        return 0;
    }
    /* One user cannot take every place and lock the operators out. */
    if (srv->max_per_user && connections_of(srv, peer.uid) >= srv->max_per_user) {
        char msg[200];
        snprintf(msg, sizeof msg, "uid %u already holds %d connections to the station, the "
                 "limit per user ([control] max_per_user); close one first",
                 (unsigned)peer.uid, srv->max_per_user);
        srv->stats.refused_full++;
        send_final_error(fd, CTLPROTO_ERR_TOO_MANY_CLIENTS, msg);
        close(fd);
        return 0;
    }
    struct client *c = calloc(1, sizeof *c);
    char *in = malloc(srv->max_line + 1);
    int slot = -1;
    for (int i = 0; i < srv->max_clients && slot < 0; i++)
        if (!srv->clients[i])
            slot = i;
    if (!c || !in || slot < 0) {
        srv->stats.refused_full++;
        free(c);
        free(in);
        close(fd);
        return 0;
    }
    c->fd = fd;
    c->in = in;
    c->peer = peer;
    c->commander = commander;
    c->last_request_ms = mono_ms();
    c->peer.client_id = srv->next_id++;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        client_free(c);
        close(fd);
        return 0;
    }
    srv->clients[slot] = c;
    srv->n_clients++;
    srv->stats.accepted++;
    return 0;
}

static void answer(struct ctlsock *srv, struct client *c, const char *line, size_t len,
                   ctlsock_handler *handler, void *user)
{
    const struct ctlproto_cmd *cmd;
    json_t *error_reply = NULL, *reply;
    json_t *req = ctlproto_parse_request(line, len, &cmd, &error_reply);
    srv->stats.requests++;
    c->last_request_ms = mono_ms();
    if (!req) {
        srv->stats.bad_requests++;
        reply = error_reply;
    } else {
        reply = handler ? handler(user, &c->peer, cmd, req) : NULL;
        if (!json_is_object(reply)) {
            json_decref(reply);
            reply = ctlproto_reply_error(req, CTLPROTO_ERR_INTERNAL,
                                         "the station could not answer \"%s\"; see the swapd log",
                                         cmd->name);
        } else if (!json_object_get(reply, "id") && json_object_get(req, "id")) {
            json_object_set(reply, "id", json_object_get(req, "id"));
        }
        if (!strcmp(cmd->name, "events") && json_is_true(json_object_get(reply, "ok")) &&
            json_is_true(json_object_get(json_object_get(reply, "result"), "following")))
            c->follow = true;
    }
    json_decref(req);
    /* The handler may have dropped this very client (a broadcast overflowing its queue). */
    if (reply && !c->dead)
        queue_json(srv, c, reply);
    json_decref(reply);
}

/* Answers whole lines in the input buffer, one unit each; returns units used. */
static int answer_lines(struct ctlsock *srv, struct client *c, ctlsock_handler *handler,
                        void *user, int budget)
{
    int used = 0;
    size_t start = 0;
    c->pending = false;
    while (!c->dead) {
        char *nl = memchr(c->in + start, '\n', c->in_len - start);
        if (!nl)
            break;
        if (used >= budget) {
            c->pending = true;
            break;
        }
        size_t len = (size_t)(nl - (c->in + start));
        if (len && c->in[start + len - 1] == '\r')
            len--;
        if (len) {
            answer(srv, c, c->in + start, len, handler, user);
            used++;
        }
        start = (size_t)(nl - c->in) + 1;
    }
    if (!c->dead && start) {
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
    }
    return used;
}

static void drop_overlong(struct ctlsock *srv, struct client *c)
{
    char msg[200];
    snprintf(msg, sizeof msg, "request line longer than %zu bytes; send one JSON object per "
             "line, each shorter than that", srv->max_line);
    flush_once(srv, c);
    send_final_error(c->fd, CTLPROTO_ERR_LINE_TOO_LONG, msg);
    srv->stats.dropped_long++;
    client_close(srv, c);
}

/* One read(), then the complete lines it gave. */
static int read_client(struct ctlsock *srv, struct client *c, ctlsock_handler *handler,
                       void *user, int budget)
{
    size_t room = srv->max_line + 1 - c->in_len;
    ssize_t n = room ? recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT) : 0;
    if (n == 0 && room) {
        /* Half-closed (e.g. `socat - UNIX-CONNECT:` at the end of its input): the
         * replies already queued still go out, then the connection ends. */
        if (c->out_len == c->out_off) {
            client_close(srv, c);
        } else {
            c->eof = true;
            watch_output(srv, c);
        }
        return 1;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            client_close(srv, c);
        return 1;
    }
    c->in_len += (size_t)n;
    int used = 1 + answer_lines(srv, c, handler, user, budget - 1);
    /* A full buffer without a newline can only be a line over the limit. */
    if (!c->dead && !c->pending && c->in_len > srv->max_line)
        drop_overlong(srv, c);
    if (!c->dead && c->out_len > c->out_off && flush_once(srv, c) < 0)
        client_close(srv, c);
    return used;
}

/* A connection that asks nothing for idle_ms is told so and closed; one that follows
 * events is being served (it only reads), as is one whose replies are still going out
 * or whose requests wait for their turn. Bytes that never make a whole line (a client
 * trickling one byte at a time) do not count as asking. */
static void expire_idle(struct ctlsock *srv)
{
    if (!srv->idle_ms || !srv->n_clients)
        return;
    uint64_t now = mono_ms();
    for (int i = 0; i < srv->max_clients; i++) {
        struct client *c = srv->clients[i];
        if (!c || c->dead || c->follow || c->pending || c->out_len > c->out_off ||
            now - c->last_request_ms < (uint64_t)srv->idle_ms)
            continue;
        char msg[200];
        snprintf(msg, sizeof msg, "no request for %d ms ([control] idle_timeout_s); the "
                 "connection is closed, connect again to continue", srv->idle_ms);
        send_final_error(c->fd, CTLPROTO_ERR_IDLE_TIMEOUT, msg);
        srv->stats.dropped_idle++;
        client_close(srv, c);
    }
}

int ctlsock_service(struct ctlsock *srv, ctlsock_handler *handler, void *user, int budget)
{
    int used = 0;
    if (!srv || budget <= 0)
        return 0;
    /* Lines left over by the last call first, so a busy client cannot starve. */
    for (int i = 0; i < srv->max_clients && used < budget; i++) {
        struct client *c = srv->clients[i];
        if (c && !c->dead && c->pending) {
            used += answer_lines(srv, c, handler, user, budget - used);
            if (!c->dead && c->in_len > srv->max_line && !c->pending)
                drop_overlong(srv, c);
            if (!c->dead && flush_once(srv, c) < 0)
                client_close(srv, c);
        }
    }
    struct epoll_event evs[EVENTS_MAX];
    int room = budget - used;
    if (room > 0) {
        int n = epoll_wait(srv->ep, evs, room < EVENTS_MAX ? room : EVENTS_MAX, 0);
        bool accept_ready = false;
        for (int i = 0; i < n && used < budget; i++) {
            if (evs[i].data.ptr == &listener_tag) {
                accept_ready = true;
                continue;
            }
            struct client *c = evs[i].data.ptr;
            if (c->dead)
                continue;
            if (evs[i].events & EPOLLOUT) {
                used++;
                if (flush_once(srv, c) < 0) {
                    client_close(srv, c);
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (c->pending)
                    continue; /* its buffer is full of lines: answer those first */
                used += read_client(srv, c, handler, user, budget - used);
            }
        }
        /* Connected clients first (their hang-ups free places), then a bounded number of
         * new ones, so a connect storm cannot take the whole budget. No event of this
         * call refers to a client any more, so the places of closed ones can be reused. */
        reap_dead(srv);
        for (int k = 0; accept_ready && k < ACCEPTS_MAX && used < budget; k++, used++)
            if (accept_one(srv) < 0)
                break;
    }
    expire_idle(srv);
    reap_dead(srv);
    return used;
}

void ctlsock_broadcast_event(struct ctlsock *srv, const json_t *event)
{
    if (!srv || !event)
        return;
    json_t *msg = ctlproto_event_message(event);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!text)
        return;
    size_t len = strlen(text);
    for (int i = 0; i < srv->max_clients; i++) {
        struct client *c = srv->clients[i];
        if (c && !c->dead && c->follow && queue_line(srv, c, text, len) == 0)
            watch_output(srv, c);
    }
    free(text);
    /* Dropped clients are freed by the next ctlsock_service(): a handler may broadcast
     * while the service call still holds events for them. */
}

void ctlsock_close(struct ctlsock *srv)
{
    if (!srv)
        return;
    for (int i = 0; i < srv->max_clients; i++) {
        if (srv->clients[i]) {
            client_close(srv, srv->clients[i]);
            client_free(srv->clients[i]);
        }
    }
    /* Only our own file: after a removal, the path may be someone else's by now. */
    if (path_is_ours(srv))
        unlink(srv->path);
    close(srv->listen_fd);
    close(srv->ep);
    free(srv->clients);
    free(srv);
}

struct ctlsock *ctlsock_open_cfg(const struct ctlsock_cfg *cfg, const struct ctlsock_auth *auth,
                                 struct ctlsock_err *err)
{
    unsigned mode;
    if (ctlsock_parse_mode(cfg->mode, &mode) < 0) {
        snprintf(err->msg, sizeof err->msg,
                 "[control] mode = \"%.8s\": not an octal permission such as 0660", cfg->mode);
        return NULL;
    }
    struct ctlsock *srv = ctlsock_open(cfg->path, mode, cfg->group, cfg->max_clients,
                                       (size_t)cfg->max_line, err);
    if (srv) {
        ctlsock_set_queue_limit(srv, (size_t)cfg->queue_kib * 1024u);
        ctlsock_set_user_limit(srv, cfg->max_per_user);
        ctlsock_set_reserved(srv, auth, cfg->reserved);
        ctlsock_set_idle_timeout(srv, cfg->idle_timeout_s * 1000);
    }
    return srv;
}
