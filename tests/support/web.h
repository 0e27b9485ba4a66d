/* Test support for swapd's HTTP endpoint: the port it bound (from its log), a minimal
 * HTTP/1.1 client over a plain socket (so tests can also send what no library would:
 * partial headers, huge headers, raw paths), and the TCP ports a process listens on. */
#ifndef SWAP_TEST_WEB_H
#define SWAP_TEST_WEB_H

#include <stddef.h>
#include <sys/types.h>

/* Waits until the swapd log names its HTTP port; the port, or -1. */
int web_port_from_log(const char *log_path, pid_t pid, int timeout_ms);

/* A loopback TCP connection to port (blocking, with send/receive timeouts), or -1. */
int web_connect(int port, int timeout_ms);

/* Sends request (raw bytes) and reads the whole answer until the server closes.
 * Returns the HTTP status, 0 when the server closed without a status line, -1 on a
 * socket error or timeout; *body (malloc'd, NUL-terminated; may be NULL) gets what
 * followed the headers. */
int web_raw(int port, const char *request, size_t len, char **body, int timeout_ms);

/* method path with "Connection: close"; as web_raw. */
int web_request(int port, const char *method, const char *path, char **body, int timeout_ms);

/* Number of TCP sockets in LISTEN state that process pid holds (IPv4 and IPv6), or -1. */
int web_listening_sockets(pid_t pid);

#endif
