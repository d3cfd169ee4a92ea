/*
 * test_signin_code.c - the sign-in code and its ticket: codes are 6 digits
 * and spread over the whole range, typing variants normalise, the MAC binds
 * the code to its link id and survives a key rotation, the ticket round
 * trips (with and without a return-to), cannot be altered, and is neither a
 * link nor a session; a MAC that cannot be computed matches nothing.
 */
#include "tests/unit/unit_sha_fail.h" /* first: it sets OpenSSL's deprecation switch */

#include <stdio.h>
#include <string.h>

#include "app/signin_code.h"
#include "app/token.h"
#include "tests/unit/unit.h"
#include "tests/unit/unit_keys.h"

static void test_codes(void)
{
    char c[SIGNIN_CODE_DIGITS + 1];
    int first[10] = {0}, same = 0;
    char prev[SIGNIN_CODE_DIGITS + 1] = "";
    for (int i = 0; i < 2000; i++) {
        CHECK(signin_code_new(c) == 0);
        CHECK(strlen(c) == 6 && strspn(c, "0123456789") == 6);
        first[c[0] - '0']++;
        same += strcmp(c, prev) == 0;
        memcpy(prev, c, sizeof prev);
    }
    for (int d = 0; d < 10; d++) /* about 200 each; leading zeros kept */
        CHECK(first[d] > 100 && first[d] < 320);
    CHECK(same < 3);

    char out[SIGNIN_CODE_DIGITS + 1];
    CHECK(signin_code_normalize("042917", out) == 0 && strcmp(out, "042917") == 0);
    CHECK(signin_code_normalize(" 042 917 ", out) == 0 && strcmp(out, "042917") == 0);
    CHECK(signin_code_normalize("042-917", out) == 0 && strcmp(out, "042917") == 0);
    CHECK(signin_code_normalize("04291", out) == -1);
    CHECK(signin_code_normalize("0429170", out) == -1);
    CHECK(signin_code_normalize("04a917", out) == -1);
    CHECK(signin_code_normalize("", out) == -1);
    CHECK(signin_code_normalize("\xd9\xa0"
                                "42917",
                                out) == -1); /* Arabic-Indic zero */
}

static void test_mac(void)
{
    keyring_t kr, rotated, other;
    uint8_t id[16], id2[16], mac[SIGNIN_CODE_MAC];
    unit_ring(&kr, 1, -1);
    unit_ring(&rotated, 2, 1);
    unit_ring(&other, 3, -1);
    memset(id, 7, 16);
    memset(id2, 8, 16);
    signin_code_mac(&kr.cur, id, "123456", mac);
    CHECK(signin_code_match(&kr, id, "123456", mac));
    CHECK(!signin_code_match(&kr, id, "123457", mac));
    CHECK(!signin_code_match(&kr, id2, "123456", mac));    /* another link's code */
    CHECK(signin_code_match(&rotated, id, "123456", mac)); /* previous key */
    CHECK(!signin_code_match(&other, id, "123456", mac));
}

/* A MAC that could not be made is all zeros. A ticket sealed while it
 * failed carries that, and if checking a code fails too, the two zeros
 * must not count as a match: any code would sign in. */
static void test_mac_failure(void)
{
    keyring_t kr, rotated;
    uint8_t id[16], mac[SIGNIN_CODE_MAC], zero[SIGNIN_CODE_MAC] = {0};
    unit_ring(&kr, 4, -1);
    unit_ring(&rotated, 5, 4);
    memset(id, 9, 16);
    unit_sha_fail = 1;
    signin_code_mac(&kr.cur, id, "123456", mac);
    CHECK(memcmp(mac, zero, sizeof mac) == 0, "a failed MAC is zeros");
    CHECK(!signin_code_match(&kr, id, "654321", mac), "a failed MAC matched a failed MAC");
    CHECK(!signin_code_match(&rotated, id, "654321", mac), "the same under a previous key");
    CHECK(!signin_code_match(&kr, id, "654321", zero));
    unit_sha_fail = 0;
    CHECK(!signin_code_match(&kr, id, "123456", mac), "a zero MAC matched a real one");
    signin_code_mac(&kr.cur, id, "123456", mac);
    CHECK(signin_code_match(&kr, id, "123456", mac), "the MAC works again");
}

static void test_ticket(void)
{
    keyring_t kr, other;
    unit_ring(&kr, 1, -1);
    unit_ring(&other, 3, -1);
    code_ticket_t t, o;
    memset(&t, 0, sizeof t);
    snprintf(t.email, sizeof t.email, "demo@example.com");
    memset(t.id, 0x11, 16);
    memset(t.bind, 0x22, 16);
    memset(t.mac, 0x33, 16);
    t.iat = 1700000000;
    t.exp = t.iat + 900;
    t.known = 1;
    char tok[TOKEN_CODE_MAX];
    int n = token_code_seal(&kr, &t, tok, sizeof tok);
    CHECK(n > 0 && (size_t)n < sizeof tok);
    CHECK(token_code_open(&kr, tok, (size_t)n, t.iat + 1, &o) == TOK_OK);
    CHECK(strcmp(o.email, t.email) == 0 && !memcmp(o.id, t.id, 16) && !memcmp(o.bind, t.bind, 16) &&
          !memcmp(o.mac, t.mac, 16) && o.iat == t.iat && o.exp == t.exp && o.known == 1 &&
          o.rd[0] == 0);
    CHECK(token_code_open(&kr, tok, (size_t)n, t.exp, &o) == TOK_EXPIRED);
    CHECK(token_code_open(&other, tok, (size_t)n, t.iat, &o) == TOK_FORGED);
    /* not a link, not a session */
    link_claims_t l;
    session_claims_t sc;
    CHECK(token_link_open(&kr, tok, (size_t)n, t.iat, &l) != TOK_OK);
    CHECK(token_session_open(&kr, tok, (size_t)n, t.iat * 1000, &sc) != TOK_OK);
    /* every altered character is refused */
    for (int i = 0; i < n; i++) {
        char bad[TOKEN_CODE_MAX];
        memcpy(bad, tok, (size_t)n + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        CHECK(token_code_open(&kr, bad, (size_t)n, t.iat, &o) != TOK_OK);
    }
    /* with the longest return-to and address */
    memset(t.rd, 'r', RETURN_URL_MAX);
    t.rd[RETURN_URL_MAX] = 0;
    memset(t.email, 'e', TOKEN_EMAIL_MAX);
    t.email[TOKEN_EMAIL_MAX] = 0;
    t.known = 0;
    n = token_code_seal(&kr, &t, tok, sizeof tok);
    CHECK(n > 0 && token_code_open(&kr, tok, (size_t)n, t.iat, &o) == TOK_OK);
    CHECK(strcmp(o.rd, t.rd) == 0 && strcmp(o.email, t.email) == 0 && o.known == 0);
    CHECK(token_code_seal(&kr, &t, tok, 100) == -1);
}

int main(void)
{
    test_codes();
    test_mac();
    test_mac_failure();
    test_ticket();
    if (unit_failures)
        return 1;
    printf("ok\n");
    return 0;
}
