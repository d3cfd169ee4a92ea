/*
 * store_session.c - sessions, revocations, groups and account state in
 * the SQLite store (see store_session.h).
 *
 * The statements are prepared once per store handle (store_sess_open, from
 * store_open) and kept in a struct the handle owns, like store.c's own.
 * None of them runs on the hot path of a signed-in request: a session is
 * written at sign-in, read back only by the command line, and checked from
 * shared memory; the poll of the revocation log runs from the worker's
 * timer, a single indexed range scan that usually returns no row.
 *
 * Old sessions are swept now and then at sign-in (every SS_SWEEP_EVERY
 * creations), a while after they ended, with their revocation rows; voided
 * link cutoffs are kept for a week, longer than any link lives.
 */
#include "app/store_session.h"
#include "app/store_pg.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "core/prof_hooks.h"

#define SS_SWEEP_EVERY 256
#define SS_SWEEP_SLACK 300         /* seconds after a session ended */
#define SS_CUTOFF_KEEP (7 * 86400) /* seconds a link cutoff is kept */

enum {
    SS_USER_INFO,
    SS_USER_DISABLE,
    SS_GROUP_ADD,
    SS_USER_EACH,
    SS_CREATE,
    SS_REVOKE,
    SS_REVOKE_ALL,
    SS_ACTIVE,
    SS_EACH,
    SS_REVOCATIONS,
    SS_SWEEP_SESSIONS,
    SS_SWEEP_REVOCATIONS,
    SS_SWEEP_CUTOFFS,
    SS_LINK_USED,
    SS_N
};

#define SS_GROUPS_OF(uid)                                                                          \
    "COALESCE((SELECT group_concat(name, ',') FROM (SELECT name FROM user_groups g "               \
    "WHERE g.user_id = " uid " ORDER BY name)), '')"

static const char *const ss_sql[SS_N] = {
    [SS_USER_INFO] = "SELECT u.id, u.disabled, "
                     "COALESCE((SELECT not_before FROM link_cutoffs c WHERE c.email = u.email), "
                     "0), " SS_GROUPS_OF("u.id") " FROM users u WHERE u.email = ?1",
    [SS_USER_DISABLE] = "UPDATE users SET disabled = ?2 WHERE email = ?1",
    [SS_GROUP_ADD] = "INSERT OR IGNORE INTO user_groups(user_id, name) "
                     "SELECT id, ?2 FROM users WHERE email = ?1",
    [SS_USER_EACH] = "SELECT u.email, u.created_at, u.disabled, " SS_GROUPS_OF(
        "u.id") " FROM users u ORDER BY u.email",
    [SS_CREATE] = "INSERT INTO sessions(id, email, created_at, expires_at, ip, user_agent) "
                  "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM users "
                  "WHERE email = ?2 AND disabled = 0) AND ?7 >= COALESCE((SELECT not_before "
                  "FROM link_cutoffs WHERE email = ?2), 0)",
    [SS_REVOKE] = "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
    [SS_REVOKE_ALL] = "UPDATE sessions SET revoked_at = ?2 WHERE email = ?1 AND "
                      "revoked_at IS NULL AND expires_at > ?2",
    [SS_ACTIVE] = "SELECT revoked_at IS NULL FROM sessions WHERE id = ?1",
    [SS_EACH] = "SELECT id, created_at, expires_at, COALESCE(revoked_at, 0), ip, user_agent "
                "FROM sessions WHERE email = ?1 ORDER BY created_at, id",
    [SS_REVOCATIONS] = "SELECT seq, id, expires_at FROM session_revocations WHERE seq > ?1 "
                       "ORDER BY seq LIMIT ?2",
    [SS_SWEEP_SESSIONS] = "DELETE FROM sessions WHERE expires_at < ?1",
    [SS_SWEEP_REVOCATIONS] = "DELETE FROM session_revocations WHERE expires_at < ?1",
    [SS_SWEEP_CUTOFFS] = "DELETE FROM link_cutoffs WHERE not_before < ?1",
    [SS_LINK_USED] = "SELECT 1 FROM used_links WHERE id = ?1",
};

struct store_sess {
    sqlite3 *db;
    sqlite3_stmt *st[SS_N];
    unsigned creates;
};

int store_sess_open(sqlite3 *db, struct store_sess **out, char *err, size_t errsz)
{
    struct store_sess *ss = sqlite3_malloc(sizeof *ss);

    *out = NULL;
    if (!ss) {
        snprintf(err, errsz, "user store: out of memory");
        return -1;
    }
    memset(ss, 0, sizeof *ss);
    ss->db = db;
    for (int i = 0; i < SS_N; i++) {
        if (sqlite3_prepare_v3(db, ss_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &ss->st[i], NULL) !=
            SQLITE_OK) {
            snprintf(err, errsz,
                     "user store: %s (is it older than this magicd? open it once "
                     "read-write to upgrade it)",
                     sqlite3_errmsg(db));
            store_sess_close(ss);
            return -1;
        }
    }
    *out = ss;
    return 0;
}

