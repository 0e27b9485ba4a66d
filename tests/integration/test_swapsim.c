/* swapsim as a real process: a libmodbus client and mbpoll drive the plant over Modbus
 * TCP, the control socket injects faults and reads the truth, hostile clients try to
 * wedge the server. Every swapsim listens on a free port and a private socket path. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "battery/battery.h"
#include "battery/battery_json.h"
#include "plant/plant.h"
#include "plantcfg/plantcfg.h"
#include "proc.h"
#include "rng/rng.h"
#include "regmap/regmap.h"

#define START_TIMEOUT_MS 10000

struct sim {
    pid_t pid;
    int port;
    char dir[256];
    char ctl[300];
    char log[300];
};

/* Starts swapsim with the default plant and extra arguments (NULL-terminated). */
static void sim_start(struct sim *s, const char *const *extra)
{
    char bin[512], cfg[512], port_file[300];
    ck_assert_int_eq(proc_mkdtemp(s->dir, sizeof s->dir, "swapsim"), 0);
    snprintf(s->ctl, sizeof s->ctl, "%s/ctl", s->dir);
    snprintf(s->log, sizeof s->log, "%s/log", s->dir);
    snprintf(port_file, sizeof port_file, "%s/port", s->dir);
    const char *argv[32] = { proc_bin("swapsim", bin, sizeof bin), "--config",
                             proc_config("plant.ini", cfg, sizeof cfg), "--port", "0",
                             "--port-file", port_file, "--control", s->ctl, "--seed", "7" };
    int n = 11;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    s->pid = proc_spawn((char *const *)argv, s->log);
    long port = 0;
    int rc = proc_wait_number(port_file, &port, s->pid, START_TIMEOUT_MS);
    ck_assert_msg(rc == 0, "swapsim did not start (rc %d); see %s", rc, s->log);
    s->port = (int)port;
    ck_assert_int_eq(proc_wait_path(s->ctl, s->pid, START_TIMEOUT_MS), 0);
}

static void sim_stop(struct sim *s)
{
    int status = proc_stop(s->pid, 5000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "swapsim did not exit cleanly on SIGTERM (status 0x%x)", status);
    proc_rmtree(s->dir);
}

static modbus_t *mb_open(int port)
{
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    ck_assert_ptr_nonnull(ctx);
    modbus_set_slave(ctx, 1);
    modbus_set_response_timeout(ctx, 2, 0);
    ck_assert_msg(modbus_connect(ctx) == 0, "connect: %s", modbus_strerror(errno));
    return ctx;
}

static void mb_close(modbus_t *ctx)
{
    modbus_close(ctx);
    modbus_free(ctx);
}

/* ---- control socket ------------------------------------------------------------------ */

static int ctl_connect(const struct sim *s)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ck_assert_uint_lt(strlen(s->ctl), sizeof sa.sun_path);
    memcpy(sa.sun_path, s->ctl, strlen(s->ctl) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s", s->ctl);
    return fd;
}

/* Reads one reply line from fd (up to 1 MiB); NULL on EOF or timeout. */
static char *ctl_read_line(int fd)
{
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    while (n < cap - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) <= 0)
            break;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        char *nl = memchr(buf, '\n', n);
        if (nl) {
            *nl = 0;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

static json_t *ctl_raw(const struct sim *s, const char *line)
{
    int fd = ctl_connect(s);
    size_t len = strlen(line);
    ck_assert_int_eq(send(fd, line, len, MSG_NOSIGNAL), (ssize_t)len);
    ck_assert_int_eq(send(fd, "\n", 1, MSG_NOSIGNAL), 1);
    char *rep = ctl_read_line(fd);
    close(fd);
    ck_assert_msg(rep != NULL, "no reply to %s", line);
    json_error_t err;
    json_t *j = json_loads(rep, 0, &err);
    ck_assert_msg(j != NULL, "reply is not JSON: %s", rep);
    free(rep);
    return j;
}

/* Sends a request that must succeed; returns the reply (caller decrefs). */
static json_t *ctl_ok(const struct sim *s, const char *line)
{
    json_t *j = ctl_raw(s, line);
    ck_assert_msg(json_is_true(json_object_get(j, "ok")), "%s -> %s", line,
                  json_string_value(json_object_get(j, "error")));
    return j;
}

static void ctl(const struct sim *s, const char *line) { json_decref(ctl_ok(s, line)); }

static long long plant_ms(const struct sim *s)
{
    json_t *j = ctl_ok(s, "{\"cmd\":\"status\"}");
    long long t = json_integer_value(json_object_get(j, "plant_ms"));
    json_decref(j);
    return t;
}

/* ---- polling the plant over Modbus ------------------------------------------------------ */

static uint16_t heartbeat;

/* Keeps the plant watchdog fed while a test waits for the plant to act. */
static void beat(modbus_t *ctx)
{
    ck_assert_int_eq(modbus_write_register(ctx, REGMAP_HR_HEARTBEAT, ++heartbeat), 1);
}

static int read_bit(modbus_t *ctx, int table, int addr)
{
    uint8_t v = 0xEE;
    int rc = table == 'd' ? modbus_read_input_bits(ctx, addr, 1, &v) : modbus_read_bits(ctx, addr, 1, &v);
    ck_assert_msg(rc == 1, "read bit %c%d: %s", table, addr, modbus_strerror(errno));
    return v;
}

static int read_reg(modbus_t *ctx, int table, int addr)
{
    uint16_t v = 0;
    int rc = table == 'i' ? modbus_read_input_registers(ctx, addr, 1, &v)
                          : modbus_read_registers(ctx, addr, 1, &v);
    ck_assert_msg(rc == 1, "read reg %c%d: %s", table, addr, modbus_strerror(errno));
    return v;
}

static void write_coil(modbus_t *ctx, int addr, int v)
{
    ck_assert_msg(modbus_write_bit(ctx, addr, v) == 1, "write coil %d: %s", addr, modbus_strerror(errno));
}

static void write_reg(modbus_t *ctx, int addr, int v)
{
    ck_assert_msg(modbus_write_register(ctx, addr, (uint16_t)v) == 1, "write HR %d: %s", addr,
                  modbus_strerror(errno));
}

/* Waits until a discrete input (table 'd') or coil ('c') reads want; feeds the
 * watchdog meanwhile. Returns the wall time it took (ms) or -1 on timeout. */
static long long wait_bit(modbus_t *ctx, int table, int addr, int want, int timeout_ms)
{
    long long t0 = proc_now_ms();
    for (;;) {
        beat(ctx);
        if (read_bit(ctx, table, addr) == want)
            return proc_now_ms() - t0;
        if (proc_now_ms() - t0 > timeout_ms)
            return -1;
        proc_nap_ms(5);
    }
}

static long long wait_reg(modbus_t *ctx, int table, int addr, int lo, int hi, int timeout_ms)
{
    long long t0 = proc_now_ms();
    for (;;) {
        beat(ctx);
        int v = read_reg(ctx, table, addr);
        if (v >= lo && v <= hi)
            return proc_now_ms() - t0;
        if (proc_now_ms() - t0 > timeout_ms)
            return -1;
        proc_nap_ms(5);
    }
}

/* Lets plant time pass by at least ms while feeding the watchdog. */
static void let_plant_run(const struct sim *s, modbus_t *ctx, long long ms)
{
    long long until = plant_ms(s) + ms;
    while (plant_ms(s) < until) {
        beat(ctx);
        proc_nap_ms(10);
    }
}

static void home_x(modbus_t *ctx)
{
    write_coil(ctx, REGMAP_CO_X_HOME, 1);
    ck_assert_msg(wait_bit(ctx, 'd', REGMAP_DI_X_HOMED, 1, 10000) >= 0, "axis X never homed");
    write_coil(ctx, REGMAP_CO_X_HOME, 0);
}

/* ---- motion -------------------------------------------------------------------------- */

START_TEST(client_homes_and_moves_axis_x)
{
    struct sim s;
    sim_start(&s, NULL);
    struct plantcfg cfg;
    plantcfg_defaults(&cfg);
    modbus_t *ctx = mb_open(s.port);

    home_x(ctx);
    const int target = 6000; /* 600.0 mm, the pad bay */
    write_reg(ctx, REGMAP_HR_X_TARGET, target);
    long long t0 = proc_now_ms();
    write_coil(ctx, REGMAP_CO_X_ENABLE, 1);
    long long took = wait_reg(ctx, 'i', REGMAP_IR_X_POS, target - 5, target + 5, 15000);
    ck_assert_msg(took >= 0, "IR_X_POS never reached %d (at %d)", target, read_reg(ctx, 'i', REGMAP_IR_X_POS));
    ck_assert_msg(wait_bit(ctx, 'd', REGMAP_DI_X_IN_POS, 1, 2000) >= 0, "DI_X_IN_POS never set");
    long long wall = proc_now_ms() - t0;
    double model_ms = 1000 * plantcfg_move_time_s(&cfg.x, 600);
    fprintf(stderr, "axis X 0 -> 600 mm: %lld ms wall, %.0f ms configured\n", wall, model_ms);
    /* The physics runs on the wall clock: the move cannot finish early, and on a loaded
     * machine it should still finish within a few times the model's time. */
    ck_assert_double_ge((double)wall, 0.8 * model_ms);
    ck_assert_double_le((double)wall, 4 * model_ms + 2000);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_X_FAULT), 0);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

