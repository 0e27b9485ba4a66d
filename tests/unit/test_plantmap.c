/* Plant map: the default map file is the compiled layout, translation round-trips through
 * a foreign layout, and each class of broken map is refused with file:line. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plantmap/plantmap.h"
#include "rng/rng.h"

static const char *src_dir(void)
{
    const char *s = getenv("SWAP_SRC");
    return s && *s ? s : ".";
}

static void load_file(const char *rel, struct plantmap *m)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/%s", src_dir(), rel);
    ck_assert_msg(plantmap_load(path, m, err, sizeof err) == 0, "%s", err);
}

START_TEST(default_file_equals_the_compiled_map)
{
    struct plantmap file, def;
    load_file("configs/plantmap/default.ini", &file);
    ck_assert_int_eq(plantmap_default(&def), 0);
    ck_assert_uint_eq(file.slots, def.slots);
    ck_assert_uint_eq(file.max_read_regs, def.max_read_regs);
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        const struct plantmap_sig *a = &file.sig[i], *b = &def.sig[i];
        const char *n = plantmap_signal(i)->name;
        ck_assert_msg(a->present == b->present && a->table == b->table && a->addr == b->addr &&
                          a->stride == b->stride && a->bit == b->bit && a->type == b->type &&
                          a->order == b->order && a->scale == b->scale && a->offset == b->offset &&
                          a->invert == b->invert && a->cls == b->cls,
                      "[%s] differs between default.ini and the compiled map", n);
    }
    plantmap_free(&file);
    plantmap_free(&def);
}
END_TEST

/* The compiled register layout, read straight: what plantio did before maps existed. */
static bool logical_addr_mapped(enum plantmap_table t, unsigned a, unsigned n_slots)
{
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        const struct plantmap_sigdef *d = plantmap_signal(i);
        if (d->ltable != t)
            continue;
        unsigned n = d->lstride ? n_slots : 1, w = d->ltype == PLANTMAP_U32 ? 2 : 1;
        for (unsigned s = 0; s < n; s++)
            if (a >= d->laddr + s * d->lstride && a < d->laddr + s * d->lstride + w)
                return true;
    }
    return false;
}

START_TEST(default_map_decodes_and_encodes_random_images_identically)
{
    struct plantmap m;
    load_file("configs/plantmap/default.ini", &m);
    struct plantmap_wire *w = calloc(1, sizeof *w);
    struct plantmap_image img;
    struct sim_rng rng;
    sim_rng_seed(&rng, 15);
    const unsigned n = 8;
    for (int round = 0; round < 200; round++) {
        for (unsigned a = 0; a < REGMAP_DI_COUNT(REGMAP_MAX_SLOTS); a++)
            w->di[a] = (uint8_t)sim_rng_below(&rng, 2);
        for (unsigned a = 0; a < REGMAP_IR_COUNT(REGMAP_MAX_SLOTS); a++)
            w->ir[a] = (uint16_t)sim_rng_below(&rng, 65536);
        for (unsigned a = 0; a < REGMAP_CO_COUNT; a++)
            w->co[a] = (uint8_t)sim_rng_below(&rng, 2);
        for (unsigned a = 0; a < REGMAP_HR_COUNT(REGMAP_MAX_SLOTS); a++)
            w->hr[a] = (uint16_t)sim_rng_below(&rng, 65536);
        memset(&img, 0xA5, sizeof img);
        plantmap_decode(&m, w, n, false, &img);
        plantmap_decode(&m, w, n, true, &img);
        for (unsigned a = 0; a < REGMAP_DI_COUNT(n); a++)
            if (logical_addr_mapped(PLANTMAP_DI, a, n))
                ck_assert_uint_eq(img.di[a], w->di[a]);
        for (unsigned a = 0; a < REGMAP_IR_COUNT(n); a++)
            if (logical_addr_mapped(PLANTMAP_IR, a, n))
                ck_assert_msg(img.ir[a] == w->ir[a], "IR %u: %u != %u", a, img.ir[a], w->ir[a]);
        for (unsigned a = 0; a < REGMAP_CO_COUNT; a++)
            ck_assert_uint_eq(img.co[a], w->co[a]);
        for (unsigned a = 0; a < REGMAP_HR_COUNT(n); a++)
            if (logical_addr_mapped(PLANTMAP_HR, a, n))
                ck_assert_uint_eq(img.hr[a], w->hr[a]);
        /* and back: encoding the decoded image gives the same wire values */
        struct plantmap_wire *w2 = calloc(1, sizeof *w2);
        plantmap_encode(&m, &img, n, false, w2);
        plantmap_encode(&m, &img, n, true, w2);
        for (unsigned a = 0; a < REGMAP_IR_COUNT(n); a++)
            if (logical_addr_mapped(PLANTMAP_IR, a, n))
                ck_assert_uint_eq(w2->ir[a], w->ir[a]);
        for (unsigned a = 0; a < REGMAP_HR_COUNT(n); a++)
            if (logical_addr_mapped(PLANTMAP_HR, a, n))
                ck_assert_uint_eq(w2->hr[a], w->hr[a]);
        free(w2);
    }
    free(w);
    plantmap_free(&m);
}
END_TEST

