/* The station's drone link against docs/drone-protocol.md: what a drone written from the
 * document alone sees. Each test names the section it checks. The link runs on a virtual
 * clock; the drones are frames built here (no shared drone model), the core is replaced
 * by the outputs the test sets. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/station.h"
#include "dronelink/dronelink.h"
#include "droneproto/dproto.h"

#define STATION 200

/* What the station sent, decoded. */
struct heard {
    uint8_t to;
    uint32_t msgid;
    struct mav_command_long cmd;
    struct mav_command_ack ack;
    struct mav_heartbeat hb;
};

struct rig {
    struct dronelink dl;
    struct station_outputs o;
    struct station_drone_msg msgs[STATION_MAX_MSGS];
    int n_msgs;
    uint64_t now_ms;
    struct mav_parser parser;
    struct heard heard[4096];
    size_t n_heard;
    uint8_t seq[256];
};

static struct rig *rig_new(void)
{
    struct rig *r = calloc(1, sizeof *r);
    char err[128];
    ck_assert_int_eq(dronelink_init(&r->dl, STATION, NULL, false, "", err, sizeof err), 0);
    mav_parser_init(&r->parser, NULL);
    r->o.state = ST_SUSPENDED;
    r->o.mode = STATION_MODE_PRODUCTION;
    r->now_ms = 1000;
    return r;
}

static void scan(struct rig *r);

/* A rig whose link has heard the core once (it denies requests before that). */
static struct rig *rig_ready(void)
{
    struct rig *r = rig_new();
    scan(r);
    return r;
}

/* One scan: the core's outputs to the link, the link's output decoded. */
static void scan(struct rig *r)
{
    struct dproto_station_status st;
    dronelink_station_status(&r->dl, &r->o, &st);
    dronelink_send(&r->dl, r->msgs, r->n_msgs, &st, r->now_ms, r->now_ms * 1000);
    r->n_msgs = 0;
    uint8_t buf[4096];
    size_t n;
    while ((n = dronelink_take_output(&r->dl, buf, sizeof buf)) > 0) {
        size_t off = 0, used;
        struct mav_frame f;
        while (mav_parser_feed_buf(&r->parser, buf + off, n - off, &used, &f) == 1) {
            off += used;
            if (r->n_heard >= sizeof r->heard / sizeof r->heard[0])
                continue;
            struct heard *h = &r->heard[r->n_heard++];
            memset(h, 0, sizeof *h);
            h->msgid = f.msgid;
            if (f.msgid == MAV_MSG_COMMAND_LONG) {
                mav_decode(&f, &h->cmd);
                h->to = h->cmd.target_system;
            } else if (f.msgid == MAV_MSG_COMMAND_ACK) {
                mav_decode(&f, &h->ack);
                h->to = h->ack.target_system;
            } else if (f.msgid == MAV_MSG_HEARTBEAT) {
                mav_decode(&f, &h->hb);
            }
        }
    }
}

static void run(struct rig *r, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += 20) {
        r->now_ms += 20;
        scan(r);
    }
}

static void drone_send(struct rig *r, uint8_t sysid, uint32_t msgid, const void *msg)
{
    struct mav_tx tx = { .sysid = sysid, .compid = 1, .seq = r->seq[sysid]++ };
    uint8_t frame[MAV_MAX_FRAME];
    int n = mav_encode(&tx, msgid, msg, frame);
    ck_assert_int_gt(n, 0);
    dronelink_receive(&r->dl, frame, (size_t)n, r->now_ms, r->now_ms * 1000);
}

static void drone_heartbeat(struct rig *r, uint8_t sysid, bool armed, uint8_t landed)
{
    struct mav_heartbeat hb = { .type = 2, .autopilot = 3, .base_mode = armed ? MAV_MODE_FLAG_SAFETY_ARMED : 0,
                                .system_status = 4, .mavlink_version = 3 };
    drone_send(r, sysid, MAV_MSG_HEARTBEAT, &hb);
    struct mav_extended_sys_state s = { .landed_state = landed };
    drone_send(r, sysid, MAV_MSG_EXTENDED_SYS_STATE, &s);
}

