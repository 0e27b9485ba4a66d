/* Plant model through its register image, on the plant's own clock (sim_plant_step):
 * device timings, trapezoidal moves, every interlock, watchdog, e-stop, each fault
 * injection, image range checks, the command log, and a full manual battery swap with
 * the ground truth checked at every millisecond. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plant/plant.h"

/* Check records every passing ck_assert (a write each); the helpers below run millions
 * of times and only report failures. */
#define REQUIRE(cond) \
    do { \
        if (!(cond)) \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
    } while (0)

static struct plantcfg cfg;
static struct sim_plant *p;
static uint16_t hb;
static bool feed_heartbeat = true;
static bool check_truth;

/* The contract tests read exact values: chargers with ideal sensors. */
static void ideal_sensors(struct plantcfg *c)
{
    c->chs_current_noise_mA = c->chs_current_offset_mA = c->chs_current_gain_pct = 0;
    c->chs_voltage_noise_mV = c->chs_voltage_lsb_mV = c->chs_cell_lsb_mV = 0;
    c->chs_temp_noise_degC = c->chs_missing_pct = 0;
    c->chs_period_s = 1;
}

static void setup(void)
{
    plantcfg_defaults(&cfg);
    ideal_sensors(&cfg);
    p = sim_plant_new(&cfg, 42);
    ck_assert_ptr_nonnull(p);
    hb = 0;
    feed_heartbeat = true;
    check_truth = false;
}

static void teardown(void) { sim_plant_free(p); }

static void coil(unsigned a, int v)
{
    uint8_t b = (uint8_t)v;
    REQUIRE(sim_plant_write_coils(p, a, 1, &b) == 0);
}

static void hreg(unsigned a, unsigned v)
{
    uint16_t w = (uint16_t)v;
    REQUIRE(sim_plant_write_regs(p, a, 1, &w) == 0);
}

static int di(unsigned a)
{
    uint8_t b;
    REQUIRE(sim_plant_read_bits(p, SIM_DI, a, 1, &b) == 0);
    return b;
}

static unsigned ir(unsigned a)
{
    uint16_t w;
    REQUIRE(sim_plant_read_regs(p, SIM_IR, a, 1, &w) == 0);
    return w;
}

/* Every pack is in exactly one place, and the places agree with the sensors. */
static void assert_truth_consistent(void)
{
    struct sim_truth t;
    sim_plant_truth(p, &t);
    int in_slot[REGMAP_MAX_SLOTS] = { 0 }, grip[2] = { 0 }, drone = 0;
    for (size_t i = 0; i < t.n_batteries; i++) {
        const struct sim_truth_battery *b = &t.batteries[i];
        for (size_t j = 0; j < i; j++)
            REQUIRE(b->tag != t.batteries[j].tag);
        switch (b->place) {
        case SIM_PLACE_SLOT:
            REQUIRE(b->slot >= 0 && b->slot < cfg.n_slots);
            in_slot[b->slot]++;
            break;
        case SIM_PLACE_GRIPPER_A: grip[0]++; break;
        case SIM_PLACE_GRIPPER_B: grip[1]++; break;
        case SIM_PLACE_DRONE: drone++; break;
        case SIM_PLACE_AWAY: break;
        default: ck_abort_msg("pack %08X has no place", b->tag);
        }
    }
    for (int s = 0; s < cfg.n_slots; s++) {
        REQUIRE(in_slot[s] <= 1);
        REQUIRE(in_slot[s] == di(REGMAP_DI_SLOT_ADDR(s, REGMAP_DI_SLOT_PRESENT)));
    }
    REQUIRE(grip[0] <= 1);
    REQUIRE(grip[1] <= 1);
    REQUIRE(grip[0] == di(REGMAP_DI_GRIP_A_HOLDING));
    REQUIRE(grip[1] == di(REGMAP_DI_GRIP_B_HOLDING));
    REQUIRE(drone <= 1);
    REQUIRE(drone == t.drone_battery_latched);
}

/* Advances ms milliseconds, 1 ms at a time, writing a fresh heartbeat every 50 ms. */
static void run(unsigned ms)
{
    for (unsigned i = 0; i < ms; i++) {
        if (feed_heartbeat && sim_plant_now_ms(p) % 50 == 0)
            hreg(REGMAP_HR_HEARTBEAT, ++hb);
        sim_plant_step(p, 1);
        if (check_truth)
            assert_truth_consistent();
    }
}

/* Steps until discrete input a reads v; returns the elapsed ms, or -1 after max_ms. */
static long wait_di(unsigned a, int v, unsigned max_ms)
{
    uint64_t t0 = sim_plant_now_ms(p);
    while (sim_plant_now_ms(p) - t0 <= max_ms) {
        if (di(a) == v)
            return (long)(sim_plant_now_ms(p) - t0);
        run(1);
    }
    return -1;
}

static void home_axes(void)
{
    coil(REGMAP_CO_X_HOME, 1);
    coil(REGMAP_CO_Z_HOME, 1);
    ck_assert_int_ge(wait_di(REGMAP_DI_X_HOMED, 1, 5000), 0);
    ck_assert_int_ge(wait_di(REGMAP_DI_Z_HOMED, 1, 5000), 0);
    coil(REGMAP_CO_X_HOME, 0);
    coil(REGMAP_CO_Z_HOME, 0);
    coil(REGMAP_CO_X_ENABLE, 1);
    coil(REGMAP_CO_Z_ENABLE, 1);
}

static long move_x(double mm)
{
    hreg(REGMAP_HR_X_TARGET, (unsigned)lround(mm * 10));
    run(1);
    return wait_di(REGMAP_DI_X_IN_POS, 1, 10000) + 1;
}

static long move_z(double mm)
{
    hreg(REGMAP_HR_Z_TARGET, (unsigned)lround(mm * 10));
    run(1);
    return wait_di(REGMAP_DI_Z_IN_POS, 1, 10000) + 1;
}

static void carousel_to(int slot)
{
    hreg(REGMAP_HR_CAROUSEL_TARGET, (unsigned)slot);
    coil(REGMAP_CO_CAROUSEL_ENABLE, 1);
    run(1);
    ck_assert_int_ge(wait_di(REGMAP_DI_CAROUSEL_IN_POS, 1, 10000), 0);
}

/* Sets a two-position actuator and waits for its end sensor; returns the elapsed ms. */
static long actuate(unsigned co, int v, unsigned di_end)
{
    coil(co, v);
    long t = wait_di(di_end, 1, 10000);
    ck_assert_msg(t >= 0, "coil %u = %d: end sensor %u never came (fault %u)", co, v, di_end,
                  ir(REGMAP_IR_PLANT_FAULT));
    return t;
}

static void head_at_bay_extended(void)
{
    home_axes();
    move_x(cfg.x_bay_mm);
    actuate(REGMAP_CO_STROKE_EXTEND, 1, REGMAP_DI_STROKE_EXTENDED);
}

/* ---- initial state and timings ----------------------------------------------------------- */

START_TEST(initial_state_matches_the_contract)
{
    ck_assert_int_eq(di(REGMAP_DI_X_HOMED), 0);
    ck_assert_int_eq(di(REGMAP_DI_STROKE_RETRACTED), 1);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_A_OPEN), 1);
    ck_assert_int_eq(di(REGMAP_DI_WRIST_A), 1);
    ck_assert_int_eq(di(REGMAP_DI_CENTER_OPEN), 1);
    ck_assert_int_eq(di(REGMAP_DI_CLAMP_UNLOCKED), 1);
    ck_assert_int_eq(di(REGMAP_DI_ESTOP_OK), 1);
    ck_assert_int_eq(di(REGMAP_DI_GUARD_CLOSED), 1);
    ck_assert_int_eq(di(REGMAP_DI_PLANT_READY), 1);
    ck_assert_uint_eq(ir(REGMAP_IR_N_SLOTS), 8);
    ck_assert_uint_eq(ir(REGMAP_IR_MAP_VERSION), REGMAP_VERSION);
    ck_assert_uint_eq(ir(REGMAP_IR_CAROUSEL_POS), 0);
    for (int s = 0; s < 8; s++) {
        ck_assert_int_eq(di(REGMAP_DI_SLOT_ADDR(s, REGMAP_DI_SLOT_PRESENT)), 1);
        uint32_t tag = ir(REGMAP_IR_SLOT_ADDR(s, REGMAP_IR_SLOT_TAG_HI)) << 16 |
                       ir(REGMAP_IR_SLOT_ADDR(s, REGMAP_IR_SLOT_TAG_LO));
        ck_assert_uint_eq(tag, 0x5A000001u + (uint32_t)s);
        const struct sim_battery *b = sim_plant_battery(p, tag);
        ck_assert_double_eq_tol(b->soc, 0.5, 1e-12);
        unsigned mv = ir(REGMAP_IR_SLOT_ADDR(s, REGMAP_IR_SLOT_VOLTAGE));
        ck_assert_uint_eq(mv, (unsigned)lround(sim_battery_ocv(b) * 1000));
    }
    assert_truth_consistent();
}
END_TEST

