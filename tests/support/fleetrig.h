/* Test support for the fleet: a real mosquitto broker on a free port in a scratch
 * directory, stations (rig.h) configured as Sparkplug B edge nodes, and the swapfleet
 * host application; all started by pid, waited on by probing, stopped by pid. */
#ifndef SWAP_TEST_FLEETRIG_H
#define SWAP_TEST_FLEETRIG_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "rig.h"

struct fleetrig {
    char dir[256];
    int port;
    pid_t broker, host;
    char conf[RIG_PATH], state[RIG_PATH], host_log[RIG_PATH], broker_log[RIG_PATH];
    char err[512];
    /* optional, set before starting: the host's id (default "fleethost"), the user the
     * host logs in as, and the password of every user (stations log in as their id) */
    char host_id[64], host_user[64], password[64];
};

/* Creates the scratch directory and starts mosquitto on a free 127.0.0.1 port with
 * extra_conf appended to a minimal configuration (NULL: anonymous clients allowed). */
int fleetrig_start_broker(struct fleetrig *f, const char *extra_conf);
/* Starts the broker again on the same port (after fleetrig_kill_broker). */
int fleetrig_restart_broker(struct fleetrig *f);
void fleetrig_kill_broker(struct fleetrig *f);
/* Starts `swapfleet serve` (group "test"). */
int fleetrig_start_host(struct fleetrig *f);
/* Writes a swapd.ini for station node_id into the rig's directory (path into out). */
int fleetrig_station_config(const struct fleetrig *f, const struct rig *r, const char *node_id, char *out, size_t size);
/* The host's record of a station (new reference) or NULL. */
json_t *fleetrig_station(struct fleetrig *f, const char *node_id);
/* Runs swapfleet with args (NULL-terminated) against the broker; its exit status, the
 * first line of its output in out. */
int fleetrig_swapfleet(struct fleetrig *f, char *out, size_t size, const char *const *args);
void fleetrig_stop(struct fleetrig *f);

#endif
