/* Helpers around the MAVLink codec: time conversion, char[N] fields, keys. */
#include <ctype.h>
#include <string.h>

#include <nettle/sha2.h>

#include "mavlink/mav_util.h"

uint64_t mav_unix_us_to_timestamp(uint64_t unix_us)
{
    return unix_us > MAV_SIGN_EPOCH_UNIX_US ? (unix_us - MAV_SIGN_EPOCH_UNIX_US) / 10 : 0;
}

uint64_t mav_timestamp_to_unix_us(uint64_t timestamp)
{
    return MAV_SIGN_EPOCH_UNIX_US + timestamp * 10;
}

size_t mav_str_put(char *dst, size_t n, const char *src)
{
    size_t len = src ? strnlen(src, n) : 0;
    if (len)
        memcpy(dst, src, len);
    memset(dst + len, 0, n - len);
    return len;
}

size_t mav_str_get(char *dst, size_t dst_size, const char *src, size_t n)
{
    if (dst_size == 0)
        return 0;
    size_t len = strnlen(src, n);
    if (len > dst_size - 1)
        len = dst_size - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return len;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int mav_key_from_hex(const char *hex, uint8_t key[32])
{
    if (!hex)
        return -1;
    while (isspace((unsigned char)*hex))
        hex++;
    uint8_t tmp[32];
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_value((unsigned char)hex[2 * i]);
        int lo = hi < 0 ? -1 : hex_value((unsigned char)hex[2 * i + 1]);
        if (lo < 0)
            return -1;
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    for (const char *rest = hex + 64; *rest; rest++)
        if (!isspace((unsigned char)*rest))
            return -1;
    memcpy(key, tmp, sizeof tmp);
    return 0;
}

void mav_key_from_passphrase(const char *passphrase, uint8_t key[32])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(passphrase), (const uint8_t *)passphrase);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, key);
}
