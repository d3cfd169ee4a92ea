/*
 * test_return_url.c - the return-to matcher: canonical forms, refusals,
 * pattern checks and glob matching, plus random inputs checked against the
 * properties every accepted URL must have.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/return_url.h"
#include "tests/unit/unit.h"

static const char *const PATS[] = {"https://*.example.com/*", "http://127.0.0.1:8080/app/*",
                                   "/secure/*", "https://exact.example.org"};
#define NPATS ((int)(sizeof PATS / sizeof PATS[0]))

static int allowed(const char *url, char *out)
{
    return return_url_allowed(url, strlen(url), PATS, NPATS, out, RETURN_URL_MAX + 1);
}

static void canon_is(const char *in, const char *want)
{
    char out[RETURN_URL_MAX + 1];
    const char *why = NULL;
    int n = return_url_canon(in, strlen(in), out, sizeof out, &why);
    CHECK(n >= 0 && strcmp(out, want) == 0, "%s -> %s (want %s, why %s)", in, n >= 0 ? out : "-",
          want, why ? why : "");
}

static void refused(const char *in)
{
    char out[RETURN_URL_MAX + 1];
    const char *why = NULL;
    CHECK(return_url_canon(in, strlen(in), out, sizeof out, &why) < 0 && why, "accepted %s as %s",
          in, out);
    CHECK(allowed(in, out) < 0, "allowed %s", in);
}

/* Properties of any accepted URL, whatever the input was. */
static void props(const char *canon)
{
    size_t n = strlen(canon);
    CHECK(n > 0 && n <= RETURN_URL_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)canon[i];
        CHECK(c > 0x20 && c < 0x7f && c != '\\' && c != '"' && c != '<' && c != '>',
              "byte %02x in %s", c, canon);
    }
    if (canon[0] == '/') {
        CHECK(n == 1 || canon[1] != '/', "%s", canon);
    } else {
        int https = strncmp(canon, "https://", 8) == 0;
        CHECK(https || strncmp(canon, "http://", 7) == 0, "%s", canon);
        const char *a = canon + (https ? 8 : 7), *e = strchr(a, '/');
        CHECK(e && e > a, "no path or host in %s", canon);
        if (e)
            CHECK(!memchr(a, '@', (size_t)(e - a)) && !memchr(a, '%', (size_t)(e - a)), "%s",
                  canon);
    }
    /* canonical twice is canonical */
    char again[RETURN_URL_MAX + 1];
    int m = return_url_canon(canon, n, again, sizeof again, NULL);
    CHECK(m == (int)n && strcmp(again, canon) == 0, "not idempotent: %s -> %s", canon, again);
}

