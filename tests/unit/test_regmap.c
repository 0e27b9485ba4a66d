/* Register map: the committed docs/register-map.md is what `regmap-doc --map
 * configs/plantmap/default.ini` prints, and the map's layout keeps one controller scan at
 * one request per block. */
#include <check.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plantmap/plantmap.h"
#include "regmap/regmap.h"

#define DOC_SLOTS 8   /* regmap-doc's default, the shipped plant's slot count */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

START_TEST(committed_doc_equals_generated_table)
{
    char path[1024];
    const char *src = getenv("SWAP_SRC");
    snprintf(path, sizeof path, "%s/docs/register-map.md", src && *src ? src : ".");
    size_t doc_len = 0;
    char *doc = read_file(path, &doc_len);
    ck_assert_msg(doc != NULL, "cannot read %s", path);

    char map_path[1024], err[512];
    snprintf(map_path, sizeof map_path, "%s/configs/plantmap/default.ini", src && *src ? src : ".");
    struct plantmap m;
    ck_assert_msg(plantmap_load(map_path, &m, err, sizeof err) == 0, "%s", err);
    char *gen = NULL;
    size_t gen_len = 0;
    FILE *f = open_memstream(&gen, &gen_len);
    ck_assert_ptr_nonnull(f);
    plantmap_write_markdown(f, &m, DOC_SLOTS);
    fclose(f);
    plantmap_free(&m);

    /* Point at the first difference: a bare "not equal" on 120 lines helps nobody. */
    size_t i = 0;
    while (i < doc_len && i < gen_len && doc[i] == gen[i])
        i++;
    size_t line = 1;
    for (size_t k = 0; k < i; k++)
        line += doc[k] == '\n';
    ck_assert_msg(doc_len == gen_len && i == doc_len,
                  "%s differs from regmap-doc's output at line %zu; regenerate with "
                  "build/bin/regmap-doc --map configs/plantmap/default.ini > docs/register-map.md", path, line);
    free(doc);
    free(gen);
}
END_TEST

START_TEST(each_block_fits_one_request_for_8_slots)
{
    ck_assert_uint_le(REGMAP_DI_COUNT(DOC_SLOTS), MODBUS_MAX_READ_BITS);
    ck_assert_uint_le(REGMAP_IR_COUNT(DOC_SLOTS), MODBUS_MAX_READ_REGISTERS);
    ck_assert_uint_le(REGMAP_CO_COUNT_N(DOC_SLOTS), MODBUS_MAX_WRITE_BITS);
    ck_assert_uint_le(REGMAP_HR_COUNT(DOC_SLOTS), MODBUS_MAX_WRITE_REGISTERS);
}
END_TEST

/* Every named address must lie inside the block a scan transfers, and the general part
 * must end before the per-slot part starts, or a signal would be silently skipped. */
static unsigned max_u(unsigned a, unsigned b) { return a > b ? a : b; }
#define MAX_OF(name, addr, ...) m = max_u(m, (unsigned)(addr));

START_TEST(general_signals_end_before_the_slot_blocks)
{
    unsigned m = 0;
    REGMAP_DI(MAX_OF)
    ck_assert_uint_lt(m, REGMAP_DI_SLOT_BASE);
    ck_assert_uint_le(REGMAP_DI_GENERAL_COUNT, REGMAP_DI_SLOT_BASE);
    m = 0;
    REGMAP_IR(MAX_OF)
    ck_assert_uint_lt(m, REGMAP_IR_SLOT_BASE);
    m = 0;
    REGMAP_HR(MAX_OF)
    ck_assert_uint_lt(m, REGMAP_HR_SLOT_BASE);
    m = 0;
    REGMAP_CO(MAX_OF)
    ck_assert_uint_lt(m, REGMAP_CO_COUNT);
}
END_TEST

START_TEST(slot_fields_fit_their_stride)
{
    unsigned m = 0;
    REGMAP_DI_SLOT(MAX_OF)
    ck_assert_uint_lt(m, REGMAP_DI_SLOT_STRIDE);
    m = 0;
    REGMAP_IR_SLOT(MAX_OF)
    ck_assert_uint_lt(m, REGMAP_IR_SLOT_STRIDE);
    m = 0;
    REGMAP_HR_SLOT(MAX_OF)
    ck_assert_uint_lt(m, REGMAP_HR_SLOT_STRIDE);
    /* The last slot's last field is the block's last address. */
    ck_assert_uint_eq(REGMAP_IR_SLOT_ADDR(DOC_SLOTS - 1, REGMAP_IR_SLOT_CHG_FAULT) + 1,
                      REGMAP_IR_COUNT(DOC_SLOTS));
    ck_assert_uint_eq(REGMAP_DI_SLOT_ADDR(DOC_SLOTS - 1, REGMAP_DI_SLOT_TAG_OK) + 1,
                      REGMAP_DI_COUNT(DOC_SLOTS));
}
END_TEST
#undef MAX_OF

START_TEST(doc_names_every_fault_code)
{
    char *gen = NULL;
    size_t gen_len = 0;
    FILE *f = open_memstream(&gen, &gen_len);
    regmap_write_markdown(f, DOC_SLOTS);
    fclose(f);
    for (unsigned c = 0; c < PF_COUNT; c++) {
        char row[160];
        snprintf(row, sizeof row, "| %u | ", c);
        ck_assert_msg(strstr(gen, row) && strstr(gen, regmap_plant_fault_str(c)),
                      "plant fault %u missing from the table", c);
    }
    free(gen);
}
END_TEST

START_TEST(doc_lists_the_reserved_addresses_and_per_plant_ranges)
{
    char *gen = NULL;
    size_t gen_len = 0;
    FILE *f = open_memstream(&gen, &gen_len);
    regmap_write_markdown(f, 6);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(gen, "| DI | 30..31 | (reserved) | bit | | Reads 0 |"));
    ck_assert_ptr_nonnull(strstr(gen, "| IR | 12..15 | (reserved) | u16 | | Reads 0 |"));
    ck_assert_ptr_nonnull(strstr(gen, "| HR | 4..7 | (reserved) | u16 | | Reads 0; writing 0 is accepted"));
    ck_assert_ptr_nonnull(strstr(gen, "(range 0..n-1: 0..5 here;"));
    ck_assert_ptr_null(strstr(gen, "(range 0..15)"));
    ck_assert_ptr_nonnull(strstr(gen, "exception 2, ILLEGAL DATA ADDRESS"));
    ck_assert_ptr_nonnull(strstr(gen, "HR 14 and up here"));
    free(gen);
}
END_TEST

static Suite *regmap_suite(void)
{
    Suite *s = suite_create("regmap");
    TCase *tc = tcase_create("regmap");
    tcase_add_test(tc, committed_doc_equals_generated_table);
    tcase_add_test(tc, doc_lists_the_reserved_addresses_and_per_plant_ranges);
    tcase_add_test(tc, each_block_fits_one_request_for_8_slots);
    tcase_add_test(tc, general_signals_end_before_the_slot_blocks);
    tcase_add_test(tc, slot_fields_fit_their_stride);
    tcase_add_test(tc, doc_names_every_fault_code);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(regmap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
