#include "mavstream.h"

#include <stdlib.h>
#include <string.h>

const uint8_t mavstream_key[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

/* What an ArduPilot copter streams at its default rates (SR*_ parameters), in frames
 * per second, plus the station protocol's own messages and one vendor message that no
 * dialect names. len 0: the dialect's full length (extensions included). */
static const struct {
    uint32_t msgid;
    unsigned per_s;
    uint8_t len;
} mix[] = {
    { 30, 10, 0 },     /* ATTITUDE */
    { 33, 5, 0 },      /* GLOBAL_POSITION_INT */
    { 24, 5, 0 },      /* GPS_RAW_INT */
    { 74, 5, 0 },      /* VFR_HUD */
    { 65, 5, 0 },      /* RC_CHANNELS */
    { 36, 5, 0 },      /* SERVO_OUTPUT_RAW */
    { 27, 5, 0 },      /* RAW_IMU */
    { 116, 5, 0 },     /* SCALED_IMU2 */
    { 29, 5, 0 },      /* SCALED_PRESSURE */
    { 62, 5, 0 },      /* NAV_CONTROLLER_OUTPUT */
    { 178, 5, 0 },     /* AHRS2 */
    { 163, 5, 0 },     /* AHRS */
    { 241, 2, 0 },     /* VIBRATION */
    { 193, 2, 0 },     /* EKF_STATUS_REPORT */
    { 152, 1, 0 },     /* MEMINFO */
    { 125, 1, 0 },     /* POWER_STATUS */
    { 2, 1, 0 },       /* SYSTEM_TIME */
    { 42, 1, 0 },      /* MISSION_CURRENT */
    { 111, 1, 0 },     /* TIMESYNC */
    { 0, 1, 0 },       /* HEARTBEAT (decoded) */
    { 1, 2, 0 },       /* SYS_STATUS (decoded) */
    { 147, 1, 0 },     /* BATTERY_STATUS (decoded) */
    { 245, 1, 0 },     /* EXTENDED_SYS_STATE (decoded) */
    { 253, 1, 0 },     /* STATUSTEXT (decoded) */
    { 76, 1, 0 },      /* COMMAND_LONG (decoded) */
    { 77, 1, 0 },      /* COMMAND_ACK (decoded) */
    { 42000, 1, 24 },  /* a vendor message no dialect names */
};
#define N_MIX (sizeof mix / sizeof mix[0])

static uint32_t next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Payload bytes that look like telemetry: many zeros and small integers, some float
 * exponents, the rest anything (so 0xFD/0xFE occur inside payloads as they do). */
static uint8_t payload_byte(uint32_t *x)
{
    uint32_t r = next(x);
    switch (r % 8) {
    case 0: case 1: return 0;
    case 2: return (uint8_t)(r >> 8) & 0x0F;
    case 3: return (r >> 8) & 1 ? 0x3F : 0xBF;
    case 4: return 0xFF;
    default: return (uint8_t)(r >> 16);
    }
}

int mavstream_build(struct mavstream *s, size_t len_bytes, uint32_t seed, unsigned corrupt_per_mille)
{
    memset(s, 0, sizeof *s);
    size_t cap = len_bytes + MAV_MAX_FRAME, max_frames = len_bytes / 12 + 2;
    s->bytes = malloc(cap);
    s->clean = malloc(cap);
    s->start = malloc(max_frames * sizeof *s->start);
    s->intact = malloc(max_frames);
    s->decoded = malloc(max_frames);
    if (!s->bytes || !s->clean || !s->start || !s->intact || !s->decoded) {
        mavstream_free(s);
        return -1;
    }
    uint32_t x = seed ? seed : 1, total = 0;
    for (size_t m = 0; m < N_MIX; m++)
        total += mix[m].per_s;
    struct mav_signing sign;
    mav_signing_init(&sign, mavstream_key, 3, false);
    sign.now = 1000;
    /* The autopilot unsigned, the companion computer signed (as a drone that signs its
     * station traffic), so both kinds interleave on the link. */
    struct mav_tx autopilot = { .sysid = 1, .compid = MAV_COMP_ID_AUTOPILOT1 };
    struct mav_tx companion = { .sysid = 1, .compid = 191, .signing = &sign };
    size_t n = 0;
    while (n < len_bytes && s->n_frames + 1 < max_frames) {
        uint32_t pick = next(&x) % total;
        size_t m = 0;
        while (pick >= mix[m].per_s)
            pick -= mix[m].per_s, m++;
        const struct mav_msg_info *info = mav_msg_info(mix[m].msgid);
        const struct mav_dialect_entry *e = mav_dialect_find(mix[m].msgid);
        uint8_t crc_extra = info ? info->crc_extra : e ? e->crc_extra : (uint8_t)next(&x);
        size_t len = mix[m].len ? mix[m].len : info ? info->max_len : e->max_len;
        uint8_t payload[MAV_MAX_PAYLOAD];
        for (size_t i = 0; i < len; i++)
            payload[i] = payload_byte(&x);
        if (mix[m].msgid == MAV_MSG_HEARTBEAT) {
            static const uint8_t hb[9] = { 0, 0, 0, 0, MAV_TYPE_QUADROTOR, 3, 0x59, 4, 3 };
            memcpy(payload, hb, sizeof hb);
        }
        while (len > 1 && payload[len - 1] == 0) /* MAVLink 2 truncation */
            len--;
        bool signed_ = info && next(&x) % 2 == 0;
        struct mav_tx *tx = signed_ ? &companion : &autopilot;
        int fl = mav_encode_raw(tx, mix[m].msgid, crc_extra, payload, (uint8_t)len, s->clean + n);
        if (fl < 0)
            abort();
        s->start[s->n_frames] = (uint32_t)n;
        s->decoded[s->n_frames] = info != NULL;
        s->n_decoded += info != NULL;
        s->n_signed += signed_;
        s->n_unchecked += !info && !e;
        s->n_frames++;
        n += (size_t)fl;
    }
    s->start[s->n_frames] = (uint32_t)n;
    s->len = n;
    memcpy(s->bytes, s->clean, n);
    s->n_corrupted_bytes = n * corrupt_per_mille / 1000;
    for (size_t i = 0; i < s->n_corrupted_bytes; i++) {
        size_t at = next(&x) % n;
        s->bytes[at] = (uint8_t)next(&x);
    }
    for (size_t f = 0; f < s->n_frames; f++) {
        s->intact[f] = memcmp(s->bytes + s->start[f], s->clean + s->start[f],
                              s->start[f + 1] - s->start[f]) == 0;
        s->n_decoded_intact += s->intact[f] && s->decoded[f];
    }
    return 0;
}

void mavstream_free(struct mavstream *s)
{
    free(s->bytes);
    free(s->clean);
    free(s->start);
    free(s->intact);
    free(s->decoded);
    memset(s, 0, sizeof *s);
}

/* The wire bytes of a delivered frame (MAVLink 2 only: the stream has no other). */
static size_t rebuild(const struct mav_frame *f, uint8_t *b)
{
    if (f->version != 2)
        return 0;
    b[0] = MAV_STX_V2;
    b[1] = f->len;
    b[2] = f->incompat_flags;
    b[3] = f->compat_flags;
    b[4] = f->seq;
    b[5] = f->sysid;
    b[6] = f->compid;
    b[7] = (uint8_t)f->msgid;
    b[8] = (uint8_t)(f->msgid >> 8);
    b[9] = (uint8_t)(f->msgid >> 16);
    memcpy(b + MAV_HEADER_LEN, f->payload, f->len);
    size_t n = MAV_HEADER_LEN + f->len;
    b[n++] = (uint8_t)f->checksum;
    b[n++] = (uint8_t)(f->checksum >> 8);
    if (f->is_signed) {
        b[n++] = f->link_id;
        for (int i = 0; i < 6; i++)
            b[n++] = (uint8_t)(f->timestamp >> (8 * i));
        memcpy(b + n, f->signature, 6);
        n += 6;
    }
    return n;
}

struct scorer {
    const struct mavstream *s;
    size_t cursor;               /* first frame not yet matched or passed */
    struct mavstream_score r;
};

static void score_frame(struct scorer *sc, const struct mav_frame *f)
{
    const struct mavstream *s = sc->s;
    uint8_t b[MAV_MAX_FRAME];
    size_t n = rebuild(f, b);
    sc->r.delivered++;
    for (size_t k = sc->cursor; n && k < s->n_frames; k++) {
        if (s->start[k + 1] - s->start[k] != n || memcmp(s->clean + s->start[k], b, n) != 0)
            continue;
        for (size_t j = sc->cursor; j < k; j++)
            sc->r.lost += s->intact[j] && s->decoded[j];
        sc->cursor = k + 1;
        sc->r.matched++;
        return;
    }
    sc->r.false_accepts++;
}

struct mavstream_score mavstream_score(const struct mavstream *s, struct mav_parser *p, int bytewise)
{
    struct scorer sc = { .s = s };
    struct mav_frame f;
    if (bytewise) {
        for (size_t i = 0; i < s->len; i++) {
            if (!mav_parser_feed(p, s->bytes[i], &f))
                continue;
            score_frame(&sc, &f);
            while (mav_parser_poll(p, &f))
                score_frame(&sc, &f);
        }
    } else {
        size_t off = 0, used;
        while (mav_parser_feed_buf(p, s->bytes + off, s->len - off, &used, &f)) {
            off += used;
            score_frame(&sc, &f);
        }
    }
    for (size_t j = sc.cursor; j < s->n_frames; j++)
        sc.r.lost += s->intact[j] && s->decoded[j];
    return sc.r;
}
