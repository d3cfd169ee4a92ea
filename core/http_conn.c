/*
 * http_conn.c - HTTP/1.1 connection state machine (see http_conn.h).
 *
 * How a request flows:
 *   conn_readable() reads what the socket has into c->in (bounded by c->in.max)
 *   and calls conn_process(), which parses as many complete requests as the
 *   buffer holds, one at a time: parse the head, wait for the body, hand the
 *   request to the handler. The handler's answer (now or later) is appended
 *   to c->out by http_reply_finish(), which also consumes the request's
 *   bytes from c->in; then conn_process() goes
 *   on with the next pipelined request. A request is never handed to the
 *   handler while another one on the same connection is still HANDLING.
 *
 * Output is flushed eagerly with write(2); only when the socket is full do
 * we ask epoll for EPOLLOUT and arm the send timeout. While c->out holds
 * more than OUT_HIGH bytes we stop parsing further pipelined requests, so a
 * client that pipelines without reading cannot make us buffer unbounded
 * output.
 *
 * One timer per connection, whose meaning follows the state: header timeout
 * while READING (armed at the first byte, never pushed back: a deadline),
 * the earlier of the body gap timeout and the body deadline while BODY,
 * send timeout while WRITING, keep-alive timeout while IDLE, none while
 * HANDLING (a deferred handler owns its own timing; the timer is not
 * disarmed for it, which would cost heap moves every request, but ignored
 * if it fires). Closing is deferred to
 * the end of the event-loop iteration (ev_defer) so no later event of the
 * same epoll batch can touch freed memory.
 *
 * Memory follows the request, nginx-style: the input buffer, the request
 * state and the output buffer come from the server's bufpool when needed
 * and go back as soon as the connection is between requests with nothing
 * buffered (conn_shrink), so an idle keep-alive connection is the struct
 * alone. Idle connections are also kept on a list, oldest first: a full
 * server closes the oldest for a new client instead of refusing it.
 *
 * Sharing a worker among addresses. Slots and buffer memory are shared by
 * every client of the worker, so one address (or two) holding unfinished
 * requests could take all of either: unfinished heads in every slot, or
 * stalled large bodies filling the buffer budget, and everyone else would
 * get 503. When one runs out, it is taken back from the address holding
 * the most (connections for slots, bytes for memory), by closing that
 * address's unfinished requests oldest first, instead of refusing the
 * newcomer; but only from an address holding more than 1/SHARE_DIV of the
 * whole, so that under a load spread over many addresses (a real crowd,
 * or a distributed attack) the newcomer is refused as before and nobody's
 * half-sent request is cut.
 */
#include "core/http_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/connlimit.h"
#include "core/handoff.h"
#include "core/log.h"

#define READ_CHUNK BUFPOOL_CHUNK
/* Stop parsing pipelined requests while this much output waits: bounds the
 * output a client that pipelines and never reads can make us hold. */
#define OUT_HIGH (16 * 1024)
#define ACCEPT_BATCH 64
/* Slack above line + headers + body in the input buffer (final CRLFs). */
#define IN_SLACK 1024
#define SHARE_DIV 8 /* an address's fair share of slots and of buffer memory */

struct http_server {
    ev_loop_t *loop;
    ev_io_t lio;
    int lfd;
    int accepting;
    int draining;
    int told_no_body; /* body_never_comes has logged its warning */
    http_server_conf_t conf;
    http_handler_fn handler;
    void *ctx;
    http_observer_t obs;
    http_conn_t *conns; /* doubly linked list of open connections */
    int nconns;
    http_conn_t *idle_head, *idle_tail; /* idle keep-alive, oldest first */
    bufpool_t *pool;
    connlimit_t *peers;
    int owns_shared; /* pool and peers are ours to free */
    int handoff;     /* hand-off channel (send end), -1 none */
    time_t date_sec;
    char date[40];
};

static void conn_process(http_conn_t *c);
static void conn_flush(http_conn_t *c);
static void conn_close(http_conn_t *c);
static void conn_event(ev_loop_t *l, ev_io_t *io, uint32_t ev);
static void conn_timeout(ev_loop_t *l, ev_timer_t *t);
static void reply_parse_error(http_conn_t *c, int status, const char *why);
static int conn_read(http_conn_t *c);

/* ---- server ---- */

static const char *http_date(http_server_t *s)
{
    time_t now = time(NULL);
    if (now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = now;
    }
    return s->date;
}

static void idle_unlink(http_server_t *s, http_conn_t *c)
{
    if (c->iprev)
        c->iprev->inext = c->inext;
    else if (s->idle_head == c)
        s->idle_head = c->inext;
    if (c->inext)
        c->inext->iprev = c->iprev;
    else if (s->idle_tail == c)
        s->idle_tail = c->iprev;
    c->inext = c->iprev = NULL;
}

