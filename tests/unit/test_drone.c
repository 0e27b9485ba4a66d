/* The drone model with a fake clock, a fake pad and the station played by the test. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drone/drone.h"
#include "droneproto/dproto.h"
#include "mavlink/mav.h"
#include "plantcfg/plantcfg.h"

#define STATION 200
#define DRONE 10
#define MAX_FRAMES 4096

struct fake_pad {
    bool drone_present, clamped;
    bool bay_has;
    struct sim_battery bay;
    unsigned lands, takeoffs;
    unsigned unreachable;        /* take-offs still to answer "pad not reachable" */
    double load_a;
    bool occupied;               /* another drone is on the pad */
};

static struct {
    struct plantcfg pcfg;
    struct sim_drone_cfg cfg;
    struct sim_drone d;
    struct fake_pad pad;
    struct mav_tx station;
    struct mav_parser parser;
    struct mav_frame frames[MAX_FRAMES];
    uint64_t frame_t[MAX_FRAMES];
    size_t n_frames;
    uint64_t now;
} R;

static int pad_land(void *ctx, const struct sim_battery *b)
{
    struct fake_pad *p = ctx;
    if (p->occupied || p->drone_present)
        return -1;
    p->drone_present = true;
    p->bay_has = b != NULL;
    if (b)
        p->bay = *b;
    p->lands++;
    return 0;
}

static int pad_takeoff(void *ctx, struct sim_battery *b, bool *has)
{
    struct fake_pad *p = ctx;
    if (p->unreachable) {
        p->unreachable--;
        return -3;   /* the plant model restarting */
    }
    if (!p->drone_present)
        return -1;
    if (p->clamped)
        return -2;
    *has = p->bay_has;
    if (p->bay_has)
        *b = p->bay;
    p->drone_present = false;
    p->bay_has = false;
    p->takeoffs++;
    return 0;
}

static int pad_bay(void *ctx, struct sim_battery *b, bool *has)
{
    struct fake_pad *p = ctx;
    *has = p->bay_has;
    if (p->bay_has)
        *b = p->bay;
    return 0;
}

static void pad_load(void *ctx, double a) { ((struct fake_pad *)ctx)->load_a = a; }

static void make_pack(struct sim_battery *b, uint32_t tag, double soc)
{
    struct sim_rng rng;
    sim_rng_seed(&rng, tag);
    sim_battery_init(b, &R.pcfg, tag, soc, &rng);
}

static void collect(void)
{
    uint8_t buf[SIM_DRONE_OUTBOX];
    size_t n = sim_drone_take_output(&R.d, buf, sizeof buf);
    for (size_t i = 0; i < n; i++) {
        struct mav_frame f;
        if (mav_parser_feed(&R.parser, buf[i], &f) == 1 && R.n_frames < MAX_FRAMES) {
            R.frame_t[R.n_frames] = R.now;
            R.frames[R.n_frames++] = f;
        }
    }
}

static void rig_start(double soc, bool hot)
{
    memset(&R, 0, sizeof R);
    plantcfg_defaults(&R.pcfg);
    sim_drone_cfg_defaults(&R.cfg, DRONE);
    R.cfg.station_sysid = STATION;
    R.cfg.hot_swap = hot;
    R.cfg.current_noise_a = 0.5;
    struct sim_drone_pad pad = { &R.pad, pad_land, pad_takeoff, pad_bay, pad_load };
    struct sim_battery b;
    make_pack(&b, 0x5A000001, soc);
    R.now = 1000;
    sim_drone_init(&R.d, &R.cfg, &pad, &b, 42, NULL, R.now);
    R.station.sysid = STATION;
    R.station.compid = DPROTO_STATION_COMPID;
    mav_parser_init(&R.parser, NULL);
}

static void run_until(uint64_t t)
{
    while (R.now < t) {
        uint64_t next = sim_drone_next_deadline(&R.d);
        if (next <= R.now)
            next = R.now + 1;
        R.now = next < t ? next : t;
        sim_drone_step(&R.d, R.now);
        collect();
    }
}

static void run_for(uint64_t ms) { run_until(R.now + ms); }

/* Runs until the drone is in state s; fails after limit_ms. */
static void run_to_state(enum sim_drone_state s, uint64_t limit_ms)
{
    uint64_t end = R.now + limit_ms;
    while (R.d.state != s && R.now < end)
        run_for(10);
    ck_assert_msg(R.d.state == s, "state %s, want %s", sim_drone_state_name(R.d.state),
                  sim_drone_state_name(s));
}

