/* Reading a registry file from a test the way another process would: a read-only
 * connection of its own, opened and closed around one query. */
#ifndef SWAP_TEST_DBREAD_H
#define SWAP_TEST_DBREAD_H

#include <stddef.h>
#include <stdint.h>

/* The first column of the first row of sql on the file at path (an integer), or
 * DBREAD_NONE when the file does not open, the statement does not prepare or there is
 * no row; the reason is then in err (when not NULL, size bytes). */
#define DBREAD_NONE INT64_MIN
int64_t dbread_scalar(const char *path, const char *sql, char *err, size_t size);

#endif
