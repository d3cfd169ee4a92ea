/*
 * prof_build.c - profile.proto assembly (see prof_build.h).
 *
 * Tables:
 *   strings    interned by content, index 0 = ""
 *   functions  keyed by (name, file) pointers (prof_sym interns them)
 *   locations  keyed by PC; each holds the inline chain as Line entries,
 *              innermost first, and the id of its mapping
 *   samples    keyed by (location ids, label string ids), values summed
 * Mapping ids are the prof_sym mapping index + 1, so the magicd binary (which
 * prof_sym lists first) is mapping 1. Every table is an open-addressing
 * hash over a growing array; a profile of a few thousand distinct stacks
 * stays well under a megabyte.
 */
#include "profiler/prof_build.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profiler/prof_pb.h"

typedef struct {
    uint64_t key; /* hash */
    int64_t idx;  /* index + 1 into the owner's array; 0 = empty */
} bld_slot_t;

typedef struct {
    bld_slot_t *v;
    size_t cap, n;
} bld_map_t;

typedef struct {
    int64_t name, file, start_line;
    const char *pname, *pfile;
} bld_func_t;

typedef struct {
    uint64_t pc;
    int mapping; /* prof_sym index, -1 none */
    int nlines;
    uint64_t func[PROF_SYM_MAX_INLINE];
    int64_t line[PROF_SYM_MAX_INLINE];
} bld_loc_t;

typedef struct {
    uint64_t *locs;
    int nlocs;
    int nlabels;
    int64_t vals[PROF_MAX_VALUES];
    int64_t lkey[PROF_MAX_LABELS], lstr[PROF_MAX_LABELS], lnum[PROF_MAX_LABELS],
        lunit[PROF_MAX_LABELS];
} bld_sample_t;

struct prof_build {
    prof_sym_t *sym;
    char **strs;
    size_t nstrs, capstrs;
    bld_map_t strmap, funcmap, locmap, smpmap;
    bld_func_t *funcs;
    size_t nfuncs, capfuncs;
    bld_loc_t *locs;
    size_t nlocs, caplocs;
    bld_sample_t *smps;
    size_t nsmps, capsmps;
    int64_t st_type[PROF_MAX_VALUES], st_unit[PROF_MAX_VALUES];
    int nst;
    int64_t period_type, period_unit, period, default_type;
    int has_period;
    int64_t *comments;
    size_t ncomments;
    int64_t time_nanos, duration_nanos;
    int oom;
};

static uint64_t bld_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t bld_hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h | 1;
}

static int bld_grow(void **arr, size_t *cap, size_t n, size_t elt)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, nc * elt);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Find (eq(idx) true) or return the empty slot for key. */
typedef int (*bld_eq_fn)(prof_build_t *b, int64_t idx, const void *arg);

static bld_slot_t *bld_map_find(prof_build_t *b, bld_map_t *m, uint64_t key, bld_eq_fn eq,
                                const void *arg)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        bld_slot_t *nv = calloc(nc, sizeof *nv);
        if (!nv) {
            b->oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].idx)
                continue;
            size_t j = m->v[i].key & (nc - 1);
            while (nv[j].idx)
                j = (j + 1) & (nc - 1);
            nv[j] = m->v[i];
        }
        free(m->v);
        m->v = nv;
        m->cap = nc;
    }
    size_t j = key & (m->cap - 1);
    while (m->v[j].idx) {
        if (m->v[j].key == key && eq(b, m->v[j].idx - 1, arg))
            return &m->v[j];
        j = (j + 1) & (m->cap - 1);
    }
    m->v[j].key = key;
    return &m->v[j];
}

static int bld_str_eq(prof_build_t *b, int64_t idx, const void *arg)
{
    return strcmp(b->strs[idx], arg) == 0;
}

