/*
 * prof_drain.c - CPU rings into CPU jobs (see prof_drain.h).
 */
#include "profiler/prof_drain.h"

#include <unistd.h>

#include "core/clock.h"

#include "sampler/prof_ring.h"
#include "profiler/prof_server.h"

typedef struct {
    prof_srv_t *s;
    prof_worker_t w;
} dr_ctx_t;

static void dr_on_sample(void *arg, unsigned route, unsigned weight, uint64_t ts, const char *rid,
                         const uint64_t *pcs, unsigned n)
{
    dr_ctx_t *d = arg;
    if (d->s->hist && atomic_load_explicit(&prof_ctl(d->s->shm)->continuous, memory_order_relaxed))
        prof_hist_add(d->s->hist, ts, &d->w, route, weight, rid, pcs, n);
    for (prof_job_t *j = d->s->jobs; j; j = j->next)
        if (j->kind == JOB_CPU && ts >= j->u.cpu.start_ns && ts < j->u.cpu.end_ns)
            prof_cpu_add(&j->u.cpu.data, &d->w, route, weight, rid, pcs, n);
}

void prof_drain(prof_srv_t *s)
{
    prof_ctl_t *ctl = prof_ctl(s->shm);
    if (atomic_load(&ctl->consumer_pid) != (int32_t)getpid())
        return; /* a newer profiler owns the rings */
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(s->shm, ws);
    for (int i = 0; i < nw; i++) {
        dr_ctx_t d = {s, ws[i]};
        void *area = shm_slot_prof(s->shm, ws[i].slot);
        prof_ring_drain(prof_slot(area), prof_ring(area), dr_on_sample, &d);
    }
}

void prof_cpu_want(prof_srv_t *s)
{
    uint64_t until = 0;
    for (prof_job_t *j = s->jobs; j; j = j->next)
        if (j->kind == JOB_CPU && j->u.cpu.end_ns / 1000000 + 300 > until)
            until = j->u.cpu.end_ns / 1000000 + 300;
    atomic_store(&prof_ctl(s->shm)->cpu_until_ms, until);
}

void prof_drain_history(prof_srv_t *s)
{
    prof_ctl_t *ctl = prof_ctl(s->shm);
    if (!s->hist && atomic_load(&ctl->continuous))
        s->hist = prof_hist_new();
    if (!s->hist)
        return;
    prof_hist_limits(s->hist, atomic_load(&ctl->history_ms) * 1000000ull,
                     (size_t)atomic_load(&ctl->history_bytes));
    if (!atomic_load(&ctl->continuous)) {
        prof_hist_close(s->hist, clock_wall_ns()); /* what it holds stays servable */
        return;
    }
    prof_hist_tick(s->hist, clock_mono_ns(), clock_wall_ns(), atomic_load(&ctl->hz));
    /* ring drops since the last look, charged to the open window */
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(s->shm, ws);
    for (int i = 0; i < nw; i++) {
        unsigned k = ws[i].slot;
        uint64_t d = atomic_load(&prof_slot(shm_slot_prof(s->shm, k))->cpu_drops);
        if (s->hist_pid[k] != ws[i].pid) {
            s->hist_pid[k] = ws[i].pid;
            s->hist_drops[k] = 0; /* a new worker's counters start at 0 */
        }
        if (d > s->hist_drops[k])
            prof_hist_drops(s->hist, d - s->hist_drops[k]);
        s->hist_drops[k] = d;
    }
}
