/*
 * fuzz_cookie.c - libFuzzer target for the Cookie header parser: the
 * header value arrives as the attacker wrote it (a sibling subdomain or a
 * plain-HTTP man in the middle can plant any cookie), so every name lookup
 * must stay inside it and agree with itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"csrf", "__Host-csrf", "session", "__Host-session", "",
                                        "a"};
    http_str_t hdr = {(const char *)data, size}, v;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (http_cookie(&hdr, names[i], &v) == 1 &&
            (v.p < hdr.p || v.p + v.n > hdr.p + hdr.n)) /* a value outside the header */
            abort();
    }
    return 0;
}
