/* Table-driven INI configuration on libinih; see cfg.h. */
#include "config/cfg.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CFG_MAX_KEYS 256

#define CFG_MAX_TABLES 8

struct parse_ctx {
    const char *file;
    const struct cfg_table *tables;
    size_t n_tables;
    struct cfg_error *err;
    int line;                   /* current line, counted by our reader */
    int first_error_line;
    bool seen[CFG_MAX_TABLES][CFG_MAX_KEYS];
    /* in-memory reader state */
    const char *text;
    size_t pos;
    FILE *fp;
};

static void add_error(struct cfg_error *err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error(struct cfg_error *err, const char *file, int line, const char *fmt, ...)
{
    if (err->n_errors++ > 0)
        return;
    int n = line > 0 ? snprintf(err->msg, sizeof err->msg, "%s:%d: ", file, line)
                     : snprintf(err->msg, sizeof err->msg, "%s: ", file);
    if (n < 0 || (size_t)n >= sizeof err->msg)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Parses value into the key's field; on failure returns a static reason. */
static const char *store_value(const struct cfg_key *k, void *obj, const char *value)
{
    char *field = (char *)obj + k->offset;
    char *end;
    switch (k->type) {
    case CFG_INT: {
        if (!*value)
            return "empty value, expected an integer";
        errno = 0;
        long long v = strtoll(value, &end, 0);
        if (errno || *end)
            return "not an integer";
        if ((double)v < k->min || (double)v > k->max)
            return "out of range";
        if (k->size == sizeof(int))
            *(int *)field = (int)v;
        else if (k->size == sizeof(long long))
            *(long long *)field = v;
        else
            return "internal: unsupported integer size";
        return NULL;
    }
    case CFG_DOUBLE: {
        if (!*value)
            return "empty value, expected a number";
        errno = 0;
        double v = strtod(value, &end);
        if (errno || *end || !isfinite(v))
            return "not a finite number";
        if (v < k->min || v > k->max)
            return "out of range";
        *(double *)field = v;
        return NULL;
    }
    case CFG_BOOL: {
        bool v;
        if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcmp(value, "1") ||
            !strcasecmp(value, "on"))
            v = true;
        else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") || !strcmp(value, "0") ||
                 !strcasecmp(value, "off"))
            v = false;
        else
            return "not a boolean (true/false, yes/no, on/off, 1/0)";
        *(bool *)field = v;
        return NULL;
    }
    case CFG_STRING: {
        size_t len = strlen(value);
        if (len + 1 > k->size)
            return "too long";
        memcpy(field, value, len + 1);
        return NULL;
    }
    case CFG_ENUM:
        for (int i = 0; k->enum_names[i]; i++) {
            if (!strcmp(value, k->enum_names[i])) {
                *(int *)field = i;
                return NULL;
            }
        }
        return "not one of the allowed values";
    }
    return "internal: unknown key type";
}

static void describe_range(const struct cfg_key *k, char *buf, size_t size)
{
    buf[0] = 0;
    if (k->type == CFG_INT)
        snprintf(buf, size, "%.0f..%.0f", k->min, k->max);
    else if (k->type == CFG_DOUBLE)
        snprintf(buf, size, "%g..%g", k->min, k->max);
    else if (k->type == CFG_BOOL)
        snprintf(buf, size, "true/false");
    else if (k->type == CFG_ENUM) {
        size_t used = 0;
        for (int i = 0; k->enum_names[i] && used < size; i++) {
            int n = snprintf(buf + used, size - used, "%s%s", i ? "/" : "", k->enum_names[i]);
            if (n < 0)
                break;
            used += (size_t)n;
        }
    }
}

static int on_value(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *c = user;
    if (c->err->n_errors == 0)
        c->first_error_line = c->line;
    bool known_section = false;
    for (size_t t = 0; t < c->n_tables; t++) {
        const struct cfg_table *tb = &c->tables[t];
        for (size_t i = 0; i < tb->n_keys; i++) {
            const struct cfg_key *k = &tb->keys[i];
            known_section |= !strcmp(k->section, section);
            if (strcmp(k->section, section) || strcmp(k->name, name))
                continue;
            if (c->seen[t][i]) {
                add_error(c->err, c->file, c->line, "[%s] %s: set twice", section, name);
                return 1;
            }
            c->seen[t][i] = true;
            const char *why = store_value(k, tb->obj, value);
            if (why) {
                char range[160], allowed[200] = "";
                describe_range(k, range, sizeof range);
                if (range[0])
                    snprintf(allowed, sizeof allowed, " (allowed: %s%s%s)", range,
                             k->unit && k->unit[0] ? " " : "", k->unit ? k->unit : "");
                add_error(c->err, c->file, c->line, "[%s] %s = \"%s\": %s%s", section, name,
                          value, why, allowed);
            }
            return 1;
        }
    }
    if (known_section)
        add_error(c->err, c->file, c->line, "[%s] %s: unknown key", section, name);
    else
        add_error(c->err, c->file, c->line, "[%s]: unknown section (key %s)", section, name);
    return 1;
}