START_TEST(realtime_factor_speeds_up_plant_time)
{
    struct sim s;
    const char *extra[] = { "--realtime-factor", "10", NULL };
    sim_start(&s, extra);
    long long p0 = plant_ms(&s), w0 = proc_now_ms();
    proc_nap_ms(300);
    long long p1 = plant_ms(&s), w1 = proc_now_ms();
    double ratio = (double)(p1 - p0) / (double)(w1 - w0);
    ck_assert_msg(ratio > 5 && ratio < 11, "plant/wall = %.2f, want about 10", ratio);
    sim_stop(&s);
}
END_TEST

/* ---- plant faults, each seen over Modbus -------------------------------------------------- */

struct fault_case {
    const char *name;
    const char *inject;       /* control request */
    void (*check)(const struct sim *s, modbus_t *ctx);
};

static void check_axis_jam(const struct sim *s, modbus_t *ctx)
{
    (void)s;
    write_reg(ctx, REGMAP_HR_X_TARGET, 3000);
    write_coil(ctx, REGMAP_CO_X_ENABLE, 1);
    ck_assert_msg(wait_bit(ctx, 'd', REGMAP_DI_X_FAULT, 1, 5000) >= 0, "no DI_X_FAULT");
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_PLANT_FAULT), PF_X_JAM);
    ck_assert_int_lt(read_reg(ctx, 'i', REGMAP_IR_X_POS), 2990);
}

static void check_sensor_stuck_di(const struct sim *s, modbus_t *ctx)
{
    (void)s;
    ck_assert_int_ge(wait_bit(ctx, 'd', REGMAP_DI_RAIN, 1, 2000), 0);
}

static void check_sensor_stuck_ir(const struct sim *s, modbus_t *ctx)
{
    (void)s;
    ck_assert_int_ge(wait_reg(ctx, 'i', REGMAP_IR_WIND, 123, 123, 2000), 0);
}

static void check_gripper_no_close(const struct sim *s, modbus_t *ctx)
{
    write_coil(ctx, REGMAP_CO_GRIP_A_CLOSE, 1);
    write_coil(ctx, REGMAP_CO_GRIP_B_CLOSE, 1);
    /* B, without the fault, shows the time was long enough. */
    ck_assert_int_ge(wait_bit(ctx, 'd', REGMAP_DI_GRIP_B_CLOSED, 1, 3000), 0);
    let_plant_run(s, ctx, 300);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_GRIP_A_CLOSED), 0);
}

static void check_actuator_stuck(const struct sim *s, modbus_t *ctx)
{
    write_coil(ctx, REGMAP_CO_CLAMP_LOCK, 1);
    let_plant_run(s, ctx, 1500);   /* 2.5 clamp strokes */
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_CLAMP_LOCKED), 0);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_CLAMP_UNLOCKED), 1);
}

static void check_charger(const struct sim *s, modbus_t *ctx)
{
    (void)s;
    write_reg(ctx, REGMAP_HR_SLOT_ADDR(0, REGMAP_HR_SLOT_CHARGER_MODE), CHARGER_MODE_CHARGE);
    ck_assert_int_ge(wait_reg(ctx, 'i', REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_CHG_STATE), CHARGER_FAULT,
                              CHARGER_FAULT, 3000), 0);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_CHG_FAULT)), CHGF_HW);
}

static void check_overtemp(const struct sim *s, modbus_t *ctx)
{
    (void)s;
    /* 0.1 degC; ambient is 20 degC, the injected pack heats towards 60 degC. */
    ck_assert_msg(wait_reg(ctx, 'i', REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_TEMP), 300, 2000, 8000) >= 0,
                  "slot 0 temperature stayed at %d", read_reg(ctx, 'i', REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_TEMP)));
}

static void check_tag_unreadable(const struct sim *s, modbus_t *ctx)
{
    (void)s;
    ck_assert_int_ge(wait_bit(ctx, 'd', REGMAP_DI_SLOT_ADDR(0, REGMAP_DI_SLOT_TAG_OK), 0, 2000), 0);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_TAG_HI)), 0);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_SLOT_ADDR(0, REGMAP_IR_SLOT_TAG_LO)), 0);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_SLOT_ADDR(0, REGMAP_DI_SLOT_PRESENT)), 1);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_SLOT_ADDR(1, REGMAP_DI_SLOT_TAG_OK)), 1);
}

static void check_estop(const struct sim *s, modbus_t *ctx)
{
    (void)s;
    ck_assert_int_ge(wait_bit(ctx, 'd', REGMAP_DI_ESTOP_OK, 0, 2000), 0);
    ck_assert_int_ge(wait_bit(ctx, 'd', REGMAP_DI_PLANT_READY, 0, 2000), 0);
}

static void check_guard_open(const struct sim *s, modbus_t *ctx)
{
    (void)s;
    ck_assert_int_ge(wait_bit(ctx, 'd', REGMAP_DI_GUARD_CLOSED, 0, 2000), 0);
}

static void check_weather(const struct sim *s, modbus_t *ctx)
{
    (void)s;
    ck_assert_int_ge(wait_reg(ctx, 'i', REGMAP_IR_WIND, 150, 150, 2000), 0);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_RAIN), 1);
}

/* The image stays as it was at injection, the heartbeat echo with it, which is how a
 * controller can tell (that the plant goes on acting on writes: test_plant). */
static void check_image_frozen(const struct sim *s, modbus_t *ctx)
{
    int echo = read_reg(ctx, 'i', REGMAP_IR_HEARTBEAT_ECHO);
    beat(ctx);
    beat(ctx);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_HEARTBEAT_ECHO), echo);
    ctl(s, "{\"cmd\":\"inject\",\"fault\":\"guard_open\"}");
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_GUARD_CLOSED), 1);
    ctl(s, "{\"cmd\":\"clear\",\"fault\":\"image_frozen\"}");
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_GUARD_CLOSED), 0);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_HEARTBEAT_ECHO), heartbeat);
    ctl(s, "{\"cmd\":\"clear\",\"fault\":\"guard_open\"}");
}

