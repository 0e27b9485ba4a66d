/* swapd: the station controller daemon. The scan cycle (DESIGN §3): read the plant's
 * process image, hear the drones, step the core, persist what moved, write the plant's
 * outputs, talk to the drones and the console — every period on an absolute monotonic
 * deadline, so the cycle does not drift and nothing waits on the network or the disk.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "mavlink/mav_util.h"
#include "lockfile.h"
#include "plantio/plantio.h"
#include "plantio/plantio_modbus.h"
#include "plantmap/plantmap.h"
#include "swapd.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t wall_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: swapd [options]\n"
            "  -c, --config FILE        station settings (default /etc/swapd/swapd.ini)\n"
            "  -p, --plant-config FILE  plant model (default /etc/swapd/plant.ini)\n"
            "      --db FILE            battery registry (overrides [database] path)\n"
            "      --control PATH       control socket (overrides [control] path)\n"
            "      --plant HOST:PORT    plant Modbus server (overrides [plant_link])\n"
            "      --link ENDPOINT      drone link, e.g. pty:/dev/pts/5 (overrides [drone_link])\n"
            "      --start              reset and start the station once reconciled\n"
            "      --check-config       validate the configuration and exit\n"
            "      --print-scan-plan    print the plant link's requests, bytes and time, and exit\n"
            "                           (2 when the fast loop does not fit the period)\n"
            "      --config-reference   print every configuration key (Markdown) and exit\n"
            "      --metrics-reference  print every metric of the HTTP endpoint (Markdown) and exit\n"
            "      --compact-db         rebuild the registry in the current format (shrinks after\n"
            "                           pruning; refused while swapd runs on it) and exit\n"
            "  -h, --help               this text\n"
            "Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration or usage,\n"
            "3 another swapd already runs on this database, plant or drone link.\n");
}

struct options {
    const char *config, *plant_config, *db, *control, *plant, *link;
    bool check_only, autostart, reference, metrics_reference, compact_db, print_plan;
};

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "plant-config", required_argument, NULL, 'p' },
        { "db", required_argument, NULL, 'd' },
        { "control", required_argument, NULL, 's' },
        { "plant", required_argument, NULL, 'P' },
        { "link", required_argument, NULL, 'l' },
        { "start", no_argument, NULL, 'S' },
        { "check-config", no_argument, NULL, 'C' },
        { "config-reference", no_argument, NULL, 'R' },
        { "metrics-reference", no_argument, NULL, 'M' },
        { "compact-db", no_argument, NULL, 'K' },
        { "print-scan-plan", no_argument, NULL, 'Q' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    *o = (struct options){ .config = "/etc/swapd/swapd.ini", .plant_config = "/etc/swapd/plant.ini" };
    int c;
    while ((c = getopt_long(argc, argv, "c:p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'p': o->plant_config = optarg; break;
        case 'd': o->db = optarg; break;
        case 's': o->control = optarg; break;
        case 'P': o->plant = optarg; break;
        case 'l': o->link = optarg; break;
        case 'S': o->autostart = true; break;
        case 'C': o->check_only = true; break;
        case 'R': o->reference = true; break;
        case 'M': o->metrics_reference = true; break;
        case 'K': o->compact_db = true; break;
        case 'Q': o->print_plan = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "swapd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* Loads and cross-checks every configuration; applies command-line overrides. A check
 * across keys names the line of the key involved (cfg_where_error); a value given on
 * the command line is named as such. */
