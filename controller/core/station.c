/* The station core: PackML machine, swap chain runner, safety rules; see station.h. */
#include "core/station.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- names ------------------------------------------------------------------------- */

static const char *const cmd_names[STATION_CMD_COUNT] = {
    "Reset", "Start", "Stop", "Hold", "Unhold", "Suspend", "Unsuspend", "Abort", "Clear",
};
static const char *const mode_names[STATION_MODE_COUNT] = { "Production", "Maintenance", "Manual" };

const char *station_state_name(int s)
{
    return (s >= 0 && s < ST_COUNT) ? station_states[s].name : "-";
}

const char *station_cmd_name(int c)
{
    return (c >= 0 && c < STATION_CMD_COUNT) ? cmd_names[c] : "-";
}

const char *station_mode_name(int m)
{
    return (m >= 0 && m < STATION_MODE_COUNT) ? mode_names[m] : "-";
}

int station_cmd_from_name(const char *name)
{
    for (int i = 0; i < STATION_CMD_COUNT; i++)
        if (name && !strcasecmp(name, cmd_names[i]))
            return i;
    return -1;
}

int station_mode_from_name(const char *name)
{
    for (int i = 0; i < STATION_MODE_COUNT; i++)
        if (name && !strcasecmp(name, mode_names[i]))
            return i;
    return -1;
}

/* ---- recording --------------------------------------------------------------------- */

static void record_event(struct station *st, const char *from, const char *to, const char *fmt, ...)
{
    struct station_outputs *out = st->out;
    if (out->n_events >= STATION_MAX_EVENTS)
        return;
    struct station_event *e = &out->events[out->n_events++];
    e->t_ms = st->now_ms;
    e->from = from;
    e->to = to;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof e->reason, fmt, ap);
    va_end(ap);
}

static void record_alarm(struct station *st, int id, bool raised)
{
    struct station_outputs *out = st->out;
    if (out->n_alarm_events >= STATION_MAX_ALARM_EVENTS)
        return;
    struct station_alarm_event *a = &out->alarm_events[out->n_alarm_events++];
    a->t_ms = st->now_ms;
    a->alarm = id;
    a->raised = raised;
    a->detail = st->diag.detail[id];
    if (raised)
        snprintf(a->note, sizeof a->note, "%s", st->alarm_note[id]);
}

/* Says what exactly is wrong before an alarm whose table text is general is raised; the
 * note stays with the alarm until it is raised again. */
static void set_note(struct station *st, enum diag_id id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_note(struct station *st, enum diag_id id, const char *fmt, ...)
{
    if (st->diag.active[id])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->alarm_note[id], sizeof st->alarm_note[id], fmt, ap);
    va_end(ap);
}

/* A two-position device is at one end only when that end's sensor is on and the
 * opposite one is off: both on is a sensor fault (sensor_conflict), never an end. */
static bool at_end(bool this_end, bool other_end)
{
    return this_end && !other_end;
}

static void send_msg(struct station *st, uint8_t sysid, enum station_msg_kind kind, int32_t param)
{
    struct station_outputs *out = st->out;
    if (!sysid || out->n_msgs >= STATION_MAX_MSGS)
        return;
    out->msgs[out->n_msgs++] = (struct station_drone_msg){ sysid, kind, param };
}

static void refuse(struct station *st, const char *fmt, ...)
{
    st->out->cmd_ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->out->cmd_reason, sizeof st->out->cmd_reason, fmt, ap);
    va_end(ap);
}

/* The one transition function: records {time, from, to, reason}, then runs the entry
 * action of the new state. */
static void transition(struct station *st, const struct station_inputs *in, enum station_state to,
                       const char *reason)
{
    enum station_state from = st->state;
    record_event(st, station_states[from].name, station_states[to].name, "%s", reason);
    st->state = to;
    st->state_since_ms = st->now_ms;
    if (station_states[to].entry)
        station_states[to].entry(st, in, st->now_ms);
}

/* Run actions ask for their transition here; it is taken after the run action returns. */
static void request(struct station *st, enum station_state to, const char *fmt, ...)
{
    if (st->requested != ST_NONE)
        return;
    st->requested = to;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->requested_reason, sizeof st->requested_reason, fmt, ap);
    va_end(ap);
}

/* ---- helpers ----------------------------------------------------------------------- */

static int n_slots(const struct station *st)
{
    return st->pc.n_slots;
}

static const struct station_drone_in *find_drone(const struct station_inputs *in, uint8_t sysid)
{
    if (!sysid)
        return NULL;
    for (int i = 0; i < STATION_MAX_DRONES; i++)
        if (in->drones[i].sysid == sysid)
            return &in->drones[i];
    return NULL;
}

/* A fresh heartbeat that says "disarmed"; a stale or missing one counts as armed. */
static bool drone_disarmed_recently(const struct station *st, const struct station_drone_in *d)
{
    if (!d || !d->present || !d->last_heartbeat_ms || d->armed)
        return false;
    return st->now_ms <= d->last_heartbeat_ms + (uint64_t)st->cfg.drone_heartbeat_timeout_ms;
}

static bool drone_reports_armed(const struct station *st, const struct station_drone_in *d)
{
    if (!d || !d->present || !d->armed || !d->last_heartbeat_ms)
        return false;
    return st->now_ms <= d->last_heartbeat_ms + (uint64_t)st->cfg.drone_heartbeat_timeout_ms;
}

static bool head_in_pad_zone(const struct station *st, const struct station_plant_in *p)
{
    return p->x_pos_mm >= st->pc.x_pad_zone_mm - st->pc.position_tolerance_mm;
}

/* In the pad zone now, or where a moving X axis will come to rest if it brakes at once
 * (v^2 / 2a): a head that coasts must not find a released drone. */
static bool head_may_reach_pad_zone(const struct station *st, const struct station_plant_in *p)
{
    double v = p->x_vel_mm_s, a = st->pc.x.amax_mm_s2 > 0 ? st->pc.x.amax_mm_s2 : 1;
    double stop_mm = p->x_pos_mm + (v > 0 ? v * v / (2 * a) : 0);
    return head_in_pad_zone(st, p) || p->x_busy ||
           stop_mm >= st->pc.x_pad_zone_mm - st->pc.position_tolerance_mm;
}

/* DESIGN §5 rule 1: present, centred, clamped, and disarmed recently, or the old pack
 * is already out (then the drone has no power and its silence is expected). */
static bool pad_gate_ok(const struct station *st, const struct station_inputs *in)
{
    const struct station_plant_in *p = &in->plant;
    if (!st->drone_present || !at_end(p->center_closed, p->center_open) || !at_end(p->clamp_locked, p->clamp_unlocked))
        return false;
    if (st->pad_tag == 0 && st->onpad)
        return true;
    return drone_disarmed_recently(st, find_drone(in, st->serving_sysid));
}

/* The clamp holds the drone down: clamping one whose motors may still spin is what
 * rule 2 forbids, and a drone reports disarming only with its next heartbeat. So the
 * clamp waits for a heartbeat that arrived after touchdown and says "disarmed". */
static bool disarmed_since_touchdown(const struct station *st, const struct station_inputs *in)
{
    const struct station_drone_in *d = find_drone(in, st->serving_sysid);
    return drone_disarmed_recently(st, d) && d->last_heartbeat_ms >= st->touchdown_ms;
}

static bool weather_ok(const struct station *st, const struct station_plant_in *p)
{
    return p->wind_mps <= st->cfg.wind_max_mps && !(st->cfg.rain_hold && p->rain);
}

static bool slot_temp_ok(const struct station *st, const struct station_slot_in *s)
{
    return s->temp_ok && s->temp_degC >= st->cfg.charge_min_degC && s->temp_degC <= st->cfg.charge_max_degC;
}

static bool in_queue(const struct station *st, uint8_t sysid)
{
    for (int i = 0; i < st->n_queue; i++)
        if (st->queue[i] == sysid)
            return true;
    return false;
}

static void queue_remove(struct station *st, uint8_t sysid)
{
    for (int i = 0; i < st->n_queue; i++) {
        if (st->queue[i] != sysid)
            continue;
        memmove(&st->queue[i], &st->queue[i + 1], (size_t)(st->n_queue - i - 1));
        memmove(&st->queue_pos_sent[i], &st->queue_pos_sent[i + 1],
                (size_t)(st->n_queue - i - 1) * sizeof st->queue_pos_sent[0]);
        st->n_queue--;
        return;
    }
}

static void emit_move(struct station *st, uint32_t tag, struct station_location from,
                      struct station_location to, const char *step)
{
    if (st->n_pending >= STATION_MAX_PENDING_MOVES) {
        /* Cannot happen while the chain waits for every commit; drop the oldest rather
         * than overflow, and let the commit timeout raise the alarm. */
        memmove(&st->pending[0], &st->pending[1], sizeof st->pending[0] * (STATION_MAX_PENDING_MOVES - 1));
        st->n_pending--;
    }
    struct station_move *m = &st->pending[st->n_pending++];
    m->seq = ++st->move_seq;
    m->tag = tag;
    m->from = from;
    m->to = to;
    m->step = step;
    m->step_start_ms = st->step_start_ms;
    m->t_ms = st->now_ms;
    if (!st->commit_wait_since_ms)
        st->commit_wait_since_ms = st->now_ms + 1;
}

static struct station_location loc(enum station_place p, int index)
{
    return (struct station_location){ p, index };
}

static bool hold_or_abort_alarm(const struct station *st)
{
    return diag_first_with(&st->diag, DIAG_REACT_HOLD) >= 0 ||
           diag_first_with(&st->diag, DIAG_REACT_ABORT) >= 0;
}

static int first_blocking_alarm(const struct station *st)
{
    int a = diag_first_with(&st->diag, DIAG_REACT_ABORT);
    return a >= 0 ? a : diag_first_with(&st->diag, DIAG_REACT_HOLD);
}

/* Raises an alarm now and applies its reaction. */
static void alarm_raise(struct station *st, const struct station_inputs *in, enum diag_id id, int detail);
static bool move_already_done(const struct station *st, enum swapseq_id id);
static bool store_possible(const struct station *st, const struct station_inputs *in);
static void clear_to_land(struct station *st);
static void clear_when_ready(struct station *st, const struct station_inputs *in);
static bool in_execute_family(enum station_state s);

/* ---- reconciliation -------------------------------------------------------------- */

static void adopt_image(struct station *st, const struct station_plant_in *p)
{
    struct station_plant_out *c = &st->cmd;
    memset(c, 0, sizeof *c);
    if (p->have_readback) {
        memcpy(c->co, p->co_readback, sizeof c->co);
    } else {
        c->co[REGMAP_CO_CENTER_CLOSE] = p->center_closed;
        c->co[REGMAP_CO_CLAMP_LOCK] = p->clamp_locked;
        c->co[REGMAP_CO_STROKE_EXTEND] = p->stroke_extended;
        c->co[REGMAP_CO_WRIST_B] = p->wrist_b;
        c->co[REGMAP_CO_GRIP_A_CLOSE] = p->grip_a_closed;
        c->co[REGMAP_CO_GRIP_B_CLOSE] = p->grip_b_closed;
    }
    /* Whatever the plant held: nothing moves until the core has reconciled. */
    c->co[REGMAP_CO_X_ENABLE] = c->co[REGMAP_CO_X_HOME] = false;
    c->co[REGMAP_CO_Z_ENABLE] = c->co[REGMAP_CO_Z_HOME] = false;
    c->co[REGMAP_CO_CAROUSEL_ENABLE] = false;
    c->co[REGMAP_CO_FAULT_RESET] = false;
    c->x_target_mm = p->x_pos_mm;
    c->z_target_mm = p->z_pos_mm;
    c->carousel_target = p->carousel_pos >= 0 ? (uint16_t)p->carousel_pos : 0;
    st->image_adopted = true;
}

/* Compares the persisted inventory with the sensors. Returns true when they agree;
 * otherwise writes the first disagreement to why. */
