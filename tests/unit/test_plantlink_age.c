/* The age of the slots' slow telemetry: after a slot's presence changes, its telemetry is
 * unknown until every slow block holding it has been read again, in the exchange that
 * showed the change or later; other slots keep theirs; a block read before the change
 * does not count. The blocks come from the scan plan of the default and the foreign map. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plantlink/plantlink_age.h"
#include "plantmap/plantmap.h"
#include "plantmap/scanplan.h"

static const struct scanplan_link rtu38 = { .rtu = true, .baud = 38400, .data_bits = 8, .stop_bits = 1,
                                            .parity = 'N' };
static struct scanplan plan;
static struct plantlink_age age;
static uint8_t di[REGMAP_DI_COUNT(REGMAP_MAX_SLOTS)];

static void load_foreign(struct plantmap *m)
{
    const char *dir = getenv("SWAP_CONFIGS");
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/plantmap/foreign.ini", dir && *dir ? dir : "configs");
    ck_assert_msg(plantmap_load(path, m, err, sizeof err) == 0, "%s", err);
}

static void set_present(unsigned s, bool on)
{
    di[REGMAP_DI_SLOT_ADDR(s, REGMAP_DI_SLOT_PRESENT)] = on;
}

/* One exchange that reads the slow blocks listed (-1 ends), at t_us, then its image. */
static void exchange(const int *slow, uint64_t t_us)
{
    plantlink_age_begin(&age);
    for (; *slow >= 0; slow++)
        plantlink_age_read(&age, (unsigned)*slow, t_us);
    plantlink_age_image(&age, di);
}

START_TEST(each_slot_telemetry_lies_in_its_own_slow_block)
{
    struct plantmap m;
    char err[256];
    load_foreign(&m);
    ck_assert_msg(scanplan_build(&m, 8, &rtu38, &plan, err, sizeof err) == 0, "%s", err);
    for (unsigned s = 0; s < 8; s++) {
        unsigned blk[4];
        ck_assert_uint_eq(scanplan_slot_slow_blocks(&plan, &m, s, blk, 4), 1);
        const struct scanplan_req *r = &plan.req[plan.n_fast + blk[0]];
        ck_assert(r->table == PLANTMAP_HR && r->addr == 1000 + 12 * s && r->n == 9);   /* slot_voltage..chg_fault */
    }
    plantmap_free(&m);
    ck_assert_int_eq(plantmap_default(&m), 0);
    ck_assert_msg(scanplan_build(&m, 8, &rtu38, &plan, err, sizeof err) == 0, "%s", err);
    unsigned blk[4];
    ck_assert_uint_eq(scanplan_slot_slow_blocks(&plan, &m, 5, blk, 4), 1);
    ck_assert(plan.req[plan.n_fast + blk[0]].table == PLANTMAP_IR);
    plantmap_free(&m);
}
END_TEST

/* The foreign map's plan: slow block 0 is wind and ambient, block 1 + s slot s's. */
static void foreign_age(void)
{
    struct plantmap m;
    char err[256];
    load_foreign(&m);
    ck_assert_msg(scanplan_build(&m, 8, &rtu38, &plan, err, sizeof err) == 0, "%s", err);
    plantlink_age_init(&age, &plan, &m, 8);
    plantmap_free(&m);
    memset(di, 0, sizeof di);
    for (unsigned s = 0; s < 8; s++)
        set_present(s, s != 3);   /* slot 3 empty */
}

START_TEST(nothing_is_known_before_the_first_read)
{
    foreign_age();
    for (unsigned s = 0; s < 8; s++)
        ck_assert_uint_eq(plantlink_age_slot_us(&age, s, 100), 0);
    exchange((const int[]){ 0, 1, 2, 3, 4, 5, 6, 7, 8, -1 }, 1000);   /* after a connect: all of them */
    for (unsigned s = 0; s < 8; s++)
        ck_assert_uint_eq(plantlink_age_slot_us(&age, s, 1100), 1000);
}
END_TEST

START_TEST(a_pack_arriving_makes_its_slot_unknown_until_read)
{
    foreign_age();
    exchange((const int[]){ 0, 1, 2, 3, 4, 5, 6, 7, 8, -1 }, 1000);
    /* the next exchange reads slot 3's block (an empty slot's values) ... */
    exchange((const int[]){ 4, -1 }, 2000);
    ck_assert_uint_eq(plantlink_age_slot_us(&age, 3, 2100), 2000);
    /* ... and then a pack is stored there: its image shows it, with old telemetry */
    set_present(3, true);
    exchange((const int[]){ 5, -1 }, 3000);
    ck_assert_uint_eq(plantlink_age_slot_us(&age, 3, 3100), 0);
    ck_assert_uint_eq(plantlink_age_slot_us(&age, 4, 3100), 3000);    /* the others keep theirs */
    ck_assert_uint_eq(plantlink_age_slot_us(&age, 2, 3100), 1000);
    exchange((const int[]){ 6, -1 }, 4000);
    ck_assert_uint_eq(plantlink_age_slot_us(&age, 3, 4100), 0);
    exchange((const int[]){ 4, -1 }, 5000);                         /* read since the change */
    ck_assert_uint_eq(plantlink_age_slot_us(&age, 3, 5100), 5000);
    /* the pack leaves: unknown again (the empty slot's values are not read yet) */
    set_present(3, false);
    exchange((const int[]){ 7, -1 }, 6000);
    ck_assert_uint_eq(plantlink_age_slot_us(&age, 3, 6100), 0);
}
END_TEST

START_TEST(a_read_in_the_exchange_that_shows_the_change_counts)
{
    foreign_age();
    exchange((const int[]){ 0, 1, 2, 3, 4, 5, 6, 7, 8, -1 }, 1000);
    set_present(3, true);
    exchange((const int[]){ 4, -1 }, 2000);   /* fast reads first: this slow read saw the pack */
    ck_assert_uint_eq(plantlink_age_slot_us(&age, 3, 2100), 2000);
}
END_TEST

START_TEST(telemetry_read_every_scan_is_always_known)
{
    /* a map whose slot telemetry is fast: no slow block holds it */
    struct plantmap m;
    char err[256];
    ck_assert_int_eq(plantmap_default(&m), 0);
    for (size_t i = 0; i < plantmap_signal_count(); i++)
        m.sig[i].cls = PLANTMAP_FAST;
    ck_assert_msg(scanplan_build(&m, 8, &rtu38, &plan, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(plan.n_slow, 0);
    plantlink_age_init(&age, &plan, &m, 8);
    plantmap_free(&m);
    memset(di, 0, sizeof di);
    exchange((const int[]){ -1 }, 1000);
    set_present(2, true);
    exchange((const int[]){ -1 }, 2000);
    ck_assert_uint_eq(plantlink_age_slot_us(&age, 2, 2100), 2100);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plantlink_age");
    TCase *tc = tcase_create("plantlink_age");
    tcase_add_test(tc, each_slot_telemetry_lies_in_its_own_slow_block);
    tcase_add_test(tc, nothing_is_known_before_the_first_read);
    tcase_add_test(tc, a_pack_arriving_makes_its_slot_unknown_until_read);
    tcase_add_test(tc, a_read_in_the_exchange_that_shows_the_change_counts);
    tcase_add_test(tc, telemetry_read_every_scan_is_always_known);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
