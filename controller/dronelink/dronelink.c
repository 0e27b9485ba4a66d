/* The station's side of the drone link; see dronelink.h. */
#include "dronelink/dronelink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/station.h"
#include "mavlink/mav_util.h"

int dronelink_init(struct dronelink *dl, uint8_t station_sysid, const uint8_t *key,
                   bool require_signing, const char *allow, char *err, size_t errsize)
{
    memset(dl, 0, sizeof *dl);
    dl->sysid = station_sysid;
    dl->compid = DPROTO_STATION_COMPID;
    dl->tx.sysid = station_sysid;
    dl->tx.compid = DPROTO_STATION_COMPID;
    if (key) {
        mav_signing_init(&dl->signing, key, 0, require_signing);
        dl->signed_link = true;
        dl->tx.signing = &dl->signing;
        mav_parser_init(&dl->parser, &dl->signing);
    } else {
        mav_parser_init(&dl->parser, NULL);
    }
    const char *p = allow ? allow : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 255 || (*end && *end != ',' && *end != ' ')) {
            snprintf(err, errsize, "drone allow-list \"%s\": \"%.20s\" is not a system id 1..255", allow, p);
            return -1;
        }
        if (dl->n_allow == DRONELINK_MAX_ALLOW) {
            snprintf(err, errsize, "drone allow-list: more than %d ids", DRONELINK_MAX_ALLOW);
            return -1;
        }
        dl->allow[dl->n_allow++] = (uint8_t)v;
        p = end;
    }
    return 0;
}

static const char *const phase_names[DRONELINK_PHASE_COUNT] = {
    [DRONELINK_IDLE] = "idle", [DRONELINK_QUEUED] = "queued",
    [DRONELINK_CLEARED] = "cleared", [DRONELINK_ON_PAD] = "on_pad",
};

const char *dronelink_phase_name(int phase)
{
    return phase >= 0 && phase < DRONELINK_PHASE_COUNT ? phase_names[phase] : "unknown";
}

static bool allowed(const struct dronelink *dl, uint8_t sysid)
{
    if (dl->n_allow == 0)
        return true;
    for (size_t i = 0; i < dl->n_allow; i++)
        if (dl->allow[i] == sysid)
            return true;
    return false;
}

const struct dronelink_drone *dronelink_find(const struct dronelink *dl, uint8_t sysid)
{
    for (int i = 0; sysid && i < DRONELINK_MAX_DRONES; i++)
        if (dl->drones[i].sysid == sysid)
            return &dl->drones[i];
    return NULL;
}

static struct dronelink_drone *find(struct dronelink *dl, uint8_t sysid)
{
    return (struct dronelink_drone *)dronelink_find(dl, sysid);
}

/* An entry that may be reused: nothing open, nothing to retransmit, not served. */
static bool reclaimable(const struct dronelink *dl, const struct dronelink_drone *c)
{
    return c->phase == DRONELINK_IDLE && !c->pending.active && c->sysid != dl->serving_sysid;
}

/* Finds or adds a drone; a full table reuses the longest-silent entry with nothing open,
 * else gives up (counted). */
static struct dronelink_drone *track(struct dronelink *dl, uint8_t sysid, uint8_t compid)
{
    struct dronelink_drone *d = find(dl, sysid);
    if (d)
        return d;
    struct dronelink_drone *victim = NULL;
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++) {
        struct dronelink_drone *c = &dl->drones[i];
        if (c->sysid == 0) {
            victim = c;
            break;
        }
        if (!reclaimable(dl, c))
            continue;
        if (!victim || c->last_heard_ms < victim->last_heard_ms)
            victim = c;
    }
    if (!victim) {
        dl->count.table_full++;
        return NULL;
    }
    memset(victim, 0, sizeof *victim);
    victim->sysid = sysid;
    victim->compid = compid;
    return victim;
}

