/* Control-socket server: socket setup, identity, request/reply, bounded work, and every
 * kind of hostile client (overlong lines, garbage, storms, clients that never read),
 * with the service call's duration measured against the scan period. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto/ctlproto.h"
#include "ctlsock/ctlsock.h"
#include "proc.h"

#define SCAN_PERIOD_MS 10
#define BUDGET 64

static char dir[256];
static char sock_path[300];

static void setup(void)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "ctlsock"), 0);
    snprintf(sock_path, sizeof sock_path, "%s/swapd.sock", dir);
}

static void teardown(void)
{
    proc_rmtree(dir);
}

struct ctx {
    int calls;
    struct ctlsock_peer peer;
    bool return_null;
    struct ctlsock *broadcast_on_hold;   /* the handler broadcasts a huge event on hold */
};

static json_t *handler(void *user, const struct ctlsock_peer *peer, const struct ctlproto_cmd *cmd,
                       const json_t *req)
{
    struct ctx *c = user;
    c->calls++;
    c->peer = *peer;
    if (c->return_null)
        return NULL;
    if (c->broadcast_on_hold && !strcmp(cmd->name, "hold")) {
        static char text[6000];
        memset(text, 'h', sizeof text - 1);
        json_t *e = ctlproto_event(1, 0, "state", text);
        ctlsock_broadcast_event(c->broadcast_on_hold, e);
        json_decref(e);
    }
    if (!strcmp(cmd->name, "events"))
        return ctlproto_reply_ok(req, json_pack("{s:[], s:b}", "events", "following",
                                                json_is_true(json_object_get(req, "follow"))));
    if (!strcmp(cmd->name, "status"))
        return ctlproto_reply_ok(req, json_pack("{s:s, s:s, s:n, s:i, s:i, s:f, s:n, s:n, s:n, s:i, s:i}",
            "state", "Idle", "mode", "production", "step", "step_index", 0, "step_count", 12,
            "progress_pct", 0.0, "eta_s", "swap_id", "drone", "alarms_active", 0, "time_ms", 0));
    return ctlproto_reply_command(req, "Idle", "done");
}

static struct ctlsock *open_srv(int max_clients, size_t max_line)
{
    struct ctlsock_err err;
    struct ctlsock *srv = ctlsock_open(sock_path, 0660, "", max_clients, max_line, &err);
    ck_assert_msg(srv, "%s", err.msg);
    return srv;
}

static int connect_to(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_text(int fd, const char *text)
{
    size_t len = strlen(text);
    ck_assert_int_eq(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

struct line_reader {
    int fd;
    char buf[1 << 16];
    size_t len;
};

/* Services the server until a whole line arrives on the client; returns it parsed, or
 * NULL on EOF (*eof set) or timeout. */
static json_t *await_line(struct ctlsock *srv, struct ctx *ctx, struct line_reader *r, bool *eof,
                          int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    if (eof)
        *eof = false;
    while (proc_now_ms() < end) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            json_t *msg = json_loadb(r->buf, (size_t)(nl - r->buf), 0, NULL);
            r->len -= (size_t)(nl - r->buf) + 1;
            memmove(r->buf, nl + 1, r->len);
            ck_assert_ptr_nonnull(msg);
            return msg;
        }
        ctlsock_service(srv, handler, ctx, BUDGET);
        struct pollfd p = { r->fd, POLLIN, 0 };
        if (poll(&p, 1, 1) == 1) {
            ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) {
                if (eof)
                    *eof = true;
                return NULL;
            }
            if (n > 0)
                r->len += (size_t)n;
        }
    }
    return NULL;
}

