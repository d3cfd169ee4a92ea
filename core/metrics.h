/*
 * metrics.h - the counters behind the profiler's Prometheus /metrics.
 *
 * Every process that does something an operator wants to count writes it
 * into shared memory, and the profiler adds the numbers up when /metrics is
 * scraped; no process ever talks to another to be counted.
 *
 *   per worker slot (shm_worker_t.metrics, written only by that worker):
 *     requests by route and status code, a latency histogram per route,
 *     and the login application's counters (links issued, redeemed,
 *     refused by reason, codes tried by outcome, rate-limited requests,
 *     sessions started and revoked);
 *   once in the shm header (shm_header_t.metrics): what the master and the
 *     mailer count (worker restarts; mails sent, deferred, failed; the
 *     delivery queue depth).
 *
 * A slot has one writer, so an increment is a relaxed load and store of the
 * same word: no locked instruction on the request path, and a reader (the
 * profiler) never sees a torn value. Slots are reused but never cleared
 * when a worker dies, so the sums only grow: a counter that went backwards
 * would read as a reset to Prometheus. Fields nobody writes yet stay at 0;
 * adding a counter is one enum entry here and one row in the profiler's
 * table (profiler/prof_metrics.c).
 */
#ifndef MG_METRICS_H
#define MG_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#define MX_ROUTES 32   /* route ids (app/route.h) must stay below this */
#define MX_BUCKETS 12  /* finite histogram bounds; index MX_BUCKETS is +Inf */
#define MX_STATUSES 24 /* status codes tracked one by one; the last is "other" */
#define MX_APP_MAX 64

/* Counters of the login application, one word each. */
enum {
    MX_LINKS_ISSUED,      /* a link (and its code) handed to delivery */
    MX_REDEEMED_LINK,     /* sign-ins by link */
    MX_REDEEMED_CODE,     /* sign-ins by code */
    MX_REFUSED_CSRF,      /* link refused: CSRF pair missing or wrong */
    MX_REFUSED_MALFORMED, /* malformed or altered */
    MX_REFUSED_EXPIRED,   /* past its lifetime */
    MX_REFUSED_BROWSER,   /* opened in another browser */
    MX_REFUSED_USED,      /* already used */
    MX_REFUSED_LOCKED,    /* killed by too many wrong codes */
    MX_CODE_OK,           /* POST /magic/code outcomes ... */
    MX_CODE_WRONG,        /* wrong code, tries left */
    MX_CODE_LOCKED,       /* the try that locked it, and tries after */
    MX_CODE_EXPIRED,
    MX_CODE_BROWSER,
    MX_CODE_USED,
    MX_CODE_MALFORMED,
    MX_CODE_CSRF,
    MX_RATE_IP,          /* requests refused by the per-IP limit */
    MX_RATE_EMAIL,       /* ... by the per-address limit */
    MX_RATE_CODE,        /* code tries refused by the per-IP limit */
    MX_SESSIONS_STARTED, /* session cookies issued */
    MX_SESSIONS_REVOKED, /* server-side revocations (wired by the session store) */
    MX_DELIVERY_ERRORS,  /* deliver_send failed (outbox or spool write) */
    MX_RATE_FALLBACK,    /* limits decided locally: rate_limit_store did not answer */
    MX_APP_COUNT
};

typedef struct {
    _Atomic uint64_t app[MX_APP_MAX];
    _Atomic uint64_t requests[MX_ROUTES][MX_STATUSES];
    _Atomic uint64_t latency[MX_ROUTES][MX_BUCKETS + 1]; /* not cumulative */
    _Atomic uint64_t latency_us[MX_ROUTES];              /* sum */
} mx_worker_t;

/* Counters of the master and the mailer (in the shm header). Several
 * processes may write here, so these use atomic adds. */
typedef struct {
    _Atomic uint64_t worker_restarts;
    _Atomic uint64_t mails_sent;
    _Atomic uint64_t mails_deferred;
    _Atomic uint64_t mails_failed;
    _Atomic int64_t mail_queue;     /* gauge: messages waiting in the spool, -1 unknown */
    _Atomic int64_t rl_store_state; /* rate_limit_store: 0 new, 1 up, 2 down (core/rlstore.h) */
    _Atomic uint64_t reserved[10];
} mx_global_t;

/* The bucket upper bounds in microseconds (the profiler prints them as
 * seconds): 100 us .. 2.5 s. */
#define MX_BUCKET_BOUNDS_US                                                                        \
    {                                                                                              \
        100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 500000, 2500000              \
    }

static inline void mx_add(_Atomic uint64_t *p, uint64_t n)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void mx_inc(mx_worker_t *m, unsigned which)
{
    if (m && which < MX_APP_COUNT)
        mx_add(&m->app[which], 1);
}

static inline void mx_global_inc(_Atomic uint64_t *p)
{
    atomic_fetch_add_explicit(p, 1, memory_order_relaxed);
}

/* Index of an HTTP status in requests[][] (MX_STATUSES - 1 for others),
 * and back (0 for "other"). */
unsigned mx_status_index(int status);
int mx_status_code(unsigned index);

/* Count one answered request: route id, status, duration. */
void mx_request(mx_worker_t *m, unsigned route, int status, uint64_t usec);

#endif
