/* swapsim's control socket: newline-delimited JSON requests (jansson) on a Unix stream
 * socket, one reply line per request. This is how tests inject faults and read the
 * ground truth, and how dronesim lands, powers and lifts a drone on the pad.
 */
#include "swapsim/swapsim.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "battery/battery_json.h"

/* ---- replies ------------------------------------------------------------------------ */

static json_t *fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

static json_t *ok(void) { return json_pack("{s:b}", "ok", 1); }

/* ---- arguments ---------------------------------------------------------------------- */

/* Symbolic values for the integer arguments a and b of a fault. */
static const struct {
    const char *name;
    int value;
} arg_names[] = {
    { "x", 0 }, { "z", 1 },                                   /* axis_jam */
    { "a", 0 }, { "b", 1 },                                   /* gripper_no_close */
    { "di", SIM_DI }, { "co", SIM_CO }, { "hr", SIM_HR }, { "ir", SIM_IR }, /* sensor_stuck */
    { "center", SIM_ACT_CENTER }, { "clamp", SIM_ACT_CLAMP },  /* actuator_stuck */
    { "stroke", SIM_ACT_STROKE }, { "wrist", SIM_ACT_WRIST }, { "carousel", SIM_ACT_CAROUSEL },
};

/* Reads an optional integer member (a JSON integer or one of arg_names). Returns 0, or
 * -1 with a reason in err. */
static int arg_int(const json_t *req, const char *key, long min, long max, long *out, char *err,
                   size_t errsize)
{
    const json_t *v = json_object_get(req, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        for (size_t i = 0; i < sizeof arg_names / sizeof arg_names[0]; i++) {
            if (strcmp(json_string_value(v), arg_names[i].name) == 0) {
                *out = arg_names[i].value;
                return 0;
            }
        }
        snprintf(err, errsize, "\"%s\": unknown name \"%s\"", key, json_string_value(v));
        return -1;
    }
    if (!json_is_integer(v)) {
        snprintf(err, errsize, "\"%s\" must be an integer", key);
        return -1;
    }
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) {
        snprintf(err, errsize, "\"%s\" = %lld: out of range %ld..%ld", key, (long long)x, min, max);
        return -1;
    }
    *out = (long)x;
    return 0;
}

/* Reads an optional finite number. Returns 0, or -1 with a reason in err. */
static int arg_num(const json_t *req, const char *key, double min, double max, double *out,
                   char *err, size_t errsize)
{
    const json_t *v = json_object_get(req, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        snprintf(err, errsize, "\"%s\" must be a number", key);
        return -1;
    }
    double x = json_number_value(v);
    if (x < min || x > max) {
        snprintf(err, errsize, "\"%s\" = %g: out of range %g..%g", key, x, min, max);
        return -1;
    }
    *out = x;
    return 0;
}

/* Faults that swapsim itself plays (the Modbus server, not the plant misbehaves). */
enum server_fault { SF_NONE, SF_REPLY_DELAY, SF_SILENT, SF_DROP_CONNECTIONS };

static enum server_fault server_fault_from_name(const char *name)
{
    if (strcmp(name, "reply_delay") == 0)
        return SF_REPLY_DELAY;
    if (strcmp(name, "silent") == 0)
        return SF_SILENT;
    if (strcmp(name, "drop_connections") == 0)
        return SF_DROP_CONNECTIONS;
    return SF_NONE;
}

static void fault_names(char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (int k = SIM_FAULT_NONE + 1; k < SIM_FAULT_COUNT && len < size; k++)
        len += (size_t)snprintf(buf + len, size - len, "%s, ", sim_fault_name((enum sim_fault_kind)k));
    if (len < size)
        snprintf(buf + len, size - len, "reply_delay, silent, drop_connections");
}

/* ---- requests ----------------------------------------------------------------------- */

