/* The registry's measurements: charge cycles and flights. */
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

/* ---- measurements -------------------------------------------------------------------- */

/* Inserts one row in its own transaction; a foreign-key failure means an unknown tag. */
int registry_insert_one(struct registry *reg, sqlite3_stmt *s, const char *what, int64_t *id)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        if (registry_is_constraint(rc))
            return registry_rollback(reg, registry_fail(reg, REGISTRY_ENOTFOUND, "%s: %s", what, sqlite3_errmsg(reg->db)));
        return registry_rollback(reg, registry_fail_db(reg, what));
    }
    if (id)
        *id = sqlite3_last_insert_rowid(reg->db);
    return registry_commit(reg);
}

int registry_add_charge(struct registry *reg, const struct registry_charge *c)
{
    if (!c || !c->result || !registry_finite_nonneg(c->charge_mah) || c->end_ms < c->start_ms)
        return registry_fail(reg, REGISTRY_EINVAL, "add charge: invalid field");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = registry_stmt(reg, ST_ADD_CHARGE);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(c->tag), BIND_INT(c->slot), BIND_I64(c->start_ms), BIND_I64(c->end_ms),
                        BIND_REAL(c->charge_mah), BIND_REAL_OR_NULL(c->ocv_start_mV),
                        BIND_REAL_OR_NULL(c->ocv_end_mV), BIND_REAL_OR_NULL(c->capacity_mah),
                        BIND_REAL_OR_NULL(c->capacity_sd_mah), BIND_REAL_OR_NULL(c->dcir_mohm),
                        BIND_REAL_OR_NULL(c->peak_temp_degC), BIND_TEXT(c->result));
    return registry_insert_one(reg, s, "add charge", NULL);
}

int registry_add_flight(struct registry *reg, const struct registry_flight *f)
{
    if (!f || f->end_ms < f->start_ms || f->drone < 1 || f->drone > 255)
        return registry_fail(reg, REGISTRY_EINVAL, "add flight: invalid field");
    int rc = registry_begin(reg);
    if (rc)
        return rc;
    sqlite3_stmt *s = registry_stmt(reg, ST_ADD_FLIGHT);
    if (!s)
        return registry_rollback(reg, REGISTRY_EDB);
    registry_bind(s, 1, BIND_I64(f->tag), BIND_INT(f->drone), BIND_I64(f->start_ms), BIND_I64(f->end_ms),
                        BIND_REAL_OR_NULL(f->consumed_mah), BIND_REAL_OR_NULL(f->min_voltage_mV),
                        BIND_REAL_OR_NULL(f->peak_temp_degC));
    if (f->remaining_pct >= 0 && f->remaining_pct <= 100)
        sqlite3_bind_int(s, 8, f->remaining_pct);
    return registry_insert_one(reg, s, "add flight", NULL);
}
