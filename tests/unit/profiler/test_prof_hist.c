/*
 * test_prof_hist.c - the CPU history's windows, merge and limits, and the
 * start/end/since parsers of profile?since= / ?start=&end=.
 *
 * Drives prof_hist with made-up clocks: samples land in 10-s windows
 * aligned on the wall clock, a range merges exactly the windows it
 * overlaps (sample counts add up), a window that holds a spike shows it,
 * profile_history bounds the count and profile_history_max_size the bytes
 * (oldest first), and stacks shared by windows are freed with the last.
 */
#include <stdlib.h>
#include <string.h>

#include "profiler/prof_hist.h"
#include "profiler/prof_query.h"
#include "tests/unit/unit.h"

#define S 1000000000ull
#define WALL0 (1764596400ull * S) /* 2025-12-01T13:40:00Z: a window boundary */
#define MONO0 (5000ull * S)

/* Sum the weights and count the records of collected words. */
static void sums(const prof_cpu_data_t *d, uint64_t *weight, uint64_t *recs, uint64_t *rid)
{
    const uint64_t *w = (const uint64_t *)(const void *)d->words.data;
    size_t n = d->words.len / 8, i = 0;
    *weight = *recs = *rid = 0;
    while (i + 2 <= n) {
        unsigned np = (unsigned)(w[i] & 0xff);
        uint64_t wf = w[i + 1];
        size_t extra = (wf >> 63) ? PROF_RID_WORDS : 0;
        *weight += wf & ~(1ull << 63);
        *recs += 1;
        *rid += extra ? 1 : 0;
        i += 2 + extra + np;
    }
}

static uint64_t collect(prof_hist_t *h, uint64_t a, uint64_t b, uint64_t now, unsigned *nwin)
{
    prof_cpu_data_t d = {0};
    prof_hist_range_t r;
    CHECK(prof_hist_collect(h, a, b, now, &d, &r) == 0);
    uint64_t w, recs, rid;
    sums(&d, &w, &recs, &rid);
    CHECK(d.periods == w, "periods %llu weights %llu", (unsigned long long)d.periods,
          (unsigned long long)w);
    if (nwin)
        *nwin = r.nwin;
    prof_cpu_free(&d);
    return w;
}

static void test_windows(void)
{
    prof_hist_t *h = prof_hist_new();
    prof_worker_t wk = {0, 4242, 0};
    uint64_t pcs_a[3] = {0x401000, 0x402000, 0x403000};
    uint64_t pcs_b[2] = {0x501000, 0x502000};
    /* 3 windows: 5 samples, then a spike of 200, then 7; a tick every 100 ms */
    const unsigned per[3] = {5, 200, 7};
    for (int win = 0; win < 3; win++) {
        for (unsigned k = 0; k < 100; k++) {
            uint64_t t = (uint64_t)win * 10 * S + k * (S / 10) + 1;
            prof_hist_tick(h, MONO0 + t, WALL0 + t, 100);
            unsigned n = per[win] / 100 + (k < per[win] % 100);
            for (unsigned j = 0; j < n; j++)
                prof_hist_add(h, MONO0 + t, &wk, 2, 1, (j & 1) ? "req-1" : NULL,
                              (j & 1) ? pcs_a : pcs_b, (j & 1) ? 3 : 2);
        }
    }
    uint64_t now = WALL0 + 30 * S + 1;
    prof_hist_tick(h, MONO0 + 30 * S + 1, now, 100); /* closes the third */
    prof_hist_stat_t st;
    prof_hist_stat(h, now, &st);
    CHECK(st.windows == 3, "%zu windows", st.windows);
    CHECK(st.first_wall_ns == WALL0 + 1);
    unsigned nwin = 0;
    CHECK(collect(h, WALL0, WALL0 + 10 * S, now, &nwin) == 5 && nwin == 1);
    CHECK(collect(h, WALL0 + 10 * S, WALL0 + 20 * S, now, &nwin) == 200 && nwin == 1,
          "the spike's window");
    CHECK(collect(h, WALL0 + 20 * S, WALL0 + 30 * S, now, &nwin) == 7 && nwin == 1);
    /* a range inside one window is that window; one across windows merges them */
    CHECK(collect(h, WALL0 + 12 * S, WALL0 + 13 * S, now, &nwin) == 200 && nwin == 1);
    CHECK(collect(h, WALL0, WALL0 + 30 * S, now, &nwin) == 212 && nwin == 3, "sum of windows");
    CHECK(collect(h, WALL0 + 5 * S, WALL0 + 25 * S, now, &nwin) == 212 && nwin == 3);
    CHECK(collect(h, WALL0 - 100 * S, WALL0, now, &nwin) == 0 && nwin == 0, "before");
    /* records are merged by stack and labels: 2 stacks x (rid, none) at most */
    prof_cpu_data_t d = {0};
    prof_hist_range_t r;
    prof_hist_collect(h, WALL0 + 10 * S, WALL0 + 20 * S, now, &d, &r);
    uint64_t w, recs, rid;
    sums(&d, &w, &recs, &rid);
    CHECK(recs == 2 && rid == 1 && d.nsamples == 200, "%llu records", (unsigned long long)recs);
    prof_cpu_free(&d);

    /* profile_history 20s: two windows (the open one counts) */
    prof_hist_tick(h, MONO0 + 31 * S, WALL0 + 31 * S, 100);
    prof_hist_limits(h, 20 * S, 16u << 20);
    prof_hist_stat(h, now, &st);
    CHECK(st.windows == 1, "%zu windows after profile_history 20s", st.windows);
    CHECK(collect(h, WALL0, WALL0 + 30 * S, now, NULL) == 7, "the newest stays");
    prof_hist_free(h);
}

