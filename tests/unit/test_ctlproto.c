/* Control protocol: request validation against the schema table, reply builders, the
 * reply checker, error codes and exit codes, and the [control] configuration. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "core/station.h"
#include "ctlproto/ctlproto.h"
#include "ctlsock/ctlsock.h"

static json_t *parse(const char *line, const struct ctlproto_cmd **cmd, json_t **err)
{
    return ctlproto_parse_request(line, strlen(line), cmd, err);
}

/* The reply's error code, or "" for a valid request. */
static const char *error_code_of(const char *line, char *msg, size_t size)
{
    static char code[64];
    const struct ctlproto_cmd *cmd;
    json_t *err = NULL;
    json_t *req = parse(line, &cmd, &err);
    code[0] = '\0';
    if (msg)
        msg[0] = '\0';
    if (!req) {
        const json_t *e = json_object_get(err, "error");
        snprintf(code, sizeof code, "%s", json_string_value(json_object_get(e, "code")));
        if (msg)
            snprintf(msg, size, "%s", json_string_value(json_object_get(e, "message")));
        char why[256];
        ck_assert_msg(ctlproto_check_reply("status", err, why, sizeof why) == 0, "%s", why);
    }
    json_decref(req);
    json_decref(err);
    return code;
}

/* A valid request for every row: sample values of the documented types. */
START_TEST(every_request_in_the_table_validates_with_sample_arguments)
{
    for (size_t i = 0; i < ctlproto_n_cmds; i++) {
        const struct ctlproto_cmd *c = &ctlproto_cmds[i];
        json_t *req = json_pack("{s:s}", "cmd", c->name);
        for (int a = 0; a < CTLPROTO_MAX_ARGS && c->args[a].name; a++) {
            json_t *v;
            if (c->args[a].choices)
                v = json_string(c->args[a].choices[0]);
            else if (c->args[a].types & CTLPROTO_STRING)
                v = json_string("B0001");
            else if (c->args[a].types & CTLPROTO_INT)
                v = json_integer(1);
            else
                v = json_true();
            json_object_set_new(req, c->args[a].name, v);
        }
        const struct ctlproto_cmd *found;
        json_t *err = NULL;
        ck_assert_msg(ctlproto_validate_request(req, &found, &err) == 0, "%s: %s", c->name,
                      json_dumps(err, 0));
        ck_assert_ptr_eq(found, c);
        json_decref(req);
    }
}
END_TEST

START_TEST(read_and_command_access_is_as_documented)
{
    static const char *const reads[] = { "status", "slots", "batteries", "drones", "alarms", "events" };
    static const char *const cmds[] = { "start", "stop", "hold", "unhold", "suspend", "unsuspend",
                                        "abort", "clear", "reset", "mode", "jog", "retire",
                                        "return", "ack", "adopt", "removed" };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
        ck_assert_int_eq(ctlproto_find(reads[i])->access, CTLPROTO_READ);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        ck_assert_int_eq(ctlproto_find(cmds[i])->access, CTLPROTO_COMMAND);
    ck_assert_uint_eq(ctlproto_n_cmds, sizeof reads / sizeof reads[0] + sizeof cmds / sizeof cmds[0]);
    ck_assert_ptr_null(ctlproto_find("shutdown"));
}
END_TEST

