/* The station core driving the in-process plant on a virtual clock: a full swap with the
 * on-pad time against the lower bound, the naive baseline, every step's missed deadline,
 * and scenario tables for the safety rules. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/station.h"
#include "plant/plant.h"
#include "plantio/plantio.h"
#include "plantio_sim.h"
#include "rng/rng.h"

#define SCAN_MS 10
#define DRONE 7
#define DRONE_TAG 0x5B000001u
#define FRESH_SLOT 2

/* The world around the core: plant model, a registry that commits every move at once,
 * a drone on the link, and the operator. */
struct world {
    struct plantcfg pc;
    struct station_cfg cfg;
    struct sim_plant *plant;
    struct plantio_backend io;
    struct station st;
    struct station_inputs in;
    struct station_outputs out;
    uint64_t now_ms;
    /* drone */
    bool drone_requesting, drone_landed, drone_armed, drone_silent, auto_land, auto_takeoff;
    struct sim_battery drone_pack;      /* the pack the drone flies with */
    bool policy_by_voltage;             /* hand out the fullest pack (campaign) */
    uint64_t land_at_ms, cleared_ms, takeoff_ms, touchdown_ms, insert_seen_ms, takeoff_clear_ms;
    int n_cleared_to_land, n_cleared_takeoff, n_aborted;
    /* last status */
    uint32_t committed;
    int n_moves_committed;
    char last_reason[128];
    bool last_ok;
    bool link_down;                     /* the plant link is down: no image, no writes */
};

static uint32_t slot_tag0(int s)
{
    return 0x5A000001u + (uint32_t)s;
}

static void world_registry_commit(struct world *w)
{
    for (int i = 0; i < w->out.n_moves; i++) {
        const struct station_move *m = &w->out.moves[i];
        if (m->seq <= w->committed)
            continue;
        struct station_inventory_in *inv = &w->in.inv;
        if (m->from.place == STATION_PLACE_SLOT)
            inv->slot_tag[m->from.index] = 0;
        if (m->from.place == STATION_PLACE_GRIPPER_A)
            inv->grip_a_tag = 0;
        if (m->from.place == STATION_PLACE_GRIPPER_B)
            inv->grip_b_tag = 0;
        if (m->to.place == STATION_PLACE_SLOT)
            inv->slot_tag[m->to.index] = m->tag;
        if (m->to.place == STATION_PLACE_GRIPPER_A)
            inv->grip_a_tag = m->tag;
        if (m->to.place == STATION_PLACE_GRIPPER_B)
            inv->grip_b_tag = m->tag;
        if (m->from.place == STATION_PLACE_DRONE)
            inv->pad_tag = 0;
        if (m->to.place == STATION_PLACE_DRONE) {
            inv->pad_tag = m->tag;
            inv->pad_sysid = (uint8_t)m->to.index;
        }
        w->committed = m->seq;
        w->n_moves_committed++;
    }
    w->in.inv.moves_committed_seq = w->committed;
    /* The policy: the fullest pack that is not in use; here simply the fixed slot while
     * it holds a pack, else the first occupied slot. */
    w->in.inv.fresh_slot = -1;
    if (w->policy_by_voltage) {
        unsigned best = 0;
        for (int s = 0; s < w->pc.n_slots; s++) {
            if (w->in.inv.slot_tag[s] && w->in.plant.slot[s].voltage_mV > best) {
                best = w->in.plant.slot[s].voltage_mV;
                w->in.inv.fresh_slot = s;
            }
        }
    } else if (w->in.inv.slot_tag[FRESH_SLOT]) {
        w->in.inv.fresh_slot = FRESH_SLOT;
    }
    for (int s = 0; w->in.inv.fresh_slot < 0 && s < w->pc.n_slots; s++)
        if (w->in.inv.slot_tag[s])
            w->in.inv.fresh_slot = s;
    w->in.inv.fresh_tag = w->in.inv.fresh_slot >= 0 ? w->in.inv.slot_tag[w->in.inv.fresh_slot] : 0;
}

static void world_drone(struct world *w)
{
    struct station_drone_in *d = &w->in.drones[0];
    d->sysid = DRONE;
    d->present = true;
    if (!w->drone_silent)
        d->last_heartbeat_ms = w->now_ms;
    d->armed = w->drone_armed;
    d->swap_requested = w->drone_requesting;
    d->landed_state = w->drone_landed ? 1 : 2;
    if (w->drone_landed) {
        const struct sim_battery *b = sim_plant_drone_battery(w->plant);
        if (b && b->tag != w->drone_pack.tag) {
            if (!w->insert_seen_ms)
                w->insert_seen_ms = w->now_ms;
            /* The drone boots on the new pack and reports it after boot_s. */
            if (w->now_ms >= w->insert_seen_ms + (uint64_t)(w->pc.drone_boot_s * 1000)) {
                d->battery_report_ms = w->now_ms;
                d->battery_tag = b->tag;
                d->battery_mV = (uint32_t)lround(sim_battery_voltage(b, 0) * 1000);
            }
        } else if (!b) {
            d->battery_report_ms = 0;  /* no pack: the drone is dark */
        }
    }
}

static void world_step_core(struct world *w)
{
    char err[128];
    world_drone(w);
    /* A refused image (a register outside its range) goes to the core as such. */
    if (w->link_down)
        w->in.plant.valid = w->in.plant.refused = false;
    else if (plantio_read(&w->io, (unsigned)w->pc.n_slots, &w->in.plant, err, sizeof err) != 0 &&
             !w->in.plant.refused)
        ck_abort_msg("plant read: %s", err);
    station_step(&w->st, &w->in, w->now_ms, &w->out);
    if (!w->link_down && plantio_write(&w->io, (unsigned)w->pc.n_slots, &w->out.plant, err, sizeof err) != 0)
        ck_abort_msg("plant write: %s", err);
    /* SWAP_TEST_TRACE=1 (with CK_FORK=no) prints every core event, for a failing case. */
    if (getenv("SWAP_TEST_TRACE"))
        for (int i = 0; i < w->out.n_events; i++)
            fprintf(stderr, "%8llu %s -> %s: %s\n", (unsigned long long)w->now_ms, w->out.events[i].from,
                    w->out.events[i].to, w->out.events[i].reason);
    w->last_ok = w->out.cmd_ok;
    snprintf(w->last_reason, sizeof w->last_reason, "%s", w->out.cmd_reason);
    w->in.op.cmd = STATION_CMD_NONE;
    w->in.op.op = STATION_OP_NONE;
    if (w->out.step >= 0)
        w->in.inv.last_step = w->out.step;   /* the shell persists the step in progress */
    world_registry_commit(w);
    for (int i = 0; i < w->out.n_msgs; i++) {
        const struct station_drone_msg *m = &w->out.msgs[i];
        if (m->sysid != DRONE)
            continue;
        if (m->kind == STATION_MSG_CLEARED_TO_LAND) {
            w->n_cleared_to_land++;
            w->cleared_ms = w->now_ms;
            if (w->auto_land && !w->land_at_ms)
                w->land_at_ms = w->now_ms + 6000;
        }
        if (m->kind == STATION_MSG_CLEARED_TAKEOFF) {
            w->n_cleared_takeoff++;
            w->takeoff_clear_ms = w->now_ms;
            w->drone_requesting = false;
            if (w->auto_takeoff)
                w->takeoff_ms = w->now_ms + 500;
        }
        if (m->kind == STATION_MSG_SWAP_ABORTED)
            w->n_aborted++;
    }
}

/* Advances the world by ms: the plant every millisecond, the core every scan. */
static void world_run(struct world *w, uint64_t ms)
{
    uint64_t end = w->now_ms + ms;
    while (w->now_ms < end) {
        sim_plant_step(w->plant, 1);
        w->now_ms++;
        if (w->land_at_ms && w->now_ms >= w->land_at_ms && !w->drone_landed) {
            int rc = sim_plant_drone_land(w->plant, &w->drone_pack);
            if (rc) {
                struct sim_truth t;
                sim_plant_truth(w->plant, &t);
                for (size_t i = 0; i < t.n_batteries; i++)
                    fprintf(stderr, "%08X place %d slot %d\n", t.batteries[i].tag, t.batteries[i].place, t.batteries[i].slot);
            }
            ck_assert_int_eq(rc, 0);
            w->land_at_ms = 0;
            w->drone_landed = true;
            w->touchdown_ms = w->now_ms;
            w->insert_seen_ms = 0;
            w->in.inv.pad_tag = w->drone_pack.tag;   /* the registry knows the drone's pack */
            w->in.inv.pad_sysid = DRONE;
            w->in.drones[0].battery_tag = w->drone_pack.tag;
            w->in.drones[0].battery_mV = 21000;
            w->in.drones[0].battery_report_ms = w->now_ms;
        }
        if (w->takeoff_ms && w->now_ms >= w->takeoff_ms && w->drone_landed) {
            bool has = false;
            if (sim_plant_drone_takeoff(w->plant, &w->drone_pack, &has) == 0) {
                w->in.inv.pad_tag = 0;
                w->in.inv.pad_sysid = 0;
                w->drone_landed = false;
                w->takeoff_ms = 0;
            }
        }
        if (w->now_ms % SCAN_MS == 0)
            world_step_core(w);
    }
}

/* Runs until pred holds (checked every scan) or the budget runs out. */
static bool world_until(struct world *w, bool (*pred)(const struct world *), uint64_t budget_ms)
{
    for (uint64_t t = 0; t < budget_ms; t += SCAN_MS) {
        if (pred(w))
            return true;
        world_run(w, SCAN_MS);
    }
    return pred(w);
}

static void world_cmd(struct world *w, enum station_cmd c)
{
    w->in.op.cmd = c;
    world_run(w, SCAN_MS);
}

static struct world *world_new(int sequence)
{
    struct world *w = calloc(1, sizeof *w);
    ck_assert_ptr_nonnull(w);
    plantcfg_defaults(&w->pc);
    station_cfg_defaults(&w->cfg);
    w->cfg.sequence = sequence;
    /* Most tests follow one swap from the drone's request; pre-staging (tested on its
     * own below) would run the fetch before that. */
    w->cfg.prestage = false;
    w->plant = sim_plant_new(&w->pc, 1234);
    ck_assert_ptr_nonnull(w->plant);
    plantio_sim_backend(&w->io, w->plant);
    ck_assert_int_eq(station_init(&w->st, &w->cfg, &w->pc, 0), 0);
    station_inputs_init(&w->in);
    w->in.inv.valid = true;
    for (int s = 0; s < w->pc.n_slots; s++)
        w->in.inv.slot_tag[s] = slot_tag0(s);
    world_registry_commit(w);
    w->auto_land = true;
    w->auto_takeoff = true;
    struct sim_rng rng;
    sim_rng_seed(&rng, 99);
    sim_battery_init(&w->drone_pack, &w->pc, DRONE_TAG, 0.2, &rng);
    return w;
}

static void world_free(struct world *w)
{
    sim_plant_free(w->plant);
    free(w);
}

static bool is_idle(const struct world *w) { return w->st.state == ST_IDLE; }
static bool is_suspended(const struct world *w) { return w->st.state == ST_SUSPENDED; }
static bool is_held(const struct world *w) { return w->st.state == ST_HELD; }
static bool took_off(const struct world *w) { return w->n_cleared_takeoff > 0 && !w->drone_landed; }
static bool at_rest_with_pack_in_b(const struct world *w)
{
    return !w->st.chain && w->st.grip_b_tag && w->st.state == ST_SUSPENDED;
}
static bool chain_done(const struct world *w) { return took_off(w) && !w->st.chain && w->st.state == ST_SUSPENDED; }

