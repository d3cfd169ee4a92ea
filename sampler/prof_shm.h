/*
 * prof_shm.h - what the profiler keeps in shared memory.
 *
 * Two places, both inside the zone the master maps before forking:
 *
 *   shm_header_t.prof_ctl (SHM_PROF_CTL bytes, one for the server):
 *     prof_ctl_t - the rates from the config (written by the master at start
 *     and reload) and the requests of the profiler process: "CPU samples
 *     wanted until T", "return free memory" (heap?gc=1).
 *
 *   shm_slot_prof(shm, slot) (SHM_PROF_AREA bytes, one per worker slot):
 *     prof_slot_t  - owner pid, counters, the goroutine-dump mailbox
 *     CPU ring     - written only by the worker's SIGPROF handler
 *                    (single producer), read only by the profiler process
 *                    (single consumer); variable-length records of words:
 *                    [hdr: nframes | route << 8 | weight << 16 | rid << 62
 *                     | 1 << 63] [mono ns] [request id: 5 words, if rid]
 *                    [pc...]
 *     buckets      - cumulative heap / block / mutex records keyed by stack
 *                    (Go's runtime keeps its mprof buckets the same way):
 *                    written only by the worker's ordinary code, read by the
 *                    profiler at any time, so heap, allocs, block and mutex
 *                    need no draining and survive a profiler restart.
 *
 * The SIGPROF handler never touches the buckets and ordinary code never
 * touches the CPU ring, so each structure has exactly one writer even though
 * a signal can interrupt the worker anywhere.
 */
#ifndef MG_PROF_SHM_H
#define MG_PROF_SHM_H

#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/shm.h"

#define PROF_CPU_DEPTH 64    /* user frames kept per CPU sample */
#define PROF_KSTACK_DEPTH 32 /* kernel frames before them, when allowed */
#define PROF_STACK_MAX (PROF_CPU_DEPTH + PROF_KSTACK_DEPTH)
/* Kernel text lives in the top half of the address space: a PC at or
 * above this is a kernel frame (from a perf_event callchain). */
#define PROF_KERNEL_MIN 0xffff800000000000ull
#define PROF_BUCKET_DEPTH 32        /* frames kept per heap/block/mutex record */
#define PROF_RING_WORDS (32 * 1024) /* 256 KiB: ~10 s of 100 Hz deep stacks */
#define PROF_GOR_DEPTH 64
#define PROF_SLOT_MAGIC 0x70726f66u /* "prof" */

/* OFFCPU: time the worker was not running, by what it waited on; `what`
 * is "CLASS" or "CLASS:detail" with CLASS epoll, io, lock or preemption. */
enum { PROF_B_FREE = 0, PROF_B_HEAP, PROF_B_BLOCK, PROF_B_MUTEX, PROF_B_OFFCPU };

typedef struct {
    _Atomic uint64_t cpu_until_ms; /* CLOCK_MONOTONIC ms; sample while now < it */
    _Atomic uint32_t hz;
    _Atomic uint32_t continuous;
    _Atomic uint64_t heap_rate;      /* mean bytes between heap samples; 0 = off */
    _Atomic uint64_t block_rate_ns;  /* 0 = off */
    _Atomic uint32_t mutex_fraction; /* 0 = off */
    _Atomic uint32_t conf_seq;       /* bumped by every prof_ctl_init() */
    _Atomic uint32_t gc_seq;         /* bumped by heap?gc=1 */
    _Atomic uint32_t gor_sig;        /* signal number workers answer dumps on */
    _Atomic int32_t consumer_pid;    /* the profiler process that drains rings */
    /* For the profiler process, which outlives reloads: what it takes from
     * the config is here, refreshed by every prof_ctl_init(). */
    _Atomic uint32_t max_seconds;   /* profile_max_seconds */
    _Atomic uint64_t history_ms;    /* profile_history */
    _Atomic uint64_t history_bytes; /* profile_history_max_size */
    char node[64];                  /* node_name (default: the host name) */
} prof_ctl_t;
static_assert(sizeof(prof_ctl_t) <= SHM_PROF_CTL, "prof_ctl_t must fit SHM_PROF_CTL");

