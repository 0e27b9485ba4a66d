/* regmap-doc: prints the register map as Markdown (docs/register-map.md). */
#include <stdio.h>
#include <stdlib.h>

#include "regmap/regmap.h"

int main(int argc, char **argv)
{
    unsigned n = 8;
    if (argc > 1) {
        char *end;
        unsigned long v = strtoul(argv[1], &end, 10);
        if (*end || v == 0 || v > REGMAP_MAX_SLOTS) {
            fprintf(stderr, "regmap-doc: slot count must be 1..%d\n", REGMAP_MAX_SLOTS);
            return 2;
        }
        n = (unsigned)v;
    }
    regmap_write_markdown(stdout, n);
    return 0;
}
