/* The console's requests (docs/control-protocol.md), answered from the scan's state.
 * Reads answer at once; commands are checked against the PackML table and the unit
 * mode, queued for the next scan, and answered with the state they lead to. Commands
 * are refused, and logged, for callers outside the configured users and groups. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "droneproto/dproto.h"
#include "swapd.h"

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static void pack_id(uint32_t tag, char out[CTLPROTO_BATTERY_ID_SIZE])
{
    ctlproto_format_battery_id(tag, out);
}

static const char *charge_name(const struct station_slot_in *s)
{
    if (!s->present)
        return "empty";
    switch (s->chg_state) {
    case CHARGER_IDLE: return "idle";
    case CHARGER_CC: return "cc";
    case CHARGER_CV: return "cv";
    case CHARGER_DONE: return "done";
    case CHARGER_FAULT: return "fault";
    case CHARGER_STORAGE: return "storage";
    default: return "off";
    }
}

static double pack_soc_pct(const struct swapd *d, const struct station_slot_in *s)
{
    if (s->chg_state == CHARGER_DONE)
        return 100.0;
    double cells = d->plant.battery_cells > 0 ? d->plant.battery_cells : 1;
    double ocv = s->voltage_mV / 1000.0 - (s->current_mA / 1000.0) * (d->health.dcir_rated_mohm / 1000.0);
    return 100.0 * health_soc_from_ocv(ocv / cells);
}

static json_t *timing_json(const struct plantlink_timing *t)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)t->n, "mean_ms", t->mean_ms, "p50_ms", t->p50_ms,
                     "p99_ms", t->p99_ms, "max_ms", t->max_ms);
}

/* The fast loop as measured on the wire (plantlink_get_timing). */
static json_t *link_timing_json(struct plantlink *l)
{
    struct plantlink_timing per, ex;
    plantlink_get_timing(l, &per, &ex);
    return json_pack("{s:o, s:o}", "period", timing_json(&per), "exchange", timing_json(&ex));
}

static json_t *do_status(struct swapd *d)
{
    const struct station_outputs *o = &d->out;
    const struct swapseq_chain *chain = d->core.chain;
    int idx = 0, count = chain ? chain->n_steps : 0;
    double pct = 0, eta = NAN;
    if (chain && d->core.chain_pos >= 0) {
        idx = d->core.chain_pos + 1;
        pct = 100.0 * d->core.chain_pos / (count ? count : 1);
        double rest_ms = 0;
        for (int i = d->core.chain_pos; i < count; i++)
            rest_ms += swapseq_nominal_ms(chain->steps[i], &d->plant, &d->core.ctx, &d->in.plant);
        eta = rest_ms / 1000.0;
    }
    int n_alarms = 0;
    for (uint64_t m = o->alarms_active; m; m &= m - 1)
        n_alarms++;
    int64_t now = swapd_wall_ms(d, d->core.now_ms);
    json_t *r = json_pack("{s:s, s:s, s:o, s:i, s:i, s:f, s:o, s:o, s:o, s:i, s:I}",
                          "state", station_state_name(o->state), "mode", ctlproto_modes[o->mode],
                          "step", o->step >= 0 ? json_string(swapseq_name(o->step)) : json_null(),
                          "step_index", idx, "step_count", count, "progress_pct", pct,
                          "eta_s", num_or_null(eta), "swap_id",
                          persist_swap_id(d->persist) > 0 ? json_integer(persist_swap_id(d->persist)) : json_null(),
                          "drone", o->serving_sysid ? json_integer(o->serving_sysid) : json_null(),
                          "alarms_active", n_alarms, "time_ms", (json_int_t)now);
    if (r) {
        json_object_set_new(r, "swaps", json_integer(d->core.swaps_done));
        json_object_set_new(r, "last_onpad_s", json_real(d->core.last_onpad_ms / 1000.0));
        json_object_set_new(r, "onpad_lower_bound_s", json_real(plantcfg_onpad_lower_bound_s(&d->plant)));
        json_object_set_new(r, "reconciled", json_boolean(o->reconciled));
        json_object_set_new(r, "plant_link", json_string(d->plant_status.connected ? "up" : "down"));
        if (d->plantlink)
            json_object_set_new(r, "plant_link_timing", link_timing_json(d->plantlink));
        json_object_set_new(r, "scan_ms", json_integer(d->shell.scan_period_ms));
        json_object_set_new(r, "scan", swapd_scan_stats_json(&d->stats));
    }
    return r;
}