static int load_config(struct swapd *d, const struct options *o)
{
    static struct cfg_where where;
    struct cfg_error err;
    const struct cfg_table tables[] = {
        { shellcfg_keys, shellcfg_n_keys, &d->shell },
        { station_cfg_keys, station_cfg_n_keys, &d->station_cfg },
        { health_policy_keys, health_policy_n_keys, &d->health },
        { ctlsock_cfg_keys, ctlsock_n_cfg_keys, &d->control },
        { httpd_cfg_keys, httpd_n_cfg_keys, &d->http_cfg },
        { fleetlink_cfg_keys, fleetlink_n_cfg_keys, &d->fleet_cfg },
        { registry_retention_keys, registry_retention_n_keys, &d->retention },
    };
    if (cfg_load_tables_where(o->config, tables, sizeof tables / sizeof tables[0], &err, &where) != 0) {
        fprintf(stderr, "swapd: %s\n", err.msg);
        return -1;
    }
    if (health_config_check(&d->health, &err) != 0) {
        cfg_where_error(&where, &err, "%s", err.msg);
        fprintf(stderr, "swapd: %s\n", err.msg);
        return -1;
    }
    if (plantcfg_load(o->plant_config, &d->plant, &err) != 0) {
        fprintf(stderr, "swapd: %s\n", err.msg);
        return -1;
    }
    char errbuf[256];
#define CONFIG_ERROR(...) do { cfg_where_error(&where, &err, __VA_ARGS__); \
                               fprintf(stderr, "swapd: %s\n", err.msg); return -1; } while (0)
    if (d->shell.plant_backoff_max_ms < d->shell.plant_backoff_min_ms)
        CONFIG_ERROR("[plant_link] backoff_max_ms must not be below backoff_min_ms");
    if (ctlsock_cfg_check(&d->control, errbuf, sizeof errbuf) != 0)
        CONFIG_ERROR("%s", errbuf);
    /* an override is never cut short: a cut path would be another file */
    if (o->db && strlen(o->db) >= sizeof d->shell.db_path) {
        fprintf(stderr, "swapd: --db: path longer than %zu bytes\n", sizeof d->shell.db_path - 1);
        return -1;
    }
    if (o->control && strlen(o->control) >= sizeof d->control.path) {
        fprintf(stderr, "swapd: --control: path longer than %zu bytes (a Unix socket address)\n",
                sizeof d->control.path - 1);
        return -1;
    }
    if (o->db)
        snprintf(d->shell.db_path, sizeof d->shell.db_path, "%s", o->db);
    if (o->control)
        snprintf(d->control.path, sizeof d->control.path, "%s", o->control);
    if (o->link)
        snprintf(d->shell.drone_endpoint, sizeof d->shell.drone_endpoint, "%s", o->link);
    if (o->plant) {
        const char *colon = strrchr(o->plant, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || colon == o->plant || *end || port < 1 || port > 65535 ||
            (size_t)(colon - o->plant) >= sizeof d->shell.plant_host) {
            fprintf(stderr, "swapd: --plant \"%s\": expected HOST:PORT\n", o->plant);
            return -1;
        }
        memcpy(d->shell.plant_host, o->plant, (size_t)(colon - o->plant));
        d->shell.plant_host[colon - o->plant] = 0;
        d->shell.plant_port = (int)port;
    }
    struct link_endpoint ep;
    if (link_parse_endpoint(d->shell.drone_endpoint, &ep, errbuf, sizeof errbuf) != 0) {
        if (o->link) {
            fprintf(stderr, "swapd: --link \"%s\": %s\n", o->link, errbuf);
            return -1;
        }
        CONFIG_ERROR("[drone_link] endpoint: %s", errbuf);
    }
    uint8_t key[32];
    if (d->shell.drone_key_hex[0] && mav_key_from_hex(d->shell.drone_key_hex, key) != 0)
        CONFIG_ERROR("[drone_link] key must be 64 hex digits");
    if (d->shell.drone_require_signing && !d->shell.drone_key_hex[0])
        CONFIG_ERROR("[drone_link] require_signing needs a key");
    struct dronelink probe;
    if (dronelink_init(&probe, (uint8_t)d->shell.station_sysid, NULL, false, d->shell.drone_allow,
                       errbuf, sizeof errbuf) != 0)
        CONFIG_ERROR("[drone_link] allow: %s", errbuf);
    if (ctlsock_auth_init(&d->auth, d->control.users, d->control.groups, errbuf, sizeof errbuf) != 0)
        CONFIG_ERROR("%s", errbuf);
