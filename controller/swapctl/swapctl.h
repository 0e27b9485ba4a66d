/* swapctl internals: the client side of the control socket, table output, and the
 * live console (`swapctl top`). The protocol itself is ctlproto.h.
 */
#ifndef SWAP_SWAPCTL_H
#define SWAP_SWAPCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "ctlproto/ctlproto.h"

/* ---- connection (client.c) ------------------------------------------------------- */

struct swapctl_conn {
    int fd;
    char *buf;          /* received, not yet returned bytes */
    size_t len, cap;
    char path[108];
};

/* Connects to the socket at path. Returns 0, or -1 with an explanation in err that
 * says what to do (and the error counts as CTLPROTO_EXIT_CONNECT). */
int swapctl_connect(struct swapctl_conn *c, const char *path, char *err, size_t errsize);
void swapctl_disconnect(struct swapctl_conn *c);

/* Sends one request line. Returns 0 or -1 (err). */
int swapctl_send(struct swapctl_conn *c, const json_t *req, char *err, size_t errsize);

/* Receives one message (reply or event) within timeout_ms (< 0: wait for ever).
 * Returns a new reference; NULL with err on timeout (*timed_out set), a closed
 * connection or a line that is not a JSON object. */
json_t *swapctl_recv(struct swapctl_conn *c, int timeout_ms, bool *timed_out, char *err,
                     size_t errsize);

/* Sends req and returns its reply, skipping pushed events (handed to on_event when not
 * NULL). NULL with err on any failure. */
json_t *swapctl_call(struct swapctl_conn *c, const json_t *req, int timeout_ms,
                     void (*on_event)(void *, const json_t *), void *user, char *err,
                     size_t errsize);

/* True if there are complete lines buffered (poll() on fd would not show them). */
bool swapctl_buffered(const struct swapctl_conn *c);

/* ---- output helpers (format.c) ---------------------------------------------------- */

struct swapctl_table {
    int n_cols;
    const char *const *headers;
    const char *align;      /* per column: 'l' or 'r' */
    char **cells;           /* n_rows * n_cols */
    int n_rows, cap_rows;
};

void swapctl_table_init(struct swapctl_table *t, int n_cols, const char *const *headers,
                        const char *align);
/* Adds a row of n_cols strings (copied). */
void swapctl_table_row(struct swapctl_table *t, const char *const *cells);
/* Prints with columns padded to their widest cell, two spaces apart; frees the rows. */
void swapctl_table_print(struct swapctl_table *t, FILE *f);

/* "12.5" for a number, "-" for null/missing; with a unit suffix when known. */
const char *swapctl_num(char *buf, size_t size, const json_t *v, const char *fmt,
                        const char *unit);
/* A string member or "-". */
const char *swapctl_str(const json_t *obj, const char *key);
/* Local "YYYY-MM-DD HH:MM:SS" (long) or "HH:MM:SS" (short) for ms since the epoch. */
const char *swapctl_time(char *buf, size_t size, long long ms, bool with_date);
/* A bar of width cells ("#####.....") for pct 0..100; unknown: blanks. */
const char *swapctl_bar(char *buf, size_t size, const json_t *pct, int width);

/* Parses --since: ms since the epoch, "30s"/"5m"/"2h"/"1d" ago, "HH:MM[:SS]" today,
 * or "YYYY-MM-DD[THH:MM[:SS]]" (local time; "Z" suffix: UTC). Returns 0 or -1. */
int swapctl_parse_since(const char *text, long long now_ms, long long *since_ms);

/* ---- live console (top.c) --------------------------------------------------------- */

struct swapctl_top_opts {
    const char *socket_path;
    int interval_ms;
    bool plain;          /* force the plain text view */
    int count;           /* plain view: blocks to print, 0 = until interrupted */
    int timeout_ms;
};

/* Runs the console until q (or count blocks). Returns a swapctl exit code. */
int swapctl_top(const struct swapctl_top_opts *opts);

#endif
