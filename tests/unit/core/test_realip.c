/*
 * test_realip.c - the client address behind trusted proxies: address and
 * CIDR parsing, X-Forwarded-For walked from the right, X-Real-IP, peers
 * that are not trusted, the IPv6 prefix in the rate-limit key, and the
 * dotted quad and the key against inet_ntop and the odd spellings of an
 * address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/realip.h"
#include "tests/unit/unit.h"

static realip_addr_t A(const char *s)
{
    realip_addr_t a;
    memset(&a, 0, sizeof a);
    if (realip_parse_addr(s, strlen(s), &a) < 0)
        fprintf(stderr, "bad test address %s\n", s);
    return a;
}

static const char *key(int prefix, realip_addr_t a)
{
    static char out[80];
    if (realip_key(prefix, &a, out, sizeof out) < 0)
        return "(none)";
    return out;
}

static const char *client(const realip_conf_t *rc, const char *peer, const char *hname,
                          const char *v1, const char *v2)
{
    static char out[64];
    http_request_t req;
    memset(&req, 0, sizeof req);
    const char *vals[2] = {v1, v2};
    for (int i = 0; i < 2; i++) {
        if (!vals[i])
            continue;
        req.headers[req.nheaders].name = (http_str_t){hname, strlen(hname)};
        req.headers[req.nheaders].value = (http_str_t){vals[i], strlen(vals[i])};
        req.nheaders++;
    }
    realip_addr_t p = A(peer), c;
    realip_client(rc, &p, &req, &c);
    realip_format(&c, out, sizeof out);
    return out;
}

static void test_parse(void)
{
    realip_addr_t a;
    CHECK(realip_parse_addr("1.2.3.4", 7, &a) == 0 && a.a[10] == 0xff && a.a[15] == 4);
    CHECK(realip_parse_addr(" [::1] ", 7, &a) == 0 && a.a[15] == 1 && a.a[10] == 0);
    CHECK(realip_parse_addr("1.2.3.4:80", 10, &a) < 0);
    CHECK(realip_parse_addr("unknown", 7, &a) < 0);
    CHECK(realip_parse_addr("", 0, &a) < 0);
    CHECK(realip_parse_addr("1.2.3", 5, &a) < 0);

    realip_cidr_t c;
    CHECK(realip_parse_cidr("10.1.2.3/8", &c) == 0 && c.bits == 104 && c.net.a[13] == 0);
    CHECK(realip_parse_cidr("127.0.0.1", &c) == 0 && c.bits == 128);
    CHECK(realip_parse_cidr("2001:db8::/32", &c) == 0 && c.bits == 32);
    CHECK(realip_parse_cidr("::1", &c) == 0 && c.bits == 128);
    CHECK(realip_parse_cidr("10.0.0.0/33", &c) < 0);
    CHECK(realip_parse_cidr("::/129", &c) < 0);
    CHECK(realip_parse_cidr("10.0.0.0/", &c) < 0);
    CHECK(realip_parse_cidr("10.0.0.0/8x", &c) < 0);
    CHECK(realip_parse_cidr("example.com", &c) < 0);

    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.0.2.1", &s6.sin6_addr);
    CHECK(realip_from_sockaddr((struct sockaddr *)&s6, &a) == 0);
    char t[64];
    realip_format(&a, t, sizeof t);
    CHECK(!strcmp(t, "192.0.2.1"), "%s", t);
    /* IPv4 is formatted without inet_ntop: every digit count, and the
     * same refusal when it does not fit. */
    const char *quads[] = {"0.0.0.0", "255.255.255.255", "10.0.100.9", "1.22.103.40"};
    for (size_t i = 0; i < sizeof quads / sizeof quads[0]; i++) {
        a = A(quads[i]);
        CHECK(realip_format(&a, t, sizeof t) == (int)strlen(quads[i]) && !strcmp(t, quads[i]),
              "%s: %s", quads[i], t);
    }
    a = A("255.255.255.255");
    CHECK(realip_format(&a, t, 16) == 15 && realip_format(&a, t, 15) == -1);
}

