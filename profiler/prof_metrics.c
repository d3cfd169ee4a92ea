/*
 * prof_metrics.c - GET /metrics on the profiler's listener, in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * Nothing is counted here: the workers, the master and the mailer keep
 * their counters in shared memory (core/metrics.h) and a scrape adds up the
 * worker slots and prints the sums with the header's own counters. A slot
 * keeps its numbers after its worker dies and is reused by the next one,
 * so every sum is monotonic across crashes and reloads.
 *
 * The names follow Prometheus' conventions: a `magicd_` prefix, counters
 * end in `_total`, durations are `_seconds` histograms with cumulative
 * `le` buckets, every family has HELP and TYPE (`promtool check metrics`
 * runs on the live output in tests/integration/test_metrics.py). Series
 * with a zero value are printed for the fixed label sets (reasons,
 * results) so a rate() over them starts at the first scrape; the request
 * families, whose label sets are route x code, print only what occurred.
 *
 * The profiler listener is loopback by default: the numbers say how many
 * people sign in, which is nobody else's business.
 */
#include "profiler/prof_metrics.h"

#include <stdio.h>
#include <string.h>

#include "app/route.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/sesslive.h"

typedef struct {
    unsigned which; /* MX_* */
    const char *label;
} mx_series_t;

typedef struct {
    const char *name, *help, *label_name;
    mx_series_t series[10];
} mx_family_t;

/* The application counters, by family. A new counter is a row here. */
static const mx_family_t mx_families[] = {
    {"magicd_links_issued_total",
     "Sign-in links (each with its code) handed to delivery.",
     NULL,
     {{MX_LINKS_ISSUED, NULL}}},
    {"magicd_links_redeemed_total",
     "Sign-ins completed, by what the user brought back: the link or the code.",
     "via",
     {{MX_REDEEMED_LINK, "link"}, {MX_REDEEMED_CODE, "code"}}},
    {"magicd_links_refused_total",
     "Sign-in links refused at verify, by reason.",
     "reason",
     {{MX_REFUSED_CSRF, "csrf"},
      {MX_REFUSED_MALFORMED, "malformed"},
      {MX_REFUSED_EXPIRED, "expired"},
      {MX_REFUSED_BROWSER, "wrong_browser"},
      {MX_REFUSED_USED, "used"},
      {MX_REFUSED_LOCKED, "locked"}}},
    {"magicd_codes_tried_total",
     "Sign-in codes entered (POST /magic/code), by outcome.",
     "result",
     {{MX_CODE_OK, "ok"},
      {MX_CODE_WRONG, "wrong"},
      {MX_CODE_LOCKED, "locked"},
      {MX_CODE_EXPIRED, "expired"},
      {MX_CODE_BROWSER, "wrong_browser"},
      {MX_CODE_USED, "used"},
      {MX_CODE_MALFORMED, "malformed"},
      {MX_CODE_CSRF, "csrf"}}},
    {"magicd_rate_limited_total",
     "Requests refused with 429 by a rate limit, by limit.",
     "scope",
     {{MX_RATE_IP, "ip"}, {MX_RATE_EMAIL, "email"}, {MX_RATE_CODE, "code"}}},
    {"magicd_rate_limit_fallbacks_total",
     "Requests whose rate limits this node decided alone because rate_limit_store did not "
     "answer (unreachable, or slower than rate_limit_store_timeout).",
     NULL,
     {{MX_RATE_FALLBACK, NULL}}},
    {"magicd_sessions_started_total",
     "Session cookies issued (successful sign-ins).",
     NULL,
     {{MX_SESSIONS_STARTED, NULL}}},
    {"magicd_sessions_revoked_total",
     "Sessions ended server-side by a worker (POST /logout).",
     NULL,
     {{MX_SESSIONS_REVOKED, NULL}}},
    {"magicd_delivery_errors_total",
     "Links that could not be handed to delivery (outbox or spool write failed).",
     NULL,
     {{MX_DELIVERY_ERRORS, NULL}}},
};

