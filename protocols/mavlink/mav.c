/* MAVLink codec: CRC, table-driven pack/unpack, encoder and the frame parser. */
#include <string.h>

#include "mavlink/mav.h"
#include "mavlink/mav_priv.h"

#define SIGN_TRAILER 7 /* link id + 6-byte timestamp, covered by the signature hash */

uint16_t mav_crc_accumulate(uint8_t byte, uint16_t crc)
{
    uint8_t tmp = (uint8_t)(byte ^ (uint8_t)(crc & 0xFF));
    tmp ^= (uint8_t)(tmp << 4);
    return (uint16_t)((crc >> 8) ^ ((uint16_t)tmp << 8) ^ ((uint16_t)tmp << 3) ^ (tmp >> 4));
}

/* Slicing by eight: the CRC is linear, so the contribution of each of eight bytes
 * (the first two with the running CRC folded in) is looked up independently; the
 * lookups do not wait for each other as the bitwise steps do. */
uint16_t mav_crc_buf(const uint8_t *b, size_t n, uint16_t crc)
{
    const uint16_t (*t)[256] = mav_crc_tables;
    for (; n >= 8; n -= 8, b += 8) {
        uint8_t b0 = (uint8_t)(b[0] ^ (crc & 0xFF)), b1 = (uint8_t)(b[1] ^ (crc >> 8));
        crc = (uint16_t)(t[7][b0] ^ t[6][b1] ^ t[5][b[2]] ^ t[4][b[3]] ^ t[3][b[4]] ^
                         t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]);
    }
    for (; n; n--, b++)
        crc = (uint16_t)((crc >> 8) ^ t[0][(crc ^ *b) & 0xFF]);
    return crc;
}

static const char *const drop_names[MAV_DROP_COUNT] = {
    [MAV_DROP_GARBAGE_BYTES] = "garbage_bytes",
    [MAV_DROP_BAD_CRC] = "bad_crc",
    [MAV_DROP_BAD_LEN] = "bad_len",
    [MAV_DROP_UNKNOWN_MSG] = "unknown_msg",
    [MAV_DROP_INCOMPAT_FLAGS] = "incompat_flags",
    [MAV_DROP_BAD_SYSID] = "bad_sysid",
    [MAV_DROP_UNSIGNED] = "unsigned",
    [MAV_DROP_BAD_SIGNATURE] = "bad_signature",
    [MAV_DROP_REPLAY] = "replay",
    [MAV_DROP_STALE] = "stale",
    [MAV_DROP_TOO_MANY_STREAMS] = "too_many_streams",
    [MAV_DROP_V1] = "v1",
    [MAV_DROP_UNCHECKED] = "unchecked",
};

const char *mav_drop_str(enum mav_drop d)
{
    return (unsigned)d < MAV_DROP_COUNT ? drop_names[d] : "unknown";
}

const struct mav_dialect_entry *mav_dialect_find(uint32_t msgid)
{
    size_t lo = 0, hi = mav_dialect_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mav_dialect[mid].id < msgid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < mav_dialect_count && mav_dialect[lo].id == msgid ? &mav_dialect[lo] : NULL;
}

/* ---- pack / unpack, driven by the field tables ------------------------------------ */

/* Values go through an unsigned integer of the element's size, little-endian on the
 * wire whatever the host order; floats travel as their IEEE-754 bit pattern. */
static void pack_fields(const struct mav_msg_info *info, const uint8_t *msg, uint8_t *payload)
{
    size_t w = 0;
    for (size_t f = 0; f < info->n_fields; f++) {
        const struct mav_field *fd = &info->fields[f];
        size_t size = mav_ftype_size(fd->type), n = fd->count ? fd->count : 1;
        const uint8_t *src = msg + fd->offset;
        for (size_t i = 0; i < n; i++, src += size) {
            uint32_t v = 0;
            switch (size) {
            case 1: v = src[0]; break;
            case 2: { uint16_t x; memcpy(&x, src, 2); v = x; break; }
            default: memcpy(&v, src, 4); break;
            }
            for (size_t b = 0; b < size; b++)
                payload[w++] = (uint8_t)(v >> (8 * b));
        }
    }
}

