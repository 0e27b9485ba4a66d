/* Scan planning; see scanplan.h. */
#include "plantmap/scanplan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool bit_table(enum plantmap_table t)
{
    return t == PLANTMAP_COIL || t == PLANTMAP_DI;
}

unsigned scanplan_req_bytes(const struct scanplan_req *r, bool rtu)
{
    unsigned data = bit_table(r->table) ? (r->n + 7) / 8 : 2 * r->n;
    unsigned head = rtu ? 3 : 7;  /* address + CRC, or the MBAP header (with the unit id); PDU below */
    /* read: request fc+addr+n, reply fc+count+data; write: fc+addr+n+count+data, reply fc+addr+n */
    if (r->write)
        return head + 6 + data + head + 5;
    return head + 5 + head + 2 + data;
}

static double char_us(const struct scanplan_link *l)
{
    int bits = 1 + l->data_bits + (l->parity == 'N' ? 0 : 1) + l->stop_bits;
    return bits * 1e6 / l->baud;
}

double scanplan_req_us(const struct scanplan_req *r, const struct scanplan_link *l)
{
    unsigned bytes = scanplan_req_bytes(r, l->rtu);
    if (l->rtu) {
        double t35 = l->baud > 19200 ? 1750.0 : 3.5 * char_us(l);
        return bytes * char_us(l) + 2 * t35;
    }
    return bytes * 8e6 / l->tcp_bps + l->tcp_request_us;
}

/* Time one more request costs beyond its data, and one byte of data. */
static double request_overhead_us(const struct scanplan_link *l, double *byte_us)
{
    struct scanplan_req r = { .table = PLANTMAP_HR, .n = 0 };
    *byte_us = l->rtu ? char_us(l) : 8e6 / l->tcp_bps;
    return scanplan_req_us(&r, l);
}

struct item {
    unsigned addr;
    int group;
};

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int add_req(struct scanplan *p, struct scanplan_req r, char *err, size_t errsize)
{
    if (p->n_req >= SCANPLAN_MAX_REQ) {
        snprintf(err, errsize, "scan plan: more than %d requests", SCANPLAN_MAX_REQ);
        return -1;
    }
    p->req[p->n_req++] = r;
    return 0;
}

/* Collects the wire addresses of the selected signals of one table. */
static size_t collect(const struct plantmap *m, unsigned n_slots, enum plantmap_table t, bool outputs,
                      int cls, bool group_slots, struct item *items)
{
    size_t n = 0;
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        const struct plantmap_sigdef *d = plantmap_signal(i);
        const struct plantmap_sig *g = &m->sig[i];
        if (!g->present || g->table != t || d->output != outputs || (cls >= 0 && (int)g->cls != cls))
            continue;
        unsigned width = bit_table(t) ? 1 : plantmap_type_width(g->type);
        unsigned slots = d->lstride ? n_slots : 1;
        for (unsigned s = 0; s < slots; s++)
            for (unsigned k = 0; k < width; k++)
                items[n++] = (struct item){ plantmap_addr(m, i, s) + k, group_slots && d->lstride ? (int)s : -1 };
    }
    qsort(items, n, sizeof items[0], cmp_item);
    return n;
}

static int plan_reads(const struct plantmap *m, unsigned n_slots, const struct scanplan_link *l,
                      enum plantmap_class cls, struct scanplan *p, struct item *items, char *err, size_t errsize)
{
    double byte_us, over_us = request_overhead_us(l, &byte_us);
    static const enum plantmap_table tables[] = { PLANTMAP_DI, PLANTMAP_COIL, PLANTMAP_IR, PLANTMAP_HR };
    for (size_t ti = 0; ti < 4; ti++) {
        enum plantmap_table t = tables[ti];
        bool bits = bit_table(t);
        unsigned max = bits ? m->max_read_bits : m->max_read_regs;
        int max_gap = bits ? m->max_gap_bits : m->max_gap_regs;
        size_t n = collect(m, n_slots, t, false, (int)cls, cls == PLANTMAP_SLOW, items);
        for (size_t i = 0; i < n;) {
            struct scanplan_req r = { .table = t, .addr = items[i].addr, .n = 1, .cls = cls };
            int group = items[i].group;
            size_t j = i + 1;
            for (; j < n && items[j].group == group; j++) {
                unsigned end = r.addr + r.n;
                if (items[j].addr < end)
                    continue;           /* same address (packed bits) */
                unsigned gap = items[j].addr - end;
                double gap_us = (bits ? gap / 8.0 : 2.0 * gap) * byte_us;
                bool bridge = max_gap >= 0 ? gap <= (unsigned)max_gap : gap_us < over_us;
                if (!bridge || items[j].addr + 1 - r.addr > max)
                    break;
                r.n = items[j].addr + 1 - r.addr;
            }
            if (add_req(p, r, err, errsize) != 0)
                return -1;
            i = j;
        }
    }
    return 0;
}

