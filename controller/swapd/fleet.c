/* The daemon's side of the fleet link (docs/fleet.md): what the scan reports to the
 * fleet and how a fleet command reaches the core. Commands go through the console's
 * own path (swapd_console_dispatch), so the fleet obeys exactly the control socket's
 * rules; the answer becomes the Command/Last ... metrics. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "swapd.h"

/* Packs this run tracks for roaming queries (the working set itself has no limit; a
 * station that meets more new packs in one run asks the fleet about the first ones). */
#define FLEET_TRACKED_PACKS 1024

/* Scan-side bookkeeping (only the scan thread touches it). */
static struct {
    struct fleetlink_snapshot snap;
    unsigned swaps_seen;
    double onpad_sum_s;
    unsigned onpad_n;
    unsigned long long cmd_seq;
    char cmd_name[24], cmd_req[64], cmd_result[FLEETLINK_STR];
    bool cmd_ok;
    /* roaming packs: the packs known when the link started, and those met since that
     * still wait for the fleet's estimates (the head is the open query) */
    uint32_t known[FLEET_TRACKED_PACKS];
    int n_known;
    bool known_taken;
    uint32_t query[FLEET_TRACKED_PACKS];
    int n_query;
    uint64_t query_since_ms;
} fs;

#define PACK_QUERY_TIMEOUT_MS 10000  /* no answer: the pack keeps its rated start */

int swapd_fleet_start(struct swapd *d, char *err, size_t errsize)
{
    if (!d->fleet_cfg.enabled)
        return 0;
    d->fleet = fleetlink_start(&d->fleet_cfg, err, errsize);
    if (d->fleet)
        d->on_event = swapd_fleet_event;
    return d->fleet ? 0 : -1;
}

void swapd_fleet_stop(struct swapd *d)
{
    fleetlink_stop(d->fleet);
    d->fleet = NULL;
}

void swapd_fleet_event(struct swapd *d, const struct swapd_event *e)
{
    if (!d->fleet)
        return;
    struct fleetlink_event fe = { .t_ms = e->t_ms };
    snprintf(fe.id, sizeof fe.id, "%lld-%lld", (long long)d->wall_start_ms, e->seq);
    snprintf(fe.type, sizeof fe.type, "%s", e->type);
    snprintf(fe.text, sizeof fe.text, "%s", e->text);
    fleetlink_post_event(d->fleet, &fe);
}

static void set_num(int id, double v) { fs.snap.v[id] = (struct fleetlink_value){ .num = v }; }

static void set_str(int id, const char *s)
{
    fs.snap.v[id].is_null = false;
    fs.snap.v[id].num = 0;
    snprintf(fs.snap.v[id].str, sizeof fs.snap.v[id].str, "%s", s);
}

static void set_null(int id) { fs.snap.v[id] = (struct fleetlink_value){ .is_null = true }; }

static void pop_query(void)
{
    if (fs.n_query > 0)
        memmove(fs.query, fs.query + 1, (size_t)--fs.n_query * sizeof fs.query[0]);
    fs.query_since_ms = 0;
}

/* Packs registered during this run (met on a drone, or commissioned late) go to the
 * query list: the fleet may know them from another station. */
static void find_new_packs(struct swapd *d, uint64_t now_ms)
{
    if (!fs.known_taken) {
        for (int i = 0; i < d->n_packs && fs.n_known < FLEET_TRACKED_PACKS; i++)
            fs.known[fs.n_known++] = d->packs[i].tag;
        fs.known_taken = true;
        return;
    }
    for (int i = 0; i < d->n_packs; i++) {
        bool seen = false;
        for (int k = 0; k < fs.n_known && !seen; k++)
            seen = fs.known[k] == d->packs[i].tag;
        if (seen || fs.n_known >= FLEET_TRACKED_PACKS)
            continue;
        fs.known[fs.n_known++] = d->packs[i].tag;
        if (fs.n_query < FLEET_TRACKED_PACKS)
            fs.query[fs.n_query++] = d->packs[i].tag;
    }
    if (fs.n_query && !fs.query_since_ms)
        fs.query_since_ms = now_ms ? now_ms : 1;
    if (fs.n_query && now_ms - fs.query_since_ms > PACK_QUERY_TIMEOUT_MS)
        pop_query();
}

/* The fleet's answer "ID;capacity_mAh;dcir_mOhm;efc;station": the pack starts from the
 * estimates of the station that saw it last instead of from rated values. */
