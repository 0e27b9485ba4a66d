/* Sparkplug B (Eclipse Sparkplug 3.0): topic names and payloads on protobuf-c.
 *
 * A payload is built from plain structs (spb_payload, spb_metric) and encoded with
 * spb_encode(); spb_decode() turns received bytes back into the same structs, pointing
 * into the decoded message until spb_decoded_free(). STATE messages are JSON, not
 * protobuf (spb_state_format / spb_state_parse). No I/O here.
 */
#ifndef SWAP_SPB_H
#define SWAP_SPB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPB_NAMESPACE "spBv1.0"
#define SPB_ID_MAX 64          /* group, edge node, device and host ids (bytes incl. NUL) */
#define SPB_TOPIC_MAX 256

/* Metric.datatype values (the specification's DataType enum). */
enum spb_datatype {
    SPB_DT_UNKNOWN = 0, SPB_DT_INT8, SPB_DT_INT16, SPB_DT_INT32, SPB_DT_INT64, SPB_DT_UINT8,
    SPB_DT_UINT16, SPB_DT_UINT32, SPB_DT_UINT64, SPB_DT_FLOAT, SPB_DT_DOUBLE, SPB_DT_BOOLEAN,
    SPB_DT_STRING, SPB_DT_DATETIME, SPB_DT_TEXT, SPB_DT_UUID, SPB_DT_DATASET, SPB_DT_BYTES,
    SPB_DT_FILE, SPB_DT_TEMPLATE,
};

enum spb_msg_type {
    SPB_NBIRTH, SPB_NDEATH, SPB_DBIRTH, SPB_DDEATH, SPB_NDATA, SPB_DDATA, SPB_NCMD, SPB_DCMD,
    SPB_STATE, SPB_MSG_TYPE_COUNT,
};

extern const char *const spb_msg_type_names[SPB_MSG_TYPE_COUNT];
/* The name of a datatype as the specification spells it ("UInt64"), "Unknown" if none. */
const char *spb_datatype_name(uint32_t dt);

struct spb_topic {
    enum spb_msg_type type;
    char group[SPB_ID_MAX], node[SPB_ID_MAX], device[SPB_ID_MAX]; /* device "" for node topics */
    char host[SPB_ID_MAX];                                        /* STATE only */
};

/* spBv1.0/<group>/<TYPE>/<node>[/<device>] (STATE: spBv1.0/STATE/<host>). Returns 0, or
 * -1 when an id is empty, holds '/', '+' or '#', or the topic does not fit. */
int spb_topic_format(char *out, size_t size, const struct spb_topic *t);
/* Parses a Sparkplug B topic; -1 when it is not one. */
int spb_topic_parse(const char *topic, struct spb_topic *out);

/* A table of rows of typed values (DataSet metrics): cells[row * n_columns + col]. */
struct spb_cell {
    bool is_null;
    int64_t i;          /* integer types and Boolean */
    double d;           /* Float, Double */
    const char *s;      /* String */
};
struct spb_dataset {
    size_t n_columns, n_rows;
    const char *const *columns;
    const uint32_t *types;          /* one spb_datatype per column */
    const struct spb_cell *cells;
};

struct spb_metric {
    const char *name;               /* NULL: the alias alone names it */
    bool has_alias;
    uint64_t alias;
    bool has_timestamp;
    uint64_t timestamp_ms;
    uint32_t datatype;              /* spb_datatype; 0 when absent on the wire */
    bool is_historical, is_transient, is_null;
    /* the value, by datatype: integers and DateTime in i (UInt64 as its bit pattern),
     * Boolean in i (0/1), Float/Double in d, String/Text/UUID in s, DataSet in ds */
    int64_t i;
    double d;
    const char *s;
    const struct spb_dataset *ds;
};

struct spb_payload {
    bool has_timestamp;
    uint64_t timestamp_ms;
    bool has_seq;
    uint64_t seq;
    size_t n_metrics;
    const struct spb_metric *metrics;
};

/* Encodes p into buf. Returns the encoded length, or 0 when buf is too small or p is
 * not encodable (a DataSet cell type the encoder does not know). */
size_t spb_encode(const struct spb_payload *p, uint8_t *buf, size_t size);
/* The encoded size of p (0 if not encodable). */
size_t spb_encoded_size(const struct spb_payload *p);

/* A decoded payload; metrics and strings live until spb_decoded_free(). */
struct spb_decoded {
    struct spb_payload p;
    struct spb_metric *metrics;
    struct spb_dataset *datasets;   /* one per metric, used where ds is set */
    void *msg;                      /* the protobuf-c message */
};

/* Decodes a Sparkplug B protobuf payload. Returns 0, or -1 when the bytes are not one.
 * A metric whose datatype is absent takes its value from whichever field is present
 * (integers in i, floating in d, strings in s). */
int spb_decode(const uint8_t *buf, size_t len, struct spb_decoded *out);
void spb_decoded_free(struct spb_decoded *d);

/* The metric's value as a double (integers, Boolean, floating); NAN for others. */
double spb_metric_number(const struct spb_metric *m);

/* The primary host's STATE message (Sparkplug 3.0): {"online":true,"timestamp":ms}. */
int spb_state_format(char *out, size_t size, bool online, uint64_t timestamp_ms);
/* Returns 0 with *online and *timestamp_ms, or -1 when the text is not a STATE message. */
int spb_state_parse(const char *text, size_t len, bool *online, uint64_t *timestamp_ms);

#endif