static void send_to_drone(uint32_t msgid, const void *msg)
{
    uint8_t buf[MAV_MAX_FRAME];
    int n = mav_encode(&R.station, msgid, msg, buf);
    ck_assert_int_gt(n, 0);
    struct mav_parser p;
    mav_parser_init(&p, NULL);
    struct mav_frame f;
    int got = 0;
    for (int i = 0; i < n; i++)
        got += mav_parser_feed(&p, buf[i], &f);
    ck_assert_int_eq(got, 1);
    sim_drone_handle_frame(&R.d, &f, R.now);
    collect();
}

static void station_heartbeat(void)
{
    struct dproto_station_status st = { DPROTO_PACKML_EXECUTE, DPROTO_MODE_PRODUCTION,
                                        DPROTO_FLAG_ACCEPTING, 0 };
    struct mav_heartbeat hb;
    dproto_station_heartbeat(&st, &hb);
    send_to_drone(MAV_MSG_HEARTBEAT, &hb);
}

static void station_ack(uint16_t command, enum dproto_reply_kind kind, uint8_t pos, int32_t reason)
{
    struct dproto_reply r = { command, kind, pos, reason };
    struct mav_command_ack ack;
    dproto_build_ack(&r, DRONE, DPROTO_DRONE_COMPID, &ack);
    send_to_drone(MAV_MSG_COMMAND_ACK, &ack);
}

static void clear_to_land(void)
{
    struct dproto_land_clearance c = { 1, 7, 60 };
    struct mav_command_long cmd;
    dproto_build_land_clearance(&c, DRONE, DPROTO_DRONE_COMPID, 0, &cmd);
    send_to_drone(MAV_MSG_COMMAND_LONG, &cmd);
}

static void clear_takeoff(uint32_t tag)
{
    struct dproto_takeoff_clearance c = { DPROTO_SWAPPED, tag, 30 };
    struct mav_command_long cmd;
    dproto_build_takeoff_clearance(&c, DRONE, DPROTO_DRONE_COMPID, 0, &cmd);
    send_to_drone(MAV_MSG_COMMAND_LONG, &cmd);
}

static size_t count_msgs(uint32_t msgid, size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < R.n_frames; i++)
        n += R.frames[i].msgid == msgid;
    return n;
}

static const struct mav_frame *last_msg(uint32_t msgid)
{
    for (size_t i = R.n_frames; i-- > 0;)
        if (R.frames[i].msgid == msgid)
            return &R.frames[i];
    return NULL;
}

static struct mav_command_ack last_ack(void)
{
    const struct mav_frame *f = last_msg(MAV_MSG_COMMAND_ACK);
    ck_assert_ptr_nonnull(f);
    struct mav_command_ack ack;
    ck_assert_int_eq(mav_decode(f, &ack), 0);
    return ack;
}

static struct mav_heartbeat last_heartbeat(void)
{
    const struct mav_frame *f = last_msg(MAV_MSG_HEARTBEAT);
    ck_assert_ptr_nonnull(f);
    struct mav_heartbeat hb;
    ck_assert_int_eq(mav_decode(f, &hb), 0);
    return hb;
}

/* Flies a drone from just above the return threshold to disarmed on the pad. */
static void fly_to_pad(bool hot)
{
    rig_start(0.305, hot);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_heartbeat();
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_QUEUED, 1, 0);
    ck_assert_int_eq(R.d.state, SIM_DRONE_QUEUED);
    clear_to_land();
    ck_assert_int_eq(R.d.state, SIM_DRONE_LANDING);
    for (int i = 0; i < 10 && R.d.state == SIM_DRONE_LANDING; i++) {
        station_heartbeat();
        run_for(1000);
    }
    run_to_state(SIM_DRONE_DISARMED, 3000);
}

/* ---- tests ------------------------------------------------------------------------ */

START_TEST(flight_drains_the_pack_at_hover_current)
{
    rig_start(0.9, false);
    double soc0 = R.d.battery.soc;
    run_for(60000);
    double used_ah = (soc0 - R.d.battery.soc) * R.d.battery.capacity_ah;
    /* 18 A for 60 s is 0.3 Ah; noise and bursts add a little. */
    ck_assert_double_ge(used_ah, 0.28);
    ck_assert_double_le(used_ah, 0.40);
    ck_assert_int_eq(R.d.state, SIM_DRONE_FLYING);
    ck_assert_uint_ge(count_msgs(MAV_MSG_HEARTBEAT, 0), 59);
    ck_assert_uint_ge(count_msgs(MAV_MSG_BATTERY_STATUS, 0), 59);
    ck_assert(sim_drone_armed(&R.d));
}
END_TEST

