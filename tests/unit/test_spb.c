/* Sparkplug B topics, payloads and STATE (protocols/sparkplug): what we encode decodes
 * to the same metrics, topics round-trip and bad ones are refused, and the committed
 * protobuf-c code is what protoc-c makes from the committed .proto. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparkplug/spb.h"

START_TEST(test_topics_round_trip)
{
    struct spb_topic t = { .type = SPB_DDATA }, back;
    char s[SPB_TOPIC_MAX];
    strcpy(t.group, "stations");
    strcpy(t.node, "st-1");
    strcpy(t.device, "robot");
    ck_assert_int_eq(spb_topic_format(s, sizeof s, &t), 0);
    ck_assert_str_eq(s, "spBv1.0/stations/DDATA/st-1/robot");
    ck_assert_int_eq(spb_topic_parse(s, &back), 0);
    ck_assert_int_eq(back.type, SPB_DDATA);
    ck_assert_str_eq(back.group, "stations");
    ck_assert_str_eq(back.node, "st-1");
    ck_assert_str_eq(back.device, "robot");
    ck_assert_int_eq(spb_topic_parse("spBv1.0/STATE/host-a", &back), 0);
    ck_assert_int_eq(back.type, SPB_STATE);
    ck_assert_str_eq(back.host, "host-a");
    ck_assert_int_eq(spb_topic_parse("spBv1.0/g/NBIRTH/n", &back), 0);
    ck_assert_int_eq(back.type, SPB_NBIRTH);
    ck_assert_str_eq(back.device, "");
}
END_TEST

START_TEST(test_bad_topics_refused)
{
    struct spb_topic t;
    static const char *const bad[] = { "spBv1.0/g/NBIRTH/n/d", "spBv1.0/g/DDATA/n", "spBv1.0/g/XDATA/n",
                                       "spAv1.0/g/NDATA/n", "spBv1.0//NDATA/n", "spBv1.0/g/NDATA/",
                                       "spBv1.0/g/DDATA/n/d/e", "spBv1.0/STATE" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(spb_topic_parse(bad[i], &t) != 0, "%s accepted", bad[i]);
    struct spb_topic w = { .type = SPB_NDATA };
    strcpy(w.group, "g");
    strcpy(w.node, "a/b");
    char s[SPB_TOPIC_MAX];
    ck_assert_int_ne(spb_topic_format(s, sizeof s, &w), 0);
    strcpy(w.node, "a+");
    ck_assert_int_ne(spb_topic_format(s, sizeof s, &w), 0);
}
END_TEST

START_TEST(test_payload_round_trip_every_type)
{
    static const char *const cols[] = { "Battery", "SoH pct" };
    static const uint32_t types[] = { SPB_DT_STRING, SPB_DT_DOUBLE };
    struct spb_cell cells[] = { { .s = "SWP-5A000001" }, { .d = 97.5 }, { .s = "SWP-5A000002" }, { .d = 88.25 } };
    struct spb_dataset ds = { 2, 2, cols, types, cells };
    struct spb_metric m[] = {
        { .name = "bdSeq", .datatype = SPB_DT_UINT64, .i = 7 },
        { .name = "neg", .has_alias = true, .alias = 3, .datatype = SPB_DT_INT32, .i = -42 },
        { .name = "i8", .datatype = SPB_DT_INT8, .i = -5 },
        { .name = "big", .datatype = SPB_DT_UINT64, .i = (int64_t)UINT64_C(0xfffffffffffffff0) },
        { .name = "d", .datatype = SPB_DT_DOUBLE, .d = 3.25, .has_timestamp = true, .timestamp_ms = 1700000000123 },
        { .name = "f", .datatype = SPB_DT_FLOAT, .d = 1.5 },
        { .name = "b", .datatype = SPB_DT_BOOLEAN, .i = 1 },
        { .name = "s", .datatype = SPB_DT_STRING, .s = "Execute", .is_historical = true },
        { .name = "n", .datatype = SPB_DT_STRING, .is_null = true },
        { .name = "Packs", .datatype = SPB_DT_DATASET, .ds = &ds },
    };
    size_t nm = sizeof m / sizeof m[0];
    struct spb_payload p = { .has_timestamp = true, .timestamp_ms = 1700000000000, .has_seq = true, .seq = 255,
                             .n_metrics = nm, .metrics = m };
    uint8_t buf[2048];
    size_t n = spb_encode(&p, buf, sizeof buf);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_eq(n, spb_encoded_size(&p));
    ck_assert_uint_eq(spb_encode(&p, buf, n - 1), 0); /* too small: refused, not truncated */
    struct spb_decoded d;
    ck_assert_int_eq(spb_decode(buf, n, &d), 0);
    ck_assert_uint_eq(d.p.seq, 255);
    ck_assert_uint_eq(d.p.timestamp_ms, 1700000000000);
    ck_assert_uint_eq(d.p.n_metrics, nm);
    ck_assert_int_eq(d.metrics[1].i, -42);
    ck_assert(d.metrics[1].has_alias && d.metrics[1].alias == 3);
    ck_assert_int_eq(d.metrics[2].i, -5);
    ck_assert_uint_eq((uint64_t)d.metrics[3].i, UINT64_C(0xfffffffffffffff0));
    ck_assert(d.metrics[4].d == 3.25 && d.metrics[4].timestamp_ms == 1700000000123);
    ck_assert(d.metrics[5].d == 1.5);
    ck_assert_int_eq(d.metrics[6].i, 1);
    ck_assert_str_eq(d.metrics[7].s, "Execute");
    ck_assert(d.metrics[7].is_historical && !d.metrics[6].is_historical);
    ck_assert(d.metrics[8].is_null);
    const struct spb_dataset *got = d.metrics[9].ds;
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->n_rows, 2);
    ck_assert_str_eq(got->columns[1], "SoH pct");
    ck_assert_str_eq(got->cells[2].s, "SWP-5A000002");
    ck_assert(got->cells[3].d == 88.25);
    ck_assert(spb_metric_number(&d.metrics[1]) == -42.0);
    ck_assert(isnan(spb_metric_number(&d.metrics[7])));
    spb_decoded_free(&d);
    ck_assert_int_ne(spb_decode((const uint8_t *)"\xff\xff\xff", 3, &d), 0);
}
END_TEST

