/* Test support: an autopilot-like MAVLink stream (mostly messages the station does not
 * decode, at an autopilot's relative rates and payload lengths, with their real
 * CRC_EXTRAs, some frames signed), corrupted at a given rate, and the scoring of what a
 * parser delivered from it against what was sent. Seeded and deterministic. */
#ifndef SWAP_TEST_MAVSTREAM_H
#define SWAP_TEST_MAVSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "mavlink/mav.h"

/* The key signed frames are signed with (the receiver's signing state uses it too). */
extern const uint8_t mavstream_key[32];

struct mavstream {
    uint8_t *bytes;              /* the stream as received (corrupted) */
    uint8_t *clean;              /* the stream as sent */
    size_t len;
    size_t n_frames;
    uint32_t *start;             /* n_frames + 1 offsets into the stream */
    uint8_t *intact;             /* per frame: no byte of it was corrupted */
    uint8_t *decoded;            /* per frame: a message the station decodes */
    size_t n_decoded, n_decoded_intact, n_signed, n_unchecked;
    size_t n_corrupted_bytes;
};

/* Builds about len_bytes of stream from seed, then corrupts corrupt_per_mille / 1000 of
 * its bytes (random positions, random values). Returns 0, -1 when out of memory. */
int mavstream_build(struct mavstream *s, size_t len_bytes, uint32_t seed, unsigned corrupt_per_mille);
void mavstream_free(struct mavstream *s);

struct mavstream_score {
    size_t delivered;            /* frames the parser handed out */
    size_t matched;              /* ... that are a sent frame, byte for byte */
    size_t false_accepts;        /* ... that are not */
    size_t lost;                 /* intact frames of decoded messages not delivered */
};

/* Feeds the whole stream to p (already initialised), with feed_buf, or one byte at a
 * time when bytewise, and scores what comes out. */
struct mavstream_score mavstream_score(const struct mavstream *s, struct mav_parser *p, int bytewise);

#endif
