/* libFuzzer target for the MAVLink parser: the input is a byte stream fed with and
 * without signing. Besides memory errors it traps when the buffered and the
 * byte-at-a-time paths disagree, when the parser holds more than one frame's worth of
 * bytes, or when an accepted frame does not decode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mavlink/mav.h"
#include "mavlink/mav_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

static void check_frame(const struct mav_frame *f)
{
    union mav_msg_any msg;
    if (mav_msg_info(f->msgid) && mav_decode(f, &msg) != 0)
        abort();
    json_t *j = mav_json_frame(f, f->is_signed ? mav_signature_verify(key, f) : -1);
    json_decref(j);
}

/* Runs the whole input through one parser; returns a digest of what came out. */
static uint64_t run(const uint8_t *data, size_t size, struct mav_signing *s, bool bytewise,
                    struct mav_parser *p)
{
    struct mav_frame f;
    uint64_t digest = 1469598103934665603ULL;
    mav_parser_init(p, s);
    p->deliver_unknown = (size & 1) != 0;
    /* Both paths used as documented: after a frame, keep asking until none is left. */
    for (size_t off = 0; off < size || p->pend;) {
        size_t used = 0;
        int got;
        if (bytewise && off < size && !p->pend) {
            got = mav_parser_feed(p, data[off], &f);
            used = 1;
        } else if (bytewise) {
            got = mav_parser_poll(p, &f);
            if (!got && off < size) {
                got = mav_parser_feed(p, data[off], &f);
                used = 1;
            }
        } else {
            got = mav_parser_feed_buf(p, data + off, size - off, &used, &f);
        }
        off += used;
        if (!got && !used && off == size && p->pend)
            abort(); /* bytes left that nothing will ever look at */
        if (p->have + p->pend > MAV_MAX_FRAME)
            abort();
        if (got) {
            check_frame(&f);
            digest = (digest ^ f.msgid ^ (uint64_t)f.seq << 24 ^ (uint64_t)f.len << 32) *
                     1099511628211ULL;
        }
    }
    return digest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mav_parser a, b;
    if (run(data, size, NULL, false, &a) != run(data, size, NULL, true, &b) ||
        a.frames_ok != b.frames_ok || memcmp(a.drops, b.drops, sizeof a.drops) != 0)
        abort();

    static struct mav_signing s;
    mav_signing_init(&s, key, 0, size > 0 && (data[0] & 1));
    s.now = size > 1 ? (uint64_t)data[1] << 20 : 0;
    run(data, size, &s, false, &a);
    if (s.n_streams > MAV_SIGN_MAX_STREAMS)
        abort();
    return 0;
}
