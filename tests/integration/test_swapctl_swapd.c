/* swapctl against the real daemon: swapd on the plant simulator (swapsim) with simulated
 * drones (dronesim), driven through the swapctl program with every read and command.
 * Every JSON reply is checked against the documented schema; PackML commands legal now
 * act and illegal ones are refused with a reason; commands from a user the
 * configuration does not allow are refused and logged while reads still work. */
#include <check.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto/ctlproto.h"
#include "proc.h"
#include "rig.h"

#define RTF "3"
#define BASE_CONFIG "tests/data/swapd-e2e.ini"
#define NOBODY_UID 65534

static struct rig r;
static char swapctl[512];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

/* The end-to-end settings plus a [control] section: `users` may command, everybody may
 * connect (mode 0666) so that an unprivileged uid can read. */
static void write_config(const char *path, const char *users)
{
    char base[512];
    const char *src = getenv("SWAP_SRC");
    snprintf(base, sizeof base, "%s/%s", src && *src ? src : ".", BASE_CONFIG);
    char *text = slurp(base);
    ck_assert_msg(text[0], "cannot read %s", base);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s\n[control]\nmode = 0666\nusers = %s\ngroups =\n", text, users);
    fclose(f);
    free(text);
}

/* rig_start_swapd() with a configuration outside the source tree. */
static void start_swapd_with(const char *users, bool autostart)
{
    char cfg[RIG_PATH + 16], bin[512], plant[512], plantarg[64], link[RIG_PATH + 8];
    snprintf(cfg, sizeof cfg, "%s/swapd.ini", r.dir);
    write_config(cfg, users);
    snprintf(plantarg, sizeof plantarg, "127.0.0.1:%ld", r.port);
    snprintf(link, sizeof link, "pty:%s", r.pty);
    char *argv[] = { (char *)proc_bin("swapd", bin, sizeof bin), "--config", cfg, "--plant-config",
                     (char *)proc_config("plant.ini", plant, sizeof plant), "--db", r.db, "--control",
                     r.swapd_sock, "--plant", plantarg, "--link", link, autostart ? "--start" : NULL, NULL };
    unlink(r.swapd_sock);
    r.swapd = proc_spawn(argv, r.swapd_log);
    ck_assert_msg(proc_wait_path(r.swapd_sock, r.swapd, 10000) == 0, "swapd did not come up:\n%s",
                  slurp(r.swapd_log));
}

static void start_rig(const char *users)
{
    memset(&r, 0, sizeof r);
    proc_bin("swapctl", swapctl, sizeof swapctl);
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    /* Other uids must reach the socket inside the scratch directory. */
    ck_assert_int_eq(chmod(r.dir, 0755), 0);
    /* Long flights: the drones are on the link but do not ask to land during a test. */
    ck_assert_msg(rig_start_drones(&r, "2", "600") == 0, "%s", r.err);
    start_swapd_with(users, false);
}

static void start_allowing_me(void)
{
    char uid[32];
    snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
    start_rig(uid);
}

static void start_allowing_root_only(void) { start_rig("root"); }

static void stop_rig(void) { rig_stop_all(&r); }

