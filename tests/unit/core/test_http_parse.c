/*
 * test_http_parse.c - the strict HTTP/1.1 request parser.
 *
 * Each case feeds a request (or a prefix of one) and checks the verdict:
 * bytes consumed, "need more" (0) or the rejecting status. The smuggling
 * cases (duplicate Content-Length, Transfer-Encoding, obs-fold, bare CR)
 * are the reason the parser is strict, so each has its own case; the
 * header-value check and the known names are held to a byte-at-a-time
 * reference (every byte in every place, every case of each name). A final
 * loop feeds every prefix of valid requests (must say "need more", never
 * crash) and random mutations (must never read out of bounds: run under
 * make check-asan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/http.h"
#include "tests/unit/unit.h"

static const http_limits_t lim = {
    .max_request_line = 200, .max_header_bytes = 400, .max_headers = 10};

static int parse(const char *s, http_request_t *r)
{
    const char *why = NULL;
    return http_parse_request(s, strlen(s), &lim, r, &why);
}

static void expect(const char *name, const char *s, int want)
{
    http_request_t r;
    int got = parse(s, &r);
    CHECK(got == want, "%s: got %d want %d", name, got, want);
}

/* A field value's bytes against the rule the scalar check wrote out:
 * refused when below 0x20 (bar HTAB) or DEL, kept otherwise (obs-text
 * from 0x80 up included). Each byte value in each place of a value long
 * enough for two words and a tail, so every lane of the eight-at-a-time
 * test and the byte loop after it is tried, then random values. */
