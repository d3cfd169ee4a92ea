/*
 * hist.c - log-linear latency histogram; see hist.h for the bucket layout.
 *
 * Index of a value v >= 256: let s = msb(v) - 7, so v >> s lies in
 * [128, 255]; the bucket is 256 + (s - 1) * 128 + ((v >> s) - 128) and
 * spans [(v >> s) << s, that + 2^s). With 2^s <= v / 128, the midpoint is
 * within v / 256 of any value in the bucket.
 *
 * The writer bumps counters with relaxed atomic stores (plain loads and
 * stores on x86-64, no lock prefix) so that a reader thread taking a
 * snapshot is not a data race; the writer is the only one that writes.
 */
#include "tools/loadtest/hist.h"

#include <string.h>

#define LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

void lt_hist_init(lt_hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

size_t lt_hist_index(uint64_t v)
{
    if (v < LT_HIST_LINEAR)
        return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned s = msb - LT_HIST_SUB_BITS;
    return LT_HIST_LINEAR + (size_t)(s - 1) * LT_HIST_SUB + (size_t)((v >> s) - LT_HIST_SUB);
}

uint64_t lt_hist_lower(size_t idx)
{
    if (idx < LT_HIST_LINEAR)
        return idx;
    size_t k = idx - LT_HIST_LINEAR;
    unsigned s = (unsigned)(k / LT_HIST_SUB) + 1;
    uint64_t m = LT_HIST_SUB + k % LT_HIST_SUB;
    return m << s;
}

uint64_t lt_hist_width(size_t idx)
{
    if (idx < LT_HIST_LINEAR)
        return 1;
    return (uint64_t)1 << ((idx - LT_HIST_LINEAR) / LT_HIST_SUB + 1);
}

void lt_hist_record(lt_hist_t *h, uint64_t v)
{
    size_t i = lt_hist_index(v);
    ST(&h->b[i], h->b[i] + 1);
    ST(&h->count, h->count + 1);
    ST(&h->sum, h->sum + v);
    if (v < h->min)
        ST(&h->min, v);
    if (v > h->max)
        ST(&h->max, v);
}

void lt_hist_merge(lt_hist_t *dst, const lt_hist_t *src)
{
    for (size_t i = 0; i < LT_HIST_BUCKETS; i++)
        dst->b[i] += LD(&src->b[i]);
    dst->count += LD(&src->count);
    dst->sum += LD(&src->sum);
    uint64_t mn = LD(&src->min), mx = LD(&src->max);
    if (mn < dst->min)
        dst->min = mn;
    if (mx > dst->max)
        dst->max = mx;
}

void lt_hist_diff(lt_hist_t *dst, const lt_hist_t *a, const lt_hist_t *b)
{
    uint64_t n = 0;
    for (size_t i = 0; i < LT_HIST_BUCKETS; i++) {
        dst->b[i] = a->b[i] >= b->b[i] ? a->b[i] - b->b[i] : 0;
        n += dst->b[i];
    }
    /* The bucket sum, not a->count - b->count: a snapshot taken while the
     * writer runs can see a bucket bumped before the total. */
    dst->count = n;
    dst->sum = a->sum >= b->sum ? a->sum - b->sum : 0;
    dst->min = UINT64_MAX;
    dst->max = 0;
    for (size_t i = 0; i < LT_HIST_BUCKETS && n; i++)
        if (dst->b[i]) {
            dst->min = lt_hist_lower(i);
            break;
        }
    for (size_t i = LT_HIST_BUCKETS; i-- > 0 && n;)
        if (dst->b[i]) {
            dst->max = lt_hist_lower(i) + lt_hist_width(i) - 1;
            break;
        }
}

uint64_t lt_hist_quantile(const lt_hist_t *h, double q)
{
    uint64_t total = 0;
    for (size_t i = 0; i < LT_HIST_BUCKETS; i++)
        total += h->b[i];
    if (total == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)(q * (double)total);
    if ((double)rank < q * (double)total)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < LT_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = lt_hist_lower(i) + (lt_hist_width(i) - 1) / 2;
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double lt_hist_mean(const lt_hist_t *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
