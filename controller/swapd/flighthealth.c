/* Battery health from the air: every new BATTERY_STATUS a drone sends goes to the
 * estimator of the pack it flies with (the pack its SMART_BATTERY_INFO names, else the
 * pack the registry booked to that drone), with the drone's power module as the sensor
 * and its armed / landed state as what is known. Flights then close capacity windows
 * between the rested OCVs the slots measured before hand-out and after the swap, and
 * take-off and landing give DCIR steps (docs/battery-health.md). */
#include "swapd.h"

/* MAV_LANDED_STATE_IN_AIR */
#define LANDED_STATE_IN_AIR 2

static struct swapd_pack *pack_of_drone(struct swapd *d, const struct dronelink_drone *dr)
{
    if (dr->battery_tag) {
        struct swapd_pack *p = swapd_pack_find(d, dr->battery_tag);
        return p && p->loc.place == REGISTRY_PLACE_DRONE ? p : NULL;
    }
    struct swapd_pack *best = NULL;
    for (int i = 0; i < d->n_packs; i++) {
        struct swapd_pack *p = &d->packs[i];
        if (p->loc.place == REGISTRY_PLACE_DRONE && p->loc.index == dr->sysid &&
            (!best || p->loc_since_ms > best->loc_since_ms))
            best = p;
    }
    return best;
}

void swapd_flight_health(struct swapd *d, uint64_t now_ms)
{
    for (int i = 0; i < STATION_MAX_DRONES; i++) {
        const struct dronelink_drone *dr = &d->drones.drones[i];
        if (!dr->sysid || dr->battery_status_seq == d->flight_status_seq[dr->sysid])
            continue;
        d->flight_status_seq[dr->sysid] = dr->battery_status_seq;
        struct swapd_pack *p = pack_of_drone(d, dr);
        if (!p)
            continue;
        bool flying = dr->armed || dr->landed_state == LANDED_STATE_IN_AIR;
        struct health_sample smp;
        if (health_sample_from_drone(&dr->battery_status, flying, swapd_battery_time_s(d, now_ms), &smp) != 0)
            continue;  /* unknown fields: never reach an estimate */
        smp.sensor = 0x100u + dr->sysid;
        swapd_inventory_estimates(d, p, health_est_feed(&p->est, &smp), now_ms);
    }
}
