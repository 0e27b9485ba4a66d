/* `swapctl top` in a real terminal against the real swapd with drones swapping: the
 * test runs it in tmux (80x24), reads the screen with capture-pane, and checks that the
 * state, the current step and every slot appear and change as a swap progresses, and
 * that the hold key holds the station and the unhold key lets it go on. Every wait
 * polls the screen or the station; nothing sleeps a fixed time to synchronise. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "rig.h"

#define RTF "3"
#define CONFIG "tests/data/swapd-e2e.ini"
#define SESSION "top"

static struct rig r;
static char tmux_sock[RIG_PATH + 16];
static bool tmux_started;

/* Runs tmux on this test's own server socket; its output (if any) into out. Returns
 * the exit status. */
static int tmux(char *out, size_t size, const char *const *args)
{
    char path[RIG_PATH + 16];
    snprintf(path, sizeof path, "%s/tmux.out", r.dir);
    const char *argv[24] = { "tmux", "-S", tmux_sock };
    int n = 3;
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("TERM", "xterm", 0);
        execvp("tmux", (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (out) {
        FILE *f = fopen(path, "r");
        size_t len = f ? fread(out, 1, size - 1, f) : 0;
        out[len] = 0;
        if (f)
            fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void screen(char *out, size_t size)
{
    const char *args[] = { "capture-pane", "-p", "-t", SESSION, NULL };
    ck_assert_msg(tmux(out, size, args) == 0, "capture-pane failed: %s", out);
}

static void press(const char *key)
{
    const char *args[] = { "send-keys", "-t", SESSION, key, NULL };
    ck_assert_int_eq(tmux(NULL, 0, args), 0);
}

static void start_station(void)
{
    memset(&r, 0, sizeof r);
    tmux_started = false;
    ck_assert_msg(rig_start_sim(&r, RTF) == 0, "%s", r.err);
    ck_assert_msg(rig_start_drones(&r, "2", "3") == 0, "%s", r.err);
    ck_assert_msg(rig_start_swapd(&r, CONFIG, true) == 0, "%s", r.err);
    snprintf(tmux_sock, sizeof tmux_sock, "%s/tmux.sock", r.dir);
    char swapctl[512], cmd[1400];
    snprintf(cmd, sizeof cmd, "%s --socket %s top --interval 0.2", proc_bin("swapctl", swapctl, sizeof swapctl),
             r.swapd_sock);
    const char *args[] = { "-f", "/dev/null", "new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24", cmd, NULL };
    char out[512];
    ck_assert_msg(tmux(out, sizeof out, args) == 0, "tmux new-session: %s", out);
    tmux_started = true;
}

static void stop_station(void)
{
    if (tmux_started) {
        const char *args[] = { "kill-server", NULL };
        tmux(NULL, 0, args);
    }
    rig_stop_all(&r);
}

/* The text after "Step " on the step row: "3/14 take_fresh", or "-". */
static void step_of(const char *scr, char *out, size_t size)
{
    const char *p = strstr(scr, "\nStep ");
    out[0] = 0;
    if (!p)
        return;
    p += 6;
    size_t n = 0;
    /* index and name: up to the second space */
    int spaces = 0;
    while (p[n] && p[n] != '\n' && n + 1 < size) {
        if (p[n] == ' ' && ++spaces == 2)
            break;
        n++;
    }
    memcpy(out, p, n);
    out[n] = 0;
}

/* The screen row of slot s (1-based) in the magazine table, or "". */
static void slot_row(const char *scr, int s, char *out, size_t size)
{
    char head[16];
    snprintf(head, sizeof head, "\n%4d ", s);
    const char *p = strstr(scr, head);
    out[0] = 0;
    if (!p)
        return;
    p++;
    size_t n = strcspn(p, "\n");
    if (n > 48)
        n = 48;   /* the magazine table only; drones and alarms share the row on the right */
    if (n >= size)
        n = size - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

static bool screen_has(const char *needle, int timeout_ms, char *scr, size_t size)
{
    long long end = proc_now_ms() + timeout_ms;
    for (;;) {
        screen(scr, size);
        if (strstr(scr, needle))
            return true;
        if (proc_now_ms() > end)
            return false;
        proc_nap_ms(30);
    }
}

static const char *station_state(void)
{
    static char st[32];
    json_t *s = rig_status(&r);
    snprintf(st, sizeof st, "%s", s ? json_string_value(json_object_get(s, "state")) : "?");
    json_decref(s);
    return st;
}

START_TEST(top_shows_state_step_and_every_slot_changing_during_a_swap)
{
    char scr[8192];
    ck_assert_msg(screen_has("Magazine", 10000, scr, sizeof scr), "top did not draw:\n%s", scr);
    ck_assert_msg(screen_has("mode production", 10000, scr, sizeof scr), "no mode:\n%s", scr);
    for (int s = 1; s <= 8; s++) {
        char row[128];
        slot_row(scr, s, row, sizeof row);
        ck_assert_msg(row[0], "slot %d missing:\n%s", s, scr);
    }
    /* Watch the screen through the swaps: the step row names several steps, the state
     * shown changes, and some slot empties and later holds a pack again. */
    char steps_seen[16][48], states_seen[8][16];
    int n_steps = 0, n_states = 0, emptied = 0, refilled = 0;
    long long end = proc_now_ms() + 45000;
    while (proc_now_ms() < end && !(n_steps >= 3 && n_states >= 2 && refilled)) {
        screen(scr, sizeof scr);
        char step[48];
        step_of(scr, step, sizeof step);
        bool known = !step[0];
        for (int i = 0; i < n_steps && !known; i++)
            known = !strcmp(steps_seen[i], step);
        if (!known && n_steps < 16)
            snprintf(steps_seen[n_steps++], sizeof steps_seen[0], "%s", step);
        char state[16] = "";
        sscanf(scr, "swapd %15s", state);
        known = !state[0];
        for (int i = 0; i < n_states && !known; i++)
            known = !strcmp(states_seen[i], state);
        if (!known && n_states < 8)
            snprintf(states_seen[n_states++], sizeof states_seen[0], "%s", state);
        for (int s = 1; s <= 8; s++) {
            char row[128];
            slot_row(scr, s, row, sizeof row);
            bool empty = strstr(row, "empty") != NULL;
            if (empty)
                emptied |= 1 << s;
            else if (emptied >> s & 1 && row[0])
                refilled |= 1 << s;
        }
        proc_nap_ms(30);
    }
    printf("top: %d step rows seen (", n_steps);
    for (int i = 0; i < n_steps; i++)
        printf("%s%s", i ? ", " : "", steps_seen[i]);
    printf("); states:");
    for (int i = 0; i < n_states; i++)
        printf(" %s", states_seen[i]);
    printf("; slots emptied 0x%x, refilled 0x%x\n", (unsigned)emptied, (unsigned)refilled);
    ck_assert_msg(n_steps >= 3, "the step row did not follow the swap (%d seen):\n%s", n_steps, scr);
    ck_assert_msg(n_states >= 2, "the state shown never changed:\n%s", scr);
    ck_assert_msg(emptied, "no slot emptied during the swaps:\n%s", scr);
    ck_assert_msg(refilled, "no emptied slot was refilled:\n%s", scr);
}
END_TEST

START_TEST(the_hold_key_holds_the_station_and_unhold_releases_it)
{
    char scr[8192];
    ck_assert_msg(screen_has("Magazine", 10000, scr, sizeof scr), "top did not draw:\n%s", scr);
    long long end = proc_now_ms() + 15000;
    while (strcmp(station_state(), "Execute") && strcmp(station_state(), "Suspended") && proc_now_ms() < end)
        proc_nap_ms(50);
    press("h");
    end = proc_now_ms() + 15000;
    const char *st = station_state();
    while (strcmp(st, "Held") && strcmp(st, "Holding") && proc_now_ms() < end) {
        proc_nap_ms(30);
        st = station_state();
    }
    ck_assert_msg(!strcmp(st, "Held") || !strcmp(st, "Holding"), "h did not hold: state %s", st);
    ck_assert_msg(screen_has("Held", 15000, scr, sizeof scr), "top does not show Held:\n%s", scr);
    press("u");
    end = proc_now_ms() + 15000;
    st = station_state();
    while ((!strcmp(st, "Held") || !strcmp(st, "Holding")) && proc_now_ms() < end) {
        proc_nap_ms(30);
        st = station_state();
    }
    ck_assert_msg(strcmp(st, "Held") && strcmp(st, "Holding"), "u did not unhold: state %s", st);
    /* q ends top and with it the tmux session */
    press("q");
    end = proc_now_ms() + 5000;
    const char *args[] = { "has-session", "-t", SESSION, NULL };
    while (tmux(NULL, 0, args) == 0 && proc_now_ms() < end)
        proc_nap_ms(30);
    ck_assert_msg(tmux(NULL, 0, args) != 0, "q did not end top");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("top-swapd");
    TCase *tc = tcase_create("tmux");
    tcase_add_checked_fixture(tc, start_station, stop_station);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, top_shows_state_step_and_every_slot_changing_during_a_swap);
    tcase_add_test(tc, the_hold_key_holds_the_station_and_unhold_releases_it);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