static bool inventory_agrees(const struct station *st, const struct station_inputs *in, char *why, size_t size)
{
    const struct station_plant_in *p = &in->plant;
    const struct station_inventory_in *inv = &in->inv;
    for (int s = 0; s < n_slots(st); s++) {
        const struct station_slot_in *sl = &p->slot[s];
        uint32_t want = inv->slot_tag[s];
        if (!want && sl->present) {
            snprintf(why, size, "slot %d holds a pack (tag SWP-%08X) the inventory does not know", s, sl->tag);
            return false;
        }
        if (want && !sl->present) {
            snprintf(why, size, "slot %d should hold pack SWP-%08X but is empty", s, want);
            return false;
        }
        if (want && !sl->tag_ok) {
            snprintf(why, size, "slot %d: tag unreadable, cannot confirm pack SWP-%08X", s, want);
            return false;
        }
        if (want && sl->tag != want) {
            snprintf(why, size, "slot %d holds pack SWP-%08X, inventory says SWP-%08X", s, sl->tag, want);
            return false;
        }
    }
    if ((inv->grip_a_tag != 0) != p->grip_a_holding) {
        snprintf(why, size, "gripper A %s a pack, inventory says %s", p->grip_a_holding ? "holds" : "does not hold",
                 inv->grip_a_tag ? "it does" : "empty");
        return false;
    }
    if ((inv->grip_b_tag != 0) != p->grip_b_holding) {
        snprintf(why, size, "gripper B %s a pack, inventory says %s", p->grip_b_holding ? "holds" : "does not hold",
                 inv->grip_b_tag ? "it does" : "empty");
        return false;
    }
    bool drone = p->load_g >= (unsigned)st->cfg.touchdown_g;
    if (inv->pad_tag && !drone) {
        snprintf(why, size, "pack SWP-%08X should be in a drone on the pad, but the pad is empty", inv->pad_tag);
        return false;
    }
    int ls = inv->last_step;
    if (ls >= SWAPSEQ_CENTER_CLOSE && ls <= SWAPSEQ_RELEASE_DRONE && !drone) {
        snprintf(why, size, "last step %s was on the pad, but the pad is empty", swapseq_name(ls));
        return false;
    }
    return true;
}

static void take_inventory(struct station *st, const struct station_inventory_in *inv)
{
    memcpy(st->slot_tag, inv->slot_tag, sizeof st->slot_tag);
    st->grip_a_tag = inv->grip_a_tag;
    st->grip_b_tag = inv->grip_b_tag;
    st->pad_tag = inv->pad_tag;
    st->committed_seq = inv->moves_committed_seq;
    if (st->move_seq < st->committed_seq)
        st->move_seq = st->committed_seq;
}

/* The drone the station had cleared to land before a restart is expected: it is served
 * (not taken for an obstruction) once the station runs. */
static void note_cleared_drone(struct station *st, const struct station_inputs *in)
{
    int ls = in->inv.last_step;
    if (!in->inv.pad_sysid || ls < SWAPSEQ_FETCH_TRAVEL || ls > SWAPSEQ_AWAIT_TOUCHDOWN || st->chain)
        return;
    st->resume_sysid = in->inv.pad_sysid;
}

/* A gripper is the one device that moves a pack by itself: it takes the pack when it
 * reaches closed and lets go when it reaches open. One caught between its ends (by a
 * restart or an e-stop) is sent back towards what its holding sensor says, which moves
 * no pack, and the inventory is compared only once both grippers rest at an end; else
 * a gripper finishing its stroke after the comparison would move a pack unrecorded. */
static bool gripper_settled(bool *close_cmd, bool open, bool closed, bool holding)
{
    if (*close_cmd ? closed : open)
        return true;
    *close_cmd = holding;
    return false;
}

static bool grippers_settled(struct station *st, const struct station_plant_in *p)
{
    bool a = gripper_settled(&st->cmd.co[REGMAP_CO_GRIP_A_CLOSE], p->grip_a_open, p->grip_a_closed, p->grip_a_holding);
    bool b = gripper_settled(&st->cmd.co[REGMAP_CO_GRIP_B_CLOSE], p->grip_b_open, p->grip_b_closed, p->grip_b_holding);
    return a && b;
}

static void reconcile(struct station *st, const struct station_inputs *in)
{
    /* Compared only with a live image: one whose heartbeat echo has followed this core
     * (after a restart a frozen image would agree with a stale past). */
    if (st->reconciled || !in->plant.valid || !in->inv.valid || !st->echo_followed)
        return;
    if (!grippers_settled(st, &in->plant))
        return;
    char why[96];
    if (inventory_agrees(st, in, why, sizeof why)) {
        take_inventory(st, &in->inv);
        st->reconciled = true;
        st->resume_checked = false;
        note_cleared_drone(st, in);
        diag_update(&st->diag, DIAG_INVENTORY_MISMATCH, false, -1, st->now_ms);
        record_event(st, station_states[st->state].name, station_states[st->state].name,
                     "reconciled: inventory agrees with the sensors");
        return;
    }
    if (st->state == ST_HELD)
        return;
    alarm_raise(st, in, DIAG_INVENTORY_MISMATCH, -1);
    st->recon_hold = true;
    char reason[128];
    snprintf(reason, sizeof reason, "reconciliation: %s", why);
    transition(st, in, ST_HELD, reason);
}

/* The operator's decision after a mismatch: the sensors are right. Every difference
 * becomes a move to persist; packs the sensors cannot find go to quarantine. */
/* A gripper holds a pack the inventory does not put there: it took it where the head
 * stands, from the drone on the pad or from the slot in front of it. The move from
 * that place is recorded, so the registry no longer shows the pack where it was. */
static void adopt_gripper(struct station *st, const struct station_inputs *in, bool is_b)
{
    const struct station_plant_in *p = &in->plant;
    uint32_t *tag = is_b ? &st->grip_b_tag : &st->grip_a_tag;
    if (*tag || !(is_b ? p->grip_b_holding : p->grip_a_holding))
        return;
    struct station_location to = loc(is_b ? STATION_PLACE_GRIPPER_B : STATION_PLACE_GRIPPER_A, 0);
    double tol = st->pc.position_tolerance_mm + 0.05;
    int s = p->carousel_pos;
    if (fabs(p->x_pos_mm - st->pc.x_bay_mm) <= tol) {
        /* The drone whose swap was given up is still the one on the pad. */
        uint8_t sys = st->serving_sysid ? st->serving_sysid : in->inv.pad_sysid ? in->inv.pad_sysid : st->left_sysid;
        uint32_t t = st->pad_tag ? st->pad_tag : sys == st->left_sysid ? st->left_tag : 0;
        const struct station_drone_in *d = find_drone(in, sys);
        if (!t && d)
            t = d->battery_tag;
        *tag = t ? t : STATION_TAG_UNKNOWN;
        st->pad_tag = 0;
        emit_move(st, *tag, loc(STATION_PLACE_DRONE, sys), to, "adopt_sensors");
    } else if (fabs(p->x_pos_mm - st->pc.x_magazine_mm) <= tol && s >= 0 && s < n_slots(st) && st->slot_tag[s] &&
               !p->slot[s].present) {
        *tag = st->slot_tag[s];
        st->slot_tag[s] = 0;
        emit_move(st, *tag, loc(STATION_PLACE_SLOT, s), to, "adopt_sensors");
    } else {
        *tag = STATION_TAG_UNKNOWN;
        emit_move(st, *tag, loc(STATION_PLACE_NONE, 0), to, "adopt_sensors");
    }
}

/* A new connection to the plant: the plant may have restarted (power cycle, PLC reboot)
 * and hold other levels than the core's. As after a restart of the controller: the core
 * adopts what the plant holds (image_adopted cleared: the read-back of the new
 * connection), compares the inventory with the sensors before anything moves, and keeps
 * the swap it was in. Held: Unhold compares, then resumes the step; a mismatch stays
 * Held for the operator (adopt sensors). Starting or Completing (the robot moves) stop;
 * in a state where nothing moves (Stopped, Resetting, Idle, Complete) the comparison
 * runs by itself, in place. */
static void plant_renewed(struct station *st, const struct station_inputs *in)
{
    bool was = st->image_adopted;
    st->image_adopted = false;
    /* A new connection's echo starts afresh: it must follow this core again before the
     * image counts as live, and the frozen-image watch re-arms from there. */
    st->echo_seen = false;
    st->echo_followed = false;
    st->echo_armed = false;
    st->echo_n = 0;
    if (!was || !st->reconciled)
        return;  /* still reconciling from the start: nothing was adopted yet */
    st->reconciled = false;
    const char *why = "plant connection renewed: adopting the plant's levels, reconciling before anything moves";
    record_event(st, station_states[st->state].name, station_states[st->state].name, "%s", why);
    if (in_execute_family(st->state) || st->state == ST_HOLDING || st->state == ST_HELD) {
        /* The link was lost in a swap, however briefly: the operator sees comm_loss. */
        if (diag_raise(&st->diag, DIAG_COMM_LOSS, -1) > 0)
            record_alarm(st, DIAG_COMM_LOSS, true);
        st->recon_hold = true;
        st->plant_renewed = true;
        if (st->state != ST_HOLDING && st->state != ST_HELD)
            transition(st, in, ST_HOLDING, why);
    } else if (st->state == ST_STARTING || st->state == ST_COMPLETING) {
        transition(st, in, ST_STOPPING, why);
    }
}

/* States in which nothing moves reconcile again by themselves after a renewed link. */
static bool reconciles_in_place(enum station_state s)
{
    return s == ST_RESETTING || s == ST_IDLE || s == ST_COMPLETE;
}

static void adopt_sensors(struct station *st, const struct station_inputs *in)
{
    const struct station_plant_in *p = &in->plant;
    take_inventory(st, &in->inv);
    adopt_gripper(st, in, false);
    adopt_gripper(st, in, true);
    for (int s = 0; s < n_slots(st); s++) {
        const struct station_slot_in *sl = &p->slot[s];
        uint32_t seen = sl->present ? (sl->tag_ok ? sl->tag : STATION_TAG_UNKNOWN) : 0;
        if (seen == st->slot_tag[s])
            continue;
        if (st->slot_tag[s])
            emit_move(st, st->slot_tag[s], loc(STATION_PLACE_SLOT, s), loc(STATION_PLACE_QUARANTINE, 0), "adopt_sensors");
        if (seen && seen != STATION_TAG_UNKNOWN)
            emit_move(st, seen, loc(STATION_PLACE_NONE, 0), loc(STATION_PLACE_SLOT, s), "adopt_sensors");
        st->slot_tag[s] = seen;
    }
    if (st->grip_a_tag && !p->grip_a_holding) {
        emit_move(st, st->grip_a_tag, loc(STATION_PLACE_GRIPPER_A, 0), loc(STATION_PLACE_QUARANTINE, 0), "adopt_sensors");
        st->grip_a_tag = 0;
    }
    if (st->grip_b_tag && !p->grip_b_holding) {
        emit_move(st, st->grip_b_tag, loc(STATION_PLACE_GRIPPER_B, 0), loc(STATION_PLACE_QUARANTINE, 0), "adopt_sensors");
        st->grip_b_tag = 0;
    }
    if (st->pad_tag && p->load_g < (unsigned)st->cfg.touchdown_g) {
        emit_move(st, st->pad_tag, loc(STATION_PLACE_DRONE, 0), loc(STATION_PLACE_QUARANTINE, 0), "adopt_sensors");
        st->pad_tag = 0;
    }
    st->reconciled = true;
    diag_update(&st->diag, DIAG_INVENTORY_MISMATCH, false, -1, st->now_ms);
    record_event(st, station_states[st->state].name, station_states[st->state].name,
                 "operator adopted the sensors' view of the inventory");
}

/* ---- the swap chain ----------------------------------------------------------------- */

static enum swapseq_id cur_step(const struct station *st)
{
    return st->chain->steps[st->chain_pos];
}

static void chain_start(struct station *st, const struct swapseq_chain *c, int pos)
{
    st->chain = c;
    st->chain_pos = pos;
    st->step_applied = false;
    st->step_retry_count = 0;
    st->gate_wait_since_ms = 0;
}

static void chain_end(struct station *st)
{
    st->chain = NULL;
    st->chain_pos = -1;
    st->step_applied = false;
    st->clear_deferred = false;
}

