/*
 * hmac_cache.h - HMAC-SHA256 under a few fixed keys, without OpenSSL 3's
 * per-call costs.
 *
 * OpenSSL 3's one-shot HMAC() fetches the digest, allocates a context and
 * expands the key on every call: several microseconds, on paths that run
 * per request (the CSRF check on every POST, the sign-in code's MAC on
 * every generate). This keeps, per key, the hash state after each padded
 * key block (a small round-robin cache), so a MAC costs the message's
 * compression calls and nothing else (hmac_cache.c). Per process; workers
 * are single-threaded.
 */
#ifndef MG_HMAC_CACHE_H
#define MG_HMAC_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* out = HMAC-SHA256(key, a || b). 0, or -1 (out is then zeroed). */
int hmac_sha256_2(const uint8_t *key, size_t keylen, const void *a, size_t an, const void *b,
                  size_t bn, uint8_t out[32]);

#endif
