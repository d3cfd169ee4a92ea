/*
 * test_token.c - link and session tokens: round trips, tampering, expiry,
 * purpose separation, key rotation, unknown keys, size; the random pool
 * after fork and when the DRBG fails (RAND_bytes is interposed here).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/base64url.h"
#include "app/signin_code.h"
#include "app/token.h"
#include "tests/unit/unit.h"
#include "tests/unit/unit_keys.h"

static link_claims_t link_claims(const char *email)
{
    link_claims_t c;
    memset(&c, 0, sizeof(c));
    snprintf(c.email, sizeof(c.email), "%s", email);
    for (int i = 0; i < 16; i++)
        c.bind[i] = (uint8_t)(0xa0 + i);
    c.iat = 1700000000;
    c.exp = c.iat + 900;
    return c;
}

static void test_link_roundtrip(void)
{
    keyring_t kr;
    link_claims_t c = link_claims("user@example.com"), o;
    char tok[TOKEN_LINK_MAX], tok2[TOKEN_LINK_MAX];
    uint8_t id[16], id2[16];
    int n;

    unit_ring(&kr, 1, -1);
    n = token_link_seal_id(&kr, &c, id, tok, sizeof(tok));
    CHECK(n > 0 && (size_t)n == strlen(tok));
    CHECK(n < 140); /* compact: 135 for a 16-char address + 4 */
    for (int i = 0; i < n; i++)
        CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", tok[i]));
    memset(&o, 0, sizeof(o));
    CHECK(token_link_open(&kr, tok, (size_t)n, c.iat + 10, &o) == TOK_OK);
    CHECK(strcmp(o.email, c.email) == 0);
    CHECK(memcmp(o.bind, c.bind, 16) == 0);
    CHECK(o.iat == c.iat && o.exp == c.exp);
    CHECK(memcmp(o.id, id, 16) == 0);

    /* Same claims twice: different nonce and id, so different tokens. */
    CHECK(token_link_seal_id(&kr, &c, id2, tok2, sizeof(tok2)) == n);
    CHECK(strcmp(tok, tok2) != 0 && memcmp(id, id2, 16) != 0);

    /* A caller-chosen id is kept. */
    CHECK(token_new_id(c.id) == 0);
    n = token_link_seal(&kr, &c, tok, sizeof(tok));
    CHECK(n > 0 && token_link_open(&kr, tok, (size_t)n, c.iat, &o) == TOK_OK);
    CHECK(memcmp(o.id, c.id, 16) == 0);

    /* Expiry: valid until exp, expired at exp. */
    CHECK(token_link_open(&kr, tok, (size_t)n, c.exp - 1, &o) == TOK_OK);
    CHECK(token_link_open(&kr, tok, (size_t)n, c.exp, &o) == TOK_EXPIRED);
    CHECK(token_link_open(&kr, tok, (size_t)n, c.exp + 100000, &o) == TOK_EXPIRED);

    /* Buffer too small, email empty or too long. */
    CHECK(token_link_seal(&kr, &c, tok, (size_t)n) == -1);
    CHECK(token_link_seal(&kr, &c, tok, (size_t)n + 1) == n);
    {
        link_claims_t e = link_claims("");
        CHECK(token_link_seal(&kr, &e, tok, sizeof(tok)) == -1);
        memset(e.email, 'a', sizeof(e.email)); /* 256 bytes, no NUL */
        CHECK(token_link_seal(&kr, &e, tok, sizeof(tok)) == -1);
        memset(e.email, 'a', 255);
        e.email[255] = '\0';
        n = token_link_seal(&kr, &e, tok, sizeof(tok));
        CHECK(n > 0 && (size_t)n < TOKEN_LINK_MAX);
        CHECK(token_link_open(&kr, tok, (size_t)n, e.iat, &o) == TOK_OK && strlen(o.email) == 255);
    }
}

/* A link carries a return-to after the email; without one it is the
 * original format, so links from before return-to still open. */