static json_t *do_slots(struct swapd *d)
{
    json_t *arr = json_array();
    for (int s = 0; s < d->plant.n_slots; s++) {
        const struct station_slot_in *sl = &d->in.plant.slot[s];
        json_t *battery = json_null(), *soh = json_null();
        if (sl->present && sl->tag_ok && sl->tag) {
            char id[17];
            pack_id(sl->tag, id);
            json_decref(battery);
            battery = json_string(id);
            struct swapd_pack *p = swapd_pack_find(d, sl->tag);
            if (p && p->rated_mah > 0) {
                json_decref(soh);
                soh = json_real(100.0 * p->capacity_mah / p->rated_mah);
            }
        }
        json_t *e = json_pack("{s:i, s:o, s:o, s:o, s:o, s:s}", "slot", s + 1, "battery", battery,
                              "soc_pct", sl->present ? json_real(pack_soc_pct(d, sl)) : json_null(),
                              "soh_pct", soh, "temp_degC",
                              sl->present && sl->temp_ok && !sl->telemetry_stale ? json_real(sl->temp_degC) : json_null(),
                              "charge", charge_name(sl));
        if (e) {
            json_object_set_new(e, "voltage_mV", json_integer(sl->voltage_mV));
            json_object_set_new(e, "current_mA", json_integer(sl->current_mA));
            json_array_append_new(arr, e);
        }
    }
    return json_pack("{s:o}", "slots", arr);
}

/* The registry's record of a pack, read at most once a second per pack: a client asking
 * for the inventory in a loop must not put a database query per pack into every scan. */
#define REG_CACHE_MS 1000
#define REG_CACHE_SIZE 64        /* packs whose record is cached (a cache, not a limit) */

static struct {
    uint32_t tag;
    bool have;
    uint64_t read_ms;
    struct registry_battery b;
} reg_cache[REG_CACHE_SIZE];

static bool registry_battery_cached(struct swapd *d, uint32_t tag, struct registry_battery *out)
{
    int slot = -1, oldest = 0;
    for (int i = 0; i < REG_CACHE_SIZE; i++) {
        if (reg_cache[i].tag == tag) {
            slot = i;
            break;
        }
        if (reg_cache[i].read_ms < reg_cache[oldest].read_ms)
            oldest = i;
    }
    uint64_t now = d->core.now_ms;
    if (slot >= 0 && reg_cache[slot].read_ms && now - reg_cache[slot].read_ms < REG_CACHE_MS) {
        *out = reg_cache[slot].b;
        return reg_cache[slot].have;
    }
    if (slot < 0)
        slot = oldest;
    reg_cache[slot].tag = tag;
    reg_cache[slot].read_ms = now ? now : 1;
    reg_cache[slot].have = d->reader && registry_get_battery(d->reader, tag, &reg_cache[slot].b) == 0;
    *out = reg_cache[slot].b;
    return reg_cache[slot].have;
}

static void registry_cache_forget(uint32_t tag)
{
    for (int i = 0; i < REG_CACHE_SIZE; i++)
        if (reg_cache[i].tag == tag)
            reg_cache[i].read_ms = 0;
}

