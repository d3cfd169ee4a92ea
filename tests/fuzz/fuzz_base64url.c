/*
 * fuzz_base64url.c - libFuzzer target for base64url: decoding arbitrary
 * input stays in bounds, and whatever decodes re-encodes to the same text
 * (one spelling per value, so two tokens cannot differ only in padding
 * bits).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t bin[4096];
    char text[4096 * 2];
    if (size > 4096)
        return 0;
    long n = b64url_decode((const char *)data, size, bin, sizeof bin);
    if (n < 0)
        return 0;
    size_t m = b64url_encode(bin, (size_t)n, text);
    if (m != size || memcmp(text, data, size))
        abort();
    return 0;
}