static void emit(struct dronelink *dl, uint32_t msgid, const void *msg)
{
    uint8_t frame[MAV_MAX_FRAME];
    int n = mav_encode(&dl->tx, msgid, msg, frame);
    if (n <= 0)
        return;
    if (dl->out_len + (size_t)n > sizeof dl->out) {
        dl->count.out_overflow++;
        return;
    }
    memcpy(dl->out + dl->out_len, frame, (size_t)n);
    dl->out_len += (size_t)n;
}

static void reply(struct dronelink *dl, const struct dronelink_drone *d, uint16_t command,
                  enum dproto_reply_kind kind, uint8_t position, int32_t reason)
{
    struct dproto_reply r = { .command = command, .kind = kind, .queue_position = position,
                              .reason = reason };
    struct mav_command_ack ack;
    dproto_build_ack(&r, d->sysid, d->compid, &ack);
    emit(dl, MAV_MSG_COMMAND_ACK, &ack);
}

/* Landing-queue order: critical requests first, then by arrival (one place per request). */
static bool ahead_of(const struct dronelink_drone *a, const struct dronelink_drone *b)
{
    bool ac = a->request.flags & DPROTO_REQ_CRITICAL, bc = b->request.flags & DPROTO_REQ_CRITICAL;
    if (ac != bc)
        return ac;
    return a->request_seq < b->request_seq;
}

unsigned dronelink_queue_position(const struct dronelink *dl, uint8_t sysid)
{
    const struct dronelink_drone *me = dronelink_find(dl, sysid);
    if (!me || me->phase != DRONELINK_QUEUED)
        return 0;
    unsigned pos = 1;
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++) {
        const struct dronelink_drone *o = &dl->drones[i];
        if (o != me && o->sysid && o->phase == DRONELINK_QUEUED && ahead_of(o, me))
            pos++;
    }
    return pos;
}

unsigned dronelink_queue_length(const struct dronelink *dl)
{
    unsigned n = 0;
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++)
        if (dl->drones[i].sysid && dl->drones[i].phase == DRONELINK_QUEUED)
            n++;
    return n;
}

unsigned dronelink_queue(const struct dronelink *dl, uint8_t *sysids, unsigned max)
{
    unsigned n = 0;
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++) {
        const struct dronelink_drone *d = &dl->drones[i];
        if (!d->sysid || d->phase != DRONELINK_QUEUED)
            continue;
        unsigned pos = dronelink_queue_position(dl, d->sysid);
        if (pos >= 1 && pos <= max)
            sysids[pos - 1] = d->sysid;
        n++;
    }
    return n;
}

static uint8_t pos8(unsigned pos)
{
    return (uint8_t)(pos > 255 ? 255 : pos);
}

bool dronelink_accepting(const struct dproto_station_status *st, int *deny_reason)
{
    int why = DPROTO_REASON_NONE;
    if (st->unit_mode != DPROTO_MODE_PRODUCTION) {
        why = DPROTO_REASON_MAINTENANCE;
    } else if (st->flags & DPROTO_FLAG_WEATHER_HOLD) {
        why = DPROTO_REASON_WEATHER;
    } else {
        switch (st->packml_state) {
        case DPROTO_PACKML_STARTING: case DPROTO_PACKML_EXECUTE: case DPROTO_PACKML_SUSPENDING:
        case DPROTO_PACKML_SUSPENDED: case DPROTO_PACKML_UNSUSPENDING:
            break;
        default:
            why = DPROTO_REASON_NOT_READY;
            break;
        }
    }
    if (deny_reason)
        *deny_reason = why;
    return why == DPROTO_REASON_NONE;
}

static void deny(struct dronelink *dl, uint8_t sysid, uint8_t compid, uint16_t command, int reason)
{
    struct dronelink_drone tmp = { .sysid = sysid, .compid = compid };
    reply(dl, &tmp, command, DPROTO_REPLY_DENIED, 0, reason);
}

