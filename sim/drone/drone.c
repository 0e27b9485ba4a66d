/* Drone behaviour model; see drone.h and docs/drone-protocol.md. */
#include "drone/drone.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "droneproto/dproto.h"

/* Physics advances on a fixed 100 ms grid from the start time, so the pack's history
 * does not depend on how often the caller steps. */
#define PHYS_SLICE_MS 100u
/* In the air the drone looks at its pack at least this often. */
#define AIR_CHECK_MS 1000u
#define PAD_RETRY_MS 200u   /* a touchdown the pad could not take yet is tried again */

static void lift_off(struct sim_drone *d);

static const struct {
    const char *name;
    bool armed;
    uint8_t landed_state;
    bool airborne;               /* draws from the pack on board */
    bool on_pad;
} states[SIM_DRONE_STATE_COUNT] = {
    [SIM_DRONE_FLYING] = { "flying", true, MAV_LANDED_IN_AIR, true, false },
    [SIM_DRONE_RETURNING] = { "returning", true, MAV_LANDED_IN_AIR, true, false },
    [SIM_DRONE_REQUESTING] = { "requesting", true, MAV_LANDED_IN_AIR, true, false },
    [SIM_DRONE_QUEUED] = { "queued", true, MAV_LANDED_IN_AIR, true, false },
    [SIM_DRONE_LANDING] = { "landing", true, MAV_LANDED_LANDING, true, false },
    [SIM_DRONE_LANDED] = { "landed", true, MAV_LANDED_ON_GROUND, false, true },
    [SIM_DRONE_DISARMED] = { "disarmed", false, MAV_LANDED_ON_GROUND, false, true },
    [SIM_DRONE_BAY_EMPTY] = { "bay_empty", false, MAV_LANDED_ON_GROUND, false, true },
    [SIM_DRONE_BOOTING] = { "booting", false, MAV_LANDED_ON_GROUND, false, true },
    [SIM_DRONE_WAIT_TAKEOFF] = { "wait_takeoff", false, MAV_LANDED_ON_GROUND, false, true },
    [SIM_DRONE_TAKING_OFF] = { "taking_off", true, MAV_LANDED_TAKEOFF, true, false },
    [SIM_DRONE_DIVERTED] = { "diverted", true, MAV_LANDED_IN_AIR, false, false },
};

const char *sim_drone_state_name(enum sim_drone_state s)
{
    if ((unsigned)s >= SIM_DRONE_STATE_COUNT)
        return "unknown";
    return states[s].name;
}

static const char *const mis_names[SIM_DRONE_MIS_COUNT] = {
    [SIM_DRONE_MIS_REARM] = "rearm",
    [SIM_DRONE_MIS_LINK_LOSS] = "link_loss",
    [SIM_DRONE_MIS_WRONG_SYSID] = "wrong_sysid",
    [SIM_DRONE_MIS_UNSIGNED] = "unsigned",
    [SIM_DRONE_MIS_GARBAGE] = "garbage",
    [SIM_DRONE_MIS_NO_ACK] = "no_ack",
    [SIM_DRONE_MIS_CANCEL] = "cancel",
    [SIM_DRONE_MIS_DIVERT] = "divert",
    [SIM_DRONE_MIS_BAD_VERSION] = "bad_version",
};

const char *sim_drone_mis_name(enum sim_drone_mis m)
{
    if ((unsigned)m >= SIM_DRONE_MIS_COUNT)
        return "unknown";
    return mis_names[m];
}

int sim_drone_mis_from_name(const char *name)
{
    for (int i = 0; i < SIM_DRONE_MIS_COUNT; i++)
        if (name && strcmp(name, mis_names[i]) == 0)
            return i;
    return -1;
}

void sim_drone_cfg_defaults(struct sim_drone_cfg *c, uint8_t sysid)
{
    memset(c, 0, sizeof *c);
    c->sysid = sysid;
    c->compid = DPROTO_DRONE_COMPID;
    c->station_sysid = 0;
    c->station_compid = DPROTO_STATION_COMPID;
    c->hot_swap = false;
    c->hover_current_a = 18.0;
    c->current_noise_a = 1.0;
    c->burst_current_a = 15.0;
    c->burst_rate_per_s = 1.0 / 30.0;
    c->burst_s = 2.0;
    c->takeoff_current_a = 30.0;
    c->idle_current_a = 4.0;
    c->pad_current_a = 1.2;
    c->return_soc = 0.30;
    c->critical_soc = 0.12;
    c->critical = false;
    c->flight_s = 0;
    c->return_ms = 5000;
    c->landing_ms = 4000;
    c->disarm_ms = 1000;
    c->boot_ms = 1500;
    c->hot_boot_ms = 200;
    c->takeoff_ms = 3000;
    c->retry_denied_ms = 10000;
    c->telemetry_ms = DPROTO_HEARTBEAT_PERIOD_MS;
    c->info_ms = 5000;
    c->poll_ms = 100;
    c->link_lost_ms = DPROTO_LINK_LOST_MS;
    c->ambient_degC = 20.0;
    c->battery_time_scale = 1;
    sim_sensor_grade_cfg(&c->sensor, SIM_SENSOR_POWER_MODULE);
}

