/* The pad as dronesim feels it: a client of swapsim's control socket (newline-delimited
 * JSON: drone_land, drone_takeoff, drone_battery, drone_load), or, without swapsim, a
 * stand-alone pad that accepts the drone and never swaps its pack (for link tests).
 * Either way it is a struct sim_drone_pad for the drone model.
 */
#ifndef SWAP_DRONESIM_PADSOCK_H
#define SWAP_DRONESIM_PADSOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "drone/drone.h"

struct padsock {
    char path[108];              /* empty: stand-alone pad */
    int fd;
    int timeout_ms;              /* per request */
    char rx[65536];
    size_t rx_len;
    /* stand-alone pad */
    bool present;
    bool has;
    struct sim_battery bay;
    unsigned errors;
    char last_error[256];
};

/* Prepares a pad on swapsim's control socket at path (connected lazily, and again after
 * a failure), or the stand-alone pad when path is NULL or empty. */
void padsock_init(struct padsock *p, const char *path, int timeout_ms);

/* Connects now; returns 0, or -1 with the reason in p->last_error. */
int padsock_connect(struct padsock *p);

/* The pad interface for sim_drone_init, bound to p. */
struct sim_drone_pad padsock_pad(struct padsock *p);

void padsock_close(struct padsock *p);

#endif