START_TEST(low_pack_sends_a_swap_request)
{
    rig_start(0.305, false);
    run_to_state(SIM_DRONE_RETURNING, 120000);
    ck_assert_double_lt(R.d.battery.soc, 0.30);
    run_to_state(SIM_DRONE_REQUESTING, R.cfg.return_ms + 10);
    const struct mav_frame *f = last_msg(MAV_MSG_COMMAND_LONG);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->sysid, DRONE);
    struct mav_command_long cmd;
    ck_assert_int_eq(mav_decode(f, &cmd), 0);
    ck_assert_uint_eq(cmd.target_system, STATION);
    struct dproto_swap_request req;
    ck_assert_int_eq(dproto_parse_swap_request(&cmd, &req), 0);
    ck_assert_uint_eq(req.pack_tag, 0x5A000001);
    ck_assert_float_lt(req.remaining_pct, 30);
    ck_assert_float_gt(req.voltage_v, 18);
    ck_assert_uint_eq(req.flags & DPROTO_REQ_HOT_SWAP, 0);
}
END_TEST

START_TEST(unacked_request_is_resent_with_backoff)
{
    rig_start(0.305, false);
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    size_t first = R.n_frames - 1;
    run_for(16000);
    uint64_t t[8];
    size_t n = 0;
    for (size_t i = first; i < R.n_frames && n < 8; i++)
        if (R.frames[i].msgid == MAV_MSG_COMMAND_LONG)
            t[n++] = R.frame_t[i];
    ck_assert_uint_ge(n, 6);
    ck_assert_uint_eq(t[1] - t[0], 500);
    ck_assert_uint_eq(t[2] - t[1], 1000);
    ck_assert_uint_eq(t[3] - t[2], 2000);
    ck_assert_uint_eq(t[4] - t[3], 4000);
    ck_assert_uint_eq(t[5] - t[4], 4000);
}
END_TEST

START_TEST(queued_drone_waits_then_lands_when_cleared)
{
    rig_start(0.305, false);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_QUEUED, 2, 0);
    ck_assert_int_eq(R.d.state, SIM_DRONE_QUEUED);
    ck_assert_uint_eq(R.d.queue_position, 2);
    size_t sent = R.d.count.requests_sent;
    station_heartbeat();
    run_for(3000);
    ck_assert_uint_eq(R.d.count.requests_sent, sent); /* queued: no more requests */
    ck_assert_uint_eq(R.pad.lands, 0);
    clear_to_land();
    struct mav_command_ack ack = last_ack();
    ck_assert_uint_eq(ack.command, DPROTO_CMD_CLEARED_TO_LAND);
    ck_assert_uint_eq(ack.result, MAV_RESULT_ACCEPTED);
    ck_assert_uint_eq(ack.target_system, STATION);
    ck_assert_int_eq(R.d.state, SIM_DRONE_LANDING);
    station_heartbeat();
    run_for(R.cfg.landing_ms);
    ck_assert_uint_eq(R.pad.lands, 1);
    ck_assert_int_eq(R.d.state, SIM_DRONE_LANDED);
    ck_assert(sim_drone_armed(&R.d));
    run_for(R.cfg.disarm_ms + 1000);
    ck_assert_int_eq(R.d.state, SIM_DRONE_DISARMED);
    struct mav_heartbeat hb = last_heartbeat();
    ck_assert_uint_eq(hb.base_mode & MAV_MODE_FLAG_SAFETY_ARMED, 0);
    const struct mav_frame *f = last_msg(MAV_MSG_EXTENDED_SYS_STATE);
    struct mav_extended_sys_state es;
    ck_assert_int_eq(mav_decode(f, &es), 0);
    ck_assert_uint_eq(es.landed_state, MAV_LANDED_ON_GROUND);
}
END_TEST

START_TEST(cold_swap_goes_silent_while_the_pack_is_out)
{
    fly_to_pad(false);
    R.pad.bay_has = false;
    run_for(200);
    ck_assert_int_eq(R.d.state, SIM_DRONE_BAY_EMPTY);
    ck_assert(!sim_drone_powered(&R.d));
    size_t before = R.n_frames;
    run_for(10000);
    ck_assert_uint_eq(R.n_frames, before);
}
END_TEST

