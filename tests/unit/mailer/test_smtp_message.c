/*
 * test_smtp_message.c - the pure parts of the SMTP client: the mail we
 * build (headers, MIME parts, stable Message-ID), dot-stuffing, reply
 * parsing, address handling, relay address and back-off arithmetic.
 */
#include <stdio.h>
#include <string.h>

#include "mailer/mailer.h"
#include "mailer/smtp.h"
#include "tests/unit/unit.h"

static void test_dot_stuff(void)
{
    char out[256];
    const char *in = "a\n.b\n..c\r\nd.\n.";
    long n = smtp_dot_stuff(in, strlen(in), out, sizeof(out));
    const char *want = "a\r\n..b\r\n...c\r\nd.\r\n..\r\n";

    CHECK(n == (long)strlen(want));
    CHECK(n >= 0 && memcmp(out, want, (size_t)n) == 0);
    /* a lone "." line can never end DATA early */
    n = smtp_dot_stuff(".\n", 2, out, sizeof(out));
    CHECK(n == 4 && memcmp(out, "..\r\n", 4) == 0);
    /* too small */
    CHECK(smtp_dot_stuff(in, strlen(in), out, 5) == -1);
    /* bare CR becomes CRLF too */
    n = smtp_dot_stuff("x\ry", 3, out, sizeof(out));
    CHECK(n == 6 && memcmp(out, "x\r\ny\r\n", 6) == 0);
    /* for BDAT: the same line ends, the dots as they are */
    n = smtp_wire(in, strlen(in), out, sizeof(out), 0);
    want = "a\r\n.b\r\n..c\r\nd.\r\n.\r\n";
    CHECK(n == (long)strlen(want) && memcmp(out, want, (size_t)n) == 0, "%.*s", (int)n, out);
}

static void test_reply(void)
{
    int code = 0, more = 0;

    CHECK(smtp_parse_reply_line("250-PIPELINING", 14, &code, &more) == 0 && code == 250 && more);
    CHECK(smtp_parse_reply_line("250 OK", 6, &code, &more) == 0 && code == 250 && !more);
    CHECK(smtp_parse_reply_line("354", 3, &code, &more) == 0 && code == 354 && !more);
    CHECK(smtp_parse_reply_line("25", 2, &code, &more) == -1);
    CHECK(smtp_parse_reply_line("abc def", 7, &code, &more) == -1);
    CHECK(smtp_parse_reply_line("250xOK", 6, &code, &more) == -1);
    CHECK(smtp_parse_reply_line("150 no", 6, &code, &more) == -1);
}

