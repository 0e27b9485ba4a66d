/* The station core on synthetic inputs: every PackML command from every state, unit
 * modes and jog refusals, determinism, the deadline contract, the settings table. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "core/station.h"
#include "core/station_impl.h"

/* The PackML state model as ISA-TR88.00.02 draws it, written out independently of the
 * core's table: for each state, the commands that act and where they lead. */
static const struct {
    enum station_state from;
    enum station_cmd cmd;
    enum station_state to;
} legal[] = {
    { ST_STOPPED, STATION_CMD_RESET, ST_RESETTING }, { ST_STOPPED, STATION_CMD_ABORT, ST_ABORTING },
    { ST_RESETTING, STATION_CMD_STOP, ST_STOPPING }, { ST_RESETTING, STATION_CMD_ABORT, ST_ABORTING },
    { ST_IDLE, STATION_CMD_START, ST_STARTING }, { ST_IDLE, STATION_CMD_STOP, ST_STOPPING },
    { ST_IDLE, STATION_CMD_ABORT, ST_ABORTING },
    { ST_STARTING, STATION_CMD_STOP, ST_STOPPING }, { ST_STARTING, STATION_CMD_ABORT, ST_ABORTING },
    { ST_EXECUTE, STATION_CMD_HOLD, ST_HOLDING }, { ST_EXECUTE, STATION_CMD_SUSPEND, ST_SUSPENDING },
    { ST_EXECUTE, STATION_CMD_STOP, ST_STOPPING }, { ST_EXECUTE, STATION_CMD_ABORT, ST_ABORTING },
    { ST_COMPLETING, STATION_CMD_STOP, ST_STOPPING }, { ST_COMPLETING, STATION_CMD_ABORT, ST_ABORTING },
    { ST_COMPLETE, STATION_CMD_RESET, ST_RESETTING }, { ST_COMPLETE, STATION_CMD_STOP, ST_STOPPING },
    { ST_COMPLETE, STATION_CMD_ABORT, ST_ABORTING },
    { ST_HOLDING, STATION_CMD_STOP, ST_STOPPING }, { ST_HOLDING, STATION_CMD_ABORT, ST_ABORTING },
    { ST_HELD, STATION_CMD_UNHOLD, ST_UNHOLDING }, { ST_HELD, STATION_CMD_STOP, ST_STOPPING },
    { ST_HELD, STATION_CMD_ABORT, ST_ABORTING },
    { ST_UNHOLDING, STATION_CMD_HOLD, ST_HOLDING }, { ST_UNHOLDING, STATION_CMD_STOP, ST_STOPPING },
    { ST_UNHOLDING, STATION_CMD_ABORT, ST_ABORTING },
    { ST_SUSPENDING, STATION_CMD_HOLD, ST_HOLDING }, { ST_SUSPENDING, STATION_CMD_STOP, ST_STOPPING },
    { ST_SUSPENDING, STATION_CMD_ABORT, ST_ABORTING },
    { ST_SUSPENDED, STATION_CMD_UNSUSPEND, ST_UNSUSPENDING }, { ST_SUSPENDED, STATION_CMD_HOLD, ST_HOLDING },
    { ST_SUSPENDED, STATION_CMD_STOP, ST_STOPPING }, { ST_SUSPENDED, STATION_CMD_ABORT, ST_ABORTING },
    { ST_UNSUSPENDING, STATION_CMD_HOLD, ST_HOLDING }, { ST_UNSUSPENDING, STATION_CMD_STOP, ST_STOPPING },
    { ST_UNSUSPENDING, STATION_CMD_ABORT, ST_ABORTING },
    { ST_STOPPING, STATION_CMD_ABORT, ST_ABORTING },
    { ST_ABORTED, STATION_CMD_CLEAR, ST_CLEARING },
    { ST_CLEARING, STATION_CMD_ABORT, ST_ABORTING },
};

static struct plantcfg pc;
static struct station_cfg cfg;

/* A healthy plant at rest: robot homed at the magazine, head up, everything open. */
static void nominal(struct station_inputs *in)
{
    station_inputs_init(in);
    struct station_plant_in *p = &in->plant;
    p->valid = p->estop_ok = p->guard_closed = p->plant_ready = true;
    p->center_open = p->clamp_unlocked = true;
    p->x_homed = p->x_in_pos = p->z_homed = p->z_in_pos = true;
    p->stroke_retracted = p->wrist_a = p->grip_a_open = p->grip_b_open = true;
    p->carousel_in_pos = true;
    p->carousel_pos = 0;
    p->n_slots = (uint16_t)pc.n_slots;
    p->map_version = REGMAP_VERSION;
    p->wind_mps = 2;
    p->ambient_degC = 20;
    for (int s = 0; s < pc.n_slots; s++) {
        p->slot[s].present = p->slot[s].tag_ok = p->slot[s].temp_ok = true;
        p->slot[s].tag = 0x5A000001u + (uint32_t)s;
        p->slot[s].temp_degC = 22;
        in->inv.slot_tag[s] = p->slot[s].tag;
    }
    in->inv.valid = true;
}

