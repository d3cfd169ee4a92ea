/*
 * session.h - server-side sessions: sign-in, every use, logout, and the
 * worker's share of keeping revocations in force.
 *
 * A session is two things: a sealed cookie (token.h, session claims) that
 * any worker can open without asking anybody, and a record in the store
 * (store_session.h) that says whether it was ended. Every use checks, with
 * no store round trip on the normal path:
 *   - the cookie opens under the current or previous key       else NONE
 *   - it is before its absolute end (session_ttl)               else EXPIRED
 *   - it was refreshed within session_idle_timeout              else IDLE
 *   - its id is not in the shared revocation set (core/revoke)  else REVOKED
 * A use past half the idle window gets a fresh cookie with the same id and
 * end and a new "seen" time (sliding refresh: an active user stays signed
 * in until session_ttl, an idle one is signed out after the timeout).
 *
 * Revocations reach the set in two ways: the worker that serves a logout
 * adds the id itself, at once; and every worker's loop calls session_poll,
 * which lets one worker per REVOKE_POLL_MS read the store's revocation log
 * (what the command line, a removed user's triggers, or another node wrote).
 * Why poll the store rather than have the command line write into the
 * shared memory: the store is the record that outlives the process (a
 * restart, a binary upgrade, a second node on the same database all start
 * from it), the command line then needs no channel to a running master and
 * works while the server is down, and the poll is one indexed range read
 * that returns nothing almost every time.
 */
#ifndef MG_SESSION_H
#define MG_SESSION_H

#include <stdint.h>

#include "app/app.h"
#include "app/token.h"
#include "core/http_conn.h"

typedef enum {
    SESS_OK = 0,
    SESS_NONE,    /* no cookie, or one that does not open */
    SESS_EXPIRED, /* past session_ttl */
    SESS_IDLE,    /* unused for longer than session_idle_timeout */
    SESS_REVOKED, /* logged out, revoked, user removed or disabled */
    SESS_ERROR,   /* the set could not answer and neither could the store */
    SESS_ASK,     /* the set cannot answer and the store (PostgreSQL) must be
                     asked without waiting: session_ask */
} sess_state_t;

/* Wall-clock milliseconds (the clock session times are in). */
uint64_t session_now_ms(void);

/* Open and check the request's session cookie. On SESS_OK, sc holds the
 * claims and *refresh is 1 when a fresh cookie should go with the answer
 * (session_refresh). */
sess_state_t session_get(app_t *app, const http_request_t *req, uint64_t now_ms,
                         session_claims_t *sc, int *refresh);

/* For SESS_ASK: ask the store whether the session is still active, the
 * request parked meanwhile; done gets SESS_OK, SESS_REVOKED, or, when the
 * store cannot answer, what auth_store_down says (closed: SESS_ERROR,
 * open: SESS_OK). c is NULL in done when the client left. */
typedef void (*session_asked_fn)(void *arg, http_conn_t *c, sess_state_t st);
void session_ask(app_t *app, http_conn_t *c, const session_claims_t *sc, session_asked_fn done,
                 void *arg);
/* What auth_store_down makes of a session nobody can vouch for now. */
sess_state_t session_store_down(const app_t *app);

/* Is the request's CSRF cookie the secret this session was started with?
 * A POST that acts on a session must pass this as well as the CSRF check,
 * so a CSRF pair planted before sign-in is worth nothing after it. */
int session_bound(app_t *app, const http_request_t *req, const session_claims_t *sc);

/* Queue the refreshed session cookie (after http_reply_start). */
void session_refresh(app_t *app, http_conn_t *c, session_claims_t *sc, uint64_t now_ms);

typedef enum { SIGNIN_OK = 0, SIGNIN_REFUSED, SIGNIN_ERROR } signin_t;

/* c: the connection to answer, or NULL when the client left meanwhile. */
typedef void (*session_begun_fn)(void *arg, http_conn_t *c, signin_t r);
typedef void (*session_ended_fn)(void *arg, http_conn_t *c, int r);

/* At a redeemed link: record the session (only if the user still exists,
 * is enabled and the link is not void), issue a fresh CSRF secret and
 * queue both cookies (call after http_reply_start). The store answers
 * through app/store_async.h, so done may run before this returns (SQLite)
 * or later from the loop, the request parked (PostgreSQL). */
void session_begin(app_t *app, http_conn_t *c, const http_request_t *req, const char *email,
                   uint64_t link_iat_s, uint64_t now_ms, session_begun_fn done, void *arg);

/* End a session: in force in every worker of this node before this
 * returns, then recorded in the store; done gets 0, or -1 when the store
 * could not record it (the shared set still holds it until the server
 * restarts). */
void session_end(app_t *app, http_conn_t *c, const session_claims_t *sc, uint64_t now_ms,
                 session_ended_fn done, void *arg);

/* From the worker's loop: bring the store's new revocations into the
 * shared set when it is this worker's turn. force: now, and until the whole
 * log is read (at start, before serving). 0, or -1 on a store error. */
int session_poll(app_t *app, uint64_t mono_ms, int force);

#endif
