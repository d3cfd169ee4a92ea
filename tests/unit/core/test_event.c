/*
 * test_event.c - the event loop on real file descriptors and the real
 * monotonic clock.
 *
 * Timers: they fire in deadline order, not before their time, re-arming
 * moves one (earlier or later), a deleted one never fires, a callback may
 * re-arm its own timer, and ev_run_once sleeps no longer than the earliest
 * timer. A heap of many timers with random deadlines and random deletions
 * fires exactly the survivors, in order.
 *
 * Readiness over a pipe: nothing is ready before a write; a written byte
 * makes the read end ready, and again on the next turn while it is unread
 * (level-triggered, which is what lets the HTTP layer park a connection by
 * changing its mask); ev_io_mod to a mask without EPOLLIN, and ev_io_del,
 * silence it; a full pipe's write end is not writable until it is drained;
 * a closed writer is a hang-up. Deferred functions run after every event of
 * the batch.
 */
#include <errno.h>
#include <signal.h>
#include <sys/time.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/event.h"
#include "core/prof_hooks.h"
#include "tests/unit/unit.h"

/* ---- timers ---- */

static int order[64], norder;

typedef struct {
    ev_timer_t t;
    int id;
    uint64_t armed_at, delay, fired_at;
    int rearm; /* re-arm itself this many more times */
    int fired;
} tm_t;

static void on_timer(ev_loop_t *l, ev_timer_t *t)
{
    tm_t *x = t->data;
    x->fired++;
    x->fired_at = clock_mono_ms();
    if (norder < 64)
        order[norder++] = x->id;
    if (x->rearm > 0) {
        x->rearm--;
        ev_timer_set(l, t, x->delay);
    }
}

static void arm(ev_loop_t *l, tm_t *x, int id, uint64_t ms)
{
    ev_timer_init(&x->t, on_timer, x);
    x->id = id;
    x->delay = ms;
    x->armed_at = ev_now(l);
    ev_timer_set(l, &x->t, ms);
}

static void run_until(ev_loop_t *l, int (*done)(void *), void *arg, int max_ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)max_ms;
    while (!done(arg) && clock_mono_ms() < end)
        ev_run_once(l, 50);
}

static int all_fired(void *arg)
{
    tm_t *x = arg;
    for (; x->id; x++)
        if (!x->fired && ev_timer_armed(&x->t))
            return 0;
    return 1;
}

static int periodic_done(void *arg)
{
    tm_t *x = arg;
    return x->rearm == 0 && !ev_timer_armed(&x->t);
}

static void test_timer_order(void)
{
    ev_loop_t *l = ev_loop_new();
    CHECK(l != NULL);
    ev_update_time(l);
    tm_t t[6] = {0};
    norder = 0;
    arm(l, &t[0], 1, 40);
    arm(l, &t[1], 2, 10);
    arm(l, &t[2], 3, 30);
    arm(l, &t[3], 4, 0);
    arm(l, &t[4], 5, 20);
    CHECK(ev_timer_armed(&t[0].t) && ev_timer_armed(&t[3].t));
    run_until(l, all_fired, t, 2000);
    CHECK(norder == 5, "five fired: %d", norder);
    int want[] = {4, 2, 5, 3, 1};
    for (int i = 0; i < 5 && i < norder; i++)
        CHECK(order[i] == want[i], "position %d: timer %d, want %d", i, order[i], want[i]);
    for (int i = 0; i < 5; i++) {
        CHECK(t[i].fired == 1, "timer %d fired once", t[i].id);
        CHECK(!ev_timer_armed(&t[i].t), "timer %d disarmed after firing", t[i].id);
        CHECK(t[i].fired_at >= t[i].armed_at + t[i].delay,
              "timer %d early: armed %llu +%llu fired %llu", t[i].id,
              (unsigned long long)t[i].armed_at, (unsigned long long)t[i].delay,
              (unsigned long long)t[i].fired_at);
    }
    ev_loop_free(l);
}

