/*
 * prof_query.c - query parameters of /debug/pprof (see prof_query.h).
 *
 * The values come from http_form_value, which percent-decodes into a small
 * buffer and says when a value does not fit; a value too long for the
 * buffer is malformed, never silently cut into a different number.
 */
#include "profiler/prof_query.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "core/http.h"

int prof_query_int(const char *q, size_t n, const char *name)
{
    char v[32];
    if (http_form_value(q, n, name, v, sizeof v) != 1)
        return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < INT_MIN || x > INT_MAX)
        return 0;
    return (int)x;
}

int prof_query_seconds(const char *q, size_t n, int64_t *out)
{
    char v[32];
    int r = http_form_value(q, n, "seconds", v, sizeof v);
    if (r == 0 || (r == 1 && v[0] == 0))
        return 0;
    if (r < 0)
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x <= 0)
        return -1;
    *out = x;
    return 1;
}
