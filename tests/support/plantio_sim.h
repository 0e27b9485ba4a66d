/* The in-process plant backend for tests and the campaign: the plant I/O's four block
 * transfers go straight to the simulator's register image (plant/plant.h), exactly as a
 * Modbus server would serve them. The controller itself never links the simulator. */
#ifndef SWAP_TEST_PLANTIO_SIM_H
#define SWAP_TEST_PLANTIO_SIM_H

#include "plant/plant.h"
#include "plantio/plantio.h"

/* The in-process backend onto a plant model (not owned: close does not free it). */
void plantio_sim_backend(struct plantio_backend *b, struct sim_plant *plant);

#endif