static int plan_writes(const struct plantmap *m, unsigned n_slots, struct scanplan *p, struct item *items, char *err,
                       size_t errsize)
{
    int hb = plantmap_signal_find("heartbeat");
    unsigned hb_addr = m->sig[hb].addr;
    enum plantmap_table hb_table = m->sig[hb].table;
    static const enum plantmap_table tables[] = { PLANTMAP_COIL, PLANTMAP_HR };
    for (size_t ti = 0; ti < 2; ti++) {
        enum plantmap_table t = tables[ti];
        unsigned max = bit_table(t) ? m->max_write_bits : m->max_write_regs;
        size_t n = collect(m, n_slots, t, true, -1, false, items);
        for (size_t i = 0; i < n;) {
            struct scanplan_req r = { .table = t, .addr = items[i].addr, .n = 1, .write = true };
            size_t j = i + 1;
            for (; j < n; j++) {
                unsigned end = r.addr + r.n;
                if (items[j].addr < end)
                    continue;
                if (items[j].addr != end || r.n + 1 > max)
                    break;
                r.n++;
            }
            r.heartbeat = t == hb_table && hb_addr >= r.addr && hb_addr < r.addr + r.n;
            if (add_req(p, r, err, errsize) != 0)
                return -1;
            i = j;
        }
    }
    return 0;
}

int scanplan_build(const struct plantmap *m, unsigned n_slots, const struct scanplan_link *link, struct scanplan *p,
                   char *err, size_t errsize)
{
    memset(p, 0, sizeof *p);
    if (plantmap_check_slots(m, n_slots, err, errsize) != 0)
        return -1;
    struct item *items = calloc(plantmap_signal_count() * 2 * REGMAP_MAX_SLOTS, sizeof *items);
    if (!items) {
        snprintf(err, errsize, "scan plan: out of memory");
        return -1;
    }
    int rc = plan_reads(m, n_slots, link, PLANTMAP_FAST, p, items, err, errsize);
    p->n_fast = p->n_req;
    if (rc == 0)
        rc = plan_reads(m, n_slots, link, PLANTMAP_SLOW, p, items, err, errsize);
    p->n_slow = p->n_req - p->n_fast;
    if (rc == 0)
        rc = plan_writes(m, n_slots, p, items, err, errsize);
    p->n_write = p->n_req - p->n_fast - p->n_slow;
    free(items);
    return rc;
}

unsigned scanplan_slot_slow_blocks(const struct scanplan *p, const struct plantmap *m, unsigned slot,
                                   unsigned *blocks, unsigned max)
{
    unsigned n = 0;
    for (unsigned k = 0; k < p->n_slow; k++) {
        const struct scanplan_req *r = &p->req[p->n_fast + k];
        bool holds = false;
        for (size_t i = 0; i < plantmap_signal_count() && !holds; i++) {
            const struct plantmap_sigdef *d = plantmap_signal(i);
            const struct plantmap_sig *g = &m->sig[i];
            if (!g->present || !d->lstride || d->output || g->cls != PLANTMAP_SLOW || g->table != r->table)
                continue;
            unsigned a = plantmap_addr(m, i, slot);
            unsigned width = bit_table(g->table) ? 1 : plantmap_type_width(g->type);
            holds = a < r->addr + r->n && a + width > r->addr;
        }
        if (holds && n < max)
            blocks[n++] = k;
    }
    return n;
}

unsigned scanplan_slow_per_scan(const struct scanplan *p, int period_ms, int slow_period_ms)
{
    if (!p->n_slow)
        return 0;
    if (slow_period_ms <= period_ms)
        return p->n_slow;
    unsigned scans = (unsigned)(slow_period_ms / period_ms);
    return (p->n_slow + scans - 1) / scans;
}

static void add_cost(struct scanplan_cost *c, const struct scanplan_req *r, const struct scanplan_link *l)
{
    c->requests++;
    c->bytes += scanplan_req_bytes(r, l->rtu);
    c->us += scanplan_req_us(r, l);
}

