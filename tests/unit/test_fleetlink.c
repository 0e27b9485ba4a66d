/* The fleet link without a broker: the spool keeps events while the broker cannot be
 * reached and, at its bound, drops the oldest and counts them; the metric and command
 * tables are consistent with the console's commands. */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto/ctlproto.h"
#include "fleetlink/fleetlink.h"
#include "proc.h"
#include "sparkplug/spb.h"

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd); /* nothing listens there now: every connect is refused */
    return ntohs(a.sin_port);
}

START_TEST(test_spool_bound_drops_oldest_and_counts)
{
    char dir[256];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "fleetlink"), 0);
    struct fleetlink_cfg c = { .port = closed_port(), .keepalive_s = 30, .backoff_min_ms = 20, .backoff_max_ms = 50,
                               .publish_period_ms = 20, .spool_max = 10 };
    snprintf(c.host, sizeof c.host, "127.0.0.1");
    snprintf(c.group_id, sizeof c.group_id, "g");
    snprintf(c.edge_node_id, sizeof c.edge_node_id, "n");
    snprintf(c.spool_path, sizeof c.spool_path, "%.200s/spool.db", dir);
    char err[256];
    struct fleetlink *fl = fleetlink_start(&c, err, sizeof err);
    ck_assert_msg(fl, "%s", err);
    for (int i = 0; i < 25; i++) {
        struct fleetlink_event e = { .t_ms = 1000 + i };
        snprintf(e.id, sizeof e.id, "r-%d", i);
        snprintf(e.type, sizeof e.type, "swap");
        snprintf(e.text, sizeof e.text, "event %d", i);
        ck_assert_int_eq(fleetlink_post_event(fl, &e), 0);
    }
    struct fleetlink_stats s = { 0 };
    long long end = proc_now_ms() + 10000;
    while (proc_now_ms() < end) {
        fleetlink_get_stats(fl, &s);
        if (s.spooled == 25 && s.spool_depth == 10)
            break;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_eq(s.spooled, 25);
    ck_assert_uint_eq(s.spool_depth, 10);
    ck_assert_uint_eq(s.dropped, 15);
    ck_assert(!s.online);
    fleetlink_stop(fl);

    /* The count and the newest ten survive a restart; a new session takes a new bdSeq. */
    fl = fleetlink_start(&c, err, sizeof err);
    ck_assert_msg(fl, "%s", err);
    end = proc_now_ms() + 10000;
    do {
        fleetlink_get_stats(fl, &s);
    } while (s.spool_depth != 10 && proc_now_ms() < end);
    fleetlink_stop(fl);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test \"$(sqlite3 '%s' 'SELECT min(event_id), count(*) FROM spool; SELECT value FROM meta WHERE key = \"dropped\"' | tr '\\n' ' ')\" = 'r-15|10 15 '",
             c.spool_path);
    ck_assert_msg(system(cmd) == 0, "spool content after restart: %s", cmd);
    proc_rmtree(dir);
}
END_TEST

START_TEST(test_tables_are_consistent)
{
    for (int i = 0; i < FM_COUNT; i++) {
        ck_assert_ptr_nonnull(fleetlink_metrics[i].name);
        ck_assert(fleetlink_metrics[i].dev >= FLEETLINK_NODE && fleetlink_metrics[i].dev < FLEETLINK_N_DEVICES);
        ck_assert(fleetlink_metrics[i].deadband >= 0);
        ck_assert(fleetlink_metrics[i].datatype != SPB_DT_UNKNOWN);
        for (int j = 0; j < i; j++)
            ck_assert_msg(fleetlink_metrics[i].dev != fleetlink_metrics[j].dev ||
                              strcmp(fleetlink_metrics[i].name, fleetlink_metrics[j].name),
                          "%s twice", fleetlink_metrics[i].name);
    }
    /* aliases of the table (1..FM_COUNT) stay clear of the fixed ones */
    ck_assert_int_lt(FM_COUNT, FLEETLINK_ALIAS_BDSEQ);
    for (size_t c = 0; c < fleetlink_n_commands; c++) {
        const struct ctlproto_cmd *cmd = ctlproto_find(fleetlink_commands[c].console);
        ck_assert_msg(cmd, "fleet command %s is not a console command", fleetlink_commands[c].console);
        ck_assert_int_eq(cmd->access, CTLPROTO_COMMAND);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fleetlink");
    TCase *tc = tcase_create("fleetlink");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_spool_bound_drops_oldest_and_counts);
    tcase_add_test(tc, test_tables_are_consistent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
