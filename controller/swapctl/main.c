/* swapctl: the operator's command line for swapd (reads, commands, and `top`). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctlsock/ctlsock.h"
#include "registry/registry.h"
#include "swapctl/swapctl.h"

#define SWAPCTL_DEFAULT_DB "/var/lib/swapd/swapd.db"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_EVENTS 20

struct cli_opt {
    const char *flag;     /* "--follow" */
    const char *key;      /* request key */
    char kind;            /* 'b' flag, 's' string, 'i' integer, 't' time */
    const char *meta;
    const char *help;
};

struct cli_cmd {
    const char *name;
    const char *pos_key[2];
    const char *pos_meta[2];
    char pos_kind[2];     /* 's' string, 'i' integer, 'v' number or word */
    int min_pos, max_pos;
    struct cli_opt opts[3];
    void (*print)(const json_t *result);
};

static void print_status(const json_t *r);
static void print_slots(const json_t *r);
static void print_batteries(const json_t *r);
static void print_drones(const json_t *r);
static void print_alarms(const json_t *r);
static void print_events(const json_t *r);
static void print_command(const json_t *r);

#define PACKML_CLI(n) { n, { NULL, NULL }, { NULL, NULL }, { 0, 0 }, 0, 0, { { NULL, NULL, 0, NULL, NULL } }, print_command }

static const struct cli_cmd cli_cmds[] = {
    { "status", { NULL, NULL }, { NULL, NULL }, { 0, 0 }, 0, 0, { { NULL, NULL, 0, NULL, NULL } }, print_status },
    { "slots", { NULL, NULL }, { NULL, NULL }, { 0, 0 }, 0, 0, { { NULL, NULL, 0, NULL, NULL } }, print_slots },
    { "batteries", { "battery", NULL }, { "[BATTERY]", NULL }, { 's', 0 }, 0, 1,
      { { NULL, NULL, 0, NULL, NULL } }, print_batteries },
    { "drones", { NULL, NULL }, { NULL, NULL }, { 0, 0 }, 0, 0, { { NULL, NULL, 0, NULL, NULL } }, print_drones },
    { "alarms", { NULL, NULL }, { NULL, NULL }, { 0, 0 }, 0, 0, { { NULL, NULL, 0, NULL, NULL } }, print_alarms },
    { "events", { NULL, NULL }, { NULL, NULL }, { 0, 0 }, 0, 0,
      { { "--follow", "follow", 'b', NULL, "keep printing new events until interrupted" },
        { "--since", "since_ms", 't', "TIME", "from TIME: 10m (ago), 13:05, 2026-11-26T13:05, "
                                              "or ms since the epoch" },
        { "--limit", "limit", 'i', "N", "the newest N, up to 1000 (default 20 without --since; "
                                         "--since alone: all of them, from the registry)" } },
      print_events },
    PACKML_CLI("start"), PACKML_CLI("stop"), PACKML_CLI("hold"), PACKML_CLI("unhold"),
    PACKML_CLI("suspend"), PACKML_CLI("unsuspend"), PACKML_CLI("abort"), PACKML_CLI("clear"),
    PACKML_CLI("reset"),
    { "mode", { "mode", NULL }, { "production|maintenance|manual", NULL }, { 's', 0 }, 1, 1,
      { { NULL, NULL, 0, NULL, NULL } }, print_command },
    { "jog", { "axis", "target" }, { "AXIS", "TARGET" }, { 's', 'v' }, 2, 2,
      { { NULL, NULL, 0, NULL, NULL } }, print_command },
    { "retire", { "battery", NULL }, { "BATTERY", NULL }, { 's', 0 }, 1, 1,
      { { "--reason", "reason", 's', "TEXT", "why (required; kept with the battery)" } },
      print_command },
    { "return", { "battery", NULL }, { "BATTERY", NULL }, { 's', 0 }, 1, 1,
      { { NULL, NULL, 0, NULL, NULL } }, print_command },
    { "ack", { "alarm", NULL }, { "ALARM", NULL }, { 'i', 0 }, 1, 1,
      { { NULL, NULL, 0, NULL, NULL } }, print_command },
    { "adopt", { NULL, NULL }, { NULL, NULL }, { 0, 0 }, 0, 0,
      { { NULL, NULL, 0, NULL, NULL } }, print_command },
    { "removed", { "slot", NULL }, { "SLOT", NULL }, { 'i', 0 }, 1, 1,
      { { NULL, NULL, 0, NULL, NULL } }, print_command },
};
#define N_CLI ((int)(sizeof cli_cmds / sizeof cli_cmds[0]))

