/*
 * shm.h - the shared-memory zone the master creates before forking.
 *
 * One MAP_SHARED|MAP_ANONYMOUS mapping, inherited by every child, laid out as
 *
 *   shm_header_t          magic, sizes, master pid, profiler control area
 *   shm_ratelimit zone    (offset rl_off, rl_size; owned by core/ratelimit)
 *   shm_revoke zone       (offset rv_off, rv_size; owned by core/revoke)
 *   shm_sesslive zone     (offset sl_off, sl_size; owned by core/sesslive)
 *   slot 0 .. nslots-1    one per worker process *slot*:
 *       shm_worker_t      pid, generation, route now executing, counters,
 *                         the /metrics block (core/metrics.h)
 *       shm_conn_t[conns] the worker's open connections (goroutine profile)
 *       prof area         SHM_PROF_AREA bytes: the worker's sample ring(s),
 *                         laid out by profiler/ (CPU, heap, block, mutex)
 *
 * There are more slots than workers: during a reload the old generation
 * drains while the new one serves. The master assigns a free slot at fork
 * and frees it (and any lock the dead process held) when it reaps the child.
 * The mapping is created once; it survives reloads, so counters and the
 * rate-limit state are not reset by HUP.
 *
 * Pages of unused slots are never touched, so they cost no memory.
 */
#ifndef MG_SHM_H
#define MG_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/metrics.h"
#include "core/shmtx.h"

#define SHM_MAGIC 0x6d616769636430ull /* "magicd0" */
#define SHM_MAX_SLOTS 32
#define SHM_PROF_AREA (1u << 20) /* per worker, for profiler/ rings */
#define SHM_PROF_CTL 4096        /* global, for profiler/ control */

typedef enum {
    SHM_CONN_FREE = 0,
    SHM_CONN_READING,  /* reading request */
    SHM_CONN_BODY,     /* reading request body */
    SHM_CONN_HANDLING, /* handling ROUTE */
    SHM_CONN_WRITING,  /* writing response */
    SHM_CONN_IDLE,     /* keep-alive idle */
} shm_conn_state_t;

typedef struct shm_conn {
    _Atomic uint32_t state; /* shm_conn_state_t */
    uint32_t route;
    int32_t fd;
    uint32_t nrequests;
    uint64_t accepted_ms; /* CLOCK_MONOTONIC ms */
    uint64_t state_ms;
    char peer[48];
    char request[120];   /* request line of the current/last request */
    char request_id[40]; /* its id (core/request_id.h): access log, profiles */
} shm_conn_t;

enum { SHM_ST_1XX, SHM_ST_2XX, SHM_ST_3XX, SHM_ST_4XX, SHM_ST_5XX, SHM_ST_N };

typedef struct {
    _Atomic int32_t pid; /* 0 = slot free */
    _Atomic uint32_t generation;
    _Atomic uint32_t route; /* route id executing now (read from SIGPROF) */
    /* The request running now, for the CPU profile's request_id label:
     * written by the worker around each request, read by its SIGPROF
     * handler, so a sequence number guards it (odd while it changes). */
    _Atomic uint32_t req_seq;
    char req_id[40];
    _Atomic uint32_t draining;  /* old generation, finishing up */
    _Atomic uint32_t handoff;   /* retiring for a new generation: hand connections off */
    _Atomic uint32_t worker_no; /* 0..worker_processes-1 */
    uint64_t started_ms;
    _Atomic uint64_t requests;
    _Atomic uint64_t accepted;
    _Atomic uint64_t active;
    _Atomic uint64_t bytes_out;
    _Atomic uint64_t status[SHM_ST_N];
    _Atomic uint64_t cpu_ns; /* last published CPU time (informational) */
    mx_worker_t metrics;     /* /metrics counters; kept when the slot is reused */
} shm_worker_t;

typedef struct {
    uint64_t magic;
    size_t size;
    uint32_t nslots;
    uint32_t conns_per_slot;
    size_t slot_size;
    size_t slots_off;
    size_t rl_off;
    size_t rl_size;
    size_t rv_off;
    size_t rv_size;
    size_t sl_off;
    size_t sl_size;
    _Atomic int32_t master_pid;
    _Atomic int32_t profiler_pid;
    _Atomic uint32_t generation;
    uint64_t started_ms;
    _Atomic uint64_t total_requests; /* master's sum, for STATUS= */
    _Atomic(void *) binary_base;     /* for profilers; informational */
    /* Held by a worker across an outbox append and its rollback, so a
     * short write is cut off before anyone appends after it
     * (app/delivery.c); the master frees it when its holder dies. */
    shmtx_t outbox_lock;
    mx_global_t metrics; /* master's and mailer's /metrics counters */
    /* Owned by profiler/: whether CPU profiling is on, rates, etc. */
    _Alignas(64) uint8_t prof_ctl[SHM_PROF_CTL];
} shm_header_t;

typedef struct {
    shm_header_t *hdr;
    size_t size;
} shm_t;

/* Create the zone (master, before fork). rl_size: bytes for the rate
 * limiter. Returns 0 or -1 with errno. */
int shm_create(shm_t *shm, uint32_t conns_per_slot, size_t rl_size);
void shm_destroy(shm_t *shm);

shm_worker_t *shm_slot(const shm_t *shm, unsigned slot);
shm_conn_t *shm_slot_conns(const shm_t *shm, unsigned slot);
/* SHM_PROF_AREA bytes, 64-byte aligned. */
void *shm_slot_prof(const shm_t *shm, unsigned slot);
void *shm_ratelimit_zone(const shm_t *shm);
/* The revoked-session set, laid out by shm_create (core/revoke.h). */
void *shm_revoke_zone(const shm_t *shm);
/* The live-session table behind the sessions gauge (core/sesslive.h). */
void *shm_sesslive_zone(const shm_t *shm);

/* Master: claim a free slot for a child about to be forked (-1: none). */
int shm_slot_claim(shm_t *shm);
/* Master: after the child `pid` in `slot` died or exited. Clears its
 * connection table; locks it held are released by the owners' callbacks. */
void shm_slot_release(shm_t *shm, unsigned slot);

#endif