#undef CONFIG_ERROR
    struct station probe_core;
    if (station_init(&probe_core, &d->station_cfg, &d->plant, 0) != 0) {
        fprintf(stderr, "swapd: %s: the station settings do not fit the plant (%s)\n", o->config, o->plant_config);
        return -1;
    }
    return 0;
}

/* ---- the scan ------------------------------------------------------------------------ */

static void read_plant(struct swapd *d, uint64_t now_ms)
{
    struct plantlink_inputs raw;
    plantlink_get_inputs(d->plantlink, &raw, &d->plant_status);
    memcpy(d->raw_ir, raw.ir, sizeof d->raw_ir);
    const struct plantlink_status *s = &d->plant_status;
    bool fresh = s->inputs_ms != 0 &&
                 now_ms - s->inputs_ms <= (uint64_t)(2 * d->shell.plant_period_ms + d->shell.plant_timeout_ms);
    char err[160];
    bool sane = plantio_decode(raw.di, raw.ir, (unsigned)d->plant.n_slots, &d->in.plant, err, sizeof err) == 0;
    if (!sane && s->inputs_ms != 0 && s->inputs_ms != d->garbage_inputs_ms) {
        d->garbage_inputs_ms = s->inputs_ms;
        if (d->garbage_count++ % 500 == 0)
            fprintf(stderr, "<4>swapd: plant image refused: %s (%llu so far)\n", err,
                    (unsigned long long)d->garbage_count);
    }
    for (int k = 0; k < d->plant.n_slots && k < REGMAP_MAX_SLOTS; k++)
        d->in.plant.slot[k].telemetry_stale = raw.telemetry_us[k] == 0;
    d->in.plant.valid = fresh && sane;
    d->in.plant.refused = fresh && !sane && d->in.plant.refused; /* a stale image is missing, not refused */
    swapd_plant_readback(d, s->readback_seq, s->readback.co, s->reconnects, now_ms);
}

static void hear_drones(struct swapd *d, uint64_t now_ms)
{
    if (!d->link)
        return;
    uint8_t buf[2048];
    uint64_t unix_us = (uint64_t)wall_ms_now() * 1000u;
    for (int i = 0; i < 16; i++) {  /* bounded: a flooding peer cannot hold the scan */
        ssize_t n = link_read(d->link, buf, sizeof buf);
        if (n <= 0)
            break;
        dronelink_receive(&d->drones, buf, (size_t)n, now_ms, unix_us);
    }
    dronelink_fill_inputs(&d->drones, d->in.drones);
    swapd_flight_health(d, now_ms);
}

static void talk_to_drones(struct swapd *d, uint64_t now_ms)
{
    if (!d->link)
        return;
    const struct station_outputs *o = &d->out;
    struct dproto_station_status st;
    dronelink_station_status(&d->drones, o, &st);
    dronelink_send(&d->drones, o->msgs, o->n_msgs, &st, now_ms, (uint64_t)wall_ms_now() * 1000u);
    uint8_t buf[2048];
    size_t n;
    while ((n = dronelink_take_output(&d->drones, buf, sizeof buf)) > 0) {
        ssize_t w = link_write(d->link, buf, n);
        if (w < (ssize_t)n)
            break;  /* the radio is full: what is left is dropped; clearances are resent */
    }
}

