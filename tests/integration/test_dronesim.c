/* dronesim as a real process: the documented station-drone handshake over a socat pty
 * pair, several drones on one link, a signed link, bad arguments. The test plays the
 * station with our codec and serves a minimal pad on a Unix socket (the part of swapsim's
 * control protocol a drone uses), so it can take the pack out and put another one in. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "battery/battery.h"
#include "battery/battery_json.h"
#include "droneproto/dproto.h"
#include "mavlink/mav.h"
#include "plantcfg/plantcfg.h"
#include "proc.h"
#include "transport/link.h"

#define STATION 200
#define SCALE "5" /* simulated ms per wall ms */

/* ---- a minimal pad on a Unix socket -------------------------------------------------- */

struct fakepad {
    char path[108];
    int lfd;
    pthread_t thread;
    pthread_mutex_t mu;
    json_t *bay;                 /* the pack in the drone on the pad, or NULL */
    bool present;
    int lands, takeoffs, battery_polls;
    volatile int stop;
};

static json_t *pad_handle(struct fakepad *p, const json_t *req)
{
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    json_t *rep;
    pthread_mutex_lock(&p->mu);
    if (cmd && strcmp(cmd, "drone_land") == 0) {
        if (p->present) {
            rep = json_pack("{s:b,s:s}", "ok", 0, "error", "pad occupied");
        } else {
            const json_t *b = json_object_get(req, "battery");
            struct sim_battery check;
            char err[256];
            if (b && !json_is_null(b) && sim_battery_from_json(b, &check, err, sizeof err) != 0) {
                rep = json_pack("{s:b,s:s}", "ok", 0, "error", err);
            } else {
                p->present = true;
                json_decref(p->bay);
                p->bay = b && !json_is_null(b) ? json_deep_copy(b) : NULL;
                p->lands++;
                rep = json_pack("{s:b}", "ok", 1);
            }
        }
    } else if (cmd && strcmp(cmd, "drone_takeoff") == 0) {
        if (!p->present) {
            rep = json_pack("{s:b,s:s}", "ok", 0, "error", "no drone on the pad");
        } else {
            rep = json_pack("{s:b,s:O}", "ok", 1, "battery", p->bay ? p->bay : json_null());
            json_decref(p->bay);
            p->bay = NULL;
            p->present = false;
            p->takeoffs++;
        }
    } else if (cmd && strcmp(cmd, "drone_battery") == 0) {
        p->battery_polls++;
        rep = json_pack("{s:b,s:O}", "ok", 1, "battery", p->present && p->bay ? p->bay : json_null());
    } else if (cmd && strcmp(cmd, "drone_load") == 0) {
        rep = json_pack("{s:b}", "ok", 1);
    } else {
        rep = json_pack("{s:b,s:s}", "ok", 0, "error", "unknown command");
    }
    pthread_mutex_unlock(&p->mu);
    return rep;
}

static void *pad_thread(void *arg)
{
    struct fakepad *p = arg;
    while (!p->stop) {
        struct pollfd pf = { .fd = p->lfd, .events = POLLIN };
        if (poll(&pf, 1, 50) <= 0)
            continue;
        int c = accept(p->lfd, NULL, NULL);
        if (c < 0)
            continue;
        char buf[65536];
        size_t len = 0;
        while (!p->stop) {
            struct pollfd cf = { .fd = c, .events = POLLIN };
            if (poll(&cf, 1, 50) <= 0)
                continue;
            ssize_t n = recv(c, buf + len, sizeof buf - 1 - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            char *nl;
            while ((nl = memchr(buf, '\n', len)) != NULL) {
                *nl = '\0';
                json_t *req = json_loads(buf, 0, NULL);
                json_t *rep = req ? pad_handle(p, req) : json_pack("{s:b,s:s}", "ok", 0, "error", "bad json");
                char *text = json_dumps(rep, JSON_COMPACT);
                size_t tl = strlen(text);
                text[tl] = '\n';
                ssize_t w = send(c, text, tl + 1, MSG_NOSIGNAL);
                (void)w;
                free(text);
                json_decref(rep);
                json_decref(req);
                size_t used = (size_t)(nl - buf) + 1;
                memmove(buf, buf + used, len - used);
                len -= used;
            }
        }
        close(c);
    }
    return NULL;
}

static void pad_start(struct fakepad *p, const char *dir)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    int n = snprintf(p->path, sizeof p->path, "%s/pad.sock", dir);
    ck_assert_int_lt(n, (int)sizeof p->path);
    p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(p->lfd, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", p->path);
    ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(p->lfd, 4), 0);
    ck_assert_int_eq(pthread_create(&p->thread, NULL, pad_thread, p), 0);
}

