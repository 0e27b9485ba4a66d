/* The battery registry on SQLite; see registry.h. */
#include "registry/registry.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BUSY_TIMEOUT_MS 5000

/* Ordered migrations: entry i takes user_version i to i + 1. Never edit a released
 * entry; append a new one and raise REGISTRY_SCHEMA_VERSION. */
static const char *const migrations[REGISTRY_SCHEMA_VERSION] = {
    /* 0 -> 1: the base schema */
    "CREATE TABLE batteries ("
    "  tag INTEGER PRIMARY KEY CHECK (tag BETWEEN 1 AND 4294967295),"
    "  serial TEXT NOT NULL UNIQUE,"
    "  rated_mah INTEGER NOT NULL CHECK (rated_mah > 0),"
    "  cells INTEGER NOT NULL CHECK (cells BETWEEN 1 AND 14),"
    "  status TEXT NOT NULL DEFAULT 'in_service'"
    "    CHECK (status IN ('in_service','quarantine','retired')),"
    "  status_reason TEXT NOT NULL DEFAULT '',"
    "  commissioned_ms INTEGER NOT NULL,"
    "  capacity_mah REAL NOT NULL CHECK (capacity_mah >= 0),"
    "  capacity_sd_mah REAL NOT NULL CHECK (capacity_sd_mah >= 0),"
    "  dcir_mohm REAL NOT NULL CHECK (dcir_mohm >= 0),"
    "  dcir_sd_mohm REAL NOT NULL CHECK (dcir_sd_mohm >= 0),"
    "  efc REAL NOT NULL DEFAULT 0 CHECK (efc >= 0),"
    "  charge_count INTEGER NOT NULL DEFAULT 0 CHECK (charge_count >= 0),"
    "  peak_temp_degC REAL);"
    "CREATE TABLE swaps ("
    "  id INTEGER PRIMARY KEY,"
    "  drone INTEGER NOT NULL CHECK (drone BETWEEN 1 AND 255),"
    "  battery_out INTEGER REFERENCES batteries(tag),"
    "  battery_in INTEGER REFERENCES batteries(tag),"
    "  touchdown_ms INTEGER NOT NULL,"
    "  cleared_ms INTEGER,"
    "  on_pad_ms INTEGER,"
    "  result TEXT NOT NULL DEFAULT 'running');"
    "CREATE TABLE swap_steps ("
    "  id INTEGER PRIMARY KEY,"
    "  swap_id INTEGER NOT NULL REFERENCES swaps(id),"
    "  step TEXT NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER NOT NULL CHECK (end_ms >= start_ms));"
    "CREATE INDEX swap_steps_swap ON swap_steps(swap_id);"
    "CREATE TABLE locations ("
    "  tag INTEGER PRIMARY KEY REFERENCES batteries(tag),"
    "  place TEXT NOT NULL CHECK (place IN"
    "    ('unknown','slot','gripper_a','gripper_b','drone','quarantine')),"
    "  idx INTEGER NOT NULL DEFAULT 0,"
    "  since_ms INTEGER NOT NULL,"
    "  step TEXT NOT NULL,"
    "  swap_id INTEGER REFERENCES swaps(id));"
    /* A slot, a gripper and a drone bay hold one pack: the database itself refuses a
     * second one, whatever the caller believes. */
    "CREATE UNIQUE INDEX locations_one_per_place ON locations(place, idx)"
    "  WHERE place IN ('slot','gripper_a','gripper_b','drone');"
    "CREATE TABLE location_history ("
    "  id INTEGER PRIMARY KEY,"
    "  tag INTEGER NOT NULL REFERENCES batteries(tag),"
    "  place TEXT NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  step TEXT NOT NULL,"
    "  swap_id INTEGER REFERENCES swaps(id));"
    "CREATE INDEX location_history_tag ON location_history(tag, id);"
    "CREATE TABLE charges ("
    "  id INTEGER PRIMARY KEY,"
    "  tag INTEGER NOT NULL REFERENCES batteries(tag),"
    "  slot INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,"
    "  charge_mah REAL NOT NULL,"
    "  ocv_start_mV REAL, ocv_end_mV REAL,"
    "  capacity_mah REAL, capacity_sd_mah REAL,"
    "  dcir_mohm REAL, peak_temp_degC REAL,"
    "  result TEXT NOT NULL);"
    "CREATE TABLE flights ("
    "  id INTEGER PRIMARY KEY,"
    "  tag INTEGER NOT NULL REFERENCES batteries(tag),"
    "  drone INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,"
    "  consumed_mah REAL, min_voltage_mV REAL, peak_temp_degC REAL,"
    "  remaining_pct INTEGER);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  time_ms INTEGER NOT NULL,"
    "  severity TEXT NOT NULL"
    "    CHECK (severity IN ('debug','info','warning','error','critical')),"
    "  source TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  json TEXT);"
    "CREATE TABLE alarms ("
    "  id INTEGER PRIMARY KEY,"
    "  code TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  raised_ms INTEGER NOT NULL,"
    "  acked_ms INTEGER,"
    "  cleared_ms INTEGER);",
    /* 1 -> 2: retirement baseline, idle time for storage decisions, time indexes */
    "ALTER TABLE batteries ADD COLUMN dcir_new_mohm REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE batteries ADD COLUMN last_used_ms INTEGER NOT NULL DEFAULT 0;"
    "UPDATE batteries SET dcir_new_mohm = dcir_mohm, last_used_ms = commissioned_ms;"
    "CREATE INDEX events_time ON events(time_ms);"
    "CREATE INDEX alarms_raised ON alarms(raised_ms);",
    /* 2 -> 3: years of operation. The restart lookups (the last "intent" and "progress"
     * event) by index instead of reading days of events; retired packs found without
     * reading every pack. */
    "CREATE INDEX events_source ON events(source, id);"
    "CREATE INDEX batteries_status ON batteries(status);"
    /* deleting an old swap checks these references: by index, not by reading the table */
    "CREATE INDEX location_history_swap ON location_history(swap_id) WHERE swap_id IS NOT NULL;"
    "CREATE INDEX locations_swap ON locations(swap_id) WHERE swap_id IS NOT NULL;",
    /* 3 -> 4: the landing queue survives a restart: one row per drone waiting for its
     * clearance, in the order the requests arrived (at most one per system id). */
    "CREATE TABLE landing_queue ("
    "  sysid INTEGER PRIMARY KEY CHECK (sysid BETWEEN 1 AND 255),"
    "  compid INTEGER NOT NULL CHECK (compid BETWEEN 0 AND 255),"
    "  seq INTEGER NOT NULL,"
    "  request_ms INTEGER NOT NULL,"
    "  flags INTEGER NOT NULL,"
    "  pack_tag INTEGER NOT NULL,"
    "  remaining_pct REAL NOT NULL,"
    "  voltage_v REAL NOT NULL);",
};

enum stmt_id {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_ADD_BATTERY, ST_ADD_LOCATION, ST_GET_BATTERY, ST_LIST_BATTERIES, ST_UPDATE_EST,
    ST_SET_STATUS, ST_GET_LOCATION, ST_SET_LOCATION, ST_ADD_HISTORY, ST_ADD_STEP,
    ST_FIND_AT, ST_SWAP_EXISTS, ST_LIST_HISTORY,
    ST_ADD_CHARGE, ST_ADD_FLIGHT,
    ST_BEGIN_SWAP, ST_FINISH_SWAP, ST_GET_SWAP, ST_LIST_STEPS,
    ST_ADD_EVENT, ST_LIST_EVENTS,
    ST_RAISE_ALARM, ST_GET_ALARM, ST_ACK_ALARM, ST_CLEAR_ALARM, ST_LIST_ALARMS,
    ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
    ST_LAST_EVENT, ST_MAX_EVENT, ST_FIRST_EVENT_SINCE, ST_PAGE_EVENTS, ST_NEWEST_EVENTS,
    ST_LIST_WORKING, ST_COUNT_BATTERIES,
    ST_PRUNE_EVENTS, ST_PRUNE_RESTART_MARKS, ST_PRUNE_HISTORY, ST_PRUNE_CHARGES, ST_PRUNE_FLIGHTS, ST_PRUNE_STEPS,
    ST_PRUNE_ALARMS, ST_PRUNE_SWAPS,
    ST_COUNT
};

