/*
 * prof_build.h - assemble a pprof profile.proto from stacks of PCs.
 *
 * The caller declares sample types, period and comments, then adds samples
 * (a stack of PCs, leaf first, one value per sample type, string labels).
 * The builder symbolizes each PC once through prof_sym, gives every
 * location, function and mapping a non-zero unique id, merges samples with
 * the same stack and labels, and writes the message in field order with
 * string_table[0] = "" as the format requires. prof_build_gzip() is what
 * the HTTP endpoints send: pprof profiles travel gzip-compressed.
 */
#ifndef MG_PROF_BUILD_H
#define MG_PROF_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "profiler/prof_sym.h"

#define PROF_MAX_VALUES 4
#define PROF_MAX_LABELS 8

typedef struct {
    const char *key;
    const char *str; /* string label, or NULL for a numeric one */
    int64_t num;
    const char *unit; /* numeric labels only; may be NULL */
} prof_label_t;

typedef struct prof_build prof_build_t;

prof_build_t *prof_build_new(prof_sym_t *sym);
void prof_build_free(prof_build_t *b);

/* Index of s in the string table (added when new). */
int64_t prof_build_str(prof_build_t *b, const char *s);
void prof_build_sample_type(prof_build_t *b, const char *type, const char *unit);
void prof_build_period(prof_build_t *b, const char *type, const char *unit, int64_t period);
void prof_build_default_type(prof_build_t *b, const char *type);
void prof_build_comment(prof_build_t *b, const char *s);
void prof_build_time(prof_build_t *b, int64_t time_nanos, int64_t duration_nanos);

/*
 * Add a sample: pcs[0] is the leaf. Values beyond the declared sample types
 * are ignored. A sample whose stack and labels equal an earlier one is added
 * into it. pcs that are return addresses must already be adjusted (- 1) by
 * the caller, so they symbolize to the call's line.
 */
int prof_build_sample(prof_build_t *b, const uint64_t *pcs, int npcs, const int64_t *vals,
                      const prof_label_t *labels, int nlabels);
size_t prof_build_nsamples(const prof_build_t *b);

/* Make `pc` (an address no code has, e.g. 1, 2, ...) a location of its own
 * with one frame named `func`: the goroutine profile's connection states. */
void prof_build_virtual(prof_build_t *b, uint64_t pc, const char *func, const char *file);

/* The encoded message, uncompressed (for tests) or gzip-compressed. */
int prof_build_encode(prof_build_t *b, buf_t *out);
int prof_build_gzip(prof_build_t *b, buf_t *out);

/* gzip (RFC 1952) of p[0..n) appended to out. */
int prof_gzip(const void *p, size_t n, buf_t *out);

#endif
