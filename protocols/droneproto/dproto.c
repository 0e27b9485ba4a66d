/* Station-drone protocol helpers; see dproto.h and docs/drone-protocol.md. */
#include "droneproto/dproto.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const cmd_names[] = {
    "SWAP_REQUEST", "CLEARED_TO_LAND", "SWAP_PROGRESS", "CLEARED_TAKEOFF", "CANCEL",
};

const char *dproto_cmd_name(uint16_t command)
{
    if (command < MAV_CMD_USER_1 || command > MAV_CMD_USER_5)
        return NULL;
    return cmd_names[command - MAV_CMD_USER_1];
}

static const struct {
    const char *name;
    bool final;
} reasons[DPROTO_REASON_COUNT] = {
    [DPROTO_REASON_NONE] = { "none", false },
    [DPROTO_REASON_NOT_ALLOWED] = { "not_allowed", true },
    [DPROTO_REASON_NOT_READY] = { "not_ready", false },
    [DPROTO_REASON_NO_BATTERY] = { "no_battery", false },
    [DPROTO_REASON_WEATHER] = { "weather", false },
    [DPROTO_REASON_QUEUE_FULL] = { "queue_full", false },
    [DPROTO_REASON_MAINTENANCE] = { "maintenance", false },
    [DPROTO_REASON_BAD_REQUEST] = { "bad_request", true },
    [DPROTO_REASON_PAD_BLOCKED] = { "pad_blocked", false },
    [DPROTO_REASON_OPERATOR] = { "operator", false },
    [DPROTO_REASON_TIMEOUT] = { "timeout", false },
    [DPROTO_REASON_PACK_MISMATCH] = { "pack_mismatch", false },
};

const char *dproto_reason_name(int reason)
{
    if (reason < 0 || reason >= DPROTO_REASON_COUNT)
        return "unknown";
    return reasons[reason].name;
}

bool dproto_reason_is_final(int reason)
{
    return reason > 0 && reason < DPROTO_REASON_COUNT && reasons[reason].final;
}

static const char *const packml_names[] = {
    "Undefined", "Clearing", "Stopped", "Starting", "Idle", "Suspended", "Execute",
    "Stopping", "Aborting", "Aborted", "Holding", "Held", "Unholding", "Suspending",
    "Unsuspending", "Resetting", "Completing", "Complete",
};

const char *dproto_packml_name(int state)
{
    if (state < 0 || state > DPROTO_PACKML_COMPLETE)
        return "unknown";
    return packml_names[state];
}

/* ---- heartbeats --------------------------------------------------------------------- */

void dproto_station_heartbeat(const struct dproto_station_status *st, struct mav_heartbeat *hb)
{
    memset(hb, 0, sizeof *hb);
    hb->type = MAV_TYPE_CHARGING_STATION;
    hb->autopilot = MAV_AUTOPILOT_INVALID;
    hb->mavlink_version = 3;
    hb->custom_mode = (uint32_t)st->packml_state | (uint32_t)st->unit_mode << 8 |
                      (uint32_t)st->flags << 16 | (uint32_t)st->queue_len << 24;
    if (st->packml_state == DPROTO_PACKML_HELD || st->packml_state == DPROTO_PACKML_ABORTED ||
        (st->flags & DPROTO_FLAG_ALARM))
        hb->system_status = 5; /* MAV_STATE_CRITICAL */
    else if (st->packml_state == DPROTO_PACKML_EXECUTE)
        hb->system_status = MAV_STATE_ACTIVE;
    else
        hb->system_status = MAV_STATE_STANDBY;
}

int dproto_parse_station_heartbeat(const struct mav_heartbeat *hb, struct dproto_station_status *st)
{
    if (hb->type != MAV_TYPE_CHARGING_STATION)
        return -1;
    st->packml_state = (uint8_t)(hb->custom_mode & 0xFF);
    st->unit_mode = (uint8_t)(hb->custom_mode >> 8 & 0xFF);
    st->flags = (uint8_t)(hb->custom_mode >> 16 & 0xFF);
    st->queue_len = (uint8_t)(hb->custom_mode >> 24 & 0xFF);
    return 0;
}

bool dproto_heartbeat_armed(const struct mav_heartbeat *hb)
{
    return (hb->base_mode & MAV_MODE_FLAG_SAFETY_ARMED) != 0;
}

/* ---- parameter checks --------------------------------------------------------------- */

/* A float parameter that must hold an integer in [lo, hi]. */
static bool param_int(float p, long lo, long hi, long *out)
{
    if (!isfinite(p) || p != floorf(p) || p < (float)lo || p > (float)hi)
        return false;
    *out = (long)p;
    return true;
}

static bool param_range(float p, float lo, float hi)
{
    return isfinite(p) && p >= lo && p <= hi;
}

/* 32-bit tags travel as two 16-bit halves: a float holds integers exactly only up to 2^24. */
static void put_tag(uint32_t tag, float *lo, float *hi)
{
    *lo = (float)(tag & 0xFFFF);
    *hi = (float)(tag >> 16);
}