static void test_link_return_to(void)
{
    keyring_t kr;
    link_claims_t c = link_claims("user@example.com"), o;
    char tok[TOKEN_LINK_MAX];
    int n;

    unit_ring(&kr, 1, -1);
    snprintf(c.rd, sizeof(c.rd), "https://app.example.com/x?y=1&z=2#f");
    n = token_link_seal(&kr, &c, tok, sizeof(tok));
    CHECK(n > 0);
    memset(&o, 0x55, sizeof(o));
    CHECK(token_link_open(&kr, tok, (size_t)n, c.iat, &o) == TOK_OK);
    CHECK(strcmp(o.email, c.email) == 0 && strcmp(o.rd, c.rd) == 0, "%s | %s", o.email, o.rd);

    c.rd[0] = 0;
    n = token_link_seal(&kr, &c, tok, sizeof(tok));
    memset(&o, 0x55, sizeof(o));
    CHECK(n > 0 && n < 140 && token_link_open(&kr, tok, (size_t)n, c.iat, &o) == TOK_OK);
    CHECK(o.rd[0] == 0 && strcmp(o.email, c.email) == 0);

    /* The longest return-to with the longest address still fits. */
    link_claims_t big = link_claims("");
    memset(big.email, 'a', 255);
    big.email[255] = 0;
    memset(big.rd, 'r', RETURN_URL_MAX);
    big.rd[0] = '/';
    big.rd[RETURN_URL_MAX] = 0;
    n = token_link_seal(&kr, &big, tok, sizeof(tok));
    CHECK(n > 0 && (size_t)n < TOKEN_LINK_MAX);
    CHECK(token_link_open(&kr, tok, (size_t)n, big.iat, &o) == TOK_OK &&
          strlen(o.rd) == RETURN_URL_MAX && strlen(o.email) == 255);
}

