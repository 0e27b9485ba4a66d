/* The registry's landing queue: the drones waiting to land, kept across a restart. */
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

/* ---- the landing queue ------------------------------------------------------------- */

/* Not in the statement cache: written a few times per landing, read once at start. */
static int queue_exec(struct registry *reg, const char *sql, const struct registry_queued_drone *q, int sysid)
{
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(reg->db, sql, -1, &s, NULL) != SQLITE_OK)
        return registry_rollback(reg, registry_fail_db(reg, "landing queue"));
    if (q) {
        sqlite3_bind_int(s, 1, q->sysid);
        registry_bind(s, 2, BIND_INT(q->compid), BIND_I64(q->seq), BIND_I64(q->request_ms), BIND_INT(q->flags),
                            BIND_I64(q->pack_tag), BIND_REAL(q->remaining_pct), BIND_REAL(q->voltage_v));
    } else {
        sqlite3_bind_int(s, 1, sysid);
    }
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return registry_rollback(reg, registry_fail_db(reg, "landing queue"));
    return registry_commit(reg);
}

int registry_queue_put(struct registry *reg, const struct registry_queued_drone *q)
{
    if (!q || q->sysid < 1 || q->sysid > 255 || q->compid < 0 || q->compid > 255)
        return registry_fail(reg, REGISTRY_EINVAL, "landing queue: system id out of range");
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
        return registry_fail_db(reg, "landing queue");
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
        return registry_fail_db(reg, "landing queue");
    return n;
}