/* Runs swapctl ARGS (as uid when uid >= 0) and collects its output and exit code. */
static int ctl_as(int uid, char **out, char **err, const char *const *args)
{
    char out_path[RIG_PATH + 16], err_path[RIG_PATH + 16];
    snprintf(out_path, sizeof out_path, "%s/out.txt", r.dir);
    snprintf(err_path, sizeof err_path, "%s/err.txt", r.dir);
    const char *argv[16] = { swapctl, "--socket", r.swapd_sock, "--timeout", "10" };
    int n = 5;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        if (uid >= 0 && (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0))
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    *out = slurp(out_path);
    *err = slurp(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* swapctl --json CMD [a1 a2 a3] as uid: the reply, checked against the schema and
 * against the exit code its error code documents; *rc is the exit code. */
static json_t *ctl_json_as(int uid, const char *cmd, const char *a1, const char *a2, const char *a3, int *rc)
{
    const char *args[] = { "--json", cmd, a1, a2, a3, NULL };
    char *out, *err;
    *rc = ctl_as(uid, &out, &err, args);
    json_t *reply = json_loads(out, 0, NULL);
    ck_assert_msg(reply, "swapctl --json %s: exit %d, no JSON reply; stderr: %s", cmd, *rc, err);
    char why[256];
    ck_assert_msg(ctlproto_check_reply(cmd, reply, why, sizeof why) == 0, "%s: %s", cmd, why);
    if (json_is_false(json_object_get(reply, "ok"))) {
        const json_t *e = json_object_get(reply, "error");
        ck_assert_int_eq(*rc, ctlproto_exit_code(json_string_value(json_object_get(e, "code"))));
        /* a refusal always says why */
        ck_assert_msg(strlen(json_string_value(json_object_get(e, "message"))) > 10, "%s: no reason", cmd);
        ck_assert_msg(strstr(err, json_string_value(json_object_get(e, "message"))), "%s: stderr %s", cmd, err);
    } else {
        ck_assert_int_eq(*rc, 0);
    }
    free(out);
    free(err);
    return reply;
}

static json_t *ctl_json(const char *cmd, const char *a1, const char *a2, const char *a3, int *rc)
{
    return ctl_json_as(-1, cmd, a1, a2, a3, rc);
}

static const char *error_code(const json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

/* Runs one command that must succeed (exit 0) or be refused with `code`. */
static void expect(const char *cmd, const char *a1, const char *a2, const char *a3, const char *code)
{
    int rc;
    json_t *rep = ctl_json(cmd, a1, a2, a3, &rc);
    if (code) {
        ck_assert_msg(rc == 1, "%s: exit %d, want 1 (%s)", cmd, rc, code);
        ck_assert_str_eq(error_code(rep), code);
    } else {
        ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, json_dumps(rep, JSON_COMPACT));
    }
    json_decref(rep);
}

static json_t *status_result(void)
{
    int rc;
    json_t *rep = ctl_json("status", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_t *res = json_incref(json_object_get(rep, "result"));
    json_decref(rep);
    return res;
}

static const char *state_now(void)
{
    static char state[32];
    json_t *s = status_result();
    snprintf(state, sizeof state, "%s", json_string_value(json_object_get(s, "state")));
    json_decref(s);
    return state;
}

/* Polls status until the state is one of `states` (|-separated). */
static bool await_state(const char *states, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    char want[128];
    snprintf(want, sizeof want, "|%s|", states);
    for (;;) {
        char have[40];
        snprintf(have, sizeof have, "|%s|", state_now());
        if (strstr(want, have))
            return true;
        if (proc_now_ms() > end)
            return false;
        proc_nap_ms(50);
    }
}

/* The last events, for failure messages (static storage). */
static const char *recent_events(void)
{
    static char text[4096];
    json_t *rep = rig_swapd(&r, "{\"cmd\":\"events\",\"limit\":12}");
    text[0] = 0;
    size_t i, used = 0;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "events"), i, e) {
        int n = snprintf(text + used, sizeof text - used, "  %s\n", json_string_value(json_object_get(e, "text")));
        if (n < 0 || (size_t)n >= sizeof text - used)
            break;
        used += (size_t)n;
    }
    json_decref(rep);
    return text;
}

/* Polls the last events until one contains text. */
static bool await_event(const char *text, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    while (!strstr(recent_events(), text)) {
        if (proc_now_ms() > end)
            return false;
        proc_nap_ms(50);
    }
    return true;
}

#define AWAIT_STATE(states) \
    ck_assert_msg(await_state(states, 10000), "state %s, want %s; events:\n%s", state_now(), states, \
                  recent_events())

static bool await_reconciled(int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < end) {
        json_t *s = status_result();
        bool ok = json_is_true(json_object_get(s, "reconciled"));
        json_decref(s);
        if (ok)
            return true;
        proc_nap_ms(50);
    }
    return false;
}

/* The alarm entry with this code, or NULL (new reference). */
static json_t *find_alarm(const char *code)
{
    int rc;
    json_t *rep = ctl_json("alarms", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    size_t i;
    json_t *a, *found = NULL;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "alarms"), i, a)
        if (!strcmp(json_string_value(json_object_get(a, "code")), code))
            found = json_incref(a);
    json_decref(rep);
    return found;
}

