/* MAVLink v2 codec for the station–drone link: frames, the messages the station uses,
 * a byte-at-a-time parser that resynchronises after garbage, and MAVLink 2 signing.
 * Written from the protocol description (docs/mavlink.md); no generated code.
 *
 * Pure computation: no I/O, no clock reads (signing takes the time as an argument),
 * no allocation. Errors: functions return -1 and the parser counts every dropped frame
 * by reason (enum mav_drop); mav_drop_str() names them.
 */
#ifndef SWAP_MAV_H
#define SWAP_MAV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAV_STX_V2 0xFD
#define MAV_STX_V1 0xFE
#define MAV_HEADER_LEN 10           /* magic included */
#define MAV_MAX_PAYLOAD 255
#define MAV_SIGNATURE_LEN 13
#define MAV_MAX_FRAME (MAV_HEADER_LEN + MAV_MAX_PAYLOAD + 2 + MAV_SIGNATURE_LEN) /* 280 */
#define MAV_IFLAG_SIGNED 0x01

/* ---- message ids and enums used by the station ----------------------------------- */
enum mav_msgid {
    MAV_MSG_HEARTBEAT = 0,
    MAV_MSG_SYS_STATUS = 1,
    MAV_MSG_COMMAND_LONG = 76,
    MAV_MSG_COMMAND_ACK = 77,
    MAV_MSG_BATTERY_STATUS = 147,
    MAV_MSG_EXTENDED_SYS_STATE = 245,
    MAV_MSG_STATUSTEXT = 253,
    MAV_MSG_SMART_BATTERY_INFO = 370,
    MAV_MSG_BATTERY_INFO = 372,
};

#define MAV_TYPE_QUADROTOR 2
#define MAV_TYPE_CHARGING_STATION 31
#define MAV_AUTOPILOT_INVALID 8
#define MAV_MODE_FLAG_SAFETY_ARMED 0x80
#define MAV_STATE_STANDBY 3
#define MAV_STATE_ACTIVE 4
#define MAV_LANDED_UNDEFINED 0
#define MAV_LANDED_ON_GROUND 1
#define MAV_LANDED_IN_AIR 2
#define MAV_LANDED_TAKEOFF 3
#define MAV_LANDED_LANDING 4
#define MAV_CMD_NAV_LAND 21
#define MAV_CMD_NAV_TAKEOFF 22
#define MAV_CMD_COMPONENT_ARM_DISARM 400
#define MAV_CMD_USER_1 31010
#define MAV_CMD_USER_2 31011
#define MAV_CMD_USER_3 31012
#define MAV_CMD_USER_4 31013
#define MAV_CMD_USER_5 31014
enum mav_result {
    MAV_RESULT_ACCEPTED = 0, MAV_RESULT_TEMPORARILY_REJECTED = 1, MAV_RESULT_DENIED = 2,
    MAV_RESULT_UNSUPPORTED = 3, MAV_RESULT_FAILED = 4, MAV_RESULT_IN_PROGRESS = 5,
    MAV_RESULT_CANCELLED = 6,
};
#define MAV_COMP_ID_AUTOPILOT1 1
#define MAV_COMP_ID_USER1 25

/* ---- messages (fields in natural order; the codec handles wire order) ------------ */
struct mav_heartbeat {
    uint32_t custom_mode;
    uint8_t type, autopilot, base_mode, system_status, mavlink_version;
};

struct mav_sys_status {
    uint32_t sensors_present, sensors_enabled, sensors_health;
    uint16_t load, voltage_battery;
    int16_t current_battery;
    uint16_t drop_rate_comm, errors_comm, errors_count1, errors_count2, errors_count3,
        errors_count4;
    int8_t battery_remaining;
    uint32_t present_ext, enabled_ext, health_ext; /* extensions */
};

struct mav_command_long {
    float param[7];
    uint16_t command;
    uint8_t target_system, target_component, confirmation;
};

struct mav_command_ack {
    uint16_t command;
    uint8_t result;
    uint8_t progress;            /* extensions from here */
    int32_t result_param2;
    uint8_t target_system, target_component;
};

struct mav_statustext {
    uint8_t severity;
    char text[50];               /* not NUL-terminated when all 50 are used */
    uint16_t id;                 /* extensions */
    uint8_t chunk_seq;
};

