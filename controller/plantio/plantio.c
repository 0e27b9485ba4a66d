/* Register image <-> typed plant inputs and outputs; see plantio.h. */
#include "plantio/plantio.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool bit(const uint8_t *di, unsigned a)
{
    return di[a] != 0;
}

static double temp_of(uint16_t raw)
{
    return (int16_t)raw / 10.0;
}

/* The physical range of every input register, in register units: a value outside it is
 * a sensor fault value or a wrong map, never a measurement. Signed registers are judged
 * as two's complement, so the 0x8000 "no value" of many PLCs is refused; 0xFFFF is the
 * same for unsigned ones. Ranges are those of the plant configuration's widest settings
 * (plantcfg: X travel 600 mm, Z 150 mm, speeds up to 5000 mm/s, 14 cells). */
struct plantio_range {
    unsigned off;
    bool is_signed;
    int32_t lo, hi;
    const char *what;
};

static const struct plantio_range ir_ranges[] = {
    { REGMAP_IR_PLANT_FAULT, false, 0, PF_COUNT - 1, "plant fault code unknown" },
    { REGMAP_IR_X_POS, false, 0, 6000, "axis X position outside its travel" },
    { REGMAP_IR_X_VEL, true, -5000, 5000, "axis X velocity outside -5000..5000 mm/s" },
    { REGMAP_IR_Z_POS, false, 0, 1500, "axis Z position outside its travel" },
    { REGMAP_IR_Z_VEL, true, -5000, 5000, "axis Z velocity outside -5000..5000 mm/s" },
    { REGMAP_IR_LOAD_G, false, 0, 65534, "load cell reads its sentinel 65535" },
    { REGMAP_IR_WIND, false, 0, 1000, "wind outside 0..100 m/s" },
    { REGMAP_IR_AMBIENT, true, -600, 850, "ambient temperature outside -60..85 degC" },
};

static const struct plantio_range slot_ranges[] = {
    { REGMAP_IR_SLOT_VOLTAGE, false, 0, 65000, "slot pack voltage outside 0..65000 mV" },
    { REGMAP_IR_SLOT_CURRENT, true, -32767, 32767, "slot charger current reads its sentinel -32768" },
    { REGMAP_IR_SLOT_CHARGE_MAH, false, 0, 65534, "slot charge counter reads its sentinel 65535" },
    { REGMAP_IR_SLOT_CELL_MIN, false, 0, 5000, "slot lowest cell voltage outside 0..5000 mV" },
    { REGMAP_IR_SLOT_CELL_MAX, false, 0, 5000, "slot highest cell voltage outside 0..5000 mV" },
    { REGMAP_IR_SLOT_CHG_STATE, false, 0, CHARGER_STORAGE, "charger state unknown" },
    { REGMAP_IR_SLOT_CHG_FAULT, false, 0, CHGF_NO_BATTERY, "charger fault code unknown" },
};

static bool in_range(const struct plantio_range *r, uint16_t raw)
{
    int32_t v = r->is_signed ? (int32_t)(int16_t)raw : (int32_t)raw;
    return v >= r->lo && v <= r->hi;
}

/* Refuses the image: valid = false, refused = true with the first bad register. */
static int refuse(struct station_plant_in *out, int addr, char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int refuse(struct station_plant_in *out, int addr, char *err, size_t errsize, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->refused_why, sizeof out->refused_why, fmt, ap);
    va_end(ap);
    snprintf(err, errsize, "%s", out->refused_why);
    out->valid = false;
    out->refused = true;
    out->refused_addr = addr;
    return -1;
}

static int refuse_ir(struct station_plant_in *out, unsigned addr, uint16_t raw, bool is_signed, const char *why,
                     char *err, size_t errsize)
{
    if (is_signed)
        return refuse(out, (int)addr, err, errsize, "IR %u = %d: %s", addr, (int16_t)raw, why);
    return refuse(out, (int)addr, err, errsize, "IR %u = %u: %s", addr, raw, why);
}

