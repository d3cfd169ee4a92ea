/*
 * prof_archive.h - the heap, block and mutex records of workers that exited.
 *
 * A worker's records live in its shm slot and go when a new worker claims
 * the slot. Go keeps a process's profile history for as long as it runs;
 * magicd keeps the server's: every scan (every 250 ms, and before each
 * profile) copies the records of any slot whose worker has gone into this
 * archive in the profiler's memory, under the dead worker's own pid and
 * worker labels. Allocations stay; nothing a dead worker allocated is in
 * use, so heap records are archived with everything freed. The profiler
 * survives reloads, so the archive spans them; a profiler that is itself
 * restarted picks up whatever dead workers' slots are still unclaimed.
 *
 * Bounded: at most PROF_ARCHIVE_MAX records; records past that are merged
 * into existing ones of the same stack without regard to pid, and when no
 * such record exists they are dropped and counted.
 */
#ifndef MG_PROF_ARCHIVE_H
#define MG_PROF_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "core/shm.h"
#include "profiler/prof_snap.h"

#define PROF_ARCHIVE_MAX 65536

typedef struct {
    prof_rec_t *recs;
    size_t n, cap;
    int32_t done_pid[SHM_MAX_SLOTS]; /* the pid whose records were taken */
    int32_t live_pid[SHM_MAX_SLOTS]; /* the worker last seen alive there */
    uint32_t live_no[SHM_MAX_SLOTS]; /* and its worker number */
    uint64_t workers;                /* workers archived */
    uint64_t dropped;                /* records that did not fit */
} prof_archive_t;

/* Archive the records of slots whose worker is gone. */
void prof_archive_scan(prof_archive_t *a, const shm_t *shm);
/* Append the archived records of `kind` to a snapshot of the live ones. */
int prof_archive_add_to(const prof_archive_t *a, unsigned kind, prof_snap_t *snap);
void prof_archive_free(prof_archive_t *a);

#endif
