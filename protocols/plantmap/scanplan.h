/* Scan planning: the Modbus requests that move a plant map's signals, and what they cost
 * on the wire.
 *
 * Reads: per table and class, neighbouring addresses are coalesced into blocks, bridging
 * a gap of unmapped addresses when reading them costs less time than another request
 * (or up to the map's max_gap), within the protocol's and the device's request limits.
 * Fast blocks are read every scan; slow blocks (per-slot telemetry one slot per block)
 * round-robin, so many a scan that all of them are read once per slow period. Writes: the
 * contiguous runs of output addresses, never bridged (a write would clobber what lies in
 * a gap); a block is written when its values changed, every refresh period, and always
 * when it holds the heartbeat.
 */
#ifndef SWAP_SCANPLAN_H
#define SWAP_SCANPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "plantmap/plantmap.h"

#define SCANPLAN_MAX_REQ 1024

struct scanplan_req {
    enum plantmap_table table;
    unsigned addr, n;            /* first address, count of registers or bits */
    bool write;
    enum plantmap_class cls;     /* reads */
    bool heartbeat;              /* a write block holding the heartbeat */
};

/* The link the plan is costed for. */
struct scanplan_link {
    bool rtu;
    int baud, data_bits, stop_bits;
    char parity;                 /* 'N', 'E', 'O' */
    double tcp_bps;              /* TCP: bit rate of the link */
    double tcp_request_us;       /* TCP: round trip and device turnaround per request */
};

struct scanplan {
    unsigned n_req;              /* fast reads, then slow reads, then writes */
    unsigned n_fast, n_slow, n_write;
    struct scanplan_req req[SCANPLAN_MAX_REQ];
};

struct scanplan_cost {
    unsigned requests, bytes;
    double us;
};

/* Builds the plan for n_slots slots. Returns 0, or -1 with err set (slot count beyond
 * the map, more requests than SCANPLAN_MAX_REQ). */
int scanplan_build(const struct plantmap *m, unsigned n_slots, const struct scanplan_link *link, struct scanplan *p,
                   char *err, size_t errsize);

/* The slow read blocks (0-based among the plan's slow reads) that hold slot's per-slot
 * slow inputs (its charger telemetry): at most max of them into blocks. Returns their
 * count (0: the slot's telemetry is read every scan, or the map has none). */
unsigned scanplan_slot_slow_blocks(const struct scanplan *p, const struct plantmap *m, unsigned slot,
                                   unsigned *blocks, unsigned max);

/* Bytes of one request and its reply on the wire (RTU: address + PDU + CRC; TCP: MBAP
 * header + PDU), and the time they take (RTU: with the 3.5-character silence after each
 * frame, 1750 us above 19200 baud). */
unsigned scanplan_req_bytes(const struct scanplan_req *r, bool rtu);
double scanplan_req_us(const struct scanplan_req *r, const struct scanplan_link *l);

/* Slow blocks to read per scan so that each is read once per slow period. */
unsigned scanplan_slow_per_scan(const struct scanplan *p, int period_ms, int slow_period_ms);

/* The fast loop's worst case (every fast read, every write block), the typical scan
 * (fast reads, heartbeat writes, its share of slow reads) and one whole slow cycle. */
void scanplan_costs(const struct scanplan *p, const struct scanplan_link *l, int period_ms, int slow_period_ms,
                    struct scanplan_cost *fast_worst, struct scanplan_cost *typical, struct scanplan_cost *slow_cycle);

/* The shortest scan period (whole ms) that fits the fast loop's worst case. */
int scanplan_min_period_ms(const struct scanplan *p, const struct scanplan_link *l, int slow_period_ms);

/* Prints the requests and their costs; returns 0 if the worst fast loop fits period_ms,
 * else -1 after saying which period would. */
int scanplan_print(FILE *f, const struct scanplan *p, const struct plantmap *m, const struct scanplan_link *l,
                   int period_ms, int slow_period_ms);

#endif
