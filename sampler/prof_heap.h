/*
 * prof_heap.h - the heap sampler: malloc & co. interposed in the binary.
 *
 * magicd defines malloc, free, calloc, realloc, posix_memalign,
 * aligned_alloc, memalign, valloc and pvalloc; they call glibc's
 * __libc_malloc family, which is what glibc documents for replacing malloc.
 * Until prof_heap_enable() runs (workers only) each is one predictable branch
 * on top of glibc, so the master and the profiler pay nothing. Enabled, an
 * allocation is sampled when the bytes allocated since the last sample pass
 * a threshold drawn from an exponential distribution with mean
 * heap_sample_bytes (Go's scheme, so sampled sizes are unbiased and pprof's
 * scaling applies); the sampled block's stack goes to a shm bucket and the
 * block into a small private table, so its free is attributed and inuse_*
 * is right. Allocations inside OpenSSL, SQLite and jansson go through the
 * same symbols, so they are included.
 *
 * Under AddressSanitizer the interposer is compiled out (ASan owns malloc);
 * prof_heap_supported() says so and heap tests skip.
 */
#ifndef MG_PROF_HEAP_H
#define MG_PROF_HEAP_H

#include <stdint.h>

int prof_heap_supported(void);
/* The master: sample its allocations into a private area, so that what a
 * worker inherits at fork is known (prof_heap_enable() then reports it as
 * inherited); rate 0 = off. */
void prof_heap_master(uint64_t rate);
/* A child that is not a worker (profiler, mailer): stop sampling. */
void prof_heap_off(void);
/* Start sampling into the slot's prof area; rate 0 stops sampling. In a
 * worker forked from a sampling master, every sampled block the master
 * left live goes into the area first, its stack under the pseudo-frame
 * PROF_PC_INHERITED (what = "inherited"), so its frees are attributed and
 * the heap profile shows the inherited heap as such. */
void prof_heap_enable(void *area, uint64_t rate);
void prof_heap_set_rate(uint64_t rate);
/* Sampled blocks currently live (for tests). */
uint64_t prof_heap_live(void);

#endif
