/*
 * test_ratelimit.c - the shared-memory GCRA limiter: limits, sliding,
 * Retry-After, independent keys, no eviction of a limit in force (new keys
 * are refused instead), several processes, and recovery
 * of the lock from a process that died holding it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/shmtx.h"
#include "core/ratelimit.h"
#include "tests/unit/unit.h"

static void *zone_new(int entries, size_t *size)
{
    *size = rl_zone_size(entries);
    void *z = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (z == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    rl_zone_init(z, *size, entries);
    return z;
}

static int hit(void *z, const char *k, int limit, uint64_t win, uint64_t now, uint64_t *ra)
{
    return rl_hit(z, k, strlen(k), limit, win, now, ra);
}

static void test_limit_and_slide(void *z)
{
    uint64_t ra = 99, now = 1000000;
    const char *k = "e:user@example.com";

    /* 5 per 15 minutes: 5 pass at once, the 6th is limited. */
    for (int i = 0; i < 5; i++)
        CHECK(hit(z, k, 5, 900000, now, &ra) == 1 && ra == 0);
    CHECK(hit(z, k, 5, 900000, now, &ra) == 0);
    CHECK(ra == 180000); /* one emission interval: 15m / 5 */
    /* Limited requests do not extend the wait. */
    CHECK(hit(z, k, 5, 900000, now + 1000, &ra) == 0 && ra == 179000);
    /* Just before the retry time: still limited; at it: allowed, once. */
    CHECK(hit(z, k, 5, 900000, now + 179999, &ra) == 0 && ra == 1);
    CHECK(hit(z, k, 5, 900000, now + 180000, &ra) == 1);
    CHECK(hit(z, k, 5, 900000, now + 180000, &ra) == 0 && ra == 180000);
    /* A whole window after the last allowed request: a full burst again. */
    now += 180000 + 900000;
    for (int i = 0; i < 5; i++)
        CHECK(hit(z, k, 5, 900000, now, &ra) == 1);
    CHECK(hit(z, k, 5, 900000, now, &ra) == 0);

    /* Requests spread at the rate never get limited. */
    for (int i = 0; i < 100; i++)
        CHECK(hit(z, "i:10.0.0.1", 30, 60000, now + (uint64_t)i * 2000, &ra) == 1);

    /* limit <= 0 or window 0: disabled. */
    for (int i = 0; i < 10; i++) {
        CHECK(hit(z, "i:off", 0, 60000, now, &ra) == 1);
        CHECK(hit(z, "i:off", 3, 0, now, &ra) == 1);
    }
    /* A window smaller than the limit still counts. */
    for (int i = 0; i < 10; i++)
        CHECK(hit(z, "i:tiny", 10, 5, now, &ra) == 1);
    CHECK(hit(z, "i:tiny", 10, 5, now, &ra) == 0 && ra > 0);
}

static void test_independent_keys(void *z)
{
    uint64_t ra, now = 5000000;

    for (int i = 0; i < 3; i++)
        CHECK(hit(z, "e:a@example.com", 3, 60000, now, &ra) == 1);
    CHECK(hit(z, "e:a@example.com", 3, 60000, now, &ra) == 0);
    /* Another email, and the same string as an IP key, are unaffected. */
    CHECK(hit(z, "e:b@example.com", 3, 60000, now, &ra) == 1);
    CHECK(hit(z, "i:a@example.com", 3, 60000, now, &ra) == 1);
    /* Keys are compared by all their bytes, including NULs. */
    CHECK(rl_hit(z, "e:a@example.com\0x", 17, 3, 60000, now, &ra) == 1);
    CHECK(hit(z, "e:a@example.com", 3, 60000, now, NULL) == 0);
}

