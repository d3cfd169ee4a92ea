/*
 * event.c - epoll loop and timer heap (see event.h).
 *
 * epoll is used level-triggered: the HTTP layer reads until EAGAIN anyway,
 * and level triggering makes "stop reading this connection for a while"
 * (pipelined requests waiting for a deferred answer) a matter of changing
 * the interest mask, with no lost wake-ups.
 *
 * Timers are a binary min-heap of pointers; each timer stores its index so
 * deletion and re-arming are O(log n). Expired timers run after I/O, with
 * the clock refreshed once per iteration (ev_now), as nginx does.
 *
 * Re-arming later is lazy. A connection's timeout moves on every request
 * (header timeout, then keep-alive, then the next header timeout), almost
 * always later than it was, and three heap moves a request showed in the
 * profile of POST /magic/generate. A timer's heap key (key_ms) may lag its
 * deadline (when_ms): re-arming later only updates when_ms, and when the
 * key comes due run_timers moves the timer down to its deadline instead of
 * firing it. Re-arming earlier moves it up at
 * once, so the key is never later than the deadline and no timer fires
 * late; the cost is at most one early wake-up of the loop for a timer
 * that was pushed back.
 */
#include "core/event.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/prof_hooks.h"

/* Events taken per epoll_wait. Parked answers (the outbox's group write,
 * the spool's group commit) go out at the end of the iteration, so a
 * batch is also how many requests are read and parsed before the first of
 * them is answered. With 256, a generate under wrk -c500 waited for 255
 * others, their buffers all live at once (past the L2 cache) while the
 * client's core sat idle, and the kernel's deferred frees of the client's
 * socket buffers piled up until it sent that core an IPI (3.5% of the
 * worker's CPU in `perf`, in read()); 64 cut the CPU per generate in the
 * 64 MB / 0.5 CPU box by 5% (docs/results.md), and 32 measured the same. */
#define EV_BATCH 64

struct ev_loop {
    int epfd;
    uint64_t now_ms;
    ev_timer_t **heap;
    int nheap, capheap;
    struct deferred {
        void (*fn)(void *);
        void *arg;
    } * defer;
    int ndefer, capdefer;
    struct epoll_event events[EV_BATCH];
};

ev_loop_t *ev_loop_new(void)
{
    ev_loop_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    l->now_ms = clock_mono_ms();
    return l;
}

void ev_loop_free(ev_loop_t *l)
{
    if (!l)
        return;
    close(l->epfd);
    free(l->heap);
    free(l->defer);
    free(l);
}

static int ctl(ev_loop_t *l, int op, ev_io_t *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(l->epfd, op, io->fd, &ev) < 0)
        return -1;
    io->events = events;
    return 0;
}

int ev_io_add(ev_loop_t *l, ev_io_t *io, uint32_t events)
{
    return ctl(l, EPOLL_CTL_ADD, io, events);
}

int ev_io_mod(ev_loop_t *l, ev_io_t *io, uint32_t events)
{
    if (io->events == events)
        return 0;
    return ctl(l, EPOLL_CTL_MOD, io, events);
}

int ev_io_del(ev_loop_t *l, ev_io_t *io)
{
    io->events = 0;
    return epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

uint64_t ev_now(const ev_loop_t *l)
{
    return l->now_ms;
}

void ev_update_time(ev_loop_t *l)
{
    l->now_ms = clock_mono_ms();
}

/* ---- timer heap ---- */

static void heap_swap(ev_loop_t *l, int i, int j)
{
    ev_timer_t *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->heap_idx = i;
    l->heap[j]->heap_idx = j;
}

static void heap_up(ev_loop_t *l, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (l->heap[p]->key_ms <= l->heap[i]->key_ms)
            break;
        heap_swap(l, i, p);
        i = p;
    }
}

