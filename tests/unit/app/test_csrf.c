/*
 * test_csrf.c - CSRF secrets, tokens, checks under key rotation, bindings.
 */
#include "tests/unit/unit_sha_fail.h" /* first: it sets OpenSSL's deprecation switch */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/csrf.h"
#include "tests/unit/unit.h"
#include "tests/unit/unit_keys.h"

int main(void)
{
    keyring_t k1, k2, k21;
    char s1[CSRF_LEN + 1], s2[CSRF_LEN + 1], t1[CSRF_LEN + 1], t1b[CSRF_LEN + 1], t2[CSRF_LEN + 1],
        tk2[CSRF_LEN + 1];

    unit_ring(&k1, 1, -1);
    unit_ring(&k2, 2, -1);
    unit_ring(&k21, 2, 1);

    CHECK(csrf_new_secret(&k1, s1) == 0 && csrf_new_secret(&k1, s2) == 0);
    CHECK(strlen(s1) == CSRF_LEN && strlen(s2) == CSRF_LEN && strcmp(s1, s2) != 0);

    /* Only secrets this server issued are secrets. */
    CHECK(csrf_secret_ok(&k1, s1, CSRF_LEN) == 1);
    CHECK(csrf_secret_ok(&k21, s1, CSRF_LEN) == 1); /* issued under the previous key */
    CHECK(csrf_secret_ok(&k2, s1, CSRF_LEN) == 0);  /* a key it was not issued under */
    CHECK(csrf_secret_ok(&k1, s1, CSRF_LEN - 1) == 0);
    CHECK(csrf_secret_ok(&k1, NULL, 0) == 0);
    {
        char planted[CSRF_LEN + 1], tampered[CSRF_LEN + 1], tp[CSRF_LEN + 1];
        memset(planted, 'A', CSRF_LEN);
        planted[CSRF_LEN] = 0;
        CHECK(csrf_secret_ok(&k1, planted, CSRF_LEN) == 0);
        /* the attacker's planted value with the token the server would
         * compute for it: refused, because the secret is not genuine */
        csrf_token_for(&k1.cur, planted, CSRF_LEN, tp);
        CHECK(csrf_check(&k1, planted, CSRF_LEN, tp, CSRF_LEN) == 0);
        for (int i = 0; i < CSRF_LEN; i++) {
            memcpy(tampered, s1, sizeof tampered);
            tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
            CHECK(csrf_secret_ok(&k1, tampered, CSRF_LEN) == 0 || i == CSRF_LEN - 1);
        }
        uint8_t id1[CSRF_ID_LEN], id1b[CSRF_ID_LEN], id2[CSRF_ID_LEN];
        CHECK(csrf_secret_id(s1, CSRF_LEN, id1) == 0 && csrf_secret_id(s1, CSRF_LEN, id1b) == 0);
        CHECK(csrf_secret_id(s2, CSRF_LEN, id2) == 0);
        CHECK(memcmp(id1, id1b, CSRF_ID_LEN) == 0 && memcmp(id1, id2, CSRF_ID_LEN) != 0);
        CHECK(csrf_secret_id("short", 5, id1) == -1);
    }

    csrf_token_for(&k1.cur, s1, CSRF_LEN, t1);
    csrf_token_for(&k1.cur, s1, CSRF_LEN, t1b);
    csrf_token_for(&k1.cur, s2, CSRF_LEN, t2);
    csrf_token_for(&k2.cur, s1, CSRF_LEN, tk2);
    CHECK(strlen(t1) == CSRF_LEN);
    CHECK(strcmp(t1, t1b) == 0); /* deterministic */
    CHECK(strcmp(t1, t2) != 0);  /* per secret */
    CHECK(strcmp(t1, tk2) != 0); /* per key */
    CHECK(strcmp(t1, s1) != 0);  /* not the secret itself */

    CHECK(csrf_check(&k1, s1, CSRF_LEN, t1, CSRF_LEN) == 1);
    CHECK(csrf_check(&k1, s2, CSRF_LEN, t1, CSRF_LEN) == 0);   /* other browser's token */
    CHECK(csrf_check(&k1, s1, CSRF_LEN, s1, CSRF_LEN) == 0);   /* header = cookie */
    CHECK(csrf_check(&k2, s1, CSRF_LEN, t1, CSRF_LEN) == 0);   /* other key */
    CHECK(csrf_check(&k21, s1, CSRF_LEN, t1, CSRF_LEN) == 1);  /* previous key */
    CHECK(csrf_check(&k21, s1, CSRF_LEN, tk2, CSRF_LEN) == 1); /* current key */

    /* Missing, empty, wrong-length inputs. */
    CHECK(csrf_check(&k1, NULL, 0, t1, CSRF_LEN) == 0);
    CHECK(csrf_check(&k1, s1, CSRF_LEN, NULL, 0) == 0);
    CHECK(csrf_check(&k1, "", 0, "", 0) == 0);
    CHECK(csrf_check(&k1, s1, CSRF_LEN, t1, CSRF_LEN - 1) == 0);
    CHECK(csrf_check(&k1, s1, CSRF_LEN - 1, t1, CSRF_LEN) == 0);
    {
        char longer[CSRF_LEN + 2];
        memcpy(longer, t1, CSRF_LEN);
        longer[CSRF_LEN] = 'A';
        longer[CSRF_LEN + 1] = '\0';
        CHECK(csrf_check(&k1, s1, CSRF_LEN, longer, CSRF_LEN + 1) == 0);
    }
    /* Every single-character change of the header is refused. */
    {
        int bad = 0;
        char h[CSRF_LEN + 1];
        for (int i = 0; i < CSRF_LEN; i++) {
            memcpy(h, t1, sizeof(h));
            h[i] = h[i] == 'A' ? 'B' : 'A';
            bad += csrf_check(&k1, s1, CSRF_LEN, h, CSRF_LEN);
        }
        CHECK(bad == 0);
    }
    /* Many keys in turn (more than the MAC cache holds) stay correct. */
    for (int round = 0; round < 3; round++) {
        for (int k = 10; k < 20; k++) {
            keyring_t kr;
            char t[CSRF_LEN + 1], sk[CSRF_LEN + 1];
            unit_ring(&kr, (uint8_t)k, -1);
            CHECK(csrf_new_secret(&kr, sk) == 0);
            csrf_token_for(&kr.cur, sk, CSRF_LEN, t);
            CHECK(csrf_check(&kr, sk, CSRF_LEN, t, CSRF_LEN) == 1);
            CHECK(csrf_check(&kr, s1, CSRF_LEN, t1, CSRF_LEN) == 0); /* s1 not issued here */
        }
    }

    /* Bindings: deterministic, 16 bytes of SHA-256, differ per token. */
    {
        uint8_t b1[16], b1b[16], b2[16];
        /* SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 ... */
        static const uint8_t abc[16] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                        0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23};
        csrf_binding(t1, CSRF_LEN, b1);
        csrf_binding(t1, CSRF_LEN, b1b);
        csrf_binding(t2, CSRF_LEN, b2);
        CHECK(memcmp(b1, b1b, 16) == 0 && memcmp(b1, b2, 16) != 0);
        csrf_binding("abc", 3, b1);
        CHECK(memcmp(b1, abc, 16) == 0);
    }

    /* Binding survives rotation: a link bound to the old-key token matches
     * the same cookie secret under a ring with the old key as previous. */
    {
        uint8_t b[16];
        csrf_binding(t1, CSRF_LEN, b); /* t1: s1 under key 1 */
        CHECK(csrf_binding_match(&k1, s1, CSRF_LEN, b) == 1);
        CHECK(csrf_binding_match(&k21, s1, CSRF_LEN, b) == 1); /* 1 is previous */
        CHECK(csrf_binding_match(&k2, s1, CSRF_LEN, b) == 0);  /* 1 dropped */
        CHECK(csrf_binding_match(&k1, s2, CSRF_LEN, b) == 0);  /* other browser */
        CHECK(csrf_binding_match(&k1, s1, CSRF_LEN - 1, b) == 0);
        CHECK(csrf_binding_match(&k1, NULL, 0, b) == 0);
        csrf_binding(tk2, CSRF_LEN, b); /* s1 under key 2 */
        CHECK(csrf_binding_match(&k21, s1, CSRF_LEN, b) == 1);
    }

    /* A binding that could not be made is refused, not zeros handed to a
     * link: with the hash failing at generate and again at verify, two
     * zeros would compare equal and a link would open in any browser. */
    {
        static const uint8_t zero[16];
        uint8_t b[16];
        unit_sha_fail = 1;
        CHECK(csrf_binding(t1, CSRF_LEN, b) == -1, "a failed hash made a binding");
        CHECK(memcmp(b, zero, 16) == 0);
        CHECK(csrf_binding_match(&k1, s1, CSRF_LEN, zero) == 0, "a failed binding matched zeros");
        unit_sha_fail = 0;
        CHECK(csrf_binding(t1, CSRF_LEN, b) == 0 && memcmp(b, zero, 16) != 0);
    }

    if (unit_failures) {
        fprintf(stderr, "test_csrf: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_csrf: ok\n");
    return 0;
}
