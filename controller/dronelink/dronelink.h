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

struct dronelink_pending {
    bool active;
    struct mav_command_long cmd;
    unsigned attempts;
    uint64_t next_ms;
};

struct dronelink_drone {
    uint8_t sysid, compid;
    uint64_t last_heard_ms, last_heartbeat_ms;
    bool armed;
    uint8_t landed_state;
    bool request_open;
    uint64_t request_ms;
    struct dproto_swap_request request;
    uint64_t battery_report_ms;
    uint32_t battery_tag;
    uint32_t battery_mV;
    struct mav_battery_status battery_status; /* the last one, whole (battery health) */
    uint32_t battery_status_seq;  /* counts BATTERY_STATUS frames */
    struct dronelink_pending pending;
    uint64_t frames;
};

struct dronelink_counters {
    uint64_t frames, requests, denied_not_allowed, denied_other, bad_requests,
        retransmissions, gave_up, table_full, out_overflow;
};

struct dronelink {
    uint8_t sysid, compid;
    struct mav_tx tx;
    struct mav_parser parser;
    struct mav_signing signing;
    bool signed_link;
    uint8_t allow[DRONELINK_MAX_ALLOW];
    size_t n_allow;              /* 0: any drone may swap */
    struct dronelink_drone drones[STATION_MAX_DRONES];
    uint64_t next_heartbeat_ms;
    uint16_t clearance_id;
    uint8_t out[DRONELINK_OUT_MAX];
    size_t out_len;
    struct dronelink_counters count;
};

/* Sets up the station side. key may be NULL (unsigned link); require_signing drops
 * unsigned frames. allow is a comma-separated list of system ids ("" = any). Returns 0,
 * or -1 with err filled for a malformed allow-list. */
int dronelink_init(struct dronelink *dl, uint8_t station_sysid, const uint8_t *key,
                   bool require_signing, const char *allow, char *err, size_t errsize);

/* Feeds received bytes at now_ms (unix_us keeps the signing clock). */
void dronelink_receive(struct dronelink *dl, const uint8_t *buf, size_t len, uint64_t now_ms,
                       uint64_t unix_us);

/* The core's view: drones in landing-queue order (open requests first, oldest and
 * critical first), then the rest; unused entries have sysid 0. */
void dronelink_fill_inputs(const struct dronelink *dl, struct station_drone_in out[STATION_MAX_DRONES]);

/* Turns the core's messages into commands, retransmits unacknowledged clearances on
 * the protocol's schedule, and sends the station heartbeat once a second. */
void dronelink_send(struct dronelink *dl, const struct station_drone_msg *msgs, int n_msgs,
                    const struct dproto_station_status *status, uint64_t now_ms, uint64_t unix_us);

/* The station heartbeat's status from the core's outputs (PackML state, unit mode, flags)
 * and the drones' open requests (queue length). */
void dronelink_station_status(const struct station_outputs *o, const struct station_drone_in drones[STATION_MAX_DRONES],
                              struct dproto_station_status *st);

/* Moves up to size bytes of pending output into buf; returns the count. */
size_t dronelink_take_output(struct dronelink *dl, uint8_t *buf, size_t size);

/* Landing queue position of sysid (1 = next), 0 if it has no open request. */
unsigned dronelink_queue_position(const struct dronelink *dl, uint8_t sysid);

#endif
