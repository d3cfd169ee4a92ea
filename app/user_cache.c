/*
 * user_cache.c - see user_cache.h.
 *
 * Invalidation is a generation number rather than a wipe: a slot is valid
 * only when it carries the current generation, so dropping every answer is
 * one increment, and the table's pages that were never used stay untouched
 * (it is calloc'ed: about 1 MiB of address space, resident only where
 * addresses landed).
 */
#include "app/user_cache.h"

#include <stdlib.h>
#include <string.h>

#include "app/email.h"
#include "app/store.h"

typedef struct {
    uint64_t gen; /* valid when == cache gen */
    uint8_t known;
    uint8_t len;
    char email[EMAIL_MAX + 1];
} uc_slot_t;

struct user_cache {
    uc_slot_t *slots;
    uint64_t gen;
    uint64_t ver; /* bumped by every clear and forget (user_cache_gen) */
    int64_t version;
    int have_version;
    uint64_t checked_ms; /* data_version last asked at this ms (+1: 0 = never) */
    user_cache_stats_t st;
};

static uint64_t uc_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

user_cache_t *user_cache_new(void)
{
    user_cache_t *uc = calloc(1, sizeof(*uc));

    if (!uc)
        return NULL;
    uc->slots = calloc(USER_CACHE_SLOTS, sizeof(uc_slot_t));
    if (!uc->slots) {
        free(uc);
        return NULL;
    }
    uc->gen = 1;
    return uc;
}

void user_cache_free(user_cache_t *uc)
{
    if (!uc)
        return;
    free(uc->slots);
    free(uc);
}

/* Once per ms: has anyone else committed? Then forget everything. */
static int uc_revalidate(user_cache_t *uc, store_t *s, uint64_t now_ms)
{
    int64_t v;

    if (uc->checked_ms == now_ms + 1)
        return 0;
    uc->st.version_checks++;
    if (store_data_version(s, &v) < 0)
        return -1;
    uc->checked_ms = now_ms + 1;
    if (!uc->have_version || v != uc->version) {
        if (uc->have_version)
            uc->st.invalidations++;
        uc->gen++;
        uc->version = v;
        uc->have_version = 1;
    }
    return 0;
}

static uc_slot_t *uc_slot(user_cache_t *uc, const char *email, size_t n)
{
    return &uc->slots[uc_hash(email, n) & (USER_CACHE_SLOTS - 1)];
}

void user_cache_put(user_cache_t *uc, const char *email, int known)
{
    size_t n = strlen(email);
    uc_slot_t *sl;

    if (!uc || n > EMAIL_MAX)
        return;
    sl = uc_slot(uc, email, n);
    sl->gen = uc->gen;
    sl->known = known == 1;
    sl->len = (uint8_t)n;
    memcpy(sl->email, email, n + 1);
}

int user_cache_exists(user_cache_t *uc, store_t *s, const char *email, uint64_t now_ms)
{
    size_t n = strlen(email);
    uc_slot_t *sl;
    int known;

    if (!uc || n > EMAIL_MAX)
        return store_user_exists(s, email);
    /* No data_version (a PostgreSQL store, shared by several nodes, or a
     * failing read): no caching, ask the store itself. */
    if (uc_revalidate(uc, s, now_ms) < 0)
        return store_user_exists(s, email);
    sl = uc_slot(uc, email, n);
    if (sl->gen == uc->gen && sl->len == n && memcmp(sl->email, email, n) == 0) {
        uc->st.hits++;
        return sl->known;
    }
    uc->st.misses++;
    known = store_user_exists(s, email);
    if (known >= 0)
        user_cache_put(uc, email, known);
    return known;
}

int user_cache_peek(user_cache_t *uc, const char *email)
{
    size_t n = strlen(email);
    uc_slot_t *sl;

    if (!uc || n > EMAIL_MAX)
        return -1;
    sl = uc_slot(uc, email, n);
    if (sl->gen == uc->gen && sl->len == n && memcmp(sl->email, email, n) == 0) {
        uc->st.hits++;
        return sl->known;
    }
    uc->st.misses++;
    return -1;
}

void user_cache_clear(user_cache_t *uc)
{
    if (!uc)
        return;
    uc->gen++;
    uc->ver++;
    uc->st.invalidations++;
}

void user_cache_forget(user_cache_t *uc, const char *email)
{
    size_t n = strlen(email);
    uc_slot_t *sl;

    if (!uc || n > EMAIL_MAX)
        return;
    uc->ver++;
    sl = uc_slot(uc, email, n);
    if (sl->len == n && memcmp(sl->email, email, n) == 0)
        sl->gen = 0; /* generations start at 1: never current */
}

uint64_t user_cache_gen(const user_cache_t *uc)
{
    return uc ? uc->ver + 1 : 0; /* 0 means "do not cache" to callers */
}

void user_cache_put_gen(user_cache_t *uc, const char *email, int known, uint64_t gen)
{
    if (uc && uc->ver + 1 == gen)
        user_cache_put(uc, email, known);
}

user_cache_stats_t user_cache_stats(const user_cache_t *uc)
{
    user_cache_stats_t z = {0, 0, 0, 0};
    return uc ? uc->st : z;
}
