/*
 * backoff.c - the respawn back-off rule (see backoff.h).
 */
#include "master/backoff.h"

uint64_t backoff_exited(backoff_t *b, uint64_t started_ms, uint64_t now_ms, int crashed)
{
    uint64_t ran = now_ms >= started_ms ? now_ms - started_ms : 0;
    if (!crashed || ran >= BACKOFF_CRASH_WINDOW_MS) {
        b->crashes = 0;
        b->not_before_ms = now_ms;
        return 0;
    }
    /* 250 ms << 7 = 32 s is already past the cap: no shift beyond it. */
    int shift = b->crashes < 7 ? b->crashes : 7;
    uint64_t d = (uint64_t)BACKOFF_FIRST_MS << shift;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    if (b->crashes < 1000000)
        b->crashes++;
    b->not_before_ms = now_ms + d;
    return d;
}
