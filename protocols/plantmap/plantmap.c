/* The plant map: catalogue, loader, validation, and the translation between the wire
 * tables and the logical image; see plantmap.h. */
#include "plantmap/plantmap.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"

/* ---- the signal catalogue, generated from regmap.h ------------------------------------ */

#define NAME_MAX_LEN 40

/* Inputs a plant may leave out: they read their default (plantmap_decode). Outputs a
 * plant may leave out are not written. */
static const char *const optional_names[] = { "rain", "wind", "ambient", "map_version", "n_slots", "horn",
                                              "light_green", "light_yellow", "light_red", NULL };
/* Input registers read in the slow class by default (besides the per-slot telemetry). */
static const char *const slow_names[] = { "wind", "ambient", "map_version", "n_slots", NULL };

struct catalog_src {
    const char *macro;       /* e.g. "DI_ESTOP_OK" */
    enum plantmap_table ltable;
    unsigned laddr, lstride;
    const char *type;        /* "bool", "u16", "s16", "u32"; "" = second word of a u32 */
    bool output, per_slot;
    const char *unit, *meaning;
};

#define SRC_DI(name, addr, text) { #name, PLANTMAP_DI, (addr), 0, "bool", false, false, "", text },
#define SRC_DI_SLOT(name, off, text) \
    { #name, PLANTMAP_DI, REGMAP_DI_SLOT_BASE + (off), REGMAP_DI_SLOT_STRIDE, "bool", false, true, "", text },
#define SRC_CO(name, addr, text) { #name, PLANTMAP_COIL, (addr), 0, "bool", true, false, "", text },
#define SRC_HR(name, addr, type, unit, lo, hi, text) { #name, PLANTMAP_HR, (addr), 0, type, true, false, unit, text },
#define SRC_HR_SLOT(name, off, type, unit, lo, hi, text) \
    { #name, PLANTMAP_HR, REGMAP_HR_SLOT_BASE + (off), REGMAP_HR_SLOT_STRIDE, type, true, true, unit, text },
#define SRC_IR(name, addr, type, unit, text) { #name, PLANTMAP_IR, (addr), 0, type, false, false, unit, text },
#define SRC_IR_SLOT(name, off, type, unit, text) \
    { #name, PLANTMAP_IR, REGMAP_IR_SLOT_BASE + (off), REGMAP_IR_SLOT_STRIDE, type, false, true, unit, text },

static const struct catalog_src catalog_src[] = {
    REGMAP_DI(SRC_DI) REGMAP_DI_SLOT(SRC_DI_SLOT) REGMAP_CO(SRC_CO) REGMAP_HR(SRC_HR) REGMAP_HR_SLOT(SRC_HR_SLOT)
    REGMAP_IR(SRC_IR) REGMAP_IR_SLOT(SRC_IR_SLOT)
};
#define N_SRC (sizeof catalog_src / sizeof catalog_src[0])

static struct plantmap_sigdef catalog[N_SRC];
static char catalog_names[N_SRC][NAME_MAX_LEN];
static size_t n_catalog;
static pthread_once_t catalog_once = PTHREAD_ONCE_INIT;

static bool in_list(const char *const *list, const char *name)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], name))
            return true;
    return false;
}

static enum plantmap_type type_of(const char *s)
{
    if (!strcmp(s, "u16"))
        return PLANTMAP_U16;
    if (!strcmp(s, "s16"))
        return PLANTMAP_S16;
    if (!strcmp(s, "u32"))
        return PLANTMAP_U32;
    return PLANTMAP_BOOL;
}

static void catalog_build(void)
{
    for (size_t i = 0; i < N_SRC; i++) {
        const struct catalog_src *c = &catalog_src[i];
        if (!c->type[0])
            continue;
        char *name = catalog_names[n_catalog];
        const char *m = c->macro + 3;   /* after "DI_", "CO_", "HR_", "IR_" */
        size_t len = strlen(m);
        if (c->type[0] == 'u' && !strcmp(c->type, "u32") && len > 3 && !strcmp(m + len - 3, "_HI"))
            len -= 3;
        for (size_t k = 0; k < len && k + 1 < NAME_MAX_LEN; k++)
            name[k] = (char)tolower((unsigned char)m[k]);
        name[len < NAME_MAX_LEN ? len : NAME_MAX_LEN - 1] = 0;
        /* A command named like its sensor (CO_WRIST_B, DI_WRIST_B) takes "_cmd". */
        for (size_t k = 0; k < n_catalog; k++)
            if (!strcmp(catalog[k].name, name) && strlen(name) + 5 <= NAME_MAX_LEN)
                strcat(name, "_cmd");
        struct plantmap_sigdef *d = &catalog[n_catalog++];
        d->name = name;
        d->ltable = c->ltable;
        d->laddr = c->laddr;
        d->lstride = c->per_slot ? c->lstride : 0;
        d->ltype = type_of(c->type);
        d->output = c->output;
        d->required = !in_list(optional_names, name);
        d->dclass = (c->per_slot && !c->output && c->ltable == PLANTMAP_IR && strcmp(name, "slot_tag")) ||
                            (c->per_slot && c->output) || in_list(slow_names, name)
                        ? PLANTMAP_SLOW
                        : PLANTMAP_FAST;
        d->unit = c->unit;
        d->meaning = c->meaning;
    }
}

