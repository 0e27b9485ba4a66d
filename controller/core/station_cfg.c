/* The station core's settings table (swapd.ini); see station.h. */
#include "core/station.h"

#include <string.h>

static const char *const sequence_names[] = { "pipelined", "naive", NULL };

#define S struct station_cfg
const struct cfg_key station_cfg_keys[] = {
    CFG_I("station", "comm_loss_ms", S, comm_loss_ms, 10, 10000, "100", "ms", "Plant image older than this is a comm loss (Held)"),
    CFG_I("station", "plant_echo_timeout_ms", S, plant_echo_timeout_ms, 20, 10000, "300", "ms", "The plant's heartbeat echo must follow ours within this, else its image is frozen (Held)"),
    CFG_I("station", "heartbeat_ms", S, heartbeat_ms, 5, 1000, "50", "ms", "Longest gap between core steps; keep well below the plant watchdog"),
    CFG_I("station", "swaps_per_run", S, swaps_per_run, 0, 1000000, "0", "swaps", "Completing after this many swaps; 0 = run continuously"),
    CFG_E("station", "sequence", S, sequence, sequence_names, "pipelined", "Swap order: pipelined (fetch before touchdown) or naive (baseline)"),
    CFG_B("station", "prestage", S, prestage, "true", "Pipelined: fetch a charged pack into gripper B and wait at standby before a drone asks"),
    CFG_D("deadlines", "margin", S, deadline_margin, 1.0, 10.0, "1.5", "x", "Step deadline = nominal time from plant.ini x margin + extra_ms"),
    CFG_I("deadlines", "extra_ms", S, deadline_extra_ms, 0, 60000, "300", "ms", "Added to every step deadline (scan and link delays)"),
    CFG_I("deadlines", "commit_timeout_ms", S, commit_timeout_ms, 10, 60000, "2000", "ms", "A battery move must be committed to the registry within this"),
    CFG_I("deadlines", "reset_pulse_ms", S, reset_pulse_ms, 10, 5000, "200", "ms", "Length of the fault-reset coil pulse"),
    CFG_I("deadlines", "reset_timeout_ms", S, reset_timeout_ms, 100, 60000, "5000", "ms", "Resetting, Unholding and Clearing give up after this"),
    CFG_I("deadlines", "step_retries", S, step_retries, 0, 100, "3", "", "How often Unhold may restart the same step"),
    CFG_I("pad", "drone_heartbeat_timeout_ms", S, drone_heartbeat_timeout_ms, 100, 60000, "1500", "ms", "A drone heartbeat older than this is stale and counts as armed"),
    CFG_I("pad", "disarm_wait_ms", S, disarm_wait_ms, 100, 600000, "5000", "ms", "How long to wait for a fresh 'disarmed' before entering the pad zone"),
    CFG_I("pad", "touchdown_g", S, touchdown_g, 10, 100000, "1500", "g", "Load above this means a drone stands on the pad"),
    CFG_I("pad", "touchdown_debounce_ms", S, touchdown_debounce_ms, 0, 10000, "100", "ms", "The load must stay above touchdown_g this long"),
    CFG_I("pad", "landing_timeout_ms", S, landing_timeout_ms, 1000, 3600000, "120000", "ms", "A drone cleared to land must touch down within this"),
    CFG_I("pad", "landing_expect_ms", S, landing_expect_ms, 0, 600000, "4000", "ms", "A drone's usual time from clearance to touchdown: the clearance waits until the fresh pack will be at standby by then"),
    CFG_I("pad", "cell_min_mV", S, cell_min_mV, 2000, 4500, "3300", "mV", "Lowest sane cell voltage of the new pack at power-up"),
    CFG_I("pad", "cell_max_mV", S, cell_max_mV, 2000, 4500, "4250", "mV", "Highest sane cell voltage of the new pack at power-up"),
    CFG_D("weather", "wind_max_mps", S, wind_max_mps, 0, 60, "12", "m/s", "No landings above this wind speed"),
    CFG_B("weather", "rain_hold", S, rain_hold, "true", "No landings while the rain sensor is wet"),
    CFG_D("station_charging", "min_degC", S, charge_min_degC, -20, 60, "0", "degC", "No charging below this pack temperature"),
    CFG_D("station_charging", "max_degC", S, charge_max_degC, -20, 80, "45", "degC", "No charging above this pack temperature"),
    CFG_D("station_charging", "handout_min_degC", S, handout_min_degC, -40, 60, "-20", "degC", "Never hand out a pack colder than this (discharge window)"),
    CFG_D("station_charging", "handout_max_degC", S, handout_max_degC, -20, 80, "45", "degC", "Never hand out a pack hotter than this (still hot from charging)"),
};
#undef S
const size_t station_cfg_n_keys = sizeof station_cfg_keys / sizeof station_cfg_keys[0];

void station_cfg_defaults(struct station_cfg *cfg)
{
    struct cfg_error err;
    memset(cfg, 0, sizeof *cfg);
    (void)cfg_defaults(station_cfg_keys, station_cfg_n_keys, cfg, &err);
}