static void on_swap_request(struct dronelink *dl, uint8_t sysid, uint8_t compid,
                            const struct mav_command_long *cmd, uint64_t now_ms)
{
    dl->count.requests++;
    if (!allowed(dl, sysid)) {
        dl->count.denied_not_allowed++;
        deny(dl, sysid, compid, cmd->command, DPROTO_REASON_NOT_ALLOWED);
        return;
    }
    struct dproto_swap_request req;
    if (dproto_parse_swap_request(cmd, &req) != 0) {
        dl->count.bad_requests++;
        deny(dl, sysid, compid, cmd->command, DPROTO_REASON_BAD_REQUEST);
        return;
    }
    struct dronelink_drone *d = find(dl, sysid);
    if (!d || d->phase == DRONELINK_IDLE) {
        int why;
        if (!dronelink_accepting(&dl->status, &why)) {
            dl->count.denied_other++;
            deny(dl, sysid, compid, cmd->command, why);
            return;
        }
        d = track(dl, sysid, compid);
        if (!d) {
            dl->count.denied_other++;
            deny(dl, sysid, compid, cmd->command, DPROTO_REASON_QUEUE_FULL);
            return;
        }
    }
    d->last_heard_ms = now_ms;
    if (req.pack_tag)
        d->battery_tag = req.pack_tag;
    switch (d->phase) {
    case DRONELINK_IDLE:
        d->phase = DRONELINK_QUEUED;
        d->request_seq = ++dl->request_seq;
        d->request_ms = now_ms;
        d->request = req;
        if (d->pending.active && d->pending.cmd.command == DPROTO_CMD_CANCEL)
            d->pending.active = false;  /* it asks again: the old withdrawal is moot */
        break;
    case DRONELINK_QUEUED:
        /* A repeat keeps the place; a request turned critical moves ahead. */
        d->request = req;
        break;
    case DRONELINK_CLEARED:
    case DRONELINK_ON_PAD:
    default:
        /* A repeat of a request already acted on: the same answer again. */
        reply(dl, d, cmd->command, DPROTO_REPLY_ACCEPTED, 0, 0);
        return;
    }
    d->pos_sent = pos8(dronelink_queue_position(dl, sysid));
    reply(dl, d, cmd->command, DPROTO_REPLY_QUEUED, d->pos_sent, 0);
}

/* A drone withdraws: while queued or cleared it leaves the queue (the core frees the pad
 * for the next drone); once on the pad it cannot, as the station unclamps only with a
 * verified pack (DESIGN §5 rule 3): denied not_ready, the swap runs to CLEARED_TAKEOFF. */
static void on_drone_cancel(struct dronelink *dl, struct dronelink_drone *d, const struct mav_command_long *cmd)
{
    struct dproto_cancel c;
    if (dproto_parse_cancel(cmd, &c) != 0) {
        reply(dl, d, cmd->command, DPROTO_REPLY_DENIED, 0, DPROTO_REASON_BAD_REQUEST);
        return;
    }
    if (d->phase == DRONELINK_ON_PAD) {
        reply(dl, d, cmd->command, DPROTO_REPLY_DENIED, 0, DPROTO_REASON_NOT_READY);
        return;
    }
    if (d->phase != DRONELINK_IDLE)
        dl->count.cancels++;
    d->phase = DRONELINK_IDLE;
    d->pos_sent = 0;
    if (d->pending.active && d->pending.cmd.command == DPROTO_CMD_CLEARED_TO_LAND)
        d->pending.active = false;
    reply(dl, d, cmd->command, DPROTO_REPLY_ACCEPTED, 0, 0);
}

static void on_command(struct dronelink *dl, const struct mav_frame *f, uint64_t now_ms)
{
    struct mav_command_long cmd;
    if (mav_decode(f, &cmd) != 0 || !dproto_is_for(&cmd, dl->sysid, dl->compid))
        return;
    if (cmd.command == DPROTO_CMD_SWAP_REQUEST) {
        on_swap_request(dl, f->sysid, f->compid, &cmd, now_ms);
        return;
    }
    if (!allowed(dl, f->sysid))
        return;
    struct dronelink_drone *d = cmd.command == DPROTO_CMD_CANCEL ? track(dl, f->sysid, f->compid)
                                                                 : find(dl, f->sysid);
    if (d)
        d->last_heard_ms = now_ms;
    if (cmd.command == DPROTO_CMD_CANCEL && d) {
        on_drone_cancel(dl, d, &cmd);
        return;
    }
    struct dronelink_drone tmp = { .sysid = f->sysid, .compid = f->compid };
    reply(dl, d ? d : &tmp, cmd.command, DPROTO_REPLY_FAILED, 0, 0);
}

