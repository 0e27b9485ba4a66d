/* Conformance of the real station to docs/drone-protocol.md, judged by a drone written
 * from that document alone (tests/node/conformance, Node.js on node-mavlink; it shares
 * no code with the station or sim/drone). The runner starts its own swapsim, pty pair
 * and swapd for every scenario; each scenario names the section it checks.
 *
 * The scenarios are listed by `run.js --list` and run CONFORMANCE_JOBS at a time (default
 * 4) in the unchecked fixture, so the suite costs the longest scenarios, not their sum;
 * each Check test then reports one scenario with the runner's own explanation. Missing
 * node or node_modules fails loudly. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define MAX_SCENARIOS 128
#define SCENARIO_TIMEOUT_MS 180000

struct scenario {
    char name[96];
    char log[PATH_MAX];
    pid_t pid;
    int status;     /* exit status, -1 not run, -2 timed out */
    long long start_ms, wall_ms;
};

static struct scenario scenarios[MAX_SCENARIOS];
static int n_scenarios;
static char node[PATH_MAX], runner[PATH_MAX], workdir[PATH_MAX];
static char setup_error[512];

static int find_node(void)
{
    const char *path = getenv("PATH");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(node, sizeof node, "%s/node", d);
        if (access(node, X_OK) == 0)
            return 0;
    }
    return -1;
}

static int list_scenarios(void)
{
    char cmd[2 * PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --list", node, runner);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[256];
    while (fgets(line, sizeof line, p) && n_scenarios < MAX_SCENARIOS) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        struct scenario *s = &scenarios[n_scenarios++];
        snprintf(s->name, sizeof s->name, "%.90s", line);
        s->status = -1;
    }
    return pclose(p) == 0 ? 0 : -1;
}

static void start_one(struct scenario *s)
{
    snprintf(s->log, sizeof s->log, "%.3900s/%.90s.log", workdir, s->name);
    char *argv[] = { node, runner, s->name, NULL };
    s->start_ms = proc_now_ms();
    s->pid = proc_spawn(argv, s->log);
}

static void setup(void)
{
    const char *src = getenv("SWAP_SRC");
    char cwd[PATH_MAX];
    if (!src || !*src)
        src = getcwd(cwd, sizeof cwd) ? cwd : ".";
    if (find_node() != 0) {
        snprintf(setup_error, sizeof setup_error,
                 "node (Node.js) not found in PATH: the conformance peer needs it (make deps)");
        return;
    }
    char mod[PATH_MAX + 64];
    snprintf(mod, sizeof mod, "%s/tests/node/node_modules/node-mavlink/package.json", src);
    if (access(mod, R_OK) != 0) {
        snprintf(setup_error, sizeof setup_error,
                 "%.400s missing: run `npm install --prefix tests/node` (make deps)", mod);
        return;
    }
    snprintf(runner, sizeof runner, "%.3900s/tests/node/conformance/run.js", src);
    if (list_scenarios() != 0 || n_scenarios == 0) {
        snprintf(setup_error, sizeof setup_error, "`node %.300s --list` listed no scenario", runner);
        return;
    }
    if (proc_mkdtemp(workdir, sizeof workdir, "swap-conformance") != 0) {
        snprintf(setup_error, sizeof setup_error, "mkdtemp: %s", strerror(errno));
        return;
    }
    const char *j = getenv("CONFORMANCE_JOBS");
    int jobs = j && atoi(j) > 0 ? atoi(j) : 4;
    int next = 0, running = 0;
    while (next < n_scenarios || running > 0) {
        while (running < jobs && next < n_scenarios) {
            start_one(&scenarios[next++]);
            running++;
        }
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid < 0)
            break;
        if (pid == 0) {
            struct timespec nap = { 0, 50 * 1000000L };
            nanosleep(&nap, NULL);
        }
        for (int i = 0; i < n_scenarios; i++) {
            struct scenario *s = &scenarios[i];
            if (pid <= 0 || s->pid != pid) /* 0: none exited (unstarted ones have pid 0 too) */
                continue;
            s->wall_ms = proc_now_ms() - s->start_ms;
            s->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            s->pid = 0;
            running--;
        }
        /* A scenario that overstays its bound is stopped (its own pid only); the runner
         * stops the processes it started when it is terminated. */
        for (int i = 0; i < n_scenarios; i++) {
            struct scenario *s = &scenarios[i];
            if (s->pid > 0 && proc_now_ms() - s->start_ms > SCENARIO_TIMEOUT_MS) {
                proc_stop(s->pid, 5000);
                s->status = -2;
                s->pid = 0;
                running--;
            }
        }
    }
}

static void teardown(void)
{
    if (workdir[0] && !getenv("CONFORMANCE_KEEP"))
        proc_rmtree(workdir);
}

static void read_tail(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    long from = len > (long)size - 1 ? len - (long)size + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
}

START_TEST(scenario_passes)
{
    ck_assert_msg(!setup_error[0], "%s", setup_error);
    ck_assert_int_lt(_i, n_scenarios);
    struct scenario *s = &scenarios[_i];
    fprintf(stderr, "conformance: %-40s %s in %.1f s\n", s->name,
            s->status == 0 ? "pass" : "FAIL", s->wall_ms / 1000.0);
    if (s->status != 0) {
        char tail[3000];
        read_tail(s->log, tail, sizeof tail);
        fprintf(stderr, "---- %s (exit %d) ----\n%s\n", s->name, s->status, tail);
        ck_abort_msg("scenario %s failed (exit %d%s); its report is above", s->name, s->status,
                     s->status == -2 ? ", timed out" : "");
    }
}
END_TEST

int main(void)
{
    setup();
    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create("drone-protocol");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, scenario_passes, 0, n_scenarios > 0 ? n_scenarios : 1);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    teardown();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