#define BATTERY_COLUMNS \
    "b.tag, b.serial, b.rated_mah, b.cells, b.status, b.status_reason, b.commissioned_ms," \
    " b.capacity_mah, b.capacity_sd_mah, b.dcir_mohm, b.dcir_sd_mohm, b.dcir_new_mohm," \
    " b.efc, b.charge_count, b.peak_temp_degC, b.last_used_ms," \
    " COALESCE(l.place, 'unknown'), COALESCE(l.idx, 0), COALESCE(l.since_ms, 0)"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ADD_BATTERY] =
        "INSERT INTO batteries (tag, serial, rated_mah, cells, status, status_reason,"
        " commissioned_ms, capacity_mah, capacity_sd_mah, dcir_mohm, dcir_sd_mohm,"
        " dcir_new_mohm, efc, charge_count, peak_temp_degC, last_used_ms)"
        " VALUES (?1, ?2, ?3, ?4, 'in_service', '', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?5)",
    [ST_ADD_LOCATION] =
        "INSERT INTO locations (tag, place, idx, since_ms, step, swap_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
    [ST_GET_BATTERY] =
        "SELECT " BATTERY_COLUMNS " FROM batteries b LEFT JOIN locations l ON l.tag = b.tag"
        " WHERE b.tag = ?1",
    [ST_LIST_BATTERIES] =
        "SELECT " BATTERY_COLUMNS " FROM batteries b LEFT JOIN locations l ON l.tag = b.tag"
        " ORDER BY b.tag",
    [ST_UPDATE_EST] =
        "UPDATE batteries SET capacity_mah = ?2, capacity_sd_mah = ?3, dcir_mohm = ?4,"
        " dcir_sd_mohm = ?5, dcir_new_mohm = ?6, efc = ?7, charge_count = ?8,"
        " peak_temp_degC = ?9, last_used_ms = ?10 WHERE tag = ?1",
    [ST_SET_STATUS] = "UPDATE batteries SET status = ?2, status_reason = ?3 WHERE tag = ?1",
    [ST_GET_LOCATION] = "SELECT place, idx FROM locations WHERE tag = ?1",
    [ST_SET_LOCATION] =
        "INSERT INTO locations (tag, place, idx, since_ms, step, swap_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        " ON CONFLICT(tag) DO UPDATE SET place = excluded.place, idx = excluded.idx,"
        " since_ms = excluded.since_ms, step = excluded.step, swap_id = excluded.swap_id",
    [ST_ADD_HISTORY] =
        "INSERT INTO location_history (tag, place, idx, time_ms, step, swap_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_ADD_STEP] = "INSERT INTO swap_steps (swap_id, step, start_ms, end_ms) VALUES (?1, ?2, ?3, ?4)",
    [ST_FIND_AT] = "SELECT tag FROM locations WHERE place = ?1 AND idx = ?2 ORDER BY tag LIMIT 1",
    [ST_SWAP_EXISTS] = "SELECT 1 FROM swaps WHERE id = ?1",
    [ST_LIST_HISTORY] =
        "SELECT place, idx, time_ms, step, COALESCE(swap_id, 0) FROM location_history"
        " WHERE tag = ?1 ORDER BY id",
    [ST_ADD_CHARGE] =
        "INSERT INTO charges (tag, slot, start_ms, end_ms, charge_mah, ocv_start_mV, ocv_end_mV,"
        " capacity_mah, capacity_sd_mah, dcir_mohm, peak_temp_degC, result)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_ADD_FLIGHT] =
        "INSERT INTO flights (tag, drone, start_ms, end_ms, consumed_mah, min_voltage_mV,"
        " peak_temp_degC, remaining_pct) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_BEGIN_SWAP] = "INSERT INTO swaps (drone, touchdown_ms) VALUES (?1, ?2)",
    [ST_FINISH_SWAP] =
        "UPDATE swaps SET battery_out = ?2, battery_in = ?3, cleared_ms = ?4,"
        " on_pad_ms = ?4 - touchdown_ms, result = ?5 WHERE id = ?1 AND cleared_ms IS NULL",
    [ST_GET_SWAP] = "SELECT COALESCE(on_pad_ms, -1) FROM swaps WHERE id = ?1",
    [ST_LIST_STEPS] = "SELECT step, start_ms, end_ms FROM swap_steps WHERE swap_id = ?1 ORDER BY id",
    [ST_ADD_EVENT] =
        "INSERT INTO events (time_ms, severity, source, text, json) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_LIST_EVENTS] =
        "SELECT id, time_ms, severity, source, text, COALESCE(json, '') FROM events"
        " WHERE time_ms >= ?1 ORDER BY time_ms, id LIMIT ?2",
    [ST_RAISE_ALARM] = "INSERT INTO alarms (code, text, raised_ms) VALUES (?1, ?2, ?3)",
    [ST_GET_ALARM] = "SELECT acked_ms IS NOT NULL, cleared_ms IS NOT NULL FROM alarms WHERE id = ?1",
    [ST_ACK_ALARM] = "UPDATE alarms SET acked_ms = ?2 WHERE id = ?1",
    [ST_CLEAR_ALARM] = "UPDATE alarms SET cleared_ms = ?2 WHERE id = ?1",
    [ST_LIST_ALARMS] =
        "SELECT id, code, text, raised_ms, COALESCE(acked_ms, 0), COALESCE(cleared_ms, 0)"
        " FROM alarms WHERE raised_ms >= ?1 AND (?2 = 0 OR cleared_ms IS NULL)"
        " ORDER BY raised_ms, id",
    [ST_SAVEPOINT] = "SAVEPOINT registry_op",
    [ST_RELEASE] = "RELEASE registry_op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO registry_op",
    [ST_LAST_EVENT] =
        "SELECT id, time_ms, severity, source, text, COALESCE(json, '') FROM events"
        " WHERE source = ?1 ORDER BY id DESC LIMIT 1",
    [ST_MAX_EVENT] = "SELECT COALESCE(MAX(id), 0) FROM events",
    /* Events are numbered in the order they were recorded; times follow that order. The
     * time index finds where --since starts, the rest walks the primary key. */
    [ST_FIRST_EVENT_SINCE] =
        "SELECT id FROM events WHERE time_ms >= ?1 ORDER BY time_ms, id LIMIT 1",
    [ST_PAGE_EVENTS] =
        "SELECT id, time_ms, severity, source, text, COALESCE(json, '') FROM events"
        " WHERE id > ?1 AND id <= ?2 AND time_ms >= ?3 AND severity != 'debug'"
        " ORDER BY id LIMIT ?4",
    [ST_NEWEST_EVENTS] =
        "SELECT id, time_ms, severity, source, text, COALESCE(json, '') FROM events"
        " WHERE id > ?1 AND id <= ?2 AND time_ms >= ?3 AND severity != 'debug'"
        " ORDER BY id DESC LIMIT ?4",
    [ST_LIST_WORKING] =
        "SELECT " BATTERY_COLUMNS " FROM batteries b LEFT JOIN locations l ON l.tag = b.tag"
        " WHERE b.status != 'retired' OR l.place IN ('slot','gripper_a','gripper_b','drone')"
        " ORDER BY b.tag",
    [ST_COUNT_BATTERIES] = "SELECT status, COUNT(*) FROM batteries GROUP BY status",
    /* Pruning takes the oldest rows by id (bounded work) and deletes those past their
     * retention; ids grow with time, so the oldest are the first to expire. */
    [ST_PRUNE_EVENTS] =
        "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?2)"
        " AND time_ms < ?1"
        " AND id NOT IN (SELECT COALESCE(MAX(id), 0) FROM events WHERE source = 'intent'"
        "                UNION SELECT COALESCE(MAX(id), 0) FROM events WHERE source = 'progress')",
    /* The write-ahead records of a restart ("intent", "progress": debug severity) expire
     * sooner than the events people read; the newest of each always stays. */
    [ST_PRUNE_RESTART_MARKS] =
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE source = ?3 ORDER BY id LIMIT ?2)"
        " AND time_ms < ?1 AND id != (SELECT MAX(id) FROM events WHERE source = ?3)",
    [ST_PRUNE_HISTORY] =
        "DELETE FROM location_history WHERE id IN"
        " (SELECT id FROM location_history ORDER BY id LIMIT ?2) AND time_ms < ?1",
    [ST_PRUNE_CHARGES] =
        "DELETE FROM charges WHERE id IN (SELECT id FROM charges ORDER BY id LIMIT ?2)"
        " AND end_ms < ?1",
    [ST_PRUNE_FLIGHTS] =
        "DELETE FROM flights WHERE id IN (SELECT id FROM flights ORDER BY id LIMIT ?2)"
        " AND end_ms < ?1",
    [ST_PRUNE_STEPS] =
        "DELETE FROM swap_steps WHERE id IN (SELECT id FROM swap_steps ORDER BY id LIMIT ?2)"
        " AND swap_id IN (SELECT id FROM swaps WHERE touchdown_ms < ?1)",
    [ST_PRUNE_ALARMS] =
        "DELETE FROM alarms WHERE id IN (SELECT id FROM alarms ORDER BY id LIMIT ?2)"
        " AND raised_ms < ?1 AND cleared_ms IS NOT NULL",
    /* A swap's summary stays while either of its packs is still in service (the pack's
     * story), and while anything still points at it. */
    [ST_PRUNE_SWAPS] =
        "DELETE FROM swaps WHERE id IN (SELECT id FROM swaps ORDER BY id LIMIT ?2)"
        " AND touchdown_ms < ?1 AND cleared_ms IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM batteries b WHERE b.status != 'retired'"
        "                 AND b.tag IN (swaps.battery_out, swaps.battery_in))"
        " AND NOT EXISTS (SELECT 1 FROM swap_steps s WHERE s.swap_id = swaps.id)"
        " AND NOT EXISTS (SELECT 1 FROM locations l WHERE l.swap_id = swaps.id)"
        " AND NOT EXISTS (SELECT 1 FROM location_history h WHERE h.swap_id = swaps.id)",
};

