/*
 * return_url.c - the return-to decision: canonical form, then globs (see
 * return_url.h for the rules and why each one is there).
 *
 * Everything here is a pure function of its arguments, so the unit test and
 * the fuzz target can throw any bytes at it. The parser is written as a
 * whitelist: each byte must be one RFC 3986 allows at that place, which is
 * what makes the long list of open-redirect tricks (leading "//", "\\",
 * "https:evil", userinfo, escaped slashes, CRLF, tabs, look-alike Unicode)
 * fail without a rule of their own. The canonical output is rebuilt from
 * the parsed pieces, never copied from the input wholesale, so what reaches
 * a Location header is exactly what was checked.
 *
 * Glob matching is the classic one-star-backtrack loop, linear in practice.
 * In the authority a '*' matches only host characters [a-z0-9.-]; a
 * canonical authority has at most one byte outside that set (the ':' before
 * the port), and bracketed IPv6 patterns may not use '*', which keeps the
 * one-star loop exact there too.
 */
#include "core/return_url.h"

#include <string.h>

static int ru_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ru_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = ru_lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int ru_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Characters a path, query or fragment may hold as they are (RFC 3986
 * pchar plus '/', '?', '#'); '%' is checked separately. */
static int ru_rest_char(int c)
{
    return ru_alnum(c) || (c && strchr("-._~!$&'()*+,;=:@/?#", c));
}

static int ru_host_char(int c)
{
    return ru_alnum(c) || c == '.' || c == '-';
}

static int ru_fail(const char **why, const char *msg)
{
    if (why)
        *why = msg;
    return -1;
}

/* Check path[?query][#fragment] (n bytes): allowed characters, safe
 * escapes, no "." or ".." segment in the path. 0 or -1. */
static int ru_rest_ok(const char *s, size_t n, const char **why)
{
    size_t seg = 0; /* start of the current path segment */
    int in_path = 1;

    for (size_t i = 0; i <= n; i++) {
        int c = i < n ? (unsigned char)s[i] : 0;
        if (in_path && (i == n || c == '/' || c == '?' || c == '#')) {
            size_t len = i - seg;
            if ((len == 1 && s[seg] == '.') || (len == 2 && s[seg] == '.' && s[seg + 1] == '.'))
                return ru_fail(why, "\".\" or \"..\" path segment");
            seg = i + 1;
            if (c == '?' || c == '#')
                in_path = 0;
        }
        if (i == n)
            break;
        if (c == '%') {
            int h1 = i + 2 < n ? ru_hex((unsigned char)s[i + 1]) : -1;
            int h2 = i + 2 < n ? ru_hex((unsigned char)s[i + 2]) : -1;
            if (h1 < 0 || h2 < 0)
                return ru_fail(why, "bad percent escape");
            int v = h1 * 16 + h2;
            if (v < 0x20 || v == 0x7f || v == '/' || v == '\\' || v == '.' || v == '%')
                return ru_fail(why, "escaped slash, backslash, dot, percent or control");
            i += 2;
            continue;
        }
        if (!ru_rest_char(c))
            return ru_fail(why, c == '\\'               ? "backslash"
                                : c < 0x21 || c == 0x7f ? "space or control character"
                                : c >= 0x80             ? "non-ASCII byte"
                                                        : "character not allowed in a URL");
    }
    return 0;
}

/* "http" or "https" followed by "://": returns the scheme length (4 or 5),
 * or -1. */
static int ru_scheme(const char *s, size_t n)
{
    if (n >= 7 && ru_lower(s[0]) == 'h' && ru_lower(s[1]) == 't' && ru_lower(s[2]) == 't' &&
        ru_lower(s[3]) == 'p') {
        size_t k = 4;
        if (ru_lower(s[4]) == 's')
            k = 5;
        if (n >= k + 3 && s[k] == ':' && s[k + 1] == '/' && s[k + 2] == '/')
            return (int)k;
    }
    return -1;
}

typedef struct {
    const char *host; /* as written (case kept) */
    size_t hostn;
    const char *port; /* NULL when absent */
    size_t portn;
    int bracket; /* IPv6 literal */
} ru_auth_t;

