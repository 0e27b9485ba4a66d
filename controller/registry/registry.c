/* The battery registry on SQLite: the schema and its migrations, the prepared
 * statements, names and errors, transactions and batches, the binder, opening and
 * checking the file. The table families live beside it (registry_*.c); see registry.h. */
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

#include "registry/registry_impl.h"

static int quick_check(sqlite3 *db, const char *pragma, char *msg, size_t size);
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
    /* 4 -> 5: write volume. The restart records (the move a starting step will make, the
     * step the chain is in: one or two per step) get a table of their own, appended to
     * like the events but without their index entries; the newest of each kind is
     * carried over from the debug events (the older ones expire with the events). The
     * event index by source served only their lookup, and the index of locations by swap
     * only pruning (the table has one row per pack): both went onto the disk with nearly
     * every transaction. */
    "CREATE TABLE restart_log ("
    "  id INTEGER PRIMARY KEY,"
    "  time_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('intent','progress')),"
    "  text TEXT NOT NULL,"
    "  json TEXT NOT NULL);"
    "INSERT INTO restart_log (time_ms, kind, text, json)"
    "  SELECT time_ms, source, text, json FROM events WHERE json IS NOT NULL AND id IN"
    "  (SELECT MAX(id) FROM events WHERE source = 'intent'"
    "   UNION SELECT MAX(id) FROM events WHERE source = 'progress') ORDER BY id;"
    "DROP INDEX events_source;"
    "DROP INDEX locations_swap;",
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
    /* Walks back from the newest row: a swap writes both kinds, and pruning keeps at
     * most restart_days of rows besides the newest of each kind. */
    [ST_ADD_RESTART] = "INSERT INTO restart_log (time_ms, kind, text, json) VALUES (?1, ?2, ?3, ?4)",
    [ST_LAST_RESTART] =
        "SELECT id, time_ms, 'debug', kind, text, json FROM restart_log"
        " WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
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
        " AND time_ms < ?1",
    /* The restart records expire sooner than the events people read; the newest of each
     * kind always stays. */
    [ST_PRUNE_RESTART] =
        "DELETE FROM restart_log WHERE id IN (SELECT id FROM restart_log ORDER BY id LIMIT ?2)"
        " AND time_ms < ?1"
        " AND id != COALESCE((SELECT id FROM restart_log WHERE kind = 'intent' ORDER BY id DESC LIMIT 1), 0)"
        " AND id != COALESCE((SELECT id FROM restart_log WHERE kind = 'progress' ORDER BY id DESC LIMIT 1), 0)",
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


const char *const registry_place_names[REGISTRY_PLACE_COUNT] = {
    "unknown", "slot", "gripper_a", "gripper_b", "drone", "quarantine",
};
const char *const registry_status_names[REGISTRY_STATUS_COUNT] = {
    "in_service", "quarantine", "retired",
};
const char *const registry_severity_names[REGISTRY_SEVERITY_COUNT] = {
    "debug", "info", "warning", "error", "critical",
};

const char *registry_place_name(enum registry_place p)
{
    return (unsigned)p < REGISTRY_PLACE_COUNT ? registry_place_names[p] : "invalid";
}

const char *registry_status_name(enum registry_status s)
{
    return (unsigned)s < REGISTRY_STATUS_COUNT ? registry_status_names[s] : "invalid";
}

const char *registry_severity_name(enum registry_severity s)
{
    return (unsigned)s < REGISTRY_SEVERITY_COUNT ? registry_severity_names[s] : "invalid";
}

int registry_name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int registry_status_parse(const char *name)
{
    return registry_name_index(registry_status_names, REGISTRY_STATUS_COUNT, name);
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


int registry_fail(struct registry *reg, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reg->err, sizeof reg->err, fmt, ap);
    va_end(ap);
    return code;
}

