/*
 * ratelimit.c - GCRA limits in a shared-memory hash table (see ratelimit.h).
 *
 * Layout: a header (magic, capacity, SipHash key, the lock, counters) and
 * then `capacity` 16-byte slots {key hash, TAT}, capacity a power of two.
 *
 * Hashing: SipHash-2-4 with a 128-bit key drawn at rl_zone_init, so a client
 * cannot choose keys (email addresses, IPv6 addresses) that collide on
 * purpose to pile into one neighbourhood. A stored hash of 0 means "never
 * used"; a real hash of 0 is stored as 1.
 *
 * GCRA: with T = window/limit (the emission interval) and tau = (limit-1)*T
 * (the burst tolerance), a request at `now` for a key whose theoretical
 * arrival time is `tat` is allowed iff max(tat, now) - now <= tau, and then
 * tat becomes max(tat, now) + T. So exactly `limit` requests pass in a
 * burst, and afterwards one more every T: a sliding window. When limited,
 * the next request is allowed at tat - tau.
 *
 * Table: open addressing where a key lives in one of RL_PROBE consecutive
 * slots after its home slot. A lookup scans the whole neighbourhood (there
 * are no tombstones to get wrong: slots are only ever overwritten). A new
 * key takes the first slot that is unused or expired (tat <= now, which
 * means that key is back to a clean state, so dropping it loses nothing).
 *
 * When every slot in the neighbourhood is live, nothing is evicted: a live
 * entry is a limit in force (its TAT is still ahead of now), and dropping
 * it would hand its key a fresh burst. (An earlier version evicted the
 * smallest TAT; junk keys pushed to their own limits then held larger TATs
 * than a victim's exhausted email limit, and a few thousand requests from a
 * handful of addresses reset it.) Instead the new key is refused: rl_hit
 * answers "limited" with the time until the first entry of the
 * neighbourhood decays, which fails closed for the newcomer only, and only
 * while the table is full of live limits. Refusals are counted, and the
 * first one (then at most one a minute) is logged so operators can raise
 * rate_limit_entries. Every entry decays within its window, so a full table
 * empties by itself once the flood stops.
 *
 * The whole update is under one shmtx (pid-owned, recoverable after a crash
 * by rl_force_unlock from the master): a few hundred nanoseconds of work, far
 * below the cost of the request that needs it.
 */
#include "core/ratelimit.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/shmtx.h"

#define RL_MAGIC 0x726c696d69743031ull /* "rlimit01" */
#define RL_PROBE 16
#define RL_MAX_ENTRIES (1 << 24) /* 256 MiB of slots: far past any real need */
#define RL_FULL_LOG_EVERY_MS 60000

typedef struct {
    uint64_t hash; /* 0 = never used */
    uint64_t tat;  /* theoretical arrival time, ms */
} rl_slot_t;

typedef struct {
    uint64_t magic;
    uint32_t capacity; /* power of two */
    uint32_t mask;
    uint64_t sipkey[2];
    uint64_t evictions;     /* stays 0: live entries are never dropped */
    uint64_t refusals;      /* new keys refused: their neighbourhood was all live */
    uint64_t last_full_log; /* ms of the last "table full" log line, 0 = never */
    shmtx_t lock;
    rl_slot_t slots[];
} rl_zone_t;

static uint32_t rl_capacity(int entries)
{
    uint32_t cap = RL_PROBE;

    if (entries < RL_PROBE)
        entries = RL_PROBE;
    if (entries > RL_MAX_ENTRIES)
        entries = RL_MAX_ENTRIES;
    while (cap < (uint32_t)entries)
        cap <<= 1;
    return cap;
}

size_t rl_zone_size(int entries)
{
    return sizeof(rl_zone_t) + (size_t)rl_capacity(entries) * sizeof(rl_slot_t);
}