static void on_ack(struct dronelink *dl, struct dronelink_drone *d, const struct mav_command_ack *ack)
{
    if (!d->pending.active || ack->command != d->pending.cmd.command ||
        !(ack->target_system == 0 || ack->target_system == dl->sysid))
        return;
    d->pending.active = false;
    /* A drone that refuses its clearance will not come: the pad is free again. */
    if (ack->command == DPROTO_CMD_CLEARED_TO_LAND && ack->result != MAV_RESULT_ACCEPTED &&
        ack->result != MAV_RESULT_IN_PROGRESS && d->phase == DRONELINK_CLEARED) {
        d->phase = DRONELINK_IDLE;
        dl->count.cancels++;
    }
}

static void on_frame(struct dronelink *dl, const struct mav_frame *f, uint64_t now_ms)
{
    dl->count.frames++;
    if (f->msgid == MAV_MSG_COMMAND_LONG) {
        on_command(dl, f, now_ms);
        return;
    }
    if (f->msgid == MAV_MSG_HEARTBEAT) {
        struct mav_heartbeat hb;
        mav_decode(f, &hb);
        if (hb.type == MAV_TYPE_CHARGING_STATION || !allowed(dl, f->sysid))
            return;
        struct dronelink_drone *d = track(dl, f->sysid, f->compid);
        if (!d)
            return;
        d->last_heard_ms = d->last_heartbeat_ms = now_ms;
        d->armed = dproto_heartbeat_armed(&hb);
        d->frames++;
        return;
    }
    if (!allowed(dl, f->sysid))
        return;
    struct dronelink_drone *d = find(dl, f->sysid);
    if (!d)
        return;  /* a drone becomes known by its heartbeat or its request */
    d->last_heard_ms = now_ms;
    d->frames++;
    switch (f->msgid) {
    case MAV_MSG_EXTENDED_SYS_STATE: {
        struct mav_extended_sys_state s;
        mav_decode(f, &s);
        d->landed_state = s.landed_state;
        break;
    }
    case MAV_MSG_BATTERY_STATUS: {
        struct mav_battery_status b;
        mav_decode(f, &b);
        uint32_t mv = 0;
        for (int i = 0; i < 10; i++)
            if (b.voltages[i] != UINT16_MAX)
                mv += b.voltages[i];
        for (int i = 0; i < 4; i++)
            if (b.voltages_ext[i] != 0 && b.voltages_ext[i] != UINT16_MAX)
                mv += b.voltages_ext[i];
        d->battery_mV = mv;
        d->battery_report_ms = now_ms;
        d->battery_status = b;
        d->battery_status_seq++;
        break;
    }
    case MAV_MSG_SMART_BATTERY_INFO: {
        struct mav_smart_battery_info s;
        mav_decode(f, &s);
        uint32_t tag;
        if (dproto_parse_pack_serial(s.serial_number, &tag) == 0)
            d->battery_tag = tag;
        break;
    }
    case MAV_MSG_COMMAND_ACK: {
        struct mav_command_ack ack;
        mav_decode(f, &ack);
        on_ack(dl, d, &ack);
        break;
    }
    default:
        break;
    }
}

void dronelink_receive(struct dronelink *dl, const uint8_t *buf, size_t len, uint64_t now_ms,
                       uint64_t unix_us)
{
    if (dl->signed_link)
        mav_signing_set_time_unix_us(&dl->signing, unix_us);
    struct mav_frame f;
    size_t off = 0, used;
    while (mav_parser_feed_buf(&dl->parser, buf + off, len - off, &used, &f) == 1) {
        off += used;
        on_frame(dl, &f, now_ms);
    }
}

