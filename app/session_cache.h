/*
 * session_cache.h - a worker's memory of session cookies it has opened.
 *
 * GET /auth runs before every request to a protected application, and a
 * browser sends the same session cookie every time. Opening it (base64url
 * decode, then AES-GCM under the session key) was a third of the route's
 * own CPU. This keeps the claims of cookies that opened: a request that
 * presents a cookie seen before gets its claims back from here, and every
 * check that can change between requests (expiry, the idle window, the
 * session_ttl configured now, revocation) still runs on them each time in
 * session_get. The claims of a sealed cookie never change, so a hit is
 * exactly what opening it again would give.
 *
 * Only cookies that opened (authentic under this worker's keys) are ever
 * stored, so whatever an attacker sends costs at most one probe and one
 * full open; a probe compares the whole presented cookie with the stored
 * one in constant time (a slot's cookie is someone's credential). The
 * slot is picked from the cookie's last bytes (its GCM tag: random, and
 * no client can choose it for a cookie that opens) mixed with a random
 * per-process seed. Direct-mapped and fixed in size: a colliding cookie
 * replaces the older, so memory is bounded, and a miss is only an open.
 *
 * The keys of a worker never change in its life (a reload starts new
 * workers), so the cache needs no invalidation of its own.
 */
#ifndef MG_SESSION_CACHE_H
#define MG_SESSION_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "app/token.h"

typedef struct session_cache session_cache_t;

#define SESSION_CACHE_SLOTS 256

session_cache_t *session_cache_new(void);
void session_cache_free(session_cache_t *c);

/* The claims of this exact cookie when they are here: 1 (copied to out),
 * else 0. NULL c: always 0. */
int session_cache_get(session_cache_t *c, const char *tok, size_t n, session_claims_t *out);
/* Remember the claims a cookie opened to. */
void session_cache_put(session_cache_t *c, const char *tok, size_t n, const session_claims_t *sc);

/* Wipe what this worker holds of session id (logout): the revocation
 * check refuses the cookie anyway; this is so its bytes and claims do not
 * stay in memory until the slot is reused. */
void session_cache_forget(session_cache_t *c, const uint8_t id[16]);

typedef struct {
    uint64_t hits, misses;
} session_cache_stats_t;
session_cache_stats_t session_cache_stats(const session_cache_t *c);

#endif
