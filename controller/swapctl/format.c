/* Aligned tables and value formatting for swapctl; see swapctl.h. */
#include "swapctl/swapctl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void swapctl_table_init(struct swapctl_table *t, int n_cols, const char *const *headers,
                        const char *align)
{
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols;
    t->headers = headers;
    t->align = align;
}

void swapctl_table_row(struct swapctl_table *t, const char *const *cells)
{
    if (t->n_rows == t->cap_rows) {
        int cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **p = realloc(t->cells, (size_t)cap * (size_t)t->n_cols * sizeof *p);
        if (!p)
            return;
        t->cells = p;
        t->cap_rows = cap;
    }
    for (int i = 0; i < t->n_cols; i++)
        t->cells[t->n_rows * t->n_cols + i] = strdup(cells[i] ? cells[i] : "-");
    t->n_rows++;
}

void swapctl_table_print(struct swapctl_table *t, FILE *f)
{
    int width[16] = { 0 };
    for (int i = 0; i < t->n_cols && i < 16; i++) {
        width[i] = (int)strlen(t->headers[i]);
        for (int r = 0; r < t->n_rows; r++) {
            const char *s = t->cells[r * t->n_cols + i];
            int w = s ? (int)strlen(s) : 0;
            if (w > width[i])
                width[i] = w;
        }
    }
    char line[1024];
    for (int r = -1; r < t->n_rows; r++) {
        size_t used = 0;
        line[0] = '\0';
        for (int i = 0; i < t->n_cols && i < 16; i++) {
            const char *s = r < 0 ? t->headers[i] : t->cells[r * t->n_cols + i];
            int n = snprintf(line + used, sizeof line - used, t->align[i] == 'r' ? "%*s%s" : "%-*s%s",
                             width[i], s ? s : "", i == t->n_cols - 1 ? "" : "  ");
            if (n < 0 || (size_t)n >= sizeof line - used)
                break;
            used += (size_t)n;
        }
        while (used && line[used - 1] == ' ')
            line[--used] = '\0';
        fprintf(f, "%s\n", line);
    }
    for (int i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->n_rows = t->cap_rows = 0;
}

const char *swapctl_num(char *buf, size_t size, const json_t *v, const char *fmt,
                        const char *unit)
{
    if (!json_is_number(v)) {
        snprintf(buf, size, "-");
        return buf;
    }
    char num[48];
    snprintf(num, sizeof num, fmt, json_number_value(v));
    snprintf(buf, size, "%s%s", num, unit ? unit : "");
    return buf;
}

const char *swapctl_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

const char *swapctl_time(char *buf, size_t size, long long ms, bool with_date)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        snprintf(buf, size, "?");
        return buf;
    }
    strftime(buf, size, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm);
    return buf;
}

const char *swapctl_bar(char *buf, size_t size, const json_t *pct, int width)
{
    if (width < 1 || (size_t)width + 1 > size) {
        buf[0] = '\0';
        return buf;
    }
    int fill = 0;
    bool known = json_is_number(pct);
    if (known) {
        double p = json_number_value(pct);
        p = p < 0 ? 0 : p > 100 ? 100 : p;
        fill = (int)(p * width / 100.0 + 0.5);
    }
    for (int i = 0; i < width; i++)
        buf[i] = !known ? ' ' : i < fill ? '#' : '.';
    buf[width] = '\0';
    return buf;
}

int swapctl_parse_since(const char *text, long long now_ms, long long *since_ms)
{
    if (!text || !*text)
        return -1;
    char *end;
    size_t len = strlen(text);
    /* "30s", "5m", "2h", "1d": that long ago */
    if (len >= 2 && strchr("smhd", text[len - 1]) && isdigit((unsigned char)text[0])) {
        double v = strtod(text, &end);
        if (end != text + len - 1 || v < 0 || v > 1e6)
            return -1;
        double unit = text[len - 1] == 's' ? 1e3 : text[len - 1] == 'm' ? 60e3
                    : text[len - 1] == 'h' ? 3600e3 : 86400e3;
        *since_ms = now_ms - (long long)(v * unit);
        return 0;
    }
    /* plain integer: ms since the epoch */
    bool digits = true;
    for (size_t i = 0; i < len; i++)
        digits &= isdigit((unsigned char)text[i]) != 0;
    if (digits) {
        if (len > 15)
            return -1;
        *since_ms = strtoll(text, NULL, 10);
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = NULL;
    bool today = false;
    static const char *const formats[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                                           "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d" };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0] && !rest; i++) {
        memset(&tm, 0, sizeof tm);
        rest = strptime(text, formats[i], &tm);
        if (rest && *rest && strcmp(rest, "Z"))
            rest = NULL;
    }
    if (!rest) {
        memset(&tm, 0, sizeof tm);
        rest = strptime(text, "%H:%M:%S", &tm);
        if (!rest || *rest) {
            memset(&tm, 0, sizeof tm);
            rest = strptime(text, "%H:%M", &tm);
        }
        if (!rest || (*rest && strcmp(rest, "Z")))
            return -1;
        today = true;
    }
    bool utc = !strcmp(rest, "Z");
    if (today) {
        time_t now = (time_t)(now_ms / 1000);
        struct tm cur;
        if (!(utc ? gmtime_r(&now, &cur) : localtime_r(&now, &cur)))
            return -1;
        tm.tm_year = cur.tm_year;
        tm.tm_mon = cur.tm_mon;
        tm.tm_mday = cur.tm_mday;
    }
    tm.tm_isdst = -1;
    time_t t = utc ? timegm(&tm) : mktime(&tm);
    if (t == (time_t)-1)
        return -1;
    *since_ms = (long long)t * 1000;
    return 0;
}
