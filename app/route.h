/*
 * route.h - the route table of the login application: one row per
 * (methods, path) with the id, the name and the handler.
 *
 * The table is the one place a route is described. Dispatch walks it
 * (route_dispatch), a known path asked with a method it does not take gets
 * 405 with an Allow header built from the rows that match the path, and the
 * profiler labels samples with the row's name (route_name), so adding a
 * route is adding a row here and a handler in routes.h.
 *
 * The id is what a worker publishes in its shm slot while a handler runs
 * (read by the profiler process and its SIGPROF samples), so ids stay small and stable.
 */
#ifndef MG_ROUTE_H
#define MG_ROUTE_H

#include <stdint.h>

#include "core/http_conn.h"

enum {
    ROUTE_NONE = 0,
    ROUTE_HOME,        /* GET / */
    ROUTE_LOGIN,       /* GET /login */
    ROUTE_GENERATE,    /* POST /magic/generate */
    ROUTE_VERIFY_PAGE, /* GET /magic/verify/:token */
    ROUTE_VERIFY,      /* POST /magic/verify/:token */
    ROUTE_SECURE_PAGE, /* GET /secure/:id */
    ROUTE_SECURE,      /* POST /secure/:id */
    ROUTE_LOGOUT,      /* POST /logout */
    ROUTE_HEALTHZ,     /* GET /healthz */
    ROUTE_STATIC,      /* GET /static/... */
    ROUTE_OTHER,       /* anything else (404/405) */
    ROUTE_PPROF,       /* profiler process: /debug/pprof/... */
    ROUTE_AUTH,        /* GET /auth (nginx auth_request) */
    ROUTE_DENIED,      /* GET /magic/denied (the page for /auth's 403) */
    ROUTE_CODE,        /* POST /magic/code */
    ROUTE_COUNT
};

/* Methods a row takes; GET also answers HEAD. */
enum { ROUTE_M_GET = 1, ROUTE_M_POST = 2 };

/* How a row's path matches the request path. */
typedef enum {
    ROUTE_EXACT,   /* the path itself */
    ROUTE_SEGMENT, /* the path, then one non-empty segment (no '/'): the handler's arg */
    ROUTE_PREFIX,  /* the path, then anything: the handler's arg */
} route_match_t;

struct app;
typedef void (*route_fn)(struct app *app, http_conn_t *c, http_request_t *req, http_str_t arg);

typedef struct {
    unsigned methods;
    const char *path;
    route_match_t match;
    unsigned id;
    const char *name; /* "POST /magic/generate": the profiler's `route` label */
    route_fn fn;      /* NULL: not served by the app (the profiler's rows) */
} route_t;

/* Find the row for req and run it, publishing its id in *running while it
 * runs; 404 / 405 (+Allow) / 501 pages otherwise. */
void route_dispatch(struct app *app, http_conn_t *c, http_request_t *req,
                    _Atomic uint32_t *running);

/* "POST /magic/generate" etc.; "" for ROUTE_NONE or an unknown id. */
const char *route_name(unsigned id);

/* The handler of route `id`, or NULL: the goroutine profile shows a
 * connection being handled at its handler's code. */
route_fn route_handler(unsigned id);

/* "GET, HEAD, POST" for a method mask, as an Allow header says it. */
const char *route_allow(unsigned methods);

#endif
