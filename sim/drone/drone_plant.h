/* The drone model's pad bound straight to the in-process plant model (sim_plant_drone_*),
 * for fast campaigns that run the station, the plant and the drones in one process on a
 * virtual clock. dronesim uses swapsim's control socket instead (sim/dronesim/padsock.h). */
#ifndef SWAP_SIM_DRONE_PLANT_H
#define SWAP_SIM_DRONE_PLANT_H

#include "drone/drone.h"
#include "plant/plant.h"

/* A pad interface whose calls go to plant (which must outlive every drone using it). */
struct sim_drone_pad sim_drone_plant_pad(struct sim_plant *plant);

#endif
