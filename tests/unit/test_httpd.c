/* The HTTP endpoint's library parts: histogram bucketing, the text exposition (checked by
 * promtool, as Prometheus would read it), the metrics reference in the operator guide
 * against the metric table, and snapshot hand-over (publish never waits). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpd/httpd.h"
#include "httpd/metrics.h"

static const char *src(void)
{
    const char *s = getenv("SWAP_SRC");
    return s && *s ? s : ".";
}

START_TEST(histogram_buckets_are_upper_inclusive)
{
    struct httpd_hist h = { 0 };
    httpd_hist_observe(&h, HTTPD_HIST_ONPAD, 5);     /* le=5 */
    httpd_hist_observe(&h, HTTPD_HIST_ONPAD, 5.01);  /* le=10 */
    httpd_hist_observe(&h, HTTPD_HIST_ONPAD, 1000);  /* +Inf */
    int n = httpd_hist_bounds[HTTPD_HIST_ONPAD].n;
    ck_assert_uint_eq(h.bucket[0], 1);
    ck_assert_uint_eq(h.bucket[1], 1);
    ck_assert_uint_eq(h.bucket[n], 1);
    ck_assert_uint_eq(h.count, 3);
    ck_assert(fabs(h.sum - 1010.01) < 1e-9);
}
END_TEST

static struct httpd_metrics sample_metrics(void)
{
    struct httpd_metrics m;
    memset(&m, 0, sizeof m);
    m.state = 4;
    m.swaps_completed = 3;
    httpd_hist_observe(&m.onpad, HTTPD_HIST_ONPAD, 8.5);
    m.n_steps = 2;
    m.step_name[0] = "center_close";
    m.step_name[1] = "clamp";
    httpd_hist_observe(&m.step[1], HTTPD_HIST_STEP, 0.6);
    httpd_hist_observe(&m.scan_late, HTTPD_HIST_SCAN_LATE, 0.0001);
    m.plant_rtt_s = NAN;
    m.n_slots = 2;
    m.slot[0] = (struct httpd_slot_metrics){ true, 0.5, 0.97, 24.5, 2 };
    m.slot[1] = (struct httpd_slot_metrics){ false, NAN, NAN, NAN, 0 };
    m.n_alarms = 2;
    m.alarm_name[0] = "estop";
    m.alarm_name[1] = "charger_fault";
    m.alarm_active[1] = true;
    return m;
}

START_TEST(exposition_passes_promtool)
{
    struct httpd_metrics m = sample_metrics();
    size_t len;
    char *text = httpd_metrics_render(&m, &len);
    ck_assert(text);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert(strstr(text, "\nswapd_state{state=\"Execute\"} 1\n"));
    ck_assert(strstr(text, "\nswapd_alarm_active{alarm=\"charger_fault\"} 1\n"));
    ck_assert(strstr(text, "\nswapd_step_duration_seconds_count{step=\"clamp\"} 1\n"));
    ck_assert(strstr(text, "\nswapd_slot_soc_ratio{slot=\"1\"} 0.5\n"));
    ck_assert(!strstr(text, "swapd_slot_soc_ratio{slot=\"2\"}"));  /* empty slot: no sample */
    ck_assert(strstr(text, "\nswapd_onpad_seconds_bucket{le=\"+Inf\"} 1\n"));
    char path[] = "/tmp/metrics-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    ck_assert(write(fd, text, len) == (ssize_t)len);
    close(fd);
    free(text);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    char out[2048] = "";
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int rc = p ? pclose(p) : -1;
    unlink(path);
    ck_assert_msg(rc == 0, "promtool (Debian package prometheus; make deps) says:\n%s", out);
}
END_TEST

START_TEST(operator_guide_lists_every_metric_of_the_table)
{
    char *gen = NULL;
    size_t gen_len = 0;
    FILE *g = open_memstream(&gen, &gen_len);
    httpd_metrics_write_markdown(g);
    fclose(g);
    char path[512];
    snprintf(path, sizeof path, "%s/docs/operator-guide.md", src());
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "no %s", path);
    static char doc[1 << 18];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = 0;
    fclose(f);
    ck_assert_msg(strstr(doc, gen),
                  "docs/operator-guide.md's metrics table differs from the metric table; paste the output of "
                  "build/bin/swapd --metrics-reference into its Metrics section");
    free(gen);
}
END_TEST

START_TEST(publish_hands_over_and_releases_the_old_snapshot)
{
    struct httpd_cfg off = { .enabled = false };
    char err[128];
    ck_assert_ptr_null(httpd_start(&off, err, sizeof err));
    ck_assert_str_eq(err, "");  /* off is not an error, and nothing listens */
    struct httpd_cfg on = { .enabled = true, .address = "127.0.0.1", .port = 0, .max_connections = 8,
                            .max_per_ip = 8, .timeout_s = 2, .publish_ms = 100 };
    struct httpd *h = httpd_start(&on, err, sizeof err);
    ck_assert_msg(h, "%s", err);
    ck_assert_int_gt(httpd_port(h), 0);
    struct httpd_snapshot *a = httpd_snapshot_new(), *b = httpd_snapshot_new();
    a->doc[HTTPD_DOC_STATUS] = strdup("{}");
    ck_assert(httpd_publish(h, a));
    ck_assert(httpd_publish(h, b));  /* a released here */
    httpd_stop(h);                   /* b released here (ASan checks both) */
    struct httpd_cfg bad = on;
    snprintf(bad.address, sizeof bad.address, "localhost");
    ck_assert_ptr_null(httpd_start(&bad, err, sizeof err));
    ck_assert(strstr(err, "not an IPv4 or IPv6 address"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("httpd");
    TCase *tc = tcase_create("httpd");
    tcase_add_test(tc, histogram_buckets_are_upper_inclusive);
    tcase_add_test(tc, exposition_passes_promtool);
    tcase_add_test(tc, operator_guide_lists_every_metric_of_the_table);
    tcase_add_test(tc, publish_hands_over_and_releases_the_old_snapshot);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
