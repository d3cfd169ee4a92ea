/*
 * prof_http.c - /debug/pprof/ endpoints, behaving as Go's net/http/pprof.
 *
 * Routing, headers, status codes and error strings are Go 1.19's
 * (src/net/http/pprof/pprof.go):
 *   /debug/pprof/            index (HTML, with counts)
 *   /debug/pprof/profile     CPU profile over ?seconds=N (default 30)
 *   /debug/pprof/NAME        heap allocs block mutex goroutine threadcreate;
 *                            ?debug=N text, ?seconds=N delta, heap ?gc=1
 *   /debug/pprof/cmdline     the master's command line, NUL-separated
 *   /debug/pprof/symbol      GET/POST "0xPC+0xPC..." -> "0xPC name" lines
 * and, not Go's, /metrics: Prometheus text (prof_metrics.c).
 * Errors go through pp_error(), Go's serveError(): text/plain, X-Go-Pprof: 1,
 * no Content-Disposition. One deliberate difference, from the design: a bad
 * ?seconds on profile (negative, zero, not a number) is a 400 with the
 * delta-profile message instead of a silent 30 s, and a duration over
 * profile_max_seconds is the 400 Go gives past its WriteTimeout.
 *
 * Unlike Go, CPU profiles may overlap: each is a job (prof_job.h) with its
 * own time window, fed from the same rings (prof_drain.c).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "profiler/prof_drain.h"
#include "profiler/prof_metrics.h"
#include "profiler/prof_query.h"
#include "profiler/prof_server.h"
#include "sampler/prof_timer.h"
#include "sampler/prof_shm.h"

#define PP_TEXT "text/plain; charset=utf-8"
#define PP_BIN "application/octet-stream"
#define pp_error prof_http_error
#define pp_send prof_http_send

void prof_http_error(http_conn_t *c, int status, const char *txt)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%s\n", txt);
    http_reply_start(c, status);
    http_reply_header(c, "X-Content-Type-Options", "nosniff");
    http_reply_header(c, "X-Go-Pprof", "1");
    http_reply_finish(c, PP_TEXT, body, (size_t)n);
}

void prof_http_send(http_conn_t *c, const char *ctype, const char *attach, const buf_t *b)
{
    http_reply_start(c, 200);
    http_reply_header(c, "X-Content-Type-Options", "nosniff");
    if (attach)
        http_reply_header(c, "Content-Disposition", "attachment; filename=\"%s\"", attach);
    http_reply_finish(c, ctype, b->data, b->len);
}

static int pp_atoi(const http_request_t *req, const char *name)
{
    return prof_query_int(req->query.p, req->query.n, name);
}

static int pp_seconds(const http_request_t *req, int64_t *out)
{
    return prof_query_seconds(req->query.p, req->query.n, out);
}

/* ---- jobs ---- */

static void pp_setname(prof_job_t *j, const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof j->name)
        n = sizeof j->name - 1;
    memcpy(j->name, name, n);
    j->name[n] = 0;
}

/* The workers' CPU timer and kernel frames, for a CPU profile's comments:
 * workers share one kernel, so one source; the worst seen is named. */
void prof_http_cpu_timer(prof_srv_t *s, prof_cpu_meta_t *m)
{
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(s->shm, ws);
    uint32_t timer = 0, timer_max = 0, kern = 0;
    for (int i = 0; i < nw; i++) {
        prof_slot_t *ps = prof_slot(shm_slot_prof(s->shm, ws[i].slot));
        if (atomic_load(&ps->cpu_timer) > timer) {
            timer = atomic_load(&ps->cpu_timer);
            timer_max = atomic_load(&ps->cpu_timer_max);
        }
        if (atomic_load(&ps->cpu_kernel) > kern)
            kern = atomic_load(&ps->cpu_kernel);
    }
    m->nworkers = nw;
    m->timer = timer ? prof_timer_name((int)timer) : NULL;
    m->timer_max = timer_max;
    m->kernel = timer ? prof_timer_kernel_why((int)kern) : NULL;
}

/* ---- CPU ---- */