START_TEST(hot_swap_stays_up_without_a_pack)
{
    fly_to_pad(true);
    R.pad.bay_has = false;
    run_for(200);
    ck_assert_int_eq(R.d.state, SIM_DRONE_BAY_EMPTY);
    size_t before = R.n_frames;
    run_for(3000);
    ck_assert_uint_ge(count_msgs(MAV_MSG_HEARTBEAT, before), 3);
    const struct mav_frame *f = last_msg(MAV_MSG_BATTERY_STATUS);
    struct mav_battery_status bs;
    ck_assert_int_eq(mav_decode(f, &bs), 0);
    ck_assert_int_eq(bs.battery_remaining, -1);
}
END_TEST

START_TEST(new_pack_powers_up_and_is_reported)
{
    fly_to_pad(false);
    R.pad.bay_has = false;
    run_for(200);
    make_pack(&R.pad.bay, 0x5A000003, 0.95);
    R.pad.bay_has = true;
    run_for(150);
    ck_assert_int_eq(R.d.state, SIM_DRONE_BOOTING);
    size_t before = R.n_frames;
    run_for(R.cfg.boot_ms);
    ck_assert_int_eq(R.d.state, SIM_DRONE_WAIT_TAKEOFF);
    ck_assert_uint_eq(R.d.count.swaps, 1);
    ck_assert_uint_ge(count_msgs(MAV_MSG_SMART_BATTERY_INFO, before), 1);
    struct mav_smart_battery_info si;
    ck_assert_int_eq(mav_decode(last_msg(MAV_MSG_SMART_BATTERY_INFO), &si), 0);
    ck_assert_int_eq(memcmp(si.serial_number, "SWP-5A000003", 13), 0);
    ck_assert_int_eq(si.capacity_full_specification, 5000);
    struct mav_battery_status bs;
    ck_assert_int_eq(mav_decode(last_msg(MAV_MSG_BATTERY_STATUS), &bs), 0);
    ck_assert_int_ge(bs.battery_remaining, 90);
    ck_assert_uint_gt(bs.voltages[0], 3900);
    ck_assert_uint_lt(bs.voltages[0], 4250);
    ck_assert_double_eq_tol(R.pad.load_a, R.cfg.pad_current_a, 1e-9);
}
END_TEST

START_TEST(cleared_drone_takes_off_with_the_new_pack)
{
    fly_to_pad(false);
    R.pad.bay_has = false;
    run_for(200);
    make_pack(&R.pad.bay, 0x5A000004, 0.95);
    R.pad.bay_has = true;
    run_to_state(SIM_DRONE_WAIT_TAKEOFF, 5000);
    clear_takeoff(0x5A000004);
    struct mav_command_ack ack = last_ack();
    ck_assert_uint_eq(ack.command, DPROTO_CMD_CLEARED_TAKEOFF);
    ck_assert_uint_eq(ack.result, MAV_RESULT_ACCEPTED);
    ck_assert_int_eq(R.d.state, SIM_DRONE_TAKING_OFF);
    ck_assert_uint_eq(R.pad.takeoffs, 1);
    ck_assert(sim_drone_armed(&R.d));
    run_for(R.cfg.takeoff_ms);
    ck_assert_int_eq(R.d.state, SIM_DRONE_FLYING);
    ck_assert_uint_eq(R.d.battery.tag, 0x5A000004);
    /* The station's retransmission (our ack lost) is acked again, not acted on. */
    clear_takeoff(0x5A000004);
    ck_assert_uint_eq(last_ack().result, MAV_RESULT_ACCEPTED);
    ck_assert_uint_eq(R.pad.takeoffs, 1);
}
END_TEST

/* Cleared for take-off (acked) while the plant model could not be reached (swapsim
 * restarting): the drone lifts off once it can, without a new clearance; it does not sit
 * on the pad for ever while the station believes it gone. */
START_TEST(cleared_drone_takes_off_once_the_pad_answers_again)
{
    fly_to_pad(false);
    R.pad.bay_has = false;
    run_for(200);
    make_pack(&R.pad.bay, 0x5A000004, 0.95);
    R.pad.bay_has = true;
    run_to_state(SIM_DRONE_WAIT_TAKEOFF, 5000);
    R.pad.unreachable = 3;
    clear_takeoff(0x5A000004);
    ck_assert_uint_eq(last_ack().result, MAV_RESULT_ACCEPTED);
    ck_assert_int_eq(R.d.state, SIM_DRONE_WAIT_TAKEOFF);
    run_for(5000);
    ck_assert_uint_eq(R.pad.unreachable, 0);
    ck_assert_uint_eq(R.pad.takeoffs, 1);
    ck_assert(R.d.state == SIM_DRONE_TAKING_OFF || R.d.state == SIM_DRONE_FLYING);
}
END_TEST

