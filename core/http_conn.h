/*
 * http_conn.h - HTTP/1.1 connections on an event loop (worker and profiler).
 *
 * An http_server_t owns a listening socket registered in a loop, the limits
 * and timeouts, and a handler. Each accepted connection walks a small state
 * machine:
 *
 *   READING (header timeout) -> BODY (body timeout) -> HANDLING -> WRITING
 *   (send timeout) -> IDLE (keep-alive timeout) -> READING ...
 *
 * The handler is called once per request with the request fully read
 * (headers and body). It answers by calling
 * http_reply() / http_reply_start()+http_reply_header()+http_reply_finish()
 * now, or later (the profiler answers profile?seconds=30 after 30 s): the
 * connection stays in HANDLING and pipelined requests wait in its input
 * buffer until the answer is queued, so responses are always in order.
 *
 * Bad input is answered here, before any handler runs: malformed request
 * 400, request line too long 414, headers too large 431, body too large 413,
 * Transfer-Encoding 501, timeouts 408, then the connection closes.
 *
 * Memory: an idle keep-alive connection is this struct alone (about 0.5
 * KB). The request state (the parsed request, the reply's extra headers)
 * and the input and output buffers are taken from the server's bufpool
 * when bytes arrive and given back when the request is answered and
 * flushed; the pool's budget bounds them all together. Limits that protect
 * the process: max_connections (when full, the oldest idle keep-alive
 * connection is closed for a newcomer), max_connections_per_ip, an
 * absolute header deadline (header_timeout counts from the first byte), a
 * body gap timeout plus an absolute body deadline, and the buffer budget.
 *
 * Reload: a draining server with a hand-off channel passes connections at
 * a request boundary to a worker of the new generation (core/handoff.h)
 * instead of closing them; http_server_adopt() takes them in.
 */
#ifndef MG_HTTP_CONN_H
#define MG_HTTP_CONN_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/bufpool.h"
#include "core/event.h"
#include "core/http.h"

typedef struct http_server http_server_t;
typedef struct http_conn http_conn_t;
struct shm_conn;
struct access_log;

typedef void (*http_handler_fn)(http_conn_t *c, http_request_t *req, void *ctx);

typedef enum {
    HTTP_CONN_READING = 1,
    HTTP_CONN_BODY,
    HTTP_CONN_HANDLING,
    HTTP_CONN_WRITING,
    HTTP_CONN_IDLE,
    HTTP_CONN_CLOSING,
} http_conn_state_t;

typedef struct {
    http_limits_t lim;
    size_t max_body;
    uint64_t header_timeout_ms; /* whole head, from its first byte */
    uint64_t body_timeout_ms;   /* longest gap between two reads of a body */
    uint64_t body_deadline_ms;  /* whole body, from the end of the head; 0 = none */
    uint64_t idle_timeout_ms;
    uint64_t send_timeout_ms;
    int max_connections;
    int max_connections_per_ip; /* per server (worker); 0 = no cap */
    int max_keepalive_requests; /* 0 = unlimited */
    size_t buffer_budget;       /* bytes for all connections' buffers; 0 = unlimited */
    const char *server_name;    /* Server: header; NULL omits it */
} http_server_conf_t;

/* Hooks a process can set to observe connections (counters, shm table). */
typedef struct {
    void (*on_open)(http_conn_t *c, void *ctx);
    void (*on_state)(http_conn_t *c, http_conn_state_t st, void *ctx);
    void (*on_close)(http_conn_t *c, void *ctx);
    /* after a response is fully queued: status, bytes, duration */
    void (*on_done)(http_conn_t *c, int status, size_t bytes, uint64_t usec, void *ctx);
    void *ctx; /* passed to every hook */
} http_observer_t;

/* What a connection holds only while a request is in progress. */
typedef struct http_rstate {
    http_request_t req;
    buf_t resp_hdrs; /* extra header lines of the reply being built */
} http_rstate_t;