static const struct {
    unsigned co;
    unsigned di_on, di_off;
    size_t travel_offset;
} devices[] = {
    { REGMAP_CO_CENTER_CLOSE, REGMAP_DI_CENTER_CLOSED, REGMAP_DI_CENTER_OPEN, offsetof(struct plantcfg, center_s) },
    { REGMAP_CO_CLAMP_LOCK, REGMAP_DI_CLAMP_LOCKED, REGMAP_DI_CLAMP_UNLOCKED, offsetof(struct plantcfg, clamp_s) },
    { REGMAP_CO_WRIST_B, REGMAP_DI_WRIST_B, REGMAP_DI_WRIST_A, offsetof(struct plantcfg, wrist_s) },
    { REGMAP_CO_GRIP_A_CLOSE, REGMAP_DI_GRIP_A_CLOSED, REGMAP_DI_GRIP_A_OPEN, offsetof(struct plantcfg, gripper_s) },
    { REGMAP_CO_GRIP_B_CLOSE, REGMAP_DI_GRIP_B_CLOSED, REGMAP_DI_GRIP_B_OPEN, offsetof(struct plantcfg, gripper_s) },
    { REGMAP_CO_STROKE_EXTEND, REGMAP_DI_STROKE_EXTENDED, REGMAP_DI_STROKE_RETRACTED, offsetof(struct plantcfg, stroke_s) },
};

/* Each actuator reaches its far end, and comes back, in its configured time (+-1 ms step);
 * both end sensors are off while it travels. */
START_TEST(a_pack_taken_out_by_hand_leaves_the_plant)
{
    struct sim_battery b;
    ck_assert_int_eq(sim_plant_remove_pack(p, 8, &b), -1);      /* no such slot */
    ck_assert_int_eq(sim_plant_remove_pack(p, 3, &b), 0);
    ck_assert_uint_eq(b.tag, 0x5A000004u);
    ck_assert_int_eq(di(REGMAP_DI_SLOT_ADDR(3, REGMAP_DI_SLOT_PRESENT)), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(3, REGMAP_IR_SLOT_TAG_LO)), 0);
    ck_assert_int_eq(sim_plant_remove_pack(p, 3, &b), -1);      /* now empty */
    struct sim_truth t;
    sim_plant_truth(p, &t);
    bool away = false;
    for (size_t i = 0; i < t.n_batteries; i++)
        if (t.batteries[i].tag == 0x5A000004u)
            away = t.batteries[i].place == SIM_PLACE_AWAY;
    ck_assert(away);
}
END_TEST

START_TEST(actuator_reaches_end_in_configured_time)
{
    double travel_s = *(const double *)((const char *)&cfg + devices[_i].travel_offset);
    long want = lround(travel_s * 1000);
    if (devices[_i].co == REGMAP_CO_STROKE_EXTEND)
        head_at_bay_extended(), actuate(REGMAP_CO_STROKE_EXTEND, 0, REGMAP_DI_STROKE_RETRACTED);
    coil(devices[_i].co, 1);
    run(want / 2);
    ck_assert_int_eq(di(devices[_i].di_on), 0);
    ck_assert_int_eq(di(devices[_i].di_off), 0);
    long t = wait_di(devices[_i].di_on, 1, 10000) + want / 2;
    ck_assert_msg(labs(t - want) <= 1, "closing took %ld ms, configured %ld", t, want);
    t = actuate(devices[_i].co, 0, devices[_i].di_off);
    ck_assert_msg(labs(t - want) <= 1, "opening took %ld ms, configured %ld", t, want);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_NONE);
}
END_TEST

START_TEST(homing_takes_home_time_and_ends_at_zero)
{
    coil(REGMAP_CO_X_HOME, 1);
    run(1);
    ck_assert_int_eq(di(REGMAP_DI_X_BUSY), 1);
    long t = wait_di(REGMAP_DI_X_HOMED, 1, 10000) + 1;
    ck_assert_int_le(labs(t - lround(cfg.x.home_time_s * 1000)), 1);
    ck_assert_uint_eq(ir(REGMAP_IR_X_POS), 0);
    ck_assert_int_eq(di(REGMAP_DI_X_BUSY), 0);
}
END_TEST

START_TEST(homing_aborts_when_the_coil_drops)
{
    coil(REGMAP_CO_Z_HOME, 1);
    run(300);
    coil(REGMAP_CO_Z_HOME, 0);
    run(2000);
    ck_assert_int_eq(di(REGMAP_DI_Z_HOMED), 0);
}
END_TEST

/* Trapezoidal and triangular moves take plantcfg_move_time_s (+-1 ms step). */
START_TEST(axis_move_time_matches_the_trapezoid)
{
    home_axes();
    long t = move_x(cfg.x_bay_mm);
    long want = lround(plantcfg_move_time_s(&cfg.x, cfg.x_bay_mm) * 1000);
    ck_assert_msg(labs(t - want) <= 1, "X 0->600 took %ld ms, want %ld", t, want);
    ck_assert_uint_eq(ir(REGMAP_IR_X_POS), 6000);
    t = move_x(cfg.x_standby_mm);
    want = lround(plantcfg_move_time_s(&cfg.x, cfg.x_bay_mm - cfg.x_standby_mm) * 1000);
    ck_assert_msg(labs(t - want) <= 1, "X 600->480 took %ld ms, want %ld", t, want);
    move_x(cfg.x_magazine_mm);
    t = move_z(cfg.z_slot_mm);
    want = lround(plantcfg_move_time_s(&cfg.z, cfg.z_slot_mm) * 1000);
    ck_assert_msg(labs(t - want) <= 1, "Z 0->150 took %ld ms, want %ld", t, want);
}
END_TEST

START_TEST(axis_velocity_is_signed_and_limited)
{
    home_axes();
    hreg(REGMAP_HR_X_TARGET, 6000);
    run(700);
    ck_assert_uint_eq(ir(REGMAP_IR_X_VEL), (unsigned)cfg.x.vmax_mm_s);
    ck_assert_int_eq(di(REGMAP_DI_X_BUSY), 1);
    ck_assert_int_eq(di(REGMAP_DI_X_IN_POS), 0);
    wait_di(REGMAP_DI_X_IN_POS, 1, 5000);
    hreg(REGMAP_HR_X_TARGET, 0);
    run(700);
    ck_assert_int_eq((int16_t)ir(REGMAP_IR_X_VEL), -(int)cfg.x.vmax_mm_s);
}
END_TEST

START_TEST(enable_off_decelerates_to_a_stop)
{
    home_axes();
    hreg(REGMAP_HR_X_TARGET, 6000);
    run(700);
    coil(REGMAP_CO_X_ENABLE, 0);
    run(499);
    ck_assert_int_eq(di(REGMAP_DI_X_BUSY), 1);
    run(2);
    ck_assert_int_eq(di(REGMAP_DI_X_BUSY), 0);
    /* 125 mm accelerating (0.5 s), 100 mm at vmax (0.2 s), 125 mm braking = 350 mm */
    ck_assert_int_le(abs((int)ir(REGMAP_IR_X_POS) - 3500), 2);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_NONE);
}
END_TEST

START_TEST(carousel_takes_the_shortest_way)
{
    struct sim_truth t;
    long ms;
    hreg(REGMAP_HR_CAROUSEL_TARGET, 3);
    coil(REGMAP_CO_CAROUSEL_ENABLE, 1);
    run(1);
    ck_assert_uint_eq(ir(REGMAP_IR_CAROUSEL_POS), REGMAP_CAROUSEL_BETWEEN);
    ms = wait_di(REGMAP_DI_CAROUSEL_IN_POS, 1, 10000) + 1;
    ck_assert_int_le(labs(ms - lround(3 * cfg.carousel_step_s * 1000)), 1);
    ck_assert_uint_eq(ir(REGMAP_IR_CAROUSEL_POS), 3);
    hreg(REGMAP_HR_CAROUSEL_TARGET, 0);
    run(50);
    sim_plant_truth(p, &t);
    ck_assert_int_eq(t.carousel_slot, -1);
    ms = wait_di(REGMAP_DI_CAROUSEL_IN_POS, 1, 10000) + 50;
    ck_assert_int_le(labs(ms - lround(3 * cfg.carousel_step_s * 1000)), 1);
    hreg(REGMAP_HR_CAROUSEL_TARGET, 6); /* 2 steps backwards, not 6 forwards */
    run(1);
    ms = wait_di(REGMAP_DI_CAROUSEL_IN_POS, 1, 10000) + 1;
    ck_assert_int_le(labs(ms - lround(2 * cfg.carousel_step_s * 1000)), 1);
    ck_assert_uint_eq(ir(REGMAP_IR_CAROUSEL_POS), 6);
}
END_TEST

/* ---- interlocks ---------------------------------------------------------------------------- */

static void assert_refused(unsigned code)
{
    ck_assert_msg(ir(REGMAP_IR_PLANT_FAULT) == code, "plant fault %u (%s), want %u (%s)",
                  ir(REGMAP_IR_PLANT_FAULT), regmap_plant_fault_str(ir(REGMAP_IR_PLANT_FAULT)), code,
                  regmap_plant_fault_str(code));
    ck_assert_int_eq(di(REGMAP_DI_PLANT_READY), 0);
}

START_TEST(x_refused_with_z_down)
{
    home_axes();
    move_z(cfg.z_slot_mm);
    hreg(REGMAP_HR_X_TARGET, 3000);
    run(500);
    ck_assert_uint_eq(ir(REGMAP_IR_X_POS), 0);
    assert_refused(PF_IL_X_WITH_Z_DOWN);
    ck_assert_int_eq(di(REGMAP_DI_X_FAULT), 1);
}
END_TEST

