/* swapsim: the station's plant as a Modbus TCP server (the plant model of sim/plant
 * behind the register map of protocols/regmap), with fault injection and a ground-truth
 * control socket. One thread: a ppoll() loop that steps the physics every millisecond
 * on absolute CLOCK_MONOTONIC deadlines and serves requests between steps.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "swapsim/swapsim.h"

#define MAX_FAULTS 32
#define CATCH_UP_MAX_MS 1000   /* physics behind by more than this skips ahead */

static const char usage_text[] =
    "usage: swapsim [options]\n"
    "       swapsim --control PATH --send JSON\n"
    "\n"
    "The plant of the battery-swap station as a Modbus TCP server (unit id ignored,\n"
    "0-based addresses as in docs/register-map.md), physics stepped every 1 ms.\n"
    "\n"
    "  --config PATH          plant configuration (default configs/plant.ini)\n"
    "  --port N               TCP port (default 1502; 0 picks a free port)\n"
    "  --port-file PATH       write the chosen port to PATH once listening\n"
    "  --bind ADDR            IPv4 address to listen on (default 127.0.0.1)\n"
    "  --seed N               seed for every random draw (default 1)\n"
    "  --control PATH         Unix socket for newline-delimited JSON requests:\n"
    "                         inject, clear, truth, log, status, drone_land,\n"
    "                         drone_takeoff, drone_battery, drone_load, set_battery, help\n"
    "  --fault SPEC           inject at start (repeatable); SPEC is the inject request's\n"
    "                         JSON, e.g. '{\"fault\":\"axis_jam\",\"a\":0}', or the short form\n"
    "                         NAME[,a=N][,b=N][,value=X], e.g. weather,b=1,value=15\n"
    "  --log-commands PATH    append every coil / holding-register change to PATH as\n"
    "                         \"T_MS TABLE ADDR NAME OLD NEW\" lines\n"
    "  --realtime-factor F    plant ms per wall ms (default 1; 0.01..1000)\n"
    "  --battery-time-scale K batteries and chargers live K seconds per plant second\n"
    "                         (integer 1..1000, default 1; a divisor of 1000 spreads the\n"
    "                         battery ticks evenly): hours of charging and resting in\n"
    "                         minutes while the robot keeps its speed\n"
    "  --state PATH           keep the physical plant in PATH (saved after every request);\n"
    "                         a swapsim started on an existing PATH resumes it as after a\n"
    "                         power cycle (docs/swapsim.md)\n"
    "  --map PATH             serve the layout of this plant map file (docs/plant-map.md)\n"
    "                         instead of the register map's\n"
    "  --unit N               answer only unit id N (TCP: others get exception 11;\n"
    "                         RTU: the slave address, default 1)\n"
    "  --rtu DEVICE           Modbus RTU on a serial device or pty instead of TCP\n"
    "  --baud N, --parity N|E|O, --data-bits N, --stop-bits N\n"
    "                         RTU line settings (default 115200 8N1)\n"
    "  --rtu-pace             hold each RTU reply for the time the line would take\n"
    "  --send JSON            client mode: send one request to --control, print the reply;\n"
    "                         exit 0 if it says ok, 1 if not, 2 if the socket fails\n"
    "  --help                 this text\n"
    "\n"
    "Faults: axis_jam, sensor_stuck, gripper_no_close, actuator_stuck, charger, overtemp,\n"
    "tag_unreadable, estop, guard_open, weather (plant) and reply_delay, silent,\n"
    "drop_connections (server). SIGTERM or SIGINT stop the server cleanly.\n"
    "Exit status: 0 after a signal, 1 if the server cannot start, 2 for bad options or a\n"
    "broken configuration (the message names file:line and the reason).\n";

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_long(const char *opt, const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 0);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "swapsim: %s %s: expected an integer %ld..%ld\n", opt, text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int write_port_file(const char *path, int port)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    /* rename() makes the number appear whole: a reader never sees a partial write. */
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- client mode ---------------------------------------------------------------------- */