static void setup(void)
{
    plantcfg_defaults(&pc);
    station_cfg_defaults(&cfg);
}

static struct station st;
static struct station_inputs in;
static struct station_outputs out;

static void reconciled_core(void)
{
    ck_assert_int_eq(station_init(&st, &cfg, &pc, 1000), 0);
    nominal(&in);
    station_step(&st, &in, 1000, &out);
    ck_assert(!out.reconciled);             /* not before the image has proved live */
    in.plant.heartbeat_echo = out.plant.heartbeat;
    station_step(&st, &in, 1000, &out);
    ck_assert(out.reconciled);
    ck_assert_int_eq(out.state, ST_STOPPED);
}

START_TEST(every_command_from_every_state)
{
    enum station_state s = (enum station_state)(_i / STATION_CMD_COUNT);
    enum station_cmd c = (enum station_cmd)(_i % STATION_CMD_COUNT);
    reconciled_core();
    st.state = s;
    st.state_since_ms = 1000;
    in.op.cmd = c;
    station_step(&st, &in, 1010, &out);
    enum station_state want = ST_NONE;
    for (size_t i = 0; i < sizeof legal / sizeof legal[0]; i++)
        if (legal[i].from == s && legal[i].cmd == c)
            want = legal[i].to;
    if (want == ST_NONE) {
        ck_assert_msg(!out.cmd_ok, "%s in %s was accepted", station_cmd_name(c), station_state_name(s));
        char expect[80];
        snprintf(expect, sizeof expect, "%s is not allowed in %s", station_cmd_name(c), station_state_name(s));
        ck_assert_msg(strstr(out.cmd_reason, expect), "reason \"%s\"", out.cmd_reason);
        /* The state may still complete by itself (Aborting -> Aborted), never by the
         * refused command. */
        for (int e = 0; e < out.n_events; e++)
            ck_assert_ptr_null(strstr(out.events[e].reason, "operator"));
    } else {
        ck_assert_msg(out.cmd_ok, "%s in %s refused: %s", station_cmd_name(c), station_state_name(s), out.cmd_reason);
        ck_assert_int_ge(out.n_events, 1);
        ck_assert_str_eq(out.events[0].from, station_state_name(s));
        ck_assert_str_eq(out.events[0].to, station_state_name(want));
        ck_assert_uint_eq(out.events[0].t_ms, 1010);
        ck_assert_ptr_nonnull(strstr(out.events[0].reason, station_cmd_name(c)));
    }
}
END_TEST

START_TEST(table_names_all_seventeen_states)
{
    const char *names[] = { "Stopped", "Resetting", "Idle", "Starting", "Execute", "Completing", "Complete",
                            "Holding", "Held", "Unholding", "Suspending", "Suspended", "Unsuspending",
                            "Stopping", "Aborting", "Aborted", "Clearing" };
    ck_assert_int_eq(ST_COUNT, 17);
    for (int i = 0; i < ST_COUNT; i++)
        ck_assert_str_eq(station_state_name(i), names[i]);
    for (int c = 0; c < STATION_CMD_COUNT; c++)
        ck_assert_int_eq(station_cmd_from_name(station_cmd_name(c)), c);
    ck_assert_int_eq(station_cmd_from_name("launch"), -1);
}
END_TEST

START_TEST(start_refused_outside_production)
{
    reconciled_core();
    st.state = ST_IDLE;
    in.op.op = STATION_OP_MODE;
    in.op.mode = STATION_MODE_MAINTENANCE;
    station_step(&st, &in, 1010, &out);
    ck_assert(out.cmd_ok);
    ck_assert_int_eq(out.mode, STATION_MODE_MAINTENANCE);
    in.op.op = STATION_OP_NONE;
    in.op.cmd = STATION_CMD_START;
    station_step(&st, &in, 1020, &out);
    ck_assert(!out.cmd_ok);
    ck_assert_ptr_nonnull(strstr(out.cmd_reason, "Maintenance"));
    ck_assert_int_eq(st.state, ST_IDLE);
}
END_TEST