static const struct {
    const char *line;
    const char *code;
    const char *says;   /* part of the message */
} bad[] = {
    { "{\"cmd\":\"status\"", CTLPROTO_ERR_BAD_JSON, "one JSON object per line" },
    { "not json at all", CTLPROTO_ERR_BAD_JSON, "invalid JSON" },
    { "{\"cmd\":\"status\"} trailing", CTLPROTO_ERR_BAD_JSON, "" },
    { "{\"cmd\":\"status\",\"cmd\":\"abort\"}", CTLPROTO_ERR_BAD_JSON, "duplicate" },
    { "[\"status\"]", CTLPROTO_ERR_NOT_OBJECT, "got array" },
    { "42", CTLPROTO_ERR_NOT_OBJECT, "{\"cmd\":\"status\"}" },
    { "\"status\"", CTLPROTO_ERR_NOT_OBJECT, "" },
    { "{}", CTLPROTO_ERR_MISSING_CMD, "has no \"cmd\"" },
    { "{\"cmd\":7}", CTLPROTO_ERR_MISSING_CMD, "must be a string" },
    { "{\"cmd\":null}", CTLPROTO_ERR_MISSING_CMD, "" },
    { "{\"cmd\":\"launch\"}", CTLPROTO_ERR_UNKNOWN_CMD, "knows: status, slots" },
    { "{\"cmd\":\"status\",\"v\":2}", CTLPROTO_ERR_BAD_VERSION, "version 1" },
    { "{\"cmd\":\"status\",\"v\":\"1\"}", CTLPROTO_ERR_BAD_VERSION, "" },
    { "{\"cmd\":\"status\",\"verbose\":true}", CTLPROTO_ERR_BAD_ARGUMENT, "send just {\"cmd\":\"status\"}" },
    { "{\"cmd\":\"ack\"}", CTLPROTO_ERR_BAD_ARGUMENT, "needs argument \"alarm\"" },
    { "{\"cmd\":\"ack\",\"alarm\":\"3\"}", CTLPROTO_ERR_BAD_ARGUMENT, "must be integer, got string" },
    { "{\"cmd\":\"ack\",\"alarm\":3.5}", CTLPROTO_ERR_BAD_ARGUMENT, "must be integer, got real" },
    { "{\"cmd\":\"mode\",\"mode\":\"turbo\"}", CTLPROTO_ERR_BAD_ARGUMENT,
      "one of: production, maintenance, manual" },
    { "{\"cmd\":\"mode\",\"mode\":null}", CTLPROTO_ERR_BAD_ARGUMENT, "got null" },
    { "{\"cmd\":\"retire\",\"battery\":\"B1\"}", CTLPROTO_ERR_BAD_ARGUMENT, "\"reason\"" },
    { "{\"cmd\":\"events\",\"follow\":1}", CTLPROTO_ERR_BAD_ARGUMENT, "boolean" },
    { "{\"cmd\":\"events\",\"since\":1}", CTLPROTO_ERR_BAD_ARGUMENT, "since_ms, limit, after_seq, follow" },
    { "{\"cmd\":\"jog\",\"axis\":\"x\",\"target\":[1]}", CTLPROTO_ERR_BAD_ARGUMENT, "number or string" },
    { "{\"cmd\":\"jog\",\"axis\":\"q\",\"target\":1}", CTLPROTO_ERR_BAD_ARGUMENT, "one of: x, z" },
};

START_TEST(bad_request_gets_a_stable_code_and_a_helpful_message)
{
    char msg[512];
    const char *code = error_code_of(bad[_i].line, msg, sizeof msg);
    ck_assert_msg(!strcmp(code, bad[_i].code), "%s: code %s, want %s", bad[_i].line, code, bad[_i].code);
    ck_assert_msg(strstr(msg, bad[_i].says), "%s: message \"%s\" lacks \"%s\"", bad[_i].line, msg,
                  bad[_i].says);
}
END_TEST

START_TEST(nul_byte_inside_a_line_is_bad_json)
{
    const char line[] = "{\"cmd\":\"st\0atus\"}";
    const struct ctlproto_cmd *cmd;
    json_t *err = NULL;
    ck_assert_ptr_null(ctlproto_parse_request(line, sizeof line - 1, &cmd, &err));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(err, "error"), "code")),
                     CTLPROTO_ERR_BAD_JSON);
    json_decref(err);
}
END_TEST

START_TEST(random_bytes_never_crash_the_parser)
{
    unsigned s = 12345;
    char buf[128];
    static const char alphabet[] = "{}[]\":,0123456789.-eEtrufalsn \\ucmdstatus\x01\xff";
    for (int it = 0; it < 20000; it++) {
        size_t len = (size_t)(it % (int)sizeof buf);
        for (size_t k = 0; k < len; k++) {
            s = s * 1103515245u + 12345u;
            buf[k] = alphabet[(s >> 16) % (sizeof alphabet - 1)];
        }
        const struct ctlproto_cmd *cmd;
        json_t *err = NULL;
        json_t *req = ctlproto_parse_request(buf, len, &cmd, &err);
        ck_assert((req != NULL) != (err != NULL));
        json_decref(req);
        json_decref(err);
    }
}
END_TEST

