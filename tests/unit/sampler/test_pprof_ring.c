/*
 * test_pprof_ring.c - the SPSC CPU-sample ring: order, wrap-around, drops.
 *
 * Fills the ring until it refuses (a full ring must drop and count, never
 * overwrite), drains it and checks every record came back intact and in
 * order, then runs many fill/drain rounds with odd record sizes so records
 * straddle the end of the ring, and finally a producer in a child process
 * against a consumer here, through a shared mapping, as worker and profiler
 * use it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sampler/prof_ring.h"
#include "tests/unit/unit.h"

typedef struct {
    uint64_t next; /* expected sequence number (the timestamp field) */
    unsigned bad;
    unsigned n;
} expect_t;

static unsigned rec_len(uint64_t seq)
{
    return (unsigned)(1 + seq * 7 % PROF_CPU_DEPTH);
}

static void on_rec(void *arg, unsigned route, unsigned weight, uint64_t ts, const char *rid,
                   const uint64_t *pcs, unsigned n)
{
    (void)rid;
    expect_t *e = arg;
    if (ts != e->next || n != rec_len(ts) || route != (unsigned)(ts % 13) ||
        weight != (unsigned)(1 + ts % 3))
        e->bad++;
    for (unsigned i = 0; i < n; i++)
        if (pcs[i] != ts * 1000 + i)
            e->bad++;
    e->next = ts + 1;
    e->n++;
}

static int put(prof_slot_t *s, _Atomic uint64_t *ring, uint64_t seq)
{
    uint64_t pcs[PROF_CPU_DEPTH];
    unsigned n = rec_len(seq);
    for (unsigned i = 0; i < n; i++)
        pcs[i] = seq * 1000 + i;
    return prof_ring_put(s, ring, (unsigned)(seq % 13), (unsigned)(1 + seq % 3), seq, NULL, pcs, n);
}

int main(void)
{
    void *area =
        mmap(NULL, SHM_PROF_AREA, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(area != MAP_FAILED);
    prof_slot_t *s = prof_slot(area);
    _Atomic uint64_t *ring = prof_ring(area);

    /* fill until full: drops are counted, nothing is overwritten */
    uint64_t seq = 0;
    while (put(s, ring, seq) == 0)
        seq++;
    CHECK(seq > 100);
    CHECK(atomic_load(&s->cpu_drops) == 1);
    CHECK(put(s, ring, seq) < 0 && atomic_load(&s->cpu_drops) == 2);
    expect_t e = {0, 0, 0};
    CHECK(prof_ring_drain(s, ring, on_rec, &e) == seq);
    CHECK(e.bad == 0 && e.n == seq);

    /* many rounds, records straddling the end of the ring */
    for (int round = 0; round < 200; round++) {
        uint64_t first = seq;
        for (int k = 0; k < 97; k++)
            if (put(s, ring, seq) == 0)
                seq++;
        e.next = first;
        prof_ring_drain(s, ring, on_rec, &e);
    }
    CHECK(e.bad == 0);
    CHECK(atomic_load(&s->cpu_head) > 3 * PROF_RING_WORDS);

    /* producer in another process, consumer here */
    memset(area, 0, 4096);
    pid_t pid = fork();
    if (pid == 0) {
        for (uint64_t q = 0; q < 200000;)
            if (put(s, ring, q) == 0)
                q++;
        _exit(0);
    }
    expect_t c = {0, 0, 0};
    while (c.n < 200000) {
        prof_ring_drain(s, ring, on_rec, &c);
        if (c.bad)
            break;
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(c.bad == 0 && c.n == 200000);

    if (unit_failures) {
        fprintf(stderr, "%d failure(s)\n", unit_failures);
        return 1;
    }
    printf("ok: %llu records, %llu dropped while full\n", (unsigned long long)seq,
           (unsigned long long)atomic_load(&s->cpu_drops));
    return 0;
}
