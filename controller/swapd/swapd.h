/* The daemon's shared state: everything the scan loop, the console handlers and the
 * inventory glue need. Only the shell (this directory) reads the clock and touches
 * file descriptors; the core, the registry and the policy get times passed in.
 */
#ifndef SWAP_SWAPD_H
#define SWAP_SWAPD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/station.h"
#include "ctlsock/ctlsock.h"
#include "dronelink/dronelink.h"
#include "fleetlink/fleetlink.h"
#include "health/health.h"
#include "httpd/httpd.h"
#include "persist.h"
#include "plantcfg/plantcfg.h"
#include "plantlink/plantlink.h"
#include "registry/registry.h"
#include "shellcfg.h"
#include "transport/link.h"

#define SWAPD_EVENT_RING 256

/* What the shell knows of a pack (loaded from the registry, kept current by moves). */
struct swapd_pack {
    uint32_t tag;
    struct registry_location loc;
    enum registry_status status;
    double capacity_mah, rated_mah, dcir_mohm, efc, peak_temp_degC;
    uint64_t last_current_ms;      /* last time the charger saw current (rest timer) */
    uint64_t charge_end_ms;
    int64_t loc_since_ms;          /* wall clock of the last move */
    /* the health estimator, fed with the charger's telemetry while the pack is in a slot */
    struct health_estimator est;
    uint64_t last_sample_ms;
};

struct swapd_event {
    long long seq;
    int64_t t_ms;                  /* wall clock */
    char type[16];
    char text[160];
    /* transitions only ("" otherwise): the state or step left and entered, and why */
    char from[32], to[32], reason[96];
};

/* The console's form of an event (ctlproto_event plus from/to/reason when set). */
json_t *swapd_event_json(const struct swapd_event *e);

#define SWAPD_HIST_BUCKETS 200       /* scan lateness in 50 us buckets, last = overflow */
#define SWAPD_HIST_US 50

struct swapd_stats {
    uint64_t scans, overruns;
    int64_t jitter_us_max, scan_us_max;
    double late_s_sum;             /* lateness summed, for the metrics' histogram */
    uint64_t hist[SWAPD_HIST_BUCKETS];
};

/* {"scans","overruns","late_p50_us","late_p99_us","late_max_us","work_max_us"}: how late
 * each scan woke against its absolute deadline, and the longest scan. */
json_t *swapd_scan_stats_json(const struct swapd_stats *s);

struct swapd_fleet;

struct swapd {
    struct shellcfg shell;
    struct station_cfg station_cfg;
    struct health_config health;
    struct ctlsock_cfg control;
    struct plantcfg plant;
    struct ctlsock_auth auth;
    struct httpd_cfg http_cfg;
    struct fleetlink_cfg fleet_cfg;
    struct swapd_fleet *fleet;     /* the fleet link and its scan-side state (fleet.c); NULL unless enabled */
    struct registry_retention retention;

    struct station core;
    struct station_inputs in;
    struct station_outputs out;

    struct plantlink *plantlink;
    struct plantlink_status plant_status;
    uint16_t raw_ir[PLANTLINK_IR_MAX];
    uint64_t readback_seen;        /* the plant link's read-back the core was last given */
    uint64_t garbage_inputs_ms, garbage_count;
    struct link *link;
    struct dronelink drones;
    struct persist *persist;
    struct registry *reader;       /* read-only connection for the console */
    struct ctlsock *console;
    struct httpd *http;            /* NULL unless [http] enabled */
    struct swapd_observe *observe;

    /* The working set: every pack not retired, and retired packs still at a place (the
     * registry keeps the rest). Grows as packs arrive; no fixed limit. */
    struct swapd_pack *packs;
    int n_packs, cap_packs;
    int n_retired;                 /* retired packs known to the registry, outside the set */
    uint32_t flight_status_seq[256]; /* per drone sysid: last BATTERY_STATUS fed to health */

    /* operator command queued by the console for the next scan */
    bool op_pending;
    struct station_operator_in op;
    char op_user[64];

