/*
 * revoke.c - the shared-memory set of revoked session ids (see revoke.h).
 *
 * Layout: a header (magic, the overflow record, the store sequence
 * applied, the poll election word) and then the table itself (shmtab.h:
 * its own header, with the seqlock version and the writers' shmtx, and
 * REVOKE_CAPACITY slots {session id, session end in ms}). Session ids are
 * 16 random bytes the server draws at sign-in, so a client can aim at no
 * slot. The table's probe, its rebuild (rv_sweep: the entries whose
 * session has ended are dropped) and its repair are shmtab.c's.
 *
 * Concurrency: writers (a worker at logout, the elected poller) take the
 * shmtx and wrap every change in a write section: the version is odd
 * while slots change. Readers never lock: they read the version, probe
 * with relaxed atomic loads, and accept the answer only if the version was
 * even and did not move; otherwise they retry, and after RV_READ_TRIES give
 * up and answer "unknown" (-1), which sends the caller to the store.
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
#include <string.h>

#include "core/shmtab.h"

#define RV_MAGIC 0x7265766f6b653031ull /* "revoke01" */
#define RV_READ_TRIES 64

_Static_assert(REVOKE_ID_LEN == SHMTAB_ID_LEN, "a session id is the table's key");

typedef struct {
    uint64_t magic;
    _Atomic uint32_t overflow;       /* entries were dropped for lack of room */
    _Atomic uint64_t overflow_until; /* ...and matter until this ms */
    _Atomic uint64_t seq;            /* store revocation sequence applied */
    _Atomic uint64_t next_poll_ms;   /* poll election (monotonic ms) */
    shmtab_t tab;                    /* last: its slots follow it */
} rv_zone_t;

size_t revoke_zone_size(void)
{
    return offsetof(rv_zone_t, tab) + shmtab_size(REVOKE_CAPACITY);
}

void revoke_zone_init(void *zone, size_t size)
{
    rv_zone_t *z = zone;

    if (size < revoke_zone_size())
        return;
    memset(z, 0, sizeof *z); /* slots: fresh anonymous pages are zero */
    z->magic = RV_MAGIC;
    shmtab_init(&z->tab, REVOKE_CAPACITY, "revoke");
}

int revoke_has(const void *zone, const uint8_t id[REVOKE_ID_LEN])
{
    const rv_zone_t *z = zone;
    rv_zone_t *w = (rv_zone_t *)zone; /* atomics are read, never written */
    uint64_t a, b;

    if (!z || z->magic != RV_MAGIC)
        return -1;
    shmtab_key(id, &a, &b);
    for (int t = 0; t < RV_READ_TRIES; t++) {
        uint64_t v = shmtab_read_begin(&w->tab);

        if (v & 1)
            continue;
        shmtab_slot_t *s = shmtab_probe(&w->tab, a, b);
        int found = s && atomic_load_explicit(&s->v, memory_order_relaxed) != 0;
        if (!shmtab_read_ok(&w->tab, v))
            continue;
        if (found)
            return 1;
        return atomic_load_explicit(&w->overflow, memory_order_relaxed) ? -1 : 0;
    }
    return -1;
}

/* ---- writers (under the table's lock) ---- */

/* Take the writers' lock; repair the damage of a writer that died with the
 * version odd: the table may be half written, so start over from the store. */
static void rv_lock(rv_zone_t *z)
{
    if (shmtab_lock(&z->tab)) {
        atomic_store_explicit(&z->overflow, 0, memory_order_relaxed);
        atomic_store_explicit(&z->overflow_until, 0, memory_order_relaxed);
        atomic_store_explicit(&z->seq, 0, memory_order_relaxed);
        shmtab_write_end(&z->tab); /* even again */
    }
}

