/*
 * arena.c - region allocator (see arena.h).
 *
 * A singly linked list of blocks; allocation bumps a pointer in the newest
 * block and opens a new block (at least block_size, or the request's size)
 * when it does not fit. Reset frees every block but the first, so the steady
 * state of a keep-alive connection is one block and zero malloc calls.
 */
#include "core/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(16) unsigned char data[];
} block_t;

struct arena {
    block_t *head; /* newest block; the first block is at the tail */
    block_t *first;
    size_t block_size;
    size_t total; /* bytes handed out since reset */
    size_t limit;
};

static block_t *block_new(size_t size)
{
    block_t *b = malloc(sizeof(block_t) + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

arena_t *arena_create(size_t block_size)
{
    arena_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->block_size = block_size ? block_size : 4096;
    a->first = a->head = block_new(a->block_size);
    if (!a->first) {
        free(a);
        return NULL;
    }
    return a;
}

void arena_destroy(arena_t *a)
{
    if (!a)
        return;
    block_t *b = a->head;
    while (b) {
        block_t *n = b->next;
        free(b);
        b = n;
    }
    free(a);
}

void arena_reset(arena_t *a)
{
    block_t *b = a->head;
    while (b != a->first) {
        block_t *n = b->next;
        free(b);
        b = n;
    }
    a->head = a->first;
    a->first->used = 0;
    a->total = 0;
}

void arena_set_limit(arena_t *a, size_t limit)
{
    a->limit = limit;
}

size_t arena_used(const arena_t *a)
{
    return a->total;
}

void *arena_alloc(arena_t *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        return NULL;
    if (a->limit && a->total + need > a->limit)
        return NULL;
    block_t *b = a->head;
    if (b->size - b->used < need) {
        size_t sz = need > a->block_size ? need : a->block_size;
        block_t *nb = block_new(sz);
        if (!nb)
            return NULL;
        nb->next = a->head;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += need;
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_vprintf(arena_t *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *p = arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}
