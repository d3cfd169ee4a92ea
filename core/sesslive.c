/*
 * sesslive.c - the shared-memory table of live sessions (see sesslive.h).
 *
 * Layout: a header (magic, until when a dropped session would still be
 * live) and then the table itself (shmtab.h: its own header, with the
 * count of occupied slots, a seqlock version and the writers' shmtx, and
 * SESSLIVE_CAPACITY slots {session id, end in wall-clock ms}). An end of 1
 * is a session that was ended (logout, revocation): it keeps its slot, so
 * a refresh racing with the logout cannot bring it back, until a rebuild
 * drops it with the expired ones. The probe, the rebuild (sl_room, when
 * 3/4 of the slots are occupied) and the repair are shmtab.c's. The
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
#include <string.h>

#include "core/shmtab.h"

#define SL_MAGIC 0x736c697665303031ull /* "slive001" */
#define SL_ENDED 1
#define SL_READ_TRIES 8

_Static_assert(SESSLIVE_ID_LEN == SHMTAB_ID_LEN, "a session id is the table's key");

typedef struct {
    uint64_t magic;
    _Atomic uint64_t overflow_until; /* a session that did not fit is live until */
    shmtab_t tab;                    /* last: its slots follow it */
} sl_zone_t;

size_t sesslive_zone_size(void)
{
    return offsetof(sl_zone_t, tab) + shmtab_size(SESSLIVE_CAPACITY);
}

void sesslive_zone_init(void *zone, size_t size)
{
    sl_zone_t *z = zone;

    if (size < sesslive_zone_size())
        return;
    memset(z, 0, sizeof *z); /* slots: fresh anonymous pages are zero */
    z->magic = SL_MAGIC;
    shmtab_init(&z->tab, SESSLIVE_CAPACITY, "sesslive");
}

static sl_zone_t *sl_zone(void *zone)
{
    sl_zone_t *z = zone;
    return z && z->magic == SL_MAGIC ? z : NULL;
}

static int sl_live(uint64_t end, uint64_t now_ms)
{
    return end != SL_ENDED && end > now_ms;
}

/* Take the lock; a writer that died inside a rebuild left a half-copied
 * table: it starts again empty. */
static void sl_lock(sl_zone_t *z)
{
    if (shmtab_lock(&z->tab))
        shmtab_write_end(&z->tab);
}

/* Room for one more, after a rebuild with only the sessions still live at
 * now_ms if the table was at its limit. Rebuilds are the only changes in a
 * write section: they move entries under the scrape's feet. */
static int sl_room(sl_zone_t *z, uint64_t now_ms)
{
    if (!shmtab_full(&z->tab))
        return 1;
    shmtab_rebuild(&z->tab, sl_live, now_ms, 1);
    return !shmtab_full(&z->tab);
}

int sesslive_set(void *zone, const uint8_t id[SESSLIVE_ID_LEN], uint64_t end_ms, uint64_t now_ms)
{
    sl_zone_t *z = sl_zone(zone);
    uint64_t a, b;
    int r = 0;

    if (!z)
        return -1;
    shmtab_key(id, &a, &b);
    sl_lock(z);
    shmtab_slot_t *s = shmtab_probe(&z->tab, a, b);
    uint64_t e = atomic_load_explicit(&s->v, memory_order_relaxed);
    if (e != 0) {
        if (e != SL_ENDED && end_ms > e)
            atomic_store_explicit(&s->v, end_ms, memory_order_relaxed);
    } else if (end_ms > now_ms) {
        if (sl_room(z, now_ms)) {
            shmtab_fill(&z->tab, shmtab_probe(&z->tab, a, b), a, b, end_ms);
        } else {
            if (end_ms > atomic_load_explicit(&z->overflow_until, memory_order_relaxed))
                atomic_store_explicit(&z->overflow_until, end_ms, memory_order_relaxed);
            r = -1;
        }
    }
    shmtab_unlock(&z->tab);
    return r;
}

void sesslive_end(void *zone, const uint8_t id[SESSLIVE_ID_LEN])
{
    sl_zone_t *z = sl_zone(zone);
    uint64_t a, b;

    if (!z)
        return;
    shmtab_key(id, &a, &b);
    sl_lock(z);
    shmtab_slot_t *s = shmtab_probe(&z->tab, a, b);
    if (atomic_load_explicit(&s->v, memory_order_relaxed) != 0)
        atomic_store_explicit(&s->v, SL_ENDED, memory_order_relaxed);
    shmtab_unlock(&z->tab);
}

uint64_t sesslive_count(const void *zone, uint64_t now_ms, int *overflow)
{
    sl_zone_t *z = sl_zone((void *)zone); /* atomics are read, never written */
    uint64_t n = 0;

    *overflow = 0;
    if (!z)
        return 0;
    shmtab_slot_t *slots = shmtab_slots(&z->tab);
    for (int t = 0; t < SL_READ_TRIES; t++) {
        uint64_t v = shmtab_read_begin(&z->tab);
        if (v & 1)
            continue;
        n = 0;
        for (uint32_t i = 0; i < z->tab.capacity; i++)
            n += (uint64_t)sl_live(atomic_load_explicit(&slots[i].v, memory_order_relaxed), now_ms);
        if (shmtab_read_ok(&z->tab, v))
            break;
    }
    *overflow = atomic_load_explicit(&z->overflow_until, memory_order_relaxed) > now_ms;
    return n;
}

void sesslive_force_unlock(void *zone, pid_t dead_pid)
{
    sl_zone_t *z = sl_zone(zone);

    if (z)
        shmtx_force_unlock(&z->tab.lock, dead_pid);
}