START_TEST(request_id_is_echoed_in_replies_and_errors)
{
    json_t *req = json_pack("{s:s, s:s}", "cmd", "status", "id", "abc-1");
    json_t *ok = ctlproto_reply_ok(req, json_object());
    json_t *no = ctlproto_reply_error(req, CTLPROTO_ERR_ILLEGAL_STATE, "x");
    ck_assert_str_eq(json_string_value(json_object_get(ok, "id")), "abc-1");
    ck_assert_str_eq(json_string_value(json_object_get(no, "id")), "abc-1");
    ck_assert_str_eq(json_string_value(json_object_get(ok, "cmd")), "status");
    ck_assert_int_eq(json_integer_value(json_object_get(ok, "v")), CTLPROTO_VERSION);
    json_decref(req);
    json_decref(ok);
    json_decref(no);
}
END_TEST

static json_t *good_status(void)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:f, s:f, s:i, s:i, s:i, s:I}", "state", "Execute",
                     "mode", "production", "step", "clamp", "step_index", 4, "step_count", 12,
                     "progress_pct", 25.0, "eta_s", 13.5, "swap_id", 41, "drone", 1,
                     "alarms_active", 0, "time_ms", (json_int_t)1700000000000);
}

START_TEST(check_reply_accepts_a_documented_reply)
{
    char why[256];
    json_t *req = json_pack("{s:s}", "cmd", "status");
    json_t *r = ctlproto_reply_ok(req, good_status());
    ck_assert_msg(ctlproto_check_reply("status", r, why, sizeof why) == 0, "%s", why);
    json_decref(r);
    json_decref(req);
}
END_TEST

START_TEST(check_reply_names_the_field_with_the_wrong_type)
{
    char why[256];
    json_t *req = json_pack("{s:s}", "cmd", "slots");
    json_t *result = json_pack("{s:[{s:i, s:s, s:f, s:f, s:f, s:s}, {s:i, s:n, s:s, s:n, s:n, s:s}]}",
        "slots", "slot", 1, "battery", "B1", "soc_pct", 50.0, "soh_pct", 90.0, "temp_degC", 20.0,
        "charge", "cc", "slot", 2, "battery", "soc_pct", "high", "soh_pct", "temp_degC", "charge", "empty");
    json_t *r = ctlproto_reply_ok(req, result);
    ck_assert_int_eq(ctlproto_check_reply("slots", r, why, sizeof why), -1);
    ck_assert_str_eq(why, "result.slots[1].soc_pct: expected number or null, got string");
    json_decref(r);
    json_decref(req);
}
END_TEST

START_TEST(check_reply_refuses_missing_fields_and_bad_values)
{
    char why[256];
    json_t *req = json_pack("{s:s}", "cmd", "status");
    json_t *st = good_status();
    json_object_del(st, "mode");
    json_t *r = ctlproto_reply_ok(req, st);
    ck_assert_int_eq(ctlproto_check_reply("status", r, why, sizeof why), -1);
    ck_assert_str_eq(why, "result.mode: missing");
    json_decref(r);

    st = good_status();
    json_object_set_new(st, "state", json_string("Running"));
    r = ctlproto_reply_ok(req, st);
    ck_assert_int_eq(ctlproto_check_reply("status", r, why, sizeof why), -1);
    ck_assert_str_eq(why, "result.state: \"Running\" is not an allowed value");
    json_decref(r);

    r = ctlproto_reply_ok(req, good_status());
    ck_assert_int_eq(ctlproto_check_reply("slots", r, why, sizeof why), -1);   /* wrong cmd */
    json_object_set_new(r, "v", json_integer(2));
    ck_assert_int_eq(ctlproto_check_reply("status", r, why, sizeof why), -1);
    json_decref(r);
    json_decref(req);
}
END_TEST

START_TEST(check_reply_refuses_undocumented_error_codes)
{
    char why[256];
    json_t *r = ctlproto_reply_error(NULL, "oops", "something");
    ck_assert_int_eq(ctlproto_check_reply("status", r, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "not a documented code"));
    json_decref(r);
    r = ctlproto_reply_error(NULL, CTLPROTO_ERR_NOT_FOUND, "%s", "");
    ck_assert_int_eq(ctlproto_check_reply("status", r, why, sizeof why), -1);
    json_decref(r);
}
END_TEST

START_TEST(event_messages_follow_the_schema)
{
    char why[256];
    json_t *e = ctlproto_event(7, 1700000000000LL, "state", "state Execute -> Held");
    json_object_set_new(e, "from", json_string("Execute"));
    json_object_set_new(e, "to", json_string("Held"));
    json_t *m = ctlproto_event_message(e);
    ck_assert_msg(ctlproto_check_event(m, why, sizeof why) == 0, "%s", why);
    json_object_set_new(e, "seq", json_string("7"));
    json_decref(m);
    m = ctlproto_event_message(e);
    ck_assert_int_eq(ctlproto_check_event(m, why, sizeof why), -1);
    ck_assert_str_eq(why, "event.seq: expected integer, got string");
    json_decref(m);
    json_decref(e);
}
END_TEST

