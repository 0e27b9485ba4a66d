/* swapctl end to end against a station served on a real control socket (the fake
 * station in a child process): every read and command, every JSON reply checked against
 * the schema, exit codes, refusals for users the configuration does not allow (and
 * their log lines), events --follow, and `swapctl top` in a real terminal (tmux). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto/ctlproto.h"
#include "fakestation.h"
#include "proc.h"

static char dir[256], sock[320], log_path[320], swapctl[512];
static pid_t fake_pid;
static int fake_ctl = -1;

static void start_fake(const char *users, unsigned mode)
{
    struct fakestation_opts o = { .socket_path = sock, .mode = mode, .users = users,
                                  .groups = "", .log_path = log_path };
    fake_pid = fakestation_spawn(&o, &fake_ctl);
    ck_assert_int_gt(fake_pid, 0);
    ck_assert_int_eq(proc_wait_path(sock, fake_pid, 5000), 0);
}

static void setup_dir(void)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swapctl"), 0);
    snprintf(sock, sizeof sock, "%s/swapd.sock", dir);
    snprintf(log_path, sizeof log_path, "%s/station.log", dir);
    proc_bin("swapctl", swapctl, sizeof swapctl);
    ck_assert_msg(access(swapctl, X_OK) == 0, "%s not built", swapctl);
}

/* The station allows the test's own uid to command. */
static void setup(void)
{
    char uid[32];
    setup_dir();
    snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
    start_fake(uid, 0660);
}

static void teardown(void)
{
    if (fake_pid > 0)
        fakestation_stop(fake_pid, fake_ctl, 3000);
    fake_pid = 0;
    proc_rmtree(dir);
}

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

/* Runs a program (PATH search) with stdout/stderr captured; returns its exit code. */
static int run_prog(const char *const *argv, char **out, char **err, uid_t as_uid)
{
    char out_path[400], err_path[400];
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    snprintf(err_path, sizeof err_path, "%s/err.txt", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        dup2(o, 1);
        dup2(e, 2);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        if (as_uid != (uid_t)-1 && (setgroups(0, NULL) < 0 || setgid(as_uid) < 0 || setuid(as_uid) < 0))
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (out)
        *out = slurp(out_path);
    if (err)
        *err = slurp(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* swapctl --socket SOCK args...; stdout in *out, stderr in *err (free both). */
static int ctl(char **out, char **err, const char *a1, const char *a2, const char *a3,
               const char *a4, const char *a5)
{
    const char *argv[10] = { swapctl, "--socket", sock, a1, a2, a3, a4, a5, NULL };
    return run_prog(argv, out, err, (uid_t)-1);
}

/* Runs swapctl --json and checks the single reply line against the schema. */
static json_t *ctl_json(int want_rc, const char *cmd, const char *a2, const char *a3,
                        const char *a4)
{
    char *out, *err;
    int rc = ctl(&out, &err, "--json", cmd, a2, a3, a4);
    ck_assert_msg(rc == want_rc, "swapctl %s %s: exit %d, want %d; stderr: %s", cmd,
                  a2 ? a2 : "", rc, want_rc, err);
    json_error_t jerr;
    json_t *reply = json_loads(out, 0, &jerr);
    ck_assert_msg(reply, "swapctl --json %s printed no JSON: %s (%s)", cmd, out, jerr.text);
    char why[256];
    ck_assert_msg(ctlproto_check_reply(cmd, reply, why, sizeof why) == 0, "%s: %s", cmd, why);
    free(out);
    free(err);
    return reply;
}

static const char *result_str(const json_t *reply, const char *key)
{
    return json_string_value(json_object_get(json_object_get(reply, "result"), key));
}

static const char *error_code(const json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

/* ---- reads ------------------------------------------------------------------------- */

START_TEST(every_read_replies_as_the_schema_says)
{
    static const char *const reads[][2] = {
        { "status", NULL }, { "slots", NULL }, { "batteries", NULL }, { "batteries", "SWP-5A000003" },
        { "drones", NULL }, { "alarms", NULL }, { "events", NULL },
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        json_t *r = ctl_json(0, reads[i][0], reads[i][1], NULL, NULL);
        ck_assert(json_is_true(json_object_get(r, "ok")));
        json_decref(r);
    }
    json_t *r = ctl_json(0, "batteries", "SWP-5A000003", NULL, NULL);
    json_t *list = json_object_get(json_object_get(r, "result"), "batteries");
    ck_assert_int_eq(json_array_size(list), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "location")), "slot 3");
    json_decref(r);
}
END_TEST

START_TEST(unknown_battery_is_refused_with_exit_1)
{
    json_t *r = ctl_json(1, "batteries", "SWP-5A009999", NULL, NULL);
    ck_assert_str_eq(error_code(r), CTLPROTO_ERR_NOT_FOUND);
    json_decref(r);
}
END_TEST

START_TEST(slots_print_as_an_aligned_table)
{
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "slots", NULL, NULL, NULL, NULL), 0);
    char *header = out, *row1 = strchr(out, '\n') + 1;
    ck_assert_ptr_nonnull(strstr(header, "SLOT  BATTERY"));
    long col = strstr(header, "BATTERY") - header;
    ck_assert_int_eq(strstr(row1, "SWP-5A000001") - row1, col);
    for (int s = 1; s <= 8; s++) {
        char id[16];
        snprintf(id, sizeof id, "SWP-%08X", 0x5A000000u + (unsigned)s);
        char *line = strstr(out, id);
        ck_assert_msg(line, "%s missing:\n%s", id, out);
        while (line > out && line[-1] != '\n')
            line--;
        ck_assert_int_eq(strstr(line, id) - line, col);
    }
    free(out);
    free(err);
}
END_TEST

