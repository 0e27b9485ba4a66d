/* The single-instance lock beside the database; see lockfile.h. */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
