/* The daemon's persistence worker; see persist.h. */
#include "persist.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PERSIST_QUEUE 1024
#define PERSIST_MAX_ALARMS 64
#define PERSIST_RETRY_MIN_MS 50
#define PERSIST_RETRY_MAX_MS 1000
#define PERSIST_IDLE_MS 100       /* jobs queued without a kick are written after this */
#define PERSIST_VACUUM_PAGES 64   /* free pages returned to the file system per prune */
#define PERSIST_EVENTS 512        /* committed events waiting for the scan's followers */
#define PERSIST_HOLD_MS 2000      /* routine rows wait at most this long for the next transaction */

struct persist {
    struct registry *reg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    bool manual;                  /* no thread: persist_run() writes (the campaign) */
    uint64_t retry_at_ms;         /* manual: the head is retried from this time on */
    int backoff_ms;
    struct persist_job q[PERSIST_QUEUE];
    size_t head, len;
    /* Moves submitted and not yet committed (per-move acknowledgement): the scan is
     * told only the seq below the oldest of them, so a later success never stands in
     * for an earlier move that failed. */
    uint32_t outstanding[PERSIST_QUEUE];
    size_t n_outstanding;
    uint32_t committed_seq;       /* highest move committed */
    bool blocked;                 /* a move keeps failing with a storage error */
    unsigned retries;
    unsigned failures, dropped;
    char last_error[256];
    int64_t swap_id;              /* written by the worker under lock, read by the scan */
    struct httpd_hist write_latency;  /* seconds per job, under lock */
    bool kicked;
    uint64_t held_since_ms;       /* when the oldest routine job began to wait (0: none waits) */
    uint32_t batch_moves[PERSIST_QUEUE]; /* moves written in the open batch, acknowledged at its commit */
    size_t n_batch_moves;
    struct registry_retention keep;
    int prune_rows;
    unsigned long commits, pruned_rows;
    bool follow;                  /* read committed events for the followers */
    int64_t event_tail;           /* worker: the last event read */
    struct registry_event events[PERSIST_EVENTS];
    size_t ev_head, ev_len;
    unsigned long ev_lost;
    struct persist_rows {
        /* The registry rows the worker keeps referring to: what the open batch changes
         * here is undone with the batch when its commit fails (a row id kept from a
         * rolled-back insert would name nothing, or the next row SQLite hands out). */
        struct {
            char code[32];
            int64_t id;
        } alarms[PERSIST_MAX_ALARMS];
    } rows, rows_at_begin;
    int64_t swap_id_at_begin;
};

static void fail(struct persist *p, const char *what, int rc)
{
    pthread_mutex_lock(&p->lock);
    p->failures++;
    snprintf(p->last_error, sizeof p->last_error, "%s: %s (%s)", what, registry_strerror(rc),
             registry_last_error(p->reg));
    pthread_mutex_unlock(&p->lock);
    fprintf(stderr, "swapd: error: registry %s: %s\n", what, registry_last_error(p->reg));
}

static int64_t *alarm_slot(struct persist *p, const char *code, bool create)
{
    for (int i = 0; i < PERSIST_MAX_ALARMS; i++)
        if (p->rows.alarms[i].id && !strcmp(p->rows.alarms[i].code, code))
            return &p->rows.alarms[i].id;
    if (!create)
        return NULL;
    for (int i = 0; i < PERSIST_MAX_ALARMS; i++)
        if (!p->rows.alarms[i].id) {
            snprintf(p->rows.alarms[i].code, sizeof p->rows.alarms[i].code, "%s", code);
            return &p->rows.alarms[i].id;
        }
    return NULL;
}

static void forget_outstanding(struct persist *p, uint32_t seq)
{
    for (size_t i = 0; i < p->n_outstanding; i++)
        if (p->outstanding[i] == seq) {
            p->outstanding[i] = p->outstanding[--p->n_outstanding];
            return;
        }
}

/* Acknowledges moves that are on the disk (DESIGN §5.4: a move counts once it is). */
static void ack_moves(struct persist *p, const uint32_t *seq, size_t n)
{
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < n; i++) {
        forget_outstanding(p, seq[i]);
        if (seq[i] > p->committed_seq)
            p->committed_seq = seq[i];
    }
    pthread_mutex_unlock(&p->lock);
}

/* The store failed for a reason that may pass: the job stays at the head of the
 * queue, and everything after it waits, so the registry keeps the order of events. */
