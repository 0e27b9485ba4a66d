/* mavdump: hex and raw captures, signature checks with --key, unknown messages, and
 * clear errors for bad input. Runs the built program on files in a scratch directory. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "mavlink/mav.h"
#include "proc.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
/* heartbeat (reference), signed COMMAND_ACK made with KEY_HEX, an ATTITUDE frame
 * (unknown here, so its CRC cannot be checked), two junk bytes */
#define CAPTURE "fd090000ef01020000000500000002035903032e73\n" \
                "fd0a01000001194d000022790000000000000701a62c0100e03cd6921fce538a71c382\n" \
                "fd1c0000050101 1e0000 " \
                "00000000000000000000000000000000000000000000000000000000 b868\n0000\n"
/* The ATTITUDE above with a CRC that does not hold: an undecoded message is checked with
 * the dialect's CRC_EXTRA (39) too, so it is not shown. */
#define BAD_ATTITUDE "fd1c00000501011e0000" \
                     "00000000000000000000000000000000000000000000000000000000c0ff\n"

struct run {
    char dir[PATH_MAX];
    int status;
    json_t *lines;               /* parsed JSON lines of the output */
    char text[8192];             /* raw output */
};

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void run_mavdump(struct run *r, const void *input, size_t n, const char *opt1,
                        const char *opt2)
{
    char tmp[PATH_MAX], in[PATH_MAX + 16], out[PATH_MAX + 16], bin[PATH_MAX];
    ck_assert_int_eq(proc_mkdtemp(tmp, sizeof tmp, "mavdump"), 0);
    snprintf(r->dir, sizeof r->dir, "%s", tmp);
    snprintf(in, sizeof in, "%s/capture", r->dir);
    snprintf(out, sizeof out, "%s/out", r->dir);
    write_file(in, input, n);
    char *argv[6];
    int a = 0;
    argv[a++] = (char *)proc_bin("mavdump", bin, sizeof bin);
    if (opt1)
        argv[a++] = (char *)opt1;
    if (opt2)
        argv[a++] = (char *)opt2;
    argv[a++] = in;
    argv[a] = NULL;
    pid_t pid = proc_spawn(argv, out);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(waitpid(pid, &r->status, 0), pid);

    FILE *f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    size_t len = fread(r->text, 1, sizeof r->text - 1, f);
    r->text[len] = '\0';
    fclose(f);
    r->lines = json_array();
    static char copy[sizeof r->text];
    memcpy(copy, r->text, len + 1);
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(l, 0, NULL);
        if (j)
            json_array_append_new(r->lines, j);
    }
}

static void run_done(struct run *r)
{
    json_decref(r->lines);
    proc_rmtree(r->dir);
}

static int exit_code(const struct run *r)
{
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

static json_t *line(const struct run *r, size_t i)
{
    return json_array_get(r->lines, i);
}

static long long get_int(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    ck_assert_msg(json_is_integer(v), "%s%s%s missing", path1, path2 ? "." : "", path2 ? path2 : "");
    return json_integer_value(v);
}

START_TEST(hex_capture_decodes_every_frame_and_counts)
{
    struct run r;
    run_mavdump(&r, CAPTURE, strlen(CAPTURE), NULL, NULL);
    ck_assert_int_eq(exit_code(&r), 0);
    ck_assert_msg(json_array_size(r.lines) == 4, "%s", r.text);
    ck_assert_str_eq(json_string_value(json_object_get(line(&r, 0), "name")), "HEARTBEAT");
    ck_assert_int_eq(get_int(line(&r, 0), "fields", "base_mode"), 0x59);
    ck_assert_int_eq(get_int(line(&r, 1), "fields", "command"), 31010);
    ck_assert(json_is_true(json_object_get(line(&r, 1), "signed")));
    ck_assert_int_eq(get_int(line(&r, 1), "link_id", NULL), 1);
    ck_assert_ptr_null(json_object_get(line(&r, 1), "signature_ok"));
    ck_assert_int_eq(get_int(line(&r, 2), "msgid", NULL), 30);
    ck_assert(json_is_null(json_object_get(line(&r, 2), "name")));
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(line(&r, 2), "payload"))), 56);
    ck_assert_int_eq(get_int(line(&r, 3), "counters", "frames_ok"), 2);
    ck_assert_int_eq(get_int(line(&r, 3), "counters", "unknown_msg"), 1);
    ck_assert_int_eq(get_int(line(&r, 3), "counters", "garbage_bytes"), 2);
    run_done(&r);
}
END_TEST

