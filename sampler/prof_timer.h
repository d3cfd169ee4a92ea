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
 * With PROF_TIMER_PERF (the kernel lets this thread count kernel time:
 * perf_event_paranoid <= 1, or CAP_PERFMON / CAP_SYS_ADMIN) the same event
 * also records the kernel callchain of each overflow (PERF_SAMPLE_CALLCHAIN,
 * kernel part only) into a small mmap'd ring, so a sample taken inside
 * write() shows whether it was tcp_sendmsg or ext4 (as perf does), and the
 * SIGPROF handler puts those frames before the user stack it unwinds.
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
    /* PROF_TIMER_PERF with kernel callchains: the event's mmap'd sample
     * ring (the metadata page, then ring_size bytes of records) */
    void *ring;
    size_t ring_size;
    int kernel_why; /* PROF_KERNEL_*: why there are no kernel frames */
} prof_timer_t;

/* Kernel frames: on, or why not. */
enum {
    PROF_KERNEL_ON = 0,
    PROF_KERNEL_REFUSED, /* perf_event_paranoid > 1 and no CAP_PERFMON */
    PROF_KERNEL_NO_RING, /* the sample ring could not be mapped (mlock limit) */
    PROF_KERNEL_NO_PERF, /* no perf_event at all: a tick-checked fallback */
};

/* Choose and open the source for the calling thread; signals go to it as
 * `signo`. Returns the source (never fails: ITIMER is always there). */
int prof_timer_open(prof_timer_t *t, int signo);
/* The kernel's part of the stack at the last overflow (leaf first, at
 * most max), from the newest sample record in the event's ring; every
 * record is consumed. 0 when the overflow came in user mode, or without
 * kernel callchains. Async-signal-safe: loads and stores on the shared
 * ring, nothing else. */
int prof_timer_kernel_frames(prof_timer_t *t, uint64_t *ips, int max);
const char *prof_timer_kernel_why(int why);

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
