/*
 * disk-probe.c - does this disk serve flushes of different files at once?
 *
 * The spool's group commit (core/spool_commit.c) writes a batch over a
 * pre-zeroed file and fdatasyncs it; how many batches it can commit per
 * second depends on whether two fdatasyncs of two files, issued from two
 * threads, overlap on this disk or queue behind each other. This probe
 * answers that directly: for each thread count given, every thread opens a
 * file of its own, zero-fills it and syncs it (as core/spool_pool.c does),
 * then for the duration overwrites the start of it and fdatasyncs, in a
 * loop. It prints the total syncs per second and the latency of one
 * overwrite + fdatasync (p50, p90, p99) over all threads.
 *
 *   cc -O2 -pthread -o disk-probe tools/disk-probe.c
 *   ./disk-probe [-m] [-d DIR] [-b BYTES] [-s SECONDS] THREADS...
 *   ./disk-probe -d /var/tmp -b 20000 -s 3 1 2 4
 *
 * If N threads give about N times the syncs of one at a similar latency,
 * the disk overlaps the flushes and several batches in flight pay; if the
 * total stays flat while each latency grows N times, they are serialised
 * (one cache flush at a time) and a second sync thread buys nothing. The
 * files are removed at the end. A measuring tool, not part of the server.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PROBE_FILE_BYTES (64 * 1024)
#define PROBE_MAX_THREADS 64
#define PROBE_MAX_SAMPLES (1 << 20)

typedef struct {
    int fd;
    size_t bytes;
    double end;
    double *lat; /* seconds per sync */
    size_t n;
    int err;
} probe_thread_t;

static _Atomic size_t probe_syncs; /* done by all sync threads */

typedef struct {
    const char *dir;
    double end;
    size_t made;
    int err;
} probe_maker_t;

static double probe_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *probe_run(void *arg)
{
    probe_thread_t *t = arg;
    static const char payload[PROBE_FILE_BYTES] = {'x'};

    while (t->n < PROBE_MAX_SAMPLES) {
        double a = probe_now();
        if (a >= t->end)
            break;
        if (pwrite(t->fd, payload, t->bytes, 0) != (ssize_t)t->bytes || fdatasync(t->fd) < 0) {
            t->err = errno;
            break;
        }
        t->lat[t->n++] = probe_now() - a;
        atomic_fetch_add(&probe_syncs, 1);
    }
    return NULL;
}

/* -m: what core/spool_pool.c does for every batch file, one file per sync
 * done by the others: create in DIR, rename, zero-fill with RWF_DSYNC (a
 * journal commit: the blocks are new), fsync DIR every 16 files. Shows what
 * the pool's metadata costs the syncs it runs beside. */
static void *probe_make(void *arg)
{
    probe_maker_t *m = arg;
    static char zeros[PROBE_FILE_BYTES];
    char a[4096], b[4096];
    int dfd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0) {
        m->err = errno;
        return NULL;
    }
    while (probe_now() < m->end) {
        if (m->made >= atomic_load(&probe_syncs)) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
            continue;
        }
        snprintf(a, sizeof(a), "%s/.disk-probe-make.%ld", m->dir, (long)getpid());
        snprintf(b, sizeof(b), "%s/disk-probe-made.%ld.%zu", m->dir, (long)getpid(), m->made % 64);
        int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        struct iovec iov = {.iov_base = zeros, .iov_len = sizeof(zeros)};
        if (fd < 0 || rename(a, b) < 0 || pwritev2(fd, &iov, 1, 0, RWF_DSYNC) < 0) {
            m->err = errno;
            break;
        }
        close(fd);
        if (++m->made % 16 == 0 && fsync(dfd) < 0) {
            m->err = errno;
            break;
        }
    }
    for (size_t i = 0; i < 64; i++) {
        snprintf(b, sizeof(b), "%s/disk-probe-made.%ld.%zu", m->dir, (long)getpid(), i);
        unlink(b);
    }
    close(dfd);
    return NULL;
}