/* ---- misbehaviour ---------------------------------------------------------------- */

static bool mis_active(const struct sim_drone *d, enum sim_drone_mis kind)
{
    for (size_t i = 0; i < d->n_mis; i++) {
        if (d->mis[i].kind != kind)
            continue;
        if (kind == SIM_DRONE_MIS_REARM && !d->mis[i].armed_started)
            continue;
        if (d->now_ms >= d->mis[i].start_ms &&
            d->now_ms < d->mis[i].start_ms + d->mis[i].duration_ms)
            return true;
    }
    return false;
}

bool sim_drone_misbehaving(const struct sim_drone *d, enum sim_drone_mis kind)
{
    return mis_active(d, kind);
}

int sim_drone_misbehave(struct sim_drone *d, enum sim_drone_mis kind, uint64_t start_ms,
                        uint32_t duration_ms)
{
    if ((unsigned)kind >= SIM_DRONE_MIS_COUNT || d->n_mis >= SIM_DRONE_MAX_MIS)
        return -1;
    d->mis[d->n_mis].kind = kind;
    d->mis[d->n_mis].start_ms = start_ms;
    d->mis[d->n_mis].duration_ms = duration_ms;
    d->mis[d->n_mis].armed_started = false;
    d->n_mis++;
    return 0;
}

bool sim_drone_powered(const struct sim_drone *d)
{
    switch (d->state) {
    case SIM_DRONE_BAY_EMPTY:
    case SIM_DRONE_BOOTING:
        return d->cfg.hot_swap;
    case SIM_DRONE_DIVERTED:
        return false;
    default:
        return true;
    }
}

bool sim_drone_armed(const struct sim_drone *d)
{
    return states[d->state].armed || (mis_active(d, SIM_DRONE_MIS_REARM) && sim_drone_powered(d));
}

static bool radio_up(const struct sim_drone *d)
{
    return sim_drone_powered(d) && !mis_active(d, SIM_DRONE_MIS_LINK_LOSS);
}

/* ---- output ------------------------------------------------------------------------ */

static void out_bytes(struct sim_drone *d, const uint8_t *buf, size_t n)
{
    if (d->out_len + n > sizeof d->out) {
        d->count.out_dropped++;
        return;
    }
    memcpy(d->out + d->out_len, buf, n);
    d->out_len += n;
}

static void emit(struct sim_drone *d, uint32_t msgid, const void *msg)
{
    if (!radio_up(d))
        return;
    if (mis_active(d, SIM_DRONE_MIS_GARBAGE)) {
        uint8_t junk[24];
        size_t n = 1 + sim_rng_below(&d->rng, sizeof junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)sim_rng_next(&d->rng);
        out_bytes(d, junk, n);
    }
    d->tx.sysid = d->cfg.sysid;
    if (mis_active(d, SIM_DRONE_MIS_WRONG_SYSID))
        d->tx.sysid = (uint8_t)(d->cfg.sysid ^ 0x80) ? (uint8_t)(d->cfg.sysid ^ 0x80) : 1;
    d->tx.signing = mis_active(d, SIM_DRONE_MIS_UNSIGNED) ? NULL : d->signing;
    uint8_t buf[MAV_MAX_FRAME];
    int n = mav_encode(&d->tx, msgid, msg, buf);
    d->tx.sysid = d->cfg.sysid;
    if (n > 0)
        out_bytes(d, buf, (size_t)n);
}

static void send_ack(struct sim_drone *d, uint16_t command, enum dproto_reply_kind kind,
                     int32_t reason)
{
    struct dproto_reply r = { .command = command, .kind = kind, .reason = reason };
    struct mav_command_ack ack;
    dproto_build_ack(&r, d->station_sysid, d->station_compid, &ack);
    emit(d, MAV_MSG_COMMAND_ACK, &ack);
    d->count.acks_sent++;
}

static void send_text(struct sim_drone *d, uint8_t severity, const char *text)
{
    struct mav_statustext st;
    memset(&st, 0, sizeof st);
    st.severity = severity;
    strncpy(st.text, text, sizeof st.text);
    emit(d, MAV_MSG_STATUSTEXT, &st);
}

/* The pack that powers the drone now, or NULL. */
static const struct sim_battery *power_pack(const struct sim_drone *d)
{
    if (states[d->state].on_pad)
        return d->bay_has_battery ? &d->bay : NULL;
    return d->has_battery ? &d->battery : NULL;
}

static double pack_current(const struct sim_drone *d)
{
    switch (d->state) {
    case SIM_DRONE_LANDED: return d->cfg.idle_current_a;
    case SIM_DRONE_DISARMED:
    case SIM_DRONE_WAIT_TAKEOFF: return d->cfg.pad_current_a;
    case SIM_DRONE_BAY_EMPTY:
    case SIM_DRONE_BOOTING: return 0;
    default: return d->current_a;
    }
}

