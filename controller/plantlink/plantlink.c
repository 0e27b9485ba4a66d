/* Modbus TCP / RTU link to the plant; see plantlink.h. */
#include "plantlink/plantlink.h"

#include <errno.h>
#include <modbus.h>

#include "plantio/plantio_modbus.h"
#include "plantlink/plantlink_age.h"
#include "plantlink/plantlink_timing.h"
#include "plantmap/scanplan.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct plantlink {
    struct plantlink_config cfg;
    struct plantio_backend io;    /* Modbus TCP or RTU, used by the worker only */
    unsigned connections;         /* connections the worker has read back */
    /* the worker's own: the plan, the wire image, what was last written */
    const struct plantmap *map;
    struct scanplan *plan;
    struct plantmap_wire *wire, *sent;
    bool sent_valid;              /* false: write every block next time (new connection) */
    bool slow_all;                /* read every slow block next time */
    unsigned slow_next;           /* round-robin cursor over the slow blocks */
    struct plantlink_age age;     /* when each slot's slow telemetry was read */
    uint64_t refreshed_ms;        /* when every write block was last written */
    uint64_t requests, writes_skipped;
    pthread_t thread;
    pthread_mutex_t lock;
    bool stop;
    bool have_outputs;
    pthread_cond_t outputs_put;   /* on fresh input: the scan has put outputs */
    uint64_t puts;                /* plantlink_put_outputs calls, under lock */
    int wake_fd;                  /* eventfd: a new image is there */
    unsigned next_fast;           /* the exchange's next fast read (after the first) */
    /* shared, under lock */
    struct plantlink_outputs out;
    struct plantlink_inputs in;
    struct plantlink_status status;
    struct plantlink_timing_hist period_hist, exchange_hist;
    uint64_t last_publish_us;     /* the previous image of an unbroken row; 0 none */
};

uint64_t plantlink_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void add_ms(struct timespec *t, long ms)
{
    t->tv_nsec += (ms % 1000) * 1000000L;
    t->tv_sec += ms / 1000 + t->tv_nsec / 1000000000L;
    t->tv_nsec %= 1000000000L;
}

static bool stopping(struct plantlink *l)
{
    pthread_mutex_lock(&l->lock);
    bool s = l->stop;
    pthread_mutex_unlock(&l->lock);
    return s;
}

static void record_failure(struct plantlink *l, const char *what, int err)
{
    pthread_mutex_lock(&l->lock);
    l->status.connected = false;
    l->status.failures++;
    l->status.requests = l->requests;
    l->status.writes_skipped = l->writes_skipped;
    l->status.last_errno = err;
    l->last_publish_us = 0;       /* the next image starts a new row */
    snprintf(l->status.last_error, sizeof l->status.last_error, "%s: %s", what, modbus_strerror(err));
    pthread_mutex_unlock(&l->lock);
}

/* Sleeps until the absolute deadline, waking early if stop is requested (checked at
 * least every 50 ms). */
static void wait_until(struct plantlink *l, const struct timespec *deadline)
{
    for (;;) {
        if (stopping(l))
            return;
        struct timespec now, step;
        clock_gettime(CLOCK_MONOTONIC, &now);
        step = now;
        add_ms(&step, 50);
        const struct timespec *target =
            (step.tv_sec < deadline->tv_sec ||
             (step.tv_sec == deadline->tv_sec && step.tv_nsec < deadline->tv_nsec)) ? &step : deadline;
        if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, target, NULL) == 0 && target == deadline)
            return;
    }
}

static const char *const table_what[] = { "", "coils", "discrete inputs", "input registers", "holding registers" };