START_TEST(z_down_refused_while_x_travels)
{
    home_axes();
    hreg(REGMAP_HR_X_TARGET, 3000);
    run(100);
    hreg(REGMAP_HR_Z_TARGET, 1500);
    run(100);
    ck_assert_uint_eq(ir(REGMAP_IR_Z_POS), 0);
    assert_refused(PF_IL_X_WITH_Z_DOWN);
    ck_assert_int_eq(di(REGMAP_DI_Z_FAULT), 1);
}
END_TEST

START_TEST(x_refused_with_stroke_extended)
{
    head_at_bay_extended();
    hreg(REGMAP_HR_X_TARGET, 3000);
    run(500);
    ck_assert_uint_eq(ir(REGMAP_IR_X_POS), 6000);
    assert_refused(PF_IL_X_WITH_STROKE);
}
END_TEST

START_TEST(z_refused_with_stroke_extended)
{
    head_at_bay_extended();
    hreg(REGMAP_HR_Z_TARGET, 500);
    run(500);
    ck_assert_uint_eq(ir(REGMAP_IR_Z_POS), 0);
    assert_refused(PF_IL_Z_WITH_STROKE);
}
END_TEST

START_TEST(carousel_refused_with_stroke_extended)
{
    head_at_bay_extended();
    hreg(REGMAP_HR_CAROUSEL_TARGET, 2);
    coil(REGMAP_CO_CAROUSEL_ENABLE, 1);
    run(1000);
    ck_assert_uint_eq(ir(REGMAP_IR_CAROUSEL_POS), 0);
    assert_refused(PF_IL_CAROUSEL_WITH_STROKE);
    ck_assert_int_eq(di(REGMAP_DI_CAROUSEL_FAULT), 1);
}
END_TEST

START_TEST(carousel_refused_with_z_in_the_magazine)
{
    home_axes();
    move_z(cfg.z_slot_mm);
    hreg(REGMAP_HR_CAROUSEL_TARGET, 2);
    coil(REGMAP_CO_CAROUSEL_ENABLE, 1);
    run(1000);
    ck_assert_uint_eq(ir(REGMAP_IR_CAROUSEL_POS), 0);
    assert_refused(PF_IL_CAROUSEL_WITH_Z_DOWN);
}
END_TEST

START_TEST(z_down_refused_while_the_carousel_turns)
{
    home_axes();
    hreg(REGMAP_HR_CAROUSEL_TARGET, 4);
    coil(REGMAP_CO_CAROUSEL_ENABLE, 1);
    run(100);
    hreg(REGMAP_HR_Z_TARGET, 1500);
    run(100);
    ck_assert_uint_eq(ir(REGMAP_IR_Z_POS), 0);
    assert_refused(PF_IL_CAROUSEL_WITH_Z_DOWN);
}
END_TEST

START_TEST(wrist_refused_with_stroke_extended)
{
    head_at_bay_extended();
    coil(REGMAP_CO_WRIST_B, 1);
    run(1000);
    ck_assert_int_eq(di(REGMAP_DI_WRIST_A), 1);
    assert_refused(PF_IL_WRIST_WITH_STROKE);
}
END_TEST

START_TEST(stroke_refused_when_not_aligned)
{
    home_axes();
    move_x(300);
    coil(REGMAP_CO_STROKE_EXTEND, 1);
    run(1000);
    ck_assert_int_eq(di(REGMAP_DI_STROKE_RETRACTED), 1);
    assert_refused(PF_IL_STROKE_NOT_ALIGNED);
}
END_TEST

START_TEST(stroke_refused_while_something_moves)
{
    home_axes();
    move_z(cfg.z_slot_mm);                 /* aligned with slot 0 */
    coil(REGMAP_CO_WRIST_B, 1);            /* ... but the wrist is turning */
    run(100);
    coil(REGMAP_CO_STROKE_EXTEND, 1);
    run(1000);
    ck_assert_int_eq(di(REGMAP_DI_STROKE_RETRACTED), 1);
    assert_refused(PF_IL_STROKE_MOVING);
}
END_TEST

START_TEST(centering_and_clamp_refused_with_robot_in_pad_zone)
{
    head_at_bay_extended();
    coil(REGMAP_CO_CENTER_CLOSE, 1);
    coil(REGMAP_CO_CLAMP_LOCK, 1);
    run(2000);
    ck_assert_int_eq(di(REGMAP_DI_CENTER_OPEN), 1);
    ck_assert_int_eq(di(REGMAP_DI_CLAMP_UNLOCKED), 1);
    assert_refused(PF_IL_CENTER_WITH_ROBOT);
}
END_TEST

START_TEST(axes_refused_before_homing)
{
    coil(REGMAP_CO_X_ENABLE, 1);
    hreg(REGMAP_HR_X_TARGET, 1000);
    run(100);
    ck_assert_uint_eq(ir(REGMAP_IR_X_POS), 0);
    assert_refused(PF_X_NOT_HOMED);
    coil(REGMAP_CO_Z_ENABLE, 1);
    hreg(REGMAP_HR_Z_TARGET, 1000);
    run(100);
    ck_assert_uint_eq(ir(REGMAP_IR_Z_POS), 0);
    ck_assert_int_eq(di(REGMAP_DI_Z_FAULT), 1);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_X_NOT_HOMED); /* first fault wins */
}
END_TEST

/* Gripper B takes the pack of slot 0, then the head tries to push it into occupied slot 1. */
START_TEST(pushing_a_battery_into_an_occupied_slot_is_a_collision)
{
    home_axes();
    actuate(REGMAP_CO_WRIST_B, 1, REGMAP_DI_WRIST_B);
    move_z(cfg.z_slot_mm);
    actuate(REGMAP_CO_STROKE_EXTEND, 1, REGMAP_DI_STROKE_EXTENDED);
    actuate(REGMAP_CO_GRIP_B_CLOSE, 1, REGMAP_DI_GRIP_B_CLOSED);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_B_HOLDING), 1);
    actuate(REGMAP_CO_STROKE_EXTEND, 0, REGMAP_DI_STROKE_RETRACTED);
    move_z(0);
    carousel_to(1);
    move_z(cfg.z_slot_mm);
    coil(REGMAP_CO_STROKE_EXTEND, 1);
    run(1000);
    ck_assert_int_eq(di(REGMAP_DI_STROKE_RETRACTED), 1);
    assert_refused(PF_COLLISION);
    struct sim_truth t;
    sim_plant_truth(p, &t);
    ck_assert_uint_eq(t.collisions, 1);
}
END_TEST

START_TEST(releasing_a_battery_in_mid_air_is_refused)
{
    home_axes();
    move_z(cfg.z_slot_mm);
    actuate(REGMAP_CO_STROKE_EXTEND, 1, REGMAP_DI_STROKE_EXTENDED);
    actuate(REGMAP_CO_GRIP_A_CLOSE, 1, REGMAP_DI_GRIP_A_CLOSED);
    actuate(REGMAP_CO_STROKE_EXTEND, 0, REGMAP_DI_STROKE_RETRACTED);
    coil(REGMAP_CO_GRIP_A_CLOSE, 0);
    run(1000);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_A_HOLDING), 1);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_A_CLOSED), 1);
    assert_refused(PF_COLLISION);
}
END_TEST

START_TEST(pulling_away_while_releasing_keeps_the_pack_in_the_gripper)
{
    home_axes();
    move_z(cfg.z_slot_mm);
    actuate(REGMAP_CO_STROKE_EXTEND, 1, REGMAP_DI_STROKE_EXTENDED);
    actuate(REGMAP_CO_GRIP_A_CLOSE, 1, REGMAP_DI_GRIP_A_CLOSED);
    coil(REGMAP_CO_GRIP_A_CLOSE, 0);           /* release into the now empty slot 0 ... */
    run(100);
    coil(REGMAP_CO_STROKE_EXTEND, 0);          /* ... but pull the head back meanwhile */
    run(1000);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_A_HOLDING), 1);
    ck_assert_int_eq(di(REGMAP_DI_SLOT_ADDR(0, REGMAP_DI_SLOT_PRESENT)), 0);
    assert_refused(PF_COLLISION);
    assert_truth_consistent();
}
END_TEST

START_TEST(closing_on_nothing_just_closes)
{
    home_axes();
    move_x(cfg.x_bay_mm); /* no drone on the pad */
    actuate(REGMAP_CO_STROKE_EXTEND, 1, REGMAP_DI_STROKE_EXTENDED);
    actuate(REGMAP_CO_GRIP_A_CLOSE, 1, REGMAP_DI_GRIP_A_CLOSED);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_A_HOLDING), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_NONE);
}
END_TEST

START_TEST(fault_reset_clears_when_the_cause_is_gone)
{
    home_axes();
    move_z(cfg.z_slot_mm);
    hreg(REGMAP_HR_X_TARGET, 3000);
    run(100);
    assert_refused(PF_IL_X_WITH_Z_DOWN);
    hreg(REGMAP_HR_X_TARGET, 0); /* command withdrawn */
    coil(REGMAP_CO_FAULT_RESET, 1);
    run(10);
    coil(REGMAP_CO_FAULT_RESET, 0);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_NONE);
    ck_assert_int_eq(di(REGMAP_DI_X_FAULT), 0);
    ck_assert_int_eq(di(REGMAP_DI_PLANT_READY), 1);
}
END_TEST

/* ---- watchdog and e-stop ---------------------------------------------------------------------- */

