/* The fleet with real processes (docs/fleet.md): a mosquitto broker on a free port,
 * stations (swapsim + dronesim + swapd as Sparkplug B edge nodes) and the swapfleet
 * host application. Swaps counted at each station equal the fleet view's; a killed
 * station is seen offline and reborn with a new bdSeq; rebirth on request; an illegal
 * command is refused with its reason; a broker outage loses no event. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fleetrig.h"
#include "proc.h"
#include "rig.h"

#define RTF "3"
#define OUTAGE_MS 30000 /* the broker outage: 30 s of station time */

static void start_station(struct fleetrig *f, struct rig *r, const char *node, bool drones, bool autostart)
{
    char cfg[RIG_PATH];
    ck_assert_msg(rig_start_sim(r, RTF) == 0, "%s", r->err);
    /* Without drones wanted, one drone still connects but the station is not started. */
    (void)drones;
    ck_assert_msg(rig_start_drones(r, "1", "3") == 0, "%s", r->err);
    ck_assert_int_eq(fleetrig_station_config(f, r, node, cfg, sizeof cfg), 0);
    ck_assert_msg(rig_start_swapd(r, cfg, autostart) == 0, "%s", r->err);
}

static bool station_event_contains(struct rig *r, const char *needle);

static long long jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static json_t *metric(json_t *st, const char *name) { return json_object_get(json_object_get(st, "metrics"), name); }

/* Waits until the host's record of node satisfies pred; returns it (new reference). */
typedef bool (*station_pred)(json_t *st, void *arg);
static json_t *wait_station(struct fleetrig *f, const char *node, station_pred pred, void *arg, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < end) {
        json_t *st = fleetrig_station(f, node);
        if (st && pred(st, arg))
            return st;
        json_decref(st);
        proc_nap_ms(50);
    }
    return NULL;
}

static bool is_online(json_t *st, void *arg) { (void)arg; return json_is_true(json_object_get(st, "online")); }
static bool is_offline(json_t *st, void *arg) { (void)arg; return json_is_false(json_object_get(st, "online")); }
static bool swaps_equal(json_t *st, void *arg)
{
    return json_integer_value(metric(st, "Station/Swaps")) == *(long long *)arg;
}
static int count_swap_events(json_t *st);
/* the metric and the swap events (which travel apart: QoS 0 metrics, QoS 1 events) */
static bool swaps_and_events_equal(json_t *st, void *arg)
{
    return swaps_equal(st, arg) && count_swap_events(st) == *(long long *)arg;
}
static bool births_at_least(json_t *st, void *arg) { return jint(st, "births") >= *(long long *)arg && is_online(st, NULL); }

static bool last_command_is(json_t *st, void *arg)
{
    const char *c = json_string_value(metric(st, "Command/Last Command"));
    return c && !strcmp(c, arg);
}

static int count_swap_events(json_t *st)
{
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(st, "events"), i, e)
        if (!strcmp(json_string_value(json_object_get(e, "type")), "swap") &&
            strstr(json_string_value(json_object_get(e, "text")), "cleared for take-off"))
            n++;
    return n;
}

/* swapfleet top in tmux on the test's own server socket: the screen as text. */
static bool top_screen_has(const char *sock, const char *needle, int timeout_ms)
{
    char cmd[600], out[4096];
    long long end = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < end) {
        snprintf(cmd, sizeof cmd, "tmux -S '%s' capture-pane -p -t top 2>/dev/null", sock);
        FILE *p = popen(cmd, "r");
        size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
        out[n] = 0;
        if (p)
            pclose(p);
        if (strstr(out, needle))
            return true;
        proc_nap_ms(100);
    }
    return false;
}