static void test_tamper(void)
{
    keyring_t kr;
    link_claims_t c = link_claims("tamper@example.com"), o;
    char tok[TOKEN_LINK_MAX];
    uint8_t bin[400];
    int n;
    long bl;

    unit_ring(&kr, 2, -1);
    n = token_link_seal(&kr, &c, tok, sizeof(tok));
    CHECK(n > 0);
    /* Every character changed to every other alphabet character. */
    {
        static const char alpha[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        int bad = 0;
        for (int i = 0; i < n; i++) {
            char save = tok[i];
            for (int a = 0; a < 64; a++) {
                if (alpha[a] == save)
                    continue;
                tok[i] = alpha[a];
                tok_result_t r = token_link_open(&kr, tok, (size_t)n, c.iat, &o);
                if (r != TOK_FORGED && r != TOK_MALFORMED)
                    bad++;
            }
            tok[i] = save;
        }
        CHECK(bad == 0);
        CHECK(token_link_open(&kr, tok, (size_t)n, c.iat, &o) == TOK_OK); /* restored */
    }
    /* Every bit of the binary form. */
    bl = b64url_decode(tok, (size_t)n, bin, sizeof(bin));
    CHECK(bl > 0);
    for (long i = 0; i < bl; i++) {
        for (int b = 0; b < 8; b++) {
            char t2[TOKEN_LINK_MAX];
            bin[i] ^= (uint8_t)(1u << b);
            size_t m = b64url_encode(bin, (size_t)bl, t2);
            tok_result_t r = token_link_open(&kr, t2, m, c.iat, &o);
            if (i == 0)
                CHECK(r == TOK_MALFORMED); /* version */
            else
                CHECK(r == TOK_FORGED);
            bin[i] ^= (uint8_t)(1u << b);
        }
    }
    /* Truncation, extension, garbage, empty. */
    for (int len = 0; len < n; len++) {
        tok_result_t r = token_link_open(&kr, tok, (size_t)len, c.iat, &o);
        CHECK(r == TOK_MALFORMED || r == TOK_FORGED);
    }
    {
        char longer[TOKEN_LINK_MAX + 8];
        snprintf(longer, sizeof(longer), "%sAAAA", tok);
        CHECK(token_link_open(&kr, longer, strlen(longer), c.iat, &o) == TOK_FORGED);
        char huge[2000];
        memset(huge, 'A', sizeof(huge));
        CHECK(token_link_open(&kr, huge, sizeof(huge), c.iat, &o) == TOK_MALFORMED);
        CHECK(token_link_open(&kr, "", 0, c.iat, &o) == TOK_MALFORMED);
        CHECK(token_link_open(&kr, "not a token!", 12, c.iat, &o) == TOK_MALFORMED);
        CHECK(token_link_open(&kr, "a.b", 3, c.iat, &o) == TOK_MALFORMED);
    }
}

static void test_purpose_and_keys(void)
{
    keyring_t k1, k2, k21, k12;
    link_claims_t c = link_claims("who@example.com"), lo;
    session_claims_t s, so;
    char lt[TOKEN_LINK_MAX], st[TOKEN_SESSION_MAX];
    int ln, sn;

    unit_ring(&k1, 1, -1);
    unit_ring(&k2, 2, -1);
    unit_ring(&k21, 2, 1); /* rotated: current 2, previous 1 */
    unit_ring(&k12, 1, 2);
    memset(&s, 0, sizeof(s));
    snprintf(s.email, sizeof(s.email), "who@example.com");
    snprintf(s.groups, sizeof(s.groups), "admins,ops");
    memset(s.id, 7, sizeof s.id);
    memset(s.csrf, 9, sizeof s.csrf);
    s.uid = 42;
    s.iat_ms = 1800000000000ull;
    s.seen_ms = 1850000000000ull;
    s.exp_ms = 2000000000000ull;

    ln = token_link_seal(&k1, &c, lt, sizeof(lt));
    sn = token_session_seal(&k1, &s, st, sizeof(st));
    CHECK(ln > 0 && sn > 0 && sn < 200);
    CHECK(token_session_open(&k1, st, (size_t)sn, 1900000000000ull, &so) == TOK_OK);
    CHECK(strcmp(so.email, s.email) == 0 && so.exp_ms == s.exp_ms && so.iat_ms == s.iat_ms &&
          so.seen_ms == s.seen_ms && so.uid == 42 && strcmp(so.groups, "admins,ops") == 0 &&
          memcmp(so.id, s.id, 16) == 0 && memcmp(so.csrf, s.csrf, 16) == 0);
    CHECK(token_session_open(&k1, st, (size_t)sn, 2000000000000ull, &so) == TOK_EXPIRED);
    {
        /* no groups; the longest group list; one byte too long */
        session_claims_t g = s;
        char big[TOKEN_SESSION_MAX];
        g.groups[0] = 0;
        int gn = token_session_seal(&k1, &g, big, sizeof big);
        CHECK(gn > 0 && token_session_open(&k1, big, (size_t)gn, 0, &so) == TOK_OK &&
              so.groups[0] == 0 && strcmp(so.email, s.email) == 0);
        memset(g.groups, 'g', TOKEN_GROUPS_MAX);
        g.groups[TOKEN_GROUPS_MAX] = 0;
        memset(g.email, 'e', TOKEN_EMAIL_MAX);
        g.email[TOKEN_EMAIL_MAX] = 0;
        gn = token_session_seal(&k1, &g, big, sizeof big);
        CHECK(gn > 0 && gn < TOKEN_SESSION_MAX &&
              token_session_open(&k1, big, (size_t)gn, 0, &so) == TOK_OK &&
              strlen(so.groups) == TOKEN_GROUPS_MAX && strlen(so.email) == TOKEN_EMAIL_MAX);
    }

    /* Wrong purpose: a session is not a link and vice versa. */
    CHECK(token_link_open(&k1, st, (size_t)sn, 1900000000, &lo) == TOK_FORGED);
    CHECK(token_session_open(&k1, lt, (size_t)ln, c.iat * 1000, &so) == TOK_FORGED);

    /* Unknown key: a keyring without key 1. */
    CHECK(token_link_open(&k2, lt, (size_t)ln, c.iat, &lo) == TOK_FORGED);
    CHECK(token_session_open(&k2, st, (size_t)sn, 1900000000000ull, &so) == TOK_FORGED);

    /* After rotation, key 1 is the previous key: still accepted. */
    CHECK(token_link_open(&k21, lt, (size_t)ln, c.iat, &lo) == TOK_OK);
    CHECK(strcmp(lo.email, c.email) == 0);
    CHECK(token_session_open(&k21, st, (size_t)sn, 1900000000000ull, &so) == TOK_OK);
    /* ... and expiry still applies to previous-key tokens. */
    CHECK(token_link_open(&k21, lt, (size_t)ln, c.exp, &lo) == TOK_EXPIRED);

    /* New tokens from the rotated ring use key 2: a ring with only key 1
     * cannot open them, one with 1 current and 2 previous can. */
    ln = token_link_seal(&k21, &c, lt, sizeof(lt));
    CHECK(token_link_open(&k1, lt, (size_t)ln, c.iat, &lo) == TOK_FORGED);
    CHECK(token_link_open(&k2, lt, (size_t)ln, c.iat, &lo) == TOK_OK);
    CHECK(token_link_open(&k12, lt, (size_t)ln, c.iat, &lo) == TOK_OK);

    /* A previous key that is configured but whose tokens are forged. */
    {
        keyring_t fake = k21;
        fake.prev.link[0] ^= 1;
        ln = token_link_seal(&k1, &c, lt, sizeof(lt));
        CHECK(token_link_open(&fake, lt, (size_t)ln, c.iat, &lo) == TOK_FORGED);
    }
}

/* The nonce of a token (binary bytes 5..16). */
static void nonce_of(const char *tok, uint8_t out[12])
{
    uint8_t bin[400];
    long n = b64url_decode(tok, strlen(tok), bin, sizeof(bin));
    memset(out, 0, 12);
    if (n > 17)
        memcpy(out, bin + 5, 12);
}

static void test_fork_nonces(void)
{
    /* The random pool must not be shared with a forked child: parent and
     * child sealing right after fork must use different nonces and ids. */
    keyring_t kr;
    link_claims_t c = link_claims("fork@example.com");
    char tok[TOKEN_LINK_MAX];
    uint8_t mine[28], theirs[28];
    int fds[2], st;

    unit_ring(&kr, 5, -1);
    CHECK(token_link_seal(&kr, &c, tok, sizeof(tok)) > 0); /* fill the pool */
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint8_t out[28];
        int ok = token_link_seal_id(&kr, &c, out + 12, tok, sizeof(tok)) > 0;
        nonce_of(tok, out);
        _exit(ok && write(fds[1], out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 1);
    }
    CHECK(token_link_seal_id(&kr, &c, mine + 12, tok, sizeof(tok)) > 0);
    nonce_of(tok, mine);
    CHECK(read(fds[0], theirs, sizeof(theirs)) == (ssize_t)sizeof(theirs));
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(memcmp(mine, theirs, 12) != 0);           /* nonces */
    CHECK(memcmp(mine + 12, theirs + 12, 16) != 0); /* ids */
    close(fds[0]);
    close(fds[1]);
}

/* OpenSSL's RAND_bytes, made to fail on demand: this definition in the
 * test binary is the one the pool's calls reach. */
static int rand_fail;

int RAND_bytes(unsigned char *buf, int num)
{
    static int (*real)(unsigned char *, int);
    if (rand_fail)
        return 0;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "RAND_bytes");
    return real ? real(buf, num) : 0;
}

