/*
 * spool_commit.c - group commit of spool messages on a sync thread (see
 * spool_commit.h for what it promises).
 *
 * Why a thread. The sync has to happen somewhere other than the loop; the
 * candidates were io_uring (the kernel has IORING_OP_FSYNC, but the
 * open/write/rename around it would still block unless they go through the
 * ring too, Debian's kernel config and seccomp profiles in containers
 * often disable it, and it needs liburing or a hand-rolled ring), the
 * mailer acking on a socket (a second process on every link's critical
 * path: a mailer restart or a full socket would stall or fail generates,
 * and the mailer would have to do the same group commit anyway), and a
 * thread. A thread that does nothing but write a prepared buffer and sync
 * it is the smallest thing that works everywhere: it shares no state with
 * the loop but two batch buffers handed over under a mutex, calls no
 * allocator (the heap sampler's tables are per-thread-unsafe by design),
 * takes no signal (all blocked, so SIGPROF and the master's signals stay
 * with the loop's thread), and reports back through an eventfd the loop
 * already knows how to wait on.
 *
 * Three batches. The loop appends records to the batch "in formation"; at
 * the end of the loop iteration in which the first record arrived
 * (ev_defer, so every request of one epoll batch joins), if the thread is
 * idle it gets that batch and an empty one starts forming. While it writes
 * and syncs, new records form the next batch. When the eventfd fires, the
 * loop first hands the batch in formation to the thread (if it has
 * records), then answers the synced batch's waiters and resets it: the
 * disk does not wait for the loop's writes to every client, which is why
 * there are three and not two (forming, syncing, being answered). So
 * batches grow with the load: one record each when the server is quiet (no
 * added latency beyond the sync), everything that came in during one sync
 * when it is busy.
 *
 * Where a commit's time goes, and why one sync thread. With 64 closed-loop
 * clients on one worker the loop sees about 30 links per fdatasync. Timed
 * inside the thread (temporary timestamps, per batch, medians): 0.05 ms
 * from the hand-over to the thread running, 0.005 ms writing, 0.19 ms in
 * fdatasync (what the disk takes alone, tools/disk-probe.c), 0.04 ms from
 * the eventfd to the loop's callback, 0.12 ms answering. Two designs that
 * keep the disk busier were built and run side by side with this one
 * (tools/bench-spool-ab.sh: all servers up at once, short runs in turn):
 * the thread taking the next batch itself the moment it has synced one,
 * without a wake-up from the loop; and two sync threads, each filling a
 * file of its own (this disk serves two flushes at once). Neither was
 * faster (about 60,000 requests/s each, docs/results.md): their batches
 * are smaller, so they pay more commits' worth of CPU per link, and on
 * two cores shared with the clients the CPU, not the disk, is what runs
 * out. Earlier machines gave the same answer for two threads with a file
 * per batch. So one thread, woken by the loop at the end of the loop
 * iteration in which the first record of a batch arrived.
 *
 * The file, one flush per batch, one file per many batches. Maildir's
 * recipe (write tmp/X, fsync, rename to new/X, fsync new/) flushes the
 * disk twice, and each flush is the whole cost on a busy disk. So the
 * batch files are made ahead of time by the worker's pool thread
 * (core/spool_pool.h): each is already named durably in new/, locked by
 * this process, and zeros on stable storage (sized from how much the last
 * files held). The thread writes each batch after the last one in the
 * file it is filling, over those zeros, and fdatasyncs it; a batch is
 * written only after the one before it has synced, so only the last batch
 * of a file can ever be torn. It closes the file (which drops the lock:
 * the mailer may take it) when the next batch does not fit, when nothing
 * came for SC_SEAL_IDLE_MS, or once it has been written to for
 * SC_SEAL_AGE_MS, so a link reaches the mailer within a bounded time even
 * under steady load. A file per batch made the pool create, lock, zero and
 * sync a file for every commit, one journal commit each on the same disk:
 * with it, the commit's fdatasync took 0.46 ms at the median; with a file
 * per about a thousand links it takes 0.19 ms, what the disk takes alone
 * (tools/disk-probe.c; docs/results.md has the runs).
 *
 * Why over zeros. An fdatasync after an append must also commit the file's
 * new size and its newly allocated blocks: on ext4 that is a journal
 * commit, which waits for everything else in the running transaction
 * (every other process's metadata on the same file system), then a cache
 * flush. An overwrite of blocks that are allocated, written and inside the
 * size changes nothing fdatasync must carry (only the times), so it is a
 * data write and a cache flush. Measured on the machine this was written on
 * (ext4 on a virtio disk, 200 tries each): 4 KiB written to an empty file +
 * fdatasync, p50 0.41-0.46 ms; the same over a zero-filled synced file,
 * 0.19-0.25 ms; over fallocate()d blocks, 0.28-0.40 ms (their unwritten
 * extents are converted at the first write: metadata again). A batch larger
 * than the file still works: the file grows, and that commit pays for it.
 *
 * The mailer takes only batch files it can lock (so never one being
 * filled, nor one waiting in a pool), removes never-written ones (empty
 * or all zeros) whose owner died, drops the zero padding after the last
 * trailer, and sends a batch only after checking its count and checksum: a
 * batch cut short by a power loss before its fdatasync returned (none of
 * its waiters was answered) fails the check, the whole ones before it are
 * sent, and the file goes to failed/. A file that lost its name (removed
 * by hand) fails every batch written to it: its links would never be
 * sent, so no 200 is given for them. Each batch starts on a 4 KiB block of
 * its own, so writing one never rewrites the block of one already
 * acknowledged; the file is cut to its last batch when it is closed.
 */