struct mav_battery_status {
    int32_t current_consumed;    /* mAh */
    int32_t energy_consumed;     /* hJ */
    int16_t temperature;         /* cdegC, INT16_MAX unknown */
    uint16_t voltages[10];       /* mV, UINT16_MAX unused */
    int16_t current_battery;     /* cA, -1 unknown */
    uint8_t id, battery_function, type;
    int8_t battery_remaining;    /* %, -1 unknown */
    int32_t time_remaining;      /* extensions */
    uint8_t charge_state;
    uint16_t voltages_ext[4];
    uint8_t mode;
    uint32_t fault_bitmask;
};

struct mav_extended_sys_state {
    uint8_t vtol_state, landed_state;
};

struct mav_smart_battery_info {
    int32_t capacity_full_specification, capacity_full; /* mAh */
    uint16_t cycle_count, weight, discharge_min_v, charging_min_v, resting_min_v;
    uint8_t id, battery_function, type;
    char serial_number[16];
    char device_name[50];
    uint16_t charging_max_v;     /* extensions */
    uint8_t cells_in_series;
    uint32_t discharge_max_current, discharge_max_burst_current;
    char manufacture_date[11];
};

struct mav_battery_info {
    float discharge_min_v, charging_min_v, resting_min_v, charging_max_v,
        charging_max_current, nominal_voltage, discharge_max_current,
        discharge_max_burst_current, design_capacity, full_charge_capacity;
    uint16_t cycle_count, weight;
    uint8_t id, battery_function, type, state_of_health, cells_in_series;
    char manufacture_date[9];
    char serial_number[32];
    char name[50];
};

/* Any message struct: a place to decode a frame into before looking at its msgid. */
union mav_msg_any {
    struct mav_heartbeat heartbeat;
    struct mav_sys_status sys_status;
    struct mav_command_long command_long;
    struct mav_command_ack command_ack;
    struct mav_statustext statustext;
    struct mav_battery_status battery_status;
    struct mav_extended_sys_state extended_sys_state;
    struct mav_smart_battery_info smart_battery_info;
    struct mav_battery_info battery_info;
};

/* ---- frames ------------------------------------------------------------------------ */
struct mav_frame {
    uint8_t version;             /* 1 or 2 */
    uint8_t len;                 /* payload length as received (after truncation) */
    uint8_t incompat_flags, compat_flags, seq, sysid, compid;
    uint32_t msgid;
    uint8_t payload[MAV_MAX_PAYLOAD]; /* zero-filled beyond len up to the message's max */
    bool is_signed;
    uint8_t link_id;
    uint64_t timestamp;          /* signature timestamp, 10 us units since 2015-01-01 */
    uint8_t signature[6];
    uint16_t checksum;           /* CRC as received (lets a signature be re-verified) */
};

/* Field types as the XML definitions name them (mav_ftype_name()). */
enum mav_ftype {
    MAV_FT_CHAR, MAV_FT_UINT8, MAV_FT_INT8, MAV_FT_UINT16, MAV_FT_INT16,
    MAV_FT_UINT32, MAV_FT_INT32, MAV_FT_FLOAT, MAV_FT_COUNT
};
/* "char", "uint8_t", ... ; "?" for an out-of-range value. */
const char *mav_ftype_name(enum mav_ftype t);
/* Size in bytes of one element of type t (0 for an out-of-range value). */
size_t mav_ftype_size(enum mav_ftype t);

/* One field of a message, in wire order. name is the XML field name (what CRC_EXTRA
 * and mavdump use), which in a few places is longer than the struct member, e.g.
 * SYS_STATUS onboard_control_sensors_present <-> struct member sensors_present. */
struct mav_field {
    const char *name;
    uint8_t type;                /* enum mav_ftype */
    uint8_t count;               /* array length; 0 for a scalar */
    uint16_t offset;             /* byte offset of the member in the message struct */
    bool ext;                    /* extension field: not part of CRC_EXTRA */
};

/* Description of a known message: id, CRC_EXTRA, lengths, name, and its field table
 * (which drives encoding, decoding and mavdump's JSON). NULL if unknown. */
struct mav_msg_info {
    uint32_t id;
    const char *name;
    uint8_t crc_extra;
    uint8_t base_len, max_len;
    uint16_t struct_size;        /* sizeof the message struct */
    uint8_t n_fields;
    const struct mav_field *fields;
};
const struct mav_msg_info *mav_msg_info(uint32_t msgid);
/* The known messages in a fixed order, for iteration: index 0..mav_msg_count()-1;
 * NULL past the end. */
