/* The battery registry: every battery the station owns, where it is, its health
 * estimates, its charges and flights, the swaps with their step timings, events and
 * alarms, in one SQLite database (WAL, synchronous=FULL, foreign keys on; new files:
 * 512-byte pages, incremental auto-vacuum).
 *
 * The store never reads the clock (times are ms since the epoch, passed in) and never
 * "repairs" a database: a file that is not a database, has an unreadable schema, fails
 * PRAGMA quick_check (files up to REGISTRY_QUICK_CHECK_MAX_BYTES), or carries a newer
 * schema (user_version) is refused on open and left byte-identical.
 * Every write is one transaction that has committed (and reached the disk) when the
 * function returns 0 — unless a batch is open (registry_batch_begin): then the writes
 * commit together at registry_batch_commit. Functions return 0 or a negative REGISTRY_E*
 * code; the last error's text is registry_last_error().
 */
#ifndef SWAP_REGISTRY_H
#define SWAP_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

/* Schema version this code writes; older files are migrated on open (1 -> 2 -> ...). */
#define REGISTRY_SCHEMA_VERSION 5

/* Files up to this size get PRAGMA quick_check on open; larger ones only the cheap checks
 * (header, schema, version), so opening takes the same time at any size. The full check
 * is registry_check_integrity() (swapctl check-db). */
#define REGISTRY_QUICK_CHECK_MAX_BYTES (4 * 1024 * 1024)

/* Error codes (negative returns). */
#define REGISTRY_EDB        (-1)  /* SQLite error (I/O, full disk, locked past timeout) */
#define REGISTRY_ENOTFOUND  (-2)  /* no such battery / swap / alarm */
#define REGISTRY_EEXIST     (-3)  /* tag or serial already registered */
#define REGISTRY_EOCCUPIED  (-4)  /* destination already holds another battery */
#define REGISTRY_EINVAL     (-5)  /* bad argument (range, NaN, unknown enum, bad JSON) */
#define REGISTRY_ESTATE     (-6)  /* not allowed now (e.g. alarm already cleared) */

/* Open flags. */
#define REGISTRY_OPEN_CREATE   1  /* create the file if it does not exist */
#define REGISTRY_OPEN_READONLY 2  /* query only; no migration, every write fails */

enum registry_status { REGISTRY_IN_SERVICE, REGISTRY_QUARANTINE, REGISTRY_RETIRED, REGISTRY_STATUS_COUNT };

enum registry_place {
    REGISTRY_PLACE_UNKNOWN,
    REGISTRY_PLACE_SLOT,        /* index = slot number (1-based) */
    REGISTRY_PLACE_GRIPPER_A,
    REGISTRY_PLACE_GRIPPER_B,
    REGISTRY_PLACE_DRONE,       /* index = the drone's MAVLink system id */
    REGISTRY_PLACE_QUARANTINE,
    REGISTRY_PLACE_COUNT
};

struct registry_location {
    enum registry_place place;
    int index;                  /* slot number or drone system id; 0 otherwise */
};

enum registry_severity { REGISTRY_DEBUG, REGISTRY_INFO, REGISTRY_WARNING, REGISTRY_ERROR,
                         REGISTRY_CRITICAL, REGISTRY_SEVERITY_COUNT };

struct registry_error {
    char msg[256];
};

struct registry_battery {
    uint32_t tag;                   /* RFID tag id: the key */
    char serial[32];
    int rated_mah;
    int cells;
    enum registry_status status;
    char status_reason[128];
    int64_t commissioned_ms;
    /* estimates, each with its standard deviation */
    double capacity_mah, capacity_sd_mah;
    double dcir_mohm, dcir_sd_mohm;
    double dcir_new_mohm;           /* the pack's resistance when new (retirement baseline) */
    double efc;
    int charge_count;
    double peak_temp_degC;
    int64_t last_used_ms;           /* last charge or flight end (storage decision) */
    /* current location (filled by queries; ignored by registry_add_battery) */
    struct registry_location loc;
    int64_t loc_since_ms;
};

struct registry_charge {
    uint32_t tag;
    int slot;
    int64_t start_ms, end_ms;
    double charge_mah;              /* charge counter at the end */
    double ocv_start_mV, ocv_end_mV;   /* rested OCVs; NaN when not rested */
    double capacity_mah;            /* this window's measurement; NaN when none */
    double capacity_sd_mah;
    double dcir_mohm;               /* NaN when no clean current step */
    double peak_temp_degC;
    const char *result;             /* "done", "fault", "aborted", ... */
};