size_t plantmap_signal_count(void)
{
    pthread_once(&catalog_once, catalog_build);
    return n_catalog;
}

const struct plantmap_sigdef *plantmap_signal(size_t i)
{
    return i < plantmap_signal_count() ? &catalog[i] : NULL;
}

int plantmap_signal_find(const char *name)
{
    for (size_t i = 0; i < plantmap_signal_count(); i++)
        if (!strcmp(catalog[i].name, name))
            return (int)i;
    return -1;
}

static const char *const table_names[] = { "", "coil", "discrete_input", "input_register", "holding_register", NULL };
static const char *const type_names[] = { "bool", "u16", "s16", "u32", "s32", "f32", NULL };
static const char *const order_names[] = { "abcd", "cdab", "badc", "dcba", NULL };
static const char *const class_names[] = { "fast", "slow", NULL };

const char *plantmap_table_name(enum plantmap_table t)
{
    return t > PLANTMAP_NONE && t < PLANTMAP_TABLES ? table_names[t] : "none";
}

const char *plantmap_type_name(enum plantmap_type t)
{
    return (unsigned)t <= PLANTMAP_F32 ? type_names[t] : "?";
}

const char *plantmap_order_name(enum plantmap_order o)
{
    return (unsigned)o <= PLANTMAP_DCBA ? order_names[o] : "?";
}

unsigned plantmap_type_width(enum plantmap_type t)
{
    return t == PLANTMAP_U32 || t == PLANTMAP_S32 || t == PLANTMAP_F32 ? 2 : 1;
}

static bool is_bit_table(enum plantmap_table t)
{
    return t == PLANTMAP_COIL || t == PLANTMAP_DI;
}

/* ---- the default map ------------------------------------------------------------------ */

static int alloc_sigs(struct plantmap *m)
{
    static unsigned next_id;
    memset(m, 0, sizeof *m);
    m->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    m->sig = calloc(plantmap_signal_count(), sizeof *m->sig);
    return m->sig ? 0 : -1;
}

static struct plantmap builtin;
static bool builtin_ok;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_build(void)
{
    builtin_ok = plantmap_default(&builtin) == 0;
}

const struct plantmap *plantmap_builtin(void)
{
    pthread_once(&builtin_once, builtin_build);
    return builtin_ok ? &builtin : NULL;
}

static void default_limits(struct plantmap *m)
{
    m->slots = REGMAP_MAX_SLOTS;
    m->max_read_regs = PLANTMAP_READ_REGS_MAX;
    m->max_read_bits = PLANTMAP_READ_BITS_MAX;
    m->max_write_regs = PLANTMAP_WRITE_REGS_MAX;
    m->max_write_bits = PLANTMAP_WRITE_BITS_MAX;
    m->max_gap_regs = -1;
    m->max_gap_bits = -1;
}

int plantmap_default(struct plantmap *m)
{
    if (alloc_sigs(m) != 0)
        return -1;
    snprintf(m->name, sizeof m->name, "default");
    default_limits(m);
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        const struct plantmap_sigdef *d = &catalog[i];
        m->sig[i] = (struct plantmap_sig){ .present = true, .table = d->ltable, .addr = d->laddr,
                                           .stride = d->lstride, .bit = -1, .type = d->ltype,
                                           .order = PLANTMAP_ABCD, .scale = 1, .offset = 0,
                                           .cls = d->dclass };
    }
    return 0;
}

void plantmap_free(struct plantmap *m)
{
    if (!m)
        return;
    free(m->sig);
    m->sig = NULL;
}

/* ---- loading -------------------------------------------------------------------------- */

/* What the file says about one signal, as cfg fills it. */
struct raw_sig {
    int table;
    int address, base, stride, bit;
    int type, order, cls;
    double scale, offset;
    bool invert;
};

struct raw_map {
    char name[PLANTMAP_NAME_MAX];
    int slots;
    int max_read_regs, max_read_bits, max_write_regs, max_write_bits, max_gap_regs, max_gap_bits;
};

#define KEYS_PER_SIG 10
#define SIGS_PER_TABLE 25