/* A DRBG that fails refuses what needs randomness (a seal, a link id, a
 * sign-in code) rather than handing out what the pool held: bytes already
 * given (wiped to zero) or none. When it works again, so do they. */
static void test_rand_failure(void)
{
    keyring_t kr;
    link_claims_t c = link_claims("drbg@example.com");
    char tok[TOKEN_LINK_MAX], code[SIGNIN_CODE_DIGITS + 1];
    uint8_t big[4096], id[16], n1[12], n2[12], zero[16] = {0};

    unit_ring(&kr, 8, -1);
    CHECK(token_random(id, 1) == 0); /* the pool is filled and partly used */
    rand_fail = 1;
    CHECK(token_random(big, sizeof big) < 0, "a refill that failed gave bytes");
    CHECK(token_link_seal(&kr, &c, tok, sizeof(tok)) < 0, "sealed without a nonce");
    CHECK(token_new_id(id) < 0, "a link id without randomness");
    CHECK(signin_code_new(code) < 0, "a code without randomness");
    CHECK(token_random(id, 16) < 0, "the pool handed out bytes after a failed refill");
    rand_fail = 0;
    CHECK(token_new_id(id) == 0 && memcmp(id, zero, 16) != 0);
    CHECK(token_link_seal(&kr, &c, tok, sizeof(tok)) > 0);
    nonce_of(tok, n1);
    CHECK(token_link_seal(&kr, &c, tok, sizeof(tok)) > 0);
    nonce_of(tok, n2);
    CHECK(memcmp(n1, n2, 12) != 0 && memcmp(n1, zero, 12) != 0);
}

static void test_garbage(void)
{
    /* Random strings of random lengths, from the alphabet and from all
     * bytes: never OK, never a crash (ASan/UBSan builds check the rest). */
    keyring_t kr;
    link_claims_t lo;
    session_claims_t so;
    char buf[600];
    unsigned x = 777;
    int ok = 0;
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    unit_ring(&kr, 6, 7);
    for (int i = 0; i < 20000; i++) {
        size_t n = (x = x * 1103515245u + 12345u) % sizeof(buf);
        int any = i & 1;
        for (size_t k = 0; k < n; k++) {
            x = x * 1103515245u + 12345u;
            buf[k] = any ? (char)(x >> 16) : alpha[(x >> 16) % 64];
        }
        ok += token_link_open(&kr, buf, n, 0, &lo) == TOK_OK;
        ok += token_session_open(&kr, buf, n, 0, &so) == TOK_OK;
    }
    CHECK(ok == 0);
}

static void test_speed(void)
{
    keyring_t kr;
    link_claims_t c = link_claims("speed@example.com"), o;
    char tok[TOKEN_LINK_MAX];
    struct timespec a, b;
    int n = 0, iters = 20000, ok = 1;

    unit_ring(&kr, 3, 4);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < iters; i++) {
        n = token_link_seal(&kr, &c, tok, sizeof(tok));
        ok &= token_link_open(&kr, tok, (size_t)n, c.iat, &o) == TOK_OK;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK(ok);
    double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / iters;
    printf("seal+open: %.2f us per pair\n", us);
}

int main(void)
{
    test_link_roundtrip();
    test_link_return_to();
    test_tamper();
    test_purpose_and_keys();
    test_fork_nonces();
    test_rand_failure();
    test_garbage();
    test_speed();
    printf("token result names: %s %s %s %s\n", token_result_str(TOK_OK),
           token_result_str(TOK_MALFORMED), token_result_str(TOK_FORGED),
           token_result_str(TOK_EXPIRED));
    if (unit_failures) {
        fprintf(stderr, "test_token: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_token: ok\n");
    return 0;
}
