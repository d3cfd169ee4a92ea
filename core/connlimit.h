/*
 * connlimit.h - open connections per client address, for one worker.
 *
 * max_connections_per_ip is enforced at accept time: a worker counts its
 * open connections per client address and refuses one more past the cap.
 * Counting per worker needs no lock and no shared memory; the effective cap
 * of the server is workers x max_connections_per_ip, which is what the
 * documentation states. IPv6 clients are counted per /64, the smallest
 * block a site is normally given: counting single IPv6 addresses would let
 * one host with a /64 open as many connections as it likes.
 *
 * The table is open addressing with linear probing and backward-shift
 * deletion (no tombstones), sized at twice the worker's connection limit so
 * it never fills and probes stay short.
 */
#ifndef MG_CONNLIMIT_H
#define MG_CONNLIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct connlimit connlimit_t;

/* max_conns: the worker's connection limit (sizes the table). */
connlimit_t *connlimit_new(int max_conns);
void connlimit_free(connlimit_t *t);

/* The key of a peer address (v4, or v6 /64); 16 bytes. */
typedef struct {
    uint8_t b[16];
} connlimit_key_t;
void connlimit_key(const struct sockaddr_storage *ss, connlimit_key_t *k);

/* Count one more connection from k unless it already has `cap` (cap 0 =
 * no cap). 1 counted, 0 refused. */
int connlimit_add(connlimit_t *t, const connlimit_key_t *k, int cap);
void connlimit_del(connlimit_t *t, const connlimit_key_t *k);
/* Open connections from k (for tests). */
int connlimit_count(const connlimit_t *t, const connlimit_key_t *k);

/* The address holding the most connections: its count (0 when the table
 * is empty) and, in *k, its key. A scan of the table: for the rare moment
 * a worker is full, not for every accept. */
int connlimit_heaviest(const connlimit_t *t, connlimit_key_t *k);

/* A per-address byte tally for the moment buffer memory runs out (see
 * http_conn.c, "sharing a worker"): clear it, add each connection's bytes,
 * then ask which address holds the most (its bytes; 0 when none). Only
 * addresses with open connections can be tallied. */
void connlimit_bytes_clear(connlimit_t *t);
void connlimit_bytes_add(connlimit_t *t, const connlimit_key_t *k, size_t n);
size_t connlimit_bytes_heaviest(const connlimit_t *t, connlimit_key_t *k);

#endif
