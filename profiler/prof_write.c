/*
 * prof_write.c - profile assembly for each endpoint (see prof_write.h).
 *
 * Values follow Go's runtime/pprof so pprof's reports mean the same thing:
 *  - CPU: samples/count and cpu/nanoseconds, period 1e9/profile_hz ns.
 *  - heap/allocs: alloc_objects, alloc_space, inuse_objects, inuse_space,
 *    each scaled by 1 / (1 - exp(-avg_size / rate)) (scaleHeapSample), so the
 *    Poisson-sampled counts estimate the real totals; a numeric `bytes`
 *    label carries the average object size as Go's does.
 *  - block: contentions/count and delay/nanoseconds as recorded (the
 *    sampler already removed the sampling bias).
 *  - mutex: both values multiplied by mutex_profile_fraction.
 *  - offcpu: waits/count and off_cpu/nanoseconds, labelled wait (epoll, io,
 *    lock, preemption) and what (the call or lock).
 *  - goroutine: goroutine/count.
 */
#include "profiler/prof_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "app/route.h"
#include "core/http_conn.h"
#include "profiler/prof_build.h"

void prof_cpu_add(prof_cpu_data_t *d, const prof_worker_t *w, unsigned route, unsigned weight,
                  const char *rid, const uint64_t *pcs, unsigned n)
{
    uint64_t h = (uint64_t)n | (uint64_t)(route & 0xff) << 8 |
                 (uint64_t)(w->worker_no & 0xffff) << 16 | (uint64_t)(uint32_t)w->pid << 32;
    uint64_t wt = weight ? weight : 1;
    uint64_t ridw[PROF_RID_WORDS];
    if (rid) {
        memset(ridw, 0, sizeof ridw);
        size_t k = strnlen(rid, PROF_RID_BYTES - 1);
        memcpy(ridw, rid, k);
    }
    uint64_t wf = wt | (rid ? 1ull << 63 : 0);
    if (buf_append(&d->words, &h, sizeof h) < 0 || buf_append(&d->words, &wf, sizeof wf) < 0 ||
        (rid && buf_append(&d->words, ridw, sizeof ridw) < 0) ||
        buf_append(&d->words, pcs, n * sizeof *pcs) < 0)
        return;
    d->nsamples++;
    d->periods += wt;
}

void prof_cpu_free(prof_cpu_data_t *d)
{
    buf_free(&d->words);
    d->nsamples = 0;
}

/* pid, worker, node, version: the labels on every sample. Returns 4. */
static int wr_worker_labels(const prof_out_t *o, prof_label_t *l, char *pid, char *wno, int32_t p,
                            uint32_t w)
{
    snprintf(pid, 16, "%d", (int)p);
    snprintf(wno, 16, "%u", w);
    l[0] = (prof_label_t){"pid", pid, 0, NULL};
    l[1] = (prof_label_t){"worker", wno, 0, NULL};
    l[2] = (prof_label_t){"node", o->node ? o->node : "", 0, NULL};
    l[3] = (prof_label_t){"version", o->version ? o->version : "", 0, NULL};
    return 4;
}

/* The profile's comments: how it was sampled, and anything that makes it
 * less than it looks (drops, a rate the timer cannot deliver, cut short). */
static void wr_cpu_comments(prof_build_t *b, const prof_cpu_data_t *d, const prof_cpu_meta_t *m)
{
    char note[320];
    snprintf(note, sizeof note,
             "magicd: %llu SIGPROF samples at %d Hz from %d workers, standing for %llu periods",
             (unsigned long long)d->nsamples, m->hz, m->nworkers, (unsigned long long)d->periods);
    prof_build_comment(b, note);
    if (m->timer) {
        snprintf(note, sizeof note, "magicd: CPU timer: %s, up to %u Hz here", m->timer,
                 m->timer_max);
        prof_build_comment(b, note);
        if (m->timer_max && (uint32_t)m->hz > m->timer_max) {
            snprintf(note, sizeof note,
                     "magicd: profile_hz %d is above the %u Hz this timer delivers: fewer "
                     "samples, each weighed by the CPU time it stands for",
                     m->hz, m->timer_max);
            prof_build_comment(b, note);
        }
    }
    if (m->kernel) {
        snprintf(note, sizeof note, "magicd: kernel frames: %s", m->kernel);
        prof_build_comment(b, note);
    }
    snprintf(note, sizeof note, "magicd: %llu samples dropped (sample ring full)",
             (unsigned long long)d->drops);
    prof_build_comment(b, note);
    if (m->note)
        prof_build_comment(b, m->note);
    if (m->cut) {
        snprintf(note, sizeof note, "magicd: cut short after %.1f s of %.1f s: %s",
                 (double)m->dur_ns / 1e9, (double)m->want_ns / 1e9, m->cut);
        prof_build_comment(b, note);
    }
}

