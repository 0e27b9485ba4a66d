/* Faults on the real processes (swapsim + dronesim + swapd over Modbus TCP, MAVLink and
 * SQLite), at chosen steps of the swap chain rather than at random points:
 *
 *  - swapd killed with SIGKILL while a step is active, then restarted;
 *  - the plant (swapsim) killed and restarted on the same port while a step is active
 *    (its physical state survives in --state, its PLC outputs do not);
 *  - the database's file system full during a swap, then space freed;
 *  - a crash in center_close while another drone flies with a pack of the station.
 *
 * After each: every pack is where the plant's truth says, the plant's command log shows
 * no motion command between the fault and reconciliation, and the swap finishes, or
 * holds with a reason the operator can act on (the test then acts as the operator guide
 * says: adopt, Unhold, Reset, Start) and finishes.
 *
 * `make check` runs a representative subset of steps (SUBSET below, both fault kinds);
 * `make faults` (SWAP_FAULTS=all) runs every step of the pipelined chain, or
 * SWAP_FAULTS=step,step,... the named ones. Every outcome is printed as one line. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/swapseq.h"
#include "proc.h"
#include "regmap/regmap.h"
#include "rig.h"

#define RTF "3"
#define CONFIG "tests/data/swapd-e2e.ini"

/* await_touchdown (the landing held), a step with the drone clamped, the release of the
 * new pack, and the end of the store while the next drone waits in the queue. */
static const enum swapseq_id SUBSET[] = { SWAPSEQ_AWAIT_TOUCHDOWN, SWAPSEQ_CENTER_CLOSE, SWAPSEQ_INSERT_RELEASE,
                                          SWAPSEQ_STORE_RAISE };

enum fault_kind { FAULT_SWAPD_KILL, FAULT_PLANT_RESTART };
static const char *const fault_names[] = { "swapd SIGKILL", "plant restart" };

static json_t *status(struct rig *r) { return rig_status(r); }

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* swapd's state into buf ("" when it does not answer). */
static const char *state_of(struct rig *r, char *buf, size_t size)
{
    json_t *s = status(r);
    snprintf(buf, size, "%s", s ? str(s, "state") : "");
    json_decref(s);
    return buf;
}

/* Active alarm codes, comma-separated, into buf. */
static const char *alarms_of(struct rig *r, char *buf, size_t size)
{
    buf[0] = 0;
    json_t *rep = rig_swapd(r, "{\"cmd\":\"alarms\"}");
    size_t i, used = 0;
    json_t *a;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "alarms"), i, a) {
        int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", str(a, "code"));
        if (n > 0 && (size_t)n < size - used)
            used += (size_t)n;
    }
    json_decref(rep);
    return buf;
}

static bool command(struct rig *r, const char *cmd, char *why, size_t size)
{
    char line[96];
    snprintf(line, sizeof line, "{\"cmd\":\"%s\"}", cmd);
    json_t *rep = rig_swapd(r, line);
    bool ok = rep && json_is_true(json_object_get(rep, "ok"));
    if (why)
        snprintf(why, size, "%s", rep ? str(rep, "error") : "no reply");
    json_decref(rep);
    return ok;
}

static json_int_t plant_ms(struct rig *r)
{
    json_t *st = rig_sim(r, "{\"cmd\":\"status\"}");
    json_int_t t = st ? json_integer_value(json_object_get(st, "plant_ms")) : -1;
    json_decref(st);
    return t;
}

/* A coil change that makes something move: enabling an axis, homing or the carousel,
 * or switching a two-position device either way. With settle, a gripper command is not
 * counted: after a restart of the controller the core sends a gripper caught between
 * its ends back towards what its holding sensor says (docs/station.md, start-up), which
 * moves no pack (a pack that did move shows in the comparison with the plant's truth
 * that follows every fault). After a plant restart nothing needs settling (the plant's
 * own levels are adopted and its grippers finish their stroke), so every gripper
 * command counts there. */
