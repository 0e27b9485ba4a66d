/* swapsim's parts: the Modbus TCP front end (modbus_server.c) and the Unix control
 * socket (control.c) around one plant model, driven by the single poll loop in main.c.
 * Nothing here reads the clock: main.c passes the monotonic time in (now_ms), so the
 * plant's physics step and the request handling never interleave.
 */
#ifndef SWAP_SWAPSIM_H
#define SWAP_SWAPSIM_H

#include <modbus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "plant/plant.h"
#include "plantcfg/plantcfg.h"
#include "plantmap/plantmap.h"

#define SWAPSIM_MAX_CLIENTS 32       /* Modbus TCP connections served at once */
#define SWAPSIM_MAX_CONTROL 16       /* control-socket connections */
#define SWAPSIM_ADU_MAX 260          /* MODBUS_TCP_MAX_ADU_LENGTH */
#define SWAPSIM_BYTE_TIMEOUT_MS 500  /* a started frame must complete within this */
#define SWAPSIM_LINE_MAX 65536       /* longest control request, bytes */
#define SWAPSIM_OUT_MAX (8u << 20)   /* unread control replies before the client is dropped */
#define SWAPSIM_LOG_BATCH 4096       /* command-log entries per "log" reply */

struct swapsim_mbclient {
    int fd;                          /* -1: slot free */
    uint8_t in[2 * SWAPSIM_ADU_MAX];
    size_t in_len;
    int64_t partial_since_ms;        /* when the unfinished frame started; -1: none */
    int64_t due_ms;                  /* a complete frame waits for reply_delay; -1: none */
};

struct swapsim_ctlclient {
    int fd;                          /* -1: slot free */
    char *in;                        /* SWAPSIM_LINE_MAX + 1 bytes */
    size_t in_len;
    bool discarding;                 /* skipping the rest of an over-long line */
    char *out;
    size_t out_len, out_cap;
};

struct swapsim {
    struct plantcfg cfg;
    struct sim_plant *plant;
    double realtime_factor;
    const char *state_path;          /* --state: the physical plant, saved after every request */
    int state_fd;

    /* Modbus TCP */
    modbus_t *mb;                    /* used to build and send replies */
    modbus_mapping_t *map;           /* scratch image for modbus_reply, refreshed per request */
    int listen_fd;
    int port;
    char bind_addr[64];
    struct swapsim_mbclient mb_clients[SWAPSIM_MAX_CLIENTS];

    /* the layout served (--map): NULL serves the plant's own image, as in regmap.h */
    struct plantmap_server *pms;
    int unit_id;                     /* TCP: answer only this unit id (others: exception 11); -1 any */
    /* RTU (--rtu DEVICE): s->mb is the RTU context on the line instead of TCP */
    bool rtu;
    int rtu_fd;
    int rtu_baud, rtu_char_bits;
    bool rtu_pace;                   /* hold each reply for the time the line would take */
    /* server-level faults */
    unsigned reply_delay_ms;
    bool silent;
    /* test control: a drone cleared to land hovers over the pad until released */
    bool pad_hold;

    /* control socket */
    int ctl_fd;                      /* -1: none */
    char ctl_path[108];
    struct swapsim_ctlclient ctl_clients[SWAPSIM_MAX_CONTROL];

    /* counters for "status" */
    uint64_t requests, exceptions, accepted, closed, refused;
};

/* ---- Modbus TCP (modbus_server.c) ---------------------------------------------------- */

/* Listens on addr:port (port 0 picks a free port; s->port holds the chosen one).
 * Returns 0, or -1 with a reason in err. */
int swapsim_mb_open(struct swapsim *s, const char *addr, int port, char *err, size_t errsize);
void swapsim_mb_close(struct swapsim *s);

/* Accepts every pending connection; beyond SWAPSIM_MAX_CLIENTS a connection is closed at
 * once so the client sees EOF rather than waiting in the backlog. */
void swapsim_mb_accept(struct swapsim *s);

/* Reads what client c sent and serves each complete request (or queues it behind
 * reply_delay). A framing error (protocol id != 0, MBAP length outside 2..254) or EOF
 * closes the connection; nothing else is affected. */
void swapsim_mb_readable(struct swapsim *s, struct swapsim_mbclient *c, int64_t now_ms);

/* Serves delayed requests that are due and drops clients whose unfinished frame is
 * older than SWAPSIM_BYTE_TIMEOUT_MS. */
void swapsim_mb_timers(struct swapsim *s, int64_t now_ms);

/* Earliest time swapsim_mb_timers has work, or INT64_MAX. */
int64_t swapsim_mb_next_deadline(const struct swapsim *s);

/* True while c waits for a delayed reply (its socket is then not read: TCP holds the
 * client's further requests). */
bool swapsim_mb_waiting(const struct swapsim_mbclient *c);

/* Closes every Modbus connection (fault "drop_connections"). Returns how many. */
int swapsim_mb_drop_all(struct swapsim *s);
int swapsim_mb_client_count(const struct swapsim *s);

/* Opens the RTU line (a serial device or a pty) as server with unit id `unit`.
 * Returns 0, or -1 with a reason in err. */
int swapsim_rtu_open(struct swapsim *s, const char *device, int baud, char parity, int data_bits, int stop_bits,
                     int unit, char *err, size_t errsize);
/* Receives and serves one RTU request (the line is readable). */
void swapsim_rtu_readable(struct swapsim *s);

/* Serves one complete ADU (TCP: MBAP header included, len = 6 + MBAP length; RTU: the
 * address byte first, CRC included) against the plant and sends the reply (TCP: on fd).
 * Returns 0, or -1 if the reply could not be sent. */
int swapsim_mb_serve(struct swapsim *s, const uint8_t *adu, size_t len, int fd);

/* ---- control socket (control.c) ----------------------------------------------------- */

/* Binds the Unix socket at path (a stale socket file is replaced; a live server there is
 * an error). Returns 0, or -1 with a reason in err. */
int swapsim_ctl_open(struct swapsim *s, const char *path, char *err, size_t errsize);
void swapsim_ctl_close(struct swapsim *s);
void swapsim_ctl_accept(struct swapsim *s);
void swapsim_ctl_readable(struct swapsim *s, struct swapsim_ctlclient *c);
void swapsim_ctl_writable(struct swapsim *s, struct swapsim_ctlclient *c);

/* Handles one request line; returns the reply as a malloc'ed JSON text without the
 * newline (never NULL unless out of memory). Bad JSON or arguments give an
 * {"ok":false,"error":...} reply and change nothing. */
char *swapsim_ctl_handle(struct swapsim *s, const char *line, size_t len);

/* Applies a --fault SPEC: the inject request's JSON ({"fault":"axis_jam","a":0,...}) or
 * the short form NAME[,a=N][,b=N][,value=X]. Returns 0, or -1 with a reason in err. */
int swapsim_fault_spec(struct swapsim *s, const char *spec, char *err, size_t errsize);

/* "CO_X_ENABLE", "HR_SLOT_CHARGER_MODE[3]", ... for the command log; "?" if unnamed. */
const char *swapsim_reg_name(enum sim_table t, unsigned addr, char *buf, size_t size);

/* Writes one command-log line "T_MS TABLE ADDR NAME OLD NEW" to f. */
void swapsim_log_line(FILE *f, const struct sim_log_entry *e);

#endif
