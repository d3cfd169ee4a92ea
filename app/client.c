/*
 * client.c - who the client of a request is (see client.h).
 */
#include "app/client.h"

#include <stdio.h>
#include <string.h>

#include "core/realip.h"
#include "core/strcat.h"

/* 0 with the client in *out, -1 when the peer is not an IP socket. */
static int client_of(const conf_t *cf, const http_conn_t *c, const http_request_t *req,
                     realip_addr_t *out)
{
    realip_addr_t peer;
    if (realip_from_sockaddr((const struct sockaddr *)&c->peer, &peer) < 0)
        return -1;
    realip_client(&cf->http.realip, &peer, req, out);
    return 0;
}

int client_key(const conf_t *cf, const http_conn_t *c, const http_request_t *req,
               const char *prefix, char *out, size_t n)
{
    realip_addr_t client;
    char k[128];
    int kn;

    if (client_of(cf, c, req, &client) < 0)
        kn = snprintf(k, sizeof k, "i:%s", c->peer_str); /* a unix socket in tests */
    else
        kn = realip_key(cf->rate.ipv6_prefix, &client, k, sizeof k);
    if (kn < 2) /* every key starts "i:" */
        return -1;
    sc_t s = sc_init(out, n); /* per request: no printf */
    sc_str(&s, prefix);
    sc_mem(&s, k + 2, (size_t)kn - 2);
    return sc_ok(&s) ? (int)sc_len(&s) : -1;
}

void client_addr(const conf_t *cf, const http_conn_t *c, const http_request_t *req, char *out,
                 size_t n)
{
    realip_addr_t client;

    if (n == 0)
        return;
    if (client_of(cf, c, req, &client) < 0 || realip_format(&client, out, n) < 0)
        snprintf(out, n, "%s", c->peer_str);
}