START_TEST(mode_change_refused_while_executing)
{
    reconciled_core();
    st.state = ST_EXECUTE;
    in.op.op = STATION_OP_MODE;
    in.op.mode = STATION_MODE_MANUAL;
    station_step(&st, &in, 1010, &out);
    ck_assert(!out.cmd_ok);
    ck_assert_ptr_nonnull(strstr(out.cmd_reason, "not allowed in Execute"));
}
END_TEST

START_TEST(jog_refused_in_production_and_accepted_in_maintenance)
{
    reconciled_core();
    in.op.op = STATION_OP_JOG;
    in.op.jog.dev = STATION_JOG_Z_MM;
    in.op.jog.value = 150;
    station_step(&st, &in, 1010, &out);
    ck_assert(!out.cmd_ok);
    ck_assert_ptr_nonnull(strstr(out.cmd_reason, "Maintenance"));
    ck_assert(!out.plant.co[REGMAP_CO_Z_ENABLE]);
    in.op.op = STATION_OP_MODE;
    in.op.mode = STATION_MODE_MAINTENANCE;
    station_step(&st, &in, 1020, &out);
    in.op.op = STATION_OP_JOG;
    station_step(&st, &in, 1030, &out);
    ck_assert_msg(out.cmd_ok, "%s", out.cmd_reason);
    ck_assert(out.plant.co[REGMAP_CO_Z_ENABLE]);
    ck_assert_double_eq_tol(out.plant.z_target_mm, 150, 1e-9);
    in.op.jog.value = 151;
    station_step(&st, &in, 1040, &out);
    ck_assert(!out.cmd_ok);
    ck_assert_ptr_nonnull(strstr(out.cmd_reason, "outside"));
}
END_TEST

START_TEST(no_motion_before_reconciliation)
{
    ck_assert_int_eq(station_init(&st, &cfg, &pc, 0), 0);
    nominal(&in);
    in.inv.valid = false;       /* the registry has not answered yet */
    in.plant.grip_b_closed = true;
    in.plant.grip_b_open = false;
    in.plant.grip_b_holding = true;
    for (uint64_t t = 0; t < 2000; t += 10) {
        station_step(&st, &in, t, &out);
        ck_assert(!out.reconciled);
        ck_assert(!out.plant.co[REGMAP_CO_X_ENABLE] && !out.plant.co[REGMAP_CO_Z_ENABLE] &&
                  !out.plant.co[REGMAP_CO_CAROUSEL_ENABLE] && !out.plant.co[REGMAP_CO_X_HOME]);
        /* the gripper keeps its pack: the level mirrors the sensors */
        ck_assert(out.plant.co[REGMAP_CO_GRIP_B_CLOSE]);
    }
    in.op.cmd = STATION_CMD_RESET;
    station_step(&st, &in, 2000, &out);
    ck_assert(!out.cmd_ok);
    ck_assert_ptr_nonnull(strstr(out.cmd_reason, "reconciled"));
}
END_TEST

START_TEST(same_inputs_same_outputs)
{
    static struct station a, b;
    static struct station_outputs oa, ob;
    nominal(&in);
    ck_assert_int_eq(station_init(&a, &cfg, &pc, 0), 0);
    ck_assert_int_eq(station_init(&b, &cfg, &pc, 0), 0);
    for (uint64_t t = 0; t < 3000; t += 7) {
        in.op.cmd = t == 70 ? STATION_CMD_RESET : t == 700 ? STATION_CMD_START : STATION_CMD_NONE;
        station_step(&a, &in, t, &oa);
        station_step(&b, &in, t, &ob);
        ck_assert_int_eq(memcmp(&oa.plant, &ob.plant, sizeof oa.plant), 0);
        ck_assert_int_eq(oa.state, ob.state);
        ck_assert_int_eq(oa.n_events, ob.n_events);
    }
}
END_TEST

START_TEST(next_deadline_is_bounded_by_heartbeat)
{
    reconciled_core();
    uint64_t d = station_next_deadline(&st);
    ck_assert_uint_gt(d, 1000);
    ck_assert_uint_le(d, 1000 + (uint64_t)cfg.heartbeat_ms);
    ck_assert_int_lt(cfg.heartbeat_ms, pc.watchdog_ms / 2);
    /* the heartbeat register changes every step */
    uint16_t hb = out.plant.heartbeat;
    station_step(&st, &in, d, &out);
    ck_assert_uint_ne(out.plant.heartbeat, hb);
}
END_TEST

