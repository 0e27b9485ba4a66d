/* The safety gate: the diagnosis table fed every scan (pad zone, end sensors, frozen
 * image, plant data, comm loss, ...), the reactions an alarm triggers, and the
 * permissives the outputs are gated by (DESIGN §5). */
#include "core/station.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/station_impl.h"

/* ---- reactions ------------------------------------------------------------------------- */

bool station_in_execute_family(enum station_state s)
{
    return s == ST_EXECUTE || s == ST_SUSPENDING || s == ST_SUSPENDED || s == ST_UNSUSPENDING ||
           s == ST_UNHOLDING;
}

static void react(struct station *st, const struct station_inputs *in, enum diag_id id)
{
    char reason[96];
    snprintf(reason, sizeof reason, "alarm %s: %s", diag_table[id].name, diag_table[id].text);
    switch (diag_table[id].reaction) {
    case DIAG_REACT_NONE:
    case DIAG_REACT_SUSPEND:
        return; /* suspension is decided between swaps (station_execute_run) */
    case DIAG_REACT_HOLD:
        if (station_in_execute_family(st->state))
            station_transition(st, in, ST_HOLDING, reason);
        else if (st->state == ST_STARTING || st->state == ST_COMPLETING || st->state == ST_RESETTING)
            station_transition(st, in, ST_STOPPING, reason);
        return;
    case DIAG_REACT_ABORT:
        /* Also in Aborted: a jog in progress stops as well. */
        station_stop_axes(st);
        if (st->state != ST_ABORTING && st->state != ST_ABORTED) {
            st->operator_abort = false;
            station_transition(st, in, ST_ABORTING, reason);
        }
        return;
    }
}

void station_alarm_raise(struct station *st, const struct station_inputs *in, enum diag_id id, int detail)
{
    if (diag_raise(&st->diag, id, detail) <= 0)
        return;
    station_record_alarm(st, id, true);
    react(st, in, id);
}

static void feed(struct station *st, const struct station_inputs *in, enum diag_id id, bool cond, int detail)
{
    int edge = diag_update(&st->diag, id, cond, detail, st->now_ms);
    if (edge > 0) {
        station_record_alarm(st, id, true);
        react(st, in, id);
    } else if (edge < 0) {
        station_record_alarm(st, id, false);
    }
}

static void update_pad(struct station *st, const struct station_plant_in *p)
{
    bool load = p->load_g >= (unsigned)st->cfg.touchdown_g;
    if (load && !st->load_since_ms)
        st->load_since_ms = st->now_ms + 1;
    if (!load)
        st->load_since_ms = 0;
    st->drone_present = load && st->now_ms + 1 - st->load_since_ms >= (uint64_t)st->cfg.touchdown_debounce_ms;
    if (!load) {
        st->left_sysid = 0;
        st->left_tag = 0;
        st->departing = false;
        if (!st->onpad)
            st->pad_tag = 0;    /* the drone left with its pack */
    }
}

/* The first two-position device whose two end sensors are both on, or -1. */
static int end_sensor_conflict(const struct station_plant_in *p, const char **name)
{
    const struct {
        bool a, b;
        const char *name;
    } dev[] = {
        { p->center_open, p->center_closed, "centring: open and closed" },
        { p->clamp_unlocked, p->clamp_locked, "clamp: unlocked and locked" },
        { p->stroke_retracted, p->stroke_extended, "stroke: retracted and extended" },
        { p->wrist_a, p->wrist_b, "wrist: A and B" },
        { p->grip_a_open, p->grip_a_closed, "gripper A: open and closed" },
        { p->grip_b_open, p->grip_b_closed, "gripper B: open and closed" },
    };
    for (int i = 0; i < (int)(sizeof dev / sizeof dev[0]); i++) {
        if (dev[i].a && dev[i].b) {
            *name = dev[i].name;
            return i;
        }
    }
    return -1;
}

/* The plant echoes the last heartbeat it saw (IR_HEARTBEAT_ECHO); ours changes every
 * step. A heartbeat we sent that the echo has not reached within plant_echo_timeout_ms
 * means the image is frozen (a gateway or PLC serving a stale copy), however fresh the
 * exchange. It is judged on what we sent, not on the echo standing still: a scan that
 * stalls sends nothing new, and an echo of our latest heartbeat is never late. The
 * watch arms once the echo has followed us (moved to a heartbeat we sent), or once the
 * station is in a state that moves the robot, whichever comes first: before that a
 * plant may not yet have seen a write of ours, and nothing moves on its image anyway.
 * Heartbeats sent while there was no image are forgotten. Returns true while the image
 * counts as frozen. */