static void pp_cpu_finish(prof_job_t *j, const char *cut)
{
    prof_srv_t *s = j->srv;
    prof_drain(s);
    uint64_t now = clock_mono_ns();
    uint64_t end = now < j->u.cpu.end_ns ? now : j->u.cpu.end_ns;
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(s->shm, ws);
    for (int i = 0; i < nw; i++) {
        prof_slot_t *ps = prof_slot(shm_slot_prof(s->shm, ws[i].slot));
        uint64_t d = atomic_load(&ps->cpu_drops);
        uint64_t d0 = j->u.cpu.drops0[ws[i].slot];
        j->u.cpu.data.drops += d >= d0 ? d - d0 : d;
    }
    buf_t out = {0};
    http_conn_t *c = j->c;
    prof_cpu_meta_t meta = {.hz = j->u.cpu.hz,
                            .start_wall_ns = j->u.cpu.start_wall_ns,
                            .dur_ns = end - j->u.cpu.start_ns,
                            .want_ns = j->u.cpu.end_ns - j->u.cpu.start_ns,
                            .cut = cut};
    prof_http_cpu_timer(s, &meta);
    if (prof_write_cpu(prof_srv_out(s), &j->u.cpu.data, &meta, &out) < 0) {
        if (c)
            pp_error(c, 500, "Could not enable CPU profiling: out of memory");
    } else if (c) {
        pp_send(c, PP_BIN, "profile", &out);
    }
    buf_free(&out);
    prof_job_free(j);
}

static void pp_cpu_done(ev_loop_t *loop, ev_timer_t *t)
{
    (void)loop;
    pp_cpu_finish(t->data, NULL);
}

static void pp_profile(prof_srv_t *s, http_conn_t *c, http_request_t *req)
{
    if (prof_http_history(s, c, req))
        return;
    int64_t sec = 30;
    int r = pp_seconds(req, &sec);
    if (r < 0) {
        pp_error(c, 400, "invalid value for \"seconds\" - must be a positive integer");
        return;
    }
    if (sec > (int64_t)atomic_load(&prof_ctl(s->shm)->max_seconds)) {
        pp_error(c, 400, "profile duration exceeds server's WriteTimeout");
        return;
    }
    prof_job_t *j = prof_job_new(s, c, JOB_CPU, pp_cpu_finish, pp_cpu_done);
    if (!j) {
        pp_error(c, 500, "Could not enable CPU profiling: out of memory");
        return;
    }
    prof_drain(s); /* what is in the rings now predates this profile */
    j->u.cpu.hz = (int)atomic_load(&prof_ctl(s->shm)->hz);
    j->u.cpu.start_ns = clock_mono_ns();
    j->u.cpu.end_ns = j->u.cpu.start_ns + (uint64_t)sec * 1000000000ull;
    j->u.cpu.start_wall_ns = clock_wall_ns();
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(s->shm, ws);
    for (int i = 0; i < nw; i++)
        j->u.cpu.drops0[ws[i].slot] =
            atomic_load(&prof_slot(shm_slot_prof(s->shm, ws[i].slot))->cpu_drops);
    prof_cpu_want(s);
    ev_timer_set(s->loop, &j->timer, (uint64_t)sec * 1000);
    ev_timer_set(s->loop, &s->drain_timer, 100);
}

/* ---- heap, allocs, block, mutex ---- */

/* The live workers' records and those of workers that exited. */
static int pp_snap(prof_srv_t *s, unsigned kind, prof_snap_t *out)
{
    prof_archive_scan(&s->archive, s->shm);
    if (prof_snap_take(s->shm, kind, out) < 0)
        return -1;
    return prof_archive_add_to(&s->archive, kind, out);
}

static unsigned pp_bucket_kind(const char *name)
{
    if (!strcmp(name, "heap") || !strcmp(name, "allocs"))
        return PROF_B_HEAP;
    if (!strcmp(name, "block"))
        return PROF_B_BLOCK;
    if (!strcmp(name, "mutex"))
        return PROF_B_MUTEX;
    if (!strcmp(name, "offcpu"))
        return PROF_B_OFFCPU;
    return PROF_B_FREE;
}

static void pp_send_buckets(prof_srv_t *s, http_conn_t *c, const char *name, prof_snap_t *snap,
                            int debug, uint64_t dur_ns, const char *attach)
{
    buf_t out = {0};
    if (prof_write_buckets(prof_srv_out(s), name, snap, debug, dur_ns, &out) < 0)
        pp_error(c, 500, "failed to collect profile");
    else if (debug != 0)
        pp_send(c, PP_TEXT, NULL, &out);
    else
        pp_send(c, PP_BIN, attach, &out);
    buf_free(&out);
}

