/*
 * rlstore.c - rate limits in Redis, on the worker's event loop (see
 * rlstore.h).
 *
 * The loop glue. hiredis' async context asks for read and write interest
 * through five hooks (addRead, delRead, addWrite, delWrite, cleanup); they
 * keep one ev_io's mask in step, and the ev_io's callback hands readiness
 * back (redisAsyncHandleRead / redisAsyncHandleWrite). hiredis 0.14 has no
 * timers of its own, so every check carries an ev_timer: when it fires the
 * check is answered RLS_UNAVAILABLE and the connection is dropped, which
 * answers every other check in flight the same way (a Redis that is slow
 * for one is slow for all: better to decide locally at once than to make
 * each wait its own timeout). A later reply for a check already answered
 * is ignored: the request struct lives until hiredis is done with it, and
 * only its callback pointer is cleared.
 *
 * The script. EVALSHA with the SHA-1 computed here; SCRIPT LOAD goes out
 * first on every new connection, and a NOSCRIPT reply (Redis restarted or
 * flushed its script cache between the two) is answered by sending the
 * same check once more as EVAL, which loads it again. The GCRA is the one
 * of core/ratelimit.c: T = window/limit, tau = (limit-1)*T; allowed iff
 * max(tat, now) - now <= tau, and then tat = max(tat, now) + T, stored
 * with an expiry at tat (past it the key is back to a clean state, so
 * Redis forgets it: memory follows the keys in force). `now` is Redis'
 * TIME, one clock for every node, so nodes whose clocks differ still
 * agree.
 *
 * Up and down. The connection counts as up once Redis has answered on it
 * (the SCRIPT LOAD reply), and as down when a connect fails, the
 * connection drops or a check times out. The node's state is one word in
 * shared memory; a worker that moves it logs the change, so a node with
 * several workers logs it once.
 */
#include "core/rlstore.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "core/log.h"

#define RLS_BACKOFF_MIN_MS 50
#define RLS_BACKOFF_MAX_MS 1000
#define RLS_NAME_PREFIX "magicd:rl:"
#define RLS_NAME_LEN (sizeof RLS_NAME_PREFIX - 1 + 32)

/* KEYS[i] with ARGV[2i-1] = limit, ARGV[2i] = window in ms. Answers
 * {0, 0} when every limit allows, else {i, retry_ms} for the first one
 * that refuses (the ones before it counted this request, as locally). */
const char rlstore_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "for i = 1, #KEYS do\n"
    "  local limit = tonumber(ARGV[2 * i - 1])\n"
    "  local window = tonumber(ARGV[2 * i])\n"
    "  if limit > 0 and window > 0 then\n"
    "    local T = math.floor(window / limit)\n"
    "    if T < 1 then T = 1 end\n"
    "    local tau = T * (limit - 1)\n"
    "    local tat = tonumber(redis.call('GET', KEYS[i])) or now\n"
    "    if tat < now then tat = now end\n"
    "    if tat - now > tau then return {i, tat - tau - now} end\n"
    "    redis.call('SET', KEYS[i], tat + T, 'PX', tat + T - now)\n"
    "  end\n"
    "end\n"
    "return {0, 0}\n";

struct rls_req {
    rlstore_t *s;
    rls_cb cb; /* NULL once answered or cancelled */
    void *arg;
    ev_timer_t timer;
    int n;
    int retried; /* sent again as EVAL after NOSCRIPT */
    char names[RLS_MAX_LIMITS][RLS_NAME_LEN];
    char nums[RLS_MAX_LIMITS][2][24];
};

struct rlstore {
    ev_loop_t *loop;
    redisAsyncContext *ac; /* NULL between connections */
    ev_io_t io;
    int registered;
    int ready;   /* Redis answered on this connection */
    int closing; /* rlstore_free: answer nobody */
    char ip[64];
    int port;
    char where[96]; /* host:port, for the log */
    uint64_t timeout_ms;
    uint64_t backoff_ms;
    ev_timer_t retry;
    uint8_t name_key[32];
    char sha[41];
    _Atomic int64_t *state;
};

static void rls_connect(rlstore_t *s);