/* One request of the plan. Returns 0 or -1 with errno set. */
static int request(struct plantlink *l, const struct scanplan_req *r, bool as_write)
{
    const struct plantio_backend *b = &l->io;
    struct plantmap_wire *w = l->wire;
    l->requests++;   /* published under the lock with the rest of the status */
    if (as_write)
        return r->table == PLANTMAP_COIL ? b->write_co(b->ctx, r->addr, r->n, w->co + r->addr)
                                         : b->write_hr(b->ctx, r->addr, r->n, w->hr + r->addr);
    switch (r->table) {
    case PLANTMAP_DI: return b->read_di(b->ctx, r->addr, r->n, w->di + r->addr);
    case PLANTMAP_COIL: return b->read_co(b->ctx, r->addr, r->n, w->co + r->addr);
    case PLANTMAP_IR: return b->read_ir(b->ctx, r->addr, r->n, w->ir + r->addr);
    case PLANTMAP_HR: return b->read_hr(b->ctx, r->addr, r->n, w->hr + r->addr);
    default: errno = EINVAL; return -1;
    }
}

static int fail_req(struct plantlink *l, const char *verb, const struct scanplan_req *r)
{
    char what[64];
    snprintf(what, sizeof what, "%s %s %u..%u", verb, table_what[r->table], r->addr, r->addr + r->n - 1);
    record_failure(l, what, errno);
    l->sent_valid = false;
    return -1;
}

static bool block_changed(const struct plantlink *l, const struct scanplan_req *r)
{
    if (r->table == PLANTMAP_COIL)
        return memcmp(l->wire->co + r->addr, l->sent->co + r->addr, r->n) != 0;
    return memcmp(l->wire->hr + r->addr, l->sent->hr + r->addr, r->n * sizeof l->wire->hr[0]) != 0;
}

static void block_sent(struct plantlink *l, const struct scanplan_req *r)
{
    if (r->table == PLANTMAP_COIL)
        memcpy(l->sent->co + r->addr, l->wire->co + r->addr, r->n);
    else
        memcpy(l->sent->hr + r->addr, l->wire->hr + r->addr, r->n * sizeof l->wire->hr[0]);
}

/* The first fast read (it (re)connects); then a new connection is read back (the plan's
 * write blocks) before anything is written on it, so a restarted controller adopts what
 * the plant holds instead of writing its defaults; after it every write block is written
 * and every slow block read. Returns 0 or -1 (failure recorded). */
static int read_first(struct plantlink *l)
{
    const struct scanplan *p = l->plan;
    const unsigned n = l->cfg.n_slots;
    const unsigned first_write = p->n_fast + p->n_slow;
    l->next_fast = 0;
    plantlink_age_begin(&l->age);
    if (p->n_fast > 0 && request(l, &p->req[l->next_fast++], false) < 0)
        return fail_req(l, "read", &p->req[0]);
    unsigned connections = plantio_modbus_connections(&l->io);
    if (connections != l->connections) {
        for (unsigned k = first_write; k < p->n_req; k++)
            if (request(l, &p->req[k], false) < 0)
                return fail_req(l, "read back", &p->req[k]);
        struct plantmap_image img;
        memset(&img, 0, sizeof img);
        plantmap_decode(l->map, l->wire, n, true, &img);
        struct plantlink_outputs rb;
        memset(&rb, 0, sizeof rb);
        memcpy(rb.co, img.co, sizeof rb.co);
        memcpy(rb.hr, img.hr, sizeof rb.hr);
        l->connections = connections;
        l->sent_valid = false;
        l->slow_all = true;
        pthread_mutex_lock(&l->lock);
        l->status.reconnects = plantio_modbus_reconnects(&l->io);
        l->status.readback = rb;
        l->status.readback_seq++;
        pthread_mutex_unlock(&l->lock);
    }
    return 0;
}

/* The scan's latest outputs, if they were computed from this connection's read-back:
 * the write blocks that changed (every one at a refresh), the heartbeat's always. */