int prof_write_cpu(const prof_out_t *o, const prof_cpu_data_t *d, const prof_cpu_meta_t *m,
                   buf_t *out)
{
    prof_build_t *b = prof_build_new(o->sym);
    if (!b)
        return -1;
    int64_t period = 1000000000ll / (m->hz > 0 ? m->hz : 100);
    prof_build_sample_type(b, "samples", "count");
    prof_build_sample_type(b, "cpu", "nanoseconds");
    prof_build_period(b, "cpu", "nanoseconds", period);
    prof_build_time(b, (int64_t)m->start_wall_ns, (int64_t)m->dur_ns);
    wr_cpu_comments(b, d, m);
    const uint64_t *w = (const uint64_t *)(const void *)d->words.data;
    size_t nw = d->words.len / sizeof *w, i = 0;
    while (i < nw) {
        uint64_t h = w[i];
        unsigned n = (unsigned)(h & 0xff), route = (unsigned)((h >> 8) & 0xff);
        if (i + 2 > nw)
            break;
        uint64_t wf = w[i + 1];
        size_t extra = (wf >> 63) ? PROF_RID_WORDS : 0;
        if (i + 2 + extra + n > nw)
            break;
        int64_t wt = (int64_t)(wf & ~(1ull << 63));
        char pid[16], wno[16], rid[PROF_RID_BYTES];
        prof_label_t l[7];
        int nl =
            wr_worker_labels(o, l, pid, wno, (int32_t)(h >> 32), (uint32_t)((h >> 16) & 0xffff));
        if (route != 0 && route_name(route)[0])
            l[nl++] = (prof_label_t){"route", route_name(route), 0, NULL};
        if (extra) {
            memcpy(rid, &w[i + 2], sizeof rid);
            rid[sizeof rid - 1] = 0;
            if (rid[0])
                l[nl++] = (prof_label_t){"request_id", rid, 0, NULL};
        }
        /* mode: where the sample was taken - in the kernel (its frames
         * come first, from the perf_event callchain) or in user space */
        const uint64_t *pcs = &w[i + 2 + extra];
        l[nl++] =
            (prof_label_t){"mode", n && pcs[0] >= PROF_KERNEL_MIN ? "kernel" : "user", 0, NULL};
        int64_t v[2] = {wt, wt * period};
        prof_build_sample(b, pcs, (int)n, v, l, nl);
        i += 2 + extra + n;
    }
    int rc = prof_build_gzip(b, out);
    prof_build_free(b);
    return rc;
}

/* Go's scaleHeapSample. */
static void wr_scale_heap(int64_t count, int64_t size, int64_t rate, int64_t *oc, int64_t *os)
{
    if (count <= 0 || size <= 0) {
        *oc = count > 0 ? count : 0;
        *os = size > 0 ? size : 0;
        return;
    }
    if (rate <= 1) {
        *oc = count;
        *os = size;
        return;
    }
    double avg = (double)size / (double)count;
    double scale = 1.0 / (1.0 - exp(-avg / (double)rate));
    *oc = (int64_t)((double)count * scale);
    *os = (int64_t)((double)size * scale);
}

