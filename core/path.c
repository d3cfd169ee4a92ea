/*
 * path.c - the directory a file path names, and whether a file could be
 * opened for writing there (see path.h).
 *
 * Everything before the last '/', the root when that is the only one, and
 * "." for a bare name: the directory open(2) would create the file in.
 * path_writable asks access(2) rather than opening: `magicd -t` must not
 * leave files behind, and one it made as root would be root's, where the
 * workers that open it later run as `user`.
 */
#include "core/path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int path_dir(const char *path, char *out, size_t outsz)
{
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    const char *from = !slash ? "." : path;

    if (n >= outsz) {
        if (outsz)
            out[0] = '\0';
        return -1;
    }
    memcpy(out, from, n);
    out[n] = '\0';
    return 0;
}

int path_writable(const char *path, char *why, size_t whysz)
{
    char dir[PATH_MAX];

    if (access(path, F_OK) == 0) {
        if (access(path, R_OK | W_OK) == 0)
            return 0;
        snprintf(why, whysz, "%s", strerror(errno));
        return -1;
    }
    if (path_dir(path, dir, sizeof dir) < 0 || access(dir, W_OK | X_OK) < 0) {
        snprintf(why, whysz, "cannot create it there: %s", strerror(errno));
        return -1;
    }
    return 0;
}