static void test_trust_and_headers(void)
{
    realip_conf_t rc;
    memset(&rc, 0, sizeof rc);
    realip_parse_cidr("127.0.0.1", &rc.from[rc.nfrom++]);
    realip_parse_cidr("10.0.0.0/8", &rc.from[rc.nfrom++]);
    realip_parse_cidr("fd00::/8", &rc.from[rc.nfrom++]);
    rc.header = REALIP_HEADER_XFF;

    const char *X = "X-Forwarded-For";
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "198.51.100.7", NULL), "198.51.100.7"));
    /* Rightmost untrusted: what the client prepends does not count. */
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "1.1.1.1, 198.51.100.7", NULL), "198.51.100.7"));
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "1.1.1.1, 198.51.100.7, 10.9.9.9", NULL),
                  "198.51.100.7"));
    /* Every hop trusted: the leftmost. */
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "10.1.1.1, 10.2.2.2", NULL), "10.1.1.1"));
    /* A bad entry stops the walk at the last hop we believe. */
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "1.1.1.1, garbage, 10.2.2.2", NULL), "10.2.2.2"));
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "garbage", NULL), "127.0.0.1"));
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "", NULL), "127.0.0.1"));
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, " , 198.51.100.7 ,", NULL), "198.51.100.7"));
    /* Two header lines are one list, the second line is the right end. */
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "198.51.100.7", "10.3.3.3"), "198.51.100.7"));
    CHECK(
        !strcmp(client(&rc, "127.0.0.1", X, "1.1.1.1", "198.51.100.9, 10.3.3.3"), "198.51.100.9"));
    /* IPv6 and IPv4-mapped peers. */
    CHECK(!strcmp(client(&rc, "fd00::5", "x-forwarded-for", "2001:db8::1", NULL), "2001:db8::1"));
    CHECK(!strcmp(client(&rc, "::ffff:127.0.0.1", X, "[2001:db8::2]", NULL), "2001:db8::2"));
    /* An untrusted peer is the client, whatever it says. */
    CHECK(!strcmp(client(&rc, "192.0.2.9", X, "198.51.100.7", NULL), "192.0.2.9"));
    CHECK(!strcmp(client(&rc, "127.0.0.2", X, "198.51.100.7", NULL), "127.0.0.2"));

    rc.header = REALIP_HEADER_X_REAL_IP;
    const char *R = "X-Real-IP";
    CHECK(!strcmp(client(&rc, "127.0.0.1", R, "198.51.100.7", NULL), "198.51.100.7"));
    CHECK(!strcmp(client(&rc, "127.0.0.1", R, "junk", NULL), "127.0.0.1"));
    CHECK(!strcmp(client(&rc, "127.0.0.1", R, "1.1.1.1", "198.51.100.8"), "198.51.100.8"));
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "198.51.100.7", NULL), "127.0.0.1"),
          "X-Forwarded-For is ignored in X-Real-IP mode");
    CHECK(!strcmp(client(&rc, "192.0.2.9", R, "198.51.100.7", NULL), "192.0.2.9"));

    rc.header = REALIP_HEADER_NONE;
    CHECK(!strcmp(client(&rc, "127.0.0.1", X, "198.51.100.7", NULL), "127.0.0.1"));
}

