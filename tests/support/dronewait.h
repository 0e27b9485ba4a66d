/* Test support: the landing queue as the drones saw it. Reads the event log dronesim
 * writes with --events (one JSON object per line: requests sent, answers, queue positions,
 * clearances, silences, on the host's monotonic clock), turns it into one record per
 * request, and replays the documented queue (docs/drone-protocol.md §9: critical first,
 * then first come first served; a drone silent for 5 s loses its place, §8) against it:
 * every clearance must go to the drone the document puts at the head, every position told
 * must be the one the document gives, and every wait must keep the position's promise.
 * Used by the many-drones integration test and bench. */
#ifndef SWAP_TEST_DRONEWAIT_H
#define SWAP_TEST_DRONEWAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DWAIT_MAX_REQS 1024

struct dwait_req {
    uint8_t sysid;
    bool critical;
    double first_tx_ms;  /* first transmission of the request (CLOCK_MONOTONIC ms) */
    double asked_ms;     /* the transmission the station answered: the last one before the answer */
    bool answered;       /* queued (IN_PROGRESS) or accepted */
    unsigned position;   /* first position told, 0 none (accepted at once) */
    unsigned model_position; /* the position the document gives at asked_ms (replay) */
    double cleared_ms;   /* CLEARED_TO_LAND acked, 0 not (yet) */
    double silent_ms;    /* the drone fell silent while this request was open, 0 never */
    double dropped_ms;   /* it left the station's queue (seen from outside, dwait_drop), 0 not */
};

struct dwait_log {
    struct dwait_req req[DWAIT_MAX_REQS];
    unsigned n;
    unsigned swaps;      /* take-offs after a swap (state wait_takeoff -> taking_off) */
    unsigned lines, bad_lines;
};

/* Reads the event file (it may still be growing: a partial last line is ignored).
 * Returns 0, or -1 if it cannot be opened. */
int dwait_load(const char *path, struct dwait_log *log);

/* Notes that sysid's open request left the station's queue at ms (e.g. a silent drone
 * seen gone from `swapctl drones`). */
void dwait_drop(struct dwait_log *log, uint8_t sysid, double ms);

/* Clearances so far. */
unsigned dwait_cleared(const struct dwait_log *log);

/* Replays the documented queue up to now_ms and checks the log against it. tie_ms: two
 * events closer than this may be taken in either order (the link and the scan add a few
 * ms between a drone sending and the station acting). per_position_ms: the promise per
 * position. Silent drones are expected to leave at their drop time (dwait_drop), or
 * drop_ms after they fell silent if none was seen. Fills model_position. expect_queue
 * (may be NULL) receives the drones the document has still waiting at now_ms, in landing
 * order; *n_expect their count. Returns the number of violations; the first is described
 * in why. */
unsigned dwait_check(struct dwait_log *log, double now_ms, double tie_ms, double per_position_ms,
                     double drop_ms, uint8_t *expect_queue, unsigned *n_expect, char *why, size_t whysize);

#endif