static void drone_request(struct rig *r, uint8_t sysid, uint8_t flags, uint8_t version)
{
    struct dproto_swap_request q = { 25, 0x5A000000u + sysid, 21.5f, 0, flags, version };
    struct mav_command_long cmd;
    dproto_build_swap_request(&q, STATION, DPROTO_STATION_COMPID, 0, &cmd);
    drone_send(r, sysid, MAV_MSG_COMMAND_LONG, &cmd);
}

static void drone_ack(struct rig *r, uint8_t sysid, uint16_t command, uint8_t result)
{
    struct mav_command_ack a = { .command = command, .result = result, .target_system = STATION,
                                 .target_component = DPROTO_STATION_COMPID };
    drone_send(r, sysid, MAV_MSG_COMMAND_ACK, &a);
}

static void drone_cancel(struct rig *r, uint8_t sysid)
{
    struct dproto_cancel c = { DPROTO_REASON_NONE };
    struct mav_command_long cmd;
    dproto_build_cancel(&c, STATION, DPROTO_STATION_COMPID, 0, &cmd);
    drone_send(r, sysid, MAV_MSG_COMMAND_LONG, &cmd);
}

static void core_msg(struct rig *r, uint8_t sysid, enum station_msg_kind kind, int32_t param)
{
    r->msgs[r->n_msgs++] = (struct station_drone_msg){ sysid, kind, param };
}

/* The i-th thing heard from index `from` on for sysid matching (msgid, command); NULL. */
static const struct heard *find_heard(const struct rig *r, size_t from, uint8_t sysid, uint32_t msgid,
                                      uint16_t command)
{
    for (size_t i = from; i < r->n_heard; i++) {
        const struct heard *h = &r->heard[i];
        if (h->msgid != msgid || h->to != sysid)
            continue;
        if (msgid == MAV_MSG_COMMAND_LONG && h->cmd.command != command)
            continue;
        if (msgid == MAV_MSG_COMMAND_ACK && h->ack.command != command)
            continue;
        return h;
    }
    return NULL;
}

static unsigned count_heard(const struct rig *r, size_t from, uint8_t sysid, uint32_t msgid, uint16_t command)
{
    unsigned n = 0;
    for (size_t i = from; i < r->n_heard; i++) {
        const struct heard *h = &r->heard[i];
        if (h->msgid == msgid && h->to == sysid &&
            (msgid == MAV_MSG_COMMAND_LONG ? h->cmd.command == command : h->ack.command == command))
            n++;
    }
    return n;
}

/* The last queued ack's position for sysid since `from`, 0 none. */
static int last_position(const struct rig *r, size_t from, uint8_t sysid)
{
    int pos = 0;
    for (size_t i = from; i < r->n_heard; i++) {
        const struct heard *h = &r->heard[i];
        if (h->msgid == MAV_MSG_COMMAND_ACK && h->to == sysid && h->ack.command == DPROTO_CMD_SWAP_REQUEST &&
            h->ack.result == MAV_RESULT_IN_PROGRESS)
            pos = h->ack.progress;
    }
    return pos;
}

static const struct mav_heartbeat *last_heartbeat(const struct rig *r)
{
    for (size_t i = r->n_heard; i-- > 0;)
        if (r->heard[i].msgid == MAV_MSG_HEARTBEAT)
            return &r->heard[i].hb;
    return NULL;
}

static bool requested(const struct rig *r, uint8_t sysid)
{
    struct station_drone_in in[STATION_MAX_DRONES];
    dronelink_fill_inputs(&r->dl, in);
    for (int i = 0; i < STATION_MAX_DRONES; i++)
        if (in[i].sysid == sysid)
            return in[i].swap_requested;
    return false;
}

/* A drone that asks and is cleared (the test plays the core). */
static void ask_and_clear(struct rig *r, uint8_t sysid)
{
    drone_heartbeat(r, sysid, true, MAV_LANDED_IN_AIR);
    drone_request(r, sysid, 0, DPROTO_VERSION);
    scan(r);
    r->o.serving_sysid = sysid;
    core_msg(r, sysid, STATION_MSG_CLEARED_TO_LAND, 120);
    scan(r);
}

