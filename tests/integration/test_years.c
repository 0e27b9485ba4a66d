/* Years of operation with the real daemon: a registry that has known 500 packs (most of
 * them retired) and holds history from before this start; swapd starts on it, serves,
 * commissions a pack it has never seen, lists the history of earlier runs, follows on
 * from it without a gap or a repeat, and writes one step row per step. And the limits:
 * slots past the register map are refused with a clear reason and an exit status
 * systemd does not restart on. */
#include <check.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dbread.h"
#include "proc.h"
#include "registry/registry.h"
#include "rig.h"

#define DAY_MS 86400000LL
#define N_KNOWN 500
#define N_SLOTS 8

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct registry_battery pack(uint32_t tag, struct registry_location loc)
{
    struct registry_battery b;
    memset(&b, 0, sizeof b);
    b.tag = tag;
    snprintf(b.serial, sizeof b.serial, "SWP-%08X", tag);
    b.rated_mah = 5000;
    b.cells = 6;
    b.capacity_mah = 5000;
    b.capacity_sd_mah = 250;
    b.dcir_mohm = 75;
    b.dcir_sd_mohm = 7.5;
    b.dcir_new_mohm = 75;
    b.loc = loc;
    return b;
}

/* The magazine's 8 packs in their slots (as swapsim has them), 492 retired packs, and an
 * event from three days ago. */
static void seed_registry(const char *path, int64_t now)
{
    struct registry_error err;
    struct registry *reg = registry_open(path, REGISTRY_OPEN_CREATE, &err);
    ck_assert_msg(reg, "%s", err.msg);
    ck_assert_int_eq(registry_batch_begin(reg), 0);
    for (int s = 0; s < N_SLOTS; s++) {
        struct registry_battery b = pack(0x5A000001u + (uint32_t)s, (struct registry_location){ REGISTRY_PLACE_SLOT, s + 1 });
        ck_assert_msg(registry_add_battery(reg, &b, now - 400 * DAY_MS) == 0, "%s", registry_last_error(reg));
    }
    for (int i = 0; i < N_KNOWN - N_SLOTS; i++) {
        uint32_t tag = 0x5C000001u + (uint32_t)i;
        struct registry_battery b = pack(tag, (struct registry_location){ REGISTRY_PLACE_UNKNOWN, 0 });
        ck_assert_int_eq(registry_add_battery(reg, &b, now - 400 * DAY_MS), 0);
        ck_assert_int_eq(registry_set_status(reg, tag, REGISTRY_RETIRED, "capacity below 80 %", now - 30 * DAY_MS), 0);
    }
    ck_assert_int_eq(registry_add_event(reg, now - 3 * DAY_MS, REGISTRY_INFO, "daemon",
                                        "history before the restart", NULL), 0);
    ck_assert_int_eq(registry_batch_commit(reg), 0);
    registry_close(reg);
}

static int64_t scalar(const char *db_path, const char *sql)
{
    char err[256];
    int64_t v = dbread_scalar(db_path, sql, err, sizeof err);
    ck_assert_msg(v != DBREAD_NONE, "%s", err);
    return v;
}

/* ---- a follower on the control socket ----------------------------------------------- */

struct follower {
    int fd;
    char buf[1 << 16];
    size_t have;
};

static void follower_open(struct follower *f, const char *sock)
{
    f->have = 0;
    f->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    ck_assert_int_lt(strlen(sock), sizeof a.sun_path);
    memcpy(a.sun_path, sock, strlen(sock) + 1);
    ck_assert_int_eq(connect(f->fd, (struct sockaddr *)&a, sizeof a), 0);
}

/* The next line as JSON, or NULL after timeout_ms. */
static json_t *follower_next(struct follower *f, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(f->buf, '\n', f->have);
        if (nl) {
            *nl = 0;
            json_error_t e;
            json_t *j = json_loads(f->buf, 0, &e);
            size_t used = (size_t)(nl - f->buf) + 1;
            memmove(f->buf, nl + 1, f->have - used);
            f->have -= used;
            return j;
        }
        long long left = end - proc_now_ms();
        struct pollfd p = { f->fd, POLLIN, 0 };
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return NULL;
        ssize_t n = read(f->fd, f->buf + f->have, sizeof f->buf - f->have);
        if (n <= 0)
            return NULL;
        f->have += (size_t)n;
    }
}

