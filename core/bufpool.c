/*
 * bufpool.c - connection buffer memory with a budget (see bufpool.h).
 *
 * Free chunks and free objects are kept in two singly linked lists threaded
 * through the free memory itself. The lists are bounded (FREE_MAX_BYTES
 * each) so memory a burst needed goes back to malloc once the burst is
 * over, instead of staying on a list for ever. Cached memory (at most
 * 2 x FREE_MAX_BYTES) is outside the budget: the budget bounds what the
 * connections hold, the lists only what they might reuse.
 */
#include "core/bufpool.h"

#include <stdlib.h>
#include <string.h>

#define FREE_MAX_BYTES (512 * 1024)

typedef struct free_node {
    struct free_node *next;
} free_node_t;

struct bufpool {
    size_t budget;
    size_t used;
    size_t obj_size;
    free_node_t *chunks;
    size_t nchunks;
    free_node_t *objs;
    size_t nobjs;
};

bufpool_t *bufpool_new(size_t budget, size_t obj_size)
{
    bufpool_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->budget = budget;
    p->obj_size = obj_size < sizeof(free_node_t) ? sizeof(free_node_t) : obj_size;
    return p;
}

static void drop_lists(bufpool_t *p)
{
    while (p->chunks) {
        free_node_t *n = p->chunks;
        p->chunks = n->next;
        free(n);
    }
    while (p->objs) {
        free_node_t *n = p->objs;
        p->objs = n->next;
        free(n);
    }
    p->nchunks = p->nobjs = 0;
}

void bufpool_free(bufpool_t *p)
{
    if (!p)
        return;
    drop_lists(p);
    free(p);
}

/* Can `more` bytes be handed out? */
static int within_budget(bufpool_t *p, size_t more)
{
    if (!p->budget || p->used + more <= p->budget)
        return 1;
    return 0;
}

int bufpool_grow(bufpool_t *p, buf_t *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    if (b->max && need > b->max)
        return -1;
    if (b->cap == 0 && need <= BUFPOOL_CHUNK && (!b->max || b->max >= BUFPOOL_CHUNK)) {
        if (!within_budget(p, BUFPOOL_CHUNK))
            return -1;
        void *m;
        if (p->chunks) {
            m = p->chunks;
            p->chunks = p->chunks->next;
            p->nchunks--;
        } else if (!(m = malloc(BUFPOOL_CHUNK))) {
            return -1;
        }
        b->data = m;
        b->cap = BUFPOOL_CHUNK;
        p->used += BUFPOOL_CHUNK;
        return 0;
    }
    size_t cap = b->cap ? b->cap : BUFPOOL_CHUNK;
    while (cap < need)
        cap *= 2;
    if (b->max && cap > b->max)
        cap = b->max;
    if (!within_budget(p, cap - b->cap))
        return -1;
    char *m = realloc(b->data, cap);
    if (!m)
        return -1;
    p->used += cap - b->cap;
    b->data = m;
    b->cap = cap;
    return 0;
}

void bufpool_release(bufpool_t *p, buf_t *b)
{
    if (b->data) {
        p->used -= b->cap;
        if (b->cap == BUFPOOL_CHUNK && (p->nchunks + 1) * BUFPOOL_CHUNK <= FREE_MAX_BYTES) {
            free_node_t *n = (free_node_t *)(void *)b->data;
            n->next = p->chunks;
            p->chunks = n;
            p->nchunks++;
        } else {
            free(b->data);
        }
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

void *bufpool_obj_get(bufpool_t *p)
{
    if (!within_budget(p, p->obj_size))
        return NULL;
    void *o;
    if (p->objs) {
        o = p->objs;
        p->objs = p->objs->next;
        p->nobjs--;
    } else if (!(o = malloc(p->obj_size))) {
        return NULL;
    }
    memset(o, 0, p->obj_size);
    p->used += p->obj_size;
    return o;
}

void bufpool_obj_put(bufpool_t *p, void *o)
{
    if (!o)
        return;
    p->used -= p->obj_size;
    if ((p->nobjs + 1) * p->obj_size <= FREE_MAX_BYTES) {
        free_node_t *n = o;
        n->next = p->objs;
        p->objs = n;
        p->nobjs++;
    } else {
        free(o);
    }
}

size_t bufpool_used(const bufpool_t *p)
{
    return p->used;
}

size_t bufpool_cached(const bufpool_t *p)
{
    return p->nchunks * BUFPOOL_CHUNK + p->nobjs * p->obj_size;
}

size_t bufpool_budget(const bufpool_t *p)
{
    return p->budget;
}
