/*
 * arena.h - region allocator tied to a request's lifetime.
 *
 * Every HTTP request gets an arena; everything the request needs (decoded
 * strings, the email address, the rendered page) is carved out of it and
 * released in one arena_reset() when the response is queued. This keeps
 * per-connection memory bounded and makes leaks on error paths impossible.
 * Blocks are malloc'd (so the heap profiler sees them) and the first block is
 * kept across resets, so a keep-alive connection does not churn malloc.
 */
#ifndef MG_ARENA_H
#define MG_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct arena arena_t;

arena_t *arena_create(size_t block_size);
void arena_destroy(arena_t *a);
/* Release everything but the first block. */
void arena_reset(arena_t *a);
/* 16-byte aligned; NULL only when malloc fails or the arena limit is hit. */
void *arena_alloc(arena_t *a, size_t n);
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(arena_t *a, const char *fmt, va_list ap);
/* Bytes handed out since the last reset (for tests and limits). */
size_t arena_used(const arena_t *a);
/* Upper bound on total bytes; allocations past it fail. 0 = unlimited. */
void arena_set_limit(arena_t *a, size_t limit);

#endif