/* Put (a, b) in its place, or move its end later. Caller checked room. */
static void rv_put(rv_zone_t *z, uint64_t a, uint64_t b, uint64_t exp)
{
    shmtab_slot_t *s = shmtab_probe(&z->tab, a, b);
    uint64_t e = atomic_load_explicit(&s->v, memory_order_relaxed);

    if (e == 0)
        shmtab_fill(&z->tab, s, a, b, exp ? exp : 1);
    else if (exp > e)
        atomic_store_explicit(&s->v, exp, memory_order_relaxed);
}

static int rv_live(uint64_t exp, uint64_t now_ms)
{
    return exp > now_ms;
}

/* Rebuild without the entries whose session ended before now. Inside a
 * write section. */
static void rv_sweep(rv_zone_t *z, uint64_t now_ms)
{
    uint32_t of = atomic_load_explicit(&z->overflow, memory_order_relaxed);
    uint64_t ou = atomic_load_explicit(&z->overflow_until, memory_order_relaxed);

    if (!shmtab_rebuild(&z->tab, rv_live, now_ms, 0))
        return;
    /* Dropped entries stop mattering once their sessions have ended. */
    if (!(of && ou > now_ms)) {
        atomic_store_explicit(&z->overflow, 0, memory_order_relaxed);
        atomic_store_explicit(&z->overflow_until, 0, memory_order_relaxed);
    }
}

static int rv_room(rv_zone_t *z, uint64_t now_ms)
{
    if (!shmtab_full(&z->tab))
        return 1;
    rv_sweep(z, now_ms);
    return !shmtab_full(&z->tab);
}

/* Add one entry inside a write section. 0 or -1 (no room: overflow). */
static int rv_add(rv_zone_t *z, const uint8_t id[REVOKE_ID_LEN], uint64_t exp_ms, uint64_t now_ms)
{
    uint64_t a, b;

    if (exp_ms <= now_ms)
        return 0; /* the session is over anyway */
    shmtab_key(id, &a, &b);
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
    shmtab_write_begin(&z->tab);
    r = rv_add(z, id, exp_ms, now_ms);
    shmtab_write_end(&z->tab);
    shmtab_unlock(&z->tab);
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
        shmtab_unlock(&z->tab);
        return 1; /* another poller (or a repair) moved on: read again */
    }
    shmtab_write_begin(&z->tab);
    for (int i = 0; i < n; i++)
        if (rv_add(z, e[i].id, e[i].exp_ms, now_ms) < 0)
            r = -1;
    if (atomic_load_explicit(&z->overflow, memory_order_relaxed) &&
        atomic_load_explicit(&z->overflow_until, memory_order_relaxed) <= now_ms)
        atomic_store_explicit(&z->overflow, 0, memory_order_relaxed);
    atomic_store_explicit(&z->seq, to_seq, memory_order_relaxed);
    shmtab_write_end(&z->tab);
    shmtab_unlock(&z->tab);
    return r;
}

uint64_t revoke_seq(const void *zone)
{
    rv_zone_t *z = (rv_zone_t *)zone;

    if (!z || z->magic != RV_MAGIC)
        return 0;
    /* A damaged set is as good as empty: report 0 so the poller reloads. */
    if (atomic_load_explicit(&z->tab.version, memory_order_acquire) & 1 &&
        atomic_load_explicit(&z->tab.lock.owner, memory_order_relaxed) == 0)
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
        shmtx_force_unlock(&z->tab.lock, dead_pid);
}

void revoke_stats(const void *zone, revoke_stats_t *out)
{
    rv_zone_t *z = (rv_zone_t *)zone;

    memset(out, 0, sizeof *out);
    if (!z || z->magic != RV_MAGIC)
        return;
    out->capacity = z->tab.capacity;
    out->used = atomic_load_explicit(&z->tab.used, memory_order_relaxed);
    out->overflow = (int)atomic_load_explicit(&z->overflow, memory_order_relaxed);
    out->seq = atomic_load_explicit(&z->seq, memory_order_relaxed);
}
