/* A physical battery pack for the simulators: OCV-SoC curve, 1-RC Thevenin model plus
 * two slow relaxation branches (minutes and hours) and charge/discharge hysteresis of the
 * OCV, heating, self-discharge, capacity fade (power law with an optional knee) and
 * resistance growth per equivalent full cycle, capacity that recovers partly over long
 * rests and drops back with use, manufacturing spread and a cell-to-cell spread that grows
 * with age, and a CC-CV charger. Pure computation: no I/O, no clock, no allocation.
 * docs/plant-model.md gives every effect with its source.
 *
 * The struct is the pack's whole physical state, so a pack can move between the plant
 * (magazine, grippers, drone bay) and a drone simulator by copying it (also across
 * processes: sim_battery_to_json / from_json in battery_json.h). Its "true" fields are
 * the ground truth that the controller never reads; tests compare estimates with them.
 *
 * Sign convention: current_a > 0 discharges the pack, < 0 charges it.
 */
#ifndef SWAP_SIM_BATTERY_H
#define SWAP_SIM_BATTERY_H

#include <stdbool.h>
#include <stdint.h>

#include "plantcfg/plantcfg.h"
#include "rng/rng.h"

#define SIM_BATTERY_MAX_CELLS 14

struct sim_battery {
    uint32_t tag;              /* RFID tag id; also the pack's serial ("SWP-%08X") */
    int cells;
    double rated_ah;
    /* ground truth */
    double capacity_new_ah;    /* with manufacturing spread */
    double capacity_ah;        /* now, after fade */
    double r0_new_ohm, r1_new_ohm;
    double r0_ohm, r1_ohm;     /* now (at 25 degC, mid SoC), after growth */
    double tau_s;
    double cell_offset[SIM_BATTERY_MAX_CELLS]; /* per-cell SoC offset (cell spread) */
    double soc;                /* 0..1 */
    double v1;                 /* RC voltage, V (pack) */
    double temp_degC;
    double ah_throughput;      /* |I| dt summed, Ah */
    double efc;                /* equivalent full cycles = throughput / (2 rated) */
    double peak_temp_degC;
    double heat_capacity_j_k, cooling_w_k;
    double fade_k, fade_exp, r_gamma;
    /* ageing as lab data shows it (all 0: off) */
    double knee_efc, knee_k;   /* extra loss knee_k (EFC - knee_efc)^2 past the knee */
    double recover_max;        /* recoverable share of capacity (fraction of new) */
    double recover_ah;         /* capacity lost now that a long rest gives back */
    double recover_tau_s;      /* rest time constant of the recovery */
    double recover_efc;        /* EFC of use over which the recoverable part is lost again */
    double spread_growth;      /* cell SoC spread grows by this factor per 100 EFC */
    double r2_ohm, tau2_s, v2; /* slow relaxation branch (minutes), pack */
    double r3_ohm, tau3_s, v3; /* slower branch (hours), pack */
    double r2_new_ohm, r3_new_ohm;
    double hyst_v;             /* per cell: OCV half-gap between charge and discharge */
    double hyst_soc;           /* SoC swing over which the hysteresis state turns (e-folding) */
    double hyst;               /* hysteresis state, -1 (after discharge) .. +1 (after charge) */
    double self_discharge_per_s; /* SoC lost per second at rest */
    bool tag_unreadable;       /* fault injection: RFID cannot be read */
};

/* Cell open-circuit voltage (V) at soc 0..1 (NMC table of the reference, linear
 * interpolation; clamped outside). */
double sim_battery_cell_ocv(double soc);

/* Makes a new pack with the configured spread drawn from rng, at soc and ambient. */
void sim_battery_init(struct sim_battery *b, const struct plantcfg *cfg, uint32_t tag,
                      double soc, struct sim_rng *rng);

/* Advances the pack by dt_s at current_a (A, > 0 discharge) and ambient temperature:
 * SoC, RC voltage, heat, throughput, fade and resistance growth. */
void sim_battery_step(struct sim_battery *b, double current_a, double dt_s, double ambient_degC);

/* Ages the pack to efc equivalent full cycles as if cycled from new: throughput,
 * capacity (power-law fade) and resistances follow. For test set-up. */
void sim_battery_set_efc(struct sim_battery *b, double efc);

/* Terminal voltage (V) at current_a, with the present RC state and temperature. */
double sim_battery_voltage(const struct sim_battery *b, double current_a);

/* Open-circuit voltage of the pack (V). */
double sim_battery_ocv(const struct sim_battery *b);

/* Lowest and highest cell terminal voltage (V) at current_a. */
void sim_battery_cell_minmax(const struct sim_battery *b, double current_a, double *vmin,
                             double *vmax);

/* Terminal voltage and lowest/highest cell terminal voltage (V) at current_a, in one
 * pass over the cells (what a charger with balance leads samples). */
void sim_battery_measure(const struct sim_battery *b, double current_a, double *v, double *vmin,
                         double *vmax);

/* True state of health = capacity_ah / rated_ah. */
double sim_battery_soh(const struct sim_battery *b);

/* Effective R0 (ohm) at the present SoC and temperature (SoC-end and Arrhenius factors). */
double sim_battery_r0_eff(const struct sim_battery *b);

/* The true pack DC resistance (ohm) a dt_s current step shows at 25 degC and mid SoC:
 * R0 plus each RC branch's share 1 - exp(-dt_s / tau). */
double sim_battery_dcir_ohm(const struct sim_battery *b, double dt_s);

/* Cell i's SoC offset now (the spread grows with EFC). */
double sim_battery_cell_offset(const struct sim_battery *b, int i);

/* ---- charger -------------------------------------------------------------------- */

struct sim_charger {
    int mode;                  /* enum regmap_charger_mode */
    int state;                 /* enum regmap_charger_state */
    int fault;                 /* enum charger_fault */
    double current_a;          /* into the pack (>= 0) */
    double voltage_v;          /* pack terminal voltage measured */
    double cell_min_v, cell_max_v; /* balance-lead cell voltages measured (0: no pack) */
    double charge_mah;         /* since the charger was last enabled */
    double t_in_state_s;
    double t_since_enable_s;
    bool forced_fault;         /* fault injection: charger hardware fault */
};

/* Advances charger and pack (which may be NULL: empty slot) by dt_s. The charger follows
 * mode: OFF idles; CHARGE runs CC at c_rate to v_per_cell, then CV until the current
 * falls below cutoff_c, then DONE; STORAGE charges or discharges to storage_v_per_cell.
 * Over-temperature, over-voltage and timeout latch CHARGER_FAULT until mode goes OFF. */
void sim_charger_step(struct sim_charger *c, struct sim_battery *b, const struct plantcfg *cfg,
                      int mode, double dt_s, double ambient_degC);

#endif
