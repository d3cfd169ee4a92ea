/*
 * http_parse.c - strict HTTP/1.1 request parser (see http.h).
 *
 * The parser is a straight scan over the bytes received so far: it first
 * finds the end of the header block (so an incomplete request costs one
 * memchr-driven scan and no state), then validates the request line and
 * each header field strictly, and derives what the connection layer needs
 * (Content-Length, keep-alive, Expect, a few well-known headers).
 *
 * The strictness is deliberate: request smuggling lives in the gaps between
 * lenient parsers. We refuse obs-fold, whitespace before ':', duplicate or
 * non-numeric Content-Length, Transfer-Encoding on requests, bare CR, NUL and
 * control characters, and a missing or duplicated Host on HTTP/1.1.
 */
#include "core/http.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/swar.h"

/* RFC 9110 tchar */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

#define FAIL(st, msg)                                                                              \
    do {                                                                                           \
        if (why)                                                                                   \
            *why = (msg);                                                                          \
        return -(st);                                                                              \
    } while (0)

/* Find the end of the line starting at p: returns the index of '\n' or -1.
 * *eol gets the index where the line's content ends (before CR). */
static long line_end(const char *buf, size_t start, size_t len, size_t *eol)
{
    const char *nl = memchr(buf + start, '\n', len - start);
    if (!nl)
        return -1;
    size_t i = (size_t)(nl - buf);
    *eol = (i > start && buf[i - 1] == '\r') ? i - 1 : i;
    return (long)i;
}

static http_method_t method_of(const char *p, size_t n)
{
    switch (n) {
    case 3:
        if (!memcmp(p, "GET", 3))
            return HTTP_M_GET;
        if (!memcmp(p, "PUT", 3))
            return HTTP_M_PUT;
        break;
    case 4:
        if (!memcmp(p, "POST", 4))
            return HTTP_M_POST;
        if (!memcmp(p, "HEAD", 4))
            return HTTP_M_HEAD;
        break;
    case 5:
        if (!memcmp(p, "PATCH", 5))
            return HTTP_M_PATCH;
        break;
    case 6:
        if (!memcmp(p, "DELETE", 6))
            return HTTP_M_DELETE;
        break;
    case 7:
        if (!memcmp(p, "OPTIONS", 7))
            return HTTP_M_OPTIONS;
        break;
    }
    return HTTP_M_OTHER;
}

/* lit is lowercase. ASCII only, as header names are (tchar): no locale,
 * no library call for the few bytes of a name. */
static int name_is(const http_str_t *n, const char *lit, size_t litn)
{
    if (n->n != litn)
        return 0;
    for (size_t i = 0; i < litn; i++) {
        unsigned char c = (unsigned char)n->p[i];
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (c != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

/* Does v[0..n) hold a byte a field value may not (a control character
 * other than HTAB, or DEL)? Eight bytes at a time: a word with no byte
 * below 0x20 and none equal to 0x7f is passed whole (the usual case, a
 * cookie or a token), and only a word that has one (a tab, or a bad byte)
 * is looked at byte by byte. This is most of the parser's time otherwise. */
static int value_bad(const char *v, size_t n)
{
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w = swar_load(v + k);
        if (swar_has_below(w, 0x20) | swar_has_byte(w, 0x7f))
            break;
    }
    for (; k < n; k++) {
        unsigned char ch = (unsigned char)v[k];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 1;
    }
    return 0;
}

/* Does a comma-separated token list contain tok (case-insensitive)? */
static int list_has(const http_str_t *v, const char *tok)
{
    size_t tn = strlen(tok), i = 0;
    while (i < v->n) {
        while (i < v->n && (v->p[i] == ' ' || v->p[i] == '\t' || v->p[i] == ','))
            i++;
        size_t s = i;
        while (i < v->n && v->p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v->p[e - 1] == ' ' || v->p[e - 1] == '\t'))
            e--;
        if (e - s == tn && strncasecmp(v->p + s, tok, tn) == 0)
            return 1;
    }
    return 0;
}

static int parse_request_line(const char *p, size_t n, http_request_t *req, const char **why)
{
    size_t i = 0;
    while (i < n && tchar[(unsigned char)p[i]])
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        FAIL(400, "malformed request line");
    req->method_str = (http_str_t){p, i};
    req->method = method_of(p, i);
    size_t ts = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char ch = (unsigned char)p[i];
        if (ch <= 0x20 || ch == 0x7f)
            FAIL(400, "invalid character in request target");
        i++;
    }
    if (i == ts || i >= n)
        FAIL(400, "malformed request line");
    req->target = (http_str_t){p + ts, i - ts};
    if (p[ts] != '/' && !(i - ts == 1 && p[ts] == '*'))
        FAIL(400, "request target must be an absolute path");
    const char *q = memchr(req->target.p, '?', req->target.n);
    if (q) {
        req->path = (http_str_t){req->target.p, (size_t)(q - req->target.p)};
        req->query = (http_str_t){q + 1, req->target.n - req->path.n - 1};
    } else {
        req->path = req->target;
        req->query = (http_str_t){q, 0};
    }
    i++;
    if (n - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 6] != '.' || p[i + 5] < '0' ||
        p[i + 5] > '9' || p[i + 7] < '0' || p[i + 7] > '9')
        FAIL(400, "malformed HTTP version");
    if (p[i + 5] != '1')
        FAIL(505, "only HTTP/1.x is supported");
    req->version_minor = p[i + 7] - '0';
    return 0;
}