static void send_heartbeat(struct sim_drone *d)
{
    struct mav_heartbeat hb = {
        .custom_mode = (uint32_t)d->state,
        .type = MAV_TYPE_QUADROTOR,
        .autopilot = DPROTO_MAV_AUTOPILOT_GENERIC,
        .base_mode = sim_drone_armed(d) ? MAV_MODE_FLAG_SAFETY_ARMED : 0,
        .system_status = sim_drone_armed(d) ? MAV_STATE_ACTIVE : MAV_STATE_STANDBY,
        .mavlink_version = 3,
    };
    emit(d, MAV_MSG_HEARTBEAT, &hb);
}

static void send_ext_state(struct sim_drone *d)
{
    struct mav_extended_sys_state es = { 0, states[d->state].landed_state };
    emit(d, MAV_MSG_EXTENDED_SYS_STATE, &es);
}

static void send_battery_status(struct sim_drone *d)
{
    struct mav_battery_status bs;
    memset(&bs, 0, sizeof bs);
    bs.battery_function = 1; /* MAV_BATTERY_FUNCTION_ALL */
    bs.type = 1;             /* MAV_BATTERY_TYPE_LIPO */
    for (int i = 0; i < 10; i++)
        bs.voltages[i] = UINT16_MAX;
    for (int i = 0; i < 4; i++)
        bs.voltages_ext[i] = 0;
    const struct sim_battery *b = power_pack(d);
    if (!b) {
        /* On backup power with the bay empty: nothing to report. */
        bs.temperature = INT16_MAX;
        bs.current_battery = -1;
        bs.current_consumed = -1;
        bs.energy_consumed = -1;
        bs.battery_remaining = -1;
        bs.mode = 2; /* MAV_BATTERY_MODE_HOT_SWAP */
        emit(d, MAV_MSG_BATTERY_STATUS, &bs);
        return;
    }
    if (sim_sensor_missing(&d->sensor))
        return;  /* the power module's report went missing */
    double i = pack_current(d);
    double v = sim_battery_voltage(b, i);
    int cells = b->cells > 0 && b->cells <= 10 ? b->cells : 1;
    for (int c = 0; c < cells; c++)
        bs.voltages[c] = (uint16_t)lround(sim_sensor_cell(&d->sensor, v / cells) * 1000.0);
    bs.temperature = (int16_t)lround(sim_sensor_temp(&d->sensor, b->temp_degC) * 100.0);
    bs.current_battery = (int16_t)lround(sim_sensor_current(&d->sensor, i) * 100.0);
    /* Consumed since power-up as the module counted it (never below 0). */
    double counted = d->sensor.counter_mAh > 0 ? d->sensor.counter_mAh : 0.0;
    bs.current_consumed = (int32_t)lround(counted);
    bs.energy_consumed = -1;
    double soc = b->soc < 0 ? 0 : b->soc > 1 ? 1 : b->soc;
    bs.battery_remaining = (int8_t)lround(soc * 100.0);
    bs.charge_state = soc < d->cfg.critical_soc ? 3 : soc < d->cfg.return_soc ? 2 : 1;
    emit(d, MAV_MSG_BATTERY_STATUS, &bs);
}

static void send_battery_info(struct sim_drone *d)
{
    const struct sim_battery *b = power_pack(d);
    if (!b)
        return;
    struct mav_smart_battery_info si;
    memset(&si, 0, sizeof si);
    si.capacity_full_specification = (int32_t)lround(b->rated_ah * 1000.0);
    si.capacity_full = -1; /* the station estimates capacity itself */
    si.cycle_count = (uint16_t)lround(b->efc);
    si.weight = UINT16_MAX;
    si.discharge_min_v = (uint16_t)(b->cells * 3000);
    si.charging_min_v = UINT16_MAX;
    si.resting_min_v = UINT16_MAX;
    si.battery_function = 1;
    si.type = 1;
    dproto_pack_serial(b->tag, si.serial_number);
    snprintf(si.device_name, sizeof si.device_name, "swap pack %dS", b->cells);
    si.charging_max_v = (uint16_t)(b->cells * 4200);
    si.cells_in_series = (uint8_t)b->cells;
    emit(d, MAV_MSG_SMART_BATTERY_INFO, &si);
}

static void send_telemetry(struct sim_drone *d)
{
    send_heartbeat(d);
    send_ext_state(d);
    send_battery_status(d);
}

