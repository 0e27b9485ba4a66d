/* The [control] configuration section and command authorisation; see ctlsock.h. */
#include "ctlsock/ctlsock.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

const struct cfg_key ctlsock_cfg_keys[] = {
    CFG_S("control", "path", struct ctlsock_cfg, path, CTLSOCK_DEFAULT_PATH,
          "Unix socket swapctl connects to"),
    CFG_S("control", "mode", struct ctlsock_cfg, mode, "0660",
          "socket permissions (octal); who may connect at all, and so read"),
    CFG_S("control", "group", struct ctlsock_cfg, group, "",
          "group owning the socket (empty: the daemon's group)"),
    CFG_S("control", "users", struct ctlsock_cfg, users, "root",
          "users allowed to send commands: comma-separated names or uids"),
    CFG_S("control", "groups", struct ctlsock_cfg, groups, "",
          "groups whose members may send commands: comma-separated names or gids"),
    CFG_I("control", "max_clients", struct ctlsock_cfg, max_clients, 1, 256, "16", "",
          "connections served at once; more are turned away"),
    CFG_I("control", "reserved", struct ctlsock_cfg, reserved, 0, 255, "4", "",
          "of max_clients, places kept for users allowed to command (users, groups); users "
          "who may only read share the others, so they cannot lock an operator out"),
    CFG_I("control", "max_per_user", struct ctlsock_cfg, max_per_user, 0, 256, "8", "",
          "connections one user may hold at once, so that one user cannot lock the others "
          "out; never more than max_clients - 1 (0: that many)"),
    CFG_I("control", "idle_timeout_s", struct ctlsock_cfg, idle_timeout_s, 0, 86400, "60", "s",
          "a connection that sends no request for this long is closed (0: never); one "
          "following events is not idle"),
    CFG_I("control", "max_line", struct ctlsock_cfg, max_line, 64, 65536, "4096", "bytes",
          "longest request line; a longer one gets an error and the connection is closed"),
    CFG_I("control", "queue_kib", struct ctlsock_cfg, queue_kib, 4, 65536, "1024", "KiB",
          "unsent output per client before it is dropped as not reading"),
};
const size_t ctlsock_n_cfg_keys = sizeof ctlsock_cfg_keys / sizeof ctlsock_cfg_keys[0];

int ctlsock_parse_mode(const char *text, unsigned *mode)
{
    if (!text || !text[0] || strlen(text) > 4)
        return -1;
    unsigned m = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '7')
            return -1;
        m = m * 8 + (unsigned)(*p - '0');
    }
    if (m > 0777)
        return -1;
    *mode = m;
    return 0;
}

int ctlsock_cfg_check(const struct ctlsock_cfg *cfg, char *err, size_t errsize)
{
    unsigned mode;
    if (ctlsock_parse_mode(cfg->mode, &mode) < 0) {
        snprintf(err, errsize, "[control] mode \"%.8s\" is not an octal mode 0..0777", cfg->mode);
        return -1;
    }
    if (!cfg->path[0] || strlen(cfg->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(err, errsize, "[control] path must be 1..%zu bytes (a Unix socket address)",
                 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return -1;
    }
    if (cfg->reserved >= cfg->max_clients) {
        snprintf(err, errsize, "[control] reserved (%d) must be below max_clients (%d): users who "
                 "may only read need a place too", cfg->reserved, cfg->max_clients);
        return -1;
    }
    if (cfg->group[0] && !getgrnam(cfg->group)) {
        snprintf(err, errsize, "[control] group \"%.64s\": no such group on this system; create "
                 "it (groupadd) or change the setting", cfg->group);
        return -1;
    }
    return 0;
}

/* Calls fn on each trimmed, non-empty entry of a comma-separated list. */
static int each_entry(const char *list, int (*fn)(struct ctlsock_auth *, const char *, char *, size_t),
                      struct ctlsock_auth *auth, char *err, size_t errsize)
{
    const char *p = list ? list : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[256];
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len >= sizeof name) {
            snprintf(err, errsize, "[control] entry \"%.40s...\" is too long", p);
            return -1;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        if (len && fn(auth, name, err, errsize) < 0)
            return -1;
        p += (end ? (size_t)(end - p) + 1 : strlen(p));
        if (!end)
            break;
    }
    return 0;
}

static bool is_number(const char *s, unsigned long *value)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    *value = strtoul(s, &end, 10);
    return !*end && !errno && *value < (unsigned long)(uid_t)-1;
}

static int add_user(struct ctlsock_auth *auth, const char *name, char *err, size_t errsize)
{
    unsigned long id;
    if (auth->n_uids >= CTLSOCK_AUTH_MAX) {
        snprintf(err, errsize, "[control] users: more than %d entries", CTLSOCK_AUTH_MAX);
        return -1;
    }
    if (is_number(name, &id)) {
        auth->uids[auth->n_uids++] = (uid_t)id;
        return 0;
    }
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        snprintf(err, errsize, "[control] users: no user \"%s\" on this system; create it or "
                 "remove it from the list", name);
        return -1;
    }
    auth->uids[auth->n_uids++] = pw->pw_uid;
    return 0;
}

static int add_group(struct ctlsock_auth *auth, const char *name, char *err, size_t errsize)
{
    unsigned long id;
    if (auth->n_gids >= CTLSOCK_AUTH_MAX) {
        snprintf(err, errsize, "[control] groups: more than %d entries", CTLSOCK_AUTH_MAX);
        return -1;
    }
    if (is_number(name, &id)) {
        auth->gids[auth->n_gids++] = (gid_t)id;
        return 0;
    }
    struct group *gr = getgrnam(name);
    if (!gr) {
        snprintf(err, errsize, "[control] groups: no group \"%s\" on this system; create it "
                 "or remove it from the list", name);
        return -1;
    }
    auth->gids[auth->n_gids++] = gr->gr_gid;
    return 0;
}

int ctlsock_auth_init(struct ctlsock_auth *auth, const char *users, const char *groups,
                      char *err, size_t errsize)
{
    memset(auth, 0, sizeof *auth);
    if (each_entry(users, add_user, auth, err, errsize) < 0 ||
        each_entry(groups, add_group, auth, err, errsize) < 0)
        return -1;
    return 0;
}

static bool gid_listed(const struct ctlsock_auth *auth, gid_t g)
{
    for (int i = 0; i < auth->n_gids; i++)
        if (auth->gids[i] == g)
            return true;
    return false;
}

bool ctlsock_auth_permits(const struct ctlsock_auth *auth, const struct ctlsock_peer *peer)
{
    if (!auth || !peer || peer->uid == (uid_t)-1)
        return false;
    for (int i = 0; i < auth->n_uids; i++)
        if (auth->uids[i] == peer->uid)
            return true;
    if (gid_listed(auth, peer->gid))
        return true;
    for (int i = 0; i < peer->n_groups && i < CTLSOCK_MAX_GROUPS; i++)
        if (gid_listed(auth, peer->groups[i]))
            return true;
    return false;
}
