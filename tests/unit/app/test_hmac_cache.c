/*
 * test_hmac_cache.c - the cached HMAC-SHA256 against RFC 4231's vectors
 * and against OpenSSL's one-shot HMAC() for keys of every length up to a
 * block (the cache's limit), messages split anywhere between a and b, and
 * more keys than the cache has slots (evicted keys come back right).
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "app/hmac_cache.h"
#include "tests/unit/unit.h"

static void hex(const char *h, uint8_t *out)
{
    for (size_t i = 0; h[2 * i]; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

int main(void)
{
    uint8_t md[32], want[32];

    /* RFC 4231 test case 1: key 0x0b x 20, "Hi There". */
    uint8_t k1[20];
    memset(k1, 0x0b, sizeof k1);
    hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want);
    CHECK(hmac_sha256_2(k1, sizeof k1, "Hi ", 3, "There", 5, md) == 0 && !memcmp(md, want, 32));
    /* Case 2: key "Jefe". */
    hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want);
    CHECK(hmac_sha256_2((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, NULL, 0,
                        md) == 0 &&
          !memcmp(md, want, 32));

    /* Every key length up to a block, messages split at every point, and
     * 65 keys through the slots: the same as HMAC(). */
    uint8_t key[64], msg[100];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7 + 1);
    for (size_t kl = 1; kl <= sizeof key; kl++) {
        for (size_t i = 0; i < kl; i++)
            key[i] = (uint8_t)(kl * 31 + i);
        unsigned wl = 0;
        HMAC(EVP_sha256(), key, (int)kl, msg, sizeof msg, want, &wl);
        size_t split = kl % (sizeof msg + 1);
        CHECK(hmac_sha256_2(key, kl, msg, split, msg + split, sizeof msg - split, md) == 0 &&
                  !memcmp(md, want, 32),
              "key of %zu bytes, split at %zu", kl, split);
    }
    memset(key, 1, sizeof key);
    unsigned wl = 0;
    HMAC(EVP_sha256(), key, 32, msg, 10, want, &wl);
    CHECK(hmac_sha256_2(key, 32, msg, 10, NULL, 0, md) == 0 && !memcmp(md, want, 32),
          "a key evicted long ago comes back");
    CHECK(hmac_sha256_2(key, 32, msg, 10, NULL, 0, md) == 0 && !memcmp(md, want, 32),
          "and again from its slot");

    uint8_t big[65] = {0};
    CHECK(hmac_sha256_2(big, sizeof big, msg, 1, NULL, 0, md) == -1, "a key past a block");
    memset(want, 0, 32);
    CHECK(!memcmp(md, want, 32), "zeroed on failure");
    return unit_done("test_hmac_cache");
}
