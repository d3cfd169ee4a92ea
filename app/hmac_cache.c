/*
 * hmac_cache.c - see hmac_cache.h.
 *
 * HMAC-SHA256(k, m) is SHA256((k ^ opad) || SHA256((k ^ ipad) || m)): the
 * hash of each padded key block is the same for every message, so a slot
 * keeps the two SHA-256 states right after that first block (the
 * "midstates"), and a MAC is a struct copy, the message, a final, another
 * copy, 32 bytes and a final: two compression-function calls for a short
 * message, nothing allocated. A POST /magic/generate makes three MACs (the
 * CSRF secret, the CSRF token, the sign-in code); through EVP_MAC each was
 * about 185 ns on the machine of docs/results.md, as OpenSSL 3.0 restarts
 * a keyed HMAC by duplicating two digest contexts (a malloc and a free
 * each) and dispatches every call through its provider layer, and this way
 * it is about 100 ns.
 *
 * The midstates need OpenSSL's SHA256_Init/Update/Final, deprecated in 3.0
 * in favour of EVP (which has no way to copy a digest state without
 * allocating) but present in every 3.x build that keeps the deprecated
 * API; a build without it (OPENSSL_NO_DEPRECATED_3_0) gets the EVP_MAC
 * cache this file used to be. Either way the result is the same MAC.
 *
 * Slots are a small round-robin cache keyed by the key bytes. Per process;
 * workers are single-threaded, so no lock. The cached states are as secret
 * as the keys and live as long as the process, as the keys do.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init and friends: see above */
#include "app/hmac_cache.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#define HC_SLOTS 8    /* current and previous CSRF and code keys, with room */
#define HC_KEY_MAX 64 /* one SHA-256 block: a longer key would be hashed first */

#ifndef OPENSSL_NO_DEPRECATED_3_0

typedef struct {
    uint8_t key[HC_KEY_MAX];
    size_t keylen;
    int used;
    SHA256_CTX inner, outer; /* after (key ^ ipad) and (key ^ opad) */
} hc_slot_t;

static hc_slot_t hc_cache[HC_SLOTS];
static unsigned hc_next;

static const hc_slot_t *hc_slot(const uint8_t *key, size_t keylen)
{
    uint8_t pad[64];
    hc_slot_t *m;

    if (keylen > HC_KEY_MAX)
        return NULL;
    for (int i = 0; i < HC_SLOTS; i++) {
        m = &hc_cache[i];
        if (m->used && m->keylen == keylen && memcmp(m->key, key, keylen) == 0)
            return m;
    }
    m = &hc_cache[hc_next++ % HC_SLOTS];
    m->used = 0;
    memset(pad, 0x36, sizeof pad);
    for (size_t i = 0; i < keylen; i++)
        pad[i] ^= key[i];
    if (SHA256_Init(&m->inner) != 1 || SHA256_Update(&m->inner, pad, sizeof pad) != 1)
        goto fail;
    memset(pad, 0x5c, sizeof pad);
    for (size_t i = 0; i < keylen; i++)
        pad[i] ^= key[i];
    if (SHA256_Init(&m->outer) != 1 || SHA256_Update(&m->outer, pad, sizeof pad) != 1)
        goto fail;
    OPENSSL_cleanse(pad, sizeof pad);
    memcpy(m->key, key, keylen);
    m->keylen = keylen;
    m->used = 1;
    return m;
fail:
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(m, sizeof *m);
    return NULL;
}

int hmac_sha256_2(const uint8_t *key, size_t keylen, const void *a, size_t an, const void *b,
                  size_t bn, uint8_t out[32])
{
    const hc_slot_t *m = hc_slot(key, keylen);
    SHA256_CTX c;
    int ok;

    if (!m) {
        memset(out, 0, 32);
        return -1;
    }
    c = m->inner;
    ok = SHA256_Update(&c, a, an) == 1 && (!bn || SHA256_Update(&c, b, bn) == 1) &&
         SHA256_Final(out, &c) == 1;
    c = m->outer;
    ok = ok && SHA256_Update(&c, out, 32) == 1 && SHA256_Final(out, &c) == 1;
    OPENSSL_cleanse(&c, sizeof c);
    if (!ok) {
        memset(out, 0, 32);
        return -1;
    }
    return 0;
}

#else /* no deprecated API: one keyed EVP_MAC_CTX per key, restarted */

typedef struct {
    uint8_t key[HC_KEY_MAX];
    size_t keylen;
    int used;
    EVP_MAC_CTX *ctx;
} hc_slot_t;

static EVP_MAC *hc_mac;
static hc_slot_t hc_cache[HC_SLOTS];
static unsigned hc_next;

static EVP_MAC_CTX *hc_ctx(const uint8_t *key, size_t keylen)
{
    OSSL_PARAM params[2];
    hc_slot_t *m;

    if (keylen > HC_KEY_MAX)
        return NULL;
    if (!hc_mac && !(hc_mac = EVP_MAC_fetch(NULL, "HMAC", NULL)))
        return NULL;
    for (int i = 0; i < HC_SLOTS; i++) {
        m = &hc_cache[i];
        if (m->used && m->keylen == keylen && memcmp(m->key, key, keylen) == 0)
            return EVP_MAC_init(m->ctx, NULL, 0, NULL) == 1 ? m->ctx : NULL;
    }
    m = &hc_cache[hc_next++ % HC_SLOTS];
    m->used = 0;
    if (!m->ctx && !(m->ctx = EVP_MAC_CTX_new(hc_mac)))
        return NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(m->ctx, key, keylen, params) != 1)
        return NULL;
    memcpy(m->key, key, keylen);
    m->keylen = keylen;
    m->used = 1;
    return m->ctx;
}

int hmac_sha256_2(const uint8_t *key, size_t keylen, const void *a, size_t an, const void *b,
                  size_t bn, uint8_t out[32])
{
    EVP_MAC_CTX *ctx = hc_ctx(key, keylen);
    size_t n = 0;

    if (!ctx || EVP_MAC_update(ctx, a, an) != 1 || (bn && EVP_MAC_update(ctx, b, bn) != 1) ||
        EVP_MAC_final(ctx, out, &n, 32) != 1 || n != 32) {
        memset(out, 0, 32);
        return -1;
    }
    return 0;
}

#endif
