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

/* A point in time, `start` or `end` of profile?start=&end= (the CPU
 * history): RFC 3339 (2006-01-02T15:04:05Z, fractional seconds and a
 * +hh:mm offset allowed, as Go's time.RFC3339Nano reads it) or unix
 * seconds (1700000000 or 1700000000.25). 1 = present (*out: wall-clock
 * ns since the epoch), 0 = absent or empty, -1 = malformed. */
int prof_query_time(const char *q, size_t n, const char *name, uint64_t *out);

/* A Go duration (time.ParseDuration: "5m", "90s", "1h30m", "1.5h",
 * "250ms"): 1 = present and > 0 (*out: ns), 0 = absent or empty,
 * -1 = malformed, zero or negative. */
int prof_query_duration(const char *q, size_t n, const char *name, uint64_t *out);

/* The same two on a bare value (for the tests and the fuzz target). */
int prof_parse_time(const char *v, uint64_t *out);
int prof_parse_duration(const char *v, uint64_t *out);

#endif
