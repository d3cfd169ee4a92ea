/*
 * outbox_group.h - the outbox's lines of one event-loop iteration, written
 * with one write(2).
 *
 * `delivery outbox` appends a JSON line per link to a file every worker
 * shares. One write per link cost the worker an ext4 write (and its inode
 * time update) plus an fstat under the outbox lock on every POST
 * /magic/generate: a quarter of the route's kernel time. Here the lines of
 * every request handled in one iteration of the loop are gathered and
 * appended at its end (ev_defer) with one fstat and one write under the
 * lock, and only then is each request answered (its done callback), so the
 * promise stays what it was: a 200 is sent only after its line is in the
 * file, and a short write (a full disk) cuts the whole group off again and
 * fails every request in it with the same error, losing no line that was
 * promised.
 *
 * The flush hands the group's lines to write_fn (the outbox append of
 * app/delivery.c, which owns the file, the lock and the roll-back) and
 * then answers the waiters; a waiter whose client left is cancelled
 * (outbox_group_cancel) and only skipped. Requests that arrive while the
 * answers go out (pipelined ones answered at once) form the next group.
 */
#ifndef MG_OUTBOX_GROUP_H
#define MG_OUTBOX_GROUP_H

#include <stddef.h>

#include "core/event.h"

typedef struct outbox_group outbox_group_t;

/* write_fn(ctx, buf, n): append n bytes as one piece; 0 or -1. */
typedef int (*outbox_write_fn)(void *ctx, const char *buf, size_t n);
typedef void (*outbox_done_fn)(void *arg, int rc);

outbox_group_t *outbox_group_new(ev_loop_t *loop, outbox_write_fn write_fn, void *ctx);
/* Flushes what is still gathered (the worker is exiting), then frees. */
void outbox_group_free(outbox_group_t *g);

/* Queue one line; done(arg, 0 | -1) runs once it is written (or not).
 * 0, or -1 (out of memory: nothing queued, done is never called). */
int outbox_group_add(outbox_group_t *g, const char *line, size_t n, outbox_done_fn done, void *arg);
/* The request waiting with arg went away: its line is still written, its
 * done is not called. */
void outbox_group_cancel(outbox_group_t *g, void *arg);

#endif