static json_t *do_inject(struct swapsim *s, const json_t *req)
{
    char err[256];
    const char *name = json_string_value(json_object_get(req, "fault"));
    if (!name)
        return fail("inject needs \"fault\" (a string)");
    long a = 0, b = 0;
    double value = 0;
    if (arg_int(req, "a", -1000000, 1000000, &a, err, sizeof err) ||
        arg_int(req, "b", -1000000, 1000000, &b, err, sizeof err) ||
        arg_num(req, "value", -1e9, 1e9, &value, err, sizeof err))
        return fail("%s", err);

    switch (server_fault_from_name(name)) {
    case SF_REPLY_DELAY:
        if (value < 0 || value > 60000)
            return fail("reply_delay: \"value\" must be 0..60000 ms");
        s->reply_delay_ms = (unsigned)value;
        return ok();
    case SF_SILENT:
        s->silent = true;
        return ok();
    case SF_DROP_CONNECTIONS:
        return json_pack("{s:b,s:i}", "ok", 1, "dropped", swapsim_mb_drop_all(s));
    case SF_NONE:
        break;
    }
    int kind = sim_fault_from_name(name);
    if (kind <= SIM_FAULT_NONE || kind >= SIM_FAULT_COUNT) {
        char names[512];
        fault_names(names, sizeof names);
        return fail("unknown fault \"%s\" (known: %s)", name, names);
    }
    struct sim_fault f = { (enum sim_fault_kind)kind, (int)a, (int)b, value };
    if (sim_plant_inject(s->plant, &f) != 0)
        return fail("%s: arguments a=%ld b=%ld value=%g outside the plant", name, a, b, value);
    return ok();
}

static json_t *do_clear(struct swapsim *s, const json_t *req)
{
    const json_t *jf = json_object_get(req, "fault");
    if (!jf || json_is_null(jf)) {
        sim_plant_clear_faults(s->plant, SIM_FAULT_NONE);
        s->reply_delay_ms = 0;
        s->silent = false;
        return ok();
    }
    const char *name = json_string_value(jf);
    if (!name)
        return fail("\"fault\" must be a string");
    switch (server_fault_from_name(name)) {
    case SF_REPLY_DELAY: s->reply_delay_ms = 0; return ok();
    case SF_SILENT: s->silent = false; return ok();
    case SF_DROP_CONNECTIONS: return ok();
    case SF_NONE: break;
    }
    int kind = sim_fault_from_name(name);
    if (kind <= SIM_FAULT_NONE || kind >= SIM_FAULT_COUNT)
        return fail("unknown fault \"%s\"", name);
    sim_plant_clear_faults(s->plant, (enum sim_fault_kind)kind);
    return ok();
}

static const char *place_name(enum sim_place p)
{
    switch (p) {
    case SIM_PLACE_NONE: return "none";
    case SIM_PLACE_SLOT: return "slot";
    case SIM_PLACE_GRIPPER_A: return "gripper_a";
    case SIM_PLACE_GRIPPER_B: return "gripper_b";
    case SIM_PLACE_DRONE: return "drone";
    case SIM_PLACE_AWAY: return "away";
    }
    return "unknown";
}

static json_t *do_truth(struct swapsim *s, const json_t *req)
{
    (void)req;
    struct sim_truth *t = malloc(sizeof *t);
    if (!t)
        return fail("out of memory");
    sim_plant_truth(s->plant, t);
    json_t *bats = json_array();
    for (size_t i = 0; i < t->n_batteries && i < SIM_MAX_BATTERIES; i++) {
        const struct sim_truth_battery *b = &t->batteries[i];
        json_array_append_new(bats, json_pack("{s:I,s:s,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f}",
            "tag", (json_int_t)b->tag, "place", place_name(b->place),
            "slot", b->place == SIM_PLACE_SLOT ? b->slot : -1, "soc", b->soc, "soh", b->soh,
            "capacity_ah", b->capacity_ah, "r0_ohm", b->r0_ohm, "r1_ohm", b->r1_ohm,
            "temp_degC", b->temp_degC, "efc", b->efc));
    }
    json_t *r = json_pack("{s:b,s:I,s:f,s:f,s:f,s:f,s:i,s:f,s:f,s:f,s:f,s:f,s:f}",
        "ok", 1, "now_ms", (json_int_t)t->now_ms, "x_mm", t->x_mm, "z_mm", t->z_mm,
        "x_vel_mm_s", t->x_vel_mm_s, "z_vel_mm_s", t->z_vel_mm_s,
        "carousel_slot", t->carousel_slot, "stroke_pos", t->stroke_pos, "wrist_pos", t->wrist_pos,
        "grip_a_pos", t->grip_a_pos, "grip_b_pos", t->grip_b_pos, "center_pos", t->center_pos,
        "clamp_pos", t->clamp_pos);
    json_t *more = json_pack("{s:b,s:b,s:b,s:b,s:b,s:b,s:i,s:s,s:i,s:i,s:o}",
        "head_in_pad_zone", t->head_in_pad_zone, "drone_present", t->drone_present,
        "drone_clamped", t->drone_clamped, "drone_centred", t->drone_centred,
        "drone_battery_latched", t->drone_battery_latched,
        "watchdog_tripped", t->watchdog_tripped, "plant_fault", (int)t->plant_fault,
        "plant_fault_text", regmap_plant_fault_str(t->plant_fault),
        "takeoff_while_clamped", (int)t->takeoff_while_clamped,
        "collisions", (int)t->collisions, "batteries", bats);
    free(t);
    if (!r || !more) {
        json_decref(r);
        json_decref(more);
        return fail("out of memory");
    }
    json_object_update(r, more);
    json_decref(more);
    return r;
}

