/* MAVLink codec: known-answer frames both ways, the message tables, truncation, every
 * drop reason, resynchronisation, and signing (replay, stale, stream table flood). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mavlink/mav.h"
#include "mavlink/mav_util.h"
#include "mavstream.h"

/* ---- helpers ----------------------------------------------------------------------- */

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

#define MAX_FRAMES 64

/* Parses a whole buffer with feed_buf; returns the number of frames. */
static size_t parse_buf(struct mav_parser *p, const uint8_t *b, size_t n, struct mav_frame *out)
{
    size_t got = 0, off = 0;
    for (;;) {
        size_t used;
        ck_assert_uint_lt(got, MAX_FRAMES);
        int r = mav_parser_feed_buf(p, b + off, n - off, &used, &out[got]);
        off += used;
        ck_assert_uint_le(p->have + p->pend, MAV_MAX_FRAME);
        if (!r)
            break;
        got++;
    }
    ck_assert_uint_eq(off, n);
    return got;
}

static size_t parse_bytes(struct mav_parser *p, const uint8_t *b, size_t n, struct mav_frame *out)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_lt(got, MAX_FRAMES);
        if (mav_parser_feed(p, b[i], &out[got])) {
            got++;
            while (got < MAX_FRAMES && mav_parser_poll(p, &out[got]))
                got++;
        }
        ck_assert_uint_le(p->have + p->pend, MAV_MAX_FRAME);
    }
    return got;
}

/* Builds a v2 frame by hand, with any CRC_EXTRA, flags or length. */
static size_t make_v2(uint8_t *b, uint8_t len, uint8_t incompat, uint8_t sysid, uint32_t msgid,
                      const uint8_t *payload, uint8_t crc_extra)
{
    b[0] = MAV_STX_V2;
    b[1] = len;
    b[2] = incompat;
    b[3] = 0;
    b[4] = 7;
    b[5] = sysid;
    b[6] = 1;
    b[7] = (uint8_t)msgid;
    b[8] = (uint8_t)(msgid >> 8);
    b[9] = (uint8_t)(msgid >> 16);
    memcpy(b + 10, payload, len);
    uint16_t crc = 0xFFFF;
    for (size_t i = 1; i < 10u + len; i++)
        crc = mav_crc_accumulate(b[i], crc);
    crc = mav_crc_accumulate(crc_extra, crc);
    b[10 + len] = (uint8_t)crc;
    b[11 + len] = (uint8_t)(crc >> 8);
    return 12u + len;
}

static size_t make_v1_heartbeat(uint8_t *b, uint8_t sysid)
{
    static const uint8_t payload[9] = { 5, 0, 0, 0, 2, 3, 0x59, 3, 3 };
    b[0] = MAV_STX_V1;
    b[1] = 9;
    b[2] = 1;
    b[3] = sysid;
    b[4] = 1;
    b[5] = 0;
    memcpy(b + 6, payload, 9);
    uint16_t crc = 0xFFFF;
    for (size_t i = 1; i < 15; i++)
        crc = mav_crc_accumulate(b[i], crc);
    crc = mav_crc_accumulate(50, crc);
    b[15] = (uint8_t)crc;
    b[16] = (uint8_t)(crc >> 8);
    return 17;
}

static size_t encode_hb(struct mav_tx *tx, uint32_t custom_mode, uint8_t *buf)
{
    struct mav_heartbeat hb = { .custom_mode = custom_mode, .type = MAV_TYPE_QUADROTOR,
                                .autopilot = 3, .base_mode = 0x59, .system_status = 3,
                                .mavlink_version = 3 };
    int n = mav_encode(tx, MAV_MSG_HEARTBEAT, &hb, buf);
    ck_assert_int_gt(n, 0);
    return (size_t)n;
}

static const uint8_t key_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t key_b[32] = { 0xAA };

/* ---- known-answer frames ------------------------------------------------------------ */

struct kat {
    const char *what, *hex;
    uint8_t seq, sysid, compid;
    uint32_t msgid;
    union mav_msg_any msg;
    bool encodes;                /* our encoder produces exactly these bytes */
};

static const struct kat kats[] = {
    { "heartbeat comp 2", "fd090000ef01020000000500000002035903032e73", 239, 1, 2,
      MAV_MSG_HEARTBEAT, { .heartbeat = { 5, 2, 3, 0x59, 3, 3 } }, true },
    { "heartbeat comp 1", "fd090000ef010100000005000000020359030310f0", 239, 1, 1,
      MAV_MSG_HEARTBEAT, { .heartbeat = { 5, 2, 3, 0x59, 3, 3 } }, true },
    { "battery status", "fd240000f0010293000064000000ffffffffc40968105e1059106910ffffffffffff"
                        "ffffffffffffd20400010157ec38", 240, 1, 2, MAV_MSG_BATTERY_STATUS,
      { .battery_status = { .current_consumed = 100, .energy_consumed = -1, .temperature = 2500,
                            .voltages = { 4200, 4190, 4185, 4201, 65535, 65535, 65535, 65535,
                                          65535, 65535 },
                            .current_battery = 1234, .id = 0, .battery_function = 1, .type = 1,
                            .battery_remaining = 87 } }, true },
    { "command ack truncated", "fd0200000001014d00009001a058", 0, 1, 1, MAV_MSG_COMMAND_ACK,
      { .command_ack = { .command = 400, .result = MAV_RESULT_ACCEPTED } }, true },
    /* The reference labels the next two HEARTBEAT, but their msgid bytes are f5 00 00:
     * EXTENDED_SYS_STATE (245), and their CRC holds with its CRC_EXTRA (130), not 50. */
    { "zero extended_sys_state len 1", "fd010000000101f5000000ac20", 0, 1, 1,
      MAV_MSG_EXTENDED_SYS_STATE, { .extended_sys_state = { 0 } }, true },
    { "zero extended_sys_state len 0", "fd000000000101f500008e2d", 0, 1, 1,
      MAV_MSG_EXTENDED_SYS_STATE, { .extended_sys_state = { 0 } }, false },
};

