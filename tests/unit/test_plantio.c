/* Plant I/O: the register image <-> typed inputs and outputs, garbage images refused,
 * and the in-process backend onto the plant model. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plant/plant.h"
#include "plantio/plantio.h"
#include "plantio_sim.h"

static struct plantcfg pc;
static struct sim_plant *plant;
static struct plantio_backend io;

static void setup(void)
{
    plantcfg_defaults(&pc);
    plant = sim_plant_new(&pc, 7);
    ck_assert_ptr_nonnull(plant);
    plantio_sim_backend(&io, plant);
}

static void teardown(void)
{
    sim_plant_free(plant);
}

START_TEST(reads_a_fresh_plant)
{
    struct station_plant_in in;
    char err[128];
    memset(&in, 0, sizeof in);
    ck_assert_msg(plantio_read(&io, 8, &in, err, sizeof err) == 0, "%s", err);
    ck_assert(in.valid);
    ck_assert(in.estop_ok && in.guard_closed);
    ck_assert(in.stroke_retracted && !in.stroke_extended);
    ck_assert(in.grip_a_open && !in.grip_a_holding);
    ck_assert(in.center_open && in.clamp_unlocked);
    ck_assert_uint_eq(in.n_slots, 8);
    ck_assert_uint_eq(in.map_version, REGMAP_VERSION);
    for (int s = 0; s < 8; s++) {
        ck_assert(in.slot[s].present && in.slot[s].tag_ok && in.slot[s].temp_ok);
        ck_assert_uint_eq(in.slot[s].tag, 0x5A000001u + (uint32_t)s);
        ck_assert_int_gt(in.slot[s].voltage_mV, 20000);
        ck_assert_double_eq_tol(in.slot[s].temp_degC, pc.ambient_degC, 2.0);
    }
    ck_assert_uint_lt(in.load_g, 50);
}
END_TEST

START_TEST(writes_reach_the_plant)
{
    struct station_plant_out o;
    char err[128];
    memset(&o, 0, sizeof o);
    o.heartbeat = 4242;
    o.x_target_mm = 480.0;
    o.z_target_mm = 150.0;
    o.carousel_target = 5;
    o.co[REGMAP_CO_LIGHT_GREEN] = true;
    o.charger_mode[3] = CHARGER_MODE_CHARGE;
    o.charger_mode[4] = CHARGER_MODE_STORAGE;
    ck_assert_msg(plantio_write(&io, 8, &o, err, sizeof err) == 0, "%s", err);
    uint16_t hr[REGMAP_HR_COUNT(8)];
    uint8_t co[REGMAP_CO_COUNT];
    ck_assert_int_eq(sim_plant_read_regs(plant, SIM_HR, 0, REGMAP_HR_COUNT(8), hr), 0);
    ck_assert_int_eq(sim_plant_read_bits(plant, SIM_CO, 0, REGMAP_CO_COUNT, co), 0);
    ck_assert_uint_eq(hr[REGMAP_HR_HEARTBEAT], 4242);
    ck_assert_uint_eq(hr[REGMAP_HR_X_TARGET], 4800);
    ck_assert_uint_eq(hr[REGMAP_HR_Z_TARGET], 1500);
    ck_assert_uint_eq(hr[REGMAP_HR_CAROUSEL_TARGET], 5);
    ck_assert_uint_eq(hr[REGMAP_HR_SLOT_ADDR(3, 0)], CHARGER_MODE_CHARGE);
    ck_assert_uint_eq(hr[REGMAP_HR_SLOT_ADDR(4, 0)], CHARGER_MODE_STORAGE);
    ck_assert_uint_eq(co[REGMAP_CO_LIGHT_GREEN], 1);
    struct station_plant_in in;
    memset(&in, 0, sizeof in);
    ck_assert_int_eq(plantio_readback(&io, &in, err, sizeof err), 0);
    ck_assert(in.have_readback && in.co_readback[REGMAP_CO_LIGHT_GREEN] && !in.co_readback[REGMAP_CO_HORN]);
}
END_TEST

START_TEST(encode_clamps_into_the_documented_ranges)
{
    struct station_plant_out o;
    memset(&o, 0, sizeof o);
    uint8_t co[REGMAP_CO_COUNT];
    uint16_t hr[PLANTIO_HR_MAX];
    o.x_target_mm = 1e9;
    o.z_target_mm = NAN;
    o.carousel_target = 8;
    o.charger_mode[0] = 7;
    plantio_encode(&o, 8, co, hr);
    ck_assert_uint_eq(hr[REGMAP_HR_X_TARGET], 6000);
    ck_assert_uint_eq(hr[REGMAP_HR_Z_TARGET], 0);
    ck_assert_uint_eq(hr[REGMAP_HR_CAROUSEL_TARGET], 0);
    ck_assert_uint_eq(hr[REGMAP_HR_SLOT_ADDR(0, 0)], CHARGER_MODE_OFF);
    o.x_target_mm = -5;
    plantio_encode(&o, 8, co, hr);
    ck_assert_uint_eq(hr[REGMAP_HR_X_TARGET], 0);
}
END_TEST

/* A good image to spoil one register at a time. */
static uint8_t di[PLANTIO_DI_MAX];
static uint16_t ir[PLANTIO_IR_MAX];