/* Reset, Start, and wait until the station waits for drones (Suspended, queue empty). */
static void world_start(struct world *w)
{
    world_run(w, 50);
    ck_assert_msg(w->st.reconciled, "not reconciled");
    world_cmd(w, STATION_CMD_RESET);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert_msg(world_until(w, is_idle, 2000), "not Idle: %s", station_state_name(w->st.state));
    world_cmd(w, STATION_CMD_START);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert_msg(world_until(w, is_suspended, 10000), "not Suspended: %s", station_state_name(w->st.state));
}

START_TEST(a_pack_removed_by_hand_is_booked_to_quarantine)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    world_start(w);
    /* Refused while the slot still senses its pack. */
    w->in.op.op = STATION_OP_PACK_REMOVED;
    w->in.op.slot = 2;
    world_run(w, SCAN_MS);
    ck_assert(!w->last_ok);
    ck_assert_ptr_nonnull(strstr(w->last_reason, "still senses a pack"));
    /* Taken out by hand, then booked: one move slot 3 -> quarantine, the slot is free. */
    ck_assert_int_eq(sim_plant_remove_pack(w->plant, 2, NULL), 0);
    world_run(w, SCAN_MS);
    int before = w->n_moves_committed;
    w->in.op.op = STATION_OP_PACK_REMOVED;
    w->in.op.slot = 2;
    world_run(w, 200);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert_int_eq(w->st.slot_tag[2], 0);
    ck_assert_int_eq(w->n_moves_committed, before + 1);
    /* Nothing left to book there. */
    w->in.op.op = STATION_OP_PACK_REMOVED;
    w->in.op.slot = 2;
    world_run(w, SCAN_MS);
    ck_assert(!w->last_ok);
    world_free(w);
}
END_TEST

static struct sim_truth truth;

static int truth_place_of(const struct world *w, uint32_t tag, int *slot)
{
    sim_plant_truth(w->plant, &truth);
    for (size_t i = 0; i < truth.n_batteries; i++) {
        if (truth.batteries[i].tag == tag) {
            *slot = truth.batteries[i].slot;
            return (int)truth.batteries[i].place;
        }
    }
    return -1;
}

static double full_swap(int sequence, struct world **keep)
{
    struct world *w = world_new(sequence);
    world_start(w);
    w->drone_requesting = true;
    ck_assert_msg(world_until(w, chain_done, 60000), "swap did not finish: state %s step %s",
                  station_state_name(w->st.state), swapseq_name(w->out.step));
    ck_assert_int_eq(w->n_cleared_to_land, 1);
    ck_assert_int_eq(w->n_cleared_takeoff, 1);
    ck_assert_msg(w->out.alarms_active == 0, "alarms %llx", (unsigned long long)w->out.alarms_active);
    double onpad_s = (double)w->st.last_onpad_ms / 1000.0;
    if (keep)
        *keep = w;
    else
        world_free(w);
    return onpad_s;
}

START_TEST(full_swap_pipelined_meets_lower_bound)
{
    struct world *w;
    double onpad_s = full_swap(SWAPSEQ_PIPELINED, &w);
    double bound_s = plantcfg_onpad_lower_bound_s(&w->pc);
    /* The core's own figure and the one measured outside it (plant touchdown to the
     * take-off clearance leaving the core) agree within a scan. */
    double outside_s = (double)(w->takeoff_clear_ms - w->touchdown_ms) / 1000.0;
    ck_assert_double_eq_tol(onpad_s, outside_s, 0.011);
    onpad_s = outside_s;
    double ratio = onpad_s / bound_s;
    printf("pipelined: on-pad %.3f s, lower bound %.3f s, ratio %.3f\n", onpad_s, bound_s, ratio);
    ck_assert_msg(ratio <= 1.05, "on-pad %.3f s vs bound %.3f s (ratio %.3f)", onpad_s, bound_s, ratio);
    ck_assert_msg(ratio > 0.8, "on-pad time implausibly short: %.3f s", onpad_s);

    /* The old pack is in a slot, on charge; the fresh one left with the drone. */
    int slot = -1;
    ck_assert_int_eq(truth_place_of(w, DRONE_TAG, &slot), SIM_PLACE_SLOT);
    ck_assert_int_eq(w->out.plant.charger_mode[slot], CHARGER_MODE_CHARGE);
    ck_assert_uint_eq(w->in.inv.slot_tag[slot], DRONE_TAG);
    int dummy;
    ck_assert_int_eq(truth_place_of(w, slot_tag0(FRESH_SLOT), &dummy), SIM_PLACE_AWAY);
    /* Moves: slot->B, drone->A, B->drone, A->slot, each committed. */
    ck_assert_int_eq(w->n_moves_committed, 4);
    ck_assert_int_eq(truth.takeoff_while_clamped, 0);
    ck_assert_int_eq(truth.collisions, 0);
    ck_assert_uint_eq(truth.plant_fault, 0);
    world_free(w);
}
END_TEST

/* The shell's fresh-input link polls back to back only while the core says a plant edge
 * is awaited: every scan of a chain (pre-staging included) and of the whole time on the
 * pad must say so, and a station at rest between drones must not. */
START_TEST(plant_edges_are_awaited_while_a_swap_runs_and_not_at_rest)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    w->cfg.prestage = true;
    ck_assert_int_eq(station_init(&w->st, &w->cfg, &w->pc, 0), 0);
    world_start(w);
    ck_assert_msg(world_until(w, at_rest_with_pack_in_b, 60000), "no pre-staged pack");
    world_run(w, 2000);
    ck_assert_msg(!w->out.plant_edge_awaited, "at rest in %s", station_state_name(w->st.state));
    w->drone_requesting = true;
    int chain_scans = 0, onpad_scans = 0;
    for (uint64_t t = 0; t < 60000 && !chain_done(w); t += SCAN_MS) {
        world_run(w, SCAN_MS);
        bool onpad = w->touchdown_ms && !w->takeoff_clear_ms;
        if (w->st.chain || onpad) {
            ck_assert_msg(w->out.plant_edge_awaited, "t=%llu ms: step %s, on pad %d, not awaited",
                          (unsigned long long)w->now_ms, swapseq_name(w->out.step), onpad);
            chain_scans += w->st.chain != NULL;
            onpad_scans += onpad;
        }
    }
    ck_assert_msg(chain_done(w), "swap did not finish");
    ck_assert_int_gt(chain_scans, 500);
    ck_assert_int_gt(onpad_scans, 500);
    ck_assert_msg(world_until(w, at_rest_with_pack_in_b, 60000), "no pack pre-staged after the swap");
    world_run(w, 2000);
    ck_assert_msg(!w->out.plant_edge_awaited, "at rest after the swap in %s", station_state_name(w->st.state));
    world_free(w);
}
END_TEST

/* ---- the naive baseline -------------------------------------------------------------- */

static void plant_coil(struct world *w, unsigned addr, int v)
{
    uint8_t b = (uint8_t)v;
    ck_assert_int_eq(sim_plant_write_coils(w->plant, addr, 1, &b), 0);
}

static void plant_reg(struct world *w, unsigned addr, unsigned v)
{
    uint16_t r = (uint16_t)v;
    ck_assert_int_eq(sim_plant_write_regs(w->plant, addr, 1, &r), 0);
}

/* Steps the bare plant (no core yet) until discrete input addr reads v. */
static void plant_wait(struct world *w, unsigned addr, int v)
{
    for (int t = 0; t < 20000; t++) {
        uint8_t b;
        ck_assert_int_eq(sim_plant_read_bits(w->plant, SIM_DI, addr, 1, &b), 0);
        if (b == v)
            return;
        sim_plant_step(w->plant, 1);
        w->now_ms++;
    }
    ck_abort_msg("plant DI %u never became %d", addr, v);
}

/* The naive order stores the old pack before it fetches, so it needs a free slot: a
 * commissioning run (driven straight on the register map, before the controller
 * starts) hands the pack of slot 0 to a drone that arrived without one. */
static void commission_free_slot0(struct world *w)
{
    plant_coil(w, REGMAP_CO_Z_HOME, 1);
    plant_wait(w, REGMAP_DI_Z_HOMED, 1);
    plant_coil(w, REGMAP_CO_X_HOME, 1);
    plant_wait(w, REGMAP_DI_X_HOMED, 1);
    plant_coil(w, REGMAP_CO_X_HOME, 0);
    plant_coil(w, REGMAP_CO_Z_HOME, 0);
    plant_reg(w, REGMAP_HR_CAROUSEL_TARGET, 0);
    plant_coil(w, REGMAP_CO_CAROUSEL_ENABLE, 1);
    plant_wait(w, REGMAP_DI_CAROUSEL_IN_POS, 1);
    plant_reg(w, REGMAP_HR_Z_TARGET, 1500);
    plant_coil(w, REGMAP_CO_Z_ENABLE, 1);
    plant_wait(w, REGMAP_DI_Z_BUSY, 1);
    plant_wait(w, REGMAP_DI_Z_IN_POS, 1);
    plant_coil(w, REGMAP_CO_STROKE_EXTEND, 1);
    plant_wait(w, REGMAP_DI_STROKE_EXTENDED, 1);
    plant_coil(w, REGMAP_CO_GRIP_A_CLOSE, 1);
    plant_wait(w, REGMAP_DI_GRIP_A_HOLDING, 1);
    plant_coil(w, REGMAP_CO_STROKE_EXTEND, 0);
    plant_wait(w, REGMAP_DI_STROKE_RETRACTED, 1);
    plant_reg(w, REGMAP_HR_Z_TARGET, 0);
    plant_wait(w, REGMAP_DI_Z_BUSY, 1);
    plant_wait(w, REGMAP_DI_Z_IN_POS, 1);
    ck_assert_int_eq(sim_plant_drone_land(w->plant, NULL), 0);
    plant_coil(w, REGMAP_CO_CENTER_CLOSE, 1);
    plant_wait(w, REGMAP_DI_CENTER_CLOSED, 1);
    plant_coil(w, REGMAP_CO_CLAMP_LOCK, 1);
    plant_wait(w, REGMAP_DI_CLAMP_LOCKED, 1);
    plant_reg(w, REGMAP_HR_X_TARGET, 6000);
    plant_coil(w, REGMAP_CO_X_ENABLE, 1);
    plant_wait(w, REGMAP_DI_X_BUSY, 1);
    plant_wait(w, REGMAP_DI_X_IN_POS, 1);
    plant_coil(w, REGMAP_CO_STROKE_EXTEND, 1);
    plant_wait(w, REGMAP_DI_STROKE_EXTENDED, 1);
    plant_coil(w, REGMAP_CO_GRIP_A_CLOSE, 0);
    plant_wait(w, REGMAP_DI_GRIP_A_OPEN, 1);
    plant_coil(w, REGMAP_CO_STROKE_EXTEND, 0);
    plant_wait(w, REGMAP_DI_STROKE_RETRACTED, 1);
    plant_reg(w, REGMAP_HR_X_TARGET, 0);
    plant_wait(w, REGMAP_DI_X_BUSY, 1);
    plant_wait(w, REGMAP_DI_X_IN_POS, 1);
    plant_coil(w, REGMAP_CO_CLAMP_LOCK, 0);
    plant_coil(w, REGMAP_CO_CENTER_CLOSE, 0);
    plant_wait(w, REGMAP_DI_CENTER_OPEN, 1);
    plant_wait(w, REGMAP_DI_CLAMP_UNLOCKED, 1);
    bool has = false;
    ck_assert_int_eq(sim_plant_drone_takeoff(w->plant, NULL, &has), 0);
    ck_assert(has);
    w->in.inv.slot_tag[0] = 0;
    world_registry_commit(w);
}

