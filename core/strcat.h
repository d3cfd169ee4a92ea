/*
 * strcat.h - building short strings on hot paths without printf.
 *
 * A request to POST /magic/generate used to make seven snprintf() calls (a
 * rate-limit key, the link, numbers in the page and the outbox line), each
 * a pass through vfprintf's format parser for what is a memcpy or a few
 * divisions. These helpers write into a fixed buffer with a position and an
 * end, and remember when something did not fit: build, then check once.
 *
 *   sc_t s = sc_init(buf, sizeof buf);
 *   sc_str(&s, "i:"); sc_str(&s, peer); sc_u64(&s, n);
 *   if (!sc_ok(&s)) ... (buf is still NUL-terminated, truncated)
 */
#ifndef MG_STRCAT_H
#define MG_STRCAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *p, *start, *end; /* end: the last byte, kept for the NUL */
    int overflow;
} sc_t;

static inline sc_t sc_init(char *buf, size_t n)
{
    sc_t s = {buf, buf, buf + (n ? n - 1 : 0), n == 0};
    if (n)
        *buf = '\0';
    return s;
}

static inline void sc_mem(sc_t *s, const char *p, size_t n)
{
    if (s->overflow)
        return;
    if ((size_t)(s->end - s->p) < n) {
        n = (size_t)(s->end - s->p);
        s->overflow = 1;
    }
    memcpy(s->p, p, n);
    s->p += n;
    *s->p = '\0';
}

static inline void sc_str(sc_t *s, const char *str)
{
    sc_mem(s, str, strlen(str));
}

static inline void sc_u64(sc_t *s, uint64_t v)
{
    char d[20];
    int i = (int)sizeof d;
    do
        d[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i > 0);
    sc_mem(s, d + i, sizeof d - (size_t)i);
}

static inline size_t sc_len(const sc_t *s)
{
    return (size_t)(s->p - s->start);
}

static inline int sc_ok(const sc_t *s)
{
    return !s->overflow;
}

#endif
