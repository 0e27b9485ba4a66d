/* The station's side of the drone link (docs/drone-protocol.md): decodes what the
 * drones say into the core's drone facts, keeps the landing queue in request order
 * (critical packs first), answers swap requests at once, turns the core's drone
 * messages into protocol commands with retransmission until acknowledged, and sends the
 * station heartbeat. Drones outside the allow-list are answered "not allowed" and never
 * reach the core.
 *
 * Transport-free and clock-free: the shell passes received bytes and the time in, and
 * collects the bytes to send.
 */
#ifndef SWAP_DRONELINK_H
#define SWAP_DRONELINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/station_io.h"
#include "droneproto/dproto.h"
#include "mavlink/mav.h"

#define DRONELINK_OUT_MAX 16384
#define DRONELINK_MAX_ALLOW 64
/* Drones the link keeps track of at once (and so the longest landing queue: a request
 * finding every entry taken by a drone with an open request is denied queue_full). */
#define DRONELINK_MAX_DRONES 64

/* The promise behind a queue position (docs/drone-protocol.md §9): a drone told position n
 * is cleared within n times this, when the station runs (each drone ahead holds the pad
 * for at most its landing window, 120 s by default, plus its swap and departure). */
#define DRONELINK_WAIT_PER_POSITION_MS 180000u

struct dronelink_pending {
    bool active;
    struct mav_command_long cmd;
    unsigned attempts;
    uint64_t next_ms;
};

/* Where a drone stands with the station (docs/drone-protocol.md §5, §8, §9). */
enum dronelink_phase {
    DRONELINK_IDLE,      /* no open request */
    DRONELINK_QUEUED,    /* request queued: waiting for its clearance */
    DRONELINK_CLEARED,   /* cleared to land, not yet on the pad */
    DRONELINK_ON_PAD,    /* touched down (load cell): the swap runs to CLEARED_TAKEOFF */
    DRONELINK_PHASE_COUNT
};
/* "idle", "queued", "cleared", "on_pad". */
const char *dronelink_phase_name(int phase);

struct dronelink_drone {
    uint8_t sysid, compid;
    uint64_t last_heard_ms, last_heartbeat_ms;
    bool armed;
    uint8_t landed_state;
    enum dronelink_phase phase;
    uint64_t request_seq;        /* arrival order of the open request (one per request) */
    uint64_t request_ms;         /* when it was queued */
    uint64_t cleared_ms, on_pad_ms;
    uint32_t window_ms;          /* landing window of the clearance */
    uint8_t pos_sent;            /* last queue position acked, 0 none */
    struct dproto_swap_request request;
    uint64_t battery_report_ms;
    uint32_t battery_tag;
    uint32_t battery_mV;
    struct mav_battery_status battery_status; /* the last one, whole (battery health) */
    uint32_t battery_status_seq;  /* counts BATTERY_STATUS frames */
    struct dronelink_pending pending;
    uint64_t frames;
    /* Put back from the registry at start (dronelink_restore_request): kept queued, but
     * handed to the core only once the station accepts requests, until this deadline. */
    bool restored;
    uint64_t restore_deadline_ms;
};

struct dronelink_counters {
    uint64_t frames, requests, denied_not_allowed, denied_other, bad_requests,
        retransmissions, gave_up, table_full, out_overflow, timeouts, cancels, forgotten;
};

struct dronelink {
    uint8_t sysid, compid;
    struct mav_tx tx;
    struct mav_parser parser;
    struct mav_signing signing;
    bool signed_link;
    uint8_t allow[DRONELINK_MAX_ALLOW];
    size_t n_allow;              /* 0: any drone may swap */
    struct dronelink_drone drones[DRONELINK_MAX_DRONES];
    uint64_t next_heartbeat_ms;
    uint64_t request_seq;
    uint16_t clearance_id;
    /* The station as of the last dronelink_station_status(). */
    struct dproto_station_status status;
    uint8_t serving_sysid;
    bool pad_occupied;
    uint8_t out[DRONELINK_OUT_MAX];
    size_t out_len;
    struct dronelink_counters count;
};