START_TEST(every_read_of_the_real_station_matches_the_schema)
{
    static const char *const reads[] = { "status", "slots", "batteries", "drones", "alarms", "events" };
    ck_assert(await_reconciled(10000));
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        int rc;
        json_t *rep = ctl_json(reads[i], NULL, NULL, NULL, &rc);
        ck_assert_msg(rc == 0, "%s exit %d", reads[i], rc);
        json_decref(rep);
    }
    int rc;
    json_t *rep = ctl_json("slots", NULL, NULL, NULL, &rc);
    json_t *slots = json_object_get(json_object_get(rep, "result"), "slots");
    ck_assert_int_eq(json_array_size(slots), 8);
    for (int s = 0; s < 8; s++)
        ck_assert_msg(json_is_string(json_object_get(json_array_get(slots, s), "battery")), "slot %d empty", s + 1);
    json_decref(rep);
    rep = ctl_json("batteries", NULL, NULL, NULL, &rc);
    ck_assert_uint_ge(json_array_size(json_object_get(json_object_get(rep, "result"), "batteries")), 8);
    json_decref(rep);
    rep = ctl_json("batteries", "SWP-5A000003", NULL, NULL, &rc);
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(rep, "result"), "batteries")), 1);
    json_decref(rep);
    rep = ctl_json("batteries", "SWP-DEADBEEF", NULL, NULL, &rc);
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(error_code(rep), CTLPROTO_ERR_NOT_FOUND);
    json_decref(rep);
    /* every form of the id an operator may copy from an event, an alarm or the drone */
    static const char *const forms[] = { "5A000003", "0x5A000003", "swp-5a000003", "0x5a000003" };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        rep = ctl_json("batteries", forms[i], NULL, NULL, &rc);
        ck_assert_msg(rc == 0, "batteries %s: exit %d", forms[i], rc);
        json_t *b = json_array_get(json_object_get(json_object_get(rep, "result"), "batteries"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(b, "battery")), "SWP-5A000003");
        json_decref(rep);
    }
    /* not an id at all is a usage error */
    rep = ctl_json("batteries", "B0003", NULL, NULL, &rc);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(error_code(rep), CTLPROTO_ERR_BAD_ARGUMENT);
    json_decref(rep);
    rep = ctl_json("retire", "B0003", "--reason", "x", &rc);
    ck_assert_int_eq(rc, 2);
    json_decref(rep);
    /* both simulated drones are heard on the link */
    long long end = proc_now_ms() + 10000;
    size_t n = 0;
    while (n < 2 && proc_now_ms() < end) {
        rep = ctl_json("drones", NULL, NULL, NULL, &rc);
        n = json_array_size(json_object_get(json_object_get(rep, "result"), "drones"));
        json_decref(rep);
        if (n < 2)
            proc_nap_ms(50);
    }
    ck_assert_uint_eq(n, 2);
    rep = ctl_json("events", "--limit", "3", NULL, &rc);
    ck_assert_uint_le(json_array_size(json_object_get(json_object_get(rep, "result"), "events")), 3);
    ck_assert(json_is_false(json_object_get(json_object_get(rep, "result"), "following")));
    json_decref(rep);
}
END_TEST