START_TEST(known_frame_decodes)
{
    const struct kat *k = &kats[_i];
    uint8_t b[MAV_MAX_FRAME];
    size_t n = unhex(k->hex, b);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_buf(&p, b, n, f), 1);
    ck_assert_uint_eq(f[0].msgid, k->msgid);
    ck_assert_uint_eq(f[0].seq, k->seq);
    ck_assert_uint_eq(f[0].sysid, k->sysid);
    ck_assert_uint_eq(f[0].compid, k->compid);
    const struct mav_msg_info *info = mav_msg_info(k->msgid);
    union mav_msg_any got;
    memset(&got, 0x55, sizeof got);
    ck_assert_int_eq(mav_decode(&f[0], &got), 0);
    ck_assert_msg(memcmp(&got, &k->msg, info->struct_size) == 0, "%s: fields differ", k->what);
}
END_TEST

START_TEST(known_frame_encodes)
{
    const struct kat *k = &kats[_i];
    if (!k->encodes)
        return;
    uint8_t want[MAV_MAX_FRAME], got[MAV_MAX_FRAME];
    size_t n = unhex(k->hex, want);
    struct mav_tx tx = { .sysid = k->sysid, .compid = k->compid, .seq = k->seq };
    ck_assert_int_eq(mav_encode(&tx, k->msgid, &k->msg, got), (int)n);
    ck_assert_msg(memcmp(got, want, n) == 0, "%s: bytes differ", k->what);
    ck_assert_uint_eq(tx.seq, (uint8_t)(k->seq + 1));
}
END_TEST

START_TEST(table_crc_matches_bitwise_definition)
{
    uint8_t b[300];
    uint32_t x = 99;
    for (size_t i = 0; i < sizeof b; i++) {
        x = x * 1664525u + 1013904223u;
        b[i] = (uint8_t)(x >> 24);
    }
    for (size_t n = 0; n <= sizeof b; n++) {
        uint16_t want = (uint16_t)(0xFFFF ^ n);
        uint16_t start = want;
        for (size_t i = 0; i < n; i++)
            want = mav_crc_accumulate(b[i], want);
        ck_assert_uint_eq(mav_crc_buf(b, n, start), want);
    }
    /* CRC-16/MCRF4XX check value */
    ck_assert_uint_eq(mav_crc_buf((const uint8_t *)"123456789", 9, 0xFFFF), 0x6F91);
}
END_TEST

/* ---- message tables ------------------------------------------------------------------ */

START_TEST(crc_extra_recomputed_from_field_list)
{
    const struct mav_msg_info *m = mav_msg_info_at(_i);
    ck_assert_ptr_nonnull(m);
    uint16_t crc = 0xFFFF;
    char text[96];
    snprintf(text, sizeof text, "%s ", m->name);
    for (const char *c = text; *c; c++)
        crc = mav_crc_accumulate((uint8_t)*c, crc);
    for (size_t f = 0; f < m->n_fields; f++) {
        const struct mav_field *fd = &m->fields[f];
        if (fd->ext)
            continue;
        snprintf(text, sizeof text, "%s %s ", mav_ftype_name(fd->type), fd->name);
        for (const char *c = text; *c; c++)
            crc = mav_crc_accumulate((uint8_t)*c, crc);
        if (fd->count)
            crc = mav_crc_accumulate(fd->count, crc);
    }
    ck_assert_msg((uint8_t)((crc & 0xFF) ^ (crc >> 8)) == m->crc_extra,
                  "%s: computed %u, table %u", m->name, (crc & 0xFF) ^ (crc >> 8), m->crc_extra);
}
END_TEST

START_TEST(table_lengths_and_wire_order)
{
    const struct mav_msg_info *m = mav_msg_info_at(_i);
    size_t base = 0, all = 0, last_size = 8;
    bool in_ext = false;
    for (size_t f = 0; f < m->n_fields; f++) {
        const struct mav_field *fd = &m->fields[f];
        size_t size = mav_ftype_size(fd->type), n = fd->count ? fd->count : 1;
        ck_assert_uint_gt(size, 0);
        ck_assert_uint_le(fd->offset + size * n, m->struct_size);
        if (fd->ext) {
            in_ext = true;
        } else {
            ck_assert_msg(!in_ext, "%s: base field %s after an extension", m->name, fd->name);
            ck_assert_msg(size <= last_size, "%s: %s breaks the size order", m->name, fd->name);
            last_size = size;
            base += size * n;
        }
        all += size * n;
    }
    ck_assert_uint_eq(base, m->base_len);
    ck_assert_uint_eq(all, m->max_len);
    ck_assert_ptr_eq(mav_msg_info(m->id), m);
}
END_TEST

START_TEST(unknown_message_has_no_info_and_does_not_encode)
{
    uint8_t b[MAV_MAX_FRAME];
    struct mav_tx tx = { .sysid = 1, .compid = 1 };
    struct mav_heartbeat hb = { 0 };
    ck_assert_ptr_null(mav_msg_info(30));
    ck_assert_ptr_null(mav_msg_info_at(mav_msg_count()));
    ck_assert_int_eq(mav_encode(&tx, 30, &hb, b), -1);
    struct mav_frame f = { .msgid = 30 };
    ck_assert_int_eq(mav_decode(&f, &hb), -1);
}
END_TEST

/* Every field gets a distinct non-zero value, so a swapped or mis-sized field shows. */
static void fill_pattern(const struct mav_msg_info *m, void *msg, unsigned seed)
{
    memset(msg, 0, m->struct_size);
    uint8_t *base = msg;
    for (size_t f = 0; f < m->n_fields; f++) {
        const struct mav_field *fd = &m->fields[f];
        size_t size = mav_ftype_size(fd->type), n = fd->count ? fd->count : 1;
        for (size_t i = 0; i < n; i++) {
            uint8_t *p = base + fd->offset + i * size;
            unsigned v = seed + (unsigned)(f * 31 + i * 7);
            switch (fd->type) {
            case MAV_FT_CHAR: *p = (uint8_t)('A' + v % 26); break;
            case MAV_FT_FLOAT: { float x = (float)v * 0.25f - 3.0f; memcpy(p, &x, 4); break; }
            default:
                for (size_t b = 0; b < size; b++)
                    p[b] = (uint8_t)(v * (b + 3) + 1);
            }
        }
    }
}

