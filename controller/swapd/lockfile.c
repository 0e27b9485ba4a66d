/* The single-instance lock beside the database; see lockfile.h. */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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