void station_echo_note_sent(struct station *st)
{
    uint64_t gap = (uint64_t)st->cfg.plant_echo_timeout_ms / 8;
    if (st->echo_n && st->now_ms < st->echo_sent[st->echo_n - 1].t_ms + (gap ? gap : 1))
        return;
    if (st->echo_n == STATION_ECHO_SAMPLES) {
        memmove(&st->echo_sent[0], &st->echo_sent[1], sizeof st->echo_sent[0] * (STATION_ECHO_SAMPLES - 1));
        st->echo_n--;
    }
    st->echo_sent[st->echo_n].heartbeat = st->heartbeat;
    st->echo_sent[st->echo_n].t_ms = st->now_ms;
    st->echo_n++;
}

bool station_echo_frozen(struct station *st, const struct station_plant_in *p)
{
    if (!p->valid) {
        st->echo_seen = false;
        st->echo_n = 0;
        return false;
    }
    /* An echo that is not one of our recent heartbeats (garbage, an old controller's)
     * echoes nothing: the last echo of ours stands. */
    uint16_t e = p->heartbeat_echo;
    if ((uint16_t)(st->heartbeat - e) < st->echo_span) {
        if (st->echo_seen && e != st->echo_last)
            st->echo_armed = true;
        st->echo_followed = true;
        st->echo_seen = true;
        st->echo_last = e;
    }
    if (station_states[st->state].robot_moves)
        st->echo_armed = true;
    /* The oldest sample the echo has not reached: the oldest heartbeat not echoed has
     * waited at least that long. */
    uint16_t e_age = st->echo_seen ? (uint16_t)(st->heartbeat - st->echo_last) : UINT16_MAX;
    st->echo_waiting_ms = 0;
    for (int i = 0; i < st->echo_n; i++) {
        if ((uint16_t)(st->heartbeat - st->echo_sent[i].heartbeat) < e_age) {
            st->echo_waiting_ms = st->now_ms - st->echo_sent[i].t_ms;
            break;
        }
    }
    return st->echo_armed && st->echo_waiting_ms >= (uint64_t)st->cfg.plant_echo_timeout_ms;
}