    /* swap bookkeeping for the registry */
    int last_step;
    uint64_t step_start_ms;
    bool step_row_written;         /* the step's move already wrote its swap_steps row */
    bool swap_open;
    uint32_t out_tag, in_tag;
    uint32_t submitted_seq;
    /* Where the chain was when the previous run ended (registry "progress" events):
     * fed to the core as inv.last_step / inv.pad_sysid until this run's chain moves. */
    int boot_last_step;
    uint8_t boot_pad_sysid;
    uint32_t boot_pad_tag;         /* the pack in that drone as the previous run knew it; 0 */
    bool boot_progress_used;
    bool commissioned;             /* packs in the slots compared with the registry once */

    int64_t alarm_raised_wall_ms[DIAG_COUNT];
    /* The landing queue as last written to the registry (landqueue.c), by system id. */
    struct swapd_landq_saved {
        bool saved;
        uint8_t compid, flags;
        uint32_t pack_tag;
        uint64_t request_seq;
    } landq[256];

    struct swapd_event events[SWAPD_EVENT_RING];
    long long event_seq;
    /* Followers get the registry's events as they commit: the last id sent (history up to
     * it is read from the registry, so --follow continues without a gap or a repeat). */
    int64_t event_tail_id;
    uint64_t last_prune_ms;

    uint64_t mono_start_ms;
    int64_t wall_start_ms;
    struct swapd_stats stats;
};

/* Wall-clock ms for a monotonic ms of this run. */
int64_t swapd_wall_ms(const struct swapd *d, uint64_t mono_ms);

/* Records an event: stderr log, the ring the console reads, the registry, and the
 * console's followers. */
