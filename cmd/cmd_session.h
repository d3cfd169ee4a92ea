/*
 * cmd_session.h - the `magicd session ...` commands (list, revoke,
 * revoke-all). They work on the store file, like `magicd user`; running
 * workers pick revocations up from it within REVOKE_POLL_MS.
 * Exit codes: 0 ok, 1 error, 2 usage.
 */
#ifndef MG_CMD_SESSION_H
#define MG_CMD_SESSION_H

/* argv[0] is the subcommand; a leading "session" is skipped. */
int cmd_session(const char *users_db, int argc, char **argv);

#endif
