/*
 * app.h - the login application a worker serves (the routes of docs/design.md).
 *
 * app_t holds what the handlers need for the life of the worker: the keys,
 * the SQLite store, the delivery channel, the loaded page templates and the
 * shared rate-limit zone. It is built after fork (SQLite handles and OpenSSL
 * contexts must not cross a fork) by app_open() and torn down by
 * app_close(). The keys are the exception: the master reads the key files
 * (as root, before workers drop privileges) and workers inherit them.
 */
#ifndef MG_APP_H
#define MG_APP_H

#include "core/conf.h"
#include "core/http_conn.h"
#include "core/keyfile.h"
#include "core/request_id.h"
#include "core/shm.h"
#include "app/mail.h"
#include "app/store_async.h"
#include "app/static.h"
#include "app/template.h"

struct store;
struct user_cache;
struct session_cache;
struct deliver;
struct rlstore;

typedef struct app {
    const conf_t *conf;
    shm_t *shm;
    shm_worker_t *self; /* this worker's shm slot (route, counters) */
    keyring_t keys;
    struct store *store;            /* the SQLite handle; NULL with a PostgreSQL users_db */
    store_async_t sa;               /* the store as handlers ask it (app/store_async.h) */
    struct store_pgw *pgw;          /* the PostgreSQL back-end, when users_db is a URL */
    struct user_cache *users;       /* who has an account, as of <= 1 ms ago */
    struct session_cache *sessions; /* cookies opened before (app/session_cache.h) */
    struct deliver *deliver;
    void *rl_zone;
    struct rlstore *rls; /* rate_limit_store, NULL when off (app/rate_check.h) */
    void *rv_zone;       /* revoked session ids (core/revoke.h) */
    void *sl_zone;       /* live sessions, for the gauge (core/sesslive.h) */
    const char *ck_csrf; /* cookie names: "__Host-..." with cookie_secure */
    const char *ck_session;
    int poll_failing; /* the revocation log could not be read last time */
    tpl_set_t tpl;
    static_set_t statics;
    mail_set_t mail; /* the mail languages, to pick one per request */
    buf_t render;    /* page bodies are rendered here: reused, not malloc'd per request */
    request_id_gen_t rid;
    shm_conn_t *conns; /* this worker's connection table (request ids) */
} app_t;

/* keys: loaded by the master (which keeps root-only key files readable
 * after workers drop privileges) and inherited across fork. */
int app_open(app_t *app, const conf_t *c, const keyring_t *keys, shm_t *shm, unsigned slot,
             char *err, size_t errsz);
void app_close(app_t *app);
/* Once the worker's event loop exists, before it serves: what talks to
 * other servers from the loop starts connecting here (a PostgreSQL store,
 * app/store_pgw.h; rate_limit_store, app/rate_check.h). 0, or -1 with err. */
int app_start(app_t *app, ev_loop_t *loop, char *err, size_t errsz);
/* USR1: reopen files the app writes (outbox). */
void app_reopen(app_t *app);
/* From the worker's loop, at every wake-up (mono_ms: CLOCK_MONOTONIC):
 * housekeeping that must not wait for a request (revocations). */
void app_tick(app_t *app, uint64_t mono_ms);

/* The http_handler_fn for the auth server (ctx = app_t *). */
void app_handle(http_conn_t *c, http_request_t *req, void *ctx);

#endif
