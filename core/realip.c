/*
 * realip.c - the client address of a request (see realip.h for the rules).
 *
 * Everything works on one 16-byte form: IPv4 is kept IPv4-mapped, so a
 * trusted network, a peer and a forwarded address compare with one prefix
 * match whatever family each was written in, and "127.0.0.1/8" written by
 * an operator matches "::ffff:127.0.0.1" reported by a dual-stack socket.
 *
 * Header values are parsed from the request buffer in place (http_str_t,
 * not NUL-terminated): each comma-separated entry is copied to a small stack
 * buffer for inet_pton. X-Forwarded-For may be split over several header
 * lines; they are one list in order (RFC 9110 5.3), so the walk goes over
 * the lines from the last to the first and over each line from its end.
 */
#include "core/realip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/strcat.h"

static const uint8_t realip_v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int realip_is_v4(const realip_addr_t *a)
{
    return memcmp(a->a, realip_v4_prefix, 12) == 0;
}

int realip_parse_addr(const char *s, size_t n, realip_addr_t *out)
{
    char buf[INET6_ADDRSTRLEN + 2];

    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, out->a + 12) == 1) {
        memcpy(out->a, realip_v4_prefix, 12);
        return 0;
    }
    return inet_pton(AF_INET6, buf, out->a) == 1 ? 0 : -1;
}

static void realip_mask(realip_addr_t *a, int bits)
{
    for (int i = 0; i < 16; i++) {
        int keep = bits - 8 * i;
        if (keep >= 8)
            continue;
        a->a[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

int realip_parse_cidr(const char *s, realip_cidr_t *out)
{
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    int bits;

    if (realip_parse_addr(s, n, &out->net) < 0)
        return -1;
    int v4 = realip_is_v4(&out->net), max = v4 ? 32 : 128;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || b < 0 || b > max)
            return -1;
        bits = (int)b;
    } else {
        bits = max;
    }
    out->bits = v4 ? 96 + bits : bits;
    realip_mask(&out->net, out->bits);
    return 0;
}

int realip_from_sockaddr(const struct sockaddr *sa, realip_addr_t *out)
{
    if (sa->sa_family == AF_INET) {
        memcpy(out->a, realip_v4_prefix, 12);
        memcpy(out->a + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out->a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

int realip_trusted(const realip_conf_t *rc, const realip_addr_t *a)
{
    for (int i = 0; i < rc->nfrom; i++) {
        realip_addr_t m = *a;
        realip_mask(&m, rc->from[i].bits);
        if (memcmp(m.a, rc->from[i].net.a, 16) == 0)
            return 1;
    }
    return 0;
}

/* Walk one X-Forwarded-For line from its end. Returns 1 when the client was
 * found (in *client), 0 to go on with the line before (every entry was
 * trusted; *client holds the leftmost), -1 to stop at *client (a bad
 * entry). */
static int realip_xff_line(const realip_conf_t *rc, http_str_t v, realip_addr_t *client)
{
    size_t end = v.n;

    for (;;) {
        size_t start = end;
        while (start > 0 && v.p[start - 1] != ',')
            start--;
        size_t len = end - start;
        const char *e = v.p + start;
        size_t skip = 0;
        while (skip < len && (e[skip] == ' ' || e[skip] == '\t'))
            skip++;
        if (skip < len) { /* an empty entry (", ,") is no hop */
            realip_addr_t a;
            if (realip_parse_addr(e, len, &a) < 0)
                return -1;
            *client = a;
            if (!realip_trusted(rc, &a))
                return 1;
        }
        if (start == 0)
            return 0;
        end = start - 1;
    }
}

void realip_client(const realip_conf_t *rc, const realip_addr_t *peer, const http_request_t *req,
                   realip_addr_t *client)
{
    *client = *peer;
    if (rc->header == REALIP_HEADER_NONE || !realip_trusted(rc, peer))
        return;
    const char *name = rc->header == REALIP_HEADER_XFF ? "X-Forwarded-For" : "X-Real-IP";
    size_t nl = strlen(name);
    for (int i = req->nheaders - 1; i >= 0; i--) {
        const http_header_t *h = &req->headers[i];
        if (h->name.n != nl || strncasecmp(h->name.p, name, nl) != 0)
            continue;
        if (rc->header == REALIP_HEADER_X_REAL_IP) {
            realip_addr_t a;
            if (realip_parse_addr(h->value.p, h->value.n, &a) == 0)
                *client = a;
            return; /* the last X-Real-IP line is the proxy's */
        }
        if (realip_xff_line(rc, h->value, client) != 0)
            return;
    }
}

/* A dotted quad, written here: glibc's inet_ntop formats IPv4 with
 * sprintf, and this runs for every rate-limited request (its key, the
 * mail's "requested from" line). Like inet_ntop, -1 when it does not fit. */
static int realip_format_v4(const uint8_t b[4], char *out, size_t outsz)
{
    char t[16];
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            t[n++] = (char)('0' + v / 100);
        if (v >= 10)
            t[n++] = (char)('0' + v / 10 % 10);
        t[n++] = (char)('0' + v % 10);
        t[n++] = '.';
    }
    n--; /* the last dot */
    if (n + 1 > outsz)
        return -1;
    memcpy(out, t, n);
    out[n] = '\0';
    return (int)n;
}

int realip_format(const realip_addr_t *a, char *out, size_t outsz)
{
    if (realip_is_v4(a))
        return realip_format_v4(a->a + 12, out, outsz);
    return inet_ntop(AF_INET6, a->a, out, (socklen_t)outsz) ? (int)strlen(out) : -1;
}

int realip_key(int ipv6_prefix, const realip_addr_t *client, char *out, size_t outsz)
{
    char text[INET6_ADDRSTRLEN];
    realip_addr_t a = *client;
    int whole = realip_is_v4(&a) || ipv6_prefix <= 0 || ipv6_prefix >= 128, n; /* no mask */
    sc_t k = sc_init(out, outsz);

    if (!whole)
        realip_mask(&a, ipv6_prefix);
    if ((n = realip_format(&a, text, sizeof text)) < 0)
        return -1;
    sc_mem(&k, "i:", 2);
    sc_mem(&k, text, (size_t)n);
    if (!whole) {
        sc_mem(&k, "/", 1);
        sc_u64(&k, (uint64_t)ipv6_prefix);
    }
    return sc_ok(&k) ? (int)sc_len(&k) : -1;
}