START_TEST(test_killed_station_goes_offline_and_is_reborn)
{
    struct fleetrig f = { 0 };
    ck_assert_msg(fleetrig_start_broker(&f, NULL) == 0, "%s", f.err);
    ck_assert_msg(fleetrig_start_host(&f) == 0, "%s", f.err);
    struct rig r = { 0 };
    start_station(&f, &r, "st-k", false, false);
    json_t *st = wait_station(&f, "st-k", is_online, NULL, 15000);
    ck_assert_msg(st, "no birth from st-k");
    long long bd = jint(st, "bdseq"), births = jint(st, "births");
    json_decref(st);

    /* Rebirth on request: a new NBIRTH with the same bdSeq. */
    char out[1024];
    const char *rebirth[] = { "cmd", "st-k", "rebirth", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, rebirth), 0);
    long long want = births + 1;
    st = wait_station(&f, "st-k", births_at_least, &want, 10000);
    ck_assert_msg(st, "no rebirth");
    ck_assert_int_eq(jint(st, "bdseq"), bd);
    json_decref(st);

    /* An illegal command is refused with the core's reason; a legal one is accepted. */
    const char *unhold[] = { "cmd", "st-k", "unhold", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, unhold), 1);
    ck_assert_msg(strstr(out, "REFUSED") && strstr(out, "not possible in"), "%s", out);

    /* The same commands as DCMD to the device they act on: the core's rules decide the
     * same way, the answer is the node's Command/Last ... metrics naming the device. */
    const char *d_unhold[] = { "cmd", "st-k", "robot/unhold", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, d_unhold), 1);
    ck_assert_msg(strstr(out, "REFUSED") && strstr(out, "unhold is not possible in"), "%s", out);
    st = wait_station(&f, "st-k", last_command_is, "robot/unhold", 5000); /* the host writes every 100 ms */
    ck_assert_msg(st, "the host never saw the answer to robot/unhold");
    ck_assert(json_is_false(metric(st, "Command/Last Ok")));
    json_decref(st);
    const char *d_wrong[] = { "cmd", "st-k", "robot/retire", "SWP-5A000001", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, d_wrong), 1);
    ck_assert_msg(strstr(out, "robot has no command \"Device Control/Retire Pack\""), "%s", out);
    const char *d_reset[] = { "cmd", "st-k", "robot/reset", NULL };
    ck_assert_msg(fleetrig_swapfleet(&f, out, sizeof out, d_reset) == 0, "%s", out);
    /* retire a pack of the magazine on the magazine device; the Packs table shows it */
    st = fleetrig_station(&f, "st-k");
    json_t *row = json_array_get(metric(st, "magazine/Packs"), 0);
    ck_assert_ptr_nonnull(row);
    char retire_arg[64];
    snprintf(retire_arg, sizeof retire_arg, "%s: worn, from the fleet", json_string_value(json_object_get(row, "Battery")));
    json_decref(st);
    const char *d_retire[] = { "cmd", "st-k", "magazine/retire", retire_arg, NULL };
    ck_assert_msg(fleetrig_swapfleet(&f, out, sizeof out, d_retire) == 0, "%s", out);
    ck_assert_msg(strstr(out, "accepted"), "%s", out);

    /* The live view shows the station online. */
    char sock[RIG_PATH + 16], bin[512], cmd[2048];
    snprintf(sock, sizeof sock, "%s/tmux.sock", f.dir);
    snprintf(cmd, sizeof cmd, "TERM=xterm tmux -S '%s' -f /dev/null new-session -d -s top -x 100 -y 20 "
             "\"%s --group test --state %s top\"", sock, proc_bin("swapfleet", bin, sizeof bin), f.state);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    char row_on[64], row_off[64];
    snprintf(row_on, sizeof row_on, "%-16s %-7s", "st-k", "online");
    snprintf(row_off, sizeof row_off, "%-16s %-7s", "st-k", "OFFLINE");
    ck_assert_msg(top_screen_has(sock, row_on, 10000), "swapfleet top never showed st-k online");

    /* SIGKILL: the broker publishes the will (NDEATH with the same bdSeq). */
    proc_kill_wait(r.swapd, SIGKILL);
    r.swapd = 0;
    st = wait_station(&f, "st-k", is_offline, NULL, 15000);
    ck_assert_msg(st, "the host never saw st-k offline");
    ck_assert_int_eq(jint(st, "deaths"), 1);
    json_decref(st);
    const char *status[] = { "status", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, status), 0);
    ck_assert_msg(strstr(out, "OFFLINE"), "%s", out);
    ck_assert_msg(top_screen_has(sock, row_off, 10000), "swapfleet top never showed st-k offline");
    snprintf(cmd, sizeof cmd, "tmux -S '%s' send-keys -t top q", sock);
    ck_assert_int_eq(system(cmd), 0);
    long long qend = proc_now_ms() + 5000;
    snprintf(cmd, sizeof cmd, "tmux -S '%s' has-session -t top 2>/dev/null", sock);
    while (system(cmd) == 0 && proc_now_ms() < qend)
        proc_nap_ms(50);
    ck_assert_msg(system(cmd) != 0, "q did not end swapfleet top");

    /* Restart: a new bdSeq, a new birth. */
    char cfg[RIG_PATH];
    fleetrig_station_config(&f, &r, "st-k", cfg, sizeof cfg);
    ck_assert_msg(rig_start_swapd(&r, cfg, false) == 0, "%s", r.err);
    want = births + 2;
    st = wait_station(&f, "st-k", births_at_least, &want, 15000);
    ck_assert_msg(st, "no birth after the restart");
    ck_assert_int_ne(jint(st, "bdseq"), bd);
    json_decref(st);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
    fleetrig_stop(&f);
}
END_TEST