static int write_outputs(struct plantlink *l)
{
    const struct scanplan *p = l->plan;
    const unsigned n = l->cfg.n_slots;
    const unsigned first_write = p->n_fast + p->n_slow;
    struct plantlink_outputs out;
    pthread_mutex_lock(&l->lock);
    out = l->out;
    bool have_out = l->have_outputs && out.readback_seq == l->status.readback_seq;
    pthread_mutex_unlock(&l->lock);
    if (!have_out)
        return 0;
    struct plantmap_image img;
    memset(&img, 0, sizeof img);
    memcpy(img.co, out.co, sizeof img.co);
    memcpy(img.hr, out.hr, sizeof img.hr);
    /* unmapped bits of a register holding packed outputs are written as 0 */
    for (unsigned k = first_write; k < p->n_req; k++) {
        const struct scanplan_req *r = &p->req[k];
        if (r->table == PLANTMAP_COIL)
            memset(l->wire->co + r->addr, 0, r->n);
        else
            memset(l->wire->hr + r->addr, 0, r->n * sizeof l->wire->hr[0]);
    }
    plantmap_encode(l->map, &img, n, true, l->wire);
    uint64_t now = plantlink_now_ms();
    bool refresh = !l->sent_valid || l->cfg.refresh_ms <= 0 ||
                   now - l->refreshed_ms >= (uint64_t)l->cfg.refresh_ms;
    for (unsigned k = first_write; k < p->n_req; k++) {
        const struct scanplan_req *r = &p->req[k];
        if (!refresh && !r->heartbeat && !block_changed(l, r)) {
            l->writes_skipped++;
            continue;
        }
        if (request(l, r, true) < 0)
            return fail_req(l, "write", r);
        block_sent(l, r);
    }
    if (refresh)
        l->refreshed_ms = now;
    l->sent_valid = true;
    return 0;
}

/* The rest of the fast reads and this exchange's share of the slow ones; then the image
 * is decoded through the map and published. */
