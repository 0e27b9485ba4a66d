/* A whole station as real processes, for tests and benchmarks; see rig.h. */
#include "rig.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

static int fail(struct rig *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct rig *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    return -1;
}

static void path(char *out, const struct rig *r, const char *name)
{
    snprintf(out, RIG_PATH, "%s/%s", r->dir, name);
}

json_t *rig_request(const char *sock, const char *line, int timeout_ms)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return NULL;
    }
    size_t len = strlen(line);
    if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 16, have = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (have + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
        ssize_t n = read(fd, buf + have, cap - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        if (memchr(buf + have - (size_t)n, '\n', (size_t)n))
            break;
    }
    close(fd);
    if (!buf)
        return NULL;
    buf[have] = 0;
    json_error_t err;
    json_t *j = json_loads(buf, JSON_DISABLE_EOF_CHECK, &err);
    free(buf);
    return j;
}

json_t *rig_swapd(struct rig *r, const char *line) { return rig_request(r->swapd_sock, line, 3000); }
json_t *rig_sim(struct rig *r, const char *line) { return rig_request(r->sim_sock, line, 3000); }

/* The plant configuration every process of the rig reads. */
static const char *plant_ini(const struct rig *r, char *buf, size_t size)
{
    return r->plant_config ? r->plant_config : proc_config("plant.ini", buf, size);
}

static int spawn_sim(struct rig *r, const char *port)
{
    char bin[512], cfg[512], portfile[RIG_PATH], log[RIG_PATH], unit[16];
    path(portfile, r, "port");
    path(log, r, "swapsim.log");
    unlink(portfile);
    snprintf(unit, sizeof unit, "%d", r->plant_unit > 0 ? r->plant_unit : 1);
    char *argv[32] = { (char *)proc_bin("swapsim", bin, sizeof bin), "--config", (char *)plant_ini(r, cfg, sizeof cfg),
                       "--control", r->sim_sock, "--seed", "7", "--realtime-factor", (char *)r->speed,
                       "--log-commands", r->cmdlog, "--unit", unit };
    size_t k = 0;
    while (argv[k])
        k++;
    if (r->rtu_baud) {
        argv[k++] = "--rtu";
        argv[k++] = r->pty_plc;
        argv[k++] = "--baud";
        argv[k++] = (char *)r->rtu_baud;
        argv[k++] = "--rtu-pace";   /* a pty is instant: each reply takes the line's time */
    } else {
        argv[k++] = "--port";
        argv[k++] = (char *)port;
        argv[k++] = "--port-file";
        argv[k++] = portfile;
    }
    if (r->plant_map) {
        argv[k++] = "--map";
        argv[k++] = (char *)r->plant_map;
    }
    if (r->battery_scale) {
        argv[k++] = "--battery-time-scale";
        argv[k++] = (char *)r->battery_scale;
    }
    if (r->plant_state) {
        argv[k++] = "--state";
        argv[k++] = r->state;
    }
    r->sim = proc_spawn(argv, log);
    if ((!r->rtu_baud && proc_wait_number(portfile, &r->port, r->sim, 10000) != 0) ||
        proc_wait_path(r->sim_sock, r->sim, 10000) != 0)
        return fail(r, "swapsim did not come up (see %s)", log);
    if (r->rtu_baud)
        r->port = 1;
    return 0;
}

int rig_restart_sim(struct rig *r)
{
    if (!r->plant_state)
        return fail(r, "rig_restart_sim needs plant_state");
    proc_kill_wait(r->sim, SIGKILL);
    r->sim = 0;
    char port[16];
    snprintf(port, sizeof port, "%ld", r->port);
    return spawn_sim(r, port);
}