START_TEST(watchdog_trips_after_watchdog_ms_and_not_before)
{
    home_axes();
    feed_heartbeat = false;
    hreg(REGMAP_HR_HEARTBEAT, ++hb);
    hreg(REGMAP_HR_X_TARGET, 6000);
    run((unsigned)cfg.watchdog_ms - 1);
    ck_assert_int_eq(di(REGMAP_DI_WATCHDOG_TRIPPED), 0);
    ck_assert_int_eq(di(REGMAP_DI_PLANT_READY), 1);
    hreg(REGMAP_HR_HEARTBEAT, hb); /* same value: not a heartbeat */
    run(1);
    ck_assert_int_eq(di(REGMAP_DI_WATCHDOG_TRIPPED), 1);
    ck_assert_int_eq(di(REGMAP_DI_PLANT_READY), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_WATCHDOG);
    /* motion stops by decelerating: 299 ms of accelerating -> about 0.3 s to stop */
    ck_assert_int_eq(di(REGMAP_DI_X_BUSY), 1);
    run(400);
    ck_assert_int_eq(di(REGMAP_DI_X_BUSY), 0);
    unsigned pos = ir(REGMAP_IR_X_POS);
    run(1000);
    ck_assert_uint_eq(ir(REGMAP_IR_X_POS), pos);
}
END_TEST

START_TEST(watchdog_reset_needs_a_live_heartbeat)
{
    feed_heartbeat = false;
    hreg(REGMAP_HR_HEARTBEAT, 1);
    run(1000);
    ck_assert_int_eq(di(REGMAP_DI_WATCHDOG_TRIPPED), 1);
    coil(REGMAP_CO_FAULT_RESET, 1);
    coil(REGMAP_CO_FAULT_RESET, 0);
    ck_assert_int_eq(di(REGMAP_DI_WATCHDOG_TRIPPED), 1);
    hreg(REGMAP_HR_HEARTBEAT, 2);
    coil(REGMAP_CO_FAULT_RESET, 1);
    ck_assert_int_eq(di(REGMAP_DI_WATCHDOG_TRIPPED), 0);
    ck_assert_int_eq(di(REGMAP_DI_PLANT_READY), 1);
}
END_TEST

START_TEST(watchdog_is_armed_by_the_first_heartbeat)
{
    feed_heartbeat = false;
    sim_plant_step(p, 60000);
    ck_assert_int_eq(di(REGMAP_DI_WATCHDOG_TRIPPED), 0);
}
END_TEST

START_TEST(estop_stops_everything_at_once_and_latches)
{
    home_axes();
    hreg(REGMAP_HR_X_TARGET, 6000);
    coil(REGMAP_CO_CENTER_CLOSE, 1);
    run(600);
    struct sim_fault f = { SIM_FAULT_ESTOP, 0, 0, 0 };
    ck_assert_int_eq(sim_plant_inject(p, &f), 0);
    ck_assert_int_eq(di(REGMAP_DI_ESTOP_OK), 0);
    ck_assert_int_eq(di(REGMAP_DI_X_BUSY), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_X_VEL), 0);
    unsigned x = ir(REGMAP_IR_X_POS);
    struct sim_truth t0, t1;
    sim_plant_truth(p, &t0);
    run(2000);
    sim_plant_truth(p, &t1);
    ck_assert_uint_eq(ir(REGMAP_IR_X_POS), x);
    ck_assert_double_eq(t0.center_pos, t1.center_pos);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_ESTOP);
    coil(REGMAP_CO_FAULT_RESET, 1);
    coil(REGMAP_CO_FAULT_RESET, 0);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_ESTOP); /* still pressed */
    sim_plant_clear_faults(p, SIM_FAULT_ESTOP);
    ck_assert_int_eq(di(REGMAP_DI_ESTOP_OK), 1);
    ck_assert_int_eq(di(REGMAP_DI_PLANT_READY), 0); /* released, but latched */
    coil(REGMAP_CO_FAULT_RESET, 1);
    ck_assert_int_eq(di(REGMAP_DI_PLANT_READY), 1);
}
END_TEST

/* ---- fault injection ------------------------------------------------------------------------------ */

static void inject(enum sim_fault_kind k, int a, int b, double v)
{
    struct sim_fault f = { k, a, b, v };
    ck_assert_int_eq(sim_plant_inject(p, &f), 0);
}

START_TEST(inject_axis_jam_gives_following_error)
{
    home_axes();
    inject(SIM_FAULT_AXIS_JAM, 0, 0, 0);
    hreg(REGMAP_HR_X_TARGET, 3000);
    run((unsigned)cfg.following_error_ms - 5);
    ck_assert_int_eq(di(REGMAP_DI_X_FAULT), 0);
    run(10);
    ck_assert_int_eq(di(REGMAP_DI_X_FAULT), 1);
    ck_assert_uint_eq(ir(REGMAP_IR_X_POS), 0);
    assert_refused(PF_X_JAM);
    coil(REGMAP_CO_FAULT_RESET, 1);
    ck_assert_int_eq(di(REGMAP_DI_X_FAULT), 1); /* still jammed */
}
END_TEST

START_TEST(inject_sensor_stuck_overrides_reads)
{
    inject(SIM_FAULT_SENSOR_STUCK, SIM_DI, REGMAP_DI_CENTER_OPEN, 0);
    inject(SIM_FAULT_SENSOR_STUCK, SIM_IR, REGMAP_IR_SLOT_ADDR(1, REGMAP_IR_SLOT_TEMP), 999);
    ck_assert_int_eq(di(REGMAP_DI_CENTER_OPEN), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(1, REGMAP_IR_SLOT_TEMP)), 999);
    sim_plant_clear_faults(p, SIM_FAULT_SENSOR_STUCK);
    ck_assert_int_eq(di(REGMAP_DI_CENTER_OPEN), 1);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(1, REGMAP_IR_SLOT_TEMP)), 200);
}
END_TEST

START_TEST(inject_gripper_no_close_times_out)
{
    inject(SIM_FAULT_GRIPPER_NO_CLOSE, 1, 0, 0);
    coil(REGMAP_CO_GRIP_B_CLOSE, 1);
    run(3000);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_B_CLOSED), 0);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_B_OPEN), 0);
    assert_refused(PF_GRIP_B_TIMEOUT);
}
END_TEST

START_TEST(inject_actuator_stuck_times_out)
{
    inject(SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CLAMP, 0, 0);
    coil(REGMAP_CO_CLAMP_LOCK, 1);
    long limit = lround((cfg.supervision_factor * cfg.clamp_s + 0.1) * 1000);
    run((unsigned)limit - 2);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_NONE);
    run(4);
    ck_assert_int_eq(di(REGMAP_DI_CLAMP_UNLOCKED), 1);
    assert_refused(PF_CLAMP_TIMEOUT);
}
END_TEST

static const struct {
    enum sim_actuator act;
    unsigned co, di_start;
    size_t travel_offset;
    unsigned code;
} stuck_cases[] = {
    { SIM_ACT_CENTER, REGMAP_CO_CENTER_CLOSE, REGMAP_DI_CENTER_OPEN, offsetof(struct plantcfg, center_s), PF_CENTER_TIMEOUT },
    { SIM_ACT_CLAMP, REGMAP_CO_CLAMP_LOCK, REGMAP_DI_CLAMP_UNLOCKED, offsetof(struct plantcfg, clamp_s), PF_CLAMP_TIMEOUT },
    { SIM_ACT_STROKE, REGMAP_CO_STROKE_EXTEND, REGMAP_DI_STROKE_RETRACTED, offsetof(struct plantcfg, stroke_s), PF_STROKE_TIMEOUT },
    { SIM_ACT_WRIST, REGMAP_CO_WRIST_B, REGMAP_DI_WRIST_A, offsetof(struct plantcfg, wrist_s), PF_WRIST_TIMEOUT },
};

/* A stuck actuator never leaves its end; the plant's supervision raises its timeout. */
START_TEST(inject_each_actuator_stuck_times_out)
{
    if (stuck_cases[_i].act == SIM_ACT_STROKE) {
        home_axes();
        move_x(cfg.x_bay_mm);
    }
    inject(SIM_FAULT_ACTUATOR_STUCK, (int)stuck_cases[_i].act, 0, 0);
    coil(stuck_cases[_i].co, 1);
    double travel_s = *(const double *)((const char *)&cfg + stuck_cases[_i].travel_offset);
    run((unsigned)lround((cfg.supervision_factor * travel_s + 0.1) * 1000) + 2);
    ck_assert_int_eq(di(stuck_cases[_i].di_start), 1);
    assert_refused(stuck_cases[_i].code);
    sim_plant_clear_faults(p, SIM_FAULT_ACTUATOR_STUCK);
    coil(stuck_cases[_i].co, 0);
    coil(REGMAP_CO_FAULT_RESET, 1);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_NONE);
}
END_TEST

START_TEST(inject_z_jam_gives_following_error)
{
    home_axes();
    inject(SIM_FAULT_AXIS_JAM, 1, 0, 0);
    hreg(REGMAP_HR_Z_TARGET, 1000);
    run((unsigned)cfg.following_error_ms + 5);
    ck_assert_int_eq(di(REGMAP_DI_Z_FAULT), 1);
    ck_assert_uint_eq(ir(REGMAP_IR_Z_POS), 0);
    assert_refused(PF_Z_JAM);
}
END_TEST

