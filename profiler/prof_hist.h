/*
 * prof_hist.h - the CPU history: the last hour of 10-s CPU profiles.
 *
 * With profile_continuous on the workers sample all the time and the
 * profiler drains their rings every 100 ms. prof_hist keeps what it drains
 * in windows of 10 s aligned on the wall clock (:00, :10, ...), each a
 * table of (stack, pid, worker, route, request id) -> weight, so an
 * operator can look back at a spike that already happened:
 * profile?since=5m or profile?start=T1&end=T2 merges the stored windows
 * that overlap the asked range into one profile at once, and its samples
 * are exactly the sum of those windows'.
 *
 * Bounded twice: at most profile_history worth of windows (1h: 360), and
 * at most profile_history_max_size bytes in all; the oldest window goes
 * first. Stacks are interned once for the whole history (reference
 * counted, freed with the last window that uses them), so a steady server
 * whose stacks repeat costs a few dozen bytes per distinct sample a window.
 *
 * The clocks come from the caller (prof_hist_tick), so the unit test can
 * drive the windows with made-up times.
 */
#ifndef MG_PROF_HIST_H
#define MG_PROF_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "profiler/prof_snap.h"
#include "profiler/prof_write.h"

#define PROF_HIST_WINDOW_NS (10ull * 1000000000ull)

typedef struct prof_hist prof_hist_t;

typedef struct {
    size_t windows;          /* closed windows stored */
    uint64_t first_wall_ns;  /* start of the oldest window's samples; 0 = none */
    uint64_t end_wall_ns;    /* end of what is covered (the open window's now) */
    size_t bytes, max_bytes; /* memory used, cap */
    uint64_t keep_ns;        /* profile_history */
    uint64_t evicted;        /* windows dropped for memory before their time */
    uint64_t dropped;        /* samples not kept: one window over the cap */
} prof_hist_stat_t;

/* What a collected range holds. */
typedef struct {
    unsigned nwin;          /* windows merged (the open one included) */
    uint64_t start_wall_ns; /* first merged window's first covered instant */
    uint64_t end_wall_ns;   /* last one's end (or now, for the open one) */
    uint32_t hz;            /* the last window's rate */
    int mixed_hz;           /* windows sampled at different rates */
} prof_hist_range_t;

prof_hist_t *prof_hist_new(void);
void prof_hist_free(prof_hist_t *h);
/* profile_history and profile_history_max_size (follow reloads). */
void prof_hist_limits(prof_hist_t *h, uint64_t keep_ns, size_t max_bytes);

/* Advance the clock: opens a window when none is open, closes the open
 * one when its 10 s are over (storing it, evicting the oldest past the
 * limits). hz is the rate the samples are taken at now. */
void prof_hist_tick(prof_hist_t *h, uint64_t mono_ns, uint64_t wall_ns, uint32_t hz);
/* One drained sample, taken at ts (CLOCK_MONOTONIC ns), into the open
 * window; a sample taken after the open window's end rolls the history on
 * to the next window first. */
void prof_hist_add(prof_hist_t *h, uint64_t ts, const prof_worker_t *w, unsigned route,
                   unsigned weight, const char *rid, const uint64_t *pcs, unsigned n);
/* Samples lost in the rings (full) during the open window. */
void prof_hist_drops(prof_hist_t *h, uint64_t n);
/* Close the open window now (a stopping profile_continuous). */
void prof_hist_close(prof_hist_t *h, uint64_t wall_ns);

/* Every window that overlaps [start, end) (wall ns) into d, in the words
 * prof_write_cpu() reads. 0, or -1 when out of memory. */
int prof_hist_collect(const prof_hist_t *h, uint64_t start_wall_ns, uint64_t end_wall_ns,
                      uint64_t now_wall_ns, prof_cpu_data_t *d, prof_hist_range_t *r);
void prof_hist_stat(const prof_hist_t *h, uint64_t now_wall_ns, prof_hist_stat_t *st);

#endif