static bool is_motion_coil(unsigned addr, json_int_t v, bool settle)
{
    switch (addr) {
    case REGMAP_CO_X_ENABLE: case REGMAP_CO_X_HOME: case REGMAP_CO_Z_ENABLE: case REGMAP_CO_Z_HOME:
    case REGMAP_CO_CAROUSEL_ENABLE:
        return v != 0;
    case REGMAP_CO_GRIP_A_CLOSE: case REGMAP_CO_GRIP_B_CLOSE:
        return !settle;
    case REGMAP_CO_CENTER_CLOSE: case REGMAP_CO_CLAMP_LOCK: case REGMAP_CO_STROKE_EXTEND:
    case REGMAP_CO_WRIST_B:
        return true;
    default:
        return false;
    }
}

/* Motion commands the plant received with plant time in [t0, t1]; the log is replayed
 * from its start (a target counts only while its axis is enabled). The enable coils
 * start from what the plant held when this swapsim started (co0, or all 0). */
static int motion_between(struct rig *r, json_int_t t0, json_int_t t1, bool settle, char *first, size_t size)
{
    json_t *log = rig_sim(r, "{\"cmd\":\"log\",\"from\":0}");
    ck_assert_ptr_nonnull(log);
    int n = 0;
    json_int_t co[REGMAP_CO_COUNT] = { 0 };
    static const unsigned enable_of[] = { [REGMAP_HR_X_TARGET] = REGMAP_CO_X_ENABLE,
                                          [REGMAP_HR_Z_TARGET] = REGMAP_CO_Z_ENABLE,
                                          [REGMAP_HR_CAROUSEL_TARGET] = REGMAP_CO_CAROUSEL_ENABLE };
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(log, "entries"), i, e) {
        json_int_t t = json_integer_value(json_object_get(e, "t_ms"));
        bool is_co = !strcmp(str(e, "table"), "co");
        unsigned addr = (unsigned)json_integer_value(json_object_get(e, "addr"));
        json_int_t v = json_integer_value(json_object_get(e, "new"));
        bool motion = is_co ? is_motion_coil(addr, v, settle)
                            : addr >= REGMAP_HR_X_TARGET && addr <= REGMAP_HR_CAROUSEL_TARGET && co[enable_of[addr]];
        if (is_co && addr < REGMAP_CO_COUNT)
            co[addr] = v;
        if (t >= t0 && t <= t1 && motion && n++ == 0)
            snprintf(first, size, "t=%lld %s %u %lld->%lld", (long long)t, str(e, "table"), addr,
                     json_integer_value(json_object_get(e, "old")), (long long)v);
    }
    json_decref(log);
    return n;
}

/* Every pack the plant holds is where the registry says (NULL), or the first
 * difference (static text). */
static const char *inventory_difference(struct rig *r)
{
    static char why[256];
    json_t *truth = rig_sim(r, "{\"cmd\":\"truth\"}");
    json_t *reg = rig_swapd(r, "{\"cmd\":\"batteries\"}");
    if (!truth || !reg) {
        json_decref(truth);
        json_decref(reg);
        return "no truth or no registry answer";
    }
    json_t *packs = json_object_get(json_object_get(reg, "result"), "batteries");
    const char *res = NULL;
    int checked = 0;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(truth, "batteries"), i, b) {
        unsigned tag = (unsigned)json_integer_value(json_object_get(b, "tag"));
        const char *place = str(b, "place");
        char id[32], want[32];
        snprintf(id, sizeof id, "SWP-%08X", tag);
        if (!strcmp(place, "slot"))
            snprintf(want, sizeof want, "slot %lld", json_integer_value(json_object_get(b, "slot")) + 1);
        else if (!strcmp(place, "gripper_a"))
            snprintf(want, sizeof want, "gripper A");
        else if (!strcmp(place, "gripper_b"))
            snprintf(want, sizeof want, "gripper B");
        else
            snprintf(want, sizeof want, "drone");
        const char *loc = NULL;
        size_t k;
        json_t *p;
        json_array_foreach(packs, k, p) {
            if (!strcmp(str(p, "battery"), id))
                loc = str(p, "location");
        }
        if (!loc && !strcmp(want, "drone"))
            continue;  /* a drone's own pack that never visited the station */
        if (!loc || strncmp(loc, want, strlen(want)) != 0) {
            snprintf(why, sizeof why, "pack %s: registry says %s, plant says %s", id, loc ? loc : "nothing",
                     want);
            res = why;
            break;
        }
        checked++;
    }
    if (!res && checked < 8) {
        snprintf(why, sizeof why, "only %d packs compared", checked);
        res = why;
    }
    json_decref(truth);
    json_decref(reg);
    return res;
}