START_TEST(comm_loss_holds_after_its_debounce)
{
    reconciled_core();
    st.state = ST_EXECUTE;
    in.plant.valid = false;
    station_step(&st, &in, 1010, &out);
    ck_assert_int_eq(st.state, ST_EXECUTE);
    station_step(&st, &in, 1010 + (uint64_t)cfg.comm_loss_ms, &out);
    /* Holding has nothing to wait for without a plant image: Held at once */
    ck_assert_int_eq(out.n_events, 2);
    ck_assert_str_eq(out.events[0].to, "Holding");
    ck_assert_str_eq(out.events[1].to, "Held");
    ck_assert_int_eq(st.state, ST_HELD);
    ck_assert(out.alarms_active & (1ull << DIAG_COMM_LOSS));
    ck_assert(!out.plant.co[REGMAP_CO_X_ENABLE]);
    /* Unhold is refused while the link is down */
    in.op.cmd = STATION_CMD_UNHOLD;
    station_step(&st, &in, 1030 + (uint64_t)cfg.comm_loss_ms, &out);
    ck_assert(!out.cmd_ok);
    ck_assert_ptr_nonnull(strstr(out.cmd_reason, "comm_loss"));
}
END_TEST

/* One scan with a plant whose heartbeat echo follows the core (a live image). */
static void step_live(uint64_t t_ms)
{
    in.plant.heartbeat_echo = out.plant.heartbeat;
    station_step(&st, &in, t_ms, &out);
}

/* A new plant connection (the plant may have restarted) is a restart for the core: it
 * adopts the fresh read-back instead of writing its old levels, is no longer
 * reconciled, holds, and Unhold compares the inventory before it resumes. */
START_TEST(renewed_plant_is_adopted_and_reconciled_before_anything_moves)
{
    reconciled_core();
    st.state = ST_EXECUTE;
    st.cmd.co[REGMAP_CO_STROKE_EXTEND] = true;   /* the level the core held before */
    st.cmd.co[REGMAP_CO_GRIP_A_CLOSE] = true;
    st.cmd.co[REGMAP_CO_Z_ENABLE] = true;
    st.cmd.z_target_mm = 150;
    in.plant.renewed = true;                    /* a plant that just powered up */
    in.plant.have_readback = true;
    memset(in.plant.co_readback, 0, sizeof in.plant.co_readback);
    step_live(1010);
    in.plant.renewed = false;
    ck_assert(!out.reconciled);
    ck_assert(!out.plant.co[REGMAP_CO_STROKE_EXTEND]);
    ck_assert(!out.plant.co[REGMAP_CO_GRIP_A_CLOSE]);
    ck_assert(!out.plant.co[REGMAP_CO_Z_ENABLE]);
    ck_assert(out.plant.z_target_mm == in.plant.z_pos_mm);
    for (uint64_t t = 1020; t < 1500; t += 10)
        step_live(t);
    ck_assert_int_eq(st.state, ST_HELD);
    ck_assert(!out.reconciled);
    ck_assert(!out.plant.co[REGMAP_CO_STROKE_EXTEND]);
    in.op.cmd = STATION_CMD_UNHOLD;
    step_live(1500);
    in.op.cmd = STATION_CMD_NONE;
    ck_assert(out.cmd_ok);
    for (uint64_t t = 1510; t < 3000 && st.state != ST_EXECUTE && st.state != ST_SUSPENDING &&
                            st.state != ST_SUSPENDED; t += 10)
        step_live(t);
    ck_assert(out.reconciled);
    ck_assert_msg(st.state == ST_EXECUTE || st.state == ST_SUSPENDING || st.state == ST_SUSPENDED,
                  "state %s", station_state_name(st.state));
}
END_TEST

/* A reconciled core reset to Idle on a live image (by 3000 ms). */
static void idle_core(void)
{
    reconciled_core();
    in.op.cmd = STATION_CMD_RESET;
    for (uint64_t t = 1010; t < 3000 && st.state != ST_IDLE; t += 10) {
        step_live(t);
        in.op.cmd = STATION_CMD_NONE;
    }
    ck_assert_int_eq(st.state, ST_IDLE);
}

/* In a state where nothing moves, a renewed plant link is reconciled in place. */
START_TEST(renewed_plant_in_idle_reconciles_in_place)
{
    idle_core();
    in.plant.renewed = true;
    in.plant.have_readback = true;
    memset(in.plant.co_readback, 0, sizeof in.plant.co_readback);
    step_live(3000);
    in.plant.renewed = false;
    step_live(3010);                /* the echo follows a heartbeat sent after the renewal */
    ck_assert_int_eq(st.state, ST_IDLE);
    ck_assert(out.reconciled);      /* compared again in place: agrees */
    ck_assert(!(out.alarms_active & (1ull << DIAG_COMM_LOSS)));
}
END_TEST

