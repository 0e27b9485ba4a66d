/* Table-driven INI configuration on libinih; see cfg.h. */
#include "config/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CFG_MAX_KEYS 256

#define CFG_MAX_TABLES 8

struct parse_ctx {
    const char *file;
    const struct cfg_table *tables;
    size_t n_tables;
    struct cfg_error *err;
    struct cfg_where *where;    /* optional: where each key was set */
    int line;                   /* current line, counted by our reader */
    int first_error_line;
    bool seen[CFG_MAX_TABLES][CFG_MAX_KEYS];
    /* in-memory reader state */
    const char *text;
    size_t pos;
    /* file reader state: one whole physical line, however long */
    FILE *fp;
    char *phys;
    size_t phys_cap;
    /* the value of the current line when the line was too long to give libinih whole */
    char *long_value;
    size_t long_cap;
    bool use_long_value;
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
        /* Base 10 only: "020" is twenty, as a reader of the file would take it. */
        long long v = strtoll(value, &end, 10);
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
    if (c->use_long_value)
        value = c->long_value;
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
            if (c->where && c->where->n < CFG_WHERE_MAX)
                c->where->keys[c->where->n++] = (struct cfg_origin){ k->section, k->name, c->line };
            const char *why = store_value(k, tb->obj, value);
            if (why) {
                char range[160], allowed[200] = "";
                describe_range(k, range, sizeof range);
                if (range[0])
                    snprintf(allowed, sizeof allowed, " (allowed: %s%s%s)", range,
                             k->unit && k->unit[0] ? " " : "", k->unit ? k->unit : "");
                /* a long value is quoted by its start, so the reason stays readable */
                add_error(c->err, c->file, c->line, "[%s] %s = \"%.60s%s\": %s%s", section, name,
                          value, strlen(value) > 60 ? "..." : "", why, allowed);
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

static void line_error(struct parse_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Error found by a reader, in line order with those of on_value. */
static void line_error(struct parse_ctx *c, const char *fmt, ...)
{
    char text[CFG_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (c->err->n_errors == 0)
        c->first_error_line = c->line;
    add_error(c->err, c->file, c->line, "%s", text);
}

/* As libinih's find_chars_or_comment(): the first of chars (NULL: none), or an inline
 * comment (';' after whitespace), or the end. */
static const char *find_chars_or_comment(const char *s, const char *end, const char *chars)
{
    bool was_space = false;
    while (s < end && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/* Hands libinih one physical line (any length) in its fixed buffer of `size` bytes.
 * libinih as packaged cuts lines at a compile-time length (200 bytes; its run-time
 * ini_max_line and ini_allow_realloc do not change that build's buffer) and reads the
 * rest as a line of its own, so a longer line is given in a short form: a comment as an empty
 * line, a section header without what follows its ']', and "key = value" as the key
 * with a stand-in value; on_value then takes the real value, stripped as libinih would
 * (inline comment, surrounding spaces). Line numbers stay exact: one physical line per
 * call. A NUL byte would cut the line short unseen: it is refused with its line. */
static char *feed_line(struct parse_ctx *c, char *buf, int size, const char *phys, size_t len)
{
    c->line++;
    c->use_long_value = false;
    if (memchr(phys, 0, len)) {
        line_error(c, "NUL byte at column %zu (a text file has none; is this the right file?)",
                   (size_t)((const char *)memchr(phys, 0, len) - phys) + 1);
        snprintf(buf, (size_t)size, "\n");
        return buf;
    }
    if (len > CFG_LINE_MAX) {
        line_error(c, "line longer than %d bytes", CFG_LINE_MAX);
        snprintf(buf, (size_t)size, "\n");
        return buf;
    }
    if (len + 1 <= (size_t)size) {
        memcpy(buf, phys, len);
        buf[len] = 0;
        return buf;
    }
    const char *end = phys + len;
    while (end > phys && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    const char *s = phys;
    while (s < end && isspace((unsigned char)*s))
        s++;
    if (s == end || *s == ';' || *s == '#') {
        snprintf(buf, (size_t)size, "\n");
        return buf;
    }
    if (*s == '[') {
        const char *close = find_chars_or_comment(s + 1, end, "]");
        if (close < end && *close == ']' && (size_t)(close - s) + 3 <= (size_t)size) {
            memcpy(buf, s, (size_t)(close - s) + 1);
            memcpy(buf + (close - s) + 1, "\n", 2);
        } else {
            /* libinih names a header without ']' a syntax error; a name this long is
             * no section of ours either way */
            line_error(c, "syntax error (section header too long or without ']')");
            snprintf(buf, (size_t)size, "\n");
        }
        return buf;
    }
    const char *sep = find_chars_or_comment(s, end, "=:");
    if (sep == end || (*sep != '=' && *sep != ':') || (size_t)(sep - phys) + 4 > (size_t)size) {
        line_error(c, "syntax error (expected [section] or key = value)");
        snprintf(buf, (size_t)size, "\n");
        return buf;
    }
    const char *v = sep + 1;
    const char *vend = find_chars_or_comment(v, end, NULL);
    while (v < vend && isspace((unsigned char)*v))
        v++;
    while (vend > v && isspace((unsigned char)vend[-1]))
        vend--;
    size_t vlen = (size_t)(vend - v);
    if (vlen + 1 > c->long_cap) {
        char *p = realloc(c->long_value, vlen + 1);
        if (!p) {
            line_error(c, "cannot parse (out of memory)");
            snprintf(buf, (size_t)size, "\n");
            return buf;
        }
        c->long_value = p;
        c->long_cap = vlen + 1;
    }
    memcpy(c->long_value, v, vlen);
    c->long_value[vlen] = 0;
    c->use_long_value = true;
    memcpy(buf, phys, (size_t)(sep - phys) + 1);
    memcpy(buf + (sep - phys) + 1, "x\n", 3);
    return buf;
}

static char *read_string(char *buf, int size, void *stream)
{
    struct parse_ctx *c = stream;
    if (!c->text[c->pos])
        return NULL;
    const char *start = c->text + c->pos;
    const char *nl = strchr(start, '\n');
    size_t len = nl ? (size_t)(nl - start) + 1 : strlen(start);
    c->pos += len;
    return feed_line(c, buf, size, start, len);
}

static char *read_file(char *buf, int size, void *stream)
{
    struct parse_ctx *c = stream;
    errno = 0;
    ssize_t n = getline(&c->phys, &c->phys_cap, c->fp);
    if (n < 0) {
        if (ferror(c->fp)) {
            c->line++;
            line_error(c, "cannot read: %s", strerror(errno ? errno : EIO));
        }
        return NULL;
    }
    return feed_line(c, buf, size, c->phys, (size_t)n);
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
                   size_t n_tables, struct cfg_error *err, struct cfg_where *where)
{
    memset(c, 0, sizeof *c);
    c->file = file;
    c->where = where;
    if (where) {
        memset(where, 0, sizeof *where);
        snprintf(where->file, sizeof where->file, "%s", file);
    }
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

static void finish(struct parse_ctx *c)
{
    free(c->phys);
    free(c->long_value);
}

int cfg_load_tables_where(const char *path, const struct cfg_table *tables, size_t n_tables,
                          struct cfg_error *err, struct cfg_where *where)
{
    struct parse_ctx c;
    if (prepare(&c, path, tables, n_tables, err, where))
        return -1;
    c.fp = fopen(path, "r");
    if (!c.fp) {
        add_error(err, path, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(c.fp), &st) != 0)
        st.st_mode = 0;
    if (!S_ISREG(st.st_mode)) {
        add_error(err, path, 0, "not a regular file%s",
                  S_ISDIR(st.st_mode) ? " (a directory): name the .ini file itself" : "");
        fclose(c.fp);
        return -1;
    }
    int rc = run(&c, read_file);
    fclose(c.fp);
    finish(&c);
    return rc;
}

int cfg_load_tables(const char *path, const struct cfg_table *tables, size_t n_tables,
                    struct cfg_error *err)
{
    return cfg_load_tables_where(path, tables, n_tables, err, NULL);
}

int cfg_load_tables_string_where(const char *name, const char *text, const struct cfg_table *tables,
                                 size_t n_tables, struct cfg_error *err, struct cfg_where *where)
{
    struct parse_ctx c;
    if (prepare(&c, name, tables, n_tables, err, where))
        return -1;
    c.text = text;
    int rc = run(&c, read_string);
    finish(&c);
    return rc;
}

int cfg_load_tables_string(const char *name, const char *text, const struct cfg_table *tables,
                           size_t n_tables, struct cfg_error *err)
{
    return cfg_load_tables_string_where(name, text, tables, n_tables, err, NULL);
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

int cfg_where_line(const struct cfg_where *w, const char *section, const char *name)
{
    for (int i = 0; w && i < w->n; i++)
        if (!strcmp(w->keys[i].section, section) && !strcmp(w->keys[i].name, name))
            return w->keys[i].line;
    return 0;
}

/* Where `word` first stands alone in text (not inside a longer name), or NULL. */
static const char *find_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
        bool left = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        bool right = !(isalnum((unsigned char)p[n]) || p[n] == '_');
        if (left && right)
            return p;
    }
    return NULL;
}

void cfg_where_error(const struct cfg_where *w, struct cfg_error *err, const char *fmt, ...)
{
    char text[CFG_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    int line = 0;
    const char *first = NULL;
    const char *close = text[0] == '[' ? strchr(text, ']') : NULL;
    for (int i = 0; close && w && i < w->n; i++) {
        size_t sl = strlen(w->keys[i].section);
        if ((size_t)(close - text - 1) != sl || strncmp(text + 1, w->keys[i].section, sl))
            continue;
        const char *at = find_word(close + 1, w->keys[i].name);
        if (at && (!first || at < first)) {
            first = at;
            line = w->keys[i].line;
        }
    }
    memset(err, 0, sizeof *err);
    add_error(err, w && w->file[0] ? w->file : "config", line, "%s", text);
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
