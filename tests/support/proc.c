/* Test support for real processes; see proc.h. */
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long proc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void proc_nap_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

pid_t proc_spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, 0);
        close(devnull);
    }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

bool proc_alive(pid_t pid)
{
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    return r == 0;
}

int proc_kill_wait(pid_t pid, int sig)
{
    int status = 0;
    kill(pid, sig);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

int proc_stop(pid_t pid, int timeout_ms)
{
    int status = 0;
    if (kill(pid, SIGTERM) != 0)
        return waitpid(pid, &status, WNOHANG) > 0 ? status : -1;
    long long end = proc_now_ms() + timeout_ms;
    int delay = 1;
    while (proc_now_ms() < end) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return status;
        proc_nap_ms(delay);
        if (delay < 50)
            delay *= 2;
    }
    return proc_kill_wait(pid, SIGKILL);
}

typedef bool (*probe_fn)(const void *arg, void *out);

static int wait_for(probe_fn probe, const void *arg, void *out, pid_t pid, int timeout_ms)
{
    long long end = proc_now_ms() + timeout_ms;
    int delay = 1;
    for (;;) {
        if (probe(arg, out))
            return 0;
        if (pid > 0 && !proc_alive(pid))
            return -2;
        if (proc_now_ms() >= end)
            return -1;
        proc_nap_ms(delay);
        if (delay < 50)
            delay *= 2;
    }
}

static bool probe_tcp(const void *arg, void *out)
{
    (void)out;
    int port = *(const int *)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int proc_wait_tcp(int port, pid_t pid, int timeout_ms) { return wait_for(probe_tcp, &port, NULL, pid, timeout_ms); }

static bool probe_path(const void *arg, void *out)
{
    (void)out;
    struct stat st;
    return stat(arg, &st) == 0;
}

int proc_wait_path(const char *path, pid_t pid, int timeout_ms) { return wait_for(probe_path, path, NULL, pid, timeout_ms); }

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = 0;
    return buf;
}

struct text_arg {
    const char *path, *needle;
};

static bool probe_text(const void *arg, void *out)
{
    (void)out;
    const struct text_arg *t = arg;
    char *s = slurp(t->path);
    bool ok = s && strstr(s, t->needle);
    free(s);
    return ok;
}

int proc_wait_text(const char *path, const char *needle, pid_t pid, int timeout_ms)
{
    struct text_arg t = { path, needle };
    return wait_for(probe_text, &t, NULL, pid, timeout_ms);
}

static bool probe_number(const void *arg, void *out)
{
    char *s = slurp(arg);
    bool ok = false;
    if (s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end != s && (*end == '\n' || *end == 0)) {
            *(long *)out = v;
            ok = true;
        }
    }
    free(s);
    return ok;
}

int proc_wait_number(const char *path, long *value, pid_t pid, int timeout_ms)
{
    return wait_for(probe_number, path, value, pid, timeout_ms);
}

int proc_mkdtemp(char *out, size_t size, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, size, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    return mkdtemp(out) ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void proc_rmtree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static const char *join(const char *env, const char *fallback, const char *name, char *buf, size_t size)
{
    const char *dir = getenv(env);
    snprintf(buf, size, "%s/%s", dir && *dir ? dir : fallback, name);
    return buf;
}

const char *proc_bin(const char *name, char *buf, size_t size) { return join("SWAP_BIN", "build/bin", name, buf, size); }

const char *proc_config(const char *name, char *buf, size_t size) { return join("SWAP_CONFIGS", "configs", name, buf, size); }
