/*
 * prof_bucket.c - the shm bucket table (see prof_bucket.h).
 *
 * A new bucket's stack and kind are written first and its hash last, with a
 * release store, so a reader that sees a non-zero hash (acquire) sees the
 * whole stack. Buckets are never removed while the worker lives; a new
 * worker in the same slot clears the table in prof_worker_init().
 */
#include "sampler/prof_bucket.h"

#include <string.h>

static uint64_t bucket_hash(unsigned kind, const char *what, const uint64_t *pcs, unsigned n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ kind;
    for (unsigned i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; what && *what; what++)
        h = (h ^ (uint8_t)*what) * 0x100000001b3ull;
    return h ? h : 1;
}

static int bucket_eq(const prof_bucket_t *b, unsigned kind, const char *what, const uint64_t *pcs,
                     unsigned n)
{
    if (b->kind != kind || b->nframes != n)
        return 0;
    if (memcmp(b->pcs, pcs, n * sizeof *pcs) != 0)
        return 0;
    return strncmp(b->what, what ? what : "", sizeof b->what - 1) == 0;
}

prof_bucket_t *prof_bucket_get(void *area, unsigned kind, const char *what, const uint64_t *pcs,
                               unsigned n)
{
    prof_slot_t *s = prof_slot(area);
    prof_bucket_t *tab = prof_buckets(area);
    if (n > PROF_BUCKET_DEPTH)
        n = PROF_BUCKET_DEPTH;
    uint64_t h = bucket_hash(kind, what, pcs, n);
    size_t i = h % PROF_NBUCKETS;
    for (size_t probe = 0; probe < PROF_NBUCKETS; probe++, i = (i + 1) % PROF_NBUCKETS) {
        prof_bucket_t *b = &tab[i];
        uint64_t bh = atomic_load_explicit(&b->hash, memory_order_relaxed);
        if (bh == h && bucket_eq(b, kind, what, pcs, n))
            return b;
        if (bh != 0)
            continue;
        /* Keep a quarter free so probes stay short. */
        if (atomic_load_explicit(&s->nbuckets, memory_order_relaxed) * 4 >= PROF_NBUCKETS * 3)
            break;
        b->kind = kind;
        b->nframes = n;
        memset(b->what, 0, sizeof b->what);
        if (what)
            strncpy(b->what, what, sizeof b->what - 1);
        memcpy(b->pcs, pcs, n * sizeof *pcs);
        for (int k = 0; k < 4; k++)
            atomic_store_explicit(&b->v[k], 0, memory_order_relaxed);
        atomic_store_explicit(&b->hash, h, memory_order_release);
        atomic_fetch_add_explicit(&s->nbuckets, 1, memory_order_relaxed);
        return b;
    }
    atomic_fetch_add_explicit(&s->bucket_drops, 1, memory_order_relaxed);
    return NULL;
}
