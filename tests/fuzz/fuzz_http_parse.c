/*
 * fuzz_http_parse.c - libFuzzer target for the request parser and the
 * form/cookie helpers. Build and run with `make fuzz` (clang).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const http_limits_t lim = {
        .max_request_line = 8192, .max_header_bytes = 16384, .max_headers = 64};
    http_request_t r;
    const char *why;
    int n = http_parse_request((const char *)data, size, &lim, &r, &why);
    if (n > 0) {
        http_str_t v;
        http_cookie(&r.cookie, "csrf", &v);
        char out[256];
        http_form_value(r.query.p, r.query.n, "seconds", out, sizeof out);
        http_form_value((const char *)data + n, size - (size_t)n, "email", out, sizeof out);
        http_header(&r, "content-type");
    }
    return 0;
}
