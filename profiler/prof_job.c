/*
 * prof_job.c - linking, unlinking and finishing jobs (see prof_job.h).
 */
#include "profiler/prof_job.h"

#include <stdlib.h>

#include "profiler/prof_drain.h"
#include "profiler/prof_server.h"

static void job_on_abort(http_conn_t *c)
{
    prof_job_t *j = c->user;
    if (j) {
        j->c = NULL;
        prof_job_free(j);
    }
}

prof_job_t *prof_job_new(prof_srv_t *s, http_conn_t *c, prof_job_kind_t kind,
                         prof_job_finish_fn finish, ev_timer_cb timer_cb)
{
    prof_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->srv = s;
    j->c = c;
    j->kind = kind;
    j->finish = finish;
    ev_timer_init(&j->timer, timer_cb, j);
    j->next = s->jobs;
    if (s->jobs)
        s->jobs->prev = j;
    s->jobs = j;
    c->user = j;
    c->on_abort = job_on_abort;
    return j;
}

void prof_job_free(prof_job_t *j)
{
    prof_srv_t *s = j->srv;
    if (j->prev)
        j->prev->next = j->next;
    else
        s->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    ev_timer_del(s->loop, &j->timer);
    if (j->c) {
        j->c->on_abort = NULL;
        j->c->user = NULL;
    }
    int cpu = j->kind == JOB_CPU;
    if (cpu)
        prof_cpu_free(&j->u.cpu.data);
    else if (j->kind == JOB_DELTA)
        prof_snap_free(&j->u.delta.base);
    free(j);
    if (cpu)
        prof_cpu_want(s);
}

void prof_jobs_finish(prof_srv_t *s, prof_job_kind_t kind, const char *cut)
{
    /* finish() frees the job, so restart from the head each time */
    for (;;) {
        prof_job_t *j = s->jobs;
        while (j && kind && j->kind != kind)
            j = j->next;
        if (!j)
            return;
        j->finish(j, cut);
    }
}

int prof_jobs_have(const prof_srv_t *s, prof_job_kind_t kind)
{
    for (const prof_job_t *j = s->jobs; j; j = j->next)
        if (j->kind == kind)
            return 1;
    return 0;
}