/* §5: one queued ack per request, then ACCEPTED, then CLEARED_TO_LAND. */
START_TEST(accepted_precedes_the_clearance)
{
    struct rig *r = rig_ready();
    drone_heartbeat(r, 10, true, MAV_LANDED_IN_AIR);
    drone_request(r, 10, 0, DPROTO_VERSION);
    scan(r);
    core_msg(r, 10, STATION_MSG_QUEUED, 1);   /* the core's own count changes nothing */
    scan(r);
    ck_assert_uint_eq(count_heard(r, 0, 10, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST), 1);
    ck_assert_int_eq(last_position(r, 0, 10), 1);
    size_t mark = r->n_heard;
    r->o.serving_sysid = 10;
    core_msg(r, 10, STATION_MSG_CLEARED_TO_LAND, 120);
    scan(r);
    const struct heard *acc = find_heard(r, mark, 10, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST);
    const struct heard *clr = find_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CLEARED_TO_LAND);
    ck_assert_ptr_nonnull(acc);
    ck_assert_ptr_nonnull(clr);
    ck_assert_uint_eq(acc->ack.result, MAV_RESULT_ACCEPTED);
    ck_assert(acc < clr);
    ck_assert_float_eq(clr->cmd.param[2], 120);   /* the window */
    /* A repeated request now gets the same answer: accepted. */
    mark = r->n_heard;
    drone_request(r, 10, 0, DPROTO_VERSION);
    scan(r);
    acc = find_heard(r, mark, 10, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST);
    ck_assert_ptr_nonnull(acc);
    ck_assert_uint_eq(acc->ack.result, MAV_RESULT_ACCEPTED);
    free(r);
}
END_TEST

/* §8: a clearance never acked is sent six times, then cancelled with reason timeout and
 * the drone's request is closed (the core frees the pad). */
START_TEST(unacked_clearance_is_cancelled_with_timeout)
{
    struct rig *r = rig_ready();
    size_t mark = r->n_heard;
    ask_and_clear(r, 10);
    for (int s = 0; s < 20; s++) {
        drone_heartbeat(r, 10, true, MAV_LANDED_IN_AIR);  /* alive, but never acks */
        run(r, 1000);
    }
    ck_assert_uint_eq(count_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CLEARED_TO_LAND),
                      DPROTO_CLEARANCE_ATTEMPTS);
    const struct heard *c = find_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CANCEL);
    ck_assert_ptr_nonnull(c);
    ck_assert_float_eq(c->cmd.param[0], DPROTO_REASON_TIMEOUT);
    ck_assert(!requested(r, 10));
    free(r);
}
END_TEST

/* §4/§8: a cleared drone that acks but does not touch down within the window is
 * cancelled with reason timeout. */
START_TEST(landing_window_runs_out)
{
    struct rig *r = rig_ready();
    ask_and_clear(r, 10);
    drone_ack(r, 10, DPROTO_CMD_CLEARED_TO_LAND, MAV_RESULT_ACCEPTED);
    size_t mark = r->n_heard;
    for (int s = 0; s < 119; s++) {
        drone_heartbeat(r, 10, true, MAV_LANDED_IN_AIR);
        run(r, 1000);
    }
    ck_assert_ptr_null(find_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CANCEL));
    ck_assert(requested(r, 10));
    for (int s = 0; s < 3; s++) {
        drone_heartbeat(r, 10, true, MAV_LANDED_IN_AIR);
        run(r, 1000);
    }
    const struct heard *c = find_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CANCEL);
    ck_assert_ptr_nonnull(c);
    ck_assert_float_eq(c->cmd.param[0], DPROTO_REASON_TIMEOUT);
    ck_assert(!requested(r, 10));
    free(r);
}
END_TEST

/* §8: a cleared drone that falls silent for 5 s before touchdown loses its clearance. */
START_TEST(silent_cleared_drone_loses_its_clearance)
{
    struct rig *r = rig_ready();
    ask_and_clear(r, 10);
    drone_ack(r, 10, DPROTO_CMD_CLEARED_TO_LAND, MAV_RESULT_ACCEPTED);
    size_t mark = r->n_heard;
    run(r, DPROTO_LINK_LOST_MS + 100);
    const struct heard *c = find_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CANCEL);
    ck_assert_ptr_nonnull(c);
    ck_assert_float_eq(c->cmd.param[0], DPROTO_REASON_TIMEOUT);
    ck_assert(!requested(r, 10));
    free(r);
}
END_TEST

