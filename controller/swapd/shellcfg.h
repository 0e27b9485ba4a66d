/* The daemon shell's own settings (sections [scan], [plant_link], [drone_link],
 * [database], [simulation] of swapd.ini): where the plant and the drones are, how often to scan. */
#ifndef SWAP_SWAPD_SHELLCFG_H
#define SWAP_SWAPD_SHELLCFG_H

#include <stdbool.h>
#include <stddef.h>

#include "config/cfg.h"

struct shellcfg {
    int scan_period_ms;
    int overrun_warn_pct;
    char plant_host[128];
    int plant_port;
    int plant_unit_id;
    int plant_period_ms;
    int plant_timeout_ms;
    int plant_backoff_min_ms, plant_backoff_max_ms;
    char drone_endpoint[256];
    char drone_key_hex[65];
    bool drone_require_signing;
    char drone_allow[256];      /* comma-separated system ids; empty = any */
    int station_sysid;
    char db_path[256];
    double sim_time_scale;      /* battery time per wall time (simulators only; 1: real) */
};

extern const struct cfg_key shellcfg_keys[];
extern const size_t shellcfg_n_keys;

#endif
