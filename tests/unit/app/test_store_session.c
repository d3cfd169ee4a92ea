/*
 * test_store_session.c - sessions, revocations, groups and the schema
 * migration, on a real SQLite file:
 *   - a store written by the first schema (with an admin) is upgraded in
 *     place when opened: its admin is in the group "admins";
 *   - a session is created only for an existing, enabled user and a link
 *     issued after any cutoff; revoking it appends to the revocation log
 *     exactly once; revoke-all counts;
 *   - removing or disabling a user revokes its sessions (triggers) and
 *     voids links issued up to then;
 *   - the revocation log reads in sequence order, from any point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "app/store.h"
#include "app/store_session.h"
#include "tests/unit/unit.h"

static const char v1_schema[] =
    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL COLLATE NOCASE,"
    " is_admin INT NOT NULL DEFAULT 0, created_at INT NOT NULL);"
    "CREATE TABLE auth_events(id INTEGER PRIMARY KEY, event_type TEXT NOT NULL,"
    " user_id INT REFERENCES users(id) ON DELETE SET NULL, created_at INT NOT NULL);"
    "CREATE TABLE used_links(id BLOB PRIMARY KEY, expires_at INT NOT NULL) WITHOUT ROWID;"
    "INSERT INTO users(email, is_admin, created_at) VALUES ('boss@example.com', 1, 1),"
    " ('demo@example.com', 0, 2);";

static store_session_t sess(uint8_t tag, const char *email, int64_t now)
{
    store_session_t s;
    memset(&s, 0, sizeof s);
    memset(s.id, tag, sizeof s.id);
    s.email = email;
    s.created_at = now;
    s.expires_at = now + 3600;
    s.ip = "127.0.0.1";
    s.user_agent = "unit";
    return s;
}

static void each_cb(const store_session_t *ss, void *arg)
{
    (void)ss;
    ++*(int *)arg;
}

int main(void)
{
    char dir[256], path[300], err[512];
    sqlite3 *db;
    store_t *s;
    store_user_info_t ui;
    int64_t now = (int64_t)time(NULL);

    snprintf(dir, sizeof(dir), "%s/test_store_session.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/users.db", dir);

    /* A store from before schema versions. */
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, v1_schema, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    s = store_open(path, 0, err, sizeof err);
    CHECK(s != NULL, "%s", err);
    if (!s)
        return 1;
    CHECK(store_user_info(s, "boss@example.com", &ui) == 1 && strcmp(ui.groups, "admins") == 0 &&
          !ui.disabled && ui.links_not_before == 0);
    CHECK(store_user_info(s, "DEMO@example.com", &ui) == 1 && ui.groups[0] == 0);
    CHECK(store_user_info(s, "nobody@example.com", &ui) == 0);
    /* opened again: nothing to do, nothing lost */
    store_close(s);
    s = store_open(path, 0, err, sizeof err);
    CHECK(s && store_user_info(s, "boss@example.com", &ui) == 1 &&
          strcmp(ui.groups, "admins") == 0);

    /* Groups. */
    CHECK(store_group_add(s, "demo@example.com", "ops") == 0);
    CHECK(store_group_add(s, "demo@example.com", "ops") == 1);
    CHECK(store_group_add(s, "demo@example.com", "dev") == 0);
    CHECK(store_group_add(s, "nobody@example.com", "dev") == 1);
    CHECK(store_group_add(s, "demo@example.com", "a,b") == -1);
    CHECK(store_group_name_ok("admins") && store_group_name_ok("a.b_c-1") &&
          !store_group_name_ok("") && !store_group_name_ok("a b") && !store_group_name_ok("a\r"));
    CHECK(store_user_info(s, "demo@example.com", &ui) == 1 && strcmp(ui.groups, "dev,ops") == 0);

    /* Sessions and the revocation log. */
    store_session_t a = sess(1, "demo@example.com", now), b = sess(2, "demo@example.com", now),
                    c = sess(3, "boss@example.com", now), x = sess(4, "nobody@example.com", now);
    CHECK(store_session_create(s, &a, now) == 1);
    CHECK(store_session_create(s, &b, now) == 1);
    CHECK(store_session_create(s, &c, now) == 1);
    CHECK(store_session_create(s, &x, now) == 0); /* no such user */
    CHECK(store_session_active(s, a.id) == 1 && store_session_active(s, x.id) == 0);
    revoke_entry_t e[8];
    uint64_t last = 0;
    CHECK(store_revocations(s, 0, e, 8, &last) == 0 && last == 0);
    CHECK(store_session_revoke(s, a.id, now) == 1);
    CHECK(store_session_revoke(s, a.id, now) == 0); /* once */
    CHECK(store_session_active(s, a.id) == 0);
    CHECK(store_revocations(s, 0, e, 8, &last) == 1 && memcmp(e[0].id, a.id, 16) == 0 &&
          e[0].exp_ms == (uint64_t)a.expires_at * 1000);
    uint64_t after_a = last;
    CHECK(store_session_revoke_all(s, "demo@example.com", now) == 1); /* b */
    CHECK(store_revocations(s, after_a, e, 8, &last) == 1 && memcmp(e[0].id, b.id, 16) == 0);
    int n = 0;
    CHECK(store_session_each(s, "demo@example.com", each_cb, &n) == 2 && n == 2);

    /* Removing a user: sessions revoked by the trigger, links void. */
    uint64_t before_rm = last;
    CHECK(store_user_remove(s, "boss@example.com") == 0);
    CHECK(store_session_active(s, c.id) == 0);
    CHECK(store_revocations(s, before_rm, e, 8, &last) == 1 && memcmp(e[0].id, c.id, 16) == 0);
    CHECK(store_user_add(s, "boss@example.com", 0) == 0);
    CHECK(store_user_info(s, "boss@example.com", &ui) == 1 && ui.links_not_before > now &&
          ui.groups[0] == 0); /* groups went with the old account */
    store_session_t c2 = sess(5, "boss@example.com", now);
    CHECK(store_session_create(s, &c2, now) == 0);                 /* an old link */
    CHECK(store_session_create(s, &c2, ui.links_not_before) == 1); /* a new one */

    /* Disabling: sessions revoked, sign-in refused; enabling: a new link works. */
    CHECK(store_user_set_disabled(s, "boss@example.com", 1) == 0);
    CHECK(store_session_active(s, c2.id) == 0);
    store_session_t c3 = sess(6, "boss@example.com", now + 10);
    CHECK(store_session_create(s, &c3, now + 10) == 0);
    CHECK(store_user_exists(s, "boss@example.com") == 0); /* no link is issued either */
    CHECK(store_user_set_disabled(s, "boss@example.com", 0) == 0);
    CHECK(store_session_create(s, &c3, now + 10) == 1);
    CHECK(store_user_set_disabled(s, "nobody@example.com", 1) == 1);

    /* The log in pages. */
    {
        uint64_t from = 0, l2;
        int total = 0, got;
        while ((got = store_revocations(s, from, e, 2, &l2)) > 0) {
            CHECK(l2 > from);
            total += got;
            from = l2;
        }
        CHECK(got == 0 && total == 4, "total %d", total);
    }
    store_close(s);

    snprintf(err, sizeof err, "rm -rf '%s'", dir);
    if (system(err) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return unit_done("test_store_session");
}