static const struct cfg_key map_keys[] = {
    CFG_S("map", "name", struct raw_map, name, "", "Name of the layout (shown by swapd and in the register map)"),
    CFG_I("map", "slots", struct raw_map, slots, 1, REGMAP_MAX_SLOTS, "16", "",
          "Magazine slots the layout has room for"),
    CFG_I("device", "max_read_registers", struct raw_map, max_read_regs, 1, PLANTMAP_READ_REGS_MAX, "125", "",
          "Most registers the device answers in one read"),
    CFG_I("device", "max_read_bits", struct raw_map, max_read_bits, 1, PLANTMAP_READ_BITS_MAX, "2000", "",
          "Most bits the device answers in one read"),
    CFG_I("device", "max_write_registers", struct raw_map, max_write_regs, 1, PLANTMAP_WRITE_REGS_MAX, "123", "",
          "Most registers the device takes in one write"),
    CFG_I("device", "max_write_bits", struct raw_map, max_write_bits, 1, PLANTMAP_WRITE_BITS_MAX, "1968", "",
          "Most coils the device takes in one write"),
    CFG_I("device", "max_gap_registers", struct raw_map, max_gap_regs, -1, PLANTMAP_READ_REGS_MAX, "-1", "",
          "Largest run of unmapped registers a read may bridge; -1 whenever cheaper than a request, 0 never"),
    CFG_I("device", "max_gap_bits", struct raw_map, max_gap_bits, -1, PLANTMAP_READ_BITS_MAX, "-1", "",
          "Largest run of unmapped bits a read may bridge; -1 whenever cheaper, 0 never"),
};

#define MAX_SIG_TABLES 4

/* Builds one key table per SIGS_PER_TABLE signals (cfg takes at most 256 keys a table). */
static struct cfg_key *signal_keys(size_t *n_keys)
{
    size_t n = plantmap_signal_count();
    struct cfg_key *k = calloc(n * KEYS_PER_SIG, sizeof *k);
    if (!k)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        const struct plantmap_sigdef *d = &catalog[i];
        size_t o = i * sizeof(struct raw_sig);
        const char *sec = d->name;
#define KEY(nm, ty, field, lo, hi, dflt, names, help)                                                   \
    k[j++] = (struct cfg_key){ sec, nm, ty, o + offsetof(struct raw_sig, field),                          \
                               sizeof(((struct raw_sig *)0)->field), lo, hi, dflt, "", names, help }
        KEY("table", CFG_ENUM, table, 0, 0, "", table_names,
            "Modbus table: coil, discrete_input, input_register, holding_register");
        if (d->lstride) {
            KEY("base", CFG_INT, base, -1, 65535, "-1", NULL, "Address of slot 0 (0-based protocol address)");
            KEY("stride", CFG_INT, stride, 0, 65535, "0", NULL, "Address distance from one slot to the next");
        } else {
            KEY("address", CFG_INT, address, -1, 65535, "-1", NULL, "0-based protocol address");
        }
        KEY("bit", CFG_INT, bit, -1, 15, "-1", NULL, "Bit within a register (0 = least significant)");
        KEY("type", CFG_ENUM, type, 0, 0, type_names[d->ltype], type_names, "Wire type");
        KEY("order", CFG_ENUM, order, 0, 0, "abcd", order_names, "Byte order of 16/32-bit values");
        KEY("scale", CFG_DOUBLE, scale, -1e9, 1e9, "1", NULL, "Engineering value = raw * scale + offset");
        KEY("offset", CFG_DOUBLE, offset, -1e9, 1e9, "0", NULL, "Engineering value = raw * scale + offset");
        KEY("invert", CFG_BOOL, invert, 0, 1, "false", NULL, "A bool reads 1 when the wire says 0");
        KEY("class", CFG_ENUM, cls, 0, 0, class_names[d->dclass], class_names, "fast: every scan; slow: round-robin");
#undef KEY
    }
    *n_keys = j;
    return k;
}

static int where_line_any(const struct cfg_where *w, const char *section)
{
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->keys[i].section, section))
            return w->keys[i].line;
    return 0;
}

static int fail(char *err, size_t errsize, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errsize, const char *file, int line, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(err, errsize, "%s:%d: %s", file, line, text);
    else
        snprintf(err, errsize, "%s: %s", file, text);
    return -1;
}

/* Who uses each wire address while checking for overlaps: the signal index + 1 of a
 * whole value, or per-bit owners of a register holding packed bits. */
struct occupancy {
    int32_t whole[PLANTMAP_TABLES][PLANTMAP_ADDR_SPACE];
    uint16_t bits_in[PLANTMAP_ADDR_SPACE], bits_out[PLANTMAP_ADDR_SPACE]; /* registers (HR and IR share) */
    int32_t bit_owner[2][PLANTMAP_ADDR_SPACE];  /* some signal with a bit there, HR / IR */
};