/* §8: a queued drone silent for 5 s loses its place; the one behind moves up and is told. */
START_TEST(silent_queued_drone_loses_its_place)
{
    struct rig *r = rig_ready();
    drone_heartbeat(r, 10, true, MAV_LANDED_IN_AIR);
    drone_request(r, 10, 0, DPROTO_VERSION);
    drone_heartbeat(r, 11, true, MAV_LANDED_IN_AIR);
    drone_request(r, 11, 0, DPROTO_VERSION);
    scan(r);
    ck_assert_int_eq(last_position(r, 0, 11), 2);
    size_t mark = r->n_heard;
    for (int s = 0; s < 4; s++) {
        drone_heartbeat(r, 11, true, MAV_LANDED_IN_AIR);
        run(r, 1000);
    }
    ck_assert(requested(r, 10));
    for (int s = 0; s < 2; s++) {
        drone_heartbeat(r, 11, true, MAV_LANDED_IN_AIR);
        run(r, 1000);
    }
    ck_assert(!requested(r, 10));
    const struct heard *c = find_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CANCEL);
    ck_assert_ptr_nonnull(c);
    ck_assert_float_eq(c->cmd.param[0], DPROTO_REASON_TIMEOUT);
    ck_assert_int_eq(last_position(r, mark, 11), 1);
    /* Nothing open and silent: its link-table entry is reclaimed after the cancel's retries. */
    for (int s = 0; s < 20; s++) {
        drone_heartbeat(r, 11, true, MAV_LANDED_IN_AIR);
        run(r, 1000);
    }
    ck_assert_ptr_null(dronelink_find(&r->dl, 10));
    free(r);
}
END_TEST

/* §8: requests a restarted station put back from its registry. They queue in the order
 * given, each drone is told its position unasked, a repeat keeps the place, and a drone
 * not heard within 5 s of the restart loses its place with CANCEL timeout. */
