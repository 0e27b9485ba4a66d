/* A battery pack as JSON; see battery_json.h. */
#include "battery/battery_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Every real-valued field with its physical range; lo_open makes lo exclusive. */
struct real_field {
    const char *name;
    size_t offset;
    double lo, hi;
    int lo_open;
    int optional;              /* may be missing (older writers): stays 0, the effect off */
};

#define R(field, lo, hi, open) { #field, offsetof(struct sim_battery, field), lo, hi, open, 0 }
#define O(field, lo, hi) { #field, offsetof(struct sim_battery, field), lo, hi, 0, 1 }
static const struct real_field real_fields[] = {
    R(rated_ah, 0.0, 1000.0, 1),
    R(capacity_new_ah, 0.0, 1000.0, 1),
    R(capacity_ah, 0.0, 1000.0, 1),
    R(r0_new_ohm, 0.0, 100.0, 1),
    R(r1_new_ohm, 0.0, 100.0, 1),
    R(r0_ohm, 0.0, 100.0, 1),
    R(r1_ohm, 0.0, 100.0, 1),
    R(tau_s, 0.0, 100000.0, 1),
    R(soc, 0.0, 1.0, 0),
    R(v1, -1000.0, 1000.0, 0),
    R(temp_degC, -100.0, 300.0, 0),
    R(ah_throughput, 0.0, 1e9, 0),
    R(efc, 0.0, 1e9, 0),
    R(peak_temp_degC, -100.0, 300.0, 0),
    R(heat_capacity_j_k, 0.0, 1e9, 1),
    R(cooling_w_k, 0.0, 1e6, 1),
    R(fade_k, 0.0, 1.0, 0),
    R(fade_exp, 0.0, 10.0, 1),
    R(r_gamma, 0.0, 100.0, 0),
    O(knee_efc, 0.0, 1e9),
    O(knee_k, 0.0, 1.0),
    O(recover_max, 0.0, 1.0),
    O(recover_ah, 0.0, 1000.0),
    O(recover_tau_s, 0.0, 1e12),
    O(recover_efc, 0.0, 1e9),
    O(spread_growth, 0.0, 100.0),
    O(r2_ohm, 0.0, 100.0),
    O(tau2_s, 0.0, 1e9),
    O(v2, -1000.0, 1000.0),
    O(r3_ohm, 0.0, 100.0),
    O(tau3_s, 0.0, 1e9),
    O(v3, -1000.0, 1000.0),
    O(r2_new_ohm, 0.0, 100.0),
    O(r3_new_ohm, 0.0, 100.0),
    O(hyst_v, 0.0, 1.0),
    O(hyst_soc, 0.0, 1.0),
    O(hyst, -1.0, 1.0),
    O(self_discharge_per_s, 0.0, 1e-3),
};
#undef R
#undef O
#define N_REAL (sizeof real_fields / sizeof real_fields[0])
/* Largest |cell SoC offset| accepted: far beyond any real pack's imbalance. */
#define CELL_OFFSET_MAX 0.2

json_t *sim_battery_to_json(const struct sim_battery *b)
{
    json_t *j = json_object();
    json_t *cells = json_array();
    if (!j || !cells)
        goto fail;
    char serial[16];
    snprintf(serial, sizeof serial, "SWP-%08X", (unsigned)b->tag);
    int bad = json_object_set_new(j, "tag", json_integer(b->tag));
    bad |= json_object_set_new(j, "serial", json_string(serial));
    bad |= json_object_set_new(j, "cells", json_integer(b->cells));
    for (size_t i = 0; i < N_REAL; i++) {
        const double *v = (const double *)((const char *)b + real_fields[i].offset);
        bad |= json_object_set_new(j, real_fields[i].name, json_real(*v));
    }
    for (int i = 0; i < b->cells && i < SIM_BATTERY_MAX_CELLS; i++)
        bad |= json_array_append_new(cells, json_real(b->cell_offset[i]));
    bad |= json_object_set(j, "cell_offset", cells);
    bad |= json_object_set_new(j, "tag_unreadable", json_boolean(b->tag_unreadable));
    json_decref(cells);
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
fail:
    json_decref(j);
    json_decref(cells);
    return NULL;
}

