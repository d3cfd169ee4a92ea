/*
 * store_pgw.c - a worker's PostgreSQL store (see store_pgw.h).
 *
 * Each store call is one prepared statement on the request pool, its
 * parameters copied by pgc_query, its continuation a small struct (pq_t)
 * that remembers the caller's callback and what to do with the result.
 * A call made while no connection is up fails at once (the caller answers
 * 503): queueing behind a database that is down would only turn a clear
 * refusal into a timeout. Generate's lookup and verify's session creation
 * are one round trip each: the session statement reads the user (locking
 * its row, so a concurrent `user remove` waits for it or refuses it) and
 * inserts the record in one statement, returning what the cookie needs.
 *
 * Why each worker listens rather than one per node: the user cache is per
 * worker, so every worker needs magicd_users anyway; one listener per node
 * would have to relay it through shared memory and hand the role over when
 * its worker dies or a reload retires it. A listening connection costs the
 * server a backend and nothing more while idle; the revocations are added
 * to the shared set by each worker that hears them, which is idempotent.
 *
 * The revocation log's seq is a BIGSERIAL, and PostgreSQL commits are not
 * ordered by it: a row with a smaller seq can commit after a larger one was
 * read. Such a row still arrives by its NOTIFY (sent at commit) whenever
 * the listener is connected; the log read after a reconnect is for the
 * rows committed while it was not, and can miss only a row that was both
 * out of order and committed in that gap.
 *
 * Auth events are fire-and-forget; while the store is down they wait in a
 * bounded backlog (STORE_PGW_BACKLOG) and are written when it is back;
 * past the bound, or after PGW_EVENT_TRIES failed writes of the same row
 * (then it is the row, not the store), they are counted and logged as
 * lost.
 */
#include "app/store_pgw.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/pgc.h"
#include "core/revoke.h"
#include "core/sesslive.h"
#include "app/email.h"
#include "app/store_pg.h"
#include "app/user_cache.h"

#define PGW_SWEEP_EVERY 256
#define PGW_SWEEP_SLACK 300 /* seconds past expiry, as the SQLite store */
#define PGW_LOG_BATCH 128
#define PGW_TYPE_MAX 32
#define PGW_EVENT_TRIES 3 /* writes of one event before it is given up */

enum {
    S_EXISTS,
    S_ADD,
    S_CONSUME,
    S_SWEEP,
    S_USED,
    S_TRIES,
    S_FAIL,
    S_START,
    S_REVOKE,
    S_ACTIVE,
    S_EVENT,
    S_N
};