static int64_t wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The host holds an event "<run>-<seq>" for every seq in want[0..n). */
/* The station's events as `events` returns them (numbered by the registry), matched on
 * the host by their time and text: the fleet link numbers its events by the scan's own
 * ring, which the registry's numbering (debug records included) does not follow. */
#define WANT_MAX 1000
struct want_events {
    long long t_ms[WANT_MAX];
    const char *text[WANT_MAX];
    int n;
};

/* The registry writes its own record of a raised alarm ("alarm CODE: text", from the
 * alarm table) beside the daemon's event "CODE raised: text"; the fleet carries the
 * daemon's, so the registry's record is matched by that event (same time). */
static const char *fleet_form(const char *text, char *buf, size_t size, bool *prefix)
{
    const char *colon = text ? strstr(text, ": ") : NULL;
    *prefix = false;
    if (!text || strncmp(text, "alarm ", 6) || !colon || strchr(text + 6, ' ') < colon)
        return text;
    snprintf(buf, size, "%.*s raised: ", (int)(colon - text - 6), text + 6);
    *prefix = true;
    return buf;
}

static json_t *host_event(json_t *st, long long t_ms, const char *text)
{
    char buf[128];
    bool prefix;
    const char *want = fleet_form(text, buf, sizeof buf, &prefix);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(st, "events"), i, e) {
        const char *t = json_string_value(json_object_get(e, "text"));
        if (json_integer_value(json_object_get(e, "t_ms")) == t_ms && t && want &&
            (prefix ? !strncmp(t, want, strlen(want)) : !strcmp(t, want)))
            return e;
    }
    return NULL;
}

static bool has_events(json_t *st, void *arg)
{
    struct want_events *w = arg;
    for (int i = 0; i < w->n; i++)
        if (!host_event(st, w->t_ms[i], w->text[i]))
            return false;
    return true;
}

