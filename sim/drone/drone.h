/* One simulated drone that uses the swap station (docs/drone-protocol.md): it flies and
 * drains its pack, returns and asks for a swap, waits in the landing queue, lands when
 * cleared, disarms, goes dark while its pack is out (cold swap) or stays up on backup
 * power (hot swap), powers up on the new pack, reports it, and takes off when cleared.
 *
 * Pure step-function model: no I/O, no clock, no allocation. The caller passes time in
 * (sim_drone_step, sim_drone_handle_frame), feeds it the frames received on the link,
 * and collects the encoded MAVLink frames it wants to send (sim_drone_take_output). The
 * physical pad (touchdown, take-off, the pack in the bay) is reached through struct
 * sim_drone_pad, so the same model runs against the in-process plant and against
 * swapsim's control socket.
 */
#ifndef SWAP_SIM_DRONE_H
#define SWAP_SIM_DRONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "battery/battery.h"
#include "battery/sensor.h"
#include "mavlink/mav.h"
#include "rng/rng.h"

/* The state table (drone.c) gives each state its name, armed flag and landed state. */
enum sim_drone_state {
    SIM_DRONE_FLYING,        /* on a mission, draining the pack */
    SIM_DRONE_RETURNING,     /* pack low (or flight time over): flying back */
    SIM_DRONE_REQUESTING,    /* over the station: SWAP_REQUEST sent, awaiting the ack */
    SIM_DRONE_QUEUED,        /* acked; hovering until CLEARED_TO_LAND */
    SIM_DRONE_LANDING,       /* cleared: descending onto the pad */
    SIM_DRONE_LANDED,        /* touched down, still armed (motors spinning down) */
    SIM_DRONE_DISARMED,      /* on the pad, disarmed, powered by its pack */
    SIM_DRONE_BAY_EMPTY,     /* pack pulled: silent on a cold swap, on backup when hot */
    SIM_DRONE_BOOTING,       /* a pack is latched in: powering up */
    SIM_DRONE_WAIT_TAKEOFF,  /* up on the new pack, reported it: awaiting CLEARED_TAKEOFF */
    SIM_DRONE_TAKING_OFF,    /* armed and climbing */
    SIM_DRONE_DIVERTED,      /* denied for good: flew elsewhere, out of the simulation */
    SIM_DRONE_STATE_COUNT
};
const char *sim_drone_state_name(enum sim_drone_state s);

/* The pad as the drone feels it. Return values follow sim_plant_drone_*:
 * land: 0, -1 when the pad is occupied, -2 when the pad cannot be reached (a
 *   restarting plant: the touchdown is tried again next tick);
 * takeoff: 0 (the pack comes along in *battery when *has_battery), -1 no drone on the
 *   pad, -2 held by clamp/centering (the drone stays), -3 the pad cannot be reached;
 * battery_in_bay: 0 with *has_battery and a copy of the pack in the bay, -1 error;
 * set_load: the drone's draw from its pack while on the pad (may be NULL). */
struct sim_drone_pad {
    void *ctx;
    int (*land)(void *ctx, const struct sim_battery *battery);
    int (*takeoff)(void *ctx, struct sim_battery *battery, bool *has_battery);
    int (*battery_in_bay)(void *ctx, struct sim_battery *battery, bool *has_battery);
    void (*set_load)(void *ctx, double current_a);
};

struct sim_drone_cfg {
    uint8_t sysid, compid;
    uint8_t station_sysid;       /* 0: follow the first charging station heard */
    uint8_t station_compid;
    bool hot_swap;               /* drone has a backup supply and stays up */
    double hover_current_a, current_noise_a;
    double burst_current_a, burst_rate_per_s, burst_s; /* manoeuvres: random bursts */
    double takeoff_current_a;
    double idle_current_a;       /* armed on the ground */
    double pad_current_a;        /* disarmed, powered on the pad */
    double return_soc;           /* go home below this state of charge */
    double critical_soc;         /* requests carry the CRITICAL flag below this */
    bool critical;               /* requests carry the CRITICAL flag until the first swap */
    unsigned max_swaps;          /* after this many swaps the drone leaves (diverted); 0 never */
    double flight_s;             /* also go home after this long in the air; 0 = SoC only */
    int battery_time_scale;      /* the flying pack lives this many of its seconds per drone
                                  * second (1: the same; tests of long battery life) */
    uint32_t return_ms, landing_ms, disarm_ms, boot_ms, hot_boot_ms, takeoff_ms;
    uint32_t retry_denied_ms;    /* ask again after a non-final denial */
    uint32_t telemetry_ms;       /* HEARTBEAT, EXTENDED_SYS_STATE, BATTERY_STATUS period */
    uint32_t info_ms;            /* SMART_BATTERY_INFO period while waiting on the pad */
    uint32_t poll_ms;            /* how often the drone feels the bay while on the pad */
    uint32_t link_lost_ms;       /* station unheard this long: hold / abort approach */
    double ambient_degC;
    /* The power module behind BATTERY_STATUS (sensor.h; default power-module grade): its
     * errors on voltage, current and temperature, its missing reports, and its coulomb
     * counter (consumed mAh since power-up). */
    struct sim_sensor_cfg sensor;
};

/* Defaults for a 6S 5 Ah quadcopter of 2.4 kg (18 A hover). */
void sim_drone_cfg_defaults(struct sim_drone_cfg *cfg, uint8_t sysid);