/* A plausible logical image: values every foreign encoding can carry exactly. */
static void plausible_image(struct sim_rng *rng, struct plantmap_image *img, unsigned n)
{
    memset(img, 0, sizeof *img);
    for (unsigned a = 0; a < REGMAP_DI_COUNT(n); a++)
        img->di[a] = (uint8_t)sim_rng_below(rng, 2);
    for (unsigned a = 0; a < REGMAP_CO_COUNT; a++)
        img->co[a] = (uint8_t)sim_rng_below(rng, 2);
    img->ir[REGMAP_IR_PLANT_FAULT] = (uint16_t)sim_rng_below(rng, PF_COUNT);
    img->ir[REGMAP_IR_X_POS] = (uint16_t)sim_rng_below(rng, 6001);
    img->ir[REGMAP_IR_X_VEL] = (uint16_t)(int16_t)((int)sim_rng_below(rng, 1001) - 500);
    img->ir[REGMAP_IR_Z_POS] = (uint16_t)sim_rng_below(rng, 1501);
    img->ir[REGMAP_IR_CAROUSEL_POS] = (uint16_t)sim_rng_below(rng, n);
    img->ir[REGMAP_IR_LOAD_G] = (uint16_t)sim_rng_below(rng, 20000);
    img->ir[REGMAP_IR_WIND] = (uint16_t)sim_rng_below(rng, 300);
    img->ir[REGMAP_IR_AMBIENT] = (uint16_t)(int16_t)((int)sim_rng_below(rng, 800) - 200);
    img->ir[REGMAP_IR_HEARTBEAT_ECHO] = (uint16_t)sim_rng_below(rng, 65536);
    img->ir[REGMAP_IR_N_SLOTS] = (uint16_t)n;
    img->ir[REGMAP_IR_MAP_VERSION] = REGMAP_VERSION;
    for (unsigned s = 0; s < n; s++) {
        uint16_t *r = &img->ir[REGMAP_IR_SLOT_ADDR(s, 0)];
        uint32_t tag = (uint32_t)sim_rng_next(rng);
        r[REGMAP_IR_SLOT_TAG_HI] = (uint16_t)(tag >> 16);
        r[REGMAP_IR_SLOT_TAG_LO] = (uint16_t)tag;
        r[REGMAP_IR_SLOT_VOLTAGE] = (uint16_t)sim_rng_below(rng, 26000);
        r[REGMAP_IR_SLOT_CURRENT] = (uint16_t)(int16_t)((int)sim_rng_below(rng, 20000) - 10000);
        r[REGMAP_IR_SLOT_TEMP] = (uint16_t)sim_rng_below(rng, 600);
        r[REGMAP_IR_SLOT_CHARGE_MAH] = (uint16_t)sim_rng_below(rng, 6000);
        r[REGMAP_IR_SLOT_CELL_MIN] = (uint16_t)sim_rng_below(rng, 4300);
        r[REGMAP_IR_SLOT_CELL_MAX] = (uint16_t)sim_rng_below(rng, 4300);
        r[REGMAP_IR_SLOT_CHG_STATE] = (uint16_t)sim_rng_below(rng, 6);
        img->hr[REGMAP_HR_SLOT_ADDR(s, 0)] = (uint16_t)sim_rng_below(rng, 3);
    }
    img->hr[REGMAP_HR_HEARTBEAT] = (uint16_t)sim_rng_below(rng, 65536);
    img->hr[REGMAP_HR_X_TARGET] = (uint16_t)sim_rng_below(rng, 6001);
    img->hr[REGMAP_HR_Z_TARGET] = (uint16_t)sim_rng_below(rng, 1501);
    img->hr[REGMAP_HR_CAROUSEL_TARGET] = (uint16_t)sim_rng_below(rng, n);
}