START_TEST(inject_carousel_stuck_jams)
{
    inject(SIM_FAULT_ACTUATOR_STUCK, SIM_ACT_CAROUSEL, 0, 0);
    hreg(REGMAP_HR_CAROUSEL_TARGET, 1);
    coil(REGMAP_CO_CAROUSEL_ENABLE, 1);
    run(2000);
    ck_assert_int_eq(di(REGMAP_DI_CAROUSEL_FAULT), 1);
    assert_refused(PF_CAROUSEL_JAM);
}
END_TEST

START_TEST(inject_charger_fault)
{
    hreg(REGMAP_HR_SLOT_ADDR(2, REGMAP_HR_SLOT_CHARGER_MODE), CHARGER_MODE_CHARGE);
    run(2000);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(2, REGMAP_IR_SLOT_CHG_STATE)), CHARGER_CC);
    inject(SIM_FAULT_CHARGER, 2, 0, 0);
    run(1);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(2, REGMAP_IR_SLOT_CHG_STATE)), CHARGER_FAULT);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(2, REGMAP_IR_SLOT_CHG_FAULT)), CHGF_HW);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(2, REGMAP_IR_SLOT_CURRENT)), 0);
}
END_TEST

/* --battery-time-scale: a plant whose packs live 50 of their seconds per plant second
 * charges 50 times as much in the same plant time, in ticks spread over the second. */
START_TEST(battery_time_scale_runs_the_packs_faster)
{
    struct sim_plant *q = sim_plant_new(&cfg, 42);
    ck_assert_ptr_nonnull(q);
    sim_plant_set_battery_time_scale(q, 50);
    uint16_t mode = CHARGER_MODE_CHARGE;
    ck_assert_int_eq(sim_plant_write_regs(q, REGMAP_HR_SLOT_ADDR(0, REGMAP_HR_SLOT_CHARGER_MODE), 1, &mode), 0);
    hreg(REGMAP_HR_SLOT_ADDR(0, REGMAP_HR_SLOT_CHARGER_MODE), CHARGER_MODE_CHARGE);
    uint16_t half, whole;
    sim_plant_step(q, 5500);
    ck_assert_int_eq(sim_plant_read_regs(q, SIM_IR, REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_CHARGE_MAH), 1, &half), 0);
    sim_plant_step(q, 500);
    ck_assert_int_eq(sim_plant_read_regs(q, SIM_IR, REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_CHARGE_MAH), 1, &whole), 0);
    run(6000);
    unsigned slow = ir(REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_CHARGE_MAH));
    ck_assert_uint_gt(slow, 0);
    /* 5 A for 6 s: about 8 mAh; 50 times that in the same 6 s of the plant. */
    ck_assert_double_eq_tol((double)whole / slow, 50.0, 50.0 * 0.15);
    /* Spread: half a plant second later the counter has moved by about 25 battery s. */
    ck_assert_double_eq_tol((double)(whole - half), whole / 12.0, whole / 12.0 * 0.3);
    sim_plant_free(q);
}
END_TEST

START_TEST(inject_overtemp_heats_the_pack_and_stops_charging)
{
    hreg(REGMAP_HR_SLOT_ADDR(3, REGMAP_HR_SLOT_CHARGER_MODE), CHARGER_MODE_CHARGE);
    inject(SIM_FAULT_OVERTEMP, 3, 0, 70.0);
    sim_plant_step(p, 60000);
    ck_assert_int_gt((int16_t)ir(REGMAP_IR_SLOT_ADDR(3, REGMAP_IR_SLOT_TEMP)), 450);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(3, REGMAP_IR_SLOT_CHG_STATE)), CHARGER_FAULT);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(3, REGMAP_IR_SLOT_CHG_FAULT)), CHGF_OVERTEMP);
}
END_TEST

START_TEST(inject_tag_unreadable)
{
    inject(SIM_FAULT_TAG_UNREADABLE, 4, 0, 0);
    ck_assert_int_eq(di(REGMAP_DI_SLOT_ADDR(4, REGMAP_DI_SLOT_PRESENT)), 1);
    ck_assert_int_eq(di(REGMAP_DI_SLOT_ADDR(4, REGMAP_DI_SLOT_TAG_OK)), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(4, REGMAP_IR_SLOT_TAG_HI)), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(4, REGMAP_IR_SLOT_TAG_LO)), 0);
}
END_TEST

START_TEST(inject_guard_open_faults_only_with_motion)
{
    inject(SIM_FAULT_GUARD_OPEN, 0, 0, 0);
    run(100);
    ck_assert_int_eq(di(REGMAP_DI_GUARD_CLOSED), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_NONE);
    coil(REGMAP_CO_WRIST_B, 1);
    run(100);
    ck_assert_int_eq(di(REGMAP_DI_WRIST_A), 1); /* did not move */
    assert_refused(PF_GUARD);
}
END_TEST

START_TEST(inject_guard_open_while_moving_stops)
{
    coil(REGMAP_CO_CENTER_CLOSE, 1);
    run(300);
    inject(SIM_FAULT_GUARD_OPEN, 0, 0, 0);
    assert_refused(PF_GUARD);
    struct sim_truth a, b;
    sim_plant_truth(p, &a);
    run(2000);
    sim_plant_truth(p, &b);
    ck_assert_double_eq(a.center_pos, b.center_pos);
}
END_TEST

START_TEST(inject_weather)
{
    ck_assert_uint_eq(ir(REGMAP_IR_WIND), (unsigned)lround(cfg.wind_mps * 10));
    inject(SIM_FAULT_WEATHER, 0, 1, 14.5);
    ck_assert_uint_eq(ir(REGMAP_IR_WIND), 145);
    ck_assert_int_eq(di(REGMAP_DI_RAIN), 1);
    sim_plant_clear_faults(p, SIM_FAULT_WEATHER);
    ck_assert_int_eq(di(REGMAP_DI_RAIN), 0);
}
END_TEST

START_TEST(inject_image_frozen)
{
    uint16_t beat = 41;
    ck_assert_int_eq(sim_plant_write_regs(p, REGMAP_HR_HEARTBEAT, 1, &beat), 0);
    inject(SIM_FAULT_IMAGE_FROZEN, 0, 0, 0);
    uint8_t on = 1;
    ck_assert_int_eq(sim_plant_write_coils(p, REGMAP_CO_CENTER_CLOSE, 1, &on), 0);
    for (int i = 0; i < 40; i++) {   /* 2 s, the watchdog fed */
        beat++;
        ck_assert_int_eq(sim_plant_write_regs(p, REGMAP_HR_HEARTBEAT, 1, &beat), 0);
        sim_plant_step(p, 50);
    }
    /* the plant acted (truth), the image did not move */
    struct sim_truth t;
    sim_plant_truth(p, &t);
    ck_assert(t.center_pos == 1.0);
    ck_assert_uint_eq(ir(REGMAP_IR_HEARTBEAT_ECHO), 41);
    ck_assert_int_eq(di(REGMAP_DI_CENTER_CLOSED), 0);
    ck_assert_int_eq(di(REGMAP_DI_CENTER_OPEN), 1);
    sim_plant_clear_faults(p, SIM_FAULT_IMAGE_FROZEN);
    ck_assert_uint_eq(ir(REGMAP_IR_HEARTBEAT_ECHO), beat);
    ck_assert_int_eq(di(REGMAP_DI_CENTER_CLOSED), 1);
}
END_TEST

