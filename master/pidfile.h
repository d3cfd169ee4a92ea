/*
 * pidfile.h - the master's pid file, and reading it for `magicd -s`.
 */
#ifndef MG_PIDFILE_H
#define MG_PIDFILE_H

#include <sys/types.h>

/* Write pid atomically (temp file + rename). 0 or -1 with errno. */
int pidfile_write(const char *path, pid_t pid);
/* The pid in the file, or -1 (missing, malformed). */
pid_t pidfile_read(const char *path);
/* Remove it only if it still names pid (a new master may own it now). */
void pidfile_remove(const char *path, pid_t pid);

#endif