static const struct {
    const char *sql;
    int n;
} pgw_sql[S_N] = {
    [S_EXISTS] = {"SELECT 1 FROM users WHERE email = $1 AND disabled = 0", 1},
    [S_ADD] = {"INSERT INTO users(email, is_admin, created_at) VALUES ($1, 0, $2) "
               "ON CONFLICT (email) DO NOTHING",
               2},
    [S_CONSUME] = {"INSERT INTO used_links(id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   2},
    [S_SWEEP] = {"WITH l AS (DELETE FROM used_links WHERE expires_at < $1) "
                 "DELETE FROM code_tries WHERE expires_at < $1",
                 1},
    [S_USED] = {"SELECT 1 FROM used_links WHERE id = $1", 1},
    [S_TRIES] = {"SELECT tries FROM code_tries WHERE id = $1", 1},
    [S_FAIL] = {"INSERT INTO code_tries(id, tries, expires_at) VALUES ($1, 1, $2) "
                "ON CONFLICT (id) DO UPDATE SET tries = code_tries.tries + 1 RETURNING tries",
                2},
    /* $1 id, $2 email, $3 created, $4 expires, $5 ip, $6 agent, $7 link iat */
    [S_START] = {"WITH u AS (SELECT id, disabled FROM users WHERE email = $2 FOR SHARE), "
                 "nb AS (SELECT COALESCE((SELECT not_before FROM link_cutoffs "
                 "WHERE email = $2), 0) AS v), "
                 "ins AS (INSERT INTO sessions(id, email, created_at, expires_at, ip, user_agent) "
                 "SELECT $1, $2, $3, $4, $5, $6 FROM u, nb "
                 "WHERE u.disabled = 0 AND $7::BIGINT >= nb.v RETURNING 1) "
                 "SELECT u.id, u.disabled, nb.v, " STORE_PG_USER_GROUPS ", "
                 "(SELECT count(*) FROM ins) FROM u, nb",
                 7},
    [S_REVOKE] = {"UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", 2},
    [S_ACTIVE] = {"SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL", 1},
    [S_EVENT] = {"INSERT INTO auth_events(event_type, user_id, created_at) "
                 "VALUES ($1, (SELECT id FROM users WHERE email = $2), $3)",
                 3},
};

enum { L_USERS, L_REVOKED, L_LOG, L_N };
static const struct {
    const char *sql;
    int n;
} pgw_lsql[L_N] = {
    [L_USERS] = {"LISTEN magicd_users", 0},
    [L_REVOKED] = {"LISTEN magicd_revoked", 0},
    [L_LOG] = {"SELECT seq, encode(id, 'hex'), expires_at FROM session_revocations "
               "WHERE seq > $1 ORDER BY seq LIMIT 128",
               1},
};

typedef struct {
    char type[PGW_TYPE_MAX];
    char email[EMAIL_MAX + 1];
    uint64_t now_s;
    int tries; /* writes that failed so far */
} pgw_event_t;

struct store_pgw {
    const conf_t *conf;
    ev_loop_t *loop;
    pgc_t *pool, *lis;
    int st[S_N], lst[L_N];
    struct user_cache *uc;
    void *rv_zone, *sl_zone;
    int closing;
    int listening;      /* both LISTENs done since the listener last connected */
    int listen_ask;     /* LISTENs in flight */
    int reading;        /* a log read is in flight */
    uint64_t read_from; /* the seq it asked past */
    int was_up;
    unsigned consumes;
    pgw_event_t backlog[STORE_PGW_BACKLOG];
    int nbacklog;
    store_pgw_stats_t st_;
    char err[256];
};

/* One call's continuation. */
typedef struct {
    store_pgw_t *p;
    int kind;
    sa_done_fn done;
    sa_user_fn user;
    void *arg;
    uint64_t gen; /* the cache's generation when asked; 0: do not cache */
    int tries;    /* an event: writes that failed before this one */
    char email[EMAIL_MAX + 1];
} pq_t;

static uint64_t pgw_wall_ms(void)
{
    return clock_wall_ns() / 1000000ull;
}

static void pgw_i64(char out[24], int64_t v)
{
    snprintf(out, 24, "%lld", (long long)v);
}

static void pgw_set_err(store_pgw_t *p, const char *err)
{
    snprintf(p->err, sizeof p->err, "%s", err ? err : "database error");
}

static int pgw_up(void *be)
{
    store_pgw_t *p = be;
    return !p->closing && pgc_up(p->pool) > 0;
}

static const char *pgw_error(void *be)
{
    return ((store_pgw_t *)be)->err;
}

/* The answer of a statement in r-terms of the synchronous function. */
static int pgw_result(pq_t *q, const PGresult *res, store_user_info_t *ui)
{
    switch (q->kind) {
    case S_EXISTS:
    case S_USED:
    case S_ACTIVE:
        return PQntuples(res) > 0;
    case S_ADD:
        return atoi(PQcmdTuples((PGresult *)res)) == 1 ? 0 : 1;
    case S_CONSUME:
        return atoi(PQcmdTuples((PGresult *)res)) == 1;
    case S_REVOKE:
        return atoi(PQcmdTuples((PGresult *)res)) > 0;
    case S_TRIES:
        return PQntuples(res) > 0 ? atoi(PQgetvalue(res, 0, 0)) : 0;
    case S_FAIL:
        return PQntuples(res) > 0 ? atoi(PQgetvalue(res, 0, 0)) : -1;
    case S_START:
        if (PQntuples(res) == 0)
            return 0; /* no such user */
        store_pg_user_row(res, 0, ui);
        return atoi(PQgetvalue(res, 0, 4)) > 0;
    }
    return -1;
}

static void pgw_backlog_put(store_pgw_t *p, const char *type, const char *email, uint64_t now_s,
                            int tries);

static void pgw_answer(void *arg, const PGresult *res, const char *err)
{
    pq_t *q = arg;
    store_pgw_t *p = q->p;
    store_user_info_t ui;
    int r = -1;

    if (res)
        r = pgw_result(q, res, &ui);
    else
        pgw_set_err(p, err);
    if (r >= 0 && q->gen && (q->kind == S_EXISTS || q->kind == S_ADD))
        user_cache_put_gen(p->uc, q->email, q->kind == S_ADD ? 1 : r, q->gen);
    if (q->kind == S_EVENT && !res && !p->closing)
        pgw_backlog_put(p, q->email + strlen(q->email) + 1, q->email, q->gen, q->tries + 1);
    if (q->user)
        q->user(q->arg, r, r == 1 ? &ui : NULL);
    else if (q->done)
        q->done(q->arg, r);
    free(q);
}

/* Run statement kind; on refusal (store down, queue full) the callback
 * runs now with -1. */
static void pgw_call(store_pgw_t *p, pq_t *q, int nparams, const char *const *vals, const int *lens)
{
    if (!pgw_up(p) || pgc_query(p->pool, p->st[q->kind], nparams, vals, lens, pgw_answer, q) < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "user store unavailable (%s)", pgc_error(p->pool));
        pgw_answer(q, NULL, p->closing ? "user store closed" : msg);
    }
}

