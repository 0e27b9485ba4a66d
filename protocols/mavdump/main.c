/* mavdump: decodes a MAVLink capture (raw bytes or hex text) into one JSON object per
 * frame, then one object with the parser's counters. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mavlink/mav.h"
#include "mavlink/mav_json.h"
#include "mavlink/mav_util.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mavdump [--hex] [--key HEX] [FILE|-]\n"
            "\n"
            "Decodes a MAVLink capture and prints one JSON object per frame (JSON Lines):\n"
            "header fields, msgid, message name and every field by name; unknown messages\n"
            "with their payload as hex; signed frames with link_id, timestamp and signature.\n"
            "A last object {\"counters\": ...} gives the frames accepted, the bytes read and\n"
            "every drop reason (bad_crc, unknown_msg, garbage_bytes, ...).\n"
            "\n"
            "  FILE       capture to read; '-' or none reads standard input\n"
            "  --hex      input is hex text (whitespace and newlines ignored); detected\n"
            "             automatically when the input holds only hex digits and blanks\n"
            "  --key HEX  32-byte signing key as 64 hex digits: adds \"signature_ok\" to\n"
            "             every signed frame\n"
            "  --help     this text\n"
            "\n"
            "Exit status: 0 done, 1 unreadable input or bad hex, 2 bad usage.\n");
}

struct dump {
    struct mav_parser parser;
    bool have_key;
    uint8_t key[32];
    uint64_t bytes;
    /* hex decoding state carried across reads */
    int nibble;                  /* -1: none pending */
    uint64_t text_offset;
};

static int print_json(json_t *j)
{
    if (!j)
        return -1;
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!s)
        return -1;
    puts(s);
    free(s);
    return 0;
}

static int feed_bytes(struct dump *d, const uint8_t *b, size_t n)
{
    struct mav_frame f;
    d->bytes += n;
    for (;;) {
        size_t used;
        if (!mav_parser_feed_buf(&d->parser, b, n, &used, &f))
            return 0; /* all n bytes taken, no frame left */
        b += used;
        n -= used;
        int sig = d->have_key && f.is_signed ? mav_signature_verify(d->key, &f) : -1;
        if (print_json(mav_json_frame(&f, sig)) < 0) {
            fprintf(stderr, "mavdump: out of memory\n");
            return -1;
        }
    }
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool looks_like_hex(const uint8_t *b, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (hex_digit(b[i]) >= 0)
            digits++;
        else if (!is_blank(b[i]))
            return false;
    }
    return digits > 0;
}

static int feed_hex(struct dump *d, const uint8_t *t, size_t n)
{
    uint8_t out[4096];
    size_t o = 0;
    for (size_t i = 0; i < n; i++, d->text_offset++) {
        int v = hex_digit(t[i]);
        if (v < 0) {
            if (is_blank(t[i]))
                continue;
            fprintf(stderr, "mavdump: bad hex character 0x%02x at offset %llu\n", t[i],
                    (unsigned long long)d->text_offset);
            return -1;
        }
        if (d->nibble < 0) {
            d->nibble = v;
            continue;
        }
        out[o++] = (uint8_t)(d->nibble << 4 | v);
        d->nibble = -1;
        if (o == sizeof out) {
            if (feed_bytes(d, out, o) < 0)
                return -1;
            o = 0;
        }
    }
    return feed_bytes(d, out, o);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "hex", no_argument, NULL, 'x' },
        { "key", required_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static struct dump d;
    bool force_hex = false;
    int c;
    mav_parser_init(&d.parser, NULL);
    d.parser.deliver_unknown = true;
    d.nibble = -1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'x':
            force_hex = true;
            break;
        case 'k':
            if (mav_key_from_hex(optarg, d.key) < 0) {
                fprintf(stderr, "mavdump: --key wants 64 hex digits (a 32-byte key)\n");
                return 2;
            }
            d.have_key = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        usage(stderr);
        return 2;
    }
    const char *path = optind < argc ? argv[optind] : "-";
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!in) {
        fprintf(stderr, "mavdump: %s: %s\n", path, strerror(errno));
        return 1;
    }

    static uint8_t buf[65536];
    int rc = 0, hex = -1;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (hex < 0)
            hex = force_hex || looks_like_hex(buf, n);
        if ((hex ? feed_hex(&d, buf, n) : feed_bytes(&d, buf, n)) < 0) {
            rc = 1;
            break;
        }
    }
    if (ferror(in)) {
        fprintf(stderr, "mavdump: %s: read error\n", path);
        rc = 1;
    }
    if (rc == 0 && hex == 1 && d.nibble >= 0) {
        fprintf(stderr, "mavdump: odd number of hex digits\n");
        rc = 1;
    }
    if (in != stdin)
        fclose(in);

    json_t *counters = mav_json_counters(&d.parser);
    if (counters)
        json_object_set_new(counters, "bytes", json_integer((json_int_t)d.bytes));
    json_t *summary = counters ? json_pack("{s:o}", "counters", counters) : NULL;
    if (print_json(summary) < 0) {
        fprintf(stderr, "mavdump: out of memory\n");
        rc = 1;
    }
    return rc;
}