static int storage_failed(struct persist *p)
{
    pthread_mutex_lock(&p->lock);
    p->blocked = true;
    p->retries++;
    pthread_mutex_unlock(&p->lock);
    return 1;
}

/* A job went through. Alone it is on the disk: the store takes writes again. In a batch
 * it is only in SQLite's memory until the batch commits (a full disk fails the commit,
 * not the write), so the store counts as blocked until then: otherwise every retry of a
 * failing batch would show it unblocked for a moment, and an Unhold in that moment pass. */
static void unblock_if_durable(struct persist *p)
{
    if (registry_in_batch(p->reg))
        return;
    pthread_mutex_lock(&p->lock);
    p->blocked = false;
    pthread_mutex_unlock(&p->lock);
}

/* Runs one job. Returns 1 when it must be retried (a move the store could not take for
 * a reason that may pass: full disk, I/O error, lock), else 0. */
static int run_job(struct persist *p, const struct persist_job *j)
{
    int rc = 0;
    switch (j->kind) {
    case PERSIST_MOVE:
        if (j->tag == 0 || j->tag == 0xFFFFFFFFu) {
            /* A pack whose serial nobody has read (a drone that did not report it): the
             * registry cannot name it, so the move is an event, acknowledged in order;
             * the slot's reader names the pack when it is stored. */
            char to[32], text[160];
            registry_location_format(j->to, to, sizeof to);
            snprintf(text, sizeof text, "a pack of unknown serial moved to %s in step %s", to, j->step);
            rc = registry_add_event(p->reg, j->t_ms, REGISTRY_WARNING, "battery", text, NULL);
            if (rc == REGISTRY_EDB) {
                fail(p, "battery move", rc);
                return storage_failed(p);
            }
            rc = 0;
        } else {
            rc = registry_move_battery(p->reg, j->tag, j->to, j->step, p->swap_id, j->step_start_ms, j->t_ms);
        }
        if (rc == 0) {
            if (registry_in_batch(p->reg))
                p->batch_moves[p->n_batch_moves++] = j->seq;  /* durable at the batch's commit */
            else
                ack_moves(p, &j->seq, 1);
            unblock_if_durable(p);
            return 0;
        }
        fail(p, "battery move", rc);
        if (rc == REGISTRY_EDB)
            return storage_failed(p);
        /* Refused for good (e.g. the place holds another pack): it stays
         * unacknowledged, so the core holds at commit_timeout for the operator. */
        return 0;
    case PERSIST_BEGIN_SWAP:
    {
        int64_t id = 0;
        rc = registry_begin_swap(p->reg, j->drone, j->t_ms, &id);
        pthread_mutex_lock(&p->lock);
        p->swap_id = rc ? 0 : id;
        pthread_mutex_unlock(&p->lock);
        break;
    }
    case PERSIST_STEP:
        if (p->swap_id > 0)
            rc = registry_record_step(p->reg, p->swap_id, j->step, j->step_start_ms, j->t_ms);
        break;
    case PERSIST_FINISH_SWAP:
        if (p->swap_id > 0)
            rc = registry_finish_swap(p->reg, p->swap_id, j->tag, j->tag_in, j->t_ms, j->text);
        if (rc == REGISTRY_EDB)
            break;
        pthread_mutex_lock(&p->lock);
        p->swap_id = 0;
        pthread_mutex_unlock(&p->lock);
        break;
    case PERSIST_EVENT:
        rc = registry_add_event(p->reg, j->t_ms, j->severity, j->source, j->text, NULL);
        break;
    case PERSIST_ALARM_RAISE: {
        int64_t *id = alarm_slot(p, j->code, true);
        if (id && *id == 0) {
            rc = registry_raise_alarm(p->reg, j->code, j->text, j->t_ms, id);
            if (rc)
                *id = 0;   /* not on the disk: the retry inserts it again */
        }
        break;
    }
    case PERSIST_REGISTER: {
        struct registry_battery b = { .tag = j->tag, .rated_mah = j->rated_mah, .cells = j->cells,
                                      .status = REGISTRY_IN_SERVICE, .capacity_mah = j->rated_mah,
                                      .capacity_sd_mah = j->capacity_sd_mah, .dcir_mohm = j->dcir_mohm,
                                      .dcir_sd_mohm = j->dcir_mohm * 0.1, .dcir_new_mohm = j->dcir_mohm,
                                      .loc = j->to };
        snprintf(b.serial, sizeof b.serial, "%.31s", j->text);
        rc = registry_add_battery(p->reg, &b, j->t_ms);
        if (rc == REGISTRY_EOCCUPIED) {
            /* the registry has another pack there: reconciliation stops for the operator */
            b.loc = (struct registry_location){ REGISTRY_PLACE_UNKNOWN, 0 };
            rc = registry_add_battery(p->reg, &b, j->t_ms);
        }
        if (rc == REGISTRY_EEXIST)
            rc = 0;
        break;
    }
    case PERSIST_INTENT: {
        /* Written before the step acts: after a crash between the physical move and its
         * commit, start-up finds the pack at either end of this move (inventory.c). */
        char json[256], text[160], from[32], to[32];
        registry_location_format(j->from, from, sizeof from);
        registry_location_format(j->to, to, sizeof to);
        snprintf(json, sizeof json,
                 "{\"tag\":%u,\"from\":[%d,%d],\"to\":[%d,%d],\"step\":\"%s\"}", (unsigned)j->tag,
                 (int)j->from.place, j->from.index, (int)j->to.place, j->to.index, j->step);
        snprintf(text, sizeof text, "pack SWP-%08X: %s -> %s in step %s", (unsigned)j->tag, from, to, j->step);
        rc = registry_add_restart_record(p->reg, j->t_ms, "intent", text, json);
        break;
    }
    case PERSIST_PROGRESS: {
        /* Where the swap chain is, for a restart: the step it started and its drone. */
        char json[128], text[96];
        snprintf(json, sizeof json, "{\"step\":%d,\"sysid\":%d,\"tag\":%u}", (int)(int32_t)j->seq, j->drone,
                 (unsigned)j->tag);
        snprintf(text, sizeof text, "%s (drone %d)", j->step[0] ? j->step : "chain ended", j->drone);
        rc = registry_add_restart_record(p->reg, j->t_ms, "progress", text, json);
        break;
    }
    case PERSIST_ESTIMATES:
        rc = registry_update_estimates(p->reg, &j->battery);
        break;
    case PERSIST_PRUNE: {
        if (p->prune_rows <= 0)
            break;
        struct registry_prune_stats st;
        rc = registry_prune(p->reg, &p->keep, j->t_ms, p->prune_rows, PERSIST_VACUUM_PAGES, &st);
        if (rc > 0) {
            pthread_mutex_lock(&p->lock);
            p->pruned_rows += (unsigned long)rc;
            pthread_mutex_unlock(&p->lock);
        }
        rc = rc < 0 ? rc : 0;
        break;
    }
    case PERSIST_LOST:
        rc = registry_move_battery(p->reg, j->tag, (struct registry_location){ REGISTRY_PLACE_UNKNOWN, 0 }, j->step,
                                   0, j->t_ms, j->t_ms);
        break;
    case PERSIST_QUEUE_PUT:
        rc = registry_queue_put(p->reg, &j->queued);
        break;
    case PERSIST_QUEUE_DROP:
        rc = registry_queue_remove(p->reg, j->drone);
        break;
    case PERSIST_SET_STATUS:
        rc = registry_set_status(p->reg, j->tag, j->status, j->text, j->t_ms);
        break;
    case PERSIST_ALARM_ACK:
    case PERSIST_ALARM_CLEAR: {
        int64_t *id = alarm_slot(p, j->code, false);
        if (!id)
            break;
        if (j->kind == PERSIST_ALARM_ACK) {
            rc = registry_ack_alarm(p->reg, *id, j->t_ms);
            if (rc == REGISTRY_ESTATE)
                rc = 0;
        } else {
            rc = registry_clear_alarm(p->reg, *id, j->t_ms);
            if (rc != REGISTRY_EDB)
                *id = 0;
            if (rc == REGISTRY_ESTATE)
                rc = 0;
        }
        break;
    }
    }
    if (rc)
        fail(p, "write", rc);
    if (rc == REGISTRY_EDB)
        return storage_failed(p);
    unblock_if_durable(p);
    return 0;
}