/* Distinct request ids make every sample its own record: the byte cap
 * evicts the oldest windows and keeps the total under it. */
static void test_cap(void)
{
    prof_hist_t *h = prof_hist_new();
    prof_hist_limits(h, 3600 * S, 64 * 1024);
    prof_worker_t wk = {1, 77, 1};
    uint64_t pcs[20];
    for (int i = 0; i < 20; i++)
        pcs[i] = 0x400000 + (uint64_t)i * 16;
    size_t max_seen = 0;
    for (int win = 0; win < 12; win++) {
        for (unsigned k = 0; k < 100; k++) {
            uint64_t t = (uint64_t)win * 10 * S + k * (S / 10) + 1;
            prof_hist_tick(h, MONO0 + t, WALL0 + t, 100);
            char rid[32];
            snprintf(rid, sizeof rid, "r%d-%u", win, k);
            pcs[0] = 0x500000 + (uint64_t)(win * 100 + k); /* new stacks too */
            prof_hist_add(h, MONO0 + t, &wk, 1, 1, rid, pcs, 20);
            prof_hist_stat_t st;
            prof_hist_stat(h, WALL0 + t, &st);
            if (st.bytes > max_seen)
                max_seen = st.bytes;
        }
    }
    prof_hist_stat_t st;
    prof_hist_stat(h, WALL0 + 120 * S, &st);
    CHECK(st.evicted > 0, "nothing evicted under a 64k cap");
    CHECK(st.windows > 0 && st.windows < 11, "%zu windows", st.windows);
    /* one sample over the cap at most, then the oldest goes */
    CHECK(max_seen <= 64 * 1024 + 4096, "%zu bytes under a 64k cap", max_seen);
    /* what is left is the newest: the last closed window has its 100 */
    CHECK(collect(h, WALL0 + 100 * S, WALL0 + 110 * S, WALL0 + 120 * S, NULL) == 100);
    prof_hist_free(h);
}

static void test_parsers(void)
{
    uint64_t t = 0;
    CHECK(prof_parse_time("2025-12-01T13:40:00Z", &t) == 1 && t == WALL0);
    CHECK(prof_parse_time("2025-12-01T14:40:00+01:00", &t) == 1 && t == WALL0);
    CHECK(prof_parse_time("2025-12-01T13:40:00.25Z", &t) == 1 && t == WALL0 + S / 4);
    CHECK(prof_parse_time("1764596400", &t) == 1 && t == WALL0);
    CHECK(prof_parse_time("1764596400.5", &t) == 1 && t == WALL0 + S / 2);
    CHECK(prof_parse_time("2024-02-29T00:00:00Z", &t) == 1 && t == 1709164800ull * S);
    const char *bad[] = {"",
                         "abc",
                         "2025-13-01T00:00:00Z",
                         "2025-12-01 13:40:00Z",
                         "2025-12-01T13:40:00",
                         "2025-12-01T25:00:00Z",
                         "12e5",
                         "-5",
                         "1764596400.",
                         "2025-12-01T13:40:00Zjunk",
                         "99999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(prof_parse_time(bad[i], &t) == -1, "accepted \"%s\"", bad[i]);
    uint64_t d = 0;
    CHECK(prof_parse_duration("5m", &d) == 1 && d == 300 * S);
    CHECK(prof_parse_duration("1h30m", &d) == 1 && d == 5400 * S);
    CHECK(prof_parse_duration("1.5h", &d) == 1 && d == 5400 * S);
    CHECK(prof_parse_duration("250ms", &d) == 1 && d == S / 4);
    CHECK(prof_parse_duration("90s", &d) == 1 && d == 90 * S);
    const char *badd[] = {"", "5", "-5m", "0s", "0", "5x", "m", "1e3s", "0x10s", "5m-1s"};
    for (size_t i = 0; i < sizeof badd / sizeof *badd; i++)
        CHECK(prof_parse_duration(badd[i], &d) == -1, "accepted \"%s\"", badd[i]);
    CHECK(prof_query_duration("since=10m&x=1", 13, "since", &d) == 1 && d == 600 * S);
    CHECK(prof_query_duration("x=1", 3, "since", &d) == 0);
    CHECK(prof_query_time("start=2025-12-01T13%3A40%3A00Z", 30, "start", &t) == 1 && t == WALL0);
}

int main(void)
{
    test_windows();
    test_cap();
    test_parsers();
    return unit_done("prof_hist");
}