static json_t *do_log(struct swapsim *s, const json_t *req)
{
    char err[256];
    long from = 0, max = SWAPSIM_LOG_BATCH;
    const json_t *jf = json_object_get(req, "from");
    if (jf && !json_is_null(jf) && !json_is_integer(jf))
        return fail("\"from\" must be an integer");
    if (jf && json_is_integer(jf)) {
        if (json_integer_value(jf) < 0)
            return fail("\"from\" must be >= 0");
        from = (long)json_integer_value(jf);
    }
    if (arg_int(req, "max", 1, SWAPSIM_LOG_BATCH, &max, err, sizeof err))
        return fail("%s", err);
    struct sim_log_entry *e = malloc((size_t)max * sizeof *e);
    if (!e)
        return fail("out of memory");
    uint64_t next = 0;
    size_t n = sim_plant_log(s->plant, (uint64_t)from, e, (size_t)max, &next);
    json_t *arr = json_array();
    char name[64];
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:I,s:s,s:i,s:s,s:i,s:i}",
            "t_ms", (json_int_t)e[i].t_ms, "table", e[i].table == SIM_CO ? "co" : "hr",
            "addr", (int)e[i].addr, "name", swapsim_reg_name(e[i].table, e[i].addr, name, sizeof name),
            "old", (int)e[i].old_value, "new", (int)e[i].new_value));
    free(e);
    return json_pack("{s:b,s:o,s:I}", "ok", 1, "entries", arr, "next", (json_int_t)next);
}

static json_t *do_status(struct swapsim *s, const json_t *req)
{
    (void)req;
    int n_ctl = 0;
    for (int i = 0; i < SWAPSIM_MAX_CONTROL; i++)
        n_ctl += s->ctl_clients[i].fd >= 0;
    return json_pack("{s:b,s:I,s:s,s:i,s:i,s:i,s:i,s:f,s:I,s:I,s:I,s:I,s:I,s:i,s:b}",
        "ok", 1, "plant_ms", (json_int_t)sim_plant_now_ms(s->plant), "bind", s->bind_addr,
        "port", s->port, "clients", swapsim_mb_client_count(s), "control_clients", n_ctl,
        "n_slots", s->cfg.n_slots, "realtime_factor", s->realtime_factor,
        "requests", (json_int_t)s->requests, "exceptions", (json_int_t)s->exceptions,
        "accepted", (json_int_t)s->accepted, "closed", (json_int_t)s->closed,
        "refused", (json_int_t)s->refused,
        "reply_delay_ms", (int)s->reply_delay_ms, "silent", s->silent);
}

static json_t *battery_or_null(const struct sim_battery *b)
{
    json_t *j = b ? sim_battery_to_json(b) : json_null();
    return j ? j : json_null();
}

/* Test control: while held, drone_land is answered "held" and the drone hovers over the
 * pad (its touchdown retried), so a test can stop the station at await_touchdown. */