/* Parse an authority. pattern: '*' allowed in a plain host and the port. */
static int ru_authority(const char *s, size_t n, int pattern, ru_auth_t *a, const char **why)
{
    size_t i = 0;

    memset(a, 0, sizeof *a);
    if (n == 0)
        return ru_fail(why, "no host");
    if (memchr(s, '@', n))
        return ru_fail(why, "user name in the URL (\"user@host\")");
    if (s[0] == '[') {
        const char *e = memchr(s, ']', n);
        if (!e || e - s < 3)
            return ru_fail(why, "bad IPv6 address");
        for (const char *p = s + 1; p < e; p++)
            if (ru_hex((unsigned char)*p) < 0 && *p != ':' && *p != '.')
                return ru_fail(why, "bad IPv6 address");
        a->bracket = 1;
        a->host = s;
        a->hostn = (size_t)(e - s) + 1;
        i = a->hostn;
    } else {
        while (i < n && s[i] != ':') {
            int c = (unsigned char)s[i];
            if (!ru_host_char(c) && !(pattern && c == '*'))
                return ru_fail(why, c == '%'    ? "percent escape in the host"
                                    : c >= 0x80 ? "non-ASCII host"
                                                : "character not allowed in a host");
            i++;
        }
        a->host = s;
        a->hostn = i;
        if (i == 0 || s[0] == '.' || s[i - 1] == '.' || memmem(s, i, "..", 2))
            return ru_fail(why, "empty host label");
    }
    if (i < n) {
        if (s[i] != ':' || i + 1 == n)
            return ru_fail(why, "bad port");
        a->port = s + i + 1;
        a->portn = n - i - 1;
        if (a->portn > 5 && !pattern)
            return ru_fail(why, "bad port");
        unsigned long v = 0;
        int star = 0;
        for (size_t k = 0; k < a->portn; k++) {
            char c = a->port[k];
            if (pattern && c == '*') {
                star = 1;
                continue;
            }
            if (c < '0' || c > '9')
                return ru_fail(why, "bad port");
            v = v * 10 + (unsigned long)(c - '0');
            if (v > 65535)
                return ru_fail(why, "bad port");
        }
        if (!star && (v == 0 || a->port[0] == '0'))
            return ru_fail(why, "bad port");
    }
    return 0;
}

static int ru_default_port(int https, const ru_auth_t *a)
{
    return a->port && ((https && a->portn == 3 && !memcmp(a->port, "443", 3)) ||
                       (!https && a->portn == 2 && !memcmp(a->port, "80", 2)));
}

int return_url_canon(const char *url, size_t n, char *out, size_t outsz, const char **why)
{
    size_t o = 0;

    if (n == 0)
        return ru_fail(why, "empty");
    if (n > RETURN_URL_MAX)
        return ru_fail(why, "too long");
    if (url[0] == '/') {
        if (n > 1 && url[1] == '/')
            return ru_fail(why, "starts with \"//\"");
        if (ru_rest_ok(url, n, why) < 0)
            return -1;
        if (n + 1 > outsz)
            return ru_fail(why, "too long");
        memcpy(out, url, n);
        out[n] = 0;
        return (int)n;
    }
    int k = ru_scheme(url, n);
    if (k < 0)
        return ru_fail(why, "neither a path nor an http(s):// URL");
    const char *as = url + k + 3, *end = url + n;
    const char *ae = as;
    while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
        ae++;
    ru_auth_t a;
    if (ru_authority(as, (size_t)(ae - as), 0, &a, why) < 0)
        return -1;
    if (ru_rest_ok(ae, (size_t)(end - ae), why) < 0)
        return -1;
    int keep_port = a.port && !ru_default_port(k == 5, &a);
    size_t need = (size_t)k + 3 + a.hostn + (keep_port ? a.portn + 1 : 0) +
                  (ae == end || *ae != '/' ? 1 : 0) + (size_t)(end - ae);
    if (need > RETURN_URL_MAX || need + 1 > outsz)
        return ru_fail(why, "too long");
    memcpy(out, k == 5 ? "https://" : "http://", (size_t)k + 3);
    o = (size_t)k + 3;
    for (size_t i = 0; i < a.hostn; i++)
        out[o++] = (char)ru_lower((unsigned char)a.host[i]);
    if (keep_port) {
        out[o++] = ':';
        memcpy(out + o, a.port, a.portn);
        o += a.portn;
    }
    if (ae == end || *ae != '/')
        out[o++] = '/';
    memcpy(out + o, ae, (size_t)(end - ae));
    o += (size_t)(end - ae);
    out[o] = 0;
    return (int)o;
}