static int pick_store_slot(const struct station *st, const struct station_plant_in *p)
{
    for (int s = 0; s < n_slots(st); s++)
        if (!st->slot_tag[s] && !p->slot[s].present)
            return s;
    return -1;
}

static bool powerup_verified(const struct station *st, const struct station_inputs *in)
{
    const struct station_drone_in *d = find_drone(in, st->serving_sysid);
    if (!d || !d->battery_report_ms || d->battery_report_ms < st->insert_ms)
        return false;
    if (d->battery_tag && st->fresh_tag && st->fresh_tag != STATION_TAG_UNKNOWN && d->battery_tag != st->fresh_tag)
        return false;
    uint32_t cells = (uint32_t)st->pc.battery_cells;
    return d->battery_mV >= cells * (uint32_t)st->cfg.cell_min_mV &&
           d->battery_mV <= cells * (uint32_t)st->cfg.cell_max_mV;
}

static void apply_move(struct station *st, const struct station_inputs *in, enum swapseq_id id)
{
    const char *name = swapseq_steps[id].name;
    uint8_t sys = st->serving_sysid;
    switch (swapseq_steps[id].move) {
    case SWM_NONE:
        return;
    case SWM_SLOT_TO_B:
    case SWM_SLOT_TO_A: {
        int fs = st->ctx.fresh_slot;
        bool known = fs >= 0 && fs < n_slots(st);
        uint32_t tag = known && st->slot_tag[fs] ? st->slot_tag[fs] : st->fresh_tag;
        if (known)
            st->slot_tag[fs] = 0;
        bool to_b = swapseq_steps[id].move == SWM_SLOT_TO_B;
        *(to_b ? &st->grip_b_tag : &st->grip_a_tag) = tag;
        emit_move(st, tag, known ? loc(STATION_PLACE_SLOT, fs) : loc(STATION_PLACE_NONE, 0),
                  loc(to_b ? STATION_PLACE_GRIPPER_B : STATION_PLACE_GRIPPER_A, 0), name);
        return;
    }
    case SWM_DRONE_TO_A:
        st->grip_a_tag = st->pad_tag ? st->pad_tag : STATION_TAG_UNKNOWN;
        st->pad_tag = 0;
        emit_move(st, st->grip_a_tag, loc(STATION_PLACE_DRONE, sys), loc(STATION_PLACE_GRIPPER_A, 0), name);
        return;
    case SWM_B_TO_DRONE:
        st->pad_tag = st->grip_b_tag;
        st->grip_b_tag = 0;
        st->insert_ms = st->now_ms;
        emit_move(st, st->pad_tag, loc(STATION_PLACE_GRIPPER_B, 0), loc(STATION_PLACE_DRONE, sys), name);
        return;
    case SWM_A_TO_DRONE:
        st->pad_tag = st->grip_a_tag;
        st->grip_a_tag = 0;
        st->insert_ms = st->now_ms;
        emit_move(st, st->pad_tag, loc(STATION_PLACE_GRIPPER_A, 0), loc(STATION_PLACE_DRONE, sys), name);
        return;
    case SWM_A_TO_SLOT: {
        int s = st->ctx.store_slot;
        if (s < 0 || s >= n_slots(st))
            return; /* unreachable: the store step cannot complete without its slot */
        uint32_t tag = st->grip_a_tag;
        /* A pack that came without a known serial is named by the slot's reader. */
        if ((tag == STATION_TAG_UNKNOWN || !tag) && in->plant.slot[s].tag_ok)
            tag = in->plant.slot[s].tag;
        st->slot_tag[s] = tag;
        st->grip_a_tag = 0;
        st->charger_blocked[s] = false;
        emit_move(st, tag, loc(STATION_PLACE_GRIPPER_A, 0), loc(STATION_PLACE_SLOT, s), name);
        return;
    }
    }
}

static void step_enter(struct station *st, const struct station_inputs *in)
{
    enum swapseq_id id = cur_step(st);
    if (id == SWAPSEQ_STORE_TRAVEL)
        st->ctx.store_slot = pick_store_slot(st, &in->plant);
    /* The drone's weight with its old pack, taken before anything touches the pack
     * (a restarted grip may find the pack already unlatched). */
    if ((id == SWAPSEQ_TO_BAY || id == SWAPSEQ_NAIVE_TO_BAY) && st->pad_tag)
        st->ctx.touchdown_load_g = (uint16_t)(in->plant.load_g + (in->plant.grip_a_holding ? st->pc.battery_mass_g : 0));
    st->step_start_ms = st->now_ms;
    swapseq_apply(id, &st->pc, &st->ctx, &st->cmd);
    double nominal_ms = swapseq_nominal_ms(id, &st->pc, &st->ctx, &in->plant);
    if (swapseq_steps[id].require & SWAPSEQ_REQ_TOUCHDOWN)
        st->step_deadline_ms = st->now_ms + (uint64_t)st->cfg.landing_timeout_ms;
    else
        st->step_deadline_ms = st->now_ms + (uint64_t)llround(nominal_ms * st->cfg.deadline_margin) +
                               (uint64_t)st->cfg.deadline_extra_ms;
    st->step_applied = true;
    st->gate_wait_since_ms = 0;
    if (st->onpad && st->chain_pos > st->chain->touchdown_index)
        send_msg(st, st->serving_sysid, STATION_MSG_PROGRESS,
                 (st->chain_pos - st->chain->touchdown_index) |
                 (st->chain->release_index - st->chain->touchdown_index) << 8);
}

static void swap_finished(struct station *st)
{
    st->swaps_done++;
    st->fresh_tag = 0;
}

/* Runs the chain as far as the sensors allow in this scan. */
static void chain_run(struct station *st, const struct station_inputs *in)
{
    const struct station_plant_in *p = &in->plant;
    clear_when_ready(st, in);
    for (int guard = 0; st->chain && guard < SWAPSEQ_COUNT + 2; guard++) {
        /* DESIGN §5 rule 4: a move is in the database before the next step starts. */
        if (st->committed_seq < st->move_seq) {
            if (st->commit_wait_since_ms &&
                st->now_ms + 1 - st->commit_wait_since_ms > (uint64_t)st->cfg.commit_timeout_ms)
                alarm_raise(st, in, DIAG_COMMIT_TIMEOUT, (int)st->move_seq);
            return;
        }
        enum swapseq_id id = cur_step(st);
        if (!st->step_applied) {
            bool gated = (swapseq_steps[id].pad_gate && !pad_gate_ok(st, in)) ||
                         (id == SWAPSEQ_CLAMP && !disarmed_since_touchdown(st, in));
            if (gated) {
                if (!st->gate_wait_since_ms)
                    st->gate_wait_since_ms = st->now_ms + 1;
                if (st->now_ms + 1 - st->gate_wait_since_ms > (uint64_t)st->cfg.disarm_wait_ms)
                    alarm_raise(st, in, DIAG_DRONE_NOT_DISARMED, st->serving_sysid);
                return;
            }
            if ((id == SWAPSEQ_STORE_TRAVEL) && pick_store_slot(st, p) < 0) {
                /* No free slot: the old pack waits in gripper A; schedule() frees one by
                 * taking the next fresh pack into gripper B, or raises magazine_full. */
                record_event(st, st->chain->name, "magazine_full", "no free slot: pack SWP-%08X stays in gripper A",
                             st->grip_a_tag);
                chain_end(st);
                return;
            }
            record_event(st, st->chain_pos > 0 ? swapseq_name(st->chain->steps[st->chain_pos - 1]) : st->chain->name,
                         swapseq_name(id), "step start");
            step_enter(st, in);
            clear_when_ready(st, in);
        }
        st->ctx.drone_present = st->drone_present;
        st->ctx.powerup_ok = powerup_verified(st, in);
        int late = swapseq_check(id, &st->pc, &st->ctx, p);
        if (late >= 0) {
            if (st->now_ms >= st->step_deadline_ms) {
                if (late == DIAG_LANDING_TIMEOUT) {
                    /* The drone did not come: withdraw its clearance and keep the fresh
                     * pack in gripper B for the next drone. */
                    alarm_raise(st, in, DIAG_LANDING_TIMEOUT, st->serving_sysid);
                    send_msg(st, st->serving_sysid, STATION_MSG_DENIED, STATION_DENY_TIMEOUT);
                    queue_remove(st, st->serving_sysid);
                    st->serving_sysid = 0;
                    chain_end(st);
                } else {
                    alarm_raise(st, in, (enum diag_id)late, (int)id);
                }
            }
            return;
        }
        /* complete */
        if (id == SWAPSEQ_POWERUP_CHECK)
            st->release_allowed = true;
        if (!(st->resumed && move_already_done(st, id)))
            apply_move(st, in, id);
        st->resumed = false;
        if (id == SWAPSEQ_AWAIT_TOUCHDOWN) {
            /* The pack in the drone is the one it reported on the link, if it did. */
            const struct station_drone_in *d = find_drone(in, st->serving_sysid);
            if (d && d->battery_tag)
                st->pad_tag = d->battery_tag;
            else if (!st->pad_tag && in->inv.pad_tag)
                st->pad_tag = in->inv.pad_tag;  /* the registry's (a restarted link has not heard it) */
            else if (!st->pad_tag)
                st->pad_tag = STATION_TAG_UNKNOWN;
            st->onpad = true;
            st->touchdown_ms = st->load_since_ms ? st->load_since_ms - 1 : st->now_ms;
        }
        if (st->chain_pos == st->chain->release_index) {
            st->onpad = false;
            st->release_allowed = false;
            st->last_onpad_ms = st->now_ms - st->touchdown_ms;
            send_msg(st, st->serving_sysid, STATION_MSG_CLEARED_TAKEOFF,
                     (int32_t)(st->pad_tag == STATION_TAG_UNKNOWN ? 0 : st->pad_tag));
            record_event(st, swapseq_name(id), "cleared_for_takeoff", "on-pad %llu ms",
                         (unsigned long long)st->last_onpad_ms);
            queue_remove(st, st->serving_sysid);
            st->serving_sysid = 0;
            st->departing = true;
            swap_finished(st);
        }
        if (++st->chain_pos >= st->chain->n_steps) {
            record_event(st, swapseq_name(id), st->chain->name, "chain complete");
            chain_end(st);
            return;
        }
        st->step_applied = false;
        st->step_retry_count = 0;
    }
}

/* DESIGN §5 rule 8 on the policy's choice: the pack is where the inventory says, its tag
 * reads, its temperature is known and inside the hand-out window, its charger is sane. */
static bool fresh_slot_ok(const struct station *st, const struct station_inputs *in)
{
    int s = in->inv.fresh_slot;
    if (s < 0 || s >= n_slots(st) || !st->slot_tag[s])
        return false;
    const struct station_slot_in *sl = &in->plant.slot[s];
    return sl->present && sl->tag_ok && sl->tag == st->slot_tag[s] && sl->temp_ok &&
           sl->temp_degC >= st->cfg.handout_min_degC && sl->temp_degC <= st->cfg.handout_max_degC &&
           !st->charger_blocked[s] && sl->chg_state != CHARGER_FAULT;
}

/* Is there a reason not to clear the next drone? Returns the diag id or -1. */
static int external_block(const struct station *st, const struct station_inputs *in)
{
    if (!weather_ok(st, &in->plant))
        return DIAG_WEATHER;
    if (st->drone_present || st->departing)
        return DIAG_PAD_OBSTRUCTED;
    if (!st->grip_b_tag && !fresh_slot_ok(st, in))
        return DIAG_NO_BATTERY;
    /* Gripper A takes the next drone's old pack; it still holds the last one only when
     * no slot is free for it (schedule() stores it as soon as one is). */
    if (st->grip_a_tag)
        return DIAG_MAGAZINE_FULL;
    return -1;
}

/* A move the inventory already shows (committed before a restart) is not made twice. */
static bool move_already_done(const struct station *st, enum swapseq_id id)
{
    switch (swapseq_steps[id].move) {
    case SWM_NONE: return false;
    case SWM_DRONE_TO_A: return st->pad_tag == 0;
    case SWM_B_TO_DRONE: return st->grip_b_tag == 0;
    case SWM_A_TO_DRONE: return st->grip_a_tag == 0 && st->pad_tag != 0;
    case SWM_A_TO_SLOT: return st->grip_a_tag == 0;
    case SWM_SLOT_TO_A: return st->grip_a_tag != 0;
    case SWM_SLOT_TO_B: return st->grip_b_tag != 0;
    }
    return false;
}