static int probe_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int probe_one(const char *dir, size_t bytes, double secs, int nth, int make)
{
    static char zeros[PROBE_FILE_BYTES];
    probe_thread_t t[PROBE_MAX_THREADS];
    pthread_t th[PROBE_MAX_THREADS];
    char path[4096];
    int rc = 0;

    memset(t, 0, sizeof(t));
    for (int i = 0; i < nth; i++) {
        snprintf(path, sizeof(path), "%s/disk-probe.%ld.%d", dir, (long)getpid(), i);
        t[i].fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (t[i].fd < 0) {
            fprintf(stderr, "disk-probe: open %s: %s\n", path, strerror(errno));
            return -1;
        }
        unlink(path); /* gone when closed, whatever happens */
        struct iovec iov = {.iov_base = zeros, .iov_len = sizeof(zeros)};
        if (pwritev2(t[i].fd, &iov, 1, 0, RWF_DSYNC) != (ssize_t)sizeof(zeros)) {
            fprintf(stderr, "disk-probe: zero-fill: %s\n", strerror(errno));
            return -1;
        }
        t[i].bytes = bytes;
        t[i].lat = malloc(PROBE_MAX_SAMPLES * sizeof(double));
        if (!t[i].lat)
            return -1;
    }
    double start = probe_now();
    probe_maker_t mk = {.dir = dir, .end = start + secs};
    pthread_t mth;
    atomic_store(&probe_syncs, 0);
    if (make)
        pthread_create(&mth, NULL, probe_make, &mk);
    for (int i = 0; i < nth; i++) {
        t[i].end = start + secs;
        pthread_create(&th[i], NULL, probe_run, &t[i]);
    }
    size_t total = 0;
    for (int i = 0; i < nth; i++) {
        pthread_join(th[i], NULL);
        if (t[i].err) {
            fprintf(stderr, "disk-probe: write/fdatasync: %s\n", strerror(t[i].err));
            rc = -1;
        }
        total += t[i].n;
    }
    double took = probe_now() - start;
    if (make) {
        pthread_join(mth, NULL);
        if (mk.err) {
            fprintf(stderr, "disk-probe: making files: %s\n", strerror(mk.err));
            rc = -1;
        }
    }
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < nth; i++) {
        memcpy(all + k, t[i].lat, t[i].n * sizeof(double));
        k += t[i].n;
        free(t[i].lat);
        close(t[i].fd);
    }
    qsort(all, total, sizeof(double), probe_cmp);
#define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] * 1e3 : 0.0)
    printf("threads %2d%s  %8.0f syncs/s total  (%zu in %.2f s)  per sync p50 %.3f ms  p90 %.3f ms "
           " p99 "
           "%.3f ms\n",
           nth, make ? " + maker" : "", (double)total / took, total, took, PCT(0.50), PCT(0.90),
           PCT(0.99));
#undef PCT
    free(all);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp";
    size_t bytes = 4096;
    double secs = 3;
    int opt, rc = 0, make = 0;

    while ((opt = getopt(argc, argv, "d:b:s:m")) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'b':
            bytes = (size_t)strtoul(optarg, NULL, 10);
            break;
        case 's':
            secs = strtod(optarg, NULL);
            break;
        case 'm':
            make = 1;
            break;
        default:
            goto usage;
        }
    }
    if (optind == argc || bytes == 0 || bytes > PROBE_FILE_BYTES || secs <= 0)
        goto usage;
    printf("disk-probe: %s, %zu bytes over a zero-filled %d KiB file + fdatasync, %.1f s each\n",
           dir, bytes, PROBE_FILE_BYTES / 1024, secs);
    for (int i = optind; i < argc; i++) {
        int n = atoi(argv[i]);
        if (n < 1 || n > PROBE_MAX_THREADS)
            goto usage;
        if (probe_one(dir, bytes, secs, n, make) < 0)
            rc = 1;
    }
    return rc;
usage:
    fprintf(stderr, "usage: disk-probe [-m] [-d DIR] [-b BYTES<=%d] [-s SECONDS] THREADS...\n",
            PROBE_FILE_BYTES);
    return 2;
}
