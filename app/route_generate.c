/*
 * route_generate.c - POST /magic/generate: issue and deliver a magic link.
 *
 * Order of checks, cheapest and most abusable first:
 *   1. CSRF (cookie + X-CSRF-Token header, constant-time)      -> 403
 *   2. per-client-IP rate limit (the client behind trusted proxies,
 *      IPv6 per /64)                                              -> 429
 *   3. the email, from a urlencoded form or a JSON body          -> 400/415
 *   4. per-email rate limit                                      -> 429
 *      (2 and 4 are one check, app/rate_check.h: with rate_limit_store
 *      one round trip to the Redis every node shares, the request parked
 *      meanwhile)
 *   5. who may sign in (app/access.h): an address outside the configured
 *      domains gets a clear "not allowed" page                  -> 403
 *   6. look the user up; if known (or allowed to join), seal a link bound
 *      to this browser's CSRF token, with the return-to (field `rd`, when
 *      allowed_return_urls allows it), and deliver it with a 6-digit
 *      code; the page gets the code's sealed ticket (app/signin_code.h),
 *      the mail the language picked from Accept-Language and who asked.
 *   7. with `delivery smtp` the request is parked (gen_park) until the
 *      worker's group commit has the link on stable storage, and with
 *      `delivery outbox` until the loop iteration's outbox lines are
 *      written (one write for all of them); an address without an
 *      account rides in the same batch as a decoy.
 * The answer is the same page whether or not the address has an account:
 * a token is sealed either way, and an unknown address gets a decoy that
 * does the known address's durable write without delivering anything (in
 * the outbox and the smtp batch, deliver_decoy_async), so
 * the two cost the same and fail the same way (a full disk answers 503 to
 * both). The endpoint does not reveal who has an account.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base64url.h"
#include "core/clock.h"
#include "core/freelist.h"
#include "core/log.h"
#include "core/realip.h"
#include "core/metrics.h"
#include "core/spool.h"
#include "app/access.h"
#include "core/strcat.h"
#include "app/body.h"
#include "app/client.h"
#include "app/delivery.h"
#include "app/email.h"
#include "app/mail.h"
#include "app/page.h"
#include "app/park.h"
#include "app/rate_check.h"
#include "app/return_to.h"
#include "app/routes.h"
#include "app/signin_code.h"
#include "app/store_async.h"
#include "app/token.h"

#define LINK_MAX TOKEN_LINK_MAX
/* A link is one line of a mail, and the mailer refuses lines past 900
 * bytes; a return-to that would make the link longer is dropped (the
 * browser lands on default_return_url) rather than the link lost. */
#define LINK_URL_SAFE 900

/* The return-to the form or JSON body carries, canonical when allowed, else
 * "" (the default applies at verify). */
static void read_rd(const app_t *app, const http_request_t *req, char out[RETURN_URL_MAX + 1])
{
    char raw[RETURN_URL_MAX + 1];
    out[0] = 0;
    if (body_text(req, "rd", raw, sizeof raw) == 1)
        return_to_allowed(&app->conf->auth, raw, strlen(raw), out);
}

/* public_url/magic/verify/TOKEN into out (no printf: this is per request).
 * The base of links is public_url and nothing else: a Host header (or an
 * absolute-form target, or X-Forwarded-Host) is whatever the client wants
 * it to be, and a link built from it would mail the victim's token to the
 * attacker's server. The config check refuses to start without public_url
 * except for `delivery response`, where the page links relatively. */
static void link_url(const app_t *app, const char *token, char *out, size_t n)
{
    sc_t s = sc_init(out, n);
    const char *pub = app->conf->http.public_url;
    size_t l = strlen(pub);

    sc_mem(&s, pub, l && pub[l - 1] == '/' ? l - 1 : l);
    sc_str(&s, "/magic/verify/");
    sc_str(&s, token);
}

/* The per-email key. With rate_limit_email_fold_tags, user+tag@domain is
 * user@domain: one mailbox, one limit, however many tags an attacker
 * invents to flood it. */