typedef struct {
    _Atomic uint64_t hash; /* 0 = empty; stored last, with release */
    uint32_t kind;         /* PROF_B_* */
    uint32_t nframes;
    char what[24]; /* block: what blocked; mutex: lock name */
    uint64_t pcs[PROF_BUCKET_DEPTH];
    /* heap: allocs, alloc bytes, frees, free bytes;
     * block/mutex: count (x1000, Go's float count), delay ns, -, - */
    _Atomic int64_t v[4];
} prof_bucket_t;

typedef struct {
    _Atomic uint32_t magic;
    _Atomic int32_t pid;
    _Atomic uint64_t cpu_head; /* words written (producer) */
    _Atomic uint64_t cpu_tail; /* words consumed (consumer) */
    _Atomic uint64_t cpu_samples;
    _Atomic uint64_t cpu_periods;        /* sum of the samples' weights */
    _Atomic uint64_t cpu_caught_up;      /* signals for periods already counted */
    _Atomic uint64_t cpu_handler_ns;     /* CPU spent in the SIGPROF handler */
    _Atomic uint64_t heap_sample_ns;     /* CPU spent recording heap samples */
    _Atomic uint64_t cpu_drops;          /* ring full: sample dropped */
    _Atomic uint64_t cpu_skipped;        /* in the loader: leaf only */
    _Atomic uint32_t sampling;           /* CPU timer armed */
    _Atomic uint32_t hz;                 /* the rate it is armed at */
    _Atomic uint32_t cpu_timer;          /* PROF_TIMER_* (sampler/prof_timer.h) */
    _Atomic uint32_t cpu_timer_max;      /* the highest rate it delivers here */
    _Atomic uint32_t cpu_kernel;         /* 1: kernel callchains in the samples */
    _Atomic uint64_t cpu_kernel_samples; /* samples that had kernel frames */
    _Atomic uint32_t gor_req, gor_ack;
    _Atomic uint32_t gor_n;
    _Atomic uint32_t gc_ack;
    uint64_t gor_pcs[PROF_GOR_DEPTH];
    _Atomic uint32_t nbuckets, bucket_drops;
    _Atomic uint64_t heap_samples, block_events, mutex_events, offcpu_events;
    _Atomic uint64_t heap_rate; /* the rate the worker samples at */
    _Atomic uint32_t mutex_fraction;
    /* malloc's own view, refreshed about once a second (mallinfo2):
     * arena bytes, mmapped bytes, in use, free */
    _Atomic uint64_t mi[4];
} prof_slot_t;

#define PROF_RING_OFF 4096
#define PROF_BUCKETS_OFF (PROF_RING_OFF + PROF_RING_WORDS * 8)
#define PROF_NBUCKETS ((SHM_PROF_AREA - PROF_BUCKETS_OFF) / sizeof(prof_bucket_t))
static_assert(sizeof(prof_slot_t) <= PROF_RING_OFF, "prof_slot_t too large");

static inline prof_ctl_t *prof_ctl(const shm_t *shm)
{
    return (prof_ctl_t *)(void *)shm->hdr->prof_ctl;
}

static inline prof_slot_t *prof_slot(void *area)
{
    return (prof_slot_t *)area;
}

static inline _Atomic uint64_t *prof_ring(void *area)
{
    return (_Atomic uint64_t *)(void *)((char *)area + PROF_RING_OFF);
}

static inline prof_bucket_t *prof_buckets(void *area)
{
    return (prof_bucket_t *)(void *)((char *)area + PROF_BUCKETS_OFF);
}

/* The root frame of heap records a worker inherited from the master (an
 * address no code has; the profiler names it magicd.inheritedFromMaster). */
#define PROF_PC_INHERITED 0x100ull

/* Ring record header word. */
#define PROF_REC_MARK (1ull << 63)
#define PROF_REC_RID (1ull << 62) /* PROF_RID_WORDS of request id follow the time */
#define PROF_RID_BYTES 40
#define PROF_RID_WORDS (PROF_RID_BYTES / 8)
#define PROF_REC_N(h) ((unsigned)((h)&0xff))
#define PROF_REC_ROUTE(h) ((unsigned)(((h) >> 8) & 0xff))
#define PROF_REC_WEIGHT(h) ((unsigned)(((h) >> 16) & 0xffff))

#endif