struct registry {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    bool readonly;
    bool batch;                   /* inside registry_batch_begin(): writes are savepoints */
    bool sync_normal;             /* registry_set_sync(false): commits without waiting for the disk */
    char err[256];
};

static const char *const place_names[REGISTRY_PLACE_COUNT] = {
    "unknown", "slot", "gripper_a", "gripper_b", "drone", "quarantine",
};
static const char *const status_names[REGISTRY_STATUS_COUNT] = {
    "in_service", "quarantine", "retired",
};
static const char *const severity_names[REGISTRY_SEVERITY_COUNT] = {
    "debug", "info", "warning", "error", "critical",
};

const char *registry_place_name(enum registry_place p)
{
    return (unsigned)p < REGISTRY_PLACE_COUNT ? place_names[p] : "invalid";
}

const char *registry_status_name(enum registry_status s)
{
    return (unsigned)s < REGISTRY_STATUS_COUNT ? status_names[s] : "invalid";
}

const char *registry_severity_name(enum registry_severity s)
{
    return (unsigned)s < REGISTRY_SEVERITY_COUNT ? severity_names[s] : "invalid";
}

static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int registry_status_parse(const char *name)
{
    return name_index(status_names, REGISTRY_STATUS_COUNT, name);
}

void registry_location_format(struct registry_location loc, char *buf, size_t size)
{
    switch (loc.place) {
    case REGISTRY_PLACE_SLOT: snprintf(buf, size, "slot %d", loc.index); break;
    case REGISTRY_PLACE_GRIPPER_A: snprintf(buf, size, "gripper A"); break;
    case REGISTRY_PLACE_GRIPPER_B: snprintf(buf, size, "gripper B"); break;
    case REGISTRY_PLACE_DRONE: snprintf(buf, size, "drone %d", loc.index); break;
    case REGISTRY_PLACE_QUARANTINE: snprintf(buf, size, "quarantine"); break;
    case REGISTRY_PLACE_UNKNOWN: snprintf(buf, size, "unknown"); break;
    default: snprintf(buf, size, "invalid place %d", (int)loc.place); break;
    }
}

const char *registry_strerror(int code)
{
    switch (code) {
    case 0: return "ok";
    case REGISTRY_EDB: return "database error";
    case REGISTRY_ENOTFOUND: return "not found";
    case REGISTRY_EEXIST: return "already exists";
    case REGISTRY_EOCCUPIED: return "place occupied";
    case REGISTRY_EINVAL: return "invalid argument";
    case REGISTRY_ESTATE: return "not allowed in this state";
    default: return "unknown error";
    }
}

const char *registry_last_error(const struct registry *reg)
{
    return reg ? reg->err : "no registry";
}

static int fail(struct registry *reg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct registry *reg, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reg->err, sizeof reg->err, fmt, ap);
    va_end(ap);
    return code;
}

static int fail_db(struct registry *reg, const char *what)
{
    return fail(reg, REGISTRY_EDB, "%s: %s", what, sqlite3_errmsg(reg->db));
}

