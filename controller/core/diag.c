/* The fault diagnosis table; see diag.h. */
#include "core/diag.h"

#include <string.h>

/* Debounce 0 = raised on the first scan that sees the condition: for the safety chain
 * (e-stop, armed drone) any delay would only postpone the stop. Two end sensors of one
 * device on at once is physically impossible (the ends are a stroke apart), so it gets
 * none either: waiting would only let the robot act on a lie for longer. Sensor-level conditions
 * that can flicker (load cell, weather) get a debounce. Comm loss and a refused image
 * are timed by the core itself ([station] comm_loss_ms), a frozen image by
 * [station] plant_echo_timeout_ms, so their rows have none. */
const struct diag_def diag_table[DIAG_COUNT] = {
    [DIAG_COMM_LOSS] = { "comm_loss", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "no fresh plant image (Modbus link down)",
        "Check the network and the plant PLC; the plant watchdog has stopped the robot. Reset, then Unhold." },
    [DIAG_ESTOP] = { "estop", 0, DIAG_CRITICAL, DIAG_REACT_ABORT, true,
        "e-stop chain open",
        "Find out why the e-stop was pressed; release it, Clear, Reset, Start." },
    [DIAG_GUARD] = { "guard_open", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "guard door open or light curtain interrupted",
        "Close the guard and make sure nobody is inside; Reset, Unhold." },
    [DIAG_PLANT_FAULT] = { "plant_fault", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "the plant latched a fault (see plant fault code)",
        "Read the plant fault code, remove the cause (jog in Maintenance if needed); Reset, Unhold." },
    [DIAG_AXIS_FAULT] = { "axis_fault", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "axis X, Z or carousel reports a fault (jam, following error)",
        "Inspect the axis for an obstruction; Reset; home in Maintenance if asked; Unhold." },
    [DIAG_WATCHDOG] = { "watchdog", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "plant watchdog tripped: the controller heartbeat went stale",
        "Check the controller host load and the link; Reset, Unhold." },
    [DIAG_CENTER_TIMEOUT] = { "center_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "centering pushers missed their end sensor in time",
        "Look for a drone off the pad centre or a stuck pusher; Reset, Unhold to retry." },
    [DIAG_CLAMP_TIMEOUT] = { "clamp_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "drone clamp missed its end sensor in time",
        "Check the clamp and its sensors; Reset, Unhold to retry." },
    [DIAG_X_TIMEOUT] = { "x_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "axis X did not reach its target in time",
        "Check axis X for a jam; Reset, Unhold to retry." },
    [DIAG_Z_TIMEOUT] = { "z_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "axis Z did not reach its target in time",
        "Check axis Z for a jam; Reset, Unhold to retry." },
    [DIAG_CAROUSEL_TIMEOUT] = { "carousel_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "carousel did not reach its slot in time",
        "Check the carousel drive; Reset, Unhold to retry." },
    [DIAG_STROKE_TIMEOUT] = { "stroke_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "stroke Y missed its end sensor in time",
        "Check the stroke for a blocked battery; Reset, Unhold to retry." },
    [DIAG_WRIST_TIMEOUT] = { "wrist_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "wrist missed its end sensor in time",
        "Check the wrist; Reset, Unhold to retry." },
    [DIAG_GRIP_A_TIMEOUT] = { "grip_a_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "gripper A missed its end sensor or holding sensor in time",
        "Check gripper A and whether it holds a pack; Reset, Unhold to retry." },
    [DIAG_GRIP_B_TIMEOUT] = { "grip_b_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "gripper B missed its end sensor or holding sensor in time",
        "Check gripper B and whether it holds a pack; Reset, Unhold to retry." },
    [DIAG_HOMING_TIMEOUT] = { "homing_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "an axis did not finish homing in time",
        "Check the reference switches; Reset, Start again." },
    [DIAG_BATTERY_NOT_REMOVED] = { "battery_not_removed", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "gripper A retracted but the load cell or holding sensor says the pack is still in the drone",
        "Inspect the drone's battery latch; Reset, Unhold to retry, or Abort and release the drone." },
    [DIAG_POWERUP_FAILED] = { "powerup_failed", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "the drone did not report the new pack with a sane voltage in time",
        "Check the drone and the pack; Unhold to wait again, or Abort to release the drone." },
    [DIAG_DRONE_NOT_DISARMED] = { "drone_not_disarmed", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "the drone on the pad did not report disarmed recently (stale heartbeat counts as armed)",
        "Check the drone link; Unhold once the drone reports disarmed, or Abort." },
    [DIAG_DRONE_ARMED] = { "drone_armed", 0, DIAG_CRITICAL, DIAG_REACT_HOLD, true,
        "the drone armed while clamped or with the robot in the pad zone: controlled stop (Held), the swap is kept",
        "Make the drone safe (disarm, props); Reset, Unhold to finish the swap, or Abort to give it up." },
    [DIAG_COMMIT_TIMEOUT] = { "commit_timeout", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "a battery move was not committed to the registry in time",
        "Check the database (disk full, locked); Reset, Unhold." },
    [DIAG_CHARGER_FAULT] = { "charger_fault", 0, DIAG_WARNING, DIAG_REACT_NONE, true,
        "a slot charger reports a fault; its charger is switched off",
        "Inspect the slot and the pack; retire the pack if it is damaged; Reset." },
    [DIAG_BATTERY_OVERTEMP] = { "battery_overtemp", 500, DIAG_WARNING, DIAG_REACT_NONE, true,
        "a pack is outside its temperature window or its sensor is open; it is not charged or handed out",
        "Let the pack cool down; check the NTC lead; Reset." },
    [DIAG_TAG_UNREADABLE] = { "tag_unreadable", 1000, DIAG_WARNING, DIAG_REACT_NONE, false,
        "a slot holds a pack whose RFID tag cannot be read; it is not handed out",
        "Clean or replace the tag; register the pack again." },
    [DIAG_INVENTORY_MISMATCH] = { "inventory_mismatch", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "the sensors disagree with the battery inventory",
        "Look where the packs really are; fix it by hand, or adopt the sensors' view; Unhold." },
    [DIAG_WEATHER] = { "weather", 2000, DIAG_WARNING, DIAG_REACT_SUSPEND, false,
        "wind or rain over the limits: no landings",
        "Nothing; the station resumes when the weather allows." },
    [DIAG_NO_BATTERY] = { "no_battery", 0, DIAG_WARNING, DIAG_REACT_SUSPEND, false,
        "no eligible charged pack for a waiting drone",
        "Wait for charging, or return packs to service." },
    [DIAG_PAD_OBSTRUCTED] = { "pad_obstructed", 1000, DIAG_WARNING, DIAG_REACT_SUSPEND, false,
        "weight on the pad while no drone was cleared to land",
        "Clear the pad (a drone that was not cleared, or an object)." },
    [DIAG_LANDING_TIMEOUT] = { "landing_timeout", 0, DIAG_INFO, DIAG_REACT_NONE, false,
        "a drone cleared to land did not touch down in time; the clearance was withdrawn",
        "Nothing; the drone may ask again." },
    [DIAG_MAGAZINE_FULL] = { "magazine_full", 0, DIAG_WARNING, DIAG_REACT_SUSPEND, false,
        "gripper A still holds an old pack and no slot is free for it (nor a charged pack to take into gripper B)",
        "Take a pack out of a slot by hand and book it with `swapctl removed SLOT`; the station then stores the old pack." },
    [DIAG_REGISTRY_WRITE_FAILED] = { "registry_write_failed", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "the battery registry refuses writes (disk full or I/O error); battery moves wait and are retried",
        "Free disk space on the database's file system (or fix the I/O error): the waiting moves then commit by themselves; Unhold." },
    [DIAG_SENSOR_CONFLICT] = { "sensor_conflict", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "both end sensors of one two-position device (centring, clamp, stroke, wrist, gripper) read on at once; the step is not taken as done",
        "The event names the device: check its two end sensors and their wiring (one is stuck on or shorted); Reset, Unhold." },
    [DIAG_PLANT_FROZEN] = { "plant_frozen", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "the plant's heartbeat echo stopped following the controller's heartbeat: the process image is frozen",
        "Check the PLC program and any gateway between the controller and the PLC (it serves a stale image); Reset, Unhold." },
    [DIAG_PLANT_DATA_INVALID] = { "plant_data_invalid", 0, DIAG_FAULT, DIAG_REACT_HOLD, true,
        "the plant's image holds a value outside its physical range (the event names the register and value); the image is not used",
        "Check the PLC (a sensor fault value, a wrong register map); Reset, Unhold once the image is sane." },
};

