/* Cross-check of the Sparkplug B payload code against an independent implementation,
 * the npm package sparkplug-payload (tests/node/spb_crosscheck.js): the station's birth
 * metrics we encode decode there to the same names, aliases, types and values, and a
 * payload it encodes decodes here to what it says it holds. Missing node or
 * node_modules fails loudly. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fleetlink/fleetlink.h"
#include "proc.h"
#include "sparkplug/spb.h"

static char dir[256];

static json_t *run_node(const char *mode, const char *file)
{
    const char *src = getenv("SWAP_SRC");
    char mod[PATH_MAX], cmd[2 * PATH_MAX];
    snprintf(mod, sizeof mod, "%s/tests/node/node_modules/sparkplug-payload/package.json", src ? src : ".");
    ck_assert_msg(access(mod, R_OK) == 0, "%s missing: run `npm install --prefix tests/node` (make deps)", mod);
    snprintf(cmd, sizeof cmd, "node '%s/tests/node/spb_crosscheck.js' %s '%s'", src ? src : ".", mode, file);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p, "cannot run node");
    json_error_t err;
    json_t *j = json_loadf(p, JSON_DISABLE_EOF_CHECK, &err);
    int st = pclose(p);
    ck_assert_msg(st == 0 && j, "node %s failed (status %d): %s", mode, st, err.text);
    return j;
}

/* A 64-bit field as node prints it: a decimal string (long.js) or a plain number. */
static unsigned long long u64_of(json_t *v)
{
    return json_is_string(v) ? strtoull(json_string_value(v), NULL, 10) : (unsigned long long)json_integer_value(v);
}

static void setup(void) { ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "spb-cross"), 0); }
static void teardown(void) { proc_rmtree(dir); }

/* An NBIRTH-like payload from the station's own metric table, every datatype it uses. */
START_TEST(test_ours_decode_there)
{
    static const char *const cols[] = { "Battery", "Location", "Status", "SoH pct", "EFC" };
    static const uint32_t types[] = { SPB_DT_STRING, SPB_DT_STRING, SPB_DT_STRING, SPB_DT_DOUBLE, SPB_DT_DOUBLE };
    struct spb_cell cells[] = { { .s = "SWP-5A000001" }, { .s = "slot 1" }, { .s = "in_service" }, { .d = 97.5 }, { .d = 12.0 } };
    struct spb_dataset ds = { 5, 1, cols, types, cells };
    struct spb_metric m[FM_COUNT + 2];
    size_t n = 0;
    m[n++] = (struct spb_metric){ .name = "bdSeq", .has_alias = true, .alias = FLEETLINK_ALIAS_BDSEQ,
                                  .datatype = SPB_DT_UINT64, .i = 255 };
    m[n++] = (struct spb_metric){ .name = "Event/Text", .has_alias = true, .alias = FLEETLINK_ALIAS_EVENT_TEXT,
                                  .has_timestamp = true, .timestamp_ms = 1700000000555, .datatype = SPB_DT_STRING,
                                  .s = "drone 10 cleared for take-off", .is_historical = true };
    for (int id = 0; id < FM_COUNT; id++) {
        struct spb_metric x = { .name = fleetlink_metrics[id].name, .has_alias = true, .alias = (uint64_t)id + 1,
                                .datatype = fleetlink_metrics[id].datatype };
        switch (x.datatype) {
        case SPB_DT_STRING: x.s = "Execute"; break;
        case SPB_DT_DOUBLE: x.d = id + 0.25; break;
        case SPB_DT_BOOLEAN: x.i = 1; break;
        case SPB_DT_DATASET: x.ds = &ds; break;
        case SPB_DT_INT32: x.i = -id; break;
        default: x.i = (int64_t)(1000000000000LL * id); break;
        }
        if (id == FM_MAG_SOH_MIN)
            x.is_null = true;
        m[n++] = x;
    }
    struct spb_payload p = { .has_timestamp = true, .timestamp_ms = 1700000000000, .has_seq = true, .seq = 0,
                             .n_metrics = n, .metrics = m };
    uint8_t buf[8192];
    size_t len = spb_encode(&p, buf, sizeof buf);
    ck_assert_uint_gt(len, 0);
    char file[320];
    snprintf(file, sizeof file, "%s/ours.bin", dir);
    FILE *f = fopen(file, "wb");
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    json_t *j = run_node("decode", file);
    ck_assert_str_eq(json_string_value(json_object_get(j, "timestamp")), "1700000000000");
    json_t *mets = json_object_get(j, "metrics");
    ck_assert_uint_eq(json_array_size(mets), n);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(mets, i);
        const struct spb_metric *x = &m[i];
        ck_assert_str_eq(json_string_value(json_object_get(t, "name")), x->name);
        ck_assert_uint_eq(u64_of(json_object_get(t, "alias")), x->alias);
        ck_assert_str_eq(json_string_value(json_object_get(t, "type")), spb_datatype_name(x->datatype));
        json_t *v = json_object_get(t, "value");
        if (x->is_null) {
            ck_assert_msg(json_is_null(v), "%s: null expected", x->name);
            continue;
        }
        char want[64];
        switch (x->datatype) {
        case SPB_DT_STRING: ck_assert_str_eq(json_string_value(v), x->s); break;
        case SPB_DT_DOUBLE: ck_assert(json_real_value(v) == x->d || json_number_value(v) == x->d); break;
        case SPB_DT_BOOLEAN: ck_assert(json_is_true(v)); break;
        case SPB_DT_INT32: ck_assert_int_eq(json_integer_value(v), x->i); break;
        case SPB_DT_UINT64:
            snprintf(want, sizeof want, "%llu", (unsigned long long)x->i);
            ck_assert_msg(json_is_string(v) ? !strcmp(json_string_value(v), want) : json_integer_value(v) == x->i,
                          "%s: %s", x->name, want);
            break;
        case SPB_DT_DATASET: {
            json_t *row = json_array_get(json_object_get(v, "rows"), 0);
            ck_assert_str_eq(json_string_value(json_array_get(json_object_get(v, "columns"), 3)), "SoH pct");
            ck_assert_str_eq(json_string_value(json_array_get(row, 0)), "SWP-5A000001");
            ck_assert(json_number_value(json_array_get(row, 3)) == 97.5);
            break;
        }
        default: ck_abort_msg("type %u not checked", x->datatype);
        }
    }
    ck_assert(json_is_true(json_object_get(json_array_get(mets, 1), "isHistorical")));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(mets, 1), "timestamp")), "1700000000555");
    json_decref(j);
}
END_TEST

