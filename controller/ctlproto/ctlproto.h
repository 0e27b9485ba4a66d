/* The control protocol between swapd and its operators (swapctl), schema version 1.
 *
 * Newline-delimited JSON over a Unix socket. One table names every request (arguments,
 * read-only or command) and the shape of its reply; requests are validated against it
 * generically, so adding a request is one row. Both sides use the same builders for
 * replies, errors and events, and tests check replies with ctlproto_check_reply().
 * docs/control-protocol.md describes the wire format for people.
 */
#ifndef SWAP_CTLPROTO_H
#define SWAP_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define CTLPROTO_VERSION 1

/* JSON types accepted by a field or argument (a bit set). */
#define CTLPROTO_STRING 0x01u
#define CTLPROTO_INT    0x02u
#define CTLPROTO_REAL   0x04u
#define CTLPROTO_NUMBER (CTLPROTO_INT | CTLPROTO_REAL)
#define CTLPROTO_BOOL   0x08u
#define CTLPROTO_NULL   0x10u
#define CTLPROTO_OBJECT 0x20u
#define CTLPROTO_ARRAY  0x40u

/* One field of a reply object. For arrays, `items` describes each element: an object
 * with those fields (items_types == CTLPROTO_OBJECT) or a scalar of items_types. */
struct ctlproto_field {
    const char *name;                    /* NULL ends a list */
    unsigned types;
    bool optional;
    const char *const *choices;          /* strings: allowed values, NULL-terminated */
    const struct ctlproto_field *items;  /* array of objects: their fields */
    unsigned items_types;                /* array: element types */
    const char *help;
};

#define CTLPROTO_MAX_ARGS 4

struct ctlproto_arg {
    const char *name;                    /* NULL: unused slot */
    unsigned types;
    bool required;
    const char *const *choices;          /* strings: allowed values, NULL-terminated */
    const char *help;
};

enum ctlproto_access {
    CTLPROTO_READ,     /* anyone who can connect */
    CTLPROTO_COMMAND,  /* only allowed users and groups; changes the station */
};

struct ctlproto_cmd {
    const char *name;
    enum ctlproto_access access;
    struct ctlproto_arg args[CTLPROTO_MAX_ARGS];
    const struct ctlproto_field *result; /* fields of the reply's "result" object */
    const char *help;
};

/* The whole request table, and its length. */
extern const struct ctlproto_cmd ctlproto_cmds[];
extern const size_t ctlproto_n_cmds;

/* PackML state names (DESIGN §4), unit mode names, slot charge states, battery
 * statuses, and alarm severities, each NULL-terminated. */
extern const char *const ctlproto_states[];
extern const char *const ctlproto_modes[];
extern const char *const ctlproto_charge_states[];
extern const char *const ctlproto_battery_statuses[];
extern const char *const ctlproto_drone_states[];
extern const char *const ctlproto_severities[];

/* Battery ids. A pack is named "SWP-" and its tag as eight upper-case hex digits
 * (DESIGN §11), everywhere the station prints one; ctlproto_parse_battery_id() takes
 * every form an operator may type: SWP-5A000001, 5A000001 (eight digits), 0x5A000001
 * (one to eight digits), any case, surrounding blanks ignored. Returns 0, or -1 when
 * text is not a battery id (a usage error: CTLPROTO_ERR_BAD_ARGUMENT). */
#define CTLPROTO_BATTERY_ID_SIZE 13
void ctlproto_format_battery_id(uint32_t tag, char out[CTLPROTO_BATTERY_ID_SIZE]);
int ctlproto_parse_battery_id(const char *text, uint32_t *tag);

/* Event types (the "type" of an event), NULL-terminated, and what each means
 * (ctlproto_event_type_help[i] for ctlproto_event_types[i]). */
extern const char *const ctlproto_event_types[];
extern const char *const ctlproto_event_type_help[];