static bool get_tag(float lo, float hi, uint32_t *tag)
{
    long l, h;
    if (!param_int(lo, 0, 0xFFFF, &l) || !param_int(hi, 0, 0xFFFF, &h))
        return false;
    *tag = (uint32_t)h << 16 | (uint32_t)l;
    return true;
}

static void cmd_init(struct mav_command_long *out, uint16_t command, uint8_t sys, uint8_t comp,
                     uint8_t confirmation)
{
    memset(out, 0, sizeof *out);
    out->command = command;
    out->target_system = sys;
    out->target_component = comp;
    out->confirmation = confirmation;
}

bool dproto_is_for(const struct mav_command_long *cmd, uint8_t sys, uint8_t comp)
{
    return (cmd->target_system == 0 || cmd->target_system == sys) &&
           (cmd->target_component == 0 || cmd->target_component == comp);
}

/* ---- SWAP_REQUEST ---------------------------------------------------------------------- */

void dproto_build_swap_request(const struct dproto_swap_request *r, uint8_t target_sys,
                               uint8_t target_comp, uint8_t confirmation,
                               struct mav_command_long *out)
{
    cmd_init(out, DPROTO_CMD_SWAP_REQUEST, target_sys, target_comp, confirmation);
    out->param[0] = r->remaining_pct;
    put_tag(r->pack_tag, &out->param[1], &out->param[2]);
    out->param[3] = r->voltage_v;
    out->param[4] = r->eta_s;
    out->param[5] = (float)r->flags;
    out->param[6] = (float)r->version;
}

int dproto_parse_swap_request(const struct mav_command_long *cmd, struct dproto_swap_request *out)
{
    struct dproto_swap_request r;
    long flags, version;
    if (cmd->command != DPROTO_CMD_SWAP_REQUEST)
        return -1;
    if (!(param_range(cmd->param[0], 0, 100) || cmd->param[0] == -1.0f))
        return -1;
    if (!get_tag(cmd->param[1], cmd->param[2], &r.pack_tag))
        return -1;
    if (!param_range(cmd->param[3], 0, 100) || !param_range(cmd->param[4], 0, 3600))
        return -1;
    if (!param_int(cmd->param[5], 0, DPROTO_REQ_HOT_SWAP | DPROTO_REQ_CRITICAL, &flags) ||
        !param_int(cmd->param[6], DPROTO_VERSION, DPROTO_VERSION, &version))
        return -1;
    r.remaining_pct = cmd->param[0];
    r.voltage_v = cmd->param[3];
    r.eta_s = cmd->param[4];
    r.flags = (uint8_t)flags;
    r.version = (uint8_t)version;
    *out = r;
    return 0;
}

/* ---- CLEARED_TO_LAND ---------------------------------------------------------------- */

void dproto_build_land_clearance(const struct dproto_land_clearance *c, uint8_t target_sys,
                                 uint8_t target_comp, uint8_t confirmation,
                                 struct mav_command_long *out)
{
    cmd_init(out, DPROTO_CMD_CLEARED_TO_LAND, target_sys, target_comp, confirmation);
    out->param[0] = (float)c->pad;
    out->param[1] = (float)c->clearance_id;
    out->param[2] = c->window_s;
}

int dproto_parse_land_clearance(const struct mav_command_long *cmd, struct dproto_land_clearance *out)
{
    long pad, id;
    if (cmd->command != DPROTO_CMD_CLEARED_TO_LAND)
        return -1;
    if (!param_int(cmd->param[0], 1, 255, &pad) || !param_int(cmd->param[1], 0, 0xFFFF, &id) ||
        !param_range(cmd->param[2], 1, 3600))
        return -1;
    out->pad = (uint8_t)pad;
    out->clearance_id = (uint16_t)id;
    out->window_s = cmd->param[2];
    return 0;
}

/* ---- SWAP_PROGRESS -------------------------------------------------------------------- */

void dproto_build_progress(const struct dproto_progress *p, uint8_t target_sys,
                           uint8_t target_comp, struct mav_command_long *out)
{
    cmd_init(out, DPROTO_CMD_SWAP_PROGRESS, target_sys, target_comp, 0);
    out->param[0] = (float)p->step;
    out->param[1] = (float)p->n_steps;
    out->param[2] = p->on_pad_s;
    out->param[3] = p->remaining_s;
}

int dproto_parse_progress(const struct mav_command_long *cmd, struct dproto_progress *out)
{
    long step, n;
    if (cmd->command != DPROTO_CMD_SWAP_PROGRESS)
        return -1;
    if (!param_int(cmd->param[1], 0, 255, &n) || !param_int(cmd->param[0], 0, n ? n : 255, &step) ||
        !param_range(cmd->param[2], 0, 86400) ||
        !(param_range(cmd->param[3], 0, 86400) || cmd->param[3] == -1.0f))
        return -1;
    out->step = (uint8_t)step;
    out->n_steps = (uint8_t)n;
    out->on_pad_s = cmd->param[2];
    out->remaining_s = cmd->param[3];
    return 0;
}

/* ---- CLEARED_TAKEOFF ---------------------------------------------------------------- */

