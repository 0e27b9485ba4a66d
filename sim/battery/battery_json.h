/* A battery pack as JSON: the whole physical state of struct sim_battery, so a pack can
 * be handed between processes (swapsim <-> dronesim) and come out identical. */
#ifndef SWAP_SIM_BATTERY_JSON_H
#define SWAP_SIM_BATTERY_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "battery/battery.h"

/* Returns a new JSON object with every field of b (plus "serial", informative), or NULL
 * on allocation failure. Reals are written with full precision: the round trip through
 * sim_battery_from_json is exact. */
json_t *sim_battery_to_json(const struct sim_battery *b);

/* Fills *out from j. Every field is required, with the right JSON type and inside its
 * physical range (soc 0..1, capacities > 0, cells 1..14, one cell offset per cell, ...);
 * unknown keys are refused. Returns 0, or -1 with a one-line reason in err (naming the
 * field) and *out unchanged. */
int sim_battery_from_json(const json_t *j, struct sim_battery *out, char *err, size_t errsize);

#endif
