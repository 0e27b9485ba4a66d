/* JSON views of MAVLink frames, generic over the message tables. */
#include <string.h>

#include "mavlink/mav_json.h"

/* char[N] fields may hold any byte; JSON strings must be UTF-8. */
static json_t *char_field(const char *s, size_t n)
{
    char out[2 * MAV_MAX_PAYLOAD + 1];
    size_t o = 0;
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            out[o++] = (char)(0xC0 | c >> 6);
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return json_stringn(out, o);
}

static json_t *scalar(const uint8_t *p, enum mav_ftype t)
{
    switch (t) {
    case MAV_FT_UINT8: return json_integer(*p);
    case MAV_FT_INT8: return json_integer((int8_t)*p);
    case MAV_FT_UINT16: { uint16_t v; memcpy(&v, p, 2); return json_integer(v); }
    case MAV_FT_INT16: { int16_t v; memcpy(&v, p, 2); return json_integer(v); }
    case MAV_FT_UINT32: { uint32_t v; memcpy(&v, p, 4); return json_integer(v); }
    case MAV_FT_INT32: { int32_t v; memcpy(&v, p, 4); return json_integer(v); }
    case MAV_FT_FLOAT: { float v; memcpy(&v, p, 4); return json_real(v); }
    case MAV_FT_CHAR: return json_integer(*p);
    default: return json_null();
    }
}

json_t *mav_json_fields(const struct mav_msg_info *info, const void *msg)
{
    json_t *obj = json_object();
    for (size_t f = 0; obj && f < info->n_fields; f++) {
        const struct mav_field *fd = &info->fields[f];
        const uint8_t *p = (const uint8_t *)msg + fd->offset;
        json_t *v;
        if (fd->type == MAV_FT_CHAR && fd->count) {
            v = char_field((const char *)p, fd->count);
        } else if (fd->count) {
            v = json_array();
            for (size_t i = 0; v && i < fd->count; i++)
                json_array_append_new(v, scalar(p + i * mav_ftype_size(fd->type), fd->type));
        } else {
            v = scalar(p, fd->type);
        }
        if (!v || json_object_set_new(obj, fd->name, v) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *hex_string(const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char out[2 * MAV_MAX_PAYLOAD + 1];
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    return json_stringn(out, 2 * n);
}

json_t *mav_json_frame(const struct mav_frame *f, int sig_verified)
{
    const struct mav_msg_info *info = mav_msg_info(f->msgid);
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:s?}",
                          "version", f->version, "len", f->len, "incompat_flags",
                          f->incompat_flags, "compat_flags", f->compat_flags, "seq", f->seq,
                          "sysid", f->sysid, "compid", f->compid, "msgid", (json_int_t)f->msgid,
                          "name", info ? info->name : NULL);
    if (!o)
        return NULL;
    json_t *body;
    if (info) {
        union mav_msg_any msg;
        mav_decode(f, &msg);
        body = mav_json_fields(info, &msg);
        if (!body || json_object_set_new(o, "fields", body) < 0)
            goto fail;
    } else {
        body = hex_string(f->payload, f->len);
        if (!body || json_object_set_new(o, "payload", body) < 0)
            goto fail;
    }
    if (json_object_set_new(o, "signed", json_boolean(f->is_signed)) < 0)
        goto fail;
    if (f->is_signed) {
        json_t *sig = hex_string(f->signature, sizeof f->signature);
        if (json_object_set_new(o, "link_id", json_integer(f->link_id)) < 0 ||
            json_object_set_new(o, "timestamp", json_integer((json_int_t)f->timestamp)) < 0 ||
            !sig || json_object_set_new(o, "signature", sig) < 0)
            goto fail;
        if (sig_verified >= 0 &&
            json_object_set_new(o, "signature_ok", json_boolean(sig_verified)) < 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

json_t *mav_json_counters(const struct mav_parser *p)
{
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "frames_ok", json_integer((json_int_t)p->frames_ok)) < 0)
        goto fail;
    for (int d = 0; d < MAV_DROP_COUNT; d++)
        if (json_object_set_new(o, mav_drop_str(d), json_integer((json_int_t)p->drops[d])) < 0)
            goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}
