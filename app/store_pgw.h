/*
 * store_pgw.h - the PostgreSQL store of a worker: the store interface
 * (app/store_async.h) over the asynchronous pool (core/pgc.h), and the
 * node's share of LISTEN/NOTIFY.
 *
 * `users_db postgresql://...` gives each worker two pools in its event
 * loop: users_db_pool connections for the request path (every statement
 * prepared once per connection, users_db_timeout as statement_timeout and
 * a client deadline), and one connection that LISTENs. The request path
 * never waits: a request that needs the store is parked while its
 * statement runs (app/park.h), and one that cannot be served because the
 * database is down gets a 503 at once.
 *
 * What the listening connection brings (see store_pgw.c for why each
 * worker listens for itself):
 *   magicd_users    a user changed somewhere (payload: the address) and its
 *                   cached answer is dropped, or groups changed ('') and
 *                   the worker's whole user cache is. While the listener is not connected
 *                   the cache is not used at all, and it is dropped again
 *                   at every (re)connect, so no answer outlives a
 *                   notification this worker could have missed.
 *   magicd_revoked  a session was revoked (payload: its id in hex): the id
 *                   goes into the node's shared revocation set at once.
 *                   At every (re)connect, and every STORE_PGW_POLL_MS on
 *                   one worker of the node, the revocation log is read
 *                   past what the set applied, for what was missed.
 */
#ifndef MG_STORE_PGW_H
#define MG_STORE_PGW_H

#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "core/event.h"
#include "app/store_async.h"

#define STORE_PGW_POLL_MS 5000 /* the log read behind the notifications */
#define STORE_PGW_BACKLOG 512  /* auth events kept while the store is down */

typedef struct store_pgw store_pgw_t;
struct user_cache;

/* Pools created and connecting (in the background, forever). NULL with
 * err only for bad arguments or no memory: a database that is down is
 * not an error here. */
/* rv_zone: the node's revocation set (core/revoke.h); sl_zone: its table
 * of live sessions (core/sesslive.h), which revocations leave. */
store_pgw_t *store_pgw_open(const conf_t *c, ev_loop_t *loop, struct user_cache *uc, void *rv_zone,
                            void *sl_zone, char *err, size_t errsz);
void store_pgw_close(store_pgw_t *p);
/* Fill sa with the interface over p (sa_close on it is a no-op: close p). */
void store_pgw_async(store_pgw_t *p, store_async_t *sa);
/* From the loop at each wake-up: up/down in the log, the event backlog,
 * the periodic log read. */
void store_pgw_tick(store_pgw_t *p, uint64_t mono_ms);

typedef struct {
    int up;        /* request-path connections ready */
    int listening; /* the listener has LISTENed since its last connect */
    int queued;    /* statements waiting for a connection */
    uint64_t notifies, cache_clears, revoked_by_notify, events_lost;
} store_pgw_stats_t;
void store_pgw_stats(const store_pgw_t *p, store_pgw_stats_t *out);

#endif