START_TEST(every_message_round_trips)
{
    const struct mav_msg_info *m = mav_msg_info_at(_i);
    union mav_msg_any in, out;
    fill_pattern(m, &in, 11);
    uint8_t b[MAV_MAX_FRAME];
    struct mav_tx tx = { .sysid = 9, .compid = 25 };
    int n = mav_encode(&tx, m->id, &in, b);
    ck_assert_int_eq(n, 12 + m->max_len);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_buf(&p, b, (size_t)n, f), 1);
    ck_assert_int_eq(mav_decode(&f[0], &out), 0);
    ck_assert_int_eq(memcmp(&in, &out, m->struct_size), 0);
}
END_TEST

/* ---- truncation ---------------------------------------------------------------------- */

START_TEST(trailing_zeros_are_truncated_and_restored)
{
    struct mav_statustext st = { .severity = 6 };
    mav_str_put(st.text, sizeof st.text, "hi");
    uint8_t b[MAV_MAX_FRAME];
    struct mav_tx tx = { .sysid = 1, .compid = 1 };
    ck_assert_int_eq(mav_encode(&tx, MAV_MSG_STATUSTEXT, &st, b), 12 + 3);
    ck_assert_uint_eq(b[1], 3);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_buf(&p, b, 15, f), 1);
    struct mav_statustext back;
    memset(&back, 0x77, sizeof back);
    mav_decode(&f[0], &back);
    ck_assert_int_eq(memcmp(&st, &back, sizeof st), 0);
}
END_TEST

START_TEST(extension_fields_extend_the_frame)
{
    struct mav_sys_status s = { .sensors_present = 1, .health_ext = 0x80000000u };
    uint8_t b[MAV_MAX_FRAME];
    struct mav_tx tx = { .sysid = 1, .compid = 1 };
    ck_assert_int_eq(mav_encode(&tx, MAV_MSG_SYS_STATUS, &s, b), 12 + 43);
    s.health_ext = 0;
    ck_assert_int_eq(mav_encode(&tx, MAV_MSG_SYS_STATUS, &s, b), 12 + 1);
}
END_TEST

START_TEST(len_zero_frame_accepted)
{
    uint8_t b[32];
    size_t n = unhex("fd000000000101f500008e2d", b);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_bytes(&p, b, n, f), 1);
    ck_assert_uint_eq(f[0].len, 0);
    struct mav_extended_sys_state es = { 9, 9 };
    mav_decode(&f[0], &es);
    ck_assert_uint_eq(es.vtol_state, 0);
    ck_assert_uint_eq(es.landed_state, 0);
}
END_TEST

START_TEST(len_zero_heartbeat_accepted)
{
    /* as node-mavlink sends an all-zero heartbeat */
    uint8_t b[32], zero[1] = { 0 };
    size_t n = make_v2(b, 0, 0, 1, MAV_MSG_HEARTBEAT, zero, 50);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_bytes(&p, b, n, f), 1);
    struct mav_heartbeat hb = { 9, 9, 9, 9, 9, 9 };
    mav_decode(&f[0], &hb);
    ck_assert_uint_eq(hb.custom_mode, 0);
    ck_assert_uint_eq(hb.mavlink_version, 0);
}
END_TEST

/* ---- drops --------------------------------------------------------------------------- */

struct bad_case {
    const char *what;
    enum mav_drop reason;
};

static size_t build_bad(int which, uint8_t *b)
{
    uint8_t hb[9] = { 5, 0, 0, 0, 2, 3, 0x59, 3, 3 };
    uint8_t big[40] = { 1 };
    size_t n;
    switch (which) {
    case 0: /* bad CRC */
        n = make_v2(b, 9, 0, 1, MAV_MSG_HEARTBEAT, hb, 50);
        b[n - 1] ^= 0x01;
        return n;
    case 1: /* right CRC, wrong CRC_EXTRA: a sender with another definition */
        return make_v2(b, 9, 0, 1, MAV_MSG_HEARTBEAT, hb, 51);
    case 2: /* len above the message's maximum */
        return make_v2(b, 10, 0, 1, MAV_MSG_HEARTBEAT, big, 50);
    case 3: /* incompat flag we do not know */
        return make_v2(b, 9, 0x02, 1, MAV_MSG_HEARTBEAT, hb, 50);
    case 4: /* message we do not know (ATTITUDE) */
        return make_v2(b, 28, 0, 1, 30, big, 39);
    case 5: /* sysid 0 */
        return make_v2(b, 9, 0, 0, MAV_MSG_HEARTBEAT, hb, 50);
    default:
        return 0;
    }
}

static const struct bad_case bad_cases[] = {
    { "bad crc", MAV_DROP_BAD_CRC },
    { "wrong crc_extra", MAV_DROP_BAD_CRC },
    { "oversized len", MAV_DROP_BAD_LEN },
    { "unknown incompat flags", MAV_DROP_INCOMPAT_FLAGS },
    { "unknown message id", MAV_DROP_UNKNOWN_MSG },
    { "sysid 0", MAV_DROP_BAD_SYSID },
};

START_TEST(bad_frame_is_dropped_counted_and_next_frame_survives)
{
    uint8_t b[2 * MAV_MAX_FRAME];
    size_t n = build_bad(_i, b);
    struct mav_tx tx = { .sysid = 3, .compid = 1 };
    n += encode_hb(&tx, 77, b + n);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_bytes(&p, b, n, f), 1);
    ck_assert_uint_eq(f[0].sysid, 3);
    ck_assert_msg(p.drops[bad_cases[_i].reason] == 1, "%s: %s = %llu", bad_cases[_i].what,
                  mav_drop_str(bad_cases[_i].reason),
                  (unsigned long long)p.drops[bad_cases[_i].reason]);
    ck_assert_uint_eq(p.frames_ok, 1);
}
END_TEST

START_TEST(unknown_message_delivered_on_request)
{
    uint8_t b[MAV_MAX_FRAME];
    size_t n = build_bad(4, b);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    p.deliver_unknown = true;
    ck_assert_uint_eq(parse_buf(&p, b, n, f), 1);
    ck_assert_uint_eq(f[0].msgid, 30);
    ck_assert_uint_eq(f[0].len, 28);
    ck_assert_uint_eq(p.drops[MAV_DROP_UNKNOWN_MSG], 1);
}
END_TEST

