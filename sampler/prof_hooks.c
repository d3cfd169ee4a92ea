/*
 * prof_hooks.c - the block and mutex samplers behind core/prof_hooks.h.
 *
 * Semantics are Go's, so pprof output reads the same:
 *   block (block_profile_rate, ns): an event of at least `rate` ns is always
 *     recorded as (1, ns); a shorter one with probability ns/rate, recorded
 *     as (rate/ns, rate) - unbiased, like runtime.SetBlockProfileRate since
 *     Go 1.17. Count is kept in thousandths because it is fractional.
 *   mutex (mutex_profile_fraction N): 1 in N contended waits is recorded as
 *     (1, ns); the profile multiplies by N when it is written.
 * The cost bound: a recorded event costs one unwind (~5-10 us) and blocking
 * events are recorded at most once per `rate` ns of blocking, so at the
 * default 1 ms the sampler costs < 1% of the time a worker spends blocked.
 * Stacks start at the code that blocked (prof_block_end() is inline there).
 */
#include "core/prof_hooks.h"

#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "sampler/prof_bucket.h"
#include "sampler/prof_hooks_impl.h"
#include "sampler/prof_unwind.h"

static void *hk_area;
static uint64_t hk_block_rate;
static uint32_t hk_mutex_frac;
static uint32_t hk_mutex_n;
static uint64_t hk_rng;

static uint64_t hk_rand(void)
{
    uint64_t x = hk_rng ? hk_rng : ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ 0x5bd1e995;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    hk_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void hk_record(unsigned kind, const char *what, int64_t count_milli, int64_t ns,
                      const uint64_t *pcs, int n)
{
    prof_bucket_t *b = prof_bucket_get(hk_area, kind, what, pcs, (unsigned)n);
    if (!b)
        return;
    prof_bucket_add(b, 0, count_milli);
    prof_bucket_add(b, 1, ns);
    prof_slot_t *s = prof_slot(hk_area);
    atomic_fetch_add_explicit(kind == PROF_B_BLOCK ? &s->block_events : &s->mutex_events, 1,
                              memory_order_relaxed);
}

__attribute__((noinline)) static void hk_block(uint64_t start_ns, uint64_t ns, const char *what)
{
    (void)start_ns; /* the duration is what Go's block profile records */
    uint64_t rate = hk_block_rate;
    if (!rate || !hk_area)
        return;
    if (ns < rate && (ns == 0 || hk_rand() % rate >= ns))
        return;
    /* Unwind here, not in a helper: a helper called last would be a tail
     * call and the frame count to skip would change with the optimiser.
     * Skip this hook: the leaf is the code that blocked. */
    uint64_t pcs[PROF_BUCKET_DEPTH];
    int n = prof_unwind_here(pcs, PROF_BUCKET_DEPTH, 1);
    if (ns >= rate)
        hk_record(PROF_B_BLOCK, what, 1000, (int64_t)ns, pcs, n);
    else
        hk_record(PROF_B_BLOCK, what, (int64_t)(1000.0 * (double)rate / (double)ns), (int64_t)rate,
                  pcs, n);
}

__attribute__((noinline)) static void hk_mutex(uint64_t ns, const char *name)
{
    if (!hk_mutex_frac || !hk_area)
        return;
    if (++hk_mutex_n % hk_mutex_frac != 0)
        return;
    uint64_t pcs[PROF_BUCKET_DEPTH];
    int n = prof_unwind_here(pcs, PROF_BUCKET_DEPTH, 1);
    hk_record(PROF_B_MUTEX, name, 1000, (int64_t)ns, pcs, n);
}

void prof_hooks_install(void *area, uint64_t block_rate_ns, uint32_t mutex_fraction)
{
    hk_area = area;
    hk_block_rate = block_rate_ns;
    hk_mutex_frac = mutex_fraction;
    prof_hooks.block = block_rate_ns ? hk_block : NULL;
    prof_hooks.mutex = mutex_fraction ? hk_mutex : NULL;
}