int plantio_decode(const uint8_t *di, const uint16_t *ir, unsigned n_slots,
                   struct station_plant_in *out, char *err, size_t errsize)
{
    if (n_slots < 1 || n_slots > REGMAP_MAX_SLOTS) {
        snprintf(err, errsize, "slot count %u outside 1..%d", n_slots, REGMAP_MAX_SLOTS);
        out->valid = false;
        out->refused = false;
        return -1;
    }
    for (unsigned a = 0; a < REGMAP_DI_COUNT(n_slots); a++)
        if (di[a] > 1)
            return refuse(out, (int)a, err, errsize, "DI %u = %u: not a bit", a, di[a]);
    if (ir[REGMAP_IR_MAP_VERSION] != REGMAP_VERSION)
        return refuse_ir(out, REGMAP_IR_MAP_VERSION, ir[REGMAP_IR_MAP_VERSION], false,
                         "register map version differs", err, errsize);
    if (ir[REGMAP_IR_N_SLOTS] != n_slots)
        return refuse_ir(out, REGMAP_IR_N_SLOTS, ir[REGMAP_IR_N_SLOTS], false,
                         "slot count differs from the configuration", err, errsize);
    if (ir[REGMAP_IR_CAROUSEL_POS] >= n_slots && ir[REGMAP_IR_CAROUSEL_POS] != REGMAP_CAROUSEL_BETWEEN)
        return refuse_ir(out, REGMAP_IR_CAROUSEL_POS, ir[REGMAP_IR_CAROUSEL_POS], false,
                         "carousel position outside the magazine", err, errsize);
    for (size_t i = 0; i < sizeof ir_ranges / sizeof ir_ranges[0]; i++) {
        const struct plantio_range *r = &ir_ranges[i];
        if (!in_range(r, ir[r->off]))
            return refuse_ir(out, r->off, ir[r->off], r->is_signed, r->what, err, errsize);
    }
    for (unsigned s = 0; s < n_slots; s++) {
        for (size_t i = 0; i < sizeof slot_ranges / sizeof slot_ranges[0]; i++) {
            const struct plantio_range *r = &slot_ranges[i];
            unsigned a = REGMAP_IR_SLOT_ADDR(s, r->off);
            if (!in_range(r, ir[a]))
                return refuse_ir(out, a, ir[a], r->is_signed, r->what, err, errsize);
        }
        unsigned t = REGMAP_IR_SLOT_ADDR(s, REGMAP_IR_SLOT_TEMP);
        int16_t temp = (int16_t)ir[t];
        if (temp != REGMAP_TEMP_OPEN && (temp < -600 || temp > 2000))
            return refuse_ir(out, t, ir[t], true, "slot pack temperature outside -60..200 degC", err, errsize);
        unsigned hi = REGMAP_IR_SLOT_ADDR(s, REGMAP_IR_SLOT_TAG_HI);
        if (ir[hi] == 0xFFFF && ir[hi + 1] == 0xFFFF)
            return refuse(out, (int)hi, err, errsize, "IR %u..%u = FFFFFFFF: slot tag reads its sentinel", hi, hi + 1);
    }

