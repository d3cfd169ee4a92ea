/*
 * backoff.h - when the master may start a child again after it exited.
 *
 * A child that dies within BACKOFF_CRASH_WINDOW_MS of starting counts as
 * crashing in a loop; its next start waits BACKOFF_FIRST_MS, doubling per
 * crash in a row up to BACKOFF_MAX_MS, so a broken deployment logs a few
 * lines a minute instead of forking thousands of times. One that ran for a
 * while, or exited cleanly, is replaced at once and its count starts over.
 *
 * Pure: the caller passes the clock, so the rule is unit-tested without
 * forking anything (tests/unit/master/test_backoff.c).
 */
#ifndef MG_BACKOFF_H
#define MG_BACKOFF_H

#include <stdint.h>

#define BACKOFF_CRASH_WINDOW_MS 2000
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 30000

typedef struct {
    int crashes;            /* consecutive quick crashes */
    uint64_t not_before_ms; /* earliest respawn */
} backoff_t;

/* A child started at started_ms exited at now_ms; crashed: killed by a
 * signal or a non-zero exit code. Updates b and returns the delay before
 * the child may be started again (0: at once). */
uint64_t backoff_exited(backoff_t *b, uint64_t started_ms, uint64_t now_ms, int crashed);

/* Whether a child under b may be started at now_ms. */
static inline int backoff_ready(const backoff_t *b, uint64_t now_ms)
{
    return now_ms >= b->not_before_ms;
}

#endif