static void pad_stop(struct fakepad *p)
{
    p->stop = 1;
    pthread_join(p->thread, NULL);
    close(p->lfd);
    json_decref(p->bay);
}

static void pad_set_bay(struct fakepad *p, json_t *bay)
{
    pthread_mutex_lock(&p->mu);
    json_decref(p->bay);
    p->bay = bay;
    pthread_mutex_unlock(&p->mu);
}

static int pad_get(struct fakepad *p, const int *field)
{
    pthread_mutex_lock(&p->mu);
    int v = *field;
    pthread_mutex_unlock(&p->mu);
    return v;
}

/* ---- the station played by the test ------------------------------------------------ */

struct station {
    struct link *l;
    struct mav_parser parser;
    struct mav_tx tx;
    struct mav_signing *signing;
    long long next_hb_ms;
    bool send_heartbeats;
};

static void st_send(struct station *s, uint32_t msgid, const void *msg)
{
    uint8_t buf[MAV_MAX_FRAME];
    int n = mav_encode(&s->tx, msgid, msg, buf);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(link_write_all(s->l, buf, (size_t)n, 1000), 0);
}

static void st_heartbeat(struct station *s)
{
    struct dproto_station_status st = { DPROTO_PACKML_EXECUTE, DPROTO_MODE_PRODUCTION,
                                        DPROTO_FLAG_ACCEPTING, 0 };
    struct mav_heartbeat hb;
    dproto_station_heartbeat(&st, &hb);
    st_send(s, MAV_MSG_HEARTBEAT, &hb);
}

/* Next frame within timeout_ms (heartbeats keep going meanwhile). 1, or 0 on timeout. */
static int st_next(struct station *s, struct mav_frame *f, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    for (;;) {
        long long now = proc_now_ms();
        if (s->send_heartbeats && now >= s->next_hb_ms) {
            if (s->signing)
                mav_signing_set_time_unix_us(s->signing, (uint64_t)time(NULL) * 1000000u);
            st_heartbeat(s);
            s->next_hb_ms = now + 150;
        }
        uint8_t b;
        ssize_t n;
        while ((n = link_read(s->l, &b, 1)) == 1)
            if (mav_parser_feed(&s->parser, b, f) == 1)
                return 1;
        if (now >= end)
            return 0;
        struct pollfd pf = { .fd = link_fd(s->l), .events = POLLIN };
        poll(&pf, 1, 20);
    }
}

typedef bool (*frame_pred)(const struct mav_frame *f, const void *arg);

/* Waits for a frame satisfying pred; fails the test on timeout. */
static void st_expect(struct station *s, frame_pred pred, const void *arg, int timeout_ms,
                      struct mav_frame *out, const char *what)
{
    long long end = proc_now_ms() + timeout_ms;
    struct mav_frame f;
    while (proc_now_ms() < end) {
        if (st_next(s, &f, (int)(end - proc_now_ms())) == 1 && pred(&f, arg)) {
            if (out)
                *out = f;
            return;
        }
    }
    ck_abort_msg("timed out waiting for %s", what);
}

struct want_cmd { uint8_t sysid; uint16_t command; };
static bool is_cmd(const struct mav_frame *f, const void *arg)
{
    const struct want_cmd *w = arg;
    struct mav_command_long c;
    return f->msgid == MAV_MSG_COMMAND_LONG && f->sysid == w->sysid && mav_decode(f, &c) == 0 &&
           c.command == w->command;
}

struct want_ack { uint8_t sysid; uint16_t command; uint8_t result; };
static bool is_ack(const struct mav_frame *f, const void *arg)
{
    const struct want_ack *w = arg;
    struct mav_command_ack a;
    return f->msgid == MAV_MSG_COMMAND_ACK && f->sysid == w->sysid && mav_decode(f, &a) == 0 &&
           a.command == w->command && a.result == w->result;
}

