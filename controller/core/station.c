/* The station core's outline: station_step() runs one scan in the order the core
 * decides (renewed plant, frozen image, adoption, diagnosis, reconciliation, landing
 * queue, operator, the state's run action, outputs); here too the names, what the core
 * records (events, alarms, notes, transitions), the helpers every part shares, and the
 * outputs built from the decisions. See station.h. */
#include "core/station.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/station_impl.h"

/* ---- names ------------------------------------------------------------------------- */

const char *const station_cmd_names[STATION_CMD_COUNT] = {
    "Reset", "Start", "Stop", "Hold", "Unhold", "Suspend", "Unsuspend", "Abort", "Clear",
};
const char *const station_mode_names[STATION_MODE_COUNT] = { "Production", "Maintenance", "Manual" };

const char *station_state_name(int s)
{
    return (s >= 0 && s < ST_COUNT) ? station_states[s].name : "-";
}

const char *station_cmd_name(int c)
{
    return (c >= 0 && c < STATION_CMD_COUNT) ? station_cmd_names[c] : "-";
}

const char *station_mode_name(int m)
{
    return (m >= 0 && m < STATION_MODE_COUNT) ? station_mode_names[m] : "-";
}

int station_cmd_from_name(const char *name)
{
    for (int i = 0; i < STATION_CMD_COUNT; i++)
        if (name && !strcasecmp(name, station_cmd_names[i]))
            return i;
    return -1;
}

int station_mode_from_name(const char *name)
{
    for (int i = 0; i < STATION_MODE_COUNT; i++)
        if (name && !strcasecmp(name, station_mode_names[i]))
            return i;
    return -1;
}

/* ---- recording --------------------------------------------------------------------- */

void station_record_event(struct station *st, const char *from, const char *to, const char *fmt, ...)
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

void station_record_alarm(struct station *st, int id, bool raised)
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

void station_set_note(struct station *st, enum diag_id id, const char *fmt, ...)
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
bool station_at_end(bool this_end, bool other_end)
{
    return this_end && !other_end;
}

void station_send_msg(struct station *st, uint8_t sysid, enum station_msg_kind kind, int32_t param)
{
    struct station_outputs *out = st->out;
    if (!sysid || out->n_msgs >= STATION_MAX_MSGS)
        return;
    out->msgs[out->n_msgs++] = (struct station_drone_msg){ sysid, kind, param };
}

void station_refuse(struct station *st, const char *fmt, ...)
{
    st->out->cmd_ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->out->cmd_reason, sizeof st->out->cmd_reason, fmt, ap);
    va_end(ap);
}

/* The one station_transition function: records {time, from, to, reason}, then runs the entry
 * action of the new state. */
void station_transition(struct station *st, const struct station_inputs *in, enum station_state to,
                       const char *reason)
{
    enum station_state from = st->state;
    station_record_event(st, station_states[from].name, station_states[to].name, "%s", reason);
    st->state = to;
    st->state_since_ms = st->now_ms;
    if (station_states[to].entry)
        station_states[to].entry(st, in, st->now_ms);
}

/* Run actions ask for their station_transition here; it is taken after the run action returns. */
void station_request(struct station *st, enum station_state to, const char *fmt, ...)
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

int station_n_slots(const struct station *st)
{
    return st->pc.n_slots;
}

const struct station_drone_in *station_find_drone(const struct station_inputs *in, uint8_t sysid)
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

bool station_drone_reports_armed(const struct station *st, const struct station_drone_in *d)
{
    if (!d || !d->present || !d->armed || !d->last_heartbeat_ms)
        return false;
    return st->now_ms <= d->last_heartbeat_ms + (uint64_t)st->cfg.drone_heartbeat_timeout_ms;
}

bool station_head_in_pad_zone(const struct station *st, const struct station_plant_in *p)
{
    return p->x_pos_mm >= st->pc.x_pad_zone_mm - st->pc.position_tolerance_mm;
}

/* In the pad zone now, or where a moving X axis will come to rest if it brakes at once
 * (v^2 / 2a): a head that coasts must not find a released drone. */
