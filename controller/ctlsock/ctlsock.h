/* The control-socket server that swapd embeds: a Unix stream socket carrying
 * newline-delimited JSON (protocol: ctlproto.h). Driven from the scan loop without ever
 * blocking it: all sockets are non-blocking, every call does a bounded amount of work,
 * input lines and output queues are bounded, and a client that misbehaves is dropped.
 *
 * Use: ctlsock_open() at start; put ctlsock_fd() into the scan's poll() (or not: calling
 * ctlsock_service() every scan is enough); ctlsock_service() each scan with the request
 * handler; ctlsock_broadcast_event() when something happens; ctlsock_close() at exit.
 * The handler gets each request already validated against the schema, plus the caller's
 * identity from SO_PEERCRED, and decides authorisation itself (ctlsock_auth_permits()).
 */
#ifndef SWAP_CTLSOCK_H
#define SWAP_CTLSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "config/cfg.h"
#include "ctlproto/ctlproto.h"

#define CTLSOCK_MAX_GROUPS 64
#define CTLSOCK_DEFAULT_PATH "/run/swapd/swapd.sock"

/* Who is on the other end, as the kernel says (SO_PEERCRED at connect time). */
struct ctlsock_peer {
    unsigned long client_id;          /* unique per connection, for logs */
    uid_t uid;
    gid_t gid;
    pid_t pid;
    int n_groups;                     /* supplementary groups (SO_PEERGROUPS or /proc) */
    gid_t groups[CTLSOCK_MAX_GROUPS];
};

/* Answers one valid request. cmd is its schema row (cmd->access tells read from
 * command); request is borrowed. Returns a new reply object, normally built with
 * ctlproto_reply_ok/_command/_error; NULL is answered with an "internal" error. A reply
 * {"ok":true,"result":{"following":true,...}} to "events" subscribes the client to
 * ctlsock_broadcast_event(). The handler must not block. */
typedef json_t *ctlsock_handler(void *user, const struct ctlsock_peer *peer,
                                const struct ctlproto_cmd *cmd, const json_t *request);

struct ctlsock_err {
    char msg[320];
};

struct ctlsock;
struct ctlsock_auth;

/* Creates the socket at path (a stale socket there is replaced; a live one, or a file
 * that is not a socket, is an error), applies mode (e.g. 0660) and, when group is
 * non-empty, the group, then listens. max_clients >= 1 connections at once (more are
 * told "too_many_clients" and closed); max_line >= 64 bytes per request line. Returns
 * NULL with err->msg saying what to do. */
struct ctlsock *ctlsock_open(const char *path, unsigned mode, const char *group, int max_clients,
                             size_t max_line, struct ctlsock_err *err);

/* Closes every connection and the socket, and removes the socket file. NULL is a no-op. */
void ctlsock_close(struct ctlsock *srv);

/* Bytes a client's unsent replies and events may occupy before it is dropped as too
 * slow (default 1 MiB; minimum 4 KiB). */
void ctlsock_set_queue_limit(struct ctlsock *srv, size_t bytes);

/* Connections one uid may hold at once, so that one local user cannot take every
 * place; more are told "too_many_clients" and closed. Never more than max_clients - 1
 * (when max_clients > 1): 0 (the default) and larger values mean that. */
void ctlsock_set_user_limit(struct ctlsock *srv, int max_per_user);

/* Keeps `reserved` of the max_clients places for peers that auth permits to command
 * (ctlsock_auth_permits, checked at connect from SO_PEERCRED and the peer's groups);
 * everyone else shares the other places, so no number of read-only connections can
 * keep an operator out. auth is borrowed and must outlive srv. Without this call
 * (auth NULL) every peer counts as allowed and nothing is reserved. reserved is
 * clamped to max_clients - 1. */
void ctlsock_set_reserved(struct ctlsock *srv, const struct ctlsock_auth *auth, int reserved);

/* Closes, with an "idle_timeout" error line, a connection that has sent no complete
 * request for idle_ms (0: never, the default). A connection following events, or one
 * whose replies are still being sent, is not idle. */
void ctlsock_set_idle_timeout(struct ctlsock *srv, int idle_ms);