START_TEST(error_codes_map_to_documented_exit_codes)
{
    ck_assert_int_eq(ctlproto_exit_code(CTLPROTO_ERR_ILLEGAL_STATE), 1);
    ck_assert_int_eq(ctlproto_exit_code(CTLPROTO_ERR_NOT_PERMITTED), 1);
    ck_assert_int_eq(ctlproto_exit_code(CTLPROTO_ERR_WRONG_MODE), 1);
    ck_assert_int_eq(ctlproto_exit_code(CTLPROTO_ERR_NOT_FOUND), 1);
    ck_assert_int_eq(ctlproto_exit_code(CTLPROTO_ERR_BAD_ARGUMENT), 2);
    ck_assert_int_eq(ctlproto_exit_code(CTLPROTO_ERR_TOO_MANY_CLIENTS), 3);
    ck_assert_int_eq(ctlproto_exit_code(CTLPROTO_ERR_BAD_JSON), 4);
    ck_assert_int_eq(ctlproto_exit_code("no_such_code"), 4);
    for (size_t i = 0; i < ctlproto_n_errors; i++)
        ck_assert(ctlproto_errors[i].meaning[0]);
}
END_TEST

START_TEST(markdown_lists_every_request)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ctlproto_write_markdown(f);
    fclose(f);
    for (size_t i = 0; i < ctlproto_n_cmds; i++) {
        char head[64];
        snprintf(head, sizeof head, "### `%s`", ctlproto_cmds[i].name);
        ck_assert_msg(strstr(text, head), "%s missing", head);
    }
    ck_assert_ptr_nonnull(strstr(text, "| `slots[].soc_pct` | number or null |"));
    free(text);
}
END_TEST

START_TEST(protocol_document_matches_the_table)
{
    const char *src = getenv("SWAP_SRC");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/control-protocol.md", src && *src ? src : ".");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "cannot open %s", path);
    char *doc = NULL, *gen = NULL;
    size_t dlen = 0, glen = 0;
    FILE *d = open_memstream(&doc, &dlen);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, d);
    fclose(f);
    fclose(d);
    FILE *g = open_memstream(&gen, &glen);
    ctlproto_write_markdown(g);
    fclose(g);
    const char *begin = strstr(doc, "<!-- BEGIN GENERATED: ctlproto_write_markdown -->\n");
    const char *end = strstr(doc, "<!-- END GENERATED -->");
    ck_assert_ptr_nonnull(begin);
    ck_assert_ptr_nonnull(end);
    begin = strchr(begin, '\n') + 1;
    ck_assert_msg((size_t)(end - begin) == glen && !memcmp(begin, gen, glen),
                  "docs/control-protocol.md is out of date: regenerate the Requests section "
                  "from ctlproto_write_markdown()");
    free(doc);
    free(gen);
}
END_TEST

/* ---- [control] configuration and authorisation ----------------------------------- */

START_TEST(control_section_defaults_and_values)
{
    struct ctlsock_cfg c;
    struct cfg_error err;
    ck_assert_int_eq(cfg_load_string("swapd.ini", "", ctlsock_cfg_keys, ctlsock_n_cfg_keys, &c, &err), 0);
    ck_assert_str_eq(c.path, "/run/swapd/swapd.sock");
    ck_assert_str_eq(c.mode, "0660");
    ck_assert_str_eq(c.users, "root");
    ck_assert_int_eq(c.max_clients, 16);
    ck_assert_int_eq(c.max_per_user, 8);
    ck_assert_int_eq(c.max_line, 4096);
    ck_assert_int_eq(cfg_load_string("swapd.ini",
        "[control]\nusers = root, operator\ngroups = swapops\nmode = 0640\nmax_clients = 4\n",
        ctlsock_cfg_keys, ctlsock_n_cfg_keys, &c, &err), 0);
    ck_assert_str_eq(c.users, "root, operator");
    ck_assert_str_eq(c.groups, "swapops");
    ck_assert_int_eq(c.max_clients, 4);
    ck_assert_int_eq(cfg_load_string("swapd.ini", "[control]\nmax_line = 10\n", ctlsock_cfg_keys,
                                     ctlsock_n_cfg_keys, &c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "[control] max_line"));
}
END_TEST

