/*
 * loadtest.h - the load generator's shared types.
 *
 * The program is a set of threads, each owning an epoll loop and a slice of
 * the connections; nothing is shared between threads while the load runs
 * except read-only options and each thread's own counters, which the main
 * thread reads (relaxed) once a second for the progress line. Every buffer a
 * request needs is allocated once per connection or per thread before the
 * clock starts: the steady state does no malloc.
 *
 *   opts.c      command line -> lt_opts_t (and the target address)
 *   scenario.c  what a connection sends next and what it takes from answers
 *   outbox.c    login: links read from magicd's outbox file
 *   conn.c      the per-thread event loop: connect, write, read, time out
 *   report.c    progress line, final report, --json
 *   hist.c      latency histogram, resp_parse.c response framing
 */
#ifndef LT_LOADTEST_H
#define LT_LOADTEST_H

#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tools/loadtest/hist.h"
#include "tools/loadtest/resp_parse.h"

typedef enum { SC_GENERATE, SC_LOGIN, SC_ORIGINAL, SC_GET } lt_scenario_kind;

/* What one request is; counted separately in the report. */
typedef enum {
    RQ_LOGIN_PAGE,
    RQ_GENERATE,
    RQ_VERIFY,
    RQ_SECURE,
    RQ_ORIGINAL,
    RQ_GET,
    RQ_KINDS
} lt_req_kind;
extern const char *const lt_req_names[RQ_KINDS];

/* Why a scenario could not go on (not a socket error: the server answered,
 * but not with what the flow needs). */
typedef enum { FL_NO_TOKEN, FL_NO_COOKIE, FL_NO_LINK, FL_NO_SESSION, FL_KINDS } lt_flow_kind;

/* Where a connection is in the generate/login flow. */
enum { ST_LOGIN_PAGE, ST_GENERATE, ST_WAIT_LINK, ST_VERIFY, ST_SECURE };
extern const char *const lt_flow_names[FL_KINDS];

/* Socket errors, and ER_STATUS: an answer whose status is a failure (see
 * lt_scenario_status_ok). A server that answers every request with 429 has
 * served nothing, so those count as errors too. */
typedef enum { ER_CONNECT, ER_READ, ER_WRITE, ER_TIMEOUT, ER_STATUS, ER_KINDS } lt_err_kind;
extern const char *const lt_err_names[ER_KINDS];

typedef struct {
    int connections;
    int threads;
    double duration; /* seconds */
    double rate;     /* open loop: requests/s over all threads; 0 = closed loop */
    int poisson;     /* open loop: exponential gaps (Poisson arrivals), not a fixed period */
    double timeout;  /* seconds, per request (and per connect) */
    lt_scenario_kind scenario;
    const char *scenario_name;
    const char *url;
    const char *json_file;
    const char *emails_file;
    const char *outbox; /* login: read links from this outbox file */
    int quiet;          /* no progress lines */
    /* target, from the URL */
    char host[256];  /* for the Host header */
    char path[2048]; /* for `get`; "/" otherwise */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    /* --emails, or generated when NULL */
    char **emails;
    char **emails_enc; /* form-urlencoded */
    size_t nemails;
} lt_opts_t;

#define LT_STATUS_MAX 600

/* One thread's counters. Written only by its thread (relaxed stores, see
 * hist.c), read by the main thread for progress. */
typedef struct {
    uint64_t requests;
    uint64_t bytes;
    uint64_t err[ER_KINDS];
    uint64_t flow[FL_KINDS];
    uint64_t kind[RQ_KINDS];
    uint64_t status[LT_STATUS_MAX];
    uint64_t open;  /* connections open now */
    uint64_t sent;  /* requests written (open loop: to compare with the schedule) */
    lt_hist_t hist; /* latency in ns */
} lt_stats_t;

#define LT_WBUF 4096
#define LT_BODY_CAP 32768
#define LT_COOKIE_MAX 1024

struct lt_thread;

