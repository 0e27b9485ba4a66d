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

static bool allowed(const struct dronelink *dl, uint8_t sysid)
{
    if (dl->n_allow == 0)
        return true;
    for (size_t i = 0; i < dl->n_allow; i++)
        if (dl->allow[i] == sysid)
            return true;
    return false;
}

static struct dronelink_drone *find(struct dronelink *dl, uint8_t sysid)
{
    for (int i = 0; i < STATION_MAX_DRONES; i++)
        if (dl->drones[i].sysid == sysid)
            return &dl->drones[i];
    return NULL;
}

/* Finds or adds a drone; a full table evicts the longest-silent drone without an open
 * request or pending command, else gives up (counted). */
static struct dronelink_drone *track(struct dronelink *dl, uint8_t sysid, uint8_t compid)
{
    struct dronelink_drone *d = find(dl, sysid);
    if (d)
        return d;
    struct dronelink_drone *victim = NULL;
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        struct dronelink_drone *c = &dl->drones[i];
        if (c->sysid == 0) {
            victim = c;
            break;
        }
        if (c->request_open || c->pending.active)
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

unsigned dronelink_queue_position(const struct dronelink *dl, uint8_t sysid)
{
    const struct dronelink_drone *me = NULL;
    for (int i = 0; i < STATION_MAX_DRONES; i++)
        if (dl->drones[i].sysid == sysid && dl->drones[i].request_open)
            me = &dl->drones[i];
    if (!me)
        return 0;
    bool me_crit = me->request.flags & DPROTO_REQ_CRITICAL;
    unsigned pos = 1;
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        const struct dronelink_drone *o = &dl->drones[i];
        if (o == me || !o->sysid || !o->request_open)
            continue;
        bool o_crit = o->request.flags & DPROTO_REQ_CRITICAL;
        if ((o_crit && !me_crit) ||
            (o_crit == me_crit && (o->request_ms < me->request_ms ||
                                   (o->request_ms == me->request_ms && o->sysid < me->sysid))))
            pos++;
    }
    return pos;
}

