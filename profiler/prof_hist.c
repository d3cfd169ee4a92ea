/*
 * prof_hist.c - the CPU history (see prof_hist.h).
 *
 * Two structures:
 *
 *   stacks   one interned copy of every stack some stored window uses: a
 *            chained hash table keyed by the PCs, each entry reference
 *            counted by the window entries that point at it. A window
 *            leaving the history releases its references; the last one
 *            frees the stack.
 *
 *   windows  the open window (an entry table with an open-addressing index
 *            on (stack, pid, worker, route, request id), so a repeated
 *            sample adds to its entry) and the closed ones, oldest first in
 *            a plain array (360 pointers for an hour; eviction is a
 *            memmove). A closed window keeps its entries and request-id
 *            bytes trimmed to size and drops its index.
 *
 * Memory is counted as it is allocated (entries, index, request ids,
 * stacks, the stack table), so the cap is on what the profiler really
 * holds, and the index page shows that figure.
 */
#include "profiler/prof_hist.h"

#include <stdlib.h>
#include <string.h>

#include "sampler/prof_shm.h"

typedef struct hist_stack {
    struct hist_stack *next; /* hash chain */
    uint64_t hash;
    uint32_t refs;
    uint32_t n;
    uint64_t pcs[];
} hist_stack_t;

typedef struct {
    hist_stack_t *st;
    int32_t pid;
    uint16_t worker_no;
    uint8_t route;
    uint8_t has_rid;
    uint32_t rid_off; /* into the window's rids */
    uint32_t count;   /* samples */
    uint64_t weight;  /* periods */
} hist_ent_t;

typedef struct {
    uint64_t start_wall_ns; /* the 10-s slot: [start, start + 10 s) */
    uint64_t from_wall_ns;  /* first instant covered (>= start) */
    uint64_t end_wall_ns;   /* when closed: last instant covered */
    uint64_t end_mono_ns;   /* open window: when it closes */
    uint32_t hz;
    int mixed_hz;
    uint64_t nsamples, periods, drops;
    hist_ent_t *ent;
    size_t nent, cap;
    uint32_t *idx; /* open window only: entry index + 1, 0 = empty */
    size_t idx_cap;
    char *rids;
    size_t rids_len, rids_cap;
    size_t bytes;
} hist_win_t;

struct prof_hist {
    uint64_t keep_ns;
    size_t max_bytes;
    hist_win_t *cur;  /* the open window, or NULL */
    hist_win_t **win; /* closed, oldest first */
    size_t nwin, wcap;
    hist_stack_t **tab;
    size_t tab_cap, nstacks;
    size_t bytes;
    uint64_t evicted, dropped;
    uint64_t wall_off; /* wall - monotonic at the last tick */
};

/* ---- hashing ---- */

static uint64_t hh_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint64_t hh_pcs(const uint64_t *pcs, unsigned n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (unsigned i = 0; i < n; i++)
        h = hh_mix(h, pcs[i]);
    return h ? h : 1;
}

static uint64_t hh_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* ---- stacks ---- */

static int hs_grow(prof_hist_t *h)
{
    size_t cap = h->tab_cap ? h->tab_cap * 2 : 1024;
    hist_stack_t **t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < h->tab_cap; i++) {
        hist_stack_t *s = h->tab[i];
        while (s) {
            hist_stack_t *nx = s->next;
            size_t k = s->hash & (cap - 1);
            s->next = t[k];
            t[k] = s;
            s = nx;
        }
    }
    h->bytes += (cap - h->tab_cap) * sizeof *t;
    free(h->tab);
    h->tab = t;
    h->tab_cap = cap;
    return 0;
}

/* The interned stack for pcs, one more reference taken. */
static hist_stack_t *hs_get(prof_hist_t *h, const uint64_t *pcs, unsigned n)
{
    if (h->nstacks >= h->tab_cap && hs_grow(h) < 0 && !h->tab_cap)
        return NULL;
    uint64_t hash = hh_pcs(pcs, n);
    size_t k = hash & (h->tab_cap - 1);
    for (hist_stack_t *s = h->tab[k]; s; s = s->next)
        if (s->hash == hash && s->n == n && !memcmp(s->pcs, pcs, n * sizeof *pcs)) {
            s->refs++;
            return s;
        }
    hist_stack_t *s = malloc(sizeof *s + n * sizeof *pcs);
    if (!s)
        return NULL;
    s->hash = hash;
    s->refs = 1;
    s->n = n;
    memcpy(s->pcs, pcs, n * sizeof *pcs);
    s->next = h->tab[k];
    h->tab[k] = s;
    h->nstacks++;
    h->bytes += sizeof *s + n * sizeof *pcs;
    return s;
}

