/* The status page's files, built into swapd (www.c): the page works on a station that
 * has only the binary, and a request can only ever name one of these. */
#ifndef SWAP_HTTPD_WWW_H
#define SWAP_HTTPD_WWW_H

#include <stddef.h>

struct httpd_www_file {
    const char *name;            /* as requested, without the leading '/' */
    const char *mime;
    const unsigned char *data, *end;   /* the bytes are [data, end) */
};

extern const struct httpd_www_file httpd_www_files[];
extern const size_t httpd_www_n_files;

#endif