typedef struct lt_conn {
    struct lt_thread *t;
    int fd;
    int state;
    int idx;              /* within the thread */
    uint32_t gen;         /* bumped per socket: tells stale epoll events apart */
    int in_idle;          /* on the thread's idle stack (open loop) */
    int out_on;           /* EPOLLOUT in the interest set */
    uint64_t start_ns;    /* when this request was due (open loop) or sent */
    uint64_t deadline_ns; /* timeout of the current connect/request */
    uint64_t retry_ns;    /* reconnect not before this (after a connect error) */
    lt_resp_t *resp;
    /* request being written */
    const char *wptr;
    size_t wlen, woff;
    char *wbuf; /* LT_WBUF, own requests */
    /* scenario state */
    lt_req_kind kind;
    int step;
    uint64_t email_seq;
    size_t email_len;
    char email[256]; /* form-urlencoded email of the current flow */
    char email_raw[256];
    int link_ready;      /* link already read from the outbox */
    uint64_t wait_since; /* ST_WAIT_LINK: when the generate answer came */
    char csrf_cookie[LT_COOKIE_MAX];
    char token[256];
    char session[LT_COOKIE_MAX];
    char link[1024];
    char location[256];
    int capture; /* keep the body of this response */
    char *body;  /* LT_BODY_CAP, only for scenarios that read pages */
    size_t blen;
} lt_conn_t;

typedef struct lt_thread {
    int id;
    pthread_t tid;
    const lt_opts_t *o;
    int ep;
    int tfd; /* open loop timer */
    lt_conn_t *conns;
    int nconns;
    uint64_t t0, end; /* ns, CLOCK_MONOTONIC */
    /* open loop schedule: request k is due at sched_next + k * interval */
    uint64_t sched_next, interval;
    uint64_t arr_rng; /* --poisson: xorshift state of the arrival schedule */
    uint64_t timer_armed;
    int *idle; /* open loop: stack of idle connections */
    int nidle;
    uint64_t next_scan;
    int nwaiting; /* connections in ST_WAIT_LINK */
    int obx_fd;   /* --outbox, read from where it ended at the start */
    int obx_ino;  /* inotify on the outbox, in the epoll set */
    int obx_watched;
    size_t obx_len;
    char obx_buf[8192]; /* a partial outbox line */
    uint64_t rng;
    uint64_t email_ctr;
    const char *get_req; /* prebuilt `get` request */
    size_t get_len;
    char get_buf[LT_WBUF];
    lt_stats_t st;
    char rbuf[65536];
} lt_thread_t;

extern volatile int lt_stop; /* SIGINT: finish now and report */

uint64_t lt_now(void);

/* opts.c */
int lt_opts_parse(lt_opts_t *o, int argc, char **argv);
void lt_usage(FILE *f);

/* scenario.c */
void lt_scenario_thread_init(lt_thread_t *t);
void lt_scenario_conn_init(lt_conn_t *c);
/* Prepare the next request of c into wptr/wlen; sets kind and capture. */
void lt_scenario_next(lt_conn_t *c);
void lt_scenario_header(void *ud, const char *n, size_t nl, const char *v, size_t vl);
void lt_scenario_body(void *ud, const char *p, size_t n);
/* The response to c's request is complete. */
void lt_scenario_done(lt_conn_t *c, int status);
/* Whether an answer with this status was served (else it is a failure), and
 * the rule in words for the report ("2xx/3xx"). */
int lt_scenario_status_ok(const lt_opts_t *o, int status);
const char *lt_scenario_ok_statuses(const lt_opts_t *o);

/* outbox.c */
void lt_outbox_open(lt_thread_t *t);
void lt_outbox_poll(lt_thread_t *t, uint64_t now);
void lt_outbox_event(lt_thread_t *t, uint64_t now); /* inotify says it grew */
#define LT_OUTBOX_ID 0xFFFFFFFEu                    /* epoll data of the inotify fd */

/* conn.c */
/* A connection that waited (for its link) may go on. */
void lt_conn_resume(lt_conn_t *c, uint64_t now);
int lt_thread_init(lt_thread_t *t, const lt_opts_t *o, int id, int nconns, uint64_t t0);
void *lt_thread_run(void *arg);
void lt_thread_free(lt_thread_t *t);

/* report.c */
void lt_stats_snapshot(lt_stats_t *dst, const lt_stats_t *src); /* dst += src */
void lt_progress(const lt_opts_t *o, double elapsed, const lt_stats_t *now, const lt_stats_t *prev,
                 double dt);
void lt_report(FILE *f, const lt_opts_t *o, const lt_stats_t *s, double secs);
int lt_report_json(const char *file, const lt_opts_t *o, const lt_stats_t *s, double secs,
                   const char *error);

#endif
