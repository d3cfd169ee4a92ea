/*
 * prof_hooks.h - where ordinary code tells the profiler about waiting.
 *
 * Code on the request path that can block off-CPU (SQLite steps, file
 * writes, fsync) brackets the call with prof_block_begin() /
 * prof_block_end(). What is recorded is the time the worker was *off* the
 * CPU across the call: wall time minus the thread's CPU time. A call that
 * ran on the CPU the whole time (a SQLite step over cached pages, a write
 * into the page cache) is CPU time, and is in the CPU profile already; it
 * contributes nothing here. The event loop reports its waits in epoll_wait
 * (prof_idle_begin/end), and shmtx its contended lock waits
 * (prof_hooks.mutex). The sampler installs the recorders at worker start
 * (sampler/ decides the rate and records the caller's stack); until then
 * each bracket is a load and a predictable branch.
 */
#ifndef MG_PROF_HOOKS_H
#define MG_PROF_HOOKS_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "core/clock.h"

typedef struct {
    /* a bracketed call took wall_ns, of which off_ns off the CPU */
    void (*block)(uint64_t wall_ns, uint64_t off_ns, const char *what);
    void (*mutex)(uint64_t ns, const char *lock_name);
    /* the event loop waited ns in epoll_wait */
    void (*idle)(uint64_t ns);
} prof_hooks_t;

extern prof_hooks_t prof_hooks;

typedef struct {
    uint64_t wall_ns, cpu_ns; /* 0, 0: nobody records */
} prof_block_t;

/* The calling thread's CPU time (a worker is one thread). */
static inline uint64_t prof_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline prof_block_t prof_block_begin(void)
{
    prof_block_t b = {0, 0};
    if (prof_hooks.block) {
        b.wall_ns = clock_mono_ns();
        b.cpu_ns = prof_thread_cpu_ns();
    }
    return b;
}

/* The _end hooks keep errno: they run right after the bracketed call,
 * before its caller reads errno (EINTR, EAGAIN decide what happens next). */
static inline void prof_block_end(prof_block_t b, const char *what)
{
    if (b.wall_ns && prof_hooks.block) {
        int saved = errno;
        uint64_t wall = clock_mono_ns() - b.wall_ns;
        uint64_t cpu = prof_thread_cpu_ns() - b.cpu_ns;
        prof_hooks.block(wall, wall > cpu ? wall - cpu : 0, what);
        errno = saved;
    }
}

static inline uint64_t prof_idle_begin(void)
{
    return prof_hooks.idle ? clock_mono_ns() : 0;
}

static inline void prof_idle_end(uint64_t start)
{
    if (start && prof_hooks.idle) {
        int saved = errno;
        prof_hooks.idle(clock_mono_ns() - start);
        errno = saved;
    }
}

#endif