static int occupy(struct occupancy *oc, const struct plantmap *m, size_t i, unsigned slot, char *err,
                  size_t errsize)
{
    const struct plantmap_sig *g = &m->sig[i];
    const struct plantmap_sigdef *d = &catalog[i];
    unsigned a = plantmap_addr(m, i, slot);
    unsigned width = is_bit_table(g->table) ? 1 : plantmap_type_width(g->type);
    char where[48] = "";
    if (d->lstride)
        snprintf(where, sizeof where, " (slot %u)", slot);
    for (unsigned k = 0; k < width; k++) {
        unsigned ak = a + k;
        int32_t other = oc->whole[g->table][ak];
        int r = g->table == PLANTMAP_HR ? 0 : 1;
        if (!other && g->bit >= 0 && !is_bit_table(g->table)) {
            uint16_t mask = (uint16_t)(1u << g->bit);
            uint16_t *same = d->output ? &oc->bits_out[ak] : &oc->bits_in[ak];
            uint16_t *opposite = d->output ? &oc->bits_in[ak] : &oc->bits_out[ak];
            if (r == 0 && (*same & mask || *opposite)) {
                other = oc->bit_owner[r][ak];
            } else if (r == 1 && *same & mask) {
                other = oc->bit_owner[r][ak];
            } else {
                *same |= mask;
                oc->bit_owner[r][ak] = (int32_t)i + 1;
                continue;
            }
        } else if (!other && !is_bit_table(g->table) && oc->bit_owner[r][ak]) {
            other = oc->bit_owner[r][ak];
        }
        if (other)
            return fail(err, errsize, m->file, g->line, "[%s] overlaps [%s] at %s %u%s", d->name,
                        catalog[other - 1].name, plantmap_table_name(g->table), ak, where);
        oc->whole[g->table][ak] = (int32_t)i + 1;
    }
    return 0;
}

/* Checks one signal's own settings. */
static int check_signal(const struct plantmap *m, size_t i, const struct raw_sig *r, char *err, size_t errsize)
{
    const struct plantmap_sigdef *d = &catalog[i];
    const struct plantmap_sig *g = &m->sig[i];
    const char *f = m->file;
    int line = g->line;
    if (r->table == PLANTMAP_NONE)
        return fail(err, errsize, f, line, "[%s] table: missing (coil, discrete_input, input_register, holding_register)",
                    d->name);
    if (d->lstride ? r->base < 0 : r->address < 0)
        return fail(err, errsize, f, line, "[%s] %s: missing", d->name, d->lstride ? "base" : "address");
    bool num = g->type != PLANTMAP_BOOL;
    if (num && is_bit_table(g->table))
        return fail(err, errsize, f, line, "[%s] type = %s: does not fit table %s (a bit table carries only bool)",
                    d->name, type_names[g->type], table_names[g->table]);
    if (num != (d->ltype != PLANTMAP_BOOL))
        return fail(err, errsize, f, line, "[%s] type = %s: the signal is %s", d->name, type_names[g->type],
                    d->ltype == PLANTMAP_BOOL ? "a bool" : "a number");
    if (d->output && (g->table == PLANTMAP_DI || g->table == PLANTMAP_IR))
        return fail(err, errsize, f, line, "[%s] table = %s: an output needs a writable table (coil, holding_register)",
                    d->name, table_names[g->table]);
    if (g->bit >= 0 && (num || is_bit_table(g->table)))
        return fail(err, errsize, f, line, "[%s] bit = %d: only a bool in a register has a bit", d->name, g->bit);
    if (!num && !is_bit_table(g->table) && g->bit < 0)
        return fail(err, errsize, f, line, "[%s] bit: a bool in a register needs its bit (0..15)", d->name);
    if (g->invert && num)
        return fail(err, errsize, f, line, "[%s] invert: only a bool can be inverted", d->name);
    if (num && (g->scale == 0 || !isfinite(g->scale)))
        return fail(err, errsize, f, line, "[%s] scale = 0: a value needs a scale", d->name);
    unsigned width = is_bit_table(g->table) ? 1 : plantmap_type_width(g->type);
    if (d->lstride && m->slots > 1 && g->stride < width)
        return fail(err, errsize, f, line, "[%s] stride = %u: slots overlap (a value takes %u)", d->name, g->stride,
                    width);
    unsigned long last = (unsigned long)g->addr + (unsigned long)(d->lstride ? m->slots - 1 : 0) * g->stride + width - 1;
    if (last >= PLANTMAP_ADDR_SPACE)
        return fail(err, errsize, f, line, "[%s] reaches address %lu, beyond the protocol's 0..65535", d->name, last);
    return 0;
}