static const struct cli_cmd *cli_find(const char *name)
{
    for (int i = 0; i < N_CLI; i++)
        if (!strcmp(cli_cmds[i].name, name))
            return &cli_cmds[i];
    return NULL;
}

static void usage_line(FILE *f, const struct cli_cmd *c)
{
    fprintf(f, "usage: swapctl [--socket PATH] [--json] [--timeout SEC] %s", c->name);
    for (int i = 0; i < c->max_pos; i++)
        fprintf(f, " %s", c->pos_meta[i]);
    for (int i = 0; i < 3 && c->opts[i].flag; i++) {
        bool required = !strcmp(c->opts[i].flag, "--reason");
        fprintf(f, " %s%s%s%s%s", required ? "" : "[", c->opts[i].flag, c->opts[i].meta ? " " : "",
                c->opts[i].meta ? c->opts[i].meta : "", required ? "" : "]");
    }
    fputc('\n', f);
}

static void help_command(const struct cli_cmd *c)
{
    const struct ctlproto_cmd *p = ctlproto_find(c->name);
    usage_line(stdout, c);
    printf("\n%s%s.\n", p->help, p->access == CTLPROTO_COMMAND
                                     ? " (a command: needs a user or group allowed in [control])"
                                     : "");
    for (int i = 0; i < CTLPROTO_MAX_ARGS && p->args[i].name; i++) {
        if (!strcmp(p->args[i].name, "since_ms") || !strcmp(p->args[i].name, "limit") ||
            !strcmp(p->args[i].name, "follow") || !strcmp(p->args[i].name, "reason"))
            continue;
        printf("  %-10s %s", p->args[i].name, p->args[i].help);
        if (p->args[i].choices) {
            printf(" (");
            for (int k = 0; p->args[i].choices[k]; k++)
                printf("%s%s", k ? ", " : "", p->args[i].choices[k]);
            printf(")");
        }
        printf("\n");
    }
    for (int i = 0; i < 3 && c->opts[i].flag; i++)
        printf("  %s%s%s  %s\n", c->opts[i].flag, c->opts[i].meta ? " " : "",
               c->opts[i].meta ? c->opts[i].meta : "", c->opts[i].help);
    printf("\n--json prints the reply as one JSON object per line (schema: "
           "docs/control-protocol.md).\n");
}

static void help_top(void)
{
    printf("usage: swapctl [--socket PATH] top [--plain] [--interval SEC] [--count N]\n\n"
           "Live view of the station: state and current step with progress and ETA, the\n"
           "magazine, drones and the landing queue, alarms and the last events.\n"
           "Keys: h hold, u unhold, a abort (asks y/n), r reset, k acknowledge the selected\n"
           "alarm (up/down select; default the oldest), q quit.\n"
           "  --plain         plain text, one status block per interval (automatic when\n"
           "                  standard output is not a terminal)\n"
           "  --interval SEC  refresh period (default 1)\n"
           "  --count N       plain view: stop after N blocks\n");
}