START_TEST(restored_requests_queue_in_order_and_time_out_when_silent)
{
    struct rig *r = rig_ready();
    struct dproto_swap_request q11 = { 30, 0x5A00000Bu, 21.0f, 0, 0, DPROTO_VERSION };
    struct dproto_swap_request q12 = { 20, 0x5A00000Cu, 20.5f, 0, 0, DPROTO_VERSION };
    ck_assert_int_eq(dronelink_restore_request(&r->dl, 11, 1, &q11, r->now_ms), 0);
    ck_assert_int_eq(dronelink_restore_request(&r->dl, 12, 1, &q12, r->now_ms), 0);
    size_t mark = r->n_heard;
    scan(r);
    ck_assert_int_eq(last_position(r, mark, 11), 1);
    ck_assert_int_eq(last_position(r, mark, 12), 2);
    ck_assert(requested(r, 11) && requested(r, 12));
    ck_assert_uint_eq(dronelink_find(&r->dl, 11)->battery_tag, 0x5A00000Bu);
    /* 11 repeats its request (it lost the station for a while): its place stands */
    drone_heartbeat(r, 11, true, MAV_LANDED_IN_AIR);
    drone_request(r, 11, 0, DPROTO_VERSION);
    scan(r);
    ck_assert_uint_eq(dronelink_queue_position(&r->dl, 11), 1);
    /* 11 is heard, 12 never: 12 loses its place after 5 s, 11 stays */
    mark = r->n_heard;
    for (int s = 0; s < 6; s++) {
        drone_heartbeat(r, 11, true, MAV_LANDED_IN_AIR);
        run(r, 1000);
    }
    ck_assert(requested(r, 11));
    ck_assert(!requested(r, 12));
    const struct heard *c = find_heard(r, mark, 12, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CANCEL);
    ck_assert_ptr_nonnull(c);
    ck_assert_float_eq(c->cmd.param[0], DPROTO_REASON_TIMEOUT);
    /* a restarted station starts stopped: the restored request stays queued (told its
     * place) but reaches the core only once the station accepts requests... */
    struct rig *r3 = rig_new();
    r3->o.state = ST_STOPPED;
    scan(r3);
    ck_assert_int_eq(dronelink_restore_request(&r3->dl, 11, 1, &q11, r3->now_ms), 0);
    ck_assert_int_eq(dronelink_restore_request(&r3->dl, 12, 1, &q12, r3->now_ms), 0);
    for (int s = 0; s < 3; s++) {
        drone_heartbeat(r3, 11, true, MAV_LANDED_IN_AIR);
        drone_heartbeat(r3, 12, true, MAV_LANDED_IN_AIR);
        run(r3, 1000);
    }
    ck_assert(!requested(r3, 11) && !requested(r3, 12));
    ck_assert_int_eq(last_position(r3, 0, 12), 2);
    for (size_t i = 0; i < r3->n_heard; i++)
        ck_assert(!(r3->heard[i].msgid == MAV_MSG_COMMAND_ACK && r3->heard[i].to == 11 &&
                    r3->heard[i].ack.result == MAV_RESULT_DENIED));
    r3->o.state = ST_EXECUTE;
    scan(r3);
    scan(r3);
    ck_assert(requested(r3, 11) && requested(r3, 12));
    ck_assert_uint_eq(dronelink_queue_position(&r3->dl, 11), 1);
    free(r3);
    /* ... and is denied not_ready if the station does not accept within the wait */
    struct rig *r4 = rig_new();
    r4->o.state = ST_STOPPED;
    scan(r4);
    ck_assert_int_eq(dronelink_restore_request(&r4->dl, 11, 1, &q11, r4->now_ms), 0);
    size_t mark4 = r4->n_heard;
    for (unsigned s = 0; s <= DRONELINK_RESTORE_WAIT_MS / 1000; s++) {
        drone_heartbeat(r4, 11, true, MAV_LANDED_IN_AIR);
        run(r4, 1000);
    }
    ck_assert(!requested(r4, 11));
    ck_assert_int_eq(dronelink_find(&r4->dl, 11)->phase, DRONELINK_IDLE);
    const struct heard *den = find_heard(r4, mark4, 11, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST);
    while (den && den->ack.result != MAV_RESULT_DENIED)
        den = find_heard(r4, (size_t)(den - r4->heard) + 1, 11, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST);
    ck_assert_ptr_nonnull(den);
    ck_assert_int_eq(den->ack.result_param2, DPROTO_REASON_NOT_READY);
    free(r4);
    /* a drone outside the allow-list is not put back */
    struct rig *r2 = rig_new();
    char err[128];
    ck_assert_int_eq(dronelink_init(&r2->dl, STATION, NULL, false, "11", err, sizeof err), 0);
    ck_assert_int_eq(dronelink_restore_request(&r2->dl, 12, 1, &q12, r2->now_ms), -1);
    ck_assert_ptr_null(dronelink_find(&r2->dl, 12));
    free(r2);
    free(r);
}
END_TEST

/* §8: a drone standing on the ground stays known while it is dark (its pack out during a
 * cold swap); one in the air with nothing open is forgotten after 5 s of silence. */
START_TEST(silent_drone_on_the_ground_stays_known)
{
    struct rig *r = rig_ready();
    drone_heartbeat(r, 10, false, MAV_LANDED_ON_GROUND);
    drone_heartbeat(r, 11, true, MAV_LANDED_IN_AIR);
    run(r, 30000);
    ck_assert_ptr_nonnull(dronelink_find(&r->dl, 10));
    ck_assert_ptr_null(dronelink_find(&r->dl, 11));
    free(r);
}
END_TEST

/* The core always sees the head of the queue, however many drones stand on the ground. */
START_TEST(queue_head_reaches_the_core_past_drones_on_the_ground)
{
    struct rig *r = rig_ready();
    for (uint8_t s = 20; s < 32; s++)
        drone_heartbeat(r, s, false, MAV_LANDED_ON_GROUND);
    drone_heartbeat(r, 10, true, MAV_LANDED_IN_AIR);
    drone_request(r, 10, 0, DPROTO_VERSION);
    scan(r);
    ck_assert(requested(r, 10));
    free(r);
}
END_TEST

/* §4: CLEARED_TAKEOFF carries the outcome and the new pack's tag in two halves;
 * SWAP_PROGRESS carries the step count and the time on the pad. */