bool station_head_may_reach_pad_zone(const struct station *st, const struct station_plant_in *p)
{
    double v = p->x_vel_mm_s, a = st->pc.x.amax_mm_s2 > 0 ? st->pc.x.amax_mm_s2 : 1;
    double stop_mm = p->x_pos_mm + (v > 0 ? v * v / (2 * a) : 0);
    return station_head_in_pad_zone(st, p) || p->x_busy ||
           stop_mm >= st->pc.x_pad_zone_mm - st->pc.position_tolerance_mm;
}

/* DESIGN §5 rule 1: present, centred, clamped, and disarmed recently, or the old pack
 * is already out (then the drone has no power and its silence is expected). */
bool station_pad_gate_ok(const struct station *st, const struct station_inputs *in)
{
    const struct station_plant_in *p = &in->plant;
    if (!st->drone_present || !station_at_end(p->center_closed, p->center_open) || !station_at_end(p->clamp_locked, p->clamp_unlocked))
        return false;
    if (st->pad_tag == 0 && st->onpad)
        return true;
    return drone_disarmed_recently(st, station_find_drone(in, st->serving_sysid));
}

/* The clamp holds the drone down: clamping one whose motors may still spin is what
 * rule 2 forbids, and a drone reports disarming only with its next heartbeat. So the
 * clamp waits for a heartbeat that arrived after touchdown and says "disarmed". */
bool station_disarmed_since_touchdown(const struct station *st, const struct station_inputs *in)
{
    const struct station_drone_in *d = station_find_drone(in, st->serving_sysid);
    return drone_disarmed_recently(st, d) && d->last_heartbeat_ms >= st->touchdown_ms;
}

bool station_weather_ok(const struct station *st, const struct station_plant_in *p)
{
    return p->wind_mps <= st->cfg.wind_max_mps && !(st->cfg.rain_hold && p->rain);
}

static bool slot_temp_ok(const struct station *st, const struct station_slot_in *s)
{
    return !s->telemetry_stale && s->temp_ok && s->temp_degC >= st->cfg.charge_min_degC && s->temp_degC <= st->cfg.charge_max_degC;
}

bool station_in_queue(const struct station *st, uint8_t sysid)
{
    for (int i = 0; i < st->n_queue; i++)
        if (st->queue[i] == sysid)
            return true;
    return false;
}

void station_queue_remove(struct station *st, uint8_t sysid)
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