static json_t *battery_json(struct swapd *d, const struct swapd_pack *p)
{
    char id[17], loc[48];
    pack_id(p->tag, id);
    registry_location_format(p->loc, loc, sizeof loc);
    struct registry_battery b;
    bool have = registry_battery_cached(d, p->tag, &b);
    double soc = NAN;
    if (p->loc.place == REGISTRY_PLACE_SLOT && p->loc.index >= 1 && p->loc.index <= d->plant.n_slots) {
        const struct station_slot_in *sl = &d->in.plant.slot[p->loc.index - 1];
        if (sl->present && sl->tag == p->tag)
            soc = pack_soc_pct(d, sl);
    }
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:f, s:i, s:o}", "battery", id, "status",
                     registry_status_name(p->status), "reason",
                     have && b.status_reason[0] ? json_string(b.status_reason) : json_null(),
                     "location", loc, "soc_pct", num_or_null(soc), "soh_pct",
                     p->rated_mah > 0 ? json_real(100.0 * p->capacity_mah / p->rated_mah) : json_null(),
                     "dcir_mohm", p->dcir_mohm > 0 ? json_real(p->dcir_mohm) : json_null(), "efc",
                     p->efc, "charges", have ? b.charge_count : 0, "temp_max_degC",
                     have && b.peak_temp_degC > -100 ? json_real(b.peak_temp_degC) : json_null());
}

static json_t *do_batteries(struct swapd *d, const json_t *req)
{
    const char *only = json_string_value(json_object_get(req, "battery"));
    uint32_t tag = 0;
    if (only && ctlproto_parse_battery_id(only, &tag) != 0)
        return ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT,
                                    "\"%s\" is not a battery id; ids look like SWP-5A000001 (5A000001 and "
                                    "0x5A000001 work too; see swapctl batteries)", only);
    json_t *arr = json_array();
    for (int i = 0; i < d->n_packs; i++)
        if (!only || d->packs[i].tag == tag)
            json_array_append_new(arr, battery_json(d, &d->packs[i]));
    struct registry_battery b;
    if (only && json_array_size(arr) == 0 && d->reader && registry_get_battery(d->reader, tag, &b) == 0) {
        /* outside the working set (retired): as the registry has it */
        struct swapd_pack p = { .tag = b.tag, .loc = b.loc, .status = b.status, .capacity_mah = b.capacity_mah,
                                .rated_mah = b.rated_mah, .dcir_mohm = b.dcir_mohm, .efc = b.efc };
        json_array_append_new(arr, battery_json(d, &p));
    }
    if (only && json_array_size(arr) == 0) {
        char id[CTLPROTO_BATTERY_ID_SIZE];
        ctlproto_format_battery_id(tag, id);
        json_decref(arr);
        return ctlproto_reply_error(req, CTLPROTO_ERR_NOT_FOUND,
                                    "no battery %s in the registry; list them with swapctl batteries", id);
    }
    return ctlproto_reply_ok(req, json_pack("{s:o}", "batteries", arr));
}

/* What the drone is doing for the station: the link's phase (the pad's load cell decides
 * "on_pad"), else what the drone reports. */
static const char *drone_state(const struct swapd *d, const struct dronelink_drone *dr)
{
    uint64_t now = d->core.now_ms;
    if (dr->phase == DRONELINK_ON_PAD)
        return "on_pad";
    if (!dr->last_heartbeat_ms || now - dr->last_heartbeat_ms > (uint64_t)d->station_cfg.drone_heartbeat_timeout_ms)
        return "silent";
    if (dr->phase == DRONELINK_CLEARED)
        return "cleared";
    if (dr->phase == DRONELINK_QUEUED)
        return "queued";
    switch (dr->landed_state) {
    case MAV_LANDED_IN_AIR: return "flying";
    case MAV_LANDED_ON_GROUND: return "on_ground";
    case MAV_LANDED_TAKEOFF: return "taking_off";
    case MAV_LANDED_LANDING: return "landing";
    default: return "unknown";
    }
}

static json_t *drone_battery_pct(const struct swapd *d, const struct dronelink_drone *dr)
{
    if (!dr->battery_report_ms || !dr->battery_mV)
        return json_null();
    double cells = d->plant.battery_cells > 0 ? d->plant.battery_cells : 1;
    return json_real(100.0 * health_soc_from_ocv(dr->battery_mV / 1000.0 / cells));
}

