/*
 * fuzz_return_url.c - libFuzzer target for the return-to matcher.
 *
 * The input is "pattern\nurl": the pattern is used only when it passes
 * return_url_pattern_check, as the config loader would. Whatever is
 * accepted must be a canonical URL (canonicalising it again changes
 * nothing) made of printable ASCII without a backslash, and with no '@' or
 * '%' in an absolute URL's authority; a relative one never starts with
 * "//". Any violation aborts, so libFuzzer reports it as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/return_url.h"

static void must(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    char pat[RETURN_URL_MAX + 1] = "https://*.example.com/*", out[RETURN_URL_MAX + 1];
    const char *url = (const char *)data;
    size_t n = size;
    if (nl) {
        size_t pn = (size_t)(nl - (const char *)data);
        if (pn < sizeof pat && !memchr(data, 0, pn)) {
            memcpy(pat, data, pn);
            pat[pn] = 0;
            if (return_url_pattern_check(pat, NULL) < 0)
                strcpy(pat, "https://*.example.com/*");
        }
        url = nl + 1;
        n = size - pn - 1;
    }
    const char *pats[] = {pat};
    int r = return_url_canon(url, n, out, sizeof out, NULL);
    if (r >= 0) {
        must((size_t)r == strlen(out) && r > 0);
        for (int i = 0; i < r; i++)
            must(out[i] > 0x20 && out[i] < 0x7f && out[i] != '\\');
        if (out[0] == '/') {
            must(out[1] != '/');
        } else {
            const char *a = strstr(out, "://");
            must(a != NULL);
            a += 3;
            const char *e = strchr(a, '/');
            must(e != NULL && e > a);
            must(!memchr(a, '@', (size_t)(e - a)) && !memchr(a, '%', (size_t)(e - a)));
        }
        char again[RETURN_URL_MAX + 1];
        must(return_url_canon(out, (size_t)r, again, sizeof again, NULL) == r);
        must(strcmp(again, out) == 0);
    }
    if (return_url_allowed(url, n, pats, 1, out, sizeof out) >= 0)
        must(return_url_match(pat, out));
    return 0;
}
