/*
 * route_denied.c - GET /magic/denied: the page a signed-in user outside a
 * group sees.
 *
 * GET /auth?group=NAME answers nginx a bare 403 (no body: nginx does not
 * pass an auth subrequest's body on), and nginx would then show its own
 * "403 Forbidden". The example config sends that 403 here instead,
 *     error_page 403 /magic/denied?group=admins;
 * an internal redirect that keeps the status, so the browser gets a page in
 * the look of the others that says who is signed in and what is missing.
 * Nothing here decides anything: the page only explains a refusal made
 * elsewhere, and it is a 403 whoever asks.
 */
#include <stdio.h>
#include <string.h>

#include "app/page.h"
#include "app/routes.h"
#include "app/session.h"
#include "app/store_session.h"

void route_denied(app_t *app, http_conn_t *c, http_request_t *req, http_str_t arg)
{
    char group[STORE_GROUP_NAME_MAX + 1], msg[TOKEN_EMAIL_MAX + STORE_GROUP_NAME_MAX + 240];
    session_claims_t sc;
    int refresh;

    (void)arg; /* an exact path */
    if (http_form_value(req->query.p, req->query.n, "group", group, sizeof group) != 1 ||
        !store_group_name_ok(group))
        group[0] = 0;
    char who[TOKEN_EMAIL_MAX + 40] = "", what[STORE_GROUP_NAME_MAX + 32] = "a group you are not in";
    if (session_get(app, req, session_now_ms(), &sc, &refresh) == SESS_OK)
        snprintf(who, sizeof who, "You are signed in as %s, but t", sc.email);
    if (group[0])
        snprintf(what, sizeof what, "the group \"%s\"", group);
    snprintf(msg, sizeof msg, "%shis page is only for members of %s. %s", who[0] ? who : "T", what,
             who[0] ? "Ask whoever runs this site to add you, or sign in with another address."
                    : "Sign in first.");
    page_refuse(app, c, 403, "Not allowed here", msg);
}
