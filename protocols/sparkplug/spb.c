/* Sparkplug B topics and payloads; see spb.h. */
#include "sparkplug/spb.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparkplug/sparkplug_b.pb-c.h"

const char *const spb_msg_type_names[SPB_MSG_TYPE_COUNT] = {
    [SPB_NBIRTH] = "NBIRTH", [SPB_NDEATH] = "NDEATH", [SPB_DBIRTH] = "DBIRTH", [SPB_DDEATH] = "DDEATH",
    [SPB_NDATA] = "NDATA",   [SPB_DDATA] = "DDATA",   [SPB_NCMD] = "NCMD",     [SPB_DCMD] = "DCMD",
    [SPB_STATE] = "STATE",
};

static const char *const datatype_names[] = {
    "Unknown", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float",
    "Double", "Boolean", "String", "DateTime", "Text", "UUID", "DataSet", "Bytes", "File", "Template",
};

const char *spb_datatype_name(uint32_t dt)
{
    return dt < sizeof datatype_names / sizeof datatype_names[0] ? datatype_names[dt] : "Unknown";
}

/* ---- topics ------------------------------------------------------------------------ */

static bool id_ok(const char *s)
{
    return s && *s && !strpbrk(s, "/+#") && strlen(s) < SPB_ID_MAX;
}

