/* How old each slot's slow telemetry is. The plant link reads a slot's charger telemetry
 * (voltage, current, temperature, charger state...) round-robin, so after a pack arrives
 * in a slot (or leaves it) the telemetry in the image still holds what the slot showed
 * before: an empty slot's "no sensor" values, or another pack's. A slot's telemetry is
 * known again once every slow block holding it has been read in an exchange that began
 * no earlier than the one whose image showed the change. Pure bookkeeping: the link
 * passes the times in.
 */
#ifndef SWAP_PLANTLINK_AGE_H
#define SWAP_PLANTLINK_AGE_H

#include <stdbool.h>
#include <stdint.h>

#include "plantmap/plantmap.h"
#include "plantmap/scanplan.h"
#include "regmap/regmap.h"

#define PLANTLINK_AGE_BLOCKS 16   /* slow blocks one slot's telemetry may span */

struct plantlink_age {
    unsigned n_slots;
    uint64_t seq;                              /* exchanges begun; 0 before the first */
    uint64_t blk_seq[SCANPLAN_MAX_REQ];        /* the exchange a slow block was last read in; 0 never */
    uint64_t blk_us[SCANPLAN_MAX_REQ];         /* when */
    unsigned n_blk[REGMAP_MAX_SLOTS];
    unsigned blk[REGMAP_MAX_SLOTS][PLANTLINK_AGE_BLOCKS];
    bool present[REGMAP_MAX_SLOTS];
    uint64_t changed_seq[REGMAP_MAX_SLOTS];    /* the exchange whose image showed the last change */
};

/* For plan p of map m with n_slots slots: nothing read yet, every slot unknown. */
void plantlink_age_init(struct plantlink_age *a, const struct scanplan *p, const struct plantmap *m,
                        unsigned n_slots);

/* An exchange begins (before its first read). */
void plantlink_age_begin(struct plantlink_age *a);

/* Slow block k (0-based among the plan's slow reads) was read at t_us. */
void plantlink_age_read(struct plantlink_age *a, unsigned k, uint64_t t_us);

/* The exchange's image is complete: di is its logical discrete-input block, whose slot
 * presence bits are compared with the last image's. */
void plantlink_age_image(struct plantlink_age *a, const uint8_t *di);

/* When slot s's telemetry was read (the oldest of its blocks, in the link's us), or 0
 * when it has not been read since the slot's presence last changed: unknown. A slot
 * whose telemetry is read every exchange (no slow block) reads now_us. */
uint64_t plantlink_age_slot_us(const struct plantlink_age *a, unsigned s, uint64_t now_us);

#endif