void store_sess_close(struct store_sess *ss)
{
    if (!ss)
        return;
    for (int i = 0; i < SS_N; i++)
        sqlite3_finalize(ss->st[i]);
    sqlite3_free(ss);
}

static sqlite3_stmt *ss_stmt(store_t *s, int which)
{
    struct store_sess *ss = store_sess_of(s);
    return ss ? ss->st[which] : NULL;
}

static int ss_step(sqlite3_stmt *st)
{
    prof_block_t t = prof_block_begin();
    int rc = sqlite3_step(st);
    prof_block_end(t, "sqlite3_step");
    return rc;
}

static void ss_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* A statement without rows: sqlite3_changes, or -1. */
static int ss_run(sqlite3_stmt *st)
{
    int rc = ss_step(st);
    int n = rc == SQLITE_DONE ? sqlite3_changes(sqlite3_db_handle(st)) : -1;
    ss_done(st);
    return n;
}

void store_groups_copy(char *dst, size_t cap, const char *groups)
{
    size_t n = strlen(groups);

    if (n < cap) {
        memcpy(dst, groups, n + 1);
        return;
    }
    memcpy(dst, groups, cap - 1);
    dst[cap - 1] = 0;
    char *comma = strrchr(dst, ',');
    if (comma)
        *comma = 0;
    else
        dst[0] = 0;
}

int store_user_info(store_t *s, const char *email, store_user_info_t *out)
{
    if (store_pg_of(s))
        return store_pg_user_info(store_pg_of(s), email, out);
    sqlite3_stmt *st = ss_stmt(s, SS_USER_INFO);
    int rc, r;

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    rc = ss_step(st);
    r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (r == 1) {
        out->id = sqlite3_column_int64(st, 0);
        out->disabled = sqlite3_column_int(st, 1) != 0;
        out->links_not_before = sqlite3_column_int64(st, 2);
        const unsigned char *groups = sqlite3_column_text(st, 3);
        store_groups_copy(out->groups, sizeof out->groups, groups ? (const char *)groups : "");
    }
    ss_done(st);
    return r;
}

int store_user_set_disabled(store_t *s, const char *email, int disabled)
{
    if (store_pg_of(s))
        return store_pg_user_set_disabled(store_pg_of(s), email, disabled);
    sqlite3_stmt *st = ss_stmt(s, SS_USER_DISABLE);
    int n;

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, disabled ? 1 : 0);
    n = ss_run(st);
    return n < 0 ? -1 : n ? 0 : 1;
}

int store_group_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > STORE_GROUP_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int store_group_add(store_t *s, const char *email, const char *group)
{
    if (store_pg_of(s))
        return store_pg_group_add(store_pg_of(s), email, group);
    sqlite3_stmt *st = ss_stmt(s, SS_GROUP_ADD);
    int n;

    if (!st || !store_group_name_ok(group))
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
    n = ss_run(st);
    return n < 0 ? -1 : n ? 0 : 1;
}

int store_user_each(store_t *s, void (*cb)(const store_user_row_t *u, void *arg), void *arg)
{
    if (store_pg_of(s))
        return store_pg_user_each(store_pg_of(s), cb, arg);
    sqlite3_stmt *st = ss_stmt(s, SS_USER_EACH);
    int rc, count = 0;

    if (!st)
        return -1;
    while ((rc = ss_step(st)) == SQLITE_ROW) {
        const unsigned char *e = sqlite3_column_text(st, 0), *g = sqlite3_column_text(st, 3);
        store_user_row_t u = {
            .email = e ? (const char *)e : "",
            .created_at = sqlite3_column_int64(st, 1),
            .disabled = sqlite3_column_int(st, 2) != 0,
            .groups = g ? (const char *)g : "",
        };
        if (cb)
            cb(&u, arg);
        count++;
    }
    ss_done(st);
    return rc == SQLITE_DONE ? count : -1;
}

static void ss_sweep(store_t *s, int64_t now_s)
{
    static const int which[] = {SS_SWEEP_SESSIONS, SS_SWEEP_REVOCATIONS};
    sqlite3_stmt *st;

    for (size_t i = 0; i < sizeof which / sizeof which[0]; i++) {
        st = ss_stmt(s, which[i]);
        sqlite3_bind_int64(st, 1, now_s - SS_SWEEP_SLACK);
        ss_run(st); /* best effort: a failed sweep is retried later */
    }
    st = ss_stmt(s, SS_SWEEP_CUTOFFS);
    sqlite3_bind_int64(st, 1, now_s - SS_CUTOFF_KEEP);
    ss_run(st);
}