static int queue_event(const struct registry_event *e, void *ctx)
{
    struct persist *p = ctx;
    pthread_mutex_lock(&p->lock);
    if (p->ev_len == PERSIST_EVENTS) {
        p->ev_head = (p->ev_head + 1) % PERSIST_EVENTS;  /* the scan fell behind: oldest lost */
        p->ev_len--;
        p->ev_lost++;
    }
    p->events[(p->ev_head + p->ev_len) % PERSIST_EVENTS] = *e;
    p->ev_len++;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* After a commit: the events it added, for the followers (worker thread, writer's own
 * connection: nothing on the scan reads the disk for this). */
static void read_committed_events(struct persist *p)
{
    pthread_mutex_lock(&p->lock);
    bool follow = p->follow;
    int64_t tail = p->event_tail;
    pthread_mutex_unlock(&p->lock);
    if (!follow || registry_in_batch(p->reg))
        return;
    int64_t newest = registry_last_event_id(p->reg);
    if (newest <= tail)
        return;
    if (registry_page_events(p->reg, 0, tail, newest, PERSIST_EVENTS, false, queue_event, p) >= 0) {
        pthread_mutex_lock(&p->lock);
        p->event_tail = newest;
        pthread_mutex_unlock(&p->lock);
    }
}

static void pop_jobs(struct persist *p, size_t n)
{
    pthread_mutex_lock(&p->lock);
    p->head = (p->head + n) % PERSIST_QUEUE;
    p->len -= n;
    pthread_mutex_unlock(&p->lock);
}

static int timed_job(struct persist *p, const struct persist_job *j)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int again = run_job(p, j);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_mutex_lock(&p->lock);
    httpd_hist_observe(&p->write_latency, HTTPD_HIST_REGISTRY,
                       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    pthread_mutex_unlock(&p->lock);
    return again;
}

/* Writes up to n jobs from the head of the queue as one transaction (one sync to the
 * disk) and takes off the queue those that are on the disk; a prune runs on its own.
 * Moves are acknowledged one by one once their transaction committed (DESIGN §5.4).
 * When the store refuses a job for a reason that may pass (full disk, I/O error), the
 * jobs before it commit and it stays at the head with everything after it, so the
 * registry keeps their order; a batch whose commit fails stays queued whole. Returns 1
 * when the head must be retried after a back-off. */
static int run_batch(struct persist *p, size_t n)
{
    pthread_mutex_lock(&p->lock);
    struct persist_job j = p->q[p->head];
    pthread_mutex_unlock(&p->lock);
    if (j.kind == PERSIST_PRUNE) {
        registry_set_sync(p->reg, false);  /* deletes no move: the next move's sync covers it */
        int again = timed_job(p, &j);
        if (!again)
            pop_jobs(p, 1);
        return again;
    }
    /* A battery move must be on the disk before the core leaves its step: a batch with a
     * move waits for the disk (which syncs every frame before it too); the others only
     * reach the operating system, where they survive a crash of swapd (SQLite's
     * synchronous = NORMAL in WAL mode). The sync is chosen outside the queue lock. */
    bool move = false;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < n && !move; i++) {
        enum persist_kind k = p->q[(p->head + i) % PERSIST_QUEUE].kind;
        if (k == PERSIST_PRUNE)
            break;
        move = k == PERSIST_MOVE;
    }
    pthread_mutex_unlock(&p->lock);
    registry_set_sync(p->reg, move);
    bool open = registry_batch_begin(p->reg) == 0;  /* else each write commits alone */
    p->n_batch_moves = 0;
    p->rows_at_begin = p->rows;
    pthread_mutex_lock(&p->lock);
    p->swap_id_at_begin = p->swap_id;
    pthread_mutex_unlock(&p->lock);
    size_t done = 0;
    int again = 0;
    while (done < n) {
        pthread_mutex_lock(&p->lock);
        j = p->q[(p->head + done) % PERSIST_QUEUE];
        pthread_mutex_unlock(&p->lock);
        if (j.kind == PERSIST_PRUNE)
            break;  /* on its own, first in the next round */
        again = timed_job(p, &j);
        if (again)
            break;
        if (!open)
            pop_jobs(p, 1);
        else
            done++;
    }
    if (!open)
        return again;
    int rc = registry_batch_commit(p->reg);
    if (rc != 0) {
        fail(p, "batch commit (its battery moves are not acknowledged; retried)", rc);
        p->n_batch_moves = 0;
        /* Rolled back: the rows it inserted or closed are as they were, so are the ids. */
        p->rows = p->rows_at_begin;
        pthread_mutex_lock(&p->lock);
        p->swap_id = p->swap_id_at_begin;
        pthread_mutex_unlock(&p->lock);
        return storage_failed(p);
    }
    pthread_mutex_lock(&p->lock);
    p->commits++;
    if (!again)
        p->blocked = false;   /* the batch is on the disk and nothing in it failed */
    pthread_mutex_unlock(&p->lock);
    ack_moves(p, p->batch_moves, p->n_batch_moves);
    p->n_batch_moves = 0;
    pop_jobs(p, done);
    return again;
}

