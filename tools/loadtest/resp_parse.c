/*
 * resp_parse.c - incremental HTTP/1.1 response parser; see resp_parse.h.
 *
 * The parser is a small state machine. Line states (status line, header
 * lines, chunk-size lines, the CRLF after a chunk, trailers) gather one line
 * at a time with memchr, copying into r->line only the part of a line that
 * arrives split across reads; body states just count bytes down and pass
 * them to on_body. 1xx interim responses (100 Continue) are skipped, as a
 * client must; 204, 304 and HEAD responses have no body whatever their
 * headers say.
 */
#include "tools/loadtest/resp_parse.h"

#include <string.h>
#include <strings.h>

enum {
    S_STATUS,
    S_HEADER,
    S_BODY,
    S_UNTIL_CLOSE,
    S_CHUNK_SIZE,
    S_CHUNK_DATA,
    S_CHUNK_CRLF,
    S_TRAILER,
    S_DONE,
    S_ERROR
};

void lt_resp_reset(lt_resp_t *r)
{
    r->state = S_STATUS;
    r->status = 0;
    r->keep_alive = 0;
    r->chunked = 0;
    r->until_close = 0;
    r->clen = -1;
    r->left = 0;
    r->body_bytes = 0;
    r->total_bytes = 0;
    r->err = NULL;
    r->llen = 0;
}

int lt_resp_idle(const lt_resp_t *r)
{
    return r->state == S_STATUS && r->llen == 0 && r->total_bytes == 0;
}

static lt_resp_rc fail(lt_resp_t *r, const char *why)
{
    r->state = S_ERROR;
    r->err = why;
    return LT_RESP_ERROR;
}

/* Does the comma-separated header value contain token tok? */
static int has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return 1;
    }
    return 0;
}

static lt_resp_rc status_line(lt_resp_t *r, const char *l, size_t n)
{
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
        return fail(r, "bad status line");
    if (l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9')
        return fail(r, "bad status code");
    if (n > 12 && l[12] != ' ')
        return fail(r, "bad status line");
    r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    r->keep_alive = l[7] == '1';
    r->state = S_HEADER;
    return LT_RESP_OK;
}

static lt_resp_rc header_line(lt_resp_t *r, const char *l, size_t n)
{
    const char *colon = memchr(l, ':', n);
    if (colon == NULL || colon == l)
        return fail(r, "bad header line");
    size_t nl = (size_t)(colon - l);
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (nl == 14 && strncasecmp(l, "content-length", 14) == 0) {
        int64_t x = 0;
        if (vl == 0 || vl > 18)
            return fail(r, "bad content-length");
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return fail(r, "bad content-length");
            x = x * 10 + (v[i] - '0');
        }
        if (r->clen >= 0 && r->clen != x)
            return fail(r, "conflicting content-length");
        r->clen = x;
    } else if (nl == 17 && strncasecmp(l, "transfer-encoding", 17) == 0) {
        if (has_token(v, vl, "chunked"))
            r->chunked = 1;
    } else if (nl == 10 && strncasecmp(l, "connection", 10) == 0) {
        if (has_token(v, vl, "close"))
            r->keep_alive = 0;
        else if (has_token(v, vl, "keep-alive"))
            r->keep_alive = 1;
    }
    if (r->on_header)
        r->on_header(r->ud, l, nl, v, vl);
    return LT_RESP_OK;
}

static lt_resp_rc headers_end(lt_resp_t *r)
{
    if (r->status >= 100 && r->status < 200 && r->status != 101) {
        /* Interim response: the real one follows. */
        uint64_t t = r->total_bytes;
        lt_resp_reset(r);
        r->total_bytes = t;
        return LT_RESP_OK;
    }
    if (r->head || r->status == 204 || r->status == 304 || r->status == 101) {
        r->state = S_DONE;
        return LT_RESP_DONE;
    }
    if (r->chunked) {
        r->state = S_CHUNK_SIZE;
        return LT_RESP_OK;
    }
    if (r->clen >= 0) {
        r->left = (uint64_t)r->clen;
        r->state = r->left ? S_BODY : S_DONE;
        return r->left ? LT_RESP_OK : LT_RESP_DONE;
    }
    r->until_close = 1;
    r->keep_alive = 0;
    r->state = S_UNTIL_CLOSE;
    return LT_RESP_OK;
}

