/* The plant configuration; see plantcfg.h. */
#include "plantcfg/plantcfg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define P struct plantcfg
const struct cfg_key plantcfg_keys[] = {
    CFG_I("magazine", "slots", P, n_slots, 1, 16, "8", "slots", "Number of magazine slots (at most 16: the register map's per-slot blocks and the process image are sized for 16)"),
    CFG_D("magazine", "step_s", P, carousel_step_s, 0.05, 10, "0.4", "s", "Carousel time per slot step"),
    CFG_D("axis_x", "length_mm", P, x.length_mm, 10, 600, "600", "mm", "Travel of axis X (0 = magazine)"),
    CFG_D("axis_x", "vmax_mm_s", P, x.vmax_mm_s, 1, 5000, "500", "mm/s", "Axis X top speed"),
    CFG_D("axis_x", "amax_mm_s2", P, x.amax_mm_s2, 1, 50000, "1000", "mm/s^2", "Axis X acceleration and deceleration"),
    CFG_D("axis_x", "home_s", P, x.home_time_s, 0.1, 60, "2.0", "s", "Axis X homing time"),
    CFG_D("axis_x", "magazine_mm", P, x_magazine_mm, 0, 600, "0", "mm", "X of the magazine transfer position"),
    CFG_D("axis_x", "standby_mm", P, x_standby_mm, 0, 600, "480", "mm", "X of the standby position next to the pad"),
    CFG_D("axis_x", "bay_mm", P, x_bay_mm, 0, 600, "600", "mm", "X of the drone's battery bay"),
    CFG_D("axis_x", "pad_zone_mm", P, x_pad_zone_mm, 0, 600, "500", "mm", "X from which the head is inside the pad zone"),
    CFG_D("axis_z", "length_mm", P, z.length_mm, 10, 150, "150", "mm", "Travel of axis Z (0 = top)"),
    CFG_D("axis_z", "vmax_mm_s", P, z.vmax_mm_s, 1, 5000, "300", "mm/s", "Axis Z top speed"),
    CFG_D("axis_z", "amax_mm_s2", P, z.amax_mm_s2, 1, 50000, "1000", "mm/s^2", "Axis Z acceleration"),
    CFG_D("axis_z", "home_s", P, z.home_time_s, 0.1, 60, "1.0", "s", "Axis Z homing time"),
    CFG_D("axis_z", "bay_mm", P, z_bay_mm, 0, 150, "0", "mm", "Z at which the head faces the drone's bay"),
    CFG_D("axis_z", "slot_mm", P, z_slot_mm, 0, 150, "150", "mm", "Z at which the head faces a magazine slot"),
    CFG_D("axis_z", "travel_max_mm", P, z_travel_max_mm, 0, 150, "2", "mm", "Highest Z at which X may travel"),
    CFG_D("axes", "tolerance_mm", P, position_tolerance_mm, 0.01, 5, "0.5", "mm", "In-position window"),
    CFG_I("axes", "following_error_ms", P, following_error_ms, 10, 5000, "200", "ms", "A commanded axis that does not move raises its jam fault after this"),
    CFG_D("head", "stroke_s", P, stroke_s, 0.05, 10, "0.5", "s", "Stroke Y extend or retract time"),
    CFG_D("head", "wrist_s", P, wrist_s, 0.05, 10, "0.6", "s", "Wrist turn time"),
    CFG_D("head", "gripper_s", P, gripper_s, 0.05, 10, "0.3", "s", "Gripper open or close time"),
    CFG_D("pad", "center_s", P, center_s, 0.05, 10, "1.2", "s", "Centering pushers stroke time"),
    CFG_D("pad", "clamp_s", P, clamp_s, 0.05, 10, "0.6", "s", "Drone clamp time"),
    CFG_D("pad", "load_noise_g", P, pad_noise_g, 0, 100, "2", "g", "Load cell noise (standard deviation)"),
    CFG_I("safety", "watchdog_ms", P, watchdog_ms, 20, 10000, "300", "ms", "Plant watchdog: heartbeat stale after this"),
    CFG_D("safety", "supervision_factor", P, supervision_factor, 1.1, 20, "2", "", "An actuator or the carousel that has not reached its end after this many times its travel time (+0.1 s) raises its timeout fault"),
    CFG_D("drone", "mass_g", P, drone_mass_g, 100, 50000, "2400", "g", "Drone mass without battery"),
    CFG_D("drone", "boot_s", P, drone_boot_s, 0.1, 30, "1.5", "s", "Drone power-up: battery in to first sane BATTERY_STATUS"),
    CFG_I("battery", "cells", P, battery_cells, 1, 14, "6", "cells", "Cells in series per pack"),
    CFG_D("battery", "rated_mah", P, battery_rated_mah, 100, 60000, "5000", "mAh", "Rated capacity"),
    CFG_D("battery", "mass_g", P, battery_mass_g, 10, 20000, "650", "g", "Pack mass"),
    CFG_D("battery", "r0_mohm", P, battery_r0_mohm, 0.1, 1000, "66", "mOhm", "Pack ohmic resistance R0, new"),
    CFG_D("battery", "r1_mohm", P, battery_r1_mohm, 0.1, 1000, "30", "mOhm", "Pack polarisation resistance R1, new"),
    CFG_D("battery", "tau_s", P, battery_tau_s, 1, 600, "30", "s", "R1-C1 time constant"),
    CFG_D("battery", "capacity_spread_pct", P, battery_capacity_spread_pct, 0, 20, "2", "%", "Manufacturing spread of capacity (uniform +-)"),
    CFG_D("battery", "resistance_spread_pct", P, battery_resistance_spread_pct, 0, 50, "5", "%", "Manufacturing spread of resistance (uniform +-)"),
    CFG_D("battery", "fade_k", P, battery_fade_k, 0, 1, "0.0135", "1/EFC^exp", "Capacity fade: loss fraction = k * EFC^exp"),
    CFG_D("battery", "fade_exp", P, battery_fade_exp, 0.1, 2, "0.44", "", "Capacity fade exponent"),
    CFG_D("battery", "r_gamma", P, battery_r_gamma, 0, 10, "1.5", "", "Resistance growth: R/R_new = 1 + gamma (1 - SoH)"),
    CFG_D("battery", "heat_capacity_j_k", P, battery_heat_capacity_j_k, 1, 100000, "540", "J/K", "Pack heat capacity"),
    CFG_D("battery", "cooling_w_k", P, battery_cooling_w_k, 0.001, 1000, "0.6", "W/K", "Pack heat transfer to ambient"),
    CFG_D("battery", "knee_efc", P, battery_knee_efc, 0, 100000, "300", "EFC", "Fade accelerates past this many EFC (0: no knee)"),
    CFG_D("battery", "knee_k", P, battery_knee_k, 0, 0.01, "0.000001", "1/EFC^2", "Knee: extra loss fraction = knee_k * (EFC - knee_efc)^2"),
    CFG_D("battery", "recover_pct", P, battery_recover_pct, 0, 10, "1.5", "%", "Capacity a long rest gives back (share of new capacity)"),
    CFG_D("battery", "recover_tau_h", P, battery_recover_tau_h, 0.1, 10000, "12", "h", "Rest time constant of the capacity recovery"),
    CFG_D("battery", "recover_efc", P, battery_recover_efc, 0.01, 1000, "2", "EFC", "Use over which the recovered capacity is lost again"),
    CFG_D("battery", "spread_growth", P, battery_spread_growth, 0, 10, "0.5", "1/100 EFC", "Cell-to-cell SoC spread grows by this factor per 100 EFC"),
    CFG_D("battery", "r2_mohm", P, battery_r2_mohm, 0, 1000, "12", "mOhm", "Slow relaxation branch R2 (pack, new; 0: none)"),
    CFG_D("battery", "tau2_s", P, battery_tau2_s, 1, 100000, "480", "s", "R2-C2 time constant (minutes)"),
    CFG_D("battery", "r3_mohm", P, battery_r3_mohm, 0, 1000, "6", "mOhm", "Slower relaxation branch R3 (pack, new; 0: none)"),
    CFG_D("battery", "tau3_s", P, battery_tau3_s, 1, 1000000, "4000", "s", "R3-C3 time constant (hours)"),
    CFG_D("battery", "hyst_mV", P, battery_hyst_mV, 0, 100, "8", "mV", "Per cell: OCV half-gap between charge and discharge branches"),
    CFG_D("battery", "hyst_soc", P, battery_hyst_soc, 0.001, 1, "0.05", "fraction", "SoC swing over which the hysteresis turns (e-folding)"),
    CFG_D("battery", "self_discharge_pct_month", P, battery_self_discharge_pct_month, 0, 50, "2", "%/month", "Self-discharge at rest"),
    CFG_D("charger", "c_rate", P, charge_c_rate, 0.05, 5, "1.0", "C", "Charge current in CC"),
    CFG_D("charger", "cutoff_c", P, charge_cutoff_c, 0.005, 1, "0.05", "C", "CV ends when current falls below this"),
    CFG_D("charger", "v_per_cell", P, charge_v_per_cell, 3.5, 4.45, "4.2", "V", "CV voltage per cell"),
    CFG_D("charger", "storage_v_per_cell", P, storage_v_per_cell, 3.5, 4.0, "3.85", "V", "Storage voltage per cell"),
    CFG_D("charger", "max_temp_degC", P, charger_max_temp_degC, 20, 80, "45", "degC", "Charger stops with a fault above this"),
    CFG_D("charger", "timeout_s", P, charge_timeout_s, 60, 86400, "10800", "s", "Charger gives up after this"),
    CFG_D("charger_sensor", "current_noise_mA", P, chs_current_noise_mA, 0, 1000, "20", "mA", "Current reading noise (sd)"),
    CFG_D("charger_sensor", "current_offset_mA", P, chs_current_offset_mA, 0, 1000, "30", "mA", "Current offset, drawn per charger uniformly in +-this"),
    CFG_D("charger_sensor", "current_gain_pct", P, chs_current_gain_pct, 0, 10, "0.5", "%", "Current gain error, drawn per charger uniformly in +-this"),
    CFG_D("charger_sensor", "voltage_noise_mV", P, chs_voltage_noise_mV, 0, 1000, "3", "mV", "Pack voltage reading noise (sd)"),
    CFG_D("charger_sensor", "voltage_lsb_mV", P, chs_voltage_lsb_mV, 0, 1000, "10", "mV", "Pack voltage quantisation step"),
    CFG_D("charger_sensor", "cell_lsb_mV", P, chs_cell_lsb_mV, 0, 100, "1", "mV", "Cell voltage quantisation step (balance leads)"),
    CFG_D("charger_sensor", "temp_noise_degC", P, chs_temp_noise_degC, 0, 10, "0.3", "degC", "Temperature reading noise (sd)"),
    CFG_D("charger_sensor", "period_s", P, chs_period_s, 1, 10, "1", "s", "A charger updates its readings this often"),
    CFG_D("charger_sensor", "missing_pct", P, chs_missing_pct, 0, 50, "1", "%", "Share of updates that never arrive (the registers keep the old reading)"),
    CFG_D("environment", "ambient_degC", P, ambient_degC, -40, 60, "20", "degC", "Ambient temperature"),
    CFG_D("environment", "wind_mps", P, wind_mps, 0, 60, "2", "m/s", "Mean wind speed"),
};
#undef P
const size_t plantcfg_n_keys = sizeof plantcfg_keys / sizeof plantcfg_keys[0];

