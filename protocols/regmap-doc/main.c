/* regmap-doc: prints a plant map as Markdown (docs/register-map.md is the default map's).
 *
 *   regmap-doc [--map FILE] [--ini] [SLOTS]
 *
 * Without --map, the compiled default map; --ini prints the map as a map file instead
 * (configs/plantmap/default.ini is the default map's). Exit 2 on a bad map or argument. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plantmap/plantmap.h"

int main(int argc, char **argv)
{
    unsigned n = 8;
    const char *map_path = NULL;
    bool ini = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--map") && i + 1 < argc) {
            map_path = argv[++i];
        } else if (!strcmp(argv[i], "--ini")) {
            ini = true;
        } else {
            char *end;
            unsigned long v = strtoul(argv[i], &end, 10);
            if (*end || v == 0 || v > REGMAP_MAX_SLOTS) {
                fprintf(stderr, "usage: regmap-doc [--map FILE] [--ini] [SLOTS]; slot count must be 1..%d\n",
                        REGMAP_MAX_SLOTS);
                return 2;
            }
            n = (unsigned)v;
        }
    }
    struct plantmap m;
    char err[512];
    if (map_path ? plantmap_load(map_path, &m, err, sizeof err) != 0 : plantmap_default(&m) != 0) {
        fprintf(stderr, "regmap-doc: %s\n", map_path ? err : "out of memory");
        return 2;
    }
    if (plantmap_check_slots(&m, n, err, sizeof err) != 0) {
        fprintf(stderr, "regmap-doc: %s\n", err);
        plantmap_free(&m);
        return 2;
    }
    if (ini)
        plantmap_write_ini(stdout, &m);
    else
        plantmap_write_markdown(stdout, &m, n);
    plantmap_free(&m);
    return 0;
}