START_TEST(naive_baseline_is_much_slower)
{
    double pipelined_s = full_swap(SWAPSEQ_PIPELINED, NULL);
    struct world *w = world_new(SWAPSEQ_NAIVE);
    commission_free_slot0(w);
    world_start(w);
    w->drone_requesting = true;
    ck_assert_msg(world_until(w, chain_done, 90000), "naive swap did not finish: state %s step %s",
                  station_state_name(w->st.state), swapseq_name(w->out.step));
    double naive_s = (double)w->st.last_onpad_ms / 1000.0;
    double bound_s = plantcfg_onpad_lower_bound_s(&w->pc);
    printf("naive: on-pad %.3f s (ratio to bound %.3f), pipelined %.3f s: naive/pipelined %.2f\n",
           naive_s, naive_s / bound_s, pipelined_s, naive_s / pipelined_s);
    ck_assert_msg(naive_s > 2 * pipelined_s, "naive %.3f s vs pipelined %.3f s", naive_s, pipelined_s);
    int slot = -1;
    ck_assert_int_eq(truth_place_of(w, DRONE_TAG, &slot), SIM_PLACE_SLOT);
    ck_assert_int_eq(slot, 0);
    world_free(w);
}
END_TEST

/* ---- every step's missed deadline ------------------------------------------------------ */

enum inject { INJ_FAULT, INJ_SILENT_DRONE };

static const struct {
    enum swapseq_id step;
    enum inject how;
    struct sim_fault fault;
    enum diag_id alarm;
} late_steps[] = {
    { SWAPSEQ_FETCH_TRAVEL, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CAROUSEL, 0, 0 }, DIAG_CAROUSEL_TIMEOUT },
    { SWAPSEQ_FETCH_LOWER, INJ_FAULT, { SIM_FAULT_AXIS_JAM, 1, 0, 0 }, DIAG_Z_TIMEOUT },
    { SWAPSEQ_FETCH_EXTEND, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_STROKE, 0, 0 }, DIAG_STROKE_TIMEOUT },
    { SWAPSEQ_FETCH_GRIP, INJ_FAULT, { SIM_FAULT_GRIPPER_NO_CLOSE, 1, 0, 0 }, DIAG_GRIP_B_TIMEOUT },
    { SWAPSEQ_FETCH_RETRACT, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_STROKE, 0, 0 }, DIAG_STROKE_TIMEOUT },
    { SWAPSEQ_FETCH_RAISE, INJ_FAULT, { SIM_FAULT_AXIS_JAM, 1, 0, 0 }, DIAG_Z_TIMEOUT },
    { SWAPSEQ_TO_STANDBY, INJ_FAULT, { SIM_FAULT_AXIS_JAM, 0, 0, 0 }, DIAG_X_TIMEOUT },
    { SWAPSEQ_CENTER_CLOSE, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CENTER, 0, 0 }, DIAG_CENTER_TIMEOUT },
    { SWAPSEQ_CLAMP, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CLAMP, 0, 0 }, DIAG_CLAMP_TIMEOUT },
    { SWAPSEQ_TO_BAY, INJ_FAULT, { SIM_FAULT_AXIS_JAM, 0, 0, 0 }, DIAG_X_TIMEOUT },
    { SWAPSEQ_TAKE_EXTEND, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_STROKE, 0, 0 }, DIAG_STROKE_TIMEOUT },
    { SWAPSEQ_TAKE_GRIP, INJ_FAULT, { SIM_FAULT_GRIPPER_NO_CLOSE, 0, 0, 0 }, DIAG_GRIP_A_TIMEOUT },
    { SWAPSEQ_TAKE_RETRACT, INJ_FAULT, { SIM_FAULT_SENSOR_STUCK, SIM_IR, REGMAP_IR_LOAD_G, 3050 }, DIAG_BATTERY_NOT_REMOVED },
    { SWAPSEQ_WRIST_TURN, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_WRIST, 0, 0 }, DIAG_WRIST_TIMEOUT },
    { SWAPSEQ_INSERT_EXTEND, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_STROKE, 0, 0 }, DIAG_STROKE_TIMEOUT },
    { SWAPSEQ_INSERT_RELEASE, INJ_FAULT, { SIM_FAULT_SENSOR_STUCK, SIM_DI, REGMAP_DI_GRIP_B_HOLDING, 1 }, DIAG_GRIP_B_TIMEOUT },
    { SWAPSEQ_INSERT_RETRACT, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_STROKE, 0, 0 }, DIAG_STROKE_TIMEOUT },
    { SWAPSEQ_POWERUP_CHECK, INJ_SILENT_DRONE, { SIM_FAULT_NONE, 0, 0, 0 }, DIAG_POWERUP_FAILED },
    { SWAPSEQ_RELEASE_DRONE, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CLAMP, 0, 0 }, DIAG_CLAMP_TIMEOUT },
    { SWAPSEQ_STORE_TRAVEL, INJ_FAULT, { SIM_FAULT_AXIS_JAM, 0, 0, 0 }, DIAG_X_TIMEOUT },
    { SWAPSEQ_STORE_LOWER, INJ_FAULT, { SIM_FAULT_AXIS_JAM, 1, 0, 0 }, DIAG_Z_TIMEOUT },
    { SWAPSEQ_STORE_EXTEND, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_STROKE, 0, 0 }, DIAG_STROKE_TIMEOUT },
    { SWAPSEQ_STORE_RELEASE, INJ_FAULT, { SIM_FAULT_SENSOR_STUCK, SIM_DI, REGMAP_DI_GRIP_A_HOLDING, 1 }, DIAG_GRIP_A_TIMEOUT },
    { SWAPSEQ_STORE_RETRACT, INJ_FAULT, { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_STROKE, 0, 0 }, DIAG_STROKE_TIMEOUT },
    { SWAPSEQ_STORE_RAISE, INJ_FAULT, { SIM_FAULT_AXIS_JAM, 1, 0, 0 }, DIAG_Z_TIMEOUT },
};

static enum swapseq_id wanted_step;
static bool at_wanted_step(const struct world *w)
{
    return w->st.chain && w->out.step == (int)wanted_step && w->st.step_applied;
}

START_TEST(missed_deadline_holds_with_the_right_alarm)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    world_start(w);
    w->drone_requesting = true;
    wanted_step = late_steps[_i].step;
    ck_assert_msg(world_until(w, at_wanted_step, 60000), "never reached step %s", swapseq_name(wanted_step));
    if (late_steps[_i].how == INJ_FAULT)
        ck_assert_int_eq(sim_plant_inject(w->plant, &late_steps[_i].fault), 0);
    else
        w->drone_silent = true, w->insert_seen_ms = UINT64_MAX / 2;
    ck_assert_msg(world_until(w, is_held, 30000), "step %s: not Held but %s", swapseq_name(wanted_step),
                  station_state_name(w->st.state));
    uint64_t want = 1ull << late_steps[_i].alarm;
    ck_assert_msg(w->out.alarms_active & want, "step %s: alarm %s not raised (active %llx, first %s)",
                  swapseq_name(wanted_step), diag_name(late_steps[_i].alarm),
                  (unsigned long long)w->out.alarms_active,
                  diag_name(__builtin_ctzll(w->out.alarms_active | (1ull << 63))));
    /* Held stops every axis; nothing is released. */
    ck_assert(!w->out.plant.co[REGMAP_CO_X_ENABLE]);
    ck_assert(!w->out.plant.co[REGMAP_CO_Z_ENABLE]);
    ck_assert(!w->out.plant.co[REGMAP_CO_CAROUSEL_ENABLE]);
    ck_assert_int_eq(w->out.step, (int)wanted_step);
    world_free(w);
}
END_TEST

/* ---- safety scenarios: {t_ms, input change, expected state, expected command} ------- */

enum act { A_NONE, A_ARM, A_DISARM, A_SILENT, A_TALK, A_ESTOP, A_ESTOP_RELEASE, A_CMD_CLEAR,
           A_CMD_RESET, A_CMD_UNHOLD, A_CMD_START, A_CMD_ABORT, A_INV_SLOT3_EMPTY, A_ADOPT, A_NO_POWERUP,
           A_FREEZE, A_THAW, A_BAD_X_VEL, A_GOOD_X_VEL };

/* Expected outputs; EXP_* bits. */
#define EXP_NO_MOTION   0x01u  /* X, Z, carousel enables and homing all 0 */
#define EXP_CLAMPED     0x02u  /* clamp coil still 1 (drone not released) */
#define EXP_OUTSIDE_PAD 0x04u  /* head outside the pad zone */
#define EXP_REFUSED     0x08u  /* the command of this row was refused */
#define EXP_UNCLAMPED   0x10u  /* clamp coil 0 (drone released) */

struct row {
    uint64_t t_ms;             /* after the scenario's start point */
    enum act act;
    int state;                 /* expected PackML state after the row; -1 don't care */
    unsigned expect;
    int alarm;                 /* expected active alarm, -1 none required */
};

static void apply_act(struct world *w, enum act a)
{
    struct sim_fault estop = { SIM_FAULT_ESTOP, 0, 0, 0 };
    struct sim_fault freeze = { SIM_FAULT_IMAGE_FROZEN, 0, 0, 0 };
    struct sim_fault bad_x_vel = { SIM_FAULT_SENSOR_STUCK, SIM_IR, REGMAP_IR_X_VEL, 0x8000 };
    switch (a) {
    case A_NONE: break;
    case A_ARM: w->drone_armed = true; break;
    case A_DISARM: w->drone_armed = false; break;
    case A_SILENT: w->drone_silent = true; break;
    case A_TALK: w->drone_silent = false; break;
    case A_ESTOP: ck_assert_int_eq(sim_plant_inject(w->plant, &estop), 0); break;
    case A_ESTOP_RELEASE: sim_plant_clear_faults(w->plant, SIM_FAULT_ESTOP); break;
    case A_CMD_CLEAR: w->in.op.cmd = STATION_CMD_CLEAR; break;
    case A_CMD_RESET: w->in.op.cmd = STATION_CMD_RESET; break;
    case A_CMD_UNHOLD: w->in.op.cmd = STATION_CMD_UNHOLD; break;
    case A_CMD_START: w->in.op.cmd = STATION_CMD_START; break;
    case A_CMD_ABORT: w->in.op.cmd = STATION_CMD_ABORT; break;
    case A_NO_POWERUP: w->insert_seen_ms = UINT64_MAX / 2; break;
    case A_INV_SLOT3_EMPTY: w->in.inv.slot_tag[3] = 0; break;
    case A_ADOPT: w->in.op.op = STATION_OP_ADOPT_SENSORS; break;
    case A_FREEZE: ck_assert_int_eq(sim_plant_inject(w->plant, &freeze), 0); break;
    case A_THAW: sim_plant_clear_faults(w->plant, SIM_FAULT_IMAGE_FROZEN); break;
    case A_BAD_X_VEL: ck_assert_int_eq(sim_plant_inject(w->plant, &bad_x_vel), 0); break;
    case A_GOOD_X_VEL: sim_plant_clear_faults(w->plant, SIM_FAULT_SENSOR_STUCK); break;
    }
}

