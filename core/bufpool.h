/*
 * bufpool.h - one process's budget of connection buffer memory.
 *
 * A connection owns no buffer while it is idle: when bytes arrive it takes
 * a BUFPOOL_CHUNK-sized buffer from the pool, grows it only as far as the
 * request needs (up to the buffer's own max), and gives it back as soon as
 * the request is answered and its output flushed. Returned chunks of the
 * standard size are kept on a free list (bounded) so a busy keep-alive
 * connection takes and returns the same memory without malloc; larger ones
 * go back to malloc at once.
 *
 * The pool counts every byte it hands out (buffers and fixed-size request
 * objects) and refuses to pass its budget, which is how the worst case of
 * a worker is bounded whatever its connections do: a connection that
 * cannot get memory is answered 503 and closed, the others keep theirs.
 * A buf_t joins the pool by pointing buf.pool at it; buf_reserve() then
 * grows it through bufpool_grow().
 */
#ifndef MG_BUFPOOL_H
#define MG_BUFPOOL_H

#include <stddef.h>

#include "core/buf.h"

#define BUFPOOL_CHUNK 4096

typedef struct bufpool bufpool_t;

/* budget: bytes in use at most (0 = unlimited); obj_size: size of the
 * fixed-size objects bufpool_obj_get() hands out (0 = none). */
bufpool_t *bufpool_new(size_t budget, size_t obj_size);
void bufpool_free(bufpool_t *p);

/* Make b hold at least need bytes (called by buf_reserve). 0 or -1. */
int bufpool_grow(bufpool_t *p, buf_t *b, size_t need);
/* Give b's storage back; b is empty (and still in the pool) afterwards. */
void bufpool_release(bufpool_t *p, buf_t *b);

/* A zeroed object of obj_size bytes, or NULL past the budget. */
void *bufpool_obj_get(bufpool_t *p);
void bufpool_obj_put(bufpool_t *p, void *o);

/* Bytes handed out now (buffers + objects), and kept on free lists. */
size_t bufpool_used(const bufpool_t *p);
size_t bufpool_cached(const bufpool_t *p);
size_t bufpool_budget(const bufpool_t *p);

#endif