static void pp_delta_finish(prof_job_t *j, const char *cut)
{
    (void)cut; /* a delta cut short is a shorter delta: its duration says so */
    prof_srv_t *s = j->srv;
    prof_snap_t cur;
    char attach[32];
    snprintf(attach, sizeof attach, "%s-delta", j->name);
    if (pp_snap(s, j->u.delta.bkind, &cur) < 0) {
        pp_error(j->c, 500, "failed to collect profile");
    } else {
        prof_snap_sub(&cur, &j->u.delta.base);
        pp_send_buckets(s, j->c, j->name, &cur, 0, cur.time_ns - j->u.delta.base.time_ns, attach);
    }
    prof_snap_free(&cur);
    prof_job_free(j);
}

static void pp_delta_done(ev_loop_t *loop, ev_timer_t *t)
{
    (void)loop;
    pp_delta_finish(t->data, NULL);
}

/* ---- goroutine ---- */

static void pp_gor_reply(prof_job_t *j, const char *cut)
{
    (void)cut; /* workers that did not answer in time are marked in the dump */
    prof_srv_t *s = j->srv;
    for (int i = 0; i < j->u.gor.n; i++) {
        prof_gor_t *g = &j->u.gor.gor[i];
        prof_slot_t *ps = prof_slot(shm_slot_prof(s->shm, g->w.slot));
        if (atomic_load_explicit(&ps->gor_ack, memory_order_acquire) != j->u.gor.req[i]) {
            g->n = 0;
            continue;
        }
        unsigned n = atomic_load(&ps->gor_n);
        if (n > PROF_GOR_DEPTH)
            n = PROF_GOR_DEPTH;
        memcpy(g->pcs, ps->gor_pcs, n * sizeof *ps->gor_pcs);
        g->n = n;
    }
    buf_t out = {0};
    if (prof_write_goroutine(prof_srv_out(s), s->shm, j->u.gor.gor, j->u.gor.n, j->debug, &out) < 0)
        pp_error(j->c, 500, "failed to collect profile");
    else if (j->debug != 0)
        pp_send(j->c, PP_TEXT, NULL, &out);
    else
        pp_send(j->c, PP_BIN, j->name, &out);
    buf_free(&out);
    prof_job_free(j);
}

static void pp_gor_poll(ev_loop_t *loop, ev_timer_t *t)
{
    prof_job_t *j = t->data;
    int done = 1;
    for (int i = 0; i < j->u.gor.n; i++) {
        prof_slot_t *ps = prof_slot(shm_slot_prof(j->srv->shm, j->u.gor.gor[i].w.slot));
        if (atomic_load(&ps->gor_ack) != j->u.gor.req[i])
            done = 0;
    }
    /* 300 ms: a worker busy in a long request still answers through the
     * signal at once; one that is gone does not hold the dump up. */
    if (done || ++j->u.gor.polls >= 60)
        pp_gor_reply(j, NULL);
    else
        ev_timer_set(loop, t, 5);
}

static void pp_goroutine(prof_srv_t *s, http_conn_t *c, int debug, const char *attach)
{
    prof_job_t *j = prof_job_new(s, c, JOB_GOR, pp_gor_reply, pp_gor_poll);
    if (!j) {
        pp_error(c, 500, "failed to collect profile");
        return;
    }
    pp_setname(j, attach);
    j->debug = debug;
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(s->shm, ws);
    int sig = (int)atomic_load(&prof_ctl(s->shm)->gor_sig);
    for (int i = 0; i < nw; i++) {
        prof_slot_t *ps = prof_slot(shm_slot_prof(s->shm, ws[i].slot));
        j->u.gor.gor[i].w = ws[i];
        j->u.gor.req[i] = atomic_fetch_add(&ps->gor_req, 1) + 1;
        if (sig)
            kill(ws[i].pid, sig);
    }
    j->u.gor.n = nw;
    ev_timer_set(s->loop, &j->timer, 2);
}

/* ---- heap?gc=1 ---- */

static void pp_gc_finish(prof_job_t *j, const char *cut)
{
    (void)cut;
    prof_srv_t *s = j->srv;
    prof_snap_t snap;
    if (pp_snap(s, PROF_B_HEAP, &snap) < 0)
        pp_error(j->c, 500, "failed to collect profile");
    else
        pp_send_buckets(s, j->c, j->name, &snap, j->debug, 0, j->name);
    prof_snap_free(&snap);
    prof_job_free(j);
}