static void test_timer_rearm_and_delete(void)
{
    ev_loop_t *l = ev_loop_new();
    ev_update_time(l);
    tm_t t[4] = {0};
    norder = 0;
    arm(l, &t[0], 1, 10);
    arm(l, &t[1], 2, 20);
    arm(l, &t[2], 3, 30);
    /* 1 moves after 3, 3 moves before 2, 2 is deleted. */
    ev_timer_set(l, &t[0].t, 60);
    t[0].delay = 60;
    ev_timer_set(l, &t[2].t, 5);
    t[2].delay = 5;
    ev_timer_del(l, &t[1].t);
    CHECK(!ev_timer_armed(&t[1].t), "deleted");
    ev_timer_del(l, &t[1].t); /* twice is harmless */
    run_until(l, all_fired, t, 2000);
    CHECK(norder == 2 && order[0] == 3 && order[1] == 1, "re-armed order: %d [%d %d]", norder,
          order[0], order[1]);
    CHECK(t[1].fired == 0, "a deleted timer never fires");

    /* A callback re-arming its own timer: a periodic tick. */
    tm_t p[2] = {0};
    norder = 0;
    arm(l, &p[0], 7, 5);
    p[0].rearm = 3;
    run_until(l, periodic_done, p, 2000);
    CHECK(p[0].fired == 4, "periodic timer fired %d times", p[0].fired);

    /* Pushed back (lazily: its heap place is still the old time) and then
     * due together with one armed for between: the deadlines decide. */
    tm_t q[4] = {0}; /* ends with a zero id */
    norder = 0;
    arm(l, &q[0], 1, 5);
    arm(l, &q[1], 2, 20);
    ev_timer_set(l, &q[0].t, 40);
    q[0].delay = 40;
    usleep(60000);
    ev_update_time(l);
    ev_run_once(l, 0);
    CHECK(norder == 2 && order[0] == 2 && order[1] == 1, "due together: %d [%d %d]", norder,
          order[0], order[1]);
    /* Pushed back, then brought forward again before the old time. */
    norder = 0;
    arm(l, &q[2], 3, 200);
    ev_timer_set(l, &q[2].t, 400);
    ev_timer_set(l, &q[2].t, 10);
    q[2].delay = 10;
    uint64_t t0 = clock_mono_ms();
    run_until(l, all_fired, q, 2000);
    CHECK(q[2].fired == 1 && clock_mono_ms() - t0 < 190, "brought forward: fired after %llu ms",
          (unsigned long long)(clock_mono_ms() - t0));
    ev_loop_free(l);
}

static void test_wait_bounded_by_timer(void)
{
    ev_loop_t *l = ev_loop_new();
    ev_update_time(l);
    tm_t t[2] = {0};
    arm(l, &t[0], 1, 30);
    uint64_t t0 = clock_mono_ms();
    while (!t[0].fired && clock_mono_ms() - t0 < 2000)
        ev_run_once(l, 5000); /* the timer, not 5 s, bounds the sleep */
    uint64_t took = clock_mono_ms() - t0;
    CHECK(t[0].fired == 1 && took >= 30 && took < 1000, "fired after %llu ms",
          (unsigned long long)took);
    /* Nothing armed, nothing ready: max_wait_ms bounds it. */
    t0 = clock_mono_ms();
    CHECK(ev_run_once(l, 20) == 0, "no events");
    took = clock_mono_ms() - t0;
    CHECK(took >= 15 && took < 1000, "waited %llu ms for max_wait 20", (unsigned long long)took);
    uint64_t before = ev_now(l);
    usleep(20000);
    ev_update_time(l);
    CHECK(ev_now(l) >= before + 20, "ev_update_time refreshes the cached clock");
    ev_loop_free(l);
}

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static uint64_t last_when;
static int heap_ok = 1, heap_fired;
static void on_heap(ev_loop_t *l, ev_timer_t *t)
{
    (void)l;
    if (t->when_ms < last_when)
        heap_ok = 0;
    last_when = t->when_ms;
    heap_fired++;
    *(int *)t->data += 1;
}