static json_t *do_pad_hold(struct swapsim *s, const json_t *req)
{
    const json_t *h = json_object_get(req, "hold");
    if (!json_is_boolean(h))
        return fail("\"hold\" must be true or false");
    s->pad_hold = json_is_true(h);
    return json_pack("{s:b,s:b}", "ok", 1, "hold", s->pad_hold);
}

static json_t *do_drone_land(struct swapsim *s, const json_t *req)
{
    if (s->pad_hold)
        return json_pack("{s:b,s:b,s:s}", "ok", 0, "held", 1, "error", "landing held (pad_hold)");
    const json_t *jb = json_object_get(req, "battery");
    struct sim_battery b;
    char err[256];
    if (jb && !json_is_null(jb)) {
        if (!json_is_object(jb))
            return fail("\"battery\" must be an object or null");
        err[0] = 0;
        if (sim_battery_from_json(jb, &b, err, sizeof err) != 0)
            return fail("battery: %s", err[0] ? err : "invalid");
    }
    switch (sim_plant_drone_land(s->plant, jb && !json_is_null(jb) ? &b : NULL)) {
    case 0: return ok();
    case -3: return fail("a pack with tag 0x%08X is already in the plant", b.tag);
    default: return fail("pad occupied");
    }
}

static json_t *do_drone_takeoff(struct swapsim *s, const json_t *req)
{
    (void)req;
    struct sim_battery b;
    bool has = false;
    switch (sim_plant_drone_takeoff(s->plant, &b, &has)) {
    case 0: return json_pack("{s:b,s:o}", "ok", 1, "battery", battery_or_null(has ? &b : NULL));
    case -1: return fail("no drone on the pad");
    case -2: return fail("clamped");
    default: return fail("take-off refused");
    }
}

/* "drone" tells an empty pad from a drone without a pack (battery null in both). */
static json_t *do_drone_battery(struct swapsim *s, const json_t *req)
{
    (void)req;
    struct sim_truth t;
    sim_plant_truth(s->plant, &t);
    return json_pack("{s:b,s:b,s:o}", "ok", 1, "drone", t.drone_present,
                     "battery", battery_or_null(sim_plant_drone_battery(s->plant)));
}

static json_t *do_drone_load(struct swapsim *s, const json_t *req)
{
    char err[256];
    double a = NAN;
    if (!json_is_number(json_object_get(req, "current_a")))
        return fail("drone_load needs \"current_a\" (a number, A)");
    if (arg_num(req, "current_a", 0, 500, &a, err, sizeof err))
        return fail("%s", err);
    sim_plant_drone_set_load(s->plant, a);
    return ok();
}

/* Ages or charges a pack for tests. soh sets the true capacity and, unless given too,
 * the resistance and cycle count the model's own laws tie to that capacity. */