/* Line readers that count lines, so errors carry the line libinih is on. */
static char *read_string(char *buf, int size, void *stream)
{
    struct parse_ctx *c = stream;
    if (!c->text[c->pos])
        return NULL;
    int n = 0;
    while (c->text[c->pos] && n < size - 1) {
        char ch = c->text[c->pos++];
        buf[n++] = ch;
        if (ch == '\n')
            break;
    }
    buf[n] = 0;
    c->line++;
    return buf;
}

static char *read_file(char *buf, int size, void *stream)
{
    struct parse_ctx *c = stream;
    char *r = fgets(buf, size, c->fp);
    if (r)
        c->line++;
    return r;
}

static int run(struct parse_ctx *c, ini_reader reader)
{
    int rc = ini_parse_stream(reader, c, on_value, c);
    if (rc > 0 && (c->err->n_errors == 0 || rc <= c->first_error_line)) {
        /* A syntax error is the real cause of what followed it: report it first. */
        int n = c->err->n_errors;
        c->err->n_errors = 0;
        add_error(c->err, c->file, rc, "syntax error (expected [section] or key = value)");
        c->err->n_errors += n;
    } else if (rc < 0) {
        add_error(c->err, c->file, 0, "cannot parse (%s)", rc == -2 ? "out of memory" : "read error");
    }
    return c->err->n_errors ? -1 : 0;
}

int cfg_defaults(const struct cfg_key *keys, size_t n_keys, void *obj, struct cfg_error *err)
{
    memset(err, 0, sizeof *err);
    for (size_t i = 0; i < n_keys; i++) {
        const char *why = store_value(&keys[i], obj, keys[i].def);
        if (why)
            add_error(err, "defaults", 0, "[%s] %s = \"%s\": %s", keys[i].section, keys[i].name,
                      keys[i].def, why);
    }
    return err->n_errors ? -1 : 0;
}

static int prepare(struct parse_ctx *c, const char *file, const struct cfg_table *tables,
                   size_t n_tables, struct cfg_error *err)
{
    memset(c, 0, sizeof *c);
    c->file = file;
    c->tables = tables;
    c->n_tables = n_tables;
    c->err = err;
    memset(err, 0, sizeof *err);
    if (n_tables > CFG_MAX_TABLES) {
        add_error(err, file, 0, "internal: too many key tables");
        return -1;
    }
    for (size_t t = 0; t < n_tables; t++) {
        struct cfg_error derr;
        if (tables[t].n_keys > CFG_MAX_KEYS) {
            add_error(err, file, 0, "internal: too many keys in a table");
            return -1;
        }
        if (cfg_defaults(tables[t].keys, tables[t].n_keys, tables[t].obj, &derr)) {
            *err = derr;
            return -1;
        }
    }
    return 0;
}

int cfg_load_tables(const char *path, const struct cfg_table *tables, size_t n_tables,
                    struct cfg_error *err)
{
    struct parse_ctx c;
    if (prepare(&c, path, tables, n_tables, err))
        return -1;
    c.fp = fopen(path, "r");
    if (!c.fp) {
        add_error(err, path, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = run(&c, read_file);
    fclose(c.fp);
    return rc;
}

int cfg_load_tables_string(const char *name, const char *text, const struct cfg_table *tables,
                           size_t n_tables, struct cfg_error *err)
{
    struct parse_ctx c;
    if (prepare(&c, name, tables, n_tables, err))
        return -1;
    c.text = text;
    return run(&c, read_string);
}

int cfg_load(const char *path, const struct cfg_key *keys, size_t n_keys, void *obj,
             struct cfg_error *err)
{
    struct cfg_table t = { keys, n_keys, obj };
    return cfg_load_tables(path, &t, 1, err);
}

int cfg_load_string(const char *name, const char *text, const struct cfg_key *keys,
                    size_t n_keys, void *obj, struct cfg_error *err)
{
    struct cfg_table t = { keys, n_keys, obj };
    return cfg_load_tables_string(name, text, &t, 1, err);
}

void cfg_write_markdown(FILE *f, const struct cfg_key *keys, size_t n_keys)
{
    static const char *const type_names[] = { "integer", "number", "boolean", "string", "choice" };
    fprintf(f, "| Section | Key | Type | Default | Unit | Allowed | Meaning |\n");
    fprintf(f, "|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < n_keys; i++) {
        char range[160];
        describe_range(&keys[i], range, sizeof range);
        fprintf(f, "| %s | %s | %s | %s | %s | %s | %s |\n", keys[i].section, keys[i].name,
                type_names[keys[i].type], keys[i].def[0] ? keys[i].def : "(empty)",
                keys[i].unit ? keys[i].unit : "", range, keys[i].help);
    }
}
