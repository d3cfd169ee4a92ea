/*
 * prof_query.h - the profiler's query-string parameters, read as Go's
 * net/http/pprof reads them.
 *
 * Pure functions over the raw query (no request, no server), so the fuzz
 * target and the unit tests reach exactly the code the endpoints run.
 */
#ifndef MG_PROF_QUERY_H
#define MG_PROF_QUERY_H

#include <stddef.h>
#include <stdint.h>

/* Go's strconv.Atoi with the error ignored: anything but a decimal
 * integer (absent, empty, junk, out of range) is 0. */
int prof_query_int(const char *q, size_t n, const char *name);

/* `seconds`: 1 = present and a positive integer (in *out), 0 = absent or
 * empty (Go's FormValue("seconds") == ""), -1 = malformed. */
int prof_query_seconds(const char *q, size_t n, int64_t *out);

#endif
