/* swapfleet: the fleet's Sparkplug B host application (docs/fleet.md).
 *
 * `swapfleet serve` subscribes to the group, publishes its STATE (online, and offline as
 * its MQTT will), keeps every station's metrics and events, and writes them to a state
 * file; `status`, `batteries` and `events` read that file; `cmd` and `rebirth` send an
 * NCMD to one station and wait for its answer.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <locale.h>
#include <mosquitto.h>
#include <ncurses.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleetlink/fleetlink.h"
#include "sparkplug/spb.h"

#define EVENTS_KEPT 20000

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

struct opts {
    char host[128];
    int port;
    char group[SPB_ID_MAX], host_id[SPB_ID_MAX];
    const char *state_file;
    const char *username, *password, *ca_file, *cert_file, *key_file;
    bool json, follow;
    int timeout_ms;
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct mosquitto *client(const struct opts *o, const char *id, void *obj)
{
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(id, true, obj);
    if (!m)
        return NULL;
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    if (o->username)
        mosquitto_username_pw_set(m, o->username, o->password);
    if (o->ca_file) {
        mosquitto_tls_set(m, o->ca_file, NULL, o->cert_file, o->key_file, NULL);
        mosquitto_tls_opts_set(m, 1, NULL, NULL);
    }
    return m;
}

/* ---- serve: the host application --------------------------------------------------- */

struct host {
    const struct opts *o;
    struct mosquitto *m;
    json_t *stations;           /* node id -> station record */
    json_t *seen_ids;           /* node id -> {event id: true} (duplicates are dropped) */
    bool dirty, connected;
    uint64_t state_ts;
};

static json_t *station_rec(struct host *h, const char *node)
{
    json_t *s = json_object_get(h->stations, node);
    if (!s) {
        s = json_pack("{s:b, s:I, s:I, s:I, s:I, s:{}, s:{}, s:[], s:I, s:I, s:I}", "online", 0, "bdseq", (json_int_t)-1,
                      "births", (json_int_t)0, "deaths", (json_int_t)0, "last_seen_ms", (json_int_t)0, "metrics",
                      "aliases", "events", "duplicates", (json_int_t)0, "historical", (json_int_t)0, "seq_gaps",
                      (json_int_t)0);
        json_object_set_new(h->stations, node, s);
        json_object_set_new(h->seen_ids, node, json_object());
    }
    return s;
}

static json_t *metric_json(const struct spb_metric *m, uint32_t dt)
{
    if (m->is_null)
        return json_null();
    struct spb_metric c = *m;
    c.datatype = dt;
    switch (dt) {
    case SPB_DT_STRING: case SPB_DT_TEXT: case SPB_DT_UUID: return json_string(m->s ? m->s : "");
    case SPB_DT_BOOLEAN: return json_boolean(m->i);
    case SPB_DT_FLOAT: case SPB_DT_DOUBLE: return json_real(m->d);
    case SPB_DT_DATASET: {
        json_t *rows = json_array();
        const struct spb_dataset *ds = m->ds;
        for (size_t r = 0; ds && r < ds->n_rows; r++) {
            json_t *row = json_object();
            for (size_t col = 0; col < ds->n_columns; col++) {
                const struct spb_cell *cell = &ds->cells[r * ds->n_columns + col];
                uint32_t t = ds->types[col];
                json_t *v = cell->is_null ? json_null()
                            : (t == SPB_DT_STRING) ? json_string(cell->s ? cell->s : "")
                            : (t == SPB_DT_FLOAT || t == SPB_DT_DOUBLE) ? json_real(cell->d)
                                                                        : json_integer(cell->i);
                json_object_set_new(row, ds->columns[col], v);
            }
            json_array_append_new(rows, row);
        }
        return rows;
    }
    default: {
        double v = spb_metric_number(&c);
        return isnan(v) ? json_null() : json_integer((json_int_t)v);
    }
    }
}

static void send_rebirth(struct host *h, const char *node)
{
    struct spb_metric m = { .name = "Node Control/Rebirth", .datatype = SPB_DT_BOOLEAN, .i = 1 };
    struct spb_payload p = { .has_timestamp = true, .timestamp_ms = wall_ms(), .n_metrics = 1, .metrics = &m };
    uint8_t buf[256];
    size_t n = spb_encode(&p, buf, sizeof buf);
    struct spb_topic t = { .type = SPB_NCMD };
    char topic[SPB_TOPIC_MAX];
    snprintf(t.group, sizeof t.group, "%s", h->o->group);
    snprintf(t.node, sizeof t.node, "%s", node);
    if (n && spb_topic_format(topic, sizeof topic, &t) == 0)
        mosquitto_publish(h->m, NULL, topic, (int)n, buf, 0, false);
}

/* Roaming packs: a station asks for a pack it has never seen; the answer comes from the
 * other station that reported the pack last (its magazine's Packs table). */
