/*
 * test_base64url.c - RFC 4648 vectors, round trips and strict decoding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64url.h"
#include "tests/unit/unit.h"

static void vector(const char *plain, const char *enc)
{
    char out[64];
    uint8_t dec[64];
    size_t n = strlen(plain);
    size_t e = b64url_encode((const uint8_t *)plain, n, out);
    CHECK(e == strlen(enc) && strcmp(out, enc) == 0);
    CHECK(e == B64URL_ENC_LEN(n));
    long d = b64url_decode(enc, strlen(enc), dec, sizeof(dec));
    CHECK(d == (long)n && memcmp(dec, plain, n) == 0);
}

int main(void)
{
    /* RFC 4648 section 10, padding removed. */
    vector("", "");
    vector("f", "Zg");
    vector("fo", "Zm8");
    vector("foo", "Zm9v");
    vector("foob", "Zm9vYg");
    vector("fooba", "Zm9vYmE");
    vector("foobar", "Zm9vYmFy");

    /* The URL-safe characters. */
    {
        const uint8_t in[] = {0xfb, 0xff, 0xbf};
        char out[8];
        uint8_t dec[4];
        CHECK(b64url_encode(in, 3, out) == 4 && strcmp(out, "-_-_") == 0);
        CHECK(b64url_decode("-_-_", 4, dec, sizeof(dec)) == 3 && memcmp(dec, in, 3) == 0);
        CHECK(b64url_decode("+/+/", 4, dec, sizeof(dec)) == -1);
    }

    /* Round trips of every length 0..300 with pseudo-random bytes. */
    {
        uint8_t in[300], dec[300];
        char enc[401];
        unsigned x = 12345;
        for (size_t n = 0; n <= sizeof(in); n++) {
            for (size_t i = 0; i < n; i++)
                in[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
            size_t e = b64url_encode(in, n, enc);
            CHECK(e == B64URL_ENC_LEN(n) && enc[e] == '\0');
            CHECK(B64URL_DEC_LEN(e) == n);
            long d = b64url_decode(enc, e, dec, n);
            CHECK(d == (long)n && memcmp(in, dec, n) == 0);
            if (n > 0)
                CHECK(b64url_decode(enc, e, dec, n - 1) == -1); /* overflow */
        }
    }

    /* Strictness. */
    {
        uint8_t dec[16];
        CHECK(b64url_decode("Z", 1, dec, sizeof(dec)) == -1);       /* impossible length */
        CHECK(b64url_decode("Zm9vY", 5, dec, sizeof(dec)) == -1);   /* impossible length */
        CHECK(b64url_decode("Zm9v=", 5, dec, sizeof(dec)) == -1);   /* padding */
        CHECK(b64url_decode("Zm8=", 4, dec, sizeof(dec)) == -1);    /* padding */
        CHECK(b64url_decode("Zm 9", 4, dec, sizeof(dec)) == -1);    /* space */
        CHECK(b64url_decode("Zm\0v", 4, dec, sizeof(dec)) == -1);   /* NUL */
        CHECK(b64url_decode("Zm9\xc3", 4, dec, sizeof(dec)) == -1); /* high byte */
        CHECK(b64url_decode("Zh", 2, dec, sizeof(dec)) == -1);      /* non-canonical 'f' */
        CHECK(b64url_decode("Zm9", 3, dec, sizeof(dec)) == -1);     /* non-canonical "fo" */
        CHECK(b64url_decode("Zm8", 3, dec, sizeof(dec)) == 2);
        CHECK(b64url_decode("", 0, dec, 0) == 0);
        /* Every byte outside the alphabet is refused in every position. */
        for (int c = 0; c < 256; c++) {
            int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_';
            char s[5] = "AAAA";
            for (int pos = 0; pos < 4; pos++) {
                memcpy(s, "AAAA", 4);
                s[pos] = (char)c;
                long d = b64url_decode(s, 4, dec, sizeof(dec));
                CHECK(ok ? d == 3 : d == -1);
            }
        }
    }

    if (unit_failures) {
        fprintf(stderr, "test_base64url: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_base64url: ok\n");
    return 0;
}
