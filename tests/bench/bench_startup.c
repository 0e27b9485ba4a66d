/* Years of operation, measured:
 *
 * 1. Bytes written to storage per swap against the bytes the registry keeps per swap:
 *    swapsim + dronesim + swapd complete swaps over Modbus and MAVLink; everything
 *    swapd's process wrote to the block layer over its whole life (wait4's ru_oublock,
 *    the same accounting as /proc/PID/io write_bytes, so the final WAL checkpoint
 *    counts) against the growth of the database file. The rows one swap leaves per
 *    table are counted from that run and are the pattern for the next two parts.
 * 2. Start-up time against the size of the history: registries of 0, 10 k, 100 k and
 *    200 k swaps (rows generated with SQL in one transaction, in the pattern measured
 *    above); the real swapd starts on each with swapsim as the plant and a pty as the
 *    drone link; time from the spawn to the first answered `status` and to the first
 *    station HEARTBEAT on the drone link, with a warm and with a cold page cache.
 *    Target: the 200 k figure within 2x the empty one.
 * 3. The database after a simulated year at 100 swaps a day with the default
 *    [retention], pruned as the daemon prunes.
 *
 * BENCH_STARTUP_SIZES="0 10000 ..." replaces the registry sizes; BENCH_SWAPS the swaps of
 * part 1 after the first (default 3).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "mavlink/mav.h"
#include "proc.h"
#include "registry/registry.h"
#include "rig.h"

#define DAY_MS 86400000LL
#define STATION_SYSID 200
#define N_PACKS 8

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* Stops a child with SIGTERM and returns the bytes it wrote to storage in its life. */
static long long stop_counting_writes(pid_t pid)
{
    kill(pid, SIGTERM);
    int st;
    struct rusage ru;
    long long end = proc_now_ms() + 10000;
    for (;;) {
        pid_t w = wait4(pid, &st, WNOHANG, &ru);
        if (w == pid)
            return (long long)ru.ru_oublock * 512;
        if (w < 0 || proc_now_ms() > end) {
            kill(pid, SIGKILL);
            wait4(pid, &st, 0, &ru);
            return -1;
        }
        proc_nap_ms(10);
    }
}

/* write_bytes of /proc/PID/io: bytes the process caused to be written to storage. */
static long long io_write_bytes(pid_t pid)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    FILE *f = fopen(path, "r");
    long long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %lld", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

