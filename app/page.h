/*
 * page.h - what every page and answer of the login app has in common:
 * security headers, cookies, template rendering, error pages, CSRF.
 */
#ifndef MG_PAGE_H
#define MG_PAGE_H

#include "core/http_conn.h"
#include "app/app.h"
#include "app/csrf.h"

/* Headers every HTML answer carries (CSP, nosniff, no-referrer, no-store). */
void page_security_headers(http_conn_t *c);
/* Render template `which` and send it with status. */
void page_render(app_t *app, http_conn_t *c, int status, int which, const tpl_var_t *vars,
                 int nvars);
/* A clear error page (error.html) with status, title and message. */
void page_error(app_t *app, http_conn_t *c, int status, const char *message);
/* The same with a title of its own instead of the HTTP reason phrase (a
 * refusal the user should understand, e.g. "Not allowed to sign in"). */
void page_refuse(app_t *app, http_conn_t *c, int status, const char *title, const char *message);
/* 503 "Sign-in is temporarily unavailable" (+ Retry-After): the user
 * store cannot answer (down, or too slow). */
void page_store_down(app_t *app, http_conn_t *c);
/* Error with Retry-After (429). */
void page_rate_limited(app_t *app, http_conn_t *c, uint64_t retry_after_ms, const char *what);
/* 303 See Other to location (extra headers may have been added before). */
void page_redirect(http_conn_t *c, const char *location);

void page_set_cookie(app_t *app, http_conn_t *c, const char *name, const char *value,
                     uint64_t max_age_s);
void page_clear_cookie(app_t *app, http_conn_t *c, const char *name);

/* The browser's CSRF secret from its cookie; when absent (or malformed), a
 * new one is made and its Set-Cookie queued. Fills token with the matching
 * page token. */
void page_csrf_for_page(app_t *app, http_conn_t *c, const http_request_t *req,
                        char token[CSRF_LEN + 1]);
/* Does the request carry a CSRF header matching its cookie? */
int page_csrf_ok(app_t *app, const http_request_t *req);

#endif