struct want_hb { uint8_t sysid; bool armed; };
static bool is_hb(const struct mav_frame *f, const void *arg)
{
    const struct want_hb *w = arg;
    struct mav_heartbeat hb;
    return f->msgid == MAV_MSG_HEARTBEAT && f->sysid == w->sysid && mav_decode(f, &hb) == 0 &&
           dproto_heartbeat_armed(&hb) == w->armed;
}

struct want_landed { uint8_t sysid; uint8_t state; };
static bool is_landed(const struct mav_frame *f, const void *arg)
{
    const struct want_landed *w = arg;
    struct mav_extended_sys_state es;
    return f->msgid == MAV_MSG_EXTENDED_SYS_STATE && f->sysid == w->sysid &&
           mav_decode(f, &es) == 0 && es.landed_state == w->state;
}

struct want_serial { uint8_t sysid; uint32_t tag; };
static bool is_pack_info(const struct mav_frame *f, const void *arg)
{
    const struct want_serial *w = arg;
    struct mav_smart_battery_info si;
    uint32_t tag;
    return f->msgid == MAV_MSG_SMART_BATTERY_INFO && f->sysid == w->sysid &&
           mav_decode(f, &si) == 0 && dproto_parse_pack_serial(si.serial_number, &tag) == 0 &&
           tag == w->tag;
}

static void st_ack_request(struct station *s, uint8_t sysid, enum dproto_reply_kind kind, uint8_t pos)
{
    struct dproto_reply r = { DPROTO_CMD_SWAP_REQUEST, kind, pos, 0 };
    struct mav_command_ack ack;
    dproto_build_ack(&r, sysid, DPROTO_DRONE_COMPID, &ack);
    st_send(s, MAV_MSG_COMMAND_ACK, &ack);
}

static void st_clear_land(struct station *s, uint8_t sysid)
{
    struct dproto_land_clearance c = { 1, 1, 60 };
    struct mav_command_long cmd;
    dproto_build_land_clearance(&c, sysid, DPROTO_DRONE_COMPID, 0, &cmd);
    st_send(s, MAV_MSG_COMMAND_LONG, &cmd);
}

static void st_clear_takeoff(struct station *s, uint8_t sysid, uint32_t tag)
{
    struct dproto_takeoff_clearance c = { DPROTO_SWAPPED, tag, 30 };
    struct mav_command_long cmd;
    dproto_build_takeoff_clearance(&c, sysid, DPROTO_DRONE_COMPID, 0, &cmd);
    st_send(s, MAV_MSG_COMMAND_LONG, &cmd);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static char dir[256], p1[300], p2[300], socat_log[300], sim_log[300];
static pid_t socat_pid, sim_pid;

static void socat_start(void)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "dronesim"), 0);
    snprintf(p1, sizeof p1, "%s/ttyDrone", dir);
    snprintf(p2, sizeof p2, "%s/ttyStation", dir);
    snprintf(socat_log, sizeof socat_log, "%s/socat.log", dir);
    snprintf(sim_log, sizeof sim_log, "%s/dronesim.log", dir);
    char a1[320], a2[320];
    snprintf(a1, sizeof a1, "pty,raw,echo=0,link=%s", p1);
    snprintf(a2, sizeof a2, "pty,raw,echo=0,link=%s", p2);
    char *argv[] = { "/usr/bin/socat", "-d", "-d", a1, a2, NULL };
    socat_pid = proc_spawn(argv, socat_log);
    ck_assert_int_gt(socat_pid, 0);
    ck_assert_int_eq(proc_wait_path(p1, socat_pid, 5000), 0);
    ck_assert_int_eq(proc_wait_path(p2, socat_pid, 5000), 0);
    ck_assert_int_eq(proc_wait_text(socat_log, "starting data transfer loop", socat_pid, 5000), 0);
}

static void station_open_endpoint(struct station *s, const char *ep, struct mav_signing *signing)
{
    memset(s, 0, sizeof *s);
    char err[LINK_ERR_MAX];
    s->l = link_open(ep, err, sizeof err);
    ck_assert_msg(s->l != NULL, "%s", err);
    s->signing = signing;
    mav_parser_init(&s->parser, signing);
    s->tx.sysid = STATION;
    s->tx.compid = DPROTO_STATION_COMPID;
    s->tx.signing = signing;
    s->send_heartbeats = true;
}

