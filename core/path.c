/*
 * path.c - the directory a file path names (see path.h).
 *
 * Everything before the last '/', the root when that is the only one, and
 * "." for a bare name: the directory open(2) would create the file in.
 */
#include "core/path.h"

#include <string.h>

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