static void heap_down(ev_loop_t *l, int i)
{
    for (;;) {
        int c = 2 * i + 1, m = i;
        if (c < l->nheap && l->heap[c]->key_ms < l->heap[m]->key_ms)
            m = c;
        if (c + 1 < l->nheap && l->heap[c + 1]->key_ms < l->heap[m]->key_ms)
            m = c + 1;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

void ev_timer_del(ev_loop_t *l, ev_timer_t *t)
{
    int i = t->heap_idx;
    if (i < 0)
        return;
    t->heap_idx = -1;
    l->nheap--;
    if (i == l->nheap)
        return;
    l->heap[i] = l->heap[l->nheap];
    l->heap[i]->heap_idx = i;
    heap_up(l, i);
    heap_down(l, l->heap[i]->heap_idx);
}

void ev_timer_set(ev_loop_t *l, ev_timer_t *t, uint64_t ms)
{
    uint64_t when = l->now_ms + ms;
    if (t->heap_idx >= 0) {
        t->when_ms = when;
        if (when < t->key_ms) {
            t->key_ms = when;
            heap_up(l, t->heap_idx);
        } /* later: the key catches up when it comes due (run_timers) */
        return;
    }
    if (l->nheap == l->capheap) {
        int cap = l->capheap ? l->capheap * 2 : 64;
        ev_timer_t **h = realloc(l->heap, (size_t)cap * sizeof *h);
        if (!h)
            abort(); /* a connection without a timeout is a leak; fail loudly */
        l->heap = h;
        l->capheap = cap;
    }
    t->when_ms = t->key_ms = when;
    t->heap_idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_idx);
}

int ev_defer(ev_loop_t *l, void (*fn)(void *), void *arg)
{
    if (l->ndefer == l->capdefer) {
        int cap = l->capdefer ? l->capdefer * 2 : 64;
        struct deferred *d = realloc(l->defer, (size_t)cap * sizeof *d);
        if (!d)
            return -1;
        l->defer = d;
        l->capdefer = cap;
    }
    l->defer[l->ndefer].fn = fn;
    l->defer[l->ndefer].arg = arg;
    l->ndefer++;
    return 0;
}

void ev_run_deferred(ev_loop_t *l)
{
    /* A deferred function may defer more; run until the list is empty. */
    for (int i = 0; i < l->ndefer; i++)
        l->defer[i].fn(l->defer[i].arg);
    l->ndefer = 0;
}

static void ev_nothing(void *arg)
{
    (void)arg;
}

void ev_defer_cancel(ev_loop_t *l, void (*fn)(void *), void *arg)
{
    for (int i = 0; i < l->ndefer; i++)
        if (l->defer[i].fn == fn && l->defer[i].arg == arg)
            l->defer[i].fn = ev_nothing; /* the list may be being walked */
}

static void run_timers(ev_loop_t *l)
{
    while (l->nheap > 0 && l->heap[0]->key_ms <= l->now_ms) {
        ev_timer_t *t = l->heap[0];
        if (t->key_ms != t->when_ms) {
            /* Pushed back since: move it to its deadline, even one that
             * has passed too, so timers due together fire in deadline
             * order. */
            t->key_ms = t->when_ms;
            heap_down(l, 0);
            continue;
        }
        ev_timer_del(l, t);
        t->cb(l, t);
    }
}

int ev_run_once(ev_loop_t *l, int max_wait_ms)
{
    int wait = max_wait_ms;
    if (l->ndefer > 0)
        wait = 0; /* deferred from outside the loop (a tick): run it now */
    else if (l->nheap > 0) {
        uint64_t first = l->heap[0]->key_ms; /* maybe a pushed-back timer: see above */
        int until = first <= l->now_ms ? 0 : (int)(first - l->now_ms);
        if (wait < 0 || until < wait)
            wait = until;
    }
    uint64_t idle = prof_idle_begin(); /* off-CPU profile: waiting for events */
    int n = epoll_wait(l->epfd, l->events, EV_BATCH, wait);
    int err = errno; /* before anything else can set it */
    prof_idle_end(idle);
    l->now_ms = clock_mono_ms();
    if (n < 0) {
        /* A signal (SIGPROF, a stop and continue) interrupts the wait;
         * errno is the one epoll_wait set, not what the off-CPU hook's
         * own calls left (that once read as EAGAIN and killed a worker). */
        if (err == EINTR)
            return 0;
        errno = err;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        ev_io_t *io = l->events[i].data.ptr;
        io->cb(l, io, l->events[i].events);
    }
    ev_run_deferred(l);
    run_timers(l);
    ev_run_deferred(l);
    return n;
}
