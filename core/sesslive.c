/*
 * sesslive.c - the shared-memory table of live sessions (see sesslive.h).
 *
 * Layout: a header (magic, capacity, the count of occupied slots, until
 * when a dropped session would still be live, a seqlock version and the
 * writers' shmtx) and then SESSLIVE_CAPACITY slots {id as two 64-bit words,
 * end in wall-clock ms}. An end of 0 is an empty slot, 1 a session that
 * was ended (logout, revocation): it keeps its slot, so a refresh racing
 * with the logout cannot bring it back, until a rebuild drops it with the
 * expired ones. Ids are 16 random bytes drawn by the server, so the first
 * word is a uniform hash.
 *
 * Open addressing with linear probing and no deletion: a slot is emptied
 * only by a rebuild (sl_sweep, when 3/4 of the slots are occupied), which
 * copies the live entries out, clears the table and puts them back. The
 * writers are the workers, always under the lock: one probe per sign-in,
 * refresh and logout, none on a request that only uses a session.
 *
 * The one reader is the profiler's scrape, which never locks: it counts
 * the slots whose end is after now. A change to one slot is one atomic
 * store, so a scan that overlaps it is off by at most that session, as any
 * gauge read a moment earlier or later would be; only a rebuild moves
 * entries, so a rebuild makes the seqlock version odd and a scan that saw
 * the version move counts again. A writer that died inside a rebuild
 * leaves the version odd: the master frees its lock, and the next writer
 * clears the table (those sessions come back at their next refresh).
 */
#include "core/sesslive.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/shmtx.h"

#define SL_MAGIC 0x736c697665303031ull /* "slive001" */
#define SL_ENDED 1
#define SL_READ_TRIES 8

typedef struct {
    _Atomic uint64_t a, b; /* the id */
    _Atomic uint64_t end;  /* wall-clock ms; 0 empty, SL_ENDED ended */
} sl_slot_t;

typedef struct {
    uint64_t magic;
    uint32_t capacity; /* power of two */
    uint32_t mask;
    _Atomic uint32_t used;           /* occupied slots, live or not */
    _Atomic uint64_t overflow_until; /* a session that did not fit is live until */
    _Atomic uint64_t version;        /* seqlock: odd during a rebuild */
    shmtx_t lock;
    sl_slot_t slots[];
} sl_zone_t;

size_t sesslive_zone_size(void)
{
    return sizeof(sl_zone_t) + (size_t)SESSLIVE_CAPACITY * sizeof(sl_slot_t);
}

void sesslive_zone_init(void *zone, size_t size)
{
    sl_zone_t *z = zone;

    if (size < sesslive_zone_size())
        return;
    memset(z, 0, sizeof *z); /* slots: fresh anonymous pages are zero */
    z->magic = SL_MAGIC;
    z->capacity = SESSLIVE_CAPACITY;
    z->mask = SESSLIVE_CAPACITY - 1;
    shmtx_init(&z->lock, "sesslive");
}

static sl_zone_t *sl_zone(void *zone)
{
    sl_zone_t *z = zone;
    return z && z->magic == SL_MAGIC ? z : NULL;
}

static void sl_key(const uint8_t id[SESSLIVE_ID_LEN], uint64_t *a, uint64_t *b)
{
    memcpy(a, id, 8);
    memcpy(b, id + 8, 8);
}

static int sl_live(uint64_t end, uint64_t now_ms)
{
    return end != SL_ENDED && end > now_ms;
}

static void sl_bump(sl_zone_t *z, memory_order mo)
{
    uint64_t v = atomic_load_explicit(&z->version, memory_order_relaxed);
    atomic_store_explicit(&z->version, v + 1, mo);
}

static void sl_clear(sl_zone_t *z)
{
    for (uint32_t i = 0; i < z->capacity; i++)
        if (atomic_load_explicit(&z->slots[i].end, memory_order_relaxed))
            atomic_store_explicit(&z->slots[i].end, 0, memory_order_relaxed);
    atomic_store_explicit(&z->used, 0, memory_order_relaxed);
}

/* Take the lock; a writer that died inside a rebuild left a half-copied
 * table: start it again empty. */
static void sl_lock(sl_zone_t *z)
{
    shmtx_lock(&z->lock);
    if (atomic_load_explicit(&z->version, memory_order_relaxed) & 1) {
        sl_clear(z);
        sl_bump(z, memory_order_release);
    }
}

/* The slot holding (a, b), or the empty slot where it would go. */
static sl_slot_t *sl_find(sl_zone_t *z, uint64_t a, uint64_t b)
{
    for (uint32_t i = (uint32_t)a & z->mask;; i = (i + 1) & z->mask) {
        sl_slot_t *s = &z->slots[i];
        if (atomic_load_explicit(&s->end, memory_order_relaxed) == 0 ||
            (atomic_load_explicit(&s->a, memory_order_relaxed) == a &&
             atomic_load_explicit(&s->b, memory_order_relaxed) == b))
            return s;
    }
}

