/* The read-only HTTP endpoint; see httpd.h. One thread per connection (bounded by
 * [http] max_connections and max_per_ip): the event stream's reader may then wait for
 * the next snapshot without busy polling, and a slow client holds only its own thread
 * until [http] timeout_s. Everything served comes from the current snapshot or from the
 * fixed file table (www.c): no request names a path on disk, so there is nothing to
 * traverse. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto/ctlproto.h"
#include "www.h"

#define C struct httpd_cfg
const struct cfg_key httpd_cfg_keys[] = {
    CFG_B("http", "enabled", C, enabled, "false", "Serve /metrics, the JSON API and the status page over HTTP (read-only)"),
    CFG_S("http", "address", C, address, "127.0.0.1", "Address to listen on (IPv4 or IPv6 literal); 0.0.0.0 exposes it to the network"),
    CFG_I("http", "port", C, port, 0, 65535, "9187", "", "TCP port (0 = any free port; the log names it)"),
    CFG_I("http", "max_connections", C, max_connections, 4, 1024, "64", "", "Connections served at once; more are refused"),
    CFG_I("http", "max_per_ip", C, max_per_ip, 1, 1024, "32", "", "Connections served at once from one address"),
    CFG_I("http", "timeout_s", C, timeout_s, 1, 3600, "10", "s", "A connection idle this long (e.g. a client sending its headers slowly) is closed"),
    CFG_I("http", "publish_ms", C, publish_ms, 50, 10000, "200", "ms", "The scan publishes a new snapshot at most this often"),
    CFG_S("http", "www_dir", C, www_dir, "", "Directory with the status page's files (index.html, style.css, app.js); empty = the copy built into swapd"),
};
#undef C
const size_t httpd_n_cfg_keys = sizeof httpd_cfg_keys / sizeof httpd_cfg_keys[0];

const char *const httpd_doc_names[HTTPD_DOC_COUNT] = {
    [HTTPD_DOC_STATUS] = "status", [HTTPD_DOC_SLOTS] = "slots", [HTTPD_DOC_BATTERIES] = "batteries",
    [HTTPD_DOC_DRONES] = "drones", [HTTPD_DOC_ALARMS] = "alarms",
};

#define SSE_KEEPALIVE_MS 5000   /* at most; always well inside [http] timeout_s */
#define SSE_POLL_MS 100
#define HTTPD_THREAD_NICE 10
#define WWW_FILE_MAX (1u << 20)

struct httpd {
    struct httpd_cfg cfg;
    struct MHD_Daemon *mhd;
    int port;
    pthread_mutex_t lock;        /* guards snap (the pointer, not the snapshot) */
    struct httpd_snapshot *snap;
    atomic_bool stopping;
    int keepalive_ms;
};

struct httpd_snapshot *httpd_snapshot_new(void)
{
    struct httpd_snapshot *s = calloc(1, sizeof *s);
    if (s)
        s->refs = 1;
    return s;
}

void httpd_snapshot_release(struct httpd_snapshot *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (int i = 0; i < HTTPD_DOC_COUNT; i++)
        free(s->doc[i]);
    for (int i = 0; i < s->n_events; i++)
        free(s->events[i].json);
    free(s);
}

static struct httpd_snapshot *acquire(struct httpd *h)
{
    pthread_mutex_lock(&h->lock);
    struct httpd_snapshot *s = h->snap;
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&h->lock);
    return s;
}

bool httpd_publish(struct httpd *h, struct httpd_snapshot *s)
{
    if (pthread_mutex_trylock(&h->lock) != 0)
        return false;
    struct httpd_snapshot *old = h->snap;
    h->snap = s;
    pthread_mutex_unlock(&h->lock);
    httpd_snapshot_release(old);
    return true;
}

int httpd_port(const struct httpd *h) { return h ? h->port : 0; }

/* ---- responses ------------------------------------------------------------------- */

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *type, const void *body,
                                size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'; img-src 'self' data:");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return send_buf(c, status, "text/plain; charset=utf-8", text, strlen(text), MHD_RESPMEM_PERSISTENT);
}

