/*
 * buf.c - growable byte buffer (see buf.h).
 *
 * Growth doubles capacity so appends are amortised O(1); a buffer with a
 * max refuses to grow past it, which is how connection input is bounded.
 */
#include "core/buf.h"

#include "core/bufpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_reserve(buf_t *b, size_t extra)
{
    size_t need = b->len + extra;
    if (need < b->len)
        return -1;
    if (need <= b->cap)
        return 0;
    if (b->pool)
        return bufpool_grow(b->pool, b, need);
    if (b->max && need > b->max)
        return -1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (b->max && cap > b->max)
        cap = b->max;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_puts(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof tmp)
        return buf_append(b, tmp, (size_t)n);
    if (buf_reserve(b, (size_t)n + 1) < 0)
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

int buf_put_u64(buf_t *b, uint64_t v)
{
    char d[20];
    int i = (int)sizeof d;
    do
        d[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i > 0);
    return buf_append(b, d + i, sizeof d - (size_t)i);
}

void buf_consume(buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
}

void buf_free(buf_t *b)
{
    if (b->pool) {
        bufpool_release(b->pool, b);
        return;
    }
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