/* ids seen, in order */
static int64_t seen[20000];
static int n_seen;

static void note_event(const json_t *e)
{
    ck_assert_int_lt(n_seen, (int)(sizeof seen / sizeof seen[0]));
    seen[n_seen++] = json_integer_value(json_object_get(e, "seq"));
}

/* "events" from since with follow, page after page, until the daemon says following. */
static void follow_from(struct follower *f, int64_t since)
{
    int64_t after = 0;
    for (;;) {
        char line[200];
        snprintf(line, sizeof line, "{\"cmd\":\"events\",\"since_ms\":%lld,\"after_seq\":%lld,\"follow\":true}\n",
                 (long long)since, (long long)after);
        ck_assert_int_eq(write(f->fd, line, strlen(line)), (ssize_t)strlen(line));
        json_t *rep = follower_next(f, 10000);
        ck_assert_msg(rep && json_is_true(json_object_get(rep, "ok")), "events request failed");
        const json_t *res = json_object_get(rep, "result");
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(res, "events"), i, e)
            note_event(e);
        bool following = json_is_true(json_object_get(res, "following"));
        bool more = json_is_true(json_object_get(res, "more"));
        json_decref(rep);
        if (following)
            return;
        ck_assert_msg(more && n_seen > 0, "neither following nor more");
        after = seen[n_seen - 1];
    }
}

START_TEST(five_hundred_packs_history_and_a_new_pack)
{
    struct rig r = { 0 };
    /* real time: the plant watchdog (300 ms) then tolerates a loaded machine's stalls */
    ck_assert_msg(rig_start_sim(&r, "1") == 0, "%s", r.err);
    int64_t now = wall_ms();
    seed_registry(r.db, now);
    ck_assert_msg(rig_start_drones(&r, "1", "2") == 0, "%s", r.err);
    ck_assert_msg(rig_start_swapd(&r, "tests/data/swapd-e2e.ini", true) == 0, "%s", r.err);

    /* serves at once, and lists a retired pack from the registry */
    json_t *st = rig_status(&r);
    ck_assert_msg(st, "no status from swapd on 500 known packs");
    json_decref(st);
    json_t *rep = rig_swapd(&r, "{\"cmd\":\"batteries\"}");
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(rep, "result"), "batteries")), N_SLOTS);
    json_decref(rep);
    rep = rig_swapd(&r, "{\"cmd\":\"batteries\",\"battery\":\"SWP-5C000010\"}");
    const json_t *b = json_array_get(json_object_get(json_object_get(rep, "result"), "batteries"), 0);
    if (!b) {
        char *t = json_dumps(rep, 0);
        ck_abort_msg("retired pack not found: %s", t);
    }
    ck_assert_str_eq(json_string_value(json_object_get(b, "status")), "retired");
    json_decref(rep);

    /* history from before this start, then live events without a gap or a repeat */
    struct follower f;
    follower_open(&f, r.swapd_sock);
    n_seen = 0;
    follow_from(&f, now - 4 * DAY_MS);
    char sql0[160];
    snprintf(sql0, sizeof sql0, "SELECT COUNT(*) FROM events WHERE id = %lld AND text = 'history before the restart'",
             (long long)seen[0]);
    ck_assert_int_eq(scalar(r.db, sql0), 1);
    ck_assert_int_ge(n_seen, 2);  /* the event from 3 days ago, then this run's */
    ck_assert_int_eq(scalar(r.db, "SELECT COUNT(*) FROM events WHERE text = 'history before the restart'"), 1);

    char swapctl[512], cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --socket %s events --since 4d", proc_bin("swapctl", swapctl, sizeof swapctl),
             r.swapd_sock);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[512];
    bool found = false;
    int lines = 0;
    while (fgets(line, sizeof line, p)) {
        found |= strstr(line, "history before the restart") != NULL;
        lines++;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(found, "swapctl events --since 4d lacks the event from 3 days ago (%d lines)", lines);


    /* the drone brings a pack the station has never seen: commissioned, the swap completes */
    ck_assert_msg(rig_wait_swaps(&r, 1, 120000), "%s", r.err);
    json_t *msg;
    long long until = proc_now_ms() + 2000;  /* the swap's last events, then stop reading */
    while (proc_now_ms() < until && (msg = follower_next(&f, 500)) != NULL) {
        const json_t *e = json_object_get(msg, "event");
        if (e)
            note_event(e);
        json_decref(msg);
    }
    close(f.fd);
    /* swapd stops cleanly; the registry is read after it */
    ck_assert_int_eq(proc_stop(r.swapd, 10000), 0);
    r.swapd = 0;

    ck_assert_int_eq(scalar(r.db, "SELECT COUNT(*) FROM batteries"), N_KNOWN + 1);
    ck_assert_int_eq(scalar(r.db, "SELECT COUNT(*) FROM batteries WHERE tag = 1526726657 AND status = 'in_service'"), 1);
    /* one row per step of a swap (take_grip and insert_release were written twice) */
    ck_assert_int_eq(scalar(r.db, "SELECT COUNT(*) FROM (SELECT 1 FROM swap_steps GROUP BY swap_id, step, start_ms"
                                  " HAVING COUNT(*) > 1)"), 0);
    ck_assert_int_gt(scalar(r.db, "SELECT COUNT(*) FROM swap_steps"), 8);
    /* what was followed is exactly the registry's log from the first event on: in order,
     * nothing twice, nothing missing */
    for (int i = 1; i < n_seen; i++)
        ck_assert_msg(seen[i] > seen[i - 1], "event %lld after %lld", (long long)seen[i], (long long)seen[i - 1]);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM events WHERE severity != 'debug' AND id BETWEEN %lld AND %lld",
             (long long)seen[0], (long long)seen[n_seen - 1]);
    ck_assert_int_eq(scalar(r.db, sql), n_seen);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}
