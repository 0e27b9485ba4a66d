/* The invariant campaign: a whole station in one process on a virtual clock — the plant
 * model, the station core, the drone link and several simulated drones talking real
 * MAVLink in memory — driven through seeded random swaps with random plant faults, drone
 * misbehaviour, comm losses, controller restarts and operator actions. After every scan
 * the safety rules of DESIGN §5 are checked against the plant's ground truth (the rules
 * and their exact definitions: docs/campaign.md). Same seed and options, same run: the
 * trace hash proves it.
 */
#ifndef SWAP_TESTS_CAMPAIGN_H
#define SWAP_TESTS_CAMPAIGN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The rules the campaign checks (docs/campaign.md defines each one). */
enum campaign_rule {
    CAMPAIGN_RULE_ARMED_ENTRY,     /* (a1) head enters the pad zone over an armed drone */
    CAMPAIGN_RULE_ARMED_STOP,      /* (a2) no controlled stop after the drone armed */
    CAMPAIGN_RULE_LOOSE_DRONE,     /* (a3) head in the pad zone over an unclamped drone */
    CAMPAIGN_RULE_INVENTORY,       /* (b) a pack is not where the inventory says */
    CAMPAIGN_RULE_UNCLAMP,         /* (c) drone released without a verified pack */
    CAMPAIGN_RULE_PHYSICAL,        /* (d) collision, take-off while held, interlock refusal */
    CAMPAIGN_RULE_ESTOP,           /* (e) motion commanded after an e-stop before Start */
    CAMPAIGN_RULE_RECONCILE,       /* (f) motion commanded before reconciliation */
    CAMPAIGN_RULE_COMM_LOSS,       /* (g) still in a moving state after a comm loss */
    CAMPAIGN_RULE_DURABLE,         /* (h) the registry file is not the shell's view once all is written */
    CAMPAIGN_RULE_COUNT
};

const char *campaign_rule_name(int rule);

struct plantmap;

struct campaign_opts {
    uint64_t seed;
    unsigned swaps;           /* the world ends after this many swaps ended (done or aborted) */
    int sequence;             /* enum swapseq_order */
    bool faults;              /* false: a clean run (no faults, misbehaviour, restarts, noise) */
    unsigned n_drones;        /* 0: 1..3 at random */
    unsigned scan_ms;         /* 0: 20 */
    uint64_t max_virtual_ms;  /* 0: swaps x 10 min; a world that runs out of it has stalled */
    FILE *report;             /* violation reports and stall diagnostics; NULL: stderr */
    bool stop_at_first;       /* end the world at its first violation */
    FILE *trace;              /* every event as it happens (NULL: only the last ones in a report) */
    unsigned without;         /* plant faults never injected: bit (1 << enum sim_fault_kind) */
    bool careless;            /* the operator also jogs while an e-stop or armed-drone alarm is on */
    unsigned landing_ms;      /* drone descent after its clearance; 0: the drone model's default */
    /* A fleet run (n_drones up to CAMPAIGN_MAX_DRONES): every drone starts nearly full and
     * asks after a short flight, one after the other (drone i after 2 + i s and its
     * return), and never turns critical; fleet_divert drones divert once while queued. */
    bool fleet;
    unsigned fleet_divert;
    struct campaign_wait *waits;   /* NULL: not recorded; else room for max_waits */
    unsigned max_waits;
    /* NULL: the plant speaks the default map; else it serves this layout (plantmap_server)
     * and the controller reads and writes through it. */
    const struct plantmap *plant_map;
};

/* One swap request of a drone in a fleet run: when it asked, the queue position the
 * station first told it, when it was cleared to land (0 not yet), whether it diverted. */
struct campaign_wait {
    uint8_t sysid;
    uint64_t asked_ms, cleared_ms;
    unsigned position;
    bool diverted;
};

#define CAMPAIGN_MAX_DRONES 32

struct campaign_result {
    uint64_t seed;
    unsigned swaps_started;     /* clearances to land */
    unsigned swaps_completed;   /* clearances for take-off */
    unsigned swaps_aborted;     /* swaps the station gave up (abort, landing timeout, restart) */
    unsigned violations;
    unsigned violations_by_rule[CAMPAIGN_RULE_COUNT];
    char first_violation[512];
    bool stalled;               /* no swap ended for too long, the time budget ran out, or a drone stalled */
    unsigned drone_stalls;      /* a drone made no progress within the protocol's timeouts */
    char first_stall[320];
    uint64_t virtual_ms, scans;
    uint64_t trace_hash;        /* FNV-1a over every recorded event and the per-scan state */
    unsigned faults_injected, misbehaviours, comm_losses, restarts, operator_cmds,
             operator_refused, drones_dispatched, drones_removed;
    unsigned blind_arming_scans; /* armed drone the station could not hear (not a violation) */
    /* Store faults (disk full or I/O errors for a while) and PLC power cycles injected. */
    unsigned disk_faults, plant_restarts;
    unsigned durable_checks;    /* times the registry file was compared with the shell (rule h) */
    unsigned n_waits;           /* requests recorded in o->waits */
    /* Lies about the image (part of faults_injected), and the operator's Suspends accepted
     * while a drone stood on the pad. */
    unsigned sensor_conflicts, frozen_images, invalid_images, suspends_on_pad;
    /* On-pad time (touchdown by load cell to cleared for take-off) of completed swaps. */
    double onpad_sum_s, onpad_max_s, onpad_min_s;
    unsigned onpad_n;
};

/* Runs one world. Returns 0 when it ran without violation and did not stall, 1 when it
 * found a violation or stalled (details in r and on o->report), -1 when the world could
 * not be built (bad options, allocation). */
int campaign_run(const struct campaign_opts *o, struct campaign_result *r);

/* Checks a fleet run's recorded requests against docs/drone-protocol.md §9: first come
 * first served, and no wait longer than its first position times per_position_ms
 * (requests still open at end_ms count until then). 0, or -1 with why filled. */
int campaign_fleet_check(const struct campaign_wait *waits, unsigned n, uint64_t per_position_ms, uint64_t end_ms,
                         char *why, size_t size);

/* Adds one world's result to a total (counts and sums; hashes are combined in order). */
void campaign_result_add(struct campaign_result *total, const struct campaign_result *r);

#endif