static void good_image(void)
{
    ck_assert_int_eq(sim_plant_read_bits(plant, SIM_DI, 0, REGMAP_DI_COUNT(8), di), 0);
    ck_assert_int_eq(sim_plant_read_regs(plant, SIM_IR, 0, REGMAP_IR_COUNT(8), ir), 0);
}

static const struct {
    int table;              /* 0 DI, 1 IR */
    unsigned addr;
    uint16_t value;
    const char *expect;
} garbage[] = {
    { 0, REGMAP_DI_ESTOP_OK, 2, "DI 0 = 2: not a bit" },
    { 1, REGMAP_IR_MAP_VERSION, 99, "register map version differs" },
    { 1, REGMAP_IR_N_SLOTS, 12, "slot count differs" },
    { 1, REGMAP_IR_CAROUSEL_POS, 8, "carousel position outside" },
    { 1, REGMAP_IR_PLANT_FAULT, 999, "IR 0 = 999: plant fault code unknown" },
    { 1, REGMAP_IR_X_POS, 6001, "axis X position outside" },
    { 1, REGMAP_IR_X_VEL, 0x8000, "IR 2 = -32768: axis X velocity outside" },
    { 1, REGMAP_IR_X_VEL, 5001, "IR 2 = 5001: axis X velocity outside" },
    { 1, REGMAP_IR_Z_POS, 65535, "axis Z position outside" },
    { 1, REGMAP_IR_Z_VEL, 0x8000, "IR 4 = -32768: axis Z velocity outside" },
    { 1, REGMAP_IR_LOAD_G, 0xFFFF, "IR 6 = 65535: load cell" },
    { 1, REGMAP_IR_WIND, 0xFFFF, "IR 7 = 65535: wind outside" },
    { 1, REGMAP_IR_AMBIENT, 0x8000, "IR 8 = -32768: ambient temperature outside" },
    { 1, REGMAP_IR_SLOT_ADDR(1, REGMAP_IR_SLOT_VOLTAGE), 0xFFFF, "IR 28 = 65535: slot pack voltage" },
    { 1, REGMAP_IR_SLOT_ADDR(1, REGMAP_IR_SLOT_CURRENT), 0x8000, "IR 29 = -32768: slot charger current" },
    { 1, REGMAP_IR_SLOT_ADDR(1, REGMAP_IR_SLOT_TEMP), 0x8000, "IR 30 = -32768: slot pack temperature" },
    { 1, REGMAP_IR_SLOT_ADDR(1, REGMAP_IR_SLOT_CHARGE_MAH), 0xFFFF, "IR 31 = 65535: slot charge counter" },
    { 1, REGMAP_IR_SLOT_ADDR(1, REGMAP_IR_SLOT_CELL_MIN), 0xFFFF, "IR 32 = 65535: slot lowest cell" },
    { 1, REGMAP_IR_SLOT_ADDR(1, REGMAP_IR_SLOT_CELL_MAX), 5001, "IR 33 = 5001: slot highest cell" },
    { 1, REGMAP_IR_SLOT_ADDR(3, REGMAP_IR_SLOT_CHG_STATE), 6, "charger state unknown" },
    { 1, REGMAP_IR_SLOT_ADDR(7, REGMAP_IR_SLOT_CHG_FAULT), 200, "charger fault code unknown" },
};

START_TEST(garbage_image_is_refused_and_changes_nothing)
{
    good_image();
    if (garbage[_i].table == 0)
        di[garbage[_i].addr] = (uint8_t)garbage[_i].value;
    else
        ir[garbage[_i].addr] = garbage[_i].value;
    struct station_plant_in in;
    memset(&in, 0, sizeof in);
    in.valid = true;
    in.x_pos_mm = 123.0;   /* the last good reading stays */
    char err[128] = "";
    ck_assert_int_eq(plantio_decode(di, ir, 8, &in, err, sizeof err), -1);
    ck_assert_msg(strstr(err, garbage[_i].expect), "got \"%s\"", err);
    ck_assert(!in.valid);
    ck_assert_double_eq(in.x_pos_mm, 123.0);
    /* refused, not missing: the core names the register and value in its alarm */
    ck_assert(in.refused);
    ck_assert_int_eq(in.refused_addr, (int)garbage[_i].addr);
    ck_assert_str_eq(in.refused_why, err);
}
END_TEST

