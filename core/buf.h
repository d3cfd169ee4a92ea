/*
 * buf.h - growable byte buffer.
 *
 * Used for connection input/output and for building responses and profiles.
 * A buffer may carry a hard cap (buf.max) so a client can never make a
 * connection's buffer grow past a configured limit: appends past the cap fail
 * with -1 and leave the buffer unchanged. A buffer may also take its
 * storage from a bufpool (buf.pool), which counts it against a budget.
 */
#ifndef MG_BUF_H
#define MG_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct bufpool;

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t max;           /* 0 = unlimited */
    struct bufpool *pool; /* NULL: plain malloc; else storage from a pool */
} buf_t;

int buf_reserve(buf_t *b, size_t extra);
int buf_append(buf_t *b, const void *p, size_t n);
int buf_puts(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Append v in decimal (hot paths: no printf). */
int buf_put_u64(buf_t *b, uint64_t v);
/* Drop the first n bytes (consumed input). */
void buf_consume(buf_t *b, size_t n);
void buf_reset(buf_t *b);
/* Free storage; the buffer is reusable (empty) afterwards. */
void buf_free(buf_t *b);

#endif