struct registry_flight {
    uint32_t tag;
    int drone;
    int64_t start_ms, end_ms;
    double consumed_mah;
    double min_voltage_mV;
    double peak_temp_degC;
    int remaining_pct;              /* -1 unknown */
};

struct registry_event {
    int64_t id;
    int64_t time_ms;
    enum registry_severity severity;
    char source[32];
    char text[256];
    char json[512];                 /* "" when none (truncated copies are never returned:
                                       longer JSON is listed as "") */
};

struct registry_alarm {
    int64_t id;
    char code[32];
    char text[256];
    int64_t raised_ms, acked_ms, cleared_ms;   /* 0 = not yet */
};

struct registry_swap_step {
    char step[48];
    int64_t start_ms, end_ms;
};

struct registry;

/* Opens (and with REGISTRY_OPEN_CREATE creates) the database at path and brings its
 * schema to REGISTRY_SCHEMA_VERSION. Refuses, with a message in err and NULL returned,
 * a file that is not an SQLite database, an empty file (even with CREATE: only a path
 * that does not exist makes a new registry), one that fails PRAGMA quick_check, one
 * whose user_version is newer than ours, and a missing file without CREATE. Nothing is
 * written to a refused file. */
struct registry *registry_open(const char *path, int flags, struct registry_error *err);

/* As registry_open, migrating only up to target_version (1..REGISTRY_SCHEMA_VERSION);
 * for migration tests and tools. */
struct registry *registry_open_version(const char *path, int flags, int target_version,
                                       struct registry_error *err);

void registry_close(struct registry *reg);

/* Text of the last error on reg. */
const char *registry_last_error(const struct registry *reg);
/* Name of an error code. */
const char *registry_strerror(int code);
/* Groups the writes that follow into one transaction (one sync to the disk instead of
 * one per write). Each write inside still succeeds or fails on its own (a savepoint);
 * none is durable before registry_batch_commit returns 0. REGISTRY_ESTATE when a batch
 * is already open / none is open. */
int registry_batch_begin(struct registry *reg);
int registry_batch_commit(struct registry *reg);
/* Ends the open batch without committing anything of it. */
int registry_batch_rollback(struct registry *reg);
bool registry_in_batch(const struct registry *reg);

/* Durability of the commits that follow (between transactions only): full (the default)
 * returns from a commit once it is on the disk; otherwise a commit survives a crash of
 * the process at once and a power cut from the next full commit or checkpoint on
 * (SQLite's synchronous = NORMAL in WAL mode: a full commit syncs every frame before
 * it). Flash wears with every sync; the daemon syncs what a battery move needs. */
int registry_set_sync(struct registry *reg, bool full);


/* Schema version of the open file (PRAGMA user_version). */
int registry_schema_version(struct registry *reg);
/* Runs PRAGMA integrity_check; 0 when "ok", REGISTRY_EDB with the first problem. */
int registry_check_integrity(struct registry *reg);

const char *registry_place_name(enum registry_place p);
const char *registry_status_name(enum registry_status s);
const char *registry_severity_name(enum registry_severity s);
/* Parses a status name ("in_service", "quarantine", "retired"); -1 if unknown. */
int registry_status_parse(const char *name);
/* Formats a location as "slot 3", "gripper A", "drone 12", "quarantine", "unknown". */
void registry_location_format(struct registry_location loc, char *buf, size_t size);

/* ---- batteries ------------------------------------------------------------------- */

/* Registers a new pack (in service, at an unknown place unless b->loc says otherwise).
 * Estimates start from b (callers put the rated values and a prior sd there).
 * REGISTRY_EEXIST if the tag or serial is taken, REGISTRY_EINVAL for bad values,
 * REGISTRY_EOCCUPIED if b->loc is taken. */
int registry_add_battery(struct registry *reg, const struct registry_battery *b, int64_t now_ms);

/* Fills out with the pack and its location; REGISTRY_ENOTFOUND if unknown. */
int registry_get_battery(struct registry *reg, uint32_t tag, struct registry_battery *out);

/* Stores the estimate fields (capacity, dcir, dcir_new, efc, charge_count, peak
 * temperature, last_used) of b. REGISTRY_EINVAL on NaN or negative values. */
int registry_update_estimates(struct registry *reg, const struct registry_battery *b);

/* Changes the status with a reason and logs an event, in one transaction. */
int registry_set_status(struct registry *reg, uint32_t tag, enum registry_status status,
                        const char *reason, int64_t now_ms);

