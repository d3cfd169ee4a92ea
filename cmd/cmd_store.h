/*
 * cmd_store.h - `magicd store migrate`: create or upgrade the user store's
 * schema (SQLite file or PostgreSQL database, whichever users_db names).
 */
#ifndef MG_CMD_STORE_H
#define MG_CMD_STORE_H

/* argv starts after "store". Exit status: 0 ok, 1 failure, 2 usage. */
int cmd_store(const char *users_db, int argc, char **argv);

#endif
