/*
 * prof_hooks.c - the block, mutex and off-CPU samplers behind
 * core/prof_hooks.h.
 *
 * Semantics are Go's, so pprof output reads the same:
 *   block (block_profile_rate, ns): an event of at least `rate` ns is always
 *     recorded as (1, ns); a shorter one with probability ns/rate, recorded
 *     as (rate/ns, rate) - unbiased, like runtime.SetBlockProfileRate since
 *     Go 1.17. Count is kept in thousandths because it is fractional. The
 *     ns of a bracketed call is its off-CPU time (wall minus thread CPU
 *     time), so CPU-bound work inside a bracket counts 0 here.
 *   mutex (mutex_profile_fraction N): 1 in N contended waits is recorded as
 *     (1, ns); the profile multiplies by N when it is written.
 *   offcpu: every wait of the worker, by what it waited on - epoll (the
 *     event loop with nothing to do), io (bracketed calls), lock (shmtx
 *     waits) and preemption: the off-CPU time outside all of those
 *     (runnable but not running, page faults), found from the loop at most
 *     every 10 ms as wall time minus CPU time minus the waits already
 *     reported, so the four add up to wall minus CPU with nothing counted
 *     twice - sampled at block_profile_rate as block is.
 * The cost bound: a recorded event costs one unwind (~5-10 us) and events
 * are recorded at most once per `rate` ns of waiting, so at the default
 * 1 ms the sampler costs < 1% of the time a worker spends waiting.
 * Stacks start at the code that waited (the hooks are called from there).
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
static uint64_t hk_waited_ns; /* every wait reported, sampled or not */
static uint64_t hk_last_ms, hk_last_wall, hk_last_cpu, hk_last_waited;

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
    _Atomic uint64_t *c = kind == PROF_B_BLOCK   ? &s->block_events
                          : kind == PROF_B_MUTEX ? &s->mutex_events
                                                 : &s->offcpu_events;
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Go's rate rule: 1 = keep with weight (1, ns), 2 = keep as (rate/ns,
 * rate), 0 = not sampled. */
static int hk_sampled(uint64_t ns, uint64_t rate)
{
    if (!rate || !hk_area || ns == 0)
        return 0;
    if (ns >= rate)
        return 1;
    return hk_rand() % rate < ns ? 2 : 0;
}

static void hk_put(unsigned kind, const char *what, int how, uint64_t ns, const uint64_t *pcs,
                   int n)
{
    uint64_t rate = hk_block_rate;
    if (how == 1)
        hk_record(kind, what, 1000, (int64_t)ns, pcs, n);
    else
        hk_record(kind, what, (int64_t)(1000.0 * (double)rate / (double)ns), (int64_t)rate, pcs, n);
}

__attribute__((noinline)) static void hk_block(uint64_t wall_ns, uint64_t off_ns, const char *what)
{
    (void)wall_ns; /* off-CPU time is what the block profile records */
    hk_waited_ns += off_ns;
    int how = hk_sampled(off_ns, hk_block_rate);
    if (!how)
        return;
    /* Unwind here, not in a helper: a helper called last would be a tail
     * call and the frame count to skip would change with the optimiser.
     * Skip this hook: the leaf is the code that blocked. */
    uint64_t pcs[PROF_BUCKET_DEPTH];
    int n = prof_unwind_here(pcs, PROF_BUCKET_DEPTH, 1);
    hk_put(PROF_B_BLOCK, what, how, off_ns, pcs, n);
    char cls[24] = "io:";
    size_t i = 3;
    for (const char *p = what; *p && i < sizeof cls - 1; p++)
        cls[i++] = *p;
    cls[i] = 0;
    hk_put(PROF_B_OFFCPU, cls, how, off_ns, pcs, n);
}

__attribute__((noinline)) static void hk_mutex(uint64_t ns, const char *name)
{
    hk_waited_ns += ns;
    int off = hk_sampled(ns, hk_block_rate);
    int mu = hk_mutex_frac && hk_area && ++hk_mutex_n % hk_mutex_frac == 0;
    if (!off && !mu)
        return;
    uint64_t pcs[PROF_BUCKET_DEPTH];
    int n = prof_unwind_here(pcs, PROF_BUCKET_DEPTH, 1);
    if (mu)
        hk_record(PROF_B_MUTEX, name, 1000, (int64_t)ns, pcs, n);
    if (off) {
        char cls[24] = "lock:";
        size_t i = 5;
        for (const char *p = name; *p && i < sizeof cls - 1; p++)
            cls[i++] = *p;
        cls[i] = 0;
        hk_put(PROF_B_OFFCPU, cls, off, ns, pcs, n);
    }
}

__attribute__((noinline)) static void hk_idle(uint64_t ns)
{
    hk_waited_ns += ns;
    int how = hk_sampled(ns, hk_block_rate);
    if (!how)
        return;
    uint64_t pcs[PROF_BUCKET_DEPTH];
    int n = prof_unwind_here(pcs, PROF_BUCKET_DEPTH, 1);
    hk_put(PROF_B_OFFCPU, "epoll", how, ns, pcs, n);
}

__attribute__((noinline)) void prof_hooks_preempt_poll(uint64_t now_ms)
{
    if (!hk_block_rate || !hk_area || now_ms - hk_last_ms < 10)
        return;
    uint64_t wall = clock_mono_ns(), cpu = prof_thread_cpu_ns(), waited = hk_waited_ns;
    uint64_t dw = wall - hk_last_wall, dc = cpu - hk_last_cpu, dwait = waited - hk_last_waited;
    int first = hk_last_ms == 0;
    hk_last_ms = now_ms;
    hk_last_wall = wall;
    hk_last_cpu = cpu;
    hk_last_waited = waited;
    if (first || dw <= dc + dwait)
        return;
    uint64_t ns = dw - dc - dwait;
    int how = hk_sampled(ns, hk_block_rate);
    if (!how)
        return;
    uint64_t pcs[PROF_BUCKET_DEPTH];
    int n = prof_unwind_here(pcs, PROF_BUCKET_DEPTH, 1);
    hk_put(PROF_B_OFFCPU, "preemption", how, ns, pcs, n);
}

void prof_hooks_install(void *area, uint64_t block_rate_ns, uint32_t mutex_fraction)
{
    hk_area = area;
    hk_block_rate = block_rate_ns;
    hk_mutex_frac = mutex_fraction;
    prof_hooks.block = block_rate_ns ? hk_block : NULL;
    prof_hooks.idle = block_rate_ns ? hk_idle : NULL;
    prof_hooks.mutex = mutex_fraction || block_rate_ns ? hk_mutex : NULL;
}