static void station_open(struct station *s, const char *path, struct mav_signing *signing)
{
    char ep[320];
    snprintf(ep, sizeof ep, "pty:%s:115200", path);
    station_open_endpoint(s, ep, signing);
}

static void teardown(void);
static void stop_all(void)
{
    if (sim_pid > 0) {
        int st = proc_stop(sim_pid, 3000);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "dronesim exit status %d", st);
    }
    if (socat_pid > 0)
        proc_stop(socat_pid, 2000);
    sim_pid = socat_pid = 0;
}

static void teardown(void)
{
    stop_all();
    proc_rmtree(dir);
}

static void make_pack_json(uint32_t tag, double soc, json_t **out)
{
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    struct sim_rng rng;
    sim_rng_seed(&rng, tag);
    struct sim_battery b;
    sim_battery_init(&b, &pc, tag, soc, &rng);
    *out = sim_battery_to_json(&b);
    ck_assert_ptr_nonnull(*out);
}

/* ---- tests ------------------------------------------------------------------------- */

START_TEST(cold_swap_handshake_over_socat_pty_pair)
{
    socat_start();
    struct fakepad pad;
    pad_start(&pad, dir);
    char bin[512], link_arg[320];
    snprintf(link_arg, sizeof link_arg, "pty:%s:115200", p1);
    char *argv[] = { (char *)proc_bin("dronesim", bin, sizeof bin), "--link", link_arg,
                     "--swapsim-control", pad.path, "--drones", "1", "--sysid-base", "10",
                     "--seed", "3", "--flight-s", "1", "--return-s", "0.5", "--time-scale", SCALE,
                     "--log-level", "debug", NULL };
    sim_pid = proc_spawn(argv, sim_log);
    struct station s;
    station_open(&s, p2, NULL);

    /* 1. The drone asks for a swap; the station queues it, then clears it to land. */
    struct mav_frame f;
    st_expect(&s, is_cmd, &(struct want_cmd){ 10, DPROTO_CMD_SWAP_REQUEST }, 10000, &f, "SWAP_REQUEST");
    struct mav_command_long cmd;
    struct dproto_swap_request req;
    ck_assert_int_eq(mav_decode(&f, &cmd), 0);
    ck_assert_int_eq(dproto_parse_swap_request(&cmd, &req), 0);
    ck_assert_uint_eq(req.pack_tag, 0x5B000001);
    ck_assert_uint_eq(cmd.target_system, STATION);
    st_ack_request(&s, 10, DPROTO_REPLY_QUEUED, 1);
    st_clear_land(&s, 10);
    st_expect(&s, is_ack, &(struct want_ack){ 10, DPROTO_CMD_CLEARED_TO_LAND, MAV_RESULT_ACCEPTED },
              5000, NULL, "ack of CLEARED_TO_LAND");
    st_expect(&s, is_landed, &(struct want_landed){ 10, MAV_LANDED_LANDING }, 3000, NULL, "LANDING");

    /* 2. Touchdown and disarm. */
    st_expect(&s, is_landed, &(struct want_landed){ 10, MAV_LANDED_ON_GROUND }, 5000, NULL, "ON_GROUND");
    ck_assert_int_eq(pad_get(&pad, &pad.lands), 1);
    st_expect(&s, is_hb, &(struct want_hb){ 10, false }, 5000, NULL, "disarmed heartbeat");

    /* 3. The pack comes out: a cold-swap drone goes dark. */
    pad_set_bay(&pad, NULL);
    int polls = pad_get(&pad, &pad.battery_polls);
    while (pad_get(&pad, &pad.battery_polls) < polls + 2)
        st_next(&s, &f, 20);
    long long drain_end = proc_now_ms() + 100; /* frames already on their way */
    while (proc_now_ms() < drain_end)
        st_next(&s, &f, 20);
    long long quiet_end = proc_now_ms() + 1000; /* five heartbeat periods at scale 5 */
    while (proc_now_ms() < quiet_end)
        if (st_next(&s, &f, 50) == 1)
            ck_assert_msg(f.sysid != 10 || f.msgid != MAV_MSG_HEARTBEAT, "heartbeat from a drone without a pack");

    /* 4. A fresh pack goes in: the drone powers up and reports it. */
    json_t *fresh;
    make_pack_json(0x5A000002, 0.95, &fresh);
    pad_set_bay(&pad, fresh);
    st_expect(&s, is_pack_info, &(struct want_serial){ 10, 0x5A000002 }, 5000, NULL,
              "SMART_BATTERY_INFO SWP-5A000002");
    st_expect(&s, is_hb, &(struct want_hb){ 10, false }, 2000, NULL, "heartbeat on the new pack");

    /* 5. Cleared for take-off: ack, lift-off with the new pack. */
    st_clear_takeoff(&s, 10, 0x5A000002);
    st_expect(&s, is_ack, &(struct want_ack){ 10, DPROTO_CMD_CLEARED_TAKEOFF, MAV_RESULT_ACCEPTED },
              3000, NULL, "ack of CLEARED_TAKEOFF");
    st_expect(&s, is_landed, &(struct want_landed){ 10, MAV_LANDED_TAKEOFF }, 3000, NULL, "TAKEOFF");
    ck_assert_int_eq(pad_get(&pad, &pad.takeoffs), 1);
    st_expect(&s, is_landed, &(struct want_landed){ 10, MAV_LANDED_IN_AIR }, 5000, NULL, "IN_AIR");
    link_close(s.l);
    stop_all();
    pad_stop(&pad);
    ck_assert_int_eq(proc_wait_text(sim_log, "1 swaps, 1 take-offs", 0, 1000), 0);
    proc_rmtree(dir);
}
END_TEST