int rig_tolerant_plant(void)
{
    static char dir[256];
    char src[512], line[512], file[320];
    if (proc_mkdtemp(dir, sizeof dir, "swap-rig-cfg") != 0)
        return -1;
    FILE *in = fopen(proc_config("plant.ini", src, sizeof src), "r");
    snprintf(file, sizeof file, "%s/plant.ini", dir);
    FILE *out = in ? fopen(file, "w") : NULL;
    if (!out) {
        if (in)
            fclose(in);
        return -1;
    }
    while (fgets(line, sizeof line, in))
        fputs(!strncmp(line, "watchdog_ms", 11) ? "watchdog_ms = 10000\n" : line, out);
    fclose(in);
    if (fclose(out) != 0)
        return -1;
    return setenv("SWAP_CONFIGS", dir, 1);
}

int rig_start_sim(struct rig *r, const char *speed)
{
    r->speed = speed;
    if (proc_mkdtemp(r->dir, sizeof r->dir, "swap-rig") != 0)
        return fail(r, "cannot make a scratch directory");
    path(r->sim_sock, r, "sim.sock");
    path(r->swapd_sock, r, "swapd.sock");
    path(r->db, r, "swapd.db");
    path(r->cmdlog, r, "commands.log");
    path(r->ptyfile, r, "pty");
    path(r->swapd_log, r, "swapd.log");
    path(r->state, r, "plant.state");
    if (r->rtu_baud && (r->socat = rig_start_pty_pair(r, r->pty_plc, r->pty_pc)) <= 0)
        return -1;
    if (spawn_sim(r, "0") != 0)
        return -1;
    /* Charged packs in every slot, so the first swap need not wait for a charge. */
    for (unsigned s = 0; s < 8; s++) {
        char line[128];
        snprintf(line, sizeof line, "{\"cmd\":\"set_battery\",\"tag\":%u,\"soc\":1.0}", 0x5A000001u + s);
        json_t *rep = rig_sim(r, line);
        bool ok = rep && json_is_true(json_object_get(rep, "ok"));
        json_decref(rep);
        if (!ok)
            return fail(r, "set_battery %u failed", s);
    }
    return 0;
}

int rig_start_drones(struct rig *r, const char *n, const char *flight_s)
{
    return rig_start_drones_mis(r, n, flight_s, NULL);
}

int rig_start_drones_mis(struct rig *r, const char *n, const char *flight_s, const char *misbehave)
{
    const char *extra[] = { misbehave ? "--misbehave" : NULL, misbehave, NULL };
    return rig_start_drones_args(r, n, flight_s, extra);
}

int rig_start_drones_args(struct rig *r, const char *n, const char *flight_s, const char *const *extra)
{
    char bin[512], cfg[512], log[RIG_PATH];
    path(log, r, "dronesim.log");
    char *argv[64] = { (char *)proc_bin("dronesim", bin, sizeof bin), "--link", "pty:new", "--link-file",
                       r->ptyfile, "--swapsim-control", r->sim_sock, "--drones", (char *)n, "--soc", "0.4",
                       "--flight-s", (char *)flight_s, "--return-s", "1", "--time-scale", (char *)r->speed,
                       "--seed", "3", "--plant-config", (char *)plant_ini(r, cfg, sizeof cfg) };
    size_t k = 0;
    while (argv[k])
        k++;
    if (r->drone_sensor) {
        argv[k++] = "--battery-sensor";
        argv[k++] = (char *)r->drone_sensor;
    }
    if (r->drone_battery_scale) {
        argv[k++] = "--battery-time-scale";
        argv[k++] = (char *)r->drone_battery_scale;
    }
    for (size_t i = 0; extra && extra[i] && k < sizeof argv / sizeof argv[0] - 1; i++)
        argv[k++] = (char *)extra[i];
    argv[k] = NULL;
    r->drones = proc_spawn(argv, log);
    if (proc_wait_path(r->ptyfile, r->drones, 10000) != 0)
        return fail(r, "dronesim did not come up (see %s)", log);
    /* The link file is written whole (renamed into place), so one read suffices. */
    FILE *f = fopen(r->ptyfile, "r");
    if (!f || !fgets(r->pty, sizeof r->pty, f)) {
        if (f)
            fclose(f);
        return fail(r, "dronesim wrote no pty path");
    }
    fclose(f);
    r->pty[strcspn(r->pty, "\n")] = 0;
    return 0;
}

