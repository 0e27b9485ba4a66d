/* The station's Sparkplug B edge node judged by a host application written from
 * docs/fleet.md and the Sparkplug 3.0 specification alone (tests/node/sparkplug_host,
 * Node.js on mqtt and sparkplug-payload; it shares no code with the station or swapfleet).
 * Each scenario starts its own mosquitto, swapsim, dronesim and swapd on free ports and
 * names the section it checks.
 *
 * make check runs the quick scenarios (SPARKPLUG_PEER unset); `make sparkplug-peer` runs
 * every one, the 30 s broker outage and the spool bound included (SPARKPLUG_PEER=all). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

/* One scenario at a time (each takes its own free ports; two at once can race for them). */
#define QUICK "birth,rebirth,kill-restart,commands,garbage,acl,state-silent-session-will"
#define RUN_TIMEOUT_MS (15 * 60 * 1000)

static int find_node(char *node, size_t size)
{
    const char *path = getenv("PATH");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(node, size, "%s/node", d);
        if (access(node, X_OK) == 0)
            return 0;
    }
    return -1;
}

START_TEST(the_host_peer_finds_what_the_documents_promise)
{
    char node[PATH_MAX], runner[PATH_MAX], modules[PATH_MAX], dir[PATH_MAX], log[PATH_MAX + 16];
    const char *src = getenv("SWAP_SRC");
    ck_assert_msg(src != NULL, "SWAP_SRC is not set (run through make)");
    ck_assert_msg(find_node(node, sizeof node) == 0, "node is not on PATH (make deps installs it)");
    snprintf(runner, sizeof runner, "%s/tests/node/sparkplug_host/run.js", src);
    snprintf(modules, sizeof modules, "%s/tests/node/node_modules/mqtt", src);
    ck_assert_msg(access(modules, R_OK) == 0, "npm module mqtt is missing (make deps installs it)");
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "sphost"), 0);
    snprintf(log, sizeof log, "%s/peer.log", dir);
    const char *which = getenv("SPARKPLUG_PEER");
    bool all = which && !strcmp(which, "all");
    char *argv[] = { node, runner, "--jobs", "1", "--only", QUICK, NULL };
    if (all)
        argv[4] = NULL;
    pid_t pid = proc_spawn(argv, log);
    ck_assert_int_gt(pid, 0);
    int status = -1;
    long long t0 = proc_now_ms();
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (proc_now_ms() - t0 > RUN_TIMEOUT_MS) {
            proc_kill_wait(pid, SIGKILL);
            status = -1;
            break;
        }
        proc_nap_ms(100);
    }
    FILE *f = fopen(log, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
        fputs(line, stdout);
    if (f)
        fclose(f);
    fflush(stdout);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the Sparkplug host peer found a disagreement (its lines above name the section)");
    proc_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sparkplug_host");
    TCase *tc = tcase_create("peer");
    tcase_set_timeout(tc, RUN_TIMEOUT_MS / 1000 + 60);
    tcase_add_test(tc, the_host_peer_finds_what_the_documents_promise);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