END_TEST

/* ---- limits --------------------------------------------------------------------------- */

static int check_config_with_slots(const char *dir, int slots, char *out, size_t size)
{
    char plant[512], bin[512], cfg[512], path[600], log[600], cmd[2400];
    FILE *in = fopen(proc_config("plant.ini", plant, sizeof plant), "r");
    snprintf(path, sizeof path, "%s/plant-%d.ini", dir, slots);
    FILE *o = fopen(path, "w");
    ck_assert(in && o);
    char line[512];
    while (fgets(line, sizeof line, in)) {
        if (!strncmp(line, "slots =", 7))
            fprintf(o, "slots = %d\n", slots);
        else
            fputs(line, o);
    }
    fclose(in);
    fclose(o);
    snprintf(log, sizeof log, "%s/check-%d.log", dir, slots);
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s --plant-config %s > %s 2>&1",
             proc_bin("swapd", bin, sizeof bin), proc_config("swapd.ini", cfg, sizeof cfg), path, log);
    int st = system(cmd);
    FILE *l = fopen(log, "r");
    size_t n = l ? fread(out, 1, size - 1, l) : 0;
    out[n] = 0;
    if (l)
        fclose(l);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(slots_at_the_limit_and_one_past_it)
{
    char dir[256], out[1024];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "slots"), 0);
    ck_assert_msg(check_config_with_slots(dir, 16, out, sizeof out) == 0, "16 slots: %s", out);
    ck_assert_int_eq(check_config_with_slots(dir, 17, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "slots") && strstr(out, "1..16"), "17 slots refused without the reason: %s", out);
    proc_rmtree(dir);
    /* exit 2 (configuration) is not restarted by systemd: no restart loop */
    const char *src = getenv("SWAP_SRC");
    char unit[512], text[4096];
    snprintf(unit, sizeof unit, "%s/configs/systemd/swapd.service", src && *src ? src : ".");
    FILE *f = fopen(unit, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "\nRestartPreventExitStatus=2"));
}
END_TEST

