/* Operator commands: the PackML commands checked against the state table, jog in
 * manual mode, mode changes and the other operator requests. */
#include "core/station.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/station_impl.h"

/* ---- operator commands ---------------------------------------------------------------- */

bool station_jog_allowed_state(enum station_state s)
{
    return s == ST_STOPPED || s == ST_IDLE || s == ST_HELD || s == ST_ABORTED;
}

static void do_jog(struct station *st, const struct station_inputs *in)
{
    const struct station_operator_in *op = &in->op;
    if (st->mode == STATION_MODE_PRODUCTION) {
        station_refuse(st, "jog needs Maintenance or Manual mode");
        return;
    }
    if (!station_jog_allowed_state(st->state)) {
        station_refuse(st, "jog is not allowed in %s", station_states[st->state].name);
        return;
    }
    if (!st->reconciled) {
        station_refuse(st, "inventory not reconciled: nothing moves");
        return;
    }
    /* DESIGN §5 rules 2 and 7: a jog accepted now would move the robot the moment the
     * e-stop is released, or next to a drone that may start its motors. */
    if (!in->plant.estop_ok || st->diag.active[DIAG_ESTOP]) {
        station_refuse(st, "jog refused: e-stop pressed or not yet cleared (Clear, Reset)");
        return;
    }
    if (st->diag.active[DIAG_DRONE_ARMED] || st->armed_exposed) {
        station_refuse(st, "jog refused: the drone on the pad is or was armed (make it safe, Clear, Reset)");
        return;
    }
    struct station_plant_out *c = &st->cmd;
    bool on = op->jog.value != 0;
    switch (op->jog.dev) {
    case STATION_JOG_CENTER: c->co[REGMAP_CO_CENTER_CLOSE] = on; break;
    case STATION_JOG_CLAMP:
        if (!on && st->mode == STATION_MODE_MAINTENANCE && st->drone_present) {
            station_refuse(st, "a drone is on the pad: release it in Manual mode");
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
            station_refuse(st, "X target outside 0..%g mm", st->pc.x.length_mm);
            return;
        }
        if (op->jog.value >= st->pc.x_pad_zone_mm && st->drone_present && !station_pad_gate_ok(st, in)) {
            station_refuse(st, "pad zone: the drone must be centred, clamped and disarmed");
            return;
        }
        c->x_target_mm = op->jog.value;
        c->co[REGMAP_CO_X_ENABLE] = true;
        break;
    case STATION_JOG_Z_MM:
        if (!(op->jog.value >= 0 && op->jog.value <= st->pc.z.length_mm)) {
            station_refuse(st, "Z target outside 0..%g mm", st->pc.z.length_mm);
            return;
        }
        c->z_target_mm = op->jog.value;
        c->co[REGMAP_CO_Z_ENABLE] = true;
        break;
    case STATION_JOG_CAROUSEL:
        if (!(op->jog.value >= 0 && op->jog.value < station_n_slots(st))) {
            station_refuse(st, "slot outside 0..%d", station_n_slots(st) - 1);
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
        station_stop_axes(st);
        break;
    default:
        station_refuse(st, "unknown jog device %d", (int)op->jog.dev);
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
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", station_cmd_names[c]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (!used)
        snprintf(buf, size, "none");
}

void station_do_command(struct station *st, const struct station_inputs *in)
{
    enum station_cmd cmd = in->op.cmd;
    if ((int)cmd < 0 || cmd >= STATION_CMD_COUNT) {
        station_refuse(st, "unknown command %d", (int)cmd);
        return;
    }
    enum station_state to = station_states[st->state].on_cmd[cmd];
    if (to == ST_NONE) {
        char allowed[96];
        list_allowed(st, allowed, sizeof allowed);
        station_refuse(st, "%s is not allowed in %s (allowed: %s)", station_cmd_names[cmd], station_states[st->state].name, allowed);
        return;
    }
    int hard = persistent_cause(st, in);
    switch (cmd) {
    case STATION_CMD_RESET:
        if (!st->reconciled) {
            station_refuse(st, "Reset refused: inventory not reconciled with the sensors");
            return;
        }
        if (hard >= 0) {
            station_refuse(st, "Reset refused: %s still present", diag_name(hard));
            return;
        }
        break;
    case STATION_CMD_START:
        if (st->mode != STATION_MODE_PRODUCTION) {
            station_refuse(st, "Start refused: %s mode (switch to Production)", station_mode_names[st->mode]);
            return;
        }
        if (station_hold_or_abort_alarm(st)) {
            station_refuse(st, "Start refused: alarm %s active", diag_name(station_first_blocking_alarm(st)));
            return;
        }
        break;
    case STATION_CMD_UNHOLD:
        if (hard >= 0) {
            station_refuse(st, "Unhold refused: %s still present", diag_name(hard));
            return;
        }
        if (st->reconciled && st->chain && st->step_retry_count >= st->cfg.step_retries) {
            station_refuse(st, "Unhold refused: step %s already retried %d times; Abort", swapseq_name(station_cur_step(st)),
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
        int block = st->n_queue ? station_external_block(st, in) : -1;
        if (block >= 0 && block != DIAG_NO_BATTERY) {
            station_refuse(st, "Unsuspend refused: %s", diag_table[block].text);
            return;
        }
        break;
    }
    case STATION_CMD_CLEAR:
        if (hard >= 0) {
            station_refuse(st, "Clear refused: %s still present", diag_name(hard));
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
    snprintf(reason, sizeof reason, "operator: %s", station_cmd_names[cmd]);
    station_transition(st, in, to, reason);
}

void station_do_op(struct station *st, const struct station_inputs *in)
{
    const struct station_operator_in *op = &in->op;
    switch (op->op) {
    case STATION_OP_NONE:
        return;
    case STATION_OP_MODE:
        if ((int)op->mode < 0 || op->mode >= STATION_MODE_COUNT) {
            station_refuse(st, "unknown mode %d", (int)op->mode);
            return;
        }
        if (!(st->state == ST_STOPPED || st->state == ST_IDLE || st->state == ST_ABORTED || st->state == ST_HELD)) {
            station_refuse(st, "mode change is not allowed in %s (only Stopped, Idle, Held, Aborted)",
                   station_states[st->state].name);
            return;
        }
        if (op->mode != st->mode)
            station_record_event(st, station_mode_names[st->mode], station_mode_names[op->mode], "operator: mode change");
        st->mode = op->mode;
        return;
    case STATION_OP_JOG:
        do_jog(st, in);
        return;
    case STATION_OP_ACK:
        if (diag_ack(&st->diag, op->alarm) < 0)
            station_refuse(st, "unknown alarm %d", op->alarm);
        return;
    case STATION_OP_PACK_REMOVED: {
        int sl = op->slot;
        if (sl < 0 || sl >= station_n_slots(st) || !st->slot_tag[sl]) {
            station_refuse(st, "slot %d holds no pack in the inventory", sl + 1);
            return;
        }
        if (!in->plant.valid || in->plant.slot[sl].present) {
            station_refuse(st, "slot %d still senses a pack: take it out first", sl + 1);
            return;
        }
        if (st->chain && (st->ctx.fresh_slot == sl || st->ctx.store_slot == sl)) {
            station_refuse(st, "slot %d is in use by the running swap; hold the station first", sl + 1);
            return;
        }
        /* The pack left the station by hand: it is booked to quarantine (outside the
         * magazine, known, with its record) and the slot is free again. */
        uint32_t tag = st->slot_tag[sl];
        st->slot_tag[sl] = 0;
        st->charger_blocked[sl] = false;
        station_emit_move(st, tag, station_loc(STATION_PLACE_SLOT, sl), station_loc(STATION_PLACE_QUARANTINE, 0), "removed_by_hand");
        station_record_event(st, "slot", "removed_by_hand", "pack SWP-%08X taken out of slot %d by an operator", tag, sl + 1);
        return;
    }
    case STATION_OP_ADOPT_SENSORS:
        if (st->reconciled) {
            station_refuse(st, "nothing to adopt: the inventory agrees with the sensors");
            return;
        }
        if (st->state != ST_HELD || !in->plant.valid || !in->inv.valid || !st->echo_followed) {
            station_refuse(st, "adopting the sensors needs Held and a live plant image and inventory");
            return;
        }
        station_adopt_sensors(st, in);
        return;
    }
    station_refuse(st, "unknown operator station_request %d", (int)op->op);
}