static void answer_pack_query(struct host *h, const char *node, json_t *st, const char *id)
{
    const char *best = NULL;
    json_t *row = NULL;
    json_int_t best_seen = -1;
    const char *other;
    json_t *o;
    json_object_foreach(h->stations, other, o) {
        if (!strcmp(other, node))
            continue;
        json_t *rows = json_object_get(json_object_get(o, "metrics"), "magazine/Packs"), *r;
        size_t i;
        json_array_foreach(rows, i, r) {
            json_int_t seen = json_integer_value(json_object_get(o, "last_seen_ms"));
            if (!strcmp(json_string_value(json_object_get(r, "Battery")) ?: "", id) && seen > best_seen) {
                best = other, row = r, best_seen = seen;
            }
        }
    }
    json_object_set_new(st, "pack_query", json_string(id));
    if (!best)
        return; /* nobody knows it: the station times out and starts from rated values */
    char value[160];
    snprintf(value, sizeof value, "%s;%.1f;%.3f;%.2f;%s", id, json_number_value(json_object_get(row, "Capacity mAh")),
             json_number_value(json_object_get(row, "DCIR mOhm")), json_number_value(json_object_get(row, "EFC")), best);
    struct spb_metric m = { .name = FLEETLINK_PACK_ESTIMATES, .datatype = SPB_DT_STRING, .s = value };
    struct spb_payload p = { .has_timestamp = true, .timestamp_ms = wall_ms(), .n_metrics = 1, .metrics = &m };
    uint8_t buf[512];
    size_t n = spb_encode(&p, buf, sizeof buf);
    struct spb_topic t = { .type = SPB_NCMD };
    char topic[SPB_TOPIC_MAX];
    snprintf(t.group, sizeof t.group, "%s", h->o->group);
    snprintf(t.node, sizeof t.node, "%s", node);
    if (n && spb_topic_format(topic, sizeof topic, &t) == 0 &&
        mosquitto_publish(h->m, NULL, topic, (int)n, buf, 1, false) == MOSQ_ERR_SUCCESS) {
        json_object_set_new(st, "pack_answers", json_integer(json_integer_value(json_object_get(st, "pack_answers")) + 1));
        json_object_set_new(st, "pack_answer", json_string(value));
        fprintf(stderr, "swapfleet: %s asked for %s: answered from %s\n", node, id, best);
    }
}

/* Applies the metrics of a birth or data message to a station (device "" = the node). */
static void apply_metrics(struct host *h, const char *node, json_t *st, const char *device,
                          const struct spb_decoded *d, bool birth)
{
    json_t *aliases = json_object_get(st, "aliases"), *metrics = json_object_get(st, "metrics");
    const char *ev_id = NULL, *ev_type = NULL, *ev_text = NULL;
    bool ev_hist = false;
    uint64_t ev_t = 0;
    for (size_t i = 0; i < d->p.n_metrics; i++) {
        const struct spb_metric *m = &d->metrics[i];
        char akey[96];
        snprintf(akey, sizeof akey, "%s/%llu", device, (unsigned long long)m->alias);
        const char *name = m->name;
        uint32_t dt = m->datatype;
        json_t *a = m->has_alias ? json_object_get(aliases, akey) : NULL;
        if (birth && m->name && m->has_alias) {
            json_object_set_new(aliases, akey, json_pack("{s:s, s:i}", "name", m->name, "datatype", (int)m->datatype));
        } else if (!name && a) {
            name = json_string_value(json_object_get(a, "name"));
            if (!dt)
                dt = (uint32_t)json_integer_value(json_object_get(a, "datatype"));
        }
        if (!name)
            continue;
        if (!strcmp(name, "Event/Id")) {
            ev_id = m->s, ev_hist = m->is_historical, ev_t = m->timestamp_ms;
            continue;
        }
        if (!strcmp(name, "Event/Type")) {
            ev_type = m->s;
            continue;
        }
        if (!strcmp(name, "Event/Text")) {
            ev_text = m->s;
            continue;
        }
        if (!strcmp(name, "bdSeq")) {
            json_object_set_new(st, "bdseq", json_integer(m->i));
            continue;
        }
        if (!device[0] && !strcmp(name, "Fleet/Pack Query") && m->s && m->s[0] &&
            strcmp(json_string_value(json_object_get(st, "pack_query")) ?: "", m->s))
            answer_pack_query(h, node, st, m->s);
        char key[160];
        snprintf(key, sizeof key, "%s%s%s", device, device[0] ? "/" : "", name);
        json_object_set_new(metrics, key, metric_json(m, dt));
    }
    if (ev_id && ev_id[0]) {
        json_t *seen = json_object_get(h->seen_ids, node);
        if (json_object_get(seen, ev_id)) {
            json_object_set_new(st, "duplicates", json_integer(json_integer_value(json_object_get(st, "duplicates")) + 1));
        } else {
            json_object_set_new(seen, ev_id, json_true());
            json_t *evs = json_object_get(st, "events");
            json_array_append_new(evs, json_pack("{s:s, s:I, s:s, s:s, s:b}", "id", ev_id, "t_ms", (json_int_t)ev_t,
                                                 "type", ev_type ? ev_type : "", "text", ev_text ? ev_text : "",
                                                 "historical", ev_hist));
            if (ev_hist)
                json_object_set_new(st, "historical", json_integer(json_integer_value(json_object_get(st, "historical")) + 1));
            while (json_array_size(evs) > EVENTS_KEPT)
                json_array_remove(evs, 0);
        }
    }
}