static void set_state(http_conn_t *c, http_conn_state_t st)
{
    http_server_t *s = c->srv;
    if (c->state == HTTP_CONN_IDLE && st != HTTP_CONN_IDLE)
        idle_unlink(s, c);
    else if (st == HTTP_CONN_IDLE && c->state != HTTP_CONN_IDLE) {
        c->iprev = s->idle_tail;
        c->inext = NULL;
        if (s->idle_tail)
            s->idle_tail->inext = c;
        else
            s->idle_head = c;
        s->idle_tail = c;
    }
    c->state = st;
    if (c->srv->obs.on_state)
        c->srv->obs.on_state(c, st, c->srv->obs.ctx);
}

static void peer_string(http_conn_t *c)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (c->peer.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&c->peer;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    } else if (c->peer.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&c->peer;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    } else {
        snprintf(host, sizeof host, "unix");
    }
    snprintf(c->peer_str, sizeof c->peer_str, "%s", host);
}

/* A 503 written straight to the socket: no buffer, no request state, so it
 * works when the server is out of connections or buffer memory. */
static void write_503(int fd, const char *why)
{
    char msg[256];
    size_t blen = strlen("503 Service Unavailable\n\n") + strlen(why);
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
                     "503 Service Unavailable\n%s\n",
                     blen, why);
    if (n > 0 && (size_t)n < sizeof msg) {
        ssize_t w = write(fd, msg, (size_t)n);
        (void)w;
    }
}

static void refuse(int fd, const char *why)
{
    write_503(fd, why);
    close(fd);
}

static int conn_unfinished(const http_conn_t *c)
{
    return c->state == HTTP_CONN_READING || c->state == HTTP_CONN_BODY;
}

static int conn_from(const http_conn_t *c, const connlimit_key_t *k)
{
    connlimit_key_t ck;
    connlimit_key(&c->peer, &ck);
    return memcmp(&ck, k, sizeof ck) == 0;
}

/* The oldest unfinished request of address k other than `except` (the
 * list is newest first). */
static http_conn_t *oldest_unfinished(http_server_t *s, const connlimit_key_t *k,
                                      const http_conn_t *except)
{
    http_conn_t *found = NULL;
    for (http_conn_t *c = s->conns; c; c = c->next)
        if (c != except && conn_unfinished(c) && conn_from(c, k))
            found = c;
    return found;
}

static void log_shed(http_conn_t *c, const char *what)
{
    static uint64_t last_log;
    uint64_t now = ev_now(c->srv->loop);
    if (now - last_log >= 1000) {
        last_log = now;
        log_warn("%s: shedding unfinished requests of %s, which holds more than its share", what,
                 c->peer_str);
    }
}

/* Room for one more connection: close the oldest idle keep-alive one when
 * the server is full, else the oldest unfinished request of the address
 * holding the most connections if that is more than its share. 1 when
 * there is room. */
static int make_room(http_server_t *s)
{
    if (s->nconns < s->conf.max_connections)
        return 1;
    http_conn_t *old = s->idle_head;
    if (!old) {
        connlimit_key_t k;
        if (connlimit_heaviest(s->peers, &k) <= s->conf.max_connections / SHARE_DIV)
            return 0;
        old = oldest_unfinished(s, &k, NULL);
        if (!old)
            return 0;
        log_shed(old, "worker_connections are full");
    }
    conn_close(old);
    return s->nconns < s->conf.max_connections;
}

static http_conn_t *conn_open(http_server_t *s, int fd, struct sockaddr_storage *ss)
{
    http_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        log_err("out of memory accepting a connection");
        return NULL;
    }
    c->srv = s;
    c->fd = fd;
    c->peer = *ss;
    c->slot = -1;
    c->in.pool = c->out.pool = s->pool;
    c->in.max =
        s->conf.lim.max_request_line + s->conf.lim.max_header_bytes + s->conf.max_body + IN_SLACK;
    c->io = (ev_io_t){.fd = fd, .cb = conn_event, .data = c};
    ev_timer_init(&c->timer, conn_timeout, c);
    c->accepted_ms = ev_now(s->loop);
    peer_string(c);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ev_io_add(s->loop, &c->io, EPOLLIN | EPOLLRDHUP) < 0) {
        log_error(MG_LOG_ERR, errno, "epoll_ctl(ADD) on accepted socket");
        free(c);
        close(fd);
        return NULL;
    }
    connlimit_key_t k;
    connlimit_key(ss, &k);
    c->counted = (unsigned)connlimit_add(s->peers, &k, 0);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (s->obs.on_open)
        s->obs.on_open(c, s->obs.ctx);
    return c;
}

