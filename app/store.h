/*
 * store.h - the SQLite user store and used-link ledger.
 *
 * One SQLite file holds the users, an audit trail of auth events and the
 * ledger of magic links already used (what makes a link one-time). Each
 * worker opens its own handle after fork (SQLite handles must not cross a
 * fork); WAL mode lets many readers run while one writes, and busy_timeout
 * absorbs the short write locks other workers hold. Statements are prepared
 * once per handle and reused.
 *
 * Schema (created when missing):
 *     users(id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL COLLATE NOCASE,
 *           is_admin INT NOT NULL DEFAULT 0, created_at INT NOT NULL)
 *     auth_events(id INTEGER PRIMARY KEY, event_type TEXT NOT NULL,
 *                 user_id INT, created_at INT NOT NULL)
 *     used_links(id BLOB PRIMARY KEY, expires_at INT NOT NULL)
 *     code_tries(id BLOB PRIMARY KEY, tries INT NOT NULL, expires_at INT NOT NULL)
 *
 * Callers pass normalised addresses (email_normalize); the NOCASE collation
 * is a second line of defence for rows written by other tools.
 */
#ifndef MG_STORE_H
#define MG_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* Open (creating file and schema unless readonly). NULL with err. */
store_t *store_open(const char *path, int readonly, char *err, size_t errsz);
/* The same for the command line: users_db may also be a PostgreSQL URL
 * (app/store_pg.h), whose calls block; store_open refuses URLs because a
 * worker must not block on the network (its PostgreSQL store is
 * app/store_pgw.h, asynchronous). */
store_t *store_open_any(const char *users_db, int readonly, char *err, size_t errsz);
void store_close(store_t *s);

/* The last error message of this handle (for logs). */
const char *store_errmsg(store_t *s);

/* 1 exists / 0 not / -1 error */
int store_user_exists(store_t *s, const char *email);
/* SQLite's data_version: changes when another connection (another worker,
 * the `magicd user` CLI) committed anything since this handle last looked.
 * For caches of what the store says (app/user_cache.h). 0 / -1 (also for
 * a PostgreSQL store: there is no such cheap signal, callers do not cache). */
int store_data_version(store_t *s, int64_t *version);
/* 1 admin / 0 not admin / -1 no such user or error */
int store_user_is_admin(store_t *s, const char *email);
/* 0 added / 1 already there / -1 error */
int store_user_add(store_t *s, const char *email, int is_admin);
/* Same with an explicit creation time (import). */
int store_user_add_at(store_t *s, const char *email, int is_admin, int64_t created_at);
/* 0 removed / 1 not found / -1 error */
int store_user_remove(store_t *s, const char *email);
/* Calls cb for each user ordered by email. Returns the count or -1. */
int store_user_list(store_t *s,
                    void (*cb)(const char *email, int is_admin, int64_t created_at, void *arg),
                    void *arg);

/* 1 while the path still names the file the handle opened; 0 when it was
 * deleted or replaced (store_errmsg then says so). store_link_consume
 * checks it itself and fails (-1) on 0. */
int store_file_same(store_t *s);

/* Record a link's use. 1 first use (recorded) / 0 already used / -1 error.
 * Now and then deletes ledger rows long past their expiry. */
int store_link_consume(store_t *s, const uint8_t id[16], uint64_t expires_s, uint64_t now_s);

/* Wrong sign-in codes entered for the link `id` so far (0 when none), or
 * -1. The row is what limits the guesses a code can take; see
 * app/signin_code.h. */
int store_code_tries(store_t *s, const uint8_t id[16]);
/* Count one more wrong code for `id`; returns the new count, or -1. Rows
 * are swept with the used-link ledger once long past expires_s. */
int store_code_fail(store_t *s, const uint8_t id[16], uint64_t expires_s, uint64_t now_s);

/* Append an auth event ("link_issued", "login", "logout", ...); user_id is
 * looked up from email when written (NULL when unknown). Events are queued
 * and written in batches (see store.c): 0 queued or written / -1 when the
 * queue is full and cannot be written. */
int store_event(store_t *s, const char *type, const char *email, uint64_t now_s);
/* Write queued events now. Call it from a ~1 s timer so a quiet worker does
 * not hold rows; store_close flushes too. 0 / -1 (rows kept for a retry). */
int store_flush(store_t *s);
/* Events waiting in this handle's queue (for tests). */
int store_events_queued(store_t *s);

/* Group many writes in one transaction (import). 0 / -1. */
int store_begin(store_t *s);
int store_commit(store_t *s);
int store_rollback(store_t *s);

#endif
