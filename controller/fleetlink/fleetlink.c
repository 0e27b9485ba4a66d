/* The Sparkplug B edge node thread; see fleetlink.h and docs/fleet.md. */
#include "fleetlink/fleetlink.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sparkplug/spb.h"

#define S struct fleetlink_cfg
const struct cfg_key fleetlink_cfg_keys[] = {
    CFG_B("fleet", "enabled", S, enabled, "false", "Report to the fleet as a Sparkplug B edge node over MQTT"),
    CFG_S("fleet", "host", S, host, "127.0.0.1", "MQTT broker address"),
    CFG_I("fleet", "port", S, port, 1, 65535, "1883", "", "MQTT broker port (8883 is usual with TLS)"),
    CFG_S("fleet", "group_id", S, group_id, "stations", "Sparkplug group id (topic spBv1.0/<group_id>/...)"),
    CFG_S("fleet", "edge_node_id", S, edge_node_id, "station-1", "This station's Sparkplug edge node id; unique in the group"),
    CFG_S("fleet", "primary_host_id", S, primary_host_id, "", "Publish only while this host application's STATE is online; empty = always"),
    CFG_S("fleet", "username", S, username, "", "MQTT user name; empty = none"),
    CFG_S("fleet", "password", S, password, "", "MQTT password"),
    CFG_S("fleet", "ca_file", S, ca_file, "", "CA certificate (PEM) that signed the broker's certificate; set = TLS"),
    CFG_S("fleet", "cert_file", S, cert_file, "", "Client certificate (PEM) for TLS client authentication; empty = none"),
    CFG_S("fleet", "key_file", S, key_file, "", "Client private key (PEM) for cert_file"),
    CFG_I("fleet", "keepalive_s", S, keepalive_s, 5, 3600, "30", "s", "MQTT keep-alive; the broker publishes NDEATH after 1.5x this of silence"),
    CFG_I("fleet", "backoff_min_ms", S, backoff_min_ms, 10, 60000, "500", "ms", "First reconnect delay"),
    CFG_I("fleet", "backoff_max_ms", S, backoff_max_ms, 10, 600000, "30000", "ms", "Longest reconnect delay"),
    CFG_I("fleet", "publish_period_ms", S, publish_period_ms, 20, 60000, "200", "ms", "How often changed metrics are checked and published (NDATA/DDATA)"),
    CFG_S("fleet", "spool_path", S, spool_path, "/var/lib/swapd/fleet-spool.db", "Events not yet taken by the broker (SQLite; survives restarts)"),
    CFG_I("fleet", "spool_max", S, spool_max, 10, 10000000, "100000", "events", "Spool bound: beyond it the oldest events are dropped and counted"),
};
#undef S
const size_t fleetlink_n_cfg_keys = sizeof fleetlink_cfg_keys / sizeof fleetlink_cfg_keys[0];

const char *const fleetlink_device_names[FLEETLINK_N_DEVICES] = { "", "robot", "magazine", "dronelink" };

const struct fleetlink_metric_def fleetlink_metrics[FM_COUNT] = {
    [FM_STATE] = { FLEETLINK_NODE, "Station/State", SPB_DT_STRING, 0 },
    [FM_MODE] = { FLEETLINK_NODE, "Station/Mode", SPB_DT_STRING, 0 },
    [FM_SWAPS] = { FLEETLINK_NODE, "Station/Swaps", SPB_DT_UINT64, 0 },
    [FM_SWAPS_PER_HOUR] = { FLEETLINK_NODE, "Station/Swaps per Hour", SPB_DT_DOUBLE, 0.5 },
    [FM_ONPAD_MEAN_S] = { FLEETLINK_NODE, "Station/On Pad Mean s", SPB_DT_DOUBLE, 0.05 },
    [FM_ALARMS_ACTIVE] = { FLEETLINK_NODE, "Station/Alarms Active", SPB_DT_INT32, 0 },
    [FM_ALARM_CODES] = { FLEETLINK_NODE, "Station/Alarm Codes", SPB_DT_STRING, 0 },
    [FM_PLANT_LINK] = { FLEETLINK_NODE, "Station/Plant Link", SPB_DT_STRING, 0 },
    [FM_SPOOL_DEPTH] = { FLEETLINK_NODE, "Fleet/Spool Depth", SPB_DT_UINT64, 0 },
    [FM_SPOOL_DROPPED] = { FLEETLINK_NODE, "Fleet/Spool Dropped", SPB_DT_UINT64, 0 },
    [FM_PACK_QUERY] = { FLEETLINK_NODE, "Fleet/Pack Query", SPB_DT_STRING, 0 },
    [FM_CMD_SEQ] = { FLEETLINK_NODE, "Command/Last Seq", SPB_DT_UINT64, 0 },
    [FM_CMD_NAME] = { FLEETLINK_NODE, "Command/Last Command", SPB_DT_STRING, 0 },
    [FM_CMD_REQUEST_ID] = { FLEETLINK_NODE, "Command/Last Request Id", SPB_DT_STRING, 0 },
    [FM_CMD_OK] = { FLEETLINK_NODE, "Command/Last Ok", SPB_DT_BOOLEAN, 0 },
    [FM_CMD_RESULT] = { FLEETLINK_NODE, "Command/Last Result", SPB_DT_STRING, 0 },
    [FM_ROBOT_STEP] = { FLEETLINK_ROBOT, "Step", SPB_DT_STRING, 0 },
    [FM_ROBOT_STEP_INDEX] = { FLEETLINK_ROBOT, "Step Index", SPB_DT_INT32, 0 },
    [FM_ROBOT_DRONE] = { FLEETLINK_ROBOT, "Serving Drone", SPB_DT_INT32, 0 },
    [FM_ROBOT_LAST_ONPAD_S] = { FLEETLINK_ROBOT, "Last On Pad s", SPB_DT_DOUBLE, 0.01 },
    [FM_MAG_SLOTS] = { FLEETLINK_MAGAZINE, "Slots", SPB_DT_INT32, 0 },
    [FM_MAG_OCCUPIED] = { FLEETLINK_MAGAZINE, "Slots Occupied", SPB_DT_INT32, 0 },
    [FM_MAG_READY] = { FLEETLINK_MAGAZINE, "Packs Ready", SPB_DT_INT32, 0 },
    [FM_MAG_SOH_MEAN] = { FLEETLINK_MAGAZINE, "Pool SoH Mean pct", SPB_DT_DOUBLE, 0.5 },
    [FM_MAG_SOH_MIN] = { FLEETLINK_MAGAZINE, "Pool SoH Min pct", SPB_DT_DOUBLE, 0.5 },
    [FM_MAG_PACKS] = { FLEETLINK_MAGAZINE, "Packs", SPB_DT_DATASET, 0 },
    [FM_DRONES_SEEN] = { FLEETLINK_DRONES, "Drones Seen", SPB_DT_INT32, 0 },
    [FM_DRONES_QUEUED] = { FLEETLINK_DRONES, "Queue Length", SPB_DT_INT32, 0 },
    [FM_DRONES_LINK] = { FLEETLINK_DRONES, "Link", SPB_DT_STRING, 0 },
};

