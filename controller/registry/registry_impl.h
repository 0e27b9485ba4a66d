/* The registry's internal interface: the connection, its statements, the binder and the
 * helpers its files (registry.c and registry_*.c, one per table family) share. Not for
 * callers: registry.h is the registry's API. */
#ifndef SWAP_REGISTRY_IMPL_H
#define SWAP_REGISTRY_IMPL_H

#include <sqlite3.h>
#include <stdint.h>

#include "registry/registry.h"

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
    ST_ADD_RESTART, ST_LAST_RESTART, ST_MAX_EVENT, ST_FIRST_EVENT_SINCE, ST_PAGE_EVENTS, ST_NEWEST_EVENTS,
    ST_LIST_WORKING, ST_COUNT_BATTERIES,
    ST_PRUNE_EVENTS, ST_PRUNE_RESTART, ST_PRUNE_HISTORY, ST_PRUNE_CHARGES, ST_PRUNE_FLIGHTS, ST_PRUNE_STEPS,
    ST_PRUNE_ALARMS, ST_PRUNE_SWAPS,
    ST_COUNT
};

struct registry {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    bool readonly;
    bool batch;                   /* inside registry_batch_begin(): writes are savepoints */
    bool sync_normal;             /* registry_set_sync(false): commits without waiting for the disk */
    char err[256];
};

enum registry_bind_kind {
    BK_I64, BK_INT, BK_REAL, BK_TEXT, BK_CONST_TEXT, BK_NULL, BK_REAL_OR_NULL, BK_TEXT_OR_NULL
};
struct registry_bind_arg {
    enum registry_bind_kind kind;
    int64_t i;
    double d;
    const char *t;
};
#define BIND_I64(v) { .kind = BK_I64, .i = (int64_t)(v) }
#define BIND_INT(v) { .kind = BK_INT, .i = (int)(v) }
#define BIND_REAL(v) { .kind = BK_REAL, .d = (v) }
#define BIND_TEXT(v) { .kind = BK_TEXT, .t = (v) }          /* copied by SQLite */
#define BIND_CONST_TEXT(v) { .kind = BK_CONST_TEXT, .t = (v) } /* a string that outlives the statement */
#define BIND_NULL { .kind = BK_NULL }
#define BIND_REAL_OR_NULL(v) { .kind = BK_REAL_OR_NULL, .d = (v) }  /* NULL when not finite */
#define BIND_TEXT_OR_NULL(v) { .kind = BK_TEXT_OR_NULL, .t = (v) }  /* NULL when NULL */
/* registry_bind(s, first, BIND_I64(tag), BIND_TEXT(serial), ...): parameters first, first+1, ... */
#define registry_bind(s, first, ...)                                                                  \
    registry_bind_args((s), (first), (const struct registry_bind_arg[]){ __VA_ARGS__ },                \
                       (int)(sizeof((const struct registry_bind_arg[]){ __VA_ARGS__ }) /               \
                             sizeof(struct registry_bind_arg)))

extern const char *const registry_place_names[REGISTRY_PLACE_COUNT];
extern const char *const registry_status_names[REGISTRY_STATUS_COUNT];
extern const char *const registry_severity_names[REGISTRY_SEVERITY_COUNT];
int registry_name_index(const char *const *names, int n, const char *name);
int registry_fail(struct registry *reg, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int registry_fail_db(struct registry *reg, const char *what);
sqlite3_stmt *registry_stmt(struct registry *reg, enum stmt_id id);
int registry_exec_stmt(struct registry *reg, sqlite3_stmt *s, const char *what);
int registry_begin(struct registry *reg);
int registry_commit(struct registry *reg);
int registry_rollback(struct registry *reg, int code);
void registry_copy_column(sqlite3_stmt *s, int col, char *out, size_t size);
int registry_pragma_int(sqlite3 *db, const char *sql, int *out);
bool registry_finite_nonneg(double v);
bool registry_is_constraint(int rc);
int registry_add_event_in_tx(struct registry *reg, int64_t time_ms, enum registry_severity sev,
                           const char *source, const char *text, const char *json);
int registry_swap_exists(struct registry *reg, int64_t swap_id);
int registry_insert_one(struct registry *reg, sqlite3_stmt *s, const char *what, int64_t *id);
void registry_bind_text_or_null(sqlite3_stmt *s, int i, const char *text);
void registry_bind_real_or_null(sqlite3_stmt *s, int i, double v);
void registry_bind_args(sqlite3_stmt *s, int first, const struct registry_bind_arg *a, int n);

#endif
