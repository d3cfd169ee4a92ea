/*
 * test_resp_parse.c - the load generator's response parser frames every
 * response correctly however the bytes are split: Content-Length, chunked
 * (with extensions and trailers), body until close, no-body statuses, 100
 * Continue, pipelined responses back to back; it tells keep-alive from close
 * for HTTP/1.1 and 1.0, hands headers and body to the callbacks, and rejects
 * malformed input and truncated responses.
 */
#include "tools/loadtest/resp_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "tests/unit/unit.h"

typedef struct {
    char body[4096];
    size_t blen;
    char cookie[256];
    int headers;
} sink_t;

static void on_header(void *ud, const char *n, size_t nl, const char *v, size_t vl)
{
    sink_t *s = ud;
    s->headers++;
    if (nl == 10 && strncasecmp(n, "set-cookie", 10) == 0 && vl < sizeof(s->cookie)) {
        memcpy(s->cookie, v, vl);
        s->cookie[vl] = 0;
    }
}

static void on_body(void *ud, const char *p, size_t n)
{
    sink_t *s = ud;
    if (s->blen + n < sizeof(s->body)) {
        memcpy(s->body + s->blen, p, n);
        s->blen += n;
    }
}

static lt_resp_t *r;
static sink_t sink;

static void fresh(void)
{
    memset(&sink, 0, sizeof(sink));
    r->on_header = on_header;
    r->on_body = on_body;
    r->ud = &sink;
    r->head = 0;
    lt_resp_reset(r);
}

/* Feed msg in pieces of `step` bytes; return the final rc and the bytes the
 * parser took in total. */
static lt_resp_rc feed(const char *msg, size_t len, size_t step, size_t *took)
{
    size_t off = 0;
    lt_resp_rc rc = LT_RESP_OK;
    while (off < len && rc == LT_RESP_OK) {
        size_t n = len - off < step ? len - off : step, used = 0;
        rc = lt_resp_feed(r, msg + off, n, &used);
        off += used;
        if (rc == LT_RESP_OK && used != n) {
            rc = LT_RESP_ERROR;
            break;
        }
    }
    *took = off;
    return rc;
}

/* Every split size from 1 byte to the whole message gives the same result. */
static void framed(const char *name, const char *msg, int status, int keep, const char *body)
{
    size_t len = strlen(msg);
    for (size_t step = 1; step <= len; step++) {
        fresh();
        size_t took;
        lt_resp_rc rc = feed(msg, len, step, &took);
        CHECK(rc == LT_RESP_DONE, "%s step %zu: rc %d err %s", name, step, rc,
              r->err ? r->err : "-");
        CHECK(took == len, "%s step %zu: took %zu of %zu", name, step, took, len);
        CHECK(r->status == status, "%s: status %d", name, r->status);
        CHECK(r->keep_alive == keep, "%s: keep_alive %d", name, r->keep_alive);
        CHECK(sink.blen == strlen(body) && memcmp(sink.body, body, sink.blen) == 0,
              "%s step %zu: body '%.*s'", name, step, (int)sink.blen, sink.body);
        CHECK(r->total_bytes == len, "%s: total_bytes %llu", name,
              (unsigned long long)r->total_bytes);
    }
}

static void content_length(void)
{
    framed("cl",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: csrf=abc; HttpOnly\r\n\r\nhello",
           200, 1, "hello");
    CHECK(strcmp(sink.cookie, "csrf=abc; HttpOnly") == 0, "cookie '%s'", sink.cookie);
    CHECK(sink.headers == 2, "headers seen %d", sink.headers);
    framed("cl0", "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n", 403, 1, "");
    framed("lf-only", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, 1, "ok");
}

static void chunked(void)
{
    framed("chunked",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n",
           200, 1, "hello, world");
    framed("chunked-trailer",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
           "A\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n",
           200, 1, "0123456789");
}