START_TEST(inject_refuses_arguments_outside_the_plant)
{
    const struct sim_fault bad[] = {
        { SIM_FAULT_AXIS_JAM, 2, 0, 0 },
        { SIM_FAULT_SENSOR_STUCK, SIM_DI, 9999, 0 },
        { SIM_FAULT_SENSOR_STUCK, SIM_CO, 1, 0 },
        { SIM_FAULT_GRIPPER_NO_CLOSE, 3, 0, 0 },
        { SIM_FAULT_ACTUATOR_STUCK, 99, 0, 0 },
        { SIM_FAULT_CHARGER, 8, 0, 0 },
        { SIM_FAULT_OVERTEMP, -1, 0, 50 },
        { SIM_FAULT_TAG_UNREADABLE, 16, 0, 0 },
        { SIM_FAULT_WEATHER, 0, 2, 5 },
        { SIM_FAULT_COUNT, 0, 0, 0 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(sim_plant_inject(p, &bad[i]), -1);
}
END_TEST

START_TEST(fault_names_round_trip)
{
    for (int k = 0; k < SIM_FAULT_COUNT; k++)
        ck_assert_int_eq(sim_fault_from_name(sim_fault_name((enum sim_fault_kind)k)), k);
    ck_assert_int_eq(sim_fault_from_name("meteor"), -1);
    ck_assert_int_eq(sim_fault_from_name(NULL), -1);
}
END_TEST

/* ---- register image -------------------------------------------------------------------------- */

START_TEST(image_reads_outside_the_map_are_exception_2)
{
    uint8_t bits[64];
    uint16_t regs[128];
    unsigned ndi = REGMAP_DI_COUNT(8), nir = REGMAP_IR_COUNT(8), nhr = REGMAP_HR_COUNT(8);
    ck_assert_int_eq(sim_plant_read_bits(p, SIM_DI, 0, ndi, bits), 0);
    ck_assert_int_eq(sim_plant_read_bits(p, SIM_DI, 0, ndi + 1, bits), SIM_EXC_ADDRESS);
    ck_assert_int_eq(sim_plant_read_bits(p, SIM_DI, ndi, 1, bits), SIM_EXC_ADDRESS);
    ck_assert_int_eq(sim_plant_read_bits(p, SIM_CO, 0, REGMAP_CO_COUNT, bits), 0);
    ck_assert_int_eq(sim_plant_read_bits(p, SIM_CO, 15, 2, bits), SIM_EXC_ADDRESS);
    ck_assert_int_eq(sim_plant_read_bits(p, SIM_HR, 0, 1, bits), SIM_EXC_ADDRESS);
    ck_assert_int_eq(sim_plant_read_regs(p, SIM_IR, 0, nir, regs), 0);
    ck_assert_int_eq(sim_plant_read_regs(p, SIM_IR, nir - 1, 2, regs), SIM_EXC_ADDRESS);
    ck_assert_int_eq(sim_plant_read_regs(p, SIM_HR, 0, nhr, regs), 0);
    ck_assert_int_eq(sim_plant_read_regs(p, SIM_HR, nhr, 1, regs), SIM_EXC_ADDRESS);
    ck_assert_int_eq(sim_plant_read_regs(p, SIM_DI, 0, 1, regs), SIM_EXC_ADDRESS);
    ck_assert_int_eq(sim_plant_read_regs(p, SIM_IR, 0xFFFFFFF0u, 0x20, regs), SIM_EXC_ADDRESS);
}
END_TEST

START_TEST(image_writes_are_all_or_nothing)
{
    uint8_t c[20] = { 1, 1, 1 };
    ck_assert_int_eq(sim_plant_write_coils(p, 14, 3, c), SIM_EXC_ADDRESS);
    ck_assert_int_eq(di(REGMAP_DI_CENTER_OPEN), 1);
    uint8_t co[16];
    sim_plant_read_bits(p, SIM_CO, 0, 16, co);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(co[i], 0);

    uint16_t before[REGMAP_HR_COUNT(8)], after[REGMAP_HR_COUNT(8)];
    sim_plant_read_regs(p, SIM_HR, 0, REGMAP_HR_COUNT(8), before);
    const struct { unsigned addr; uint16_t v[3]; unsigned n; int exc; } w[] = {
        { REGMAP_HR_X_TARGET, { 6001 }, 1, SIM_EXC_VALUE },
        { REGMAP_HR_Z_TARGET, { 1501 }, 1, SIM_EXC_VALUE },
        { REGMAP_HR_CAROUSEL_TARGET, { 8 }, 1, SIM_EXC_VALUE }, /* only 8 slots fitted */
        { REGMAP_HR_SLOT_ADDR(0, 0), { 3 }, 1, SIM_EXC_VALUE },
        { REGMAP_HR_HEARTBEAT, { 5, 100, 6001 }, 3, SIM_EXC_VALUE }, /* last one bad */
        { REGMAP_HR_SLOT_ADDR(7, 0), { 1, 1 }, 2, SIM_EXC_ADDRESS },
        { 4, { 1 }, 1, SIM_EXC_VALUE },                              /* reserved gap */
    };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        ck_assert_int_eq(sim_plant_write_regs(p, w[i].addr, w[i].n, w[i].v), w[i].exc);
    sim_plant_read_regs(p, SIM_HR, 0, REGMAP_HR_COUNT(8), after);
    ck_assert_int_eq(memcmp(before, after, sizeof before), 0);
    uint64_t next;
    struct sim_log_entry e[4];
    ck_assert_uint_eq(sim_plant_log(p, 0, e, 4, &next), 0);
}
END_TEST

START_TEST(unrunnable_configuration_is_refused)
{
    struct plantcfg c = cfg;
    c.n_slots = 17;
    ck_assert_ptr_null(sim_plant_new(&c, 1));
    c = cfg;
    c.stroke_s = 0;
    ck_assert_ptr_null(sim_plant_new(&c, 1));
    c = cfg;
    c.x.amax_mm_s2 = NAN;
    ck_assert_ptr_null(sim_plant_new(&c, 1));
}
END_TEST

START_TEST(x_target_limited_by_configured_axis_length)
{
    sim_plant_free(p);
    cfg.x.length_mm = 400;
    cfg.x_bay_mm = 400;
    cfg.x_pad_zone_mm = 350;
    cfg.x_standby_mm = 300;
    p = sim_plant_new(&cfg, 1);
    uint16_t v = 4001;
    ck_assert_int_eq(sim_plant_write_regs(p, REGMAP_HR_X_TARGET, 1, &v), SIM_EXC_VALUE);
    v = 4000;
    ck_assert_int_eq(sim_plant_write_regs(p, REGMAP_HR_X_TARGET, 1, &v), 0);
}
END_TEST

START_TEST(command_log_records_changes_but_not_the_heartbeat)
{
    run(100);
    coil(REGMAP_CO_LIGHT_GREEN, 1);
    coil(REGMAP_CO_LIGHT_GREEN, 1); /* no change, no entry */
    hreg(REGMAP_HR_X_TARGET, 1234);
    run(500); /* heartbeats meanwhile */
    struct sim_log_entry e[8];
    uint64_t next;
    size_t n = sim_plant_log(p, 0, e, 8, &next);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(next, 2);
    ck_assert_int_eq(e[0].table, SIM_CO);
    ck_assert_uint_eq(e[0].addr, REGMAP_CO_LIGHT_GREEN);
    ck_assert_uint_eq(e[0].old_value, 0);
    ck_assert_uint_eq(e[0].new_value, 1);
    ck_assert_uint_eq(e[0].t_ms, 100);
    ck_assert_int_eq(e[1].table, SIM_HR);
    ck_assert_uint_eq(e[1].new_value, 1234);
    ck_assert_uint_eq(sim_plant_log(p, next, e, 8, &next), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_HEARTBEAT_ECHO), hb);
}
END_TEST

START_TEST(command_log_keeps_the_newest_entries)
{
    for (unsigned i = 0; i < SIM_LOG_KEEP + 10; i++)
        coil(REGMAP_CO_HORN, (int)(i & 1) ^ 1);
    struct sim_log_entry e[4];
    uint64_t next;
    size_t n = sim_plant_log(p, 0, e, 4, &next);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(next, 14); /* the first 10 were overwritten */
}
END_TEST

/* ---- charger in a slot, load cell, drone ------------------------------------------------------ */

START_TEST(slot_charger_reports_through_the_image)
{
    unsigned base = REGMAP_IR_SLOT_ADDR(5, 0);
    unsigned v0 = ir(base + REGMAP_IR_SLOT_VOLTAGE);
    hreg(REGMAP_HR_SLOT_ADDR(5, REGMAP_HR_SLOT_CHARGER_MODE), CHARGER_MODE_CHARGE);
    /* the current step is visible at once: the DCIR a station measures */
    ck_assert_uint_eq(ir(base + REGMAP_IR_SLOT_CURRENT), 5000);
    ck_assert_uint_eq(ir(base + REGMAP_IR_SLOT_CHG_STATE), CHARGER_CC);
    unsigned v1 = ir(base + REGMAP_IR_SLOT_VOLTAGE);
    const struct sim_battery *b = sim_plant_battery(p, 0x5A000006);
    ck_assert_double_eq_tol((v1 - v0) / 5.0, sim_battery_r0_eff(b) * 1000.0, 0.5);
    sim_plant_step(p, 360000); /* 0.1 h */
    ck_assert_int_le(abs((int)ir(base + REGMAP_IR_SLOT_CHARGE_MAH) - 500), 2);
    ck_assert_uint_gt(ir(base + REGMAP_IR_SLOT_CELL_MAX), ir(base + REGMAP_IR_SLOT_CELL_MIN));
    ck_assert_double_eq_tol(b->soc, 0.6, 0.01);
}
END_TEST

START_TEST(slot_chargers_read_like_real_sensors)
{
    /* The shipped configuration: charger-grade sensors, each slot its own offset and gain. */
    struct plantcfg real;
    plantcfg_defaults(&real);
    sim_plant_free(p);
    p = sim_plant_new(&real, 42);
    ck_assert_ptr_nonnull(p);
    double sum[2] = { 0 }, sq[2] = { 0 };
    for (int k = 0; k < 200; k++) {
        run(1000);
        for (int sl = 0; sl < 2; sl++) {
            double ma = (int16_t)ir(REGMAP_IR_SLOT_ADDR(sl, REGMAP_IR_SLOT_CURRENT));
            sum[sl] += ma;
            sq[sl] += ma * ma;
        }
    }
    for (int sl = 0; sl < 2; sl++) {
        double mean = sum[sl] / 200, sd = sqrt(sq[sl] / 200 - mean * mean);
        /* No current flows: the reading is the slot's offset plus noise (a missing update
         * repeats the last reading). */
        ck_assert_double_le(fabs(mean), real.chs_current_offset_mA + 5);
        ck_assert_double_eq_tol(sd, real.chs_current_noise_mA, 6);
    }
    ck_assert_msg(fabs(sum[0] - sum[1]) / 200 > 1, "two chargers drew the same offset");
    /* Pack voltages come in steps of the quantisation. */
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_VOLTAGE)) % (unsigned)real.chs_voltage_lsb_mV, 0);
}
END_TEST