/* "#\t0x4b0c25\tfunc+0x45\tfile:line" for each frame, as runtime/pprof. */
static void wr_text_stack(prof_sym_t *sym, buf_t *out, const uint64_t *pcs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (pcs[i] == PROF_PC_INHERITED) {
            buf_printf(out, "#\t%#llx\tmagicd.inheritedFromMaster+0x0\t??:0\n",
                       (unsigned long long)pcs[i]);
            continue;
        }
        const prof_frame_t *fr;
        int m;
        int k = prof_sym_lookup(sym, pcs[i], &fr, &m);
        uint64_t off = prof_sym_offset(sym, pcs[i]);
        for (int j = 0; j < k; j++)
            buf_printf(out, "#\t%#llx\t%s+0x%llx\t%s:%lld\n", (unsigned long long)pcs[i],
                       fr[j].func[0] ? fr[j].func : "??", (unsigned long long)off,
                       fr[j].file[0] ? fr[j].file : "??", (long long)fr[j].line);
    }
}

static void wr_text_pcs(buf_t *out, const uint64_t *pcs, unsigned n)
{
    buf_puts(out, " @");
    for (unsigned i = 0; i < n; i++)
        buf_printf(out, " %#llx", (unsigned long long)pcs[i]);
    buf_puts(out, "\n");
}

static int wr_cmp_inuse(const void *a, const void *b)
{
    const prof_rec_t *x = a, *y = b;
    int64_t ix = x->v[1] - x->v[3], iy = y->v[1] - y->v[3];
    return ix < iy ? 1 : ix > iy ? -1 : 0;
}

static int wr_cmp_delay(const void *a, const void *b)
{
    const prof_rec_t *x = a, *y = b;
    return x->v[1] < y->v[1] ? 1 : x->v[1] > y->v[1] ? -1 : 0;
}

static int wr_heap_text(prof_sym_t *sym, const prof_snap_t *s, buf_t *out)
{
    int64_t t[4] = {0};
    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; k < 4; k++)
            t[k] += s->recs[i].v[k];
    if (s->n > 1)
        qsort(s->recs, s->n, sizeof *s->recs, wr_cmp_inuse);
    buf_printf(out, "heap profile: %lld: %lld [%lld: %lld] @ heap/%llu\n", (long long)(t[0] - t[2]),
               (long long)(t[1] - t[3]), (long long)t[0], (long long)t[1],
               (unsigned long long)s->rate * 2);
    for (size_t i = 0; i < s->n; i++) {
        const prof_rec_t *r = &s->recs[i];
        buf_printf(out, "%lld: %lld [%lld: %lld]", (long long)(r->v[0] - r->v[2]),
                   (long long)(r->v[1] - r->v[3]), (long long)r->v[0], (long long)r->v[1]);
        wr_text_pcs(out, r->pcs, r->n);
        wr_text_stack(sym, out, r->pcs, r->n);
        buf_puts(out, "\n");
    }
    /* Go appends runtime.MemStats here; the C equivalent is malloc's own
     * accounting, per worker process. */
    buf_printf(out,
               "\n# magicd heap sampler\n# heap_sample_bytes = %llu\n"
               "# sampled objects are from the workers' malloc family "
               "(including OpenSSL, SQLite, jansson)\n",
               (unsigned long long)s->rate);
    for (int i = 0; i < s->nworkers; i++)
        buf_printf(out,
                   "\n# worker %u (pid %d) mallinfo2\n# Arena = %llu\n# Mmapped = %llu\n"
                   "# InUse = %llu\n# Free = %llu\n",
                   s->ws[i].worker_no, (int)s->ws[i].pid, (unsigned long long)s->mi[i][0],
                   (unsigned long long)s->mi[i][1], (unsigned long long)s->mi[i][2],
                   (unsigned long long)s->mi[i][3]);
    return 0;
}

static int wr_contention_text(prof_sym_t *sym, const char *name, const prof_snap_t *s, buf_t *out)
{
    int mutex = strcmp(name, "mutex") == 0;
    int64_t mult = mutex && s->rate ? (int64_t)s->rate : 1;
    if (s->n > 1)
        qsort(s->recs, s->n, sizeof *s->recs, wr_cmp_delay);
    buf_puts(out, "--- contention:\ncycles/second=1000000000\n");
    if (mutex)
        buf_printf(out, "sampling period=%llu\n", (unsigned long long)s->rate);
    for (size_t i = 0; i < s->n; i++) {
        const prof_rec_t *r = &s->recs[i];
        buf_printf(out, "%lld %lld", (long long)(r->v[1] * mult),
                   (long long)((r->v[0] + 500) / 1000 * mult));
        wr_text_pcs(out, r->pcs, r->n);
        wr_text_stack(sym, out, r->pcs, r->n);
        buf_puts(out, "\n");
    }
    return 0;
}

