/* `swapctl top`: the live station view, full-screen (ncurses) or plain text. */
#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "swapctl/swapctl.h"

#define EVENTS_KEEP 64
#define EVENT_TEXT 160

struct top {
    const struct swapctl_top_opts *o;
    struct swapctl_conn req, ev;
    bool connected;
    json_t *status, *slots, *drones, *alarms;   /* last results */
    char events[EVENTS_KEEP][EVENT_TEXT];
    int n_events;                               /* total seen; ring index = n % KEEP */
    int selected;                               /* alarm index */
    bool confirm_abort;
    char message[256];
    long long next_refresh_ms;
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_message(struct top *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_message(struct top *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->message, sizeof t->message, fmt, ap);
    va_end(ap);
}

static void add_event(struct top *t, const json_t *e)
{
    char when[16];
    snprintf(t->events[t->n_events % EVENTS_KEEP], EVENT_TEXT, "%s %-7s %s",
             swapctl_time(when, sizeof when, json_integer_value(json_object_get(e, "time_ms")), false),
             swapctl_str(e, "type"), swapctl_str(e, "text"));
    t->n_events++;
}

static void disconnect_all(struct top *t)
{
    if (t->connected) {
        swapctl_disconnect(&t->req);
        swapctl_disconnect(&t->ev);
    }
    t->connected = false;
}

static bool connect_all(struct top *t)
{
    char err[512];
    if (swapctl_connect(&t->req, t->o->socket_path, err, sizeof err) < 0) {
        set_message(t, "%s", err);
        return false;
    }
    if (swapctl_connect(&t->ev, t->o->socket_path, err, sizeof err) < 0) {
        swapctl_disconnect(&t->req);
        set_message(t, "%s", err);
        return false;
    }
    t->connected = true;
    json_t *req = json_pack("{s:i, s:s, s:b, s:i}", "v", CTLPROTO_VERSION, "cmd", "events",
                            "follow", 1, "limit", 12);
    json_t *reply = swapctl_call(&t->ev, req, t->o->timeout_ms, NULL, NULL, err, sizeof err);
    json_decref(req);
    if (!json_is_true(json_object_get(reply, "ok"))) {
        set_message(t, "events: %s", reply ? swapctl_str(json_object_get(reply, "error"), "message") : err);
        json_decref(reply);
        disconnect_all(t);
        return false;
    }
    t->n_events = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(json_object_get(reply, "result"), "events"), i, e)
        add_event(t, e);
    json_decref(reply);
    return true;
}

/* Fetches one read into *slot; false if the connection failed. */
static bool fetch(struct top *t, const char *cmd, json_t **slot)
{
    char err[512];
    json_t *req = json_pack("{s:i, s:s}", "v", CTLPROTO_VERSION, "cmd", cmd);
    json_t *reply = swapctl_call(&t->req, req, t->o->timeout_ms, NULL, NULL, err, sizeof err);
    json_decref(req);
    if (!reply) {
        set_message(t, "%s", err);
        return false;
    }
    char problem[256];
    if (ctlproto_check_reply(cmd, reply, problem, sizeof problem) < 0 ||
        !json_is_true(json_object_get(reply, "ok"))) {
        const json_t *e = json_object_get(reply, "error");
        set_message(t, "%s: %s", cmd, e ? swapctl_str(e, "message") : problem);
        json_decref(reply);
        return true;
    }
    json_decref(*slot);
    *slot = json_incref(json_object_get(reply, "result"));
    json_decref(reply);
    return true;
}

static void refresh_data(struct top *t)
{
    if (!t->connected && !connect_all(t))
        return;
    if (!fetch(t, "status", &t->status) || !fetch(t, "slots", &t->slots) ||
        !fetch(t, "drones", &t->drones) || !fetch(t, "alarms", &t->alarms)) {
        disconnect_all(t);
        return;
    }
    int n = (int)json_array_size(json_object_get(t->alarms, "alarms"));
    if (t->selected >= n)
        t->selected = n ? n - 1 : 0;
}