static pq_t *pgw_q(store_pgw_t *p, int kind, sa_done_fn done, sa_user_fn user, void *arg)
{
    pq_t *q = calloc(1, sizeof *q);

    if (!q) {
        pgw_set_err(p, "out of memory");
        if (user)
            user(arg, -1, NULL);
        else if (done)
            done(arg, -1);
        return NULL;
    }
    q->p = p;
    q->kind = kind;
    q->done = done;
    q->user = user;
    q->arg = arg;
    return q;
}

static void pgw_user_exists(void *be, const char *email, uint64_t mono_ms, sa_done_fn cb, void *arg)
{
    store_pgw_t *p = be;
    pq_t *q;
    int known;

    (void)mono_ms;
    /* The cache is trusted only while the listener can tell us it is stale. */
    if (p->listening && (known = user_cache_peek(p->uc, email)) >= 0) {
        cb(arg, known);
        return;
    }
    if (!(q = pgw_q(p, S_EXISTS, cb, NULL, arg)))
        return;
    snprintf(q->email, sizeof q->email, "%s", email);
    q->gen = p->listening ? user_cache_gen(p->uc) : 0;
    const char *v[1] = {email};
    pgw_call(p, q, 1, v, NULL);
}

static void pgw_user_add(void *be, const char *email, sa_done_fn cb, void *arg)
{
    store_pgw_t *p = be;
    pq_t *q = pgw_q(p, S_ADD, cb, NULL, arg);
    char at[24];

    if (!q)
        return;
    snprintf(q->email, sizeof q->email, "%s", email);
    q->gen = p->listening ? user_cache_gen(p->uc) : 0;
    pgw_i64(at, (int64_t)(pgw_wall_ms() / 1000));
    const char *v[2] = {email, at};
    pgw_call(p, q, 2, v, NULL);
}

static void pgw_sweep_done(void *arg, const PGresult *res, const char *err)
{
    (void)arg;
    (void)res;
    (void)err; /* a sweep that fails runs again 256 redeems later */
}

