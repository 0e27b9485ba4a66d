/* One controller per station: swapd holds an exclusive lock on a file beside its
 * database (DB.lock) for its whole life, and one on the plant and the drone link it
 * drives, taken before it opens the database, the plant link or the drone link. A second swapd on the same database is refused at start
 * (exit code SWAPD_EXIT_RUNNING, which the systemd unit does not restart), so two
 * Modbus masters never drive one robot and two writers never share one registry. */
#ifndef SWAP_SWAPD_LOCKFILE_H
#define SWAP_SWAPD_LOCKFILE_H

#include <stddef.h>

#define SWAPD_EXIT_RUNNING 3

/* Takes the lock for db_path (the file db_path + ".lock", created 0640 if missing)
 * and writes this process's pid into it. Returns the descriptor, to keep open until
 * exit (the kernel releases the lock when the process ends, however it ends); or -1
 * with err saying who holds it (errno EWOULDBLOCK) or why the file cannot be used. */
int swapd_lock_take(const char *db_path, char *err, size_t errsize);

/* The same for what swapd drives, so that two swapd with different databases still
 * cannot drive one plant or talk on one radio: an abstract Unix socket named after
 * `what` and `key` (e.g. "plant", "10.0.0.5:502"), bound and listened on for the
 * process's life (released by the kernel on any exit). Returns its descriptor, or -1
 * with err naming the holder's pid (errno EADDRINUSE) or the failure. Keys are compared
 * as text: callers pass canonical keys (below). */
int swapd_lock_endpoint(const char *what, const char *key, char *err, size_t errsize);

/* The plant at host:port, by address: every address host resolves to is locked as
 * "ADDR:PORT" (IPv6 as "[ADDR]:PORT"), so "localhost", "127.0.0.1" and "::1" are one
 * plant. A name that does not resolve is locked as written. 0, or -1 as above. */
int swapd_lock_plant(const char *host, int port, char *err, size_t errsize);

/* The drone link by what it opens: a serial or pty device by its real path (a symlink
 * or another speed is the same radio), a UDP endpoint by address and port; "pty:new"
 * makes a device of its own and takes no lock. 0, or -1 as above. */
int swapd_lock_drone_link(const char *endpoint, char *err, size_t errsize);

#endif
