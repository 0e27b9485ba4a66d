/* A scripted station behind a real control socket; see fakestation.h. */
#include "fakestation.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FS_MAX_SLOTS 16
#define FS_MAX_BATTERIES (FS_MAX_SLOTS + 4)
#define FS_MAX_ALARMS 16
#define FS_EVENTS 256

/* The swap chain as the station names it; the fresh battery leaves its slot in step 1
 * and the old one is stored in the next-to-last step. */
static const char *const steps[] = {
    "fetch_fresh", "standby", "centre_close", "clamp", "head_to_bay", "pull_old",
    "wrist_turn", "insert_fresh", "power_check", "release", "store_old", "charge_old",
};
#define N_STEPS ((int)(sizeof steps / sizeof steps[0]))
#define STEP_FETCH 1
#define STEP_STORE 11

struct fs_battery {
    char id[16];
    char status[16];
    char reason[128];
    char location[24];
    double soc_pct, soh_pct, temp_degC, dcir_mohm, efc;
    int charges;
};

struct fs_alarm {
    int id;
    char code[40];
    char text[120];
    long long raised_ms;
    bool acked;
};

struct fakestation {
    struct ctlsock *srv;
    struct ctlsock_auth auth;
    FILE *log;
    bool own_log;
    char state[16];
    int mode;              /* index into ctlproto_modes */
    int step;              /* 1..N_STEPS in a swap, 0 outside */
    int swap_id;
    int n_slots;
    int slot_battery[FS_MAX_SLOTS];  /* index into batteries, -1 empty */
    int fresh_slot;        /* slot (0-based) the fresh battery comes from */
    int drone_battery;     /* battery in the drone on the pad */
    int gripper_battery;   /* fresh battery in gripper B, -1 none */
    int n_batteries;
    struct fs_battery batteries[FS_MAX_BATTERIES];
    int pad_drone, queued_drone;
    int n_alarms, next_alarm_id;
    struct fs_alarm alarms[FS_MAX_ALARMS];
    long long event_seq;
    json_t *events[FS_EVENTS];   /* ring */
};

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit(struct fakestation *fs, const char *type, const char *text, const char *from,
                 const char *to, const char *reason)
{
    json_t *e = ctlproto_event(++fs->event_seq, wall_ms(), type, text);
    if (from)
        json_object_set_new(e, "from", json_string(from));
    if (to)
        json_object_set_new(e, "to", json_string(to));
    if (reason)
        json_object_set_new(e, "reason", json_string(reason));
    int i = (int)(fs->event_seq % FS_EVENTS);
    json_decref(fs->events[i]);
    fs->events[i] = e;
    ctlsock_broadcast_event(fs->srv, e);
}

static void set_state(struct fakestation *fs, const char *to, const char *reason)
{
    char text[96], from[16];
    snprintf(from, sizeof from, "%s", fs->state);
    snprintf(text, sizeof text, "state %s -> %s", from, to);
    snprintf(fs->state, sizeof fs->state, "%s", to);
    emit(fs, "state", text, from, to, reason);
}

static void place(struct fakestation *fs, int b, const char *fmt, int n)
{
    snprintf(fs->batteries[b].location, sizeof fs->batteries[b].location, fmt, n);
}

static void seed(struct fakestation *fs)
{
    snprintf(fs->state, sizeof fs->state, "Execute");
    fs->mode = 0;
    fs->swap_id = 41;
    fs->step = 1;
    fs->pad_drone = 1;
    fs->queued_drone = 2;
    fs->gripper_battery = -1;
    for (int s = 0; s < fs->n_slots; s++) {
        struct fs_battery *b = &fs->batteries[fs->n_batteries];
        ctlproto_format_battery_id(0x5A000001u + (uint32_t)s, b->id);
        snprintf(b->status, sizeof b->status, "in_service");
        b->soc_pct = 35.0 + 9.0 * s;
        if (b->soc_pct > 100)
            b->soc_pct = 100;
        b->soh_pct = 97.5 - 1.5 * s;
        b->temp_degC = 24.0 + 0.5 * s;
        b->dcir_mohm = 18.0 + s;
        b->efc = 40.0 + 7 * s;
        b->charges = 45 + 8 * s;
        fs->slot_battery[s] = fs->n_batteries;
        place(fs, fs->n_batteries, "slot %d", s + 1);
        fs->n_batteries++;
    }
    fs->fresh_slot = fs->n_slots - 1;  /* the fullest */
    struct fs_battery *d = &fs->batteries[fs->n_batteries];
    ctlproto_format_battery_id(0x5A000001u + (uint32_t)fs->n_batteries, d->id);
    snprintf(d->status, sizeof d->status, "in_service");
    d->soc_pct = 18;
    d->soh_pct = 91;
    d->temp_degC = 33;
    d->dcir_mohm = 22;
    d->efc = 120;
    d->charges = 130;
    fs->drone_battery = fs->n_batteries;
    place(fs, fs->n_batteries, "drone %d", fs->pad_drone);
    fs->n_batteries++;
    fakestation_raise_alarm(fs, "charger_hot", "charger of slot 2 above 45 degC; check its fan");
}

