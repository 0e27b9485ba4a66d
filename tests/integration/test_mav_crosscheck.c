/* Cross-check of the MAVLink codec against an independent implementation, the npm
 * package node-mavlink (tests/node): frames we encode must decode there with the same
 * field values and signatures, and frames it encodes must decode here. The node peer
 * (tests/node/crosscheck.js) answers a file of JSON requests with JSON lines.
 *
 * node-mavlink does not know BATTERY_INFO (372, still work-in-progress in common.xml),
 * so that message is checked only by the unit tests; peer_knows_all_but_battery_info
 * notices when that changes. Missing node or node_modules fails the tests loudly. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "mavlink/mav.h"
#include "mavlink/mav_json.h"
#include "mavlink/mav_util.h"
#include "proc.h"

static const uint8_t key[32] = { 0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
                                 0x98, 0xA9, 0xBA, 0xCB, 0xDC, 0xED, 0xFE, 0x0F,
                                 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* ---- the node peer ----------------------------------------------------------------- */

struct peer {
    char dir[PATH_MAX], req[PATH_MAX + 16], out[PATH_MAX + 16];
    json_t *requests;
};

static void find_node(char *out, size_t size)
{
    const char *path = getenv("PATH");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/node", d);
        if (access(out, X_OK) == 0)
            return;
    }
    ck_abort_msg("node (Node.js) not found in PATH: the cross-check needs it (make deps)");
}

static void script_path(char *out, size_t size)
{
    const char *src = getenv("SWAP_SRC");
    char cwd[PATH_MAX];
    if (!src || !*src)
        src = getcwd(cwd, sizeof cwd) ? cwd : ".";
    char mod[PATH_MAX + 64];
    snprintf(mod, sizeof mod, "%s/tests/node/node_modules/node-mavlink/package.json", src);
    ck_assert_msg(access(mod, R_OK) == 0,
                  "%s missing: run `npm install --prefix tests/node` (make deps)", mod);
    snprintf(out, size, "%s/tests/node/crosscheck.js", src);
}

static void peer_init(struct peer *pr)
{
    char tmp[PATH_MAX];
    ck_assert_int_eq(proc_mkdtemp(tmp, sizeof tmp, "mavxc"), 0);
    snprintf(pr->dir, sizeof pr->dir, "%s", tmp);
    snprintf(pr->req, sizeof pr->req, "%s/req.jsonl", pr->dir);
    snprintf(pr->out, sizeof pr->out, "%s/out.jsonl", pr->dir);
    pr->requests = json_array();
}

static size_t peer_add(struct peer *pr, json_t *req)
{
    ck_assert_ptr_nonnull(req);
    json_array_append_new(pr->requests, req);
    return json_array_size(pr->requests) - 1;
}

/* Runs the peer over all requests; returns its replies, one per request. */
static json_t *peer_run(struct peer *pr)
{
    FILE *f = fopen(pr->req, "w");
    ck_assert_ptr_nonnull(f);
    size_t i;
    json_t *r;
    json_array_foreach(pr->requests, i, r) {
        ck_assert_int_eq(json_dumpf(r, f, JSON_COMPACT), 0);
        fputc('\n', f);
    }
    fclose(f);

    char node[PATH_MAX], script[PATH_MAX + 64];
    find_node(node, sizeof node);
    script_path(script, sizeof script);
    char *argv[] = { node, script, pr->req, NULL };
    pid_t pid = proc_spawn(argv, pr->out);
    ck_assert_int_gt(pid, 0);
    int ready = proc_wait_text(pr->out, "{\"done\":true}", pid, 20000);
    int status = proc_stop(pid, 5000);
    (void)status;

    json_t *replies = json_array();
    FILE *in = fopen(pr->out, "r");
    ck_assert_ptr_nonnull(in);
    char *line = NULL;
    size_t cap = 0;
    char log[2048] = "";
    while (getline(&line, &cap, in) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j || !json_is_object(j)) {
            strncat(log, line, sizeof log - strlen(log) - 1);
            json_decref(j);
            continue;
        }
        if (json_object_get(j, "fatal"))
            ck_abort_msg("node peer failed: %s", json_string_value(json_object_get(j, "fatal")));
        if (json_object_get(j, "done"))
            json_decref(j);
        else
            json_array_append_new(replies, j);
    }
    free(line);
    fclose(in);
    ck_assert_msg(ready == 0, "node peer did not finish (%d): %s", ready, log);
    ck_assert_uint_eq(json_array_size(replies), json_array_size(pr->requests));
    for (size_t k = 0; k < json_array_size(replies); k++) {
        json_t *err = json_object_get(json_array_get(replies, k), "error");
        ck_assert_msg(!err, "request %zu: %s", k, json_string_value(err));
    }
    return replies;
}

