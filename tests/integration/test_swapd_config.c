/* swapd's configuration as an operator meets it: the reference in the docs is exactly
 * the keys the code knows, the shipped files validate, broken files are refused with
 * file:line, and an installed tree (DESTDIR layout) validates its own configs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

static const char *src(void)
{
    const char *s = getenv("SWAP_SRC");
    return s && *s ? s : ".";
}

/* Runs a shell command; returns its exit status and its output (stdout + stderr). */
static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "cannot open %s", path);
    static char buf[1 << 18];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

START_TEST(docs_reference_equals_the_key_tables)
{
    char bin[512], cmd[1024], path[600];
    static char out[1 << 18];
    snprintf(cmd, sizeof cmd, "%s --config-reference", proc_bin("swapd", bin, sizeof bin));
    ck_assert_int_eq(run(cmd, out, sizeof out), 0);
    snprintf(path, sizeof path, "%s/docs/configuration.md", src());
    const char *doc = slurp(path);
    ck_assert_msg(!strcmp(doc, out),
                  "docs/configuration.md differs from the code's key tables; regenerate it with "
                  "build/bin/swapd --config-reference > docs/configuration.md");
}
END_TEST

static const char *const shipped[] = { "configs/swapd.ini", "configs/demo/swapd.ini", "tests/data/swapd-e2e.ini",
                                       "tests/data/swapd-drones.ini" };

START_TEST(shipped_configs_validate)
{
    char bin[512], cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s/%s --plant-config %s/configs/plant.ini 2>&1",
             proc_bin("swapd", bin, sizeof bin), src(), shipped[_i], src());
    ck_assert_msg(run(cmd, out, sizeof out) == 0, "%s: %s", shipped[_i], out);
    ck_assert_ptr_nonnull(strstr(out, "configuration ok"));
}
END_TEST

static const struct {
    const char *text, *expect;
} broken[] = {
    { "[scan]\nperiod_ms = 0\n", ":2: [scan] period_ms = \"0\": out of range" },
    { "[scan]\nperiod = 20\n", ":2: [scan] period: unknown key" },
    { "[drone_link]\nendpoint = serial:/dev/ttyUSB0\n", "missing baud rate" },
    { "[drone_link]\nkey = 1234\n", "key must be 64 hex digits" },
    { "[drone_link]\nallow = 10,x\n", "not a system id" },
    { "[control]\nmode = 0999\n", "not an octal mode" },
    { "[eligibility]\nreserve_soc = NaN\n", "not a finite number" },
    /* checks across keys name the line of the key involved */
    { "[plant_link]\nbackoff_min_ms = 5000\n\nbackoff_max_ms = 100\n",
      ":4: [plant_link] backoff_max_ms must not be below backoff_min_ms" },
    { "[plant_link]\nbackoff_min_ms = 5000\n", ":2: [plant_link] backoff_max_ms must not be below" },
    { "[estimator]\n; narrow window\ndcir_soc_min = 0.9\n", ":3: [estimator] dcir_soc_min must be below" },
    /* decimal, not octal: 0100 and 090 are 100 and 90 (as octal, 64 < 72 would pass) */
    { "[plant_link]\nbackoff_min_ms = 0100\nbackoff_max_ms = 090\n", ":3: [plant_link] backoff_max_ms" },
    /* the daemon would refuse to start on it: so does the check */
    { "[control]\ngroup = nosuchgroup\n", ":2: [control] group \"nosuchgroup\": no such group" },
    { "[control]\nusers = root, nosuchuser\n", ":2: [control] users: no user \"nosuchuser\"" },
    /* console places: readers and one user never get them all */
    { "[control]\nmax_clients = 8\nreserved = 8\n", ":3: [control] reserved (8) must be below max_clients" },
    /* a line past libinih's own 200 bytes, then an error: reported at its own line */
    { "[drone_link]\n; the drones of the north field, the south field and the test range, listed by "
      "system id so that a visitor's drone never lands here; keep this list in step with the fleet "
      "register and its change log, reviewed every quarter by the operations lead\n"
      "allow = 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, "
      "32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55\n"
      "station_sysid = 0\n",
      ":4: [drone_link] station_sysid = \"0\": out of range" },
};

START_TEST(broken_config_is_refused_with_file_line_and_reason)
{
    char dir[256], ini[320], bin[512], cmd[2048], out[4096];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swapd-cfg"), 0);
    snprintf(ini, sizeof ini, "%s/swapd.ini", dir);
    FILE *f = fopen(ini, "w");
    fputs(broken[_i].text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s --plant-config %s/configs/plant.ini 2>&1",
             proc_bin("swapd", bin, sizeof bin), ini, src());
    int rc = run(cmd, out, sizeof out);
    proc_rmtree(dir);
    ck_assert_msg(rc == 2, "exit %d for %s", rc, broken[_i].text);
    ck_assert_msg(strstr(out, broken[_i].expect), "got \"%s\", want \"%s\"", out, broken[_i].expect);
}
END_TEST

/* A file with a NUL byte in a value, a directory given as --config, a socket path the
 * daemon could not bind: refused (exit 2) with the reason, never "configuration ok" on
 * defaults or on a cut value. */