/* JSON built here goes out as a malloc'd buffer MHD frees. */
static enum MHD_Result send_json(struct MHD_Connection *c, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    size_t len = strlen(text);
    text[len] = '\n';   /* json_dumps leaves room for nothing more: replace the NUL */
    return send_buf(c, MHD_HTTP_OK, "application/json", text, len + 1, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result send_unavailable(struct MHD_Connection *c)
{
    return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no snapshot yet: the station is starting\n");
}

static enum MHD_Result serve_doc(struct httpd *h, struct MHD_Connection *c, enum httpd_doc d)
{
    struct httpd_snapshot *s = acquire(h);
    if (!s || !s->doc[d]) {
        httpd_snapshot_release(s);
        return send_unavailable(c);
    }
    enum MHD_Result rc = send_buf(c, MHD_HTTP_OK, "application/json", s->doc[d], s->doc_len[d],
                                  MHD_RESPMEM_MUST_COPY);
    httpd_snapshot_release(s);
    return rc;
}

static enum MHD_Result serve_metrics(struct httpd *h, struct MHD_Connection *c)
{
    struct httpd_snapshot *s = acquire(h);
    if (!s) {
        return send_unavailable(c);
    }
    size_t len = 0;
    char *text = httpd_metrics_render(&s->metrics, &len);
    httpd_snapshot_release(s);
    if (!text)
        return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return send_buf(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, MHD_RESPMEM_MUST_FREE);
}

static bool parse_ll(const char *text, long long *out)
{
    if (!text || !*text)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* GET /api/v1/events?since=MS&limit=N: the control protocol's events reply (since_ms). */
static enum MHD_Result serve_events(struct httpd *h, struct MHD_Connection *c)
{
    long long since = 0, limit = 100;
    const char *a = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    const char *b = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if ((a && !parse_ll(a, &since)) || (b && (!parse_ll(b, &limit) || limit < 0 || limit > HTTPD_EVENTS)))
        return send_text(c, MHD_HTTP_BAD_REQUEST,
                         "since is a time in ms since the epoch, limit a count 0..256\n");
    struct httpd_snapshot *s = acquire(h);
    if (!s)
        return send_unavailable(c);
    json_t *arr = json_array();
    for (int i = 0; i < s->n_events; i++) {
        if (s->events[i].t_ms < since)
            continue;
        json_t *e = json_loads(s->events[i].json, 0, NULL);
        if (e)
            json_array_append_new(arr, e);
    }
    httpd_snapshot_release(s);
    while (json_array_size(arr) > (size_t)limit)
        json_array_remove(arr, 0);
    json_t *req = json_pack("{s:s}", "cmd", "events");
    /* The page is the newest events of the snapshot's ring: nothing follows it ("more"
     * false); older history is the registry's, through swapctl events --since. */
    json_t *rep = ctlproto_reply_ok(req, json_pack("{s:o, s:b, s:b}", "events", arr, "following", 0, "more", 0));
    json_decref(req);
    return send_json(c, rep);
}

/* ---- the event stream ---------------------------------------------------------- */

struct sse {
    struct httpd *h;
    long long last;              /* highest id sent; -1 until the first snapshot */
    char *pend;
    size_t pend_len, pend_off, pend_cap;
    bool sent_retry;
};

static void sse_append(struct sse *st, const char *text, size_t len)
{
    if (st->pend_len + len > st->pend_cap)
        return;  /* full: the rest goes in the next read */
    memcpy(st->pend + st->pend_len, text, len);
    st->pend_len += len;
}

static void sse_collect(struct sse *st)
{
    struct httpd_snapshot *s = acquire(st->h);
    if (!s)
        return;
    if (st->last < 0)  /* no Last-Event-ID: from now on */
        st->last = s->n_events ? s->events[s->n_events - 1].seq : 0;
    char head[64];
    for (int i = 0; i < s->n_events; i++) {
        const struct httpd_event *e = &s->events[i];
        if (e->seq <= st->last)
            continue;
        size_t jl = strlen(e->json);
        int hl = snprintf(head, sizeof head, "id: %lld\ndata: ", e->seq);
        if (st->pend_len + (size_t)hl + jl + 2 > st->pend_cap)
            break;
        sse_append(st, head, (size_t)hl);
        sse_append(st, e->json, jl);
        sse_append(st, "\n\n", 2);
        st->last = e->seq;
    }
    httpd_snapshot_release(s);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct sse *st = cls;
    if (!st->sent_retry) {
        st->sent_retry = true;
        sse_append(st, "retry: 2000\n\n", 13);
    }
    int waited_ms = 0;
    while (st->pend_off == st->pend_len) {
        st->pend_off = st->pend_len = 0;
        if (atomic_load(&st->h->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        sse_collect(st);
        if (st->pend_len)
            break;
        if (waited_ms >= st->h->keepalive_ms) {
            sse_append(st, ": keep-alive\n\n", 14);
            break;
        }
        struct timespec ts = { 0, SSE_POLL_MS * 1000000L };
        nanosleep(&ts, NULL);
        waited_ms += SSE_POLL_MS;
    }
    size_t n = st->pend_len - st->pend_off;
    if (n > max)
        n = max;
    memcpy(buf, st->pend + st->pend_off, n);
    st->pend_off += n;
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    struct sse *st = cls;
    free(st->pend);
    free(st);
}

static enum MHD_Result serve_stream(struct httpd *h, struct MHD_Connection *c)
{
    struct sse *st = calloc(1, sizeof *st);
    if (!st || !(st->pend = malloc(64 * 1024))) {
        free(st);
        return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    st->h = h;
    st->pend_cap = 64 * 1024;
    st->last = -1;
    long long id;
    const char *lei = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (!lei)
        lei = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last_id");
    if (lei && parse_ll(lei, &id) && id >= 0)
        st->last = id;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, st, sse_free);
    if (!r) {
        sse_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- static files ------------------------------------------------------------ */

static enum MHD_Result serve_file(struct httpd *h, struct MHD_Connection *c, const struct httpd_www_file *f)
{
    if (!h->cfg.www_dir[0])
        return send_buf(c, MHD_HTTP_OK, f->mime, f->data, (size_t)(f->end - f->data), MHD_RESPMEM_PERSISTENT);
    /* Only the names of the built-in table are looked up in www_dir. */
    char p[sizeof h->cfg.www_dir + 32];
    snprintf(p, sizeof p, "%s/%s", h->cfg.www_dir, f->name);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *buf = fd >= 0 ? malloc(WWW_FILE_MAX) : NULL;
    ssize_t n = buf ? read(fd, buf, WWW_FILE_MAX) : -1;
    if (fd >= 0)
        close(fd);
    if (n < 0) {
        free(buf);
        return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    return send_buf(c, MHD_HTTP_OK, f->mime, buf, (size_t)n, MHD_RESPMEM_MUST_FREE);
}

/* ---- routing ------------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    struct httpd *h = cls;
    /* This connection's thread yields to the scan and the plant link: on a machine short
     * of CPU a request waits, never a scan (Linux: the nice value is per thread). */
    static _Thread_local bool niced;
    if (!niced) {
        niced = true;
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), HTTPD_THREAD_NICE);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
        *upload_data_size = 0;  /* any body is ignored: nothing here takes input */
        return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "read-only: only GET and HEAD; commands go through swapctl\n");
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!strcmp(url, "/metrics"))
        return serve_metrics(h, c);
    if (!strncmp(url, "/api/v1/", 8)) {
        const char *what = url + 8;
        for (int d = 0; d < HTTPD_DOC_COUNT; d++)
            if (!strcmp(what, httpd_doc_names[d]))
                return serve_doc(h, c, (enum httpd_doc)d);
        if (!strcmp(what, "events"))
            return serve_events(h, c);
        if (!strcmp(what, "events/stream"))
            return serve_stream(h, c);
        return send_text(c, MHD_HTTP_NOT_FOUND, "no such API document\n");
    }
    const char *name = !strcmp(url, "/") ? "index.html" : url + 1;
    for (size_t i = 0; i < httpd_www_n_files; i++)
        if (!strcmp(name, httpd_www_files[i].name))
            return serve_file(h, c, &httpd_www_files[i]);
    return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Percent-decoding as MHD does it, except that a decoded NUL ("%00") makes the whole
 * path one no file has: "/app.js%00.html" must not be served as "/app.js". */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    size_t n = MHD_http_unescape(s);
    if (memchr(s, 0, n)) {
        strcpy(s, "\x01");  /* fits: the encoded NUL alone took three bytes */
        return 1;
    }
    return n;
}

struct httpd *httpd_start(const struct httpd_cfg *cfg, char *err, size_t errsize)
{
    err[0] = 0;
    if (!cfg->enabled)
        return NULL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (inet_pton(AF_INET, cfg->address, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->address, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errsize, "[http] address \"%s\" is not an IPv4 or IPv6 address", cfg->address);
        return NULL;
    }
    struct httpd *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    h->cfg = *cfg;
    h->keepalive_ms = cfg->timeout_s * 1000 / 2 < SSE_KEEPALIVE_MS ? cfg->timeout_s * 1000 / 2 : SSE_KEEPALIVE_MS;
    pthread_mutex_init(&h->lock, NULL);
    atomic_init(&h->stopping, false);
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_per_ip,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
                              MHD_OPTION_THREAD_STACK_SIZE, (size_t)256 * 1024,
                              MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                              MHD_OPTION_END);
    if (!h->mhd) {
        snprintf(err, errsize, "cannot listen on %s port %d (in use, or not an address of this machine)",
                 cfg->address, cfg->port);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : cfg->port;
    return h;
}

void httpd_stop(struct httpd *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, true);
    MHD_stop_daemon(h->mhd);
    httpd_snapshot_release(h->snap);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
