/* The landing queue as the drones saw it; see dronewait.h. */
#include "dronewait.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct dwait_req *open_req(struct dwait_log *log, const int cur[256], uint8_t sysid)
{
    return cur[sysid] >= 0 ? &log->req[cur[sysid]] : NULL;
}

static void on_event(struct dwait_log *log, int cur[256], json_t *e)
{
    const char *ev = json_string_value(json_object_get(e, "event"));
    json_int_t sys = json_integer_value(json_object_get(e, "sysid"));
    double ms = json_number_value(json_object_get(e, "mono_ms"));
    if (!ev || sys < 1 || sys > 255)
        return;
    uint8_t sysid = (uint8_t)sys;
    struct dwait_req *r = open_req(log, cur, sysid);
    if (!strcmp(ev, "request")) {
        if (!r) {
            if (log->n >= DWAIT_MAX_REQS)
                return;
            r = &log->req[log->n];
            memset(r, 0, sizeof *r);
            r->sysid = sysid;
            r->critical = json_is_true(json_object_get(e, "critical"));
            r->first_tx_ms = r->asked_ms = ms;
            cur[sysid] = (int)log->n++;
        } else if (!r->answered) {
            r->asked_ms = ms;   /* a retransmission: the station had not answered yet */
        }                       /* else a repeat of an answered request: it keeps its place */
        return;
    }
    if (!strcmp(ev, "position")) {
        if (r && r->answered && !r->position && !r->cleared_ms)
            r->position = (unsigned)json_integer_value(json_object_get(e, "position"));
        return;
    }
    if (!strcmp(ev, "misbehave") || !strcmp(ev, "behave")) {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        if (!r || !kind || strcmp(kind, "link_loss") != 0)
            return;
        if (!strcmp(ev, "misbehave"))
            r->silent_ms = ms;
        else if (r->silent_ms)
            cur[sysid] = -1;    /* back on the air: its old request is gone, it asks anew */
        return;
    }
    if (strcmp(ev, "state") != 0)
        return;
    const char *from = json_string_value(json_object_get(e, "from"));
    const char *to = json_string_value(json_object_get(e, "to"));
    if (!from || !to)
        return;
    if (!strcmp(from, "wait_takeoff") && !strcmp(to, "taking_off"))
        log->swaps++;
    if (!r)
        return;
    if (!strcmp(to, "queued") && !strcmp(from, "requesting")) {
        r->answered = true;
    } else if (!strcmp(to, "landing")) {
        r->answered = true;
        r->cleared_ms = ms;
        cur[sysid] = -1;
    } else if (!strcmp(to, "diverted")) {
        if (!r->silent_ms)
            r->silent_ms = ms;  /* gone for good: silent from now on */
    }
}

int dwait_load(const char *path, struct dwait_log *log)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    memset(log, 0, sizeof *log);
    int cur[256];
    for (int i = 0; i < 256; i++)
        cur[i] = -1;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (!len || line[len - 1] != '\n')
            break;              /* a line still being written */
        json_error_t err;
        json_t *e = json_loads(line, 0, &err);
        log->lines++;
        if (!e) {
            log->bad_lines++;
            continue;
        }
        on_event(log, cur, e);
        json_decref(e);
    }
    fclose(f);
    return 0;
}

void dwait_drop(struct dwait_log *log, uint8_t sysid, double ms)
{
    for (unsigned i = log->n; i-- > 0;) {
        struct dwait_req *r = &log->req[i];
        if (r->sysid == sysid && r->silent_ms && !r->cleared_ms && !r->dropped_ms) {
            r->dropped_ms = ms;
            return;
        }
    }
}

unsigned dwait_cleared(const struct dwait_log *log)
{
    unsigned n = 0;
    for (unsigned i = 0; i < log->n; i++)
        n += log->req[i].cleared_ms > 0;
    return n;
}

enum { EV_LEAVE, EV_ARRIVE, EV_CLEAR };

struct ev {
    double ms;
    int kind;
    unsigned req;
};

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->ms != y->ms)
        return x->ms < y->ms ? -1 : 1;
    return x->kind - y->kind;
}

struct check {
    unsigned violations;
    char *why;
    size_t whysize;
};

static void violation(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(struct check *c, const char *fmt, ...)
{
    if (c->violations++ == 0 && c->why) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->whysize, fmt, ap);
        va_end(ap);
    }
}

/* Whether another request's arrival, clearance or departure lies within tie_ms of ms. */
static bool near_other(const struct dwait_log *log, unsigned self, double ms, double tie_ms)
{
    for (unsigned i = 0; i < log->n; i++) {
        const struct dwait_req *r = &log->req[i];
        if (i == self || !r->answered)
            continue;
        if (fabs(r->asked_ms - ms) < tie_ms || (r->cleared_ms && fabs(r->cleared_ms - ms) < tie_ms) ||
            (r->dropped_ms && fabs(r->dropped_ms - ms) < tie_ms))
            return true;
    }
    return false;
}

