/*
 * pgc.c - the asynchronous PostgreSQL pool (see pgc.h).
 *
 * Each connection is a small state machine driven by its socket's epoll
 * events and one timer:
 *
 *   DOWN --timer--> CONNECTING --PQconnectPoll OK--> PREPARING --all
 *   prepared--> IDLE <--result--> BUSY
 *
 * and any failure goes back to DOWN with its timer armed for the next
 * attempt (back-off doubling from PGC_RETRY_MIN_MS to PGC_RETRY_MAX_MS, reset
 * by a successful connect). CONNECTING and PREPARING are bounded by the
 * connect timeout, BUSY by the query's deadline plus PGC_GRACE_MS: past it
 * the connection is dropped (PQfinish) and the query failed, because a
 * server that does not answer at all cannot be cancelled either.
 *
 * libpq is used only in non-blocking mode: PQconnectStartParams (the URL
 * should name hosts by address, as a name lookup would block),
 * PQsetnonblocking, PQsendQueryPrepared, PQflush until the query is out
 * (EPOLLOUT while it returns 1), then PQconsumeInput on EPOLLIN and
 * PQgetResult while !PQisBusy. An IDLE connection keeps EPOLLIN registered,
 * so a server that goes away is noticed at once, not at the next query.
 *
 * statement_timeout is set for the whole session in the startup packet
 * (options=-c statement_timeout=N), so it costs no round trip.
 */
#include "core/pgc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PGC_GRACE_MS 1000   /* past the deadline, before dropping the link */
#define PGC_CONNECT_MS 2000 /* connect + prepare */
#define PGC_ERR_MAX 256

enum { C_DOWN, C_CONNECTING, C_PREPARING, C_IDLE, C_BUSY };

typedef struct pgc_q {
    struct pgc_q *next;
    int stmt, nparams;
    pgc_cb cb;
    void *arg;
    uint64_t deadline_ms;
    const char *vals[16];
    int lens[16], fmts[16];
    char data[]; /* the parameters' bytes */
} pgc_q_t;

typedef struct {
    pgc_t *pool;
    PGconn *conn;
    int state;
    int nprep; /* statements prepared so far on this connection */
    uint64_t retry_ms;
    ev_io_t io;
    int io_on;
    ev_timer_t timer;
    pgc_q_t *q; /* the query in flight (BUSY) */
    PGresult *res;
} pgc_conn_t;

struct pgc {
    ev_loop_t *loop;
    char *url;
    char options[64];
    int timeout_ms;
    int size;
    int nstmt;
    char name[PGC_STMT_MAX][8];
    char *sql[PGC_STMT_MAX];
    int nparams[PGC_STMT_MAX];
    pgc_q_t *head, *tail;
    int queued;
    ev_timer_t qtimer; /* the head's deadline */
    char err[PGC_ERR_MAX];
    pgc_ready_fn on_ready;
    pgc_notify_fn on_notify;
    void *ev_arg;
    pgc_conn_t c[PGC_POOL_MAX];
};

static void conn_io(ev_loop_t *loop, ev_io_t *io, uint32_t ev);
static void conn_down(pgc_conn_t *c, const char *why);
static void pool_dispatch(pgc_t *p);

static void set_err(pgc_t *p, const char *msg)
{
    snprintf(p->err, sizeof p->err, "%s", msg ? msg : "unknown error");
    p->err[strcspn(p->err, "\n")] = 0;
}

/* Watch the connection's socket for events (0: stop watching). The socket
 * can change while connecting (libpq tries the next address), so it is
 * re-registered when it differs. */
static void conn_watch(pgc_conn_t *c, uint32_t events)
{
    int fd = c->conn ? PQsocket(c->conn) : -1;

    if (c->io_on && (fd != c->io.fd || !events)) {
        ev_io_del(c->pool->loop, &c->io);
        c->io_on = 0;
    }
    if (!events || fd < 0)
        return;
    if (c->io_on) {
        if (c->io.events != events)
            ev_io_mod(c->pool->loop, &c->io, events);
        return;
    }
    c->io.fd = fd;
    c->io.cb = conn_io;
    c->io.data = c;
    if (ev_io_add(c->pool->loop, &c->io, events) == 0)
        c->io_on = 1;
}

static void q_finish(pgc_q_t *q, const PGresult *res, const char *err)
{
    q->cb(q->arg, res, err);
    free(q);
}