static void accept_ready(ev_loop_t *l, ev_io_t *io, uint32_t ev)
{
    (void)l;
    (void)ev;
    http_server_t *s = io->data;
    for (int i = 0; i < ACCEPT_BATCH && s->accepting; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            if (errno == ECONNABORTED || errno == EPROTO)
                continue;
            /* EMFILE/ENFILE/ENOBUFS: log and retry on the next wake-up. */
            log_error(MG_LOG_CRIT, errno, "accept4() failed");
            return;
        }
        if (s->conf.max_connections_per_ip > 0) {
            connlimit_key_t k;
            connlimit_key(&ss, &k);
            if (connlimit_count(s->peers, &k) >= s->conf.max_connections_per_ip) {
                refuse(fd, "too many connections from your address");
                continue;
            }
        }
        if (!make_room(s)) {
            log_warn("worker_connections (%d) are not enough, refusing a connection",
                     s->conf.max_connections);
            refuse(fd, "over limit");
            continue;
        }
        http_conn_t *c = conn_open(s, fd, &ss);
        if (c) {
            set_state(c, HTTP_CONN_READING);
            ev_timer_set(s->loop, &c->timer, s->conf.header_timeout_ms);
        }
    }
}

http_server_t *http_server_new(ev_loop_t *loop, int lfd, const http_server_conf_t *conf,
                               http_handler_fn handler, void *ctx)
{
    http_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->lfd = lfd;
    s->conf = *conf;
    if (s->conf.max_connections <= 0)
        s->conf.max_connections = 1024;
    s->handler = handler;
    s->ctx = ctx;
    s->handoff = -1;
    s->lio = (ev_io_t){.fd = lfd, .cb = accept_ready, .data = s};
    s->pool = bufpool_new(conf->buffer_budget, sizeof(http_rstate_t));
    s->peers = connlimit_new(s->conf.max_connections);
    s->owns_shared = 1;
    if (!s->pool || !s->peers) {
        bufpool_free(s->pool);
        connlimit_free(s->peers);
        free(s);
        return NULL;
    }
    return s;
}

void http_server_share(http_server_t *s, http_server_t *first)
{
    if (s == first || !s->owns_shared)
        return;
    bufpool_free(s->pool);
    connlimit_free(s->peers);
    s->pool = first->pool;
    s->peers = first->peers;
    s->owns_shared = 0;
}

bufpool_t *http_server_pool(const http_server_t *s)
{
    return s->pool;
}

int http_server_port(const http_server_t *s)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(s->lfd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

void http_server_set_handoff(http_server_t *s, int chan)
{
    s->handoff = chan;
}

void http_server_set_observer(http_server_t *s, const http_observer_t *obs)
{
    s->obs = *obs;
}

int http_server_listen(http_server_t *s)
{
    if (s->accepting)
        return 0;
    /* EPOLLEXCLUSIVE: wake one worker per connection, not all (thundering
     * herd); every worker shares the master's single listening socket. */
    if (ev_io_add(s->loop, &s->lio, EPOLLIN | EPOLLEXCLUSIVE) < 0 &&
        ev_io_add(s->loop, &s->lio, EPOLLIN) < 0)
        return -1;
    s->accepting = 1;
    return 0;
}

void http_server_stop_accepting(http_server_t *s)
{
    if (!s->accepting)
        return;
    ev_io_del(s->loop, &s->lio);
    s->accepting = 0;
}

/* Is c between requests, with nothing to say and at most a part of the
 * next request read? Then it can change hands. */
static int at_boundary(const http_conn_t *c)
{
    return (c->state == HTTP_CONN_IDLE || c->state == HTTP_CONN_READING) &&
           c->out.len == c->out_off && c->in.len <= HANDOFF_MAX_BYTES && !c->close_after;
}

/* 1 handed off (c is closed), 0 kept (try later, or no channel). */
static int conn_handoff(http_conn_t *c)
{
    http_server_t *s = c->srv;
    if (s->handoff < 0 || !at_boundary(c))
        return 0;
    if (handoff_send(s->handoff, c->fd, c->in.data, c->in.len) < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == ENOMEM ||
            errno == ETOOMANYREFS)
            return 0; /* the channel is full: the next turn tries again */
        log_error(MG_LOG_ERR, errno, "handing a connection off failed; closing them instead");
        s->handoff = -1;
        http_server_drain(s);
        return 0;
    }
    conn_close(c); /* our copy: the socket lives on in the message */
    return 1;
}

void http_server_drain(http_server_t *s)
{
    s->draining = 1;
    http_server_stop_accepting(s);
    if (s->handoff >= 0) {
        http_server_retire(s);
        return;
    }
    for (http_conn_t *c = s->conns, *n; c; c = n) {
        n = c->next;
        c->close_after = 1;
        /* A fresh connection will send a request: serve it (the header
         * timeout bounds the wait). An idle keep-alive connection is closed,
         * unless a request already arrived: closing a socket with unread
         * data would reset it and lose that request. */
        if (c->state == HTTP_CONN_IDLE ||
            (c->state == HTTP_CONN_READING && c->in.len == 0 && c->nrequests > 0)) {
            int eof = conn_read(c) < 0;
            if (c->in.len == 0 || eof)
                conn_close(c);
            else
                conn_process(c);
        }
    }
}

