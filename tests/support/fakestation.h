/* Test support: a scripted station behind a real control socket (ctlsock), for testing
 * swapctl and the protocol before and apart from swapd. It holds a plausible state
 * (PackML state, unit mode, swap step, magazine, batteries, drones, alarms, events),
 * applies commands the way the station would (hold -> Held, unhold -> Execute, ...),
 * enforces the command allow-list and logs every command and refusal, one line each.
 * The test moves the swap on with fakestation_advance() (or "advance" on the control
 * pipe of a spawned fake).
 */
#ifndef SWAP_TEST_FAKESTATION_H
#define SWAP_TEST_FAKESTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ctlsock/ctlsock.h"

struct fakestation_opts {
    const char *socket_path;
    unsigned mode;          /* socket permissions, e.g. 0666 */
    const char *users;      /* command allow-list, as in [control] users */
    const char *groups;     /* as in [control] groups */
    const char *log_path;   /* command log (appended, line-buffered); NULL: stderr */
    int n_slots;            /* 1..16; 0 means 8 */
    int max_clients;        /* 0 means 16 */
    size_t max_line;        /* 0 means 4096 */
    size_t queue_limit;     /* 0 means the ctlsock default */
};

struct fakestation;

/* Creates the station and opens its socket. Returns NULL with err on failure. */
struct fakestation *fakestation_new(const struct fakestation_opts *opts, char *err, size_t errsize);
void fakestation_free(struct fakestation *fs);

/* Serves the socket: one ctlsock_service() call with the fake's handler. */
int fakestation_service(struct fakestation *fs, int budget);
struct ctlsock *fakestation_server(struct fakestation *fs);

/* The swap moves one step on (only in Execute): the step changes, and slot contents
 * change when the fresh battery is fetched and the old one stored. */
void fakestation_advance(struct fakestation *fs);
/* Raises an alarm (events are broadcast to followers). */
void fakestation_raise_alarm(struct fakestation *fs, const char *code, const char *text);

const char *fakestation_state(const struct fakestation *fs);
const char *fakestation_step(const struct fakestation *fs);

/* Forks a child that runs a fake station until its control pipe closes (or "quit").
 * Control lines: "advance", "alarm CODE TEXT...". Returns the child's pid and the
 * write end of the pipe in *control_fd, or -1. The caller waits for the socket with
 * proc_wait_path() and stops the child with fakestation_stop(). */
pid_t fakestation_spawn(const struct fakestation_opts *opts, int *control_fd);
/* Writes one control line (a newline is added). Returns 0 or -1. */
int fakestation_send(int control_fd, const char *line);
/* Closes the pipe (the child exits cleanly) and reaps the child (SIGKILL after
 * timeout_ms). Returns its wait status. */
int fakestation_stop(pid_t pid, int control_fd, int timeout_ms);

#endif