static void pgw_link_consume(void *be, const uint8_t id[16], uint64_t exp_s, uint64_t now_s,
                             sa_done_fn cb, void *arg)
{
    store_pgw_t *p = be;
    pq_t *q = pgw_q(p, S_CONSUME, cb, NULL, arg);
    char exp[24], old[24];
    const int lens[2] = {16, 0};

    if (!q)
        return;
    pgw_i64(exp, (int64_t)exp_s);
    const char *v[2] = {(const char *)id, exp};
    pgw_call(p, q, 2, v, lens);
    if (++p->consumes % PGW_SWEEP_EVERY == 0 && pgw_up(p)) {
        pgw_i64(old, (int64_t)now_s - PGW_SWEEP_SLACK);
        const char *sv[1] = {old};
        pgc_query(p->pool, p->st[S_SWEEP], 1, sv, NULL, pgw_sweep_done, NULL);
    }
}

static void pgw_by_id(store_pgw_t *p, int kind, const uint8_t id[16], const char *second,
                      sa_done_fn cb, void *arg)
{
    pq_t *q = pgw_q(p, kind, cb, NULL, arg);
    const int lens[2] = {16, 0};
    const char *v[2] = {(const char *)id, second};

    if (q)
        pgw_call(p, q, second ? 2 : 1, v, lens);
}

static void pgw_link_used(void *be, const uint8_t id[16], sa_done_fn cb, void *arg)
{
    pgw_by_id(be, S_USED, id, NULL, cb, arg);
}

static void pgw_session_active(void *be, const uint8_t id[16], sa_done_fn cb, void *arg)
{
    pgw_by_id(be, S_ACTIVE, id, NULL, cb, arg);
}

static void pgw_code_tries(void *be, const uint8_t id[16], sa_done_fn cb, void *arg)
{
    pgw_by_id(be, S_TRIES, id, NULL, cb, arg);
}

static void pgw_code_fail(void *be, const uint8_t id[16], uint64_t exp_s, uint64_t now_s,
                          sa_done_fn cb, void *arg)
{
    char exp[24];

    (void)now_s;
    pgw_i64(exp, (int64_t)exp_s);
    pgw_by_id(be, S_FAIL, id, exp, cb, arg);
}

static void pgw_session_revoke(void *be, const uint8_t id[16], int64_t now_s, sa_done_fn cb,
                               void *arg)
{
    char now[24];

    pgw_i64(now, now_s);
    pgw_by_id(be, S_REVOKE, id, now, cb, arg);
}

static void pgw_session_start(void *be, const store_session_t *row, int64_t link_iat, sa_user_fn cb,
                              void *arg)
{
    store_pgw_t *p = be;
    pq_t *q = pgw_q(p, S_START, NULL, cb, arg);
    char c[24], e[24], iat[24];
    const int lens[7] = {16, 0, 0, 0, 0, 0, 0};

    if (!q)
        return;
    pgw_i64(c, row->created_at);
    pgw_i64(e, row->expires_at);
    pgw_i64(iat, link_iat);
    const char *v[7] = {(const char *)row->id,
                        row->email,
                        c,
                        e,
                        row->ip ? row->ip : "",
                        row->user_agent ? row->user_agent : "",
                        iat};
    pgw_call(p, q, 7, v, lens);
}

/* An event's email and type travel in q->email ("email\0type"), its time
 * in q->gen, so a failed write can go back to the backlog. */
static int pgw_event_send(store_pgw_t *p, const char *type, const char *email, uint64_t now_s,
                          int tries)
{
    size_t el = strlen(email), tl = strlen(type);
    pq_t *q;
    char at[24];

    if (el + tl + 2 > sizeof q->email || !pgw_up(p) || !(q = calloc(1, sizeof *q)))
        return -1;
    q->p = p;
    q->kind = S_EVENT;
    memcpy(q->email, email, el + 1);
    memcpy(q->email + el + 1, type, tl + 1);
    q->gen = now_s;
    q->tries = tries;
    pgw_i64(at, (int64_t)now_s);
    const char *v[3] = {type, email, at};
    if (pgc_query(p->pool, p->st[S_EVENT], 3, v, NULL, pgw_answer, q) < 0) {
        free(q);
        return -1;
    }
    return 0;
}

