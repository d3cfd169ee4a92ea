/*
 * store_async.h - the user store as the request handlers see it: every
 * call answers through a callback.
 *
 * A handler that needs the store (generate's user lookup, verify's redeem
 * and session creation, the sign-in code's tries, logout's revocation)
 * asks through this interface and continues in the callback. Two
 * back-ends implement it:
 *
 *   - SQLite (store_async_sqlite, in store_async.c): the embedded default.
 *     Each call runs the synchronous store.h / store_session.h function it
 *     always ran and calls the callback before returning, so a handler on
 *     a SQLite store behaves exactly as it did when it called the store
 *     itself: same statements, same order, same answers.
 *   - PostgreSQL (store_pgw_open, app/store_pgw.h): each call is a prepared
 *     statement on the worker's asynchronous pool (core/pgc.h); the
 *     callback runs later, from the event loop, while the worker serves
 *     other connections. The request waits parked (app/park.h).
 *
 * The contract a handler relies on:
 *   - the callback runs exactly once, either before the call returns or
 *     later from the loop: a handler must be done with its own locals
 *     before it calls;
 *   - r follows the synchronous function of the same name (1/0/-1 and so
 *     on); -1 is every failure, a store that is down included, and the
 *     handler answers 503 for it;
 *   - sa_up says whether the store can answer at all now (for /healthz and
 *     for deciding a 503 without trying).
 */
#ifndef MG_STORE_ASYNC_H
#define MG_STORE_ASYNC_H

#include <stddef.h>
#include <stdint.h>

#include "app/store_session.h"

typedef void (*sa_done_fn)(void *arg, int r);
/* session_start: r 1 created (ui filled), 0 refused, -1 error. */
typedef void (*sa_user_fn)(void *arg, int r, const store_user_info_t *ui);

typedef struct store_async_ops {
    int (*up)(void *be);
    const char *(*error)(void *be);
    void (*user_exists)(void *be, const char *email, uint64_t mono_ms, sa_done_fn cb, void *arg);
    void (*user_add)(void *be, const char *email, sa_done_fn cb, void *arg);
    void (*link_consume)(void *be, const uint8_t id[16], uint64_t exp_s, uint64_t now_s,
                         sa_done_fn cb, void *arg);
    void (*link_used)(void *be, const uint8_t id[16], sa_done_fn cb, void *arg);
    void (*code_tries)(void *be, const uint8_t id[16], sa_done_fn cb, void *arg);
    void (*code_fail)(void *be, const uint8_t id[16], uint64_t exp_s, uint64_t now_s, sa_done_fn cb,
                      void *arg);
    void (*session_start)(void *be, const store_session_t *row, int64_t link_iat, sa_user_fn cb,
                          void *arg);
    void (*session_revoke)(void *be, const uint8_t id[16], int64_t now_s, sa_done_fn cb, void *arg);
    void (*session_active)(void *be, const uint8_t id[16], sa_done_fn cb, void *arg);
    /* Fire and forget: the audit trail. */
    void (*event)(void *be, const char *type, const char *email, uint64_t now_s);
    void (*close)(void *be);
} store_async_ops_t;

typedef struct store_async {
    const store_async_ops_t *ops;
    void *be;
} store_async_t;

struct store;
struct user_cache;

/* The SQLite back-end over an open handle and the worker's user cache
 * (both stay the caller's). 0 / -1 (no memory). */
int store_async_sqlite(store_async_t *sa, struct store *s, struct user_cache *uc);

static inline int sa_up(const store_async_t *sa)
{
    return sa->ops->up(sa->be);
}
static inline const char *sa_error(const store_async_t *sa)
{
    return sa->ops->error(sa->be);
}
static inline void sa_close(store_async_t *sa)
{
    if (sa->ops)
        sa->ops->close(sa->be);
    sa->ops = NULL;
    sa->be = NULL;
}

#define SA_CALL(sa, op, ...) ((sa)->ops->op((sa)->be, __VA_ARGS__))

#endif