START_TEST(load_cell_sees_drone_and_battery)
{
    struct sim_battery pack;
    struct sim_rng r;
    sim_rng_seed(&r, 9);
    sim_battery_init(&pack, &cfg, 0xD0000001, 0.3, &r);
    double sum = 0;
    for (int i = 0; i < 100; i++, run(1))
        sum += ir(REGMAP_IR_LOAD_G);
    ck_assert_double_lt(sum / 100, 3);
    ck_assert_int_eq(sim_plant_drone_land(p, &pack), 0);
    ck_assert_int_eq(sim_plant_drone_land(p, &pack), -1);
    double sq = 0;
    sum = 0;
    for (int i = 0; i < 400; i++, run(1)) {
        double g = ir(REGMAP_IR_LOAD_G);
        sum += g;
        sq += g * g;
    }
    double mean = sum / 400, sd = sqrt(sq / 400 - mean * mean);
    ck_assert_double_eq_tol(mean, cfg.drone_mass_g + cfg.battery_mass_g, 0.5);
    ck_assert_double_eq_tol(sd, cfg.pad_noise_g, 0.5);
}
END_TEST

START_TEST(drone_cannot_leave_while_clamped)
{
    ck_assert_int_eq(sim_plant_drone_takeoff(p, NULL, NULL), -1);
    ck_assert_int_eq(sim_plant_drone_land(p, NULL), 0);
    actuate(REGMAP_CO_CLAMP_LOCK, 1, REGMAP_DI_CLAMP_LOCKED);
    ck_assert_int_eq(sim_plant_drone_takeoff(p, NULL, NULL), -2);
    struct sim_truth t;
    sim_plant_truth(p, &t);
    ck_assert_uint_eq(t.takeoff_while_clamped, 1);
    ck_assert(t.drone_clamped);
    actuate(REGMAP_CO_CLAMP_LOCK, 0, REGMAP_DI_CLAMP_UNLOCKED);
    bool has = true;
    ck_assert_int_eq(sim_plant_drone_takeoff(p, NULL, &has), 0);
    ck_assert(!has);
}
END_TEST

START_TEST(drone_cannot_leave_with_the_head_in_its_bay)
{
    ck_assert_int_eq(sim_plant_drone_land(p, NULL), 0);
    head_at_bay_extended();
    ck_assert_int_eq(sim_plant_drone_takeoff(p, NULL, NULL), -2);
    actuate(REGMAP_CO_STROKE_EXTEND, 0, REGMAP_DI_STROKE_RETRACTED);
    ck_assert_int_eq(sim_plant_drone_takeoff(p, NULL, NULL), 0);
}
END_TEST

START_TEST(home_request_held_through_a_fault_reset_restarts)
{
    coil(REGMAP_CO_X_ENABLE, 1);
    hreg(REGMAP_HR_X_TARGET, 1000);
    run(10);
    assert_refused(PF_X_NOT_HOMED);
    coil(REGMAP_CO_X_HOME, 1); /* refused while the axis fault is latched */
    run(3000);
    ck_assert_int_eq(di(REGMAP_DI_X_HOMED), 0);
    hreg(REGMAP_HR_X_TARGET, 0);
    coil(REGMAP_CO_FAULT_RESET, 1);
    ck_assert_int_ge(wait_di(REGMAP_DI_X_HOMED, 1, 5000), 0);
    run(3000); /* coil still 1: homes once, not again */
    ck_assert_int_eq(di(REGMAP_DI_X_BUSY), 0);
    ck_assert_int_eq(di(REGMAP_DI_X_HOMED), 1);
}
END_TEST

/* Many drones come and go: records of departed packs are reused when the table is full,
 * and a returning pack gets its own record back. */
START_TEST(departed_packs_are_tracked_and_return)
{
    struct sim_rng r;
    sim_rng_seed(&r, 5);
    for (uint32_t i = 0; i < 40; i++) {
        struct sim_battery b;
        sim_battery_init(&b, &cfg, 0xE0000000u + i, 0.9, &r);
        ck_assert_int_eq(sim_plant_drone_land(p, &b), 0);
        ck_assert_int_eq(sim_plant_drone_takeoff(p, NULL, NULL), 0);
    }
    struct sim_truth t;
    sim_plant_truth(p, &t);
    ck_assert_uint_eq(t.n_batteries, SIM_MAX_BATTERIES);
    assert_truth_consistent();
    struct sim_battery back;
    sim_battery_init(&back, &cfg, 0xE0000027u, 0.1, &r);
    ck_assert_int_eq(sim_plant_drone_land(p, &back), 0);
    sim_plant_truth(p, &t);
    ck_assert_uint_eq(t.n_batteries, SIM_MAX_BATTERIES);
    int found = 0;
    for (size_t i = 0; i < t.n_batteries; i++)
        if (t.batteries[i].tag == 0xE0000027u) {
            found++;
            ck_assert_int_eq(t.batteries[i].place, SIM_PLACE_DRONE);
            ck_assert_double_eq_tol(t.batteries[i].soc, 0.1, 1e-12);
        }
    ck_assert_int_eq(found, 1);
}
END_TEST

START_TEST(axis_reverses_when_retargeted_mid_move)
{
    home_axes();
    hreg(REGMAP_HR_X_TARGET, 6000);
    run(600);
    ck_assert_int_gt((int16_t)ir(REGMAP_IR_X_VEL), 0);
    hreg(REGMAP_HR_X_TARGET, 500);
    run(300);
    ck_assert_int_lt((int16_t)ir(REGMAP_IR_X_VEL), 500);
    ck_assert_int_ge(wait_di(REGMAP_DI_X_IN_POS, 1, 5000), 0);
    ck_assert_uint_eq(ir(REGMAP_IR_X_POS), 500);
    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_NONE);
}
END_TEST

START_TEST(a_pack_cannot_be_in_two_places)
{
    struct sim_battery copy = *sim_plant_battery(p, 0x5A000001);
    ck_assert_int_eq(sim_plant_drone_land(p, &copy), -3);
}
END_TEST

START_TEST(drone_load_drains_its_pack)
{
    struct sim_battery pack;
    struct sim_rng r;
    sim_rng_seed(&r, 9);
    sim_battery_init(&pack, &cfg, 0xD0000002, 0.8, &r);
    sim_plant_drone_land(p, &pack);
    sim_plant_drone_set_load(p, 5.0);
    sim_plant_step(p, 360000);
    ck_assert_double_eq_tol(sim_plant_drone_battery(p)->soc, 0.7, 0.005);
}
END_TEST

/* Same writes at the same times: stepping by 1 ms or in big chunks gives the same plant. */
START_TEST(results_do_not_depend_on_step_size)
{
    struct sim_plant *q = sim_plant_new(&cfg, 42);
    struct sim_plant *pl[2] = { p, q };
    for (int k = 0; k < 2; k++) {
        uint8_t one = 1;
        uint16_t mode = CHARGER_MODE_CHARGE, tgt = 5;
        sim_plant_write_coils(pl[k], REGMAP_CO_X_HOME, 1, &one);
        sim_plant_write_regs(pl[k], REGMAP_HR_SLOT_ADDR(1, 0), 1, &mode);
        sim_plant_write_regs(pl[k], REGMAP_HR_CAROUSEL_TARGET, 1, &tgt);
        sim_plant_write_coils(pl[k], REGMAP_CO_CAROUSEL_ENABLE, 1, &one);
        for (int i = 0; i < 10000; i += k ? 977 : 1)
            sim_plant_step(pl[k], k ? 977 : 1);
        sim_plant_step(pl[k], (uint32_t)(10000 - sim_plant_now_ms(pl[k]) + 50000));
    }
    struct sim_truth a, b;
    sim_plant_truth(p, &a);
    sim_plant_truth(q, &b);
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    sim_plant_free(q);
}
END_TEST

/* ---- the whole swap, by hand ----------------------------------------------------------------------- */

