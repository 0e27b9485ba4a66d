/* swapctl against the real daemon: swapd on the plant simulator (swapsim), driven
 * through swapctl with every read and command; every JSON reply is checked against the
 * documented schema, and commands from a user the configuration does not allow are
 * refused and logged. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto/ctlproto.h"
#include "proc.h"

static char dir[256], sock[320], swapctl[512], swapd_log[320];
static pid_t sim_pid, swapd_pid;

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

/* swapd.ini as shipped, plus a [control] section allowing `users` to command. */
static void start_station(const char *users)
{
    char path[512], cfg[512], plant[512], bin[512], port_file[400], db[400];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swapctl-swapd"), 0);
    snprintf(sock, sizeof sock, "%s/swapd.sock", dir);
    snprintf(swapd_log, sizeof swapd_log, "%s/swapd.log", dir);
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(db, sizeof db, "%s/swapd.db", dir);
    proc_bin("swapctl", swapctl, sizeof swapctl);
    proc_config("plant.ini", plant, sizeof plant);

    char *shipped = slurp(proc_config("swapd.ini", path, sizeof path));
    snprintf(cfg, sizeof cfg, "%s/swapd.ini", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "%s\n[control]\npath = %s\nmode = 0660\nusers = %s\ngroups =\n", shipped, sock, users);
    fclose(f);
    free(shipped);

    char *sim_argv[] = { (char *)proc_bin("swapsim", bin, sizeof bin), "--config", plant, "--port", "0",
                         "--port-file", port_file, NULL };
    char sim_log[400];
    snprintf(sim_log, sizeof sim_log, "%s/swapsim.log", dir);
    sim_pid = proc_spawn(sim_argv, sim_log);
    long port = 0;
    ck_assert_msg(proc_wait_number(port_file, &port, sim_pid, 10000) == 0, "swapsim did not start");
    char plant_addr[64];
    snprintf(plant_addr, sizeof plant_addr, "127.0.0.1:%ld", port);
    char swapd_bin[512];
    proc_bin("swapd", swapd_bin, sizeof swapd_bin);
    ck_assert_msg(access(swapd_bin, X_OK) == 0, "%s not built", swapd_bin);
    char *d_argv[] = { swapd_bin, "--config", cfg, "--plant-config", plant, "--db", db,
                       "--control", sock, "--plant", plant_addr, NULL };
    swapd_pid = proc_spawn(d_argv, swapd_log);
    ck_assert_msg(proc_wait_path(sock, swapd_pid, 10000) == 0, "swapd did not open %s:\n%s", sock,
                  slurp(swapd_log));
}

static void start_allowing_me(void)
{
    char uid[32];
    snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
    start_station(uid);
}

static void stop_station(void)
{
    if (swapd_pid > 0)
        proc_stop(swapd_pid, 5000);
    if (sim_pid > 0)
        proc_stop(sim_pid, 5000);
    swapd_pid = sim_pid = 0;
    proc_rmtree(dir);
}

