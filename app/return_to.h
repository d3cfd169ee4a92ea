/*
 * return_to.h - return-to in the login flow: where the browser goes after
 * signing in.
 *
 * The URL travels /login?rd=URL (or a proxy's X-Original-URL /
 * X-Forwarded-Proto+Host+Uri) -> a hidden field of the sign-in page ->
 * POST /magic/generate (field `rd`) -> sealed in the link -> verify, and is
 * checked against `allowed_return_urls` at every step it is taken from the
 * outside, and once more at verify (the config may have changed since the
 * link was mailed). Anything refused is dropped without a word: the
 * browser lands on `default_return_url`. The matching rules themselves are
 * core/return_url.h.
 */
#ifndef MG_RETURN_TO_H
#define MG_RETURN_TO_H

#include <stddef.h>

#include "core/conf.h"
#include "core/http.h"
#include "core/http_conn.h"
#include "core/return_url.h"

/* Canonical url into out when the config allows it: its length, or -1 with
 * out = "" (the caller then uses the default or nothing). */
int return_to_allowed(const conf_auth_t *c, const char *url, size_t n,
                      char out[RETURN_URL_MAX + 1]);

/* The URL a proxy says the browser asked for (X-Original-URL, else
 * X-Forwarded-Proto + X-Forwarded-Host + X-Forwarded-Uri), unchecked, into
 * out. 1 found, 0 none, -1 there but longer than outsz. */
int return_to_from_proxy(const http_request_t *req, char *out, size_t outsz);

/* Is url (as from return_to_from_proxy) a request for /login itself? */
int return_to_is_login(const char *url);

/* Does the client ask verify for JSON ({"location": URL}) rather than a
 * redirect? The verify page's script does: fetch() cannot follow a
 * redirect to another origin, a plain navigation can. */
int return_to_wants_json(const http_request_t *req);

/* Finish a successful verify whose headers (the session cookie) are queued
 * on a reply started with return_to_status(): 303 to the destination, or
 * 200 with it as JSON. rd is the link's sealed return-to ("" for none). */
int return_to_status(int json);
void return_to_finish(const conf_auth_t *c, http_conn_t *conn, int json, const char *rd);

#endif