START_TEST(status_prints_state_step_and_progress)
{
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "status", NULL, NULL, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "State    Execute (production mode)"));
    ck_assert_ptr_nonnull(strstr(out, "Step     1/12 fetch_fresh  ["));
    ck_assert_ptr_nonnull(strstr(out, "ETA 18.0 s"));
    free(out);
    free(err);
}
END_TEST

/* ---- commands ---------------------------------------------------------------------- */

static const struct {
    const char *args[4];
    int rc;
    const char *state;   /* after an accepted command */
    const char *code;    /* of a refusal */
} script[] = {
    { { "hold" }, 0, "Held", NULL },
    { { "hold" }, 1, NULL, CTLPROTO_ERR_ILLEGAL_STATE },
    { { "unhold" }, 0, "Execute", NULL },
    { { "suspend" }, 0, "Suspended", NULL },
    { { "unsuspend" }, 0, "Execute", NULL },
    { { "jog", "x", "300" }, 1, NULL, CTLPROTO_ERR_WRONG_MODE },
    { { "mode", "maintenance" }, 1, NULL, CTLPROTO_ERR_ILLEGAL_STATE },
    { { "abort" }, 0, "Aborted", NULL },
    { { "start" }, 1, NULL, CTLPROTO_ERR_ILLEGAL_STATE },
    { { "clear" }, 0, "Stopped", NULL },
    { { "mode", "maintenance" }, 0, "Stopped", NULL },
    { { "jog", "x", "300" }, 0, "Stopped", NULL },
    { { "jog", "wrist", "b" }, 0, "Stopped", NULL },
    { { "mode", "manual" }, 0, "Stopped", NULL },
    { { "mode", "production" }, 0, "Stopped", NULL },
    { { "reset" }, 0, "Idle", NULL },
    { { "start" }, 0, "Execute", NULL },
    { { "stop" }, 0, "Stopped", NULL },
    { { "retire", "SWP-5A000003", "--reason", "cell imbalance 80 mV" }, 0, "Stopped", NULL },
    { { "return", "SWP-5A000003" }, 0, "Stopped", NULL },
    { { "return", "SWP-5A000003" }, 1, NULL, CTLPROTO_ERR_ILLEGAL_STATE },
    { { "retire", "SWP-5A009999", "--reason", "lost" }, 1, NULL, CTLPROTO_ERR_NOT_FOUND },
    { { "ack", "1" }, 0, "Stopped", NULL },
    { { "ack", "99" }, 1, NULL, CTLPROTO_ERR_NOT_FOUND },
};