static json_t *do_set_battery(struct swapsim *s, const json_t *req)
{
    char err[256];
    const json_t *jt = json_object_get(req, "tag");
    uint32_t tag;
    if (json_is_integer(jt) && json_integer_value(jt) >= 0 && json_integer_value(jt) <= 0xFFFFFFFFll) {
        tag = (uint32_t)json_integer_value(jt);
    } else if (json_is_string(jt)) {
        char *end;
        unsigned long v = strtoul(json_string_value(jt), &end, 0);
        if (*end || end == json_string_value(jt) || v > 0xFFFFFFFFul)
            return fail("\"tag\": not a number");
        tag = (uint32_t)v;
    } else {
        return fail("set_battery needs \"tag\" (integer or \"0x...\" string)");
    }
    struct sim_battery *b = sim_plant_battery(s->plant, tag);
    if (!b)
        return fail("no battery with tag 0x%08X in the plant", tag);
    /* A request that sets nothing is a mistake (a misspelt member is refused anyway):
     * say so rather than answer as if something had changed. */
    static const char *const settable[] = { "soc", "soh", "capacity_ah", "r0_ohm", "r1_ohm", "temp_degC", "efc" };
    bool any = false;
    for (size_t i = 0; i < sizeof settable / sizeof settable[0]; i++)
        any |= json_object_get(req, settable[i]) != NULL;
    if (!any)
        return fail("set_battery: nothing to set; give soc, soh, capacity_ah, r0_ohm, r1_ohm, temp_degC "
                    "or efc (truth lists every pack)");
    double soc = b->soc, soh = NAN, cap = NAN, r0 = NAN, r1 = NAN, temp = b->temp_degC, efc = NAN;
    if (arg_num(req, "soc", 0, 1, &soc, err, sizeof err) ||
        arg_num(req, "soh", 0.05, 1.2, &soh, err, sizeof err) ||
        arg_num(req, "capacity_ah", 0.01, 1000, &cap, err, sizeof err) ||
        arg_num(req, "r0_ohm", 1e-5, 100, &r0, err, sizeof err) ||
        arg_num(req, "r1_ohm", 1e-5, 100, &r1, err, sizeof err) ||
        arg_num(req, "temp_degC", -40, 120, &temp, err, sizeof err) ||
        arg_num(req, "efc", 0, 1e6, &efc, err, sizeof err))
        return fail("%s", err);
    if (!isnan(soh) && isnan(cap))
        cap = soh * b->rated_ah;
    if (!isnan(cap)) {
        double health = cap / b->rated_ah;
        if (isnan(r0))
            r0 = b->r0_new_ohm * (1 + b->r_gamma * (1 - health));
        if (isnan(r1))
            r1 = b->r1_new_ohm * (1 + b->r_gamma * (1 - health));
        double q_loss = 1 - cap / b->capacity_new_ah;
        if (isnan(efc) && b->fade_k > 0 && b->fade_exp > 0)
            efc = q_loss > 0 ? pow(q_loss / b->fade_k, 1 / b->fade_exp) : 0;
        b->capacity_ah = cap;
    }
    if (!isnan(r0))
        b->r0_ohm = r0;
    if (!isnan(r1))
        b->r1_ohm = r1;
    if (!isnan(efc)) {
        b->efc = efc;
        b->ah_throughput = efc * 2 * b->rated_ah;
    }
    b->soc = soc;
    b->temp_degC = temp;
    return json_pack("{s:b,s:o}", "ok", 1, "battery", battery_or_null(b));
}

static json_t *do_help(struct swapsim *s, const json_t *req);

static const struct command {
    const char *name;
    const char *keys;          /* members allowed besides "cmd" */
    json_t *(*run)(struct swapsim *s, const json_t *req);
} commands[] = {
    { "inject",        "fault a b value", do_inject },
    { "clear",         "fault", do_clear },
    { "truth",         "", do_truth },
    { "log",           "from max", do_log },
    { "status",        "", do_status },
    { "drone_land",    "battery", do_drone_land },
    { "pad_hold",      "hold", do_pad_hold },
    { "drone_takeoff", "", do_drone_takeoff },
    { "drone_battery", "", do_drone_battery },
    { "drone_load",    "current_a", do_drone_load },
    { "set_battery",   "tag soc soh capacity_ah r0_ohm r1_ohm temp_degC efc", do_set_battery },
    { "help",          "", do_help },
};

static json_t *do_help(struct swapsim *s, const json_t *req)
{
    (void)s;
    (void)req;
    json_t *arr = json_array();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        json_array_append_new(arr, json_string(commands[i].name));
    return json_pack("{s:b,s:o}", "ok", 1, "commands", arr);
}

static bool key_allowed(const char *keys, const char *key)
{
    size_t n = strlen(key);
    if (n == 0)
        return false;
    for (const char *p = keys; (p = strstr(p, key)) != NULL; p += n)
        if ((p == keys || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return true;
    return false;
}

static json_t *dispatch(struct swapsim *s, const json_t *req)
{
    if (!json_is_object(req))
        return fail("request must be a JSON object");
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    if (!cmd)
        return fail("missing \"cmd\" (a string)");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) != 0)
            continue;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)req, key, v) {
            if (strcmp(key, "cmd") != 0 && !key_allowed(commands[i].keys, key))
                return fail("%s: unknown member \"%s\"", cmd, key);
        }
        return commands[i].run(s, req);
    }
    return fail("unknown cmd \"%s\"", cmd);
}

