/*
 * prof_server.h - the profiler process's state, shared by its files.
 *
 * prof_main.c owns the process (event loop, signals, draining the CPU
 * rings); prof_http.c owns the endpoints. A request that must wait (a CPU
 * profile, a delta profile, a goroutine dump, heap?gc=1) becomes a
 * prof_job_t with its own timer, linked in the server's job list so the
 * drain can feed CPU jobs and a QUIT can answer them all at once.
 */
#ifndef MG_PROF_SERVER_H
#define MG_PROF_SERVER_H

#include "core/conf.h"
#include "core/event.h"
#include "core/http_conn.h"
#include "core/shm.h"
#include "profiler/prof_snap.h"
#include "profiler/prof_sym.h"
#include "profiler/prof_write.h"

typedef enum { JOB_CPU = 1, JOB_DELTA, JOB_GOR, JOB_GC } prof_job_kind_t;

typedef struct prof_srv prof_srv_t;

typedef struct prof_job {
    prof_srv_t *srv;
    http_conn_t *c;
    prof_job_kind_t kind;
    char name[16];
    int debug;
    int hz;
    uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC window */
    uint64_t start_wall_ns;
    ev_timer_t timer;
    prof_cpu_data_t cpu;
    uint64_t drops0[SHM_MAX_SLOTS];
    prof_snap_t base; /* delta profiles: the first snapshot */
    unsigned bkind;
    prof_gor_t gor[SHM_MAX_SLOTS];
    uint32_t gor_req[SHM_MAX_SLOTS];
    int ngor;
    uint32_t gc_seq;
    int polls;
    struct prof_job *next, *prev;
} prof_job_t;

struct prof_srv {
    const conf_t *conf;
    shm_t *shm;
    ev_loop_t *loop;
    http_server_t *http;
    prof_sym_t *sym;
    ev_timer_t drain_timer;
    prof_job_t *jobs;
    int quitting;
    int32_t slot_pid[SHM_MAX_SLOTS];
};

/* prof_http.c */
void prof_http_handler(http_conn_t *c, http_request_t *req, void *ctx);
/* What the server calls: checks profiler_auth_token_file's bearer token (when
 * one is set), then prof_http_handler (prof_auth.c). */
void prof_auth_handler(http_conn_t *c, http_request_t *req, void *ctx);
/* Answer every job now with what it has (QUIT). */
void prof_jobs_finish_all(prof_srv_t *s);
void prof_job_cpu_finish(prof_job_t *j);

/* prof_main.c */
void prof_drain(prof_srv_t *s);
void prof_cpu_want(prof_srv_t *s);
prof_sym_t *prof_srv_sym(prof_srv_t *s);

#endif
