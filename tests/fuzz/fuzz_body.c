/*
 * fuzz_body.c - libFuzzer target for POST bodies: urlencoded forms and
 * JSON objects, read as POST /magic/generate reads its `email` field. The
 * first byte picks the Content-Type, the rest is the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {"application/x-www-form-urlencoded", "application/json",
                                        "application/json; charset=utf-8", "text/plain", ""};
    if (size < 1)
        return 0;
    const char *t = types[data[0] % (sizeof types / sizeof *types)];
    http_request_t r;
    memset(&r, 0, sizeof r);
    r.content_type.p = t;
    r.content_type.n = strlen(t);
    r.body = (const char *)data + 1;
    r.body_len = size - 1;
    char out[320];
    int ok = body_email(&r, out, sizeof out);
    if (ok == 1 && (strlen(out) >= sizeof out || !strchr(out, '@')))
        abort(); /* a normalized address is a terminated string with an '@' */
    char rd[64];
    int t2 = body_text(&r, "rd", rd, sizeof rd);
    if ((t2 == 1 && strlen(rd) >= sizeof rd) || (t2 != 1 && rd[0]))
        abort(); /* a field fits and is terminated; nothing is left behind on failure */
    return 0;
}
