/*
 * fuzz_prof_query.c - libFuzzer target for the profiler's query parameters
 * (?seconds=, ?debug=, ?gc=): the query string is whoever can reach the
 * profiler's port.
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
    return 0;
}
