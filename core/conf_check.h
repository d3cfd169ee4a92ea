/*
 * conf_check.h - cross-directive rules a config must meet to be served
 * (public_url for links, verified TLS for SMTP credentials, an exposed
 * profiler only on purpose), and loading the profiler's token file. Called
 * by -t, at start and on reload, after conf_load(). See conf_check.c.
 */
#ifndef MG_CONF_CHECK_H
#define MG_CONF_CHECK_H

#include <stddef.h>

#include "core/conf.h"

/* 0, or -1 with a message that says what to set. Fills
 * c->prof.auth_token from profiler_auth_token_file. */
int conf_check(conf_t *c, char *err, size_t errsz);

/* 1 for 127.0.0.0/8, ::1 and "localhost". */
int conf_check_loopback(const char *host);

#endif