static void set_err(struct registry_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(struct registry_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* Returns the cached statement, reset and with its bindings cleared. */
static sqlite3_stmt *stmt(struct registry *reg, enum stmt_id id)
{
    sqlite3_stmt *s = reg->stmt[id];
    if (!s) {
        if (sqlite3_prepare_v3(reg->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            fail_db(reg, "prepare");
            return NULL;
        }
        reg->stmt[id] = s;
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    return s;
}

/* Runs a statement that returns no rows; 0 or REGISTRY_EDB. */
static int exec_stmt(struct registry *reg, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return fail_db(reg, what);
    return 0;
}

/* One write. Alone it is a transaction of its own; inside a batch it is a savepoint, so a
 * write that fails leaves the batch's other writes standing. */
static int begin(struct registry *reg)
{
    if (reg->readonly)
        return fail(reg, REGISTRY_EDB, "registry is open read-only");
    sqlite3_stmt *s = stmt(reg, reg->batch ? ST_SAVEPOINT : ST_BEGIN);
    return s ? exec_stmt(reg, s, "begin") : REGISTRY_EDB;
}

static int commit(struct registry *reg)
{
    sqlite3_stmt *s = stmt(reg, reg->batch ? ST_RELEASE : ST_COMMIT);
    return s ? exec_stmt(reg, s, "commit") : REGISTRY_EDB;
}

/* Rolls back after a failure and passes its code on; keeps the first error text. */
static int rollback(struct registry *reg, int code)
{
    char saved[sizeof reg->err];
    memcpy(saved, reg->err, sizeof saved);
    sqlite3_stmt *s = stmt(reg, reg->batch ? ST_ROLLBACK_TO : ST_ROLLBACK);
    if (s)
        exec_stmt(reg, s, "rollback");
    if (reg->batch && (s = stmt(reg, ST_RELEASE)) != NULL)
        exec_stmt(reg, s, "release");
    memcpy(reg->err, saved, sizeof saved);
    return code;
}

int registry_batch_begin(struct registry *reg)
{
    if (reg->batch)
        return fail(reg, REGISTRY_ESTATE, "a batch is already open");
    int rc = begin(reg);
    if (rc == 0)
        reg->batch = true;
    return rc;
}

int registry_batch_commit(struct registry *reg)
{
    if (!reg->batch)
        return fail(reg, REGISTRY_ESTATE, "no batch is open");
    reg->batch = false;
    int rc = commit(reg);
    if (rc != 0 && !sqlite3_get_autocommit(reg->db))
        rollback(reg, rc);
    return rc;
}

bool registry_in_batch(const struct registry *reg)
{
    return reg->batch;
}

int registry_set_sync(struct registry *reg, bool full)
{
    if (reg->readonly || reg->batch || !sqlite3_get_autocommit(reg->db))
        return fail(reg, REGISTRY_ESTATE, "set sync: only between transactions of a writer");
    if (reg->sync_normal == !full)
        return 0;
    if (sqlite3_exec(reg->db, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", NULL, NULL,
                     NULL) != SQLITE_OK)
        return fail_db(reg, "set sync");
    reg->sync_normal = !full;
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *text)
{
    if (text)
        sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

static void bind_real_or_null(sqlite3_stmt *s, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static void copy_column(sqlite3_stmt *s, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(out, size, "%s", t ? (const char *)t : "");
}

/* ---- open ---------------------------------------------------------------------------- */

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* PRAGMA quick_check on a connection that has not written anything. Returns 0 when the
 * file is sound; otherwise fills msg with SQLite's first complaint. */
static int quick_check(sqlite3 *db, const char *pragma, char *msg, size_t size)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, pragma, -1, &s, NULL) != SQLITE_OK) {
        snprintf(msg, size, "%s", sqlite3_errmsg(db));
        return -1;
    }
    int rc = sqlite3_step(s);
    int bad = 0;
    if (rc != SQLITE_ROW) {
        snprintf(msg, size, "%s", sqlite3_errmsg(db));
        bad = -1;
    } else {
        const unsigned char *t = sqlite3_column_text(s, 0);
        if (!t || strcmp((const char *)t, "ok") != 0) {
            snprintf(msg, size, "%s", t ? (const char *)t : "no answer");
            bad = -1;
        }
    }
    sqlite3_finalize(s);
    return bad;
}

/* Looks at the file before SQLite does: SQLite would happily treat an empty file as a
 * new database, and we want a clear "not a database" for anything else. */
static int check_file(const char *path, int flags, bool *exists, off_t *size, struct registry_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT && (flags & REGISTRY_OPEN_CREATE) && !(flags & REGISTRY_OPEN_READONLY)) {
            *exists = false;
            return 0;
        }
        set_err(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, "%s: not a regular file", path);
        return -1;
    }
    *exists = true;
    *size = st.st_size;
    if (st.st_size == 0) {
        /* Only a path that does not exist makes a new registry: an empty file is what a
         * truncation or a failed copy leaves, and starting afresh on it would drop every
         * pack's history and retirement without a word. */
        set_err(err, "%s: empty file, not a battery registry; refusing to start a new one over it "
                "(remove the file to create a new registry)", path);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    char magic[16];
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (n != sizeof magic || memcmp(magic, "SQLite format 3", 16) != 0) {
        set_err(err, "%s: not an SQLite database (bad header); refusing to open it", path);
        return -1;
    }
    return 0;
}

/* Read-only inspection of an existing file: a schema we understand, and sound as far as a
 * bounded look can tell. PRAGMA quick_check reads every page, so it runs only on files up
 * to REGISTRY_QUICK_CHECK_MAX_BYTES; on larger ones start-up would grow with the history,
 * and the full check is the operator's (swapctl check-db). SQLite still refuses any page
 * it cannot read when a query reaches it. */
static int inspect_existing(const char *path, off_t size, int max_version, struct registry_error *err)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    char msg[200];
    int version = 0;
    if (pragma_int(db, "PRAGMA user_version", &version) != 0) {
        set_err(err, "%s: cannot read the schema version: %s; refusing to open it", path,
                sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    if (version > max_version) {
        set_err(err, "%s: schema version %d is newer than this program's %d; refusing to "
                "open it (use a newer swapd)", path, version, max_version);
        sqlite3_close(db);
        return -1;
    }
    int n_tables = 0;
    if (pragma_int(db, "SELECT COUNT(*) FROM sqlite_schema", &n_tables) != 0) {
        set_err(err, "%s: cannot read the schema: %s; refusing to open it, not repairing it", path,
                sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    if (size <= REGISTRY_QUICK_CHECK_MAX_BYTES &&
        quick_check(db, "PRAGMA quick_check(1)", msg, sizeof msg) != 0) {
        set_err(err, "%s: database is corrupt (%s); refusing to open it, not repairing it",
                path, msg);
        sqlite3_close(db);
        return -1;
    }
    sqlite3_close(db);
    return 0;
}

static int migrate(struct registry *reg, int target, struct registry_error *err)
{
    int version = 0;
    if (pragma_int(reg->db, "PRAGMA user_version", &version) != 0) {
        set_err(err, "cannot read the schema version: %s", sqlite3_errmsg(reg->db));
        return -1;
    }
    for (int v = version; v < target; v++) {
        char *msg = NULL;
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(reg->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(reg->db, bump, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(reg->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            set_err(err, "schema migration %d -> %d failed: %s", v, v + 1,
                    msg ? msg : sqlite3_errmsg(reg->db));
            sqlite3_free(msg);
            sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return 0;
}

struct registry *registry_open_version(const char *path, int flags, int target_version,
                                       struct registry_error *err)
{
    if (err)
        err->msg[0] = '\0';
    if (!path || target_version < 1 || target_version > REGISTRY_SCHEMA_VERSION) {
        set_err(err, "registry_open: bad path or schema version");
        return NULL;
    }
    bool exists = false;
    off_t size = 0;
    if (check_file(path, flags, &exists, &size, err) != 0)
        return NULL;
    if (exists && inspect_existing(path, size, REGISTRY_SCHEMA_VERSION, err) != 0)
        return NULL;

    struct registry *reg = calloc(1, sizeof *reg);
    if (!reg) {
        set_err(err, "out of memory");
        return NULL;
    }
    reg->readonly = (flags & REGISTRY_OPEN_READONLY) != 0;
    int oflags = reg->readonly ? SQLITE_OPEN_READONLY
                               : SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &reg->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, "%s: %s", path, reg->db ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
        registry_close(reg);
        return NULL;
    }
    sqlite3_busy_timeout(reg->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(reg->db, 1);
    char *msg = NULL;
    /* A new file gets incremental auto-vacuum (it must be set before the first table):
     * pruned pages go back to the file system a few at a time (registry_prune). An older
     * file keeps reusing its free pages, so it stops growing once pruning runs. */
    const char *setup = reg->readonly
                            ? "PRAGMA foreign_keys = ON;"
                            : (!exists || size == 0)
                                  ? "PRAGMA page_size = 1024; PRAGMA auto_vacuum = INCREMENTAL; PRAGMA foreign_keys = ON;"
                                    " PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                  : "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;"
                                    " PRAGMA synchronous = FULL;";
    if (sqlite3_exec(reg->db, setup, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, "%s: %s", path, msg ? msg : sqlite3_errmsg(reg->db));
        sqlite3_free(msg);
        registry_close(reg);
        return NULL;
    }
    if (!reg->readonly && migrate(reg, target_version, err) != 0) {
        registry_close(reg);
        return NULL;
    }
    return reg;
}

struct registry *registry_open(const char *path, int flags, struct registry_error *err)
{
    return registry_open_version(path, flags, REGISTRY_SCHEMA_VERSION, err);
}

void registry_close(struct registry *reg)
{
    if (!reg)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(reg->stmt[i]);
    sqlite3_close(reg->db);
    free(reg);
}

int registry_schema_version(struct registry *reg)
{
    int v = -1;
    if (pragma_int(reg->db, "PRAGMA user_version", &v) != 0)
        return fail_db(reg, "user_version");
    return v;
}

int registry_check_integrity(struct registry *reg)
{
    char msg[200];
    if (quick_check(reg->db, "PRAGMA integrity_check(1)", msg, sizeof msg) != 0)
        return fail(reg, REGISTRY_EDB, "integrity_check: %s", msg);
    return 0;
}

/* ---- batteries ---------------------------------------------------------------------- */

static bool finite_nonneg(double v)
{
    return isfinite(v) && v >= 0;
}

static bool location_valid(struct registry_location loc)
{
    switch (loc.place) {
    case REGISTRY_PLACE_SLOT: return loc.index >= 1 && loc.index <= 64;
    case REGISTRY_PLACE_DRONE: return loc.index >= 1 && loc.index <= 255;
    case REGISTRY_PLACE_UNKNOWN:
    case REGISTRY_PLACE_GRIPPER_A:
    case REGISTRY_PLACE_GRIPPER_B:
    case REGISTRY_PLACE_QUARANTINE: return loc.index == 0;
    default: return false;
    }
}

static bool estimates_valid(const struct registry_battery *b)
{
    return finite_nonneg(b->capacity_mah) && finite_nonneg(b->capacity_sd_mah) &&
           finite_nonneg(b->dcir_mohm) && finite_nonneg(b->dcir_sd_mohm) &&
           finite_nonneg(b->dcir_new_mohm) && finite_nonneg(b->efc) && b->charge_count >= 0 &&
           !isinf(b->peak_temp_degC);
}

static bool is_constraint(int rc)
{
    return (rc & 0xff) == SQLITE_CONSTRAINT;
}

int registry_add_battery(struct registry *reg, const struct registry_battery *b, int64_t now_ms)
{
    if (!b || b->tag == 0 || b->rated_mah <= 0 || b->cells < 1 || b->cells > 14 ||
        !b->serial[0] || !memchr(b->serial, '\0', sizeof b->serial) || !estimates_valid(b) ||
        !location_valid(b->loc))
        return fail(reg, REGISTRY_EINVAL, "add battery: invalid field");
    int rc = begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = stmt(reg, ST_ADD_BATTERY);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, b->tag);
    sqlite3_bind_text(s, 2, b->serial, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 3, b->rated_mah);
    sqlite3_bind_int(s, 4, b->cells);
    sqlite3_bind_int64(s, 5, now_ms);
    sqlite3_bind_double(s, 6, b->capacity_mah);
    sqlite3_bind_double(s, 7, b->capacity_sd_mah);
    sqlite3_bind_double(s, 8, b->dcir_mohm);
    sqlite3_bind_double(s, 9, b->dcir_sd_mohm);
    sqlite3_bind_double(s, 10, b->dcir_new_mohm > 0 ? b->dcir_new_mohm : b->dcir_mohm);
    sqlite3_bind_double(s, 11, b->efc);
    sqlite3_bind_int(s, 12, b->charge_count);
    bind_real_or_null(s, 13, b->peak_temp_degC);
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        if (is_constraint(step))
            return rollback(reg, fail(reg, REGISTRY_EEXIST, "battery SWP-%08X or serial %s already registered",
                                      b->tag, b->serial));
        return rollback(reg, fail_db(reg, "add battery"));
    }
    s = stmt(reg, ST_ADD_LOCATION);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, b->tag);
    sqlite3_bind_text(s, 2, place_names[b->loc.place], -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, b->loc.index);
    sqlite3_bind_int64(s, 4, now_ms);
    sqlite3_bind_text(s, 5, "commission", -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        if (is_constraint(step))
            return rollback(reg, fail(reg, REGISTRY_EOCCUPIED, "add battery: place occupied"));
        return rollback(reg, fail_db(reg, "add battery location"));
    }
    s = stmt(reg, ST_ADD_HISTORY);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, b->tag);
    sqlite3_bind_text(s, 2, place_names[b->loc.place], -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, b->loc.index);
    sqlite3_bind_int64(s, 4, now_ms);
    sqlite3_bind_text(s, 5, "commission", -1, SQLITE_STATIC);
    sqlite3_bind_null(s, 6);
    if ((rc = exec_stmt(reg, s, "add history")) != 0)
        return rollback(reg, rc);
    return commit(reg);
}

static void read_battery(sqlite3_stmt *s, struct registry_battery *b)
{
    memset(b, 0, sizeof *b);
    b->tag = (uint32_t)sqlite3_column_int64(s, 0);
    copy_column(s, 1, b->serial, sizeof b->serial);
    b->rated_mah = sqlite3_column_int(s, 2);
    b->cells = sqlite3_column_int(s, 3);
    int st = registry_status_parse((const char *)sqlite3_column_text(s, 4));
    b->status = st < 0 ? REGISTRY_QUARANTINE : (enum registry_status)st;
    copy_column(s, 5, b->status_reason, sizeof b->status_reason);
    b->commissioned_ms = sqlite3_column_int64(s, 6);
    b->capacity_mah = sqlite3_column_double(s, 7);
    b->capacity_sd_mah = sqlite3_column_double(s, 8);
    b->dcir_mohm = sqlite3_column_double(s, 9);
    b->dcir_sd_mohm = sqlite3_column_double(s, 10);
    b->dcir_new_mohm = sqlite3_column_double(s, 11);
    b->efc = sqlite3_column_double(s, 12);
    b->charge_count = sqlite3_column_int(s, 13);
    b->peak_temp_degC = sqlite3_column_type(s, 14) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 14);
    b->last_used_ms = sqlite3_column_int64(s, 15);
    int p = name_index(place_names, REGISTRY_PLACE_COUNT, (const char *)sqlite3_column_text(s, 16));
    b->loc.place = p < 0 ? REGISTRY_PLACE_UNKNOWN : (enum registry_place)p;
    b->loc.index = sqlite3_column_int(s, 17);
    b->loc_since_ms = sqlite3_column_int64(s, 18);
}

int registry_get_battery(struct registry *reg, uint32_t tag, struct registry_battery *out)
{
    sqlite3_stmt *s = stmt(reg, ST_GET_BATTERY);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, tag);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_battery(s, out);
        sqlite3_reset(s);
        return 0;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return fail(reg, REGISTRY_ENOTFOUND, "battery SWP-%08X is not registered", tag);
    return fail_db(reg, "get battery");
}

static int list_batteries(struct registry *reg, enum stmt_id id,
                          int (*fn)(const struct registry_battery *b, void *ctx), void *ctx)
{
    sqlite3_stmt *s = stmt(reg, id);
    if (!s)
        return REGISTRY_EDB;
    int n = 0, rc;
    struct registry_battery b;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_battery(s, &b);
        n++;
        if (fn && fn(&b, ctx))
            break;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail_db(reg, "list batteries");
    return n;
}

int registry_list_batteries(struct registry *reg,
                            int (*fn)(const struct registry_battery *b, void *ctx), void *ctx)
{
    return list_batteries(reg, ST_LIST_BATTERIES, fn, ctx);
}

int registry_list_working_set(struct registry *reg,
                              int (*fn)(const struct registry_battery *b, void *ctx), void *ctx)
{
    return list_batteries(reg, ST_LIST_WORKING, fn, ctx);
}

int registry_count_batteries(struct registry *reg, int counts[REGISTRY_STATUS_COUNT])
{
    sqlite3_stmt *s = stmt(reg, ST_COUNT_BATTERIES);
    if (!s)
        return REGISTRY_EDB;
    for (int i = 0; i < REGISTRY_STATUS_COUNT; i++)
        counts[i] = 0;
    int rc, total = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int st = name_index(status_names, REGISTRY_STATUS_COUNT, (const char *)sqlite3_column_text(s, 0));
        int n = sqlite3_column_int(s, 1);
        if (st >= 0)
            counts[st] = n;
        total += n;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return fail_db(reg, "count batteries");
    return total;
}

/* Runs a single-row UPDATE in its own transaction; ENOTFOUND when no row matched. */
static int update_one(struct registry *reg, sqlite3_stmt *s, const char *what, uint32_t tag)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return rollback(reg, fail_db(reg, what));
    if (sqlite3_changes(reg->db) != 1)
        return rollback(reg, fail(reg, REGISTRY_ENOTFOUND, "battery SWP-%08X is not registered", tag));
    return 0;
}

int registry_update_estimates(struct registry *reg, const struct registry_battery *b)
{
    if (!b || !estimates_valid(b))
        return fail(reg, REGISTRY_EINVAL, "update estimates: NaN or negative value");
    int rc = begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = stmt(reg, ST_UPDATE_EST);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, b->tag);
    sqlite3_bind_double(s, 2, b->capacity_mah);
    sqlite3_bind_double(s, 3, b->capacity_sd_mah);
    sqlite3_bind_double(s, 4, b->dcir_mohm);
    sqlite3_bind_double(s, 5, b->dcir_sd_mohm);
    sqlite3_bind_double(s, 6, b->dcir_new_mohm);
    sqlite3_bind_double(s, 7, b->efc);
    sqlite3_bind_int(s, 8, b->charge_count);
    bind_real_or_null(s, 9, b->peak_temp_degC);
    sqlite3_bind_int64(s, 10, b->last_used_ms);
    if ((rc = update_one(reg, s, "update estimates", b->tag)) != 0)
        return rc;
    return commit(reg);
}

static int add_event_in_tx(struct registry *reg, int64_t time_ms, enum registry_severity sev,
                           const char *source, const char *text, const char *json)
{
    sqlite3_stmt *s = stmt(reg, ST_ADD_EVENT);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, time_ms);
    sqlite3_bind_text(s, 2, severity_names[sev], -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, text, -1, SQLITE_TRANSIENT);
    bind_text_or_null(s, 5, json);
    return exec_stmt(reg, s, "add event");
}