void station_diagnose(struct station *st, const struct station_inputs *in)
{
    const struct station_plant_in *p = &in->plant;
    feed(st, in, DIAG_REGISTRY_WRITE_FAILED, in->inv.valid && in->inv.store_failed, -1);
    if (st->image_frozen)
        station_set_note(st, DIAG_PLANT_FROZEN, "heartbeat echo stays at %u, ours at %u: not followed for %llu ms",
                 st->echo_last, st->heartbeat, (unsigned long long)st->echo_waiting_ms);
    feed(st, in, DIAG_PLANT_FROZEN, st->image_frozen, st->echo_last);
    if (!p->valid) {
        /* No usable image: missing (the link is down: comm_loss), refused as out of
         * range (plant_data_invalid, naming the register), or frozen (above). */
        if (!st->invalid_since_ms) {
            st->invalid_since_ms = st->now_ms + 1;
            /* An image that had already stopped following our heartbeat was no usable
             * image either: a frozen stretch the link then drops counts from the freeze
             * (the echo watch starts afresh on the next image). */
            if (st->echo_armed && st->echo_waiting_ms >= (uint64_t)st->cfg.comm_loss_ms &&
                st->echo_waiting_ms < st->invalid_since_ms)
                st->invalid_since_ms -= st->echo_waiting_ms;
        }
        bool long_enough = st->now_ms + 1 - st->invalid_since_ms >= (uint64_t)st->cfg.comm_loss_ms;
        if (p->refused)
            station_set_note(st, DIAG_PLANT_DATA_INVALID, "%s", p->refused_why);
        feed(st, in, DIAG_PLANT_DATA_INVALID, long_enough && p->refused, p->refused_addr);
        feed(st, in, DIAG_COMM_LOSS, long_enough && !p->refused && !st->image_frozen, -1);
        return;
    }
    st->invalid_since_ms = 0;
    feed(st, in, DIAG_COMM_LOSS, false, -1);
    feed(st, in, DIAG_PLANT_DATA_INVALID, false, -1);
    const char *conflict = "";
    int dev = end_sensor_conflict(p, &conflict);
    if (dev >= 0)
        station_set_note(st, DIAG_SENSOR_CONFLICT, "%s both on", conflict);
    feed(st, in, DIAG_SENSOR_CONFLICT, dev >= 0, dev);
    update_pad(st, p);
    feed(st, in, DIAG_ESTOP, !p->estop_ok, -1);
    feed(st, in, DIAG_GUARD, !p->guard_closed && station_states[st->state].robot_moves, -1);
    feed(st, in, DIAG_WATCHDOG, p->watchdog_tripped, -1);
    feed(st, in, DIAG_AXIS_FAULT, p->x_fault || p->z_fault || p->carousel_fault,
         p->x_fault ? 0 : p->z_fault ? 1 : 2);
    /* A plant fault that names a device raises that device's alarm, the same one a
     * missed step deadline raises: the operator sees which device, not just a code. */
    static const struct { uint16_t code; enum diag_id id; } device_faults[] = {
        { PF_X_JAM, DIAG_X_TIMEOUT }, { PF_Z_JAM, DIAG_Z_TIMEOUT },
        { PF_STROKE_TIMEOUT, DIAG_STROKE_TIMEOUT }, { PF_WRIST_TIMEOUT, DIAG_WRIST_TIMEOUT },
        { PF_GRIP_A_TIMEOUT, DIAG_GRIP_A_TIMEOUT }, { PF_GRIP_B_TIMEOUT, DIAG_GRIP_B_TIMEOUT },
        { PF_CENTER_TIMEOUT, DIAG_CENTER_TIMEOUT }, { PF_CLAMP_TIMEOUT, DIAG_CLAMP_TIMEOUT },
        { PF_CAROUSEL_JAM, DIAG_CAROUSEL_TIMEOUT }, { PF_GUARD, DIAG_GUARD },
    };
    bool mapped = p->plant_fault == PF_ESTOP || p->plant_fault == PF_WATCHDOG;
    for (size_t i = 0; i < sizeof device_faults / sizeof device_faults[0]; i++) {
        bool hit = p->plant_fault == device_faults[i].code;
        mapped = mapped || hit;
        if (hit || device_faults[i].id != DIAG_GUARD)
            feed(st, in, device_faults[i].id, hit, p->plant_fault);
    }
    feed(st, in, DIAG_PLANT_FAULT, p->plant_fault != PF_NONE && !mapped, p->plant_fault);
    /* DESIGN §5 rule 2: the drone on the pad reports armed while clamped or while the
     * head is in the pad zone. */
    const struct station_drone_in *d = station_find_drone(in, st->serving_sysid);
    bool exposed = p->clamp_locked || (st->drone_present && station_head_in_pad_zone(st, p));
    bool armed = station_drone_reports_armed(st, d);
    int who = st->serving_sysid;
    /* With no drone being served (after an abort, or at start-up) the one on the pad is
     * any drone that says it stands on the ground. */
    for (int i = 0; !st->serving_sysid && !armed && i < STATION_MAX_DRONES; i++) {
        const struct station_drone_in *o = &in->drones[i];
        if (o->sysid && o->landed_state == 1 /* MAV_LANDED_STATE_ON_GROUND */ && station_drone_reports_armed(st, o)) {
            armed = true;
            who = o->sysid;
        }
    }
    st->armed_exposed = exposed && armed;
    feed(st, in, DIAG_DRONE_ARMED, exposed && armed, who);
    int chg = -1, hot = -1, tag = -1;
    for (int s = 0; s < station_n_slots(st); s++) {
        const struct station_slot_in *sl = &p->slot[s];
        if (!sl->present)
            continue;
        if (!sl->tag_ok && tag < 0)
            tag = s;
        /* Telemetry not read since the pack arrived is unknown, not a fault: the pack is
         * kept off charge and hand-out (slot_temp_ok, station_fresh_slot_ok) until it is. */
        if (sl->telemetry_stale)
            continue;
        if (sl->chg_state == CHARGER_FAULT || sl->chg_fault != CHGF_NONE) {
            st->charger_blocked[s] = true;
            if (chg < 0)
                chg = s;
        }
        if (!sl->temp_ok || sl->temp_degC > st->cfg.charge_max_degC) {
            if (hot < 0)
                hot = s;
        }
    }
    feed(st, in, DIAG_CHARGER_FAULT, chg >= 0, chg);
    feed(st, in, DIAG_BATTERY_OVERTEMP, hot >= 0, hot);
    feed(st, in, DIAG_TAG_UNREADABLE, tag >= 0, tag);
    feed(st, in, DIAG_WEATHER, !station_weather_ok(st, p), -1);
    feed(st, in, DIAG_PAD_OBSTRUCTED,
         st->drone_present && !st->serving_sysid && !st->resume_sysid && !st->onpad && !st->departing &&
         st->reconciled, -1);
    bool waiting_drone = st->n_queue > 0 && !st->serving_sysid;
    feed(st, in, DIAG_NO_BATTERY, waiting_drone && !st->grip_b_tag && !station_fresh_slot_ok(st, in), in->inv.fresh_slot);
    feed(st, in, DIAG_MAGAZINE_FULL, st->reconciled && st->grip_a_tag && !st->chain && !station_store_possible(st, in), -1);
}