static void run_rows(struct world *w, const char *name, const struct row *rows, size_t n)
{
    uint64_t t0 = w->now_ms;
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        if (t0 + r->t_ms > w->now_ms)
            world_run(w, t0 + r->t_ms - w->now_ms);
        apply_act(w, r->act);
        world_run(w, SCAN_MS);
        const struct station_plant_out *o = &w->out.plant;
        if (r->state >= 0)
            ck_assert_msg(w->st.state == r->state, "%s row %zu (t=%llu): state %s, want %s", name, i,
                          (unsigned long long)r->t_ms, station_state_name(w->st.state), station_state_name(r->state));
        if (r->expect & EXP_NO_MOTION)
            ck_assert_msg(!o->co[REGMAP_CO_X_ENABLE] && !o->co[REGMAP_CO_Z_ENABLE] && !o->co[REGMAP_CO_CAROUSEL_ENABLE] &&
                          !o->co[REGMAP_CO_X_HOME] && !o->co[REGMAP_CO_Z_HOME], "%s row %zu: motion commanded", name, i);
        if (r->expect & EXP_CLAMPED)
            ck_assert_msg(o->co[REGMAP_CO_CLAMP_LOCK], "%s row %zu: clamp released", name, i);
        if (r->expect & EXP_UNCLAMPED)
            ck_assert_msg(!o->co[REGMAP_CO_CLAMP_LOCK], "%s row %zu: clamp still locked", name, i);
        if (r->expect & EXP_OUTSIDE_PAD)
            ck_assert_msg(w->in.plant.x_pos_mm < w->pc.x_pad_zone_mm, "%s row %zu: head at %.1f mm", name, i,
                          w->in.plant.x_pos_mm);
        if (r->expect & EXP_REFUSED)
            ck_assert_msg(!w->last_ok, "%s row %zu: command accepted", name, i);
        else if (r->act >= A_CMD_CLEAR && r->act <= A_CMD_ABORT)
            ck_assert_msg(w->last_ok, "%s row %zu: refused: %s", name, i, w->last_reason);
        if (r->alarm >= 0)
            ck_assert_msg(w->out.alarms_active & (1ull << r->alarm), "%s row %zu: alarm %s not active", name, i,
                          diag_name(r->alarm));
    }
}

static struct world *world_at_step(enum swapseq_id step)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    world_start(w);
    w->drone_requesting = true;
    wanted_step = step;
    ck_assert_msg(world_until(w, at_wanted_step, 60000), "never reached %s", swapseq_name(step));
    return w;
}

/* DESIGN §5 rule 2: the drone arms while clamped, the robot in its bay: a controlled
 * stop (Held, the swap kept, the drone not cancelled), no resume until the operator
 * unholds; then the swap finishes. */
static const struct row rearm_rows[] = {
    { 0, A_ARM, ST_HELD, EXP_NO_MOTION | EXP_CLAMPED, DIAG_DRONE_ARMED },
    { 500, A_DISARM, ST_HELD, EXP_NO_MOTION | EXP_CLAMPED, DIAG_DRONE_ARMED },
    { 5000, A_NONE, ST_HELD, EXP_NO_MOTION | EXP_CLAMPED, DIAG_DRONE_ARMED },
    { 5100, A_CMD_UNHOLD, -1, 0, -1 },
    { 8000, A_NONE, ST_EXECUTE, 0, -1 },
};

START_TEST(drone_rearms_while_clamped_stops_and_stays_stopped)
{
    struct world *w = world_at_step(SWAPSEQ_TAKE_EXTEND);
    run_rows(w, "rearm", rearm_rows, sizeof rearm_rows / sizeof rearm_rows[0]);
    ck_assert_int_eq(w->n_aborted, 0);
    ck_assert_msg(world_until(w, took_off, 60000), "the swap did not finish after Unhold");
    world_free(w);
}
END_TEST

/* docs/drone-protocol.md §8: the cleared drone withdraws before touchdown (it cancelled,
 * or the link gave its clearance up): the pad is free at once, the fetch under way ends
 * at standby as pre-staging, and the next request is cleared without waiting for the
 * landing timeout. Tried at every step before touchdown. */
START_TEST(withdrawn_clearance_frees_the_pad)
{
    static const enum swapseq_id steps[] = { SWAPSEQ_FETCH_TRAVEL, SWAPSEQ_FETCH_GRIP, SWAPSEQ_TO_STANDBY,
                                             SWAPSEQ_AWAIT_TOUCHDOWN };
    struct world *w = world_at_step(steps[_i]);
    w->auto_land = false;
    w->land_at_ms = 0;
    world_run(w, 200);
    ck_assert_uint_eq(w->st.serving_sysid, DRONE);
    w->drone_requesting = false;
    world_run(w, 200);
    ck_assert_uint_eq(w->st.serving_sysid, 0);
    ck_assert_int_eq(w->st.n_queue, 0);
    ck_assert_int_eq(w->n_aborted, 0);
    /* The fetch finishes as pre-staging: the pack waits in gripper B, nothing else moves. */
    ck_assert_msg(world_until(w, at_rest_with_pack_in_b, 30000), "the fetch did not end at standby");
    ck_assert(!(w->out.alarms_active & (1ull << DIAG_LANDING_TIMEOUT)));
    /* The drone asks again and is cleared at once. */
    int before = w->n_cleared_to_land;
    w->drone_requesting = true;
    world_run(w, 2000);
    ck_assert_int_gt(w->n_cleared_to_land, before);
    world_free(w);
}
END_TEST

/* Rule 1: a stale heartbeat counts as armed: the drone is not clamped, the head waits at
 * standby, then Held. */
static const struct row stale_rows[] = {
    { 0, A_SILENT, -1, 0, -1 },
    { 3000, A_NONE, ST_EXECUTE, EXP_OUTSIDE_PAD | EXP_UNCLAMPED, -1 },
    { 7000, A_NONE, ST_HELD, EXP_OUTSIDE_PAD | EXP_NO_MOTION | EXP_UNCLAMPED, DIAG_DRONE_NOT_DISARMED },
    { 7100, A_TALK, ST_HELD, EXP_OUTSIDE_PAD, -1 },
    { 7200, A_CMD_UNHOLD, -1, 0, -1 },
    { 9000, A_NONE, ST_EXECUTE, 0, -1 },
};

START_TEST(stale_heartbeat_blocks_pad_zone_entry)
{
    struct world *w = world_at_step(SWAPSEQ_AWAIT_TOUCHDOWN);
    w->auto_land = false;
    w->drone_silent = true;
    w->land_at_ms = w->now_ms + 10;
    world_run(w, 20);
    wanted_step = SWAPSEQ_CENTER_CLOSE;
    ck_assert(world_until(w, at_wanted_step, 5000));
    run_rows(w, "stale", stale_rows, sizeof stale_rows / sizeof stale_rows[0]);
    ck_assert_msg(world_until(w, chain_done, 30000), "swap did not finish after the drone spoke again");
    world_free(w);
}
END_TEST

/* Rule 7: e-stop latches; Clear and Reset never restart motion by themselves. */
static const struct row estop_rows[] = {
    { 0, A_ESTOP, ST_ABORTED, EXP_NO_MOTION, DIAG_ESTOP },
    { 200, A_CMD_CLEAR, ST_ABORTED, EXP_NO_MOTION | EXP_REFUSED, DIAG_ESTOP },
    { 400, A_ESTOP_RELEASE, ST_ABORTED, EXP_NO_MOTION, DIAG_ESTOP },
    { 2000, A_NONE, ST_ABORTED, EXP_NO_MOTION, DIAG_ESTOP },
    { 2100, A_CMD_CLEAR, -1, EXP_NO_MOTION, -1 },
    { 3000, A_NONE, ST_STOPPED, EXP_NO_MOTION, -1 },
    { 3100, A_CMD_RESET, -1, EXP_NO_MOTION, -1 },
    { 4000, A_NONE, ST_IDLE, EXP_NO_MOTION, -1 },
    { 9000, A_NONE, ST_IDLE, EXP_NO_MOTION, -1 },
};

START_TEST(estop_latches_and_reset_never_restarts_motion)
{
    struct world *w = world_at_step(SWAPSEQ_FETCH_TRAVEL);
    w->auto_land = false;   /* the drone obeys the abort and stays away */
    w->land_at_ms = 0;
    run_rows(w, "estop", estop_rows, sizeof estop_rows / sizeof estop_rows[0]);
    ck_assert_msg(w->out.alarms_active == 0, "alarms left: %llx", (unsigned long long)w->out.alarms_active);
    world_free(w);
}
END_TEST

/* Rule 4 after a crash: the persisted inventory says slot 3 is empty, the sensors see a
 * pack: Held, no motion, Reset refused; the operator adopts the sensors, then Unhold. */
static const struct row recon_rows[] = {
    /* compared once the image has proved live (its echo followed a heartbeat) */
    { SCAN_MS, A_NONE, ST_HELD, EXP_NO_MOTION, DIAG_INVENTORY_MISMATCH },
    { 3000, A_NONE, ST_HELD, EXP_NO_MOTION, DIAG_INVENTORY_MISMATCH },
    { 3100, A_CMD_RESET, ST_HELD, EXP_NO_MOTION | EXP_REFUSED, DIAG_INVENTORY_MISMATCH },
    { 3200, A_CMD_START, ST_HELD, EXP_NO_MOTION | EXP_REFUSED, -1 },
    { 3300, A_ADOPT, ST_HELD, EXP_NO_MOTION, -1 },
    { 3400, A_CMD_UNHOLD, -1, EXP_NO_MOTION, -1 },
    { 4000, A_NONE, ST_STOPPED, EXP_NO_MOTION, -1 },
    { 4100, A_CMD_RESET, -1, EXP_NO_MOTION, -1 },
    { 5000, A_NONE, ST_IDLE, EXP_NO_MOTION, -1 },
};

START_TEST(reconciliation_mismatch_holds_without_motion)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    w->in.inv.slot_tag[3] = 0;
    world_registry_commit(w);
    run_rows(w, "recon", recon_rows, sizeof recon_rows / sizeof recon_rows[0]);
    ck_assert(w->st.reconciled);
    ck_assert_uint_eq(w->in.inv.slot_tag[3], slot_tag0(3));
    ck_assert_int_eq(w->n_moves_committed, 1);
    world_free(w);
}
END_TEST

/* Rule 3: no unclamp without the new pack verified, unless the operator aborts (with
 * the head out of the pad zone). */
static const struct row unclamp_rows[] = {
    { 0, A_NO_POWERUP, -1, 0, -1 },
    { 1500, A_NONE, ST_EXECUTE, EXP_CLAMPED, -1 },
    { 6000, A_NONE, ST_HELD, EXP_CLAMPED | EXP_OUTSIDE_PAD | EXP_NO_MOTION, DIAG_POWERUP_FAILED },
    { 6100, A_CMD_ABORT, -1, EXP_UNCLAMPED, -1 },
    { 7000, A_NONE, ST_ABORTED, EXP_UNCLAMPED | EXP_NO_MOTION, -1 },
};

START_TEST(unclamp_needs_a_verified_pack_or_an_operator_abort)
{
    struct world *w = world_at_step(SWAPSEQ_POWERUP_CHECK);
    run_rows(w, "unclamp", unclamp_rows, sizeof unclamp_rows / sizeof unclamp_rows[0]);
    ck_assert_int_ge(w->n_aborted, 1);
    world_free(w);
}
END_TEST

/* ---- recovery, the landing queue, weather ---------------------------------------------- */