static int build(struct plantmap *m, const struct raw_sig *raw, const struct raw_map *rm,
                 const struct cfg_where *w, char *err, size_t errsize)
{
    int map_line = cfg_where_line(w, "map", "name");
    if (!rm->name[0])
        return fail(err, errsize, m->file, 0, "[map] name: missing (every map names its layout)");
    snprintf(m->name, sizeof m->name, "%s", rm->name);
    m->slots = (unsigned)rm->slots;
    m->max_read_regs = (unsigned)rm->max_read_regs;
    m->max_read_bits = (unsigned)rm->max_read_bits;
    m->max_write_regs = (unsigned)rm->max_write_regs;
    m->max_write_bits = (unsigned)rm->max_write_bits;
    m->max_gap_regs = rm->max_gap_regs;
    m->max_gap_bits = rm->max_gap_bits;
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        const struct plantmap_sigdef *d = &catalog[i];
        const struct raw_sig *r = &raw[i];
        int line = where_line_any(w, d->name);
        if (!line) {
            if (d->required)
                return fail(err, errsize, m->file, map_line, "[map]: required signal [%s] missing (%s)", d->name,
                            d->meaning);
            continue;
        }
        struct plantmap_sig *g = &m->sig[i];
        int tl = cfg_where_line(w, d->name, "table");
        *g = (struct plantmap_sig){ .present = true, .table = (enum plantmap_table)r->table,
                                    .addr = (unsigned)(d->lstride ? r->base : r->address),
                                    .stride = (unsigned)(r->stride > 0 ? r->stride : 0), .bit = r->bit,
                                    .type = (enum plantmap_type)r->type, .order = (enum plantmap_order)r->order,
                                    .scale = r->scale, .offset = r->offset, .invert = r->invert,
                                    .cls = (enum plantmap_class)r->cls, .line = tl ? tl : line };
        if (check_signal(m, i, r, err, errsize) != 0)
            return -1;
    }
    struct occupancy *oc = calloc(1, sizeof *oc);
    if (!oc)
        return fail(err, errsize, m->file, 0, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < plantmap_signal_count() && rc == 0; i++) {
        if (!m->sig[i].present)
            continue;
        unsigned n = catalog[i].lstride ? m->slots : 1;
        for (unsigned s = 0; s < n && rc == 0; s++)
            rc = occupy(oc, m, i, s, err, errsize);
    }
    free(oc);
    return rc;
}

static int load(const char *name, const char *path, const char *text, struct plantmap *m, char *err, size_t errsize)
{
    if (alloc_sigs(m) != 0)
        return fail(err, errsize, name, 0, "out of memory");
    default_limits(m);
    snprintf(m->file, sizeof m->file, "%s", name);
    size_t n = plantmap_signal_count(), n_keys = 0;
    struct raw_sig *raw = calloc(n, sizeof *raw);
    struct cfg_key *keys = signal_keys(&n_keys);
    struct cfg_where *w = calloc(1, sizeof *w);
    struct raw_map rm;
    int rc = -1;
    if (!raw || !keys || !w) {
        fail(err, errsize, name, 0, "out of memory");
        goto out;
    }
    struct cfg_table tables[1 + MAX_SIG_TABLES];
    size_t nt = 0;
    tables[nt++] = (struct cfg_table){ map_keys, sizeof map_keys / sizeof map_keys[0], &rm };
    for (size_t k = 0; k < n_keys && nt < 1 + MAX_SIG_TABLES;) {
        size_t take = n_keys - k;
        if (take > SIGS_PER_TABLE * KEYS_PER_SIG)
            take = SIGS_PER_TABLE * KEYS_PER_SIG;
        /* cut at a signal's first key so that one section stays in one table */
        while (take < n_keys - k && strcmp(keys[k + take].name, "table"))
            take--;
        tables[nt++] = (struct cfg_table){ keys + k, take, raw };
        k += take;
    }
    struct cfg_error ce;
    int lrc = path ? cfg_load_tables_where(path, tables, nt, &ce, w)
                   : cfg_load_tables_string_where(name, text, tables, nt, &ce, w);
    if (lrc != 0) {
        snprintf(err, errsize, "%s", ce.msg);
        goto out;
    }
    rc = build(m, raw, &rm, w, err, errsize);
out:
    free(raw);
    free(keys);
    free(w);
    if (rc != 0) {
        plantmap_free(m);
        memset(m, 0, sizeof *m);
    }
    return rc;
}

int plantmap_load(const char *path, struct plantmap *m, char *err, size_t errsize)
{
    return load(path, path, NULL, m, err, errsize);
}

int plantmap_load_string(const char *name, const char *text, struct plantmap *m, char *err, size_t errsize)
{
    return load(name, NULL, text, m, err, errsize);
}

