/*
 * test_http_conn.c - the HTTP connection state machine over a socketpair.
 *
 * The server end of a socketpair is given to a real http_server_t (as a
 * connection handed off by another worker would be, http_server_adopt) and
 * the test drives the event loop while writing and reading the client end:
 * pipelined requests answered in order, 100-continue, a deferred reply
 * holding back the pipelined request behind it, back-pressure against a
 * client that pipelines and reads nothing, the body deadline against a
 * trickled body, the buffer budget, and an idle connection holding no
 * buffer memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/http_conn.h"
#include "core/log.h"
#include "tests/unit/unit.h"

static int nhandled;
static http_conn_t *deferred;
static const char *deferred_path; /* points into the connection's input buffer */
static char big[8192];

static void handler(http_conn_t *c, http_request_t *req, void *ctx)
{
    (void)ctx;
    nhandled++;
    if (http_str_eq(req->path, "/defer")) {
        deferred = c; /* answered later by the test */
        deferred_path = req->path.p;
        return;
    }
    if (http_str_eq(req->path, "/big")) {
        http_reply(c, 200, "text/plain", big, sizeof big);
        return;
    }
    if (req->body_len) {
        http_reply(c, 200, "text/plain", req->body, req->body_len);
        return;
    }
    /* the path without its slash is the body: "/a" -> "a" */
    http_reply(c, 200, "text/plain", req->path.p + 1, req->path.n - 1);
}

typedef struct {
    ev_loop_t *loop;
    http_server_t *srv;
    int cli;
} fixture_t;

static void setup(fixture_t *f, uint64_t body_timeout, uint64_t body_deadline, size_t budget)
{
    http_server_conf_t hc = {
        .lim = {.max_request_line = 1024, .max_header_bytes = 4096, .max_headers = 32},
        .max_body = 4096,
        .header_timeout_ms = 5000,
        .body_timeout_ms = body_timeout,
        .body_deadline_ms = body_deadline,
        .idle_timeout_ms = 5000,
        .send_timeout_ms = 5000,
        .max_connections = 16,
        .buffer_budget = budget,
    };
    f->loop = ev_loop_new();
    f->srv = http_server_new(f->loop, -1, &hc, handler, NULL);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    f->cli = sv[0];
    CHECK(http_server_adopt(f->srv, sv[1], NULL, 0) == 0);
    nhandled = 0;
    deferred = NULL;
}

static void teardown(fixture_t *f)
{
    close(f->cli);
    http_server_free(f->srv);
    ev_loop_free(f->loop);
}

static void spin(fixture_t *f, int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (clock_mono_ms() < end)
        ev_run_once(f->loop, 5);
}

static void send_all(fixture_t *f, const char *s)
{
    size_t n = strlen(s), o = 0;
    while (o < n) {
        ssize_t w = write(f->cli, s + o, n - o);
        if (w > 0)
            o += (size_t)w;
        else
            spin(f, 5);
    }
}

/* Everything the client can read now (after spinning the loop). */
static size_t drain(fixture_t *f, char *buf, size_t cap, int ms)
{
    size_t n = 0;
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    while (clock_mono_ms() < end && n < cap - 1) {
        ev_run_once(f->loop, 5);
        ssize_t r;
        while (n < cap - 1 && (r = read(f->cli, buf + n, cap - 1 - n)) > 0)
            n += (size_t)r;
    }
    buf[n] = 0;
    return n;
}

static int count(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        k++;
    return k;
}