START_TEST(unknown_header_after_garbage_does_not_swallow_frames)
{
    /* Junk, then a magic whose "header" names an unknown message with len 200: skipping
     * 212 bytes on its word would lose the heartbeats behind it. */
    uint8_t b[256];
    size_t n = unhex("1234fdc8000000010199999912", b);
    struct mav_tx tx = { .sysid = 4, .compid = 1 };
    n += encode_hb(&tx, 1, b + n);
    n += encode_hb(&tx, 2, b + n);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_bytes(&p, b, n, f), 2);
    ck_assert_uint_eq(p.drops[MAV_DROP_UNKNOWN_MSG], 0);
}
END_TEST

START_TEST(unknown_frame_after_good_frame_is_skipped_whole)
{
    /* An ATTITUDE (not decoded, but its CRC_EXTRA is in the dialect table) whose payload
     * holds what looks like a heartbeat: its CRC holds, so it is a real frame and the
     * heartbeat inside must not be parsed out. */
    struct mav_tx tx = { .sysid = 4, .compid = 1 };
    uint8_t inner[MAV_MAX_FRAME], payload[28] = { 0 }, b[512];
    size_t in_n = encode_hb(&tx, 9, inner);
    memcpy(payload + 2, inner, in_n);
    size_t n = encode_hb(&tx, 1, b);
    n += make_v2(b + n, 28, 0, 4, 30, payload, 39);
    n += encode_hb(&tx, 2, b + n);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_buf(&p, b, n, f), 2);
    ck_assert_uint_eq(f[1].seq, 2);
    ck_assert_uint_eq(p.drops[MAV_DROP_UNKNOWN_MSG], 1);
}
END_TEST

START_TEST(undecoded_frame_with_corrupted_len_does_not_swallow_frames)
{
    /* The case: right after a good frame, an ATTITUDE whose length byte was hit
     * (28 -> 200). Skipping it by its length would swallow the heartbeats behind it; its
     * CRC cannot hold, so the bytes after its magic are rescanned. */
    struct mav_tx tx = { .sysid = 4, .compid = 1 };
    uint8_t payload[28] = { 1, 2, 3 }, b[512];
    size_t n = encode_hb(&tx, 1, b);
    size_t at = n;
    n += make_v2(b + n, 28, 0, 4, 30, payload, 39);
    b[at + 1] = 200;
    n += encode_hb(&tx, 2, b + n);
    n += encode_hb(&tx, 3, b + n);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_bytes(&p, b, n, f), 3);
    ck_assert_uint_eq(f[1].seq, 1);
    ck_assert_uint_eq(f[2].seq, 2);
    ck_assert_uint_eq(p.drops[MAV_DROP_UNKNOWN_MSG], 0);
}
END_TEST

START_TEST(unchecked_frame_in_sync_is_not_trusted)
{
    /* A message no dialect names, right after a good frame, with a length that would
     * swallow the next heartbeat: nothing about it can be checked, so it is counted and
     * rescanned, never skipped by its length. */
    struct mav_tx tx = { .sysid = 4, .compid = 1 };
    uint8_t payload[60] = { 0 }, b[512];
    size_t n = encode_hb(&tx, 1, b);
    n += make_v2(b + n, 60, 0, 4, 42000, payload, 0x55);
    size_t cut = n - 40; /* the vendor frame was cut short: the heartbeat follows */
    n = cut + encode_hb(&tx, 2, b + cut);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_ptr_null(mav_dialect_find(42000));
    ck_assert_uint_eq(parse_bytes(&p, b, n, f), 2);
    ck_assert_uint_eq(f[1].seq, 1);
    ck_assert_uint_eq(p.drops[MAV_DROP_UNCHECKED], 1);
    ck_assert_uint_eq(p.drops[MAV_DROP_UNKNOWN_MSG], 0);
}
END_TEST

START_TEST(dialect_table_sorted_and_agrees_with_decoded_messages)
{
    ck_assert_uint_gt(mav_dialect_count, 300);
    for (size_t i = 1; i < mav_dialect_count; i++)
        ck_assert_uint_lt(mav_dialect[i - 1].id, mav_dialect[i].id);
    for (size_t i = 0; i < mav_dialect_count; i++)
        ck_assert_ptr_eq(mav_dialect_find(mav_dialect[i].id), &mav_dialect[i]);
    for (size_t k = 0; k < mav_msg_count(); k++) {
        const struct mav_msg_info *info = mav_msg_info_at(k);
        const struct mav_dialect_entry *e = mav_dialect_find(info->id);
        if (!e) /* BATTERY_INFO lives in a dialect the table leaves out */
            continue;
        ck_assert_msg(e->crc_extra == info->crc_extra && e->base_len == info->base_len,
                      "%s: table %u/%u, codec %u/%u", info->name, e->crc_extra, e->base_len,
                      info->crc_extra, info->base_len);
    }
    const struct mav_dialect_entry *att = mav_dialect_find(30);
    ck_assert_ptr_nonnull(att);
    ck_assert_uint_eq(att->crc_extra, 39);
    ck_assert_uint_eq(att->max_len, 28);
}
END_TEST

START_TEST(autopilot_stream_loses_no_intact_frame)
{
    /* An autopilot's telemetry, mostly messages the station does not decode, some
     * frames signed, 1 % of the bytes corrupted: every intact frame of a decoded
     * message comes out, nothing else does, byte-at-a-time and buffered alike. */
    struct mavstream s;
    ck_assert_int_eq(mavstream_build(&s, 512 * 1024, 20261202, 10), 0);
    ck_assert_uint_gt(s.n_decoded_intact, 500);
    ck_assert_uint_lt(s.n_decoded * 4, s.n_frames); /* mostly undecoded */
    ck_assert_uint_gt(s.n_signed, 100);
    struct mav_signing sign;
    struct mav_parser p;
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        mav_signing_init(&sign, mavstream_key, 0, false);
        mav_parser_init(&p, &sign);
        struct mavstream_score r = mavstream_score(&s, &p, bytewise);
        ck_assert_msg(r.lost == 0, "%zu of %zu intact frames lost", r.lost, s.n_decoded_intact);
        ck_assert_uint_eq(r.false_accepts, 0);
        ck_assert_uint_eq(r.matched, s.n_decoded_intact);
        ck_assert_uint_gt(p.drops[MAV_DROP_BAD_CRC], 0);
        ck_assert_uint_gt(p.drops[MAV_DROP_UNKNOWN_MSG], s.n_decoded);
    }
    mavstream_free(&s);
}
END_TEST