START_TEST(takeoff_and_progress_parameters)
{
    struct rig *r = rig_ready();
    ask_and_clear(r, 10);
    drone_ack(r, 10, DPROTO_CMD_CLEARED_TO_LAND, MAV_RESULT_ACCEPTED);
    r->o.pad_occupied = true;
    scan(r);
    run(r, 4000);
    size_t mark = r->n_heard;
    core_msg(r, 10, STATION_MSG_PROGRESS, 3 | 12 << 8);
    scan(r);
    const struct heard *p = find_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_SWAP_PROGRESS);
    ck_assert_ptr_nonnull(p);
    struct dproto_progress pr;
    ck_assert_int_eq(dproto_parse_progress(&p->cmd, &pr), 0);
    ck_assert_uint_eq(pr.step, 3);
    ck_assert_uint_eq(pr.n_steps, 12);
    ck_assert_float_ge(pr.on_pad_s, 3.9f);
    ck_assert_float_le(pr.on_pad_s, 4.2f);
    core_msg(r, 10, STATION_MSG_CLEARED_TAKEOFF, (int32_t)0xBEEF1234u);
    r->o.serving_sysid = 0;
    scan(r);
    p = find_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CLEARED_TAKEOFF);
    ck_assert_ptr_nonnull(p);
    ck_assert_float_eq(p->cmd.param[0], DPROTO_SWAPPED);
    ck_assert_float_eq(p->cmd.param[1], 0x1234);
    ck_assert_float_eq(p->cmd.param[2], 0xBEEF);
    free(r);
}
END_TEST

/* §9: critical requests first, then by arrival; every drone holds one position and hears
 * each change once. */
START_TEST(critical_moves_ahead_with_one_position_each)
{
    struct rig *r = rig_ready();
    for (uint8_t s = 10; s <= 12; s++) {
        drone_heartbeat(r, s, true, MAV_LANDED_IN_AIR);
        drone_request(r, s, s == 12 ? DPROTO_REQ_CRITICAL : 0, DPROTO_VERSION);
        scan(r);
    }
    ck_assert_int_eq(last_position(r, 0, 12), 1);
    ck_assert_int_eq(last_position(r, 0, 10), 2);
    ck_assert_int_eq(last_position(r, 0, 11), 3);
    /* 10: 1 then 2; 11: 2 then 3; 12: 1. */
    ck_assert_uint_eq(count_heard(r, 0, 10, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST), 2);
    ck_assert_uint_eq(count_heard(r, 0, 11, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST), 2);
    ck_assert_uint_eq(count_heard(r, 0, 12, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST), 1);
    /* A repeat keeps the place. */
    drone_request(r, 10, 0, DPROTO_VERSION);
    scan(r);
    ck_assert_int_eq(last_position(r, 0, 10), 2);
    /* The core sees the queue in that order. */
    struct station_drone_in in[STATION_MAX_DRONES];
    dronelink_fill_inputs(&r->dl, in);
    ck_assert_uint_eq(in[0].sysid, 12);
    ck_assert_uint_eq(in[1].sysid, 10);
    ck_assert_uint_eq(in[2].sysid, 11);
    free(r);
}
END_TEST

/* §3: the drone cleared or on the pad is not counted in positions, nor in the heartbeat's
 * queue byte; "pad occupied" only with weight on the pad. */
START_TEST(served_drone_not_counted)
{
    struct rig *r = rig_ready();
    ask_and_clear(r, 10);
    drone_ack(r, 10, DPROTO_CMD_CLEARED_TO_LAND, MAV_RESULT_ACCEPTED);
    run(r, 1100);
    ck_assert_uint_eq(last_heartbeat(r)->custom_mode >> 16 & DPROTO_FLAG_PAD_OCCUPIED, 0);
    drone_heartbeat(r, 11, true, MAV_LANDED_IN_AIR);
    drone_request(r, 11, 0, DPROTO_VERSION);
    r->o.pad_occupied = true;
    run(r, 1100);
    ck_assert_int_eq(last_position(r, 0, 11), 1);
    const struct mav_heartbeat *hb = last_heartbeat(r);
    ck_assert_uint_eq(hb->custom_mode >> 24, 1);
    ck_assert_uint_ne(hb->custom_mode >> 16 & DPROTO_FLAG_PAD_OCCUPIED, 0);
    ck_assert_uint_eq(dronelink_find(&r->dl, 10)->phase, DRONELINK_ON_PAD);
    free(r);
}
END_TEST

