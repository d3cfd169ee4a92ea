/*
 * test_pprof_sampler.c - the worker-side samplers, in this test process.
 *
 * Runs the real prof_worker_init() on a real shm zone, then:
 *  - CPU: burns ~1 s of CPU in a known function while a CPU profile is
 *    "wanted"; the SIGPROF ring must hold about profile_hz samples per
 *    second, most of them in that function, each carrying the route the
 *    slot published, with symbolized leaf frames;
 *  - heap: allocates a known amount from a known function; the sampled,
 *    Go-scaled total must be close to it, and freeing it must be seen;
 *  - block and mutex: the hooks record with the caller's stack and Go's
 *    sampling rules.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/conf.h"
#include "core/prof_hooks.h"
#include "app/route.h"
#include "core/shm.h"
#include "sampler/prof_bucket.h"
#include "sampler/prof_heap.h"
#include "sampler/prof_ring.h"
#include "profiler/prof_sym.h"
#include "profiler/profiler.h"
#include "sampler/sampler.h"
#include "tests/unit/unit.h"

static prof_sym_t *sym;

static int stack_has(const uint64_t *pcs, unsigned n, const char *fn)
{
    for (unsigned i = 0; i < n; i++) {
        const prof_frame_t *fr;
        int m;
        int k = prof_sym_lookup(sym, pcs[i], &fr, &m);
        for (int j = 0; j < k; j++)
            if (strcmp(fr[j].func, fn) == 0)
                return 1;
    }
    return 0;
}

static void dump_stack(const uint64_t *pcs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        const prof_frame_t *fr;
        int m;
        int k = prof_sym_lookup(sym, pcs[i], &fr, &m);
        for (int j = 0; j < k; j++)
            fprintf(stderr, "    %#llx %s %s:%lld\n", (unsigned long long)pcs[i], fr[j].func,
                    fr[j].file, (long long)fr[j].line);
    }
}

static volatile double sink;

__attribute__((noinline)) static void burn_cpu(double secs)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    double x = 1.0;
    for (;;) {
        for (int i = 0; i < 100000; i++)
            x = x * 1.0000001 + 0.0000001;
        sink = x;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= secs)
            break;
    }
}

typedef struct {
    unsigned n, in_burn, with_route;
} cpu_acc_t;

static void on_sample(void *arg, unsigned route, unsigned weight, uint64_t ts, const char *rid,
                      const uint64_t *pcs, unsigned n)
{
    cpu_acc_t *a = arg;
    (void)ts;
    (void)rid;
    a->n += weight;
    /* Count weights on both sides: under CPU contention one sample can
     * stand for several timer periods. */
    if (stack_has(pcs, n, "burn_cpu"))
        a->in_burn += weight;
    if (route == ROUTE_GENERATE)
        a->with_route += weight;
}

static void *blocks[8192];

__attribute__((noinline)) static void alloc_known(void)
{
    for (int i = 0; i < 8192; i++)
        blocks[i] = malloc(1000);
}

__attribute__((noinline)) static void block_known(void)
{
    prof_block_t t = prof_block_begin();
    struct timespec d = {0, 2000000};
    nanosleep(&d, NULL);
    prof_block_end(t, "nanosleep");
}

/* CPU-bound work inside a bracket: on the CPU the whole time. */
__attribute__((noinline)) static void block_cpu_bound(void)
{
    prof_block_t t = prof_block_begin();
    uint64_t end = prof_thread_cpu_ns() + 20000000ull;
    volatile uint64_t x = 0;
    while (prof_thread_cpu_ns() < end)
        x++;
    prof_block_end(t, "cpu_bound");
}

static void sum_buckets(void *area, unsigned kind, const char *fn, int64_t *v)
{
    prof_bucket_t *tab = prof_buckets(area);
    memset(v, 0, 4 * sizeof *v);
    for (size_t i = 0; i < PROF_NBUCKETS; i++) {
        if (!atomic_load(&tab[i].hash) || tab[i].kind != kind)
            continue;
        if (fn && !stack_has(tab[i].pcs, tab[i].nframes, fn)) {
            if (getenv("TEST_DEBUG")) {
                fprintf(stderr, "bucket without %s:\n", fn);
                dump_stack(tab[i].pcs, tab[i].nframes);
            }
            continue;
        }
        for (int k = 0; k < 4; k++)
            v[k] += atomic_load(&tab[i].v[k]);
    }
}

/* This thread's time spent runnable but not running (schedstat's second
 * field), 0 when the kernel does not say. */
static long long runqueue_wait_ns(void)
{
    long long run = 0, wait = 0;
    FILE *f = fopen("/proc/thread-self/schedstat", "r");

    if (!f)
        return 0;
    if (fscanf(f, "%lld %lld", &run, &wait) != 2)
        wait = 0;
    fclose(f);
    return wait;
}

