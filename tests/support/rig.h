/* Test support: a whole station as real processes — swapsim (Modbus TCP), dronesim
 * (MAVLink over a pseudo-terminal) and swapd — in a scratch directory, started by pid,
 * waited on by probing, and stopped by pid; plus one-line JSON requests to their
 * control sockets. Used by the end-to-end tests and the station benchmark. */
#ifndef SWAP_TEST_RIG_H
#define SWAP_TEST_RIG_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#define RIG_PATH 320

struct rig {
    char dir[256];
    const char *speed;          /* plant and drone time per wall time, e.g. "3" */
    pid_t sim, drones, swapd;
    long port;
    char sim_sock[RIG_PATH], swapd_sock[RIG_PATH], pty[RIG_PATH], db[RIG_PATH];
    char cmdlog[RIG_PATH], ptyfile[RIG_PATH], swapd_log[RIG_PATH];
    bool plant_state;           /* set before rig_start_sim: swapsim --state (rig_restart_sim) */
    bool keep;                  /* rig_stop_all keeps the directory and its logs */
    const char *drone_sensor;   /* set before rig_start_drones: dronesim --battery-sensor */
    const char *battery_scale;  /* set before rig_start_sim: swapsim --battery-time-scale */
    const char *drone_battery_scale; /* before rig_start_drones: dronesim's (NULL: 1) */
    const char *plant_config;   /* set before rig_start_sim: plant.ini of every process
                                 * (NULL: the repository's configs/plant.ini) */
    /* the plant behind a map and a link (set before rig_start_sim) */
    const char *plant_map;      /* swapsim --map (a path; NULL: the built-in layout) */
    int plant_unit;             /* swapsim --unit (0: 1) */
    const char *rtu_baud;       /* non-NULL: swapsim serves Modbus RTU at this baud on a
                                 * socat pty pair, replies paced to the line (--rtu-pace);
                                 * swapd's end is pty_pc; r->port is then unused */
    char pty_plc[RIG_PATH], pty_pc[RIG_PATH];
    pid_t socat;
    char state[RIG_PATH];
    char err[512];              /* why the last rig_* call failed */
};

/* Points SWAP_CONFIGS at a scratch copy of plant.ini whose watchdog tolerates a
 * controller the scheduler stalls for a while (10 s plant time, 2 s wall at RTF 5, where
 * the shipped 300 ms would be 60 ms), for tests of the drone link, not of the watchdog,
 * on a shared, loaded host. Returns 0 or -1. */
int rig_tolerant_plant(void);
/* Creates the scratch directory and starts swapsim with a charged magazine. */
int rig_start_sim(struct rig *r, const char *speed);
/* Kills swapsim with SIGKILL and starts it again on the same port, control socket and
 * state file (needs plant_state): the physical plant survives, its PLC restarts. */
int rig_restart_sim(struct rig *r);
/* Starts n drones on a new pty, flying flight_s before they come back. */
int rig_start_drones(struct rig *r, const char *n, const char *flight_s);
/* The same with a dronesim --misbehave SPEC (NULL: none). */
int rig_start_drones_mis(struct rig *r, const char *n, const char *flight_s, const char *misbehave);
/* The same with further dronesim options (a NULL-terminated list, at most 32): they come
 * after the rig's own, so they override them (e.g. "--soc", "1.0"). */
int rig_start_drones_args(struct rig *r, const char *n, const char *flight_s, const char *const *extra);
/* A null-modem pair of ptys from socat in the rig's directory: plc (the plant's end)
 * and pc (the controller's end), RIG_PATH each. Returns socat's pid (stop it with
 * proc_stop), or -1 with r->err set. */
pid_t rig_start_pty_pair(struct rig *r, char *plc, char *pc);
/* Starts swapd on the rig's plant and drones with config (a path relative to the
 * source tree, or an absolute path); autostart resets and starts the station once it
 * has reconciled. */
int rig_start_swapd(struct rig *r, const char *config, bool autostart);
/* Stops what is running (swapd, drones, plant) by pid and removes the directory.
 * Returns 0 when each exited cleanly (status 0: no sanitizer report, no crash), else -1
 * with r->err naming the first that did not (its log is then kept). */
int rig_stop_all(struct rig *r);

/* One request line on a newline-JSON Unix socket; the parsed reply or NULL. */
json_t *rig_request(const char *sock, const char *line, int timeout_ms);
json_t *rig_swapd(struct rig *r, const char *line);
json_t *rig_sim(struct rig *r, const char *line);
/* swapd's status result (new reference) or NULL; its "swaps" count or -1. */
json_t *rig_status(struct rig *r);
long long rig_swaps(struct rig *r);
/* Polls until swapd reports at least n swaps; false on timeout or if swapd died. */
bool rig_wait_swaps(struct rig *r, long long n, int timeout_ms);

#endif
