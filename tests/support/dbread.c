/* One query on a read-only connection of its own; see dbread.h. */
#include "dbread.h"

#include <sqlite3.h>
#include <stdio.h>

int64_t dbread_scalar(const char *path, const char *sql, char *err, size_t size)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = DBREAD_NONE;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        if (err && size)
            snprintf(err, size, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
    } else if (sqlite3_step(s) == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
    } else if (err && size) {
        snprintf(err, size, "%s: no row for %s", path, sql);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}
