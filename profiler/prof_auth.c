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
 */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

#include "profiler/prof_server.h"

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

    if (!s->conf->prof.auth_token[0] || prof_auth_ok(s->conf->prof.auth_token, req)) {
        prof_http_handler(c, req, ctx);
        return;
    }
    http_reply_start(c, 401);
    http_reply_header(c, "WWW-Authenticate", "Bearer realm=\"magicd profiler\"");
    http_reply_header(c, "X-Content-Type-Options", "nosniff");
    http_reply_finish(c, "text/plain; charset=utf-8", body, sizeof body - 1);
}
