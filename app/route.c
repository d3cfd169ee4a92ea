/*
 * route.c - names of the route ids (see route.h), as the profiler labels
 * them and as operators read them in goroutine dumps.
 */
#include "app/route.h"

static const char *const names[ROUTE_COUNT] = {
    [ROUTE_NONE] = "",
    [ROUTE_HOME] = "GET /",
    [ROUTE_LOGIN] = "GET /login",
    [ROUTE_GENERATE] = "POST /magic/generate",
    [ROUTE_VERIFY_PAGE] = "GET /magic/verify/:token",
    [ROUTE_VERIFY] = "POST /magic/verify/:token",
    [ROUTE_SECURE_PAGE] = "GET /secure/:id",
    [ROUTE_SECURE] = "POST /secure/:id",
    [ROUTE_LOGOUT] = "POST /logout",
    [ROUTE_HEALTHZ] = "GET /healthz",
    [ROUTE_STATIC] = "GET /static/*",
    [ROUTE_OTHER] = "other",
    [ROUTE_PPROF] = "GET /debug/pprof/*",
};

const char *route_name(unsigned id)
{
    return id < ROUTE_COUNT ? names[id] : "";
}