START_TEST(every_command_acts_on_the_station_as_documented)
{
    for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
        json_t *r = ctl_json(script[i].rc, script[i].args[0], script[i].args[1], script[i].args[2],
                             script[i].args[3]);
        if (script[i].rc == 0) {
            ck_assert_msg(!strcmp(result_str(r, "state"), script[i].state), "step %zu %s: state %s",
                          i, script[i].args[0], result_str(r, "state"));
        } else {
            ck_assert_msg(!strcmp(error_code(r), script[i].code), "step %zu %s: code %s", i,
                          script[i].args[0], error_code(r));
        }
        json_decref(r);
    }
    /* what the commands left behind */
    json_t *r = ctl_json(0, "batteries", "SWP-5A000003", NULL, NULL);
    json_t *b = json_array_get(json_object_get(json_object_get(r, "result"), "batteries"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(b, "status")), "in_service");
    json_decref(r);
    r = ctl_json(0, "alarms", NULL, NULL, NULL);
    json_t *a = json_array_get(json_object_get(json_object_get(r, "result"), "alarms"), 0);
    ck_assert(json_is_true(json_object_get(a, "acked")));
    json_decref(r);
    r = ctl_json(0, "events", "--limit", "200", NULL);
    char *text = json_dumps(r, 0);
    ck_assert_ptr_nonnull(strstr(text, "battery SWP-5A000003 retired: cell imbalance 80 mV"));
    ck_assert_ptr_nonnull(strstr(text, "jog x to 300"));
    free(text);
    json_decref(r);
}
END_TEST

START_TEST(accepted_and_refused_commands_explain_themselves)
{
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "hold", NULL, NULL, NULL, NULL), 0);
    ck_assert_str_eq(out, "hold accepted: Execute -> Held\n");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "hold", NULL, NULL, NULL, NULL), 1);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(err, "swapctl: hold: hold is not possible in Held (only in "
                                      "Execute); check the state with: swapctl status"));
    free(out);
    free(err);
}
END_TEST

/* ---- usage and connection errors ----------------------------------------------------- */

static const struct {
    const char *args[4];
    const char *says;
} usage[] = {
    { { "mode", "turbo" }, "must be one of: production, maintenance, manual" },
    { { "retire", "SWP-5A000001" }, "needs argument \"reason\"" },
    { { "ack", "first" }, "ALARM must be a whole number" },
    { { "launch" }, "unknown command \"launch\"" },
    { { "status", "now" }, "unexpected argument \"now\"" },
    { { "jog", "x" }, "missing TARGET" },
    { { "jog", "elbow", "3" }, "must be one of: x, z, y" },
    { { "events", "--since", "yesterday-ish" }, "cannot read the time" },
    { { "events", "--limit", "-3" }, "--limit wants a whole number" },
    { { "hold", "--force" }, "unknown option --force" },
    { { "--timeout", "soon", "status" }, "--timeout wants seconds" },
    { { NULL }, "no command given" },
};

START_TEST(usage_errors_exit_2_and_say_what_is_wrong)
{
    char *out, *err;
    int rc = ctl(&out, &err, usage[_i].args[0], usage[_i].args[1], usage[_i].args[2],
                 usage[_i].args[3], NULL);
    ck_assert_msg(rc == 2, "exit %d for %s", rc, usage[_i].says);
    ck_assert_msg(strstr(err, usage[_i].says), "stderr \"%s\" lacks \"%s\"", err, usage[_i].says);
    ck_assert_ptr_nonnull(strstr(err, "Try 'swapctl"));
    free(out);
    free(err);
}
END_TEST

