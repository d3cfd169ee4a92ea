/*
 * revoke.c - the shared-memory set of revoked session ids (see revoke.h).
 *
 * Layout: a header (magic, capacity, counters, the store sequence applied,
 * the poll election word, a seqlock version and the writers' shmtx) and
 * then REVOKE_CAPACITY slots {id as two 64-bit words, session end in ms}.
 * An end of 0 marks an empty slot. Session ids are 16 random bytes, so the
 * first word is already a uniform hash: there is nothing a client can
 * choose (a client never picks an id; the server draws it at sign-in).
 *
 * Open addressing with linear probing, no tombstones: a slot is emptied
 * only by a rebuild (rv_sweep), which copies the live entries out, clears
 * the table and puts them back. That keeps the lookup trivially right: scan
 * from the home slot to the first empty one.
 *
 * Concurrency: writers (a worker at logout, the elected poller) take the
 * shmtx and wrap every change in a seqlock: the version is odd while slots
 * change. Readers never lock: they read the version, scan with relaxed
 * atomic loads, and accept the answer only if the version was even and did
 * not move; otherwise they retry, and after RV_READ_TRIES give up and
 * answer "unknown" (-1), which sends the caller to the store. Every field
 * a reader looks at is an atomic, so there is no data race in the C11
 * sense, only answers that are thrown away.
 *
 * A writer that dies mid-change leaves the version odd. The master frees
 * the lock (revoke_force_unlock); the next writer sees the odd version,
 * clears the table and resets the applied sequence to 0, so the next poll
 * reloads every revocation from the store. Until then readers answer -1.
 *
 * When the table is 3/4 full even after dropping expired entries, an id
 * that does not fit is not stored: the set remembers it overflowed (and
 * until when the missing entries matter) and answers -1 instead of 0 for
 * any id it does not hold, so a flood of logouts costs store lookups, never
 * a revoked session accepted.
 */
#include "core/revoke.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/shmtx.h"

#define RV_MAGIC 0x7265766f6b653031ull /* "revoke01" */
#define RV_READ_TRIES 64

typedef struct {
    _Atomic uint64_t a, b; /* the id */
    _Atomic uint64_t exp;  /* session end, wall-clock ms; 0 = empty */
} rv_slot_t;

typedef struct {
    uint64_t magic;
    uint32_t capacity; /* power of two */
    uint32_t mask;
    _Atomic uint32_t used;
    _Atomic uint32_t overflow;       /* entries were dropped for lack of room */
    _Atomic uint64_t overflow_until; /* ...and matter until this ms */
    _Atomic uint64_t version;        /* seqlock: odd while slots change */
    _Atomic uint64_t seq;            /* store revocation sequence applied */
    _Atomic uint64_t next_poll_ms;   /* poll election (monotonic ms) */
    shmtx_t lock;
    rv_slot_t slots[];
} rv_zone_t;

size_t revoke_zone_size(void)
{
    return sizeof(rv_zone_t) + (size_t)REVOKE_CAPACITY * sizeof(rv_slot_t);
}

void revoke_zone_init(void *zone, size_t size)
{
    rv_zone_t *z = zone;

    if (size < revoke_zone_size())
        return;
    memset(z, 0, sizeof *z); /* slots: fresh anonymous pages are zero */
    z->magic = RV_MAGIC;
    z->capacity = REVOKE_CAPACITY;
    z->mask = REVOKE_CAPACITY - 1;
    shmtx_init(&z->lock, "revoke");
}

static void rv_key(const uint8_t id[REVOKE_ID_LEN], uint64_t *a, uint64_t *b)
{
    memcpy(a, id, 8);
    memcpy(b, id + 8, 8);
}

int revoke_has(const void *zone, const uint8_t id[REVOKE_ID_LEN])
{
    const rv_zone_t *z = zone;
    rv_zone_t *w = (rv_zone_t *)zone; /* atomics are read, never written */
    uint64_t a, b;

    if (!z || z->magic != RV_MAGIC)
        return -1;
    rv_key(id, &a, &b);
    for (int t = 0; t < RV_READ_TRIES; t++) {
        uint64_t v = atomic_load_explicit(&w->version, memory_order_acquire);
        int found = 0;

        if (v & 1)
            continue;
        for (uint32_t i = (uint32_t)a & z->mask, n = 0; n < z->capacity;
             i = (i + 1) & z->mask, n++) {
            rv_slot_t *s = &w->slots[i];
            if (atomic_load_explicit(&s->exp, memory_order_relaxed) == 0)
                break;
            if (atomic_load_explicit(&s->a, memory_order_relaxed) == a &&
                atomic_load_explicit(&s->b, memory_order_relaxed) == b) {
                found = 1;
                break;
            }
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&w->version, memory_order_relaxed) != v)
            continue;
        if (found)
            return 1;
        return atomic_load_explicit(&w->overflow, memory_order_relaxed) ? -1 : 0;
    }
    return -1;
}

