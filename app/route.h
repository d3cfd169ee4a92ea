/*
 * route.h - the route ids a worker publishes in shared memory.
 *
 * The worker stores the id of the route it is executing in its shm slot; the
 * SIGPROF handler copies it into each CPU sample, and the profiler turns it
 * into the `route` label. Ids are stable small integers so the handler only
 * does one relaxed atomic load.
 */
#ifndef MG_ROUTE_H
#define MG_ROUTE_H

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
    ROUTE_COUNT
};

/* "POST /magic/generate" etc.; "" for ROUTE_NONE. */
const char *route_name(unsigned id);

#endif
