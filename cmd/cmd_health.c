/*
 * cmd_health.c - `magicd health` (see cmd_health.h).
 *
 * A tiny blocking HTTP/1.1 client with one overall deadline, used by the
 * container HEALTHCHECK and by operators. It connects to the first `listen`
 * address (a wildcard address is reached through loopback), sends GET
 * /healthz and wants a 200 status line before the deadline. Every failure
 * says why: refused, timed out, wrong status.
 */
#include "cmd/cmd_health.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"

static int remaining(uint64_t deadline)
{
    uint64_t now = clock_mono_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

static int wait_fd(int fd, short ev, uint64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int r;
    do
        r = poll(&p, 1, remaining(deadline));
    while (r < 0 && errno == EINTR);
    return r;
}

static int parse_url(const char *url, char *host, size_t hn, char *port, size_t pn)
{
    const char *p = url;
    if (!strncmp(p, "http://", 7))
        p += 7;
    const char *end = p + strcspn(p, "/");
    conf_addr_t a;
    char hp[300];
    if ((size_t)(end - p) >= sizeof hp)
        return -1;
    memcpy(hp, p, (size_t)(end - p));
    hp[end - p] = 0;
    if (conf_parse_addr(hp, &a) < 0)
        return -1;
    snprintf(host, hn, "%s", a.host);
    snprintf(port, pn, "%s", a.port);
    return 0;
}

int cmd_health(const conf_t *c, const char *url, int timeout_ms)
{
    char host[256], port[16];
    if (url) {
        if (parse_url(url, host, sizeof host, port, sizeof port) < 0) {
            fprintf(stderr, "magicd health: bad address \"%s\" (want http://HOST:PORT)\n", url);
            return 1;
        }
    } else {
        snprintf(host, sizeof host, "%s", c->http.listen[0].host);
        snprintf(port, sizeof port, "%s", c->http.listen[0].port);
    }
    if (!strcmp(host, "*") || !strcmp(host, "0.0.0.0"))
        snprintf(host, sizeof host, "127.0.0.1");
    else if (!strcmp(host, "::"))
        snprintf(host, sizeof host, "::1");

    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r != 0) {
        fprintf(stderr, "magicd health: cannot resolve %s: %s\n", host, gai_strerror(r));
        return 1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        perror("magicd health: socket");
        return 1;
    }
    r = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    const char *what = "connect";
    if (r < 0 && errno != EINPROGRESS)
        goto fail_errno;
    if (wait_fd(fd, POLLOUT, deadline) <= 0)
        goto fail_timeout;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        errno = soerr;
        goto fail_errno;
    }
    char req[400];
    int n = snprintf(req, sizeof req,
                     "GET /healthz HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n"
                     "User-Agent: magicd-health\r\n\r\n",
                     host, port);
    what = "send";
    if (write(fd, req, (size_t)n) != n)
        goto fail_errno;
    char resp[512];
    size_t got = 0;
    what = "read";
    while (got < 12) {
        if (wait_fd(fd, POLLIN, deadline) <= 0)
            goto fail_timeout;
        ssize_t k = read(fd, resp + got, sizeof resp - 1 - got);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (k < 0)
            goto fail_errno;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    resp[got] = 0;
    if (got >= 12 && !strncmp(resp, "HTTP/1.", 7) && !strncmp(resp + 9, "200", 3)) {
        printf("ok: http://%s:%s/healthz answered 200\n", host, port);
        return 0;
    }
    char *eol = strpbrk(resp, "\r\n");
    if (eol)
        *eol = 0;
    fprintf(stderr, "magicd health: http://%s:%s/healthz answered \"%s\"\n", host, port,
            got ? resp : "(connection closed without a response)");
    return 1;
fail_timeout:
    close(fd);
    fprintf(stderr, "magicd health: no answer from http://%s:%s/healthz within %d ms\n", host, port,
            timeout_ms);
    return 1;
fail_errno:
    fprintf(stderr, "magicd health: %s to http://%s:%s failed: %s\n", what, host, port,
            strerror(errno));
    close(fd);
    return 1;
}
