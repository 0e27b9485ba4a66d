/* The read-only HTTP endpoint ([http] in swapd.ini, off by default): /metrics, the JSON
 * API /api/v1/..., the event stream (Server-Sent Events) and the status page, served by
 * libmicrohttpd on threads of its own from a snapshot the scan publishes. The scan never
 * waits for it: publishing is a trylock that gives up when a request is taking a
 * reference at that instant. Only GET and HEAD are answered; every other method gets 405.
 */
#ifndef SWAP_HTTPD_H
#define SWAP_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "metrics.h"

struct httpd_cfg {
    bool enabled;
    char address[64];
    int port;
    int max_connections;
    int max_per_ip;
    int timeout_s;
    int publish_ms;
    char www_dir[256];
};

extern const struct cfg_key httpd_cfg_keys[];
extern const size_t httpd_n_cfg_keys;

/* The JSON documents of the API: each is the control protocol's reply to the read
 * command of the same name, rendered by the console's own reply builders. */
enum httpd_doc { HTTPD_DOC_STATUS, HTTPD_DOC_SLOTS, HTTPD_DOC_BATTERIES, HTTPD_DOC_DRONES,
                 HTTPD_DOC_ALARMS, HTTPD_DOC_COUNT };
extern const char *const httpd_doc_names[HTTPD_DOC_COUNT];

#define HTTPD_EVENTS 256

struct httpd_event {
    long long seq;
    int64_t t_ms;
    char *json;                  /* the control protocol's event object */
};

/* One immutable picture of the station. Built by the scan, then handed over. */
struct httpd_snapshot {
    int refs;
    char *doc[HTTPD_DOC_COUNT];
    size_t doc_len[HTTPD_DOC_COUNT];
    struct httpd_metrics metrics;
    int n_events;                /* oldest first */
    struct httpd_event events[HTTPD_EVENTS];
};

struct httpd_snapshot *httpd_snapshot_new(void);
/* Drops a reference; the last one frees the snapshot. */
void httpd_snapshot_release(struct httpd_snapshot *s);

struct httpd;

/* Starts the server when cfg->enabled; NULL with err filled when it cannot listen. With
 * enabled false it returns NULL and err "" (nothing is opened). The bound port is in
 * httpd_port() (a configured port 0 picks a free one). */
struct httpd *httpd_start(const struct httpd_cfg *cfg, char *err, size_t errsize);
int httpd_port(const struct httpd *h);
/* Offers a snapshot. Returns true when published (the server owns it now); false when a
 * reader held the lock at that instant: the caller keeps s and offers again later. */
bool httpd_publish(struct httpd *h, struct httpd_snapshot *s);
/* Stops the server (ends event streams) and drops the current snapshot. */
void httpd_stop(struct httpd *h);

#endif
