/* Age of the slots' slow telemetry; see plantlink_age.h. */
#include "plantlink/plantlink_age.h"

#include <string.h>

void plantlink_age_init(struct plantlink_age *a, const struct scanplan *p, const struct plantmap *m,
                        unsigned n_slots)
{
    memset(a, 0, sizeof *a);
    a->n_slots = n_slots > REGMAP_MAX_SLOTS ? REGMAP_MAX_SLOTS : n_slots;
    for (unsigned s = 0; s < a->n_slots; s++) {
        a->n_blk[s] = scanplan_slot_slow_blocks(p, m, s, a->blk[s], PLANTLINK_AGE_BLOCKS);
        a->changed_seq[s] = 1;   /* unknown until the first exchange has read it */
    }
}

void plantlink_age_begin(struct plantlink_age *a)
{
    a->seq++;
}

void plantlink_age_read(struct plantlink_age *a, unsigned k, uint64_t t_us)
{
    if (k < SCANPLAN_MAX_REQ) {
        a->blk_seq[k] = a->seq;
        a->blk_us[k] = t_us;
    }
}

void plantlink_age_image(struct plantlink_age *a, const uint8_t *di)
{
    for (unsigned s = 0; s < a->n_slots; s++) {
        bool present = di[REGMAP_DI_SLOT_ADDR(s, REGMAP_DI_SLOT_PRESENT)] != 0;
        if (present != a->present[s])
            a->changed_seq[s] = a->seq;
        a->present[s] = present;
    }
}

uint64_t plantlink_age_slot_us(const struct plantlink_age *a, unsigned s, uint64_t now_us)
{
    if (s >= a->n_slots)
        return 0;
    uint64_t oldest = now_us;
    for (unsigned i = 0; i < a->n_blk[s]; i++) {
        unsigned k = a->blk[s][i];
        /* Read in the exchange that showed the change counts: every slow read of an
         * exchange comes after its fast reads, so it saw the slot as that image did. */
        if (a->blk_seq[k] == 0 || a->blk_seq[k] < a->changed_seq[s])
            return 0;
        if (a->blk_us[k] < oldest)
            oldest = a->blk_us[k];
    }
    return oldest;
}