static void help_main(void)
{
    printf("usage: swapctl [--socket PATH] [--json] [--timeout SEC] COMMAND [ARGS]\n\n"
           "Reads (anyone who can open the socket):\n"
           "  status                      state, mode, current step, progress\n"
           "  slots                       the magazine\n"
           "  batteries [BATTERY]         inventory and health\n"
           "  drones                      drones and the landing queue\n"
           "  alarms                      active alarms\n"
           "  events [--follow] [--since TIME] [--limit N]\n"
           "                              the event log from the registry (kept [retention]\n"
           "                              events_days, default 30)\n"
           "  top                         live full-screen view\n"
           "Database (as swapd's user, without swapd's socket):\n"
           "  check-db [DATABASE]         full integrity check of the registry\n"
           "Commands (users and groups allowed in [control]):\n"
           "  start stop hold unhold suspend unsuspend abort clear reset\n"
           "  mode production|maintenance|manual\n"
           "  jog AXIS TARGET             maintenance mode only\n"
           "  retire BATTERY --reason TEXT\n"
           "  return BATTERY\n"
           "  ack ALARM\n"
           "  adopt                       after an inventory mismatch: the sensors are right\n"
           "  removed SLOT                a pack was taken out of SLOT by hand (frees the slot)\n"
           "BATTERY is a pack's id as the station prints it (SWP-5A000001); 5A000001 and\n"
           "0x5A000001 work too, in any case.\n\n"
           "Options: --socket PATH (default $SWAPD_SOCKET or %s), --json (replies as\n"
           "JSON lines), --timeout SEC (default 5). 'swapctl COMMAND --help' for details.\n\n"
           "Exit codes: 0 done; 1 refused by the station (not allowed in this state or\n"
           "mode, not permitted, unknown id); 2 usage error; 3 cannot connect; 4 protocol\n"
           "error or timeout.\n", CTLSOCK_DEFAULT_PATH);
}

static int usage_error(const struct cli_cmd *c, const char *fmt, const char *arg)
{
    fprintf(stderr, "swapctl: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    if (c) {
        usage_line(stderr, c);
        fprintf(stderr, "Try 'swapctl %s --help'.\n", c->name);
    } else {
        fprintf(stderr, "Try 'swapctl --help'.\n");
    }
    return CTLPROTO_EXIT_USAGE;
}

static bool parse_long(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- human output ------------------------------------------------------------------ */

static void print_status(const json_t *r)
{
    char bar[32], eta[32], pct[16];
    const json_t *step = json_object_get(r, "step");
    printf("State    %s (%s mode)\n", swapctl_str(r, "state"), swapctl_str(r, "mode"));
    if (json_is_string(step)) {
        printf("Step     %lld/%lld %s  [%s] %s  ETA %s\n",
               (long long)json_integer_value(json_object_get(r, "step_index")),
               (long long)json_integer_value(json_object_get(r, "step_count")),
               json_string_value(step),
               swapctl_bar(bar, sizeof bar, json_object_get(r, "progress_pct"), 20),
               swapctl_num(pct, sizeof pct, json_object_get(r, "progress_pct"), "%.0f", "%"),
               swapctl_num(eta, sizeof eta, json_object_get(r, "eta_s"), "%.1f", " s"));
    } else {
        printf("Step     -\n");
    }
    const json_t *swap = json_object_get(r, "swap_id"), *drone = json_object_get(r, "drone");
    if (json_is_integer(swap))
        printf("Swap     %lld%s", (long long)json_integer_value(swap), json_is_integer(drone) ? "" : "\n");
    if (json_is_integer(drone))
        printf("%sdrone %lld\n", json_is_integer(swap) ? ", " : "Swap     ",
               (long long)json_integer_value(drone));
    printf("Alarms   %lld active\n", (long long)json_integer_value(json_object_get(r, "alarms_active")));
}

static void print_slots(const json_t *r)
{
    static const char *const h[] = { "SLOT", "BATTERY", "SOC", "", "SOH", "TEMP", "CHARGER" };
    struct swapctl_table t;
    swapctl_table_init(&t, 7, h, "rlrlrrl");
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(r, "slots"), i, s) {
        char slot[16], soc[16], soh[16], temp[16], bar[16];
        snprintf(slot, sizeof slot, "%lld", (long long)json_integer_value(json_object_get(s, "slot")));
        const char *cells[] = { slot, swapctl_str(s, "battery"),
            swapctl_num(soc, sizeof soc, json_object_get(s, "soc_pct"), "%.0f", "%"),
            swapctl_bar(bar, sizeof bar, json_object_get(s, "soc_pct"), 10),
            swapctl_num(soh, sizeof soh, json_object_get(s, "soh_pct"), "%.0f", "%"),
            swapctl_num(temp, sizeof temp, json_object_get(s, "temp_degC"), "%.1f", " C"),
            swapctl_str(s, "charge") };
        swapctl_table_row(&t, cells);
    }
    swapctl_table_print(&t, stdout);
}

