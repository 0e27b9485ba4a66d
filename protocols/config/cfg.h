/* Table-driven INI configuration on libinih.
 *
 * A module describes its settings once, as a table of keys (section, name, type, range,
 * default, unit, meaning); cfg_load() applies the defaults, parses the file and checks
 * every value against the table. Unknown sections and keys, malformed numbers, values
 * out of range and duplicate keys are errors reported as "file:line: [section] key: reason".
 * Integers are decimal ("020" is twenty). Lines may be up to CFG_LINE_MAX bytes; a NUL
 * byte in a file, or a path that is not a regular file, is an error.
 * The same tables generate the configuration reference (cfg_write_markdown).
 */
#ifndef SWAP_CFG_H
#define SWAP_CFG_H

#include <stddef.h>
#include <stdio.h>

enum cfg_type { CFG_INT, CFG_DOUBLE, CFG_BOOL, CFG_STRING, CFG_ENUM };

struct cfg_key {
    const char *section;
    const char *name;
    enum cfg_type type;
    size_t offset;          /* into the caller's settings struct */
    size_t size;            /* CFG_STRING: buffer size including the NUL */
    double min, max;        /* CFG_INT / CFG_DOUBLE: inclusive range */
    const char *def;        /* default as it would be written in the file */
    const char *unit;
    const char *const *enum_names; /* CFG_ENUM: NULL-terminated; stored as int index */
    const char *help;
};

#define CFG_ERR_MAX 512
#define CFG_LINE_MAX 65536      /* longest line a file may have, in bytes */
#define CFG_WHERE_MAX 512

struct cfg_error {
    char msg[CFG_ERR_MAX];  /* first error, "file:line: [section] key: reason" */
    int n_errors;           /* how many errors the file had in all */
};

/* Sets every key of the table to its default in obj. Returns 0, or -1 if a default in
 * the table itself is invalid (a programming error, described in err). */
int cfg_defaults(const struct cfg_key *keys, size_t n_keys, void *obj, struct cfg_error *err);

/* Applies defaults, then parses path. Returns 0 when the whole file is valid; otherwise
 * -1 with err->msg naming the first problem (obj then holds defaults overlaid with the
 * valid values and must not be used). A file that cannot be opened is an error too. */
int cfg_load(const char *path, const struct cfg_key *keys, size_t n_keys, void *obj,
             struct cfg_error *err);

/* As cfg_load, from an in-memory text (name is used in messages). */
int cfg_load_string(const char *name, const char *text, const struct cfg_key *keys,
                    size_t n_keys, void *obj, struct cfg_error *err);

/* One key table and the settings struct it fills; a file may be described by several
 * (e.g. swapd.ini: the station's keys and the battery policy's keys). */
struct cfg_table {
    const struct cfg_key *keys;
    size_t n_keys;
    void *obj;
};

/* As cfg_load, with several tables; a key belongs to the first table that names it. */
int cfg_load_tables(const char *path, const struct cfg_table *tables, size_t n_tables,
                    struct cfg_error *err);
int cfg_load_tables_string(const char *name, const char *text, const struct cfg_table *tables,
                           size_t n_tables, struct cfg_error *err);

/* Where each key of a loaded file was set, for checks that span several keys. */
struct cfg_origin {
    const char *section, *name;   /* the key table's own strings */
    int line;
};
struct cfg_where {
    char file[256];
    int n;
    struct cfg_origin keys[CFG_WHERE_MAX];
};

/* As cfg_load_tables / cfg_load_tables_string, also filling where (may be NULL). */
int cfg_load_tables_where(const char *path, const struct cfg_table *tables, size_t n_tables,
                          struct cfg_error *err, struct cfg_where *where);
int cfg_load_tables_string_where(const char *name, const char *text, const struct cfg_table *tables,
                                 size_t n_tables, struct cfg_error *err, struct cfg_where *where);

/* The line that set [section] name, or 0 if the file left it at its default. */
int cfg_where_line(const struct cfg_where *w, const char *section, const char *name);

/* Reports a check across keys: err->msg = "file:line: text", text formatted from fmt.
 * text starts with "[section]" and names the keys involved; line is the line of the
 * first key of that section named in text that the file set ("file: text" when the
 * file set none of them, e.g. all were defaults or came from the command line). */
void cfg_where_error(const struct cfg_where *w, struct cfg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the table as a Markdown reference: section, key, type, default, unit, range,
 * meaning. */
void cfg_write_markdown(FILE *f, const struct cfg_key *keys, size_t n_keys);

/* Helpers for building tables. */
#define CFG_I(sec, key, st, field, lo, hi, dflt, unit, help) \
    { sec, key, CFG_INT, offsetof(st, field), sizeof(((st *)0)->field), lo, hi, dflt, unit, NULL, help }
#define CFG_D(sec, key, st, field, lo, hi, dflt, unit, help) \
    { sec, key, CFG_DOUBLE, offsetof(st, field), sizeof(((st *)0)->field), lo, hi, dflt, unit, NULL, help }
#define CFG_B(sec, key, st, field, dflt, help) \
    { sec, key, CFG_BOOL, offsetof(st, field), sizeof(((st *)0)->field), 0, 1, dflt, "", NULL, help }
#define CFG_S(sec, key, st, field, dflt, help) \
    { sec, key, CFG_STRING, offsetof(st, field), sizeof(((st *)0)->field), 0, 0, dflt, "", NULL, help }
#define CFG_E(sec, key, st, field, names, dflt, help) \
    { sec, key, CFG_ENUM, offsetof(st, field), sizeof(((st *)0)->field), 0, 0, dflt, "", names, help }

#endif