/* Every drone the link tracks; queue_pos and queue are the link's landing queue (the
 * drone cleared or on the pad is not in it, docs/drone-protocol.md §3). */
static json_t *do_drones(struct swapd *d)
{
    json_t *arr = json_array(), *queue = json_array();
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++) {
        const struct dronelink_drone *dr = &d->drones.drones[i];
        if (!dr->sysid)
            continue;
        bool stale = !dr->last_heartbeat_ms ||
                     d->core.now_ms - dr->last_heartbeat_ms > (uint64_t)d->station_cfg.drone_heartbeat_timeout_ms;
        char id[17];
        pack_id(dr->battery_tag, id);
        unsigned pos = dronelink_queue_position(&d->drones, dr->sysid);
        json_array_append_new(arr, json_pack("{s:i, s:s, s:b, s:o, s:o, s:o}", "sysid", dr->sysid,
                                             "state", drone_state(d, dr), "armed", dr->armed || stale,
                                             "battery", dr->battery_tag ? json_string(id) : json_null(),
                                             "battery_pct", drone_battery_pct(d, dr), "queue_pos",
                                             pos ? json_integer(pos) : json_null()));
    }
    uint8_t q[DRONELINK_MAX_DRONES];
    unsigned n = dronelink_queue(&d->drones, q, DRONELINK_MAX_DRONES);
    for (unsigned i = 0; i < n && i < DRONELINK_MAX_DRONES; i++)
        json_array_append_new(queue, json_integer(q[i]));
    return json_pack("{s:o, s:o}", "drones", arr, "queue", queue);
}

static json_t *do_alarms(struct swapd *d)
{
    json_t *arr = json_array();
    static const char *const sev[] = { "info", "warning", "fault", "critical" };
    for (int id = 0; id < DIAG_COUNT; id++) {
        if (!(d->out.alarms_active >> id & 1))
            continue;
        const struct diag_def *def = &diag_table[id];
        char text[512];
        const char *note = d->core.alarm_note[id];
        snprintf(text, sizeof text, "%s%s%s. %s", def->text, note[0] ? ": " : "", note, def->remedy ? def->remedy : "");
        int s = (int)def->severity;
        json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:s, s:I, s:b}", "id", id, "code",
                                             def->name, "severity", s >= 0 && s < 4 ? sev[s] : "fault",
                                             "text", text, "raised_ms",
                                             (json_int_t)d->alarm_raised_wall_ms[id],
                                             "acked", !(d->out.alarms_unacked >> id & 1)));
    }
    return json_pack("{s:o}", "alarms", arr);
}

static json_t *do_events_ring(struct swapd *d, const json_t *req);

/* ---- the event log: the registry's, paged --------------------------------------------- */

#define EVENTS_PAGE 500        /* events per reply when reading history oldest first */
#define EVENTS_NEWEST_MAX 1000 /* --limit N: at most this many newest events */

/* A registry event in the console's form; transitions ("state") get from/to/reason back
 * from their text "FROM -> TO: REASON". */
json_t *swapd_registry_event_json(const struct registry_event *e)
{
    json_t *ev = ctlproto_event(e->id, e->time_ms, e->source, e->text);
    const char *arrow = strstr(e->text, " -> ");
    const char *colon = arrow ? strstr(arrow + 4, ": ") : NULL;
    /* Transitions (swapd_transition) are stored as "from -> to: reason". */
    bool transition = !strcmp(e->source, "state") || !strcmp(e->source, "step") || !strcmp(e->source, "mode") ||
                      !strcmp(e->source, "drone");
    if (ev && transition && arrow && colon) {
        json_object_set_new(ev, "from", json_stringn(e->text, (size_t)(arrow - e->text)));
        json_object_set_new(ev, "to", json_stringn(arrow + 4, (size_t)(colon - arrow - 4)));
        json_object_set_new(ev, "reason", json_string(colon + 2));
    }
    return ev;
}

