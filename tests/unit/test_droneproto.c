/* Station-drone protocol helpers: builders and parsers agree, bad parameters are refused. */
#include <check.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "droneproto/dproto.h"

START_TEST(swap_request_round_trips_a_full_32_bit_tag)
{
    struct dproto_swap_request in = { 23.5f, 0xDEADBEEF, 21.7f, 12, DPROTO_REQ_HOT_SWAP | DPROTO_REQ_CRITICAL,
                                      DPROTO_VERSION }, out;
    struct mav_command_long cmd;
    dproto_build_swap_request(&in, 200, 25, 3, &cmd);
    ck_assert_uint_eq(cmd.command, MAV_CMD_USER_1);
    ck_assert_uint_eq(cmd.target_system, 200);
    ck_assert_uint_eq(cmd.confirmation, 3);
    ck_assert_int_eq(dproto_parse_swap_request(&cmd, &out), 0);
    ck_assert_uint_eq(out.pack_tag, 0xDEADBEEF);
    ck_assert_float_eq(out.remaining_pct, 23.5f);
    ck_assert_float_eq(out.voltage_v, 21.7f);
    ck_assert_float_eq(out.eta_s, 12);
    ck_assert_uint_eq(out.flags, DPROTO_REQ_HOT_SWAP | DPROTO_REQ_CRITICAL);
    ck_assert_uint_eq(out.version, DPROTO_VERSION);
}
END_TEST

/* Which parameter gets which bad value. */
static const struct {
    int param;
    float value;
} bad_request[] = {
    { 0, 101 }, { 0, -2 }, { 0, NAN }, { 1, 65536 }, { 1, 1.5f }, { 2, -1 }, { 3, INFINITY },
    { 3, -1 }, { 4, -5 }, { 5, 4 }, { 5, 0.5f }, { 6, 0 }, { 6, 256 }, { 6, 2 }, /* §4: version 1 only */
};

START_TEST(swap_request_with_a_bad_parameter_is_refused)
{
    struct dproto_swap_request in = { 50, 0x5A000001, 22, 0, 0, DPROTO_VERSION }, out;
    memset(&out, 0x55, sizeof out);
    struct dproto_swap_request before = out;
    struct mav_command_long cmd;
    dproto_build_swap_request(&in, 200, 25, 0, &cmd);
    cmd.param[bad_request[_i].param] = bad_request[_i].value;
    ck_assert_int_eq(dproto_parse_swap_request(&cmd, &out), -1);
    ck_assert_int_eq(memcmp(&out, &before, sizeof out), 0);
}
END_TEST

START_TEST(parsers_refuse_other_commands)
{
    struct mav_command_long cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.command = MAV_CMD_COMPONENT_ARM_DISARM;
    struct dproto_swap_request r;
    struct dproto_land_clearance l;
    struct dproto_progress p;
    struct dproto_takeoff_clearance t;
    struct dproto_cancel c;
    ck_assert_int_eq(dproto_parse_swap_request(&cmd, &r), -1);
    ck_assert_int_eq(dproto_parse_land_clearance(&cmd, &l), -1);
    ck_assert_int_eq(dproto_parse_progress(&cmd, &p), -1);
    ck_assert_int_eq(dproto_parse_takeoff_clearance(&cmd, &t), -1);
    ck_assert_int_eq(dproto_parse_cancel(&cmd, &c), -1);
    ck_assert_ptr_null(dproto_cmd_name(MAV_CMD_COMPONENT_ARM_DISARM));
    ck_assert_str_eq(dproto_cmd_name(MAV_CMD_USER_4), "CLEARED_TAKEOFF");
}
END_TEST

START_TEST(station_commands_round_trip)
{
    struct mav_command_long cmd;
    struct dproto_land_clearance l = { 1, 4711, 60 }, l2;
    dproto_build_land_clearance(&l, 10, 1, 0, &cmd);
    ck_assert_uint_eq(cmd.command, MAV_CMD_USER_2);
    ck_assert_int_eq(dproto_parse_land_clearance(&cmd, &l2), 0);
    ck_assert_uint_eq(l2.clearance_id, 4711);
    ck_assert_float_eq(l2.window_s, 60);

    struct dproto_progress p = { 5, 12, 3.5f, 4.25f }, p2;
    dproto_build_progress(&p, 10, 1, &cmd);
    ck_assert_int_eq(dproto_parse_progress(&cmd, &p2), 0);
    ck_assert_uint_eq(p2.step, 5);
    ck_assert_uint_eq(p2.n_steps, 12);
    p.n_steps = 0; /* total not known */
    p.remaining_s = -1;
    dproto_build_progress(&p, 10, 1, &cmd);
    ck_assert_int_eq(dproto_parse_progress(&cmd, &p2), 0);
    p.n_steps = 4; /* step beyond the total */
    dproto_build_progress(&p, 10, 1, &cmd);
    ck_assert_int_eq(dproto_parse_progress(&cmd, &p2), -1);

    struct dproto_takeoff_clearance t = { DPROTO_SWAPPED, 0x5A000007, 30 }, t2;
    dproto_build_takeoff_clearance(&t, 10, 1, 2, &cmd);
    ck_assert_uint_eq(cmd.command, MAV_CMD_USER_4);
    ck_assert_int_eq(dproto_parse_takeoff_clearance(&cmd, &t2), 0);
    ck_assert_uint_eq(t2.pack_tag, 0x5A000007);
    cmd.param[0] = 2;
    ck_assert_int_eq(dproto_parse_takeoff_clearance(&cmd, &t2), -1);

    struct dproto_cancel c = { DPROTO_REASON_WEATHER }, c2;
    dproto_build_cancel(&c, 10, 1, 0, &cmd);
    ck_assert_int_eq(dproto_parse_cancel(&cmd, &c2), 0);
    ck_assert_uint_eq(c2.reason, DPROTO_REASON_WEATHER);
    cmd.param[0] = DPROTO_REASON_COUNT;
    ck_assert_int_eq(dproto_parse_cancel(&cmd, &c2), -1);
}
END_TEST