/* The registry agrees with the plant's truth (NULL), polled for up to timeout_ms: a
 * move is committed a scan after the sensors show it, and a pack whose serial nobody
 * told the station (a drone that did not report it) is named by the slot's reader only
 * when it is stored. The last difference otherwise. */
static const char *wait_inventory(struct rig *r, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    const char *diff;
    while ((diff = inventory_difference(r)) && proc_now_ms() < end)
        proc_nap_ms(100);
    return diff;
}

static bool operate_until_running(struct rig *r, char *did, size_t size, bool *started, int timeout_ms);

/* Polls until swapd reports step name as active; false after timeout_ms. A station that
 * stops running meanwhile (a loaded machine can starve the scan past the plant's
 * watchdog) is brought back as the operator would. */
static bool wait_step(struct rig *r, const char *name, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < end) {
        json_t *s = status(r);
        bool hit = s && !strcmp(str(s, "step"), name);
        const char *st = s ? str(s, "state") : "";
        bool stuck = s && (!strcmp(st, "Held") || !strcmp(st, "Stopped") || !strcmp(st, "Idle") ||
                           !strcmp(st, "Aborted"));
        json_decref(s);
        if (hit)
            return true;
        if (!proc_alive(r->swapd))
            return false;
        if (stuck) {
            char did[400] = "";
            bool started = false;
            operate_until_running(r, did, sizeof did, &started, 5000);
            printf("fault matrix: (waiting for %s, the station stopped on its own: %s)\n", name, did);
        }
        proc_nap_ms(2);
    }
    return false;
}

/* Polls until swapd has reconciled, or holds for the operator; the state, or NULL. */
static const char *wait_reconciled(struct rig *r, int timeout_ms)
{
    static char state[32];
    long long end = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < end) {
        json_t *s = status(r);
        if (s) {
            snprintf(state, sizeof state, "%s", str(s, "state"));
            bool done = json_is_true(json_object_get(s, "reconciled")) || !strcmp(state, "Held");
            json_decref(s);
            if (done)
                return state;
        }
        proc_nap_ms(10);
    }
    return NULL;
}

/* The operator, as docs/operator-guide.md says, until the station runs again (Execute
 * or Suspended). Appends what it had to do to did; false if the station does not run
 * within timeout_ms. *started says whether a Start (which restarts the swap count) was
 * needed. */
static bool operate_until_running(struct rig *r, char *did, size_t size, bool *started, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    char st[32], last[32] = "", al[256], why[160];
    while (proc_now_ms() < end) {
        state_of(r, st, sizeof st);
        if (!strcmp(st, "Execute") || !strcmp(st, "Suspended"))
            return true;
        const char *act = NULL;
        if (!strcmp(st, "Held")) {
            alarms_of(r, al, sizeof al);
            json_t *s = status(r);
            bool rec = s && json_is_true(json_object_get(s, "reconciled"));
            json_decref(s);
            act = strstr(al, "inventory_mismatch") && !rec ? "adopt" : "unhold";
            if (strcmp(last, st) != 0 || !strcmp(act, "adopt")) {
                size_t u = strlen(did);
                snprintf(did + u, size - u, "%sHeld [%s] -> %s", u ? "; " : "", al, act);
            }
        } else if (!strcmp(st, "Stopped")) {
            act = "reset";
        } else if (!strcmp(st, "Idle")) {
            act = "start";
            *started = true;
        } else if (!strcmp(st, "Aborted")) {
            act = "clear";
        }
        snprintf(last, sizeof last, "%s", st);
        if (act && !command(r, act, why, sizeof why) && !strcmp(act, "unhold") && strstr(why, "Abort")) {
            size_t u = strlen(did);
            snprintf(did + u, size - u, "; unhold refused (%s) -> abort", why);
            command(r, "abort", NULL, 0);
        }
        proc_nap_ms(act ? 100 : 20);
    }
    return false;
}

/* Polls until swapd reports at least want swaps; meanwhile acts as the operator when the
 * station stops running (a loaded machine may lose the plant link for longer than
 * comm_loss_ms, which holds the station like any comm loss). */
