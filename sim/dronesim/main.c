/* dronesim: one or more simulated drones sharing one MAVLink link to the swap station
 * (docs/drone-protocol.md). The drones are the pure model of sim/drone; this shell owns
 * the clock, the link and swapsim's control socket. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "battery/battery.h"
#include "drone/drone.h"
#include "dronesim/padsock.h"
#include "droneproto/dproto.h"
#include "mavlink/mav.h"
#include "mavlink/mav_util.h"
#include "plantcfg/plantcfg.h"
#include "transport/link.h"

#define MAX_DRONES 32
#define MAX_MIS 16

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
static const char *const level_names[] = { "debug", "info", "warn", "error" };
static enum log_level log_min = LOG_INFO;

static void logf_(enum log_level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(enum log_level lv, const char *fmt, ...)
{
    if (lv < log_min)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dronesim: %s: ", level_names[lv]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static const char usage[] =
    "usage: dronesim --link ENDPOINT [options]\n"
    "  --link ENDPOINT        pty:new | pty:/dev/pts/N[:BAUD] | serial:DEV:BAUD |\n"
    "                         udp:HOST:PORT (listen) | udpout:HOST:PORT (send to)\n"
    "  --link-file PATH       write the created pty's path (or the UDP port) to PATH\n"
    "  --swapsim-control PATH swapsim's control socket (the pad); without it a\n"
    "                         stand-alone pad accepts the drone and never swaps\n"
    "  --drones N             drones on the link (1..32, default 1)\n"
    "  --sysid-base N         system id of the first drone (default 10)\n"
    "  --station-sysid N      the station's system id (default: the first heard)\n"
    "  --seed N               seed for every random draw (default 1)\n"
    "  --hot-swap             drones stay powered while their pack is out\n"
    "  --key HEX              sign every frame and require signed frames (64 hex digits)\n"
    "  --link-id N            signing link id (default 1)\n"
    "  --misbehave SPEC       KIND@T[+D][/SYSID]: from T s for D s (default 5), all drones\n"
    "                         or one; KIND: rearm, link_loss, wrong_sysid, unsigned, garbage,\n"
    "                         no_ack, cancel, divert, bad_version\n"
    "  --time-scale F         simulated ms per wall ms (0.1..100, default 1)\n"
    "  --flight-s S           go home after S s in the air (default: at 30 %% charge)\n"
    "  --soc X                state of charge at start, 0.05..1 (default 0.6)\n"
    "  --soc-step X           each drone starts X below the one before (default 0.02)\n"
    "  --stagger-s S          drones come home one after another, S s apart: the k-th\n"
    "                         to come flies --flight-s + k*S (every flight)\n"
    "  --ask-order ORDER      sysid (default) or shuffled (by --seed): who is k-th\n"
    "  --critical LIST        comma-separated system ids that come home critical: their\n"
    "                         requests carry the critical flag until their first swap\n"
    "  --swaps N              each drone leaves for good after N swaps (default: never)\n"
    "  --hover-a A            hover current, A (default 18)\n"
    "  --events PATH          one JSON line per drone event (state, queue position,\n"
    "                         misbehaviour window), with CLOCK_MONOTONIC ms\n"
    "  --return-s S           flight back to the station (default 5)\n"
    "  --plant-config PATH    plant.ini for the pack model (default: built-in defaults)\n"
    "  --battery-time-scale K the flying pack lives K seconds per simulated second\n"
    "                         (integer 1..1000, default 1; swapsim's option of that name)\n"
    "  --battery-sensor GRADE the power module behind BATTERY_STATUS: ideal, charger or\n"
    "                         power-module (default power-module: noise, offset, gain)\n"
    "  --duration-s S         exit after S simulated seconds (default: run until signalled)\n"
    "  --log-level LEVEL      debug, info, warn, error (default info)\n"
    "  --help                 this text\n";

struct mis_spec {
    enum sim_drone_mis kind;
    double t_s, d_s;
    int sysid;                   /* 0: every drone */
};

struct options {
    const char *link, *link_file, *control, *plant_config, *events;
    int drones, sysid_base, station_sysid, link_id;
    uint64_t seed;
    bool hot_swap, signed_link;
    uint8_t key[32];
    double time_scale, flight_s, soc, soc_step, stagger_s, return_s, duration_s;
    bool shuffled;
    int max_swaps;
    double hover_a;             /* 0: the model's default */
    bool critical[256];
    int sensor_grade;
    double battery_scale;
    struct mis_spec mis[MAX_MIS];
    int n_mis;
};