static void test_pipelining(void)
{
    fixture_t f;
    setup(&f, 5000, 30000, 0);
    send_all(&f, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /bb HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /ccc HTTP/1.1\r\nHost: x\r\n\r\n");
    char buf[8192];
    drain(&f, buf, sizeof buf, 100);
    CHECK(nhandled == 3, "%d handled", nhandled);
    CHECK(count(buf, "HTTP/1.1 200 OK") == 3, "%s", buf);
    char *a = strstr(buf, "\r\n\r\na"), *b = strstr(buf, "\r\n\r\nbb"),
         *c = strstr(buf, "\r\n\r\nccc");
    CHECK(a && b && c && a < b && b < c, "answers in request order: %s", buf);
    CHECK(bufpool_used(http_server_pool(f.srv)) == 0, "an idle connection holds %zu bytes",
          bufpool_used(http_server_pool(f.srv)));
    teardown(&f);
}

static void test_continue(void)
{
    fixture_t f;
    setup(&f, 5000, 30000, 0);
    send_all(&f,
             "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    char buf[4096];
    drain(&f, buf, sizeof buf, 50);
    CHECK(!strcmp(buf, "HTTP/1.1 100 Continue\r\n\r\n"), "got %s", buf);
    CHECK(nhandled == 0);
    send_all(&f, "hello");
    drain(&f, buf, sizeof buf, 50);
    CHECK(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\r\n\r\nhello"), "got %s", buf);
    CHECK(nhandled == 1);
    teardown(&f);
}

static void test_deferred(void)
{
    fixture_t f;
    setup(&f, 5000, 30000, 0);
    send_all(&f, "GET /defer HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    char buf[4096];
    size_t n = drain(&f, buf, sizeof buf, 50);
    CHECK(n == 0, "nothing before the deferred answer: %s", buf);
    CHECK(nhandled == 1, "the pipelined request waits behind the deferred one (%d)", nhandled);
    CHECK(deferred != NULL);
    /* More pipelined requests than the input buffer holds arrive while the
     * deferred handler runs: the buffer its request points into must not
     * move (no growth while HANDLING), the rest waits in the socket. */
    const char *was = deferred ? deferred->in.data : NULL;
    static char more[64 * 300 + 1];
    for (int i = 0; i < 300; i++)
        strcat(more, "GET /m HTTP/1.1\r\nHost: x\r\n\r\n");
    ssize_t w = write(f.cli, more, strlen(more));
    CHECK(w == (ssize_t)strlen(more), "wrote %zd", w);
    spin(&f, 50);
    CHECK(deferred && deferred->in.data == was, "the input buffer moved under a deferred handler");
    CHECK(deferred_path && !memcmp(deferred_path, "/defer", 6), "the request's strings stay valid");
    CHECK(nhandled == 1);
    if (deferred)
        http_reply(deferred, 200, "text/plain", "late", 4);
    static char big_out[64 * 1024];
    drain(&f, big_out, sizeof big_out, 200);
    char *late = strstr(big_out, "\r\n\r\nlate"), *after = strstr(big_out, "\r\n\r\nafter");
    CHECK(late && after && late < after, "deferred answer first, then the next: %.200s", big_out);
    CHECK(nhandled == 302, "all pipelined answered (%d)", nhandled);
    teardown(&f);
}

static void test_backpressure(void)
{
    fixture_t f;
    setup(&f, 5000, 30000, 0);
    int small = 4096;
    setsockopt(f.cli, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    char req[64 * 200 + 1] = "";
    for (int i = 0; i < 200; i++)
        strcat(req, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    send_all(&f, req);
    spin(&f, 100);
    /* 200 answers of 8 KB = 1.6 MB: the socket's buffers hold a part, our
     * output buffer at most OUT_HIGH more, and parsing waits. */
    CHECK(nhandled < 200, "a client that reads nothing got %d answers built", nhandled);
    size_t held = bufpool_used(http_server_pool(f.srv));
    CHECK(held < 64 * 1024, "the server holds %zu bytes for it", held);
    static char buf[4 << 20];
    size_t n = drain(&f, buf, sizeof buf, 1000);
    CHECK(nhandled == 200, "all answered once the client reads (%d)", nhandled);
    CHECK(n > 200 * sizeof big, "whole answers (%zu bytes)", n);
    CHECK(count(buf, "HTTP/1.1 200 OK") == 200);
    teardown(&f);
}

static void test_body_deadline(void)
{
    fixture_t f;
    setup(&f, 200, 400, 0); /* a gap of 200 ms, the whole body in 400 ms */
    send_all(&f, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    uint64_t t0 = clock_mono_ms();
    char buf[4096];
    size_t n = 0;
    while (clock_mono_ms() - t0 < 2000 && n == 0) {
        ssize_t w = write(f.cli, "e", 1); /* a byte every 100 ms: never a 200 ms gap */
        (void)w;
        n = drain(&f, buf, sizeof buf, 100);
    }
    uint64_t took = clock_mono_ms() - t0;
    CHECK(strstr(buf, "HTTP/1.1 408"), "a trickled body gets 408: %s", buf);
    CHECK(took >= 350 && took < 900, "after the 400 ms deadline, not the gap timer (%llu ms)",
          (unsigned long long)took);
    teardown(&f);
}

static void test_budget(void)
{
    fixture_t f;
    setup(&f, 5000, 30000, 6 * 1024); /* room for the request state and one chunk */
    send_all(&f, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n");
    char body[3001];
    memset(body, 'b', 3000);
    body[3000] = 0;
    send_all(&f, body);
    char buf[8192];
    drain(&f, buf, sizeof buf, 100);
    CHECK(strstr(buf, "HTTP/1.1 503"), "past the budget: 503, got %.60s", buf);
    CHECK(nhandled == 0);
    CHECK(bufpool_used(http_server_pool(f.srv)) == 0, "memory given back");
    teardown(&f);
}

int main(void)
{
    log_open("stderr", MG_LOG_CRIT);
    memset(big, 'x', sizeof big);
    test_pipelining();
    test_continue();
    test_deferred();
    test_backpressure();
    test_body_deadline();
    test_budget();
    return unit_done("test_http_conn");
}
