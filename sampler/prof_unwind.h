/*
 * prof_unwind.h - stack capture with libunwind, local-only.
 *
 * Two entry points: prof_unwind_signal() runs inside a signal handler and
 * starts from the interrupted context (UNW_INIT_SIGNAL_FRAME), so the leaf
 * is the exact interrupted PC; prof_unwind_here() runs in ordinary code
 * (heap, block and mutex samplers) with the profiling signals blocked, so a
 * SIGPROF can never re-enter libunwind on the same thread. Callers' frames
 * are return addresses minus one, so they symbolize to the call's line.
 */
#ifndef MG_PROF_UNWIND_H
#define MG_PROF_UNWIND_H

#include <signal.h>
#include <stdint.h>

/* Set the caching policy, find the dynamic loader's text, and unwind once
 * so libunwind's lazily built state exists before any signal arrives. */
void prof_unwind_init(void);

/* Signals the profiler handles (blocked around non-signal unwinds). */
void prof_unwind_block_signals(sigset_t *old);
void prof_unwind_restore_signals(const sigset_t *old);
extern int prof_gor_signo;

/* From a signal handler's ucontext. Async-signal-safe. */
int prof_unwind_signal(void *ucontext, uint64_t *pcs, int max, int *in_loader);

/* The current stack minus `skip` innermost frames (this function counts). */
int prof_unwind_here(uint64_t *pcs, int max, int skip);

#endif
