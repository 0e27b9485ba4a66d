/* Drone-link transports: endpoint syntax, pty pairs, UDP, a socat pair. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "transport/link.h"

/* Reads exactly n bytes within timeout_ms; returns the count read. */
static size_t read_n(struct link *l, uint8_t *buf, size_t n, int timeout_ms)
{
    size_t got = 0;
    long long end = proc_now_ms() + timeout_ms;
    while (got < n && proc_now_ms() < end) {
        struct pollfd p = { .fd = link_fd(l), .events = POLLIN };
        poll(&p, 1, 20);
        ssize_t r = link_read(l, buf + got, n - got);
        if (r < 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static void fill(uint8_t *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 31u + seed);
}

/* Sends n bytes from a to b and checks they arrive intact. */
static void carry(struct link *a, struct link *b, size_t n, unsigned seed)
{
    uint8_t out[1024], in[1024];
    ck_assert_uint_le(n, sizeof out);
    fill(out, n, seed);
    ck_assert_int_eq(link_write_all(a, out, n, 2000), 0);
    ck_assert_uint_eq(read_n(b, in, n, 3000), n);
    ck_assert_int_eq(memcmp(in, out, n), 0);
}

static const struct {
    const char *text;
    enum link_kind kind;
    const char *path, *host;
    int baud;
    unsigned port;
} good[] = {
    { "serial:/dev/ttyUSB0:57600", LINK_SERIAL, "/dev/ttyUSB0", "", 57600, 0 },
    { "serial:/dev/serial/by-id/usb-FTDI:115200", LINK_SERIAL, "/dev/serial/by-id/usb-FTDI", "", 115200, 0 },
    { "pty:/dev/pts/5", LINK_PTY, "/dev/pts/5", "", 0, 0 },
    { "pty:/dev/pts/5:115200", LINK_PTY, "/dev/pts/5", "", 115200, 0 },
    { "pty:new", LINK_PTY_NEW, "new", "", 0, 0 },
    { "pty:new:57600", LINK_PTY_NEW, "new", "", 57600, 0 },
    { "udp:127.0.0.1:14550", LINK_UDP, "", "127.0.0.1", 0, 14550 },
    { "udp:0.0.0.0:0", LINK_UDP, "", "0.0.0.0", 0, 0 },
    { "udpout:localhost:14550", LINK_UDPOUT, "", "localhost", 0, 14550 },
};

START_TEST(good_endpoint_parses)
{
    struct link_endpoint ep;
    char err[LINK_ERR_MAX];
    ck_assert_msg(link_parse_endpoint(good[_i].text, &ep, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(ep.kind, good[_i].kind);
    ck_assert_str_eq(ep.path, good[_i].path);
    ck_assert_str_eq(ep.host, good[_i].host);
    ck_assert_int_eq(ep.baud, good[_i].baud);
    ck_assert_uint_eq(ep.port, good[_i].port);
}
END_TEST

static const struct {
    const char *text;
    const char *expect;
} bad[] = {
    { "serial:/dev/ttyUSB0", "endpoint 'serial:/dev/ttyUSB0': missing baud rate" },
    { "serial:/dev/ttyUSB0:", "missing baud rate" },
    { "serial::57600", "missing device path" },
    { "serial:/dev/ttyUSB0:fast", "baud rate 'fast' is not a number" },
    { "serial:/dev/ttyUSB0:12345", "unsupported baud rate 12345" },
    { "serial:/dev/ttyUSB0:-9600", "not a number" },
    { "pty:", "missing device path" },
    { "pty:pts/5", "pty path must be absolute or 'new'" },
    { "pty:new:9", "unsupported baud rate 9" },
    { "udp:127.0.0.1", "missing port" },
    { "udp::14550", "missing host" },
    { "udp:127.0.0.1:", "missing port" },
    { "udp:127.0.0.1:70000", "bad port '70000'" },
    { "udp:127.0.0.1:14550x", "bad port" },
    { "udpout:127.0.0.1:0", "bad port '0' (allowed: 1..65535)" },
    { "tcp:127.0.0.1:5760", "unknown scheme 'tcp'" },
    { "/dev/ttyUSB0", "missing scheme" },
    { "", "missing scheme" },
};

START_TEST(bad_endpoint_is_refused_with_reason)
{
    struct link_endpoint ep;
    char err[LINK_ERR_MAX] = "";
    ck_assert_int_eq(link_parse_endpoint(bad[_i].text, &ep, err, sizeof err), -1);
    ck_assert_msg(strstr(err, bad[_i].expect), "got \"%s\", want \"%s\"", err, bad[_i].expect);
}
END_TEST

START_TEST(open_reports_missing_devices)
{
    char err[LINK_ERR_MAX] = "";
    ck_assert_ptr_null(link_open("serial:/dev/ttyNOPE99:57600", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "serial /dev/ttyNOPE99"));
    ck_assert_ptr_null(link_open("pty:/dev/pts/99999", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "pty /dev/pts/99999"));
    ck_assert_ptr_null(link_open("pty:/etc/hostname", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "not a character device"));
    ck_assert_ptr_null(link_open("udpout:no-such-host.invalid:14550", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "cannot resolve"));
}
END_TEST


START_TEST(serial_on_a_pty_points_to_the_pty_backend)
{
    char err[LINK_ERR_MAX];
    struct link *a = link_open("pty:new", err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    char ep[LINK_PATH_MAX + 16];
    snprintf(ep, sizeof ep, "serial:%s:57600", link_path(a));
    ck_assert_ptr_null(link_open(ep, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "use pty:PATH"));
    link_close(a);
}
END_TEST

START_TEST(pty_pair_from_openpty_carries_bytes_both_ways)
{
    int m, s;
    char path[LINK_PATH_MAX], err[LINK_ERR_MAX];
    ck_assert_msg(link_open_pty_pair(&m, &s, path, sizeof path, 115200, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(strncmp(path, "/dev/pts/", 9), 0);
    /* The slave side as a link; the master side by hand. */
    char ep[LINK_PATH_MAX + 16];
    snprintf(ep, sizeof ep, "pty:%s:115200", path);
    struct link *l = link_open(ep, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_str_eq(link_name(l), "pty");
    uint8_t out[300], in[300];
    fill(out, sizeof out, 7);
    ck_assert_int_eq(write(m, out, sizeof out), (ssize_t)sizeof out);
    ck_assert_uint_eq(read_n(l, in, sizeof in, 2000), sizeof in);
    ck_assert_int_eq(memcmp(in, out, sizeof out), 0);
    fill(out, sizeof out, 99);
    ck_assert_int_eq(link_write_all(l, out, sizeof out, 1000), 0);
    size_t got = 0;
    long long end = proc_now_ms() + 2000;
    while (got < sizeof in && proc_now_ms() < end) {
        struct pollfd p = { .fd = m, .events = POLLIN };
        poll(&p, 1, 20);
        ssize_t r = read(m, in + got, sizeof in - got);
        if (r > 0)
            got += (size_t)r;
    }
    ck_assert_uint_eq(got, sizeof in);
    ck_assert_int_eq(memcmp(in, out, sizeof out), 0);
    link_close(l);
    close(m);
    close(s);
}
END_TEST

START_TEST(pty_new_offers_a_path_a_peer_can_open)
{
    char err[LINK_ERR_MAX];
    struct link *a = link_open("pty:new:57600", err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert_int_eq(strncmp(link_path(a), "/dev/pts/", 9), 0);
    char ep[LINK_PATH_MAX + 16];
    snprintf(ep, sizeof ep, "pty:%s", link_path(a));
    ck_assert_str_eq(link_describe(a), ep);
    struct link *b = link_open(ep, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    carry(a, b, 280, 1);
    carry(b, a, 280, 2);
    /* The peer goes away and comes back: the creator's side keeps working. */
    link_close(b);
    uint8_t buf[16];
    ck_assert_int_eq(link_read(a, buf, sizeof buf), 0);
    b = link_open(ep, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    carry(b, a, 64, 3);
    link_close(b);
    link_close(a);
}
END_TEST

START_TEST(udp_server_and_client_talk_both_ways)
{
    char err[LINK_ERR_MAX];
    struct link *srv = link_open("udp:127.0.0.1:0", err, sizeof err);
    ck_assert_msg(srv != NULL, "%s", err);
    uint16_t port = link_local_port(srv);
    ck_assert_uint_gt(port, 0);
    char ep[64];
    snprintf(ep, sizeof ep, "udpout:127.0.0.1:%u", (unsigned)port);
    struct link *cli = link_open(ep, err, sizeof err);
    ck_assert_msg(cli != NULL, "%s", err);
    ck_assert_str_eq(link_name(cli), "udpout");
    carry(cli, srv, 280, 4); /* the server learns its peer from this datagram */
    carry(srv, cli, 280, 5);
    link_close(cli);
    link_close(srv);
}
END_TEST


START_TEST(udp_datagram_can_be_read_a_byte_at_a_time)
{
    char err[LINK_ERR_MAX];
    struct link *srv = link_open("udp:127.0.0.1:0", err, sizeof err);
    ck_assert_msg(srv != NULL, "%s", err);
    char ep[64];
    snprintf(ep, sizeof ep, "udpout:127.0.0.1:%u", (unsigned)link_local_port(srv));
    struct link *cli = link_open(ep, err, sizeof err);
    ck_assert_msg(cli != NULL, "%s", err);
    uint8_t out[100], in[100];
    fill(out, sizeof out, 8);
    ck_assert_int_eq(link_write_all(cli, out, 60, 1000), 0);
    ck_assert_int_eq(link_write_all(cli, out + 60, 40, 1000), 0);
    size_t got = 0;
    long long end = proc_now_ms() + 2000;
    while (got < sizeof in && proc_now_ms() < end) {
        ssize_t r = link_read(srv, in + got, 1);
        ck_assert_int_ge(r, 0);
        if (r == 0) {
            struct pollfd p = { .fd = link_fd(srv), .events = POLLIN };
            poll(&p, 1, 20);
        }
        got += (size_t)r;
    }
    ck_assert_uint_eq(got, sizeof in);
    ck_assert_int_eq(memcmp(in, out, sizeof out), 0);
    link_close(cli);
    link_close(srv);
}
END_TEST

START_TEST(udp_server_without_peer_drops_silently)
{
    char err[LINK_ERR_MAX];
    struct link *srv = link_open("udp:127.0.0.1:0", err, sizeof err);
    ck_assert_msg(srv != NULL, "%s", err);
    uint8_t b[10] = { 0 };
    ck_assert_int_eq(link_write(srv, b, sizeof b), (ssize_t)sizeof b);
    ck_assert_int_eq(link_read(srv, b, sizeof b), 0);
    link_close(srv);
}
END_TEST

START_TEST(udp_port_in_use_is_reported)
{
    char err[LINK_ERR_MAX];
    struct link *a = link_open("udp:127.0.0.1:0", err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    char ep[64];
    snprintf(ep, sizeof ep, "udp:127.0.0.1:%u", (unsigned)link_local_port(a));
    ck_assert_ptr_null(link_open(ep, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "cannot bind"));
    link_close(a);
}
END_TEST

START_TEST(socat_pty_pair_carries_bytes_both_ways)
{
    if (access("/usr/bin/socat", X_OK) != 0)
        return; /* socat not installed: nothing to test against */
    char dir[256], p1[300], p2[300], log[300], a1[320], a2[320];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "transport"), 0);
    snprintf(p1, sizeof p1, "%s/ttyA", dir);
    snprintf(p2, sizeof p2, "%s/ttyB", dir);
    snprintf(log, sizeof log, "%s/socat.log", dir);
    snprintf(a1, sizeof a1, "pty,raw,echo=0,link=%s", p1);
    snprintf(a2, sizeof a2, "pty,raw,echo=0,link=%s", p2);
    char *argv[] = { "/usr/bin/socat", "-d", "-d", a1, a2, NULL };
    pid_t pid = proc_spawn(argv, log);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(proc_wait_path(p1, pid, 5000), 0);
    ck_assert_int_eq(proc_wait_path(p2, pid, 5000), 0);
    ck_assert_int_eq(proc_wait_text(log, "starting data transfer loop", pid, 5000), 0);
    char ep1[320], ep2[320], err[LINK_ERR_MAX];
    snprintf(ep1, sizeof ep1, "pty:%s:115200", p1);
    snprintf(ep2, sizeof ep2, "pty:%s:115200", p2);
    struct link *a = link_open(ep1, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    struct link *b = link_open(ep2, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    carry(a, b, 1000, 6);
    carry(b, a, 1000, 7);
    link_close(a);
    link_close(b);
    proc_stop(pid, 2000);
    proc_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_loop_test(tc, good_endpoint_parses, 0, (int)(sizeof good / sizeof good[0]));
    tcase_add_loop_test(tc, bad_endpoint_is_refused_with_reason, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, open_reports_missing_devices);
    tcase_add_test(tc, serial_on_a_pty_points_to_the_pty_backend);
    tcase_add_test(tc, pty_pair_from_openpty_carries_bytes_both_ways);
    tcase_add_test(tc, pty_new_offers_a_path_a_peer_can_open);
    tcase_add_test(tc, udp_server_and_client_talk_both_ways);
    tcase_add_test(tc, udp_datagram_can_be_read_a_byte_at_a_time);
    tcase_add_test(tc, udp_server_without_peer_drops_silently);
    tcase_add_test(tc, udp_port_in_use_is_reported);
    tcase_add_test(tc, socat_pty_pair_carries_bytes_both_ways);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