static int parse_content_length(const http_str_t *v, int64_t *out)
{
    if (v->n == 0 || v->n > 15)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->p[i] < '0' || v->p[i] > '9')
            return -1;
        x = x * 10 + (v->p[i] - '0');
    }
    *out = x;
    return 0;
}

/* Check one field line and record what the request needs from it. */
static int parse_header(const char *p, size_t n, http_request_t *req, int *seen_host, int *seen_te,
                        const char **why)
{
    if (p[0] == ' ' || p[0] == '\t')
        FAIL(400, "obsolete line folding is not allowed");
    size_t i = 0;
    while (i < n && tchar[(unsigned char)p[i]])
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        FAIL(400, "malformed header field");
    http_header_t *h = &req->headers[req->nheaders++];
    h->name = (http_str_t){p, i};
    i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t e = n;
    while (e > i && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    if (value_bad(p + i, e - i))
        FAIL(400, "invalid character in header value");
    h->value = (http_str_t){p + i, e - i};

    const http_str_t *nm = &h->name;
    switch (nm->n) {
    case 4:
        if (name_is(nm, "host", 4)) {
            if ((*seen_host)++)
                FAIL(400, "duplicate Host header");
            req->host = h->value;
        }
        break;
    case 6:
        if (name_is(nm, "cookie", 6)) {
            if (req->cookie.n) /* several Cookie lines: only the first is used */
                break;
            req->cookie = h->value;
        } else if (name_is(nm, "expect", 6)) {
            if (!list_has(&h->value, "100-continue"))
                FAIL(417, "unsupported expectation");
            req->expect_continue = 1;
        }
        break;
    case 7:
        if (name_is(nm, "referer", 7))
            req->referer = h->value;
        break;
    case 10:
        if (name_is(nm, "connection", 10)) {
            if (list_has(&h->value, "close"))
                req->keep_alive = 0;
            else if (list_has(&h->value, "keep-alive"))
                req->keep_alive = 1;
        } else if (name_is(nm, "user-agent", 10)) {
            req->user_agent = h->value;
        }
        break;
    case 12:
        if (name_is(nm, "content-type", 12))
            req->content_type = h->value;
        else if (name_is(nm, "x-csrf-token", 12))
            req->csrf_header = h->value;

        break;
    case 14:
        if (name_is(nm, "content-length", 14)) {
            if (req->content_length >= 0)
                FAIL(400, "more than one Content-Length");
            if (parse_content_length(&h->value, &req->content_length) < 0)
                FAIL(400, "invalid Content-Length");
        }
        break;
    case 17:
        if (name_is(nm, "transfer-encoding", 17))
            (*seen_te)++;
        break;
    }
    return 0;
}

int http_parse_request(const char *buf, size_t len, const http_limits_t *lim, http_request_t *req,
                       const char **why)
{
    size_t pos = 0, eol;
    /* RFC 9112 2.2: ignore empty lines before the request line. */
    while (pos < len && pos < 4 && (buf[pos] == '\r' || buf[pos] == '\n'))
        pos++;
    long nl = line_end(buf, pos, len, &eol);
    if (nl < 0) {
        if (len - pos > lim->max_request_line)
            FAIL(414, "request line too long");
        if (memchr(buf + pos, 0, len - pos))
            FAIL(400, "NUL in request");
        return 0;
    }
    if (eol - pos > lim->max_request_line)
        FAIL(414, "request line too long");

    /* Find the end of the header block before validating anything else. */
    size_t hstart = (size_t)nl + 1, p = hstart, end = 0;
    for (;;) {
        size_t e2;
        long n2 = line_end(buf, p, len, &e2);
        if (n2 < 0) {
            if (len - hstart > lim->max_header_bytes)
                FAIL(431, "request header fields too large");
            return 0;
        }
        if (e2 == p) {
            end = (size_t)n2 + 1;
            break;
        }
        p = (size_t)n2 + 1;
        if (p - hstart > lim->max_header_bytes)
            FAIL(431, "request header fields too large");
    }

    memset(req, 0, offsetof(http_request_t, headers));
    req->nheaders = 0;
    req->content_length = -1;
    req->keep_alive = -1;
    req->expect_continue = 0;
    req->host = req->cookie = req->content_type = req->csrf_header = (http_str_t){NULL, 0};
    req->user_agent = req->referer = (http_str_t){NULL, 0};
    req->body = NULL;
    req->body_len = 0;

    if (memchr(buf + pos, 0, end - pos))
        FAIL(400, "NUL in request");
    if (memchr(buf + pos, '\r', eol - pos))
        FAIL(400, "bare CR in request line");
    int r = parse_request_line(buf + pos, eol - pos, req, why);
    if (r < 0)
        return r;

    int seen_host = 0, seen_te = 0;
    p = hstart;
    int maxh = lim->max_headers > 0 && lim->max_headers < HTTP_MAX_HEADERS ? lim->max_headers
                                                                           : HTTP_MAX_HEADERS;
    for (;;) {
        size_t e2 = p;
        long n2 = line_end(buf, p, len, &e2);
        if (n2 < 0 || e2 == p)
            break;
        if (memchr(buf + p, '\r', e2 - p))
            FAIL(400, "bare CR in header");
        if (req->nheaders >= maxh)
            FAIL(431, "too many header fields");
        r = parse_header(buf + p, e2 - p, req, &seen_host, &seen_te, why);
        if (r < 0)
            return r;
        p = (size_t)n2 + 1;
    }

    if (seen_te) {
        if (req->content_length >= 0)
            FAIL(400, "both Transfer-Encoding and Content-Length");
        FAIL(501, "Transfer-Encoding on requests is not supported; send Content-Length");
    }
    if (req->version_minor >= 1 && !seen_host)
        FAIL(400, "missing Host header");
    if (req->keep_alive < 0)
        req->keep_alive = req->version_minor >= 1;
    req->header_bytes = end;
    return (int)end;
}

const http_str_t *http_header(const http_request_t *req, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->nheaders; i++)
        if (req->headers[i].name.n == n && strncasecmp(req->headers[i].name.p, name, n) == 0)
            return &req->headers[i].value;
    return NULL;
}