struct http_conn {
    http_server_t *srv;
    ev_io_t io;
    ev_timer_t timer;
    int fd;
    http_conn_state_t state;
    struct sockaddr_storage peer;
    char peer_str[48];
    buf_t in;  /* storage only while bytes are buffered */
    buf_t out; /* storage only while output is pending */
    size_t out_off;
    http_rstate_t *rs;    /* NULL while idle */
    http_request_t *req;  /* &rs->req while a request is in progress */
    size_t req_total;     /* header + body bytes of the current request */
    uint64_t deadline_ms; /* body deadline (absolute, loop clock) */
    int nrequests;
    unsigned close_after : 1; /* close once out is flushed */
    unsigned peer_eof : 1;    /* the peer sent FIN: read nothing more */
    unsigned counted : 1;     /* counted in the per-address table */
    unsigned resp_started : 1;
    int in_process; /* inside conn_process (replies return into its loop) */
    int resp_status;
    int slot; /* index in the observer's table, -1 none */
    uint64_t accepted_ms;
    uint64_t req_start_ns;
    void *user;   /* per-request pointer for deferred handlers */
    unsigned tag; /* the handler's label for this request (its route), 0 none; for on_done */
    void (*on_abort)(http_conn_t *c); /* peer gone while HANDLING */
    http_conn_t *next, *prev;         /* all connections */
    http_conn_t *inext, *iprev;       /* idle keep-alive ones, oldest first */
};

http_server_t *http_server_new(ev_loop_t *loop, int listen_fd, const http_server_conf_t *conf,
                               http_handler_fn handler, void *ctx);
/* Make s share first's buffer pool and per-address table (one worker, several
 * listening sockets: the budget and the cap are the worker's). Before any
 * connection is accepted. */
void http_server_share(http_server_t *s, http_server_t *first);
void http_server_set_observer(http_server_t *s, const http_observer_t *obs);
/* Start/stop accepting (graceful shutdown stops accepting, then drains). */
int http_server_listen(http_server_t *s);
void http_server_stop_accepting(http_server_t *s);
/* Close idle keep-alive connections now and make busy ones close after
 * their current response (graceful shutdown). With a hand-off channel set
 * (reload), connections are handed off instead, each at its next request
 * boundary: call http_server_retire() each loop turn to hand off those that
 * reached one. */
void http_server_drain(http_server_t *s);
void http_server_set_handoff(http_server_t *s, int chan);
void http_server_retire(http_server_t *s);
/* Take over a connection another worker handed off, with the bytes it had
 * read. 0, or -1 (fd closed). */
int http_server_adopt(http_server_t *s, int fd, const void *bytes, size_t n);
/* The port s listens on (to match a handed-off connection to its server). */
int http_server_port(const http_server_t *s);
bufpool_t *http_server_pool(const http_server_t *s);
int http_server_nconns(const http_server_t *s);
void http_server_free(http_server_t *s);
const http_server_conf_t *http_server_conf(const http_server_t *s);
ev_loop_t *http_server_loop(const http_server_t *s);

/* Respond. ctype may be NULL (no body type). body may be NULL with len 0. */
void http_reply(http_conn_t *c, int status, const char *ctype, const void *body, size_t len);
void http_reply_start(http_conn_t *c, int status);
void http_reply_header(http_conn_t *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append ready-made header lines ("Name: value\r\n"...), e.g. a constant
 * block of security headers: no formatting on the hot path. */
void http_reply_headers_raw(http_conn_t *c, const char *lines, size_t n);
void http_reply_finish(http_conn_t *c, const char *ctype, const void *body, size_t len);
/* Simple error page: text/plain "STATUS Reason\nmessage\n". */
void http_reply_error(http_conn_t *c, int status, const char *msg);

/* The code a connection in shm state `state` is in (goroutine profile). */
const void *http_conn_state_code(int state);

#endif