static void send_request(struct sim_drone *d)
{
    struct dproto_swap_request r = { .remaining_pct = -1,
                                     .version = mis_active(d, SIM_DRONE_MIS_BAD_VERSION) ? DPROTO_VERSION + 1
                                                                                         : DPROTO_VERSION };
    if (d->has_battery) {
        double soc = d->battery.soc < 0 ? 0 : d->battery.soc;
        r.remaining_pct = (float)(soc * 100.0);
        r.pack_tag = d->battery.tag;
        r.voltage_v = (float)sim_battery_voltage(&d->battery, d->current_a);
        if (soc < d->cfg.critical_soc)
            r.flags |= DPROTO_REQ_CRITICAL;
    }
    if (d->cfg.critical && d->count.swaps == 0)
        r.flags |= DPROTO_REQ_CRITICAL;
    if (d->cfg.hot_swap)
        r.flags |= DPROTO_REQ_HOT_SWAP;
    struct mav_command_long cmd;
    uint8_t conf = (uint8_t)(d->req_attempt > 255 ? 255 : d->req_attempt);
    dproto_build_swap_request(&r, d->station_sysid, d->station_compid, conf, &cmd);
    emit(d, MAV_MSG_COMMAND_LONG, &cmd);
    d->count.requests_sent++;
}

/* ---- state machine --------------------------------------------------------------- */

static void set_load(struct sim_drone *d, double current_a)
{
    if (d->pad.set_load)
        d->pad.set_load(d->pad.ctx, current_a);
}

/* Every transition passes here, so the log holds the drone's whole story. */
static void go(struct sim_drone *d, enum sim_drone_state to, uint32_t after_ms)
{
    struct sim_drone_transition *t = &d->log[d->n_log % SIM_DRONE_LOG];
    t->t_ms = d->now_ms;
    t->from = d->state;
    t->to = to;
    d->n_log++;
    bool was_powered = sim_drone_powered(d);
    d->state = to;
    d->state_since_ms = d->now_ms;
    d->deadline_ms = after_ms ? d->now_ms + after_ms : 0;
    if (!was_powered && sim_drone_powered(d)) {
        d->next_telemetry_ms = d->now_ms;
        d->sensor.counter_mAh = 0.0;  /* the power module counts from power-up */
    }
    switch (to) {
    case SIM_DRONE_REQUESTING:
        d->req_attempt = 0;
        d->next_req_ms = d->now_ms;
        break;
    case SIM_DRONE_LANDED: set_load(d, d->cfg.idle_current_a); break;
    case SIM_DRONE_DISARMED: set_load(d, d->cfg.pad_current_a); break;
    case SIM_DRONE_BAY_EMPTY: set_load(d, 0); break;
    case SIM_DRONE_WAIT_TAKEOFF: set_load(d, d->cfg.pad_current_a); break;
    default: break;
    }
    if (states[to].on_pad && !states[t->from].on_pad)
        d->next_poll_ms = d->now_ms;
}

static bool station_lost(const struct sim_drone *d)
{
    return d->station_heard && d->now_ms >= d->last_station_ms + d->cfg.link_lost_ms;
}

static double flight_current(struct sim_drone *d, double dt_s)
{
    const struct sim_drone_cfg *c = &d->cfg;
    if (d->state == SIM_DRONE_TAKING_OFF)
        return c->takeoff_current_a;
    double i = c->hover_current_a + c->current_noise_a * sim_rng_normal(&d->rng);
    if (d->burst_left_s > 0) {
        i += c->burst_current_a;
        d->burst_left_s -= dt_s;
    } else if (sim_rng_uniform(&d->rng) < c->burst_rate_per_s * dt_s) {
        d->burst_left_s = c->burst_s;
    }
    return i < 0 ? 0 : i;
}

static void physics(struct sim_drone *d, uint64_t now_ms)
{
    while (d->phys_ms + PHYS_SLICE_MS <= now_ms) {
        const double dt = PHYS_SLICE_MS / 1000.0;
        /* The pack lives battery_time_scale of its slices per slice of the drone. */
        int k_bat = d->cfg.battery_time_scale > 1 ? d->cfg.battery_time_scale : 1;
        if (states[d->state].airborne && d->has_battery) {
            for (int k = 0; k < k_bat; k++) {
                double i = flight_current(d, dt);
                sim_battery_step(&d->battery, i, dt, d->cfg.ambient_degC);
                d->current_a = i;
                d->consumed_mah += i * dt / 3.6;
                sim_sensor_count(&d->sensor, i, dt);
            }
            d->air_ms += PHYS_SLICE_MS;
        } else if (sim_drone_powered(d) && power_pack(d)) {
            sim_sensor_count(&d->sensor, pack_current(d), dt * k_bat);
        }
        d->phys_ms += PHYS_SLICE_MS;
    }
}

static void poll_bay(struct sim_drone *d)
{
    if (d->now_ms < d->next_poll_ms)
        return;
    d->next_poll_ms = d->now_ms + d->cfg.poll_ms;
    bool has = false;
    struct sim_battery b;
    if (!d->pad.battery_in_bay || d->pad.battery_in_bay(d->pad.ctx, &b, &has) != 0)
        return; /* the pad could not be felt: keep the last impression */
    d->bay_has_battery = has;
    if (has)
        d->bay = b;
}

