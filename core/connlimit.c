/*
 * connlimit.c - per-address connection counts (see connlimit.h).
 */
#include "core/connlimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    connlimit_key_t key;
    uint32_t n;   /* 0 = empty slot */
    size_t bytes; /* scratch tally, see connlimit_bytes_clear */
} entry_t;

struct connlimit {
    entry_t *e;
    size_t mask;
};

connlimit_t *connlimit_new(int max_conns)
{
    connlimit_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t n = 64;
    while (n < (size_t)(max_conns > 0 ? max_conns : 1) * 2)
        n *= 2;
    t->e = calloc(n, sizeof *t->e);
    if (!t->e) {
        free(t);
        return NULL;
    }
    t->mask = n - 1;
    return t;
}

void connlimit_free(connlimit_t *t)
{
    if (!t)
        return;
    free(t->e);
    free(t);
}

void connlimit_key(const struct sockaddr_storage *ss, connlimit_key_t *k)
{
    memset(k, 0, sizeof *k);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        k->b[10] = k->b[11] = 0xff; /* ::ffff:a.b.c.d */
        memcpy(k->b + 12, &a->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a->sin6_addr.s6_addr, v4mapped, 12) == 0)
            memcpy(k->b, a->sin6_addr.s6_addr, 16);
        else
            memcpy(k->b, a->sin6_addr.s6_addr, 8); /* the /64 */
    }
}

static size_t hash(const connlimit_key_t *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ k->b[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

static size_t find(const connlimit_t *t, const connlimit_key_t *k)
{
    size_t i = hash(k) & t->mask;
    while (t->e[i].n && memcmp(&t->e[i].key, k, sizeof *k))
        i = (i + 1) & t->mask;
    return i;
}

int connlimit_add(connlimit_t *t, const connlimit_key_t *k, int cap)
{
    size_t i = find(t, k);
    if (t->e[i].n == 0)
        t->e[i].key = *k;
    else if (cap > 0 && t->e[i].n >= (uint32_t)cap)
        return 0;
    t->e[i].n++;
    return 1;
}

void connlimit_del(connlimit_t *t, const connlimit_key_t *k)
{
    size_t i = find(t, k);
    if (t->e[i].n == 0 || --t->e[i].n)
        return;
    /* Backward-shift deletion: pull later members of the probe run into
     * the hole so lookups never stop at an empty slot too early. */
    for (size_t j = (i + 1) & t->mask; t->e[j].n; j = (j + 1) & t->mask) {
        size_t home = hash(&t->e[j].key) & t->mask;
        /* e[j] may move to i when its home is not in (i, j]. */
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->e[i] = t->e[j];
            t->e[j].n = 0;
            i = j;
        }
    }
}

int connlimit_count(const connlimit_t *t, const connlimit_key_t *k)
{
    return (int)t->e[find(t, k)].n;
}

int connlimit_heaviest(const connlimit_t *t, connlimit_key_t *k)
{
    uint32_t best = 0;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->e[i].n > best) {
            best = t->e[i].n;
            *k = t->e[i].key;
        }
    return (int)best;
}

void connlimit_bytes_clear(connlimit_t *t)
{
    for (size_t i = 0; i <= t->mask; i++)
        t->e[i].bytes = 0;
}

void connlimit_bytes_add(connlimit_t *t, const connlimit_key_t *k, size_t n)
{
    size_t i = find(t, k);
    if (t->e[i].n)
        t->e[i].bytes += n;
}

size_t connlimit_bytes_heaviest(const connlimit_t *t, connlimit_key_t *k)
{
    size_t best = 0;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->e[i].n && t->e[i].bytes > best) {
            best = t->e[i].bytes;
            *k = t->e[i].key;
        }
    return best;
}
