/*
 * fuzz_prof_query.c - libFuzzer target for the profiler's query parameters
 * (?seconds=, ?debug=, ?gc=, and the CPU history's ?start=, ?end=,
 * ?since=): the query string is whoever can reach the profiler's port.
 */
#include <stdint.h>
#include <stdlib.h>

#include "profiler/prof_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t s = 0;
    const char *q = (const char *)data;
    if (prof_query_seconds(q, size, &s) == 1 && s <= 0)
        abort();
    (void)prof_query_int(q, size, "debug");
    (void)prof_query_int(q, size, "gc");
    uint64_t t = 0, d = 0;
    (void)prof_query_time(q, size, "start", &t);
    (void)prof_query_time(q, size, "end", &t);
    if (prof_query_duration(q, size, "since", &d) == 1 && d == 0)
        abort(); /* a duration is positive or refused */
    return 0;
}