unsigned dwait_check(struct dwait_log *log, double now_ms, double tie_ms, double per_position_ms,
                     double drop_ms, uint8_t *expect_queue, unsigned *n_expect, char *why, size_t whysize)
{
    struct check c = { 0, why, whysize };
    if (why && whysize)
        why[0] = 0;
    static struct ev evs[3 * DWAIT_MAX_REQS];
    unsigned n_ev = 0;
    for (unsigned i = 0; i < log->n; i++) {
        struct dwait_req *r = &log->req[i];
        if (!r->answered || r->asked_ms > now_ms)
            continue;
        evs[n_ev++] = (struct ev){ r->asked_ms, EV_ARRIVE, i };
        if (r->cleared_ms && r->cleared_ms <= now_ms)
            evs[n_ev++] = (struct ev){ r->cleared_ms, EV_CLEAR, i };
        else if (r->silent_ms) {
            double leave = r->dropped_ms ? r->dropped_ms : r->silent_ms + drop_ms;
            if (leave <= now_ms)
                evs[n_ev++] = (struct ev){ leave, EV_LEAVE, i };
        }
    }
    qsort(evs, n_ev, sizeof evs[0], ev_cmp);

    unsigned q[DWAIT_MAX_REQS], nq = 0;
    for (unsigned k = 0; k < n_ev; k++) {
        struct dwait_req *r = &log->req[evs[k].req];
        unsigned at = nq;
        switch (evs[k].kind) {
        case EV_ARRIVE:
            if (r->critical) {
                at = 0;
                while (at < nq && log->req[q[at]].critical)
                    at++;
            }
            memmove(&q[at + 1], &q[at], (nq - at) * sizeof q[0]);
            q[at] = evs[k].req;
            nq++;
            r->model_position = at + 1;
            /* Accepted at once (no position) means nobody was waiting. */
            if ((r->position ? r->position : 1) != r->model_position &&
                !near_other(log, evs[k].req, r->asked_ms, tie_ms))
                violation(&c, "drone %u asked at %.0f ms and was told position %u; the queue gives %u", r->sysid,
                          r->asked_ms, r->position, r->model_position);
            break;
        case EV_CLEAR:
        case EV_LEAVE:
            while (at > 0 && q[at - 1] != evs[k].req)
                at--;
            if (at == 0) {
                violation(&c, "drone %u was %s at %.0f ms without a place in the queue", r->sysid,
                          evs[k].kind == EV_CLEAR ? "cleared" : "dropped", evs[k].ms);
                break;
            }
            at--;
            if (evs[k].kind == EV_CLEAR) {
                /* Everyone ahead must have asked at (nearly) the same moment. */
                for (unsigned j = 0; j < at; j++) {
                    const struct dwait_req *a = &log->req[q[j]];
                    if (r->cleared_ms - a->asked_ms < tie_ms)
                        continue;   /* it asked as the station was clearing */
                    if (fabs(a->asked_ms - r->asked_ms) >= tie_ms && a->critical == r->critical) {
                        violation(&c, "drone %u cleared at %.0f ms ahead of drone %u, which asked %.0f ms earlier",
                                  r->sysid, r->cleared_ms, a->sysid, r->asked_ms - a->asked_ms);
                        break;
                    }
                    if (a->critical && !r->critical) {
                        violation(&c, "drone %u cleared at %.0f ms ahead of critical drone %u", r->sysid,
                                  r->cleared_ms, a->sysid);
                        break;
                    }
                }
                unsigned promised = r->position > r->model_position ? r->position : r->model_position;
                if (r->cleared_ms - r->asked_ms > promised * per_position_ms)
                    violation(&c, "drone %u waited %.0f ms at position %u (promise %.0f ms)", r->sysid,
                              r->cleared_ms - r->asked_ms, promised, promised * per_position_ms);
            }
            memmove(&q[at], &q[at + 1], (nq - at - 1) * sizeof q[0]);
            nq--;
            break;
        default:
            break;
        }
    }
    for (unsigned j = 0; j < nq; j++) {
        const struct dwait_req *r = &log->req[q[j]];
        unsigned promised = r->position > j + 1 ? r->position : j + 1;
        if (now_ms - r->asked_ms > promised * per_position_ms)
            violation(&c, "drone %u has waited %.0f ms at position %u (promise %.0f ms)", r->sysid,
                      now_ms - r->asked_ms, promised, promised * per_position_ms);
        if (expect_queue)
            expect_queue[j] = r->sysid;
    }
    if (n_expect)
        *n_expect = nq;
    return c.violations;
}