static void pgw_backlog_put(store_pgw_t *p, const char *type, const char *email, uint64_t now_s,
                            int tries)
{
    pgw_event_t *e;

    if (tries >= PGW_EVENT_TRIES) { /* not the store being down: the row itself fails */
        if (p->st_.events_lost++ % 1000 == 0)
            log_err("user store: auth event \"%s\" for %s not recorded: %s", type, email, p->err);
        return;
    }
    if (p->nbacklog == STORE_PGW_BACKLOG) {
        if (p->st_.events_lost++ % 1000 == 0)
            log_err("user store down: auth event \"%s\" for %s not recorded (backlog of %d full)",
                    type, email, STORE_PGW_BACKLOG);
        return;
    }
    e = &p->backlog[p->nbacklog++];
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->email, sizeof e->email, "%s", email);
    e->now_s = now_s;
    e->tries = tries;
}

static void pgw_event(void *be, const char *type, const char *email, uint64_t now_s)
{
    store_pgw_t *p = be;

    if (p->closing)
        return;
    if (p->nbacklog || pgw_event_send(p, type, email ? email : "", now_s, 0) < 0)
        pgw_backlog_put(p, type, email ? email : "", now_s, 0);
}

static void pgw_close_noop(void *be)
{
    (void)be; /* store_pgw_close owns the pools */
}

static const store_async_ops_t pgw_ops = {
    .up = pgw_up,
    .error = pgw_error,
    .user_exists = pgw_user_exists,
    .user_add = pgw_user_add,
    .link_consume = pgw_link_consume,
    .link_used = pgw_link_used,
    .code_tries = pgw_code_tries,
    .code_fail = pgw_code_fail,
    .session_start = pgw_session_start,
    .session_revoke = pgw_session_revoke,
    .session_active = pgw_session_active,
    .event = pgw_event,
    .close = pgw_close_noop,
};

/* ---- the listener ---- */

static int pgw_unhex(const char *in, uint8_t out[16])
{
    static const char hex[] = "0123456789abcdef";

    if (strlen(in) != 32)
        return -1;
    for (int i = 0; i < 32; i++) {
        const char *d = memchr(hex, in[i], 16);
        if (!d || !in[i])
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)((d - hex) << 4);
        else
            out[i / 2] |= (uint8_t)(d - hex);
    }
    return 0;
}

static void pgw_read_log(store_pgw_t *p);

static void pgw_log_rows(void *arg, const PGresult *res, const char *err)
{
    store_pgw_t *p = arg;
    revoke_entry_t batch[PGW_LOG_BATCH];
    uint64_t from = p->read_from, last = from;
    int n = 0;

    p->reading = 0;
    if (!res) {
        if (!p->closing)
            log_warn("reading the session revocation log failed: %s", err);
        return;
    }
    for (int i = 0; i < PQntuples(res) && n < PGW_LOG_BATCH; i++) {
        uint64_t seq = strtoull(PQgetvalue(res, i, 0), NULL, 10);
        if (pgw_unhex(PQgetvalue(res, i, 1), batch[n].id) < 0)
            continue;
        batch[n].exp_ms = strtoull(PQgetvalue(res, i, 2), NULL, 10) * 1000;
        last = seq;
        n++;
    }
    if (last == from)
        return;
    /* from is what the set held when the rows were asked for (the query's
     * $1); a worker that applied them meanwhile makes this one stale. */
    int r = revoke_apply(p->rv_zone, from, batch, n, last, pgw_wall_ms());
    if (r != 1)
        for (int i = 0; i < n; i++)
            sesslive_end(p->sl_zone, batch[i].id); /* no longer counted as live */
    if (r < 0)
        log_warn("session revocation set full: sessions it cannot vouch for are checked in the "
                 "store (auth_store_down while it is down) until some expire");
    if (PQntuples(res) == PGW_LOG_BATCH || r == 1)
        pgw_read_log(p); /* more, or stale: read on from where the set is */
}

