/*
 * metrics.c - recording a request in a worker's metrics block (metrics.h).
 *
 * The status table lists the codes magicd answers; any other code lands in
 * the last column, which the profiler prints as code="other". A linear
 * search over 23 small integers is cheaper than the branch mispredictions
 * of anything cleverer, and it runs once per request.
 */
#include "core/metrics.h"

static const int mx_codes[MX_STATUSES - 1] = {200, 201, 204, 301, 302, 303, 304, 400,
                                              401, 403, 404, 405, 408, 410, 413, 414,
                                              415, 429, 431, 500, 501, 503, 505};

unsigned mx_status_index(int status)
{
    for (unsigned i = 0; i < MX_STATUSES - 1; i++)
        if (mx_codes[i] == status)
            return i;
    return MX_STATUSES - 1;
}

int mx_status_code(unsigned index)
{
    return index < MX_STATUSES - 1 ? mx_codes[index] : 0;
}

void mx_request(mx_worker_t *m, unsigned route, int status, uint64_t usec)
{
    static const uint64_t bounds[MX_BUCKETS] = MX_BUCKET_BOUNDS_US;
    unsigned b = 0;

    if (!m || route >= MX_ROUTES)
        return;
    while (b < MX_BUCKETS && usec > bounds[b])
        b++;
    mx_add(&m->requests[route][mx_status_index(status)], 1);
    mx_add(&m->latency[route][b], 1);
    mx_add(&m->latency_us[route], usec);
}