static int num_arg(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "dronesim: %s '%s': expected a number in %g..%g\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int int_arg(const char *opt, const char *s, long lo, long hi, int *out)
{
    double v;
    if (num_arg(opt, s, (double)lo, (double)hi, &v) != 0)
        return -1;
    if (v != floor(v)) {
        fprintf(stderr, "dronesim: %s '%s': expected an integer\n", opt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_mis(const char *spec, struct mis_spec *m)
{
    char kind[32];
    const char *at = strchr(spec, '@');
    if (!at || (size_t)(at - spec) >= sizeof kind) {
        fprintf(stderr, "dronesim: --misbehave '%s': expected KIND@T[+D][/SYSID]\n", spec);
        return -1;
    }
    memcpy(kind, spec, (size_t)(at - spec));
    kind[at - spec] = '\0';
    int k = sim_drone_mis_from_name(kind);
    if (k < 0) {
        fprintf(stderr, "dronesim: --misbehave '%s': unknown kind '%s' (rearm, link_loss, "
                        "wrong_sysid, unsigned, garbage, no_ack, cancel, divert, bad_version)\n", spec, kind);
        return -1;
    }
    m->kind = (enum sim_drone_mis)k;
    m->d_s = 5;
    m->sysid = 0;
    char *end;
    errno = 0;
    m->t_s = strtod(at + 1, &end);
    if (end == at + 1 || errno || !isfinite(m->t_s) || m->t_s < 0)
        goto bad;
    if (*end == '+') {
        const char *ds = end + 1;
        m->d_s = strtod(ds, &end);
        if (end == ds || !isfinite(m->d_s) || m->d_s <= 0 || m->d_s > 86400)
            goto bad;
    }
    if (*end == '/') {
        const char *ss = end + 1;
        long v = strtol(ss, &end, 10);
        if (end == ss || v < 1 || v > 255)
            goto bad;
        m->sysid = (int)v;
    }
    if (*end != '\0')
        goto bad;
    return 0;
bad:
    fprintf(stderr, "dronesim: --misbehave '%s': expected KIND@T[+D][/SYSID] with times in s\n",
            spec);
    return -1;
}

/* "12,17,30" into set[sysid] = true. */
static int parse_sysid_list(const char *s, bool set[256])
{
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 255 || (*end != ',' && *end != '\0')) {
            fprintf(stderr, "dronesim: --critical '%s': expected system ids 1..255, comma-separated\n", s);
            return -1;
        }
        set[v] = true;
        if (*end == '\0')
            return 0;
        p = end + 1;
    }
}

static int parse_options(int argc, char **argv, struct options *o)
{
    enum { O_LINK = 1, O_LINK_FILE, O_CONTROL, O_DRONES, O_SYSID_BASE, O_STATION, O_SEED,
           O_HOT, O_KEY, O_LINK_ID, O_MIS, O_SCALE, O_FLIGHT, O_SOC, O_RETURN, O_PLANT, O_SENSOR, O_BSCALE,
           O_DURATION, O_LOG, O_SOC_STEP, O_STAGGER, O_ASK_ORDER, O_CRITICAL, O_EVENTS, O_SWAPS, O_HOVER, O_HELP };
    static const struct option opts[] = {
        { "link", required_argument, 0, O_LINK },
        { "link-file", required_argument, 0, O_LINK_FILE },
        { "swapsim-control", required_argument, 0, O_CONTROL },
        { "drones", required_argument, 0, O_DRONES },
        { "sysid-base", required_argument, 0, O_SYSID_BASE },
        { "station-sysid", required_argument, 0, O_STATION },
        { "seed", required_argument, 0, O_SEED },
        { "hot-swap", no_argument, 0, O_HOT },
        { "key", required_argument, 0, O_KEY },
        { "link-id", required_argument, 0, O_LINK_ID },
        { "misbehave", required_argument, 0, O_MIS },
        { "time-scale", required_argument, 0, O_SCALE },
        { "flight-s", required_argument, 0, O_FLIGHT },
        { "soc", required_argument, 0, O_SOC },
        { "return-s", required_argument, 0, O_RETURN },
        { "plant-config", required_argument, 0, O_PLANT },
        { "battery-sensor", required_argument, 0, O_SENSOR },
        { "battery-time-scale", required_argument, 0, O_BSCALE },
        { "duration-s", required_argument, 0, O_DURATION },
        { "log-level", required_argument, 0, O_LOG },
        { "soc-step", required_argument, 0, O_SOC_STEP },
        { "stagger-s", required_argument, 0, O_STAGGER },
        { "ask-order", required_argument, 0, O_ASK_ORDER },
        { "critical", required_argument, 0, O_CRITICAL },
        { "events", required_argument, 0, O_EVENTS },
        { "swaps", required_argument, 0, O_SWAPS },
        { "hover-a", required_argument, 0, O_HOVER },
        { "help", no_argument, 0, O_HELP },
        { 0, 0, 0, 0 },
    };
    memset(o, 0, sizeof *o);
    o->drones = 1;
    o->sysid_base = 10;
    o->seed = 1;
    o->link_id = 1;
    o->time_scale = 1;
    o->battery_scale = 1;
    o->soc = 0.6;
    o->soc_step = 0.02;
    o->sensor_grade = SIM_SENSOR_POWER_MODULE;
    o->return_s = 5;
    int c;
    double v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_LINK: o->link = optarg; break;
        case O_LINK_FILE: o->link_file = optarg; break;
        case O_CONTROL: o->control = optarg; break;
        case O_DRONES: if (int_arg("--drones", optarg, 1, MAX_DRONES, &o->drones)) return -1; break;
        case O_SYSID_BASE: if (int_arg("--sysid-base", optarg, 1, 255, &o->sysid_base)) return -1; break;
        case O_STATION: if (int_arg("--station-sysid", optarg, 1, 255, &o->station_sysid)) return -1; break;
        case O_SEED:
            if (num_arg("--seed", optarg, 0, 9007199254740992.0, &v) || v != floor(v))
                return -1;
            o->seed = (uint64_t)v;
            break;
        case O_HOT: o->hot_swap = true; break;
        case O_KEY:
            if (mav_key_from_hex(optarg, o->key) != 0) {
                fprintf(stderr, "dronesim: --key: expected 64 hex digits (a 32-byte key)\n");
                return -1;
            }
            o->signed_link = true;
            break;
        case O_LINK_ID: if (int_arg("--link-id", optarg, 0, 255, &o->link_id)) return -1; break;
        case O_MIS:
            if (o->n_mis >= MAX_MIS) {
                fprintf(stderr, "dronesim: at most %d --misbehave options\n", MAX_MIS);
                return -1;
            }
            if (parse_mis(optarg, &o->mis[o->n_mis]) != 0)
                return -1;
            o->n_mis++;
            break;
        case O_SCALE: if (num_arg("--time-scale", optarg, 0.1, 100, &o->time_scale)) return -1; break;
        case O_BSCALE:
            if (num_arg("--battery-time-scale", optarg, 1, 1000, &o->battery_scale) ||
                o->battery_scale != floor(o->battery_scale)) {
                fprintf(stderr, "dronesim: --battery-time-scale must be an integer 1..1000\n");
                return -1;
            }
            break;
        case O_FLIGHT: if (num_arg("--flight-s", optarg, 0, 86400, &o->flight_s)) return -1; break;
        case O_SOC: if (num_arg("--soc", optarg, 0.05, 1, &o->soc)) return -1; break;
        case O_SOC_STEP: if (num_arg("--soc-step", optarg, 0, 1, &o->soc_step)) return -1; break;
        case O_STAGGER: if (num_arg("--stagger-s", optarg, 0, 3600, &o->stagger_s)) return -1; break;
        case O_ASK_ORDER:
            if (strcmp(optarg, "sysid") != 0 && strcmp(optarg, "shuffled") != 0) {
                fprintf(stderr, "dronesim: --ask-order must be sysid or shuffled, not '%s'\n", optarg);
                return -1;
            }
            o->shuffled = !strcmp(optarg, "shuffled");
            break;
        case O_CRITICAL:
            if (parse_sysid_list(optarg, o->critical) != 0)
                return -1;
            break;
        case O_EVENTS: o->events = optarg; break;
        case O_SWAPS: if (int_arg("--swaps", optarg, 0, 1000000, &o->max_swaps)) return -1; break;
        case O_HOVER: if (num_arg("--hover-a", optarg, 1, 200, &o->hover_a)) return -1; break;
        case O_SENSOR: {
            int g = 0;
            while (g < SIM_SENSOR_GRADE_COUNT && strcmp(optarg, sim_sensor_grade_name((enum sim_sensor_grade)g)) != 0)
                g++;
            if (g == SIM_SENSOR_GRADE_COUNT) {
                fprintf(stderr, "dronesim: --battery-sensor must be ideal, charger or power-module, not '%s'\n", optarg);
                return -1;
            }
            o->sensor_grade = g;
            break;
        }
        case O_RETURN: if (num_arg("--return-s", optarg, 0, 3600, &o->return_s)) return -1; break;
        case O_PLANT: o->plant_config = optarg; break;
        case O_DURATION: if (num_arg("--duration-s", optarg, 0, 1e7, &o->duration_s)) return -1; break;
        case O_LOG: {
            int found = -1;
            for (int i = 0; i < 4; i++)
                if (strcmp(optarg, level_names[i]) == 0)
                    found = i;
            if (found < 0) {
                fprintf(stderr, "dronesim: --log-level '%s': expected debug, info, warn or error\n", optarg);
                return -1;
            }
            log_min = (enum log_level)found;
            break;
        }
        case O_HELP: fputs(usage, stdout); exit(0);
        default:
            fprintf(stderr, "dronesim: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dronesim: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!o->link) {
        fprintf(stderr, "dronesim: --link is required\n%s", usage);
        return -1;
    }
    struct link_endpoint ep;
    char err[LINK_ERR_MAX];
    if (link_parse_endpoint(o->link, &ep, err, sizeof err) != 0) {
        fprintf(stderr, "dronesim: --link: %s\n", err);
        return -1;
    }
    if (o->sysid_base + o->drones - 1 > 255) {
        fprintf(stderr, "dronesim: --sysid-base %d with %d drones runs past system id 255\n",
                o->sysid_base, o->drones);
        return -1;
    }
    if (o->station_sysid >= o->sysid_base && o->station_sysid < o->sysid_base + o->drones) {
        fprintf(stderr, "dronesim: --station-sysid %d collides with a drone\n", o->station_sysid);
        return -1;
    }
    return 0;
}

/* Writes text to path through a temporary file, so a reader never sees half of it. */
static int write_file_atomic(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fputs(text, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t unix_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct sim_drone drones[MAX_DRONES];
static size_t logged[MAX_DRONES];

/* --events: one JSON object per line, written as it happens. mono_ms is the host's
 * CLOCK_MONOTONIC in ms (shared with every process on the machine), t_ms the drones'
 * simulated time. */
static FILE *events_f;
static double events_mono0_ms, events_scale = 1;
static uint8_t events_pos[MAX_DRONES];
static unsigned events_requests[MAX_DRONES];
static bool events_mis[MAX_DRONES][SIM_DRONE_MIS_COUNT];

static void event_line(const struct sim_drone *d, uint64_t t_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void event_line(const struct sim_drone *d, uint64_t t_ms, const char *fmt, ...)
{
    if (!events_f)
        return;
    fprintf(events_f, "{\"mono_ms\":%.1f,\"t_ms\":%llu,\"sysid\":%u,", events_mono0_ms + (double)t_ms / events_scale,
            (unsigned long long)t_ms, d->cfg.sysid);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(events_f, fmt, ap);
    va_end(ap);
    fputs("}\n", events_f);
}

static void log_transitions(int n)
{
    for (int i = 0; i < n; i++) {
        struct sim_drone *d = &drones[i];
        for (; logged[i] < d->n_log; logged[i]++) {
            const struct sim_drone_transition *t = &d->log[logged[i] % SIM_DRONE_LOG];
            logf_(LOG_INFO, "drone %u: %s -> %s at %.1f s (soc %.0f %%)", d->cfg.sysid,
                  sim_drone_state_name(t->from), sim_drone_state_name(t->to), t->t_ms / 1000.0,
                  100.0 * (d->has_battery ? d->battery.soc : d->bay.soc));
            event_line(d, t->t_ms, "\"event\":\"state\",\"from\":\"%s\",\"to\":\"%s\",\"reason\":%d,\"critical\":%s",
                       sim_drone_state_name(t->from), sim_drone_state_name(t->to), d->last_reason,
                       d->cfg.critical ? "true" : "false");
        }
    }
}

/* When the window of kind that just opened (on) or closed began or ended: the drone acts
 * on it from that moment, though this loop may see it a little later. now_ms if unknown
 * (e.g. rearm, whose window opens on the pad). */
static uint64_t mis_edge_ms(const struct sim_drone *d, enum sim_drone_mis kind, bool on, uint64_t now_ms)
{
    uint64_t best = 0;
    for (size_t j = 0; j < d->n_mis; j++) {
        if (d->mis[j].kind != kind || kind == SIM_DRONE_MIS_REARM)
            continue;
        uint64_t edge = on ? d->mis[j].start_ms : d->mis[j].start_ms + d->mis[j].duration_ms;
        if (edge <= now_ms && edge > best)
            best = edge;
    }
    return best ? best : now_ms;
}

/* Queue positions the station told each drone, and misbehaviour windows opening and
 * closing, as events at now_ms. */
static void log_positions(int n, uint64_t now_ms)
{
    if (!events_f)
        return;
    for (int i = 0; i < n; i++) {
        struct sim_drone *d = &drones[i];
        /* A request sent while its radio is down never left the drone. */
        if (d->count.requests_sent != events_requests[i] && !sim_drone_misbehaving(d, SIM_DRONE_MIS_LINK_LOSS))
            event_line(d, now_ms, "\"event\":\"request\",\"attempt\":%u,\"critical\":%s", d->req_attempt,
                       d->cfg.critical && d->count.swaps == 0 ? "true" : "false");
        events_requests[i] = d->count.requests_sent;
        uint8_t pos = d->state == SIM_DRONE_QUEUED ? d->queue_position : 0;
        if (pos != events_pos[i] && pos)
            event_line(d, now_ms, "\"event\":\"position\",\"position\":%u", pos);
        events_pos[i] = pos;
        for (int k = 0; k < SIM_DRONE_MIS_COUNT; k++) {
            bool on = sim_drone_misbehaving(d, (enum sim_drone_mis)k);
            if (on != events_mis[i][k])
                event_line(d, mis_edge_ms(d, (enum sim_drone_mis)k, on, now_ms), "\"event\":\"%s\",\"kind\":\"%s\"",
                           on ? "misbehave" : "behave", sim_drone_mis_name((enum sim_drone_mis)k));
            events_mis[i][k] = on;
        }
    }
    fflush(events_f);
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;

    struct plantcfg pcfg;
    plantcfg_defaults(&pcfg);
    if (o.plant_config) {
        struct cfg_error err;
        if (plantcfg_load(o.plant_config, &pcfg, &err) != 0) {
            fprintf(stderr, "dronesim: %s\n", err.msg);
            return 2;
        }
    }

    char err[LINK_ERR_MAX];
    struct link *link = link_open(o.link, err, sizeof err);
    if (!link) {
        fprintf(stderr, "dronesim: %s\n", err);
        return 1;
    }
    logf_(LOG_INFO, "link %s (%s)", link_describe(link), link_name(link));
    struct link_endpoint ep;
    link_parse_endpoint(o.link, &ep, NULL, 0);
    if (ep.kind == LINK_PTY_NEW) {
        printf("%s\n", link_path(link));
        fflush(stdout);
    }
    if (o.link_file) {
        char text[LINK_PATH_MAX + 16];
        if (ep.kind == LINK_UDP || ep.kind == LINK_UDPOUT)
            snprintf(text, sizeof text, "%u\n", (unsigned)link_local_port(link));
        else
            snprintf(text, sizeof text, "%s\n", link_path(link));
        if (write_file_atomic(o.link_file, text) != 0) {
            fprintf(stderr, "dronesim: --link-file %s: %s\n", o.link_file, strerror(errno));
            link_close(link);
            return 1;
        }
    }

    static struct mav_signing signing;
    if (o.signed_link) {
        mav_signing_init(&signing, o.key, (uint8_t)o.link_id, true);
        mav_signing_set_time_unix_us(&signing, unix_us());
    }
    struct mav_parser parser;
    mav_parser_init(&parser, o.signed_link ? &signing : NULL);

    static struct padsock pad;
    padsock_init(&pad, o.control, 1000);
    if (o.control && padsock_connect(&pad) != 0)
    {
        logf_(LOG_WARN, "pad: %s (will retry)", pad.last_error);
        pad.last_error[0] = '\0';
    }
    struct sim_drone_pad pad_if = padsock_pad(&pad);

    struct sim_rng pack_rng;
    sim_rng_seed(&pack_rng, o.seed ^ 0x9E3779B97F4A7C15ULL);
    const uint64_t t0_ms = 0;
    /* The drones' clock starts here (t0_ms). */
    const uint64_t wall0_us = mono_us();
    events_mono0_ms = (double)wall0_us / 1000.0;
    events_scale = o.time_scale;
    /* The order the drones come home in under --stagger-s: slot[i] for drone i. */
    int slot[MAX_DRONES];
    for (int i = 0; i < o.drones; i++)
        slot[i] = i;
    if (o.shuffled) {
        struct sim_rng order_rng;
        sim_rng_seed(&order_rng, o.seed ^ 0xA5A5A5A55A5A5A5AULL);
        for (int i = o.drones - 1; i > 0; i--) {
            int j = (int)(sim_rng_uniform(&order_rng) * (i + 1));
            if (j > i)
                j = i;
            int t = slot[i];
            slot[i] = slot[j];
            slot[j] = t;
        }
    }
    if (o.events) {
        events_f = fopen(o.events, "w");
        if (!events_f) {
            fprintf(stderr, "dronesim: --events %s: %s\n", o.events, strerror(errno));
            link_close(link);
            return 1;
        }
    }
    for (int i = 0; i < o.drones; i++) {
        struct sim_drone_cfg cfg;
        sim_drone_cfg_defaults(&cfg, (uint8_t)(o.sysid_base + i));
        cfg.station_sysid = (uint8_t)o.station_sysid;
        cfg.hot_swap = o.hot_swap;
        cfg.battery_time_scale = (int)o.battery_scale;
        cfg.flight_s = o.flight_s + slot[i] * o.stagger_s;
        cfg.critical = o.critical[cfg.sysid];
        cfg.max_swaps = (unsigned)o.max_swaps;
        /* The station keeps wall time: its 1 Hz heartbeat and its 5 s silence rule (§8) do
         * not speed up with --time-scale, so neither does the drone's "station unheard"
         * timer (else at 5x a heartbeat a little late would look like a lost station). */
        cfg.link_lost_ms = (uint32_t)lround(cfg.link_lost_ms * o.time_scale);
        if (o.hover_a > 0)
            cfg.hover_current_a = o.hover_a;
        sim_sensor_grade_cfg(&cfg.sensor, (enum sim_sensor_grade)o.sensor_grade);
        cfg.return_ms = (uint32_t)lround(o.return_s * 1000.0);
        cfg.boot_ms = (uint32_t)lround(pcfg.drone_boot_s * 1000.0);
        cfg.ambient_degC = pcfg.ambient_degC;
        struct sim_battery b;
        /* Drones start at staggered charge so they do not all come home at once. */
        double soc = o.soc - o.soc_step * i;
        sim_battery_init(&b, &pcfg, 0x5B000001u + (uint32_t)i, soc < 0.05 ? 0.05 : soc, &pack_rng);
        sim_drone_init(&drones[i], &cfg, &pad_if, &b, o.seed * 1000003u + (uint64_t)i,
                       o.signed_link ? &signing : NULL, t0_ms);
        for (int k = 0; k < o.n_mis; k++) {
            if (o.mis[k].sysid && o.mis[k].sysid != cfg.sysid)
                continue;
            sim_drone_misbehave(&drones[i], o.mis[k].kind,
                                t0_ms + (uint64_t)llround(o.mis[k].t_s * 1000.0),
                                (uint32_t)llround(o.mis[k].d_s * 1000.0));
        }
        logf_(LOG_INFO, "drone %u: pack SWP-%08X at %.0f %%%s%s, comes home %d. (flies %.1f s)", cfg.sysid,
              (unsigned)b.tag, 100.0 * b.soc, o.hot_swap ? ", hot swap" : "", cfg.critical ? ", critical" : "",
              slot[i] + 1, cfg.flight_s);
        event_line(&drones[i], t0_ms, "\"event\":\"start\",\"slot\":%d,\"flight_s\":%.3f,\"critical\":%s", slot[i] + 1,
                   cfg.flight_s, cfg.critical ? "true" : "false");
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    uint64_t now_ms = t0_ms;
    uint8_t buf[4096];
    unsigned write_errors = 0;
    uint64_t unsigned_seen = 0;
    char pad_logged[sizeof pad.last_error] = "";
    uint64_t pad_logged_ms = 0;
    int rc = 0;
    while (!stop_requested) {
        now_ms = t0_ms + (uint64_t)((double)(mono_us() - wall0_us) / 1000.0 * o.time_scale);
        if (o.duration_s > 0 && now_ms >= t0_ms + (uint64_t)(o.duration_s * 1000.0))
            break;
        if (o.signed_link)
            mav_signing_set_time_unix_us(&signing, unix_us());

        ssize_t n;
        while ((n = link_read(link, buf, sizeof buf)) > 0) {
            size_t off = 0, used;
            struct mav_frame f;
            while (mav_parser_feed_buf(&parser, buf + off, (size_t)n - off, &used, &f) == 1) {
                off += used;
                for (int k = 0; k < o.drones; k++)
                    sim_drone_handle_frame(&drones[k], &f, now_ms);
            }
        }
        if (n < 0) {
            logf_(LOG_ERROR, "link %s: read: %s", link_describe(link), strerror(errno));
            rc = 1;
            break;
        }

        uint64_t next = UINT64_MAX;
        for (int k = 0; k < o.drones; k++) {
            sim_drone_step(&drones[k], now_ms);
            size_t m;
            while ((m = sim_drone_take_output(&drones[k], buf, sizeof buf)) > 0) {
                if (link_write_all(link, buf, m, 200) != 0 && write_errors++ < 5)
                    logf_(LOG_WARN, "link %s: write: %s", link_describe(link), strerror(errno));
            }
            uint64_t dl = sim_drone_next_deadline(&drones[k]);
            if (dl < next)
                next = dl;
        }
        log_transitions(o.drones);
        log_positions(o.drones, now_ms);
        if (parser.drops[MAV_DROP_UNSIGNED] > unsigned_seen) {
            if (unsigned_seen == 0)
                logf_(LOG_WARN, "dropping unsigned frames (this link requires signing)");
            unsigned_seen = parser.drops[MAV_DROP_UNSIGNED];
        }
        if (pad.last_error[0]) {
            /* A missing swapsim fails every poll: say it when it changes, else every 5 s. */
            uint64_t wall_ms = (mono_us() - wall0_us) / 1000u;
            if (strcmp(pad.last_error, pad_logged) != 0 || wall_ms >= pad_logged_ms + 5000) {
                logf_(LOG_WARN, "pad: %s", pad.last_error);
                snprintf(pad_logged, sizeof pad_logged, "%s", pad.last_error);
                pad_logged_ms = wall_ms;
            }
            pad.last_error[0] = '\0';
        }

        double wait_ms = next > now_ms ? (double)(next - now_ms) / o.time_scale : 0;
        int timeout = wait_ms > 100 ? 100 : (int)ceil(wait_ms);
        struct pollfd pf = { .fd = link_fd(link), .events = POLLIN };
        if (poll(&pf, 1, timeout) < 0 && errno != EINTR) {
            logf_(LOG_ERROR, "poll: %s", strerror(errno));
            rc = 1;
            break;
        }
    }

    for (int k = 0; k < o.drones; k++) {
        const struct sim_drone *d = &drones[k];
        logf_(LOG_INFO, "drone %u: %s; %u swaps, %u take-offs, %u requests, %u denials, "
                        "%u go-arounds", d->cfg.sysid, sim_drone_state_name(d->state),
              d->count.swaps, d->count.takeoffs, d->count.requests_sent, d->count.denials,
              d->count.go_arounds);
    }
    logf_(LOG_INFO, "link: %llu frames in, %llu bad crc, %llu unsigned, %llu bad signature",
          (unsigned long long)parser.frames_ok, (unsigned long long)parser.drops[MAV_DROP_BAD_CRC],
          (unsigned long long)parser.drops[MAV_DROP_UNSIGNED],
          (unsigned long long)parser.drops[MAV_DROP_BAD_SIGNATURE]);
    if (events_f)
        fclose(events_f);
    padsock_close(&pad);
    link_close(link);
    return rc;
}
