/* Modbus TCP front end of swapsim.
 *
 * Frames are cut from each connection's byte stream here (non-blocking sockets, no
 * modbus_receive): libmodbus' receive path blocks in select() for the byte timeout, and
 * select() cannot watch fds above 1023. Each request is checked completely (function,
 * quantities, byte counts, addresses against the plant) before modbus_reply sees it, so
 * libmodbus never takes its own error path (which sleeps and flushes). Reads are served
 * from the plant's register image copied into a scratch mapping just before the reply;
 * writes go to the plant first, all-or-nothing, and only then is the echo built.
 */
#include "swapsim/swapsim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MBAP_LEN 6          /* transaction id, protocol id, length */
#define HEADER_LEN 7        /* MBAP + unit id */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int swapsim_mb_open(struct swapsim *s, const char *addr, int port, char *err, size_t errsize)
{
    struct in_addr ia;
    if (inet_pton(AF_INET, addr, &ia) != 1) {
        snprintf(err, errsize, "--bind %s: not an IPv4 address", addr);
        return -1;
    }
    snprintf(s->bind_addr, sizeof s->bind_addr, "%s", addr);
    for (int i = 0; i < SWAPSIM_MAX_CLIENTS; i++)
        s->mb_clients[i].fd = -1;
    s->listen_fd = -1;

    s->mb = modbus_new_tcp(addr, port);
    /* The whole 16-bit address space: a request is checked against the plant's map
     * before it reaches modbus_reply, so the scratch mapping only has to hold it. */
    s->map = modbus_mapping_new_start_address(0, 65536, 0, 65536, 0, 65536, 0, 65536);
    if (!s->mb || !s->map) {
        snprintf(err, errsize, "libmodbus: %s", modbus_strerror(errno));
        return -1;
    }
    /* Reached only on libmodbus' own error path, which sleeps this long; keep it tiny. */
    modbus_set_response_timeout(s->mb, 0, 1000);

    s->listen_fd = modbus_tcp_listen(s->mb, 64);
    if (s->listen_fd < 0) {
        snprintf(err, errsize, "cannot listen on %s:%d: %s", addr, port, modbus_strerror(errno));
        return -1;
    }
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (getsockname(s->listen_fd, (struct sockaddr *)&sa, &sl) != 0 ||
        set_nonblock(s->listen_fd) != 0 || fcntl(s->listen_fd, F_SETFD, FD_CLOEXEC) != 0) {
        snprintf(err, errsize, "listening socket: %s", strerror(errno));
        return -1;
    }
    s->port = ntohs(sa.sin_port);
    return 0;
}

static void client_close(struct swapsim *s, struct swapsim_mbclient *c)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    c->in_len = 0;
    c->partial_since_ms = -1;
    c->due_ms = -1;
    s->closed++;
}

void swapsim_mb_close(struct swapsim *s)
{
    for (int i = 0; i < SWAPSIM_MAX_CLIENTS; i++)
        client_close(s, &s->mb_clients[i]);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    s->listen_fd = -1;
    if (s->map)
        modbus_mapping_free(s->map);
    s->map = NULL;
    if (s->mb)
        modbus_free(s->mb);
    s->mb = NULL;
}

void swapsim_mb_accept(struct swapsim *s)
{
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct swapsim_mbclient *c = NULL;
        for (int i = 0; i < SWAPSIM_MAX_CLIENTS && !c; i++)
            if (s->mb_clients[i].fd < 0)
                c = &s->mb_clients[i];
        if (!c) {
            close(fd);
            s->refused++;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->in_len = 0;
        c->partial_since_ms = -1;
        c->due_ms = -1;
        s->accepted++;
    }
}

bool swapsim_mb_waiting(const struct swapsim_mbclient *c) { return c->due_ms >= 0; }

int swapsim_mb_client_count(const struct swapsim *s)
{
    int n = 0;
    for (int i = 0; i < SWAPSIM_MAX_CLIENTS; i++)
        n += s->mb_clients[i].fd >= 0;
    return n;
}

int swapsim_mb_drop_all(struct swapsim *s)
{
    int n = 0;
    for (int i = 0; i < SWAPSIM_MAX_CLIENTS; i++) {
        if (s->mb_clients[i].fd >= 0) {
            client_close(s, &s->mb_clients[i]);
            n++;
        }
    }
    return n;
}

static int reply_exception(struct swapsim *s, const uint8_t *adu, int code)
{
    s->exceptions++;
    return modbus_reply_exception(s->mb, adu, (unsigned)code) < 0 ? -1 : 0;
}