static void touchdown(struct sim_drone *d)
{
    int rc = d->pad.land ? d->pad.land(d->pad.ctx, d->has_battery ? &d->battery : NULL) : -1;
    if (rc == -2) {
        /* the plant model is not there (a restarting swapsim) or holds the landing: try
         * again shortly, hovering meanwhile */
        d->deadline_ms = d->now_ms + PAD_RETRY_MS;
        return;
    }
    if (rc != 0) {
        d->count.go_arounds++;
        send_text(d, 4, "pad occupied: going around");
        go(d, SIM_DRONE_REQUESTING, 0);
        d->next_req_ms = d->now_ms + d->cfg.retry_denied_ms;
        return;
    }
    d->bay = d->battery;
    d->bay_has_battery = d->has_battery;
    d->start_tag = d->has_battery ? d->battery.tag : 0;
    d->has_battery = false;
    d->current_a = 0;
    go(d, SIM_DRONE_LANDED, d->cfg.disarm_ms);
}

static void powered_up(struct sim_drone *d)
{
    go(d, SIM_DRONE_WAIT_TAKEOFF, 0);
    if (d->bay_has_battery && d->bay.tag != d->start_tag)
        d->count.swaps++;
    send_telemetry(d);
    send_battery_info(d);
    d->next_telemetry_ms = d->now_ms + d->cfg.telemetry_ms;
    d->next_info_ms = d->now_ms + d->cfg.info_ms;
}

/* Below this charge a drone cannot wait any longer for the station and lands where it is. */
#define EXHAUSTED_SOC 0.03

static void run_state(struct sim_drone *d)
{
    bool due = d->deadline_ms && d->now_ms >= d->deadline_ms;
    if (states[d->state].airborne && d->state != SIM_DRONE_TAKING_OFF && d->has_battery &&
        d->battery.soc < EXHAUSTED_SOC) {
        send_text(d, 1, "battery exhausted: landing off-station");
        go(d, SIM_DRONE_DIVERTED, 0);
        return;
    }
    switch (d->state) {
    case SIM_DRONE_FLYING:
        if (d->cfg.max_swaps && d->count.swaps >= d->cfg.max_swaps) {
            send_text(d, 6, "swaps done: leaving the station");
            go(d, SIM_DRONE_DIVERTED, 0);
            break;
        }
        if (d->has_battery && (d->battery.soc < d->cfg.return_soc ||
                               (d->cfg.flight_s > 0 && (double)d->air_ms >= d->cfg.flight_s * 1000.0)))
            go(d, SIM_DRONE_RETURNING, d->cfg.return_ms ? d->cfg.return_ms : 1);
        break;
    case SIM_DRONE_RETURNING:
        if (due)
            go(d, SIM_DRONE_REQUESTING, 0);
        break;
    case SIM_DRONE_REQUESTING:
        if (d->now_ms >= d->next_req_ms) {
            send_request(d);
            d->req_attempt++;
            d->next_req_ms = d->now_ms + dproto_retry_delay_ms(d->req_attempt);
        }
        break;
    case SIM_DRONE_QUEUED:
        if (station_lost(d))
            go(d, SIM_DRONE_REQUESTING, 0);
        break;
    case SIM_DRONE_LANDING:
        if (station_lost(d)) {
            d->count.go_arounds++;
            go(d, SIM_DRONE_REQUESTING, 0);
        } else if (due) {
            touchdown(d);
        }
        break;
    case SIM_DRONE_LANDED:
        if (due)
            go(d, SIM_DRONE_DISARMED, 0);
        break;
    case SIM_DRONE_DISARMED:
    case SIM_DRONE_WAIT_TAKEOFF:
        if (d->takeoff_retry && d->now_ms >= d->next_poll_ms) {
            lift_off(d);
            break;
        }
        poll_bay(d);
        if (!d->bay_has_battery)
            go(d, SIM_DRONE_BAY_EMPTY, 0);
        break;
    case SIM_DRONE_BAY_EMPTY:
        poll_bay(d);
        if (d->bay_has_battery)
            go(d, SIM_DRONE_BOOTING, d->cfg.hot_swap ? d->cfg.hot_boot_ms + 1 : d->cfg.boot_ms + 1);
        break;
    case SIM_DRONE_BOOTING:
        poll_bay(d);
        if (!d->bay_has_battery)
            go(d, SIM_DRONE_BAY_EMPTY, 0);
        else if (due)
            powered_up(d);
        break;
    case SIM_DRONE_TAKING_OFF:
        if (due)
            go(d, SIM_DRONE_FLYING, 0);
        break;
    case SIM_DRONE_DIVERTED:
    default:
        break;
    }
}

static void send_cancel(struct sim_drone *d)
{
    struct dproto_cancel c = { .reason = DPROTO_REASON_NONE };
    struct mav_command_long cmd;
    dproto_build_cancel(&c, d->station_sysid, d->station_compid, 0, &cmd);
    emit(d, MAV_MSG_COMMAND_LONG, &cmd);
    d->count.cancels_sent++;
}

/* One-shot misbehaviours: fire at the first step inside their window at which the drone
 * is in a phase where they mean something. */
