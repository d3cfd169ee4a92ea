/*
 * test_hist.c - the load generator's latency histogram keeps its promise:
 * every percentile within 1% of the exact value (the bucket layout bounds it
 * at 1/256), for values from nanoseconds to hours and for skewed
 * distributions; merge adds and diff subtracts bucket by bucket.
 */
#include "tools/loadtest/hist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/unit/unit.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double unit(void)
{
    return (double)(next() >> 11) / 9007199254740992.0;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void buckets(void)
{
    /* Every value lies in its bucket and the bucket is narrow enough. */
    for (int i = 0; i < 200000; i++) {
        uint64_t v = next() >> (next() % 64);
        size_t k = lt_hist_index(v);
        CHECK(k < LT_HIST_BUCKETS, "index %zu of %llu out of range", k, (unsigned long long)v);
        uint64_t lo = lt_hist_lower(k), w = lt_hist_width(k);
        CHECK(lo <= v && v - lo < w, "value %llu not in bucket [%llu,+%llu)", (unsigned long long)v,
              (unsigned long long)lo, (unsigned long long)w);
        CHECK(w == 1 || (double)w / (double)lo <= 1.0 / 128, "bucket at %llu too wide: %llu",
              (unsigned long long)lo, (unsigned long long)w);
    }
    /* Buckets tile the line: each starts where the previous one ends. */
    for (size_t k = 1; k < LT_HIST_BUCKETS; k++)
        CHECK(lt_hist_lower(k) == lt_hist_lower(k - 1) + lt_hist_width(k - 1), "gap at bucket %zu",
              k);
    CHECK(lt_hist_index(UINT64_MAX) == LT_HIST_BUCKETS - 1, "top bucket %zu",
          lt_hist_index(UINT64_MAX));
}

/* Record n values from gen, compare each percentile with the exact one. */
static void accuracy(const char *name, uint64_t (*gen)(void), size_t n)
{
    static lt_hist_t h;
    uint64_t *v = malloc(n * sizeof(*v));
    lt_hist_init(&h);
    for (size_t i = 0; i < n; i++) {
        v[i] = gen();
        lt_hist_record(&h, v[i]);
    }
    qsort(v, n, sizeof(*v), cmp);
    static const double qs[] = {0.0, 0.001, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1.0};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        size_t rank = (size_t)ceil(qs[i] * (double)n);
        uint64_t exact = v[rank ? rank - 1 : 0];
        uint64_t got = lt_hist_quantile(&h, qs[i]);
        double err = exact ? fabs((double)got - (double)exact) / (double)exact : (double)got;
        CHECK(err <= 0.01, "%s q=%g: got %llu, exact %llu (error %.4f%%)", name, qs[i],
              (unsigned long long)got, (unsigned long long)exact, err * 100);
    }
    CHECK(h.count == n, "%s count %llu", name, (unsigned long long)h.count);
    CHECK(h.max == v[n - 1] && h.min == v[0], "%s min/max", name);
    free(v);
}

static uint64_t g_loguniform(void) /* 1 ns .. ~1 h */
{
    return (uint64_t)exp(unit() * log(3.6e12));
}
static uint64_t g_exponential(void) /* mean 500 us */
{
    return (uint64_t)(-log(1 - unit()) * 500e3);
}
static uint64_t g_bimodal(void) /* most fast, a few slow: the shape of a tail */
{
    return next() % 100 ? 80000 + next() % 40000 : 200000000 + next() % 100000000;
}
static uint64_t g_small(void) /* exact range */
{
    return next() % 300;
}

static void merge_diff(void)
{
    static lt_hist_t a, b, m, d;
    lt_hist_init(&a);
    lt_hist_init(&b);
    lt_hist_init(&m);
    for (int i = 0; i < 1000; i++)
        lt_hist_record(&a, 1000 + (uint64_t)i);
    for (int i = 0; i < 3000; i++)
        lt_hist_record(&b, 1000000 + (uint64_t)i);
    lt_hist_merge(&m, &a);
    lt_hist_merge(&m, &b);
    CHECK(m.count == 4000 && m.min == 1000 && m.max == 1002999, "merge count/min/max");
    uint64_t med = lt_hist_quantile(&m, 0.5);
    CHECK(med >= 990000 && med <= 1010000, "merged median %llu", (unsigned long long)med);
    lt_hist_diff(&d, &m, &a);
    CHECK(d.count == 3000, "diff count %llu", (unsigned long long)d.count);
    uint64_t dq = lt_hist_quantile(&d, 0.01);
    CHECK(dq >= 990000, "diff removed a's values: p1 %llu", (unsigned long long)dq);

    lt_hist_t *e = calloc(1, sizeof(*e));
    lt_hist_init(e);
    CHECK(lt_hist_quantile(e, 0.99) == 0, "empty histogram");
    lt_hist_record(e, 0);
    CHECK(lt_hist_quantile(e, 0.5) == 0 && e->count == 1, "zero value");
    free(e);
}

int main(void)
{
    buckets();
    accuracy("log-uniform", g_loguniform, 1000000);
    accuracy("exponential", g_exponential, 1000000);
    accuracy("bimodal", g_bimodal, 1000000);
    accuracy("small", g_small, 100000);
    merge_diff();
    if (unit_failures) {
        fprintf(stderr, "test_hist: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_hist: ok\n");
    return 0;
}