struct fakestation *fakestation_new(const struct fakestation_opts *opts, char *err, size_t errsize)
{
    struct fakestation *fs = calloc(1, sizeof *fs);
    if (!fs) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    fs->n_slots = opts->n_slots > 0 && opts->n_slots <= FS_MAX_SLOTS ? opts->n_slots : 8;
    if (ctlsock_auth_init(&fs->auth, opts->users ? opts->users : "",
                          opts->groups ? opts->groups : "", err, errsize) < 0) {
        free(fs);
        return NULL;
    }
    struct ctlsock_err cerr;
    fs->srv = ctlsock_open(opts->socket_path, opts->mode ? opts->mode : 0660, "",
                           opts->max_clients > 0 ? opts->max_clients : 16,
                           opts->max_line ? opts->max_line : 4096, &cerr);
    if (!fs->srv) {
        snprintf(err, errsize, "%s", cerr.msg);
        free(fs);
        return NULL;
    }
    if (opts->queue_limit)
        ctlsock_set_queue_limit(fs->srv, opts->queue_limit);
    fs->log = stderr;
    if (opts->log_path) {
        fs->log = fopen(opts->log_path, "a");
        if (!fs->log) {
            snprintf(err, errsize, "%s: %s", opts->log_path, strerror(errno));
            ctlsock_close(fs->srv);
            free(fs);
            return NULL;
        }
        setvbuf(fs->log, NULL, _IOLBF, 0);
        fs->own_log = true;
    }
    fs->next_alarm_id = 1;
    seed(fs);
    return fs;
}

void fakestation_free(struct fakestation *fs)
{
    if (!fs)
        return;
    ctlsock_close(fs->srv);
    for (int i = 0; i < FS_EVENTS; i++)
        json_decref(fs->events[i]);
    if (fs->own_log)
        fclose(fs->log);
    free(fs);
}

struct ctlsock *fakestation_server(struct fakestation *fs)
{
    return fs->srv;
}

const char *fakestation_state(const struct fakestation *fs)
{
    return fs->state;
}

const char *fakestation_step(const struct fakestation *fs)
{
    return fs->step ? steps[fs->step - 1] : "";
}

void fakestation_raise_alarm(struct fakestation *fs, const char *code, const char *text)
{
    if (fs->n_alarms >= FS_MAX_ALARMS)
        return;
    struct fs_alarm *a = &fs->alarms[fs->n_alarms++];
    a->id = fs->next_alarm_id++;
    snprintf(a->code, sizeof a->code, "%s", code);
    snprintf(a->text, sizeof a->text, "%s", text);
    a->raised_ms = wall_ms();
    a->acked = false;
    char line[200];
    snprintf(line, sizeof line, "alarm %d %s: %s", a->id, a->code, a->text);
    emit(fs, "alarm", line, NULL, NULL, NULL);
}

