/*
 * pidfile.c - pid file handling (see pidfile.h).
 *
 * Written to a temporary name and renamed, so a reader (`magicd -s`, a
 * systemd PIDFile=) never sees a half-written number.
 */
#include "master/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pidfile_write(const char *path, pid_t pid)
{
    char tmp[1100], line[32];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int n = snprintf(line, sizeof line, "%d\n", (int)pid);
    if (write(fd, line, (size_t)n) != n) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

pid_t pidfile_read(const char *path)
{
    char line[32] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n <= 0)
        return -1;
    char *end;
    long pid = strtol(line, &end, 10);
    if (pid <= 0 || (*end && *end != '\n'))
        return -1;
    return (pid_t)pid;
}

void pidfile_remove(const char *path, pid_t pid)
{
    if (pidfile_read(path) == pid)
        unlink(path);
}
