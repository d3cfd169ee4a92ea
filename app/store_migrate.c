/*
 * store_migrate.c - schema versions of the user store.
 *
 * store.c creates the first schema (users, auth_events, used_links) with
 * CREATE ... IF NOT EXISTS, which is version 1. Each later version is one
 * step below, applied in order to a file whose PRAGMA user_version is
 * lower, inside one IMMEDIATE transaction: SQLite's DDL is transactional,
 * so a step is all or nothing, and several workers opening an old file at
 * once serialise on the write lock; whoever comes second re-reads the
 * version inside its transaction and finds nothing to do. A file written
 * by a newer magicd (a higher version) is left alone: its extra columns and
 * tables do not disturb the statements of this one.
 *
 * Adding a version: append a step, never edit one that shipped.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "app/store_session.h"
#include "core/prof_hooks.h"

/* 2: server-side sessions and their revocation log, groups (the admin flag
 * becomes the group "admins"), disabled accounts, link cutoffs. */
static const char step2[] =
    "ALTER TABLE users ADD COLUMN disabled INT NOT NULL DEFAULT 0;"
    "CREATE TABLE IF NOT EXISTS user_groups("
    "  user_id INT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  PRIMARY KEY(user_id, name)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO user_groups(user_id, name)"
    "  SELECT id, 'admins' FROM users WHERE is_admin != 0;"
    "CREATE TABLE IF NOT EXISTS sessions("
    "  id BLOB PRIMARY KEY,"
    "  email TEXT NOT NULL COLLATE NOCASE,"
    "  created_at INT NOT NULL,"
    "  expires_at INT NOT NULL,"
    "  revoked_at INT,"
    "  ip TEXT NOT NULL DEFAULT '',"
    "  user_agent TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS sessions_email ON sessions(email, created_at);"
    "CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);"
    "CREATE TABLE IF NOT EXISTS session_revocations("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id BLOB NOT NULL,"
    "  expires_at INT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS session_revocations_expiry"
    "  ON session_revocations(expires_at);"
    "CREATE TABLE IF NOT EXISTS link_cutoffs("
    "  email TEXT PRIMARY KEY COLLATE NOCASE,"
    "  not_before INT NOT NULL) WITHOUT ROWID;"
    /* Every revocation, whoever makes it, lands in the log workers poll. */
    "CREATE TRIGGER IF NOT EXISTS sessions_revoked AFTER UPDATE OF revoked_at ON sessions"
    "  WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL BEGIN"
    "  INSERT INTO session_revocations(id, expires_at) VALUES (NEW.id, NEW.expires_at);"
    "  END;"
    /* A removed or disabled user: sessions revoked, pending links void.
     * The cutoff is the next second, because link times are whole seconds:
     * a link issued in the same second as the removal must be void too. */
    "CREATE TRIGGER IF NOT EXISTS users_removed AFTER DELETE ON users BEGIN"
    "  UPDATE sessions SET revoked_at = CAST(strftime('%s','now') AS INT)"
    "    WHERE email = OLD.email AND revoked_at IS NULL;"
    "  INSERT OR REPLACE INTO link_cutoffs(email, not_before)"
    "    VALUES (OLD.email, CAST(strftime('%s','now') AS INT) + 1);"
    "  END;"
    "CREATE TRIGGER IF NOT EXISTS users_disabled AFTER UPDATE OF disabled ON users"
    "  WHEN NEW.disabled != 0 AND OLD.disabled = 0 BEGIN"
    "  UPDATE sessions SET revoked_at = CAST(strftime('%s','now') AS INT)"
    "    WHERE email = NEW.email AND revoked_at IS NULL;"
    "  INSERT OR REPLACE INTO link_cutoffs(email, not_before)"
    "    VALUES (NEW.email, CAST(strftime('%s','now') AS INT) + 1);"
    "  END;";

static const char *const steps[] = {
    step2, /* user_version 1 -> 2 */
};
#define NSTEPS ((int)(sizeof steps / sizeof steps[0]))
#define FIRST_VERSION 1 /* the schema store.c creates */

static int mg_exec(sqlite3 *db, const char *sql, const char *path, char *err, size_t errsz)
{
    char *msg = NULL;
    prof_block_t t = prof_block_begin();
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    prof_block_end(t, "sqlite3_step");
    if (rc != SQLITE_OK) {
        snprintf(err, errsz, "user store %s: upgrading the schema: %s", path,
                 msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int store_migrate(sqlite3 *db, const char *path, char *err, size_t errsz)
{
    int v = user_version(db);
    char pragma[48];

    if (v < 0) {
        snprintf(err, errsz, "user store %s: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (v >= FIRST_VERSION + NSTEPS)
        return 0;
    if (mg_exec(db, "BEGIN IMMEDIATE", path, err, errsz) < 0)
        return -1;
    v = user_version(db); /* again, under the write lock */
    if (v >= FIRST_VERSION + NSTEPS)
        return mg_exec(db, "COMMIT", path, err, errsz);
    if (v == 0)
        v = FIRST_VERSION; /* created by store.c just now, or before versions */
    for (; v < FIRST_VERSION + NSTEPS; v++) {
        if (mg_exec(db, steps[v - FIRST_VERSION], path, err, errsz) < 0) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v);
    if (mg_exec(db, pragma, path, err, errsz) < 0 || mg_exec(db, "COMMIT", path, err, errsz) < 0) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}
