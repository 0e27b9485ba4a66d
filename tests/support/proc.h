/* Test support: start real processes by pid, wait for readiness by probing (never by
 * sleeping a fixed time), and stop only what the test started.
 *
 * proc_spawn() starts argv with stdout and stderr appended to log_path (or inherited
 * when NULL) and returns its pid. The probes poll with a short back-off until their
 * condition holds or timeout_ms passes; they return 0 when ready, -1 on timeout, and
 * -2 if the watched process died first (pid 0: don't watch).
 */
#ifndef SWAP_TEST_PROC_H
#define SWAP_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

pid_t proc_spawn(char *const argv[], const char *log_path);

/* Sends SIGTERM, waits up to timeout_ms, then SIGKILL. Returns the wait status. */
int proc_stop(pid_t pid, int timeout_ms);
/* Sends sig and waits for the process to exit; returns the wait status. */
int proc_kill_wait(pid_t pid, int sig);
/* True while pid (our child) has not exited; reaps it if it has. */
bool proc_alive(pid_t pid);

/* Waits until a TCP connect to 127.0.0.1:port succeeds. */
int proc_wait_tcp(int port, pid_t pid, int timeout_ms);
/* Waits until path exists (e.g. a socket, a pty link, a ready file). */
int proc_wait_path(const char *path, pid_t pid, int timeout_ms);
/* Waits until the file at path contains needle. */
int proc_wait_text(const char *path, const char *needle, pid_t pid, int timeout_ms);
/* Waits until a file holds a decimal number (e.g. a port written by a server started
 * with port 0); stores it in *value. */
int proc_wait_number(const char *path, long *value, pid_t pid, int timeout_ms);

/* Creates a fresh scratch directory under $TMPDIR (or /tmp); returns its path
 * (static storage per call site: copy it). */
int proc_mkdtemp(char *out, size_t size, const char *prefix);
/* Removes a scratch directory tree (best effort). */
void proc_rmtree(const char *path);

/* Path of a program built by this tree: $SWAP_BIN/name (or build/bin/name). */
const char *proc_bin(const char *name, char *buf, size_t size);
/* Path of a shipped config: $SWAP_CONFIGS/name (or configs/name). */
const char *proc_config(const char *name, char *buf, size_t size);

/* Monotonic milliseconds (tests may read the clock; the code under test may not). */
long long proc_now_ms(void);

/* Sleeps ms milliseconds: a probe loop's pause between two looks, never a wait for an
 * event by itself. */
void proc_nap_ms(int ms);

#endif