static void sl_fill(sl_zone_t *z, sl_slot_t *s, uint64_t a, uint64_t b, uint64_t end)
{
    atomic_store_explicit(&s->a, a, memory_order_relaxed);
    atomic_store_explicit(&s->b, b, memory_order_relaxed);
    atomic_store_explicit(&s->end, end, memory_order_release);
    atomic_fetch_add_explicit(&z->used, 1, memory_order_relaxed);
}

/* Rebuild with only the sessions still live at now_ms. */
static void sl_sweep(sl_zone_t *z, uint64_t now_ms)
{
    uint32_t n = atomic_load_explicit(&z->used, memory_order_relaxed), k = 0;
    uint64_t *keep = malloc((size_t)n * 3 * sizeof *keep);

    if (!keep)
        return;
    for (uint32_t i = 0; i < z->capacity && k < n; i++) {
        sl_slot_t *s = &z->slots[i];
        uint64_t e = atomic_load_explicit(&s->end, memory_order_relaxed);
        if (!sl_live(e, now_ms))
            continue;
        keep[3 * k] = atomic_load_explicit(&s->a, memory_order_relaxed);
        keep[3 * k + 1] = atomic_load_explicit(&s->b, memory_order_relaxed);
        keep[3 * k + 2] = e;
        k++;
    }
    sl_bump(z, memory_order_relaxed); /* odd: scans count again */
    atomic_thread_fence(memory_order_release);
    sl_clear(z);
    for (uint32_t i = 0; i < k; i++)
        sl_fill(z, sl_find(z, keep[3 * i], keep[3 * i + 1]), keep[3 * i], keep[3 * i + 1],
                keep[3 * i + 2]);
    sl_bump(z, memory_order_release);
    free(keep);
}

static int sl_room(sl_zone_t *z, uint64_t now_ms)
{
    uint32_t limit = z->capacity / 4 * 3;

    if (atomic_load_explicit(&z->used, memory_order_relaxed) < limit)
        return 1;
    sl_sweep(z, now_ms);
    return atomic_load_explicit(&z->used, memory_order_relaxed) < limit;
}

int sesslive_set(void *zone, const uint8_t id[SESSLIVE_ID_LEN], uint64_t end_ms, uint64_t now_ms)
{
    sl_zone_t *z = sl_zone(zone);
    uint64_t a, b;
    int r = 0;

    if (!z)
        return -1;
    sl_key(id, &a, &b);
    sl_lock(z);
    sl_slot_t *s = sl_find(z, a, b);
    uint64_t e = atomic_load_explicit(&s->end, memory_order_relaxed);
    if (e != 0) {
        if (e != SL_ENDED && end_ms > e)
            atomic_store_explicit(&s->end, end_ms, memory_order_relaxed);
    } else if (end_ms > now_ms) {
        if (sl_room(z, now_ms)) {
            sl_fill(z, sl_find(z, a, b), a, b, end_ms);
        } else {
            if (end_ms > atomic_load_explicit(&z->overflow_until, memory_order_relaxed))
                atomic_store_explicit(&z->overflow_until, end_ms, memory_order_relaxed);
            r = -1;
        }
    }
    shmtx_unlock(&z->lock);
    return r;
}

void sesslive_end(void *zone, const uint8_t id[SESSLIVE_ID_LEN])
{
    sl_zone_t *z = sl_zone(zone);
    uint64_t a, b;

    if (!z)
        return;
    sl_key(id, &a, &b);
    sl_lock(z);
    sl_slot_t *s = sl_find(z, a, b);
    if (atomic_load_explicit(&s->end, memory_order_relaxed) != 0)
        atomic_store_explicit(&s->end, SL_ENDED, memory_order_relaxed);
    shmtx_unlock(&z->lock);
}

uint64_t sesslive_count(const void *zone, uint64_t now_ms, int *overflow)
{
    sl_zone_t *z = sl_zone((void *)zone); /* atomics are read, never written */
    uint64_t n = 0;

    *overflow = 0;
    if (!z)
        return 0;
    for (int t = 0; t < SL_READ_TRIES; t++) {
        uint64_t v = atomic_load_explicit(&z->version, memory_order_acquire);
        if (v & 1)
            continue;
        n = 0;
        for (uint32_t i = 0; i < z->capacity; i++)
            n += (uint64_t)sl_live(atomic_load_explicit(&z->slots[i].end, memory_order_relaxed),
                                   now_ms);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&z->version, memory_order_relaxed) == v)
            break;
    }
    *overflow = atomic_load_explicit(&z->overflow_until, memory_order_relaxed) > now_ms;
    return n;
}

void sesslive_force_unlock(void *zone, pid_t dead_pid)
{
    sl_zone_t *z = sl_zone(zone);

    if (z)
        shmtx_force_unlock(&z->lock, dead_pid);
}
