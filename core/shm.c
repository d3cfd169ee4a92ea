/*
 * shm.c - the shared-memory zone (see shm.h for the layout).
 *
 * One anonymous shared mapping, so it needs no file, no name and no cleanup:
 * it disappears with the last process that maps it. Offsets, not pointers,
 * describe the layout, and every child inherits the mapping at the same
 * address because it is created before fork.
 */
#include "core/shm.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "core/clock.h"
#include "core/revoke.h"
#include "core/sesslive.h"

#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((size_t)(a)-1))

static size_t slot_header_size(void)
{
    return ALIGN_UP(sizeof(shm_worker_t), 64);
}

static size_t slot_conns_size(uint32_t conns)
{
    return ALIGN_UP((size_t)conns * sizeof(shm_conn_t), 4096);
}

int shm_create(shm_t *shm, uint32_t conns_per_slot, size_t rl_size)
{
    size_t hdr = ALIGN_UP(sizeof(shm_header_t), 4096);
    size_t rl = ALIGN_UP(rl_size, 4096);
    size_t rv = ALIGN_UP(revoke_zone_size(), 4096);
    size_t sl = ALIGN_UP(sesslive_zone_size(), 4096);
    /* The prof area starts page-aligned so profiler/ can treat it as a
     * fresh region of its own. */
    size_t slot =
        ALIGN_UP(slot_header_size() + slot_conns_size(conns_per_slot), 4096) + SHM_PROF_AREA;
    size_t size = hdr + rl + rv + sl + slot * SHM_MAX_SLOTS;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    shm_header_t *h = p;
    h->magic = SHM_MAGIC;
    h->size = size;
    h->nslots = SHM_MAX_SLOTS;
    h->conns_per_slot = conns_per_slot;
    h->slot_size = slot;
    h->rl_off = hdr;
    h->rl_size = rl;
    h->rv_off = hdr + rl;
    h->rv_size = rv;
    h->sl_off = hdr + rl + rv;
    h->sl_size = sl;
    h->slots_off = hdr + rl + rv + sl;
    revoke_zone_init((char *)p + h->rv_off, rv);
    sesslive_zone_init((char *)p + h->sl_off, sl);
    h->started_ms = clock_mono_ms();
    shmtx_init(&h->outbox_lock, "outbox");
    shm->hdr = h;
    shm->size = size;
    return 0;
}

void shm_destroy(shm_t *shm)
{
    if (shm->hdr)
        munmap(shm->hdr, shm->size);
    shm->hdr = NULL;
}

static char *slot_base(const shm_t *shm, unsigned slot)
{
    return (char *)shm->hdr + shm->hdr->slots_off + (size_t)slot * shm->hdr->slot_size;
}

shm_worker_t *shm_slot(const shm_t *shm, unsigned slot)
{
    return (shm_worker_t *)slot_base(shm, slot);
}

shm_conn_t *shm_slot_conns(const shm_t *shm, unsigned slot)
{
    return (shm_conn_t *)(slot_base(shm, slot) + slot_header_size());
}

void *shm_slot_prof(const shm_t *shm, unsigned slot)
{
    return slot_base(shm, slot) + shm->hdr->slot_size - SHM_PROF_AREA;
}

void *shm_revoke_zone(const shm_t *shm)
{
    return (char *)shm->hdr + shm->hdr->rv_off;
}

void *shm_sesslive_zone(const shm_t *shm)
{
    return (char *)shm->hdr + shm->hdr->sl_off;
}

void *shm_ratelimit_zone(const shm_t *shm)
{
    return (char *)shm->hdr + shm->hdr->rl_off;
}

int shm_slot_claim(shm_t *shm)
{
    for (unsigned i = 0; i < shm->hdr->nslots; i++) {
        shm_worker_t *w = shm_slot(shm, i);
        if (atomic_load(&w->pid) == 0) {
            /* Mark it taken with a placeholder until the child's pid is
             * known (the master stores it right after fork). */
            atomic_store(&w->pid, -1);
            return (int)i;
        }
    }
    errno = ENOSPC;
    return -1;
}

void shm_slot_release(shm_t *shm, unsigned slot)
{
    shm_worker_t *w = shm_slot(shm, slot);
    shm_conn_t *conns = shm_slot_conns(shm, slot);
    for (uint32_t i = 0; i < shm->hdr->conns_per_slot; i++)
        if (atomic_load_explicit(&conns[i].state, memory_order_relaxed) != SHM_CONN_FREE)
            atomic_store(&conns[i].state, SHM_CONN_FREE);
    atomic_store(&w->route, 0);
    atomic_store(&w->active, 0);
    atomic_store(&w->draining, 0);
    atomic_store(&w->pid, 0);
}
