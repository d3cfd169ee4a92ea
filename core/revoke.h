/*
 * revoke.h - the set of revoked session ids, in shared memory.
 *
 * A session cookie is sealed, so any worker can open it without asking
 * anybody; what it cannot tell from the cookie is whether the session was
 * ended since (logout, `magicd session revoke`, a removed user). The store
 * is the record of that, but a store round trip on every use would put
 * SQLite on the hottest path of the product (GET /auth). So every worker
 * reads this set instead: a table in the master's shared-memory zone that
 * holds the id of every revoked session that has not yet expired.
 *
 * Two writers fill it:
 *   - the worker that serves POST /logout adds the id at once, so the
 *     logout is in force in every worker before its answer is sent;
 *   - one worker at a time (revoke_poll_claim elects it, at most every
 *     REVOKE_POLL_MS) reads the store's revocation log past the sequence
 *     number the set has applied (revoke_seq), which brings in what the
 *     command line or another server wrote. A revocation made anywhere is
 *     therefore in force everywhere within about REVOKE_POLL_MS.
 *
 * Readers never lock. revoke_has answers 1 (revoked), 0 (not revoked) or
 * -1 (cannot say: the table overflowed, or a writer died half way); on -1
 * the caller asks the store, so the set can be wrong only in the safe
 * direction of costing a lookup.
 */
#ifndef MG_REVOKE_H
#define MG_REVOKE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define REVOKE_ID_LEN 16
#define REVOKE_CAPACITY 16384 /* slots; up to 3/4 of them used (384 KiB) */
#define REVOKE_POLL_MS 200

/* Bytes the master reserves for the set. */
size_t revoke_zone_size(void);

/* Master, once, before fork: an empty set in zone. */
void revoke_zone_init(void *zone, size_t size);

/* 1 revoked, 0 not, -1 unknown (ask the store). Lock-free. */
int revoke_has(const void *zone, const uint8_t id[REVOKE_ID_LEN]);

/* Add a revoked id whose session ends at exp_ms (wall clock); entries past
 * their end are dropped to make room. 0, or -1 when the set is full (it then
 * answers -1 for unknown ids until entries expire). */
int revoke_add(void *zone, const uint8_t id[REVOKE_ID_LEN], uint64_t exp_ms, uint64_t now_ms);

/* The store's revocation sequence number the set has applied so far (0: none
 * yet, or the set was found damaged and cleared, so reload everything). */
uint64_t revoke_seq(const void *zone);

/* The poller's batch: store rows from_seq < seq <= to_seq. Applied only if
 * the set is still at from_seq (another poller may have been quicker):
 * 0 applied, 1 stale (read again), -1 applied but some did not fit. */
typedef struct {
    uint8_t id[REVOKE_ID_LEN];
    uint64_t exp_ms;
} revoke_entry_t;
int revoke_apply(void *zone, uint64_t from_seq, const revoke_entry_t *e, int n, uint64_t to_seq,
                 uint64_t now_ms);

/* 1 when the caller should poll the store now (at most one process per
 * every_ms wins), 0 otherwise. now_ms: CLOCK_MONOTONIC. */
int revoke_poll_claim(void *zone, uint64_t now_ms, uint64_t every_ms);

/* Master: a child died; release the set's lock if it held it. */
void revoke_force_unlock(void *zone, pid_t dead_pid);

typedef struct {
    uint32_t capacity;
    uint32_t used; /* live entries */
    int overflow;
    uint64_t seq;
} revoke_stats_t;
void revoke_stats(const void *zone, revoke_stats_t *out);

#endif