/* After a restart while a drone was cleared to land (the persisted last step is a fetch
 * step or the touchdown wait, and the persisted pad drone names it): the drone is still
 * coming, or already stands on the pad, so it is served first. The chain restarts from
 * where the packs are: the fetch from the top while gripper B is empty (each fetch step
 * re-applies its levels, which moves nothing already there), else from to_standby. */
static bool resume_before_touchdown(struct station *st, const struct station_inputs *in)
{
    int ls = in->inv.last_step;
    uint8_t sys = st->resume_sysid;
    const struct swapseq_chain *c = &swapseq_chains[SWAPSEQ_PIPELINED];
    if (!sys || ls < SWAPSEQ_FETCH_TRAVEL || ls > SWAPSEQ_AWAIT_TOUCHDOWN)
        return false;
    st->resume_sysid = 0;
    if (st->cfg.sequence != SWAPSEQ_PIPELINED || st->grip_a_tag)
        return false;
    st->serving_sysid = sys;
    if (!in_queue(st, sys) && st->n_queue < STATION_MAX_DRONES) {
        memmove(&st->queue[1], &st->queue[0], (size_t)st->n_queue);
        memmove(&st->queue_pos_sent[1], &st->queue_pos_sent[0], (size_t)st->n_queue * sizeof st->queue_pos_sent[0]);
        st->queue[0] = sys;
        st->queue_pos_sent[0] = 0;
        st->n_queue++;
    }
    st->ctx.fresh_slot = -1;
    st->ctx.store_slot = -1;
    st->ctx.pack_mass_g = st->pc.battery_mass_g;
    if (st->grip_b_tag) {
        st->fresh_tag = st->grip_b_tag;
        chain_start(st, c, c->touchdown_index - 1);
    } else if (fresh_slot_ok(st, in)) {
        st->ctx.fresh_slot = in->inv.fresh_slot;
        st->fresh_tag = st->slot_tag[in->inv.fresh_slot];
        chain_start(st, c, 0);
    } else {
        /* No pack to give: withdraw the clearance; a drone already down is released by
         * the operator (it counts as a pad obstruction from now on). */
        send_msg(st, sys, STATION_MSG_DENIED, STATION_DENY_NO_BATTERY);
        queue_remove(st, sys);
        st->serving_sysid = 0;
        return false;
    }
    record_event(st, "restart", swapseq_name(ls), "drone %u was cleared to land before the restart: serving it", sys);
    clear_to_land(st);
    return true;
}

/* After a restart with a drone on the pad in the middle of its swap (the persisted last
 * step is an on-pad step and the inventory agreed with the sensors), the chain resumes
 * at that step: its levels are re-applied, which moves nothing that is already there. */
static bool resume_swap(struct station *st, const struct station_inputs *in)
{
    if (st->resume_checked)
        return false;
    st->resume_checked = true;
    int ls = in->inv.last_step;
    const struct swapseq_chain *c = &swapseq_chains[st->cfg.sequence];
    const struct station_plant_in *p = &in->plant;
    if (resume_before_touchdown(st, in))
        return true;
    bool held = !p->clamp_unlocked || !p->center_open;
    if (ls < 0 && st->drone_present && held && c == &swapseq_chains[SWAPSEQ_PIPELINED]) {
        /* No persisted step, but a drone is held on the pad: where the packs are tells
         * how far the swap got. Each guess restarts a step that is safe to repeat. */
        if (st->pad_tag && st->grip_b_tag && !st->grip_a_tag)
            ls = SWAPSEQ_TO_STANDBY;            /* old pack still in: from the top */
        else if (!st->pad_tag && st->grip_a_tag && st->grip_b_tag)
            ls = SWAPSEQ_WRIST_TURN;            /* old pack out, fresh one not in */
        else if (st->pad_tag)
            ls = SWAPSEQ_INSERT_RETRACT;        /* a pack is in: check it, release */
    }
    if (!st->drone_present || ls < SWAPSEQ_TO_STANDBY || ls > SWAPSEQ_RELEASE_DRONE)
        return false;
    /* Starting pulled the stroke in: a grip or release interrupted before its gripper
     * reached its end has to push in again first. */
    if (ls == SWAPSEQ_TAKE_GRIP && !p->grip_a_holding && !p->stroke_extended)
        ls = SWAPSEQ_TAKE_EXTEND;
    if (ls == SWAPSEQ_INSERT_RELEASE && p->grip_b_holding && !p->stroke_extended)
        ls = SWAPSEQ_INSERT_EXTEND;
    int pos = -1;
    for (int i = c->touchdown_index - 1; i <= c->release_index && pos < 0; i++)
        if ((int)c->steps[i] == ls)
            pos = i;
    if (pos < 0)
        return false;
    uint8_t sys = in->inv.pad_sysid;
    for (int i = 0; !sys && i < STATION_MAX_DRONES; i++)
        if (in->drones[i].sysid && in->drones[i].present && in->drones[i].landed_state == 1)
            sys = in->drones[i].sysid;
    st->serving_sysid = sys;
    chain_start(st, c, pos);
    st->resumed = true;
    st->onpad = true;
    st->departing = false;
    st->touchdown_ms = st->now_ms;
    st->insert_ms = 0;
    bool inserted = pos > 0 && move_already_done(st, SWAPSEQ_INSERT_RELEASE) &&
                    ls >= SWAPSEQ_INSERT_RELEASE;
    st->fresh_tag = inserted ? st->pad_tag : st->grip_b_tag;
    st->ctx.fresh_slot = -1;
    st->ctx.store_slot = -1;
    st->ctx.pack_mass_g = st->pc.battery_mass_g;
    /* The drone's weight with its old pack, for the pack-removed check: the gripper may
     * have taken the pack out while the controller was down. */
    bool pack_out = inserted || !st->pad_tag || in->plant.grip_a_holding;
    st->ctx.touchdown_load_g = (uint16_t)(in->plant.load_g + (pack_out ? st->pc.battery_mass_g : 0));
    record_event(st, "restart", swapseq_name(ls), "resuming the swap of drone %u at step %s", sys, swapseq_name(ls));
    return true;
}

/* DESIGN §7: the fresh pack waits in gripper B at standby before any drone asks, so a
 * requesting drone is cleared at once and lands with the head already next to the pad. */
static const enum swapseq_id prestage_steps[] = {
    SWAPSEQ_FETCH_TRAVEL, SWAPSEQ_FETCH_LOWER, SWAPSEQ_FETCH_EXTEND, SWAPSEQ_FETCH_GRIP,
    SWAPSEQ_FETCH_RETRACT, SWAPSEQ_FETCH_RAISE, SWAPSEQ_TO_STANDBY,
};
static const struct swapseq_chain prestage_chain = {
    "prestage", prestage_steps, (int)(sizeof prestage_steps / sizeof prestage_steps[0]), -1, -1,
};

static bool prestage_wanted(const struct station *st, const struct station_inputs *in)
{
    return !st->chain && !st->grip_a_tag && !st->grip_b_tag && st->mode == STATION_MODE_PRODUCTION &&
           st->cfg.sequence == SWAPSEQ_PIPELINED && st->cfg.prestage && fresh_slot_ok(st, in);
}

/* Fetches the policy's pack into gripper B (the pre-staging chain). */
static void fetch_to_b(struct station *st, const struct station_inputs *in)
{
    st->serving_sysid = 0;
    st->onpad = false;
    st->ctx.fresh_slot = in->inv.fresh_slot;
    st->ctx.store_slot = -1;
    st->ctx.pack_mass_g = st->pc.battery_mass_g;
    st->fresh_tag = st->slot_tag[in->inv.fresh_slot];
    chain_start(st, &prestage_chain, 0);
    record_event(st, "idle", "prestage", "fetching pack SWP-%08X to standby", st->fresh_tag);
}

static bool prestage(struct station *st, const struct station_inputs *in)
{
    if (!prestage_wanted(st, in))
        return false;
    fetch_to_b(st, in);
    return true;
}

static void clear_to_land(struct station *st)
{
    st->onpad = false;
    for (int i = 0; i < st->n_queue; i++)
        if (st->queue[i] == st->serving_sysid)
            st->queue_pos_sent[i] = 0;
    send_msg(st, st->serving_sysid, STATION_MSG_CLEARED_TO_LAND, (st->cfg.landing_timeout_ms + 999) / 1000);
    record_event(st, "landing_queue", "cleared_to_land", "drone %u cleared to land, fresh pack SWP-%08X",
                 st->serving_sysid, st->fresh_tag);
}

/* A drone that asks while the pack is being pre-staged is cleared at once: the running
 * fetch becomes the first part of its swap (the same steps at the same positions). */
static void prestage_adopt_drone(struct station *st, const struct station_inputs *in)
{
    if (!st->n_queue || st->grip_a_tag || st->mode != STATION_MODE_PRODUCTION ||
        (st->cfg.swaps_per_run > 0 && st->swaps_done >= (unsigned)st->cfg.swaps_per_run))
        return;
    int block = external_block(st, in);
    if (block >= 0 && block != DIAG_NO_BATTERY)
        return;
    st->chain = &swapseq_chains[SWAPSEQ_PIPELINED];
    st->serving_sysid = st->queue[0];
    st->serving_asked = st->serving_sysid;   /* queued, so it asked: a cancel withdraws it */
    st->clear_deferred = true;
    clear_when_ready(st, in);
}

/* Nominal time (ms) until the chain reaches the touchdown wait: what is left of the
 * present step plus the steps before the wait. */
static double ms_to_touchdown(const struct station *st, const struct station_inputs *in)
{
    const struct swapseq_chain *c = st->chain;
    if (!c || c->touchdown_index < 0 || st->chain_pos >= c->touchdown_index)
        return 0;
    double ms = 0;
    for (int i = st->chain_pos; i < c->touchdown_index; i++) {
        double n = swapseq_nominal_ms(c->steps[i], &st->pc, &st->ctx, &in->plant);
        if (i == st->chain_pos && st->step_applied) {
            n -= (double)(st->now_ms - st->step_start_ms);
            if (n < 0)
                n = 0;
        }
        ms += n;
    }
    return ms;
}

/* Clears the serving drone once the fresh pack will be at standby when it lands, so it
 * does not wait on the pad for the fetch (DESIGN §7: the pack is staged before touchdown). */
static void clear_when_ready(struct station *st, const struct station_inputs *in)
{
    if (!st->clear_deferred || !st->serving_sysid)
        return;
    if (ms_to_touchdown(st, in) > (double)st->cfg.landing_expect_ms)
        return;
    st->clear_deferred = false;
    clear_to_land(st);
}

/* Starts the next piece of work, if any. Returns true when the chain runs. */
static bool schedule(struct station *st, const struct station_inputs *in)
{
    if (st->chain == &prestage_chain)
        prestage_adopt_drone(st, in);
    if (st->chain)
        return true;
    if (resume_swap(st, in))
        return true;
    if (st->grip_a_tag) {
        if (pick_store_slot(st, &in->plant) >= 0) {
            chain_start(st, &swapseq_store_chain, 0);
            return true;
        }
        /* Magazine full: taking the next charged pack into gripper B frees its slot. */
        if (!st->grip_b_tag && fresh_slot_ok(st, in)) {
            fetch_to_b(st, in);
            return true;
        }
        return false;
    }
    if (st->cfg.swaps_per_run > 0 && st->swaps_done >= (unsigned)st->cfg.swaps_per_run)
        return false;
    if (!st->n_queue || st->mode != STATION_MODE_PRODUCTION || external_block(st, in) >= 0)
        return prestage(st, in);
    const struct swapseq_chain *c = &swapseq_chains[st->cfg.sequence];
    st->serving_sysid = st->queue[0];
    st->serving_asked = st->serving_sysid;   /* queued, so it asked: a cancel withdraws it */
    st->ctx.fresh_slot = -1;
    if (st->grip_b_tag && c == &swapseq_chains[SWAPSEQ_PIPELINED]) {
        st->fresh_tag = st->grip_b_tag;
        chain_start(st, c, c->touchdown_index - 1);   /* to_standby */
    } else {
        st->ctx.fresh_slot = in->inv.fresh_slot;
        st->fresh_tag = st->slot_tag[in->inv.fresh_slot];
        chain_start(st, c, 0);
    }
    st->ctx.store_slot = -1;
    st->ctx.pack_mass_g = st->pc.battery_mass_g;
    st->clear_deferred = true;
    clear_when_ready(st, in);
    return true;
}