static const struct fault_case fault_cases[] = {
    { "axis_jam", "{\"cmd\":\"inject\",\"fault\":\"axis_jam\",\"a\":0}", check_axis_jam },
    { "sensor_stuck DI", "{\"cmd\":\"inject\",\"fault\":\"sensor_stuck\",\"a\":\"di\",\"b\":29,\"value\":1}", check_sensor_stuck_di },
    { "sensor_stuck IR", "{\"cmd\":\"inject\",\"fault\":\"sensor_stuck\",\"a\":\"ir\",\"b\":7,\"value\":123}", check_sensor_stuck_ir },
    { "gripper_no_close", "{\"cmd\":\"inject\",\"fault\":\"gripper_no_close\",\"a\":0}", check_gripper_no_close },
    { "actuator_stuck", "{\"cmd\":\"inject\",\"fault\":\"actuator_stuck\",\"a\":\"clamp\"}", check_actuator_stuck },
    { "charger", "{\"cmd\":\"inject\",\"fault\":\"charger\",\"a\":0}", check_charger },
    { "overtemp", "{\"cmd\":\"inject\",\"fault\":\"overtemp\",\"a\":0,\"value\":60}", check_overtemp },
    { "tag_unreadable", "{\"cmd\":\"inject\",\"fault\":\"tag_unreadable\",\"a\":0}", check_tag_unreadable },
    { "estop", "{\"cmd\":\"inject\",\"fault\":\"estop\"}", check_estop },
    { "guard_open", "{\"cmd\":\"inject\",\"fault\":\"guard_open\"}", check_guard_open },
    { "weather", "{\"cmd\":\"inject\",\"fault\":\"weather\",\"b\":1,\"value\":15}", check_weather },
    { "image_frozen", "{\"cmd\":\"inject\",\"fault\":\"image_frozen\"}", check_image_frozen },
};

START_TEST(plant_fault_is_observable_over_modbus)
{
    const struct fault_case *fc = &fault_cases[_i];
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    if (strcmp(fc->name, "axis_jam") == 0)
        home_x(ctx);
    ctl(&s, fc->inject);
    fc->check(&s, ctx);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

START_TEST(every_plant_fault_kind_has_a_case)
{
    /* A fault kind added to the plant without a case here fails this test. */
    struct sim s;
    sim_start(&s, NULL);
    json_t *j = ctl_raw(&s, "{\"cmd\":\"inject\",\"fault\":\"no_such_fault\"}");
    ck_assert(json_is_false(json_object_get(j, "ok")));
    const char *err = json_string_value(json_object_get(j, "error"));
    for (int k = SIM_FAULT_NONE + 1; k < SIM_FAULT_COUNT; k++) {
        const char *name = sim_fault_name((enum sim_fault_kind)k);
        bool found = false;
        for (size_t i = 0; i < sizeof fault_cases / sizeof fault_cases[0]; i++)
            found |= strncmp(fault_cases[i].name, name, strlen(name)) == 0;
        ck_assert_msg(found, "no test case for fault %s", name);
        /* The error reply lists the known faults. */
        ck_assert_msg(strstr(err, name), "%s not in \"%s\"", name, err);
    }
    json_decref(j);
    sim_stop(&s);
}
END_TEST

START_TEST(fault_option_injects_at_start)
{
    struct sim s;
    const char *extra[] = { "--fault", "{\"fault\":\"estop\"}", "--fault", "weather,b=1,value=15", NULL };
    sim_start(&s, extra);
    modbus_t *ctx = mb_open(s.port);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_ESTOP_OK), 0);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_WIND), 150);
    ctl(&s, "{\"cmd\":\"clear\",\"fault\":\"estop\"}");
    ck_assert_int_ge(wait_bit(ctx, 'd', REGMAP_DI_ESTOP_OK, 1, 2000), 0);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

/* ---- server faults --------------------------------------------------------------------------- */

START_TEST(reply_delay_is_measurable)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    uint16_t v[12];
    long long t0 = proc_now_ms();
    ck_assert_int_eq(modbus_read_input_registers(ctx, 0, 12, v), 12);
    long long fast = proc_now_ms() - t0;
    ctl(&s, "{\"cmd\":\"inject\",\"fault\":\"reply_delay\",\"value\":250}");
    t0 = proc_now_ms();
    ck_assert_int_eq(modbus_read_input_registers(ctx, 0, 12, v), 12);
    long long slow = proc_now_ms() - t0;
    ck_assert_msg(slow >= 245 && slow < 1500, "delayed reply took %lld ms (undelayed %lld)", slow, fast);
    ctl(&s, "{\"cmd\":\"clear\",\"fault\":\"reply_delay\"}");
    t0 = proc_now_ms();
    ck_assert_int_eq(modbus_read_input_registers(ctx, 0, 12, v), 12);
    ck_assert_int_lt(proc_now_ms() - t0, 200);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

START_TEST(silent_server_times_the_client_out)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    modbus_set_response_timeout(ctx, 0, 300000);
    uint16_t v;
    ctl(&s, "{\"cmd\":\"inject\",\"fault\":\"silent\"}");
    ck_assert_int_eq(modbus_read_input_registers(ctx, REGMAP_IR_MAP_VERSION, 1, &v), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ctl(&s, "{\"cmd\":\"clear\"}");
    /* A fresh connection: the old one may still hold the late, unanswered exchange. */
    mb_close(ctx);
    ctx = mb_open(s.port);
    ck_assert_int_eq(modbus_read_input_registers(ctx, REGMAP_IR_MAP_VERSION, 1, &v), 1);
    ck_assert_int_eq(v, REGMAP_VERSION);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* True if the server closes fd within timeout_ms (recv sees EOF or a reset). */
static bool closed_by_server(int fd, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    char buf[300];
    while (proc_now_ms() < end) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) == 1) {
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r <= 0)
                return true;
        }
    }
    return false;
}

START_TEST(drop_connections_closes_every_client)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    int raw = tcp_connect(s.port);
    uint16_t v;
    ck_assert_int_eq(modbus_read_input_registers(ctx, 0, 1, &v), 1);
    json_t *j = ctl_ok(&s, "{\"cmd\":\"inject\",\"fault\":\"drop_connections\"}");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "dropped")), 2);
    json_decref(j);
    ck_assert(closed_by_server(raw, 2000));
    ck_assert_int_eq(modbus_read_input_registers(ctx, 0, 1, &v), -1);
    close(raw);
    /* New connections are welcome again. */
    mb_close(ctx);
    ctx = mb_open(s.port);
    ck_assert_int_eq(modbus_read_input_registers(ctx, 0, 1, &v), 1);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

/* ---- exceptions ------------------------------------------------------------------------------ */

START_TEST(out_of_map_read_is_illegal_address)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    uint16_t regs[4];
    uint8_t bits[4];
    ck_assert_int_eq(modbus_read_input_registers(ctx, REGMAP_IR_COUNT(8), 1, regs), -1);
    ck_assert_int_eq(errno, EMBXILADD);
    /* A block that starts inside and runs past the end. */
    ck_assert_int_eq(modbus_read_input_registers(ctx, REGMAP_IR_COUNT(8) - 2, 4, regs), -1);
    ck_assert_int_eq(errno, EMBXILADD);
    ck_assert_int_eq(modbus_read_input_bits(ctx, 60000, 4, bits), -1);
    ck_assert_int_eq(errno, EMBXILADD);
    ck_assert_int_eq(modbus_read_registers(ctx, 65535, 1, regs), -1);
    ck_assert_int_eq(errno, EMBXILADD);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

START_TEST(out_of_map_write_is_illegal_address)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    ck_assert_int_eq(modbus_write_bit(ctx, 4000, 1), -1);
    ck_assert_int_eq(errno, EMBXILADD);
    ck_assert_int_eq(modbus_write_register(ctx, 4000, 1), -1);
    ck_assert_int_eq(errno, EMBXILADD);
    uint16_t two[2] = { 1, 1 };
    ck_assert_int_eq(modbus_write_registers(ctx, REGMAP_HR_COUNT(8) - 1, 2, two), -1);
    ck_assert_int_eq(errno, EMBXILADD);
    /* All-or-nothing: the register inside the map did not change either. */
    ck_assert_int_eq(read_reg(ctx, 'h', REGMAP_HR_COUNT(8) - 1), 0);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

