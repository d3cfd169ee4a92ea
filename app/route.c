/*
 * route.c - the route table and the dispatch that walks it (see route.h).
 *
 * The table is short (a dozen rows), so a linear walk with memcmp is
 * faster than anything cleverer and keeps the order visible: the first row
 * whose path and method match runs. While the walk looks, it collects the
 * methods of every row whose path matched, so a known path asked with the
 * wrong method answers 405 with an Allow header that is true for that path
 * (GET-only pages say "GET, HEAD"; POST-only endpoints say "POST").
 *
 * Before a handler runs, the row's id is published in the worker's shm
 * slot so CPU samples taken during it carry the `route` label; it is
 * cleared when the handler returns (a deferred reply finishes later, off
 * the label, as the work after return is I/O).
 */
#include "app/route.h"

#include <stdatomic.h>
#include <string.h>

#include "app/page.h"
#include "app/routes.h"
#include "core/metrics.h"

_Static_assert(ROUTE_COUNT <= MX_ROUTES, "route ids must fit the /metrics table (core/metrics.h)");

static const route_t routes[] = {
    {ROUTE_M_GET, "/", ROUTE_EXACT, ROUTE_HOME, "GET /", route_home},
    {ROUTE_M_GET, "/login", ROUTE_EXACT, ROUTE_LOGIN, "GET /login", route_login},
    {ROUTE_M_POST, "/magic/generate", ROUTE_EXACT, ROUTE_GENERATE, "POST /magic/generate",
     route_generate},
    {ROUTE_M_POST, "/magic/code", ROUTE_EXACT, ROUTE_CODE, "POST /magic/code", route_code},
    {ROUTE_M_GET, "/magic/verify/", ROUTE_SEGMENT, ROUTE_VERIFY_PAGE, "GET /magic/verify/:token",
     route_verify_page},
    {ROUTE_M_POST, "/magic/verify/", ROUTE_SEGMENT, ROUTE_VERIFY, "POST /magic/verify/:token",
     route_verify},
    {ROUTE_M_GET, "/secure/", ROUTE_SEGMENT, ROUTE_SECURE_PAGE, "GET /secure/:id",
     route_secure_page},
    {ROUTE_M_POST, "/secure/", ROUTE_SEGMENT, ROUTE_SECURE, "POST /secure/:id", route_secure},
    {ROUTE_M_POST, "/logout", ROUTE_EXACT, ROUTE_LOGOUT, "POST /logout", route_logout},
    {ROUTE_M_GET, "/auth", ROUTE_EXACT, ROUTE_AUTH, "GET /auth", route_auth},
    {ROUTE_M_GET, "/magic/denied", ROUTE_EXACT, ROUTE_DENIED, "GET /magic/denied", route_denied},
    {ROUTE_M_GET, "/healthz", ROUTE_EXACT, ROUTE_HEALTHZ, "GET /healthz", route_healthz},
    {ROUTE_M_GET, "/static/", ROUTE_PREFIX, ROUTE_STATIC, "GET /static/*", route_static},
    /* not dispatched here: names for the profiler's labels */
    {0, NULL, ROUTE_EXACT, ROUTE_OTHER, "other", NULL},
    {ROUTE_M_GET, "/debug/pprof/", ROUTE_PREFIX, ROUTE_PPROF, "GET /debug/pprof/*", NULL},
};

#define NROUTES (sizeof routes / sizeof routes[0])

/* Does path match row r? On a match, *arg is what follows the row's path. */
static int route_matches(const route_t *r, http_str_t path, http_str_t *arg)
{
    size_t n = strlen(r->path);
    if (path.n < n || memcmp(path.p, r->path, n))
        return 0;
    arg->p = path.p + n;
    arg->n = path.n - n;
    switch (r->match) {
    case ROUTE_EXACT:
        return arg->n == 0;
    case ROUTE_SEGMENT:
        return arg->n > 0 && !memchr(arg->p, '/', arg->n);
    default:
        return 1;
    }
}

static unsigned route_method_bit(http_method_t m)
{
    if (m == HTTP_M_GET || m == HTTP_M_HEAD)
        return ROUTE_M_GET;
    return m == HTTP_M_POST ? ROUTE_M_POST : 0;
}

void route_dispatch(struct app *app, http_conn_t *c, http_request_t *req, _Atomic uint32_t *running)
{
    unsigned want = route_method_bit(req->method), allow = 0;
    http_str_t arg;

    if (req->method == HTTP_M_OTHER) {
        http_reply_error(c, 501, "method not implemented");
        return;
    }
    for (size_t i = 0; i < NROUTES; i++) {
        const route_t *r = &routes[i];
        if (!r->fn || !route_matches(r, req->path, &arg))
            continue;
        if (!(r->methods & want)) {
            allow |= r->methods;
            continue;
        }
        atomic_store_explicit(running, r->id, memory_order_relaxed);
        c->tag = r->id; /* a deferred answer is still counted under its route */
        r->fn(app, c, req, arg);
        atomic_store_explicit(running, ROUTE_NONE, memory_order_relaxed);
        return;
    }
    /* Published so the answer is counted (and profiled) as "other". */
    atomic_store_explicit(running, ROUTE_OTHER, memory_order_relaxed);
    c->tag = ROUTE_OTHER;
    if (allow) {
        http_reply_start(c, 405);
        http_reply_header(c, "Allow", "%s", route_allow(allow));
        page_error(app, c, 405, "This page does not accept that method.");
    } else {
        page_error(app, c, 404, "There is no such page.");
    }
    atomic_store_explicit(running, ROUTE_NONE, memory_order_relaxed);
}

const char *route_name(unsigned id)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].id == id)
            return routes[i].name;
    return "";
}

route_fn route_handler(unsigned id)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (routes[i].id == id)
            return routes[i].fn;
    return NULL;
}

const char *route_allow(unsigned methods)
{
    switch (methods & (ROUTE_M_GET | ROUTE_M_POST)) {
    case ROUTE_M_GET:
        return "GET, HEAD";
    case ROUTE_M_POST:
        return "POST";
    default:
        return "GET, HEAD, POST";
    }
}