/* ---- landing queue ------------------------------------------------------------------ */

static bool accepting_drones(const struct station *st)
{
    if (st->mode != STATION_MODE_PRODUCTION)
        return false;
    switch (st->state) {
    case ST_STARTING: case ST_EXECUTE: case ST_SUSPENDING: case ST_SUSPENDED: case ST_UNSUSPENDING:
    case ST_HOLDING: case ST_HELD: case ST_UNHOLDING:
        return true;
    default:
        return false;
    }
}

/* The drone cleared to land withdrew before touching down (it cancelled, or the link
 * gave its clearance up): the pad is free for the next drone. A fetch under way goes on
 * as pre-staging (the same steps at the same positions), so the pack waits at standby. */
static void serving_withdrawn(struct station *st)
{
    record_event(st, "landing_queue", "withdrawn", "drone %u withdrew before touchdown", st->serving_sysid);
    queue_remove(st, st->serving_sysid);
    st->serving_sysid = 0;
    st->serving_asked = 0;
    st->clear_deferred = false;
    if (st->chain == &swapseq_chains[SWAPSEQ_PIPELINED] && st->chain_pos < st->chain->touchdown_index)
        st->chain = &prestage_chain;
    else if (st->chain && st->chain->touchdown_index >= 0 && st->chain_pos == st->chain->touchdown_index)
        chain_end(st);
}

/* The link keeps the landing queue's order (critical first, then by arrival) and hands
 * over its head in that order: the core's queue follows it. A drone the link no longer
 * hands over has left the queue (only the one being served stays). */
static void queue_follow_link(struct station *st, const struct station_inputs *in)
{
    uint8_t q[STATION_MAX_DRONES];
    int n = 0;
    for (int i = 0; i < st->n_queue; i++)
        if (!find_drone(in, st->queue[i]))
            q[n++] = st->queue[i];
    for (int i = 0; i < STATION_MAX_DRONES && n < STATION_MAX_DRONES; i++)
        if (in->drones[i].sysid && in_queue(st, in->drones[i].sysid))
            q[n++] = in->drones[i].sysid;
    for (int i = 0; i < n; i++) {
        if (st->queue[i] == q[i])
            continue;
        for (int j = i + 1; j < st->n_queue; j++) {
            if (st->queue[j] != q[i])
                continue;
            uint8_t s = st->queue[i];
            int p = st->queue_pos_sent[i];
            st->queue[i] = st->queue[j], st->queue_pos_sent[i] = st->queue_pos_sent[j];
            st->queue[j] = s, st->queue_pos_sent[j] = p;
            break;
        }
    }
}

static void service_queue(struct station *st, const struct station_inputs *in)
{
    for (int i = st->n_queue - 1; i >= 0; i--)
        if (!find_drone(in, st->queue[i]) && st->queue[i] != st->serving_sysid)
            queue_remove(st, st->queue[i]);
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        const struct station_drone_in *d = &in->drones[i];
        if (!d->sysid)
            continue;
        bool queued = in_queue(st, d->sysid);
        if (d->sysid == st->serving_sysid && d->swap_requested)
            st->serving_asked = d->sysid;
        else if (d->sysid == st->serving_sysid && st->serving_asked == d->sysid && !st->onpad &&
                 !st->drone_present && !st->departing)
            serving_withdrawn(st);
        if (!d->swap_requested || !d->present) {
            if (queued && d->sysid != st->serving_sysid)
                queue_remove(st, d->sysid);
            st->denied_sysid[i] = 0;
            continue;
        }
        if (queued)
            continue;
        if (!accepting_drones(st)) {
            if (st->denied_sysid[i] != d->sysid)
                send_msg(st, d->sysid, STATION_MSG_DENIED, STATION_DENY_NOT_RUNNING);
            st->denied_sysid[i] = d->sysid;
            continue;
        }
        if (st->n_queue >= STATION_MAX_DRONES) {
            if (st->denied_sysid[i] != d->sysid)
                send_msg(st, d->sysid, STATION_MSG_DENIED, STATION_DENY_QUEUE_FULL);
            st->denied_sysid[i] = d->sysid;
            continue;
        }
        st->queue[st->n_queue] = d->sysid;
        st->queue_pos_sent[st->n_queue] = 0;
        st->n_queue++;
    }
    queue_follow_link(st, in);
    for (int i = 0; i < st->n_queue; i++) {
        if (st->queue[i] == st->serving_sysid)
            continue;
        if (st->queue_pos_sent[i] != i + 1) {
            send_msg(st, st->queue[i], STATION_MSG_QUEUED, i + 1);
            st->queue_pos_sent[i] = i + 1;
        }
    }
}

/* ---- state actions --------------------------------------------------------------------- */

static void stop_axes(struct station *st)
{
    st->cmd.co[REGMAP_CO_X_ENABLE] = st->cmd.co[REGMAP_CO_X_HOME] = false;
    st->cmd.co[REGMAP_CO_Z_ENABLE] = st->cmd.co[REGMAP_CO_Z_HOME] = false;
    st->cmd.co[REGMAP_CO_CAROUSEL_ENABLE] = false;
}

static bool robot_still(const struct station_plant_in *p)
{
    return !p->x_busy && !p->z_busy && !p->carousel_busy;
}

static void pulse_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)in;
    st->pulse_until_ms = now_ms + (uint64_t)st->cfg.reset_pulse_ms;
    for (int s = 0; s < REGMAP_MAX_SLOTS; s++)
        st->charger_blocked[s] = false;
}

/* After the pulse: clear what is gone; true when nothing holds the station back. */
static bool pulse_done(struct station *st, const struct station_inputs *in)
{
    if (st->now_ms < st->pulse_until_ms)
        return false;
    uint64_t cleared = diag_reset(&st->diag);
    for (int i = 0; i < DIAG_COUNT; i++)
        if (cleared & (1ull << i))
            record_alarm(st, i, false);
    return in->plant.valid && in->plant.plant_ready && in->plant.estop_ok && !hold_or_abort_alarm(st);
}

static bool timed_out(const struct station *st)
{
    return st->now_ms >= st->state_since_ms + (uint64_t)st->cfg.reset_timeout_ms;
}

static void stopped_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    reconcile(st, in);
}

static void resetting_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (pulse_done(st, in))
        request(st, ST_IDLE, "reset complete");
    else if (timed_out(st))
        request(st, ST_STOPPED, "reset failed: %s", diag_name(first_blocking_alarm(st)));
}

static void starting_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)in;
    const struct plantcfg *pc = &st->pc;
    double t_s = pc->x.home_time_s + pc->z.home_time_s + plantcfg_move_time_s(&pc->z, pc->z.length_mm) +
                 pc->stroke_s;
    st->step_deadline_ms = now_ms + (uint64_t)llround(t_s * 1000 * st->cfg.deadline_margin) +
                           (uint64_t)st->cfg.deadline_extra_ms;
    st->swaps_done = 0;
}

/* Starting brings the robot to a known pose: stroke in, Z homed and up, X homed. */
static void starting_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    const struct station_plant_in *p = &in->plant;
    struct station_plant_out *c = &st->cmd;
    double top = swapseq_z_mm(SWZ_TOP, &st->pc);
    c->co[REGMAP_CO_STROKE_EXTEND] = false;
    bool z_ready = p->z_homed && p->z_in_pos && fabs(p->z_pos_mm - top) <= st->pc.position_tolerance_mm + 0.05;
    if (p->stroke_retracted) {
        c->co[REGMAP_CO_Z_HOME] = !p->z_homed;
        if (p->z_homed) {
            c->z_target_mm = top;
            c->co[REGMAP_CO_Z_ENABLE] = true;
        }
        c->co[REGMAP_CO_X_HOME] = z_ready && !p->x_homed;
        if (p->x_homed && !c->co[REGMAP_CO_X_ENABLE]) {
            c->x_target_mm = p->x_pos_mm;
            c->co[REGMAP_CO_X_ENABLE] = true;
        }
    }
    if (z_ready && p->x_homed && p->stroke_retracted && !p->x_busy) {
        request(st, ST_EXECUTE, "robot homed and at travel height");
        return;
    }
    if (now_ms >= st->step_deadline_ms)
        alarm_raise(st, in, DIAG_HOMING_TIMEOUT, -1);
}

static void execute_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    /* Re-entering Execute (Unhold, Unsuspend, Start after Stop) restarts the step:
     * its levels are re-applied and its deadline re-armed. */
    st->step_applied = false;
    st->operator_suspend = false;
    /* Starting pulled the stroke in: a grip or release that had not finished pushes in
     * again first (its gripper was sent back when the station stopped), or it would
     * take or drop a pack in front of the bay or the slot instead of in it. */
    if (st->chain && st->chain_pos > 0 && in->plant.valid) {
        enum swapseq_id id = cur_step(st), prev = st->chain->steps[st->chain_pos - 1];
        const struct swapseq_step *s = &swapseq_steps[id];
        bool gripper_step = (s->grip_a != SWK || s->grip_b != SWK) && s->stroke == SWK;
        if (gripper_step && swapseq_steps[prev].stroke == 1 &&
            !at_end(in->plant.stroke_extended, in->plant.stroke_retracted) &&
            swapseq_check(id, &st->pc, &st->ctx, &in->plant) >= 0)
            st->chain_pos--;
    }
}

static bool store_possible(const struct station *st, const struct station_inputs *in)
{
    return pick_store_slot(st, &in->plant) >= 0 || (!st->grip_b_tag && fresh_slot_ok(st, in));
}

static void execute_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (schedule(st, in))
        chain_run(st, in);
    if (st->state != ST_EXECUTE || st->requested != ST_NONE || st->chain)
        return;
    if (st->cfg.swaps_per_run > 0 && st->swaps_done >= (unsigned)st->cfg.swaps_per_run) {
        request(st, ST_COMPLETING, "%u swaps done", st->swaps_done);
        return;
    }
    int block = external_block(st, in);
    if (!st->n_queue)
        request(st, ST_SUSPENDING, "landing queue empty");
    else if (block >= 0)
        request(st, ST_SUSPENDING, "%s", diag_table[block].text);
}

static void completing_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    const struct station_plant_in *p = &in->plant;
    struct station_plant_out *c = &st->cmd;
    c->co[REGMAP_CO_STROKE_EXTEND] = false;
    c->z_target_mm = swapseq_z_mm(SWZ_TOP, &st->pc);
    c->co[REGMAP_CO_Z_ENABLE] = true;
    c->x_target_mm = st->pc.x_magazine_mm;
    c->co[REGMAP_CO_X_ENABLE] = true;
    if (p->stroke_retracted && p->x_in_pos && p->z_in_pos && robot_still(p) &&
        fabs(p->x_pos_mm - st->pc.x_magazine_mm) <= st->pc.position_tolerance_mm + 0.05)
        request(st, ST_COMPLETE, "head parked at the magazine");
}

/* Stopping the axes does not stop a gripper halfway through its stroke: it would take
 * or let go of a pack after the step that records the move has been left. One caught
 * between its ends goes back towards what its holding sensor says, which moves no pack
 * (as after a restart); the step re-applies its level when it resumes. */
static void stop_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    stop_axes(st);
    if (in->plant.valid && st->reconciled)
        (void)grippers_settled(st, &in->plant);
}

static void holding_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (robot_still(&in->plant) || !in->plant.valid)
        request(st, ST_HELD, "robot stopped");
}

static void held_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    (void)in;
    (void)st;
}

/* After a renewed plant link: the gripper of the step in progress may have finished its
 * stroke while the link was down (its valve keeps its level), so the pack moved without
 * the core seeing it. True when the sensors agree with the inventory as it will be
 * after this step's move; the chain then records that move when the step completes. */