START_TEST(out_of_range_write_is_illegal_value_and_changes_nothing)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    write_reg(ctx, REGMAP_HR_X_TARGET, 1234);
    ck_assert_int_eq(modbus_write_register(ctx, REGMAP_HR_X_TARGET, 6001), -1);
    ck_assert_int_eq(errno, EMBXILVAL);
    ck_assert_int_eq(read_reg(ctx, 'h', REGMAP_HR_X_TARGET), 1234);
    /* FC 16 with one bad value among good ones changes none of them. */
    uint16_t vals[3] = { 100, 200, 99 };   /* HR_X_TARGET, HR_Z_TARGET, HR_CAROUSEL_TARGET */
    ck_assert_int_eq(modbus_write_registers(ctx, REGMAP_HR_X_TARGET, 3, vals), -1);
    ck_assert_int_eq(errno, EMBXILVAL);
    ck_assert_int_eq(read_reg(ctx, 'h', REGMAP_HR_X_TARGET), 1234);
    ck_assert_int_eq(read_reg(ctx, 'h', REGMAP_HR_Z_TARGET), 0);
    ck_assert_int_eq(modbus_write_register(ctx, REGMAP_HR_SLOT_ADDR(0, REGMAP_HR_SLOT_CHARGER_MODE), 3), -1);
    ck_assert_int_eq(errno, EMBXILVAL);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

/* The reserved addresses between the general and the per-slot parts (docs/register-map.md)
 * are valid addresses: they read 0, take 0, and refuse any other value as an illegal
 * value; the carousel target takes only the slots the plant has. */
START_TEST(reserved_addresses_read_zero_and_take_only_zero)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    uint16_t regs[8];
    uint8_t bits[2] = { 1, 1 };
    ck_assert_int_eq(modbus_read_input_registers(ctx, 12, 4, regs), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(regs[i], 0);
    ck_assert_int_eq(modbus_read_input_bits(ctx, 30, 2, bits), 2);
    ck_assert_uint_eq(bits[0] | bits[1], 0);
    ck_assert_int_eq(modbus_read_registers(ctx, 4, 4, regs), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(regs[i], 0);
    ck_assert_int_eq(modbus_write_register(ctx, 4, 0), 1);
    ck_assert_int_eq(modbus_write_register(ctx, 4, 1), -1);
    ck_assert_int_eq(errno, EMBXILVAL);
    ck_assert_int_eq(read_reg(ctx, 'h', 4), 0);
    ck_assert_int_eq(modbus_write_register(ctx, REGMAP_HR_CAROUSEL_TARGET, 7), 1);
    ck_assert_int_eq(modbus_write_register(ctx, REGMAP_HR_CAROUSEL_TARGET, 8), -1);
    ck_assert_int_eq(errno, EMBXILVAL);
    ck_assert_int_eq(read_reg(ctx, 'h', REGMAP_HR_CAROUSEL_TARGET), 7);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

START_TEST(every_supported_function_code_works)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    uint8_t bits[48];
    uint16_t regs[96];
    ck_assert_int_eq(modbus_read_input_bits(ctx, 0, REGMAP_DI_COUNT(8), bits), REGMAP_DI_COUNT(8));  /* 2 */
    ck_assert_int_eq(bits[REGMAP_DI_ESTOP_OK], 1);
    ck_assert_int_eq(modbus_read_input_registers(ctx, 0, REGMAP_IR_COUNT(8), regs), REGMAP_IR_COUNT(8)); /* 4 */
    ck_assert_int_eq(regs[REGMAP_IR_N_SLOTS], 8);
    ck_assert_int_eq(regs[REGMAP_IR_MAP_VERSION], REGMAP_VERSION);
    ck_assert_int_eq(modbus_write_bit(ctx, REGMAP_CO_LIGHT_GREEN, 1), 1);                         /* 5 */
    uint8_t co[3] = { 0, 1, 1 };
    ck_assert_int_eq(modbus_write_bits(ctx, REGMAP_CO_LIGHT_GREEN, 3, co), 3);                   /* 15 */
    ck_assert_int_eq(modbus_read_bits(ctx, REGMAP_CO_LIGHT_GREEN, 3, bits), 3);                  /* 1 */
    ck_assert(bits[0] == 0 && bits[1] == 1 && bits[2] == 1);
    ck_assert_int_eq(modbus_write_register(ctx, REGMAP_HR_Z_TARGET, 700), 1);                    /* 6 */
    uint16_t hr[2] = { 4000, 500 };
    ck_assert_int_eq(modbus_write_registers(ctx, REGMAP_HR_X_TARGET, 2, hr), 2);                /* 16 */
    ck_assert_int_eq(modbus_read_registers(ctx, REGMAP_HR_X_TARGET, 2, regs), 2);               /* 3 */
    ck_assert(regs[0] == 4000 && regs[1] == 500);
    uint16_t w = 42;
    ck_assert_int_eq(modbus_write_and_read_registers(ctx, REGMAP_HR_HEARTBEAT, 1, &w, 0, 3, regs), 3); /* 23 */
    ck_assert(regs[0] == 42 && regs[1] == 4000 && regs[2] == 500);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

START_TEST(unsupported_function_is_illegal_function)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx = mb_open(s.port);
    const uint8_t fcs[] = { 0x07, 0x11, 0x16, 0x2B, 0x41 };
    for (size_t i = 0; i < sizeof fcs; i++) {
        uint8_t req[] = { 1, fcs[i], 0, 0, 0, 1 };
        uint8_t rsp[MODBUS_TCP_MAX_ADU_LENGTH];
        ck_assert_int_gt(modbus_send_raw_request(ctx, req, sizeof req), 0);
        /* The raw confirmation is the exception frame itself: MBAP, unit, FC|0x80, code. */
        ck_assert_int_eq(modbus_receive_confirmation(ctx, rsp), 9);
        ck_assert_int_eq(rsp[7], fcs[i] | 0x80);
        ck_assert_msg(rsp[8] == MODBUS_EXCEPTION_ILLEGAL_FUNCTION, "FC 0x%02x: code %d", fcs[i], rsp[8]);
    }
    uint16_t v;
    ck_assert_int_eq(modbus_read_input_registers(ctx, 0, 1, &v), 1);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

/* ---- hostile clients ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint8_t bytes[16];
    size_t len;
    bool closes;       /* the server must hang up on this client */
} abuse[] = {
    { "garbage", "GET / HTTP/1.0\r\n", 16, true },
    { "half frame", { 0, 1, 0, 0, 0, 6, 1, 4, 0 }, 9, true },          /* closed after the byte timeout */
    { "MBAP length 0", { 0, 1, 0, 0, 0, 0, 1, 4, 0, 0, 0, 1 }, 12, true },
    { "MBAP length 1", { 0, 1, 0, 0, 0, 1, 1, 4, 0, 0, 0, 1 }, 12, true },
    { "MBAP length 255", { 0, 1, 0, 0, 0, 255, 1, 4, 0, 0, 0, 1 }, 12, true },
    { "MBAP length 300", { 0, 1, 0, 0, 1, 44, 1, 4, 0, 0, 0, 1 }, 12, true },
    { "protocol id 1", { 0, 1, 0, 1, 0, 6, 1, 4, 0, 0, 0, 1 }, 12, true },
    { "FC 3 without data", { 0, 1, 0, 0, 0, 2, 1, 3 }, 8, false },        /* exception, stays */
    { "FC 16 byte count lies", { 0, 1, 0, 0, 0, 9, 1, 16, 0, 1, 0, 2, 200, 0, 5 }, 15, false },
};

START_TEST(hostile_bytes_do_not_stall_other_clients)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *good = mb_open(s.port);
    int raw = tcp_connect(s.port);
    ck_assert_int_eq(send(raw, abuse[_i].bytes, abuse[_i].len, 0), (ssize_t)abuse[_i].len);

    /* The other client is served at once, also while the bad one sits there. */
    uint16_t v;
    for (int k = 0; k < 5; k++) {
        long long t0 = proc_now_ms();
        ck_assert_int_eq(modbus_read_input_registers(good, REGMAP_IR_MAP_VERSION, 1, &v), 1);
        ck_assert_msg(proc_now_ms() - t0 < 200, "%s: good client waited %lld ms", abuse[_i].name,
                      proc_now_ms() - t0);
    }
    if (abuse[_i].closes) {
        ck_assert_msg(closed_by_server(raw, 3000), "%s: server kept the connection", abuse[_i].name);
    } else {
        uint8_t rsp[32];
        struct pollfd p = { raw, POLLIN, 0 };
        ck_assert_int_eq(poll(&p, 1, 2000), 1);
        ssize_t r = recv(raw, rsp, sizeof rsp, 0);
        ck_assert_int_eq(r, 9);                      /* MBAP + unit + FC|0x80 + code */
        ck_assert_int_eq(rsp[7], abuse[_i].bytes[7] | 0x80);
        ck_assert_int_eq(rsp[8], MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
    }
    close(raw);
    ck_assert(proc_alive(s.pid));
    modbus_t *fresh = mb_open(s.port);
    ck_assert_int_eq(modbus_read_input_registers(fresh, REGMAP_IR_MAP_VERSION, 1, &v), 1);
    mb_close(fresh);
    mb_close(good);
    sim_stop(&s);
}
END_TEST

/* Reads one whole Modbus TCP reply from fd; returns its length or -1. */
static int read_reply(int fd, uint8_t *buf, size_t size)
{
    size_t n = 0, want = 6;
    while (n < want) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 2000) != 1)
            return -1;
        ssize_t r = recv(fd, buf + n, want - n, 0);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        if (n == 6) {
            want = 6 + (size_t)(buf[4] << 8 | buf[5]);
            if (want > size)
                return -1;
        }
    }
    return (int)n;
}