START_TEST(clamped_drone_cannot_leave)
{
    fly_to_pad(false);
    R.pad.clamped = true;
    clear_takeoff(0x5A000001);
    ck_assert_int_eq(R.d.state, SIM_DRONE_DISARMED);
    ck_assert_uint_eq(R.d.count.takeoff_refused, 1);
    ck_assert(!sim_drone_armed(&R.d));
}
END_TEST

START_TEST(takeoff_clearance_before_power_up_is_refused)
{
    fly_to_pad(true);
    R.pad.bay_has = false;
    run_for(200);
    clear_takeoff(0x5A000001);
    struct mav_command_ack ack = last_ack();
    ck_assert_uint_eq(ack.result, MAV_RESULT_DENIED);
    ck_assert_int_eq(ack.result_param2, DPROTO_REASON_NOT_READY);
    ck_assert_uint_eq(R.pad.takeoffs, 0);
}
END_TEST

START_TEST(final_denial_diverts_the_drone)
{
    rig_start(0.305, false);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_DENIED, 0, DPROTO_REASON_NOT_ALLOWED);
    ck_assert_int_eq(R.d.state, SIM_DRONE_DIVERTED);
    size_t before = R.n_frames;
    run_for(5000);
    ck_assert_uint_eq(R.n_frames, before);
}
END_TEST

START_TEST(transient_denial_asks_again_later)
{
    rig_start(0.305, false);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_DENIED, 0, DPROTO_REASON_NO_BATTERY);
    ck_assert_int_eq(R.d.state, SIM_DRONE_REQUESTING);
    size_t sent = R.d.count.requests_sent;
    run_for(R.cfg.retry_denied_ms - 10);
    ck_assert_uint_eq(R.d.count.requests_sent, sent);
    run_for(20);
    ck_assert_uint_eq(R.d.count.requests_sent, sent + 1);
}
END_TEST

START_TEST(station_silence_aborts_the_approach)
{
    rig_start(0.305, false);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_heartbeat();
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_ACCEPTED, 0, 0);
    clear_to_land();
    ck_assert_int_eq(R.d.state, SIM_DRONE_LANDING);
    R.cfg.landing_ms = 20000;
    R.d.deadline_ms = R.now + 20000; /* a long approach, so the silence bites first */
    run_for(DPROTO_LINK_LOST_MS + 100);
    ck_assert_int_eq(R.d.state, SIM_DRONE_REQUESTING);
    ck_assert_uint_eq(R.pad.lands, 0);
    ck_assert_uint_eq(R.d.count.go_arounds, 1);
}
END_TEST

START_TEST(occupied_pad_means_go_around)
{
    rig_start(0.305, false);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_heartbeat();
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_ACCEPTED, 0, 0);
    clear_to_land();
    R.pad.occupied = true;
    station_heartbeat();
    run_for(R.cfg.landing_ms);
    ck_assert_int_eq(R.d.state, SIM_DRONE_REQUESTING);
    ck_assert_uint_eq(R.d.count.go_arounds, 1);
}
END_TEST

START_TEST(commands_from_strangers_are_ignored)
{
    rig_start(0.305, false);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    R.station.sysid = 77;
    clear_to_land();
    ck_assert_int_eq(R.d.state, SIM_DRONE_REQUESTING);
    ck_assert_uint_ge(R.d.count.frames_ignored, 1);
}
END_TEST

START_TEST(station_is_learned_from_its_heartbeat)
{
    rig_start(0.305, false);
    R.d.cfg.station_sysid = 0;
    R.d.station_sysid = 0;
    R.station.sysid = 201;
    station_heartbeat();
    ck_assert_uint_eq(R.d.station_sysid, 201);
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    struct mav_command_long cmd;
    ck_assert_int_eq(mav_decode(last_msg(MAV_MSG_COMMAND_LONG), &cmd), 0);
    ck_assert_uint_eq(cmd.target_system, 201);
}
END_TEST

