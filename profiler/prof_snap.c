/*
 * prof_snap.c - copies of the workers' bucket tables (see prof_snap.h).
 *
 * A bucket is read after an acquire load of its hash, which the worker
 * stores last, so its stack is complete; its counters are read with relaxed
 * loads and may be a few events behind each other, which is what Go's
 * runtime profiles tolerate as well.
 */
#include "profiler/prof_snap.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

int prof_workers(const shm_t *shm, prof_worker_t *out)
{
    int n = 0;
    for (unsigned i = 0; i < shm->hdr->nslots && i < SHM_MAX_SLOTS; i++) {
        shm_worker_t *w = shm_slot(shm, i);
        int32_t pid = atomic_load(&w->pid);
        if (pid <= 0)
            continue;
        prof_slot_t *ps = prof_slot(shm_slot_prof(shm, i));
        if (atomic_load(&ps->magic) != PROF_SLOT_MAGIC || atomic_load(&ps->pid) != pid)
            continue;
        out[n].slot = i;
        out[n].pid = pid;
        out[n].worker_no = atomic_load(&w->worker_no);
        n++;
    }
    return n;
}

prof_rec_t *prof_snap_push(prof_snap_t *s)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        prof_rec_t *p = realloc(s->recs, nc * sizeof *p);
        if (!p)
            return NULL;
        s->recs = p;
        s->cap = nc;
    }
    return &s->recs[s->n++];
}

int prof_snap_take(const shm_t *shm, unsigned kind, prof_snap_t *out)
{
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(shm, ws);
    memset(out, 0, sizeof *out);
    out->time_ns = clock_wall_ns();
    prof_ctl_t *ctl = prof_ctl(shm);
    out->rate =
        kind == PROF_B_MUTEX ? atomic_load(&ctl->mutex_fraction) : atomic_load(&ctl->heap_rate);
    out->nworkers = nw;
    for (int i = 0; i < nw; i++) {
        void *area = shm_slot_prof(shm, ws[i].slot);
        prof_bucket_t *tab = prof_buckets(area);
        out->ws[i] = ws[i];
        for (int k = 0; k < 4; k++)
            out->mi[i][k] = atomic_load(&prof_slot(area)->mi[k]);
        if (kind == PROF_B_HEAP) {
            uint64_t r = atomic_load(&prof_slot(area)->heap_rate);
            if (r)
                out->rate = r;
        }
        for (size_t k = 0; k < PROF_NBUCKETS; k++) {
            prof_bucket_t *b = &tab[k];
            if (!atomic_load_explicit(&b->hash, memory_order_acquire) || b->kind != kind)
                continue;
            prof_rec_t *r = prof_snap_push(out);
            if (!r)
                return -1;
            r->w = ws[i];
            r->kind = kind;
            memcpy(r->what, b->what, sizeof r->what);
            r->what[sizeof r->what - 1] = 0;
            r->n = b->nframes > PROF_BUCKET_DEPTH ? PROF_BUCKET_DEPTH : b->nframes;
            memcpy(r->pcs, b->pcs, r->n * sizeof *r->pcs);
            for (int j = 0; j < 4; j++)
                r->v[j] = atomic_load_explicit(&b->v[j], memory_order_relaxed);
        }
    }
    return 0;
}

static int rec_same(const prof_rec_t *a, const prof_rec_t *b)
{
    return a->w.pid == b->w.pid && a->w.slot == b->w.slot && a->kind == b->kind && a->n == b->n &&
           strcmp(a->what, b->what) == 0 && memcmp(a->pcs, b->pcs, a->n * sizeof *a->pcs) == 0;
}

void prof_snap_sub(prof_snap_t *cur, const prof_snap_t *base)
{
    /* Tables are a few thousand records at most; a quadratic match is a few
     * milliseconds once per delta profile. */
    size_t out = 0;
    for (size_t i = 0; i < cur->n; i++) {
        prof_rec_t *r = &cur->recs[i];
        for (size_t j = 0; j < base->n; j++) {
            if (rec_same(r, &base->recs[j])) {
                for (int k = 0; k < 4; k++)
                    r->v[k] -= base->recs[j].v[k];
                break;
            }
        }
        if (r->v[0] || r->v[1] || r->v[2] || r->v[3])
            cur->recs[out++] = *r;
    }
    cur->n = out;
}

void prof_snap_free(prof_snap_t *s)
{
    free(s->recs);
    memset(s, 0, sizeof *s);
}
