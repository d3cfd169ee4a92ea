/*
 * cmd_store.c - the user store's schema from the command line.
 *
 *   magicd store migrate     create or upgrade the schema of users_db
 *
 * For a PostgreSQL users_db (postgresql://USER@HOST:PORT/DB) this is the
 * only thing that creates or alters tables: the server and the other
 * commands refuse a database whose schema is older than theirs, because a
 * shared database is upgraded once, deliberately, not by whichever node
 * starts first. It is versioned (the schema_version table) and idempotent:
 * a second run says the schema is current and changes nothing.
 *
 * For a SQLite file, opening it read-write already applies its migrations
 * (app/store_migrate.c); the command does that and nothing else, so deploy
 * scripts can run the same step whatever the store.
 */
#include "cmd/cmd_store.h"

#include <stdio.h>
#include <string.h>

#include "app/store.h"
#include "app/store_pg.h"

#define CMD_OK 0
#define CMD_ERR 1
#define CMD_USAGE 2

static int cst_usage(void)
{
    fprintf(stderr, "usage: magicd [-c FILE] store migrate\n");
    return CMD_USAGE;
}

static int cst_migrate_pg(const char *url)
{
    char err[1024];
    int from, to;
    store_pg_t *p = store_pg_open(url, 0, err, sizeof err);

    if (!p) {
        fprintf(stderr, "magicd: %s\n", err);
        return CMD_ERR;
    }
    if (store_pg_migrate(p, &from, &to, err, sizeof err) < 0) {
        fprintf(stderr, "magicd: user store %s: %s\n", url, err);
        store_pg_close(p);
        return CMD_ERR;
    }
    store_pg_close(p);
    if (from > STORE_PG_VERSION)
        printf("magicd: user store %s has schema version %d, newer than this magicd's %d "
               "(left alone)\n",
               url, from, STORE_PG_VERSION);
    else if (from == to)
        printf("magicd: user store %s is at schema version %d (nothing to do)\n", url, to);
    else
        printf("magicd: user store %s upgraded from schema version %d to %d\n", url, from, to);
    return CMD_OK;
}

static int cst_migrate_sqlite(const char *path)
{
    char err[1024];
    store_t *s = store_open(path, 0, err, sizeof err);

    if (!s) {
        fprintf(stderr, "magicd: %s\n", err);
        return CMD_ERR;
    }
    store_close(s);
    printf("magicd: user store %s is at the current schema\n", path);
    return CMD_OK;
}

int cmd_store(const char *users_db, int argc, char **argv)
{
    if (argc < 1)
        return cst_usage();
    if (!users_db || !*users_db) {
        fprintf(stderr, "magicd: no user store configured (users_db)\n");
        return CMD_ERR;
    }
    if (!strcmp(argv[0], "migrate") && argc == 1)
        return store_pg_is_url(users_db) ? cst_migrate_pg(users_db) : cst_migrate_sqlite(users_db);
    if (!strcmp(argv[0], "help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
        cst_usage();
        return CMD_OK;
    }
    fprintf(stderr, "magicd: unknown store command \"%s\"\n", argv[0]);
    return cst_usage();
}