static void account_scan(struct swapd *d, uint64_t deadline_us, uint64_t woke_us, uint64_t done_us,
                         uint64_t period_us)
{
    struct swapd_stats *s = &d->stats;
    s->scans++;
    int64_t late = (int64_t)(woke_us - deadline_us);
    int64_t took = (int64_t)(done_us - woke_us);
    if (late > s->jitter_us_max)
        s->jitter_us_max = late;
    if (took > s->scan_us_max)
        s->scan_us_max = took;
    s->late_s_sum += (double)late / 1e6;
    size_t b = late < 0 ? 0 : (size_t)(late / SWAPD_HIST_US);
    s->hist[b < SWAPD_HIST_BUCKETS - 1 ? b : SWAPD_HIST_BUCKETS - 1]++;
    if ((uint64_t)took > period_us * (uint64_t)d->shell.overrun_warn_pct / 100u) {
        s->overruns++;
        fprintf(stderr, "<4>swapd: scan took %lld us (period %llu us)\n", (long long)took,
                (unsigned long long)period_us);
    }
}

#define SOCKET_CHECK_MS 1000

/* The control socket file is the operators' only way in: if it was removed (a cleanup
 * of /run, a slip of the hand), it is made again; one warning when it goes, one when it
 * is back. */
static void check_socket(struct swapd *d, uint64_t now_ms, bool *lost)
{
    struct ctlsock_err err;
    int r = ctlsock_check_path(d->console, &err);
    if (r > 0) {
        swapd_event(d, now_ms, REGISTRY_WARNING, "daemon",
                    "control socket %s was removed or replaced; created it again", d->control.path);
        *lost = false;
    } else if (r < 0 && !*lost) {
        swapd_event(d, now_ms, REGISTRY_WARNING, "daemon",
                    "control socket %s is gone and cannot be created again (%s); retrying every %d ms",
                    d->control.path, err.msg, SOCKET_CHECK_MS);
        *lost = true;
    }
}

/* On fresh input: waits until a new plant image, a drone frame or a console request is
 * there, or the core's next deadline, and at most period_us after the last scan.
 * Returns the time the next scan is due by (for the lateness statistics). */
static uint64_t wait_fresh_input(struct swapd *d, uint64_t done_us, uint64_t period_us)
{
    uint64_t due_us = done_us + period_us;
    uint64_t core_ms = station_next_deadline(&d->core);
    if (core_ms < due_us / 1000u)
        due_us = core_ms * 1000u > done_us ? core_ms * 1000u : done_us;
    struct pollfd p[3];
    nfds_t n = 0;
    p[n++] = (struct pollfd){ .fd = plantlink_wake_fd(d->plantlink), .events = POLLIN };
    if (d->link)
        p[n++] = (struct pollfd){ .fd = link_fd(d->link), .events = POLLIN };
    if (d->console)
        p[n++] = (struct pollfd){ .fd = ctlsock_fd(d->console), .events = POLLIN };
    for (;;) {
        uint64_t now = mono_us();
        if (stop_signal || now >= due_us)
            return due_us;
        int timeout_ms = (int)((due_us - now + 999u) / 1000u);
        int r = poll(p, n, timeout_ms);
        bool woken = false;
        for (nfds_t i = 0; r > 0 && i < n; i++) {
            /* A hung-up or failed descriptor (a drone link whose peer closed) polls ready
             * for ever: it wakes no scan and is left out of this wait, so the scan keeps
             * its pace instead of spinning (the link reports the loss on its own). */
            if (p[i].revents & (POLLHUP | POLLERR | POLLNVAL))
                p[i].fd = -1;
            else if (p[i].revents & POLLIN)
                woken = true;
        }
        if (woken) {
            plantlink_take_wake(d->plantlink);
            return mono_us();
        }
        if (r < 0 && errno != EINTR)
            return due_us;
    }
}

