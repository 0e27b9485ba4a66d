/* libFuzzer target for the configuration loader: any text as a plant.ini. It is either
 * accepted with every value inside its documented range, or refused with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "plantcfg/plantcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct plantcfg c;
    struct cfg_error err;
    int rc = cfg_load_string("fuzz.ini", text, plantcfg_keys, plantcfg_n_keys, &c, &err);
    if (rc != 0 && (err.n_errors == 0 || !err.msg[0]))
        abort();
    if (rc == 0 && (c.n_slots < 1 || c.n_slots > 16 || !(c.stroke_s >= 0.05 && c.stroke_s <= 10)))
        abort();
    free(text);
    return 0;
}
