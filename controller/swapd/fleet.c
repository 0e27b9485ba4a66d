/* The daemon's side of the fleet link (docs/fleet.md): what the scan reports to the
 * fleet and how a fleet command reaches the core. Commands go through the console's
 * own path (swapd_console_dispatch), so the fleet obeys exactly the control socket's
 * rules; the answer becomes the Command/Last ... metrics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swapd.h"

/* Scan-side bookkeeping, owned by struct swapd (only the scan thread touches it). */
struct swapd_fleet {
    struct fleetlink *link;
    struct fleetlink_snapshot snap;
    unsigned swaps_seen;
    double onpad_sum_s;
    unsigned onpad_n;
    unsigned long long cmd_seq;
    char cmd_name[FLEETLINK_STR], cmd_req[64], cmd_result[FLEETLINK_STR];
    bool cmd_ok;
    /* roaming packs: every pack this run has met (sorted, for a binary search), and those
     * met since the link started that still wait for the fleet's estimates (the head is
     * the open query); both grow as needed, with no fixed limit */
    uint32_t *known;
    size_t n_known, cap_known;
    bool known_taken;
    uint32_t *query;
    size_t n_query, cap_query;
    uint64_t query_since_ms;
};

#define PACK_QUERY_TIMEOUT_MS 10000  /* no answer: the pack keeps its rated start */

int swapd_fleet_start(struct swapd *d, char *err, size_t errsize)
{
    if (!d->fleet_cfg.enabled)
        return 0;
    struct swapd_fleet *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    f->link = fleetlink_start(&d->fleet_cfg, err, errsize);
    if (!f->link) {
        free(f);
        return -1;
    }
    d->fleet = f;
    d->on_event = swapd_fleet_event;
    return 0;
}

void swapd_fleet_stop(struct swapd *d)
{
    struct swapd_fleet *f = d->fleet;
    if (!f)
        return;
    fleetlink_stop(f->link);
    free(f->known);
    free(f->query);
    free(f);
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
    fleetlink_post_event(d->fleet->link, &fe);
}

static void set_num(struct fleetlink_snapshot *s, int id, double v) { s->v[id] = (struct fleetlink_value){ .num = v }; }

static void set_str(struct fleetlink_snapshot *s, int id, const char *str)
{
    s->v[id].is_null = false;
    s->v[id].num = 0;
    snprintf(s->v[id].str, sizeof s->v[id].str, "%s", str);
}

static void set_null(struct fleetlink_snapshot *s, int id) { s->v[id] = (struct fleetlink_value){ .is_null = true }; }

static void pop_query(struct swapd_fleet *f)
{
    if (f->n_query > 0)
        memmove(f->query, f->query + 1, --f->n_query * sizeof f->query[0]);
    f->query_since_ms = 0;
}

/* Appends v to a growable array; false when memory ran out. */
static bool grow_push(uint32_t **arr, size_t *n, size_t *cap, uint32_t v)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        uint32_t *na = realloc(*arr, ncap * sizeof *na);
        if (!na)
            return false;
        *arr = na;
        *cap = ncap;
    }
    (*arr)[(*n)++] = v;
    return true;
}