int prof_write_buckets(const prof_out_t *o, const char *name, const prof_snap_t *s, int debug,
                       uint64_t dur_ns, buf_t *out)
{
    int heap = strcmp(name, "heap") == 0 || strcmp(name, "allocs") == 0;
    if (debug > 0)
        return heap ? wr_heap_text(o->sym, s, out) : wr_contention_text(o->sym, name, s, out);
    prof_build_t *b = prof_build_new(o->sym);
    if (!b)
        return -1;
    int mutex = strcmp(name, "mutex") == 0;
    int offcpu = strcmp(name, "offcpu") == 0;
    if (heap) {
        prof_build_sample_type(b, "alloc_objects", "count");
        prof_build_sample_type(b, "alloc_space", "bytes");
        prof_build_sample_type(b, "inuse_objects", "count");
        prof_build_sample_type(b, "inuse_space", "bytes");
        prof_build_period(b, "space", "bytes", (int64_t)s->rate);
        if (strcmp(name, "allocs") == 0)
            prof_build_default_type(b, "alloc_space");
    } else if (offcpu) {
        prof_build_sample_type(b, "waits", "count");
        prof_build_sample_type(b, "off_cpu", "nanoseconds");
        prof_build_period(b, "waits", "count", 1);
        prof_build_comment(b, "magicd: time the workers were not running, by what they waited "
                              "on (label wait: epoll, io, lock, preemption)");
    } else {
        prof_build_sample_type(b, "contentions", "count");
        prof_build_sample_type(b, "delay", "nanoseconds");
        prof_build_period(b, "contentions", "count", 1);
    }
    prof_build_time(b, (int64_t)s->time_ns, (int64_t)dur_ns);
    if (heap)
        prof_build_virtual(b, PROF_PC_INHERITED, "magicd.inheritedFromMaster", "");
    int64_t mult = mutex && s->rate ? (int64_t)s->rate : 1;
    for (size_t i = 0; i < s->n; i++) {
        const prof_rec_t *r = &s->recs[i];
        char pid[16], wno[16];
        prof_label_t l[7];
        int nl = wr_worker_labels(o, l, pid, wno, r->w.pid, r->w.worker_no);
        int64_t v[4];
        char cls[24];
        if (heap) {
            wr_scale_heap(r->v[0], r->v[1], (int64_t)s->rate, &v[0], &v[1]);
            wr_scale_heap(r->v[0] - r->v[2], r->v[1] - r->v[3], (int64_t)s->rate, &v[2], &v[3]);
            if (r->v[0] > 0)
                l[nl++] = (prof_label_t){"bytes", NULL, r->v[1] / r->v[0], "bytes"};
            if (r->what[0]) /* "inherited": allocated by the master before fork */
                l[nl++] = (prof_label_t){"origin", r->what, 0, NULL};
        } else {
            v[0] = (r->v[0] + 500) / 1000 * mult;
            v[1] = r->v[1] * mult;
            const char *colon = offcpu ? strchr(r->what, ':') : NULL;
            if (offcpu) {
                /* "CLASS" or "CLASS:detail" */
                size_t k = colon ? (size_t)(colon - r->what) : strlen(r->what);
                memcpy(cls, r->what, k < sizeof cls ? k : sizeof cls - 1);
                cls[k < sizeof cls ? k : sizeof cls - 1] = 0;
                l[nl++] = (prof_label_t){"wait", cls, 0, NULL};
                if (colon && colon[1])
                    l[nl++] = (prof_label_t){"what", colon + 1, 0, NULL};
            } else if (r->what[0]) {
                l[nl++] = (prof_label_t){mutex ? "lock" : "what", r->what, 0, NULL};
            }
        }
        prof_build_sample(b, r->pcs, (int)r->n, v, l, nl);
    }
    int rc = prof_build_gzip(b, out);
    prof_build_free(b);
    return rc;
}