START_TEST(two_drones_share_one_link_and_queue)
{
    socat_start();
    char bin[512], link_arg[320];
    snprintf(link_arg, sizeof link_arg, "pty:%s", p1);
    char *argv[] = { (char *)proc_bin("dronesim", bin, sizeof bin), "--link", link_arg,
                     "--drones", "2", "--sysid-base", "20", "--seed", "5", "--flight-s", "1",
                     "--return-s", "0.5", "--time-scale", SCALE, NULL };
    sim_pid = proc_spawn(argv, sim_log);
    struct station s;
    station_open(&s, p2, NULL);
    bool asked[2] = { false, false };
    struct mav_frame f;
    long long end = proc_now_ms() + 10000;
    while (!(asked[0] && asked[1]) && proc_now_ms() < end) {
        if (st_next(&s, &f, 100) != 1 || f.msgid != MAV_MSG_COMMAND_LONG)
            continue;
        if (f.sysid == 20 || f.sysid == 21)
            asked[f.sysid - 20] = true;
    }
    ck_assert_msg(asked[0] && asked[1], "both drones ask for a swap");
    st_ack_request(&s, 21, DPROTO_REPLY_QUEUED, 2);
    st_ack_request(&s, 20, DPROTO_REPLY_QUEUED, 1);
    st_clear_land(&s, 20);
    st_expect(&s, is_landed, &(struct want_landed){ 20, MAV_LANDED_ON_GROUND }, 6000, NULL, "20 on the pad");
    /* Drone 21 waits: queued drones stop asking and stay in the air. */
    long long until = proc_now_ms() + 1000;
    while (proc_now_ms() < until) {
        if (st_next(&s, &f, 50) != 1 || f.sysid != 21)
            continue;
        struct mav_command_long c;
        ck_assert_msg(!(f.msgid == MAV_MSG_COMMAND_LONG && mav_decode(&f, &c) == 0 &&
                        c.command == DPROTO_CMD_SWAP_REQUEST), "queued drone asks again");
    }
    /* The stand-alone pad never swaps: the station sends 20 off on its own pack. */
    st_expect(&s, is_hb, &(struct want_hb){ 20, false }, 5000, NULL, "20 disarmed");
    st_clear_takeoff(&s, 20, 0x5B000001);
    st_expect(&s, is_landed, &(struct want_landed){ 20, MAV_LANDED_IN_AIR }, 6000, NULL, "20 back in the air");
    st_clear_land(&s, 21);
    st_expect(&s, is_landed, &(struct want_landed){ 21, MAV_LANDED_ON_GROUND }, 6000, NULL, "21 on the pad");
    link_close(s.l);
    teardown();
}
END_TEST