START_TEST(test_theirs_decode_here)
{
    char file[320];
    snprintf(file, sizeof file, "%s/theirs.bin", dir);
    json_t *j = run_node("encode", file);
    FILE *f = fopen(file, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[8192];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct spb_decoded d;
    ck_assert_int_eq(spb_decode(buf, len, &d), 0);
    ck_assert_uint_eq(d.p.seq, 17);
    ck_assert_uint_eq(d.p.timestamp_ms, 1700000000000);
    json_t *mets = json_object_get(j, "metrics");
    ck_assert_uint_eq(d.p.n_metrics, json_array_size(mets));
    for (size_t i = 0; i < d.p.n_metrics; i++) {
        const struct spb_metric *m = &d.metrics[i];
        json_t *t = json_array_get(mets, i);
        const char *type = json_string_value(json_object_get(t, "type"));
        json_t *v = json_object_get(t, "value");
        ck_assert_str_eq(m->name, json_string_value(json_object_get(t, "name")));
        ck_assert_str_eq(spb_datatype_name(m->datatype), type);
        if (json_object_get(t, "alias"))
            ck_assert(m->has_alias && m->alias == u64_of(json_object_get(t, "alias")));
        ck_assert(m->is_historical == json_is_true(json_object_get(t, "isHistorical")));
        if (json_is_null(v)) {
            ck_assert_msg(m->is_null, "%s: null expected", m->name);
            continue;
        }
        char got[64];
        if (!strcmp(type, "UInt64")) {
            snprintf(got, sizeof got, "%llu", (unsigned long long)m->i);
            ck_assert_str_eq(got, json_string_value(v));
        } else if (!strcmp(type, "Int64")) {
            snprintf(got, sizeof got, "%lld", (long long)m->i);
            ck_assert_str_eq(got, json_string_value(v));
        } else if (!strcmp(type, "Int32") || !strcmp(type, "Int8")) {
            ck_assert_int_eq(m->i, json_integer_value(v));
        } else if (!strcmp(type, "Double") || !strcmp(type, "Float")) {
            ck_assert(m->d == json_number_value(v));
        } else if (!strcmp(type, "Boolean")) {
            ck_assert(m->i == json_is_true(v));
        } else if (!strcmp(type, "String")) {
            ck_assert_str_eq(m->s, json_string_value(v));
        } else if (!strcmp(type, "DataSet")) {
            json_t *rows = json_object_get(v, "rows");
            ck_assert_ptr_nonnull(m->ds);
            ck_assert_uint_eq(m->ds->n_rows, json_array_size(rows));
            ck_assert_uint_eq(m->ds->n_columns, 3);
            ck_assert_str_eq(m->ds->columns[1], "Location");
            ck_assert_str_eq(m->ds->cells[3].s, "SWP-5A000002");
            ck_assert_str_eq(m->ds->cells[4].s, "drone");
            ck_assert(m->ds->cells[5].d == 88.25);
        } else {
            ck_abort_msg("type %s not checked", type);
        }
    }
    spb_decoded_free(&d);
    json_decref(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spb_crosscheck");
    TCase *tc = tcase_create("crosscheck");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ours_decode_there);
    tcase_add_test(tc, test_theirs_decode_here);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