static void print_batteries(const json_t *r)
{
    static const char *const h[] = { "BATTERY", "STATUS", "LOCATION", "SOC", "SOH", "DCIR",
                                     "EFC", "CHARGES", "REASON" };
    struct swapctl_table t;
    swapctl_table_init(&t, 9, h, "lllrrrrrl");
    size_t i;
    const json_t *b;
    json_array_foreach(json_object_get(r, "batteries"), i, b) {
        char soc[16], soh[16], dcir[24], efc[16], charges[16];
        snprintf(charges, sizeof charges, "%lld", (long long)json_integer_value(json_object_get(b, "charges")));
        const char *cells[] = { swapctl_str(b, "battery"), swapctl_str(b, "status"),
            swapctl_str(b, "location"),
            swapctl_num(soc, sizeof soc, json_object_get(b, "soc_pct"), "%.0f", "%"),
            swapctl_num(soh, sizeof soh, json_object_get(b, "soh_pct"), "%.1f", "%"),
            swapctl_num(dcir, sizeof dcir, json_object_get(b, "dcir_mohm"), "%.1f", " mOhm"),
            swapctl_num(efc, sizeof efc, json_object_get(b, "efc"), "%.1f", NULL), charges,
            json_is_string(json_object_get(b, "reason")) ? swapctl_str(b, "reason") : "" };
        swapctl_table_row(&t, cells);
    }
    swapctl_table_print(&t, stdout);
}

static void print_drones(const json_t *r)
{
    static const char *const h[] = { "SYSID", "STATE", "ARMED", "BATTERY", "CHARGE", "QUEUE" };
    struct swapctl_table t;
    swapctl_table_init(&t, 6, h, "rlllrr");
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(r, "drones"), i, d) {
        char sysid[16], pct[16], q[16];
        snprintf(sysid, sizeof sysid, "%lld", (long long)json_integer_value(json_object_get(d, "sysid")));
        swapctl_num(q, sizeof q, json_object_get(d, "queue_pos"), "%.0f", NULL);
        const char *cells[] = { sysid, swapctl_str(d, "state"),
            json_is_true(json_object_get(d, "armed")) ? "yes" : "no", swapctl_str(d, "battery"),
            swapctl_num(pct, sizeof pct, json_object_get(d, "battery_pct"), "%.0f", "%"), q };
        swapctl_table_row(&t, cells);
    }
    swapctl_table_print(&t, stdout);
    printf("Landing queue:");
    const json_t *q;
    size_t n = json_array_size(json_object_get(r, "queue"));
    json_array_foreach(json_object_get(r, "queue"), i, q)
        printf(" %lld", (long long)json_integer_value(q));
    printf("%s\n", n ? "" : " empty");
}

static void print_alarms(const json_t *r)
{
    static const char *const h[] = { "ID", "SEVERITY", "CODE", "RAISED", "ACKED", "TEXT" };
    struct swapctl_table t;
    swapctl_table_init(&t, 6, h, "rlllll");
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(r, "alarms"), i, a) {
        char id[16], when[32];
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(a, "id")));
        const char *cells[] = { id, swapctl_str(a, "severity"), swapctl_str(a, "code"),
            swapctl_time(when, sizeof when, json_integer_value(json_object_get(a, "raised_ms")), true),
            json_is_true(json_object_get(a, "acked")) ? "yes" : "no", swapctl_str(a, "text") };
        swapctl_table_row(&t, cells);
    }
    if (t.n_rows)
        swapctl_table_print(&t, stdout);
    else
        printf("No active alarms.\n");
}

static void print_event_line(const json_t *e)
{
    char when[32];
    printf("%s  %-8s %s\n",
           swapctl_time(when, sizeof when, json_integer_value(json_object_get(e, "time_ms")), true),
           swapctl_str(e, "type"), swapctl_str(e, "text"));
}

static void print_events(const json_t *r)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(r, "events"), i, e)
        print_event_line(e);
}

static void print_command(const json_t *r)
{
    printf("%s\n", swapctl_str(r, "message"));
}

