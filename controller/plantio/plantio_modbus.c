/* Modbus TCP / RTU backend of plant I/O; see plantio_modbus.h. */
#include "plantio/plantio_modbus.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/serial.h>
#include <modbus.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Protocol limits per request (Modbus application protocol 1.1b3). */
#define READ_REGS_MAX 125
#define WRITE_REGS_MAX 123
#define READ_BITS_MAX 2000
#define WRITE_BITS_MAX 1968

struct mb_ctx {
    modbus_t *mb;
    char host[128];
    char device[128];
    struct plantio_modbus_cfg cfg;
    bool connected;
    uint64_t next_attempt_ms;
    int backoff_ms;
    unsigned connects;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void drop(struct mb_ctx *c)
{
    if (c->connected)
        modbus_close(c->mb);
    c->connected = false;
    c->next_attempt_ms = mono_ms() + (uint64_t)c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > c->cfg.backoff_max_ms ? c->cfg.backoff_max_ms : c->backoff_ms * 2;
}

static int ensure(struct mb_ctx *c)
{
    if (c->connected)
        return 0;
    if (mono_ms() < c->next_attempt_ms) {
        errno = ENOTCONN;
        return -1;
    }
    if (modbus_connect(c->mb) != 0) {
        int e = errno;
        drop(c);
        errno = e;
        return -1;
    }
    if (c->cfg.rtu && c->cfg.rs485 && modbus_rtu_set_serial_mode(c->mb, MODBUS_RTU_RS485) != 0) {
        int e = errno;
        modbus_close(c->mb);
        c->connected = true;
        drop(c);
        errno = e;
        return -1;
    }
    c->connected = true;
    c->connects++;
    c->backoff_ms = c->cfg.backoff_min_ms;
    return 0;
}

/* A Modbus exception is the server's answer: the link is fine. Anything else (timeout,
 * reset, garbage) closes the link; the next attempt waits for the back-off. */
static int failed(struct mb_ctx *c)
{
    int e = errno;
    if (!(e > MODBUS_ENOBASE && e <= MODBUS_ENOBASE + MODBUS_EXCEPTION_GATEWAY_TARGET))
        drop(c);
    errno = e;
    return -1;
}

typedef int (*read_bits_fn)(modbus_t *, int, int, uint8_t *);
typedef int (*read_regs_fn)(modbus_t *, int, int, uint16_t *);

static int read_bits(struct mb_ctx *c, read_bits_fn fn, unsigned addr, unsigned n, uint8_t *out)
{
    if (ensure(c) < 0)
        return -1;
    for (unsigned done = 0; done < n;) {
        unsigned k = n - done > READ_BITS_MAX ? READ_BITS_MAX : n - done;
        if (fn(c->mb, (int)(addr + done), (int)k, out + done) != (int)k)
            return failed(c);
        done += k;
    }
    return 0;
}

static int read_regs(struct mb_ctx *c, read_regs_fn fn, unsigned addr, unsigned n, uint16_t *out)
{
    if (ensure(c) < 0)
        return -1;
    for (unsigned done = 0; done < n;) {
        unsigned k = n - done > READ_REGS_MAX ? READ_REGS_MAX : n - done;
        if (fn(c->mb, (int)(addr + done), (int)k, out + done) != (int)k)
            return failed(c);
        done += k;
    }
    return 0;
}

static int mb_read_di(void *ctx, unsigned addr, unsigned n, uint8_t *out)
{
    return read_bits(ctx, modbus_read_input_bits, addr, n, out);
}

static int mb_read_co(void *ctx, unsigned addr, unsigned n, uint8_t *out)
{
    return read_bits(ctx, modbus_read_bits, addr, n, out);
}

static int mb_read_ir(void *ctx, unsigned addr, unsigned n, uint16_t *out)
{
    return read_regs(ctx, modbus_read_input_registers, addr, n, out);
}

static int mb_read_hr(void *ctx, unsigned addr, unsigned n, uint16_t *out)
{
    return read_regs(ctx, modbus_read_registers, addr, n, out);
}

static int mb_write_co(void *ctx, unsigned addr, unsigned n, const uint8_t *v)
{
    struct mb_ctx *c = ctx;
    if (ensure(c) < 0)
        return -1;
    for (unsigned done = 0; done < n;) {
        unsigned k = n - done > WRITE_BITS_MAX ? WRITE_BITS_MAX : n - done;
        if (modbus_write_bits(c->mb, (int)(addr + done), (int)k, v + done) != (int)k)
            return failed(c);
        done += k;
    }
    return 0;
}

static int mb_write_hr(void *ctx, unsigned addr, unsigned n, const uint16_t *v)
{
    struct mb_ctx *c = ctx;
    if (ensure(c) < 0)
        return -1;
    for (unsigned done = 0; done < n;) {
        unsigned k = n - done > WRITE_REGS_MAX ? WRITE_REGS_MAX : n - done;
        if (modbus_write_registers(c->mb, (int)(addr + done), (int)k, v + done) != (int)k)
            return failed(c);
        done += k;
    }
    return 0;
}

static void mb_close(void *ctx)
{
    struct mb_ctx *c = ctx;
    if (!c)
        return;
    if (c->connected)
        modbus_close(c->mb);
    modbus_free(c->mb);
    free(c);
}

static int check_cfg(const struct plantio_modbus_cfg *cfg, char *err, size_t errsize)
{
    if (cfg->timeout_ms < 1 || cfg->timeout_ms > 60000 || cfg->backoff_min_ms < 1 ||
        cfg->backoff_max_ms < cfg->backoff_min_ms || cfg->unit_id < 0 || cfg->unit_id > 247 ||
        cfg->byte_timeout_ms < 0 || cfg->byte_timeout_ms > 60000) {
        snprintf(err, errsize, "plant link: unit id, timeout or back-off out of range");
        return -1;
    }
    if (cfg->rtu) {
        if (!cfg->device || !*cfg->device || strlen(cfg->device) >= sizeof ((struct mb_ctx *)0)->device ||
            cfg->baud < 50 || cfg->baud > 4000000 || cfg->data_bits < 5 || cfg->data_bits > 8 ||
            cfg->stop_bits < 1 || cfg->stop_bits > 2 ||
            (cfg->parity != 'N' && cfg->parity != 'E' && cfg->parity != 'O') || cfg->unit_id < 1) {
            snprintf(err, errsize, "plant link: RTU device, baud, framing or unit id (1..247) out of range");
            return -1;
        }
        return 0;
    }
    if (!cfg->host || !*cfg->host || strlen(cfg->host) >= sizeof ((struct mb_ctx *)0)->host) {
        snprintf(err, errsize, "plant link: bad host");
        return -1;
    }
    if (cfg->port < 1 || cfg->port > 65535) {
        snprintf(err, errsize, "plant link %s:%d: port out of range", cfg->host, cfg->port);
        return -1;
    }
    return 0;
}

int plantio_modbus_backend(struct plantio_backend *b, const struct plantio_modbus_cfg *cfg, char *err,
                           size_t errsize)
{
    if (check_cfg(cfg, err, errsize) != 0)
        return -1;
    struct mb_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errsize, "plant link: out of memory");
        return -1;
    }
    c->cfg = *cfg;
    if (cfg->rtu) {
        snprintf(c->device, sizeof c->device, "%s", cfg->device);
        c->cfg.device = c->device;
        c->cfg.host = NULL;
        c->mb = modbus_new_rtu(c->device, cfg->baud, cfg->parity, cfg->data_bits, cfg->stop_bits);
    } else {
        snprintf(c->host, sizeof c->host, "%s", cfg->host);
        c->cfg.host = c->host;
        c->cfg.device = NULL;
        c->mb = modbus_new_tcp(c->host, cfg->port);
    }
    c->backoff_ms = cfg->backoff_min_ms;
    if (!c->mb) {
        snprintf(err, errsize, "plant link %s: %s", cfg->rtu ? cfg->device : cfg->host, modbus_strerror(errno));
        free(c);
        return -1;
    }
    modbus_set_slave(c->mb, cfg->unit_id);
    uint32_t s = (uint32_t)cfg->timeout_ms / 1000, us = (uint32_t)(cfg->timeout_ms % 1000) * 1000;
    modbus_set_response_timeout(c->mb, s, us);
    int bt = cfg->byte_timeout_ms > 0 ? cfg->byte_timeout_ms : cfg->timeout_ms;
    modbus_set_byte_timeout(c->mb, (uint32_t)bt / 1000, (uint32_t)(bt % 1000) * 1000);
    b->name = cfg->rtu ? "modbus-rtu" : "modbus-tcp";
    b->ctx = c;
    b->read_di = mb_read_di;
    b->read_ir = mb_read_ir;
    b->read_co = mb_read_co;
    b->read_hr = mb_read_hr;
    b->write_co = mb_write_co;
    b->write_hr = mb_write_hr;
    b->close = mb_close;
    b->map = NULL;
    return 0;
}

unsigned plantio_modbus_connections(const struct plantio_backend *b)
{
    const struct mb_ctx *c = b->ctx;
    return c ? c->connects : 0;
}

unsigned plantio_modbus_reconnects(const struct plantio_backend *b)
{
    const struct mb_ctx *c = b->ctx;
    return c && c->connects ? c->connects - 1 : 0;
}

int plantio_modbus_rs485_probe(const char *device, char *err, size_t errsize)
{
    int fd = open(device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsize, "%s: %s", device, strerror(errno));
        return 1;
    }
    struct serial_rs485 conf;
    memset(&conf, 0, sizeof conf);
    int rc = ioctl(fd, TIOCGRS485, &conf);
    int e = errno;
    close(fd);
    if (rc == 0)
        return 0;
    snprintf(err, errsize,
             "%s has no RS-485 mode (TIOCGRS485: %s): a pseudo-terminal or a port whose adapter drives "
             "its transceiver by itself; set rs485 = false for it",
             device, strerror(e));
    return -1;
}