START_TEST(test_broker_outage_loses_no_event)
{
    struct fleetrig f = { 0 };
    ck_assert_msg(fleetrig_start_broker(&f, NULL) == 0, "%s", f.err);
    ck_assert_msg(fleetrig_start_host(&f) == 0, "%s", f.err);
    struct rig r = { 0 };
    start_station(&f, &r, "st-o", true, true);
    ck_assert_msg(rig_wait_swaps(&r, 1, 150000), "%s", r.err);
    json_t *st = wait_station(&f, "st-o", is_online, NULL, 10000);
    ck_assert_ptr_nonnull(st);
    json_decref(st);

    /* The broker goes away for 30 s of station time (swapd's clock is the wall clock)
     * while the station keeps swapping (two swaps at least) and raises an alarm. */
    long long before = rig_swaps(&r);
    int64_t gap_from = wall_now_ms();
    fleetrig_kill_broker(&f);
    ck_assert_msg(rig_wait_swaps(&r, before + 1, 150000), "%s", r.err); /* the alarm well inside the gap */
    json_t *inj = rig_sim(&r, "{\"cmd\":\"inject\",\"fault\":\"charger\",\"a\":1}");
    ck_assert(json_is_true(json_object_get(inj, "ok")));
    json_decref(inj);
    ck_assert_msg(rig_wait_swaps(&r, before + 2, 150000), "%s", r.err);
    while (wall_now_ms() < gap_from + OUTAGE_MS) /* the outage's length, not a synchronisation */
        proc_nap_ms(100);
    ck_assert_msg(station_event_contains(&r, "charger_fault raised"), "no alarm during the outage");
    int64_t gap_to = wall_now_ms();
    ck_assert_msg(fleetrig_restart_broker(&f) == 0, "%s", f.err);

    /* Every event the station recorded reaches the host, once; those of the gap as
     * historical. */
    json_t *rep = rig_swapd(&r, "{\"cmd\":\"events\",\"limit\":1000}");
    json_t *evs = json_object_get(json_object_get(rep, "result"), "events");
    struct want_events w = { .n = 0 };
    int in_gap = 0, alarms_gap = 0;
    size_t i;
    json_t *e;
    /* From the outage on (start-up's commissioning records are written to the registry
     * directly, before the link, and are not fleet events). */
    json_array_foreach(evs, i, e) {
        if (json_integer_value(json_object_get(e, "time_ms")) < gap_from - 200)
            continue;
        if (w.n < WANT_MAX) {
            w.t_ms[w.n] = json_integer_value(json_object_get(e, "time_ms"));
            w.text[w.n++] = json_string_value(json_object_get(e, "text"));
        }
    }
    ck_assert_int_ge(w.n, 10);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(evs, 0), "seq")), 1); /* none fell off */
    st = wait_station(&f, "st-o", has_events, &w, 30000);
    if (!st) {
        json_t *last = fleetrig_station(&f, "st-o");
        int missing = 0, first = -1;
        for (int k = 0; k < w.n; k++)
            if (!last || !host_event(last, w.t_ms[k], w.text[k]))
                missing++, first = first < 0 ? k : first;
        ck_assert_msg(0, "the host lacks %d of %d events of the outage, the first %lld \"%s\" (host has %zu)", missing,
                      w.n, first >= 0 ? w.t_ms[first] : 0, first >= 0 ? w.text[first] : "",
                      json_array_size(json_object_get(last, "events")));
    }
    json_array_foreach(evs, i, e) {
        long long t = json_integer_value(json_object_get(e, "time_ms"));
        if (t <= gap_from + 200 || t >= gap_to - 200)
            continue; /* near an edge the link may or may not have seen the loss yet */
        json_t *he = host_event(st, t, json_string_value(json_object_get(e, "text")));
        ck_assert_msg(he, "event %lld (%s) of the gap missing at the host", json_integer_value(json_object_get(e, "seq")),
                      json_string_value(json_object_get(e, "text")));
        ck_assert_msg(json_is_true(json_object_get(he, "historical")), "event %lld of the gap not historical",
                      json_integer_value(json_object_get(e, "seq")));
        in_gap++;
        alarms_gap += strstr(json_string_value(json_object_get(e, "text")), "charger_fault") != NULL;
    }
    ck_assert_int_ge(in_gap, 10);
    ck_assert_msg(alarms_gap >= 1, "no alarm event inside the outage");
    ck_assert_int_eq(jint(st, "duplicates"), 0);
    long long swaps_gap = 0;
    json_array_foreach(json_object_get(st, "events"), i, e)
        if (!strcmp(json_string_value(json_object_get(e, "type")), "swap") && json_is_true(json_object_get(e, "historical")))
            swaps_gap++;
    ck_assert_int_ge(swaps_gap, 2);
    ck_assert_int_eq(json_integer_value(metric(st, "Fleet/Spool Dropped")), 0);
    fprintf(stderr, "broker outage %.1f s: %d events inside it (%d of the alarm), %lld swap events historical, "
            "all at the host once\n", (gap_to - gap_from) / 1000.0, in_gap, alarms_gap, swaps_gap);
    json_decref(st);
    json_decref(rep);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
    fleetrig_stop(&f);
}
END_TEST

/* The shipped ACL (configs/fleet/fleet.acl): a client that may not command (an unknown
 * user, a watch-only user) never gets a command to the station; the host does. */