START_TEST(foreign_map_round_trips_every_signal)
{
    struct plantmap m;
    load_file("configs/plantmap/foreign.ini", &m);
    struct plantmap_wire *w = calloc(1, sizeof *w);
    struct sim_rng rng;
    sim_rng_seed(&rng, 17);
    const unsigned n = 8;
    for (int round = 0; round < 200; round++) {
        struct plantmap_image in, out;
        plausible_image(&rng, &in, n);
        plantmap_encode(&m, &in, n, false, w);
        plantmap_encode(&m, &in, n, true, w);
        memset(&out, 0, sizeof out);
        plantmap_decode(&m, w, n, false, &out);
        plantmap_decode(&m, w, n, true, &out);
        ck_assert_mem_eq(out.di, in.di, REGMAP_DI_GENERAL_COUNT);
        for (unsigned a = REGMAP_DI_SLOT_BASE; a < REGMAP_DI_COUNT(n); a++)
            ck_assert_uint_eq(out.di[a], in.di[a]);
        ck_assert_mem_eq(out.co, in.co, REGMAP_CO_COUNT);
        for (unsigned a = 0; a < REGMAP_IR_COUNT(n); a++)
            if (logical_addr_mapped(PLANTMAP_IR, a, n))
                ck_assert_msg(out.ir[a] == in.ir[a], "IR %u: %u != %u", a, out.ir[a], in.ir[a]);
        for (unsigned a = 0; a < REGMAP_HR_COUNT(n); a++)
            if (logical_addr_mapped(PLANTMAP_HR, a, n))
                ck_assert_msg(out.hr[a] == in.hr[a], "HR %u: %u != %u", a, out.hr[a], in.hr[a]);
    }
    /* What the wire holds there: an inverted bit, a float in cdab order. */
    struct plantmap_image img;
    memset(&img, 0, sizeof img);
    img.di[REGMAP_DI_ESTOP_OK] = 1;
    img.ir[REGMAP_IR_X_POS] = 6000;  /* 600.0 mm */
    memset(w, 0, sizeof *w);
    plantmap_encode(&m, &img, n, false, w);
    int e = plantmap_signal_find("estop_ok"), x = plantmap_signal_find("x_pos");
    ck_assert_int_eq((w->hr[m.sig[e].addr] >> m.sig[e].bit) & 1, 0);
    float f600 = 600.0f;
    uint32_t u;
    memcpy(&u, &f600, sizeof u);
    ck_assert_uint_eq(w->hr[m.sig[x].addr], (uint16_t)u);
    ck_assert_uint_eq(w->hr[m.sig[x].addr + 1], (uint16_t)(u >> 16));
    free(w);
    plantmap_free(&m);
}
END_TEST

