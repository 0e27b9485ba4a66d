/* The registry's retention: pruning expired detail in small batches, and the storage
 * figures. */
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

/* ---- retention ------------------------------------------------------------------------ */

static int prune_one(struct registry *reg, enum stmt_id id, int64_t cutoff_ms, int max_rows, int *deleted)
{
    sqlite3_stmt *s = registry_stmt(reg, id);
    if (!s)
        return REGISTRY_EDB;
    registry_bind(s, 1, BIND_I64(cutoff_ms), BIND_INT(max_rows));
    int rc = registry_exec_stmt(reg, s, "prune");
    if (rc == 0)
        *deleted += sqlite3_changes(reg->db);
    return rc;
}

int registry_prune(struct registry *reg, const struct registry_retention *r, int64_t now_ms,
                   int max_rows, int max_vacuum_pages, struct registry_prune_stats *st)
{
    if (!r || max_rows <= 0)
        return registry_fail(reg, REGISTRY_EINVAL, "prune: no retention or batch size");
    struct registry_prune_stats local = { 0 };
    const int64_t day_ms = 86400000LL;
    const struct {
        enum stmt_id id;
        int days;
        int *count;
    } steps[] = {
        { ST_PRUNE_RESTART, r->restart_days, &local.restart },
        { ST_PRUNE_EVENTS, r->events_days, &local.events },
        { ST_PRUNE_ALARMS, r->alarms_days, &local.alarms },
        { ST_PRUNE_HISTORY, r->history_days, &local.history },
        { ST_PRUNE_STEPS, r->swap_steps_days, &local.swap_steps },
        { ST_PRUNE_CHARGES, r->telemetry_days, &local.charges },
        { ST_PRUNE_FLIGHTS, r->telemetry_days, &local.flights },
        { ST_PRUNE_SWAPS, r->swaps_days, &local.swaps },
    };
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (steps[i].days <= 0)
            continue;  /* 0: kept for ever */
        if ((rc = prune_one(reg, steps[i].id, now_ms - steps[i].days * day_ms, max_rows, steps[i].count)) != 0)
            return registry_rollback(reg, rc);
    }
    if ((rc = registry_commit(reg)) != 0)
        return rc;
    local.rows = local.events + local.restart + local.alarms + local.history + local.swap_steps + local.charges +
                 local.flights + local.swaps;
    /* Free pages back to the file system, a few at a time (only on files created with
     * incremental auto-vacuum; elsewhere SQLite reuses them for new rows). */
    if (max_vacuum_pages > 0 && !reg->batch) {
        int mode = 0, freelist = 0;
        if (registry_pragma_int(reg->db, "PRAGMA auto_vacuum", &mode) == 0 && mode == 2 &&
            registry_pragma_int(reg->db, "PRAGMA freelist_count", &freelist) == 0 && freelist > 0) {
            char sql[64];
            snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%d)", max_vacuum_pages);
            if (sqlite3_exec(reg->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                return registry_fail_db(reg, "incremental vacuum");
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
    if (registry_pragma_int(reg->db, "PRAGMA page_size", &page_size) != 0 ||
        registry_pragma_int(reg->db, "PRAGMA page_count", &pages) != 0 ||
        registry_pragma_int(reg->db, "PRAGMA freelist_count", &freelist) != 0 ||
        registry_pragma_int(reg->db, "PRAGMA auto_vacuum", &mode) != 0)
        return registry_fail_db(reg, "storage");
    info->page_size = page_size;
    info->bytes = (int64_t)page_size * pages;
    info->free_bytes = (int64_t)page_size * freelist;
    info->incremental_vacuum = mode == 2;
    return 0;
}

int registry_compact(struct registry *reg, struct registry_storage_info *before, struct registry_storage_info *after)
{
    if (reg->readonly || reg->batch || !sqlite3_get_autocommit(reg->db))
        return registry_fail(reg, REGISTRY_ESTATE, "compact: only on a writer between transactions");
    if (before && registry_storage(reg, before) != 0)
        return REGISTRY_EDB;
    /* The page size changes only outside WAL mode; VACUUM rebuilds the file (it needs
     * free space for a copy of the rows) with the format of a new file. */
    char *msg = NULL;
    if (sqlite3_exec(reg->db,
                     "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE; PRAGMA page_size = 512;"
                     " PRAGMA auto_vacuum = INCREMENTAL; VACUUM;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        registry_fail(reg, REGISTRY_EDB, "compact: %s", msg ? msg : sqlite3_errmsg(reg->db));
        sqlite3_free(msg);
        sqlite3_exec(reg->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        return REGISTRY_EDB;
    }
    if (sqlite3_exec(reg->db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg) != SQLITE_OK) {
        registry_fail(reg, REGISTRY_EDB, "compact: %s", msg ? msg : sqlite3_errmsg(reg->db));
        sqlite3_free(msg);
        return REGISTRY_EDB;
    }
    if (after && registry_storage(reg, after) != 0)
        return REGISTRY_EDB;
    return 0;
}