START_TEST(test_state_message)
{
    char s[128];
    bool on;
    uint64_t ts;
    ck_assert_int_eq(spb_state_format(s, sizeof s, true, 1700000000999), 0);
    ck_assert_str_eq(s, "{\"online\":true,\"timestamp\":1700000000999}");
    ck_assert_int_eq(spb_state_parse(s, strlen(s), &on, &ts), 0);
    ck_assert(on && ts == 1700000000999);
    ck_assert_int_ne(spb_state_parse("OFFLINE", 7, &on, &ts), 0); /* the Sparkplug 2.2 form */
    ck_assert_int_ne(spb_state_parse("{\"online\":1}", 12, &on, &ts), 0);
}
END_TEST

/* protoc-c on the committed .proto makes exactly the committed C. */
START_TEST(test_generated_code_matches_proto)
{
    const char *src = getenv("SWAP_SRC");
    char dir[] = "/tmp/spb-gen-XXXXXX", cmd[2048];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "cp '%s/protocols/sparkplug/sparkplug_b.proto' '%s/' && cd '%s' && protoc-c --c_out=. sparkplug_b.proto && "
             "cmp -s sparkplug_b.pb-c.c '%s/protocols/sparkplug/sparkplug_b.pb-c.c' && "
             "cmp -s sparkplug_b.pb-c.h '%s/protocols/sparkplug/sparkplug_b.pb-c.h'",
             src ? src : ".", dir, dir, src ? src : "$OLDPWD", src ? src : "$OLDPWD");
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
    ck_assert_msg(rc == 0, "protocols/sparkplug/sparkplug_b.pb-c.[ch] differ from the .proto: run make spb-proto");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spb");
    TCase *tc = tcase_create("spb");
    tcase_add_test(tc, test_topics_round_trip);
    tcase_add_test(tc, test_bad_topics_refused);
    tcase_add_test(tc, test_payload_round_trip_every_type);
    tcase_add_test(tc, test_state_message);
    tcase_add_test(tc, test_generated_code_matches_proto);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
