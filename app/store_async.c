/*
 * store_async.c - the SQLite back-end of the store interface (see
 * store_async.h).
 *
 * Nothing here is asynchronous: SQLite is a file on the worker's own disk,
 * and its calls are what the handlers always made (WAL, prepared
 * statements, busy_timeout for the short write locks of other workers).
 * Each call runs the store.h function and hands its answer to the
 * callback at once, so the handlers, written once in continuation style
 * for both back-ends, do on SQLite exactly what they did before.
 */
#include "app/store_async.h"

#include <stdlib.h>

#include "app/store.h"
#include "app/user_cache.h"

typedef struct {
    store_t *s;
    struct user_cache *uc;
} sq_t;

static int sq_up(void *be)
{
    (void)be;
    return 1; /* a failing file shows in each call's -1 */
}

static const char *sq_error(void *be)
{
    return store_errmsg(((sq_t *)be)->s);
}

static void sq_user_exists(void *be, const char *email, uint64_t mono_ms, sa_done_fn cb, void *arg)
{
    sq_t *q = be;
    cb(arg, user_cache_exists(q->uc, q->s, email, mono_ms));
}

static void sq_user_add(void *be, const char *email, sa_done_fn cb, void *arg)
{
    sq_t *q = be;
    int r = store_user_add(q->s, email, 0);
    if (r >= 0)
        user_cache_put(q->uc, email, 1); /* our own write: data_version does not move */
    cb(arg, r);
}

static void sq_link_consume(void *be, const uint8_t id[16], uint64_t exp_s, uint64_t now_s,
                            sa_done_fn cb, void *arg)
{
    cb(arg, store_link_consume(((sq_t *)be)->s, id, exp_s, now_s));
}

static void sq_link_used(void *be, const uint8_t id[16], sa_done_fn cb, void *arg)
{
    cb(arg, store_link_used(((sq_t *)be)->s, id));
}

static void sq_code_tries(void *be, const uint8_t id[16], sa_done_fn cb, void *arg)
{
    cb(arg, store_code_tries(((sq_t *)be)->s, id));
}

static void sq_code_fail(void *be, const uint8_t id[16], uint64_t exp_s, uint64_t now_s,
                         sa_done_fn cb, void *arg)
{
    cb(arg, store_code_fail(((sq_t *)be)->s, id, exp_s, now_s));
}

/* The user's state, then the record (which checks it again in its own
 * statement, so a `user remove` in between still refuses). */
static void sq_session_start(void *be, const store_session_t *row, int64_t link_iat, sa_user_fn cb,
                             void *arg)
{
    sq_t *q = be;
    store_user_info_t ui;
    int r = store_user_info(q->s, row->email, &ui);

    if (r < 0) {
        cb(arg, -1, NULL);
        return;
    }
    if (r == 0 || ui.disabled || link_iat < ui.links_not_before) {
        cb(arg, 0, NULL);
        return;
    }
    r = store_session_create(q->s, row, link_iat);
    cb(arg, r, r == 1 ? &ui : NULL);
}

static void sq_session_revoke(void *be, const uint8_t id[16], int64_t now_s, sa_done_fn cb,
                              void *arg)
{
    cb(arg, store_session_revoke(((sq_t *)be)->s, id, now_s));
}

static void sq_session_active(void *be, const uint8_t id[16], sa_done_fn cb, void *arg)
{
    cb(arg, store_session_active(((sq_t *)be)->s, id));
}

static void sq_event(void *be, const char *type, const char *email, uint64_t now_s)
{
    store_event(((sq_t *)be)->s, type, email, now_s);
}

static void sq_close(void *be)
{
    free(be); /* the handle and the cache are the caller's */
}

static const store_async_ops_t sq_ops = {
    .up = sq_up,
    .error = sq_error,
    .user_exists = sq_user_exists,
    .user_add = sq_user_add,
    .link_consume = sq_link_consume,
    .link_used = sq_link_used,
    .code_tries = sq_code_tries,
    .code_fail = sq_code_fail,
    .session_start = sq_session_start,
    .session_revoke = sq_session_revoke,
    .session_active = sq_session_active,
    .event = sq_event,
    .close = sq_close,
};

int store_async_sqlite(store_async_t *sa, struct store *s, struct user_cache *uc)
{
    sq_t *q = calloc(1, sizeof *q);

    if (!q)
        return -1;
    q->s = s;
    q->uc = uc;
    sa->ops = &sq_ops;
    sa->be = q;
    return 0;
}