static int email_key(const conf_t *cf, const char *email, char *out, size_t n)
{
    size_t len = strlen(email), plus = strcspn(email, "+"), at = len;
    sc_t k = sc_init(out, n);

    while (at > 0 && email[at - 1] != '@')
        at--;
    sc_str(&k, "e:");
    if (cf->rate.email_fold_tags && at > 0 && plus > 0 && plus < at - 1) {
        sc_mem(&k, email, plus);
        sc_str(&k, email + at - 1); /* "@domain" */
    } else {
        sc_str(&k, email);
    }
    return sc_ok(&k) ? (int)sc_len(&k) : -1;
}

static void gen_answer(app_t *app, http_conn_t *c, const char *email, const char *link_html,
                       const char *ticket)
{
    char ttl[24];
    sc_t t = sc_init(ttl, sizeof ttl);
    sc_u64(&t, mail_ttl_minutes(app->conf->auth.link_ttl_ms / 1000));
    /* The ticket is base64url (token_code_seal), which has nothing to
     * escape: inserted as is, like the digits of ttl_minutes. */
    tpl_var_t v[] = {{"email", email, 0},
                     {"ttl_minutes", ttl, 1},
                     {"link_html", link_html, 1},
                     {"ticket", ticket, 1}};
    page_render(app, c, 200, TPL_SENT, v, 4);
}

/* What the mail says besides the link: the code, the language the browser
 * asked for, and who asked (the client behind trusted proxies). ua and ip
 * are the caller's buffers. */
static void gen_meta(app_t *app, http_conn_t *c, const http_request_t *req, const char *code,
                     char ua[SPOOL_UA_MAX + 1], char ip[64], spool_meta_t *meta)
{
    const http_str_t *al = http_header(req, "Accept-Language");
    size_t un = req->user_agent.n < SPOOL_UA_MAX ? req->user_agent.n : SPOOL_UA_MAX;

    memcpy(ua, req->user_agent.p ? req->user_agent.p : "", un);
    ua[un] = '\0';
    meta->code = code;
    meta->lang = mail_negotiate(&app->mail, al ? al->p : NULL, al ? al->n : 0);
    client_addr(app->conf, c, req, ip, 64);
    meta->ip = ip;
    meta->ua = ua;
}

/* A request parked until its link (or decoy) is durable. */
typedef struct {
    app_t *app;
    http_conn_t *c;
    int known;
    char email[EMAIL_MAX + 1];
    char ticket[TOKEN_CODE_MAX];
} gen_wait_t;

/* Every generate parks twice (the lookup, then the durable write), with a
 * whole loop iteration's requests parked at once: the structs come from
 * free lists of this worker, not from malloc each time (core/freelist.h). */
static freelist_t gen_waits = FREELIST_INIT(sizeof(gen_wait_t));

static void gen_durable(void *arg, int rc)
{
    gen_wait_t *w = arg;
    http_conn_t *c = w->c;

    c->user = NULL;
    c->on_abort = NULL;
    if (rc < 0) {
        log_err("delivering the link for %s failed: %s", w->email,
                deliver_async_error(w->app->deliver));
        mx_inc(&w->app->self->metrics, MX_DELIVERY_ERRORS);
        page_error(w->app, c, 503, "The sign-in link could not be sent. Try again shortly.");
    } else {
        if (w->known)
            mx_inc(&w->app->self->metrics, MX_LINKS_ISSUED);
        gen_answer(w->app, c, w->email, "", w->ticket);
    }
    freelist_put(&gen_waits, w);
}

static void gen_abort(http_conn_t *c)
{
    gen_wait_t *w = c->user;

    if (!w)
        return;
    deliver_cancel(w->app->deliver, w);
    c->user = NULL;
    freelist_put(&gen_waits, w);
}

