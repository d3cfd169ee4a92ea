/*
 * test_sesslive.c - the shared live-session table behind the sessions
 * gauge: a sign-in counts until its end, a refresh moves the end, an ended
 * session stays ended even if a refresh races with it, expired entries make
 * room, a full table says it undercounts, and two processes share it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/sesslive.h"
#include "core/shmtx.h"
#include "tests/unit/unit.h"

static void id_of(unsigned n, uint8_t id[SESSLIVE_ID_LEN])
{
    uint64_t a = (uint64_t)n * 0x9e3779b97f4a7c15ull, b = ~(uint64_t)n;
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
}

int main(void)
{
    size_t size = sesslive_zone_size();
    void *z = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const uint64_t now = 1800000000000ull, hour = 3600 * 1000;
    uint8_t id[SESSLIVE_ID_LEN];
    int of;

    CHECK(z != MAP_FAILED);
    shmtx_process_init();
    sesslive_zone_init(z, size);
    CHECK(sesslive_count(z, now, &of) == 0 && !of);
    id_of(1, id);
    CHECK(sesslive_set(z, id, now + 1000, now) == 0);
    CHECK(sesslive_set(z, id, now + 1000, now) == 0); /* twice: one session */
    CHECK(sesslive_count(z, now, &of) == 1);
    CHECK(sesslive_count(z, now + 1000, &of) == 0);   /* its end: over */
    CHECK(sesslive_set(z, id, now + hour, now) == 0); /* a refresh moves it later */
    CHECK(sesslive_count(z, now + 1000, &of) == 1);
    CHECK(sesslive_set(z, id, now + 10, now) == 0); /* an older cookie does not shorten it */
    CHECK(sesslive_count(z, now + 1000, &of) == 1);
    id_of(2, id);
    CHECK(sesslive_set(z, id, now - 1, now) == 0); /* already over: not stored */
    CHECK(sesslive_count(z, now, &of) == 1);
    CHECK(sesslive_set(z, id, now + hour, now) == 0);
    CHECK(sesslive_count(z, now, &of) == 2);
    sesslive_end(z, id);
    CHECK(sesslive_count(z, now, &of) == 1);
    CHECK(sesslive_set(z, id, now + 2 * hour, now) == 0); /* a refresh racing the logout */
    CHECK(sesslive_count(z, now, &of) == 1);
    id_of(3, id);
    sesslive_end(z, id); /* unknown: ignored */
    CHECK(sesslive_count(z, now, &of) == 1);

    /* Fill it with sessions that end soon: once they are over, a rebuild
     * makes room and only the live ones stay counted. */
    unsigned limit = SESSLIVE_CAPACITY / 4 * 3, n = 0;
    for (unsigned i = 100; n < limit; i++, n++)
        CHECK(sesslive_set(z, (id_of(i, id), id), now + 5000, now) == 0 || n + 2 >= limit);
    id_of(99, id);
    CHECK(sesslive_set(z, id, now + hour, now) == -1);       /* full: not stored */
    CHECK(sesslive_count(z, now, &of) == limit && of);       /* id 1 + all but the last */
    CHECK(sesslive_set(z, id, now + hour, now + 6000) == 0); /* the short ones are over */
    CHECK(sesslive_count(z, now + 6000, &of) == 2 && of);    /* the dropped one still lives */
    CHECK(sesslive_count(z, now + hour + 1, &of) == 0 && !of);

    /* Two processes, one mapping. */
    pid_t pid = fork();
    if (pid == 0) {
        shmtx_process_init();
        for (unsigned i = 0; i < 1000; i++)
            sesslive_set(z, (id_of(200000 + i, id), id), now + 2 * hour, now);
        _exit(0);
    }
    for (unsigned i = 0; i < 1000; i++)
        sesslive_set(z, (id_of(300000 + i, id), id), now + 2 * hour, now);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(sesslive_count(z, now + hour + 1, &of) == 2000);
    return unit_done("test_sesslive");
}