int plantmap_check_slots(const struct plantmap *m, unsigned n_slots, char *err, size_t errsize)
{
    if (n_slots < 1 || n_slots > m->slots) {
        snprintf(err, errsize, "%s: the plant has %u slots, the map \"%s\" room for %u", m->file[0] ? m->file : "map",
                 n_slots, m->name, m->slots);
        return -1;
    }
    return 0;
}

unsigned plantmap_addr(const struct plantmap *m, size_t i, unsigned slot)
{
    return m->sig[i].addr + (catalog[i].lstride ? slot * m->sig[i].stride : 0);
}

/* ---- translation ---------------------------------------------------------------------- */

static uint16_t swap_bytes(uint16_t v)
{
    return (uint16_t)(v << 8 | v >> 8);
}

static uint32_t get32(const uint16_t *r, unsigned a, enum plantmap_order o)
{
    uint16_t w0 = r[a], w1 = r[(a + 1) & 0xFFFF];
    if (o == PLANTMAP_BADC || o == PLANTMAP_DCBA) {
        w0 = swap_bytes(w0);
        w1 = swap_bytes(w1);
    }
    if (o == PLANTMAP_CDAB || o == PLANTMAP_DCBA)
        return (uint32_t)w1 << 16 | w0;
    return (uint32_t)w0 << 16 | w1;
}

static void put32(uint16_t *r, unsigned a, enum plantmap_order o, uint32_t v)
{
    uint16_t hi = (uint16_t)(v >> 16), lo = (uint16_t)v;
    if (o == PLANTMAP_BADC || o == PLANTMAP_DCBA) {
        hi = swap_bytes(hi);
        lo = swap_bytes(lo);
    }
    bool words_swapped = o == PLANTMAP_CDAB || o == PLANTMAP_DCBA;
    r[a] = words_swapped ? lo : hi;
    r[(a + 1) & 0xFFFF] = words_swapped ? hi : lo;
}

static uint16_t get16(const uint16_t *r, unsigned a, enum plantmap_order o)
{
    return o == PLANTMAP_BADC || o == PLANTMAP_DCBA ? swap_bytes(r[a]) : r[a];
}

static void put16(uint16_t *r, unsigned a, enum plantmap_order o, uint16_t v)
{
    r[a] = o == PLANTMAP_BADC || o == PLANTMAP_DCBA ? swap_bytes(v) : v;
}

static uint16_t *wire_regs(struct plantmap_wire *w, enum plantmap_table t)
{
    return t == PLANTMAP_HR ? w->hr : w->ir;
}

static uint8_t *wire_bits(struct plantmap_wire *w, enum plantmap_table t)
{
    return t == PLANTMAP_COIL ? w->co : w->di;
}

static double raw_value(const struct plantmap_sig *g, const uint16_t *r, unsigned a)
{
    switch (g->type) {
    case PLANTMAP_U16: return get16(r, a, g->order);
    case PLANTMAP_S16: return (int16_t)get16(r, a, g->order);
    case PLANTMAP_U32: return get32(r, a, g->order);
    case PLANTMAP_S32: return (int32_t)get32(r, a, g->order);
    case PLANTMAP_F32: {
        uint32_t u = get32(r, a, g->order);
        float fv;
        memcpy(&fv, &u, sizeof fv);
        return fv;
    }
    case PLANTMAP_BOOL: return r[a] != 0;
    }
    return NAN;
}

static void put_raw(const struct plantmap_sig *g, uint16_t *r, unsigned a, double raw)
{
    if (g->type == PLANTMAP_F32) {
        float fv = (float)raw;
        uint32_t u;
        memcpy(&u, &fv, sizeof u);
        put32(r, a, g->order, u);
        return;
    }
    static const double lo[] = { [PLANTMAP_U16] = 0, [PLANTMAP_S16] = -32768, [PLANTMAP_U32] = 0,
                                 [PLANTMAP_S32] = -2147483648.0 };
    static const double hi[] = { [PLANTMAP_U16] = 65535, [PLANTMAP_S16] = 32767, [PLANTMAP_U32] = 4294967295.0,
                                 [PLANTMAP_S32] = 2147483647.0 };
    double v = nearbyint(raw);
    if (!(v >= lo[g->type]))
        v = lo[g->type];
    if (v > hi[g->type])
        v = hi[g->type];
    switch (g->type) {
    case PLANTMAP_U16: put16(r, a, g->order, (uint16_t)v); break;
    case PLANTMAP_S16: put16(r, a, g->order, (uint16_t)(int16_t)v); break;
    case PLANTMAP_U32: put32(r, a, g->order, (uint32_t)v); break;
    case PLANTMAP_S32: put32(r, a, g->order, (uint32_t)(int32_t)v); break;
    default: break;
    }
}

/* A logical register from an engineering value; the "no value" sentinel when it does
 * not fit. */