/* swapd --compact-db on dir/old.db; returns its exit status, its output in out. */
static int compact_db(const char *dir, char *out, size_t size)
{
    char bin[512], cfg[512], plant[512], log[600], cmd[2400];
    snprintf(log, sizeof log, "%s/compact.log", dir);
    snprintf(cmd, sizeof cmd, "%s --compact-db --config %s --plant-config %s --db %s/old.db > %s 2>&1",
             proc_bin("swapd", bin, sizeof bin), proc_config("swapd.ini", cfg, sizeof cfg),
             proc_config("plant.ini", plant, sizeof plant), dir, log);
    int st = system(cmd);
    FILE *l = fopen(log, "r");
    size_t n = l ? fread(out, 1, size - 1, l) : 0;
    out[n] = 0;
    if (l)
        fclose(l);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}


START_TEST(an_old_registry_is_compacted_and_refused_while_swapd_runs)
{
    char dir[256], path[320], lock[340], out[1024];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "compact"), 0);
    snprintf(path, sizeof path, "%s/old.db", dir);
    /* a registry written before incremental auto-vacuum, with a month of expired events
     * pruned: its free pages stay in the file */
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA page_size = 4096; PRAGMA auto_vacuum = NONE;"
                                      " CREATE TABLE t (x); DROP TABLE t;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    seed_registry(path, wall_ms());
    struct registry_error err;
    struct registry *reg = registry_open(path, 0, &err);
    ck_assert_msg(reg, "%s", err.msg);
    ck_assert_int_eq(registry_batch_begin(reg), 0);
    for (int i = 0; i < 4000; i++)
        ck_assert_int_eq(registry_add_event(reg, wall_ms() - 90 * DAY_MS + i, REGISTRY_INFO, "state",
                                            "IDLE -> EXECUTE: a month-old transition, long expired", NULL), 0);
    ck_assert_int_eq(registry_batch_commit(reg), 0);
    struct registry_retention keep = { .events_days = 30 };
    while (registry_prune(reg, &keep, wall_ms(), 1000, 64, NULL) > 0)
        ;
    registry_close(reg);
    ck_assert_int_eq(scalar(path, "PRAGMA auto_vacuum"), 0);
    int64_t before = scalar(path, "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size");
    ck_assert_int_gt(scalar(path, "PRAGMA freelist_count"), 100);
    int64_t packs = scalar(path, "SELECT COUNT(*) FROM batteries");

    /* while a swapd holds the database's lock: refused, exit 3 (not restarted) */
    snprintf(lock, sizeof lock, "%s.lock", path);
    int fd = open(lock, O_RDWR | O_CREAT, 0640);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    ck_assert_int_eq(compact_db(dir, out, sizeof out), 3);
    ck_assert_msg(strstr(out, "another swapd"), "refusal without the reason: %s", out);
    ck_assert_int_eq(scalar(path, "PRAGMA auto_vacuum"), 0);
    close(fd);

    ck_assert_msg(compact_db(dir, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "compacted"), "%s", out);
    ck_assert_int_eq(scalar(path, "PRAGMA auto_vacuum"), 2);
    ck_assert_int_eq(scalar(path, "PRAGMA page_size"), 512);
    ck_assert_int_eq(scalar(path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    int64_t after = scalar(path, "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size");
    ck_assert_msg(after < before / 2, "%lld bytes after, %lld before", (long long)after, (long long)before);
    ck_assert_int_eq(scalar(path, "SELECT COUNT(*) FROM batteries"), packs);
    reg = registry_open(path, 0, &err);
    ck_assert_msg(reg, "%s", err.msg);
    ck_assert_int_eq(registry_check_integrity(reg), 0);
    registry_close(reg);
    proc_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("years");
    TCase *tc = tcase_create("years");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, five_hundred_packs_history_and_a_new_pack);
    tcase_add_test(tc, slots_at_the_limit_and_one_past_it);
    tcase_add_test(tc, an_old_registry_is_compacted_and_refused_while_swapd_runs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