START_TEST(rearm_misbehaviour_arms_on_the_pad)
{
    rig_start(0.305, false);
    ck_assert_int_eq(sim_drone_misbehave(&R.d, SIM_DRONE_MIS_REARM, 0, 2000), 0);
    ck_assert(sim_drone_armed(&R.d)); /* flying: armed anyway */
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_heartbeat();
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_ACCEPTED, 0, 0);
    clear_to_land();
    station_heartbeat();
    run_to_state(SIM_DRONE_DISARMED, 10000);
    run_for(1);
    ck_assert(sim_drone_armed(&R.d));
    ck_assert_uint_eq(last_heartbeat().base_mode & MAV_MODE_FLAG_SAFETY_ARMED,
                      MAV_MODE_FLAG_SAFETY_ARMED);
    run_for(2100);
    ck_assert(!sim_drone_armed(&R.d));
    ck_assert_uint_eq(last_heartbeat().base_mode & MAV_MODE_FLAG_SAFETY_ARMED, 0);
}
END_TEST

START_TEST(no_ack_misbehaviour_ignores_the_clearance)
{
    rig_start(0.305, false);
    ck_assert_int_eq(sim_drone_misbehave(&R.d, SIM_DRONE_MIS_NO_ACK, 0, 600000), 0);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_QUEUED, 1, 0);
    size_t acks = count_msgs(MAV_MSG_COMMAND_ACK, 0);
    clear_to_land();
    ck_assert_uint_eq(count_msgs(MAV_MSG_COMMAND_ACK, 0), acks);
    ck_assert_int_eq(R.d.state, SIM_DRONE_QUEUED);
}
END_TEST

START_TEST(cancel_misbehaviour_withdraws_once_and_asks_again)
{
    rig_start(0.305, false);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_QUEUED, 1, 0);
    ck_assert_int_eq(sim_drone_misbehave(&R.d, SIM_DRONE_MIS_CANCEL, R.now, 5000), 0);
    size_t from = R.n_frames;
    station_heartbeat();
    run_for(100);
    ck_assert_uint_eq(R.d.count.cancels_sent, 1);
    bool seen = false;
    for (size_t i = from; i < R.n_frames; i++) {
        struct mav_command_long cmd;
        if (R.frames[i].msgid == MAV_MSG_COMMAND_LONG && mav_decode(&R.frames[i], &cmd) == 0 &&
            cmd.command == DPROTO_CMD_CANCEL)
            seen = true;
    }
    ck_assert(seen);
    ck_assert_int_eq(R.d.state, SIM_DRONE_REQUESTING);
    station_heartbeat();
    run_for(R.cfg.retry_denied_ms + 100);
    ck_assert_uint_eq(R.d.count.cancels_sent, 1);
    ck_assert_uint_gt(R.d.count.requests_sent, 1);
}
END_TEST

START_TEST(divert_and_bad_version_misbehaviours)
{
    rig_start(0.305, false);
    ck_assert_int_eq(sim_drone_misbehave(&R.d, SIM_DRONE_MIS_BAD_VERSION, 0, 600000), 0);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    struct mav_command_long cmd;
    ck_assert_int_eq(mav_decode(last_msg(MAV_MSG_COMMAND_LONG), &cmd), 0);
    ck_assert_float_eq(cmd.param[6], DPROTO_VERSION + 1);
    ck_assert_int_eq(sim_drone_misbehave(&R.d, SIM_DRONE_MIS_DIVERT, R.now, 5000), 0);
    run_for(100);
    ck_assert_int_eq(R.d.state, SIM_DRONE_DIVERTED);
}
END_TEST

START_TEST(link_loss_misbehaviour_silences_both_ways)
{
    rig_start(0.9, false);
    sim_drone_misbehave(&R.d, SIM_DRONE_MIS_LINK_LOSS, 5000, 4000);
    run_until(5000);
    size_t before = R.n_frames;
    run_until(8900);
    ck_assert_uint_eq(R.n_frames, before);
    station_heartbeat();
    ck_assert(!R.d.station_heard);
    run_until(10500);
    ck_assert_uint_gt(R.n_frames, before);
}
END_TEST

START_TEST(wrong_sysid_misbehaviour_changes_the_sender)
{
    rig_start(0.9, false);
    sim_drone_misbehave(&R.d, SIM_DRONE_MIS_WRONG_SYSID, 3000, 2000);
    run_until(3000);
    size_t before = R.n_frames;
    run_until(4900);
    ck_assert_uint_gt(R.n_frames, before);
    for (size_t i = before; i < R.n_frames; i++)
        ck_assert_uint_eq(R.frames[i].sysid, DRONE ^ 0x80);
    run_until(7000);
    ck_assert_uint_eq(R.frames[R.n_frames - 1].sysid, DRONE);
}
END_TEST

