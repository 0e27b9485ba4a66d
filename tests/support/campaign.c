/* The invariant campaign engine; see campaign.h and docs/campaign.md.
 *
 * One world per seed: plant model + station core + drone link + drones, stepped scan by
 * scan on a virtual clock. Each scan: the plant advances to the scan time, the scenario
 * injects what is due, the drones step and talk, the operator may act, the registry
 * commits due moves, the core steps on the decoded image, its outputs go to the plant
 * and its messages to the drones, and then every rule is checked against the truth.
 */
#include "campaign.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/station.h"
#include "drone/drone.h"
#include "faultvfs.h"
#include "drone/drone_plant.h"
#include "dronelink/dronelink.h"
#include "droneproto/dproto.h"
#include "plant/plant.h"
#include "plantio/plantio.h"
#include "plantio_sim.h"
#include "rng/rng.h"
#include "swapd/shellcfg.h"
#include "swapd/swapd.h"

#define CP_MAX_DRONES CAMPAIGN_MAX_DRONES
#define CP_RANDOM_DRONES 3     /* a world with n_drones 0 has 1..3 */
/* A drone that keeps asking sees at most this many other swaps finish before its own is
 * cleared (first come first served; critical requests may overtake; a drone that was
 * denied or misbehaved starts counting again). */
#define CP_OVERTAKEN_MAX(n) (2u * (n) + 2u)
/* Slack over the protocol's timeouts for the per-drone checks (a scan, a retry). */
#define CP_TIMEOUT_SLACK_MS 1500u
#define CP_TRACE_KEEP 40
#define CP_TRACE_LEN 176
#define CP_MAX_PACKS 64
#define CP_EPOCH_MS 1767225600000LL   /* the shell's wall clock at plant time 0 (2026-01-01) */
#define CP_MAX_FAULTS 16
#define CP_MAX_WINDOWS 8
#define CP_STATION_SYSID 200
#define CP_STALL_MS (10u * 60u * 1000u)
/* A drone's braking from full speed: X 500 mm/s at 1000 mm/s^2 takes 0.5 s. */
#define CP_BRAKE_MS 700u

static const char *const rule_names[CAMPAIGN_RULE_COUNT] = {
    [CAMPAIGN_RULE_ARMED_ENTRY] = "armed-entry",
    [CAMPAIGN_RULE_ARMED_STOP] = "armed-stop",
    [CAMPAIGN_RULE_LOOSE_DRONE] = "loose-drone",
    [CAMPAIGN_RULE_INVENTORY] = "inventory",
    [CAMPAIGN_RULE_UNCLAMP] = "unclamp",
    [CAMPAIGN_RULE_PHYSICAL] = "physical",
    [CAMPAIGN_RULE_ESTOP] = "estop",
    [CAMPAIGN_RULE_RECONCILE] = "reconcile",
    [CAMPAIGN_RULE_COMM_LOSS] = "comm-loss",
    [CAMPAIGN_RULE_DURABLE] = "durable",
};

const char *campaign_rule_name(int rule)
{
    return rule >= 0 && rule < CAMPAIGN_RULE_COUNT ? rule_names[rule] : "?";
}

struct cp_pack {
    uint32_t tag;
    struct station_location loc;
};

struct cp_window {
    enum sim_drone_mis kind;
    uint64_t start_ms, end_ms;
};

struct cp_drone {
    struct sim_drone d;
    struct cp_window win[CP_MAX_WINDOWS];
    int n_win;
    uint64_t diverted_since_ms;
    /* per-drone progress: asking since (0 not asking), swaps completed then, its denials then */
    uint64_t asking_since_ms;
    unsigned completed_at_ask, denials_at_ask;
    int wait_idx;                /* its open request in o->waits, -1 none */
};

/* What kind of sensor an injected stuck value lies about. LIE_FROZEN: the whole image
 * (every sensor may lie until the core notices); LIE_INVALID: a register outside its
 * range (the image is refused: nothing is believed, but it is no usable image). */
enum cp_lie { LIE_NONE, LIE_PAD, LIE_MOTION, LIE_LOAD, LIE_FROZEN, LIE_INVALID };

struct cp_fault {
    struct sim_fault f;
    uint64_t at_ms, clear_ms;
    enum cp_lie lie;
};

struct cp_world {
    const struct campaign_opts *o;
    struct campaign_result *r;
    unsigned scan_ms;
    struct plantcfg pc;
    struct station_cfg cfg;
    struct sim_plant *plant;
    struct plantio_backend sim_io, io;
    struct plantio_backend logical_io;   /* the plant's own image, when it serves a map */
    struct plantmap_server srv;
    bool comm_down;
    uint64_t comm_down_since_ms, comm_up_ms;
    /* swapd's shell (inventory, persistence worker, registry on a real SQLite file) and
     * its core; thrown away whole at a controller restart */
    struct swapd *sh;
    char db_path[160];
    uint64_t disk_at_ms;         /* the disk takes the next write from then on */
    uint64_t disk_fault_until_ms; /* store writes fail (full, I/O error) until then */
    int disk_fault_code;
    uint64_t next_disk_ms, next_plant_restart_ms;
    unsigned plant_conn;         /* the plant link's connection (a new one reads back) */
    bool need_readback;
    unsigned rb_seq;             /* the connection whose coils were read back (0 none) */
    uint8_t rb_co[REGMAP_CO_COUNT];
    bool renew_pending;          /* a new connection was handed over; the core has not yet
                                    shown it reconciles again */
    int crash_phase;             /* -1 none; else where in the scan the controller dies */
    struct mav_parser radio;
    struct mav_tx op_tx;
    struct cp_drone drones[CP_MAX_DRONES];
    unsigned n_drones;
    struct sim_rng rng;
    uint64_t now_ms;
    uint32_t next_spare_tag;
    int removed_slot;            /* slot emptied by hand, to tell the station next scan; -1 none */
    int hand_removed;            /* that slot until the station booked it out; -1 none */
    uint64_t hand_told_ms;       /* when the station was last told of it */

    /* scenario */
    uint64_t next_fault_ms, next_mis_ms, next_comm_ms, next_crash_ms, next_noise_ms;
    struct cp_fault faults[CP_MAX_FAULTS];
    int n_faults;
    double fault_rate;           /* mean gap between faults scales with 1 / rate */

    /* operator */
    int op_state;
    bool op_suspended;           /* the operator's Suspend was accepted; he Unsuspends later */
    uint64_t op_next_ms;
    uint64_t stranded_since_ms;
    bool abort_accepted;         /* an operator Abort was accepted since the drone landed */
    bool unhold_exhausted, need_stop;

    /* swap accounting */
    uint8_t open_sysid;
    uint64_t touch_ms;
    uint64_t last_progress_ms;

    /* rule state */
    struct sim_truth truth, prev;
    bool have_prev;
    bool prev_clamp_cmd, pad_lie_prev;
    uint64_t arm_obs_since_ms, arm_any_since_ms;
    bool estop_latched, estop_released;
    uint64_t moving_since_ms;    /* the station entered a state that moves the robot; 0 not */
    uint64_t estop_at_ms;
    unsigned base_collisions, base_takeoff_held;
    unsigned prev_plant_fault;

    /* trace */
    char trace[CP_TRACE_KEEP][CP_TRACE_LEN];
    uint64_t n_trace;
    uint64_t hash;
};

/* ---- trace --------------------------------------------------------------------------- */

static void hash_bytes(struct cp_world *w, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        w->hash ^= b[i];
        w->hash *= 1099511628211ull;
    }
}

static void trace(struct cp_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace(struct cp_world *w, const char *fmt, ...)
{
    char *line = w->trace[w->n_trace % CP_TRACE_KEEP];
    int n = snprintf(line, CP_TRACE_LEN, "%9.3f ", (double)w->now_ms / 1000.0);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, CP_TRACE_LEN - (size_t)n, fmt, ap);
    va_end(ap);
    hash_bytes(w, line, strlen(line));
    w->n_trace++;
    if (w->o->trace)
        fprintf(w->o->trace, "%s\n", line);
}

static FILE *report_file(const struct cp_world *w)
{
    return w->o->report ? w->o->report : stderr;
}

static void dump_trace(struct cp_world *w)
{
    FILE *f = report_file(w);
    uint64_t first = w->n_trace > CP_TRACE_KEEP ? w->n_trace - CP_TRACE_KEEP : 0;
    fprintf(f, "  last %u events:\n", (unsigned)(w->n_trace - first));
    for (uint64_t i = first; i < w->n_trace; i++)
        fprintf(f, "    %s\n", w->trace[i % CP_TRACE_KEEP]);
}