static void peer_done(struct peer *pr, json_t *replies)
{
    json_decref(replies);
    json_decref(pr->requests);
    proc_rmtree(pr->dir);
}

/* ---- values ------------------------------------------------------------------------ */

/* Messages node-mavlink knows: all of ours but BATTERY_INFO. */
static bool peer_has(uint32_t msgid)
{
    return msgid != MAV_MSG_BATTERY_INFO;
}

/* Distinct values in every field, within each type's range and exact as float. With
 * tail_zero the extension fields stay zero, so the frame is truncated. */
static void fill(const struct mav_msg_info *m, void *msg, unsigned seed, bool tail_zero)
{
    memset(msg, 0, m->struct_size);
    for (size_t f = 0; f < m->n_fields; f++) {
        const struct mav_field *fd = &m->fields[f];
        if (tail_zero && fd->ext)
            continue;
        size_t size = mav_ftype_size(fd->type), n = fd->count ? fd->count : 1;
        for (size_t i = 0; i < n; i++) {
            uint8_t *p = (uint8_t *)msg + fd->offset + i * size;
            unsigned v = seed * 131u + (unsigned)(f * 17 + i * 5);
            if (fd->type == MAV_FT_CHAR) {
                /* strings shorter than the field, and one that fills it */
                *p = (fd->count > 20 && i >= 11) ? 0 : (uint8_t)('a' + v % 26);
            } else if (fd->type == MAV_FT_FLOAT) {
                float x = ((float)(v % 4000) - 2000.0f) / 8.0f;
                memcpy(p, &x, 4);
            } else {
                for (size_t b = 0; b < size; b++)
                    p[b] = (uint8_t)(v * (b * 2 + 3) + 0x41);
            }
        }
    }
}

#define HEX_MAX_BYTES 4096

static char *to_hex(const uint8_t *b, size_t n)
{
    static char out[2 * HEX_MAX_BYTES + 1];
    ck_assert_uint_le(n, HEX_MAX_BYTES);
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = '\0';
    return out;
}

static size_t from_hex(const char *hex, uint8_t *b, size_t cap)
{
    size_t n = strlen(hex) / 2;
    ck_assert_uint_le(n, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        b[i] = (uint8_t)v;
    }
    return n;
}

