/*
 * conn.c - one load-generating thread: an epoll loop over its connections.
 *
 * Closed loop (the default, like the article's client and wrk): each
 * connection sends a request, reads the whole response, and sends the next
 * one at once; latency runs from the first byte written.
 *
 * Open loop (-R): the thread owns a schedule, request k due at
 * t0 + offset + k * interval. A timerfd wakes the loop at the next due time
 * (ns precision, not epoll's ms) and due requests go to idle connections.
 * When none is idle the request waits, and its latency still runs from the
 * time it was due - so a server that stalls is charged for every request it
 * delayed, not only for the one it held (coordinated omission corrected,
 * as in wrk2). The schedule is arithmetic, so "waiting requests" is just
 * sched_next lagging behind the clock: no queue.
 *
 * Edge-triggered epoll with the connection index and a generation number in
 * the event data: an event for a socket closed earlier in the same batch
 * does not reach the connection's next socket. Errors are counted by where
 * they happened (connect, read, write, timeout); a failed connection is
 * reopened (after 100 ms when the connect itself failed, so a dead port is
 * not hammered). Deadlines and reconnects are checked every 10 ms, a scan
 * of a few hundred structs.
 */
#include "tools/loadtest/loadtest.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };

#define INC(p) __atomic_store_n((p), *(p) + 1, __ATOMIC_RELAXED)
#define ADD(p, v) __atomic_store_n((p), *(p) + (v), __ATOMIC_RELAXED)
#define DEC(p) __atomic_store_n((p), *(p)-1, __ATOMIC_RELAXED)
#define TIMER_ID 0xFFFFFFFFu
#define RETRY_NS 100000000ull
#define SCAN_NS 10000000ull

volatile int lt_stop;

uint64_t lt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void conn_open(lt_conn_t *c, uint64_t now);
static void conn_ready(lt_conn_t *c, uint64_t now);

static void conn_close(lt_conn_t *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
        DEC(&c->t->st.open);
    }
    c->state = C_CLOSED;
}

static void conn_fail(lt_conn_t *c, lt_err_kind k, uint64_t now)
{
    INC(&c->t->st.err[k]);
    conn_close(c);
    c->retry_ns = now + (k == ER_CONNECT ? RETRY_NS : 0);
}

/* Edge-triggered EPOLLOUT only while it is needed (connecting, or a write
 * that did not fit): left on, every ACK that frees send buffer space would
 * wake the loop once more per request. */
static void want_out(lt_conn_t *c, int on)
{
    if (c->out_on == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET | (on ? EPOLLOUT : 0),
                             .data.u64 = ((uint64_t)c->gen << 32) | (uint32_t)c->idx};
    if (epoll_ctl(c->t->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->out_on = on;
}

static void conn_write(lt_conn_t *c, uint64_t now)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wptr + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            want_out(c, 1); /* rare: a request larger than the socket buffer */
            return;
        } else {
            conn_fail(c, ER_WRITE, now);
            return;
        }
    }
}

static int t_closed(const lt_conn_t *c)
{
    return c->t->o->rate <= 0;
}

static void request_start(lt_conn_t *c, uint64_t due, uint64_t now)
{
    lt_scenario_next(c);
    lt_resp_reset(c->resp);
    if (t_closed(c))
        due = now = lt_now(); /* closed loop: latency runs from the first byte written */
    c->start_ns = due;
    c->deadline_ns = now + (uint64_t)(c->t->o->timeout * 1e9);
    c->state = C_BUSY;
    INC(&c->t->st.sent);
    conn_write(c, now);
}

/* The gap to the next due time: the fixed period, or with --poisson an
 * exponential draw with the same mean (inverse CDF of a uniform in (0,1]),
 * so arrivals are a Poisson process at the same rate. */
static uint64_t next_gap(lt_thread_t *t)
{
    if (!t->o->poisson)
        return t->interval;
    uint64_t x = t->arr_rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    t->arr_rng = x;
    double u = ((double)(x >> 11) + 1.0) / 9007199254740992.0;
    double g = -log(u) * (double)t->interval;
    return g < 1.0 ? 1 : (uint64_t)g;
}

/* Open loop: hand every request that is due to an idle connection. */
static void dispatch(lt_thread_t *t, uint64_t now)
{
    while (t->sched_next <= now && t->sched_next < t->end && t->nidle > 0) {
        lt_conn_t *c = &t->conns[t->idle[--t->nidle]];
        c->in_idle = 0;
        if (c->state != C_IDLE)
            continue;
        request_start(c, t->sched_next, now);
        t->sched_next += next_gap(t);
    }
    if (t->sched_next > now && t->sched_next < t->end && t->sched_next != t->timer_armed) {
        struct itimerspec its = {0};
        its.it_value.tv_sec = (time_t)(t->sched_next / 1000000000ull);
        its.it_value.tv_nsec = (long)(t->sched_next % 1000000000ull);
        timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL);
        t->timer_armed = t->sched_next;
    }
}