static void violation(struct cp_world *w, enum campaign_rule rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void violation(struct cp_world *w, enum campaign_rule rule, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct campaign_result *r = w->r;
    r->violations++;
    r->violations_by_rule[rule]++;
    trace(w, "VIOLATION %s: %s", rule_names[rule], msg);
    /* One report per rule and world: a broken rule usually stays broken for a while. */
    if (r->violations_by_rule[rule] > 1)
        return;
    if (!r->first_violation[0])
        snprintf(r->first_violation, sizeof r->first_violation, "seed %" PRIu64 " t=%.3f s rule %s: %s",
                 w->o->seed, (double)w->now_ms / 1000.0, rule_names[rule], msg);
    FILE *f = report_file(w);
    fprintf(f, "campaign: VIOLATION seed %" PRIu64 " at %.3f s, rule %s: %s\n", w->o->seed,
            (double)w->now_ms / 1000.0, rule_names[rule], msg);
    fprintf(f, "  state %s step %s alarms %#" PRIx64 "\n", station_state_name(w->sh->out.state),
            swapseq_name(w->sh->out.step), w->sh->out.alarms_active);
    dump_trace(w);
    fprintf(f, "  replay: campaign --seed %" PRIu64 " --count %u%s\n", w->o->seed, w->o->swaps,
            w->o->faults ? "" : " --clean");
}

/* ---- the in-process backend with comm loss ------------------------------------------- */

static int io_fail(void)
{
    errno = ETIMEDOUT;
    return -1;
}

static int io_read_di(void *ctx, unsigned addr, unsigned n, uint8_t *out)
{
    struct cp_world *w = ctx;
    return w->comm_down ? io_fail() : w->sim_io.read_di(w->sim_io.ctx, addr, n, out);
}

static int io_read_ir(void *ctx, unsigned addr, unsigned n, uint16_t *out)
{
    struct cp_world *w = ctx;
    return w->comm_down ? io_fail() : w->sim_io.read_ir(w->sim_io.ctx, addr, n, out);
}

static int io_read_co(void *ctx, unsigned addr, unsigned n, uint8_t *out)
{
    struct cp_world *w = ctx;
    return w->comm_down ? io_fail() : w->sim_io.read_co(w->sim_io.ctx, addr, n, out);
}

static int io_read_hr(void *ctx, unsigned addr, unsigned n, uint16_t *out)
{
    struct cp_world *w = ctx;
    return w->comm_down ? io_fail() : w->sim_io.read_hr(w->sim_io.ctx, addr, n, out);
}

static int io_write_co(void *ctx, unsigned addr, unsigned n, const uint8_t *v)
{
    struct cp_world *w = ctx;
    return w->comm_down ? io_fail() : w->sim_io.write_co(w->sim_io.ctx, addr, n, v);
}

static int io_write_hr(void *ctx, unsigned addr, unsigned n, const uint16_t *v)
{
    struct cp_world *w = ctx;
    return w->comm_down ? io_fail() : w->sim_io.write_hr(w->sim_io.ctx, addr, n, v);
}

static void io_close(void *ctx)
{
    (void)ctx;
}

/* ---- registry ------------------------------------------------------------------------ */

static bool same_loc(struct station_location a, struct station_location b)
{
    if (a.place != b.place)
        return false;
    return a.place == STATION_PLACE_GRIPPER_A || a.place == STATION_PLACE_GRIPPER_B ||
           a.place == STATION_PLACE_QUARANTINE || a.index == b.index;
}

static struct cp_pack *pack_by_tag(struct cp_pack *packs, int n, uint32_t tag)
{
    for (int i = 0; i < n; i++)
        if (packs[i].tag == tag)
            return &packs[i];
    return NULL;
}

static struct cp_pack *pack_at(struct cp_pack *packs, int n, struct station_location l)
{
    for (int i = 0; i < n; i++)
        if (same_loc(packs[i].loc, l))
            return &packs[i];
    return NULL;
}

/* Applies one move to a list of packs: the pack is found by tag (or by its place when
 * the tag is unknown) and put at the destination. */
static void apply_move(struct cp_pack *packs, int *n, const struct station_move *m)
{
    bool known = m->tag != 0 && m->tag != STATION_TAG_UNKNOWN;
    struct cp_pack *p = known ? pack_by_tag(packs, *n, m->tag) : NULL;
    if (!p && m->from.place != STATION_PLACE_NONE && m->from.place != STATION_PLACE_DRONE)
        p = pack_at(packs, *n, m->from);
    if (!p) {
        if (*n >= CP_MAX_PACKS)
            return;
        p = &packs[(*n)++];
        p->tag = m->tag;
    }
    if (known)
        p->tag = m->tag;
    p->loc = m->to;
}

/* Where a registry place is, as the core names places. */
static struct station_location station_loc(struct registry_location l)
{
    switch (l.place) {
    case REGISTRY_PLACE_SLOT: return (struct station_location){ STATION_PLACE_SLOT, l.index - 1 };
    case REGISTRY_PLACE_GRIPPER_A: return (struct station_location){ STATION_PLACE_GRIPPER_A, 0 };
    case REGISTRY_PLACE_GRIPPER_B: return (struct station_location){ STATION_PLACE_GRIPPER_B, 0 };
    case REGISTRY_PLACE_DRONE: return (struct station_location){ STATION_PLACE_DRONE, l.index };
    case REGISTRY_PLACE_QUARANTINE: return (struct station_location){ STATION_PLACE_QUARANTINE, 0 };
    default: return (struct station_location){ STATION_PLACE_NONE, 0 };
    }
}

/* ---- the shell: swapd's own inventory, persistence and registry code --------------------- */

/* How long the disk takes before it writes again after a write (a slow disk now and then). */
static uint32_t draw_delay(struct cp_world *w)
{
    if (!w->o->faults)
        return 0;
    uint32_t k = sim_rng_below(&w->rng, 100);
    if (k < 60)
        return 0;
    if (k < 97)
        return 20 + sim_rng_below(&w->rng, 600);
    return (uint32_t)w->cfg.commit_timeout_ms + 100 + sim_rng_below(&w->rng, 1000); /* a slow disk */
}

/* The persistence worker's turn: it writes what the scans queued once the disk is ready
 * (swapd's worker runs on its own thread after the scan's kick; here on the virtual clock). */
static void disk_turn(struct cp_world *w)
{
    if (w->now_ms < w->disk_at_ms)
        return;
    faultvfs_set(w->now_ms < w->disk_fault_until_ms ? w->disk_fault_code : 0);
    if (persist_run(w->sh->persist, w->now_ms))
        w->disk_at_ms = w->now_ms + draw_delay(w);
    faultvfs_set(0);
}

/* The plant link's read-back on a new connection: what swapd's plant link does on the
 * first exchange of every connection (nothing is written before the core adopted it). */
static void plant_exchange_in(struct cp_world *w)
{
    struct swapd *d = w->sh;
    uint8_t di[PLANTIO_DI_MAX];
    char err[160];
    unsigned n = (unsigned)w->pc.n_slots;
    if (w->need_readback && !w->comm_down && plantio_read_coils(&w->io, w->rb_co, err, sizeof err) == 0) {
        w->need_readback = false;
        /* Not this process's first connection: the plant may have restarted (the rule
         * below judges the core by this, not by what the shell makes of it). */
        if (w->rb_seq != 0)
            w->renew_pending = true;
        w->rb_seq = ++w->plant_conn;
    }
    bool got = !w->comm_down && plantio_read_image(&w->io, n, di, d->raw_ir, err, sizeof err) == 0;
    if (got) {
        plantio_decode(di, d->raw_ir, n, &d->in.plant, err, sizeof err);
    } else {
        d->in.plant.valid = false;
        d->in.plant.refused = false;
    }
    /* as swapd's read_plant: the link's latest read-back, every scan */
    swapd_plant_readback(d, w->rb_seq, w->rb_co, w->plant_conn ? w->plant_conn - 1 : 0, w->now_ms);
}

/* Starts the shell as swapd's main does: the registry opened from the file, the working
 * set loaded, a fresh core, the plant read back and its first image, then commissioning,
 * the last run's progress and the recovery of a move left in flight. -1 if the store
 * cannot be opened. */
static int shell_start(struct cp_world *w)
{
    struct swapd *d = calloc(1, sizeof *d);
    if (!d)
        return -1;
    w->sh = d;
    d->station_cfg = w->cfg;
    d->plant = w->pc;
    health_config_defaults(&d->health);
    /* The shell's own settings as swapd.ini's defaults (battery time = station time). */
    struct cfg_error cerr;
    if (cfg_defaults(shellcfg_keys, shellcfg_n_keys, &d->shell, &cerr) != 0)
        abort();
    /* As configs/demo/swapd.ini for a simulated station whose drones are back within
     * seconds: a pack is handed out as soon as its charge is done. */
    d->health.min_rest_after_charge_s = 0;
    if (w->o->fleet) {
        /* A fleet run measures the landing queue, not the magazine: thirty drones cycle
         * eight packs, so any pack that is charged and not hot is handed out. */
        d->health.reserve_soc = 0;
        d->health.cooled_max_degC = d->health.discharge_max_degC;
    }
    d->mono_start_ms = 0;
    d->wall_start_ms = CP_EPOCH_MS;
    d->boot_last_step = -1;
    d->last_step = -1;
    d->out.step = -1;
    struct registry_error rerr;
    struct registry *reg = registry_open(w->db_path, REGISTRY_OPEN_CREATE, &rerr);
    char err[512];
    if (!reg) {
        fprintf(report_file(w), "campaign: seed %" PRIu64 ": registry %s: %s\n", w->o->seed, w->db_path, rerr.msg);
        return -1;
    }
    if (swapd_inventory_load(d, reg, err, sizeof err) != 0) {
        fprintf(report_file(w), "campaign: seed %" PRIu64 ": %s\n", w->o->seed, err);
        registry_close(reg);
        return -1;
    }
    if (dronelink_init(&d->drones, CP_STATION_SYSID, NULL, false, "", err, sizeof err) != 0 ||
        station_init(&d->core, &d->station_cfg, &d->plant, w->now_ms) != 0) {
        registry_close(reg);
        return -1;
    }
    station_inputs_init(&d->in);
    w->need_readback = true;     /* a new process: a new plant link, no read-back yet */
    w->rb_seq = 0;
    w->renew_pending = false;
    plant_exchange_in(w);
    if (d->in.plant.valid)
        swapd_inventory_boot(d, reg, swapd_wall_ms(d, w->now_ms));
    d->reader = registry_open(w->db_path, REGISTRY_OPEN_READONLY, &rerr);
    d->persist = persist_start_manual(reg);
    if (!d->persist) {
        registry_close(reg);
        return -1;
    }
    return 0;
}

/* The controller dies: everything in the shell's and the core's memory is lost, the
 * worker's queue unwritten. */
static void shell_kill(struct cp_world *w)
{
    struct swapd *d = w->sh;
    if (!d)
        return;
    persist_discard(d->persist);
    registry_close(d->reader);
    free(d->packs);
    free(d);
    w->sh = NULL;
}

/* The drone standing on the pad (the plant's truth and the drone's own state), or NULL. */
static struct cp_drone *pad_drone(struct cp_world *w)
{
    if (!w->truth.drone_present)
        return NULL;
    for (unsigned i = 0; i < w->n_drones; i++) {
        enum sim_drone_state s = w->drones[i].d.state;
        if (s >= SIM_DRONE_LANDED && s <= SIM_DRONE_WAIT_TAKEOFF)
            return &w->drones[i];
    }
    return NULL;
}

/* ---- drones and the radio -------------------------------------------------------------- */

static void new_pack(struct cp_world *w, struct sim_battery *b, uint32_t tag, double soc)
{
    sim_battery_init(b, &w->pc, tag, soc, &w->rng);
}

static void drone_start(struct cp_world *w, unsigned i, const struct sim_battery *pack)
{
    struct cp_drone *cd = &w->drones[i];
    struct sim_drone_cfg c;
    sim_drone_cfg_defaults(&c, (uint8_t)(11 + i));
    c.flight_s = 3.0 + sim_rng_range(&w->rng, 0.0, 40.0);
    c.return_ms = 1000 + sim_rng_below(&w->rng, 4000);
    c.hot_swap = w->o->faults && sim_rng_below(&w->rng, 4) == 0;
    if (w->o->fleet) {
        c.flight_s = 2.0 + i;
        c.critical_soc = 0;
        /* Lighter drones (6 A in the hover): thirty of them waiting several minutes each
         * still bring packs back that eight 2 C chargers turn round in time, so the run
         * measures the queue, not the magazine (at 18 A it sits at the magazine's limit,
         * where any change in the charge policy tips it into starvation). */
        c.hover_current_a = 6.0;
    }
    if (w->o->landing_ms)
        c.landing_ms = w->o->landing_ms;
    struct sim_drone_pad pad = sim_drone_plant_pad(w->plant);
    sim_drone_init(&cd->d, &c, &pad, pack, w->o->seed * 64 + i + w->now_ms, NULL, w->now_ms);
    cd->n_win = 0;
    cd->diverted_since_ms = 0;
    cd->wait_idx = -1;
    trace(w, "drone %u up with pack %08X (flight %.0f s%s)", c.sysid, pack->tag, c.flight_s,
          c.hot_swap ? ", hot swap" : "");
}

static void radio_to_drones(struct cp_world *w, const uint8_t *buf, size_t n)
{
    struct mav_frame f;
    for (size_t i = 0; i < n; i++) {
        if (mav_parser_feed(&w->radio, buf[i], &f) != 1)
            continue;
        for (unsigned k = 0; k < w->n_drones; k++)
            sim_drone_handle_frame(&w->drones[k].d, &f, w->now_ms);
    }
}

static void drone_stall(struct cp_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A drone made no progress within what docs/drone-protocol.md allows: the world stalls. */
static void drone_stall(struct cp_world *w, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct campaign_result *r = w->r;
    r->drone_stalls++;
    r->stalled = true;
    trace(w, "DRONE STALL: %s", msg);
    if (!r->first_stall[0])
        snprintf(r->first_stall, sizeof r->first_stall, "seed %" PRIu64 " at %.3f s: %s", w->o->seed,
                 (double)w->now_ms / 1000.0, msg);
    FILE *f = report_file(w);
    fprintf(f, "campaign: DRONE STALL seed %" PRIu64 " at %.3f s: %s\n", w->o->seed, (double)w->now_ms / 1000.0, msg);
    dump_trace(w);
    fprintf(f, "  replay: campaign --seed %" PRIu64 " --count %u%s\n", w->o->seed, w->o->swaps,
            w->o->faults ? "" : " --clean");
}

static bool window_active(const struct cp_world *w, const struct cp_drone *cd)
{
    for (int k = 0; k < cd->n_win; k++)
        if (w->now_ms >= cd->win[k].start_ms && w->now_ms < cd->win[k].end_ms + CP_TIMEOUT_SLACK_MS)
            return true;
    return false;
}

/* Fleet runs: each request from its asking to its clearance (or the drone's diverting). */
static void record_wait(struct cp_world *w, struct cp_drone *cd)
{
    const struct campaign_opts *o = w->o;
    if (!o->waits)
        return;
    enum sim_drone_state s = cd->d.state;
    if (cd->wait_idx < 0) {
        if (s != SIM_DRONE_REQUESTING || w->r->n_waits >= o->max_waits)
            return;
        cd->wait_idx = (int)w->r->n_waits++;
        o->waits[cd->wait_idx] = (struct campaign_wait){ .sysid = cd->d.cfg.sysid, .asked_ms = cd->d.state_since_ms };
        return;
    }
    struct campaign_wait *wt = &o->waits[cd->wait_idx];
    if (s == SIM_DRONE_QUEUED && !wt->position)
        wt->position = cd->d.queue_position;
    if (s == SIM_DRONE_LANDING) {
        wt->cleared_ms = cd->d.state_since_ms;
        cd->wait_idx = -1;
    } else if (s == SIM_DRONE_DIVERTED) {
        wt->diverted = true;
        cd->wait_idx = -1;
    }
}

/* The per-drone stall detector: a drone that keeps asking is cleared before too many
 * others are served; a drone on approach touches down or is waved off within the landing
 * window; the station keeps no silent drone in its queue and no clearance past its window. */
static void drone_progress(struct cp_world *w, struct cp_drone *cd)
{
    enum sim_drone_state s = cd->d.state;
    uint8_t sysid = cd->d.cfg.sysid;
    bool asking = s == SIM_DRONE_REQUESTING || s == SIM_DRONE_QUEUED;
    if (!asking || cd->d.count.denials != cd->denials_at_ask || window_active(w, cd)) {
        cd->asking_since_ms = asking ? w->now_ms : 0;
        cd->completed_at_ask = w->r->swaps_completed;
        cd->denials_at_ask = cd->d.count.denials;
    } else if (!cd->asking_since_ms) {
        cd->asking_since_ms = w->now_ms;
        cd->completed_at_ask = w->r->swaps_completed;
    }
    if (cd->asking_since_ms && w->r->swaps_completed - cd->completed_at_ask > CP_OVERTAKEN_MAX(w->n_drones))
        drone_stall(w, "drone %u asked at %.3f s and saw %u other swaps finish before its own", sysid,
                    (double)cd->asking_since_ms / 1000.0, w->r->swaps_completed - cd->completed_at_ask);
    record_wait(w, cd);
    const struct dronelink_drone *ld = dronelink_find(&w->sh->drones, sysid);
    if (s == SIM_DRONE_LANDING && w->now_ms - cd->d.state_since_ms > (uint64_t)w->cfg.landing_timeout_ms + 5000u)
        drone_stall(w, "drone %u on approach for %.0f s: neither down nor waved off", sysid,
                    (double)(w->now_ms - cd->d.state_since_ms) / 1000.0);
    if (!ld)
        return;
    if (ld->phase == DRONELINK_QUEUED && w->now_ms > ld->last_heard_ms + DPROTO_LINK_LOST_MS + CP_TIMEOUT_SLACK_MS)
        drone_stall(w, "drone %u silent for %.1f s keeps its place in the queue", sysid,
                    (double)(w->now_ms - ld->last_heard_ms) / 1000.0);
    if (ld->phase == DRONELINK_CLEARED && w->now_ms > ld->cleared_ms + ld->window_ms + CP_TIMEOUT_SLACK_MS)
        drone_stall(w, "drone %u cleared %.1f s ago, past its %u s window, not on the pad", sysid,
                    (double)(w->now_ms - ld->cleared_ms) / 1000.0, ld->window_ms / 1000u);
}

static void drones_step(struct cp_world *w)
{
    uint8_t buf[4096];
    for (unsigned i = 0; i < w->n_drones; i++) {
        struct cp_drone *cd = &w->drones[i];
        enum sim_drone_state before = cd->d.state;
        sim_drone_step(&cd->d, w->now_ms);
        if (cd->d.state != before)
            trace(w, "drone %u %s -> %s", cd->d.cfg.sysid, sim_drone_state_name(before),
                  sim_drone_state_name(cd->d.state));
        size_t n;
        while ((n = sim_drone_take_output(&cd->d, buf, sizeof buf)) > 0)
            dronelink_receive(&w->sh->drones, buf, n, w->now_ms, w->now_ms * 1000u);
        drone_progress(w, cd);
        /* A drone that gave up on the station comes back later with a charged pack. */
        if (cd->d.state == SIM_DRONE_DIVERTED) {
            if (!cd->diverted_since_ms)
                cd->diverted_since_ms = w->now_ms;
            else if (w->now_ms - cd->diverted_since_ms > 20000) {
                struct sim_battery b;
                new_pack(w, &b, w->next_spare_tag++, 0.9);
                drone_start(w, i, &b);
            }
        }
    }
}

/* Has the station been told, since `since`, that this drone is armed? (Its radio may be
 * silent, lie about its system id, or simply not have sent its next heartbeat yet.) */
static bool station_heard_armed(const struct cp_world *w, const struct cp_drone *cd, uint64_t since)
{
    const struct dronelink_drone *d = dronelink_find(&w->sh->drones, cd->d.cfg.sysid);
    return d && d->armed && d->last_heartbeat_ms >= since;
}

static void station_to_drones(struct cp_world *w)
{
    const struct station_outputs *o = &w->sh->out;
    struct dproto_station_status s;
    dronelink_station_status(&w->sh->drones, o, &s);
    dronelink_send(&w->sh->drones, o->msgs, o->n_msgs, &s, w->now_ms, w->now_ms * 1000u);
    uint8_t buf[4096];
    size_t n;
    while ((n = dronelink_take_output(&w->sh->drones, buf, sizeof buf)) > 0)
        radio_to_drones(w, buf, n);
}

/* The operator sends a drone away from the pad through the station's radio. */
static void dispatch_drone(struct cp_world *w, struct cp_drone *cd)
{
    struct dproto_takeoff_clearance c = { .outcome = DPROTO_NOT_SWAPPED, .window_s = 30 };
    struct mav_command_long cmd;
    dproto_build_takeoff_clearance(&c, cd->d.cfg.sysid, cd->d.cfg.compid, 0, &cmd);
    uint8_t frame[MAV_MAX_FRAME];
    int n = mav_encode(&w->op_tx, MAV_MSG_COMMAND_LONG, &cmd, frame);
    if (n > 0)
        radio_to_drones(w, frame, (size_t)n);
    w->r->drones_dispatched++;
    trace(w, "operator: dispatch drone %u from the pad", cd->d.cfg.sysid);
}

/* ---- scenario -------------------------------------------------------------------------- */

static uint64_t gap_ms(struct cp_world *w, double mean_s)
{
    return (uint64_t)(1000.0 * mean_s * (0.2 + 1.6 * sim_rng_uniform(&w->rng))) + 1;
}

struct stuck_choice {
    unsigned table, addr;
    uint16_t value;
    enum cp_lie lie;
};

static const struct stuck_choice stuck_choices[] = {
    { SIM_DI, REGMAP_DI_CENTER_CLOSED, 0, LIE_PAD },
    { SIM_DI, REGMAP_DI_CENTER_CLOSED, 1, LIE_PAD },
    { SIM_DI, REGMAP_DI_CLAMP_LOCKED, 0, LIE_PAD },
    { SIM_DI, REGMAP_DI_CLAMP_LOCKED, 1, LIE_PAD },
    { SIM_DI, REGMAP_DI_STROKE_RETRACTED, 0, LIE_MOTION },
    { SIM_DI, REGMAP_DI_STROKE_EXTENDED, 0, LIE_MOTION },
    { SIM_DI, REGMAP_DI_X_IN_POS, 0, LIE_MOTION },
    { SIM_DI, REGMAP_DI_Z_IN_POS, 0, LIE_MOTION },
    { SIM_DI, REGMAP_DI_CAROUSEL_IN_POS, 0, LIE_MOTION },
    { SIM_IR, REGMAP_IR_LOAD_G, 0, LIE_LOAD },
    { SIM_IR, REGMAP_IR_LOAD_G, 3050, LIE_LOAD },
};

/* Both end sensors of one two-position device stuck on (a shorted or misadjusted pair). */
static const struct {
    unsigned a, b;
    enum cp_lie lie;
} conflict_pairs[] = {
    { REGMAP_DI_CENTER_OPEN, REGMAP_DI_CENTER_CLOSED, LIE_PAD },
    { REGMAP_DI_CLAMP_UNLOCKED, REGMAP_DI_CLAMP_LOCKED, LIE_PAD },
    { REGMAP_DI_STROKE_RETRACTED, REGMAP_DI_STROKE_EXTENDED, LIE_MOTION },
    { REGMAP_DI_WRIST_A, REGMAP_DI_WRIST_B, LIE_MOTION },
    { REGMAP_DI_GRIP_A_OPEN, REGMAP_DI_GRIP_A_CLOSED, LIE_MOTION },
    { REGMAP_DI_GRIP_B_OPEN, REGMAP_DI_GRIP_B_CLOSED, LIE_MOTION },
};

/* A register holding a PLC's "no value" sentinel or a value outside its physical range. */
static const struct {
    unsigned addr;      /* slot registers: offset, added to a random slot's block */
    bool slot;
    uint16_t value;
} invalid_values[] = {
    { REGMAP_IR_X_VEL, false, 0x8000 },
    { REGMAP_IR_Z_VEL, false, 0x8000 },
    { REGMAP_IR_LOAD_G, false, 0xFFFF },
    { REGMAP_IR_AMBIENT, false, 0x8000 },
    { REGMAP_IR_PLANT_FAULT, false, 0xFFFF },
    { REGMAP_IR_X_POS, false, 0xFFFF },
    { REGMAP_IR_SLOT_VOLTAGE, true, 0xFFFF },
    { REGMAP_IR_SLOT_TEMP, true, 0x8000 },
    { REGMAP_IR_SLOT_CURRENT, true, 0x8000 },
};

static void inject_fault(struct cp_world *w)
{
    if (w->n_faults >= CP_MAX_FAULTS - 1)
        return;
    struct cp_fault cf = { .f = { SIM_FAULT_NONE, 0, 0, 0 }, .lie = LIE_NONE };
    struct cp_fault second = cf;
    int n = w->pc.n_slots;
    switch (sim_rng_below(&w->rng, 15)) {
    case 0: cf.f = (struct sim_fault){ SIM_FAULT_AXIS_JAM, (int)sim_rng_below(&w->rng, 2), 0, 0 }; break;
    case 1: cf.f = (struct sim_fault){ SIM_FAULT_GRIPPER_NO_CLOSE, (int)sim_rng_below(&w->rng, 2), 0, 0 }; break;
    case 2:
    case 3: cf.f = (struct sim_fault){ SIM_FAULT_ACTUATOR_STUCK, (int)sim_rng_below(&w->rng, SIM_ACT_COUNT), 0, 0 }; break;
    case 4: {
        const struct stuck_choice *c = &stuck_choices[sim_rng_below(&w->rng, sizeof stuck_choices / sizeof stuck_choices[0])];
        cf.f = (struct sim_fault){ SIM_FAULT_SENSOR_STUCK, (int)c->table, (int)c->addr, c->value };
        cf.lie = c->lie;
        break;
    }
    case 5: cf.f = (struct sim_fault){ SIM_FAULT_CHARGER, (int)sim_rng_below(&w->rng, (uint32_t)n), 0, 0 }; break;
    case 6: cf.f = (struct sim_fault){ SIM_FAULT_OVERTEMP, (int)sim_rng_below(&w->rng, (uint32_t)n), 0,
                                       50 + sim_rng_range(&w->rng, 0, 30) }; break;
    case 7: cf.f = (struct sim_fault){ SIM_FAULT_TAG_UNREADABLE, (int)sim_rng_below(&w->rng, (uint32_t)n), 0, 0 }; break;
    case 8: cf.f = (struct sim_fault){ SIM_FAULT_ESTOP, 0, 0, 0 }; break;
    case 9: cf.f = (struct sim_fault){ SIM_FAULT_GUARD_OPEN, 0, 0, 0 }; break;
    case 10: cf.f = (struct sim_fault){ SIM_FAULT_WEATHER, 0, (int)sim_rng_below(&w->rng, 2), 5 + sim_rng_range(&w->rng, 0, 20) }; break;
    case 12: {
        const unsigned k = sim_rng_below(&w->rng, sizeof conflict_pairs / sizeof conflict_pairs[0]);
        cf.f = (struct sim_fault){ SIM_FAULT_SENSOR_STUCK, SIM_DI, (int)conflict_pairs[k].a, 1 };
        second.f = (struct sim_fault){ SIM_FAULT_SENSOR_STUCK, SIM_DI, (int)conflict_pairs[k].b, 1 };
        cf.lie = second.lie = conflict_pairs[k].lie;
        break;
    }
    case 13: cf.f = (struct sim_fault){ SIM_FAULT_IMAGE_FROZEN, 0, 0, 0 }; cf.lie = LIE_FROZEN; break;
    case 14: {
        const unsigned k = sim_rng_below(&w->rng, sizeof invalid_values / sizeof invalid_values[0]);
        unsigned a = invalid_values[k].addr;
        if (invalid_values[k].slot)
            a = REGMAP_IR_SLOT_ADDR(sim_rng_below(&w->rng, (uint32_t)n), a);
        cf.f = (struct sim_fault){ SIM_FAULT_SENSOR_STUCK, SIM_IR, (int)a, invalid_values[k].value };
        cf.lie = LIE_INVALID;
        break;
    }
    default: cf.f = (struct sim_fault){ SIM_FAULT_AXIS_JAM, (int)sim_rng_below(&w->rng, 2), 0, 0 }; break;
    }
    if ((w->o->without >> cf.f.kind & 1u) || sim_plant_inject(w->plant, &cf.f) != 0)
        return;
    cf.at_ms = w->now_ms;
    cf.clear_ms = w->now_ms + 300 + sim_rng_below(&w->rng, 25000);
    w->r->sensor_conflicts += second.f.kind != SIM_FAULT_NONE;
    w->r->frozen_images += cf.lie == LIE_FROZEN;
    w->r->invalid_images += cf.lie == LIE_INVALID;
    w->faults[w->n_faults++] = cf;
    if (second.f.kind != SIM_FAULT_NONE && sim_plant_inject(w->plant, &second.f) == 0) {
        second.at_ms = cf.at_ms;
        second.clear_ms = cf.clear_ms;
        w->faults[w->n_faults++] = second;
        trace(w, "inject %s a=%d b=%d v=%.1f (with the next: both end sensors on)", sim_fault_name(second.f.kind),
              second.f.a, second.f.b, second.f.value);
    }
    w->r->faults_injected++;
    trace(w, "inject %s a=%d b=%d v=%.1f for %.1f s", sim_fault_name(cf.f.kind), cf.f.a, cf.f.b, cf.f.value,
          (double)(cf.clear_ms - w->now_ms) / 1000.0);
    if (cf.f.kind == SIM_FAULT_ESTOP) {
        w->estop_latched = true;
        w->estop_released = false;
        w->estop_at_ms = w->now_ms;
    }
}

static void clear_due_faults(struct cp_world *w)
{
    for (int i = 0; i < w->n_faults;) {
        if (w->faults[i].clear_ms > w->now_ms) {
            i++;
            continue;
        }
        enum sim_fault_kind k = w->faults[i].f.kind;
        sim_plant_clear_faults(w->plant, k);
        trace(w, "clear %s", sim_fault_name(k));
        if (k == SIM_FAULT_ESTOP)
            w->estop_released = true;
        /* clearing a kind clears every fault of it */
        int keep = 0;
        for (int j = 0; j < w->n_faults; j++)
            if (w->faults[j].f.kind != k)
                w->faults[keep++] = w->faults[j];
        w->n_faults = keep;
        i = 0;
    }
}

static bool lie_active(const struct cp_world *w, enum cp_lie lie)
{
    for (int i = 0; i < w->n_faults; i++)
        if (w->faults[i].lie == lie)
            return true;
    return false;
}

static bool any_lie(const struct cp_world *w)
{
    return lie_active(w, LIE_PAD) || lie_active(w, LIE_MOTION) || lie_active(w, LIE_LOAD) ||
           lie_active(w, LIE_FROZEN);
}

/* Since when the plant has given no usable image through a lie the core must notice
 * (frozen, or a register out of range), and the bound it has for that; 0 none. */
static uint64_t image_unusable_since(const struct cp_world *w, uint64_t *bound_ms)
{
    uint64_t since = 0;
    for (int i = 0; i < w->n_faults; i++) {
        const struct cp_fault *f = &w->faults[i];
        if (f->lie != LIE_FROZEN && f->lie != LIE_INVALID)
            continue;
        uint64_t b = (uint64_t)(f->lie == LIE_FROZEN ? w->cfg.plant_echo_timeout_ms : w->cfg.comm_loss_ms);
        if (!since || f->at_ms < since) {
            since = f->at_ms;
            *bound_ms = b;
        }
    }
    return since;
}

static void misbehave(struct cp_world *w)
{
    struct cp_drone *cd = &w->drones[sim_rng_below(&w->rng, w->n_drones)];
    static const enum sim_drone_mis kinds[] = { SIM_DRONE_MIS_REARM, SIM_DRONE_MIS_REARM, SIM_DRONE_MIS_LINK_LOSS,
                                                SIM_DRONE_MIS_LINK_LOSS, SIM_DRONE_MIS_WRONG_SYSID,
                                                SIM_DRONE_MIS_GARBAGE, SIM_DRONE_MIS_NO_ACK, SIM_DRONE_MIS_CANCEL,
                                                SIM_DRONE_MIS_CANCEL, SIM_DRONE_MIS_DIVERT,
                                                SIM_DRONE_MIS_BAD_VERSION };
    enum sim_drone_mis kind = kinds[sim_rng_below(&w->rng, sizeof kinds / sizeof kinds[0])];
    uint64_t start = w->now_ms + sim_rng_below(&w->rng, 20000);
    uint32_t dur = 300 + sim_rng_below(&w->rng, kind == SIM_DRONE_MIS_LINK_LOSS ? 12000 : 8000);
    if (cd->n_win >= CP_MAX_WINDOWS || sim_drone_misbehave(&cd->d, kind, start, dur) != 0)
        return;
    cd->win[cd->n_win++] = (struct cp_window){ kind, start, kind == SIM_DRONE_MIS_REARM ? UINT64_MAX : start + dur };
    w->r->misbehaviours++;
    trace(w, "drone %u will misbehave: %s at %.3f s for %.1f s", cd->d.cfg.sysid, sim_drone_mis_name(kind),
          (double)start / 1000.0, dur / 1000.0);
}

/* A controller restart: the process dies (its memory, the worker's queue and the drone
 * link's state are gone) and starts again on the registry file and the plant as they are. */
static void restart_core(struct cp_world *w)
{
    static const char *const where[] = { "at the start of a scan (committed, not yet acknowledged)",
                                         "after the step (intents and moves queued, outputs not written)",
                                         "after the outputs were written (intents and moves not on disk)",
                                         "after the intents were written (outputs not written)" };
    w->r->restarts++;
    trace(w, "CRASH: the controller dies %s", where[w->crash_phase >= 0 && w->crash_phase < 4 ? w->crash_phase : 0]);
    w->crash_phase = -1;
    if (w->open_sysid) {
        w->r->swaps_aborted++;
        w->open_sysid = 0;
        w->last_progress_ms = w->now_ms;
    }
    /* The drone link's state is the one thing carried over (docs/campaign.md): a swapd
     * restarted with a fresh link forgets the drones it had queued, and a drone that
     * still hears the station waits as queued for good (drone protocol, not the shell). */
    struct dronelink *link = malloc(sizeof *link);
    if (link)
        *link = w->sh->drones;
    shell_kill(w);
    int rc = shell_start(w);
    if (link && rc == 0)
        w->sh->drones = *link;
    free(link);
    if (rc != 0) {
        w->r->stalled = true;   /* ends the world: a store that cannot be reopened */
        snprintf(w->r->first_stall, sizeof w->r->first_stall, "seed %" PRIu64 ": the registry could not be reopened",
                 w->o->seed);
        return;
    }
    w->abort_accepted = false;
}

/* The plant's PLC power-cycles: the physical plant keeps its state (sim_plant_save /
 * sim_plant_restore), the PLC forgets its outputs and latches; the link reconnects. */
static void restart_plant(struct cp_world *w)
{
    char path[64];
    int fd = memfd_create("plant", 0);
    if (fd < 0)
        return;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char err[160];
    if (sim_plant_save(w->plant, fd) == 0 && sim_plant_restore(w->plant, path, err, sizeof err) == 0) {
        w->r->plant_restarts++;
        w->need_readback = true;
        trace(w, "PLANT RESTART: the PLC power-cycles, the link reconnects");
    }
    close(fd);
}

static void scenario(struct cp_world *w)
{
    clear_due_faults(w);
    if (w->comm_down && w->now_ms >= w->comm_up_ms) {
        w->comm_down = false;
        w->need_readback = true;   /* the plant link reconnects: a new connection reads back */
        trace(w, "comm restored");
    }
    if (!w->o->faults)
        return;
    if (w->now_ms >= w->next_fault_ms) {
        inject_fault(w);
        w->next_fault_ms = w->now_ms + gap_ms(w, 90.0 / w->fault_rate);
    }
    if (w->now_ms >= w->next_mis_ms) {
        misbehave(w);
        w->next_mis_ms = w->now_ms + gap_ms(w, 120.0 / w->fault_rate);
    }
    if (w->now_ms >= w->next_comm_ms) {
        if (!w->comm_down) {
            w->comm_down = true;
            w->comm_down_since_ms = w->now_ms;
            w->comm_up_ms = w->now_ms + 20 + sim_rng_below(&w->rng, 2500);
            w->r->comm_losses++;
            trace(w, "comm lost for %.2f s", (double)(w->comm_up_ms - w->now_ms) / 1000.0);
        }
        w->next_comm_ms = w->now_ms + gap_ms(w, 300.0 / w->fault_rate);
    }
    if (w->now_ms >= w->next_crash_ms && w->crash_phase < 0) {
        /* The controller dies at one of four points of this scan (restart_core); a crash
         * due while the disk refuses writes waits for the disk. */
        if (w->now_ms < w->disk_fault_until_ms) {
            w->next_crash_ms = w->disk_fault_until_ms + w->scan_ms;
        } else {
            w->crash_phase = (int)sim_rng_below(&w->rng, 4);
            w->next_crash_ms = w->now_ms + gap_ms(w, 900.0 / w->fault_rate);
        }
    }
    if (w->now_ms >= w->next_disk_ms) {
        /* The disk is full or fails with I/O errors for 0.1..20 s of station time. */
        w->disk_fault_code = sim_rng_below(&w->rng, 2) ? SQLITE_FULL : SQLITE_IOERR_WRITE;
        w->disk_fault_until_ms = w->now_ms + 100 + sim_rng_below(&w->rng, 19900);
        w->r->disk_faults++;
        trace(w, "DISK: %s for %.1f s", w->disk_fault_code == SQLITE_FULL ? "full" : "I/O errors",
              (double)(w->disk_fault_until_ms - w->now_ms) / 1000.0);
        w->next_disk_ms = w->disk_fault_until_ms + gap_ms(w, 600.0 / w->fault_rate);
    }
    if (w->now_ms >= w->next_plant_restart_ms) {
        /* Only without injected plant faults (a power cycle clears them in the plant) and
         * with the axes at rest: a power cycle that stops X mid-travel leaves it short of
         * its target, and the core then takes the plant's in-position (against the target
         * the PLC reset to where X stopped) for its own (docs/campaign.md, What is left). */
        if (w->n_faults == 0 && w->truth.x_vel_mm_s == 0 && w->truth.z_vel_mm_s == 0)
            restart_plant(w);
        w->next_plant_restart_ms = w->now_ms + gap_ms(w, 900.0 / w->fault_rate);
    }
}

/* ---- the operator ------------------------------------------------------------------------ */

static bool device_fault_active(const struct cp_world *w)
{
    for (int i = 0; i < w->n_faults; i++) {
        enum sim_fault_kind k = w->faults[i].f.kind;
        if (k != SIM_FAULT_WEATHER && k != SIM_FAULT_CHARGER && k != SIM_FAULT_OVERTEMP && k != SIM_FAULT_TAG_UNREADABLE)
            return true;
    }
    return false;
}

static void command(struct cp_world *w, enum station_cmd c)
{
    w->sh->in.op.cmd = c;
}

/* Chooses this scan's operator input; the reply is read after the step. */
static void operator(struct cp_world *w)
{
    w->sh->in.op = (struct station_operator_in){ .cmd = STATION_CMD_NONE, .op = STATION_OP_NONE, .alarm = -1 };
    if (w->removed_slot >= 0) {
        w->sh->in.op.op = STATION_OP_PACK_REMOVED;
        w->sh->in.op.slot = w->removed_slot;
        w->hand_removed = w->removed_slot;
        w->hand_told_ms = w->now_ms;
        w->removed_slot = -1;
        return;
    }
    if (w->hand_removed >= 0 && w->sh->core.slot_tag[w->hand_removed] == 0)
        w->hand_removed = -1;  /* the station booked the pack out */
    int s = w->sh->out.state;
    /* Execute again (Unhold, Start): the core has forgotten the operator's Suspend. */
    if (s == ST_EXECUTE || !station_states[s].robot_moves)
        w->op_suspended = false;
    if (s != w->op_state) {
        w->op_state = s;
        w->op_next_ms = w->now_ms + 200 + sim_rng_below(&w->rng, 2500);
    }
    /* A drone the station does not serve (after an abort, a restart) blocks the pad: the
     * operator releases it (Abort), then sends it away or lifts it off. */
    struct cp_drone *pd = pad_drone(w);
    bool stranded = w->truth.drone_present && (!pd || w->sh->out.serving_sysid != pd->d.cfg.sysid);
    if (!stranded)
        w->stranded_since_ms = 0;
    else if (!w->stranded_since_ms)
        w->stranded_since_ms = w->now_ms;
    if (w->o->faults && w->now_ms >= w->next_noise_ms) {
        static const enum station_cmd noise[] = { STATION_CMD_HOLD, STATION_CMD_STOP, STATION_CMD_ABORT,
                                                  STATION_CMD_SUSPEND, STATION_CMD_ABORT };
        enum station_cmd c = noise[sim_rng_below(&w->rng, sizeof noise / sizeof noise[0])];
        /* Suspend while a drone is served on the pad: its swap must still end (issue 7). */
        if (w->truth.drone_present && w->sh->out.serving_sysid && sim_rng_below(&w->rng, 2))
            c = STATION_CMD_SUSPEND;
        command(w, c);
        w->next_noise_ms = w->now_ms + gap_ms(w, 600.0 / w->fault_rate);
        w->op_next_ms = w->now_ms + 500 + sim_rng_below(&w->rng, 2000);
        return;
    }
    if (w->now_ms < w->op_next_ms)
        return;
    w->op_next_ms = w->now_ms + 300 + sim_rng_below(&w->rng, 2000);
    bool held_drone = w->truth.clamp_pos > 0 || w->truth.center_pos > 0;
    if (stranded && w->now_ms - w->stranded_since_ms > 3000 && !held_drone && pd && !sim_drone_armed(&pd->d) &&
        w->truth.stroke_pos == 0) {
        if (sim_drone_powered(&pd->d) &&
            (pd->d.state == SIM_DRONE_DISARMED || pd->d.state == SIM_DRONE_WAIT_TAKEOFF) &&
            sim_rng_below(&w->rng, 3) != 0) {
            dispatch_drone(w, pd);
        } else {
            struct sim_battery b;
            bool has = false;
            if (sim_plant_drone_takeoff(w->plant, &b, &has) == 0) {
                w->r->drones_removed++;
                trace(w, "operator: lifts drone %u off the pad (%s)", pd->d.cfg.sysid,
                      has ? "with its pack" : "no pack");
                if (!has)
                    new_pack(w, &b, w->next_spare_tag++, 0.9);
                drone_start(w, (unsigned)(pd - w->drones), &b);
            }
        }
        return;
    }
    /* A held drone nobody serves: get the robot out of the pad zone by hand
     * (Maintenance jog), then Abort releases the drone. */
    bool jog_state = s == ST_STOPPED || s == ST_IDLE || s == ST_ABORTED || s == ST_HELD;
    bool head_near = w->sh->in.plant.valid && w->sh->in.plant.x_pos_mm >= w->pc.x_pad_zone_mm - w->pc.position_tolerance_mm - 1;
    if (stranded && held_drone && w->now_ms - w->stranded_since_ms > 3000 && w->sh->out.reconciled) {
        /* A careful operator does not jog while the station shows an e-stop or an armed
         * drone; a careless one does (the core must refuse what is unsafe). */
        uint64_t halt = (1ull << DIAG_ESTOP) | (1ull << DIAG_DRONE_ARMED);
        bool plant_ok = w->sh->in.plant.valid && w->sh->in.plant.plant_ready;
        /* Even a careless operator resets a plant that latched a fault (jogs go nowhere
         * until then); he only ignores the e-stop and armed-drone alarms. */
        bool ready = w->o->careless ? w->sh->in.plant.valid && (plant_ok || !w->sh->in.plant.estop_ok)
                                    : plant_ok && !(w->sh->out.alarms_active & halt);
        if ((head_near || w->truth.stroke_pos > 0) && jog_state && ready) {
            if (w->sh->out.mode != STATION_MODE_MAINTENANCE) {
                w->sh->in.op.op = STATION_OP_MODE;
                w->sh->in.op.mode = STATION_MODE_MAINTENANCE;
            } else {
                w->sh->in.op.op = STATION_OP_JOG;
                if (w->truth.stroke_pos > 0)
                    w->sh->in.op.jog.dev = STATION_JOG_STROKE, w->sh->in.op.jog.value = 0;
                else if (!w->sh->in.plant.x_homed || !w->sh->in.plant.z_homed)
                    w->sh->in.op.jog.dev = STATION_JOG_HOME, w->sh->in.op.jog.value = 1;
                else if (w->sh->in.plant.z_pos_mm > w->pc.z_travel_max_mm)
                    w->sh->in.op.jog.dev = STATION_JOG_Z_MM, w->sh->in.op.jog.value = 0;
                else
                    w->sh->in.op.jog.dev = STATION_JOG_X_MM, w->sh->in.op.jog.value = w->pc.x_standby_mm;
            }
            return;
        }
        if ((head_near || w->truth.stroke_pos > 0) && (s == ST_EXECUTE || s == ST_SUSPENDED) && ready) {
            command(w, STATION_CMD_STOP);   /* jogging needs a state that moves nothing */
            return;
        }
        if (!head_near && w->truth.stroke_pos == 0 &&
            (s == ST_STOPPED || s == ST_IDLE || s == ST_EXECUTE || s == ST_SUSPENDED || s == ST_HELD)) {
            if (w->sh->out.mode != STATION_MODE_PRODUCTION) {
                w->sh->in.op.op = STATION_OP_MODE;
                w->sh->in.op.mode = STATION_MODE_PRODUCTION;
            } else {
                command(w, STATION_CMD_ABORT);
            }
            return;
        }
    }
    if (w->sh->out.mode != STATION_MODE_PRODUCTION && jog_state) {
        w->sh->in.op.op = STATION_OP_MODE;
        w->sh->in.op.mode = STATION_MODE_PRODUCTION;
        return;
    }
    /* A full magazine: the operator takes the emptiest pack out of its slot by hand and
     * then tells the station which slot (swapctl removed SLOT). */
    if ((w->sh->out.alarms_active >> DIAG_MAGAZINE_FULL & 1) && !station_states[s].robot_moves && !w->sh->out.n_moves &&
        w->hand_removed >= 0) {
        /* One pack out at a time: while the station has not booked the last one out (its
         * image still shows it, e.g. frozen), the operator tells it again now and then
         * instead of emptying the magazine. */
        if (w->now_ms - w->hand_told_ms >= 2000) {
            w->removed_slot = w->hand_removed;
            return;
        }
    } else if ((w->sh->out.alarms_active >> DIAG_MAGAZINE_FULL & 1) && !station_states[s].robot_moves &&
               !w->sh->out.n_moves) {
        int best = -1;
        double soc = 2;
        for (size_t i = 0; i < w->truth.n_batteries; i++) {
            const struct sim_truth_battery *b = &w->truth.batteries[i];
            if (b->place == SIM_PLACE_SLOT && b->soc < soc) {
                soc = b->soc;
                best = b->slot;
            }
        }
        if (best >= 0 && sim_plant_remove_pack(w->plant, best, NULL) == 0) {
            trace(w, "operator: takes the pack out of slot %d (magazine full)", best + 1);
            w->removed_slot = best;
            return;
        }
    }
    switch (s) {
    case ST_HELD:
        if (!w->sh->out.reconciled) {
            w->sh->in.op.op = STATION_OP_ADOPT_SENSORS;
        } else if (w->unhold_exhausted) {
            w->unhold_exhausted = false;
            command(w, STATION_CMD_ABORT);
        } else if (device_fault_active(w) && sim_rng_below(&w->rng, 5) != 0) {
            /* the operator repairs before resuming */
        } else if (w->sh->out.alarms_unacked && sim_rng_below(&w->rng, 2)) {
            w->sh->in.op.op = STATION_OP_ACK;
            w->sh->in.op.alarm = -1;
        } else {
            command(w, STATION_CMD_UNHOLD);
        }
        break;
    case ST_SUSPENDED:
        /* his own Suspend lasts until he ends it */
        if (w->op_suspended)
            command(w, STATION_CMD_UNSUSPEND);
        break;
    case ST_ABORTED:
        command(w, STATION_CMD_CLEAR);
        break;
    case ST_STOPPED:
    case ST_COMPLETE:
        command(w, STATION_CMD_RESET);
        break;
    case ST_IDLE:
        /* a latched plant fault needs the reset pulse of Stop + Reset */
        if (w->sh->in.plant.valid && !w->sh->in.plant.plant_ready)
            w->need_stop = true;
        command(w, w->need_stop ? STATION_CMD_STOP : STATION_CMD_START);
        w->need_stop = false;
        break;
    default:
        break;
    }
}

static void operator_reply(struct cp_world *w)
{
    const struct station_operator_in *op = &w->sh->in.op;
    if (op->cmd == STATION_CMD_NONE && op->op == STATION_OP_NONE)
        return;
    w->r->operator_cmds++;
    const char *what = op->cmd != STATION_CMD_NONE ? station_cmd_name(op->cmd)
                       : op->op == STATION_OP_ACK ? "ack" : op->op == STATION_OP_ADOPT_SENSORS ? "adopt"
                       : op->op == STATION_OP_MODE ? station_mode_name(op->mode) : "jog";
    trace(w, "operator: %s -> %s%s%s", what, w->sh->out.cmd_ok ? "ok" : "refused", w->sh->out.cmd_ok ? "" : ": ",
          w->sh->out.cmd_ok ? "" : w->sh->out.cmd_reason);
    if (!w->sh->out.cmd_ok) {
        w->r->operator_refused++;
        /* Unhold refused for good (retries used up): the operator aborts instead. */
        if (op->cmd == STATION_CMD_UNHOLD && strstr(w->sh->out.cmd_reason, "retried"))
            w->unhold_exhausted = true;
        /* A latched alarm blocks Start in Idle: Stop, then Reset clears it. */
        if (op->cmd == STATION_CMD_START && strstr(w->sh->out.cmd_reason, "alarm"))
            w->need_stop = true;
        return;
    }
    if (op->cmd == STATION_CMD_ABORT)
        w->abort_accepted = true;
    if (op->cmd == STATION_CMD_SUSPEND) {
        w->op_suspended = true;
        w->r->suspends_on_pad += w->truth.drone_present;
    }
    if (op->cmd == STATION_CMD_UNSUSPEND)
        w->op_suspended = false;
    if ((op->cmd == STATION_CMD_START || op->cmd == STATION_CMD_UNHOLD || op->cmd == STATION_CMD_UNSUSPEND ||
         (op->cmd == STATION_CMD_NONE && op->op == STATION_OP_JOG)) &&
        w->estop_released)
        w->estop_latched = false;
}

/* ---- the rules --------------------------------------------------------------------------- */

static bool motion_commanded(const struct station_plant_out *o)
{
    return o->co[REGMAP_CO_X_ENABLE] || o->co[REGMAP_CO_X_HOME] || o->co[REGMAP_CO_Z_ENABLE] ||
           o->co[REGMAP_CO_Z_HOME] || o->co[REGMAP_CO_CAROUSEL_ENABLE];
}

static const char *place_name(int place)
{
    static const char *const names[] = { "nowhere", "slot", "gripper A", "gripper B", "drone", "quarantine", "away" };
    return place >= 0 && place < (int)(sizeof names / sizeof names[0]) ? names[place] : "?";
}

/* The station's view of where packs are: the shell's working set (the registry as loaded
 * at start, plus every move handed to the worker since) plus the core's moves the shell
 * has not taken yet, in order. */
static int expected_view(const struct cp_world *w, struct cp_pack *view)
{
    const struct swapd *d = w->sh;
    int n = 0;
    for (int i = 0; i < d->n_packs && n < CP_MAX_PACKS; i++)
        view[n++] = (struct cp_pack){ d->packs[i].tag, station_loc(d->packs[i].loc) };
    for (int i = 0; i < d->out.n_moves; i++)
        if (d->out.moves[i].seq > d->submitted_seq)
            apply_move(view, &n, &d->out.moves[i]);
    return n;
}

static enum station_place truth_place(const struct sim_truth_battery *b)
{
    switch (b->place) {
    case SIM_PLACE_SLOT: return STATION_PLACE_SLOT;
    case SIM_PLACE_GRIPPER_A: return STATION_PLACE_GRIPPER_A;
    case SIM_PLACE_GRIPPER_B: return STATION_PLACE_GRIPPER_B;
    case SIM_PLACE_DRONE: return STATION_PLACE_DRONE;
    default: return STATION_PLACE_NONE;
    }
}

/* The in-flight move of the step now running: (from, to) place kinds. */
static bool in_flight(const struct cp_world *w, enum station_place from, enum station_place to)
{
    int step = w->sh->out.step;
    if (step < 0 || step >= SWAPSEQ_COUNT)
        return false;
    switch (swapseq_steps[step].move) {
    case SWM_SLOT_TO_B: return from == STATION_PLACE_SLOT && to == STATION_PLACE_GRIPPER_B;
    case SWM_DRONE_TO_A: return from == STATION_PLACE_DRONE && to == STATION_PLACE_GRIPPER_A;
    case SWM_B_TO_DRONE: return from == STATION_PLACE_GRIPPER_B && to == STATION_PLACE_DRONE;
    case SWM_A_TO_SLOT: return from == STATION_PLACE_GRIPPER_A && to == STATION_PLACE_SLOT;
    case SWM_SLOT_TO_A: return from == STATION_PLACE_SLOT && to == STATION_PLACE_GRIPPER_A;
    case SWM_A_TO_DRONE: return from == STATION_PLACE_GRIPPER_A && to == STATION_PLACE_DRONE;
    default: return false;
    }
}

static void check_inventory(struct cp_world *w)
{
    /* A stopped station with an alarm is allowed to disagree: it moves nothing until
     * the operator has decided (DESIGN §5 rule 4). */
    bool stopped = !station_states[w->sh->out.state].robot_moves && w->sh->out.alarms_active;
    if (stopped || !w->sh->out.reconciled)
        return;
    struct cp_pack view[CP_MAX_PACKS];
    int n = expected_view(w, view);
    const struct sim_truth *t = &w->truth;
    const struct cp_drone *pd = pad_drone(w);
    for (size_t i = 0; i < t->n_batteries; i++) {
        const struct sim_truth_battery *b = &t->batteries[i];
        enum station_place tp = truth_place(b);
        if (tp == STATION_PLACE_NONE)
            continue;
        struct station_location real = { tp, tp == STATION_PLACE_SLOT ? b->slot : 0 };
        struct cp_pack *e = pack_by_tag(view, n, b->tag);
        if (!e && tp != STATION_PLACE_DRONE) {
            struct cp_pack *u = pack_at(view, n, real);
            if (u && u->tag == STATION_TAG_UNKNOWN)
                continue;
        }
        if (!e) {
            /* Unknown to the station: fine only for a pack that came on a drone and has
             * not been touched yet. */
            if (tp != STATION_PLACE_DRONE && !in_flight(w, STATION_PLACE_DRONE, tp))
                violation(w, CAMPAIGN_RULE_INVENTORY, "pack %08X is in %s %d but unknown to the inventory",
                          b->tag, place_name(tp), real.index);
            continue;
        }
        /* Quarantine is a known place: the station has given up on locating the pack
         * and said so with an alarm (DESIGN §5 rule 4). */
        if (e->loc.place == STATION_PLACE_QUARANTINE)
            continue;
        if (tp == STATION_PLACE_DRONE) {
            /* In the drone on the pad: the station must not believe it is in the robot or
             * the magazine. */
            bool ok = e->loc.place == STATION_PLACE_DRONE || e->loc.place == STATION_PLACE_NONE ||
                      e->loc.place == STATION_PLACE_QUARANTINE || in_flight(w, e->loc.place, tp);
            if (!ok)
                violation(w, CAMPAIGN_RULE_INVENTORY, "pack %08X is in the drone on the pad (%u), inventory says %s %d",
                          b->tag, pd ? pd->d.cfg.sysid : 0, place_name(e->loc.place), e->loc.index);
            continue;
        }
        if (same_loc(e->loc, real) || in_flight(w, e->loc.place, tp))
            continue;
        /* The core itself says an unnamed pack is there (adopted from the sensors, no
         * reader at a gripper) and the registry books the pack to a drone that has left:
         * the place is right, the name comes when a reader sees it. (A pack booked to the
         * drone on the pad is named by the shell, swapd_inventory_name_at.) */
        const struct station *core = &w->sh->core;
        uint32_t core_tag = tp == STATION_PLACE_GRIPPER_A ? core->grip_a_tag
                            : tp == STATION_PLACE_GRIPPER_B ? core->grip_b_tag
                            : tp == STATION_PLACE_SLOT && real.index >= 0 && real.index < REGMAP_MAX_SLOTS
                                ? core->slot_tag[real.index] : 0;
        if (core_tag == STATION_TAG_UNKNOWN && e->loc.place == STATION_PLACE_DRONE &&
            (!pd || pd->d.cfg.sysid != e->loc.index))
            continue;
        violation(w, CAMPAIGN_RULE_INVENTORY, "pack %08X is in %s %d, inventory says %s %d", b->tag,
                  place_name(tp), real.index, place_name(e->loc.place), e->loc.index);
    }
    /* And the other way: a place the station believes full holds that pack. */
    for (int i = 0; i < n; i++) {
        const struct cp_pack *e = &view[i];
        if (e->loc.place != STATION_PLACE_SLOT && e->loc.place != STATION_PLACE_GRIPPER_A &&
            e->loc.place != STATION_PLACE_GRIPPER_B)
            continue;
        bool found = false;
        for (size_t k = 0; k < t->n_batteries && !found; k++) {
            const struct sim_truth_battery *b = &t->batteries[k];
            enum station_place tp = truth_place(b);
            struct station_location real = { tp, tp == STATION_PLACE_SLOT ? b->slot : 0 };
            found = tp != STATION_PLACE_NONE && same_loc(real, e->loc) &&
                    (b->tag == e->tag || e->tag == STATION_TAG_UNKNOWN);
        }
        if (found)
            continue;
        /* the pack itself was reported above if it is somewhere else in the plant */
        bool elsewhere = false;
        for (size_t k = 0; k < t->n_batteries; k++)
            if (t->batteries[k].tag == e->tag && truth_place(&t->batteries[k]) != STATION_PLACE_NONE)
                elsewhere = true;
        if (!elsewhere)
            violation(w, CAMPAIGN_RULE_INVENTORY, "inventory says pack %08X is in %s %d, the plant has %s there",
                      e->tag, place_name(e->loc.place), e->loc.index, "another or none");
    }
}

/* (h) Once the worker has written everything the shell handed it (nothing queued), the
 * registry file says what the shell's working set says: no
 * move, registration or unbooking was lost on the way to the disk. Read through the
 * shell's own read-only connection, every 10 s of station time. */
struct durable_ctx {
    struct cp_world *w;
    int checked;
};

static int durable_one(const struct registry_battery *b, void *ctx)
{
    struct durable_ctx *c = ctx;
    const struct swapd_pack *p = swapd_pack_find(c->w->sh, b->tag);
    c->checked++;
    if (!p || p->loc.place != b->loc.place || p->loc.index != b->loc.index) {
        char disk[32], mem[32];
        registry_location_format(b->loc, disk, sizeof disk);
        if (p)
            registry_location_format(p->loc, mem, sizeof mem);
        violation(c->w, CAMPAIGN_RULE_DURABLE, "pack SWP-%08X: the registry file says %s, the shell %s", (unsigned)b->tag,
                  disk, p ? mem : "nothing");
        return 1;
    }
    return 0;
}

static void check_durable(struct cp_world *w)
{
    struct swapd *d = w->sh;
    if (!d->reader || w->now_ms % 10000u >= w->scan_ms || persist_queued_at_once(d->persist))
        return;
    struct durable_ctx c = { w, 0 };
    int n = registry_list_working_set(d->reader, durable_one, &c);
    w->r->durable_checks += n >= 0;
    if (n < 0 || c.checked != n)
        return;
    /* and the other way: every pack the shell has in service or quarantine is in the file
     * (a retired pack may leave the registry's working set) */
    for (int i = 0; i < d->n_packs; i++) {
        const struct swapd_pack *p = &d->packs[i];
        struct registry_battery b;
        if (p->status == REGISTRY_RETIRED)
            continue;
        if (registry_get_battery(d->reader, p->tag, &b) != 0) {
            violation(w, CAMPAIGN_RULE_DURABLE, "pack SWP-%08X: the shell has it, the registry file does not",
                      (unsigned)p->tag);
            return;
        }
    }
}

static void check_rules(struct cp_world *w)
{
    const struct sim_truth *t = &w->truth;
    const struct station_plant_out *o = &w->sh->out.plant;
    bool motion = motion_commanded(o);
    uint64_t react_ms = 3u * w->scan_ms + 60u;

    /* (a) an armed drone on the pad */
    struct cp_drone *pd = pad_drone(w);
    bool armed = pd && sim_drone_armed(&pd->d);
    if (armed) {
        if (!w->arm_any_since_ms)
            w->arm_any_since_ms = w->now_ms;
        if (!w->arm_obs_since_ms && station_heard_armed(w, pd, w->arm_any_since_ms))
            w->arm_obs_since_ms = w->now_ms;
    } else {
        w->arm_any_since_ms = w->arm_obs_since_ms = 0;
    }
    /* With the clamp sensors lying, the station cannot know the drone is held. */
    bool exposed = t->head_in_pad_zone || (t->drone_clamped && !lie_active(w, LIE_PAD));
    bool obs = w->arm_obs_since_ms != 0;
    if (armed && exposed && !obs)
        w->r->blind_arming_scans++;
    if (armed && w->have_prev && !w->prev.head_in_pad_zone && t->head_in_pad_zone) {
        uint64_t grace = obs ? react_ms + CP_BRAKE_MS
                             : (uint64_t)w->cfg.drone_heartbeat_timeout_ms + react_ms + CP_BRAKE_MS;
        uint64_t since = obs ? w->arm_obs_since_ms : w->arm_any_since_ms;
        if (w->now_ms - since > grace)
            violation(w, CAMPAIGN_RULE_ARMED_ENTRY, "head entered the pad zone; drone %u armed for %.3f s",
                      pd->d.cfg.sysid, (double)(w->now_ms - since) / 1000.0);
    }
    if (armed && obs && exposed && w->now_ms - w->arm_obs_since_ms > react_ms) {
        if (motion)
            violation(w, CAMPAIGN_RULE_ARMED_STOP, "drone %u armed %.3f s ago (%s), motion still commanded",
                      pd->d.cfg.sysid, (double)(w->now_ms - w->arm_obs_since_ms) / 1000.0,
                      t->head_in_pad_zone ? "head in the pad zone" : "clamped");
        else if (w->now_ms - w->arm_obs_since_ms > react_ms + CP_BRAKE_MS &&
                 (t->x_vel_mm_s != 0 || t->z_vel_mm_s != 0))
            violation(w, CAMPAIGN_RULE_ARMED_STOP, "drone %u armed, the axes still move (x %.0f mm/s)",
                      pd->d.cfg.sysid, t->x_vel_mm_s);
    }
    /* Not counted in the scan a forced clamp/centre sensor is released either (as rule c):
     * the core has not yet seen the true level. */
    if (t->head_in_pad_zone && t->drone_present && !(t->drone_clamped && t->drone_centred) && !lie_active(w, LIE_PAD) &&
        !w->pad_lie_prev)
        violation(w, CAMPAIGN_RULE_LOOSE_DRONE, "head at %.1f mm over a drone not centred and clamped", t->x_mm);

    /* (b) */
    check_inventory(w);

    /* (c) releasing the clamp over a drone: the coil the plant holds (a command that
     * never reached the plant, e.g. during a comm loss, releases nothing) */
    uint8_t coil = 0;
    sim_plant_read_bits(w->plant, SIM_CO, REGMAP_CO_CLAMP_LOCK, 1, &coil);
    bool clamp_cmd = coil != 0;
    bool pad_lie = lie_active(w, LIE_PAD) || w->pad_lie_prev;
    w->pad_lie_prev = lie_active(w, LIE_PAD);
    if (w->prev_clamp_cmd && !clamp_cmd && t->drone_present && !pad_lie) {
        bool verified = t->drone_battery_latched && pd && pd->d.state == SIM_DRONE_WAIT_TAKEOFF;
        if (!verified && !w->abort_accepted)
            violation(w, CAMPAIGN_RULE_UNCLAMP, "clamp released, drone %u %s, pack %s", pd ? pd->d.cfg.sysid : 0,
                      pd ? sim_drone_state_name(pd->d.state) : "?", t->drone_battery_latched ? "latched" : "missing");
        if (t->head_in_pad_zone)
            violation(w, CAMPAIGN_RULE_UNCLAMP, "clamp released with the robot in the pad zone (x %.1f mm, stroke %.2f)",
                      t->x_mm, t->stroke_pos);
    }
    w->prev_clamp_cmd = clamp_cmd;
    if (!t->drone_present)
        w->abort_accepted = false;

    /* (d) what the plant refused as physically impossible */
    if (t->collisions != w->base_collisions) {
        if (!any_lie(w))
            violation(w, CAMPAIGN_RULE_PHYSICAL, "plant counted a collision (%u)", t->collisions);
        w->base_collisions = t->collisions;
    }
    if (t->takeoff_while_clamped != w->base_takeoff_held) {
        violation(w, CAMPAIGN_RULE_PHYSICAL, "drone tried to take off while held (%u)", t->takeoff_while_clamped);
        w->base_takeoff_held = t->takeoff_while_clamped;
    }
    if (t->plant_fault != w->prev_plant_fault) {
        bool interlock = (t->plant_fault >= PF_X_NOT_HOMED && t->plant_fault <= PF_IL_CENTER_WITH_ROBOT);
        if (interlock && !any_lie(w))
            violation(w, CAMPAIGN_RULE_PHYSICAL, "plant refused a command: fault code %u", t->plant_fault);
        w->prev_plant_fault = t->plant_fault;
    }

    /* (e) e-stop: no motion from two scans after it until an operator Start/Unhold after
     * its release */
    if (w->estop_latched && motion && w->now_ms > w->estop_at_ms + 2u * w->scan_ms)
        violation(w, CAMPAIGN_RULE_ESTOP, "motion commanded %.3f s after the e-stop, no Start since its release",
                  (double)(w->now_ms - w->estop_at_ms) / 1000.0);

    /* (f) nothing moves before the inventory agrees with the sensors */
    if (!w->sh->out.reconciled && motion)
        violation(w, CAMPAIGN_RULE_RECONCILE, "motion commanded before reconciliation");

    /* (g) comm loss: a safe state within comm_loss_ms and a few scans */
    if (w->comm_down && w->now_ms - w->comm_down_since_ms > (uint64_t)w->cfg.comm_loss_ms + 3u * w->scan_ms &&
        station_states[w->sh->out.state].robot_moves)
        violation(w, CAMPAIGN_RULE_COMM_LOSS, "plant link down %.3f s, station still %s",
                  (double)(w->now_ms - w->comm_down_since_ms) / 1000.0, station_state_name(w->sh->out.state));
    /* ... and the same for an image that is there but unusable: frozen, or refused as
     * out of range */
    /* A frozen image is judged from when the station may move the robot (before that
     * the plant may not have seen a heartbeat of a restarted controller). */
    bool moving = station_states[w->sh->out.state].robot_moves;
    if (!moving)
        w->moving_since_ms = 0;
    else if (!w->moving_since_ms)
        w->moving_since_ms = w->now_ms;
    uint64_t bound_ms = 0, bad_since = image_unusable_since(w, &bound_ms);
    if (bad_since && bad_since < w->moving_since_ms)
        bad_since = w->moving_since_ms;
    if (bad_since && w->now_ms - bad_since > bound_ms + 3u * w->scan_ms && station_states[w->sh->out.state].robot_moves)
        violation(w, CAMPAIGN_RULE_COMM_LOSS, "plant image %s for %.3f s, station still %s",
                  lie_active(w, LIE_FROZEN) ? "frozen" : "out of range",
                  (double)(w->now_ms - bad_since) / 1000.0, station_state_name(w->sh->out.state));
}

/* ---- outputs ------------------------------------------------------------------------------ */

static void account(struct cp_world *w)
{
    const struct station_outputs *o = &w->sh->out;
    for (int i = 0; i < o->n_events; i++)
        trace(w, "core %s -> %s: %s", o->events[i].from, o->events[i].to, o->events[i].reason);
    for (int i = 0; i < o->n_alarm_events; i++)
        trace(w, "alarm %s %s (%d)", diag_name(o->alarm_events[i].alarm), o->alarm_events[i].raised ? "raised" : "cleared",
              o->alarm_events[i].detail);
    for (int i = 0; i < o->n_msgs; i++) {
        const struct station_drone_msg *m = &o->msgs[i];
        if (m->kind == STATION_MSG_PROGRESS || m->kind == STATION_MSG_QUEUED)
            continue;
        trace(w, "to drone %u: kind %d param %d", m->sysid, (int)m->kind, (int)m->param);
        switch (m->kind) {
        case STATION_MSG_CLEARED_TO_LAND:
            if (w->open_sysid)
                w->r->swaps_aborted++;
            w->open_sysid = m->sysid;
            w->r->swaps_started++;
            w->last_progress_ms = w->now_ms;
            break;
        case STATION_MSG_CLEARED_TAKEOFF:
            if (w->open_sysid == m->sysid) {
                w->r->swaps_completed++;
                w->open_sysid = 0;
                w->last_progress_ms = w->now_ms;
                if (w->touch_ms) {
                    double s = (double)(w->now_ms - w->touch_ms) / 1000.0;
                    w->r->onpad_sum_s += s;
                    w->r->onpad_n++;
                    if (s > w->r->onpad_max_s)
                        w->r->onpad_max_s = s;
                    if (w->r->onpad_min_s == 0 || s < w->r->onpad_min_s)
                        w->r->onpad_min_s = s;
                }
            }
            break;
        case STATION_MSG_SWAP_ABORTED:
        case STATION_MSG_DENIED:
            if (w->open_sysid == m->sysid) {
                w->r->swaps_aborted++;
                w->open_sysid = 0;
                w->last_progress_ms = w->now_ms;
            }
            break;
        default:
            break;
        }
    }
}

static void hash_scan(struct cp_world *w)
{
    int32_t v[6] = { w->sh->out.state, w->sh->out.step, (int32_t)lround(w->truth.x_mm * 10), (int32_t)lround(w->truth.z_mm * 10),
                     (int32_t)persist_committed_seq(w->sh->persist), (int32_t)w->truth.n_batteries };
    hash_bytes(w, v, sizeof v);
}

/* Touchdown is timed from the plant's truth; a drone may land while it steps or while it
 * handles the station's frames, both at the scan time. */
static void refresh_truth(struct cp_world *w)
{
    sim_plant_truth(w->plant, &w->truth);
    if (!w->truth.drone_present)
        w->touch_ms = 0;
    else if (!w->touch_ms)
        w->touch_ms = w->now_ms;
}

/* The controller's part of a scan, in swapd's order (main.c run()): read the plant,
 * hear the drones, the inventory from the shell, step, hand the worker what moved, write
 * the plant's outputs; the worker writes afterwards (or, now and then, while the scan is
 * still running: before the outputs). A crash due in this scan happens at its point. */
static bool motion_commanded(const struct station_plant_out *o);

static bool crash_here(struct cp_world *w, int phase)
{
    if (w->crash_phase != phase)
        return false;
    restart_core(w);
    return true;
}

static void controller_scan(struct cp_world *w)
{
    struct swapd *d = w->sh;
    plant_exchange_in(w);
    if (!d->commissioned && d->in.plant.valid) {
        swapd_inventory_commission_late(d, &d->in.plant, w->now_ms);
        d->commissioned = true;
    }
    dronelink_fill_inputs(&d->drones, d->in.drones);
    swapd_flight_health(d, w->now_ms);
    d->in.inv.moves_committed_seq = persist_committed_seq(d->persist);
    swapd_inventory_fill(d, w->now_ms);
    d->in.inv.store_failed = persist_blocked(d->persist, NULL, 0);
    station_step(&d->core, &d->in, w->now_ms, &d->out);
    uint32_t before = d->submitted_seq;
    swapd_persist_outputs(d, w->now_ms);
    for (int i = 0; i < d->out.n_moves; i++) {
        const struct station_move *m = &d->out.moves[i];
        if (m->seq > before && m->seq <= d->submitted_seq)
            trace(w, "move %u %08X %d/%d -> %d/%d (%s)", m->seq, m->tag, m->from.place, m->from.index,
                  m->to.place, m->to.index, m->step ? m->step : "-");
    }
    if (crash_here(w, 1))
        return;
    bool early = w->o->faults && sim_rng_below(&w->rng, 10) == 0;
    if (early) {
        disk_turn(w);
        if (crash_here(w, 3))
            return;
    }
    char err[160];
    /* Nothing is written before the core adopted the read-back of this very connection. */
    bool writes = d->in.plant.have_readback && d->core.image_adopted && !w->need_readback &&
                  d->readback_seen == w->rb_seq && !w->comm_down;
    /* (f) a new plant connection is a restart: no motion reaches the plant (maybe just
     * powered up) before the core has dropped its reconciliation and made it again. */
    if (w->renew_pending && !d->core.reconciled)
        w->renew_pending = false;
    for (int i = 0; w->renew_pending && i < d->out.n_events; i++) {
        /* dropped and made again in one step, or reconciled afresh (a core that had not
         * reconciled yet when the connection was renewed) */
        const char *why = d->out.events[i].reason;
        if (!strncmp(why, "plant connection renewed", 24) || strstr(why, "reconciled") ||
            strstr(why, "adopted the sensors"))
            w->renew_pending = false;
    }
    if (w->renew_pending && writes && motion_commanded(&d->out.plant))
        violation(w, CAMPAIGN_RULE_RECONCILE, "motion written to a new plant connection before reconciling again");
    if (writes)
        plantio_write(&w->io, (unsigned)w->pc.n_slots, &d->out.plant, err, sizeof err);
    if (crash_here(w, 2))
        return;
    if (!early)
        disk_turn(w);
}

static void scan(struct cp_world *w)
{
    uint64_t t = w->now_ms + w->scan_ms;
    sim_plant_step(w->plant, (uint32_t)(t - sim_plant_now_ms(w->plant)));
    w->now_ms = t;
    scenario(w);
    crash_here(w, 0);
    if (w->r->stalled)
        return;
    drones_step(w);
    refresh_truth(w);
    operator(w);
    controller_scan(w);
    if (w->r->stalled)
        return;
    operator_reply(w);
    account(w);
    station_to_drones(w);
    refresh_truth(w);
    check_rules(w);
    check_durable(w);
    w->prev = w->truth;
    w->have_prev = true;
    hash_scan(w);
    w->r->scans++;
}

/* ---- commissioning for the naive order ---------------------------------------------------- */

/* The naive order stores the old pack before it fetches the fresh one, so it needs a free
 * slot. Before the controller starts, the plant is driven straight on its register map:
 * the pack of slot 0 goes into a drone that came without one, and that drone leaves. */
enum bare_op { BARE_COIL, BARE_REG, BARE_WAIT, BARE_LAND, BARE_TAKEOFF };

static const struct {
    enum bare_op op;
    unsigned addr, value;
} commission_ops[] = {
    { BARE_COIL, REGMAP_CO_Z_HOME, 1 }, { BARE_WAIT, REGMAP_DI_Z_HOMED, 1 },
    { BARE_COIL, REGMAP_CO_X_HOME, 1 }, { BARE_WAIT, REGMAP_DI_X_HOMED, 1 },
    { BARE_COIL, REGMAP_CO_X_HOME, 0 }, { BARE_COIL, REGMAP_CO_Z_HOME, 0 },
    { BARE_REG, REGMAP_HR_CAROUSEL_TARGET, 0 }, { BARE_COIL, REGMAP_CO_CAROUSEL_ENABLE, 1 },
    { BARE_WAIT, REGMAP_DI_CAROUSEL_IN_POS, 1 },
    { BARE_REG, REGMAP_HR_Z_TARGET, 1500 }, { BARE_COIL, REGMAP_CO_Z_ENABLE, 1 },
    { BARE_WAIT, REGMAP_DI_Z_BUSY, 1 }, { BARE_WAIT, REGMAP_DI_Z_IN_POS, 1 },
    { BARE_COIL, REGMAP_CO_STROKE_EXTEND, 1 }, { BARE_WAIT, REGMAP_DI_STROKE_EXTENDED, 1 },
    { BARE_COIL, REGMAP_CO_GRIP_A_CLOSE, 1 }, { BARE_WAIT, REGMAP_DI_GRIP_A_HOLDING, 1 },
    { BARE_COIL, REGMAP_CO_STROKE_EXTEND, 0 }, { BARE_WAIT, REGMAP_DI_STROKE_RETRACTED, 1 },
    { BARE_REG, REGMAP_HR_Z_TARGET, 0 }, { BARE_WAIT, REGMAP_DI_Z_BUSY, 1 }, { BARE_WAIT, REGMAP_DI_Z_IN_POS, 1 },
    { BARE_LAND, 0, 0 },
    { BARE_COIL, REGMAP_CO_CENTER_CLOSE, 1 }, { BARE_WAIT, REGMAP_DI_CENTER_CLOSED, 1 },
    { BARE_COIL, REGMAP_CO_CLAMP_LOCK, 1 }, { BARE_WAIT, REGMAP_DI_CLAMP_LOCKED, 1 },
    { BARE_REG, REGMAP_HR_X_TARGET, 6000 }, { BARE_COIL, REGMAP_CO_X_ENABLE, 1 },
    { BARE_WAIT, REGMAP_DI_X_BUSY, 1 }, { BARE_WAIT, REGMAP_DI_X_IN_POS, 1 },
    { BARE_COIL, REGMAP_CO_STROKE_EXTEND, 1 }, { BARE_WAIT, REGMAP_DI_STROKE_EXTENDED, 1 },
    { BARE_COIL, REGMAP_CO_GRIP_A_CLOSE, 0 }, { BARE_WAIT, REGMAP_DI_GRIP_A_OPEN, 1 },
    { BARE_COIL, REGMAP_CO_STROKE_EXTEND, 0 }, { BARE_WAIT, REGMAP_DI_STROKE_RETRACTED, 1 },
    { BARE_REG, REGMAP_HR_X_TARGET, 0 }, { BARE_WAIT, REGMAP_DI_X_BUSY, 1 }, { BARE_WAIT, REGMAP_DI_X_IN_POS, 1 },
    { BARE_COIL, REGMAP_CO_CLAMP_LOCK, 0 }, { BARE_COIL, REGMAP_CO_CENTER_CLOSE, 0 },
    { BARE_WAIT, REGMAP_DI_CENTER_OPEN, 1 }, { BARE_WAIT, REGMAP_DI_CLAMP_UNLOCKED, 1 },
    { BARE_TAKEOFF, 0, 0 },
};

static int commission_free_slot(struct sim_plant *p)
{
    for (size_t i = 0; i < sizeof commission_ops / sizeof commission_ops[0]; i++) {
        unsigned a = commission_ops[i].addr, v = commission_ops[i].value;
        uint8_t bit = (uint8_t)v;
        uint16_t reg = (uint16_t)v;
        bool has = false;
        int rc = 0;
        switch (commission_ops[i].op) {
        case BARE_COIL: rc = sim_plant_write_coils(p, a, 1, &bit); break;
        case BARE_REG: rc = sim_plant_write_regs(p, a, 1, &reg); break;
        case BARE_LAND: rc = sim_plant_drone_land(p, NULL); break;
        case BARE_TAKEOFF: rc = sim_plant_drone_takeoff(p, NULL, &has) == 0 && has ? 0 : -1; break;
        case BARE_WAIT:
            rc = -1;
            for (int t = 0; t < 20000 && rc; t++) {
                uint8_t b = 0;
                sim_plant_read_bits(p, SIM_DI, a, 1, &b);
                if (b == v)
                    rc = 0;
                else
                    sim_plant_step(p, 1);
            }
            break;
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

/* Removes a registry file and its WAL companions. */
static void remove_db(const char *path)
{
    char aux[200];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

static int world_init(struct cp_world *w, const struct campaign_opts *o, struct campaign_result *r)
{
    w->o = o;
    w->r = r;
    w->scan_ms = o->scan_ms ? o->scan_ms : 20;
    w->hash = 1469598103934665603ull;
    plantcfg_defaults(&w->pc);
    station_cfg_defaults(&w->cfg);
    w->cfg.sequence = o->sequence;
    sim_rng_seed(&w->rng, o->seed * 0x9E3779B97F4A7C15ull + 7);
    /* A fast charger (2 C): drones are back within a minute. */
    w->pc.charge_c_rate = 2.0;
    if (o->fleet)
        w->pc.charger_max_temp_degC = 60;
    w->plant = sim_plant_new(&w->pc, o->seed);
    if (!w->plant)
        return -1;
    /* The magazine starts charged (the shell's hand-out policy wants 80 %). */
    for (int s = 0; s < w->pc.n_slots; s++) {
        struct sim_battery *b = sim_plant_battery(w->plant, 0x5A000001u + (uint32_t)s);
        if (b)
            b->soc = 0.95;
    }
    plantio_sim_backend(&w->sim_io, w->plant);
    if (o->plant_map) {
        w->logical_io = w->sim_io;
        struct plantmap_server_io sio;
        plantio_server_io(&sio, &w->logical_io);
        if (plantmap_server_init(&w->srv, o->plant_map, (unsigned)w->pc.n_slots, &sio) != 0)
            return -1;
        plantio_served_backend(&w->sim_io, &w->srv);
    }
    w->io = (struct plantio_backend){ "in-process plant with comm loss", w, io_read_di, io_read_ir, io_read_co,
                                      io_read_hr, io_write_co, io_write_hr, io_close, o->plant_map };
    mav_parser_init(&w->radio, NULL);
    w->op_tx = (struct mav_tx){ .sysid = CP_STATION_SYSID, .compid = DPROTO_STATION_COMPID };
    w->op_state = -1;
    w->crash_phase = -1;
    if (o->sequence == SWAPSEQ_NAIVE) {
        if (commission_free_slot(w->plant) != 0)
            return -1;
        w->now_ms = sim_plant_now_ms(w->plant);
    }
    /* A fresh registry file per world; the shell commissions the packs it finds in the
     * slots at its first start, as swapd does. */
    const char *dir = getenv("SWAP_CAMPAIGN_DIR");
    struct stat st;
    if (!dir || !*dir)
        dir = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(w->db_path, sizeof w->db_path, "%s/swap-campaign-%ld-%" PRIu64 ".db", dir, (long)getpid(), o->seed);
    remove_db(w->db_path);
    if (faultvfs_install() != 0 || shell_start(w) != 0)
        return -1;
    w->last_progress_ms = w->now_ms;
    w->n_drones = o->n_drones ? o->n_drones : 1 + sim_rng_below(&w->rng, CP_RANDOM_DRONES);
    if (w->n_drones > CP_MAX_DRONES)
        w->n_drones = CP_MAX_DRONES;
    w->next_spare_tag = 0x5C000001u;
    w->removed_slot = -1;
    w->hand_removed = -1;
    for (unsigned i = 0; i < w->n_drones; i++) {
        struct sim_battery b;
        new_pack(w, &b, 0x5B000001u + i, o->fleet ? 0.95 : 0.6 + sim_rng_range(&w->rng, 0, 0.35));
        drone_start(w, i, &b);
    }
    /* Fleet: some drones give up on the station once, the first time they wait after a minute. */
    for (unsigned k = 0; o->fleet && k < o->fleet_divert && k < w->n_drones; k++) {
        struct cp_drone *cd = &w->drones[(k * 7 + 3) % w->n_drones];
        uint64_t start = w->now_ms + 60000u;
        if (cd->n_win < CP_MAX_WINDOWS && sim_drone_misbehave(&cd->d, SIM_DRONE_MIS_DIVERT, start, 600000u) == 0) {
            cd->win[cd->n_win++] = (struct cp_window){ SIM_DRONE_MIS_DIVERT, start, start };
            w->r->misbehaviours++;
        }
    }
    w->fault_rate = o->faults ? 0.5 + sim_rng_range(&w->rng, 0, 2.0) : 0;
    if (o->faults) {
        w->next_fault_ms = gap_ms(w, 60.0 / w->fault_rate);
        w->next_mis_ms = gap_ms(w, 90.0 / w->fault_rate);
        w->next_comm_ms = gap_ms(w, 240.0 / w->fault_rate);
        w->next_crash_ms = gap_ms(w, 900.0 / w->fault_rate);
        w->next_noise_ms = gap_ms(w, 600.0 / w->fault_rate);
        w->next_disk_ms = gap_ms(w, 600.0 / w->fault_rate);
        w->next_plant_restart_ms = gap_ms(w, 900.0 / w->fault_rate);
    } else {
        w->next_disk_ms = w->next_plant_restart_ms = UINT64_MAX;
    }
    return 0;
}

static void stall_report(struct cp_world *w)
{
    FILE *f = report_file(w);
    fprintf(f, "campaign: STALL seed %" PRIu64 " at %.3f s: no swap ended for %.0f s; state %s step %s alarms %#" PRIx64 "\n",
            w->o->seed, (double)w->now_ms / 1000.0, (double)(w->now_ms - w->last_progress_ms) / 1000.0,
            station_state_name(w->sh->out.state), swapseq_name(w->sh->out.step), w->sh->out.alarms_active);
    const struct sim_truth *t = &w->truth;
    fprintf(f, "  plant: x %.1f mm z %.1f mm stroke %.2f clamp %.2f centre %.2f drone %s, fault %u, carousel %d, "
               "grippers %.2f/%.2f\n", t->x_mm, t->z_mm, t->stroke_pos, t->clamp_pos, t->center_pos,
            t->drone_present ? "on the pad" : "none", t->plant_fault, t->carousel_slot, t->grip_a_pos, t->grip_b_pos);
    for (unsigned i = 0; i < w->n_drones; i++)
        fprintf(f, "  drone %u: %s\n", w->drones[i].d.cfg.sysid, sim_drone_state_name(w->drones[i].d.state));
    /* the magazine as the core last saw it: what a drone could have been given */
    for (int i = 0; i < w->pc.n_slots; i++) {
        const struct station_slot_in *sl = &w->sh->in.plant.slot[i];
        if (!sl->present) {
            fprintf(f, "  slot %d: empty\n", i + 1);
            continue;
        }
        fprintf(f, "  slot %d: pack %08X %u mV %d mA %.1f degC charger state %u fault %u%s\n", i + 1, (unsigned)sl->tag,
                (unsigned)sl->voltage_mV, (int)sl->current_mA, sl->temp_ok ? sl->temp_degC : NAN,
                (unsigned)sl->chg_state, (unsigned)sl->chg_fault, sl->telemetry_stale ? " (telemetry not read yet)" : "");
    }
    for (int i = 0; i < w->n_faults; i++)
        fprintf(f, "  fault active: %s a=%d b=%d\n", sim_fault_name(w->faults[i].f.kind), w->faults[i].f.a, w->faults[i].f.b);
    dump_trace(w);
    fprintf(f, "  replay: campaign --seed %" PRIu64 " --count %u%s\n", w->o->seed, w->o->swaps,
            w->o->faults ? "" : " --clean");
}

int campaign_run(const struct campaign_opts *o, struct campaign_result *r)
{
    memset(r, 0, sizeof *r);
    r->seed = o->seed;
    if (!o->swaps || o->sequence < 0 || o->sequence >= SWAPSEQ_ORDER_COUNT)
        return -1;
    struct cp_world *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    if (world_init(w, o, r) != 0) {
        shell_kill(w);
        if (w->db_path[0])
            remove_db(w->db_path);
        sim_plant_free(w->plant);
        plantmap_server_free(&w->srv);
        free(w);
        return -1;
    }
    uint64_t budget = o->max_virtual_ms ? o->max_virtual_ms : (uint64_t)o->swaps * 600000u;
    while (r->swaps_completed + r->swaps_aborted < o->swaps) {
        scan(w);
        if (o->stop_at_first && r->violations)
            break;
        if (r->stalled)
            break;
        if (w->now_ms - w->last_progress_ms > CP_STALL_MS || w->now_ms > budget) {
            r->stalled = true;
            stall_report(w);
            break;
        }
    }
    r->virtual_ms = w->now_ms;
    r->trace_hash = w->hash;
    shell_kill(w);
    remove_db(w->db_path);
    sim_plant_free(w->plant);
    plantmap_server_free(&w->srv);
    free(w);
    return r->violations || r->stalled ? 1 : 0;
}

void campaign_result_add(struct campaign_result *t, const struct campaign_result *r)
{
    t->swaps_started += r->swaps_started;
    t->swaps_completed += r->swaps_completed;
    t->swaps_aborted += r->swaps_aborted;
    t->violations += r->violations;
    for (int i = 0; i < CAMPAIGN_RULE_COUNT; i++)
        t->violations_by_rule[i] += r->violations_by_rule[i];
    if (!t->first_violation[0] && r->first_violation[0])
        snprintf(t->first_violation, sizeof t->first_violation, "%s", r->first_violation);
    t->stalled = t->stalled || r->stalled;
    t->drone_stalls += r->drone_stalls;
    if (!t->first_stall[0] && r->first_stall[0])
        snprintf(t->first_stall, sizeof t->first_stall, "%s", r->first_stall);
    t->virtual_ms += r->virtual_ms;
    t->scans += r->scans;
    t->trace_hash = (t->trace_hash ^ r->trace_hash) * 1099511628211ull;
    t->faults_injected += r->faults_injected;
    t->misbehaviours += r->misbehaviours;
    t->comm_losses += r->comm_losses;
    t->restarts += r->restarts;
    t->disk_faults += r->disk_faults;
    t->plant_restarts += r->plant_restarts;
    t->durable_checks += r->durable_checks;
    t->operator_cmds += r->operator_cmds;
    t->operator_refused += r->operator_refused;
    t->drones_dispatched += r->drones_dispatched;
    t->drones_removed += r->drones_removed;
    t->blind_arming_scans += r->blind_arming_scans;
    t->sensor_conflicts += r->sensor_conflicts;
    t->frozen_images += r->frozen_images;
    t->invalid_images += r->invalid_images;
    t->suspends_on_pad += r->suspends_on_pad;
    t->onpad_sum_s += r->onpad_sum_s;
    t->onpad_n += r->onpad_n;
    if (r->onpad_max_s > t->onpad_max_s)
        t->onpad_max_s = r->onpad_max_s;
    if (r->onpad_n && (t->onpad_min_s == 0 || r->onpad_min_s < t->onpad_min_s))
        t->onpad_min_s = r->onpad_min_s;
}

/* docs/drone-protocol.md §9 on a fleet run's requests: first come first served (the
 * requests cleared came in the order they asked, ties by arrival at the station, which is
 * the order recorded), and none waited longer than its first position times per_position_ms
 * (one still waiting at end_ms counts from then). Returns 0, or -1 with why filled. */
int campaign_fleet_check(const struct campaign_wait *w, unsigned n, uint64_t per_position_ms, uint64_t end_ms,
                         char *why, size_t size)
{
    uint64_t last_cleared = 0;
    unsigned last_i = 0;
    for (unsigned i = 0; i < n; i++) {
        if (w[i].diverted)
            continue;
        if (w[i].cleared_ms) {
            if (w[i].cleared_ms < last_cleared) {
                snprintf(why, size, "drone %u asked at %.3f s after drone %u (%.3f s) but was cleared first",
                         w[i].sysid, w[i].asked_ms / 1000.0, w[last_i].sysid, w[last_i].asked_ms / 1000.0);
                return -1;
            }
            last_cleared = w[i].cleared_ms;
            last_i = i;
        }
        uint64_t waited = (w[i].cleared_ms ? w[i].cleared_ms : end_ms) - w[i].asked_ms;
        unsigned pos = w[i].position ? w[i].position : 1;
        if (waited > pos * per_position_ms) {
            snprintf(why, size, "drone %u at position %u waited %.1f s (bound %.1f s)%s", w[i].sysid, pos,
                     waited / 1000.0, pos * per_position_ms / 1000.0, w[i].cleared_ms ? "" : ", not cleared");
            return -1;
        }
    }
    return 0;
}