static void keep_alive(void)
{
    framed("close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 200, 0,
           "x");
    framed("1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, 0, "x");
    framed("1.0-ka", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", 200,
           1, "x");
    framed("tokens", "HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\nContent-Length: 1\r\n\r\nx",
           200, 0, "x");
}

static void until_close(void)
{
    const char *m = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it";
    fresh();
    size_t took;
    lt_resp_rc rc = feed(m, strlen(m), 3, &took);
    CHECK(rc == LT_RESP_OK && took == strlen(m), "until-close: rc %d took %zu", rc, took);
    CHECK(lt_resp_eof(r) == LT_RESP_DONE, "until-close: eof ends it");
    CHECK(r->keep_alive == 0 && r->until_close, "until-close: not reusable");
    CHECK(sink.blen == 9 && memcmp(sink.body, "all of it", 9) == 0, "until-close body");
}

static void no_body(void)
{
    framed("204", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", 204, 1, "");
    framed("304", "HTTP/1.1 304 Not Modified\r\n\r\n", 304, 1, "");
    framed("100",
           "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201,
           1, "ok");
    fresh();
    r->head = 1;
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
    size_t took;
    CHECK(feed(m, strlen(m), 1000, &took) == LT_RESP_DONE, "HEAD has no body");
}

static void pipelined(void)
{
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
                    "HTTP/1.1 303 See Other\r\nLocation: /secure/1\r\nContent-Length: 0\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n";
    size_t len = strlen(m), off = 0;
    int st[3] = {0};
    fresh();
    for (int i = 0; i < 3; i++) {
        size_t used;
        lt_resp_rc rc = lt_resp_feed(r, m + off, len - off, &used);
        CHECK(rc == LT_RESP_DONE, "pipelined #%d rc %d", i, rc);
        st[i] = r->status;
        off += used;
        lt_resp_reset(r);
    }
    CHECK(off == len, "pipelined: consumed %zu of %zu", off, len);
    CHECK(st[0] == 200 && st[1] == 303 && st[2] == 200, "statuses %d %d %d", st[0], st[1], st[2]);
    CHECK(sink.blen == 6 && memcmp(sink.body, "onetwo", 6) == 0, "bodies '%.*s'", (int)sink.blen,
          sink.body);
}

static void errors(void)
{
    static const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTX/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fresh();
        size_t took;
        lt_resp_rc rc = feed(bad[i], strlen(bad[i]), 4096, &took);
        CHECK(rc == LT_RESP_ERROR && r->err != NULL, "bad #%zu accepted: rc %d", i, rc);
    }
    /* Cut short: EOF in the middle of a body or of the headers. */
    const char *cut[] = {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                         "HTTP/1.1 200 OK\r\nCon"};
    for (size_t i = 0; i < 2; i++) {
        fresh();
        size_t took;
        feed(cut[i], strlen(cut[i]), 4096, &took);
        CHECK(lt_resp_eof(r) == LT_RESP_ERROR, "truncated #%zu not an error", i);
    }
    fresh();
    CHECK(lt_resp_idle(r) && lt_resp_eof(r) == LT_RESP_OK, "EOF before any byte is not an error");
    /* A header line longer than the parser's buffer is refused, not overflowed. */
    size_t big = LT_RESP_LINE_MAX + 100;
    char *m = malloc(big + 64);
    strcpy(m, "HTTP/1.1 200 OK\r\nX-Big: ");
    size_t l = strlen(m);
    memset(m + l, 'a', big);
    strcpy(m + l + big, "\r\n\r\n");
    fresh();
    size_t took;
    CHECK(feed(m, strlen(m), 1000, &took) == LT_RESP_ERROR, "over-long header line accepted");
    free(m);
}

int main(void)
{
    r = calloc(1, sizeof(*r));
    content_length();
    chunked();
    keep_alive();
    until_close();
    no_body();
    pipelined();
    errors();
    free(r);
    if (unit_failures) {
        fprintf(stderr, "test_resp_parse: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_resp_parse: ok\n");
    return 0;
}