static int ctl(char **out, char **err, const char *const *args)
{
    char out_path[400], err_path[400];
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    snprintf(err_path, sizeof err_path, "%s/err.txt", dir);
    const char *argv[16] = { swapctl, "--socket", sock, "--timeout", "10" };
    int n = 5;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    *out = slurp(out_path);
    *err = slurp(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* swapctl --json ARGS: the reply checked against the schema; returns it and the exit. */
static json_t *ctl_json(const char *cmd, const char *a1, const char *a2, const char *a3, int *rc)
{
    const char *args[] = { "--json", cmd, a1, a2, a3, NULL };
    char *out, *err;
    *rc = ctl(&out, &err, args);
    json_t *reply = json_loads(out, 0, NULL);
    ck_assert_msg(reply, "swapctl --json %s: exit %d, no JSON reply; stderr: %s", cmd, *rc, err);
    char why[256];
    ck_assert_msg(ctlproto_check_reply(cmd, reply, why, sizeof why) == 0, "%s: %s", cmd, why);
    if (json_is_false(json_object_get(reply, "ok")))
        ck_assert_int_eq(*rc, ctlproto_exit_code(json_string_value(
                                  json_object_get(json_object_get(reply, "error"), "code"))));
    else
        ck_assert_int_eq(*rc, 0);
    free(out);
    free(err);
    return reply;
}

static const char *state_now(void)
{
    static char state[32];
    int rc;
    json_t *r = ctl_json("status", NULL, NULL, NULL, &rc);
    snprintf(state, sizeof state, "%s",
             json_string_value(json_object_get(json_object_get(r, "result"), "state")));
    json_decref(r);
    return state;
}

/* Polls status until the state is one of `states` (|-separated). */
static bool await_state(const char *states, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    for (;;) {
        const char *s = state_now();
        char want[128];
        snprintf(want, sizeof want, "|%s|", states);
        char have[40];
        snprintf(have, sizeof have, "|%s|", s);
        if (strstr(want, have))
            return true;
        if (proc_now_ms() > end)
            return false;
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

START_TEST(every_read_of_the_real_station_matches_the_schema)
{
    static const char *const reads[] = { "status", "slots", "batteries", "drones", "alarms", "events" };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        int rc;
        json_t *r = ctl_json(reads[i], NULL, NULL, NULL, &rc);
        ck_assert_msg(rc == 0, "%s exit %d", reads[i], rc);
        json_decref(r);
    }
    int rc;
    json_t *r = ctl_json("slots", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(r, "result"), "slots")), 8);
    json_decref(r);
}
END_TEST

START_TEST(every_command_reaches_the_real_station)
{
    int rc;
    json_t *r;
    ck_assert(await_state("Stopped", 10000));
    /* illegal now: refused with exit 1, nothing changes */
    static const char *const not_now[] = { "hold", "unhold", "suspend", "unsuspend", "start" };
    for (size_t i = 0; i < sizeof not_now / sizeof not_now[0]; i++) {
        r = ctl_json(not_now[i], NULL, NULL, NULL, &rc);
        ck_assert_msg(rc == 1, "%s in Stopped: exit %d", not_now[i], rc);
        json_decref(r);
    }
    ck_assert_str_eq(state_now(), "Stopped");

    r = ctl_json("reset", NULL, NULL, NULL, &rc);
    json_decref(r);
    ck_assert(await_state("Idle", 10000));
    r = ctl_json("start", NULL, NULL, NULL, &rc);
    json_decref(r);
    ck_assert(await_state("Starting|Execute|Suspended", 10000));
    /* whatever the station makes of these without a drone, each gets a documented reply */
    static const char *const running[] = { "hold", "unhold", "suspend", "unsuspend" };
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++) {
        r = ctl_json(running[i], NULL, NULL, NULL, &rc);
        ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d", running[i], rc);
        json_decref(r);
    }
    r = ctl_json("stop", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    ck_assert(await_state("Stopped", 10000));
    r = ctl_json("abort", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    ck_assert(await_state("Aborted", 10000));
    r = ctl_json("clear", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    ck_assert(await_state("Stopped", 10000));

    r = ctl_json("jog", "x", "300", NULL, &rc);
    ck_assert_int_eq(rc, 1);   /* production mode */
    json_decref(r);
    r = ctl_json("mode", "maintenance", NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    r = ctl_json("jog", "x", "300", NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    r = ctl_json("jog", "wrist", "b", NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    r = ctl_json("mode", "production", NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);

    /* a battery out of service and back */
    r = ctl_json("slots", NULL, NULL, NULL, &rc);
    json_t *slot = json_array_get(json_object_get(json_object_get(r, "result"), "slots"), 2);
    char battery[64];
    snprintf(battery, sizeof battery, "%s", json_string_value(json_object_get(slot, "battery")));
    json_decref(r);
    r = ctl_json("retire", battery, "--reason", "swollen pack", &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    r = ctl_json("batteries", battery, NULL, NULL, &rc);
    json_t *b = json_array_get(json_object_get(json_object_get(r, "result"), "batteries"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(b, "status")), "retired");
    json_decref(r);
    r = ctl_json("return", battery, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    r = ctl_json("ack", "999", NULL, NULL, &rc);
    ck_assert_int_eq(rc, 1);
    json_decref(r);
}
END_TEST

START_TEST(followers_see_the_real_station_change_state)
{
    char out_path[400];
    snprintf(out_path, sizeof out_path, "%s/follow.txt", dir);
    char *argv[] = { swapctl, "--socket", sock, "--json", "events", "--follow", NULL };
    pid_t pid = proc_spawn(argv, out_path);
    ck_assert_int_eq(proc_wait_text(out_path, "\"following\":true", pid, 10000), 0);
    int rc;
    json_t *r = ctl_json("reset", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    ck_assert_msg(proc_wait_text(out_path, "Resetting", pid, 10000) == 0, "%s", slurp(out_path));
    int status = proc_kill_wait(pid, SIGINT);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *text = slurp(out_path);
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++) {
        json_t *m = json_loads(line, 0, NULL);
        char why[256];
        ck_assert_msg(m, "not JSON: %s", line);
        if (n == 0)
            ck_assert_msg(ctlproto_check_reply("events", m, why, sizeof why) == 0, "%s", why);
        else
            ck_assert_msg(ctlproto_check_event(m, why, sizeof why) == 0, "%s: %s", why, line);
        json_decref(m);
    }
    ck_assert_int_ge(n, 2);
    free(text);
}
END_TEST

START_TEST(top_shows_the_real_station)
{
    const char *args[] = { "top", "--count", "1", NULL };
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, args), 0);
    ck_assert_msg(strstr(out, "(production mode)"), "%s", out);
    for (int s = 1; s <= 8; s++) {
        char row[16];
        snprintf(row, sizeof row, "Slot %2d ", s);
        ck_assert_msg(strstr(out, row), "%s missing:\n%s", row, out);
    }
    free(out);
    free(err);
}
END_TEST

START_TEST(the_real_station_refuses_and_logs_commands_of_others)
{
    int rc;
    json_t *r = ctl_json("status", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    json_decref(r);
    r = ctl_json("abort", NULL, NULL, NULL, &rc);
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                     CTLPROTO_ERR_NOT_PERMITTED);
    json_decref(r);
    ck_assert_str_ne(state_now(), "Aborted");
    char needle[80];
    snprintf(needle, sizeof needle, "refused \"abort\" from uid %u", (unsigned)getuid());
    ck_assert_msg(proc_wait_text(swapd_log, needle, swapd_pid, 5000) == 0, "not logged:\n%s",
                  slurp(swapd_log));
}
END_TEST

static void start_allowing_nobody(void)
{
    start_station("");
}

int main(void)
{
    Suite *s = suite_create("swapctl-swapd");
    TCase *tc = tcase_create("allowed");
    tcase_add_checked_fixture(tc, start_allowing_me, stop_station);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_read_of_the_real_station_matches_the_schema);
    tcase_add_test(tc, every_command_reaches_the_real_station);
    tcase_add_test(tc, followers_see_the_real_station_change_state);
    tcase_add_test(tc, top_shows_the_real_station);
    suite_add_tcase(s, tc);
    TCase *refused = tcase_create("refused");
    tcase_add_checked_fixture(refused, start_allowing_nobody, stop_station);
    tcase_set_timeout(refused, 60);
    tcase_add_test(refused, the_real_station_refuses_and_logs_commands_of_others);
    suite_add_tcase(s, refused);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