/* Connected, or a response finished on a keep-alive connection. */
static void conn_ready(lt_conn_t *c, uint64_t now)
{
    lt_thread_t *t = c->t;
    c->state = C_IDLE;
    if (now >= t->end || lt_stop || c->step == ST_WAIT_LINK)
        return;
    if (t->o->rate <= 0) {
        request_start(c, now, now);
        return;
    }
    if (!c->in_idle) {
        c->in_idle = 1;
        t->idle[t->nidle++] = c->idx;
    }
    dispatch(t, now);
}

void lt_conn_resume(lt_conn_t *c, uint64_t now)
{
    if (c->state == C_IDLE)
        conn_ready(c, now);
    /* closed: it goes on when the scan reconnects it */
}

static void conn_open(lt_conn_t *c, uint64_t now)
{
    lt_thread_t *t = c->t;
    const lt_opts_t *o = t->o;
    int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        INC(&t->st.err[ER_CONNECT]);
        c->retry_ns = now + RETRY_NS;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->gen++;
    c->out_on = 1;
    INC(&t->st.open);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                             .data.u64 = ((uint64_t)c->gen << 32) | (uint32_t)c->idx};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        conn_fail(c, ER_CONNECT, now);
        return;
    }
    c->deadline_ns = now + (uint64_t)(o->timeout * 1e9);
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) == 0) {
        want_out(c, 0);
        conn_ready(c, now);
    } else if (errno == EINPROGRESS) {
        c->state = C_CONNECTING;
    } else {
        conn_fail(c, ER_CONNECT, now);
    }
}

static void response_done(lt_conn_t *c, uint64_t now)
{
    lt_thread_t *t = c->t;
    lt_resp_t *r = c->resp;
    lt_stats_t *st = &t->st;
    now = lt_now(); /* the loop's timestamp may be a whole batch old */
    lt_hist_record(&st->hist, now > c->start_ns ? now - c->start_ns : 0);
    INC(&st->requests);
    ADD(&st->bytes, r->total_bytes);
    INC(&st->kind[c->kind]);
    if (r->status > 0 && r->status < LT_STATUS_MAX)
        INC(&st->status[r->status]);
    if (!lt_scenario_status_ok(t->o, r->status))
        INC(&st->err[ER_STATUS]);
    lt_scenario_done(c, r->status);
    if (!r->keep_alive) {
        conn_close(c);
        if (now < t->end && !lt_stop)
            conn_open(c, now);
        return;
    }
    conn_ready(c, now);
}

