/* The landing queue across restarts; see swapd.h. A drone told it is queued waits
 * quietly for its clearance and does not ask again while it hears the station: a
 * station that forgot the queue in a restart would leave it waiting for ever. */
#include <stdio.h>
#include <string.h>

#include "swapd.h"

struct restore_ctx {
    struct swapd *d;
    uint64_t now_ms;
    int restored, refused;
};

static int restore_one(const struct registry_queued_drone *q, void *ctx)
{
    struct restore_ctx *rc = ctx;
    struct swapd *d = rc->d;
    /* Written again, or dropped, by the first save: this run's order replaces the old. */
    d->landq[q->sysid & 0xFF].saved = true;
    d->landq[q->sysid & 0xFF].request_seq = 0;
    struct dproto_swap_request req = { .remaining_pct = (float)q->remaining_pct, .pack_tag = q->pack_tag,
                                       .voltage_v = (float)q->voltage_v, .flags = (uint8_t)q->flags,
                                       .version = DPROTO_VERSION };
    if (d->link && dronelink_restore_request(&d->drones, (uint8_t)q->sysid, (uint8_t)q->compid, &req,
                                             rc->now_ms) == 0)
        rc->restored++;
    else
        rc->refused++;
    return 0;
}

void swapd_landqueue_restore(struct swapd *d, struct registry *reg, uint64_t now_ms)
{
    struct restore_ctx rc = { .d = d, .now_ms = now_ms };
    if (registry_queue_list(reg, restore_one, &rc) < 0) {
        fprintf(stderr, "<4>swapd: landing queue: %s (drones that were waiting ask again)\n",
                registry_last_error(reg));
        return;
    }
    if (rc.restored || rc.refused)
        fprintf(stderr, "<6>swapd: landing queue: %d drone(s) waiting as before the restart%s\n", rc.restored,
                rc.refused ? ", others no longer allowed or no drone link" : "");
}

void swapd_landqueue_save(struct swapd *d, uint64_t now_ms)
{
    if (!d->persist)
        return;
    bool queued[256] = { false };
    for (int i = 0; i < DRONELINK_MAX_DRONES; i++) {
        const struct dronelink_drone *dr = &d->drones.drones[i];
        if (!dr->sysid || dr->phase != DRONELINK_QUEUED)
            continue;
        queued[dr->sysid] = true;
        struct swapd_landq_saved *s = &d->landq[dr->sysid];
        if (s->saved && s->request_seq == dr->request_seq && s->compid == dr->compid &&
            s->flags == dr->request.flags && s->pack_tag == dr->request.pack_tag)
            continue;
        struct persist_job j = { .kind = PERSIST_QUEUE_PUT, .t_ms = swapd_wall_ms(d, now_ms) };
        j.queued = (struct registry_queued_drone){
            .sysid = dr->sysid, .compid = dr->compid, .seq = (int64_t)dr->request_seq,
            .request_ms = swapd_wall_ms(d, dr->request_ms), .flags = dr->request.flags,
            .pack_tag = dr->request.pack_tag, .remaining_pct = dr->request.remaining_pct,
            .voltage_v = dr->request.voltage_v,
        };
        if (persist_submit(d->persist, &j) != 0)
            continue;  /* queue full: next scan */
        *s = (struct swapd_landq_saved){ .saved = true, .compid = dr->compid, .flags = dr->request.flags,
                                         .pack_tag = dr->request.pack_tag, .request_seq = dr->request_seq };
    }
    for (int sys = 1; sys < 256; sys++) {
        if (!d->landq[sys].saved || queued[sys])
            continue;
        struct persist_job j = { .kind = PERSIST_QUEUE_DROP, .t_ms = swapd_wall_ms(d, now_ms), .drone = sys };
        if (persist_submit(d->persist, &j) == 0)
            d->landq[sys].saved = false;
    }
}