/* Same JSON value, comparing numbers by value (the peer prints 2.0 as 2). */
static bool same_value(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same_value(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal(a, b);
}

static void assert_same_fields(json_t *ours, json_t *theirs, const char *what)
{
    ck_assert_msg(json_is_object(theirs), "%s: peer gave no fields", what);
    const char *name;
    json_t *v;
    json_object_foreach(ours, name, v) {
        json_t *t = json_object_get(theirs, name);
        char *a = json_dumps(v, JSON_ENCODE_ANY), *b = t ? json_dumps(t, JSON_ENCODE_ANY) : NULL;
        ck_assert_msg(t && same_value(v, t), "%s.%s: ours %s, peer %s", what, name, a,
                      b ? b : "(missing)");
        free(a);
        free(b);
    }
    ck_assert_uint_eq(json_object_size(ours), json_object_size(theirs));
}

static json_t *decode_request(const uint8_t *b, size_t n, bool with_key)
{
    json_t *r = json_pack("{s:s, s:s}", "op", "decode", "hex", to_hex(b, n));
    if (with_key)
        json_object_set_new(r, "key", json_string(to_hex(key, sizeof key)));
    return r;
}

static json_t *encode_request(const struct mav_msg_info *m, const void *msg, uint8_t seq)
{
    return json_pack("{s:s, s:I, s:i, s:i, s:i, s:o}", "op", "encode", "msgid",
                     (json_int_t)m->id, "sysid", 42, "compid", 25, "seq", seq, "fields",
                     mav_json_fields(m, msg));
}

/* Parses bytes with our parser; exactly one frame expected. */
static struct mav_frame parse_one(const uint8_t *b, size_t n, struct mav_signing *s)
{
    struct mav_parser p;
    struct mav_frame f, tmp;
    size_t off = 0, got = 0;
    mav_parser_init(&p, s);
    for (;;) {
        size_t used;
        int r = mav_parser_feed_buf(&p, b + off, n - off, &used, got ? &tmp : &f);
        off += used;
        if (!r)
            break;
        got++;
    }
    ck_assert_msg(got == 1, "%zu frames from %s (bad_crc %llu)", got, to_hex(b, n),
                  (unsigned long long)p.drops[MAV_DROP_BAD_CRC]);
    return f;
}

/* ---- tests --------------------------------------------------------------------------- */

START_TEST(peer_knows_all_but_battery_info)
{
    struct peer pr;
    peer_init(&pr);
    json_t *ids = json_array();
    for (size_t i = 0; i < mav_msg_count(); i++)
        json_array_append_new(ids, json_integer(mav_msg_info_at(i)->id));
    peer_add(&pr, json_pack("{s:s, s:o}", "op", "info", "ids", ids));
    json_t *rep = peer_run(&pr);
    json_t *known = json_object_get(json_array_get(rep, 0), "known");
    ck_assert_uint_eq(json_array_size(known), mav_msg_count() - 1);
    for (size_t i = 0; i < json_array_size(known); i++)
        ck_assert(peer_has((uint32_t)json_integer_value(json_array_get(known, i))));
    peer_done(&pr, rep);
}
END_TEST

START_TEST(our_frames_decode_in_peer)
{
    struct peer pr;
    peer_init(&pr);
    union mav_msg_any msgs[32];
    const struct mav_msg_info *infos[32];
    uint8_t lens[32];
    size_t n = 0;
    struct mav_tx tx = { .sysid = 42, .compid = 25, .seq = 250 };
    for (size_t i = 0; i < mav_msg_count(); i++) {
        const struct mav_msg_info *m = mav_msg_info_at(i);
        if (!peer_has(m->id))
            continue;
        for (int tail_zero = 0; tail_zero < 2; tail_zero++) {
            uint8_t b[MAV_MAX_FRAME];
            fill(m, &msgs[n], (unsigned)(i + 1), tail_zero);
            int len = mav_encode(&tx, m->id, &msgs[n], b);
            ck_assert_int_gt(len, 0);
            lens[n] = b[1];
            infos[n] = m;
            peer_add(&pr, decode_request(b, (size_t)len, false));
            n++;
        }
    }
    json_t *rep = peer_run(&pr);
    for (size_t k = 0; k < n; k++) {
        json_t *pk = json_array_get(json_object_get(json_array_get(rep, k), "packets"), 0);
        ck_assert_msg(pk, "%s: peer found no packet", infos[k]->name);
        ck_assert_int_eq(json_integer_value(json_object_get(pk, "msgid")), infos[k]->id);
        ck_assert_int_eq(json_integer_value(json_object_get(pk, "sysid")), 42);
        ck_assert_int_eq(json_integer_value(json_object_get(pk, "compid")), 25);
        ck_assert_int_eq(json_integer_value(json_object_get(pk, "seq")), (250 + k) % 256);
        ck_assert_int_eq(json_integer_value(json_object_get(pk, "len")), lens[k]);
        json_t *ours = mav_json_fields(infos[k], &msgs[k]);
        assert_same_fields(ours, json_object_get(pk, "fields"), infos[k]->name);
        json_decref(ours);
    }
    peer_done(&pr, rep);
}
END_TEST

START_TEST(peer_frames_decode_here)
{
    struct peer pr;
    peer_init(&pr);
    union mav_msg_any msgs[32];
    const struct mav_msg_info *infos[32];
    size_t n = 0;
    for (size_t i = 0; i < mav_msg_count(); i++) {
        const struct mav_msg_info *m = mav_msg_info_at(i);
        if (!peer_has(m->id))
            continue;
        for (int tail_zero = 0; tail_zero < 2; tail_zero++) {
            fill(m, &msgs[n], (unsigned)(i + 7), tail_zero);
            infos[n] = m;
            peer_add(&pr, encode_request(m, &msgs[n], (uint8_t)n));
            n++;
        }
    }
    json_t *rep = peer_run(&pr);
    for (size_t k = 0; k < n; k++) {
        const char *hex = json_string_value(json_object_get(json_array_get(rep, k), "hex"));
        ck_assert_ptr_nonnull(hex);
        uint8_t b[MAV_MAX_FRAME], mine[MAV_MAX_FRAME];
        size_t len = from_hex(hex, b, sizeof b);
        struct mav_frame f = parse_one(b, len, NULL);
        ck_assert_uint_eq(f.msgid, infos[k]->id);
        ck_assert_uint_eq(f.sysid, 42);
        ck_assert_uint_eq(f.seq, k);
        union mav_msg_any got;
        ck_assert_int_eq(mav_decode(&f, &got), 0);
        ck_assert_int_eq(memcmp(&got, &msgs[k], infos[k]->struct_size), 0);
        /* both sides truncate the same way, so the bytes agree too */
        struct mav_tx tx = { .sysid = 42, .compid = 25, .seq = (uint8_t)k };
        int mine_n = mav_encode(&tx, infos[k]->id, &msgs[k], mine);
        ck_assert_msg((size_t)mine_n == len && memcmp(mine, b, len) == 0,
                      "%s: peer %s", infos[k]->name, hex);
    }
    peer_done(&pr, rep);
}
END_TEST

START_TEST(peer_zero_payload_len0_decodes_here)
{
    /* node-mavlink sends an all-zero payload with len 0; we send len 1 (as the spec
     * says); each side accepts the other's. */
    struct peer pr;
    peer_init(&pr);
    struct mav_heartbeat zero = { 0 };
    const struct mav_msg_info *m = mav_msg_info(MAV_MSG_HEARTBEAT);
    peer_add(&pr, encode_request(m, &zero, 3));
    uint8_t b[MAV_MAX_FRAME];
    struct mav_tx tx = { .sysid = 42, .compid = 25 };
    int n = mav_encode(&tx, MAV_MSG_HEARTBEAT, &zero, b);
    ck_assert_uint_eq(b[1], 1);
    peer_add(&pr, decode_request(b, (size_t)n, false));
    json_t *rep = peer_run(&pr);

    const char *hex = json_string_value(json_object_get(json_array_get(rep, 0), "hex"));
    size_t len = from_hex(hex, b, sizeof b);
    ck_assert_uint_eq(b[1], 0);
    struct mav_frame f = parse_one(b, len, NULL);
    struct mav_heartbeat hb = { 1, 1, 1, 1, 1, 1 };
    mav_decode(&f, &hb);
    ck_assert_int_eq(memcmp(&hb, &zero, sizeof hb), 0);
    json_t *pk = json_array_get(json_object_get(json_array_get(rep, 1), "packets"), 0);
    ck_assert_ptr_nonnull(pk);
    ck_assert_int_eq(json_integer_value(json_object_get(pk, "len")), 1);
    peer_done(&pr, rep);
}
END_TEST

START_TEST(our_signatures_verify_in_peer)
{
    struct peer pr;
    peer_init(&pr);
    struct mav_signing s;
    mav_signing_init(&s, key, 9, true);
    /* a whole millisecond, so the peer (which signs in ms) and we agree on units */
    mav_signing_set_time_unix_us(&s, 1700000000123000ULL);
    struct mav_tx tx = { .sysid = 42, .compid = 25, .signing = &s };
    struct mav_statustext st = { .severity = 4 };
    mav_str_put(st.text, sizeof st.text, "swap bay 3 ready");
    uint8_t b[MAV_MAX_FRAME];
    int n = mav_encode(&tx, MAV_MSG_STATUSTEXT, &st, b);
    peer_add(&pr, decode_request(b, (size_t)n, true));
    b[n - 1] ^= 0x40; /* a broken signature must fail there too */
    peer_add(&pr, decode_request(b, (size_t)n, true));
    json_t *rep = peer_run(&pr);

    json_t *pk = json_array_get(json_object_get(json_array_get(rep, 0), "packets"), 0);
    ck_assert_ptr_nonnull(pk);
    ck_assert(json_is_true(json_object_get(pk, "signed")));
    ck_assert(json_is_true(json_object_get(pk, "signature_ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(pk, "link_id")), 9);
    ck_assert_int_eq(json_integer_value(json_object_get(pk, "timestamp")),
                     (json_int_t)mav_unix_us_to_timestamp(1700000000123000ULL));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(pk, "fields"), "text")),
                     "swap bay 3 ready");
    pk = json_array_get(json_object_get(json_array_get(rep, 1), "packets"), 0);
    ck_assert_ptr_nonnull(pk);
    ck_assert(json_is_false(json_object_get(pk, "signature_ok")));
    peer_done(&pr, rep);
}
END_TEST

START_TEST(peer_signatures_verify_here)
{
    struct peer pr;
    peer_init(&pr);
    const struct mav_msg_info *m = mav_msg_info(MAV_MSG_BATTERY_STATUS);
    struct mav_battery_status bs;
    fill(m, &bs, 5, true);
    uint64_t unix_ms = 1700000000456ULL;
    json_t *r = encode_request(m, &bs, 77);
    json_object_set_new(r, "sign", json_pack("{s:s, s:i, s:I}", "key", to_hex(key, sizeof key),
                                             "link_id", 3, "unix_ms", (json_int_t)unix_ms));
    peer_add(&pr, r);
    json_t *rep = peer_run(&pr);

    uint8_t b[MAV_MAX_FRAME];
    size_t len = from_hex(json_string_value(json_object_get(json_array_get(rep, 0), "hex")), b,
                          sizeof b);
    struct mav_signing rx;
    mav_signing_init(&rx, key, 0, true);
    mav_signing_set_time_unix_us(&rx, unix_ms * 1000 + 500000);
    struct mav_frame f = parse_one(b, len, &rx);
    ck_assert(f.is_signed);
    ck_assert_uint_eq(f.link_id, 3);
    ck_assert_uint_eq(f.timestamp, mav_unix_us_to_timestamp(unix_ms * 1000));
    ck_assert(mav_signature_verify(key, &f));
    struct mav_battery_status got;
    mav_decode(&f, &got);
    ck_assert_int_eq(memcmp(&got, &bs, sizeof bs), 0);
    peer_done(&pr, rep);
}
END_TEST

START_TEST(peer_mavlink1_frame_decodes_here)
{
    struct peer pr;
    peer_init(&pr);
    const struct mav_msg_info *m = mav_msg_info(MAV_MSG_HEARTBEAT);
    struct mav_heartbeat hb;
    fill(m, &hb, 3, false);
    json_t *r = encode_request(m, &hb, 1);
    json_object_set_new(r, "v1", json_true());
    peer_add(&pr, r);
    json_t *rep = peer_run(&pr);
    uint8_t b[MAV_MAX_FRAME];
    size_t len = from_hex(json_string_value(json_object_get(json_array_get(rep, 0), "hex")), b,
                          sizeof b);
    ck_assert_uint_eq(b[0], MAV_STX_V1);
    struct mav_frame f = parse_one(b, len, NULL);
    ck_assert_uint_eq(f.version, 1);
    struct mav_heartbeat got;
    mav_decode(&f, &got);
    ck_assert_int_eq(memcmp(&got, &hb, sizeof hb), 0);
    peer_done(&pr, rep);
}
END_TEST

START_TEST(our_stream_with_garbage_parses_the_same_in_peer)
{
    /* frames separated by junk: both parsers must find the same frames */
    struct peer pr;
    peer_init(&pr);
    uint8_t b[HEX_MAX_BYTES];
    size_t n = 0, frames = 0;
    struct mav_tx tx = { .sysid = 42, .compid = 25 };
    for (size_t i = 0; i < mav_msg_count(); i++) {
        const struct mav_msg_info *m = mav_msg_info_at(i);
        if (!peer_has(m->id))
            continue;
        union mav_msg_any msg;
        fill(m, &msg, (unsigned)i, i % 2);
        n += (size_t)mav_encode(&tx, m->id, &msg, b + n);
        frames++;
        static const uint8_t junk[] = { 0x00, 0x13, 0x37, 0x99 };
        memcpy(b + n, junk, sizeof junk);
        n += sizeof junk;
    }
    peer_add(&pr, decode_request(b, n, false));
    json_t *rep = peer_run(&pr);
    json_t *pkts = json_object_get(json_array_get(rep, 0), "packets");
    ck_assert_uint_eq(json_array_size(pkts), frames);

    struct mav_parser p;
    mav_parser_init(&p, NULL);
    size_t off = 0, k = 0;
    for (;;) {
        size_t used;
        struct mav_frame f;
        int r = mav_parser_feed_buf(&p, b + off, n - off, &used, &f);
        off += used;
        if (!r)
            break;
        {
            json_t *mine = mav_json_frame(&f, -1);
            json_t *pk = json_array_get(pkts, k++);
            ck_assert_int_eq(json_integer_value(json_object_get(pk, "msgid")), f.msgid);
            assert_same_fields(json_object_get(mine, "fields"), json_object_get(pk, "fields"),
                               mav_msg_info(f.msgid)->name);
            json_decref(mine);
        }
    }
    ck_assert_uint_eq(k, frames);
    peer_done(&pr, rep);
}
END_TEST

static Suite *crosscheck_suite(void)
{
    Suite *s = suite_create("mav_crosscheck");
    TCase *t = tcase_create("node-mavlink");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, peer_knows_all_but_battery_info);
    tcase_add_test(t, our_frames_decode_in_peer);
    tcase_add_test(t, peer_frames_decode_here);
    tcase_add_test(t, peer_zero_payload_len0_decodes_here);
    tcase_add_test(t, our_signatures_verify_in_peer);
    tcase_add_test(t, peer_signatures_verify_here);
    tcase_add_test(t, peer_mavlink1_frame_decodes_here);
    tcase_add_test(t, our_stream_with_garbage_parses_the_same_in_peer);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crosscheck_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