/* Writes the n jobs at the head of the queue, batch by batch, then reads what committed
 * for the followers. Returns 1 when the head must be retried after a back-off. */
static int drain(struct persist *p, size_t n)
{
    int again = 0;
    while (n > 0 && !again) {
        pthread_mutex_lock(&p->lock);
        size_t before = p->len;
        pthread_mutex_unlock(&p->lock);
        again = run_batch(p, n);
        pthread_mutex_lock(&p->lock);
        size_t taken = before - p->len;
        pthread_mutex_unlock(&p->lock);
        n = taken < n ? n - taken : 0;
    }
    read_committed_events(p);
    return again;
}

/* When a job is written (the write volume: docs/operator-guide.md, Storage):
 * - JOB_AT_ONCE: a battery move, a pack's registration, status, loss or estimates, an
 *   alarm, a swap's opening and closing, and the events operators act on (warnings and
 *   worse, state and mode changes, commands). Written as soon as the scan kicks, with
 *   every job queued before it, in order, as one transaction (a move's waits for the disk).
 * - JOB_AHEAD: the restart records (the step the chain entered, the move a step is about
 *   to make) and the landing queue's entries. Written at once too, but ahead of the
 *   routine jobs, in a small transaction of their own: a restart needs them exact, and
 *   they touch tables nothing else writes.
 * - JOB_ROUTINE: the step rows of steps that moved nothing, routine events (steps, drones,
 *   packs) and pruning. They wait for the next transaction of the others, at most
 *   PERSIST_HOLD_MS, so that the last pages of the event log and the step table go to the
 *   disk a few times per swap instead of at every step. A crash of swapd loses at most
 *   those; never a move, a restart record or a drone's place in the queue. */
