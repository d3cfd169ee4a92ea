/*
 * prof_ring.h - the lock-free single-producer single-consumer sample ring.
 *
 * The producer is a worker's SIGPROF handler, the consumer the profiler
 * process; the ring lives in shared memory between them. Positions are
 * free-running word counts (head written only by the producer, tail only by
 * the consumer), so "full" is head - tail + need > size and no slot is ever
 * shared. The producer never waits: when the record does not fit it counts
 * a drop and returns. Everything in prof_ring_put() is async-signal-safe
 * (no locks, no allocation, plain loads and stores).
 */
#ifndef MG_PROF_RING_H
#define MG_PROF_RING_H

#include <stdint.h>

#include "sampler/prof_shm.h"

/* Append one CPU sample standing for `weight` timer periods, taken while
 * request `rid` (PROF_RID_BYTES, NUL-terminated; NULL: none) ran; 0, or -1
 * when dropped (ring full). */
int prof_ring_put(prof_slot_t *s, _Atomic uint64_t *ring, unsigned route, unsigned weight,
                  uint64_t ts, const char *rid, const uint64_t *pcs, unsigned n);

/* rid: NULL or the request id, NUL-terminated */
typedef void (*prof_ring_fn)(void *arg, unsigned route, unsigned weight, uint64_t ts,
                             const char *rid, const uint64_t *pcs, unsigned n);

/* Consume every complete record; returns how many. A record that does not
 * look like one (the slot was re-initialised under us) discards the rest. */
unsigned prof_ring_drain(prof_slot_t *s, _Atomic uint64_t *ring, prof_ring_fn fn, void *arg);

#endif
