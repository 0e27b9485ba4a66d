/* swaphealth: runs the station's battery-health estimator offline on a recorded charge /
 * flight log (CSV) and prints per cycle capacity, SoH, DCIR and EFC. A simulated log to
 * try it on comes from the simulator's `packlog`. See docs/battery-health.md. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"
#include "healthlog/healthlog.h"
#include "plantcfg/plantcfg.h"

#define MAX_PACKS 64
#define MAX_LINE 4096
#define MAX_COLS 16

enum col { COL_TIME, COL_VOLTAGE, COL_CURRENT, COL_TEMP, COL_PACK, COL_EVENT, COL_SENSOR, COL_COUNTER, COL_COUNT };
static const char *const col_names[COL_COUNT] = {
    "time_s", "voltage_V", "current_A", "temp_degC", "pack_id", "event", "sensor", "counter_mAh",
};

struct pack {
    char id[32];
    struct health_estimator est;
    enum health_state state;      /* from the event column: holds until the next event */
};

struct options {
    const char *config;
    bool json, skip_bad;
    int cells;
    double rated_mAh;
};

static struct pack packs[MAX_PACKS];
static int n_packs;
static struct health_config hcfg;
static struct options opt;
static long bad_rows;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: swaphealth [--json] [--skip-bad] [--config health.ini] [--cells N]\n"
            "                  [--rated-mah N] LOG.csv|-\n"
            "\n"
            "LOG.csv: header time_s,voltage_V,current_A,temp_degC[,pack_id][,event][,sensor]\n"
            "[,counter_mAh] (any order); current_A > 0 charges the pack; event (rest, charge,\n"
            "pad, flight) is the known state from that row on; lines starting with '#' are\n"
            "comments. Prints capacity, SoH, DCIR and EFC per cycle, every number at full\n"
            "precision. The simulator's packlog writes such a log.\n");
}

/* ---- output ------------------------------------------------------------------------ */

#define NUM(v) healthlog_num((char[32]){ 0 }, 32, (v))

static void print_header(void)
{
    if (opt.json)
        return;
    printf("%-10s %5s %9s %9s %9s %14s %7s %13s %7s %6s\n", "pack", "cycle", "start_h",
           "charged", "window", "capacity_mAh+-sd", "SoH_%", "DCIR_mOhm+-sd", "EFC", "peak_C");
}

static void print_cycle(const struct pack *p)
{
    const struct health_estimator *e = &p->est;
    const struct health_cycle *c = &e->last_cycle;
    double cap = health_est_soh(e) * e->rated_mAh;
    if (opt.json) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
                              "type", "cycle", "pack", p->id, "cycle", c->index,
                              "start_s", c->t_start_s, "charged_mAh", c->charged_mAh,
                              "discharged_mAh", c->discharged_mAh, "capacity_mAh", cap,
                              "capacity_sd_mAh", health_est_capacity_sd(e),
                              "soh", health_est_soh(e), "soh_sd", health_est_soh_sd(e),
                              "dcir_mohm", e->dcir_mohm, "dcir_sd_mohm", health_est_dcir_sd(e),
                              "efc", e->efc);
        json_object_set_new(o, "window_mAh", isfinite(c->capacity_meas_mAh) ? json_real(c->capacity_meas_mAh) : json_null());
        json_object_set_new(o, "dcir_meas_mohm", isfinite(c->dcir_meas_mohm) ? json_real(c->dcir_meas_mohm) : json_null());
        json_object_set_new(o, "peak_temp_degC", isfinite(c->peak_temp_degC) ? json_real(c->peak_temp_degC) : json_null());
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        puts(s);
        free(s);
        json_decref(o);
        return;
    }
    printf("%-10s %5d %9s %9s %9s %14s+-%s %7s %13s+-%s %7s %6s\n", p->id, c->index,
           NUM(c->t_start_s / 3600.0), NUM(c->charged_mAh), NUM(c->capacity_meas_mAh), NUM(cap),
           NUM(health_est_capacity_sd(e)), NUM(health_est_soh(e) * 100.0), NUM(e->dcir_mohm),
           NUM(health_est_dcir_sd(e)), NUM(e->efc), NUM(c->peak_temp_degC));
}

