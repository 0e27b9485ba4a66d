/* Modbus TCP link to the plant; see plantlink.h. */
#include "plantlink/plantlink.h"

#include <errno.h>
#include <modbus.h>

#include "plantio/plantio_modbus.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct plantlink {
    struct plantlink_config cfg;
    struct plantio_backend io;    /* Modbus TCP, used by the worker only */
    unsigned connections;         /* connections the worker has read back */
    pthread_t thread;
    pthread_mutex_t lock;
    bool stop;
    bool have_outputs;
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
static void exchange(struct plantlink *l)
{
    const struct plantio_backend *b = &l->io;
    const unsigned n = l->cfg.n_slots;
    struct plantlink_inputs in;
    memset(&in, 0, sizeof in);
    uint64_t t0 = now_us();
    if (b->read_di(b->ctx, 0, REGMAP_DI_COUNT(n), in.di) < 0) {
        record_failure(l, "read discrete inputs", errno);
        return;
    }
    unsigned connections = plantio_modbus_connections(b);
    if (connections != l->connections) {
        struct plantlink_outputs rb;
        memset(&rb, 0, sizeof rb);
        if (b->read_co(b->ctx, 0, REGMAP_CO_COUNT, rb.co) < 0 ||
            b->read_hr(b->ctx, 0, REGMAP_HR_COUNT(n), rb.hr) < 0) {
            record_failure(l, "read back outputs", errno);
            return;
        }
        l->connections = connections;
        pthread_mutex_lock(&l->lock);
        l->status.reconnects = plantio_modbus_reconnects(b);
        l->status.readback = rb;
        l->status.readback_seq++;
        pthread_mutex_unlock(&l->lock);
    }
    struct plantlink_outputs out;
    pthread_mutex_lock(&l->lock);
    out = l->out;
    bool have_out = l->have_outputs && out.readback_seq == l->status.readback_seq;
    pthread_mutex_unlock(&l->lock);
    if (have_out) {
        if (b->write_co(b->ctx, 0, REGMAP_CO_COUNT, out.co) < 0) {
            record_failure(l, "write coils", errno);
            return;
        }
        if (b->write_hr(b->ctx, 0, REGMAP_HR_COUNT(n), out.hr) < 0) {
            record_failure(l, "write holding registers", errno);
            return;
        }
    }
    if (b->read_ir(b->ctx, 0, REGMAP_IR_COUNT(n), in.ir) < 0) {
        record_failure(l, "read input registers", errno);
        return;
    }
    uint64_t dt = now_us() - t0;
    pthread_mutex_lock(&l->lock);
    l->in = in;
    l->status.connected = true;
    l->status.inputs_ms = plantlink_now_ms();
    l->status.exchanges++;
    l->status.exchange_us_last = dt;
    if (dt > l->status.exchange_us_max)
        l->status.exchange_us_max = dt;
    pthread_mutex_unlock(&l->lock);
}

/* Exchanges every period on absolute deadlines; the backend reconnects with back-off and
 * fails at once while the link is down, so a dead plant costs no more than a period. */
static void *worker(void *arg)
{
    struct plantlink *l = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stopping(l)) {
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
        cfg->period_ms < 1 || cfg->response_timeout_ms < 1 || cfg->backoff_min_ms < 1 ||
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
    pthread_mutex_init(&l->lock, NULL);
    int rc = pthread_create(&l->thread, NULL, worker, l);
    if (rc != 0) {
        snprintf(err, errsize, "plant link: cannot start thread: %s", strerror(rc));
        l->io.close(l->io.ctx);
        pthread_mutex_destroy(&l->lock);
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
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    l->io.close(l->io.ctx);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void plantlink_put_outputs(struct plantlink *l, const struct plantlink_outputs *out)
{
    pthread_mutex_lock(&l->lock);
    l->out = *out;
    l->have_outputs = true;
    pthread_mutex_unlock(&l->lock);
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
