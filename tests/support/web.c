/* HTTP test helpers; see web.h. */
#include "web.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "proc.h"

int web_port_from_log(const char *log_path, pid_t pid, int timeout_ms)
{
    if (proc_wait_text(log_path, "http: listening on", pid, timeout_ms) != 0)
        return -1;
    FILE *f = fopen(log_path, "r");
    if (!f)
        return -1;
    char line[512];
    int port = -1;
    while (port < 0 && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "http: listening on http://");
        const char *colon = p ? strchr(p + 26, ']') : NULL;
        colon = p ? strchr(colon ? colon : p + 26, ':') : NULL;
        if (colon)
            port = atoi(colon + 1);
    }
    fclose(f);
    return port > 0 ? port : -1;
}

int web_connect(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int web_raw(int port, const char *request, size_t len, char **body, int timeout_ms)
{
    if (body)
        *body = NULL;
    int fd = web_connect(port, timeout_ms);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;  /* the server may answer (and close) before it read everything */
        off += (size_t)n;
    }
    size_t cap = 4096, have = 0;
    char *buf = malloc(cap);
    int rc = -1;
    for (;;) {
        if (have + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
        ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
        if (n == 0 || (n < 0 && have > 0)) {  /* closed (or reset after an answer) */
            rc = 0;
            break;
        }
        if (n < 0)
            break;
        have += (size_t)n;
    }
    close(fd);
    buf[have] = 0;
    int status = 0;
    if (rc == 0 && sscanf(buf, "HTTP/1.%*d %d", &status) == 1)
        rc = status;
    char *sep = strstr(buf, "\r\n\r\n");
    if (body && sep) {
        *body = strdup(sep + 4);
    }
    free(buf);
    return rc;
}

int web_request(int port, const char *method, const char *path, char **body, int timeout_ms)
{
    char req[2048];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n",
                     method, path, strcmp(method, "GET") && strcmp(method, "HEAD") ? "Content-Length: 0\r\n" : "");
    return web_raw(port, req, (size_t)n, body, timeout_ms);
}

/* Socket inodes of pid's open files. */
static int socket_inodes(pid_t pid, unsigned long *out, int max)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char p[320], target[128];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        ssize_t k = readlink(p, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = 0;
        unsigned long ino;
        if (sscanf(target, "socket:[%lu]", &ino) == 1)
            out[n++] = ino;
    }
    closedir(d);
    return n;
}

int web_listening_sockets(pid_t pid)
{
    unsigned long inodes[1024];
    int n = socket_inodes(pid, inodes, 1024);
    if (n < 0)
        return -1;
    int count = 0;
    const char *tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
    for (int t = 0; t < 2; t++) {
        FILE *f = fopen(tables[t], "r");
        if (!f)
            continue;
        char line[512];
        while (fgets(line, sizeof line, f)) {
            unsigned st;
            unsigned long ino;
            /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
            if (sscanf(line, " %*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &st, &ino) != 2 || st != 0x0A)
                continue;
            for (int i = 0; i < n; i++)
                if (inodes[i] == ino)
                    count++;
        }
        fclose(f);
    }
    return count;
}