START_TEST(packml_commands_act_when_legal_and_are_refused_otherwise)
{
    ck_assert(await_reconciled(10000));
    ck_assert_str_eq(state_now(), "Stopped");
    /* illegal in Stopped: refused with exit 1 and a reason, nothing changes */
    static const char *const not_now[] = { "hold", "unhold", "suspend", "unsuspend", "start", "clear", "adopt" };
    for (size_t i = 0; i < sizeof not_now / sizeof not_now[0]; i++)
        expect(not_now[i], NULL, NULL, NULL, CTLPROTO_ERR_ILLEGAL_STATE);
    ck_assert_str_eq(state_now(), "Stopped");
    /* a refusal names the states where the command would be accepted */
    int rc;
    json_t *rep = ctl_json("hold", NULL, NULL, NULL, &rc);
    const char *why = json_string_value(json_object_get(json_object_get(rep, "error"), "message"));
    ck_assert_msg(strstr(why, "hold is not possible in Stopped (only in Execute, Unholding, Suspending, "
                              "Suspended, Unsuspending)"), "%s", why);
    json_decref(rep);

    expect("reset", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Idle");
    expect("reset", NULL, NULL, NULL, CTLPROTO_ERR_ILLEGAL_STATE);
    expect("start", NULL, NULL, NULL, NULL);
    /* with no drone asking to land the station suspends itself */
    AWAIT_STATE("Suspended");
    expect("suspend", NULL, NULL, NULL, CTLPROTO_ERR_ILLEGAL_STATE);
    expect("unhold", NULL, NULL, NULL, CTLPROTO_ERR_ILLEGAL_STATE);
    expect("hold", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Held");
    /* Held by the operator, not by a mismatch: nothing to adopt */
    expect("adopt", NULL, NULL, NULL, CTLPROTO_ERR_ILLEGAL_STATE);
    rep = ctl_json("hold", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 1);
    json_decref(rep);
    rep = ctl_json("unhold", NULL, NULL, NULL, &rc);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rep, "result"), "message")),
                     "unhold accepted: Held -> Unholding");
    json_decref(rep);
    AWAIT_STATE("Execute|Suspending|Suspended");
    /* the event says the unhold brought it back, not a fault */
    ck_assert_msg(await_event("Unholding -> Execute: unhold complete", 10000), "%s", recent_events());
    AWAIT_STATE("Suspended");
    expect("unsuspend", NULL, NULL, NULL, NULL);
    ck_assert_msg(await_event("Suspended -> Unsuspending: operator", 10000), "%s", recent_events());
    AWAIT_STATE("Suspended");
    expect("stop", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Stopped");
    expect("abort", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Aborted");
    expect("reset", NULL, NULL, NULL, CTLPROTO_ERR_ILLEGAL_STATE);
    expect("clear", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Stopped");
}
END_TEST

START_TEST(maintenance_mode_allows_jogging_and_production_returns)
{
    ck_assert(await_reconciled(10000));
    expect("jog", "x", "300", NULL, CTLPROTO_ERR_WRONG_MODE);
    expect("reset", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Idle");
    expect("start", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Execute");
    expect("mode", "maintenance", NULL, NULL, CTLPROTO_ERR_ILLEGAL_STATE);
    expect("stop", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Stopped");
    expect("mode", "maintenance", NULL, NULL, NULL);
    json_t *s = status_result();
    long long end = proc_now_ms() + 5000;
    while (strcmp(json_string_value(json_object_get(s, "mode")), "maintenance") && proc_now_ms() < end) {
        json_decref(s);
        proc_nap_ms(50);
        s = status_result();
    }
    ck_assert_str_eq(json_string_value(json_object_get(s, "mode")), "maintenance");
    json_decref(s);
    expect("jog", "x", "300", NULL, NULL);
    expect("jog", "wrist", "b", NULL, NULL);
    int rc;
    json_t *rep = ctl_json("jog", "wrist", "sideways", NULL, &rc);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(error_code(rep), CTLPROTO_ERR_BAD_ARGUMENT);
    json_decref(rep);
    /* the plant received the jog: axis X is commanded towards 300 mm */
    json_t *truth = NULL;
    double x = 0;
    end = proc_now_ms() + 10000;
    while (proc_now_ms() < end) {
        truth = rig_sim(&r, "{\"cmd\":\"log\",\"from\":0}");
        bool seen = false;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(truth, "entries"), i, e)
            if (!strcmp(json_string_value(json_object_get(e, "table")), "hr") &&
                json_integer_value(json_object_get(e, "new")) == 3000)
                seen = true;
        json_decref(truth);
        if (seen) {
            x = 300;
            break;
        }
        proc_nap_ms(50);
    }
    ck_assert_msg(x == 300, "the plant never received the X target 300.0 mm");
    expect("mode", "production", NULL, NULL, NULL);
    end = proc_now_ms() + 5000;
    s = status_result();
    while (strcmp(json_string_value(json_object_get(s, "mode")), "production") && proc_now_ms() < end) {
        json_decref(s);
        proc_nap_ms(50);
        s = status_result();
    }
    ck_assert_str_eq(json_string_value(json_object_get(s, "mode")), "production");
    json_decref(s);
    expect("jog", "x", "100", NULL, CTLPROTO_ERR_WRONG_MODE);
}
END_TEST

static const char *battery_status(const char *id)
{
    static char st[32];
    int rc;
    json_t *rep = ctl_json("batteries", id, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_t *b = json_array_get(json_object_get(json_object_get(rep, "result"), "batteries"), 0);
    snprintf(st, sizeof st, "%s", json_string_value(json_object_get(b, "status")));
    json_decref(rep);
    return st;
}

START_TEST(a_battery_is_retired_and_returned)
{
    ck_assert(await_reconciled(10000));
    int rc;
    json_t *rep = ctl_json("slots", NULL, NULL, NULL, &rc);
    json_t *slot = json_array_get(json_object_get(json_object_get(rep, "result"), "slots"), 2);
    char battery[64];
    snprintf(battery, sizeof battery, "%s", json_string_value(json_object_get(slot, "battery")));
    json_decref(rep);
    ck_assert_str_eq(battery_status(battery), "in_service");
    expect("retire", battery, "--reason", "swollen pack", NULL);
    ck_assert_str_eq(battery_status(battery), "retired");
    rep = ctl_json("batteries", battery, NULL, NULL, &rc);
    json_t *b = json_array_get(json_object_get(json_object_get(rep, "result"), "batteries"), 0);
    /* the reason reaches the registry asynchronously */
    json_decref(rep);
    long long end = proc_now_ms() + 5000;
    bool reason_seen = false;
    while (!reason_seen && proc_now_ms() < end) {
        rep = ctl_json("batteries", battery, NULL, NULL, &rc);
        b = json_array_get(json_object_get(json_object_get(rep, "result"), "batteries"), 0);
        reason_seen = json_is_string(json_object_get(b, "reason")) &&
                      strstr(json_string_value(json_object_get(b, "reason")), "swollen");
        json_decref(rep);
        if (!reason_seen)
            proc_nap_ms(50);
    }
    ck_assert_msg(reason_seen, "the retirement reason never showed in batteries");
    expect("return", battery, NULL, NULL, NULL);
    ck_assert_str_eq(battery_status(battery), "in_service");
    expect("retire", "SWP-DEADBEEF", "--reason", "x", CTLPROTO_ERR_NOT_FOUND);
    rep = ctl_json("return", "nonsense", NULL, NULL, &rc); /* not an id: a usage error */
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(error_code(rep), CTLPROTO_ERR_BAD_ARGUMENT);
    json_decref(rep);
    /* without a reason swapctl refuses before asking the station */
    rep = NULL;
    const char *args[] = { "retire", battery, NULL };
    char *out, *err;
    ck_assert_int_eq(ctl_as(-1, &out, &err, args), 2);
    free(out);
    free(err);
}
END_TEST

START_TEST(a_charger_fault_raises_an_alarm_that_is_acknowledged)
{
    ck_assert(await_reconciled(10000));
    json_t *rep = rig_sim(&r, "{\"cmd\":\"inject\",\"fault\":\"charger\",\"a\":1}");
    ck_assert(json_is_true(json_object_get(rep, "ok")));
    json_decref(rep);
    json_t *alarm = NULL;
    long long end = proc_now_ms() + 10000;
    while (!(alarm = find_alarm("charger_fault")) && proc_now_ms() < end)
        proc_nap_ms(50);
    ck_assert_msg(alarm, "no charger_fault alarm after the fault was injected");
    ck_assert(json_is_false(json_object_get(alarm, "acked")));
    char id[16];
    snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(alarm, "id")));
    json_decref(alarm);
    int rc;
    rep = ctl_json("status", NULL, NULL, NULL, &rc);
    ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(rep, "result"), "alarms_active")), 1);
    json_decref(rep);
    expect("ack", id, NULL, NULL, NULL);
    bool acked = false;
    end = proc_now_ms() + 5000;
    while (!acked && proc_now_ms() < end) {
        alarm = find_alarm("charger_fault");
        acked = alarm && json_is_true(json_object_get(alarm, "acked"));
        json_decref(alarm);
        if (!acked)
            proc_nap_ms(50);
    }
    ck_assert_msg(acked, "the alarm was not acknowledged");
    expect("ack", "63", NULL, NULL, CTLPROTO_ERR_NOT_FOUND);
    /* the acknowledgement is in the event log with who gave it */
    rep = ctl_json("events", "--limit", "50", NULL, &rc);
    char *text = json_dumps(rep, JSON_COMPACT);
    ck_assert_msg(strstr(text, "\\\"ack\\\" from uid"), "%s", text);
    ck_assert_msg(strstr(text, "charger_fault raised"), "%s", text);
    free(text);
    json_decref(rep);
}
END_TEST