/* Rank in the core's view: the served drone, the head of the queue, drones standing on
 * the ground (the core watches them for arming), the rest of the queue, the others. */
static int input_rank(const struct dronelink *dl, const struct dronelink_drone *d)
{
    if (d->sysid == dl->serving_sysid || d->phase == DRONELINK_CLEARED || d->phase == DRONELINK_ON_PAD)
        return 0;
    if (d->phase == DRONELINK_QUEUED && dronelink_queue_position(dl, d->sysid) <= STATION_MAX_DRONES / 2)
        return 1;
    if (d->landed_state == MAV_LANDED_ON_GROUND)
        return 2;
    if (d->phase == DRONELINK_QUEUED)
        return 3;
    return 4;
}

static bool input_before(const struct dronelink_drone *a, int ra, const struct dronelink_drone *b, int rb)
{
    if (ra != rb)
        return ra < rb;
    if (a->phase == DRONELINK_QUEUED && b->phase == DRONELINK_QUEUED)
        return ahead_of(a, b);
    if (a->last_heard_ms != b->last_heard_ms)
        return a->last_heard_ms > b->last_heard_ms;
    return a->sysid < b->sysid;
}

void dronelink_fill_inputs(const struct dronelink *dl, struct station_drone_in out[STATION_MAX_DRONES])
{
    const struct dronelink_drone *pick[STATION_MAX_DRONES];
    int rank[STATION_MAX_DRONES];
    int n = 0;
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++) {
        const struct dronelink_drone *d = &dl->drones[i];
        if (!d->sysid)
            continue;
        /* Insertion into the first STATION_MAX_DRONES by rank. */
        int r = input_rank(dl, d);
        int at = n;
        while (at > 0 && input_before(d, r, pick[at - 1], rank[at - 1]))
            at--;
        if (at >= STATION_MAX_DRONES)
            continue;
        int last = n < STATION_MAX_DRONES ? n : STATION_MAX_DRONES - 1;
        for (int k = last; k > at; k--) {
            pick[k] = pick[k - 1];
            rank[k] = rank[k - 1];
        }
        pick[at] = d;
        rank[at] = r;
        if (n < STATION_MAX_DRONES)
            n++;
    }
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        if (i >= n) {
            out[i] = (struct station_drone_in){ 0 };
            continue;
        }
        const struct dronelink_drone *d = pick[i];
        out[i] = (struct station_drone_in){
            .sysid = d->sysid,
            .present = d->last_heard_ms != 0,
            .last_heartbeat_ms = d->last_heartbeat_ms,
            .armed = d->armed,
            .landed_state = d->landed_state,
            .swap_requested = d->phase != DRONELINK_IDLE && !d->restored,
            .battery_report_ms = d->battery_report_ms,
            .battery_tag = d->battery_tag,
            .battery_mV = d->battery_mV,
        };
    }
}

static void start_command(struct dronelink *dl, struct dronelink_drone *d,
                          const struct mav_command_long *cmd, bool retried, uint64_t now_ms)
{
    emit(dl, MAV_MSG_COMMAND_LONG, cmd);
    if (!retried)
        return;
    d->pending.active = true;
    d->pending.cmd = *cmd;
    d->pending.attempts = 1;
    d->pending.next_ms = now_ms + dproto_retry_delay_ms(1);
}

/* The station withdraws a drone's clearance or place with CANCEL (retried like a
 * clearance); the drone leaves the queue. */
static void station_cancel(struct dronelink *dl, struct dronelink_drone *d, uint8_t reason, uint64_t now_ms)
{
    struct mav_command_long cmd;
    struct dproto_cancel c = { .reason = reason };
    dproto_build_cancel(&c, d->sysid, d->compid, 0, &cmd);
    start_command(dl, d, &cmd, true, now_ms);
    d->phase = DRONELINK_IDLE;
    d->pos_sent = 0;
    if (reason == DPROTO_REASON_TIMEOUT)
        dl->count.timeouts++;
}