enum persist_class { JOB_AT_ONCE, JOB_AHEAD, JOB_ROUTINE };
enum persist_plan { PLAN_WAIT, PLAN_AHEAD, PLAN_ALL };

static enum persist_class job_class(const struct persist_job *j)
{
    switch (j->kind) {
    case PERSIST_INTENT:
    case PERSIST_PROGRESS:
    case PERSIST_QUEUE_PUT:
    case PERSIST_QUEUE_DROP:
        return JOB_AHEAD;
    case PERSIST_STEP:
    case PERSIST_PRUNE:
        return JOB_ROUTINE;
    case PERSIST_EVENT:
        return j->severity >= REGISTRY_WARNING || !strcmp(j->source, "state") || !strcmp(j->source, "mode") ||
                       !strcmp(j->source, "command")
                   ? JOB_AT_ONCE
                   : JOB_ROUTINE;
    default:
        return JOB_AT_ONCE;
    }
}

/* Under the lock: what to write of the n jobs at the head at now_ms (monotonic). */
static enum persist_plan plan_locked(struct persist *p, size_t n, uint64_t now_ms)
{
    if (n == 0)
        return PLAN_WAIT;
    if (p->stop || p->blocked)
        return PLAN_ALL;  /* stopping writes everything; a failing store retries in order */
    bool ahead = false, routine = false;
    for (size_t i = 0; i < n; i++) {
        enum persist_class c = job_class(&p->q[(p->head + i) % PERSIST_QUEUE]);
        if (c == JOB_AT_ONCE)
            return PLAN_ALL;
        ahead |= c == JOB_AHEAD;
        routine |= c == JOB_ROUTINE;
    }
    if (routine && p->held_since_ms == 0)
        p->held_since_ms = now_ms ? now_ms : 1;
    if (routine && now_ms >= p->held_since_ms + PERSIST_HOLD_MS)
        return PLAN_ALL;
    return ahead ? PLAN_AHEAD : PLAN_WAIT;
}

/* Writes the restart records and landing-queue entries among the n jobs at the head, in
 * their order, as one transaction, and takes them off the queue; the routine jobs keep
 * their order. Returns 1 when that failed (the caller then writes everything in order,
 * which retries them). */
