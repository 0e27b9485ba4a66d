/* libFuzzer target for the register-image decoder: any values a broken or hostile plant
 * may put in its discrete inputs and input registers. The decoder either accepts the
 * image with every field inside its documented range, or refuses it, marks it invalid
 * and says which register. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plantio/plantio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned n = 1u + data[0] % REGMAP_MAX_SLOTS;
    uint8_t di[PLANTIO_DI_MAX] = { 0 };
    uint16_t ir[PLANTIO_IR_MAX] = { 0 };
    size_t off = 1;
    for (unsigned i = 0; i < REGMAP_DI_COUNT(n) && off < size; i++)
        di[i] = data[off++];
    for (unsigned i = 0; i < REGMAP_IR_COUNT(n) && off + 1 < size; i++, off += 2)
        ir[i] = (uint16_t)(data[off] | data[off + 1] << 8);
    struct station_plant_in in;
    memset(&in, 0, sizeof in);
    char err[160] = "";
    int rc = plantio_decode(di, ir, n, &in, err, sizeof err);
    if (rc != 0 && (in.valid || !err[0] || !in.refused || strcmp(err, in.refused_why)))
        abort();
    if (rc == 0 && (!in.valid || in.refused || !isfinite(in.x_pos_mm) || !isfinite(in.z_pos_mm)))
        abort();
    /* accepted: no sentinel, every measurement inside its physical range */
    if (rc == 0 && (abs(in.x_vel_mm_s) > 5000 || abs(in.z_vel_mm_s) > 5000 || in.load_g == 0xFFFF ||
                    in.ambient_degC < -60.0 || in.ambient_degC > 85.0))
        abort();
    for (unsigned s = 0; rc == 0 && s < n; s++)
        if (in.slot[s].current_mA == INT16_MIN || in.slot[s].voltage_mV > 65000 || in.slot[s].cell_max_mV > 5000 ||
            (in.slot[s].temp_ok && (in.slot[s].temp_degC < -60.0 || in.slot[s].temp_degC > 200.0)))
            abort();
    return 0;
}