static int reply(struct swapsim *s, const uint8_t *adu, size_t len)
{
    return modbus_reply(s->mb, adu, (int)len, s->map) < 0 ? -1 : 0;
}

/* Checks a read quantity and copies that part of the plant's image into the mapping.
 * Returns 0 or an exception code. */
static int refresh(struct swapsim *s, enum sim_table t, unsigned addr, unsigned n)
{
    if (s->pms) {
        switch (t) {
        case SIM_DI: return plantmap_server_read_bits(s->pms, PLANTMAP_DI, addr, n, s->map->tab_input_bits + addr);
        case SIM_CO: return plantmap_server_read_bits(s->pms, PLANTMAP_COIL, addr, n, s->map->tab_bits + addr);
        case SIM_HR: return plantmap_server_read_regs(s->pms, PLANTMAP_HR, addr, n, s->map->tab_registers + addr);
        case SIM_IR: return plantmap_server_read_regs(s->pms, PLANTMAP_IR, addr, n, s->map->tab_input_registers + addr);
        }
    }
    switch (t) {
    case SIM_DI: return sim_plant_read_bits(s->plant, t, addr, n, s->map->tab_input_bits + addr);
    case SIM_CO: return sim_plant_read_bits(s->plant, t, addr, n, s->map->tab_bits + addr);
    case SIM_HR: return sim_plant_read_regs(s->plant, t, addr, n, s->map->tab_registers + addr);
    case SIM_IR: return sim_plant_read_regs(s->plant, t, addr, n, s->map->tab_input_registers + addr);
    }
    return MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE;
}

static bool span_ok(unsigned addr, unsigned n) { return addr + n <= 65536u; }

static int write_coils(struct swapsim *s, unsigned addr, unsigned n, const uint8_t *v)
{
    return s->pms ? plantmap_server_write_coils(s->pms, addr, n, v) : sim_plant_write_coils(s->plant, addr, n, v);
}

static int write_regs(struct swapsim *s, unsigned addr, unsigned n, const uint16_t *v)
{
    return s->pms ? plantmap_server_write_regs(s->pms, addr, n, v) : sim_plant_write_regs(s->plant, addr, n, v);
}