static int run(struct swapd *d, bool autostart)
{
    const uint64_t period_us = (uint64_t)d->shell.scan_period_ms * 1000u;
    uint64_t wd_usec = 0;
    bool watchdog = sd_watchdog_enabled(0, &wd_usec) > 0;
    uint64_t next_wd_us = 0;
    uint64_t next_sock_check_ms = 0;
    bool sock_lost = false;
    bool started = false;
    d->last_step = -1;
    d->last_prune_ms = mono_us() / 1000u;  /* no maintenance while starting: the first prune one interval in */

    sd_notify(0, "READY=1\nSTATUS=reconciling");
    uint64_t deadline_us = mono_us();
    while (!stop_signal) {
        uint64_t woke_us = mono_us();
        uint64_t now_ms = woke_us / 1000u;

        read_plant(d, now_ms);
        if (!d->commissioned && d->in.plant.valid) {
            swapd_inventory_commission_late(d, &d->in.plant, now_ms);
            d->commissioned = true;
        }
        hear_drones(d, now_ms);
        d->in.inv.moves_committed_seq = persist_committed_seq(d->persist);
        swapd_inventory_fill(d, now_ms);
        d->in.inv.store_failed = persist_blocked(d->persist, NULL, 0);
        d->in.op = (struct station_operator_in){ .cmd = STATION_CMD_NONE, .op = STATION_OP_NONE };
        bool operator_cmd = d->op_pending;
        if (d->op_pending) {
            d->in.op = d->op;
            d->op_pending = false;
        } else if (autostart && !started && d->out.reconciled) {
            /* --start: reset then start, once, after reconciliation agreed. */
            if (d->out.state == ST_STOPPED)
                d->in.op.cmd = STATION_CMD_RESET;
            else if (d->out.state == ST_IDLE) {
                d->in.op.cmd = STATION_CMD_START;
                started = true;
            }
        }

        station_step(&d->core, &d->in, now_ms, &d->out);
        if (operator_cmd && d->in.op.cmd != STATION_CMD_NONE && !d->out.cmd_ok)
            /* the console answered from the state table; the core's own refusal (an alarm
             * still present, a step retried too often) is what the operator acts on */
            swapd_event(d, now_ms, REGISTRY_WARNING, "command", "%s", d->out.cmd_reason);

        swapd_persist_outputs(d, now_ms);
        if (d->in.plant.have_readback && d->core.image_adopted) {
            /* Nothing is written before the core has adopted the plant's own image, and
             * the outputs name the read-back they follow (a newer connection gets none). */
            struct plantlink_outputs po;
            memset(&po, 0, sizeof po);
            po.readback_seq = d->plant_status.readback_seq;
            po.pace_by_period = !d->out.plant_edge_awaited;
            plantio_encode(&d->out.plant, (unsigned)d->plant.n_slots, po.co, po.hr);
            plantlink_put_outputs(d->plantlink, &po);
        }
        talk_to_drones(d, now_ms);
        swapd_landqueue_save(d, now_ms);
        if (d->console) {
            swapd_console_tail_events(d);
            ctlsock_service(d->console, swapd_console_handle, d, 64);
        }
        if (d->console && now_ms >= next_sock_check_ms) {
            next_sock_check_ms = now_ms + SOCKET_CHECK_MS;
            check_socket(d, now_ms, &sock_lost);
        }
        if (now_ms - d->last_prune_ms >= (uint64_t)d->retention.prune_interval_s * 1000u) {
            /* retention: the worker deletes a small batch when it has nothing else to do */
            struct persist_job pj = { .kind = PERSIST_PRUNE, .t_ms = swapd_wall_ms(d, now_ms) };
            if (persist_submit(d->persist, &pj) == 0)
                d->last_prune_ms = now_ms;
        }
        persist_kick(d->persist);  /* what this scan produced: one transaction */
        swapd_observe_scan(d, now_ms);
        swapd_fleet_scan(d, now_ms);

        uint64_t done_us = mono_us();
        account_scan(d, deadline_us, woke_us, done_us, period_us);
        if (watchdog && done_us >= next_wd_us) {
            sd_notify(0, "WATCHDOG=1");
            next_wd_us = done_us + wd_usec / 2;
        }

        if (d->shell.scan_on_fresh_input) {
            deadline_us = wait_fresh_input(d, done_us, period_us);
            continue;
        }
        deadline_us += period_us;
        if (done_us > deadline_us + period_us) /* fell behind (e.g. stopped): skip, don't burst */
            deadline_us = done_us;
        struct timespec ts = { (time_t)(deadline_us / 1000000u), (long)(deadline_us % 1000000u) * 1000L };
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop_signal)
            ;
    }
    sd_notify(0, "STOPPING=1");
    swapd_event(d, mono_us() / 1000u, REGISTRY_INFO, "daemon", "stopping on signal %d", (int)stop_signal);
    return 0;
}