/* ---- running a request -------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

/* swapctl check-db: the full check swapd leaves out of its start-up. */
static int swapctl_check_db(const char *path, bool as_json)
{
    struct registry_error err;
    struct registry *reg = registry_open(path, REGISTRY_OPEN_READONLY, &err);
    if (!reg) {
        fprintf(stderr, "swapctl: check-db: %s\n", err.msg);
        return 1;
    }
    struct registry_storage_info info = { 0 };
    registry_storage(reg, &info);
    int counts[REGISTRY_STATUS_COUNT] = { 0 };
    int packs = registry_count_batteries(reg, counts);
    int rc = registry_check_integrity(reg);
    if (as_json)
        printf("{\"ok\":%s,\"path\":\"%s\",\"bytes\":%lld,\"free_bytes\":%lld,\"packs\":%d,\"retired\":%d%s%s%s}\n",
               rc == 0 ? "true" : "false", path, (long long)info.bytes, (long long)info.free_bytes, packs,
               counts[REGISTRY_RETIRED], rc ? ",\"problem\":\"" : "", rc ? registry_last_error(reg) : "",
               rc ? "\"" : "");
    else if (rc == 0)
        printf("%s: ok (schema %d, %.1f MB of which %.1f MB free, %d packs known, %d retired)\n", path,
               registry_schema_version(reg), info.bytes / 1e6, info.free_bytes / 1e6, packs,
               counts[REGISTRY_RETIRED]);
    else
        fprintf(stderr, "swapctl: check-db: %s: %s\n", path, registry_last_error(reg));
    registry_close(reg);
    return rc == 0 ? 0 : 1;
}

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int follow_events(struct swapctl_conn *conn, bool as_json)
{
    char err[512];
    struct sigaction sa = { .sa_handler = on_sigint };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (;;) {
        json_t *msg = swapctl_recv(conn, -1, NULL, err, sizeof err);
        if (!msg) {
            if (interrupted)
                return CTLPROTO_EXIT_OK;
            fprintf(stderr, "swapctl: %s\n", err);
            return CTLPROTO_EXIT_PROTOCOL;
        }
        const json_t *e = json_object_get(msg, "event");
        if (as_json) {
            char *text = json_dumps(msg, JSON_COMPACT);
            if (text)
                printf("%s\n", text);
            free(text);
        } else if (e) {
            print_event_line(e);
        }
        fflush(stdout);
        json_decref(msg);
    }
}

static int run(const char *socket_path, int timeout_ms, bool as_json, const struct cli_cmd *c,
               json_t *req)
{
    char err[512];
    struct swapctl_conn conn;
    if (swapctl_connect(&conn, socket_path, err, sizeof err) < 0) {
        fprintf(stderr, "swapctl: %s\n", err);
        return CTLPROTO_EXIT_CONNECT;
    }
    json_t *reply;
again:
    reply = swapctl_call(&conn, req, timeout_ms, NULL, NULL, err, sizeof err);
    if (!reply) {
        swapctl_disconnect(&conn);
        fprintf(stderr, "swapctl: %s\n", err);
        return CTLPROTO_EXIT_PROTOCOL;
    }
    int rc = CTLPROTO_EXIT_OK;
    char problem[300];
    if (ctlproto_check_reply(c->name, reply, problem, sizeof problem) < 0) {
        fprintf(stderr, "swapctl: swapd sent a reply this swapctl does not understand (%s); "
                "use matching versions of swapctl and swapd\n", problem);
        rc = CTLPROTO_EXIT_PROTOCOL;
    } else if (json_is_false(json_object_get(reply, "ok"))) {
        const json_t *e = json_object_get(reply, "error");
        const char *code = swapctl_str(e, "code");
        rc = ctlproto_exit_code(code);
        fprintf(stderr, "swapctl: %s: %s\n", c->name, swapctl_str(e, "message"));
    }
    if (as_json) {
        char *text = json_dumps(reply, JSON_COMPACT);
        if (text)
            printf("%s\n", text);
        free(text);
    } else if (rc == CTLPROTO_EXIT_OK) {
        c->print(json_object_get(reply, "result"));
    }
    fflush(stdout);
    const json_t *result = json_object_get(reply, "result");
    bool follow = rc == CTLPROTO_EXIT_OK && json_is_true(json_object_get(result, "following"));
    /* A long history comes in pages: ask for the next one after the last event shown. */
    const json_t *events = json_object_get(result, "events");
    size_t n_events = json_array_size(events);
    if (rc == CTLPROTO_EXIT_OK && json_is_true(json_object_get(result, "more")) && n_events > 0 && !interrupted) {
        json_int_t last = json_integer_value(json_object_get(json_array_get(events, n_events - 1), "seq"));
        json_object_set_new(req, "after_seq", json_integer(last));
        json_decref(reply);
        goto again;
    }
    json_decref(reply);
    if (follow)
        rc = follow_events(&conn, as_json);
    swapctl_disconnect(&conn);
    return rc;
}

