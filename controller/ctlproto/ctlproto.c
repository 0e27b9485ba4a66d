/* Control protocol schema, request validation and reply builders; see ctlproto.h. */
#include "ctlproto/ctlproto.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const ctlproto_states[] = {
    "Stopped", "Resetting", "Idle", "Starting", "Execute", "Completing", "Complete",
    "Holding", "Held", "Unholding", "Suspending", "Suspended", "Unsuspending",
    "Stopping", "Aborting", "Aborted", "Clearing", NULL,
};
const char *const ctlproto_event_types[] = {
    "state", "step", "mode", "drone", "swap", "alarm", "battery", "command", "daemon", "plant", NULL,
};
const char *const ctlproto_event_type_help[] = {
    "PackML state change; `from`, `to`, `reason` are set (`Execute -> Holding: hold`)",
    "swap step change; `from`, `to`, `reason` are set (`fetch_fresh -> standby: step start`, "
    "`chain complete`, a resumed swap after a restart, prestaging the next pack)",
    "unit mode change; `from`, `to`, `reason` are set",
    "landing queue: a drone cleared to land; `from`, `to`, `reason` are set",
    "a swap ended: the drone cleared for take-off or the swap aborted, with the time on pad",
    "an alarm raised or cleared",
    "a pack registered, retired, returned, taken out by hand, moved while its serial was unknown, "
    "or with a health event",
    "an operator command accepted or refused, with the caller's uid and pid",
    "swapd started or stopping",
    "the plant link: a new connection treated as a plant restart (read back, reconcile, nothing moves until then)",
    NULL,
};
const char *const ctlproto_modes[] = { "production", "maintenance", "manual", NULL };
const char *const ctlproto_charge_states[] = {
    "empty", "idle", "cc", "cv", "done", "storage", "fault", "off", NULL,
};
const char *const ctlproto_battery_statuses[] = { "in_service", "quarantine", "retired", NULL };
const char *const ctlproto_drone_states[] = { "on_pad", "silent", "cleared", "queued", "flying", "on_ground",
                                              "taking_off", "landing", "unknown", NULL };
const char *const ctlproto_severities[] = { "info", "warning", "fault", "critical", NULL };

static const char *const jog_axes[] = {
    "x", "z", "y", "wrist", "gripper_a", "gripper_b", "carousel", "centering", "clamp", NULL,
};

#define S CTLPROTO_STRING
#define I CTLPROTO_INT
#define N CTLPROTO_NUMBER
#define B CTLPROTO_BOOL
#define Z CTLPROTO_NULL
#define A CTLPROTO_ARRAY