START_TEST(socket_mode_is_parsed_as_octal)
{
    unsigned m;
    ck_assert_int_eq(ctlsock_parse_mode("0660", &m), 0);
    ck_assert_uint_eq(m, 0660);
    ck_assert_int_eq(ctlsock_parse_mode("600", &m), 0);
    ck_assert_uint_eq(m, 0600);
    ck_assert_int_eq(ctlsock_parse_mode("0980", &m), -1);
    ck_assert_int_eq(ctlsock_parse_mode("rw-rw----", &m), -1);
    ck_assert_int_eq(ctlsock_parse_mode("", &m), -1);
    ck_assert_int_eq(ctlsock_parse_mode("07777", &m), -1);
}
END_TEST

START_TEST(auth_permits_listed_users_and_group_members_only)
{
    struct ctlsock_auth a;
    char err[256];
    ck_assert_int_eq(ctlsock_auth_init(&a, " root , 1234", "5000,  ", err, sizeof err), 0);
    ck_assert_int_eq(a.n_uids, 2);
    ck_assert_int_eq(a.n_gids, 1);
    struct ctlsock_peer p = { .uid = 0, .gid = 99 };
    ck_assert(ctlsock_auth_permits(&a, &p));
    p.uid = 1234;
    ck_assert(ctlsock_auth_permits(&a, &p));
    p.uid = 1000;
    ck_assert(!ctlsock_auth_permits(&a, &p));
    p.gid = 5000;
    ck_assert(ctlsock_auth_permits(&a, &p));
    p.gid = 100;
    p.n_groups = 2;
    p.groups[0] = 27;
    p.groups[1] = 5000;
    ck_assert(ctlsock_auth_permits(&a, &p));
    p.uid = (uid_t)-1;
    ck_assert(!ctlsock_auth_permits(&a, &p));   /* unknown identity */
}
END_TEST

START_TEST(auth_refuses_unknown_names_with_a_reason)
{
    struct ctlsock_auth a;
    char err[256];
    ck_assert_int_eq(ctlsock_auth_init(&a, "root,no_such_user_x", "", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no user \"no_such_user_x\""));
    ck_assert_int_eq(ctlsock_auth_init(&a, "", "no_such_group_x", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no group \"no_such_group_x\""));
    ck_assert_int_eq(ctlsock_auth_init(&a, "", "", err, sizeof err), 0);
    struct ctlsock_peer p = { .uid = 0, .gid = 0 };
    ck_assert(!ctlsock_auth_permits(&a, &p));    /* empty lists: nobody, not even root */
}
END_TEST