static void pp_gc_poll(ev_loop_t *loop, ev_timer_t *t)
{
    prof_job_t *j = t->data;
    prof_srv_t *s = j->srv;
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(s->shm, ws), done = 1;
    for (int i = 0; i < nw; i++)
        if (atomic_load(&prof_slot(shm_slot_prof(s->shm, ws[i].slot))->gc_ack) != j->u.gc.seq)
            done = 0;
    if (!done && ++j->u.gc.polls < 60) {
        ev_timer_set(loop, t, 5);
        return;
    }
    pp_gc_finish(j, NULL);
}

/* ---- named profiles ---- */

static int pp_known(const char *name)
{
    static const char *const names[] = {"allocs", "block",  "goroutine",   "heap",
                                        "mutex",  "offcpu", "threadcreate"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(name, names[i]))
            return 1;
    return 0;
}

static void pp_named(prof_srv_t *s, http_conn_t *c, http_request_t *req, const char *name)
{
    if (!pp_known(name)) {
        pp_error(c, 404, "Unknown profile");
        return;
    }
    int64_t sec = 0;
    int debug = pp_atoi(req, "debug");
    int sr = pp_seconds(req, &sec);
    char raw[8];
    int has_seconds = http_form_value(req->query.p, req->query.n, "seconds", raw, sizeof raw) != 0;
    if (has_seconds && raw[0] == 0)
        has_seconds = 0; /* Go: FormValue("seconds") == "" is "absent" */
    if (has_seconds) {
        if (sr < 0) {
            pp_error(c, 400, "invalid value for \"seconds\" - must be a positive integer");
            return;
        }
        if (sec > (int64_t)atomic_load(&prof_ctl(s->shm)->max_seconds)) {
            pp_error(c, 400, "profile duration exceeds server's WriteTimeout");
            return;
        }
        if (debug != 0) {
            pp_error(c, 400, "seconds and debug params are incompatible");
            return;
        }
        unsigned kind = pp_bucket_kind(name);
        if (kind == PROF_B_FREE) {
            /* goroutine and threadcreate deltas: counts now minus counts
             * then are what Go serves; ours are live counts, so the delta
             * of a steady server is close to empty. Serve the current one. */
            if (!strcmp(name, "goroutine"))
                pp_goroutine(s, c, 0, "goroutine-delta");
            else {
                buf_t out = {0};
                prof_write_threadcreate(prof_srv_out(s), s->shm, 0, &out);
                pp_send(c, PP_BIN, "threadcreate-delta", &out);
                buf_free(&out);
            }
            return;
        }
        prof_job_t *j = prof_job_new(s, c, JOB_DELTA, pp_delta_finish, pp_delta_done);
        if (!j || pp_snap(s, kind, &j->u.delta.base) < 0) {
            pp_error(c, 500, "failed to collect profile");
            if (j)
                prof_job_free(j);
            return;
        }
        pp_setname(j, name);
        j->u.delta.bkind = kind;
        ev_timer_set(s->loop, &j->timer, (uint64_t)sec * 1000);
        return;
    }
    if (!strcmp(name, "goroutine")) {
        pp_goroutine(s, c, debug, "goroutine");
        return;
    }
    if (!strcmp(name, "threadcreate")) {
        buf_t out = {0};
        prof_write_threadcreate(prof_srv_out(s), s->shm, debug, &out);
        pp_send(c, debug ? PP_TEXT : PP_BIN, debug ? NULL : name, &out);
        buf_free(&out);
        return;
    }
    if (!strcmp(name, "heap") && pp_atoi(req, "gc") > 0) {
        prof_job_t *j = prof_job_new(s, c, JOB_GC, pp_gc_finish, pp_gc_poll);
        if (!j) {
            pp_error(c, 500, "failed to collect profile");
            return;
        }
        pp_setname(j, name);
        j->debug = debug;
        j->u.gc.seq = atomic_fetch_add(&prof_ctl(s->shm)->gc_seq, 1) + 1;
        ev_timer_set(s->loop, &j->timer, 5);
        return;
    }
    prof_snap_t snap;
    if (pp_snap(s, pp_bucket_kind(name), &snap) < 0)
        pp_error(c, 500, "failed to collect profile");
    else
        pp_send_buckets(s, c, name, &snap, debug, 0, name);
    prof_snap_free(&snap);
}

/* ---- index, cmdline, symbol ---- */

