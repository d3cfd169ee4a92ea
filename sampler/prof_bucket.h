/*
 * prof_bucket.h - cumulative heap, block and mutex records in shared memory.
 *
 * Like the Go runtime's mprof buckets: one record per distinct (kind, stack,
 * what), found by hash, holding running totals that only grow. The worker is
 * the only writer (from ordinary code, never from a signal handler); the
 * profiler reads the table whenever a profile is asked for, and a delta
 * profile is two reads subtracted. The table is open-addressed in the
 * worker's prof area; when it is full new stacks are counted as dropped.
 */
#ifndef MG_PROF_BUCKET_H
#define MG_PROF_BUCKET_H

#include "sampler/prof_shm.h"

/* Find or create; NULL when the table is full. Worker only. */
prof_bucket_t *prof_bucket_get(void *area, unsigned kind, const char *what, const uint64_t *pcs,
                               unsigned n);

static inline void prof_bucket_add(prof_bucket_t *b, int i, int64_t v)
{
    /* Single writer: a relaxed load + store is enough and avoids a locked
     * instruction; readers see whole 64-bit values. */
    atomic_store_explicit(&b->v[i], atomic_load_explicit(&b->v[i], memory_order_relaxed) + v,
                          memory_order_relaxed);
}

#endif
