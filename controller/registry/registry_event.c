/* The registry's events and alarms: adding, listing and paging events; raising,
 * acknowledging, clearing and listing alarms. */
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
        return registry_fail(reg, REGISTRY_EINVAL, "add event: invalid severity, source or text");
    if (json && !json_ok(json))
        return registry_fail(reg, REGISTRY_EINVAL, "add event: the attached JSON is malformed");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    if ((rc = registry_add_event_in_tx(reg, time_ms, sev, source, text, json)) != 0)
        return registry_rollback(reg, rc);
    return registry_commit(reg);
}

/* Columns id, time_ms, severity, source, text, json into e. */
static void read_event(sqlite3_stmt *s, struct registry_event *e)
{
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(s, 0);
    e->time_ms = sqlite3_column_int64(s, 1);
    int sev = registry_name_index(registry_severity_names, REGISTRY_SEVERITY_COUNT, (const char *)sqlite3_column_text(s, 2));
    e->severity = sev < 0 ? REGISTRY_ERROR : (enum registry_severity)sev;
    registry_copy_column(s, 3, e->source, sizeof e->source);
    registry_copy_column(s, 4, e->text, sizeof e->text);
    if ((size_t)sqlite3_column_bytes(s, 5) < sizeof e->json)
        registry_copy_column(s, 5, e->json, sizeof e->json);
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
        return registry_fail_db(reg, "list events");
    return n;
}

int registry_list_events(struct registry *reg, int64_t since_ms, int limit,
                         int (*fn)(const struct registry_event *e, void *ctx), void *ctx)
{
    sqlite3_stmt *s = registry_stmt(reg, ST_LIST_EVENTS);
    if (!s)
        return REGISTRY_EDB;
    registry_bind(s, 1, BIND_I64(since_ms), BIND_INT(limit > 0 ? limit : -1));
    return walk_events(reg, s, fn, ctx);
}

int registry_add_restart_record(struct registry *reg, int64_t time_ms, const char *kind, const char *text,
                                const char *json)
{
    if (!kind || (strcmp(kind, "intent") != 0 && strcmp(kind, "progress") != 0) || !text || !json)
        return registry_fail(reg, REGISTRY_EINVAL, "restart record: kind intent or progress, with text and JSON");
    if (!json_ok(json))
        return registry_fail(reg, REGISTRY_EINVAL, "restart record: the JSON is malformed");
    sqlite3_stmt *s = registry_stmt(reg, ST_ADD_RESTART);
    if (!s)
        return REGISTRY_EDB;
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    registry_bind(s, 1, BIND_I64(time_ms), BIND_TEXT(kind), BIND_TEXT(text), BIND_TEXT(json));
    if ((rc = registry_exec_stmt(reg, s, "restart record")) != 0)
        return registry_rollback(reg, rc);
    return registry_commit(reg);
}

int registry_last_restart_record(struct registry *reg, const char *kind, struct registry_event *out)
{
    sqlite3_stmt *s = registry_stmt(reg, ST_LAST_RESTART);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        read_event(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return registry_fail(reg, REGISTRY_ENOTFOUND, "no %s record", kind);
    return registry_fail_db(reg, "restart record");
}

int64_t registry_last_event_id(struct registry *reg)
{
    sqlite3_stmt *s = registry_stmt(reg, ST_MAX_EVENT);
    if (!s)
        return REGISTRY_EDB;
    int rc = sqlite3_step(s);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return registry_fail_db(reg, "last event id");
    return id;
}

int registry_page_events(struct registry *reg, int64_t since_ms, int64_t after_id, int64_t upto_id,
                         int limit, bool newest,
                         int (*fn)(const struct registry_event *e, void *ctx), void *ctx)
{
    if (limit <= 0)
        return registry_fail(reg, REGISTRY_EINVAL, "page events: limit must be positive");
    sqlite3_stmt *s;
    if (since_ms > 0) {
        /* Where --since starts, by the time index; the page then walks the ids. */
        if (!(s = registry_stmt(reg, ST_FIRST_EVENT_SINCE)))
            return REGISTRY_EDB;
        sqlite3_bind_int64(s, 1, since_ms);
        int rc = sqlite3_step(s);
        int64_t first = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : INT64_MAX;
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return registry_fail_db(reg, "events since");
        if (first == INT64_MAX)
            return 0;
        if (first - 1 > after_id)
            after_id = first - 1;
    }
    if (!(s = registry_stmt(reg, newest ? ST_NEWEST_EVENTS : ST_PAGE_EVENTS)))
        return REGISTRY_EDB;
    registry_bind(s, 1, BIND_I64(after_id), BIND_I64(upto_id), BIND_I64(since_ms), BIND_INT(limit));
    return walk_events(reg, s, fn, ctx);
}

int registry_raise_alarm(struct registry *reg, const char *code, const char *text,
                         int64_t now_ms, int64_t *alarm_id)
{
    if (!code || !code[0] || !text)
        return registry_fail(reg, REGISTRY_EINVAL, "raise alarm: no code or text");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    char line[300];
    snprintf(line, sizeof line, "alarm %s: %s", code, text);
    if ((rc = registry_add_event_in_tx(reg, now_ms, REGISTRY_ERROR, "alarm", line, NULL)) != 0)
        return registry_rollback(reg, rc);
    sqlite3_stmt *s = registry_stmt(reg, ST_RAISE_ALARM);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_TEXT(code), BIND_TEXT(text), BIND_I64(now_ms));
    return registry_insert_one(reg, s, "raise alarm", alarm_id);
}

static int alarm_transition(struct registry *reg, int64_t alarm_id, int64_t now_ms, bool clear)
{
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = registry_stmt(reg, ST_GET_ALARM);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, alarm_id);
    rc = sqlite3_step(s);
    int acked = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    int cleared = rc == SQLITE_ROW ? sqlite3_column_int(s, 1) : 0;
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return registry_rollback(reg, registry_fail(reg, REGISTRY_ENOTFOUND, "alarm %lld does not exist", (long long)alarm_id));
    if (rc != SQLITE_ROW)
        return registry_rollback(reg, registry_fail_db(reg, "alarm"));
    if (cleared || (!clear && acked))
        return registry_rollback(reg, registry_fail(reg, REGISTRY_ESTATE, "alarm %lld is already %s",
                                  (long long)alarm_id, cleared ? "cleared" : "acknowledged"));
    s = registry_stmt(reg, clear ? ST_CLEAR_ALARM : ST_ACK_ALARM);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(alarm_id), BIND_I64(now_ms));
    if ((rc = registry_exec_stmt(reg, s, clear ? "clear alarm" : "ack alarm")) != 0)
        return registry_rollback(reg, rc);
    return registry_commit(reg);
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
    sqlite3_stmt *s = registry_stmt(reg, ST_LIST_ALARMS);
    if (!s)
        return REGISTRY_EDB;
    registry_bind(s, 1, BIND_I64(since_ms), BIND_INT(active_only ? 1 : 0));
    int n = 0, rc;
    struct registry_alarm a;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&a, 0, sizeof a);
        a.id = sqlite3_column_int64(s, 0);
        registry_copy_column(s, 1, a.code, sizeof a.code);
        registry_copy_column(s, 2, a.text, sizeof a.text);
        a.raised_ms = sqlite3_column_int64(s, 3);
        a.acked_ms = sqlite3_column_int64(s, 4);
        a.cleared_ms = sqlite3_column_int64(s, 5);
        n++;
        if (fn && fn(&a, ctx))
            break;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return registry_fail_db(reg, "list alarms");
    return n;
}