const struct fleetlink_command_def fleetlink_commands[] = {
    { "Start", "start", false, FLEETLINK_ROBOT },         { "Stop", "stop", false, FLEETLINK_ROBOT },
    { "Hold", "hold", false, FLEETLINK_ROBOT },           { "Unhold", "unhold", false, FLEETLINK_ROBOT },
    { "Suspend", "suspend", false, FLEETLINK_ROBOT },     { "Unsuspend", "unsuspend", false, FLEETLINK_ROBOT },
    { "Abort", "abort", false, FLEETLINK_ROBOT },         { "Clear", "clear", false, FLEETLINK_ROBOT },
    { "Reset", "reset", false, FLEETLINK_ROBOT },
    { "Retire Pack", "retire", true, FLEETLINK_MAGAZINE }, { "Return Pack", "return", true, FLEETLINK_MAGAZINE },
};
const size_t fleetlink_n_commands = sizeof fleetlink_commands / sizeof fleetlink_commands[0];

#define EVENT_RING 1024
#define CMD_QUEUE 16
#define INFLIGHT_MAX 64
#define BUF_SIZE (64 * 1024)

struct inflight {
    int mid;
    long long rowid;
};

struct fleetlink {
    struct fleetlink_cfg cfg;
    pthread_t thread;
    atomic_bool stop;

    /* scan -> thread: the newest snapshot */
    pthread_mutex_t snap_mu;
    struct fleetlink_snapshot snap_shared;
    bool snap_new;
    /* scan -> thread: events, single producer / single consumer */
    struct fleetlink_event ring[EVENT_RING];
    atomic_size_t ring_head, ring_tail;
    atomic_ullong ring_dropped;
    /* thread -> scan: commands */
    pthread_mutex_t cmd_mu;
    struct fleetlink_cmd cmds[CMD_QUEUE];
    int n_cmds;

    pthread_mutex_t stats_mu;
    struct fleetlink_stats stats;

