/* The registry's batteries: commissioning, estimates, status, moves with their
 * location history, lookups and lists. */
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

/* ---- batteries ---------------------------------------------------------------------- */

bool registry_finite_nonneg(double v)
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
    return registry_finite_nonneg(b->capacity_mah) && registry_finite_nonneg(b->capacity_sd_mah) &&
           registry_finite_nonneg(b->dcir_mohm) && registry_finite_nonneg(b->dcir_sd_mohm) &&
           registry_finite_nonneg(b->dcir_new_mohm) && registry_finite_nonneg(b->efc) && b->charge_count >= 0 &&
           !isinf(b->peak_temp_degC);
}

bool registry_is_constraint(int rc)
{
    return (rc & 0xff) == SQLITE_CONSTRAINT;
}

int registry_add_battery(struct registry *reg, const struct registry_battery *b, int64_t now_ms)
{
    if (!b || b->tag == 0 || b->rated_mah <= 0 || b->cells < 1 || b->cells > 14 ||
        !b->serial[0] || !memchr(b->serial, '\0', sizeof b->serial) || !estimates_valid(b) ||
        !location_valid(b->loc))
        return registry_fail(reg, REGISTRY_EINVAL, "add battery: invalid field");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = registry_stmt(reg, ST_ADD_BATTERY);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(b->tag), BIND_TEXT(b->serial), BIND_INT(b->rated_mah), BIND_INT(b->cells),
                        BIND_I64(now_ms), BIND_REAL(b->capacity_mah), BIND_REAL(b->capacity_sd_mah),
                        BIND_REAL(b->dcir_mohm), BIND_REAL(b->dcir_sd_mohm),
                        BIND_REAL(b->dcir_new_mohm > 0 ? b->dcir_new_mohm : b->dcir_mohm), BIND_REAL(b->efc),
                        BIND_INT(b->charge_count), BIND_REAL_OR_NULL(b->peak_temp_degC));
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        if (registry_is_constraint(step))
            return registry_rollback(reg, registry_fail(reg, REGISTRY_EEXIST, "battery SWP-%08X or serial %s already registered",
                                      b->tag, b->serial));
        return registry_rollback(reg, registry_fail_db(reg, "add battery"));
    }
    s = registry_stmt(reg, ST_ADD_LOCATION);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(b->tag), BIND_CONST_TEXT(registry_place_names[b->loc.place]), BIND_INT(b->loc.index),
                        BIND_I64(now_ms), BIND_CONST_TEXT("commission"));
    step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step != SQLITE_DONE) {
        if (registry_is_constraint(step))
            return registry_rollback(reg, registry_fail(reg, REGISTRY_EOCCUPIED, "add battery: place occupied"));
        return registry_rollback(reg, registry_fail_db(reg, "add battery location"));
    }
    s = registry_stmt(reg, ST_ADD_HISTORY);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(b->tag), BIND_CONST_TEXT(registry_place_names[b->loc.place]), BIND_INT(b->loc.index),
                        BIND_I64(now_ms), BIND_CONST_TEXT("commission"), BIND_NULL);
    if ((rc = registry_exec_stmt(reg, s, "add history")) != 0)
        return registry_rollback(reg, rc);
    return registry_commit(reg);
}

static void read_battery(sqlite3_stmt *s, struct registry_battery *b)
{
    memset(b, 0, sizeof *b);
    b->tag = (uint32_t)sqlite3_column_int64(s, 0);
    registry_copy_column(s, 1, b->serial, sizeof b->serial);
    b->rated_mah = sqlite3_column_int(s, 2);
    b->cells = sqlite3_column_int(s, 3);
    int st = registry_status_parse((const char *)sqlite3_column_text(s, 4));
    b->status = st < 0 ? REGISTRY_QUARANTINE : (enum registry_status)st;
    registry_copy_column(s, 5, b->status_reason, sizeof b->status_reason);
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
    int p = registry_name_index(registry_place_names, REGISTRY_PLACE_COUNT, (const char *)sqlite3_column_text(s, 16));
    b->loc.place = p < 0 ? REGISTRY_PLACE_UNKNOWN : (enum registry_place)p;
    b->loc.index = sqlite3_column_int(s, 17);
    b->loc_since_ms = sqlite3_column_int64(s, 18);
}

