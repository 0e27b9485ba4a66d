/* The plant configuration (configs/plant.ini): geometry, timings and sizes that the
 * simulator models and the controller plans with (deadlines, the on-pad lower bound).
 * Units are in the field names. */
#ifndef SWAP_PLANTCFG_H
#define SWAP_PLANTCFG_H

#include <stdbool.h>
#include <stddef.h>

#include "config/cfg.h"

struct plantcfg_axis {
    double length_mm;
    double vmax_mm_s;
    double amax_mm_s2;
    double home_time_s;       /* duration of the homing sequence */
};

struct plantcfg {
    int n_slots;
    struct plantcfg_axis x, z;
    /* X positions (0 = magazine transfer position). */
    double x_magazine_mm, x_standby_mm, x_bay_mm, x_pad_zone_mm;
    /* Z positions (0 = top = travel height). */
    double z_bay_mm, z_slot_mm, z_travel_max_mm;
    double stroke_s, wrist_s, gripper_s, center_s, clamp_s, carousel_step_s;
    double position_tolerance_mm;
    int watchdog_ms;
    int following_error_ms;       /* a commanded axis that does not move faults after this */
    double supervision_factor;    /* actuator/carousel timeout = factor x travel time */
    /* Pad and drone. */
    double pad_noise_g;
    double drone_mass_g;          /* drone without battery */
    double drone_boot_s;          /* from battery in to a sane BATTERY_STATUS */
    /* Batteries. */
    int battery_cells;
    double battery_rated_mah;
    double battery_mass_g;
    double battery_r0_mohm;       /* per pack, new */
    double battery_r1_mohm;
    double battery_tau_s;
    double battery_capacity_spread_pct;
    double battery_resistance_spread_pct;
    double battery_fade_k;        /* q_loss = k * EFC^fade_exp (fraction) */
    double battery_fade_exp;
    double battery_r_gamma;       /* R/R_new = 1 + gamma (1 - SoH) */
    double battery_heat_capacity_j_k;
    double battery_cooling_w_k;
    double battery_knee_efc;      /* fade accelerates past this EFC (0: no knee) */
    double battery_knee_k;        /* extra loss = knee_k * (EFC - knee_efc)^2 */
    double battery_recover_pct;   /* capacity a long rest gives back, % of new */
    double battery_recover_tau_h; /* ... with this rest time constant */
    double battery_recover_efc;   /* ... and loses again over this many EFC of use */
    double battery_spread_growth; /* cell SoC spread grows by this factor per 100 EFC */
    double battery_r2_mohm, battery_tau2_s;   /* slow relaxation (minutes) */
    double battery_r3_mohm, battery_tau3_s;   /* slower relaxation (hours) */
    double battery_hyst_mV;       /* per cell: OCV half-gap between charge and discharge */
    double battery_hyst_soc;      /* SoC swing that turns the hysteresis (e-folding) */
    double battery_self_discharge_pct_month;
    /* Chargers. */
    double charge_c_rate;
    double charge_cutoff_c;
    double charge_v_per_cell;
    double storage_v_per_cell;
    double charger_max_temp_degC;
    double charge_timeout_s;
    /* The chargers' sensors (each slot draws its own offset and gain from the seed). */
    double chs_current_noise_mA, chs_current_offset_mA, chs_current_gain_pct;
    double chs_voltage_noise_mV, chs_voltage_lsb_mV, chs_cell_lsb_mV;
    double chs_temp_noise_degC, chs_period_s, chs_missing_pct;
    /* Environment. */
    double ambient_degC;
    double wind_mps;
};

/* The key table (for docs and tests). */
extern const struct cfg_key plantcfg_keys[];
extern const size_t plantcfg_n_keys;

/* Loads path into cfg after applying defaults; checks cross-key consistency (positions
 * inside the axis, standby outside the pad zone, ...). Returns 0 or -1 with err set. */
int plantcfg_load(const char *path, struct plantcfg *cfg, struct cfg_error *err);

/* Fills cfg with the defaults (the values in configs/plant.ini). */
void plantcfg_defaults(struct plantcfg *cfg);

/* Time (s) of a trapezoidal move of distance d_mm on axis a, from rest to rest. */
double plantcfg_move_time_s(const struct plantcfg_axis *a, double d_mm);

/* The on-pad lower bound of DESIGN §7 from this configuration, in seconds. */
double plantcfg_onpad_lower_bound_s(const struct plantcfg *cfg);

#endif