static void hs_put(prof_hist_t *h, hist_stack_t *s)
{
    if (--s->refs)
        return;
    hist_stack_t **pp = &h->tab[s->hash & (h->tab_cap - 1)];
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    h->nstacks--;
    h->bytes -= sizeof *s + s->n * sizeof s->pcs[0];
    free(s);
}

/* ---- windows ---- */

static void hw_free(prof_hist_t *h, hist_win_t *w)
{
    for (size_t i = 0; i < w->nent; i++)
        hs_put(h, w->ent[i].st);
    h->bytes -= w->bytes;
    free(w->ent);
    free(w->idx);
    free(w->rids);
    free(w);
}

static const char *hw_rid(const hist_win_t *w, const hist_ent_t *e)
{
    return e->has_rid ? w->rids + e->rid_off : "";
}

static uint64_t hw_key(const hist_stack_t *st, int32_t pid, unsigned worker_no, unsigned route,
                       const char *rid)
{
    uint64_t k = hh_mix(hh_mix(hh_mix(st->hash, (uint64_t)(uint32_t)pid), worker_no), route);
    return hh_str(k, rid);
}

static int hw_index_grow(prof_hist_t *h, hist_win_t *w)
{
    size_t cap = w->idx_cap ? w->idx_cap * 2 : 256;
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -1;
    for (size_t i = 0; i < w->nent; i++) {
        const hist_ent_t *e = &w->ent[i];
        size_t k = hw_key(e->st, e->pid, e->worker_no, e->route, hw_rid(w, e)) & (cap - 1);
        while (idx[k])
            k = (k + 1) & (cap - 1);
        idx[k] = (uint32_t)i + 1;
    }
    size_t add = (cap - w->idx_cap) * sizeof *idx;
    w->bytes += add;
    h->bytes += add;
    free(w->idx);
    w->idx = idx;
    w->idx_cap = cap;
    return 0;
}

static int hw_push(prof_hist_t *h, hist_win_t *w, hist_ent_t *e, const char *rid)
{
    if (w->nent == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        hist_ent_t *n = realloc(w->ent, cap * sizeof *n);
        if (!n)
            return -1;
        w->bytes += (cap - w->cap) * sizeof *n;
        h->bytes += (cap - w->cap) * sizeof *n;
        w->ent = n;
        w->cap = cap;
    }
    if (e->has_rid) {
        size_t need = strlen(rid) + 1;
        if (w->rids_len + need > w->rids_cap) {
            size_t cap = w->rids_cap ? w->rids_cap * 2 : 4096;
            while (cap < w->rids_len + need)
                cap *= 2;
            char *n = realloc(w->rids, cap);
            if (!n)
                return -1;
            w->bytes += cap - w->rids_cap;
            h->bytes += cap - w->rids_cap;
            w->rids = n;
            w->rids_cap = cap;
        }
        e->rid_off = (uint32_t)w->rids_len;
        memcpy(w->rids + w->rids_len, rid, need);
        w->rids_len += need;
    }
    w->ent[w->nent++] = *e;
    return 0;
}

/* Trim a window that closes to what it holds; its index goes. */
static void hw_seal(prof_hist_t *h, hist_win_t *w)
{
    size_t before = w->bytes;
    free(w->idx);
    w->idx = NULL;
    w->idx_cap = 0;
    if (w->nent < w->cap) {
        hist_ent_t *n = w->nent ? realloc(w->ent, w->nent * sizeof *n) : NULL;
        if (n || !w->nent) {
            if (!w->nent)
                free(w->ent);
            w->ent = n;
            w->cap = w->nent;
        }
    }
    if (w->rids_len < w->rids_cap) {
        char *n = w->rids_len ? realloc(w->rids, w->rids_len) : NULL;
        if (n || !w->rids_len) {
            if (!w->rids_len)
                free(w->rids);
            w->rids = n;
            w->rids_cap = w->rids_len;
        }
    }
    w->bytes = sizeof *w + w->cap * sizeof *w->ent + w->rids_cap;
    h->bytes = h->bytes - before + w->bytes;
}

/* ---- the history ---- */

prof_hist_t *prof_hist_new(void)
{
    prof_hist_t *h = calloc(1, sizeof *h);
    if (h) {
        h->keep_ns = 3600ull * 1000000000ull;
        h->max_bytes = 16u << 20;
        h->bytes = sizeof *h;
    }
    return h;
}