int spb_topic_format(char *out, size_t size, const struct spb_topic *t)
{
    int n;
    if (t->type == SPB_STATE) {
        if (!id_ok(t->host))
            return -1;
        n = snprintf(out, size, SPB_NAMESPACE "/STATE/%s", t->host);
    } else {
        if (t->type >= SPB_MSG_TYPE_COUNT || !id_ok(t->group) || !id_ok(t->node))
            return -1;
        bool dev = t->type == SPB_DBIRTH || t->type == SPB_DDEATH || t->type == SPB_DDATA || t->type == SPB_DCMD;
        if (dev && !id_ok(t->device))
            return -1;
        n = dev ? snprintf(out, size, SPB_NAMESPACE "/%s/%s/%s/%s", t->group, spb_msg_type_names[t->type],
                           t->node, t->device)
                : snprintf(out, size, SPB_NAMESPACE "/%s/%s/%s", t->group, spb_msg_type_names[t->type], t->node);
    }
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int copy_part(char *dst, const char *src, size_t len)
{
    if (len == 0 || len >= SPB_ID_MAX)
        return -1;
    memcpy(dst, src, len);
    dst[len] = 0;
    return id_ok(dst) ? 0 : -1;
}

int spb_topic_parse(const char *topic, struct spb_topic *out)
{
    memset(out, 0, sizeof *out);
    const char *ns = SPB_NAMESPACE "/";
    if (strncmp(topic, ns, strlen(ns)))
        return -1;
    const char *parts[5];
    size_t lens[5];
    int n = 0;
    const char *p = topic + strlen(ns);
    while (n < 5) {
        const char *slash = strchr(p, '/');
        parts[n] = p;
        lens[n] = slash ? (size_t)(slash - p) : strlen(p);
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (n == 5 && strchr(parts[4], '/'))
        return -1;
    if (n == 2 && lens[0] == 5 && !strncmp(parts[0], "STATE", 5)) {
        out->type = SPB_STATE;
        return copy_part(out->host, parts[1], lens[1]);
    }
    if (n < 3)
        return -1;
    int type = -1;
    for (int t = 0; t < SPB_STATE; t++)
        if (strlen(spb_msg_type_names[t]) == lens[1] && !strncmp(parts[1], spb_msg_type_names[t], lens[1]))
            type = t;
    if (type < 0)
        return -1;
    out->type = (enum spb_msg_type)type;
    bool dev = type == SPB_DBIRTH || type == SPB_DDEATH || type == SPB_DDATA || type == SPB_DCMD;
    if ((dev && n != 4) || (!dev && n != 3))
        return -1;
    if (copy_part(out->group, parts[0], lens[0]) || copy_part(out->node, parts[2], lens[2]))
        return -1;
    return dev ? copy_part(out->device, parts[3], lens[3]) : 0;
}

/* ---- encode ------------------------------------------------------------------------ */

/* Everything one encode allocates, freed together. */
struct arena {
    void **ptrs;
    size_t n, cap;
    bool failed;
};

static void *arena_alloc(struct arena *a, size_t size)
{
    if (a->failed)
        return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        void **np = realloc(a->ptrs, cap * sizeof *np);
        if (!np) {
            a->failed = true;
            return NULL;
        }
        a->ptrs = np;
        a->cap = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        a->failed = true;
        return NULL;
    }
    a->ptrs[a->n++] = p;
    return p;
}

static void arena_free(struct arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    free(a->ptrs);
}

static bool is_32bit_int(uint32_t dt)
{
    return dt == SPB_DT_INT8 || dt == SPB_DT_INT16 || dt == SPB_DT_INT32 || dt == SPB_DT_UINT8 ||
           dt == SPB_DT_UINT16 || dt == SPB_DT_UINT32;
}

static bool is_64bit_int(uint32_t dt) { return dt == SPB_DT_INT64 || dt == SPB_DT_UINT64 || dt == SPB_DT_DATETIME; }

static bool is_string(uint32_t dt) { return dt == SPB_DT_STRING || dt == SPB_DT_TEXT || dt == SPB_DT_UUID; }

static Spb__DataSet *build_dataset(struct arena *a, const struct spb_dataset *ds)
{
    Spb__DataSet *pb = arena_alloc(a, sizeof *pb);
    char **cols = arena_alloc(a, ds->n_columns * sizeof *cols);
    uint32_t *types = arena_alloc(a, ds->n_columns * sizeof *types);
    Spb__DataSetRow **rows = arena_alloc(a, ds->n_rows * sizeof *rows);
    if (!pb || !cols || !types || !rows)
        return NULL;
    spb__data_set__init(pb);
    pb->has_num_of_columns = 1;
    pb->num_of_columns = ds->n_columns;
    for (size_t c = 0; c < ds->n_columns; c++) {
        cols[c] = (char *)ds->columns[c];
        types[c] = ds->types[c];
    }
    pb->n_columns = pb->n_types = ds->n_columns;
    pb->columns = cols;
    pb->types = types;
    for (size_t r = 0; r < ds->n_rows; r++) {
        Spb__DataSetRow *row = arena_alloc(a, sizeof *row);
        Spb__DataSetValue **els = arena_alloc(a, ds->n_columns * sizeof *els);
        if (!row || !els)
            return NULL;
        spb__data_set_row__init(row);
        row->n_elements = ds->n_columns;
        row->elements = els;
        for (size_t c = 0; c < ds->n_columns; c++) {
            const struct spb_cell *cell = &ds->cells[r * ds->n_columns + c];
            Spb__DataSetValue *v = arena_alloc(a, sizeof *v);
            if (!v)
                return NULL;
            spb__data_set_value__init(v);
            uint32_t t = ds->types[c];
            if (cell->is_null) {
                /* a DataSet cell cannot be null on the wire: leave the value unset */
            } else if (is_32bit_int(t)) {
                v->value_case = SPB__DATA_SET_VALUE__VALUE_INT_VALUE;
                v->int_value = (uint32_t)cell->i;
            } else if (is_64bit_int(t)) {
                v->value_case = SPB__DATA_SET_VALUE__VALUE_LONG_VALUE;
                v->long_value = (uint64_t)cell->i;
            } else if (t == SPB_DT_FLOAT) {
                v->value_case = SPB__DATA_SET_VALUE__VALUE_FLOAT_VALUE;
                v->float_value = (float)cell->d;
            } else if (t == SPB_DT_DOUBLE) {
                v->value_case = SPB__DATA_SET_VALUE__VALUE_DOUBLE_VALUE;
                v->double_value = cell->d;
            } else if (t == SPB_DT_BOOLEAN) {
                v->value_case = SPB__DATA_SET_VALUE__VALUE_BOOLEAN_VALUE;
                v->boolean_value = cell->i != 0;
            } else if (is_string(t)) {
                v->value_case = SPB__DATA_SET_VALUE__VALUE_STRING_VALUE;
                v->string_value = (char *)(cell->s ? cell->s : "");
            } else {
                return NULL;
            }
            els[c] = v;
        }
        rows[r] = row;
    }
    pb->n_rows = ds->n_rows;
    pb->rows = rows;
    return pb;
}

static int build_metric(struct arena *a, const struct spb_metric *m, Spb__Metric *pb)
{
    spb__metric__init(pb);
    pb->name = (char *)m->name;
    pb->has_alias = m->has_alias;
    pb->alias = m->alias;
    pb->has_timestamp = m->has_timestamp;
    pb->timestamp = m->timestamp_ms;
    pb->has_datatype = m->datatype != SPB_DT_UNKNOWN;
    pb->datatype = m->datatype;
    pb->has_is_historical = m->is_historical;
    pb->is_historical = m->is_historical;
    pb->has_is_transient = m->is_transient;
    pb->is_transient = m->is_transient;
    pb->has_is_null = m->is_null;
    pb->is_null = m->is_null;
    if (m->is_null)
        return 0;
    uint32_t dt = m->datatype;
    if (is_32bit_int(dt)) {
        pb->value_case = SPB__METRIC__VALUE_INT_VALUE;
        pb->int_value = (uint32_t)m->i;
    } else if (is_64bit_int(dt)) {
        pb->value_case = SPB__METRIC__VALUE_LONG_VALUE;
        pb->long_value = (uint64_t)m->i;
    } else if (dt == SPB_DT_FLOAT) {
        pb->value_case = SPB__METRIC__VALUE_FLOAT_VALUE;
        pb->float_value = (float)m->d;
    } else if (dt == SPB_DT_DOUBLE) {
        pb->value_case = SPB__METRIC__VALUE_DOUBLE_VALUE;
        pb->double_value = m->d;
    } else if (dt == SPB_DT_BOOLEAN) {
        pb->value_case = SPB__METRIC__VALUE_BOOLEAN_VALUE;
        pb->boolean_value = m->i != 0;
    } else if (is_string(dt)) {
        pb->value_case = SPB__METRIC__VALUE_STRING_VALUE;
        pb->string_value = (char *)(m->s ? m->s : "");
    } else if (dt == SPB_DT_DATASET && m->ds) {
        pb->value_case = SPB__METRIC__VALUE_DATASET_VALUE;
        pb->dataset_value = build_dataset(a, m->ds);
        if (!pb->dataset_value)
            return -1;
    } else {
        return -1;
    }
    return 0;
}

/* Builds the protobuf message for p in a; NULL if p is not encodable. */
static Spb__Payload *build_payload(struct arena *a, const struct spb_payload *p)
{
    Spb__Payload *pb = arena_alloc(a, sizeof *pb);
    Spb__Metric **ptrs = arena_alloc(a, p->n_metrics * sizeof *ptrs);
    Spb__Metric *ms = arena_alloc(a, p->n_metrics * sizeof *ms);
    if (!pb || !ptrs || !ms)
        return NULL;
    spb__payload__init(pb);
    pb->has_timestamp = p->has_timestamp;
    pb->timestamp = p->timestamp_ms;
    pb->has_seq = p->has_seq;
    pb->seq = p->seq;
    for (size_t i = 0; i < p->n_metrics; i++) {
        if (build_metric(a, &p->metrics[i], &ms[i]) != 0)
            return NULL;
        ptrs[i] = &ms[i];
    }
    pb->n_metrics = p->n_metrics;
    pb->metrics = ptrs;
    return pb;
}

size_t spb_encoded_size(const struct spb_payload *p)
{
    struct arena a = { 0 };
    Spb__Payload *pb = build_payload(&a, p);
    size_t n = pb ? spb__payload__get_packed_size(pb) : 0;
    arena_free(&a);
    return n;
}

size_t spb_encode(const struct spb_payload *p, uint8_t *buf, size_t size)
{
    struct arena a = { 0 };
    Spb__Payload *pb = build_payload(&a, p);
    size_t n = 0;
    if (pb && spb__payload__get_packed_size(pb) <= size)
        n = spb__payload__pack(pb, buf);
    arena_free(&a);
    return n;
}

/* ---- decode ------------------------------------------------------------------------ */

static int64_t sign_extend(uint32_t dt, uint64_t v)
{
    switch (dt) {
    case SPB_DT_INT8: return (int8_t)(uint8_t)v;
    case SPB_DT_INT16: return (int16_t)(uint16_t)v;
    case SPB_DT_INT32: return (int32_t)(uint32_t)v;
    default: return (int64_t)v;
    }
}

static int decode_dataset(const Spb__DataSet *pb, struct spb_dataset *ds, struct spb_cell **cells_out)
{
    size_t nc = pb->n_columns;
    if (pb->n_types != nc)
        return -1;
    for (size_t r = 0; r < pb->n_rows; r++)
        if (pb->rows[r]->n_elements != nc)
            return -1;
    struct spb_cell *cells = calloc(nc * pb->n_rows + 1, sizeof *cells);
    if (!cells)
        return -1;
    for (size_t r = 0; r < pb->n_rows; r++) {
        for (size_t c = 0; c < nc; c++) {
            const Spb__DataSetValue *v = pb->rows[r]->elements[c];
            struct spb_cell *cell = &cells[r * nc + c];
            switch (v->value_case) {
            case SPB__DATA_SET_VALUE__VALUE_INT_VALUE: cell->i = sign_extend(pb->types[c], v->int_value); break;
            case SPB__DATA_SET_VALUE__VALUE_LONG_VALUE: cell->i = (int64_t)v->long_value; break;
            case SPB__DATA_SET_VALUE__VALUE_FLOAT_VALUE: cell->d = v->float_value; break;
            case SPB__DATA_SET_VALUE__VALUE_DOUBLE_VALUE: cell->d = v->double_value; break;
            case SPB__DATA_SET_VALUE__VALUE_BOOLEAN_VALUE: cell->i = v->boolean_value; break;
            case SPB__DATA_SET_VALUE__VALUE_STRING_VALUE: cell->s = v->string_value; break;
            default: cell->is_null = true; break;
            }
        }
    }
    ds->n_columns = nc;
    ds->n_rows = pb->n_rows;
    ds->columns = (const char *const *)pb->columns;
    ds->types = pb->types;
    ds->cells = cells;
    *cells_out = cells;
    return 0;
}

int spb_decode(const uint8_t *buf, size_t len, struct spb_decoded *out)
{
    memset(out, 0, sizeof *out);
    Spb__Payload *pb = spb__payload__unpack(NULL, len, buf);
    if (!pb)
        return -1;
    out->msg = pb;
    out->metrics = calloc(pb->n_metrics + 1, sizeof *out->metrics);
    out->datasets = calloc(pb->n_metrics + 1, sizeof *out->datasets);
    if (!out->metrics || !out->datasets) {
        spb_decoded_free(out);
        return -1;
    }
    out->p.has_timestamp = pb->has_timestamp;
    out->p.timestamp_ms = pb->timestamp;
    out->p.has_seq = pb->has_seq;
    out->p.seq = pb->seq;
    out->p.n_metrics = pb->n_metrics;
    out->p.metrics = out->metrics;
    for (size_t i = 0; i < pb->n_metrics; i++) {
        const Spb__Metric *s = pb->metrics[i];
        struct spb_metric *m = &out->metrics[i];
        m->name = s->name;
        m->has_alias = s->has_alias;
        m->alias = s->alias;
        m->has_timestamp = s->has_timestamp;
        m->timestamp_ms = s->timestamp;
        m->datatype = s->has_datatype ? s->datatype : SPB_DT_UNKNOWN;
        m->is_historical = s->has_is_historical && s->is_historical;
        m->is_transient = s->has_is_transient && s->is_transient;
        m->is_null = s->has_is_null && s->is_null;
        switch (s->value_case) {
        case SPB__METRIC__VALUE_INT_VALUE: m->i = sign_extend(m->datatype, s->int_value); break;
        case SPB__METRIC__VALUE_LONG_VALUE: m->i = (int64_t)s->long_value; break;
        case SPB__METRIC__VALUE_FLOAT_VALUE: m->d = s->float_value; break;
        case SPB__METRIC__VALUE_DOUBLE_VALUE: m->d = s->double_value; break;
        case SPB__METRIC__VALUE_BOOLEAN_VALUE: m->i = s->boolean_value; break;
        case SPB__METRIC__VALUE_STRING_VALUE: m->s = s->string_value; break;
        case SPB__METRIC__VALUE_DATASET_VALUE: {
            struct spb_cell *cells;
            if (decode_dataset(s->dataset_value, &out->datasets[i], &cells) != 0) {
                spb_decoded_free(out);
                return -1;
            }
            (void)cells; /* owned through datasets[i].cells, freed by spb_decoded_free */
            m->ds = &out->datasets[i];
            break;
        }
        default:
            if (s->value_case == SPB__METRIC__VALUE__NOT_SET && !m->is_null)
                m->is_null = true;
            break;
        }
    }
    return 0;
}

void spb_decoded_free(struct spb_decoded *d)
{
    if (d->datasets && d->msg) {
        const Spb__Payload *pb = d->msg;
        for (size_t i = 0; i < pb->n_metrics; i++)
            free((void *)d->datasets[i].cells);
    }
    free(d->datasets);
    free(d->metrics);
    if (d->msg)
        spb__payload__free_unpacked(d->msg, NULL);
    memset(d, 0, sizeof *d);
}

double spb_metric_number(const struct spb_metric *m)
{
    if (m->is_null)
        return NAN;
    uint32_t dt = m->datatype;
    if (dt == SPB_DT_FLOAT || dt == SPB_DT_DOUBLE)
        return m->d;
    if (dt == SPB_DT_UINT64)
        return (double)(uint64_t)m->i;
    if (is_32bit_int(dt) || is_64bit_int(dt) || dt == SPB_DT_BOOLEAN)
        return (double)m->i;
    return NAN;
}

/* ---- STATE ------------------------------------------------------------------------- */

int spb_state_format(char *out, size_t size, bool online, uint64_t timestamp_ms)
{
    int n = snprintf(out, size, "{\"online\":%s,\"timestamp\":%llu}", online ? "true" : "false",
                     (unsigned long long)timestamp_ms);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int spb_state_parse(const char *text, size_t len, bool *online, uint64_t *timestamp_ms)
{
    json_error_t err;
    json_t *j = json_loadb(text, len, 0, &err);
    json_t *on = json_object_get(j, "online"), *ts = json_object_get(j, "timestamp");
    int rc = -1;
    if (json_is_boolean(on) && json_is_integer(ts) && json_integer_value(ts) >= 0) {
        *online = json_is_true(on);
        *timestamp_ms = (uint64_t)json_integer_value(ts);
        rc = 0;
    }
    json_decref(j);
    return rc;
}
