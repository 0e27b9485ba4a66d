/* MAVLink codec throughput: the parser on a realistic mixed stream (heartbeats, battery
 * status, command long/ack, status text, a tenth of the frames signed) with 1 % of the
 * bytes corrupted, against a plain CRC pass over the same bytes measured in the same
 * run; the same on an autopilot's telemetry (mostly messages the station does not
 * decode), with the intact frames lost and the false accepts, which must be 0 (the
 * program fails otherwise); and the encoder's frame rate. Prints figures and ratios;
 * asserts nothing about time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mavlink/mav.h"
#include "mavlink/mav_util.h"
#include "mavstream.h"

#define STREAM_BYTES (8u << 20)
#define REPEATS 5

static const uint8_t key[32] = { 7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t rng_state = 0x9E3779B9u;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int encode_one(struct mav_tx *tx, unsigned k, uint8_t *b)
{
    switch (k % 8) {
    case 0: case 4: {
        struct mav_heartbeat hb = { .custom_mode = k, .type = MAV_TYPE_QUADROTOR, .autopilot = 3,
                                    .base_mode = 0x59, .system_status = 4, .mavlink_version = 3 };
        return mav_encode(tx, MAV_MSG_HEARTBEAT, &hb, b);
    }
    case 1: case 5: {
        struct mav_battery_status bs = { .current_consumed = (int32_t)(k % 5000), .energy_consumed = -1,
                                         .temperature = 2500, .current_battery = 1234,
                                         .battery_function = 1, .type = 1, .battery_remaining = 87 };
        for (int i = 0; i < 10; i++)
            bs.voltages[i] = i < 4 ? (uint16_t)(4100 + k % 100) : UINT16_MAX;
        return mav_encode(tx, MAV_MSG_BATTERY_STATUS, &bs, b);
    }
    case 2: {
        struct mav_command_long cl = { .param = { 1, 0, 0, 0, 0, 0, (float)k }, .command = MAV_CMD_USER_1,
                                       .target_system = 1, .target_component = 25 };
        return mav_encode(tx, MAV_MSG_COMMAND_LONG, &cl, b);
    }
    case 3: {
        struct mav_command_ack ack = { .command = MAV_CMD_USER_1, .result = MAV_RESULT_ACCEPTED,
                                       .target_system = 7, .target_component = 1 };
        return mav_encode(tx, MAV_MSG_COMMAND_ACK, &ack, b);
    }
    case 6: {
        struct mav_statustext st = { .severity = 6 };
        mav_str_put(st.text, sizeof st.text, "swap bay 3: battery PK-0042 seated, charging");
        return mav_encode(tx, MAV_MSG_STATUSTEXT, &st, b);
    }
    default: {
        struct mav_extended_sys_state es = { .landed_state = MAV_LANDED_ON_GROUND };
        return mav_encode(tx, MAV_MSG_EXTENDED_SYS_STATE, &es, b);
    }
    }
}

/* Builds the stream; returns its length and the number of frames written, and in
 * *intact how many of them no corruption touched (what a perfect parser recovers). */
static size_t build_stream(uint8_t *buf, size_t cap, size_t *frames, size_t *intact)
{
    static uint32_t starts[STREAM_BYTES / 12 + 1];
    uint8_t *clean = malloc(cap);
    struct mav_signing s;
    mav_signing_init(&s, key, 1, false);
    s.now = 1000;
    struct mav_tx plain = { .sysid = 7, .compid = 1 }, sig = { .sysid = 8, .compid = 1, .signing = &s };
    size_t n = 0;
    *frames = 0;
    for (unsigned k = 0; n + MAV_MAX_FRAME <= cap; k++) {
        int len = encode_one(k % 10 == 9 ? &sig : &plain, k, buf + n);
        starts[(*frames)++] = (uint32_t)n;
        n += (size_t)len;
    }
    starts[*frames] = (uint32_t)n;
    if (clean)
        memcpy(clean, buf, n);
    for (size_t i = 0; i < n / 100; i++)
        buf[rnd() % n] = (uint8_t)rnd();
    *intact = 0;
    for (size_t f = 0; clean && f < *frames; f++)
        *intact += memcmp(buf + starts[f], clean + starts[f], starts[f + 1] - starts[f]) == 0;
    free(clean);
    return n;
}

