/*
 * http.h - strict HTTP/1.1 request parsing (pure: no I/O, no allocation).
 *
 * http_parse_request() looks at the bytes received so far and either says
 * "need more", or fills an http_request_t whose strings point into the input
 * buffer, or returns the HTTP status that rejects the request. It is strict
 * where laxness is a smuggling risk: one Content-Length only, no obsolete
 * line folding, no whitespace before the colon, Transfer-Encoding on a
 * request is refused (501; 400 with Content-Length too), bare CR is an error,
 * bare LF line endings are accepted as RFC 9112 allows.
 */
#ifndef MG_HTTP_H
#define MG_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 64

typedef enum {
    HTTP_M_OTHER = 0,
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_PUT,
    HTTP_M_DELETE,
    HTTP_M_OPTIONS,
    HTTP_M_PATCH,
} http_method_t;

typedef struct {
    const char *p;
    size_t n;
} http_str_t;

typedef struct {
    http_str_t name;
    http_str_t value;
} http_header_t;

typedef struct {
    http_method_t method;
    http_str_t method_str;
    http_str_t target; /* as sent: path?query */
    http_str_t path;   /* target up to '?' (not percent-decoded) */
    http_str_t query;  /* after '?', may be empty */
    int version_minor; /* HTTP/1.x */
    http_header_t headers[HTTP_MAX_HEADERS];
    int nheaders;
    /* Derived while parsing. */
    int64_t content_length; /* -1 when absent */
    int keep_alive;
    int expect_continue;
    http_str_t host, cookie, content_type, csrf_header, user_agent, referer;
    http_str_t request_id_hdr; /* X-Request-Id as sent */
    size_t header_bytes;       /* request line + headers incl. final CRLF */
    /* The request's id (X-Request-Id when it is a sane token, else made by
     * the worker): the access log and the CPU profile's request_id label. */
    char request_id[40];
    /* Filled by the connection layer once the body is complete. */
    const char *body;
    size_t body_len;
} http_request_t;

typedef struct {
    size_t max_request_line; /* 414 past it */
    size_t max_header_bytes; /* 431 past it (all header lines together) */
    int max_headers;         /* 431 past it */
} http_limits_t;

/*
 * Returns >0: header bytes consumed (the body, if any, follows);
 *          0: incomplete, read more;
 *         <0: -STATUS (-400, -414, -431, -501, -505) to reply with and close.
 * On error *why (when non-NULL) gets a short human reason.
 */
int http_parse_request(const char *buf, size_t len, const http_limits_t *lim, http_request_t *req,
                       const char **why);

/* Case-insensitive header lookup; NULL when absent. */
const http_str_t *http_header(const http_request_t *req, const char *name);

/* Value of cookie `name` from a Cookie header; returns 1 when found. */
int http_cookie(const http_str_t *cookie_hdr, const char *name, http_str_t *out);

/* Value of query or urlencoded-form parameter `name`, percent-decoded into
 * out (NUL-terminated, at most outsz-1 bytes). 1 found, 0 absent, -1 bad
 * encoding or too long. */
int http_form_value(const char *s, size_t n, const char *name, char *out, size_t outsz);

/* Percent-decode (and '+' -> ' ' when plus_is_space). -1 on bad escape. */
long http_pct_decode(const char *s, size_t n, char *out, size_t outsz, int plus_is_space);

const char *http_status_text(int status);

static inline int http_str_eq(http_str_t s, const char *lit)
{
    size_t i = 0;
    for (; i < s.n; i++)
        if (lit[i] != s.p[i] || lit[i] == 0)
            return 0;
    return lit[i] == 0;
}

#endif
