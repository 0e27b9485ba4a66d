/* Property campaign: seeded random operators hammer the plant through its register image
 * (valid and invalid writes), land and launch drones, inject and clear faults and press
 * the fault reset, while the plant steps by random amounts. After every operation the
 * physical invariants must hold: every pack in exactly one place, positions inside the
 * axes, speeds inside their limits, the image consistent with the truth. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plant/plant.h"

#define RUNS 2000
#define OPS_PER_RUN 400
#define BATCHES 8 /* seeds are run in a few batches: forking per seed is slow under ASan */

static struct plantcfg cfg;

/* Check records every passing ck_assert (a write per assertion); millions of invariant
 * checks only report failures. */
#define REQUIRE(cond) \
    do { \
        if (!(cond)) \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
    } while (0)

static void check_invariants(struct sim_plant *p, size_t packs_expected, uint64_t seed, int op)
{
    struct sim_truth t;
    sim_plant_truth(p, &t);
    if (!(t.x_mm >= -1e-6 && t.x_mm <= cfg.x.length_mm + 1e-6 && t.z_mm >= -1e-6 &&
          t.z_mm <= cfg.z.length_mm + 1e-6))
        ck_abort_msg("seed %llu op %d: x %.3f z %.3f outside the axes", (unsigned long long)seed, op,
                     t.x_mm, t.z_mm);
    /* homing runs at its own (slow) speed: length / home time at most */
    REQUIRE(fabs(t.x_vel_mm_s) <= fmax(cfg.x.vmax_mm_s, cfg.x.length_mm / cfg.x.home_time_s) + 1e-6);
    REQUIRE(fabs(t.z_vel_mm_s) <= fmax(cfg.z.vmax_mm_s, cfg.z.length_mm / cfg.z.home_time_s) + 1e-6);
    REQUIRE(t.stroke_pos >= 0 && t.stroke_pos <= 1 && t.wrist_pos >= 0 && t.wrist_pos <= 1);
    REQUIRE(t.carousel_slot >= -1 && t.carousel_slot < cfg.n_slots);
    REQUIRE(t.n_batteries == packs_expected);

    uint8_t di[REGMAP_DI_COUNT(REGMAP_MAX_SLOTS)];
    REQUIRE(sim_plant_read_bits(p, SIM_DI, 0, REGMAP_DI_COUNT(cfg.n_slots), di) == 0);
    int in_slot[REGMAP_MAX_SLOTS] = { 0 }, grip[2] = { 0 }, drone = 0;
    for (size_t i = 0; i < t.n_batteries; i++) {
        const struct sim_truth_battery *b = &t.batteries[i];
        REQUIRE(isfinite(b->soc) && b->soc >= 0 && b->soc <= 1);
        if (b->place == SIM_PLACE_SLOT)
            in_slot[b->slot]++;
        else if (b->place == SIM_PLACE_GRIPPER_A)
            grip[0]++;
        else if (b->place == SIM_PLACE_GRIPPER_B)
            grip[1]++;
        else if (b->place == SIM_PLACE_DRONE)
            drone++;
        else
            REQUIRE(b->place == SIM_PLACE_AWAY);
    }
    for (int s = 0; s < cfg.n_slots; s++) {
        REQUIRE(in_slot[s] <= 1);
        REQUIRE(in_slot[s] == di[REGMAP_DI_SLOT_ADDR(s, REGMAP_DI_SLOT_PRESENT)]);
    }
    REQUIRE(grip[0] == di[REGMAP_DI_GRIP_A_HOLDING]);
    REQUIRE(grip[1] == di[REGMAP_DI_GRIP_B_HOLDING]);
    REQUIRE(drone <= 1);
    REQUIRE(drone == t.drone_battery_latched);
    if (t.drone_battery_latched)
        REQUIRE(t.drone_present);
    /* a sensor pair never reports both ends */
    REQUIRE(!(di[REGMAP_DI_STROKE_RETRACTED] && di[REGMAP_DI_STROKE_EXTENDED]));
    REQUIRE(!(di[REGMAP_DI_WRIST_A] && di[REGMAP_DI_WRIST_B]));
    REQUIRE(di[REGMAP_DI_PLANT_READY] == (t.plant_fault == 0 && di[REGMAP_DI_ESTOP_OK] && !t.watchdog_tripped));
}

static void put_coil(struct sim_plant *p, unsigned a, int v)
{
    uint8_t b = (uint8_t)v;
    REQUIRE(sim_plant_write_coils(p, a, 1, &b) == 0);
}

static void put_reg(struct sim_plant *p, unsigned a, unsigned v)
{
    uint16_t w = (uint16_t)v;
    REQUIRE(sim_plant_write_regs(p, a, 1, &w) == 0);
}

/* An operator pressing plausible buttons in random order: most commands are ones a
 * controller gives (positions it uses, actuators, carousel, homing, fault reset), some
 * are garbage writes anywhere in the map, of which only the result code is checked. */
