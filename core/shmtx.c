/*
 * shmtx.c - pid-owned spinlock in shared memory (see shmtx.h).
 *
 * The critical sections it protects are tiny (a hash-table probe), so a
 * spin with exponential back-off and sched_yield() beats a futex for our
 * case and, unlike a pthread mutex, can be taken over by the master when the
 * owner is dead (robust pthread mutexes would also do it, but need every
 * user to handle EOWNERDEAD). Only a contended acquisition is timed, so the
 * uncontended path is one CAS.
 */
#include "core/shmtx.h"

#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/prof_hooks.h"

/* This process's pid, stored in the lock word. Set after every fork
 * (shmtx_process_init) so the hot path makes no getpid() system call. */
static pid_t self_pid;

void shmtx_process_init(void)
{
    self_pid = getpid();
}

static pid_t owner_id(void)
{
    return self_pid ? self_pid : getpid();
}

void shmtx_init(shmtx_t *m, const char *name)
{
    atomic_store(&m->owner, 0);
    atomic_store(&m->contended, 0);
    snprintf(m->name, sizeof m->name, "%s", name);
}

int shmtx_trylock(shmtx_t *m)
{
    int32_t expect = 0;
    return atomic_compare_exchange_strong_explicit(&m->owner, &expect, (int32_t)owner_id(),
                                                   memory_order_acquire, memory_order_relaxed);
}

void shmtx_lock(shmtx_t *m)
{
    if (shmtx_trylock(m))
        return;
    uint64_t t0 = clock_mono_ns();
    atomic_fetch_add_explicit(&m->contended, 1, memory_order_relaxed);
    for (unsigned spin = 1;; spin <<= 1) {
        if (spin > 1024) {
            sched_yield();
            spin = 1024;
        }
        for (unsigned i = 0; i < spin; i++) {
            if (atomic_load_explicit(&m->owner, memory_order_relaxed) == 0 && shmtx_trylock(m))
                goto locked;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
locked:
    if (prof_hooks.mutex)
        prof_hooks.mutex(clock_mono_ns() - t0, m->name);
}

void shmtx_unlock(shmtx_t *m)
{
    atomic_store_explicit(&m->owner, 0, memory_order_release);
}

int shmtx_force_unlock(shmtx_t *m, pid_t pid)
{
    int32_t expect = (int32_t)pid;
    return atomic_compare_exchange_strong(&m->owner, &expect, 0);
}