void fakestation_advance(struct fakestation *fs)
{
    if (strcmp(fs->state, "Execute"))
        return;
    char text[96];
    const char *from = fakestation_step(fs);
    if (fs->step == STEP_FETCH) {
        fs->gripper_battery = fs->slot_battery[fs->fresh_slot];
        fs->slot_battery[fs->fresh_slot] = -1;
        place(fs, fs->gripper_battery, "gripper B", 0);
    } else if (fs->step == STEP_STORE) {
        fs->slot_battery[fs->fresh_slot] = fs->drone_battery;
        place(fs, fs->drone_battery, "slot %d", fs->fresh_slot + 1);
        fs->drone_battery = fs->gripper_battery;
        fs->gripper_battery = -1;
        place(fs, fs->drone_battery, "drone %d", fs->pad_drone);
    }
    fs->step++;
    if (fs->step > N_STEPS) {
        snprintf(text, sizeof text, "swap %d complete", fs->swap_id);
        emit(fs, "swap", text, NULL, NULL, NULL);
        fs->swap_id++;
        fs->step = 1;
        int d = fs->pad_drone;
        fs->pad_drone = fs->queued_drone;
        fs->queued_drone = d;
        /* next swap: the fullest battery */
        int best = -1;
        for (int s = 0; s < fs->n_slots; s++) {
            int b = fs->slot_battery[s];
            if (b >= 0 && (best < 0 || fs->batteries[b].soc_pct >
                                           fs->batteries[fs->slot_battery[best]].soc_pct))
                best = s;
        }
        fs->fresh_slot = best >= 0 ? best : 0;
    }
    snprintf(text, sizeof text, "step %s -> %s", from, fakestation_step(fs));
    emit(fs, "step", text, from, fakestation_step(fs), "step complete");
}

/* ---- reads ----------------------------------------------------------------------- */

static json_t *num_or_null(bool known, double v)
{
    return known ? json_real(v) : json_null();
}

static json_t *read_status(struct fakestation *fs)
{
    int active = fs->n_alarms;
    bool in_swap = fs->step > 0;
    double progress = in_swap ? 100.0 * (fs->step - 1) / N_STEPS : 0;
    json_t *r = json_pack("{s:s, s:s, s:o, s:i, s:i, s:f, s:o, s:o, s:o, s:i, s:I}",
        "state", fs->state, "mode", ctlproto_modes[fs->mode],
        "step", in_swap ? json_string(steps[fs->step - 1]) : json_null(),
        "step_index", fs->step, "step_count", N_STEPS, "progress_pct", progress,
        "eta_s", in_swap ? json_real(1.5 * (N_STEPS - fs->step + 1)) : json_null(),
        "swap_id", in_swap ? json_integer(fs->swap_id) : json_null(),
        "drone", in_swap ? json_integer(fs->pad_drone) : json_null(),
        "alarms_active", active, "time_ms", (json_int_t)wall_ms());
    return r;
}

static const char *charge_state(const struct fs_battery *b)
{
    if (b->soc_pct >= 99.5)
        return "done";
    if (b->soc_pct >= 80)
        return "cv";
    return "cc";
}

static json_t *read_slots(struct fakestation *fs)
{
    json_t *a = json_array();
    for (int s = 0; s < fs->n_slots; s++) {
        int bi = fs->slot_battery[s];
        const struct fs_battery *b = bi >= 0 ? &fs->batteries[bi] : NULL;
        json_array_append_new(a, json_pack("{s:i, s:o, s:o, s:o, s:o, s:s}", "slot", s + 1,
            "battery", b ? json_string(b->id) : json_null(),
            "soc_pct", num_or_null(b, b ? b->soc_pct : 0),
            "soh_pct", num_or_null(b, b ? b->soh_pct : 0),
            "temp_degC", num_or_null(b, b ? b->temp_degC : 0),
            "charge", b ? (strcmp(b->status, "in_service") ? "off" : charge_state(b)) : "empty"));
    }
    return json_pack("{s:o}", "slots", a);
}

static json_t *battery_json(const struct fs_battery *b)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:f, s:f, s:f, s:f, s:i, s:f}", "battery", b->id,
                     "status", b->status, "reason", b->reason[0] ? json_string(b->reason) : json_null(),
                     "location", b->location, "soc_pct", b->soc_pct, "soh_pct", b->soh_pct,
                     "dcir_mohm", b->dcir_mohm, "efc", b->efc, "charges", b->charges,
                     "temp_max_degC", b->temp_degC + 6);
}

/* Any form an operator may type, as the station takes it (ctlproto_parse_battery_id). */
static struct fs_battery *find_battery(struct fakestation *fs, const char *id)
{
    uint32_t tag;
    char norm[CTLPROTO_BATTERY_ID_SIZE];
    if (ctlproto_parse_battery_id(id, &tag) != 0)
        return NULL;
    ctlproto_format_battery_id(tag, norm);
    for (int i = 0; i < fs->n_batteries; i++)
        if (!strcmp(fs->batteries[i].id, norm))
            return &fs->batteries[i];
    return NULL;
}