static uint8_t deny_reason(int32_t station_deny)
{
    switch (station_deny) {
    case STATION_DENY_NOT_RUNNING: return DPROTO_REASON_NOT_READY;
    case STATION_DENY_NO_BATTERY: return DPROTO_REASON_NO_BATTERY;
    case STATION_DENY_WEATHER: return DPROTO_REASON_WEATHER;
    case STATION_DENY_QUEUE_FULL: return DPROTO_REASON_QUEUE_FULL;
    case STATION_DENY_TIMEOUT: return DPROTO_REASON_TIMEOUT;
    default: return DPROTO_REASON_NOT_READY;
    }
}

static void handle_msg(struct dronelink *dl, const struct station_drone_msg *m, uint64_t now_ms)
{
    struct dronelink_drone *d = find(dl, m->sysid);
    if (!d)
        return;
    struct mav_command_long cmd;
    switch (m->kind) {
    case STATION_MSG_CLEARED_TO_LAND: {
        /* §5: the request is accepted, then the clearance follows. */
        reply(dl, d, DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_ACCEPTED, 0, 0);
        uint32_t window_s = m->param >= 1 && m->param <= 3600 ? (uint32_t)m->param : 60;
        struct dproto_land_clearance c = { .pad = 1, .clearance_id = ++dl->clearance_id,
                                           .window_s = (float)window_s };
        dproto_build_land_clearance(&c, d->sysid, d->compid, 0, &cmd);
        start_command(dl, d, &cmd, true, now_ms);
        d->phase = DRONELINK_CLEARED;
        d->cleared_ms = now_ms;
        d->window_ms = window_s * 1000u;
        d->pos_sent = 0;
        break;
    }
    case STATION_MSG_QUEUED:
        break;  /* the link keeps the positions and acks every change itself */
    case STATION_MSG_DENIED:
        if (d->phase == DRONELINK_QUEUED) {
            reply(dl, d, DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_DENIED, 0, deny_reason(m->param));
            d->phase = DRONELINK_IDLE;
            d->pos_sent = 0;
            dl->count.denied_other++;
        } else if (d->phase == DRONELINK_CLEARED || d->phase == DRONELINK_ON_PAD) {
            station_cancel(dl, d, deny_reason(m->param), now_ms);
        }
        break;
    case STATION_MSG_PROGRESS: {
        uint32_t p = (uint32_t)m->param;
        uint8_t n = (uint8_t)(p >> 8 & 0xFF), step = (uint8_t)(p & 0xFF);
        double on_pad_s = d->on_pad_ms && now_ms > d->on_pad_ms ? (double)(now_ms - d->on_pad_ms) / 1000.0 : 0;
        struct dproto_progress pr = { .step = n && step > n ? n : step, .n_steps = n,
                                      .on_pad_s = (float)(on_pad_s > 86400 ? 86400 : on_pad_s),
                                      .remaining_s = -1 };
        dproto_build_progress(&pr, d->sysid, d->compid, &cmd);
        start_command(dl, d, &cmd, false, now_ms);
        break;
    }
    case STATION_MSG_CLEARED_TAKEOFF: {
        struct dproto_takeoff_clearance c = { .outcome = DPROTO_SWAPPED,
                                              .pack_tag = (uint32_t)m->param, .window_s = 30 };
        dproto_build_takeoff_clearance(&c, d->sysid, d->compid, 0, &cmd);
        start_command(dl, d, &cmd, true, now_ms);
        d->phase = DRONELINK_IDLE;
        d->on_pad_ms = 0;
        break;
    }
    case STATION_MSG_SWAP_ABORTED:
        station_cancel(dl, d, DPROTO_REASON_OPERATOR, now_ms);
        d->on_pad_ms = 0;
        break;
    default:
        break;
    }
}