struct event_page {
    json_t *arr;
    int64_t last_id;
    bool prepend;
};

static int page_add(const struct registry_event *e, void *ctx)
{
    struct event_page *pg = ctx;
    json_t *j = swapd_registry_event_json(e);
    if (pg->prepend)
        json_array_insert_new(pg->arr, 0, j);
    else
        json_array_append_new(pg->arr, j);
    if (e->id > pg->last_id)
        pg->last_id = e->id;
    return 0;
}

static json_t *do_events(struct swapd *d, const json_t *req)
{
    if (!d->reader)
        return do_events_ring(d, req);
    json_int_t since = json_integer_value(json_object_get(req, "since_ms"));
    const json_t *jlimit = json_object_get(req, "limit");
    json_int_t after = json_integer_value(json_object_get(req, "after_seq"));
    bool follow = json_is_true(json_object_get(req, "follow"));
    struct event_page pg = { .arr = json_array() };
    bool more = false;
    int n;
    /* History ends where the followers' stream starts: at the last event sent to them. */
    if (jlimit && !json_object_get(req, "after_seq")) {
        json_int_t limit = json_integer_value(jlimit);
        if (limit > EVENTS_NEWEST_MAX)
            limit = EVENTS_NEWEST_MAX;
        pg.prepend = true;
        n = limit > 0 ? registry_page_events(d->reader, since, 0, d->event_tail_id, (int)limit, true, page_add, &pg)
                      : 0;
    } else {
        n = registry_page_events(d->reader, since, after, d->event_tail_id, EVENTS_PAGE, false, page_add, &pg);
        more = n == EVENTS_PAGE;
    }
    if (n < 0) {
        json_decref(pg.arr);
        return ctlproto_reply_error(req, CTLPROTO_ERR_INTERNAL, "reading the event log: %s",
                                    registry_last_error(d->reader));
    }
    return ctlproto_reply_ok(req, json_pack("{s:o, s:b, s:b}", "events", pg.arr, "following", follow && !more,
                                            "more", more));
}

/* Sends followers the events committed since the last call (bounded per scan); the
 * persistence worker read them, so the scan touches no database for this. */
void swapd_console_tail_events(struct swapd *d)
{
    if (!d->reader || !d->console || !d->persist)
        return;
    struct registry_event ev[32];
    int n = persist_take_events(d->persist, ev, 32, NULL);
    for (int i = 0; i < n; i++) {
        json_t *e = swapd_registry_event_json(&ev[i]);
        if (e)
            ctlsock_broadcast_event(d->console, e);
        json_decref(e);
        d->event_tail_id = ev[i].id;
    }
}

/* Without a registry reader: this run's events from memory. */
static json_t *do_events_ring(struct swapd *d, const json_t *req)
{
    json_int_t since = json_integer_value(json_object_get(req, "since_ms"));
    json_int_t limit = json_object_get(req, "limit") ? json_integer_value(json_object_get(req, "limit")) : 100;
    bool follow = json_is_true(json_object_get(req, "follow"));
    long long first = d->event_seq - SWAPD_EVENT_RING + 1;
    if (first < 1)
        first = 1;
    json_t *arr = json_array();
    for (long long seq = first; seq <= d->event_seq; seq++) {
        const struct swapd_event *e = &d->events[seq % SWAPD_EVENT_RING];
        if (e->seq != seq || e->t_ms < since)
            continue;
        json_array_append_new(arr, swapd_event_json(e));
    }
    while (limit >= 0 && json_array_size(arr) > (size_t)limit)
        json_array_remove(arr, 0);
    return ctlproto_reply_ok(req, json_pack("{s:o, s:b}", "events", arr, "following", follow));
}

/* ---- commands ---------------------------------------------------------------------- */

/* Refuses what in the current state, naming the states where it would be accepted. */
static json_t *refuse_state(struct swapd *d, const json_t *req, const char *what, const char *legal)
{
    return ctlproto_reply_error(req, CTLPROTO_ERR_ILLEGAL_STATE,
                                "%s is not possible in %s (only in %s); check the state with: swapctl status",
                                what, station_state_name(d->out.state), legal);
}

