/*
 * test_session_cache - a cookie seen before gets its claims back, a cookie
 * that differs in any byte or in length does not, a slot's newer cookie
 * replaces the older, and the table stays bounded whatever is put in it.
 */
#include <stdio.h>
#include <string.h>

#include "app/session_cache.h"
#include "../unit.h"

static void cookie(char *out, size_t n, unsigned i)
{
    for (size_t k = 0; k < n; k++)
        out[k] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            [(i * 31 + k * 7 + (i >> 3) * k) % 64];
    char tail[9];
    snprintf(tail, sizeof tail, "%08x", i);
    memcpy(out + n - 8, tail, 8); /* the tail picks the slot */
}

int main(void)
{
    session_cache_t *c = session_cache_new();
    session_claims_t in, out;
    char a[168], b[168];

    CHECK(c != NULL);
    if (!c)
        return unit_done("test_session_cache");
    memset(&in, 0, sizeof in);
    in.uid = 42;
    in.exp_ms = 123456;
    strcpy(in.email, "demo@example.com");
    strcpy(in.groups, "admins");
    cookie(a, sizeof a, 1);

    CHECK(session_cache_get(c, a, sizeof a, &out) == 0, "empty cache hits");
    session_cache_put(c, a, sizeof a, &in);
    memset(&out, 0, sizeof out);
    CHECK(session_cache_get(c, a, sizeof a, &out) == 1);
    CHECK(out.uid == 42 && out.exp_ms == 123456 && strcmp(out.email, "demo@example.com") == 0 &&
          strcmp(out.groups, "admins") == 0);

    /* Forgotten at logout: gone, bytes and claims. */
    memset(in.id, 7, 16);
    session_cache_put(c, a, sizeof a, &in);
    CHECK(session_cache_get(c, a, sizeof a, &out) == 1);
    uint8_t other[16];
    memset(other, 8, 16);
    session_cache_forget(c, other);
    CHECK(session_cache_get(c, a, sizeof a, &out) == 1, "forgot another session's cookie");
    session_cache_forget(c, in.id);
    CHECK(session_cache_get(c, a, sizeof a, &out) == 0, "a logged-out cookie is still cached");
    session_cache_put(c, a, sizeof a, &in);

    /* The same slot (same tail) but one other byte: a miss, never the
     * claims of the stored cookie. */
    memcpy(b, a, sizeof b);
    b[40] ^= 1;
    CHECK(session_cache_get(c, b, sizeof b, &out) == 0, "a cookie one byte off hits");
    CHECK(session_cache_get(c, a, sizeof a - 1, &out) == 0, "a shorter cookie hits");
    CHECK(session_cache_get(c, a, 0, &out) == 0);
    CHECK(session_cache_get(c, "", 0, &out) == 0);
    CHECK(session_cache_get(c, "abc", 3, &out) == 0);

    /* Many cookies: each put is found right after; the oldest are
     * replaced, never mixed up. */
    int wrong = 0, found = 0;
    for (unsigned i = 2; i < 5000; i++) {
        char k[168];
        cookie(k, sizeof k, i);
        in.uid = i;
        session_cache_put(c, k, sizeof k, &in);
        if (session_cache_get(c, k, sizeof k, &out) != 1 || out.uid != i)
            wrong++;
    }
    for (unsigned i = 2; i < 5000; i++) {
        char k[168];
        cookie(k, sizeof k, i);
        if (session_cache_get(c, k, sizeof k, &out) == 1) {
            found++;
            if (out.uid != i)
                wrong++;
        }
    }
    CHECK(wrong == 0, "%d lookups gave another cookie's claims", wrong);
    CHECK(found > 0 && found <= SESSION_CACHE_SLOTS, "%d of 4998 still cached (%d slots)", found,
          SESSION_CACHE_SLOTS);
    session_cache_stats_t st = session_cache_stats(c);
    CHECK(st.hits >= 4998 && st.misses > 0);

    /* An over-long value is neither stored nor looked up. */
    static char big[TOKEN_SESSION_MAX + 10];
    memset(big, 'A', sizeof big);
    session_cache_put(c, big, sizeof big, &in);
    CHECK(session_cache_get(c, big, sizeof big, &out) == 0);
    session_cache_free(c);
    CHECK(session_cache_get(NULL, a, sizeof a, &out) == 0);
    return unit_done("test_session_cache");
}
