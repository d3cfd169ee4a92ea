/*
 * test_mail.c - the pure parts of the sign-in mail: language negotiation,
 * the browser line, quoted-printable and RFC 2047 encoding, and the shipped
 * templates (every language renders every placeholder).
 */
#include <stdio.h>
#include <string.h>

#include "app/mail.h"
#include "tests/unit/unit.h"

static mail_set_t set;

static const char *neg(const char *h)
{
    return mail_negotiate(&set, h, h ? strlen(h) : 0);
}

static void test_negotiate(void)
{
    CHECK(strcmp(neg(NULL), "en") == 0);
    CHECK(strcmp(neg(""), "en") == 0);
    CHECK(strcmp(neg("de"), "de") == 0);
    CHECK(strcmp(neg("DE-de"), "de") == 0);
    CHECK(strcmp(neg("de-DE,de;q=0.9,en;q=0.8"), "de") == 0);
    CHECK(strcmp(neg("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7"), "en") == 0);
    CHECK(strcmp(neg("fr, de;q=0.5"), "de") == 0);
    CHECK(strcmp(neg("en;q=0.5, de;q=0.5"), "en") == 0); /* a tie: the earlier range */
    CHECK(strcmp(neg("de;q=0, *;q=0.1"), "en") == 0);
    CHECK(strcmp(neg("*"), "en") == 0);
    CHECK(strcmp(neg("de;q=1.0"), "de") == 0);
    CHECK(strcmp(neg("de;q=1.5"), "en") == 0);    /* q above 1: malformed */
    CHECK(strcmp(neg("de;q=0.0001"), "en") == 0); /* four decimals: malformed */
    CHECK(strcmp(neg("d\xc3\xa9, de;q=0.2"), "de") == 0);
    CHECK(strcmp(neg(";;;,,,q=1"), "en") == 0);
    CHECK(strcmp(neg("deutsch"), "en") == 0); /* "de" is not a prefix at a '-' */
    char big[4096];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(strcmp(neg(big), "en") == 0);
}

