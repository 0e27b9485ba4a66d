/* The station core: the PackML state machine (DESIGN §4), the swap step chain
 * (swapseq.h), the diagnosis table (diag.h) and every safety rule of DESIGN §5, as one
 * pure step function. Time is passed in; station_next_deadline() says when the core
 * needs the next step even if no input changes. Same inputs and times, same outputs.
 * No I/O, no clock reads, no allocation: the caller owns struct station.
 *
 * Transition rule: every change of PackML state goes through one function that records
 * {time, from, to, reason} in the outputs and then runs the new state's entry action;
 * a state's run action may request at most one transition per step (acting states end
 * with their "state complete" target; commands map through the state table).
 */
#ifndef SWAP_CORE_STATION_H
#define SWAP_CORE_STATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/cfg.h"
#include "core/diag.h"
#include "core/station_io.h"
#include "core/swapseq.h"
#include "plantcfg/plantcfg.h"

enum station_state {
    ST_STOPPED, ST_RESETTING, ST_IDLE, ST_STARTING, ST_EXECUTE, ST_COMPLETING, ST_COMPLETE,
    ST_HOLDING, ST_HELD, ST_UNHOLDING, ST_SUSPENDING, ST_SUSPENDED, ST_UNSUSPENDING,
    ST_STOPPING, ST_ABORTING, ST_ABORTED, ST_CLEARING,
    ST_COUNT,
    ST_NONE = -1
};

/* The station's own settings ([station], [deadlines], [pad], [weather],
 * [station_charging] of swapd.ini). */
struct station_cfg {
    int comm_loss_ms;           /* stale plant image for this long = comm loss */
    int plant_echo_timeout_ms;  /* heartbeat echo not following for this long = frozen image */
    int heartbeat_ms;           /* longest gap between steps the core asks for */
    double deadline_margin;     /* step deadline = nominal x margin + extra */
    int deadline_extra_ms;
    int commit_timeout_ms;      /* a move must be committed within this */
    int reset_pulse_ms;         /* fault-reset coil pulse */
    int reset_timeout_ms;       /* resetting / unholding / clearing give up after this */
    int step_retries;           /* Unhold may restart one step this many times */
    int swaps_per_run;          /* 0 = continuous; otherwise Completing after this many */
    int sequence;               /* enum swapseq_order */
    bool prestage;              /* pipelined: fetch a fresh pack to standby before any drone asks */
    int drone_heartbeat_timeout_ms; /* older = stale = armed */
    int disarm_wait_ms;         /* wait this long for "disarmed" before the pad zone */
    int touchdown_g;            /* load above this = a drone on the pad */
    int touchdown_debounce_ms;
    int landing_timeout_ms;     /* cleared drone must touch down within this */
    int landing_expect_ms;      /* a drone's usual time from clearance to touchdown */
    int cell_min_mV, cell_max_mV; /* sane per-cell voltage of the new pack */
    double wind_max_mps;
    bool rain_hold;
    double charge_min_degC, charge_max_degC;
    double handout_min_degC, handout_max_degC; /* never hand out a pack outside this */
};

extern const struct cfg_key station_cfg_keys[];
extern const size_t station_cfg_n_keys;

/* Fills cfg with the defaults of the key table (the values in configs/swapd.ini). */
void station_cfg_defaults(struct station_cfg *cfg);

struct station;

struct station_state_def {
    const char *name;
    void (*entry)(struct station *st, const struct station_inputs *in, uint64_t now_ms);
    void (*run)(struct station *st, const struct station_inputs *in, uint64_t now_ms);
    /* Where each command leads from this state; ST_NONE = refused. */
    enum station_state on_cmd[STATION_CMD_COUNT];
    bool robot_moves;           /* axes and carousel may be enabled in this state */
};

extern const struct station_state_def station_states[ST_COUNT];

#define STATION_TAG_UNKNOWN 0xFFFFFFFFu
#define STATION_ECHO_SAMPLES 16         /* heartbeats sent, kept for the frozen-image watch */
#define STATION_MAX_PENDING_MOVES STATION_MAX_MOVES