static void on_swap_request(struct dronelink *dl, uint8_t sysid, uint8_t compid,
                            const struct mav_command_long *cmd, uint64_t now_ms)
{
    dl->count.requests++;
    struct dronelink_drone tmp = { .sysid = sysid, .compid = compid };
    if (!allowed(dl, sysid)) {
        dl->count.denied_not_allowed++;
        reply(dl, &tmp, cmd->command, DPROTO_REPLY_DENIED, 0, DPROTO_REASON_NOT_ALLOWED);
        return;
    }
    struct dproto_swap_request req;
    if (dproto_parse_swap_request(cmd, &req) != 0) {
        dl->count.bad_requests++;
        reply(dl, &tmp, cmd->command, DPROTO_REPLY_DENIED, 0, DPROTO_REASON_BAD_REQUEST);
        return;
    }
    struct dronelink_drone *d = track(dl, sysid, compid);
    if (!d) {
        reply(dl, &tmp, cmd->command, DPROTO_REPLY_DENIED, 0, DPROTO_REASON_QUEUE_FULL);
        return;
    }
    d->last_heard_ms = now_ms;
    if (!d->request_open) {
        d->request_open = true;
        d->request_ms = now_ms;
    }
    d->request = req;   /* a repeated request refreshes the figures, keeps the place */
    if (req.pack_tag)
        d->battery_tag = req.pack_tag;
    reply(dl, d, cmd->command, DPROTO_REPLY_QUEUED, (uint8_t)dronelink_queue_position(dl, sysid), 0);
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
    struct dronelink_drone *d = find(dl, f->sysid);
    if (cmd.command == DPROTO_CMD_CANCEL && d) {
        d->request_open = false;
        d->pending.active = false;
        reply(dl, d, cmd.command, DPROTO_REPLY_ACCEPTED, 0, 0);
        return;
    }
    struct dronelink_drone tmp = { .sysid = f->sysid, .compid = f->compid };
    reply(dl, d ? d : &tmp, cmd.command, DPROTO_REPLY_FAILED, 0, 0);
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
        if (d->pending.active && ack.command == d->pending.cmd.command &&
            (ack.target_system == 0 || ack.target_system == dl->sysid))
            d->pending.active = false;
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

static int queue_cmp(const void *a, const void *b)
{
    const struct dronelink_drone *x = a, *y = b;
    if (!x->sysid != !y->sysid)
        return x->sysid ? -1 : 1;
    if (x->request_open != y->request_open)
        return x->request_open ? -1 : 1;
    bool xc = x->request.flags & DPROTO_REQ_CRITICAL, yc = y->request.flags & DPROTO_REQ_CRITICAL;
    if (xc != yc)
        return xc ? -1 : 1;
    if (x->request_ms != y->request_ms)
        return x->request_ms < y->request_ms ? -1 : 1;
    return (int)x->sysid - (int)y->sysid;
}

void dronelink_fill_inputs(const struct dronelink *dl, struct station_drone_in out[STATION_MAX_DRONES])
{
    struct dronelink_drone sorted[STATION_MAX_DRONES];
    memcpy(sorted, dl->drones, sizeof sorted);
    qsort(sorted, STATION_MAX_DRONES, sizeof sorted[0], queue_cmp);
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        const struct dronelink_drone *d = &sorted[i];
        out[i] = (struct station_drone_in){
            .sysid = d->sysid,
            .present = d->sysid != 0 && d->last_heard_ms != 0,
            .last_heartbeat_ms = d->last_heartbeat_ms,
            .armed = d->armed,
            .landed_state = d->landed_state,
            .swap_requested = d->request_open,
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

static uint8_t deny_reason(int32_t station_deny)
{
    switch (station_deny) {
    case STATION_DENY_NOT_RUNNING: return DPROTO_REASON_NOT_READY;
    case STATION_DENY_NO_BATTERY: return DPROTO_REASON_NO_BATTERY;
    case STATION_DENY_WEATHER: return DPROTO_REASON_WEATHER;
    case STATION_DENY_QUEUE_FULL: return DPROTO_REASON_QUEUE_FULL;
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
        struct dproto_land_clearance c = { .pad = 1, .clearance_id = ++dl->clearance_id,
                                           .window_s = 60 };
        dproto_build_land_clearance(&c, d->sysid, d->compid, 0, &cmd);
        start_command(dl, d, &cmd, true, now_ms);
        break;
    }
    case STATION_MSG_QUEUED:
        reply(dl, d, DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_QUEUED,
              (uint8_t)(m->param > 0 && m->param < 256 ? (unsigned)m->param : dronelink_queue_position(dl, d->sysid)), 0);
        break;
    case STATION_MSG_DENIED:
        reply(dl, d, DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_DENIED, 0, deny_reason(m->param));
        d->request_open = false;
        dl->count.denied_other++;
        break;
    case STATION_MSG_PROGRESS: {
        struct dproto_progress p = { .step = (uint8_t)m->param, .n_steps = 0, .on_pad_s = 0,
                                     .remaining_s = -1 };
        dproto_build_progress(&p, d->sysid, d->compid, &cmd);
        start_command(dl, d, &cmd, false, now_ms);
        break;
    }
    case STATION_MSG_CLEARED_TAKEOFF: {
        struct dproto_takeoff_clearance c = { .outcome = DPROTO_SWAPPED,
                                              .pack_tag = (uint32_t)m->param, .window_s = 30 };
        dproto_build_takeoff_clearance(&c, d->sysid, d->compid, 0, &cmd);
        start_command(dl, d, &cmd, true, now_ms);
        d->request_open = false;
        break;
    }
    case STATION_MSG_SWAP_ABORTED: {
        struct dproto_cancel c = { .reason = DPROTO_REASON_OPERATOR };
        dproto_build_cancel(&c, d->sysid, d->compid, 0, &cmd);
        start_command(dl, d, &cmd, true, now_ms);
        d->request_open = false;
        break;
    }
    default:
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
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        struct dronelink_drone *d = &dl->drones[i];
        if (!d->sysid || !d->pending.active || now_ms < d->pending.next_ms)
            continue;
        if (d->pending.attempts >= DPROTO_CLEARANCE_ATTEMPTS) {
            d->pending.active = false;
            dl->count.gave_up++;
            continue;
        }
        d->pending.cmd.confirmation = (uint8_t)d->pending.attempts;
        emit(dl, MAV_MSG_COMMAND_LONG, &d->pending.cmd);
        d->pending.attempts++;
        d->pending.next_ms = now_ms + dproto_retry_delay_ms(d->pending.attempts);
        dl->count.retransmissions++;
    }
    if (now_ms >= dl->next_heartbeat_ms) {
        struct mav_heartbeat hb;
        dproto_station_heartbeat(status, &hb);
        emit(dl, MAV_MSG_HEARTBEAT, &hb);
        dl->next_heartbeat_ms = now_ms + DPROTO_HEARTBEAT_PERIOD_MS;
    }
}

void dronelink_station_status(const struct station_outputs *o, const struct station_drone_in drones[STATION_MAX_DRONES],
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
        .flags = (uint8_t)((o->state == ST_EXECUTE ? DPROTO_FLAG_ACCEPTING : 0) |
                           (o->serving_sysid ? DPROTO_FLAG_PAD_OCCUPIED : 0) |
                           (o->alarms_active ? DPROTO_FLAG_ALARM : 0)),
    };
    for (int i = 0; i < STATION_MAX_DRONES; i++)
        if (drones[i].sysid && drones[i].swap_requested)
            st->queue_len++;
}

size_t dronelink_take_output(struct dronelink *dl, uint8_t *buf, size_t size)
{
    size_t n = dl->out_len < size ? dl->out_len : size;
    memcpy(buf, dl->out, n);
    memmove(dl->out, dl->out + n, dl->out_len - n);
    dl->out_len -= n;
    return n;
}