/* SipHash-2-4 (Aumasson, Bernstein), 64-bit output. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t rl_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

uint64_t rl_siphash(const uint64_t k[2], const uint8_t *in, size_t n);
uint64_t rl_siphash(const uint64_t k[2], const uint8_t *in, size_t n)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ k[0], v1 = 0x646f72616e646f6dull ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ k[0], v3 = 0x7465646279746573ull ^ k[1];
    uint64_t b = (uint64_t)n << 56, m;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        m = rl_le64(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; i + j < n; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void rl_zone_init(void *zone, size_t size, int entries)
{
    rl_zone_t *z = zone;
    uint32_t cap = rl_capacity(entries);

    if (!z || size < rl_zone_size(entries))
        return;
    /* The zone comes from a fresh anonymous mapping, so the slots are
     * already zero: clearing only the header keeps their pages untouched
     * (they cost no memory until a key lands in them). */
    memset(z, 0, sizeof *z);
    z->capacity = cap;
    z->mask = cap - 1;
    if (getrandom(z->sipkey, sizeof(z->sipkey), 0) != (ssize_t)sizeof(z->sipkey)) {
        /* No entropy source at all: fall back to something per-boot-ish;
         * the table still works, only collision resistance is weaker. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        z->sipkey[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        z->sipkey[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full;
    }
    shmtx_init(&z->lock, "ratelimit");
    z->magic = RL_MAGIC;
}

/* Find key's slot, or claim an unused or fully decayed one for it (its
 * state then starts clean). NULL when every slot of the neighbourhood holds
 * a limit in force; *next_free gets the earliest time one decays. Lock
 * held. */
static rl_slot_t *rl_slot(rl_zone_t *z, uint64_t h, uint64_t now, uint64_t *next_free)
{
    rl_slot_t *free_slot = NULL;
    uint64_t soonest = UINT64_MAX;
    uint32_t home = (uint32_t)h & z->mask;

    for (uint32_t i = 0; i < RL_PROBE; i++) {
        rl_slot_t *s = &z->slots[(home + i) & z->mask];
        if (s->hash == h)
            return s;
        if (!free_slot && (s->hash == 0 || s->tat <= now))
            free_slot = s;
        if (s->tat < soonest)
            soonest = s->tat;
    }
    if (!free_slot) {
        *next_free = soonest;
        return NULL;
    }
    free_slot->hash = h;
    free_slot->tat = 0;
    return free_slot;
}

int rl_hit(void *zone, const char *key, size_t klen, int limit, uint64_t window_ms, uint64_t now_ms,
           uint64_t *retry_after_ms)
{
    rl_zone_t *z = zone;
    uint64_t h, t, tau, tat;
    rl_slot_t *s;
    int allowed;

    if (retry_after_ms)
        *retry_after_ms = 0;
    if (limit <= 0 || window_ms == 0 || !z || z->magic != RL_MAGIC)
        return 1;
    t = window_ms / (uint64_t)limit;
    if (t == 0)
        t = 1;
    tau = t * (uint64_t)(limit - 1);
    h = rl_siphash(z->sipkey, (const uint8_t *)key, klen);
    if (h == 0)
        h = 1;

    uint64_t next_free = 0, refusals = 0;
    int log_full = 0;

    shmtx_lock(&z->lock);
    s = rl_slot(z, h, now_ms, &next_free);
    if (!s) {
        allowed = 0;
        refusals = ++z->refusals;
        if (retry_after_ms)
            *retry_after_ms = next_free > now_ms ? next_free - now_ms : 1;
        if (!z->last_full_log || now_ms - z->last_full_log >= RL_FULL_LOG_EVERY_MS) {
            z->last_full_log = now_ms ? now_ms : 1;
            log_full = 1;
        }
    } else {
        tat = s->tat > now_ms ? s->tat : now_ms;
        allowed = tat - now_ms <= tau;
        if (allowed)
            s->tat = tat + t;
        else if (retry_after_ms)
            *retry_after_ms = tat - tau - now_ms;
    }
    shmtx_unlock(&z->lock);
    if (log_full) /* outside the lock: a log write is a syscall */
        log_warn("rate-limit table full: a new key was refused (429) because every entry "
                 "near it is a limit in force; %llu refused so far; raise rate_limit_entries "
                 "(now %u slots)",
                 (unsigned long long)refusals, z->capacity);
    return allowed;
}

void rl_force_unlock(void *zone, pid_t dead_pid)
{
    rl_zone_t *z = zone;

    if (z && z->magic == RL_MAGIC)
        shmtx_force_unlock(&z->lock, dead_pid);
}

int rl_stats(void *zone, rl_stats_t *out)
{
    rl_zone_t *z = zone;

    if (!z || z->magic != RL_MAGIC)
        return -1;
    out->capacity = z->capacity;
    out->evictions = __atomic_load_n(&z->evictions, __ATOMIC_RELAXED);
    out->refusals = __atomic_load_n(&z->refusals, __ATOMIC_RELAXED);
    return 0;
}

void *rl_lock(void *zone)
{
    rl_zone_t *z = zone;

    return z && z->magic == RL_MAGIC ? &z->lock : NULL;
}