static void gen_park(app_t *app, http_conn_t *c, const char *email, const char *url, uint64_t exp,
                     const uint8_t id[16], int known, const spool_meta_t *meta, const char *ticket)
{
    gen_wait_t *w = freelist_get(&gen_waits);
    ev_loop_t *loop = http_server_loop(c->srv);
    int rc;

    if (!w) {
        page_error(app, c, 503, "The sign-in service is unavailable. Try again shortly.");
        return;
    }
    w->app = app;
    w->c = c;
    w->known = known;
    sc_t e = sc_init(w->email, sizeof w->email);
    sc_str(&e, email);
    sc_t tk = sc_init(w->ticket, sizeof w->ticket);
    sc_str(&tk, ticket);
    rc = known ? deliver_send_async(app->deliver, loop, email, url, exp, id, meta, gen_durable, w)
               : deliver_decoy_async(app->deliver, loop, email, url, exp, id, meta, gen_durable, w);
    if (rc < 0) {
        mx_inc(&app->self->metrics, MX_DELIVERY_ERRORS);
        log_err("delivering the link for %s failed: %s", email, deliver_error(app->deliver));
        freelist_put(&gen_waits, w);
        page_error(app, c, 503, "The sign-in link could not be sent. Try again shortly.");
        return;
    }
    c->user = w;
    c->on_abort = gen_abort;
}

static void gen_link(app_t *app, http_conn_t *c, const char *email, int known);

/* A request waiting for the store's answer about its address (step 6):
 * parked on a PostgreSQL store, answered at once on SQLite. */
typedef struct {
    park_t park;
    app_t *app;
    int joining; /* the signup insert is in flight */
    char email[EMAIL_MAX + 1];
} gen_lookup_t;

static freelist_t gen_lookups = FREELIST_INIT(sizeof(gen_lookup_t));

static void gen_known(void *arg, int known);

static void gen_joined(void *arg, int r)
{
    /* A failed signup insert leaves the address unknown (a decoy), as
     * before: the page does not change. */
    gen_known(arg, r >= 0 ? 1 : 0);
}

static void gen_known(void *arg, int known)
{
    gen_lookup_t *g = arg;
    app_t *app = g->app;

    if (g->park.c && known == 0 && !g->joining && access_may_join(&app->conf->auth, g->email)) {
        g->joining = 1;
        park_hold(&g->park, g->park.c);
        SA_CALL(&app->sa, user_add, g->email, gen_joined, g);
        return;
    }
    http_conn_t *c = park_conn(&g->park);
    if (c && known < 0) {
        log_err("user lookup failed: %s", sa_error(&app->sa));
        page_store_down(app, c);
    } else if (c) {
        gen_link(app, c, g->email, known);
    }
    freelist_put(&gen_lookups, g);
}

static void gen_lookup(app_t *app, http_conn_t *c, const char *email, uint64_t now_ms)
{
    gen_lookup_t *g = freelist_get(&gen_lookups);

    if (!g) {
        page_error(app, c, 503, "The sign-in service is unavailable. Try again shortly.");
        return;
    }
    g->app = app;
    g->joining = 0;
    sc_t e = sc_init(g->email, sizeof g->email);
    sc_str(&e, email);
    park_hold(&g->park, c);
    SA_CALL(&app->sa, user_exists, g->email, now_ms, gen_known, g);
}

/* After the limits (rate_check): answer 429, 415 or 400, or go on. */
static void gen_limited(app_t *app, http_conn_t *c, http_request_t *req, int which, uint64_t retry);

/* The address route_generate read from the body, for gen_limited. With the
 * local limiter gen_limited runs before route_generate returns, and
 * reading the body a second time (form decoding, normalising) was more
 * than 1% of a generate. A check parked on rate_limit_store may find
 * another request's here; it is told apart by the request and body it
 * was read from (a request in HANDLING keeps both where they are, so no
 * other can have them meanwhile) and reads its own again. */
static struct {
    const http_request_t *req;
    const char *body;
    size_t body_len;
    int r; /* body_email's answer */
    char email[EMAIL_MAX + 1];
} gen_body;