static lt_resp_rc chunk_size(lt_resp_t *r, const char *l, size_t n)
{
    uint64_t x = 0;
    size_t i = 0;
    for (; i < n; i++) {
        char c = l[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            break;
        if (i >= 15)
            return fail(r, "chunk too large");
        x = x * 16 + (uint64_t)d;
    }
    if (i == 0 || (i < n && l[i] != ';' && l[i] != ' ' && l[i] != '\t'))
        return fail(r, "bad chunk size");
    if (x == 0) {
        r->state = S_TRAILER;
        return LT_RESP_OK;
    }
    r->left = x;
    r->state = S_CHUNK_DATA;
    return LT_RESP_OK;
}

/* One complete line (without CRLF) for the current line state. */
static lt_resp_rc on_line(lt_resp_t *r, const char *l, size_t n)
{
    switch (r->state) {
    case S_STATUS:
        return status_line(r, l, n);
    case S_HEADER:
        return n == 0 ? headers_end(r) : header_line(r, l, n);
    case S_CHUNK_SIZE:
        return chunk_size(r, l, n);
    case S_CHUNK_CRLF:
        if (n != 0)
            return fail(r, "missing CRLF after chunk");
        r->state = S_CHUNK_SIZE;
        return LT_RESP_OK;
    case S_TRAILER:
        if (n != 0)
            return LT_RESP_OK; /* trailer fields are ignored */
        r->state = S_DONE;
        return LT_RESP_DONE;
    }
    return fail(r, "parser state");
}

/* Gather a line from p; returns bytes consumed and calls on_line when the
 * line is complete. */
static size_t take_line(lt_resp_t *r, const char *p, size_t n, lt_resp_rc *rc)
{
    const char *nl = memchr(p, '\n', n);
    size_t part = nl ? (size_t)(nl - p) : n;
    *rc = LT_RESP_OK;
    if (nl && r->llen == 0) {
        /* Fast path: the whole line is in this read. */
        size_t ln = part;
        if (ln && p[ln - 1] == '\r')
            ln--;
        *rc = on_line(r, p, ln);
        return part + 1;
    }
    if (r->llen + part > LT_RESP_LINE_MAX) {
        *rc = fail(r, "header line too long");
        return n;
    }
    memcpy(r->line + r->llen, p, part);
    r->llen += part;
    if (!nl)
        return n;
    size_t ln = r->llen;
    if (ln && r->line[ln - 1] == '\r')
        ln--;
    r->llen = 0;
    *rc = on_line(r, r->line, ln);
    return part + 1;
}

static size_t take_body(lt_resp_t *r, const char *p, size_t n)
{
    size_t k = n;
    if (r->state != S_UNTIL_CLOSE && (uint64_t)k > r->left)
        k = (size_t)r->left;
    if (r->on_body && k)
        r->on_body(r->ud, p, k);
    r->body_bytes += k;
    if (r->state != S_UNTIL_CLOSE)
        r->left -= k;
    return k;
}

lt_resp_rc lt_resp_feed(lt_resp_t *r, const char *p, size_t n, size_t *used)
{
    size_t off = 0;
    lt_resp_rc rc = LT_RESP_OK;
    if (r->state == S_ERROR) {
        *used = 0;
        return LT_RESP_ERROR;
    }
    while (off < n && rc == LT_RESP_OK) {
        size_t k;
        switch (r->state) {
        case S_BODY:
        case S_UNTIL_CLOSE:
        case S_CHUNK_DATA:
            k = take_body(r, p + off, n - off);
            if (r->state == S_BODY && r->left == 0) {
                r->state = S_DONE;
                rc = LT_RESP_DONE;
            } else if (r->state == S_CHUNK_DATA && r->left == 0) {
                r->state = S_CHUNK_CRLF;
            }
            break;
        case S_DONE:
            k = 0;
            rc = LT_RESP_DONE;
            break;
        default:
            k = take_line(r, p + off, n - off, &rc);
            break;
        }
        off += k;
        r->total_bytes += k;
        if (k == 0 && rc == LT_RESP_OK)
            break;
    }
    *used = off;
    return rc;
}

lt_resp_rc lt_resp_eof(lt_resp_t *r)
{
    if (r->state == S_UNTIL_CLOSE) {
        r->state = S_DONE;
        return LT_RESP_DONE;
    }
    if (r->state == S_DONE)
        return LT_RESP_DONE;
    if (lt_resp_idle(r))
        return LT_RESP_OK;
    return fail(r, "connection closed mid-response");
}