void http_server_retire(http_server_t *s)
{
    if (!s->draining || s->handoff < 0)
        return;
    for (http_conn_t *c = s->conns, *n; c; c = n) {
        n = c->next;
        if (c->state != HTTP_CONN_CLOSING)
            conn_handoff(c);
        if (s->handoff < 0)
            return; /* fell back to closing: drain did the rest */
    }
}

int http_server_adopt(http_server_t *s, int fd, const void *bytes, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
        close(fd); /* the client left while the socket was in flight */
        return -1;
    }
    if (n > s->conf.lim.max_request_line + s->conf.lim.max_header_bytes + s->conf.max_body ||
        !make_room(s)) {
        log_warn("no room for a handed-off connection, closing it");
        refuse(fd, "over limit");
        return -1;
    }
    http_conn_t *c = conn_open(s, fd, &ss);
    if (!c)
        return -1;
    c->nrequests = 1; /* it has been used: an idle close is a keep-alive close */
    if (n == 0) {
        set_state(c, HTTP_CONN_IDLE);
        ev_timer_set(s->loop, &c->timer, s->conf.idle_timeout_ms);
        return 0;
    }
    if (buf_append(&c->in, bytes, n) < 0) {
        write_503(fd, "out of memory");
        conn_close(c);
        return -1;
    }
    set_state(c, HTTP_CONN_READING);
    ev_timer_set(s->loop, &c->timer, s->conf.header_timeout_ms);
    conn_process(c);
    return 0;
}

int http_server_nconns(const http_server_t *s)
{
    return s->nconns;
}

const http_server_conf_t *http_server_conf(const http_server_t *s)
{
    return &s->conf;
}

ev_loop_t *http_server_loop(const http_server_t *s)
{
    return s->loop;
}

void http_server_free(http_server_t *s)
{
    if (!s)
        return;
    http_server_stop_accepting(s);
    while (s->conns)
        conn_close(s->conns);
    /* conn_close deferred the frees: run them before the pool goes. */
    ev_run_deferred(s->loop);
    if (s->owns_shared) {
        bufpool_free(s->pool);
        connlimit_free(s->peers);
    }
    free(s);
}

/* ---- connection ---- */

static void rs_release(http_conn_t *c);

static size_t conn_bytes(const http_conn_t *c)
{
    return c->in.cap + c->out.cap + (c->rs ? sizeof *c->rs + c->rs->resp_hdrs.cap : 0);
}

/* Buffer memory is out: take it back from the address holding the most in
 * unfinished requests, if that is more than its share and not c's own
 * address (then c is the one refused). Its oldest unfinished requests are
 * closed and their buffers returned at once (not at the deferred free),
 * until a sixteenth of the budget is free again. 1 when anything was. */
static int conn_reclaim(http_conn_t *c)
{
    http_server_t *s = c->srv;
    size_t budget = bufpool_budget(s->pool), freed = 0;
    connlimit_key_t k;

    if (budget == 0)
        return 0;
    connlimit_bytes_clear(s->peers);
    for (http_conn_t *o = s->conns; o; o = o->next)
        if (conn_unfinished(o) && o->counted) {
            connlimit_key_t ok;
            connlimit_key(&o->peer, &ok);
            connlimit_bytes_add(s->peers, &ok, conn_bytes(o));
        }
    if (connlimit_bytes_heaviest(s->peers, &k) <= budget / SHARE_DIV || conn_from(c, &k))
        return 0;
    while (freed < budget / 16) {
        http_conn_t *v = oldest_unfinished(s, &k, c);
        if (!v)
            break;
        if (!freed)
            log_shed(v, "connection buffers are at their budget");
        freed += conn_bytes(v);
        conn_close(v);
        buf_free(&v->in);
        buf_free(&v->out);
        rs_release(v);
    }
    return freed > 0;
}

static void rs_release(http_conn_t *c)
{
    if (!c->rs)
        return;
    buf_free(&c->rs->resp_hdrs);
    bufpool_obj_put(c->srv->pool, c->rs);
    c->rs = NULL;
    c->req = NULL;
}

/* The request state for the request being read; NULL when the buffer
 * budget is spent. */
static http_rstate_t *rs_get(http_conn_t *c)
{
    if (!c->rs) {
        c->rs = bufpool_obj_get(c->srv->pool);
        if (!c->rs && conn_reclaim(c))
            c->rs = bufpool_obj_get(c->srv->pool);
        if (!c->rs)
            return NULL;
        c->rs->resp_hdrs.pool = c->srv->pool;
        c->rs->req.content_length = -1;
        c->req = &c->rs->req;
    }
    return c->rs;
}

