/* The edge node and its primary host application (Sparkplug 3.0, docs/fleet.md "Primary
 * host STATE"), with a real mosquitto and a host played by the test: the node births
 * only once the host's STATE is online; an offline STATE makes it publish NDEATH,
 * disconnect, reconnect and publish nothing until the host is online again, when it
 * births with a new bdSeq and sends what it kept as historical; a stale offline STATE
 * (older timestamp) is ignored. */
#include <check.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fleetlink/fleetlink.h"
#include "fleetrig.h"
#include "proc.h"
#include "sparkplug/spb.h"

/* What the host has received (its MQTT thread writes, the test reads). */
static struct {
    pthread_mutex_t mu;
    int nbirth, ndeath, ndata, dbirth, other;
    long long last_birth_bdseq, last_death_bdseq;
    int events, historical_events;
    char last_event[200];
} rx = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void on_msg(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    (void)obj;
    struct spb_topic t;
    if (spb_topic_parse(msg->topic, &t) != 0 || t.type == SPB_STATE || t.type == SPB_NCMD)
        return;
    struct spb_decoded d;
    if (spb_decode(msg->payload, (size_t)msg->payloadlen, &d) != 0)
        return;
    pthread_mutex_lock(&rx.mu);
    long long bdseq = -1;
    for (size_t i = 0; i < d.p.n_metrics; i++)
        if (d.metrics[i].name && !strcmp(d.metrics[i].name, "bdSeq"))
            bdseq = d.metrics[i].i;
    switch (t.type) {
    case SPB_NBIRTH: rx.nbirth++; rx.last_birth_bdseq = bdseq; break;
    case SPB_NDEATH: rx.ndeath++; rx.last_death_bdseq = bdseq; break;
    case SPB_DBIRTH: rx.dbirth++; break;
    case SPB_NDATA:
        rx.ndata++;
        for (size_t i = 0; i < d.p.n_metrics; i++) {
            const struct spb_metric *mt = &d.metrics[i];
            if (mt->has_alias && mt->alias == FLEETLINK_ALIAS_EVENT_TEXT && mt->s) {
                rx.events++;
                rx.historical_events += mt->is_historical;
                snprintf(rx.last_event, sizeof rx.last_event, "%s", mt->s);
            }
        }
        break;
    default: rx.other++; break;
    }
    pthread_mutex_unlock(&rx.mu);
    spb_decoded_free(&d);
}

static int rx_get(const int *field)
{
    pthread_mutex_lock(&rx.mu);
    int v = *field;
    pthread_mutex_unlock(&rx.mu);
    return v;
}

static bool wait_rx(const int *field, int want, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    while (rx_get(field) < want && proc_now_ms() < end)
        proc_nap_ms(20);
    return rx_get(field) >= want;
}

static void host_state(struct mosquitto *h, bool online, uint64_t ts)
{
    char payload[128];
    spb_state_format(payload, sizeof payload, online, ts);
    ck_assert_int_eq(mosquitto_publish(h, NULL, "spBv1.0/STATE/thehost", (int)strlen(payload), payload, 1, true),
                     MOSQ_ERR_SUCCESS);
}

static void rebirth_request(struct mosquitto *h)
{
    struct spb_metric m = { .name = "Node Control/Rebirth", .datatype = SPB_DT_BOOLEAN, .i = 1 };
    struct spb_payload p = { .has_timestamp = true, .timestamp_ms = 1, .n_metrics = 1, .metrics = &m };
    uint8_t buf[256];
    size_t n = spb_encode(&p, buf, sizeof buf);
    ck_assert_int_eq(mosquitto_publish(h, NULL, "spBv1.0/g/NCMD/node", (int)n, buf, 1, false), MOSQ_ERR_SUCCESS);
}

static void stats(struct fleetlink *fl, struct fleetlink_stats *s) { fleetlink_get_stats(fl, s); }

static struct fleetlink_event event(const char *text)
{
    static int n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct fleetlink_event e = { .t_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 };
    snprintf(e.id, sizeof e.id, "run-%d", n++);
    snprintf(e.type, sizeof e.type, "info");
    snprintf(e.text, sizeof e.text, "%s", text);
    return e;
}