START_TEST(followers_see_the_real_station_change_state)
{
    ck_assert(await_reconciled(10000));
    char out_path[RIG_PATH + 16];
    snprintf(out_path, sizeof out_path, "%s/follow.txt", r.dir);
    char *argv[] = { swapctl, "--socket", r.swapd_sock, "--json", "events", "--follow", NULL };
    pid_t pid = proc_spawn(argv, out_path);
    ck_assert_int_eq(proc_wait_text(out_path, "\"following\":true", pid, 10000), 0);
    expect("reset", NULL, NULL, NULL, NULL);
    ck_assert_msg(proc_wait_text(out_path, "Resetting", pid, 10000) == 0, "%s", slurp(out_path));
    ck_assert_msg(proc_wait_text(out_path, "-> Idle", pid, 10000) == 0, "%s", slurp(out_path));
    int status = proc_kill_wait(pid, SIGINT);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *text = slurp(out_path);
    int n = 0;
    long long last_seq = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++) {
        json_t *m = json_loads(line, 0, NULL);
        char why[256];
        ck_assert_msg(m, "not JSON: %s", line);
        if (n == 0) {
            ck_assert_msg(ctlproto_check_reply("events", m, why, sizeof why) == 0, "%s", why);
        } else {
            ck_assert_msg(ctlproto_check_event(m, why, sizeof why) == 0, "%s: %s", why, line);
            long long seq = json_integer_value(json_object_get(json_object_get(m, "event"), "seq"));
            ck_assert_msg(seq > last_seq, "events out of order: %lld after %lld", seq, last_seq);
            last_seq = seq;
        }
        json_decref(m);
    }
    ck_assert_int_ge(n, 3);
    free(text);
}
END_TEST