int64_t prof_build_str(prof_build_t *b, const char *s)
{
    if (!s)
        s = "";
    bld_slot_t *sl = bld_map_find(b, &b->strmap, bld_hash_bytes(s, strlen(s)), bld_str_eq, s);
    if (!sl)
        return 0;
    if (sl->idx)
        return sl->idx - 1;
    if (bld_grow((void **)&b->strs, &b->capstrs, b->nstrs, sizeof *b->strs) < 0) {
        b->oom = 1;
        return 0;
    }
    char *d = strdup(s);
    if (!d) {
        b->oom = 1;
        return 0;
    }
    b->strs[b->nstrs] = d;
    sl->idx = (int64_t)++b->nstrs;
    b->strmap.n++;
    return sl->idx - 1;
}

prof_build_t *prof_build_new(prof_sym_t *sym)
{
    prof_build_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->sym = sym;
    prof_build_str(b, ""); /* string_table[0] must be empty */
    return b;
}

void prof_build_free(prof_build_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nstrs; i++)
        free(b->strs[i]);
    for (size_t i = 0; i < b->nsmps; i++)
        free(b->smps[i].locs);
    free(b->strs);
    free(b->strmap.v);
    free(b->funcmap.v);
    free(b->locmap.v);
    free(b->smpmap.v);
    free(b->funcs);
    free(b->locs);
    free(b->smps);
    free(b->comments);
    free(b);
}

void prof_build_sample_type(prof_build_t *b, const char *type, const char *unit)
{
    if (b->nst == PROF_MAX_VALUES)
        return;
    b->st_type[b->nst] = prof_build_str(b, type);
    b->st_unit[b->nst] = prof_build_str(b, unit);
    b->nst++;
}

void prof_build_period(prof_build_t *b, const char *type, const char *unit, int64_t period)
{
    b->has_period = 1;
    b->period_type = prof_build_str(b, type);
    b->period_unit = prof_build_str(b, unit);
    b->period = period;
}

void prof_build_default_type(prof_build_t *b, const char *type)
{
    b->default_type = prof_build_str(b, type);
}

void prof_build_comment(prof_build_t *b, const char *s)
{
    int64_t *p = realloc(b->comments, (b->ncomments + 1) * sizeof *p);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->comments = p;
    b->comments[b->ncomments++] = prof_build_str(b, s);
}

void prof_build_time(prof_build_t *b, int64_t time_nanos, int64_t duration_nanos)
{
    b->time_nanos = time_nanos;
    b->duration_nanos = duration_nanos;
}

typedef struct {
    const char *name, *file;
} bld_fkey_t;

static int bld_func_eq(prof_build_t *b, int64_t idx, const void *arg)
{
    const bld_fkey_t *k = arg;
    return b->funcs[idx].pname == k->name && b->funcs[idx].pfile == k->file;
}

static uint64_t bld_func(prof_build_t *b, const prof_frame_t *f)
{
    bld_fkey_t k = {f->func, f->file};
    uint64_t h = bld_mix(bld_mix(7, (uintptr_t)f->func), (uintptr_t)f->file) | 1;
    bld_slot_t *sl = bld_map_find(b, &b->funcmap, h, bld_func_eq, &k);
    if (!sl)
        return 0;
    if (sl->idx)
        return (uint64_t)sl->idx;
    if (bld_grow((void **)&b->funcs, &b->capfuncs, b->nfuncs, sizeof *b->funcs) < 0) {
        b->oom = 1;
        return 0;
    }
    bld_func_t *fn = &b->funcs[b->nfuncs];
    fn->pname = f->func;
    fn->pfile = f->file;
    fn->name = prof_build_str(b, f->func);
    fn->file = prof_build_str(b, f->file);
    fn->start_line = f->start_line;
    sl->idx = (int64_t)++b->nfuncs;
    b->funcmap.n++;
    return (uint64_t)sl->idx; /* function ids are index + 1 */
}

static int bld_loc_eq(prof_build_t *b, int64_t idx, const void *arg)
{
    return b->locs[idx].pc == *(const uint64_t *)arg;
}

