/*
 * store_session.h - sessions, their revocations, groups and account state
 * in the user store.
 *
 * Tables (added by migration 2, see store_migrate.c):
 *     sessions(id BLOB PRIMARY KEY, email, created_at, expires_at,
 *              revoked_at NULL while active, ip, user_agent)
 *     session_revocations(seq INTEGER PRIMARY KEY AUTOINCREMENT, id,
 *                         expires_at)       the log workers poll
 *     user_groups(user_id, name)            what GET /auth exports
 *     link_cutoffs(email, not_before)       links issued before are void
 *     users.disabled
 *
 * Triggers keep them consistent whatever writes the file: revoking a
 * session (revoked_at set) appends it to the revocation log; removing or
 * disabling a user revokes the user's sessions and voids the links issued
 * until then. So `magicd user remove`, `session revoke-all` and a worker's
 * logout all end in the same log, which the workers bring into their
 * shared-memory set (core/revoke.h) within REVOKE_POLL_MS.
 *
 * Times are unix seconds, as in the rest of the store.
 */
#ifndef MG_STORE_SESSION_H
#define MG_STORE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "app/store.h"
#include "core/revoke.h"

#define STORE_GROUPS_MAX 256 /* "a,b,c" as exported in X-Auth-Request-Groups */
#define STORE_GROUP_NAME_MAX 64
#define STORE_AGENT_MAX 160

typedef struct {
    int64_t id;
    int disabled;
    int64_t links_not_before;      /* links issued before this second are void */
    char groups[STORE_GROUPS_MAX]; /* sorted, comma-separated; "" for none */
} store_user_info_t;

/* 1 found (out filled), 0 no such user, -1 error. */
int store_user_info(store_t *s, const char *email, store_user_info_t *out);
/* 0 changed, 1 no such user, -1 error. Disabling revokes the sessions. */
int store_user_set_disabled(store_t *s, const char *email, int disabled);
/* 0 added, 1 already in it (or no such user), -1 error. */
int store_group_add(store_t *s, const char *email, const char *group);
/* A group name: 1..64 of [A-Za-z0-9._-] (safe in a header, no commas). */
int store_group_name_ok(const char *name);
/* Copy a group list (sorted, comma-separated) into dst of cap > 0 bytes.
 * A list longer than dst holds ends at a whole name, so a check never
 * matches a truncated one. Every store back-end and the session cookie
 * cut a list this way. */
void store_groups_copy(char *dst, size_t cap, const char *groups);

typedef struct {
    const char *email;
    int64_t created_at;
    int disabled;
    const char *groups;
} store_user_row_t;
/* Each user ordered by email; the count or -1. */
int store_user_each(store_t *s, void (*cb)(const store_user_row_t *u, void *arg), void *arg);

typedef struct {
    uint8_t id[16];
    const char *email;
    int64_t created_at, expires_at;
    int64_t revoked_at; /* 0 while active */
    const char *ip, *user_agent;
} store_session_t;

/* Record a new session for a link issued at link_iat, only if the user
 * exists, is not disabled and the link is not void (all checked in the same
 * statement, so a concurrent `user remove` cannot slip in between).
 * 1 created, 0 refused, -1 error. */
int store_session_create(store_t *s, const store_session_t *ss, int64_t link_iat);
/* 1 revoked now, 0 unknown or already revoked, -1 error. */
int store_session_revoke(store_t *s, const uint8_t id[16], int64_t now_s);
/* Revoke every active session of email: the count, or -1. */
int store_session_revoke_all(store_t *s, const char *email, int64_t now_s);
/* 1 active, 0 revoked or unknown, -1 error (the fallback when the shared
 * set cannot answer). */
int store_session_active(store_t *s, const uint8_t id[16]);
/* Sessions of email, oldest first: the count or -1. */
int store_session_each(store_t *s, const char *email,
                       void (*cb)(const store_session_t *ss, void *arg), void *arg);
/* Up to max revocations with seq > after, oldest first; *last gets the
 * highest seq returned. The count, or -1. */
int store_revocations(store_t *s, uint64_t after, revoke_entry_t *out, int max, uint64_t *last);

/* Was the link with this id redeemed already? 1 / 0 / -1. Read-only, for
 * telling a replay from a link opened in another browser: a browser that
 * signed in holds a fresh CSRF secret, so its own used link no longer
 * matches it either. */
int store_link_used(store_t *s, const uint8_t id[16]);

/* ---- for store.c ---- */
struct sqlite3;
struct store_sess;
int store_sess_open(struct sqlite3 *db, struct store_sess **out, char *err, size_t errsz);
void store_sess_close(struct store_sess *ss);
struct store_sess *store_sess_of(store_t *s);
/* Apply the schema migrations the file lacks (store_migrate.c). */
int store_migrate(struct sqlite3 *db, const char *path, char *err, size_t errsz);

#endif
