/*
 * store.c - SQLite user store and used-link ledger (see store.h).
 *
 * Every statement the request path runs is prepared in store_open and kept
 * for the life of the handle; each use is bind, step, reset. Each
 * sqlite3_step is bracketed with prof_block_begin/end so time spent waiting
 * on the file (or on another worker's write lock, via busy_timeout) shows up
 * in the block profile under "sqlite3_step".
 *
 * Durability: WAL with synchronous=NORMAL. A committed transaction survives
 * a process crash; after a power loss the last few may be lost, which for
 * the ledger means a link used in the last moments before the outage could
 * be used once more before it expires. That is the usual trade for not
 * fsyncing on every login; the expiry bounds it.
 *
 * The ledger keeps a row until well after its link expired: a worker that
 * checked expiry a moment before another one swept would otherwise see the
 * row gone and accept a replay. Rows older than expiry + STORE_SWEEP_SLACK
 * are swept every STORE_SWEEP_EVERY consumes per handle.
 *
 * Auth events are an audit trail on the hot path (one per link issued), and
 * a commit per event costs ~100 us of WAL writes and checkpoint fsyncs plus a
 * turn on the database's single write lock, which every worker contends for.
 * So events are queued in the handle and written STORE_EVENT_BATCH at a time
 * in one transaction: when the queue is full, when the oldest queued event
 * is STORE_EVENT_MAX_AGE_MS old at the next event, on store_flush (call it
 * from a timer) and on store_close. A worker that crashes loses at most its
 * queue of audit rows; used links, which security depends on, are never
 * queued.
 *
 * The file under the handle: SQLite keeps using the file it opened even
 * after it was deleted or replaced by rename (a backup restored, a careless
 * cleanup). A ledger written there is lost at the next start, and every
 * link redeemed in the meantime could be redeemed again. So the handle
 * remembers the file's device and inode, and store_link_consume() stats the
 * path first (one stat(2), only on a redeem): a different file or none
 * fails closed until a reload opens the new one.
 */
#include "app/store.h"
#include "app/store_session.h"
#include "app/store_pg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/path.h"
#include "core/prof_hooks.h"

#define STORE_BUSY_MS 2000
#define STORE_SWEEP_EVERY 256
#define STORE_SWEEP_SLACK 300 /* seconds */
#define STORE_EVENT_BATCH 64
#define STORE_EVENT_MAX_AGE_MS 1000
#define STORE_EVENT_TYPE_MAX 32
#define STORE_EVENT_EMAIL_MAX 256

typedef struct {
    char type[STORE_EVENT_TYPE_MAX];
    char email[STORE_EVENT_EMAIL_MAX]; /* "" = no user */
    uint64_t at_s;
} store_ev_t;

enum {
    ST_USER_EXISTS,
    ST_USER_ADMIN,
    ST_USER_ADD,
    ST_USER_DEL,
    ST_USER_LIST,
    ST_LINK_USE,
    ST_LINK_SWEEP,
    ST_CODE_TRIES,
    ST_CODE_FAIL,
    ST_CODE_SWEEP,
    ST_EVENT,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_DATA_VERSION,
    ST_N
};