#include "core/spool_commit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/spool.h"
#include "core/spool_batch.h"
#include "core/spool_pool.h"

#define SC_TRAILER_MAX 64
#define SC_DECOY_DEFAULT 400
#define SC_SEAL_IDLE_MS 5  /* a file with nothing more to write after this long is closed */
#define SC_SEAL_AGE_MS 100 /* ... and one written to for this long, even while busy */
#define SC_BLOCK 4096      /* each batch starts at a multiple of this */

typedef struct {
    spool_done_fn done; /* NULL: cancelled */
    void *arg;
} sc_waiter_t;

typedef struct {
    char *buf;
    size_t len, cap;
    unsigned count;
    sc_waiter_t *w;
    size_t nw, capw;
    /* set by the thread */
    char name[SPOOL_POOL_NAME_MAX]; /* the file it went to */
    int rc;
    int err;        /* errno of the failed step */
    const char *op; /* which step failed */
} sc_batch_t;

struct spool_committer {
    ev_loop_t *loop;
    ev_io_t io;
    int efd;
    int newfd, tmpfd;
    char dir[1024];
    char tag[17];       /* random per process: names never collide across restarts */
    spool_pool_t *pool; /* batch files made ahead */
    pthread_t th;
    int th_started;
    /* The file the thread writes batches into (thread only): each batch goes
     * after the last one, over the zeros it was made with. */
    int seg_fd; /* -1: none open */
    char seg_name[SPOOL_POOL_NAME_MAX];
    size_t seg_off, seg_cap;
    uint64_t seg_born_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sc_batch_t b[3];
    int forming;               /* index of the batch in formation (loop) */
    int inflight;              /* index of the batch the thread owns, -1: none */
    int answering;             /* index of the batch whose waiters sc_on_done answers, -1 */
    uint64_t handed, finished; /* batches given to / done by the thread (mu) */
    int stop;
    int kick_pending;
    uint64_t batches;
    char err[1400];
};