/* Between requests with nothing buffered: give every buffer back. */
static void conn_shrink(http_conn_t *c)
{
    if (c->state == HTTP_CONN_HANDLING || c->resp_started)
        return;
    if (c->in.len == 0) {
        buf_free(&c->in);
        rs_release(c);
    }
    if (c->out.len == c->out_off) {
        c->out.len = c->out_off = 0;
        buf_free(&c->out);
    }
}

static void conn_free(void *p)
{
    http_conn_t *c = p;
    buf_free(&c->in);
    buf_free(&c->out);
    rs_release(c);
    free(c);
}

static void conn_close(http_conn_t *c)
{
    if (c->state == HTTP_CONN_CLOSING)
        return;
    http_server_t *s = c->srv;
    if (c->state == HTTP_CONN_HANDLING && c->on_abort)
        c->on_abort(c);
    set_state(c, HTTP_CONN_CLOSING);
    if (s->obs.on_close)
        s->obs.on_close(c, s->obs.ctx);
    if (c->counted) {
        connlimit_key_t k;
        connlimit_key(&c->peer, &k);
        connlimit_del(s->peers, &k);
        c->counted = 0;
    }
    ev_timer_del(s->loop, &c->timer);
    ev_io_del(s->loop, &c->io);
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (ev_defer(s->loop, conn_free, c) < 0)
        conn_free(c); /* cannot defer: the batch holds no other event for it */
}

static void conn_timeout(ev_loop_t *l, ev_timer_t *t)
{
    (void)l;
    http_conn_t *c = t->data;
    switch (c->state) {
    case HTTP_CONN_READING:
        if (c->in.len > 0) {
            reply_parse_error(c, 408, "the request was not received in time");
            return;
        }
        conn_close(c);
        return;
    case HTTP_CONN_BODY:
        reply_parse_error(c, 408, "the request body was not received in time");
        return;
    case HTTP_CONN_HANDLING:
        return; /* the deadline of the state before: a handler has no timeout */
    default:
        conn_close(c);
    }
}

/* Interest mask follows state: read while we can accept input, write while
 * output is pending. EPOLLRDHUP tells us about a vanished peer. */
static void conn_update_io(http_conn_t *c)
{
    /* After the peer's FIN, level-triggered EPOLLIN/RDHUP would fire
     * forever: listen for writability (and errors) only. */
    uint32_t ev = c->peer_eof ? 0 : EPOLLRDHUP;
    if (c->in.len < c->in.max && !c->peer_eof)
        ev |= EPOLLIN;
    /* A deferred handler holds pointers into the input buffer, which must
     * not move: while it runs we read only into the room it already has,
     * and once that is full we wait (ERR and HUP are reported anyway). */
    if (c->state == HTTP_CONN_HANDLING && c->in.len >= c->in.cap)
        ev = 0;
    if (c->out.len > c->out_off)
        ev |= EPOLLOUT;
    if (ev_io_mod(c->srv->loop, &c->io, ev) < 0)
        conn_close(c);
}

/* Read what the socket has. 0 ok (maybe nothing), -1 EOF or error, -2 the
 * buffer budget is spent (the caller answers 503 and closes). */
static int conn_read(http_conn_t *c)
{
    for (;;) {
        if (c->in.len >= c->in.max)
            return 0;
        size_t want = c->in.max - c->in.len < READ_CHUNK ? c->in.max - c->in.len : READ_CHUNK;
        if (c->state == HTTP_CONN_HANDLING) { /* no growth: see conn_update_io */
            if (c->in.cap == c->in.len)
                return 0;
            if (want > c->in.cap - c->in.len)
                want = c->in.cap - c->in.len;
        }
        if (c->in.cap - c->in.len < want && buf_reserve(&c->in, want) < 0 &&
            (!conn_reclaim(c) || buf_reserve(&c->in, want) < 0))
            return c->in.len < c->in.max ? -2 : 0;
        size_t room = c->in.cap - c->in.len;
        ssize_t n = read(c->fd, c->in.data + c->in.len, room);
        if (n > 0) {
            c->in.len += (size_t)n;
            if (!rs_get(c))
                return -2;
            if ((size_t)n < room)
                return 0;
            continue;
        }
        if (c->in.len == 0)
            buf_free(&c->in); /* nothing came: an idle connection holds no buffer */
        if (n == 0)
            return -1;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == EINTR)
            continue;
        return -1;
    }
}

/* Out of buffer memory: say so without a buffer, and close. */
static void conn_no_memory(http_conn_t *c)
{
    static uint64_t last_log;
    uint64_t now = ev_now(c->srv->loop);
    if (now - last_log >= 1000) {
        last_log = now;
        log_warn("connection buffers are at their budget (%zu bytes): refusing %s",
                 bufpool_budget(c->srv->pool), c->peer_str);
    }
    if (c->out.len == c->out_off)
        write_503(c->fd, "server busy");
    conn_close(c);
}