/* Fail every queued query when no connection can take them soon. */
static void pool_fail_queue(pgc_t *p, const char *why)
{
    while (p->head) {
        pgc_q_t *q = p->head;
        p->head = q->next;
        p->queued--;
        q_finish(q, NULL, why);
    }
    p->tail = NULL;
    ev_timer_del(p->loop, &p->qtimer);
}

static int pool_any_alive(const pgc_t *p)
{
    for (int i = 0; i < p->size; i++)
        if (p->c[i].state != C_DOWN)
            return 1;
    return 0;
}

static void conn_retry_timer(ev_loop_t *loop, ev_timer_t *t);

static void conn_down(pgc_conn_t *c, const char *why)
{
    pgc_t *p = c->pool;
    char msg[PGC_ERR_MAX];

    snprintf(msg, sizeof msg, "database: %s", why && *why ? why : "connection lost");
    msg[strcspn(msg, "\n")] = 0;
    set_err(p, msg);
    conn_watch(c, 0);
    if (c->res) {
        PQclear(c->res);
        c->res = NULL;
    }
    PQfinish(c->conn);
    c->conn = NULL;
    c->state = C_DOWN;
    if (c->q) {
        pgc_q_t *q = c->q;
        c->q = NULL;
        q_finish(q, NULL, msg);
    }
    c->timer.cb = conn_retry_timer;
    ev_timer_set(p->loop, &c->timer, c->retry_ms);
    c->retry_ms = c->retry_ms * 2 > PGC_RETRY_MAX_MS ? PGC_RETRY_MAX_MS : c->retry_ms * 2;
    if (!pool_any_alive(p))
        pool_fail_queue(p, msg);
}

static void conn_timeout(ev_loop_t *loop, ev_timer_t *t)
{
    pgc_conn_t *c = t->data;

    (void)loop;
    conn_down(c, c->state == C_BUSY ? "no answer within the query timeout" : "connect timeout");
}

static void conn_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static void conn_connect(pgc_conn_t *c)
{
    pgc_t *p = c->pool;
    const char *keys[] = {"dbname", "options", "connect_timeout", NULL};
    const char *vals[] = {p->url, p->options, "2", NULL};

    c->conn = PQconnectStartParams(keys, vals, 1);
    if (!c->conn || PQstatus(c->conn) == CONNECTION_BAD) {
        conn_down(c, c->conn ? PQerrorMessage(c->conn) : "out of memory");
        return;
    }
    PQsetnonblocking(c->conn, 1);
    PQsetNoticeProcessor(c->conn, conn_notice, NULL); /* errors reach callbacks */
    c->state = C_CONNECTING;
    c->timer.cb = conn_timeout;
    ev_timer_set(p->loop, &c->timer, PGC_CONNECT_MS);
    conn_watch(c, EPOLLOUT); /* PQconnectStart's contract: poll as if WRITING */
}

static void conn_retry_timer(ev_loop_t *loop, ev_timer_t *t)
{
    (void)loop;
    conn_connect(t->data);
}