static void on_host_connect(struct mosquitto *m, void *obj, int rc)
{
    struct host *h = obj;
    if (rc != 0) {
        fprintf(stderr, "swapfleet: broker refused: %s\n", mosquitto_connack_string(rc));
        return;
    }
    char topic[SPB_TOPIC_MAX], payload[96];
    snprintf(topic, sizeof topic, SPB_NAMESPACE "/%s/#", h->o->group);
    mosquitto_subscribe(m, NULL, topic, 1);
    struct spb_topic t = { .type = SPB_STATE };
    snprintf(t.host, sizeof t.host, "%s", h->o->host_id);
    spb_topic_format(topic, sizeof topic, &t);
    mosquitto_subscribe(m, NULL, topic, 1);
    spb_state_format(payload, sizeof payload, true, h->state_ts);
    mosquitto_publish(m, NULL, topic, (int)strlen(payload), payload, 1, true);
    fprintf(stderr, "swapfleet: host %s online on %s:%d, group %s\n", h->o->host_id, h->o->host, h->o->port, h->o->group);
}

static void on_host_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    struct host *h = obj;
    struct spb_topic t;
    if (spb_topic_parse(msg->topic, &t) != 0 || t.type == SPB_STATE || strcmp(t.group, h->o->group))
        return;
    if (t.type == SPB_NCMD || t.type == SPB_DCMD)
        return;
    struct spb_decoded d;
    if (spb_decode(msg->payload, (size_t)msg->payloadlen, &d) != 0)
        return;
    json_t *st = station_rec(h, t.node);
    json_object_set_new(st, "last_seen_ms", json_integer((json_int_t)wall_ms()));
    switch (t.type) {
    case SPB_NBIRTH:
        json_object_clear(json_object_get(st, "aliases"));
        json_object_set_new(st, "online", json_true());
        json_object_set_new(st, "births", json_integer(json_integer_value(json_object_get(st, "births")) + 1));
        json_object_set_new(st, "birth_ms", json_integer((json_int_t)d.p.timestamp_ms));
        json_object_set_new(st, "seq", json_integer((json_int_t)d.p.seq));
        apply_metrics(h, t.node, st, "", &d, true);
        break;
    case SPB_NDEATH: {
        json_int_t bd = d.p.n_metrics ? d.metrics[0].i : -1;
        if (bd == json_integer_value(json_object_get(st, "bdseq"))) {
            json_object_set_new(st, "online", json_false());
            json_object_set_new(st, "deaths", json_integer(json_integer_value(json_object_get(st, "deaths")) + 1));
            json_object_set_new(st, "death_ms", json_integer((json_int_t)wall_ms()));
        }
        break;
    }
    case SPB_DBIRTH:
    case SPB_NDATA:
    case SPB_DDATA: {
        if (!json_is_true(json_object_get(st, "online"))) {
            send_rebirth(h, t.node); /* data from a node whose birth we missed */
            break;
        }
        json_int_t expect = (json_integer_value(json_object_get(st, "seq")) + 1) % 256;
        if ((json_int_t)d.p.seq != expect)
            json_object_set_new(st, "seq_gaps", json_integer(json_integer_value(json_object_get(st, "seq_gaps")) + 1));
        json_object_set_new(st, "seq", json_integer((json_int_t)d.p.seq));
        apply_metrics(h, t.node, st, t.device, &d, t.type == SPB_DBIRTH);
        break;
    }
    default: break;
    }
    spb_decoded_free(&d);
    h->dirty = true;
}