size_t mav_msg_count(void);
const struct mav_msg_info *mav_msg_info_at(size_t index);

/* A message of the dialects an autopilot sends (minimal, standard, common,
 * ardupilotmega, development), decoded or not: enough to check a frame's CRC and length.
 * The table (mav_dialect.c) is generated by tests/node/dialect_table.js. */
struct mav_dialect_entry {
    uint32_t id;
    uint8_t crc_extra;
    uint8_t base_len, max_len;
};
extern const struct mav_dialect_entry mav_dialect[];
extern const size_t mav_dialect_count;
/* The entry for msgid, or NULL when no dialect names it. */
const struct mav_dialect_entry *mav_dialect_find(uint32_t msgid);

/* CRC-16/MCRF4XX (X.25) step, as used by MAVLink. */
uint16_t mav_crc_accumulate(uint8_t byte, uint16_t crc);
/* The same over n bytes, continuing from crc (table-driven, eight bytes at a time). */
uint16_t mav_crc_buf(const uint8_t *bytes, size_t n, uint16_t crc);

/* ---- signing ------------------------------------------------------------------------ */
#define MAV_SIGN_MAX_STREAMS 64

struct mav_sign_stream {
    uint8_t sysid, compid, link_id;
    uint64_t timestamp;
};

/* One link's signing state: the key, our link id and timestamp for sending, and the
 * last timestamp seen per (sysid, compid, link_id) stream for replay protection. */
struct mav_signing {
    uint8_t key[32];
    uint8_t link_id;
    bool require;                /* drop unsigned and MAVLink 1 frames */
    uint64_t tx_timestamp;       /* last used; next frame uses max(now, last + 1) */
    uint64_t now;                /* local time, 10 us units since 2015-01-01 */
    size_t n_streams;
    struct mav_sign_stream streams[MAV_SIGN_MAX_STREAMS];
};

/* Stream table policy: a stream is created only by a frame whose signature verified.
 * When the table is full, the slot of the stream with the oldest timestamp is reused
 * only if that timestamp is already outside the stale window (so none of its old frames
 * could be replayed: they would be rejected as stale); otherwise the new stream's frame
 * is dropped (MAV_DROP_TOO_MANY_STREAMS) and every known stream keeps its state. */
#define MAV_SIGN_STALE_UNITS 6000000ULL /* one minute in 10 us units */

/* Initialises signing with a 32-byte key. */
void mav_signing_init(struct mav_signing *s, const uint8_t key[32], uint8_t link_id, bool require);
/* Sets the local time from Unix microseconds (the shell reads the clock). The local
 * time never goes backwards: a smaller value than the current one is ignored. */
void mav_signing_set_time_unix_us(struct mav_signing *s, uint64_t unix_us);

/* Checks a received signed frame against key: recomputes the 48-bit signature from the
 * frame's header, payload, checksum, link id and timestamp. False for unsigned frames. */
bool mav_signature_verify(const uint8_t key[32], const struct mav_frame *frame);

/* Applies the link's receive rules to a parsed frame (signature, replay, stale, stream
 * table, unsigned/MAVLink 1 on a requiring link) and records its timestamp. Returns -1
 * when accepted, otherwise the enum mav_drop reason (nothing is changed then). The
 * parser calls this itself when it has a signing state. */
int mav_signing_accept(struct mav_signing *s, const struct mav_frame *frame);

/* ---- encoding -------------------------------------------------------------------- */

struct mav_tx {
    uint8_t sysid, compid;
    uint8_t seq;                 /* incremented by every encode */
    struct mav_signing *signing; /* NULL: unsigned */
};

/* Encodes message msgid from its struct (e.g. struct mav_heartbeat) into buf, which must
 * hold MAV_MAX_FRAME bytes, truncating trailing zero payload bytes (never below 1) and
 * signing when tx->signing is set. Returns the frame length, or -1 for an unknown msgid. */
int mav_encode(struct mav_tx *tx, uint32_t msgid, const void *msg, uint8_t *buf);

/* Encodes a frame of any message from its wire payload (len bytes, sent as given: no
 * truncation) and the message's CRC_EXTRA, signing when tx->signing is set. buf must
 * hold MAV_MAX_FRAME bytes. Returns the frame length, or -1 for a bad argument. */
