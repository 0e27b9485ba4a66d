/* Inventory glue between the registry, the hand-out policy and the core: the shell's
 * cache of every pack and its place, commissioning of packs seen for the first time,
 * and the core's inventory facts (including the policy's choice) for every scan. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "droneproto/dproto.h"
#include "swapd.h"

/* Share of a full pack the next flight needs (the policy adds its own reserve). */
#define SWAPD_FLIGHT_SOC 0.6

struct swapd_pack *swapd_pack_find(struct swapd *d, uint32_t tag)
{
    for (int i = 0; i < d->n_packs; i++)
        if (d->packs[i].tag == tag)
            return &d->packs[i];
    return NULL;
}

struct swapd_pack *swapd_pack_add(struct swapd *d)
{
    if (d->n_packs == d->cap_packs) {
        int cap = d->cap_packs ? 2 * d->cap_packs : 32;
        struct swapd_pack *grown = realloc(d->packs, (size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        d->packs = grown;
        d->cap_packs = cap;
    }
    struct swapd_pack *p = &d->packs[d->n_packs++];
    memset(p, 0, sizeof *p);
    return p;
}

static int load_one(const struct registry_battery *b, void *ctx)
{
    struct swapd *d = ctx;
    struct swapd_pack *p = swapd_pack_add(d);
    if (!p)
        return 1;
    health_est_init(&p->est, &d->health, b->cells > 0 ? b->cells : d->plant.battery_cells, b->rated_mah);
    health_est_restore(&p->est, b->capacity_mah, b->capacity_sd_mah, b->dcir_mohm, b->dcir_sd_mohm,
                       b->dcir_new_mohm, b->efc, b->charge_count);
    struct health_estimator est = p->est;
    *p = (struct swapd_pack){
        .tag = b->tag, .loc = b->loc, .status = b->status, .capacity_mah = b->capacity_mah,
        .rated_mah = b->rated_mah, .dcir_mohm = b->dcir_mohm, .efc = b->efc,
        .peak_temp_degC = b->peak_temp_degC, .loc_since_ms = b->loc_since_ms, .est = est,
    };
    return 0;
}

int swapd_inventory_load(struct swapd *d, struct registry *reg, char *err, size_t errsize)
{
    d->n_packs = 0;
    int n = registry_list_working_set(reg, load_one, d);
    if (n < 0) {
        snprintf(err, errsize, "reading the battery registry: %s", registry_last_error(reg));
        return -1;
    }
    if (n != d->n_packs) {
        snprintf(err, errsize, "out of memory for %d packs", n);
        return -1;
    }
    int counts[REGISTRY_STATUS_COUNT];
    int total = registry_count_batteries(reg, counts);
    d->n_retired = total >= 0 ? total - d->n_packs : 0;
    return 0;
}

/* A pack outside the working set (retired, back on a drone or in a slot): the registry's
 * row comes back into the set, status and estimates included. */
static struct swapd_pack *load_known(struct swapd *d, struct registry *reg, uint32_t tag)
{
    struct registry_battery b;
    if (!reg || registry_get_battery(reg, tag, &b) != 0 || load_one(&b, d) != 0)
        return NULL;
    if (d->n_retired > 0 && b.status == REGISTRY_RETIRED)
        d->n_retired--;
    return &d->packs[d->n_packs - 1];
}

int swapd_inventory_commission(struct swapd *d, struct registry *reg, const struct station_plant_in *p,
                               int64_t now_wall_ms, char *err, size_t errsize)
{
    for (int s = 0; s < d->plant.n_slots; s++) {
        const struct station_slot_in *sl = &p->slot[s];
        if (!sl->present || !sl->tag_ok || sl->tag == 0 || swapd_pack_find(d, sl->tag) ||
            load_known(d, reg, sl->tag))
            continue;
        struct registry_battery b = {
            .tag = sl->tag, .rated_mah = (int)lround(d->plant.battery_rated_mah),
            .cells = d->plant.battery_cells, .status = REGISTRY_IN_SERVICE,
            .capacity_mah = d->plant.battery_rated_mah,
            .capacity_sd_mah = d->plant.battery_rated_mah * d->health.capacity_prior_sd,
            .dcir_mohm = d->health.dcir_rated_mohm, .dcir_sd_mohm = d->health.dcir_rated_mohm * 0.1,
            .dcir_new_mohm = d->health.dcir_rated_mohm,
            .loc = { REGISTRY_PLACE_SLOT, s + 1 },
        };
        char serial[17] = { 0 };
        dproto_pack_serial(sl->tag, serial);
        snprintf(b.serial, sizeof b.serial, "%.16s", serial);
        int rc = registry_add_battery(reg, &b, now_wall_ms);
        if (rc == REGISTRY_EOCCUPIED) {
            /* The registry has another pack in that slot: register this one at an unknown
             * place and let reconciliation stop for the operator. */
            b.loc = (struct registry_location){ REGISTRY_PLACE_UNKNOWN, 0 };
            rc = registry_add_battery(reg, &b, now_wall_ms);
        }
        if (rc != 0) {
            snprintf(err, errsize, "registering pack %s: %s", b.serial, registry_last_error(reg));
            return -1;
        }
        registry_add_event(reg, now_wall_ms, REGISTRY_INFO, "battery", "new pack commissioned", NULL);
        if (!load_known(d, reg, b.tag)) {
            snprintf(err, errsize, "pack %s registered but not loaded (out of memory?)", b.serial);
            return -1;
        }
    }
    return 0;
}

int swapd_inventory_register(struct swapd *d, uint32_t tag, struct registry_location loc, uint64_t now_ms)
{
    /* Known but outside the working set (retired packs): back in, as the registry has it. */
    struct swapd_pack *known = load_known(d, d->reader, tag);
    if (known) {
        char where[32];
        registry_location_format(known->loc, where, sizeof where);
        swapd_event(d, now_ms, REGISTRY_WARNING, "battery", "pack %08X (%s, last seen at %s) is back",
                    (unsigned)tag, registry_status_name(known->status), where);
        return 0;
    }
    struct swapd_pack *p = swapd_pack_add(d);
    if (!p)
        return -1;
    struct persist_job j = { .kind = PERSIST_REGISTER, .t_ms = swapd_wall_ms(d, now_ms), .tag = tag,
                             .rated_mah = (int)lround(d->plant.battery_rated_mah),
                             .cells = d->plant.battery_cells, .dcir_mohm = d->health.dcir_rated_mohm,
                             .capacity_sd_mah = d->plant.battery_rated_mah * d->health.capacity_prior_sd,
                             .to = loc };
    char serial[17] = { 0 };
    dproto_pack_serial(tag, serial);
    snprintf(j.text, sizeof j.text, "%.16s", serial);
    if (persist_submit(d->persist, &j) != 0) {
        d->n_packs--;
        return -1;
    }
    *p = (struct swapd_pack){
        .tag = tag, .loc = loc, .status = REGISTRY_IN_SERVICE,
        .capacity_mah = d->plant.battery_rated_mah, .rated_mah = d->plant.battery_rated_mah,
        .dcir_mohm = d->health.dcir_rated_mohm,
    };
    health_est_init(&p->est, &d->health, d->plant.battery_cells, d->plant.battery_rated_mah);
    char where[32];
    registry_location_format(loc, where, sizeof where);
    swapd_event(d, now_ms, REGISTRY_INFO, "battery", "pack %.16s seen for the first time (%s): registered", serial,
                loc.place == REGISTRY_PLACE_UNKNOWN ? "on a drone" : where);
    return 0;
}

struct last_progress {
    bool found;
    int step, sysid;
    uint32_t tag;
};

static int find_progress(const struct registry_event *e, void *ctx)
{
    struct last_progress *lp = ctx;
    if (strcmp(e->source, "progress") != 0 || !e->json[0])
        return 0;
    json_error_t jerr;
    json_t *j = json_loads(e->json, 0, &jerr);
    int step, sysid;
    if (j && json_unpack(j, "{s:i, s:i}", "step", &step, "sysid", &sysid) == 0 && step >= -1 &&
        step < SWAPSEQ_COUNT && sysid >= 0 && sysid <= 255) {
        lp->found = true;
        lp->step = step;
        lp->sysid = sysid;
        json_t *tag = json_object_get(j, "tag");  /* absent in records of older versions */
        lp->tag = json_is_integer(tag) && json_integer_value(tag) > 0 && json_integer_value(tag) <= 0xFFFFFFFE
                      ? (uint32_t)json_integer_value(tag) : 0;
    }
    json_decref(j);
    return 0;
}

void swapd_inventory_progress(struct swapd *d, struct registry *reg, int64_t now_wall_ms)
{
    (void)now_wall_ms;
    struct last_progress lp = { .step = -1 };
    d->boot_last_step = -1;
    d->boot_pad_sysid = 0;
    d->boot_pad_tag = 0;
    struct registry_event e;
    if (registry_last_restart_record(reg, "progress", &e) != 0)
        return;
    find_progress(&e, &lp);
    if (!lp.found || lp.step < 0)
        return;
    d->boot_last_step = lp.step;
    d->boot_pad_sysid = (uint8_t)lp.sysid;
    d->boot_pad_tag = lp.tag;
    fprintf(stderr, "<5>swapd: the previous run stopped in step %s serving drone %d\n", swapseq_name(lp.step),
            lp.sysid);
}

void swapd_inventory_boot(struct swapd *d, struct registry *reg, int64_t now_wall_ms)
{
    char err[512];
    d->commissioned = true;
    if (swapd_inventory_commission(d, reg, &d->in.plant, now_wall_ms, err, sizeof err) != 0)
        fprintf(stderr, "<4>swapd: commissioning: %s\n", err);
    swapd_inventory_progress(d, reg, now_wall_ms);
    int rec = swapd_inventory_recover(d, reg, &d->in.plant, now_wall_ms, err, sizeof err);
    if (rec != 0)
        fprintf(stderr, "%sswapd: recovery: %s\n", rec > 0 ? "<4>" : "<3>", err);
}

struct last_intent {
    bool found;
    int64_t t_ms;
    uint32_t tag;
    struct registry_location from, to;
    char step[48];
};

static int find_intent(const struct registry_event *e, void *ctx)
{
    struct last_intent *li = ctx;
    if (strcmp(e->source, "intent") != 0 || !e->json[0])
        return 0;
    json_error_t jerr;
    json_t *j = json_loads(e->json, 0, &jerr);
    int fp, fi, tp, ti;
    json_int_t tag;
    const char *step;
    if (j && json_unpack(j, "{s:I, s:[ii], s:[ii], s:s}", "tag", &tag, "from", &fp, &fi, "to", &tp, &ti,
                         "step", &step) == 0 &&
        fp >= 0 && fp < REGISTRY_PLACE_COUNT && tp >= 0 && tp < REGISTRY_PLACE_COUNT) {
        li->found = true;
        li->t_ms = e->time_ms;
        li->tag = (uint32_t)tag;
        li->from = (struct registry_location){ (enum registry_place)fp, fi };
        li->to = (struct registry_location){ (enum registry_place)tp, ti };
        snprintf(li->step, sizeof li->step, "%s", step);
    }
    json_decref(j);
    return 0;
}

/* Whether the sensors show pack tag at loc (true), or cannot show it there (false). */
static bool sensed_at(const struct swapd *d, const struct station_plant_in *p, struct registry_location loc,
                      uint32_t tag)
{
    switch (loc.place) {
    case REGISTRY_PLACE_SLOT: {
        if (loc.index < 1 || loc.index > d->plant.n_slots)
            return false;
        const struct station_slot_in *s = &p->slot[loc.index - 1];
        return s->present && (!s->tag_ok || s->tag == tag);
    }
    case REGISTRY_PLACE_GRIPPER_A: return p->grip_a_holding;
    case REGISTRY_PLACE_GRIPPER_B: return p->grip_b_holding;
    case REGISTRY_PLACE_DRONE: return p->load_g >= (unsigned)d->station_cfg.touchdown_g;
    default: return false;
    }
}

int swapd_inventory_recover(struct swapd *d, struct registry *reg, const struct station_plant_in *p,
                            int64_t now_wall_ms, char *msg, size_t msgsize)
{
    msg[0] = 0;
    struct last_intent li = { 0 };
    struct registry_event e;
    if (registry_last_restart_record(reg, "intent", &e) != 0)
        return 0;
    find_intent(&e, &li);
    if (!li.found)
        return 0;
    struct registry_battery b;
    if (registry_get_battery(reg, li.tag, &b) != 0 || b.loc.place != li.from.place || b.loc.index != li.from.index)
        return 0;  /* the move committed (or the pack moved since): nothing in flight */
    /* The step acted but its move did not commit: the sensors must show the pack at the
     * destination and no longer at the source. Anything else is for the operator. */
    bool at_to = sensed_at(d, p, li.to, li.tag);
    bool at_from = li.from.place != REGISTRY_PLACE_DRONE && sensed_at(d, p, li.from, li.tag);
    if (!at_to || at_from)
        return 0;
    char step[64];
    snprintf(step, sizeof step, "recovered:%.40s", li.step);
    int rc = registry_move_battery(reg, li.tag, li.to, step, 0, li.t_ms, now_wall_ms);
    if (rc != 0) {
        snprintf(msg, msgsize, "pack SWP-%08X was left in flight by step %s; recording it failed: %s",
                 (unsigned)li.tag, li.step, registry_last_error(reg));
        return -1;
    }
    char from[32], to[32];
    registry_location_format(li.from, from, sizeof from);
    registry_location_format(li.to, to, sizeof to);
    snprintf(msg, msgsize, "pack SWP-%08X: step %s had moved it %s -> %s before the restart; the sensors confirm it",
             (unsigned)li.tag, li.step, from, to);
    registry_add_event(reg, now_wall_ms, REGISTRY_WARNING, "battery", msg, NULL);
    struct swapd_pack *pk = swapd_pack_find(d, li.tag);
    if (pk)
        pk->loc = li.to;
    return 1;
}

void swapd_inventory_commission_late(struct swapd *d, const struct station_plant_in *p, uint64_t now_ms)
{
    for (int s = 0; s < d->plant.n_slots; s++) {
        const struct station_slot_in *sl = &p->slot[s];
        if (!sl->present || !sl->tag_ok || sl->tag == 0 || swapd_pack_find(d, sl->tag))
            continue;
        bool taken = false;
        for (int i = 0; i < d->n_packs; i++)
            taken |= d->packs[i].loc.place == REGISTRY_PLACE_SLOT && d->packs[i].loc.index == s + 1;
        struct registry_location loc = { taken ? REGISTRY_PLACE_UNKNOWN : REGISTRY_PLACE_SLOT, taken ? 0 : s + 1 };
        if (swapd_inventory_register(d, sl->tag, loc, now_ms) != 0)
            return;
    }
}

uint32_t swapd_inventory_name_at(const struct swapd *d, struct station_location l)
{
    if (l.place == STATION_PLACE_DRONE)
        return swapd_inventory_pad_tag(d, (uint8_t)l.index);
    if (l.place != STATION_PLACE_SLOT && l.place != STATION_PLACE_GRIPPER_A && l.place != STATION_PLACE_GRIPPER_B)
        return 0;
    struct registry_location r = swapd_registry_location(l);
    for (int i = 0; i < d->n_packs; i++)
        if (d->packs[i].loc.place == r.place && d->packs[i].loc.index == r.index)
            return d->packs[i].tag;
    return 0;
}

int swapd_inventory_unbook_drone(struct swapd *d, int sysid, uint32_t taken, const char *step, uint64_t now_ms)
{
    for (int i = 0; i < d->n_packs; i++) {
        struct swapd_pack *p = &d->packs[i];
        if (p->tag == taken || p->loc.place != REGISTRY_PLACE_DRONE || p->loc.index != sysid)
            continue;
        struct persist_job j = { .kind = PERSIST_LOST, .t_ms = swapd_wall_ms(d, now_ms), .tag = p->tag };
        snprintf(j.step, sizeof j.step, "%s", step ? step : "");
        if (persist_submit(d->persist, &j) != 0)
            return -1;
        p->loc = (struct registry_location){ REGISTRY_PLACE_UNKNOWN, 0 };
        swapd_event(d, now_ms, REGISTRY_WARNING, "battery",
                    "pack SWP-%08X was booked to drone %d, which came with pack SWP-%08X: its place is unknown",
                    (unsigned)p->tag, sysid, (unsigned)taken);
    }
    return 0;
}

void swapd_inventory_apply_move(struct swapd *d, const struct station_move *m)
{
    struct swapd_pack *p = swapd_pack_find(d, m->tag);
    if (!p)
        return;
    /* Leaving the slot ends what its charger saw of the pack's rest. */
    if (p->loc.place == REGISTRY_PLACE_SLOT && m->to.place != STATION_PLACE_SLOT)
        swapd_inventory_estimates(d, p, health_est_rest_end(&p->est), m->t_ms);
    p->loc_since_ms = swapd_wall_ms(d, m->t_ms);
    switch (m->to.place) {
    case STATION_PLACE_SLOT: p->loc = (struct registry_location){ REGISTRY_PLACE_SLOT, m->to.index + 1 }; break;
    case STATION_PLACE_GRIPPER_A: p->loc = (struct registry_location){ REGISTRY_PLACE_GRIPPER_A, 0 }; break;
    case STATION_PLACE_GRIPPER_B: p->loc = (struct registry_location){ REGISTRY_PLACE_GRIPPER_B, 0 }; break;
    case STATION_PLACE_DRONE: p->loc = (struct registry_location){ REGISTRY_PLACE_DRONE, m->to.index }; break;
    case STATION_PLACE_QUARANTINE: p->loc = (struct registry_location){ REGISTRY_PLACE_QUARANTINE, 0 }; break;
    default: p->loc = (struct registry_location){ REGISTRY_PLACE_UNKNOWN, 0 }; break;
    }
}

double swapd_battery_time_s(const struct swapd *d, uint64_t now_ms)
{
    return (double)now_ms / 1000.0 * d->shell.sim_time_scale;
}

/* Feeds the charger's telemetry to the pack's estimator once a second of battery time, at
 * most once a scan (the slot's charger is the sensor, its state says whether current
 * flows). */
static void feed_estimator(struct swapd *d, struct swapd_pack *p, int slot, uint64_t now_ms)
{
    if (p->last_sample_ms && (double)(now_ms - p->last_sample_ms) * d->shell.sim_time_scale < 1000.0)
        return;
    p->last_sample_ms = now_ms;
    struct health_sample smp;
    if (health_sample_from_slot(&d->raw_ir[REGMAP_IR_SLOT_ADDR(slot, 0)], swapd_battery_time_s(d, now_ms), &smp) != 0)
        return;  /* unknown reading or charger fault: never reaches an estimate */
    smp.sensor = (uint32_t)slot + 1;
    swapd_inventory_estimates(d, p, health_est_feed(&p->est, &smp), now_ms);
}

void swapd_inventory_estimates(struct swapd *d, struct swapd_pack *p, unsigned ev, uint64_t now_ms)
{
    if (!(ev & (HEALTH_EV_CAPACITY | HEALTH_EV_DCIR | HEALTH_EV_CYCLE)))
        return;
    p->capacity_mah = p->est.cap_mAh;
    p->dcir_mohm = p->est.dcir_mohm;
    p->efc = p->est.efc;
    struct persist_job j = { .kind = PERSIST_ESTIMATES, .t_ms = swapd_wall_ms(d, now_ms) };
    j.battery = (struct registry_battery){
        .tag = p->tag, .capacity_mah = p->est.cap_mAh, .capacity_sd_mah = health_est_capacity_sd(&p->est),
        .dcir_mohm = p->est.dcir_mohm, .dcir_sd_mohm = health_est_dcir_sd(&p->est),
        .dcir_new_mohm = p->est.dcir_new_mohm, .efc = p->est.efc, .charge_count = p->est.charge_count,
        .peak_temp_degC = p->est.peak_temp_degC, .last_used_ms = j.t_ms,
    };
    persist_submit(d->persist, &j);
    if (ev & HEALTH_EV_CAPACITY)
        swapd_event(d, now_ms, REGISTRY_INFO, "battery",
                    "pack SWP-%08X capacity window from a %s: %.0f +- %.0f mAh; SoH %.1f +- %.1f %%",
                    (unsigned)p->tag, health_window_kind_name(p->est.last_window.kind),
                    p->est.last_window.capacity_mAh, p->est.last_window.sd_mAh, health_est_soh(&p->est) * 100,
                    health_est_soh_sd(&p->est) * 100);
    char why[128] = "";
    enum health_verdict v = health_judge(&d->health, &p->est, true, why, sizeof why);
    if (v == HEALTH_KEEP || p->status != REGISTRY_IN_SERVICE)
        return;
    struct persist_job s = { .kind = PERSIST_SET_STATUS, .t_ms = j.t_ms, .tag = p->tag,
                             .status = v == HEALTH_RETIRE ? REGISTRY_RETIRED : REGISTRY_QUARANTINE };
    snprintf(s.text, sizeof s.text, "%s", why);
    if (persist_submit(d->persist, &s) == 0) {
        p->status = s.status;
        swapd_event(d, now_ms, REGISTRY_WARNING, "battery", "pack SWP-%08X %s: %s", (unsigned)p->tag,
                    v == HEALTH_RETIRE ? "retired" : "quarantined", why);
    }
}

/* State of charge of a pack in a slot, from what the charger measures. */
static double slot_soc(const struct swapd *d, const struct station_slot_in *s, const struct swapd_pack *p)
{
    if (s->chg_state == CHARGER_DONE)
        return 1.0;
    double cells = d->plant.battery_cells > 0 ? d->plant.battery_cells : 1;
    double r_ohm = (p && p->dcir_mohm > 0 ? p->dcir_mohm : d->health.dcir_rated_mohm) / 1000.0;
    double ocv = s->voltage_mV / 1000.0 - (s->current_mA / 1000.0) * r_ohm;
    return health_soc_from_ocv(ocv / cells);
}

uint8_t swapd_pad_sysid(const struct swapd *d)
{
    if (d->core.serving_sysid)
        return d->core.serving_sysid;
    return d->boot_progress_used ? 0 : d->boot_pad_sysid;
}

uint32_t swapd_inventory_pad_tag(const struct swapd *d, uint8_t sysid)
{
    if (!sysid)
        return 0;
    /* What the drone itself reports (SMART_BATTERY_INFO), unless the registry has that
     * pack somewhere else than in this drone (an old report of a pack already taken). */
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        const struct station_drone_in *dr = &d->in.drones[i];
        if (dr->sysid != sysid || !dr->battery_tag)
            continue;
        const struct swapd_pack *p = NULL;
        for (int k = 0; k < d->n_packs && !p; k++)
            if (d->packs[k].tag == dr->battery_tag)
                p = &d->packs[k];
        if (!p || p->loc.place == REGISTRY_PLACE_UNKNOWN ||
            (p->loc.place == REGISTRY_PLACE_DRONE && p->loc.index == sysid))
            return dr->battery_tag;
    }
    /* Else the one the previous run knew in this drone (its progress record), unless the
     * registry has moved it since. */
    if (sysid == d->boot_pad_sysid && d->boot_pad_tag) {
        const struct swapd_pack *p = NULL;
        for (int k = 0; k < d->n_packs && !p; k++)
            if (d->packs[k].tag == d->boot_pad_tag)
                p = &d->packs[k];
        if (!p || p->loc.place == REGISTRY_PLACE_UNKNOWN ||
            (p->loc.place == REGISTRY_PLACE_DRONE && p->loc.index == sysid))
            return d->boot_pad_tag;
    }
    /* Else the pack the registry books to this drone; never one of another drone. */
    for (int i = 0; i < d->n_packs; i++)
        if (d->packs[i].loc.place == REGISTRY_PLACE_DRONE && d->packs[i].loc.index == sysid)
            return d->packs[i].tag;
    return 0;
}

void swapd_inventory_fill(struct swapd *d, uint64_t now_ms)
{
    struct station_inventory_in *inv = &d->in.inv;
    const struct station_plant_in *pl = &d->in.plant;
    uint32_t committed = inv->moves_committed_seq;
    memset(inv, 0, sizeof *inv);
    inv->moves_committed_seq = committed;
    inv->valid = true;
    inv->last_step = d->boot_progress_used ? -1 : d->boot_last_step;
    inv->pad_sysid = d->boot_progress_used ? 0 : d->boot_pad_sysid;
    inv->fresh_slot = -1;
    for (int i = 0; i < d->n_packs; i++) {
        const struct swapd_pack *p = &d->packs[i];
        switch (p->loc.place) {
        case REGISTRY_PLACE_SLOT:
            if (p->loc.index >= 1 && p->loc.index <= REGMAP_MAX_SLOTS)
                inv->slot_tag[p->loc.index - 1] = p->tag;
            break;
        case REGISTRY_PLACE_GRIPPER_A: inv->grip_a_tag = p->tag; break;
        case REGISTRY_PLACE_GRIPPER_B: inv->grip_b_tag = p->tag; break;
        default: break;
        }
    }
    inv->pad_tag = swapd_inventory_pad_tag(d, swapd_pad_sysid(d));
    if (pl->load_g < (unsigned)d->station_cfg.touchdown_g)
        inv->pad_tag = 0;

    struct health_pack cand[REGMAP_MAX_SLOTS] = { 0 };
    int cand_slot[REGMAP_MAX_SLOTS], n = 0;
    double charge_rest_s[REGMAP_MAX_SLOTS];
    /* Every drone asking, the queue beyond the core's inputs included (those hold only
     * STATION_MAX_DRONES): the one being served and every waiting one. */
    int served = 0;
    for (int i = 0; i < STATION_MAX_DRONES; i++)
        served += d->in.drones[i].sysid && d->in.drones[i].swap_requested &&
                  !dronelink_queue_position(&d->drones, d->in.drones[i].sysid);
    int demand = served + (int)dronelink_queue_length(&d->drones);
    for (int s = 0; s < d->plant.n_slots && s < REGMAP_MAX_SLOTS; s++) {
        inv->charger_request[s] = -1;
        const struct station_slot_in *sl = &pl->slot[s];
        if (!sl->present || !pl->valid)
            continue;
        struct swapd_pack *p = swapd_pack_find(d, inv->slot_tag[s]);
        if (!p || p->tag != sl->tag)
            continue;  /* unknown or mismatching pack: reconciliation's business */
        if (sl->telemetry_stale)
            continue;  /* its charger telemetry is still the slot's before it arrived */
        /* The charger's state says whether current flows: a sensor's offset does not. */
        if (sl->chg_state == CHARGER_CC || sl->chg_state == CHARGER_CV || sl->chg_state == CHARGER_STORAGE)
            p->last_current_ms = now_ms;
        feed_estimator(d, p, s, now_ms);
        if (sl->chg_state == CHARGER_DONE && !p->charge_end_ms)
            p->charge_end_ms = now_ms;
        else if (sl->chg_state == CHARGER_CC || sl->chg_state == CHARGER_CV)
            p->charge_end_ms = 0;
        struct health_pack hp = {
            .tag = p->tag, .in_service = p->status == REGISTRY_IN_SERVICE,
            .fault = sl->chg_fault != 0 || sl->chg_state == CHARGER_FAULT || !sl->temp_ok,
            .tag_readable = sl->tag_ok,
            .soc = slot_soc(d, sl, p),
            .soh = p->rated_mah > 0 ? p->capacity_mah / p->rated_mah : 0,
            .rated_mAh = p->rated_mah, .efc = p->efc,
            .temp_degC = sl->temp_ok ? sl->temp_degC : NAN,
            .rest_s = p->last_current_ms ? swapd_battery_time_s(d, now_ms - p->last_current_ms) : 1e9,
            .since_charge_end_s = p->charge_end_ms ? swapd_battery_time_s(d, now_ms - p->charge_end_ms) : 1e9,
        };
        /* For the charge: the rest since current last flowed in the slot, or since the pack
         * came into it (off a drone), whichever is shorter; a charge under way is never
         * stopped for a rest. */
        bool charging = sl->chg_state == CHARGER_CC || sl->chg_state == CHARGER_CV ||
                        sl->chg_state == CHARGER_STORAGE;
        charge_rest_s[n] = charging ? 1e9 : hp.rest_s;
        int64_t in_slot_ms = swapd_wall_ms(d, now_ms) - p->loc_since_ms;
        if (!charging && in_slot_ms >= 0 && swapd_battery_time_s(d, (uint64_t)in_slot_ms) < charge_rest_s[n])
            charge_rest_s[n] = swapd_battery_time_s(d, (uint64_t)in_slot_ms);
        cand[n] = hp;
        cand_slot[n++] = s;
    }
    int best = health_choose_pack(&d->health, cand, n, SWAPD_FLIGHT_SOC);
    /* Waiting drones need a charge now when they outnumber the packs that can be handed
     * out; otherwise a pack that just came back rests first (its rested OCV closes its
     * flight's capacity window and opens its charge's). With a queue longer than the
     * ready packs, a rest would make every drone behind wait for it. */
    int ready = 0;
    for (int k = 0; k < n; k++)
        ready += health_pack_eligible(&d->health, &cand[k], SWAPD_FLIGHT_SOC, NULL, 0) == 0;
    bool needed_now = demand > ready;
    for (int k = 0; k < n; k++) {
        struct health_pack hp = cand[k];
        hp.rest_s = charge_rest_s[k];
        enum health_charge_action act = health_charge_decision(&d->health, &hp, needed_now ? 0 : -1, 0);
        inv->charger_request[cand_slot[k]] = act == HEALTH_CHARGE_FULL      ? CHARGER_MODE_CHARGE
                                             : act == HEALTH_CHARGE_STORAGE ? CHARGER_MODE_STORAGE
                                             : act == HEALTH_CHARGE_REST    ? CHARGER_MODE_OFF
                                                                            : -1;
    }
    if (best >= 0) {
        inv->fresh_slot = cand_slot[best];
        inv->fresh_tag = cand[best].tag;
    }
}

struct registry_location swapd_registry_location(struct station_location l)
{
    switch (l.place) {
    case STATION_PLACE_SLOT: return (struct registry_location){ REGISTRY_PLACE_SLOT, l.index + 1 };
    case STATION_PLACE_GRIPPER_A: return (struct registry_location){ REGISTRY_PLACE_GRIPPER_A, 0 };
    case STATION_PLACE_GRIPPER_B: return (struct registry_location){ REGISTRY_PLACE_GRIPPER_B, 0 };
    case STATION_PLACE_DRONE: return (struct registry_location){ REGISTRY_PLACE_DRONE, l.index };
    case STATION_PLACE_QUARANTINE: return (struct registry_location){ REGISTRY_PLACE_QUARANTINE, 0 };
    default: return (struct registry_location){ REGISTRY_PLACE_UNKNOWN, 0 };
    }
}