static int gen_email(const http_request_t *req, char email[EMAIL_MAX + 1])
{
    if (gen_body.req == req && gen_body.body == req->body && gen_body.body_len == req->body_len) {
        memcpy(email, gen_body.email, sizeof gen_body.email);
        return gen_body.r;
    }
    return body_email(req, email, EMAIL_MAX + 1);
}

void route_generate(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg; /* an exact path: nothing after it */
    const conf_t *cf = app->conf;
    if (!page_csrf_ok(app, req)) {
        page_error(app, c, 403, "Missing or invalid CSRF token. Reload the sign-in page.");
        return;
    }
    /* Both limits in one check (with rate_limit_store, one round trip):
     * the per-IP key first, then, when the body names a valid address, the
     * per-email key. A request the IP limit refuses does not count against
     * the address; a malformed body still counts against the IP. */
    rate_limit_t lims[RATE_CHECK_MAX];
    int n = 0, kn = client_key(cf, c, req, "i:", lims[0].key, sizeof lims[0].key);
    if (kn < 0) {
        mx_inc(&app->self->metrics, MX_RATE_IP);
        page_rate_limited(app, c, 0, "from your address");
        return;
    }
    lims[n].klen = (size_t)kn;
    lims[n].limit = cf->rate.ip_n;
    lims[n++].window_ms = cf->rate.ip_window_ms;
    char email[EMAIL_MAX + 1];
    gen_body.req = req;
    gen_body.body = req->body;
    gen_body.body_len = req->body_len;
    gen_body.r = body_email(req, gen_body.email, sizeof gen_body.email);
    if (gen_body.r <= 0)
        gen_body.email[0] = '\0';
    memcpy(email, gen_body.email, sizeof email);
    if (gen_body.r > 0 && (kn = email_key(cf, email, lims[1].key, sizeof lims[1].key)) >= 0) {
        lims[n].klen = (size_t)kn;
        lims[n].limit = cf->rate.email_n;
        lims[n++].window_ms = cf->rate.email_window_ms;
    }
    rate_check(app, c, req, lims, n, gen_limited);
}

static void gen_allowed(app_t *app, http_conn_t *c, http_request_t *req, const char *email);

static void gen_limited(app_t *app, http_conn_t *c, http_request_t *req, int which, uint64_t retry)
{
    if (which == 0) {
        mx_inc(&app->self->metrics, MX_RATE_IP);
        page_rate_limited(app, c, retry, "from your address");
        return;
    }
    char email[EMAIL_MAX + 1], key[RATE_KEY_MAX];
    int r = gen_email(req, email);
    if (r < 0) {
        page_error(app, c, 415, "Send the form as application/x-www-form-urlencoded or JSON.");
        return;
    }
    if (r == 0) {
        page_error(app, c, 400, "A valid email address is required.");
        return;
    }
    if (which == 1 || email_key(app->conf, email, key, sizeof key) < 0) {
        mx_inc(&app->self->metrics, MX_RATE_EMAIL);
        page_rate_limited(app, c, retry, "for this address");
        return;
    }
    gen_allowed(app, c, req, email);
}

static void gen_allowed(app_t *app, http_conn_t *c, http_request_t *req, const char *email)
{
    (void)req; /* c->req, until the answer */
    const conf_t *cf = app->conf;
    uint64_t now_ms = ev_now(http_server_loop(c->srv)); /* monotonic; this iteration's */

    if (!access_domain_ok(&cf->auth, email)) {
        char msg[CONF_MAX_EMAIL_DOMAINS * 260];
        access_refusal(&cf->auth, msg, sizeof msg);
        page_refuse(app, c, 403, "Not allowed to sign in here", msg);
        return;
    }
    gen_lookup(app, c, email, now_ms);
}

