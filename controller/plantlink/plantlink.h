/* Modbus link to the plant (TCP, or RTU on a serial line). A worker thread exchanges
 * the process image with the plant every period through plantio's Modbus backend, which
 * reconnects with back-off when the link fails; or, on fresh input, hands each image
 * over as it arrives, wakes the scan and writes the scan's outputs at once. What travels is the plant map's scan
 * plan (scanplan.h): the fast read blocks every exchange, the slow ones round-robin over
 * the slow period, the write blocks that changed (all of them every refresh period and
 * after a reconnect; the heartbeat's always); the map translates between those wire
 * blocks and the logical image (regmap.h) that the scan hands over and takes. The scan loop hands its outputs over and takes the latest inputs under a mutex,
 * so a slow or dead plant never blocks the scan; it judges comm loss from the age of
 * the inputs. Each slot's slow telemetry comes with the time it was read, or 0 when it
 * has not been read since the slot's presence changed (plantlink_age.h); the link
 * measures its own period and exchange time (plantlink_get_timing).
 */
#ifndef SWAP_PLANTLINK_H
#define SWAP_PLANTLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plantlink/plantlink_timing.h"
#include "plantmap/plantmap.h"
#include "regmap/regmap.h"

#define PLANTLINK_DI_MAX REGMAP_DI_COUNT(REGMAP_MAX_SLOTS)
#define PLANTLINK_IR_MAX REGMAP_IR_COUNT(REGMAP_MAX_SLOTS)
#define PLANTLINK_HR_MAX REGMAP_HR_COUNT(REGMAP_MAX_SLOTS)

struct plantlink_inputs {
    uint8_t di[PLANTLINK_DI_MAX];
    uint16_t ir[PLANTLINK_IR_MAX];
    /* Per slot: when its slow telemetry (the map's slow per-slot inputs: voltage, current,
     * temperature, charger state...) was read, CLOCK_MONOTONIC us; 0 when it has not been
     * read since the slot's presence last changed, so the values in ir are another pack's
     * or an empty slot's: unknown (plantlink_age.h). */
    uint64_t telemetry_us[REGMAP_MAX_SLOTS];
};

struct plantlink_outputs {
    uint8_t co[REGMAP_CO_COUNT];
    uint16_t hr[PLANTLINK_HR_MAX];
    /* plantlink_put_outputs: the status.readback_seq these outputs were computed after.
     * Outputs older than the connection's read-back are never written to it: a new
     * connection (the plant may have restarted) gets nothing until the controller has
     * adopted what the plant holds now. */
    uint64_t readback_seq;
    /* On fresh input: nothing the scan waits for hangs on the plant's next edge, so the
     * link reads the next image a period after the last one began instead of
     * fresh_gap_ms after this write (an idle station polls on the fixed link's grid; a
     * swap in progress, back to back). */
    bool pace_by_period;
};

struct plantlink_config {
    char host[128];
    int port;
    int unit_id;
    unsigned n_slots;
    int period_ms;              /* exchange period */
    int response_timeout_ms;    /* per request */
    int backoff_min_ms, backoff_max_ms; /* reconnect back-off, doubling */
    /* Scan on fresh input: read the image, hand it over and wake the scan
     * (plantlink_wake_fd), wait at most period_ms for the outputs the scan computes from
     * it, write them at once, read again. false: a fixed exchange every period_ms. */
    bool on_fresh_input;
    int fresh_gap_ms;           /* on fresh input: pause after the outputs' write */
    /* RTU instead of TCP: the serial line (host and port are then unused) */
    bool rtu;
    char device[128];
    int baud, data_bits, stop_bits;
    char parity;                /* 'N', 'E', 'O' */
    bool rs485;                 /* switch the port to RS-485 mode (TIOCSRS485) */
    int byte_timeout_ms;        /* inter-character timeout within a frame; 0: response_timeout_ms */
    const struct plantmap *map; /* the plant's layout (not owned); NULL: the default map */
    int slow_period_ms;         /* every slow block read once per this; 0: every exchange */
    int refresh_ms;             /* every write block written at least this often; 0: every exchange */
    double tcp_request_us;      /* plan costing for TCP: round trip per request; 0: 200 */
};

struct plantlink_status {
    bool connected;
    uint64_t inputs_ms;         /* CLOCK_MONOTONIC ms when the inputs were read; 0 never */
    uint64_t inputs_us;         /* the same in us */
    uint64_t exchanges, failures, reconnects;
    uint64_t exchange_us_last, exchange_us_max;
    uint64_t requests, writes_skipped;  /* requests sent; write blocks left out as unchanged */
    int last_errno;
    char last_error[128];
    /* The plant's own coil and holding-register image, read back at every (re)connect
     * before anything is written: after a restart the controller adopts it instead of
     * writing its defaults, so it never moves anything before it has reconciled. */
    uint64_t readback_seq;      /* increments with every successful read-back */
    struct plantlink_outputs readback;
};

struct plantlink;

/* Starts the worker; it connects in the background. Returns NULL with err filled on a
 * bad configuration or when the thread cannot start. */
struct plantlink *plantlink_start(const struct plantlink_config *cfg, char *err, size_t errsize);

/* Stops the worker and closes the link. */
void plantlink_stop(struct plantlink *l);

/* Outputs to write from the next exchange on. Never blocks on the network. */
void plantlink_put_outputs(struct plantlink *l, const struct plantlink_outputs *out);

/* Copies the latest inputs and the link status. Never blocks on the network. Returns
 * status.inputs_ms (0 if no exchange has succeeded yet). */
uint64_t plantlink_get_inputs(struct plantlink *l, struct plantlink_inputs *in,
                              struct plantlink_status *status);

/* A descriptor that polls readable when a new image has arrived (on_fresh_input; never
 * readable otherwise). plantlink_take_wake() reads it empty. */
int plantlink_wake_fd(const struct plantlink *l);
/* Returns true when a new image arrived since the last call. Never blocks. */
bool plantlink_take_wake(struct plantlink *l);

/* The fast loop as measured since the link started (either may be NULL): the time
 * between two images published in a row (the period the scan sees; a failed exchange
 * breaks the row) and the time one exchange took on the wire, first read to publish.
 * Never blocks on the network. */
void plantlink_get_timing(struct plantlink *l, struct plantlink_timing *period, struct plantlink_timing *exchange);

/* CLOCK_MONOTONIC in milliseconds, the time base of inputs_ms. */
uint64_t plantlink_now_ms(void);

#endif