START_TEST(manual_swap_through_the_register_image)
{
    const uint32_t old_tag = 0xD0000001, fresh_tag = 0x5A000003;
    check_truth = true;
    home_axes();

    /* Before touchdown: fetch the fresh pack of slot 2 into gripper B, wait at standby. */
    actuate(REGMAP_CO_WRIST_B, 1, REGMAP_DI_WRIST_B);
    carousel_to(2);
    move_z(cfg.z_slot_mm);
    actuate(REGMAP_CO_STROKE_EXTEND, 1, REGMAP_DI_STROKE_EXTENDED);
    actuate(REGMAP_CO_GRIP_B_CLOSE, 1, REGMAP_DI_GRIP_B_CLOSED);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_B_HOLDING), 1);
    ck_assert_int_eq(di(REGMAP_DI_SLOT_ADDR(2, REGMAP_DI_SLOT_PRESENT)), 0);
    actuate(REGMAP_CO_STROKE_EXTEND, 0, REGMAP_DI_STROKE_RETRACTED);
    move_z(0);
    actuate(REGMAP_CO_WRIST_B, 0, REGMAP_DI_WRIST_A);
    move_x(cfg.x_standby_mm);

    /* Touchdown. */
    struct sim_battery old_pack;
    struct sim_rng r;
    sim_rng_seed(&r, 77);
    sim_battery_init(&old_pack, &cfg, old_tag, 0.2, &r);
    ck_assert_int_eq(sim_plant_drone_land(p, &old_pack), 0);
    run(10);
    ck_assert_int_gt(ir(REGMAP_IR_LOAD_G), 3000);
    actuate(REGMAP_CO_CENTER_CLOSE, 1, REGMAP_DI_CENTER_CLOSED);
    actuate(REGMAP_CO_CLAMP_LOCK, 1, REGMAP_DI_CLAMP_LOCKED);

    /* Pull the old pack with A. */
    move_x(cfg.x_bay_mm);
    actuate(REGMAP_CO_STROKE_EXTEND, 1, REGMAP_DI_STROKE_EXTENDED);
    actuate(REGMAP_CO_GRIP_A_CLOSE, 1, REGMAP_DI_GRIP_A_CLOSED);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_A_HOLDING), 1);
    ck_assert_ptr_null(sim_plant_drone_battery(p));
    actuate(REGMAP_CO_STROKE_EXTEND, 0, REGMAP_DI_STROKE_RETRACTED);
    ck_assert_int_lt(ir(REGMAP_IR_LOAD_G), 2500);

    /* Insert the fresh pack with B. */
    actuate(REGMAP_CO_WRIST_B, 1, REGMAP_DI_WRIST_B);
    actuate(REGMAP_CO_STROKE_EXTEND, 1, REGMAP_DI_STROKE_EXTENDED);
    coil(REGMAP_CO_GRIP_B_CLOSE, 0);
    run((unsigned)lround(cfg.gripper_s * 500));
    ck_assert_int_eq(di(REGMAP_DI_GRIP_B_HOLDING), 1); /* lets go only when open */
    ck_assert_ptr_null(sim_plant_drone_battery(p));
    ck_assert_int_ge(wait_di(REGMAP_DI_GRIP_B_OPEN, 1, 1000), 0);
    ck_assert_int_eq(di(REGMAP_DI_GRIP_B_HOLDING), 0);
    ck_assert_ptr_nonnull(sim_plant_drone_battery(p));
    ck_assert_uint_eq(sim_plant_drone_battery(p)->tag, fresh_tag);
    actuate(REGMAP_CO_STROKE_EXTEND, 0, REGMAP_DI_STROKE_RETRACTED);
    move_x(cfg.x_standby_mm);
    coil(REGMAP_CO_CLAMP_LOCK, 0);
    actuate(REGMAP_CO_CENTER_CLOSE, 0, REGMAP_DI_CENTER_OPEN);
    ck_assert_int_eq(di(REGMAP_DI_CLAMP_UNLOCKED), 1);

    /* Take-off with the fresh pack. */
    struct sim_battery leaving;
    bool has = false;
    ck_assert_int_eq(sim_plant_drone_takeoff(p, &leaving, &has), 0);
    ck_assert(has);
    ck_assert_uint_eq(leaving.tag, fresh_tag);

    /* After take-off: store the old pack into slot 2 and charge it. */
    move_x(cfg.x_magazine_mm);
    actuate(REGMAP_CO_WRIST_B, 0, REGMAP_DI_WRIST_A);
    move_z(cfg.z_slot_mm);
    actuate(REGMAP_CO_STROKE_EXTEND, 1, REGMAP_DI_STROKE_EXTENDED);
    actuate(REGMAP_CO_GRIP_A_CLOSE, 0, REGMAP_DI_GRIP_A_OPEN);
    actuate(REGMAP_CO_STROKE_EXTEND, 0, REGMAP_DI_STROKE_RETRACTED);
    move_z(0);
    hreg(REGMAP_HR_SLOT_ADDR(2, REGMAP_HR_SLOT_CHARGER_MODE), CHARGER_MODE_CHARGE);
    run(1000);

    ck_assert_uint_eq(ir(REGMAP_IR_PLANT_FAULT), PF_NONE);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(2, REGMAP_IR_SLOT_TAG_LO)), old_tag & 0xFFFF);
    ck_assert_uint_eq(ir(REGMAP_IR_SLOT_ADDR(2, REGMAP_IR_SLOT_CHG_STATE)), CHARGER_CC);
    struct sim_truth t;
    sim_plant_truth(p, &t);
    ck_assert_uint_eq(t.n_batteries, 9);
    ck_assert_uint_eq(t.collisions, 0);
    for (size_t i = 0; i < t.n_batteries; i++) {
        if (t.batteries[i].tag == old_tag)
            ck_assert(t.batteries[i].place == SIM_PLACE_SLOT && t.batteries[i].slot == 2);
        else if (t.batteries[i].tag == fresh_tag)
            ck_assert_int_eq(t.batteries[i].place, SIM_PLACE_AWAY);
        else
            ck_assert_int_eq(t.batteries[i].place, SIM_PLACE_SLOT);
    }
}
END_TEST

static Suite *plant_suite(void)
{
    Suite *s = suite_create("plant");
    TCase *tc = tcase_create("plant");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, initial_state_matches_the_contract);
    tcase_add_test(tc, a_pack_taken_out_by_hand_leaves_the_plant);
    tcase_add_loop_test(tc, actuator_reaches_end_in_configured_time, 0,
                        (int)(sizeof devices / sizeof devices[0]));
    tcase_add_test(tc, homing_takes_home_time_and_ends_at_zero);
    tcase_add_test(tc, homing_aborts_when_the_coil_drops);
    tcase_add_test(tc, axis_move_time_matches_the_trapezoid);
    tcase_add_test(tc, axis_velocity_is_signed_and_limited);
    tcase_add_test(tc, enable_off_decelerates_to_a_stop);
    tcase_add_test(tc, carousel_takes_the_shortest_way);
    tcase_add_test(tc, x_refused_with_z_down);
    tcase_add_test(tc, z_down_refused_while_x_travels);
    tcase_add_test(tc, x_refused_with_stroke_extended);
    tcase_add_test(tc, z_refused_with_stroke_extended);
    tcase_add_test(tc, carousel_refused_with_stroke_extended);
    tcase_add_test(tc, carousel_refused_with_z_in_the_magazine);
    tcase_add_test(tc, z_down_refused_while_the_carousel_turns);
    tcase_add_test(tc, wrist_refused_with_stroke_extended);
    tcase_add_test(tc, stroke_refused_when_not_aligned);
    tcase_add_test(tc, stroke_refused_while_something_moves);
    tcase_add_test(tc, centering_and_clamp_refused_with_robot_in_pad_zone);
    tcase_add_test(tc, axes_refused_before_homing);
    tcase_add_test(tc, pushing_a_battery_into_an_occupied_slot_is_a_collision);
    tcase_add_test(tc, releasing_a_battery_in_mid_air_is_refused);
    tcase_add_test(tc, pulling_away_while_releasing_keeps_the_pack_in_the_gripper);
    tcase_add_test(tc, closing_on_nothing_just_closes);
    tcase_add_test(tc, fault_reset_clears_when_the_cause_is_gone);
    tcase_add_test(tc, watchdog_trips_after_watchdog_ms_and_not_before);
    tcase_add_test(tc, watchdog_reset_needs_a_live_heartbeat);
    tcase_add_test(tc, watchdog_is_armed_by_the_first_heartbeat);
    tcase_add_test(tc, estop_stops_everything_at_once_and_latches);
    tcase_add_test(tc, inject_axis_jam_gives_following_error);
    tcase_add_test(tc, inject_sensor_stuck_overrides_reads);
    tcase_add_test(tc, inject_gripper_no_close_times_out);
    tcase_add_test(tc, inject_actuator_stuck_times_out);
    tcase_add_test(tc, inject_carousel_stuck_jams);
    tcase_add_loop_test(tc, inject_each_actuator_stuck_times_out, 0,
                        (int)(sizeof stuck_cases / sizeof stuck_cases[0]));
    tcase_add_test(tc, inject_z_jam_gives_following_error);
    tcase_add_test(tc, inject_charger_fault);
    tcase_add_test(tc, battery_time_scale_runs_the_packs_faster);
    tcase_add_test(tc, inject_overtemp_heats_the_pack_and_stops_charging);
    tcase_add_test(tc, inject_tag_unreadable);
    tcase_add_test(tc, inject_guard_open_faults_only_with_motion);
    tcase_add_test(tc, inject_guard_open_while_moving_stops);
    tcase_add_test(tc, inject_weather);
    tcase_add_test(tc, inject_image_frozen);
    tcase_add_test(tc, inject_refuses_arguments_outside_the_plant);
    tcase_add_test(tc, fault_names_round_trip);
    tcase_add_test(tc, image_reads_outside_the_map_are_exception_2);
    tcase_add_test(tc, image_writes_are_all_or_nothing);
    tcase_add_test(tc, unrunnable_configuration_is_refused);
    tcase_add_test(tc, x_target_limited_by_configured_axis_length);
    tcase_add_test(tc, command_log_records_changes_but_not_the_heartbeat);
    tcase_add_test(tc, command_log_keeps_the_newest_entries);
    tcase_add_test(tc, slot_charger_reports_through_the_image);
    tcase_add_test(tc, slot_chargers_read_like_real_sensors);
    tcase_add_test(tc, load_cell_sees_drone_and_battery);
    tcase_add_test(tc, drone_cannot_leave_while_clamped);
    tcase_add_test(tc, a_pack_cannot_be_in_two_places);
    tcase_add_test(tc, departed_packs_are_tracked_and_return);
    tcase_add_test(tc, axis_reverses_when_retargeted_mid_move);
    tcase_add_test(tc, drone_cannot_leave_with_the_head_in_its_bay);
    tcase_add_test(tc, home_request_held_through_a_fault_reset_restarts);
    tcase_add_test(tc, drone_load_drains_its_pack);
    tcase_add_test(tc, results_do_not_depend_on_step_size);
    tcase_add_test(tc, manual_swap_through_the_register_image);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(plant_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