START_TEST(signed_link_signs_and_refuses_unsigned_frames)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "dronesim"), 0);
    char link_file[300];
    snprintf(link_file, sizeof link_file, "%s/link", dir);
    snprintf(sim_log, sizeof sim_log, "%s/dronesim.log", dir);
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    char bin[512];
    char *argv[] = { (char *)proc_bin("dronesim", bin, sizeof bin), "--link", "pty:new",
                     "--link-file", link_file, "--key", (char *)hex, "--flight-s", "0.5",
                     "--return-s", "0.2", "--time-scale", SCALE, NULL };
    sim_pid = proc_spawn(argv, sim_log);
    ck_assert_int_eq(proc_wait_path(link_file, sim_pid, 5000), 0);
    char path[256] = "";
    FILE *fp = fopen(link_file, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(path, sizeof path, fp));
    fclose(fp);
    path[strcspn(path, "\n")] = '\0';
    ck_assert_int_eq(strncmp(path, "/dev/pts/", 9), 0);

    static struct mav_signing sign;
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    mav_signing_init(&sign, key, 7, true);
    mav_signing_set_time_unix_us(&sign, (uint64_t)time(NULL) * 1000000u);
    struct station s;
    station_open(&s, path, &sign);
    s.send_heartbeats = false;
    s.tx.signing = NULL; /* first, speak unsigned: the drone must not listen */
    struct mav_frame f;
    st_expect(&s, is_cmd, &(struct want_cmd){ 10, DPROTO_CMD_SWAP_REQUEST }, 10000, &f, "signed SWAP_REQUEST");
    ck_assert(f.is_signed);
    st_heartbeat(&s);
    st_ack_request(&s, 10, DPROTO_REPLY_QUEUED, 1);
    st_expect(&s, is_cmd, &(struct want_cmd){ 10, DPROTO_CMD_SWAP_REQUEST }, 3000, NULL,
              "request repeated: the unsigned ack was dropped");
    /* Signed, the station is heard (heartbeat first) and so is the ack: requests stop. */
    s.tx.signing = &sign;
    s.send_heartbeats = true;
    st_heartbeat(&s);
    st_ack_request(&s, 10, DPROTO_REPLY_QUEUED, 1);
    long long drain_end = proc_now_ms() + 150; /* a request may have crossed the ack */
    while (proc_now_ms() < drain_end)
        st_next(&s, &f, 20);
    long long until = proc_now_ms() + 1500;
    while (proc_now_ms() < until) {
        if (st_next(&s, &f, 50) != 1)
            continue;
        struct mav_command_long c;
        ck_assert_msg(!(f.msgid == MAV_MSG_COMMAND_LONG && mav_decode(&f, &c) == 0 &&
                        c.command == DPROTO_CMD_SWAP_REQUEST), "request after the signed ack");
    }
    ck_assert_uint_eq(s.parser.drops[MAV_DROP_BAD_SIGNATURE], 0);
    ck_assert_uint_eq(s.parser.drops[MAV_DROP_UNSIGNED], 0);
    ck_assert_uint_gt(s.parser.frames_ok, 10);
    link_close(s.l);
    stop_all();
    ck_assert_int_eq(proc_wait_text(sim_log, "dropping unsigned frames", 0, 1000), 0);
    proc_rmtree(dir);
}
END_TEST


/* One request on a control socket; returns the reply object (caller decrefs) or NULL. */
static json_t *ctl_request(const char *path, const char *req)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char line[512];
    snprintf(line, sizeof line, "%s\n", req);
    ssize_t w = send(fd, line, strlen(line), MSG_NOSIGNAL);
    (void)w;
    static char buf[1 << 16];
    size_t len = 0;
    long long end = proc_now_ms() + 3000;
    while (len < sizeof buf - 1 && proc_now_ms() < end && !memchr(buf, '\n', len)) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        if (poll(&pf, 1, 50) <= 0)
            continue;
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
}

static bool swapsim_drone_present(const char *ctl)
{
    json_t *rep = ctl_request(ctl, "{\"cmd\":\"truth\"}");
    ck_assert_ptr_nonnull(rep);
    const json_t *t = json_object_get(rep, "truth");
    bool present = json_is_true(json_object_get(t ? t : rep, "drone_present"));
    json_decref(rep);
    return present;
}

