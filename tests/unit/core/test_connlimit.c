/*
 * test_connlimit.c - per-address connection counts: the cap, IPv4 and IPv6
 * keys (a /64 counts as one address), and deletion under collisions (a
 * table far fuller than the real one, against a simple model), and who
 * holds the most connections or bytes.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/connlimit.h"
#include "tests/unit/unit.h"

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    return ss;
}

static void test_cap(void)
{
    connlimit_t *t = connlimit_new(16);
    connlimit_key_t a, b;
    struct sockaddr_storage sa = v4("127.0.0.1"), sb = v4("127.0.0.2");
    connlimit_key(&sa, &a);
    connlimit_key(&sb, &b);
    for (int i = 0; i < 3; i++)
        CHECK(connlimit_add(t, &a, 3) == 1);
    CHECK(connlimit_add(t, &a, 3) == 0, "the fourth from one address is refused");
    CHECK(connlimit_add(t, &b, 3) == 1, "another address is not");
    CHECK(connlimit_count(t, &a) == 3 && connlimit_count(t, &b) == 1);
    connlimit_del(t, &a);
    CHECK(connlimit_add(t, &a, 3) == 1, "room again after a close");
    CHECK(connlimit_add(t, &a, 0) == 1, "cap 0: no cap");
    connlimit_free(t);
}

static void test_keys(void)
{
    connlimit_key_t a, b, c, m;
    struct sockaddr_storage s1 = v6("2001:db8:1:2::1"), s2 = v6("2001:db8:1:2:ffff::9"),
                            s3 = v6("2001:db8:1:3::1"), s4 = v6("::ffff:127.0.0.1"),
                            s5 = v4("127.0.0.1");
    connlimit_key(&s1, &a);
    connlimit_key(&s2, &b);
    connlimit_key(&s3, &c);
    CHECK(!memcmp(&a, &b, sizeof a), "one /64 is one key");
    CHECK(memcmp(&a, &c, sizeof a), "another /64 is another");
    connlimit_key(&s4, &m);
    connlimit_key(&s5, &a);
    CHECK(!memcmp(&a, &m, sizeof a), "a v4-mapped address counts as its IPv4 address");
}

static void test_collisions(void)
{
    enum { N = 300 };
    connlimit_t *t = connlimit_new(160); /* 512 slots, up to 300 keys: long runs */
    int model[N] = {0};
    connlimit_key_t k[N];
    char ip[32];
    for (int i = 0; i < N; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 250, i % 250);
        struct sockaddr_storage ss = v4(ip);
        connlimit_key(&ss, &k[i]);
    }
    srand(7);
    int bad = 0;
    for (int step = 0; step < 200000; step++) {
        int i = rand() % N;
        if (rand() % 2 && model[i] < 3) {
            connlimit_add(t, &k[i], 0);
            model[i]++;
        } else if (model[i] > 0) {
            connlimit_del(t, &k[i]);
            model[i]--;
        }
        if (step % 997 == 0)
            for (int j = 0; j < N; j++)
                bad += connlimit_count(t, &k[j]) != model[j];
    }
    CHECK(bad == 0, "%d counts differ from the model", bad);
    connlimit_free(t);
}

/* Who holds the most: by connections, and by a byte tally. */
static void test_heaviest(void)
{
    connlimit_t *t = connlimit_new(16);
    connlimit_key_t a, b, k;
    struct sockaddr_storage sa = v4("127.0.0.5"), sb = v4("127.0.0.6");
    connlimit_key(&sa, &a);
    connlimit_key(&sb, &b);
    CHECK(connlimit_heaviest(t, &k) == 0, "an empty table has no heaviest");
    connlimit_add(t, &a, 0);
    for (int i = 0; i < 3; i++)
        connlimit_add(t, &b, 0);
    CHECK(connlimit_heaviest(t, &k) == 3 && !memcmp(&k, &b, sizeof k));
    connlimit_bytes_clear(t);
    connlimit_bytes_add(t, &a, 50000);
    connlimit_bytes_add(t, &b, 100);
    connlimit_bytes_add(t, &b, 100);
    CHECK(connlimit_bytes_heaviest(t, &k) == 50000 && !memcmp(&k, &a, sizeof k),
          "bytes, not connections, decide");
    connlimit_bytes_clear(t);
    CHECK(connlimit_bytes_heaviest(t, &k) == 0, "cleared");
    connlimit_del(t, &a);
    connlimit_bytes_add(t, &a, 10); /* no longer open: not tallied */
    CHECK(connlimit_bytes_heaviest(t, &k) == 0);
    connlimit_free(t);
}

int main(void)
{
    test_cap();
    test_heaviest();
    test_keys();
    test_collisions();
    return unit_done("test_connlimit");
}
