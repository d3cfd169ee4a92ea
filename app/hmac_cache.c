/*
 * hmac_cache.c - see hmac_cache.h.
 */
#include "app/hmac_cache.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#define HC_SLOTS 4
#define HC_KEY_MAX 64

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
