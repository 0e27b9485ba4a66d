/* libFuzzer target for the plant map loader: any text as a map file. It is either
 * refused with a "file:line" or "file:" message, or accepted as a map whose every placed
 * signal lies inside the address space, fits its table, and whose translation of an
 * arbitrary wire image stays inside the logical image (ASan watches). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plantmap/plantmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct plantmap_wire wire;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct plantmap m;
    char err[512] = "";
    int rc = plantmap_load_string("fuzz.ini", text, &m, err, sizeof err);
    if (rc != 0 && strncmp(err, "fuzz.ini:", 9) != 0)
        abort();
    if (rc == 0) {
        for (size_t i = 0; i < plantmap_signal_count(); i++) {
            const struct plantmap_sig *g = &m.sig[i];
            if (!g->present)
                continue;
            if (g->table <= PLANTMAP_NONE || g->table >= PLANTMAP_TABLES)
                abort();
            unsigned last = plantmap_addr(&m, i, plantmap_signal(i)->lstride ? m.slots - 1 : 0);
            if (last >= PLANTMAP_ADDR_SPACE)
                abort();
            if (plantmap_signal(i)->output && (g->table == PLANTMAP_DI || g->table == PLANTMAP_IR))
                abort();
        }
        for (size_t k = 0; k < size && k < 4096; k++)
            wire.hr[k * 16 % PLANTMAP_ADDR_SPACE] = (uint16_t)(data[k] * 257u);
        struct plantmap_image img;
        plantmap_decode(&m, &wire, m.slots, false, &img);
        plantmap_decode(&m, &wire, m.slots, true, &img);
        plantmap_encode(&m, &img, m.slots, false, &wire);
        plantmap_encode(&m, &img, m.slots, true, &wire);
    }
    plantmap_free(&m);
    free(text);
    return 0;
}