int registry_set_status(struct registry *reg, uint32_t tag, enum registry_status status,
                        const char *reason, int64_t now_ms)
{
    if ((unsigned)status >= REGISTRY_STATUS_COUNT || !reason)
        return fail(reg, REGISTRY_EINVAL, "set status: invalid status or reason");
    int rc = begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = stmt(reg, ST_SET_STATUS);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, tag);
    sqlite3_bind_text(s, 2, status_names[status], -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, reason, -1, SQLITE_TRANSIENT);
    if ((rc = update_one(reg, s, "set status", tag)) != 0)
        return rc;
    char text[256];
    snprintf(text, sizeof text, "battery SWP-%08X %s: %s", tag, status_names[status], reason);
    if ((rc = add_event_in_tx(reg, now_ms, status == REGISTRY_IN_SERVICE ? REGISTRY_INFO
                                                                         : REGISTRY_WARNING,
                              "registry", text, NULL)) != 0)
        return rollback(reg, rc);
    return commit(reg);
}

static int swap_exists(struct registry *reg, int64_t swap_id)
{
    sqlite3_stmt *s = stmt(reg, ST_SWAP_EXISTS);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, swap_id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return fail(reg, REGISTRY_ENOTFOUND, "swap %lld does not exist", (long long)swap_id);
    return fail_db(reg, "swap lookup");
}

