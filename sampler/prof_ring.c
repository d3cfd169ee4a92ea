/*
 * prof_ring.c - SPSC ring of CPU samples in shared memory (see prof_ring.h).
 *
 * Record layout in words, wrapping at PROF_RING_WORDS:
 *     [PROF_REC_MARK | weight << 16 | route << 8 | nframes] [timestamp ns] [pc] ...
 * The producer fills the words, then publishes with a release store of head;
 * the consumer reads head with acquire, copies records out, then releases
 * tail, which is what lets the producer reuse the space.
 */
#include "sampler/prof_ring.h"

#include <string.h>

int prof_ring_put(prof_slot_t *s, _Atomic uint64_t *ring, unsigned route, unsigned weight,
                  uint64_t ts, const char *rid, const uint64_t *pcs, unsigned n)
{
    if (n > PROF_STACK_MAX)
        n = PROF_STACK_MAX;
    unsigned extra = rid ? PROF_RID_WORDS : 0;
    uint64_t need = 2 + extra + n;
    uint64_t head = atomic_load_explicit(&s->cpu_head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&s->cpu_tail, memory_order_acquire);
    if (head - tail + need > PROF_RING_WORDS) {
        atomic_fetch_add_explicit(&s->cpu_drops, 1, memory_order_relaxed);
        return -1;
    }
    if (weight > 0xffff)
        weight = 0xffff;
    uint64_t h = PROF_REC_MARK | (rid ? PROF_REC_RID : 0) | ((uint64_t)weight << 16) |
                 ((uint64_t)(route & 0xff) << 8) | n;
    atomic_store_explicit(&ring[head % PROF_RING_WORDS], h, memory_order_relaxed);
    atomic_store_explicit(&ring[(head + 1) % PROF_RING_WORDS], ts, memory_order_relaxed);
    for (unsigned i = 0; i < extra; i++) {
        uint64_t w;
        memcpy(&w, rid + 8 * i, 8);
        atomic_store_explicit(&ring[(head + 2 + i) % PROF_RING_WORDS], w, memory_order_relaxed);
    }
    for (unsigned i = 0; i < n; i++)
        atomic_store_explicit(&ring[(head + 2 + extra + i) % PROF_RING_WORDS], pcs[i],
                              memory_order_relaxed);
    atomic_store_explicit(&s->cpu_head, head + need, memory_order_release);
    atomic_fetch_add_explicit(&s->cpu_samples, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cpu_periods, weight, memory_order_relaxed);
    return 0;
}

unsigned prof_ring_drain(prof_slot_t *s, _Atomic uint64_t *ring, prof_ring_fn fn, void *arg)
{
    uint64_t head = atomic_load_explicit(&s->cpu_head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&s->cpu_tail, memory_order_relaxed);
    unsigned nrec = 0;
    uint64_t pcs[PROF_STACK_MAX], ridw[PROF_RID_WORDS];
    if (head - tail > PROF_RING_WORDS) /* re-initialised slot */
        tail = head;
    while (head - tail >= 2) {
        uint64_t h = atomic_load_explicit(&ring[tail % PROF_RING_WORDS], memory_order_relaxed);
        unsigned n = PROF_REC_N(h);
        unsigned extra = (h & PROF_REC_RID) ? PROF_RID_WORDS : 0;
        if (!(h & PROF_REC_MARK) || n > PROF_STACK_MAX || head - tail < 2 + extra + n) {
            tail = head;
            break;
        }
        uint64_t ts =
            atomic_load_explicit(&ring[(tail + 1) % PROF_RING_WORDS], memory_order_relaxed);
        for (unsigned i = 0; i < extra; i++)
            ridw[i] =
                atomic_load_explicit(&ring[(tail + 2 + i) % PROF_RING_WORDS], memory_order_relaxed);
        for (unsigned i = 0; i < n; i++)
            pcs[i] = atomic_load_explicit(&ring[(tail + 2 + extra + i) % PROF_RING_WORDS],
                                          memory_order_relaxed);
        tail += 2 + extra + n;
        char *rid = NULL;
        if (extra) {
            rid = (char *)ridw;
            rid[PROF_RID_BYTES - 1] = 0;
        }
        if (fn)
            fn(arg, PROF_REC_ROUTE(h), PROF_REC_WEIGHT(h), ts, rid, pcs, n);
        nrec++;
    }
    atomic_store_explicit(&s->cpu_tail, tail, memory_order_release);
    return nrec;
}