START_TEST(battery_ids_in_every_form_an_operator_types)
{
    static const struct {
        const char *text;
        int rc;
        uint32_t tag;
    } cases[] = {
        { "SWP-5A000001", 0, 0x5A000001 }, { "swp-5a000001", 0, 0x5A000001 },
        { "5A000001", 0, 0x5A000001 },     { "5a000001", 0, 0x5A000001 },
        { "0x5A000001", 0, 0x5A000001 },   { "0X5a000001", 0, 0x5A000001 },
        { "0x1f", 0, 0x1F },               { " SWP-DEADBEEF ", 0, 0xDEADBEEF },
        { "B0001", -1, 0 },                { "SWP-5A00001", -1, 0 },
        { "SWP-5A0000011", -1, 0 },        { "5A0001", -1, 0 },
        { "0x", -1, 0 },                   { "0x123456789", -1, 0 },
        { "SWP 5A000001", -1, 0 },         { "", -1, 0 },
        { "5A000001x", -1, 0 },            { "-5A00001", -1, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t tag = 0;
        ck_assert_msg(ctlproto_parse_battery_id(cases[i].text, &tag) == cases[i].rc, "\"%s\"",
                      cases[i].text);
        if (cases[i].rc == 0)
            ck_assert_msg(tag == cases[i].tag, "\"%s\": %08X", cases[i].text, (unsigned)tag);
    }
    ck_assert_int_eq(ctlproto_parse_battery_id(NULL, &(uint32_t){ 0 }), -1);
    char id[CTLPROTO_BATTERY_ID_SIZE];
    ctlproto_format_battery_id(0x5A00000B, id);
    ck_assert_str_eq(id, "SWP-5A00000B");
    uint32_t back;
    ck_assert_int_eq(ctlproto_parse_battery_id(id, &back), 0);
    ck_assert_uint_eq(back, 0x5A00000B);
}
END_TEST

/* The help of each PackML command (and so the protocol document) names the state it
 * leads to and, where it lists them, every state it is accepted in: the core's table. */
START_TEST(packml_help_matches_the_state_table)
{
    int n_packml = 0;
    for (size_t k = 0; k < ctlproto_n_cmds; k++) {
        const struct ctlproto_cmd *c = &ctlproto_cmds[k];
        int cmd = station_cmd_from_name(c->name);
        if (cmd < 0)
            continue;
        n_packml++;
        bool lists_all = !strstr(c->help, "from any state but");
        for (int st = 0; st < ST_COUNT; st++) {
            enum station_state to = station_states[st].on_cmd[cmd];
            char want[80];
            if (to == ST_NONE) {
                if (!lists_all) {
                    snprintf(want, sizeof want, "%s", station_states[st].name);
                    ck_assert_msg(strstr(c->help, want), "%s: help \"%s\" does not name %s as refused",
                                  c->name, c->help, want);
                }
                continue;
            }
            snprintf(want, sizeof want, "-> %s", station_states[to].name);
            ck_assert_msg(strstr(c->help, want), "%s: help \"%s\" lacks \"%s\"", c->name, c->help, want);
            if (lists_all)
                ck_assert_msg(strstr(c->help, station_states[st].name), "%s: help \"%s\" lacks %s",
                              c->name, c->help, station_states[st].name);
        }
    }
    ck_assert_int_eq(n_packml, STATION_CMD_COUNT);
}
END_TEST

START_TEST(event_types_are_documented_once)
{
    size_t n = 0;
    for (; ctlproto_event_types[n]; n++) {
        ck_assert_ptr_nonnull(ctlproto_event_type_help[n]);
        for (size_t k = 0; k < n; k++)
            ck_assert_str_ne(ctlproto_event_types[k], ctlproto_event_types[n]);
    }
    ck_assert_ptr_null(ctlproto_event_type_help[n]);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ctlproto_write_markdown(f);
    fclose(f);
    for (size_t i = 0; i < n; i++) {
        char row[64];
        snprintf(row, sizeof row, "| `%s` | ", ctlproto_event_types[i]);
        ck_assert_msg(strstr(text, row), "%s missing from the event type table", row);
    }
    free(text);
    char why[256];
    json_t *m, *e = ctlproto_event(1, 1, "ack", "alarm 1 acknowledged");
    m = ctlproto_event_message(e);
    ck_assert_int_eq(ctlproto_check_event(m, why, sizeof why), -1);
    json_decref(m);
    json_decref(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctlproto");
    TCase *tc = tcase_create("schema");
    tcase_add_test(tc, every_request_in_the_table_validates_with_sample_arguments);
    tcase_add_test(tc, read_and_command_access_is_as_documented);
    tcase_add_loop_test(tc, bad_request_gets_a_stable_code_and_a_helpful_message, 0,
                        (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, nul_byte_inside_a_line_is_bad_json);
    tcase_add_test(tc, random_bytes_never_crash_the_parser);
    tcase_add_test(tc, request_id_is_echoed_in_replies_and_errors);
    tcase_add_test(tc, check_reply_accepts_a_documented_reply);
    tcase_add_test(tc, check_reply_names_the_field_with_the_wrong_type);
    tcase_add_test(tc, check_reply_refuses_missing_fields_and_bad_values);
    tcase_add_test(tc, check_reply_refuses_undocumented_error_codes);
    tcase_add_test(tc, event_messages_follow_the_schema);
    tcase_add_test(tc, error_codes_map_to_documented_exit_codes);
    tcase_add_test(tc, markdown_lists_every_request);
    tcase_add_test(tc, protocol_document_matches_the_table);
    tcase_add_test(tc, battery_ids_in_every_form_an_operator_types);
    tcase_add_test(tc, packml_help_matches_the_state_table);
    tcase_add_test(tc, event_types_are_documented_once);
    suite_add_tcase(s, tc);
    TCase *cfg = tcase_create("config");
    tcase_add_test(cfg, control_section_defaults_and_values);
    tcase_add_test(cfg, socket_mode_is_parsed_as_octal);
    tcase_add_test(cfg, auth_permits_listed_users_and_group_members_only);
    tcase_add_test(cfg, auth_refuses_unknown_names_with_a_reason);
    suite_add_tcase(s, cfg);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