static json_t *read_batteries(struct fakestation *fs, const json_t *req)
{
    const char *only = json_string_value(json_object_get(req, "battery"));
    uint32_t tag;
    if (only && ctlproto_parse_battery_id(only, &tag) != 0)
        return ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT,
                                    "\"%.20s\" is not a battery id; ids look like SWP-5A000001", only);
    const struct fs_battery *one = only ? find_battery(fs, only) : NULL;
    json_t *a = json_array();
    for (int i = 0; i < fs->n_batteries; i++)
        if (!only || one == &fs->batteries[i])
            json_array_append_new(a, battery_json(&fs->batteries[i]));
    if (only && json_array_size(a) == 0) {
        json_decref(a);
        return ctlproto_reply_error(req, CTLPROTO_ERR_NOT_FOUND,
                                    "no battery \"%.20s\"; list them with: swapctl batteries", only);
    }
    return ctlproto_reply_ok(req, json_pack("{s:o}", "batteries", a));
}

static json_t *read_drones(struct fakestation *fs)
{
    const struct fs_battery *b = &fs->batteries[fs->drone_battery];
    json_t *drones = json_pack("[{s:i, s:s, s:b, s:s, s:f, s:n}, {s:i, s:s, s:b, s:n, s:f, s:i}]",
        "sysid", fs->pad_drone, "state", fs->step ? "on_pad" : "idle", "armed", 0,
        "battery", b->id, "battery_pct", b->soc_pct, "queue_pos",
        "sysid", fs->queued_drone, "state", "queued", "armed", 1, "battery", "battery_pct", 27.0,
        "queue_pos", 1);
    return json_pack("{s:o, s:[i]}", "drones", drones, "queue", fs->queued_drone);
}

static json_t *read_alarms(struct fakestation *fs)
{
    json_t *a = json_array();
    for (int i = 0; i < fs->n_alarms; i++) {
        const struct fs_alarm *al = &fs->alarms[i];
        json_array_append_new(a, json_pack("{s:i, s:s, s:s, s:s, s:I, s:b}", "id", al->id,
            "code", al->code, "severity", "warning", "text", al->text, "raised_ms",
            (json_int_t)al->raised_ms, "acked", al->acked));
    }
    return json_pack("{s:o}", "alarms", a);
}

static json_t *read_events(struct fakestation *fs, const json_t *req)
{
    const json_t *since = json_object_get(req, "since_ms");
    const json_t *limit = json_object_get(req, "limit");
    bool follow = json_is_true(json_object_get(req, "follow"));
    json_t *a = json_array();
    long long first = fs->event_seq - FS_EVENTS + 1;
    for (long long s = first < 1 ? 1 : first; s <= fs->event_seq; s++) {
        json_t *e = fs->events[s % FS_EVENTS];
        if (!e || (since && json_integer_value(json_object_get(e, "time_ms")) <
                                json_integer_value(since)))
            continue;
        json_array_append(a, e);
    }
    if (limit && json_integer_value(limit) >= 0) {
        while (json_array_size(a) > (size_t)json_integer_value(limit))
            json_array_remove(a, 0);
    }
    return json_pack("{s:o, s:b}", "events", a, "following", follow);
}

/* ---- commands -------------------------------------------------------------------- */

struct packml_rule {
    const char *cmd;
    const char *from[6];
    const char *to;
};

static const struct packml_rule rules[] = {
    { "reset", { "Stopped", "Complete" }, "Idle" },
    { "start", { "Idle" }, "Execute" },
    { "stop", { "Idle", "Execute", "Held", "Suspended", "Complete" }, "Stopped" },
    { "hold", { "Execute" }, "Held" },
    { "unhold", { "Held" }, "Execute" },
    { "suspend", { "Execute" }, "Suspended" },
    { "unsuspend", { "Suspended" }, "Execute" },
    { "abort", { "Stopped", "Idle", "Execute", "Held", "Suspended", "Complete" }, "Aborted" },
    { "clear", { "Aborted" }, "Stopped" },
};

static json_t *packml(struct fakestation *fs, const json_t *req, const struct packml_rule *r)
{
    char legal[96] = "";
    size_t used = 0;
    for (int i = 0; i < 6 && r->from[i]; i++) {
        if (!strcmp(r->from[i], fs->state)) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s accepted: %s -> %s", r->cmd, fs->state, r->to);
            set_state(fs, r->to, r->cmd);
            if (!strcmp(r->to, "Idle") || !strcmp(r->to, "Stopped") || !strcmp(r->to, "Aborted"))
                fs->step = 0;
            if (!strcmp(r->to, "Execute") && !fs->step)
                fs->step = 1;
            return ctlproto_reply_command(req, fs->state, msg);
        }
        used += (size_t)snprintf(legal + used, sizeof legal - used, "%s%s", used ? ", " : "",
                                 r->from[i]);
    }
    return ctlproto_reply_error(req, CTLPROTO_ERR_ILLEGAL_STATE,
        "%s is not possible in %s (only in %s); check the state with: swapctl status", r->cmd,
        fs->state, legal);
}

