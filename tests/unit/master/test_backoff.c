/*
 * test_backoff.c - the master's respawn back-off, as a pure function of the
 * clock: quick crashes in a row wait 250 ms doubling to a 30 s cap; a child
 * that ran past the crash window, or exited cleanly, is replaced at once
 * and its count starts over; a long crash loop never overflows the shift.
 */
#include <stdint.h>

#include "master/backoff.h"
#include "tests/unit/unit.h"

static void test_doubling_to_cap(void)
{
    backoff_t b = {0};
    uint64_t now = 1000000, want[] = {250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (int i = 0; i < 9; i++) {
        uint64_t started = now;
        now += 100; /* died 100 ms after starting */
        uint64_t d = backoff_exited(&b, started, now, 1);
        CHECK(d == want[i], "crash %d: delay %llu, want %llu", i + 1, (unsigned long long)d,
              (unsigned long long)want[i]);
        CHECK(b.crashes == i + 1 && b.not_before_ms == now + d, "crash %d bookkeeping", i + 1);
        CHECK(!backoff_ready(&b, now + d - 1) && backoff_ready(&b, now + d),
              "ready exactly at the deadline");
        now += d;
    }
    /* Far more crashes than the shift can take. */
    for (int i = 0; i < 100; i++)
        CHECK(backoff_exited(&b, now, now + 10, 1) == BACKOFF_MAX_MS);
    CHECK(b.crashes == 109, "counted: %d", b.crashes);
}

static void test_reset(void)
{
    backoff_t b = {0};
    uint64_t now = 5000;
    backoff_exited(&b, now, now + 10, 1);
    backoff_exited(&b, now, now + 20, 1);
    CHECK(b.crashes == 2);
    /* Ran for the whole window: a crash, but not a loop. */
    uint64_t d = backoff_exited(&b, now, now + BACKOFF_CRASH_WINDOW_MS, 1);
    CHECK(d == 0 && b.crashes == 0 && backoff_ready(&b, now + BACKOFF_CRASH_WINDOW_MS),
          "a child that ran 2 s is replaced at once");
    CHECK(backoff_exited(&b, now, now + 1, 1) == BACKOFF_FIRST_MS, "and starts over at 250 ms");
    /* A clean exit (code 0) right after starting is no crash. */
    CHECK(backoff_exited(&b, now, now + 1, 0) == 0 && b.crashes == 0, "clean exit");
    /* Just inside the window still counts. */
    CHECK(backoff_exited(&b, now, now + BACKOFF_CRASH_WINDOW_MS - 1, 1) == BACKOFF_FIRST_MS);
    /* A clock that went backwards (started after now) is a quick crash, not a huge run. */
    backoff_t c = {0};
    CHECK(backoff_exited(&c, 9000, 8000, 1) == BACKOFF_FIRST_MS, "clock skew");
    /* A fresh entry may start at once. */
    backoff_t z = {0};
    CHECK(backoff_ready(&z, 0));
}

int main(void)
{
    test_doubling_to_cap();
    test_reset();
    return unit_done("test_backoff");
}
