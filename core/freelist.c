/*
 * freelist.c - fixed-size blocks reused (see freelist.h).
 *
 * A free block's first word is the link to the next one, so the list needs
 * no memory of its own; memcpy reads and writes the link, as a block is any
 * struct's storage and need not be a void * to the compiler.
 *
 * Under AddressSanitizer a block on the list is poisoned: a block that
 * went back to the list is not freed, so without this a use after
 * freelist_put (a parked request's struct touched after its client left
 * and the block was handed to the next request) would read and write the
 * next owner's data with no report. Poisoned, it is reported like a use
 * after free. The list's own reads and writes of the link unpoison first.
 */
#include "core/freelist.h"

#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FL_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FL_ASAN 1
#endif
#ifdef FL_ASAN
#include <sanitizer/asan_interface.h>
#define FL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define FL_POISON(p, n) ((void)(p), (void)(n))
#define FL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

void *freelist_get(freelist_t *f)
{
    void *p = f->head;
    if (!p)
        return malloc(f->size);
    FL_UNPOISON(p, f->size);
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
    FL_POISON(p, f->size);
    f->head = p;
    f->n++;
}

void freelist_drain(freelist_t *f)
{
    while (f->head) {
        void *p = f->head;
        FL_UNPOISON(p, f->size);
        memcpy(&f->head, p, sizeof f->head);
        free(p);
    }
    f->n = 0;
}
