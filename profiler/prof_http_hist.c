/*
 * prof_http_hist.c - profile?since= and profile?start=&end=: CPU profiles
 * of the past, from the history (prof_hist.h).
 *
 * An operator paged about a spike five minutes ago asks for
 * `profile?since=10m`, or for the exact minute with
 * `profile?start=2026-12-01T13:40:00Z&end=2026-12-01T13:41:00Z` (unix
 * seconds work too), and gets at once one CPU profile merged from every
 * stored 10-s window that overlaps the range: the same sample types,
 * labels and comments as a live profile?seconds=N, its time and duration
 * those of the windows merged, a comment naming them. The open window is
 * included up to now, so since=1m holds the last seconds too.
 *
 * Bad parameters get a 400 in Go's words (`invalid value for "since" -
 * must be a positive duration`); with the history off (profile_continuous
 * off and nothing kept from before) the 400 says what to turn on.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/http.h"
#include "profiler/prof_drain.h"
#include "profiler/prof_query.h"
#include "profiler/prof_server.h"
#include "sampler/prof_timer.h"

/* "2026-12-01T13:40:00Z" (whole seconds, UTC). */
static void ph_rfc3339(uint64_t wall_ns, char *out, size_t n)
{
    time_t t = (time_t)(wall_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int ph_present(const http_request_t *req, const char *name)
{
    char v[8];
    int r = http_form_value(req->query.p, req->query.n, name, v, sizeof v);
    return r < 0 || (r == 1 && v[0] != 0);
}

/* Parse and check; 1 with [*start, *end) set, 0 when answered (400). */
static int ph_range(http_conn_t *c, http_request_t *req, uint64_t now, uint64_t *start,
                    uint64_t *end)
{
    const char *q = req->query.p;
    size_t qn = req->query.n;
    uint64_t since = 0;
    int rs = prof_query_time(q, qn, "start", start);
    int re = prof_query_time(q, qn, "end", end);
    int rd = prof_query_duration(q, qn, "since", &since);
    if (rs < 0) {
        prof_http_error(c, 400,
                        "invalid value for \"start\" - must be an RFC 3339 time or "
                        "unix seconds");
        return 0;
    }
    if (re < 0) {
        prof_http_error(c, 400,
                        "invalid value for \"end\" - must be an RFC 3339 time or "
                        "unix seconds");
        return 0;
    }
    if (rd < 0) {
        prof_http_error(c, 400, "invalid value for \"since\" - must be a positive duration");
        return 0;
    }
    if (ph_present(req, "seconds")) {
        prof_http_error(c, 400,
                        rd ? "seconds and since params are incompatible"
                           : "seconds and start/end params are incompatible");
        return 0;
    }
    if (rd && (rs || re)) {
        prof_http_error(c, 400, "since and start/end params are incompatible");
        return 0;
    }
    if (re && !rs) {
        prof_http_error(c, 400, "missing \"start\" - end needs a start");
        return 0;
    }
    if (rd) {
        *start = since < now ? now - since : 0;
        *end = now;
    } else if (!re) {
        *end = now;
    }
    if (*end <= *start) {
        prof_http_error(c, 400, "invalid window - \"end\" must be after \"start\"");
        return 0;
    }
    return 1;
}

int prof_http_history(prof_srv_t *s, http_conn_t *c, http_request_t *req)
{
    if (!ph_present(req, "start") && !ph_present(req, "end") && !ph_present(req, "since"))
        return 0;
    uint64_t now = clock_wall_ns(), start = 0, end = 0;
    if (!ph_range(c, req, now, &start, &end))
        return 1;
    prof_ctl_t *ctl = prof_ctl(s->shm);
    if (atomic_load(&ctl->continuous)) {
        /* the open window gets what the rings hold up to now */
        prof_drain_history(s);
        prof_drain(s);
    }
    prof_hist_stat_t st;
    if (s->hist)
        prof_hist_stat(s->hist, now, &st);
    if (!s->hist || (!st.first_wall_ns && !atomic_load(&ctl->continuous))) {
        prof_http_error(c, 400, "no CPU history - it needs profile_continuous on");
        return 1;
    }
    prof_cpu_data_t d = {0};
    prof_hist_range_t r;
    if (prof_hist_collect(s->hist, start, end, now, &d, &r) < 0) {
        prof_cpu_free(&d);
        prof_http_error(c, 500, "Could not enable CPU profiling: out of memory");
        return 1;
    }
    char note[400], a[32], b[32], h0[32], h1[32];
    ph_rfc3339(start, a, sizeof a);
    ph_rfc3339(end, b, sizeof b);
    ph_rfc3339(st.first_wall_ns, h0, sizeof h0);
    ph_rfc3339(st.end_wall_ns, h1, sizeof h1);
    if (r.nwin)
        snprintf(note, sizeof note,
                 "magicd: history: %u windows of 10 s merged (asked %s to %s; the history "
                 "holds %s to %s)%s",
                 r.nwin, a, b, h0, h1,
                 r.mixed_hz ? "; the windows were sampled at different profile_hz, cpu "
                              "values use the last one's period"
                            : "");
    else
        snprintf(note, sizeof note,
                 "magicd: history: nothing stored from %s to %s; the history holds %s to %s", a, b,
                 st.first_wall_ns ? h0 : "nothing", st.first_wall_ns ? h1 : "yet");
    prof_cpu_meta_t m = {.hz = (int)(r.hz ? r.hz : atomic_load(&ctl->hz)),
                         .start_wall_ns = r.nwin ? r.start_wall_ns : start,
                         .dur_ns = r.nwin ? r.end_wall_ns - r.start_wall_ns : 0,
                         .want_ns = end - start,
                         .note = note};
    prof_http_cpu_timer(s, &m);
    buf_t out = {0};
    if (prof_write_cpu(prof_srv_out(s), &d, &m, &out) < 0)
        prof_http_error(c, 500, "Could not enable CPU profiling: out of memory");
    else
        prof_http_send(c, "application/octet-stream", "profile", &out);
    buf_free(&out);
    prof_cpu_free(&d);
    return 1;
}

void prof_http_history_index(prof_srv_t *s, buf_t *b)
{
    prof_ctl_t *ctl = prof_ctl(s->shm);
    int on = (int)atomic_load(&ctl->continuous);
    uint64_t now = clock_wall_ns();
    prof_hist_stat_t st;
    if (s->hist)
        prof_hist_stat(s->hist, now, &st);
    if (!s->hist || (!on && !st.first_wall_ns)) {
        buf_puts(b, "<p>\nCPU history: off (profile_continuous off)\n</p>\n");
        return;
    }
    char h0[32] = "-", h1[32] = "-";
    if (st.first_wall_ns) {
        ph_rfc3339(st.first_wall_ns, h0, sizeof h0);
        ph_rfc3339(st.end_wall_ns, h1, sizeof h1);
    }
    buf_printf(b,
               "<p>\nCPU history%s: %zu windows of 10 s from %s to %s, %zu bytes (cap %zu, "
               "profile_history_max_size), keeping %llu s (profile_history); %llu windows "
               "evicted for memory, %llu samples not kept.\n"
               "<a href='profile?since=5m'>profile?since=5m</a>, "
               "profile?start=RFC3339&amp;end=RFC3339 (or unix seconds) serve any range of it "
               "at once.\n</p>\n",
               on ? "" : " (profile_continuous off: what was kept)", st.windows, h0, h1, st.bytes,
               st.max_bytes, (unsigned long long)(st.keep_ns / 1000000000ull),
               (unsigned long long)st.evicted, (unsigned long long)st.dropped);
}