pid_t rig_start_pty_pair(struct rig *r, char *plc, char *pc)
{
    char a[RIG_PATH + 40], b[RIG_PATH + 40], log[RIG_PATH + 16];
    snprintf(plc, RIG_PATH, "%s/plc", r->dir);
    snprintf(pc, RIG_PATH, "%s/pc", r->dir);
    snprintf(log, sizeof log, "%s/socat.log", r->dir);
    snprintf(a, sizeof a, "pty,raw,echo=0,link=%s", plc);
    snprintf(b, sizeof b, "pty,raw,echo=0,link=%s", pc);
    char *argv[] = { "/usr/bin/socat", a, b, NULL };
    pid_t pid = proc_spawn(argv, log);
    if (pid <= 0)
        return fail(r, "cannot start socat");
    if (proc_wait_path(plc, pid, 10000) != 0 || proc_wait_path(pc, pid, 10000) != 0) {
        proc_stop(pid, 5000);
        return fail(r, "socat made no pty pair (see %s)", log);
    }
    return pid;
}

int rig_start_swapd(struct rig *r, const char *config, bool autostart)
{
    char bin[512], plant[512], cfg[600], plantarg[64], link[RIG_PATH + 8];
    const char *src = getenv("SWAP_SRC");
    if (config[0] == '/')  /* a file the test wrote into its scratch directory */
        snprintf(cfg, sizeof cfg, "%s", config);
    else
        snprintf(cfg, sizeof cfg, "%s/%s", src && *src ? src : ".", config);
    snprintf(plantarg, sizeof plantarg, "127.0.0.1:%ld", r->port);
    snprintf(link, sizeof link, "pty:%s", r->pty);
    char *argv[] = { (char *)proc_bin("swapd", bin, sizeof bin), "--config", cfg, "--plant-config",
                     (char *)plant_ini(r, plant, sizeof plant), "--db", r->db, "--control",
                     r->swapd_sock, "--plant", plantarg, "--link", link, autostart ? "--start" : NULL, NULL };
    unlink(r->swapd_sock);
    r->swapd = proc_spawn(argv, r->swapd_log);
    if (proc_wait_path(r->swapd_sock, r->swapd, 10000) != 0)
        return fail(r, "swapd did not come up (see %s)", r->swapd_log);
    return 0;
}

int rig_stop_all(struct rig *r)
{
    struct {
        const char *name;
        pid_t *pid;
    } procs[] = { { "swapd", &r->swapd }, { "dronesim", &r->drones }, { "swapsim", &r->sim } };
    int rc = 0;
    for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++) {
        if (*procs[i].pid <= 0)
            continue;
        int st = proc_stop(*procs[i].pid, 5000);
        *procs[i].pid = 0;
        if (st != 0 && rc == 0)
            rc = fail(r, "%s exited with status 0x%x after SIGTERM (logs kept in %s)", procs[i].name, st, r->dir);
    }
    if (r->socat > 0)
        proc_stop(r->socat, 5000);   /* its exit status after SIGTERM says nothing */
    r->socat = 0;
    if (rc == 0 && r->dir[0] && !r->keep)
        proc_rmtree(r->dir);
    return rc;
}

json_t *rig_status(struct rig *r)
{
    json_t *rep = rig_swapd(r, "{\"cmd\":\"status\"}");
    json_t *res = rep ? json_incref(json_object_get(rep, "result")) : NULL;
    json_decref(rep);
    return res;
}

long long rig_swaps(struct rig *r)
{
    json_t *s = rig_status(r);
    long long n = s && json_object_get(s, "swaps") ? json_integer_value(json_object_get(s, "swaps")) : -1;
    json_decref(s);
    return n;
}

bool rig_wait_swaps(struct rig *r, long long n, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    while (proc_now_ms() < end) {
        if (rig_swaps(r) >= n)
            return true;
        if (!proc_alive(r->swapd)) {
            fail(r, "swapd died (see %s)", r->swapd_log);
            return false;
        }
        proc_nap_ms(50);
    }
    fail(r, "fewer than %lld swaps in %d ms", n, timeout_ms);
    return false;
}
