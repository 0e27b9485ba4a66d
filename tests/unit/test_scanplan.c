/* Scan planning: blocks coalesce within the protocol's and the device's limits, gaps are
 * bridged only when cheaper (or as the map allows), writes never bridge, the heartbeat's
 * block is marked, the wire time follows the line's framing, and the slow blocks spread
 * over the slow period. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plantmap/plantmap.h"
#include "plantmap/scanplan.h"

static const struct scanplan_link tcp = { .tcp_bps = 100e6, .tcp_request_us = 200 };
static const struct scanplan_link rtu115 = { .rtu = true, .baud = 115200, .data_bits = 8, .stop_bits = 1,
                                             .parity = 'N' };

static struct scanplan plan;

static const struct scanplan_req *find(const struct scanplan *p, enum plantmap_table t, bool write, unsigned addr)
{
    for (unsigned i = 0; i < p->n_req; i++)
        if (p->req[i].table == t && p->req[i].write == write && addr >= p->req[i].addr &&
            addr < p->req[i].addr + p->req[i].n)
            return &p->req[i];
    return NULL;
}

START_TEST(default_map_reads_in_few_blocks)
{
    struct plantmap m;
    char err[256];
    ck_assert_int_eq(plantmap_default(&m), 0);
    ck_assert_msg(scanplan_build(&m, 8, &tcp, &plan, err, sizeof err) == 0, "%s", err);
    const struct scanplan_req *di = find(&plan, PLANTMAP_DI, false, 0);
    ck_assert_ptr_nonnull(di);
    ck_assert_uint_eq(di->addr, 0);
    ck_assert_uint_eq(di->n, 48);   /* DI 0..29 and the slot bits 32..47, the gap bridged */
    const struct scanplan_req *hb = find(&plan, PLANTMAP_HR, true, 0);
    ck_assert(hb && hb->heartbeat && hb->n == 4);
    const struct scanplan_req *chg = find(&plan, PLANTMAP_HR, true, 8);
    ck_assert(chg && !chg->heartbeat && chg->n == 8);   /* HR 4..7 unmapped: not written */
    ck_assert_uint_eq(plan.n_slow, 9);                  /* wind..map_version, then one block per slot */
    ck_assert_uint_eq(scanplan_slow_per_scan(&plan, 20, 1000), 1);
    ck_assert_uint_eq(scanplan_slow_per_scan(&plan, 20, 0), 9);
    plantmap_free(&m);
}
END_TEST

START_TEST(limits_and_gaps_are_kept)
{
    struct plantmap m;
    char err[256];
    ck_assert_int_eq(plantmap_default(&m), 0);
    m.max_read_regs = 10;
    m.max_gap_regs = 0;
    m.max_write_bits = 5;
    ck_assert_msg(scanplan_build(&m, 16, &tcp, &plan, err, sizeof err) == 0, "%s", err);
    for (unsigned i = 0; i < plan.n_req; i++) {
        const struct scanplan_req *r = &plan.req[i];
        if (r->table == PLANTMAP_IR)
            ck_assert_uint_le(r->n, 10);
        if (r->table == PLANTMAP_COIL && r->write)
            ck_assert_uint_le(r->n, 5);
    }
    /* no bridging: the fast input registers are the general block and each slot's tag */
    ck_assert_ptr_null(find(&plan, PLANTMAP_IR, false, 12));
    ck_assert_ptr_nonnull(find(&plan, PLANTMAP_IR, false, 16 + 10 * 15));
    plantmap_free(&m);
}
END_TEST

START_TEST(writes_never_bridge_and_packed_bits_share_a_register)
{
    char path[1024], err[512];
    const char *src = getenv("SWAP_SRC");
    snprintf(path, sizeof path, "%s/configs/plantmap/foreign.ini", src && *src ? src : ".");
    struct plantmap m;
    ck_assert_msg(plantmap_load(path, &m, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(scanplan_build(&m, 8, &rtu115, &plan, err, sizeof err) == 0, "%s", err);
    const struct scanplan_req *lights = find(&plan, PLANTMAP_HR, true, 30);
    ck_assert(lights && lights->addr == 30 && lights->n == 1);
    const struct scanplan_req *hb = find(&plan, PLANTMAP_HR, true, 8);
    ck_assert(hb && hb->heartbeat && hb->addr == 8 && hb->n == 6);   /* heartbeat, carousel, two floats */
    const struct scanplan_req *sensors = find(&plan, PLANTMAP_HR, false, 20);
    ck_assert(sensors && sensors->cls == PLANTMAP_FAST && sensors->n <= m.max_read_regs);
    for (unsigned i = 0; i < plan.n_req; i++)
        ck_assert_uint_le(plan.req[i].n, plan.req[i].table == PLANTMAP_DI ? m.max_read_bits : m.max_read_regs);
    plantmap_free(&m);
}
END_TEST

START_TEST(wire_time_follows_the_framing)
{
    /* read 10 registers over RTU 19200 8E1: request 8 + reply 25 characters of 11 bits,
     * and 3.5 characters of silence after each frame */
    struct scanplan_link l = { .rtu = true, .baud = 19200, .data_bits = 8, .stop_bits = 1, .parity = 'E' };
    struct scanplan_req r = { .table = PLANTMAP_HR, .addr = 0, .n = 10 };
    ck_assert_uint_eq(scanplan_req_bytes(&r, true), 33);
    double want = 33 * 11 * 1e6 / 19200 + 2 * 3.5 * 11 * 1e6 / 19200;
    ck_assert(fabs(scanplan_req_us(&r, &l) - want) < 1);
    /* above 19200 baud the silence is a fixed 1750 us */
    ck_assert(fabs(scanplan_req_us(&r, &rtu115) - (33 * 10 * 1e6 / 115200 + 3500)) < 1);
    /* TCP: MBAP header instead of address and CRC */
    ck_assert_uint_eq(scanplan_req_bytes(&r, false), 12 + 29);
    struct scanplan_req w = { .table = PLANTMAP_COIL, .addr = 0, .n = 16, .write = true };
    ck_assert_uint_eq(scanplan_req_bytes(&w, true), 9 + 2 + 8);
}
END_TEST

START_TEST(the_fast_loop_needs_a_longer_period_on_a_slow_line)
{
    struct plantmap m;
    char err[256];
    ck_assert_int_eq(plantmap_default(&m), 0);
    ck_assert_int_eq(scanplan_build(&m, 8, &rtu115, &plan, err, sizeof err), 0);
    int need = scanplan_min_period_ms(&plan, &rtu115, 1000);
    ck_assert_int_gt(need, 20);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(scanplan_print(f, &plan, &m, &rtu115, 20, 1000), -1);
    ck_assert_int_eq(scanplan_print(f, &plan, &m, &rtu115, need, 1000), 0);
    fclose(f);
    char want[80];
    snprintf(want, sizeof want, "a period of %d ms would", need);
    ck_assert_msg(strstr(buf, want), "%s", buf);
    free(buf);
    ck_assert_int_eq(scanplan_build(&m, 8, &tcp, &plan, err, sizeof err), 0);
    ck_assert_int_le(scanplan_min_period_ms(&plan, &tcp, 1000), 20);
    plantmap_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scanplan");
    TCase *tc = tcase_create("scanplan");
    tcase_add_test(tc, default_map_reads_in_few_blocks);
    tcase_add_test(tc, limits_and_gaps_are_kept);
    tcase_add_test(tc, writes_never_bridge_and_packed_bits_share_a_register);
    tcase_add_test(tc, wire_time_follows_the_framing);
    tcase_add_test(tc, the_fast_loop_needs_a_longer_period_on_a_slow_line);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
