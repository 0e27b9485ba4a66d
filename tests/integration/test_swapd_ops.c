/* The real daemon as an operations team meets it: one swapd per database (a second is
 * refused with its own exit code, even when the first one's socket file is gone), a
 * control socket that comes back after it was deleted, and a console that other local
 * users cannot fill up: two unprivileged uids holding every connection they are allowed
 * still leave root's status, hold and abort answered. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "rig.h"

#define RTF "3"
#define BASE_CONFIG "tests/data/swapd-e2e.ini"
#define MAX_PER_USER 8          /* [control] max_per_user default */
#define MAX_CLIENTS 16          /* [control] max_clients default */
#define RESERVED 4              /* [control] reserved default */
#define EXIT_RUNNING 3          /* swapd: another swapd runs on this database */

static struct rig r;
static char cfg[RIG_PATH + 16];

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

/* The end-to-end settings; everybody may connect (so other uids can read), only root
 * may command. */
static void write_config(void)
{
    char base[512];
    const char *src = getenv("SWAP_SRC");
    snprintf(base, sizeof base, "%s/%s", src && *src ? src : ".", BASE_CONFIG);
    char *text = slurp(base);
    ck_assert_msg(text[0], "cannot read %s", base);
    snprintf(cfg, sizeof cfg, "%s/swapd.ini", r.dir);
    FILE *f = fopen(cfg, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s\n[control]\nmode = 0666\nusers = root\ngroups =\n", text);
    fclose(f);
    free(text);
}

/* swapd's command line on the rig: the same for the first and any second instance
 * (db, sock: NULL for the rig's own). */
static pid_t spawn_swapd_as(const char *log, const char *db, const char *sock, const char *plant_host,
                             const char *link_dev)
{
    static char bin[512], plant[512], plantarg[64], link[RIG_PATH + 8];
    snprintf(plantarg, sizeof plantarg, "%s:%ld", plant_host, r.port);
    snprintf(link, sizeof link, "pty:%s", link_dev);
    char *argv[] = { (char *)proc_bin("swapd", bin, sizeof bin), "--config", cfg, "--plant-config",
                     (char *)proc_config("plant.ini", plant, sizeof plant), "--db", (char *)(db ? db : r.db),
                     "--control", (char *)(sock ? sock : r.swapd_sock), "--plant", plantarg, "--link", link, NULL };
    return proc_spawn(argv, log);
}

static pid_t spawn_swapd_on(const char *log, const char *db, const char *sock)
{
    return spawn_swapd_as(log, db, sock, "127.0.0.1", r.pty);
}

static pid_t spawn_swapd(const char *log) { return spawn_swapd_on(log, NULL, NULL); }

static void start_rig(void)
{
    memset(&r, 0, sizeof r);
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    ck_assert_int_eq(chmod(r.dir, 0755), 0);   /* other uids reach the socket */
    ck_assert_msg(rig_start_drones(&r, "2", "600") == 0, "%s", r.err);
    write_config();
    r.swapd = spawn_swapd(r.swapd_log);
    ck_assert_msg(proc_wait_path(r.swapd_sock, r.swapd, 10000) == 0, "swapd did not come up:\n%s",
                  slurp(r.swapd_log));
    json_t *s = NULL;
    for (long long end = proc_now_ms() + 10000; !s && proc_now_ms() < end; proc_nap_ms(20))
        s = rig_status(&r);
    ck_assert_msg(s, "swapd does not answer");
    json_decref(s);
}

static void stop_rig(void)
{
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}

/* Waits for pid to exit; its exit code, or -1 on timeout (then it is killed). */
static int exit_code_within(pid_t pid, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    int st;
    while (proc_now_ms() < end) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        proc_nap_ms(10);
    }
    proc_kill_wait(pid, SIGKILL);
    return -1;
}

/* A second swapd with the same arguments is refused, clearly, before it touches the
 * database, the plant or the socket; the first keeps serving. */
static void expect_second_refused(const char *when)
{
    char log[RIG_PATH + 16];
    snprintf(log, sizeof log, "%s/second.log", r.dir);
    unlink(log);
    pid_t second = spawn_swapd(log);
    int rc = exit_code_within(second, 10000);
    char *text = slurp(log);
    ck_assert_msg(rc == EXIT_RUNNING, "%s: second swapd exit %d, want %d:\n%s", when, rc, EXIT_RUNNING, text);
    ck_assert_msg(strstr(text, "another swapd") && strstr(text, "swapd.db.lock"), "%s: %s", when, text);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)r.swapd);
    ck_assert_msg(strstr(text, pid), "%s: the refusal does not name the running pid %d: %s", when, (int)r.swapd, text);
    free(text);
    ck_assert(proc_alive(r.swapd));
}