static int value_ok_ref(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int parse_value(const char *v, size_t n)
{
    char req[128];
    static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nX-V: ";
    size_t hl = sizeof head - 1;
    http_request_t r;
    const char *why;
    memcpy(req, head, hl);
    memcpy(req + hl, v, n);
    memcpy(req + hl + n, "\r\n\r\n", 4);
    return http_parse_request(req, hl + n + 4, &lim, &r, &why);
}

static void test_value_bytes(void)
{
    char v[40];
    for (int c = 0; c < 256; c++)
        for (size_t at = 0; at < 19; at++) {
            memset(v, 'v', 19);
            v[at] = (char)c;
            int got = parse_value(v, 19);
            if (c == '\n' && at == 18)
                CHECK(got > 0, "a bare LF ends the line: %d", got);
            else if (c == '\n' || c == '\r') /* a line without a colon, or a bare CR */
                CHECK(got < 0, "byte 0x%02x at %zu: %d", c, at, got);
            else
                CHECK((got > 0) == value_ok_ref(v, 19), "byte 0x%02x at %zu: %d", c, at, got);
        }
    srand(5);
    for (int round = 0; round < 50000; round++) {
        size_t n = 2 + (unsigned)rand() % 38u;
        for (size_t i = 0; i < n; i++) {
            v[i] = (char)(rand() % 256);
            if (v[i] == '\n' || v[i] == '\r' || (round & 1 && rand() % 4))
                v[i] = 'v';
        }
        v[0] = 'v'; /* no trimmed edges */
        v[n - 1] = 'v';
        int got = parse_value(v, n);
        CHECK((got > 0) == value_ok_ref(v, n), "round %d: %d", round, got);
    }
}

/* The names the parser acts on (Host, Content-Length, Transfer-Encoding)
 * are compared by hand, not by strncasecmp: a name is one of them exactly
 * when strncasecmp says so. Every tchar in every place of each name, in
 * any case: a second Host or Content-Length is refused and a
 * Transfer-Encoding answered 501 only for a real match, and a longer or
 * shorter name (Hostx, Content-Length-X) is an ordinary header. */
static void test_known_names(void)
{
    static const char *const names[] = {"host", "content-length", "transfer-encoding"};
    static const char tc[] = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                             "opqrstuvwxyz";
    char req[256], nm[32];
    http_request_t r;
    for (int k = 0; k < 3; k++) {
        size_t ln = strlen(names[k]);
        for (size_t at = 0; at < ln; at++)
            for (size_t t = 0; t < sizeof tc - 1; t++) {
                memcpy(nm, names[k], ln + 1);
                for (size_t i = 0; i < ln; i++) /* a case of its own each time */
                    if ((t >> (i % 5)) & 1 && nm[i] >= 'a' && nm[i] <= 'z')
                        nm[i] = (char)(nm[i] - 'a' + 'A');
                nm[at] = tc[t];
                int match = strncasecmp(nm, names[k], ln) == 0;
                if (k == 2)
                    snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: a\r\n%s: chunked\r\n\r\n",
                             nm);
                else
                    snprintf(req, sizeof req,
                             "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n%s: 1\r\n\r\n",
                             nm);
                int got = parse(req, &r);
                int want = match ? (k == 2 ? -501 : -400) : (int)strlen(req);
                CHECK(got == want, "%s: got %d want %d", nm, got, want);
            }
        /* one byte more or less is another header */
        snprintf(nm, sizeof nm, "%sx", names[k]);
        snprintf(req, sizeof req,
                 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n%s: 1\r\n\r\n", nm);
        CHECK(parse(req, &r) == (int)strlen(req), "%s is not %s", nm, names[k]);
        snprintf(nm, sizeof nm, "%.*s", (int)ln - 1, names[k]);
        snprintf(req, sizeof req,
                 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n%s: 1\r\n\r\n", nm);
        CHECK(parse(req, &r) == (int)strlen(req), "%s is not %s", nm, names[k]);
    }
    expect("Content-Length-X is not a length",
           "POST / HTTP/1.1\r\nHost: a\r\nContent-Length-X: 9\r\n\r\n", 49);
    CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length-X: 9\r\n\r\n", &r) > 0 &&
              r.content_length == -1,
          "Content-Length-X sets no length");
    expect("HOST twice", "GET / HTTP/1.1\r\nHOST: a\r\nhOsT: b\r\n\r\n", -400);
    expect("Transfer-Encoding in capitals",
           "GET / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: x\r\n\r\n", -501);
}

int main(void)
{
    http_request_t r;
    const char *get = "GET /login?x=1 HTTP/1.1\r\nHost: a\r\nCookie: csrf=abc; session=s1\r\n"
                      "X-CSRF-Token: tok\r\n\r\n";
    int n = parse(get, &r);
    CHECK(n == (int)strlen(get), "valid GET consumed %d", n);
    CHECK(r.method == HTTP_M_GET, "method");
    CHECK(http_str_eq(r.path, "/login"), "path");
    CHECK(http_str_eq(r.query, "x=1"), "query");
    CHECK(r.keep_alive == 1, "1.1 keep-alive by default");
    CHECK(r.content_length == -1, "no body");
    CHECK(http_str_eq(r.csrf_header, "tok"), "csrf header");
    http_str_t v;
    CHECK(http_cookie(&r.cookie, "session", &v) && v.n == 2 && !memcmp(v.p, "s1", 2), "cookie");
    CHECK(!http_cookie(&r.cookie, "sess", &v), "cookie prefix must not match");

    /* bare LF line endings are accepted (RFC 9112 2.2) */
    expect("LF only", "GET / HTTP/1.1\nHost: a\n\n", 24);
    /* incomplete: need more */
    expect("incomplete line", "GET / HT", 0);
    expect("incomplete headers", "GET / HTTP/1.1\r\nHost: a\r\n", 0);
    /* POST with body length */
    n = parse("POST /magic/generate HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n\r\nemail=a%40b.c",
              &r);
    CHECK(n > 0 && r.content_length == 13 && r.method == HTTP_M_POST, "post cl %d", n);
    /* HTTP/1.0: close unless keep-alive asked, Host optional */
    n = parse("GET / HTTP/1.0\r\n\r\n", &r);
    CHECK(n > 0 && r.keep_alive == 0 && r.version_minor == 0, "1.0 close");
    n = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r);
    CHECK(n > 0 && r.keep_alive == 1, "1.0 keep-alive");
    n = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
    CHECK(n > 0 && r.keep_alive == 0, "1.1 close");

    /* rejections */
    expect("missing host", "GET / HTTP/1.1\r\n\r\n", -400);
    expect("duplicate host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400);
    expect("two content-lengths",
           "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", -400);
    expect("bad content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", -400);
    expect("negative content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
           -400);
    expect("huge content-length",
           "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", -400);
    expect("transfer-encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
           -501);
    expect("te and cl",
           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
           -400);
    expect("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", -400);
    expect("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", -400);
    expect("bare CR in header", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", -400);
    expect("ctl in value", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", -400);
    /* Values are checked eight bytes at a time: a bad byte at every
     * position of a long value is found, a tab or obs-text is not bad, and
     * neither are the bytes next to the thresholds (0x20, 0x7e, 0x80). */
    for (int bad = 0; bad < 3; bad++) {
        for (int at = 0; at < 40; at++) {
            char req[200], v[41];
            memset(v, 'x', 40);
            v[40] = 0;
            v[at] = bad == 0 ? '\x1f' : bad == 1 ? '\x7f' : '\x05';
            snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: a\r\nX-A: y%sy\r\n\r\n", v);
            CHECK(parse(req, &r) == -400, "byte %#x at %d of a long value", v[at], at);
            v[at] = "\t \x7e\x80\xff"[at % 5];
            snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: a\r\nX-A: y%sy\r\n\r\n", v);
            CHECK(parse(req, &r) > 0, "byte %#x at %d is allowed", (unsigned char)v[at], at);
        }
    }
    n = parse("GET / HTTP/1.1\r\nHOST: a\r\ncOOKIE: c=1\r\nX-Csrf-TOKEN: t\r\n\r\n", &r);
    CHECK(n > 0 && r.host.n == 1 && r.cookie.n == 3 && r.csrf_header.n == 1, "names in any case");
    expect("bad method char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", -400);
    expect("no target", "GET  HTTP/1.1\r\nHost: a\r\n\r\n", -400);
    expect("relative target", "GET login HTTP/1.1\r\nHost: a\r\n\r\n", -400);
    expect("http/2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505);
    expect("garbage version", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", -400);
    expect("expect other", "GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", -417);
    n = parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
              &r);
    CHECK(n > 0 && r.expect_continue, "100-continue");

    /* limits */
    char big[1024];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    big[sizeof big - 1] = 0;
    expect("request line too long (incomplete)", big, -414);
    char hdrs[2048];
    int k = snprintf(hdrs, sizeof hdrs, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 20; i++)
        k += snprintf(hdrs + k, sizeof hdrs - (size_t)k, "X-H%d: %040d\r\n", i, i);
    snprintf(hdrs + k, sizeof hdrs - (size_t)k, "\r\n");
    expect("headers too large", hdrs, -431);
    k = snprintf(hdrs, sizeof hdrs, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 12; i++)
        k += snprintf(hdrs + k, sizeof hdrs - (size_t)k, "X-%d: 1\r\n", i);
    snprintf(hdrs + k, sizeof hdrs - (size_t)k, "\r\n");
    expect("too many headers", hdrs, -431);

    /* form and percent decoding */
    char out[64];
    CHECK(http_form_value("a=1&email=demo%40example.com&b", 30, "email", out, sizeof out) == 1 &&
              !strcmp(out, "demo@example.com"),
          "form value %s", out);
    CHECK(http_form_value("email=a+b", 9, "email", out, sizeof out) == 1 && !strcmp(out, "a b"),
          "plus is space");
    CHECK(http_form_value("email=%4", 8, "email", out, sizeof out) == -1, "truncated escape");
    CHECK(http_form_value("email=%zz", 9, "email", out, sizeof out) == -1, "bad escape");
    CHECK(http_form_value("xemail=1", 8, "email", out, sizeof out) == 0, "prefix key");
    CHECK(http_form_value("seconds=30", 10, "seconds", out, 2) == -1, "too long for out");

    /* every prefix of a valid request is "need more"; random mutations
     * never crash or read past the end (ASan checks the latter) */
    const char *post = "POST /magic/generate HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\n"
                       "Content-Length: 24\r\n\r\n";
    size_t pl = strlen(post);
    for (size_t i = 0; i < pl; i++) {
        char *cp = malloc(i ? i : 1);
        memcpy(cp, post, i);
        const char *why;
        int got = http_parse_request(cp, i, &lim, &r, &why);
        CHECK(got == 0, "prefix %zu gave %d", i, got);
        free(cp);
    }
    srand(42);
    for (int iter = 0; iter < 200000; iter++) {
        char buf[160];
        size_t len = pl < sizeof buf ? pl : sizeof buf;
        memcpy(buf, post, len);
        int muts = 1 + rand() % 4;
        for (int m = 0; m < muts; m++)
            buf[rand() % len] = (char)(rand() % 256);
        size_t cut = (size_t)(rand() % (int)len) + 1;
        char *cp = malloc(cut);
        memcpy(cp, buf, cut);
        const char *why;
        int got = http_parse_request(cp, cut, &lim, &r, &why);
        CHECK(got <= (int)cut, "consumed past the end");
        free(cp);
    }
    test_value_bytes();
    test_known_names();
    if (unit_failures)
        fprintf(stderr, "%d failures\n", unit_failures);
    else
        printf("http_parse: all checks passed\n");
    return unit_failures != 0;
}