static int send_request(const char *path, const char *request)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "swapsim: --control %s: path too long\n", path);
        return 2;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "swapsim: cannot connect to %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 2;
    }
    size_t len = strlen(request);
    char *line = malloc(len + 2);
    if (!line) {
        close(fd);
        return 2;
    }
    memcpy(line, request, len);
    line[len] = '\n';
    size_t off = 0;
    while (off < len + 1) {
        ssize_t w = send(fd, line + off, len + 1 - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "swapsim: send to %s: %s\n", path, strerror(errno));
            free(line);
            close(fd);
            return 2;
        }
        off += (size_t)w;
    }
    free(line);

    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    int rc = 2;
    while (buf) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, 10000) <= 0) {
            fprintf(stderr, "swapsim: no reply from %s\n", path);
            break;
        }
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "swapsim: %s closed without a reply\n", path);
            break;
        }
        n += (size_t)r;
        char *nl = memchr(buf, '\n', n);
        if (nl) {
            *nl = 0;
            printf("%s\n", buf);
            json_t *rep = json_loads(buf, 0, NULL);
            rc = json_is_true(json_object_get(rep, "ok")) ? 0 : 1;
            json_decref(rep);
            break;
        }
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
    }
    free(buf);
    close(fd);
    return rc;
}

/* ---- server loop ---------------------------------------------------------------------- */

enum fd_kind { FD_LISTEN, FD_CTL_LISTEN, FD_MB, FD_CTL, FD_RTU };

static void flush_command_log(struct swapsim *s, FILE *f, uint64_t *next)
{
    struct sim_log_entry e[256];
    size_t n;
    bool any = false;
    while ((n = sim_plant_log(s->plant, *next, e, 256, next)) > 0) {
        for (size_t i = 0; i < n; i++)
            swapsim_log_line(f, &e[i]);
        any = true;
    }
    if (any)
        fflush(f);
}

/* The plant model as the logical image behind a map (plantmap_server). */
static int sim_read_bits(void *ctx, enum plantmap_table t, unsigned addr, unsigned n, uint8_t *out)
{
    return sim_plant_read_bits(ctx, t == PLANTMAP_COIL ? SIM_CO : SIM_DI, addr, n, out);
}

static int sim_read_regs(void *ctx, enum plantmap_table t, unsigned addr, unsigned n, uint16_t *out)
{
    return sim_plant_read_regs(ctx, t == PLANTMAP_HR ? SIM_HR : SIM_IR, addr, n, out);
}

static int sim_write_coils(void *ctx, unsigned addr, unsigned n, const uint8_t *v)
{
    return sim_plant_write_coils(ctx, addr, n, v);
}

static int sim_write_regs(void *ctx, unsigned addr, unsigned n, const uint16_t *v)
{
    return sim_plant_write_regs(ctx, addr, n, v);
}