static uint64_t sc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Thread side: close the file being filled, which drops our lock, so the
 * mailer may take it from then on (its close fires the mailer's inotify).
 * How much it held sizes the files made next. */
static void sc_seal(spool_committer_t *q)
{
    if (q->seg_fd < 0)
        return;
    spool_pool_hint(q->pool, q->seg_off);
    /* The zeros after the last batch are no use to anyone: a quiet worker
     * closes a file after one link, and while the relay is down the files
     * wait as they are. Not synced: a crash leaves the zeros, which readers
     * drop anyway. */
    if (q->seg_off > 0 && ftruncate(q->seg_fd, (off_t)q->seg_off) < 0) {
        /* the file keeps its padding */
    }
    close(q->seg_fd);
    q->seg_fd = -1;
}

/* Thread side: the file the next batch goes into, with room for len bytes
 * when a fresh one has it (a batch larger than a whole file still goes in
 * one: the file grows and that commit pays for the metadata). */
static int sc_segment(spool_committer_t *q, sc_batch_t *b)
{
    struct stat st;
    int fd;

    if (q->seg_fd >= 0 && q->seg_off + b->len <= q->seg_cap)
        return 0;
    sc_seal(q);
    if (spool_pool_take(q->pool, &fd, q->seg_name, &b->err, &b->op) < 0) {
        memcpy(b->name, q->seg_name, sizeof(b->name));
        return -1;
    }
    q->seg_fd = fd;
    q->seg_off = 0;
    q->seg_cap = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
    q->seg_born_ms = sc_now_ms();
    return 0;
}

/* Thread side: write the batch after the last one in the file being
 * filled (over its zeros) and fdatasync it. One flush of the disk per
 * batch, with no metadata to commit while the batch fits in the zeros, and
 * no new file per batch (a file is made ahead per SPOOL_POOL_FILE_MAX of
 * links, not per commit). No allocation, no logging. */
static void sc_commit(spool_committer_t *q, sc_batch_t *b)
{
    int n;

    b->rc = -1;
    n = spool_batch_put_end(b->buf + b->len, b->cap - b->len, b->buf, b->len, b->count);
    if (n < 0) {
        b->err = ENOSPC, b->op = "format";
        return;
    }
    b->len += (size_t)n;
    if (sc_segment(q, b) < 0)
        return;
    memcpy(b->name, q->seg_name, sizeof(b->name));
    if (spool_pwrite_all(q->seg_fd, b->buf, b->len, (off_t)q->seg_off) < 0 ||
        fdatasync(q->seg_fd) < 0) {
        b->err = errno, b->op = "write";
        /* Nothing half-written is left for the mailer to find: the batches
         * before this one stay (their clients were answered), this one is
         * cut off, and the file is closed. */
        if (q->seg_off == 0) {
            if (ftruncate(q->seg_fd, 0) < 0 || unlinkat(q->newfd, q->seg_name, 0) < 0)
                b->err = errno;
        } else if (ftruncate(q->seg_fd, (off_t)q->seg_off) < 0 || fdatasync(q->seg_fd) < 0) {
            b->err = errno;
        }
        sc_seal(q);
        return;
    }
    /* A file that lost its name (removed from new/ by hand) would keep links
     * nobody will ever send: fail the batch, and every one after it until
     * the directory is back, rather than answer 200 for it. */
    struct stat st;
    if (fstat(q->seg_fd, &st) == 0 && st.st_nlink == 0) {
        b->err = ENOENT, b->op = "write";
        sc_seal(q);
        return;
    }
    /* The next batch starts on a block of its own: its write never touches
     * the block that holds this one, which is acknowledged from now on (a
     * sector torn by a power cut during that write cannot take it along).
     * Readers skip the zeros in between. */
    q->seg_off = (q->seg_off + b->len + SC_BLOCK - 1) & ~(size_t)(SC_BLOCK - 1);
    if (sc_now_ms() - q->seg_born_ms >= SC_SEAL_AGE_MS)
        sc_seal(q); /* the mailer gets links within a bounded time even while busy */
    b->rc = 0;
}

static void *sc_thread(void *arg)
{
    spool_committer_t *q = arg;
    uint64_t one = 1;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->handed == q->finished && !q->stop) {
            if (q->seg_fd < 0) {
                pthread_cond_wait(&q->cv, &q->mu);
                continue;
            }
            /* Nothing more came within SC_SEAL_IDLE_MS: close the file so
             * the mailer can send what it holds. */
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += SC_SEAL_IDLE_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L)
                until.tv_sec++, until.tv_nsec -= 1000000000L;
            if (pthread_cond_timedwait(&q->cv, &q->mu, &until) == ETIMEDOUT &&
                q->handed == q->finished) {
                pthread_mutex_unlock(&q->mu);
                sc_seal(q);
                pthread_mutex_lock(&q->mu);
            }
        }
        if (q->handed == q->finished)
            break; /* stop, and nothing handed over */
        sc_batch_t *b = &q->b[q->inflight];
        pthread_mutex_unlock(&q->mu);
        sc_commit(q, b);
        pthread_mutex_lock(&q->mu);
        q->finished++;
        pthread_cond_broadcast(&q->cv); /* spool_committer_free may wait */
        while (write(q->efd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void sc_batch_reset(sc_batch_t *b)
{
    b->len = 0;
    b->count = 0;
    b->nw = 0;
    b->rc = 0;
    b->err = 0;
    b->op = NULL;
    if (b->cap > (1u << 20)) { /* a burst's buffer is not kept around */
        free(b->buf);
        b->buf = NULL;
        b->cap = 0;
    }
    if (b->capw > 4096) {
        free(b->w);
        b->w = NULL;
        b->capw = 0;
    }
}

/* Loop side: hand the batch in formation to the thread if it is idle; the
 * third batch (neither the one forming nor the one being answered) forms next. */
static void sc_kick(spool_committer_t *q)
{
    sc_batch_t *b = &q->b[q->forming];

    int next = 0;

    if (q->inflight >= 0 || b->count == 0)
        return;
    while (next == q->forming || next == q->answering)
        next++;
    pthread_mutex_lock(&q->mu);
    q->inflight = q->forming;
    q->forming = next; /* empty: reset when it was last answered */
    q->handed++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void sc_kick_deferred(void *arg)
{
    spool_committer_t *q = arg;

    q->kick_pending = 0;
    sc_kick(q);
}

/* The eventfd: the thread finished a batch. */
static void sc_on_done(ev_loop_t *l, ev_io_t *io, uint32_t events)
{
    spool_committer_t *q = io->data;
    uint64_t v;
    sc_batch_t *b;

    (void)l;
    (void)events;
    if (read(q->efd, &v, sizeof(v)) < 0 || q->inflight < 0)
        return;                 /* EAGAIN: spurious */
    pthread_mutex_lock(&q->mu); /* pairs with the thread's: its writes to b are seen */
    int done = q->finished == q->handed;
    pthread_mutex_unlock(&q->mu);
    if (!done)
        return;
    q->answering = q->inflight;
    b = &q->b[q->answering];
    q->inflight = -1;
    q->batches++;
    /* Give the thread the next batch before answering this one's waiters:
     * the disk starts on it now, not after our writes to every client
     * (three batches: one forming, one syncing, this one being answered). */
    sc_kick(q);
    if (b->rc < 0)
        snprintf(q->err, sizeof(q->err), "spool: %s %s/new/%s: %s", b->op, q->dir, b->name,
                 strerror(b->err));
    /* Answer the waiters. A callback may queue more (a pipelined request);
     * those go to the batch in formation, not this one. */
    for (size_t i = 0; i < b->nw; i++)
        if (b->w[i].done)
            b->w[i].done(b->w[i].arg, b->rc);
    sc_batch_reset(b);
    q->answering = -1;
    sc_kick(q);
}

static int sc_reserve(sc_batch_t *b, size_t need)
{
    if (b->len + need + SC_TRAILER_MAX > SPOOL_COMMIT_MAX_BYTES)
        return -1;
    if (b->len + need + SC_TRAILER_MAX > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + need + SC_TRAILER_MAX)
            cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p)
            return -1;
        b->buf = p;
        b->cap = cap;
    }
    if (b->nw == b->capw) {
        size_t cap = b->capw ? b->capw * 2 : 64;
        sc_waiter_t *w = realloc(b->w, cap * sizeof(*w));
        if (!w)
            return -1;
        b->w = w;
        b->capw = cap;
    }
    if (b->len == 0) {
        memcpy(b->buf, SPOOL_BATCH_MAGIC, sizeof(SPOOL_BATCH_MAGIC) - 1);
        b->len = sizeof(SPOOL_BATCH_MAGIC) - 1;
    }
    return 0;
}

static void sc_queued(spool_committer_t *q, sc_batch_t *b, size_t n, spool_done_fn done, void *arg)
{
    b->len += n;
    b->count++;
    b->w[b->nw].done = done;
    b->w[b->nw].arg = arg;
    b->nw++;
    if (q->inflight < 0 && !q->kick_pending && ev_defer(q->loop, sc_kick_deferred, q) == 0)
        q->kick_pending = 1;
    else if (q->inflight < 0 && !q->kick_pending)
        sc_kick(q); /* cannot defer: go now */
}

int spool_commit_add(spool_committer_t *q, const char *to, const char *link_url, uint64_t expires_s,
                     const uint8_t id[16], const spool_meta_t *meta, spool_done_fn done, void *arg)
{
    static const char hx[] = "0123456789abcdef";
    sc_batch_t *b = &q->b[q->forming];
    spool_msg_t m;
    int n;

    if (strlen(to) >= sizeof(m.to) || strlen(link_url) >= sizeof(m.url)) {
        snprintf(q->err, sizeof(q->err), "spool: refusing malformed message");
        return -1;
    }
    for (int i = 0; i < 16; i++) {
        m.id_hex[2 * i] = hx[id[i] >> 4];
        m.id_hex[2 * i + 1] = hx[id[i] & 15];
    }
    m.id_hex[32] = '\0';
    memcpy(m.to, to, strlen(to) + 1);
    memcpy(m.url, link_url, strlen(link_url) + 1);
    m.expires_s = expires_s;
    m.created_s = (uint64_t)time(NULL);
    spool_msg_meta(&m, meta);
    if (sc_reserve(b, SPOOL_BATCH_RECORD_MAX) < 0) {
        snprintf(q->err, sizeof(q->err), "spool: the batch in formation is full");
        return -1;
    }
    n = spool_batch_put_msg(b->buf + b->len, b->cap - b->len - SC_TRAILER_MAX, &m);
    if (n < 0) {
        snprintf(q->err, sizeof(q->err), "spool: refusing malformed message");
        return -1;
    }
    sc_queued(q, b, (size_t)n, done, arg);
    return 0;
}

int spool_commit_decoy(spool_committer_t *q, size_t len, spool_done_fn done, void *arg)
{
    sc_batch_t *b = &q->b[q->forming];
    int n;

    if (len == 0)
        len = SC_DECOY_DEFAULT;
    if (len > SPOOL_BATCH_RECORD_MAX)
        len = SPOOL_BATCH_RECORD_MAX;
    if (sc_reserve(b, len + 32) < 0) {
        snprintf(q->err, sizeof(q->err), "spool: the batch in formation is full");
        return -1;
    }
    n = spool_batch_put_decoy(b->buf + b->len, b->cap - b->len - SC_TRAILER_MAX, len);
    if (n < 0)
        return -1;
    sc_queued(q, b, (size_t)n, done, arg);
    return 0;
}

void spool_commit_cancel(spool_committer_t *q, void *arg)
{
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < q->b[k].nw; i++)
            if (q->b[k].w[i].arg == arg)
                q->b[k].w[i].done = NULL;
}

