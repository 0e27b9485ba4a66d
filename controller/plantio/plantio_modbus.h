/* The Modbus TCP / RTU backend of plant I/O (libmodbus): synchronous block transfers with
 * short timeouts, requests split to the protocol's size limits, and reconnection with
 * doubling back-off. While the link is down every call fails at once (errno ENOTCONN)
 * instead of blocking the scan; the core turns the failed reads into comm loss.
 * This is I/O code: it owns a socket and reads CLOCK_MONOTONIC for the back-off.
 */
#ifndef SWAP_PLANTIO_MODBUS_H
#define SWAP_PLANTIO_MODBUS_H

#include <stdbool.h>
#include <stddef.h>

#include "plantio/plantio.h"

struct plantio_modbus_cfg {
    const char *host;
    int port;
    int unit_id;
    int timeout_ms;                 /* per request (response and byte timeout) */
    int backoff_min_ms, backoff_max_ms;
    /* RTU: the serial device instead of host and port */
    bool rtu;
    const char *device;
    int baud, data_bits, stop_bits;
    char parity;                    /* 'N', 'E', 'O' */
    bool rs485;                     /* RS-485 mode (the port must support TIOCSRS485) */
    int byte_timeout_ms;            /* inter-character timeout; 0: timeout_ms */
};

/* Fills b with a Modbus TCP or RTU backend (connects or opens on first use). Returns 0, or -1 with err
 * set for a bad configuration or out of memory. b->close frees everything. */
int plantio_modbus_backend(struct plantio_backend *b, const struct plantio_modbus_cfg *cfg, char *err,
                           size_t errsize);

/* Can device be switched to RS-485 mode? Opens it and asks its driver for its RS-485
 * settings (TIOCGRS485) without changing anything. Returns 0 when it can; -1 when the
 * driver has no RS-485 mode (a pty, most USB adapters that drive their transceiver by
 * themselves), with err saying so and what to set instead; 1 when the device cannot be
 * opened now (err says why: absent, busy, no permission), which says nothing about it. */
int plantio_modbus_rs485_probe(const char *device, char *err, size_t errsize);

/* Successful connections so far; a change tells the caller the link is new. */
unsigned plantio_modbus_connections(const struct plantio_backend *b);

/* Reconnections so far (for status pages and tests). */
unsigned plantio_modbus_reconnects(const struct plantio_backend *b);

#endif
