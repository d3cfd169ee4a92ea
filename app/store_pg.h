/*
 * store_pg.h - the user store in PostgreSQL, for several magicd nodes.
 *
 * `users_db postgresql://USER@HOST:PORT/DB` puts users, groups, the
 * used-link ledger, sessions, their revocation log and the audit trail in a
 * PostgreSQL database every node shares (docs/nodes.md). The tables mirror
 * the SQLite store's (store.h, store_session.h); the schema is created and
 * upgraded by `magicd store migrate` (store_pg_migrate below), never
 * implicitly, because an operator's database is not ours to alter on start.
 *
 * This is the synchronous back-end: libpq's blocking calls, one connection.
 * It serves the command line (`magicd store migrate`, `user ...`,
 * `session ...`), which is not an event loop; store.c dispatches to it when
 * a handle was opened with store_open_any on a PostgreSQL URL. Workers must
 * never block on the network: they use the asynchronous back-end
 * (app/store_pgw.h over core/pgc.h) instead, and store_open refuses a URL.
 *
 * Return values follow store.h and store_session.h function by function.
 */
#ifndef MG_STORE_PG_H
#define MG_STORE_PG_H

#include <stddef.h>
#include <stdint.h>

#include "app/store_session.h"

typedef struct store_pg store_pg_t;
struct pg_result; /* libpq's PGresult, so includers need not include libpq */

/* The schema version this magicd writes (schema_version in the database). */
#define STORE_PG_VERSION 2

/* 1 when users_db names a PostgreSQL database (postgresql:// or
 * postgres://), 0 for a SQLite file. */
int store_pg_is_url(const char *users_db);

/* Connect. With need_schema, a database whose schema is missing or older
 * than STORE_PG_VERSION is refused with a message naming `magicd store
 * migrate`. NULL with err. */
store_pg_t *store_pg_open(const char *url, int need_schema, char *err, size_t errsz);
void store_pg_close(store_pg_t *p);
const char *store_pg_errmsg(store_pg_t *p);

/* Create or upgrade the schema: versioned (schema_version), idempotent, one
 * transaction under an advisory lock so two nodes migrating at once
 * serialise. *from and *to get the versions before and after. 0 / -1. */
int store_pg_migrate(store_pg_t *p, int *from, int *to, char *err, size_t errsz);
/* The schema's version: 0 when there is none, -1 on error. */
int store_pg_version(store_pg_t *p);

/* BEGIN, COMMIT, ROLLBACK. 0 / -1. */
int store_pg_tx(store_pg_t *p, const char *verb);

int store_pg_user_exists(store_pg_t *p, const char *email);
int store_pg_user_add_at(store_pg_t *p, const char *email, int is_admin, int64_t created_at);
int store_pg_user_remove(store_pg_t *p, const char *email);
int store_pg_user_set_disabled(store_pg_t *p, const char *email, int disabled);
int store_pg_group_add(store_pg_t *p, const char *email, const char *group);
int store_pg_user_info(store_pg_t *p, const char *email, store_user_info_t *out);

/* A user's groups as one column of a query over `users u`: the names
 * sorted, comma-separated, '' for none. */
#define STORE_PG_USER_GROUPS                                                                       \
    "COALESCE((SELECT string_agg(name, ',' ORDER BY name) FROM user_groups g "                     \
    "WHERE g.user_id = u.id), '')"
/* Fill out from row `row` of a result whose first four columns are id,
 * disabled, the links' cutoff and STORE_PG_USER_GROUPS; a group list longer
 * than out holds ends at a whole name. Shared by this back-end and the
 * workers' (store_pgw.c), so both read a user the same way. */
void store_pg_user_row(const struct pg_result *res, int row, store_user_info_t *out);
int store_pg_user_each(store_pg_t *p, void (*cb)(const store_user_row_t *u, void *arg), void *arg);

/* Redeem: one INSERT ... ON CONFLICT DO NOTHING, so of several nodes
 * redeeming the same link at once exactly one gets 1. */
int store_pg_link_consume(store_pg_t *p, const uint8_t id[16], uint64_t expires_s, uint64_t now_s);
int store_pg_link_used(store_pg_t *p, const uint8_t id[16]);

int store_pg_session_create(store_pg_t *p, const store_session_t *ss, int64_t link_iat);
int store_pg_session_revoke(store_pg_t *p, const uint8_t id[16], int64_t now_s);
int store_pg_session_revoke_all(store_pg_t *p, const char *email, int64_t now_s);
int store_pg_session_active(store_pg_t *p, const uint8_t id[16]);
int store_pg_session_each(store_pg_t *p, const char *email,
                          void (*cb)(const store_session_t *ss, void *arg), void *arg);
int store_pg_event(store_pg_t *p, const char *type, const char *email, uint64_t now_s);

/* The SQL of each schema step, in order (store_pg_schema.c); step i takes
 * the schema from version i to i + 1. */
extern const char *const store_pg_steps[STORE_PG_VERSION];

/* The handle's back-end when store_open_any opened a URL, else NULL
 * (store.c). */
store_pg_t *store_pg_of(store_t *s);

#endif
