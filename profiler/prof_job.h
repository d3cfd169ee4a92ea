/*
 * prof_job.h - the profiler's job list: requests that wait.
 *
 * A request that cannot be answered at once (a CPU profile, a delta
 * profile, a goroutine dump, heap?gc=1) becomes a job: the connection it
 * answers, a timer, and the data of its kind in a union. Jobs live in one
 * list in the server, so the ring drain can feed CPU jobs, a stopping
 * profiler can answer every job with what it has, and a closed connection
 * frees its job.
 *
 * Who calls whom: prof_http.c creates jobs and gives each the function that
 * answers it (finish); prof_main.c and prof_drain.c walk the list; this
 * file only links, unlinks and finishes. finish(j, cut) answers the job;
 * cut is NULL when the job ran its course, else why it was cut short (said
 * in the profile's comments).
 */
#ifndef MG_PROF_JOB_H
#define MG_PROF_JOB_H

#include <stdint.h>

#include "core/event.h"
#include "core/http_conn.h"
#include "core/shm.h"
#include "profiler/prof_snap.h"
#include "profiler/prof_write.h"

typedef enum { JOB_CPU = 1, JOB_DELTA, JOB_GOR, JOB_GC } prof_job_kind_t;

typedef struct prof_srv prof_srv_t;
typedef struct prof_job prof_job_t;
typedef void (*prof_job_finish_fn)(prof_job_t *j, const char *cut);

struct prof_job {
    prof_srv_t *srv;
    http_conn_t *c;
    prof_job_kind_t kind;
    char name[16];
    int debug;
    ev_timer_t timer;
    prof_job_finish_fn finish;
    prof_job_t *next, *prev;
    union {
        struct {
            int hz;
            uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC window */
            uint64_t start_wall_ns;
            prof_cpu_data_t data;
            uint64_t drops0[SHM_MAX_SLOTS];
        } cpu;
        struct {
            prof_snap_t base; /* the first snapshot */
            unsigned bkind;
        } delta;
        struct {
            prof_gor_t gor[SHM_MAX_SLOTS];
            uint32_t req[SHM_MAX_SLOTS];
            int n, polls;
        } gor;
        struct {
            uint32_t seq;
            int polls;
        } gc;
    } u;
};

/* A job for connection c, linked first in s's list; timer_cb runs when its
 * timer (set by the caller) fires. NULL when out of memory. */
prof_job_t *prof_job_new(prof_srv_t *s, http_conn_t *c, prof_job_kind_t kind,
                         prof_job_finish_fn finish, ev_timer_cb timer_cb);
/* Unlink and free (the reply, if any, was already queued). */
void prof_job_free(prof_job_t *j);
/* Answer every job of `kind` (0: every job) now, saying why. */
void prof_jobs_finish(prof_srv_t *s, prof_job_kind_t kind, const char *cut);
int prof_jobs_have(const prof_srv_t *s, prof_job_kind_t kind);

#endif
