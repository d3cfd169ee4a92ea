/*
 * route_generate.c - POST /magic/generate: issue and deliver a magic link.
 *
 * Order of checks, cheapest and most abusable first:
 *   1. CSRF (cookie + X-CSRF-Token header, constant-time)      -> 403
 *   2. per-client-IP rate limit (the client behind trusted proxies,
 *      IPv6 per /64)                                              -> 429
 *   3. the email, from a urlencoded form or a JSON body          -> 400/415
 *   4. per-email rate limit                                      -> 429
 *   5. look the user up; if known (or signup on), seal a link bound to this
 *      browser's CSRF token and deliver it.
 * The answer is the same page whether or not the address has an account:
 * a token is sealed either way, and an unknown address goes through
 * deliver_decoy(), which does the known address's durable write without
 * delivering anything, so the two cost the same and fail the same way (a
 * full disk answers 503 to both). The endpoint does not reveal who has an
 * account.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base64url.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/realip.h"
#include "app/delivery.h"
#include "app/email.h"
#include "app/page.h"
#include "core/ratelimit.h"
#include "app/routes.h"
#include "app/store.h"
#include "app/token.h"

#define LINK_MAX 1024

static int ctype_is(const http_request_t *req, const char *type)
{
    size_t n = strlen(type);
    return req->content_type.n >= n && !strncasecmp(req->content_type.p, type, n) &&
           (req->content_type.n == n || req->content_type.p[n] == ';' ||
            req->content_type.p[n] == ' ');
}

/* 1 ok, 0 missing/invalid, -1 unsupported media type. */
static int read_email(const http_request_t *req, char *out, size_t outsz)
{
    char raw[512];
    if (ctype_is(req, "application/json")) {
        json_error_t je;
        json_t *root = json_loadb(req->body, req->body_len, 0, &je);
        const char *s = root ? json_string_value(json_object_get(root, "email")) : NULL;
        int ok = s && email_normalize(s, strlen(s), out, outsz) >= 0;
        json_decref(root);
        return ok;
    }
    if (req->body_len && !ctype_is(req, "application/x-www-form-urlencoded"))
        return -1;
    if (http_form_value(req->body, req->body_len, "email", raw, sizeof raw) != 1)
        return 0;
    return email_normalize(raw, strlen(raw), out, outsz) >= 0;
}

/* The base of links is public_url and nothing else: a Host header (or an
 * absolute-form target, or X-Forwarded-Host) is whatever the client wants
 * it to be, and a link built from it would mail the victim's token to the
 * attacker's server. The config check refuses to start without public_url
 * except for `delivery response`, where the page links relatively. */
static void link_base(const app_t *app, char *out, size_t n)
{
    snprintf(out, n, "%s", app->conf->http.public_url);
    size_t l = strlen(out);
    if (l && out[l - 1] == '/')
        out[l - 1] = 0;
}

/* The per-IP key: the client behind trusted proxies (real_ip_from,
 * real_ip_header), IPv6 counted per rate_limit_ipv6_prefix (core/realip.h). */
static int ip_key(const conf_t *cf, const http_conn_t *c, const http_request_t *req, char *out,
                  size_t n)
{
    realip_addr_t peer, client;
    if (realip_from_sockaddr((const struct sockaddr *)&c->peer, &peer) < 0)
        return snprintf(out, n, "i:%s", c->peer_str); /* not IP (a unix socket in tests) */
    realip_client(&cf->http.realip, &peer, req, &client);
    return realip_key(cf->rate.ipv6_prefix, &client, out, n);
}

/* The per-email key. With rate_limit_email_fold_tags, user+tag@domain is
 * user@domain: one mailbox, one limit, however many tags an attacker
 * invents to flood it. */