/* Waits (at start-up only) for the first process image, so packs seen for the first
 * time can be commissioned before the core reconciles. */
static bool first_image(struct swapd *d, int timeout_ms)
{
    uint64_t end = mono_us() / 1000u + (uint64_t)timeout_ms;
    while (!stop_signal && mono_us() / 1000u < end) {
        if (plantlink_get_inputs(d->plantlink, NULL, &d->plant_status) != 0) {
            read_plant(d, mono_us() / 1000u);
            return true;
        }
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return false;
}

/* The configuration reference (docs/configuration.md) from the key tables themselves. */
static void print_reference(void)
{
    printf("<!-- generated by `swapd --config-reference` from the key tables; do not edit -->\n"
           "# Configuration reference\n\n"
           "Every key, its type, default, unit and allowed range. A file may leave any key out\n"
           "(its default applies); an unknown section or key, a malformed value or a value out\n"
           "of range is refused at start with file:line and the reason (`swapd --check-config`).\n"
           "Integers are decimal (`020` is twenty); a line may be up to 65536 bytes.\n\n"
           "## swapd.ini\n\n### The daemon shell\n\n");
    cfg_write_markdown(stdout, shellcfg_keys, shellcfg_n_keys);
    printf("\n### The station core\n\n");
    cfg_write_markdown(stdout, station_cfg_keys, station_cfg_n_keys);
    printf("\n### Battery health and hand-out policy\n\n");
    cfg_write_markdown(stdout, health_policy_keys, health_policy_n_keys);
    printf("\n### The control socket\n\n");
    cfg_write_markdown(stdout, ctlsock_cfg_keys, ctlsock_n_cfg_keys);
    printf("\n### The HTTP endpoint (metrics and status page)\n\n");
    cfg_write_markdown(stdout, httpd_cfg_keys, httpd_n_cfg_keys);
    printf("\n### The fleet link (Sparkplug B over MQTT, docs/fleet.md)\n\n");
    cfg_write_markdown(stdout, fleetlink_cfg_keys, fleetlink_n_cfg_keys);
    printf("\n### Retention of the battery registry\n\n"
           "How long the registry keeps each kind of detail (0 = for ever); packs themselves are\n"
           "never deleted. Expired rows are deleted in small batches on the persistence thread,\n"
           "never on the scan, and the space is reused (docs/operator-guide.md, Storage).\n\n");
    cfg_write_markdown(stdout, registry_retention_keys, registry_retention_n_keys);
    printf("\n## plant.ini\n\nRead by swapsim (to simulate) and by swapd (deadlines, the on-pad lower bound).\n\n");
    cfg_write_markdown(stdout, plantcfg_keys, plantcfg_n_keys);
}

/* swapd --compact-db: a full VACUUM into the format of a new file, under swapd's lock. */
static int compact_db(const char *path)
{
    char err[512];
    if (swapd_lock_take(path, err, sizeof err) < 0) {
        bool running = errno == EWOULDBLOCK;
        fprintf(stderr, "swapd: --compact-db: %s\n", err);
        return running ? SWAPD_EXIT_RUNNING : 1;
    }
    struct registry_error rerr;
    struct registry *reg = registry_open(path, 0, &rerr);
    if (!reg) {
        fprintf(stderr, "swapd: --compact-db: %s\n", rerr.msg);
        return 1;
    }
    struct registry_storage_info a, b;
    int rc = registry_compact(reg, &b, &a);
    if (rc != 0)
        fprintf(stderr, "swapd: --compact-db: %s: %s\n", path, registry_last_error(reg));
    else
        printf("swapd: %s compacted: %.1f MB (%.1f MB free, %d-byte pages, %s auto-vacuum) -> %.1f MB"
               " (%d-byte pages, incremental auto-vacuum)\n", path, b.bytes / 1e6, b.free_bytes / 1e6,
               b.page_size, b.incremental_vacuum ? "incremental" : "no", a.bytes / 1e6, a.page_size);
    registry_close(reg);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    static struct swapd d;
    struct options o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    if (o.reference) {
        print_reference();
        return 0;
    }
    if (o.metrics_reference) {
        httpd_metrics_write_markdown(stdout);
        return 0;
    }
    if (load_config(&d, &o) != 0)
        return 2;
    static struct plantmap plant_map;
    char perr[512];
    if (shellcfg_plant_plan(&d.shell, (unsigned)d.plant.n_slots, &plant_map, o.print_plan ? stdout : NULL, perr,
                            sizeof perr) != 0) {
        fprintf(stderr, "swapd: %s\n", perr);
        return 2;
    }
    if (o.print_plan)
        return 0;
    /* RS-485 mode on a port without it would fail at every connect; refuse it up front.
     * A device that is not there yet (a USB adapter still to come) is left to the link. */
    if (d.shell.plant_transport == 1 && d.shell.plant_rs485 &&
        plantio_modbus_rs485_probe(d.shell.plant_device, perr, sizeof perr) < 0) {
        fprintf(stderr, "swapd: [plant_link] rs485 = true: %s\n", perr);
        return 2;
    }
    if (o.check_only) {
        printf("swapd: configuration ok (%s, %s)\n", o.config, o.plant_config);
        return 0;
    }
    if (o.compact_db)
        return compact_db(d.shell.db_path);
    setvbuf(stderr, NULL, _IOLBF, 0);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    d.mono_start_ms = mono_us() / 1000u;
    d.wall_start_ms = wall_ms_now();
    d.boot_last_step = -1;
    char err[512];

    /* Before the database, the plant or the drones are touched; held until exit. */
    if (swapd_lock_take(d.shell.db_path, err, sizeof err) < 0) {
        bool running = errno == EWOULDBLOCK;
        fprintf(stderr, "swapd: %s\n", err);
        return running ? SWAPD_EXIT_RUNNING : 1;
    }
    int plant_lock = d.shell.plant_transport == 1
                         ? swapd_lock_endpoint("plant", d.shell.plant_device, err, sizeof err)
                         : swapd_lock_plant(d.shell.plant_host, d.shell.plant_port, err, sizeof err);
    if (plant_lock < 0 || swapd_lock_drone_link(d.shell.drone_endpoint, err, sizeof err) < 0) {
        bool running = errno == EADDRINUSE;
        fprintf(stderr, "swapd: %s\n", err);
        return running ? SWAPD_EXIT_RUNNING : 1;
    }

    struct registry_error rerr;
    struct registry *reg = registry_open(d.shell.db_path, REGISTRY_OPEN_CREATE, &rerr);
    if (!reg) {
        fprintf(stderr, "swapd: %s\n", rerr.msg);
        return 1;
    }
    if (swapd_inventory_load(&d, reg, err, sizeof err) != 0) {
        fprintf(stderr, "swapd: %s\n", err);
        registry_close(reg);
        return 1;
    }

    struct plantlink_config pcfg;
    shellcfg_plant_link(&d.shell, (unsigned)d.plant.n_slots, &plant_map, &pcfg);
    d.plantlink = plantlink_start(&pcfg, err, sizeof err);
    if (!d.plantlink) {
        fprintf(stderr, "swapd: %s\n", err);
        registry_close(reg);
        return 1;
    }

    uint8_t key[32];
    bool have_key = d.shell.drone_key_hex[0] && mav_key_from_hex(d.shell.drone_key_hex, key) == 0;
    dronelink_init(&d.drones, (uint8_t)d.shell.station_sysid, have_key ? key : NULL,
                   d.shell.drone_require_signing, d.shell.drone_allow, err, sizeof err);
    d.link = link_open(d.shell.drone_endpoint, err, sizeof err);
    if (!d.link)
        fprintf(stderr, "<4>swapd: drone link %s: %s (no drones will be served)\n", d.shell.drone_endpoint, err);
    swapd_landqueue_restore(&d, reg, mono_us() / 1000u);

    struct ctlsock_err cerr;
    d.console = ctlsock_open_cfg(&d.control, &d.auth, &cerr);
    if (!d.console) {
        fprintf(stderr, "swapd: control socket: %s\n", cerr.msg);
        plantlink_stop(d.plantlink);
        link_close(d.link);
        registry_close(reg);
        return 1;
    }

    station_init(&d.core, &d.station_cfg, &d.plant, mono_us() / 1000u);
    station_inputs_init(&d.in);

    if (first_image(&d, 2000)) {
        swapd_inventory_boot(&d, reg, wall_ms_now());
    } else {
        fprintf(stderr, "<4>swapd: no process image from %s:%d yet (%s); holding until the plant answers\n",
                d.shell.plant_host, d.shell.plant_port, d.plant_status.last_error);
    }

    struct registry_error rerr2;
    d.reader = registry_open(d.shell.db_path, REGISTRY_OPEN_READONLY, &rerr2);
    if (d.reader)
        d.event_tail_id = registry_last_event_id(d.reader);
    else
        fprintf(stderr, "<4>swapd: registry reader: %s (events from this run only)\n", rerr2.msg);
    d.persist = persist_start(reg, err, sizeof err);
    if (!d.persist) {
        fprintf(stderr, "swapd: %s\n", err);
        return 1;
    }
    if (swapd_fleet_start(&d, err, sizeof err) != 0)
        fprintf(stderr, "<3>swapd: fleet link: %s (the station runs without the fleet)\n", err);
    persist_set_retention(d.persist, &d.retention, d.retention.prune_batch_rows);
    if (d.reader)
        persist_follow_events(d.persist, d.event_tail_id);
    swapd_event(&d, mono_us() / 1000u, REGISTRY_INFO, "daemon",
                "started: plant %s:%d, drones %s, %d packs in the working set (%d retired in the registry), scan %d ms",
                d.shell.plant_host, d.shell.plant_port, d.link ? link_describe(d.link) : "(none)", d.n_packs,
                d.n_retired, d.shell.scan_period_ms);

    if (swapd_observe_start(&d, err, sizeof err) != 0)
        fprintf(stderr, "<3>swapd: http: %s (no metrics or status page)\n", err);
    int rc = run(&d, o.autostart);
    swapd_observe_stop(&d);

    ctlsock_close(d.console);
    d.console = NULL;
    plantlink_stop(d.plantlink);
    link_close(d.link);
    swapd_fleet_stop(&d);
    unsigned long commits = 0, pruned = 0;
    persist_counts(d.persist, &commits, &pruned);
    persist_stop(d.persist);
    d.persist = NULL;
    fprintf(stderr, "<6>swapd: registry: %lu transactions, %lu expired rows pruned\n", commits, pruned);
    registry_close(d.reader);
    free(d.packs);
    fprintf(stderr, "<6>swapd: stopped after %llu scans (max lateness %lld us, max scan %lld us, %llu overruns)\n",
            (unsigned long long)d.stats.scans, (long long)d.stats.jitter_us_max,
            (long long)d.stats.scan_us_max, (unsigned long long)d.stats.overruns);
    return rc;
}