    struct station_plant_in p;
    memset(&p, 0, sizeof p);
    p.have_readback = out->have_readback;
    memcpy(p.co_readback, out->co_readback, sizeof p.co_readback);
    p.valid = true;
    p.estop_ok = bit(di, REGMAP_DI_ESTOP_OK);
    p.guard_closed = bit(di, REGMAP_DI_GUARD_CLOSED);
    p.plant_ready = bit(di, REGMAP_DI_PLANT_READY);
    p.watchdog_tripped = bit(di, REGMAP_DI_WATCHDOG_TRIPPED);
    p.center_open = bit(di, REGMAP_DI_CENTER_OPEN);
    p.center_closed = bit(di, REGMAP_DI_CENTER_CLOSED);
    p.clamp_unlocked = bit(di, REGMAP_DI_CLAMP_UNLOCKED);
    p.clamp_locked = bit(di, REGMAP_DI_CLAMP_LOCKED);
    p.x_homed = bit(di, REGMAP_DI_X_HOMED);
    p.x_busy = bit(di, REGMAP_DI_X_BUSY);
    p.x_in_pos = bit(di, REGMAP_DI_X_IN_POS);
    p.x_fault = bit(di, REGMAP_DI_X_FAULT);
    p.z_homed = bit(di, REGMAP_DI_Z_HOMED);
    p.z_busy = bit(di, REGMAP_DI_Z_BUSY);
    p.z_in_pos = bit(di, REGMAP_DI_Z_IN_POS);
    p.z_fault = bit(di, REGMAP_DI_Z_FAULT);
    p.stroke_retracted = bit(di, REGMAP_DI_STROKE_RETRACTED);
    p.stroke_extended = bit(di, REGMAP_DI_STROKE_EXTENDED);
    p.wrist_a = bit(di, REGMAP_DI_WRIST_A);
    p.wrist_b = bit(di, REGMAP_DI_WRIST_B);
    p.grip_a_open = bit(di, REGMAP_DI_GRIP_A_OPEN);
    p.grip_a_closed = bit(di, REGMAP_DI_GRIP_A_CLOSED);
    p.grip_a_holding = bit(di, REGMAP_DI_GRIP_A_HOLDING);
    p.grip_b_open = bit(di, REGMAP_DI_GRIP_B_OPEN);
    p.grip_b_closed = bit(di, REGMAP_DI_GRIP_B_CLOSED);
    p.grip_b_holding = bit(di, REGMAP_DI_GRIP_B_HOLDING);
    p.carousel_busy = bit(di, REGMAP_DI_CAROUSEL_BUSY);
    p.carousel_in_pos = bit(di, REGMAP_DI_CAROUSEL_IN_POS);
    p.carousel_fault = bit(di, REGMAP_DI_CAROUSEL_FAULT);
    p.rain = bit(di, REGMAP_DI_RAIN);
    p.plant_fault = ir[REGMAP_IR_PLANT_FAULT];
    p.x_pos_mm = ir[REGMAP_IR_X_POS] / 10.0;
    p.x_vel_mm_s = (int16_t)ir[REGMAP_IR_X_VEL];
    p.z_pos_mm = ir[REGMAP_IR_Z_POS] / 10.0;
    p.z_vel_mm_s = (int16_t)ir[REGMAP_IR_Z_VEL];
    p.carousel_pos = ir[REGMAP_IR_CAROUSEL_POS] == REGMAP_CAROUSEL_BETWEEN ? -1 : (int)ir[REGMAP_IR_CAROUSEL_POS];
    p.load_g = ir[REGMAP_IR_LOAD_G];
    p.wind_mps = ir[REGMAP_IR_WIND] / 10.0;
    p.ambient_degC = temp_of(ir[REGMAP_IR_AMBIENT]);
    p.heartbeat_echo = ir[REGMAP_IR_HEARTBEAT_ECHO];
    p.n_slots = ir[REGMAP_IR_N_SLOTS];
    p.map_version = ir[REGMAP_IR_MAP_VERSION];
    for (unsigned s = 0; s < n_slots; s++) {
        struct station_slot_in *sl = &p.slot[s];
        const uint16_t *r = &ir[REGMAP_IR_SLOT_ADDR(s, 0)];
        sl->present = bit(di, REGMAP_DI_SLOT_ADDR(s, REGMAP_DI_SLOT_PRESENT));
        sl->tag_ok = bit(di, REGMAP_DI_SLOT_ADDR(s, REGMAP_DI_SLOT_TAG_OK));
        sl->tag = (uint32_t)r[REGMAP_IR_SLOT_TAG_HI] << 16 | r[REGMAP_IR_SLOT_TAG_LO];
        sl->voltage_mV = r[REGMAP_IR_SLOT_VOLTAGE];
        sl->current_mA = (int16_t)r[REGMAP_IR_SLOT_CURRENT];
        sl->temp_ok = (int16_t)r[REGMAP_IR_SLOT_TEMP] != REGMAP_TEMP_OPEN;
        sl->temp_degC = temp_of(r[REGMAP_IR_SLOT_TEMP]);
        sl->charge_mAh = r[REGMAP_IR_SLOT_CHARGE_MAH];
        sl->cell_min_mV = r[REGMAP_IR_SLOT_CELL_MIN];
        sl->cell_max_mV = r[REGMAP_IR_SLOT_CELL_MAX];
        sl->chg_state = r[REGMAP_IR_SLOT_CHG_STATE];
        sl->chg_fault = r[REGMAP_IR_SLOT_CHG_FAULT];
        /* An unreadable tag reads 0 whatever the register holds. */
        if (!sl->tag_ok)
            sl->tag = 0;
    }
    *out = p;
    return 0;
}

static uint16_t clamp_reg(double v, double lo, double hi)
{
    if (!(v >= lo))
        v = lo;
    if (v > hi)
        v = hi;
    return (uint16_t)lround(v);
}