int mav_encode_raw(struct mav_tx *tx, uint32_t msgid, uint8_t crc_extra, const uint8_t *payload,
                   uint8_t len, uint8_t *buf);

/* Decodes a received frame into the message struct for frame->msgid (which the caller
 * sizes correctly). Returns 0, or -1 if the message is unknown. */
int mav_decode(const struct mav_frame *frame, void *msg);

/* ---- parsing ------------------------------------------------------------------------ */

enum mav_drop {
    MAV_DROP_GARBAGE_BYTES,      /* bytes skipped while looking for a magic byte */
    MAV_DROP_BAD_CRC,
    MAV_DROP_BAD_LEN,            /* len above the message's maximum */
    MAV_DROP_UNKNOWN_MSG,        /* valid frame (CRC checked), message we do not decode: skipped */
    MAV_DROP_INCOMPAT_FLAGS,
    MAV_DROP_BAD_SYSID,          /* sysid 0 */
    MAV_DROP_UNSIGNED,           /* unsigned (or MAVLink 1) on a link requiring signing */
    MAV_DROP_BAD_SIGNATURE,
    MAV_DROP_REPLAY,             /* timestamp not newer than the stream's last */
    MAV_DROP_STALE,              /* timestamp more than a minute behind local time */
    MAV_DROP_TOO_MANY_STREAMS,   /* signed stream table full */
    MAV_DROP_V1,                 /* MAVLink 1 frame (counted; decoded when signing not required) */
    MAV_DROP_UNCHECKED,          /* header of a message no dialect names: cannot be checked */
    MAV_DROP_COUNT
};
const char *mav_drop_str(enum mav_drop d);

/* The parser keeps at most one frame's worth of bytes (MAV_MAX_FRAME): the candidate
 * frame in buf[0..have) and, after a rejected candidate, the bytes still to be
 * rescanned in buf[have..have+pend). A candidate's bytes are consumed only when its CRC
 * holds; any other candidate is rescanned from the byte after its magic, so a good
 * frame that starts inside a corrupted one is not lost. A frame of a message the
 * station does not decode is checked with the dialect table's CRC_EXTRA
 * (mav_dialect_find()) before it is skipped. A header of a message no dialect names
 * cannot be checked: its length may be the corrupted byte, so it is never trusted and
 * the bytes after its magic are rescanned (only with deliver_unknown, and when it
 * starts right where a good frame ended, is it handed out whole, unchecked). So the
 * only way to lose an intact frame of a known message is a corrupted frame whose CRC
 * happens to hold (1 in 65,536 corrupted candidates). */
struct mav_parser {
    int state;
    bool synced;                 /* the candidate starts where a good frame ended */
    size_t have, need, pend;
    uint8_t buf[MAV_MAX_FRAME];
    struct mav_signing *signing; /* NULL: no signature checks */
    bool deliver_unknown;        /* also return frames of messages we do not decode */
    uint64_t frames_ok;
    uint64_t drops[MAV_DROP_COUNT];
};

/* Initialises the parser; signing may be NULL (signatures then are not verified, and a
 * signed frame is accepted on its CRC alone). */
void mav_parser_init(struct mav_parser *p, struct mav_signing *signing);

/* Feeds one byte. Returns 1 when it completes a valid frame of a known message (copied
 * to *out; *out is scratch space otherwise), 0 otherwise. Never fails; bad input is
 * counted in p->drops. After a rejected candidate one byte can complete more than one
 * frame: after a 1, call mav_parser_poll() until it returns 0 to collect the others
 * (otherwise they come out with the following bytes). */
int mav_parser_feed(struct mav_parser *p, uint8_t byte, struct mav_frame *out);

/* Returns 1 with the next frame already held in the parser's buffer, 0 when none is. */
int mav_parser_poll(struct mav_parser *p, struct mav_frame *out);

/* Feeds up to len bytes, stopping right after the first completed frame. Stores in
 * *used how many bytes were taken and returns 1 if *out holds a frame, 0 if all len
 * bytes were taken and no frame is left in the parser. After a 1, call again with the
 * rest (even with len 0: more frames may be queued) until it returns 0. Same rules as
 * mav_parser_feed(); faster for buffers. */
int mav_parser_feed_buf(struct mav_parser *p, const uint8_t *data, size_t len, size_t *used,
                        struct mav_frame *out);

#endif