START_TEST(help_documents_commands_and_exit_codes)
{
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "--help", NULL, NULL, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "Exit codes: 0 done; 1 refused by the station"));
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "retire", "--help", NULL, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "retire BATTERY --reason TEXT"));
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "help", "top", NULL, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "k acknowledge"));
    free(out);
    free(err);
}
END_TEST

START_TEST(no_station_exits_3_with_advice)
{
    const char *argv[] = { swapctl, "--socket", "/nonexistent/swapd.sock", "status", NULL };
    char *out, *err;
    ck_assert_int_eq(run_prog(argv, &out, &err, (uid_t)-1), 3);
    ck_assert_ptr_nonnull(strstr(err, "no socket at /nonexistent/swapd.sock. Is swapd running"));
    free(out);
    free(err);
}
END_TEST

START_TEST(socket_from_the_environment_is_used)
{
    setenv("SWAPD_SOCKET", sock, 1);
    const char *argv[] = { swapctl, "status", NULL };
    char *out, *err;
    ck_assert_int_eq(run_prog(argv, &out, &err, (uid_t)-1), 0);
    ck_assert_ptr_nonnull(strstr(out, "Execute"));
    free(out);
    free(err);
    unsetenv("SWAPD_SOCKET");
}
END_TEST

START_TEST(silent_station_times_out_with_exit_4)
{
    char mute[400];
    snprintf(mute, sizeof mute, "%s/mute.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", mute);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 4), 0);     /* accepts (in the kernel), never answers */
    const char *argv[] = { swapctl, "--socket", mute, "--timeout", "0.3", "status", NULL };
    char *out, *err;
    long long t0 = proc_now_ms();
    ck_assert_int_eq(run_prog(argv, &out, &err, (uid_t)-1), 4);
    ck_assert_int_lt(proc_now_ms() - t0, 3000);
    ck_assert_ptr_nonnull(strstr(err, "no reply from swapd within 0.3 s"));
    free(out);
    free(err);
    close(fd);
}
END_TEST

/* ---- authorisation ----------------------------------------------------------------- */

START_TEST(commands_from_users_not_allowed_are_refused_and_logged)
{
    /* allow-list without the test's uid: reads work, commands do not */
    start_fake("", 0660);
    json_t *r = ctl_json(0, "status", NULL, NULL, NULL);
    json_decref(r);
    r = ctl_json(1, "hold", NULL, NULL, NULL);
    ck_assert_str_eq(error_code(r), CTLPROTO_ERR_NOT_PERMITTED);
    json_decref(r);
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "retire", "SWP-5A000001", "--reason", "test", NULL), 1);
    ck_assert_ptr_nonnull(strstr(err, "may watch but not command this station"));
    free(out);
    free(err);
    char needle[96];
    snprintf(needle, sizeof needle, "control: REFUSED hold from uid %u", (unsigned)getuid());
    ck_assert_int_eq(proc_wait_text(log_path, needle, fake_pid, 3000), 0);
    snprintf(needle, sizeof needle, "control: REFUSED retire from uid %u", (unsigned)getuid());
    ck_assert_int_eq(proc_wait_text(log_path, needle, fake_pid, 3000), 0);
    r = ctl_json(0, "status", NULL, NULL, NULL);
    ck_assert_str_eq(result_str(r, "state"), "Execute");   /* nothing changed */
    json_decref(r);
}
END_TEST

START_TEST(another_user_may_read_but_not_command)
{
    if (getuid() != 0)
        return;   /* needs root to act as another user */
    start_fake("root", 0666);
    chmod(dir, 0755);
    const uid_t nobody = 65534;
    const char *read_argv[] = { swapctl, "--socket", sock, "--json", "status", NULL };
    const char *cmd_argv[] = { swapctl, "--socket", sock, "--json", "abort", NULL };
    char *out, *err;
    ck_assert_int_eq(run_prog(read_argv, &out, &err, nobody), 0);
    free(out);
    free(err);
    ck_assert_int_eq(run_prog(cmd_argv, &out, &err, nobody), 1);
    ck_assert_ptr_nonnull(strstr(out, "\"not_permitted\""));
    free(out);
    free(err);
    ck_assert_int_eq(proc_wait_text(log_path, "control: REFUSED abort from uid 65534", fake_pid, 3000), 0);
}
END_TEST

