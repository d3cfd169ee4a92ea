/*
 * freelist.c - fixed-size blocks reused (see freelist.h).
 *
 * A free block's first word is the link to the next one, so the list needs
 * no memory of its own; memcpy reads and writes the link, as a block is any
 * struct's storage and need not be a void * to the compiler.
 */
#include "core/freelist.h"

#include <stdlib.h>
#include <string.h>

void *freelist_get(freelist_t *f)
{
    void *p = f->head;
    if (!p)
        return malloc(f->size);
    memcpy(&f->head, p, sizeof f->head);
    f->n--;
    return p;
}

void freelist_put(freelist_t *f, void *p)
{
    if (!p)
        return;
    if ((f->n + 1) * f->size > FREELIST_MAX_BYTES) {
        free(p);
        return;
    }
    memcpy(p, &f->head, sizeof f->head);
    f->head = p;
    f->n++;
}

void freelist_drain(freelist_t *f)
{
    while (f->head) {
        void *p = f->head;
        memcpy(&f->head, p, sizeof f->head);
        free(p);
    }
    f->n = 0;
}
