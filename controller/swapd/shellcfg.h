/* The daemon shell's own settings (sections [scan], [plant_link], [drone_link],
 * [database], [simulation] of swapd.ini): where the plant and the drones are, how often to scan. */
#ifndef SWAP_SWAPD_SHELLCFG_H
#define SWAP_SWAPD_SHELLCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/cfg.h"

struct shellcfg {
    int scan_period_ms;
    bool scan_on_fresh_input;   /* scan on a fresh image / frame / command, not a fixed clock */
    int overrun_warn_pct;
    char plant_host[128];
    int plant_port;
    int plant_unit_id;
    int plant_period_ms;
    int plant_fresh_gap_ms;
    int plant_timeout_ms;
    int plant_backoff_min_ms, plant_backoff_max_ms;
    int plant_transport;        /* 0 tcp, 1 rtu */
    char plant_device[128];
    int plant_baud, plant_parity, plant_data_bits, plant_stop_bits; /* parity: 0 none, 1 even, 2 odd */
    bool plant_rs485;
    int plant_byte_timeout_ms;
    char plant_map[256];        /* plant map file; empty = the compiled default map */
    int plant_slow_period_ms, plant_refresh_ms, plant_request_us;
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

struct plantmap;
struct plantlink_config;

/* Loads the plant map [plant_link] map names (the compiled default when empty) into map
 * and checks its scan plan for n_slots slots against the link and [plant_link] period_ms.
 * With print, writes the plan (requests, bytes, time at the link's speed) there. Returns
 * 0; or -1 with err set: a broken map (file:line), or a fast loop that does not fit the
 * period (naming the period that would). On success the caller frees map. */
int shellcfg_plant_plan(const struct shellcfg *sh, unsigned n_slots, struct plantmap *map, FILE *print, char *err,
                        size_t errsize);

/* The plant link's configuration from the settings (map: as loaded above). */
void shellcfg_plant_link(const struct shellcfg *sh, unsigned n_slots, const struct plantmap *map,
                         struct plantlink_config *pcfg);

#endif