static void mx_head(buf_t *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* "GET /login" etc.; requests refused before routing (a malformed request,
 * a timeout) are "none". */
static const char *mx_route(unsigned r)
{
    const char *n = r < ROUTE_COUNT ? route_name(r) : "";
    return n && *n ? n : "none";
}

static void mx_sum_slots(const shm_t *shm, mx_worker_t *sum, uint64_t *active, uint64_t *accepted,
                         uint64_t *bytes, unsigned *workers)
{
    memset(sum, 0, sizeof *sum);
    *active = *accepted = *bytes = 0;
    *workers = 0;
    for (unsigned i = 0; i < shm->hdr->nslots; i++) {
        shm_worker_t *w = shm_slot(shm, i);
        mx_worker_t *m = &w->metrics;
        int32_t pid = atomic_load_explicit(&w->pid, memory_order_relaxed);
        *accepted += atomic_load_explicit(&w->accepted, memory_order_relaxed);
        *bytes += atomic_load_explicit(&w->bytes_out, memory_order_relaxed);
        if (pid > 0) {
            *active += atomic_load_explicit(&w->active, memory_order_relaxed);
            if (!atomic_load_explicit(&w->draining, memory_order_relaxed))
                (*workers)++;
        }
        for (unsigned k = 0; k < MX_APP_COUNT; k++)
            mx_add(&sum->app[k], atomic_load_explicit(&m->app[k], memory_order_relaxed));
        for (unsigned r = 0; r < MX_ROUTES; r++) {
            for (unsigned s = 0; s < MX_STATUSES; s++)
                mx_add(&sum->requests[r][s],
                       atomic_load_explicit(&m->requests[r][s], memory_order_relaxed));
            for (unsigned k = 0; k <= MX_BUCKETS; k++)
                mx_add(&sum->latency[r][k],
                       atomic_load_explicit(&m->latency[r][k], memory_order_relaxed));
            mx_add(&sum->latency_us[r],
                   atomic_load_explicit(&m->latency_us[r], memory_order_relaxed));
        }
    }
}

static void mx_requests(buf_t *b, const mx_worker_t *sum)
{
    mx_head(b, "magicd_http_requests_total", "counter",
            "HTTP requests answered by the workers, by route and status code.");
    for (unsigned r = 0; r < MX_ROUTES; r++)
        for (unsigned s = 0; s < MX_STATUSES; s++) {
            uint64_t v = atomic_load_explicit(&sum->requests[r][s], memory_order_relaxed);
            int code = mx_status_code(s);
            if (!v)
                continue;
            if (code)
                buf_printf(b, "magicd_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                           mx_route(r), code, (unsigned long long)v);
            else
                buf_printf(b, "magicd_http_requests_total{route=\"%s\",code=\"other\"} %llu\n",
                           mx_route(r), (unsigned long long)v);
        }
}

static void mx_latency(buf_t *b, const mx_worker_t *sum)
{
    static const uint64_t bounds[MX_BUCKETS] = MX_BUCKET_BOUNDS_US;
    static const char name[] = "magicd_http_request_duration_seconds";

    mx_head(b, name, "histogram",
            "Time from the first byte of a request to its answer being queued, by route.");
    for (unsigned r = 0; r < MX_ROUTES; r++) {
        uint64_t n = 0, count = 0;
        for (unsigned k = 0; k <= MX_BUCKETS; k++)
            count += atomic_load_explicit(&sum->latency[r][k], memory_order_relaxed);
        if (!count)
            continue;
        for (unsigned k = 0; k < MX_BUCKETS; k++) {
            n += atomic_load_explicit(&sum->latency[r][k], memory_order_relaxed);
            buf_printf(b, "%s_bucket{route=\"%s\",le=\"%g\"} %llu\n", name, mx_route(r),
                       (double)bounds[k] / 1e6, (unsigned long long)n);
        }
        buf_printf(b, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name, mx_route(r),
                   (unsigned long long)count);
        buf_printf(b, "%s_sum{route=\"%s\"} %.6f\n", name, mx_route(r),
                   (double)atomic_load_explicit(&sum->latency_us[r], memory_order_relaxed) / 1e6);
        buf_printf(b, "%s_count{route=\"%s\"} %llu\n", name, mx_route(r),
                   (unsigned long long)count);
    }
}

static void mx_app(buf_t *b, const mx_worker_t *sum)
{
    for (size_t f = 0; f < sizeof mx_families / sizeof mx_families[0]; f++) {
        const mx_family_t *fam = &mx_families[f];
        mx_head(b, fam->name, "counter", fam->help);
        for (const mx_series_t *s = fam->series; s < fam->series + 10; s++) {
            if (s > fam->series && !s->label)
                break;
            unsigned long long v = atomic_load_explicit(&sum->app[s->which], memory_order_relaxed);
            if (fam->label_name)
                buf_printf(b, "%s{%s=\"%s\"} %llu\n", fam->name, fam->label_name, s->label, v);
            else
                buf_printf(b, "%s %llu\n", fam->name, v);
        }
    }
}

static void mx_scalar(buf_t *b, const char *name, const char *type, const char *help,
                      unsigned long long v)
{
    mx_head(b, name, type, help);
    buf_printf(b, "%s %llu\n", name, v);
}

/* Sessions live now: counted in the workers' shared table, no store query.
 * A full table makes the figure a lower bound; say so in the log, once per
 * episode, rather than in a label that would break the series. */
static void mx_sessions(buf_t *b, const shm_t *shm)
{
    static int warned;
    int overflow;
    uint64_t n = sesslive_count(shm_sesslive_zone(shm), clock_wall_ns() / 1000000ull, &overflow);

    if (overflow && !warned)
        log_warn("more sessions are live than the session table holds (%d): "
                 "magicd_sessions_active counts only those it holds",
                 SESSLIVE_CAPACITY / 4 * 3);
    warned = overflow;
    mx_scalar(b, "magicd_sessions_active", "gauge",
              "Sessions signed in now: not expired, not idle past the timeout, not revoked.",
              (unsigned long long)n);
}

int prof_metrics_write(const shm_t *shm, const conf_t *conf, buf_t *b)
{
    static mx_worker_t sum; /* 10 KB: not on the stack */
    uint64_t active, accepted, bytes;
    unsigned workers;
    mx_global_t *g = &shm->hdr->metrics;

    mx_sum_slots(shm, &sum, &active, &accepted, &bytes, &workers);
    mx_scalar(b, "magicd_workers", "gauge", "Worker processes serving (not draining).", workers);
    mx_scalar(b, "magicd_http_connections_active", "gauge", "Open client connections.", active);
    mx_scalar(b, "magicd_http_connections_accepted_total", "counter",
              "Client connections accepted.", accepted);
    mx_scalar(b, "magicd_http_response_bytes_total", "counter",
              "Bytes of responses queued to clients (heads and bodies).", bytes);
    mx_requests(b, &sum);
    mx_latency(b, &sum);
    mx_app(b, &sum);
    mx_sessions(b, shm);
    mx_scalar(b, "magicd_worker_restarts_total", "counter",
              "Workers that died unexpectedly and were started again by the master.",
              atomic_load(&g->worker_restarts));
    if (conf->rate.store_on)
        mx_scalar(b, "magicd_rate_limit_store_up", "gauge",
                  "1 while rate_limit_store (Redis) answers, so the rate limits hold across "
                  "nodes; 0 while this node falls back to its own.",
                  atomic_load(&g->rl_store_state) == 1);
    int64_t q = atomic_load(&g->mail_queue);
    mx_scalar(b, "magicd_mail_queue_depth", "gauge",
              "Mails waiting in the spool for the relay (delivery smtp), after the mailer's "
              "last pass.",
              conf->smtp.delivery == DELIVERY_SMTP && q > 0 ? (unsigned long long)q : 0);
    mx_scalar(b, "magicd_mails_sent_total", "counter", "Mails the relay accepted (250 to DATA).",
              atomic_load(&g->mails_sent));
    mx_scalar(b, "magicd_mails_deferred_total", "counter",
              "Delivery attempts put off for a retry (relay unreachable or 4xx).",
              atomic_load(&g->mails_deferred));
    mx_scalar(b, "magicd_mails_failed_total", "counter",
              "Mails given up on (5xx, unreadable, or the link expired while waiting).",
              atomic_load(&g->mails_failed));
    return b->data ? 0 : -1;
}

void prof_metrics_serve(const shm_t *shm, const conf_t *conf, http_conn_t *c)
{
    buf_t b = {0};

    if (prof_metrics_write(shm, conf, &b) < 0) {
        static const char oom[] = "out of memory\n";
        http_reply_start(c, 500);
        http_reply_finish(c, "text/plain; charset=utf-8", oom, sizeof oom - 1);
        return;
    }
    http_reply_start(c, 200);
    http_reply_header(c, "Cache-Control", "no-store");
    http_reply_header(c, "X-Content-Type-Options", "nosniff");
    http_reply_finish(c, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    buf_free(&b);
}