static void fire_once(struct sim_drone *d, size_t i)
{
    enum sim_drone_state s = d->state;
    bool asking = s == SIM_DRONE_REQUESTING || s == SIM_DRONE_QUEUED || s == SIM_DRONE_LANDING;
    if (d->mis[i].kind == SIM_DRONE_MIS_CANCEL &&
        (s == SIM_DRONE_QUEUED || s == SIM_DRONE_LANDING || s == SIM_DRONE_DISARMED || s == SIM_DRONE_WAIT_TAKEOFF)) {
        d->mis[i].armed_started = true;
        send_cancel(d);
        if (states[s].airborne) {
            /* It changed its mind: it asks again after the usual pause. */
            if (s == SIM_DRONE_LANDING)
                d->count.go_arounds++;
            go(d, SIM_DRONE_REQUESTING, 0);
            d->next_req_ms = d->now_ms + d->cfg.retry_denied_ms;
        }
    } else if (d->mis[i].kind == SIM_DRONE_MIS_DIVERT && asking) {
        d->mis[i].armed_started = true;
        send_text(d, 4, "diverting to another station");
        go(d, SIM_DRONE_DIVERTED, 0);
    }
}

static void update_mis(struct sim_drone *d)
{
    for (size_t i = 0; i < d->n_mis; i++) {
        if ((d->mis[i].kind == SIM_DRONE_MIS_CANCEL || d->mis[i].kind == SIM_DRONE_MIS_DIVERT) &&
            !d->mis[i].armed_started && d->now_ms >= d->mis[i].start_ms &&
            d->now_ms < d->mis[i].start_ms + d->mis[i].duration_ms && radio_up(d)) {
            fire_once(d, i);
            continue;
        }
        if (d->mis[i].kind != SIM_DRONE_MIS_REARM || d->mis[i].armed_started)
            continue;
        bool disarmed_on_pad = states[d->state].on_pad && !states[d->state].armed &&
                               sim_drone_powered(d);
        if (d->now_ms >= d->mis[i].start_ms && disarmed_on_pad) {
            d->mis[i].armed_started = true;
            d->mis[i].start_ms = d->now_ms;
            d->next_telemetry_ms = d->now_ms; /* say so at once */
        }
    }
}

void sim_drone_step(struct sim_drone *d, uint64_t now_ms)
{
    if (now_ms < d->now_ms)
        now_ms = d->now_ms;
    d->now_ms = now_ms;
    physics(d, now_ms);
    update_mis(d);
    /* A few passes let a chain of immediate transitions settle within one step. */
    for (int pass = 0; pass < 4; pass++) {
        enum sim_drone_state before = d->state;
        run_state(d);
        if (d->state == before)
            break;
    }
    update_mis(d);
    if (sim_drone_powered(d) && d->now_ms >= d->next_telemetry_ms) {
        send_telemetry(d);
        d->next_telemetry_ms = d->now_ms + d->cfg.telemetry_ms;
    }
    if (d->state == SIM_DRONE_WAIT_TAKEOFF && d->now_ms >= d->next_info_ms) {
        send_battery_info(d);
        d->next_info_ms = d->now_ms + d->cfg.info_ms;
    }
}

static void consider(uint64_t *best, uint64_t t, uint64_t now)
{
    if (t < now)
        t = now;
    if (t < *best)
        *best = t;
}

uint64_t sim_drone_next_deadline(const struct sim_drone *d)
{
    uint64_t now = d->now_ms, best = UINT64_MAX;
    if (d->deadline_ms)
        consider(&best, d->deadline_ms, now);
    if (sim_drone_powered(d))
        consider(&best, d->next_telemetry_ms, now);
    if (states[d->state].airborne)
        consider(&best, now + AIR_CHECK_MS, now);
    if (d->state == SIM_DRONE_REQUESTING)
        consider(&best, d->next_req_ms, now);
    if ((d->state == SIM_DRONE_QUEUED || d->state == SIM_DRONE_LANDING) && d->station_heard)
        consider(&best, d->last_station_ms + d->cfg.link_lost_ms, now);
    if (states[d->state].on_pad && d->state != SIM_DRONE_LANDED)
        consider(&best, d->next_poll_ms, now);
    if (d->state == SIM_DRONE_WAIT_TAKEOFF)
        consider(&best, d->next_info_ms, now);
    for (size_t i = 0; i < d->n_mis; i++) {
        uint64_t s = d->mis[i].start_ms, e = s + d->mis[i].duration_ms;
        if (s > now)
            consider(&best, s, now);
        if (e > now)
            consider(&best, e, now);
    }
    return best == UINT64_MAX ? now + AIR_CHECK_MS : best;
}

/* ---- input --------------------------------------------------------------------------- */

