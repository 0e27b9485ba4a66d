/* Fault diagnosis: one table gives every fault the station detects its debounce, its
 * severity, its reaction (what the station core does) and whether it latches, plus the
 * operator's remedy. diag_update() debounces a condition against time passed in and
 * reports raise/clear edges; no clock, no allocation.
 */
#ifndef SWAP_CORE_DIAG_H
#define SWAP_CORE_DIAG_H

#include <stdbool.h>
#include <stdint.h>

enum diag_id {
    DIAG_COMM_LOSS,
    DIAG_ESTOP,
    DIAG_GUARD,
    DIAG_PLANT_FAULT,
    DIAG_AXIS_FAULT,
    DIAG_WATCHDOG,
    DIAG_CENTER_TIMEOUT,
    DIAG_CLAMP_TIMEOUT,
    DIAG_X_TIMEOUT,
    DIAG_Z_TIMEOUT,
    DIAG_CAROUSEL_TIMEOUT,
    DIAG_STROKE_TIMEOUT,
    DIAG_WRIST_TIMEOUT,
    DIAG_GRIP_A_TIMEOUT,
    DIAG_GRIP_B_TIMEOUT,
    DIAG_HOMING_TIMEOUT,
    DIAG_BATTERY_NOT_REMOVED,
    DIAG_POWERUP_FAILED,
    DIAG_DRONE_NOT_DISARMED,
    DIAG_DRONE_ARMED,
    DIAG_COMMIT_TIMEOUT,
    DIAG_CHARGER_FAULT,
    DIAG_BATTERY_OVERTEMP,
    DIAG_TAG_UNREADABLE,
    DIAG_INVENTORY_MISMATCH,
    DIAG_WEATHER,
    DIAG_NO_BATTERY,
    DIAG_PAD_OBSTRUCTED,
    DIAG_LANDING_TIMEOUT,
    DIAG_MAGAZINE_FULL,
    DIAG_REGISTRY_WRITE_FAILED,
    DIAG_SENSOR_CONFLICT,
    DIAG_PLANT_FROZEN,
    DIAG_PLANT_DATA_INVALID,
    DIAG_COUNT
};

enum diag_severity { DIAG_INFO, DIAG_WARNING, DIAG_FAULT, DIAG_CRITICAL };

/* What the core does when the alarm is raised. */
enum diag_reaction {
    DIAG_REACT_NONE,      /* alarm only; the station keeps working */
    DIAG_REACT_SUSPEND,   /* external condition: Suspended between swaps, resumes itself */
    DIAG_REACT_HOLD,      /* internal fault: controlled stop to Held (Stopping outside
                             the Execute family); the operator resets and unholds */
    DIAG_REACT_ABORT,     /* immediate stop to Aborted; never resumes by itself */
};

struct diag_def {
    const char *name;
    uint32_t debounce_ms;     /* the condition must hold this long before it is raised */
    enum diag_severity severity;
    enum diag_reaction reaction;
    bool latch;               /* stays active after the cause is gone, until a reset */
    const char *text;         /* what happened */
    const char *remedy;       /* what the operator does */
};

extern const struct diag_def diag_table[DIAG_COUNT];

struct diag_state {
    uint64_t pending_since_ms[DIAG_COUNT]; /* 0: condition not present */
    bool cause[DIAG_COUNT];                /* debounced condition now */
    bool active[DIAG_COUNT];               /* raised and not yet cleared */
    bool acked[DIAG_COUNT];
    int detail[DIAG_COUNT];
};

void diag_init(struct diag_state *d);

/* Feeds the condition of one fault at now_ms. Returns +1 when the alarm is raised by
 * this call, -1 when it clears (non-latching faults clear with their cause), 0 else. */
int diag_update(struct diag_state *d, enum diag_id id, bool condition, int detail,
                uint64_t now_ms);

/* Raises an alarm at once (events such as a missed step deadline). Returns +1 if it was
 * not active before, else 0. */
int diag_raise(struct diag_state *d, enum diag_id id, int detail);

/* Clears latched alarms whose cause is gone (the operator's reset). Calls back for each
 * cleared id through the returned mask (bit i). */
uint64_t diag_reset(struct diag_state *d);

/* Acknowledges one alarm (id) or all (id < 0). Returns 0, or -1 for an id outside the
 * table. */
int diag_ack(struct diag_state *d, int id);

/* Bit masks of active and active-but-unacknowledged alarms. */
uint64_t diag_active_mask(const struct diag_state *d);
uint64_t diag_unacked_mask(const struct diag_state *d);

/* True if any active alarm has this reaction. Returns the first such id or -1. */
int diag_first_with(const struct diag_state *d, enum diag_reaction r);

/* Earliest time at which a pending debounce expires; UINT64_MAX if none. */
uint64_t diag_next_deadline(const struct diag_state *d);

const char *diag_name(int id);
const char *diag_severity_name(enum diag_severity s);
const char *diag_reaction_name(enum diag_reaction r);

#endif
