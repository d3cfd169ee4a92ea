/*
 * prof_hooks.h - where ordinary code tells the profiler about blocking.
 *
 * Code on the request path that can block off-CPU (SQLite steps, file
 * writes, fsync, lock waits) brackets the call with prof_block_begin() /
 * prof_block_end(). The profiler code linked into workers installs the real
 * recorders at worker start (profiler/ decides the rate and records the
 * caller's stack); until then these are a load and a predictable branch.
 * Cross-process lock waits are reported by shmtx through prof_mutex_wait.
 */
#ifndef MG_PROF_HOOKS_H
#define MG_PROF_HOOKS_H

#include <stdint.h>

#include "core/clock.h"

typedef struct {
    void (*block)(uint64_t start_ns, uint64_t ns, const char *what);
    void (*mutex)(uint64_t ns, const char *lock_name);
} prof_hooks_t;

extern prof_hooks_t prof_hooks;

static inline uint64_t prof_block_begin(void)
{
    return prof_hooks.block ? clock_mono_ns() : 0;
}

static inline void prof_block_end(uint64_t start, const char *what)
{
    if (start && prof_hooks.block)
        prof_hooks.block(start, clock_mono_ns() - start, what);
}

#endif