/* While BODY: the gap timeout, but never past the body deadline. */
static void body_timer(http_conn_t *c)
{
    http_server_t *s = c->srv;
    uint64_t now = ev_now(s->loop), ms = s->conf.body_timeout_ms;
    if (c->deadline_ms) {
        uint64_t left = c->deadline_ms > now ? c->deadline_ms - now : 0;
        if (left < ms)
            ms = left;
    }
    ev_timer_set(s->loop, &c->timer, ms);
}

static void conn_event(ev_loop_t *l, ev_io_t *io, uint32_t ev)
{
    http_conn_t *c = io->data;
    if (c->fd < 0 || c->state == HTTP_CONN_CLOSING)
        return;
    /* ERR, or HUP (both directions shut, e.g. after a reset): nobody can
     * read an answer any more. */
    if (ev & (EPOLLERR | EPOLLHUP)) {
        conn_close(c);
        return;
    }
    if (ev & EPOLLOUT) {
        conn_flush(c);
        if (c->fd < 0)
            return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP)) {
        size_t before = c->in.len;
        int r = conn_read(c);
        if (r == -2) {
            conn_no_memory(c);
            return;
        }
        int eof = r < 0;
        if (c->in.len > before && c->state == HTTP_CONN_IDLE) {
            set_state(c, HTTP_CONN_READING);
            ev_timer_set(l, &c->timer, c->srv->conf.header_timeout_ms);
        } else if (c->in.len > before && c->state == HTTP_CONN_BODY) {
            body_timer(c);
        }
        if (eof) {
            /* The peer closed (or half-closed) its side. Answer what is
             * already buffered and complete, then close. */
            c->close_after = 1;
            c->peer_eof = 1;
            if (c->state == HTTP_CONN_HANDLING || c->out.len > c->out_off) {
                conn_update_io(c);
                return;
            }
            conn_process(c);
            if (c->fd >= 0 && c->state != HTTP_CONN_HANDLING && c->out.len <= c->out_off)
                conn_close(c);
            return;
        }
        conn_process(c);
    }
}

static void conn_flush(http_conn_t *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != HTTP_CONN_HANDLING) {
                if (c->state != HTTP_CONN_WRITING)
                    set_state(c, HTTP_CONN_WRITING);
                ev_timer_set(c->srv->loop, &c->timer, c->srv->conf.send_timeout_ms);
            }
            conn_update_io(c);
            return;
        }
        conn_close(c); /* EPIPE, ECONNRESET: the client is gone */
        return;
    }
    c->out.len = c->out_off = 0;
    buf_free(&c->out); /* back to the pool: most connections are idle next */
    if (c->close_after && c->state != HTTP_CONN_HANDLING) {
        /* Pipelined requests still parseable are not answered after close. */
        conn_close(c);
        return;
    }
    if (c->state == HTTP_CONN_WRITING) {
        set_state(c, c->in.len ? HTTP_CONN_READING : HTTP_CONN_IDLE);
        ev_timer_set(c->srv->loop, &c->timer,
                     c->in.len ? c->srv->conf.header_timeout_ms : c->srv->conf.idle_timeout_ms);
        conn_shrink(c);
        /* A reply made inside conn_process returns into its loop, which
         * goes on with pipelined input; a deferred reply restarts it. */
        if (!c->in_process)
            conn_process(c);
        return;
    }
    conn_update_io(c);
}

static void reply_parse_error(http_conn_t *c, int status, const char *why)
{
    c->close_after = 1;
    if (!rs_get(c)) {
        conn_no_memory(c);
        return;
    }
    memset(c->req, 0, sizeof *c->req);
    c->req->content_length = -1;
    c->req_total = c->in.len;
    http_reply_error(c, status, why);
}

/* A GET or HEAD that declares a body which is not all here yet. No route
 * reads the body of either, and this is what nginx's auth_request sends
 * for a POST to the application when the location passes the request's
 * Content-Length on (the subrequest is a GET without the body): waiting
 * for it would hold every such check until body_timeout and answer 408.
 * So the request is answered now and the connection closed after it: the
 * bytes not waited for cannot be taken for a next request. Said once per
 * worker, since it is the proxy's configuration that needs fixing. */
static int body_never_comes(http_conn_t *c)
{
    if (c->req->method != HTTP_M_GET && c->req->method != HTTP_M_HEAD)
        return 0;
    if (!c->srv->told_no_body) {
        c->srv->told_no_body = 1;
        log_warn("a %s with Content-Length %lld came without its body: answered without it and "
                 "closed (behind nginx's auth_request, add proxy_set_header Content-Length \"\"; "
                 "and proxy_pass_request_body off; to the location that proxies /auth)",
                 c->req->method == HTTP_M_GET ? "GET" : "HEAD", (long long)c->req->content_length);
    }
    return 1;
}