START_TEST(unhold_after_repair_restarts_the_step_and_finishes)
{
    struct world *w = world_at_step(SWAPSEQ_TAKE_GRIP);
    struct sim_fault f = { SIM_FAULT_GRIPPER_NO_CLOSE, 0, 0, 0 };
    ck_assert_int_eq(sim_plant_inject(w->plant, &f), 0);
    ck_assert(world_until(w, is_held, 10000));
    /* Unhold while the plant still reports the fault: Unholding gives up, Held again. */
    world_cmd(w, STATION_CMD_UNHOLD);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert(world_until(w, is_held, 10000));
    ck_assert(w->out.alarms_active & (1ull << DIAG_GRIP_A_TIMEOUT));
    /* Repaired: Unhold restarts take_grip and the swap runs to the end. */
    sim_plant_clear_faults(w->plant, SIM_FAULT_GRIPPER_NO_CLOSE);
    world_cmd(w, STATION_CMD_UNHOLD);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    bool done = world_until(w, chain_done, 30000);
    ck_assert_msg(done, "state %s step %s alarms %llx plant fault %u", station_state_name(w->st.state),
                  swapseq_name(w->out.step), (unsigned long long)w->out.alarms_active, w->in.plant.plant_fault);
    ck_assert_int_eq(w->n_cleared_takeoff, 1);
    ck_assert_msg(w->out.alarms_active == 0, "alarms %llx", (unsigned long long)w->out.alarms_active);
    int slot;
    ck_assert_int_eq(truth_place_of(w, DRONE_TAG, &slot), SIM_PLACE_SLOT);
    world_free(w);
}
END_TEST

START_TEST(unhold_is_bounded_by_step_retries)
{
    struct world *w = world_at_step(SWAPSEQ_CENTER_CLOSE);
    struct sim_fault f = { SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CENTER, 0, 0 };
    ck_assert_int_eq(sim_plant_inject(w->plant, &f), 0);
    for (int i = 0; i < w->cfg.step_retries; i++) {
        ck_assert_msg(world_until(w, is_held, 15000), "retry %d: %s", i, station_state_name(w->st.state));
        world_cmd(w, STATION_CMD_UNHOLD);
        ck_assert_msg(w->last_ok, "retry %d: %s", i, w->last_reason);
        world_run(w, 100);
    }
    ck_assert(world_until(w, is_held, 15000));
    world_cmd(w, STATION_CMD_UNHOLD);
    ck_assert(!w->last_ok);
    ck_assert_ptr_nonnull(strstr(w->last_reason, "retried"));
    world_free(w);
}
END_TEST

START_TEST(second_drone_is_queued_then_served)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    world_start(w);
    w->drone_requesting = true;
    struct station_drone_in *d2 = &w->in.drones[1];
    d2->sysid = 9;
    d2->present = true;
    d2->swap_requested = true;
    int queued_pos = 0, cleared9 = 0;
    for (int t = 0; t < 40000 && !cleared9; t += SCAN_MS) {
        d2->last_heartbeat_ms = w->now_ms;
        world_run(w, SCAN_MS);
        for (int i = 0; i < w->out.n_msgs; i++) {
            if (w->out.msgs[i].sysid != 9)
                continue;
            if (w->out.msgs[i].kind == STATION_MSG_QUEUED && !queued_pos)
                queued_pos = w->out.msgs[i].param;
            if (w->out.msgs[i].kind == STATION_MSG_CLEARED_TO_LAND) {
                cleared9 = 1;
                /* only after drone 7 was cleared for take-off and has left the pad */
                ck_assert_int_eq(w->n_cleared_takeoff, 1);
                ck_assert(!w->drone_landed);
            }
        }
    }
    ck_assert_int_eq(queued_pos, 2);
    ck_assert(cleared9);
    world_free(w);
}
END_TEST

START_TEST(weather_suspends_landings_and_resumes)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    world_start(w);
    struct sim_fault wind = { SIM_FAULT_WEATHER, 0, 0, 20.0 };
    ck_assert_int_eq(sim_plant_inject(w->plant, &wind), 0);
    w->drone_requesting = true;
    world_run(w, 5000);
    ck_assert_int_eq(w->st.state, ST_SUSPENDED);
    ck_assert_int_eq(w->n_cleared_to_land, 0);
    ck_assert(w->out.alarms_active & (1ull << DIAG_WEATHER));
    w->in.op.cmd = STATION_CMD_UNSUSPEND;
    world_run(w, SCAN_MS);
    ck_assert(!w->last_ok);
    ck_assert_ptr_nonnull(strstr(w->last_reason, "wind"));
    sim_plant_clear_faults(w->plant, SIM_FAULT_WEATHER);
    ck_assert(world_until(w, chain_done, 60000));
    ck_assert_int_eq(w->n_cleared_to_land, 1);
    world_free(w);
}
END_TEST

START_TEST(hot_pack_is_never_handed_out)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    world_start(w);
    /* the fresh slot's NTC reads 50.0 degC */
    struct sim_fault hot = { SIM_FAULT_SENSOR_STUCK, SIM_IR, REGMAP_IR_SLOT_ADDR(FRESH_SLOT, REGMAP_IR_SLOT_TEMP), 500 };
    ck_assert_int_eq(sim_plant_inject(w->plant, &hot), 0);
    w->drone_requesting = true;
    world_run(w, 5000);
    ck_assert_int_eq(w->n_cleared_to_land, 0);
    ck_assert_int_eq(w->st.state, ST_SUSPENDED);
    ck_assert(w->out.alarms_active & (1ull << DIAG_NO_BATTERY));
    ck_assert_uint_eq(w->out.plant.charger_mode[FRESH_SLOT], CHARGER_MODE_OFF);
    sim_plant_clear_faults(w->plant, SIM_FAULT_SENSOR_STUCK);
    ck_assert(world_until(w, chain_done, 60000));
    ck_assert_int_eq(w->n_cleared_to_land, 1);
    world_free(w);
}
END_TEST

/* ---- restart in the middle of a swap ----------------------------------------------------- */

static const enum swapseq_id restart_steps[] = {
    SWAPSEQ_CLAMP, SWAPSEQ_TO_BAY, SWAPSEQ_TAKE_GRIP, SWAPSEQ_TAKE_RETRACT, SWAPSEQ_WRIST_TURN,
    SWAPSEQ_INSERT_EXTEND, SWAPSEQ_INSERT_RELEASE, SWAPSEQ_INSERT_RETRACT, SWAPSEQ_POWERUP_CHECK,
    SWAPSEQ_RELEASE_DRONE,
};

#define N_RESTART ((int)(sizeof restart_steps / sizeof restart_steps[0]))

/* Runs 0..N-1 restore the persisted last step; runs N.. lose it (a shell that does not
 * persist steps) and the core infers the step from where the packs are. */
START_TEST(restart_mid_swap_resumes_at_the_persisted_step)
{
    int k = _i % N_RESTART;
    bool lost_step = _i >= N_RESTART;
    struct world *w = world_at_step(restart_steps[k]);
    world_run(w, 30 + 40 * (uint64_t)k % 200);
    if (lost_step)
        w->in.inv.last_step = -1;
    /* The controller dies and comes back: a fresh core, the registry's inventory and
     * last step, the plant's coil levels read back. Nothing moves before it agrees. */
    char err[128];
    ck_assert_int_eq(plantio_readback(&w->io, &w->in.plant, err, sizeof err), 0);
    ck_assert_int_eq(station_init(&w->st, &w->cfg, &w->pc, w->now_ms), 0);
    world_run(w, 100);
    if (lost_step)
        w->in.inv.last_step = -1;
    /* A gripper caught between its ends goes back first (nothing moves a pack meanwhile). */
    for (int t = 0; t < 200 && !w->st.reconciled; t++)
        world_run(w, SCAN_MS);
    ck_assert_msg(w->st.reconciled, "restart at %s: not reconciled (%s)", swapseq_name(restart_steps[k]),
                  station_state_name(w->st.state));
    world_cmd(w, STATION_CMD_RESET);
    ck_assert(world_until(w, is_idle, 3000));
    world_cmd(w, STATION_CMD_START);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    bool done = world_until(w, chain_done, 40000);
    ck_assert_msg(done, "restart at %s%s: state %s step %s alarms %llx plant fault %u", swapseq_name(restart_steps[k]),
                  lost_step ? " (step lost)" : "",
                  station_state_name(w->st.state), swapseq_name(w->out.step), (unsigned long long)w->out.alarms_active,
                  w->in.plant.plant_fault);
    ck_assert_int_eq(w->n_cleared_takeoff, 1);
    int slot;
    ck_assert_int_eq(truth_place_of(w, DRONE_TAG, &slot), SIM_PLACE_SLOT);
    ck_assert_uint_eq(w->in.inv.slot_tag[slot], DRONE_TAG);
    ck_assert_int_eq(truth_place_of(w, slot_tag0(FRESH_SLOT), &slot), SIM_PLACE_AWAY);
    ck_assert_int_eq(truth.collisions, 0);
    ck_assert_int_eq(truth.takeoff_while_clamped, 0);
    world_free(w);
}
END_TEST

/* ---- campaign: many swaps in a row ------------------------------------------------------ */

static int swaps_wanted;
static bool nth_swap_done(const struct world *w)
{
    return w->n_cleared_takeoff >= swaps_wanted && chain_done(w);
}

START_TEST(twelve_swaps_in_a_row_keep_inventory_and_timing)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    w->policy_by_voltage = true;
    world_start(w);
    double bound_s = plantcfg_onpad_lower_bound_s(&w->pc), worst = 0;
    for (int k = 1; k <= 12; k++) {
        w->drone_requesting = true;
        swaps_wanted = k;
        ck_assert_msg(world_until(w, nth_swap_done, 90000) && w->n_cleared_takeoff == k,
                      "swap %d: state %s step %s alarms %llx", k, station_state_name(w->st.state),
                      swapseq_name(w->out.step), (unsigned long long)w->out.alarms_active);
        double ratio = (double)w->st.last_onpad_ms / 1000.0 / bound_s;
        if (ratio > worst)
            worst = ratio;
        ck_assert_msg(ratio <= 1.05, "swap %d: ratio %.3f", k, ratio);
        /* the registry's view equals the plant's truth, slot by slot */
        sim_plant_truth(w->plant, &truth);
        for (int s = 0; s < w->pc.n_slots; s++) {
            uint32_t real = 0;
            for (size_t i = 0; i < truth.n_batteries; i++)
                if (truth.batteries[i].place == SIM_PLACE_SLOT && truth.batteries[i].slot == s)
                    real = truth.batteries[i].tag;
            ck_assert_msg(real == w->in.inv.slot_tag[s], "swap %d slot %d: truth %08X registry %08X", k, s, real,
                          w->in.inv.slot_tag[s]);
        }
        ck_assert_uint_eq(w->in.inv.grip_a_tag, 0);
        ck_assert_uint_eq(w->in.inv.grip_b_tag, 0);
        ck_assert_int_eq(truth.takeoff_while_clamped, 0);
        ck_assert_int_eq(truth.collisions, 0);
        world_run(w, 20000);     /* the drone flies a while */
    }
    printf("campaign: 12 swaps, worst on-pad ratio %.3f, %d moves committed\n", worst, w->n_moves_committed);
    ck_assert_int_eq(w->n_moves_committed, 48);
    world_free(w);
}
END_TEST

/* ---- property campaign: random faults at random times --------------------------------- */

