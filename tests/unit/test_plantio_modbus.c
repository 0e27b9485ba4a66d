/* The Modbus TCP backend of plant I/O against the real plant server (swapsim, started by
 * pid on an ephemeral port): the image decodes, writes arrive, a dead server fails fast
 * and a new one is found again after the back-off. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plantio/plantio_modbus.h"
#include "proc.h"

static char dir[256];

static pid_t start_swapsim(int port_in, long *port_out)
{
    char bin[512], cfg[512], port_file[320], log[320], port_arg[16];
    proc_bin("swapsim", bin, sizeof bin);
    proc_config("plant.ini", cfg, sizeof cfg);
    snprintf(port_file, sizeof port_file, "%s/port-%d", dir, port_in);
    snprintf(log, sizeof log, "%s/swapsim.log", dir);
    snprintf(port_arg, sizeof port_arg, "%d", port_in);
    char *argv[] = { bin, "--config", cfg, "--port", port_arg, "--port-file", port_file, NULL };
    pid_t pid = proc_spawn(argv, log);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(proc_wait_number(port_file, port_out, pid, 10000), 0);
    ck_assert_int_eq(proc_wait_tcp((int)*port_out, pid, 10000), 0);
    return pid;
}

static void setup(void)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "plantio-modbus"), 0);
}

static void teardown(void)
{
    proc_rmtree(dir);
}

START_TEST(reads_and_writes_the_plant_over_tcp)
{
    long port;
    pid_t pid = start_swapsim(0, &port);
    struct plantio_backend b;
    char err[160];
    struct plantio_modbus_cfg cfg = { .host = "127.0.0.1", .port = (int)port, .unit_id = 1, .timeout_ms = 100,
                                      .backoff_min_ms = 20, .backoff_max_ms = 200 };
    ck_assert_msg(plantio_modbus_backend(&b, &cfg, err, sizeof err) == 0, "%s", err);
    struct station_plant_in in;
    memset(&in, 0, sizeof in);
    ck_assert_msg(plantio_read(&b, 8, &in, err, sizeof err) == 0, "%s", err);
    ck_assert(in.valid && in.estop_ok);
    ck_assert_uint_eq(in.slot[3].tag, 0x5A000004u);
    struct station_plant_out o;
    memset(&o, 0, sizeof o);
    o.heartbeat = 777;
    o.charger_mode[1] = CHARGER_MODE_CHARGE;
    ck_assert_msg(plantio_write(&b, 8, &o, err, sizeof err) == 0, "%s", err);
    long long t0 = proc_now_ms();
    while (in.heartbeat_echo != 777 && proc_now_ms() - t0 < 2000)
        ck_assert_msg(plantio_read(&b, 8, &in, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(in.heartbeat_echo, 777);
    ck_assert_int_eq(plantio_readback(&b, &in, err, sizeof err), 0);
    /* a write the plant refuses is an exception, not a link failure */
    uint16_t bad = 60000;
    ck_assert_int_eq(b.write_hr(b.ctx, REGMAP_HR_X_TARGET, 1, &bad), -1);
    ck_assert_int_eq(plantio_read(&b, 8, &in, err, sizeof err), 0);
    ck_assert_uint_eq(plantio_modbus_reconnects(&b), 0);
    b.close(b.ctx);
    proc_stop(pid, 2000);
}
END_TEST

START_TEST(dead_server_fails_fast_and_reconnects)
{
    long port;
    pid_t pid = start_swapsim(0, &port);
    struct plantio_backend b;
    char err[160];
    struct plantio_modbus_cfg cfg = { .host = "127.0.0.1", .port = (int)port, .unit_id = 1, .timeout_ms = 100,
                                      .backoff_min_ms = 50, .backoff_max_ms = 400 };
    ck_assert_int_eq(plantio_modbus_backend(&b, &cfg, err, sizeof err), 0);
    struct station_plant_in in;
    memset(&in, 0, sizeof in);
    ck_assert_int_eq(plantio_read(&b, 8, &in, err, sizeof err), 0);
    proc_stop(pid, 2000);
    long long t0 = proc_now_ms();
    ck_assert_int_eq(plantio_read(&b, 8, &in, err, sizeof err), -1);
    ck_assert(!in.valid);
    ck_assert_int_eq(plantio_read(&b, 8, &in, err, sizeof err), -1);   /* during the back-off */
    ck_assert_ptr_nonnull(strstr(err, "read discrete inputs"));
    long long spent = proc_now_ms() - t0;
    ck_assert_msg(spent < 500, "failing took %lld ms", spent);
    long again;
    pid = start_swapsim((int)port, &again);
    ck_assert_int_eq(again, port);
    t0 = proc_now_ms();
    int rc = -1;
    while (rc != 0 && proc_now_ms() - t0 < 5000)
        rc = plantio_read(&b, 8, &in, err, sizeof err);
    ck_assert_msg(rc == 0, "no reconnect: %s", err);
    ck_assert(in.valid);
    ck_assert_uint_ge(plantio_modbus_reconnects(&b), 1);
    b.close(b.ctx);
    proc_stop(pid, 2000);
}
END_TEST

START_TEST(bad_configuration_is_refused)
{
    struct plantio_backend b;
    char err[160];
    struct plantio_modbus_cfg cfg = { .host = "127.0.0.1", .port = 0, .unit_id = 1, .timeout_ms = 100,
                                      .backoff_min_ms = 50, .backoff_max_ms = 400 };
    ck_assert_int_eq(plantio_modbus_backend(&b, &cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "out of range"));
    cfg.port = 1502;
    cfg.host = "";
    ck_assert_int_eq(plantio_modbus_backend(&b, &cfg, err, sizeof err), -1);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("plantio_modbus");
    TCase *tc = tcase_create("tcp");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, reads_and_writes_the_plant_over_tcp);
    tcase_add_test(tc, dead_server_fails_fast_and_reconnects);
    tcase_add_test(tc, bad_configuration_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