/* §8: clearances and places that ran out, and entries nobody needs any more. */
static void supervise(struct dronelink *dl, struct dronelink_drone *d, uint64_t now_ms)
{
    bool silent = now_ms >= d->last_heard_ms + DPROTO_LINK_LOST_MS;
    if (d->phase != DRONELINK_QUEUED)
        d->restored = false;
    switch (d->phase) {
    case DRONELINK_QUEUED:
        if (silent) {
            d->restored = false;
            station_cancel(dl, d, DPROTO_REASON_TIMEOUT, now_ms);
        } else if (d->restored && dronelink_accepting(&dl->status, NULL)) {
            d->restored = false;   /* the core queues it now, in its order */
        } else if (d->restored && now_ms >= d->restore_deadline_ms) {
            int why;
            dronelink_accepting(&dl->status, &why);
            reply(dl, d, DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_DENIED, 0, why);
            d->restored = false;
            d->phase = DRONELINK_IDLE;
            d->pos_sent = 0;
            dl->count.denied_other++;
        }
        break;
    case DRONELINK_CLEARED:
        if (d->sysid == dl->serving_sysid && dl->pad_occupied) {
            d->phase = DRONELINK_ON_PAD;
            d->on_pad_ms = now_ms;
        } else if (d->sysid != dl->serving_sysid) {
            station_cancel(dl, d, DPROTO_REASON_NOT_READY, now_ms);   /* the core let it go */
        } else if (silent || now_ms >= d->cleared_ms + d->window_ms) {
            station_cancel(dl, d, DPROTO_REASON_TIMEOUT, now_ms);
        }
        break;
    case DRONELINK_ON_PAD:
        if (d->sysid != dl->serving_sysid) {
            d->phase = DRONELINK_IDLE;
            d->on_pad_ms = 0;
        }
        break;
    case DRONELINK_IDLE:
    default:
        /* A drone that stands on the ground (on the pad, dark while its pack is out) stays
         * known: the core needs it to resume or release a swap. */
        if (silent && reclaimable(dl, d) && d->landed_state != MAV_LANDED_ON_GROUND) {
            memset(d, 0, sizeof *d);
            dl->count.forgotten++;
        }
        break;
    }
}

void dronelink_send(struct dronelink *dl, const struct station_drone_msg *msgs, int n_msgs,
                    const struct dproto_station_status *status, uint64_t now_ms, uint64_t unix_us)
{
    if (dl->signed_link)
        mav_signing_set_time_unix_us(&dl->signing, unix_us);
    for (int i = 0; i < n_msgs; i++)
        handle_msg(dl, &msgs[i], now_ms);
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++) {
        struct dronelink_drone *d = &dl->drones[i];
        if (!d->sysid || !d->pending.active || now_ms < d->pending.next_ms)
            continue;
        if (d->pending.attempts >= DPROTO_CLEARANCE_ATTEMPTS) {
            d->pending.active = false;
            dl->count.gave_up++;
            /* §8: an unacked clearance is cancelled and the next drone served. */
            if (d->pending.cmd.command == DPROTO_CMD_CLEARED_TO_LAND && d->phase == DRONELINK_CLEARED)
                station_cancel(dl, d, DPROTO_REASON_TIMEOUT, now_ms);
            continue;
        }
        d->pending.cmd.confirmation = (uint8_t)d->pending.attempts;
        emit(dl, MAV_MSG_COMMAND_LONG, &d->pending.cmd);
        d->pending.attempts++;
        d->pending.next_ms = now_ms + dproto_retry_delay_ms(d->pending.attempts);
        dl->count.retransmissions++;
    }
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++)
        if (dl->drones[i].sysid)
            supervise(dl, &dl->drones[i], now_ms);
    /* §5: a fresh queued ack, unasked, whenever a drone's position changed. */
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++) {
        struct dronelink_drone *d = &dl->drones[i];
        if (!d->sysid || d->phase != DRONELINK_QUEUED)
            continue;
        uint8_t pos = pos8(dronelink_queue_position(dl, d->sysid));
        if (pos != d->pos_sent) {
            reply(dl, d, DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_QUEUED, pos, 0);
            d->pos_sent = pos;
        }
    }
    if (now_ms >= dl->next_heartbeat_ms) {
        struct mav_heartbeat hb;
        struct dproto_station_status st = *status;
        unsigned q = dronelink_queue_length(dl);
        st.queue_len = (uint8_t)(q > 255 ? 255 : q);
        dproto_station_heartbeat(&st, &hb);
        emit(dl, MAV_MSG_HEARTBEAT, &hb);
        dl->next_heartbeat_ms = now_ms + DPROTO_HEARTBEAT_PERIOD_MS;
    }
}

