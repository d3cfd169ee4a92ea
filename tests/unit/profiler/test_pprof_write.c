/*
 * test_pprof_write.c - heap, block and mutex profiles from shm buckets.
 *
 * Puts known records in a worker slot's bucket table (as the samplers
 * would), then checks what the profiler serves: Go's heap scaling
 * (scaleHeapSample) on alloc_* and inuse_*, block counts from thousandths,
 * mutex values multiplied by the fraction, the pid/worker labels, the text
 * form's header, and that a delta (prof_snap_sub) keeps only what changed.
 * The binary profiles are gunzipped and decoded by protoc against
 * tests/unit/profiler/profile.proto.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/shm.h"
#include "sampler/prof_bucket.h"
#include "profiler/prof_snap.h"
#include "profiler/prof_write.h"
#include "tests/unit/unit.h"

/* gunzip + protoc --decode; the text, or NULL */
static char *decode(const buf_t *gz)
{
    size_t cap = 1 << 20;
    char *raw = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    inflateInit2(&z, 15 + 16);
    z.next_in = (Bytef *)gz->data;
    z.avail_in = (uInt)gz->len;
    z.next_out = (Bytef *)raw;
    z.avail_out = (uInt)cap;
    int rc = inflate(&z, Z_FINISH);
    size_t n = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(raw);
        return NULL;
    }
    char path[] = "/tmp/test_pprof_write.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, raw, n) != (ssize_t)n) {
        free(raw);
        return NULL;
    }
    close(fd);
    free(raw);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "protoc --proto_path=tests/unit --decode=perftools.profiles.Profile "
             "tests/unit/profiler/profile.proto < %s",
             path);
    FILE *p = popen(cmd, "r");
    char *out = calloc(1, cap);
    size_t got = p ? fread(out, 1, cap - 1, p) : 0;
    out[got] = 0;
    if (!p || pclose(p) != 0) {
        free(out);
        out = NULL;
    }
    unlink(path);
    return out;
}

int main(void);

__attribute__((noinline)) static void alloc_site(void)
{
    __asm__ volatile("");
}

static prof_bucket_t *put(void *area, unsigned kind, const char *what, int64_t a, int64_t b,
                          int64_t c, int64_t d)
{
    uint64_t pcs[2] = {(uint64_t)(uintptr_t)&alloc_site, (uint64_t)(uintptr_t)&main + 1};
    prof_bucket_t *bk = prof_bucket_get(area, kind, what, pcs, 2);
    prof_bucket_add(bk, 0, a);
    prof_bucket_add(bk, 1, b);
    prof_bucket_add(bk, 2, c);
    prof_bucket_add(bk, 3, d);
    return bk;
}