static size_t pp_count(prof_srv_t *s, unsigned kind)
{
    prof_snap_t snap;
    size_t n = 0;
    if (pp_snap(s, kind, &snap) == 0)
        n = snap.n;
    prof_snap_free(&snap);
    return n;
}

static void pp_index(prof_srv_t *s, http_conn_t *c)
{
    static const struct {
        const char *name, *desc;
    } rows[] = {
        {"allocs", "Every allocation the workers made (malloc family, including OpenSSL, "
                   "SQLite and jansson), sampled about once per heap_sample_bytes, since each "
                   "worker started; exited workers' allocations stay. Opens on alloc_space."},
        {"block", "Time the workers spent off the CPU inside calls on the request path "
                  "(sqlite3_step, outbox and spool writes): wall time minus the worker's own "
                  "CPU time across each call, so CPU-bound work counts nothing here. Label "
                  "what."},
        {"cmdline", "The master's command line, NUL-separated."},
        {"goroutine", "One per worker process (its stack, taken by signalling it) and one per "
                      "open connection (its state as frames: readRequest, handle + route, "
                      "writeResponse, keepAliveIdle)."},
        {"heap", "Allocations of the workers still in use, sampled as allocs. gc=1 first makes "
                 "every worker return free memory to the system (malloc_trim)."},
        {"mutex", "Waits on the cross-process shared-memory locks (rate limiter), 1 in "
                  "mutex_profile_fraction recorded and scaled back. Label lock."},
        {"offcpu",
         "Time the workers were not running, by what they waited on (label wait): "
         "epoll (no work), io (calls on the request path), lock (shared-memory "
         "locks), preemption (off the CPU outside those: waiting for a CPU). seconds=N for "
         "a window."},
        {"profile", "CPU profile of every worker over seconds=N (default 30), sampled by the "
                    "workers' own CPU time (see the profile's comments for the timer). Labels "
                    "pid, worker, route. Several may run at once."},
        {"threadcreate", "One per worker process: each is single-threaded."},
    };
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(s->shm, ws);
    size_t heap = pp_count(s, PROF_B_HEAP);
    size_t counts[] = {heap,
                       pp_count(s, PROF_B_BLOCK),
                       0,
                       (size_t)prof_count_goroutines(s->shm),
                       heap,
                       pp_count(s, PROF_B_MUTEX),
                       pp_count(s, PROF_B_OFFCPU),
                       0,
                       (size_t)nw};
    buf_t b = {0};
    buf_puts(&b, "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n.profile-name{\n"
                 "\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n</head>\n<body>\n"
                 "/debug/pprof/<br>\n<br>\nTypes of profiles available:\n<table>\n"
                 "<thead><td>Count</td><td>Profile</td></thead>\n");
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        buf_printf(&b, "<tr><td>%zu</td><td><a href='%s?debug=1'>%s</a></td></tr>\n", counts[i],
                   rows[i].name, rows[i].name);
    buf_puts(&b, "</table>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n<br>\n"
                 "<p>\nProfile Descriptions:\n<ul>\n");
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        buf_printf(&b, "<li><div class=profile-name>%s: </div> %s</li>\n", rows[i].name,
                   rows[i].desc);
    buf_puts(&b, "</ul>\n</p>\n");
    prof_http_history_index(s, &b);
    buf_puts(&b, "<p>\nmagicd workers:\n<ul>\n");
    for (int i = 0; i < nw; i++) {
        prof_slot_t *ps = prof_slot(shm_slot_prof(s->shm, ws[i].slot));
        buf_printf(
            &b,
            "<li>worker %u (pid %d): %llu CPU samples taken (%llu periods, %llu "
            "catch-up signals), %llu dropped (sample ring full), %llu heap samples, "
            "%llu block events, %llu mutex events, %u stack records (%u dropped); "
            "sampler CPU: SIGPROF handler %llu us, heap sampler %llu us; CPU timer: %s; "
            "kernel frames: %s (%llu samples had them)</li>\n",
            ws[i].worker_no, (int)ws[i].pid, (unsigned long long)atomic_load(&ps->cpu_samples),
            (unsigned long long)atomic_load(&ps->cpu_periods),
            (unsigned long long)atomic_load(&ps->cpu_caught_up),
            (unsigned long long)atomic_load(&ps->cpu_drops),
            (unsigned long long)atomic_load(&ps->heap_samples),
            (unsigned long long)atomic_load(&ps->block_events),
            (unsigned long long)atomic_load(&ps->mutex_events), atomic_load(&ps->nbuckets),
            atomic_load(&ps->bucket_drops),
            (unsigned long long)atomic_load(&ps->cpu_handler_ns) / 1000,
            (unsigned long long)atomic_load(&ps->heap_sample_ns) / 1000,
            prof_timer_name((int)atomic_load(&ps->cpu_timer)),
            atomic_load(&ps->cpu_timer) ? prof_timer_kernel_why((int)atomic_load(&ps->cpu_kernel))
                                        : "-",
            (unsigned long long)atomic_load(&ps->cpu_kernel_samples));
    }
    buf_puts(&b, "</ul>\n</p>\n</body>\n</html>");
    http_reply_start(c, 200);
    http_reply_header(c, "X-Content-Type-Options", "nosniff");
    http_reply_finish(c, "text/html; charset=utf-8", b.data, b.len);
    buf_free(&b);
}