/* Permissives: a command that the plant would station_refuse (and latch as an interlock fault)
 * waits in the output stage until its precondition holds. */
void station_permissives(const struct station *st, const struct station_plant_in *p, struct station_plant_out *o)
{
    double tol = st->pc.position_tolerance_mm + 0.05;
    bool z_travel = p->z_pos_mm <= st->pc.z_travel_max_mm + 0.05;
    bool stroke_in = station_at_end(p->stroke_retracted, p->stroke_extended) && !o->co[REGMAP_CO_STROKE_EXTEND];
    bool x_moving_needed = fabs(p->x_pos_mm - o->x_target_mm) > tol;
    if (x_moving_needed && (!z_travel || !stroke_in || fabs(p->z_pos_mm - o->z_target_mm) > tol))
        o->co[REGMAP_CO_X_ENABLE] = false;
    /* With Z down or the stroke out the plant refuses any X or Z motion, even a
     * correction inside the position tolerance (an axis an e-stop left just short of its
     * target): the axis stays disabled there. */
    if (!z_travel || !stroke_in || (!x_moving_needed && !p->x_busy))
        o->co[REGMAP_CO_X_ENABLE] = false;
    if (!stroke_in)
        o->co[REGMAP_CO_Z_ENABLE] = false;
    /* Z goes below travel height only with X at rest (the plant's interlock). */
    if (o->z_target_mm > st->pc.z_travel_max_mm + 0.05 && (p->x_busy || o->co[REGMAP_CO_X_ENABLE]))
        o->co[REGMAP_CO_Z_ENABLE] = o->co[REGMAP_CO_Z_ENABLE] && !z_travel;
    bool at_magazine = fabs(p->x_pos_mm - st->pc.x_magazine_mm) <= tol;
    if (!stroke_in || (at_magazine && !z_travel))
        o->co[REGMAP_CO_CAROUSEL_ENABLE] = o->co[REGMAP_CO_CAROUSEL_ENABLE] && p->carousel_pos == (int)o->carousel_target;
    /* Wrist and stroke keep their level until the head may turn or push. */
    if (!station_at_end(p->stroke_retracted, p->stroke_extended))
        o->co[REGMAP_CO_WRIST_B] = p->wrist_b;
    if (o->co[REGMAP_CO_STROKE_EXTEND] && !p->stroke_extended) {
        bool still = !p->x_busy && !p->z_busy && !p->carousel_busy;
        bool at_bay = fabs(p->x_pos_mm - st->pc.x_bay_mm) <= tol && fabs(p->z_pos_mm - st->pc.z_bay_mm) <= tol;
        bool at_slot = at_magazine && fabs(p->z_pos_mm - st->pc.z_slot_mm) <= tol && p->carousel_pos >= 0 &&
                       p->carousel_pos == (int)o->carousel_target;
        bool wrist_set = o->co[REGMAP_CO_WRIST_B] ? p->wrist_b : p->wrist_a;
        if (!(still && (at_bay || at_slot) && wrist_set))
            o->co[REGMAP_CO_STROKE_EXTEND] = p->stroke_extended && !p->stroke_retracted;
    }
    if (p->x_homed)
        o->co[REGMAP_CO_X_HOME] = false;
    if (p->z_homed)
        o->co[REGMAP_CO_Z_HOME] = false;
    if (o->co[REGMAP_CO_X_HOME] && (!z_travel || !p->stroke_retracted))
        o->co[REGMAP_CO_X_HOME] = false;
}