static bool wait_swaps_operating(struct rig *r, long long *want, char *did, size_t size, bool *started,
                                 int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    char st[32];
    while (proc_now_ms() < end) {
        if (rig_swaps(r) >= *want)
            return true;
        if (!proc_alive(r->swapd))
            return false;
        state_of(r, st, sizeof st);
        if (strcmp(st, "Execute") != 0 && strcmp(st, "Suspended") != 0 && strcmp(st, "Suspending") != 0 &&
            strcmp(st, "Unsuspending") != 0) {
            bool was = *started;
            operate_until_running(r, did, size, started, 5000);
            if (*started && !was)
                *want = 1;   /* Start counts swaps from zero */
        }
        proc_nap_ms(50);
    }
    return false;
}

/* Holds (or releases) the landing of the drone cleared next: it hovers over the pad
 * until released (swapsim's pad_hold), so that the head waits in await_touchdown. */
static void pad_hold(struct rig *r, bool hold)
{
    char line[64];
    snprintf(line, sizeof line, "{\"cmd\":\"pad_hold\",\"hold\":%s}", hold ? "true" : "false");
    json_t *rep = rig_sim(r, line);
    ck_assert_msg(rep && json_is_true(json_object_get(rep, "ok")), "pad_hold refused");
    json_decref(rep);
}

#define N_DRONES 2

/* Polls until every drone has been served (status "drone" while a step runs) since the
 * call, acting as the operator meanwhile; false after timeout_ms. A drone whose request
 * the station forgot (a restart that lost the landing queue) is never served: it waits
 * hovering, quietly, for a clearance that never comes. served lists them. */
static bool wait_every_drone_served(struct rig *r, char *served, size_t size, char *did, size_t dsize,
                                    bool *started, int timeout_ms)
{
    int seen[N_DRONES] = { 0 }, n = 0;
    served[0] = 0;
    long long end = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < end && n < N_DRONES) {
        json_t *s = status(r);
        int sys = s ? (int)json_integer_value(json_object_get(s, "drone")) : 0;
        const char *st = s ? str(s, "state") : "";
        bool running = !strcmp(st, "Execute") || !strcmp(st, "Suspended") || !strcmp(st, "Suspending") ||
                       !strcmp(st, "Unsuspending");
        bool had = s != NULL;
        json_decref(s);
        if (!proc_alive(r->swapd))
            return false;
        if (had && !running)
            operate_until_running(r, did, dsize, started, 5000);
        bool known = false;
        for (int i = 0; i < n; i++)
            known = known || seen[i] == sys;
        if (sys > 0 && !known) {
            seen[n++] = sys;
            size_t u = strlen(served);
            snprintf(served + u, size - u, "%s%d", u ? "," : "", sys);
        }
        proc_nap_ms(50);
    }
    return n == N_DRONES;
}

/* A running station that has served swaps at least once on a plant with --state. */
static void start_station(struct rig *r)
{
    memset(r, 0, sizeof *r);
    r->plant_state = true;
    ck_assert_msg(rig_start_sim(r, RTF) == 0, "%s", r->err);
    ck_assert_msg(rig_start_drones(r, "2", "3") == 0, "%s", r->err);
    ck_assert_msg(rig_start_swapd(r, CONFIG, true) == 0, "%s", r->err);
    char did[400] = "";
    bool started = true;
    long long want = 1;
    ck_assert_msg(wait_swaps_operating(r, &want, did, sizeof did, &started, 180000), "no first swap (%s)", did);
}

struct outcome {
    bool ok;
    char observed[96];      /* the step as swapd reported it when the fault struck */
    char text[1024];
};

/* Test set-up, not a fault: every pack in the magazine charged, so that a long run of
 * cases never waits for the chargers (they need far longer than a swap). */
static void recharge_magazine(struct rig *r)
{
    json_t *truth = rig_sim(r, "{\"cmd\":\"truth\"}");
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(truth, "batteries"), i, b) {
        if (strcmp(str(b, "place"), "slot") != 0)
            continue;
        char line[128];
        snprintf(line, sizeof line, "{\"cmd\":\"set_battery\",\"tag\":%lld,\"soc\":1.0}",
                 json_integer_value(json_object_get(b, "tag")));
        json_decref(rig_sim(r, line));
    }
    json_decref(truth);
}

