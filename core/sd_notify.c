/*
 * sd_notify.c - a dependency-free client of systemd's notification socket.
 *
 * The protocol is small: each message is one AF_UNIX datagram of
 * newline-separated VAR=VALUE assignments sent to the socket named by
 * NOTIFY_SOCKET. A leading '@' means an abstract socket (the '@' becomes a
 * NUL byte in sun_path). We keep one unconnected SOCK_DGRAM socket with
 * CLOEXEC for the life of the master and sendto() the address each time, so
 * nothing needs reconnecting after systemd restarts its manager.
 *
 * Sending is non-blocking (MSG_DONTWAIT): the master's loop must never wait
 * on systemd. A lost STATUS line is harmless; READY/STOPPING are sent when
 * the socket buffer is empty in practice.
 *
 * WATCHDOG_PID, when present, names the process the watchdog applies to; if
 * it is not us (e.g. we were started by a wrapper) the watchdog is ignored,
 * as sd_watchdog_enabled() does.
 */
#include "core/sd_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int sd_fd = -1;
static struct sockaddr_un sd_addr;
static socklen_t sd_addrlen;
static uint64_t sd_wd_usec;
static char sd_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

static int sd_parse_addr(const char *e)
{
    size_t n = strlen(e);

    if (n < 2 || n >= sizeof(sd_addr.sun_path) || (e[0] != '/' && e[0] != '@')) {
        errno = EINVAL;
        return -1;
    }
    memset(&sd_addr, 0, sizeof(sd_addr));
    sd_addr.sun_family = AF_UNIX;
    memcpy(sd_addr.sun_path, e, n);
    memcpy(sd_path, e, n + 1);
    if (e[0] == '@') {
        /* Abstract: the length counts exactly the name, no trailing NUL. */
        sd_addr.sun_path[0] = '\0';
        sd_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        sd_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

static void sd_read_watchdog(void)
{
    const char *us = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    char *end;
    unsigned long long v;

    sd_wd_usec = 0;
    if (!us)
        return;
    errno = 0;
    v = strtoull(us, &end, 10);
    if (errno || *end || v == 0)
        return;
    if (pid) {
        long p = strtol(pid, &end, 10);
        if (*end || p != (long)getpid())
            return;
    }
    sd_wd_usec = v;
}

int sd_notify_init(void)
{
    const char *e = getenv("NOTIFY_SOCKET");
    int rc = 0;

    sd_read_watchdog();
    sd_path[0] = '\0';
    if (sd_fd >= 0) {
        close(sd_fd);
        sd_fd = -1;
    }
    if (e && *e) {
        if (sd_parse_addr(e) < 0) {
            rc = -1;
        } else {
            sd_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            rc = sd_fd < 0 ? -1 : 1;
        }
    }
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    return rc;
}

int sd_notifyf(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int n;

    if (sd_fd < 0)
        return 0;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    for (;;) {
        ssize_t w = sendto(sd_fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
                           (struct sockaddr *)&sd_addr, sd_addrlen);
        if (w >= 0)
            return 1;
        if (errno != EINTR)
            return -1;
    }
}

uint64_t sd_watchdog_usec(void)
{
    return sd_wd_usec;
}

const char *sd_notify_socket_path(void)
{
    return sd_fd >= 0 && sd_path[0] ? sd_path : NULL;
}

int sd_notify_ready(void)
{
    return sd_notifyf("READY=1");
}

int sd_notify_reloading(void)
{
    struct timespec ts;
    unsigned long long us;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    us = (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000ull;
    return sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu", us);
}

int sd_notify_stopping(void)
{
    return sd_notifyf("STOPPING=1");
}

int sd_notify_watchdog(void)
{
    return sd_notifyf("WATCHDOG=1");
}

int sd_notify_status(int workers, long conns, double rps)
{
    return sd_notifyf("STATUS=%d workers, %ld connections, %.1f requests/s", workers, conns, rps);
}

int sd_notify_mainpid(long pid)
{
    return sd_notifyf("MAINPID=%ld", pid);
}