/* Error codes of error replies, with the swapctl exit code each maps to. */
#define CTLPROTO_ERR_BAD_JSON          "bad_json"
#define CTLPROTO_ERR_NOT_OBJECT        "not_object"
#define CTLPROTO_ERR_MISSING_CMD       "missing_cmd"
#define CTLPROTO_ERR_UNKNOWN_CMD       "unknown_cmd"
#define CTLPROTO_ERR_BAD_ARGUMENT      "bad_argument"
#define CTLPROTO_ERR_BAD_VERSION       "unsupported_version"
#define CTLPROTO_ERR_LINE_TOO_LONG     "line_too_long"
#define CTLPROTO_ERR_TOO_MANY_CLIENTS  "too_many_clients"
#define CTLPROTO_ERR_IDLE_TIMEOUT      "idle_timeout"
#define CTLPROTO_ERR_NOT_PERMITTED     "not_permitted"
#define CTLPROTO_ERR_ILLEGAL_STATE     "illegal_state"
#define CTLPROTO_ERR_WRONG_MODE        "wrong_mode"
#define CTLPROTO_ERR_NOT_FOUND         "not_found"
#define CTLPROTO_ERR_INTERNAL          "internal"

/* swapctl's exit codes: scripts may rely on them. */
enum ctlproto_exit {
    CTLPROTO_EXIT_OK = 0,
    CTLPROTO_EXIT_REFUSED = 1,   /* the station refused: illegal now, not permitted, unknown id */
    CTLPROTO_EXIT_USAGE = 2,     /* bad command line or argument */
    CTLPROTO_EXIT_CONNECT = 3,   /* cannot reach swapd (no socket, no permission, full) */
    CTLPROTO_EXIT_PROTOCOL = 4,  /* timeout, malformed reply, version mismatch, internal */
};

struct ctlproto_error_code {
    const char *code;
    enum ctlproto_exit exit_code;
    const char *meaning;
};
extern const struct ctlproto_error_code ctlproto_errors[];
extern const size_t ctlproto_n_errors;

/* The request named name, or NULL. */
const struct ctlproto_cmd *ctlproto_find(const char *name);

/* True if s is one of the NULL-terminated list. */
bool ctlproto_in_list(const char *const *list, const char *s);

/* Parses and validates one request line (without its newline). On success returns the
 * request object (new reference) and sets *cmd to its table row. On failure returns
 * NULL and sets *error_reply to an error reply ready to send (new reference): invalid
 * JSON, not an object, missing or unknown "cmd", unsupported "v", unknown arguments,
 * missing arguments, wrong types, values outside their choices. Never crashes on any
 * input; len may include NUL bytes (they make the line invalid). */
json_t *ctlproto_parse_request(const char *line, size_t len, const struct ctlproto_cmd **cmd,
                               json_t **error_reply);

/* As above, on an already parsed value (borrowed). Returns 0, or -1 with *error_reply. */
int ctlproto_validate_request(const json_t *req, const struct ctlproto_cmd **cmd,
                              json_t **error_reply);

/* {"v":1,"ok":true,"cmd":<req.cmd>,"id":<req.id if any>,"result":result}. Steals result;
 * req may be NULL. Returns NULL only when out of memory. */
json_t *ctlproto_reply_ok(const json_t *req, json_t *result);

/* {"v":1,"ok":false,"id":..,"error":{"code":code,"message":<printf>}}. The message
 * should say what to do about it. req may be NULL. */
json_t *ctlproto_reply_error(const json_t *req, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The result of a station command: {"state":state,"message":message}, wrapped with
 * ctlproto_reply_ok. */
json_t *ctlproto_reply_command(const json_t *req, const char *state, const char *message);

/* Builds an event object {"seq","time_ms","type","text"} to which the station may add
 * "from", "to", "reason", "alarm", "battery", "slot", "drone". */
json_t *ctlproto_event(long long seq, long long time_ms, const char *type, const char *text);

/* The pushed message {"v":1,"event":event} for followers. Does not steal event. */
json_t *ctlproto_event_message(const json_t *event);

/* Checks that reply is a well-formed version-1 reply to cmd: the envelope, and for
 * "ok":true every documented result field with its documented type (and allowed
 * values). Returns 0, or -1 with the first problem in errbuf ("result.slots[2].soc_pct:
 * expected number or null, got string"). Unknown extra fields are allowed. */
int ctlproto_check_reply(const char *cmd, const json_t *reply, char *errbuf, size_t errsize);

/* Checks a pushed event message {"v":1,"event":{...}}. Returns 0 or -1 with errbuf. */
int ctlproto_check_event(const json_t *msg, char *errbuf, size_t errsize);

/* swapctl exit code for an error code (unknown codes: CTLPROTO_EXIT_PROTOCOL). */
enum ctlproto_exit ctlproto_exit_code(const char *code);

/* Writes the request table and the event type table as Markdown (for the protocol
 * document). */
void ctlproto_write_markdown(FILE *f);

#endif
