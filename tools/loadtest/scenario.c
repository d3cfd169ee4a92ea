/*
 * scenario.c - what each connection asks for, and what it keeps from the
 * answers.
 *
 *   generate  GET /login once (CSRF cookie + meta token), then POST
 *             /magic/generate with the header, the cookie and a form email,
 *             over and over - the article's load, done the way a browser does
 *             it, so the server does the real work rather than reject it.
 *   login     the whole flow per iteration: generate, take the link from the
 *             answer (delivery response) or, with --outbox, from the outbox
 *             file (outbox.c), POST /magic/verify/<token>, take the session
 *             cookie, POST the secure page.
 *   original  exactly the article's request: POST /magic/generate with a
 *             random X-CSRF-Token, no cookie and no body. The server answers
 *             403, which is counted as a status, not an error.
 *   get       GET of the URL's path: the request is built once per thread.
 *
 * A connection is a browser: its cookies and token survive reconnects. When
 * the flow breaks (no token in the page, no link in the answer, a 403 because
 * the server's keys changed) it is counted as a flow error and the connection
 * starts again from GET /login. Requests are built with snprintf into the
 * connection's own buffer; the bodies of the few pages the flow reads are
 * captured into a buffer allocated once per connection.
 */
#include "tools/loadtest/loadtest.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const lt_req_names[RQ_KINDS] = {
    "GET /login",
    "POST /magic/generate",
    "POST /magic/verify",
    "POST /secure",
    "POST /magic/generate (original)",
    "GET",
};
const char *const lt_flow_names[FL_KINDS] = {"no_csrf_token", "no_csrf_cookie", "no_link",
                                             "no_session"};

#define INC(p) __atomic_store_n((p), *(p) + 1, __ATOMIC_RELAXED)

static uint64_t rnd(lt_thread_t *t)
{
    /* xorshift64*: the original's random token needs no crypto. */
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void lt_scenario_thread_init(lt_thread_t *t)
{
    const lt_opts_t *o = t->o;
    t->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(t->id + 1) * 0xBF58476D1CE4E5B9ULL) ^ lt_now();
    if (o->scenario == SC_GET) {
        int n = snprintf(t->get_buf, sizeof(t->get_buf), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                         o->path, o->host);
        t->get_req = t->get_buf;
        t->get_len = n > 0 && n < (int)sizeof(t->get_buf) ? (size_t)n : 0;
    }
}

void lt_scenario_conn_init(lt_conn_t *c)
{
    c->step = ST_LOGIN_PAGE;
    c->csrf_cookie[0] = c->token[0] = c->session[0] = c->link[0] = c->location[0] = 0;
}

static void pick_email(lt_conn_t *c)
{
    c->link_ready = 0;
    lt_thread_t *t = c->t;
    const lt_opts_t *o = t->o;
    uint64_t n = t->email_ctr++ * (uint64_t)o->threads + (uint64_t)t->id;
    if (o->nemails) {
        const char *e = o->emails_enc[n % o->nemails];
        size_t l = strlen(e);
        if (l >= sizeof(c->email))
            l = sizeof(c->email) - 1;
        memcpy(c->email, e, l);
        c->email[l] = 0;
        c->email_len = l;
        snprintf(c->email_raw, sizeof(c->email_raw), "%s", o->emails[n % o->nemails]);
    } else {
        int k = snprintf(c->email, sizeof(c->email), "user%llu%%40loadtest.example",
                         (unsigned long long)(n % 100000));
        c->email_len = (size_t)k;
        snprintf(c->email_raw, sizeof(c->email_raw), "user%llu@loadtest.example",
                 (unsigned long long)(n % 100000));
    }
}

static void set_req(lt_conn_t *c, lt_req_kind kind, int capture, int len)
{
    c->kind = kind;
    c->capture = capture;
    c->blen = 0;
    c->wptr = c->wbuf;
    c->wlen = len > 0 && len < LT_WBUF ? (size_t)len : 0;
    c->woff = 0;
}