/* A plant image still frozen when the link is renewed echoes a heartbeat sent before the
 * renewal, one of this core's recent ones: that is not a live image. Nothing is compared
 * or adopted on it (campaign seed 7875: the operator adopted a frozen image that still
 * showed packs the operator had taken out, and the inventory booked them in the slots);
 * once the echo follows a heartbeat sent after the renewal, it is. */
START_TEST(renewed_plant_with_a_frozen_echo_is_not_live)
{
    idle_core();
    uint16_t frozen = out.plant.heartbeat;   /* the last echo before the image froze */
    in.plant.renewed = true;
    in.plant.have_readback = true;
    memset(in.plant.co_readback, 0, sizeof in.plant.co_readback);
    in.plant.heartbeat_echo = frozen;
    station_step(&st, &in, 3000, &out);
    in.plant.renewed = false;
    for (uint64_t t = 3010; t < 3200; t += 10) {
        in.plant.heartbeat_echo = frozen;
        station_step(&st, &in, t, &out);
        ck_assert_msg(!out.reconciled, "reconciled on a frozen image at %llu ms", (unsigned long long)t);
    }
    step_live(3200);
    ck_assert(out.reconciled);
}
END_TEST

/* The registry refuses writes: hold with registry_write_failed; Unhold waits for the
 * store to take writes again. */
START_TEST(registry_write_failure_holds_until_writes_succeed)
{
    reconciled_core();
    st.state = ST_EXECUTE;
    in.inv.store_failed = true;
    for (uint64_t t = 1010; t < 1500; t += 10)
        step_live(t);
    ck_assert_int_eq(st.state, ST_HELD);
    ck_assert(out.alarms_active & (1ull << DIAG_REGISTRY_WRITE_FAILED));
    in.op.cmd = STATION_CMD_UNHOLD;
    step_live(1500);
    ck_assert(!out.cmd_ok);
    ck_assert_ptr_nonnull(strstr(out.cmd_reason, "registry_write_failed"));
    in.inv.store_failed = false;
    step_live(1510);
    ck_assert(out.cmd_ok);
}
END_TEST

START_TEST(refused_image_is_plant_data_invalid_not_comm_loss)
{
    reconciled_core();
    st.state = ST_EXECUTE;
    in.plant.valid = false;
    in.plant.refused = true;
    in.plant.refused_addr = REGMAP_IR_X_VEL;
    snprintf(in.plant.refused_why, sizeof in.plant.refused_why, "IR 2 = -32768: axis X velocity outside");
    station_step(&st, &in, 1010, &out);
    ck_assert_int_eq(st.state, ST_EXECUTE);
    station_step(&st, &in, 1010 + (uint64_t)cfg.comm_loss_ms, &out);
    ck_assert_int_eq(st.state, ST_HELD);
    ck_assert(out.alarms_active & (1ull << DIAG_PLANT_DATA_INVALID));
    ck_assert(!(out.alarms_active & (1ull << DIAG_COMM_LOSS)));
    ck_assert_int_eq(out.n_alarm_events, 1);
    ck_assert_int_eq(out.alarm_events[0].detail, REGMAP_IR_X_VEL);
    ck_assert_ptr_nonnull(strstr(out.alarm_events[0].note, "IR 2 = -32768"));
    in.op.cmd = STATION_CMD_UNHOLD;
    station_step(&st, &in, 1030 + (uint64_t)cfg.comm_loss_ms, &out);
    ck_assert(!out.cmd_ok);
    ck_assert_ptr_nonnull(strstr(out.cmd_reason, "plant_data_invalid"));
    /* the image becomes sane again: Unhold is accepted */
    nominal(&in);
    in.op.cmd = STATION_CMD_UNHOLD;
    station_step(&st, &in, 1050 + (uint64_t)cfg.comm_loss_ms, &out);
    ck_assert_msg(out.cmd_ok, "%s", out.cmd_reason);
}
END_TEST