static void put_logical(struct plantmap_image *img, const struct plantmap_sigdef *d, unsigned li, double eng)
{
    uint16_t *r = d->ltable == PLANTMAP_HR ? img->hr : img->ir;
    double v = nearbyint(eng);
    switch (d->ltype) {
    case PLANTMAP_S16:
        r[li] = v >= -32768 && v <= 32767 ? (uint16_t)(int16_t)v : 0x8000;
        break;
    case PLANTMAP_U32: {
        uint32_t u = v >= 0 && v <= 4294967295.0 ? (uint32_t)v : 0xFFFFFFFFu;
        r[li] = (uint16_t)(u >> 16);
        r[li + 1] = (uint16_t)u;
        break;
    }
    default:
        r[li] = v >= 0 && v <= 65535 ? (uint16_t)v : 0xFFFF;
        break;
    }
}

static double get_logical(const struct plantmap_image *img, const struct plantmap_sigdef *d, unsigned li)
{
    const uint16_t *r = d->ltable == PLANTMAP_HR ? img->hr : img->ir;
    switch (d->ltype) {
    case PLANTMAP_S16: return (int16_t)r[li];
    case PLANTMAP_U32: return (double)((uint32_t)r[li] << 16 | r[li + 1]);
    default: return r[li];
    }
}

static bool sig_selected(const struct plantmap_sigdef *d, bool outputs)
{
    return d->output == outputs;
}

void plantmap_decode(const struct plantmap *m, const struct plantmap_wire *w, unsigned n_slots, bool outputs,
                     struct plantmap_image *img)
{
    if (n_slots > REGMAP_MAX_SLOTS)
        n_slots = REGMAP_MAX_SLOTS;
    struct plantmap_wire *wm = (struct plantmap_wire *)w;   /* read only below */
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        const struct plantmap_sigdef *d = &catalog[i];
        const struct plantmap_sig *g = &m->sig[i];
        if (!sig_selected(d, outputs))
            continue;
        unsigned n = d->lstride ? n_slots : 1;
        for (unsigned s = 0; s < n; s++) {
            unsigned li = d->laddr + s * d->lstride;
            if (!g->present) {
                if (d->ltype == PLANTMAP_BOOL)
                    (d->ltable == PLANTMAP_COIL ? img->co : img->di)[li] = 0;
                else
                    put_logical(img, d, li,
                                !strcmp(d->name, "map_version") ? REGMAP_VERSION
                                : !strcmp(d->name, "n_slots")   ? (double)n_slots
                                                                : 0);
                continue;
            }
            unsigned a = plantmap_addr(m, i, s);
            if (d->ltype == PLANTMAP_BOOL) {
                bool v;
                if (is_bit_table(g->table))
                    v = wire_bits(wm, g->table)[a] != 0;
                else
                    v = (wire_regs(wm, g->table)[a] >> g->bit) & 1;
                v ^= g->invert;
                (d->ltable == PLANTMAP_COIL ? img->co : img->di)[li] = v;
                continue;
            }
            double raw = raw_value(g, wire_regs(wm, g->table), a);
            put_logical(img, d, li, raw * g->scale + g->offset);
        }
    }
}

void plantmap_encode(const struct plantmap *m, const struct plantmap_image *img, unsigned n_slots, bool outputs,
                     struct plantmap_wire *w)
{
    if (n_slots > REGMAP_MAX_SLOTS)
        n_slots = REGMAP_MAX_SLOTS;
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        const struct plantmap_sigdef *d = &catalog[i];
        const struct plantmap_sig *g = &m->sig[i];
        if (!sig_selected(d, outputs) || !g->present)
            continue;
        unsigned n = d->lstride ? n_slots : 1;
        for (unsigned s = 0; s < n; s++) {
            unsigned li = d->laddr + s * d->lstride;
            unsigned a = plantmap_addr(m, i, s);
            if (d->ltype == PLANTMAP_BOOL) {
                bool v = ((d->ltable == PLANTMAP_COIL ? img->co : img->di)[li] != 0) ^ g->invert;
                if (is_bit_table(g->table)) {
                    wire_bits(w, g->table)[a] = v;
                } else {
                    uint16_t *r = &wire_regs(w, g->table)[a];
                    *r = v ? (uint16_t)(*r | 1u << g->bit) : (uint16_t)(*r & ~(1u << g->bit));
                }
                continue;
            }
            put_raw(g, wire_regs(w, g->table), a, (get_logical(img, d, li) - g->offset) / g->scale);
        }
    }
}

/* ---- the integrator's table ----------------------------------------------------------- */