/* Steps 6 and 7, once the store said whether email has an account. */
static void gen_link(app_t *app, http_conn_t *c, const char *email, int known)
{
    const conf_t *cf = app->conf;
    http_request_t *req = c->req;
    uint64_t now = (uint64_t)time(NULL);
    link_claims_t cl;
    memset(&cl, 0, sizeof cl);
    _Static_assert(EMAIL_MAX < sizeof cl.email, "an address fits a link");
    memcpy(cl.email, email, strlen(email) + 1);
    if (csrf_binding(req->csrf_header.p, req->csrf_header.n, cl.bind) < 0) {
        page_error(app, c, 500, "Could not create a sign-in link.");
        return;
    }
    cl.iat = now;
    cl.exp = now + cf->auth.link_ttl_ms / 1000;
    read_rd(app, req, cl.rd);
    char token[LINK_MAX], url[LINK_MAX + 300];
    uint8_t id[16];
    if (token_link_seal_id(&app->keys, &cl, id, token, sizeof token) < 0) {
        page_error(app, c, 500, "Could not create a sign-in link.");
        return;
    }
    link_url(app, token, url, sizeof url);
    if (strlen(url) > LINK_URL_SAFE && cl.rd[0]) {
        log_info("return-to for %s dropped: the link would be %zu bytes long", email, strlen(url));
        cl.rd[0] = 0;
        memcpy(cl.id, id, sizeof id); /* same link id, sealed again without it */
        if (token_link_seal_id(&app->keys, &cl, id, token, sizeof token) < 0) {
            page_error(app, c, 500, "Could not create a sign-in link.");
            return;
        }
        link_url(app, token, url, sizeof url);
    }
    /* The code and its ticket are made whether or not the address is known,
     * like the link: the answer costs the same either way. */
    char code[SIGNIN_CODE_DIGITS + 1], ticket[TOKEN_CODE_MAX], ua[SPOOL_UA_MAX + 1], ip[64];
    code_ticket_t ct;
    memset(&ct, 0, sizeof ct);
    memcpy(ct.email, cl.email, sizeof ct.email);
    memcpy(ct.rd, cl.rd, sizeof ct.rd);
    memcpy(ct.id, id, sizeof ct.id);
    memcpy(ct.bind, cl.bind, sizeof ct.bind);
    ct.iat = cl.iat;
    ct.exp = cl.exp;
    ct.known = known == 1;
    if (signin_code_new(code) < 0) {
        page_error(app, c, 500, "Could not create a sign-in code.");
        return;
    }
    signin_code_mac(&app->keys.cur, id, code, ct.mac);
    if (token_code_seal(&app->keys, &ct, ticket, sizeof ticket) < 0) {
        page_error(app, c, 500, "Could not create a sign-in code.");
        return;
    }
    spool_meta_t meta;
    gen_meta(app, c, req, code, ua, ip, &meta);
    if (deliver_is_async(app->deliver)) {
        /* smtp and outbox: the answer waits for the group write. An
         * address without an account waits for the same batch with a
         * decoy. */
        gen_park(app, c, email, url, cl.exp, id, known == 1, &meta, ticket);
        return;
    }
    /* An address without an account gets a decoy: the same write, the same
     * cost, the same failure on a full disk (deliver_decoy), so neither the
     * answer nor its timing says whether the address is known. */
    char link_html[LINK_MAX + 200] = "";
    int rc = known == 1 ? deliver_send(app->deliver, email, url, cl.exp, id, &meta)
                        : deliver_decoy(app->deliver, email, url, cl.exp, id, &meta);
    if (rc < 0) {
        mx_inc(&app->self->metrics, MX_DELIVERY_ERRORS);
        log_err("delivering the link for %s failed: %s", email, deliver_error(app->deliver));
        page_error(app, c, 503, "The sign-in link could not be sent. Try again shortly.");
        return;
    }
    if (known == 1) {
        mx_inc(&app->self->metrics, MX_LINKS_ISSUED);
    }
    if (cf->smtp.delivery == DELIVERY_RESPONSE && known == 1) /* token is base64url: safe markup */
        snprintf(link_html, sizeof link_html,
                 "<p class=\"demo\">Demo mode: <a id=\"magic-link\" href=\"/magic/verify/%s\">"
                 "open your sign-in link</a></p>",
                 token);
    gen_answer(app, c, email, link_html, ticket);
}