static uint64_t bld_loc(prof_build_t *b, uint64_t pc)
{
    uint64_t h = bld_mix(11, pc) | 1;
    bld_slot_t *sl = bld_map_find(b, &b->locmap, h, bld_loc_eq, &pc);
    if (!sl)
        return 0;
    if (sl->idx)
        return (uint64_t)sl->idx;
    if (bld_grow((void **)&b->locs, &b->caplocs, b->nlocs, sizeof *b->locs) < 0) {
        b->oom = 1;
        return 0;
    }
    /* Take the slot index before bld_func() can rehash other maps. */
    bld_loc_t loc = {.pc = pc, .mapping = -1};
    const prof_frame_t *fr = NULL;
    int n = 0;
    if (b->sym)
        n = prof_sym_lookup(b->sym, pc, &fr, &loc.mapping);
    /* Nothing names it, but a mapping holds it: an address for pprof to
     * symbolize (the mapping says it lacks functions); without a mapping
     * the "0x..." frame is all anyone will know. */
    if (n == 1 && !prof_sym_known(&fr[0]) && loc.mapping >= 0)
        n = 0;
    for (int i = 0; i < n && i < PROF_SYM_MAX_INLINE; i++) {
        loc.func[i] = bld_func(b, &fr[i]);
        loc.line[i] = fr[i].line;
    }
    loc.nlines = n;
    b->locs[b->nlocs] = loc;
    sl->idx = (int64_t)++b->nlocs;
    b->locmap.n++;
    return (uint64_t)sl->idx;
}

void prof_build_virtual(prof_build_t *b, uint64_t pc, const char *func, const char *file)
{
    uint64_t h = bld_mix(11, pc) | 1;
    bld_slot_t *sl = bld_map_find(b, &b->locmap, h, bld_loc_eq, &pc);
    if (!sl || sl->idx)
        return;
    if (bld_grow((void **)&b->locs, &b->caplocs, b->nlocs, sizeof *b->locs) < 0) {
        b->oom = 1;
        return;
    }
    prof_frame_t fr = {func, file, 0, 0};
    bld_loc_t loc = {.pc = pc, .mapping = -1, .nlines = 1};
    /* bld_func keys on pointers: intern through the string table. */
    fr.func = b->strs[prof_build_str(b, func)];
    fr.file = b->strs[prof_build_str(b, file)];
    loc.func[0] = bld_func(b, &fr);
    b->locs[b->nlocs] = loc;
    sl->idx = (int64_t)++b->nlocs;
    b->locmap.n++;
}

typedef struct {
    const uint64_t *locs;
    int nlocs;
    const int64_t *lkey, *lstr, *lnum;
    int nlabels;
} bld_skey_t;

static int bld_smp_eq(prof_build_t *b, int64_t idx, const void *arg)
{
    const bld_skey_t *k = arg;
    const bld_sample_t *s = &b->smps[idx];
    if (s->nlocs != k->nlocs || s->nlabels != k->nlabels)
        return 0;
    if (memcmp(s->locs, k->locs, k->nlocs * sizeof *k->locs))
        return 0;
    for (int i = 0; i < k->nlabels; i++)
        if (s->lkey[i] != k->lkey[i] || s->lstr[i] != k->lstr[i] || s->lnum[i] != k->lnum[i])
            return 0;
    return 1;
}