static int read_rest_publish(struct plantlink *l, uint64_t t0)
{
    const struct scanplan *p = l->plan;
    const unsigned n = l->cfg.n_slots;
    for (; l->next_fast < p->n_fast; l->next_fast++)
        if (request(l, &p->req[l->next_fast], false) < 0)
            return fail_req(l, "read", &p->req[l->next_fast]);
    unsigned k_slow = l->slow_all || l->cfg.slow_period_ms <= 0
                          ? p->n_slow
                          : scanplan_slow_per_scan(p, l->cfg.period_ms, l->cfg.slow_period_ms);
    for (unsigned k = 0; k < k_slow && p->n_slow; k++) {
        const struct scanplan_req *r = &p->req[p->n_fast + l->slow_next];
        if (request(l, r, false) < 0)
            return fail_req(l, "read", r);
        plantlink_age_read(&l->age, l->slow_next, now_us());
        l->slow_next = (l->slow_next + 1) % p->n_slow;
    }
    l->slow_all = false;
    struct plantmap_image img;
    memset(&img, 0, sizeof img);
    plantmap_decode(l->map, l->wire, n, false, &img);
    struct plantlink_inputs in;
    memcpy(in.di, img.di, sizeof in.di);
    memcpy(in.ir, img.ir, sizeof in.ir);
    uint64_t t = now_us(), dt = t - t0;
    plantlink_age_image(&l->age, img.di);
    for (unsigned s = 0; s < REGMAP_MAX_SLOTS; s++)
        in.telemetry_us[s] = plantlink_age_slot_us(&l->age, s, t);
    pthread_mutex_lock(&l->lock);
    l->in = in;
    l->status.connected = true;
    l->status.inputs_ms = t / 1000u;
    l->status.inputs_us = t;
    l->status.exchanges++;
    l->status.requests = l->requests;
    l->status.writes_skipped = l->writes_skipped;
    l->status.exchange_us_last = dt;
    if (dt > l->status.exchange_us_max)
        l->status.exchange_us_max = dt;
    plantlink_timing_add(&l->exchange_hist, (double)dt);
    if (l->last_publish_us)
        plantlink_timing_add(&l->period_hist, (double)(t - l->last_publish_us));
    l->last_publish_us = t;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

/* One exchange of the process image along the scan plan: the first fast read, the
 * outputs, the other reads. */
static void exchange(struct plantlink *l)
{
    uint64_t t0 = now_us();
    if (read_first(l) == 0 && write_outputs(l) == 0)
        read_rest_publish(l, t0);
}

/* On fresh input: the image first, then the scan's outputs for it. Returns the time to
 * wait before the next image: the configured gap after a full cycle (an edge waits at
 * most that and a round trip to be seen), a period after a failure (the backend's
 * back-off keeps a dead plant cheap). */
static long exchange_fresh(struct plantlink *l)
{
    uint64_t t0 = now_us();
    if (read_first(l) != 0)
        return l->cfg.period_ms;
    pthread_mutex_lock(&l->lock);
    uint64_t puts = l->puts;
    pthread_mutex_unlock(&l->lock);
    if (read_rest_publish(l, t0) != 0)
        return l->cfg.period_ms;
    uint64_t one = 1;
    if (write(l->wake_fd, &one, sizeof one) < 0) {
        /* the counter is full: the scan has a wake-up pending anyway */
    }
    /* The scan answers within its work time; at most a period passes without a write. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    add_ms(&until, l->cfg.period_ms);
    pthread_mutex_lock(&l->lock);
    while (l->puts == puts && !l->stop)
        if (pthread_cond_timedwait(&l->outputs_put, &l->lock, &until) != 0)
            break;
    bool idle = l->out.pace_by_period;
    pthread_mutex_unlock(&l->lock);
    if (write_outputs(l) != 0)
        return l->cfg.period_ms;
    if (!idle)
        return l->cfg.fresh_gap_ms;
    /* At rest: the fixed link's grid, the next read a period after this one began. */
    long spent_ms = (long)((now_us() - t0) / 1000u);
    return spent_ms + l->cfg.fresh_gap_ms < l->cfg.period_ms ? l->cfg.period_ms - spent_ms : l->cfg.fresh_gap_ms;
}

/* Exchanges every period on absolute deadlines; the backend reconnects with back-off and
 * fails at once while the link is down, so a dead plant costs no more than a period. */
static void *worker(void *arg)
{
    struct plantlink *l = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stopping(l)) {
        if (l->cfg.on_fresh_input) {
            long pause_ms = exchange_fresh(l);
            if (pause_ms > 0) {
                clock_gettime(CLOCK_MONOTONIC, &next);
                add_ms(&next, pause_ms);
                wait_until(l, &next);
            }
            continue;
        }
        exchange(l);
        add_ms(&next, l->cfg.period_ms);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        /* Running late (a slow plant): restart the period grid instead of bursting. */
        if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
            next = now;
        wait_until(l, &next);
    }
    return NULL;
}

static void free_link(struct plantlink *l)
{
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    free(l->plan);
    free(l->wire);
    free(l->sent);
    free(l);
}

