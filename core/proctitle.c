/*
 * proctitle.c - process titles (see proctitle.h).
 *
 * Linux shows a process's argv memory as its command line. argv strings and
 * the environment strings are contiguous, so after copying the environment
 * to the heap (and pointing environ at the copy) the whole span is ours to
 * overwrite. The title is written there NUL-padded; prctl(PR_SET_NAME) also
 * sets the short name top shows.
 */
#include "core/proctitle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

extern char **environ;

static char *title_start;
/* The copied environment strings, kept here too: unsetenv() drops entries
 * from environ, and they must stay owned (not leaked) for the process life. */
static char **env_strings;
static size_t title_len;

void proctitle_init(int argc, char **argv)
{
    if (argc <= 0 || !argv[0])
        return;
    char *end = argv[0] + strlen(argv[0]);
    for (int i = 1; i < argc; i++)
        if (argv[i] == end + 1)
            end = argv[i] + strlen(argv[i]);
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = malloc((n + 1) * sizeof *env);
    env_strings = malloc((n + 1) * sizeof *env_strings);
    if (!env || !env_strings)
        return;
    for (size_t i = 0; i < n; i++) {
        if (environ[i] == end + 1)
            end = environ[i] + strlen(environ[i]);
        env[i] = env_strings[i] = strdup(environ[i]);
    }
    env[n] = env_strings[n] = NULL;
    environ = env;
    /* argv[1..] keep pointing into the area we will overwrite: copy them. */
    for (int i = 1; i < argc; i++)
        argv[i] = strdup(argv[i]);
    title_start = argv[0];
    title_len = (size_t)(end - argv[0]);
}

void proctitle_set(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    prctl(PR_SET_NAME, strncmp(buf, "magicd: ", 8) == 0 ? buf + 8 : buf, 0, 0, 0);
    if (!title_start || title_len < 2)
        return;
    size_t n = strlen(buf);
    if (n > title_len - 1)
        n = title_len - 1;
    memcpy(title_start, buf, n);
    memset(title_start + n, 0, title_len - n);
}
