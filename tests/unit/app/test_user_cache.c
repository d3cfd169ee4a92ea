/*
 * test_user_cache - answers come from memory, and a change made through
 * another connection (the `magicd user` CLI, another worker) is seen at the
 * next millisecond: removed users stop getting links, added ones start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/store.h"
#include "app/user_cache.h"
#include "../unit.h"

int main(void)
{
    char tmpl[] = "/tmp/test_user_cache.XXXXXX", path[128], err[256];
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir)
        return unit_done("test_user_cache");
    snprintf(path, sizeof path, "%s/users.db", dir);
    store_t *w = store_open(path, 0, err, sizeof err);   /* the worker's */
    store_t *cli = store_open(path, 0, err, sizeof err); /* the CLI's */
    CHECK(w && cli, "%s", err);
    if (!w || !cli)
        return unit_done("test_user_cache");
    CHECK(store_user_add(cli, "a@example.com", 0) == 0);
    user_cache_t *uc = user_cache_new();
    uint64_t t = 1000;

    CHECK(user_cache_exists(uc, w, "a@example.com", t) == 1);
    CHECK(user_cache_exists(uc, w, "b@example.com", t) == 0);
    for (int i = 0; i < 100; i++) {
        CHECK(user_cache_exists(uc, w, "a@example.com", t) == 1);
        CHECK(user_cache_exists(uc, w, "b@example.com", t) == 0);
    }
    user_cache_stats_t st = user_cache_stats(uc);
    CHECK(st.misses == 2 && st.hits == 200, "hits %llu misses %llu", (unsigned long long)st.hits,
          (unsigned long long)st.misses);
    CHECK(st.version_checks == 1, "%llu checks in one ms", (unsigned long long)st.version_checks);

    /* The CLI removes a and adds b: seen at the next millisecond. */
    CHECK(store_user_remove(cli, "a@example.com") == 0);
    CHECK(store_user_add(cli, "b@example.com", 0) == 0);
    t++;
    CHECK(user_cache_exists(uc, w, "a@example.com", t) == 0, "a removed user is still known");
    CHECK(user_cache_exists(uc, w, "b@example.com", t) == 1, "an added user is still unknown");
    st = user_cache_stats(uc);
    CHECK(st.invalidations == 1);

    /* Our own write (signup) is recorded by the caller. */
    CHECK(store_user_add(w, "c@example.com", 0) == 0);
    user_cache_put(uc, "c@example.com", 1);
    CHECK(user_cache_exists(uc, w, "c@example.com", t + 1) == 1);

    /* Many addresses: bounded, and always right. */
    char e[64];
    for (int i = 0; i < 3 * USER_CACHE_SLOTS; i++) {
        snprintf(e, sizeof e, "x%d@example.com", i);
        CHECK(user_cache_exists(uc, w, e, t + 2) == 0);
    }
    CHECK(user_cache_exists(uc, w, "b@example.com", t + 2) == 1);
    /* No cache: straight to the store. */
    CHECK(user_cache_exists(NULL, w, "b@example.com", t + 2) == 1);

    user_cache_free(uc);
    store_close(w);
    store_close(cli);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    /* Without data_version (the PostgreSQL store): peek, clear on NOTIFY,
     * and an answer read before a clear is not kept after it. */
    user_cache_t *pc = user_cache_new();
    CHECK(user_cache_peek(pc, "p@example.com") == -1);
    uint64_t g0 = user_cache_gen(pc);
    user_cache_put_gen(pc, "p@example.com", 0, g0);
    CHECK(user_cache_peek(pc, "p@example.com") == 0);
    user_cache_clear(pc); /* `user add p@example.com` announced */
    CHECK(user_cache_peek(pc, "p@example.com") == -1);
    uint64_t g1 = user_cache_gen(pc);
    user_cache_clear(pc); /* another change while the lookup ran */
    user_cache_put_gen(pc, "p@example.com", 0, g1);
    CHECK(user_cache_peek(pc, "p@example.com") == -1, "a stale answer was cached");
    user_cache_put_gen(pc, "p@example.com", 1, user_cache_gen(pc));
    CHECK(user_cache_peek(pc, "p@example.com") == 1);
    /* One address forgotten (NOTIFY magicd_users 'p@...'): the others stay,
     * and a lookup that was in flight is not cached. */
    user_cache_put_gen(pc, "q@example.com", 0, user_cache_gen(pc));
    uint64_t g2 = user_cache_gen(pc);
    user_cache_forget(pc, "p@example.com");
    CHECK(user_cache_peek(pc, "p@example.com") == -1);
    CHECK(user_cache_peek(pc, "q@example.com") == 0);
    user_cache_put_gen(pc, "p@example.com", 0, g2);
    CHECK(user_cache_peek(pc, "p@example.com") == -1, "a lookup from before the forget was kept");
    user_cache_free(pc);
    return unit_done("test_user_cache");
}