int prof_build_sample(prof_build_t *b, const uint64_t *pcs, int npcs, const int64_t *vals,
                      const prof_label_t *labels, int nlabels)
{
    uint64_t locs[256];
    if (npcs > 256)
        npcs = 256;
    if (nlabels > PROF_MAX_LABELS)
        nlabels = PROF_MAX_LABELS;
    uint64_t h = 17;
    for (int i = 0; i < npcs; i++) {
        locs[i] = bld_loc(b, pcs[i]);
        h = bld_mix(h, locs[i]);
    }
    int64_t lkey[PROF_MAX_LABELS], lstr[PROF_MAX_LABELS], lnum[PROF_MAX_LABELS],
        lunit[PROF_MAX_LABELS];
    for (int i = 0; i < nlabels; i++) {
        lkey[i] = prof_build_str(b, labels[i].key);
        lstr[i] = labels[i].str ? prof_build_str(b, labels[i].str) : 0;
        lnum[i] = labels[i].str ? 0 : labels[i].num;
        lunit[i] = labels[i].unit ? prof_build_str(b, labels[i].unit) : 0;
        h = bld_mix(bld_mix(bld_mix(h, lkey[i]), lstr[i]), lnum[i]);
    }
    bld_skey_t k = {locs, npcs, lkey, lstr, lnum, nlabels};
    bld_slot_t *sl = bld_map_find(b, &b->smpmap, h | 1, bld_smp_eq, &k);
    if (!sl)
        return -1;
    bld_sample_t *s;
    if (sl->idx) {
        s = &b->smps[sl->idx - 1];
    } else {
        if (bld_grow((void **)&b->smps, &b->capsmps, b->nsmps, sizeof *b->smps) < 0) {
            b->oom = 1;
            return -1;
        }
        s = &b->smps[b->nsmps];
        memset(s, 0, sizeof *s);
        s->locs = malloc((npcs ? npcs : 1) * sizeof *locs);
        if (!s->locs) {
            b->oom = 1;
            return -1;
        }
        memcpy(s->locs, locs, npcs * sizeof *locs);
        s->nlocs = npcs;
        s->nlabels = nlabels;
        memcpy(s->lkey, lkey, sizeof lkey);
        memcpy(s->lstr, lstr, sizeof lstr);
        memcpy(s->lnum, lnum, sizeof lnum);
        memcpy(s->lunit, lunit, sizeof lunit);
        sl->idx = (int64_t)++b->nsmps;
        b->smpmap.n++;
    }
    for (int i = 0; i < b->nst; i++)
        s->vals[i] += vals[i];
    return 0;
}

size_t prof_build_nsamples(const prof_build_t *b)
{
    return b->nsmps;
}

/* Embedded message: encode into tmp, then append as field f. */
static void bld_msg(buf_t *out, unsigned f, buf_t *tmp, int *err)
{
    if (prof_pb_bytes(out, f, tmp->data, tmp->len) < 0)
        *err = 1;
    buf_reset(tmp);
}

static void bld_value_type(buf_t *out, unsigned f, int64_t type, int64_t unit, buf_t *tmp, int *err)
{
    if (type)
        prof_pb_int(tmp, 1, type);
    if (unit)
        prof_pb_int(tmp, 2, unit);
    bld_msg(out, f, tmp, err);
}

static void bld_enc_samples(prof_build_t *b, buf_t *out, buf_t *tmp, buf_t *lab, int *err)
{
    uint64_t vals[PROF_MAX_VALUES];
    for (size_t i = 0; i < b->nsmps; i++) {
        bld_sample_t *s = &b->smps[i];
        prof_pb_packed(tmp, 1, s->locs, s->nlocs);
        for (int v = 0; v < b->nst; v++)
            vals[v] = (uint64_t)s->vals[v];
        prof_pb_packed(tmp, 2, vals, b->nst);
        for (int l = 0; l < s->nlabels; l++) {
            prof_pb_int(lab, 1, s->lkey[l]);
            if (s->lstr[l])
                prof_pb_int(lab, 2, s->lstr[l]);
            else
                prof_pb_int(lab, 3, s->lnum[l]);
            if (s->lunit[l])
                prof_pb_int(lab, 4, s->lunit[l]);
            bld_msg(tmp, 3, lab, err);
        }
        bld_msg(out, 2, tmp, err);
    }
}

static void bld_enc_mappings(prof_build_t *b, buf_t *out, buf_t *tmp, int *err)
{
    int n = b->sym ? prof_sym_nmappings(b->sym) : 0;
    for (int i = 0; i < n; i++) {
        const prof_mapping_t *m = prof_sym_mapping(b->sym, i);
        prof_pb_uint(tmp, 1, (uint64_t)i + 1);
        prof_pb_uint(tmp, 2, m->start);
        prof_pb_uint(tmp, 3, m->limit);
        prof_pb_uint(tmp, 4, m->offset);
        prof_pb_int(tmp, 5, prof_build_str(b, m->path));
        prof_pb_int(tmp, 6, prof_build_str(b, m->build_id));
        /* what the profile's lines hold for this mapping: pprof
         * re-symbolizes only a mapping that claims none of them */
        if (m->has_functions)
            prof_pb_uint(tmp, 7, 1);
        if (m->has_lines) {
            prof_pb_uint(tmp, 8, 1);
            prof_pb_uint(tmp, 9, 1);
            prof_pb_uint(tmp, 10, 1);
        }
        bld_msg(out, 3, tmp, err);
    }
}