START_TEST(lands_and_leaves_through_swapsim)
{
    char bin[512], sbin[512];
    if (access(proc_bin("swapsim", sbin, sizeof sbin), X_OK) != 0)
        return; /* swapsim not built: the fake pad above covers the protocol */
    socat_start();
    char ctl[300], port_file[300], swapsim_log[300], cfg[512];
    snprintf(ctl, sizeof ctl, "%s/swapsim.sock", dir);
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(swapsim_log, sizeof swapsim_log, "%s/swapsim.log", dir);
    char *sargv[] = { sbin, "--config", (char *)proc_config("plant.ini", cfg, sizeof cfg),
                      "--port", "0", "--port-file", port_file, "--control", ctl, NULL };
    pid_t swapsim = proc_spawn(sargv, swapsim_log);
    ck_assert_int_eq(proc_wait_path(ctl, swapsim, 5000), 0);
    char link_arg[320];
    snprintf(link_arg, sizeof link_arg, "pty:%s", p1);
    char *argv[] = { (char *)proc_bin("dronesim", bin, sizeof bin), "--link", link_arg,
                     "--swapsim-control", ctl, "--seed", "9", "--flight-s", "1",
                     "--return-s", "0.5", "--time-scale", SCALE, NULL };
    sim_pid = proc_spawn(argv, sim_log);
    struct station s;
    station_open(&s, p2, NULL);
    st_expect(&s, is_cmd, &(struct want_cmd){ 10, DPROTO_CMD_SWAP_REQUEST }, 10000, NULL, "SWAP_REQUEST");
    ck_assert(!swapsim_drone_present(ctl));
    st_ack_request(&s, 10, DPROTO_REPLY_QUEUED, 1);
    st_clear_land(&s, 10);
    st_expect(&s, is_landed, &(struct want_landed){ 10, MAV_LANDED_ON_GROUND }, 6000, NULL, "ON_GROUND");
    ck_assert(swapsim_drone_present(ctl));
    /* The plant's load cell and bay hold the drone's own pack: it reports it. */
    st_expect(&s, is_hb, &(struct want_hb){ 10, false }, 5000, NULL, "disarmed");
    st_clear_takeoff(&s, 10, 0x5B000001);
    st_expect(&s, is_landed, &(struct want_landed){ 10, MAV_LANDED_IN_AIR }, 6000, NULL, "IN_AIR");
    ck_assert(!swapsim_drone_present(ctl));
    link_close(s.l);
    stop_all();
    proc_stop(swapsim, 3000);
    ck_assert_int_eq(proc_wait_text(sim_log, "0 swaps, 1 take-offs", 0, 1000), 0);
    proc_rmtree(dir);
}
END_TEST


/* Starts dronesim on pty:new with extra arguments and opens the station on its pty. */
static void start_on_new_pty(struct station *s, char *const extra[])
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "dronesim"), 0);
    char link_file[300];
    snprintf(link_file, sizeof link_file, "%s/link", dir);
    snprintf(sim_log, sizeof sim_log, "%s/dronesim.log", dir);
    char bin[512];
    char *argv[24] = { (char *)proc_bin("dronesim", bin, sizeof bin), "--link", "pty:new",
                       "--link-file", link_file, "--time-scale", SCALE };
    int n = 7;
    for (int i = 0; extra[i] && n < 23; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    sim_pid = proc_spawn(argv, sim_log);
    ck_assert_int_eq(proc_wait_path(link_file, sim_pid, 5000), 0);
    char path[256] = "";
    FILE *fp = fopen(link_file, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(path, sizeof path, fp));
    fclose(fp);
    path[strcspn(path, "\n")] = '\0';
    station_open(s, path, NULL);
}

START_TEST(wrong_sysid_misbehaviour_is_seen_on_the_wire)
{
    struct station s;
    start_on_new_pty(&s, (char *[]){ "--misbehave", "wrong_sysid@1+2", NULL });
    struct mav_frame f;
    st_expect(&s, is_hb, &(struct want_hb){ 10, true }, 3000, NULL, "heartbeat from 10");
    st_expect(&s, is_hb, &(struct want_hb){ 10 ^ 0x80, true }, 3000, NULL, "heartbeat from 138");
    st_expect(&s, is_hb, &(struct want_hb){ 10, true }, 3000, &f, "heartbeat from 10 again");
    link_close(s.l);
    teardown();
}
END_TEST

START_TEST(garbage_misbehaviour_does_not_break_the_frames)
{
    struct station s;
    start_on_new_pty(&s, (char *[]){ "--misbehave", "garbage@0+100", NULL });
    struct mav_frame f;
    for (int i = 0; i < 5; i++)
        st_expect(&s, is_hb, &(struct want_hb){ 10, true }, 3000, &f, "heartbeat through the noise");
    ck_assert_uint_gt(s.parser.drops[MAV_DROP_GARBAGE_BYTES], 0);
    link_close(s.l);
    teardown();
}
END_TEST


