/* Byte transports for the drone link: a real serial device (libserialport), a
 * pseudo-terminal (plain termios, because libserialport cannot open ptys) and UDP.
 * Every backend implements the same small set of operations behind struct link_backend,
 * so the station and the drone simulator never care which one carries their frames.
 *
 * Endpoint strings (parsed by link_parse_endpoint):
 *   serial:/dev/ttyUSB0:57600   a serial device at a baud rate, 8N1, no flow control
 *   pty:/dev/pts/5[:115200]     an existing pseudo-terminal (e.g. one side of a socat pair)
 *   pty:new[:115200]            create a pty pair with openpty(); link_path() names the
 *                               side a peer opens
 *   udp:HOST:PORT               listen on HOST:PORT, send to the last peer heard from
 *   udpout:HOST:PORT            send to HOST:PORT from an ephemeral port, hear replies
 * HOST is an IPv4 address or a name resolving to one. PORT 0 (udp: only) picks a free
 * port; link_local_port() reports it.
 *
 * All I/O is non-blocking: the caller polls link_fd() and then reads and writes.
 */
#ifndef SWAP_LINK_H
#define SWAP_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LINK_ERR_MAX 256
#define LINK_PATH_MAX 256
#define LINK_HOST_MAX 128

enum link_kind { LINK_SERIAL, LINK_PTY, LINK_PTY_NEW, LINK_UDP, LINK_UDPOUT };

struct link_endpoint {
    enum link_kind kind;
    char path[LINK_PATH_MAX];  /* serial / pty device */
    int baud;                  /* serial / pty; 0 for a pty means "leave the speed" */
    char host[LINK_HOST_MAX];  /* udp / udpout */
    uint16_t port;
};

struct link;

/* One transport implementation. read and write never block: read returns the number of
 * bytes read, 0 when nothing is waiting, -1 on a hard error (errno set); write returns
 * the bytes accepted (possibly fewer than len, 0 when the device is full), -1 on error. */
struct link_backend {
    const char *name;
    int (*open)(struct link *l, char *err, size_t err_size);
    ssize_t (*read)(struct link *l, uint8_t *buf, size_t size);
    ssize_t (*write)(struct link *l, const uint8_t *buf, size_t len);
    int (*fd)(const struct link *l);
    void (*close)(struct link *l);
};

/* Parses an endpoint string. Returns 0, or -1 with a message such as
 * "endpoint 'serial:/dev/ttyUSB0': missing baud rate" in err (ep then undefined). */
int link_parse_endpoint(const char *s, struct link_endpoint *ep, char *err, size_t err_size);

/* Parses and opens an endpoint. Returns a new link, or NULL with the reason in err
 * (parse error, device missing, permission, address in use, ...). */
struct link *link_open(const char *endpoint, char *err, size_t err_size);

/* Non-blocking I/O; see struct link_backend for the return values. */
ssize_t link_read(struct link *l, uint8_t *buf, size_t size);
ssize_t link_write(struct link *l, const uint8_t *buf, size_t len);

/* Writes all of buf, waiting up to timeout_ms for the device to drain when it is full.
 * Returns 0, or -1 (errno ETIMEDOUT when the time ran out, else the write error). */
int link_write_all(struct link *l, const uint8_t *buf, size_t len, int timeout_ms);

/* The descriptor to poll() for input (POLLIN). */
int link_fd(const struct link *l);
/* Backend name: "serial", "pty", "udp" or "udpout". */
const char *link_name(const struct link *l);
/* The endpoint as opened, e.g. "pty:/dev/pts/7" (for pty:new the path a peer opens). */
const char *link_describe(const struct link *l);
/* For pty:new: the path of the pseudo-terminal a peer opens; otherwise the device path,
 * or "" for UDP. */
const char *link_path(const struct link *l);
/* For UDP: the local port bound (useful after port 0); 0 otherwise. */
uint16_t link_local_port(const struct link *l);
/* Closes the link and frees it; NULL is allowed. */
void link_close(struct link *l);

/* Creates a pseudo-terminal pair with openpty(), both sides raw (cfmakeraw) at baud
 * (0: unchanged). *master_fd is non-blocking. Returns 0, or -1 with err set. */
int link_open_pty_pair(int *master_fd, int *slave_fd, char *slave_path, size_t path_size,
                       int baud, char *err, size_t err_size);

#endif
