/*
 * prof_archive.c - records of exited workers (see prof_archive.h).
 *
 * Reading a slot whose owner is gone races only with the next worker that
 * claims it: that worker first stores 0 in the prof slot's pid, then clears
 * the buckets. So the copy is kept only if the pid is still the dead
 * worker's after the copy (a seqlock with the pid as the sequence).
 */
#include "profiler/prof_archive.h"

#include <stdlib.h>
#include <string.h>

#include "sampler/prof_shm.h"

static prof_rec_t *ar_find(prof_archive_t *a, const prof_rec_t *r, int any_pid)
{
    for (size_t i = 0; i < a->n; i++) {
        prof_rec_t *x = &a->recs[i];
        if (x->kind == r->kind && x->n == r->n && (any_pid || x->w.pid == r->w.pid) &&
            !strcmp(x->what, r->what) && !memcmp(x->pcs, r->pcs, r->n * sizeof *r->pcs))
            return x;
    }
    return NULL;
}

static void ar_put(prof_archive_t *a, const prof_rec_t *r)
{
    prof_rec_t *x = NULL;
    if (a->n >= PROF_ARCHIVE_MAX) {
        /* full: fold into the same stack of any worker, or drop */
        if (!(x = ar_find(a, r, 1))) {
            a->dropped++;
            return;
        }
        for (int k = 0; k < 4; k++)
            x->v[k] += r->v[k];
        return;
    }
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 256;
        prof_rec_t *p = realloc(a->recs, nc * sizeof *p);
        if (!p) {
            a->dropped++;
            return;
        }
        a->recs = p;
        a->cap = nc;
    }
    a->recs[a->n++] = *r;
}

/* Copy one dead worker's buckets; 0 when the slot was claimed meanwhile. */
static int ar_take(prof_archive_t *a, const shm_t *shm, unsigned slot, int32_t pid,
                   uint32_t worker_no)
{
    void *area = shm_slot_prof(shm, slot);
    prof_bucket_t *tab = prof_buckets(area);
    size_t n0 = a->n;
    for (size_t k = 0; k < PROF_NBUCKETS; k++) {
        prof_bucket_t *b = &tab[k];
        if (!atomic_load_explicit(&b->hash, memory_order_acquire) || b->kind == PROF_B_FREE)
            continue;
        prof_rec_t r;
        memset(&r, 0, sizeof r);
        r.w.slot = slot;
        r.w.pid = pid;
        r.w.worker_no = worker_no;
        r.kind = b->kind;
        memcpy(r.what, b->what, sizeof r.what);
        r.what[sizeof r.what - 1] = 0;
        r.n = b->nframes > PROF_BUCKET_DEPTH ? PROF_BUCKET_DEPTH : b->nframes;
        memcpy(r.pcs, b->pcs, r.n * sizeof *r.pcs);
        for (int j = 0; j < 4; j++)
            r.v[j] = atomic_load_explicit(&b->v[j], memory_order_relaxed);
        if (r.kind == PROF_B_HEAP) {
            r.v[2] = r.v[0]; /* the process is gone: all of it freed */
            r.v[3] = r.v[1];
        }
        if (r.v[0] || r.v[1])
            ar_put(a, &r);
    }
    if (atomic_load(&prof_slot(area)->pid) != pid) {
        a->n = n0 < a->n ? n0 : a->n; /* torn: a new worker cleared the slot */
        return 0;
    }
    return 1;
}

void prof_archive_scan(prof_archive_t *a, const shm_t *shm)
{
    for (unsigned i = 0; i < shm->hdr->nslots && i < SHM_MAX_SLOTS; i++) {
        prof_slot_t *ps = prof_slot(shm_slot_prof(shm, i));
        int32_t pid = atomic_load(&ps->pid);
        if (pid <= 0 || pid == a->done_pid[i] || atomic_load(&ps->magic) != PROF_SLOT_MAGIC)
            continue;
        shm_worker_t *w = shm_slot(shm, i);
        if (atomic_load(&w->pid) == pid) {
            a->live_pid[i] = pid; /* alive: remember its number for later */
            a->live_no[i] = atomic_load(&w->worker_no);
            continue;
        }
        uint32_t wno = a->live_pid[i] == pid ? a->live_no[i] : atomic_load(&w->worker_no);
        if (ar_take(a, shm, i, pid, wno))
            a->workers++;
        a->done_pid[i] = pid;
    }
}

int prof_archive_add_to(const prof_archive_t *a, unsigned kind, prof_snap_t *snap)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->recs[i].kind != kind)
            continue;
        prof_rec_t *r = prof_snap_push(snap);
        if (!r)
            return -1;
        *r = a->recs[i];
    }
    return 0;
}

void prof_archive_free(prof_archive_t *a)
{
    free(a->recs);
    memset(a, 0, sizeof *a);
}
