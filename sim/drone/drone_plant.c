/* Pad interface on the in-process plant; see drone_plant.h. */
#include "drone/drone_plant.h"

static int plant_land(void *ctx, const struct sim_battery *battery)
{
    return sim_plant_drone_land(ctx, battery) == 0 ? 0 : -1;
}

static int plant_takeoff(void *ctx, struct sim_battery *battery, bool *has_battery)
{
    int rc = sim_plant_drone_takeoff(ctx, battery, has_battery);
    return rc == 0 || rc == -1 || rc == -2 ? rc : -3;
}

static int plant_bay(void *ctx, struct sim_battery *battery, bool *has_battery)
{
    const struct sim_battery *b = sim_plant_drone_battery(ctx);
    *has_battery = b != NULL;
    if (b)
        *battery = *b;
    return 0;
}

static void plant_load(void *ctx, double current_a)
{
    sim_plant_drone_set_load(ctx, current_a);
}

struct sim_drone_pad sim_drone_plant_pad(struct sim_plant *plant)
{
    struct sim_drone_pad pad = { plant, plant_land, plant_takeoff, plant_bay, plant_load };
    return pad;
}