static void test_timer_heap(void)
{
    enum { N = 2000 };
    ev_loop_t *l = ev_loop_new();
    ev_update_time(l);
    static ev_timer_t ts[N];
    static int fired[N];
    int deleted = 0;
    for (int i = 0; i < N; i++) {
        ev_timer_init(&ts[i], on_heap, &fired[i]);
        ev_timer_set(l, &ts[i], rnd() % 60);
    }
    for (int i = 0; i < N; i++) {
        uint32_t r = rnd() % 3;
        if (r == 0) {
            ev_timer_del(l, &ts[i]);
            deleted++;
        } else if (r == 1) {
            ev_timer_set(l, &ts[i], rnd() % 60); /* re-armed in place */
        }
    }
    uint64_t end = clock_mono_ms() + 3000;
    while (heap_fired < N - deleted && clock_mono_ms() < end)
        ev_run_once(l, 50);
    CHECK(heap_fired == N - deleted, "fired %d of %d survivors", heap_fired, N - deleted);
    CHECK(heap_ok, "fired in deadline order");
    int wrong = 0;
    for (int i = 0; i < N; i++)
        wrong += fired[i] > 1;
    CHECK(wrong == 0, "%d timers fired more than once", wrong);
    ev_loop_free(l);
}

/* ---- fd readiness ---- */

typedef struct {
    ev_io_t io;
    int calls;
    uint32_t last;
} io_t;

static void on_io(ev_loop_t *l, ev_io_t *io, uint32_t events)
{
    (void)l;
    io_t *x = io->data;
    x->calls++;
    x->last = events;
}

