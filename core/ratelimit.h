/*
 * ratelimit.h - per-key request limits shared by all workers.
 *
 * The table lives in the shared-memory zone the master creates before fork
 * (shm_ratelimit_zone()), so every worker sees the same counts and a HUP does
 * not reset them. Keys are opaque strings chosen by the caller ("e:<email>",
 * "i:<ip>"); only a keyed 64-bit hash of each is stored.
 *
 * The limit is "limit requests per window", enforced with GCRA (the generic
 * cell rate algorithm): a burst of `limit` is allowed, then one request per
 * window/limit. It needs a single timestamp per key, and an entry whose
 * timestamp has passed is indistinguishable from a fresh one, so expired
 * entries are free slots. A live entry is never dropped to make room: when
 * a key's neighbourhood is full of limits in force, the new key is refused
 * (rl_hit returns 0) until one of them decays, and that is logged.
 */
#ifndef MG_RATELIMIT_H
#define MG_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes the master must reserve for a table tracking `entries` keys. */
size_t rl_zone_size(int entries);

/* Master, once, before fork: lay out an empty table in zone. */
void rl_zone_init(void *zone, size_t size, int entries);

/* Count one request for key at now_ms: milliseconds on a clock every
 * process shares (CLOCK_MONOTONIC is best as it never steps back; wall-clock
 * time works too, but a step backwards delays requests by up to the step).
 * Returns 1 allowed; 0 limited, and then *retry_after_ms (when not NULL) is
 * how long until a request would be allowed. limit <= 0 or window 0
 * disables the limit (always 1). */
int rl_hit(void *zone, const char *key, size_t klen, int limit, uint64_t window_ms, uint64_t now_ms,
           uint64_t *retry_after_ms);

/* Master: a worker died; release the table's lock if it held it. */
void rl_force_unlock(void *zone, pid_t dead_pid);

/* The table's lock (for tests that simulate a worker dying with it held). */
void *rl_lock(void *zone);

/* For tests and status pages. */
typedef struct {
    uint32_t capacity;  /* slots */
    uint64_t evictions; /* live entries dropped: always 0 (a limit in force is never reset) */
    uint64_t refusals;  /* new keys refused (429) because their neighbourhood was all live */
} rl_stats_t;
int rl_stats(void *zone, rl_stats_t *out);

#endif
