/*
 * sesslive.h - the set of live sessions, in shared memory, for the
 * "sessions active" gauge of /metrics.
 *
 * A session is live from its sign-in until the first of: its absolute end
 * (session_ttl), its idle end (the last cookie it was given + the idle
 * timeout), or its revocation. Nothing in a worker needs that number, but
 * an operator does, and counting it in the store on every scrape would put
 * a query on the profiler's path and miss the idle timeout (the store does
 * not know when a cookie was last refreshed). So the workers keep a table
 * of {session id, end} beside the revocation set:
 *   - sign-in puts the session in with its end;
 *   - a sliding refresh (a new cookie) moves its end later;
 *   - a logout, and every revocation the store poll brings in (the command
 *     line, a removed user, another node), ends it;
 *   - an end in the past needs no action: the count ignores it, and a
 *     rebuild reclaims its slot when the table fills.
 * The profiler counts the entries whose end is after now.
 *
 * The table is bounded (SESSLIVE_CAPACITY slots, 3/4 usable). Past that a
 * new session is not stored: the gauge is then a lower bound and says so
 * through sesslive_count's overflow flag (the profiler logs it). A master
 * restart starts from an empty table: sessions of the previous run come
 * back into the count at their next refresh.
 */
#ifndef MG_SESSLIVE_H
#define MG_SESSLIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SESSLIVE_ID_LEN 16
#define SESSLIVE_CAPACITY 65536 /* slots of 24 bytes: 1.5 MiB, 49,152 live sessions */

/* Bytes the master reserves for the table. */
size_t sesslive_zone_size(void);

/* Master, once, before fork: an empty table in zone. */
void sesslive_zone_init(void *zone, size_t size);

/* The session id is live until end_ms (wall clock): a sign-in, or a
 * refresh that moved the end. A session already ended stays ended.
 * 0, or -1 when there was no room (the gauge now undercounts). */
int sesslive_set(void *zone, const uint8_t id[SESSLIVE_ID_LEN], uint64_t end_ms, uint64_t now_ms);

/* The session ended (logout, revocation). Unknown ids are ignored. */
void sesslive_end(void *zone, const uint8_t id[SESSLIVE_ID_LEN]);

/* Sessions live at now_ms. *overflow: 1 when some sessions still live
 * could not be stored (the count is a lower bound). Lock-free. */
uint64_t sesslive_count(const void *zone, uint64_t now_ms, int *overflow);

/* Master: a child died; release the table's lock if it held it. */
void sesslive_force_unlock(void *zone, pid_t dead_pid);

#endif