static void serve(struct swapsim *s, FILE *log_file, const sigset_t *wait_mask)
{
    struct pollfd pfd[2 + SWAPSIM_MAX_CLIENTS + SWAPSIM_MAX_CONTROL];
    enum fd_kind kind[2 + SWAPSIM_MAX_CLIENTS + SWAPSIM_MAX_CONTROL];
    int index[2 + SWAPSIM_MAX_CLIENTS + SWAPSIM_MAX_CONTROL];
    uint64_t log_next = 0;
    bool warned = false;

    /* Plant time = plant_base + (wall - wall_base) * factor: absolute, so the loop's own
     * latency never accumulates into drift. */
    int64_t wall_base = mono_ns();
    uint64_t plant_base = sim_plant_now_ms(s->plant);
    double ns_per_plant_ms = 1e6 / s->realtime_factor;

    while (!stop_signal) {
        int64_t now = mono_ns();
        uint64_t target = plant_base + (uint64_t)((double)(now - wall_base) / ns_per_plant_ms);
        uint64_t have = sim_plant_now_ms(s->plant);
        if (target > have) {
            uint64_t behind = target - have;
            if (behind > CATCH_UP_MAX_MS) {
                sim_plant_step(s->plant, CATCH_UP_MAX_MS);
                if (!warned)
                    fprintf(stderr, "swapsim: physics fell %llu ms behind the clock; skipping ahead\n",
                            (unsigned long long)behind);
                warned = true;
                wall_base = now;
                plant_base = sim_plant_now_ms(s->plant);
            } else {
                sim_plant_step(s->plant, (uint32_t)behind);
            }
        }
        int64_t now_ms = now / 1000000;
        swapsim_mb_timers(s, now_ms);
        if (log_file)
            flush_command_log(s, log_file, &log_next);

        int64_t wake = wall_base +
                       (int64_t)((double)(sim_plant_now_ms(s->plant) + 1 - plant_base) * ns_per_plant_ms);
        int64_t mb_deadline = swapsim_mb_next_deadline(s);
        if (mb_deadline != INT64_MAX && mb_deadline * 1000000 < wake)
            wake = mb_deadline * 1000000;

        int n = 0;
        if (s->rtu) {
            pfd[n] = (struct pollfd){ s->rtu_fd, POLLIN, 0 };
            kind[n++] = FD_RTU;
        } else {
            pfd[n] = (struct pollfd){ s->listen_fd, POLLIN, 0 };
            kind[n++] = FD_LISTEN;
        }
        if (s->ctl_fd >= 0) {
            pfd[n] = (struct pollfd){ s->ctl_fd, POLLIN, 0 };
            kind[n++] = FD_CTL_LISTEN;
        }
        for (int i = 0; i < SWAPSIM_MAX_CLIENTS; i++) {
            const struct swapsim_mbclient *c = &s->mb_clients[i];
            if (c->fd < 0 || swapsim_mb_waiting(c))
                continue;
            pfd[n] = (struct pollfd){ c->fd, POLLIN, 0 };
            kind[n] = FD_MB;
            index[n++] = i;
        }
        for (int i = 0; i < SWAPSIM_MAX_CONTROL; i++) {
            const struct swapsim_ctlclient *c = &s->ctl_clients[i];
            if (c->fd < 0)
                continue;
            pfd[n] = (struct pollfd){ c->fd, (short)(POLLIN | (c->out_len ? POLLOUT : 0)), 0 };
            kind[n] = FD_CTL;
            index[n++] = i;
        }

        int64_t wait_ns = wake - mono_ns();
        if (wait_ns < 0)
            wait_ns = 0;
        struct timespec ts = { (time_t)(wait_ns / 1000000000), (long)(wait_ns % 1000000000) };
        int rc = ppoll(pfd, (nfds_t)n, &ts, wait_mask);
        if (rc <= 0)
            continue;
        bool served = false;
        now_ms = mono_ns() / 1000000;
        for (int k = 0; k < n; k++) {
            short ev = pfd[k].revents;
            if (!ev)
                continue;
            switch (kind[k]) {
            case FD_LISTEN: swapsim_mb_accept(s); break;
            case FD_RTU:
                served = true;
                swapsim_rtu_readable(s);
                break;
            case FD_CTL_LISTEN: swapsim_ctl_accept(s); break;
            case FD_MB:
                served = true;
                /* The fd may have been closed meanwhile (drop_connections). */
                if (s->mb_clients[index[k]].fd == pfd[k].fd)
                    swapsim_mb_readable(s, &s->mb_clients[index[k]], now_ms);
                break;
            case FD_CTL: {
                served = true;
                struct swapsim_ctlclient *c = &s->ctl_clients[index[k]];
                if (c->fd == pfd[k].fd && (ev & POLLOUT))
                    swapsim_ctl_writable(s, c);
                if (c->fd == pfd[k].fd && (ev & (POLLIN | POLLHUP | POLLERR)))
                    swapsim_ctl_readable(s, c);
                break;
            }
            }
        }
        /* Whatever a client may have seen is on disk before the next request: a swapsim
         * killed now comes back with the plant its clients knew. */
        if (served && s->state_path && sim_plant_save(s->plant, s->state_fd) != 0)
            fprintf(stderr, "swapsim: --state %s: %s\n", s->state_path, strerror(errno));
    }
    if (log_file)
        flush_command_log(s, log_file, &log_next);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "port", required_argument, NULL, 'p' },
        { "port-file", required_argument, NULL, 'P' },
        { "bind", required_argument, NULL, 'b' },
        { "seed", required_argument, NULL, 's' },
        { "control", required_argument, NULL, 'C' },
        { "fault", required_argument, NULL, 'f' },
        { "log-commands", required_argument, NULL, 'l' },
        { "realtime-factor", required_argument, NULL, 'r' },
        { "battery-time-scale", required_argument, NULL, 'B' },
        { "send", required_argument, NULL, 'S' },
        { "state", required_argument, NULL, 'T' },
        { "map", required_argument, NULL, 'm' },
        { "unit", required_argument, NULL, 'u' },
        { "rtu", required_argument, NULL, 'R' },
        { "baud", required_argument, NULL, 'b' + 256 },
        { "parity", required_argument, NULL, 'Y' },
        { "data-bits", required_argument, NULL, 'D' },
        { "stop-bits", required_argument, NULL, 'O' },
        { "rtu-pace", no_argument, NULL, 'A' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config = "configs/plant.ini", *port_file = NULL, *bind_addr = "127.0.0.1";
    const char *control = NULL, *log_path = NULL, *send = NULL, *state_path = NULL;
    const char *faults[MAX_FAULTS];
    int n_faults = 0;
    long port = 1502, seed = 1, battery_scale = 1;
    const char *map_path = NULL, *rtu_device = NULL;
    long unit = -1, baud = 115200, data_bits = 8, stop_bits = 1;
    char parity = 'N';
    bool rtu_pace = false;
    double factor = 1;

    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'p':
            if (parse_long("--port", optarg, 0, 65535, &port))
                return 2;
            break;
        case 'P': port_file = optarg; break;
        case 'b': bind_addr = optarg; break;
        case 's':
            if (parse_long("--seed", optarg, 0, LONG_MAX, &seed))
                return 2;
            break;
        case 'C': control = optarg; break;
        case 'f':
            if (n_faults == MAX_FAULTS) {
                fprintf(stderr, "swapsim: at most %d --fault options\n", MAX_FAULTS);
                return 2;
            }
            faults[n_faults++] = optarg;
            break;
        case 'l': log_path = optarg; break;
        case 'r': {
            char *end;
            factor = strtod(optarg, &end);
            if (end == optarg || *end || !isfinite(factor) || factor < 0.01 || factor > 1000) {
                fprintf(stderr, "swapsim: --realtime-factor %s: expected a number 0.01..1000\n", optarg);
                return 2;
            }
            break;
        }
        case 'B':
            if (parse_long("--battery-time-scale", optarg, 1, 1000, &battery_scale))
                return 2;
            break;
        case 'S': send = optarg; break;
        case 'T': state_path = optarg; break;
        case 'm': map_path = optarg; break;
        case 'u':
            if (parse_long("--unit", optarg, 0, 247, &unit))
                return 2;
            break;
        case 'R': rtu_device = optarg; break;
        case 'b' + 256:
            if (parse_long("--baud", optarg, 50, 4000000, &baud))
                return 2;
            break;
        case 'Y':
            if (strlen(optarg) != 1 || !strchr("NEO", optarg[0])) {
                fprintf(stderr, "swapsim: --parity %s: expected N, E or O\n", optarg);
                return 2;
            }
            parity = optarg[0];
            break;
        case 'D':
            if (parse_long("--data-bits", optarg, 5, 8, &data_bits))
                return 2;
            break;
        case 'O':
            if (parse_long("--stop-bits", optarg, 1, 2, &stop_bits))
                return 2;
            break;
        case 'A': rtu_pace = true; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "swapsim: unexpected argument \"%s\"\n%s", argv[optind], usage_text);
        return 2;
    }
    if (send) {
        if (!control) {
            fprintf(stderr, "swapsim: --send needs --control PATH\n");
            return 2;
        }
        return send_request(control, send);
    }

    static struct swapsim sim;   /* large (client buffers); static keeps it off the stack */
    struct swapsim *s = &sim;
    s->listen_fd = s->ctl_fd = -1;
    for (int i = 0; i < SWAPSIM_MAX_CLIENTS; i++)
        s->mb_clients[i].fd = -1;
    for (int i = 0; i < SWAPSIM_MAX_CONTROL; i++)
        s->ctl_clients[i].fd = -1;
    s->realtime_factor = factor;
    s->unit_id = (int)unit;
    s->rtu_pace = rtu_pace;
    static struct plantmap map;
    if (map_path) {
        char merr[512];
        if (plantmap_load(map_path, &map, merr, sizeof merr) != 0) {
            fprintf(stderr, "swapsim: %s\n", merr);
            return 2;
        }
    }
    struct cfg_error cerr;
    if (plantcfg_load(config, &s->cfg, &cerr) != 0) {
        fprintf(stderr, "swapsim: %s\n", cerr.msg);
        return 2;
    }
    s->plant = sim_plant_new(&s->cfg, (uint64_t)seed);
    if (!s->plant) {
        fprintf(stderr, "swapsim: out of memory\n");
        return 1;
    }
    char err[512];
    s->state_path = state_path;
    if (state_path && access(state_path, F_OK) == 0) {
        if (sim_plant_restore(s->plant, state_path, err, sizeof err) != 0) {
            fprintf(stderr, "swapsim: --state %s\n", err);
            sim_plant_free(s->plant);
            return 1;
        }
        fprintf(stderr, "swapsim: plant restored from %s at plant time %llu ms (power cycle)\n", state_path,
                (unsigned long long)sim_plant_now_ms(s->plant));
    }
    sim_plant_set_battery_time_scale(s->plant, (int)battery_scale);
    s->state_fd = -1;
    if (state_path && ((s->state_fd = open(state_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
                       sim_plant_save(s->plant, s->state_fd) != 0)) {
        fprintf(stderr, "swapsim: --state %s: %s\n", state_path, strerror(errno));
        sim_plant_free(s->plant);
        return 1;
    }
    for (int i = 0; i < n_faults; i++) {
        if (swapsim_fault_spec(s, faults[i], err, sizeof err) != 0) {
            fprintf(stderr, "swapsim: %s\n", err);
            sim_plant_free(s->plant);
            return 2;
        }
    }
    FILE *log_file = NULL;
    if (log_path && !(log_file = fopen(log_path, "a"))) {
        fprintf(stderr, "swapsim: --log-commands %s: %s\n", log_path, strerror(errno));
        sim_plant_free(s->plant);
        return 1;
    }

    /* SIGINT/SIGTERM are blocked except inside ppoll, so a signal can never slip in
     * between the flag test and the wait. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = 1;
    static struct plantmap_server pms;
    if (map_path) {
        const struct plantmap_server_io io = { s->plant, sim_read_bits, sim_read_regs, sim_write_coils, sim_write_regs };
        if (plantmap_server_init(&pms, &map, (unsigned)s->cfg.n_slots, &io) != 0) {
            fprintf(stderr, "swapsim: --map %s: the map has room for %u slots, the plant has %d\n", map_path,
                    map.slots, s->cfg.n_slots);
            rc = 2;
            goto out;
        }
        s->pms = &pms;
    }
    if (rtu_device) {
        if (swapsim_rtu_open(s, rtu_device, (int)baud, parity, (int)data_bits, (int)stop_bits,
                             unit >= 0 ? (int)unit : 1, err, sizeof err) != 0 ||
            (control && swapsim_ctl_open(s, control, err, sizeof err) != 0)) {
            fprintf(stderr, "swapsim: %s\n", err);
            goto out;
        }
        printf("serving Modbus RTU on %s, %ld %ld%c%ld, unit %ld%s%s\n", rtu_device, baud, data_bits, parity,
               stop_bits, unit >= 0 ? unit : 1, map_path ? ", map " : "", map_path ? map.name : "");
        if (control)
            printf("control socket %s\n", control);
        fflush(stdout);
        serve(s, log_file, &wait_mask);
        rc = 0;
        goto out;
    }
    if (swapsim_mb_open(s, bind_addr, (int)port, err, sizeof err) != 0 ||
        (control && swapsim_ctl_open(s, control, err, sizeof err) != 0)) {
        fprintf(stderr, "swapsim: %s\n", err);
        goto out;
    }
    if (port_file && write_port_file(port_file, s->port) != 0) {
        fprintf(stderr, "swapsim: --port-file %s: %s\n", port_file, strerror(errno));
        goto out;
    }
    printf("listening on %s:%d\n", s->bind_addr, s->port);
    if (control)
        printf("control socket %s\n", control);
    fflush(stdout);

    serve(s, log_file, &wait_mask);
    fprintf(stderr, "swapsim: %s, stopping at plant time %llu ms\n",
            stop_signal == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)sim_plant_now_ms(s->plant));
    rc = 0;
out:
    plantmap_server_free(&pms);
    plantmap_free(&map);
    swapsim_ctl_close(s);
    swapsim_mb_close(s);
    if (log_file)
        fclose(log_file);
    sim_plant_free(s->plant);
    if (s->state_fd >= 0)
        close(s->state_fd);
    return rc;
}