int return_url_pattern_check(const char *pat, const char **why)
{
    size_t n = strlen(pat);

    if (n == 0 || n > RETURN_URL_MAX)
        return ru_fail(why, "empty or too long");
    if (pat[0] == '/') {
        if (n > 1 && pat[1] == '/')
            return ru_fail(why, "starts with \"//\"");
        return ru_rest_ok(pat, n, why);
    }
    int k = ru_scheme(pat, n);
    if (k < 0)
        return ru_fail(why, "must start with http://, https:// or /");
    const char *as = pat + k + 3, *ae = as;
    while (*ae && *ae != '/')
        ae++;
    if (memchr(as, '?', (size_t)(ae - as)) || memchr(as, '#', (size_t)(ae - as)))
        return ru_fail(why, "'?' or '#' before the path");
    ru_auth_t a;
    if (ru_authority(as, (size_t)(ae - as), 1, &a, why) < 0)
        return -1;
    if (a.bracket && memchr(as, '*', (size_t)(ae - as)))
        return ru_fail(why, "'*' in an IPv6 address");
    if (ru_default_port(k == 5, &a))
        return ru_fail(why, "default port written out (drop it)");
    return ru_rest_ok(ae, strlen(ae), why);
}

/* Glob with '*' as the only wildcard. host: compare case-blind and let '*'
 * match host characters only. */
static int ru_glob(const char *p, size_t pn, const char *s, size_t sn, int host)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

    while (si < sn) {
        if (pi < pn && p[pi] == '*') {
            star = pi++;
            mark = si;
            continue;
        }
        if (pi < pn && (host ? ru_lower((unsigned char)p[pi]) : p[pi]) == s[si]) {
            pi++;
            si++;
            continue;
        }
        if (star != (size_t)-1 && (!host || ru_host_char((unsigned char)s[mark]))) {
            pi = star + 1;
            si = ++mark;
            continue;
        }
        return 0;
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

int return_url_match(const char *pat, const char *canon)
{
    size_t pn = strlen(pat), cn = strlen(canon);

    if (pat[0] == '/')
        return canon[0] == '/' && ru_glob(pat, pn, canon, cn, 0);
    int pk = ru_scheme(pat, pn), ck = ru_scheme(canon, cn);
    if (pk < 0 || pk != ck)
        return 0;
    const char *pa = pat + pk + 3, *pe = strchr(pa, '/');
    const char *ca = canon + ck + 3, *ce = strchr(ca, '/');
    if (!ce)
        return 0; /* not canonical */
    if (!pe)
        pe = pat + pn;
    if (!ru_glob(pa, (size_t)(pe - pa), ca, (size_t)(ce - ca), 1))
        return 0;
    if (*pe == 0)
        return 1; /* no path in the pattern: any path */
    return ru_glob(pe, strlen(pe), ce, strlen(ce), 0);
}

int return_url_allowed(const char *url, size_t n, const char *const *pats, int npats, char *out,
                       size_t outsz)
{
    if (return_url_canon(url, n, out, outsz, NULL) < 0)
        return -1;
    for (int i = 0; i < npats; i++)
        if (return_url_match(pats[i], out))
            return (int)strlen(out);
    out[0] = 0;
    return -1;
}

int return_url_escape(const char *s, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (ru_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            if (o + 1 >= outsz)
                return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outsz)
                return -1;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= outsz)
        return -1;
    out[o] = 0;
    return (int)o;
}
