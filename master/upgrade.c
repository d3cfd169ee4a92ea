/*
 * upgrade.c - hand the listening sockets to a new binary (see upgrade.h).
 *
 * The child side of upgrade_spawn() runs between fork and exec, so it only
 * makes async-signal-safe calls: fcntl, sigprocmask, execve, _exit. The
 * environment for the new binary is built before fork: a copy of environ
 * without any old MAGICD_INHERIT, plus the new one.
 *
 * Signal dispositions: the master's handlers are reset by exec anyway, but
 * its blocked mask is inherited, so the child unblocks everything first;
 * otherwise the new master would start deaf to the signals the old one had
 * blocked while it waited in sigsuspend/epoll.
 *
 * The new master validates what it inherits: a number that is not an open
 * listening socket (a stale variable, a wrapper that closed fds) is dropped
 * with the rest still used, so at worst it binds that address itself.
 */
#include "master/upgrade.h"

#include "core/handoff.h"
#include "core/sd_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

static char upgrade_path[PATH_MAX];

int upgrade_init(void)
{
    ssize_t n = readlink("/proc/self/exe", upgrade_path, sizeof(upgrade_path) - 1);

    if (n < 0) {
        upgrade_path[0] = '\0';
        return -1;
    }
    upgrade_path[n] = '\0';
    /* After the file is replaced the kernel appends " (deleted)" to the
     * link of a running process; we saved the name before that. */
    return 0;
}

const char *upgrade_self_path(void)
{
    return upgrade_path[0] ? upgrade_path : NULL;
}

int upgrade_format_env(const int *fds, int nfds, char *out, size_t outsz)
{
    size_t o = 0;

    if (outsz == 0)
        return -1;
    out[0] = '\0';
    for (int i = 0; i < nfds; i++) {
        int n = snprintf(out + o, outsz - o, "%d;", fds[i]);
        if (n < 0 || (size_t)n >= outsz - o)
            return -1;
        o += (size_t)n;
    }
    return 0;
}

int upgrade_parse_env(const char *s, int *fds, int max)
{
    int n = 0;

    while (*s) {
        long v = 0;
        const char *start = s;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (*s - '0');
            if (v > INT_MAX)
                return -1;
            s++;
        }
        if (s == start || (*s != ';' && *s != '\0'))
            return -1;
        if (*s == ';')
            s++;
        if (n == max)
            return -1;
        fds[n++] = (int)v;
    }
    return n;
}

static int upgrade_is_listener(int fd)
{
    int on = 0;
    socklen_t len = sizeof(on);

    if (fcntl(fd, F_GETFD) < 0)
        return 0;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0)
        return 0;
    return on != 0;
}

int upgrade_inherited(int *fds, int max, int chan[2])
{
    const char *e = getenv(UPGRADE_ENV);
    int got[UPGRADE_MAX_FDS];
    int n, k = 0;

    int nchan = 0;
    if (chan)
        chan[0] = chan[1] = -1;
    if (!e)
        return 0;
    n = upgrade_parse_env(e, got, UPGRADE_MAX_FDS);
    unsetenv(UPGRADE_ENV);
    if (n < 0)
        return -1;
    for (int i = 0; i < n && k < max; i++) {
        if (!upgrade_is_listener(got[i])) {
            if (chan && nchan < 2 && fcntl(got[i], F_GETFD) >= 0 && handoff_valid(got[i])) {
                fcntl(got[i], F_SETFD, FD_CLOEXEC);
                chan[nchan++] = got[i];
            }
            continue;
        }
        fcntl(got[i], F_SETFD, FD_CLOEXEC);
        fds[k++] = got[i];
    }
    return k;
}

static int upgrade_is_var(const char *entry, const char *name)
{
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* environ without MAGICD_INHERIT, plus `extra` and `notify` (when not
 * NULL); NULL-terminated, malloc'd. */
static char **upgrade_env(char *extra, char *notify)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ && environ[n])
        n++;
    env = calloc(n + 3, sizeof(*env));
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!upgrade_is_var(environ[i], UPGRADE_ENV) &&
            !upgrade_is_var(environ[i], "NOTIFY_SOCKET"))
            env[k++] = environ[i];
    env[k++] = extra;
    if (notify)
        env[k++] = notify;
    env[k] = NULL;
    return env;
}

pid_t upgrade_spawn(char *const argv[], const int *fds, int nfds)
{
    char var[sizeof(UPGRADE_ENV) + 1 + UPGRADE_MAX_FDS * 12];
    /* The path saved at startup, not argv[0]: argv[0] may be relative to a
     * directory the master has since left, or a name found through PATH. */
    const char *path = upgrade_self_path() ? upgrade_self_path() : argv[0];
    char **env;
    sigset_t all;
    pid_t pid;

    if (!path || !*path || nfds < 0 || nfds > UPGRADE_MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    memcpy(var, UPGRADE_ENV "=", sizeof(UPGRADE_ENV));
    if (upgrade_format_env(fds, nfds, var + sizeof(UPGRADE_ENV),
                           sizeof(var) - sizeof(UPGRADE_ENV)) < 0) {
        errno = E2BIG;
        return -1;
    }
    /* Under systemd the new master gets the notify socket back (the old one
     * removed it from the environment), so it can send MAINPID= and READY=1
     * and systemd follows it when the old master exits. */
    char notify[160];
    const char *sock = sd_notify_socket_path();
    if (sock)
        snprintf(notify, sizeof(notify), "NOTIFY_SOCKET=%s", sock);
    env = upgrade_env(var, sock ? notify : NULL);
    if (!env)
        return -1;
    pid = fork();
    if (pid == 0) {
        for (int i = 0; i < nfds; i++) {
            int fl = fcntl(fds[i], F_GETFD);
            if (fl >= 0)
                fcntl(fds[i], F_SETFD, fl & ~FD_CLOEXEC);
        }
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        execve(path, argv, env);
        _exit(127);
    }
    free(env);
    return pid;
}