static int write_state(struct host *h)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", h->o->state_file);
    json_t *root = json_pack("{s:s, s:s, s:I, s:O}", "group", h->o->group, "host_id", h->o->host_id, "time_ms",
                             (json_int_t)wall_ms(), "stations", h->stations);
    int rc = json_dump_file(root, tmp, JSON_COMPACT);
    json_decref(root);
    if (rc != 0 || rename(tmp, h->o->state_file) != 0) {
        fprintf(stderr, "swapfleet: cannot write %s: %s\n", h->o->state_file, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmd_serve(const struct opts *o)
{
    struct host h = { .o = o, .stations = json_object(), .seen_ids = json_object(), .state_ts = wall_ms() };
    h.m = client(o, o->host_id, &h);
    if (!h.m)
        return 1;
    char topic[SPB_TOPIC_MAX], payload[96];
    struct spb_topic t = { .type = SPB_STATE };
    snprintf(t.host, sizeof t.host, "%s", o->host_id);
    if (spb_topic_format(topic, sizeof topic, &t) != 0) {
        fprintf(stderr, "swapfleet: bad host id \"%s\"\n", o->host_id);
        return 2;
    }
    spb_state_format(payload, sizeof payload, false, h.state_ts);
    mosquitto_will_set(h.m, topic, (int)strlen(payload), payload, 1, true);
    mosquitto_connect_callback_set(h.m, on_host_connect);
    mosquitto_message_callback_set(h.m, on_host_message);
    int backoff = 200;
    uint64_t next_try = 0, next_write = 0;
    write_state(&h);
    while (!stop_signal) {
        uint64_t now = mono_ms();
        if (!h.connected && now >= next_try) {
            if (mosquitto_connect(h.m, o->host, o->port, 30) == MOSQ_ERR_SUCCESS) {
                h.connected = true;
                backoff = 200;
            } else {
                next_try = now + (uint64_t)backoff;
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            }
        }
        if (h.connected) {
            if (mosquitto_loop(h.m, 50, 1) != MOSQ_ERR_SUCCESS) {
                h.connected = false;
                next_try = mono_ms() + (uint64_t)backoff;
            }
        } else {
            struct timespec ts = { 0, 50 * 1000000L };
            nanosleep(&ts, NULL);
        }
        if (h.dirty && mono_ms() >= next_write) {
            write_state(&h);
            h.dirty = false;
            next_write = mono_ms() + 100;
        }
    }
    if (h.connected) {
        spb_state_format(payload, sizeof payload, false, h.state_ts);
        mosquitto_publish(h.m, NULL, topic, (int)strlen(payload), payload, 1, true);
        for (int i = 0; i < 10; i++)
            mosquitto_loop(h.m, 10, 1);
        mosquitto_disconnect(h.m);
    }
    write_state(&h);
    mosquitto_destroy(h.m);
    json_decref(h.stations);
    json_decref(h.seen_ids);
    return 0;
}

/* ---- views ------------------------------------------------------------------------- */

static json_t *load_state(const struct opts *o)
{
    json_error_t err;
    json_t *j = json_load_file(o->state_file, 0, &err);
    if (!j)
        fprintf(stderr, "swapfleet: %s: %s (is `swapfleet serve` running with --state %s?)\n", o->state_file,
                err.text, o->state_file);
    return j;
}

static const char *str(json_t *metrics, const char *key)
{
    const char *s = json_string_value(json_object_get(metrics, key));
    return s ? s : "-";
}

/* One line a station: the operator's first look at the fleet. */
static json_t *status_rows(json_t *state)
{
    json_t *rows = json_array();
    const char *node;
    json_t *st;
    json_object_foreach(json_object_get(state, "stations"), node, st) {
        json_t *m = json_object_get(st, "metrics");
        json_array_append_new(rows, json_pack("{s:s, s:b, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:I, s:I}",
            "station", node, "online", json_is_true(json_object_get(st, "online")), "state", str(m, "Station/State"),
            "swaps", json_object_get(m, "Station/Swaps") ? json_copy(json_object_get(m, "Station/Swaps")) : json_null(),
            "swaps_per_hour", json_copy(json_object_get(m, "Station/Swaps per Hour") ?: json_null()),
            "onpad_mean_s", json_copy(json_object_get(m, "Station/On Pad Mean s") ?: json_null()),
            "alarms", json_copy(json_object_get(m, "Station/Alarms Active") ?: json_null()),
            "alarm_codes", str(m, "Station/Alarm Codes"),
            "pool_soh_mean_pct", json_copy(json_object_get(m, "magazine/Pool SoH Mean pct") ?: json_null()),
            "packs_ready", json_copy(json_object_get(m, "magazine/Packs Ready") ?: json_null()),
            "bdseq", json_integer_value(json_object_get(st, "bdseq")),
            "events", (json_int_t)json_array_size(json_object_get(st, "events"))));
    }
    return rows;
}

static void print_status(json_t *state)
{
    json_t *rows = status_rows(state), *r;
    size_t i;
    printf("%-16s %-7s %-11s %6s %8s %8s %6s %8s %5s\n", "STATION", "LINK", "STATE", "SWAPS", "SWAPS/H", "ONPAD_S",
           "ALARMS", "POOL_SOH", "READY");
    json_array_foreach(rows, i, r) {
        double sw = json_number_value(json_object_get(r, "swaps")), sph = json_number_value(json_object_get(r, "swaps_per_hour"));
        json_t *onp = json_object_get(r, "onpad_mean_s"), *soh = json_object_get(r, "pool_soh_mean_pct");
        char onps[16] = "-", sohs[16] = "-";
        if (json_is_number(onp))
            snprintf(onps, sizeof onps, "%.2f", json_number_value(onp));
        if (json_is_number(soh))
            snprintf(sohs, sizeof sohs, "%.1f%%", json_number_value(soh));
        printf("%-16s %-7s %-11s %6.0f %8.1f %8s %6.0f %8s %5.0f%s%s\n", json_string_value(json_object_get(r, "station")),
               json_is_true(json_object_get(r, "online")) ? "online" : "OFFLINE",
               json_string_value(json_object_get(r, "state")), sw, sph, onps,
               json_number_value(json_object_get(r, "alarms")), sohs, json_number_value(json_object_get(r, "packs_ready")),
               strcmp(json_string_value(json_object_get(r, "alarm_codes")), "-") &&
                       json_string_value(json_object_get(r, "alarm_codes"))[0] ? "  " : "",
               strcmp(json_string_value(json_object_get(r, "alarm_codes")), "-") ? json_string_value(json_object_get(r, "alarm_codes")) : "");
    }
    json_decref(rows);
}

static int cmd_status(const struct opts *o)
{
    do {
        json_t *state = load_state(o);
        if (!state)
            return 1;
        if (o->json) {
            json_t *rows = status_rows(state);
            json_dumpf(rows, stdout, JSON_COMPACT);
            printf("\n");
            json_decref(rows);
        } else {
            if (o->follow)
                printf("\033[H\033[2J");
            print_status(state);
        }
        fflush(stdout);
        json_decref(state);
        if (o->follow) {
            struct timespec ts = { 1, 0 };
            nanosleep(&ts, NULL);
        }
    } while (o->follow && !stop_signal);
    return 0;
}

/* The live view: the status table redrawn every second from the state file; stations
 * offline or with alarms stand out; q quits. */
static int cmd_top(const struct opts *o)
{
    setlocale(LC_ALL, "");
    if (!initscr()) {
        fprintf(stderr, "swapfleet: cannot start the full-screen view; try status --follow\n");
        return 2;
    }
    cbreak();
    noecho();
    nodelay(stdscr, TRUE);
    curs_set(0);
    if (has_colors()) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_RED, -1);
        init_pair(2, COLOR_YELLOW, -1);
    }
    bool quit = false;
    while (!quit && !stop_signal) {
        json_t *state = json_load_file(o->state_file, 0, NULL);
        json_t *rows = state ? status_rows(state) : json_array();
        erase();
        size_t online = 0, i;
        json_t *r;
        json_array_foreach(rows, i, r) online += json_is_true(json_object_get(r, "online"));
        mvprintw(0, 0, "swapfleet  group %s  %zu stations, %zu online%s", o->group, json_array_size(rows), online,
                 state ? "" : "  (no state file: is swapfleet serve running?)");
        attron(A_BOLD);
        mvprintw(2, 0, "%-16s %-7s %-11s %6s %7s %7s %6s %8s", "STATION", "LINK", "STATE", "SWAPS", "SWAPS/H", "ONPAD_S",
                 "ALARMS", "POOL_SOH");
        attroff(A_BOLD);
        json_array_foreach(rows, i, r) {
            bool on = json_is_true(json_object_get(r, "online"));
            double alarms = json_number_value(json_object_get(r, "alarms"));
            int pair = !on ? 1 : alarms > 0 ? 2 : 0;
            json_t *onp = json_object_get(r, "onpad_mean_s"), *soh = json_object_get(r, "pool_soh_mean_pct");
            char onps[16] = "-", sohs[16] = "-";
            if (json_is_number(onp))
                snprintf(onps, sizeof onps, "%.2f", json_number_value(onp));
            if (json_is_number(soh))
                snprintf(sohs, sizeof sohs, "%.1f%%", json_number_value(soh));
            if (pair)
                attron(COLOR_PAIR(pair));
            mvprintw(3 + (int)i, 0, "%-16s %-7s %-11s %6.0f %7.1f %7s %6.0f %8s",
                     json_string_value(json_object_get(r, "station")), on ? "online" : "OFFLINE",
                     json_string_value(json_object_get(r, "state")), json_number_value(json_object_get(r, "swaps")),
                     json_number_value(json_object_get(r, "swaps_per_hour")), onps, alarms, sohs);
            if (pair)
                attroff(COLOR_PAIR(pair));
        }
        mvprintw(LINES - 1, 0, "q quit");
        refresh();
        json_decref(rows);
        json_decref(state);
        struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
        poll(&p, 1, 1000);
        int ch;
        while ((ch = getch()) != ERR)
            quit = quit || ch == 'q' || ch == 'Q';
    }
    endwin();
    return 0;
}