START_TEST(value_outside_the_logical_register_reads_its_sentinel)
{
    struct plantmap m;
    load_file("configs/plantmap/foreign.ini", &m);
    struct plantmap_wire *w = calloc(1, sizeof *w);
    int x = plantmap_signal_find("x_pos");
    float nan_f = NAN;
    uint32_t u;
    memcpy(&u, &nan_f, sizeof u);
    w->hr[m.sig[x].addr] = (uint16_t)u;
    w->hr[m.sig[x].addr + 1] = (uint16_t)(u >> 16);
    struct plantmap_image img;
    plantmap_decode(&m, w, 4, false, &img);
    ck_assert_uint_eq(img.ir[REGMAP_IR_X_POS], 0xFFFF);
    /* optional signals the map leaves out read their defaults */
    ck_assert_uint_eq(img.ir[REGMAP_IR_MAP_VERSION], REGMAP_VERSION);
    ck_assert_uint_eq(img.ir[REGMAP_IR_N_SLOTS], 4);
    free(w);
    plantmap_free(&m);
}
END_TEST

/* ---- broken maps: one per error class, each with file:line -------------------------- */

static const char *minimal_tail(void);

/* The default map as text, with `edit` appended (a later duplicate section is an error,
 * so edits name sections the default text leaves out, or replace via strstr). */