/* ---- events ------------------------------------------------------------------------ */

START_TEST(events_follow_prints_new_events_until_interrupted)
{
    char out_path[400];
    snprintf(out_path, sizeof out_path, "%s/follow.txt", dir);
    char *argv[] = { swapctl, "--socket", sock, "--json", "events", "--follow", NULL };
    pid_t pid = proc_spawn(argv, out_path);
    ck_assert_int_eq(proc_wait_text(out_path, "\"following\":true", pid, 5000), 0);
    ck_assert_int_eq(fakestation_send(fake_ctl, "advance"), 0);
    ck_assert_int_eq(fakestation_send(fake_ctl, "alarm door_open guard door opened"), 0);
    ck_assert_int_eq(proc_wait_text(out_path, "step fetch_fresh -> standby", pid, 5000), 0);
    ck_assert_int_eq(proc_wait_text(out_path, "door_open", pid, 5000), 0);
    int status = proc_kill_wait(pid, SIGINT);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    char *text = slurp(out_path);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_t *m = json_loads(line, 0, NULL);
        char why[256];
        ck_assert_msg(m, "not JSON: %s", line);
        if (lines == 0)
            ck_assert_msg(ctlproto_check_reply("events", m, why, sizeof why) == 0, "%s", why);
        else
            ck_assert_msg(ctlproto_check_event(m, why, sizeof why) == 0, "%s: %s", why, line);
        json_decref(m);
    }
    ck_assert_int_ge(lines, 3);
    free(text);
}
END_TEST

START_TEST(events_since_filters_by_time)
{
    json_t *r = ctl_json(0, "events", "--since", "1h", NULL);
    ck_assert_int_ge(json_array_size(json_object_get(json_object_get(r, "result"), "events")), 1);
    json_decref(r);
    char future[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(future, sizeof future, "%lld", (long long)ts.tv_sec * 1000 + 3600000);
    r = ctl_json(0, "events", "--since", future, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(r, "result"), "events")), 0);
    json_decref(r);
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "events", "--since", "1h", NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "alarm 1 charger_hot"));
    free(out);
    free(err);
}
END_TEST

/* ---- top --------------------------------------------------------------------------- */

START_TEST(top_without_a_terminal_prints_plain_status_blocks)
{
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "top", "--count", "2", "--interval", "0.1"), 0);
    char *second = strstr(out, "== swapd");
    ck_assert_ptr_nonnull(second);
    ck_assert_ptr_nonnull(strstr(second + 1, "== swapd"));
    ck_assert_ptr_nonnull(strstr(out, "Execute (production mode)"));
    ck_assert_ptr_nonnull(strstr(out, "Step 1/12 fetch_fresh"));
    for (int s = 1; s <= 8; s++) {
        char row[32];
        snprintf(row, sizeof row, "Slot %2d SWP-%08X", s, 0x5A000000u + (unsigned)s);
        ck_assert_msg(strstr(out, row), "%s missing:\n%s", row, out);
    }
    ck_assert_ptr_nonnull(strstr(out, "Alarms: #1 warning charger_hot"));
    free(out);
    free(err);
}
END_TEST

static char tmux_sock[400];

static int tmux(char **out, const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5, const char *a6)
{
    const char *argv[] = { "tmux", "-S", tmux_sock, a1, a2, a3, a4, a5, a6, NULL };
    return run_prog(argv, out, NULL, (uid_t)-1);
}

/* Polls the screen until it contains every needle (NULL-terminated); returns the last
 * capture (free it). */