int registry_move_battery(struct registry *reg, uint32_t tag, struct registry_location to,
                          const char *step_name, int64_t swap_id, int64_t step_start_ms,
                          int64_t now_ms)
{
    if (!location_valid(to) || !step_name || !step_name[0] || swap_id < 0 ||
        (swap_id > 0 && step_start_ms > now_ms))
        return fail(reg, REGISTRY_EINVAL, "move battery: invalid location, step or times");
    int rc = begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = stmt(reg, ST_GET_LOCATION);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, tag);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return rollback(reg, fail(reg, REGISTRY_ENOTFOUND, "battery SWP-%08X is not registered", tag));
    if (rc != SQLITE_ROW)
        return rollback(reg, fail_db(reg, "move battery"));
    if (swap_id > 0 && (rc = swap_exists(reg, swap_id)) != 0)
        return rollback(reg, rc);

    s = stmt(reg, ST_SET_LOCATION);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, tag);
    sqlite3_bind_text(s, 2, place_names[to.place], -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, to.index);
    sqlite3_bind_int64(s, 4, now_ms);
    sqlite3_bind_text(s, 5, step_name, -1, SQLITE_TRANSIENT);
    if (swap_id > 0)
        sqlite3_bind_int64(s, 6, swap_id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        if (is_constraint(rc)) {
            char where[48];
            registry_location_format(to, where, sizeof where);
            return rollback(reg, fail(reg, REGISTRY_EOCCUPIED,
                                      "cannot move battery SWP-%08X: %s already holds a battery",
                                      tag, where));
        }
        return rollback(reg, fail_db(reg, "move battery"));
    }
    s = stmt(reg, ST_ADD_HISTORY);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, tag);
    sqlite3_bind_text(s, 2, place_names[to.place], -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, to.index);
    sqlite3_bind_int64(s, 4, now_ms);
    sqlite3_bind_text(s, 5, step_name, -1, SQLITE_TRANSIENT);
    if (swap_id > 0)
        sqlite3_bind_int64(s, 6, swap_id);
    if ((rc = exec_stmt(reg, s, "location history")) != 0)
        return rollback(reg, rc);
    if (swap_id > 0) {
        s = stmt(reg, ST_ADD_STEP);
        if (!s)
            return rollback(reg, REGISTRY_EDB);
        sqlite3_bind_int64(s, 1, swap_id);
        sqlite3_bind_text(s, 2, step_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, step_start_ms);
        sqlite3_bind_int64(s, 4, now_ms);
        if ((rc = exec_stmt(reg, s, "swap step")) != 0)
            return rollback(reg, rc);
    }
    return commit(reg);
}

int registry_find_at(struct registry *reg, struct registry_location loc, uint32_t *tag)
{
    if (!location_valid(loc))
        return fail(reg, REGISTRY_EINVAL, "find: invalid location");
    sqlite3_stmt *s = stmt(reg, ST_FIND_AT);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_text(s, 1, place_names[loc.place], -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, loc.index);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && tag)
        *tag = (uint32_t)sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return REGISTRY_ENOTFOUND;
    return fail_db(reg, "find battery");
}

int registry_list_history(struct registry *reg, uint32_t tag,
                          int (*fn)(struct registry_location loc, int64_t time_ms,
                                    const char *step, int64_t swap_id, void *ctx),
                          void *ctx)
{
    sqlite3_stmt *s = stmt(reg, ST_LIST_HISTORY);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, tag);
    int n = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int p = name_index(place_names, REGISTRY_PLACE_COUNT, (const char *)sqlite3_column_text(s, 0));
        struct registry_location loc = { p < 0 ? REGISTRY_PLACE_UNKNOWN : (enum registry_place)p,
                                         sqlite3_column_int(s, 1) };
        const unsigned char *step = sqlite3_column_text(s, 3);
        n++;
        if (fn && fn(loc, sqlite3_column_int64(s, 2), step ? (const char *)step : "",
                     sqlite3_column_int64(s, 4), ctx))
            break;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail_db(reg, "list history");
    return n;
}

/* ---- measurements -------------------------------------------------------------------- */

/* Inserts one row in its own transaction; a foreign-key failure means an unknown tag. */
static int insert_one(struct registry *reg, sqlite3_stmt *s, const char *what, int64_t *id)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        if (is_constraint(rc))
            return rollback(reg, fail(reg, REGISTRY_ENOTFOUND, "%s: %s", what, sqlite3_errmsg(reg->db)));
        return rollback(reg, fail_db(reg, what));
    }
    if (id)
        *id = sqlite3_last_insert_rowid(reg->db);
    return commit(reg);
}

int registry_add_charge(struct registry *reg, const struct registry_charge *c)
{
    if (!c || !c->result || !finite_nonneg(c->charge_mah) || c->end_ms < c->start_ms)
        return fail(reg, REGISTRY_EINVAL, "add charge: invalid field");
    int rc = begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = stmt(reg, ST_ADD_CHARGE);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, c->tag);
    sqlite3_bind_int(s, 2, c->slot);
    sqlite3_bind_int64(s, 3, c->start_ms);
    sqlite3_bind_int64(s, 4, c->end_ms);
    sqlite3_bind_double(s, 5, c->charge_mah);
    bind_real_or_null(s, 6, c->ocv_start_mV);
    bind_real_or_null(s, 7, c->ocv_end_mV);
    bind_real_or_null(s, 8, c->capacity_mah);
    bind_real_or_null(s, 9, c->capacity_sd_mah);
    bind_real_or_null(s, 10, c->dcir_mohm);
    bind_real_or_null(s, 11, c->peak_temp_degC);
    sqlite3_bind_text(s, 12, c->result, -1, SQLITE_TRANSIENT);
    return insert_one(reg, s, "add charge", NULL);
}

int registry_add_flight(struct registry *reg, const struct registry_flight *f)
{
    if (!f || f->end_ms < f->start_ms || f->drone < 1 || f->drone > 255)
        return fail(reg, REGISTRY_EINVAL, "add flight: invalid field");
    int rc = begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = stmt(reg, ST_ADD_FLIGHT);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, f->tag);
    sqlite3_bind_int(s, 2, f->drone);
    sqlite3_bind_int64(s, 3, f->start_ms);
    sqlite3_bind_int64(s, 4, f->end_ms);
    bind_real_or_null(s, 5, f->consumed_mah);
    bind_real_or_null(s, 6, f->min_voltage_mV);
    bind_real_or_null(s, 7, f->peak_temp_degC);
    if (f->remaining_pct >= 0 && f->remaining_pct <= 100)
        sqlite3_bind_int(s, 8, f->remaining_pct);
    return insert_one(reg, s, "add flight", NULL);
}

/* ---- swaps --------------------------------------------------------------------------- */

int registry_begin_swap(struct registry *reg, int drone, int64_t touchdown_ms, int64_t *swap_id)
{
    if (drone < 1 || drone > 255 || !swap_id)
        return fail(reg, REGISTRY_EINVAL, "begin swap: drone system id must be 1..255");
    int rc = begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = stmt(reg, ST_BEGIN_SWAP);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int(s, 1, drone);
    sqlite3_bind_int64(s, 2, touchdown_ms);
    return insert_one(reg, s, "begin swap", swap_id);
}

int registry_record_step(struct registry *reg, int64_t swap_id, const char *step,
                         int64_t start_ms, int64_t end_ms)
{
    if (!step || !step[0] || end_ms < start_ms)
        return fail(reg, REGISTRY_EINVAL, "record step: invalid step or times");
    int rc = begin(reg);
    if (rc)
        return rc;
    if ((rc = swap_exists(reg, swap_id)) != 0)
        return rollback(reg, rc);
    sqlite3_stmt *s = stmt(reg, ST_ADD_STEP);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, swap_id);
    sqlite3_bind_text(s, 2, step, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, start_ms);
    sqlite3_bind_int64(s, 4, end_ms);
    return insert_one(reg, s, "record step", NULL);
}

int registry_finish_swap(struct registry *reg, int64_t swap_id, uint32_t battery_out,
                         uint32_t battery_in, int64_t cleared_ms, const char *result)
{
    if (!result || !result[0])
        return fail(reg, REGISTRY_EINVAL, "finish swap: no result");
    int rc = begin(reg);
    if (rc)
        return rc;
    if ((rc = swap_exists(reg, swap_id)) != 0)
        return rollback(reg, rc);
    sqlite3_stmt *s = stmt(reg, ST_FINISH_SWAP);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, swap_id);
    if (battery_out)
        sqlite3_bind_int64(s, 2, battery_out);
    if (battery_in)
        sqlite3_bind_int64(s, 3, battery_in);
    sqlite3_bind_int64(s, 4, cleared_ms);
    sqlite3_bind_text(s, 5, result, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        if (is_constraint(rc))
            return rollback(reg, fail(reg, REGISTRY_ENOTFOUND, "finish swap: unknown battery"));
        return rollback(reg, fail_db(reg, "finish swap"));
    }
    if (sqlite3_changes(reg->db) != 1)
        return rollback(reg, fail(reg, REGISTRY_ESTATE, "swap %lld is already finished",
                                  (long long)swap_id));
    return commit(reg);
}

