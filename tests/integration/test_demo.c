/* `make demo` as a newcomer meets it, non-interactively: DEMO_SWAPS=3 from a clean
 * clone of the repository ends after three swaps with a summary in which every battery
 * is accounted for, and leaves none of the processes it started running.
 * The clone runs its own demo script and configs with the programs this build made. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

/* Processes whose command line mentions dir (the demo's scratch directory). */
static int processes_mentioning(const char *dir)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[4096];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < len; i++)
            if (!buf[i])
                buf[i] = ' ';
        buf[len] = 0;
        if (strstr(buf, dir))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

START_TEST(demo_runs_three_swaps_from_a_clean_clone)
{
    char dir[256], clone[320], scratch[320], log[320], cmd[2048], bin[512];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swapd-demo-test"), 0);
    snprintf(clone, sizeof clone, "%s/clone", dir);
    snprintf(scratch, sizeof scratch, "%s/run", dir);
    snprintf(log, sizeof log, "%s/demo.log", dir);
    const char *src = getenv("SWAP_SRC") ? getenv("SWAP_SRC") : ".";
    snprintf(cmd, sizeof cmd, "git clone -q %s %s 2>&1", src, clone);
    ck_assert_msg(system(cmd) == 0, "git clone failed");

    /* The programs of this build; BIN is the parent of a program's path. */
    proc_bin("", bin, sizeof bin);
    bin[strlen(bin) - 1] = 0;
    char env_bin[600], env_dir[400];
    snprintf(env_bin, sizeof env_bin, "BIN=%s", bin);
    snprintf(env_dir, sizeof env_dir, "DEMO_DIR=%s", scratch);
    char script[400];
    snprintf(script, sizeof script, "%s/sim/demo/demo.sh", clone);
    char *argv[] = { "/usr/bin/env", "DEMO_SWAPS=3", "DEMO_SPEED=3", env_bin, env_dir, script, NULL };
    pid_t pid = proc_spawn(argv, log);
    int status = 0;
    long long end = proc_now_ms() + 240000;
    while (proc_now_ms() < end && waitpid(pid, &status, WNOHANG) == 0) {
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (proc_alive(pid)) {
        proc_stop(pid, 5000);
        ck_abort_msg("the demo did not finish in 240 s (log %s)", log);
    }
    char out[1 << 16];
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    fclose(f);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "demo exit status %d:\n%s", status, out);
    ck_assert_msg(strstr(out, "demo: summary: 3 swaps"), "no summary of 3 swaps:\n%s", out);
    ck_assert_msg(strstr(out, "demo: on-pad time mean"), "no on-pad times:\n%s", out);
    ck_assert_msg(strstr(out, " 0 unaccounted"), "a battery is unaccounted for:\n%s", out);
    ck_assert_msg(processes_mentioning(scratch) == 0, "the demo left processes running");
    ck_assert_msg(access(scratch, F_OK) != 0, "the demo left its scratch directory");
    proc_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("demo");
    TCase *tc = tcase_create("demo");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, demo_runs_three_swaps_from_a_clean_clone);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