/* §3: weather hold sets its flag and clears "accepting"; an alarm makes the status
 * CRITICAL even in Execute. §6: new requests are denied with the reason. */
START_TEST(heartbeat_flags_and_denials_when_not_accepting)
{
    static const struct {
        int state, mode;
        uint64_t alarms;
        int reason;        /* 0: accepted */
        uint8_t flags;
        uint8_t status;
    } cases[] = {
        { ST_SUSPENDED, STATION_MODE_PRODUCTION, 0, 0, DPROTO_FLAG_ACCEPTING, MAV_STATE_STANDBY },
        { ST_EXECUTE, STATION_MODE_PRODUCTION, 1ull << DIAG_NO_BATTERY, 0, DPROTO_FLAG_ACCEPTING | DPROTO_FLAG_ALARM, 5 },
        { ST_EXECUTE, STATION_MODE_PRODUCTION, 1ull << DIAG_WEATHER, DPROTO_REASON_WEATHER,
          DPROTO_FLAG_WEATHER_HOLD | DPROTO_FLAG_ALARM, 5 },
        { ST_HELD, STATION_MODE_PRODUCTION, 1ull << DIAG_GUARD, DPROTO_REASON_NOT_READY, DPROTO_FLAG_ALARM, 5 },
        { ST_HOLDING, STATION_MODE_PRODUCTION, 0, DPROTO_REASON_NOT_READY, 0, MAV_STATE_STANDBY },
        { ST_STOPPED, STATION_MODE_PRODUCTION, 0, DPROTO_REASON_NOT_READY, 0, MAV_STATE_STANDBY },
        { ST_SUSPENDED, STATION_MODE_MAINTENANCE, 0, DPROTO_REASON_MAINTENANCE, 0, MAV_STATE_STANDBY },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rig *r = rig_new();
        r->o.state = cases[i].state;
        r->o.mode = cases[i].mode;
        r->o.alarms_active = cases[i].alarms;
        run(r, 1100);
        const struct mav_heartbeat *hb = last_heartbeat(r);
        ck_assert_msg((hb->custom_mode >> 16 & 0xFF) == cases[i].flags, "case %zu: flags 0x%02x, want 0x%02x", i,
                      (unsigned)(hb->custom_mode >> 16 & 0xFF), cases[i].flags);
        ck_assert_msg(hb->system_status == cases[i].status, "case %zu: system_status %u", i, hb->system_status);
        size_t mark = r->n_heard;
        drone_heartbeat(r, 10, true, MAV_LANDED_IN_AIR);
        drone_request(r, 10, 0, DPROTO_VERSION);
        scan(r);
        const struct heard *a = find_heard(r, mark, 10, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST);
        ck_assert_ptr_nonnull(a);
        if (cases[i].reason) {
            ck_assert_msg(a->ack.result == MAV_RESULT_DENIED && a->ack.result_param2 == cases[i].reason,
                          "case %zu: result %u reason %d", i, a->ack.result, a->ack.result_param2);
            ck_assert(!requested(r, 10));
        } else {
            ck_assert_uint_eq(a->ack.result, MAV_RESULT_IN_PROGRESS);
        }
        free(r);
    }
}
END_TEST

/* §4: a protocol version other than 1 is a bad request (final). */
START_TEST(wrong_version_is_a_bad_request)
{
    struct rig *r = rig_ready();
    run(r, 100);
    drone_heartbeat(r, 10, true, MAV_LANDED_IN_AIR);
    drone_request(r, 10, 0, 2);
    scan(r);
    const struct heard *a = find_heard(r, 0, 10, MAV_MSG_COMMAND_ACK, DPROTO_CMD_SWAP_REQUEST);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->ack.result, MAV_RESULT_DENIED);
    ck_assert_int_eq(a->ack.result_param2, DPROTO_REASON_BAD_REQUEST);
    ck_assert(!requested(r, 10));
    free(r);
}
END_TEST

