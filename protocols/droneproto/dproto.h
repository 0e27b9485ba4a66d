/* The station-drone protocol (docs/drone-protocol.md): the station's heartbeat, the
 * station-specific COMMAND_LONGs (MAV_CMD_USER_1..5), their COMMAND_ACK replies with
 * reason codes, and the retry schedule both sides use. Builders turn typed structs into
 * MAVLink messages, parsers check every parameter and turn them back.
 *
 * Pure code: no I/O, no clock, no allocation. Parsers return 0, or -1 when the message is
 * not the expected command or a parameter is out of range (NaN, not an integer, ...);
 * the output is then left unchanged.
 */
#ifndef SWAP_DPROTO_H
#define SWAP_DPROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "mavlink/mav.h"

#define DPROTO_VERSION 1

/* Who is who on the link. */
#define DPROTO_STATION_SYSID_DEFAULT 200
#define DPROTO_STATION_COMPID MAV_COMP_ID_USER1 /* 25: no component id exists for a dock */
#define DPROTO_DRONE_COMPID MAV_COMP_ID_AUTOPILOT1
#define DPROTO_MAV_AUTOPILOT_GENERIC 0

/* The protocol's commands. */
enum dproto_cmd {
    DPROTO_CMD_SWAP_REQUEST = MAV_CMD_USER_1,   /* drone -> station */
    DPROTO_CMD_CLEARED_TO_LAND = MAV_CMD_USER_2, /* station -> drone */
    DPROTO_CMD_SWAP_PROGRESS = MAV_CMD_USER_3,  /* station -> drone, not retried */
    DPROTO_CMD_CLEARED_TAKEOFF = MAV_CMD_USER_4, /* station -> drone */
    DPROTO_CMD_CANCEL = MAV_CMD_USER_5,         /* either way: withdraw / wave off */
};
/* "SWAP_REQUEST", ... or NULL if command is not one of ours. */
const char *dproto_cmd_name(uint16_t command);

/* Why a swap request was denied or a clearance revoked (COMMAND_ACK.result_param2 and
 * the CANCEL command's param1). */
enum dproto_reason {
    DPROTO_REASON_NONE = 0,
    DPROTO_REASON_NOT_ALLOWED = 1,      /* sysid not on the allow-list: final */
    DPROTO_REASON_NOT_READY = 2,        /* station stopped, held, aborted */
    DPROTO_REASON_NO_BATTERY = 3,       /* no charged, eligible pack in the magazine */
    DPROTO_REASON_WEATHER = 4,          /* weather hold */
    DPROTO_REASON_QUEUE_FULL = 5,
    DPROTO_REASON_MAINTENANCE = 6,      /* unit mode is not Production */
    DPROTO_REASON_BAD_REQUEST = 7,      /* parameters out of range: final */
    DPROTO_REASON_PAD_BLOCKED = 8,      /* pad occupied or obstructed */
    DPROTO_REASON_OPERATOR = 9,         /* operator decision */
    DPROTO_REASON_TIMEOUT = 10,         /* drone missed its clearance window / went silent */
    DPROTO_REASON_PACK_MISMATCH = 11,   /* drone reported an unexpected pack after a swap */
    DPROTO_REASON_COUNT
};
/* "not_allowed", ...; "unknown" outside the enum. */
const char *dproto_reason_name(int reason);
/* True for reasons after which asking again is pointless (not_allowed, bad_request). */
bool dproto_reason_is_final(int reason);

/* ---- station heartbeat -------------------------------------------------------------- */

/* PackML state numbers (PackTags StateCurrent) carried in the low byte of custom_mode. */
enum dproto_packml {
    DPROTO_PACKML_UNDEFINED = 0, DPROTO_PACKML_CLEARING = 1, DPROTO_PACKML_STOPPED = 2,
    DPROTO_PACKML_STARTING = 3, DPROTO_PACKML_IDLE = 4, DPROTO_PACKML_SUSPENDED = 5,
    DPROTO_PACKML_EXECUTE = 6, DPROTO_PACKML_STOPPING = 7, DPROTO_PACKML_ABORTING = 8,
    DPROTO_PACKML_ABORTED = 9, DPROTO_PACKML_HOLDING = 10, DPROTO_PACKML_HELD = 11,
    DPROTO_PACKML_UNHOLDING = 12, DPROTO_PACKML_SUSPENDING = 13,
    DPROTO_PACKML_UNSUSPENDING = 14, DPROTO_PACKML_RESETTING = 15,
    DPROTO_PACKML_COMPLETING = 16, DPROTO_PACKML_COMPLETE = 17,
};
const char *dproto_packml_name(int state);