static bool apply_estimates(struct swapd *d, const char *arg, char *msg, size_t size)
{
    char id[24], from[64] = "?";
    double cap, dcir, efc;
    uint32_t tag;
    if (sscanf(arg, "%23[^;];%lf;%lf;%lf;%63s", id, &cap, &dcir, &efc, from) < 4 ||
        ctlproto_parse_battery_id(id, &tag) != 0) {
        snprintf(msg, size, "pack estimates \"%s\" not understood", arg);
        return false;
    }
    struct swapd_pack *p = swapd_pack_find(d, tag);
    bool asked = fs.n_query && fs.query[0] == tag;
    if (!p || !asked || !(cap > 0) || !(dcir >= 0) || !(efc >= 0)) {
        snprintf(msg, size, "pack estimates for %s ignored: %s", id, !p ? "unknown pack" : !asked ? "not asked for" : "out of range");
        return false;
    }
    health_est_restore(&p->est, cap, health_est_capacity_sd(&p->est), dcir > 0 ? dcir : p->est.dcir_mohm,
                       health_est_dcir_sd(&p->est), p->est.dcir_new_mohm, efc, p->est.charge_count);
    p->capacity_mah = p->est.cap_mAh;
    p->dcir_mohm = p->est.dcir_mohm;
    p->efc = p->est.efc;
    struct persist_job j = { .kind = PERSIST_ESTIMATES, .t_ms = swapd_wall_ms(d, d->core.now_ms) };
    j.battery = (struct registry_battery){
        .tag = p->tag, .capacity_mah = p->est.cap_mAh, .capacity_sd_mah = health_est_capacity_sd(&p->est),
        .dcir_mohm = p->est.dcir_mohm, .dcir_sd_mohm = health_est_dcir_sd(&p->est),
        .dcir_new_mohm = p->est.dcir_new_mohm, .efc = p->est.efc, .charge_count = p->est.charge_count,
        .peak_temp_degC = p->est.peak_temp_degC, .last_used_ms = j.t_ms,
    };
    persist_submit(d->persist, &j);
    pop_query();
    snprintf(msg, size, "%s starts from the fleet's estimates (last at %s): %.0f mAh, %.1f mOhm, %.1f EFC", id, from,
             p->capacity_mah, p->dcir_mohm, p->efc);
    return true;
}

/* Runs one fleet command through the console path and records the answer. */
static void run_command(struct swapd *d, const struct fleetlink_cmd *c)
{
    if (!strcmp(c->console, "pack_estimates")) {
        char msg[FLEETLINK_STR + 64];
        bool ok = apply_estimates(d, c->arg, msg, sizeof msg);
        swapd_event(d, d->core.now_ms, ok ? REGISTRY_INFO : REGISTRY_WARNING, "battery", "%s", msg);
        return;
    }
    json_t *req = json_pack("{s:s, s:s}", "cmd", c->console, "id", "fleet");
    if (!strcmp(c->console, "retire") || !strcmp(c->console, "return")) {
        /* "SWP-5A000001: reason" */
        char id[FLEETLINK_STR];
        snprintf(id, sizeof id, "%s", c->arg);
        char *colon = strchr(id, ':');
        const char *reason = "retired from the fleet view";
        if (colon) {
            *colon = 0;
            reason = c->arg + (colon - id) + 1;
            while (*reason == ' ')
                reason++;
        }
        json_object_set_new(req, "battery", json_string(id));
        if (!strcmp(c->console, "retire"))
            json_object_set_new(req, "reason", json_string(reason));
    }
    const struct ctlproto_cmd *cmd = NULL;
    json_t *bad = NULL;
    json_t *rep = ctlproto_validate_request(req, &cmd, &bad) == 0 ? swapd_console_dispatch(d, c->console, req) : bad;
    bool ok = json_is_true(json_object_get(rep, "ok"));
    const char *msg = ok ? json_string_value(json_object_get(json_object_get(rep, "result"), "message"))
                         : json_string_value(json_object_get(json_object_get(rep, "error"), "message"));
    fs.cmd_seq++;
    fs.cmd_ok = ok;
    snprintf(fs.cmd_name, sizeof fs.cmd_name, "%s", c->console);
    snprintf(fs.cmd_req, sizeof fs.cmd_req, "%s", c->request_id);
    snprintf(fs.cmd_result, sizeof fs.cmd_result, "%s", msg ? msg : (ok ? "accepted" : "refused"));
    swapd_event(d, d->core.now_ms, ok ? REGISTRY_INFO : REGISTRY_WARNING, "command", "fleet \"%s\"%s%s: %s",
                c->console, c->arg[0] ? " " : "", c->arg, fs.cmd_result);
    json_decref(rep);
    json_decref(req);
}