static void conn_process(http_conn_t *c)
{
    http_server_t *s = c->srv;
    c->in_process++;
    while (c->fd >= 0 && c->state != HTTP_CONN_HANDLING && c->state != HTTP_CONN_CLOSING) {
        if (c->out.len - c->out_off > OUT_HIGH)
            break; /* let the client read first */
        if (c->in.len == 0) {
            if (c->state != HTTP_CONN_IDLE && c->out.len == c->out_off) {
                set_state(c, HTTP_CONN_IDLE);
                ev_timer_set(s->loop, &c->timer, s->conf.idle_timeout_ms);
            }
            break;
        }
        if (!rs_get(c)) {
            conn_no_memory(c);
            break;
        }
        const char *why = NULL;
        int r = http_parse_request(c->in.data, c->in.len, &s->conf.lim, c->req, &why);
        if (r == 0) {
            if (c->state == HTTP_CONN_IDLE) {
                set_state(c, HTTP_CONN_READING);
                ev_timer_set(s->loop, &c->timer, s->conf.header_timeout_ms);
            }
            if (c->in.len >= c->in.max) {
                reply_parse_error(c, 431, "request header fields too large");
                break;
            }
            break;
        }
        if (r < 0) {
            reply_parse_error(c, -r, why ? why : "malformed request");
            break;
        }
        size_t body = c->req->content_length > 0 ? (size_t)c->req->content_length : 0;
        if (body > s->conf.max_body) {
            reply_parse_error(c, 413, "request body too large");
            break;
        }
        if (c->in.len < (size_t)r + body && body_never_comes(c)) {
            body = 0;
            c->close_after = 1;
        }
        if (c->in.len < (size_t)r + body) {
            if (c->state != HTTP_CONN_BODY) {
                set_state(c, HTTP_CONN_BODY);
                c->deadline_ms =
                    s->conf.body_deadline_ms ? ev_now(s->loop) + s->conf.body_deadline_ms : 0;
                body_timer(c);
                if (c->req->expect_continue && c->req->version_minor >= 1) {
                    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                    buf_append(&c->out, cont, sizeof cont - 1);
                    conn_flush(c);
                }
            }
            break;
        }
        c->req->body = c->in.data + r;
        c->req->body_len = body;
        c->req_total = (size_t)r + body;
        c->req_start_ns = clock_mono_ns();
        c->nrequests++;
        if (s->conf.max_keepalive_requests > 0 && c->nrequests >= s->conf.max_keepalive_requests)
            c->close_after = 1;
        /* Draining with a hand-off channel keeps the connection: it moves
         * to the new generation after this answer. */
        if (!c->req->keep_alive || (s->draining && s->handoff < 0))
            c->close_after = 1;
        /* No timeout while HANDLING: the timer is left as it is (a
         * deadline pushed later on the way out costs nothing, core/event.h)
         * and does nothing if it fires meanwhile (conn_timeout). */
        c->deadline_ms = 0;
        set_state(c, HTTP_CONN_HANDLING);
        s->handler(c, c->req, s->ctx);
        /* A synchronous handler has replied (state moved on); a deferred one
         * left the connection in HANDLING and will reply later. */
    }
    c->in_process--;
    if (c->fd >= 0 && c->state != HTTP_CONN_CLOSING) {
        if (!c->in_process)
            conn_shrink(c);
        conn_update_io(c);
    }
}

/* ---- responses ---- */

/* Extra header lines go to the request state; a reply outside a request
 * (cannot happen through the handler API) has nowhere to put them. */
static buf_t *resp_hdrs(http_conn_t *c)
{
    return rs_get(c) ? &c->rs->resp_hdrs : NULL;
}

void http_reply_start(http_conn_t *c, int status)
{
    c->resp_status = status;
    c->resp_started = 1;
    buf_t *h = resp_hdrs(c);
    if (h)
        h->len = 0;
}

void http_reply_header(http_conn_t *c, const char *name, const char *fmt, ...)
{
    if (!c->resp_started)
        http_reply_start(c, 200);
    buf_t *h = resp_hdrs(c);
    if (!h)
        return;
    size_t before = h->len;
    va_list ap;
    va_start(ap, fmt);
    int ok = buf_puts(h, name) == 0 && buf_append(h, ": ", 2) == 0 &&
             buf_vprintf(h, fmt, ap) == 0 && buf_append(h, "\r\n", 2) == 0;
    va_end(ap);
    if (!ok)
        h->len = before; /* never half a header line */
}

void http_reply_headers_raw(http_conn_t *c, const char *lines, size_t n)
{
    if (!c->resp_started)
        http_reply_start(c, 200);
    buf_t *h = resp_hdrs(c);
    if (h)
        buf_append(h, lines, n);
}