int registry_get_swap(struct registry *reg, int64_t swap_id, int64_t *on_pad_ms,
                      struct registry_swap_step *steps, int max, int *n_steps)
{
    sqlite3_stmt *s = stmt(reg, ST_GET_SWAP);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, swap_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && on_pad_ms)
        *on_pad_ms = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return fail(reg, REGISTRY_ENOTFOUND, "swap %lld does not exist", (long long)swap_id);
    if (rc != SQLITE_ROW)
        return fail_db(reg, "get swap");
    s = stmt(reg, ST_LIST_STEPS);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, swap_id);
    int n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (steps && n < max) {
            copy_column(s, 0, steps[n].step, sizeof steps[n].step);
            steps[n].start_ms = sqlite3_column_int64(s, 1);
            steps[n].end_ms = sqlite3_column_int64(s, 2);
        }
        n++;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return fail_db(reg, "swap steps");
    if (n_steps)
        *n_steps = n;
    return 0;
}

/* ---- events and alarms ------------------------------------------------------------- */

static bool json_ok(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        return false;
    json_decref(j);
    return true;
}

int registry_add_event(struct registry *reg, int64_t time_ms, enum registry_severity sev,
                       const char *source, const char *text, const char *json)
{
    if ((unsigned)sev >= REGISTRY_SEVERITY_COUNT || !source || !text)
        return fail(reg, REGISTRY_EINVAL, "add event: invalid severity, source or text");
    if (json && !json_ok(json))
        return fail(reg, REGISTRY_EINVAL, "add event: the attached JSON is malformed");
    int rc = begin(reg);
    if (rc)
        return rc;
    if ((rc = add_event_in_tx(reg, time_ms, sev, source, text, json)) != 0)
        return rollback(reg, rc);
    return commit(reg);
}

/* Columns id, time_ms, severity, source, text, json into e. */
static void read_event(sqlite3_stmt *s, struct registry_event *e)
{
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(s, 0);
    e->time_ms = sqlite3_column_int64(s, 1);
    int sev = name_index(severity_names, REGISTRY_SEVERITY_COUNT, (const char *)sqlite3_column_text(s, 2));
    e->severity = sev < 0 ? REGISTRY_ERROR : (enum registry_severity)sev;
    copy_column(s, 3, e->source, sizeof e->source);
    copy_column(s, 4, e->text, sizeof e->text);
    if ((size_t)sqlite3_column_bytes(s, 5) < sizeof e->json)
        copy_column(s, 5, e->json, sizeof e->json);
}

static int walk_events(struct registry *reg, sqlite3_stmt *s,
                       int (*fn)(const struct registry_event *e, void *ctx), void *ctx)
{
    int n = 0, rc;
    struct registry_event e;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_event(s, &e);
        n++;
        if (fn && fn(&e, ctx))
            break;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail_db(reg, "list events");
    return n;
}

int registry_list_events(struct registry *reg, int64_t since_ms, int limit,
                         int (*fn)(const struct registry_event *e, void *ctx), void *ctx)
{
    sqlite3_stmt *s = stmt(reg, ST_LIST_EVENTS);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, since_ms);
    sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
    return walk_events(reg, s, fn, ctx);
}

int registry_last_event(struct registry *reg, const char *source, struct registry_event *out)
{
    sqlite3_stmt *s = stmt(reg, ST_LAST_EVENT);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_text(s, 1, source, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        read_event(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return fail(reg, REGISTRY_ENOTFOUND, "no %s event", source);
    return fail_db(reg, "last event");
}

int64_t registry_last_event_id(struct registry *reg)
{
    sqlite3_stmt *s = stmt(reg, ST_MAX_EVENT);
    if (!s)
        return REGISTRY_EDB;
    int rc = sqlite3_step(s);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return fail_db(reg, "last event id");
    return id;
}

int registry_page_events(struct registry *reg, int64_t since_ms, int64_t after_id, int64_t upto_id,
                         int limit, bool newest,
                         int (*fn)(const struct registry_event *e, void *ctx), void *ctx)
{
    if (limit <= 0)
        return fail(reg, REGISTRY_EINVAL, "page events: limit must be positive");
    sqlite3_stmt *s;
    if (since_ms > 0) {
        /* Where --since starts, by the time index; the page then walks the ids. */
        if (!(s = stmt(reg, ST_FIRST_EVENT_SINCE)))
            return REGISTRY_EDB;
        sqlite3_bind_int64(s, 1, since_ms);
        int rc = sqlite3_step(s);
        int64_t first = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : INT64_MAX;
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return fail_db(reg, "events since");
        if (first == INT64_MAX)
            return 0;
        if (first - 1 > after_id)
            after_id = first - 1;
    }
    if (!(s = stmt(reg, newest ? ST_NEWEST_EVENTS : ST_PAGE_EVENTS)))
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int64(s, 2, upto_id);
    sqlite3_bind_int64(s, 3, since_ms);
    sqlite3_bind_int(s, 4, limit);
    return walk_events(reg, s, fn, ctx);
}

int registry_raise_alarm(struct registry *reg, const char *code, const char *text,
                         int64_t now_ms, int64_t *alarm_id)
{
    if (!code || !code[0] || !text)
        return fail(reg, REGISTRY_EINVAL, "raise alarm: no code or text");
    int rc = begin(reg);
    if (rc)
        return rc;
    char line[300];
    snprintf(line, sizeof line, "alarm %s: %s", code, text);
    if ((rc = add_event_in_tx(reg, now_ms, REGISTRY_ERROR, "alarm", line, NULL)) != 0)
        return rollback(reg, rc);
    sqlite3_stmt *s = stmt(reg, ST_RAISE_ALARM);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_text(s, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, now_ms);
    return insert_one(reg, s, "raise alarm", alarm_id);
}

static int alarm_transition(struct registry *reg, int64_t alarm_id, int64_t now_ms, bool clear)
{
    int rc = begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = stmt(reg, ST_GET_ALARM);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, alarm_id);
    rc = sqlite3_step(s);
    int acked = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    int cleared = rc == SQLITE_ROW ? sqlite3_column_int(s, 1) : 0;
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return rollback(reg, fail(reg, REGISTRY_ENOTFOUND, "alarm %lld does not exist", (long long)alarm_id));
    if (rc != SQLITE_ROW)
        return rollback(reg, fail_db(reg, "alarm"));
    if (cleared || (!clear && acked))
        return rollback(reg, fail(reg, REGISTRY_ESTATE, "alarm %lld is already %s",
                                  (long long)alarm_id, cleared ? "cleared" : "acknowledged"));
    s = stmt(reg, clear ? ST_CLEAR_ALARM : ST_ACK_ALARM);
    if (!s)
        return rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, alarm_id);
    sqlite3_bind_int64(s, 2, now_ms);
    if ((rc = exec_stmt(reg, s, clear ? "clear alarm" : "ack alarm")) != 0)
        return rollback(reg, rc);
    return commit(reg);
}

int registry_ack_alarm(struct registry *reg, int64_t alarm_id, int64_t now_ms)
{
    return alarm_transition(reg, alarm_id, now_ms, false);
}

int registry_clear_alarm(struct registry *reg, int64_t alarm_id, int64_t now_ms)
{
    return alarm_transition(reg, alarm_id, now_ms, true);
}

int registry_list_alarms(struct registry *reg, int64_t since_ms, bool active_only,
                         int (*fn)(const struct registry_alarm *a, void *ctx), void *ctx)
{
    sqlite3_stmt *s = stmt(reg, ST_LIST_ALARMS);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, since_ms);
    sqlite3_bind_int(s, 2, active_only ? 1 : 0);
    int n = 0, rc;
    struct registry_alarm a;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&a, 0, sizeof a);
        a.id = sqlite3_column_int64(s, 0);
        copy_column(s, 1, a.code, sizeof a.code);
        copy_column(s, 2, a.text, sizeof a.text);
        a.raised_ms = sqlite3_column_int64(s, 3);
        a.acked_ms = sqlite3_column_int64(s, 4);
        a.cleared_ms = sqlite3_column_int64(s, 5);
        n++;
        if (fn && fn(&a, ctx))
            break;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail_db(reg, "list alarms");
    return n;
}

