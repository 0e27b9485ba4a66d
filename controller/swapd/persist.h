/* The daemon's persistence worker: battery moves, swaps, events and alarms go to the
 * registry on a thread of their own, in order, so an fsync never stalls the scan; what one
 * scan queued is written as one transaction. The
 * scan learns through persist_committed_seq() which battery moves are durable; the core
 * does not leave a step before its move is (DESIGN §5.4).
 */
#ifndef SWAP_SWAPD_PERSIST_H
#define SWAP_SWAPD_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "httpd/metrics.h"
#include "registry/registry.h"

struct persist;

enum persist_kind {
    PERSIST_MOVE,          /* tag, to, step, step_start_ms, seq */
    PERSIST_BEGIN_SWAP,    /* drone, t_ms (touchdown) */
    PERSIST_STEP,          /* step, step_start_ms, t_ms: a swap step that moved nothing */
    PERSIST_FINISH_SWAP,   /* tag_out, tag_in, t_ms, text = result */
    PERSIST_EVENT,         /* severity, source, text */
    PERSIST_ALARM_RAISE,   /* code, text */
    PERSIST_ALARM_CLEAR,   /* code */
    PERSIST_ALARM_ACK,     /* code */
    PERSIST_SET_STATUS,    /* tag, status, text = reason */
    PERSIST_REGISTER,      /* tag, rated_mah, cells, to: a pack seen for the first time */
    PERSIST_INTENT,        /* tag, from, to, step: the move a starting step will make */
    PERSIST_PROGRESS,      /* drone, seq (swapseq id or -1 when the chain ended), step, tag
                              (the pack in that drone as the core knows it, 0 unknown) */
    PERSIST_ESTIMATES,     /* battery: the health estimates of battery.tag */
    PERSIST_PRUNE,         /* t_ms: delete one small batch of rows past their retention */
    PERSIST_LOST,          /* tag, step: the pack is not where the registry books it (another
                              pack came out of the drone it was booked to): place unknown */
    PERSIST_QUEUE_PUT,     /* queued: a drone waiting in the landing queue */
    PERSIST_QUEUE_DROP,    /* drone: no longer waiting (cleared, cancelled, denied) */
};

struct persist_job {
    enum persist_kind kind;
    int64_t t_ms;                 /* wall-clock ms since the epoch */
    uint32_t seq;                 /* PERSIST_MOVE: the core's move sequence number */
    uint32_t tag, tag_in;
    struct registry_location from, to;
    struct registry_battery battery;
    struct registry_queued_drone queued;
    int drone;
    int rated_mah, cells;
    double dcir_mohm, capacity_sd_mah;
    int64_t step_start_ms;
    enum registry_severity severity;
    enum registry_status status;
    char step[48];
    char code[32];
    char source[32];
    char text[192];
};

/* Starts the worker on an open registry (the worker owns it from now on). */
struct persist *persist_start(struct registry *reg, char *err, size_t errsize);

/* The same worker without its thread, for a deterministic run on a virtual clock (the
 * campaign): jobs wait in the queue until persist_run() writes them on the caller's
 * thread, with the same batches, acknowledgements and retries. */
struct persist *persist_start_manual(struct registry *reg);
/* Writes what is queued, as the worker does after a kick; after a refusal that may pass
 * the head waits the worker's back-off (50 ms doubling to 1 s of now_ms). Returns true
 * when it wrote (or tried to). Only for a worker from persist_start_manual. */
bool persist_run(struct persist *p, uint64_t now_ms);
/* A crash: the queue is thrown away unwritten and the registry closed (what a batch left
 * open rolls back). For a worker with a thread, the same as persist_stop. */
void persist_discard(struct persist *p);

/* The retention PERSIST_PRUNE applies, and the rows of each kind per batch. */
void persist_set_retention(struct persist *p, const struct registry_retention *keep, int batch_rows);

/* Wakes the worker for what was queued since the last kick: the scan queues, then kicks
 * once, and the worker writes the scan's jobs as one transaction (one sync for a battery
 * move). The step rows of steps that moved nothing and routine events (steps, drones,
 * packs; not warnings, state or mode changes, commands) wait for the next such
 * transaction, at most PERSIST_HOLD_MS (2 s); the restart records and the landing queue's
 * entries do not wait, they go ahead of them in a small transaction of their own. Jobs
 * never wait longer than PERSIST_IDLE_MS for a kick. */
void persist_kick(struct persist *p);

/* Queues a job; never blocks on the disk. Returns 0, or -1 if the queue is full (the
 * job is dropped and counted; a move refused here is submitted again by the scan, the
 * core waiting for its commit meanwhile). */
int persist_submit(struct persist *p, const struct persist_job *job);

/* Jobs queued and not yet written (the one the store refuses included). */
size_t persist_queued(struct persist *p);
/* Of those, the ones written as soon as the scan kicks (battery moves, packs registered,
 * lost, given a status or estimates, alarms, swaps opened and closed, the events operators
 * act on): with none queued, the packs' rows on the disk are the shell's view, whatever
 * routine events and step rows still wait. */
size_t persist_queued_at_once(struct persist *p);

/* The registry id of the swap in progress (committed so far), 0 when none. */
int64_t persist_swap_id(struct persist *p);

/* The highest move seq N such that every move submitted with seq <= N has committed
 * (acknowledged per move: a move that failed keeps every later one unacknowledged). */
uint32_t persist_committed_seq(struct persist *p);

/* True while a job waits because the store refuses it for a reason that may pass
 * (full disk, I/O error, lock: REGISTRY_EDB): it stays at the head of the queue and is
 * retried with a back-off of 50 ms doubling to 1 s until it commits; everything queued
 * after it waits too, so moves, intents and progress keep their order. The failure's
 * text is copied into buf. A move refused for good (its place holds another pack, an
 * unknown pack) is not retried and stays unacknowledged. */
bool persist_blocked(struct persist *p, char *buf, size_t size);
/* The event log as it commits, for the console's followers, without a database read on
 * the scan: after each commit the worker reads the new events (debug ones left out) into
 * a queue; persist_take_events() hands them over. Numbering starts after after_id. */
void persist_follow_events(struct persist *p, int64_t after_id);
/* Moves up to max committed events into out (oldest first); returns how many. *lost
 * counts events that did not fit the queue (followers then miss them). */
int persist_take_events(struct persist *p, struct registry_event *out, int max, unsigned long *lost);

/* Transactions committed, rows pruned and pages vacuumed so far. */
void persist_counts(struct persist *p, unsigned long *commits, unsigned long *pruned_rows);

/* Number of failed writes and the last failure's text (copied into buf). */
unsigned persist_failures(struct persist *p, char *buf, size_t size);

/* How long each job took in the registry (the metrics' registry write latency), and
 * the failed writes so far. */
void persist_write_latency(struct persist *p, struct httpd_hist *out, unsigned *failures);

/* Drains the queue, stops the worker and closes the registry. */
void persist_stop(struct persist *p);

#endif
