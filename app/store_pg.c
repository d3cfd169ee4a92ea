/*
 * store_pg.c - the synchronous PostgreSQL back-end of the user store (see
 * store_pg.h).
 *
 * One blocking libpq connection, PQexecParams per call: the command line
 * runs a handful of statements and exits, so preparing them would buy
 * nothing. Ids travel as binary BYTEA parameters (16 bytes, no escaping);
 * results come back as text, ids hex-encoded by the query itself.
 *
 * Migration takes a transaction-scoped advisory lock first, so two nodes
 * (or an operator and a deploy script) migrating at once serialise; the one
 * that comes second reads the version under the lock and has nothing to do.
 */
#include "app/store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define STORE_PG_LOCK "7310519" /* pg_advisory_xact_lock key: "magicd migrate" */
#define STORE_PG_SWEEP_EVERY 256
#define STORE_PG_SWEEP_SLACK 300 /* seconds, as store.c */

struct store_pg {
    PGconn *conn;
    unsigned consumes;
    char err[256];
};

int store_pg_is_url(const char *s)
{
    return s && (!strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11));
}

const char *store_pg_errmsg(store_pg_t *p)
{
    if (!p)
        return "no user store";
    if (p->err[0])
        return p->err;
    return p->conn ? PQerrorMessage(p->conn) : "not connected";
}

/* Run sql with up to 8 text or binary parameters (lens[i] > 0 = binary of
 * that length). Returns the result when its status is ok, else NULL with
 * the message kept in p->err. */
static PGresult *pg_run(store_pg_t *p, const char *sql, int n, const char *const *vals,
                        const int *lens)
{
    int fmts[8] = {0}, ls[8] = {0};
    PGresult *r;
    ExecStatusType st;

    p->err[0] = 0;
    for (int i = 0; i < n && i < 8; i++) {
        ls[i] = lens ? lens[i] : 0;
        fmts[i] = ls[i] > 0;
    }
    r = PQexecParams(p->conn, sql, n, NULL, vals, ls, fmts, 0);
    st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    snprintf(p->err, sizeof p->err, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(p->conn));
    p->err[strcspn(p->err, "\n")] = 0;
    PQclear(r);
    return NULL;
}