static void print_summary(const struct pack *p)
{
    const struct health_estimator *e = &p->est;
    char why[160];
    enum health_verdict v = health_judge(&hcfg, e, true, why, sizeof why);
    static const char *const verdicts[] = { "keep", "quarantine", "retire" };
    if (opt.json) {
        json_t *rej = json_object();
        for (int i = 0; i < HEALTH_REJ_COUNT; i++)
            if (e->rejected[i])
                json_object_set_new(rej, health_reject_name((enum health_reject)i), json_integer(e->rejected[i]));
        json_t *o = json_pack("{s:s, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:I, s:s, s:s, s:o}",
                              "type", "summary", "pack", p->id, "cycles", e->last_cycle.index,
                              "soh", health_est_soh(e), "soh_sd", health_est_soh_sd(e),
                              "dcir_mohm", e->dcir_mohm, "dcir_new_mohm", e->dcir_new_mohm,
                              "efc", e->efc, "capacity_windows", e->cap_count,
                              "dcir_steps", e->dcir_count, "samples", (json_int_t)e->samples,
                              "verdict", verdicts[v], "reason", why, "rejected", rej);
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        puts(s);
        free(s);
        json_decref(o);
        return;
    }
    char newbuf[64];
    if (e->dcir_count >= hcfg.dcir_new_count)
        snprintf(newbuf, sizeof newbuf, "new %s", NUM(e->dcir_new_mohm));
    else
        snprintf(newbuf, sizeof newbuf, "new: after %d steps", hcfg.dcir_new_count);
    printf("\n%s: SoH %s %% +- %s, DCIR %s mOhm (%s), EFC %s, %d capacity windows,"
           " %d DCIR steps, %ld samples; verdict: %s (%s)\n",
           p->id, NUM(health_est_soh(e) * 100), NUM(health_est_soh_sd(e) * 100), NUM(e->dcir_mohm), newbuf,
           NUM(e->efc), e->cap_count, e->dcir_count, e->samples, verdicts[v], why);
    long total = health_est_rejected_total(e);
    if (total) {
        printf("%s: %ld not used:", p->id, total);
        for (int i = 0; i < HEALTH_REJ_COUNT; i++)
            if (e->rejected[i])
                printf(" %s %ld;", health_reject_name((enum health_reject)i), e->rejected[i]);
        printf("\n");
    }
}

/* ---- CSV ------------------------------------------------------------------------------ */

static struct pack *pack_for(const char *id)
{
    for (int i = 0; i < n_packs; i++)
        if (strcmp(packs[i].id, id) == 0)
            return &packs[i];
    if (n_packs == MAX_PACKS)
        return NULL;
    struct pack *p = &packs[n_packs++];
    snprintf(p->id, sizeof p->id, "%s", id);
    health_est_init(&p->est, &hcfg, opt.cells, opt.rated_mAh);
    return p;
}