void diag_init(struct diag_state *d)
{
    memset(d, 0, sizeof *d);
    for (int i = 0; i < DIAG_COUNT; i++)
        d->detail[i] = -1;
}

int diag_update(struct diag_state *d, enum diag_id id, bool condition, int detail,
                uint64_t now_ms)
{
    if ((unsigned)id >= DIAG_COUNT)
        return 0;
    if (!condition) {
        d->pending_since_ms[id] = 0;
        d->cause[id] = false;
        if (d->active[id] && !diag_table[id].latch) {
            d->active[id] = false;
            return -1;
        }
        return 0;
    }
    /* now_ms + 1 keeps "pending since t = 0" distinct from "not pending". */
    if (!d->pending_since_ms[id])
        d->pending_since_ms[id] = now_ms + 1;
    if (now_ms + 1 - d->pending_since_ms[id] < diag_table[id].debounce_ms)
        return 0;
    d->cause[id] = true;
    if (d->active[id])
        return 0;
    d->active[id] = true;
    d->acked[id] = false;
    d->detail[id] = detail;
    return 1;
}

int diag_raise(struct diag_state *d, enum diag_id id, int detail)
{
    if ((unsigned)id >= DIAG_COUNT || d->active[id])
        return 0;
    d->active[id] = true;
    d->acked[id] = false;
    d->detail[id] = detail;
    return 1;
}

