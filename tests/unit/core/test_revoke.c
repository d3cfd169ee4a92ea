/*
 * test_revoke.c - the shared revoked-session set: add and look up, batches
 * applied only at the sequence they were read at, expiry making room, the
 * overflow answering "unknown" (never "not revoked"), the poll election,
 * and two processes sharing one mapping.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/revoke.h"
#include "core/shmtx.h"
#include "tests/unit/unit.h"

static void id_of(unsigned n, uint8_t id[REVOKE_ID_LEN])
{
    /* spread like random ids: the low word is the home slot */
    uint64_t a = (uint64_t)n * 0x9e3779b97f4a7c15ull, b = ~(uint64_t)n;
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
}

int main(void)
{
    size_t size = revoke_zone_size();
    void *z = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    uint8_t id[REVOKE_ID_LEN];
    const uint64_t now = 1800000000000ull, later = now + 3600 * 1000;
    revoke_stats_t st;

    CHECK(z != MAP_FAILED);
    shmtx_process_init();
    revoke_zone_init(z, size);
    id_of(1, id);
    CHECK(revoke_has(z, id) == 0);
    CHECK(revoke_add(z, id, later, now) == 0);
    CHECK(revoke_has(z, id) == 1);
    CHECK(revoke_add(z, id, later, now) == 0); /* twice: one entry */
    revoke_stats(z, &st);
    CHECK(st.used == 1 && st.capacity == REVOKE_CAPACITY && !st.overflow);
    id_of(2, id);
    CHECK(revoke_has(z, id) == 0);
    CHECK(revoke_add(z, id, now - 1, now) == 0); /* already over: not stored */
    CHECK(revoke_has(z, id) == 0);

    /* Batches from the store apply only at the sequence they were read at. */
    revoke_entry_t e[3];
    for (int i = 0; i < 3; i++) {
        id_of(10 + (unsigned)i, e[i].id);
        e[i].exp_ms = later;
    }
    CHECK(revoke_seq(z) == 0);
    CHECK(revoke_apply(z, 0, e, 3, 7, now) == 0);
    CHECK(revoke_seq(z) == 7);
    CHECK(revoke_apply(z, 0, e, 3, 9, now) == 1); /* stale: someone read on */
    CHECK(revoke_seq(z) == 7);
    for (int i = 0; i < 3; i++)
        CHECK(revoke_has(z, e[i].id) == 1);

    /* The poll election: one winner per period. */
    CHECK(revoke_poll_claim(z, 1000, 200) == 1);
    CHECK(revoke_poll_claim(z, 1100, 200) == 0);
    CHECK(revoke_poll_claim(z, 1200, 200) == 1);

    /* Fill to the limit with short-lived entries: past 3/4 the set is
     * full, answers -1 for ids it does not hold, and recovers once they
     * have expired. */
    {
        unsigned n = 0;
        int r = 0;
        while ((r = revoke_add(z, (id_of(1000 + n, id), id), now + 10, now)) == 0)
            n++;
        CHECK(r == -1 && n > REVOKE_CAPACITY / 2 && n < REVOKE_CAPACITY);
        revoke_stats(z, &st);
        CHECK(st.overflow == 1);
        id_of(999999, id);
        CHECK(revoke_has(z, id) == -1); /* unknown, ask the store */
        id_of(1, id);
        CHECK(revoke_has(z, id) == 1); /* held ids still answer */
        /* after the short ones ended, a new add sweeps them out */
        id_of(424242, id);
        CHECK(revoke_add(z, id, later, now + 20) == 0);
        CHECK(revoke_apply(z, 7, NULL, 0, 8, now + 20) == 0); /* clears the overflow */
        revoke_stats(z, &st);
        CHECK(st.overflow == 0 && st.used < 16);
        id_of(999999, id);
        CHECK(revoke_has(z, id) == 0);
        id_of(1, id);
        CHECK(revoke_has(z, id) == 1);
    }

    /* Another process sees what this one added, and this one what it adds. */
    {
        pid_t p = fork();
        if (p == 0) {
            uint8_t x[REVOKE_ID_LEN];
            shmtx_process_init();
            id_of(1, x);
            if (revoke_has(z, x) != 1)
                _exit(1);
            id_of(77, x);
            _exit(revoke_add(z, x, later, now) == 0 ? 0 : 2);
        }
        int status = 0;
        CHECK(p > 0 && waitpid(p, &status, 0) == p && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0);
        id_of(77, id);
        CHECK(revoke_has(z, id) == 1);
    }

    munmap(z, size);
    if (unit_failures) {
        fprintf(stderr, "test_revoke: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_revoke: ok\n");
    return 0;
}
