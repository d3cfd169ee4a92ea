/*
 * rlstore.h - rate limits kept in Redis, so that every node enforces the
 * same ones (`rate_limit_store redis://HOST:PORT`).
 *
 * One non-blocking hiredis connection per worker, driven by the worker's
 * own event loop (no hiredis adapter: the ev_loop glue is here). A check of
 * one request's limits (the per-IP key, then the per-email key) is one
 * EVALSHA of a server-side script doing the same GCRA as the shared-memory
 * limiter (core/ratelimit.h) against Redis' clock, so it is atomic across
 * nodes and costs one round trip. Key names are a keyed hash of the
 * caller's keys: whoever can read Redis learns no address.
 *
 * When Redis cannot answer (no connection, the connection drops, an answer
 * slower than the timeout), rlstore_hit says so at once or through the
 * callback with RLS_UNAVAILABLE, and the caller decides with its local
 * limiter. The connection is retried with a back-off (50 ms doubling to
 * 1 s). The up/down state of the node is one word in shared memory: the
 * worker that changes it writes the log line, so a node says "down" once
 * and "back" once however many workers it has.
 */
#ifndef MG_RLSTORE_H
#define MG_RLSTORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

typedef struct rlstore rlstore_t;
typedef struct rls_req rls_req_t;

/* One limit of a check: limit requests per window_ms for key. */
typedef struct {
    const char *key;
    size_t klen;
    int limit;
    uint64_t window_ms;
} rls_limit_t;

#define RLS_MAX_LIMITS 4
#define RLS_ALLOWED -1     /* verdict: every limit allowed the request */
#define RLS_UNAVAILABLE -2 /* verdict: Redis did not answer; decide locally */

/* The shared state word (in shm): 0 never connected, 1 up, 2 down. */
enum { RLS_STATE_NEW = 0, RLS_STATE_UP = 1, RLS_STATE_DOWN = 2 };

/* verdict: RLS_ALLOWED, the index of the first limit that refused (then
 * retry_ms is how long until it would allow), or RLS_UNAVAILABLE. */
typedef void (*rls_cb)(void *arg, int verdict, uint64_t retry_ms);

/* host is resolved here, once (a worker start is allowed to block; the
 * loop is not). name_key: 32 bytes every node shares (derived from the key
 * file), for the key names. state: the node's shared word. NULL with err. */
rlstore_t *rlstore_new(ev_loop_t *loop, const char *host, const char *port, uint64_t timeout_ms,
                       const uint8_t name_key[32], _Atomic int64_t *state, char *err, size_t errsz);
void rlstore_free(rlstore_t *s);

/* Check lims[0..n) in order, consuming each that allows, stopping at the
 * first that refuses. 0: sent, cb will be called exactly once (later,
 * never from inside this call) unless rlstore_cancel is called first;
 * *req is the handle. -1: Redis is unavailable now; decide locally (cb
 * will not be called). */
int rlstore_hit(rlstore_t *s, const rls_limit_t *lims, int n, rls_cb cb, void *arg,
                rls_req_t **req);
/* The caller is gone (client closed): cb will not be called. */
void rlstore_cancel(rls_req_t *req);

/* 1 while this worker's connection is up and has answered. */
int rlstore_up(const rlstore_t *s);

/* The GCRA script (for tests and for whoever wants to read it). */
extern const char rlstore_script[];

#endif
