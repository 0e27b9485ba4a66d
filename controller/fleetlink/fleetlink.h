/* The station as a Sparkplug B edge node (docs/fleet.md): an MQTT client on its own
 * thread, so the scan never waits for the network.
 *
 * The scan hands over a snapshot of its metrics (fleetlink_publish: a trylock and a
 * copy, skipped when the thread holds the lock) and its events (fleetlink_post_event:
 * a lock-free ring); it takes the fleet's commands with fleetlink_take_command (a
 * trylock). The thread publishes NBIRTH/DBIRTH with every metric, NDATA/DDATA by
 * exception against each metric's deadband, keeps events in an on-disk spool until the
 * broker has them (sent late with is_historical), and answers Node Control/Rebirth.
 */
#ifndef SWAP_FLEETLINK_H
#define SWAP_FLEETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

struct fleetlink_cfg {
    bool enabled;
    char host[128];
    int port;
    char group_id[64], edge_node_id[64], primary_host_id[64];
    char username[64], password[128];
    char ca_file[256], cert_file[256], key_file[256];
    int keepalive_s;
    int backoff_min_ms, backoff_max_ms;
    int publish_period_ms;
    char spool_path[256];
    int spool_max;
};

extern const struct cfg_key fleetlink_cfg_keys[];
extern const size_t fleetlink_n_cfg_keys;

/* The device model: the edge node (the station) and its devices. */
enum fleetlink_device { FLEETLINK_NODE, FLEETLINK_ROBOT, FLEETLINK_MAGAZINE, FLEETLINK_DRONES, FLEETLINK_N_DEVICES };
extern const char *const fleetlink_device_names[FLEETLINK_N_DEVICES]; /* "" for the node */

/* Every metric the scan reports (its alias is its index + 1). */
enum fleetlink_metric_id {
    FM_STATE, FM_MODE, FM_SWAPS, FM_SWAPS_PER_HOUR, FM_ONPAD_MEAN_S, FM_ALARMS_ACTIVE, FM_ALARM_CODES,
    FM_PLANT_LINK, FM_SPOOL_DEPTH, FM_SPOOL_DROPPED, FM_PACK_QUERY,
    FM_CMD_SEQ, FM_CMD_NAME, FM_CMD_REQUEST_ID, FM_CMD_OK, FM_CMD_RESULT,
    FM_ROBOT_STEP, FM_ROBOT_STEP_INDEX, FM_ROBOT_DRONE, FM_ROBOT_LAST_ONPAD_S,
    FM_MAG_SLOTS, FM_MAG_OCCUPIED, FM_MAG_READY, FM_MAG_SOH_MEAN, FM_MAG_SOH_MIN, FM_MAG_PACKS,
    FM_DRONES_SEEN, FM_DRONES_QUEUED, FM_DRONES_LINK,
    FM_COUNT
};

struct fleetlink_metric_def {
    enum fleetlink_device dev;
    const char *name;
    uint32_t datatype;          /* spb_datatype */
    double deadband;            /* numbers: a change smaller than this is not reported */
};
extern const struct fleetlink_metric_def fleetlink_metrics[FM_COUNT];

/* Node metrics outside the snapshot, with their fixed aliases. */
#define FLEETLINK_ALIAS_BDSEQ 100
#define FLEETLINK_ALIAS_REBIRTH 101
#define FLEETLINK_ALIAS_PACK_ESTIMATES 102
#define FLEETLINK_ALIAS_EVENT_ID 110
#define FLEETLINK_ALIAS_EVENT_TYPE 111
#define FLEETLINK_ALIAS_EVENT_TEXT 112
#define FLEETLINK_ALIAS_CMD_BASE 120  /* + index into fleetlink_commands */

#define FLEETLINK_ALIAS_DCMD_BASE 140 /* + index into fleetlink_commands */

/* Operator commands the fleet may send, as NCMD metrics "Node Control/<metric>" or as
 * DCMD metrics "Device Control/<metric>" to the device the command acts on (the robot
 * for the PackML commands, the magazine for the packs); the console command each
 * becomes. "retire" takes a String "ID[: reason]", the others a Boolean true. A
 * "Command/Request Id" String in the same NCMD/DCMD is echoed back. */
struct fleetlink_command_def {
    const char *metric;         /* "Hold" */
    const char *console;        /* "hold" */
    bool takes_arg;
    enum fleetlink_device dev;  /* the device whose DCMD carries it */
};
extern const struct fleetlink_command_def fleetlink_commands[];
extern const size_t fleetlink_n_commands;

/* Roaming packs: a station that meets a pack it has never seen names it in
 * "Fleet/Pack Query"; the host answers with the NCMD metric "Node Control/Pack
 * Estimates" = "ID;capacity_mAh;dcir_mOhm;efc;station" from the station that reported
 * the pack last. It reaches the scan as the fleet command "pack_estimates". */
#define FLEETLINK_PACK_ESTIMATES "Node Control/Pack Estimates"

#define FLEETLINK_STR 128
#define FLEETLINK_MAX_PACKS 64

struct fleetlink_value {
    bool is_null;
    double num;                 /* numbers and Boolean */
    char str[FLEETLINK_STR];    /* String */
};

/* A row of the magazine's Packs DataSet: every pack the station knows. */
struct fleetlink_pack {
    char id[24], location[24], status[16];
    double soh_pct, efc, capacity_mah, dcir_mohm;
};

struct fleetlink_snapshot {
    int64_t t_ms;               /* wall clock of the scan */
    struct fleetlink_value v[FM_COUNT];
    int n_packs;
    struct fleetlink_pack packs[FLEETLINK_MAX_PACKS];
};

struct fleetlink_event {
    int64_t t_ms;
    char id[40];                /* unique per station and run: "<run start ms>-<seq>" */
    char type[16];
    char text[200];
};

struct fleetlink_cmd {
    char console[24];           /* the console command; "" for a DCMD metric the device lacks */
    char device[16];            /* a DCMD's device; "" for an NCMD */
    char arg[FLEETLINK_STR];
    char request_id[64];
};

/* Counters for tests and the bench. */
struct fleetlink_stats {
    uint64_t published, births, connects, spooled, sent_events, dropped, commands, spool_depth;
    uint64_t host_offline_disconnects; /* sessions left because the primary host went offline */
    unsigned bdseq;
    bool online;
};

struct fleetlink;

/* Opens the spool and starts the thread (it connects and reconnects by itself).
 * Returns NULL with err on a bad setting or an unusable spool. */
struct fleetlink *fleetlink_start(const struct fleetlink_cfg *cfg, char *err, size_t errsize);
/* Disconnects cleanly (the broker then publishes no NDEATH will: an NDEATH is sent
 * explicitly first) and joins the thread. */
void fleetlink_stop(struct fleetlink *fl);

/* Scan side: never blocks. */
void fleetlink_publish(struct fleetlink *fl, const struct fleetlink_snapshot *s);
/* Returns 0, or -1 when the ring is full (the event is counted as dropped). */
int fleetlink_post_event(struct fleetlink *fl, const struct fleetlink_event *e);
/* Returns 1 with *out when a command waits, else 0. */
int fleetlink_take_command(struct fleetlink *fl, struct fleetlink_cmd *out);
/* A copy of the counters (a short lock). */
void fleetlink_get_stats(struct fleetlink *fl, struct fleetlink_stats *out);

#endif