/* Moves a battery: the new current location, a location_history row, and (when
 * swap_id > 0) the swap_steps row {step_name, step_start_ms, now_ms}, all in ONE
 * transaction; returns only after it committed. REGISTRY_EOCCUPIED if another pack is
 * at `to` (slots, grippers and drone bays hold one pack), REGISTRY_ENOTFOUND for an
 * unknown tag or swap. */
int registry_move_battery(struct registry *reg, uint32_t tag, struct registry_location to,
                          const char *step_name, int64_t swap_id, int64_t step_start_ms,
                          int64_t now_ms);

/* The pack at loc: *tag set and 0, or REGISTRY_ENOTFOUND when the place is empty. */
int registry_find_at(struct registry *reg, struct registry_location loc, uint32_t *tag);

/* Calls fn for every pack (ordered by tag); fn returning non-zero stops the walk.
 * Returns the number visited or a negative error. */
int registry_list_batteries(struct registry *reg,
                            int (*fn)(const struct registry_battery *b, void *ctx), void *ctx);

/* As registry_list_batteries, for the working set only: packs not retired, and retired
 * packs still at a slot, a gripper or a drone. Retired packs elsewhere stay in the
 * registry (registry_get_battery, registry_list_batteries) but need no tracking. */
int registry_list_working_set(struct registry *reg,
                              int (*fn)(const struct registry_battery *b, void *ctx), void *ctx);

/* Packs per status (counts[status]); returns the total or a negative error. */
int registry_count_batteries(struct registry *reg, int counts[REGISTRY_STATUS_COUNT]);

/* Location history of a tag, oldest first: fn(loc, time_ms, step, swap_id, ctx). */
int registry_list_history(struct registry *reg, uint32_t tag,
                          int (*fn)(struct registry_location loc, int64_t time_ms,
                                    const char *step, int64_t swap_id, void *ctx),
                          void *ctx);

/* ---- measurements ----------------------------------------------------------------- */

int registry_add_charge(struct registry *reg, const struct registry_charge *c);
int registry_add_flight(struct registry *reg, const struct registry_flight *f);

/* ---- swaps ------------------------------------------------------------------------ */

/* Starts a swap record for drone (system id 1..255) at touchdown; *swap_id set. */
int registry_begin_swap(struct registry *reg, int drone, int64_t touchdown_ms, int64_t *swap_id);
/* Records a step that moved no battery (e.g. "clamp"). */
int registry_record_step(struct registry *reg, int64_t swap_id, const char *step,
                         int64_t start_ms, int64_t end_ms);
/* Closes a swap: batteries out / in (0 = none), cleared time, result ("ok", "aborted",
 * ...); on-pad time = cleared - touchdown. REGISTRY_ESTATE if already closed. */
int registry_finish_swap(struct registry *reg, int64_t swap_id, uint32_t battery_out,
                         uint32_t battery_in, int64_t cleared_ms, const char *result);
/* Reads a swap's on-pad time (-1 while open) and copies up to max steps in order;
 * *n_steps gets the total count. */
int registry_get_swap(struct registry *reg, int64_t swap_id, int64_t *on_pad_ms,
                      struct registry_swap_step *steps, int max, int *n_steps);

/* ---- events and alarms -------------------------------------------------------------- */

/* Appends an event; json may be NULL, otherwise must be valid JSON (REGISTRY_EINVAL). */
int registry_add_event(struct registry *reg, int64_t time_ms, enum registry_severity sev,
                       const char *source, const char *text, const char *json);
/* Events with time_ms >= since_ms, oldest first, at most limit (<= 0: all). */
int registry_list_events(struct registry *reg, int64_t since_ms, int limit,
                         int (*fn)(const struct registry_event *e, void *ctx), void *ctx);

/* The restart records: kind "intent" (the move a starting step will make) or "progress"
 * (the step the chain is in), with a text for people and JSON for the restart (both
 * required: REGISTRY_EINVAL). They are a log of their own, not events: swapctl events
 * does not show them, and they expire after restart_days. */
int registry_add_restart_record(struct registry *reg, int64_t time_ms, const char *kind, const char *text,
                                const char *json);
/* The newest restart record of kind, as an event (source = kind, severity debug);
 * REGISTRY_ENOTFOUND when there is none. The lookup walks back from the newest record:
 * a few rows when a swap ran lately, never more than restart_days of records (when
 * that is not 0). */
int registry_last_restart_record(struct registry *reg, const char *kind, struct registry_event *out);

/* Highest event id (0 when none). Ids grow in the order events were recorded. */
int64_t registry_last_event_id(struct registry *reg);