/* Every pack the fleet knows; a pack seen at several stations is shown where it was
 * reported last (the station whose report is newest). */
static int cmd_batteries(const struct opts *o)
{
    json_t *state = load_state(o);
    if (!state)
        return 1;
    json_t *packs = json_object();
    const char *node;
    json_t *st;
    json_object_foreach(json_object_get(state, "stations"), node, st) {
        json_t *rows = json_object_get(json_object_get(st, "metrics"), "magazine/Packs"), *r;
        json_int_t seen = json_integer_value(json_object_get(st, "last_seen_ms"));
        size_t i;
        json_array_foreach(rows, i, r) {
            const char *id = json_string_value(json_object_get(r, "Battery"));
            if (!id)
                continue;
            json_t *prev = json_object_get(packs, id);
            if (prev && json_integer_value(json_object_get(prev, "seen_ms")) > seen)
                continue;
            json_object_set_new(packs, id, json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:I}", "battery", id, "station", node,
                                                     "location", json_object_get(r, "Location"), "status",
                                                     json_object_get(r, "Status"), "soh_pct", json_object_get(r, "SoH pct"),
                                                     "efc", json_object_get(r, "EFC"), "seen_ms", seen));
        }
    }
    json_t *arr = json_array(), *v;
    const char *k;
    json_object_foreach(packs, k, v) json_array_append(arr, v);
    if (o->json) {
        json_dumpf(arr, stdout, JSON_COMPACT);
        printf("\n");
    } else {
        printf("%-14s %-16s %-12s %-11s %7s %7s\n", "BATTERY", "STATION", "LOCATION", "STATUS", "SOH", "EFC");
        size_t i;
        json_array_foreach(arr, i, v)
            printf("%-14s %-16s %-12s %-11s %6.1f%% %7.1f\n", json_string_value(json_object_get(v, "battery")),
                   json_string_value(json_object_get(v, "station")), json_string_value(json_object_get(v, "location")),
                   json_string_value(json_object_get(v, "status")), json_number_value(json_object_get(v, "soh_pct")),
                   json_number_value(json_object_get(v, "efc")));
    }
    json_decref(arr);
    json_decref(packs);
    json_decref(state);
    return 0;
}