static int split(char *line, char **fields, int max)
{
    int n = 0;
    char *s = line;
    for (;;) {
        if (n == max)
            return -1;
        fields[n++] = s;
        char *comma = strchr(s, ',');
        if (!comma)
            break;
        *comma = '\0';
        s = comma + 1;
    }
    for (int i = 0; i < n; i++) {
        while (*fields[i] == ' ' || *fields[i] == '\t')
            fields[i]++;
        char *end = fields[i] + strlen(fields[i]);
        while (end > fields[i] && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
    }
    return n;
}

static int parse_number(const char *text, double *out, const char **problem)
{
    if (!*text) {
        *problem = "empty";
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (*end) {
        *problem = "not a number";
        return -1;
    }
    if (errno == ERANGE || !isfinite(v)) {
        *problem = "not a finite number";
        return -1;
    }
    *out = v;
    return 0;
}

static void bad_row(const char *name, long line, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s:%ld: ", name, line);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    bad_rows++;
}

static int run_log(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    const char *name = f == stdin ? "<stdin>" : path;
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return 2;
    }
    char line[MAX_LINE + 2];
    long lineno = 0;
    int col_of[COL_COUNT];
    int n_cols = 0;
    bool have_header = false;
    int rc = 0;
    print_header();
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len > MAX_LINE && line[len - 1] != '\n') {
            bad_row(name, lineno, "line longer than %s characters%s", "4096", "");
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            if (!have_header || !opt.skip_bad) {
                rc = 1;
                break;
            }
            continue;
        }
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        char *fields[MAX_COLS];
        int n = split(p, fields, MAX_COLS);
        if (!have_header) {
            for (int c = 0; c < COL_COUNT; c++)
                col_of[c] = -1;
            const char *problem = NULL, *arg = "";
            if (n < 0) {
                problem = "header has more than 16 columns%s";
            }
            for (int i = 0; !problem && i < n; i++) {
                int c = 0;
                while (c < COL_COUNT && strcmp(fields[i], col_names[c]) != 0)
                    c++;
                if (c == COL_COUNT) {
                    problem = "unknown column '%s' (expected time_s, voltage_V, current_A, temp_degC, pack_id, event, sensor, counter_mAh)";
                    arg = fields[i];
                } else if (col_of[c] >= 0) {
                    problem = "column '%s' appears twice";
                    arg = fields[i];
                } else {
                    col_of[c] = i;
                }
            }
            for (int c = 0; !problem && c < COL_PACK; c++)
                if (col_of[c] < 0) {
                    problem = "header lacks the column '%s'";
                    arg = col_names[c];
                }
            if (problem) {
                bad_row(name, lineno, problem, arg, "");
                rc = 1;
                break;
            }
            n_cols = n;
            have_header = true;
            continue;
        }
        if (n != n_cols) {
            char got[16], want[16];
            snprintf(got, sizeof got, "%d", n < 0 ? MAX_COLS + 1 : n);
            snprintf(want, sizeof want, "%d", n_cols);
            bad_row(name, lineno, "%s fields, the header has %s", got, want);
            if (!opt.skip_bad) {
                rc = 1;
                break;
            }
            continue;
        }
        struct health_sample s;
        double *dst[4] = { &s.t_s, &s.voltage_V, &s.current_A, &s.temp_degC };
        bool ok = true;
        for (int c = 0; ok && c < 4; c++) {
            const char *problem;
            if (parse_number(fields[col_of[c]], dst[c], &problem) != 0) {
                char what[MAX_LINE + 64];
                snprintf(what, sizeof what, "%s '%.64s'", col_names[c], fields[col_of[c]]);
                bad_row(name, lineno, "%s: %s", what, problem);
                ok = false;
            }
        }
        s.state = HEALTH_STATE_UNKNOWN;
        s.sensor = 0;
        s.has_counter = false;
        s.counter_mAh = 0;
        if (ok && col_of[COL_SENSOR] >= 0) {
            const char *txt = fields[col_of[COL_SENSOR]];
            char *end;
            errno = 0;
            unsigned long v = strtoul(txt, &end, 10);
            if (*txt && (*end || errno || v > UINT32_MAX || *txt == '-')) {
                bad_row(name, lineno, "sensor '%.40s': not an integer in 0..4294967295%s", txt, "");
                ok = false;
            }
            s.sensor = (uint32_t)v;
        }
        if (ok && col_of[COL_COUNTER] >= 0 && *fields[col_of[COL_COUNTER]]) {
            const char *problem;
            if (parse_number(fields[col_of[COL_COUNTER]], &s.counter_mAh, &problem) != 0) {
                char what[MAX_LINE + 64];
                snprintf(what, sizeof what, "counter_mAh '%.64s'", fields[col_of[COL_COUNTER]]);
                bad_row(name, lineno, "%s: %s", what, problem);
                ok = false;
            }
            s.has_counter = true;
        }
        const char *id = col_of[COL_PACK] >= 0 ? fields[col_of[COL_PACK]] : "pack";
        if (ok && (!*id || strlen(id) >= sizeof packs[0].id)) {
            bad_row(name, lineno, "pack_id '%.40s' is empty or longer than 31 characters%s", id, "");
            ok = false;
        }
        struct pack *pk = ok ? pack_for(id) : NULL;
        if (ok && !pk) {
            bad_row(name, lineno, "more than %s packs in one log%s", "64", "");
            ok = false;
        }
        if (!ok) {
            if (!opt.skip_bad) {
                rc = 1;
                break;
            }
            continue;
        }
        if (col_of[COL_EVENT] >= 0) {
            /* An event holds until the next one; a word the estimator does not know
             * leaves the state to be inferred from the current. */
            const char *ev = fields[col_of[COL_EVENT]];
            if (*ev) {
                int st = health_state_from_name(ev);
                pk->state = st < 0 ? HEALTH_STATE_UNKNOWN : (enum health_state)st;
            }
            s.state = pk->state;
        }
        if (health_est_feed(&pk->est, &s) & HEALTH_EV_CYCLE)
            print_cycle(pk);
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: read error: %s\n", name, strerror(errno));
        rc = 2;
    }
    if (f != stdin)
        fclose(f);
    if (rc == 0 && !have_header) {
        fprintf(stderr, "%s: no header line (time_s,voltage_V,current_A,temp_degC)\n", name);
        rc = 1;
    }
    if (rc != 0)
        return rc;
    for (int i = 0; i < n_packs; i++)
        if (health_est_finish(&packs[i].est) & HEALTH_EV_CYCLE)
            print_cycle(&packs[i]);
    for (int i = 0; i < n_packs; i++)
        print_summary(&packs[i]);
    if (bad_rows) {
        if (opt.json)
            printf("{\"type\":\"skipped\",\"rows\":%ld}\n", bad_rows);
        else
            printf("skipped %ld malformed rows\n", bad_rows);
    }
    return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

static int parse_long(const char *arg, const char *what, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "swaphealth: %s must be an integer in %ld..%ld, not '%s'\n", what, lo, hi, arg);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'j' },
        { "skip-bad", no_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' },
        { "cells", required_argument, NULL, 'n' },
        { "rated-mah", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    opt.cells = 6;
    opt.rated_mAh = 5000;
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j': opt.json = true; break;
        case 's': opt.skip_bad = true; break;
        case 'c': opt.config = optarg; break;
        case 'n':
            if (parse_long(optarg, "--cells", 1, 14, &v))
                return 2;
            opt.cells = (int)v;
            break;
        case 'r':
            if (parse_long(optarg, "--rated-mah", 100, 1000000, &v))
                return 2;
            opt.rated_mAh = (double)v;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    health_config_defaults(&hcfg);
    if (opt.config) {
        struct cfg_error err;
        if (health_config_load(opt.config, &hcfg, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 2;
        }
    }
    return run_log(argv[optind]);
}