/* One page of the event log for people (debug events left out): events with
 * after_id < id <= upto_id and time_ms >= since_ms, at most limit (> 0) of them, the
 * oldest first, or with newest the newest first. Returns the number passed to fn. */
int registry_page_events(struct registry *reg, int64_t since_ms, int64_t after_id, int64_t upto_id,
                         int limit, bool newest,
                         int (*fn)(const struct registry_event *e, void *ctx), void *ctx);

int registry_raise_alarm(struct registry *reg, const char *code, const char *text,
                         int64_t now_ms, int64_t *alarm_id);
/* REGISTRY_ESTATE when already acknowledged (ack) or cleared (clear). */
int registry_ack_alarm(struct registry *reg, int64_t alarm_id, int64_t now_ms);
int registry_clear_alarm(struct registry *reg, int64_t alarm_id, int64_t now_ms);
/* Alarms raised at or after since_ms (active_only: not cleared), oldest first. */
int registry_list_alarms(struct registry *reg, int64_t since_ms, bool active_only,
                         int (*fn)(const struct registry_alarm *a, void *ctx), void *ctx);

/* ---- the landing queue ------------------------------------------------------------- */

/* A drone waiting for its landing clearance, as the station last knew it, so that a
 * restarted station still knows who asked (docs/drone-protocol.md §8). */
struct registry_queued_drone {
    int sysid, compid;
    int64_t seq;                    /* arrival order (the queue's order within a priority) */
    int64_t request_ms;             /* wall clock of the request */
    int flags;                      /* the request's DPROTO_REQ_* flags */
    uint32_t pack_tag;              /* the pack the drone named, 0 unknown */
    double remaining_pct, voltage_v;
};

/* Adds the drone's entry or replaces it (one per system id). 0 or REGISTRY_E*. */
int registry_queue_put(struct registry *reg, const struct registry_queued_drone *q);
/* Removes the drone's entry (none is not an error). 0 or REGISTRY_EDB. */
int registry_queue_remove(struct registry *reg, int sysid);
/* Calls fn for each entry in arrival order (fn returning non-zero stops); returns the
 * number of entries seen, or REGISTRY_EDB. */
int registry_queue_list(struct registry *reg, int (*fn)(const struct registry_queued_drone *q, void *ctx),
                        void *ctx);

/* ---- retention -------------------------------------------------------------------- */

/* How long detail is kept, in days; 0 keeps it for ever. Packs are never deleted (a
 * battery row is its lifetime summary: cycles, charges, capacity, status). */
struct registry_retention {
    int events_days;        /* events people read (swapctl events) */
    int restart_days;       /* debug events a restart reads ("intent", "progress"; the newest stays) */
    int alarms_days;        /* alarms that have cleared */
    int history_days;       /* location history (the current location always stays) */
    int telemetry_days;     /* per-charge and per-flight measurements */
    int swap_steps_days;    /* per-step timings of a swap */
    int swaps_days;         /* swap summaries, once both their packs are retired */
    int prune_interval_s;   /* the daemon prunes one batch this often */
    int prune_batch_rows;   /* rows of each kind per batch */
};

/* The [retention] keys of swapd.ini over struct registry_retention (registry_cfg.c). */
extern const struct cfg_key registry_retention_keys[];
extern const size_t registry_retention_n_keys;

struct registry_prune_stats {
    int rows, events, restart, alarms, history, swap_steps, charges, flights, swaps;
    int vacuumed_pages;
};

/* Deletes, in one short transaction, at most max_rows of each kind that are past their
 * retention at now_ms (the newest restart record of each kind always stays: a restart
 * needs it), then returns at most max_vacuum_pages free pages to the file system.
 * Returns the number of rows deleted (0: nothing left to prune) or a negative error. */
int registry_prune(struct registry *reg, const struct registry_retention *r, int64_t now_ms,
                   int max_rows, int max_vacuum_pages, struct registry_prune_stats *st);

struct registry_storage_info {
    int64_t bytes, free_bytes;  /* file size in pages, and the free pages in it */
    int page_size;
    bool incremental_vacuum;
};
int registry_storage(struct registry *reg, struct registry_storage_info *info);

/* Rebuilds the file (a full VACUUM) in the format of a new one: 512-byte pages and
 * incremental auto-vacuum, so a file created before those shrinks after pruning too.
 * Needs the only connection to the file (swapd --compact-db takes swapd's lock) and free
 * space for a copy of the rows. before/after (may be NULL): the storage around it. */
int registry_compact(struct registry *reg, struct registry_storage_info *before, struct registry_storage_info *after);

#endif