START_TEST(garbage_misbehaviour_adds_noise_but_frames_survive)
{
    rig_start(0.9, false);
    sim_drone_misbehave(&R.d, SIM_DRONE_MIS_GARBAGE, 0, 20000);
    run_for(10000);
    ck_assert_uint_gt(R.parser.drops[MAV_DROP_GARBAGE_BYTES], 0);
    /* Random junk may swallow the odd frame, but most get through. */
    ck_assert_uint_ge(count_msgs(MAV_MSG_HEARTBEAT, 0), 7);
}
END_TEST

START_TEST(unsigned_misbehaviour_drops_the_signature)
{
    memset(&R, 0, sizeof R);
    rig_start(0.9, false);
    static struct mav_signing sign;
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    mav_signing_init(&sign, key, 1, true);
    mav_signing_set_time_unix_us(&sign, 1700000000000000ULL);
    struct sim_battery b = R.d.battery;
    struct sim_drone_pad pad = R.d.pad;
    sim_drone_init(&R.d, &R.cfg, &pad, &b, 42, &sign, R.now);
    sim_drone_misbehave(&R.d, SIM_DRONE_MIS_UNSIGNED, 3000, 2000);
    run_until(2900);
    ck_assert_uint_gt(R.n_frames, 0);
    ck_assert(R.frames[R.n_frames - 1].is_signed);
    size_t before = R.n_frames;
    run_until(4900);
    for (size_t i = before; i < R.n_frames; i++)
        ck_assert(!R.frames[i].is_signed);
    run_until(6500);
    ck_assert(R.frames[R.n_frames - 1].is_signed);
}
END_TEST

START_TEST(same_seed_same_bytes)
{
    static uint8_t a[SIM_DRONE_OUTBOX * 8], b[SIM_DRONE_OUTBOX * 8];
    size_t na = 0, nb = 0;
    for (int run = 0; run < 2; run++) {
        rig_start(0.5, false);
        uint8_t *dst = run ? b : a;
        size_t *n = run ? &nb : &na;
        for (uint64_t t = R.now; t < R.now + 30000; t += 100) {
            sim_drone_step(&R.d, t);
            *n += sim_drone_take_output(&R.d, dst + *n, sizeof a - *n);
        }
    }
    ck_assert_uint_gt(na, 1000);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(a, b, na), 0);
}
END_TEST