uint64_t diag_reset(struct diag_state *d)
{
    uint64_t cleared = 0;
    for (int i = 0; i < DIAG_COUNT; i++) {
        if (d->active[i] && !d->cause[i]) {
            d->active[i] = false;
            cleared |= 1ull << i;
        }
    }
    return cleared;
}

int diag_ack(struct diag_state *d, int id)
{
    if (id >= DIAG_COUNT)
        return -1;
    for (int i = 0; i < DIAG_COUNT; i++)
        if (id < 0 || i == id)
            d->acked[i] = true;
    return 0;
}

uint64_t diag_active_mask(const struct diag_state *d)
{
    uint64_t m = 0;
    for (int i = 0; i < DIAG_COUNT; i++)
        if (d->active[i])
            m |= 1ull << i;
    return m;
}

uint64_t diag_unacked_mask(const struct diag_state *d)
{
    uint64_t m = 0;
    for (int i = 0; i < DIAG_COUNT; i++)
        if (d->active[i] && !d->acked[i])
            m |= 1ull << i;
    return m;
}

int diag_first_with(const struct diag_state *d, enum diag_reaction r)
{
    for (int i = 0; i < DIAG_COUNT; i++)
        if (d->active[i] && diag_table[i].reaction == r)
            return i;
    return -1;
}

uint64_t diag_next_deadline(const struct diag_state *d)
{
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < DIAG_COUNT; i++) {
        if (!d->pending_since_ms[i] || d->cause[i])
            continue;
        uint64_t t = d->pending_since_ms[i] - 1 + diag_table[i].debounce_ms;
        if (t < next)
            next = t;
    }
    return next;
}

const char *diag_name(int id)
{
    return (id >= 0 && id < DIAG_COUNT) ? diag_table[id].name : "unknown";
}

const char *diag_severity_name(enum diag_severity s)
{
    switch (s) {
    case DIAG_INFO: return "info";
    case DIAG_WARNING: return "warning";
    case DIAG_FAULT: return "fault";
    case DIAG_CRITICAL: return "critical";
    }
    return "unknown";
}

const char *diag_reaction_name(enum diag_reaction r)
{
    switch (r) {
    case DIAG_REACT_NONE: return "alarm only";
    case DIAG_REACT_SUSPEND: return "suspend";
    case DIAG_REACT_HOLD: return "hold";
    case DIAG_REACT_ABORT: return "abort";
    }
    return "unknown";
}