/* ---- goroutines ---- */

/*
 * Go's formats. debug=2 is runtime.Stack(all): for each goroutine
 *     goroutine ID [STATE, N minutes]:\n
 *     FUNC(...)\n
 *     \tFILE:LINE +0xOFF\n      (FILE ending .c, .go or .s, or "??")
 *     ...\n
 *     \n
 * which Go stack-dump parsers (panicparse and the like) read. IDs are
 * small integers as Go's are: 1..N for the workers, then the connections.
 * A worker is "running"; a connection waiting on its socket is "IO wait",
 * one being handled "running", with ", N minutes" after a minute in that
 * state as Go writes it. magicd's per-connection detail (state, peer,
 * requests, age, worker, the request line) rides in the wait reason, the
 * one free-text place the header has: "IO wait (keep-alive idle; peer
 * 127.0.0.1:5000; ...)", kept free of "]" and ", " so the header still
 * parses. debug=1 is runtime/pprof's "goroutine profile: total N" with
 * identical stacks grouped, "#\t0xPC\tFUNC+0xOFF\tFILE:LINE" per frame.
 *
 * A connection's frames are named for its state (magicd.(*conn).readRequest
 * ...), at real code addresses: inside the function of core/http_conn.c
 * that serves that state (http_conn_state_code) and the route's handler,
 * so every PC printed symbolizes to code magicd has.
 */

static const char *const wr_state_name[] = {
    [SHM_CONN_FREE] = "free",         [SHM_CONN_READING] = "reading request",
    [SHM_CONN_BODY] = "reading body", [SHM_CONN_HANDLING] = "handling",
    [SHM_CONN_WRITING] = "writing",   [SHM_CONN_IDLE] = "keep-alive idle",
};

static const char *const wr_state_func[] = {
    [SHM_CONN_FREE] = "magicd.(*conn).free",
    [SHM_CONN_READING] = "magicd.(*conn).readRequest",
    [SHM_CONN_BODY] = "magicd.(*conn).readBody",
    [SHM_CONN_HANDLING] = "magicd.(*conn).handle",
    [SHM_CONN_WRITING] = "magicd.(*conn).writeResponse",
    [SHM_CONN_IDLE] = "magicd.(*conn).keepAliveIdle",
};

/* Within the prologue of the function, where no call returns: distinct
 * per state, never equal to a return address of a real stack. */
static uint64_t wr_pc_state(unsigned st)
{
    return (uint64_t)(uintptr_t)http_conn_state_code((int)st) + st;
}

static uint64_t wr_pc_serve(void)
{
    return (uint64_t)(uintptr_t)http_conn_state_code(0);
}

static uint64_t wr_pc_route(unsigned r)
{
    route_fn fn = route_handler(r);
    return fn ? (uint64_t)(uintptr_t)fn + 1 + (r & 7) : 0;
}

int prof_count_goroutines(const shm_t *shm)
{
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(shm, ws), n = nw;
    for (int i = 0; i < nw; i++) {
        shm_conn_t *c = shm_slot_conns(shm, ws[i].slot);
        for (uint32_t k = 0; k < shm->hdr->conns_per_slot; k++)
            if (atomic_load(&c[k].state) != SHM_CONN_FREE)
                n++;
    }
    return n;
}

typedef struct {
    prof_worker_t w;
    shm_conn_t c; /* copy */
    unsigned n;
    uint64_t pcs[4];
    unsigned route; /* the route of pcs[0] when handling, else 0 */
} wr_conn_t;