void prof_hist_free(prof_hist_t *h)
{
    if (!h)
        return;
    if (h->cur)
        hw_free(h, h->cur);
    for (size_t i = 0; i < h->nwin; i++)
        hw_free(h, h->win[i]);
    free(h->win);
    free(h->tab);
    free(h);
}

static void ph_evict_oldest(prof_hist_t *h)
{
    hw_free(h, h->win[0]);
    memmove(h->win, h->win + 1, (h->nwin - 1) * sizeof *h->win);
    h->nwin--;
}

/* Keep to the limits: no more windows than keep_ns holds (the open one
 * counts), no more bytes than max_bytes. */
static void ph_trim(prof_hist_t *h)
{
    size_t keep = (size_t)(h->keep_ns / PROF_HIST_WINDOW_NS);
    while (h->nwin && h->nwin + (h->cur != NULL) > keep)
        ph_evict_oldest(h);
    while (h->nwin && h->bytes > h->max_bytes) {
        ph_evict_oldest(h);
        h->evicted++;
    }
}

void prof_hist_limits(prof_hist_t *h, uint64_t keep_ns, size_t max_bytes)
{
    h->keep_ns = keep_ns;
    h->max_bytes = max_bytes;
    ph_trim(h);
}

void prof_hist_close(prof_hist_t *h, uint64_t wall_ns)
{
    hist_win_t *w = h->cur;
    if (!w)
        return;
    h->cur = NULL;
    uint64_t end = w->start_wall_ns + PROF_HIST_WINDOW_NS;
    w->end_wall_ns = wall_ns < end ? wall_ns : end;
    if (w->end_wall_ns < w->from_wall_ns)
        w->end_wall_ns = w->from_wall_ns;
    hw_seal(h, w);
    if (h->nwin == h->wcap) {
        size_t cap = h->wcap ? h->wcap * 2 : 64;
        hist_win_t **n = realloc(h->win, cap * sizeof *n);
        if (!n) {
            hw_free(h, w);
            return;
        }
        h->bytes += (cap - h->wcap) * sizeof *n;
        h->win = n;
        h->wcap = cap;
    }
    h->win[h->nwin++] = w;
    ph_trim(h);
}

void prof_hist_tick(prof_hist_t *h, uint64_t mono_ns, uint64_t wall_ns, uint32_t hz)
{
    h->wall_off = wall_ns - mono_ns;
    if (h->cur && mono_ns >= h->cur->end_mono_ns) {
        /* The wall time the window's end stands for (its slot's end),
         * unless the clock says we are past it by more than a tick. */
        prof_hist_close(h, h->cur->start_wall_ns + PROF_HIST_WINDOW_NS);
    }
    if (h->keep_ns < PROF_HIST_WINDOW_NS)
        return; /* profile_history 0: keep nothing */
    if (!h->cur) {
        hist_win_t *w = calloc(1, sizeof *w);
        if (!w)
            return;
        w->start_wall_ns = wall_ns - wall_ns % PROF_HIST_WINDOW_NS;
        w->from_wall_ns = wall_ns;
        w->end_mono_ns = mono_ns + (w->start_wall_ns + PROF_HIST_WINDOW_NS - wall_ns);
        w->hz = hz;
        w->bytes = sizeof *w;
        h->bytes += w->bytes;
        h->cur = w;
        ph_trim(h);
    } else if (hz != h->cur->hz) {
        h->cur->mixed_hz = 1;
        h->cur->hz = hz;
    }
}

void prof_hist_drops(prof_hist_t *h, uint64_t n)
{
    if (h->cur)
        h->cur->drops += n;
}