enum dproto_unit_mode { DPROTO_MODE_PRODUCTION = 1, DPROTO_MODE_MAINTENANCE = 2, DPROTO_MODE_MANUAL = 3 };

#define DPROTO_FLAG_ACCEPTING 0x01   /* swap requests would be queued now */
#define DPROTO_FLAG_PAD_OCCUPIED 0x02
#define DPROTO_FLAG_WEATHER_HOLD 0x04
#define DPROTO_FLAG_ALARM 0x08

struct dproto_station_status {
    uint8_t packml_state;        /* enum dproto_packml */
    uint8_t unit_mode;           /* enum dproto_unit_mode */
    uint8_t flags;               /* DPROTO_FLAG_* */
    uint8_t queue_len;           /* drones waiting, the one on the pad not counted */
};

/* Fills a station HEARTBEAT: type CHARGING_STATION, autopilot INVALID, custom_mode =
 * state | mode << 8 | flags << 16 | queue_len << 24, system_status CRITICAL in Held or
 * Aborted or with an alarm active, else ACTIVE in Execute, STANDBY otherwise. */
void dproto_station_heartbeat(const struct dproto_station_status *st, struct mav_heartbeat *hb);
/* Reads a HEARTBEAT; -1 if it is not a charging station's. */
int dproto_parse_station_heartbeat(const struct mav_heartbeat *hb, struct dproto_station_status *st);

/* ---- drone heartbeat helpers -------------------------------------------------------- */
/* A drone's HEARTBEAT says armed when base_mode has MAV_MODE_FLAG_SAFETY_ARMED. */
bool dproto_heartbeat_armed(const struct mav_heartbeat *hb);

/* ---- SWAP_REQUEST (USER_1), drone -> station ------------------------------------- */

#define DPROTO_REQ_HOT_SWAP 0x01     /* the drone stays powered (backup supply) */
#define DPROTO_REQ_CRITICAL 0x02     /* battery critical: jump the queue */

struct dproto_swap_request {
    float remaining_pct;         /* 0..100, or -1 unknown (param1) */
    uint32_t pack_tag;           /* tag of the pack now in the drone (param2 low, param3 high 16 bits) */
    float voltage_v;             /* pack voltage, 0 unknown (param4) */
    float eta_s;                 /* seconds until over the pad, 0 = there now (param5) */
    uint8_t flags;               /* DPROTO_REQ_* (param6) */
    uint8_t version;             /* DPROTO_VERSION (param7); any other version is a bad request */
};

/* ---- CLEARED_TO_LAND (USER_2), station -> drone ---------------------------------- */
struct dproto_land_clearance {
    uint8_t pad;                 /* pad number, 1.. (param1) */
    uint16_t clearance_id;       /* echoed in nothing; identifies the clearance in logs (param2) */
    float window_s;              /* touch down within this many seconds (param3) */
};

/* ---- SWAP_PROGRESS (USER_3), station -> drone ------------------------------------ */
struct dproto_progress {
    uint8_t step;                /* step number of the swap chain, 1..n_steps (param1) */
    uint8_t n_steps;             /* steps in the chain, 0 = not known (param2) */
    float on_pad_s;              /* time since touchdown (param3) */
    float remaining_s;           /* estimate (param4), -1 unknown */
};

/* ---- CLEARED_TAKEOFF (USER_4), station -> drone ---------------------------------- */
enum dproto_swap_outcome { DPROTO_SWAPPED = 0, DPROTO_NOT_SWAPPED = 1 };
struct dproto_takeoff_clearance {
    uint8_t outcome;             /* enum dproto_swap_outcome (param1) */
    uint32_t pack_tag;           /* pack now in the drone (param2 low, param3 high) */
    float window_s;              /* leave within this many seconds (param4) */
};

/* ---- CANCEL (USER_5), either way --------------------------------------------------- */
struct dproto_cancel {
    uint8_t reason;              /* enum dproto_reason (param1) */
};

/* Builders: fill a COMMAND_LONG addressed to (target_sys, target_comp). confirmation is
 * 0 on the first transmission and counts retransmissions. */