static void pgw_read_log(store_pgw_t *p)
{
    char from[24];
    const char *v[1] = {from};

    if (p->reading || p->closing || pgc_up(p->lis) == 0)
        return;
    p->read_from = revoke_seq(p->rv_zone);
    pgw_i64(from, (int64_t)p->read_from);
    if (pgc_query(p->lis, p->lst[L_LOG], 1, v, NULL, pgw_log_rows, p) == 0)
        p->reading = 1;
}

static void pgw_listened(void *arg, const PGresult *res, const char *err)
{
    store_pgw_t *p = arg;

    if (!res) {
        if (!p->closing)
            log_warn("LISTEN on the user store failed: %s", err);
        p->listen_ask = 0;
        return;
    }
    if (--p->listen_ask == 0) {
        /* From here every change is announced to us: answers cached from
         * now on can be trusted until the next notification. */
        user_cache_clear(p->uc);
        p->st_.cache_clears++;
        p->listening = 1;
        log_info("user store: listening for user and session changes");
    }
}

/* The listener (re)connected: LISTEN, then read what was missed. */
static void pgw_lis_ready(void *arg)
{
    store_pgw_t *p = arg;

    p->listening = 0;
    p->listen_ask = 2;
    if (pgc_query(p->lis, p->lst[L_USERS], 0, NULL, NULL, pgw_listened, p) < 0 ||
        pgc_query(p->lis, p->lst[L_REVOKED], 0, NULL, NULL, pgw_listened, p) < 0)
        log_warn("LISTEN on the user store could not be queued");
    p->reading = 0;
    pgw_read_log(p);
}

static void pgw_notify(void *arg, const char *channel, const char *payload)
{
    store_pgw_t *p = arg;
    uint8_t id[16];

    p->st_.notifies++;
    if (!strcmp(channel, "magicd_users") && *payload) {
        user_cache_forget(p->uc, payload); /* one address changed (schema 2) */
    } else if (!strcmp(channel, "magicd_users")) {
        user_cache_clear(p->uc); /* groups, or a schema 1 database */
        p->st_.cache_clears++;
    } else if (!strcmp(channel, "magicd_revoked") && pgw_unhex(payload, id) == 0) {
        /* The session cannot outlive session_ttl from now, so that bounds
         * how long the id must stay in the set; the log read brings the
         * exact end (and advances the set's seq) later. */
        uint64_t now = pgw_wall_ms();
        revoke_add(p->rv_zone, id, now + p->conf->auth.session_ttl_ms, now);
        sesslive_end(p->sl_zone, id);
        p->st_.revoked_by_notify++;
    }
}

/* ---- life ---- */

/* libpq resolves a host name with a blocking lookup inside the connect:
 * say so when users_db names its host by name (an address, a unix socket
 * directory or hostaddr= does not). */
static void pgw_check_host(const char *url)
{
    PQconninfoOption *o = PQconninfoParse(url, NULL);
    const char *host = NULL, *addr = NULL;
    unsigned char buf[sizeof(struct in6_addr)];

    for (PQconninfoOption *i = o; i && i->keyword; i++) {
        if (!strcmp(i->keyword, "host"))
            host = i->val;
        else if (!strcmp(i->keyword, "hostaddr"))
            addr = i->val;
    }
    if (host && *host && *host != '/' && !(addr && *addr) && inet_pton(AF_INET, host, buf) != 1 &&
        inet_pton(AF_INET6, host, buf) != 1)
        log_warn("users_db names its host \"%s\" by name: each (re)connect resolves it with a "
                 "blocking lookup in the worker's loop; give an address (or hostaddr=)",
                 host);
    PQconninfoFree(o);
}