struct station {
    struct station_cfg cfg;
    struct plantcfg pc;
    enum station_state state;
    enum station_mode mode;
    uint64_t state_since_ms;
    uint64_t now_ms;
    bool reconciled;
    bool image_adopted;
    struct diag_state diag;
    struct station_plant_out cmd;       /* the levels the core holds */
    struct station_plant_out last_out;  /* the output image of the previous step */
    bool have_last_out;
    uint16_t heartbeat;
    uint64_t invalid_since_ms;          /* 0 = plant image valid */
    /* frozen-image watch: the plant's heartbeat echo must keep following ours. The
     * heartbeats sent, sampled at least plant_echo_timeout_ms / 8 apart (oldest first),
     * tell how long the oldest one the echo has not reached has been waiting. */
    struct { uint16_t heartbeat; uint64_t t_ms; } echo_sent[STATION_ECHO_SAMPLES];
    int echo_n;
    uint16_t echo_last;
    bool echo_seen;                     /* echo_last holds this run of valid images' echo */
    bool echo_armed;                    /* judged: the echo followed us once, or the robot may move */
    bool echo_followed;                 /* the echo reached a heartbeat this core sent: the image is live */
    unsigned echo_span;                 /* heartbeats sent so far, up to 1024 */
    uint64_t echo_waiting_ms;           /* how long the oldest heartbeat not echoed has waited */
    bool image_frozen;
    uint64_t pulse_until_ms;
    /* inventory model */
    uint32_t slot_tag[REGMAP_MAX_SLOTS];
    uint32_t grip_a_tag, grip_b_tag, pad_tag;
    bool charger_blocked[REGMAP_MAX_SLOTS];
    /* moves not yet committed */
    struct station_move pending[STATION_MAX_PENDING_MOVES];
    int n_pending;
    uint32_t move_seq, committed_seq;
    uint64_t commit_wait_since_ms;
    /* the swap */
    const struct swapseq_chain *chain;
    int chain_pos;                      /* index into chain->steps; -1 none */
    bool step_applied;
    uint64_t step_start_ms, step_deadline_ms, gate_wait_since_ms;
    int step_retry_count;
    struct swapseq_ctx ctx;
    uint8_t serving_sysid;
    uint32_t fresh_tag;
    uint64_t touchdown_ms, insert_ms;
    bool onpad;
    bool clear_deferred;                /* serving drone not yet cleared: the fetch runs first */
    unsigned swaps_done;
    uint64_t last_onpad_ms;
    bool release_allowed;               /* new pack verified: unclamp permitted */
    bool operator_abort;                /* explicit operator Abort: unclamp permitted */
    bool operator_suspend;              /* Suspended by the operator: only Unsuspend resumes */
    bool departing;                     /* released drone still on the pad */
    bool recon_hold;                    /* Held because the inventory disagreed */
    bool plant_renewed;                 /* Held for a renewed plant connection: Unhold resumes once reconciled */
    bool resume_checked;                /* a swap interrupted by a restart was looked for */
    bool resumed;                       /* the current step was re-entered after a restart */
    uint8_t left_sysid;                 /* drone left on the pad by an aborted swap, and its pack */
    uint32_t left_tag;
    uint8_t resume_sysid;               /* drone cleared to land before a restart, not yet served */
    /* landing queue */
    uint8_t queue[STATION_MAX_DRONES];
    int n_queue;
    uint8_t serving_asked;              /* the served drone, once its open request was seen */
    int queue_pos_sent[STATION_MAX_DRONES];
    uint8_t denied_sysid[STATION_MAX_DRONES];
    /* pad */
    uint64_t load_since_ms;
    bool drone_present;
    bool armed_exposed;                 /* a drone reports armed while clamped or near the head */
    /* what exactly raised an alarm, where its table text is general ("" none) */
    char alarm_note[DIAG_COUNT][80];
    /* per-step scratch */
    struct station_outputs *out;
    enum station_state requested;
    char requested_reason[96];
};

/* Prepares the core: state Stopped, reconciling (no motion until the inventory agrees
 * with the sensors). Returns 0, or -1 if the configurations cannot work together
 * (more slots than REGMAP_MAX_SLOTS, unknown sequence). */
int station_init(struct station *st, const struct station_cfg *cfg, const struct plantcfg *pc,
                 uint64_t now_ms);

/* Inputs with nothing known: no command, no policy choice, no drones. */
void station_inputs_init(struct station_inputs *in);

/* One scan: takes the inputs at now_ms (never earlier than the previous call) and
 * fills out completely (the whole plant output image every time). */
void station_step(struct station *st, const struct station_inputs *in, uint64_t now_ms,
                  struct station_outputs *out);

/* Absolute time (ms) by which the core needs its next step even without input change:
 * the next step deadline, debounce expiry, pulse end, or heartbeat. */
uint64_t station_next_deadline(const struct station *st);

const char *station_state_name(int state);
const char *station_cmd_name(int cmd);
const char *station_mode_name(int mode);
/* Reverse lookups (case-insensitive); -1 if unknown. */
int station_cmd_from_name(const char *name);
int station_mode_from_name(const char *name);

/* Writes the PackML table, the step tables and the diagnosis table as Markdown
 * (docs/station.md carries the same text). */
void station_write_tables(FILE *f);

#endif