static volatile uint32_t sink;

static double best_of(double (*fn)(const uint8_t *, size_t), const uint8_t *b, size_t n)
{
    double best = 1e30;
    for (int r = 0; r < REPEATS; r++) {
        double t = fn(b, n);
        if (t < best)
            best = t;
    }
    return best;
}

static double run_crc(const uint8_t *b, size_t n)
{
    double t0 = now_s();
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++)
        crc = mav_crc_accumulate(b[i], crc);
    sink = crc;
    return now_s() - t0;
}

static double run_crc_table(const uint8_t *b, size_t n)
{
    double t0 = now_s();
    sink = mav_crc_buf(b, n, 0xFFFF);
    return now_s() - t0;
}

static uint64_t last_ok;

static double parse_with(const uint8_t *b, size_t n, struct mav_signing *s)
{
    static struct mav_parser p;
    struct mav_frame f;
    double t0 = now_s();
    mav_parser_init(&p, s);
    size_t off = 0;
    for (;;) {
        size_t used;
        int got = mav_parser_feed_buf(&p, b + off, n - off, &used, &f);
        off += used;
        if (!got)
            break;
        sink += f.msgid;
    }
    double t = now_s() - t0;
    last_ok = p.frames_ok;
    return t;
}

static double run_parse(const uint8_t *b, size_t n)
{
    return parse_with(b, n, NULL);
}

static double run_parse_signed(const uint8_t *b, size_t n)
{
    static struct mav_signing s;
    mav_signing_init(&s, key, 0, false);
    return parse_with(b, n, &s);
}

static double run_parse_bytewise(const uint8_t *b, size_t n)
{
    static struct mav_parser p;
    struct mav_frame f;
    double t0 = now_s();
    mav_parser_init(&p, NULL);
    for (size_t i = 0; i < n; i++) {
        if (mav_parser_feed(&p, b[i], &f)) {
            sink += f.msgid;
            while (mav_parser_poll(&p, &f))
                sink += f.msgid;
        }
    }
    return now_s() - t0;
}

/* An autopilot's telemetry (tests/support/mavstream.c), 1 % of the bytes corrupted:
 * what the parser recovers, checked frame by frame against what was sent. */
static int autopilot_stream(void)
{
    static struct mavstream s;
    if (mavstream_build(&s, STREAM_BYTES, 0xA5A5F00Du, 10) != 0)
        return 1;
    static struct mav_signing sign;
    static struct mav_parser p;
    mav_signing_init(&sign, mavstream_key, 0, false);
    mav_parser_init(&p, &sign);
    struct mavstream_score r = mavstream_score(&s, &p, 0);
    struct mav_signing sign_b;
    mav_signing_init(&sign_b, mavstream_key, 0, false);
    static struct mav_parser pb;
    mav_parser_init(&pb, &sign_b);
    struct mavstream_score rb = mavstream_score(&s, &pb, 1);

    double mb = (double)s.len / 1e6;
    double t_crc = best_of(run_crc, s.bytes, s.len);
    double t_crc_table = best_of(run_crc_table, s.bytes, s.len);
    double t_parse = best_of(run_parse, s.bytes, s.len);
    double t_signed = best_of(run_parse_signed, s.bytes, s.len);
    double t_bytes = best_of(run_parse_bytewise, s.bytes, s.len);
    printf("autopilot stream: %.1f MB, %zu frames, %zu of them decoded by the station "
           "(%zu signed, %zu of a message no dialect names), 1 %% of bytes corrupted\n", mb,
           s.n_frames, s.n_decoded, s.n_signed, s.n_unchecked);
    printf("  intact frames of decoded messages %zu: delivered %zu, lost %zu (must be 0), "
           "false accepts %zu (must be 0)\n", s.n_decoded_intact, r.matched, r.lost,
           r.false_accepts);
    printf("  byte by byte: delivered %zu, lost %zu, false accepts %zu\n", rb.matched,
           rb.lost, rb.false_accepts);
    printf("  drops: bad_crc %llu, bad_len %llu, unknown_msg (checked, skipped) %llu, "
           "unchecked %llu, garbage_bytes %llu\n",
           (unsigned long long)p.drops[MAV_DROP_BAD_CRC],
           (unsigned long long)p.drops[MAV_DROP_BAD_LEN],
           (unsigned long long)p.drops[MAV_DROP_UNKNOWN_MSG],
           (unsigned long long)p.drops[MAV_DROP_UNCHECKED],
           (unsigned long long)p.drops[MAV_DROP_GARBAGE_BYTES]);
    printf("  baseline  crc pass, bitwise %8.1f MB/s\n", mb / t_crc);
    printf("            crc pass, table   %8.1f MB/s  ratio %.2f x crc\n", mb / t_crc_table,
           t_crc / t_crc_table);
    printf("  parse     feed_buf          %8.1f MB/s  ratio %.2f x crc\n", mb / t_parse,
           t_crc / t_parse);
    printf("  parse     feed_buf+verify   %8.1f MB/s  ratio %.2f x crc\n", mb / t_signed,
           t_crc / t_signed);
    printf("  parse     feed byte-by-byte %8.1f MB/s  ratio %.2f x crc\n", mb / t_bytes,
           t_crc / t_bytes);
    int bad = r.lost || r.false_accepts || rb.lost || rb.false_accepts ||
              r.matched != rb.matched;
    mavstream_free(&s);
    if (bad)
        fprintf(stderr, "bench_mav: intact frames lost or false accepts on the autopilot stream\n");
    return bad;
}