/* One fault at one step on a running station; fills out (one line for the report). */
static void fault_at(struct rig *r, enum swapseq_id step, enum fault_kind kind, struct outcome *out)
{
    const char *name = swapseq_name(step);
    char did[400] = "", first[128] = "";
    bool started = false;
    out->ok = false;
    out->observed[0] = 0;
    ck_assert_msg(operate_until_running(r, did, sizeof did, &started, 30000), "%s: station not running before the fault",
                  name);
    did[0] = 0;
    recharge_magazine(r);
    long long swaps0 = rig_swaps(r);
    /* The drone is usually down before the head reaches standby: hold its landing so the
     * head waits in await_touchdown (released once the fault has been dealt with). */
    bool hold = step == SWAPSEQ_AWAIT_TOUCHDOWN;
    if (hold)
        pad_hold(r, true);
    if (!wait_step(r, name, 120000)) {
        if (hold)
            pad_hold(r, false);
        snprintf(out->text, sizeof out->text, "step %s never became active (NOT REACHED)", name);
        return;
    }
    long long seen_ms = proc_now_ms();
    json_int_t t0, t1;
    char resumed[64] = "";
    if (kind == FAULT_SWAPD_KILL) {
        proc_kill_wait(r->swapd, SIGKILL);
        /* observed: swapd reported the step active this long before the kill */
        snprintf(out->observed, sizeof out->observed, "%s seen %lld ms before the kill", name,
                 proc_now_ms() - seen_ms);
        t0 = plant_ms(r);
        ck_assert_msg(rig_start_swapd(r, CONFIG, false) == 0, "%s", r->err);
        const char *state = wait_reconciled(r, 20000);
        t1 = plant_ms(r);
        if (!state) {
            snprintf(out->text, sizeof out->text, "neither reconciled nor Held after the restart");
            return;
        }
        json_t *s = status(r);
        snprintf(resumed, sizeof resumed, "%s%s%s", state, s && str(s, "step")[0] ? " at " : "", s ? str(s, "step") : "");
        json_decref(s);
        swaps0 = 0;  /* a new process counts from zero */
    } else {
        snprintf(out->observed, sizeof out->observed, "%s seen %lld ms before the plant's kill", name,
                 proc_now_ms() - seen_ms);
        ck_assert_msg(rig_restart_sim(r) == 0, "%s", r->err);
        t0 = 0;      /* the new plant's command log starts empty */
        /* swapd notices the new connection: it holds unreconciled (or, outside a swap,
         * stops and reconciles by itself). Nothing may move until the operator's Unhold
         * has reconciled. */
        long long end = proc_now_ms() + 20000;
        bool seen = false;
        while (!seen && proc_now_ms() < end) {
            json_t *s = status(r);
            seen = s && !strcmp(str(s, "plant_link"), "up") &&
                   ((!strcmp(str(s, "state"), "Held") && !json_is_true(json_object_get(s, "reconciled"))) ||
                    (!strcmp(str(s, "state"), "Stopped") && json_is_true(json_object_get(s, "reconciled"))));
            json_decref(s);
            if (!seen)
                proc_nap_ms(10);
        }
        if (!seen) {
            char st[32];
            snprintf(out->text, sizeof out->text, "swapd did not hold unreconciled on the new plant (state %s)",
                     state_of(r, st, sizeof st));
            return;
        }
        t1 = plant_ms(r);
        json_t *s = status(r);
        snprintf(resumed, sizeof resumed, "%s%s%s", s ? str(s, "state") : "", s && str(s, "step")[0] ? " at " : "",
                 s ? str(s, "step") : "");
        json_decref(s);
    }
    int moved = motion_between(r, t0, t1, kind == FAULT_SWAPD_KILL, first, sizeof first);
    if (hold)
        pad_hold(r, false);
    if (moved) {
        snprintf(out->text, sizeof out->text, "%d motion commands before reconciliation, first %s", moved, first);
        return;
    }
    if (!operate_until_running(r, did, sizeof did, &started, 60000)) {
        char st[32], al[256];
        snprintf(out->text, sizeof out->text, "station did not run again: %s [%s] after: %s",
                 state_of(r, st, sizeof st), alarms_of(r, al, sizeof al), did);
        return;
    }
    long long want = started ? 1 : swaps0 + 1;
    if (!wait_swaps_operating(r, &want, did, sizeof did, &started, 120000)) {
        char st[32], al[256];
        snprintf(out->text, sizeof out->text, "no swap finished: %s [%s] (%s%s)", state_of(r, st, sizeof st),
                 alarms_of(r, al, sizeof al), proc_alive(r->swapd) ? "" : "swapd died; ",
                 access(r->swapd_sock, F_OK) == 0 ? "socket in place" : "no control socket");
        return;
    }
    const char *diff = wait_inventory(r, 30000);
    if (diff) {
        snprintf(out->text, sizeof out->text, "inventory: %s", diff);
        return;
    }
    /* Every drone is served again, the one that waited in the queue at the fault too. */
    char served[32];
    if (!wait_every_drone_served(r, served, sizeof served, did, sizeof did, &started, 180000)) {
        char st[32], al[256];
        snprintf(out->text, sizeof out->text, "a drone starves: only drone(s) [%s] served since the fault: %s [%s]",
                 served, state_of(r, st, sizeof st), alarms_of(r, al, sizeof al));
        return;
    }
    out->ok = true;
    snprintf(out->text, sizeof out->text, "after: %s; swap finished, inventory as the plant's truth, drones %s served; "
             "operator: %s", resumed, served, did[0] ? did : "nothing");
}