char *swapsim_ctl_handle(struct swapsim *s, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *rep = req ? dispatch(s, req) : fail("bad JSON: %s at column %d", jerr.text, jerr.column);
    json_decref(req);
    char *text = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
    json_decref(rep);
    return text ? text : strdup("{\"ok\":false,\"error\":\"out of memory\"}");
}

int swapsim_fault_spec(struct swapsim *s, const char *spec, char *err, size_t errsize)
{
    json_t *req;
    if (spec[0] == '{') {
        json_error_t jerr;
        req = json_loads(spec, JSON_REJECT_DUPLICATES, &jerr);
        if (!req || !json_is_object(req)) {
            snprintf(err, errsize, "--fault %s: %s", spec, req ? "not a JSON object" : jerr.text);
            json_decref(req);
            return -1;
        }
    } else {
        /* NAME[,a=N][,b=N][,value=X] */
        char buf[256];
        snprintf(buf, sizeof buf, "%s", spec);
        char *save = NULL, *tok = strtok_r(buf, ",", &save);
        req = json_object();
        json_object_set_new(req, "fault", json_string(tok ? tok : ""));
        while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
            char *eq = strchr(tok, '=');
            char *end = NULL;
            double v = eq ? strtod(eq + 1, &end) : 0;
            if (!eq || end == eq + 1 || *end) {
                snprintf(err, errsize, "--fault %s: \"%s\" is not key=number", spec, tok);
                json_decref(req);
                return -1;
            }
            *eq = 0;
            bool is_value = strcmp(tok, "value") == 0;
            if (!is_value && !(v >= -1e6 && v <= 1e6 && v == floor(v))) {
                snprintf(err, errsize, "--fault %s: %s must be an integer", spec, tok);
                json_decref(req);
                return -1;
            }
            json_object_set_new(req, tok, is_value ? json_real(v) : json_integer((json_int_t)v));
        }
    }
    json_object_del(req, "cmd");
    json_t *rep = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v) {
        if (!key_allowed("fault a b value", key)) {
            rep = fail("unknown member \"%s\"", key);
            break;
        }
    }
    if (!rep)
        rep = do_inject(s, req);
    json_decref(req);
    int rc = json_is_true(json_object_get(rep, "ok")) ? 0 : -1;
    if (rc)
        snprintf(err, errsize, "--fault %s: %s", spec, json_string_value(json_object_get(rep, "error")));
    json_decref(rep);
    return rc;
}

/* ---- register names for the command log --------------------------------------------- */

const char *swapsim_reg_name(enum sim_table t, unsigned addr, char *buf, size_t size)
{
#define NAME_CASE(name, a, ...) case (a): return #name;
    if (t == SIM_CO) {
        switch (addr) {
        REGMAP_CO(NAME_CASE)
        default: break;
        }
    } else if (t == SIM_HR) {
        switch (addr) {
        REGMAP_HR(NAME_CASE)
        default: break;
        }
        if (addr >= REGMAP_HR_SLOT_BASE && addr < REGMAP_HR_COUNT(REGMAP_MAX_SLOTS)) {
            unsigned slot = (addr - REGMAP_HR_SLOT_BASE) / REGMAP_HR_SLOT_STRIDE;
            unsigned off = (addr - REGMAP_HR_SLOT_BASE) % REGMAP_HR_SLOT_STRIDE;
            const char *base = NULL;
#define SLOT_NAME(name, o, ...) if (off == (o)) base = #name;
            REGMAP_HR_SLOT(SLOT_NAME)
#undef SLOT_NAME
            if (base) {
                snprintf(buf, size, "%s[%u]", base, slot);
                return buf;
            }
        }
    }
#undef NAME_CASE
    return "?";
}

void swapsim_log_line(FILE *f, const struct sim_log_entry *e)
{
    char name[64];
    fprintf(f, "%llu %s %u %s %u %u\n", (unsigned long long)e->t_ms, e->table == SIM_CO ? "co" : "hr",
            (unsigned)e->addr, swapsim_reg_name(e->table, e->addr, name, sizeof name),
            (unsigned)e->old_value, (unsigned)e->new_value);
}