/* Builds the request from the command's words; returns an exit code on error. */
static int build_request(const struct cli_cmd *c, int argc, char **argv, json_t *req)
{
    int n_pos = 0;
    bool have_limit = false, have_since = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const struct cli_opt *o = NULL;
            const char *eq = strchr(a, '=');
            size_t flen = eq ? (size_t)(eq - a) : strlen(a);
            for (int k = 0; k < 3 && c->opts[k].flag; k++)
                if (strlen(c->opts[k].flag) == flen && !strncmp(c->opts[k].flag, a, flen))
                    o = &c->opts[k];
            if (!o)
                return usage_error(c, "unknown option %s", a);
            if (o->kind == 'b') {
                if (eq)
                    return usage_error(c, "%s takes no value", o->flag);
                json_object_set_new(req, o->key, json_true());
                continue;
            }
            const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val)
                return usage_error(c, "%s needs a value", o->flag);
            long long v;
            if (o->kind == 's') {
                json_object_set_new(req, o->key, json_string(val));
            } else if (o->kind == 'i') {
                if (!parse_long(val, 0, INT_MAX, &v))
                    return usage_error(c, "--limit wants a whole number >= 0, not \"%s\"", val);
                json_object_set_new(req, o->key, json_integer(v));
                have_limit = true;
            } else {
                if (swapctl_parse_since(val, wall_ms(), &v) < 0)
                    return usage_error(c, "cannot read the time \"%s\"; use e.g. 10m, 13:05, "
                                          "2026-11-26T13:05 or ms since the epoch", val);
                json_object_set_new(req, o->key, json_integer(v));
                have_since = true;
            }
            continue;
        }
        if (n_pos >= c->max_pos)
            return usage_error(c, "unexpected argument \"%s\"", a);
        long long v;
        char kind = c->pos_kind[n_pos];
        if (kind == 'i') {
            if (!parse_long(a, 0, INT_MAX, &v)) {
                char msg[160];
                snprintf(msg, sizeof msg, "%s must be a whole number such as 3 (see swapctl "
                         "alarms), not \"%.40s\"", c->pos_meta[n_pos], a);
                return usage_error(c, "%s", msg);
            }
            json_object_set_new(req, c->pos_key[n_pos], json_integer(v));
        } else if (kind == 'v') {
            char *end;
            double d = strtod(a, &end);
            json_object_set_new(req, c->pos_key[n_pos], *a && !*end ? json_real(d) : json_string(a));
        } else {
            json_object_set_new(req, c->pos_key[n_pos], json_string(a));
        }
        n_pos++;
    }
    if (n_pos < c->min_pos)
        return usage_error(c, "missing %s", c->pos_meta[n_pos]);
    if (!strcmp(c->name, "events") && !have_limit && !have_since)
        json_object_set_new(req, "limit", json_integer(DEFAULT_EVENTS));
    /* The schema decides the rest (required options, allowed values). */
    const struct ctlproto_cmd *pc;
    json_t *error_reply = NULL;
    if (ctlproto_validate_request(req, &pc, &error_reply) < 0) {
        const char *msg = swapctl_str(json_object_get(error_reply, "error"), "message");
        int rc = usage_error(c, "%s", msg);
        json_decref(error_reply);
        return rc;
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *socket_path = getenv("SWAPD_SOCKET");
    bool as_json = false, want_help = false;
    int timeout_ms = DEFAULT_TIMEOUT_MS;
    const char *cmd_name = NULL;
    /* The command's own words, compacted in place (never ahead of the scan). */
    char **rest = argv + 1;
    int n_rest = 0;
    if (!socket_path || !*socket_path)
        socket_path = CTLSOCK_DEFAULT_PATH;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            as_json = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            want_help = true;
        } else if (!strcmp(a, "--socket") || !strncmp(a, "--socket=", 9)) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || !*v)
                return usage_error(NULL, "--socket needs a path%s", "");
            socket_path = v;
        } else if (!strcmp(a, "--timeout") || !strncmp(a, "--timeout=", 10)) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            char *end;
            double s = v ? strtod(v, &end) : -1;
            if (!v || !*v || *end || !(s > 0 && s <= 3600))
                return usage_error(NULL, "--timeout wants seconds, 0 < SEC <= 3600, not \"%s\"",
                                   v ? v : "");
            timeout_ms = (int)(s * 1000);
        } else if (!cmd_name && a[0] != '-') {
            cmd_name = a;
        } else if (!cmd_name) {
            return usage_error(NULL, "unknown option %s", a);
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    int rc;
    if (!cmd_name) {
        if (want_help) {
            help_main();
            return CTLPROTO_EXIT_OK;
        }
        return usage_error(NULL, "no command given%s", "");
    }
    if (!strcmp(cmd_name, "help")) {
        const char *topic = n_rest ? rest[0] : NULL;
        rc = CTLPROTO_EXIT_OK;
        if (!topic)
            help_main();
        else if (!strcmp(topic, "top"))
            help_top();
        else if (cli_find(topic))
            help_command(cli_find(topic));
        else
            rc = usage_error(NULL, "no command \"%s\"", topic);
        return rc;
    }
    if (!strcmp(cmd_name, "top")) {
        struct swapctl_top_opts o = { socket_path, 1000, false, 0, timeout_ms };
        if (want_help) {
            help_top();
                return CTLPROTO_EXIT_OK;
        }
        for (int i = 0; i < n_rest; i++) {
            long long v;
            if (!strcmp(rest[i], "--plain")) {
                o.plain = true;
            } else if (!strcmp(rest[i], "--interval") && i + 1 < n_rest) {
                char *end;
                double s = strtod(rest[++i], &end);
                if (*end || !(s >= 0.1 && s <= 60)) {
                                return usage_error(NULL, "--interval wants seconds, 0.1..60, not \"%s\"", rest[i]);
                }
                o.interval_ms = (int)(s * 1000);
            } else if (!strcmp(rest[i], "--count") && i + 1 < n_rest &&
                       parse_long(rest[i + 1], 1, INT_MAX, &v)) {
                o.count = (int)v;
                i++;
            } else {
                rc = usage_error(NULL, "top: unexpected \"%s\"; see swapctl top --help", rest[i]);
                        return rc;
            }
        }
        return swapctl_top(&o);
    }
    if (!strcmp(cmd_name, "check-db")) {
        if (want_help || n_rest > 1) {
            printf("usage: swapctl check-db [DATABASE]\n"
                   "  Runs SQLite's full integrity check on the battery registry (default %s)\n"
                   "  read-only, next to a running swapd; run it as swapd's user. It reads the\n"
                   "  whole file, so it takes a while on a large registry: swapd itself only\n"
                   "  checks the header and schema when it starts. Exit 0 sound, 1 damaged.\n",
                   SWAPCTL_DEFAULT_DB);
            return want_help ? CTLPROTO_EXIT_OK : CTLPROTO_EXIT_USAGE;
        }
        return swapctl_check_db(n_rest ? rest[0] : SWAPCTL_DEFAULT_DB, as_json);
    }
    const struct cli_cmd *c = cli_find(cmd_name);
    if (!c) {
        return usage_error(NULL, "unknown command \"%s\"", cmd_name);
    }
    if (want_help) {
        help_command(c);
        return CTLPROTO_EXIT_OK;
    }
    json_t *req = json_pack("{s:i, s:s}", "v", CTLPROTO_VERSION, "cmd", c->name);
    rc = build_request(c, n_rest, rest, req);
    if (rc < 0)
        rc = run(socket_path, timeout_ms, as_json, c, req);
    json_decref(req);
    return rc;
}