static int wr_conns(const shm_t *shm, const prof_gor_t *g, int ng, wr_conn_t **out)
{
    size_t cap = 64, n = 0;
    wr_conn_t *v = malloc(cap * sizeof *v);
    if (!v)
        return -1;
    for (int i = 0; i < ng; i++) {
        shm_conn_t *c = shm_slot_conns(shm, g[i].w.slot);
        for (uint32_t k = 0; k < shm->hdr->conns_per_slot; k++) {
            uint32_t st = atomic_load(&c[k].state);
            if (st == SHM_CONN_FREE || st > SHM_CONN_IDLE)
                continue;
            if (n == cap) {
                wr_conn_t *nv = realloc(v, (cap *= 2) * sizeof *v);
                if (!nv)
                    break;
                v = nv;
            }
            wr_conn_t *e = &v[n++];
            e->w = g[i].w;
            memcpy(&e->c, &c[k], sizeof e->c);
            e->c.state = st;
            e->c.peer[sizeof e->c.peer - 1] = 0;
            e->c.request[sizeof e->c.request - 1] = 0;
            e->n = 0;
            e->route = 0;
            if (st == SHM_CONN_HANDLING && e->c.route < ROUTE_COUNT && wr_pc_route(e->c.route)) {
                e->pcs[e->n++] = wr_pc_route(e->c.route);
                e->route = e->c.route;
            }
            e->pcs[e->n++] = wr_pc_state(st);
            e->pcs[e->n++] = wr_pc_serve();
        }
    }
    *out = v;
    return (int)n;
}

/* The name of a connection frame, or NULL for an ordinary PC. */
static const char *wr_conn_frame(const wr_conn_t *e, uint64_t pc, char *tmp, size_t n)
{
    if (pc == wr_pc_serve())
        return "magicd.(*conn).serve";
    if (pc == wr_pc_state(e->c.state))
        return wr_state_func[e->c.state];
    if (e->route && pc == wr_pc_route(e->route)) {
        snprintf(tmp, n, "magicd.route(%s)", route_name(e->route));
        return tmp;
    }
    return NULL;
}

static void wr_virtual_frames(prof_build_t *b, const wr_conn_t *cs, int nc)
{
    char tmp[96];
    for (int i = 0; i < nc; i++)
        for (unsigned k = 0; k < cs[i].n; k++)
            prof_build_virtual(b, cs[i].pcs[k],
                               wr_conn_frame(&cs[i], cs[i].pcs[k], tmp, sizeof tmp),
                               "core/http_conn.c");
}

/* A file name Go's dump format can carry: .c, .go or .s, else "??". */
static const char *wr_go_file(const char *f)
{
    size_t n = f ? strlen(f) : 0;
    if (n > 2 && (!strcmp(f + n - 2, ".c") || !strcmp(f + n - 2, ".s")))
        return f;
    if (n > 3 && !strcmp(f + n - 3, ".go"))
        return f;
    return "??";
}

/* Free text for a wait reason: no "]" (ends the header) and no ", " (Go's
 * item separator there). */
static void wr_reason_text(buf_t *out, const char *s)
{
    for (; *s; s++) {
        char ch = *s;
        if (ch == ']')
            ch = ')';
        else if (ch == '[')
            ch = '(';
        else if (ch == ',' || (unsigned char)ch < 0x20 || (unsigned char)ch >= 0x7f)
            ch = ';';
        buf_append(out, &ch, 1);
    }
}

/* A frame of debug=2: FUNC(...)\n\tFILE:LINE +0xOFF\n */
static void wr_frame2(buf_t *out, const char *func, const char *file, long long line, uint64_t off)
{
    buf_printf(out, "%s(...)\n\t%s:%lld +0x%llx\n", func[0] ? func : "??", wr_go_file(file), line,
               (unsigned long long)off);
}

