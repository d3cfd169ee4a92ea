/*
 * hmac_cache.h - HMAC-SHA256 under a few fixed keys, without OpenSSL 3's
 * per-call costs.
 *
 * OpenSSL 3's one-shot HMAC() fetches the digest, allocates a context and
 * expands the key on every call: several microseconds, on paths that run
 * per request (the sign-in code's MAC on every generate). This keeps one
 * keyed EVP_MAC_CTX per key (a small round-robin cache, as csrf.c does for
 * its keys) and restarts it with EVP_MAC_init(ctx, NULL, 0, NULL), which
 * reuses the key already set. Per process; workers are single-threaded.
 */
#ifndef MG_HMAC_CACHE_H
#define MG_HMAC_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* out = HMAC-SHA256(key, a || b). 0, or -1 (out is then zeroed). */
int hmac_sha256_2(const uint8_t *key, size_t keylen, const void *a, size_t an, const void *b,
                  size_t bn, uint8_t out[32]);

#endif
