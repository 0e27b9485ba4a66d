/* The station's documented limits, each at the limit and one past it: drones the link
 * tracks at once (the landing queue), slots the register map allows, and what a scan
 * costs on the wire as the slot count grows. Packs have no limit (test_years). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/station.h"
#include "core/station_io.h"
#include "dronelink/dronelink.h"
#include "droneproto/dproto.h"
#include "mavlink/mav.h"
#include "plantcfg/plantcfg.h"
#include "regmap/regmap.h"

#define STATION 200

/* Sends a swap request from drone sysid; returns the station's reply to it (kind, reason)
 * when it answered at once, else -1. */
static int request_from(struct dronelink *dl, uint8_t sysid, int32_t *reason)
{
    struct dproto_swap_request req = { .remaining_pct = 30, .pack_tag = 0x5B000000u + sysid, .voltage_v = 22.2f,
                                       .eta_s = 30, .version = DPROTO_VERSION };
    struct mav_command_long cmd;
    dproto_build_swap_request(&req, STATION, DPROTO_STATION_COMPID, 0, &cmd);
    struct mav_tx tx = { .sysid = sysid, .compid = 1 };
    uint8_t buf[MAV_MAX_FRAME];
    int n = mav_encode(&tx, MAV_MSG_COMMAND_LONG, &cmd, buf);
    ck_assert_int_gt(n, 0);
    dronelink_receive(dl, buf, (size_t)n, 1000, 1000000);
    uint8_t out[4096];
    size_t len = dronelink_take_output(dl, out, sizeof out);
    struct mav_parser p;
    mav_parser_init(&p, NULL);
    struct mav_frame f;
    int kind = -1;
    for (size_t i = 0; i < len; i++) {
        if (mav_parser_feed(&p, out[i], &f) != 1 || f.msgid != MAV_MSG_COMMAND_ACK)
            continue;
        struct mav_command_ack ack;
        struct dproto_reply r;
        if (mav_decode(&f, &ack) == 0 && ack.target_system == sysid && dproto_parse_ack(&ack, &r) == 0) {
            kind = (int)r.kind;
            *reason = r.reason;
        }
    }
    return kind;
}

/* docs/drone-protocol.md §9: the link tracks DRONELINK_MAX_DRONES drones at once (the
 * landing queue has no limit of its own); one more asking is denied queue_full, and the
 * others keep their places. */
START_TEST(drones_at_the_queue_limit_and_one_past_it)
{
    struct dronelink dl;
    char err[160];
    ck_assert_int_eq(dronelink_init(&dl, STATION, NULL, false, "", err, sizeof err), 0);
    /* the link accepts requests once it has heard a station that takes them */
    struct station_outputs o = { .state = ST_SUSPENDED, .mode = STATION_MODE_PRODUCTION };
    struct dproto_station_status st;
    dronelink_station_status(&dl, &o, &st);
    dronelink_send(&dl, NULL, 0, &st, 1000, 1000000);
    uint8_t sink[4096];
    while (dronelink_take_output(&dl, sink, sizeof sink) > 0)
        ;
    for (int sys = 1; sys <= DRONELINK_MAX_DRONES; sys++) {
        int32_t reason = 0;
        ck_assert_msg(request_from(&dl, (uint8_t)sys, &reason) != DPROTO_REPLY_DENIED,
                      "drone %d of %d denied (reason %d)", sys, DRONELINK_MAX_DRONES, (int)reason);
    }
    int32_t reason = 0;
    ck_assert_int_eq(request_from(&dl, DRONELINK_MAX_DRONES + 1, &reason), DPROTO_REPLY_DENIED);
    ck_assert_int_eq(reason, DPROTO_REASON_QUEUE_FULL);
    ck_assert_int_eq(dronelink_queue_position(&dl, DRONELINK_MAX_DRONES), DRONELINK_MAX_DRONES);
    ck_assert_int_eq(dronelink_queue_position(&dl, DRONELINK_MAX_DRONES + 1), 0);
}
END_TEST

static int load_slots(int slots, struct plantcfg *cfg, struct cfg_error *err)
{
    char path[] = "/tmp/limits-plant-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "[magazine]\nslots = %d\n", slots);
    fclose(f);
    int rc = plantcfg_load(path, cfg, err);
    unlink(path);
    return rc;
}

START_TEST(slots_at_the_register_map_limit_and_one_past_it)
{
    struct plantcfg cfg;
    struct cfg_error err;
    ck_assert_msg(load_slots(16, &cfg, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(cfg.n_slots, REGMAP_MAX_SLOTS);
    ck_assert_int_ne(load_slots(17, &cfg, &err), 0);
    ck_assert_msg(strstr(err.msg, "slots") && strstr(err.msg, "1..16"), "%s", err.msg);
}
END_TEST

/* docs/register-map.md: one scan is two block reads and two block writes up to 10 slots;
 * above, the input-register block needs a second request (125 registers per request). */
START_TEST(input_registers_fit_one_request_up_to_ten_slots)
{
    ck_assert_int_le(REGMAP_IR_COUNT(10), 125);
    ck_assert_int_gt(REGMAP_IR_COUNT(11), 125);
    ck_assert_int_le(REGMAP_IR_COUNT(REGMAP_MAX_SLOTS), 2 * 125);
    ck_assert_int_le(REGMAP_DI_COUNT(REGMAP_MAX_SLOTS), 2000);
    ck_assert_int_le(REGMAP_HR_COUNT(REGMAP_MAX_SLOTS), 123);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_add_test(tc, drones_at_the_queue_limit_and_one_past_it);
    tcase_add_test(tc, slots_at_the_register_map_limit_and_one_past_it);
    tcase_add_test(tc, input_registers_fit_one_request_up_to_ten_slots);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