int main(void)
{
    if (system("command -v protoc >/dev/null 2>&1") != 0) {
        printf("skip: protoc not installed\n");
        return 77;
    }
    shm_t shm;
    CHECK(shm_create(&shm, 4, 4096) == 0);
    void *area = shm_slot_prof(&shm, 0);
    atomic_store(&shm_slot(&shm, 0)->pid, (int32_t)getpid());
    atomic_store(&shm_slot(&shm, 0)->worker_no, 3);
    prof_slot_t *ps = prof_slot(area);
    atomic_store(&ps->pid, (int32_t)getpid());
    atomic_store(&ps->magic, PROF_SLOT_MAGIC);
    atomic_store(&ps->heap_rate, 512 * 1024);
    atomic_store(&prof_ctl(&shm)->heap_rate, 512 * 1024);
    atomic_store(&prof_ctl(&shm)->mutex_fraction, 10);

    prof_bucket_t *heap = put(area, PROF_B_HEAP, NULL, 10, 10 * 1024, 4, 4 * 1024);
    put(area, PROF_B_BLOCK, "sqlite3_step", 2500, 5000000, 0, 0);
    put(area, PROF_B_MUTEX, "ratelimit", 1000, 2000, 0, 0);
    prof_sym_t *sym = prof_sym_new();
    prof_out_t wo = {sym, "node-a", "9.9.9"};

    /* heap: Go's scaleHeapSample */
    prof_snap_t snap;
    CHECK(prof_snap_take(&shm, PROF_B_HEAP, &snap) == 0 && snap.n == 1);
    buf_t out = {0};
    CHECK(prof_write_buckets(&wo, "heap", &snap, 0, 0, &out) == 0);
    char *txt = decode(&out);
    CHECK(txt != NULL);
    double scale = 1.0 / (1.0 - exp(-1024.0 / (512.0 * 1024)));
    char want[256];
    snprintf(want, sizeof want, "  value: %lld\n  value: %lld\n  value: %lld\n  value: %lld\n",
             (long long)(10 * scale), (long long)(10240 * scale), (long long)(6 * scale),
             (long long)(6144 * scale));
    CHECK(txt && strstr(txt, want));
    CHECK(txt && strstr(txt, "string_table: \"inuse_space\""));
    CHECK(txt && strstr(txt, "period: 524288"));
    /* every sample names its node and version */
    CHECK(txt && strstr(txt, "string_table: \"node-a\"") && strstr(txt, "string_table: \"node\""));
    CHECK(txt && strstr(txt, "string_table: \"9.9.9\"") &&
          strstr(txt, "string_table: \"version\""));
    CHECK(txt && strstr(txt, "string_table: \"alloc_site\""));
    snprintf(want, sizeof want, "string_table: \"%d\"", (int)getpid());
    CHECK(txt && strstr(txt, want) && strstr(txt, "string_table: \"worker\"") &&
          strstr(txt, "string_table: \"3\""));
    if (unit_failures && txt)
        fputs(txt, stderr);
    free(txt);
    buf_reset(&out);

    /* heap text form */
    CHECK(prof_write_buckets(&wo, "heap", &snap, 1, 0, &out) == 0);
    buf_append(&out, "", 1);
    CHECK(strncmp(out.data, "heap profile: 6: 6144 [10: 10240] @ heap/1048576\n", 49) == 0);
    if (!strstr(out.data, "\talloc_site+0x")) {
        fputs(out.data, stderr);
        CHECK(0);
    }
    buf_reset(&out);

    /* delta: only what changed between two snapshots */
    prof_snap_t later;
    prof_bucket_add(heap, 0, 5);
    prof_bucket_add(heap, 1, 5 * 1024);
    put(area, PROF_B_HEAP, "other", 1, 100, 0, 0); /* a new stack */
    CHECK(prof_snap_take(&shm, PROF_B_HEAP, &later) == 0 && later.n == 2);
    prof_snap_sub(&later, &snap);
    CHECK(later.n == 2);
    int found = 0;
    for (size_t i = 0; i < later.n; i++)
        if (later.recs[i].v[0] == 5 && later.recs[i].v[1] == 5120 && later.recs[i].v[2] == 0)
            found++;
    CHECK(found == 1);
    prof_snap_t same;
    CHECK(prof_snap_take(&shm, PROF_B_HEAP, &same) == 0);
    prof_snap_t again;
    CHECK(prof_snap_take(&shm, PROF_B_HEAP, &again) == 0);
    prof_snap_sub(&again, &same);
    CHECK(again.n == 0); /* nothing happened: an empty delta */
    prof_snap_free(&same);
    prof_snap_free(&again);
    prof_snap_free(&later);
    prof_snap_free(&snap);

    /* block: counts kept in thousandths, rounded */
    CHECK(prof_snap_take(&shm, PROF_B_BLOCK, &snap) == 0 && snap.n == 1);
    CHECK(prof_write_buckets(&wo, "block", &snap, 0, 0, &out) == 0);
    txt = decode(&out);
    CHECK(txt && strstr(txt, "  value: 3\n  value: 5000000\n"));
    CHECK(txt && strstr(txt, "string_table: \"contentions\"") &&
          strstr(txt, "string_table: \"sqlite3_step\""));
    free(txt);
    buf_reset(&out);
    prof_snap_free(&snap);

    /* mutex: multiplied by the fraction */
    CHECK(prof_snap_take(&shm, PROF_B_MUTEX, &snap) == 0 && snap.n == 1);
    CHECK(prof_write_buckets(&wo, "mutex", &snap, 0, 0, &out) == 0);
    txt = decode(&out);
    CHECK(txt && strstr(txt, "  value: 10\n  value: 20000\n"));
    free(txt);
    buf_reset(&out);
    CHECK(prof_write_buckets(&wo, "mutex", &snap, 1, 0, &out) == 0);
    buf_append(&out, "", 1);
    CHECK(strncmp(out.data,
                  "--- contention:\ncycles/second=1000000000\nsampling period=10\n20000 10 @",
                  70) == 0);
    prof_snap_free(&snap);
    buf_free(&out);
    prof_sym_free(sym);
    shm_destroy(&shm);
    if (unit_failures) {
        fprintf(stderr, "%d failure(s)\n", unit_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