static int write_ahead(struct persist *p, size_t n)
{
    registry_set_sync(p->reg, false);  /* no move: it reaches the operating system */
    if (registry_batch_begin(p->reg) != 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&p->lock);  /* [head, head + n) stays while the worker writes */
        struct persist_job j = p->q[(p->head + i) % PERSIST_QUEUE];
        pthread_mutex_unlock(&p->lock);
        if (job_class(&j) != JOB_AHEAD)
            continue;
        if (timed_job(p, &j) != 0) {
            registry_batch_rollback(p->reg);
            return 1;
        }
    }
    if (registry_batch_commit(p->reg) != 0)
        return 1;
    pthread_mutex_lock(&p->lock);
    p->commits++;
    size_t kept = 0;
    for (size_t i = 0; i < p->len; i++) {
        const struct persist_job *j = &p->q[(p->head + i) % PERSIST_QUEUE];
        if (i < n && job_class(j) == JOB_AHEAD)
            continue;
        if (kept != i)
            p->q[(p->head + kept) % PERSIST_QUEUE] = *j;
        kept++;
    }
    p->len = kept;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Writes what the plan asks of the n jobs at the head at now_ms. Returns 1 when the head
 * must be retried after a back-off; *wrote (may be NULL) tells whether anything was tried. */
static int write_planned(struct persist *p, size_t n, uint64_t now_ms, bool *wrote)
{
    pthread_mutex_lock(&p->lock);
    enum persist_plan plan = plan_locked(p, n, now_ms);
    pthread_mutex_unlock(&p->lock);
    if (wrote)
        *wrote = plan != PLAN_WAIT;
    if (plan == PLAN_WAIT || (plan == PLAN_AHEAD && write_ahead(p, n) == 0))
        return 0;
    int again = drain(p, n);
    pthread_mutex_lock(&p->lock);
    bool routine = false;
    for (size_t i = 0; i < p->len && !routine; i++)
        routine = job_class(&p->q[(p->head + i) % PERSIST_QUEUE]) == JOB_ROUTINE;
    if (!routine)
        p->held_since_ms = 0;  /* the next routine job starts a new wait */
    pthread_mutex_unlock(&p->lock);
    return again;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)(ts.tv_nsec / 1000000L);
}

static void *worker(void *arg)
{
    struct persist *p = arg;
    int backoff_ms = PERSIST_RETRY_MIN_MS;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        /* Wait for the scan's kick (or, for jobs queued outside the scan, a short while). */
        while (!p->stop && !(p->len > 0 && p->kicked)) {
            if (p->len == 0) {
                pthread_cond_wait(&p->wake, &p->lock);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);   /* the condition variable's clock */
            ts.tv_nsec += PERSIST_IDLE_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            if (pthread_cond_timedwait(&p->wake, &p->lock, &ts) == ETIMEDOUT)
                break;
        }
        if (p->len == 0 && p->stop)
            break;
        p->kicked = false;
        size_t n = p->len;
        pthread_mutex_unlock(&p->lock);
        int again = write_planned(p, n, mono_ms(), NULL);
        pthread_mutex_lock(&p->lock);
        if (!again) {
            backoff_ms = PERSIST_RETRY_MIN_MS;
            continue;
        }
        if (p->stop)
            break;  /* left for start-up's recovery (the write-ahead intent) */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)backoff_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!p->stop && pthread_cond_timedwait(&p->wake, &p->lock, &until) == 0)
            ;
        if (backoff_ms < PERSIST_RETRY_MAX_MS)
            backoff_ms *= 2;
        p->kicked = true;  /* retry the head at once after the back-off */
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void persist_follow_events(struct persist *p, int64_t after_id)
{
    pthread_mutex_lock(&p->lock);
    p->follow = true;
    p->event_tail = after_id;
    pthread_mutex_unlock(&p->lock);
}