static void random_command(struct sim_plant *p, struct sim_rng *r)
{
    static const unsigned actuators[] = {
        REGMAP_CO_CENTER_CLOSE, REGMAP_CO_CLAMP_LOCK, REGMAP_CO_STROKE_EXTEND, REGMAP_CO_STROKE_EXTEND,
        REGMAP_CO_WRIST_B, REGMAP_CO_GRIP_A_CLOSE, REGMAP_CO_GRIP_B_CLOSE,
    };
    uint32_t what = sim_rng_below(r, 20);
    if (what < 7) {
        put_coil(p, actuators[sim_rng_below(r, sizeof actuators / sizeof actuators[0])],
                 (int)sim_rng_below(r, 2));
    } else if (what < 10) {
        const double xs[] = { cfg.x_magazine_mm, cfg.x_standby_mm, cfg.x_bay_mm, 300 };
        put_coil(p, REGMAP_CO_X_ENABLE, 1);
        put_reg(p, REGMAP_HR_X_TARGET, (unsigned)(xs[sim_rng_below(r, 4)] * 10));
    } else if (what < 12) {
        put_coil(p, REGMAP_CO_Z_ENABLE, 1);
        put_reg(p, REGMAP_HR_Z_TARGET, sim_rng_below(r, 2) ? (unsigned)(cfg.z_slot_mm * 10) : 0);
    } else if (what < 13) {
        put_coil(p, REGMAP_CO_CAROUSEL_ENABLE, 1);
        put_reg(p, REGMAP_HR_CAROUSEL_TARGET, sim_rng_below(r, (uint32_t)cfg.n_slots));
    } else if (what < 14) {
        int v = (int)sim_rng_below(r, 2);
        put_coil(p, REGMAP_CO_X_HOME, v);
        put_coil(p, REGMAP_CO_Z_HOME, v);
    } else if (what < 15) {
        put_reg(p, REGMAP_HR_SLOT_ADDR(sim_rng_below(r, (uint32_t)cfg.n_slots), 0), sim_rng_below(r, 3));
    } else if (what < 18) {
        put_coil(p, REGMAP_CO_FAULT_RESET, 0);
        put_coil(p, REGMAP_CO_FAULT_RESET, 1);
    } else {
        uint16_t regs[8];
        uint8_t bits[8];
        for (int i = 0; i < 8; i++) {
            regs[i] = (uint16_t)sim_rng_next(r);
            bits[i] = (uint8_t)sim_rng_next(r);
        }
        unsigned a = sim_rng_below(r, 200), n = sim_rng_below(r, 9);
        int rc = sim_rng_below(r, 2) ? sim_plant_write_regs(p, a, n, regs) : sim_plant_write_coils(p, a, n, bits);
        REQUIRE(rc == 0 || rc == SIM_EXC_ADDRESS || rc == SIM_EXC_VALUE);
        uint16_t out[300];
        rc = sim_plant_read_regs(p, (enum sim_table)sim_rng_below(r, 4), a, n * 30, out);
        REQUIRE(rc == 0 || rc == SIM_EXC_ADDRESS);
    }
}

static void one_run(uint64_t seed)
{
    struct sim_rng r;
    sim_rng_seed(&r, seed * 7919);
    struct sim_plant *p = sim_plant_new(&cfg, seed);
    ck_assert_ptr_nonnull(p);
    size_t packs = (size_t)cfg.n_slots;
    uint32_t next_tag = 0xC0000000u;
    uint16_t hb = 0;
    for (int op = 0; op < OPS_PER_RUN; op++) {
        uint32_t what = sim_rng_below(&r, 100);
        if (what < 80) {
            random_command(p, &r);
        } else if (what < 86) {
            struct sim_battery b;
            sim_battery_init(&b, &cfg, next_tag++, sim_rng_uniform(&r), &r);
            int rc = sim_plant_drone_land(p, sim_rng_below(&r, 4) ? &b : NULL);
            REQUIRE(rc == 0 || rc == -1);
            struct sim_truth t;
            sim_plant_truth(p, &t);
            packs = t.n_batteries;
        } else if (what < 90) {
            int rc = sim_plant_drone_takeoff(p, NULL, NULL);
            REQUIRE(rc == 0 || rc == -1 || rc == -2);
        } else if (what < 92) {
            /* every kind but sensor_stuck and image_frozen, which make the image lie on
             * purpose */
            enum sim_fault_kind k = (enum sim_fault_kind)sim_rng_below(&r, SIM_FAULT_COUNT);
            if (k == SIM_FAULT_SENSOR_STUCK || k == SIM_FAULT_IMAGE_FROZEN)
                k = SIM_FAULT_NONE;
            struct sim_fault f = { k, (int)sim_rng_below(&r, 10) - 1, (int)sim_rng_below(&r, 3),
                                   sim_rng_range(&r, 0, 80) };
            int rc = sim_plant_inject(p, &f);
            REQUIRE(rc == 0 || rc == -1);
        } else if (what < 98) {
            sim_plant_clear_faults(p, (enum sim_fault_kind)sim_rng_below(&r, SIM_FAULT_COUNT));
        } else {
            sim_plant_drone_set_load(p, sim_rng_range(&r, 0, 30));
        }
        /* a controller that keeps its heartbeat alive every 100 ms, and sometimes dies */
        uint32_t ms = 1 + sim_rng_below(&r, sim_rng_below(&r, 8) ? 1500 : 5000);
        bool alive = sim_rng_below(&r, 50) != 0;
        while (ms > 0) {
            uint32_t chunk = ms < 100 ? ms : 100;
            if (alive) {
                hb++;
                sim_plant_write_regs(p, REGMAP_HR_HEARTBEAT, 1, &hb);
            }
            sim_plant_step(p, chunk);
            ms -= chunk;
        }
        check_invariants(p, packs, seed, op);
    }
    sim_plant_free(p);
}

START_TEST(random_operation_keeps_the_plant_physical)
{
    for (int k = 0; k < RUNS / BATCHES; k++)
        one_run((uint64_t)(_i * (RUNS / BATCHES) + k + 1));
}
END_TEST

static void setup(void) { plantcfg_defaults(&cfg); }

static Suite *campaign_suite(void)
{
    Suite *s = suite_create("plant_campaign");
    TCase *tc = tcase_create("campaign");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, random_operation_keeps_the_plant_physical, 0, BATCHES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(campaign_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
