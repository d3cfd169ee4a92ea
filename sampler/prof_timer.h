/*
 * prof_timer.h - the CPU-time clock that sends a worker SIGPROF.
 *
 * The sampler wants one signal per `1/profile_hz` seconds of the worker's
 * own CPU time, wherever that time goes (user code or system calls), and
 * exactly then - not when a scheduler tick happens to find the worker
 * running. prof_timer_open() picks the best source the kernel allows, in
 * this order:
 *
 *   PROF_TIMER_PERF       perf_event_open task-clock of this thread,
 *                         user and kernel time: an hrtimer that runs only
 *                         while the thread runs, so it fires after exactly
 *                         one period of CPU time; the overflow is turned
 *                         into SIGPROF with F_SETSIG/F_SETOWN_EX.
 *   PROF_TIMER_PERF_USER  the same where perf_event_paranoid forbids
 *                         counting kernel time: an overflow in the kernel
 *                         is skipped, so kernel time is charged to the user
 *                         code that runs next (the CPU total stays right
 *                         because samples are weighed by CPU time).
 *   PROF_TIMER_POSIX      timer_create(CLOCK_THREAD_CPUTIME_ID) with
 *                         SIGEV_THREAD_ID: exact thread CPU time, but the
 *                         kernel checks it on scheduler ticks.
 *   PROF_TIMER_ITIMER     setitimer(ITIMER_PROF): tick-checked process
 *                         CPU time, the last resort.
 *
 * prof_timer_max_hz() is what a source can deliver; a profile_hz above it
 * is warned about at start and said in every CPU profile.
 */
#ifndef MG_PROF_TIMER_H
#define MG_PROF_TIMER_H

#include <stdint.h>
#include <time.h>

enum {
    PROF_TIMER_NONE = 0,
    PROF_TIMER_PERF,
    PROF_TIMER_PERF_USER,
    PROF_TIMER_POSIX,
    PROF_TIMER_ITIMER,
};

typedef struct {
    int src;     /* PROF_TIMER_* */
    int perf_fd; /* PERF sources */
    timer_t tid; /* POSIX */
    uint32_t hz; /* armed at; 0 = disarmed */
} prof_timer_t;

/* Choose and open the source for the calling thread; signals go to it as
 * `signo`. Returns the source (never fails: ITIMER is always there). */
int prof_timer_open(prof_timer_t *t, int signo);
/* Arm at hz (0 disarms). */
void prof_timer_arm(prof_timer_t *t, uint32_t hz);
void prof_timer_close(prof_timer_t *t);

const char *prof_timer_name(int src);
/* The highest rate the source delivers here. */
uint32_t prof_timer_max_hz(int src);
/* Which source a worker would get (opens and closes one): for the
 * master's start-up warning. */
int prof_timer_probe(void);

#endif
