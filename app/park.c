/*
 * park.c - see park.h.
 */
#include "app/park.h"

#include <stddef.h>

static void park_abort(http_conn_t *c)
{
    park_t *p = c->user;

    if (p)
        p->c = NULL; /* the continuation frees p when its callback runs */
    c->user = NULL;
}

void park_hold(park_t *p, http_conn_t *c)
{
    p->c = c;
    c->user = p;
    c->on_abort = park_abort;
}

http_conn_t *park_conn(park_t *p)
{
    http_conn_t *c = p->c;

    if (c) {
        c->user = NULL;
        c->on_abort = NULL;
    }
    return c;
}