static void req_original(lt_conn_t *c)
{
    /* What Go's http.Client sends for the article's request. */
    static const char hex[] = "0123456789abcdef";
    char tok[65];
    for (int i = 0; i < 64; i += 16) {
        uint64_t r = rnd(c->t);
        for (int j = 0; j < 16; j++, r >>= 4)
            tok[i + j] = hex[r & 15];
    }
    tok[64] = 0;
    int n = snprintf(c->wbuf, LT_WBUF,
                     "POST /magic/generate HTTP/1.1\r\nHost: %s\r\n"
                     "User-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\n"
                     "X-Csrf-Token: %s\r\nAccept-Encoding: gzip\r\n\r\n",
                     c->t->o->host, tok);
    set_req(c, RQ_ORIGINAL, 0, n);
}

static void req_login_page(lt_conn_t *c)
{
    int n = snprintf(c->wbuf, LT_WBUF, "GET /login HTTP/1.1\r\nHost: %s\r\n\r\n", c->t->o->host);
    c->csrf_cookie[0] = c->token[0] = c->session[0] = 0;
    set_req(c, RQ_LOGIN_PAGE, 1, n);
}

static void req_generate(lt_conn_t *c)
{
    pick_email(c);
    int n = snprintf(c->wbuf, LT_WBUF,
                     "POST /magic/generate HTTP/1.1\r\nHost: %s\r\nCookie: csrf=%s\r\n"
                     "X-CSRF-Token: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Length: %zu\r\n\r\nemail=%s",
                     c->t->o->host, c->csrf_cookie, c->token, c->email_len + 6, c->email);
    set_req(c, RQ_GENERATE, c->t->o->scenario == SC_LOGIN, n);
}

static void req_verify(lt_conn_t *c)
{
    int n = snprintf(c->wbuf, LT_WBUF,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nCookie: csrf=%s\r\n"
                     "X-CSRF-Token: %s\r\nContent-Length: 0\r\n\r\n",
                     c->link, c->t->o->host, c->csrf_cookie, c->token);
    c->session[0] = c->location[0] = 0;
    set_req(c, RQ_VERIFY, 0, n);
}

static void req_secure(lt_conn_t *c)
{
    const char *path = c->location[0] == '/' ? c->location : "/secure/1";
    int n = snprintf(c->wbuf, LT_WBUF,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nCookie: csrf=%s; session=%s\r\n"
                     "X-CSRF-Token: %s\r\nContent-Length: 0\r\n\r\n",
                     path, c->t->o->host, c->csrf_cookie, c->session, c->token);
    set_req(c, RQ_SECURE, 0, n);
}

void lt_scenario_next(lt_conn_t *c)
{
    lt_thread_t *t = c->t;
    switch (t->o->scenario) {
    case SC_GET:
        c->kind = RQ_GET;
        c->capture = 0;
        c->wptr = t->get_req;
        c->wlen = t->get_len;
        c->woff = 0;
        return;
    case SC_ORIGINAL:
        req_original(c);
        return;
    default:
        break;
    }
    switch (c->step) {
    case ST_LOGIN_PAGE:
        req_login_page(c);
        break;
    case ST_GENERATE:
    case ST_WAIT_LINK: /* not sent while waiting; a fresh generate if it were */
        req_generate(c);
        break;
    case ST_VERIFY:
        req_verify(c);
        break;
    default:
        req_secure(c);
        break;
    }
}

/* Copy "name=value" of a Set-Cookie header into dst when the name matches. */
static int take_cookie(const char *v, size_t vl, const char *name, char *dst, size_t cap)
{
    size_t nl = strlen(name);
    if (vl <= nl || memcmp(v, name, nl) != 0 || v[nl] != '=')
        return 0;
    const char *s = v + nl + 1;
    const char *e = memchr(s, ';', vl - nl - 1);
    size_t l = e ? (size_t)(e - s) : vl - nl - 1;
    if (l >= cap)
        l = cap - 1;
    memcpy(dst, s, l);
    dst[l] = 0;
    return 1;
}

void lt_scenario_header(void *ud, const char *n, size_t nl, const char *v, size_t vl)
{
    lt_conn_t *c = ud;
    if (nl == 10 && strncasecmp(n, "set-cookie", 10) == 0) {
        if (!take_cookie(v, vl, "csrf", c->csrf_cookie, sizeof(c->csrf_cookie)))
            take_cookie(v, vl, "session", c->session, sizeof(c->session));
    } else if (nl == 12 && strncasecmp(n, "x-csrf-token", 12) == 0 && vl < sizeof(c->token)) {
        /* sign-in issues a fresh CSRF secret (Set-Cookie) and names its token here */
        memcpy(c->token, v, vl);
        c->token[vl] = 0;
    } else if (nl == 8 && strncasecmp(n, "location", 8) == 0 && vl < sizeof(c->location)) {
        memcpy(c->location, v, vl);
        c->location[vl] = 0;
    }
}

