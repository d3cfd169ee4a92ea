/*
 * shmtab.c - the shared-memory hash table under the revocation set and the
 * live-session table (see shmtab.h).
 *
 * Layout: the header (capacity, the count of occupied slots, a seqlock
 * version and the writers' shmtx), then capacity slots {id as two 64-bit
 * words, value}. A value of 0 marks an empty slot; every other value is
 * the owner's (a session's end in ms for both owners today, with 1 as
 * sesslive's "ended"). Ids are 16 random bytes the server drew, so the
 * first word is already a uniform hash and nothing a client sends can aim
 * at a slot.
 *
 * Open addressing with linear probing and no deletion, not even
 * tombstones: a slot is emptied only by a rebuild (shmtab_rebuild), which
 * copies the entries the owner still wants out, clears the table and puts
 * them back. That keeps every lookup trivially right (scan from the home
 * slot to the first empty one) and costs a rebuild when the table reaches
 * 3/4 of its slots, which the owner checks before every insert
 * (shmtab_full), so a writer's probe always ends.
 *
 * Writers take the shmtx. The seqlock version is odd inside a write
 * section; which changes an owner puts in one is its own choice: the
 * revocation set, whose readers look ids up, wraps every change; the
 * live-session table, whose reader only counts, wraps only rebuilds (they
 * move entries). Readers never lock: they read the version, read slots with
 * relaxed atomic loads (every field is an atomic, so there is no data race
 * in the C11 sense, only answers that are thrown away), and keep the answer
 * only if the version was even and did not move.
 *
 * A writer that dies inside a write section leaves the version odd and the
 * slots half written. The master frees its lock (shmtx_force_unlock on the
 * header's lock); the next writer sees the odd version in shmtab_lock,
 * clears the slots and, told so, resets what its owner keeps beside them
 * before making the version even again.
 */
#include "core/shmtab.h"

#include <stdlib.h>
#include <string.h>

size_t shmtab_size(uint32_t capacity)
{
    return sizeof(shmtab_t) + (size_t)capacity * sizeof(shmtab_slot_t);
}

void shmtab_init(shmtab_t *t, uint32_t capacity, const char *lock_name)
{
    t->capacity = capacity;
    t->mask = capacity - 1;
    shmtx_init(&t->lock, lock_name);
}

void shmtab_key(const uint8_t id[SHMTAB_ID_LEN], uint64_t *a, uint64_t *b)
{
    memcpy(a, id, 8);
    memcpy(b, id + 8, 8);
}

shmtab_slot_t *shmtab_probe(shmtab_t *t, uint64_t a, uint64_t b)
{
    shmtab_slot_t *slots = shmtab_slots(t);

    for (uint32_t i = (uint32_t)a & t->mask, n = 0; n < t->capacity; i = (i + 1) & t->mask, n++) {
        shmtab_slot_t *s = &slots[i];
        if (atomic_load_explicit(&s->v, memory_order_relaxed) == 0 ||
            (atomic_load_explicit(&s->a, memory_order_relaxed) == a &&
             atomic_load_explicit(&s->b, memory_order_relaxed) == b))
            return s;
    }
    return NULL;
}

void shmtab_fill(shmtab_t *t, shmtab_slot_t *s, uint64_t a, uint64_t b, uint64_t v)
{
    atomic_store_explicit(&s->a, a, memory_order_relaxed);
    atomic_store_explicit(&s->b, b, memory_order_relaxed);
    atomic_store_explicit(&s->v, v, memory_order_release);
    atomic_fetch_add_explicit(&t->used, 1, memory_order_relaxed);
}

static void shmtab_clear(shmtab_t *t)
{
    shmtab_slot_t *slots = shmtab_slots(t);

    for (uint32_t i = 0; i < t->capacity; i++)
        if (atomic_load_explicit(&slots[i].v, memory_order_relaxed))
            atomic_store_explicit(&slots[i].v, 0, memory_order_relaxed);
    atomic_store_explicit(&t->used, 0, memory_order_relaxed);
}

void shmtab_write_begin(shmtab_t *t)
{
    uint64_t v = atomic_load_explicit(&t->version, memory_order_relaxed);
    atomic_store_explicit(&t->version, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

void shmtab_write_end(shmtab_t *t)
{
    uint64_t v = atomic_load_explicit(&t->version, memory_order_relaxed);
    atomic_store_explicit(&t->version, v + 1, memory_order_release);
}

int shmtab_lock(shmtab_t *t)
{
    shmtx_lock(&t->lock);
    if (!(atomic_load_explicit(&t->version, memory_order_relaxed) & 1))
        return 0;
    shmtab_clear(t); /* half written: start over */
    return 1;
}

void shmtab_unlock(shmtab_t *t)
{
    shmtx_unlock(&t->lock);
}

uint64_t shmtab_read_begin(shmtab_t *t)
{
    return atomic_load_explicit(&t->version, memory_order_acquire);
}

int shmtab_read_ok(shmtab_t *t, uint64_t v)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&t->version, memory_order_relaxed) == v;
}

int shmtab_full(shmtab_t *t)
{
    return atomic_load_explicit(&t->used, memory_order_relaxed) >= t->capacity / 4 * 3;
}

int shmtab_rebuild(shmtab_t *t, int (*keep)(uint64_t v, uint64_t now), uint64_t now, int section)
{
    shmtab_slot_t *slots = shmtab_slots(t);
    uint32_t n = atomic_load_explicit(&t->used, memory_order_relaxed), k = 0;
    struct {
        uint64_t a, b, v;
    } * kept;

    if (n == 0)
        return 0;
    kept = malloc((size_t)n * sizeof *kept);
    if (!kept)
        return 0;
    for (uint32_t i = 0; i < t->capacity && k < n; i++) {
        uint64_t v = atomic_load_explicit(&slots[i].v, memory_order_relaxed);
        if (v == 0 || !keep(v, now))
            continue;
        kept[k].a = atomic_load_explicit(&slots[i].a, memory_order_relaxed);
        kept[k].b = atomic_load_explicit(&slots[i].b, memory_order_relaxed);
        kept[k].v = v;
        k++;
    }
    if (section)
        shmtab_write_begin(t); /* odd: readers read again */
    shmtab_clear(t);
    for (uint32_t i = 0; i < k; i++)
        shmtab_fill(t, shmtab_probe(t, kept[i].a, kept[i].b), kept[i].a, kept[i].b, kept[i].v);
    if (section)
        shmtab_write_end(t);
    free(kept);
    return 1;
}