static void fill_snapshot(struct swapd *d, uint64_t now_ms)
{
    const struct station_outputs *o = &d->out;
    fs.snap.t_ms = swapd_wall_ms(d, now_ms);
    if (d->core.swaps_done != fs.swaps_seen) {
        fs.swaps_seen = d->core.swaps_done;
        fs.onpad_sum_s += d->core.last_onpad_ms / 1000.0;
        fs.onpad_n++;
    }
    set_str(FM_STATE, station_state_name(o->state));
    set_str(FM_MODE, ctlproto_modes[o->mode]);
    set_num(FM_SWAPS, d->core.swaps_done);
    double hours = (double)(now_ms - d->mono_start_ms) / 3600e3;
    set_num(FM_SWAPS_PER_HOUR, hours > 0 ? d->core.swaps_done / hours : 0);
    if (fs.onpad_n)
        set_num(FM_ONPAD_MEAN_S, fs.onpad_sum_s / fs.onpad_n);
    else
        set_null(FM_ONPAD_MEAN_S);
    int n_alarms = 0;
    char codes[FLEETLINK_STR] = "";
    for (int id = 0; id < DIAG_COUNT; id++) {
        if (!(o->alarms_active >> id & 1))
            continue;
        n_alarms++;
        size_t used = strlen(codes);
        snprintf(codes + used, sizeof codes - used, "%s%s", used ? "," : "", diag_table[id].name);
    }
    set_num(FM_ALARMS_ACTIVE, n_alarms);
    set_str(FM_ALARM_CODES, codes);
    set_str(FM_PLANT_LINK, d->plant_status.connected ? "up" : "down");
    char qid[CTLPROTO_BATTERY_ID_SIZE] = "";
    if (fs.n_query)
        ctlproto_format_battery_id(fs.query[0], qid);
    set_str(FM_PACK_QUERY, qid);
    set_num(FM_CMD_SEQ, (double)fs.cmd_seq);
    set_str(FM_CMD_NAME, fs.cmd_name);
    set_str(FM_CMD_REQUEST_ID, fs.cmd_req);
    set_num(FM_CMD_OK, fs.cmd_ok);
    set_str(FM_CMD_RESULT, fs.cmd_result);

    set_str(FM_ROBOT_STEP, o->step >= 0 ? swapseq_name(o->step) : "");
    set_num(FM_ROBOT_STEP_INDEX, d->core.chain && d->core.chain_pos >= 0 ? d->core.chain_pos + 1 : 0);
    set_num(FM_ROBOT_DRONE, o->serving_sysid);
    set_num(FM_ROBOT_LAST_ONPAD_S, d->core.last_onpad_ms / 1000.0);

    int occupied = 0, ready = 0;
    double soh_sum = 0, soh_min = NAN;
    int soh_n = 0;
    for (int s = 0; s < d->plant.n_slots; s++) {
        const struct station_slot_in *sl = &d->in.plant.slot[s];
        if (!sl->present)
            continue;
        occupied++;
        if (sl->chg_state == CHARGER_DONE)
            ready++;
        const struct swapd_pack *p = sl->tag_ok ? swapd_pack_find(d, sl->tag) : NULL;
        if (p && p->rated_mah > 0) {
            double soh = 100.0 * p->capacity_mah / p->rated_mah;
            soh_sum += soh;
            soh_n++;
            if (isnan(soh_min) || soh < soh_min)
                soh_min = soh;
        }
    }
    set_num(FM_MAG_SLOTS, d->plant.n_slots);
    set_num(FM_MAG_OCCUPIED, occupied);
    set_num(FM_MAG_READY, ready);
    if (soh_n) {
        set_num(FM_MAG_SOH_MEAN, soh_sum / soh_n);
        set_num(FM_MAG_SOH_MIN, soh_min);
    } else {
        set_null(FM_MAG_SOH_MEAN);
        set_null(FM_MAG_SOH_MIN);
    }
    fs.snap.n_packs = 0;
    for (int i = 0; i < d->n_packs && fs.snap.n_packs < FLEETLINK_MAX_PACKS; i++) {
        const struct swapd_pack *p = &d->packs[i];
        struct fleetlink_pack *fp = &fs.snap.packs[fs.snap.n_packs++];
        ctlproto_format_battery_id(p->tag, fp->id);
        registry_location_format(p->loc, fp->location, sizeof fp->location);
        snprintf(fp->status, sizeof fp->status, "%s", registry_status_name(p->status));
        fp->soh_pct = p->rated_mah > 0 ? 100.0 * p->capacity_mah / p->rated_mah : 0;
        fp->efc = p->efc;
        fp->capacity_mah = p->capacity_mah;
        fp->dcir_mohm = p->dcir_mohm;
    }
    fs.snap.v[FM_MAG_PACKS] = (struct fleetlink_value){ 0 };

    int seen = 0;
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        const struct station_drone_in *dr = &d->in.drones[i];
        if (dr->sysid && dr->last_heartbeat_ms &&
            now_ms - dr->last_heartbeat_ms <= (uint64_t)d->station_cfg.drone_heartbeat_timeout_ms)
            seen++;
    }
    set_num(FM_DRONES_SEEN, seen);
    set_num(FM_DRONES_QUEUED, d->core.n_queue);
    set_str(FM_DRONES_LINK, d->link ? "up" : "down");
}

void swapd_fleet_scan(struct swapd *d, uint64_t now_ms)
{
    if (!d->fleet)
        return;
    struct fleetlink_cmd c;
    if (!d->op_pending && fleetlink_take_command(d->fleet, &c))
        run_command(d, &c);
    find_new_packs(d, now_ms);
    fill_snapshot(d, now_ms);
    fleetlink_publish(d->fleet, &fs.snap);
}