START_TEST(acks_carry_queue_position_and_reason)
{
    struct mav_command_ack ack;
    struct dproto_reply r = { MAV_CMD_USER_1, DPROTO_REPLY_QUEUED, 3, 90 }, r2;
    dproto_build_ack(&r, 10, 1, &ack);
    ck_assert_uint_eq(ack.result, MAV_RESULT_IN_PROGRESS);
    ck_assert_uint_eq(ack.progress, 3);
    ck_assert_int_eq(dproto_parse_ack(&ack, &r2), 0);
    ck_assert_int_eq(r2.kind, DPROTO_REPLY_QUEUED);
    ck_assert_uint_eq(r2.queue_position, 3);
    r = (struct dproto_reply){ MAV_CMD_USER_1, DPROTO_REPLY_DENIED, 0, DPROTO_REASON_NOT_ALLOWED };
    dproto_build_ack(&r, 10, 1, &ack);
    ck_assert_uint_eq(ack.result, MAV_RESULT_DENIED);
    ck_assert_int_eq(ack.result_param2, DPROTO_REASON_NOT_ALLOWED);
    ck_assert_int_eq(dproto_parse_ack(&ack, &r2), 0);
    ck_assert_int_eq(r2.kind, DPROTO_REPLY_DENIED);
    ck_assert(dproto_reason_is_final(r2.reason));
    ack.result = 77;
    ck_assert_int_eq(dproto_parse_ack(&ack, &r2), -1);
}
END_TEST

START_TEST(reason_names_cover_the_enum)
{
    for (int i = 0; i < DPROTO_REASON_COUNT; i++)
        ck_assert_str_ne(dproto_reason_name(i), "unknown");
    ck_assert_str_eq(dproto_reason_name(DPROTO_REASON_COUNT), "unknown");
    ck_assert_str_eq(dproto_reason_name(-1), "unknown");
    ck_assert(!dproto_reason_is_final(DPROTO_REASON_NO_BATTERY));
    ck_assert(dproto_reason_is_final(DPROTO_REASON_BAD_REQUEST));
    ck_assert_str_eq(dproto_packml_name(DPROTO_PACKML_EXECUTE), "Execute");
    ck_assert_str_eq(dproto_packml_name(99), "unknown");
}
END_TEST

START_TEST(station_heartbeat_packs_state_mode_flags_queue)
{
    struct dproto_station_status st = { DPROTO_PACKML_EXECUTE, DPROTO_MODE_PRODUCTION,
                                        DPROTO_FLAG_ACCEPTING | DPROTO_FLAG_PAD_OCCUPIED, 2 }, st2;
    struct mav_heartbeat hb;
    dproto_station_heartbeat(&st, &hb);
    ck_assert_uint_eq(hb.type, MAV_TYPE_CHARGING_STATION);
    ck_assert_uint_eq(hb.autopilot, MAV_AUTOPILOT_INVALID);
    ck_assert_uint_eq(hb.custom_mode, 0x02030106u);
    ck_assert_uint_eq(hb.system_status, MAV_STATE_ACTIVE);
    ck_assert(!dproto_heartbeat_armed(&hb));
    ck_assert_int_eq(dproto_parse_station_heartbeat(&hb, &st2), 0);
    ck_assert_int_eq(memcmp(&st, &st2, sizeof st), 0);
    hb.type = MAV_TYPE_QUADROTOR;
    ck_assert_int_eq(dproto_parse_station_heartbeat(&hb, &st2), -1);
}
END_TEST