static const char *const store_sql[ST_N] = {
    [ST_USER_EXISTS] = "SELECT 1 FROM users WHERE email = ?1 AND disabled = 0",
    [ST_USER_ADMIN] = "SELECT is_admin FROM users WHERE email = ?1",
    [ST_USER_ADD] = "INSERT OR IGNORE INTO users(email, is_admin, created_at) VALUES (?1, ?2, ?3)",
    [ST_USER_DEL] = "DELETE FROM users WHERE email = ?1",
    [ST_USER_LIST] = "SELECT email, is_admin, created_at FROM users ORDER BY email",
    [ST_LINK_USE] = "INSERT OR IGNORE INTO used_links(id, expires_at) VALUES (?1, ?2)",
    [ST_LINK_SWEEP] = "DELETE FROM used_links WHERE expires_at < ?1",
    [ST_CODE_TRIES] = "SELECT tries FROM code_tries WHERE id = ?1",
    [ST_CODE_FAIL] = ("INSERT INTO code_tries(id, tries, expires_at) VALUES (?1, 1, ?2) "
                      "ON CONFLICT(id) DO UPDATE SET tries = tries + 1 RETURNING tries"),
    [ST_CODE_SWEEP] = "DELETE FROM code_tries WHERE expires_at < ?1",
    [ST_EVENT] = ("INSERT INTO auth_events(event_type, user_id, created_at) "
                  "VALUES (?1, (SELECT id FROM users WHERE email = ?2), ?3)"),
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_DATA_VERSION] = "PRAGMA data_version",
};

/* What a read-only handle prepares (`magicd user list|export`, checks);
 * the rest stay NULL and their functions return -1. */
static const int store_readonly_ok[ST_N] = {
    [ST_USER_EXISTS] = 1,
    [ST_USER_ADMIN] = 1,
    [ST_USER_LIST] = 1,
    [ST_DATA_VERSION] = 1,
};

static const char store_schema[] =
    "CREATE TABLE IF NOT EXISTS users("
    "  id INTEGER PRIMARY KEY,"
    "  email TEXT UNIQUE NOT NULL COLLATE NOCASE,"
    "  is_admin INT NOT NULL DEFAULT 0,"
    "  created_at INT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS auth_events("
    "  id INTEGER PRIMARY KEY,"
    "  event_type TEXT NOT NULL,"
    "  user_id INT REFERENCES users(id) ON DELETE SET NULL,"
    "  created_at INT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS auth_events_user ON auth_events(user_id, created_at);"
    "CREATE TABLE IF NOT EXISTS used_links("
    "  id BLOB PRIMARY KEY,"
    "  expires_at INT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS used_links_expiry ON used_links(expires_at);"
    "CREATE TABLE IF NOT EXISTS code_tries("
    "  id BLOB PRIMARY KEY,"
    "  tries INT NOT NULL,"
    "  expires_at INT NOT NULL) WITHOUT ROWID;";

struct store {
    sqlite3 *db;
    char path[1024];
    dev_t dev; /* the file opened, to notice it being replaced */
    ino_t ino;
    int moved; /* the path no longer names that file */
    sqlite3_stmt *st[ST_N];
    unsigned consumes;
    int readonly;
    struct store_sess *sess; /* sessions, groups, accounts: store_session.c */
    store_pg_t *pg;          /* a PostgreSQL URL (store_open_any): store_pg.c */
    int nev;                 /* queued events */
    uint64_t ev_first_ms;    /* monotonic time the oldest was queued */
    store_ev_t ev[STORE_EVENT_BATCH];
};

static int store_step(sqlite3_stmt *st)
{
    prof_block_t t = prof_block_begin();
    int rc = sqlite3_step(st);
    prof_block_end(t, "sqlite3_step");
    return rc;
}

