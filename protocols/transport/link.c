/* Drone-link transports; see link.h. */
#include "transport/link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

struct link {
    const struct link_backend *be;
    struct link_endpoint ep;
    int fd;
    int slave_fd;                 /* pty:new keeps its peer side open: see pty_new_open */
    struct sp_port *sp;
    struct sockaddr_in peer;
    bool have_peer;
    uint16_t local_port;
    /* UDP keeps the rest of a datagram the caller had no room for: the link is a byte
     * stream, and recvfrom() would otherwise drop what does not fit. */
    uint8_t *dgram;
    size_t dg_len, dg_off;
    char path[LINK_PATH_MAX];
    char describe[LINK_PATH_MAX + 32];
};

static void set_err(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t size, const char *fmt, ...)
{
    if (!err || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

/* ---- endpoint parsing ----------------------------------------------------------- */

static const struct {
    int baud;
    speed_t speed;
} bauds[] = {
    { 1200, B1200 },     { 2400, B2400 },     { 4800, B4800 },     { 9600, B9600 },
    { 19200, B19200 },   { 38400, B38400 },   { 57600, B57600 },   { 115200, B115200 },
    { 230400, B230400 }, { 460800, B460800 }, { 500000, B500000 }, { 921600, B921600 },
    { 1000000, B1000000 }, { 1500000, B1500000 }, { 2000000, B2000000 },
};

static bool baud_speed(int baud, speed_t *out)
{
    for (size_t i = 0; i < sizeof bauds / sizeof bauds[0]; i++)
        if (bauds[i].baud == baud) {
            *out = bauds[i].speed;
            return true;
        }
    return false;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_baud(const char *text, const char *s, int *baud, char *err, size_t err_size)
{
    unsigned long v;
    speed_t sp;
    if (parse_uint(text, 100000000UL, &v) != 0) {
        set_err(err, err_size, "endpoint '%s': baud rate '%s' is not a number", s, text);
        return -1;
    }
    if (!baud_speed((int)v, &sp)) {
        set_err(err, err_size, "endpoint '%s': unsupported baud rate %lu", s, v);
        return -1;
    }
    *baud = (int)v;
    return 0;
}

/* "PATH:BAUD" or, when baud is optional, "PATH". Device paths hold no ':' in practice,
 * so the last ':' separates the baud rate. */
static int parse_device(const char *s, const char *rest, bool baud_required,
                        struct link_endpoint *ep, char *err, size_t err_size)
{
    const char *colon = strrchr(rest, ':');
    size_t plen = colon ? (size_t)(colon - rest) : strlen(rest);
    if (plen == 0) {
        set_err(err, err_size, "endpoint '%s': missing device path", s);
        return -1;
    }
    if (plen >= sizeof ep->path) {
        set_err(err, err_size, "endpoint '%s': device path too long", s);
        return -1;
    }
    memcpy(ep->path, rest, plen);
    ep->path[plen] = '\0';
    ep->baud = 0;
    if (!colon || colon[1] == '\0') {
        if (baud_required) {
            set_err(err, err_size, "endpoint '%s': missing baud rate", s);
            return -1;
        }
        return 0;
    }
    return parse_baud(colon + 1, s, &ep->baud, err, err_size);
}

static int parse_hostport(const char *s, const char *rest, bool port0_ok,
                          struct link_endpoint *ep, char *err, size_t err_size)
{
    const char *colon = strrchr(rest, ':');
    if (!colon) {
        set_err(err, err_size, "endpoint '%s': missing port (expected HOST:PORT)", s);
        return -1;
    }
    size_t hlen = (size_t)(colon - rest);
    if (hlen == 0) {
        set_err(err, err_size, "endpoint '%s': missing host", s);
        return -1;
    }
    if (hlen >= sizeof ep->host) {
        set_err(err, err_size, "endpoint '%s': host name too long", s);
        return -1;
    }
    memcpy(ep->host, rest, hlen);
    ep->host[hlen] = '\0';
    unsigned long port;
    if (colon[1] == '\0') {
        set_err(err, err_size, "endpoint '%s': missing port", s);
        return -1;
    }
    if (parse_uint(colon + 1, 65535, &port) != 0 || (port == 0 && !port0_ok)) {
        set_err(err, err_size, "endpoint '%s': bad port '%s' (allowed: %s..65535)", s,
                colon + 1, port0_ok ? "0" : "1");
        return -1;
    }
    ep->port = (uint16_t)port;
    return 0;
}

int link_parse_endpoint(const char *s, struct link_endpoint *ep, char *err, size_t err_size)
{
    if (!s || !ep) {
        set_err(err, err_size, "endpoint: none given");
        return -1;
    }
    memset(ep, 0, sizeof *ep);
    const char *colon = strchr(s, ':');
    if (!colon) {
        set_err(err, err_size,
                "endpoint '%s': missing scheme (expected serial:, pty:, udp: or udpout:)", s);
        return -1;
    }
    size_t slen = (size_t)(colon - s);
    const char *rest = colon + 1;
    if (slen == 6 && strncmp(s, "serial", 6) == 0) {
        ep->kind = LINK_SERIAL;
        return parse_device(s, rest, true, ep, err, err_size);
    }
    if (slen == 3 && strncmp(s, "pty", 3) == 0) {
        if (strcmp(rest, "new") == 0 || strncmp(rest, "new:", 4) == 0) {
            ep->kind = LINK_PTY_NEW;
            snprintf(ep->path, sizeof ep->path, "new");
            if (rest[3] == ':')
                return parse_baud(rest + 4, s, &ep->baud, err, err_size);
            return 0;
        }
        ep->kind = LINK_PTY;
        if (parse_device(s, rest, false, ep, err, err_size) != 0)
            return -1;
        if (ep->path[0] != '/') {
            set_err(err, err_size, "endpoint '%s': pty path must be absolute or 'new'", s);
            return -1;
        }
        return 0;
    }
    if (slen == 3 && strncmp(s, "udp", 3) == 0) {
        ep->kind = LINK_UDP;
        return parse_hostport(s, rest, true, ep, err, err_size);
    }
    if (slen == 6 && strncmp(s, "udpout", 6) == 0) {
        ep->kind = LINK_UDPOUT;
        return parse_hostport(s, rest, false, ep, err, err_size);
    }
    set_err(err, err_size,
            "endpoint '%s': unknown scheme '%.*s' (expected serial:, pty:, udp: or udpout:)", s,
            (int)slen, s);
    return -1;
}

/* ---- termios (pty) backend --------------------------------------------------------- */

static int termios_raw(int fd, int baud, char *err, size_t err_size, const char *what)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        set_err(err, err_size, "%s: not a terminal: %s", what, strerror(errno));
        return -1;
    }
    cfmakeraw(&t);
    t.c_cflag |= CS8 | CLOCAL | CREAD;
    t.c_cflag &= ~(tcflag_t)CRTSCTS;
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    speed_t sp;
    if (baud > 0 && baud_speed(baud, &sp)) {
        cfsetispeed(&t, sp);
        cfsetospeed(&t, sp);
    }
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        set_err(err, err_size, "%s: cannot configure: %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

static int fd_read(int fd, uint8_t *buf, size_t size)
{
    ssize_t n = read(fd, buf, size);
    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return -1;
}

static ssize_t fd_write(int fd, const uint8_t *buf, size_t len)
{
    ssize_t n = write(fd, buf, len);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return -1;
}

static ssize_t pty_read(struct link *l, uint8_t *buf, size_t size)
{
    ssize_t n = fd_read(l->fd, buf, size);
    /* A pty master reads EIO while no process holds the other side open: that is an
     * absent peer, not a broken link. */
    if (n < 0 && errno == EIO && l->ep.kind == LINK_PTY_NEW)
        return 0;
    return n;
}

static ssize_t pty_write(struct link *l, const uint8_t *buf, size_t len)
{
    return fd_write(l->fd, buf, len);
}

static int generic_fd(const struct link *l) { return l->fd; }

static void fd_close(struct link *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->slave_fd >= 0)
        close(l->slave_fd);
    l->fd = l->slave_fd = -1;
}

static int pty_open(struct link *l, char *err, size_t err_size)
{
    struct stat st;
    if (stat(l->ep.path, &st) != 0) {
        set_err(err, err_size, "pty %s: %s", l->ep.path, strerror(errno));
        return -1;
    }
    if (!S_ISCHR(st.st_mode)) {
        set_err(err, err_size, "pty %s: not a character device", l->ep.path);
        return -1;
    }
    l->fd = open(l->ep.path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (l->fd < 0) {
        set_err(err, err_size, "pty %s: %s", l->ep.path, strerror(errno));
        return -1;
    }
    char what[LINK_PATH_MAX + 8];
    snprintf(what, sizeof what, "pty %s", l->ep.path);
    if (termios_raw(l->fd, l->ep.baud, err, err_size, what) != 0) {
        close(l->fd);
        l->fd = -1;
        return -1;
    }
    snprintf(l->path, sizeof l->path, "%s", l->ep.path);
    snprintf(l->describe, sizeof l->describe, "pty:%s", l->path);
    return 0;
}

int link_open_pty_pair(int *master_fd, int *slave_fd, char *slave_path, size_t path_size,
                       int baud, char *err, size_t err_size)
{
    int m, s;
    char name[LINK_PATH_MAX];
    if (openpty(&m, &s, name, NULL, NULL) != 0) {
        set_err(err, err_size, "openpty: %s", strerror(errno));
        return -1;
    }
    if (termios_raw(m, baud, err, err_size, "pty master") != 0 ||
        termios_raw(s, baud, err, err_size, "pty slave") != 0) {
        close(m);
        close(s);
        return -1;
    }
    int fl = fcntl(m, F_GETFL);
    fcntl(m, F_SETFL, fl | O_NONBLOCK);
    fcntl(m, F_SETFD, FD_CLOEXEC);
    fcntl(s, F_SETFD, FD_CLOEXEC);
    *master_fd = m;
    *slave_fd = s;
    if (slave_path)
        snprintf(slave_path, path_size, "%s", name);
    return 0;
}

/* The creator keeps the slave side open as well, so the master never sees EIO/hang-up
 * between one peer closing the pty and the next opening it. */
static int pty_new_open(struct link *l, char *err, size_t err_size)
{
    if (link_open_pty_pair(&l->fd, &l->slave_fd, l->path, sizeof l->path, l->ep.baud, err,
                           err_size) != 0)
        return -1;
    snprintf(l->describe, sizeof l->describe, "pty:%s", l->path);
    return 0;
}

static const struct link_backend pty_backend = {
    "pty", pty_open, pty_read, pty_write, generic_fd, fd_close,
};
static const struct link_backend pty_new_backend = {
    "pty", pty_new_open, pty_read, pty_write, generic_fd, fd_close,
};

/* ---- serial backend (libserialport) --------------------------------------------- */

/* libserialport knows only devices with a sysfs entry and modem lines; a pty has
 * neither, which its errors do not make obvious. */
static const char *pty_hint(const char *path)
{
    return strncmp(path, "/dev/pts/", 9) == 0 || strncmp(path, "/dev/ptmx", 9) == 0
               ? " (a pseudo-terminal: use pty:PATH)"
               : "";
}

static int serial_fail(struct link *l, char *err, size_t err_size, const char *what)
{
    char *msg = sp_last_error_message();
    set_err(err, err_size, "serial %s: %s: %s%s", l->ep.path, what, msg ? msg : "error",
            pty_hint(l->ep.path));
    if (msg)
        sp_free_error_message(msg);
    if (l->sp) {
        sp_close(l->sp);
        sp_free_port(l->sp);
        l->sp = NULL;
    }
    return -1;
}

static int serial_open(struct link *l, char *err, size_t err_size)
{
    if (sp_get_port_by_name(l->ep.path, &l->sp) != SP_OK) {
        l->sp = NULL;
        return serial_fail(l, err, err_size, "no such serial port");
    }
    if (sp_open(l->sp, SP_MODE_READ_WRITE) != SP_OK) {
        /* sp_open failed: the port is not open, only free it. */
        char *msg = sp_last_error_message();
        set_err(err, err_size, "serial %s: cannot open: %s%s", l->ep.path, msg ? msg : "error",
                pty_hint(l->ep.path));
        if (msg)
            sp_free_error_message(msg);
        sp_free_port(l->sp);
        l->sp = NULL;
        return -1;
    }
    if (sp_set_baudrate(l->sp, l->ep.baud) != SP_OK || sp_set_bits(l->sp, 8) != SP_OK ||
        sp_set_parity(l->sp, SP_PARITY_NONE) != SP_OK || sp_set_stopbits(l->sp, 1) != SP_OK ||
        sp_set_flowcontrol(l->sp, SP_FLOWCONTROL_NONE) != SP_OK)
        return serial_fail(l, err, err_size, "cannot configure 8N1");
    if (sp_get_port_handle(l->sp, &l->fd) != SP_OK)
        return serial_fail(l, err, err_size, "no descriptor");
    snprintf(l->path, sizeof l->path, "%s", l->ep.path);
    snprintf(l->describe, sizeof l->describe, "serial:%s:%d", l->path, l->ep.baud);
    return 0;
}

static ssize_t serial_read(struct link *l, uint8_t *buf, size_t size)
{
    enum sp_return r = sp_nonblocking_read(l->sp, buf, size);
    if (r < 0) {
        errno = EIO;
        return -1;
    }
    return (ssize_t)r;
}

static ssize_t serial_write(struct link *l, const uint8_t *buf, size_t len)
{
    enum sp_return r = sp_nonblocking_write(l->sp, buf, len);
    if (r < 0) {
        errno = EIO;
        return -1;
    }
    return (ssize_t)r;
}

static void serial_close(struct link *l)
{
    if (l->sp) {
        sp_close(l->sp);
        sp_free_port(l->sp);
    }
    l->sp = NULL;
    l->fd = -1;
}

static const struct link_backend serial_backend = {
    "serial", serial_open, serial_read, serial_write, generic_fd, serial_close,
};

/* ---- UDP backends ----------------------------------------------------------------- */

#define UDP_DGRAM_MAX 65536

static int resolve4(const char *host, uint16_t port, struct sockaddr_in *out, char *err,
                    size_t err_size)
{
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        set_err(err, err_size, "udp: cannot resolve '%s': %s", host,
                rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(out, res->ai_addr, sizeof *out);
    out->sin_port = htons(port);
    freeaddrinfo(res);
    return 0;
}

static int udp_socket(struct link *l, const struct sockaddr_in *bind_to, char *err,
                      size_t err_size)
{
    l->dgram = malloc(UDP_DGRAM_MAX);
    if (!l->dgram) {
        set_err(err, err_size, "udp: out of memory");
        return -1;
    }
    l->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        set_err(err, err_size, "udp: socket: %s", strerror(errno));
        return -1;
    }
    if (bind(l->fd, (const struct sockaddr *)bind_to, sizeof *bind_to) != 0) {
        set_err(err, err_size, "udp: cannot bind %s:%u: %s", l->ep.host,
                (unsigned)ntohs(bind_to->sin_port), strerror(errno));
        close(l->fd);
        l->fd = -1;
        return -1;
    }
    struct sockaddr_in local;
    socklen_t alen = sizeof local;
    getsockname(l->fd, (struct sockaddr *)&local, &alen);
    l->local_port = ntohs(local.sin_port);
    return 0;
}

static int udp_open(struct link *l, char *err, size_t err_size)
{
    struct sockaddr_in a;
    if (resolve4(l->ep.host, l->ep.port, &a, err, err_size) != 0)
        return -1;
    if (udp_socket(l, &a, err, err_size) != 0)
        return -1;
    snprintf(l->describe, sizeof l->describe, "udp:%s:%u", l->ep.host, (unsigned)l->local_port);
    return 0;
}

static int udpout_open(struct link *l, char *err, size_t err_size)
{
    if (resolve4(l->ep.host, l->ep.port, &l->peer, err, err_size) != 0)
        return -1;
    struct sockaddr_in any = { .sin_family = AF_INET };
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    if (udp_socket(l, &any, err, err_size) != 0)
        return -1;
    l->have_peer = true;
    snprintf(l->describe, sizeof l->describe, "udpout:%s:%u", l->ep.host, (unsigned)l->ep.port);
    return 0;
}

static ssize_t udp_read(struct link *l, uint8_t *buf, size_t size)
{
    if (l->dg_off < l->dg_len) {
        size_t n = l->dg_len - l->dg_off < size ? l->dg_len - l->dg_off : size;
        memcpy(buf, l->dgram + l->dg_off, n);
        l->dg_off += n;
        return (ssize_t)n;
    }
    struct sockaddr_in from;
    socklen_t alen = sizeof from;
    ssize_t n = recvfrom(l->fd, l->dgram, UDP_DGRAM_MAX, 0, (struct sockaddr *)&from, &alen);
    if (n < 0) {
        /* ECONNREFUSED: an earlier datagram found no listener; the link itself is fine. */
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNREFUSED)
            return 0;
        return -1;
    }
    if (l->ep.kind == LINK_UDP) {
        l->peer = from;
        l->have_peer = true;
    }
    l->dg_len = (size_t)n;
    l->dg_off = 0;
    if (n == 0)
        return 0;
    return udp_read(l, buf, size);
}

static ssize_t udp_write(struct link *l, const uint8_t *buf, size_t len)
{
    if (!l->have_peer)
        return (ssize_t)len; /* nobody has spoken yet: like a radio with no one listening */
    ssize_t n = sendto(l->fd, buf, len, 0, (const struct sockaddr *)&l->peer, sizeof l->peer);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        if (errno == ECONNREFUSED)
            return (ssize_t)len;
        return -1;
    }
    return n;
}

static const struct link_backend udp_backend = {
    "udp", udp_open, udp_read, udp_write, generic_fd, fd_close,
};
static const struct link_backend udpout_backend = {
    "udpout", udpout_open, udp_read, udp_write, generic_fd, fd_close,
};

/* ---- public API -------------------------------------------------------------------- */

struct link *link_open(const char *endpoint, char *err, size_t err_size)
{
    struct link_endpoint ep;
    if (link_parse_endpoint(endpoint, &ep, err, err_size) != 0)
        return NULL;
    struct link *l = calloc(1, sizeof *l);
    if (!l) {
        set_err(err, err_size, "endpoint '%s': out of memory", endpoint);
        return NULL;
    }
    l->ep = ep;
    l->fd = l->slave_fd = -1;
    switch (ep.kind) {
    case LINK_SERIAL: l->be = &serial_backend; break;
    case LINK_PTY: l->be = &pty_backend; break;
    case LINK_PTY_NEW: l->be = &pty_new_backend; break;
    case LINK_UDP: l->be = &udp_backend; break;
    case LINK_UDPOUT: l->be = &udpout_backend; break;
    default:
        free(l);
        set_err(err, err_size, "endpoint '%s': unknown kind", endpoint);
        return NULL;
    }
    if (l->be->open(l, err, err_size) != 0) {
        free(l->dgram);
        free(l);
        return NULL;
    }
    return l;
}

ssize_t link_read(struct link *l, uint8_t *buf, size_t size)
{
    if (!l || !buf) {
        errno = EINVAL;
        return -1;
    }
    return l->be->read(l, buf, size);
}

ssize_t link_write(struct link *l, const uint8_t *buf, size_t len)
{
    if (!l || (!buf && len)) {
        errno = EINVAL;
        return -1;
    }
    if (len == 0)
        return 0;
    return l->be->write(l, buf, len);
}

int link_write_all(struct link *l, const uint8_t *buf, size_t len, int timeout_ms)
{
    size_t done = 0;
    int waited_ms = 0;
    while (done < len) {
        ssize_t n = link_write(l, buf + done, len - done);
        if (n < 0)
            return -1;
        done += (size_t)n;
        if (done < len) {
            if (waited_ms >= timeout_ms) {
                errno = ETIMEDOUT;
                return -1;
            }
            struct pollfd p = { .fd = link_fd(l), .events = POLLOUT };
            poll(&p, 1, 5);
            waited_ms += 5;
        }
    }
    return 0;
}

int link_fd(const struct link *l) { return l ? l->be->fd(l) : -1; }
const char *link_name(const struct link *l) { return l ? l->be->name : ""; }
const char *link_describe(const struct link *l) { return l ? l->describe : ""; }
const char *link_path(const struct link *l) { return l ? l->path : ""; }
uint16_t link_local_port(const struct link *l) { return l ? l->local_port : 0; }

void link_close(struct link *l)
{
    if (!l)
        return;
    l->be->close(l);
    free(l->dgram);
    free(l);
}