START_TEST(echo_that_stops_following_is_a_frozen_image)
{
    reconciled_core();
    uint64_t t = 1010;
    /* Stopped, an echo that never moved (a plant that has not yet seen a write of ours)
     * is not judged. */
    for (; t < 3000; t += 10)
        station_step(&st, &in, t, &out);
    ck_assert(!(out.alarms_active & (1ull << DIAG_PLANT_FROZEN)));
    st.state = ST_EXECUTE;
    /* Echo that follows ours, one scan behind. */
    for (; t < 4000; t += 10) {
        in.plant.heartbeat_echo = out.plant.heartbeat;
        station_step(&st, &in, t, &out);
    }
    ck_assert(!(out.alarms_active & (1ull << DIAG_PLANT_FROZEN)));
    /* A stalled controller (no step for twice the timeout) finds its own last heartbeat
     * echoed: nothing of ours is late. */
    in.plant.heartbeat_echo = out.plant.heartbeat;
    t += 2 * (uint64_t)cfg.plant_echo_timeout_ms;
    station_step(&st, &in, t, &out);
    ck_assert(!(out.alarms_active & (1ull << DIAG_PLANT_FROZEN)));
    t += 10;
    in.plant.heartbeat_echo = out.plant.heartbeat;
    station_step(&st, &in, t, &out);
    /* The first heartbeat never echoed goes out in this step. */
    uint64_t sent = t;
    t += 10;
    /* Frozen: the echo keeps its last value; an echo that moves to values we never sent
     * does not count as following either. */
    uint16_t frozen = in.plant.heartbeat_echo;
    for (; t < sent + (uint64_t)cfg.plant_echo_timeout_ms; t += 10) {
        in.plant.heartbeat_echo = (t / 10) % 2 ? frozen : (uint16_t)(frozen + 30000);
        station_step(&st, &in, t, &out);
        ck_assert_msg(!(out.alarms_active & (1ull << DIAG_PLANT_FROZEN)), "frozen early at %llu", (unsigned long long)t);
    }
    /* raised within the sampling of the heartbeats sent (timeout / 8) */
    for (; t <= sent + (uint64_t)cfg.plant_echo_timeout_ms * 9 / 8 + 10 &&
           !(out.alarms_active & (1ull << DIAG_PLANT_FROZEN)); t += 10)
        station_step(&st, &in, t, &out);
    ck_assert(out.alarms_active & (1ull << DIAG_PLANT_FROZEN));
    ck_assert(!(out.alarms_active & (1ull << DIAG_COMM_LOSS)));
    ck_assert_int_eq(st.state, ST_HELD);
    ck_assert(!out.plant.co[REGMAP_CO_X_ENABLE]);
    in.op.cmd = STATION_CMD_UNHOLD;
    station_step(&st, &in, t + 10, &out);
    ck_assert(!out.cmd_ok);
    ck_assert_ptr_nonnull(strstr(out.cmd_reason, "plant_frozen"));
}
END_TEST

START_TEST(an_echo_that_never_follows_is_frozen_once_the_robot_may_move)
{
    reconciled_core();
    st.state = ST_EXECUTE;     /* e.g. a plant image frozen before the controller started */
    uint64_t t = 1010;
    /* the second heartbeat went out at 1000 (reconciled_core) and is never echoed */
    for (; t < 1000 + (uint64_t)cfg.plant_echo_timeout_ms; t += 10) {
        station_step(&st, &in, t, &out);
        ck_assert(!(out.alarms_active & (1ull << DIAG_PLANT_FROZEN)));
    }
    /* raised within the sampling of the heartbeats sent (timeout / 8) */
    for (; t <= 1000 + (uint64_t)cfg.plant_echo_timeout_ms * 9 / 8 + 10 &&
           !(out.alarms_active & (1ull << DIAG_PLANT_FROZEN)); t += 10)
        station_step(&st, &in, t, &out);
    ck_assert(out.alarms_active & (1ull << DIAG_PLANT_FROZEN));
    ck_assert_int_eq(st.state, ST_HELD);
}
END_TEST

START_TEST(a_frozen_image_after_a_restart_is_not_reconciled_against)
{
    /* The old controller's last heartbeat stays in a frozen image: nothing of ours is
     * ever echoed, so the stale sensors are never taken for the truth. */
    ck_assert_int_eq(station_init(&st, &cfg, &pc, 0), 0);
    nominal(&in);
    in.plant.heartbeat_echo = 40000;
    uint64_t t = 0;
    for (; t < 2000; t += 10) {
        station_step(&st, &in, t, &out);
        ck_assert(!out.reconciled);
        ck_assert(!out.plant.co[REGMAP_CO_X_ENABLE]);
    }
    in.op.cmd = STATION_CMD_RESET;
    station_step(&st, &in, t, &out);
    ck_assert(!out.cmd_ok);
    in.op.cmd = STATION_CMD_NONE;
    /* live again: the echo follows, the inventory is compared */
    in.plant.heartbeat_echo = out.plant.heartbeat;
    station_step(&st, &in, t + 10, &out);
    ck_assert(out.reconciled);
}
END_TEST

