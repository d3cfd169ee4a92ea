/*
 * session_cache.c - see session_cache.h.
 *
 * A slot holds the cookie's bytes and the claims they opened to. The table
 * is calloc'ed (about 300 KiB of address space), resident only where
 * cookies landed. Wiped with OPENSSL_cleanse when the worker closes its
 * app: the slots hold credentials.
 */
#include "app/session_cache.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

typedef struct {
    uint16_t len; /* 0: empty */
    char tok[TOKEN_SESSION_MAX];
    session_claims_t sc;
} sc_slot_t;

struct session_cache {
    sc_slot_t *slots;
    uint64_t seed;
    session_cache_stats_t st;
};

session_cache_t *session_cache_new(void)
{
    session_cache_t *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->slots = calloc(SESSION_CACHE_SLOTS, sizeof(sc_slot_t));
    if (!c->slots || token_random((uint8_t *)&c->seed, sizeof c->seed) < 0) {
        free(c->slots);
        free(c);
        return NULL;
    }
    return c;
}

void session_cache_free(session_cache_t *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c->slots, SESSION_CACHE_SLOTS * sizeof(sc_slot_t));
    free(c->slots);
    free(c);
}

/* The last 8 characters of a cookie that opened are its tag's: no client
 * picks them. Shorter input (never a cookie that opened) still hashes. */
static sc_slot_t *sc_slot(session_cache_t *c, const char *tok, size_t n)
{
    uint64_t h = 0;

    memcpy(&h, tok + (n >= 8 ? n - 8 : 0), n >= 8 ? 8 : n);
    h = (h ^ c->seed) * 0x9e3779b97f4a7c15ull;
    return &c->slots[(h >> 32) & (SESSION_CACHE_SLOTS - 1)];
}

int session_cache_get(session_cache_t *c, const char *tok, size_t n, session_claims_t *out)
{
    sc_slot_t *s;

    if (!c || n == 0 || n > sizeof s->tok)
        return 0;
    s = sc_slot(c, tok, n);
    if (s->len != n || CRYPTO_memcmp(s->tok, tok, n) != 0) {
        c->st.misses++;
        return 0;
    }
    c->st.hits++;
    *out = s->sc;
    return 1;
}

void session_cache_put(session_cache_t *c, const char *tok, size_t n, const session_claims_t *sc)
{
    sc_slot_t *s;

    if (!c || n == 0 || n > sizeof s->tok)
        return;
    s = sc_slot(c, tok, n);
    memcpy(s->tok, tok, n);
    s->len = (uint16_t)n;
    s->sc = *sc;
}

void session_cache_forget(session_cache_t *c, const uint8_t id[16])
{
    if (!c)
        return;
    for (int i = 0; i < SESSION_CACHE_SLOTS; i++)
        if (c->slots[i].len && memcmp(c->slots[i].sc.id, id, 16) == 0)
            OPENSSL_cleanse(&c->slots[i], sizeof c->slots[i]);
}

session_cache_stats_t session_cache_stats(const session_cache_t *c)
{
    session_cache_stats_t z = {0, 0};
    return c ? c->st : z;
}
