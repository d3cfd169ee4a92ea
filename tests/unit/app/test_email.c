/*
 * test_email.c - what counts as an email address, and its one spelling.
 */
#include <stdio.h>
#include <string.h>

#include "app/email.h"
#include "tests/unit/unit.h"

static void good(const char *in, const char *want)
{
    char out[300];
    int n = email_normalize(in, strlen(in), out, sizeof(out));
    if (n != (int)strlen(want) || strcmp(out, want) != 0) {
        fprintf(stderr, "email_normalize(\"%s\") = %d \"%s\", want \"%s\"\n", in, n, out, want);
        unit_failures++;
    }
}

static void bad(const char *in, size_t n)
{
    char out[300];
    int r = email_normalize(in, n, out, sizeof(out));
    if (r != -1) {
        fprintf(stderr, "email_normalize accepted \"%.*s\" as \"%s\"\n", (int)n, in, out);
        unit_failures++;
    }
}

#define BAD(s) bad(s, strlen(s))

int main(void)
{
    good("demo@example.com", "demo@example.com");
    good("  Demo@Example.COM \r\n", "demo@example.com");
    good("\tfirst.last+tag@mail.example.co.uk", "first.last+tag@mail.example.co.uk");
    good("o'brien@example.ie", "o'brien@example.ie");
    good("a@b.co", "a@b.co");
    good("x_y-z@sub-domain.example.org", "x_y-z@sub-domain.example.org");
    good("1@123.example", "1@123.example");

    BAD("");
    BAD("   ");
    BAD("plainaddress");
    BAD("@example.com");
    BAD("user@");
    BAD("user@localhost"); /* no dot */
    BAD("user@@example.com");
    BAD("a@b@example.com");
    BAD("user name@example.com");
    BAD("user@exa mple.com");
    BAD("user@example.com.");
    BAD("user@.example.com");
    BAD("user@example..com");
    BAD("user@-example.com");
    BAD("user@example-.com");
    BAD(".user@example.com");
    BAD("user.@example.com");
    BAD("us..er@example.com");
    BAD("\"quoted\"@example.com");
    BAD("user@[127.0.0.1]");
    BAD("user@exam_ple.com");
    BAD("<user@example.com>");
    BAD("user@example.com\r\nBcc: x@example.com");
    BAD("us\x01er@example.com");
    BAD("us\x7f"
        "er@example.com");
    BAD("j\xc3\xb6rg@example.com"); /* non-ASCII */
    BAD("user@ex\xc3\xa4mple.com");
    bad("user@example.com\0evil", 21); /* embedded NUL */
    bad("user\0@example.com", 17);

    /* Lengths: local part <= 64, total <= 254, labels <= 63. */
    {
        char s[400], out[300];
        memset(s, 'a', 64);
        strcpy(s + 64, "@example.com");
        CHECK(email_normalize(s, strlen(s), out, sizeof(out)) == 76);
        memset(s, 'a', 65);
        strcpy(s + 65, "@example.com");
        CHECK(email_normalize(s, strlen(s), out, sizeof(out)) == -1);

        /* 254 exactly: 64 + 1 + 189 (labels of 63 + dots) */
        memset(s, 'a', 64);
        s[64] = '@';
        char *d = s + 65;
        memset(d, 'b', 63);
        d[63] = '.';
        memset(d + 64, 'c', 63);
        d[127] = '.';
        memset(d + 128, 'd', 61);
        d[189] = '\0';
        CHECK(strlen(s) == 254);
        CHECK(email_normalize(s, 254, out, sizeof(out)) == 254);
        CHECK(email_normalize(s, 254, out, 254) == -1); /* no room for NUL */
        CHECK(email_normalize(s, 254, out, 255) == 254);
        strcat(s, "d");
        CHECK(email_normalize(s, 255, out, sizeof(out)) == -1);

        /* a 64-character label */
        strcpy(s, "u@");
        memset(s + 2, 'e', 64);
        strcpy(s + 66, ".com");
        CHECK(email_normalize(s, strlen(s), out, sizeof(out)) == -1);
    }
    /* Output is NUL-terminated within outsz and empty on failure. */
    {
        char out[8] = "xxxxxxx";
        CHECK(email_normalize("a@b.co", 6, out, sizeof(out)) == 6 && strcmp(out, "a@b.co") == 0);
        CHECK(email_normalize("a@b.co", 6, out, 6) == -1);
        CHECK(email_normalize("a@bco", 5, out, sizeof(out)) == -1 && out[0] == '\0');
        CHECK(email_normalize(NULL, 0, out, sizeof(out)) == -1);
    }

    /* Random mutations of a valid address: no crash, and whatever is
     * accepted is already in its one spelling (normalising it again changes
     * nothing) and free of characters that need quoting anywhere. */
    {
        static const char base[] = "User.Name+x@Mail.Example.com";
        static const char pool[] = "aZ09.@-_+ \t\"<>()[],;:\\\x01\x7f\xc3";
        char in[80], out[300], again[300];
        unsigned x = 4242;
        int accepted = 0, refused = 0;
        for (int i = 0; i < 200000; i++) {
            size_t n = sizeof(base) - 1;
            memcpy(in, base, n);
            int muts = (int)((x = x * 1103515245u + 12345u) >> 16) % 4;
            for (int m = 0; m < muts; m++) {
                x = x * 1103515245u + 12345u;
                size_t at = (x >> 8) % (n + 1);
                char ch = pool[(x >> 20) % (sizeof(pool) - 1)];
                switch ((x >> 16) % 3) {
                case 0: /* replace */
                    if (at < n)
                        in[at] = ch;
                    break;
                case 1: /* delete */
                    if (at < n) {
                        memmove(in + at, in + at + 1, n - at - 1);
                        n--;
                    }
                    break;
                default: /* insert */
                    if (n + 1 < sizeof(in)) {
                        memmove(in + at + 1, in + at, n - at);
                        in[at] = ch;
                        n++;
                    }
                }
            }
            int r = email_normalize(in, n, out, sizeof(out));
            if (r >= 0) {
                accepted++;
                CHECK(email_normalize(out, (size_t)r, again, sizeof(again)) == r);
                CHECK(strcmp(out, again) == 0);
                CHECK(strcspn(out, " \t\"<>()[],;:\\\x01\x7f\xc3"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(out));
            } else {
                refused++;
            }
        }
        CHECK(accepted > 1000 && refused > 1000);
    }

    if (unit_failures) {
        fprintf(stderr, "test_email: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_email: ok\n");
    return 0;
}