void lt_scenario_body(void *ud, const char *p, size_t n)
{
    lt_conn_t *c = ud;
    if (!c->capture || !c->body)
        return;
    if (n > LT_BODY_CAP - 1 - c->blen)
        n = LT_BODY_CAP - 1 - c->blen;
    memcpy(c->body + c->blen, p, n);
    c->blen += n;
    c->body[c->blen] = 0;
}

/* Copy the run of token characters that starts at p. */
static size_t take_run(const char *p, const char *end, char *dst, size_t cap)
{
    size_t l = 0;
    while (p + l < end && l + 1 < cap) {
        char ch = p[l];
        if (ch == '"' || ch == '\'' || ch == '<' || ch == '>' || ch == ' ' || ch == '\r' ||
            ch == '\n' || ch == '\t' || ch == '&' || ch == '?' || ch == '#')
            break;
        dst[l] = ch;
        l++;
    }
    dst[l] = 0;
    return l;
}

static int find_token(lt_conn_t *c)
{
    static const char meta[] = "name=\"csrf-token\" content=\"";
    if (!c->body || c->blen == 0)
        return 0;
    const char *m = memmem(c->body, c->blen, meta, sizeof(meta) - 1);
    if (!m)
        return 0;
    m += sizeof(meta) - 1;
    return take_run(m, c->body + c->blen, c->token, sizeof(c->token)) > 0;
}

static int find_link(lt_conn_t *c)
{
    static const char pfx[] = "/magic/verify/";
    if (!c->body || c->blen == 0)
        return 0;
    const char *m = memmem(c->body, c->blen, pfx, sizeof(pfx) - 1);
    if (!m)
        return 0;
    return take_run(m, c->body + c->blen, c->link, sizeof(c->link)) > sizeof(pfx) - 1;
}

void lt_scenario_done(lt_conn_t *c, int status)
{
    lt_stats_t *st = &c->t->st;
    lt_scenario_kind sc = c->t->o->scenario;
    if (sc == SC_GET || sc == SC_ORIGINAL)
        return;
    switch (c->step) {
    case ST_LOGIN_PAGE:
        if (status != 200) {
            return; /* counted by status; ask again */
        } else if (!find_token(c)) {
            INC(&st->flow[FL_NO_TOKEN]);
        } else if (c->csrf_cookie[0] == 0) {
            INC(&st->flow[FL_NO_COOKIE]);
        } else {
            c->step = ST_GENERATE;
        }
        return;
    case ST_GENERATE:
        if (status == 403 || status == 400) {
            c->step = ST_LOGIN_PAGE; /* token no longer accepted: start over */
        } else if (sc == SC_LOGIN && status == 200) {
            if (find_link(c) || c->link_ready) {
                c->step = ST_VERIFY;
            } else if (c->t->o->outbox) {
                c->step = ST_WAIT_LINK; /* outbox.c hands the link over */
                c->wait_since = lt_now();
                c->t->nwaiting++;
            } else {
                INC(&st->flow[FL_NO_LINK]);
            }
        }
        return;
    case ST_VERIFY:
        if (status == 303 && c->session[0]) {
            c->step = ST_SECURE;
        } else {
            if (status == 303)
                INC(&st->flow[FL_NO_SESSION]);
            c->step = ST_GENERATE;
        }
        return;
    default:
        c->step = ST_GENERATE;
        return;
    }
}

/* What counts as served: 2xx and 3xx (the login flow's verify answers 303).
 * A 4xx or 5xx is the server saying no, and a load test that measured
 * refusals would report the rate limiter's speed as the server's. The one
 * exception is `original`, the article's tokenless request, which a
 * CSRF-checking server is meant to refuse: its 403 is the expected answer. */
int lt_scenario_status_ok(const lt_opts_t *o, int status)
{
    if (status >= 200 && status < 400)
        return 1;
    return o->scenario == SC_ORIGINAL && status == 403;
}

const char *lt_scenario_ok_statuses(const lt_opts_t *o)
{
    return o->scenario == SC_ORIGINAL ? "2xx/3xx/403" : "2xx/3xx";
}
