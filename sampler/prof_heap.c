/*
 * prof_heap.c - malloc interposition and Poisson heap sampling.
 *
 * Fast path (every call): the real allocator, then "bytes left before the
 * next sample" minus the size. Slow path (about once per heap_sample_bytes):
 * unwind, bump the stack's shm bucket (allocs, alloc bytes), remember the
 * block. free() looks a pointer up in the live table only while sampled
 * blocks are live; a hit bumps the bucket's frees and free bytes.
 *
 * The live table is private (mmap'd, so it is not itself a malloc that would
 * recurse), open-addressed with backward-shift deletion. It holds the
 * sampled blocks only: at the default rate a worker with 64 MB of heap has
 * ~128 of them. When it is full a new sample is still counted as allocated,
 * it just cannot be seen freed (counted in bucket_drops).
 *
 * Recursion: the slow path may run code that allocates (libunwind's first
 * use of a library's unwind table); a thread-local flag makes those
 * allocations plain pass-throughs.
 */
#include "sampler/prof_heap.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sampler/prof_bucket.h"
#include "sampler/prof_unwind.h"

#if defined(__SANITIZE_ADDRESS__)
#define PROF_HEAP_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROF_HEAP_OFF 1
#endif
#endif

#ifdef PROF_HEAP_OFF

int prof_heap_supported(void)
{
    return 0;
}
void prof_heap_enable(void *area, uint64_t rate)
{
    (void)area;
    (void)rate;
}
void prof_heap_master(uint64_t rate)
{
    (void)rate;
}
void prof_heap_off(void) {}
void prof_heap_set_rate(uint64_t rate)
{
    (void)rate;
}
uint64_t prof_heap_live(void)
{
    return 0;
}

#else

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#define LIVE_CAP 8192 /* power of two */

typedef struct {
    uintptr_t p; /* 0 = empty */
    uint64_t size;
    prof_bucket_t *b;
} heap_live_t;

static void *heap_area;
static int64_t heap_rate;
static __thread int64_t heap_left;
static __thread int heap_busy;
static __thread uint64_t heap_rng;
static heap_live_t *heap_tab;
static uint64_t heap_nlive;
static void *heap_master_area; /* the master's private bucket area */

int prof_heap_supported(void)
{
    return 1;
}

uint64_t prof_heap_live(void)
{
    return heap_nlive;
}