int persist_take_events(struct persist *p, struct registry_event *out, int max, unsigned long *lost)
{
    pthread_mutex_lock(&p->lock);
    int n = 0;
    while (n < max && p->ev_len > 0) {
        out[n++] = p->events[p->ev_head];
        p->ev_head = (p->ev_head + 1) % PERSIST_EVENTS;
        p->ev_len--;
    }
    if (lost)
        *lost = p->ev_lost;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void persist_kick(struct persist *p)
{
    pthread_mutex_lock(&p->lock);
    if (p->len > 0 && !p->kicked) {
        p->kicked = true;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
}

void persist_set_retention(struct persist *p, const struct registry_retention *keep, int batch_rows)
{
    pthread_mutex_lock(&p->lock);
    p->keep = *keep;
    p->prune_rows = batch_rows;
    pthread_mutex_unlock(&p->lock);
}

void persist_counts(struct persist *p, unsigned long *commits, unsigned long *pruned_rows)
{
    pthread_mutex_lock(&p->lock);
    if (commits)
        *commits = p->commits;
    if (pruned_rows)
        *pruned_rows = p->pruned_rows;
    pthread_mutex_unlock(&p->lock);
}

struct persist *persist_start(struct registry *reg, char *err, size_t errsize)
{
    struct persist *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    p->reg = reg;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&p->thread, NULL, worker, p);
    if (rc) {
        snprintf(err, errsize, "cannot start the persistence thread: %s", strerror(rc));
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
}

struct persist *persist_start_manual(struct registry *reg)
{
    struct persist *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->reg = reg;
    p->manual = true;
    p->backoff_ms = PERSIST_RETRY_MIN_MS;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    return p;
}

bool persist_run(struct persist *p, uint64_t now_ms)
{
    if (!p->manual || p->len == 0 || now_ms < p->retry_at_ms)
        return false;
    p->kicked = false;
    bool wrote;
    if (write_planned(p, p->len, now_ms, &wrote)) {
        p->retry_at_ms = now_ms + (uint64_t)p->backoff_ms;  /* the worker's back-off */
        if (p->backoff_ms < PERSIST_RETRY_MAX_MS)
            p->backoff_ms *= 2;
    } else {
        p->retry_at_ms = 0;
        p->backoff_ms = PERSIST_RETRY_MIN_MS;
    }
    return wrote;
}

void persist_discard(struct persist *p)
{
    if (!p)
        return;
    if (!p->manual) {
        persist_stop(p);
        return;
    }
    registry_close(p->reg);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int persist_submit(struct persist *p, const struct persist_job *job)
{
    pthread_mutex_lock(&p->lock);
    if (p->len == PERSIST_QUEUE) {
        p->dropped++;
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    p->q[(p->head + p->len) % PERSIST_QUEUE] = *job;
    if (job->kind == PERSIST_MOVE && p->n_outstanding < PERSIST_QUEUE)
        p->outstanding[p->n_outstanding++] = job->seq;
    if (p->len++ == 0)
        pthread_cond_signal(&p->wake);  /* starts the idle timer; the kick writes at once */
    pthread_mutex_unlock(&p->lock);
    return 0;
}

size_t persist_queued(struct persist *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->len;
    pthread_mutex_unlock(&p->lock);
    return n;
}

size_t persist_queued_at_once(struct persist *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = 0;
    for (size_t i = 0; i < p->len; i++)
        n += job_class(&p->q[(p->head + i) % PERSIST_QUEUE]) == JOB_AT_ONCE;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int64_t persist_swap_id(struct persist *p)
{
    pthread_mutex_lock(&p->lock);
    int64_t id = p->swap_id;
    pthread_mutex_unlock(&p->lock);
    return id;
}

uint32_t persist_committed_seq(struct persist *p)
{
    pthread_mutex_lock(&p->lock);
    uint32_t s = p->committed_seq;
    for (size_t i = 0; i < p->n_outstanding; i++)
        if (p->outstanding[i] <= s)
            s = p->outstanding[i] - 1;
    pthread_mutex_unlock(&p->lock);
    return s;
}

bool persist_blocked(struct persist *p, char *buf, size_t size)
{
    pthread_mutex_lock(&p->lock);
    bool b = p->blocked;
    if (buf && size)
        snprintf(buf, size, "%s", b ? p->last_error : "");
    pthread_mutex_unlock(&p->lock);
    return b;
}

unsigned persist_failures(struct persist *p, char *buf, size_t size)
{
    pthread_mutex_lock(&p->lock);
    unsigned n = p->failures;
    if (buf && size)
        snprintf(buf, size, "%s", p->last_error);
    pthread_mutex_unlock(&p->lock);
    return n;
}

void persist_stop(struct persist *p)
{
    if (!p)
        return;
    if (p->manual) {
        while (p->len > 0 && !drain(p, p->len))
            ;
        persist_discard(p);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    registry_close(p->reg);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void persist_write_latency(struct persist *p, struct httpd_hist *out, unsigned *failures)
{
    pthread_mutex_lock(&p->lock);
    *out = p->write_latency;
    *failures = p->failures;
    pthread_mutex_unlock(&p->lock);
}