static char *await_screen(const char *const *needles, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    char *screen = NULL;
    for (;;) {
        free(screen);
        screen = NULL;
        tmux(&screen, "capture-pane", "-p", "-t", "top", NULL, NULL);
        bool all = screen != NULL;
        for (int i = 0; all && needles[i]; i++)
            all = strstr(screen, needles[i]) != NULL;
        if (all || proc_now_ms() > end)
            return screen;
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

static bool screen_has(const char *screen, const char *needle)
{
    return screen && strstr(screen, needle);
}

static const char *station_state(void)
{
    static char state[32];
    json_t *r = ctl_json(0, "status", NULL, NULL, NULL);
    snprintf(state, sizeof state, "%s", result_str(r, "state"));
    json_decref(r);
    return state;
}

START_TEST(top_in_a_terminal_follows_the_swap_and_holds_on_h)
{
    snprintf(tmux_sock, sizeof tmux_sock, "%s/tmux.sock", dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s --socket %s top --interval 0.2", swapctl, sock);
    setenv("TERM", "xterm-256color", 1);
    const char *argv[] = { "tmux", "-S", tmux_sock, "new-session", "-d", "-s", "top", "-x", "80",
                           "-y", "24", cmd, NULL };
    ck_assert_int_eq(run_prog(argv, NULL, NULL, (uid_t)-1), 0);

    /* state, step and every slot */
    const char *first[] = { "Execute", "Step 1/12 fetch_fresh", "SWP-5A000008", NULL };
    char *screen = await_screen(first, 10000);
    ck_assert_msg(screen_has(screen, "Step 1/12 fetch_fresh"), "screen:\n%s", screen);
    ck_assert(screen_has(screen, "Execute"));
    for (int s = 1; s <= 8; s++) {
        char row[32];
        snprintf(row, sizeof row, "%4d SWP-%08X", s, 0x5A000000u + (unsigned)s);
        ck_assert_msg(screen_has(screen, row), "slot %d missing:\n%s", s, screen);
    }
    ck_assert(screen_has(screen, "charger_hot"));
    ck_assert(screen_has(screen, "h hold  u unhold  a abort  r reset  k ack"));
    free(screen);

    /* the swap progresses: the fresh battery leaves slot 8, the step moves on */
    ck_assert_int_eq(fakestation_send(fake_ctl, "advance"), 0);
    const char *second[] = { "Step 2/12 standby", "   8 -", NULL };
    screen = await_screen(second, 10000);
    ck_assert_msg(screen_has(screen, "Step 2/12 standby"), "screen:\n%s", screen);
    ck_assert_msg(screen_has(screen, "   8 -"), "slot 8 not empty:\n%s", screen);
    ck_assert(!screen_has(screen, "SWP-5A000008"));
    free(screen);

    /* h holds the station */
    ck_assert_int_eq(tmux(NULL, "send-keys", "-t", "top", "h", NULL, NULL), 0);
    const char *held[] = { "Held", NULL };
    screen = await_screen(held, 10000);
    ck_assert_msg(screen_has(screen, "Held"), "screen:\n%s", screen);
    free(screen);
    ck_assert_str_eq(station_state(), "Held");

    /* abort asks first; anything but y cancels */
    ck_assert_int_eq(tmux(NULL, "send-keys", "-t", "top", "a", NULL, NULL), 0);
    const char *ask[] = { "Press y to abort", NULL };
    screen = await_screen(ask, 10000);
    ck_assert_msg(screen_has(screen, "Press y to abort"), "screen:\n%s", screen);
    free(screen);
    ck_assert_int_eq(tmux(NULL, "send-keys", "-t", "top", "n", NULL, NULL), 0);
    const char *cancelled[] = { "abort cancelled", NULL };
    screen = await_screen(cancelled, 10000);
    ck_assert(screen_has(screen, "abort cancelled"));
    free(screen);
    ck_assert_str_eq(station_state(), "Held");

    /* k acknowledges the alarm, u unholds */
    ck_assert_int_eq(tmux(NULL, "send-keys", "-t", "top", "k", NULL, NULL), 0);
    const char *acked[] = { "(acked)", NULL };
    screen = await_screen(acked, 10000);
    ck_assert_msg(screen_has(screen, "charger_hot (acked)"), "screen:\n%s", screen);
    free(screen);
    ck_assert_int_eq(tmux(NULL, "send-keys", "-t", "top", "u", NULL, NULL), 0);
    const char *running[] = { "unhold accepted", NULL };
    screen = await_screen(running, 10000);
    free(screen);
    ck_assert_str_eq(station_state(), "Execute");

    /* a smaller window redraws without garbage, q quits */
    ck_assert_int_eq(tmux(NULL, "resize-window", "-t", "top", "-x", "60", NULL), 0);
    const char *small[] = { "q quit", NULL };
    screen = await_screen(small, 5000);
    free(screen);
    ck_assert_int_eq(tmux(NULL, "send-keys", "-t", "top", "q", NULL, NULL), 0);
    long long end = proc_now_ms() + 5000;
    while (tmux(NULL, "has-session", "-t", "top", NULL, NULL, NULL) == 0 && proc_now_ms() < end) {
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
    ck_assert_int_ne(tmux(NULL, "has-session", "-t", "top", NULL, NULL, NULL), 0);
    tmux(NULL, "kill-server", NULL, NULL, NULL, NULL, NULL);
}
END_TEST

/* The screen's line that contains needle, or NULL (static storage). */
static const char *screen_line(const char *screen, const char *needle)
{
    static char line[512];
    const char *at = screen ? strstr(screen, needle) : NULL;
    if (!at)
        return NULL;
    const char *b = at, *e = strchr(at, '\n');
    while (b > screen && b[-1] != '\n')
        b--;
    size_t n = e ? (size_t)(e - b) : strlen(b);
    snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), b);
    return line;
}

/* At 60x15 every pane an operator needs is there, nothing overwrites anything and the
 * key help is whole; below the floor the view says how much it needs. */
START_TEST(top_degrades_on_small_terminals)
{
    snprintf(tmux_sock, sizeof tmux_sock, "%s/tmux.sock", dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s --socket %s top --interval 0.2", swapctl, sock);
    setenv("TERM", "xterm-256color", 1);
    const char *argv[] = { "tmux", "-S", tmux_sock, "new-session", "-d", "-s", "top", "-x", "60",
                           "-y", "15", cmd, NULL };
    ck_assert_int_eq(run_prog(argv, NULL, NULL, (uid_t)-1), 0);
    const char *want[] = { "Execute", "mode production", "Alarms (1)", "charger_hot", "Drones",
                           "Queue: 2", "Magazine", "q quit", NULL };
    char *screen = await_screen(want, 10000);
    for (int i = 0; want[i]; i++)
        ck_assert_msg(screen_has(screen, want[i]), "%s missing at 60x15:\n%s", want[i], screen);
    /* the header keeps the swap; the clock, where it does not fit, gives way */
    const char *head = screen_line(screen, "swapd");
    ck_assert_msg(head && strstr(head, "swap 41  drone 1"), "header: %s\n%s", head, screen);
    /* the key help is one of the variants, whole */
    const char *keys = screen_line(screen, "q quit");
    ck_assert_msg(keys && strstr(keys, " h hold u unhold a abort r reset k ack q quit"), "keys: %s", keys);
    /* 12-character ids whole in the drone list and the magazine */
    ck_assert_msg(screen_has(screen, "SWP-5A000009"), "drone's pack id cut:\n%s", screen);
    ck_assert_msg(screen_has(screen, "   1 SWP-5A000001"), "slot 1 missing:\n%s", screen);
    free(screen);

    const char *shrink[] = { "tmux", "-S", tmux_sock, "resize-window", "-t", "top", "-x", "30", "-y", "8", NULL };
    ck_assert_int_eq(run_prog(shrink, NULL, NULL, (uid_t)-1), 0);
    const char *tiny[] = { "needs 40x10", "30x8", NULL };
    screen = await_screen(tiny, 5000);
    ck_assert_msg(screen_has(screen, "needs 40x10") && screen_has(screen, "30x8"), "at 30x8:\n%s", screen);
    free(screen);
    /* and grows back */
    const char *grow[] = { "tmux", "-S", tmux_sock, "resize-window", "-t", "top", "-x", "80", "-y", "24", NULL };
    ck_assert_int_eq(run_prog(grow, NULL, NULL, (uid_t)-1), 0);
    const char *big[] = { "Magazine", "Events", "up/down select  q quit", NULL };
    screen = await_screen(big, 5000);
    ck_assert_msg(screen_has(screen, "up/down select  q quit"), "at 80x24:\n%s", screen);
    free(screen);
    tmux(NULL, "send-keys", "-t", "top", "q", NULL, NULL);
    tmux(NULL, "kill-server", NULL, NULL, NULL, NULL, NULL);
}
END_TEST

/* --plain prints the slots as a table whose columns line up with 12-character ids. */
START_TEST(top_plain_columns_line_up)
{
    char *out, *err;
    /* the fresh pack leaves slot 8: an empty slot ("-") among 12-character ids */
    ck_assert_int_eq(fakestation_send(fake_ctl, "advance"), 0);
    ck_assert_int_eq(ctl(&out, &err, "top", "--plain", "--count", "1", NULL), 0);
    long col_soc = -1;
    int rows = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "Slot ", 5))
            continue;
        char *bracket = strchr(line, '[');
        ck_assert_ptr_nonnull(bracket);
        if (col_soc < 0)
            col_soc = bracket - line;
        ck_assert_msg(bracket - line == col_soc, "column of [ moved: %s", line);
        rows++;
    }
    ck_assert_int_eq(rows, 8);
    free(out);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("swapctl");
    TCase *reads = tcase_create("reads");
    tcase_add_checked_fixture(reads, setup, teardown);
    tcase_set_timeout(reads, 30);
    tcase_add_test(reads, every_read_replies_as_the_schema_says);
    tcase_add_test(reads, unknown_battery_is_refused_with_exit_1);
    tcase_add_test(reads, slots_print_as_an_aligned_table);
    tcase_add_test(reads, status_prints_state_step_and_progress);
    suite_add_tcase(s, reads);
    TCase *cmds = tcase_create("commands");
    tcase_add_checked_fixture(cmds, setup, teardown);
    tcase_set_timeout(cmds, 30);
    tcase_add_test(cmds, every_command_acts_on_the_station_as_documented);
    tcase_add_test(cmds, accepted_and_refused_commands_explain_themselves);
    tcase_add_loop_test(cmds, usage_errors_exit_2_and_say_what_is_wrong, 0,
                        (int)(sizeof usage / sizeof usage[0]));
    tcase_add_test(cmds, help_documents_commands_and_exit_codes);
    tcase_add_test(cmds, no_station_exits_3_with_advice);
    tcase_add_test(cmds, socket_from_the_environment_is_used);
    tcase_add_test(cmds, silent_station_times_out_with_exit_4);
    suite_add_tcase(s, cmds);
    TCase *auth = tcase_create("authorisation");
    tcase_add_checked_fixture(auth, setup_dir, teardown);
    tcase_set_timeout(auth, 30);
    tcase_add_test(auth, commands_from_users_not_allowed_are_refused_and_logged);
    tcase_add_test(auth, another_user_may_read_but_not_command);
    suite_add_tcase(s, auth);
    TCase *ev = tcase_create("events");
    tcase_add_checked_fixture(ev, setup, teardown);
    tcase_set_timeout(ev, 30);
    tcase_add_test(ev, events_follow_prints_new_events_until_interrupted);
    tcase_add_test(ev, events_since_filters_by_time);
    suite_add_tcase(s, ev);
    TCase *top = tcase_create("top");
    tcase_add_checked_fixture(top, setup, teardown);
    tcase_set_timeout(top, 60);
    tcase_add_test(top, top_without_a_terminal_prints_plain_status_blocks);
    tcase_add_test(top, top_in_a_terminal_follows_the_swap_and_holds_on_h);
    tcase_add_test(top, top_degrades_on_small_terminals);
    tcase_add_test(top, top_plain_columns_line_up);
    suite_add_tcase(s, top);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
