/*
 * prof_snap.h - the profiler process's view of the workers' shm areas.
 *
 * prof_workers() lists the slots whose worker is alive and whose prof area
 * it has claimed. prof_snap_take() copies every heap, block or mutex bucket
 * of those workers into private memory, so a profile is built from one
 * consistent-enough copy while the workers keep counting, and a delta
 * profile (?seconds=N) is two copies subtracted (prof_snap_sub).
 */
#ifndef MG_PROF_SNAP_H
#define MG_PROF_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/shm.h"
#include "sampler/prof_shm.h"

typedef struct {
    unsigned slot;
    int32_t pid;
    uint32_t worker_no;
} prof_worker_t;

/* Live workers, at most SHM_MAX_SLOTS. */
int prof_workers(const shm_t *shm, prof_worker_t *out);

typedef struct {
    prof_worker_t w;
    unsigned kind;
    char what[24];
    unsigned n;
    uint64_t pcs[PROF_BUCKET_DEPTH];
    int64_t v[4];
} prof_rec_t;

typedef struct {
    prof_rec_t *recs;
    size_t n, cap;
    uint64_t time_ns; /* wall clock when taken */
    uint64_t rate;    /* heap: sampling rate; mutex: fraction */
    int nworkers;
    prof_worker_t ws[SHM_MAX_SLOTS];
    uint64_t mi[SHM_MAX_SLOTS][4]; /* each worker's prof_slot_t.mi */
} prof_snap_t;

int prof_snap_take(const shm_t *shm, unsigned kind, prof_snap_t *out);
/* One more record at the end (NULL when out of memory). */
prof_rec_t *prof_snap_push(prof_snap_t *s);
/* cur -= base, per (worker, kind, what, stack); records left all-zero go. */
void prof_snap_sub(prof_snap_t *cur, const prof_snap_t *base);
void prof_snap_free(prof_snap_t *s);

#endif
