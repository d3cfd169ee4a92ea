/*
 * test_prof_timer.c - the CPU-time clock behind SIGPROF.
 *
 * Arms the best source the kernel allows at 1000 Hz and burns CPU, half in
 * user code and half in system calls: the signals must match the CPU time
 * used (within 15%) for the perf_event source, which counts kernel time
 * and fires after each period of it; a tick-checked fallback must at least
 * deliver. Disarmed, no signal comes. A source name and a maximum rate are
 * reported for each source.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sampler/prof_timer.h"
#include "tests/unit/unit.h"

static volatile sig_atomic_t hits;

static void on_prof(int sig)
{
    (void)sig;
    hits++;
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Burn about `ns` of CPU, alternating user loops and cheap system calls. */
static void burn(uint64_t ns)
{
    uint64_t end = cpu_ns() + ns;
    volatile uint64_t x = 0;
    while (cpu_ns() < end) {
        for (int i = 0; i < 20000; i++)
            x += (uint64_t)i * 2654435761u;
        for (int i = 0; i < 200; i++)
            (void)getppid();
    }
    (void)x; /* volatile: the loop is not optimised away; read to say so */
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prof;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);

    prof_timer_t t;
    int src = prof_timer_open(&t, SIGPROF);
    CHECK(src != PROF_TIMER_NONE);
    CHECK(strcmp(prof_timer_name(src), "none") != 0);
    CHECK(prof_timer_max_hz(src) >= 100, "%u", prof_timer_max_hz(src));
    fprintf(stderr, "source: %s, up to %u Hz\n", prof_timer_name(src), prof_timer_max_hz(src));

    prof_timer_arm(&t, 1000);
    uint64_t c0 = cpu_ns();
    hits = 0;
    burn(300000000ull);
    int got = hits;
    uint64_t used = cpu_ns() - c0;
    prof_timer_arm(&t, 0);
    double want = (double)used / 1e6;
    fprintf(stderr, "%d signals for %.1f ms of CPU at 1000 Hz\n", got, want);
    if (src == PROF_TIMER_PERF)
        CHECK(got > 0.85 * want && got < 1.15 * want, "%d signals for %.1f periods", got, want);
    else
        CHECK(got > 0, "no signal from %s", prof_timer_name(src));

    hits = 0;
    burn(50000000ull);
    CHECK(hits == 0, "%d signals while disarmed", (int)hits);
    prof_timer_close(&t);
    CHECK(prof_timer_probe() == src);

    for (int s = PROF_TIMER_PERF; s <= PROF_TIMER_ITIMER; s++)
        CHECK(prof_timer_name(s)[0] && prof_timer_max_hz(s) > 0);
    return unit_done("prof_timer");
}