void dproto_build_swap_request(const struct dproto_swap_request *r, uint8_t target_sys,
                               uint8_t target_comp, uint8_t confirmation,
                               struct mav_command_long *out);
void dproto_build_land_clearance(const struct dproto_land_clearance *c, uint8_t target_sys,
                                 uint8_t target_comp, uint8_t confirmation,
                                 struct mav_command_long *out);
void dproto_build_progress(const struct dproto_progress *p, uint8_t target_sys,
                           uint8_t target_comp, struct mav_command_long *out);
void dproto_build_takeoff_clearance(const struct dproto_takeoff_clearance *c, uint8_t target_sys,
                                    uint8_t target_comp, uint8_t confirmation,
                                    struct mav_command_long *out);
void dproto_build_cancel(const struct dproto_cancel *c, uint8_t target_sys, uint8_t target_comp,
                         uint8_t confirmation, struct mav_command_long *out);

/* Parsers: 0, or -1 if cmd is another command or a parameter is invalid. */
int dproto_parse_swap_request(const struct mav_command_long *cmd, struct dproto_swap_request *out);
int dproto_parse_land_clearance(const struct mav_command_long *cmd, struct dproto_land_clearance *out);
int dproto_parse_progress(const struct mav_command_long *cmd, struct dproto_progress *out);
int dproto_parse_takeoff_clearance(const struct mav_command_long *cmd,
                                   struct dproto_takeoff_clearance *out);
int dproto_parse_cancel(const struct mav_command_long *cmd, struct dproto_cancel *out);

/* True when cmd is addressed to (sys, comp): target 0 is a broadcast. */
bool dproto_is_for(const struct mav_command_long *cmd, uint8_t sys, uint8_t comp);

/* ---- replies (COMMAND_ACK) --------------------------------------------------------- */

enum dproto_reply_kind {
    DPROTO_REPLY_ACCEPTED,       /* ACCEPTED */
    DPROTO_REPLY_QUEUED,         /* IN_PROGRESS, progress = queue position (1 = next) */
    DPROTO_REPLY_DENIED,         /* DENIED, result_param2 = reason */
    DPROTO_REPLY_BUSY,           /* TEMPORARILY_REJECTED: try again later */
    DPROTO_REPLY_FAILED,         /* anything else */
};

struct dproto_reply {
    uint16_t command;
    enum dproto_reply_kind kind;
    uint8_t queue_position;      /* QUEUED */
    int32_t reason;              /* DENIED: enum dproto_reason; QUEUED: estimated wait, s */
};

/* Builds the COMMAND_ACK for a reply to (target_sys, target_comp). */
void dproto_build_ack(const struct dproto_reply *r, uint8_t target_sys, uint8_t target_comp,
                      struct mav_command_ack *out);
/* Interprets a COMMAND_ACK; -1 if it carries an unknown result. */
int dproto_parse_ack(const struct mav_command_ack *ack, struct dproto_reply *out);

/* ---- retries ------------------------------------------------------------------------ */

/* Delay before retransmission number attempt (1 = first resend): 500 ms doubling up to
 * 4 s. Clearances are given up after DPROTO_CLEARANCE_ATTEMPTS transmissions. */
#define DPROTO_RETRY_FIRST_MS 500u
#define DPROTO_RETRY_MAX_MS 4000u
#define DPROTO_CLEARANCE_ATTEMPTS 6
uint32_t dproto_retry_delay_ms(unsigned attempt);

/* Link supervision (both sides): a peer unheard for this long is "lost". (A drone whose
 * heartbeat is older than the station's [pad] drone_heartbeat_timeout_ms, 1.5 s shipped,
 * counts as armed: docs/drone-protocol.md §8.) */
#define DPROTO_HEARTBEAT_PERIOD_MS 1000u
#define DPROTO_LINK_LOST_MS 5000u

/* Pack serial as it appears in SMART_BATTERY_INFO: "SWP-%08X" of the tag. out holds 16
 * bytes (not NUL-terminated when full, as in the message). dproto_parse_pack_serial
 * returns 0 and the tag, or -1 if the text is not such a serial. */
void dproto_pack_serial(uint32_t tag, char out[16]);
int dproto_parse_pack_serial(const char serial[16], uint32_t *tag);

#endif