static void test_key(void)
{
    int pfx = 64;
    CHECK(!strcmp(key(pfx, A("192.0.2.1")), "i:192.0.2.1"), "%s", key(pfx, A("192.0.2.1")));
    CHECK(!strcmp(key(pfx, A("2001:db8:1:2:aaaa::1")), "i:2001:db8:1:2::/64"));
    CHECK(!strcmp(key(pfx, A("2001:db8:1:2:ffff:ffff:ffff:ffff")), "i:2001:db8:1:2::/64"));
    char k3[80];
    snprintf(k3, sizeof k3, "%s", key(pfx, A("2001:db8:1:3::1")));
    CHECK(strcmp(k3, key(pfx, A("2001:db8:1:2::1"))) != 0);
    CHECK(!strcmp(key(pfx, A("::ffff:10.0.0.1")), "i:10.0.0.1"));
    pfx = 48;
    CHECK(!strcmp(key(pfx, A("2001:db8:1:2::1")), "i:2001:db8:1::/48"), "%s",
          key(pfx, A("2001:db8:1:2::1")));
    pfx = 56;
    CHECK(!strcmp(key(pfx, A("2001:db8:1:2ff::1")), "i:2001:db8:1:200::/56"), "%s",
          key(pfx, A("2001:db8:1:2ff::1")));
    pfx = 128;
    CHECK(!strcmp(key(pfx, A("2001:db8::1")), "i:2001:db8::1"));
    char small[8];
    realip_addr_t a = A("2001:db8::1");
    CHECK(realip_key(pfx, &a, small, sizeof small) < 0);
    a = A("192.0.2.1");
    CHECK(realip_key(pfx, &a, small, sizeof small) < 0, "i:192.0.2.1 does not fit 8 bytes");
    char exact[12];
    CHECK(realip_key(pfx, &a, exact, sizeof exact) == 11 && !strcmp(exact, "i:192.0.2.1"));
    CHECK(realip_key(pfx, &a, exact, 11) < 0);
}

/* The hand-written dotted quad against inet_ntop: every octet value in
 * every place, then random addresses; and the key of an address an
 * attacker can spell several ways (an IPv4-mapped IPv6 address, in hex,
 * in capitals, bracketed, padded) is the one key of its IPv4 address,
 * while two addresses never share one. */
static void test_v4_reference(void)
{
    realip_addr_t a;
    char got[64], want[INET_ADDRSTRLEN];
    memset(&a, 0, sizeof a);
    a.a[10] = a.a[11] = 0xff;
    for (int at = 0; at < 4; at++)
        for (int v = 0; v < 256; v++) {
            memcpy(a.a + 12, "\x07\x5a\xc8\x01", 4);
            a.a[12 + at] = (uint8_t)v;
            inet_ntop(AF_INET, a.a + 12, want, sizeof want);
            CHECK(realip_format(&a, got, sizeof got) == (int)strlen(want) && !strcmp(got, want),
                  "%s: %s", want, got);
        }
    srand(3);
    for (int i = 0; i < 100000; i++) {
        for (int k = 12; k < 16; k++)
            a.a[k] = (uint8_t)rand();
        inet_ntop(AF_INET, a.a + 12, want, sizeof want);
        CHECK(realip_format(&a, got, sizeof got) == (int)strlen(want) && !strcmp(got, want),
              "%s: %s", want, got);
        /* the key names the address and nothing else */
        char k1[80], k2[80];
        realip_addr_t b = a;
        b.a[12 + rand() % 4] ^= (uint8_t)(1 + rand() % 255);
        CHECK(realip_key(64, &a, k1, sizeof k1) > 0 && realip_key(64, &b, k2, sizeof k2) > 0 &&
                  strcmp(k1, k2) != 0,
              "%s and another share a key", k1);
    }
    const char *same[] = {"192.0.2.1",          "::ffff:192.0.2.1", "::FFFF:c000:0201",
                          "[::ffff:192.0.2.1]", " 192.0.2.1\t",     "0:0:0:0:0:ffff:192.0.2.1"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        CHECK(realip_parse_addr(same[i], strlen(same[i]), &a) == 0, "%s", same[i]);
        CHECK(!strcmp(key(64, a), "i:192.0.2.1"), "%s: %s", same[i], key(64, a));
    }
    /* Not an address: refused (the walk stops there), not read as another */
    const char *bad[] = {"192.0.2.01",  "192.0.2.1.5", "0x7f.0.0.1",         "192.0.2",
                         "192.0.2.256", "1.2.3.4/8",   "::ffff:1.2.3.4%eth0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(realip_parse_addr(bad[i], strlen(bad[i]), &a) < 0, "%s parsed", bad[i]);
}

int main(void)
{
    test_parse();
    test_trust_and_headers();
    test_key();
    test_v4_reference();
    return unit_done("test_realip");
}
