/* The single-instance lock beside the database; see lockfile.h. */
#include "lockfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "transport/link.h"

int swapd_lock_take(const char *db_path, char *err, size_t errsize)
{
    char path[512];
    if ((size_t)snprintf(path, sizeof path, "%s.lock", db_path) >= sizeof path) {
        snprintf(err, errsize, "%s: path too long for its lock file", db_path);
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errsize, "%s: cannot open the lock file: %s (does the database directory "
                 "exist and is it writable by this user?)", path, strerror(e));
        errno = e;
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            char text[32] = "";
            ssize_t n = pread(fd, text, sizeof text - 1, 0);
            text[n > 0 ? n : 0] = 0;
            long pid = strtol(text, NULL, 10);
            char who[48] = "";
            if (pid > 0)
                snprintf(who, sizeof who, " (pid %ld)", pid);
            snprintf(err, errsize, "another swapd%s already runs on %s (it holds %s); two "
                     "controllers would drive the same plant: stop that one first", who, db_path, path);
        } else {
            snprintf(err, errsize, "%s: cannot lock: %s", path, strerror(e));
        }
        close(fd);
        errno = e;
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* the lock holds regardless; the pid only makes the refusal message friendlier */
    }
    return fd;
}

int swapd_lock_endpoint(const char *what, const char *key, char *err, size_t errsize)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    /* sun_path[0] = 0: the abstract namespace, no file to leave behind */
    int n = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "swapd/%s/%s", what, key);
    if (n < 0 || (size_t)n >= sizeof sa.sun_path - 1)
        n = (int)sizeof sa.sun_path - 2;   /* a very long key: its first 100 bytes */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errsize, "cannot lock the %s %s: %s", what, key, strerror(e));
        errno = e;
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, len) == 0 && listen(fd, 1) == 0)
        return fd;
    int e = errno;
    close(fd);
    if (e != EADDRINUSE) {
        snprintf(err, errsize, "cannot lock the %s %s: %s", what, key, strerror(e));
        errno = e;
        return -1;
    }
    /* Who holds it: the listener's credentials, as the kernel recorded them. */
    char who[48] = "";
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, len) == 0 &&
        getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.pid > 0)
        snprintf(who, sizeof who, " (pid %ld)", (long)cred.pid);
    if (probe >= 0)
        close(probe);
    snprintf(err, errsize, "another swapd%s already drives the %s %s; two controllers must never "
             "share it: stop that one first", who, what, key);
    errno = EADDRINUSE;
    return -1;
}

int swapd_lock_plant(const char *host, int port, char *err, size_t errsize)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        /* A name that does not resolve now: lock it as written (the plant link retries it). */
        char key[300];
        snprintf(key, sizeof key, "%s:%d", host, port);
        return swapd_lock_endpoint("plant", key, err, errsize) < 0 ? -1 : 0;
    }
    int out = 0;
    for (struct addrinfo *a = res; a && out == 0; a = a->ai_next) {
        char addr[INET6_ADDRSTRLEN] = "", key[INET6_ADDRSTRLEN + 16];
        if (a->ai_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, addr, sizeof addr);
            snprintf(key, sizeof key, "%s:%d", addr, port);
        } else if (a->ai_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, addr, sizeof addr);
            snprintf(key, sizeof key, "[%s]:%d", addr, port);
        } else {
            continue;
        }
        /* getaddrinfo may list one address twice; this process's own lock is no conflict */
        bool dup = false;
        for (struct addrinfo *b = res; b != a; b = b->ai_next)
            dup = dup || (b->ai_addrlen == a->ai_addrlen && !memcmp(b->ai_addr, a->ai_addr, a->ai_addrlen));
        if (!dup && swapd_lock_endpoint("plant", key, err, errsize) < 0)
            out = -1;
    }
    int e = errno;
    freeaddrinfo(res);
    errno = e;
    return out;
}

int swapd_lock_drone_link(const char *endpoint, char *err, size_t errsize)
{
    struct link_endpoint ep;
    char perr[LINK_ERR_MAX];
    if (link_parse_endpoint(endpoint, &ep, perr, sizeof perr) != 0)
        return swapd_lock_endpoint("drone link", endpoint, err, errsize) < 0 ? -1 : 0;
    char key[PATH_MAX + 16];
    switch (ep.kind) {
    case LINK_PTY_NEW:
        return 0;   /* a pseudo-terminal of its own: nobody else can hold it */
    case LINK_SERIAL:
    case LINK_PTY: {
        /* the device itself, whatever name or symlink leads to it, at any speed */
        char real[PATH_MAX];
        snprintf(key, sizeof key, "tty:%s", realpath(ep.path, real) ? real : ep.path);
        break;
    }
    case LINK_UDP:
    case LINK_UDPOUT: {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *res = NULL;
        char addr[INET6_ADDRSTRLEN] = "";
        if (getaddrinfo(ep.host, NULL, &hints, &res) == 0 && res) {
            if (res->ai_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
            else if (res->ai_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, addr, sizeof addr);
        }
        if (res)
            freeaddrinfo(res);
        snprintf(key, sizeof key, "%s:%s:%u", ep.kind == LINK_UDP ? "udp" : "udpout", addr[0] ? addr : ep.host,
                 (unsigned)ep.port);
        break;
    }
    default:
        snprintf(key, sizeof key, "%s", endpoint);
        break;
    }
    return swapd_lock_endpoint("drone link", key, err, errsize) < 0 ? -1 : 0;
}
