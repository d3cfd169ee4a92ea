/*
 * routes.h - the handlers of the login app, one file per concern:
 *   route_pages.c     GET /, GET /login, GET /healthz, GET /static/...
 *   route_generate.c  POST /magic/generate
 *   route_verify.c    GET|POST /magic/verify/:token
 *   route_code.c      POST /magic/code (the code from the mail)
 *   route_secure.c    GET|POST /secure/:id, POST /logout
 *   route_auth.c      GET /auth (nginx auth_request, forward-auth)
 *   route_denied.c    GET /magic/denied (the page for /auth's 403)
 * The route table in route.c maps methods and paths to them.
 */
#ifndef MG_ROUTES_H
#define MG_ROUTES_H

#include "core/http_conn.h"
#include "app/app.h"

void route_home(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg);
void route_login(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg);
void route_healthz(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg);
void route_generate(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg);
void route_verify_page(app_t *app, http_conn_t *c, http_request_t *req, http_str_t token);
void route_verify(app_t *app, http_conn_t *c, http_request_t *req, http_str_t token);
void route_code(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg);
/* The end of a successful redeem (link or code): session cookie, then to
 * the return-to rd (or the default page). */
void route_sign_in(app_t *app, http_conn_t *c, const http_request_t *req, const char *email,
                   uint64_t link_iat, const char *rd, uint64_t now);
void route_secure_page(app_t *app, http_conn_t *c, http_request_t *req, http_str_t id);
void route_secure(app_t *app, http_conn_t *c, http_request_t *req, http_str_t id);
void route_logout(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg);
void route_auth(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg);
void route_denied(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg);
void route_static(app_t *app, http_conn_t *c, http_request_t *req, http_str_t path);

#endif