/* Move the node's state; the worker that moves it says so. */
static void rls_state(rlstore_t *s, int64_t to, const char *why)
{
    int64_t from = atomic_exchange(s->state, to);

    if (from == to)
        return;
    if (to == RLS_STATE_UP)
        log_notice("rate_limit_store %s: %s; the rate limits hold across nodes", s->where,
                   from == RLS_STATE_DOWN ? "reachable again" : "connected");
    else
        log_warn("rate_limit_store %s unavailable (%s): falling back to this node's own rate "
                 "limits until it is back",
                 s->where, why);
}

/* ---- loop glue ---- */

static void rls_io_cb(ev_loop_t *loop, ev_io_t *io, uint32_t events)
{
    rlstore_t *s = io->data;
    (void)loop;

    if (!s->ac)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        redisAsyncHandleRead(s->ac);
    /* a read may have dropped the connection (s->ac is then NULL) */
    if (s->ac && (events & (EPOLLOUT | EPOLLERR)))
        redisAsyncHandleWrite(s->ac);
}

static void rls_io_set(rlstore_t *s, uint32_t mask)
{
    if (!s->registered) {
        if (ev_io_add(s->loop, &s->io, mask) == 0)
            s->registered = 1;
        return;
    }
    ev_io_mod(s->loop, &s->io, mask);
}

static void rls_add_read(void *p)
{
    rlstore_t *s = p;
    rls_io_set(s, s->io.events | EPOLLIN);
}

static void rls_del_read(void *p)
{
    rlstore_t *s = p;
    rls_io_set(s, s->io.events & ~(uint32_t)EPOLLIN);
}

static void rls_add_write(void *p)
{
    rlstore_t *s = p;
    rls_io_set(s, s->io.events | EPOLLOUT);
}

static void rls_del_write(void *p)
{
    rlstore_t *s = p;
    rls_io_set(s, s->io.events & ~(uint32_t)EPOLLOUT);
}

static void rls_cleanup(void *p)
{
    rlstore_t *s = p;

    if (s->registered)
        ev_io_del(s->loop, &s->io);
    s->registered = 0;
    s->io.events = 0;
    s->io.fd = -1;
}

/* ---- connection ---- */

static void rls_retry_cb(ev_loop_t *loop, ev_timer_t *t)
{
    (void)loop;
    rls_connect(t->data);
}

/* The connection is gone or going: forget it, try again later. Pending
 * checks are answered RLS_UNAVAILABLE by hiredis (NULL replies) when the
 * context is freed. */
static void rls_lost(rlstore_t *s, const char *why)
{
    s->ac = NULL;
    s->ready = 0;
    rls_state(s, RLS_STATE_DOWN, why);
    if (!ev_timer_armed(&s->retry))
        ev_timer_set(s->loop, &s->retry, s->backoff_ms);
    s->backoff_ms = s->backoff_ms * 2 > RLS_BACKOFF_MAX_MS ? RLS_BACKOFF_MAX_MS : s->backoff_ms * 2;
}

/* Drop the connection ourselves (a check timed out). */
static void rls_drop(rlstore_t *s, const char *why)
{
    redisAsyncContext *ac = s->ac;

    if (!ac)
        return;
    rls_lost(s, why);
    redisAsyncFree(ac); /* runs pending callbacks with NULL, then cleanup */
}