size_t spool_committer_pending(const spool_committer_t *q)
{
    return q->b[0].nw + q->b[1].nw + q->b[2].nw;
}

uint64_t spool_committer_batches(const spool_committer_t *q)
{
    return q->batches;
}

const char *spool_committer_error(const spool_committer_t *q)
{
    return q->err;
}

static int sc_open_dir(const char *dir, const char *sub, char *err, size_t errsz)
{
    char p[1100];
    int fd;

    snprintf(p, sizeof(p), "%s/%s", dir, sub);
    fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        snprintf(err, errsz, "spool: open %s: %s", p, strerror(errno));
    return fd;
}

spool_committer_t *spool_committer_new(ev_loop_t *loop, const char *spool_dir, char *err,
                                       size_t errsz)
{
    spool_committer_t *q = calloc(1, sizeof(*q));
    uint8_t rnd[8];

    if (!q) {
        snprintf(err, errsz, "spool: out of memory");
        return NULL;
    }
    q->loop = loop;
    q->inflight = q->answering = -1;
    q->efd = q->newfd = q->tmpfd = q->seg_fd = -1;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the idle seal's timed wait */
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    if ((size_t)snprintf(q->dir, sizeof(q->dir), "%s", spool_dir) >= sizeof(q->dir)) {
        snprintf(err, errsz, "spool: path too long");
        goto fail;
    }
    if (spool_init(spool_dir, err, errsz) < 0)
        goto fail;
    if ((q->newfd = sc_open_dir(spool_dir, "new", err, errsz)) < 0 ||
        (q->tmpfd = sc_open_dir(spool_dir, "tmp", err, errsz)) < 0)
        goto fail;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        snprintf(err, errsz, "spool: getrandom: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 8; i++)
        snprintf(q->tag + 2 * i, 3, "%02x", rnd[i]);
    if (!(q->pool = spool_pool_new(q->newfd, q->tmpfd, q->tag, err, errsz)))
        goto fail;
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0) {
        snprintf(err, errsz, "spool: eventfd: %s", strerror(errno));
        goto fail;
    }
    q->io.fd = q->efd;
    q->io.cb = sc_on_done;
    q->io.data = q;
    if (ev_io_add(loop, &q->io, EPOLLIN) < 0) {
        snprintf(err, errsz, "spool: epoll: %s", strerror(errno));
        goto fail;
    }
    int rc = spool_thread_start(&q->th, sc_thread, q, "spool sync");
    if (rc != 0) {
        snprintf(err, errsz, "spool: cannot start the sync thread: %s", strerror(rc));
        goto fail;
    }
    q->th_started = 1;
    return q;
fail:
    spool_committer_free(q);
    return NULL;
}

void spool_committer_free(spool_committer_t *q)
{
    if (!q)
        return;
    if (q->th_started) {
        /* Let the batch in flight finish, then write what is in formation
         * too (synchronously: the worker is exiting), so nothing queued is
         * lost. Nobody is answered any more. */
        pthread_mutex_lock(&q->mu);
        while (q->handed != q->finished)
            pthread_cond_wait(&q->cv, &q->mu);
        q->stop = 1;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->th, NULL);
        sc_batch_t *b = &q->b[q->forming];
        if (b->count)
            sc_commit(q, b);
        sc_seal(q);
    }
    spool_pool_free(q->pool); /* the files made ahead and not used: gone */
    if (q->efd >= 0) {
        ev_io_del(q->loop, &q->io);
        close(q->efd);
    }
    if (q->newfd >= 0)
        close(q->newfd);
    if (q->tmpfd >= 0)
        close(q->tmpfd);
    for (int k = 0; k < 3; k++) {
        free(q->b[k].buf);
        free(q->b[k].w);
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}