static void test_browser(void)
{
    char b[128];
    mail_browser("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", b,
                 sizeof b);
    CHECK(strcmp(b, "Firefox on Linux") == 0);
    mail_browser("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                 b, sizeof b);
    CHECK(strcmp(b, "Edge on Windows") == 0);
    mail_browser("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                 b, sizeof b);
    CHECK(strcmp(b, "Safari on iOS") == 0);
    mail_browser("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile", b,
                 sizeof b);
    CHECK(strcmp(b, "Chrome on Android") == 0);
    mail_browser("curl/7.88.1", b, sizeof b);
    CHECK(strcmp(b, "curl") == 0);
    mail_browser("", b, sizeof b);
    CHECK(strcmp(b, "an unknown browser") == 0);
    mail_browser("SomeBot", b, sizeof b);
    CHECK(strcmp(b, "an unknown browser") == 0, "%s", b);
    /* the requester's words never reach the mail */
    mail_browser("IMPORTANT: reply with this code to support@evil.example", b, sizeof b);
    CHECK(strcmp(b, "an unknown browser") == 0, "%s", b);
    mail_browser("Bot (Linux) reply to evil@example", b, sizeof b);
    CHECK(strcmp(b, "a browser on Linux") == 0, "%s", b);
}

static void test_qp(void)
{
    buf_t b = {0};
    const char *in = "a=b caf\xc3\xa9 \ntrailing \n";
    CHECK(mail_qp_encode(in, strlen(in), &b) == 0 && buf_append(&b, "", 1) == 0);
    CHECK(strcmp(b.data, "a=3Db caf=C3=A9=20\ntrailing=20\n") == 0);
    b.len = 0;
    char line[300];
    memset(line, 'x', 200);
    line[200] = 0;
    CHECK(mail_qp_encode(line, 200, &b) == 0 && buf_append(&b, "", 1) == 0);
    int lines = 1, longest = 0;
    for (const char *p = b.data, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n > longest)
            longest = n;
        if (!nl)
            break;
        lines++;
    }
    CHECK(longest <= 76 && lines == 3);
    buf_free(&b);
}

static void test_header(void)
{
    buf_t b = {0};
    CHECK(mail_header_value("Your sign-in link", &b) == 0 && buf_append(&b, "", 1) == 0);
    CHECK(strcmp(b.data, "Your sign-in link") == 0);
    b.len = 0;
    CHECK(mail_header_value("Ihr Anmeldelink f\xc3\xbcr magicd", &b) == 0 &&
          buf_append(&b, "", 1) == 0);
    CHECK(strcmp(b.data, "=?utf-8?B?SWhyIEFubWVsZGVsaW5rIGbDvHIgbWFnaWNk?=") == 0);
    b.len = 0;
    /* long: several words, each under 76, never splitting a character */
    char s[400] = "";
    for (int i = 0; i < 40; i++)
        strcat(s, "\xc3\xbc\xc3\xa4x");
    CHECK(mail_header_value(s, &b) == 0 && buf_append(&b, "", 1) == 0);
    CHECK(strstr(b.data, "\n =?utf-8?B?") != NULL);
    for (const char *p = b.data, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        CHECK((nl ? nl - p : (long)strlen(p)) <= 76);
        if (!nl)
            break;
    }
    buf_free(&b);
}

static void test_render_all(void)
{
    spool_msg_t m;
    memset(&m, 0, sizeof m);
    strcpy(m.to, "demo@example.com");
    strcpy(m.url, "https://login.example.com/magic/verify/T?a=1&b=2");
    strcpy(m.code, "042917");
    strcpy(m.ip, "203.0.113.7");
    strcpy(m.ua, "curl/8.0");
    m.created_s = 1764088801;
    m.expires_s = m.created_s + 900;
    for (int i = 0; i < set.n; i++) {
        snprintf(m.lang, sizeof m.lang, "%s", set.lang[i].tag);
        for (int p = 0; p < MAIL_PARTS; p++) {
            buf_t b = {0};
            CHECK(mail_render(&set, p, &m, &b) == 0 && buf_append(&b, "", 1) == 0);
            if (p != MAIL_SUBJECT) {
                CHECK(strstr(b.data, "042917") != NULL);
                CHECK(strstr(b.data, "203.0.113.7") != NULL);
                CHECK(strstr(b.data, "curl") != NULL);
                CHECK(strstr(b.data, "15") != NULL);
                CHECK(strstr(b.data, "2025-11-25 16:55 UTC") != NULL);
                CHECK(strstr(b.data, p == MAIL_HTML ? "T?a=1&amp;b=2" : "T?a=1&b=2") != NULL);
                CHECK(strstr(b.data, "{{") == NULL);
            }
            buf_free(&b);
        }
    }
}

/* The lifetime the pages and mails state: nearest minute, never 0. */
static void test_ttl_minutes(void)
{
    CHECK(mail_ttl_minutes(0) == 1 && mail_ttl_minutes(1) == 1 && mail_ttl_minutes(30) == 1,
          "a link of seconds reads 0 minutes");
    CHECK(mail_ttl_minutes(89) == 1 && mail_ttl_minutes(90) == 2);
    CHECK(mail_ttl_minutes(900) == 15 && mail_ttl_minutes(86400) == 1440);
}

int main(void)
{
    char err[512];
    CHECK(mail_load(&set, "html", err, sizeof err) == 0);
    CHECK(set.n >= 2 && strcmp(set.lang[set.def].tag, "en") == 0);
    CHECK(mail_lang_index(&set, "de") >= 0 && mail_lang_index(&set, "xx") < 0);
    test_negotiate();
    test_browser();
    test_qp();
    test_header();
    test_render_all();
    test_ttl_minutes();
    mail_free(&set);
    if (unit_failures)
        return 1;
    printf("ok\n");
    return 0;
}