void plantcfg_defaults(struct plantcfg *cfg)
{
    struct cfg_error err;
    memset(cfg, 0, sizeof *cfg);
    (void)cfg_defaults(plantcfg_keys, plantcfg_n_keys, cfg, &err);
}

/* Checks across keys; the message names the keys, so it carries the line of the first
 * of them the file set. */
static int check_consistency(const struct cfg_where *w, const struct plantcfg *c, struct cfg_error *err)
{
    const char *why = NULL;
    if (c->x_magazine_mm > c->x.length_mm)
        why = "[axis_x] magazine_mm lies beyond length_mm";
    else if (c->x_standby_mm > c->x.length_mm)
        why = "[axis_x] standby_mm lies beyond length_mm";
    else if (c->x_bay_mm > c->x.length_mm)
        why = "[axis_x] bay_mm lies beyond length_mm";
    else if (c->x_pad_zone_mm > c->x.length_mm)
        why = "[axis_x] pad_zone_mm lies beyond length_mm";
    else if (c->z_bay_mm > c->z.length_mm)
        why = "[axis_z] bay_mm lies beyond length_mm";
    else if (c->z_slot_mm > c->z.length_mm)
        why = "[axis_z] slot_mm lies beyond length_mm";
    else if (!(c->x_standby_mm < c->x_pad_zone_mm && c->x_pad_zone_mm <= c->x_bay_mm))
        why = "[axis_x] need standby_mm < pad_zone_mm <= bay_mm";
    else if (c->x_magazine_mm >= c->x_pad_zone_mm)
        why = "[axis_x] magazine_mm must lie outside the pad zone (below pad_zone_mm)";
    else if (c->z_bay_mm > c->z_travel_max_mm)
        why = "[axis_z] bay_mm must be at travel height (<= travel_max_mm)";
    else if (c->charge_cutoff_c >= c->charge_c_rate)
        why = "[charger] cutoff_c must be below c_rate";
    else if (c->storage_v_per_cell >= c->charge_v_per_cell)
        why = "[charger] storage_v_per_cell must be below v_per_cell";
    if (!why)
        return 0;
    cfg_where_error(w, err, "%s", why);
    return -1;
}