/* ---- retention ------------------------------------------------------------------------ */

static int prune_one(struct registry *reg, enum stmt_id id, const char *source, int64_t cutoff_ms,
                     int max_rows, int *deleted)
{
    sqlite3_stmt *s = stmt(reg, id);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, cutoff_ms);
    sqlite3_bind_int(s, 2, max_rows);
    if (source)
        sqlite3_bind_text(s, 3, source, -1, SQLITE_STATIC);
    int rc = exec_stmt(reg, s, "prune");
    if (rc == 0)
        *deleted += sqlite3_changes(reg->db);
    return rc;
}

int registry_prune(struct registry *reg, const struct registry_retention *r, int64_t now_ms,
                   int max_rows, int max_vacuum_pages, struct registry_prune_stats *st)
{
    if (!r || max_rows <= 0)
        return fail(reg, REGISTRY_EINVAL, "prune: no retention or batch size");
    struct registry_prune_stats local = { 0 };
    const int64_t day_ms = 86400000LL;
    const struct {
        enum stmt_id id;
        const char *source;
        int days;
        int *count;
    } steps[] = {
        { ST_PRUNE_RESTART_MARKS, "intent", r->restart_days, &local.events },
        { ST_PRUNE_RESTART_MARKS, "progress", r->restart_days, &local.events },
        { ST_PRUNE_EVENTS, NULL, r->events_days, &local.events },
        { ST_PRUNE_ALARMS, NULL, r->alarms_days, &local.alarms },
        { ST_PRUNE_HISTORY, NULL, r->history_days, &local.history },
        { ST_PRUNE_STEPS, NULL, r->swap_steps_days, &local.swap_steps },
        { ST_PRUNE_CHARGES, NULL, r->telemetry_days, &local.charges },
        { ST_PRUNE_FLIGHTS, NULL, r->telemetry_days, &local.flights },
        { ST_PRUNE_SWAPS, NULL, r->swaps_days, &local.swaps },
    };
    int rc = begin(reg);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (steps[i].days <= 0)
            continue;  /* 0: kept for ever */
        if ((rc = prune_one(reg, steps[i].id, steps[i].source, now_ms - steps[i].days * day_ms, max_rows, steps[i].count)) != 0)
            return rollback(reg, rc);
    }
    if ((rc = commit(reg)) != 0)
        return rc;
    local.rows = local.events + local.alarms + local.history + local.swap_steps + local.charges +
                 local.flights + local.swaps;
    /* Free pages back to the file system, a few at a time (only on files created with
     * incremental auto-vacuum; elsewhere SQLite reuses them for new rows). */
    if (max_vacuum_pages > 0 && !reg->batch) {
        int mode = 0, freelist = 0;
        if (pragma_int(reg->db, "PRAGMA auto_vacuum", &mode) == 0 && mode == 2 &&
            pragma_int(reg->db, "PRAGMA freelist_count", &freelist) == 0 && freelist > 0) {
            char sql[64];
            snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%d)", max_vacuum_pages);
            if (sqlite3_exec(reg->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                return fail_db(reg, "incremental vacuum");
            local.vacuumed_pages = freelist < max_vacuum_pages ? freelist : max_vacuum_pages;
        }
    }
    if (st)
        *st = local;
    return local.rows;
}

int registry_storage(struct registry *reg, struct registry_storage_info *info)
{
    int page_size = 0, pages = 0, freelist = 0, mode = 0;
    if (pragma_int(reg->db, "PRAGMA page_size", &page_size) != 0 ||
        pragma_int(reg->db, "PRAGMA page_count", &pages) != 0 ||
        pragma_int(reg->db, "PRAGMA freelist_count", &freelist) != 0 ||
        pragma_int(reg->db, "PRAGMA auto_vacuum", &mode) != 0)
        return fail_db(reg, "storage");
    info->page_size = page_size;
    info->bytes = (int64_t)page_size * pages;
    info->free_bytes = (int64_t)page_size * freelist;
    info->incremental_vacuum = mode == 2;
    return 0;
}

int registry_compact(struct registry *reg, struct registry_storage_info *before, struct registry_storage_info *after)
{
    if (reg->readonly || reg->batch || !sqlite3_get_autocommit(reg->db))
        return fail(reg, REGISTRY_ESTATE, "compact: only on a writer between transactions");
    if (before && registry_storage(reg, before) != 0)
        return REGISTRY_EDB;
    /* The page size changes only outside WAL mode; VACUUM rebuilds the file (it needs
     * free space for a copy of the rows) with the format of a new file. */
    char *msg = NULL;
    if (sqlite3_exec(reg->db,
                     "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE; PRAGMA page_size = 1024;"
                     " PRAGMA auto_vacuum = INCREMENTAL; VACUUM;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        fail(reg, REGISTRY_EDB, "compact: %s", msg ? msg : sqlite3_errmsg(reg->db));
        sqlite3_free(msg);
        sqlite3_exec(reg->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        return REGISTRY_EDB;
    }
    if (sqlite3_exec(reg->db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg) != SQLITE_OK) {
        fail(reg, REGISTRY_EDB, "compact: %s", msg ? msg : sqlite3_errmsg(reg->db));
        sqlite3_free(msg);
        return REGISTRY_EDB;
    }
    if (after && registry_storage(reg, after) != 0)
        return REGISTRY_EDB;
    return 0;
}

/* ---- the landing queue ------------------------------------------------------------- */

/* Not in the statement cache: written a few times per landing, read once at start. */
static int queue_exec(struct registry *reg, const char *sql, const struct registry_queued_drone *q, int sysid)
{
    int rc = begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(reg->db, sql, -1, &s, NULL) != SQLITE_OK)
        return rollback(reg, fail_db(reg, "landing queue"));
    if (q) {
        sqlite3_bind_int(s, 1, q->sysid);
        sqlite3_bind_int(s, 2, q->compid);
        sqlite3_bind_int64(s, 3, q->seq);
        sqlite3_bind_int64(s, 4, q->request_ms);
        sqlite3_bind_int(s, 5, q->flags);
        sqlite3_bind_int64(s, 6, q->pack_tag);
        sqlite3_bind_double(s, 7, q->remaining_pct);
        sqlite3_bind_double(s, 8, q->voltage_v);
    } else {
        sqlite3_bind_int(s, 1, sysid);
    }
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return rollback(reg, fail_db(reg, "landing queue"));
    return commit(reg);
}

int registry_queue_put(struct registry *reg, const struct registry_queued_drone *q)
{
    if (!q || q->sysid < 1 || q->sysid > 255 || q->compid < 0 || q->compid > 255)
        return fail(reg, REGISTRY_EINVAL, "landing queue: system id out of range");
    return queue_exec(reg,
                      "INSERT INTO landing_queue (sysid, compid, seq, request_ms, flags, pack_tag,"
                      " remaining_pct, voltage_v) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                      " ON CONFLICT(sysid) DO UPDATE SET compid = excluded.compid, seq = excluded.seq,"
                      " request_ms = excluded.request_ms, flags = excluded.flags,"
                      " pack_tag = excluded.pack_tag, remaining_pct = excluded.remaining_pct,"
                      " voltage_v = excluded.voltage_v",
                      q, 0);
}

int registry_queue_remove(struct registry *reg, int sysid)
{
    return queue_exec(reg, "DELETE FROM landing_queue WHERE sysid = ?1", NULL, sysid);
}

int registry_queue_list(struct registry *reg, int (*fn)(const struct registry_queued_drone *q, void *ctx),
                        void *ctx)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(reg->db,
                           "SELECT sysid, compid, seq, request_ms, flags, pack_tag, remaining_pct, voltage_v"
                           " FROM landing_queue ORDER BY seq, sysid",
                           -1, &s, NULL) != SQLITE_OK)
        return fail_db(reg, "landing queue");
    int n = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct registry_queued_drone q = {
            .sysid = sqlite3_column_int(s, 0), .compid = sqlite3_column_int(s, 1),
            .seq = sqlite3_column_int64(s, 2), .request_ms = sqlite3_column_int64(s, 3),
            .flags = sqlite3_column_int(s, 4), .pack_tag = (uint32_t)sqlite3_column_int64(s, 5),
            .remaining_pct = sqlite3_column_double(s, 6), .voltage_v = sqlite3_column_double(s, 7),
        };
        n++;
        if (fn && fn(&q, ctx) != 0)
            break;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail_db(reg, "landing queue");
    return n;
}