START_TEST(nul_byte_and_directory_are_refused)
{
    char dir[256], ini[320], bin[512], cmd[2048], out[4096];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swapd-cfg"), 0);
    snprintf(ini, sizeof ini, "%s/swapd.ini", dir);
    static const char data[] = "[database]\npath = /var/lib/swapd/swapd.db\0.old\n";
    FILE *f = fopen(ini, "w");
    fwrite(data, 1, sizeof data - 1, f);
    fclose(f);
    proc_bin("swapd", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s --plant-config %s/configs/plant.ini 2>&1", bin, ini, src());
    int rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 2 && strstr(out, "swapd.ini:2: NUL byte"), "exit %d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s --plant-config %s/configs/plant.ini 2>&1", bin, dir, src());
    rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 2 && strstr(out, "not a regular file"), "exit %d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s/configs/swapd.ini --plant-config %s/configs/plant.ini "
             "--control %s/%0120d 2>&1", bin, src(), src(), dir, 0);
    rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 2 && strstr(out, "--control: path longer than 107 bytes"), "exit %d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s/configs/swapd.ini --plant-config %s 2>&1", bin, src(), dir);
    rc = run(cmd, out, sizeof out);
    ck_assert_msg(rc == 2 && strstr(out, "not a regular file"), "exit %d: %s", rc, out);
    proc_rmtree(dir);
}
END_TEST

START_TEST(installed_tree_validates_its_own_configs)
{
    char dir[256], bin[512], cmd[2048];
    static char out[1 << 16];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swapd-inst"), 0);
    /* The build directory is the parent of SWAP_BIN. */
    char build[512];
    snprintf(build, sizeof build, "%s", proc_bin("", bin, sizeof bin));
    char *slash = strrchr(build, '/');
    *slash = 0;
    slash = strrchr(build, '/');
    *slash = 0;
    snprintf(cmd, sizeof cmd, "make --no-print-directory -C %s install BUILD=%s DESTDIR=%s PREFIX=/usr 2>&1",
             src(), build, dir);
    ck_assert_msg(run(cmd, out, sizeof out) == 0, "make install failed: %s", out);
    snprintf(cmd, sizeof cmd,
             "%s/usr/bin/swapd --check-config --config %s/etc/swapd/swapd.ini --plant-config %s/etc/swapd/plant.ini 2>&1",
             dir, dir, dir);
    ck_assert_msg(run(cmd, out, sizeof out) == 0, "installed swapd: %s", out);
    snprintf(cmd, sizeof cmd, "test -x %s/usr/bin/swapctl && test -x %s/usr/bin/swapsim && test -f %s/usr/lib/systemd/system/swapd.service",
             dir, dir, dir);
    ck_assert_msg(run(cmd, out, sizeof out) == 0, "installed tree is incomplete");
    /* The service runs as its own account with no privileges: User= (or DynamicUser=),
     * never root, capabilities dropped, and the account comes with the install. */
    snprintf(cmd, sizeof cmd, "%s/usr/lib/systemd/system/swapd.service", dir);
    const char *unit = slurp(cmd);
    const char *user = strstr(unit, "\nUser=");
    ck_assert_msg(user || strstr(unit, "\nDynamicUser=yes"), "the unit names no User= or DynamicUser=");
    ck_assert_msg(!strstr(unit, "\nUser=root") && !strstr(unit, "\nUser=0\n"), "the unit runs swapd as root");
    ck_assert_msg(strstr(unit, "\nCapabilityBoundingSet=\n") && strstr(unit, "\nAmbientCapabilities=\n"),
                  "the unit keeps capabilities");
    ck_assert_msg(strstr(unit, "\nRestartPreventExitStatus=") && strstr(unit, " 3"),
                  "a second instance (exit 3) would be restarted in a loop");
    char account[64] = "";
    if (user)
        sscanf(user + 6, "%63[^\n]", account);
    snprintf(cmd, sizeof cmd, "test -f %s/usr/lib/sysusers.d/swapd.conf", dir);
    ck_assert_msg(run(cmd, out, sizeof out) == 0, "no sysusers.d file installed");
    if (account[0] && access("/usr/bin/systemd-sysusers", X_OK) == 0) {
        /* the installed sysusers.d file creates the unit's account (in the scratch root) */
        snprintf(cmd, sizeof cmd, "systemd-sysusers --root=%s 2>&1 && grep -q '^%s:' %s/etc/passwd", dir, account, dir);
        ck_assert_msg(run(cmd, out, sizeof out) == 0, "sysusers.d does not create user %s: %s", account, out);
    }
    /* systemd-analyze checks the unit where it can (it needs the binaries it names); an
     * unknown or misspelt setting is only a warning there, so any warning about the
     * unit itself fails too. */
    if (access("/usr/bin/systemd-analyze", X_OK) == 0) {
        snprintf(cmd, sizeof cmd, "sed 's|ExecStart=/usr/bin/|ExecStart=%s/usr/bin/|' %s/usr/lib/systemd/system/swapd.service > %s/swapd.service && "
                 "systemd-analyze verify --man=no %s/swapd.service 2>&1",
                 dir, dir, dir, dir);
        int rc = run(cmd, out, sizeof out);
        ck_assert_msg(rc == 0 && !strstr(out, "swapd.service:"), "systemd-analyze verify: %s", out);
        snprintf(cmd, sizeof cmd, "systemd-analyze security --offline=yes %s/swapd.service 2>&1 | grep 'Overall exposure'", dir);
        if (run(cmd, out, sizeof out) == 0)
            printf("installed unit: %s", out);
    }
    proc_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("swapd_config");
    TCase *tc = tcase_create("config");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, docs_reference_equals_the_key_tables);
    tcase_add_loop_test(tc, shipped_configs_validate, 0, (int)(sizeof shipped / sizeof shipped[0]));
    tcase_add_loop_test(tc, broken_config_is_refused_with_file_line_and_reason, 0,
                        (int)(sizeof broken / sizeof broken[0]));
    tcase_add_test(tc, nul_byte_and_directory_are_refused);
    tcase_add_test(tc, installed_tree_validates_its_own_configs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
