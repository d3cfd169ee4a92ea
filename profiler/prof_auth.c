/*
 * prof_auth.c - bearer-token authentication in front of every profiler
 * endpoint (profiler_auth_token_file).
 *
 * Profiles show the code, the heap and, in goroutine?debug=2, the request
 * lines of open connections (tokens included). On loopback that is the
 * machine's business; once profiler_listen is reachable from elsewhere it
 * needs a lock. With a token configured, every request, whatever its path,
 * must carry `Authorization: Bearer TOKEN`, or it gets 401 with
 * `WWW-Authenticate: Bearer` and nothing else: not even a 404 tells a
 * stranger which paths exist.
 *
 * The comparison must not leak how much of a guess was right, nor the
 * token's length: both sides are hashed with SHA-256 and the digests
 * compared with CRYPTO_memcmp, so the time depends on neither. The token
 * was read from its file by the master (core/conf_check.c) and reached this
 * process by fork.
 *
 * `go tool pprof` sends no headers; fetch with curl and read the file:
 *   curl -H "Authorization: Bearer $(cat TOKENFILE)" -o cpu.pb.gz \
 *        http://HOST:6060/debug/pprof/profile?seconds=30
 *   go tool pprof -top cpu.pb.gz
 *
 * Without a token, a request must name the profiler by an address
 * (127.0.0.1:6060, [::1]:6060) or as localhost in its Host header, else it
 * gets 403 and nothing else. Loopback is not only this machine's business:
 * a web page the operator opens (on the server, or on the workstation an
 * `ssh -L 6060:...` tunnel ends on) can re-point its own name at 127.0.0.1
 * (DNS rebinding) and is then same-origin with the profiler for the
 * browser, free to read /metrics, the goroutine dump and the rest. Such a
 * request carries the page's name in Host; a browser sends an address
 * written as an address, and *.localhost never leaves the machine (RFC
 * 6761), so neither can be the attacker's name. With a token the check is
 * not needed: the page does not have it.
 */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

#include "profiler/prof_server.h"

/* 1 when the Host header (absent: HTTP/1.0) names an IP address or
 * localhost, with or without a port. */
static int prof_host_ok(const http_request_t *req)
{
    const char *h = req->host.p;
    size_t n = req->host.n, hn;
    char a[64];

    if (!h)
        return 1;
    if (n && h[0] == '[') {
        const char *e = memchr(h, ']', n);
        if (!e)
            return 0;
        hn = (size_t)(e - h) + 1;
    } else {
        const char *colon = memchr(h, ':', n);
        hn = colon ? (size_t)(colon - h) : n;
    }
    if (hn < n) { /* a port: digits only */
        if (h[hn] != ':' || hn + 1 == n)
            return 0;
        for (size_t i = hn + 1; i < n; i++)
            if (h[i] < '0' || h[i] > '9')
                return 0;
    }
    if (hn == 0 || hn >= sizeof a)
        return 0;
    if (h[0] == '[') {
        struct in6_addr v6;
        memcpy(a, h + 1, hn - 2);
        a[hn - 2] = 0;
        return inet_pton(AF_INET6, a, &v6) == 1;
    }
    memcpy(a, h, hn);
    a[hn] = 0;
    struct in_addr v4;
    if (inet_pton(AF_INET, a, &v4) == 1)
        return 1;
    return !strcasecmp(a, "localhost") || (hn > 10 && !strcasecmp(a + hn - 10, ".localhost"));
}

/* 1 when the request carries the configured token. */
static int prof_auth_ok(const char *token, const http_request_t *req)
{
    const http_str_t *h = http_header(req, "Authorization");
    unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
    const char *p;
    size_t n;

    if (!h || h->n < 7 || strncasecmp(h->p, "Bearer ", 7) != 0)
        return 0;
    p = h->p + 7;
    n = h->n - 7;
    while (n && *p == ' ') {
        p++;
        n--;
    }
    while (n && p[n - 1] == ' ')
        n--;
    if (n == 0)
        return 0;
    SHA256((const unsigned char *)token, strlen(token), want);
    SHA256((const unsigned char *)p, n, got);
    return CRYPTO_memcmp(want, got, sizeof want) == 0;
}

void prof_auth_handler(http_conn_t *c, http_request_t *req, void *ctx)
{
    prof_srv_t *s = ctx;
    static const char body[] = "Unauthorized\n";

    if (!s->conf->prof.auth_token[0] && !prof_host_ok(req)) {
        static const char named[] = "Forbidden: ask the profiler by its address "
                                    "(127.0.0.1, [::1]) or as localhost\n";
        http_reply_start(c, 403);
        http_reply_header(c, "X-Content-Type-Options", "nosniff");
        http_reply_finish(c, "text/plain; charset=utf-8", named, sizeof named - 1);
        return;
    }
    if (!s->conf->prof.auth_token[0] || prof_auth_ok(s->conf->prof.auth_token, req)) {
        prof_http_handler(c, req, ctx);
        return;
    }
    http_reply_start(c, 401);
    http_reply_header(c, "WWW-Authenticate", "Bearer realm=\"magicd profiler\"");
    http_reply_header(c, "X-Content-Type-Options", "nosniff");
    http_reply_finish(c, "text/plain; charset=utf-8", body, sizeof body - 1);
}
