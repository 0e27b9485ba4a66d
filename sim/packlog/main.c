/* packlog: writes a synthetic charge / flight log (CSV) of one or more packs living a
 * station's life, from the simulator's battery model (battery/cyclelog.h), in the format
 * `swaphealth` reads; a "# truth" comment line after every cycle gives the model's own
 * capacity, SoH, DCIR and EFC. See docs/battery-health.md. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "battery/cyclelog.h"
#include "healthlog/healthlog.h"
#include "plantcfg/plantcfg.h"

#define MAX_PACKS 64

static const char *const shape_names[] = { "linear", "knee", "recovery" };
static const char *const grade_names[] = { "ideal", "charger", "power-module" };

/* The event column names the state the station knows from that row on. */
static const char *const phase_names[] = {
    [SIM_CYCLELOG_REST] = "rest",
    [SIM_CYCLELOG_CHARGE] = "charge",
    [SIM_CYCLELOG_PAD] = "pad",
    [SIM_CYCLELOG_FLIGHT] = "flight",
};

struct options {
    int cycles, packs;
    unsigned long long seed;
    double fade_scale, period_s;
    int shape, grade;
};

struct pack_out {
    char id[32];
    enum sim_cyclelog_phase phase;
    bool started;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: packlog [--cycles N] [--packs N] [--seed N] [--fade-scale K]\n"
            "               [--shape linear|knee|recovery] [--sensors ideal|charger|power-module]\n"
            "               [--period S]\n"
            "\n"
            "Writes a simulated charge / flight log to stdout in the CSV format swaphealth reads\n"
            "(time_s,voltage_V,current_A,temp_degC,pack_id,event,sensor,counter_mAh), with a\n"
            "'# truth' comment line after every cycle.\n");
}

#define NUM(v) healthlog_num((char[32]){ 0 }, 32, (v))

static void on_sample(void *ctx, const struct sim_cyclelog_sample *s)
{
    struct pack_out *o = ctx;
    const char *event = "";
    if (!o->started || s->phase != o->phase)
        event = phase_names[s->phase];
    o->started = true;
    o->phase = s->phase;
    printf("%s,%s,%s,%s,%s,%s,%u,", NUM(s->t_s), NUM(s->voltage_V), NUM(s->current_A), NUM(s->temp_degC), o->id,
           event, (unsigned)s->sensor);
    if (s->has_counter)
        printf("%s", NUM(s->counter_mAh));
    putchar('\n');
}

static int on_cycle(void *ctx, const struct sim_cyclelog_truth *t)
{
    struct pack_out *o = ctx;
    printf("# truth pack=%s cycle=%d soh=%s capacity_mAh=%s dcir_mohm=%s efc=%s\n", o->id, t->cycle, NUM(t->soh),
           NUM(t->capacity_mAh), NUM(t->dcir_mohm), NUM(t->efc));
    return 0;
}

static int run(const struct options *opt)
{
    struct plantcfg pc;
    plantcfg_defaults(&pc);
    struct sim_cyclelog_params cp;
    sim_cyclelog_defaults(&cp);
    cp.cycles = opt->cycles;
    cp.shape = (enum sim_cyclelog_shape)opt->shape;
    cp.fade_scale = opt->fade_scale;
    enum sim_sensor_grade g = (enum sim_sensor_grade)opt->grade;
    sim_sensor_grade_cfg(&cp.charger, g);
    sim_sensor_grade_cfg(&cp.drone, g);
    cp.charger.period_s = cp.drone.period_s = opt->period_s;
    printf("# packlog: %d pack(s), %d cycles, seed %llu, ageing %s, sensors %s, %s s;"
           " battery model of the plant defaults (%d cells, %s mAh)\n", opt->packs, opt->cycles, opt->seed,
           shape_names[opt->shape], grade_names[opt->grade], NUM(opt->period_s), pc.battery_cells,
           NUM(pc.battery_rated_mah));
    printf("%s\n", HEALTHLOG_HEADER);
    for (int k = 0; k < opt->packs; k++) {
        uint32_t tag = 0x5A000001u + (uint32_t)k;
        struct pack_out o = { .started = false };
        snprintf(o.id, sizeof o.id, "%08X", tag);
        cp.seed = opt->seed + (uint64_t)k;
        struct sim_cyclelog_sink sink = { on_sample, on_cycle, &o };
        sim_cyclelog_run(&pc, &cp, tag, &sink);
    }
    return fflush(stdout) == 0 ? 0 : 2;
}

static int parse_long(const char *arg, const char *what, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "packlog: %s must be an integer in %ld..%ld, not '%s'\n", what, lo, hi, arg);
        return -1;
    }
    *out = v;
    return 0;
}

/* lo_open: lo itself is out of range. */
static int parse_double(const char *arg, const char *what, double lo, bool lo_open, double hi, double *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (!*arg || *end || !((lo_open ? v > lo : v >= lo) && v <= hi)) {
        fprintf(stderr, "packlog: %s must be a number in %g..%g, not '%s'\n", what, lo, hi, arg);
        return -1;
    }
    *out = v;
    return 0;
}

static int pick(const char *arg, const char *what, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(arg, names[i]) == 0) {
            *out = i;
            return 0;
        }
    fprintf(stderr, "packlog: unknown %s '%s'\n", what, arg);
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "cycles", required_argument, NULL, 'C' },
        { "packs", required_argument, NULL, 'P' },
        { "seed", required_argument, NULL, 'e' },
        { "fade-scale", required_argument, NULL, 'f' },
        { "shape", required_argument, NULL, 'A' },
        { "sensors", required_argument, NULL, 'G' },
        { "period", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct options opt = { .cycles = 20, .packs = 1, .seed = 1, .fade_scale = 1.0, .period_s = 1.0, .grade = 1 };
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'C':
            if (parse_long(optarg, "--cycles", 1, 100000, &v))
                return 2;
            opt.cycles = (int)v;
            break;
        case 'P':
            if (parse_long(optarg, "--packs", 1, MAX_PACKS, &v))
                return 2;
            opt.packs = (int)v;
            break;
        case 'e':
            if (parse_long(optarg, "--seed", 0, 0x7fffffffL, &v))
                return 2;
            opt.seed = (unsigned long long)v;
            break;
        case 'f':
            if (parse_double(optarg, "--fade-scale", 0, true, 100, &opt.fade_scale))
                return 2;
            break;
        case 'p':
            if (parse_double(optarg, "--period", 1, false, 10, &opt.period_s))
                return 2;
            break;
        case 'A':
            if (pick(optarg, "--shape", shape_names, 3, &opt.shape))
                return 2;
            break;
        case 'G':
            if (pick(optarg, "--sensors", grade_names, 3, &opt.grade))
                return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    return run(&opt);
}
