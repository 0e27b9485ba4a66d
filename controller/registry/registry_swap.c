/* The registry's swaps: begin, steps, finish, lookup. */
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

/* ---- swaps --------------------------------------------------------------------------- */

int registry_begin_swap(struct registry *reg, int drone, int64_t touchdown_ms, int64_t *swap_id)
{
    if (drone < 1 || drone > 255 || !swap_id)
        return registry_fail(reg, REGISTRY_EINVAL, "registry_begin swap: drone system id must be 1..255");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = registry_stmt(reg, ST_BEGIN_SWAP);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_INT(drone), BIND_I64(touchdown_ms));
    return registry_insert_one(reg, s, "registry_begin swap", swap_id);
}

int registry_record_step(struct registry *reg, int64_t swap_id, const char *step,
                         int64_t start_ms, int64_t end_ms)
{
    if (!step || !step[0] || end_ms < start_ms)
        return registry_fail(reg, REGISTRY_EINVAL, "record step: invalid step or times");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    if ((rc = registry_swap_exists(reg, swap_id)) != 0)
        return registry_rollback(reg, rc);
    sqlite3_stmt *s = registry_stmt(reg, ST_ADD_STEP);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(swap_id), BIND_TEXT(step), BIND_I64(start_ms), BIND_I64(end_ms));
    return registry_insert_one(reg, s, "record step", NULL);
}

int registry_finish_swap(struct registry *reg, int64_t swap_id, uint32_t battery_out,
                         uint32_t battery_in, int64_t cleared_ms, const char *result)
{
    if (!result || !result[0])
        return registry_fail(reg, REGISTRY_EINVAL, "finish swap: no result");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    if ((rc = registry_swap_exists(reg, swap_id)) != 0)
        return registry_rollback(reg, rc);
    sqlite3_stmt *s = registry_stmt(reg, ST_FINISH_SWAP);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    sqlite3_bind_int64(s, 1, swap_id);
    if (battery_out)
        sqlite3_bind_int64(s, 2, battery_out);
    if (battery_in)
        sqlite3_bind_int64(s, 3, battery_in);
    registry_bind(s, 4, BIND_I64(cleared_ms), BIND_TEXT(result));
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        if (registry_is_constraint(rc))
            return registry_rollback(reg, registry_fail(reg, REGISTRY_ENOTFOUND, "finish swap: unknown battery"));
        return registry_rollback(reg, registry_fail_db(reg, "finish swap"));
    }
    if (sqlite3_changes(reg->db) != 1)
        return registry_rollback(reg, registry_fail(reg, REGISTRY_ESTATE, "swap %lld is already finished",
                                  (long long)swap_id));
    return registry_commit(reg);
}

int registry_get_swap(struct registry *reg, int64_t swap_id, int64_t *on_pad_ms,
                      struct registry_swap_step *steps, int max, int *n_steps)
{
    sqlite3_stmt *s = registry_stmt(reg, ST_GET_SWAP);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, swap_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && on_pad_ms)
        *on_pad_ms = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return registry_fail(reg, REGISTRY_ENOTFOUND, "swap %lld does not exist", (long long)swap_id);
    if (rc != SQLITE_ROW)
        return registry_fail_db(reg, "get swap");
    s = registry_stmt(reg, ST_LIST_STEPS);
    if (!s)
        return REGISTRY_EDB;
    sqlite3_bind_int64(s, 1, swap_id);
    int n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (steps && n < max) {
            registry_copy_column(s, 0, steps[n].step, sizeof steps[n].step);
            steps[n].start_ms = sqlite3_column_int64(s, 1);
            steps[n].end_ms = sqlite3_column_int64(s, 2);
        }
        n++;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return registry_fail_db(reg, "swap steps");
    if (n_steps)
        *n_steps = n;
    return 0;
}
