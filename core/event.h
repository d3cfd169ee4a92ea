/*
 * event.h - the epoll event loop every process type runs.
 *
 * One loop per process, single-threaded. File descriptors are registered with
 * an ev_io (callback + data); timers live in a binary min-heap keyed by
 * monotonic milliseconds, each timer knowing its heap index so re-arming a
 * connection's timeout on every read is O(log n) with no allocation, and
 * pushing a deadline later is O(1) (event.c).
 * ev_run_once() waits for at most the earliest timer (or max_wait_ms), runs
 * ready I/O callbacks, then expired timers. Nothing here blocks except
 * epoll_wait itself.
 */
#ifndef MG_EVENT_H
#define MG_EVENT_H

#include <stdint.h>
#include <sys/epoll.h>

typedef struct ev_loop ev_loop_t;
typedef struct ev_io ev_io_t;
typedef struct ev_timer ev_timer_t;

typedef void (*ev_io_cb)(ev_loop_t *loop, ev_io_t *io, uint32_t events);
typedef void (*ev_timer_cb)(ev_loop_t *loop, ev_timer_t *t);

struct ev_io {
    int fd;
    uint32_t events; /* registered EPOLL* mask */
    ev_io_cb cb;
    void *data;
};

struct ev_timer {
    uint64_t when_ms; /* absolute, monotonic: when it fires */
    uint64_t key_ms;  /* its place in the heap, <= when_ms (event.c: lazy re-arming) */
    ev_timer_cb cb;
    void *data;
    int heap_idx; /* -1 when not armed */
};

ev_loop_t *ev_loop_new(void);
void ev_loop_free(ev_loop_t *loop);

int ev_io_add(ev_loop_t *loop, ev_io_t *io, uint32_t events);
int ev_io_mod(ev_loop_t *loop, ev_io_t *io, uint32_t events);
int ev_io_del(ev_loop_t *loop, ev_io_t *io);

static inline void ev_timer_init(ev_timer_t *t, ev_timer_cb cb, void *data)
{
    t->when_ms = t->key_ms = 0;
    t->cb = cb;
    t->data = data;
    t->heap_idx = -1;
}
/* Arm (or re-arm) t to fire after ms milliseconds. Pushing an armed
 * timer later costs nothing (it is re-placed when its old time comes). */
void ev_timer_set(ev_loop_t *loop, ev_timer_t *t, uint64_t ms);
void ev_timer_del(ev_loop_t *loop, ev_timer_t *t);
static inline int ev_timer_armed(const ev_timer_t *t)
{
    return t->heap_idx >= 0;
}

/* Run fn(arg) at the end of the current iteration, after every ready event
 * of the batch has been dispatched. This is how a connection closed by one
 * callback is freed without a later event of the same batch touching freed
 * memory. */
int ev_defer(ev_loop_t *loop, void (*fn)(void *), void *arg);
/* Run what was deferred now (teardown, outside any event callback). */
void ev_run_deferred(ev_loop_t *loop);
/* Forget a deferred fn(arg) not yet run (its arg is about to be freed). */
void ev_defer_cancel(ev_loop_t *loop, void (*fn)(void *), void *arg);

/* Cached monotonic time of the current iteration, in ms. */
uint64_t ev_now(const ev_loop_t *loop);
void ev_update_time(ev_loop_t *loop);

/* One iteration. Returns the number of I/O events handled, -1 on error
 * other than EINTR (EINTR returns 0 so signal flags get checked). */
int ev_run_once(ev_loop_t *loop, int max_wait_ms);

#endif