void swapd_event(struct swapd *d, uint64_t mono_ms, enum registry_severity sev, const char *type,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The registry's name for a place the core names. */
struct registry_location swapd_registry_location(struct station_location l);

/* Records a state or step transition as an event carrying from, to and reason. */
void swapd_transition(struct swapd *d, uint64_t mono_ms, const char *from, const char *to, const char *reason);
/* What the scan hands the persistence worker after station_step (scan.c). */
void swapd_persist_outputs(struct swapd *d, uint64_t now_ms);
/* The plant link's read-back of the coils, taken by connection seq (0: none yet): a new
 * connection after the first is a plant restart for the core (in.plant.renewed). */
void swapd_plant_readback(struct swapd *d, uint64_t seq, const uint8_t *co, unsigned long long reconnects,
                          uint64_t now_ms);

/* The event type (one of ctlproto_event_types) of a transition the core reported:
 * "state" between PackML states, "mode" between unit modes, "drone" for the landing
 * queue, "battery" for a pack taken out by hand, "step" for the swap steps (console.c). */
const char *swapd_transition_type(const char *from, const char *to);
/* A registry event in the console's form (seq = the registry's id). */
json_t *swapd_registry_event_json(const struct registry_event *e);
/* Pushes the events committed since the last call to the console's followers. */
void swapd_console_tail_events(struct swapd *d);

/* Console request handler (console.c). */
json_t *swapd_console_handle(void *user, const struct ctlsock_peer *peer,
                             const struct ctlproto_cmd *cmd, const json_t *request);
/* The same request once its caller is authorised: checked against the core's state
 * table and queued exactly as from the control socket (used by the fleet link too). */
json_t *swapd_console_dispatch(struct swapd *d, const char *name, const json_t *request);

/* The fleet link (fleet.c; docs/fleet.md): started when [fleet] enabled; each scan takes
 * one fleet command into the console path and hands over a snapshot; every event is
 * posted to the fleet's spool. */
int swapd_fleet_start(struct swapd *d, char *err, size_t errsize);
void swapd_fleet_scan(struct swapd *d, uint64_t now_ms);
void swapd_fleet_event(struct swapd *d, const struct swapd_event *e);
void swapd_fleet_stop(struct swapd *d);

/* The landing queue across restarts (landqueue.c; docs/drone-protocol.md §8): the
 * requests the previous run had queued are put back before the first scan (from the
 * registry, before the persistence worker owns it); each scan writes what changed. */
void swapd_landqueue_restore(struct swapd *d, struct registry *reg, uint64_t now_ms);
void swapd_landqueue_save(struct swapd *d, uint64_t now_ms);

/* Inventory glue (inventory.c): loads the registry, commissions packs seen for the first
 * time, and fills the core's inventory facts and the policy's choices every scan. */
int swapd_inventory_load(struct swapd *d, struct registry *reg, char *err, size_t errsize);
int swapd_inventory_commission(struct swapd *d, struct registry *reg, const struct station_plant_in *p,
                               int64_t now_wall_ms, char *err, size_t errsize);
void swapd_inventory_fill(struct swapd *d, uint64_t now_ms);
/* The drone on the pad as far as the shell knows: the one the core serves, else the one
 * the previous run's last progress record names (until this run's chain moves); 0. */
uint8_t swapd_pad_sysid(const struct swapd *d);
/* The pack in drone sysid: the one it reports on the link (unless the registry has that
 * pack elsewhere than in this drone), else the one the registry books to it; 0 none.
 * Never a pack booked to another drone. */
uint32_t swapd_inventory_pad_tag(const struct swapd *d, uint8_t sysid);
void swapd_inventory_apply_move(struct swapd *d, const struct station_move *m);
/* A drone holds one pack: when pack `taken` comes out of drone `sysid`, any other pack
 * the registry books to that drone is not there (the drone came back with another one):
 * its place becomes unknown, ahead of the move (else the registry refuses the next pack
 * into that drone for good). 0, or -1 if the worker's queue is full. */
/* The pack the shell has at a place of the core (for a drone: as swapd_inventory_pad_tag
 * names the pack in it), 0 when none. */
uint32_t swapd_inventory_name_at(const struct swapd *d, struct station_location l);
int swapd_inventory_unbook_drone(struct swapd *d, int sysid, uint32_t taken, const char *step, uint64_t now_ms);
/* After a health_est_feed that returned ev: a new capacity or DCIR goes to the registry,
 * and the policy's verdict may quarantine or retire the pack. */
void swapd_inventory_estimates(struct swapd *d, struct swapd_pack *p, unsigned ev, uint64_t now_ms);
/* The time of battery telemetry (s): monotonic time, in the simulators' time when they run
 * faster than the wall clock ([simulation] time_scale). */
double swapd_battery_time_s(const struct swapd *d, uint64_t now_ms);
/* Feeds every new BATTERY_STATUS of a drone to the estimator of the pack it flies with
 * (flighthealth.c). */
void swapd_flight_health(struct swapd *d, uint64_t now_ms);
struct swapd_pack *swapd_pack_find(struct swapd *d, uint32_t tag);
/* A new entry in the working set (zeroed; NULL when out of memory). Pointers into the
 * set are valid until the next call. */
struct swapd_pack *swapd_pack_add(struct swapd *d);
/* After a restart: completes in the registry the move of the last step that had acted
 * but not committed, when the sensors prove where the pack went. Returns 1 when it
 * recorded such a move (msg says which), 0 when nothing was in flight or the sensors
 * do not prove it (reconciliation then decides), -1 on a registry error. */
int swapd_inventory_recover(struct swapd *d, struct registry *reg, const struct station_plant_in *p,
                            int64_t now_wall_ms, char *msg, size_t msgsize);
/* Reads the chain's last recorded step and drone from the previous run. */
void swapd_inventory_progress(struct swapd *d, struct registry *reg, int64_t now_wall_ms);
/* Start-up against the plant's first image (d->in.plant): commissions packs seen for the
 * first time, reads the last run's progress and recovers a move its step made but could
 * not commit. What swapd does before the persistence worker takes the registry. */
void swapd_inventory_boot(struct swapd *d, struct registry *reg, int64_t now_wall_ms);
/* Registers a pack that arrived on a drone (queued before its first move). */
int swapd_inventory_register(struct swapd *d, uint32_t tag, struct registry_location loc, uint64_t now_ms);
/* Commissioning when the plant answered only after start-up: packs in the slots the
 * registry has never seen are registered where the sensors show them. */
void swapd_inventory_commission_late(struct swapd *d, const struct station_plant_in *p, uint64_t now_ms);

/* The HTTP endpoint (observe.c): starts it when [http] enabled (returns 0, or -1 with
 * err when it cannot listen), feeds it every scan, stops it. */
int swapd_observe_start(struct swapd *d, char *err, size_t errsize);
void swapd_observe_scan(struct swapd *d, uint64_t now_ms);
void swapd_observe_stop(struct swapd *d);

#endif
