/* A plant model behind a map; see plantmap.h (plantmap_server). */
#include "plantmap/plantmap.h"

#include <stdlib.h>
#include <string.h>

#define EXC_ADDRESS 2

int plantmap_server_init(struct plantmap_server *s, const struct plantmap *m, unsigned n_slots,
                         const struct plantmap_server_io *io)
{
    memset(s, 0, sizeof *s);
    if (n_slots < 1 || n_slots > m->slots || n_slots > REGMAP_MAX_SLOTS)
        return -1;
    s->map = m;
    s->n_slots = n_slots;
    s->io = *io;
    s->wire = calloc(1, sizeof *s->wire);
    return s->wire ? 0 : -1;
}

void plantmap_server_free(struct plantmap_server *s)
{
    free(s->wire);
    s->wire = NULL;
}

/* The model's present image, encoded onto the wire. */
static int refresh(struct plantmap_server *s)
{
    const unsigned n = s->n_slots;
    int rc = s->io.read_bits(s->io.ctx, PLANTMAP_DI, 0, REGMAP_DI_COUNT(n), s->img.di);
    if (!rc)
        rc = s->io.read_bits(s->io.ctx, PLANTMAP_COIL, 0, REGMAP_CO_COUNT, s->img.co);
    if (!rc)
        rc = s->io.read_regs(s->io.ctx, PLANTMAP_IR, 0, REGMAP_IR_COUNT(n), s->img.ir);
    if (!rc)
        rc = s->io.read_regs(s->io.ctx, PLANTMAP_HR, 0, REGMAP_HR_COUNT(n), s->img.hr);
    if (rc)
        return rc;
    plantmap_encode(s->map, &s->img, n, false, s->wire);
    plantmap_encode(s->map, &s->img, n, true, s->wire);
    return 0;
}

int plantmap_server_read_bits(struct plantmap_server *s, enum plantmap_table t, unsigned addr, unsigned n,
                              uint8_t *out)
{
    if (addr + n > PLANTMAP_ADDR_SPACE)
        return EXC_ADDRESS;
    int rc = refresh(s);
    if (rc)
        return rc;
    memcpy(out, (t == PLANTMAP_COIL ? s->wire->co : s->wire->di) + addr, n);
    return 0;
}

int plantmap_server_read_regs(struct plantmap_server *s, enum plantmap_table t, unsigned addr, unsigned n,
                              uint16_t *out)
{
    if (addr + n > PLANTMAP_ADDR_SPACE)
        return EXC_ADDRESS;
    int rc = refresh(s);
    if (rc)
        return rc;
    memcpy(out, (t == PLANTMAP_HR ? s->wire->hr : s->wire->ir) + addr, n * sizeof *out);
    return 0;
}

/* Decodes the outputs from the wire and hands the model its whole output blocks. */
static int apply(struct plantmap_server *s)
{
    struct plantmap_image next = s->img;
    plantmap_decode(s->map, s->wire, s->n_slots, true, &next);
    int rc = 0;
    if (memcmp(next.hr, s->img.hr, sizeof next.hr))
        rc = s->io.write_regs(s->io.ctx, 0, REGMAP_HR_COUNT(s->n_slots), next.hr);
    if (!rc && memcmp(next.co, s->img.co, sizeof next.co))
        rc = s->io.write_coils(s->io.ctx, 0, REGMAP_CO_COUNT, next.co);
    return rc;
}

int plantmap_server_write_coils(struct plantmap_server *s, unsigned addr, unsigned n, const uint8_t *v)
{
    if (addr + n > PLANTMAP_ADDR_SPACE)
        return EXC_ADDRESS;
    int rc = refresh(s);
    if (rc)
        return rc;
    memcpy(s->wire->co + addr, v, n);
    return apply(s);
}

int plantmap_server_write_regs(struct plantmap_server *s, unsigned addr, unsigned n, const uint16_t *v)
{
    if (addr + n > PLANTMAP_ADDR_SPACE)
        return EXC_ADDRESS;
    int rc = refresh(s);
    if (rc)
        return rc;
    memcpy(s->wire->hr + addr, v, n * sizeof *v);
    return apply(s);
}
