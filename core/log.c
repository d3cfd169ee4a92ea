/*
 * log.c - the error log (see log.h).
 *
 * State is one small struct per process: the path (so USR1 can reopen it),
 * the fd and the level. Lines are formatted on the stack and written with
 * one write(2) so concurrent writers on an O_APPEND file never interleave
 * within a line. Formatting never allocates, so logging is safe on paths
 * that run when malloc is failing.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    char path[512];
    int fd;
    int level;
} lg = {"", 2, MG_LOG_NOTICE};

/* A command's name, set by log_set_cli: lines to stderr then read
 * "magicd: [warn] ...", like the command's own messages, without the
 * server's time and pid. */
static const char *cli_name;

void log_set_cli(const char *name)
{
    cli_name = name;
}

static const char *level_names[] = {"emerg", "alert",  "crit", "error",
                                    "warn",  "notice", "info", "debug"};

int log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof *level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    if (strcmp(name, "err") == 0)
        return MG_LOG_ERR;
    return -1;
}

static int open_path(const char *path)
{
    if (!path || !*path || strcmp(path, "stderr") == 0)
        return 2;
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, LOG_FILE_MODE);
}

int log_open(const char *path, int level)
{
    int fd = open_path(path);
    if (fd < 0)
        return -1;
    if (lg.fd > 2)
        close(lg.fd);
    lg.fd = fd;
    lg.level = level;
    snprintf(lg.path, sizeof lg.path, "%s", path ? path : "");
    return 0;
}

int log_reopen(void)
{
    int fd = open_path(lg.path);
    if (fd < 0)
        return -1;
    if (fd == lg.fd)
        return 0;
    /* dup2 keeps the descriptor number stable for anyone holding it. */
    if (lg.fd > 2) {
        dup2(fd, lg.fd);
        close(fd);
    } else {
        lg.fd = fd;
    }
    return 0;
}

void log_set_level(int level)
{
    lg.level = level;
}

int log_level(void)
{
    return lg.level;
}

int log_fd(void)
{
    return lg.fd;
}

void log_error(int level, int err, const char *fmt, ...)
{
    if (level > lg.level)
        return;
    char line[2048];
    int n;
    if (cli_name && lg.fd == 2) {
        n = snprintf(line, sizeof line, "%s: [%s] ", cli_name, level_names[level]);
    } else {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        n = (int)strftime(line, sizeof line, "%Y/%m/%d %H:%M:%S", &tm);
        n += snprintf(line + n, sizeof line - (size_t)n, " [%s] %d#0: ", level_names[level],
                      (int)getpid());
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : (n + m < (int)sizeof line ? n + m : (int)sizeof line - 1);
    if (err && n < (int)sizeof line - 1) {
        char eb[128];
        const char *es = strerror_r(err, eb, sizeof eb);
        m = snprintf(line + n, sizeof line - (size_t)n, " (%d: %s)", err, es);
        n = m < 0 ? n : (n + m < (int)sizeof line ? n + m : (int)sizeof line - 1);
    }
    if (n >= (int)sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    int saved = errno;
    ssize_t w = write(lg.fd, line, (size_t)n);
    (void)w;
    errno = saved;
}
