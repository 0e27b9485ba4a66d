/* The drone model on the in-process plant: touchdown and take-off reach the plant's pad,
 * and a second drone finds the pad occupied. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "drone/drone.h"
#include "drone/drone_plant.h"
#include "droneproto/dproto.h"
#include "plant/plant.h"

#define STATION 200

static struct plantcfg pcfg;
static struct sim_plant *plant;
static struct sim_drone drones[2];
static struct mav_tx station;
static uint64_t now;

static void give(struct sim_drone *d, uint32_t msgid, const void *msg)
{
    uint8_t buf[MAV_MAX_FRAME];
    int n = mav_encode(&station, msgid, msg, buf);
    ck_assert_int_gt(n, 0);
    struct mav_parser p;
    mav_parser_init(&p, NULL);
    struct mav_frame f;
    for (int i = 0; i < n; i++)
        if (mav_parser_feed(&p, buf[i], &f) == 1)
            sim_drone_handle_frame(d, &f, now);
}

static void run_ms(uint64_t ms)
{
    uint8_t sink[SIM_DRONE_OUTBOX];
    for (uint64_t end = now + ms; now < end; now += 10) {
        sim_plant_step(plant, 10);
        for (int i = 0; i < 2; i++) {
            sim_drone_step(&drones[i], now);
            sim_drone_take_output(&drones[i], sink, sizeof sink);
        }
        if (now % 1000 == 0) {
            struct dproto_station_status st = { DPROTO_PACKML_EXECUTE, 1, 1, 0 };
            struct mav_heartbeat hb;
            dproto_station_heartbeat(&st, &hb);
            give(&drones[0], MAV_MSG_HEARTBEAT, &hb);
            give(&drones[1], MAV_MSG_HEARTBEAT, &hb);
        }
    }
}

static void clear_to_land(struct sim_drone *d)
{
    struct dproto_reply r = { DPROTO_CMD_SWAP_REQUEST, DPROTO_REPLY_ACCEPTED, 0, 0 };
    struct mav_command_ack ack;
    dproto_build_ack(&r, d->cfg.sysid, DPROTO_DRONE_COMPID, &ack);
    give(d, MAV_MSG_COMMAND_ACK, &ack);
    struct dproto_land_clearance c = { 1, 1, 60 };
    struct mav_command_long cmd;
    dproto_build_land_clearance(&c, d->cfg.sysid, DPROTO_DRONE_COMPID, 0, &cmd);
    give(d, MAV_MSG_COMMAND_LONG, &cmd);
}

static void setup(void)
{
    plantcfg_defaults(&pcfg);
    plant = sim_plant_new(&pcfg, 7);
    ck_assert_ptr_nonnull(plant);
    struct sim_drone_pad pad = sim_drone_plant_pad(plant);
    now = 0;
    for (int i = 0; i < 2; i++) {
        struct sim_drone_cfg cfg;
        sim_drone_cfg_defaults(&cfg, (uint8_t)(10 + i));
        cfg.station_sysid = STATION;
        cfg.flight_s = 2;
        cfg.return_ms = 500;
        struct sim_rng rng;
        sim_rng_seed(&rng, 100 + (uint64_t)i);
        struct sim_battery b;
        sim_battery_init(&b, &pcfg, 0x5B000001u + (uint32_t)i, 0.6, &rng);
        sim_drone_init(&drones[i], &cfg, &pad, &b, 1 + (uint64_t)i, NULL, now);
    }
    station.sysid = STATION;
    station.compid = DPROTO_STATION_COMPID;
}

static void teardown(void) { sim_plant_free(plant); }

START_TEST(touchdown_and_takeoff_reach_the_plant)
{
    run_ms(4000);
    ck_assert_int_eq(drones[0].state, SIM_DRONE_REQUESTING);
    clear_to_land(&drones[0]);
    run_ms(drones[0].cfg.landing_ms + drones[0].cfg.disarm_ms + 500);
    ck_assert_int_eq(drones[0].state, SIM_DRONE_DISARMED);
    struct sim_truth t;
    sim_plant_truth(plant, &t);
    ck_assert(t.drone_present);
    const struct sim_battery *b = sim_plant_drone_battery(plant);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->tag, 0x5B000001);
    ck_assert_uint_eq(drones[0].bay.tag, 0x5B000001);

    struct dproto_takeoff_clearance c = { DPROTO_NOT_SWAPPED, 0x5B000001, 30 };
    struct mav_command_long cmd;
    dproto_build_takeoff_clearance(&c, 10, DPROTO_DRONE_COMPID, 0, &cmd);
    give(&drones[0], MAV_MSG_COMMAND_LONG, &cmd);
    ck_assert_int_eq(drones[0].state, SIM_DRONE_TAKING_OFF);
    sim_plant_truth(plant, &t);
    ck_assert(!t.drone_present);
    ck_assert(drones[0].has_battery);
    ck_assert_uint_eq(drones[0].battery.tag, 0x5B000001);
}
END_TEST

START_TEST(second_drone_finds_the_pad_occupied)
{
    run_ms(4000);
    clear_to_land(&drones[0]);
    run_ms(drones[0].cfg.landing_ms + 100);
    ck_assert_int_eq(drones[0].state, SIM_DRONE_LANDED);
    clear_to_land(&drones[1]);
    run_ms(drones[1].cfg.landing_ms + 100);
    ck_assert_int_eq(drones[1].state, SIM_DRONE_REQUESTING);
    ck_assert_uint_eq(drones[1].count.go_arounds, 1);
    ck_assert(drones[1].has_battery); /* its pack stayed on board */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("drone_plant");
    TCase *tc = tcase_create("plant");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, touchdown_and_takeoff_reach_the_plant);
    tcase_add_test(tc, second_drone_finds_the_pad_occupied);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