START_TEST(garbage_between_frames_is_skipped_and_counted)
{
    uint8_t b[1024];
    size_t n = 0;
    struct mav_tx tx = { .sysid = 1, .compid = 1 };
    static const uint8_t junk[] = { 0x00, 0x11, 0x55, 0xAA, 0xFF, 0x7E, 0x80, 0x01 };
    for (int k = 0; k < 3; k++) {
        memcpy(b + n, junk, sizeof junk);
        n += sizeof junk;
        n += encode_hb(&tx, (uint32_t)k, b + n);
    }
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_buf(&p, b, n, f), 3);
    ck_assert_uint_eq(p.drops[MAV_DROP_GARBAGE_BYTES], 3 * sizeof junk);
    for (int k = 0; k < 3; k++)
        ck_assert_uint_eq(f[k].seq, k);
}
END_TEST

START_TEST(good_frame_inside_a_cut_frame_is_found)
{
    /* A battery status cut after 20 bytes: the parser waits for its 48 bytes, which
     * swallow the heartbeat behind it; the CRC fails and the rescan finds it. */
    uint8_t b[256];
    size_t n = unhex("fd240000f0010293000064000000ffffffffc409", b);
    struct mav_tx tx = { .sysid = 4, .compid = 1 };
    n += encode_hb(&tx, 1, b + n);
    n += encode_hb(&tx, 2, b + n);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_bytes(&p, b, n, f), 2);
    ck_assert_uint_eq(f[0].seq, 0);
    ck_assert_uint_eq(f[1].seq, 1);
    ck_assert_uint_eq(p.drops[MAV_DROP_BAD_CRC], 1);
}
END_TEST

START_TEST(frames_queued_behind_a_rejected_one_come_out_of_poll)
{
    /* A header that claims 100 payload bytes swallows two heartbeats; when its CRC fails
     * at the last byte, both heartbeats are in the parser at once. */
    uint8_t b[256];
    size_t n = unhex("fd640000000101720100", b); /* SMART_BATTERY_INFO, len 100 */
    struct mav_tx tx = { .sysid = 4, .compid = 1 };
    n += encode_hb(&tx, 1, b + n);
    n += encode_hb(&tx, 2, b + n);
    while (n < 112)
        b[n++] = 0x11;
    struct mav_parser p;
    struct mav_frame f;
    mav_parser_init(&p, NULL);
    int from_feed = 0;
    for (size_t i = 0; i < n; i++)
        from_feed += mav_parser_feed(&p, b[i], &f);
    ck_assert_int_eq(from_feed, 1);
    ck_assert_uint_eq(f.seq, 0);
    ck_assert_int_eq(mav_parser_poll(&p, &f), 1);
    ck_assert_uint_eq(f.seq, 1);
    ck_assert_int_eq(mav_parser_poll(&p, &f), 0);
    ck_assert_uint_eq(p.drops[MAV_DROP_BAD_CRC], 1);
}
END_TEST

/* A stream with every trouble at once; any split into two calls, and byte by byte,
 * yields the same frames as one call. */
static size_t mixed_stream(uint8_t *b)
{
    size_t n = 0;
    struct mav_tx tx = { .sysid = 1, .compid = 1 };
    n += encode_hb(&tx, 1, b + n);
    n += unhex("fd240000f0010293000064000000ff", b + n);
    n += build_bad(4, b + n);
    n += encode_hb(&tx, 2, b + n);
    n += build_bad(0, b + n);
    n += make_v1_heartbeat(b + n, 5);
    /* a magic with unknown incompat flags, then a v1 magic whose "frame" swallows
     * the start of the next heartbeat until its CRC fails */
    n += unhex("00fd0503fe0102", b + n);
    n += encode_hb(&tx, 3, b + n);
    return n;
}

START_TEST(split_at_every_byte_boundary)
{
    uint8_t b[1024];
    size_t n = mixed_stream(b);
    struct mav_parser p;
    static struct mav_frame ref[MAX_FRAMES], f[MAX_FRAMES];
    memset(ref, 0, sizeof ref);
    mav_parser_init(&p, NULL);
    size_t want = parse_buf(&p, b, n, ref);
    ck_assert_uint_eq(want, 4);
    uint64_t drops[MAV_DROP_COUNT];
    memcpy(drops, p.drops, sizeof drops);

    for (size_t cut = 0; cut <= n; cut++) {
        memset(f, 0, sizeof f);
        mav_parser_init(&p, NULL);
        size_t got = parse_buf(&p, b, cut, f);
        got += parse_buf(&p, b + cut, n - cut, f + got);
        ck_assert_msg(got == want, "cut %zu: %zu frames", cut, got);
        for (size_t k = 0; k < want; k++)
            ck_assert_int_eq(memcmp(&f[k], &ref[k], sizeof f[k]), 0);
        ck_assert_int_eq(memcmp(p.drops, drops, sizeof drops), 0);
    }
    memset(f, 0, sizeof f);
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_bytes(&p, b, n, f), want);
    for (size_t k = 0; k < want; k++)
        ck_assert_int_eq(memcmp(&f[k], &ref[k], sizeof f[k]), 0);
    ck_assert_int_eq(memcmp(p.drops, drops, sizeof drops), 0);
}
END_TEST

START_TEST(mavlink1_frame_parsed_and_counted)
{
    uint8_t b[64];
    size_t n = make_v1_heartbeat(b, 6);
    struct mav_parser p;
    struct mav_frame f[MAX_FRAMES];
    mav_parser_init(&p, NULL);
    ck_assert_uint_eq(parse_bytes(&p, b, n, f), 1);
    ck_assert_uint_eq(f[0].version, 1);
    ck_assert_uint_eq(f[0].sysid, 6);
    ck_assert_uint_eq(p.drops[MAV_DROP_V1], 1);
    struct mav_heartbeat hb;
    mav_decode(&f[0], &hb);
    ck_assert_uint_eq(hb.custom_mode, 5);
    ck_assert_uint_eq(hb.base_mode, 0x59);
}
END_TEST

