/*
 * rate_check.h - the per-IP and per-email limits of a request, checked on
 * this node's shared memory or, with rate_limit_store, on the Redis every
 * node shares.
 *
 * A check is a list of limits taken in order (the first that refuses
 * stops it, those before it counted the request, as core/ratelimit.h
 * does). Locally the answer is immediate and `done` runs before
 * rate_check returns. With a store the request is parked (c->user and
 * c->on_abort belong to the check until `done` runs) while one script
 * runs in Redis; when Redis cannot answer in time the local limiter
 * decides, and that is counted (magicd_rate_limit_fallbacks_total).
 */
#ifndef MG_RATE_CHECK_H
#define MG_RATE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "app/app.h"

#define RATE_CHECK_MAX 2
#define RATE_KEY_MAX 300

typedef struct {
    char key[RATE_KEY_MAX];
    size_t klen;
    int limit;
    uint64_t window_ms;
} rate_limit_t;

/* which: RATE_PASSED, or the index of the limit that refused (retry_ms:
 * how long until it would allow). req is the request rate_check was given
 * (still alive: a parked request's buffer does not move). */
#define RATE_PASSED -1
typedef void (*rate_done_fn)(app_t *app, http_conn_t *c, http_request_t *req, int which,
                             uint64_t retry_ms);

void rate_check(app_t *app, http_conn_t *c, http_request_t *req, const rate_limit_t *lims, int n,
                rate_done_fn done);

/* Worker start, once its loop exists: connect to rate_limit_store (when
 * configured). 0, or -1 with err (a name that does not resolve). */
int rate_check_start(app_t *app, ev_loop_t *loop, char *err, size_t errsz);
void rate_check_stop(app_t *app);

#endif