int swapsim_mb_serve(struct swapsim *s, const uint8_t *adu, size_t len, int fd)
{
    size_t hl = s->rtu ? 1 : HEADER_LEN, tail = s->rtu ? 2 : 0;   /* RTU: address first, CRC last */
    if (len < hl + 1 + tail)
        return 0;
    const uint8_t *d = adu + hl + 1;  /* after the function code */
    size_t dlen = len - hl - 1 - tail;
    uint8_t fc = adu[hl];
    if (!s->rtu)
        modbus_set_socket(s->mb, fd);
    s->requests++;
    /* A gateway answers for its own unit ids only (Modbus "gateway target failed"). */
    if (!s->rtu && s->unit_id >= 0 && adu[6] != s->unit_id)
        return reply_exception(s, adu, MODBUS_EXCEPTION_GATEWAY_TARGET);

    switch (fc) {
    case MODBUS_FC_READ_COILS:
    case MODBUS_FC_READ_DISCRETE_INPUTS:
    case MODBUS_FC_READ_HOLDING_REGISTERS:
    case MODBUS_FC_READ_INPUT_REGISTERS: {
        if (dlen != 4)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        unsigned addr = get16(d), n = get16(d + 2);
        bool bits = fc == MODBUS_FC_READ_COILS || fc == MODBUS_FC_READ_DISCRETE_INPUTS;
        unsigned max = bits ? MODBUS_MAX_READ_BITS : MODBUS_MAX_READ_REGISTERS;
        if (n < 1 || n > max)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        if (!span_ok(addr, n))
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
        static const enum sim_table table[] = { [MODBUS_FC_READ_COILS] = SIM_CO,
                                                [MODBUS_FC_READ_DISCRETE_INPUTS] = SIM_DI,
                                                [MODBUS_FC_READ_HOLDING_REGISTERS] = SIM_HR,
                                                [MODBUS_FC_READ_INPUT_REGISTERS] = SIM_IR };
        int exc = refresh(s, table[fc], addr, n);
        return exc ? reply_exception(s, adu, exc) : reply(s, adu, len);
    }
    case MODBUS_FC_WRITE_SINGLE_COIL: {
        if (dlen != 4)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        uint16_t v = get16(d + 2);
        if (v != 0xFF00 && v != 0)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        uint8_t bit = v ? 1 : 0;
        int exc = write_coils(s, get16(d), 1, &bit);
        return exc ? reply_exception(s, adu, exc) : reply(s, adu, len);
    }
    case MODBUS_FC_WRITE_SINGLE_REGISTER: {
        if (dlen != 4)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        uint16_t v = get16(d + 2);
        int exc = write_regs(s, get16(d), 1, &v);
        return exc ? reply_exception(s, adu, exc) : reply(s, adu, len);
    }
    case MODBUS_FC_WRITE_MULTIPLE_COILS: {
        if (dlen < 5)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        unsigned addr = get16(d), n = get16(d + 2), bytes = d[4];
        if (n < 1 || n > MODBUS_MAX_WRITE_BITS || bytes != (n + 7) / 8 || dlen != 5 + bytes)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        if (!span_ok(addr, n))
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
        uint8_t bits[MODBUS_MAX_WRITE_BITS];
        for (unsigned i = 0; i < n; i++)
            bits[i] = (uint8_t)((d[5 + i / 8] >> (i % 8)) & 1);
        int exc = write_coils(s, addr, n, bits);
        return exc ? reply_exception(s, adu, exc) : reply(s, adu, len);
    }
    case MODBUS_FC_WRITE_MULTIPLE_REGISTERS: {
        if (dlen < 5)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        unsigned addr = get16(d), n = get16(d + 2), bytes = d[4];
        if (n < 1 || n > MODBUS_MAX_WRITE_REGISTERS || bytes != 2 * n || dlen != 5 + bytes)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        if (!span_ok(addr, n))
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
        uint16_t regs[MODBUS_MAX_WRITE_REGISTERS];
        for (unsigned i = 0; i < n; i++)
            regs[i] = get16(d + 5 + 2 * i);
        int exc = write_regs(s, addr, n, regs);
        return exc ? reply_exception(s, adu, exc) : reply(s, adu, len);
    }
    case MODBUS_FC_WRITE_AND_READ_REGISTERS: {
        if (dlen < 9)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        unsigned raddr = get16(d), rn = get16(d + 2);
        unsigned waddr = get16(d + 4), wn = get16(d + 6), bytes = d[8];
        if (rn < 1 || rn > MODBUS_MAX_WR_READ_REGISTERS || wn < 1 ||
            wn > MODBUS_MAX_WR_WRITE_REGISTERS || bytes != 2 * wn || dlen != 9 + bytes)
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
        if (!span_ok(raddr, rn) || !span_ok(waddr, wn))
            return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
        /* The read range is checked before the write so that a refused request changes
         * nothing; the values are read again after the write, as the standard orders. */
        int exc = refresh(s, SIM_HR, raddr, rn);
        if (exc)
            return reply_exception(s, adu, exc);
        uint16_t regs[MODBUS_MAX_WR_WRITE_REGISTERS];
        for (unsigned i = 0; i < wn; i++)
            regs[i] = get16(d + 9 + 2 * i);
        exc = write_regs(s, waddr, wn, regs);
        if (!exc)
            exc = refresh(s, SIM_HR, raddr, rn);
        return exc ? reply_exception(s, adu, exc) : reply(s, adu, len);
    }
    default:
        return reply_exception(s, adu, MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
    }
}

/* Serves (or, with reply_delay, queues) every complete frame in c's buffer. Returns -1
 * if the connection has to go. */
static int drain_frames(struct swapsim *s, struct swapsim_mbclient *c, int64_t now_ms)
{
    while (c->in_len >= MBAP_LEN && c->due_ms < 0) {
        uint16_t proto = get16(c->in + 2), mlen = get16(c->in + 4);
        /* Unit id and function code at least; the ADU must fit 260 bytes. */
        if (proto != 0 || mlen < 2 || mlen > SWAPSIM_ADU_MAX - MBAP_LEN)
            return -1;
        size_t flen = (size_t)MBAP_LEN + mlen;
        if (c->in_len < flen)
            break;
        if (s->reply_delay_ms > 0 && !s->silent) {
            c->due_ms = now_ms + s->reply_delay_ms;
            break;
        }
        if (!s->silent && swapsim_mb_serve(s, c->in, flen, c->fd) != 0)
            return -1;
        memmove(c->in, c->in + flen, c->in_len - flen);
        c->in_len -= flen;
        c->partial_since_ms = -1;
    }
    if (c->in_len > 0 && c->due_ms < 0 && c->partial_since_ms < 0)
        c->partial_since_ms = now_ms;
    return 0;
}

void swapsim_mb_readable(struct swapsim *s, struct swapsim_mbclient *c, int64_t now_ms)
{
    if (c->fd < 0 || swapsim_mb_waiting(c))
        return;
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        client_close(s, c);
        return;
    }
    if (n > 0)
        c->in_len += (size_t)n;
    if (drain_frames(s, c, now_ms) != 0)
        client_close(s, c);
}