START_TEST(random_bytes_keep_memory_bounded)
{
    static uint8_t b[1 << 20];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof b; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t)(x >> 16);
        /* plenty of magic bytes, so the header and body paths run too */
        if ((x >> 8) % 61 == 0)
            b[i] = MAV_STX_V2;
    }
    struct mav_parser p;
    struct mav_frame f;
    mav_parser_init(&p, NULL);
    size_t off = 0;
    while (off < sizeof b) {
        size_t used;
        mav_parser_feed_buf(&p, b + off, sizeof b - off, &used, &f);
        off += used;
        ck_assert_uint_le(p.have + p.pend, MAV_MAX_FRAME);
    }
    ck_assert_uint_gt(p.drops[MAV_DROP_GARBAGE_BYTES], sizeof b / 2);
}
END_TEST

/* ---- signing --------------------------------------------------------------------------- */

#define T0 (1000000000ULL) /* signing time well after the epoch */

static struct mav_frame one_frame(struct mav_parser *p, const uint8_t *b, size_t n, size_t want)
{
    struct mav_frame f[MAX_FRAMES];
    memset(f, 0, sizeof f);
    ck_assert_uint_eq(parse_buf(p, b, n, f), want);
    return f[0];
}

START_TEST(sign_and_verify_round_trip)
{
    struct mav_signing tx_s, rx_s;
    mav_signing_init(&tx_s, key_a, 7, true);
    mav_signing_init(&rx_s, key_a, 0, true);
    tx_s.now = rx_s.now = T0;
    struct mav_tx tx = { .sysid = 2, .compid = 1, .signing = &tx_s };
    uint8_t b[MAV_MAX_FRAME];
    size_t n = encode_hb(&tx, 9, b);
    ck_assert_uint_eq(n, 12 + 9 + 13);
    ck_assert_uint_eq(b[2], MAV_IFLAG_SIGNED);
    struct mav_parser p;
    mav_parser_init(&p, &rx_s);
    struct mav_frame f = one_frame(&p, b, n, 1);
    ck_assert(f.is_signed);
    ck_assert_uint_eq(f.link_id, 7);
    ck_assert_uint_eq(f.timestamp, T0);
    ck_assert(mav_signature_verify(key_a, &f));
    ck_assert(!mav_signature_verify(key_b, &f));
    ck_assert_uint_eq(rx_s.n_streams, 1);
}
END_TEST

START_TEST(wrong_key_is_rejected)
{
    struct mav_signing tx_s, rx_s;
    mav_signing_init(&tx_s, key_b, 0, true);
    mav_signing_init(&rx_s, key_a, 0, false);
    struct mav_tx tx = { .sysid = 2, .compid = 1, .signing = &tx_s };
    uint8_t b[MAV_MAX_FRAME];
    size_t n = encode_hb(&tx, 9, b);
    struct mav_parser p;
    mav_parser_init(&p, &rx_s);
    one_frame(&p, b, n, 0);
    ck_assert_uint_eq(p.drops[MAV_DROP_BAD_SIGNATURE], 1);
    ck_assert_uint_eq(rx_s.n_streams, 0);
}
END_TEST

START_TEST(tampered_signed_frame_is_rejected)
{
    struct mav_signing tx_s, rx_s;
    mav_signing_init(&tx_s, key_a, 0, true);
    mav_signing_init(&rx_s, key_a, 0, true);
    struct mav_tx tx = { .sysid = 2, .compid = 1, .signing = &tx_s };
    uint8_t b[MAV_MAX_FRAME];
    size_t n = encode_hb(&tx, 9, b);
    b[n - 8]++; /* timestamp: outside the CRC, covered only by the signature */
    struct mav_parser p;
    mav_parser_init(&p, &rx_s);
    one_frame(&p, b, n, 0);
    ck_assert_uint_eq(p.drops[MAV_DROP_BAD_SIGNATURE], 1);
}
END_TEST

START_TEST(replayed_frame_is_rejected)
{
    struct mav_signing tx_s, rx_s;
    mav_signing_init(&tx_s, key_a, 0, true);
    mav_signing_init(&rx_s, key_a, 0, true);
    tx_s.now = rx_s.now = T0;
    struct mav_tx tx = { .sysid = 2, .compid = 1, .signing = &tx_s };
    uint8_t b[MAV_MAX_FRAME], b2[MAV_MAX_FRAME];
    size_t n = encode_hb(&tx, 9, b);
    size_t n2 = encode_hb(&tx, 10, b2);
    struct mav_parser p;
    mav_parser_init(&p, &rx_s);
    one_frame(&p, b2, n2, 1);
    one_frame(&p, b2, n2, 0);
    one_frame(&p, b, n, 0); /* older than the last one seen */
    ck_assert_uint_eq(p.drops[MAV_DROP_REPLAY], 2);
}
END_TEST

START_TEST(stale_timestamp_is_rejected)
{
    struct mav_signing tx_s, rx_s;
    mav_signing_init(&tx_s, key_a, 0, true);
    mav_signing_init(&rx_s, key_a, 0, true);
    tx_s.now = T0;
    struct mav_tx tx = { .sysid = 2, .compid = 1, .signing = &tx_s };
    uint8_t b1[MAV_MAX_FRAME], b2[MAV_MAX_FRAME];
    size_t n1 = encode_hb(&tx, 1, b1); /* timestamp T0 */
    size_t n2 = encode_hb(&tx, 2, b2); /* timestamp T0 + 1 */
    struct mav_parser p;
    mav_parser_init(&p, &rx_s);
    mav_signing_set_time_unix_us(&rx_s, mav_timestamp_to_unix_us(T0 + 1 + MAV_SIGN_STALE_UNITS + 1));
    one_frame(&p, b1, n1, 0);
    ck_assert_uint_eq(p.drops[MAV_DROP_STALE], 1);
    /* exactly one minute behind is still accepted */
    rx_s.now = T0 + 1 + MAV_SIGN_STALE_UNITS;
    one_frame(&p, b2, n2, 1);
}
END_TEST

START_TEST(local_time_never_goes_back)
{
    struct mav_signing s;
    mav_signing_init(&s, key_a, 0, true);
    mav_signing_set_time_unix_us(&s, mav_timestamp_to_unix_us(T0));
    mav_signing_set_time_unix_us(&s, mav_timestamp_to_unix_us(T0 - 5000));
    ck_assert_uint_eq(s.now, T0);
}
END_TEST

