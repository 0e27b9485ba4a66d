/* A station's life of one pack, as its sensors log it: charge in a slot, rest, hand-out
 * to a drone, a few seconds on the pad, take-off, a flight of constant-current segments,
 * landing, swap back into a (random) slot, rest; over and over, while the pack ages along
 * a chosen shape. Each slot charger and each drone has its own sensor (sensor.h), so
 * offsets and gains differ between them as they do in a station. Every sample carries
 * what the station knows at that moment (charger charging or not, drone on the pad or
 * flying) and the sensor's own charge counter; the ground truth comes at the end of every
 * cycle. Used by the estimator's tests and benchmark and by `packlog`.
 * Pure computation: samples go to a callback.
 */
#ifndef SWAP_SIM_CYCLELOG_H
#define SWAP_SIM_CYCLELOG_H

#include <stdbool.h>
#include <stdint.h>

#include "battery/sensor.h"
#include "plantcfg/plantcfg.h"

/* How the pack ages (docs/plant-model.md). */
enum sim_cyclelog_shape {
    SIM_CYCLELOG_LINEAR,     /* fade proportional to EFC */
    SIM_CYCLELOG_KNEE,       /* square-root fade, then a knee that accelerates it */
    SIM_CYCLELOG_RECOVERY,   /* power-law fade, capacity recovering over long idle periods */
    SIM_CYCLELOG_SHAPE_COUNT
};
const char *sim_cyclelog_shape_name(enum sim_cyclelog_shape s);

enum sim_cyclelog_phase {
    SIM_CYCLELOG_REST,       /* in a slot, charger not charging */
    SIM_CYCLELOG_CHARGE,     /* in a slot, charging */
    SIM_CYCLELOG_PAD,        /* in a drone on the pad, disarmed (small load) */
    SIM_CYCLELOG_FLIGHT,     /* in a drone, armed */
};

struct sim_cyclelog_params {
    uint64_t seed;
    int cycles;
    enum sim_cyclelog_shape shape;
    double fade_scale;       /* multiplies the shape's fade; 1: end of life near cycle 350 */
    struct sim_sensor_cfg charger, drone;
    int chargers, drones;    /* distinct sensors the pack meets */
    double rest_log_s;       /* rests are logged every max(this, sensor period) s */
    double short_rest_frac;  /* share of rests of 1..10 min (pack needed at once) */
};

struct sim_cyclelog_sample {
    double t_s;
    enum sim_cyclelog_phase phase;
    uint32_t sensor;         /* 1..chargers: a slot's charger; 0x100 + k: drone k */
    double voltage_V, current_A, temp_degC;  /* current > 0 charges the pack */
    bool has_counter;
    double counter_mAh;      /* the sensor's own count since the charge / power-up, + in */
    const char *event;       /* "charge_start", "rest", "pad", "flight_start" or "" */
};

struct sim_cyclelog_truth {
    int cycle;               /* 1, 2, ... */
    double t_s;
    double soh, capacity_mAh;
    double dcir_mohm;        /* 10 s pack DCIR at 25 degC, mid SoC */
    double efc;
};

struct sim_cyclelog_sink {
    void (*sample)(void *ctx, const struct sim_cyclelog_sample *s);
    /* Returns non-zero to stop the run early. */
    int (*cycle_end)(void *ctx, const struct sim_cyclelog_truth *t);
    void *ctx;
};

/* Defaults: 100 cycles, linear, charger-grade chargers (8), power-module-grade drones
 * (3), rests logged every 30 s, 25 % short rests. */
void sim_cyclelog_defaults(struct sim_cyclelog_params *p);

/* Runs p->cycles cycles of a new pack (tag) of the plant's battery model with its spread
 * drawn from the seed. Returns the number of cycles completed. */
int sim_cyclelog_run(const struct plantcfg *cfg, const struct sim_cyclelog_params *p, uint32_t tag,
                     const struct sim_cyclelog_sink *sink);

#endif