void dronelink_station_status(struct dronelink *dl, const struct station_outputs *o,
                              struct dproto_station_status *st)
{
    static const uint8_t packml[ST_COUNT] = {
        [ST_STOPPED] = DPROTO_PACKML_STOPPED, [ST_RESETTING] = DPROTO_PACKML_RESETTING,
        [ST_IDLE] = DPROTO_PACKML_IDLE, [ST_STARTING] = DPROTO_PACKML_STARTING,
        [ST_EXECUTE] = DPROTO_PACKML_EXECUTE, [ST_COMPLETING] = DPROTO_PACKML_COMPLETING,
        [ST_COMPLETE] = DPROTO_PACKML_COMPLETE, [ST_HOLDING] = DPROTO_PACKML_HOLDING,
        [ST_HELD] = DPROTO_PACKML_HELD, [ST_UNHOLDING] = DPROTO_PACKML_UNHOLDING,
        [ST_SUSPENDING] = DPROTO_PACKML_SUSPENDING, [ST_SUSPENDED] = DPROTO_PACKML_SUSPENDED,
        [ST_UNSUSPENDING] = DPROTO_PACKML_UNSUSPENDING, [ST_STOPPING] = DPROTO_PACKML_STOPPING,
        [ST_ABORTING] = DPROTO_PACKML_ABORTING, [ST_ABORTED] = DPROTO_PACKML_ABORTED,
        [ST_CLEARING] = DPROTO_PACKML_CLEARING,
    };
    *st = (struct dproto_station_status){
        .packml_state = o->state >= 0 && o->state < ST_COUNT ? packml[o->state] : DPROTO_PACKML_UNDEFINED,
        .unit_mode = (uint8_t)(o->mode + 1),
        .flags = (uint8_t)((o->pad_occupied ? DPROTO_FLAG_PAD_OCCUPIED : 0) |
                           (o->alarms_active & (1ull << DIAG_WEATHER) ? DPROTO_FLAG_WEATHER_HOLD : 0) |
                           (o->alarms_active ? DPROTO_FLAG_ALARM : 0)),
    };
    if (dronelink_accepting(st, NULL))
        st->flags |= DPROTO_FLAG_ACCEPTING;
    unsigned q = dronelink_queue_length(dl);
    st->queue_len = (uint8_t)(q > 255 ? 255 : q);
    dl->status = *st;
    dl->serving_sysid = o->serving_sysid;
    dl->pad_occupied = o->pad_occupied;
}

size_t dronelink_take_output(struct dronelink *dl, uint8_t *buf, size_t size)
{
    size_t n = dl->out_len < size ? dl->out_len : size;
    memcpy(buf, dl->out, n);
    memmove(dl->out, dl->out + n, dl->out_len - n);
    dl->out_len -= n;
    return n;
}

int dronelink_restore_request(struct dronelink *dl, uint8_t sysid, uint8_t compid,
                              const struct dproto_swap_request *req, uint64_t now_ms)
{
    if (!sysid || !allowed(dl, sysid))
        return -1;
    struct dronelink_drone *d = track(dl, sysid, compid);
    if (!d)
        return -1;
    if (d->phase != DRONELINK_IDLE)
        return 0;   /* it asked again before the restore: that request stands */
    d->phase = DRONELINK_QUEUED;
    d->request_seq = ++dl->request_seq;
    d->request_ms = now_ms;
    d->request = *req;
    d->last_heard_ms = now_ms;
    d->pos_sent = 0;
    d->restored = true;
    d->restore_deadline_ms = now_ms + DRONELINK_RESTORE_WAIT_MS;
    if (req->pack_tag)
        d->battery_tag = req->pack_tag;
    return 0;
}