START_TEST(undecoded_frame_with_a_bad_crc_is_not_shown)
{
    struct run r;
    run_mavdump(&r, BAD_ATTITUDE, strlen(BAD_ATTITUDE), NULL, NULL);
    ck_assert_int_eq(exit_code(&r), 0);
    ck_assert_msg(json_array_size(r.lines) == 1, "%s", r.text);
    ck_assert_int_eq(get_int(line(&r, 0), "counters", "bad_crc"), 1);
    ck_assert_int_eq(get_int(line(&r, 0), "counters", "unknown_msg"), 0);
    run_done(&r);
}
END_TEST

START_TEST(raw_capture_is_detected)
{
    uint8_t raw[256];
    size_t n = 0;
    const char *hex = "fd0200000001014d00009001a058" "fd090000ef01020000000500000002035903032e73";
    for (; hex[2 * n]; n++) {
        unsigned v;
        sscanf(hex + 2 * n, "%2x", &v);
        raw[n] = (uint8_t)v;
    }
    struct run r;
    run_mavdump(&r, raw, n, NULL, NULL);
    ck_assert_int_eq(exit_code(&r), 0);
    ck_assert_uint_eq(json_array_size(r.lines), 3);
    ck_assert_str_eq(json_string_value(json_object_get(line(&r, 0), "name")), "COMMAND_ACK");
    ck_assert_int_eq(get_int(line(&r, 2), "counters", "bytes"), 35);
    run_done(&r);
}
END_TEST

START_TEST(key_reports_signature_verdict)
{
    struct run r;
    run_mavdump(&r, CAPTURE, strlen(CAPTURE), "--key", KEY_HEX);
    ck_assert_int_eq(exit_code(&r), 0);
    ck_assert(json_is_true(json_object_get(line(&r, 1), "signature_ok")));
    run_done(&r);
    run_mavdump(&r, CAPTURE, strlen(CAPTURE), "--key",
                "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    ck_assert(json_is_false(json_object_get(line(&r, 1), "signature_ok")));
    run_done(&r);
}
END_TEST

START_TEST(bad_hex_is_a_clear_error)
{
    struct run r;
    const char *text = "fd0200000001014d00009001a058 zz";
    run_mavdump(&r, text, strlen(text), "--hex", NULL);
    ck_assert_int_eq(exit_code(&r), 1);
    ck_assert_msg(strstr(r.text, "bad hex character 0x7a at offset 29"), "%s", r.text);
    run_done(&r);
}
END_TEST

START_TEST(bad_key_is_a_usage_error)
{
    struct run r;
    run_mavdump(&r, CAPTURE, strlen(CAPTURE), "--key", "1234");
    ck_assert_int_eq(exit_code(&r), 2);
    ck_assert_msg(strstr(r.text, "64 hex digits"), "%s", r.text);
    run_done(&r);
}
END_TEST

static Suite *mavdump_suite(void)
{
    Suite *s = suite_create("mavdump");
    TCase *t = tcase_create("mavdump");
    tcase_add_test(t, hex_capture_decodes_every_frame_and_counts);
    tcase_add_test(t, undecoded_frame_with_a_bad_crc_is_not_shown);
    tcase_add_test(t, raw_capture_is_detected);
    tcase_add_test(t, key_reports_signature_verdict);
    tcase_add_test(t, bad_hex_is_a_clear_error);
    tcase_add_test(t, bad_key_is_a_usage_error);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mavdump_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
