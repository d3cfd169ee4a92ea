/*
 * hist.h - log-linear latency histogram (HdrHistogram style).
 *
 * Values are nanoseconds. Every value below 256 has its own bucket; above
 * that, each power of two is split into 128 equal buckets, so a bucket is at
 * most 1/128 of its lower bound wide. Reporting a bucket's midpoint keeps the
 * relative error of any percentile under 0.4% (the bar is 1%), at a fixed
 * 7.4k counters (58 KiB) that cover up to 2^63 ns. Recording is a shift, a
 * count-leading-zeros and one increment: no allocation, no search.
 *
 * A histogram is written by one thread. Another thread may take a snapshot
 * at any time (lt_hist_snapshot reads the counters with relaxed atomics), which
 * is how the progress line computes the p99 of the last second without locks.
 */
#ifndef LT_HIST_H
#define LT_HIST_H

#include <stddef.h>
#include <stdint.h>

#define LT_HIST_SUB_BITS 7 /* 128 sub-buckets per power of two */
#define LT_HIST_SUB (1u << LT_HIST_SUB_BITS)
#define LT_HIST_LINEAR (2u * LT_HIST_SUB) /* values 0..255 are exact */
#define LT_HIST_BUCKETS (LT_HIST_LINEAR + (64u - LT_HIST_SUB_BITS - 1u) * LT_HIST_SUB)

typedef struct {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    uint64_t sum;
    uint64_t b[LT_HIST_BUCKETS];
} lt_hist_t;

void lt_hist_init(lt_hist_t *h);
void lt_hist_record(lt_hist_t *h, uint64_t v);
/* dst += src (src may be concurrently recorded into: relaxed reads). */
void lt_hist_merge(lt_hist_t *dst, const lt_hist_t *src);
/* dst = a - b, bucket by bucket (a is a later snapshot of the same series). */
void lt_hist_diff(lt_hist_t *dst, const lt_hist_t *a, const lt_hist_t *b);
/* Value at quantile q in [0,1]: the midpoint of the bucket holding the
 * ceil(q*count)-th smallest value, clamped to [min, max]. 0 when empty. */
uint64_t lt_hist_quantile(const lt_hist_t *h, double q);
double lt_hist_mean(const lt_hist_t *h);

/* Bucket helpers, exported for the unit test. */
size_t lt_hist_index(uint64_t v);
uint64_t lt_hist_lower(size_t idx);
uint64_t lt_hist_width(size_t idx);

#endif
