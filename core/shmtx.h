/*
 * shmtx.h - a cross-process lock in shared memory that survives its holder.
 *
 * Like nginx's ngx_shmtx: the lock word holds the owner's pid (0 = free),
 * taken with a compare-and-swap, spinning briefly and then yielding. When a
 * worker dies holding it, the master calls shmtx_force_unlock(m, dead_pid),
 * which frees it only if that pid still owns it. Contended acquisitions are
 * timed and reported to the mutex profiler through prof_hooks.
 */
#ifndef MG_SHMTX_H
#define MG_SHMTX_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    _Atomic int32_t owner; /* pid or 0 */
    _Atomic uint32_t contended;
    char name[24];
} shmtx_t;

/* Call in each process after fork, before taking any lock. */
void shmtx_process_init(void);
void shmtx_init(shmtx_t *m, const char *name);
void shmtx_lock(shmtx_t *m);
int shmtx_trylock(shmtx_t *m);
void shmtx_unlock(shmtx_t *m);
/* Master side: release m if `pid` (a dead process) holds it. 1 if released. */
int shmtx_force_unlock(shmtx_t *m, pid_t pid);

#endif