/* ---- the socket ----------------------------------------------------------------------- */

int swapsim_ctl_open(struct swapsim *s, const char *path, char *err, size_t errsize)
{
    for (int i = 0; i < SWAPSIM_MAX_CONTROL; i++)
        s->ctl_clients[i].fd = -1;
    s->ctl_fd = -1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errsize, "--control %s: path longer than %zu bytes", path, sizeof sa.sun_path - 1);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errsize, "--control %s: exists and is not a socket", path);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            snprintf(err, errsize, "--control %s: another server is listening there", path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
        snprintf(err, errsize, "--control %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    s->ctl_fd = fd;
    snprintf(s->ctl_path, sizeof s->ctl_path, "%s", path);
    return 0;
}

static void ctl_client_close(struct swapsim_ctlclient *c)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->in_len = c->out_len = c->out_cap = 0;
    c->discarding = false;
}

void swapsim_ctl_close(struct swapsim *s)
{
    for (int i = 0; i < SWAPSIM_MAX_CONTROL; i++)
        ctl_client_close(&s->ctl_clients[i]);
    if (s->ctl_fd >= 0) {
        close(s->ctl_fd);
        unlink(s->ctl_path);
    }
    s->ctl_fd = -1;
}

void swapsim_ctl_accept(struct swapsim *s)
{
    for (;;) {
        int fd = accept4(s->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct swapsim_ctlclient *c = NULL;
        for (int i = 0; i < SWAPSIM_MAX_CONTROL && !c; i++)
            if (s->ctl_clients[i].fd < 0)
                c = &s->ctl_clients[i];
        if (c)
            c->in = malloc(SWAPSIM_LINE_MAX + 1);
        if (!c || !c->in) {
            static const char busy[] = "{\"ok\":false,\"error\":\"too many control clients\"}\n";
            ssize_t w = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
            (void)w;
            close(fd);
            continue;
        }
        c->fd = fd;
        c->in_len = c->out_len = c->out_cap = 0;
        c->out = NULL;
        c->discarding = false;
    }
}

static void queue_reply(struct swapsim_ctlclient *c, const char *text)
{
    size_t n = strlen(text);
    if (c->out_len + n + 1 > SWAPSIM_OUT_MAX) {
        ctl_client_close(c);   /* it does not read its replies */
        return;
    }
    if (c->out_len + n + 1 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n + 1)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) {
            ctl_client_close(c);
            return;
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, text, n);
    c->out[c->out_len + n] = '\n';
    c->out_len += n + 1;
}

void swapsim_ctl_writable(struct swapsim *s, struct swapsim_ctlclient *c)
{
    (void)s;
    while (c->fd >= 0 && c->out_len > 0) {
        ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                ctl_client_close(c);
            return;
        }
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (size_t)w;
    }
}

void swapsim_ctl_readable(struct swapsim *s, struct swapsim_ctlclient *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, SWAPSIM_LINE_MAX - c->in_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        ctl_client_close(c);
        return;
    }
    if (n < 0)
        return;
    c->in_len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < c->in_len && c->fd >= 0; i++) {
        if (c->in[i] != '\n')
            continue;
        if (c->discarding) {
            c->discarding = false;
        } else {
            size_t len = i - start;
            if (len > 0 && c->in[start + len - 1] == '\r')
                len--;
            bool blank = true;
            for (size_t k = start; k < start + len && blank; k++)
                blank = c->in[k] == ' ' || c->in[k] == '\t';
            if (!blank) {
                char *rep = swapsim_ctl_handle(s, c->in + start, len);
                if (rep)
                    queue_reply(c, rep);
                free(rep);
            }
        }
        start = i + 1;
    }
    if (c->fd < 0)
        return;
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (c->in_len == SWAPSIM_LINE_MAX) {
        if (!c->discarding) {
            char msg[96];
            snprintf(msg, sizeof msg, "{\"ok\":false,\"error\":\"request longer than %d bytes\"}", SWAPSIM_LINE_MAX);
            queue_reply(c, msg);
        }
        c->discarding = true;
        c->in_len = 0;
    }
    swapsim_ctl_writable(s, c);
}