static void drain_events(struct top *t)
{
    char err[512];
    while (t->connected) {
        bool timed_out;
        json_t *msg = swapctl_recv(&t->ev, 0, &timed_out, err, sizeof err);
        if (!msg) {
            if (!timed_out) {
                set_message(t, "%s; reconnecting", err);
                disconnect_all(t);
            }
            return;
        }
        const json_t *e = json_object_get(msg, "event");
        if (e) {
            add_event(t, e);
            /* a state or step change: show it now rather than at the next refresh */
            t->next_refresh_ms = 0;
        }
        json_decref(msg);
    }
}

static void send_command(struct top *t, const char *cmd, long long alarm)
{
    char err[512];
    if (!t->connected) {
        set_message(t, "%s: not connected to swapd", cmd);
        return;
    }
    json_t *req = json_pack("{s:i, s:s}", "v", CTLPROTO_VERSION, "cmd", cmd);
    if (alarm >= 0)
        json_object_set_new(req, "alarm", json_integer(alarm));
    json_t *reply = swapctl_call(&t->req, req, t->o->timeout_ms, NULL, NULL, err, sizeof err);
    json_decref(req);
    if (!reply) {
        set_message(t, "%s: %s", cmd, err);
        disconnect_all(t);
        return;
    }
    if (json_is_true(json_object_get(reply, "ok")))
        set_message(t, "%s: %s", cmd, swapctl_str(json_object_get(reply, "result"), "message"));
    else
        set_message(t, "%s refused: %s", cmd, swapctl_str(json_object_get(reply, "error"), "message"));
    json_decref(reply);
    t->next_refresh_ms = 0;
}

/* The selected alarm, else the oldest not acknowledged, else the oldest; -1 if none. */
static long long alarm_to_ack(const struct top *t)
{
    const json_t *list = json_object_get(t->alarms, "alarms");
    size_t n = json_array_size(list);
    if (!n)
        return -1;
    const json_t *sel = json_array_get(list, (size_t)t->selected);
    if (sel)
        return json_integer_value(json_object_get(sel, "id"));
    return json_integer_value(json_object_get(json_array_get(list, 0), "id"));
}

/* ---- full-screen view -------------------------------------------------------------- */

enum { C_OK = 1, C_WARN, C_BAD, C_DIM };

