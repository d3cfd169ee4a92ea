/*
 * cmd_user.h - the `magicd user ...` and `magicd keygen` commands.
 *
 * These run in the foreground and exit; they never touch a running server
 * (the store is shared through the SQLite file, so a user added here can log
 * in at once). Exit codes: 0 ok, 1 error, 2 usage.
 */
#ifndef MG_CMD_USER_H
#define MG_CMD_USER_H

/* argv[0] is the subcommand ("add", "remove", "list", "import", "export");
 * a leading "user" is skipped, so main may pass either. */
int cmd_user(const char *users_db, int argc, char **argv);

/* Create the key file at path (from `keygen PATH` or key_file). */
int cmd_keygen(const char *path);

#endif