int registry_get_battery(struct registry *reg, uint32_t tag, struct registry_battery *out)
{
    sqlite3_stmt *s = registry_stmt(reg, ST_GET_BATTERY);
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
        return registry_fail(reg, REGISTRY_ENOTFOUND, "battery SWP-%08X is not registered", tag);
    return registry_fail_db(reg, "get battery");
}

static int list_batteries(struct registry *reg, enum stmt_id id,
                          int (*fn)(const struct registry_battery *b, void *ctx), void *ctx)
{
    sqlite3_stmt *s = registry_stmt(reg, id);
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
        return registry_fail_db(reg, "list batteries");
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
    sqlite3_stmt *s = registry_stmt(reg, ST_COUNT_BATTERIES);
    if (!s)
        return REGISTRY_EDB;
    for (int i = 0; i < REGISTRY_STATUS_COUNT; i++)
        counts[i] = 0;
    int rc, total = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int st = registry_name_index(registry_status_names, REGISTRY_STATUS_COUNT, (const char *)sqlite3_column_text(s, 0));
        int n = sqlite3_column_int(s, 1);
        if (st >= 0)
            counts[st] = n;
        total += n;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return registry_fail_db(reg, "count batteries");
    return total;
}

/* Runs a single-row UPDATE in its own transaction; ENOTFOUND when no row matched. */
static int update_one(struct registry *reg, sqlite3_stmt *s, const char *what, uint32_t tag)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return registry_rollback(reg, registry_fail_db(reg, what));
    if (sqlite3_changes(reg->db) != 1)
        return registry_rollback(reg, registry_fail(reg, REGISTRY_ENOTFOUND, "battery SWP-%08X is not registered", tag));
    return 0;
}

int registry_update_estimates(struct registry *reg, const struct registry_battery *b)
{
    if (!b || !estimates_valid(b))
        return registry_fail(reg, REGISTRY_EINVAL, "update estimates: NaN or negative value");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = registry_stmt(reg, ST_UPDATE_EST);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(b->tag), BIND_REAL(b->capacity_mah), BIND_REAL(b->capacity_sd_mah),
                        BIND_REAL(b->dcir_mohm), BIND_REAL(b->dcir_sd_mohm), BIND_REAL(b->dcir_new_mohm),
                        BIND_REAL(b->efc), BIND_INT(b->charge_count), BIND_REAL_OR_NULL(b->peak_temp_degC),
                        BIND_I64(b->last_used_ms));
    if ((rc = update_one(reg, s, "update estimates", b->tag)) != 0)
        return rc;
    return registry_commit(reg);
}

int registry_add_event_in_tx(struct registry *reg, int64_t time_ms, enum registry_severity sev,
                           const char *source, const char *text, const char *json)
{
    sqlite3_stmt *s = registry_stmt(reg, ST_ADD_EVENT);
    if (!s)
        return REGISTRY_EDB;
    registry_bind(s, 1, BIND_I64(time_ms), BIND_CONST_TEXT(registry_severity_names[sev]), BIND_TEXT(source),
                        BIND_TEXT(text), BIND_TEXT_OR_NULL(json));
    return registry_exec_stmt(reg, s, "add event");
}

int registry_set_status(struct registry *reg, uint32_t tag, enum registry_status status,
                        const char *reason, int64_t now_ms)
{
    if ((unsigned)status >= REGISTRY_STATUS_COUNT || !reason)
        return registry_fail(reg, REGISTRY_EINVAL, "set status: invalid status or reason");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = registry_stmt(reg, ST_SET_STATUS);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(tag), BIND_CONST_TEXT(registry_status_names[status]), BIND_TEXT(reason));
    if ((rc = update_one(reg, s, "set status", tag)) != 0)
        return rc;
    char text[256];
    snprintf(text, sizeof text, "battery SWP-%08X %s: %s", tag, registry_status_names[status], reason);
    if ((rc = registry_add_event_in_tx(reg, now_ms, status == REGISTRY_IN_SERVICE ? REGISTRY_INFO
                                                                         : REGISTRY_WARNING,
                              "registry", text, NULL)) != 0)
        return registry_rollback(reg, rc);
    return registry_commit(reg);
}