static void pp_cmdline(prof_srv_t *s, http_conn_t *c)
{
    /* The master's title is "magicd: master process ARGV..." (nginx style);
     * argv itself was overwritten to hold it. */
    char path[64], raw[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)atomic_load(&s->shm->hdr->master_pid));
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(raw, 1, sizeof raw - 1, f) : 0;
    if (f)
        fclose(f);
    raw[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (raw[i] == 0)
            raw[i] = ' ';
    while (n && raw[n - 1] == ' ')
        raw[--n] = 0;
    const char *p = raw;
    static const char pre[] = "magicd: master process ";
    if (!strncmp(p, pre, sizeof pre - 1))
        p += sizeof pre - 1;
    buf_t b = {0};
    buf_puts(&b, p);
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == ' ')
            b.data[i] = 0;
    pp_send(c, PP_TEXT, NULL, &b);
    buf_free(&b);
}

static void pp_symbol(prof_srv_t *s, http_conn_t *c, http_request_t *req)
{
    const char *in = req->method == HTTP_M_POST ? req->body : req->query.p;
    size_t n = req->method == HTTP_M_POST ? req->body_len : req->query.n;
    buf_t b = {0};
    buf_puts(&b, "num_symbols: 1\n");
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && in[j] != '+')
            j++;
        char word[40];
        size_t wl = j - i < sizeof word - 1 ? j - i : sizeof word - 1;
        memcpy(word, in + i, wl);
        word[wl] = 0;
        uint64_t pc = strtoull(word, NULL, 0);
        if (pc) {
            const prof_frame_t *fr;
            int m;
            int k = prof_sym_lookup(prof_srv_sym(s), pc, &fr, &m);
            /* Go's FuncForPC: the innermost function when inlined */
            if (k > 0 && fr[0].func[0] && strncmp(fr[0].func, "0x", 2) != 0)
                buf_printf(&b, "%#llx %s\n", (unsigned long long)pc, fr[0].func);
        }
        i = j + 1;
    }
    pp_send(c, PP_TEXT, NULL, &b);
    buf_free(&b);
}

void prof_http_handler(http_conn_t *c, http_request_t *req, void *ctx)
{
    prof_srv_t *s = ctx;
    static const char pre[] = "/debug/pprof/";
    char path[128];
    size_t pl = req->path.n < sizeof path - 1 ? req->path.n : sizeof path - 1;
    memcpy(path, req->path.p, pl);
    path[pl] = 0;
    if (!strcmp(path, "/metrics")) {
        prof_metrics_serve(s->shm, s->conf, c);
        return;
    }
    if (!strcmp(path, "/debug/pprof")) {
        http_reply_start(c, 301);
        http_reply_header(c, "Location", "/debug/pprof/");
        http_reply_finish(c, "text/html; charset=utf-8", "", 0);
        return;
    }
    if (strncmp(path, pre, sizeof pre - 1) != 0) {
        static const char nf[] = "404 page not found\n";
        http_reply_start(c, 404);
        http_reply_header(c, "X-Content-Type-Options", "nosniff");
        http_reply_finish(c, PP_TEXT, nf, sizeof nf - 1);
        return;
    }
    const char *name = path + sizeof pre - 1;
    if (!*name)
        pp_index(s, c);
    else if (!strcmp(name, "profile"))
        pp_profile(s, c, req);
    else if (!strcmp(name, "cmdline"))
        pp_cmdline(s, c);
    else if (!strcmp(name, "symbol"))
        pp_symbol(s, c, req);
    else
        pp_named(s, c, req, name);
}