static const char *err_code(const json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

/* ---- socket setup ------------------------------------------------------------------ */

START_TEST(socket_gets_the_configured_mode_and_is_removed_on_close)
{
    struct ctlsock_err err;
    struct ctlsock *srv = ctlsock_open(sock_path, 0640, "", 4, 1024, &err);
    ck_assert_msg(srv, "%s", err.msg);
    struct stat st;
    ck_assert_int_eq(stat(sock_path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    ctlsock_close(srv);
    ck_assert_int_eq(stat(sock_path, &st), -1);
}
END_TEST

START_TEST(socket_group_is_applied)
{
    struct group *gr = getgrgid(getgid());
    ck_assert_ptr_nonnull(gr);
    struct ctlsock_err err;
    struct ctlsock *srv = ctlsock_open(sock_path, 0660, gr->gr_name, 4, 1024, &err);
    ck_assert_msg(srv, "%s", err.msg);
    struct stat st;
    ck_assert_int_eq(stat(sock_path, &st), 0);
    ck_assert_uint_eq(st.st_gid, getgid());
    ctlsock_close(srv);
    ck_assert_ptr_null(ctlsock_open(sock_path, 0660, "no_such_group_x", 4, 1024, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "group \"no_such_group_x\" does not exist"));
}
END_TEST

START_TEST(stale_socket_is_replaced)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", sock_path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);   /* as a crashed daemon leaves it */
    struct ctlsock *srv = open_srv(4, 1024);
    ctlsock_close(srv);
}
END_TEST

START_TEST(live_socket_is_not_stolen)
{
    struct ctlsock *srv = open_srv(4, 1024);
    struct ctlsock_err err;
    ck_assert_ptr_null(ctlsock_open(sock_path, 0660, "", 4, 1024, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "another station controller is serving this socket"));
    ctlsock_close(srv);
}
END_TEST

START_TEST(a_file_that_is_not_a_socket_is_left_alone)
{
    FILE *f = fopen(sock_path, "w");
    fputs("precious", f);
    fclose(f);
    struct ctlsock_err err;
    ck_assert_ptr_null(ctlsock_open(sock_path, 0660, "", 4, 1024, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a socket"));
    struct stat st;
    ck_assert_int_eq(stat(sock_path, &st), 0);
    ck_assert_int_eq(st.st_size, 8);
}
END_TEST

START_TEST(bad_parameters_are_refused)
{
    struct ctlsock_err err;
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    ck_assert_ptr_null(ctlsock_open(longpath, 0660, "", 4, 1024, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "path must be"));
    ck_assert_ptr_null(ctlsock_open(sock_path, 0660, "", 0, 1024, &err));
    ck_assert_ptr_null(ctlsock_open(sock_path, 0660, "", 4, 10, &err));
    ck_assert_ptr_null(ctlsock_open("/nonexistent/dir/s.sock", 0660, "", 4, 1024, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot create the socket"));
}
END_TEST

/* Services srv until n clients are connected (at most 2 s). */
static void await_clients(struct ctlsock *srv, struct ctx *ctx, int n)
{
    for (int i = 0; i < 200 && ctlsock_client_count(srv) < n; i++) {
        struct pollfd p = { ctlsock_fd(srv), POLLIN, 0 };
        poll(&p, 1, 10);
        ctlsock_service(srv, handler, ctx, BUDGET);
    }
    ck_assert_int_eq(ctlsock_client_count(srv), n);
}

START_TEST(a_removed_socket_is_made_again_and_open_connections_stay)
{
    struct ctlsock *srv = open_srv(4, 1024);
    struct ctlsock_err err;
    struct ctx ctx = { 0 };
    ck_assert_int_eq(ctlsock_check_path(srv, &err), 0);
    static struct line_reader a, b;
    a.len = b.len = 0;
    a.fd = connect_to(sock_path);
    await_clients(srv, &ctx, 1);
    struct stat before, after;
    ck_assert_int_eq(stat(sock_path, &before), 0);
    ck_assert_int_eq(unlink(sock_path), 0);
    ck_assert_int_eq(connect_to(sock_path), -1);
    ck_assert_int_eq(ctlsock_check_path(srv, &err), 1);
    ck_assert_int_eq(ctlsock_check_path(srv, &err), 0);
    ck_assert_int_eq(stat(sock_path, &after), 0);
    ck_assert_uint_eq(after.st_mode, before.st_mode);
    b.fd = connect_to(sock_path);
    ck_assert_int_ge(b.fd, 0);
    send_text(a.fd, "{\"cmd\":\"status\"}\n");
    send_text(b.fd, "{\"cmd\":\"status\"}\n");
    json_t *reply = await_line(srv, &ctx, &a, NULL, 2000);
    ck_assert_msg(reply && json_is_true(json_object_get(reply, "ok")), "the old connection was lost");
    json_decref(reply);
    reply = await_line(srv, &ctx, &b, NULL, 2000);
    ck_assert_msg(reply && json_is_true(json_object_get(reply, "ok")), "the new socket does not answer");
    json_decref(reply);
    struct ctlsock_stats st;
    ctlsock_get_stats(srv, &st);
    ck_assert_uint_eq(st.recreated, 1);
    /* Something else put there is left alone (and reported), the socket made once it goes. */
    ck_assert_int_eq(unlink(sock_path), 0);
    FILE *f = fopen(sock_path, "w");
    fputs("precious", f);
    fclose(f);
    ck_assert_int_eq(ctlsock_check_path(srv, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a socket"));
    ck_assert_int_eq(stat(sock_path, &after), 0);
    ck_assert_int_eq(after.st_size, 8);
    ctlsock_close(srv);
    ck_assert_int_eq(stat(sock_path, &after), 0);   /* not ours: not removed on close */
    close(a.fd);
    close(b.fd);
}
END_TEST

/* ---- requests ---------------------------------------------------------------------- */

START_TEST(handler_gets_the_peer_identity_from_the_kernel)
{
    struct ctlsock *srv = open_srv(4, 1024);
    struct ctx ctx = { 0 };
    static struct line_reader r;
    r.fd = connect_to(sock_path);
    r.len = 0;
    send_text(r.fd, "{\"cmd\":\"status\",\"id\":7}\n");
    json_t *reply = await_line(srv, &ctx, &r, NULL, 2000);
    ck_assert_ptr_nonnull(reply);
    char why[256];
    ck_assert_msg(ctlproto_check_reply("status", reply, why, sizeof why) == 0, "%s", why);
    ck_assert_int_eq(json_integer_value(json_object_get(reply, "id")), 7);
    ck_assert_uint_eq(ctx.peer.uid, getuid());
    ck_assert_uint_eq(ctx.peer.gid, getgid());
    ck_assert_int_eq(ctx.peer.pid, getpid());
    gid_t mine[CTLSOCK_MAX_GROUPS];
    int n = getgroups(CTLSOCK_MAX_GROUPS, mine);
    ck_assert_int_eq(ctx.peer.n_groups, n);
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (int k = 0; k < ctx.peer.n_groups; k++)
            found |= ctx.peer.groups[k] == mine[i];
        ck_assert_msg(found, "group %u missing", (unsigned)mine[i]);
    }
    json_decref(reply);
    close(r.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(pipelined_requests_are_answered_in_order_within_the_budget)
{
    struct ctlsock *srv = open_srv(4, 1024);
    struct ctx ctx = { 0 };
    static struct line_reader r;
    r.fd = connect_to(sock_path);
    r.len = 0;
    char batch[2048] = "";
    for (int i = 0; i < 10; i++) {
        char one[64];
        snprintf(one, sizeof one, "{\"cmd\":\"status\",\"id\":%d}\r\n\n", i);
        strcat(batch, one);
    }
    send_text(r.fd, batch);
    /* wait for the bytes to arrive, then one call may answer at most 3 */
    struct pollfd p = { ctlsock_fd(srv), POLLIN, 0 };
    ck_assert_int_eq(poll(&p, 1, 1000), 1);
    int units = 0;
    for (int i = 0; i < 200 && ctx.calls == 0; i++)
        units = ctlsock_service(srv, handler, &ctx, 3);
    ck_assert_int_le(units, 3);
    ck_assert_int_le(ctx.calls, 3);
    for (int i = 0; i < 10; i++) {
        json_t *reply = await_line(srv, &ctx, &r, NULL, 2000);
        ck_assert_ptr_nonnull(reply);
        ck_assert_int_eq(json_integer_value(json_object_get(reply, "id")), i);
        json_decref(reply);
    }
    ck_assert_int_eq(ctx.calls, 10);
    close(r.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(invalid_json_gets_an_error_and_the_connection_stays)
{
    struct ctlsock *srv = open_srv(4, 1024);
    struct ctx ctx = { 0 };
    static struct line_reader r;
    r.fd = connect_to(sock_path);
    r.len = 0;
    send_text(r.fd, "{\"cmd\": status}\n[1,2]\n{\"cmd\":\"fly\"}\n{\"cmd\":\"ack\",\"alarm\":\"x\"}\n"
                    "{\"cmd\":\"status\"}\n");
    static const char *const want[] = { CTLPROTO_ERR_BAD_JSON, CTLPROTO_ERR_NOT_OBJECT,
                                        CTLPROTO_ERR_UNKNOWN_CMD, CTLPROTO_ERR_BAD_ARGUMENT };
    char why[256];
    for (int i = 0; i < 4; i++) {
        json_t *reply = await_line(srv, &ctx, &r, NULL, 2000);
        ck_assert_ptr_nonnull(reply);
        ck_assert_str_eq(err_code(reply), want[i]);
        ck_assert_msg(ctlproto_check_reply("status", reply, why, sizeof why) == 0, "%s", why);
        json_decref(reply);
    }
    json_t *reply = await_line(srv, &ctx, &r, NULL, 2000);
    ck_assert(json_is_true(json_object_get(reply, "ok")));
    ck_assert_int_eq(ctx.calls, 1);   /* the handler never saw the bad ones */
    struct ctlsock_stats st;
    ctlsock_get_stats(srv, &st);
    ck_assert_uint_eq(st.bad_requests, 4);
    json_decref(reply);
    close(r.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(handler_without_an_answer_gives_an_internal_error)
{
    struct ctlsock *srv = open_srv(4, 1024);
    struct ctx ctx = { .return_null = true };
    static struct line_reader r;
    r.fd = connect_to(sock_path);
    r.len = 0;
    send_text(r.fd, "{\"cmd\":\"hold\"}\n");
    json_t *reply = await_line(srv, &ctx, &r, NULL, 2000);
    ck_assert_str_eq(err_code(reply), CTLPROTO_ERR_INTERNAL);
    json_decref(reply);
    close(r.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(overlong_line_gets_an_error_then_the_client_is_dropped)
{
    struct ctlsock *srv = open_srv(4, 64);
    struct ctx ctx = { 0 };
    static struct line_reader r;
    r.fd = connect_to(sock_path);
    r.len = 0;
    char line[200];
    memset(line, 'x', sizeof line - 2);
    line[sizeof line - 2] = '\n';
    line[sizeof line - 1] = '\0';
    send_text(r.fd, line);
    json_t *reply = await_line(srv, &ctx, &r, NULL, 2000);
    ck_assert_ptr_nonnull(reply);
    ck_assert_str_eq(err_code(reply), CTLPROTO_ERR_LINE_TOO_LONG);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(reply, "error"),
                                                                   "message")), "64 bytes"));
    bool eof;
    ck_assert_ptr_null(await_line(srv, &ctx, &r, &eof, 2000));
    ck_assert(eof);
    ck_assert_int_eq(ctlsock_client_count(srv), 0);
    ck_assert_int_eq(ctx.calls, 0);
    json_decref(reply);
    close(r.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(a_line_of_exactly_max_line_bytes_is_accepted)
{
    struct ctlsock *srv = open_srv(4, 64);
    struct ctx ctx = { 0 };
    static struct line_reader r;
    r.fd = connect_to(sock_path);
    r.len = 0;
    char line[80] = "{\"cmd\":\"status\",\"id\":\"";
    while (strlen(line) < 62)
        strcat(line, "a");
    strcat(line, "\"}");
    ck_assert_uint_eq(strlen(line), 64);
    strcat(line, "\n");
    send_text(r.fd, line);
    json_t *reply = await_line(srv, &ctx, &r, NULL, 2000);
    ck_assert(json_is_true(json_object_get(reply, "ok")));
    json_decref(reply);
    close(r.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(clients_over_the_limit_are_told_and_closed)
{
    struct ctlsock *srv = open_srv(2, 1024);
    struct ctx ctx = { 0 };
    static struct line_reader a, b, c;
    a.fd = connect_to(sock_path);
    b.fd = connect_to(sock_path);
    a.len = b.len = c.len = 0;
    for (int i = 0; i < 100 && ctlsock_client_count(srv) < 2; i++) {
        ctlsock_service(srv, handler, &ctx, BUDGET);
        struct pollfd p = { ctlsock_fd(srv), POLLIN, 0 };
        poll(&p, 1, 10);
    }
    ck_assert_int_eq(ctlsock_client_count(srv), 2);
    c.fd = connect_to(sock_path);
    json_t *reply = await_line(srv, &ctx, &c, NULL, 2000);
    ck_assert_ptr_nonnull(reply);
    ck_assert_str_eq(err_code(reply), CTLPROTO_ERR_TOO_MANY_CLIENTS);
    bool eof;
    ck_assert_ptr_null(await_line(srv, &ctx, &c, &eof, 2000));
    ck_assert(eof);
    json_decref(reply);
    send_text(a.fd, "{\"cmd\":\"status\"}\n");
    reply = await_line(srv, &ctx, &a, NULL, 2000);
    ck_assert(json_is_true(json_object_get(reply, "ok")));
    json_decref(reply);
    close(a.fd);
    close(b.fd);
    close(c.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(one_user_cannot_take_every_place)
{
    struct ctlsock *srv = open_srv(8, 1024);
    ctlsock_set_user_limit(srv, 2);
    struct ctx ctx = { 0 };
    static struct line_reader a, b, c;
    a.fd = connect_to(sock_path);
    b.fd = connect_to(sock_path);
    a.len = b.len = c.len = 0;
    for (int i = 0; i < 100 && ctlsock_client_count(srv) < 2; i++) {
        struct pollfd p = { ctlsock_fd(srv), POLLIN, 0 };
        poll(&p, 1, 10);
        ctlsock_service(srv, handler, &ctx, BUDGET);
    }
    c.fd = connect_to(sock_path);
    json_t *reply = await_line(srv, &ctx, &c, NULL, 2000);
    ck_assert_ptr_nonnull(reply);
    ck_assert_str_eq(err_code(reply), CTLPROTO_ERR_TOO_MANY_CLIENTS);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(reply, "error"),
                                                                   "message")), "limit per user"));
    json_decref(reply);
    ck_assert_int_eq(ctlsock_client_count(srv), 2);
    close(a.fd);
    close(b.fd);
    close(c.fd);
    ctlsock_close(srv);
}
END_TEST

/* A connection made as uid (a forked child that setuid()s), kept open until the child
 * is killed; the child reports on `ready` whether the station refused it. */
static pid_t connect_as(unsigned uid, int ready)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0)
            _exit(126);
        int fd = connect_to(sock_path);
        /* refused: an error line then EOF within 2 s; served: silence */
        struct pollfd p = { fd, POLLIN, 0 };
        char c = fd >= 0 && poll(&p, 1, 2000) == 0 ? 'k' : 'x';
        if (write(ready, &c, 1) != 1)
            _exit(125);
        for (;;)
            pause();
    }
    return pid;
}

START_TEST(no_user_limit_still_leaves_a_place_to_others)
{
    struct ctlsock *srv = open_srv(3, 1024);
    ctlsock_set_user_limit(srv, 0);   /* "no limit" still leaves one place to others */
    struct ctx ctx = { 0 };
    static struct line_reader a, b, c;
    a.len = b.len = c.len = 0;
    a.fd = connect_to(sock_path);
    b.fd = connect_to(sock_path);
    await_clients(srv, &ctx, 2);
    c.fd = connect_to(sock_path);
    json_t *reply = await_line(srv, &ctx, &c, NULL, 2000);
    ck_assert_ptr_nonnull(reply);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(reply, "error"), "message")),
                                 "limit per user"));
    json_decref(reply);
    ck_assert_int_eq(ctlsock_client_count(srv), 2);
    close(a.fd);
    close(b.fd);
    close(c.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(readers_cannot_take_the_places_kept_for_operators)
{
    /* runs as root; the operator is uid 4242, root only reads here */
    struct ctlsock *srv = open_srv(4, 1024);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(chmod(sock_path, 0666), 0);
    struct ctlsock_auth auth;
    char err[200];
    ck_assert_int_eq(ctlsock_auth_init(&auth, "4242", "", err, sizeof err), 0);
    ctlsock_set_reserved(srv, &auth, 2);
    struct ctx ctx = { 0 };
    static struct line_reader a, b, c;
    a.len = b.len = c.len = 0;
    a.fd = connect_to(sock_path);
    b.fd = connect_to(sock_path);
    await_clients(srv, &ctx, 2);
    c.fd = connect_to(sock_path);
    json_t *reply = await_line(srv, &ctx, &c, NULL, 2000);
    ck_assert_ptr_nonnull(reply);
    ck_assert_str_eq(err_code(reply), CTLPROTO_ERR_TOO_MANY_CLIENTS);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(reply, "error"), "message")),
                                 "kept for operators"));
    json_decref(reply);
    /* the operator gets both kept places */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t op1 = connect_as(4242, p[1]), op2 = connect_as(4242, p[1]);
    char got[2] = { 0, 0 };
    for (int i = 0; i < 2; i++) {
        for (long long end = proc_now_ms() + 4000; proc_now_ms() < end;) {
            ctlsock_service(srv, handler, &ctx, BUDGET);
            struct pollfd pp = { p[0], POLLIN, 0 };
            if (poll(&pp, 1, 10) == 1)
                break;
        }
        ck_assert_int_eq(read(p[0], &got[i], 1), 1);
    }
    ck_assert_msg(got[0] == 'k' && got[1] == 'k', "the operator was refused (%c%c)", got[0], got[1]);
    ck_assert_int_eq(ctlsock_client_count(srv), 4);
    kill(op1, SIGKILL);
    kill(op2, SIGKILL);
    waitpid(op1, NULL, 0);
    waitpid(op2, NULL, 0);
    close(p[0]);
    close(p[1]);
    close(a.fd);
    close(b.fd);
    close(c.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(a_connection_that_asks_nothing_is_closed_after_the_idle_timeout)
{
    struct ctlsock *srv = open_srv(8, 1024);
    ctlsock_set_idle_timeout(srv, 300);
    struct ctx ctx = { 0 };
    static struct line_reader silent, busy, follower, trickle;
    silent.len = busy.len = follower.len = trickle.len = 0;
    silent.fd = connect_to(sock_path);
    busy.fd = connect_to(sock_path);
    follower.fd = connect_to(sock_path);
    trickle.fd = connect_to(sock_path);
    await_clients(srv, &ctx, 4);
    long long start = proc_now_ms();
    send_text(follower.fd, "{\"cmd\":\"events\",\"follow\":true}\n");
    json_t *reply = await_line(srv, &ctx, &follower, NULL, 2000);
    ck_assert_ptr_nonnull(reply);
    json_decref(reply);
    /* the busy one asks every 100 ms; the silent one never; the trickling one sends a
     * byte every 100 ms but never a whole request */
    bool eof = false, trickle_eof = false;
    while (!(eof && trickle_eof) && proc_now_ms() < start + 5000) {
        if (!trickle_eof && send(trickle.fd, " ", 1, MSG_NOSIGNAL) != 1)
            trickle_eof = true;
        if (!trickle_eof) {
            json_t *t = await_line(srv, &ctx, &trickle, &trickle_eof, 1);
            if (t) {
                ck_assert_str_eq(err_code(t), CTLPROTO_ERR_IDLE_TIMEOUT);
                json_decref(t);
            }
        }
        send_text(busy.fd, "{\"cmd\":\"status\"}\n");
        reply = await_line(srv, &ctx, &busy, NULL, 2000);
        ck_assert_msg(reply && json_is_true(json_object_get(reply, "ok")), "the busy client was dropped");
        json_decref(reply);
        reply = eof ? NULL : await_line(srv, &ctx, &silent, &eof, 100);
        if (reply) {
            ck_assert_str_eq(err_code(reply), CTLPROTO_ERR_IDLE_TIMEOUT);
            json_decref(reply);
            ck_assert_ptr_null(await_line(srv, &ctx, &silent, &eof, 2000));
        }
    }
    ck_assert_msg(eof, "the silent client was not closed");
    ck_assert_msg(trickle_eof, "the trickling client was not closed");
    long long took = proc_now_ms() - start;
    ck_assert_msg(took >= 250, "closed after %lld ms, before the timeout", took);
    ck_assert_int_eq(ctlsock_client_count(srv), 2);
    struct ctlsock_stats st;
    ctlsock_get_stats(srv, &st);
    ck_assert_uint_eq(st.dropped_idle, 2);
    close(trickle.fd);
    close(silent.fd);
    close(busy.fd);
    close(follower.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(only_followers_receive_broadcast_events)
{
    struct ctlsock *srv = open_srv(4, 1024);
    struct ctx ctx = { 0 };
    static struct line_reader f, o;
    f.fd = connect_to(sock_path);
    o.fd = connect_to(sock_path);
    f.len = o.len = 0;
    send_text(f.fd, "{\"cmd\":\"events\",\"follow\":true}\n");
    json_t *reply = await_line(srv, &ctx, &f, NULL, 2000);
    ck_assert(json_is_true(json_object_get(json_object_get(reply, "result"), "following")));
    json_decref(reply);
    send_text(o.fd, "{\"cmd\":\"events\"}\n");
    reply = await_line(srv, &ctx, &o, NULL, 2000);
    json_decref(reply);

    json_t *e = ctlproto_event(1, 1700000000000LL, "state", "state Execute -> Held");
    ctlsock_broadcast_event(srv, e);
    json_decref(e);
    json_t *msg = await_line(srv, &ctx, &f, NULL, 2000);
    char why[256];
    ck_assert_msg(ctlproto_check_event(msg, why, sizeof why) == 0, "%s", why);
    json_decref(msg);
    /* the other client's next line is its own reply, not the event */
    send_text(o.fd, "{\"cmd\":\"status\"}\n");
    reply = await_line(srv, &ctx, &o, NULL, 2000);
    ck_assert_ptr_null(json_object_get(reply, "event"));
    ck_assert(json_is_true(json_object_get(reply, "ok")));
    json_decref(reply);
    close(f.fd);
    close(o.fd);
    ctlsock_close(srv);
}
END_TEST

/* ---- hostile clients while the scan keeps its period ---------------------------------- */

struct scan_stats {
    long long max_service_us;
    long long max_late_us;      /* how far a scan started after its deadline */
    int scans;
};

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A scan loop at SCAN_PERIOD_MS with absolute deadlines, as swapd runs it, until the
 * child exits (and settle_ms more). */
static void scan_until_child_exits(struct ctlsock *srv, struct ctx *ctx, pid_t child,
                                   int settle_ms, struct scan_stats *st)
{
    memset(st, 0, sizeof *st);
    long long next = now_us();
    long long stop_at = -1;
    long long give_up = next + 20 * 1000000LL;
    while (now_us() < give_up) {
        long long start = now_us();
        if (start - next > st->max_late_us)
            st->max_late_us = start - next;
        ctlsock_service(srv, handler, ctx, BUDGET);
        long long took = now_us() - start;
        if (took > st->max_service_us)
            st->max_service_us = took;
        st->scans++;
        if (stop_at < 0 && !proc_alive(child))
            stop_at = now_us() + settle_ms * 1000LL;
        if (stop_at >= 0 && now_us() >= stop_at)
            break;
        next += SCAN_PERIOD_MS * 1000;
        long long wait = next - now_us();
        if (wait > 0) {
            struct timespec ts = { wait / 1000000, (long)(wait % 1000000) * 1000 };
            nanosleep(&ts, NULL);
        }
    }
}

START_TEST(connect_storms_do_not_disturb_the_scan)
{
    struct ctlsock *srv = open_srv(16, 1024);
    struct ctx ctx = { 0 };
    pid_t child = fork();
    if (child == 0) {
        int failed = 0;
        for (int i = 0; i < 100; i++) {
            int fd = connect_to(sock_path);
            if (fd < 0) {
                failed++;
                continue;
            }
            if (i % 3 == 1)
                (void)!write(fd, "{\"cmd\":\"sta", 11);       /* half a request */
            else if (i % 3 == 2)
                (void)!write(fd, "{\"cmd\":\"status\"}\n", 17); /* and gone before the reply */
            close(fd);
        }
        _exit(failed);
    }
    struct scan_stats st;
    scan_until_child_exits(srv, &ctx, child, 200, &st);

    struct ctlsock_stats cs;
    ctlsock_get_stats(srv, &cs);
    printf("storm: %d scans, service max %lld us, late max %lld us, accepted %lu, refused %lu\n",
           st.scans, st.max_service_us, st.max_late_us, cs.accepted, cs.refused_full);
    fflush(stdout);
    ck_assert_uint_ge(cs.accepted + cs.refused_full, 100);
    ck_assert_int_eq(ctlsock_client_count(srv), 0);
    ck_assert_int_lt(st.max_service_us, SCAN_PERIOD_MS * 1000);
    /* still serving */
    static struct line_reader r;
    r.fd = connect_to(sock_path);
    r.len = 0;
    send_text(r.fd, "{\"cmd\":\"status\"}\n");
    json_t *reply = await_line(srv, &ctx, &r, NULL, 2000);
    ck_assert(json_is_true(json_object_get(reply, "ok")));
    json_decref(reply);
    close(r.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(client_that_never_reads_is_dropped_and_never_blocks_the_scan)
{
    struct ctlsock *srv = open_srv(4, 1024);
    ctlsock_set_queue_limit(srv, 16 * 1024);
    struct ctx ctx = { 0 };
    pid_t child = fork();
    if (child == 0) {
        signal(SIGPIPE, SIG_IGN);
        int fd = connect_to(sock_path);
        const char *req = "{\"cmd\":\"status\"}\n{\"cmd\":\"status\"}\n{\"cmd\":\"status\"}\n";
        /* write requests for ever, read nothing: ends when the server drops us */
        for (int i = 0; i < 2000000; i++)
            if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
                _exit(0);
        _exit(1);
    }
    struct scan_stats st;
    scan_until_child_exits(srv, &ctx, child, 50, &st);
    int status = 0;
    waitpid(child, &status, 0);
    struct ctlsock_stats cs;
    ctlsock_get_stats(srv, &cs);
    printf("never-reads: %d scans, %lu requests, service max %lld us, late max %lld us\n",
           st.scans, cs.requests, st.max_service_us, st.max_late_us);
    fflush(stdout);
    ck_assert_uint_eq(cs.dropped_slow, 1);
    ck_assert_int_eq(ctlsock_client_count(srv), 0);
    ck_assert_int_lt(st.max_service_us, SCAN_PERIOD_MS * 1000);
    ctlsock_close(srv);
}
END_TEST

START_TEST(follower_that_never_reads_is_dropped_on_broadcast)
{
    struct ctlsock *srv = open_srv(4, 1024);
    ctlsock_set_queue_limit(srv, 8 * 1024);
    struct ctx ctx = { 0 };
    static struct line_reader f;
    f.fd = connect_to(sock_path);
    f.len = 0;
    send_text(f.fd, "{\"cmd\":\"events\",\"follow\":true}\n");
    json_t *reply = await_line(srv, &ctx, &f, NULL, 2000);
    json_decref(reply);
    char text[400];
    memset(text, 'e', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    json_t *e = ctlproto_event(1, 0, "step", text);
    long long max_us = 0;
    int n = 0;
    for (; n < 100000 && ctlsock_client_count(srv) > 0; n++) {
        long long t0 = now_us();
        ctlsock_broadcast_event(srv, e);
        ctlsock_service(srv, handler, &ctx, BUDGET);
        long long took = now_us() - t0;
        if (took > max_us)
            max_us = took;
    }
    json_decref(e);
    printf("slow follower dropped after %d events, max %lld us per scan\n", n, max_us);
    fflush(stdout);
    struct ctlsock_stats cs;
    ctlsock_get_stats(srv, &cs);
    ck_assert_uint_eq(cs.dropped_slow, 1);
    ck_assert_int_lt(max_us, SCAN_PERIOD_MS * 1000);
    close(f.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(half_closed_client_still_gets_its_replies)
{
    struct ctlsock *srv = open_srv(4, 1024);
    struct ctx ctx = { 0 };
    static struct line_reader r;
    r.fd = connect_to(sock_path);
    r.len = 0;
    /* many requests at once, then the end of input, as from a shell pipe */
    char batch[16384] = "";
    for (int i = 0; i < 100; i++)
        strcat(batch, "{\"cmd\":\"status\"}\n");
    send_text(r.fd, batch);
    shutdown(r.fd, SHUT_WR);
    int replies = 0;
    bool eof = false;
    json_t *reply;
    while ((reply = await_line(srv, &ctx, &r, &eof, 3000))) {
        ck_assert(json_is_true(json_object_get(reply, "ok")));
        json_decref(reply);
        replies++;
    }
    ck_assert(eof);
    ck_assert_int_eq(replies, 100);
    ck_assert_int_eq(ctlsock_client_count(srv), 0);
    close(r.fd);
    ctlsock_close(srv);
}
END_TEST

START_TEST(follower_dropped_by_a_broadcast_inside_the_handler_is_safe)
{
    for (int round = 0; round < 4; round++) {
        struct ctlsock *srv = open_srv(4, 1024);
        ctlsock_set_queue_limit(srv, 4096);
        struct ctx ctx = { .broadcast_on_hold = srv };
        static struct line_reader f, c;
        /* epoll reports ready clients roughly in connection order: try both */
        if (round < 2) {
            f.fd = connect_to(sock_path);
            c.fd = connect_to(sock_path);
        } else {
            c.fd = connect_to(sock_path);
            f.fd = connect_to(sock_path);
        }
        f.len = c.len = 0;
        send_text(f.fd, "{\"cmd\":\"events\",\"follow\":true}\n");
        json_decref(await_line(srv, &ctx, &f, NULL, 2000));
        /* in one service call: the follower has input waiting, and the handler of the
         * other client's hold drops it */
        if (round % 2)
            send_text(f.fd, "{\"cmd\":\"status\"}\n");
        send_text(c.fd, "{\"cmd\":\"hold\"}\n");
        if (!(round % 2))
            send_text(f.fd, "{\"cmd\":\"status\"}\n");
        json_t *reply = await_line(srv, &ctx, &c, NULL, 2000);
        ck_assert(json_is_true(json_object_get(reply, "ok")));
        json_decref(reply);
        struct ctlsock_stats cs;
        ctlsock_get_stats(srv, &cs);
        ck_assert_uint_eq(cs.dropped_slow, 1);
        close(f.fd);
        close(c.fd);
        ctlsock_close(srv);
    }
}
END_TEST

START_TEST(client_vanishing_mid_line_is_cleaned_up)
{
    struct ctlsock *srv = open_srv(4, 1024);
    struct ctx ctx = { 0 };
    int fd = connect_to(sock_path);
    send_text(fd, "{\"cmd\":\"st");
    for (int i = 0; i < 50 && ctlsock_client_count(srv) == 0; i++) {
        struct pollfd p = { ctlsock_fd(srv), POLLIN, 0 };
        poll(&p, 1, 10);
        ctlsock_service(srv, handler, &ctx, BUDGET);
    }
    ck_assert_int_eq(ctlsock_client_count(srv), 1);
    close(fd);
    for (int i = 0; i < 50 && ctlsock_client_count(srv) == 1; i++) {
        struct pollfd p = { ctlsock_fd(srv), POLLIN, 0 };
        poll(&p, 1, 10);
        ctlsock_service(srv, handler, &ctx, BUDGET);
    }
    ck_assert_int_eq(ctlsock_client_count(srv), 0);
    ck_assert_int_eq(ctx.calls, 0);
    ctlsock_close(srv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctlsock");
    TCase *setup_tc = tcase_create("socket");
    tcase_add_checked_fixture(setup_tc, setup, teardown);
    tcase_add_test(setup_tc, socket_gets_the_configured_mode_and_is_removed_on_close);
    tcase_add_test(setup_tc, socket_group_is_applied);
    tcase_add_test(setup_tc, stale_socket_is_replaced);
    tcase_add_test(setup_tc, live_socket_is_not_stolen);
    tcase_add_test(setup_tc, a_file_that_is_not_a_socket_is_left_alone);
    tcase_add_test(setup_tc, bad_parameters_are_refused);
    tcase_add_test(setup_tc, a_removed_socket_is_made_again_and_open_connections_stay);
    suite_add_tcase(s, setup_tc);
    TCase *req = tcase_create("requests");
    tcase_add_checked_fixture(req, setup, teardown);
    tcase_add_test(req, handler_gets_the_peer_identity_from_the_kernel);
    tcase_add_test(req, pipelined_requests_are_answered_in_order_within_the_budget);
    tcase_add_test(req, invalid_json_gets_an_error_and_the_connection_stays);
    tcase_add_test(req, handler_without_an_answer_gives_an_internal_error);
    tcase_add_test(req, overlong_line_gets_an_error_then_the_client_is_dropped);
    tcase_add_test(req, a_line_of_exactly_max_line_bytes_is_accepted);
    tcase_add_test(req, clients_over_the_limit_are_told_and_closed);
    tcase_add_test(req, one_user_cannot_take_every_place);
    tcase_add_test(req, no_user_limit_still_leaves_a_place_to_others);
    tcase_add_test(req, readers_cannot_take_the_places_kept_for_operators);
    tcase_add_test(req, a_connection_that_asks_nothing_is_closed_after_the_idle_timeout);
    tcase_add_test(req, only_followers_receive_broadcast_events);
    suite_add_tcase(s, req);
    TCase *hostile = tcase_create("hostile");
    tcase_add_checked_fixture(hostile, setup, teardown);
    tcase_set_timeout(hostile, 30);
    tcase_add_test(hostile, connect_storms_do_not_disturb_the_scan);
    tcase_add_test(hostile, client_that_never_reads_is_dropped_and_never_blocks_the_scan);
    tcase_add_test(hostile, follower_that_never_reads_is_dropped_on_broadcast);
    tcase_add_test(hostile, client_vanishing_mid_line_is_cleaned_up);
    tcase_add_test(hostile, half_closed_client_still_gets_its_replies);
    tcase_add_test(hostile, follower_dropped_by_a_broadcast_inside_the_handler_is_safe);
    suite_add_tcase(s, hostile);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