void plantmap_write_markdown(FILE *f, const struct plantmap *m, unsigned n_slots)
{
    fprintf(f, "<!-- generated by build/bin/regmap-doc --map from the plant map \"%s\"; do not edit -->\n", m->name);
    fprintf(f, "# Register map \"%s\", version %d\n\n", m->name, REGMAP_VERSION);
    fprintf(f, "0-based protocol addresses (mbpoll's -0 option; PLC \"40001\" = holding register 0). "
               "`s` is the slot index (0..n-1; this layout has room for %u, the tables below name n = %u). "
               "Engineering value = raw * scale + offset, in the unit given. Class fast: read every scan; "
               "slow: read round-robin over the slow period. Outputs are written when they change and "
               "again every refresh period; the heartbeat every scan.\n\n",
            m->slots, n_slots);
    fprintf(f, "Device limits per request: read %u registers / %u bits, write %u registers / %u coils.\n\n",
            m->max_read_regs, m->max_read_bits, m->max_write_regs, m->max_write_bits);
    fprintf(f, "| Signal | Table | Address | Bit | Type | Order | Scale | Offset | Invert | Class | Unit | Meaning |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        const struct plantmap_sigdef *d = &catalog[i];
        const struct plantmap_sig *g = &m->sig[i];
        if (!g->present) {
            fprintf(f, "| %s | (not mapped) | | | | | | | | | %s | %s |\n", d->name, d->unit, d->meaning);
            continue;
        }
        char addr[40], bit[16] = "";
        if (d->lstride)
            snprintf(addr, sizeof addr, "%u + %us", g->addr, g->stride);
        else
            snprintf(addr, sizeof addr, "%u", g->addr);
        if (g->bit >= 0)
            snprintf(bit, sizeof bit, "%d", g->bit);
        bool num = g->type != PLANTMAP_BOOL;
        char scale[32] = "", offset[32] = "";
        if (num) {
            snprintf(scale, sizeof scale, "%g", g->scale);
            snprintf(offset, sizeof offset, "%g", g->offset);
        }
        fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", d->name,
                table_names[g->table], addr, bit, type_names[g->type],
                num && plantmap_type_width(g->type) == 2 ? order_names[g->order]
                : num && g->order >= PLANTMAP_BADC ? "ba"
                : num ? "ab" : "",
                scale, offset, g->invert ? "yes" : "", class_names[g->cls], d->unit, d->meaning);
    }
    fprintf(f, "\n## Plant fault codes (plant_fault)\n\n| Code | Name | Meaning |\n|---|---|---|\n");
#define CODE_ROW(name, code, text) fprintf(f, "| %u | %s | %s |\n", (unsigned)(code), #name, text);
    REGMAP_PLANT_FAULTS(CODE_ROW)
    fprintf(f, "\n## Charger fault codes (slot_chg_fault)\n\n| Code | Name | Meaning |\n|---|---|---|\n");
    REGMAP_CHARGER_FAULTS(CODE_ROW)
#undef CODE_ROW
}

void plantmap_write_ini(FILE *f, const struct plantmap *m)
{
    fprintf(f, "[map]\nname = %s\nslots = %u\n\n", m->name, m->slots);
    fprintf(f, "[device]\nmax_read_registers = %u\nmax_read_bits = %u\nmax_write_registers = %u\n"
               "max_write_bits = %u\nmax_gap_registers = %d\nmax_gap_bits = %d\n",
            m->max_read_regs, m->max_read_bits, m->max_write_regs, m->max_write_bits, m->max_gap_regs,
            m->max_gap_bits);
    for (size_t i = 0; i < plantmap_signal_count(); i++) {
        const struct plantmap_sigdef *d = &catalog[i];
        const struct plantmap_sig *g = &m->sig[i];
        if (!g->present)
            continue;
        fprintf(f, "\n; %s%s%s\n[%s]\ntable = %s\n", d->meaning, d->unit[0] ? " — " : "", d->unit, d->name,
                table_names[g->table]);
        if (d->lstride)
            fprintf(f, "base = %u\nstride = %u\n", g->addr, g->stride);
        else
            fprintf(f, "address = %u\n", g->addr);
        if (g->bit >= 0)
            fprintf(f, "bit = %d\n", g->bit);
        if (g->type != d->ltype)
            fprintf(f, "type = %s\n", type_names[g->type]);
        if (g->order != PLANTMAP_ABCD)
            fprintf(f, "order = %s\n", order_names[g->order]);
        if (g->type != PLANTMAP_BOOL && g->scale != 1)
            fprintf(f, "scale = %.17g\n", g->scale);
        if (g->type != PLANTMAP_BOOL && g->offset != 0)
            fprintf(f, "offset = %.17g\n", g->offset);
        if (g->invert)
            fprintf(f, "invert = true\n");
        if (g->cls != d->dclass)
            fprintf(f, "class = %s\n", class_names[g->cls]);
    }
}
