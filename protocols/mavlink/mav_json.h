/* JSON views of MAVLink frames and messages (jansson), driven by the message tables:
 * what mavdump prints and what the cross-check compares. Pure; no I/O. */
#ifndef SWAP_MAV_JSON_H
#define SWAP_MAV_JSON_H

#include <jansson.h>

#include "mavlink/mav.h"

/* Object with every field of a decoded message struct under its XML name: numbers,
 * arrays as JSON arrays, char[N] fields as strings (up to the first NUL; bytes above
 * 0x7F as the Latin-1 characters of the same code). NULL if out of memory. */
json_t *mav_json_fields(const struct mav_msg_info *info, const void *msg);

/* One frame: version, len, incompat_flags, compat_flags, seq, sysid, compid, msgid,
 * name, then "fields" (known message) or "payload" (hex, unknown message), and for a
 * signed frame signed/link_id/timestamp/signature. signature_ok is added when
 * sig_verified is 0 or 1 (pass -1 when no key was given). NULL if out of memory. */
json_t *mav_json_frame(const struct mav_frame *frame, int sig_verified);

/* Object of the parser's counters: frames_ok and one member per drop reason. */
json_t *mav_json_counters(const struct mav_parser *p);

#endif