static void conn_prepare_next(pgc_conn_t *c)
{
    pgc_t *p = c->pool;

    if (c->nprep == p->nstmt) {
        c->state = C_IDLE;
        c->retry_ms = PGC_RETRY_MIN_MS;
        ev_timer_del(p->loop, &c->timer);
        conn_watch(c, EPOLLIN);
        if (p->on_ready)
            p->on_ready(p->ev_arg); /* its queries go first in the FIFO */
        pool_dispatch(p);
        return;
    }
    if (!PQsendPrepare(c->conn, p->name[c->nprep], p->sql[c->nprep], p->nparams[c->nprep], NULL)) {
        conn_down(c, PQerrorMessage(c->conn));
        return;
    }
    conn_watch(c, PQflush(c->conn) == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void conn_send(pgc_conn_t *c, pgc_q_t *q)
{
    pgc_t *p = c->pool;
    uint64_t now = ev_now(p->loop);
    int f;

    c->q = q;
    c->state = C_BUSY;
    if (!PQsendQueryPrepared(c->conn, p->name[q->stmt], q->nparams, q->vals, q->lens, q->fmts, 0)) {
        conn_down(c, PQerrorMessage(c->conn));
        return;
    }
    if ((f = PQflush(c->conn)) < 0) {
        conn_down(c, PQerrorMessage(c->conn));
        return;
    }
    c->timer.cb = conn_timeout;
    ev_timer_set(p->loop, &c->timer,
                 (q->deadline_ms > now ? q->deadline_ms - now : 0) + PGC_GRACE_MS);
    conn_watch(c, f == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void pool_qtimer_arm(pgc_t *p)
{
    uint64_t now = ev_now(p->loop);

    if (!p->head) {
        ev_timer_del(p->loop, &p->qtimer);
        return;
    }
    ev_timer_set(p->loop, &p->qtimer, p->head->deadline_ms > now ? p->head->deadline_ms - now : 0);
}

static void pool_dispatch(pgc_t *p)
{
    for (int i = 0; i < p->size && p->head; i++) {
        pgc_conn_t *c = &p->c[i];
        if (c->state != C_IDLE)
            continue;
        pgc_q_t *q = p->head;
        p->head = q->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        q->next = NULL;
        conn_send(c, q);
    }
    pool_qtimer_arm(p);
}

/* Queued queries past their deadline fail (FIFO with one timeout: the head
 * is always the oldest). */
static void pool_qtimer(ev_loop_t *loop, ev_timer_t *t)
{
    pgc_t *p = t->data;
    uint64_t now = ev_now(loop);

    while (p->head && p->head->deadline_ms <= now) {
        pgc_q_t *q = p->head;
        p->head = q->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        q_finish(q, NULL, "database: no connection free within the query timeout");
    }
    pool_qtimer_arm(p);
}

static void conn_poll_connect(pgc_conn_t *c)
{
    switch (PQconnectPoll(c->conn)) {
    case PGRES_POLLING_READING:
        conn_watch(c, EPOLLIN);
        break;
    case PGRES_POLLING_WRITING:
        conn_watch(c, EPOLLOUT);
        break;
    case PGRES_POLLING_OK:
        c->state = C_PREPARING;
        c->nprep = 0;
        conn_prepare_next(c);
        break;
    default:
        conn_down(c, PQerrorMessage(c->conn));
    }
}

/* Input on a PREPARING or BUSY connection: collect results until libpq says
 * the command is complete (PQgetResult NULL). */
static void conn_read(pgc_conn_t *c)
{
    PGresult *r;

    if (!PQconsumeInput(c->conn)) {
        conn_down(c, PQerrorMessage(c->conn));
        return;
    }
    while (!PQisBusy(c->conn)) {
        if (!(r = PQgetResult(c->conn))) {
            PGresult *res = c->res;
            c->res = NULL;
            if (c->state == C_PREPARING) {
                int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
                char msg[PGC_ERR_MAX];
                snprintf(msg, sizeof msg, "preparing: %s",
                         res ? PQresultErrorMessage(res) : "no result");
                PQclear(res);
                if (!ok) {
                    conn_down(c, msg);
                    return;
                }
                c->nprep++;
                conn_prepare_next(c);
                return;
            }
            pgc_q_t *q = c->q;
            ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
            c->q = NULL;
            c->state = C_IDLE;
            ev_timer_del(c->pool->loop, &c->timer);
            conn_watch(c, EPOLLIN);
            if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
                q_finish(q, res, NULL);
            } else {
                char msg[PGC_ERR_MAX];
                snprintf(msg, sizeof msg, "database: %s",
                         res ? PQresultErrorMessage(res) : "no result");
                msg[strcspn(msg, "\n")] = 0;
                q_finish(q, NULL, msg);
            }
            PQclear(res);
            pool_dispatch(c->pool);
            return;
        }
        if (c->res) /* keep the first result; a later one is an error report */
            PQclear(r);
        else
            c->res = r;
    }
}

/* Hand the notifications libpq has parsed to the caller. */
static void conn_notifies(pgc_conn_t *c)
{
    PGnotify *n;

    while (c->conn && (n = PQnotifies(c->conn))) {
        if (c->pool->on_notify)
            c->pool->on_notify(c->pool->ev_arg, n->relname, n->extra ? n->extra : "");
        PQfreemem(n);
    }
}

static void conn_io(ev_loop_t *loop, ev_io_t *io, uint32_t ev)
{
    pgc_conn_t *c = io->data;

    (void)loop;
    switch (c->state) {
    case C_CONNECTING:
        conn_poll_connect(c);
        return;
    case C_IDLE:
        /* Nothing is expected: EOF or an error means the server went away. */
        if (!PQconsumeInput(c->conn) || PQstatus(c->conn) == CONNECTION_BAD) {
            conn_down(c, PQerrorMessage(c->conn));
            return;
        }
        conn_notifies(c);
        return;
    case C_PREPARING:
    case C_BUSY:
        if (ev & EPOLLOUT) {
            int f = PQflush(c->conn);
            if (f < 0) {
                conn_down(c, PQerrorMessage(c->conn));
                return;
            }
            conn_watch(c, f == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
        }
        if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
            conn_read(c);
        if (c->state != C_DOWN)
            conn_notifies(c); /* a NOTIFY may come in with a result */
        return;
    }
}

pgc_t *pgc_new(ev_loop_t *loop, const char *url, int size, int timeout_ms)
{
    pgc_t *p;

    if (!loop || !url || size < 1 || size > PGC_POOL_MAX || timeout_ms < 1)
        return NULL;
    if (!(p = calloc(1, sizeof *p)) || !(p->url = strdup(url))) {
        free(p);
        return NULL;
    }
    p->loop = loop;
    p->size = size;
    p->timeout_ms = timeout_ms;
    snprintf(p->options, sizeof p->options, "-c statement_timeout=%d", timeout_ms);
    ev_timer_init(&p->qtimer, pool_qtimer, p);
    for (int i = 0; i < size; i++) {
        p->c[i].pool = p;
        p->c[i].state = C_DOWN;
        p->c[i].retry_ms = PGC_RETRY_MIN_MS;
        ev_timer_init(&p->c[i].timer, conn_retry_timer, &p->c[i]);
    }
    set_err(p, "not connected yet");
    return p;
}

int pgc_prepare(pgc_t *p, const char *sql, int nparams)
{
    if (!p || p->nstmt == PGC_STMT_MAX || nparams < 0 || nparams > 16)
        return -1;
    if (!(p->sql[p->nstmt] = strdup(sql)))
        return -1;
    snprintf(p->name[p->nstmt], sizeof p->name[0], "s%d", p->nstmt);
    p->nparams[p->nstmt] = nparams;
    return p->nstmt++;
}

int pgc_start(pgc_t *p)
{
    if (!p)
        return -1;
    for (int i = 0; i < p->size; i++)
        if (p->c[i].state == C_DOWN && !ev_timer_armed(&p->c[i].timer))
            conn_connect(&p->c[i]);
    return 0;
}

int pgc_query(pgc_t *p, int stmt, int nparams, const char *const *vals, const int *lens, pgc_cb cb,
              void *arg)
{
    size_t total = 0, off = 0;
    pgc_q_t *q;

    if (!p || stmt < 0 || stmt >= p->nstmt || nparams != p->nparams[stmt] || !cb)
        return -1;
    if (!pool_any_alive(p) || p->queued >= PGC_QUEUE_MAX)
        return -1;
    for (int i = 0; i < nparams; i++)
        total += vals[i] ? (lens && lens[i] > 0 ? (size_t)lens[i] : strlen(vals[i]) + 1) : 0;
    if (!(q = malloc(sizeof *q + total)))
        return -1;
    q->next = NULL;
    q->stmt = stmt;
    q->nparams = nparams;
    q->cb = cb;
    q->arg = arg;
    q->deadline_ms = ev_now(p->loop) + (uint64_t)p->timeout_ms;
    for (int i = 0; i < nparams; i++) {
        int bin = lens && lens[i] > 0;
        size_t n = vals[i] ? (bin ? (size_t)lens[i] : strlen(vals[i]) + 1) : 0;
        q->vals[i] = vals[i] ? q->data + off : NULL;
        if (n)
            memcpy(q->data + off, vals[i], n);
        q->lens[i] = bin ? lens[i] : 0;
        q->fmts[i] = bin;
        off += n;
    }
    if (p->tail)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
    p->queued++;
    pool_dispatch(p);
    return 0;
}

void pgc_on_events(pgc_t *p, pgc_ready_fn ready, pgc_notify_fn notify, void *arg)
{
    p->on_ready = ready;
    p->on_notify = notify;
    p->ev_arg = arg;
}

int pgc_up(const pgc_t *p)
{
    int n = 0;
    for (int i = 0; p && i < p->size; i++)
        n += p->c[i].state == C_IDLE || p->c[i].state == C_BUSY;
    return n;
}

int pgc_queued(const pgc_t *p)
{
    return p ? p->queued : 0;
}

const char *pgc_error(const pgc_t *p)
{
    return p ? p->err : "no pool";
}

void pgc_free(pgc_t *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->size; i++) {
        pgc_conn_t *c = &p->c[i];
        conn_watch(c, 0);
        ev_timer_del(p->loop, &c->timer);
        if (c->q) {
            q_finish(c->q, NULL, "database: pool closed");
            c->q = NULL;
        }
        PQclear(c->res);
        PQfinish(c->conn);
    }
    pool_fail_queue(p, "database: pool closed");
    for (int i = 0; i < p->nstmt; i++)
        free(p->sql[i]);
    free(p->url);
    free(p);
}