/* Misbehaviour switches for tests. Each runs in a window [start_ms, start_ms+duration). */
enum sim_drone_mis {
    SIM_DRONE_MIS_REARM,         /* arms while on the pad (waits until it is on the pad) */
    SIM_DRONE_MIS_LINK_LOSS,     /* hears and says nothing */
    SIM_DRONE_MIS_WRONG_SYSID,   /* sends with sysid ^ 0x80 */
    SIM_DRONE_MIS_UNSIGNED,      /* sends unsigned frames on a signed link */
    SIM_DRONE_MIS_GARBAGE,       /* random bytes between its frames */
    SIM_DRONE_MIS_NO_ACK,        /* ignores CLEARED_TO_LAND: neither acks nor comes */
    SIM_DRONE_MIS_CANCEL,        /* once: cancels its request (queued, cleared or on the pad) */
    SIM_DRONE_MIS_DIVERT,        /* once: leaves for good while asking, queued or cleared */
    SIM_DRONE_MIS_BAD_VERSION,   /* its swap requests carry protocol version 2 */
    SIM_DRONE_MIS_COUNT
};
const char *sim_drone_mis_name(enum sim_drone_mis m);
/* "rearm", "link_loss", "wrong_sysid", "unsigned", "garbage", "no_ack", "cancel", "divert",
 * "bad_version"; -1 if unknown. */
int sim_drone_mis_from_name(const char *name);

#define SIM_DRONE_MAX_MIS 8
#define SIM_DRONE_OUTBOX 8192
#define SIM_DRONE_LOG 64

struct sim_drone_transition {
    uint64_t t_ms;
    enum sim_drone_state from, to;
};

struct sim_drone_counters {
    unsigned requests_sent, acks_sent, frames_in, frames_ignored;
    unsigned swaps, takeoffs, denials, go_arounds, takeoff_refused, cancels_sent;
    unsigned out_dropped;        /* frames dropped because the outbox was full */
};

struct sim_drone {
    struct sim_drone_cfg cfg;
    struct sim_drone_pad pad;
    struct sim_rng rng;
    struct mav_tx tx;
    struct mav_signing *signing; /* NULL: unsigned link */

    enum sim_drone_state state;
    uint64_t now_ms, state_since_ms, deadline_ms; /* deadline of the present state, 0 none */
    uint64_t phys_ms;            /* physics integrated up to here */
    double burst_left_s;
    double current_a;            /* present draw from the pack on board, A */
    uint64_t air_ms;             /* time airborne since the last take-off */
    double consumed_mah;         /* since the last take-off */
    struct sim_sensor sensor;    /* the power module; its counter runs since power-up */

    struct sim_battery battery;  /* the pack on board while airborne */
    bool has_battery;
    struct sim_battery bay;      /* on the pad: the pack in the bay, as last felt */
    bool bay_has_battery;
    uint32_t start_tag;          /* tag of the pack it landed with */

    uint8_t station_sysid, station_compid;
    uint64_t last_station_ms;
    bool station_heard;

    unsigned req_attempt;
    uint64_t next_req_ms;
    uint8_t queue_position;
    int last_reason;
    uint8_t progress_step, progress_steps;

    uint64_t next_telemetry_ms, next_info_ms, next_poll_ms;
    /* cleared for take-off (acked) while the pad could not be reached: lift off as soon
     * as it can (the clearance stands; the station is not asked again) */
    bool takeoff_retry;

    struct {
        enum sim_drone_mis kind;
        uint64_t start_ms;
        uint32_t duration_ms;
        bool armed_started;      /* rearm: the window began when the drone reached the pad;
                                    cancel, divert: done */
    } mis[SIM_DRONE_MAX_MIS];
    size_t n_mis;

    uint8_t out[SIM_DRONE_OUTBOX];
    size_t out_len;

    struct sim_drone_transition log[SIM_DRONE_LOG];
    size_t n_log;                /* total transitions; the last SIM_DRONE_LOG are kept */

    struct sim_drone_counters count;
};

/* Starts a drone in the air at now_ms with battery (copied) on board. seed drives the
 * current noise and bursts. signing may be NULL; when set, frames are signed with it
 * (the caller keeps its time current with mav_signing_set_time_unix_us). */
void sim_drone_init(struct sim_drone *d, const struct sim_drone_cfg *cfg,
                    const struct sim_drone_pad *pad, const struct sim_battery *battery,
                    uint64_t seed, struct mav_signing *signing, uint64_t now_ms);

/* Advances the drone to now_ms (never backwards): drains the pack, runs the state
 * machine, queues telemetry. Call it at least at sim_drone_next_deadline(). */
void sim_drone_step(struct sim_drone *d, uint64_t now_ms);

/* Absolute time at which the drone next needs a step. */
uint64_t sim_drone_next_deadline(const struct sim_drone *d);

/* Hands the drone a frame received on the link at now_ms (it steps to now_ms first).
 * Frames for other systems and from anyone but the station are ignored. */
void sim_drone_handle_frame(struct sim_drone *d, const struct mav_frame *f, uint64_t now_ms);

/* Moves up to size queued output bytes into buf; returns the count. */
size_t sim_drone_take_output(struct sim_drone *d, uint8_t *buf, size_t size);

/* Adds a misbehaviour window. Returns 0, or -1 for a bad kind or a full table. */
int sim_drone_misbehave(struct sim_drone *d, enum sim_drone_mis kind, uint64_t start_ms,
                        uint32_t duration_ms);

/* Whether a misbehaviour of this kind is in force now (its window is open). */
bool sim_drone_misbehaving(const struct sim_drone *d, enum sim_drone_mis kind);

/* Whether the drone reports armed now, and whether it is powered (sending). */
bool sim_drone_armed(const struct sim_drone *d);
bool sim_drone_powered(const struct sim_drone *d);

#endif