static int store_exec(sqlite3 *db, const char *sql, char *err, size_t errsz, const char *path)
{
    char *msg = NULL;
    prof_block_t t = prof_block_begin();
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    prof_block_end(t, "sqlite3_step");
    if (rc != SQLITE_OK) {
        snprintf(err, errsz, "user store %s: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* The store holds email addresses: create it owner-only. SQLite would use
 * 0644 (less the umask), and it gives its -wal and -shm files the mode of
 * the database file, so creating the (empty, hence valid) file first with
 * 0600 covers all three. An existing file is left as the operator made it. */
static void store_precreate(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd >= 0)
        close(fd);
}

store_t *store_open(const char *path, int readonly, char *err, size_t errsz)
{
    store_t *s;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

    if (!path || !*path) {
        snprintf(err, errsz, "no user store configured (users_db)");
        return NULL;
    }
    if (store_pg_is_url(path)) {
        snprintf(err, errsz,
                 "users_db %s: a PostgreSQL store is not opened with blocking calls here; "
                 "workers use app/store_pgw.h, the command line store_open_any",
                 path);
        return NULL;
    }
    s = sqlite3_malloc(sizeof(*s));
    if (!s) {
        snprintf(err, errsz, "user store %s: out of memory", path);
        return NULL;
    }
    memset(s, 0, sizeof(*s));
    s->readonly = readonly;
    if (!readonly)
        store_precreate(path);
    if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        /* SQLite says only "unable to open database file": add why (the
         * directory missing, the file or directory not ours to write). */
        char why[300] = "";
        if (readonly && access(path, R_OK) < 0)
            snprintf(why, sizeof why, "%s", strerror(errno));
        if ((readonly && why[0]) || (!readonly && path_writable(path, why, sizeof why) < 0)) {
            snprintf(err, errsz, "cannot open user store %s: %s (%s)", path,
                     s->db ? sqlite3_errmsg(s->db) : "out of memory", why);
            goto fail;
        }
        snprintf(err, errsz, "cannot open user store %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        s->dev = sb.st_dev;
        s->ino = sb.st_ino;
    }
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    sqlite3_extended_result_codes(s->db, 1);
    if (!readonly && (store_exec(s->db, "PRAGMA journal_mode=WAL", err, errsz, path) < 0 ||
                      store_exec(s->db, "PRAGMA synchronous=NORMAL", err, errsz, path) < 0 ||
                      store_exec(s->db, "PRAGMA foreign_keys=ON", err, errsz, path) < 0 ||
                      store_exec(s->db, store_schema, err, errsz, path) < 0 ||
                      store_migrate(s->db, path, err, errsz) < 0))
        goto fail;
    for (int i = 0; i < ST_N; i++) {
        if (readonly && !store_readonly_ok[i])
            continue;
        if (sqlite3_prepare_v3(s->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errsz, "user store %s: %s", path, sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    if (store_sess_open(s->db, &s->sess, err, errsz) < 0)
        goto fail;
    return s;
fail:
    store_close(s);
    return NULL;
}

store_t *store_open_any(const char *users_db, int readonly, char *err, size_t errsz)
{
    store_t *s;

    if (!store_pg_is_url(users_db))
        return store_open(users_db, readonly, err, errsz);
    if (!(s = sqlite3_malloc(sizeof *s))) {
        snprintf(err, errsz, "user store: out of memory");
        return NULL;
    }
    memset(s, 0, sizeof *s);
    s->readonly = readonly;
    if (!(s->pg = store_pg_open(users_db, 1, err, errsz))) {
        sqlite3_free(s);
        return NULL;
    }
    return s;
}

store_pg_t *store_pg_of(store_t *s)
{
    return s ? s->pg : NULL;
}

void store_close(store_t *s)
{
    if (!s)
        return;
    store_pg_close(s->pg);
    if (s->nev && store_flush(s) < 0)
        log_err("user store: %d audit events not written: %s", s->nev, sqlite3_errmsg(s->db));
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(s->st[i]);
    store_sess_close(s->sess);
    sqlite3_close(s->db);
    sqlite3_free(s);
}

struct store_sess *store_sess_of(store_t *s)
{
    return s ? s->sess : NULL;
}

const char *store_errmsg(store_t *s)
{
    if (s && s->moved)
        return "the store file was deleted or replaced under the running server; "
               "reload (HUP) to open the new one";
    if (s && s->pg)
        return store_pg_errmsg(s->pg);
    return s && s->db ? sqlite3_errmsg(s->db) : "no user store";
}

int store_file_same(store_t *s)
{
    struct stat sb;

    if (!s)
        return 0;
    s->moved = stat(s->path, &sb) < 0 || sb.st_dev != s->dev || sb.st_ino != s->ino;
    return !s->moved;
}

/* Run a statement that returns no rows; returns sqlite3_changes or -1. */
static int store_run(store_t *s, sqlite3_stmt *st)
{
    int rc = store_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(s->db);
}

static sqlite3_stmt *store_stmt(store_t *s, int which)
{
    return s ? s->st[which] : NULL;
}

int store_user_exists(store_t *s, const char *email)
{
    if (store_pg_of(s))
        return store_pg_user_exists(s->pg, email);
    sqlite3_stmt *st = store_stmt(s, ST_USER_EXISTS);
    int rc;

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    rc = store_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_data_version(store_t *s, int64_t *version)
{
    sqlite3_stmt *st;
    int rc;

    if (store_pg_of(s))
        return -1; /* other nodes write too: nothing cheap says when */
    st = store_stmt(s, ST_DATA_VERSION);
    if (!st)
        return -1;
    rc = store_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_user_is_admin(store_t *s, const char *email)
{
    sqlite3_stmt *st = store_stmt(s, ST_USER_ADMIN);
    int rc, admin = -1;

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    rc = store_step(st);
    if (rc == SQLITE_ROW)
        admin = sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return admin;
}

int store_user_add_at(store_t *s, const char *email, int is_admin, int64_t created_at)
{
    if (store_pg_of(s))
        return store_pg_user_add_at(s->pg, email, is_admin, created_at);
    sqlite3_stmt *st = store_stmt(s, ST_USER_ADD);
    int n;

    if (!st || !email || !*email)
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, is_admin ? 1 : 0);
    sqlite3_bind_int64(st, 3, created_at);
    n = store_run(s, st);
    return n < 0 ? -1 : n == 1 ? 0 : 1;
}

int store_user_add(store_t *s, const char *email, int is_admin)
{
    return store_user_add_at(s, email, is_admin, (int64_t)time(NULL));
}

int store_user_remove(store_t *s, const char *email)
{
    if (store_pg_of(s))
        return store_pg_user_remove(s->pg, email);
    sqlite3_stmt *st = store_stmt(s, ST_USER_DEL);
    int n;

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    n = store_run(s, st);
    return n < 0 ? -1 : n >= 1 ? 0 : 1;
}

int store_user_list(store_t *s,
                    void (*cb)(const char *email, int is_admin, int64_t created_at, void *arg),
                    void *arg)
{
    sqlite3_stmt *st = store_stmt(s, ST_USER_LIST);
    int rc, count = 0;

    if (!st)
        return -1;
    while ((rc = store_step(st)) == SQLITE_ROW) {
        const char *email = (const char *)sqlite3_column_text(st, 0);
        if (cb)
            cb(email ? email : "", sqlite3_column_int(st, 1) != 0, sqlite3_column_int64(st, 2),
               arg);
        count++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? count : -1;
}

int store_link_consume(store_t *s, const uint8_t id[16], uint64_t expires_s, uint64_t now_s)
{
    if (store_pg_of(s))
        return store_pg_link_consume(s->pg, id, expires_s, now_s);
    sqlite3_stmt *st = store_stmt(s, ST_LINK_USE);
    int n;

    if (!st || !store_file_same(s))
        return -1;
    if (++s->consumes % STORE_SWEEP_EVERY == 0 && now_s > STORE_SWEEP_SLACK) {
        sqlite3_stmt *sw = s->st[ST_LINK_SWEEP];
        sqlite3_bind_int64(sw, 1, (int64_t)(now_s - STORE_SWEEP_SLACK));
        store_run(s, sw); /* best effort: a failed sweep is retried later */
        sw = s->st[ST_CODE_SWEEP];
        sqlite3_bind_int64(sw, 1, (int64_t)(now_s - STORE_SWEEP_SLACK));
        store_run(s, sw);
    }
    sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)expires_s);
    n = store_run(s, st);
    return n < 0 ? -1 : n == 1 ? 1 : 0;
}

int store_code_tries(store_t *s, const uint8_t id[16])
{
    sqlite3_stmt *st = store_stmt(s, ST_CODE_TRIES);
    int rc, tries = 0;

    if (!st || !store_file_same(s)) /* a code's tries are a ledger too */
        return -1;
    sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
    rc = store_step(st);
    if (rc == SQLITE_ROW)
        tries = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? tries : -1;
}

int store_code_fail(store_t *s, const uint8_t id[16], uint64_t expires_s, uint64_t now_s)
{
    sqlite3_stmt *st = store_stmt(s, ST_CODE_FAIL);
    int rc, tries = -1;

    (void)now_s;
    if (!st || !store_file_same(s))
        return -1;
    sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)expires_s);
    rc = store_step(st);
    if (rc == SQLITE_ROW) {
        tries = sqlite3_column_int(st, 0);
        rc = store_step(st); /* runs the statement to its end */
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? tries : -1;
}

/* Write the queue in one transaction. The queue is kept when it fails, so
 * a busy database only delays the rows. */
int store_flush(store_t *s)
{
    sqlite3_stmt *st = store_stmt(s, ST_EVENT);
    int i;

    if (!st)
        return -1;
    /* Nothing queued, or inside the caller's transaction (whose rollback
     * must not take our rows, nor ours theirs): later. */
    if (s->nev == 0 || !sqlite3_get_autocommit(s->db))
        return 0;
    if (store_begin(s) < 0)
        return -1;
    for (i = 0; i < s->nev; i++) {
        store_ev_t *e = &s->ev[i];
        sqlite3_bind_text(st, 1, e->type, -1, SQLITE_STATIC);
        if (e->email[0])
            sqlite3_bind_text(st, 2, e->email, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 2);
        sqlite3_bind_int64(st, 3, (int64_t)e->at_s);
        if (store_run(s, st) < 0)
            break;
    }
    if (i < s->nev || store_commit(s) < 0) {
        store_rollback(s);
        return -1;
    }
    s->nev = 0;
    return 0;
}

int store_event(store_t *s, const char *type, const char *email, uint64_t now_s)
{
    if (store_pg_of(s))
        return store_pg_event(s->pg, type, email, now_s);
    uint64_t now_ms = clock_mono_ms();
    store_ev_t *e;

    if (!store_stmt(s, ST_EVENT) || !type || !*type)
        return -1;
    if (s->nev == STORE_EVENT_BATCH && store_flush(s) < 0)
        return -1; /* still full: this row is dropped, the caller may log it */
    if (s->nev == 0)
        s->ev_first_ms = now_ms;
    e = &s->ev[s->nev++];
    snprintf(e->type, sizeof(e->type), "%s", type);
    snprintf(e->email, sizeof(e->email), "%s", email ? email : "");
    e->at_s = now_s;
    if (s->nev == STORE_EVENT_BATCH || now_ms - s->ev_first_ms >= STORE_EVENT_MAX_AGE_MS)
        store_flush(s); /* a failure keeps the rows for the next try */
    return 0;
}

int store_events_queued(store_t *s)
{
    return s ? s->nev : 0;
}

int store_begin(store_t *s)
{
    if (store_pg_of(s))
        return store_pg_tx(s->pg, "BEGIN");
    sqlite3_stmt *st = store_stmt(s, ST_BEGIN);
    return st && store_run(s, st) >= 0 ? 0 : -1;
}

int store_commit(store_t *s)
{
    if (store_pg_of(s))
        return store_pg_tx(s->pg, "COMMIT");
    sqlite3_stmt *st = store_stmt(s, ST_COMMIT);
    return st && store_run(s, st) >= 0 ? 0 : -1;
}

int store_rollback(store_t *s)
{
    if (store_pg_of(s))
        return store_pg_tx(s->pg, "ROLLBACK");
    sqlite3_stmt *st = store_stmt(s, ST_ROLLBACK);
    return st && store_run(s, st) >= 0 ? 0 : -1;
}