store_pgw_t *store_pgw_open(const conf_t *c, ev_loop_t *loop, struct user_cache *uc, void *rv_zone,
                            void *sl_zone, char *err, size_t errsz)
{
    store_pgw_t *p = calloc(1, sizeof *p);
    int tmo = (int)c->auth.users_db_timeout_ms;

    if (!p) {
        snprintf(err, errsz, "user store: out of memory");
        return NULL;
    }
    p->conf = c;
    p->loop = loop;
    p->uc = uc;
    p->rv_zone = rv_zone;
    p->sl_zone = sl_zone;
    pgw_set_err(p, "not connected yet");
    pgw_check_host(c->auth.users_db);
    p->pool = pgc_new(loop, c->auth.users_db, c->auth.users_db_pool, tmo > 0 ? tmo : 1);
    /* LISTEN and the log read: one connection, the same timeout. */
    p->lis = pgc_new(loop, c->auth.users_db, 1, tmo > 0 ? tmo : 1);
    if (!p->pool || !p->lis) {
        snprintf(err, errsz, "users_db %s: bad pool settings or out of memory", c->auth.users_db);
        store_pgw_close(p);
        return NULL;
    }
    for (int i = 0; i < S_N; i++)
        if ((p->st[i] = pgc_prepare(p->pool, pgw_sql[i].sql, pgw_sql[i].n)) < 0)
            goto fail;
    for (int i = 0; i < L_N; i++)
        if ((p->lst[i] = pgc_prepare(p->lis, pgw_lsql[i].sql, pgw_lsql[i].n)) < 0)
            goto fail;
    pgc_on_events(p->lis, pgw_lis_ready, pgw_notify, p);
    if (pgc_start(p->pool) < 0 || pgc_start(p->lis) < 0)
        goto fail;
    return p;
fail:
    snprintf(err, errsz, "users_db %s: preparing the statements failed", c->auth.users_db);
    store_pgw_close(p);
    return NULL;
}

void store_pgw_close(store_pgw_t *p)
{
    if (!p)
        return;
    p->closing = 1; /* callbacks run by pgc_free must not queue more */
    pgc_free(p->lis);
    pgc_free(p->pool);
    if (p->nbacklog)
        log_err("user store: %d auth events not recorded at exit", p->nbacklog);
    free(p);
}

void store_pgw_async(store_pgw_t *p, store_async_t *sa)
{
    sa->ops = &pgw_ops;
    sa->be = p;
}

void store_pgw_tick(store_pgw_t *p, uint64_t mono_ms)
{
    int up = pgw_up(p);

    if (up != p->was_up) {
        if (up)
            log_notice("user store is up: %s", p->conf->auth.users_db);
        else
            log_err("user store is down: %s (sign-in answers 503 until it is back)",
                    pgc_error(p->pool));
        p->was_up = up;
    }
    if (p->listening && pgc_up(p->lis) == 0) {
        p->listening = 0; /* the cache is bypassed until the listener is back */
        p->listen_ask = 0;
    }
    while (up && p->nbacklog) {
        pgw_event_t *e = &p->backlog[0];
        if (pgw_event_send(p, e->type, e->email, e->now_s, e->tries) < 0)
            break;
        memmove(p->backlog, p->backlog + 1, (size_t)--p->nbacklog * sizeof *p->backlog);
    }
    if (p->listening && revoke_poll_claim(p->rv_zone, mono_ms, STORE_PGW_POLL_MS))
        pgw_read_log(p);
}

void store_pgw_stats(const store_pgw_t *p, store_pgw_stats_t *out)
{
    *out = p->st_;
    out->up = pgc_up(p->pool);
    out->listening = p->listening;
    out->queued = pgc_queued(p->pool);
}