START_TEST(a_refused_first_image_keeps_the_plants_levels)
{
    /* After a restart the first images are refused: the plant's read-back coil levels
     * are written, never an image of zeros (that would open a gripper holding a pack). */
    ck_assert_int_eq(station_init(&st, &cfg, &pc, 0), 0);
    nominal(&in);
    in.plant.valid = false;
    in.plant.refused = true;
    in.plant.have_readback = true;
    in.plant.co_readback[REGMAP_CO_GRIP_B_CLOSE] = true;
    in.plant.co_readback[REGMAP_CO_CLAMP_LOCK] = true;
    in.plant.co_readback[REGMAP_CO_X_ENABLE] = true;
    for (uint64_t t = 0; t < 500; t += 10) {
        station_step(&st, &in, t, &out);
        ck_assert(out.plant.co[REGMAP_CO_GRIP_B_CLOSE]);
        ck_assert(out.plant.co[REGMAP_CO_CLAMP_LOCK]);
        ck_assert(!out.plant.co[REGMAP_CO_X_ENABLE]);
    }
}
END_TEST

START_TEST(a_refused_image_lets_no_held_back_level_through)
{
    /* The stroke is wanted out, but the head is not at a bay or slot: the permissive
     * holds it in. An image that cannot be judged must not let it through. */
    reconciled_core();
    st.state = ST_SUSPENDED;
    st.cmd.co[REGMAP_CO_STROKE_EXTEND] = true;
    in.plant.heartbeat_echo = out.plant.heartbeat;
    station_step(&st, &in, 1010, &out);
    ck_assert(!out.plant.co[REGMAP_CO_STROKE_EXTEND]);
    in.plant.valid = false;
    in.plant.refused = true;
    for (uint64_t t = 1020; t < 1020 + 2 * (uint64_t)cfg.comm_loss_ms; t += 10) {
        station_step(&st, &in, t, &out);
        ck_assert_msg(!out.plant.co[REGMAP_CO_STROKE_EXTEND], "stroke let out at %llu", (unsigned long long)t);
        ck_assert(!out.plant.co[REGMAP_CO_X_ENABLE]);
    }
}
END_TEST

START_TEST(hot_pack_is_not_charged)
{
    reconciled_core();
    in.plant.slot[1].temp_degC = 50;
    in.plant.slot[2].temp_ok = false;
    for (uint64_t t = 1010; t < 2000; t += 10)
        station_step(&st, &in, t, &out);
    ck_assert_uint_eq(out.plant.charger_mode[0], CHARGER_MODE_CHARGE);
    ck_assert_uint_eq(out.plant.charger_mode[1], CHARGER_MODE_OFF);
    ck_assert_uint_eq(out.plant.charger_mode[2], CHARGER_MODE_OFF);
    ck_assert(out.alarms_active & (1ull << DIAG_BATTERY_OVERTEMP));
}
END_TEST

/* A pack just stored in a slot, whose round-robin telemetry still shows the empty slot
 * (no sensor: temp_ok false) or another pack: unknown, not a fault. No alarm however long
 * it lasts, no charge, no hand-out; once read, it is judged as usual. */
START_TEST(stale_telemetry_after_a_pack_arrives_is_unknown)
{
    reconciled_core();
    in.plant.slot[2].temp_ok = false;          /* the empty slot's reading */
    in.plant.slot[2].telemetry_stale = true;
    in.plant.slot[4].temp_degC = 70;           /* the pack that was there before */
    in.plant.slot[4].telemetry_stale = true;
    in.inv.fresh_slot = 4;
    for (uint64_t t = 1010; t < 4000; t += 10) {
        station_step(&st, &in, t, &out);
        ck_assert_msg(!(out.alarms_active & (1ull << DIAG_BATTERY_OVERTEMP)), "overtemp at %llu",
                      (unsigned long long)t);
        ck_assert_uint_eq(out.plant.charger_mode[2], CHARGER_MODE_OFF);
        ck_assert_uint_eq(out.plant.charger_mode[4], CHARGER_MODE_OFF);
    }
    ck_assert_uint_eq(out.plant.charger_mode[0], CHARGER_MODE_CHARGE);
    ck_assert(!station_fresh_slot_ok(&st, &in));
    /* read: slot 2 is fine and charges; slot 4 is hot and judged so */
    in.plant.slot[2].temp_ok = true;
    in.plant.slot[2].telemetry_stale = false;
    in.plant.slot[4].telemetry_stale = false;
    in.plant.slot[4].temp_degC = 22;
    for (uint64_t t = 4000; t < 4100; t += 10)
        station_step(&st, &in, t, &out);
    ck_assert_uint_eq(out.plant.charger_mode[2], CHARGER_MODE_CHARGE);
    ck_assert(station_fresh_slot_ok(&st, &in));
    in.plant.slot[4].temp_degC = 70;
    for (uint64_t t = 4100; t < 5000; t += 10)
        station_step(&st, &in, t, &out);
    ck_assert(out.alarms_active & (1ull << DIAG_BATTERY_OVERTEMP));
    ck_assert_uint_eq(out.plant.charger_mode[4], CHARGER_MODE_OFF);
}
END_TEST