static bool step_finished_while_away(const struct station *st, const struct station_inputs *in)
{
    if (!st->chain || !st->step_applied || swapseq_steps[cur_step(st)].move == SWM_NONE ||
        swapseq_check(cur_step(st), &st->pc, &st->ctx, &in->plant) >= 0)
        return false;
    struct station after = *st;
    apply_move(&after, in, cur_step(st));
    struct station_inputs expect = *in;
    memcpy(expect.inv.slot_tag, after.slot_tag, sizeof expect.inv.slot_tag);
    expect.inv.grip_a_tag = after.grip_a_tag;
    expect.inv.grip_b_tag = after.grip_b_tag;
    expect.inv.pad_tag = after.pad_tag;
    char why[96];
    return inventory_agrees(&after, &expect, why, sizeof why);
}

static void unholding_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (st->recon_hold) {
        char why[96] = "";
        if (!st->reconciled && in->inv.valid && inventory_agrees(st, in, why, sizeof why))
            reconcile(st, in);
        else if (!st->reconciled && in->inv.valid && st->plant_renewed && grippers_settled(st, &in->plant) &&
                 step_finished_while_away(st, in)) {
            take_inventory(st, &in->inv);
            st->reconciled = true;
            record_event(st, "unholding", swapseq_name(cur_step(st)),
                         "reconciled: the step finished while the plant was away; its move is recorded now");
        }
        if (st->reconciled) {
            diag_update(&st->diag, DIAG_INVENTORY_MISMATCH, false, -1, st->now_ms);
            if (diag_reset(&st->diag) & (1ull << DIAG_INVENTORY_MISMATCH))
                record_alarm(st, DIAG_INVENTORY_MISMATCH, false);
            st->recon_hold = false;
            if (!st->plant_renewed) {
                request(st, ST_STOPPED, "reconciled after operator intervention");
                return;
            }
            /* The plant came back: the core kept its swap; Unhold resumes the step. */
            st->plant_renewed = false;
            record_event(st, "unholding", "unholding", "reconciled with the renewed plant: resuming");
        } else {
            /* The operator sees why in the alarm list: adopt the sensors or fix by hand. */
            if (diag_raise(&st->diag, DIAG_INVENTORY_MISMATCH, -1) > 0)
                record_alarm(st, DIAG_INVENTORY_MISMATCH, true);
            request(st, ST_HOLDING, "inventory still disagrees: %s", why);
            return;
        }
    }
    if (pulse_done(st, in))
        request(st, ST_EXECUTE, "unhold complete: plant ready");
    else if (timed_out(st))
        request(st, ST_HOLDING, "unhold failed: %s", diag_name(first_blocking_alarm(st)));
}

/* A swap whose drone has been cleared to land: from the clearance until its old pack
 * is stored (the chain's end). */
static bool swap_in_progress(const struct station *st)
{
    return st->chain && st->chain->release_index >= 0 && !st->clear_deferred &&
           (st->serving_sysid || st->chain_pos > st->chain->release_index);
}

/* Suspend takes no new work, but it never strands a drone: a swap whose drone is cleared
 * to land or on the pad is finished first (swapped, verified, released, its old pack
 * stored), then the station suspends. */
static void suspending_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (swap_in_progress(st)) {
        chain_run(st, in);
        if (st->state != ST_SUSPENDING || st->requested != ST_NONE || swap_in_progress(st))
            return;
    }
    if (robot_still(&in->plant))
        request(st, ST_SUSPENDED, "robot parked");
}

static void suspended_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (st->mode != STATION_MODE_PRODUCTION || st->operator_suspend)
        return;
    bool store = st->grip_a_tag && store_possible(st, in);
    bool work = store || (st->n_queue && external_block(st, in) < 0) || prestage_wanted(st, in);
    if (work && !(st->cfg.swaps_per_run > 0 && st->swaps_done >= (unsigned)st->cfg.swaps_per_run))
        request(st, ST_UNSUSPENDING, store ? "pack in gripper A to store" : st->n_queue ? "drone waiting, conditions ok" :
                "a charged pack to pre-stage");
}

static void unsuspending_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)in;
    (void)now_ms;
    request(st, ST_EXECUTE, "resumed");
}

static void stopping_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (robot_still(&in->plant) || !in->plant.valid)
        request(st, ST_STOPPED, "robot stopped");
}

static void aborting_entry(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    stop_entry(st, in, now_ms);
    if (st->serving_sysid)
        send_msg(st, st->serving_sysid, STATION_MSG_SWAP_ABORTED, 0);
}

/* DESIGN §5 rule 3: an explicit operator abort may release the drone, but only once the
 * robot has stopped, with the head out of the pad zone and the stroke in (nothing of the
 * robot in the bay); deciding while the head still brakes would let it coast in. */
static void aborting_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    const struct station_plant_in *p = &in->plant;
    if (!(robot_still(p) || !p->valid))
        return;
    if (st->operator_abort && p->valid && !head_may_reach_pad_zone(st, p) &&
        at_end(p->stroke_retracted, p->stroke_extended)) {
        st->cmd.co[REGMAP_CO_CLAMP_LOCK] = false;
        st->cmd.co[REGMAP_CO_CENTER_CLOSE] = false;
    }
    request(st, ST_ABORTED, "robot stopped");
}

static void aborted_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)st;
    (void)in;
    (void)now_ms;
}

static void clearing_run(struct station *st, const struct station_inputs *in, uint64_t now_ms)
{
    (void)now_ms;
    if (pulse_done(st, in) || (st->now_ms >= st->pulse_until_ms && diag_first_with(&st->diag, DIAG_REACT_ABORT) < 0)) {
        /* The aborted swap is over; what the robot holds is re-checked against the
         * inventory before anything moves again. */
        chain_end(st);
        st->onpad = false;
        st->operator_abort = false;
        if (st->serving_sysid && st->drone_present) {
            st->left_sysid = st->serving_sysid;
            st->left_tag = st->pad_tag;
        }
        st->serving_sysid = 0;
        st->reconciled = false;
        request(st, ST_STOPPED, "cleared");
    } else if (timed_out(st)) {
        request(st, ST_ABORTED, "clear failed: %s", diag_name(first_blocking_alarm(st)));
    }
}

/* ---- the PackML table --------------------------------------------------------------- */