int registry_swap_exists(struct registry *reg, int64_t swap_id)
{
    sqlite3_stmt *s = registry_stmt(reg, ST_SWAP_EXISTS);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, swap_id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return registry_fail(reg, REGISTRY_ENOTFOUND, "swap %lld does not exist", (long long)swap_id);
    return registry_fail_db(reg, "swap lookup");
}

int registry_move_battery(struct registry *reg, uint32_t tag, struct registry_location to,
                          const char *step_name, int64_t swap_id, int64_t step_start_ms,
                          int64_t now_ms)
{
    if (!location_valid(to) || !step_name || !step_name[0] || swap_id < 0 ||
        (swap_id > 0 && step_start_ms > now_ms))
        return registry_fail(reg, REGISTRY_EINVAL, "move battery: invalid location, step or times");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = registry_stmt(reg, ST_GET_LOCATION);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, tag);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return registry_rollback(reg, registry_fail(reg, REGISTRY_ENOTFOUND, "battery SWP-%08X is not registered", tag));
    if (rc != SQLITE_ROW)
        return registry_rollback(reg, registry_fail_db(reg, "move battery"));
    if (swap_id > 0 && (rc = registry_swap_exists(reg, swap_id)) != 0)
        return registry_rollback(reg, rc);

    s = registry_stmt(reg, ST_SET_LOCATION);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(tag), BIND_CONST_TEXT(registry_place_names[to.place]), BIND_INT(to.index),
                        BIND_I64(now_ms), BIND_TEXT(step_name));
    if (swap_id > 0)
        sqlite3_bind_int64(s, 6, swap_id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        if (registry_is_constraint(rc)) {
            char where[48];
            registry_location_format(to, where, sizeof where);
            return registry_rollback(reg, registry_fail(reg, REGISTRY_EOCCUPIED,
                                      "cannot move battery SWP-%08X: %s already holds a battery",
                                      tag, where));
        }
        return registry_rollback(reg, registry_fail_db(reg, "move battery"));
    }
    s = registry_stmt(reg, ST_ADD_HISTORY);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(tag), BIND_CONST_TEXT(registry_place_names[to.place]), BIND_INT(to.index),
                        BIND_I64(now_ms), BIND_TEXT(step_name));
    if (swap_id > 0)
        sqlite3_bind_int64(s, 6, swap_id);
    if ((rc = registry_exec_stmt(reg, s, "location history")) != 0)
        return registry_rollback(reg, rc);
    if (swap_id > 0) {
        s = registry_stmt(reg, ST_ADD_STEP);
        if (!s)
            return registry_rollback(reg, REGISTRY_EDB);
        registry_bind(s, 1, BIND_I64(swap_id), BIND_TEXT(step_name), BIND_I64(step_start_ms), BIND_I64(now_ms));
        if ((rc = registry_exec_stmt(reg, s, "swap step")) != 0)
            return registry_rollback(reg, rc);
    }
    return registry_commit(reg);
}

int registry_find_at(struct registry *reg, struct registry_location loc, uint32_t *tag)
{
    if (!location_valid(loc))
        return registry_fail(reg, REGISTRY_EINVAL, "find: invalid location");
    sqlite3_stmt *s = registry_stmt(reg, ST_FIND_AT);
    if (!s)
        return REGISTRY_EDB;
    registry_bind(s, 1, BIND_CONST_TEXT(registry_place_names[loc.place]), BIND_INT(loc.index));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && tag)
        *tag = (uint32_t)sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return REGISTRY_ENOTFOUND;
    return registry_fail_db(reg, "find battery");
}

int registry_list_history(struct registry *reg, uint32_t tag,
                          int (*fn)(struct registry_location loc, int64_t time_ms,
                                    const char *step, int64_t swap_id, void *ctx),
                          void *ctx)
{
    sqlite3_stmt *s = registry_stmt(reg, ST_LIST_HISTORY);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, tag);
    int n = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int p = registry_name_index(registry_place_names, REGISTRY_PLACE_COUNT, (const char *)sqlite3_column_text(s, 0));
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
        return registry_fail_db(reg, "list history");
    return n;
}
