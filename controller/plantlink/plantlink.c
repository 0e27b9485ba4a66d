/* Modbus TCP link to the plant; see plantlink.h. */
#include "plantlink/plantlink.h"

#include <errno.h>
#include <modbus.h>

#include "plantio/plantio_modbus.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct plantlink {
    struct plantlink_config cfg;
    struct plantio_backend io;    /* Modbus TCP, used by the worker only */
    unsigned connections;         /* connections the worker has read back */
    pthread_t thread;
    pthread_mutex_t lock;
    bool stop;
    bool have_outputs;
    pthread_cond_t outputs_put;   /* on fresh input: the scan has put outputs */
    uint64_t puts;                /* plantlink_put_outputs calls, under lock */
    int wake_fd;                  /* eventfd: a new image is there */
    /* shared, under lock */
    struct plantlink_outputs out;
    struct plantlink_inputs in;
    struct plantlink_status status;
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
    l->status.last_errno = err;
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

/* One exchange of the process image. A new connection is read back (coils and holding
 * registers) before anything is written on it, so a restarted controller adopts what the
 * plant holds instead of writing its defaults. */
static int read_di(struct plantlink *l, struct plantlink_inputs *in)
{
    const struct plantio_backend *b = &l->io;
    const unsigned n = l->cfg.n_slots;
    memset(in, 0, sizeof *in);
    if (b->read_di(b->ctx, 0, REGMAP_DI_COUNT(n), in->di) < 0) {
        record_failure(l, "read discrete inputs", errno);
        return -1;
    }
    unsigned connections = plantio_modbus_connections(b);
    if (connections != l->connections) {
        struct plantlink_outputs rb;
        memset(&rb, 0, sizeof rb);
        if (b->read_co(b->ctx, 0, REGMAP_CO_COUNT, rb.co) < 0 ||
            b->read_hr(b->ctx, 0, REGMAP_HR_COUNT(n), rb.hr) < 0) {
            record_failure(l, "read back outputs", errno);
            return -1;
        }
        l->connections = connections;
        pthread_mutex_lock(&l->lock);
        l->status.reconnects = plantio_modbus_reconnects(b);
        l->status.readback = rb;
        l->status.readback_seq++;
        pthread_mutex_unlock(&l->lock);
    }
    return 0;
}

static int write_outputs(struct plantlink *l)
{
    const struct plantio_backend *b = &l->io;
    const unsigned n = l->cfg.n_slots;
    struct plantlink_outputs out;
    pthread_mutex_lock(&l->lock);
    out = l->out;
    bool have_out = l->have_outputs && out.readback_seq == l->status.readback_seq;
    pthread_mutex_unlock(&l->lock);
    if (have_out) {
        if (b->write_co(b->ctx, 0, REGMAP_CO_COUNT, out.co) < 0) {
            record_failure(l, "write coils", errno);
            return -1;
        }
        if (b->write_hr(b->ctx, 0, REGMAP_HR_COUNT(n), out.hr) < 0) {
            record_failure(l, "write holding registers", errno);
            return -1;
        }
    }
    return 0;
}

/* Reads the input registers and publishes the image (discrete inputs already in *in). */
static int read_ir_publish(struct plantlink *l, struct plantlink_inputs *in, uint64_t t0)
{
    const struct plantio_backend *b = &l->io;
    if (b->read_ir(b->ctx, 0, REGMAP_IR_COUNT(l->cfg.n_slots), in->ir) < 0) {
        record_failure(l, "read input registers", errno);
        return -1;
    }
    uint64_t t = now_us(), dt = t - t0;
    pthread_mutex_lock(&l->lock);
    l->in = *in;
    l->status.connected = true;
    l->status.inputs_ms = t / 1000u;
    l->status.inputs_us = t;
    l->status.exchanges++;
    l->status.exchange_us_last = dt;
    if (dt > l->status.exchange_us_max)
        l->status.exchange_us_max = dt;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static void exchange(struct plantlink *l)
{
    struct plantlink_inputs in;
    uint64_t t0 = now_us();
    if (read_di(l, &in) == 0 && write_outputs(l) == 0)
        read_ir_publish(l, &in, t0);
}

/* On fresh input: the image first, then the scan's outputs for it. Returns the time to
 * wait before the next image: the configured gap after a full cycle (an edge waits at
 * most that and a round trip to be seen), a period after a failure (the backend's
 * back-off keeps a dead plant cheap). */
static long exchange_fresh(struct plantlink *l)
{
    struct plantlink_inputs in;
    uint64_t t0 = now_us();
    if (read_di(l, &in) != 0)
        return l->cfg.period_ms;
    pthread_mutex_lock(&l->lock);
    uint64_t puts = l->puts;
    pthread_mutex_unlock(&l->lock);
    if (read_ir_publish(l, &in, t0) != 0)
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
    pthread_mutex_unlock(&l->lock);
    return write_outputs(l) == 0 ? l->cfg.fresh_gap_ms : l->cfg.period_ms;
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

struct plantlink *plantlink_start(const struct plantlink_config *cfg, char *err, size_t errsize)
{
    if (cfg->n_slots < 1 || cfg->n_slots > REGMAP_MAX_SLOTS || cfg->port < 1 || cfg->port > 65535 ||
        cfg->period_ms < 1 || cfg->fresh_gap_ms < 0 || cfg->response_timeout_ms < 1 || cfg->backoff_min_ms < 1 ||
        cfg->backoff_max_ms < cfg->backoff_min_ms || !cfg->host[0]) {
        snprintf(err, errsize, "plant link: invalid configuration");
        return NULL;
    }
    struct plantlink *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errsize, "plant link: out of memory");
        return NULL;
    }
    l->cfg = *cfg;
    struct plantio_modbus_cfg mcfg = { .host = cfg->host, .port = cfg->port, .unit_id = cfg->unit_id,
                                       .timeout_ms = cfg->response_timeout_ms,
                                       .backoff_min_ms = cfg->backoff_min_ms,
                                       .backoff_max_ms = cfg->backoff_max_ms };
    if (plantio_modbus_backend(&l->io, &mcfg, err, errsize) != 0) {
        free(l);
        return NULL;
    }
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wake_fd < 0) {
        snprintf(err, errsize, "plant link: eventfd: %s", strerror(errno));
        l->io.close(l->io.ctx);
        free(l);
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
        close(l->wake_fd);
        free(l);
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
    close(l->wake_fd);
    free(l);
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