START_TEST(test_offline_host_state_disconnects_and_online_rebirths)
{
    struct fleetrig f = { 0 };
    ck_assert_msg(fleetrig_start_broker(&f, NULL) == 0, "%s", f.err);
    mosquitto_lib_init();
    struct mosquitto *h = mosquitto_new("thehost", true, NULL);
    mosquitto_message_callback_set(h, on_msg);
    ck_assert_int_eq(mosquitto_connect(h, "127.0.0.1", f.port, 30), MOSQ_ERR_SUCCESS);
    ck_assert_int_eq(mosquitto_subscribe(h, NULL, "spBv1.0/g/#", 1), MOSQ_ERR_SUCCESS);
    ck_assert_int_eq(mosquitto_loop_start(h), MOSQ_ERR_SUCCESS);
    uint64_t t0 = 1700000000000;
    host_state(h, true, t0);

    struct fleetlink_cfg c = { .port = f.port, .keepalive_s = 30, .backoff_min_ms = 20, .backoff_max_ms = 200,
                               .publish_period_ms = 20, .spool_max = 1000 };
    snprintf(c.host, sizeof c.host, "127.0.0.1");
    snprintf(c.group_id, sizeof c.group_id, "g");
    snprintf(c.edge_node_id, sizeof c.edge_node_id, "node");
    snprintf(c.primary_host_id, sizeof c.primary_host_id, "thehost");
    snprintf(c.spool_path, sizeof c.spool_path, "%.200s/spool.db", f.dir);
    char err[256];
    struct fleetlink *fl = fleetlink_start(&c, err, sizeof err);
    ck_assert_msg(fl, "%s", err);
    struct fleetlink_snapshot snap = { .t_ms = (int64_t)t0 };
    for (int i = 0; i < FM_COUNT; i++)
        snap.v[i].is_null = true;
    fleetlink_publish(fl, &snap);

    /* The host is online: a birth. */
    ck_assert_msg(wait_rx(&rx.nbirth, 1, 10000), "no NBIRTH while the host is online");
    ck_assert(wait_rx(&rx.dbirth, FLEETLINK_N_DEVICES - 1, 5000));
    long long bd1 = rx.last_birth_bdseq;
    struct fleetlink_event e = event("while the host is online");
    fleetlink_post_event(fl, &e);
    ck_assert(wait_rx(&rx.events, 1, 5000));
    ck_assert_int_eq(rx_get(&rx.historical_events), 0);

    /* A stale offline STATE (older than the online one) is ignored: the node stays, and
     * answers a rebirth request (which it would not while it waits for the host). */
    host_state(h, false, t0 - 1000);
    rebirth_request(h);
    ck_assert_msg(wait_rx(&rx.nbirth, 2, 10000), "a stale offline STATE stopped the node");
    struct fleetlink_stats s;
    stats(fl, &s);
    ck_assert_uint_eq(s.host_offline_disconnects, 0);
    ck_assert_int_eq(rx_get(&rx.ndeath), 0);
    /* the stale STATE was retained: put the current one back */
    host_state(h, true, t0);

    /* The host goes offline: NDEATH with this session's bdSeq, disconnect, reconnect. */
    host_state(h, false, t0 + 1);
    ck_assert_msg(wait_rx(&rx.ndeath, 1, 10000), "no NDEATH when the primary host went offline");
    pthread_mutex_lock(&rx.mu);
    ck_assert_int_eq(rx.last_death_bdseq, bd1);
    pthread_mutex_unlock(&rx.mu);
    long long end = proc_now_ms() + 10000;
    do {
        stats(fl, &s);
        proc_nap_ms(20);
    } while ((s.host_offline_disconnects < 1 || s.connects < 2) && proc_now_ms() < end);
    ck_assert_uint_eq(s.host_offline_disconnects, 1);
    ck_assert_uint_ge(s.connects, 2); /* the connection started over */
    ck_assert(!s.online);

    /* Reconnected, it publishes nothing while the host stays offline: events wait in the
     * spool, metric changes are not sent. */
    int births = rx_get(&rx.nbirth), ndata = rx_get(&rx.ndata);
    e = event("while the host is offline");
    fleetlink_post_event(fl, &e);
    snap.v[FM_STATE] = (struct fleetlink_value){ .str = "Execute" };
    fleetlink_publish(fl, &snap);
    end = proc_now_ms() + 10000;
    do {
        stats(fl, &s);
        proc_nap_ms(20);
    } while (s.spool_depth < 1 && proc_now_ms() < end);
    ck_assert_uint_eq(s.spool_depth, 1);
    uint64_t published = s.published;
    proc_nap_ms(500); /* 25 publish periods: time enough to publish, were it allowed to */
    stats(fl, &s);
    ck_assert_uint_eq(s.published, published);
    ck_assert_uint_eq(s.spool_depth, 1);
    ck_assert_int_eq(rx_get(&rx.nbirth), births);
    ck_assert_int_eq(rx_get(&rx.ndata), ndata);
    ck_assert_uint_eq(s.host_offline_disconnects, 1); /* the retained offline STATE does not loop */

    /* The host is back: a new birth with a new bdSeq, then the kept event as historical. */
    host_state(h, true, t0 + 2);
    ck_assert_msg(wait_rx(&rx.nbirth, births + 1, 10000), "no birth when the host came back");
    pthread_mutex_lock(&rx.mu);
    ck_assert_int_ne(rx.last_birth_bdseq, bd1);
    pthread_mutex_unlock(&rx.mu);
    ck_assert(wait_rx(&rx.historical_events, 1, 10000));
    pthread_mutex_lock(&rx.mu);
    ck_assert_str_eq(rx.last_event, "while the host is offline");
    ck_assert_int_eq(rx.events, 2);
    pthread_mutex_unlock(&rx.mu);

    fleetlink_stop(fl);
    mosquitto_disconnect(h);
    mosquitto_loop_stop(h, false);
    mosquitto_destroy(h);
    fleetrig_stop(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fleet_host");
    TCase *tc = tcase_create("state");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_offline_host_state_disconnects_and_online_rebirths);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
