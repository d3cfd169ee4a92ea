/*
 * upgrade.h - zero-downtime binary upgrade, nginx style.
 *
 * On USR2 the running master starts the new binary as its own child and
 * hands it the listening sockets: they stay open across exec(2) and their
 * numbers travel in the environment as MAGICD_INHERIT="fd;fd;...". The new
 * master adopts those sockets instead of binding fresh ones, so the kernel's
 * accept queue is never closed and no connection is refused. Old and new
 * workers then accept side by side until the operator retires the old
 * master (WINCH stops its workers, QUIT stops it). If the new binary fails,
 * the old master simply keeps serving.
 */
#ifndef MG_UPGRADE_H
#define MG_UPGRADE_H

#include <sys/types.h>

#define UPGRADE_ENV "MAGICD_INHERIT"
#define UPGRADE_MAX_FDS 64

/* Remember the path of the running binary (readlink /proc/self/exe). Call
 * once at startup, before anything can replace the file: upgrade_spawn()
 * then runs what is installed at that path *now*, i.e. the new binary. */
int upgrade_init(void);
/* The path saved by upgrade_init(), or NULL. */
const char *upgrade_self_path(void);

/* fork + exec the binary at upgrade_self_path() (argv[0] if upgrade_init()
 * failed) with argv and
 * MAGICD_INHERIT naming fds; in the child only, FD_CLOEXEC is cleared on
 * them. Returns the child's pid, or -1 (errno). An exec failure makes the
 * child exit with 127, which the master sees as a failed upgrade. */
pid_t upgrade_spawn(char *const argv[], const int *fds, int nfds);

/* In the new master: parse and unsetenv MAGICD_INHERIT, keep the fds that
 * are listening sockets (SO_ACCEPTCONN) and set FD_CLOEXEC on them again.
 * Returns how many were stored in fds (at most max), 0 when not upgrading,
 * -1 when the variable is malformed. */
/* chan (may be NULL) gets the connection hand-off channel the old master
 * passed along after its listening sockets, or -1s. */
int upgrade_inherited(int *fds, int max, int chan[2]);

/* Format "fd;fd;" into out (exposed for unit tests). -1 if too small. */
int upgrade_format_env(const int *fds, int nfds, char *out, size_t outsz);
/* Parse "fd;fd;" (trailing ';' optional). Count, or -1 when malformed. */
int upgrade_parse_env(const char *s, int *fds, int max);

#endif
