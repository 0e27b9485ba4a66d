/* The status page's files, embedded at build time with the assembler's .incbin (no
 * generator step, no copy of the files in the tree); module.mk makes this object depend
 * on them, so editing a file rebuilds it. */
#include "www.h"

#define WWW_EMBED(sym, file)                                                       \
    __asm__(".section .rodata\n.balign 16\n.global " #sym "\n" #sym ":\n"          \
            ".incbin \"controller/httpd/www/" file "\"\n.global " #sym "_end\n" #sym \
            "_end:\n.byte 0\n.previous\n");                                          \
    extern const unsigned char sym[], sym##_end[];

WWW_EMBED(httpd_www_index_html, "index.html")
WWW_EMBED(httpd_www_style_css, "style.css")
WWW_EMBED(httpd_www_app_js, "app.js")

const struct httpd_www_file httpd_www_files[] = {
    { "index.html", "text/html; charset=utf-8", httpd_www_index_html, httpd_www_index_html_end },
    { "style.css", "text/css; charset=utf-8", httpd_www_style_css, httpd_www_style_css_end },
    { "app.js", "text/javascript; charset=utf-8", httpd_www_app_js, httpd_www_app_js_end },
};
const size_t httpd_www_n_files = sizeof httpd_www_files / sizeof httpd_www_files[0];