/* The states whose PackML table row accepts cmd, as "Execute, Suspended" (or "no state"). */
static void legal_states(int cmd, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int s = 0; s < ST_COUNT; s++) {
        if (station_states[s].on_cmd[cmd] == ST_NONE)
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", station_states[s].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (!used)
        snprintf(buf, size, "no state");
}

static json_t *queue_op(struct swapd *d, const json_t *req, const struct station_operator_in *op,
                        const char *to_state, const char *message)
{
    if (d->op_pending)
        return ctlproto_reply_error(req, CTLPROTO_ERR_ILLEGAL_STATE,
                                    "another command is being carried out; try again in a moment");
    d->op = *op;
    d->op_pending = true;
    return ctlproto_reply_command(req, to_state, message);
}

static json_t *do_packml(struct swapd *d, const json_t *req, const char *name)
{
    int cmd = station_cmd_from_name(name);
    if (cmd < 0)
        return ctlproto_reply_error(req, CTLPROTO_ERR_INTERNAL, "command %s unknown to the core", name);
    enum station_state to = station_states[d->out.state].on_cmd[cmd];
    if (to == ST_NONE) {
        char legal[256];
        legal_states(cmd, legal, sizeof legal);
        return refuse_state(d, req, name, legal);
    }
    struct station_operator_in op = { .cmd = (enum station_cmd)cmd, .op = STATION_OP_NONE };
    char msg[96];
    snprintf(msg, sizeof msg, "%s accepted: %s -> %s", name, station_state_name(d->out.state),
             station_state_name(to));
    return queue_op(d, req, &op, station_state_name(to), msg);
}

static json_t *do_mode(struct swapd *d, const json_t *req)
{
    const char *name = json_string_value(json_object_get(req, "mode"));
    int mode = station_mode_from_name(name);
    if (mode < 0)
        return ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT, "unknown mode \"%s\"", name);
    if (d->out.state != ST_STOPPED && d->out.state != ST_IDLE && d->out.state != ST_ABORTED)
        return refuse_state(d, req, "a mode change", "Stopped, Idle, Aborted");
    struct station_operator_in op = { .cmd = STATION_CMD_NONE, .op = STATION_OP_MODE,
                                      .mode = (enum station_mode)mode };
    return queue_op(d, req, &op, station_state_name(d->out.state), "mode change accepted");
}

static json_t *do_jog(struct swapd *d, const json_t *req)
{
    if (d->out.mode != STATION_MODE_MAINTENANCE && d->out.mode != STATION_MODE_MANUAL)
        return ctlproto_reply_error(req, CTLPROTO_ERR_WRONG_MODE,
                                    "jog needs maintenance mode: swapctl stop, then swapctl mode maintenance");
    const char *axis = json_string_value(json_object_get(req, "axis"));
    const json_t *t = json_object_get(req, "target");
    static const struct {
        const char *axis;
        enum station_jog_dev dev;
        const char *one, *zero; /* words for two-position devices */
    } map[] = {
        { "x", STATION_JOG_X_MM, NULL, NULL }, { "z", STATION_JOG_Z_MM, NULL, NULL },
        { "carousel", STATION_JOG_CAROUSEL, NULL, NULL },
        { "y", STATION_JOG_STROKE, "extend", "retract" }, { "wrist", STATION_JOG_WRIST_B, "b", "a" },
        { "gripper_a", STATION_JOG_GRIP_A, "close", "open" },
        { "gripper_b", STATION_JOG_GRIP_B, "close", "open" },
        { "centering", STATION_JOG_CENTER, "close", "open" }, { "clamp", STATION_JOG_CLAMP, "lock", "unlock" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i].axis, axis))
            continue;
        double v;
        if (map[i].one) {
            const char *w = json_string_value(t);
            if (w && !strcmp(w, map[i].one))
                v = 1;
            else if (w && !strcmp(w, map[i].zero))
                v = 0;
            else
                return ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT, "%s takes %s or %s", axis,
                                            map[i].one, map[i].zero);
        } else {
            if (!json_is_number(t))
                return ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT, "%s takes a number (%s)",
                                            axis, map[i].dev == STATION_JOG_CAROUSEL ? "slot 1.." : "mm");
            v = json_number_value(t);
            if (map[i].dev == STATION_JOG_CAROUSEL)
                v -= 1;  /* operators count slots from 1 */
        }
        struct station_operator_in op = { .cmd = STATION_CMD_NONE, .op = STATION_OP_JOG };
        op.jog.dev = map[i].dev;
        op.jog.value = v;
        return queue_op(d, req, &op, station_state_name(d->out.state), "jog accepted");
    }
    return ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT, "unknown axis \"%s\"", axis);
}

