/*
 * child_exit.c - a child's reason for not starting, on a pipe to the
 * master (see child_exit.h).
 *
 * The two descriptors are this file's own state: the master opens them
 * once, every child inherits them by fork, and nothing else touches them.
 */
#include "core/child_exit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fds[2] = {-1, -1};

int child_exit_open(void)
{
    if (fds[0] >= 0)
        return 0;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        fds[0] = fds[1] = -1;
        return -1;
    }
    return 0;
}

void child_exit_close(void)
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

void child_exit_tell(const char *fmt, ...)
{
    if (fds[1] < 0)
        return;
    char line[PIPE_BUF];
    int n = snprintf(line, sizeof line, "%d ", (int)getpid());
    size_t room = sizeof line - (size_t)n - 1; /* keep one byte for the '\n' */
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, room, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + ((size_t)m < room ? (size_t)m : room - 1); /* truncated */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n')
            line[i] = ' '; /* one line per child */
    line[len++] = '\n';
    /* Non-blocking: a full pipe (64 KiB of reasons nobody read) loses this
     * one, and the master still sees the exit code. */
    while (write(fds[1], line, len) < 0 && errno == EINTR)
        ;
}

void child_exit_reason(pid_t pid, char *buf, size_t n)
{
    if (n)
        buf[0] = 0;
    if (fds[0] < 0 || n == 0)
        return;
    char data[8192];
    ssize_t got;
    while ((got = read(fds[0], data, sizeof data - 1)) > 0) {
        data[got] = 0;
        for (char *line = data, *end; *line; line = end + 1) {
            end = strchr(line, '\n');
            if (!end)
                break; /* writes are whole lines; a torn one cannot happen */
            *end = 0;
            char *text;
            long who = strtol(line, &text, 10);
            if (who == (long)pid && *text == ' ')
                snprintf(buf, n, "%s", text + 1);
        }
    }
}
