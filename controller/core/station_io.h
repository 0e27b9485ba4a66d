/* What the station core sees and what it decides: typed inputs (plant sensors decoded
 * from the register image, drone-link facts, inventory facts, operator commands) and
 * typed outputs (the whole plant output image, drone messages, inventory moves, events
 * and alarms). Plain data only; the core (station.h) maps one onto the other.
 */
#ifndef SWAP_CORE_STATION_IO_H
#define SWAP_CORE_STATION_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "regmap/regmap.h"

/* ---- plant inputs (every DI and IR of regmap.h) ---------------------------------- */

struct station_slot_in {
    bool present, tag_ok;
    uint32_t tag;                 /* 0 when absent or unreadable */
    uint16_t voltage_mV;
    int16_t current_mA;           /* positive into the pack */
    double temp_degC;             /* meaningful only when temp_ok */
    bool temp_ok;                 /* false: NTC open (REGMAP_TEMP_OPEN) */
    uint16_t charge_mAh;
    uint16_t cell_min_mV, cell_max_mV;
    uint16_t chg_state;           /* enum regmap_charger_state */
    uint16_t chg_fault;           /* enum charger_fault */
    /* The slot's charger telemetry (voltage to chg_fault above) has not been read since
     * its presence last changed (the link reads it round-robin): the values are an empty
     * slot's or another pack's. Unknown: neither a fault nor ok, so the pack is neither
     * charged nor handed out, and raises no alarm, until it is read. */
    bool telemetry_stale;
};

struct station_plant_in {
    bool valid;                   /* the image is fresh (Modbus exchange succeeded) and sane */
    /* A fresh image that plantio_decode() refused (valid = false): the first bad
     * register and why. The link is up; the data cannot be trusted. */
    bool refused;
    int refused_addr;             /* DI or IR address of the first bad value */
    char refused_why[80];         /* e.g. "IR 2 = 32768: axis X velocity outside -5000..5000" */
    bool estop_ok, guard_closed, plant_ready, watchdog_tripped;
    bool center_open, center_closed, clamp_unlocked, clamp_locked;
    bool x_homed, x_busy, x_in_pos, x_fault;
    bool z_homed, z_busy, z_in_pos, z_fault;
    bool stroke_retracted, stroke_extended, wrist_a, wrist_b;
    bool grip_a_open, grip_a_closed, grip_a_holding;
    bool grip_b_open, grip_b_closed, grip_b_holding;
    bool carousel_busy, carousel_in_pos, carousel_fault, rain;
    uint16_t plant_fault;         /* enum plant_fault */
    double x_pos_mm, z_pos_mm;
    int16_t x_vel_mm_s, z_vel_mm_s;
    int carousel_pos;             /* -1 between slots */
    uint16_t load_g;
    double wind_mps;
    double ambient_degC;
    uint16_t heartbeat_echo;
    uint16_t n_slots;             /* as the plant reports it */
    uint16_t map_version;
    struct station_slot_in slot[REGMAP_MAX_SLOTS];
    /* The coil levels the plant holds now (read back at start-up, so the core can adopt
     * them instead of moving anything before it has reconciled). */
    bool have_readback;
    bool co_readback[REGMAP_CO_COUNT];
    /* The link to the plant is a new connection since the last scan (and co_readback is
     * its fresh read-back): the plant may have restarted, so the core treats it like a
     * restart of its own (adopt, reconcile, nothing moves until then). */
    bool renewed;
};

/* ---- drone-link facts --------------------------------------------------------------- */

#define STATION_MAX_DRONES 8

struct station_drone_in {
    uint8_t sysid;                /* 0: unused entry */
    bool present;                 /* heard on the link (allow-listed, signature ok) */
    uint64_t last_heartbeat_ms;   /* 0: never */
    bool armed;                   /* from the last heartbeat */
    uint8_t landed_state;         /* MAV_LANDED_* */
    bool swap_requested;          /* an open swap request (MAV_CMD_USER_1) */
    uint64_t battery_report_ms;   /* time of the last battery report; 0 never */
    uint32_t battery_tag;         /* pack serial "SWP-%08X" as a tag; 0 unknown */
    uint32_t battery_mV;          /* pack voltage from BATTERY_STATUS */
};

