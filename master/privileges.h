/*
 * privileges.h - dropping root in children (the `user` directive).
 */
#ifndef MG_PRIVILEGES_H
#define MG_PRIVILEGES_H

#include <sys/types.h>

#include "core/conf.h"

/* Look up c->proc.user/c->proc.group. 0 (and uid, gid set) or -1 with err. */
int priv_lookup(const conf_t *c, uid_t *uid, gid_t *gid, char *err, size_t errsz);
/* Master, as root with `user` set: give the worker user the files workers
 * open or reopen themselves (user store and its WAL files, outbox, spool,
 * logs), so dropping privileges does not lock them out. */
void priv_chown_state(const conf_t *c);
/* Master at USR1, as root with `user` set: make the access log and the
 * outbox where a rotation moved them away, and give them and a remade
 * error log to the user, as nginx does: the children, as `user`, reopen
 * them next, and may not create files where the logs are (/var/log). */
void priv_reopen_files(const conf_t *c);
/* As root with `user` set: whether that user may create files in the
 * directory of a SQLite users_db (the workers, as that user, make its WAL
 * files there). 0, or -1 with a message that says what to run. */
int priv_check_state(const conf_t *c, char *err, size_t errsz);
/* 1 with a warning in msg when running as root with no `user` line (the
 * children would keep root), else 0. */
int priv_root_warning(const conf_t *c, char *msg, size_t msgsz);
/* In a child: become the configured user when running as root. */
int priv_drop(const conf_t *c);

#endif