static void wr_conn_text2(prof_sym_t *sym, buf_t *out, int id, const wr_conn_t *e, uint64_t now_ms)
{
    uint64_t age = now_ms > e->c.accepted_ms ? now_ms - e->c.accepted_ms : 0;
    uint64_t in_state = now_ms > e->c.state_ms ? now_ms - e->c.state_ms : 0;
    const char *st = wr_state_name[e->c.state];
    int running = e->c.state == SHM_CONN_HANDLING;
    buf_printf(out, "goroutine %d [%s (", id, running ? "running" : "IO wait");
    char detail[512];
    snprintf(detail, sizeof detail,
             "%s%s%s; peer %s; %u requests; age %llu ms; worker %u pid %d; fd %d; \"%s\"", st,
             running ? " " : "", running ? route_name(e->c.route) : "", e->c.peer, e->c.nrequests,
             (unsigned long long)age, e->w.worker_no, (int)e->w.pid, e->c.fd, e->c.request);
    wr_reason_text(out, detail);
    buf_puts(out, ")");
    if (in_state >= 60000)
        buf_printf(out, ", %llu minutes", (unsigned long long)(in_state / 60000));
    buf_puts(out, "]:\n");
    char tmp[96];
    for (unsigned i = 0; i < e->n; i++) {
        const prof_frame_t *fr;
        int m;
        int k = prof_sym_lookup(sym, e->pcs[i], &fr, &m);
        wr_frame2(out, wr_conn_frame(e, e->pcs[i], tmp, sizeof tmp), k > 0 ? fr[k - 1].file : "",
                  k > 0 ? (long long)fr[k - 1].line : 0, prof_sym_offset(sym, e->pcs[i]));
    }
    buf_puts(out, "\n");
}

static void wr_worker_text2(prof_sym_t *sym, buf_t *out, int id, const prof_gor_t *g)
{
    buf_printf(out, "goroutine %d [running (worker %u pid %d)]:\n", id, g->w.worker_no,
               (int)g->w.pid);
    if (!g->n)
        buf_puts(out, "magicd.worker(...)\n\t??:0\n"); /* did not answer in time */
    for (unsigned i = 0; i < g->n; i++) {
        const prof_frame_t *fr;
        int m;
        int k = prof_sym_lookup(sym, g->pcs[i], &fr, &m);
        uint64_t off = prof_sym_offset(sym, g->pcs[i]);
        for (int j = 0; j < k; j++)
            wr_frame2(out, fr[j].func, fr[j].file, (long long)fr[j].line, off);
        if (k <= 0)
            wr_frame2(out, "??", "", 0, off);
    }
    buf_puts(out, "\n");
}

/* debug=1: identical stacks grouped, largest group first. */
typedef struct {
    const uint64_t *pcs;
    unsigned n;
    int count;
    const wr_conn_t *conn; /* a connection with this stack, for frame names */
} wr_group_t;

static int wr_cmp_group(const void *a, const void *b)
{
    return ((const wr_group_t *)b)->count - ((const wr_group_t *)a)->count;
}

static void wr_group_add(wr_group_t *gs, int *ng, const uint64_t *pcs, unsigned n,
                         const wr_conn_t *conn)
{
    for (int i = 0; i < *ng; i++)
        if (gs[i].n == n && memcmp(gs[i].pcs, pcs, n * sizeof *pcs) == 0) {
            gs[i].count++;
            return;
        }
    gs[*ng] = (wr_group_t){pcs, n, 1, conn};
    (*ng)++;
}

static void wr_gor_text1(prof_sym_t *sym, buf_t *out, const prof_gor_t *g, int ng,
                         const wr_conn_t *cs, int nc)
{
    wr_group_t *gs = calloc((size_t)(ng + nc + 1), sizeof *gs);
    int n = 0;
    if (!gs)
        return;
    for (int i = 0; i < ng; i++)
        wr_group_add(gs, &n, g[i].pcs, g[i].n, NULL);
    for (int i = 0; i < nc; i++)
        wr_group_add(gs, &n, cs[i].pcs, cs[i].n, &cs[i]);
    qsort(gs, (size_t)n, sizeof *gs, wr_cmp_group);
    buf_printf(out, "goroutine profile: total %d\n", ng + nc);
    char tmp[96];
    for (int i = 0; i < n; i++) {
        buf_printf(out, "%d", gs[i].count);
        wr_text_pcs(out, gs[i].pcs, gs[i].n);
        if (!gs[i].conn) {
            wr_text_stack(sym, out, gs[i].pcs, gs[i].n);
        } else {
            for (unsigned k = 0; k < gs[i].n; k++) {
                const prof_frame_t *fr;
                int m;
                int kk = prof_sym_lookup(sym, gs[i].pcs[k], &fr, &m);
                buf_printf(out, "#\t%#llx\t%s+0x%llx\t%s:%lld\n", (unsigned long long)gs[i].pcs[k],
                           wr_conn_frame(gs[i].conn, gs[i].pcs[k], tmp, sizeof tmp),
                           (unsigned long long)prof_sym_offset(sym, gs[i].pcs[k]),
                           kk > 0 ? fr[kk - 1].file : "core/http_conn.c",
                           kk > 0 ? (long long)fr[kk - 1].line : 0);
            }
        }
        buf_puts(out, "\n");
    }
    free(gs);
}