static void test_pipe_readiness(void)
{
    ev_loop_t *l = ev_loop_new();
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    io_t r = {.io = {.fd = p[0], .cb = on_io}}, w = {.io = {.fd = p[1], .cb = on_io}};
    r.io.data = &r;
    w.io.data = &w;
    CHECK(ev_io_add(l, &r.io, EPOLLIN) == 0 && r.io.events == EPOLLIN);
    CHECK(ev_run_once(l, 0) == 0 && r.calls == 0, "empty pipe: not readable");

    CHECK(write(p[1], "x", 1) == 1);
    CHECK(ev_run_once(l, 1000) == 1 && r.calls == 1 && (r.last & EPOLLIN), "readable");
    CHECK(ev_run_once(l, 0) == 1 && r.calls == 2, "level-triggered: again while unread");

    CHECK(ev_io_mod(l, &r.io, 0) == 0 && r.io.events == 0);
    CHECK(ev_run_once(l, 0) == 0 && r.calls == 2, "parked: mask without EPOLLIN");
    CHECK(ev_io_mod(l, &r.io, EPOLLIN) == 0);
    CHECK(ev_run_once(l, 0) == 1 && r.calls == 3, "unparked: the byte is still there");
    CHECK(ev_io_mod(l, &r.io, EPOLLIN) == 0, "same mask: no syscall, still fine");
    char c;
    CHECK(read(p[0], &c, 1) == 1 && c == 'x');
    CHECK(ev_run_once(l, 0) == 0 && r.calls == 3, "drained: not readable");

    /* The write end: writable until the pipe is full, again once drained. */
    CHECK(ev_io_add(l, &w.io, EPOLLOUT) == 0);
    CHECK(ev_run_once(l, 0) == 1 && w.calls == 1 && (w.last & EPOLLOUT), "writable");
    char chunk[4096];
    memset(chunk, 'y', sizeof chunk);
    size_t total = 0;
    for (;;) {
        ssize_t n = write(p[1], chunk, sizeof chunk);
        if (n < 0) {
            CHECK(errno == EAGAIN);
            break;
        }
        total += (size_t)n;
    }
    int wc = w.calls;
    CHECK(ev_run_once(l, 0) == 1 && w.calls == wc && r.calls == 4,
          "full: only the read end is ready (%d writes)", w.calls - wc);
    for (size_t got = 0; got < total;) {
        ssize_t n = read(p[0], chunk, sizeof chunk);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    CHECK(ev_run_once(l, 0) == 1 && w.calls == wc + 1, "drained: writable again");
    CHECK(ev_io_del(l, &w.io) == 0 && w.io.events == 0);
    CHECK(ev_run_once(l, 0) == 0 && w.calls == wc + 1, "deleted: silent");

    /* The writer goes away: the reader sees a hang-up. */
    close(p[1]);
    CHECK(ev_run_once(l, 1000) == 1 && (r.last & EPOLLHUP), "hang-up: events %#x", r.last);
    CHECK(ev_io_del(l, &r.io) == 0);
    close(p[0]);
    ev_loop_free(l);
}

/* ---- deferred functions ---- */

static int defer_log[8], ndefer_log, io_calls;
static ev_loop_t *dl;

static void deferred(void *arg)
{
    int v = (int)(intptr_t)arg;
    defer_log[ndefer_log++] = v;
    if (v == 100)
        ev_defer(dl, deferred, (void *)(intptr_t)101); /* defers more: same turn */
}

static void on_io_defer(ev_loop_t *l, ev_io_t *io, uint32_t events)
{
    (void)events;
    io_t *x = io->data;
    x->calls++;
    defer_log[ndefer_log++] = x->io.fd < 0 ? -1 : 1; /* an I/O callback ran */
    if (++io_calls == 1)
        ev_defer(l, deferred, (void *)(intptr_t)100);
}

static void test_defer(void)
{
    dl = ev_loop_new();
    int a[2], b[2];
    CHECK(pipe2(a, O_NONBLOCK) == 0 && pipe2(b, O_NONBLOCK) == 0);
    io_t ra = {.io = {.fd = a[0], .cb = on_io_defer}}, rb = {.io = {.fd = b[0], .cb = on_io_defer}};
    ra.io.data = &ra;
    rb.io.data = &rb;
    ev_io_add(dl, &ra.io, EPOLLIN);
    ev_io_add(dl, &rb.io, EPOLLIN);
    CHECK(write(a[1], "1", 1) == 1 && write(b[1], "1", 1) == 1);
    CHECK(ev_run_once(dl, 1000) == 2, "both ready in one batch");
    CHECK(ndefer_log == 4 && defer_log[0] == 1 && defer_log[1] == 1 && defer_log[2] == 100 &&
              defer_log[3] == 101,
          "deferred after every event of the batch, and what it defers the same turn: %d [%d %d "
          "%d %d]",
          ndefer_log, defer_log[0], defer_log[1], defer_log[2], defer_log[3]);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    ev_loop_free(dl);
}

/* A signal interrupting the wait is not an error, whatever the off-CPU
 * hook's own calls leave in errno: a hook that sets EAGAIN once made a
 * worker take an interrupted epoll_wait for a failure and exit. */
static void idle_hook_clobbers(uint64_t ns)
{
    (void)ns;
    errno = EAGAIN;
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void test_interrupted_wait(void)
{
    ev_loop_t *l = ev_loop_new();
    struct sigaction sa;
    struct itimerval it = {{0, 0}, {0, 20000}}; /* one SIGALRM in 20 ms */

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: epoll_wait returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    prof_hooks.idle = idle_hook_clobbers;
    setitimer(ITIMER_REAL, &it, NULL);
    int r = ev_run_once(l, 2000);
    prof_hooks.idle = NULL;
    CHECK(r == 0, "an interrupted wait returned %d (errno %d)", r, errno);
    ev_loop_free(l);
}

int main(void)
{
    test_timer_order();
    test_timer_rearm_and_delete();
    test_wait_bounded_by_timer();
    test_timer_heap();
    test_pipe_readiness();
    test_defer();
    test_interrupted_wait();
    return unit_done("test_event");
}
