/*
 * resp_parse.h - incremental HTTP/1.1 response parser for the load generator.
 *
 * Bytes are fed as they arrive, in pieces of any size (a response may end in
 * the middle of a read, and the next response may start in the same read).
 * The parser frames the message - Content-Length, chunked, or "until the
 * server closes" - and decides whether the connection may be reused
 * (HTTP/1.1 without "Connection: close", or HTTP/1.0 with keep-alive). It
 * hands header fields and body bytes to optional callbacks, so a scenario can
 * pick a cookie or a token out of a page while the common case (just count
 * the status) costs a scan and nothing else. No allocation: one line buffer
 * inside the parser holds a header line that spans reads.
 */
#ifndef LT_RESP_PARSE_H
#define LT_RESP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define LT_RESP_LINE_MAX 8192

typedef enum {
    LT_RESP_OK = 0, /* need more bytes */
    LT_RESP_DONE,   /* one full response parsed */
    LT_RESP_ERROR   /* malformed: the connection cannot be used */
} lt_resp_rc;

typedef void (*lt_resp_header_fn)(void *ud, const char *name, size_t nlen, const char *val,
                                  size_t vlen);
typedef void (*lt_resp_body_fn)(void *ud, const char *p, size_t n);

typedef struct {
    int state;
    int status;     /* e.g. 200, valid once the status line is parsed */
    int keep_alive; /* 1: connection reusable after this response */
    int chunked;
    int until_close; /* body runs to EOF */
    int head;        /* response to HEAD: no body whatever the headers say */
    int64_t clen;    /* Content-Length, -1 if absent */
    uint64_t left;   /* body or chunk bytes still expected */
    uint64_t body_bytes;
    uint64_t total_bytes; /* bytes of this response, headers included */
    const char *err;      /* why LT_RESP_ERROR */
    lt_resp_header_fn on_header;
    lt_resp_body_fn on_body;
    void *ud;
    size_t llen;
    char line[LT_RESP_LINE_MAX];
} lt_resp_t;

/* Prepare for the next response; callbacks and ud are kept. */
void lt_resp_reset(lt_resp_t *r);
/* Consume up to n bytes; *used is set to the bytes that belong to this
 * response (the rest belong to the next one). */
lt_resp_rc lt_resp_feed(lt_resp_t *r, const char *p, size_t n, size_t *used);
/* The peer closed the connection: DONE if the body ran until close,
 * ERROR if a response was cut short, OK if nothing had started. */
lt_resp_rc lt_resp_eof(lt_resp_t *r);
/* 1 while no byte of the response has been seen. */
int lt_resp_idle(const lt_resp_t *r);

#endif
