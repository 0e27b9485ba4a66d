/* Small helpers both ends of the drone link need around the MAVLink codec: signing
 * time from the Unix clock, the fixed-size char[N] message fields, and signing keys
 * from configuration text. Pure functions; no clock reads. */
#ifndef SWAP_MAV_UTIL_H
#define SWAP_MAV_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Unix time 2015-01-01 00:00:00 UTC, the signing epoch, in microseconds. */
#define MAV_SIGN_EPOCH_UNIX_US 1420070400000000ULL

/* Signing timestamp (10 us units since 2015-01-01) for a Unix time in microseconds;
 * 0 for a time before the signing epoch. */
uint64_t mav_unix_us_to_timestamp(uint64_t unix_us);
/* The inverse: Unix microseconds for a signing timestamp. */
uint64_t mav_timestamp_to_unix_us(uint64_t timestamp);

/* Stores the C string src in the char[n] field dst: truncated to n bytes, the rest
 * zero-filled (no terminator when all n bytes are used, as MAVLink sends it). Returns
 * the number of bytes of src stored. */
size_t mav_str_put(char *dst, size_t n, const char *src);
/* Copies the char[n] field src into the C string dst (size dst_size, always
 * terminated); stops at the first NUL. Returns the length copied. */
size_t mav_str_get(char *dst, size_t dst_size, const char *src, size_t n);

/* Parses a 32-byte signing key written as exactly 64 hex digits (either case; leading
 * and trailing blanks allowed). Returns 0, or -1 (key unchanged) for anything else. */
int mav_key_from_hex(const char *hex, uint8_t key[32]);
/* Derives a key from a passphrase as SHA-256(passphrase), the common ground-station
 * convention, so keys can be typed in by people. */
void mav_key_from_passphrase(const char *passphrase, uint8_t key[32]);

#endif