static void test_no_eviction_of_live_limits(void)
{
    size_t size;
    void *z = zone_new(16, &size); /* the smallest table: 16 slots, one neighbourhood */
    rl_stats_t st;
    uint64_t ra, now = 1000;
    char key[32];

    CHECK(rl_stats(z, &st) == 0 && st.capacity == 16 && st.evictions == 0 && st.refusals == 0);
    /* A victim uses its whole burst. */
    for (int i = 0; i < 4; i++)
        CHECK(hit(z, "e:victim", 4, 60000, now, &ra) == 1);
    CHECK(hit(z, "e:victim", 4, 60000, now, &ra) == 0);
    /* The attack that reset it when the smallest TAT was evicted: junk keys
     * each pushed to their own limit, later than the victim, so each holds
     * a larger TAT. */
    int refused = 0, admitted = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "e:junk%d", i);
        for (int k = 0; k < 4; k++) {
            int ok = hit(z, key, 4, 60000, now + 1 + (uint64_t)i, &ra);
            admitted += ok;
            refused += !ok;
        }
    }
    /* 15 other slots: 15 junk keys got in (4 hits each), the rest refused. */
    CHECK(admitted == 15 * 4, "%d admitted", admitted);
    CHECK(rl_stats(z, &st) == 0 && st.evictions == 0 && st.refusals == (uint64_t)refused);
    /* The victim is still limited, with its own Retry-After. */
    CHECK(hit(z, "e:victim", 4, 60000, now + 300, &ra) == 0);
    CHECK(ra > 0 && ra <= 15000, "retry %llu", (unsigned long long)ra);
    /* A refused newcomer is told when a slot decays: the victim's entry,
     * the oldest, is clean again at now + 60 s. */
    CHECK(hit(z, "e:newcomer", 4, 60000, now + 300, &ra) == 0);
    CHECK(ra == 60000 - 300, "retry %llu", (unsigned long long)ra);

    /* Once entries decay their slots are reused: the table empties by itself. */
    now += 10 * 60000;
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof(key), "i:later%d", i);
        CHECK(hit(z, key, 4, 60000, now, &ra) == 1);
    }
    CHECK(rl_stats(z, &st) == 0 && st.evictions == 0 && st.refusals == (uint64_t)refused + 1);
    munmap(z, size);
}

static void test_processes(void *z)
{
    /* 4 processes x 50 requests for one key with limit 100: exactly 100
     * allowed in total, whatever the interleaving. */
    int fds[2];
    CHECK(pipe(fds) == 0);
    for (int p = 0; p < 4; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            unsigned char ok = 0;
            for (int i = 0; i < 50; i++)
                ok += (unsigned char)hit(z, "i:shared", 100, 3600000, 42, NULL);
            if (write(fds[1], &ok, 1) != 1)
                _exit(1);
            _exit(0);
        }
    }
    int total = 0, st;
    for (int p = 0; p < 4; p++) {
        unsigned char ok;
        if (read(fds[0], &ok, 1) == 1)
            total += ok;
    }
    while (wait(&st) > 0)
        ;
    close(fds[0]);
    close(fds[1]);
    CHECK(total == 100);
    CHECK(hit(z, "i:shared", 100, 3600000, 42, NULL) == 0);
}

static void test_force_unlock(void *z)
{
    shmtx_t *lock = rl_lock(z);
    int st;
    pid_t pid;

    CHECK(lock != NULL);
    if (!lock)
        return;
    /* A "worker" takes the lock and dies holding it. */
    pid = fork();
    if (pid == 0) {
        shmtx_lock(lock);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    CHECK(atomic_load(&lock->owner) == pid);
    /* Another pid's death does not release it... */
    rl_force_unlock(z, pid + 1000000);
    CHECK(atomic_load(&lock->owner) == pid);
    /* ...the dead owner's does, and the table works again. */
    rl_force_unlock(z, pid);
    CHECK(atomic_load(&lock->owner) == 0);
    CHECK(hit(z, "e:after-crash", 1, 1000, 1, NULL) == 1);
    CHECK(hit(z, "e:after-crash", 1, 1000, 1, NULL) == 0);
    CHECK(atomic_load(&lock->owner) == 0);
}

int main(void)
{
    size_t size;
    void *z = zone_new(1024, &size);

    CHECK(rl_zone_size(1000) == rl_zone_size(1024));
    CHECK(rl_zone_size(65536) < 65536 * 100); /* "~100 bytes each" or better */
    /* Not initialised: fails open only for a zone that was never set up. */
    {
        _Alignas(64) char junk[4096];
        memset(junk, 0, sizeof(junk));
        CHECK(rl_hit(junk, "k", 1, 1, 1000, 1, NULL) == 1);
        CHECK(rl_hit(NULL, "k", 1, 1, 1000, 1, NULL) == 1);
    }
    test_limit_and_slide(z);
    test_independent_keys(z);
    test_no_eviction_of_live_limits();
    test_processes(z);
    test_force_unlock(z);
    munmap(z, size);
    if (unit_failures) {
        fprintf(stderr, "test_ratelimit: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_ratelimit: ok\n");
    return 0;
}
