/*
 * route_auth.c - GET /auth, for nginx's auth_request and the forward-auth
 * of Traefik and Caddy.
 *
 * The proxy asks before every request to the application it protects, so
 * this is the hottest route of the product. The answer is only a status
 * and headers, never a body and never a redirect (nginx turns a 401 into
 * its own redirect to the login page):
 *   200  a valid session: X-Auth-Request-Email, X-Auth-Request-User (the
 *        account's number in the store) and X-Auth-Request-Groups (comma
 *        separated, as oauth2-proxy sends them)
 *   401  no session, or one that expired, went idle or was revoked
 *   403  ?group=NAME (repeatable, or NAME,NAME) names no group the user is in
 *   503  neither the revocation set nor the store could answer
 * On a PostgreSQL store the rare session the set cannot vouch for (it is
 * full) is asked of the database with the request parked, and while the
 * database is down auth_store_down decides (closed: 503, open: 200).
 * The identity comes from the sealed session cookie (groups are sealed in
 * at sign-in; a cookie the worker opened before comes from its session
 * cache, app/session_cache.h, without base64 or AES-GCM) and the
 * revocation check from shared memory, so a request
 * here touches no store, allocates nothing and makes no system call beyond
 * those that send the reply. A session past half its idle window gets its
 * refreshed cookie on this answer too; nginx passes it to the browser with
 * `auth_request_set $auth_cookie $upstream_http_set_cookie;
 *  add_header Set-Cookie $auth_cookie;`.
 */
#include <stdlib.h>
#include <string.h>

#include "app/routes.h"
#include "core/log.h"
#include "app/session.h"
#include "app/store_session.h"

#define AUTH_HDR_MAX (512 + TOKEN_EMAIL_MAX + TOKEN_GROUPS_MAX)

static void auth_reply(http_conn_t *c, int status)
{
    static const char hdrs[] = "Cache-Control: no-store\r\n";

    http_reply_start(c, status);
    http_reply_headers_raw(c, hdrs, sizeof hdrs - 1);
    http_reply(c, status, NULL, NULL, 0);
}

/* Is name (n bytes) one of the comma-separated groups? */
static int auth_in_groups(const char *groups, const char *name, size_t n)
{
    const char *p = groups;

    if (n == 0)
        return 0;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, name, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* 1 when the query asks for no group or for one the user is in; 0 when
 * it names groups and none is the user's (or a value does not decode);
 * -1 when it holds anything but group= parameters. A typo in the proxy's
 * config (?groups=admins, ?Group=admins) must not read as "no group
 * asked" and let every signed-in user in: it is refused, loudly (nginx
 * turns the 400 of an auth subrequest into a 500 and logs it). */
static int auth_group_ok(http_str_t q, const char *groups)
{
    char v[STORE_GROUP_NAME_MAX * 8 + 1];
    int asked = 0, found = 0;
    size_t i = 0;

    while (i < q.n) {
        const char *part = q.p + i;
        const char *amp = memchr(part, '&', q.n - i);
        size_t pn = amp ? (size_t)(amp - part) : q.n - i;
        i += pn + 1;
        if (pn == 0)
            continue;
        if (pn < 6 || memcmp(part, "group=", 6) != 0)
            return -1;
        asked = 1;
        long vn = http_pct_decode(part + 6, pn - 6, v, sizeof v, 1);
        if (vn < 0)
            continue;
        for (long s = 0; s <= vn;) {
            const char *comma = memchr(v + s, ',', (size_t)(vn - s));
            long e = comma ? comma - v : vn;
            if (auth_in_groups(groups, v + s, (size_t)(e - s)))
                found = 1; /* and read on: a later part may be refused */
            s = e + 1;
        }
    }
    return found || !asked;
}

/* The first max bytes of s for a quoted field of the error log, as the
 * access log writes them: `"`, `\\` and every byte outside printable
 * ASCII as \\xHH, so a client writes no terminal control, no byte that
 * is not UTF-8 and no end of the field (out: 4 * max + 1 bytes). */
static void auth_log_escape(http_str_t s, size_t max, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = s.n < max ? s.n : max;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            *out++ = '\\';
            *out++ = 'x';
            *out++ = hex[ch >> 4];
            *out++ = hex[ch & 15];
        } else {
            *out++ = (char)ch;
        }
    }
    *out = 0;
}

static char *auth_put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *auth_put_u64(char *p, uint64_t v)
{
    char d[20];
    int n = 0;

    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < 20);
    while (n)
        *p++ = d[--n];
    return p;
}

#define AUTH_LIT(p, s) auth_put(p, s, sizeof s - 1)

static void auth_answer(app_t *app, http_conn_t *c, const http_request_t *req, session_claims_t *sc,
                        int refresh, uint64_t now, sess_state_t st)
{
    char hdrs[AUTH_HDR_MAX], *p = hdrs;

    if (st != SESS_OK) {
        auth_reply(c, st == SESS_ERROR ? 503 : 401);
        return;
    }
    if (req->query.n) {
        int g = auth_group_ok(req->query, sc->groups);
        if (g <= 0) {
            static uint64_t last_log; /* once a second at most: every request has it */
            if (g < 0 && now - last_log >= 1000) {
                char q[200 * 4 + 1];
                last_log = now;
                auth_log_escape(req->query, 200, q);
                log_warn("/auth: the query \"%s\" holds a parameter other than group= "
                         "(a typo in the proxy's config?): refused",
                         q);
            }
            auth_reply(c, g < 0 ? 400 : 403);
            return;
        }
    }
    /* The email and groups were checked when they were sealed (an address
     * from email_normalize, names from store_group_name_ok): no CR, LF or
     * comma can be in them. */
    p = AUTH_LIT(p, "X-Auth-Request-Email: ");
    p = auth_put(p, sc->email, strlen(sc->email));
    p = AUTH_LIT(p, "\r\nX-Auth-Request-User: ");
    p = auth_put_u64(p, sc->uid);
    p = AUTH_LIT(p, "\r\nX-Auth-Request-Groups: ");
    p = auth_put(p, sc->groups, strlen(sc->groups));
    p = AUTH_LIT(p, "\r\nCache-Control: no-store\r\n");
    http_reply_start(c, 200);
    http_reply_headers_raw(c, hdrs, (size_t)(p - hdrs));
    if (refresh)
        session_refresh(app, c, sc, now);
    http_reply(c, 200, NULL, NULL, 0);
}

/* A session the shared set cannot vouch for, on a PostgreSQL store: asked
 * of the database, the request parked (the rare case: the set is full). */
typedef struct {
    app_t *app;
    session_claims_t sc;
    int refresh;
    uint64_t now;
} auth_wait_t;

static void auth_asked(void *arg, http_conn_t *c, sess_state_t st)
{
    auth_wait_t *w = arg;

    if (c)
        auth_answer(w->app, c, c->req, &w->sc, w->refresh, w->now, st);
    free(w);
}

void route_auth(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    session_claims_t sc;
    uint64_t now = session_now_ms();
    int refresh;
    sess_state_t st = session_get(app, req, now, &sc, &refresh);
    auth_wait_t *w;

    (void)arg;
    if (st == SESS_ASK && (w = malloc(sizeof *w))) {
        w->app = app;
        w->sc = sc;
        w->refresh = refresh;
        w->now = now;
        session_ask(app, c, &sc, auth_asked, w);
        return;
    }
    auth_answer(app, c, req, &sc, refresh, now, st == SESS_ASK ? session_store_down(app) : st);
}
