/*
 * realip.h - which client a request comes from, for per-client limits.
 *
 * Behind a reverse proxy every request arrives from the proxy, so a per-IP
 * limit would limit the proxy. nginx's answer, kept here with its names:
 * `real_ip_from CIDR` (repeatable) lists the peers trusted to say who the
 * client is, and `real_ip_header X-Forwarded-For|X-Real-IP` says where they
 * say it. A peer outside the list is the client, whatever it sends.
 *
 * X-Forwarded-For is read from the right (nginx's real_ip_recursive on):
 * each proxy appends the address it saw, so the rightmost entries were
 * written by proxies we trust and everything left of the first untrusted
 * address was written by the client and is worth nothing. That first
 * untrusted address, from the right, is the client. If every entry is
 * trusted the leftmost one is taken; an entry that is not an address stops
 * the walk at the hop to its right (the last one we could believe).
 *
 * IPv6: one subscriber usually gets a whole /64 (often more), so limiting a
 * single IPv6 address limits nothing. realip_key() masks IPv6 addresses to
 * `rate_limit_ipv6_prefix` bits (default 64). IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d, what a dual-stack socket reports) count as IPv4.
 *
 * Pure functions over bytes: no allocation, no I/O, unit-tested.
 */
#ifndef MG_REALIP_H
#define MG_REALIP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/http.h"

#define REALIP_MAX_FROM 16

enum { REALIP_HEADER_NONE = 0, REALIP_HEADER_XFF, REALIP_HEADER_X_REAL_IP };

/* An address is 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). */
typedef struct {
    uint8_t a[16];
} realip_addr_t;

typedef struct {
    realip_addr_t net;
    int bits; /* prefix length over the 128-bit form */
} realip_cidr_t;

typedef struct {
    realip_cidr_t from[REALIP_MAX_FROM];
    int nfrom;
    int header; /* REALIP_HEADER_* */
} realip_conf_t;

/* "1.2.3.4", "::1", "[::1]" (not with a port). 0, or -1 when not an
 * address. Surrounding spaces and tabs are skipped. */
int realip_parse_addr(const char *s, size_t n, realip_addr_t *out);

/* "10.0.0.0/8", "2001:db8::/32", "127.0.0.1" (= /32), "::1" (= /128). The
 * host bits are cleared. 0 / -1. */
int realip_parse_cidr(const char *s, realip_cidr_t *out);

/* The address of a socket peer (AF_INET or AF_INET6). -1 otherwise. */
int realip_from_sockaddr(const struct sockaddr *sa, realip_addr_t *out);

/* 1 when a lies in one of the trusted networks. */
int realip_trusted(const realip_conf_t *rc, const realip_addr_t *a);

/* The client of req arriving from peer, by the rules above. */
void realip_client(const realip_conf_t *rc, const realip_addr_t *peer, const http_request_t *req,
                   realip_addr_t *client);

/* The rate-limit key for a client: "i:1.2.3.4" or, IPv6 masked to
 * ipv6_prefix bits (1..128), "i:2001:db8:1:2::/64". Returns its length, or
 * -1 when it does not fit. */
int realip_key(int ipv6_prefix, const realip_addr_t *client, char *out, size_t outsz);

/* Text form of an address (for logs): "1.2.3.4" or "2001:db8::1". */
int realip_format(const realip_addr_t *a, char *out, size_t outsz);

#endif