START_TEST(full_cycle_visits_the_states_in_order)
{
    fly_to_pad(false);
    R.pad.bay_has = false;
    run_for(200);
    make_pack(&R.pad.bay, 0x5A000002, 0.95);
    R.pad.bay_has = true;
    run_to_state(SIM_DRONE_WAIT_TAKEOFF, 5000);
    clear_takeoff(0x5A000002);
    run_to_state(SIM_DRONE_FLYING, 5000);
    static const enum sim_drone_state want[] = {
        SIM_DRONE_RETURNING, SIM_DRONE_REQUESTING, SIM_DRONE_QUEUED, SIM_DRONE_LANDING,
        SIM_DRONE_LANDED, SIM_DRONE_DISARMED, SIM_DRONE_BAY_EMPTY, SIM_DRONE_BOOTING,
        SIM_DRONE_WAIT_TAKEOFF, SIM_DRONE_TAKING_OFF, SIM_DRONE_FLYING,
    };
    size_t n = sizeof want / sizeof want[0];
    ck_assert_uint_eq(R.d.n_log, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(R.d.log[i].to == want[i], "transition %zu: %s, want %s", i,
                      sim_drone_state_name(R.d.log[i].to), sim_drone_state_name(want[i]));
    ck_assert_uint_eq(R.d.count.swaps, 1);
    ck_assert_uint_eq(R.d.count.takeoffs, 1);
}
END_TEST


START_TEST(malformed_clearance_is_refused_and_changes_nothing)
{
    rig_start(0.305, false);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    struct dproto_land_clearance c = { 1, 7, 60 };
    struct mav_command_long cmd;
    dproto_build_land_clearance(&c, DRONE, DPROTO_DRONE_COMPID, 0, &cmd);
    cmd.param[2] = NAN;
    send_to_drone(MAV_MSG_COMMAND_LONG, &cmd);
    struct mav_command_ack ack = last_ack();
    ck_assert_uint_eq(ack.result, MAV_RESULT_DENIED);
    ck_assert_int_eq(ack.result_param2, DPROTO_REASON_BAD_REQUEST);
    ck_assert_int_eq(R.d.state, SIM_DRONE_REQUESTING);
    cmd.command = 12345; /* a command the drone does not know */
    send_to_drone(MAV_MSG_COMMAND_LONG, &cmd);
    ck_assert_uint_eq(last_ack().result, MAV_RESULT_UNSUPPORTED);
    ck_assert_int_eq(R.d.state, SIM_DRONE_REQUESTING);
}
END_TEST


START_TEST(exhausted_pack_lands_off_station)
{
    rig_start(0.305, false);
    station_heartbeat();
    run_to_state(SIM_DRONE_REQUESTING, 120000);
    station_heartbeat();
    station_ack(DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_QUEUED, 3, 0);
    /* The station never clears it; it hovers until the pack is nearly empty. */
    uint64_t end = R.now + 3600000;
    while (R.d.state == SIM_DRONE_QUEUED && R.now < end) {
        station_heartbeat();
        run_for(1000);
    }
    ck_assert_int_eq(R.d.state, SIM_DRONE_DIVERTED);
    ck_assert_double_lt(R.d.battery.soc, 0.03);
    ck_assert_double_gt(R.d.battery.soc, 0.0);
    const struct mav_frame *f = last_msg(MAV_MSG_STATUSTEXT);
    ck_assert_ptr_nonnull(f);
}
END_TEST

START_TEST(misbehaviour_names_round_trip)
{
    for (int i = 0; i < SIM_DRONE_MIS_COUNT; i++)
        ck_assert_int_eq(sim_drone_mis_from_name(sim_drone_mis_name((enum sim_drone_mis)i)), i);
    ck_assert_int_eq(sim_drone_mis_from_name("explode"), -1);
    rig_start(0.9, false);
    ck_assert_int_eq(sim_drone_misbehave(&R.d, SIM_DRONE_MIS_COUNT, 0, 1), -1);
    for (int i = 0; i < SIM_DRONE_MAX_MIS; i++)
        ck_assert_int_eq(sim_drone_misbehave(&R.d, SIM_DRONE_MIS_GARBAGE, 0, 1), 0);
    ck_assert_int_eq(sim_drone_misbehave(&R.d, SIM_DRONE_MIS_GARBAGE, 0, 1), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("drone");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, flight_drains_the_pack_at_hover_current);
    tcase_add_test(tc, low_pack_sends_a_swap_request);
    tcase_add_test(tc, unacked_request_is_resent_with_backoff);
    tcase_add_test(tc, queued_drone_waits_then_lands_when_cleared);
    tcase_add_test(tc, cold_swap_goes_silent_while_the_pack_is_out);
    tcase_add_test(tc, hot_swap_stays_up_without_a_pack);
    tcase_add_test(tc, new_pack_powers_up_and_is_reported);
    tcase_add_test(tc, cleared_drone_takes_off_with_the_new_pack);
    tcase_add_test(tc, clamped_drone_cannot_leave);
    tcase_add_test(tc, takeoff_clearance_before_power_up_is_refused);
    tcase_add_test(tc, cleared_drone_takes_off_once_the_pad_answers_again);
    tcase_add_test(tc, final_denial_diverts_the_drone);
    tcase_add_test(tc, transient_denial_asks_again_later);
    tcase_add_test(tc, station_silence_aborts_the_approach);
    tcase_add_test(tc, occupied_pad_means_go_around);
    tcase_add_test(tc, commands_from_strangers_are_ignored);
    tcase_add_test(tc, station_is_learned_from_its_heartbeat);
    tcase_add_test(tc, rearm_misbehaviour_arms_on_the_pad);
    tcase_add_test(tc, no_ack_misbehaviour_ignores_the_clearance);
    tcase_add_test(tc, cancel_misbehaviour_withdraws_once_and_asks_again);
    tcase_add_test(tc, divert_and_bad_version_misbehaviours);
    tcase_add_test(tc, link_loss_misbehaviour_silences_both_ways);
    tcase_add_test(tc, wrong_sysid_misbehaviour_changes_the_sender);
    tcase_add_test(tc, garbage_misbehaviour_adds_noise_but_frames_survive);
    tcase_add_test(tc, unsigned_misbehaviour_drops_the_signature);
    tcase_add_test(tc, same_seed_same_bytes);
    tcase_add_test(tc, full_cycle_visits_the_states_in_order);
    tcase_add_test(tc, malformed_clearance_is_refused_and_changes_nothing);
    tcase_add_test(tc, exhausted_pack_lands_off_station);
    tcase_add_test(tc, misbehaviour_names_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