void plantio_encode(const struct station_plant_out *o, unsigned n_slots, uint8_t *co, uint16_t *hr)
{
    if (n_slots > REGMAP_MAX_SLOTS)
        n_slots = REGMAP_MAX_SLOTS;
    for (unsigned i = 0; i < REGMAP_CO_COUNT; i++)
        co[i] = o->co[i] ? 1 : 0;
    memset(hr, 0, sizeof hr[0] * REGMAP_HR_COUNT(n_slots));
    hr[REGMAP_HR_HEARTBEAT] = o->heartbeat;
    hr[REGMAP_HR_X_TARGET] = clamp_reg(o->x_target_mm * 10.0, 0, 6000);
    hr[REGMAP_HR_Z_TARGET] = clamp_reg(o->z_target_mm * 10.0, 0, 1500);
    hr[REGMAP_HR_CAROUSEL_TARGET] = o->carousel_target < n_slots ? o->carousel_target : 0;
    for (unsigned s = 0; s < n_slots; s++)
        hr[REGMAP_HR_SLOT_ADDR(s, REGMAP_HR_SLOT_CHARGER_MODE)] =
            o->charger_mode[s] <= CHARGER_MODE_STORAGE ? o->charger_mode[s] : CHARGER_MODE_OFF;
}

/* ---- transfers through the map ------------------------------------------------------ */

#define PLAN_CACHE 64

