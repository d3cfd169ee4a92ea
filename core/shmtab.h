/*
 * shmtab.h - a fixed-size hash table of 16-byte ids in shared memory, the
 * part the revocation set (revoke.c) and the live-session table
 * (sesslive.c) have in common.
 *
 * Both keep, for server-drawn random ids, one 64-bit value per id in a
 * zone the master maps before fork; both are written by any worker under
 * one cross-process lock and read without it. What they share is the
 * mechanics: the slots, the probe, the rebuild that drops what is no
 * longer wanted, the 3/4 fill limit, the seqlock version and the repair of
 * a table a dead writer left half written. What the value means, which
 * changes make the version odd and what a reader does with it stay with
 * each owner (see the essay at the top of shmtab.c).
 *
 * A table is a shmtab_t header followed directly by its slots. An owner
 * puts the header last in its own zone header and reserves
 * offsetof(zone, tab) + shmtab_size(capacity) bytes.
 */
#ifndef MG_SHMTAB_H
#define MG_SHMTAB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/shmtx.h"

#define SHMTAB_ID_LEN 16

typedef struct {
    _Atomic uint64_t a, b; /* the id, as two words */
    _Atomic uint64_t v;    /* the owner's value; 0 = empty slot */
} shmtab_slot_t;

typedef struct {
    uint32_t capacity; /* power of two */
    uint32_t mask;
    _Atomic uint32_t used;    /* occupied slots */
    _Atomic uint64_t version; /* seqlock: odd inside a write section */
    shmtx_t lock;             /* the writers' */
} shmtab_t;

/* Bytes of a table of capacity slots (header included). */
size_t shmtab_size(uint32_t capacity);

/* An empty table over zeroed memory; capacity a power of two; the lock
 * named lock_name for the mutex profile. */
void shmtab_init(shmtab_t *t, uint32_t capacity, const char *lock_name);

static inline shmtab_slot_t *shmtab_slots(shmtab_t *t)
{
    return (shmtab_slot_t *)(t + 1);
}

/* The id as the two words a slot holds; the first is the hash (the ids
 * are random bytes the server drew, so nothing a client picks). */
void shmtab_key(const uint8_t id[SHMTAB_ID_LEN], uint64_t *a, uint64_t *b);

/* The slot holding (a, b), or the empty slot where it would go (linear
 * probing from the first word). Lock-free with relaxed loads; a reader
 * racing a rebuild may find neither within capacity slots: NULL. A writer
 * under the lock always gets a slot (the table is never full). */
shmtab_slot_t *shmtab_probe(shmtab_t *t, uint64_t a, uint64_t b);

/* Writers: put (a, b) with value v (not 0) in the empty slot s. */
void shmtab_fill(shmtab_t *t, shmtab_slot_t *s, uint64_t a, uint64_t b, uint64_t v);

/* Writers: take the lock. 1 when a writer died inside a write section
 * (the version is odd): the slots have been cleared and the caller is now
 * in that section, to reset what it keeps beside the table and close it
 * with shmtab_write_end. 0 otherwise. */
int shmtab_lock(shmtab_t *t);
void shmtab_unlock(shmtab_t *t);

/* Writers: a write section makes the version odd while slots change, so
 * a lock-free reader that saw it move reads again. */
void shmtab_write_begin(shmtab_t *t);
void shmtab_write_end(shmtab_t *t);

/* Readers: the version to pass to shmtab_read_ok, odd (do not read: retry)
 * while a writer is inside a section; 1 when nothing changed since. */
uint64_t shmtab_read_begin(shmtab_t *t);
int shmtab_read_ok(shmtab_t *t, uint64_t v);

/* Writers: 1 when the table is at its fill limit (3/4 of the slots). */
int shmtab_full(shmtab_t *t);

/* Writers: rebuild the table with only the entries for which
 * keep(v, now) is true (a copy out, a clear, a put back: with no deletion
 * this is how a slot is ever emptied). With section, the clear and the put
 * back are a write section of their own; without, the caller is already
 * inside one. 1 rebuilt; 0 left as it was (the table is empty, or there
 * was no memory for the copy). */
int shmtab_rebuild(shmtab_t *t, int (*keep)(uint64_t v, uint64_t now), uint64_t now, int section);

#endif
