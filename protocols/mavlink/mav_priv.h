/* Internal to the MAVLink codec: helpers shared by its source files. Not for callers. */
#ifndef SWAP_MAV_PRIV_H
#define SWAP_MAV_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "mavlink/mav.h"

/* Writes the first 48 bits of SHA-256(key + bytes[0..n)) to out; bytes is a whole
 * frame up to and including the signature's link id and timestamp. */
void mav_sign_bytes(const uint8_t key[32], const uint8_t *bytes, size_t n, uint8_t out[6]);

/* Lookup tables for mav_crc_buf() (mav_crc_table.c). */
extern const uint16_t mav_crc_tables[8][256];

#endif