START_TEST(unsigned_and_v1_rejected_on_signing_link)
{
    struct mav_signing rx_s;
    mav_signing_init(&rx_s, key_a, 0, true);
    struct mav_tx tx = { .sysid = 2, .compid = 1 };
    uint8_t b[2 * MAV_MAX_FRAME];
    size_t n = encode_hb(&tx, 9, b);
    n += make_v1_heartbeat(b + n, 2);
    struct mav_parser p;
    mav_parser_init(&p, &rx_s);
    one_frame(&p, b, n, 0);
    ck_assert_uint_eq(p.drops[MAV_DROP_UNSIGNED], 2);
    ck_assert_uint_eq(p.drops[MAV_DROP_V1], 1);
}
END_TEST

START_TEST(unsigned_accepted_when_signing_optional)
{
    struct mav_signing rx_s;
    mav_signing_init(&rx_s, key_a, 0, false);
    struct mav_tx tx = { .sysid = 2, .compid = 1 };
    uint8_t b[MAV_MAX_FRAME];
    size_t n = encode_hb(&tx, 9, b);
    struct mav_parser p;
    mav_parser_init(&p, &rx_s);
    one_frame(&p, b, n, 1);
}
END_TEST

START_TEST(tx_timestamps_increase_when_clock_stands_still)
{
    struct mav_signing s;
    mav_signing_init(&s, key_a, 0, true);
    s.now = T0;
    struct mav_tx tx = { .sysid = 2, .compid = 1, .signing = &s };
    uint8_t b[MAV_MAX_FRAME];
    struct mav_parser p;
    struct mav_signing rx;
    mav_signing_init(&rx, key_a, 0, true);
    rx.now = T0;
    mav_parser_init(&p, &rx);
    for (uint64_t k = 0; k < 5; k++) {
        size_t n = encode_hb(&tx, 1, b);
        struct mav_frame f = one_frame(&p, b, n, 1);
        ck_assert_uint_eq(f.timestamp, T0 + k);
    }
}
END_TEST

START_TEST(stream_flood_keeps_table_bounded_and_legit_stream_working)
{
    struct mav_signing rx, legit_s, flood_s;
    mav_signing_init(&rx, key_a, 0, true);
    mav_signing_init(&legit_s, key_a, 1, true);
    mav_signing_init(&flood_s, key_a, 2, true);
    rx.now = legit_s.now = flood_s.now = T0;
    struct mav_tx legit = { .sysid = 1, .compid = 1, .signing = &legit_s };
    struct mav_parser p;
    mav_parser_init(&p, &rx);
    uint8_t b[MAV_MAX_FRAME], old[MAV_MAX_FRAME];
    size_t old_n = encode_hb(&legit, 1, old);
    one_frame(&p, old, old_n, 1);

    size_t accepted = 0;
    for (int k = 0; k < 200; k++) {
        struct mav_tx flood = { .sysid = (uint8_t)(10 + k), .compid = 1, .signing = &flood_s };
        size_t n = encode_hb(&flood, 1, b);
        struct mav_frame f[MAX_FRAMES];
        accepted += parse_buf(&p, b, n, f);
    }
    ck_assert_uint_eq(accepted, MAV_SIGN_MAX_STREAMS - 1);
    ck_assert_uint_eq(p.drops[MAV_DROP_TOO_MANY_STREAMS], 200 - (MAV_SIGN_MAX_STREAMS - 1));
    ck_assert_uint_eq(rx.n_streams, MAV_SIGN_MAX_STREAMS);

    /* the legitimate stream keeps working, and its old frame still cannot be replayed */
    size_t n = encode_hb(&legit, 2, b);
    one_frame(&p, b, n, 1);
    one_frame(&p, old, old_n, 0);
    ck_assert_uint_eq(p.drops[MAV_DROP_REPLAY], 1);
}
END_TEST

START_TEST(bad_signature_flood_creates_no_streams)
{
    struct mav_signing rx, flood_s;
    mav_signing_init(&rx, key_a, 0, true);
    mav_signing_init(&flood_s, key_b, 0, true);
    struct mav_parser p;
    mav_parser_init(&p, &rx);
    uint8_t b[MAV_MAX_FRAME];
    for (int k = 0; k < 200; k++) {
        struct mav_tx flood = { .sysid = (uint8_t)(10 + k), .compid = 1, .signing = &flood_s };
        size_t n = encode_hb(&flood, 1, b);
        one_frame(&p, b, n, 0);
    }
    ck_assert_uint_eq(rx.n_streams, 0);
    ck_assert_uint_eq(p.drops[MAV_DROP_BAD_SIGNATURE], 200);
}
END_TEST

START_TEST(stale_stream_slot_is_reused_when_table_full)
{
    struct mav_signing rx, s;
    mav_signing_init(&rx, key_a, 0, true);
    mav_signing_init(&s, key_a, 0, true);
    rx.now = s.now = T0;
    struct mav_parser p;
    mav_parser_init(&p, &rx);
    uint8_t b[MAV_MAX_FRAME], first[MAV_MAX_FRAME];
    size_t first_n = 0;
    for (int k = 0; k < MAV_SIGN_MAX_STREAMS; k++) {
        struct mav_tx tx = { .sysid = (uint8_t)(1 + k), .compid = 1, .signing = &s };
        size_t n = encode_hb(&tx, 1, b);
        if (k == 0) {
            memcpy(first, b, n);
            first_n = n;
        }
        one_frame(&p, b, n, 1);
    }
    /* Two minutes later every stream is stale: a newcomer may take the oldest slot, and
     * the evicted stream's old frame is refused as stale instead of as a replay. */
    rx.now = s.now = T0 + 2 * MAV_SIGN_STALE_UNITS;
    struct mav_tx newcomer = { .sysid = 200, .compid = 1, .signing = &s };
    size_t n = encode_hb(&newcomer, 1, b);
    one_frame(&p, b, n, 1);
    ck_assert_uint_eq(rx.n_streams, MAV_SIGN_MAX_STREAMS);
    one_frame(&p, first, first_n, 0);
    ck_assert_uint_eq(p.drops[MAV_DROP_STALE], 1);
}
END_TEST