int main(void)
{
    char out[RETURN_URL_MAX + 1];

    canon_is("/", "/");
    canon_is("/secure/1", "/secure/1");
    canon_is("/a?b=c&d=%41#frag", "/a?b=c&d=%41#frag");
    canon_is("HTTPS://App.Example.COM/Path?Q=1", "https://app.example.com/Path?Q=1");
    canon_is("https://app.example.com", "https://app.example.com/");
    canon_is("https://app.example.com?x=1", "https://app.example.com/?x=1");
    canon_is("https://app.example.com#f", "https://app.example.com/#f");
    canon_is("https://app.example.com:443/x", "https://app.example.com/x");
    canon_is("http://app.example.com:80/x", "http://app.example.com/x");
    canon_is("http://app.example.com:443/x", "http://app.example.com:443/x");
    canon_is("https://app.example.com:8443/x", "https://app.example.com:8443/x");
    canon_is("http://[::1]:8080/x", "http://[::1]:8080/x");
    canon_is("https://a.example.com//double", "https://a.example.com//double");
    canon_is("https://a.example.com/p@x/%e2%82%ac", "https://a.example.com/p@x/%e2%82%ac");

    const char *bad[] = {
        "",
        "//evil.com",
        "///evil.com",
        "\\\\evil.com",
        "/\\evil.com",
        "\\/evil.com",
        "https:evil.com",
        "https:/evil.com",
        "https:\\\\evil.com",
        "https:///x",
        "https://good.example.com@evil.com/",
        "https://u:p@a.example.com/",
        "https://evil.com\\@a.example.com/",
        "https://evil.com%2f.example.com/",
        "https://a.example.com/%2f%2fevil",
        "/%2F%2Fevil",
        "/%5cevil",
        "/%252f",
        "/%2e%2e/x",
        "/a/../b",
        "/a/./b",
        "/..",
        "https://a.example.com/..",
        "/x\r\nLocation: y",
        "/x%0d%0a",
        "/x%0a",
        "/x\ty",
        "\t/x",
        " /x",
        "/x y",
        "/x\x01",
        "/x\x7f",
        "/x%7f",
        "/x%",
        "/x%4",
        "/x%zz",
        "https://evil.com\343\200\202a/", /* U+3002, octal: no escape runs into the 'a' */
        "https://\xef\xbd\x85vil.example.com/",
        "/\xe2\x80\xae",
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://a.example.com/",
        "mailto:x@y",
        "https://.example.com/",
        "https://a..example.com/",
        "https://a.example.com./",
        "https://a.example.com:/",
        "https://a.example.com:0/",
        "https://a.example.com:65536/",
        "https://a.example.com:08080/",
        "https://a.example.com:1a/",
        "https://[::1/",
        "https://[x]/",
        "https://a_b.example.com/",
        "https://a.example.com/\"x",
        "https://a.example.com/<x>",
        "https://a.example.com/{x}",
        "https://a.example.com/x|y",
        "https://a.example.com/`",
        "https://a.example.com/[x]",
        "relative/path",
        "?x=1",
        "#f",
        "https://",
        "http://",
        "https://:80/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i]);
    {
        char nul[] = "https://evil.com\0.example.com/";
        CHECK(return_url_canon(nul, sizeof nul - 1, out, sizeof out, NULL) < 0, "NUL accepted");
    }
    {
        static char big[RETURN_URL_MAX + 64];
        memset(big, 'a', sizeof big - 1);
        big[0] = '/';
        big[sizeof big - 1] = 0;
        refused(big);
        big[RETURN_URL_MAX] = 0; /* exactly the limit */
        CHECK(return_url_canon(big, RETURN_URL_MAX, out, sizeof out, NULL) == RETURN_URL_MAX);
        CHECK(return_url_canon(big, RETURN_URL_MAX, out, RETURN_URL_MAX, NULL) < 0,
              "output buffer too small must refuse");
    }

    /* Matching. */
    CHECK(allowed("https://app.example.com/x", out) > 0 &&
          !strcmp(out, "https://app.example.com/x"));
    CHECK(allowed("https://a.b.example.com/", out) > 0);
    CHECK(allowed("HTTPS://A.EXAMPLE.COM", out) > 0 && !strcmp(out, "https://a.example.com/"));
    CHECK(allowed("https://example.com/", out) < 0, "*. needs a label");
    CHECK(allowed("https://evilexample.com/", out) < 0);
    CHECK(allowed("https://app.example.com.evil.com/", out) < 0);
    CHECK(allowed("https://evil.com/.example.com/", out) < 0);
    CHECK(allowed("https://evil.com?.example.com/", out) < 0);
    CHECK(allowed("https://evil.com#.example.com/", out) < 0);
    CHECK(allowed("https://app.example.com:8443/", out) < 0, "port not in the pattern");
    CHECK(allowed("http://app.example.com/", out) < 0, "scheme differs");
    CHECK(allowed("http://127.0.0.1:8080/app/x?y=1&z=2", out) > 0);
    CHECK(allowed("http://127.0.0.1:8080/app", out) < 0);
    CHECK(allowed("http://127.0.0.1:8080/other", out) < 0);
    CHECK(allowed("http://127.0.0.1:8081/app/x", out) < 0);
    CHECK(allowed("/secure/1", out) > 0);
    CHECK(allowed("/other", out) < 0);
    CHECK(allowed("https://exact.example.org/any/path?x", out) > 0, "no path = any path");
    CHECK(allowed("https://sub.exact.example.org/", out) < 0);
    CHECK(return_url_match("http://127.0.0.1:*/*", "http://127.0.0.1:9/x"));
    CHECK(!return_url_match("http://127.0.0.1:*/*", "http://127.0.0.1/x"), "port required");
    CHECK(!return_url_match("http://*/*", "http://[::1]:80/x"), "star never matches ':' or []");
    CHECK(!return_url_match("http://*", "http://a.com:81/"), "star never matches the port");
    CHECK(return_url_match("http://*:81", "http://a.com:81/"));
    CHECK(!return_url_match("/*", "https://a.example.com/"), "relative pattern, absolute URL");
    CHECK(!return_url_match("https://*/*", "/x"), "absolute pattern, relative URL");
    CHECK(!return_url_match("https://a.example.com/x*", "https://a.example.com/"));
    CHECK(return_url_match("https://*.example.com/a*b*c", "https://q.example.com/aXbYc"));
    CHECK(!return_url_match("https://*.example.com/a*b*c", "https://q.example.com/aXbYd"));

    /* Pattern checks. */
    const char *goodp[] = {"https://*.example.com/*", "http://127.0.0.1:*", "/app/*", "/",
                           "https://a.example.com",   "http://[::1]:8080/*"};
    for (size_t i = 0; i < sizeof goodp / sizeof goodp[0]; i++) {
        const char *why = NULL;
        CHECK(return_url_pattern_check(goodp[i], &why) == 0, "%s: %s", goodp[i], why ? why : "");
    }
    const char *badp[] = {"",
                          "evil.com",
                          "*",
                          "//x",
                          "ftp://x/",
                          "https://a@b/",
                          "https://a\\b",
                          "https://[*]/",
                          "https://a.example.com:443/*",
                          "https://a b/",
                          "https://a.example.com?x",
                          "/x y"};
    for (size_t i = 0; i < sizeof badp / sizeof badp[0]; i++) {
        const char *why = NULL;
        CHECK(return_url_pattern_check(badp[i], &why) < 0 && why, "pattern %s accepted", badp[i]);
    }

    /* Escaping for /login?rd= */
    CHECK(return_url_escape("https://a.example.com/p?a=1&b=2", out, sizeof out) > 0 &&
              !strcmp(out, "https%3A%2F%2Fa.example.com%2Fp%3Fa%3D1%26b%3D2"),
          "%s", out);
    CHECK(return_url_escape("abc", out, 3) < 0, "escape must refuse a short buffer");

    /* Random inputs, biased towards URL bytes: whatever is accepted has the
     * properties of a canonical URL, and whatever is allowed matches. */
    static const char alpha[] = "/\\:@.%?#&=*-_~abcdefxyzAEXhtps0123456789 \t\r\n\x01\x7f\xc3";
    static const char *const seeds[] = {
        "https://", "http://", "/", "//", "https://a.example.com",
        "%2f",      "%2e",     "@", "\\", "http://127.0.0.1:8080/app/"};
    uint32_t x = 12345;
    long accepted = 0;
    for (int iter = 0; iter < 200000; iter++) {
        char buf[64];
        size_t n = 0;
        x = x * 1103515245u + 12345u;
        const char *seed = seeds[(x >> 16) % (sizeof seeds / sizeof seeds[0])];
        n = strlen(seed);
        memcpy(buf, seed, n);
        x = x * 1103515245u + 12345u;
        size_t extra = (x >> 16) % 24;
        for (size_t k = 0; k < extra && n < sizeof buf; k++) {
            x = x * 1103515245u + 12345u;
            buf[n++] = alpha[(x >> 16) % (sizeof alpha - 1)];
        }
        if (return_url_canon(buf, n, out, sizeof out, NULL) >= 0) {
            accepted++;
            props(out);
        }
        if (return_url_allowed(buf, n, PATS, NPATS, out, sizeof out) >= 0) {
            int any = 0;
            for (int p = 0; p < NPATS; p++)
                any |= return_url_match(PATS[p], out);
            CHECK(any, "allowed but matches nothing: %s", out);
        }
    }
    CHECK(accepted > 1000, "the random walk accepted only %ld URLs", accepted);
    return unit_done("return_url");
}