int prof_write_goroutine(const prof_out_t *o, const shm_t *shm, const prof_gor_t *g, int ng,
                         int debug, buf_t *out)
{
    wr_conn_t *cs = NULL;
    int nc = wr_conns(shm, g, ng, &cs);
    if (nc < 0)
        return -1;
    int rc = 0;
    if (debug >= 2) {
        uint64_t now = clock_mono_ms();
        for (int i = 0; i < ng; i++)
            wr_worker_text2(o->sym, out, i + 1, &g[i]);
        for (int i = 0; i < nc; i++)
            wr_conn_text2(o->sym, out, ng + i + 1, &cs[i], now);
    } else if (debug == 1) {
        wr_gor_text1(o->sym, out, g, ng, cs, nc);
    } else {
        prof_build_t *b = prof_build_new(o->sym);
        if (!b) {
            free(cs);
            return -1;
        }
        prof_build_sample_type(b, "goroutine", "count");
        prof_build_period(b, "goroutine", "count", 1);
        prof_build_time(b, (int64_t)clock_wall_ns(), 0);
        wr_virtual_frames(b, cs, nc);
        int64_t one = 1;
        for (int i = 0; i < ng; i++) {
            char pid[16], wno[16];
            prof_label_t l[6];
            int nl = wr_worker_labels(o, l, pid, wno, g[i].w.pid, g[i].w.worker_no);
            prof_build_sample(b, g[i].pcs, (int)g[i].n, &one, l, nl);
        }
        for (int i = 0; i < nc; i++) {
            char pid[16], wno[16];
            prof_label_t l[7];
            int nl = wr_worker_labels(o, l, pid, wno, cs[i].w.pid, cs[i].w.worker_no);
            l[nl++] = (prof_label_t){"state", wr_state_name[cs[i].c.state], 0, NULL};
            if (cs[i].c.state == SHM_CONN_HANDLING)
                l[nl++] = (prof_label_t){"route", route_name(cs[i].c.route), 0, NULL};
            prof_build_sample(b, cs[i].pcs, (int)cs[i].n, &one, l, nl);
        }
        rc = prof_build_gzip(b, out);
        prof_build_free(b);
    }
    free(cs);
    return rc;
}

int prof_write_threadcreate(const prof_out_t *o, const shm_t *shm, int debug, buf_t *out)
{
    /* Each worker is one single-threaded process: one "thread" each. */
    prof_worker_t ws[SHM_MAX_SLOTS];
    int nw = prof_workers(shm, ws);
    if (debug > 0) {
        buf_printf(out, "threadcreate profile: total %d\n", nw);
        for (int i = 0; i < nw; i++)
            buf_printf(out, "1 @\n# worker %u (pid %d)\n\n", ws[i].worker_no, (int)ws[i].pid);
        return 0;
    }
    prof_build_t *b = prof_build_new(o->sym);
    if (!b)
        return -1;
    prof_build_sample_type(b, "threadcreate", "count");
    prof_build_period(b, "threadcreate", "count", 1);
    prof_build_time(b, (int64_t)clock_wall_ns(), 0);
    int64_t one = 1;
    for (int i = 0; i < nw; i++) {
        char pid[16], wno[16];
        prof_label_t l[5];
        int nl = wr_worker_labels(o, l, pid, wno, ws[i].pid, ws[i].worker_no);
        prof_build_sample(b, NULL, 0, &one, l, nl);
    }
    int rc = prof_build_gzip(b, out);
    prof_build_free(b);
    return rc;
}
