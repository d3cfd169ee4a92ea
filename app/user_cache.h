/*
 * user_cache.h - a worker's memory of which addresses have an account.
 *
 * POST /magic/generate asks the store "does this address have an account?"
 * once per request. Asked of SQLite that is a read transaction each time
 * (two fcntl() locks on the WAL index, an fstat of the database, the VDBE),
 * for an answer that almost never changes. The cache keeps the answers,
 * positive and negative, and throws them all away when SQLite's
 * data_version says another connection committed something.
 *
 * data_version is itself a read transaction, so it is asked at most once
 * per millisecond of the caller's clock: an answer is never more than about
 * a millisecond older than the store, which is as fresh as a lookup that
 * raced with the `magicd user remove` would have been anyway. The worker's
 * own writes (signup) do not move its data_version: the caller records them
 * with user_cache_put.
 *
 * Direct-mapped, fixed size (USER_CACHE_SLOTS): a colliding address simply
 * replaces the older one, so memory is bounded whatever addresses an
 * attacker tries, and a miss is only a store lookup. Entries hold the whole
 * address (compared in full, never by hash alone).
 */
#ifndef MG_USER_CACHE_H
#define MG_USER_CACHE_H

#include <stdint.h>

struct store;
typedef struct user_cache user_cache_t;

#define USER_CACHE_SLOTS 4096

user_cache_t *user_cache_new(void);
void user_cache_free(user_cache_t *uc);

/* 1 has an account / 0 not / -1 store error; now_ms: the caller's
 * monotonic clock (the data_version check runs once per value). */
int user_cache_exists(user_cache_t *uc, struct store *s, const char *email, uint64_t now_ms);

/* Record an answer the caller knows (it just added the user). */
void user_cache_put(user_cache_t *uc, const char *email, int known);

/* For a store without data_version (PostgreSQL: app/store_pgw.c), which
 * is told of changes instead (NOTIFY): the cached answer for email, 1 or
 * 0, or -1 when there is none. */
int user_cache_peek(user_cache_t *uc, const char *email);
/* Forget every answer (another connection changed the users), or the
 * one for email. */
void user_cache_clear(user_cache_t *uc);
void user_cache_forget(user_cache_t *uc, const char *email);
/* The cache's version, read before asking the store: an answer is kept
 * (user_cache_put_gen) only when no clear or forget came between question
 * and answer, so a change announced meanwhile is not hidden by an older
 * read. */
uint64_t user_cache_gen(const user_cache_t *uc);
void user_cache_put_gen(user_cache_t *uc, const char *email, int known, uint64_t gen);

/* Counters, for tests. */
typedef struct {
    uint64_t hits, misses, version_checks, invalidations;
} user_cache_stats_t;
user_cache_stats_t user_cache_stats(const user_cache_t *uc);

#endif