static void test_addr(void)
{
    char a[SPOOL_ADDR_MAX], id[128];

    CHECK(smtp_addr_spec("magicd <login@example.com>", a, sizeof(a)) == 0 &&
          strcmp(a, "login@example.com") == 0);
    CHECK(smtp_addr_spec(" login@example.com ", a, sizeof(a)) == 0 &&
          strcmp(a, "login@example.com") == 0);
    CHECK(smtp_addr_spec("x <bad", a, sizeof(a)) == -1);
    CHECK(smtp_addr_spec("no-at-sign", a, sizeof(a)) == -1);
    CHECK(smtp_message_id("00112233445566778899aabbccddeeff", "A <a@mail.example.org>", id,
                          sizeof(id)) == 0 &&
          strcmp(id, "<00112233445566778899aabbccddeeff@mail.example.org>") == 0);
    CHECK(smtp_message_id("ab", NULL, id, sizeof(id)) == 0 &&
          strcmp(id, "<ab@magicd.invalid>") == 0);
    CHECK(smtp_date(0, a, sizeof(a)) == 0 && strcmp(a, "Thu, 01 Jan 1970 00:00:00 +0000") == 0);
    CHECK(smtp_date(1764088801, a, sizeof(a)) == 0 &&
          strcmp(a, "Tue, 25 Nov 2025 16:40:01 +0000") == 0);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* A quoted-printable text with its soft line breaks taken out. */
static const char *unfold(const char *qp)
{
    static char out[16384];
    size_t o = 0;
    for (const char *p = qp; *p && o + 1 < sizeof(out); p++) {
        if (p[0] == '=' && p[1] == '\n') {
            p++;
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

static void test_format(void)
{
    static mail_set_t set;
    spool_msg_t m;
    char out[16384], out2[16384], err[512];
    int n, n2;

    CHECK(mail_load(&set, "html", err, sizeof(err)) == 0);
    memset(&m, 0, sizeof(m));
    strcpy(m.id_hex, "00112233445566778899aabbccddeeff");
    strcpy(m.to, "demo@example.com");
    strcpy(m.url, "http://127.0.0.1:8080/magic/verify/v1.abc_DEF-ghi?x=1&y=2");
    strcpy(m.code, "042917");
    strcpy(m.ip, "203.0.113.7");
    m.created_s = 1764088801;
    m.expires_s = 1764088801 + 900;
    n = smtp_format_message(&set, &m, "magicd <login@example.com>", out, sizeof(out));
    CHECK(n > 0 && (size_t)n == strlen(out));
    CHECK(strncmp(out, "From: magicd <login@example.com>\n", 33) == 0);
    CHECK(strstr(out, "\nTo: <demo@example.com>\n") != NULL);
    CHECK(strstr(out, "\nSubject: Your sign-in link for magicd\n") != NULL);
    CHECK(strstr(out, "\nDate: Tue, 25 Nov 2025 16:40:01 +0000\n") != NULL);
    CHECK(strstr(out, "\nMessage-ID: <00112233445566778899aabbccddeeff@example.com>\n") != NULL);
    CHECK(strstr(out, "\nMIME-Version: 1.0\n") != NULL);
    CHECK(strstr(out, "\nContent-Language: en\n") != NULL);
    CHECK(strstr(out, "multipart/alternative;\n boundary=\"=_magicd_0011") != NULL);
    CHECK(strstr(out, "Content-Type: text/plain; charset=utf-8") != NULL);
    CHECK(strstr(out, "Content-Type: text/html; charset=utf-8") != NULL);
    CHECK(count(out, "Content-Transfer-Encoding: quoted-printable\n") == 2);
    CHECK(count(out, "--=_magicd_00112233445566778899aabbccddeeff\n") == 2);
    CHECK(count(out, "--=_magicd_00112233445566778899aabbccddeeff--\n") == 1);
    /* quoted-printable: '=' is =3D; the HTML part escapes '&' */
    CHECK(strstr(out, "\nhttp://127.0.0.1:8080/magic/verify/v1.abc_DEF-ghi?x=3D1&y=3D2\n") != NULL);
    CHECK(strstr(unfold(out),
                 "href=3D\"http://127.0.0.1:8080/magic/verify/v1.abc_DEF-ghi?x=3D1&amp;"
                 "y=3D2") != NULL);
    CHECK(strstr(out, "2025-11-25 16:55 UTC") != NULL);
    CHECK(strstr(out, "\n    042917\n") != NULL);
    CHECK(strstr(out, "203.0.113.7") != NULL);
    /* the same spool entry always gives the same mail: retries are stable */
    n2 = smtp_format_message(&set, &m, "magicd <login@example.com>", out2, sizeof(out2));
    CHECK(n == n2 && memcmp(out, out2, (size_t)n) == 0);
    /* no line beyond 78 characters (headers folded, parts quoted-printable) */
    for (const char *p = out, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        CHECK(nl && nl - p <= 78);
        if (!nl)
            break;
    }
    /* German: the subject is an RFC 2047 encoded word, umlauts are =C3=BC */
    strcpy(m.lang, "de");
    n = smtp_format_message(&set, &m, "magicd <login@example.com>", out, sizeof(out));
    CHECK(n > 0 && strstr(out, "\nSubject: =?utf-8?B?") != NULL);
    CHECK(strstr(out, "\nContent-Language: de\n") != NULL);
    CHECK(strstr(out, "g=C3=BCltig") != NULL);
    /* an unknown language falls back to the default */
    strcpy(m.lang, "xx");
    n = smtp_format_message(&set, &m, "magicd <login@example.com>", out, sizeof(out));
    CHECK(n > 0 && strstr(out, "\nContent-Language: en\n") != NULL);
    /* too small a buffer, too long a link */
    CHECK(smtp_format_message(&set, &m, "a@b.c", out, 100) == -1);
    memset(m.url, 'a', 1000);
    m.url[1000] = '\0';
    CHECK(smtp_format_message(&set, &m, "a@b.c", out, sizeof(out)) == -1);
    mail_free(&set);
}

static void test_relay_addr(void)
{
    char h[256], p[16];

    CHECK(mailer_split_hostport("127.0.0.1:2525", h, sizeof(h), p, sizeof(p)) == 0 &&
          strcmp(h, "127.0.0.1") == 0 && strcmp(p, "2525") == 0);
    CHECK(mailer_split_hostport("relay.example.com", h, sizeof(h), p, sizeof(p)) == 0 &&
          strcmp(h, "relay.example.com") == 0 && strcmp(p, "25") == 0);
    CHECK(mailer_split_hostport("[::1]:587", h, sizeof(h), p, sizeof(p)) == 0 &&
          strcmp(h, "::1") == 0 && strcmp(p, "587") == 0);
    CHECK(mailer_split_hostport("::1:25", h, sizeof(h), p, sizeof(p)) == -1);
    CHECK(mailer_split_hostport("host:", h, sizeof(h), p, sizeof(p)) == -1);
    CHECK(mailer_split_hostport("host:2x", h, sizeof(h), p, sizeof(p)) == -1);
    CHECK(mailer_split_hostport("", h, sizeof(h), p, sizeof(p)) == -1);
}

static void test_backoff(void)
{
    CHECK(mailer_backoff_ms(0, 1000, 60000) == 1000);
    CHECK(mailer_backoff_ms(1, 1000, 60000) == 2000);
    CHECK(mailer_backoff_ms(5, 1000, 60000) == 32000);
    CHECK(mailer_backoff_ms(6, 1000, 60000) == 60000);
    CHECK(mailer_backoff_ms(1000, 1000, 60000) == 60000);
}

int main(void)
{
    test_dot_stuff();
    test_reply();
    test_addr();
    test_format();
    test_relay_addr();
    test_backoff();
    if (unit_failures)
        return 1;
    printf("ok\n");
    return 0;
}