START_TEST(retry_delay_doubles_up_to_the_cap)
{
    ck_assert_uint_eq(dproto_retry_delay_ms(0), 0);
    ck_assert_uint_eq(dproto_retry_delay_ms(1), 500);
    ck_assert_uint_eq(dproto_retry_delay_ms(2), 1000);
    ck_assert_uint_eq(dproto_retry_delay_ms(3), 2000);
    ck_assert_uint_eq(dproto_retry_delay_ms(4), 4000);
    ck_assert_uint_eq(dproto_retry_delay_ms(5), 4000);
    ck_assert_uint_eq(dproto_retry_delay_ms(1000000), 4000);
}
END_TEST

START_TEST(pack_serial_round_trips_and_rejects_junk)
{
    char s[16];
    uint32_t tag = 0;
    dproto_pack_serial(0x5A00000F, s);
    ck_assert_int_eq(memcmp(s, "SWP-5A00000F\0\0\0\0", 16), 0);
    ck_assert_int_eq(dproto_parse_pack_serial(s, &tag), 0);
    ck_assert_uint_eq(tag, 0x5A00000F);
    char bad1[16] = "SWP-5a00000f";
    char bad2[16] = "XYZ-5A00000F";
    char bad3[16] = "SWP-5A00000FX";
    char bad4[16] = "SWP-5A0000";
    ck_assert_int_eq(dproto_parse_pack_serial(bad1, &tag), -1);
    ck_assert_int_eq(dproto_parse_pack_serial(bad2, &tag), -1);
    ck_assert_int_eq(dproto_parse_pack_serial(bad3, &tag), -1);
    ck_assert_int_eq(dproto_parse_pack_serial(bad4, &tag), -1);
    ck_assert_uint_eq(tag, 0x5A00000F);
}
END_TEST

START_TEST(addressing_accepts_broadcast)
{
    struct mav_command_long cmd = { .target_system = 0, .target_component = 0 };
    ck_assert(dproto_is_for(&cmd, 10, 1));
    cmd.target_system = 10;
    cmd.target_component = 1;
    ck_assert(dproto_is_for(&cmd, 10, 1));
    cmd.target_system = 11;
    ck_assert(!dproto_is_for(&cmd, 10, 1));
    cmd.target_system = 10;
    cmd.target_component = 25;
    ck_assert(!dproto_is_for(&cmd, 10, 1));
}
END_TEST


static void hex_of(const uint8_t *b, int n, char *out)
{
    for (int i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* Known-answer frames of docs/drone-protocol.md (an independent MAVLink implementation
 * decodes them to the same fields). */
START_TEST(documented_example_frames_are_reproduced)
{
    uint8_t buf[MAV_MAX_FRAME];
    char hex[2 * MAV_MAX_FRAME + 1];
    struct mav_tx drone = { 10, 1, 0, NULL }, station = { 200, 25, 0, NULL };
    struct dproto_swap_request r = { 25, 0x5A000001, 21.5f, 0, 0, 1 };
    struct mav_command_long c;
    dproto_build_swap_request(&r, 200, 25, 0, &c);
    hex_of(buf, mav_encode(&drone, MAV_MSG_COMMAND_LONG, &c, buf), hex);
    ck_assert_str_eq(hex, "fd200000000a014c00000000c8410000803f0000b4460000ac4100000000000000000000803f2279c819e157");
    struct dproto_reply q = { MAV_CMD_USER_1, DPROTO_REPLY_QUEUED, 2, 0 };
    struct mav_command_ack a;
    dproto_build_ack(&q, 10, 1, &a);
    hex_of(buf, mav_encode(&station, MAV_MSG_COMMAND_ACK, &a, buf), hex);
    ck_assert_str_eq(hex, "fd0a000000c8194d000022790502000000000a012455");
    struct dproto_station_status st = { 6, 1, 1, 0 };
    struct mav_heartbeat hb;
    dproto_station_heartbeat(&st, &hb);
    station.seq = 0;
    hex_of(buf, mav_encode(&station, MAV_MSG_HEARTBEAT, &hb, buf), hex);
    ck_assert_str_eq(hex, "fd09000000c819000000060101001f080004037247");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("droneproto");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, swap_request_round_trips_a_full_32_bit_tag);
    tcase_add_loop_test(tc, swap_request_with_a_bad_parameter_is_refused, 0,
                        (int)(sizeof bad_request / sizeof bad_request[0]));
    tcase_add_test(tc, parsers_refuse_other_commands);
    tcase_add_test(tc, station_commands_round_trip);
    tcase_add_test(tc, acks_carry_queue_position_and_reason);
    tcase_add_test(tc, reason_names_cover_the_enum);
    tcase_add_test(tc, station_heartbeat_packs_state_mode_flags_queue);
    tcase_add_test(tc, retry_delay_doubles_up_to_the_cap);
    tcase_add_test(tc, pack_serial_round_trips_and_rejects_junk);
    tcase_add_test(tc, addressing_accepts_broadcast);
    tcase_add_test(tc, documented_example_frames_are_reproduced);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