/* A pack whose tag cannot be read at start-up: the inventory cannot be confirmed, the
 * station holds with inventory_mismatch, and the operator adopts the sensors' view. */
static void start_with_unreadable_tag(void)
{
    memset(&r, 0, sizeof r);
    proc_bin("swapctl", swapctl, sizeof swapctl);
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    ck_assert_msg(rig_start_drones(&r, "1", "600") == 0, "%s", r.err);
    char uid[32];
    snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
    start_swapd_with(uid, false);
    ck_assert(await_reconciled(10000));
    proc_stop(r.swapd, 5000);
    r.swapd = 0;
    json_t *rep = rig_sim(&r, "{\"cmd\":\"inject\",\"fault\":\"tag_unreadable\",\"a\":4}");
    ck_assert(json_is_true(json_object_get(rep, "ok")));
    json_decref(rep);
    start_swapd_with(uid, false);
}

START_TEST(adopt_resolves_an_inventory_mismatch)
{
    ck_assert_msg(await_state("Held", 10000), "no hold after the mismatch:\n%s", slurp(r.swapd_log));
    json_t *alarm = find_alarm("inventory_mismatch");
    ck_assert_ptr_nonnull(alarm);
    json_decref(alarm);
    json_t *s = status_result();
    ck_assert(json_is_false(json_object_get(s, "reconciled")));
    json_decref(s);
    expect("reset", NULL, NULL, NULL, CTLPROTO_ERR_ILLEGAL_STATE);
    expect("adopt", NULL, NULL, NULL, NULL);
    ck_assert(await_reconciled(10000));
    /* the pack the sensors cannot confirm is booked to quarantine */
    long long until = proc_now_ms() + 5000;
    char where[64] = "";
    while (strcmp(where, "quarantine") && proc_now_ms() < until) {
        int rc;
        json_t *rep = ctl_json("batteries", "SWP-5A000005", NULL, NULL, &rc);
        json_t *b = json_array_get(json_object_get(json_object_get(rep, "result"), "batteries"), 0);
        snprintf(where, sizeof where, "%s", json_string_value(json_object_get(b, "location")));
        json_decref(rep);
        if (strcmp(where, "quarantine"))
            proc_nap_ms(50);
    }
    ck_assert_str_eq(where, "quarantine");
    /* the decision is made once */
    expect("adopt", NULL, NULL, NULL, CTLPROTO_ERR_ILLEGAL_STATE);
    /* the alarm is latched until the operator continues */
    expect("unhold", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Stopped");
    long long end = proc_now_ms() + 5000;
    while ((alarm = find_alarm("inventory_mismatch")) && proc_now_ms() < end) {
        json_decref(alarm);
        proc_nap_ms(50);
    }
    ck_assert_msg(!alarm, "inventory_mismatch still active after adopt and unhold");
    expect("reset", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Idle");
    int rc;
    json_t *rep = ctl_json("events", "--limit", "50", NULL, &rc);
    char *text = json_dumps(rep, JSON_COMPACT);
    ck_assert_msg(strstr(text, "adopted the sensors"), "%s", text);
    free(text);
    json_decref(rep);
}
END_TEST

START_TEST(the_real_station_refuses_and_logs_commands_of_others)
{
    ck_assert(await_reconciled(10000));
    /* reads work for anyone who can connect */
    static const char *const reads[] = { "status", "slots", "batteries", "drones", "alarms", "events" };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        int rc;
        json_t *rep = ctl_json_as(NOBODY_UID, reads[i], NULL, NULL, NULL, &rc);
        ck_assert_msg(rc == 0, "%s as uid %d: exit %d", reads[i], NOBODY_UID, rc);
        json_decref(rep);
    }
    /* every command is refused, and nothing changes */
    static const struct { const char *cmd, *a1, *a2, *a3; } cmds[] = {
        { "reset", NULL, NULL, NULL }, { "start", NULL, NULL, NULL }, { "stop", NULL, NULL, NULL },
        { "hold", NULL, NULL, NULL }, { "unhold", NULL, NULL, NULL }, { "suspend", NULL, NULL, NULL },
        { "unsuspend", NULL, NULL, NULL }, { "abort", NULL, NULL, NULL }, { "clear", NULL, NULL, NULL },
        { "mode", "maintenance", NULL, NULL }, { "jog", "x", "100", NULL },
        { "retire", "SWP-5A000001", "--reason", "not mine" }, { "return", "SWP-5A000001", NULL, NULL },
        { "ack", "1", NULL, NULL }, { "adopt", NULL, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int rc;
        json_t *rep = ctl_json_as(NOBODY_UID, cmds[i].cmd, cmds[i].a1, cmds[i].a2, cmds[i].a3, &rc);
        ck_assert_msg(rc == 1, "%s as uid %d: exit %d", cmds[i].cmd, NOBODY_UID, rc);
        ck_assert_str_eq(error_code(rep), CTLPROTO_ERR_NOT_PERMITTED);
        json_decref(rep);
    }
    ck_assert_str_eq(state_now(), "Stopped");
    ck_assert_str_eq(battery_status("SWP-5A000001"), "in_service");
    /* logged: in swapd's events and its log */
    char needle[80];
    snprintf(needle, sizeof needle, "refused \"abort\" from uid %d", NOBODY_UID);
    ck_assert_msg(proc_wait_text(r.swapd_log, needle, r.swapd, 5000) == 0, "not in the log:\n%s",
                  slurp(r.swapd_log));
    int rc;
    json_t *rep = ctl_json("events", "--limit", "100", NULL, &rc);
    char *text = json_dumps(rep, JSON_COMPACT);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char want[80];
        snprintf(want, sizeof want, "refused \\\"%s\\\" from uid %d", cmds[i].cmd, NOBODY_UID);
        ck_assert_msg(strstr(text, want), "%s not in the events", want);
    }
    free(text);
    json_decref(rep);
    /* root, listed in [control] users, may command */
    expect("reset", NULL, NULL, NULL, NULL);
    AWAIT_STATE("Idle");
}
END_TEST

static void start_swapping(void)
{
    memset(&r, 0, sizeof r);
    proc_bin("swapctl", swapctl, sizeof swapctl);
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    ck_assert_msg(rig_start_drones(&r, "3", "2") == 0, "%s", r.err);
    char uid[32];
    snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
    start_swapd_with(uid, true);
}

/* The event log of a running swap: every type is one the protocol lists, and each kind of
 * change has its own type (a step start is a step, not a state). */
START_TEST(swap_events_are_typed_by_what_changed)
{
    ck_assert_msg(await_event("step start", 40000), "%s", recent_events());
    int rc;
    json_t *rep = ctl_json("events", "--limit", "500", NULL, &rc);
    size_t i;
    json_t *e;
    bool step = false, state = false, daemon = false;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "events"), i, e) {
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *text = json_string_value(json_object_get(e, "text"));
        const char *to = json_string_value(json_object_get(e, "to"));
        ck_assert_msg(ctlproto_in_list(ctlproto_event_types, type), "type %s: %s", type, text);
        if (strstr(text, ": step start")) {
            ck_assert_msg(!strcmp(type, "step"), "%s typed %s", text, type);
            step = true;
        }
        if (!strcmp(type, "state")) {
            ck_assert_msg(to && ctlproto_in_list(ctlproto_states, to), "state event to %s: %s", to, text);
            state = true;
        }
        if (!strcmp(type, "step"))
            ck_assert_msg(to && !ctlproto_in_list(ctlproto_states, to), "step event to %s: %s", to, text);
        daemon |= !strcmp(type, "daemon");
    }
    ck_assert(step && state && daemon);
    json_decref(rep);
}
END_TEST