int http_cookie(const http_str_t *hdr, const char *name, http_str_t *out)
{
    if (!hdr || !hdr->p)
        return 0;
    size_t nn = strlen(name), i = 0;
    while (i < hdr->n) {
        while (i < hdr->n && (hdr->p[i] == ' ' || hdr->p[i] == ';'))
            i++;
        size_t s = i;
        while (i < hdr->n && hdr->p[i] != ';')
            i++;
        const char *eq = memchr(hdr->p + s, '=', i - s);
        if (eq && (size_t)(eq - (hdr->p + s)) == nn && memcmp(hdr->p + s, name, nn) == 0) {
            const char *v = eq + 1;
            size_t vn = (size_t)(hdr->p + i - v);
            while (vn && (v[vn - 1] == ' '))
                vn--;
            if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
                v++;
                vn -= 2;
            }
            *out = (http_str_t){v, vn};
            return 1;
        }
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long http_pct_decode(const char *s, size_t n, char *out, size_t outsz, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o + 1 >= outsz)
            return -1;
        out[o++] = c;
    }
    if (outsz)
        out[o] = 0;
    return (long)o;
}

int http_form_value(const char *s, size_t n, const char *name, char *out, size_t outsz)
{
    size_t nn = strlen(name), i = 0;
    while (i < n) {
        size_t st = i;
        while (i < n && s[i] != '&')
            i++;
        const char *eq = memchr(s + st, '=', i - st);
        size_t kn = eq ? (size_t)(eq - (s + st)) : i - st;
        if (kn == nn && memcmp(s + st, name, nn) == 0) {
            const char *v = eq ? eq + 1 : s + i;
            size_t vn = eq ? (size_t)(s + i - v) : 0;
            return http_pct_decode(v, vn, out, outsz, 1) < 0 ? -1 : 1;
        }
        i++;
    }
    return 0;
}

const char *http_status_text(int st)
{
    switch (st) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