static void put(int y, int x, int w, int attr, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void put(int y, int x, int w, int attr, const char *fmt, ...)
{
    char buf[512];
    if (y < 0 || y >= LINES || x >= COLS || w <= 0)
        return;
    if (x + w > COLS)
        w = COLS - x;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (attr)
        attron(attr);
    mvaddnstr(y, x, buf, w);
    if (attr)
        attroff(attr);
}

static int state_attr(const char *state)
{
    if (!has_colors())
        return A_BOLD;
    if (!strcmp(state, "Execute") || !strcmp(state, "Idle") || !strcmp(state, "Complete"))
        return A_BOLD | COLOR_PAIR(C_OK);
    if (!strcmp(state, "Aborted") || !strcmp(state, "Aborting") || !strcmp(state, "Stopped"))
        return A_BOLD | COLOR_PAIR(C_BAD);
    return A_BOLD | COLOR_PAIR(C_WARN);
}

/* An id in at most w characters: long ones keep their distinguishing end ("~A000001"). */
static const char *fit_id(char *buf, const char *id, int w)
{
    size_t len = strlen(id);
    if ((int)len <= w)
        snprintf(buf, (size_t)w + 1, "%s", id);
    else
        snprintf(buf, (size_t)w + 1, "~%s", id + len - (size_t)(w - 1));
    return buf;
}

/* Below this the view cannot show state, alarms and keys legibly: it says so instead. */
#define TOP_MIN_COLS 40
#define TOP_MIN_LINES 10

/* Key help, longest first: the first that fits is shown whole, never cut. */
static const char *const key_help[] = {
    " h hold  u unhold  a abort  r reset  k ack  up/down select  q quit ",
    " h hold u unhold a abort r reset k ack q quit ",
    " h hold u unhold a abort k ack q quit ",
};

/* Row 0: who, state, mode, the swap; the clock only where it overlaps nothing. */
static void draw_header(const json_t *st, const char *state)
{
    char a[64], b[64], clock[16];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    put(0, 0, 6, A_BOLD, "swapd");
    int x = 7;
    put(0, x, COLS - x, state_attr(state), "%s", state);
    x += (int)strlen(state) + 2;
    snprintf(a, sizeof a, "mode %s", st ? swapctl_str(st, "mode") : "?");
    put(0, x, COLS - x, 0, "%s", a);
    x += (int)strlen(a) + 2;
    if (json_is_integer(json_object_get(st, "swap_id")) || json_is_integer(json_object_get(st, "drone"))) {
        if (json_is_integer(json_object_get(st, "swap_id")))
            snprintf(a, sizeof a, "swap %lld  drone %s", (long long)json_integer_value(json_object_get(st, "swap_id")),
                     swapctl_num(b, sizeof b, json_object_get(st, "drone"), "%.0f", NULL));
        else
            snprintf(a, sizeof a, "drone %s cleared to land",
                     swapctl_num(b, sizeof b, json_object_get(st, "drone"), "%.0f", NULL));
        put(0, x, COLS - x, 0, "%s", a);
        x += (int)strlen(a) + 2;
    }
    if (x <= COLS - 8)
        put(0, COLS - 8, 8, 0, "%s", clock);
}

/* Row 1: the step with progress and ETA. */
static void draw_step(const json_t *st)
{
    char b[64], c[64], bar[128];
    const json_t *step = json_object_get(st, "step");
    if (!json_is_string(step)) {
        put(1, 0, COLS, 0, "Step -   (no swap running)");
        return;
    }
    char head[64];
    snprintf(head, sizeof head, "Step %lld/%lld %s", (long long)json_integer_value(json_object_get(st, "step_index")),
             (long long)json_integer_value(json_object_get(st, "step_count")), json_string_value(step));
    char tail[48];
    snprintf(tail, sizeof tail, "%s  ETA %s", swapctl_num(b, sizeof b, json_object_get(st, "progress_pct"), "%3.0f", "%"),
             swapctl_num(c, sizeof c, json_object_get(st, "eta_s"), "%.0f", " s"));
    int hw = (int)strlen(head) + 1, tw = (int)strlen(tail);
    int barw = COLS - hw - tw - 3;
    barw = barw > 60 ? 60 : barw;
    put(1, 0, hw, 0, "%s", head);
    if (barw >= 5) {
        put(1, hw, barw + 2, 0, "[%s]", swapctl_bar(bar, sizeof bar, json_object_get(st, "progress_pct"), barw));
        put(1, hw + barw + 3, tw, 0, "%s", tail);
    } else {
        put(1, hw, COLS - hw, 0, "%s", tail);
    }
}

/* The width battery ids get: as wide as the longest of the first n (7..12). */
static int id_width(const json_t *slots, int n)
{
    int bw = 7;
    for (int i = 0; i < n; i++) {
        int len = (int)strlen(swapctl_str(json_array_get(slots, (size_t)i), "battery"));
        bw = len > bw ? (len > 12 ? 12 : len) : bw;
    }
    return bw;
}

/* Up to max_rows alarm rows from y (header included); returns the next row. */
static int draw_alarms(struct top *t, int y, int x, int w, int max_rows)
{
    const json_t *alarms = json_object_get(t->alarms, "alarms");
    size_t n = json_array_size(alarms);
    if (max_rows < 1)
        return y;
    put(y++, x, w, A_BOLD, n ? "Alarms (%zu)" : "Alarms: none", n);
    size_t i;
    const json_t *al;
    json_array_foreach(alarms, i, al) {
        if (max_rows <= 1 + (int)i)
            break;
        if ((int)i + 2 == max_rows && i + 1 < n) {
            put(y++, x, w, 0, "  ... %zu more (swapctl alarms)", n - i);
            break;
        }
        bool sel = (int)i == t->selected;
        bool acked = json_is_true(json_object_get(al, "acked"));
        int attr = (sel ? A_REVERSE : 0) | (acked ? 0 : (has_colors() ? COLOR_PAIR(C_BAD) : A_BOLD));
        put(y++, x, w, attr, "%s%lld %s%s", sel ? ">" : " ", (long long)json_integer_value(json_object_get(al, "id")),
            swapctl_str(al, "code"), acked ? " (acked)" : "");
    }
    return y;
}

/* "Queue: 2 5" or "Queue: empty". */
static void queue_text(const struct top *t, char *q, size_t size)
{
    size_t used = (size_t)snprintf(q, size, "Queue:");
    size_t i;
    const json_t *qe;
    json_array_foreach(json_object_get(t->drones, "queue"), i, qe) {
        int n = snprintf(q + used, size - used, " %lld", (long long)json_integer_value(qe));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (!json_array_size(json_object_get(t->drones, "queue")))
        snprintf(q + used, size - used, " empty");
}

/* Up to max_rows drone rows from y (header included); returns the next row. */
static int draw_drones(struct top *t, int y, int x, int w, int max_rows, bool queue_in_header)
{
    char a[64], q[96], id[16];
    if (max_rows < 1)
        return y;
    queue_text(t, q, sizeof q);
    if (queue_in_header)
        put(y++, x, w, A_BOLD, "Drones  %s", q);
    else
        put(y++, x, w, A_BOLD, "Drones");
    int rows = 1;
    size_t i;
    const json_t *d, *list = json_object_get(t->drones, "drones");
    json_array_foreach(list, i, d) {
        if (rows >= max_rows - (queue_in_header ? 0 : 1))
            break;
        /* the id gives way (keeping its distinguishing end) before ARMED does */
        int idw = w - 23 < 6 ? 6 : w - 23 > 12 ? 12 : w - 23;
        put(y++, x, w, 0, "%3lld %-7.7s %-*s %4s%s", (long long)json_integer_value(json_object_get(d, "sysid")),
            swapctl_str(d, "state"), idw, fit_id(id, swapctl_str(d, "battery"), idw),
            swapctl_num(a, sizeof a, json_object_get(d, "battery_pct"), "%.0f", "%"),
            json_is_true(json_object_get(d, "armed")) ? " ARMED" : "");
        rows++;
    }
    if (!queue_in_header && rows < max_rows)
        put(y++, x, w, 0, "%s", q);
    return y;
}

/* Magazine rows from y: header, then as many slots as max_rows allows (the last row
 * says how many are left out). compact: slot, battery, SoC, charger only. */
static int draw_magazine(struct top *t, int y, int max_rows, bool compact, int *width)
{
    char a[64], b[64], c[64], bar[128], id[16];
    const json_t *slots = json_object_get(t->slots, "slots");
    int n_slots = (int)json_array_size(slots);
    int shown = n_slots <= max_rows - 2 ? n_slots : max_rows - 3;
    if (shown < 0)
        shown = 0;
    int bw = id_width(slots, n_slots);
    int lw = compact ? 20 + bw : 36 + bw;
    *width = lw;
    if (max_rows < 3)
        return y;
    put(y++, 0, lw, A_BOLD, "Magazine");
    if (compact)
        put(y++, 0, lw, A_UNDERLINE, "%4s %-*s %4s %-7s", "Slot", bw, "Battery", "SoC", "Charger");
    else
        put(y++, 0, lw, A_UNDERLINE, "%4s %-*s %4s %-6s %4s %5s %-7s", "Slot", bw, "Battery", "SoC", "", "SoH",
            "Temp", "Charger");
    for (int i = 0; i < shown; i++) {
        const json_t *s = json_array_get(slots, (size_t)i);
        const char *charge = swapctl_str(s, "charge");
        int attr = !strcmp(charge, "fault") ? (has_colors() ? COLOR_PAIR(C_BAD) : A_BOLD) : 0;
        long long slot = (long long)json_integer_value(json_object_get(s, "slot"));
        fit_id(id, swapctl_str(s, "battery"), bw);
        swapctl_num(a, sizeof a, json_object_get(s, "soc_pct"), "%.0f", "%");
        if (compact)
            put(y++, 0, lw, attr, "%4lld %-*s %4s %-7.7s", slot, bw, id, a, charge);
        else
            put(y++, 0, lw, attr, "%4lld %-*s %4s %-6s %4s %5s %-7.7s", slot, bw, id, a,
                swapctl_bar(bar, sizeof bar, json_object_get(s, "soc_pct"), 6),
                swapctl_num(b, sizeof b, json_object_get(s, "soh_pct"), "%.0f", "%"),
                swapctl_num(c, sizeof c, json_object_get(s, "temp_degC"), "%.1f", "C"), charge);
    }
    if (shown < n_slots)
        put(y++, 0, COLS, 0, "  ... %d more slots (swapctl slots)", n_slots - shown);
    return y;
}

/* The last events from y to the row before `end`, newest at the bottom. */
static void draw_events(struct top *t, int y, int end)
{
    if (y >= end)
        return;
    put(y++, 0, COLS, A_BOLD, "Events");
    int rows = end - y;
    int first = t->n_events - rows;
    if (first < 0)
        first = 0;
    if (first < t->n_events - EVENTS_KEEP)
        first = t->n_events - EVENTS_KEEP;
    for (int i = first; i < t->n_events && y < end; i++, y++)
        put(y, 0, COLS, 0, "%s", t->events[i % EVENTS_KEEP]);
}

static void draw(struct top *t)
{
    erase();
    if (COLS < TOP_MIN_COLS || LINES < TOP_MIN_LINES) {
        /* Too small for the view: say what is needed, and what the state is. */
        const char *state = t->status ? swapctl_str(t->status, "state") : "?";
        put(0, 0, COLS, A_BOLD, "swapctl top needs %dx%d;", TOP_MIN_COLS, TOP_MIN_LINES);
        put(1, 0, COLS, 0, "this terminal is %dx%d.", COLS, LINES);
        put(2, 0, COLS, state_attr(state), "%s", state);
        put(3, 0, COLS, 0, "q quits");
        refresh();
        return;
    }
    const json_t *st = t->status;
    draw_header(st, st ? swapctl_str(st, "state") : "?");
    draw_step(st);

    int bottom = LINES - 2; /* message row; keys below it */
    const json_t *slots = json_object_get(t->slots, "slots");
    int lw_full = 36 + id_width(slots, (int)json_array_size(slots));
    if (COLS >= lw_full + 1 + 26) {
        /* Wide: magazine left; drones, queue and alarms right; events below. The
         * magazine leaves room for at least two event rows. */
        int lw, max_rows = LINES - 8;
        int mag_end = draw_magazine(t, 2, max_rows, false, &lw);
        int n_al = (int)json_array_size(json_object_get(t->alarms, "alarms"));
        int n_dr = (int)json_array_size(json_object_get(t->drones, "drones"));
        int al_rows = 1 + (n_al < 3 ? n_al : 3), dr_rows = 2 + n_dr;
        int right = dr_rows + 1 + al_rows;
        if (right > max_rows)
            right = max_rows;
        int used = mag_end - 2 > right ? mag_end - 2 : right;
        int events_top = 2 + used + 1;
        /* alarms keep their rows; the drone list gives way first */
        int dr_max = right - 1 - al_rows;
        int rx = lw + 1, rw = COLS - rx;
        int ry = draw_drones(t, 2, rx, rw, dr_max < 2 ? 2 : dr_max, false);
        draw_alarms(t, ry + 1, rx, rw, 2 + right - (ry + 1));
        draw_events(t, events_top, bottom);
    } else {
        /* Narrow: one column, in order of what an operator must not miss: alarms,
         * drones and the queue, the magazine, then events with what is left. */
        int avail = bottom - 2;
        int n_al = (int)json_array_size(json_object_get(t->alarms, "alarms"));
        int n_dr = (int)json_array_size(json_object_get(t->drones, "drones"));
        int al_rows = 1 + (n_al < 3 ? n_al : 3);
        int dr_rows = 1 + (n_dr < 3 ? n_dr : 3);
        int y = draw_alarms(t, 2, 0, COLS, al_rows);
        y = draw_drones(t, y, 0, COLS, dr_rows, true);
        /* the magazine before events: events get only what the whole magazine leaves */
        int n_slots = (int)json_array_size(slots);
        int mag_rows = avail - al_rows - dr_rows;
        if (mag_rows > 2 + n_slots)
            mag_rows = 2 + n_slots;
        int lw;
        if (mag_rows >= 3)
            y = draw_magazine(t, y, mag_rows, true, &lw);
        draw_events(t, y, bottom);
    }

    /* message and keys */
    put(LINES - 2, 0, COLS, t->confirm_abort ? A_BOLD | A_REVERSE : 0, "%s", t->message);
    const char *keys = key_help[sizeof key_help / sizeof key_help[0] - 1];
    for (size_t k = 0; k < sizeof key_help / sizeof key_help[0]; k++) {
        if ((int)strlen(key_help[k]) <= COLS) {
            keys = key_help[k];
            break;
        }
    }
    put(LINES - 1, 0, COLS, A_REVERSE, "%s", keys);
    refresh();
}

static void on_key(struct top *t, int ch, bool *quit)
{
    if (t->confirm_abort) {
        t->confirm_abort = false;
        if (ch == 'y' || ch == 'Y')
            send_command(t, "abort", -1);
        else
            set_message(t, "abort cancelled");
        return;
    }
    int n_alarms = (int)json_array_size(json_object_get(t->alarms, "alarms"));
    switch (ch) {
    case 'q':
    case 'Q':
        *quit = true;
        break;
    case 'h':
        send_command(t, "hold", -1);
        break;
    case 'u':
        send_command(t, "unhold", -1);
        break;
    case 'r':
        send_command(t, "reset", -1);
        break;
    case 'a':
        t->confirm_abort = true;
        set_message(t, "Abort the station? All motion stops at once. Press y to abort, any other key to cancel.");
        break;
    case 'k': {
        long long id = alarm_to_ack(t);
        if (id < 0)
            set_message(t, "no alarm to acknowledge");
        else
            send_command(t, "ack", id);
        break;
    }
    case KEY_UP:
        if (t->selected > 0)
            t->selected--;
        break;
    case KEY_DOWN:
        if (t->selected + 1 < n_alarms)
            t->selected++;
        break;
    case KEY_RESIZE:
    default:
        break;
    }
}

static int run_curses(struct top *t)
{
    setlocale(LC_ALL, "");
    if (!initscr()) {
        fprintf(stderr, "swapctl: cannot start the full-screen view (TERM=%s); try --plain\n",
                getenv("TERM") ? getenv("TERM") : "");
        return CTLPROTO_EXIT_USAGE;
    }
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
    if (has_colors()) {
        start_color();
        use_default_colors();
        init_pair(C_OK, COLOR_GREEN, -1);
        init_pair(C_WARN, COLOR_YELLOW, -1);
        init_pair(C_BAD, COLOR_RED, -1);
        init_pair(C_DIM, COLOR_BLUE, -1);
    }
    bool quit = false;
    while (!quit && !stop_requested) {
        long long now = mono_ms();
        if (now >= t->next_refresh_ms) {
            refresh_data(t);
            t->next_refresh_ms = now + t->o->interval_ms;
            draw(t);
        }
        struct pollfd p[2] = { { STDIN_FILENO, POLLIN, 0 }, { t->connected ? t->ev.fd : -1, POLLIN, 0 } };
        long long wait = t->next_refresh_ms - mono_ms();
        if (t->connected && swapctl_buffered(&t->ev))
            wait = 0;
        poll(p, 2, wait < 0 ? 0 : (int)wait);
        if (t->connected && (p[1].revents || swapctl_buffered(&t->ev)))
            drain_events(t);
        int ch;
        bool any = false;
        while ((ch = getch()) != ERR) {
            on_key(t, ch, &quit);
            any = true;
            if (quit)
                break;
        }
        if (any || p[1].revents)
            draw(t);
    }
    endwin();
    return CTLPROTO_EXIT_OK;
}

/* ---- plain view -------------------------------------------------------------------- */

static void print_block(struct top *t)
{
    char a[64], b[64], c[64], bar[64], when[32];
    const json_t *st = t->status;
    printf("== swapd %s  %s (%s mode)", swapctl_time(when, sizeof when, json_integer_value(json_object_get(st, "time_ms")), false),
           swapctl_str(st, "state"), swapctl_str(st, "mode"));
    if (json_is_integer(json_object_get(st, "swap_id")))
        printf("  swap %lld drone %s", (long long)json_integer_value(json_object_get(st, "swap_id")),
               swapctl_num(a, sizeof a, json_object_get(st, "drone"), "%.0f", NULL));
    printf("\n");
    const json_t *step = json_object_get(st, "step");
    if (json_is_string(step))
        printf("Step %lld/%lld %s  [%s] %s  ETA %s\n",
               (long long)json_integer_value(json_object_get(st, "step_index")),
               (long long)json_integer_value(json_object_get(st, "step_count")), json_string_value(step),
               swapctl_bar(bar, sizeof bar, json_object_get(st, "progress_pct"), 20),
               swapctl_num(a, sizeof a, json_object_get(st, "progress_pct"), "%.0f", "%"),
               swapctl_num(b, sizeof b, json_object_get(st, "eta_s"), "%.0f", " s"));
    else
        printf("Step -\n");
    size_t i;
    const json_t *s;
    /* one id width for the whole table, so that the columns line up */
    int bw = 8;
    json_array_foreach(json_object_get(t->slots, "slots"), i, s)
        bw = (int)strlen(swapctl_str(s, "battery")) > bw ? (int)strlen(swapctl_str(s, "battery")) : bw;
    json_array_foreach(json_object_get(t->slots, "slots"), i, s)
        printf("Slot %2lld %-*s %4s [%s] SoH %4s %7s %s\n",
               (long long)json_integer_value(json_object_get(s, "slot")), bw, swapctl_str(s, "battery"),
               swapctl_num(a, sizeof a, json_object_get(s, "soc_pct"), "%.0f", "%"),
               swapctl_bar(bar, sizeof bar, json_object_get(s, "soc_pct"), 8),
               swapctl_num(b, sizeof b, json_object_get(s, "soh_pct"), "%.0f", "%"),
               swapctl_num(c, sizeof c, json_object_get(s, "temp_degC"), "%.1f", " C"),
               swapctl_str(s, "charge"));
    printf("Drones:");
    const json_t *d;
    json_array_foreach(json_object_get(t->drones, "drones"), i, d)
        printf("%s %lld %s %s %s", i ? " |" : "", (long long)json_integer_value(json_object_get(d, "sysid")),
               swapctl_str(d, "state"), swapctl_str(d, "battery"),
               swapctl_num(a, sizeof a, json_object_get(d, "battery_pct"), "%.0f", "%"));
    printf("; queue:");
    const json_t *q;
    json_array_foreach(json_object_get(t->drones, "queue"), i, q)
        printf(" %lld", (long long)json_integer_value(q));
    printf("\nAlarms:");
    const json_t *al;
    size_t n_al = json_array_size(json_object_get(t->alarms, "alarms"));
    json_array_foreach(json_object_get(t->alarms, "alarms"), i, al)
        printf(" #%lld %s %s%s", (long long)json_integer_value(json_object_get(al, "id")),
               swapctl_str(al, "severity"), swapctl_str(al, "code"),
               json_is_true(json_object_get(al, "acked")) ? " (acked)" : "");
    printf("%s\n", n_al ? "" : " none");
    if (t->n_events)
        printf("Last event: %s\n", t->events[(t->n_events - 1) % EVENTS_KEEP]);
    fflush(stdout);
}

static int run_plain(struct top *t)
{
    int printed = 0;
    int rc = CTLPROTO_EXIT_OK;
    while (!stop_requested) {
        refresh_data(t);
        drain_events(t);
        if (t->connected) {
            print_block(t);
            rc = CTLPROTO_EXIT_OK;
        } else {
            printf("== swapd unreachable: %s\n", t->message);
            fflush(stdout);
            rc = CTLPROTO_EXIT_CONNECT;
        }
        if (t->o->count && ++printed >= t->o->count)
            break;
        struct timespec ts = { t->o->interval_ms / 1000, (long)(t->o->interval_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    return rc;
}

int swapctl_top(const struct swapctl_top_opts *opts)
{
    struct top t;
    memset(&t, 0, sizeof t);
    t.o = opts;
    struct sigaction sa = { .sa_handler = on_stop };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    bool plain = opts->plain || !isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO);
    int rc = plain ? run_plain(&t) : run_curses(&t);
    disconnect_all(&t);
    json_decref(t.status);
    json_decref(t.slots);
    json_decref(t.drones);
    json_decref(t.alarms);
    return rc;
}
