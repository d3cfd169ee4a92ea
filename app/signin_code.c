/*
 * signin_code.c - making, sealing and checking sign-in codes (see
 * signin_code.h for the design).
 *
 * The code is drawn by rejection sampling from 32-bit random words, so
 * every one of the 10^6 codes is equally likely (a plain `% 1000000` would
 * favour the low ones). Its MAC is keyed with a sub-key of its own
 * ("magicd code v1"), so a code MAC can never be confused with a CSRF MAC
 * or a token key, and the link id is part of the MAC input: a code is only
 * good for the link it was mailed with.
 */
#include "app/signin_code.h"

#include "app/hmac_cache.h"
#include "app/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

int signin_code_new(char out[SIGNIN_CODE_DIGITS + 1])
{
    const uint32_t range = 1000000u, limit = UINT32_MAX - UINT32_MAX % range;
    uint32_t v;

    do {
        if (token_random((uint8_t *)&v, sizeof v) < 0) /* pooled: no DRBG call each time */
            return -1;
    } while (v >= limit);
    v %= range;
    for (int i = SIGNIN_CODE_DIGITS - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    out[SIGNIN_CODE_DIGITS] = '\0';
    return 0;
}

/* 0, or -1 when the MAC could not be made (out is then zeros). */
static int code_mac(const mg_key_t *k, const uint8_t id[16], const char *code,
                    uint8_t out[SIGNIN_CODE_MAC])
{
    uint8_t md[32];
    int r;

    /* Precomputed states per key (app/hmac_cache.h): HMAC() would fetch
     * and allocate on every generate. */
    _Static_assert(SIGNIN_CODE_MAC <= 32, "the MAC is a prefix of HMAC-SHA256");
    r = hmac_sha256_2(k->code, sizeof k->code, id, 16, code, SIGNIN_CODE_DIGITS, md);
    memcpy(out, md, SIGNIN_CODE_MAC);
    OPENSSL_cleanse(md, sizeof md);
    return r;
}

void signin_code_mac(const mg_key_t *k, const uint8_t id[16], const char *code,
                     uint8_t out[SIGNIN_CODE_MAC])
{
    code_mac(k, id, code, out);
}

/* A MAC that failed is zeros, and so is the one in a ticket sealed while it
 * failed: only a MAC that was made counts, or two failures would match and
 * any code would sign in. */
int signin_code_match(const keyring_t *kr, const uint8_t id[16], const char *code,
                      const uint8_t mac[SIGNIN_CODE_MAC])
{
    uint8_t m[SIGNIN_CODE_MAC];
    int ok;

    ok = code_mac(&kr->cur, id, code, m) == 0 && CRYPTO_memcmp(m, mac, SIGNIN_CODE_MAC) == 0;
    if (kr->has_prev)
        ok |= code_mac(&kr->prev, id, code, m) == 0 && CRYPTO_memcmp(m, mac, SIGNIN_CODE_MAC) == 0;
    return ok;
}

int signin_code_normalize(const char *in, char out[SIGNIN_CODE_DIGITS + 1])
{
    int n = 0;

    for (const char *p = in; *p; p++) {
        if (*p == ' ' || *p == '-' || *p == '\t')
            continue;
        if (*p < '0' || *p > '9' || n == SIGNIN_CODE_DIGITS)
            return -1;
        out[n++] = *p;
    }
    if (n != SIGNIN_CODE_DIGITS)
        return -1;
    out[n] = '\0';
    return 0;
}