static int cmd_events(const struct opts *o, const char *only)
{
    json_t *state = load_state(o);
    if (!state)
        return 1;
    json_t *out = json_array();
    const char *node;
    json_t *st;
    json_object_foreach(json_object_get(state, "stations"), node, st) {
        if (only && strcmp(only, node))
            continue;
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(st, "events"), i, e) {
            json_t *c = json_deep_copy(e);
            json_object_set_new(c, "station", json_string(node));
            json_array_append_new(out, c);
        }
    }
    if (o->json) {
        json_dumpf(out, stdout, JSON_COMPACT);
        printf("\n");
    } else {
        json_t *e;
        size_t i;
        json_array_foreach(out, i, e)
            printf("%-16s %lld %-8s %s%s\n", json_string_value(json_object_get(e, "station")),
                   (long long)json_integer_value(json_object_get(e, "t_ms")), json_string_value(json_object_get(e, "type")),
                   json_string_value(json_object_get(e, "text")),
                   json_is_true(json_object_get(e, "historical")) ? "  (historical)" : "");
    }
    json_decref(out);
    json_decref(state);
    return 0;
}

/* ---- commands to a station --------------------------------------------------------- */

struct cmdwait {
    const char *node, *req_id;
    bool done, ok, subscribed;
    char result[256];
};

static void on_cmd_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    struct cmdwait *w = obj;
    struct spb_topic t;
    if (spb_topic_parse(msg->topic, &t) != 0 || strcmp(t.node, w->node) ||
        (t.type != SPB_NDATA && t.type != SPB_NBIRTH))
        return;
    struct spb_decoded d;
    if (spb_decode(msg->payload, (size_t)msg->payloadlen, &d) != 0)
        return;
    bool mine = false, ok = false;
    const char *result = "";
    for (size_t i = 0; i < d.p.n_metrics; i++) {
        const struct spb_metric *mm = &d.metrics[i];
        uint64_t a = mm->has_alias ? mm->alias : 0;
        if (a == FM_CMD_REQUEST_ID + 1 || (mm->name && !strcmp(mm->name, fleetlink_metrics[FM_CMD_REQUEST_ID].name)))
            mine = mm->s && !strcmp(mm->s, w->req_id);
        if (a == FM_CMD_OK + 1 || (mm->name && !strcmp(mm->name, fleetlink_metrics[FM_CMD_OK].name)))
            ok = mm->i != 0;
        if (a == FM_CMD_RESULT + 1 || (mm->name && !strcmp(mm->name, fleetlink_metrics[FM_CMD_RESULT].name)))
            result = mm->s ? mm->s : "";
    }
    if (mine) {
        w->done = true;
        w->ok = ok;
        snprintf(w->result, sizeof w->result, "%s", result);
    }
    spb_decoded_free(&d);
}