static json_t *do_status_change(struct swapd *d, const json_t *req, bool retire)
{
    const char *id = json_string_value(json_object_get(req, "battery"));
    uint32_t tag;
    if (ctlproto_parse_battery_id(id, &tag) != 0)
        return ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT,
                                    "\"%s\" is not a battery id; ids look like SWP-5A000001 (5A000001 and "
                                    "0x5A000001 work too; see swapctl batteries)", id ? id : "");
    struct swapd_pack *p = swapd_pack_find(d, tag);
    char norm[CTLPROTO_BATTERY_ID_SIZE];
    ctlproto_format_battery_id(tag, norm);
    if (!p)
        return ctlproto_reply_error(req, CTLPROTO_ERR_NOT_FOUND,
                                    "no battery %s; list them with swapctl batteries", norm);
    const char *reason = retire ? json_string_value(json_object_get(req, "reason")) : "returned to service by an operator";
    struct persist_job j = { .kind = PERSIST_SET_STATUS, .t_ms = swapd_wall_ms(d, d->core.now_ms), .tag = tag,
                             .status = retire ? REGISTRY_RETIRED : REGISTRY_IN_SERVICE };
    snprintf(j.text, sizeof j.text, "%s", reason ? reason : "");
    if (persist_submit(d->persist, &j) != 0)
        return ctlproto_reply_error(req, CTLPROTO_ERR_INTERNAL, "the registry is busy; try again");
    p->status = j.status;
    registry_cache_forget(tag);
    swapd_event(d, d->core.now_ms, REGISTRY_WARNING, "battery", "%s %s: %s", norm,
                retire ? "retired" : "returned to service", j.text);
    char msg[sizeof j.text + 64];
    if (retire)
        snprintf(msg, sizeof msg, "battery %s retired: %s", norm, j.text);
    else
        snprintf(msg, sizeof msg, "battery %s back in service", norm);
    return ctlproto_reply_command(req, station_state_name(d->out.state), msg);
}

static json_t *do_ack(struct swapd *d, const json_t *req)
{
    json_int_t id = json_integer_value(json_object_get(req, "alarm"));
    if (id < 0 || id >= DIAG_COUNT || !(d->out.alarms_active >> id & 1))
        return ctlproto_reply_error(req, CTLPROTO_ERR_NOT_FOUND,
                                    "no active alarm %lld; list them with swapctl alarms", (long long)id);
    struct station_operator_in op = { .cmd = STATION_CMD_NONE, .op = STATION_OP_ACK, .alarm = (int)id };
    return queue_op(d, req, &op, station_state_name(d->out.state), "alarm acknowledged");
}

/* The operator's decision after reconciliation found the registry and the sensors
 * disagreeing: only then, and only while the station holds for it, does "the sensors are
 * right" mean anything; otherwise it would overwrite a correct inventory. */