static const struct ctlproto_field status_fields[] = {
    { "state", S, false, ctlproto_states, NULL, 0, "PackML state" },
    { "mode", S, false, ctlproto_modes, NULL, 0, "unit mode" },
    { "step", S | Z, false, NULL, NULL, 0, "current swap step, null outside a swap" },
    { "step_index", I, false, NULL, NULL, 0, "1-based index of the step, 0 outside a swap" },
    { "step_count", I, false, NULL, NULL, 0, "steps in the swap chain" },
    { "progress_pct", N, false, NULL, NULL, 0, "swap progress, 0..100" },
    { "eta_s", N | Z, false, NULL, NULL, 0, "expected seconds until the swap completes" },
    { "swap_id", I | Z, false, NULL, NULL, 0, "the running swap's record in the registry, opened when the "
      "served drone has touched down (centring starts); null before that and between swaps" },
    { "drone", I | Z, false, NULL, NULL, 0, "system id of the drone being served, from its clearance to "
      "land until it is cleared for take-off, or null; set with swap_id null means cleared to land "
      "and not yet down" },
    { "alarms_active", I, false, NULL, NULL, 0, "alarms raised and not cleared" },
    { "time_ms", I, false, NULL, NULL, 0, "station time, ms since the Unix epoch" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};

static const struct ctlproto_field slot_fields[] = {
    { "slot", I, false, NULL, NULL, 0, "slot number, 1-based" },
    { "battery", S | Z, false, NULL, NULL, 0, "battery id, null when empty" },
    { "soc_pct", N | Z, false, NULL, NULL, 0, "state of charge" },
    { "soh_pct", N | Z, false, NULL, NULL, 0, "state of health (estimate)" },
    { "temp_degC", N | Z, false, NULL, NULL, 0, "pack temperature" },
    { "charge", S, false, ctlproto_charge_states, NULL, 0, "charger state" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};
static const struct ctlproto_field slots_fields[] = {
    { "slots", A, false, NULL, slot_fields, CTLPROTO_OBJECT, "one entry per magazine slot" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};

static const struct ctlproto_field battery_fields[] = {
    { "battery", S, false, NULL, NULL, 0, "battery id (SWP- and the tag in eight hex digits)" },
    { "status", S, false, ctlproto_battery_statuses, NULL, 0, "service status" },
    { "reason", S | Z, false, NULL, NULL, 0, "why quarantined or retired" },
    { "location", S, false, NULL, NULL, 0, "slot N, gripper A/B, drone N, quarantine, unknown" },
    { "soc_pct", N | Z, false, NULL, NULL, 0, "state of charge" },
    { "soh_pct", N | Z, false, NULL, NULL, 0, "state of health (estimate)" },
    { "dcir_mohm", N | Z, false, NULL, NULL, 0, "DC internal resistance (estimate)" },
    { "efc", N, false, NULL, NULL, 0, "equivalent full cycles" },
    { "charges", I, false, NULL, NULL, 0, "charges counted" },
    { "temp_max_degC", N | Z, false, NULL, NULL, 0, "highest temperature seen" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};
static const struct ctlproto_field batteries_fields[] = {
    { "batteries", A, false, NULL, battery_fields, CTLPROTO_OBJECT, "known batteries" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};

static const struct ctlproto_field drone_fields[] = {
    { "sysid", I, false, NULL, NULL, 0, "MAVLink system id" },
    { "state", S, false, ctlproto_drone_states, NULL, 0,
      "on_pad (touched down, by the load cell), silent, cleared (to land, still in the air), queued, or what the drone reports" },
    { "armed", B, false, NULL, NULL, 0, "armed as last reported (stale counts as armed)" },
    { "battery", S | Z, false, NULL, NULL, 0, "battery id the drone reports" },
    { "battery_pct", N | Z, false, NULL, NULL, 0, "remaining charge the drone reports" },
    { "queue_pos", I | Z, false, NULL, NULL, 0, "1-based place in the landing queue (the drone cleared or on the pad is not counted)" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};
static const struct ctlproto_field drones_fields[] = {
    { "drones", A, false, NULL, drone_fields, CTLPROTO_OBJECT, "drones on the link" },
    { "queue", A, false, NULL, NULL, CTLPROTO_INT, "landing queue, system ids, first lands next (critical requests first, then by arrival)" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};

static const struct ctlproto_field alarm_fields[] = {
    { "id", I, false, NULL, NULL, 0, "alarm instance id (for ack)" },
    { "code", S, false, NULL, NULL, 0, "alarm code" },
    { "severity", S, false, ctlproto_severities, NULL, 0, "severity" },
    { "text", S, false, NULL, NULL, 0, "what happened and what to do" },
    { "raised_ms", I, false, NULL, NULL, 0, "when raised, ms since the Unix epoch" },
    { "acked", B, false, NULL, NULL, 0, "acknowledged by an operator" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};
static const struct ctlproto_field alarms_fields[] = {
    { "alarms", A, false, NULL, alarm_fields, CTLPROTO_OBJECT, "active alarms, oldest first" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};

static const struct ctlproto_field event_fields[] = {
    { "seq", I, false, NULL, NULL, 0, "event number in the registry, increasing across restarts" },
    { "time_ms", I, false, NULL, NULL, 0, "ms since the Unix epoch" },
    { "type", S, false, ctlproto_event_types, NULL, 0, "what kind of event (see Event types below)" },
    { "text", S, false, NULL, NULL, 0, "one line for people" },
    { "from", S | Z, true, NULL, NULL, 0, "transitions: previous state or step" },
    { "to", S | Z, true, NULL, NULL, 0, "transitions: new state or step" },
    { "reason", S | Z, true, NULL, NULL, 0, "transitions: why" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};
static const struct ctlproto_field events_fields[] = {
    { "events", A, false, NULL, event_fields, CTLPROTO_OBJECT, "recorded events, oldest first" },
    { "following", B, false, NULL, NULL, 0, "true: new events follow as event messages" },
    { "more", B, true, NULL, NULL, 0,
      "true: the page was full; ask again with after_seq = the last seq for the rest" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};

static const struct ctlproto_field command_fields[] = {
    { "state", S, false, ctlproto_states, NULL, 0, "PackML state after the command" },
    { "message", S, false, NULL, NULL, 0, "what the station did" },
    { NULL, 0, false, NULL, NULL, 0, NULL },
};

#define NOARGS { { NULL, 0, false, NULL, NULL } }
#define PACKML(name, help) { name, CTLPROTO_COMMAND, NOARGS, command_fields, help }

const struct ctlproto_cmd ctlproto_cmds[] = {
    { "status", CTLPROTO_READ, NOARGS, status_fields, "station state, current step, progress" },
    { "slots", CTLPROTO_READ, NOARGS, slots_fields, "the magazine, slot by slot" },
    { "batteries", CTLPROTO_READ,
      { { "battery", S, false, NULL, "only this battery (SWP-5A000001, 5A000001 or 0x5A000001)" } },
      batteries_fields, "battery inventory and health" },
    { "drones", CTLPROTO_READ, NOARGS, drones_fields, "drones on the link and the landing queue" },
    { "alarms", CTLPROTO_READ, NOARGS, alarms_fields, "active alarms" },
    { "events", CTLPROTO_READ,
      { { "since_ms", I, false, NULL, "only events at or after this time (ms since epoch)" },
        { "limit", I, false, NULL, "at most this many (up to 1000), the newest" },
        { "after_seq", I, false, NULL, "only events after this seq (the next page)" },
        { "follow", B, false, NULL, "keep the connection and push new events (after the last page)" } },
      events_fields, "the event log, read from the registry (history of earlier runs included)" },
    PACKML("start", "Idle -> Starting -> Execute: start swapping"),
    PACKML("stop", "controlled stop, from any state but Stopping, Aborting, Aborted, Clearing and "
                   "Stopped: -> Stopping -> Stopped"),
    PACKML("hold", "Execute, Suspending, Suspended, Unsuspending or Unholding -> Holding -> Held: "
                   "pause after the current motion"),
    PACKML("unhold", "Held -> Unholding -> Execute: continue"),
    PACKML("suspend", "Execute -> Suspending -> Suspended: wait for an external condition"),
    PACKML("unsuspend", "Suspended -> Unsuspending -> Execute"),
    PACKML("abort", "immediate stop, from any state but Aborting and Aborted: -> Aborting -> Aborted"),
    PACKML("clear", "Aborted -> Clearing -> Stopped, after the cause is removed"),
    PACKML("reset", "Stopped or Complete -> Resetting -> Idle"),
    { "mode", CTLPROTO_COMMAND,
      { { "mode", S, true, ctlproto_modes, "new unit mode" } },
      command_fields, "change the unit mode (in Stopped, Idle or Aborted)" },
    { "jog", CTLPROTO_COMMAND,
      { { "axis", S, true, jog_axes, "actuator to move" },
        { "target", S | N, true, NULL, "mm (x, z), slot (carousel), or extend/retract, a/b, "
                                         "open/close" } },
      command_fields, "move one actuator (maintenance mode only)" },
    { "retire", CTLPROTO_COMMAND,
      { { "battery", S, true, NULL, "battery id: SWP-5A000001, 5A000001 or 0x5A000001" },
        { "reason", S, true, NULL, "why, for the record" } },
      command_fields, "take a battery out of service for good" },
    { "return", CTLPROTO_COMMAND,
      { { "battery", S, true, NULL, "battery id: SWP-5A000001, 5A000001 or 0x5A000001" } },
      command_fields, "put a quarantined or retired battery back in service" },
    { "ack", CTLPROTO_COMMAND,
      { { "alarm", I, true, NULL, "alarm id (see alarms)" } },
      command_fields, "acknowledge an alarm" },
    { "adopt", CTLPROTO_COMMAND, NOARGS, command_fields,
      "Held with inventory_mismatch: accept the sensors' view of where the packs are "
      "(packs they cannot find go to quarantine); then unhold" },
    { "removed", CTLPROTO_COMMAND,
      { { "slot", I, true, NULL, "slot number (1-based) whose pack was taken out by hand" } },
      command_fields, "book a pack taken out of the magazine by hand (to quarantine); frees the slot" },
};
const size_t ctlproto_n_cmds = sizeof ctlproto_cmds / sizeof ctlproto_cmds[0];

const struct ctlproto_error_code ctlproto_errors[] = {
    { CTLPROTO_ERR_BAD_JSON, CTLPROTO_EXIT_PROTOCOL, "the line is not valid JSON" },
    { CTLPROTO_ERR_NOT_OBJECT, CTLPROTO_EXIT_PROTOCOL, "the request is not a JSON object" },
    { CTLPROTO_ERR_MISSING_CMD, CTLPROTO_EXIT_PROTOCOL, "no \"cmd\" string in the request" },
    { CTLPROTO_ERR_UNKNOWN_CMD, CTLPROTO_EXIT_PROTOCOL, "no such request in this version" },
    { CTLPROTO_ERR_BAD_ARGUMENT, CTLPROTO_EXIT_USAGE,
      "an argument is unknown, missing, of the wrong type or not an allowed value" },
    { CTLPROTO_ERR_BAD_VERSION, CTLPROTO_EXIT_PROTOCOL, "the request asks for another schema version" },
    { CTLPROTO_ERR_LINE_TOO_LONG, CTLPROTO_EXIT_PROTOCOL,
      "the request line exceeds the limit; the connection is closed" },
    { CTLPROTO_ERR_TOO_MANY_CLIENTS, CTLPROTO_EXIT_CONNECT,
      "the station serves its maximum of clients; the connection is closed" },
    { CTLPROTO_ERR_IDLE_TIMEOUT, CTLPROTO_EXIT_CONNECT,
      "no request within [control] idle_timeout_s; the connection is closed" },
    { CTLPROTO_ERR_NOT_PERMITTED, CTLPROTO_EXIT_REFUSED,
      "the caller may read but not command (see [control] users/groups)" },
    { CTLPROTO_ERR_ILLEGAL_STATE, CTLPROTO_EXIT_REFUSED, "the command is not allowed in this state" },
    { CTLPROTO_ERR_WRONG_MODE, CTLPROTO_EXIT_REFUSED, "the command needs another unit mode" },
    { CTLPROTO_ERR_NOT_FOUND, CTLPROTO_EXIT_REFUSED, "no battery or alarm with that id" },
    { CTLPROTO_ERR_INTERNAL, CTLPROTO_EXIT_PROTOCOL, "the station failed to answer; see its log" },
};
const size_t ctlproto_n_errors = sizeof ctlproto_errors / sizeof ctlproto_errors[0];

const struct ctlproto_cmd *ctlproto_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < ctlproto_n_cmds; i++)
        if (!strcmp(ctlproto_cmds[i].name, name))
            return &ctlproto_cmds[i];
    return NULL;
}

bool ctlproto_in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

enum ctlproto_exit ctlproto_exit_code(const char *code)
{
    for (size_t i = 0; code && i < ctlproto_n_errors; i++)
        if (!strcmp(ctlproto_errors[i].code, code))
            return ctlproto_errors[i].exit_code;
    return CTLPROTO_EXIT_PROTOCOL;
}

static unsigned type_bit(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return CTLPROTO_STRING;
    case JSON_INTEGER: return CTLPROTO_INT;
    case JSON_REAL: return CTLPROTO_REAL;
    case JSON_TRUE:
    case JSON_FALSE: return CTLPROTO_BOOL;
    case JSON_NULL: return CTLPROTO_NULL;
    case JSON_OBJECT: return CTLPROTO_OBJECT;
    case JSON_ARRAY: return CTLPROTO_ARRAY;
    }
    return 0;
}

/* "string or null", "number", ... for messages. */
static const char *types_text(unsigned types, char *buf, size_t size)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        { CTLPROTO_NUMBER, "number" }, { CTLPROTO_INT, "integer" }, { CTLPROTO_REAL, "real" },
        { CTLPROTO_STRING, "string" }, { CTLPROTO_BOOL, "boolean" }, { CTLPROTO_OBJECT, "object" },
        { CTLPROTO_ARRAY, "array" }, { CTLPROTO_NULL, "null" },
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((types & names[i].bit) != names[i].bit)
            continue;
        types &= ~names[i].bit;
        int n = snprintf(buf + used, size - used, "%s%s", used ? " or " : "", names[i].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

static const char *type_name(const json_t *v)
{
    static const char *const names[] = { "string", "integer", "real", "boolean", "null",
                                         "object", "array" };
    unsigned bit = type_bit(v);
    for (unsigned i = 0; i < 7; i++)
        if (bit == 1u << i)
            return names[i];
    return "?";
}

static bool type_ok(unsigned types, const json_t *v)
{
    return (type_bit(v) & types) != 0;
}

static void set_request_meta(json_t *reply, const json_t *req)
{
    json_object_set_new(reply, "v", json_integer(CTLPROTO_VERSION));
    const json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
    if (id)
        json_object_set(reply, "id", (json_t *)id);
}

json_t *ctlproto_reply_ok(const json_t *req, json_t *result)
{
    json_t *reply = json_object();
    if (!reply) {
        json_decref(result);
        return NULL;
    }
    set_request_meta(reply, req);
    json_object_set_new(reply, "ok", json_true());
    const json_t *cmd = json_is_object(req) ? json_object_get(req, "cmd") : NULL;
    if (json_is_string(cmd))
        json_object_set(reply, "cmd", (json_t *)cmd);
    json_object_set_new(reply, "result", result ? result : json_object());
    return reply;
}

static json_t *reply_error_v(const json_t *req, const char *code, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *reply = json_object();
    if (!reply)
        return NULL;
    set_request_meta(reply, req);
    json_object_set_new(reply, "ok", json_false());
    json_object_set_new(reply, "error", json_pack("{s:s, s:s}", "code", code, "message", msg));
    return reply;
}

json_t *ctlproto_reply_error(const json_t *req, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *r = reply_error_v(req, code, fmt, ap);
    va_end(ap);
    return r;
}

json_t *ctlproto_reply_command(const json_t *req, const char *state, const char *message)
{
    return ctlproto_reply_ok(req, json_pack("{s:s, s:s}", "state", state, "message", message));
}

void ctlproto_format_battery_id(uint32_t tag, char out[CTLPROTO_BATTERY_ID_SIZE])
{
    snprintf(out, CTLPROTO_BATTERY_ID_SIZE, "SWP-%08X", (unsigned)tag);
}

int ctlproto_parse_battery_id(const char *text, uint32_t *tag)
{
    if (!text)
        return -1;
    while (*text == ' ' || *text == '\t')
        text++;
    size_t min = 8, max = 8;
    if (!strncasecmp(text, "SWP-", 4)) {
        text += 4;
    } else if (!strncasecmp(text, "0x", 2)) {
        text += 2;
        min = 1;
    }
    uint32_t v = 0;
    size_t n = 0;
    for (; isxdigit((unsigned char)*text); text++, n++) {
        if (n == max)
            return -1;
        int c = tolower((unsigned char)*text);
        v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    while (*text == ' ' || *text == '\t')
        text++;
    if (n < min || *text)
        return -1;
    *tag = v;
    return 0;
}

json_t *ctlproto_event(long long seq, long long time_ms, const char *type, const char *text)
{
    return json_pack("{s:I, s:I, s:s, s:s}", "seq", (json_int_t)seq, "time_ms",
                     (json_int_t)time_ms, "type", type, "text", text);
}

json_t *ctlproto_event_message(const json_t *event)
{
    return json_pack("{s:i, s:O}", "v", CTLPROTO_VERSION, "event", (json_t *)event);
}

static const char *const meta_keys[] = { "v", "id", "cmd", NULL };

static void list_names(char *buf, size_t size, const char *const *list)
{
    size_t used = 0;
    buf[0] = '\0';
    for (; list && *list; list++) {
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", *list);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}

static void list_cmds(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ctlproto_n_cmds; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", ctlproto_cmds[i].name);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}

int ctlproto_validate_request(const json_t *req, const struct ctlproto_cmd **cmd_out,
                              json_t **error_reply)
{
    char buf[256], tbuf[64];
    *cmd_out = NULL;
    *error_reply = NULL;
    if (!json_is_object(req)) {
        *error_reply = ctlproto_reply_error(NULL, CTLPROTO_ERR_NOT_OBJECT,
            "a request is a JSON object such as {\"cmd\":\"status\"}, got %s", type_name(req));
        return -1;
    }
    const json_t *v = json_object_get(req, "v");
    if (v && !(json_is_integer(v) && json_integer_value(v) == CTLPROTO_VERSION)) {
        *error_reply = ctlproto_reply_error(req, CTLPROTO_ERR_BAD_VERSION,
            "this station speaks control protocol version %d; send \"v\":%d or omit \"v\"",
            CTLPROTO_VERSION, CTLPROTO_VERSION);
        return -1;
    }
    const json_t *name = json_object_get(req, "cmd");
    if (!json_is_string(name)) {
        *error_reply = ctlproto_reply_error(req, CTLPROTO_ERR_MISSING_CMD,
            name ? "\"cmd\" must be a string naming the request, e.g. {\"cmd\":\"status\"}"
                 : "the request has no \"cmd\"; send e.g. {\"cmd\":\"status\"}");
        return -1;
    }
    const struct ctlproto_cmd *cmd = ctlproto_find(json_string_value(name));
    if (!cmd) {
        char names[512];
        list_cmds(names, sizeof names);
        char shown[40];
        snprintf(shown, sizeof shown, "%s", json_string_value(name));
        *error_reply = ctlproto_reply_error(req, CTLPROTO_ERR_UNKNOWN_CMD,
            "unknown request \"%s\"; version %d knows: %s", shown, CTLPROTO_VERSION, names);
        return -1;
    }
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)req, key, value) {
        if (ctlproto_in_list(meta_keys, key))
            continue;
        const struct ctlproto_arg *arg = NULL;
        for (int i = 0; i < CTLPROTO_MAX_ARGS && cmd->args[i].name; i++)
            if (!strcmp(cmd->args[i].name, key))
                arg = &cmd->args[i];
        if (!arg) {
            char shown[40];
            snprintf(shown, sizeof shown, "%s", key);
            size_t used = 0;
            buf[0] = '\0';
            for (int i = 0; i < CTLPROTO_MAX_ARGS && cmd->args[i].name; i++) {
                int n = snprintf(buf + used, sizeof buf - used, "%s%s", used ? ", " : "",
                                 cmd->args[i].name);
                if (n > 0 && (size_t)n < sizeof buf - used)
                    used += (size_t)n;
            }
            if (buf[0])
                *error_reply = ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT,
                    "\"%s\" takes no argument \"%s\"; its arguments are: %s", cmd->name, shown, buf);
            else
                *error_reply = ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT,
                    "\"%s\" takes no argument \"%s\"; send just {\"cmd\":\"%s\"}", cmd->name,
                    shown, cmd->name);
            return -1;
        }
        if (!type_ok(arg->types, value)) {
            *error_reply = ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT,
                "\"%s\": argument \"%s\" must be %s, got %s", cmd->name, arg->name,
                types_text(arg->types, tbuf, sizeof tbuf), type_name(value));
            return -1;
        }
        if (arg->choices && json_is_string(value) &&
            !ctlproto_in_list(arg->choices, json_string_value(value))) {
            list_names(buf, sizeof buf, arg->choices);
            *error_reply = ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT,
                "\"%s\": argument \"%s\" must be one of: %s", cmd->name, arg->name, buf);
            return -1;
        }
    }
    for (int i = 0; i < CTLPROTO_MAX_ARGS && cmd->args[i].name; i++) {
        if (cmd->args[i].required && !json_object_get(req, cmd->args[i].name)) {
            *error_reply = ctlproto_reply_error(req, CTLPROTO_ERR_BAD_ARGUMENT,
                "\"%s\" needs argument \"%s\" (%s: %s)", cmd->name, cmd->args[i].name,
                types_text(cmd->args[i].types, tbuf, sizeof tbuf), cmd->args[i].help);
            return -1;
        }
    }
    *cmd_out = cmd;
    return 0;
}

json_t *ctlproto_parse_request(const char *line, size_t len, const struct ctlproto_cmd **cmd,
                               json_t **error_reply)
{
    json_error_t jerr;
    *cmd = NULL;
    *error_reply = NULL;
    /* JSON_REJECT_DUPLICATES: two "cmd" keys must not let one side see another request. */
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!req) {
        *error_reply = ctlproto_reply_error(NULL, CTLPROTO_ERR_BAD_JSON,
            "invalid JSON at column %d: %s; send one JSON object per line", jerr.column, jerr.text);
        return NULL;
    }
    if (ctlproto_validate_request(req, cmd, error_reply) < 0) {
        json_decref(req);
        return NULL;
    }
    return req;
}

/* ---- reply checking (for tests and clients) ------------------------------------------ */

static int fail(char *errbuf, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *errbuf, size_t errsize, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errbuf && errsize)
        vsnprintf(errbuf, errsize, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_value(const char *path, unsigned types, const char *const *choices,
                       const struct ctlproto_field *items, unsigned items_types,
                       const json_t *v, char *errbuf, size_t errsize);

static int check_fields(const char *path, const struct ctlproto_field *fields, const json_t *obj,
                        char *errbuf, size_t errsize)
{
    char sub[256];
    if (!json_is_object(obj))
        return fail(errbuf, errsize, "%s: expected object, got %s", path, type_name(obj));
    for (const struct ctlproto_field *f = fields; f && f->name; f++) {
        snprintf(sub, sizeof sub, "%.160s.%.60s", path, f->name);
        const json_t *v = json_object_get(obj, f->name);
        if (!v) {
            if (f->optional)
                continue;
            return fail(errbuf, errsize, "%s: missing", sub);
        }
        if (check_value(sub, f->types, f->choices, f->items, f->items_types, v, errbuf,
                        errsize) < 0)
            return -1;
    }
    return 0;
}

static int check_value(const char *path, unsigned types, const char *const *choices,
                       const struct ctlproto_field *items, unsigned items_types,
                       const json_t *v, char *errbuf, size_t errsize)
{
    char tbuf[64], sub[256];
    if (!type_ok(types, v))
        return fail(errbuf, errsize, "%s: expected %s, got %s", path,
                    types_text(types, tbuf, sizeof tbuf), type_name(v));
    if (choices && json_is_string(v) && !ctlproto_in_list(choices, json_string_value(v)))
        return fail(errbuf, errsize, "%s: \"%s\" is not an allowed value", path,
                    json_string_value(v));
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            snprintf(sub, sizeof sub, "%.200s[%zu]", path, i);
            if (items_types == CTLPROTO_OBJECT && items) {
                if (check_fields(sub, items, e, errbuf, errsize) < 0)
                    return -1;
            } else if (items_types && !type_ok(items_types, e)) {
                return fail(errbuf, errsize, "%s: expected %s, got %s", sub,
                            types_text(items_types, tbuf, sizeof tbuf), type_name(e));
            }
        }
    }
    return 0;
}

static int check_envelope(const json_t *reply, char *errbuf, size_t errsize)
{
    if (!json_is_object(reply))
        return fail(errbuf, errsize, "reply: expected object, got %s",
                    reply ? type_name(reply) : "nothing");
    const json_t *v = json_object_get(reply, "v");
    if (!json_is_integer(v) || json_integer_value(v) != CTLPROTO_VERSION)
        return fail(errbuf, errsize, "v: expected %d", CTLPROTO_VERSION);
    return 0;
}

int ctlproto_check_reply(const char *cmd_name, const json_t *reply, char *errbuf, size_t errsize)
{
    if (check_envelope(reply, errbuf, errsize) < 0)
        return -1;
    const json_t *ok = json_object_get(reply, "ok");
    if (!json_is_boolean(ok))
        return fail(errbuf, errsize, "ok: expected boolean");
    if (json_is_false(ok)) {
        const json_t *e = json_object_get(reply, "error");
        if (!json_is_object(e))
            return fail(errbuf, errsize, "error: expected object");
        const json_t *code = json_object_get(e, "code");
        const json_t *msg = json_object_get(e, "message");
        if (!json_is_string(code))
            return fail(errbuf, errsize, "error.code: expected string");
        bool known = false;
        for (size_t i = 0; i < ctlproto_n_errors; i++)
            known |= !strcmp(ctlproto_errors[i].code, json_string_value(code));
        if (!known)
            return fail(errbuf, errsize, "error.code: \"%s\" is not a documented code",
                        json_string_value(code));
        if (!json_is_string(msg) || !json_string_length(msg))
            return fail(errbuf, errsize, "error.message: expected a non-empty string");
        return 0;
    }
    const struct ctlproto_cmd *cmd = ctlproto_find(cmd_name);
    if (!cmd)
        return fail(errbuf, errsize, "\"%s\" is not a request of version %d", cmd_name ? cmd_name : "(null)",
                    CTLPROTO_VERSION);
    const json_t *c = json_object_get(reply, "cmd");
    if (!json_is_string(c) || strcmp(json_string_value(c), cmd->name))
        return fail(errbuf, errsize, "cmd: expected \"%s\"", cmd->name);
    return check_fields("result", cmd->result, json_object_get(reply, "result"), errbuf, errsize);
}

int ctlproto_check_event(const json_t *msg, char *errbuf, size_t errsize)
{
    if (check_envelope(msg, errbuf, errsize) < 0)
        return -1;
    return check_fields("event", event_fields, json_object_get(msg, "event"), errbuf, errsize);
}

/* ---- documentation ------------------------------------------------------------------- */

static void write_choices_md(FILE *f, const char *const *choices)
{
    if (!choices)
        return;
    fprintf(f, "; one of:");
    for (int i = 0; choices[i]; i++)
        fprintf(f, "%s `%s`", i ? "," : "", choices[i]);
}

static void write_fields_md(FILE *f, const char *prefix, const struct ctlproto_field *fields)
{
    char tbuf[64], ibuf[64], path[128];
    for (const struct ctlproto_field *x = fields; x && x->name; x++) {
        snprintf(path, sizeof path, "%.60s%.60s", prefix, x->name);
        if ((x->types & CTLPROTO_ARRAY) && x->items_types)
            snprintf(tbuf, sizeof tbuf, "array of %s", types_text(x->items_types, ibuf, sizeof ibuf));
        else
            types_text(x->types, tbuf, sizeof tbuf);
        fprintf(f, "| `%s` | %s%s | %s", path, tbuf, x->optional ? " (optional)" : "", x->help);
        write_choices_md(f, x->choices);
        fprintf(f, " |\n");
        if (x->items) {
            snprintf(path, sizeof path, "%.60s%.60s[].", prefix, x->name);
            write_fields_md(f, path, x->items);
        }
    }
}

void ctlproto_write_markdown(FILE *f)
{
    char tbuf[64];
    for (size_t i = 0; i < ctlproto_n_cmds; i++) {
        const struct ctlproto_cmd *c = &ctlproto_cmds[i];
        fprintf(f, "### `%s` (%s)\n\n%c%s.\n\n", c->name,
                c->access == CTLPROTO_READ ? "read" : "command",
                c->help[0] >= 'a' && c->help[0] <= 'z' ? c->help[0] - 'a' + 'A' : c->help[0],
                c->help + 1);
        if (c->args[0].name) {
            fprintf(f, "| Argument | Type | Required | Meaning |\n|---|---|---|---|\n");
            for (int a = 0; a < CTLPROTO_MAX_ARGS && c->args[a].name; a++)
            {
                fprintf(f, "| `%s` | %s | %s | %s", c->args[a].name,
                        types_text(c->args[a].types, tbuf, sizeof tbuf),
                        c->args[a].required ? "yes" : "no", c->args[a].help);
                write_choices_md(f, c->args[a].choices);
                fprintf(f, " |\n");
            }
            fprintf(f, "\n");
        }
        fprintf(f, "| Result field | Type | Meaning |\n|---|---|---|\n");
        write_fields_md(f, "", c->result);
        fprintf(f, "\n");
    }
    fprintf(f, "### Event types\n\n| Type | Meaning |\n|---|---|\n");
    for (size_t i = 0; ctlproto_event_types[i]; i++)
        fprintf(f, "| `%s` | %s |\n", ctlproto_event_types[i], ctlproto_event_type_help[i]);
    fprintf(f, "\n");
}