START_TEST(a_second_instance_is_refused)
{
    expect_second_refused("socket in place");
    json_t *s = rig_status(&r);
    ck_assert_msg(s, "the first swapd stopped answering");
    json_decref(s);
}
END_TEST

/* Another database and socket, the same plant and radio: still refused, so two
 * controllers never drive one robot. */
START_TEST(a_second_instance_on_the_same_plant_is_refused)
{
    char log[RIG_PATH + 16], db[RIG_PATH + 16], sock[RIG_PATH + 16];
    snprintf(log, sizeof log, "%s/other.log", r.dir);
    snprintf(db, sizeof db, "%s/other.db", r.dir);
    snprintf(sock, sizeof sock, "%s/other.sock", r.dir);
    pid_t other = spawn_swapd_on(log, db, sock);
    int rc = exit_code_within(other, 10000);
    char *text = slurp(log);
    char want[96];
    snprintf(want, sizeof want, "another swapd (pid %d) already drives the plant 127.0.0.1:%ld", (int)r.swapd, r.port);
    ck_assert_msg(rc == EXIT_RUNNING && strstr(text, want), "exit %d, want %d and \"%s\":\n%s", rc, EXIT_RUNNING,
                  want, text);
    free(text);
    ck_assert_msg(access(sock, F_OK) != 0, "the refused swapd made a socket");
    json_t *s = rig_status(&r);
    ck_assert_msg(s, "the first swapd stopped answering");
    json_decref(s);
}
END_TEST

/* A second swapd (its own database and socket) naming the same plant or the same radio
 * under another name: the plant as "localhost" or "::1" instead of "127.0.0.1", the
 * radio through a symlink to the same device. Refused, naming the running pid. */
static void expect_other_name_refused(const char *plant_host, const char *link_dev, const char *want_what)
{
    char log[RIG_PATH + 16], db[RIG_PATH + 16], sock[RIG_PATH + 16];
    snprintf(log, sizeof log, "%s/alias.log", r.dir);
    snprintf(db, sizeof db, "%s/alias.db", r.dir);
    snprintf(sock, sizeof sock, "%s/alias.sock", r.dir);
    unlink(log);
    pid_t other = spawn_swapd_as(log, db, sock, plant_host, link_dev);
    int rc = exit_code_within(other, 10000);
    char *text = slurp(log);
    char want[160];
    snprintf(want, sizeof want, "another swapd (pid %d) already drives the %s", (int)r.swapd, want_what);
    ck_assert_msg(rc == EXIT_RUNNING && strstr(text, want), "plant %s, link %s: exit %d, want %d and \"%s\":\n%s",
                  plant_host, link_dev, rc, EXIT_RUNNING, want, text);
    free(text);
    ck_assert_msg(access(sock, F_OK) != 0, "the refused swapd made a socket");
    ck_assert(proc_alive(r.swapd));
}

START_TEST(a_second_instance_naming_the_plant_or_radio_otherwise_is_refused)
{
    char plant[64];
    snprintf(plant, sizeof plant, "plant 127.0.0.1:%ld", r.port);
    expect_other_name_refused("localhost", "new", plant);   /* pty:new, a radio of its own */
    char link[RIG_PATH + 16];
    snprintf(link, sizeof link, "%s/radio", r.dir);
    ck_assert_int_eq(symlink(r.pty, link), 0);
    /* the plant under a name that is not the first's (a port nobody uses), the same radio */
    long port = r.port;
    r.port = port + 1;
    expect_other_name_refused("127.0.0.1", link, "drone link tty:");
    r.port = port;
    json_t *s = rig_status(&r);
    ck_assert_msg(s, "the first swapd stopped answering");
    json_decref(s);
}
END_TEST

START_TEST(a_removed_socket_is_made_again_and_a_second_instance_still_refused)
{
    struct stat before, after;
    ck_assert_int_eq(stat(r.swapd_sock, &before), 0);
    ck_assert_int_eq(unlink(r.swapd_sock), 0);
    /* the case: with the socket gone a second swapd must still not start */
    expect_second_refused("socket removed");
    ck_assert_msg(proc_wait_path(r.swapd_sock, r.swapd, 5000) == 0, "the socket did not come back:\n%s",
                  slurp(r.swapd_log));
    json_t *s = NULL;
    for (long long end = proc_now_ms() + 5000; !s && proc_now_ms() < end; proc_nap_ms(20))
        s = rig_status(&r);
    ck_assert_msg(s, "swapd does not answer on its new socket");
    json_decref(s);
    ck_assert_int_eq(stat(r.swapd_sock, &after), 0);
    ck_assert_msg(S_ISSOCK(after.st_mode) && (after.st_mode & 0777) == (before.st_mode & 0777),
                  "mode %o, was %o", after.st_mode & 0777, before.st_mode & 0777);
    ck_assert_msg(proc_wait_text(r.swapd_log, "created it again", r.swapd, 5000) == 0, "no warning logged:\n%s",
                  slurp(r.swapd_log));
}
END_TEST

