/*
 * test_store.c - the SQLite user store on a real file in a temporary
 * directory: users, case-insensitivity, one-time links, events, read-only
 * handles, two handles at once (as two workers have).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "app/store.h"
#include "tests/unit/unit.h"

typedef struct {
    int n;
    char emails[8][64];
    int admin[8];
    int64_t created[8];
} list_t;

static void collect(const char *email, int is_admin, int64_t created_at, void *arg)
{
    list_t *l = arg;
    if (l->n < 8) {
        snprintf(l->emails[l->n], sizeof(l->emails[0]), "%s", email);
        l->admin[l->n] = is_admin;
        l->created[l->n] = created_at;
    }
    l->n++;
}

static int64_t count_rows(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

int main(void)
{
    char dir[256], path[300], err[512], cmd[300];
    store_t *s, *s2, *ro;

    snprintf(dir, sizeof(dir), "%s/test_store.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/users.db", dir);
    umask(022);

    /* Read-only open of a missing file fails with the path in the message. */
    CHECK(store_open(path, 1, err, sizeof(err)) == NULL && strstr(err, path));
    {
        char bad[400];
        snprintf(bad, sizeof(bad), "%s/no/such/dir/users.db", dir);
        CHECK(store_open(bad, 0, err, sizeof(err)) == NULL && strstr(err, bad));
        /* and says why, not only SQLite's "unable to open database file" */
        CHECK(strstr(err, "No such file or directory") != NULL, "%s", err);
    }

    s = store_open(path, 0, err, sizeof(err));
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "store_open: %s\n", err);
        return 1;
    }
    {
        /* Personal data: owner-only, whatever the umask, WAL files too. */
        struct stat st;
        char wal[320];
        snprintf(wal, sizeof(wal), "%s-wal", path);
        CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
        CHECK(stat(wal, &st) == 0 && (st.st_mode & 0777) == 0600);
    }
    CHECK(count_rows(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
                           "('users','auth_events','used_links')") == 3);

    /* Users. */
    CHECK(store_user_exists(s, "demo@example.com") == 0);
    CHECK(store_user_add(s, "demo@example.com", 0) == 0);
    CHECK(store_user_add(s, "demo@example.com", 1) == 1);
    CHECK(store_user_add(s, "DEMO@Example.com", 0) == 1); /* case-insensitive */
    CHECK(store_user_exists(s, "demo@example.com") == 1);
    CHECK(store_user_exists(s, "Demo@EXAMPLE.com") == 1);
    CHECK(store_user_is_admin(s, "demo@example.com") == 0);
    CHECK(store_user_add(s, "admin@example.com", 1) == 0);
    CHECK(store_user_is_admin(s, "admin@example.com") == 1);
    CHECK(store_user_is_admin(s, "nobody@example.com") == -1);
    CHECK(store_user_add_at(s, "old@example.com", 0, 1600000000) == 0);
    CHECK(store_user_add(s, "", 0) == -1);
    {
        list_t l;
        memset(&l, 0, sizeof(l));
        CHECK(store_user_list(s, collect, &l) == 3 && l.n == 3);
        CHECK(strcmp(l.emails[0], "admin@example.com") == 0 && l.admin[0] == 1);
        CHECK(strcmp(l.emails[1], "demo@example.com") == 0 && l.admin[1] == 0);
        CHECK(strcmp(l.emails[2], "old@example.com") == 0 && l.created[2] == 1600000000);
        CHECK(l.created[1] > 1700000000);
    }
    CHECK(store_user_remove(s, "Admin@Example.com") == 0);
    CHECK(store_user_remove(s, "admin@example.com") == 1);
    CHECK(store_user_exists(s, "admin@example.com") == 0);

    /* A second handle (another worker) sees the same data, at once. */
    s2 = store_open(path, 0, err, sizeof(err));
    CHECK(s2 != NULL);
    CHECK(s2 && store_user_exists(s2, "demo@example.com") == 1);

    /* One-time links, across handles. */
    {
        uint8_t id1[16], id2[16];
        memset(id1, 0x11, 16);
        memset(id2, 0x22, 16);
        CHECK(store_link_consume(s, id1, 2000, 1000) == 1);
        CHECK(store_link_consume(s, id1, 2000, 1001) == 0);
        CHECK(s2 && store_link_consume(s2, id1, 2000, 1002) == 0);
        CHECK(s2 && store_link_consume(s2, id2, 2000, 1002) == 1);
        CHECK(store_link_consume(s, id2, 2000, 1003) == 0);
        CHECK(count_rows(path, "SELECT count(*) FROM used_links") == 2);
        CHECK(count_rows(path, "SELECT expires_at FROM used_links LIMIT 1") == 2000);

        /* Sweep: after enough consumes, rows long expired are deleted, rows
         * still inside the safety margin are kept. */
        uint8_t id[16];
        memset(id, 0, 16);
        for (int i = 0; i < 300; i++) {
            id[0] = (uint8_t)i;
            id[1] = (uint8_t)(i >> 8);
            id[15] = 0x99;
            CHECK(store_link_consume(s, id, 100000 + 1000, 100000) == 1);
        }
        CHECK(count_rows(path, "SELECT count(*) FROM used_links WHERE expires_at = 2000") == 0);
        CHECK(count_rows(path, "SELECT count(*) FROM used_links") == 300);
        /* A replay of a swept-able-but-kept row is still refused. */
        id[0] = 5;
        id[1] = 0;
        CHECK(store_link_consume(s, id, 101000, 100500) == 0);
    }

    /* Events: queued, written in one transaction by store_flush. */
    CHECK(store_event(s, "link_sent", "demo@example.com", 1700000000) == 0);
    CHECK(store_event(s, "login", "DEMO@example.com", 1700000001) == 0);
    CHECK(store_event(s, "link_unknown", "ghost@example.com", 1700000002) == 0);
    CHECK(store_event(s, "probe", NULL, 1700000003) == 0);
    CHECK(store_event(s, "", NULL, 1700000003) == -1);
    CHECK(store_events_queued(s) == 4);
    CHECK(count_rows(path, "SELECT count(*) FROM auth_events") == 0);
    CHECK(store_flush(s) == 0 && store_events_queued(s) == 0);
    CHECK(count_rows(path, "SELECT count(*) FROM auth_events") == 4);
    CHECK(count_rows(path, "SELECT count(*) FROM auth_events e JOIN users u ON u.id = e.user_id "
                           "WHERE u.email = 'demo@example.com'") == 2);
    CHECK(count_rows(path, "SELECT count(*) FROM auth_events WHERE user_id IS NULL") == 2);
    CHECK(count_rows(path, "SELECT max(created_at) FROM auth_events") == 1700000003);
    /* A full queue writes itself. */
    for (int i = 0; i < 64; i++)
        CHECK(store_event(s, "bulk", "demo@example.com", 1700000100) == 0);
    CHECK(store_events_queued(s) == 0);
    CHECK(count_rows(path, "SELECT count(*) FROM auth_events WHERE event_type = 'bulk'") == 64);
    /* Old rows are written by the next event. */
    CHECK(store_event(s, "aged1", NULL, 1700000200) == 0);
    usleep(1100 * 1000);
    CHECK(store_event(s, "aged2", NULL, 1700000201) == 0);
    CHECK(store_events_queued(s) == 0);
    CHECK(count_rows(path, "SELECT count(*) FROM auth_events WHERE event_type LIKE 'aged%'") == 2);
    /* Inside a caller's transaction the queue waits; a rollback of that
     * transaction does not lose it. */
    CHECK(store_event(s, "in_tx", NULL, 1700000300) == 0);
    CHECK(store_begin(s) == 0);
    CHECK(store_flush(s) == 0 && store_events_queued(s) == 1);
    CHECK(store_rollback(s) == 0);
    CHECK(store_flush(s) == 0 && store_events_queued(s) == 0);
    CHECK(count_rows(path, "SELECT count(*) FROM auth_events WHERE event_type = 'in_tx'") == 1);
    /* Queued rows are written at close (checked after reopening below). */
    CHECK(store_event(s, "at_close", "demo@example.com", 1700000400) == 0);

    /* Transactions: a rolled-back batch leaves nothing. */
    CHECK(store_begin(s) == 0);
    CHECK(store_user_add(s, "batch1@example.com", 0) == 0);
    CHECK(store_rollback(s) == 0);
    CHECK(store_user_exists(s, "batch1@example.com") == 0);
    CHECK(store_begin(s) == 0);
    CHECK(store_user_add(s, "batch2@example.com", 0) == 0);
    CHECK(store_commit(s) == 0);
    CHECK(s2 && store_user_exists(s2, "batch2@example.com") == 1);

    /* WAL mode is on. */
    {
        sqlite3 *db;
        sqlite3_stmt *st;
        const unsigned char *mode = NULL;
        char m[16] = "";
        if (sqlite3_open(path, &db) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW && (mode = sqlite3_column_text(st, 0)))
                snprintf(m, sizeof(m), "%s", mode);
            sqlite3_finalize(st);
        }
        sqlite3_close(db);
        CHECK(strcmp(m, "wal") == 0);
    }

    /* Read-only handle: reads work, writes fail cleanly. */
    ro = store_open(path, 1, err, sizeof(err));
    CHECK(ro != NULL);
    if (ro) {
        list_t l;
        memset(&l, 0, sizeof(l));
        CHECK(store_user_exists(ro, "demo@example.com") == 1);
        CHECK(store_user_list(ro, collect, &l) == 3);
        CHECK(store_user_add(ro, "x@example.com", 0) == -1);
        uint8_t id[16] = {1};
        CHECK(store_link_consume(ro, id, 1, 1) == -1);
        store_close(ro);
    }

    /* Data survive closing and reopening. */
    store_close(s2);
    store_close(s);
    CHECK(count_rows(path, "SELECT count(*) FROM auth_events WHERE event_type = 'at_close'") == 1);
    s = store_open(path, 0, err, sizeof(err));
    CHECK(s && store_user_exists(s, "demo@example.com") == 1);
    {
        uint8_t id[16];
        memset(id, 0, 16);
        id[0] = 7;
        id[15] = 0x99;
        CHECK(s && store_link_consume(s, id, 101000, 100600) == 0);

        /* The file replaced under the handle (a backup renamed over it):
         * redeems fail closed and say why; the file put back, they work. */
        char aside[400], copy[1400];
        snprintf(aside, sizeof(aside), "%s/users.aside", dir);
        snprintf(copy, sizeof(copy), "cp '%s' '%s/users.copy' && mv '%s/users.copy' '%s'", path,
                 dir, dir, path);
        CHECK(store_file_same(s) == 1);
        CHECK(rename(path, aside) == 0);
        id[14] = 0x51;
        CHECK(store_file_same(s) == 0);
        CHECK(store_link_consume(s, id, 101000, 100600) == -1);
        CHECK(strstr(store_errmsg(s), "deleted or replaced") != NULL, "%s", store_errmsg(s));
        CHECK(rename(aside, path) == 0);
        int r1 = store_link_consume(s, id, 101000, 100600);
        CHECK(r1 == 1, "%d %s", r1, store_errmsg(s));
        CHECK(system(copy) == 0);
        id[14] = 0x52;
        CHECK(store_link_consume(s, id, 101000, 100600) == -1, "a copy is another file");
    }
    store_close(s);
    store_close(NULL);
    CHECK(store_user_exists(NULL, "a@b.co") == -1);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    if (unit_failures) {
        fprintf(stderr, "test_store: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_store: ok\n");
    return 0;
}
