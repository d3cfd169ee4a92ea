/*
 * csrf.c - signed double-submit CSRF (see csrf.h).
 *
 * csrf_check runs on every POST: two HMACs (the secret's, then the
 * token's), both through app/hmac_cache.h, which keeps each key's
 * precomputed state instead of paying OpenSSL 3's one-shot HMAC() (a fetch
 * and an allocation each call).
 *
 * A secret is checked before its token: its MAC (16 bytes, truncated
 * HMAC-SHA256 over a label and r, so it can never equal a page token, whose
 * input is the 43-character secret) is compared in constant time, and so is
 * a header of the right length, so timing says nothing about how much of a
 * guess was right.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init and friends: see sha256() */
#include "app/csrf.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "app/hmac_cache.h"
#include "core/base64url.h"

#define CSRF_LABEL "magicd csrf secret v1"

/* MAC(r) under key: the first 16 bytes of HMAC-SHA256(key, label || r). */
static int csrf_secret_mac(const uint8_t key[32], const uint8_t r[CSRF_ID_LEN],
                           uint8_t out[CSRF_ID_LEN])
{
    uint8_t md[32];

    if (hmac_sha256_2(key, 32, CSRF_LABEL, sizeof CSRF_LABEL - 1, r, CSRF_ID_LEN, md) < 0)
        return -1;
    memcpy(out, md, CSRF_ID_LEN);
    return 0;
}

int csrf_new_secret(const keyring_t *kr, char out[CSRF_LEN + 1])
{
    uint8_t raw[2 * CSRF_ID_LEN];

    if (RAND_bytes(raw, CSRF_ID_LEN) != 1 ||
        csrf_secret_mac(kr->cur.csrf, raw, raw + CSRF_ID_LEN) < 0) {
        out[0] = '\0';
        return -1;
    }
    b64url_encode(raw, sizeof(raw), out);
    return 0;
}

static int csrf_decode(const char *secret, size_t n, uint8_t raw[2 * CSRF_ID_LEN])
{
    if (!secret || n != CSRF_LEN)
        return -1;
    return b64url_decode(secret, n, raw, 2 * CSRF_ID_LEN) == 2 * CSRF_ID_LEN ? 0 : -1;
}

int csrf_secret_id(const char *secret, size_t n, uint8_t out[CSRF_ID_LEN])
{
    uint8_t raw[2 * CSRF_ID_LEN];

    if (csrf_decode(secret, n, raw) < 0)
        return -1;
    memcpy(out, raw, CSRF_ID_LEN);
    return 0;
}

int csrf_secret_ok(const keyring_t *kr, const char *secret, size_t n)
{
    uint8_t raw[2 * CSRF_ID_LEN], mac[CSRF_ID_LEN];

    if (csrf_decode(secret, n, raw) < 0)
        return 0;
    if (csrf_secret_mac(kr->cur.csrf, raw, mac) == 0 &&
        CRYPTO_memcmp(mac, raw + CSRF_ID_LEN, CSRF_ID_LEN) == 0)
        return 1;
    if (kr->has_prev && csrf_secret_mac(kr->prev.csrf, raw, mac) == 0 &&
        CRYPTO_memcmp(mac, raw + CSRF_ID_LEN, CSRF_ID_LEN) == 0)
        return 1;
    return 0;
}

/* 0, or -1 when OpenSSL fails (out is then a value no check accepts). */
static int csrf_mac_of(const mg_key_t *k, const char *secret, size_t n, char out[CSRF_LEN + 1])
{
    uint8_t md[32];

    if (hmac_sha256_2(k->csrf, sizeof k->csrf, secret, n, NULL, 0, md) < 0) {
        /* '!' is not base64url, so this can never equal a header that
         * passed the length check and matched. */
        memset(out, '!', CSRF_LEN);
        out[CSRF_LEN] = '\0';
        return -1;
    }
    b64url_encode(md, sizeof(md), out);
    return 0;
}

void csrf_token_for(const mg_key_t *k, const char *secret, size_t n, char out[CSRF_LEN + 1])
{
    csrf_mac_of(k, secret, n, out);
}

int csrf_check(const keyring_t *kr, const char *secret, size_t sn, const char *hdr, size_t hn)
{
    char want[CSRF_LEN + 1];

    if (!secret || !hdr || sn != CSRF_LEN || hn != CSRF_LEN || !csrf_secret_ok(kr, secret, sn))
        return 0;
    if (csrf_mac_of(&kr->cur, secret, sn, want) == 0 && CRYPTO_memcmp(want, hdr, CSRF_LEN) == 0)
        return 1;
    if (kr->has_prev && csrf_mac_of(&kr->prev, secret, sn, want) == 0 &&
        CRYPTO_memcmp(want, hdr, CSRF_LEN) == 0)
        return 1;
    return 0;
}

#ifndef OPENSSL_NO_DEPRECATED_3_0
/* SHA-256 on a stack context: the low-level calls, as in app/hmac_cache.c
 * (about 65 ns for a token against 95 through a kept EVP_MD_CTX; OpenSSL
 * 3's one-shot SHA256() fetches and allocates on every call). */
static int sha256(const void *p, size_t n, uint8_t md[SHA256_DIGEST_LENGTH])
{
    SHA256_CTX c;
    int ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, p, n) == 1 && SHA256_Final(md, &c) == 1;
    OPENSSL_cleanse(&c, sizeof c);
    return ok ? 0 : -1;
}
#else
/* SHA-256 with a fetched digest and one context kept for the process:
 * OpenSSL 3's one-shot SHA256() fetches and allocates on every call. */
static int sha256(const void *p, size_t n, uint8_t md[SHA256_DIGEST_LENGTH])
{
    static EVP_MD *sha;
    static EVP_MD_CTX *ctx;
    unsigned len = 0;
    if (!sha && !(sha = EVP_MD_fetch(NULL, "SHA256", NULL)))
        return -1;
    if (!ctx && !(ctx = EVP_MD_CTX_new()))
        return -1;
    if (EVP_DigestInit_ex2(ctx, sha, NULL) != 1 || EVP_DigestUpdate(ctx, p, n) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != SHA256_DIGEST_LENGTH)
        return -1;
    return 0;
}
#endif

int csrf_binding(const char *token, size_t n, uint8_t out[16])
{
    uint8_t md[SHA256_DIGEST_LENGTH];

    /* The one-shot as a second try; if both fail, out is zeros and the
     * caller is told: a binding that was never made must bind nothing (two
     * failures would otherwise compare equal). */
    if (sha256(token, n, md) < 0 && !SHA256((const uint8_t *)token, n, md)) {
        memset(out, 0, 16);
        return -1;
    }
    memcpy(out, md, 16);
    return 0;
}

int csrf_binding_match(const keyring_t *kr, const char *secret, size_t sn, const uint8_t bind[16])
{
    char tok[CSRF_LEN + 1];
    uint8_t b[16];

    if (!secret || sn != CSRF_LEN || !bind)
        return 0;
    if (csrf_mac_of(&kr->cur, secret, sn, tok) == 0) {
        if (csrf_binding(tok, CSRF_LEN, b) == 0 && CRYPTO_memcmp(b, bind, sizeof(b)) == 0)
            return 1;
    }
    if (kr->has_prev && csrf_mac_of(&kr->prev, secret, sn, tok) == 0) {
        if (csrf_binding(tok, CSRF_LEN, b) == 0 && CRYPTO_memcmp(b, bind, sizeof(b)) == 0)
            return 1;
    }
    return 0;
}