/* §4 CANCEL: from a queued or cleared drone it is accepted and the drone leaves the
 * queue; from the drone on the pad it is denied not_ready and the swap goes on. */
START_TEST(cancel_from_a_drone_by_phase)
{
    struct rig *r = rig_ready();
    drone_heartbeat(r, 11, true, MAV_LANDED_IN_AIR);
    drone_request(r, 11, 0, DPROTO_VERSION);
    scan(r);
    size_t mark = r->n_heard;
    drone_cancel(r, 11);
    scan(r);
    const struct heard *a = find_heard(r, mark, 11, MAV_MSG_COMMAND_ACK, DPROTO_CMD_CANCEL);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->ack.result, MAV_RESULT_ACCEPTED);
    ck_assert(!requested(r, 11));

    ask_and_clear(r, 10);
    mark = r->n_heard;
    drone_cancel(r, 10);
    scan(r);
    a = find_heard(r, mark, 10, MAV_MSG_COMMAND_ACK, DPROTO_CMD_CANCEL);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->ack.result, MAV_RESULT_ACCEPTED);
    ck_assert(!requested(r, 10));
    run(r, 3000);
    ck_assert_uint_eq(count_heard(r, mark, 10, MAV_MSG_COMMAND_LONG, DPROTO_CMD_CLEARED_TO_LAND), 0);

    r->o.serving_sysid = 0;
    scan(r);
    ask_and_clear(r, 12);
    drone_ack(r, 12, DPROTO_CMD_CLEARED_TO_LAND, MAV_RESULT_ACCEPTED);
    r->o.pad_occupied = true;
    scan(r);
    mark = r->n_heard;
    drone_cancel(r, 12);
    scan(r);
    a = find_heard(r, mark, 12, MAV_MSG_COMMAND_ACK, DPROTO_CMD_CANCEL);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->ack.result, MAV_RESULT_DENIED);
    ck_assert_int_eq(a->ack.result_param2, DPROTO_REASON_NOT_READY);
    ck_assert(requested(r, 12));
    free(r);
}
END_TEST

/* §9: thirty drones on one link each get one place in arrival order; none is refused. */
START_TEST(thirty_drones_queue_in_arrival_order)
{
    struct rig *r = rig_ready();
    for (uint8_t s = 10; s < 40; s++) {
        drone_heartbeat(r, s, true, MAV_LANDED_IN_AIR);
        drone_request(r, s, 0, DPROTO_VERSION);
        scan(r);
    }
    for (uint8_t s = 10; s < 40; s++) {
        ck_assert_int_eq(last_position(r, 0, s), s - 9);
        ck_assert_uint_eq(dronelink_queue_position(&r->dl, s), (unsigned)(s - 9));
    }
    run(r, 1100);
    ck_assert_uint_eq(last_heartbeat(r)->custom_mode >> 24, 30);
    uint8_t q[64];
    ck_assert_uint_eq(dronelink_queue(&r->dl, q, 64), 30);
    for (int i = 0; i < 30; i++)
        ck_assert_uint_eq(q[i], 10 + i);
    free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("dronelink");
    TCase *t = tcase_create("protocol");
    tcase_add_test(t, accepted_precedes_the_clearance);
    tcase_add_test(t, unacked_clearance_is_cancelled_with_timeout);
    tcase_add_test(t, landing_window_runs_out);
    tcase_add_test(t, silent_cleared_drone_loses_its_clearance);
    tcase_add_test(t, silent_queued_drone_loses_its_place);
    tcase_add_test(t, silent_drone_on_the_ground_stays_known);
    tcase_add_test(t, queue_head_reaches_the_core_past_drones_on_the_ground);
    tcase_add_test(t, takeoff_and_progress_parameters);
    tcase_add_test(t, critical_moves_ahead_with_one_position_each);
    tcase_add_test(t, served_drone_not_counted);
    tcase_add_test(t, heartbeat_flags_and_denials_when_not_accepting);
    tcase_add_test(t, wrong_version_is_a_bad_request);
    tcase_add_test(t, cancel_from_a_drone_by_phase);
    tcase_add_test(t, thirty_drones_queue_in_arrival_order);
    tcase_add_test(t, restored_requests_queue_in_order_and_time_out_when_silent);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