static json_t *do_mode(struct fakestation *fs, const json_t *req)
{
    const char *m = json_string_value(json_object_get(req, "mode"));
    if (strcmp(fs->state, "Stopped") && strcmp(fs->state, "Idle") && strcmp(fs->state, "Aborted"))
        return ctlproto_reply_error(req, CTLPROTO_ERR_ILLEGAL_STATE,
            "the mode changes only in Stopped, Idle or Aborted, and the station is %s; "
            "stop it first (swapctl stop)", fs->state);
    for (int i = 0; ctlproto_modes[i]; i++) {
        if (!strcmp(ctlproto_modes[i], m)) {
            char text[64];
            snprintf(text, sizeof text, "mode %s -> %s", ctlproto_modes[fs->mode], m);
            emit(fs, "mode", text, ctlproto_modes[fs->mode], m, "operator");
            fs->mode = i;
        }
    }
    char msg[64];
    snprintf(msg, sizeof msg, "mode is %s", ctlproto_modes[fs->mode]);
    return ctlproto_reply_command(req, fs->state, msg);
}

static json_t *do_jog(struct fakestation *fs, const json_t *req)
{
    if (strcmp(ctlproto_modes[fs->mode], "maintenance"))
        return ctlproto_reply_error(req, CTLPROTO_ERR_WRONG_MODE,
            "jog works in maintenance mode only; the station is in %s mode. Switch with: "
            "swapctl mode maintenance", ctlproto_modes[fs->mode]);
    const char *axis = json_string_value(json_object_get(req, "axis"));
    const json_t *t = json_object_get(req, "target");
    char msg[96];
    if (json_is_string(t))
        snprintf(msg, sizeof msg, "jog %s to %.20s", axis, json_string_value(t));
    else
        snprintf(msg, sizeof msg, "jog %s to %g", axis, json_number_value(t));
    emit(fs, "command", msg, NULL, NULL, NULL);
    return ctlproto_reply_command(req, fs->state, msg);
}

static json_t *do_retire_return(struct fakestation *fs, const json_t *req, bool retire)
{
    const char *id = json_string_value(json_object_get(req, "battery"));
    struct fs_battery *b = find_battery(fs, id);
    if (!b)
        return ctlproto_reply_error(req, CTLPROTO_ERR_NOT_FOUND,
                                    "no battery \"%.20s\"; list them with: swapctl batteries", id);
    char msg[200];
    if (retire) {
        snprintf(b->status, sizeof b->status, "retired");
        snprintf(b->reason, sizeof b->reason, "%s", json_string_value(json_object_get(req, "reason")));
        snprintf(msg, sizeof msg, "battery %s retired: %s", b->id, b->reason);
    } else {
        if (!strcmp(b->status, "in_service"))
            return ctlproto_reply_error(req, CTLPROTO_ERR_ILLEGAL_STATE,
                "battery %s is already in service; nothing to return", b->id);
        snprintf(b->status, sizeof b->status, "in_service");
        b->reason[0] = '\0';
        snprintf(msg, sizeof msg, "battery %s back in service", b->id);
    }
    emit(fs, "battery", msg, NULL, NULL, NULL);
    return ctlproto_reply_command(req, fs->state, msg);
}

static json_t *do_ack(struct fakestation *fs, const json_t *req)
{
    json_int_t id = json_integer_value(json_object_get(req, "alarm"));
    for (int i = 0; i < fs->n_alarms; i++) {
        if (fs->alarms[i].id == id) {
            char msg[80];
            fs->alarms[i].acked = true;
            snprintf(msg, sizeof msg, "alarm %d acknowledged", fs->alarms[i].id);
            emit(fs, "command", msg, NULL, NULL, NULL);
            return ctlproto_reply_command(req, fs->state, msg);
        }
    }
    return ctlproto_reply_error(req, CTLPROTO_ERR_NOT_FOUND,
                                "no alarm %lld; list them with: swapctl alarms", (long long)id);
}

