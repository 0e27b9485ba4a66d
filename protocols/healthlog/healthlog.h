/* The charge / flight log (CSV) that the simulator's packlog writes and swaphealth reads
 * (docs/battery-health.md): its header line and how a number is written in it. */
#ifndef SWAP_HEALTHLOG_H
#define SWAP_HEALTHLOG_H

#include <stddef.h>

/* The header line packlog writes (swaphealth accepts the columns in any order). */
#define HEALTHLOG_HEADER "time_s,voltage_V,current_A,temp_degC,pack_id,event,sensor,counter_mAh"

/* Writes the shortest decimal that reads back as exactly v (plain notation between 1e-4
 * and 1e15, exponents outside), or "-" when v is not finite. Returns buf. */
const char *healthlog_num(char *buf, size_t size, double v);

#endif