void http_reply_finish(http_conn_t *c, const char *ctype, const void *body, size_t len)
{
    http_server_t *s = c->srv;
    if (c->state == HTTP_CONN_CLOSING || c->fd < 0)
        return;
    if (!c->resp_started)
        http_reply_start(c, 200);
    if (!rs_get(c)) {
        conn_no_memory(c);
        return;
    }
    int st = c->resp_status;
    if (s->draining && s->handoff < 0)
        c->close_after = 1;
    size_t before = c->out.len;
    /* The head is assembled with plain appends: this runs for every reply. */
    char sl[16] = "HTTP/1.1 000 ";
    sl[9] = (char)('0' + st / 100 % 10);
    sl[10] = (char)('0' + st / 10 % 10);
    sl[11] = (char)('0' + st % 10);
    int ok = buf_append(&c->out, sl, 13) == 0 && buf_puts(&c->out, http_status_text(st)) == 0 &&
             buf_append(&c->out, "\r\n", 2) == 0;
    if (s->conf.server_name)
        ok &= buf_append(&c->out, "Server: ", 8) == 0 &&
              buf_puts(&c->out, s->conf.server_name) == 0 && buf_append(&c->out, "\r\n", 2) == 0;
    ok &= buf_append(&c->out, "Date: ", 6) == 0 && buf_puts(&c->out, http_date(s)) == 0 &&
          buf_append(&c->out, "\r\n", 2) == 0;
    if (ctype)
        ok &= buf_append(&c->out, "Content-Type: ", 14) == 0 && buf_puts(&c->out, ctype) == 0 &&
              buf_append(&c->out, "\r\n", 2) == 0;
    if (st >= 200 && st != 204 && st != 304)
        ok &= buf_append(&c->out, "Content-Length: ", 16) == 0 && buf_put_u64(&c->out, len) == 0 &&
              buf_append(&c->out, "\r\n", 2) == 0;
    if (c->rs->resp_hdrs.len)
        ok &= buf_append(&c->out, c->rs->resp_hdrs.data, c->rs->resp_hdrs.len) == 0;
    if (c->close_after)
        ok &= buf_puts(&c->out, "Connection: close\r\n") == 0;
    else if (c->req->version_minor == 0)
        ok &= buf_puts(&c->out, "Connection: keep-alive\r\n") == 0;
    ok &= buf_append(&c->out, "\r\n", 2) == 0;
    if (len && c->req->method != HTTP_M_HEAD)
        ok &= buf_append(&c->out, body, len) == 0;
    if (!ok) {
        c->out.len = before;
        c->close_after = 1;
        log_err("out of memory building a %d response for %s", st, c->peer_str);
        if (c->out.len == c->out_off)
            write_503(c->fd, "server busy");
    }
    size_t bytes = c->out.len - before;

    uint64_t usec = c->req_start_ns ? (clock_mono_ns() - c->req_start_ns) / 1000 : 0;
    if (s->obs.on_done)
        s->obs.on_done(c, st, bytes, usec, s->obs.ctx);
    c->tag = 0;

    /* The request is answered: drop its bytes and its memory. */
    buf_consume(&c->in, c->req_total < c->in.len ? c->req_total : c->in.len);
    c->req_total = 0;
    c->req_start_ns = 0;
    c->resp_started = 0;
    c->rs->resp_hdrs.len = 0;
    c->user = NULL;
    c->on_abort = NULL;

    set_state(c, HTTP_CONN_WRITING);
    conn_flush(c);
}

void http_reply(http_conn_t *c, int status, const char *ctype, const void *body, size_t len)
{
    if (!c->resp_started)
        http_reply_start(c, status);
    c->resp_status = status; /* headers added before stay */
    http_reply_finish(c, ctype, body, len);
}

void http_reply_error(http_conn_t *c, int status, const char *msg)
{
    char body[512];
    int n = snprintf(body, sizeof body, "%d %s\n%s\n", status, http_status_text(status),
                     msg ? msg : "");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof body)
        n = sizeof body - 1;
    if (!c->resp_started) /* a caller may have added headers (Allow for a 405) */
        http_reply_start(c, status);
    http_reply_finish(c, "text/plain; charset=utf-8", body, (size_t)n);
}

/* For the goroutine profile: the code a connection in each state (the
 * SHM_CONN_* numbers: 1 reading the request, 2 its body, 3 handling, 4
 * writing, 5 keep-alive idle, 0 the loop that serves it) is waiting in or
 * running, as an address a profiler can symbolize - a real function of
 * this file rather than an invented number. */
const void *http_conn_state_code(int state)
{
    switch (state) {
    case 1:
    case 2:
    case 5:
        return (const void *)conn_read;
    case 3:
        return (const void *)conn_process;
    case 4:
        return (const void *)conn_flush;
    default:
        return (const void *)conn_event;
    }
}