static uint64_t heap_rand(void)
{
    uint64_t x = heap_rng;
    if (!x)
        x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    heap_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Bytes until the next sample: exponential with mean heap_rate. */
static int64_t heap_next(void)
{
    if (heap_rate <= 0)
        return INT64_MAX;
    double u = ((double)(heap_rand() >> 11) + 1.0) / 9007199254740993.0; /* (0,1] */
    double v = -log(u) * (double)heap_rate;
    return v < 1 ? 1 : (int64_t)v;
}

void prof_heap_set_rate(uint64_t rate)
{
    heap_rate = (int64_t)rate;
    heap_left = heap_next();
}

static int heap_table(void)
{
    if (heap_tab)
        return 0;
    void *m = mmap(NULL, LIVE_CAP * sizeof(heap_live_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    heap_tab = m;
    return 0;
}

void prof_heap_master(uint64_t rate)
{
    if (!rate || heap_master_area || heap_table() < 0)
        return;
    /* Private and anonymous: pages are touched only as buckets are used,
     * and each child gets a copy-on-write image of it at fork. */
    void *m = mmap(NULL, SHM_PROF_AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return;
    heap_master_area = m;
    heap_nlive = 0;
    prof_heap_set_rate(rate);
    heap_area = m;
}

static void heap_forget_master(void)
{
    if (!heap_master_area)
        return;
    if (heap_area == heap_master_area)
        heap_area = NULL;
    munmap(heap_master_area, SHM_PROF_AREA);
    heap_master_area = NULL;
}

void prof_heap_off(void)
{
    heap_area = NULL;
    heap_nlive = 0; /* frees skip the table: nothing is sampled here */
    heap_forget_master();
}

/* The master's live sampled blocks, now the worker's: each moves to a
 * bucket of the worker's area whose stack is the master's with the
 * PROF_PC_INHERITED root, counted as allocated once. */
static void heap_inherit(void *area)
{
    for (size_t i = 0; i < LIVE_CAP; i++) {
        heap_live_t *e = &heap_tab[i];
        if (!e->p)
            continue;
        uint64_t pcs[PROF_BUCKET_DEPTH];
        unsigned n = 0;
        if (e->b) {
            n = e->b->nframes < PROF_BUCKET_DEPTH - 1 ? e->b->nframes : PROF_BUCKET_DEPTH - 1;
            memcpy(pcs, e->b->pcs, n * sizeof *pcs);
        }
        pcs[n++] = PROF_PC_INHERITED;
        prof_bucket_t *b = prof_bucket_get(area, PROF_B_HEAP, "inherited", pcs, n);
        if (b) {
            prof_bucket_add(b, 0, 1);
            prof_bucket_add(b, 1, (int64_t)e->size);
        }
        e->b = b;
    }
}

void prof_heap_enable(void *area, uint64_t rate)
{
    if (heap_table() < 0)
        return;
    heap_rng = 0; /* reseed from this pid: not the master's sequence */
    if (heap_master_area && area && area != heap_master_area) {
        heap_busy = 1;
        heap_inherit(area);
        heap_busy = 0;
        heap_area = NULL;
        heap_forget_master();
    } else {
        heap_nlive = 0;
        memset(heap_tab, 0, LIVE_CAP * sizeof(heap_live_t));
    }
    prof_heap_set_rate(rate);
    heap_area = area;
}

static size_t live_idx(uintptr_t p)
{
    uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 40) & (LIVE_CAP - 1);
}

static void live_put(uintptr_t p, uint64_t size, prof_bucket_t *b)
{
    if (heap_nlive * 4 >= LIVE_CAP * 3) {
        atomic_fetch_add_explicit(&prof_slot(heap_area)->bucket_drops, 1, memory_order_relaxed);
        return;
    }
    size_t i = live_idx(p);
    while (heap_tab[i].p && heap_tab[i].p != p)
        i = (i + 1) & (LIVE_CAP - 1);
    if (!heap_tab[i].p)
        heap_nlive++;
    heap_tab[i] = (heap_live_t){p, size, b};
}

static void live_del(uintptr_t p)
{
    size_t i = live_idx(p);
    while (heap_tab[i].p != p) {
        if (!heap_tab[i].p)
            return;
        i = (i + 1) & (LIVE_CAP - 1);
    }
    prof_bucket_t *b = heap_tab[i].b;
    if (b) {
        prof_bucket_add(b, 2, 1);
        prof_bucket_add(b, 3, (int64_t)heap_tab[i].size);
    }
    heap_nlive--;
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & (LIVE_CAP - 1);
        if (!heap_tab[j].p)
            break;
        size_t k = live_idx(heap_tab[j].p);
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            heap_tab[i] = heap_tab[j];
            i = j;
        }
    }
    heap_tab[i].p = 0;
}

static uint64_t heap_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static void heap_sample(void *p, size_t n)
{
    heap_left = heap_next();
    if (heap_busy)
        return;
    heap_busy = 1;
    uint64_t t0 = heap_cpu_ns();
    uint64_t pcs[PROF_BUCKET_DEPTH];
    /* skip heap_sample and the interposed malloc: the leaf is its caller */
    int nf = prof_unwind_here(pcs, PROF_BUCKET_DEPTH, 2);
    prof_bucket_t *b = prof_bucket_get(heap_area, PROF_B_HEAP, NULL, pcs, (unsigned)nf);
    if (b) {
        prof_bucket_add(b, 0, 1);
        prof_bucket_add(b, 1, (int64_t)n);
    }
    live_put((uintptr_t)p, n, b);
    atomic_fetch_add_explicit(&prof_slot(heap_area)->heap_samples, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&prof_slot(heap_area)->heap_sample_ns, heap_cpu_ns() - t0,
                              memory_order_relaxed);
    heap_busy = 0;
}

static inline __attribute__((always_inline)) void heap_alloc(void *p, size_t n)
{
    if (__builtin_expect(heap_area == NULL || p == NULL, 1))
        return;
    heap_left -= (int64_t)n;
    if (__builtin_expect(heap_left > 0, 1))
        return;
    heap_sample(p, n);
}

static inline __attribute__((always_inline)) void heap_free(void *p)
{
    if (__builtin_expect(heap_nlive == 0 || p == NULL, 1))
        return;
    if (heap_busy)
        return;
    live_del((uintptr_t)p);
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    heap_alloc(p, n);
    return p;
}

void free(void *p)
{
    heap_free(p);
    __libc_free(p);
}

void *calloc(size_t n, size_t m)
{
    void *p = __libc_calloc(n, m);
    heap_alloc(p, n * m);
    return p;
}

void *realloc(void *old, size_t n)
{
    heap_free(old);
    void *p = __libc_realloc(old, n);
    heap_alloc(p, n);
    return p;
}

void *memalign(size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    heap_alloc(p, n);
    return p;
}

void *aligned_alloc(size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    heap_alloc(p, n);
    return p;
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    heap_alloc(p, n);
    *out = p;
    return 0;
}

void *valloc(size_t n)
{
    void *p = __libc_valloc(n);
    heap_alloc(p, n);
    return p;
}

void *pvalloc(size_t n)
{
    void *p = __libc_pvalloc(n);
    heap_alloc(p, n);
    return p;
}

#endif