/* ---- inventory facts (from the registry and the hand-out policy) -------------------- */

enum station_place {
    STATION_PLACE_NONE,           /* unknown / nowhere */
    STATION_PLACE_SLOT,           /* index = slot, 0-based (the registry counts from 1) */
    STATION_PLACE_GRIPPER_A,
    STATION_PLACE_GRIPPER_B,
    STATION_PLACE_DRONE,          /* index = drone system id */
    STATION_PLACE_QUARANTINE,
};

struct station_location {
    enum station_place place;
    int index;
};

struct station_inventory_in {
    bool valid;                   /* the registry was read */
    uint32_t slot_tag[REGMAP_MAX_SLOTS]; /* 0 = empty */
    uint32_t grip_a_tag, grip_b_tag;
    uint32_t pad_tag;             /* pack in a drone standing on the pad; 0 none */
    uint8_t pad_sysid;            /* that drone's system id; 0 unknown */
    int last_step;                /* persisted last swap step (swapseq id) or -1 */
    /* The policy's choice for the next hand-out: slot and tag; -1 / 0 = none eligible. */
    int fresh_slot;
    uint32_t fresh_tag;
    /* The policy's charger wishes per slot (enum regmap_charger_mode), -1 = core default
     * (charge). The core still refuses to charge outside the temperature window. */
    int8_t charger_request[REGMAP_MAX_SLOTS];
    /* Highest move sequence number N such that every move up to N is committed to the
     * database (a move that failed keeps every later one unacknowledged). */
    uint32_t moves_committed_seq;
    /* The registry refuses writes (disk full, I/O error): the shell retries them. */
    bool store_failed;
};

/* ---- operator commands --------------------------------------------------------------- */

enum station_cmd {
    STATION_CMD_NONE = -1,
    STATION_CMD_RESET, STATION_CMD_START, STATION_CMD_STOP, STATION_CMD_HOLD,
    STATION_CMD_UNHOLD, STATION_CMD_SUSPEND, STATION_CMD_UNSUSPEND, STATION_CMD_ABORT,
    STATION_CMD_CLEAR,
    STATION_CMD_COUNT
};

enum station_mode { STATION_MODE_PRODUCTION, STATION_MODE_MAINTENANCE, STATION_MODE_MANUAL,
                    STATION_MODE_COUNT };

/* Other operator requests (one per step, like the PackML command). */
enum station_op {
    STATION_OP_NONE,
    STATION_OP_MODE,              /* arg.mode */
    STATION_OP_JOG,               /* arg.jog (Maintenance and Manual only) */
    STATION_OP_ACK,               /* arg.alarm: acknowledge one alarm; -1 all */
    STATION_OP_ADOPT_SENSORS,     /* operator decision after a reconciliation mismatch */
    STATION_OP_PACK_REMOVED,      /* arg.slot: the operator took that slot's pack out by hand */
};

enum station_jog_dev {
    STATION_JOG_CENTER, STATION_JOG_CLAMP, STATION_JOG_STROKE, STATION_JOG_WRIST_B,
    STATION_JOG_GRIP_A, STATION_JOG_GRIP_B, STATION_JOG_X_MM, STATION_JOG_Z_MM,
    STATION_JOG_CAROUSEL, STATION_JOG_HOME, STATION_JOG_STOP, STATION_JOG_COUNT
};

struct station_operator_in {
    enum station_cmd cmd;         /* STATION_CMD_NONE: no PackML command this step */
    enum station_op op;
    enum station_mode mode;
    int alarm;
    int slot;                     /* STATION_OP_PACK_REMOVED: 0-based slot */
    struct {
        enum station_jog_dev dev;
        double value;             /* 0/1 for two-position devices, mm, or slot */
    } jog;
};

struct station_inputs {
    struct station_plant_in plant;
    struct station_drone_in drones[STATION_MAX_DRONES];
    struct station_inventory_in inv;
    struct station_operator_in op;
};