int registry_fail_db(struct registry *reg, const char *what)
{
    return registry_fail(reg, REGISTRY_EDB, "%s: %s", what, sqlite3_errmsg(reg->db));
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
sqlite3_stmt *registry_stmt(struct registry *reg, enum stmt_id id)
{
    sqlite3_stmt *s = reg->stmt[id];
    if (!s) {
        if (sqlite3_prepare_v3(reg->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            registry_fail_db(reg, "prepare");
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
int registry_exec_stmt(struct registry *reg, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return registry_fail_db(reg, what);
    return 0;
}

/* One write. Alone it is a transaction of its own; inside a batch it is a savepoint, so a
 * write that fails leaves the batch's other writes standing. */
int registry_begin(struct registry *reg)
{
    if (reg->readonly)
        return registry_fail(reg, REGISTRY_EDB, "registry is open read-only");
    sqlite3_stmt *s = registry_stmt(reg, reg->batch ? ST_SAVEPOINT : ST_BEGIN);
    return s ? registry_exec_stmt(reg, s, "begin") : REGISTRY_EDB;
}

int registry_commit(struct registry *reg)
{
    sqlite3_stmt *s = registry_stmt(reg, reg->batch ? ST_RELEASE : ST_COMMIT);
    return s ? registry_exec_stmt(reg, s, "commit") : REGISTRY_EDB;
}

/* Rolls back after a failure and passes its code on; keeps the first error text. */
int registry_rollback(struct registry *reg, int code)
{
    char saved[sizeof reg->err];
    memcpy(saved, reg->err, sizeof saved);
    sqlite3_stmt *s = registry_stmt(reg, reg->batch ? ST_ROLLBACK_TO : ST_ROLLBACK);
    if (s)
        registry_exec_stmt(reg, s, "rollback");
    if (reg->batch && (s = registry_stmt(reg, ST_RELEASE)) != NULL)
        registry_exec_stmt(reg, s, "release");
    memcpy(reg->err, saved, sizeof saved);
    return code;
}

int registry_batch_begin(struct registry *reg)
{
    if (reg->batch)
        return registry_fail(reg, REGISTRY_ESTATE, "a batch is already open");
    int rc = registry_begin(reg);
    if (rc == 0)
        reg->batch = true;
    return rc;
}

int registry_batch_commit(struct registry *reg)
{
    if (!reg->batch)
        return registry_fail(reg, REGISTRY_ESTATE, "no batch is open");
    reg->batch = false;
    int rc = registry_commit(reg);
    if (rc != 0 && !sqlite3_get_autocommit(reg->db))
        registry_rollback(reg, rc);
    return rc;
}

int registry_batch_rollback(struct registry *reg)
{
    if (!reg->batch)
        return registry_fail(reg, REGISTRY_ESTATE, "no batch is open");
    reg->batch = false;
    if (!sqlite3_get_autocommit(reg->db))
        registry_rollback(reg, 0);
    return 0;
}

bool registry_in_batch(const struct registry *reg)
{
    return reg->batch;
}

int registry_set_sync(struct registry *reg, bool full)
{
    if (reg->readonly || reg->batch || !sqlite3_get_autocommit(reg->db))
        return registry_fail(reg, REGISTRY_ESTATE, "set sync: only between transactions of a writer");
    if (reg->sync_normal == !full)
        return 0;
    if (sqlite3_exec(reg->db, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", NULL, NULL,
                     NULL) != SQLITE_OK)
        return registry_fail_db(reg, "set sync");
    reg->sync_normal = !full;
    return 0;
}

/* ---- the binder: one table of values binds a statement's parameters in order ---- */


void registry_bind_args(sqlite3_stmt *s, int first, const struct registry_bind_arg *a, int n)
{
    for (int k = 0; k < n; k++) {
        int i = first + k;
        switch (a[k].kind) {
        case BK_I64: sqlite3_bind_int64(s, i, a[k].i); break;
        case BK_INT: sqlite3_bind_int(s, i, (int)a[k].i); break;
        case BK_REAL: sqlite3_bind_double(s, i, a[k].d); break;
        case BK_TEXT: sqlite3_bind_text(s, i, a[k].t, -1, SQLITE_TRANSIENT); break;
        case BK_CONST_TEXT: sqlite3_bind_text(s, i, a[k].t, -1, SQLITE_STATIC); break;
        case BK_NULL: sqlite3_bind_null(s, i); break;
        case BK_REAL_OR_NULL: registry_bind_real_or_null(s, i, a[k].d); break;
        case BK_TEXT_OR_NULL: registry_bind_text_or_null(s, i, a[k].t); break;
        default: abort();
        }
    }
}

void registry_bind_text_or_null(sqlite3_stmt *s, int i, const char *text)
{
    if (text)
        sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

void registry_bind_real_or_null(sqlite3_stmt *s, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

void registry_copy_column(sqlite3_stmt *s, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(out, size, "%s", t ? (const char *)t : "");
}

/* ---- open ---------------------------------------------------------------------------- */

int registry_pragma_int(sqlite3 *db, const char *sql, int *out)
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
    if (registry_pragma_int(db, "PRAGMA user_version", &version) != 0) {
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
    if (registry_pragma_int(db, "SELECT COUNT(*) FROM sqlite_schema", &n_tables) != 0) {
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
    if (registry_pragma_int(reg->db, "PRAGMA user_version", &version) != 0) {
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
                                  ? "PRAGMA page_size = 512; PRAGMA auto_vacuum = INCREMENTAL; PRAGMA foreign_keys = ON;"
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
    if (registry_pragma_int(reg->db, "PRAGMA user_version", &v) != 0)
        return registry_fail_db(reg, "user_version");
    return v;
}

int registry_check_integrity(struct registry *reg)
{
    char msg[200];
    if (quick_check(reg->db, "PRAGMA integrity_check(1)", msg, sizeof msg) != 0)
        return registry_fail(reg, REGISTRY_EDB, "integrity_check: %s", msg);
    return 0;
}