struct plantlink *plantlink_start(const struct plantlink_config *cfg, char *err, size_t errsize)
{
    if (cfg->n_slots < 1 || cfg->n_slots > REGMAP_MAX_SLOTS || (!cfg->rtu && (cfg->port < 1 || cfg->port > 65535)) ||
        cfg->period_ms < 1 || cfg->fresh_gap_ms < 0 || cfg->response_timeout_ms < 1 || cfg->backoff_min_ms < 1 ||
        cfg->backoff_max_ms < cfg->backoff_min_ms || (!cfg->rtu && !cfg->host[0]) || (cfg->rtu && !cfg->device[0])) {
        snprintf(err, errsize, "plant link: invalid configuration");
        return NULL;
    }
    struct plantlink *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errsize, "plant link: out of memory");
        return NULL;
    }
    l->cfg = *cfg;
    l->wake_fd = -1;
    l->map = cfg->map ? cfg->map : plantmap_builtin();
    l->plan = malloc(sizeof *l->plan);
    l->wire = calloc(1, sizeof *l->wire);
    l->sent = calloc(1, sizeof *l->sent);
    if (!l->map || !l->plan || !l->wire || !l->sent) {
        snprintf(err, errsize, "plant link: out of memory");
        free_link(l);
        return NULL;
    }
    struct scanplan_link costing = { .rtu = cfg->rtu, .baud = cfg->baud, .data_bits = cfg->data_bits,
                                     .stop_bits = cfg->stop_bits, .parity = cfg->parity, .tcp_bps = 100e6,
                                     .tcp_request_us = cfg->tcp_request_us > 0 ? cfg->tcp_request_us : 200 };
    if (scanplan_build(l->map, cfg->n_slots, &costing, l->plan, err, errsize) != 0) {
        free_link(l);
        return NULL;
    }
    plantlink_age_init(&l->age, l->plan, l->map, cfg->n_slots);
    struct plantio_modbus_cfg mcfg = { .host = cfg->host, .port = cfg->port, .unit_id = cfg->unit_id,
                                       .timeout_ms = cfg->response_timeout_ms,
                                       .backoff_min_ms = cfg->backoff_min_ms,
                                       .backoff_max_ms = cfg->backoff_max_ms, .rtu = cfg->rtu,
                                       .device = cfg->device, .baud = cfg->baud, .data_bits = cfg->data_bits,
                                       .stop_bits = cfg->stop_bits, .parity = cfg->parity, .rs485 = cfg->rs485,
                                       .byte_timeout_ms = cfg->byte_timeout_ms };
    if (plantio_modbus_backend(&l->io, &mcfg, err, errsize) != 0) {
        free_link(l);
        return NULL;
    }
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wake_fd < 0) {
        snprintf(err, errsize, "plant link: eventfd: %s", strerror(errno));
        l->io.close(l->io.ctx);
        free_link(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->outputs_put, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&l->thread, NULL, worker, l);
    if (rc != 0) {
        snprintf(err, errsize, "plant link: cannot start thread: %s", strerror(rc));
        l->io.close(l->io.ctx);
        pthread_cond_destroy(&l->outputs_put);
        pthread_mutex_destroy(&l->lock);
        free_link(l);
        return NULL;
    }
    return l;
}

void plantlink_stop(struct plantlink *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_signal(&l->outputs_put);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    l->io.close(l->io.ctx);
    pthread_cond_destroy(&l->outputs_put);
    pthread_mutex_destroy(&l->lock);
    free_link(l);
}

void plantlink_put_outputs(struct plantlink *l, const struct plantlink_outputs *out)
{
    pthread_mutex_lock(&l->lock);
    l->out = *out;
    l->have_outputs = true;
    l->puts++;
    pthread_cond_signal(&l->outputs_put);
    pthread_mutex_unlock(&l->lock);
}

int plantlink_wake_fd(const struct plantlink *l)
{
    return l->wake_fd;
}

bool plantlink_take_wake(struct plantlink *l)
{
    uint64_t n;
    return read(l->wake_fd, &n, sizeof n) == (ssize_t)sizeof n && n > 0;
}

uint64_t plantlink_get_inputs(struct plantlink *l, struct plantlink_inputs *in,
                              struct plantlink_status *status)
{
    pthread_mutex_lock(&l->lock);
    if (in)
        *in = l->in;
    struct plantlink_status st = l->status;
    pthread_mutex_unlock(&l->lock);
    if (status)
        *status = st;
    return st.inputs_ms;
}

void plantlink_get_timing(struct plantlink *l, struct plantlink_timing *period, struct plantlink_timing *exchange)
{
    pthread_mutex_lock(&l->lock);
    if (period)
        plantlink_timing_get(&l->period_hist, period);
    if (exchange)
        plantlink_timing_get(&l->exchange_hist, exchange);
    pthread_mutex_unlock(&l->lock);
}