void scanplan_costs(const struct scanplan *p, const struct scanplan_link *l, int period_ms, int slow_period_ms,
                    struct scanplan_cost *fast_worst, struct scanplan_cost *typical, struct scanplan_cost *slow_cycle)
{
    memset(fast_worst, 0, sizeof *fast_worst);
    memset(typical, 0, sizeof *typical);
    memset(slow_cycle, 0, sizeof *slow_cycle);
    for (unsigned i = 0; i < p->n_req; i++) {
        const struct scanplan_req *r = &p->req[i];
        if (i < p->n_fast) {
            add_cost(fast_worst, r, l);
            add_cost(typical, r, l);
        } else if (i < p->n_fast + p->n_slow) {
            add_cost(slow_cycle, r, l);
        } else {
            add_cost(fast_worst, r, l);
            if (r->heartbeat)
                add_cost(typical, r, l);
        }
    }
    /* the typical scan's share of the slow reads: the largest k of them */
    unsigned k = scanplan_slow_per_scan(p, period_ms, slow_period_ms);
    double us[SCANPLAN_MAX_REQ];
    unsigned bytes[SCANPLAN_MAX_REQ];
    for (unsigned i = 0; i < p->n_slow; i++) {
        us[i] = scanplan_req_us(&p->req[p->n_fast + i], l);
        bytes[i] = scanplan_req_bytes(&p->req[p->n_fast + i], l->rtu);
    }
    for (unsigned a = 0; a < k; a++) {
        unsigned best = a;
        for (unsigned b = a + 1; b < p->n_slow; b++)
            if (us[b] > us[best])
                best = b;
        double tu = us[a];
        us[a] = us[best];
        us[best] = tu;
        unsigned tb = bytes[a];
        bytes[a] = bytes[best];
        bytes[best] = tb;
        typical->requests++;
        typical->bytes += bytes[a];
        typical->us += us[a];
    }
}

int scanplan_min_period_ms(const struct scanplan *p, const struct scanplan_link *l, int slow_period_ms)
{
    for (int period = 1; period < 100000; period++) {
        struct scanplan_cost fw, ty, sc, reads_hb = { 0, 0, 0 };
        scanplan_costs(p, l, period, slow_period_ms, &fw, &ty, &sc);
        for (unsigned i = 0; i < p->n_req; i++)
            if (i < p->n_fast || (i >= p->n_fast + p->n_slow && p->req[i].heartbeat))
                add_cost(&reads_hb, &p->req[i], l);
        /* the worst scan: every fast read, every write, and its share of the slow reads */
        if (fw.us + (ty.us - reads_hb.us) <= period * 1000.0)
            return period;
    }
    return 100000;
}

static void print_req(FILE *f, const struct scanplan_req *r, const struct scanplan_link *l)
{
    static const char *const verb[] = { "", "coils", "discrete inputs", "input registers", "holding registers" };
    fprintf(f, "  %-5s %-17s %5u..%-5u (%3u)  %4u bytes  %8.0f us%s\n", r->write ? "write" : "read", verb[r->table],
            r->addr, r->addr + r->n - 1, r->n, scanplan_req_bytes(r, l->rtu), scanplan_req_us(r, l),
            r->heartbeat ? "  (heartbeat: every scan)" : "");
}

int scanplan_print(FILE *f, const struct scanplan *p, const struct plantmap *m, const struct scanplan_link *l,
                   int period_ms, int slow_period_ms)
{
    if (l->rtu)
        fprintf(f, "scan plan for map \"%s\" over Modbus RTU %d %d%c%d, scan period %d ms, slow period %d ms\n",
                m->name, l->baud, l->data_bits, l->parity, l->stop_bits, period_ms, slow_period_ms);
    else
        fprintf(f, "scan plan for map \"%s\" over Modbus TCP (%.0f Mbit/s, %.0f us per request), scan period %d ms, "
                   "slow period %d ms\n",
                m->name, l->tcp_bps / 1e6, l->tcp_request_us, period_ms, slow_period_ms);
    fprintf(f, "fast reads (every scan):\n");
    for (unsigned i = 0; i < p->n_fast; i++)
        print_req(f, &p->req[i], l);
    fprintf(f, "slow reads (round-robin, %u per scan):\n", scanplan_slow_per_scan(p, period_ms, slow_period_ms));
    for (unsigned i = p->n_fast; i < p->n_fast + p->n_slow; i++)
        print_req(f, &p->req[i], l);
    fprintf(f, "writes (when changed, every refresh period; the heartbeat's every scan):\n");
    for (unsigned i = p->n_fast + p->n_slow; i < p->n_req; i++)
        print_req(f, &p->req[i], l);
    struct scanplan_cost fw, ty, sc;
    scanplan_costs(p, l, period_ms, slow_period_ms, &fw, &ty, &sc);
    int need = scanplan_min_period_ms(p, l, slow_period_ms);
    fprintf(f, "fast loop, worst case (every fast read and every write): %u requests, %u bytes, %.1f ms\n", fw.requests,
            fw.bytes, fw.us / 1000);
    fprintf(f, "typical scan (fast reads, heartbeat write, slow share): %u requests, %u bytes, %.1f ms\n", ty.requests,
            ty.bytes, ty.us / 1000);
    fprintf(f, "slow cycle (every slow read once): %u requests, %u bytes, %.1f ms\n", sc.requests, sc.bytes,
            sc.us / 1000);
    if (need > period_ms) {
        fprintf(f, "REFUSED: the fast loop does not fit a %d ms scan period; a period of %d ms would\n", period_ms,
                need);
        return -1;
    }
    fprintf(f, "fits: the shortest period this plan fits is %d ms\n", need);
    return 0;
}