START_TEST(test_acl_forbidden_command_never_reaches_the_station)
{
    char pwdir[256], passwd[320], cmd[1024], extra[1024];
    ck_assert_int_eq(proc_mkdtemp(pwdir, sizeof pwdir, "swap-fleet-pw"), 0);
    snprintf(passwd, sizeof passwd, "%s/fleet.passwd", pwdir);
    static const char *const users[] = { "swapfleet", "st-acl", "viewer", "intruder" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "mosquitto_passwd %s -b '%s' '%s' pw-test", i ? "" : "-c", passwd, users[i]);
        ck_assert_msg(system(cmd) == 0, "%s", cmd);
    }
    /* mosquitto started as root reads these after it switched to its own user */
    chmod(pwdir, 0755);
    chmod(passwd, 0644);
    const char *src = getenv("SWAP_SRC");
    snprintf(extra, sizeof extra, "allow_anonymous false\npassword_file %s\nacl_file %s/configs/fleet/fleet.acl\n",
             passwd, src ? src : ".");
    struct fleetrig f = { 0 };
    strcpy(f.host_id, "swapfleet");
    strcpy(f.host_user, "swapfleet");
    strcpy(f.password, "pw-test");
    ck_assert_msg(fleetrig_start_broker(&f, extra) == 0, "%s", f.err);
    ck_assert_msg(fleetrig_start_host(&f) == 0, "%s", f.err);
    struct rig r = { 0 };
    start_station(&f, &r, "st-acl", false, false);
    json_t *st = wait_station(&f, "st-acl", is_online, NULL, 15000);
    ck_assert_msg(st, "no birth through the ACL");
    json_decref(st);

    char out[1024];
    const char *intruder[] = { "--username", "intruder", "--password", "pw-test", "--timeout-ms", "1500",
                               "cmd", "st-acl", "reset", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, intruder), 3);
    const char *viewer[] = { "--username", "viewer", "--password", "pw-test", "--timeout-ms", "1500",
                             "cmd", "st-acl", "reset", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, viewer), 3);
    const char *station[] = { "--username", "st-acl", "--password", "pw-test", "--timeout-ms", "1500",
                              "cmd", "st-acl", "reset", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, station), 3);
    const char *host[] = { "--username", "swapfleet", "--password", "pw-test", "--host-id", "swapfleet",
                           "cmd", "st-acl", "reset", NULL };
    ck_assert_msg(fleetrig_swapfleet(&f, out, sizeof out, host) == 0, "%s", out);

    /* The station carried out exactly one fleet command: the host's. */
    json_t *rep = rig_swapd(&r, "{\"cmd\":\"events\",\"limit\":256}");
    int fleet_cmds = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "events"), i, e)
        if (strstr(json_string_value(json_object_get(e, "text")), "fleet \""))
            fleet_cmds++;
    json_decref(rep);
    ck_assert_int_eq(fleet_cmds, 1);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
    fleetrig_stop(&f);
    proc_rmtree(pwdir);
}
END_TEST

static json_t *pack_row(json_t *st, const char *id)
{
    size_t i;
    json_t *r;
    json_array_foreach(metric(st, "magazine/Packs"), i, r)
        if (!strcmp(json_string_value(json_object_get(r, "Battery")), id))
            return r;
    return NULL;
}

static bool knows_pack(json_t *st, void *arg) { return pack_row(st, arg) != NULL; }
static bool answered(json_t *st, void *arg) { return jint(st, "pack_answers") >= *(long long *)arg; }

static bool station_event_contains(struct rig *r, const char *needle)
{
    json_t *rep = rig_swapd(r, "{\"cmd\":\"events\",\"limit\":1000}");
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "events"), i, e)
        found = found || strstr(json_string_value(json_object_get(e, "text")), needle);
    json_decref(rep);
    return found;
}

/* Three stations (swapsim + drones + swapd each) and the host: the swaps counted at
 * each station equal the fleet view's, as a metric and as swap events. The pack the
 * drone leaves at station A (its first swap) later arrives on a drone at stations B
 * and C, which have never seen it: each asks the fleet and starts from the estimates
 * A reported for it. */
