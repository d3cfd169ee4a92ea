/*
 * client.h - who the client of a request is, for limits, mails and logs.
 *
 * Behind a reverse proxy the socket peer is the proxy. Every per-client
 * decision of the application (rate-limit keys, the "requested from" line
 * of the sign-in mail, the address kept with a session) takes the client
 * from here, which applies real_ip_from / real_ip_header (core/realip.h)
 * the same way each time, so no route can key a limit on the proxy by
 * mistake.
 */
#ifndef MG_APP_CLIENT_H
#define MG_APP_CLIENT_H

#include <stddef.h>

#include "core/conf.h"
#include "core/http_conn.h"

/* The rate-limit key of the client: prefix + "1.2.3.4", IPv6 masked to
 * rate_limit_ipv6_prefix bits. prefix tells limits apart ("i:" for
 * generate, "c:" for codes). Its length, or -1 when it does not fit. */
int client_key(const conf_t *cf, const http_conn_t *c, const http_request_t *req,
               const char *prefix, char *out, size_t n);

/* The client's address as text ("1.2.3.4", "2001:db8::1"; the peer string
 * for a non-IP socket). out always holds a string. */
void client_addr(const conf_t *cf, const http_conn_t *c, const http_request_t *req, char *out,
                 size_t n);

#endif