/* The steps to fault: SWAP_FAULTS=all, a comma list of names, or the subset. */
static int chosen_steps(enum swapseq_id *steps, int max)
{
    const char *env = getenv("SWAP_FAULTS");
    const struct swapseq_chain *c = &swapseq_chains[SWAPSEQ_PIPELINED];
    int n = 0;
    if (env && !strcmp(env, "all")) {
        for (int i = 0; i < c->n_steps && n < max; i++)
            steps[n++] = c->steps[i];
    } else if (env && *env) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", env);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
            for (int i = 0; i < SWAPSEQ_COUNT; i++)
                if (!strcmp(swapseq_name(i), tok))
                    steps[n++] = (enum swapseq_id)i;
    } else {
        for (size_t i = 0; i < sizeof SUBSET / sizeof SUBSET[0]; i++)
            steps[n++] = SUBSET[i];
    }
    return n;
}

static void run_matrix(enum fault_kind kind)
{
    enum swapseq_id steps[SWAPSEQ_COUNT];
    int n = chosen_steps(steps, SWAPSEQ_COUNT);
    struct rig r;
    start_station(&r);
    int failed = 0;
    char first_failure[1100] = "";
    for (int i = 0; i < n; i++) {
        struct outcome o;
        fault_at(&r, steps[i], kind, &o);
        printf("fault matrix: %-15s at %-16s observed: %s; result: %s: %s\n", fault_names[kind],
               swapseq_name(steps[i]), o.observed[0] ? o.observed : "never", o.ok ? "ok" : "FAILED", o.text);
        fflush(stdout);
        if (!o.ok && failed++ == 0)
            snprintf(first_failure, sizeof first_failure, "%s at %s: %s", fault_names[kind], swapseq_name(steps[i]),
                     o.text);
        if (!o.ok) {
            /* A fresh station for the next step, the logs of this one kept. */
            printf("fault matrix: logs kept in %s\n", r.dir);
            r.keep = true;
            rig_stop_all(&r);
            start_station(&r);
        }
    }
    ck_assert_msg(failed == 0, "%d of %d steps failed; first: %s", failed, n, first_failure);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}

START_TEST(sigkill_swapd_at_each_step)
{
    run_matrix(FAULT_SWAPD_KILL);
}
END_TEST

START_TEST(plant_restart_at_each_step)
{
    run_matrix(FAULT_PLANT_RESTART);
}
END_TEST

/* Issue: after a crash in center_close the take-grip move booked the pack of another
 * drone (the newest pack located in any drone). Here a second drone flies with a pack
 * of the station (the registry books it to that drone) when the served drone's
 * center_close is interrupted. */