/* Index where tag is, or would be inserted, in the sorted known list. */
static size_t known_pos(const struct swapd_fleet *f, uint32_t tag)
{
    size_t lo = 0, hi = f->n_known;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->known[mid] < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Records tag as known; true when it was new. */
static bool learn_pack(struct swapd_fleet *f, uint32_t tag)
{
    size_t pos = known_pos(f, tag);
    if (pos < f->n_known && f->known[pos] == tag)
        return false;
    if (!grow_push(&f->known, &f->n_known, &f->cap_known, tag))
        return false; /* out of memory: treated as known, so asked about never */
    memmove(f->known + pos + 1, f->known + pos, (f->n_known - 1 - pos) * sizeof f->known[0]);
    f->known[pos] = tag;
    return true;
}

/* Packs registered during this run (met on a drone, or commissioned late) go to the
 * query list: the fleet may know them from another station. */
static void find_new_packs(struct swapd *d, uint64_t now_ms)
{
    struct swapd_fleet *f = d->fleet;
    if (!f->known_taken) {
        for (int i = 0; i < d->n_packs; i++)
            learn_pack(f, d->packs[i].tag);
        f->known_taken = true;
        return;
    }
    for (int i = 0; i < d->n_packs; i++)
        if (learn_pack(f, d->packs[i].tag))
            grow_push(&f->query, &f->n_query, &f->cap_query, d->packs[i].tag);
    if (f->n_query && !f->query_since_ms)
        f->query_since_ms = now_ms ? now_ms : 1;
    if (f->n_query && now_ms - f->query_since_ms > PACK_QUERY_TIMEOUT_MS)
        pop_query(f);
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
    struct swapd_fleet *f = d->fleet;
    bool asked = f->n_query && f->query[0] == tag;
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
    pop_query(f);
    snprintf(msg, size, "%s starts from the fleet's estimates (last at %s): %.0f mAh, %.1f mOhm, %.1f EFC", id, from,
             p->capacity_mah, p->dcir_mohm, p->efc);
    return true;
}

/* The answer to a fleet command: the Command/Last ... metrics and an event. */
static void record_answer(struct swapd *d, const struct fleetlink_cmd *c, bool ok, const char *result)
{
    struct swapd_fleet *f = d->fleet;
    f->cmd_seq++;
    f->cmd_ok = ok;
    snprintf(f->cmd_name, sizeof f->cmd_name, "%s%s%.60s", c->device, c->device[0] ? "/" : "",
             c->console[0] ? c->console : c->arg);
    snprintf(f->cmd_req, sizeof f->cmd_req, "%s", c->request_id);
    snprintf(f->cmd_result, sizeof f->cmd_result, "%s", result);
    swapd_event(d, d->core.now_ms, ok ? REGISTRY_INFO : REGISTRY_WARNING, "command", "fleet \"%s\"%s%s: %s", f->cmd_name,
                c->arg[0] && c->console[0] ? " " : "", c->console[0] ? c->arg : "", f->cmd_result);
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
    if (!c->console[0]) { /* a DCMD metric the device does not have */
        char msg[FLEETLINK_STR + 64];
        snprintf(msg, sizeof msg, "%s has no command \"%s\"", c->device, c->arg);
        record_answer(d, c, false, msg);
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
    record_answer(d, c, ok, msg ? msg : (ok ? "accepted" : "refused"));
    json_decref(rep);
    json_decref(req);
}

static void fill_snapshot(struct swapd *d, uint64_t now_ms)
{
    struct swapd_fleet *f = d->fleet;
    struct fleetlink_snapshot *s = &f->snap;
    const struct station_outputs *o = &d->out;
    s->t_ms = swapd_wall_ms(d, now_ms);
    if (d->core.swaps_done != f->swaps_seen) {
        f->swaps_seen = d->core.swaps_done;
        f->onpad_sum_s += d->core.last_onpad_ms / 1000.0;
        f->onpad_n++;
    }
    set_str(s, FM_STATE, station_state_name(o->state));
    set_str(s, FM_MODE, ctlproto_modes[o->mode]);
    set_num(s, FM_SWAPS, d->core.swaps_done);
    double hours = (double)(now_ms - d->mono_start_ms) / 3600e3;
    set_num(s, FM_SWAPS_PER_HOUR, hours > 0 ? d->core.swaps_done / hours : 0);
    if (f->onpad_n)
        set_num(s, FM_ONPAD_MEAN_S, f->onpad_sum_s / f->onpad_n);
    else
        set_null(s, FM_ONPAD_MEAN_S);
    int n_alarms = 0;
    char codes[FLEETLINK_STR] = "";
    for (int id = 0; id < DIAG_COUNT; id++) {
        if (!(o->alarms_active >> id & 1))
            continue;
        n_alarms++;
        size_t used = strlen(codes);
        snprintf(codes + used, sizeof codes - used, "%s%s", used ? "," : "", diag_table[id].name);
    }
    set_num(s, FM_ALARMS_ACTIVE, n_alarms);
    set_str(s, FM_ALARM_CODES, codes);
    set_str(s, FM_PLANT_LINK, d->plant_status.connected ? "up" : "down");
    char qid[CTLPROTO_BATTERY_ID_SIZE] = "";
    if (f->n_query)
        ctlproto_format_battery_id(f->query[0], qid);
    set_str(s, FM_PACK_QUERY, qid);
    set_num(s, FM_CMD_SEQ, (double)f->cmd_seq);
    set_str(s, FM_CMD_NAME, f->cmd_name);
    set_str(s, FM_CMD_REQUEST_ID, f->cmd_req);
    set_num(s, FM_CMD_OK, f->cmd_ok);
    set_str(s, FM_CMD_RESULT, f->cmd_result);

    set_str(s, FM_ROBOT_STEP, o->step >= 0 ? swapseq_name(o->step) : "");
    set_num(s, FM_ROBOT_STEP_INDEX, d->core.chain && d->core.chain_pos >= 0 ? d->core.chain_pos + 1 : 0);
    set_num(s, FM_ROBOT_DRONE, o->serving_sysid);
    set_num(s, FM_ROBOT_LAST_ONPAD_S, d->core.last_onpad_ms / 1000.0);

    int occupied = 0, ready = 0;
    double soh_sum = 0, soh_min = NAN;
    int soh_n = 0;
    for (int slot = 0; slot < d->plant.n_slots; slot++) {
        const struct station_slot_in *sl = &d->in.plant.slot[slot];
        if (!sl->present)
            continue;
        occupied++;
        if (sl->chg_state == CHARGER_DONE && !sl->telemetry_stale)
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
    set_num(s, FM_MAG_SLOTS, d->plant.n_slots);
    set_num(s, FM_MAG_OCCUPIED, occupied);
    set_num(s, FM_MAG_READY, ready);
    if (soh_n) {
        set_num(s, FM_MAG_SOH_MEAN, soh_sum / soh_n);
        set_num(s, FM_MAG_SOH_MIN, soh_min);
    } else {
        set_null(s, FM_MAG_SOH_MEAN);
        set_null(s, FM_MAG_SOH_MIN);
    }
    s->n_packs = 0;
    for (int i = 0; i < d->n_packs && s->n_packs < FLEETLINK_MAX_PACKS; i++) {
        const struct swapd_pack *p = &d->packs[i];
        struct fleetlink_pack *fp = &s->packs[s->n_packs++];
        ctlproto_format_battery_id(p->tag, fp->id);
        registry_location_format(p->loc, fp->location, sizeof fp->location);
        snprintf(fp->status, sizeof fp->status, "%s", registry_status_name(p->status));
        fp->soh_pct = p->rated_mah > 0 ? 100.0 * p->capacity_mah / p->rated_mah : 0;
        fp->efc = p->efc;
        fp->capacity_mah = p->capacity_mah;
        fp->dcir_mohm = p->dcir_mohm;
    }
    s->v[FM_MAG_PACKS] = (struct fleetlink_value){ 0 };

    int seen = 0;
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        const struct station_drone_in *dr = &d->in.drones[i];
        if (dr->sysid && dr->last_heartbeat_ms &&
            now_ms - dr->last_heartbeat_ms <= (uint64_t)d->station_cfg.drone_heartbeat_timeout_ms)
            seen++;
    }
    set_num(s, FM_DRONES_SEEN, seen);
    set_num(s, FM_DRONES_QUEUED, d->core.n_queue);
    set_str(s, FM_DRONES_LINK, d->link ? "up" : "down");
}

void swapd_fleet_scan(struct swapd *d, uint64_t now_ms)
{
    if (!d->fleet)
        return;
    struct fleetlink_cmd c;
    if (!d->op_pending && fleetlink_take_command(d->fleet->link, &c))
        run_command(d, &c);
    find_new_packs(d, now_ms);
    fill_snapshot(d, now_ms);
    fleetlink_publish(d->fleet->link, &d->fleet->snap);
}
