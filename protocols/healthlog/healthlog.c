/* The charge / flight log's number format; see healthlog.h. */
#include "healthlog/healthlog.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *healthlog_num(char *buf, size_t size, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, size, "-");
        return buf;
    }
    /* Plain notation in the range where it is readable, exponents outside it. */
    bool plain = v == 0 || (fabs(v) >= 1e-4 && fabs(v) < 1e15);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v && (!plain || !strchr(buf, 'e')))
            return buf;
    }
    snprintf(buf, size, "%.17g", v);
    return buf;
}