START_TEST(random_well_framed_requests_always_get_a_reply)
{
    struct sim s;
    sim_start(&s, NULL);
    int fd = tcp_connect(s.port);
    struct sim_rng rng;
    sim_rng_seed(&rng, 2024);
    static const uint8_t fcs[] = { 1, 2, 3, 4, 5, 6, 15, 16, 23 };
    for (int i = 0; i < 3000; i++) {
        uint8_t req[260];
        size_t dlen = sim_rng_below(&rng, 4) == 0 ? sim_rng_below(&rng, 253) : sim_rng_below(&rng, 12);
        uint8_t fc = sim_rng_below(&rng, 8) == 0 ? (uint8_t)sim_rng_below(&rng, 256)
                                                  : fcs[sim_rng_below(&rng, sizeof fcs)];
        req[0] = (uint8_t)(i >> 8);
        req[1] = (uint8_t)i;
        req[2] = req[3] = 0;
        req[4] = (uint8_t)((dlen + 2) >> 8);
        req[5] = (uint8_t)(dlen + 2);
        req[6] = (uint8_t)sim_rng_below(&rng, 256);
        req[7] = fc;
        for (size_t k = 0; k < dlen; k++)   /* small values are likelier to hit the map */
            req[8 + k] = (uint8_t)(sim_rng_below(&rng, 2) ? sim_rng_below(&rng, 4) : sim_rng_below(&rng, 256));
        ck_assert_int_eq(send(fd, req, 8 + dlen, MSG_NOSIGNAL), (ssize_t)(8 + dlen));
        uint8_t rsp[260];
        int n = read_reply(fd, rsp, sizeof rsp);
        ck_assert_msg(n >= 9, "request %d (FC %u, %zu data bytes): no reply", i, fc, dlen);
        ck_assert_int_eq(rsp[0] << 8 | rsp[1], i & 0xFFFF);
        ck_assert_int_eq(rsp[6], req[6]);
        ck_assert((rsp[7] & 0x7F) == (fc & 0x7F));
    }
    close(fd);
    ck_assert(proc_alive(s.pid));
    sim_stop(&s);
}
END_TEST

START_TEST(client_beyond_the_limit_is_closed_others_stay)
{
    struct sim s;
    sim_start(&s, NULL);
    modbus_t *ctx[32];
    uint16_t v;
    for (int i = 0; i < 32; i++) {
        ctx[i] = mb_open(s.port);
        ck_assert_int_eq(modbus_read_input_registers(ctx[i], 0, 1, &v), 1);
    }
    int extra = tcp_connect(s.port);
    ck_assert(closed_by_server(extra, 2000));
    close(extra);
    for (int i = 0; i < 32; i++) {
        ck_assert_int_eq(modbus_read_input_registers(ctx[i], 0, 1, &v), 1);
        mb_close(ctx[i]);
    }
    sim_stop(&s);
}
END_TEST

/* ---- several clients ------------------------------------------------------------------------- */

struct scanner {
    int port, scans, errors;
};

/* The controller's scan: DI block, IR block, CO block, HR block. */
static void *scan_loop(void *arg)
{
    struct scanner *sc = arg;
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", sc->port);
    modbus_set_response_timeout(ctx, 2, 0);
    if (modbus_connect(ctx) != 0) {
        sc->errors = -1;
        modbus_free(ctx);
        return NULL;
    }
    uint8_t di[48], co[16] = { 0 };
    uint16_t ir[96], hr[16] = { 0 };
    for (int i = 0; i < sc->scans; i++) {
        hr[REGMAP_HR_HEARTBEAT] = (uint16_t)i;
        co[REGMAP_CO_LIGHT_GREEN] = (uint8_t)(i & 1);
        if (modbus_read_input_bits(ctx, 0, REGMAP_DI_COUNT(8), di) != REGMAP_DI_COUNT(8) ||
            modbus_read_input_registers(ctx, 0, REGMAP_IR_COUNT(8), ir) != REGMAP_IR_COUNT(8) ||
            modbus_write_bits(ctx, 0, REGMAP_CO_COUNT, co) != REGMAP_CO_COUNT ||
            modbus_write_registers(ctx, 0, REGMAP_HR_COUNT(8), hr) != REGMAP_HR_COUNT(8) ||
            ir[REGMAP_IR_MAP_VERSION] != REGMAP_VERSION)
            sc->errors++;
    }
    modbus_close(ctx);
    modbus_free(ctx);
    return NULL;
}

static void run_scanners(int port, int n, int scans)
{
    pthread_t th[8];
    struct scanner sc[8];
    for (int i = 0; i < n; i++) {
        sc[i] = (struct scanner){ port, scans, 0 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, scan_loop, &sc[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(sc[i].errors == 0, "client %d: %d failed scans", i, sc[i].errors);
    }
}

START_TEST(four_clients_are_served_at_once)
{
    struct sim s;
    sim_start(&s, NULL);
    long long p0 = plant_ms(&s), w0 = proc_now_ms();
    run_scanners(s.port, 4, 200);
    long long p1 = plant_ms(&s), w1 = proc_now_ms();
    /* The physics keeps pace with the clock while the clients hammer the server. */
    ck_assert_msg(p1 - p0 >= (w1 - w0) * 9 / 10 - 20, "plant advanced %lld ms in %lld ms wall",
                  p1 - p0, w1 - w0);
    json_t *j = ctl_ok(&s, "{\"cmd\":\"status\"}");
    ck_assert_int_ge(json_integer_value(json_object_get(j, "requests")), 4 * 200 * 4);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "exceptions")), 0);
    json_decref(j);
    sim_stop(&s);
}
END_TEST

START_TEST(serves_clients_on_fds_above_1023)
{
    /* Hold fds 3..1100 open so that swapsim (which inherits them) gets socket numbers
     * that select() could not watch. */
    int held[1100];
    int n = 0;
    int fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0 && fd < 1100)
        held[n++] = fd;
    ck_assert_msg(fd >= 1100, "cannot open enough fds (ulimit -n)");
    held[n++] = fd;
    struct sim s;
    sim_start(&s, NULL);
    for (int i = 0; i < n; i++)
        close(held[i]);
    run_scanners(s.port, 4, 50);
    sim_stop(&s);
}
END_TEST