    /* thread only */
    struct mosquitto *mosq;
    sqlite3 *db;
    bool connected, session_up, host_online, births_pending, born;
    bool host_offline_pending;      /* the primary host said offline: leave the server */
    /* connected: TCP up and CONNECT sent; session_up: the broker's CONNACK accepted it */
    unsigned bdseq, seq;
    bool bdseq_sent;              /* the current bdSeq went out in a CONNECT (its will) */
    uint64_t host_state_ts;
    unsigned rng;                   /* reconnect jitter */
    uint64_t birth_wall_ms;         /* the current session's NBIRTH */
    int backoff_ms;
    uint64_t next_try_ms, next_publish_ms;
    struct fleetlink_snapshot cur, sent;
    bool have_cur;
    long long cursor;               /* last spool row id handed to the broker this session */
    long long spool_top;            /* the newest row id ever written (ids only grow) */
    uint64_t depth;                 /* rows in the spool, when !depth_dirty */
    bool depth_dirty;
    struct inflight inflight[INFLIGHT_MAX];
    int n_inflight;
    uint64_t dropped;               /* spool bound and ring overflow, persisted */
    uint8_t *buf;
    struct spb_cell pack_cells[FLEETLINK_MAX_PACKS * 7];
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logmsg(int prio, const char *fmt, ...)
{
    char text[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "<%d>swapd: fleet: %s\n", prio, text);
}

/* ---- spool ------------------------------------------------------------------------- */

static int spool_exec(struct fleetlink *fl, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(fl->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        logmsg(3, "spool: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static long long spool_meta(struct fleetlink *fl, const char *key, long long def)
{
    sqlite3_stmt *st;
    long long v = def;
    if (sqlite3_prepare_v2(fl->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
        return def;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void spool_set_meta(struct fleetlink *fl, const char *key, long long v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fl->db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

static int spool_open(struct fleetlink *fl, char *err, size_t errsize)
{
    if (sqlite3_open_v2(fl->cfg.spool_path, &fl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, errsize, "fleet spool %s: %s", fl->cfg.spool_path, sqlite3_errmsg(fl->db));
        return -1;
    }
    sqlite3_busy_timeout(fl->db, 1000);
    if (spool_exec(fl, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                       "CREATE TABLE IF NOT EXISTS spool(id INTEGER PRIMARY KEY AUTOINCREMENT, t_ms INTEGER NOT NULL,"
                       " event_id TEXT NOT NULL, type TEXT NOT NULL, text TEXT NOT NULL, offline INTEGER NOT NULL);"
                       "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);") != 0) {
        snprintf(err, errsize, "fleet spool %s: cannot create its tables", fl->cfg.spool_path);
        return -1;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fl->db, "SELECT ifnull(max(id), 0) FROM spool", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        fl->spool_top = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    fl->depth_dirty = true;
    fl->bdseq = (unsigned)spool_meta(fl, "bdseq", -1);
    fl->bdseq_sent = true;    /* the stored one went out (or none did): the next is new */
    fl->dropped = (uint64_t)spool_meta(fl, "dropped", 0);
    return 0;
}

/* Rows in the spool: counted again only after the spool changed (it is read every
 * publish period, and most periods change nothing). */
static uint64_t spool_depth(struct fleetlink *fl)
{
    if (!fl->depth_dirty)
        return fl->depth;
    sqlite3_stmt *st;
    uint64_t n = 0;
    if (sqlite3_prepare_v2(fl->db, "SELECT count(*) FROM spool", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    fl->depth = n;
    fl->depth_dirty = false;
    return n;
}

/* Moves the events the scan posted into the spool (one transaction), then enforces the
 * bound by dropping the oldest. */
static void spool_drain_ring(struct fleetlink *fl)
{
    size_t tail = atomic_load(&fl->ring_tail), head = atomic_load_explicit(&fl->ring_head, memory_order_acquire);
    unsigned long long lost = atomic_exchange(&fl->ring_dropped, 0);
    if (tail == head && !lost)
        return;
    bool online = fl->session_up && fl->born;
    spool_exec(fl, "BEGIN");
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(fl->db, "INSERT INTO spool(t_ms, event_id, type, text, offline) VALUES (?,?,?,?,?)", -1, &st, NULL);
    size_t n = 0;
    for (; tail != head; tail++, n++) {
        const struct fleetlink_event *e = &fl->ring[tail % EVENT_RING];
        sqlite3_bind_int64(st, 1, e->t_ms);
        sqlite3_bind_text(st, 2, e->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, e->type, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, e->text, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 5, online ? 0 : 1);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    fl->spool_top = sqlite3_last_insert_rowid(fl->db);
    fl->depth_dirty = true;
    atomic_store_explicit(&fl->ring_tail, tail, memory_order_release);
    fl->dropped += lost;
    uint64_t depth = spool_depth(fl);
    if (depth > (uint64_t)fl->cfg.spool_max) {
        char sql[160];
        uint64_t over = depth - (uint64_t)fl->cfg.spool_max;
        snprintf(sql, sizeof sql, "DELETE FROM spool WHERE id IN (SELECT id FROM spool ORDER BY id LIMIT %llu)",
                 (unsigned long long)over);
        spool_exec(fl, sql);
        fl->dropped += over;
        fl->depth_dirty = true;
    }
    spool_set_meta(fl, "dropped", (long long)fl->dropped);
    spool_exec(fl, "COMMIT");
    pthread_mutex_lock(&fl->stats_mu);
    fl->stats.spooled += n;
    fl->stats.dropped = fl->dropped;
    pthread_mutex_unlock(&fl->stats_mu);
}

/* ---- publishing -------------------------------------------------------------------- */

static void topic_for(const struct fleetlink *fl, enum spb_msg_type t, const char *device, char *out)
{
    struct spb_topic tp = { .type = t };
    snprintf(tp.group, sizeof tp.group, "%s", fl->cfg.group_id);
    snprintf(tp.node, sizeof tp.node, "%s", fl->cfg.edge_node_id);
    snprintf(tp.device, sizeof tp.device, "%s", device ? device : "");
    if (spb_topic_format(out, SPB_TOPIC_MAX, &tp) != 0)
        out[0] = 0;
}

/* Publishes a payload with the next seq (except NDEATH). Returns the mid or -1. */
static int send_payload(struct fleetlink *fl, enum spb_msg_type t, const char *device, struct spb_payload *p, int qos)
{
    char topic[SPB_TOPIC_MAX];
    topic_for(fl, t, device, topic);
    if (t != SPB_NDEATH) {
        p->has_seq = true;
        p->seq = fl->seq;
        fl->seq = (fl->seq + 1) % 256;
    }
    size_t n = spb_encode(p, fl->buf, BUF_SIZE);
    if (!n || !topic[0]) {
        logmsg(3, "cannot encode a %s payload", spb_msg_type_names[t]);
        return -1;
    }
    int mid = 0;
    int rc = mosquitto_publish(fl->mosq, &mid, topic, (int)n, fl->buf, qos, false);
    if (rc != MOSQ_ERR_SUCCESS)
        return -1;
    pthread_mutex_lock(&fl->stats_mu);
    fl->stats.published++;
    pthread_mutex_unlock(&fl->stats_mu);
    return mid;
}

/* The Packs DataSet of a snapshot; cells point into s. */
#define PACK_COLS 7
static const char *const pack_columns[PACK_COLS] = { "Battery", "Location", "Status", "SoH pct", "EFC",
                                                     "Capacity mAh", "DCIR mOhm" };
static const uint32_t pack_types[PACK_COLS] = { SPB_DT_STRING, SPB_DT_STRING, SPB_DT_STRING, SPB_DT_DOUBLE,
                                                SPB_DT_DOUBLE, SPB_DT_DOUBLE, SPB_DT_DOUBLE };

static void packs_dataset(const struct fleetlink_snapshot *s, struct spb_dataset *ds, struct spb_cell *cells)
{
    for (int r = 0; r < s->n_packs; r++) {
        const struct fleetlink_pack *p = &s->packs[r];
        struct spb_cell *c = &cells[r * PACK_COLS];
        c[0] = (struct spb_cell){ .s = p->id };
        c[1] = (struct spb_cell){ .s = p->location };
        c[2] = (struct spb_cell){ .s = p->status };
        c[3] = (struct spb_cell){ .d = p->soh_pct };
        c[4] = (struct spb_cell){ .d = p->efc };
        c[5] = (struct spb_cell){ .d = p->capacity_mah };
        c[6] = (struct spb_cell){ .d = p->dcir_mohm };
    }
    *ds = (struct spb_dataset){ PACK_COLS, (size_t)s->n_packs, pack_columns, pack_types, cells };
}

static void fill_metric(const struct fleetlink_snapshot *s, int id, bool birth, struct spb_metric *m,
                        struct spb_dataset *ds, struct spb_cell *cells)
{
    const struct fleetlink_metric_def *def = &fleetlink_metrics[id];
    const struct fleetlink_value *v = &s->v[id];
    *m = (struct spb_metric){ .name = birth ? def->name : NULL, .has_alias = true, .alias = (uint64_t)id + 1,
                              .has_timestamp = true, .timestamp_ms = (uint64_t)s->t_ms,
                              .datatype = def->datatype, .is_null = v->is_null };
    switch (def->datatype) {
    case SPB_DT_STRING: m->s = v->str; break;
    case SPB_DT_DOUBLE: m->d = v->num; break;
    case SPB_DT_DATASET:
        packs_dataset(s, ds, cells);
        m->ds = ds;
        m->is_null = false;
        break;
    default: m->i = (int64_t)llround(v->num); break;
    }
}

static bool metric_changed(const struct fleetlink_snapshot *a, const struct fleetlink_snapshot *b, int id)
{
    const struct fleetlink_value *x = &a->v[id], *y = &b->v[id];
    const struct fleetlink_metric_def *def = &fleetlink_metrics[id];
    if (def->datatype == SPB_DT_DATASET) {
        if (a->n_packs != b->n_packs)
            return true;
        for (int i = 0; i < a->n_packs; i++) {
            const struct fleetlink_pack *p = &a->packs[i], *q = &b->packs[i];
            if (strcmp(p->id, q->id) || strcmp(p->location, q->location) || strcmp(p->status, q->status) ||
                fabs(p->soh_pct - q->soh_pct) >= 0.5 || fabs(p->efc - q->efc) >= 1.0)
                return true;
        }
        return false;
    }
    if (id >= FM_CMD_SEQ && id <= FM_CMD_RESULT && a->v[FM_CMD_SEQ].num != b->v[FM_CMD_SEQ].num)
        return true; /* an answer travels whole, even where it repeats the last one */
    if (x->is_null != y->is_null)
        return true;
    if (def->datatype == SPB_DT_STRING)
        return strcmp(x->str, y->str) != 0;
    if (def->deadband > 0)
        return fabs(x->num - y->num) >= def->deadband;
    return x->num != y->num;
}

#define MAX_NODE_METRICS (FM_COUNT + 32)

/* NBIRTH (seq 0, bdSeq, every node metric, the commands) and one DBIRTH per device. */
static void publish_births(struct fleetlink *fl)
{
    struct spb_metric m[MAX_NODE_METRICS];
    struct spb_dataset ds;
    uint64_t now = wall_ms();
    const struct fleetlink_snapshot *s = &fl->cur;
    fl->seq = 0;
    size_t n = 0;
    m[n++] = (struct spb_metric){ .name = "bdSeq", .has_alias = true, .alias = FLEETLINK_ALIAS_BDSEQ,
                                  .has_timestamp = true, .timestamp_ms = now, .datatype = SPB_DT_UINT64,
                                  .i = fl->bdseq };
    m[n++] = (struct spb_metric){ .name = "Node Control/Rebirth", .has_alias = true,
                                  .alias = FLEETLINK_ALIAS_REBIRTH, .has_timestamp = true, .timestamp_ms = now,
                                  .datatype = SPB_DT_BOOLEAN, .i = 0 };
    /* Writable by the host (the roaming packs' answer): born like the other controls. */
    m[n++] = (struct spb_metric){ .name = FLEETLINK_PACK_ESTIMATES, .has_alias = true,
                                  .alias = FLEETLINK_ALIAS_PACK_ESTIMATES, .has_timestamp = true,
                                  .timestamp_ms = now, .datatype = SPB_DT_STRING, .s = "" };
    static char cmd_names[16][48];
    for (size_t c = 0; c < fleetlink_n_commands && c < 16; c++) {
        snprintf(cmd_names[c], sizeof cmd_names[c], "Node Control/%s", fleetlink_commands[c].metric);
        m[n++] = (struct spb_metric){ .name = cmd_names[c], .has_alias = true,
                                      .alias = FLEETLINK_ALIAS_CMD_BASE + c, .has_timestamp = true,
                                      .timestamp_ms = now,
                                      .datatype = fleetlink_commands[c].takes_arg ? SPB_DT_STRING : SPB_DT_BOOLEAN,
                                      .s = "", .i = 0 };
    }
    static const char *const ev_names[] = { "Event/Id", "Event/Type", "Event/Text" };
    for (int e = 0; e < 3; e++)
        m[n++] = (struct spb_metric){ .name = ev_names[e], .has_alias = true,
                                      .alias = (uint64_t)(FLEETLINK_ALIAS_EVENT_ID + e), .has_timestamp = true,
                                      .timestamp_ms = now, .datatype = SPB_DT_STRING, .is_null = true };
    for (int id = 0; id < FM_COUNT; id++)
        if (fleetlink_metrics[id].dev == FLEETLINK_NODE)
            fill_metric(s, id, true, &m[n++], &ds, fl->pack_cells);
    struct spb_payload p = { .has_timestamp = true, .timestamp_ms = now, .n_metrics = n, .metrics = m };
    send_payload(fl, SPB_NBIRTH, NULL, &p, 0);
    static char dcmd_names[16][48];
    for (int dev = 1; dev < FLEETLINK_N_DEVICES; dev++) {
        n = 0;
        for (int id = 0; id < FM_COUNT; id++)
            if ((int)fleetlink_metrics[id].dev == dev)
                fill_metric(s, id, true, &m[n++], &ds, fl->pack_cells);
        for (size_t c = 0; c < fleetlink_n_commands && c < 16; c++) {
            if ((int)fleetlink_commands[c].dev != dev)
                continue;
            snprintf(dcmd_names[c], sizeof dcmd_names[c], "Device Control/%s", fleetlink_commands[c].metric);
            m[n++] = (struct spb_metric){ .name = dcmd_names[c], .has_alias = true,
                                          .alias = FLEETLINK_ALIAS_DCMD_BASE + c, .has_timestamp = true,
                                          .timestamp_ms = now,
                                          .datatype = fleetlink_commands[c].takes_arg ? SPB_DT_STRING : SPB_DT_BOOLEAN,
                                          .s = "", .i = 0 };
        }
        p = (struct spb_payload){ .has_timestamp = true, .timestamp_ms = now, .n_metrics = n, .metrics = m };
        send_payload(fl, SPB_DBIRTH, fleetlink_device_names[dev], &p, 0);
    }
    fl->sent = fl->cur;
    fl->born = true;
    fl->birth_wall_ms = now;
    fl->births_pending = false;
    pthread_mutex_lock(&fl->stats_mu);
    fl->stats.births++;
    fl->stats.online = true;
    pthread_mutex_unlock(&fl->stats_mu);
    logmsg(6, "birth as %s/%s, bdSeq %u", fl->cfg.group_id, fl->cfg.edge_node_id, fl->bdseq);
}

/* NDATA / DDATA with the metrics that moved past their deadband since last sent. */
static void publish_changes(struct fleetlink *fl)
{
    struct spb_metric m[MAX_NODE_METRICS];
    struct spb_dataset ds;
    bool changed[FM_COUNT];
    for (int id = 0; id < FM_COUNT; id++)
        changed[id] = metric_changed(&fl->cur, &fl->sent, id);
    for (int dev = 0; dev < FLEETLINK_N_DEVICES; dev++) {
        size_t n = 0;
        for (int id = 0; id < FM_COUNT; id++) {
            if ((int)fleetlink_metrics[id].dev != dev || !changed[id])
                continue;
            fill_metric(&fl->cur, id, false, &m[n++], &ds, fl->pack_cells);
            fl->sent.v[id] = fl->cur.v[id];
            if (id == FM_MAG_PACKS) {
                fl->sent.n_packs = fl->cur.n_packs;
                memcpy(fl->sent.packs, fl->cur.packs, sizeof fl->sent.packs);
            }
        }
        if (!n)
            continue;
        struct spb_payload p = { .has_timestamp = true, .timestamp_ms = (uint64_t)fl->cur.t_ms, .n_metrics = n,
                                 .metrics = m };
        send_payload(fl, dev ? SPB_DDATA : SPB_NDATA, dev ? fleetlink_device_names[dev] : NULL, &p, 0);
    }
}

/* Hands the oldest spooled events to the broker (QoS 1: a row leaves the spool only when
 * the broker acknowledged it); those stored while offline go as historical. */
static void publish_spool(struct fleetlink *fl)
{
    if (fl->n_inflight >= INFLIGHT_MAX || fl->cursor >= fl->spool_top)
        return; /* nothing written since the last row handed over */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(fl->db, "SELECT id, t_ms, event_id, type, text, offline FROM spool WHERE id > ? ORDER BY id LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, fl->cursor);
    sqlite3_bind_int(st, 2, INFLIGHT_MAX - fl->n_inflight);
    int sent = 0;
    bool rows_left = true;
    while ((rows_left = sqlite3_step(st) == SQLITE_ROW)) {
        long long rowid = sqlite3_column_int64(st, 0);
        uint64_t t = (uint64_t)sqlite3_column_int64(st, 1);
        /* historical: stored while offline, or older than this session's birth (it was
         * stored online but not acknowledged before the link went down) */
        bool hist = sqlite3_column_int(st, 5) != 0 || t < fl->birth_wall_ms;
        struct spb_metric m[3];
        for (int e = 0; e < 3; e++)
            m[e] = (struct spb_metric){ .has_alias = true, .alias = (uint64_t)(FLEETLINK_ALIAS_EVENT_ID + e),
                                        .has_timestamp = true, .timestamp_ms = t, .datatype = SPB_DT_STRING,
                                        .is_historical = hist, .s = (const char *)sqlite3_column_text(st, 2 + e) };
        struct spb_payload p = { .has_timestamp = true, .timestamp_ms = wall_ms(), .n_metrics = 3, .metrics = m };
        int mid = send_payload(fl, SPB_NDATA, NULL, &p, 1);
        if (mid < 0)
            break;
        fl->inflight[fl->n_inflight++] = (struct inflight){ mid, rowid };
        fl->cursor = rowid;
        sent++;
    }
    sqlite3_finalize(st);
    if (!sent && !rows_left)
        fl->cursor = fl->spool_top; /* no row above the cursor: those up to the top are gone */
}

/* ---- callbacks (on the thread, inside service()) ----------------------------------- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct fleetlink *fl = obj;
    if (rc != 0) {
        logmsg(4, "broker refused the connection: %s", mosquitto_connack_string(rc));
        return;
    }
    char topic[SPB_TOPIC_MAX];
    topic_for(fl, SPB_NCMD, NULL, topic);
    mosquitto_subscribe(mosq, NULL, topic, 1);
    snprintf(topic, sizeof topic, "spBv1.0/%s/DCMD/%s/+", fl->cfg.group_id, fl->cfg.edge_node_id);
    mosquitto_subscribe(mosq, NULL, topic, 1);
    if (fl->cfg.primary_host_id[0]) {
        struct spb_topic tp = { .type = SPB_STATE };
        snprintf(tp.host, sizeof tp.host, "%s", fl->cfg.primary_host_id);
        spb_topic_format(topic, sizeof topic, &tp);
        mosquitto_subscribe(mosq, NULL, topic, 1);
    } else {
        fl->births_pending = true;
    }
    fl->backoff_ms = fl->cfg.backoff_min_ms;
    fl->session_up = true;
    logmsg(6, "connected to %s:%d", fl->cfg.host, fl->cfg.port);
}

static void queue_command(struct fleetlink *fl, const char *device, const char *console, const char *arg,
                          const char *req_id)
{
    pthread_mutex_lock(&fl->cmd_mu);
    if (fl->n_cmds < CMD_QUEUE) {
        struct fleetlink_cmd *c = &fl->cmds[fl->n_cmds++];
        snprintf(c->device, sizeof c->device, "%s", device ? device : "");
        snprintf(c->console, sizeof c->console, "%s", console);
        snprintf(c->arg, sizeof c->arg, "%s", arg ? arg : "");
        snprintf(c->request_id, sizeof c->request_id, "%s", req_id ? req_id : "");
    }
    pthread_mutex_unlock(&fl->cmd_mu);
    pthread_mutex_lock(&fl->stats_mu);
    fl->stats.commands++;
    pthread_mutex_unlock(&fl->stats_mu);
}

static void handle_ncmd(struct fleetlink *fl, const struct mosquitto_message *msg)
{
    struct spb_decoded d;
    if (spb_decode(msg->payload, (size_t)msg->payloadlen, &d) != 0) {
        logmsg(4, "NCMD that is not a Sparkplug B payload ignored");
        return;
    }
    const char *req_id = "";
    for (size_t i = 0; i < d.p.n_metrics; i++) {
        const struct spb_metric *m = &d.metrics[i];
        if (m->name && !strcmp(m->name, "Command/Request Id") && m->s)
            req_id = m->s;
    }
    for (size_t i = 0; i < d.p.n_metrics; i++) {
        const struct spb_metric *m = &d.metrics[i];
        const char *name = m->name ? m->name : "";
        if ((!strcmp(name, FLEETLINK_PACK_ESTIMATES) ||
             (!name[0] && m->has_alias && m->alias == FLEETLINK_ALIAS_PACK_ESTIMATES)) && m->s && m->s[0]) {
            queue_command(fl, NULL, "pack_estimates", m->s, req_id);
            continue;
        }
        if (!strcmp(name, "Node Control/Rebirth") || (m->has_alias && m->alias == FLEETLINK_ALIAS_REBIRTH)) {
            if (m->i)
                fl->births_pending = true;
            continue;
        }
        for (size_t c = 0; c < fleetlink_n_commands; c++) {
            char full[64];
            snprintf(full, sizeof full, "Node Control/%s", fleetlink_commands[c].metric);
            if (strcmp(name, full) && !(m->has_alias && m->alias == FLEETLINK_ALIAS_CMD_BASE + c))
                continue;
            if (fleetlink_commands[c].takes_arg ? (m->s && m->s[0]) : m->i != 0)
                queue_command(fl, NULL, fleetlink_commands[c].console, fleetlink_commands[c].takes_arg ? m->s : NULL,
                              req_id);
        }
    }
    spb_decoded_free(&d);
}

/* DCMD to one of our devices: "Device Control/<Command>" for the commands that act on
 * that device; any other metric (but the request id) is answered as refused. */
static void handle_dcmd(struct fleetlink *fl, const char *device, const struct mosquitto_message *msg)
{
    int dev = 0;
    for (int i = 1; i < FLEETLINK_N_DEVICES; i++)
        if (!strcmp(device, fleetlink_device_names[i]))
            dev = i;
    struct spb_decoded d;
    if (!dev || spb_decode(msg->payload, (size_t)msg->payloadlen, &d) != 0) {
        logmsg(4, "DCMD to %s ignored: %s", device, dev ? "not a Sparkplug B payload" : "no such device");
        return;
    }
    const char *req_id = "";
    for (size_t i = 0; i < d.p.n_metrics; i++)
        if (d.metrics[i].name && !strcmp(d.metrics[i].name, "Command/Request Id") && d.metrics[i].s)
            req_id = d.metrics[i].s;
    for (size_t i = 0; i < d.p.n_metrics; i++) {
        const struct spb_metric *m = &d.metrics[i];
        const char *name = m->name ? m->name : "";
        if (!strcmp(name, "Command/Request Id"))
            continue;
        bool known = false;
        for (size_t c = 0; c < fleetlink_n_commands; c++) {
            char full[64];
            snprintf(full, sizeof full, "Device Control/%s", fleetlink_commands[c].metric);
            if ((int)fleetlink_commands[c].dev != dev ||
                (strcmp(name, full) && !(m->has_alias && m->alias == FLEETLINK_ALIAS_DCMD_BASE + c)))
                continue;
            known = true;
            if (fleetlink_commands[c].takes_arg ? (m->s && m->s[0]) : m->i != 0)
                queue_command(fl, device, fleetlink_commands[c].console, fleetlink_commands[c].takes_arg ? m->s : NULL,
                              req_id);
        }
        if (!known)
            queue_command(fl, device, "", name[0] ? name : "(alias only)", req_id);
    }
    spb_decoded_free(&d);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    (void)mosq;
    struct fleetlink *fl = obj;
    struct spb_topic t;
    if (spb_topic_parse(msg->topic, &t) != 0)
        return;
    if (t.type == SPB_STATE) {
        bool online;
        uint64_t ts;
        if (spb_state_parse(msg->payload, (size_t)msg->payloadlen, &online, &ts) != 0 || ts < fl->host_state_ts)
            return;
        fl->host_state_ts = ts;
        if (online && !fl->host_online)
            fl->births_pending = true;
        if (!online && fl->host_online) {
            /* Sparkplug 3.0: NDEATH, disconnect, start the connection over (the thread
             * does it after this callback) and birth again only on an online STATE. */
            logmsg(4, "primary host %s offline: NDEATH, disconnecting, reconnecting", fl->cfg.primary_host_id);
            fl->host_offline_pending = true;
        }
        fl->host_online = online;
    } else if (t.type == SPB_NCMD && !strcmp(t.node, fl->cfg.edge_node_id)) {
        handle_ncmd(fl, msg);    } else if (t.type == SPB_DCMD && !strcmp(t.node, fl->cfg.edge_node_id)) {
        handle_dcmd(fl, t.device, msg);
    }
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    (void)mosq;
    struct fleetlink *fl = obj;
    for (int i = 0; i < fl->n_inflight; i++) {
        if (fl->inflight[i].mid != mid)
            continue;
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(fl->db, "DELETE FROM spool WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, fl->inflight[i].rowid);
            sqlite3_step(st);
            sqlite3_finalize(st);
        }
        fl->depth_dirty = true;
        fl->inflight[i] = fl->inflight[--fl->n_inflight];
        pthread_mutex_lock(&fl->stats_mu);
        fl->stats.sent_events++;
        pthread_mutex_unlock(&fl->stats_mu);
        return;
    }
}

/* ---- the thread -------------------------------------------------------------------- */

/* The next reconnect delay: the current back-off with +-25 % jitter, so that stations
 * cut off together (a broker restart) do not all come back in the same millisecond;
 * then the back-off doubles up to its bound. */
static void schedule_reconnect(struct fleetlink *fl)
{
    unsigned jitter = (unsigned)rand_r(&fl->rng) % 51u; /* 0..50 -> -25..+25 % */
    fl->next_try_ms = mono_ms() + (uint64_t)fl->backoff_ms * (75u + jitter) / 100u;
    fl->backoff_ms = fl->backoff_ms * 2 > fl->cfg.backoff_max_ms ? fl->cfg.backoff_max_ms : fl->backoff_ms * 2;
}

static void lost_connection(struct fleetlink *fl, const char *why)
{
    if (fl->connected)
        logmsg(4, "broker connection lost (%s); spooling, reconnecting", why);
    fl->connected = fl->session_up = fl->born = fl->host_online = fl->host_offline_pending = false;
    fl->n_inflight = 0;             /* unacknowledged rows are sent again */
    fl->cursor = 0;
    schedule_reconnect(fl);
    pthread_mutex_lock(&fl->stats_mu);
    fl->stats.online = false;
    pthread_mutex_unlock(&fl->stats_mu);
}

/* One round of network work: libmosquitto's own mosquitto_loop() uses select(), which
 * cannot watch a descriptor numbered 1024 or above — a daemon with a registry, a spool
 * and many clients gets there — so the socket is polled here. */
static int service(struct fleetlink *fl, int timeout_ms)
{
    int sock = mosquitto_socket(fl->mosq);
    if (sock < 0)
        return MOSQ_ERR_NO_CONN;
    struct pollfd p = { .fd = sock, .events = POLLIN | (mosquitto_want_write(fl->mosq) ? POLLOUT : 0) };
    int n = poll(&p, 1, timeout_ms);
    int rc = MOSQ_ERR_SUCCESS;
    if (n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
        rc = mosquitto_loop_read(fl->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(fl->mosq))
        rc = mosquitto_loop_write(fl->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_loop_misc(fl->mosq);
    return rc;
}

static void try_connect(struct fleetlink *fl)
{
    /* A new session, a new bdSeq: the will (NDEATH) carries it, the NBIRTH repeats it.
     * Only a CONNECT that left uses one up: an attempt whose TCP connection failed sent
     * none, so the next attempt keeps it (Sparkplug 3.0: one more than the previous
     * CONNECT's). */
    if (fl->bdseq_sent) {
        fl->bdseq = (fl->bdseq + 1) % 256;
        spool_set_meta(fl, "bdseq", fl->bdseq);
        fl->bdseq_sent = false;
    }
    struct spb_metric m = { .name = "bdSeq", .datatype = SPB_DT_UINT64, .i = fl->bdseq };
    struct spb_payload p = { .has_timestamp = true, .timestamp_ms = wall_ms(), .n_metrics = 1, .metrics = &m };
    size_t n = spb_encode(&p, fl->buf, BUF_SIZE);
    char topic[SPB_TOPIC_MAX];
    topic_for(fl, SPB_NDEATH, NULL, topic);
    mosquitto_will_clear(fl->mosq);
    mosquitto_will_set(fl->mosq, topic, (int)n, fl->buf, 1, false);
    int rc = mosquitto_connect(fl->mosq, fl->cfg.host, fl->cfg.port, fl->cfg.keepalive_s);
    pthread_mutex_lock(&fl->stats_mu);
    fl->stats.bdseq = fl->bdseq;
    pthread_mutex_unlock(&fl->stats_mu);
    if (rc != MOSQ_ERR_SUCCESS) {
        schedule_reconnect(fl);
        return;
    }
    fl->bdseq_sent = true;
    fl->connected = true;
    pthread_mutex_lock(&fl->stats_mu);
    fl->stats.connects++;
    pthread_mutex_unlock(&fl->stats_mu);
}

static void take_snapshot(struct fleetlink *fl)
{
    pthread_mutex_lock(&fl->snap_mu);
    if (fl->snap_new) {
        fl->cur = fl->snap_shared;
        fl->snap_new = false;
        fl->have_cur = true;
    }
    pthread_mutex_unlock(&fl->snap_mu);
    uint64_t depth = spool_depth(fl);
    fl->cur.v[FM_SPOOL_DEPTH] = (struct fleetlink_value){ .num = (double)depth };
    fl->cur.v[FM_SPOOL_DROPPED] = (struct fleetlink_value){ .num = (double)fl->dropped };
    pthread_mutex_lock(&fl->stats_mu);
    fl->stats.spool_depth = depth;
    pthread_mutex_unlock(&fl->stats_mu);
}

/* An intentional disconnect: say NDEATH ourselves (the broker drops the will on
 * DISCONNECT), give it a moment to leave, then DISCONNECT. */
static void say_death_and_disconnect(struct fleetlink *fl)
{
    struct spb_metric m = { .name = "bdSeq", .datatype = SPB_DT_UINT64, .i = fl->bdseq };
    struct spb_payload p = { .has_timestamp = true, .timestamp_ms = wall_ms(), .n_metrics = 1, .metrics = &m };
    send_payload(fl, SPB_NDEATH, NULL, &p, 1);
    for (int i = 0; i < 20 && mosquitto_want_write(fl->mosq); i++)
        service(fl, 10);
    service(fl, 10); /* the PUBACK, if it comes at once */
    mosquitto_disconnect(fl->mosq);
    service(fl, 10);
}

static void *fleet_thread(void *arg)
{
    struct fleetlink *fl = arg;
    fl->backoff_ms = fl->cfg.backoff_min_ms;
    while (!atomic_load(&fl->stop)) {
        uint64_t now = mono_ms();
        if (!fl->connected && now >= fl->next_try_ms)
            try_connect(fl);
        if (fl->connected) {
            int rc = service(fl, 10);
            if (rc != MOSQ_ERR_SUCCESS) {
                lost_connection(fl, mosquitto_strerror(rc));
            } else if (fl->host_offline_pending) {
                say_death_and_disconnect(fl);
                lost_connection(fl, "primary host offline");
                fl->next_try_ms = mono_ms(); /* start the connection over at once */
                pthread_mutex_lock(&fl->stats_mu);
                fl->stats.host_offline_disconnects++;
                pthread_mutex_unlock(&fl->stats_mu);
            }
        } else {
            struct timespec ts = { 0, 10 * 1000000L };
            nanosleep(&ts, NULL);
        }
        spool_drain_ring(fl);
        bool may_publish = fl->session_up && (!fl->cfg.primary_host_id[0] || fl->host_online);
        now = mono_ms();
        if (now >= fl->next_publish_ms) {
            fl->next_publish_ms = now + (uint64_t)fl->cfg.publish_period_ms;
            take_snapshot(fl);
            /* nothing goes out before the broker accepted the session */
            if (may_publish && fl->have_cur) {
                if (fl->births_pending || !fl->born)
                    publish_births(fl);
                else
                    publish_changes(fl);
            }
        }
        if (may_publish && fl->born)
            publish_spool(fl);
    }
    if (fl->connected)
        say_death_and_disconnect(fl);
    spool_drain_ring(fl);
    return NULL;
}

struct fleetlink *fleetlink_start(const struct fleetlink_cfg *cfg, char *err, size_t errsize)
{
    if (cfg->backoff_max_ms < cfg->backoff_min_ms) {
        snprintf(err, errsize, "[fleet] backoff_max_ms must not be below backoff_min_ms");
        return NULL;
    }
    struct spb_topic tp = { .type = SPB_NBIRTH };
    char topic[SPB_TOPIC_MAX];
    snprintf(tp.group, sizeof tp.group, "%s", cfg->group_id);
    snprintf(tp.node, sizeof tp.node, "%s", cfg->edge_node_id);
    if (spb_topic_format(topic, sizeof topic, &tp) != 0) {
        snprintf(err, errsize, "[fleet] group_id and edge_node_id must be non-empty and hold no '/', '+' or '#'");
        return NULL;
    }
    struct fleetlink *fl = calloc(1, sizeof *fl);
    if (!fl || !(fl->buf = malloc(BUF_SIZE))) {
        free(fl);
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    fl->cfg = *cfg;
    fl->rng = (unsigned)wall_ms();
    for (const char *c = cfg->edge_node_id; *c; c++)
        fl->rng = fl->rng * 31u + (unsigned char)*c;
    pthread_mutex_init(&fl->snap_mu, NULL);
    pthread_mutex_init(&fl->cmd_mu, NULL);
    pthread_mutex_init(&fl->stats_mu, NULL);
    if (spool_open(fl, err, errsize) != 0)
        goto fail;
    mosquitto_lib_init();
    fl->mosq = mosquitto_new(cfg->edge_node_id, true, fl);
    if (!fl->mosq) {
        snprintf(err, errsize, "mosquitto_new: %s", strerror(errno));
        goto fail;
    }
    mosquitto_int_option(fl->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    if (cfg->username[0] && mosquitto_username_pw_set(fl->mosq, cfg->username, cfg->password[0] ? cfg->password : NULL) != 0) {
        snprintf(err, errsize, "[fleet] username: not accepted");
        goto fail;
    }
    if (cfg->ca_file[0]) {
        int rc = mosquitto_tls_set(fl->mosq, cfg->ca_file, NULL, cfg->cert_file[0] ? cfg->cert_file : NULL,
                                   cfg->key_file[0] ? cfg->key_file : NULL, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errsize, "[fleet] TLS: %s", mosquitto_strerror(rc));
            goto fail;
        }
        mosquitto_tls_opts_set(fl->mosq, 1, NULL, NULL); /* verify the server's certificate */
    }
    mosquitto_connect_callback_set(fl->mosq, on_connect);
    mosquitto_message_callback_set(fl->mosq, on_message);
    mosquitto_publish_callback_set(fl->mosq, on_publish);
    for (int id = 0; id < FM_COUNT; id++)
        fl->cur.v[id].is_null = true;
    if (pthread_create(&fl->thread, NULL, fleet_thread, fl) != 0) {
        snprintf(err, errsize, "cannot start the fleet thread");
        goto fail;
    }
    return fl;
fail:
    if (fl->mosq)
        mosquitto_destroy(fl->mosq);
    if (fl->db)
        sqlite3_close(fl->db);
    free(fl->buf);
    free(fl);
    return NULL;
}

void fleetlink_stop(struct fleetlink *fl)
{
    if (!fl)
        return;
    atomic_store(&fl->stop, true);
    pthread_join(fl->thread, NULL);
    mosquitto_destroy(fl->mosq);
    sqlite3_close(fl->db);
    free(fl->buf);
    free(fl);
}

void fleetlink_publish(struct fleetlink *fl, const struct fleetlink_snapshot *s)
{
    if (pthread_mutex_trylock(&fl->snap_mu) != 0)
        return; /* the thread is copying: the next scan's snapshot will do */
    fl->snap_shared = *s;
    fl->snap_new = true;
    pthread_mutex_unlock(&fl->snap_mu);
}

int fleetlink_post_event(struct fleetlink *fl, const struct fleetlink_event *e)
{
    size_t head = atomic_load_explicit(&fl->ring_head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&fl->ring_tail, memory_order_acquire);
    if (head - tail >= EVENT_RING) {
        atomic_fetch_add(&fl->ring_dropped, 1);
        return -1;
    }
    fl->ring[head % EVENT_RING] = *e;
    atomic_store_explicit(&fl->ring_head, head + 1, memory_order_release);
    return 0;
}

int fleetlink_take_command(struct fleetlink *fl, struct fleetlink_cmd *out)
{
    if (pthread_mutex_trylock(&fl->cmd_mu) != 0)
        return 0;
    int got = 0;
    if (fl->n_cmds > 0) {
        *out = fl->cmds[0];
        memmove(fl->cmds, fl->cmds + 1, (size_t)(fl->n_cmds - 1) * sizeof fl->cmds[0]);
        fl->n_cmds--;
        got = 1;
    }
    pthread_mutex_unlock(&fl->cmd_mu);
    return got;
}

void fleetlink_get_stats(struct fleetlink *fl, struct fleetlink_stats *out)
{
    pthread_mutex_lock(&fl->stats_mu);
    *out = fl->stats;
    pthread_mutex_unlock(&fl->stats_mu);
}
