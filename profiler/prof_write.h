/*
 * prof_write.h - the profiles the endpoints serve, in Go's formats.
 *
 * Binary forms are gzip-compressed profile.proto built with prof_build;
 * text forms (debug=1, goroutine debug=2) follow runtime/pprof's layout so
 * people and scripts used to Go read them the same way. Every sample is
 * labelled pid and worker; CPU samples taken while a request ran also carry
 * route.
 */
#ifndef MG_PROF_WRITE_H
#define MG_PROF_WRITE_H

#include <stdint.h>

#include "core/buf.h"
#include "core/shm.h"
#include "profiler/prof_snap.h"
#include "profiler/prof_sym.h"

/* Who writes: the symbolizer, and the labels every sample carries besides
 * pid and worker - node (node_name) and version - so profiles from several
 * nodes and builds can be merged and told apart. */
typedef struct {
    prof_sym_t *sym;
    const char *node;
    const char *version;
} prof_out_t;

/* CPU samples collected for one profile?seconds=N request. */
typedef struct {
    /* [n | route << 8 | worker_no << 16 | pid << 32] [weight | rid << 63]
     * [request id: PROF_RID_WORDS, if rid] [pc]... */
    buf_t words;
    uint64_t nsamples;
    uint64_t periods; /* sum of the samples' weights */
    uint64_t drops;
} prof_cpu_data_t;

void prof_cpu_add(prof_cpu_data_t *d, const prof_worker_t *w, unsigned route, unsigned weight,
                  const char *rid, const uint64_t *pcs, unsigned n);
void prof_cpu_free(prof_cpu_data_t *d);
/* What a CPU profile says about itself besides its samples. */
typedef struct {
    int hz;
    uint64_t start_wall_ns;
    uint64_t dur_ns;  /* what it covers */
    uint64_t want_ns; /* what was asked for */
    int nworkers;
    const char *cut;    /* NULL, or why it ended before want_ns */
    const char *timer;  /* the workers' CPU timer source (prof_timer_name) */
    uint32_t timer_max; /* the highest rate that source delivers here */
    const char *note;   /* NULL, or one more comment (the history's range) */
    const char *kernel; /* kernel frames: how, or why not (prof_timer_kernel_why) */
} prof_cpu_meta_t;

int prof_write_cpu(const prof_out_t *o, const prof_cpu_data_t *d, const prof_cpu_meta_t *m,
                   buf_t *out);

/* heap, allocs, block, mutex from a (possibly delta) snapshot. debug 0:
 * gzip profile.proto; > 0: text. dur_ns != 0 for delta profiles. */
int prof_write_buckets(const prof_out_t *o, const char *name, const prof_snap_t *s, int debug,
                       uint64_t dur_ns, buf_t *out);

typedef struct {
    prof_worker_t w;
    unsigned n; /* 0: the worker did not answer in time */
    uint64_t pcs[PROF_GOR_DEPTH];
} prof_gor_t;

/* Goroutines: one per worker (its live stack) + one per open connection. */
int prof_count_goroutines(const shm_t *shm);
int prof_write_goroutine(const prof_out_t *o, const shm_t *shm, const prof_gor_t *g, int ng,
                         int debug, buf_t *out);
int prof_write_threadcreate(const prof_out_t *o, const shm_t *shm, int debug, buf_t *out);

#endif