START_TEST(watchdog_trips_when_heartbeat_stops)
{
    struct sim s;
    sim_start(&s, NULL);
    struct plantcfg cfg;
    plantcfg_defaults(&cfg);
    modbus_t *ctx = mb_open(s.port);
    /* The watchdog arms at the first heartbeat change; home_x keeps it fed. Then the
     * controller "dies" with axis X in the middle of a long move. */
    home_x(ctx);
    write_reg(ctx, REGMAP_HR_X_TARGET, 6000);
    write_coil(ctx, REGMAP_CO_X_ENABLE, 1);
    ck_assert_int_ge(wait_reg(ctx, 'i', REGMAP_IR_X_POS, 300, 6000, 3000), 0);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_WATCHDOG_TRIPPED), 0);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_HEARTBEAT_ECHO), heartbeat);
    long long stopped = proc_now_ms();
    uint8_t v = 0;
    while (v == 0 && proc_now_ms() - stopped < 5000) {
        ck_assert_int_eq(modbus_read_input_bits(ctx, REGMAP_DI_WATCHDOG_TRIPPED, 1, &v), 1);
        if (!v)
            proc_nap_ms(5);
    }
    long long took = proc_now_ms() - stopped;
    ck_assert_msg(v == 1, "watchdog never tripped");
    ck_assert_msg(took >= cfg.watchdog_ms - 50, "tripped after %lld ms, watchdog is %d ms", took, cfg.watchdog_ms);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_PLANT_FAULT), PF_WATCHDOG);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_PLANT_READY), 0);
    /* All motion stops by itself: the axis comes to rest short of its target. */
    long long t1 = proc_now_ms();
    while (read_reg(ctx, 'i', REGMAP_IR_X_VEL) != 0 && proc_now_ms() - t1 < 3000)
        proc_nap_ms(5);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_X_VEL), 0);
    int rest = read_reg(ctx, 'i', REGMAP_IR_X_POS);
    ck_assert_int_lt(rest, 5900);
    proc_nap_ms(300);
    ck_assert_int_eq(read_reg(ctx, 'i', REGMAP_IR_X_POS), rest);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

/* ---- configuration, options, signals -------------------------------------------------------- */

static int run_to_exit(const char *const *argv, const char *log, int timeout_ms)
{
    pid_t pid = proc_spawn((char *const *)argv, log);
    long long end = proc_now_ms() + timeout_ms;
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (proc_now_ms() > end) {
            proc_kill_wait(pid, SIGKILL);
            ck_abort_msg("%s did not exit", argv[0]);
        }
        proc_nap_ms(5);
    }
    return status;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

START_TEST(broken_config_exits_2_with_file_and_line)
{
    char dir[256], ini[300], log[300], bin[512];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swapsim-cfg"), 0);
    snprintf(ini, sizeof ini, "%s/bad.ini", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    FILE *f = fopen(ini, "w");
    fputs("[magazine]\nslots = 0\n", f);
    fclose(f);
    const char *argv[] = { proc_bin("swapsim", bin, sizeof bin), "--config", ini, "--port", "0", NULL };
    int status = run_to_exit(argv, log, 5000);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    char *out = slurp(log);
    char want[400];
    snprintf(want, sizeof want, "%s:2:", ini);
    ck_assert_msg(strstr(out, want) && strstr(out, "out of range"), "stderr: %s", out);
    free(out);
    proc_rmtree(dir);
}
END_TEST

START_TEST(bad_options_exit_2)
{
    char bin[512], dir[256], log[300];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swapsim-opt"), 0);
    snprintf(log, sizeof log, "%s/log", dir);
    const char *cases[][4] = {
        { "--port", "70000", NULL, NULL },
        { "--realtime-factor", "0", NULL, NULL },
        { "--fault", "no_such_fault", NULL, NULL },
        { "--fault", "{\"fault\":\"axis_jam\",\"a\":7}", NULL, NULL },
        { "--fault", "axis_jam,a=1e30", NULL, NULL },
        { "--fault", "weather,value=x", NULL, NULL },
        { "--bind", "localhost.invalid", "--port", "0" },
        { "--send", "{}", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cfg[512];
        /* A valid config and port, so that only the case's own option can be wrong. */
        const char *argv[12] = { proc_bin("swapsim", bin, sizeof bin), "--config",
                                 proc_config("plant.ini", cfg, sizeof cfg), "--port", "0" };
        for (int k = 0; k < 4 && cases[i][k]; k++)
            argv[k + 5] = cases[i][k];
        int status = run_to_exit(argv, log, 5000);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "%s %s accepted", cases[i][0], cases[i][1]);
        if (strcmp(cases[i][0], "--bind") != 0 && strcmp(cases[i][0], "--send") != 0)
            ck_assert_int_eq(WEXITSTATUS(status), 2);
    }
    proc_rmtree(dir);
}
END_TEST

START_TEST(sigint_stops_cleanly_and_removes_the_socket)
{
    struct sim s;
    sim_start(&s, NULL);
    int status = proc_kill_wait(s.pid, SIGINT);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    struct stat st;
    ck_assert_int_ne(stat(s.ctl, &st), 0);
    proc_rmtree(s.dir);
}
END_TEST

/* ---- control socket ------------------------------------------------------------------------- */

START_TEST(bad_control_requests_get_errors_and_change_nothing)
{
    struct sim s;
    sim_start(&s, NULL);
    const char *bad[] = {
        "not json", "[1,2]", "{}", "{\"cmd\":5}", "{\"cmd\":\"fly\"}",
        "{\"cmd\":\"inject\"}", "{\"cmd\":\"inject\",\"fault\":\"estop\",\"bogus\":1}",
        "{\"cmd\":\"inject\",\"fault\":\"axis_jam\",\"a\":9}",
        "{\"cmd\":\"inject\",\"fault\":\"reply_delay\",\"value\":-1}",
        "{\"cmd\":\"drone_land\",\"battery\":{\"tag\":1}}",
        "{\"cmd\":\"drone_land\",\"battery\":7}",
        "{\"cmd\":\"drone_load\",\"current_a\":\"x\"}",
        "{\"cmd\":\"drone_takeoff\"}",
        "{\"cmd\":\"log\",\"from\":-1}",
        "{\"cmd\":\"set_battery\",\"tag\":1}",
        "{\"cmd\":\"cmd\",\"cmd\":\"status\"}",
        "{\"cmd\":\"status\",\"\":1}",
        "{\"cmd\":\"inject\",\"fault\":\"\"}",
        "{\"cmd\":\"clear\",\"fault\":\"nope\"}",
        "{\"cmd\":\"inject\",\"fault\":\"weather\",\"value\":1e999}",
        "{\"cmd\":\"inject\",\"fault\":\"weather\",\"a\":1.5}",
        "{\"cmd\":\"set_battery\",\"tag\":\"0x5A000001\",\"soh\":\"high\"}",
        "{\"cmd\":\"set_battery\",\"tag\":\"0x5A000001\"}", /* sets nothing */
        "\"status\"",
        "{\"cmd\":\"status\"} trailing",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = ctl_raw(&s, bad[i]);
        ck_assert_msg(json_is_false(json_object_get(j, "ok")), "accepted: %s", bad[i]);
        ck_assert_msg(json_string_length(json_object_get(j, "error")) > 0, "no reason for %s", bad[i]);
        json_decref(j);
    }
    json_t *t = ctl_ok(&s, "{\"cmd\":\"truth\"}");
    ck_assert(json_is_false(json_object_get(t, "drone_present")));
    ck_assert_int_eq(json_integer_value(json_object_get(t, "plant_fault")), 0);
    json_decref(t);
    modbus_t *ctx = mb_open(s.port);
    ck_assert_int_eq(read_bit(ctx, 'd', REGMAP_DI_ESTOP_OK), 1);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

START_TEST(over_long_control_line_is_refused_and_connection_keeps_working)
{
    struct sim s;
    sim_start(&s, NULL);
    int fd = ctl_connect(&s);
    size_t big = 200000;
    char *line = malloc(big + 1);
    memset(line, 'x', big);
    line[big] = '\n';
    size_t off = 0;
    while (off < big + 1) {
        ssize_t w = send(fd, line + off, big + 1 - off, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        off += (size_t)w;
    }
    free(line);
    char *rep = ctl_read_line(fd);
    ck_assert_ptr_nonnull(rep);
    ck_assert_ptr_nonnull(strstr(rep, "longer than"));
    free(rep);
    const char *st = "{\"cmd\":\"status\"}\n";
    ck_assert_int_eq(send(fd, st, strlen(st), 0), (ssize_t)strlen(st));
    rep = ctl_read_line(fd);
    ck_assert_ptr_nonnull(rep);
    ck_assert_ptr_nonnull(strstr(rep, "\"ok\":true"));
    free(rep);
    close(fd);
    sim_stop(&s);
}
END_TEST

START_TEST(pipelined_control_requests_get_replies_in_order)
{
    struct sim s;
    sim_start(&s, NULL);
    int fd = ctl_connect(&s);
    const char *req = "{\"cmd\":\"help\"}\n{\"cmd\":\"bad\"}\r\n\n{\"cmd\":\"status\"}\n";
    ck_assert_int_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    char buf[8192];
    size_t n = 0;
    int lines = 0;
    while (lines < 3 && n < sizeof buf - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        ck_assert_int_eq(poll(&p, 1, 5000), 1);
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        ck_assert_int_gt(r, 0);
        for (ssize_t k = 0; k < r; k++)
            lines += buf[n + (size_t)k] == '\n';
        n += (size_t)r;
    }
    buf[n] = 0;
    /* Three requests (the blank line is none), three replies, in order. */
    char *l2 = strchr(buf, '\n') + 1;
    char *l3 = strchr(l2, '\n') + 1;
    ck_assert_int_eq(lines, 3);
    ck_assert_ptr_nonnull(strstr(buf, "\"commands\""));
    ck_assert(strncmp(l2, "{\"ok\":false,", 12) == 0);
    ck_assert_ptr_nonnull(strstr(l3, "\"plant_ms\""));
    close(fd);
    sim_stop(&s);
}
END_TEST

START_TEST(control_clients_are_served_independently)
{
    struct sim s;
    sim_start(&s, NULL);
    int a = ctl_connect(&s), b = ctl_connect(&s);
    const char *half = "{\"cmd\":\"sta";
    ck_assert_int_eq(send(a, half, strlen(half), 0), (ssize_t)strlen(half));
    const char *req = "{\"cmd\":\"status\"}\n";
    ck_assert_int_eq(send(b, req, strlen(req), 0), (ssize_t)strlen(req));
    char *rb = ctl_read_line(b);
    ck_assert_ptr_nonnull(rb);
    ck_assert_ptr_nonnull(strstr(rb, "\"control_clients\":2"));
    free(rb);
    const char *rest = "tus\"}\n";
    ck_assert_int_eq(send(a, rest, strlen(rest), 0), (ssize_t)strlen(rest));
    char *ra = ctl_read_line(a);
    ck_assert_ptr_nonnull(ra);
    ck_assert_ptr_nonnull(strstr(ra, "\"ok\":true"));
    free(ra);
    close(a);
    close(b);
    sim_stop(&s);
}
END_TEST

START_TEST(command_log_records_every_write)
{
    struct sim s;
    char logdir[256], logcmd[300];
    ck_assert_int_eq(proc_mkdtemp(logdir, sizeof logdir, "swapsim-cmdlog"), 0);
    snprintf(logcmd, sizeof logcmd, "%s/commands.log", logdir);
    const char *extra[] = { "--log-commands", logcmd, NULL };
    sim_start(&s, extra);
    modbus_t *ctx = mb_open(s.port);
    write_reg(ctx, REGMAP_HR_X_TARGET, 2500);
    write_coil(ctx, REGMAP_CO_HORN, 1);
    write_reg(ctx, REGMAP_HR_SLOT_ADDR(3, REGMAP_HR_SLOT_CHARGER_MODE), CHARGER_MODE_STORAGE);
    write_reg(ctx, REGMAP_HR_X_TARGET, 2500);     /* no change, no entry */
    json_t *j = ctl_ok(&s, "{\"cmd\":\"log\",\"from\":0}");
    json_t *e = json_object_get(j, "entries");
    ck_assert_int_eq(json_array_size(e), 3);
    json_t *first = json_array_get(e, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "table")), "hr");
    ck_assert_int_eq(json_integer_value(json_object_get(first, "addr")), REGMAP_HR_X_TARGET);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "old")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "new")), 2500);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "next")), 3);
    json_decref(j);
    j = ctl_ok(&s, "{\"cmd\":\"log\",\"from\":3}");
    ck_assert_int_eq(json_array_size(json_object_get(j, "entries")), 0);
    json_decref(j);
    ck_assert_int_eq(proc_wait_text(logcmd, "hr 11 HR_SLOT_CHARGER_MODE[3] 0 2", s.pid, 3000), 0);
    char *text = slurp(logcmd);
    ck_assert_ptr_nonnull(strstr(text, " hr 1 HR_X_TARGET 0 2500\n"));
    ck_assert_ptr_nonnull(strstr(text, " co 15 CO_HORN 0 1\n"));
    free(text);
    mb_close(ctx);
    sim_stop(&s);
    proc_rmtree(logdir);
}
END_TEST