void station_emit_move(struct station *st, uint32_t tag, struct station_location from,
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

struct station_location station_loc(enum station_place p, int index)
{
    return (struct station_location){ p, index };
}

bool station_hold_or_abort_alarm(const struct station *st)
{
    return diag_first_with(&st->diag, DIAG_REACT_HOLD) >= 0 ||
           diag_first_with(&st->diag, DIAG_REACT_ABORT) >= 0;
}

int station_first_blocking_alarm(const struct station *st)
{
    int a = diag_first_with(&st->diag, DIAG_REACT_ABORT);
    return a >= 0 ? a : diag_first_with(&st->diag, DIAG_REACT_HOLD);
}


/* ---- outputs ------------------------------------------------------------------------------ */

static void charger_modes(struct station *st, const struct station_inputs *in, struct station_plant_out *o)
{
    const struct station_plant_in *p = &in->plant;
    for (int s = 0; s < REGMAP_MAX_SLOTS; s++) {
        uint8_t mode = CHARGER_MODE_OFF;
        if (s < station_n_slots(st) && p->valid) {
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

/* Stable states wait on an operator or a drone, never on the plant; anything else is on
 * its way somewhere and its next step hangs on a sensor. */
static bool edge_awaited(const struct station *st)
{
    switch (st->state) {
    case ST_STOPPED: case ST_IDLE: case ST_EXECUTE: case ST_COMPLETE: case ST_HELD:
    case ST_SUSPENDED: case ST_ABORTED:
        break;
    default:
        return true;
    }
    return st->chain || st->serving_sysid || st->resume_sysid || st->departing || st->load_since_ms ||
           st->pulse_until_ms > st->now_ms || !st->image_adopted;
}

static void build_outputs(struct station *st, const struct station_inputs *in, struct station_outputs *out)
{
    const struct station_plant_in *p = &in->plant;
    struct station_plant_out *o = &out->plant;
    *o = st->cmd;
    bool robot_may_move = st->reconciled && p->valid && p->estop_ok &&
                          (station_states[st->state].robot_moves ||
                           (st->mode != STATION_MODE_PRODUCTION && station_jog_allowed_state(st->state)));
    /* DESIGN §5 rule 2 holds whatever asked for the motion (a chain step or a jog). */
    if (st->armed_exposed)
        robot_may_move = false;
    if (!robot_may_move) {
        o->co[REGMAP_CO_X_ENABLE] = o->co[REGMAP_CO_X_HOME] = false;
        o->co[REGMAP_CO_Z_ENABLE] = o->co[REGMAP_CO_Z_HOME] = false;
        o->co[REGMAP_CO_CAROUSEL_ENABLE] = false;
    }
    if (p->valid) {
        station_permissives(st, p, o);
        /* DESIGN §5 rule 1, enforced on the output whatever asked for the move: no entry
         * into the pad zone without the pad gate (an empty pad is no danger). */
        bool entering = o->x_target_mm >= st->pc.x_pad_zone_mm && !station_head_in_pad_zone(st, p);
        if (o->co[REGMAP_CO_X_ENABLE] && entering && st->drone_present && !station_pad_gate_ok(st, in))
            o->co[REGMAP_CO_X_ENABLE] = false;
        if (o->co[REGMAP_CO_X_ENABLE] && entering && !st->drone_present && st->mode == STATION_MODE_PRODUCTION &&
            st->onpad)
            o->co[REGMAP_CO_X_ENABLE] = false;
        /* Rule 3: unclamp only after the new pack is verified, or on an explicit operator
         * abort / Manual release; never with the robot in the pad zone. */
        if (!o->co[REGMAP_CO_CLAMP_LOCK] && p->clamp_locked && st->drone_present) {
            bool manual = st->mode == STATION_MODE_MANUAL && station_jog_allowed_state(st->state);
            bool ok = (st->release_allowed || st->operator_abort || manual) &&
                      !station_head_may_reach_pad_zone(st, p) && station_at_end(p->stroke_retracted, p->stroke_extended);
            if (!ok)
                o->co[REGMAP_CO_CLAMP_LOCK] = true;
        }
        if (!o->co[REGMAP_CO_CENTER_CLOSE] && o->co[REGMAP_CO_CLAMP_LOCK] && p->center_closed)
            o->co[REGMAP_CO_CENTER_CLOSE] = true;
    } else if (st->have_last_out) {
        /* No image to judge the station_permissives on (missing, refused, frozen): every
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
    bool red = st->state == ST_ABORTED || st->state == ST_ABORTING || st->state == ST_HELD || station_hold_or_abort_alarm(st);
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
    station_echo_note_sent(st);
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
    out->step = st->chain ? (int)station_cur_step(st) : -1;
    out->serving_sysid = st->serving_sysid;
    out->pad_occupied = st->drone_present;
    out->reconciled = st->reconciled;
    out->plant_edge_awaited = edge_awaited(st);
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
        station_plant_renewed(st, in);
    /* A frozen image is no image: everything below sees it as missing. */
    struct station_inputs thawed;
    st->image_frozen = station_echo_frozen(st, &in->plant);
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
        station_adopt_image(st, &in->plant);
    note_commits(st, in);
    station_diagnose(st, in);
    if (st->state == ST_STOPPED || (station_reconciles_in_place(st->state) && !st->recon_hold))
        station_reconcile(st, in);
    station_service_queue(st, in);
    if (in->op.cmd != STATION_CMD_NONE)
        station_do_command(st, in);
    else if (in->op.op != STATION_OP_NONE)
        station_do_op(st, in);

    /* A state's run action decides from valid sensors only; without them the core
     * waits, except that the stopping states finish (nothing to wait for when the
     * plant cannot be heard: its watchdog stops the robot), so comm loss ends in Held. */
    bool finishing = st->state == ST_HOLDING || st->state == ST_STOPPING || st->state == ST_ABORTING;
    if ((in->plant.valid || finishing) && station_states[st->state].run) {
        enum station_state before = st->state;
        station_states[st->state].run(st, in, st->now_ms);
        if (st->requested != ST_NONE && st->state == before)
            station_transition(st, in, st->requested, st->requested_reason);
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
