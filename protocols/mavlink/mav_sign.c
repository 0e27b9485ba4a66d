/* MAVLink 2 message signing: SHA-256 signatures (nettle), per-stream replay protection,
 * stale rejection and the bounded stream table (policy in mav.h). */
#include <string.h>

#include <nettle/sha2.h>

#include "mavlink/mav.h"
#include "mavlink/mav_priv.h"
#include "mavlink/mav_util.h"

void mav_sign_bytes(const uint8_t key[32], const uint8_t *bytes, size_t n, uint8_t out[6])
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, 32, key);
    sha256_update(&ctx, n, bytes);
    sha256_digest(&ctx, sizeof digest, digest);
    memcpy(out, digest, 6);
}

void mav_signing_init(struct mav_signing *s, const uint8_t key[32], uint8_t link_id, bool require)
{
    memset(s, 0, sizeof *s);
    memcpy(s->key, key, sizeof s->key);
    s->link_id = link_id;
    s->require = require;
}

void mav_signing_set_time_unix_us(struct mav_signing *s, uint64_t unix_us)
{
    uint64_t t = mav_unix_us_to_timestamp(unix_us);
    /* A clock stepping back must not reopen the stale window for old frames. */
    if (t > s->now)
        s->now = t;
}

bool mav_signature_verify(const uint8_t key[32], const struct mav_frame *f)
{
    if (!f->is_signed || f->version != 2)
        return false;
    uint8_t bytes[MAV_MAX_FRAME];
    size_t n = 0;
    bytes[n++] = MAV_STX_V2;
    bytes[n++] = f->len;
    bytes[n++] = f->incompat_flags;
    bytes[n++] = f->compat_flags;
    bytes[n++] = f->seq;
    bytes[n++] = f->sysid;
    bytes[n++] = f->compid;
    for (int i = 0; i < 3; i++)
        bytes[n++] = (uint8_t)(f->msgid >> (8 * i));
    memcpy(bytes + n, f->payload, f->len);
    n += f->len;
    bytes[n++] = (uint8_t)f->checksum;
    bytes[n++] = (uint8_t)(f->checksum >> 8);
    bytes[n++] = f->link_id;
    for (int i = 0; i < 6; i++)
        bytes[n++] = (uint8_t)(f->timestamp >> (8 * i));
    uint8_t sig[6];
    mav_sign_bytes(key, bytes, n, sig);
    /* Constant time, so the comparison leaks nothing about how much of a guess matched. */
    uint8_t diff = 0;
    for (int i = 0; i < 6; i++)
        diff |= (uint8_t)(sig[i] ^ f->signature[i]);
    return diff == 0;
}

static bool is_stale(const struct mav_signing *s, uint64_t ts)
{
    return ts + MAV_SIGN_STALE_UNITS < s->now;
}

/* The stream's slot, a new slot for it (NULL if the table is full and no slot may be
 * reused), and whether it is new. */
static struct mav_sign_stream *stream_slot(struct mav_signing *s, const struct mav_frame *f,
                                           bool *is_new)
{
    struct mav_sign_stream *oldest = NULL;
    *is_new = false;
    for (size_t i = 0; i < s->n_streams; i++) {
        struct mav_sign_stream *st = &s->streams[i];
        if (st->sysid == f->sysid && st->compid == f->compid && st->link_id == f->link_id)
            return st;
        if (!oldest || st->timestamp < oldest->timestamp)
            oldest = st;
    }
    *is_new = true;
    if (s->n_streams < MAV_SIGN_MAX_STREAMS)
        return &s->streams[s->n_streams];
    /* Reusing a slot is safe only when every frame the stream ever sent is stale: a
     * replay of any of them is then refused by the stale rule instead. */
    if (oldest && is_stale(s, oldest->timestamp))
        return oldest;
    return NULL;
}

int mav_signing_accept(struct mav_signing *s, const struct mav_frame *f)
{
    if (f->version != 2 || !f->is_signed)
        return s->require ? MAV_DROP_UNSIGNED : -1;
    if (!mav_signature_verify(s->key, f))
        return MAV_DROP_BAD_SIGNATURE;
    bool is_new;
    struct mav_sign_stream *st = stream_slot(s, f, &is_new);
    if (!is_new && f->timestamp <= st->timestamp)
        return MAV_DROP_REPLAY;
    if (is_stale(s, f->timestamp))
        return MAV_DROP_STALE;
    if (!st)
        return MAV_DROP_TOO_MANY_STREAMS;
    if (is_new && st == &s->streams[s->n_streams])
        s->n_streams++;
    st->sysid = f->sysid;
    st->compid = f->compid;
    st->link_id = f->link_id;
    st->timestamp = f->timestamp;
    return -1;
}