START_TEST(shipped_swapd_ini_equals_defaults)
{
    /* swapd.ini carries other modules' sections too: keep only the station's. */
    const char *dir = getenv("SWAP_CONFIGS");
    char path[600];
    snprintf(path, sizeof path, "%s/swapd.ini", dir ? dir : "configs");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char text[16384];
    size_t used = 0;
    char line[512];
    bool mine = false;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '[') {
            mine = false;
            for (size_t k = 0; k < station_cfg_n_keys; k++) {
                char sec[64];
                snprintf(sec, sizeof sec, "[%s]", station_cfg_keys[k].section);
                if (!strncmp(line, sec, strlen(sec)))
                    mine = true;
            }
        }
        if (mine && used + strlen(line) < sizeof text) {
            memcpy(text + used, line, strlen(line));
            used += strlen(line);
        }
    }
    fclose(f);
    text[used] = 0;
    struct station_cfg loaded, defaults;
    struct cfg_error err;
    memset(&loaded, 0, sizeof loaded);
    ck_assert_msg(cfg_load_string("swapd.ini", text, station_cfg_keys, station_cfg_n_keys, &loaded, &err) == 0,
                  "%s", err.msg);
    station_cfg_defaults(&defaults);
    ck_assert_int_eq(memcmp(&loaded, &defaults, sizeof loaded), 0);
}
END_TEST

START_TEST(bad_station_setting_is_refused)
{
    struct station_cfg c;
    struct cfg_error err;
    ck_assert_int_eq(cfg_load_string("t.ini", "[deadlines]\nmargin = 0.5\n", station_cfg_keys, station_cfg_n_keys,
                                     &c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "out of range"));
    ck_assert_int_eq(cfg_load_string("t.ini", "[station]\nsequence = fastest\n", station_cfg_keys,
                                     station_cfg_n_keys, &c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "sequence"));
    station_cfg_defaults(&c);
    c.cell_min_mV = 4300;
    c.cell_max_mV = 4000;
    ck_assert_int_eq(station_init(&st, &c, &pc, 0), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("station");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, every_command_from_every_state, 0, ST_COUNT * STATION_CMD_COUNT);
    tcase_add_test(tc, table_names_all_seventeen_states);
    tcase_add_test(tc, start_refused_outside_production);
    tcase_add_test(tc, mode_change_refused_while_executing);
    tcase_add_test(tc, jog_refused_in_production_and_accepted_in_maintenance);
    tcase_add_test(tc, no_motion_before_reconciliation);
    tcase_add_test(tc, same_inputs_same_outputs);
    tcase_add_test(tc, next_deadline_is_bounded_by_heartbeat);
    tcase_add_test(tc, comm_loss_holds_after_its_debounce);
    tcase_add_test(tc, refused_image_is_plant_data_invalid_not_comm_loss);
    tcase_add_test(tc, echo_that_stops_following_is_a_frozen_image);
    tcase_add_test(tc, a_refused_first_image_keeps_the_plants_levels);
    tcase_add_test(tc, a_frozen_image_after_a_restart_is_not_reconciled_against);
    tcase_add_test(tc, a_refused_image_lets_no_held_back_level_through);
    tcase_add_test(tc, an_echo_that_never_follows_is_frozen_once_the_robot_may_move);
    tcase_add_test(tc, hot_pack_is_not_charged);
    tcase_add_test(tc, stale_telemetry_after_a_pack_arrives_is_unknown);
    tcase_add_test(tc, shipped_swapd_ini_equals_defaults);
    tcase_add_test(tc, bad_station_setting_is_refused);
    tcase_add_test(tc, renewed_plant_is_adopted_and_reconciled_before_anything_moves);
    tcase_add_test(tc, registry_write_failure_holds_until_writes_succeed);
    tcase_add_test(tc, renewed_plant_in_idle_reconciles_in_place);
    tcase_add_test(tc, renewed_plant_with_a_frozen_echo_is_not_live);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