#define N ST_NONE
/*                                         Reset         Start        Stop         Hold        Unhold        Suspend        Unsuspend        Abort        Clear */
const struct station_state_def station_states[ST_COUNT] = {
    [ST_STOPPED]      = { "Stopped",      NULL,          stopped_run,      { ST_RESETTING, N, N, N, N, N, N, ST_ABORTING, N }, false },
    [ST_RESETTING]    = { "Resetting",    pulse_entry,   resetting_run,    { N, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, false },
    [ST_IDLE]         = { "Idle",         NULL,          NULL,             { N, ST_STARTING, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, false },
    [ST_STARTING]     = { "Starting",     starting_entry, starting_run,    { N, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, true },
    [ST_EXECUTE]      = { "Execute",      execute_entry, execute_run,      { N, N, ST_STOPPING, ST_HOLDING, N, ST_SUSPENDING, N, ST_ABORTING, N }, true },
    [ST_COMPLETING]   = { "Completing",   NULL,          completing_run,   { N, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, true },
    [ST_COMPLETE]     = { "Complete",     stop_entry,    NULL,             { ST_RESETTING, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, false },
    [ST_HOLDING]      = { "Holding",      stop_entry,    holding_run,      { N, N, ST_STOPPING, N, N, N, N, ST_ABORTING, N }, false },
    [ST_HELD]         = { "Held",         stop_entry,    held_run,         { N, N, ST_STOPPING, N, ST_UNHOLDING, N, N, ST_ABORTING, N }, false },
    [ST_UNHOLDING]    = { "Unholding",    pulse_entry,   unholding_run,    { N, N, ST_STOPPING, ST_HOLDING, N, N, N, ST_ABORTING, N }, false },
    [ST_SUSPENDING]   = { "Suspending",   NULL,          suspending_run,   { N, N, ST_STOPPING, ST_HOLDING, N, N, N, ST_ABORTING, N }, true },
    [ST_SUSPENDED]    = { "Suspended",    NULL,          suspended_run,    { N, N, ST_STOPPING, ST_HOLDING, N, N, ST_UNSUSPENDING, ST_ABORTING, N }, true },
    [ST_UNSUSPENDING] = { "Unsuspending", NULL,          unsuspending_run, { N, N, ST_STOPPING, ST_HOLDING, N, N, N, ST_ABORTING, N }, true },
    [ST_STOPPING]     = { "Stopping",     stop_entry,    stopping_run,     { N, N, N, N, N, N, N, ST_ABORTING, N }, false },
    [ST_ABORTING]     = { "Aborting",     aborting_entry, aborting_run,    { N, N, N, N, N, N, N, N, N }, false },
    [ST_ABORTED]      = { "Aborted",      stop_entry,    aborted_run,      { N, N, N, N, N, N, N, N, ST_CLEARING }, false },
    [ST_CLEARING]     = { "Clearing",     pulse_entry,   clearing_run,     { N, N, N, N, N, N, N, ST_ABORTING, N }, false },
};
#undef N

/* ---- reactions ------------------------------------------------------------------------- */

static bool in_execute_family(enum station_state s)
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
        return; /* suspension is decided between swaps (execute_run) */
    case DIAG_REACT_HOLD:
        if (in_execute_family(st->state))
            transition(st, in, ST_HOLDING, reason);
        else if (st->state == ST_STARTING || st->state == ST_COMPLETING || st->state == ST_RESETTING)
            transition(st, in, ST_STOPPING, reason);
        return;
    case DIAG_REACT_ABORT:
        /* Also in Aborted: a jog in progress stops as well. */
        stop_axes(st);
        if (st->state != ST_ABORTING && st->state != ST_ABORTED) {
            st->operator_abort = false;
            transition(st, in, ST_ABORTING, reason);
        }
        return;
    }
}

static void alarm_raise(struct station *st, const struct station_inputs *in, enum diag_id id, int detail)
{
    if (diag_raise(&st->diag, id, detail) <= 0)
        return;
    record_alarm(st, id, true);
    react(st, in, id);
}

static void feed(struct station *st, const struct station_inputs *in, enum diag_id id, bool cond, int detail)
{
    int edge = diag_update(&st->diag, id, cond, detail, st->now_ms);
    if (edge > 0) {
        record_alarm(st, id, true);
        react(st, in, id);
    } else if (edge < 0) {
        record_alarm(st, id, false);
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
static void echo_note_sent(struct station *st)
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

static bool echo_frozen(struct station *st, const struct station_plant_in *p)
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

static void diagnose(struct station *st, const struct station_inputs *in)
{
    const struct station_plant_in *p = &in->plant;
    feed(st, in, DIAG_REGISTRY_WRITE_FAILED, in->inv.valid && in->inv.store_failed, -1);
    if (st->image_frozen)
        set_note(st, DIAG_PLANT_FROZEN, "heartbeat echo stays at %u, ours at %u: not followed for %llu ms",
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
            set_note(st, DIAG_PLANT_DATA_INVALID, "%s", p->refused_why);
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
        set_note(st, DIAG_SENSOR_CONFLICT, "%s both on", conflict);
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
    const struct station_drone_in *d = find_drone(in, st->serving_sysid);
    bool exposed = p->clamp_locked || (st->drone_present && head_in_pad_zone(st, p));
    bool armed = drone_reports_armed(st, d);
    int who = st->serving_sysid;
    /* With no drone being served (after an abort, or at start-up) the one on the pad is
     * any drone that says it stands on the ground. */
    for (int i = 0; !st->serving_sysid && !armed && i < STATION_MAX_DRONES; i++) {
        const struct station_drone_in *o = &in->drones[i];
        if (o->sysid && o->landed_state == 1 /* MAV_LANDED_STATE_ON_GROUND */ && drone_reports_armed(st, o)) {
            armed = true;
            who = o->sysid;
        }
    }
    st->armed_exposed = exposed && armed;
    feed(st, in, DIAG_DRONE_ARMED, exposed && armed, who);
    int chg = -1, hot = -1, tag = -1;
    for (int s = 0; s < n_slots(st); s++) {
        const struct station_slot_in *sl = &p->slot[s];
        if (!sl->present)
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
        if (!sl->tag_ok && tag < 0)
            tag = s;
    }
    feed(st, in, DIAG_CHARGER_FAULT, chg >= 0, chg);
    feed(st, in, DIAG_BATTERY_OVERTEMP, hot >= 0, hot);
    feed(st, in, DIAG_TAG_UNREADABLE, tag >= 0, tag);
    feed(st, in, DIAG_WEATHER, !weather_ok(st, p), -1);
    feed(st, in, DIAG_PAD_OBSTRUCTED,
         st->drone_present && !st->serving_sysid && !st->resume_sysid && !st->onpad && !st->departing &&
         st->reconciled, -1);
    bool waiting_drone = st->n_queue > 0 && !st->serving_sysid;
    feed(st, in, DIAG_NO_BATTERY, waiting_drone && !st->grip_b_tag && !fresh_slot_ok(st, in), in->inv.fresh_slot);
    feed(st, in, DIAG_MAGAZINE_FULL, st->reconciled && st->grip_a_tag && !st->chain && !store_possible(st, in), -1);
}

/* ---- operator commands ---------------------------------------------------------------- */

static bool jog_allowed_state(enum station_state s)
{
    return s == ST_STOPPED || s == ST_IDLE || s == ST_HELD || s == ST_ABORTED;
}

static void do_jog(struct station *st, const struct station_inputs *in)
{
    const struct station_operator_in *op = &in->op;
    if (st->mode == STATION_MODE_PRODUCTION) {
        refuse(st, "jog needs Maintenance or Manual mode");
        return;
    }
    if (!jog_allowed_state(st->state)) {
        refuse(st, "jog is not allowed in %s", station_states[st->state].name);
        return;
    }
    if (!st->reconciled) {
        refuse(st, "inventory not reconciled: nothing moves");
        return;
    }
    /* DESIGN §5 rules 2 and 7: a jog accepted now would move the robot the moment the
     * e-stop is released, or next to a drone that may start its motors. */
    if (!in->plant.estop_ok || st->diag.active[DIAG_ESTOP]) {
        refuse(st, "jog refused: e-stop pressed or not yet cleared (Clear, Reset)");
        return;
    }
    if (st->diag.active[DIAG_DRONE_ARMED] || st->armed_exposed) {
        refuse(st, "jog refused: the drone on the pad is or was armed (make it safe, Clear, Reset)");
        return;
    }
    struct station_plant_out *c = &st->cmd;
    bool on = op->jog.value != 0;
    switch (op->jog.dev) {
    case STATION_JOG_CENTER: c->co[REGMAP_CO_CENTER_CLOSE] = on; break;
    case STATION_JOG_CLAMP:
        if (!on && st->mode == STATION_MODE_MAINTENANCE && st->drone_present) {
            refuse(st, "a drone is on the pad: release it in Manual mode");
            return;
        }
        c->co[REGMAP_CO_CLAMP_LOCK] = on;
        break;
    case STATION_JOG_STROKE: c->co[REGMAP_CO_STROKE_EXTEND] = on; break;
    case STATION_JOG_WRIST_B: c->co[REGMAP_CO_WRIST_B] = on; break;
    case STATION_JOG_GRIP_A: c->co[REGMAP_CO_GRIP_A_CLOSE] = on; break;
    case STATION_JOG_GRIP_B: c->co[REGMAP_CO_GRIP_B_CLOSE] = on; break;
    case STATION_JOG_X_MM:
        if (!(op->jog.value >= 0 && op->jog.value <= st->pc.x.length_mm)) {
            refuse(st, "X target outside 0..%g mm", st->pc.x.length_mm);
            return;
        }
        if (op->jog.value >= st->pc.x_pad_zone_mm && st->drone_present && !pad_gate_ok(st, in)) {
            refuse(st, "pad zone: the drone must be centred, clamped and disarmed");
            return;
        }
        c->x_target_mm = op->jog.value;
        c->co[REGMAP_CO_X_ENABLE] = true;
        break;
    case STATION_JOG_Z_MM:
        if (!(op->jog.value >= 0 && op->jog.value <= st->pc.z.length_mm)) {
            refuse(st, "Z target outside 0..%g mm", st->pc.z.length_mm);
            return;
        }
        c->z_target_mm = op->jog.value;
        c->co[REGMAP_CO_Z_ENABLE] = true;
        break;
    case STATION_JOG_CAROUSEL:
        if (!(op->jog.value >= 0 && op->jog.value < n_slots(st))) {
            refuse(st, "slot outside 0..%d", n_slots(st) - 1);
            return;
        }
        c->carousel_target = (uint16_t)op->jog.value;
        c->co[REGMAP_CO_CAROUSEL_ENABLE] = true;
        break;
    case STATION_JOG_HOME:
        c->co[REGMAP_CO_Z_HOME] = true;
        c->co[REGMAP_CO_X_HOME] = true;
        break;
    case STATION_JOG_STOP:
        stop_axes(st);
        break;
    default:
        refuse(st, "unknown jog device %d", (int)op->jog.dev);
        return;
    }
    snprintf(st->out->cmd_reason, sizeof st->out->cmd_reason, "jog accepted");
}

/* Causes an operator cannot reset away: the command that would resume is refused.
 * Judged on the physical inputs, never on a code the plant latched because of them:
 * the plant clears its latch (PF_GUARD) only with the fault-reset pulse that Reset,
 * Unhold and Clear send, so refusing those on the latch would lock the station out. */
static int persistent_cause(const struct station *st, const struct station_inputs *in)
{
    const struct station_plant_in *p = &in->plant;
    if (st->diag.active[DIAG_ESTOP] && p->valid && !p->estop_ok)
        return DIAG_ESTOP;
    if (st->diag.active[DIAG_GUARD] && p->valid && !p->guard_closed)
        return DIAG_GUARD;
    if (st->diag.active[DIAG_COMM_LOSS] && !p->valid)
        return DIAG_COMM_LOSS;
    if (st->diag.active[DIAG_SENSOR_CONFLICT] && st->diag.cause[DIAG_SENSOR_CONFLICT] && p->valid)
        return DIAG_SENSOR_CONFLICT;
    if (st->diag.active[DIAG_PLANT_DATA_INVALID] && p->refused)
        return DIAG_PLANT_DATA_INVALID;
    if (st->diag.active[DIAG_PLANT_FROZEN] && st->image_frozen)
        return DIAG_PLANT_FROZEN;
    if (st->diag.active[DIAG_DRONE_ARMED] && st->diag.cause[DIAG_DRONE_ARMED])
        return DIAG_DRONE_ARMED;
    if (st->diag.active[DIAG_REGISTRY_WRITE_FAILED] && st->diag.cause[DIAG_REGISTRY_WRITE_FAILED])
        return DIAG_REGISTRY_WRITE_FAILED;
    return -1;
}

static void list_allowed(const struct station *st, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int c = 0; c < STATION_CMD_COUNT && used < size; c++) {
        if (station_states[st->state].on_cmd[c] == ST_NONE)
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", cmd_names[c]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (!used)
        snprintf(buf, size, "none");
}

static void do_command(struct station *st, const struct station_inputs *in)
{
    enum station_cmd cmd = in->op.cmd;
    if ((int)cmd < 0 || cmd >= STATION_CMD_COUNT) {
        refuse(st, "unknown command %d", (int)cmd);
        return;
    }
    enum station_state to = station_states[st->state].on_cmd[cmd];
    if (to == ST_NONE) {
        char allowed[96];
        list_allowed(st, allowed, sizeof allowed);
        refuse(st, "%s is not allowed in %s (allowed: %s)", cmd_names[cmd], station_states[st->state].name, allowed);
        return;
    }
    int hard = persistent_cause(st, in);
    switch (cmd) {
    case STATION_CMD_RESET:
        if (!st->reconciled) {
            refuse(st, "Reset refused: inventory not reconciled with the sensors");
            return;
        }
        if (hard >= 0) {
            refuse(st, "Reset refused: %s still present", diag_name(hard));
            return;
        }
        break;
    case STATION_CMD_START:
        if (st->mode != STATION_MODE_PRODUCTION) {
            refuse(st, "Start refused: %s mode (switch to Production)", mode_names[st->mode]);
            return;
        }
        if (hold_or_abort_alarm(st)) {
            refuse(st, "Start refused: alarm %s active", diag_name(first_blocking_alarm(st)));
            return;
        }
        break;
    case STATION_CMD_UNHOLD:
        if (hard >= 0) {
            refuse(st, "Unhold refused: %s still present", diag_name(hard));
            return;
        }
        if (st->reconciled && st->chain && st->step_retry_count >= st->cfg.step_retries) {
            refuse(st, "Unhold refused: step %s already retried %d times; Abort", swapseq_name(cur_step(st)),
                   st->step_retry_count);
            return;
        }
        if (st->chain)
            st->step_retry_count++;
        break;
    case STATION_CMD_UNSUSPEND: {
        /* The operator's own suspension ends here; an external condition that still
         * holds keeps the station Suspended and it resumes by itself once it is gone. */
        st->operator_suspend = false;
        int block = st->n_queue ? external_block(st, in) : -1;
        if (block >= 0 && block != DIAG_NO_BATTERY) {
            refuse(st, "Unsuspend refused: %s", diag_table[block].text);
            return;
        }
        break;
    }
    case STATION_CMD_CLEAR:
        if (hard >= 0) {
            refuse(st, "Clear refused: %s still present", diag_name(hard));
            return;
        }
        break;
    case STATION_CMD_ABORT:
        st->operator_abort = true;
        break;
    case STATION_CMD_SUSPEND:
        st->operator_suspend = true;
        break;
    case STATION_CMD_HOLD:
    case STATION_CMD_STOP:
    case STATION_CMD_COUNT:
    case STATION_CMD_NONE:
        break;
    }
    char reason[48];
    snprintf(reason, sizeof reason, "operator: %s", cmd_names[cmd]);
    transition(st, in, to, reason);
}

static void do_op(struct station *st, const struct station_inputs *in)
{
    const struct station_operator_in *op = &in->op;
    switch (op->op) {
    case STATION_OP_NONE:
        return;
    case STATION_OP_MODE:
        if ((int)op->mode < 0 || op->mode >= STATION_MODE_COUNT) {
            refuse(st, "unknown mode %d", (int)op->mode);
            return;
        }
        if (!(st->state == ST_STOPPED || st->state == ST_IDLE || st->state == ST_ABORTED || st->state == ST_HELD)) {
            refuse(st, "mode change is not allowed in %s (only Stopped, Idle, Held, Aborted)",
                   station_states[st->state].name);
            return;
        }
        if (op->mode != st->mode)
            record_event(st, mode_names[st->mode], mode_names[op->mode], "operator: mode change");
        st->mode = op->mode;
        return;
    case STATION_OP_JOG:
        do_jog(st, in);
        return;
    case STATION_OP_ACK:
        if (diag_ack(&st->diag, op->alarm) < 0)
            refuse(st, "unknown alarm %d", op->alarm);
        return;
    case STATION_OP_PACK_REMOVED: {
        int sl = op->slot;
        if (sl < 0 || sl >= n_slots(st) || !st->slot_tag[sl]) {
            refuse(st, "slot %d holds no pack in the inventory", sl + 1);
            return;
        }
        if (!in->plant.valid || in->plant.slot[sl].present) {
            refuse(st, "slot %d still senses a pack: take it out first", sl + 1);
            return;
        }
        if (st->chain && (st->ctx.fresh_slot == sl || st->ctx.store_slot == sl)) {
            refuse(st, "slot %d is in use by the running swap; hold the station first", sl + 1);
            return;
        }
        /* The pack left the station by hand: it is booked to quarantine (outside the
         * magazine, known, with its record) and the slot is free again. */
        uint32_t tag = st->slot_tag[sl];
        st->slot_tag[sl] = 0;
        st->charger_blocked[sl] = false;
        emit_move(st, tag, loc(STATION_PLACE_SLOT, sl), loc(STATION_PLACE_QUARANTINE, 0), "removed_by_hand");
        record_event(st, "slot", "removed_by_hand", "pack SWP-%08X taken out of slot %d by an operator", tag, sl + 1);
        return;
    }
    case STATION_OP_ADOPT_SENSORS:
        if (st->reconciled) {
            refuse(st, "nothing to adopt: the inventory agrees with the sensors");
            return;
        }
        if (st->state != ST_HELD || !in->plant.valid || !in->inv.valid || !st->echo_followed) {
            refuse(st, "adopting the sensors needs Held and a live plant image and inventory");
            return;
        }
        adopt_sensors(st, in);
        return;
    }
    refuse(st, "unknown operator request %d", (int)op->op);
}

/* ---- outputs ------------------------------------------------------------------------------ */

static void charger_modes(struct station *st, const struct station_inputs *in, struct station_plant_out *o)
{
    const struct station_plant_in *p = &in->plant;
    for (int s = 0; s < REGMAP_MAX_SLOTS; s++) {
        uint8_t mode = CHARGER_MODE_OFF;
        if (s < n_slots(st) && p->valid) {
            const struct station_slot_in *sl = &p->slot[s];
            int want = in->inv.charger_request[s];
            if (want < 0 || want > CHARGER_MODE_STORAGE)
                want = CHARGER_MODE_CHARGE;
            bool reserved = st->chain && st->ctx.fresh_slot == s;
            /* DESIGN §5 rule 8: never charge outside the window or with a fault. */
            if (sl->present && slot_temp_ok(st, sl) && !st->charger_blocked[s] && !reserved)
                mode = (uint8_t)want;
        }
        o->charger_mode[s] = mode;
    }
}

/* Permissives: a command that the plant would refuse (and latch as an interlock fault)
 * waits in the output stage until its precondition holds. */
static void permissives(const struct station *st, const struct station_plant_in *p, struct station_plant_out *o)
{
    double tol = st->pc.position_tolerance_mm + 0.05;
    bool z_travel = p->z_pos_mm <= st->pc.z_travel_max_mm + 0.05;
    bool stroke_in = at_end(p->stroke_retracted, p->stroke_extended) && !o->co[REGMAP_CO_STROKE_EXTEND];
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
    if (!at_end(p->stroke_retracted, p->stroke_extended))
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

static void build_outputs(struct station *st, const struct station_inputs *in, struct station_outputs *out)
{
    const struct station_plant_in *p = &in->plant;
    struct station_plant_out *o = &out->plant;
    *o = st->cmd;
    bool robot_may_move = st->reconciled && p->valid && p->estop_ok &&
                          (station_states[st->state].robot_moves ||
                           (st->mode != STATION_MODE_PRODUCTION && jog_allowed_state(st->state)));
    /* DESIGN §5 rule 2 holds whatever asked for the motion (a chain step or a jog). */
    if (st->armed_exposed)
        robot_may_move = false;
    if (!robot_may_move) {
        o->co[REGMAP_CO_X_ENABLE] = o->co[REGMAP_CO_X_HOME] = false;
        o->co[REGMAP_CO_Z_ENABLE] = o->co[REGMAP_CO_Z_HOME] = false;
        o->co[REGMAP_CO_CAROUSEL_ENABLE] = false;
    }
    if (p->valid) {
        permissives(st, p, o);
        /* DESIGN §5 rule 1, enforced on the output whatever asked for the move: no entry
         * into the pad zone without the pad gate (an empty pad is no danger). */
        bool entering = o->x_target_mm >= st->pc.x_pad_zone_mm && !head_in_pad_zone(st, p);
        if (o->co[REGMAP_CO_X_ENABLE] && entering && st->drone_present && !pad_gate_ok(st, in))
            o->co[REGMAP_CO_X_ENABLE] = false;
        if (o->co[REGMAP_CO_X_ENABLE] && entering && !st->drone_present && st->mode == STATION_MODE_PRODUCTION &&
            st->onpad)
            o->co[REGMAP_CO_X_ENABLE] = false;
        /* Rule 3: unclamp only after the new pack is verified, or on an explicit operator
         * abort / Manual release; never with the robot in the pad zone. */
        if (!o->co[REGMAP_CO_CLAMP_LOCK] && p->clamp_locked && st->drone_present) {
            bool manual = st->mode == STATION_MODE_MANUAL && jog_allowed_state(st->state);
            bool ok = (st->release_allowed || st->operator_abort || manual) &&
                      !head_may_reach_pad_zone(st, p) && at_end(p->stroke_retracted, p->stroke_extended);
            if (!ok)
                o->co[REGMAP_CO_CLAMP_LOCK] = true;
        }
        if (!o->co[REGMAP_CO_CENTER_CLOSE] && o->co[REGMAP_CO_CLAMP_LOCK] && p->center_closed)
            o->co[REGMAP_CO_CENTER_CLOSE] = true;
    } else if (st->have_last_out) {
        /* No image to judge the permissives on (missing, refused, frozen): every
         * two-position device keeps the level the plant last got; a level held back by
         * a permissive is not let through blind. The axes are off (above). */
        static const enum regmap_co held[] = { REGMAP_CO_CENTER_CLOSE, REGMAP_CO_CLAMP_LOCK, REGMAP_CO_STROKE_EXTEND,
                                               REGMAP_CO_WRIST_B, REGMAP_CO_GRIP_A_CLOSE, REGMAP_CO_GRIP_B_CLOSE };
        for (size_t i = 0; i < sizeof held / sizeof held[0]; i++)
            o->co[held[i]] = st->last_out.co[held[i]];
    }
    o->co[REGMAP_CO_FAULT_RESET] = st->now_ms < st->pulse_until_ms;
    charger_modes(st, in, o);
    /* Tower light: green running, yellow waiting or transient, red alarm; horn while a
     * critical or fault alarm is unacknowledged. */
    uint64_t unacked = diag_unacked_mask(&st->diag);
    bool red = st->state == ST_ABORTED || st->state == ST_ABORTING || st->state == ST_HELD || hold_or_abort_alarm(st);
    o->co[REGMAP_CO_LIGHT_RED] = red;
    o->co[REGMAP_CO_LIGHT_GREEN] = !red && st->state == ST_EXECUTE;
    o->co[REGMAP_CO_LIGHT_YELLOW] = !red && st->state != ST_EXECUTE;
    bool horn = false;
    for (int i = 0; i < DIAG_COUNT; i++)
        if ((unacked >> i & 1) && diag_table[i].severity >= DIAG_FAULT)
            horn = true;
    o->co[REGMAP_CO_HORN] = horn;
    o->heartbeat = ++st->heartbeat;
    if (st->echo_span < 1024u)
        st->echo_span++;
    echo_note_sent(st);
    if (o->x_target_mm < 0)
        o->x_target_mm = 0;
    if (o->z_target_mm < 0)
        o->z_target_mm = 0;

    st->last_out = *o;
    st->have_last_out = true;

    out->n_moves = 0;
    for (int i = 0; i < st->n_pending && out->n_moves < STATION_MAX_MOVES; i++)
        out->moves[out->n_moves++] = st->pending[i];
    out->move_seq = st->move_seq;
    out->alarms_active = diag_active_mask(&st->diag);
    out->alarms_unacked = unacked;
    out->state = st->state;
    out->mode = st->mode;
    out->step = st->chain ? (int)cur_step(st) : -1;
    out->serving_sysid = st->serving_sysid;
    out->pad_occupied = st->drone_present;
    out->reconciled = st->reconciled;
}

static void note_commits(struct station *st, const struct station_inputs *in)
{
    uint32_t c = in->inv.moves_committed_seq;
    if (!in->inv.valid || c <= st->committed_seq)
        return;
    if (c > st->move_seq)
        c = st->move_seq;
    st->committed_seq = c;
    int keep = 0;
    for (int i = 0; i < st->n_pending; i++)
        if (st->pending[i].seq > c)
            st->pending[keep++] = st->pending[i];
    st->n_pending = keep;
    st->commit_wait_since_ms = st->n_pending ? st->now_ms + 1 : 0;
}

/* ---- public ---------------------------------------------------------------------------- */

void station_inputs_init(struct station_inputs *in)
{
    memset(in, 0, sizeof *in);
    in->op.cmd = STATION_CMD_NONE;
    in->op.op = STATION_OP_NONE;
    in->op.alarm = -1;
    in->inv.last_step = -1;
    in->inv.fresh_slot = -1;
    for (int s = 0; s < REGMAP_MAX_SLOTS; s++)
        in->inv.charger_request[s] = -1;
    in->plant.carousel_pos = -1;
}

int station_init(struct station *st, const struct station_cfg *cfg, const struct plantcfg *pc, uint64_t now_ms)
{
    if (!cfg || !pc || pc->n_slots < 1 || pc->n_slots > REGMAP_MAX_SLOTS || cfg->sequence < 0 ||
        cfg->sequence >= SWAPSEQ_ORDER_COUNT || cfg->cell_min_mV > cfg->cell_max_mV ||
        cfg->charge_min_degC > cfg->charge_max_degC || cfg->handout_min_degC > cfg->handout_max_degC)
        return -1;
    memset(st, 0, sizeof *st);
    st->cfg = *cfg;
    st->pc = *pc;
    st->state = ST_STOPPED;
    st->mode = STATION_MODE_PRODUCTION;
    st->state_since_ms = now_ms;
    st->now_ms = now_ms;
    st->chain_pos = -1;
    st->requested = ST_NONE;
    diag_init(&st->diag);
    return 0;
}

void station_step(struct station *st, const struct station_inputs *in, uint64_t now_ms, struct station_outputs *out)
{
    memset(out, 0, sizeof *out);
    out->cmd_ok = true;
    if (now_ms > st->now_ms)
        st->now_ms = now_ms;
    st->out = out;
    st->requested = ST_NONE;

    if (in->plant.renewed)
        plant_renewed(st, in);
    /* A frozen image is no image: everything below sees it as missing. */
    struct station_inputs thawed;
    st->image_frozen = echo_frozen(st, &in->plant);
    if (st->image_frozen) {
        thawed = *in;
        thawed.plant.valid = false;
        thawed.plant.refused = false;
        in = &thawed;
    }
    /* The plant's own coil levels are adopted before anything is written: from the
     * read-back alone when the first image is refused (an image of zeros would open a
     * gripper that holds a pack). */
    if (!st->image_adopted && (in->plant.valid || in->plant.have_readback))
        adopt_image(st, &in->plant);
    note_commits(st, in);
    diagnose(st, in);
    if (st->state == ST_STOPPED || (reconciles_in_place(st->state) && !st->recon_hold))
        reconcile(st, in);
    service_queue(st, in);
    if (in->op.cmd != STATION_CMD_NONE)
        do_command(st, in);
    else if (in->op.op != STATION_OP_NONE)
        do_op(st, in);

    /* A state's run action decides from valid sensors only; without them the core
     * waits, except that the stopping states finish (nothing to wait for when the
     * plant cannot be heard: its watchdog stops the robot), so comm loss ends in Held. */
    bool finishing = st->state == ST_HOLDING || st->state == ST_STOPPING || st->state == ST_ABORTING;
    if ((in->plant.valid || finishing) && station_states[st->state].run) {
        enum station_state before = st->state;
        station_states[st->state].run(st, in, st->now_ms);
        if (st->requested != ST_NONE && st->state == before)
            transition(st, in, st->requested, st->requested_reason);
    }
    build_outputs(st, in, out);
    st->out = NULL;
}

uint64_t station_next_deadline(const struct station *st)
{
    uint64_t next = st->now_ms + (uint64_t)st->cfg.heartbeat_ms;
    uint64_t d = diag_next_deadline(&st->diag);
    if (d < next)
        next = d;
    if (st->pulse_until_ms > st->now_ms && st->pulse_until_ms < next)
        next = st->pulse_until_ms;
    if (st->chain && st->step_applied && st->step_deadline_ms > st->now_ms && st->step_deadline_ms < next)
        next = st->step_deadline_ms;
    if (st->load_since_ms) {
        uint64_t t = st->load_since_ms - 1 + (uint64_t)st->cfg.touchdown_debounce_ms;
        if (t > st->now_ms && t < next)
            next = t;
    }
    return next;
}
