/*
 * freelist.h - fixed-size blocks reused instead of malloc'd per request.
 *
 * A handler that parks a request (waiting for the store or for its link to
 * be written) keeps what the continuation needs in a struct of its own,
 * made when the request is parked and freed when it is answered: one
 * malloc and one free per request, and on POST /magic/generate with a
 * whole loop iteration's requests parked at once, the allocator's own
 * bookkeeping shows in the profile. A freelist_t keeps the freed blocks of
 * one size on a list threaded through the blocks themselves and hands
 * them out again.
 *
 *   static freelist_t waits = FREELIST_INIT(sizeof(my_wait_t));
 *   my_wait_t *w = freelist_get(&waits);   (NULL when malloc fails)
 *   ...
 *   freelist_put(&waits, w);
 *
 * The list is bounded (FREELIST_MAX_BYTES of blocks): what a burst needed
 * beyond that goes back to malloc when it is over. A block comes back
 * uninitialised, as from malloc. A list belongs to one thread (a worker's
 * loop): no lock. After fork a child has its own copy, as of any memory.
 */
#ifndef MG_FREELIST_H
#define MG_FREELIST_H

#include <stddef.h>

#define FREELIST_MAX_BYTES (512 * 1024)

typedef struct {
    void *head;
    size_t n;    /* blocks on the list */
    size_t size; /* of a block */
} freelist_t;

#define FREELIST_INIT(sz)                                                                          \
    {                                                                                              \
        NULL, 0, (sz) < sizeof(void *) ? sizeof(void *) : (sz)                                     \
    }

void *freelist_get(freelist_t *f);
void freelist_put(freelist_t *f, void *p);
/* Give every block on the list back to malloc. */
void freelist_drain(freelist_t *f);

#endif