static json_t *handle(void *user, const struct ctlsock_peer *peer, const struct ctlproto_cmd *cmd,
                      const json_t *req)
{
    struct fakestation *fs = user;
    const char *name = cmd->name;
    if (cmd->access == CTLPROTO_COMMAND) {
        if (!ctlsock_auth_permits(&fs->auth, peer)) {
            fprintf(fs->log, "control: REFUSED %s from uid %u gid %u pid %ld (client %lu): "
                    "not in [control] users or groups\n", name, (unsigned)peer->uid,
                    (unsigned)peer->gid, (long)peer->pid, peer->client_id);
            return ctlproto_reply_error(req, CTLPROTO_ERR_NOT_PERMITTED,
                "uid %u may watch but not command this station; ask the administrator to add "
                "the user or one of its groups to [control] users/groups", (unsigned)peer->uid);
        }
        fprintf(fs->log, "control: %s from uid %u pid %ld (client %lu)\n", name,
                (unsigned)peer->uid, (long)peer->pid, peer->client_id);
    }
    if (!strcmp(name, "status"))
        return ctlproto_reply_ok(req, read_status(fs));
    if (!strcmp(name, "slots"))
        return ctlproto_reply_ok(req, read_slots(fs));
    if (!strcmp(name, "batteries"))
        return read_batteries(fs, req);
    if (!strcmp(name, "drones"))
        return ctlproto_reply_ok(req, read_drones(fs));
    if (!strcmp(name, "alarms"))
        return ctlproto_reply_ok(req, read_alarms(fs));
    if (!strcmp(name, "events"))
        return ctlproto_reply_ok(req, read_events(fs, req));
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (!strcmp(name, rules[i].cmd))
            return packml(fs, req, &rules[i]);
    if (!strcmp(name, "mode"))
        return do_mode(fs, req);
    if (!strcmp(name, "jog"))
        return do_jog(fs, req);
    if (!strcmp(name, "retire"))
        return do_retire_return(fs, req, true);
    if (!strcmp(name, "return"))
        return do_retire_return(fs, req, false);
    if (!strcmp(name, "ack"))
        return do_ack(fs, req);
    return NULL;
}

int fakestation_service(struct fakestation *fs, int budget)
{
    return ctlsock_service(fs->srv, handle, fs, budget);
}

/* ---- as a child process ------------------------------------------------------------ */

static void control_line(struct fakestation *fs, char *line)
{
    if (!strcmp(line, "advance")) {
        fakestation_advance(fs);
    } else if (!strncmp(line, "alarm ", 6)) {
        char *code = line + 6, *text = strchr(code, ' ');
        if (text)
            *text++ = '\0';
        fakestation_raise_alarm(fs, code, text ? text : "raised by the test");
    }
}

static void run_child(const struct fakestation_opts *opts, int control)
{
    char err[320], buf[1024];
    size_t len = 0;
    struct fakestation *fs = fakestation_new(opts, err, sizeof err);
    if (!fs) {
        fprintf(stderr, "fakestation: %s\n", err);
        _exit(1);
    }
    for (;;) {
        struct pollfd p[2] = { { control, POLLIN, 0 }, { ctlsock_fd(fs->srv), POLLIN, 0 } };
        poll(p, 2, 20);
        if (p[0].revents) {
            ssize_t n = read(control, buf + len, sizeof buf - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
            char *nl;
            while ((nl = memchr(buf, '\n', len))) {
                *nl = '\0';
                if (!strcmp(buf, "quit"))
                    goto out;
                control_line(fs, buf);
                len -= (size_t)(nl + 1 - buf);
                memmove(buf, nl + 1, len);
            }
            if (len == sizeof buf - 1)
                len = 0;
        }
        fakestation_service(fs, 64);
    }
out:
    fakestation_free(fs);
    _exit(0);
}

pid_t fakestation_spawn(const struct fakestation_opts *opts, int *control_fd)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[1]);
        signal(SIGPIPE, SIG_IGN);
        run_child(opts, p[0]);
    }
    close(p[0]);
    *control_fd = p[1];
    return pid;
}

int fakestation_send(int control_fd, const char *line)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    return write(control_fd, buf, (size_t)n) == n ? 0 : -1;
}

int fakestation_stop(pid_t pid, int control_fd, int timeout_ms)
{
    close(control_fd);
    int status = 0;
    for (int waited = 0; waited < timeout_ms; waited += 5) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return status;
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return status;
}