enum rnd_fault { RF_X_JAM, RF_Z_JAM, RF_GRIP_A, RF_GRIP_B, RF_CENTER, RF_CLAMP, RF_STROKE, RF_WRIST,
                 RF_CAROUSEL, RF_ESTOP, RF_GUARD, RF_ARM, RF_SILENT, RF_WEATHER, RF_COUNT };

static void inject_random(struct world *w, enum rnd_fault f)
{
    struct sim_fault sf = { SIM_FAULT_NONE, 0, 0, 0 };
    switch (f) {
    case RF_X_JAM: sf = (struct sim_fault){ SIM_FAULT_AXIS_JAM, 0, 0, 0 }; break;
    case RF_Z_JAM: sf = (struct sim_fault){ SIM_FAULT_AXIS_JAM, 1, 0, 0 }; break;
    case RF_GRIP_A: sf = (struct sim_fault){ SIM_FAULT_GRIPPER_NO_CLOSE, 0, 0, 0 }; break;
    case RF_GRIP_B: sf = (struct sim_fault){ SIM_FAULT_GRIPPER_NO_CLOSE, 1, 0, 0 }; break;
    case RF_CENTER: sf = (struct sim_fault){ SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CENTER, 0, 0 }; break;
    case RF_CLAMP: sf = (struct sim_fault){ SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CLAMP, 0, 0 }; break;
    case RF_STROKE: sf = (struct sim_fault){ SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_STROKE, 0, 0 }; break;
    case RF_WRIST: sf = (struct sim_fault){ SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_WRIST, 0, 0 }; break;
    case RF_CAROUSEL: sf = (struct sim_fault){ SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CAROUSEL, 0, 0 }; break;
    case RF_ESTOP: sf = (struct sim_fault){ SIM_FAULT_ESTOP, 0, 0, 0 }; break;
    case RF_GUARD: sf = (struct sim_fault){ SIM_FAULT_GUARD_OPEN, 0, 0, 0 }; break;
    case RF_WEATHER: sf = (struct sim_fault){ SIM_FAULT_WEATHER, 0, 1, 20 }; break;
    case RF_ARM: w->drone_armed = true; return;
    case RF_SILENT: w->drone_silent = true; return;
    case RF_COUNT: return;
    }
    ck_assert_int_eq(sim_plant_inject(w->plant, &sf), 0);
}

START_TEST(random_faults_never_break_the_safety_rules)
{
    struct sim_rng rng;
    sim_rng_seed(&rng, 4000 + (uint64_t)_i);
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    world_start(w);
    w->drone_requesting = true;
    enum rnd_fault f = (enum rnd_fault)sim_rng_below(&rng, RF_COUNT);
    uint64_t at = w->now_ms + 1000 + sim_rng_below(&rng, 25000);
    bool injected = false;
    for (uint64_t t = 0; t < 36000; t += SCAN_MS) {
        if (!injected && w->now_ms >= at) {
            inject_random(w, f);
            injected = true;
        }
        world_run(w, SCAN_MS);
        sim_plant_truth(w->plant, &truth);
        /* rule 1 as the plant sees it: the head in the pad zone over a drone only when
         * the drone is centred and clamped */
        ck_assert_msg(!(truth.head_in_pad_zone && truth.drone_present) || (truth.drone_clamped && truth.drone_centred),
                      "run %d fault %d: head in the pad zone over a loose drone at %llu ms", _i, f,
                      (unsigned long long)w->now_ms);
        ck_assert_int_eq(truth.takeoff_while_clamped, 0);
        ck_assert_msg(truth.collisions == 0, "run %d fault %d: collision", _i, f);
        /* rule 2: an armed drone in the clamp stops the station within two scans */
        if (w->drone_armed && truth.drone_clamped && w->now_ms > at + 2 * SCAN_MS)
            ck_assert_msg(w->st.state == ST_ABORTING || w->st.state == ST_ABORTED,
                          "run %d: armed drone clamped but state %s", _i, station_state_name(w->st.state));
        /* rule 7: after an e-stop nothing is commanded to move */
        if (f == RF_ESTOP && injected && w->now_ms > at + 2 * SCAN_MS)
            ck_assert(!w->out.plant.co[REGMAP_CO_X_ENABLE] && !w->out.plant.co[REGMAP_CO_Z_ENABLE] &&
                      !w->out.plant.co[REGMAP_CO_CAROUSEL_ENABLE]);
    }
    /* every pack is where the registry says, or the station stopped with an alarm */
    if (w->out.alarms_active == 0) {
        for (int s = 0; s < w->pc.n_slots; s++) {
            uint32_t real = 0;
            for (size_t i = 0; i < truth.n_batteries; i++)
                if (truth.batteries[i].place == SIM_PLACE_SLOT && truth.batteries[i].slot == s)
                    real = truth.batteries[i].tag;
            ck_assert_msg(real == w->in.inv.slot_tag[s], "run %d slot %d", _i, s);
        }
    }
    world_free(w);
}
END_TEST

/* ---- defects the invariant campaign found ----------------------------------------------- */

/* A guard opened while the robot moves latches a plant fault: once the guard is closed,
 * Reset/Unhold send the fault reset that clears the latch and the swap finishes; while
 * it is open, Unhold is refused. */
START_TEST(guard_opened_while_moving_is_reset_once_closed)
{
    struct world *w = world_at_step(SWAPSEQ_FETCH_TRAVEL);
    struct sim_fault g = { SIM_FAULT_GUARD_OPEN, 0, 0, 0 };
    ck_assert_int_eq(sim_plant_inject(w->plant, &g), 0);
    ck_assert(world_until(w, is_held, 3000));
    ck_assert(w->out.alarms_active & (1ull << DIAG_GUARD));
    world_cmd(w, STATION_CMD_UNHOLD);
    ck_assert_msg(!w->last_ok, "Unhold accepted with the guard open");
    sim_plant_clear_faults(w->plant, SIM_FAULT_GUARD_OPEN);
    world_run(w, 100);
    ck_assert_uint_eq(w->in.plant.plant_fault, PF_GUARD);   /* still latched in the plant */
    world_cmd(w, STATION_CMD_UNHOLD);
    ck_assert_msg(w->last_ok, "Unhold refused: %s", w->last_reason);
    ck_assert_msg(world_until(w, chain_done, 60000), "swap did not finish: %s alarms %llx",
                  station_state_name(w->st.state), (unsigned long long)w->out.alarms_active);
    ck_assert_uint_eq(w->in.plant.plant_fault, 0);
    world_free(w);
}
END_TEST

/* The clamp waits for a heartbeat after touchdown that says "disarmed": a drone still
 * armed when it lands is never clamped (no drone_armed abort), and is clamped once it
 * reports disarmed. */
START_TEST(clamp_waits_for_a_fresh_disarmed_report)
{
    struct world *w = world_at_step(SWAPSEQ_AWAIT_TOUCHDOWN);
    w->drone_armed = true;
    wanted_step = SWAPSEQ_CENTER_CLOSE;
    ck_assert(world_until(w, at_wanted_step, 10000));
    world_run(w, 2500);
    ck_assert_int_eq(w->out.step, SWAPSEQ_CLAMP);
    ck_assert(!w->out.plant.co[REGMAP_CO_CLAMP_LOCK]);
    ck_assert(!(w->out.alarms_active & (1ull << DIAG_DRONE_ARMED)));
    ck_assert_int_eq(w->st.state, ST_EXECUTE);
    w->drone_armed = false;
    ck_assert_msg(world_until(w, chain_done, 30000), "swap did not finish: %s", station_state_name(w->st.state));
    ck_assert_int_eq(w->n_aborted, 0);
    world_free(w);
}
END_TEST

/* An operator Abort while the head brakes towards the pad zone waits for the robot to
 * stop before it unclamps, and does not unclamp with the head in the zone. */
START_TEST(abort_while_braking_unclamps_only_once_stopped_outside)
{
    struct world *w = world_at_step(SWAPSEQ_TO_BAY);
    /* the head has just left standby at speed */
    for (int i = 0; i < 100 && abs(w->in.plant.x_vel_mm_s) < 200; i++)
        world_run(w, SCAN_MS);
    ck_assert(abs(w->in.plant.x_vel_mm_s) >= 200);
    world_cmd(w, STATION_CMD_ABORT);
    ck_assert(w->last_ok);
    ck_assert_msg(w->out.plant.co[REGMAP_CO_CLAMP_LOCK], "unclamped while the head still moves");
    for (int i = 0; i < 200; i++) {
        world_run(w, SCAN_MS);
        if (!w->out.plant.co[REGMAP_CO_CLAMP_LOCK])
            ck_assert_msg(w->in.plant.x_pos_mm < w->pc.x_pad_zone_mm - w->pc.position_tolerance_mm &&
                          !w->in.plant.x_busy, "unclamped with the head at %.1f mm", w->in.plant.x_pos_mm);
    }
    ck_assert_int_eq(w->st.state, ST_ABORTED);
    world_free(w);
}
END_TEST

static bool is_aborted(const struct world *w) { return w->st.state == ST_ABORTED; }
static bool is_stopped_now(const struct world *w) { return w->st.state == ST_STOPPED; }
static bool is_reconciled(const struct world *w) { return w->st.reconciled; }

/* Jogs: refused while the e-stop is pressed (it would move the axis on release), refused
 * and stopped when the drone on the pad arms. */
START_TEST(jogs_respect_estop_and_an_armed_drone)
{
    struct world *w = world_at_step(SWAPSEQ_TO_BAY);
    apply_act(w, A_ESTOP);
    ck_assert(world_until(w, is_aborted, 3000));
    w->in.op.op = STATION_OP_MODE;
    w->in.op.mode = STATION_MODE_MAINTENANCE;
    world_run(w, SCAN_MS);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    w->in.op.op = STATION_OP_JOG;
    w->in.op.jog.dev = STATION_JOG_Z_MM;
    w->in.op.jog.value = 10;
    world_run(w, SCAN_MS);
    ck_assert_msg(!w->last_ok, "jog accepted during an e-stop");
    apply_act(w, A_ESTOP_RELEASE);
    world_run(w, 500);
    ck_assert(!w->out.plant.co[REGMAP_CO_Z_ENABLE] && !w->out.plant.co[REGMAP_CO_X_ENABLE]);
    world_cmd(w, STATION_CMD_CLEAR);
    ck_assert(world_until(w, is_stopped_now, 3000));
    ck_assert(world_until(w, is_reconciled, 3000));
    /* a jog in progress stops when the clamped drone arms, and no new one is accepted */
    w->in.op.op = STATION_OP_JOG;
    w->in.op.jog.dev = STATION_JOG_Z_MM;
    w->in.op.jog.value = 100;
    world_run(w, SCAN_MS);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    world_run(w, 50);
    ck_assert(w->out.plant.co[REGMAP_CO_Z_ENABLE]);
    w->drone_armed = true;
    world_run(w, 3 * SCAN_MS);
    ck_assert(!w->out.plant.co[REGMAP_CO_Z_ENABLE] && !w->out.plant.co[REGMAP_CO_X_ENABLE]);
    w->in.op.op = STATION_OP_JOG;
    w->in.op.jog.dev = STATION_JOG_Z_MM;
    w->in.op.jog.value = 0;
    world_run(w, SCAN_MS);
    ck_assert_msg(!w->last_ok, "jog accepted next to an armed drone");
    world_free(w);
}
END_TEST

/* Restart points before touchdown: the drone was cleared to land, the controller dies
 * while fetching (or waiting); the new core serves that drone (no pad_obstructed) and
 * finishes the swap, whether the drone lands before or after the restart. */