START_TEST(test_three_stations_counts_and_a_roaming_pack)
{
    struct fleetrig f = { 0 };
    ck_assert_msg(fleetrig_start_broker(&f, NULL) == 0, "%s", f.err);
    ck_assert_msg(fleetrig_start_host(&f) == 0, "%s", f.err);
    static const char *const nodes[] = { "st-a", "st-b", "st-c" };
    enum { N = 3 };
    struct rig r[N];
    memset(r, 0, sizeof r);
    start_station(&f, &r[0], nodes[0], true, true);
    ck_assert_msg(rig_wait_swaps(&r[0], 1, 150000), "%s", r[0].err);
    /* the drone's pack, left at A by its first swap, is in A's Packs table at the host */
    const char *id = "SWP-5B000001";
    json_t *sa = wait_station(&f, "st-a", knows_pack, (void *)id, 20000);
    ck_assert_msg(sa, "the fleet never saw %s at st-a", id);
    json_decref(sa);

    for (int i = 1; i < N; i++)
        start_station(&f, &r[i], nodes[i], true, true);
    long long end = proc_now_ms() + 90000;
    bool applied = false;
    while (!applied && proc_now_ms() < end) {
        applied = station_event_contains(&r[1], "starts from the fleet's estimates (last at st-a)");
        if (!applied)
            proc_nap_ms(100);
    }
    ck_assert_msg(applied, "st-b never took %s's estimates from the fleet", id);
    long long one = 1;
    json_t *sb = wait_station(&f, "st-b", answered, &one, 10000); /* the host writes its state every 100 ms */
    ck_assert_msg(sb, "the host's state never counted its answer");
    ck_assert_str_eq(json_string_value(json_object_get(sb, "pack_query")), id);
    /* what B took is what A reported: the host's answer "ID;cap;dcir;efc;station", from
     * A's Packs row, equals the values B's event says the pack starts from */
    const char *ans = json_string_value(json_object_get(sb, "pack_answer"));
    ck_assert_ptr_nonnull(ans);
    char aid[24], from[32];
    double cap, dcir, efc;
    ck_assert_int_eq(sscanf(ans, "%23[^;];%lf;%lf;%lf;%31s", aid, &cap, &dcir, &efc, from), 5);
    ck_assert_str_eq(aid, id);
    ck_assert_str_eq(from, "st-a");
    char want[200];
    snprintf(want, sizeof want, "%s starts from the fleet's estimates (last at st-a): %.0f mAh, %.1f mOhm, %.1f EFC", id,
             cap, dcir, efc);
    ck_assert_msg(station_event_contains(&r[1], want), "st-b's event does not carry A's estimates %s", want);
    json_decref(sb);

    for (int i = 0; i < N; i++)
        ck_assert_msg(rig_wait_swaps(&r[i], 1, 150000), "%s: %s", nodes[i], r[i].err);
    /* The drones go home; once no station serves a drone any more (a swap under way
     * finishes), every count must agree. */
    for (int i = 0; i < N; i++) {
        proc_stop(r[i].drones, 5000);
        r[i].drones = 0;
    }
    for (int i = 0; i < N; i++) {
        long long idle_end = proc_now_ms() + 60000;
        bool idle = false;
        while (!idle && proc_now_ms() < idle_end) {
            json_t *stt = rig_status(&r[i]);
            idle = stt && json_is_null(json_object_get(stt, "drone")) && json_is_null(json_object_get(stt, "step"));
            json_decref(stt);
            if (!idle)
                proc_nap_ms(100);
        }
        ck_assert_msg(idle, "%s still serves a drone a minute after the drones left", nodes[i]);
    }
    for (int i = 0; i < N; i++) {
        long long swaps = rig_swaps(&r[i]);
        json_t *st = wait_station(&f, nodes[i], swaps_and_events_equal, &swaps, 10000);
        if (!st) {
            json_t *last = fleetrig_station(&f, nodes[i]);
            ck_assert_msg(0, "%s: the fleet view never showed %lld swaps (metric %lld, swap events %d)", nodes[i], swaps,
                          (long long)json_integer_value(metric(last, "Station/Swaps")), last ? count_swap_events(last) : -1);
        }
        ck_assert(json_is_true(json_object_get(st, "online")));
        ck_assert_int_eq(jint(st, "births"), 1); /* one birth per session, after the CONNACK */
        ck_assert_int_eq(jint(st, "duplicates"), 0);
        ck_assert_int_eq(jint(st, "seq_gaps"), 0);
        ck_assert_msg(json_is_string(metric(st, "robot/Step")), "no robot device metrics");
        ck_assert_int_ge(json_integer_value(metric(st, "magazine/Slots")), 8);
        ck_assert_int_ge(json_array_size(metric(st, "magazine/Packs")), 8);
        json_decref(st);
    }
    char out[4096];
    const char *status[] = { "status", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, status), 0);
    const char *sjson[] = { "status", "--json", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, sjson), 0);
    json_t *rows = json_loads(out, 0, NULL);
    ck_assert_uint_eq(json_array_size(rows), N);
    size_t k;
    json_t *row;
    json_array_foreach(rows, k, row) {
        const char *name = json_string_value(json_object_get(row, "station"));
        int i = 0;
        while (i < N && strcmp(name, nodes[i]))
            i++;
        ck_assert_int_lt(i, N);
        ck_assert_int_eq(json_integer_value(json_object_get(row, "swaps")), rig_swaps(&r[i]));
        ck_assert(json_is_true(json_object_get(row, "online")));
        ck_assert(json_is_number(json_object_get(row, "onpad_mean_s")));
        ck_assert_str_ne(json_string_value(json_object_get(row, "state")), "-");
    }
    json_decref(rows);
    /* the roaming pack is one pack in the fleet's list, wherever it is now */
    const char *bats[] = { "batteries", "--json", NULL };
    ck_assert_int_eq(fleetrig_swapfleet(&f, out, sizeof out, bats), 0);
    json_t *arr = json_loads(out, 0, NULL);
    ck_assert_msg(json_array_size(arr) >= 8, "batteries: %s", out);
    json_decref(arr);
    for (int i = 0; i < N; i++)
        ck_assert_msg(rig_stop_all(&r[i]) == 0, "%s", r[i].err);
    fleetrig_stop(&f);
}
END_TEST