int main(void)
{
    shm_t shm;
    conf_t c;
    conf_defaults(&c);
    c.prof.heap_sample_bytes = 16 * 1024;
    c.prof.block_profile_rate_ns = 1000000;
    c.prof.mutex_profile_fraction = 10;
    CHECK(shm_create(&shm, 16, 4096) == 0);
    prof_ctl_init(&shm, &c);
    prof_ctl_t *ctl = prof_ctl(&shm);
    atomic_store(&shm_slot(&shm, 0)->pid, 1);
    prof_worker_init(&c, &shm, 0);
    void *area = shm_slot_prof(&shm, 0);
    prof_slot_t *ps = prof_slot(area);
    sym = prof_sym_new();

    /* CPU */
    atomic_store(&ctl->cpu_until_ms, clock_mono_ms() + 60000);
    prof_worker_poll(clock_mono_ms());
    CHECK(atomic_load(&ps->sampling) == 1);
    atomic_store(&shm_slot(&shm, 0)->route, ROUTE_GENERATE);
    burn_cpu(1.0);
    atomic_store(&shm_slot(&shm, 0)->route, ROUTE_NONE);
    atomic_store(&ctl->cpu_until_ms, 0);
    prof_worker_poll(clock_mono_ms());
    CHECK(atomic_load(&ps->sampling) == 0);
    cpu_acc_t acc = {0};
    prof_ring_drain(ps, prof_ring(area), on_sample, &acc);
    printf("cpu: %u samples, %u in burn_cpu, %u with route, %llu dropped\n", acc.n, acc.in_burn,
           acc.with_route, (unsigned long long)atomic_load(&ps->cpu_drops));
    CHECK(acc.n >= 70 && acc.n <= 130);
    CHECK(acc.in_burn * 10 >= acc.n * 9);
    CHECK(acc.with_route * 10 >= acc.n * 9);

    /* heap */
    if (prof_heap_supported()) {
        int64_t v[4];
        alloc_known();
        sum_buckets(area, PROF_B_HEAP, "alloc_known", v);
        /* Go's scaling for 1000-byte objects at a 16 KiB rate */
        double scale = 1.0 / (1.0 - exp(-1000.0 / (16.0 * 1024)));
        double est = (double)v[1] * scale;
        printf("heap: %lld samples, %lld bytes sampled, estimate %.0f of 8192000\n",
               (long long)v[0], (long long)v[1], est);
        CHECK(v[0] > 0 && fabs(est - 8192000.0) < 0.25 * 8192000.0);
        for (int i = 0; i < 8192; i++)
            free(blocks[i]);
        int64_t w[4];
        sum_buckets(area, PROF_B_HEAP, "alloc_known", w);
        CHECK(w[2] == w[0] && w[3] == w[1]);
    } else {
        printf("heap: interposer compiled out (sanitizer build)\n");
    }

    /* block: a 2 ms sleep is over the 1 ms rate, so always recorded */
    for (int i = 0; i < 5; i++)
        block_known();
    int64_t b[4];
    sum_buckets(area, PROF_B_BLOCK, "block_known", b);
    printf("block: count %.3f, delay %lld ns\n", (double)b[0] / 1000, (long long)b[1]);
    CHECK(b[0] == 5000 && b[1] >= 5 * 2000000 && b[1] < 5 * 2000000 + 1000000000);
    /* the same waits in the off-CPU profile, as io */
    sum_buckets(area, PROF_B_OFFCPU, "block_known", b);
    CHECK(b[1] >= 5 * 2000000 && b[1] < 5 * 2000000 + 1000000000, "offcpu io %lld",
          (long long)b[1]);

    /* block is off-CPU time: 60 ms of CPU inside brackets count ~0, plus
     * whatever the scheduler kept this thread waiting for a CPU meanwhile
     * (on a loaded machine that is off-CPU time too, and real) */
    long long rq0 = runqueue_wait_ns();
    for (int i = 0; i < 3; i++)
        block_cpu_bound();
    long long rq = runqueue_wait_ns() - rq0;
    sum_buckets(area, PROF_B_BLOCK, "block_cpu_bound", b);
    printf("block: CPU-bound bracket: delay %lld ns for 60 ms on CPU (%lld ns waiting for a CPU)\n",
           (long long)b[1], rq);
    CHECK(b[1] < 3000000 + rq, "a CPU-bound call counted %lld ns as blocked (%lld ns runnable)",
          (long long)b[1], rq);

    /* the event loop's waits are epoll in the off-CPU profile */
    CHECK(prof_hooks.idle != NULL);
    prof_hooks.idle(5000000);
    int64_t e[4] = {0};
    prof_bucket_t *tab = prof_buckets(area);
    for (size_t i = 0; i < PROF_NBUCKETS; i++)
        if (atomic_load(&tab[i].hash) && tab[i].kind == PROF_B_OFFCPU &&
            !strcmp(tab[i].what, "epoll"))
            e[1] += atomic_load(&tab[i].v[1]);
    CHECK(e[1] == 5000000, "epoll wait recorded as %lld", (long long)e[1]);

    /* mutex: 1 in 10 */
    CHECK(prof_hooks.mutex != NULL);
    for (int i = 0; i < 100; i++)
        prof_hooks.mutex(1000, "test_lock");
    int64_t m[4];
    sum_buckets(area, PROF_B_MUTEX, NULL, m);
    printf("mutex: count %.3f, delay %lld\n", (double)m[0] / 1000, (long long)m[1]);
    CHECK(m[0] == 10000 && m[1] == 10000);

    prof_sym_free(sym);
    if (unit_failures) {
        fprintf(stderr, "%d failure(s)\n", unit_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