static double encode_rate(bool sign)
{
    static uint8_t b[MAV_MAX_FRAME];
    struct mav_signing s;
    mav_signing_init(&s, key, 1, false);
    struct mav_tx tx = { .sysid = 7, .compid = 1, .signing = sign ? &s : NULL };
    const unsigned n = sign ? 200000 : 2000000;
    double best = 1e30;
    for (int r = 0; r < REPEATS; r++) {
        double t0 = now_s();
        for (unsigned k = 0; k < n; k++)
            sink += (uint32_t)encode_one(&tx, k, b);
        double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    return n / best;
}

int main(void)
{
    uint8_t *buf = malloc(STREAM_BYTES);
    if (!buf)
        return 1;
    size_t frames, intact;
    size_t n = build_stream(buf, STREAM_BYTES, &frames, &intact);
    double mb = (double)n / 1e6;

    double t_crc = best_of(run_crc, buf, n);
    double t_crc_table = best_of(run_crc_table, buf, n);
    double t_parse = best_of(run_parse, buf, n);
    uint64_t ok_plain = last_ok;
    double t_signed = best_of(run_parse_signed, buf, n);
    uint64_t ok_signed = last_ok;
    double t_bytes = best_of(run_parse_bytewise, buf, n);

    printf("stream: %.1f MB, %zu frames (10 %% signed), 1 %% of bytes corrupted, "
           "%zu frames left intact\n", mb, frames, intact);
    printf("baseline  crc pass, bitwise %8.1f MB/s\n", mb / t_crc);
    printf("          crc pass, table   %8.1f MB/s  ratio %.2f x crc\n", mb / t_crc_table,
           t_crc / t_crc_table);
    printf("parse     feed_buf          %8.1f MB/s  ratio %.2f x crc  (%llu frames ok)\n",
           mb / t_parse, t_crc / t_parse, (unsigned long long)ok_plain);
    printf("parse     feed_buf+verify   %8.1f MB/s  ratio %.2f x crc  (%llu frames ok)\n",
           mb / t_signed, t_crc / t_signed, (unsigned long long)ok_signed);
    printf("parse     feed byte-by-byte %8.1f MB/s  ratio %.2f x crc\n", mb / t_bytes,
           t_crc / t_bytes);
    if (autopilot_stream() != 0) {
        free(buf);
        return 1;
    }
    double enc = encode_rate(false), enc_s = encode_rate(true);
    printf("encode    unsigned          %8.0f frames/s\n", enc);
    printf("encode    signed            %8.0f frames/s  ratio %.2f x unsigned\n", enc_s,
           enc_s / enc);
    free(buf);
    return 0;
}
