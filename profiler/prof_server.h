/*
 * prof_server.h - the profiler process's state, shared by its files.
 *
 * prof_main.c owns the process (event loop, signals); prof_http.c owns the
 * endpoints; prof_job.c the list of requests that wait; prof_drain.c moves
 * CPU samples from the rings into CPU jobs. Calls go one way:
 * main -> http -> job -> drain, and main -> job, drain.
 */
#ifndef MG_PROF_SERVER_H
#define MG_PROF_SERVER_H

#include "core/conf.h"
#include "core/event.h"
#include "core/http_conn.h"
#include "core/shm.h"
#include "core/version.h"
#include "profiler/prof_archive.h"
#include "profiler/prof_hist.h"
#include "profiler/prof_job.h"
#include "profiler/prof_sym.h"
#include "profiler/prof_write.h"
#include "sampler/prof_shm.h"

#include <string.h>

struct prof_srv {
    const conf_t *conf;
    shm_t *shm;
    ev_loop_t *loop;
    http_server_t *http;
    prof_sym_t *sym;
    ev_timer_t drain_timer;
    ev_timer_t archive_timer;
    prof_archive_t archive; /* records of workers that exited */
    prof_out_t out;         /* symbolizer and the node and version labels */
    char node[64];
    prof_job_t *jobs;
    int quitting;
    /* profile_continuous: the CPU history (prof_hist.h), and each slot's
     * ring drops seen so far, to charge new ones to the open window */
    prof_hist_t *hist;
    int32_t hist_pid[SHM_MAX_SLOTS];
    uint64_t hist_drops[SHM_MAX_SLOTS];
};

/* The symbolizer, made on first use. */
static inline prof_sym_t *prof_srv_sym(prof_srv_t *s)
{
    if (!s->sym)
        s->sym = prof_sym_new();
    return s->sym;
}

/* For the writers: the symbolizer, this node's name (prof_ctl, which
 * follows reloads) and the build's version. */
static inline const prof_out_t *prof_srv_out(prof_srv_t *s)
{
    const prof_ctl_t *ctl = prof_ctl(s->shm);
    memcpy(s->node, ctl->node, sizeof s->node);
    s->node[sizeof s->node - 1] = 0;
    s->out = (prof_out_t){prof_srv_sym(s), s->node, MAGICD_VERSION};
    return &s->out;
}

/* prof_http.c: Go's serveError() and a 200 with the body, for the files
 * that answer one endpoint each (prof_http_hist.c). */
void prof_http_error(http_conn_t *c, int status, const char *txt);
/* Fill m's worker count, CPU timer and kernel-frames note from the slots. */
void prof_http_cpu_timer(prof_srv_t *s, prof_cpu_meta_t *m);
void prof_http_send(http_conn_t *c, const char *ctype, const char *attach, const buf_t *b);
/* prof_http_hist.c: profile?since= / ?start=&end= from the CPU history;
 * 0 when the request asks for none of it (a live profile?seconds=N). */
int prof_http_history(prof_srv_t *s, http_conn_t *c, http_request_t *req);
/* The index page's line about the history. */
void prof_http_history_index(prof_srv_t *s, buf_t *b);

/* prof_http.c: the request handler (behind prof_auth_handler). */
void prof_http_handler(http_conn_t *c, http_request_t *req, void *ctx);
/* What prof_main.c installs: checks profiler_auth_token_file's bearer token
 * (when one is set), then prof_http_handler (prof_auth.c). */
void prof_auth_handler(http_conn_t *c, http_request_t *req, void *ctx);

#endif
