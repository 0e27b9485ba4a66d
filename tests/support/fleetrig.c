/* A broker and the fleet host for tests; see fleetrig.h. */
#include "fleetrig.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

static int fail(struct fleetrig *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct fleetrig *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int fleetrig_restart_broker(struct fleetrig *f)
{
    char *argv[] = { "mosquitto", "-c", f->conf, NULL };
    const char *bin = access("/usr/sbin/mosquitto", X_OK) == 0 ? "/usr/sbin/mosquitto" : "mosquitto";
    argv[0] = (char *)bin;
    f->broker = proc_spawn(argv, f->broker_log);
    if (proc_wait_tcp(f->port, f->broker, 10000) != 0)
        return fail(f, "mosquitto did not come up on port %d (see %s)", f->port, f->broker_log);
    return 0;
}

int fleetrig_start_broker(struct fleetrig *f, const char *extra_conf)
{
    if (proc_mkdtemp(f->dir, sizeof f->dir, "swap-fleet") != 0)
        return fail(f, "cannot make a scratch directory");
    snprintf(f->conf, sizeof f->conf, "%s/mosquitto.conf", f->dir);
    snprintf(f->state, sizeof f->state, "%s/fleet-state.json", f->dir);
    snprintf(f->host_log, sizeof f->host_log, "%s/swapfleet.log", f->dir);
    snprintf(f->broker_log, sizeof f->broker_log, "%s/mosquitto.log", f->dir);
    f->port = free_port();
    FILE *c = fopen(f->conf, "w");
    if (!c || f->port <= 0)
        return fail(f, "cannot write %s", f->conf);
    fprintf(c, "listener %d 127.0.0.1\npersistence false\n%s\n", f->port,
            extra_conf ? extra_conf : "allow_anonymous true");
    fclose(c);
    return fleetrig_restart_broker(f);
}

void fleetrig_kill_broker(struct fleetrig *f)
{
    if (f->broker > 0)
        proc_kill_wait(f->broker, SIGKILL);
    f->broker = 0;
}

int fleetrig_start_host(struct fleetrig *f)
{
    char bin[512], broker[64];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", f->port);
    if (!f->host_id[0])
        snprintf(f->host_id, sizeof f->host_id, "fleethost");
    char *argv[] = { (char *)proc_bin("swapfleet", bin, sizeof bin), "--broker", broker, "--group", "test",
                     "--host-id", f->host_id, "--state", f->state, "serve", NULL, NULL, NULL, NULL, NULL };
    if (f->host_user[0]) {
        argv[9] = "--username";
        argv[10] = f->host_user;
        argv[11] = "--password";
        argv[12] = f->password;
        argv[13] = "serve";
    }
    f->host = proc_spawn(argv, f->host_log);
    if (proc_wait_text(f->host_log, "online", f->host, 10000) != 0)
        return fail(f, "swapfleet serve did not come up (see %s)", f->host_log);
    return 0;
}

int fleetrig_station_config(const struct fleetrig *f, const struct rig *r, const char *node_id, char *out, size_t size)
{
    snprintf(out, size, "%s/swapd-fleet.ini", r->dir);
    FILE *c = fopen(out, "w");
    if (!c)
        return -1;
    fprintf(c,
            "[eligibility]\nmin_rest_after_charge_s = 0\n\n"
            /* a loaded machine must not make the plant link look lost: these stations
             * test the fleet link */
            "[station]\ncomm_loss_ms = 3000\n\n[plant_link]\ntimeout_ms = 1000\n\n"
            "[fleet]\nenabled = true\nhost = 127.0.0.1\nport = %d\ngroup_id = test\nedge_node_id = %s\n"
            "primary_host_id = %s\nspool_path = %s/fleet-spool.db\nbackoff_min_ms = 50\n"
            "backoff_max_ms = 400\npublish_period_ms = 50\nkeepalive_s = 5\n",
            f->port, node_id, f->host_id[0] ? f->host_id : "fleethost", r->dir);
    if (f->password[0])
        fprintf(c, "username = %s\npassword = %s\n", node_id, f->password);
    fclose(c);
    return 0;
}

json_t *fleetrig_station(struct fleetrig *f, const char *node_id)
{
    json_error_t err;
    json_t *j = json_load_file(f->state, 0, &err);
    json_t *s = json_incref(json_object_get(json_object_get(j, "stations"), node_id));
    json_decref(j);
    return s;
}

int fleetrig_swapfleet(struct fleetrig *f, char *out, size_t size, const char *const *args)
{
    char bin[512], broker[64], cmd[2048];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", f->port);
    int n = snprintf(cmd, sizeof cmd, "%s --broker %s --group test --state %s", proc_bin("swapfleet", bin, sizeof bin),
                     broker, f->state);
    for (int i = 0; args[i]; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " '%s'", args[i]);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " 2>&1");
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    out[0] = 0;
    size_t used = 0;
    while (used + 1 < size && fgets(out + used, (int)(size - used), p))
        used = strlen(out);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void fleetrig_stop(struct fleetrig *f)
{
    if (f->host > 0)
        proc_stop(f->host, 5000);
    if (f->broker > 0)
        proc_stop(f->broker, 5000);
    f->host = f->broker = 0;
    if (f->dir[0])
        proc_rmtree(f->dir);
}