static json_t *do_adopt(struct swapd *d, const json_t *req)
{
    /* The alarm stays latched until Unhold; after an adopt it is already decided. */
    bool mismatch = (d->out.alarms_active >> DIAG_INVENTORY_MISMATCH & 1) && !d->out.reconciled;
    if (d->out.state != ST_HELD || !mismatch)
        return ctlproto_reply_error(req, CTLPROTO_ERR_ILLEGAL_STATE,
                                    "adopt is only for a station Held with the inventory_mismatch alarm "
                                    "(state is %s, %s); nothing to adopt",
                                    station_state_name(d->out.state),
                                    mismatch ? "inventory_mismatch active" : "no open inventory mismatch");
    struct station_operator_in op = { .cmd = STATION_CMD_NONE, .op = STATION_OP_ADOPT_SENSORS };
    return queue_op(d, req, &op, station_state_name(d->out.state),
                    "adopting the sensors' view: unknown packs go to quarantine; then swapctl unhold");
}

/* An operator took a pack out of a slot by hand: the core books it to quarantine. */
static json_t *do_removed(struct swapd *d, const json_t *req)
{
    json_int_t slot = json_integer_value(json_object_get(req, "slot"));
    if (slot < 1 || slot > d->plant.n_slots)
        return ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT, "slot must be 1..%d", d->plant.n_slots);
    const struct station_slot_in *sl = &d->in.plant.slot[slot - 1];
    if (!d->in.plant.valid || sl->present)
        return ctlproto_reply_error(req, CTLPROTO_ERR_ILLEGAL_STATE,
                                    "slot %lld still senses a pack; take it out first, then run this again",
                                    (long long)slot);
    struct station_operator_in op = { .cmd = STATION_CMD_NONE, .op = STATION_OP_PACK_REMOVED,
                                      .slot = (int)slot - 1 };
    return queue_op(d, req, &op, station_state_name(d->out.state),
                    "pack booked out of the magazine to quarantine; the slot is free");
}

json_t *swapd_console_handle(void *user, const struct ctlsock_peer *peer,
                             const struct ctlproto_cmd *cmd, const json_t *request)
{
    struct swapd *d = user;
    const char *name = cmd->name;
    if (cmd->access == CTLPROTO_COMMAND) {
        if (!ctlsock_auth_permits(&d->auth, peer)) {
            swapd_event(d, d->core.now_ms, REGISTRY_WARNING, "command",
                        "refused \"%s\" from uid %u (pid %d): not in [control] users/groups", name,
                        (unsigned)peer->uid, (int)peer->pid);
            return ctlproto_reply_error(request, CTLPROTO_ERR_NOT_PERMITTED,
                                        "uid %u may watch but not command; ask an administrator to add you to [control] users or groups",
                                        (unsigned)peer->uid);
        }
        swapd_event(d, d->core.now_ms, REGISTRY_INFO, "command", "\"%s\" from uid %u (pid %d)", name,
                    (unsigned)peer->uid, (int)peer->pid);
    }
    return swapd_console_dispatch(d, name, request);
}

json_t *swapd_console_dispatch(struct swapd *d, const char *name, const json_t *request)
{
    if (!strcmp(name, "status"))
        return ctlproto_reply_ok(request, do_status(d));
    if (!strcmp(name, "slots"))
        return ctlproto_reply_ok(request, do_slots(d));
    if (!strcmp(name, "batteries"))
        return do_batteries(d, request);
    if (!strcmp(name, "drones"))
        return ctlproto_reply_ok(request, do_drones(d));
    if (!strcmp(name, "alarms"))
        return ctlproto_reply_ok(request, do_alarms(d));
    if (!strcmp(name, "events"))
        return do_events(d, request);
    if (!strcmp(name, "mode"))
        return do_mode(d, request);
    if (!strcmp(name, "jog"))
        return do_jog(d, request);
    if (!strcmp(name, "retire"))
        return do_status_change(d, request, true);
    if (!strcmp(name, "return"))
        return do_status_change(d, request, false);
    if (!strcmp(name, "ack"))
        return do_ack(d, request);
    if (!strcmp(name, "removed"))
        return do_removed(d, request);
    if (!strcmp(name, "adopt"))
        return do_adopt(d, request);
    return do_packml(d, request, name);
}
