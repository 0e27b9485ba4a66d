/* The status page in a browser: headless Chromium driven by puppeteer-core
 * (tests/node/statuspage.js) against swapsim + dronesim + swapd with [http] on. The
 * node script waits for a swap, checks the page's state, a slot's SoC changing and an
 * alarm from an injected charger fault, and saves screenshots at tablet and desktop sizes
 * into build/artefacts/statuspage (kept, not committed). Missing node, puppeteer-core or
 * Chromium fails the test loudly (make deps installs them). */
#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "rig.h"
#include "web.h"

static void find_node(char *out, size_t size)
{
    const char *path = getenv("PATH");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/node", d);
        if (access(out, X_OK) == 0)
            return;
    }
    ck_abort_msg("node (Node.js) not found in PATH: the browser test needs it (make deps)");
}

START_TEST(the_page_follows_a_swap_a_charge_and_an_alarm)
{
    const char *src = getenv("SWAP_SRC");
    char cwd[PATH_MAX];
    if (!src || !*src)
        src = getcwd(cwd, sizeof cwd) ? cwd : ".";
    char mod[PATH_MAX + 64], script[PATH_MAX + 64], node[PATH_MAX], out[PATH_MAX + 64];
    snprintf(mod, sizeof mod, "%s/tests/node/node_modules/puppeteer-core/package.json", src);
    ck_assert_msg(access(mod, R_OK) == 0, "%s missing: run make deps (npm install --prefix tests/node)", mod);
    ck_assert_msg(access(getenv("CHROMIUM") ? getenv("CHROMIUM") : "/usr/bin/chromium", X_OK) == 0,
                  "chromium missing: run make deps");
    snprintf(script, sizeof script, "%s/tests/node/statuspage.js", src);
    snprintf(out, sizeof out, "%s/build/artefacts", src);
    mkdir(out, 0755);
    snprintf(out, sizeof out, "%s/build/artefacts/statuspage", src);
    mkdir(out, 0755);
    find_node(node, sizeof node);

    char tmp[256], urlfile[300], log[300];
    ck_assert_int_eq(proc_mkdtemp(tmp, sizeof tmp, "statuspage"), 0);
    snprintf(urlfile, sizeof urlfile, "%s/url", tmp);
    snprintf(log, sizeof log, "%s/browser.log", tmp);
    /* Niced: on a busy machine the browser must not starve the station (the plant's
     * watchdog trips at 300 ms). As root, Chromium would raise its own browser and GPU
     * processes to nice -8; without CAP_SYS_NICE it cannot. */
    char *plain[] = { "/usr/bin/nice", "-n", "10", node, script, urlfile, out, NULL };
    char *as_root[] = { "/usr/bin/setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice",
                        "/usr/bin/nice", "-n", "10", node, script, urlfile, out, NULL };
    bool root = geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0;
    pid_t pid = proc_spawn(root ? as_root : plain, log);
    ck_assert_msg(proc_wait_text(log, "{\"browser\":\"ready\"}", pid, 60000) == 0, "the browser did not start");

    struct rig r = { 0 };
    ck_assert_msg(rig_start_sim(&r, "1") == 0, "%s", r.err);
    ck_assert_msg(rig_start_drones(&r, "1", "2") == 0, "%s", r.err);
    ck_assert_msg(rig_start_swapd(&r, "tests/data/swapd-http.ini", true) == 0, "%s", r.err);
    int port = web_port_from_log(r.swapd_log, r.swapd, 10000);
    ck_assert_msg(port > 0, "swapd named no HTTP port (see %s)", r.swapd_log);
    /* the page opens on a running station (a page load is Chromium's busiest moment) */
    for (int k = 0; k < 300; k++) {
        json_t *st = rig_status(&r);
        const char *state = json_string_value(json_object_get(st, "state"));
        bool running = state && !strcmp(state, "Execute");
        json_decref(st);
        if (running)
            break;
        proc_nap_ms(100);
    }
    char tmpfile[320];
    snprintf(tmpfile, sizeof tmpfile, "%s.new", urlfile);
    FILE *uf = fopen(tmpfile, "w");
    ck_assert(uf);
    fprintf(uf, "http://127.0.0.1:%d/\n%s\n", port, r.sim_sock);
    fclose(uf);
    ck_assert_int_eq(rename(tmpfile, urlfile), 0);
    int ready = proc_wait_text(log, "{\"done\":true}", pid, 150000);
    int status = proc_stop(pid, 10000);
    FILE *f = fopen(log, "r");
    char text[8192] = "";
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    bool ok = ready == 0 && strstr(text, "\"check\":\"alarm\"") && strstr(text, "\"check\":\"soc\"");
    char swapd_log[4096] = "";
    if (!ok) {  /* the daemon's alarms and transitions say why, before the rig's logs go */
        char cmd[RIG_PATH + 64];
        snprintf(cmd, sizeof cmd, "grep -E 'alarm|state:' %s | tail -15", r.swapd_log);
        FILE *p = popen(cmd, "r");
        size_t k = p ? fread(swapd_log, 1, sizeof swapd_log - 1, p) : 0;
        swapd_log[k] = 0;
        if (p)
            pclose(p);
    }
    int stopped = rig_stop_all(&r);
    proc_rmtree(tmp);
    ck_assert_msg(ok, "the browser check failed (%d, status %d):\n%s\nswapd:\n%s", ready, status, text, swapd_log);
    ck_assert_msg(stopped == 0, "%s", r.err);
    char shot[PATH_MAX + 96];
    snprintf(shot, sizeof shot, "%s/tablet-768x1024.png", out);
    ck_assert_msg(access(shot, R_OK) == 0, "no tablet screenshot %s", shot);
    snprintf(shot, sizeof shot, "%s/desktop-1440x900.png", out);
    ck_assert_msg(access(shot, R_OK) == 0, "no desktop screenshot %s", shot);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("statuspage");
    TCase *tc = tcase_create("browser");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, the_page_follows_a_swap_a_charge_and_an_alarm);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