START_TEST(drone_lands_and_takes_off_through_the_pad_interface)
{
    struct sim s;
    sim_start(&s, NULL);
    /* an empty pad is not an error to ask about, and says so */
    json_t *empty = ctl_ok(&s, "{\"cmd\":\"drone_battery\"}");
    ck_assert(json_is_false(json_object_get(empty, "drone")));
    ck_assert(json_is_null(json_object_get(empty, "battery")));
    json_decref(empty);
    struct plantcfg cfg;
    plantcfg_defaults(&cfg);
    struct sim_rng rng;
    sim_rng_seed(&rng, 3);
    struct sim_battery pack;
    sim_battery_init(&pack, &cfg, 0x0D0E0001, 0.3, &rng);
    json_t *pj = sim_battery_to_json(&pack);
    json_t *req = json_pack("{s:s,s:o}", "cmd", "drone_land", "battery", pj);
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    ctl(&s, line);
    free(line);

    json_t *again = ctl_raw(&s, "{\"cmd\":\"drone_land\",\"battery\":null}");
    ck_assert(json_is_false(json_object_get(again, "ok")));
    json_decref(again);

    modbus_t *ctx = mb_open(s.port);
    double mass = cfg.drone_mass_g + cfg.battery_mass_g;
    ck_assert_int_ge(wait_reg(ctx, 'i', REGMAP_IR_LOAD_G, (int)(mass - 50), (int)(mass + 50), 2000), 0);

    json_t *b = ctl_ok(&s, "{\"cmd\":\"drone_battery\"}");
    ck_assert(json_is_true(json_object_get(b, "drone")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(b, "battery"), "tag")), 0x0D0E0001);
    /* every field of the pack is one docs/swapsim.md lists */
    const char *src = getenv("SWAP_SRC");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/swapsim.md", src && *src ? src : ".");
    char *doc = slurp(path);
    ck_assert_ptr_nonnull(doc);
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(b, "battery"), key, val) {
        char cell[64];
        snprintf(cell, sizeof cell, "`%s`", key);
        ck_assert_msg(strstr(doc, cell), "battery field %s not in docs/swapsim.md", key);
    }
    free(doc);
    json_decref(b);
    ctl(&s, "{\"cmd\":\"drone_load\",\"current_a\":2.5}");

    json_t *t = ctl_ok(&s, "{\"cmd\":\"truth\"}");
    ck_assert(json_is_true(json_object_get(t, "drone_present")));
    json_t *bats = json_object_get(t, "batteries");
    bool in_drone = false;
    for (size_t i = 0; i < json_array_size(bats); i++) {
        json_t *x = json_array_get(bats, i);
        if (json_integer_value(json_object_get(x, "tag")) == 0x0D0E0001)
            in_drone = strcmp(json_string_value(json_object_get(x, "place")), "drone") == 0;
    }
    ck_assert(in_drone);
    json_decref(t);

    /* Clamped: the drone cannot leave. */
    write_coil(ctx, REGMAP_CO_CLAMP_LOCK, 1);
    ck_assert_int_ge(wait_bit(ctx, 'd', REGMAP_DI_CLAMP_LOCKED, 1, 3000), 0);
    json_t *held = ctl_raw(&s, "{\"cmd\":\"drone_takeoff\"}");
    ck_assert_str_eq(json_string_value(json_object_get(held, "error")), "clamped");
    json_decref(held);
    write_coil(ctx, REGMAP_CO_CLAMP_LOCK, 0);
    ck_assert_int_ge(wait_bit(ctx, 'd', REGMAP_DI_CLAMP_UNLOCKED, 1, 3000), 0);

    json_t *off = ctl_ok(&s, "{\"cmd\":\"drone_takeoff\"}");
    struct sim_battery back;
    char err[200];
    ck_assert_msg(sim_battery_from_json(json_object_get(off, "battery"), &back, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(back.tag, 0x0D0E0001);
    json_decref(off);
    ck_assert_int_ge(wait_reg(ctx, 'i', REGMAP_IR_LOAD_G, 0, 50, 2000), 0);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

START_TEST(set_battery_ages_a_pack)
{
    struct sim s;
    sim_start(&s, NULL);
    json_t *j = ctl_ok(&s, "{\"cmd\":\"set_battery\",\"tag\":\"0x5A000003\",\"soh\":0.85,\"soc\":0.9}");
    json_decref(j);
    json_t *t = ctl_ok(&s, "{\"cmd\":\"truth\"}");
    json_t *bats = json_object_get(t, "batteries");
    bool found = false;
    for (size_t i = 0; i < json_array_size(bats); i++) {
        json_t *x = json_array_get(bats, i);
        if (json_integer_value(json_object_get(x, "tag")) != 0x5A000003)
            continue;
        found = true;
        ck_assert_double_eq_tol(json_real_value(json_object_get(x, "soh")), 0.85, 1e-6);
        ck_assert_double_eq_tol(json_real_value(json_object_get(x, "soc")), 0.9, 0.01);
        ck_assert_double_gt(json_real_value(json_object_get(x, "efc")), 10);
    }
    ck_assert(found);
    json_decref(t);
    sim_stop(&s);
}
END_TEST

START_TEST(send_mode_prints_the_reply)
{
    struct sim s;
    sim_start(&s, NULL);
    char bin[512], out[300];
    snprintf(out, sizeof out, "%s/send.out", s.dir);
    const char *argv[] = { proc_bin("swapsim", bin, sizeof bin), "--control", s.ctl, "--send",
                           "{\"cmd\":\"status\"}", NULL };
    int status = run_to_exit(argv, out, 5000);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    char *text = slurp(out);
    char want[64];
    snprintf(want, sizeof want, "\"port\":%d", s.port);
    ck_assert_msg(strstr(text, "\"ok\":true") && strstr(text, want), "%s", text);
    free(text);
    const char *bad[] = { argv[0], "--control", s.ctl, "--send", "{\"cmd\":\"nope\"}", NULL };
    status = run_to_exit(bad, out, 5000);
    ck_assert_int_eq(WEXITSTATUS(status), 1);
    sim_stop(&s);
}
END_TEST

/* ---- mbpoll, an independent client ------------------------------------------------------------ */

static char *run_mbpoll(const struct sim *s, const char *const *args)
{
    char out[300], port[16];
    snprintf(out, sizeof out, "%s/mbpoll.out", s->dir);
    unlink(out);
    snprintf(port, sizeof port, "%d", s->port);
    const char *argv[24] = { "/usr/bin/mbpoll", "-m", "tcp", "-a", "1", "-p", port, "-0", "-1" };
    int n = 9;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int status = run_to_exit(argv, out, 10000);
    char *text = slurp(out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "mbpoll failed: %s", text);
    return text;
}

START_TEST(mbpoll_reads_inputs_and_writes_outputs)
{
    if (access("/usr/bin/mbpoll", X_OK) != 0) {
        fprintf(stderr, "mbpoll not installed (make deps); skipped\n");
        return;
    }
    struct sim s;
    sim_start(&s, NULL);
    /* IR 10..11: slot count and map version. */
    const char *rd[] = { "-t", "3", "-r", "10", "-c", "2", "127.0.0.1", NULL };
    char *text = run_mbpoll(&s, rd);
    ck_assert_msg(strstr(text, "[10]: \t8") && strstr(text, "[11]: \t1"), "%s", text);
    free(text);
    /* DI 0: e-stop chain closed. */
    const char *rdi[] = { "-t", "1", "-r", "0", "-c", "3", "127.0.0.1", NULL };
    text = run_mbpoll(&s, rdi);
    ck_assert_msg(strstr(text, "[0]: \t1"), "%s", text);
    free(text);
    /* Coil 12 (tower light green) and HR 1 (X target). */
    const char *wc[] = { "-t", "0", "-r", "12", "127.0.0.1", "1", NULL };
    free(run_mbpoll(&s, wc));
    const char *wr[] = { "-t", "4", "-r", "1", "127.0.0.1", "1234", NULL };
    free(run_mbpoll(&s, wr));
    modbus_t *ctx = mb_open(s.port);
    ck_assert_int_eq(read_bit(ctx, 'c', REGMAP_CO_LIGHT_GREEN), 1);
    ck_assert_int_eq(read_reg(ctx, 'h', REGMAP_HR_X_TARGET), 1234);
    mb_close(ctx);
    sim_stop(&s);
}
END_TEST

static Suite *swapsim_suite(void)
{
    Suite *s = suite_create("swapsim");
    TCase *tc = tcase_create("swapsim");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, client_homes_and_moves_axis_x);
    tcase_add_test(tc, realtime_factor_speeds_up_plant_time);
    tcase_add_loop_test(tc, plant_fault_is_observable_over_modbus, 0,
                        (int)(sizeof fault_cases / sizeof fault_cases[0]));
    tcase_add_test(tc, every_plant_fault_kind_has_a_case);
    tcase_add_test(tc, fault_option_injects_at_start);
    tcase_add_test(tc, reply_delay_is_measurable);
    tcase_add_test(tc, silent_server_times_the_client_out);
    tcase_add_test(tc, drop_connections_closes_every_client);
    tcase_add_test(tc, out_of_map_read_is_illegal_address);
    tcase_add_test(tc, out_of_map_write_is_illegal_address);
    tcase_add_test(tc, out_of_range_write_is_illegal_value_and_changes_nothing);
    tcase_add_test(tc, reserved_addresses_read_zero_and_take_only_zero);
    tcase_add_test(tc, every_supported_function_code_works);
    tcase_add_test(tc, unsupported_function_is_illegal_function);
    tcase_add_loop_test(tc, hostile_bytes_do_not_stall_other_clients, 0, (int)(sizeof abuse / sizeof abuse[0]));
    tcase_add_test(tc, random_well_framed_requests_always_get_a_reply);
    tcase_add_test(tc, client_beyond_the_limit_is_closed_others_stay);
    tcase_add_test(tc, four_clients_are_served_at_once);
    tcase_add_test(tc, serves_clients_on_fds_above_1023);
    tcase_add_test(tc, watchdog_trips_when_heartbeat_stops);
    tcase_add_test(tc, broken_config_exits_2_with_file_and_line);
    tcase_add_test(tc, bad_options_exit_2);
    tcase_add_test(tc, sigint_stops_cleanly_and_removes_the_socket);
    tcase_add_test(tc, bad_control_requests_get_errors_and_change_nothing);
    tcase_add_test(tc, over_long_control_line_is_refused_and_connection_keeps_working);
    tcase_add_test(tc, pipelined_control_requests_get_replies_in_order);
    tcase_add_test(tc, control_clients_are_served_independently);
    tcase_add_test(tc, command_log_records_every_write);
    tcase_add_test(tc, drone_lands_and_takes_off_through_the_pad_interface);
    tcase_add_test(tc, set_battery_ages_a_pack);
    tcase_add_test(tc, send_mode_prints_the_reply);
    tcase_add_test(tc, mbpoll_reads_inputs_and_writes_outputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(swapsim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
