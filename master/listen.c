/*
 * listen.c - listening sockets (see listen.h).
 *
 * The master opens every listening socket before forking, so workers share
 * one accept queue per address (and wake one at a time via EPOLLEXCLUSIVE),
 * a worker crash loses nothing queued, and a reload keeps the same sockets:
 * no connection is ever refused because the port was briefly closed.
 * Host names are resolved with getaddrinfo at start (and reload) only.
 */
#include "master/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int resolve(const conf_addr_t *a, struct sockaddr_storage *ss, socklen_t *sl, char *err,
                   size_t errsz)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    const char *host = (!strcmp(a->host, "*") || !a->host[0]) ? NULL : a->host;
    if (!host)
        hints.ai_family = AF_INET;
    struct addrinfo *res;
    int r = getaddrinfo(host, a->port, &hints, &res);
    if (r != 0) {
        snprintf(err, errsz, "cannot resolve \"%s\": %s", a->host, gai_strerror(r));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void listen_addr_str(const conf_addr_t *a, char *out, size_t n)
{
    snprintf(out, n, strchr(a->host, ':') ? "[%s]:%s" : "%s:%s", a->host, a->port);
}

int listen_open(const conf_addr_t *a, const char *directive, int backlog, char *err, size_t errsz)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char name[300];
    listen_addr_str(a, name, sizeof name);
    if (resolve(a, &ss, &sl, err, errsz) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errsz, "socket() for %s failed: %s", name, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        /* Which directive, and what to do: the bare errno named neither. */
        int e = errno;
        snprintf(err, errsz, "bind() to %s (%s) failed: %s%s%s", name, directive, strerror(e),
                 e == EADDRINUSE ? "; another program, or another magicd, listens there: stop "
                                   "it or name another address in "
                 : e == EACCES
                     ? "; a port below 1024 needs root or CAP_NET_BIND_SERVICE (the systemd "
                       "unit grants it), or name a higher port in "
                     : "",
                 e == EADDRINUSE || e == EACCES ? directive : "");
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        snprintf(err, errsz, "listen() on %s failed: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int listen_matches(int fd, const conf_addr_t *a)
{
    struct sockaddr_storage want, have;
    socklen_t wl, hl = sizeof have;
    char err[256];
    if (resolve(a, &want, &wl, err, sizeof err) < 0)
        return 0;
    if (getsockname(fd, (struct sockaddr *)&have, &hl) < 0 || have.ss_family != want.ss_family)
        return 0;
    if (want.ss_family == AF_INET) {
        struct sockaddr_in *w = (void *)&want, *h = (void *)&have;
        return w->sin_port == h->sin_port && w->sin_addr.s_addr == h->sin_addr.s_addr;
    }
    if (want.ss_family == AF_INET6) {
        struct sockaddr_in6 *w = (void *)&want, *h = (void *)&have;
        return w->sin6_port == h->sin6_port &&
               !memcmp(&w->sin6_addr, &h->sin6_addr, sizeof w->sin6_addr);
    }
    return 0;
}

int listen_is_loopback(const conf_addr_t *a)
{
    if (!strcmp(a->host, "localhost") || !strcmp(a->host, "::1"))
        return 1;
    struct in_addr in;
    if (inet_pton(AF_INET, a->host, &in) == 1)
        return (ntohl(in.s_addr) >> 24) == 127;
    return 0;
}