static void unpack_fields(const struct mav_msg_info *info, const uint8_t *payload, uint8_t *msg)
{
    size_t r = 0;
    for (size_t f = 0; f < info->n_fields; f++) {
        const struct mav_field *fd = &info->fields[f];
        size_t size = mav_ftype_size(fd->type), n = fd->count ? fd->count : 1;
        uint8_t *dst = msg + fd->offset;
        for (size_t i = 0; i < n; i++, dst += size) {
            uint32_t v = 0;
            for (size_t b = 0; b < size; b++)
                v |= (uint32_t)payload[r++] << (8 * b);
            switch (size) {
            case 1: dst[0] = (uint8_t)v; break;
            case 2: { uint16_t x = (uint16_t)v; memcpy(dst, &x, 2); break; }
            default: memcpy(dst, &v, 4); break;
            }
        }
    }
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Writes header, CRC and signature around the payload already in buf + MAV_HEADER_LEN. */
static int encode_frame(struct mav_tx *tx, uint32_t msgid, uint8_t crc_extra, size_t len,
                        uint8_t *buf)
{
    uint8_t *payload = buf + MAV_HEADER_LEN;
    struct mav_signing *s = tx->signing;
    buf[0] = MAV_STX_V2;
    buf[1] = (uint8_t)len;
    buf[2] = s ? MAV_IFLAG_SIGNED : 0;
    buf[3] = 0;
    buf[4] = tx->seq++;
    buf[5] = tx->sysid;
    buf[6] = tx->compid;
    put_le(buf + 7, msgid, 3);
    uint16_t crc = mav_crc_buf(buf + 1, MAV_HEADER_LEN - 1 + len, 0xFFFF);
    crc = mav_crc_accumulate(crc_extra, crc);
    put_le(payload + len, crc, 2);
    size_t n = MAV_HEADER_LEN + len + 2;
    if (!s)
        return (int)n;

    /* Strictly increasing per stream even when frames go out faster than the clock
     * ticks (10 us) or the clock stands still. */
    uint64_t ts = s->now > s->tx_timestamp ? s->now : s->tx_timestamp + 1;
    s->tx_timestamp = ts;
    buf[n] = s->link_id;
    put_le(buf + n + 1, ts, 6);
    mav_sign_bytes(s->key, buf, n + SIGN_TRAILER, buf + n + SIGN_TRAILER);
    return (int)(n + MAV_SIGNATURE_LEN);
}

int mav_encode(struct mav_tx *tx, uint32_t msgid, const void *msg, uint8_t *buf)
{
    const struct mav_msg_info *info = mav_msg_info(msgid);
    if (!info || !tx || !msg || !buf)
        return -1;
    uint8_t *payload = buf + MAV_HEADER_LEN;
    pack_fields(info, msg, payload);
    size_t len = info->max_len;
    while (len > 1 && payload[len - 1] == 0)
        len--;
    return encode_frame(tx, msgid, info->crc_extra, len, buf);
}

int mav_encode_raw(struct mav_tx *tx, uint32_t msgid, uint8_t crc_extra, const uint8_t *payload,
                   uint8_t len, uint8_t *buf)
{
    if (!tx || (!payload && len) || !buf || msgid > 0xFFFFFF)
        return -1;
    if (len)
        memmove(buf + MAV_HEADER_LEN, payload, len);
    return encode_frame(tx, msgid, crc_extra, len, buf);
}

int mav_decode(const struct mav_frame *frame, void *msg)
{
    const struct mav_msg_info *info = frame ? mav_msg_info(frame->msgid) : NULL;
    if (!info || !msg)
        return -1;
    /* The frame's payload is zero beyond len up to max_len, which is what restores
     * truncated trailing zeros and absent extensions. */
    uint8_t payload[MAV_MAX_PAYLOAD];
    memcpy(payload, frame->payload, info->max_len);
    if (frame->len < info->max_len)
        memset(payload + frame->len, 0, info->max_len - frame->len);
    memset(msg, 0, info->struct_size);
    unpack_fields(info, payload, msg);
    return 0;
}

/* ---- parser ------------------------------------------------------------------------ */

enum { PS_IDLE, PS_HEADER, PS_BODY, PS_SKIP };

#define V1_HEADER_LEN 6

void mav_parser_init(struct mav_parser *p, struct mav_signing *signing)
{
    memset(p, 0, sizeof *p);
    p->signing = signing;
    p->state = PS_IDLE;
    p->synced = true;
}

static inline bool is_magic(uint8_t b)
{
    return (uint8_t)(b - MAV_STX_V2) <= 1; /* 0xFD or 0xFE */
}

/* Drops the candidate's magic byte and queues the rest of it, ahead of the bytes still
 * pending, to be looked at again. */
static void parser_rescan(struct mav_parser *p)
{
    size_t n = p->have - 1 + p->pend;
    memmove(p->buf, p->buf + 1, n);
    p->have = 0;
    p->pend = n;
    p->state = PS_IDLE;
}

static void parser_reject(struct mav_parser *p, enum mav_drop why)
{
    p->drops[why]++;
    p->synced = false;
    parser_rescan(p);
}

/* The candidate was a real frame (its CRC held, or it was skipped whole): forget it. */
static void parser_consume(struct mav_parser *p)
{
    if (p->pend)
        memmove(p->buf, p->buf + p->have, p->pend);
    p->have = 0;
    p->state = PS_IDLE;
    p->synced = true;
}

/* What a frame of msgid is checked against: the decoded message's table, else the
 * dialect table. False when neither names it. */
static bool frame_rule(uint32_t msgid, uint8_t *crc_extra, uint8_t *base_len, uint8_t *max_len)
{
    const struct mav_msg_info *info = mav_msg_info(msgid);
    if (info) {
        *crc_extra = info->crc_extra;
        *base_len = info->base_len;
        *max_len = info->max_len;
        return true;
    }
    const struct mav_dialect_entry *e = mav_dialect_find(msgid);
    if (!e)
        return false;
    *crc_extra = e->crc_extra;
    *base_len = e->base_len;
    *max_len = e->max_len;
    return true;
}

static void parser_header(struct mav_parser *p)
{
    const uint8_t *b = p->buf;
    uint32_t msgid;
    size_t len = b[1], trailer = 0;
    if (b[0] == MAV_STX_V2) {
        /* An incompat flag we do not know may change the frame's layout: nothing after
         * the header can be trusted. */
        if (b[2] & ~MAV_IFLAG_SIGNED) {
            parser_reject(p, MAV_DROP_INCOMPAT_FLAGS);
            return;
        }
        msgid = (uint32_t)b[7] | (uint32_t)b[8] << 8 | (uint32_t)b[9] << 16;
        trailer = (b[2] & MAV_IFLAG_SIGNED) ? MAV_SIGNATURE_LEN : 0;
        p->need = MAV_HEADER_LEN + len + 2 + trailer;
    } else {
        msgid = b[5];
        p->need = V1_HEADER_LEN + len + 2;
    }
    uint8_t crc_extra = 0, base_len = 0, max_len = 0;
    if (!frame_rule(msgid, &crc_extra, &base_len, &max_len)) {
        /* No CRC_EXTRA: nothing about it can be checked, and trusting its length could
         * swallow good frames behind it. */
        if (p->synced && p->deliver_unknown) {
            p->state = PS_SKIP;
            return;
        }
        p->drops[p->synced ? MAV_DROP_UNCHECKED : MAV_DROP_GARBAGE_BYTES]++;
        p->synced = false;
        parser_rescan(p);
        return;
    }
    /* MAVLink 1 has neither truncation nor extensions: its length is the base length. */
    if (len > max_len || (b[0] == MAV_STX_V1 && len != base_len)) {
        parser_reject(p, MAV_DROP_BAD_LEN);
        return;
    }
    p->state = PS_BODY;
}

/* Copies the candidate into *f, its payload zero-filled up to max_len. */
static void fill_frame(const uint8_t *b, size_t max_len, struct mav_frame *f)
{
    size_t len = b[1];
    const uint8_t *payload;
    if (b[0] == MAV_STX_V2) {
        f->version = 2;
        f->incompat_flags = b[2];
        f->compat_flags = b[3];
        f->seq = b[4];
        f->sysid = b[5];
        f->compid = b[6];
        f->msgid = (uint32_t)b[7] | (uint32_t)b[8] << 8 | (uint32_t)b[9] << 16;
        payload = b + MAV_HEADER_LEN;
    } else {
        f->version = 1;
        f->incompat_flags = 0;
        f->compat_flags = 0;
        f->seq = b[2];
        f->sysid = b[3];
        f->compid = b[4];
        f->msgid = b[5];
        payload = b + V1_HEADER_LEN;
    }
    f->len = (uint8_t)len;
    memcpy(f->payload, payload, len);
    size_t fill_to = max_len > len ? max_len : len;
    memset(f->payload + len, 0, fill_to - len);
    f->checksum = (uint16_t)get_le(payload + len, 2);
    f->is_signed = f->version == 2 && (f->incompat_flags & MAV_IFLAG_SIGNED);
    if (f->is_signed) {
        const uint8_t *sig = payload + len + 2;
        f->link_id = sig[0];
        f->timestamp = get_le(sig + 1, 6);
        memcpy(f->signature, sig + SIGN_TRAILER, 6);
    } else {
        f->link_id = 0;
        f->timestamp = 0;
        memset(f->signature, 0, sizeof f->signature);
    }
}

/* The candidate is complete. Returns 1 when *out holds an accepted frame. */
static int parser_frame(struct mav_parser *p, struct mav_frame *out)
{
    const uint8_t *b = p->buf;
    if (p->state == PS_SKIP) {
        p->drops[MAV_DROP_UNKNOWN_MSG]++;
        if (p->deliver_unknown) {
            fill_frame(b, 0, out);
            parser_consume(p);
            return 1;
        }
        parser_consume(p);
        return 0;
    }
    bool v2 = b[0] == MAV_STX_V2;
    size_t hlen = v2 ? MAV_HEADER_LEN : V1_HEADER_LEN, len = b[1];
    uint32_t msgid = v2 ? (uint32_t)b[7] | (uint32_t)b[8] << 8 | (uint32_t)b[9] << 16 : b[5];
    const struct mav_msg_info *info = mav_msg_info(msgid);
    uint8_t crc_extra = 0, base_len = 0, max_len = 0;
    frame_rule(msgid, &crc_extra, &base_len, &max_len);
    uint16_t crc = mav_crc_buf(b + 1, hlen - 1 + len, 0xFFFF);
    crc = mav_crc_accumulate(crc_extra, crc);
    if (crc != (uint16_t)get_le(b + hlen + len, 2)) {
        parser_reject(p, MAV_DROP_BAD_CRC);
        return 0;
    }
    /* From here on the frame is genuine (its CRC held): it is skipped whole, never
     * rescanned. */
    if (!v2)
        p->drops[MAV_DROP_V1]++;
    if (!info) {
        p->drops[MAV_DROP_UNKNOWN_MSG]++;
        if (p->deliver_unknown) {
            fill_frame(b, max_len, out);
            parser_consume(p);
            return 1;
        }
        parser_consume(p);
        return 0;
    }
    if ((v2 ? b[5] : b[3]) == 0) {
        p->drops[MAV_DROP_BAD_SYSID]++;
        parser_consume(p);
        return 0;
    }
    fill_frame(b, info->max_len, out);
    if (p->signing) {
        int why = mav_signing_accept(p->signing, out);
        if (why >= 0) {
            p->drops[why]++;
            parser_consume(p);
            return 0;
        }
    }
    p->frames_ok++;
    parser_consume(p);
    return 1;
}

/* Moves the parser on using only the bytes it holds (buf[have..have+pend)). */
static int parser_run_pending(struct mav_parser *p, struct mav_frame *out)
{
    while (p->pend) {
        if (p->state == PS_IDLE) {
            size_t i = 0;
            while (i < p->pend && !is_magic(p->buf[i]))
                i++;
            p->drops[MAV_DROP_GARBAGE_BYTES] += i;
            if (i)
                p->synced = false;
            p->pend -= i;
            if (!p->pend)
                return 0;
            if (i)
                memmove(p->buf, p->buf + i, p->pend);
            p->have = 1;
            p->pend--;
            p->need = p->buf[0] == MAV_STX_V2 ? MAV_HEADER_LEN : V1_HEADER_LEN;
            p->state = PS_HEADER;
            continue;
        }
        size_t take = p->need - p->have;
        if (take > p->pend)
            take = p->pend;
        p->have += take;
        p->pend -= take;
        if (p->have < p->need)
            return 0;
        if (p->state == PS_HEADER)
            parser_header(p);
        else if (parser_frame(p, out))
            return 1;
    }
    return 0;
}

int mav_parser_feed_buf(struct mav_parser *p, const uint8_t *data, size_t len, size_t *used,
                        struct mav_frame *out)
{
    size_t i = 0;
    for (;;) {
        if (p->pend && parser_run_pending(p, out)) {
            *used = i;
            return 1;
        }
        if (i == len)
            break;
        if (p->state == PS_IDLE) {
            size_t j = i;
            while (j < len && !is_magic(data[j]))
                j++;
            if (j > i) {
                p->drops[MAV_DROP_GARBAGE_BYTES] += j - i;
                p->synced = false;
            }
            i = j;
            if (i == len)
                break;
            p->buf[0] = data[i++];
            p->have = 1;
            p->need = p->buf[0] == MAV_STX_V2 ? MAV_HEADER_LEN : V1_HEADER_LEN;
            p->state = PS_HEADER;
        }
        size_t take = p->need - p->have;
        if (take > len - i)
            take = len - i;
        memcpy(p->buf + p->have, data + i, take);
        p->have += take;
        i += take;
        if (p->have < p->need)
            break;
        if (p->state == PS_HEADER)
            parser_header(p);
        else if (parser_frame(p, out)) {
            *used = i;
            return 1;
        }
    }
    *used = i;
    return 0;
}

int mav_parser_poll(struct mav_parser *p, struct mav_frame *out)
{
    return p->pend ? parser_run_pending(p, out) : 0;
}

int mav_parser_feed(struct mav_parser *p, uint8_t byte, struct mav_frame *out)
{
    /* Fast paths for the common bytes: inside a frame that is not yet complete, and
     * garbage between frames. */
    if (p->pend == 0) {
        if (p->state != PS_IDLE && p->have + 1 < p->need) {
            p->buf[p->have++] = byte;
            return 0;
        }
        if (p->state == PS_IDLE && !is_magic(byte)) {
            p->drops[MAV_DROP_GARBAGE_BYTES]++;
            p->synced = false;
            return 0;
        }
    }
    size_t used;
    int got = mav_parser_feed_buf(p, &byte, 1, &used, out);
    if (got && used == 0) {
        /* A frame came out of the rescanned bytes before this byte was looked at: keep
         * it queued behind them. The buffer has room: see struct mav_parser. */
        p->buf[p->have + p->pend] = byte;
        p->pend++;
    }
    return got;
}