static void on_land_clearance(struct sim_drone *d, const struct mav_command_long *cmd)
{
    if (mis_active(d, SIM_DRONE_MIS_NO_ACK))
        return;
    struct dproto_land_clearance c;
    if (dproto_parse_land_clearance(cmd, &c) != 0) {
        send_ack(d, cmd->command, DPROTO_REPLY_DENIED, DPROTO_REASON_BAD_REQUEST);
        return;
    }
    switch (d->state) {
    case SIM_DRONE_REQUESTING:
    case SIM_DRONE_QUEUED:
        send_ack(d, cmd->command, DPROTO_REPLY_ACCEPTED, 0);
        go(d, SIM_DRONE_LANDING, d->cfg.landing_ms ? d->cfg.landing_ms : 1);
        break;
    case SIM_DRONE_LANDING:
    case SIM_DRONE_LANDED:
    case SIM_DRONE_DISARMED:
        send_ack(d, cmd->command, DPROTO_REPLY_ACCEPTED, 0); /* our ack was lost */
        break;
    default:
        send_ack(d, cmd->command, DPROTO_REPLY_DENIED, DPROTO_REASON_NOT_READY);
        break;
    }
}

static void on_takeoff_clearance(struct sim_drone *d, const struct mav_command_long *cmd)
{
    struct dproto_takeoff_clearance c;
    if (dproto_parse_takeoff_clearance(cmd, &c) != 0) {
        send_ack(d, cmd->command, DPROTO_REPLY_DENIED, DPROTO_REASON_BAD_REQUEST);
        return;
    }
    if (d->state == SIM_DRONE_TAKING_OFF || d->state == SIM_DRONE_FLYING) {
        send_ack(d, cmd->command, DPROTO_REPLY_ACCEPTED, 0); /* our ack was lost */
        return;
    }
    /* From DISARMED: the station gave up on the swap and sends the drone off on its
     * old pack. */
    if (d->state != SIM_DRONE_WAIT_TAKEOFF && d->state != SIM_DRONE_DISARMED) {
        send_ack(d, cmd->command, DPROTO_REPLY_DENIED, DPROTO_REASON_NOT_READY);
        return;
    }
    send_ack(d, cmd->command, DPROTO_REPLY_ACCEPTED, 0);
    lift_off(d);
}

/* Leaves the pad (after an acked CLEARED_TAKEOFF). A pad that cannot be reached (the
 * plant model restarting) does not hold a real drone: it tries again shortly. */
static void lift_off(struct sim_drone *d)
{
    struct sim_battery b;
    bool has = false;
    int rc = d->pad.takeoff ? d->pad.takeoff(d->pad.ctx, &b, &has) : -3;
    d->takeoff_retry = false;
    if (rc == -2) {
        d->count.takeoff_refused++;
        send_text(d, 2, "take-off failed: held on the pad");
        return;
    }
    if (rc == -3 && d->pad.takeoff) {
        /* the plant model did not answer (restarting): nothing holds the drone */
        d->takeoff_retry = true;
        d->next_poll_ms = d->now_ms + PAD_RETRY_MS;
        send_text(d, 3, "take-off failed: pad not reachable (trying again)");
        return;
    }
    if (rc != 0) {
        send_text(d, 3, "take-off failed: pad not reachable");
        return;
    }
    d->has_battery = has;
    if (has)
        d->battery = b;
    d->bay_has_battery = false;
    d->air_ms = 0;
    d->consumed_mah = 0;
    d->count.takeoffs++;
    go(d, SIM_DRONE_TAKING_OFF, d->cfg.takeoff_ms ? d->cfg.takeoff_ms : 1);
}

static void on_cancel(struct sim_drone *d, const struct mav_command_long *cmd)
{
    struct dproto_cancel c;
    if (dproto_parse_cancel(cmd, &c) != 0) {
        send_ack(d, cmd->command, DPROTO_REPLY_DENIED, DPROTO_REASON_BAD_REQUEST);
        return;
    }
    switch (d->state) {
    case SIM_DRONE_REQUESTING:
    case SIM_DRONE_QUEUED:
    case SIM_DRONE_LANDING:
        send_ack(d, cmd->command, DPROTO_REPLY_ACCEPTED, 0);
        if (d->state == SIM_DRONE_LANDING)
            d->count.go_arounds++;
        d->last_reason = c.reason;
        if (dproto_reason_is_final(c.reason)) {
            go(d, SIM_DRONE_DIVERTED, 0);
        } else {
            go(d, SIM_DRONE_REQUESTING, 0);
            d->next_req_ms = d->now_ms + d->cfg.retry_denied_ms;
        }
        break;
    default:
        send_ack(d, cmd->command, DPROTO_REPLY_DENIED, DPROTO_REASON_NOT_READY);
        break;
    }
}

static void on_command(struct sim_drone *d, const struct mav_command_long *cmd)
{
    struct dproto_progress p;
    switch (cmd->command) {
    case DPROTO_CMD_CLEARED_TO_LAND: on_land_clearance(d, cmd); break;
    case DPROTO_CMD_CLEARED_TAKEOFF: on_takeoff_clearance(d, cmd); break;
    case DPROTO_CMD_CANCEL: on_cancel(d, cmd); break;
    case DPROTO_CMD_SWAP_PROGRESS:
        if (dproto_parse_progress(cmd, &p) == 0) {
            d->progress_step = p.step;
            d->progress_steps = p.n_steps;
            send_ack(d, cmd->command, DPROTO_REPLY_ACCEPTED, 0);
        } else {
            send_ack(d, cmd->command, DPROTO_REPLY_DENIED, DPROTO_REASON_BAD_REQUEST);
        }
        break;
    default: {
        struct mav_command_ack ack = { .command = cmd->command, .result = MAV_RESULT_UNSUPPORTED,
                                       .target_system = d->station_sysid,
                                       .target_component = d->station_compid };
        emit(d, MAV_MSG_COMMAND_ACK, &ack);
        break;
    }
    }
}