/* Bytes of the database in use (pages minus free pages), as a reader sees it. */
static long long used_bytes(const char *db_path)
{
    sqlite3 *db;
    long long v = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(db, "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count,"
                                   " pragma_freelist_count, pragma_page_size", -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return v;
}

/* ---- the rows one swap leaves ----------------------------------------------------------- */

struct mix {
    double events_info, events_debug, steps, history, swaps;
};

static int64_t scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void count_mix(const char *db_path, struct mix *m)
{
    sqlite3 *db;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return;
    double swaps = (double)scalar(db, "SELECT COUNT(*) FROM swaps WHERE result = 'ok'");
    if (swaps >= 1) {
        m->swaps = swaps;
        m->events_info = (double)scalar(db, "SELECT COUNT(*) FROM events WHERE severity != 'debug'") / swaps;
        m->events_debug = (double)scalar(db, "SELECT COUNT(*) FROM restart_log") / swaps;
        m->steps = (double)scalar(db, "SELECT COUNT(*) FROM swap_steps") / swaps;
        m->history = (double)scalar(db, "SELECT COUNT(*) FROM location_history") / swaps;
        if (getenv("BENCH_DEBUG")) {
            sqlite3_stmt *s;
            if (sqlite3_prepare_v2(db, "SELECT source, severity, COUNT(*) FROM events GROUP BY 1, 2 ORDER BY 3 DESC", -1,
                                   &s, NULL) == SQLITE_OK)
                while (sqlite3_step(s) == SQLITE_ROW)
                    printf("  events %-10s %-8s %5.1f per swap\n", (const char *)sqlite3_column_text(s, 0),
                           (const char *)sqlite3_column_text(s, 1), sqlite3_column_int(s, 2) / swaps);
            sqlite3_finalize(s);
        }
    }
    sqlite3_close(db);
}

/* ---- part 1: bytes written per swap ---------------------------------------------------- */

static int bench_write_volume(int n_swaps, struct mix *m)
{
    struct rig r = { 0 };
    if (rig_start_sim(&r, "1") || rig_start_drones(&r, "2", "2") ||
        rig_start_swapd(&r, "tests/data/swapd-e2e.ini", true)) {
        fprintf(stderr, "bench_startup: %s\n", r.err);
        rig_stop_all(&r);
        return -1;
    }
    /* From the end of the first swap (start-up and commissioning are not swaps): what
     * the process has written so far, and what the registry holds. */
    if (!rig_wait_swaps(&r, 1, 120000)) {
        fprintf(stderr, "bench_startup: %s\n", r.err);
        char cmd[RIG_PATH * 2 + 64];
        snprintf(cmd, sizeof cmd, "grep -v 'scan took' %s | tail -15; tail -5 %s/dronesim.log", r.swapd_log, r.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_startup: no log\n");
        rig_stop_all(&r);
        return -1;
    }
    long long w1 = io_write_bytes(r.swapd), db0 = used_bytes(r.db);
    if (!rig_wait_swaps(&r, 1 + n_swaps, 60000 + 20000 * n_swaps)) {
        fprintf(stderr, "bench_startup: %s\n", r.err);
        rig_stop_all(&r);
        return -1;
    }
    long long written = stop_counting_writes(r.swapd);
    r.swapd = 0;
    if (getenv("BENCH_KEEP_LOG")) {
        char cmd[RIG_PATH + 32];
        snprintf(cmd, sizeof cmd, "tail -3 %s", r.swapd_log);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_startup: no log\n");
    }
    written -= w1;
    long long kept = used_bytes(r.db) - db0;
    count_mix(r.db, m);
    rig_stop_all(&r);
    double per_written = (double)written / n_swaps, per_kept = (double)kept / n_swaps;
    printf("write volume: %d swaps over Modbus and MAVLink (real time)\n", n_swaps);
    printf("  written by swapd to storage after the first swap, incl. the last checkpoint: %.1f kB per swap\n",
           per_written / 1e3);
    printf("  kept in the registry (pages in use):                                          %.1f kB per swap\n",
           per_kept / 1e3);
    printf("  written / kept = %.1fx (target <= 10x)\n", per_kept > 0 ? per_written / per_kept : NAN);
    printf("  rows per swap: %.1f events (+ %.1f restart records), %.1f step rows, %.1f location history\n",
           m->events_info, m->events_debug, m->steps, m->history);
    return 0;
}

/* ---- generated registries -------------------------------------------------------------- */

struct gen {
    sqlite3 *db;
    sqlite3_stmt *swaps, *steps, *hist, *events, *restart;
    int64_t next_swap;
};

static void gen_prepare(struct gen *g);

static int gen_open(struct gen *g, const char *path)
{
    memset(g, 0, sizeof *g);
    struct registry_error err;
    struct registry *reg = registry_open(path, REGISTRY_OPEN_CREATE, &err);
    if (!reg) {
        fprintf(stderr, "bench_startup: %s\n", err.msg);
        return -1;
    }
    registry_close(reg);
    if (sqlite3_open(path, &g->db) != SQLITE_OK)
        return -1;
    sqlite3_exec(g->db, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF;"
                        " PRAGMA cache_size = -262144;", NULL, NULL, NULL);
    gen_prepare(g);
    g->next_swap = scalar(g->db, "SELECT COALESCE(MAX(id), 0) FROM swaps") + 1;
    return 0;
}

/* The rows of swaps k0 .. k0 + n - 1 (?1 = k0, ?2 = n, ?3 = the first swap's id, ?4 the
 * first swap's touchdown, ?5 ms between swaps; ?6 = rows of the kind per swap) are
 * generated by SQLite itself (no row passes through C): a counter, crossed with the row
 * index within the swap. Events come out in the order swapd writes them. */
#define GEN_K "WITH RECURSIVE k(k) AS (SELECT ?1 UNION ALL SELECT k + 1 FROM k WHERE k < ?1 + ?2 - 1),"      \
              " i(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM i WHERE i < ?6 - 1),"                         \
              " s(k, id, t, out_tag, in_tag) AS (SELECT k, ?3 + k - ?1, ?4 + (k - ?1) * ?5,"                \
              "  1509949441 + k % 8, 1509949441 + (k + 1) % 8 FROM k) "

static void gen_prepare(struct gen *g)
{
    /* step names by number, looked up by rowid */
    sqlite3_exec(g->db, "CREATE TEMP TABLE IF NOT EXISTS n (i INTEGER PRIMARY KEY, name TEXT);"
                        " INSERT OR IGNORE INTO n VALUES (0, 'center_close'), (1, 'clamp'), (2, 'head_to_bay'),"
                        " (3, 'y_extend_bay'), (4, 'take_grip'), (5, 'y_retract_bay'), (6, 'wrist_turn'),"
                        " (7, 'y_extend_insert'), (8, 'insert_release'), (9, 'y_retract_insert'),"
                        " (10, 'powerup_check'), (11, 'unclamp_open'), (12, 'to_magazine'), (13, 'z_to_slot'),"
                        " (14, 'y_extend_slot'), (15, 'store_release'), (16, 'y_retract_slot'), (17, 'z_top'),"
                        " (18, 'fetch_slot'), (19, 'fetch_grip');",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(g->db,
                       GEN_K "INSERT INTO swaps (id, drone, battery_out, battery_in, touchdown_ms, cleared_ms,"
                             " on_pad_ms, result)"
                             " SELECT id, 1 + k % 3, out_tag, in_tag, t, t + 8400, 8400, 'ok' FROM s WHERE ?6 > 0",
                       -1, &g->swaps, NULL);
    sqlite3_prepare_v2(g->db,
                       GEN_K "INSERT INTO swap_steps (swap_id, step, start_ms, end_ms)"
                             " SELECT s.id, n.name, s.t + i.i * 600, s.t + i.i * 600 + 600"
                             " FROM s, i, n WHERE ?6 > 0 AND n.i = i.i % 20 ORDER BY s.k, i.i",
                       -1, &g->steps, NULL);
    /* the generated moves end where the packs are: the restart finds nothing in flight */
    sqlite3_prepare_v2(g->db,
                       GEN_K "INSERT INTO location_history (tag, place, idx, time_ms, step, swap_id)"
                             " SELECT CASE WHEN i.i % 2 THEN in_tag ELSE out_tag END,"
                             "  CASE WHEN i.i % 4 = 3 THEN 'slot' WHEN i.i % 2 THEN 'drone' ELSE 'gripper_a' END,"
                             "  CASE WHEN i.i % 4 = 3 THEN 1 + s.k % 8 WHEN i.i % 2 THEN 1 ELSE 0 END,"
                             "  s.t + i.i * 2000, n.name, s.id"
                             " FROM s, i, n WHERE ?6 > 0 AND n.i = (4 * i.i) % 20 ORDER BY s.k, i.i",
                       -1, &g->hist, NULL);
    /* ?6 = info events per swap (state transitions) */
    sqlite3_prepare_v2(g->db,
                       GEN_K "INSERT INTO events (time_ms, severity, source, text, json)"
                             " SELECT s.t + i.i * 400, 'info', 'state',"
                             "  printf('%s -> %s: step complete (%d ms)', n.name,"
                             "   (SELECT name FROM n AS m WHERE m.i = (i.i + 1) % 20), 400 + i.i * 37 % 500), NULL"
                             " FROM s, i, n WHERE ?6 > 0 AND n.i = i.i % 20 ORDER BY s.k, i.i",
                       -1, &g->events, NULL);
    /* ?6 = restart records per swap: intents every sixth, progress records */
    sqlite3_prepare_v2(g->db,
                       GEN_K "INSERT INTO restart_log (time_ms, kind, text, json)"
                             " SELECT s.t + i.i * 400, CASE WHEN i.i % 6 = 5 THEN 'intent' ELSE 'progress' END,"
                             "  CASE WHEN i.i % 6 = 5 THEN printf('pack %08X: drone 1 -> gripper A in step take_grip',"
                             "    out_tag)"
                             "   ELSE printf('%s (drone 1)', n.name) END,"
                             "  CASE WHEN i.i % 6 = 5 THEN printf("
                             "    '{\"tag\":%d,\"from\":[4,1],\"to\":[2,0],\"step\":\"take_grip\"}', out_tag)"
                             "   ELSE printf('{\"step\":%d,\"sysid\":1}', i.i % 20) END"
                             " FROM s, i, n WHERE ?6 > 0 AND n.i = i.i % 20 ORDER BY s.k, i.i",
                       -1, &g->restart, NULL);
}

static void gen_close(struct gen *g)
{
    sqlite3_finalize(g->swaps);
    sqlite3_finalize(g->steps);
    sqlite3_finalize(g->hist);
    sqlite3_finalize(g->events);
    sqlite3_finalize(g->restart);
    sqlite3_exec(g->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    sqlite3_close(g->db);
}

static int gen_run(sqlite3_stmt *s, int64_t k0, int64_t n, int64_t id0, int64_t t0, int64_t dt, int per_swap)
{
    sqlite3_bind_int64(s, 1, k0);
    sqlite3_bind_int64(s, 2, n);
    sqlite3_bind_int64(s, 3, id0);
    sqlite3_bind_int64(s, 4, t0);
    sqlite3_bind_int64(s, 5, dt);
    sqlite3_bind_int(s, 6, per_swap);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "bench_startup: generating rows: %s\n", sqlite3_errmsg(sqlite3_db_handle(s)));
        return -1;
    }
    return 0;
}

/* Rows per swap as whole numbers (the pattern of the run, rounded): every generated swap
 * is the same, and a cached registry is named by them. */
static void mix_round(struct mix *m)
{
    m->events_info = round(m->events_info);
    m->events_debug = round(m->events_debug);
    m->steps = round(m->steps);
    m->history = round(m->history);
}

/* Swaps k0 .. k0 + n - 1 as swapd records them (the swap, its steps, the moves, the
 * events), the first touching down at t0, one every dt ms; in chunks, so that each
 * statement's sort stays small. */
static int gen_swaps(struct gen *g, const struct mix *m, int64_t k0, int64_t n, int64_t t0, int64_t dt)
{
    const int64_t chunk = 2000;
    for (int64_t c = 0; c < n; c += chunk) {
        int64_t len = n - c < chunk ? n - c : chunk, id0 = g->next_swap, tc = t0 + c * dt;
        if (gen_run(g->swaps, k0 + c, len, id0, tc, dt, 1) || gen_run(g->steps, k0 + c, len, id0, tc, dt, (int)m->steps) ||
            gen_run(g->hist, k0 + c, len, id0, tc, dt, (int)m->history) ||
            gen_run(g->events, k0 + c, len, id0, tc, dt, (int)m->events_info) ||
            gen_run(g->restart, k0 + c, len, id0, tc, dt, (int)m->events_debug))
            return -1;
        g->next_swap += len;
    }
    return 0;
}

static void gen_restart_record(struct gen *g, int64_t t, const char *kind, const char *text, const char *json)
{
    sqlite3_stmt *e;
    sqlite3_prepare_v2(g->db, "INSERT INTO restart_log (time_ms, kind, text, json) VALUES (?1, ?2, ?3, ?4)", -1, &e,
                       NULL);
    sqlite3_bind_int64(e, 1, t);
    sqlite3_bind_text(e, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(e, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(e, 4, json, -1, SQLITE_STATIC);
    sqlite3_step(e);
    sqlite3_finalize(e);
}

/* A registry of n swaps at 100 a day, ending now, with the 8 packs of swapsim's magazine
 * in their slots and a restart record that says the chain had ended. */
static int gen_registry(const char *path, long n, const struct mix *m, int64_t now_ms)
{
    struct gen g;
    if (gen_open(&g, path) != 0)
        return -1;
    /* the indexes are built once at the end (faster than row by row); the same ones */
    sqlite3_stmt *ix;
    char *indexes[16];
    int n_ix = 0;
    sqlite3_prepare_v2(g.db, "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL"
                             " AND tbl_name IN ('events', 'swap_steps', 'location_history')", -1, &ix, NULL);
    while (sqlite3_step(ix) == SQLITE_ROW && n_ix < 16) {
        char drop[128];
        snprintf(drop, sizeof drop, "DROP INDEX %s", (const char *)sqlite3_column_text(ix, 0));
        indexes[n_ix++] = strdup((const char *)sqlite3_column_text(ix, 1));
        sqlite3_exec(g.db, drop, NULL, NULL, NULL);
    }
    sqlite3_finalize(ix);
    sqlite3_exec(g.db, "BEGIN", NULL, NULL, NULL);
    for (int s = 0; s < N_PACKS; s++) {
        char sql[600];
        uint32_t tag = 0x5A000001u + (uint32_t)s;
        snprintf(sql, sizeof sql,
                 "INSERT INTO batteries (tag, serial, rated_mah, cells, commissioned_ms, capacity_mah,"
                 " capacity_sd_mah, dcir_mohm, dcir_sd_mohm, dcir_new_mohm, last_used_ms)"
                 " VALUES (%u, 'SWP-%08X', 5000, 6, %lld, 5000, 250, 75, 7.5, 75, %lld);"
                 "INSERT INTO locations (tag, place, idx, since_ms, step) VALUES (%u, 'slot', %d, %lld, 'commissioned');",
                 (unsigned)tag, (unsigned)tag, (long long)(now_ms - (n + 1) * 864000LL), (long long)now_ms,
                 (unsigned)tag, s + 1, (long long)now_ms);
        sqlite3_exec(g.db, sql, NULL, NULL, NULL);
    }
    if (gen_swaps(&g, m, 0, n, now_ms - n * 864000LL, 864000LL) != 0) {
        gen_close(&g);
        return -1;
    }
    gen_restart_record(&g, now_ms - 1000, "progress", "chain ended (drone 1)", "{\"step\":-1,\"sysid\":1}");
    for (int i = 0; i < n_ix; i++) {
        sqlite3_exec(g.db, indexes[i], NULL, NULL, NULL);
        free(indexes[i]);
    }
    int rc = sqlite3_exec(g.db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    gen_close(&g);
    return rc;
}

/* ---- part 2: start-up ------------------------------------------------------------------ */

#define GEN_VERSION 3   /* the generator's; a cached registry names it */
#define CACHE_DAYS 7    /* a cached registry's history ends at most this long before the run */

/* Where generated registries are kept between runs: BENCH_CACHE, else build/bench-cache
 * when run from the tree (make bench); BENCH_CACHE= (empty) keeps none. */
static bool cache_dir(char *buf, size_t size)
{
    const char *env = getenv("BENCH_CACHE");
    struct stat st;
    if (env && !*env)
        return false;
    if (!env && (stat("build", &st) != 0 || !S_ISDIR(st.st_mode)))
        return false;
    snprintf(buf, size, "%s", env ? env : "build/bench-cache");
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return false;
    return true;
}

/* A cached registry is used when it opens and its newest row is recent. */
static bool cache_fresh(const char *db_path, int64_t now_ms)
{
    struct stat st;
    if (stat(db_path, &st) != 0)
        return false;
    sqlite3 *db;
    bool fresh = false;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
        fresh = scalar(db, "SELECT COALESCE(MAX(time_ms), 0) FROM events") > now_ms - CACHE_DAYS * DAY_MS;
    sqlite3_close(db);
    return fresh;
}

struct probe {
    const char *sock;
    int master;
    long long t0;
    volatile long long status_ms, heartbeat_ms;
    volatile bool stop;
};

static void *probe_status(void *arg)
{
    struct probe *p = arg;
    while (!p->stop) {
        json_t *rep = rig_request(p->sock, "{\"cmd\":\"status\"}", 60000);
        if (rep) {
            if (json_is_true(json_object_get(rep, "ok")))
                p->status_ms = proc_now_ms() - p->t0;
            json_decref(rep);
            if (p->status_ms)
                break;
        }
        proc_nap_ms(1);
    }
    return NULL;
}

static void *probe_heartbeat(void *arg)
{
    struct probe *p = arg;
    struct mav_parser parser;
    mav_parser_init(&parser, NULL);
    struct mav_frame f;
    uint8_t buf[512];
    while (!p->stop) {
        ssize_t n = read(p->master, buf, sizeof buf);
        if (n <= 0) {
            proc_nap_ms(1);
            continue;
        }
        size_t off = 0, used;
        while (mav_parser_feed_buf(&parser, buf + off, (size_t)n - off, &used, &f) == 1) {
            off += used;
            if (f.msgid == 0 && f.sysid == STATION_SYSID && !p->heartbeat_ms)
                p->heartbeat_ms = proc_now_ms() - p->t0;
        }
    }
    return NULL;
}

/* Drops the page cache: the whole cache when permitted (root), else the database's
 * files. Returns which. */
static const char *drop_cache(const char *db)
{
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd >= 0) {
        bool ok = write(fd, "1\n", 2) == 2;
        close(fd);
        if (ok)
            return "drop_caches";
    }
    const char *sfx[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        char path[RIG_PATH + 8];
        snprintf(path, sizeof path, "%s%s", db, sfx[i]);
        int f = open(path, O_RDONLY);
        if (f >= 0) {
            fdatasync(f);
            posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED);
            close(f);
        }
    }
    return "fadvise";
}

struct startup {
    long long status_ms, heartbeat_ms;
};

static int start_once(struct rig *r, const char *db, bool cold, struct startup *out, const char **how)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master))
        return -1;
    struct termios tio;
    tcgetattr(master, &tio);
    cfmakeraw(&tio);
    tcsetattr(master, TCSANOW, &tio);
    fcntl(master, F_SETFL, O_NONBLOCK);
    char link[RIG_PATH], plant[64], bin[512], cfg[512], plantcfg[512], sock[RIG_PATH];
    snprintf(link, sizeof link, "pty:%s", ptsname(master));
    snprintf(plant, sizeof plant, "127.0.0.1:%ld", r->port);
    snprintf(sock, sizeof sock, "%s/startup.sock", r->dir);
    char log[RIG_PATH];
    snprintf(log, sizeof log, "%s/startup.log", r->dir);
    unlink(sock);
    if (cold)
        *how = drop_cache(db);
    char *argv[] = { (char *)proc_bin("swapd", bin, sizeof bin), "--config",
                     (char *)proc_config("swapd.ini", cfg, sizeof cfg), "--plant-config",
                     (char *)proc_config("plant.ini", plantcfg, sizeof plantcfg), "--db", (char *)db, "--control",
                     sock, "--plant", plant, "--link", link, NULL };
    struct probe p = { .sock = sock, .master = master, .t0 = proc_now_ms() };
    pid_t pid = proc_spawn(argv, log);
    pthread_t ts, th;
    pthread_create(&ts, NULL, probe_status, &p);
    pthread_create(&th, NULL, probe_heartbeat, &p);
    long long end = proc_now_ms() + 120000;
    while ((!p.status_ms || !p.heartbeat_ms) && proc_now_ms() < end && proc_alive(pid))
        proc_nap_ms(2);
    p.stop = true;
    proc_stop(pid, 10000);
    pthread_join(ts, NULL);
    pthread_join(th, NULL);
    close(master);
    out->status_ms = p.status_ms;
    out->heartbeat_ms = p.heartbeat_ms;
    return p.status_ms && p.heartbeat_ms ? 0 : -1;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static int bench_startup(const struct mix *m)
{
    long sizes[8] = { 0, 10000, 100000, 200000 };
    int n_sizes = 4;
    const char *env = getenv("BENCH_STARTUP_SIZES");
    if (env && *env) {
        n_sizes = 0;
        char *end;
        for (const char *s = env; *s && n_sizes < 8; s = end) {
            long v = strtol(s, &end, 10);
            if (end == s)
                break;
            sizes[n_sizes++] = v;
        }
    }
    struct rig r = { 0 };
    if (rig_start_sim(&r, "1")) {
        fprintf(stderr, "bench_startup: %s\n", r.err);
        rig_stop_all(&r);
        return -1;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    struct startup warm[8], cold[8];
    const char *how = "not run";
    printf("start-up: spawn -> first answered status / first station HEARTBEAT on the drone link\n");
    printf("  %9s %10s %17s | %-18s | %-18s\n", "swaps", "db MB", "gen s", "warm (median of 5)", "cold");
    char cache[RIG_PATH];
    bool cached = cache_dir(cache, sizeof cache);
    struct mix whole = *m;
    mix_round(&whole);
    for (int i = 0; i < n_sizes; i++) {
        char db[RIG_PATH + 128];
        const char *keep = getenv("BENCH_KEEP_DB");  /* a directory to leave the registries in */
        if (cached)
            snprintf(db, sizeof db, "%s/startup-v%d-g%d-%ld-%g-%g-%g-%g.db", cache, REGISTRY_SCHEMA_VERSION, GEN_VERSION,
                     sizes[i], whole.events_info, whole.events_debug, whole.steps, whole.history);
        else
            snprintf(db, sizeof db, "%s/startup-%ld.db", keep ? keep : r.dir, sizes[i]);
        long long t = proc_now_ms();
        const char *origin = "generated";
        if (cached && cache_fresh(db, now_ms)) {
            origin = "cached";
        } else {
            char tmp[RIG_PATH + 140];
            snprintf(tmp, sizeof tmp, "%s.tmp", db);
            unlink(tmp);
            if (gen_registry(tmp, sizes[i], &whole, now_ms) != 0 || rename(tmp, db) != 0) {
                fprintf(stderr, "bench_startup: generating %ld swaps failed\n", sizes[i]);
                rig_stop_all(&r);
                return -1;
            }
        }
        double gen_s = (proc_now_ms() - t) / 1000.0;
        if (start_once(&r, db, true, &cold[i], &how) != 0) {
            fprintf(stderr, "bench_startup: swapd did not answer on %ld swaps (see %s/startup.log)\n", sizes[i], r.dir);
            return -1;
        }
        long long st[5], hb[5];
        for (int k = 0; k < 5; k++) {
            struct startup s;
            if (start_once(&r, db, false, &s, &how) != 0) {
                fprintf(stderr, "bench_startup: swapd did not answer on %ld swaps\n", sizes[i]);
                return -1;
            }
            st[k] = s.status_ms;
            hb[k] = s.heartbeat_ms;
        }
        qsort(st, 5, sizeof st[0], cmp_ll);
        qsort(hb, 5, sizeof hb[0], cmp_ll);
        warm[i] = (struct startup){ st[2], hb[2] };
        printf("  %9ld %10.1f %7.1f %-9s | %5lld ms / %5lld ms | %5lld ms / %5lld ms\n", sizes[i], file_size(db) / 1e6,
               gen_s, origin, warm[i].status_ms, warm[i].heartbeat_ms, cold[i].status_ms, cold[i].heartbeat_ms);
        if (cached)
            continue;
        if (!keep)
            unlink(db);
        else
            printf("  kept %s\n", db);
    }
    if (cached)
        printf("  registries cached in %s (named by schema, generator and rows per swap; regenerated when"
               " older than %d days; BENCH_CACHE= turns the cache off)\n", cache, CACHE_DAYS);
    printf("  cold cache by: %s\n", how);
    int last = n_sizes - 1;
    printf("  %ld swaps / %ld swaps: warm status %.2fx, heartbeat %.2fx; cold status %.2fx, heartbeat %.2fx"
           " (target <= 2x)\n",
           sizes[last], sizes[0], (double)warm[last].status_ms / (double)warm[0].status_ms,
           (double)warm[last].heartbeat_ms / (double)warm[0].heartbeat_ms,
           (double)cold[last].status_ms / (double)cold[0].status_ms,
           (double)cold[last].heartbeat_ms / (double)cold[0].heartbeat_ms);
    rig_stop_all(&r);
    return 0;
}

/* ---- part 3: a year with the default retention ------------------------------------------ */

static int bench_year(const struct mix *m)
{
    char dir[256], db[320];
    if (proc_mkdtemp(dir, sizeof dir, "swap-year") != 0)
        return -1;
    snprintf(db, sizeof db, "%s/year.db", dir);
    struct registry_retention keep;
    struct cfg_error cerr;
    if (cfg_defaults(registry_retention_keys, registry_retention_n_keys, &keep, &cerr) != 0) {
        fprintf(stderr, "bench_startup: %s\n", cerr.msg);
        return -1;
    }
    struct mix whole = *m;
    mix_round(&whole);
    struct gen g;
    if (gen_open(&g, db) != 0)
        return -1;
    gen_close(&g);
    const int64_t start_ms = 1767225600000LL;  /* 2026-01-01 */
    long long t0 = proc_now_ms();
    long long peak = 0;
    for (int day = 0; day < 365; day++) {
        if (gen_open(&g, db) != 0)
            return -1;
        sqlite3_exec(g.db, "BEGIN", NULL, NULL, NULL);
        if (gen_swaps(&g, &whole, (int64_t)day * 100, 100, start_ms + day * DAY_MS, 864000LL) != 0)
            return -1;
        sqlite3_exec(g.db, "COMMIT", NULL, NULL, NULL);
        gen_close(&g);
        /* the daemon's pruning of that day: batches until nothing is left, then the
         * incremental vacuum */
        struct registry_error err;
        struct registry *reg = registry_open(db, 0, &err);
        if (!reg)
            return -1;
        registry_set_sync(reg, false);  /* as the daemon's prunes: no move, no wait for the disk */
        int64_t now = start_ms + (day + 1) * DAY_MS;
        while (registry_prune(reg, &keep, now, keep.prune_batch_rows, 1000, NULL) > 0)
            ;
        struct registry_storage_info info;
        for (int k = 0; k < 1000 && registry_storage(reg, &info) == 0 && info.free_bytes > 0; k++)
            registry_prune(reg, &keep, now, keep.prune_batch_rows, 1000, NULL);
        registry_close(reg);
        if (file_size(db) > peak)
            peak = file_size(db);
    }
    sqlite3 *sdb;
    sqlite3_open_v2(db, &sdb, SQLITE_OPEN_READONLY, NULL);
    long long events = scalar(sdb, "SELECT COUNT(*) FROM events"), swaps = scalar(sdb, "SELECT COUNT(*) FROM swaps"),
              steps = scalar(sdb, "SELECT COUNT(*) FROM swap_steps"),
              hist = scalar(sdb, "SELECT COUNT(*) FROM location_history");
    sqlite3_close(sdb);
    printf("a year at 100 swaps a day, default retention (events %d d, restart records %d d, steps %d d,"
           " history %d d, swaps while a pack serves / %d d): %.1f s to simulate\n",
           keep.events_days, keep.restart_days, keep.swap_steps_days, keep.history_days, keep.swaps_days,
           (proc_now_ms() - t0) / 1000.0);
    printf("  database after 365 days: %.1f MB (peak %.1f MB); %lld events, %lld swaps, %lld step rows,"
           " %lld history rows\n",
           file_size(db) / 1e6, peak / 1e6, events, swaps, steps, hist);
    proc_rmtree(dir);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* the pattern of one swap, before it is measured: the counts of a run of this tree */
    struct mix m = { .events_info = 30, .events_debug = 30, .steps = 13, .history = 4 };
    const char *env = getenv("BENCH_SWAPS");
    int n_swaps = env && atoi(env) > 0 ? atoi(env) : 3;
    if (!getenv("BENCH_ONLY_STARTUP") && bench_write_volume(n_swaps, &m) != 0)
        printf("write volume: not measured (the station did not complete its swaps; see above)\n");
    if (getenv("BENCH_ONLY_WRITES"))
        return 0;
    if (bench_startup(&m) != 0)
        return 1;
    if (!getenv("BENCH_ONLY_STARTUP") && bench_year(&m) != 0)
        return 1;
    return 0;
}