/* ---- writers (under z->lock) ---- */

static void rv_write_begin(rv_zone_t *z)
{
    uint64_t v = atomic_load_explicit(&z->version, memory_order_relaxed);
    atomic_store_explicit(&z->version, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void rv_write_end(rv_zone_t *z)
{
    uint64_t v = atomic_load_explicit(&z->version, memory_order_relaxed);
    atomic_store_explicit(&z->version, v + 1, memory_order_release);
}

static void rv_clear(rv_zone_t *z)
{
    for (uint32_t i = 0; i < z->capacity; i++)
        if (atomic_load_explicit(&z->slots[i].exp, memory_order_relaxed))
            atomic_store_explicit(&z->slots[i].exp, 0, memory_order_relaxed);
    atomic_store_explicit(&z->used, 0, memory_order_relaxed);
    atomic_store_explicit(&z->overflow, 0, memory_order_relaxed);
    atomic_store_explicit(&z->overflow_until, 0, memory_order_relaxed);
}

/* Take the writers' lock; repair the damage of a writer that died with the
 * version odd: the table may be half written, so start over from the store. */
static void rv_lock(rv_zone_t *z)
{
    shmtx_lock(&z->lock);
    if (atomic_load_explicit(&z->version, memory_order_relaxed) & 1) {
        rv_clear(z);
        atomic_store_explicit(&z->seq, 0, memory_order_relaxed);
        rv_write_end(z); /* even again */
    }
}

/* Put (a, b) in its place; 1 added, 0 already there. Caller checked room. */
static int rv_put(rv_zone_t *z, uint64_t a, uint64_t b, uint64_t exp)
{
    uint32_t i = (uint32_t)a & z->mask;

    for (;; i = (i + 1) & z->mask) {
        rv_slot_t *s = &z->slots[i];
        uint64_t e = atomic_load_explicit(&s->exp, memory_order_relaxed);
        if (e == 0) {
            atomic_store_explicit(&s->a, a, memory_order_relaxed);
            atomic_store_explicit(&s->b, b, memory_order_relaxed);
            atomic_store_explicit(&s->exp, exp ? exp : 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&z->used, 1, memory_order_relaxed);
            return 1;
        }
        if (atomic_load_explicit(&s->a, memory_order_relaxed) == a &&
            atomic_load_explicit(&s->b, memory_order_relaxed) == b) {
            if (exp > e)
                atomic_store_explicit(&s->exp, exp, memory_order_relaxed);
            return 0;
        }
    }
}

/* Rebuild without the entries whose session ended before now. Inside a
 * write section. */
static void rv_sweep(rv_zone_t *z, uint64_t now_ms)
{
    uint32_t n = atomic_load_explicit(&z->used, memory_order_relaxed), k = 0;
    rv_slot_t *keep;

    if (n == 0)
        return;
    keep = malloc((size_t)n * sizeof *keep);
    if (!keep)
        return;
    for (uint32_t i = 0; i < z->capacity && k < n; i++) {
        rv_slot_t *s = &z->slots[i];
        uint64_t e = atomic_load_explicit(&s->exp, memory_order_relaxed);
        if (e > now_ms) {
            atomic_init(&keep[k].a, atomic_load_explicit(&s->a, memory_order_relaxed));
            atomic_init(&keep[k].b, atomic_load_explicit(&s->b, memory_order_relaxed));
            atomic_init(&keep[k].exp, e);
            k++;
        }
    }
    uint32_t of = atomic_load_explicit(&z->overflow, memory_order_relaxed);
    uint64_t ou = atomic_load_explicit(&z->overflow_until, memory_order_relaxed);
    rv_clear(z);
    for (uint32_t i = 0; i < k; i++)
        rv_put(z, atomic_load_explicit(&keep[i].a, memory_order_relaxed),
               atomic_load_explicit(&keep[i].b, memory_order_relaxed),
               atomic_load_explicit(&keep[i].exp, memory_order_relaxed));
    free(keep);
    /* Dropped entries stop mattering once their sessions have ended. */
    if (of && ou > now_ms) {
        atomic_store_explicit(&z->overflow, 1, memory_order_relaxed);
        atomic_store_explicit(&z->overflow_until, ou, memory_order_relaxed);
    }
}

static int rv_room(rv_zone_t *z, uint64_t now_ms)
{
    uint32_t limit = z->capacity / 4 * 3;

    if (atomic_load_explicit(&z->used, memory_order_relaxed) < limit)
        return 1;
    rv_sweep(z, now_ms);
    return atomic_load_explicit(&z->used, memory_order_relaxed) < limit;
}

/* Add one entry inside a write section. 0 or -1 (no room: overflow). */
static int rv_add(rv_zone_t *z, const uint8_t id[REVOKE_ID_LEN], uint64_t exp_ms, uint64_t now_ms)
{
    uint64_t a, b;

    if (exp_ms <= now_ms)
        return 0; /* the session is over anyway */
    rv_key(id, &a, &b);
    if (!rv_room(z, now_ms)) {
        atomic_store_explicit(&z->overflow, 1, memory_order_relaxed);
        if (exp_ms > atomic_load_explicit(&z->overflow_until, memory_order_relaxed))
            atomic_store_explicit(&z->overflow_until, exp_ms, memory_order_relaxed);
        return -1;
    }
    rv_put(z, a, b, exp_ms);
    return 0;
}

int revoke_add(void *zone, const uint8_t id[REVOKE_ID_LEN], uint64_t exp_ms, uint64_t now_ms)
{
    rv_zone_t *z = zone;
    int r;

    if (!z || z->magic != RV_MAGIC)
        return -1;
    rv_lock(z);
    rv_write_begin(z);
    r = rv_add(z, id, exp_ms, now_ms);
    rv_write_end(z);
    shmtx_unlock(&z->lock);
    return r;
}

int revoke_apply(void *zone, uint64_t from_seq, const revoke_entry_t *e, int n, uint64_t to_seq,
                 uint64_t now_ms)
{
    rv_zone_t *z = zone;
    int r = 0;

    if (!z || z->magic != RV_MAGIC)
        return -1;
    rv_lock(z);
    if (atomic_load_explicit(&z->seq, memory_order_relaxed) != from_seq) {
        shmtx_unlock(&z->lock);
        return 1; /* another poller (or a repair) moved on: read again */
    }
    rv_write_begin(z);
    for (int i = 0; i < n; i++)
        if (rv_add(z, e[i].id, e[i].exp_ms, now_ms) < 0)
            r = -1;
    if (atomic_load_explicit(&z->overflow, memory_order_relaxed) &&
        atomic_load_explicit(&z->overflow_until, memory_order_relaxed) <= now_ms)
        atomic_store_explicit(&z->overflow, 0, memory_order_relaxed);
    atomic_store_explicit(&z->seq, to_seq, memory_order_relaxed);
    rv_write_end(z);
    shmtx_unlock(&z->lock);
    return r;
}

uint64_t revoke_seq(const void *zone)
{
    rv_zone_t *z = (rv_zone_t *)zone;

    if (!z || z->magic != RV_MAGIC)
        return 0;
    /* A damaged set is as good as empty: report 0 so the poller reloads. */
    if (atomic_load_explicit(&z->version, memory_order_acquire) & 1 &&
        atomic_load_explicit(&z->lock.owner, memory_order_relaxed) == 0)
        return 0;
    return atomic_load_explicit(&z->seq, memory_order_acquire);
}

int revoke_poll_claim(void *zone, uint64_t now_ms, uint64_t every_ms)
{
    rv_zone_t *z = zone;
    uint64_t next;

    if (!z || z->magic != RV_MAGIC)
        return 0;
    next = atomic_load_explicit(&z->next_poll_ms, memory_order_relaxed);
    if (now_ms < next)
        return 0;
    return atomic_compare_exchange_strong_explicit(&z->next_poll_ms, &next, now_ms + every_ms,
                                                   memory_order_relaxed, memory_order_relaxed);
}

void revoke_force_unlock(void *zone, pid_t dead_pid)
{
    rv_zone_t *z = zone;

    if (z && z->magic == RV_MAGIC)
        shmtx_force_unlock(&z->lock, dead_pid);
}

void revoke_stats(const void *zone, revoke_stats_t *out)
{
    rv_zone_t *z = (rv_zone_t *)zone;

    memset(out, 0, sizeof *out);
    if (!z || z->magic != RV_MAGIC)
        return;
    out->capacity = z->capacity;
    out->used = atomic_load_explicit(&z->used, memory_order_relaxed);
    out->overflow = (int)atomic_load_explicit(&z->overflow, memory_order_relaxed);
    out->seq = atomic_load_explicit(&z->seq, memory_order_relaxed);
}