START_TEST(udp_link_carries_requests_and_replies)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "dronesim"), 0);
    snprintf(sim_log, sizeof sim_log, "%s/dronesim.log", dir);
    struct station s;
    station_open_endpoint(&s, "udp:127.0.0.1:0", NULL);
    char ep[64], bin[512];
    snprintf(ep, sizeof ep, "udpout:127.0.0.1:%u", (unsigned)link_local_port(s.l));
    char *argv[] = { (char *)proc_bin("dronesim", bin, sizeof bin), "--link", ep, "--flight-s", "0.5",
                     "--return-s", "0.2", "--time-scale", SCALE, NULL };
    sim_pid = proc_spawn(argv, sim_log);
    struct mav_frame f;
    st_expect(&s, is_cmd, &(struct want_cmd){ 10, DPROTO_CMD_SWAP_REQUEST }, 10000, NULL, "SWAP_REQUEST over UDP");
    /* Heartbeats sent before the drone's first datagram had nowhere to go: the drone
     * hears of the station only now, and it listens to stations it has heard. */
    st_heartbeat(&s);
    st_ack_request(&s, 10, DPROTO_REPLY_QUEUED, 1);
    long long drain_end = proc_now_ms() + 150;
    while (proc_now_ms() < drain_end)
        st_next(&s, &f, 20);
    long long until = proc_now_ms() + 1500;
    while (proc_now_ms() < until) {
        if (st_next(&s, &f, 50) != 1)
            continue;
        struct mav_command_long c;
        ck_assert_msg(!(f.msgid == MAV_MSG_COMMAND_LONG && mav_decode(&f, &c) == 0 &&
                        c.command == DPROTO_CMD_SWAP_REQUEST), "request after the ack");
    }
    ck_assert_uint_gt(s.parser.frames_ok, 10);
    link_close(s.l);
    teardown();
}
END_TEST

static const struct {
    const char *arg1, *arg2, *expect;
} bad_args[] = {
    { "--link", "serial:/dev/ttyUSB0", "missing baud rate" },
    { "--link", "tcp:1.2.3.4:5", "unknown scheme 'tcp'" },
    { "--drones", "0", "--drones '0'" },
    { "--misbehave", "explode@3", "unknown kind 'explode'" },
    { "--misbehave", "rearm@soon", "expected KIND@T[+D][/SYSID]" },
    { "--key", "abc", "64 hex digits" },
    { "--time-scale", "1000", "--time-scale '1000'" },
};

START_TEST(bad_arguments_exit_2_with_a_reason)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "dronesim"), 0);
    snprintf(sim_log, sizeof sim_log, "%s/dronesim.log", dir);
    char bin[512];
    char *argv[8] = { (char *)proc_bin("dronesim", bin, sizeof bin) };
    int n = 1;
    if (strcmp(bad_args[_i].arg1, "--link") != 0) {
        argv[n++] = "--link";
        argv[n++] = "pty:new";
    }
    argv[n++] = (char *)bad_args[_i].arg1;
    argv[n++] = (char *)bad_args[_i].arg2;
    argv[n] = NULL;
    pid_t pid = proc_spawn(argv, sim_log);
    int st = proc_kill_wait(pid, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
    ck_assert_int_eq(proc_wait_text(sim_log, bad_args[_i].expect, 0, 1000), 0);
    proc_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dronesim");
    TCase *tc = tcase_create("process");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, cold_swap_handshake_over_socat_pty_pair);
    tcase_add_test(tc, two_drones_share_one_link_and_queue);
    tcase_add_test(tc, signed_link_signs_and_refuses_unsigned_frames);
    tcase_add_test(tc, lands_and_leaves_through_swapsim);
    tcase_add_test(tc, wrong_sysid_misbehaviour_is_seen_on_the_wire);
    tcase_add_test(tc, udp_link_carries_requests_and_replies);
    tcase_add_test(tc, garbage_misbehaviour_does_not_break_the_frames);
    tcase_add_loop_test(tc, bad_arguments_exit_2_with_a_reason, 0,
                        (int)(sizeof bad_args / sizeof bad_args[0]));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