/* Checks that the socket file at the path is still the one this server bound (one
 * lstat). If it was removed, or replaced by a socket nobody serves, binds a new socket
 * there with the same mode and group; connections already open are kept. Returns 0
 * when nothing had to be done, 1 when the socket was recreated (worth a warning), -1
 * with err when it could not be (e.g. a live socket or another file is there now; try
 * again later). Meant to be called about once a second. */
int ctlsock_check_path(struct ctlsock *srv, struct ctlsock_err *err);

/* One file descriptor (epoll) that becomes readable whenever ctlsock_service() has
 * work: new connections, input, room to write. For the caller's poll(). */
int ctlsock_fd(const struct ctlsock *srv);

/* Does at most `budget` units of work without blocking: one accept, one read or write
 * system call, or one request answered each count as a unit. Work left over stays for
 * the next call. Returns the units done (0 when idle). */
int ctlsock_service(struct ctlsock *srv, ctlsock_handler *handler, void *user, int budget);

/* Queues {"v":1,"event":event} to every following client (event is borrowed); a client
 * whose queue would overflow is dropped. Writing happens in ctlsock_service(). */
void ctlsock_broadcast_event(struct ctlsock *srv, const json_t *event);

/* Connections open now. */
int ctlsock_client_count(const struct ctlsock *srv);

struct ctlsock_stats {
    unsigned long accepted;       /* connections accepted and served */
    unsigned long refused_full;   /* turned away: max_clients or max_per_user reached */
    unsigned long requests;       /* lines answered (valid or not) */
    unsigned long bad_requests;   /* answered with a protocol error */
    unsigned long dropped_long;   /* dropped: line over max_line */
    unsigned long dropped_slow;   /* dropped: output queue full (client not reading) */
    unsigned long closed;         /* connections ended, for any reason */
    unsigned long dropped_idle;   /* closed: no request for the idle timeout */
    unsigned long recreated;      /* socket file recreated after it was removed */
};
void ctlsock_get_stats(const struct ctlsock *srv, struct ctlsock_stats *out);

/* ---- configuration: the [control] section of swapd.ini -------------------------- */

struct ctlsock_cfg {
    char path[108];
    char mode[8];          /* octal, e.g. "0660" */
    char group[64];        /* group owning the socket; empty: the daemon's */
    char users[512];       /* users allowed to command, comma-separated names or uids */
    char groups[512];      /* groups allowed to command, comma-separated names or gids */
    int max_clients;
    int reserved;          /* places kept for users allowed to command */
    int max_per_user;
    int idle_timeout_s;
    int max_line;
    int queue_kib;
};

extern const struct cfg_key ctlsock_cfg_keys[];
extern const size_t ctlsock_n_cfg_keys;

/* Parses an octal permission string ("0660", "660"). Returns 0, or -1 if it is not
 * octal or outside 0..0777. */
int ctlsock_parse_mode(const char *text, unsigned *mode);

/* Checks what ctlsock_open_cfg() would refuse, without opening anything: the mode is
 * octal, the socket's group exists, some places are left to users who may only read.
 * Returns 0, or -1 with err ("[control] key ..."). */
int ctlsock_cfg_check(const struct ctlsock_cfg *cfg, char *err, size_t errsize);

/* Opens the socket as cfg says (ctlsock_open + queue and per-user limits, the idle
 * timeout, and the places reserved for the users auth permits to command; auth is
 * borrowed and must outlive the server). */
struct ctlsock *ctlsock_open_cfg(const struct ctlsock_cfg *cfg, const struct ctlsock_auth *auth,
                                 struct ctlsock_err *err);

/* ---- authorisation of commands ---------------------------------------------------- */

#define CTLSOCK_AUTH_MAX 32

struct ctlsock_auth {
    int n_uids;
    uid_t uids[CTLSOCK_AUTH_MAX];
    int n_gids;
    gid_t gids[CTLSOCK_AUTH_MAX];
};

/* Resolves comma-separated user and group lists (names or numeric ids; spaces around
 * entries ignored; empty lists allowed) once, at start-up, so the scan never waits on
 * the user database. Returns 0, or -1 with err naming the unknown user or group. */
int ctlsock_auth_init(struct ctlsock_auth *auth, const char *users, const char *groups,
                      char *err, size_t errsize);

/* True if the peer's uid is listed, or its primary or any supplementary group is. */
bool ctlsock_auth_permits(const struct ctlsock_auth *auth, const struct ctlsock_peer *peer);

#endif