void dproto_build_takeoff_clearance(const struct dproto_takeoff_clearance *c, uint8_t target_sys,
                                    uint8_t target_comp, uint8_t confirmation,
                                    struct mav_command_long *out)
{
    cmd_init(out, DPROTO_CMD_CLEARED_TAKEOFF, target_sys, target_comp, confirmation);
    out->param[0] = (float)c->outcome;
    put_tag(c->pack_tag, &out->param[1], &out->param[2]);
    out->param[3] = c->window_s;
}

int dproto_parse_takeoff_clearance(const struct mav_command_long *cmd,
                                   struct dproto_takeoff_clearance *out)
{
    long outcome;
    uint32_t tag;
    if (cmd->command != DPROTO_CMD_CLEARED_TAKEOFF)
        return -1;
    if (!param_int(cmd->param[0], DPROTO_SWAPPED, DPROTO_NOT_SWAPPED, &outcome) ||
        !get_tag(cmd->param[1], cmd->param[2], &tag) || !param_range(cmd->param[3], 1, 3600))
        return -1;
    out->outcome = (uint8_t)outcome;
    out->pack_tag = tag;
    out->window_s = cmd->param[3];
    return 0;
}

/* ---- CANCEL ----------------------------------------------------------------------------- */

void dproto_build_cancel(const struct dproto_cancel *c, uint8_t target_sys, uint8_t target_comp,
                         uint8_t confirmation, struct mav_command_long *out)
{
    cmd_init(out, DPROTO_CMD_CANCEL, target_sys, target_comp, confirmation);
    out->param[0] = (float)c->reason;
}

int dproto_parse_cancel(const struct mav_command_long *cmd, struct dproto_cancel *out)
{
    long reason;
    if (cmd->command != DPROTO_CMD_CANCEL)
        return -1;
    if (!param_int(cmd->param[0], 0, DPROTO_REASON_COUNT - 1, &reason))
        return -1;
    out->reason = (uint8_t)reason;
    return 0;
}

/* ---- acks ------------------------------------------------------------------------------- */

void dproto_build_ack(const struct dproto_reply *r, uint8_t target_sys, uint8_t target_comp,
                      struct mav_command_ack *out)
{
    memset(out, 0, sizeof *out);
    out->command = r->command;
    out->target_system = target_sys;
    out->target_component = target_comp;
    switch (r->kind) {
    case DPROTO_REPLY_ACCEPTED:
        out->result = MAV_RESULT_ACCEPTED;
        break;
    case DPROTO_REPLY_QUEUED:
        out->result = MAV_RESULT_IN_PROGRESS;
        out->progress = r->queue_position;
        out->result_param2 = r->reason;
        break;
    case DPROTO_REPLY_DENIED:
        out->result = MAV_RESULT_DENIED;
        out->result_param2 = r->reason;
        break;
    case DPROTO_REPLY_BUSY:
        out->result = MAV_RESULT_TEMPORARILY_REJECTED;
        out->result_param2 = r->reason;
        break;
    default:
        out->result = MAV_RESULT_FAILED;
        out->result_param2 = r->reason;
        break;
    }
}

int dproto_parse_ack(const struct mav_command_ack *ack, struct dproto_reply *out)
{
    struct dproto_reply r = { .command = ack->command, .reason = ack->result_param2 };
    switch (ack->result) {
    case MAV_RESULT_ACCEPTED: r.kind = DPROTO_REPLY_ACCEPTED; break;
    case MAV_RESULT_IN_PROGRESS:
        r.kind = DPROTO_REPLY_QUEUED;
        r.queue_position = ack->progress;
        break;
    case MAV_RESULT_DENIED: r.kind = DPROTO_REPLY_DENIED; break;
    case MAV_RESULT_TEMPORARILY_REJECTED: r.kind = DPROTO_REPLY_BUSY; break;
    case MAV_RESULT_UNSUPPORTED:
    case MAV_RESULT_FAILED:
    case MAV_RESULT_CANCELLED:
    case 7: case 8: case 9: case 10:
        r.kind = DPROTO_REPLY_FAILED;
        break;
    default:
        return -1;
    }
    *out = r;
    return 0;
}

uint32_t dproto_retry_delay_ms(unsigned attempt)
{
    if (attempt == 0)
        return 0;
    if (attempt > 4)
        return DPROTO_RETRY_MAX_MS;
    uint32_t d = DPROTO_RETRY_FIRST_MS << (attempt - 1);
    return d > DPROTO_RETRY_MAX_MS ? DPROTO_RETRY_MAX_MS : d;
}

void dproto_pack_serial(uint32_t tag, char out[16])
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "SWP-%08X", (unsigned)tag);
    memset(out, 0, 16);
    memcpy(out, tmp, strlen(tmp));
}

int dproto_parse_pack_serial(const char serial[16], uint32_t *tag)
{
    if (memcmp(serial, "SWP-", 4) != 0)
        return -1;
    uint32_t v = 0;
    for (int i = 4; i < 12; i++) {
        char c = serial[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    for (int i = 12; i < 16; i++)
        if (serial[i] != '\0')
            return -1;
    *tag = v;
    return 0;
}