/* Sets up the station side. key may be NULL (unsigned link); require_signing drops
 * unsigned frames. allow is a comma-separated list of system ids ("" = any). Returns 0,
 * or -1 with err filled for a malformed allow-list. */
int dronelink_init(struct dronelink *dl, uint8_t station_sysid, const uint8_t *key,
                   bool require_signing, const char *allow, char *err, size_t errsize);

/* Feeds received bytes at now_ms (unix_us keeps the signing clock). Swap requests are
 * answered at once: queued with the position, or denied (not accepting, bad request,
 * not allowed, queue full). */
void dronelink_receive(struct dronelink *dl, const uint8_t *buf, size_t len, uint64_t now_ms,
                       uint64_t unix_us);

/* The core's view: the drone being served first, then drones standing on the ground,
 * then the landing queue in its order (critical first, then by arrival), then the rest;
 * at most STATION_MAX_DRONES; unused entries have sysid 0. */
void dronelink_fill_inputs(const struct dronelink *dl, struct station_drone_in out[STATION_MAX_DRONES]);

/* Turns the core's messages into commands, retransmits unacknowledged commands on the
 * protocol's schedule, withdraws clearances and places that timed out (§8), acks every
 * queued drone whose position changed, forgets silent drones with nothing open, and
 * sends the station heartbeat once a second. */
void dronelink_send(struct dronelink *dl, const struct station_drone_msg *msgs, int n_msgs,
                    const struct dproto_station_status *status, uint64_t now_ms, uint64_t unix_us);

/* The station heartbeat's status from the core's outputs (PackML state, unit mode, flags)
 * and the link's landing queue (its length); also tells the link which drone the core
 * serves and whether the pad is occupied. Call it before dronelink_send each scan. */
void dronelink_station_status(struct dronelink *dl, const struct station_outputs *o,
                              struct dproto_station_status *st);

/* Whether the station takes new swap requests now (the heartbeat's accepting flag), and
 * if not, the reason a request is denied with. */
bool dronelink_accepting(const struct dproto_station_status *st, int *deny_reason);

/* Moves up to size bytes of pending output into buf; returns the count. */
size_t dronelink_take_output(struct dronelink *dl, uint8_t *buf, size_t size);

/* Landing queue position of sysid (1 = next), 0 if it is not waiting in the queue (the
 * drone cleared or on the pad is not counted). */
unsigned dronelink_queue_position(const struct dronelink *dl, uint8_t sysid);
/* Drones waiting in the queue (the one cleared or on the pad not counted). */
unsigned dronelink_queue_length(const struct dronelink *dl);
/* The waiting drones' system ids in landing order (first lands next); returns the count
 * (at most max are written). */
unsigned dronelink_queue(const struct dronelink *dl, uint8_t *sysids, unsigned max);
/* How long a restored request waits for the restarted station to accept requests
 * before it is denied not_ready (the drone then asks again when it likes). */
#define DRONELINK_RESTORE_WAIT_MS 120000u

/* A request the previous run had queued (the registry's landing queue), put back at
 * start in the order given: the drone is queued as if it had just asked (request time
 * now_ms, heard at now_ms), so it is acked its position on the next send and loses its
 * place like any queued drone if it is not heard within DPROTO_LINK_LOST_MS (§8). The
 * core sees it only once the station accepts requests (a restarted station starts
 * stopped, and would deny it); not accepting within DRONELINK_RESTORE_WAIT_MS, it is
 * denied not_ready. Returns 0, or -1 if the drone is not allowed or the table is full. */
int dronelink_restore_request(struct dronelink *dl, uint8_t sysid, uint8_t compid,
                              const struct dproto_swap_request *req, uint64_t now_ms);

/* The link's entry for sysid, or NULL. */
const struct dronelink_drone *dronelink_find(const struct dronelink *dl, uint8_t sysid);

#endif