static int email_key(const conf_t *cf, const char *email, char *out, size_t n)
{
    const char *at = strrchr(email, '@'), *plus = strchr(email, '+');
    if (cf->rate.email_fold_tags && at && plus && plus > email && plus < at)
        return snprintf(out, n, "e:%.*s%s", (int)(plus - email), email, at);
    return snprintf(out, n, "e:%s", email);
}

void route_generate(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    (void)arg; /* an exact path: nothing after it */
    const conf_t *cf = app->conf;
    if (!page_csrf_ok(app, req)) {
        page_error(app, c, 403, "Missing or invalid CSRF token. Reload the sign-in page.");
        return;
    }
    uint64_t now_ms = clock_mono_ms(), retry; /* never steps back */
    char key[300];
    int kn = ip_key(cf, c, req, key, sizeof key);
    if (kn < 0 || !rl_hit(app->rl_zone, key, (size_t)kn, cf->rate.ip_n, cf->rate.ip_window_ms,
                          now_ms, &retry)) {
        page_rate_limited(app, c, retry, "from your address");
        return;
    }
    char email[EMAIL_MAX + 1];
    int r = read_email(req, email, sizeof email);
    if (r < 0) {
        page_error(app, c, 415, "Send the form as application/x-www-form-urlencoded or JSON.");
        return;
    }
    if (r == 0) {
        page_error(app, c, 400, "A valid email address is required.");
        return;
    }
    kn = email_key(cf, email, key, sizeof key);
    if (!rl_hit(app->rl_zone, key, (size_t)kn, cf->rate.email_n, cf->rate.email_window_ms, now_ms,
                &retry)) {
        page_rate_limited(app, c, retry, "for this address");
        return;
    }

    int known = store_user_exists(app->store, email);
    if (known == 0 && cf->auth.signup && store_user_add(app->store, email, 0) >= 0)
        known = 1;
    if (known < 0) {
        log_err("user lookup failed: %s", store_errmsg(app->store));
        page_error(app, c, 503, "The sign-in service is unavailable. Try again shortly.");
        return;
    }

    uint64_t now = (uint64_t)time(NULL);
    link_claims_t cl;
    memset(&cl, 0, sizeof cl);
    snprintf(cl.email, sizeof cl.email, "%s", email);
    csrf_binding(req->csrf_header.p, req->csrf_header.n, cl.bind);
    cl.iat = now;
    cl.exp = now + cf->auth.link_ttl_ms / 1000;
    char token[LINK_MAX], base[256], url[LINK_MAX + 300];
    uint8_t id[16];
    if (token_link_seal_id(&app->keys, &cl, id, token, sizeof token) < 0) {
        page_error(app, c, 500, "Could not create a sign-in link.");
        return;
    }
    char link_html[LINK_MAX + 200] = "";
    link_base(app, base, sizeof base);
    snprintf(url, sizeof url, "%s/magic/verify/%s", base, token);
    /* An address without an account gets a decoy: the same write, the same
     * cost, the same failure on a full disk, so neither the answer nor its
     * timing says whether the address is known. */
    int rc = known == 1 ? deliver_send(app->deliver, email, url, cl.exp, id)
                        : deliver_decoy(app->deliver, email, url, cl.exp, id);
    if (rc < 0) {
        log_err("delivering the link for %s failed: %s", email, deliver_error(app->deliver));
        page_error(app, c, 503, "The sign-in link could not be sent. Try again shortly.");
        return;
    }
    if (cf->smtp.delivery == DELIVERY_RESPONSE && known == 1) /* token is base64url: safe markup */
        snprintf(link_html, sizeof link_html,
                 "<p class=\"demo\">Demo mode: <a id=\"magic-link\" href=\"/magic/verify/%s\">"
                 "open your sign-in link</a></p>",
                 token);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)(cf->auth.link_ttl_ms / 60000));
    tpl_var_t v[] = {{"email", email, 0}, {"ttl_minutes", ttl, 0}, {"link_html", link_html, 1}};
    page_render(app, c, 200, TPL_SENT, v, 3);
}