/* ---- outputs -------------------------------------------------------------------------- */

struct station_plant_out {
    bool co[REGMAP_CO_COUNT];     /* indexed by enum regmap_co */
    uint16_t heartbeat;
    double x_target_mm, z_target_mm;
    uint16_t carousel_target;
    uint8_t charger_mode[REGMAP_MAX_SLOTS];
};

enum station_msg_kind {
    STATION_MSG_CLEARED_TO_LAND,  /* param = landing window, s */
    STATION_MSG_QUEUED,           /* param = position in the landing queue (1 = next) */
    STATION_MSG_DENIED,           /* param = enum station_deny (a cleared drone: the clearance is withdrawn) */
    STATION_MSG_PROGRESS,         /* param = on-pad step number (1-based) | steps on the pad << 8 */
    STATION_MSG_CLEARED_TAKEOFF,  /* param = tag of the pack now in the drone (as uint32) */
    STATION_MSG_SWAP_ABORTED,     /* the swap stopped; wait for the operator */
    STATION_MSG_KIND_COUNT
};

enum station_deny {
    STATION_DENY_NOT_RUNNING = 1, /* station not in production */
    STATION_DENY_NO_BATTERY = 2,
    STATION_DENY_WEATHER = 3,
    STATION_DENY_QUEUE_FULL = 4,
    STATION_DENY_TIMEOUT = 5,     /* the cleared drone did not touch down in its window */
};

struct station_drone_msg {
    uint8_t sysid;
    enum station_msg_kind kind;
    int32_t param;
};

struct station_move {
    uint32_t seq;                 /* increasing; commit in order */
    uint32_t tag;
    struct station_location from, to;
    const char *step;             /* name of the step that caused it (static string) */
    uint64_t step_start_ms, t_ms;
};

struct station_event {
    uint64_t t_ms;
    const char *from, *to;        /* state or step names (static strings) */
    char reason[96];
};

struct station_alarm_event {
    uint64_t t_ms;
    int alarm;                    /* enum diag_id */
    bool raised;                  /* false: cleared */
    int detail;                   /* e.g. the slot, -1 none */
    char note[80];                /* what exactly, when the alarm's text needs it (the
                                     device, the register and value); "" none */
};

#define STATION_MAX_MSGS 16
#define STATION_MAX_MOVES 8
#define STATION_MAX_EVENTS 16
#define STATION_MAX_ALARM_EVENTS 16

struct station_outputs {
    struct station_plant_out plant;
    struct station_drone_msg msgs[STATION_MAX_MSGS];
    int n_msgs;
    /* Every move not yet committed (seq > in->inv.moves_committed_seq): persist those in
     * order, then report the highest seq; repeating a seq is harmless. */
    struct station_move moves[STATION_MAX_MOVES];
    int n_moves;
    uint32_t move_seq;            /* highest seq issued so far */
    struct station_event events[STATION_MAX_EVENTS];
    int n_events;
    struct station_alarm_event alarm_events[STATION_MAX_ALARM_EVENTS];
    int n_alarm_events;
    uint64_t alarms_active;       /* bit i = alarm i (enum diag_id) active or latched */
    uint64_t alarms_unacked;
    /* Reply to this step's operator command (PackML or op); ok = true when none. */
    bool cmd_ok;
    char cmd_reason[128];
    /* Status for the console and the station heartbeat. */
    int state;                    /* enum station_state */
    int mode;                     /* enum station_mode */
    int step;                     /* swapseq step id or -1 */
    uint8_t serving_sysid;        /* drone being served, 0 none */
    bool pad_occupied;            /* weight on the pad (debounced load cell) */
    bool reconciled;
    /* The core waits on a plant edge that the swap's time hangs on: a chain runs, a drone
     * is cleared to land or is leaving the pad, a transitional state or a pulse is under
     * way, or the plant's own image is not adopted yet. false: nothing the next edge
     * could start is pressing, so an input may wait a period to be seen (the shell's
     * fresh-input link then paces itself by its period instead of back to back). */
    bool plant_edge_awaited;
};

#endif
