/*
 * child_exit.h - how a child tells the master it cannot start because of
 * the configuration, and why.
 *
 * A worker whose templates are missing, whose user store cannot be opened
 * or whose access log cannot be created will fail the same way every time
 * it is started: respawning it (even with a back-off) leaves a master that
 * says "started" and a port that accepts connections nobody answers. So
 * such a child exits with CHILD_EXIT_CONFIG (sysexits' EX_CONFIG), and the
 * master, seeing that code, stops with the child's reason instead of
 * respawning it.
 *
 * The reason travels on a pipe the master opens before forking: the child
 * writes one line, "PID TEXT\n", in a single write(2) of at most PIPE_BUF
 * bytes (atomic, so lines from several children never mix), then exits;
 * the master reads it after reaping the child. Both ends are close-on-exec:
 * a new binary started by USR2 makes its own.
 */
#ifndef MG_CHILD_EXIT_H
#define MG_CHILD_EXIT_H

#include <stddef.h>
#include <sys/types.h>

#define CHILD_EXIT_CONFIG 78

/* Master, before the first fork: open the pipe. 0 or -1 (errno). */
int child_exit_open(void);
/* Child: record why it cannot start (then exit with CHILD_EXIT_CONFIG). */
void child_exit_tell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Master, after reaping pid: its reason into buf (empty when it told
 * none). Lines of other children read on the way are dropped: the master
 * stops at the first one anyway. */
void child_exit_reason(pid_t pid, char *buf, size_t n);
void child_exit_close(void);

#endif