static void on_ack(struct sim_drone *d, const struct mav_command_ack *ack)
{
    struct dproto_reply r;
    if (ack->command != DPROTO_CMD_SWAP_REQUEST || dproto_parse_ack(ack, &r) != 0)
        return;
    if (d->state != SIM_DRONE_REQUESTING && d->state != SIM_DRONE_QUEUED)
        return;
    switch (r.kind) {
    case DPROTO_REPLY_ACCEPTED:
        d->queue_position = 0;
        if (d->state == SIM_DRONE_REQUESTING)
            go(d, SIM_DRONE_QUEUED, 0);
        break;
    case DPROTO_REPLY_QUEUED:
        d->queue_position = r.queue_position;
        if (d->state == SIM_DRONE_REQUESTING)
            go(d, SIM_DRONE_QUEUED, 0);
        break;
    case DPROTO_REPLY_DENIED:
    case DPROTO_REPLY_BUSY:
        d->count.denials++;
        d->last_reason = r.reason;
        if (r.kind == DPROTO_REPLY_DENIED && dproto_reason_is_final(r.reason)) {
            go(d, SIM_DRONE_DIVERTED, 0);
        } else {
            if (d->state != SIM_DRONE_REQUESTING)
                go(d, SIM_DRONE_REQUESTING, 0);
            d->next_req_ms = d->now_ms + d->cfg.retry_denied_ms;
        }
        break;
    case DPROTO_REPLY_FAILED:
    default:
        break; /* the retry schedule asks again */
    }
}

void sim_drone_handle_frame(struct sim_drone *d, const struct mav_frame *f, uint64_t now_ms)
{
    sim_drone_step(d, now_ms);
    if (!radio_up(d))
        return;
    d->count.frames_in++;
    if (f->msgid == MAV_MSG_HEARTBEAT) {
        struct mav_heartbeat hb;
        struct dproto_station_status st;
        if (mav_decode(f, &hb) == 0 && dproto_parse_station_heartbeat(&hb, &st) == 0 &&
            !d->station_heard && d->cfg.station_sysid == 0) {
            d->station_sysid = f->sysid;
            d->station_compid = f->compid;
        }
    }
    bool from_station = d->station_sysid != 0 && f->sysid == d->station_sysid;
    if (!from_station) {
        d->count.frames_ignored++;
        return;
    }
    d->station_heard = true;
    d->last_station_ms = d->now_ms;
    if (f->msgid == MAV_MSG_COMMAND_LONG) {
        struct mav_command_long cmd;
        if (mav_decode(f, &cmd) != 0 || !dproto_is_for(&cmd, d->cfg.sysid, d->cfg.compid)) {
            d->count.frames_ignored++;
            return;
        }
        d->station_compid = f->compid;
        on_command(d, &cmd);
    } else if (f->msgid == MAV_MSG_COMMAND_ACK) {
        struct mav_command_ack ack;
        if (mav_decode(f, &ack) != 0 ||
            (ack.target_system != 0 && ack.target_system != d->cfg.sysid)) {
            d->count.frames_ignored++;
            return;
        }
        on_ack(d, &ack);
    }
    /* Commands may have changed the state: settle it at once. */
    sim_drone_step(d, now_ms);
}

size_t sim_drone_take_output(struct sim_drone *d, uint8_t *buf, size_t size)
{
    size_t n = d->out_len < size ? d->out_len : size;
    memcpy(buf, d->out, n);
    memmove(d->out, d->out + n, d->out_len - n);
    d->out_len -= n;
    return n;
}

void sim_drone_init(struct sim_drone *d, const struct sim_drone_cfg *cfg,
                    const struct sim_drone_pad *pad, const struct sim_battery *battery,
                    uint64_t seed, struct mav_signing *signing, uint64_t now_ms)
{
    memset(d, 0, sizeof *d);
    d->cfg = *cfg;
    if (pad)
        d->pad = *pad;
    sim_rng_seed(&d->rng, seed);
    sim_sensor_init(&d->sensor, &cfg->sensor, seed ^ 0xD20E5E4503ull);
    d->tx.sysid = cfg->sysid;
    d->tx.compid = cfg->compid;
    d->signing = signing;
    d->tx.signing = signing;
    d->station_sysid = cfg->station_sysid;
    d->station_compid = cfg->station_compid;
    d->state = SIM_DRONE_FLYING;
    d->now_ms = d->state_since_ms = d->phys_ms = now_ms;
    d->next_telemetry_ms = now_ms;
    if (battery) {
        d->battery = *battery;
        d->has_battery = true;
    }
    d->current_a = cfg->hover_current_a;
}