/* Several statements without parameters (a schema step): 0 / -1. */
static int pg_script(store_pg_t *p, const char *sql)
{
    PGresult *r = PQexec(p->conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

    p->err[0] = 0;
    if (!ok) {
        snprintf(p->err, sizeof p->err, "%s",
                 r ? PQresultErrorMessage(r) : PQerrorMessage(p->conn));
        p->err[strcspn(p->err, "\n")] = 0;
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* A statement without rows: the rows it touched, or -1. */
static int pg_count(store_pg_t *p, const char *sql, int n, const char *const *vals, const int *lens)
{
    PGresult *r = pg_run(p, sql, n, vals, lens);
    int c;

    if (!r)
        return -1;
    c = atoi(PQcmdTuples(r));
    PQclear(r);
    return c;
}

/* 1 a row / 0 none / -1 error. */
static int pg_any(store_pg_t *p, const char *sql, int n, const char *const *vals, const int *lens)
{
    PGresult *r = pg_run(p, sql, n, vals, lens);
    int c;

    if (!r)
        return -1;
    c = PQntuples(r) > 0;
    PQclear(r);
    return c;
}

static void pg_i64(char out[24], int64_t v)
{
    snprintf(out, 24, "%lld", (long long)v);
}

int store_pg_version(store_pg_t *p)
{
    /* Two statements: the second would not parse without the table. */
    int v = pg_any(p, "SELECT 1 WHERE to_regclass('schema_version') IS NOT NULL", 0, NULL, NULL);
    PGresult *r;

    if (v <= 0)
        return v;
    if (!(r = pg_run(p, "SELECT COALESCE(max(version), 0) FROM schema_version", 0, NULL, NULL)))
        return -1;
    v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

store_pg_t *store_pg_open(const char *url, int need_schema, char *err, size_t errsz)
{
    store_pg_t *p = calloc(1, sizeof *p);
    int v;

    if (!p) {
        snprintf(err, errsz, "user store: out of memory");
        return NULL;
    }
    p->conn = PQconnectdb(url);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        snprintf(err, errsz, "cannot connect to user store %s: %s", url, PQerrorMessage(p->conn));
        err[strcspn(err, "\n")] = 0;
        store_pg_close(p);
        return NULL;
    }
    /* Quiet the NOTICEs of CREATE ... IF NOT EXISTS and friends. */
    PQclear(PQexec(p->conn, "SET client_min_messages = warning"));
    if (need_schema && (v = store_pg_version(p)) < STORE_PG_VERSION) {
        if (v < 0)
            snprintf(err, errsz, "user store %s: %s", url, store_pg_errmsg(p));
        else
            snprintf(err, errsz,
                     "user store %s has schema version %d, this magicd needs %d: "
                     "run `magicd store migrate`",
                     url, v, STORE_PG_VERSION);
        store_pg_close(p);
        return NULL;
    }
    return p;
}

void store_pg_close(store_pg_t *p)
{
    if (!p)
        return;
    PQfinish(p->conn);
    free(p);
}

int store_pg_tx(store_pg_t *p, const char *verb)
{
    return pg_count(p, verb, 0, NULL, NULL) < 0 ? -1 : 0;
}

int store_pg_migrate(store_pg_t *p, int *from, int *to, char *err, size_t errsz)
{
    char ver[24], at[24];
    const char *vals[2] = {ver, at};
    int v;

    *from = *to = -1;
    if (store_pg_tx(p, "BEGIN") < 0 ||
        pg_count(p, "SELECT pg_advisory_xact_lock(" STORE_PG_LOCK ")", 0, NULL, NULL) < 0 ||
        pg_count(p,
                 "CREATE TABLE IF NOT EXISTS schema_version("
                 "  version INT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                 0, NULL, NULL) < 0 ||
        (v = store_pg_version(p)) < 0)
        goto fail;
    *from = v;
    for (; v < STORE_PG_VERSION; v++) {
        pg_i64(ver, v + 1);
        pg_i64(at, (int64_t)time(NULL));
        if (pg_script(p, store_pg_steps[v]) < 0 ||
            pg_count(p, "INSERT INTO schema_version(version, applied_at) VALUES ($1, $2)", 2, vals,
                     NULL) < 0)
            goto fail;
    }
    if (store_pg_tx(p, "COMMIT") < 0)
        goto fail;
    *to = v;
    return 0;
fail:
    snprintf(err, errsz, "upgrading the schema: %s", store_pg_errmsg(p));
    PQclear(PQexec(p->conn, "ROLLBACK"));
    return -1;
}

int store_pg_user_exists(store_pg_t *p, const char *email)
{
    const char *v[1] = {email};
    return pg_any(p, "SELECT 1 FROM users WHERE email = $1 AND disabled = 0", 1, v, NULL);
}

int store_pg_user_add_at(store_pg_t *p, const char *email, int is_admin, int64_t created_at)
{
    char at[24];
    const char *v[3] = {email, is_admin ? "1" : "0", at};
    int n;

    if (!email || !*email)
        return -1;
    pg_i64(at, created_at);
    n = pg_count(p,
                 "INSERT INTO users(email, is_admin, created_at) VALUES ($1, $2, $3) "
                 "ON CONFLICT (email) DO NOTHING",
                 3, v, NULL);
    return n < 0 ? -1 : n == 1 ? 0 : 1;
}

int store_pg_user_remove(store_pg_t *p, const char *email)
{
    const char *v[1] = {email};
    int n = pg_count(p, "DELETE FROM users WHERE email = $1", 1, v, NULL);
    return n < 0 ? -1 : n >= 1 ? 0 : 1;
}

int store_pg_user_set_disabled(store_pg_t *p, const char *email, int disabled)
{
    const char *v[2] = {email, disabled ? "1" : "0"};
    int n = pg_count(p, "UPDATE users SET disabled = $2 WHERE email = $1", 2, v, NULL);
    return n < 0 ? -1 : n ? 0 : 1;
}

int store_pg_group_add(store_pg_t *p, const char *email, const char *group)
{
    const char *v[2] = {email, group};
    int n = pg_count(p,
                     "INSERT INTO user_groups(user_id, name) SELECT id, $2 FROM users "
                     "WHERE email = $1 ON CONFLICT DO NOTHING",
                     2, v, NULL);
    return n < 0 ? -1 : n ? 0 : 1;
}

void store_pg_user_row(const PGresult *res, int row, store_user_info_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    out->disabled = atoi(PQgetvalue(res, row, 1)) != 0;
    out->links_not_before = strtoll(PQgetvalue(res, row, 2), NULL, 10);
    store_groups_copy(out->groups, sizeof out->groups, PQgetvalue(res, row, 3));
}

int store_pg_user_info(store_pg_t *p, const char *email, store_user_info_t *out)
{
    const char *v[1] = {email};
    PGresult *r =
        pg_run(p,
               "SELECT id, disabled, COALESCE((SELECT not_before FROM link_cutoffs "
               "WHERE email = u.email), 0), " STORE_PG_USER_GROUPS " FROM users u WHERE email = $1",
               1, v, NULL);
    int found;

    if (!r)
        return -1;
    found = PQntuples(r) > 0;
    if (found)
        store_pg_user_row(r, 0, out);
    PQclear(r);
    return found;
}

int store_pg_user_each(store_pg_t *p, void (*cb)(const store_user_row_t *u, void *arg), void *arg)
{
    PGresult *r = pg_run(p,
                         "SELECT email, created_at, disabled, " STORE_PG_USER_GROUPS
                         " FROM users u ORDER BY email",
                         0, NULL, NULL);
    int n;

    if (!r)
        return -1;
    n = PQntuples(r);
    for (int i = 0; cb && i < n; i++) {
        store_user_row_t u = {
            .email = PQgetvalue(r, i, 0),
            .created_at = strtoll(PQgetvalue(r, i, 1), NULL, 10),
            .disabled = atoi(PQgetvalue(r, i, 2)) != 0,
            .groups = PQgetvalue(r, i, 3),
        };
        cb(&u, arg);
    }
    PQclear(r);
    return n;
}

int store_pg_link_consume(store_pg_t *p, const uint8_t id[16], uint64_t expires_s, uint64_t now_s)
{
    char exp[24], old[24];
    const char *v[2] = {(const char *)id, exp};
    const int lens[2] = {16, 0};
    int n;

    pg_i64(exp, (int64_t)expires_s);
    n = pg_count(p, "INSERT INTO used_links(id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                 2, v, lens);
    if (n >= 0 && ++p->consumes % STORE_PG_SWEEP_EVERY == 0) {
        const char *sv[1] = {old};
        pg_i64(old, (int64_t)now_s - STORE_PG_SWEEP_SLACK);
        pg_count(p, "DELETE FROM used_links WHERE expires_at < $1", 1, sv, NULL);
    }
    return n < 0 ? -1 : n == 1;
}

int store_pg_link_used(store_pg_t *p, const uint8_t id[16])
{
    const char *v[1] = {(const char *)id};
    const int lens[1] = {16};
    return pg_any(p, "SELECT 1 FROM used_links WHERE id = $1", 1, v, lens);
}

int store_pg_session_create(store_pg_t *p, const store_session_t *ss, int64_t link_iat)
{
    char c[24], e[24], iat[24];
    const char *v[7] = {(const char *)ss->id,
                        ss->email,
                        c,
                        e,
                        ss->ip ? ss->ip : "",
                        ss->user_agent ? ss->user_agent : "",
                        iat};
    const int lens[7] = {16, 0, 0, 0, 0, 0, 0};
    int n;

    pg_i64(c, ss->created_at);
    pg_i64(e, ss->expires_at);
    pg_i64(iat, link_iat);
    n = pg_count(p,
                 "INSERT INTO sessions(id, email, created_at, expires_at, ip, user_agent) "
                 "SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM users "
                 "WHERE email = $2 AND disabled = 0) AND $7::BIGINT >= COALESCE((SELECT "
                 "not_before FROM link_cutoffs WHERE email = $2), 0)",
                 7, v, lens);
    return n < 0 ? -1 : n ? 1 : 0;
}

int store_pg_session_revoke(store_pg_t *p, const uint8_t id[16], int64_t now_s)
{
    char now[24];
    const char *v[2] = {(const char *)id, now};
    const int lens[2] = {16, 0};
    int n;

    pg_i64(now, now_s);
    n = pg_count(p, "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", 2,
                 v, lens);
    return n < 0 ? -1 : n ? 1 : 0;
}

int store_pg_session_revoke_all(store_pg_t *p, const char *email, int64_t now_s)
{
    char now[24];
    const char *v[2] = {email, now};

    pg_i64(now, now_s);
    return pg_count(p,
                    "UPDATE sessions SET revoked_at = $2 WHERE email = $1 AND "
                    "revoked_at IS NULL AND expires_at > $2",
                    2, v, NULL);
}

int store_pg_session_active(store_pg_t *p, const uint8_t id[16])
{
    const char *v[1] = {(const char *)id};
    const int lens[1] = {16};
    return pg_any(p, "SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL", 1, v, lens);
}

static int pg_unhex(const char *in, uint8_t out[16])
{
    if (strlen(in) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned b;
        if (sscanf(in + 2 * i, "%2x", &b) != 1)
            return -1;
        out[i] = (uint8_t)b;
    }
    return 0;
}

int store_pg_session_each(store_pg_t *p, const char *email,
                          void (*cb)(const store_session_t *ss, void *arg), void *arg)
{
    const char *v[1] = {email};
    PGresult *r = pg_run(p,
                         "SELECT encode(id, 'hex'), created_at, expires_at, "
                         "COALESCE(revoked_at, 0), ip, user_agent FROM sessions "
                         "WHERE email = $1 ORDER BY created_at, id",
                         1, v, NULL);
    int n;

    if (!r)
        return -1;
    n = PQntuples(r);
    for (int i = 0; cb && i < n; i++) {
        store_session_t ss;
        memset(&ss, 0, sizeof ss);
        pg_unhex(PQgetvalue(r, i, 0), ss.id);
        ss.email = email;
        ss.created_at = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        ss.expires_at = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        ss.revoked_at = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        ss.ip = PQgetvalue(r, i, 4);
        ss.user_agent = PQgetvalue(r, i, 5);
        cb(&ss, arg);
    }
    PQclear(r);
    return n;
}

int store_pg_event(store_pg_t *p, const char *type, const char *email, uint64_t now_s)
{
    char at[24];
    const char *v[3] = {type, email ? email : "", at};

    pg_i64(at, (int64_t)now_s);
    return pg_count(p,
                    "INSERT INTO auth_events(event_type, user_id, created_at) "
                    "VALUES ($1, (SELECT id FROM users WHERE email = $2), $3)",
                    3, v, NULL) < 0
               ? -1
               : 0;
}