START_TEST(signed_frame_accepted_without_signing_state)
{
    struct mav_signing tx_s;
    mav_signing_init(&tx_s, key_a, 3, true);
    struct mav_tx tx = { .sysid = 2, .compid = 1, .signing = &tx_s };
    uint8_t b[MAV_MAX_FRAME];
    size_t n = encode_hb(&tx, 9, b);
    struct mav_parser p;
    mav_parser_init(&p, NULL);
    struct mav_frame f = one_frame(&p, b, n, 1);
    ck_assert(f.is_signed);
    ck_assert_uint_eq(f.link_id, 3);
}
END_TEST

/* ---- helpers ------------------------------------------------------------------------- */

START_TEST(key_from_hex)
{
    uint8_t key[32];
    const char *good = " 000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n";
    ck_assert_int_eq(mav_key_from_hex(good, key), 0);
    for (int i = 0; i < 32; i++)
        ck_assert_uint_eq(key[i], i);
    memset(key, 0xEE, sizeof key);
    ck_assert_int_eq(mav_key_from_hex("0001", key), -1);
    ck_assert_int_eq(mav_key_from_hex("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key), -1);
    ck_assert_int_eq(mav_key_from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00", key), -1);
    ck_assert_int_eq(mav_key_from_hex(NULL, key), -1);
    ck_assert_uint_eq(key[0], 0xEE);
}
END_TEST

START_TEST(time_and_string_helpers)
{
    ck_assert_uint_eq(mav_unix_us_to_timestamp(MAV_SIGN_EPOCH_UNIX_US + 1000), 100);
    ck_assert_uint_eq(mav_unix_us_to_timestamp(5), 0);
    ck_assert_uint_eq(mav_timestamp_to_unix_us(100), MAV_SIGN_EPOCH_UNIX_US + 1000);
    char field[4], out[8];
    ck_assert_uint_eq(mav_str_put(field, sizeof field, "abcdef"), 4);
    ck_assert_int_eq(memcmp(field, "abcd", 4), 0);
    ck_assert_uint_eq(mav_str_get(out, sizeof out, field, sizeof field), 4);
    ck_assert_str_eq(out, "abcd");
    ck_assert_uint_eq(mav_str_put(field, sizeof field, "x"), 1);
    ck_assert_int_eq(memcmp(field, "x\0\0\0", 4), 0);
    ck_assert_uint_eq(mav_str_get(out, 2, "hello", 5), 1);
    ck_assert_str_eq(out, "h");
}
END_TEST

START_TEST(drop_reasons_have_names)
{
    for (int d = 0; d < MAV_DROP_COUNT; d++)
        ck_assert_str_ne(mav_drop_str(d), "unknown");
    ck_assert_str_eq(mav_drop_str(MAV_DROP_COUNT), "unknown");
}
END_TEST

static Suite *mav_suite(void)
{
    Suite *s = suite_create("mav");
    TCase *t = tcase_create("codec");
    int n_kats = (int)(sizeof kats / sizeof kats[0]);
    int n_msgs = (int)mav_msg_count();
    tcase_add_loop_test(t, known_frame_decodes, 0, n_kats);
    tcase_add_loop_test(t, known_frame_encodes, 0, n_kats);
    tcase_add_loop_test(t, crc_extra_recomputed_from_field_list, 0, n_msgs);
    tcase_add_loop_test(t, table_lengths_and_wire_order, 0, n_msgs);
    tcase_add_loop_test(t, every_message_round_trips, 0, n_msgs);
    tcase_add_test(t, table_crc_matches_bitwise_definition);
    tcase_add_test(t, unknown_message_has_no_info_and_does_not_encode);
    tcase_add_test(t, trailing_zeros_are_truncated_and_restored);
    tcase_add_test(t, extension_fields_extend_the_frame);
    tcase_add_test(t, len_zero_frame_accepted);
    tcase_add_test(t, len_zero_heartbeat_accepted);
    tcase_add_test(t, drop_reasons_have_names);
    suite_add_tcase(s, t);

    t = tcase_create("parser");
    tcase_add_loop_test(t, bad_frame_is_dropped_counted_and_next_frame_survives, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(t, unknown_message_delivered_on_request);
    tcase_add_test(t, garbage_between_frames_is_skipped_and_counted);
    tcase_add_test(t, unknown_header_after_garbage_does_not_swallow_frames);
    tcase_add_test(t, unknown_frame_after_good_frame_is_skipped_whole);
    tcase_add_test(t, undecoded_frame_with_corrupted_len_does_not_swallow_frames);
    tcase_add_test(t, unchecked_frame_in_sync_is_not_trusted);
    tcase_add_test(t, dialect_table_sorted_and_agrees_with_decoded_messages);
    tcase_add_test(t, autopilot_stream_loses_no_intact_frame);
    tcase_add_test(t, good_frame_inside_a_cut_frame_is_found);
    tcase_add_test(t, frames_queued_behind_a_rejected_one_come_out_of_poll);
    tcase_add_test(t, split_at_every_byte_boundary);
    tcase_add_test(t, mavlink1_frame_parsed_and_counted);
    tcase_add_test(t, random_bytes_keep_memory_bounded);
    suite_add_tcase(s, t);

    t = tcase_create("signing");
    tcase_add_test(t, sign_and_verify_round_trip);
    tcase_add_test(t, wrong_key_is_rejected);
    tcase_add_test(t, tampered_signed_frame_is_rejected);
    tcase_add_test(t, replayed_frame_is_rejected);
    tcase_add_test(t, stale_timestamp_is_rejected);
    tcase_add_test(t, local_time_never_goes_back);
    tcase_add_test(t, unsigned_and_v1_rejected_on_signing_link);
    tcase_add_test(t, unsigned_accepted_when_signing_optional);
    tcase_add_test(t, tx_timestamps_increase_when_clock_stands_still);
    tcase_add_test(t, stream_flood_keeps_table_bounded_and_legit_stream_working);
    tcase_add_test(t, bad_signature_flood_creates_no_streams);
    tcase_add_test(t, stale_stream_slot_is_reused_when_table_full);
    tcase_add_test(t, signed_frame_accepted_without_signing_state);
    suite_add_tcase(s, t);

    t = tcase_create("util");
    tcase_add_test(t, key_from_hex);
    tcase_add_test(t, time_and_string_helpers);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mav_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
