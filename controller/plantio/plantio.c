/* Register image <-> typed plant inputs and outputs; see plantio.h. */
#include "plantio/plantio.h"

#include <errno.h>
#include <math.h>
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

int plantio_decode(const uint8_t *di, const uint16_t *ir, unsigned n_slots,
                   struct station_plant_in *out, char *err, size_t errsize)
{
    if (n_slots < 1 || n_slots > REGMAP_MAX_SLOTS) {
        snprintf(err, errsize, "slot count %u outside 1..%d", n_slots, REGMAP_MAX_SLOTS);
        out->valid = false;
        return -1;
    }
    for (unsigned a = 0; a < REGMAP_DI_COUNT(n_slots); a++) {
        if (di[a] > 1) {
            snprintf(err, errsize, "DI %u: value %u is not a bit", a, di[a]);
            out->valid = false;
            return -1;
        }
    }
    const char *why = NULL;
    unsigned bad = 0;
    if (ir[REGMAP_IR_MAP_VERSION] != REGMAP_VERSION)
        why = "register map version differs", bad = REGMAP_IR_MAP_VERSION;
    else if (ir[REGMAP_IR_N_SLOTS] != n_slots)
        why = "slot count differs from the configuration", bad = REGMAP_IR_N_SLOTS;
    else if (ir[REGMAP_IR_CAROUSEL_POS] >= n_slots && ir[REGMAP_IR_CAROUSEL_POS] != REGMAP_CAROUSEL_BETWEEN)
        why = "carousel position outside the magazine", bad = REGMAP_IR_CAROUSEL_POS;
    else if (ir[REGMAP_IR_X_POS] > 6000)
        why = "axis X position outside its travel", bad = REGMAP_IR_X_POS;
    else if (ir[REGMAP_IR_Z_POS] > 1500)
        why = "axis Z position outside its travel", bad = REGMAP_IR_Z_POS;
    for (unsigned s = 0; !why && s < n_slots; s++) {
        if (ir[REGMAP_IR_SLOT_ADDR(s, REGMAP_IR_SLOT_CHG_STATE)] > CHARGER_STORAGE)
            why = "charger state unknown", bad = REGMAP_IR_SLOT_ADDR(s, REGMAP_IR_SLOT_CHG_STATE);
        else if (ir[REGMAP_IR_SLOT_ADDR(s, REGMAP_IR_SLOT_CHG_FAULT)] > CHGF_NO_BATTERY)
            why = "charger fault code unknown", bad = REGMAP_IR_SLOT_ADDR(s, REGMAP_IR_SLOT_CHG_FAULT);
    }
    if (why) {
        snprintf(err, errsize, "IR %u = %u: %s", bad, ir[bad], why);
        out->valid = false;
        return -1;
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

int plantio_read(const struct plantio_backend *b, unsigned n_slots, struct station_plant_in *in,
                 char *err, size_t errsize)
{
    uint8_t di[PLANTIO_DI_MAX];
    uint16_t ir[PLANTIO_IR_MAX];
    if (n_slots < 1 || n_slots > REGMAP_MAX_SLOTS) {
        snprintf(err, errsize, "slot count %u outside 1..%d", n_slots, REGMAP_MAX_SLOTS);
        in->valid = false;
        return -1;
    }
    if (b->read_di(b->ctx, 0, REGMAP_DI_COUNT(n_slots), di) < 0) {
        snprintf(err, errsize, "%s: read discrete inputs: %s", b->name, strerror(errno));
        in->valid = false;
        return -1;
    }
    if (b->read_ir(b->ctx, 0, REGMAP_IR_COUNT(n_slots), ir) < 0) {
        snprintf(err, errsize, "%s: read input registers: %s", b->name, strerror(errno));
        in->valid = false;
        return -1;
    }
    return plantio_decode(di, ir, n_slots, in, err, errsize);
}

int plantio_write(const struct plantio_backend *b, unsigned n_slots, const struct station_plant_out *o,
                  char *err, size_t errsize)
{
    uint8_t co[REGMAP_CO_COUNT];
    uint16_t hr[PLANTIO_HR_MAX];
    if (n_slots < 1 || n_slots > REGMAP_MAX_SLOTS) {
        snprintf(err, errsize, "slot count %u outside 1..%d", n_slots, REGMAP_MAX_SLOTS);
        return -1;
    }
    plantio_encode(o, n_slots, co, hr);
    if (b->write_co(b->ctx, 0, REGMAP_CO_COUNT, co) < 0) {
        snprintf(err, errsize, "%s: write coils: %s", b->name, strerror(errno));
        return -1;
    }
    if (b->write_hr(b->ctx, 0, REGMAP_HR_COUNT(n_slots), hr) < 0) {
        snprintf(err, errsize, "%s: write holding registers: %s", b->name, strerror(errno));
        return -1;
    }
    return 0;
}

int plantio_readback(const struct plantio_backend *b, struct station_plant_in *in, char *err, size_t errsize)
{
    uint8_t co[REGMAP_CO_COUNT];
    if (!b->read_co || b->read_co(b->ctx, 0, REGMAP_CO_COUNT, co) < 0) {
        snprintf(err, errsize, "%s: read back coils: %s", b->name, b->read_co ? strerror(errno) : "not supported");
        return -1;
    }
    for (unsigned i = 0; i < REGMAP_CO_COUNT; i++)
        in->co_readback[i] = co[i] != 0;
    in->have_readback = true;
    return 0;
}
