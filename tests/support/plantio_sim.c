/* The in-process backend: the four block transfers go straight to the plant model's
 * register image, exactly as a Modbus server would serve them. */
#include "plantio_sim.h"

#include <errno.h>

#include "plant/plant.h"

/* The model answers with a Modbus exception code; a transport reports it as EIO. */
static int exc(int rc)
{
    if (rc == 0)
        return 0;
    errno = EIO;
    return -1;
}

static int sim_read_di(void *ctx, unsigned addr, unsigned n, uint8_t *out)
{
    return exc(sim_plant_read_bits(ctx, SIM_DI, addr, n, out));
}

static int sim_read_ir(void *ctx, unsigned addr, unsigned n, uint16_t *out)
{
    return exc(sim_plant_read_regs(ctx, SIM_IR, addr, n, out));
}

static int sim_read_co(void *ctx, unsigned addr, unsigned n, uint8_t *out)
{
    return exc(sim_plant_read_bits(ctx, SIM_CO, addr, n, out));
}

static int sim_read_hr(void *ctx, unsigned addr, unsigned n, uint16_t *out)
{
    return exc(sim_plant_read_regs(ctx, SIM_HR, addr, n, out));
}

static int sim_write_co(void *ctx, unsigned addr, unsigned n, const uint8_t *v)
{
    return exc(sim_plant_write_coils(ctx, addr, n, v));
}

static int sim_write_hr(void *ctx, unsigned addr, unsigned n, const uint16_t *v)
{
    return exc(sim_plant_write_regs(ctx, addr, n, v));
}

static void sim_close(void *ctx)
{
    (void)ctx;
}

void plantio_sim_backend(struct plantio_backend *b, struct sim_plant *plant)
{
    b->name = "in-process plant";
    b->ctx = plant;
    b->read_di = sim_read_di;
    b->read_ir = sim_read_ir;
    b->read_co = sim_read_co;
    b->read_hr = sim_read_hr;
    b->write_co = sim_write_co;
    b->write_hr = sim_write_hr;
    b->close = sim_close;
    b->map = NULL;
}