void prof_hist_add(prof_hist_t *h, uint64_t ts, const prof_worker_t *wk, unsigned route,
                   unsigned weight, const char *rid, const uint64_t *pcs, unsigned n)
{
    hist_win_t *w = h->cur;
    if (w && ts >= w->end_mono_ns) {
        prof_hist_tick(h, ts, ts + h->wall_off, w->hz);
        w = h->cur;
    }
    if (!w || n == 0)
        return;
    if (!weight)
        weight = 1;
    /* Over the cap: older windows make room; when none is left, this one
     * is full and the sample is counted, not kept. */
    while (h->bytes > h->max_bytes && h->nwin) {
        ph_evict_oldest(h);
        h->evicted++;
    }
    if (h->bytes > h->max_bytes) {
        h->dropped++;
        return;
    }
    if (!rid)
        rid = "";
    hist_stack_t *st = hs_get(h, pcs, n);
    if (!st) {
        h->dropped++;
        return;
    }
    if ((w->nent + 1) * 2 > w->idx_cap && hw_index_grow(h, w) < 0) {
        hs_put(h, st);
        h->dropped++;
        return;
    }
    uint64_t key = hw_key(st, wk->pid, wk->worker_no & 0xffff, route & 0xff, rid);
    size_t k = key & (w->idx_cap - 1);
    while (w->idx[k]) {
        hist_ent_t *e = &w->ent[w->idx[k] - 1];
        if (e->st == st && e->pid == wk->pid && e->worker_no == (wk->worker_no & 0xffff) &&
            e->route == (route & 0xff) && !strcmp(hw_rid(w, e), rid)) {
            hs_put(h, st); /* the entry holds its reference already */
            e->count++;
            e->weight += weight;
            w->nsamples++;
            w->periods += weight;
            return;
        }
        k = (k + 1) & (w->idx_cap - 1);
    }
    hist_ent_t e = {.st = st,
                    .pid = wk->pid,
                    .worker_no = (uint16_t)wk->worker_no,
                    .route = (uint8_t)route,
                    .has_rid = rid[0] != 0,
                    .count = 1,
                    .weight = weight};
    if (hw_push(h, w, &e, rid) < 0) {
        hs_put(h, st);
        h->dropped++;
        return;
    }
    w->idx[k] = (uint32_t)w->nent;
    w->nsamples++;
    w->periods += weight;
}

/* ---- reading ---- */

static int hc_window(const hist_win_t *w, prof_cpu_data_t *d)
{
    for (size_t i = 0; i < w->nent; i++) {
        const hist_ent_t *e = &w->ent[i];
        uint64_t hd = (uint64_t)e->st->n | (uint64_t)e->route << 8 | (uint64_t)e->worker_no << 16 |
                      (uint64_t)(uint32_t)e->pid << 32;
        uint64_t wf = e->weight | (e->has_rid ? 1ull << 63 : 0);
        uint64_t ridw[PROF_RID_WORDS];
        if (e->has_rid) {
            memset(ridw, 0, sizeof ridw);
            const char *r = hw_rid(w, e);
            memcpy(ridw, r, strnlen(r, PROF_RID_BYTES - 1));
        }
        if (buf_append(&d->words, &hd, sizeof hd) < 0 ||
            buf_append(&d->words, &wf, sizeof wf) < 0 ||
            (e->has_rid && buf_append(&d->words, ridw, sizeof ridw) < 0) ||
            buf_append(&d->words, e->st->pcs, e->st->n * sizeof e->st->pcs[0]) < 0)
            return -1;
    }
    d->nsamples += w->nsamples;
    d->periods += w->periods;
    d->drops += w->drops;
    return 0;
}

int prof_hist_collect(const prof_hist_t *h, uint64_t start, uint64_t end, uint64_t now_wall_ns,
                      prof_cpu_data_t *d, prof_hist_range_t *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i <= h->nwin; i++) {
        const hist_win_t *w = i < h->nwin ? h->win[i] : h->cur;
        if (!w)
            continue;
        uint64_t from = w->from_wall_ns;
        uint64_t to = i < h->nwin ? w->end_wall_ns : now_wall_ns;
        if (to <= start || from >= end)
            continue; /* no overlap */
        if (hc_window(w, d) < 0)
            return -1;
        if (r->nwin == 0)
            r->start_wall_ns = from;
        else if (w->hz != r->hz)
            r->mixed_hz = 1;
        r->mixed_hz |= w->mixed_hz;
        r->end_wall_ns = to;
        r->hz = w->hz;
        r->nwin++;
    }
    return 0;
}

void prof_hist_stat(const prof_hist_t *h, uint64_t now_wall_ns, prof_hist_stat_t *st)
{
    memset(st, 0, sizeof *st);
    st->windows = h->nwin;
    if (h->nwin)
        st->first_wall_ns = h->win[0]->from_wall_ns;
    else if (h->cur)
        st->first_wall_ns = h->cur->from_wall_ns;
    if (h->cur)
        st->end_wall_ns = now_wall_ns;
    else if (h->nwin)
        st->end_wall_ns = h->win[h->nwin - 1]->end_wall_ns;
    st->bytes = h->bytes;
    st->max_bytes = h->max_bytes;
    st->keep_ns = h->keep_ns;
    st->evicted = h->evicted;
    st->dropped = h->dropped;
}