static void conn_read(lt_conn_t *c, uint64_t now)
{
    lt_thread_t *t = c->t;
    uint32_t gen = c->gen;
    for (;;) {
        ssize_t n = recv(c->fd, t->rbuf, sizeof(t->rbuf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                conn_fail(c, ER_READ, now);
            return;
        }
        if (n == 0) {
            if (c->state != C_BUSY) {
                conn_close(c); /* idle keep-alive closed by the server */
                c->retry_ns = now;
                return;
            }
            lt_resp_rc rc = lt_resp_eof(c->resp);
            if (rc == LT_RESP_DONE)
                response_done(c, now);
            else
                conn_fail(c, ER_READ, now);
            return;
        }
        size_t off = 0;
        while (off < (size_t)n) {
            if (c->state != C_BUSY) {
                conn_fail(c, ER_READ, now); /* bytes nobody asked for */
                return;
            }
            size_t used = 0;
            lt_resp_rc rc = lt_resp_feed(c->resp, t->rbuf + off, (size_t)n - off, &used);
            off += used;
            if (rc == LT_RESP_ERROR) {
                conn_fail(c, ER_READ, now);
                return;
            }
            if (rc == LT_RESP_OK)
                break;
            response_done(c, now);
            if (c->gen != gen || c->fd < 0)
                return; /* closed (and maybe reopened): the rest is moot */
        }
        /* A short read drained the socket; bytes that come later raise a new
         * edge. Saves the recv that would only say EAGAIN, once per response. */
        if ((size_t)n < sizeof(t->rbuf))
            return;
    }
}

static void conn_event(lt_conn_t *c, uint32_t ev, uint64_t now)
{
    if (c->state == C_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
            conn_fail(c, ER_CONNECT, now);
            return;
        }
        want_out(c, 0);
        conn_ready(c, now);
        if (c->state != C_BUSY)
            return;
    }
    uint32_t gen = c->gen;
    if ((ev & EPOLLOUT) && c->state == C_BUSY && c->woff < c->wlen)
        conn_write(c, now);
    if (c->gen == gen && c->fd >= 0 && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        conn_read(c, now);
}

static void scan(lt_thread_t *t, uint64_t now)
{
    for (int i = 0; i < t->nconns; i++) {
        lt_conn_t *c = &t->conns[i];
        if ((c->state == C_CONNECTING || c->state == C_BUSY) && now > c->deadline_ns) {
            conn_fail(c, ER_TIMEOUT, now);
            c->retry_ns = now;
        }
        if (c->state == C_CLOSED && now >= c->retry_ns && now < t->end && !lt_stop)
            conn_open(c, now);
    }
}

int lt_thread_init(lt_thread_t *t, const lt_opts_t *o, int id, int nconns, uint64_t t0)
{
    t->id = id;
    t->o = o;
    t->nconns = nconns;
    t->t0 = t0;
    t->end = t0 + (uint64_t)(o->duration * 1e9);
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    t->obx_fd = t->obx_ino = -1;
    if (o->outbox)
        lt_outbox_open(t);
    t->conns = calloc((size_t)nconns, sizeof(lt_conn_t));
    t->idle = calloc((size_t)nconns, sizeof(int));
    if (t->ep < 0 || t->tfd < 0 || !t->conns || !t->idle)
        return -1;
    lt_hist_init(&t->st.hist);
    int pages = o->scenario == SC_GENERATE || o->scenario == SC_LOGIN;
    for (int i = 0; i < nconns; i++) {
        lt_conn_t *c = &t->conns[i];
        c->t = t;
        c->fd = -1;
        c->idx = i;
        c->resp = malloc(sizeof(lt_resp_t));
        c->wbuf = malloc(LT_WBUF);
        c->body = pages ? malloc(LT_BODY_CAP) : NULL;
        if (!c->resp || !c->wbuf || (pages && !c->body))
            return -1;
        memset(c->resp, 0, offsetof(lt_resp_t, line));
        c->resp->on_header = lt_scenario_header;
        c->resp->on_body = lt_scenario_body;
        c->resp->ud = c;
        lt_resp_reset(c->resp);
        lt_scenario_conn_init(c);
    }
    lt_scenario_thread_init(t);
    if (o->rate > 0) {
        /* Threads share the rate and interleave their schedules. */
        double per = o->rate / o->threads;
        t->interval = (uint64_t)(1e9 / per);
        if (t->interval == 0)
            t->interval = 1;
        t->sched_next = t0 + t->interval * (uint64_t)id / (uint64_t)o->threads;
        t->arr_rng = (t0 ^ ((uint64_t)id + 1) * 0x9e3779b97f4a7c15ull) | 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TIMER_ID};
        if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->tfd, &ev) < 0)
            return -1;
    }
    return 0;
}

void *lt_thread_run(void *arg)
{
    lt_thread_t *t = arg;
    struct epoll_event evs[256];
    /* The default 50 us timer slack would let the kernel send open-loop
     * requests late, and charge that to the server. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    uint64_t now = lt_now();
    for (int i = 0; i < t->nconns; i++)
        conn_open(&t->conns[i], now);
    while (!lt_stop) {
        now = lt_now();
        if (now >= t->end)
            break;
        uint64_t left = t->end - now;
        int ms = left < SCAN_NS ? (int)(left / 1000000ull) + 1 : (int)(SCAN_NS / 1000000ull);
        int n = epoll_wait(t->ep, evs, 256, ms);
        now = lt_now();
        for (int i = 0; i < n; i++) {
            uint32_t idx = (uint32_t)evs[i].data.u64;
            if (idx == TIMER_ID) {
                uint64_t x;
                if (read(t->tfd, &x, sizeof(x)) < 0) {
                    /* spurious wakeup: nothing to drain */
                }
                t->timer_armed = 0;
                continue;
            }
            if (idx == LT_OUTBOX_ID) {
                lt_outbox_event(t, now);
                continue;
            }
            lt_conn_t *c = &t->conns[idx];
            if ((uint32_t)(evs[i].data.u64 >> 32) != c->gen || c->fd < 0)
                continue;
            conn_event(c, evs[i].events, now);
        }
        if (t->nwaiting)
            lt_outbox_poll(t, now);
        if (t->o->rate > 0)
            dispatch(t, now);
        if (now >= t->next_scan) {
            scan(t, now);
            t->next_scan = now + SCAN_NS;
        }
    }
    for (int i = 0; i < t->nconns; i++)
        conn_close(&t->conns[i]);
    return NULL;
}

void lt_thread_free(lt_thread_t *t)
{
    for (int i = 0; t->conns && i < t->nconns; i++) {
        free(t->conns[i].resp);
        free(t->conns[i].wbuf);
        free(t->conns[i].body);
    }
    free(t->conns);
    free(t->idle);
    if (t->ep >= 0)
        close(t->ep);
    if (t->tfd >= 0)
        close(t->tfd);
    if (t->obx_fd >= 0)
        close(t->obx_fd);
    if (t->obx_ino >= 0)
        close(t->obx_ino);
}