/* ---- console capacity ------------------------------------------------------------- */

static int conn_open(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%.107s", r.swapd_sock);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A child as uid that opens n connections, sends nothing on them, reports on `ready`
 * and waits to be killed. */
static pid_t hog(unsigned uid, int n, int ready)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0)
            _exit(126);
        int opened = 0;
        for (int i = 0; i < n; i++)
            opened += conn_open() >= 0;
        char c = (char)opened;
        if (write(ready, &c, 1) != 1)
            _exit(125);
        for (;;)
            pause();
    }
    return pid;
}

/* One request on a fresh connection as uid (-1: ourselves); the reply or NULL. */
static json_t *request_as(int uid, const char *line)
{
    if (uid < 0)
        return rig_request(r.swapd_sock, line, 5000);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        if (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0)
            _exit(126);
        json_t *rep = rig_request(r.swapd_sock, line, 5000);
        char *text = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
        if (text && write(p[1], text, strlen(text)) < 0)
            _exit(125);
        _exit(0);
    }
    close(p[1]);
    char buf[4096];
    size_t have = 0;
    ssize_t n;
    while (have < sizeof buf - 1 && (n = read(p[0], buf + have, sizeof buf - 1 - have)) > 0)
        have += (size_t)n;
    buf[have] = 0;
    close(p[0]);
    waitpid(pid, NULL, 0);
    return have ? json_loads(buf, 0, NULL) : NULL;
}

static const char *error_of(const json_t *rep, const char *what)
{
    const json_t *e = json_object_get(rep, "error");
    return json_string_value(json_object_get(e, what));
}

START_TEST(other_users_holding_every_place_they_may_leave_root_its_commands)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    /* 65534 (nobody) and another uid with no account: both may read, neither command */
    pid_t a = hog(65534, MAX_PER_USER, p[1]);
    pid_t b = hog(65533, MAX_PER_USER, p[1]);
    char opened[2];
    ck_assert_int_eq(read(p[0], &opened[0], 1), 1);
    ck_assert_int_eq(read(p[0], &opened[1], 1), 1);
    close(p[0]);
    close(p[1]);
    ck_assert_int_eq(opened[0] + opened[1], 2 * MAX_PER_USER);

    /* The places open to readers are all taken: a third reader is refused and told why. */
    json_t *rep = NULL;
    for (long long end = proc_now_ms() + 5000; proc_now_ms() < end; proc_nap_ms(50)) {
        json_decref(rep);
        rep = request_as(65532, "{\"cmd\":\"status\"}");
        if (rep && json_is_false(json_object_get(rep, "ok")))
            break;
    }
    ck_assert_msg(rep && json_is_false(json_object_get(rep, "ok")), "a third reader was served");
    ck_assert_str_eq(error_of(rep, "code"), "too_many_clients");
    ck_assert_msg(strstr(error_of(rep, "message"), "kept for operators"), "%s", error_of(rep, "message"));
    json_decref(rep);

    /* Root still reads and commands: each request reaches the station's own logic (a
     * command may be refused for the state, never for lack of a place). */
    static const char *const requests[] = { "{\"cmd\":\"status\"}", "{\"cmd\":\"hold\"}",
                                            "{\"cmd\":\"abort\"}", "{\"cmd\":\"status\"}" };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        rep = request_as(-1, requests[i]);
        char *text = rep ? json_dumps(rep, JSON_COMPACT) : strdup("no reply");
        ck_assert_msg(rep && (json_is_true(json_object_get(rep, "ok")) ||
                              !strcmp(error_of(rep, "code"), "illegal_state")),
                      "root's %s: %s", requests[i], text);
        free(text);
        json_decref(rep);
    }
    rep = request_as(-1, "{\"cmd\":\"status\"}");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rep, "result"), "state")), "Aborted");
    json_decref(rep);

    proc_kill_wait(a, SIGKILL);
    proc_kill_wait(b, SIGKILL);
}
END_TEST

int main(void)
{
    if (geteuid() != 0) {
        printf("test_swapd_ops: needs root (switches uid for the console test); skipped\n");
        return EXIT_SUCCESS;
    }
    Suite *s = suite_create("swapd_ops");
    TCase *tc = tcase_create("ops");
    tcase_add_checked_fixture(tc, start_rig, stop_rig);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_second_instance_is_refused);
    tcase_add_test(tc, a_second_instance_on_the_same_plant_is_refused);
    tcase_add_test(tc, a_second_instance_naming_the_plant_or_radio_otherwise_is_refused);
    tcase_add_test(tc, a_removed_socket_is_made_again_and_a_second_instance_still_refused);
    tcase_add_test(tc, other_users_holding_every_place_they_may_leave_root_its_commands);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