static void bld_enc_locations(prof_build_t *b, buf_t *out, buf_t *tmp, buf_t *ln, int *err)
{
    for (size_t i = 0; i < b->nlocs; i++) {
        bld_loc_t *l = &b->locs[i];
        prof_pb_uint(tmp, 1, i + 1);
        if (l->mapping >= 0)
            prof_pb_uint(tmp, 2, (uint64_t)l->mapping + 1);
        prof_pb_uint(tmp, 3, l->pc);
        for (int k = 0; k < l->nlines; k++) {
            prof_pb_uint(ln, 1, l->func[k]);
            prof_pb_int(ln, 2, l->line[k]);
            bld_msg(tmp, 4, ln, err);
        }
        bld_msg(out, 4, tmp, err);
    }
}

static void bld_enc_functions(prof_build_t *b, buf_t *out, buf_t *tmp, int *err)
{
    for (size_t i = 0; i < b->nfuncs; i++) {
        bld_func_t *f = &b->funcs[i];
        prof_pb_uint(tmp, 1, i + 1);
        prof_pb_int(tmp, 2, f->name);
        prof_pb_int(tmp, 3, f->name);
        prof_pb_int(tmp, 4, f->file);
        prof_pb_int(tmp, 5, f->start_line);
        bld_msg(out, 5, tmp, err);
    }
}

int prof_build_encode(prof_build_t *b, buf_t *out)
{
    buf_t tmp = {0}, sub = {0};
    int err = 0;
    /* Intern every string the encoders need before the table is written. */
    int n = b->sym ? prof_sym_nmappings(b->sym) : 0;
    for (int i = 0; i < n; i++) {
        prof_build_str(b, prof_sym_mapping(b->sym, i)->path);
        prof_build_str(b, prof_sym_mapping(b->sym, i)->build_id);
    }
    for (int i = 0; i < b->nst; i++)
        bld_value_type(out, 1, b->st_type[i], b->st_unit[i], &tmp, &err);
    bld_enc_samples(b, out, &tmp, &sub, &err);
    bld_enc_mappings(b, out, &tmp, &err);
    bld_enc_locations(b, out, &tmp, &sub, &err);
    bld_enc_functions(b, out, &tmp, &err);
    for (size_t i = 0; i < b->nstrs; i++)
        if (prof_pb_string(out, 6, b->strs[i]) < 0)
            err = 1;
    if (b->time_nanos)
        prof_pb_int(out, 9, b->time_nanos);
    if (b->duration_nanos)
        prof_pb_int(out, 10, b->duration_nanos);
    if (b->has_period) {
        bld_value_type(out, 11, b->period_type, b->period_unit, &tmp, &err);
        prof_pb_int(out, 12, b->period);
    }
    if (b->ncomments)
        prof_pb_packed(out, 13, (const uint64_t *)b->comments, b->ncomments);
    if (b->default_type)
        prof_pb_int(out, 14, b->default_type);
    buf_free(&tmp);
    buf_free(&sub);
    return err || b->oom ? -1 : 0;
}

int prof_gzip(const void *p, size_t n, buf_t *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip header and trailer, not zlib's. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t bound = deflateBound(&z, n);
    if (buf_reserve(out, bound) < 0) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    if (rc == Z_STREAM_END)
        out->len += z.total_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

int prof_build_gzip(prof_build_t *b, buf_t *out)
{
    buf_t raw = {0};
    int rc = prof_build_encode(b, &raw);
    if (rc == 0)
        rc = prof_gzip(raw.data, raw.len, out);
    buf_free(&raw);
    return rc;
}