START_TEST(slot_tag_sentinel_is_refused)
{
    good_image();
    ir[REGMAP_IR_SLOT_ADDR(5, REGMAP_IR_SLOT_TAG_HI)] = 0xFFFF;
    ir[REGMAP_IR_SLOT_ADDR(5, REGMAP_IR_SLOT_TAG_LO)] = 0xFFFF;
    struct station_plant_in in;
    memset(&in, 0, sizeof in);
    char err[128] = "";
    ck_assert_int_eq(plantio_decode(di, ir, 8, &in, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "FFFFFFFF"), "got \"%s\"", err);
    ck_assert(in.refused);
    /* the widest legal values pass, and a good image is not refused */
    good_image();
    ir[REGMAP_IR_X_VEL] = (uint16_t)(int16_t)-5000;
    ir[REGMAP_IR_LOAD_G] = 65534;
    ir[REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_TEMP)] = (uint16_t)(int16_t)-600;
    ir[REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_CURRENT)] = (uint16_t)(int16_t)-32767;
    in.refused = true;
    ck_assert_msg(plantio_decode(di, ir, 8, &in, err, sizeof err) == 0, "%s", err);
    ck_assert(in.valid && !in.refused);
    ck_assert_int_eq(in.x_vel_mm_s, -5000);
}
END_TEST

START_TEST(sentinels_decode_to_flags)
{
    good_image();
    ir[REGMAP_IR_SLOT_ADDR(2, REGMAP_IR_SLOT_TEMP)] = REGMAP_TEMP_OPEN;
    ir[REGMAP_IR_CAROUSEL_POS] = REGMAP_CAROUSEL_BETWEEN;
    ir[REGMAP_IR_AMBIENT] = (uint16_t)(int16_t)-125;
    di[REGMAP_DI_SLOT_ADDR(4, REGMAP_DI_SLOT_TAG_OK)] = 0;
    struct station_plant_in in;
    memset(&in, 0, sizeof in);
    char err[128];
    ck_assert_msg(plantio_decode(di, ir, 8, &in, err, sizeof err) == 0, "%s", err);
    ck_assert(!in.slot[2].temp_ok);
    ck_assert_int_eq(in.carousel_pos, -1);
    ck_assert_double_eq_tol(in.ambient_degC, -12.5, 1e-9);
    ck_assert(!in.slot[4].tag_ok);
    ck_assert_uint_eq(in.slot[4].tag, 0);
}
END_TEST

START_TEST(transport_error_is_reported)
{
    struct station_plant_in in;
    memset(&in, 0, sizeof in);
    in.valid = true;
    char err[128];
    /* The plant has 8 slots: a 16-slot read runs past its map. */
    ck_assert_int_eq(plantio_read(&io, 16, &in, err, sizeof err), -1);
    ck_assert(!in.valid);
    ck_assert_ptr_nonnull(strstr(err, "read discrete inputs"));
    ck_assert_int_eq(plantio_read(&io, 0, &in, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "slot count"));
}
END_TEST

START_TEST(out_of_range_write_is_refused_by_the_plant)
{
    struct plantio_backend b = io;
    uint16_t bad = 9999;
    ck_assert_int_eq(b.write_hr(b.ctx, REGMAP_HR_X_TARGET, 1, &bad), -1);
    uint16_t hr;
    ck_assert_int_eq(sim_plant_read_regs(plant, SIM_HR, REGMAP_HR_X_TARGET, 1, &hr), 0);
    ck_assert_uint_ne(hr, 9999);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plantio");
    TCase *tc = tcase_create("image");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reads_a_fresh_plant);
    tcase_add_test(tc, writes_reach_the_plant);
    tcase_add_test(tc, encode_clamps_into_the_documented_ranges);
    tcase_add_test(tc, slot_tag_sentinel_is_refused);
    tcase_add_loop_test(tc, garbage_image_is_refused_and_changes_nothing, 0,
                        (int)(sizeof garbage / sizeof garbage[0]));
    tcase_add_test(tc, sentinels_decode_to_flags);
    tcase_add_test(tc, transport_error_is_reported);
    tcase_add_test(tc, out_of_range_write_is_refused_by_the_plant);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