int plantcfg_load(const char *path, struct plantcfg *cfg, struct cfg_error *err)
{
    static struct cfg_where where;  /* large; plant.ini is loaded at start-up only */
    const struct cfg_table t = { plantcfg_keys, plantcfg_n_keys, cfg };
    memset(cfg, 0, sizeof *cfg);
    if (cfg_load_tables_where(path, &t, 1, err, &where))
        return -1;
    return check_consistency(&where, cfg, err);
}

double plantcfg_move_time_s(const struct plantcfg_axis *a, double d_mm)
{
    d_mm = fabs(d_mm);
    double d_acc = a->vmax_mm_s * a->vmax_mm_s / a->amax_mm_s2; /* accel + decel distance */
    if (d_mm <= d_acc)
        return 2.0 * sqrt(d_mm / a->amax_mm_s2);
    return 2.0 * a->vmax_mm_s / a->amax_mm_s2 + (d_mm - d_acc) / a->vmax_mm_s;
}

double plantcfg_onpad_lower_bound_s(const struct plantcfg *c)
{
    /* centre close -> clamp -> head standby->bay -> Y extend -> grip A -> Y retract ->
     * wrist turn -> Y extend -> release B -> Y retract -> drone power-up check ->
     * unclamp + centre open (together) */
    double t = c->center_s + c->clamp_s;
    t += plantcfg_move_time_s(&c->x, c->x_bay_mm - c->x_standby_mm);
    t += c->stroke_s + c->gripper_s + c->stroke_s;
    t += c->wrist_s;
    t += c->stroke_s + c->gripper_s + c->stroke_s;
    t += c->drone_boot_s;
    t += c->clamp_s > c->center_s ? c->clamp_s : c->center_s;
    return t;
}