static char *default_text(void)
{
    struct plantmap m;
    ck_assert_int_eq(plantmap_default(&m), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    plantmap_write_ini(f, &m);
    fclose(f);
    plantmap_free(&m);
    return buf;
}

static const char *minimal_tail(void) { return ""; }

static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    ck_assert_msg(at != NULL, "no \"%s\" in the text", from);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

static int line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    ck_assert_ptr_nonnull(at);
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

static void expect_refused(const char *text, int line, const char *what)
{
    struct plantmap m;
    char err[512], want[64];
    ck_assert_int_ne(plantmap_load_string("broken.ini", text, &m, err, sizeof err), 0);
    snprintf(want, sizeof want, "broken.ini:%d: ", line);
    ck_assert_msg(!strncmp(err, want, strlen(want)), "expected \"%s...\", got \"%s\"", want, err);
    ck_assert_msg(strstr(err, what), "expected \"%s\" in \"%s\"", what, err);
    plantmap_free(&m);
}

START_TEST(refuses_a_missing_required_signal)
{
    char *t = default_text();
    char *b = replace(t, "[x_pos]\ntable = input_register\naddress = 1\n", "");
    expect_refused(b, line_of(b, "name = default"), "required signal [x_pos] missing");
    free(b);
    free(t);
}
END_TEST

START_TEST(refuses_an_unknown_signal)
{
    char *t = default_text();
    char *b = replace(t, "[x_pos]", "[x_position]");
    expect_refused(b, line_of(b, "[x_position]") + 1, "unknown section");
    free(b);
    free(t);
}
END_TEST

START_TEST(refuses_two_signals_on_one_address)
{
    char *t = default_text();
    char *b = replace(t, "[x_vel]\ntable = input_register\naddress = 2", "[x_vel]\ntable = input_register\naddress = 1");
    expect_refused(b, line_of(b, "[x_vel]") + 1, "[x_vel] overlaps [x_pos] at input_register 1");
    free(b);
    /* a whole register over a packed bit */
    b = replace(t, "[rain]\ntable = discrete_input\naddress = 29", "[rain]\ntable = input_register\naddress = 9\nbit = 0");
    expect_refused(b, line_of(b, "[heartbeat_echo]") + 1, "[heartbeat_echo] overlaps [rain] at input_register 9");
    free(b);
    /* per-slot blocks running into each other */
    b = replace(t, "[slot_voltage]\ntable = input_register\nbase = 18\nstride = 10",
                "[slot_voltage]\ntable = input_register\nbase = 18\nstride = 9");
    expect_refused(b, line_of(b, "[slot_voltage]") + 1, "(slot 1)");
    free(b);
    free(t);
}
END_TEST

START_TEST(refuses_a_type_that_does_not_fit_its_table)
{
    char *t = default_text();
    char *b = replace(t, "[x_pos]\ntable = input_register\naddress = 1\n",
                      "[x_pos]\ntable = discrete_input\naddress = 100\ntype = f32\n");
    expect_refused(b, line_of(b, "[x_pos]") + 1, "does not fit table discrete_input");
    free(b);
    b = replace(t, "[x_enable]\ntable = coil\naddress = 3", "[x_enable]\ntable = discrete_input\naddress = 100");
    expect_refused(b, line_of(b, "[x_enable]") + 1, "an output needs a writable table");
    free(b);
    b = replace(t, "[rain]\ntable = discrete_input\naddress = 29", "[rain]\ntable = holding_register\naddress = 100");
    expect_refused(b, line_of(b, "[rain]") + 1, "needs its bit");
    free(b);
    free(t);
}
END_TEST

START_TEST(refuses_limits_beyond_the_protocol)
{
    char *t = default_text();
    char *b = replace(t, "max_read_registers = 125", "max_read_registers = 126");
    expect_refused(b, line_of(b, "max_read_registers"), "max_read_registers");
    free(b);
    b = replace(t, "max_write_bits = 1968", "max_write_bits = 1969");
    expect_refused(b, line_of(b, "max_write_bits"), "max_write_bits");
    free(b);
    b = replace(t, "[slot_voltage]\ntable = input_register\nbase = 18", "[slot_voltage]\ntable = input_register\nbase = 65500");
    expect_refused(b, line_of(b, "[slot_voltage]") + 1, "beyond the protocol's 0..65535");
    free(b);
    free(t);
    (void)minimal_tail;
}
END_TEST

START_TEST(refuses_an_unknown_key_and_a_bad_value)
{
    char *t = default_text();
    char *b = replace(t, "[x_pos]\ntable = input_register\n", "[x_pos]\ntable = input_register\nendian = little\n");
    expect_refused(b, line_of(b, "endian"), "unknown key");
    free(b);
    b = replace(t, "[x_pos]\ntable = input_register\n", "[x_pos]\ntable = input_register\ntype = f64\n");
    expect_refused(b, line_of(b, "type = f64"), "not one of the allowed values");
    free(b);
    free(t);
}
END_TEST

START_TEST(markdown_names_every_signal)
{
    struct plantmap m;
    load_file("configs/plantmap/foreign.ini", &m);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    plantmap_write_markdown(f, &m, 8);
    fclose(f);
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        char row[80];
        snprintf(row, sizeof row, "| %s | ", plantmap_signal(i)->name);
        ck_assert_msg(strstr(buf, row), "%s missing", row);
    }
    ck_assert_ptr_nonnull(strstr(buf, "| x_pos | holding_register | 50 |  | f32 | cdab | 10 | 0 |  | fast |"));
    free(buf);
    plantmap_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plantmap");
    TCase *tc = tcase_create("plantmap");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, default_file_equals_the_compiled_map);
    tcase_add_test(tc, default_map_decodes_and_encodes_random_images_identically);
    tcase_add_test(tc, foreign_map_round_trips_every_signal);
    tcase_add_test(tc, value_outside_the_logical_register_reads_its_sentinel);
    tcase_add_test(tc, refuses_a_missing_required_signal);
    tcase_add_test(tc, refuses_an_unknown_signal);
    tcase_add_test(tc, refuses_two_signals_on_one_address);
    tcase_add_test(tc, refuses_a_type_that_does_not_fit_its_table);
    tcase_add_test(tc, refuses_limits_beyond_the_protocol);
    tcase_add_test(tc, refuses_an_unknown_key_and_a_bad_value);
    tcase_add_test(tc, markdown_names_every_signal);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