struct plan_entry {
    unsigned map_id, n_slots;
    struct scanplan *plan;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct plan_entry plans[PLAN_CACHE];
static unsigned n_plans;
/* Wire images are large (the whole address space); a few are kept for reuse. Decoding
 * reads only addresses the plan has just read, so a reused image never leaks old values. */
#define WIRE_SPARE 8
static struct plantmap_wire *spare_wires[WIRE_SPARE];
static unsigned n_spare_wires;

static const struct plantmap *map_of(const struct plantio_backend *b)
{
    return b->map ? b->map : plantmap_builtin();
}

const struct scanplan *plantio_plan(const struct plantmap *map, unsigned n_slots, char *err, size_t errsize)
{
    if (!map)
        map = plantmap_builtin();
    if (!map) {
        snprintf(err, errsize, "plant map: out of memory");
        return NULL;
    }
    pthread_mutex_lock(&cache_lock);
    const struct scanplan *found = NULL;
    for (unsigned i = 0; i < n_plans && !found; i++)
        if (plans[i].map_id == map->id && plans[i].n_slots == n_slots)
            found = plans[i].plan;
    if (!found && n_plans < PLAN_CACHE) {
        struct scanplan *p = malloc(sizeof *p);
        const struct scanplan_link tcp = { .tcp_bps = 100e6, .tcp_request_us = 200 };
        if (!p) {
            snprintf(err, errsize, "plant map: out of memory");
        } else if (scanplan_build(map, n_slots, &tcp, p, err, errsize) != 0) {
            free(p);
        } else {
            plans[n_plans++] = (struct plan_entry){ map->id, n_slots, p };
            found = p;
        }
    } else if (!found) {
        snprintf(err, errsize, "plant map: more than %d maps and slot counts in one process", PLAN_CACHE);
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

static struct plantmap_wire *wire_get(void)
{
    pthread_mutex_lock(&cache_lock);
    struct plantmap_wire *w = n_spare_wires ? spare_wires[--n_spare_wires] : NULL;
    pthread_mutex_unlock(&cache_lock);
    return w ? w : malloc(sizeof *w);
}

static void wire_put(struct plantmap_wire *w)
{
    pthread_mutex_lock(&cache_lock);
    if (n_spare_wires < WIRE_SPARE) {
        spare_wires[n_spare_wires++] = w;
        w = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
    free(w);
}

static const char *const table_what[] = { "", "coils", "discrete inputs", "input registers", "holding registers" };

/* One read block of the plan into the wire image. */
static int read_block(const struct plantio_backend *b, const struct scanplan_req *r, struct plantmap_wire *w)
{
    switch (r->table) {
    case PLANTMAP_DI: return b->read_di(b->ctx, r->addr, r->n, w->di + r->addr);
    case PLANTMAP_COIL: return b->read_co ? b->read_co(b->ctx, r->addr, r->n, w->co + r->addr) : (errno = ENOTSUP, -1);
    case PLANTMAP_IR: return b->read_ir(b->ctx, r->addr, r->n, w->ir + r->addr);
    case PLANTMAP_HR: return b->read_hr ? b->read_hr(b->ctx, r->addr, r->n, w->hr + r->addr) : (errno = ENOTSUP, -1);
    default: errno = EINVAL; return -1;
    }
}

static int check_slots(unsigned n_slots, char *err, size_t errsize)
{
    if (n_slots < 1 || n_slots > REGMAP_MAX_SLOTS) {
        snprintf(err, errsize, "slot count %u outside 1..%d", n_slots, REGMAP_MAX_SLOTS);
        return -1;
    }
    return 0;
}

int plantio_read_image(const struct plantio_backend *b, unsigned n_slots, uint8_t *di, uint16_t *ir, char *err,
                       size_t errsize)
{
    const struct scanplan *p = NULL;
    if (check_slots(n_slots, err, errsize) != 0 || !(p = plantio_plan(b->map, n_slots, err, errsize)))
        return -1;
    struct plantmap_wire *w = wire_get();
    if (!w) {
        snprintf(err, errsize, "%s: out of memory", b->name);
        return -1;
    }
    for (unsigned i = 0; i < p->n_fast + p->n_slow; i++) {
        if (read_block(b, &p->req[i], w) < 0) {
            snprintf(err, errsize, "%s: read %s: %s", b->name, table_what[p->req[i].table], strerror(errno));
            wire_put(w);
            return -1;
        }
    }
    struct plantmap_image img;
    memset(&img, 0, sizeof img);
    plantmap_decode(map_of(b), w, n_slots, false, &img);
    wire_put(w);
    memcpy(di, img.di, REGMAP_DI_COUNT(n_slots));
    memcpy(ir, img.ir, REGMAP_IR_COUNT(n_slots) * sizeof ir[0]);
    return 0;
}

int plantio_read(const struct plantio_backend *b, unsigned n_slots, struct station_plant_in *in,
                 char *err, size_t errsize)
{
    uint8_t di[PLANTIO_DI_MAX];
    uint16_t ir[PLANTIO_IR_MAX];
    if (plantio_read_image(b, n_slots, di, ir, err, errsize) != 0) {
        in->valid = false;
        return -1;
    }
    return plantio_decode(di, ir, n_slots, in, err, errsize);
}

int plantio_write(const struct plantio_backend *b, unsigned n_slots, const struct station_plant_out *o,
                  char *err, size_t errsize)
{
    const struct scanplan *p = NULL;
    if (check_slots(n_slots, err, errsize) != 0 || !(p = plantio_plan(b->map, n_slots, err, errsize)))
        return -1;
    struct plantmap_image img;
    memset(&img, 0, sizeof img);
    plantio_encode(o, n_slots, img.co, img.hr);
    struct plantmap_wire *w = wire_get();
    if (!w) {
        snprintf(err, errsize, "%s: out of memory", b->name);
        return -1;
    }
    unsigned first = p->n_fast + p->n_slow;
    /* unmapped bits of a register that holds packed outputs are written as 0 */
    for (unsigned i = first; i < p->n_req; i++) {
        const struct scanplan_req *r = &p->req[i];
        if (r->table == PLANTMAP_COIL)
            memset(w->co + r->addr, 0, r->n);
        else
            memset(w->hr + r->addr, 0, r->n * sizeof w->hr[0]);
    }
    plantmap_encode(map_of(b), &img, n_slots, true, w);
    int rc = 0;
    for (unsigned i = first; i < p->n_req && rc == 0; i++) {
        const struct scanplan_req *r = &p->req[i];
        rc = r->table == PLANTMAP_COIL ? b->write_co(b->ctx, r->addr, r->n, w->co + r->addr)
                                       : b->write_hr(b->ctx, r->addr, r->n, w->hr + r->addr);
        if (rc < 0)
            snprintf(err, errsize, "%s: write %s: %s", b->name, table_what[r->table], strerror(errno));
    }
    wire_put(w);
    return rc < 0 ? -1 : 0;
}

int plantio_read_coils(const struct plantio_backend *b, uint8_t *co, char *err, size_t errsize)
{
    char perr[160];
    const struct plantmap *m = map_of(b);
    /* outputs do not depend on the slot count except the chargers, which are not adopted */
    const struct scanplan *p = m ? plantio_plan(m, 1, perr, sizeof perr) : NULL;
    if (!p) {
        snprintf(err, errsize, "%s: read back outputs: %s", b->name, m ? perr : "out of memory");
        return -1;
    }
    struct plantmap_wire *w = wire_get();
    if (!w) {
        snprintf(err, errsize, "%s: out of memory", b->name);
        return -1;
    }
    for (unsigned i = p->n_fast + p->n_slow; i < p->n_req; i++) {
        struct scanplan_req r = p->req[i];
        r.write = false;
        if (read_block(b, &r, w) < 0) {
            snprintf(err, errsize, "%s: read back %s: %s", b->name, table_what[r.table],
                     errno == ENOTSUP ? "not supported" : strerror(errno));
            wire_put(w);
            return -1;
        }
    }
    struct plantmap_image img;
    memset(&img, 0, sizeof img);
    plantmap_decode(m, w, 1, true, &img);
    wire_put(w);
    memcpy(co, img.co, REGMAP_CO_COUNT);
    return 0;
}

int plantio_readback(const struct plantio_backend *b, struct station_plant_in *in, char *err, size_t errsize)
{
    uint8_t co[REGMAP_CO_COUNT];
    if (plantio_read_coils(b, co, err, errsize) != 0)
        return -1;
    for (unsigned i = 0; i < REGMAP_CO_COUNT; i++)
        in->co_readback[i] = co[i] != 0;
    in->have_readback = true;
    return 0;
}

/* ---- a plant speaking a map, as a backend ---------------------------------------------- */

static int srv_exc(int rc)
{
    if (rc == 0)
        return 0;
    errno = EIO;
    return -1;
}

static int srv_read_di(void *ctx, unsigned addr, unsigned n, uint8_t *out)
{
    return srv_exc(plantmap_server_read_bits(ctx, PLANTMAP_DI, addr, n, out));
}

static int srv_read_co(void *ctx, unsigned addr, unsigned n, uint8_t *out)
{
    return srv_exc(plantmap_server_read_bits(ctx, PLANTMAP_COIL, addr, n, out));
}

static int srv_read_ir(void *ctx, unsigned addr, unsigned n, uint16_t *out)
{
    return srv_exc(plantmap_server_read_regs(ctx, PLANTMAP_IR, addr, n, out));
}

static int srv_read_hr(void *ctx, unsigned addr, unsigned n, uint16_t *out)
{
    return srv_exc(plantmap_server_read_regs(ctx, PLANTMAP_HR, addr, n, out));
}

static int srv_write_co(void *ctx, unsigned addr, unsigned n, const uint8_t *v)
{
    return srv_exc(plantmap_server_write_coils(ctx, addr, n, v));
}

static int srv_write_hr(void *ctx, unsigned addr, unsigned n, const uint16_t *v)
{
    return srv_exc(plantmap_server_write_regs(ctx, addr, n, v));
}

static void srv_close(void *ctx)
{
    (void)ctx;
}

void plantio_served_backend(struct plantio_backend *b, struct plantmap_server *srv)
{
    *b = (struct plantio_backend){ "plant behind a map", srv, srv_read_di, srv_read_ir, srv_read_co, srv_read_hr,
                                   srv_write_co, srv_write_hr, srv_close, srv->map };
}

static int lio_read_bits(void *ctx, enum plantmap_table t, unsigned addr, unsigned n, uint8_t *out)
{
    const struct plantio_backend *b = ctx;
    int rc = t == PLANTMAP_COIL ? b->read_co(b->ctx, addr, n, out) : b->read_di(b->ctx, addr, n, out);
    return rc < 0 ? 4 : 0;   /* SLAVE_OR_SERVER_FAILURE */
}

static int lio_read_regs(void *ctx, enum plantmap_table t, unsigned addr, unsigned n, uint16_t *out)
{
    const struct plantio_backend *b = ctx;
    int rc = t == PLANTMAP_HR ? b->read_hr(b->ctx, addr, n, out) : b->read_ir(b->ctx, addr, n, out);
    return rc < 0 ? 4 : 0;
}

static int lio_write_coils(void *ctx, unsigned addr, unsigned n, const uint8_t *v)
{
    const struct plantio_backend *b = ctx;
    return b->write_co(b->ctx, addr, n, v) < 0 ? 3 : 0;   /* ILLEGAL_DATA_VALUE */
}

static int lio_write_regs(void *ctx, unsigned addr, unsigned n, const uint16_t *v)
{
    const struct plantio_backend *b = ctx;
    return b->write_hr(b->ctx, addr, n, v) < 0 ? 3 : 0;
}

void plantio_server_io(struct plantmap_server_io *io, const struct plantio_backend *logical)
{
    *io = (struct plantmap_server_io){ (void *)logical, lio_read_bits, lio_read_regs, lio_write_coils,
                                       lio_write_regs };
}