START_TEST(crash_in_center_close_books_the_served_drones_pack)
{
    struct rig r;
    start_station(&r);
    long long end = proc_now_ms() + 180000;
    bool armed = false;
    while (!armed && proc_now_ms() < end) {
        ck_assert(wait_step(&r, "center_close", 120000));
        json_t *s = status(&r);
        int serving = s ? (int)json_integer_value(json_object_get(s, "drone")) : 0;
        json_decref(s);
        /* Another drone holds a pack the registry knows. */
        json_t *reg = rig_swapd(&r, "{\"cmd\":\"batteries\"}");
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(json_object_get(reg, "result"), "batteries"), i, p) {
            int sys = 0;
            if (sscanf(str(p, "location"), "drone %d", &sys) == 1 && sys != serving && serving)
                armed = true;
        }
        json_decref(reg);
        if (!armed)
            ck_assert(wait_step(&r, "store_travel", 60000));  /* this swap is not the one */
    }
    ck_assert_msg(armed, "never a swap while another drone flew with a station pack");
    proc_kill_wait(r.swapd, SIGKILL);
    json_int_t t0 = plant_ms(&r);
    ck_assert_msg(rig_start_swapd(&r, CONFIG, false) == 0, "%s", r.err);
    ck_assert_ptr_nonnull(wait_reconciled(&r, 20000));
    char first[128] = "";
    ck_assert_int_eq(motion_between(&r, t0, plant_ms(&r), true, first, sizeof first), 0);
    char did[400] = "";
    bool started = false;
    ck_assert_msg(operate_until_running(&r, did, sizeof did, &started, 30000), "not running: %s", did);
    long long want = 1;
    ck_assert_msg(wait_swaps_operating(&r, &want, did, sizeof did, &started, 120000),
                  "swap did not finish after the crash; operator: %s", did);
    const char *diff = wait_inventory(&r, 30000);
    ck_assert_msg(!diff, "%s", diff);
    char al[256];
    /* A wrongly booked pack ends in commit_timeout or inventory_mismatch (a loaded machine
     * may add a comm_loss hold, which is not this test's business). */
    ck_assert_msg(!strstr(did, "commit_timeout") && !strstr(did, "inventory_mismatch"), "held after the crash: %s [%s]",
                  did, alarms_of(&r, al, sizeof al));
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}
END_TEST

/* Empties the database's write-ahead log (its frames copied into the database, the file
 * truncated to nothing), so that on a full disk the next write cannot reuse the log's
 * room: SQLite restarts a log from its start only after a checkpoint, and none runs
 * until the log holds 1000 pages, which a full disk never lets it reach. */
static void truncate_wal(const char *db)
{
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    /* a new connection learns that the file is in WAL mode when it first reads it */
    ck_assert_int_eq(sqlite3_exec(h, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL), SQLITE_OK);
    int log = -1, done = -1, rc = SQLITE_BUSY;
    for (int i = 0; i < 50 && (rc != SQLITE_OK || log != 0); i++) {
        rc = sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
        if (rc != SQLITE_OK || log != 0)
            proc_nap_ms(20);
    }
    ck_assert_msg(rc == SQLITE_OK && log == 0, "cannot empty the write-ahead log: %s (%d frames)", sqlite3_errmsg(h),
                  log);
    sqlite3_close(h);
}

/* Fills the file system at dir until it refuses a write; returns the filler's path. */
static void fill_fs(const char *dir, char *filler, size_t size)
{
    snprintf(filler, size, "%s/filler", dir);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    static char block[65536];
    memset(block, 0x55, sizeof block);
    size_t chunk = sizeof block;
    for (;;) {
        ssize_t w = write(fd, block, chunk);
        if (w < 0 && errno == ENOSPC) {
            if (chunk == 1)
                break;
            chunk /= 2;
            continue;
        }
        ck_assert_int_ge(w, 0);
    }
    close(fd);
}

/* A full disk during a swap: the move that cannot be written waits and is retried; the
 * station holds with registry_write_failed ("free disk space"); once space is freed and
 * the operator unholds, the swap finishes and no move is lost. Needs root for a small
 * tmpfs of its own (a private mount namespace, gone with the test). */