static void on_cmd_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    (void)m, (void)mid, (void)n, (void)granted;
    ((struct cmdwait *)obj)->subscribed = true;
}

/* Sends NCMD metrics (Node Control/<name>) to a station; waits for the answer unless
 * rebirth. Exit: 0 accepted, 1 refused, 3 no answer in time. */
static int cmd_send(const struct opts *o, const char *node, const char *command, const char *arg)
{
    const struct fleetlink_command_def *def = NULL;
    /* "DEVICE/COMMAND": a DCMD to that device ("Device Control/<metric>") */
    char device[32] = "";
    const char *slash = strchr(command, '/');
    if (slash) {
        snprintf(device, sizeof device, "%.*s", (int)(slash - command), command);
        command = slash + 1;
    }
    bool rebirth = !strcmp(command, "rebirth") && !device[0];
    for (size_t i = 0; i < fleetlink_n_commands && !rebirth; i++)
        if (!strcmp(fleetlink_commands[i].console, command))
            def = &fleetlink_commands[i];
    /* an unknown metric on a device is sent as it is: the station answers for it */
    char raw_metric[48] = "";
    if (!def && device[0])
        snprintf(raw_metric, sizeof raw_metric, "%s", command);
    if (!def && !rebirth && !raw_metric[0]) {
        fprintf(stderr, "swapfleet: unknown command \"%s\" (one of:", command);
        for (size_t i = 0; i < fleetlink_n_commands; i++)
            fprintf(stderr, " %s", fleetlink_commands[i].console);
        fprintf(stderr, ", rebirth)\n");
        return 2;
    }
    if (def && def->takes_arg && !arg) {
        fprintf(stderr, "swapfleet: %s needs a battery id, e.g. swapfleet cmd %s %s SWP-5A000001\n", command, node, command);
        return 2;
    }
    char req_id[64], client_id[64];
    snprintf(req_id, sizeof req_id, "%s-%d-%llu", o->host_id, (int)getpid(), (unsigned long long)wall_ms());
    snprintf(client_id, sizeof client_id, "swapfleet-cmd-%d", (int)getpid());
    struct cmdwait w = { .node = node, .req_id = req_id };
    struct mosquitto *m = client(o, client_id, &w);
    mosquitto_message_callback_set(m, on_cmd_message);
    mosquitto_subscribe_callback_set(m, on_cmd_subscribe);
    if (mosquitto_connect(m, o->host, o->port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "swapfleet: cannot reach the broker at %s:%d\n", o->host, o->port);
        return 1;
    }
    char topic[SPB_TOPIC_MAX];
    struct spb_topic t = { .type = SPB_NDATA };
    snprintf(t.group, sizeof t.group, "%s", o->group);
    snprintf(t.node, sizeof t.node, "%s", node);
    if (spb_topic_format(topic, sizeof topic, &t) != 0) {
        fprintf(stderr, "swapfleet: bad station id \"%s\"\n", node);
        return 2;
    }
    mosquitto_subscribe(m, NULL, topic, 0);
    uint64_t end = mono_ms() + (uint64_t)o->timeout_ms;
    while (!w.subscribed && mono_ms() < end)
        mosquitto_loop(m, 20, 1);
    char name[64];
    if (device[0])
        snprintf(name, sizeof name, "Device Control/%s", def ? def->metric : raw_metric);
    else
        snprintf(name, sizeof name, "Node Control/%s", rebirth ? "Rebirth" : def->metric);
    struct spb_metric mets[2] = {
        { .name = name, .datatype = def && def->takes_arg ? SPB_DT_STRING : SPB_DT_BOOLEAN, .i = 1, .s = arg },
        { .name = "Command/Request Id", .datatype = SPB_DT_STRING, .s = req_id },
    };
    struct spb_payload p = { .has_timestamp = true, .timestamp_ms = wall_ms(), .n_metrics = 2, .metrics = mets };
    uint8_t buf[512];
    size_t n = spb_encode(&p, buf, sizeof buf);
    t.type = device[0] ? SPB_DCMD : SPB_NCMD;
    snprintf(t.device, sizeof t.device, "%s", device);
    if (spb_topic_format(topic, sizeof topic, &t) != 0) {
        fprintf(stderr, "swapfleet: bad device id \"%s\"\n", device);
        return 2;
    }
    int mid = 0;
    if (!n || mosquitto_publish(m, &mid, topic, (int)n, buf, 1, false) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "swapfleet: cannot publish the command\n");
        return 1;
    }
    while (!rebirth && !w.done && mono_ms() < end && !stop_signal)
        mosquitto_loop(m, 20, 1);
    for (int i = 0; rebirth && i < 10; i++)
        mosquitto_loop(m, 10, 1);
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    if (rebirth) {
        printf("%s: rebirth requested\n", node);
        return 0;
    }
    if (!w.done) {
        fprintf(stderr, "swapfleet: no answer from %s within %d ms (offline? not allowed by the broker's ACL?)\n", node,
                o->timeout_ms);
        return 3;
    }
    if (o->json) {
        json_t *r = json_pack("{s:s, s:s, s:b, s:s}", "station", node, "command", command, "ok", w.ok, "result", w.result);
        json_dumpf(r, stdout, JSON_COMPACT);
        printf("\n");
        json_decref(r);
    } else
        printf("%s: %s %s: %s\n", node, command, w.ok ? "accepted" : "REFUSED", w.result);
    return w.ok ? 0 : 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: swapfleet [options] COMMAND\n"
            "  serve                      the host application: follow the group, write --state\n"
            "  status [--follow]          one line a station (from --state)\n"
            "  batteries                  every pack the fleet knows (from --state)\n"
            "  events [STATION]           events the fleet received (from --state)\n"
            "  top                        live view of the status table (q quits)\n"
            "  cmd STATION COMMAND [ARG]  start|stop|hold|unhold|suspend|unsuspend|abort|clear|reset,\n"
            "                             retire ID[:reason], return ID, rebirth (NCMD);\n"
            "                             DEVICE/COMMAND sends a DCMD to a device: robot/hold,\n"
            "                             robot/unhold, ..., magazine/retire ID[:reason], magazine/return ID\n"
            "options:\n"
            "  -b, --broker HOST:PORT     MQTT broker (default 127.0.0.1:1883)\n"
            "  -g, --group ID             Sparkplug group (default stations)\n"
            "      --host-id ID           this host application's id (default swapfleet)\n"
            "  -s, --state FILE           the host's state file (default /var/lib/swapfleet/state.json)\n"
            "  -u, --username U  -P, --password P   --cafile F  --cert F  --key F\n"
            "  -t, --timeout-ms N         cmd: how long to wait for the answer (default 5000)\n"
            "  -j, --json                 machine-readable output\n"
            "  -f, --follow               status: redraw every second\n"
            "Exit codes: 0 ok, 1 refused or failed, 2 usage, 3 no answer.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "broker", required_argument, NULL, 'b' }, { "group", required_argument, NULL, 'g' },
        { "host-id", required_argument, NULL, 'H' }, { "state", required_argument, NULL, 's' },
        { "username", required_argument, NULL, 'u' }, { "password", required_argument, NULL, 'P' },
        { "cafile", required_argument, NULL, 'A' }, { "cert", required_argument, NULL, 'C' },
        { "key", required_argument, NULL, 'K' }, { "timeout-ms", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' }, { "follow", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    struct opts o = { .host = "127.0.0.1", .port = 1883, .group = "stations", .host_id = "swapfleet",
                      .state_file = "/var/lib/swapfleet/state.json", .timeout_ms = 5000 };
    int c;
    while ((c = getopt_long(argc, argv, "b:g:s:u:P:t:jfh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof o.host || atoi(colon + 1) <= 0) {
                fprintf(stderr, "swapfleet: --broker \"%s\": expected HOST:PORT\n", optarg);
                return 2;
            }
            snprintf(o.host, sizeof o.host, "%.*s", (int)(colon - optarg), optarg);
            o.port = atoi(colon + 1);
            break;
        }
        case 'g': snprintf(o.group, sizeof o.group, "%s", optarg); break;
        case 'H': snprintf(o.host_id, sizeof o.host_id, "%s", optarg); break;
        case 's': o.state_file = optarg; break;
        case 'u': o.username = optarg; break;
        case 'P': o.password = optarg; break;
        case 'A': o.ca_file = optarg; break;
        case 'C': o.cert_file = optarg; break;
        case 'K': o.key_file = optarg; break;
        case 't': o.timeout_ms = atoi(optarg); break;
        case 'j': o.json = true; break;
        case 'f': o.follow = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    setvbuf(stderr, NULL, _IOLBF, 0);
    const char *verb = argv[optind];
    int rest = argc - optind - 1;
    char **args = argv + optind + 1;
    if (!strcmp(verb, "serve") && rest == 0)
        return cmd_serve(&o);
    if (!strcmp(verb, "status") && rest == 0)
        return cmd_status(&o);
    if (!strcmp(verb, "top") && rest == 0)
        return cmd_top(&o);
    if (!strcmp(verb, "batteries") && rest == 0)
        return cmd_batteries(&o);
    if (!strcmp(verb, "events") && rest <= 1)
        return cmd_events(&o, rest ? args[0] : NULL);
    if (!strcmp(verb, "cmd") && (rest == 2 || rest == 3))
        return cmd_send(&o, args[0], args[1], rest == 3 ? args[2] : NULL);
    usage(stderr);
    return 2;
}