static const enum swapseq_id early_steps[] = {
    SWAPSEQ_FETCH_TRAVEL, SWAPSEQ_FETCH_LOWER, SWAPSEQ_FETCH_EXTEND, SWAPSEQ_FETCH_GRIP,
    SWAPSEQ_FETCH_RETRACT, SWAPSEQ_FETCH_RAISE, SWAPSEQ_TO_STANDBY, SWAPSEQ_AWAIT_TOUCHDOWN,
};
#define N_EARLY ((int)(sizeof early_steps / sizeof early_steps[0]))

START_TEST(restart_before_touchdown_serves_the_cleared_drone)
{
    int k = _i % N_EARLY;
    bool lands_first = _i >= N_EARLY;
    struct world *w = world_at_step(early_steps[k]);
    world_run(w, 30 + 40 * (uint64_t)k % 200);
    w->auto_land = false;           /* it lands once, on the clearance it already has */
    w->land_at_ms = w->now_ms + (lands_first ? 500 : 6000);
    /* what the shell persisted: the last step started and the drone it had cleared */
    w->in.inv.last_step = w->out.step;
    w->in.inv.pad_sysid = DRONE;
    char err[128];
    ck_assert_int_eq(plantio_readback(&w->io, &w->in.plant, err, sizeof err), 0);
    ck_assert_int_eq(station_init(&w->st, &w->cfg, &w->pc, w->now_ms), 0);
    w->drone_requesting = false;    /* the new link never heard the request */
    for (int t = 0; t < 300 && !w->st.reconciled; t++)
        world_run(w, SCAN_MS);
    ck_assert_msg(w->st.reconciled, "restart at %s: not reconciled", swapseq_name(early_steps[k]));
    world_run(w, 1500);
    world_cmd(w, STATION_CMD_RESET);
    ck_assert(world_until(w, is_idle, 3000));
    world_cmd(w, STATION_CMD_START);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    bool done = world_until(w, chain_done, 60000);
    ck_assert_msg(done, "restart at %s (%s): state %s step %s alarms %llx", swapseq_name(early_steps[k]),
                  lands_first ? "landed first" : "lands later", station_state_name(w->st.state),
                  swapseq_name(w->out.step), (unsigned long long)w->out.alarms_active);
    ck_assert(!(w->out.alarms_active & (1ull << DIAG_PAD_OBSTRUCTED)));
    int slot;
    ck_assert_int_eq(truth_place_of(w, DRONE_TAG, &slot), SIM_PLACE_SLOT);
    ck_assert_uint_eq(w->in.inv.slot_tag[slot], DRONE_TAG);
    ck_assert_int_eq(truth.collisions, 0);
    world_free(w);
}
END_TEST

static bool holds_b_at_standby(const struct world *w)
{
    return w->st.grip_b_tag && !w->st.chain && w->st.state == ST_SUSPENDED;
}

/* DESIGN §7 pre-staging: idle in production, the station fetches a charged pack into
 * gripper B and waits at standby; a drone that lands 4 s after its clearance (the drone
 * model's default) then meets the lower bound within 5 %. */
START_TEST(prestaged_pack_meets_the_bound_with_a_fast_drone)
{
    struct world *w = world_new(SWAPSEQ_PIPELINED);
    w->cfg.prestage = true;
    w->st.cfg.prestage = true;
    world_start(w);
    ck_assert_msg(world_until(w, holds_b_at_standby, 20000), "no pack pre-staged: %s", station_state_name(w->st.state));
    ck_assert(fabs(w->in.plant.x_pos_mm - w->pc.x_standby_mm) <= w->pc.position_tolerance_mm + 0.1);
    ck_assert_int_eq(w->n_cleared_to_land, 0);
    w->auto_land = false;
    w->drone_requesting = true;
    world_run(w, 100);
    ck_assert_int_eq(w->n_cleared_to_land, 1);
    w->land_at_ms = w->cleared_ms + 4000;
    ck_assert(world_until(w, chain_done, 60000));
    double onpad_s = (double)(w->takeoff_clear_ms - w->touchdown_ms) / 1000.0;
    double ratio = onpad_s / plantcfg_onpad_lower_bound_s(&w->pc);
    printf("prestaged: on-pad %.3f s, ratio %.3f\n", onpad_s, ratio);
    ck_assert_msg(ratio <= 1.05, "ratio %.3f", ratio);
    /* and the next pack is pre-staged again after the old one is stored */
    ck_assert(world_until(w, holds_b_at_standby, 30000));
    world_free(w);
}
END_TEST


/* ---- sensors that lie, an image that lies -------------------------------------------- */

/* Every two-position device at the step that moves it, with its end sensors forced:
 * both stuck on (sensor_conflict at once; the step is never taken as done), or the end
 * it moves to stuck off (that end never comes: the device's timeout at the deadline). */
static const struct {
    enum swapseq_id step;
    unsigned di, di_other;       /* di_other also stuck on: a conflict */
    int value;
    enum diag_id alarm;
    const char *device;          /* in the alarm's note */
} end_sensor_cases[] = {
    { SWAPSEQ_CENTER_CLOSE, REGMAP_DI_CENTER_CLOSED, REGMAP_DI_CENTER_OPEN, 1, DIAG_SENSOR_CONFLICT, "centring" },
    { SWAPSEQ_CLAMP, REGMAP_DI_CLAMP_LOCKED, REGMAP_DI_CLAMP_UNLOCKED, 1, DIAG_SENSOR_CONFLICT, "clamp" },
    { SWAPSEQ_TAKE_EXTEND, REGMAP_DI_STROKE_EXTENDED, REGMAP_DI_STROKE_RETRACTED, 1, DIAG_SENSOR_CONFLICT, "stroke" },
    { SWAPSEQ_INSERT_EXTEND, REGMAP_DI_STROKE_EXTENDED, REGMAP_DI_STROKE_RETRACTED, 1, DIAG_SENSOR_CONFLICT, "stroke" },
    { SWAPSEQ_WRIST_TURN, REGMAP_DI_WRIST_B, REGMAP_DI_WRIST_A, 1, DIAG_SENSOR_CONFLICT, "wrist" },
    { SWAPSEQ_TAKE_GRIP, REGMAP_DI_GRIP_A_CLOSED, REGMAP_DI_GRIP_A_OPEN, 1, DIAG_SENSOR_CONFLICT, "gripper A" },
    { SWAPSEQ_INSERT_RELEASE, REGMAP_DI_GRIP_B_OPEN, REGMAP_DI_GRIP_B_CLOSED, 1, DIAG_SENSOR_CONFLICT, "gripper B" },
    { SWAPSEQ_CENTER_CLOSE, REGMAP_DI_CENTER_CLOSED, 0, 0, DIAG_CENTER_TIMEOUT, NULL },
    { SWAPSEQ_CLAMP, REGMAP_DI_CLAMP_LOCKED, 0, 0, DIAG_CLAMP_TIMEOUT, NULL },
    { SWAPSEQ_INSERT_EXTEND, REGMAP_DI_STROKE_EXTENDED, 0, 0, DIAG_STROKE_TIMEOUT, NULL },
    { SWAPSEQ_WRIST_TURN, REGMAP_DI_WRIST_B, 0, 0, DIAG_WRIST_TIMEOUT, NULL },
    { SWAPSEQ_TAKE_GRIP, REGMAP_DI_GRIP_A_CLOSED, 0, 0, DIAG_GRIP_A_TIMEOUT, NULL },
    { SWAPSEQ_INSERT_RELEASE, REGMAP_DI_GRIP_B_OPEN, 0, 0, DIAG_GRIP_B_TIMEOUT, NULL },
};

START_TEST(end_sensor_both_on_or_never_on_holds_the_step)
{
    struct world *w = world_at_step(end_sensor_cases[_i].step);
    enum swapseq_id step = end_sensor_cases[_i].step;
    const struct station_plant_out before = w->out.plant;
    struct sim_fault f = { SIM_FAULT_SENSOR_STUCK, SIM_DI, (int)end_sensor_cases[_i].di, end_sensor_cases[_i].value };
    ck_assert_int_eq(sim_plant_inject(w->plant, &f), 0);
    bool conflict = end_sensor_cases[_i].alarm == DIAG_SENSOR_CONFLICT;
    if (conflict) {
        f.b = (int)end_sensor_cases[_i].di_other;
        ck_assert_int_eq(sim_plant_inject(w->plant, &f), 0);
    }
    /* A conflict is raised on the first scan that sees it; a missing end at the deadline. */
    world_run(w, conflict ? 2 * SCAN_MS : 0);
    ck_assert_msg(world_until(w, is_held, 30000), "%s: not Held but %s", swapseq_name(step),
                  station_state_name(w->st.state));
    uint64_t want = 1ull << end_sensor_cases[_i].alarm;
    ck_assert_msg(w->out.alarms_active & want, "%s: %s not raised (active %llx)", swapseq_name(step),
                  diag_name(end_sensor_cases[_i].alarm), (unsigned long long)w->out.alarms_active);
    /* never a completed step: the chain stands at the same step, and the next step's
     * action (opening gripper B after the insert stroke, ...) was never commanded */
    ck_assert_int_eq(w->out.step, (int)step);
    const struct station_plant_out *o = &w->out.plant;
    ck_assert(!o->co[REGMAP_CO_X_ENABLE] && !o->co[REGMAP_CO_Z_ENABLE] && !o->co[REGMAP_CO_CAROUSEL_ENABLE]);
    if (conflict) {
        ck_assert_ptr_nonnull(strstr(w->st.alarm_note[DIAG_SENSOR_CONFLICT], end_sensor_cases[_i].device));
        if (step == SWAPSEQ_INSERT_EXTEND)
            ck_assert(o->co[REGMAP_CO_GRIP_B_CLOSE] == before.co[REGMAP_CO_GRIP_B_CLOSE] && o->co[REGMAP_CO_GRIP_B_CLOSE]);
        if (step == SWAPSEQ_CENTER_CLOSE)
            ck_assert(!o->co[REGMAP_CO_CLAMP_LOCK]);
        /* Unhold is refused while the sensors still contradict each other. */
        world_cmd(w, STATION_CMD_UNHOLD);
        ck_assert(!w->last_ok);
        ck_assert_ptr_nonnull(strstr(w->last_reason, "sensor_conflict"));
    }
    /* repaired: the step finishes and the swap ends normally */
    sim_plant_clear_faults(w->plant, SIM_FAULT_SENSOR_STUCK);
    world_run(w, 200);
    world_cmd(w, STATION_CMD_UNHOLD);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert_msg(world_until(w, chain_done, 60000), "%s: swap did not finish after the repair: %s %s",
                  swapseq_name(step), station_state_name(w->st.state), swapseq_name(w->out.step));
    sim_plant_truth(w->plant, &truth);
    ck_assert_uint_eq(truth.collisions, 0);
    world_free(w);
}
END_TEST

/* A frozen image (a gateway serving a stale copy): the plant still acts on writes, the
 * heartbeat echo stops. Held with plant_frozen within plant_echo_timeout_ms, not a
 * device timeout at the next deadline, not a comm loss. */
static const struct row frozen_rows[] = {
    { 0, A_FREEZE, -1, 0, -1 },
    { 200, A_NONE, ST_EXECUTE, 0, -1 },
    { 380, A_NONE, ST_HELD, EXP_NO_MOTION | EXP_CLAMPED, DIAG_PLANT_FROZEN },
    { 1000, A_CMD_UNHOLD, ST_HELD, EXP_REFUSED | EXP_NO_MOTION | EXP_CLAMPED, DIAG_PLANT_FROZEN },
    { 1200, A_THAW, ST_HELD, EXP_NO_MOTION | EXP_CLAMPED, DIAG_PLANT_FROZEN },
    { 1500, A_CMD_UNHOLD, -1, 0, -1 },
};

