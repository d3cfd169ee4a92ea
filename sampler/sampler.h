/*
 * sampler.h - the in-worker half of the profiler, as the master and the
 * workers see it.
 *
 *   master:  prof_master_init() at start; prof_ctl_init() after
 *            shm_create() and after each good reload; prof_child_init()
 *            in every child that is not a worker.
 *   worker:  prof_worker_init() once after fork, before its setup (so the
 *            allocations of SQLite, OpenSSL and the templates are seen);
 *            prof_worker_poll() every loop iteration (the loop wakes at
 *            least every 100 ms).
 *
 * How the pieces talk (no sockets, no locks): the profiler process writes
 * requests into prof_ctl in shm ("CPU samples wanted until T", "return
 * free memory"), workers notice them in prof_worker_poll() and arm or disarm
 * their sampling timer. Goroutine dumps need the worker's stack *now*, so
 * the profiler sends the worker a real-time signal (SIGRTMIN+2, stored in
 * prof_ctl) whose handler unwinds into the slot's mailbox; poll answers too
 * in case the signal was lost. See prof_shm.h for the memory layout, which
 * is the contract between this layer and profiler/, the process that reads
 * the rings and serves /debug/pprof.
 */
#ifndef MG_SAMPLER_H
#define MG_SAMPLER_H

#include <stdint.h>

#include "core/conf.h"
#include "core/shm.h"

void prof_ctl_init(shm_t *shm, const conf_t *c);
/* The master, at start: sample its own heap (privately), so each worker
 * can report the heap it inherits as such. */
void prof_master_init(const conf_t *c);
/* Right after fork, in a child that is not a worker (profiler, mailer):
 * no heap sampling there. */
void prof_child_init(void);
void prof_worker_init(const conf_t *c, shm_t *shm, unsigned slot);
void prof_worker_poll(uint64_t now_ms);

#endif