static int fail(char *err, size_t errsize, const char *fmt, ...)
{
    if (err && errsize) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsize, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int known_key(const char *key)
{
    static const char *const others[] = { "tag", "serial", "cells", "cell_offset", "tag_unreadable" };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (!strcmp(key, others[i]))
            return 1;
    for (size_t i = 0; i < N_REAL; i++)
        if (!strcmp(key, real_fields[i].name))
            return 1;
    return 0;
}

int sim_battery_from_json(const json_t *j, struct sim_battery *out, char *err, size_t errsize)
{
    if (!json_is_object(j))
        return fail(err, errsize, "battery: not a JSON object");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)j, key, val) {
        if (!known_key(key))
            return fail(err, errsize, "battery: unknown field \"%s\"", key);
    }

    struct sim_battery b;
    memset(&b, 0, sizeof b);

    json_t *t = json_object_get(j, "tag");
    if (!json_is_integer(t))
        return fail(err, errsize, "battery: \"tag\" missing or not an integer");
    json_int_t tag = json_integer_value(t);
    if (tag < 0 || tag > 0xFFFFFFFFll)
        return fail(err, errsize, "battery: \"tag\" %lld outside 0..4294967295", (long long)tag);
    b.tag = (uint32_t)tag;

    json_t *s = json_object_get(j, "serial");
    if (s && !json_is_string(s))
        return fail(err, errsize, "battery: \"serial\" is not a string");

    json_t *c = json_object_get(j, "cells");
    if (!json_is_integer(c))
        return fail(err, errsize, "battery: \"cells\" missing or not an integer");
    json_int_t cells = json_integer_value(c);
    if (cells < 1 || cells > SIM_BATTERY_MAX_CELLS)
        return fail(err, errsize, "battery: \"cells\" %lld outside 1..%d", (long long)cells,
                    SIM_BATTERY_MAX_CELLS);
    b.cells = (int)cells;

    for (size_t i = 0; i < N_REAL; i++) {
        const struct real_field *f = &real_fields[i];
        json_t *v = json_object_get(j, f->name);
        if (!v && f->optional)
            continue;
        if (!json_is_number(v))
            return fail(err, errsize, "battery: \"%s\" missing or not a number", f->name);
        double x = json_number_value(v);
        int below = f->lo_open ? !(x > f->lo) : !(x >= f->lo);
        if (!isfinite(x) || below || x > f->hi)
            return fail(err, errsize, "battery: \"%s\" = %g outside %s%g..%g", f->name, x,
                        f->lo_open ? ">" : "", f->lo, f->hi);
        *(double *)((char *)&b + f->offset) = x;
    }
    if (b.capacity_ah > b.capacity_new_ah * 1.5)
        return fail(err, errsize, "battery: \"capacity_ah\" %g exceeds 1.5 x capacity_new_ah %g",
                    b.capacity_ah, b.capacity_new_ah);

    json_t *arr = json_object_get(j, "cell_offset");
    if (!json_is_array(arr))
        return fail(err, errsize, "battery: \"cell_offset\" missing or not an array");
    if (json_array_size(arr) != (size_t)b.cells)
        return fail(err, errsize, "battery: \"cell_offset\" has %zu entries, want one per cell (%d)",
                    json_array_size(arr), b.cells);
    for (int i = 0; i < b.cells; i++) {
        json_t *v = json_array_get(arr, (size_t)i);
        if (!json_is_number(v))
            return fail(err, errsize, "battery: \"cell_offset\"[%d] is not a number", i);
        double x = json_number_value(v);
        if (!isfinite(x) || fabs(x) > CELL_OFFSET_MAX)
            return fail(err, errsize, "battery: \"cell_offset\"[%d] = %g outside -%g..%g", i, x,
                        CELL_OFFSET_MAX, CELL_OFFSET_MAX);
        b.cell_offset[i] = x;
    }

    json_t *u = json_object_get(j, "tag_unreadable");
    if (!json_is_boolean(u))
        return fail(err, errsize, "battery: \"tag_unreadable\" missing or not a boolean");
    b.tag_unreadable = json_is_true(u);

    *out = b;
    return 0;
}