START_TEST(frozen_image_holds_with_plant_frozen)
{
    struct world *w = world_at_step(SWAPSEQ_TAKE_EXTEND);
    run_rows(w, "frozen", frozen_rows, 3);
    uint64_t wrong = (1ull << DIAG_COMM_LOSS) | (1ull << DIAG_STROKE_TIMEOUT) | (1ull << DIAG_CENTER_TIMEOUT);
    ck_assert_msg(!(w->out.alarms_active & wrong), "alarms %llx", (unsigned long long)w->out.alarms_active);
    ck_assert_ptr_nonnull(strstr(w->st.alarm_note[DIAG_PLANT_FROZEN], "not followed"));
    run_rows(w, "frozen", frozen_rows + 3, 3);
    ck_assert_msg(world_until(w, chain_done, 60000), "swap did not finish after the thaw");
    ck_assert_uint_eq(w->out.alarms_active, 0);
    world_free(w);
}
END_TEST

/* A frozen image, then the link drops just before the echo deadline (campaign seed
 * 40147): the station has had no usable image since the freeze, so it holds within
 * plant_echo_timeout_ms and a few scans of the freeze, not comm_loss_ms after the drop. */
START_TEST(frozen_image_then_link_loss_holds_from_the_freeze)
{
    struct world *w = world_at_step(SWAPSEQ_TAKE_EXTEND);
    apply_act(w, A_FREEZE);
    uint64_t t0 = w->now_ms;
    world_run(w, (uint64_t)w->cfg.plant_echo_timeout_ms - SCAN_MS);
    ck_assert_int_eq(w->st.state, ST_EXECUTE);
    w->link_down = true;
    while (w->st.state == ST_EXECUTE && w->now_ms < t0 + 2000)
        world_run(w, SCAN_MS);
    ck_assert_msg(w->st.state == ST_HOLDING || w->st.state == ST_HELD, "state %s", station_state_name(w->st.state));
    ck_assert_msg(w->now_ms <= t0 + (uint64_t)w->cfg.plant_echo_timeout_ms + 3 * SCAN_MS,
                  "held %llu ms after the freeze", (unsigned long long)(w->now_ms - t0));
    ck_assert(w->out.alarms_active & (1ull << DIAG_COMM_LOSS));
    /* the link back, still frozen: plant_frozen; thawed: the swap finishes */
    w->link_down = false;
    world_run(w, 2000);
    ck_assert_int_eq(w->st.state, ST_HELD);
    apply_act(w, A_THAW);
    world_run(w, 500);
    world_cmd(w, STATION_CMD_UNHOLD);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert_msg(world_until(w, chain_done, 60000), "swap did not finish after the thaw");
    world_free(w);
}
END_TEST

/* X velocity -32768 mm/s (a PLC's "no value"): the image is refused; Held with
 * plant_data_invalid naming the register, while the link itself is fine (no comm_loss). */
static const struct row invalid_rows[] = {
    { 0, A_BAD_X_VEL, -1, 0, -1 },
    { 200, A_NONE, ST_HELD, EXP_NO_MOTION | EXP_CLAMPED, DIAG_PLANT_DATA_INVALID },
    { 1000, A_CMD_UNHOLD, ST_HELD, EXP_REFUSED | EXP_NO_MOTION | EXP_CLAMPED, DIAG_PLANT_DATA_INVALID },
    { 1200, A_GOOD_X_VEL, ST_HELD, EXP_NO_MOTION | EXP_CLAMPED, DIAG_PLANT_DATA_INVALID },
    { 1500, A_CMD_UNHOLD, -1, 0, -1 },
};

START_TEST(invalid_register_holds_with_plant_data_invalid)
{
    struct world *w = world_at_step(SWAPSEQ_TO_BAY);
    run_rows(w, "invalid", invalid_rows, 2);
    ck_assert_msg(!(w->out.alarms_active & (1ull << DIAG_COMM_LOSS)), "comm_loss raised for a refused image");
    ck_assert_msg(strstr(w->st.alarm_note[DIAG_PLANT_DATA_INVALID], "IR 2 = -32768"), "note \"%s\"",
                  w->st.alarm_note[DIAG_PLANT_DATA_INVALID]);
    run_rows(w, "invalid", invalid_rows + 2, 3);
    ck_assert_msg(world_until(w, chain_done, 60000), "swap did not finish after the repair");
    ck_assert_uint_eq(w->out.alarms_active, 0);
    world_free(w);
}
END_TEST

/* Operator Suspend while a drone is cleared or on the pad: its swap is finished and the
 * drone released first, then Suspended; only Unsuspend resumes (a drone asking meanwhile
 * is not cleared). */
static const enum swapseq_id suspend_steps[] = {
    SWAPSEQ_AWAIT_TOUCHDOWN, SWAPSEQ_CENTER_CLOSE, SWAPSEQ_TAKE_GRIP, SWAPSEQ_INSERT_EXTEND, SWAPSEQ_POWERUP_CHECK,
};

static bool second_swap_done(const struct world *w)
{
    return w->n_cleared_takeoff >= 2 && chain_done(w);
}

static bool suspended_after_takeoff(const struct world *w)
{
    return took_off(w) && w->st.state == ST_SUSPENDED;
}

START_TEST(operator_suspend_finishes_the_drone_on_the_pad_first)
{
    struct world *w = world_at_step(suspend_steps[_i]);
    world_cmd(w, STATION_CMD_SUSPEND);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert_msg(world_until(w, suspended_after_takeoff, 60000), "from %s: state %s step %s, %d take-off clearances",
                  swapseq_name(suspend_steps[_i]), station_state_name(w->st.state), swapseq_name(w->out.step),
                  w->n_cleared_takeoff);
    ck_assert_int_eq(w->n_cleared_takeoff, 1);
    ck_assert_uint_eq(w->out.alarms_active, 0);
    /* The drone comes back and asks again: not cleared while the operator's Suspend lasts. */
    w->drone_requesting = true;
    world_run(w, 20000);
    ck_assert_int_eq(w->st.state, ST_SUSPENDED);
    ck_assert_int_eq(w->n_cleared_to_land, 1);
    world_cmd(w, STATION_CMD_UNSUSPEND);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert_msg(world_until(w, second_swap_done, 60000), "second swap after Unsuspend did not finish: %s %s",
                  station_state_name(w->st.state), swapseq_name(w->out.step));
    world_free(w);
}
END_TEST

/* Stop while gripper B lets go of the fresh pack in the drone's bay: the gripper does
 * not finish that by itself after the step was left (the move would never be recorded);
 * it closes on the pack again. Start pushes the stroke back in before it releases. */
static bool is_stopped(const struct world *w) { return w->st.state == ST_STOPPED; }
static bool is_idle_again(const struct world *w) { return w->st.state == ST_IDLE; }

START_TEST(stop_during_a_release_keeps_the_pack_and_start_finishes_it)
{
    struct world *w = world_at_step(SWAPSEQ_INSERT_RELEASE);
    uint32_t fresh = w->st.grip_b_tag;
    world_run(w, 100);                       /* gripper B is opening */
    world_cmd(w, STATION_CMD_STOP);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert(world_until(w, is_stopped, 2000));
    world_run(w, 1000);
    int slot;
    ck_assert_int_eq(truth_place_of(w, fresh, &slot), SIM_PLACE_GRIPPER_B);
    ck_assert_uint_eq(w->st.grip_b_tag, fresh);
    world_cmd(w, STATION_CMD_RESET);
    ck_assert(world_until(w, is_idle_again, 2000));
    world_cmd(w, STATION_CMD_START);
    ck_assert_msg(w->last_ok, "%s", w->last_reason);
    ck_assert_msg(world_until(w, chain_done, 60000), "swap did not finish: %s %s", station_state_name(w->st.state),
                  swapseq_name(w->out.step));
    sim_plant_truth(w->plant, &truth);
    ck_assert_uint_eq(truth.collisions, 0);
    ck_assert_uint_eq(truth.plant_fault, 0);
    world_free(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("station_swap");
    TCase *tc = tcase_create("swap");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, full_swap_pipelined_meets_lower_bound);
    tcase_add_test(tc, plant_edges_are_awaited_while_a_swap_runs_and_not_at_rest);
    tcase_add_test(tc, a_pack_removed_by_hand_is_booked_to_quarantine);
    tcase_add_test(tc, naive_baseline_is_much_slower);
    tcase_add_test(tc, twelve_swaps_in_a_row_keep_inventory_and_timing);
    tcase_add_loop_test(tc, missed_deadline_holds_with_the_right_alarm, 0,
                        (int)(sizeof late_steps / sizeof late_steps[0]));
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("safety");
    tcase_set_timeout(ts, 60);
    tcase_add_test(ts, drone_rearms_while_clamped_stops_and_stays_stopped);
    tcase_add_loop_test(ts, withdrawn_clearance_frees_the_pad, 0, 4);
    tcase_add_test(ts, stale_heartbeat_blocks_pad_zone_entry);
    tcase_add_test(ts, estop_latches_and_reset_never_restarts_motion);
    tcase_add_test(ts, reconciliation_mismatch_holds_without_motion);
    tcase_add_test(ts, unclamp_needs_a_verified_pack_or_an_operator_abort);
    tcase_add_test(ts, unhold_after_repair_restarts_the_step_and_finishes);
    tcase_add_test(ts, unhold_is_bounded_by_step_retries);
    tcase_add_test(ts, second_drone_is_queued_then_served);
    tcase_add_test(ts, weather_suspends_landings_and_resumes);
    tcase_add_test(ts, hot_pack_is_never_handed_out);
    tcase_add_loop_test(ts, restart_mid_swap_resumes_at_the_persisted_step, 0, 2 * N_RESTART);
    tcase_add_test(ts, guard_opened_while_moving_is_reset_once_closed);
    tcase_add_test(ts, clamp_waits_for_a_fresh_disarmed_report);
    tcase_add_test(ts, abort_while_braking_unclamps_only_once_stopped_outside);
    tcase_add_test(ts, jogs_respect_estop_and_an_armed_drone);
    tcase_add_loop_test(ts, restart_before_touchdown_serves_the_cleared_drone, 0, 2 * N_EARLY);
    tcase_add_test(ts, prestaged_pack_meets_the_bound_with_a_fast_drone);
    tcase_add_loop_test(ts, end_sensor_both_on_or_never_on_holds_the_step, 0,
                        (int)(sizeof end_sensor_cases / sizeof end_sensor_cases[0]));
    tcase_add_test(ts, frozen_image_holds_with_plant_frozen);
    tcase_add_test(ts, frozen_image_then_link_loss_holds_from_the_freeze);
    tcase_add_test(ts, stop_during_a_release_keeps_the_pack_and_start_finishes_it);
    tcase_add_test(ts, invalid_register_holds_with_plant_data_invalid);
    tcase_add_loop_test(ts, operator_suspend_finishes_the_drone_on_the_pad_first, 0,
                        (int)(sizeof suspend_steps / sizeof suspend_steps[0]));
    suite_add_tcase(s, ts);
    TCase *tr = tcase_create("campaign");
    tcase_set_timeout(tr, 60);
    tcase_add_loop_test(tr, random_faults_never_break_the_safety_rules, 0, 60);
    suite_add_tcase(s, tr);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