int store_session_create(store_t *s, const store_session_t *ss, int64_t link_iat)
{
    if (store_pg_of(s))
        return store_pg_session_create(store_pg_of(s), ss, link_iat);
    sqlite3_stmt *st = ss_stmt(s, SS_CREATE);
    int n;

    if (!st)
        return -1;
    if (++store_sess_of(s)->creates % SS_SWEEP_EVERY == 0)
        ss_sweep(s, ss->created_at);
    sqlite3_bind_blob(st, 1, ss->id, 16, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ss->email, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ss->created_at);
    sqlite3_bind_int64(st, 4, ss->expires_at);
    sqlite3_bind_text(st, 5, ss->ip ? ss->ip : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, ss->user_agent ? ss->user_agent : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, link_iat);
    n = ss_run(st);
    return n < 0 ? -1 : n ? 1 : 0;
}

int store_session_revoke(store_t *s, const uint8_t id[16], int64_t now_s)
{
    if (store_pg_of(s))
        return store_pg_session_revoke(store_pg_of(s), id, now_s);
    sqlite3_stmt *st = ss_stmt(s, SS_REVOKE);
    int n;

    if (!st)
        return -1;
    sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_s);
    n = ss_run(st);
    return n < 0 ? -1 : n ? 1 : 0;
}

int store_session_revoke_all(store_t *s, const char *email, int64_t now_s)
{
    if (store_pg_of(s))
        return store_pg_session_revoke_all(store_pg_of(s), email, now_s);
    sqlite3_stmt *st = ss_stmt(s, SS_REVOKE_ALL);

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_s);
    return ss_run(st);
}

int store_session_active(store_t *s, const uint8_t id[16])
{
    if (store_pg_of(s))
        return store_pg_session_active(store_pg_of(s), id);
    sqlite3_stmt *st = ss_stmt(s, SS_ACTIVE);
    int rc, r;

    if (!st)
        return -1;
    sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
    rc = ss_step(st);
    r = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : rc == SQLITE_DONE ? 0 : -1;
    ss_done(st);
    return r;
}

int store_session_each(store_t *s, const char *email,
                       void (*cb)(const store_session_t *ss, void *arg), void *arg)
{
    if (store_pg_of(s))
        return store_pg_session_each(store_pg_of(s), email, cb, arg);
    sqlite3_stmt *st = ss_stmt(s, SS_EACH);
    int rc, count = 0;

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    while ((rc = ss_step(st)) == SQLITE_ROW) {
        store_session_t ss;
        const void *id = sqlite3_column_blob(st, 0);
        const unsigned char *ip = sqlite3_column_text(st, 4), *ua = sqlite3_column_text(st, 5);

        memset(&ss, 0, sizeof ss);
        if (id && sqlite3_column_bytes(st, 0) == 16)
            memcpy(ss.id, id, 16);
        ss.email = email;
        ss.created_at = sqlite3_column_int64(st, 1);
        ss.expires_at = sqlite3_column_int64(st, 2);
        ss.revoked_at = sqlite3_column_int64(st, 3);
        ss.ip = ip ? (const char *)ip : "";
        ss.user_agent = ua ? (const char *)ua : "";
        if (cb)
            cb(&ss, arg);
        count++;
    }
    ss_done(st);
    return rc == SQLITE_DONE ? count : -1;
}

int store_revocations(store_t *s, uint64_t after, revoke_entry_t *out, int max, uint64_t *last)
{
    sqlite3_stmt *st = ss_stmt(s, SS_REVOCATIONS);
    int rc, n = 0;

    *last = after;
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, (int64_t)after);
    sqlite3_bind_int(st, 2, max);
    while ((rc = ss_step(st)) == SQLITE_ROW && n < max) {
        const void *id = sqlite3_column_blob(st, 1);
        int64_t seq = sqlite3_column_int64(st, 0), exp = sqlite3_column_int64(st, 2);

        *last = (uint64_t)seq;
        if (!id || sqlite3_column_bytes(st, 1) != 16)
            continue; /* not ours: nothing a cookie could name */
        memcpy(out[n].id, id, 16);
        out[n].exp_ms = exp > 0 ? (uint64_t)exp * 1000 : 0;
        n++;
    }
    ss_done(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? n : -1;
}

int store_link_used(store_t *s, const uint8_t id[16])
{
    if (store_pg_of(s))
        return store_pg_link_used(store_pg_of(s), id);
    sqlite3_stmt *st = ss_stmt(s, SS_LINK_USED);
    int rc;

    if (!st)
        return -1;
    sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
    rc = ss_step(st);
    ss_done(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