START_TEST(drones_show_the_landing_queue_in_landing_order)
{
    int rc, checked = 0, queued_seen = 0;
    bool pct_seen = false;
    long long end = proc_now_ms() + 40000;
    while (proc_now_ms() < end && (checked < 20 || !queued_seen)) {
        json_t *rep = ctl_json("drones", NULL, NULL, NULL, &rc);
        json_t *res = json_object_get(rep, "result"), *queue = json_object_get(res, "queue");
        size_t i;
        json_t *dr;
        json_array_foreach(json_object_get(res, "drones"), i, dr) {
            json_t *pos = json_object_get(dr, "queue_pos");
            json_int_t sysid = json_integer_value(json_object_get(dr, "sysid"));
            pct_seen |= json_is_number(json_object_get(dr, "battery_pct"));
            if (!json_is_integer(pos))
                continue;
            queued_seen++;
            json_int_t p = json_integer_value(pos);
            ck_assert_msg(p >= 1 && (size_t)p <= json_array_size(queue) &&
                              json_integer_value(json_array_get(queue, (size_t)p - 1)) == sysid,
                          "drone %lld at queue_pos %lld, queue %s", (long long)sysid, (long long)p,
                          json_dumps(queue, JSON_COMPACT));
        }
        /* every queued drone is listed with its place */
        json_t *q;
        json_array_foreach(queue, i, q) {
            bool listed = false;
            size_t k;
            json_array_foreach(json_object_get(res, "drones"), k, dr)
                listed |= json_integer_value(json_object_get(dr, "sysid")) == json_integer_value(q) &&
                          json_integer_value(json_object_get(dr, "queue_pos")) == (json_int_t)i + 1;
            ck_assert_msg(listed, "queue %s: drone %lld not listed at place %zu", json_dumps(queue, JSON_COMPACT),
                          (long long)json_integer_value(q), i + 1);
        }
        json_decref(rep);
        checked++;
        proc_nap_ms(100);
    }
    printf("drones: %d replies checked, %d queued entries seen\n", checked, queued_seen);
    ck_assert_msg(queued_seen > 0, "no drone was ever queued");
    ck_assert_msg(pct_seen, "no drone's charge was ever shown");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("swapctl-swapd");
    TCase *tc = tcase_create("allowed");
    tcase_add_checked_fixture(tc, start_allowing_me, stop_rig);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_read_of_the_real_station_matches_the_schema);
    tcase_add_test(tc, packml_commands_act_when_legal_and_are_refused_otherwise);
    tcase_add_test(tc, maintenance_mode_allows_jogging_and_production_returns);
    tcase_add_test(tc, a_battery_is_retired_and_returned);
    tcase_add_test(tc, a_charger_fault_raises_an_alarm_that_is_acknowledged);
    tcase_add_test(tc, followers_see_the_real_station_change_state);
    suite_add_tcase(s, tc);
    TCase *mismatch = tcase_create("mismatch");
    tcase_add_checked_fixture(mismatch, start_with_unreadable_tag, stop_rig);
    tcase_set_timeout(mismatch, 60);
    tcase_add_test(mismatch, adopt_resolves_an_inventory_mismatch);
    suite_add_tcase(s, mismatch);
    TCase *refused = tcase_create("refused");
    tcase_add_checked_fixture(refused, start_allowing_root_only, stop_rig);
    tcase_set_timeout(refused, 60);
    tcase_add_test(refused, the_real_station_refuses_and_logs_commands_of_others);
    suite_add_tcase(s, refused);
    TCase *swapping = tcase_create("swapping");
    tcase_add_checked_fixture(swapping, start_swapping, stop_rig);
    tcase_set_timeout(swapping, 60);
    tcase_add_test(swapping, drones_show_the_landing_queue_in_landing_order);
    tcase_add_test(swapping, swap_events_are_typed_by_what_changed);
    suite_add_tcase(s, swapping);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