START_TEST(disk_full_during_a_swap_is_recovered)
{
    if (geteuid() != 0) {
        printf("disk_full_during_a_swap_is_recovered: SKIPPED (needs root to mount a small tmpfs)\n");
        return;
    }
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("disk_full_during_a_swap_is_recovered: SKIPPED (no mount namespace: %s)\n", strerror(errno));
        return;
    }
    struct rig r;
    memset(&r, 0, sizeof r);
    r.plant_state = false;
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    char dbdir[RIG_PATH];
    snprintf(dbdir, sizeof dbdir, "%s/dbfs", r.dir);
    ck_assert_int_eq(mkdir(dbdir, 0700), 0);
    ck_assert_msg(mount("swapd-test", dbdir, "tmpfs", 0, "size=4m") == 0, "mount tmpfs: %s", strerror(errno));
    snprintf(r.db, sizeof r.db, "%s/dbfs/swapd.db", r.dir);
    ck_assert_msg(rig_start_drones(&r, "2", "3") == 0, "%s", r.err);
    ck_assert_msg(rig_start_swapd(&r, CONFIG, true) == 0, "%s", r.err);
    char pre[400] = "";
    bool pre_started = true;
    long long want = 1;
    ck_assert_msg(wait_swaps_operating(&r, &want, pre, sizeof pre, &pre_started, 180000), "no first swap (%s)", pre);
    ck_assert(wait_step(&r, "center_close", 120000));
    char filler[RIG_PATH + 16];
    truncate_wal(r.db);
    fill_fs(dbdir, filler, sizeof filler);
    /* The next moves cannot be written: the station holds, the swap does not advance. */
    long long end = proc_now_ms() + 60000;
    char st[32], al[256];
    while (proc_now_ms() < end &&
           !(strstr(alarms_of(&r, al, sizeof al), "registry_write_failed") && !strcmp(state_of(&r, st, sizeof st), "Held")))
        proc_nap_ms(20);
    ck_assert_msg(strstr(al, "registry_write_failed"), "no registry_write_failed with a full disk: %s [%s]", st, al);
    ck_assert_str_eq(st, "Held");
    long long swaps = rig_swaps(&r);
    char why[160] = "";
    /* While the store still fails, Unhold is refused by the core, with a reason the
     * operator can act on (an event: the console answers from the state table alone).
     * The log was emptied before the disk filled: no write can pass. */
    command(&r, "unhold", why, sizeof why);
    ck_assert_msg(proc_wait_text(r.swapd_log, "Unhold refused: ", r.swapd, 10000) == 0,
                  "Unhold on a full disk not refused [%s]", al);
    for (long long until = proc_now_ms() + 2000; proc_now_ms() < until; proc_nap_ms(50))
        ck_assert_msg(!strcmp(state_of(&r, st, sizeof st), "Held"), "left Held on a full disk: %s", st);
    ck_assert_msg(strstr(alarms_of(&r, al, sizeof al), "registry_write_failed"), "alarm gone on a full disk: [%s]",
                  al);
    printf("full disk: Held with [%s]; Unhold refused (event)\n", al);
    /* Space freed: the waiting moves commit by themselves; Unhold resumes the swap. */
    ck_assert_int_eq(unlink(filler), 0);
    end = proc_now_ms() + 20000;
    while (proc_now_ms() < end && strstr(alarms_of(&r, al, sizeof al), "registry_write_failed") &&
           !command(&r, "unhold", NULL, 0))
        proc_nap_ms(100);
    char did[400] = "";
    bool started = false;
    ck_assert_msg(operate_until_running(&r, did, sizeof did, &started, 30000), "not running again: %s", did);
    want = started ? 1 : swaps + 1;
    ck_assert_msg(wait_swaps_operating(&r, &want, did, sizeof did, &started, 120000), "no swap after space was freed: %s",
                  did);
    const char *diff = wait_inventory(&r, 30000);
    ck_assert_msg(!diff, "%s", diff);
    printf("full disk: recovered (operator: %s)\n", did[0] ? did : "unhold");
    ck_assert_int_eq(proc_stop(r.swapd, 5000), 0);
    r.swapd = 0;
    umount2(dbdir, MNT_DETACH);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    bool all = getenv("SWAP_FAULTS") && *getenv("SWAP_FAULTS");
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("matrix");
    tcase_set_timeout(tc, all ? 7200 : 900);
    tcase_add_test(tc, sigkill_swapd_at_each_step);
    tcase_add_test(tc, plant_restart_at_each_step);
    suite_add_tcase(s, tc);
    if (!all) {
        TCase *crash = tcase_create("crash");
        tcase_set_timeout(crash, 600);
        tcase_add_test(crash, crash_in_center_close_books_the_served_drones_pack);
        suite_add_tcase(s, crash);
        TCase *disk = tcase_create("disk");
        tcase_set_timeout(disk, 600);
        tcase_add_test(disk, disk_full_during_a_swap_is_recovered);
        suite_add_tcase(s, disk);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
