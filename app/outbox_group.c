/*
 * outbox_group.c - see outbox_group.h.
 *
 * Two sets of (bytes, waiters) swap at each flush: the one being answered
 * and the one gathering, so a done callback that queues another line (a
 * pipelined request answered synchronously) adds to the next group, never
 * to the array being walked. Both keep their memory between flushes (up
 * to OG_KEEP_BYTES of lines); a busy worker allocates nothing per link
 * here.
 */
#include "app/outbox_group.h"

#include <stdlib.h>

#include "core/buf.h"

#define OG_KEEP_BYTES (256 * 1024) /* kept between flushes; more is freed */

typedef struct {
    outbox_done_fn done; /* NULL: cancelled */
    void *arg;
} og_waiter_t;

typedef struct {
    buf_t lines;
    og_waiter_t *w;
    int nw, capw;
} og_set_t;

struct outbox_group {
    ev_loop_t *loop;
    outbox_write_fn write_fn;
    void *ctx;
    og_set_t sets[2];
    int cur;      /* the set gathering */
    int deferred; /* a flush is queued on the loop */
};

outbox_group_t *outbox_group_new(ev_loop_t *loop, outbox_write_fn write_fn, void *ctx)
{
    outbox_group_t *g = calloc(1, sizeof *g);

    if (!g)
        return NULL;
    g->loop = loop;
    g->write_fn = write_fn;
    g->ctx = ctx;
    return g;
}

static int og_reserve(og_set_t *s, size_t n)
{
    if (buf_reserve(&s->lines, n) < 0)
        return -1;
    if (s->nw == s->capw) {
        int cap = s->capw ? s->capw * 2 : 64;
        og_waiter_t *w = realloc(s->w, (size_t)cap * sizeof *w);
        if (!w)
            return -1;
        s->w = w;
        s->capw = cap;
    }
    return 0;
}

/* Write the gathering set and answer its waiters. */
static void og_flush(void *arg)
{
    outbox_group_t *g = arg;
    og_set_t *s = &g->sets[g->cur];
    int rc;

    g->deferred = 0;
    if (s->nw == 0)
        return;
    g->cur ^= 1; /* lines queued by the callbacks below form the next group */
    rc = g->write_fn(g->ctx, s->lines.data, s->lines.len);
    for (int i = 0; i < s->nw; i++)
        if (s->w[i].done)
            s->w[i].done(s->w[i].arg, rc);
    s->lines.len = 0;
    s->nw = 0;
    if (s->lines.cap > OG_KEEP_BYTES)
        buf_free(&s->lines); /* a burst grew it: do not keep the high-water mark */
}

int outbox_group_add(outbox_group_t *g, const char *line, size_t n, outbox_done_fn done, void *arg)
{
    og_set_t *s = &g->sets[g->cur];

    if (og_reserve(s, n) < 0)
        return -1;
    if (!g->deferred) {
        if (ev_defer(g->loop, og_flush, g) < 0)
            return -1;
        g->deferred = 1;
    }
    buf_append(&s->lines, line, n); /* reserved above: cannot fail */
    s->w[s->nw].done = done;
    s->w[s->nw].arg = arg;
    s->nw++;
    return 0;
}

void outbox_group_cancel(outbox_group_t *g, void *arg)
{
    for (int k = 0; k < 2; k++) {
        og_set_t *s = &g->sets[k];
        for (int i = 0; i < s->nw; i++)
            if (s->w[i].arg == arg)
                s->w[i].done = NULL;
    }
}

void outbox_group_free(outbox_group_t *g)
{
    if (!g)
        return;
    /* Anything still gathered is written now, and the flush the loop
     * still holds is forgotten. */
    if (g->deferred)
        ev_defer_cancel(g->loop, og_flush, g);
    og_flush(g);
    for (int k = 0; k < 2; k++) {
        buf_free(&g->sets[k].lines);
        free(g->sets[k].w);
    }
    free(g);
}