void swapsim_mb_timers(struct swapsim *s, int64_t now_ms)
{
    for (int i = 0; i < SWAPSIM_MAX_CLIENTS; i++) {
        struct swapsim_mbclient *c = &s->mb_clients[i];
        if (c->fd < 0)
            continue;
        if (c->due_ms >= 0 && now_ms >= c->due_ms) {
            size_t flen = (size_t)MBAP_LEN + get16(c->in + 4);
            int rc = s->silent ? 0 : swapsim_mb_serve(s, c->in, flen, c->fd);
            memmove(c->in, c->in + flen, c->in_len - flen);
            c->in_len -= flen;
            c->due_ms = -1;
            c->partial_since_ms = -1;
            if (rc != 0 || drain_frames(s, c, now_ms) != 0) {
                client_close(s, c);
                continue;
            }
        }
        if (c->partial_since_ms >= 0 && now_ms - c->partial_since_ms >= SWAPSIM_BYTE_TIMEOUT_MS)
            client_close(s, c);
    }
}

int64_t swapsim_mb_next_deadline(const struct swapsim *s)
{
    int64_t t = INT64_MAX;
    for (int i = 0; i < SWAPSIM_MAX_CLIENTS; i++) {
        const struct swapsim_mbclient *c = &s->mb_clients[i];
        if (c->fd < 0)
            continue;
        if (c->due_ms >= 0 && c->due_ms < t)
            t = c->due_ms;
        if (c->partial_since_ms >= 0 && c->partial_since_ms + SWAPSIM_BYTE_TIMEOUT_MS < t)
            t = c->partial_since_ms + SWAPSIM_BYTE_TIMEOUT_MS;
    }
    return t;
}

/* ---- Modbus RTU ------------------------------------------------------------------------ */

int swapsim_rtu_open(struct swapsim *s, const char *device, int baud, char parity, int data_bits, int stop_bits,
                     int unit, char *err, size_t errsize)
{
    s->rtu = true;
    s->listen_fd = -1;
    for (int i = 0; i < SWAPSIM_MAX_CLIENTS; i++)
        s->mb_clients[i].fd = -1;
    s->mb = modbus_new_rtu(device, baud, parity, data_bits, stop_bits);
    s->map = modbus_mapping_new_start_address(0, 65536, 0, 65536, 0, 65536, 0, 65536);
    if (!s->mb || !s->map) {
        snprintf(err, errsize, "libmodbus: %s", modbus_strerror(errno));
        return -1;
    }
    if (modbus_set_slave(s->mb, unit) != 0 || modbus_connect(s->mb) != 0) {
        snprintf(err, errsize, "--rtu %s: %s", device, modbus_strerror(errno));
        return -1;
    }
    modbus_set_response_timeout(s->mb, 0, 1000);
    modbus_set_byte_timeout(s->mb, 0, 100000);
    s->rtu_fd = modbus_get_socket(s->mb);
    s->rtu_baud = baud;
    s->rtu_char_bits = 1 + data_bits + (parity == 'N' ? 0 : 1) + stop_bits;
    return 0;
}

void swapsim_rtu_readable(struct swapsim *s)
{
    uint8_t req[MODBUS_RTU_MAX_ADU_LENGTH];
    int len = modbus_receive(s->mb, req);
    if (len <= 0)
        return;     /* another unit's request, a bad CRC or a torn frame: no reply */
    if (s->silent)
        return;
    if (s->rtu_pace) {
        /* the request and a reply of about the same size on the line, with the 3.5-character
         * silence after each (1750 us above 19200 baud) */
        double char_us = s->rtu_char_bits * 1e6 / s->rtu_baud;
        double t35 = s->rtu_baud > 19200 ? 1750 : 3.5 * char_us;
        unsigned fc = req[1], reply = 8;
        if (fc == MODBUS_FC_READ_HOLDING_REGISTERS || fc == MODBUS_FC_READ_INPUT_REGISTERS)
            reply = 5 + 2u * get16(req + 4);
        else if (fc == MODBUS_FC_READ_COILS || fc == MODBUS_FC_READ_DISCRETE_INPUTS)
            reply = 5 + (get16(req + 4) + 7u) / 8;
        double us = ((unsigned)len + reply) * char_us + 2 * t35;
        struct timespec ts = { 0, (long)(us * 1000) };
        nanosleep(&ts, NULL);
    }
    swapsim_mb_serve(s, req, (size_t)len, -1);
}