static void rls_on_connect(const redisAsyncContext *ac, int status)
{
    rlstore_t *s = ac->ev.data;

    if (status != REDIS_OK && s->ac == ac) /* hiredis frees the context itself */
        rls_lost(s, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void rls_on_disconnect(const redisAsyncContext *ac, int status)
{
    rlstore_t *s = ac->ev.data;
    (void)status;

    if (s->ac == ac) /* not one we dropped ourselves */
        rls_lost(s, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void rls_loaded(redisAsyncContext *ac, void *r, void *priv)
{
    rlstore_t *s = priv;
    redisReply *reply = r;

    if (!reply || s->ac != ac)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        log_warn("rate_limit_store %s: SCRIPT LOAD failed: %s", s->where, reply->str);
        return; /* EVALSHA will say NOSCRIPT and EVAL will load it */
    }
    s->ready = 1;
    s->backoff_ms = RLS_BACKOFF_MIN_MS;
    rls_state(s, RLS_STATE_UP, NULL);
}

static void rls_connect(rlstore_t *s)
{
    redisAsyncContext *ac = redisAsyncConnect(s->ip, s->port);

    if (!ac) {
        rls_lost(s, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        rls_lost(s, why);
        return;
    }
    s->ac = ac;
    s->io.fd = ac->c.fd;
    s->io.events = 0;
    s->io.cb = rls_io_cb;
    s->io.data = s;
    ac->ev.data = s;
    ac->ev.addRead = rls_add_read;
    ac->ev.delRead = rls_del_read;
    ac->ev.addWrite = rls_add_write;
    ac->ev.delWrite = rls_del_write;
    ac->ev.cleanup = rls_cleanup;
    redisAsyncSetConnectCallback(ac, rls_on_connect);
    redisAsyncSetDisconnectCallback(ac, rls_on_disconnect);
    /* Queued until the connect completes, then sent ahead of any check. */
    if (redisAsyncCommand(ac, rls_loaded, s, "SCRIPT LOAD %s", rlstore_script) != REDIS_OK)
        rls_drop(s, "SCRIPT LOAD could not be queued");
}

/* ---- checks ---- */

static void rls_answer(rls_req_t *q, int verdict, uint64_t retry)
{
    rls_cb cb = q->cb;

    q->cb = NULL;
    if (ev_timer_armed(&q->timer))
        ev_timer_del(q->s->loop, &q->timer);
    if (cb)
        cb(q->arg, verdict, retry);
}

static int rls_send(rls_req_t *q, int full);

static void rls_reply(redisAsyncContext *ac, void *r, void *priv)
{
    rls_req_t *q = priv;
    redisReply *reply = r;
    (void)ac;

    if (!q->cb || q->s->closing) { /* answered already (timeout), cancelled, or shutting down */
        if (ev_timer_armed(&q->timer))
            ev_timer_del(q->s->loop, &q->timer);
        free(q);
        return;
    }
    if (!reply) { /* the connection is gone */
        rls_answer(q, RLS_UNAVAILABLE, 0);
        free(q);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && !q->retried && !strncmp(reply->str, "NOSCRIPT", 8)) {
        q->retried = 1;
        if (rls_send(q, 1) == 0)
            return; /* the same q rides on the EVAL */
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_INTEGER) {
        long long i = reply->element[0]->integer, ms = reply->element[1]->integer;
        rls_answer(q, i >= 1 && i <= q->n ? (int)(i - 1) : RLS_ALLOWED, ms > 0 ? (uint64_t)ms : 0);
    } else {
        log_warn("rate_limit_store %s: unexpected answer (%s): this request uses the local limits",
                 q->s->where, reply->type == REDIS_REPLY_ERROR ? reply->str : "not {i, ms}");
        rls_answer(q, RLS_UNAVAILABLE, 0);
    }
    free(q);
}

static void rls_timeout(ev_loop_t *loop, ev_timer_t *t)
{
    rls_req_t *q = t->data;
    rlstore_t *s = q->s;
    (void)loop;

    rls_answer(q, RLS_UNAVAILABLE, 0); /* q itself is freed by its reply callback */
    rls_drop(s, "no answer in rate_limit_store_timeout");
}

/* EVALSHA (or, full, EVAL) sha 2n keys... limits... */
static int rls_send(rls_req_t *q, int full)
{
    rlstore_t *s = q->s;
    const char *argv[3 + 3 * RLS_MAX_LIMITS];
    size_t len[3 + 3 * RLS_MAX_LIMITS];
    char nkeys[8];
    int a = 0;

    if (!s->ac)
        return -1;
    snprintf(nkeys, sizeof nkeys, "%d", q->n);
    argv[a] = full ? "EVAL" : "EVALSHA";
    len[a] = strlen(argv[a]);
    a++;
    argv[a] = full ? rlstore_script : s->sha;
    len[a++] = full ? sizeof rlstore_script - 1 : 40;
    argv[a] = nkeys;
    len[a] = strlen(nkeys);
    a++;
    for (int i = 0; i < q->n; i++) {
        argv[a] = q->names[i];
        len[a++] = RLS_NAME_LEN;
    }
    for (int i = 0; i < q->n; i++)
        for (int j = 0; j < 2; j++) {
            argv[a] = q->nums[i][j];
            len[a] = strlen(q->nums[i][j]);
            a++;
        }
    return redisAsyncCommandArgv(s->ac, rls_reply, q, a, argv, len) == REDIS_OK ? 0 : -1;
}

/* RLS_NAME_PREFIX + hex of the first 16 bytes of HMAC-SHA256(name_key, key). */
static void rls_name(const rlstore_t *s, const char *key, size_t klen, char out[RLS_NAME_LEN])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mlen = 0;
    size_t p = sizeof RLS_NAME_PREFIX - 1;

    HMAC(EVP_sha256(), s->name_key, sizeof s->name_key, (const uint8_t *)key, klen, mac, &mlen);
    memcpy(out, RLS_NAME_PREFIX, p);
    for (int i = 0; i < 16; i++) {
        out[p++] = hex[mac[i] >> 4];
        out[p++] = hex[mac[i] & 15];
    }
}

int rlstore_hit(rlstore_t *s, const rls_limit_t *lims, int n, rls_cb cb, void *arg, rls_req_t **req)
{
    rls_req_t *q;

    if (!s || !s->ac || n < 1 || n > RLS_MAX_LIMITS)
        return -1;
    /* A reconnect in progress after an outage: decide locally rather than
     * wait for a connect that may not come. (At start, the first checks
     * wait for the first connection, within the timeout.) */
    if (!s->ready && atomic_load(s->state) == RLS_STATE_DOWN)
        return -1;
    q = calloc(1, sizeof *q);
    if (!q)
        return -1;
    q->s = s;
    q->n = n;
    for (int i = 0; i < n; i++) {
        rls_name(s, lims[i].key, lims[i].klen, q->names[i]);
        snprintf(q->nums[i][0], sizeof q->nums[i][0], "%d", lims[i].limit);
        snprintf(q->nums[i][1], sizeof q->nums[i][1], "%llu",
                 (unsigned long long)lims[i].window_ms);
    }
    if (rls_send(q, 0) < 0) {
        free(q);
        return -1;
    }
    q->cb = cb;
    q->arg = arg;
    ev_timer_init(&q->timer, rls_timeout, q);
    ev_timer_set(s->loop, &q->timer, s->timeout_ms);
    *req = q;
    return 0;
}

void rlstore_cancel(rls_req_t *q)
{
    if (!q)
        return;
    q->cb = NULL;
    if (ev_timer_armed(&q->timer))
        ev_timer_del(q->s->loop, &q->timer);
}

int rlstore_up(const rlstore_t *s)
{
    return s && s->ac && s->ready;
}

rlstore_t *rlstore_new(ev_loop_t *loop, const char *host, const char *port, uint64_t timeout_ms,
                       const uint8_t name_key[32], _Atomic int64_t *state, char *err, size_t errsz)
{
    struct addrinfo hints, *ai = NULL;
    rlstore_t *s;
    uint8_t sha[SHA_DIGEST_LENGTH];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errsz, "rate_limit_store: cannot resolve \"%s\": %s", host, gai_strerror(rc));
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, s->ip, sizeof s->ip, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(ai);
    if (rc != 0) {
        free(s);
        snprintf(err, errsz, "rate_limit_store: \"%s\": %s", host, gai_strerror(rc));
        return NULL;
    }
    s->loop = loop;
    s->port = atoi(port);
    snprintf(s->where, sizeof s->where, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
    s->timeout_ms = timeout_ms ? timeout_ms : 1;
    s->backoff_ms = RLS_BACKOFF_MIN_MS;
    s->io.fd = -1;
    s->state = state;
    memcpy(s->name_key, name_key, sizeof s->name_key);
    SHA1((const uint8_t *)rlstore_script, sizeof rlstore_script - 1, sha);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", sha[i]);
    ev_timer_init(&s->retry, rls_retry_cb, s);
    rls_connect(s);
    return s;
}

void rlstore_free(rlstore_t *s)
{
    if (!s)
        return;
    if (ev_timer_armed(&s->retry))
        ev_timer_del(s->loop, &s->retry);
    s->closing = 1;
    if (s->ac) {
        redisAsyncContext *ac = s->ac;
        s->ac = NULL;
        redisAsyncFree(ac);
    }
    free(s);
}
