/*
 * park.h - a request waiting for the store.
 *
 * A handler that continues in a store callback (app/store_async.h) keeps
 * what the continuation needs in a struct that begins with a park_t and
 * parks the connection on it. The connection stays in HANDLING (its
 * request, cookies and body included, stay where they are: a connection in
 * HANDLING does not read or move its input), and the worker serves other
 * connections.
 *
 * The client may go away meanwhile. The connection is then freed, but the
 * store's callback still runs (exactly once, by the interface's contract):
 * the abort hook only clears the park's connection, and the continuation
 * asks park_conn first. Whoever sees NULL frees the struct and stops. So a
 * callback never touches a freed connection, and the struct is freed
 * exactly once, by the last continuation.
 */
#ifndef MG_PARK_H
#define MG_PARK_H

#include "core/http_conn.h"

typedef struct park {
    http_conn_t *c; /* NULL once the client is gone */
} park_t;

/* Park c on p (c->user, c->on_abort). Again before each store call: an
 * answer sent in between clears them. */
void park_hold(park_t *p, http_conn_t *c);

/* The connection to answer, unparked (an answer may now be sent), or NULL
 * when the client left while parked. */
http_conn_t *park_conn(park_t *p);

#endif
