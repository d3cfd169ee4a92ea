/*
 * unit_sha_fail.h - SHA-256 made to fail on demand, for the unit tests of
 * what must fail closed when libcrypto cannot hash (sign-in code MACs,
 * CSRF bindings).
 *
 * Included once by a test's main file, it interposes both ways the code
 * under test may hash: the low-level SHA256_Final (where the MACs of
 * app/hmac_cache.c and csrf.c's stack-context hash end) and the one-shot
 * SHA256 (csrf_binding's second try). While unit_sha_fail is set both
 * report failure; otherwise they call OpenSSL's own (RTLD_NEXT).
 */
#ifndef MG_UNIT_SHA_FAIL_H
#define MG_UNIT_SHA_FAIL_H

#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Final is interposed */
#include <dlfcn.h>
#include <openssl/sha.h>

static int unit_sha_fail;

int SHA256_Final(unsigned char *md, SHA256_CTX *c)
{
    static int (*real)(unsigned char *, SHA256_CTX *);
    if (unit_sha_fail)
        return 0;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "SHA256_Final");
    return real ? real(md, c) : 0;
}

unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md)
{
    static unsigned char *(*real)(const unsigned char *, size_t, unsigned char *);
    if (unit_sha_fail)
        return NULL;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "SHA256");
    return real ? real(d, n, md) : NULL;
}

#endif