Suite *fleet_suite(void);
Suite *fleet_suite(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("node");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_killed_station_goes_offline_and_is_reborn);
    tcase_add_test(tc, test_acl_forbidden_command_never_reaches_the_station);
    suite_add_tcase(s, tc);
    tc = tcase_create("outage");
    tcase_set_timeout(tc, 400);
    tcase_add_test(tc, test_broker_outage_loses_no_event);
    suite_add_tcase(s, tc);
    tc = tcase_create("fleet3");
    tcase_set_timeout(tc, 400);
    tcase_add_test(tc, test_three_stations_counts_and_a_roaming_pack);
    suite_add_tcase(s, tc);
    return s;
}

/* This machine may be shared and loaded: the stations here test the fleet link, not the
 * plant's watchdog, so they run on a copy of plant.ini whose watchdog tolerates a
 * controller stalled by the scheduler for a while (300 ms plant time is 100 ms wall at
 * RTF 3); fleetrig likewise gives the stations a patient plant link. */
static char configs_dir[256];

static void use_tolerant_plant(void)
{
    char src[512], line[512], path[320];
    if (proc_mkdtemp(configs_dir, sizeof configs_dir, "swap-fleet-cfg") != 0)
        abort();
    FILE *in = fopen(proc_config("plant.ini", src, sizeof src), "r");
    snprintf(path, sizeof path, "%s/plant.ini", configs_dir);
    FILE *out = fopen(path, "w");
    if (!in || !out)
        abort();
    while (fgets(line, sizeof line, in))
        fputs(!strncmp(line, "watchdog_ms", 11) ? "watchdog_ms = 3000\n" : line, out);
    fclose(in);
    fclose(out);
    setenv("SWAP_CONFIGS", configs_dir, 1);
}

int main(void)
{
    use_tolerant_plant();
    SRunner *sr = srunner_create(fleet_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    proc_rmtree(configs_dir);
    return failed ? 1 : 0;
}
