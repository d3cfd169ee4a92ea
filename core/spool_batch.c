/*
 * spool_batch.c - the batch file format and the mailer's unpacking of it
 * (see spool_batch.h for the format).
 *
 * Unpacking is the maildir recipe of spool_enqueue() once per message, done
 * by the mailer process where waiting on the disk costs no client anything:
 * write tmp/ID.PID, fsync, rename to new/ID; once every message of a batch
 * is in new/, fsync new/ and only then remove the batch file (and fsync
 * new/ again). The mailer sends nothing until the unpack has finished, so
 * after a crash at any point a message is either still in its batch (and is
 * unpacked again: the existing new/ID is kept) or in its own file, never
 * sent and unpacked a second time. As a second guard, an id already in
 * sent/ or failed/ is not unpacked again.
 *
 * The unpack and the mailer's count of the links still waiting
 * (spool_batch_pending) walk new/ the same way (spool_batch_files): the
 * files a worker still holds locked are not looked at by either.
 *
 * Sending (spool_deliver) walks the same files and parses them the same
 * way, but hands each message to the mailer's sender instead of copying it
 * into new/: only a message the relay defers gets a file of its own there
 * (and its retries from it); one it refuses, or whose link expired, a file
 * in failed/; one it accepts, a line in the batch file's journal
 * (core/spool_journal.h). So with the relay up a link costs the disk one
 * data write and flush after the worker's commit, not a file and two
 * directory syncs. A message already in new/, sent/, failed/ or the
 * journal is skipped, which makes a second pass over a file (after a
 * crash, or a relay that went away half-way) send only the rest. A link
 * sent whose line could not be written is not sent again by the passes
 * that follow while the disk fails (spool_unrecorded).
 *
 * A file that holds one link (a sign-in that came alone, most mail on a
 * quiet server) needs no journal: once the relay took the link, the file
 * itself goes to sent/ under the link's id and new/ is synced, one flush
 * where a journal costs three (spool_sole_sent).
 */
#include "core/spool_batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/spool_journal.h"

#define SPOOL_BATCH_FILE_MAX (64u << 20) /* refuse to read more than this */
#define SPOOL_SOLE_MAX (64u << 10)       /* a file counted for one link (spool_sole_sent) */

static uint64_t spool_fnv1a(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int spool_batch_name_ok(const char *name)
{
    size_t i, n;

    if (name[0] == '.')
        name++;
    if (name[0] == SPOOL_BATCH_SENDING)
        name++;
    if (strncmp(name, SPOOL_BATCHES_PREFIX, strlen(SPOOL_BATCHES_PREFIX)) == 0)
        n = strlen(SPOOL_BATCHES_PREFIX);
    else if (strncmp(name, SPOOL_BATCH_PREFIX, strlen(SPOOL_BATCH_PREFIX)) == 0)
        n = strlen(SPOOL_BATCH_PREFIX);
    else
        return 0;
    for (i = 0; i < 16; i++) {
        char ch = name[n + i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return 0;
    }
    if (name[n + 16] != '.')
        return 0;
    for (i = n + 17; name[i]; i++)
        if (name[i] < '0' || name[i] > '9' || i - (n + 17) >= 20)
            return 0;
    return i > n + 17;
}

int spool_batch_put_msg(char *out, size_t outsz, const spool_msg_t *m)
{
    static const char hdr[] = "record\n";
    int n;

    if (!spool_name_ok(m->id_hex) || !spool_addr_ok(m->to) || !spool_url_ok(m->url) ||
        outsz < sizeof(hdr))
        return -1;
    memcpy(out, hdr, sizeof(hdr) - 1);
    n = spool_format(m, out + sizeof(hdr) - 1, outsz - (sizeof(hdr) - 1));
    return n < 0 ? -1 : n + (int)(sizeof(hdr) - 1);
}

int spool_batch_put_decoy(char *out, size_t outsz, size_t len)
{
    static const char hdr[] = "record\ndecoy: ";
    size_t pad = len > sizeof(hdr) ? len - sizeof(hdr) : 1; /* + '\n' = len */

    if (pad > SPOOL_BATCH_RECORD_MAX)
        pad = SPOOL_BATCH_RECORD_MAX;
    if (outsz < sizeof(hdr) - 1 + pad + 1)
        return -1;
    memcpy(out, hdr, sizeof(hdr) - 1);
    memset(out + sizeof(hdr) - 1, 'x', pad);
    out[sizeof(hdr) - 1 + pad] = '\n';
    return (int)(sizeof(hdr) - 1 + pad + 1);
}

int spool_batch_put_end(char *out, size_t outsz, const char *body, size_t n, unsigned count)
{
    int w = snprintf(out, outsz, "end %u %016" PRIx64 "\n", count, spool_fnv1a(body, n));
    return (w < 0 || (size_t)w >= outsz) ? -1 : w;
}

size_t spool_batch_len(const char *text, size_t len)
{
    while (len > 0 && text[len - 1] == '\0')
        len--;
    return len;
}

/* Check magic and trailer; *body_end gets where the trailer starts. */
static int spool_batch_check(const char *text, size_t len, unsigned *count, size_t *body_end)
{
    size_t ml = sizeof(SPOOL_BATCH_MAGIC) - 1, i;
    char want[64];
    unsigned c;

    if (len < ml || memcmp(text, SPOOL_BATCH_MAGIC, ml) != 0 || text[len - 1] != '\n')
        return -1;
    for (i = len - 1; i > 0 && text[i - 1] != '\n'; i--)
        ;
    if (len - i < 5 || memcmp(text + i, "end ", 4) != 0)
        return -1;
    if (sscanf(text + i, "end %u ", &c) != 1)
        return -1;
    if (spool_batch_put_end(want, sizeof(want), text, i, c) != (int)(len - i) ||
        memcmp(want, text + i, len - i) != 0)
        return -1;
    *count = c;
    *body_end = i;
    return 0;
}

/* One batch, text[0..len) from its magic to its trailer's newline. */
static int spool_batch_parse_one(const char *text, size_t len, spool_batch_fn fn, void *arg)
{
    static const char rh[] = "record\n";
    size_t end, p = sizeof(SPOOL_BATCH_MAGIC) - 1, rl = sizeof(rh) - 1;
    unsigned count, seen = 0;
    int msgs = 0;
    spool_msg_t m;

    if (spool_batch_check(text, len, &count, &end) < 0)
        return -1;
    /* First pass: the shape is right and every message parses, so a
     * malformed file delivers nothing rather than half of itself. */
    for (int pass = 0; pass < 2; pass++) {
        p = sizeof(SPOOL_BATCH_MAGIC) - 1;
        seen = 0;
        while (p < end) {
            if (end - p < rl || memcmp(text + p, rh, rl) != 0)
                return -1;
            size_t s = p + rl, e = s;
            while (e < end && !(end - e >= rl && memcmp(text + e, rh, rl) == 0 &&
                                (e == s || text[e - 1] == '\n')))
                e++;
            seen++;
            if (e - s > 7 && memcmp(text + s, "decoy: ", 7) == 0) {
                p = e;
                continue;
            }
            if (spool_parse(text + s, e - s, &m) < 0)
                return -1;
            if (pass == 1) {
                int rc = fn ? fn(&m, text + s, e - s, arg) : 0;
                if (rc < 0)
                    return rc;
                msgs++;
            }
            p = e;
        }
        if (seen != count)
            return -1;
    }
    return msgs;
}

/* Where the batch that starts at text[p] ends: one past its trailer's
 * newline, 0 when there is no complete trailer line. No record holds a
 * line that starts with "end " (spool_format writes "key: value" lines,
 * decoys are "decoy: x..."), so the first such line is the trailer; the
 * checksum then says whether the batch is whole. */
static size_t spool_batch_end(const char *text, size_t len, size_t p)
{
    size_t ml = sizeof(SPOOL_BATCH_MAGIC) - 1;

    if (len - p < ml || memcmp(text + p, SPOOL_BATCH_MAGIC, ml) != 0)
        return 0;
    for (size_t i = p + ml; i < len;) { /* i: the start of a line */
        const char *nl = memchr(text + i, '\n', len - i);
        if (!nl)
            return 0;
        if (len - i >= 4 && memcmp(text + i, "end ", 4) == 0)
            return (size_t)(nl - text) + 1;
        i = (size_t)(nl - text) + 1;
    }
    return 0;
}

int spool_batch_parse(const char *text, size_t len, spool_batch_fn fn, void *arg, int *torn)
{
    size_t p = 0;
    int msgs = 0;

    if (torn)
        *torn = 0;
    len = spool_batch_len(text, len);
    while (p < len) {
        size_t e = spool_batch_end(text, len, p);
        int rc = e ? spool_batch_parse_one(text + p, e - p, fn, arg) : -1;
        if (rc == -1)
            break; /* torn: only the last batch of a file can be */
        if (rc < 0)
            return rc;
        msgs += rc;
        p = e;
        while (p < len && text[p] == '\0')
            p++; /* each batch starts on a block of its own (spool_commit.c) */
    }
    if (p == len && len > 0)
        return msgs;
    if (p == 0 || !torn)
        return -1;
    *torn = 1;
    return msgs;
}

/* ---- unpacking and sending (mailer side) ---- */

typedef struct {
    const char *dir;
    int newfd, tmpfd, sentfd, failedfd;
    int handled;        /* messages sent, queued in new/ or failed */
    int queued, failed; /* files renamed into new/, failed/ from this batch file */
    spool_send_fn send; /* NULL: unpack every message */
    void *arg;
    spool_unrecorded_t *unrecorded; /* the caller's: sent, not written down */
    spool_journal_t j;              /* what was sent from the file in hand */
    char name[96];                  /* its name in new/ now (spool_mark_sending) */
    int sole;                       /* it holds one link and no journal line: spool_sole_sent */
    int stopped;                    /* the sender stopped in the file named name */
    int lockfd;                     /* the file's lock (spool_batch_files) */
    int unrecorded_here;            /* a link of it sent, its record not written */
    char *err;
    size_t errsz;
} spool_unpack_t;

/* A record into a file of its own in dirfd (new/ or failed/): tmp/ID.PID,
 * fsync, rename. The caller fsyncs dirfd before the batch file goes. */
static int spool_put(spool_unpack_t *u, int dirfd, const spool_msg_t *m, const char *rec,
                     size_t reclen, int deferred)
{
    char tmp[64];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.%ld", m->id_hex, (long)getpid());
    fd = openat(u->tmpfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -2;
    if (spool_write_all(fd, rec, reclen) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlinkat(u->tmpfd, tmp, 0);
        errno = e;
        return -2;
    }
    /* Deferred: due again after the first delay, for every mailer on the
     * spool (spool_retry_set; not synced: after a crash it is due at once,
     * and failing, it is due now: a retry early, nothing lost). */
    if (deferred)
        spool_retry_set(fd, SPOOL_RETRY_FIRST_MS);
    close(fd);
    if (renameat(u->tmpfd, tmp, dirfd, m->id_hex) < 0) {
        int e = errno;
        unlinkat(u->tmpfd, tmp, 0);
        errno = e;
        return -2;
    }
    if (dirfd == u->newfd)
        u->queued++;
    else
        u->failed++;
    u->handled++;
    return 0;
}

/* Links the relay accepted whose record could not be written (the
 * overwrite of the journal's zeros failed: EIO, or ENOSPC where every
 * write allocates). The next pass would find no record and send the link
 * again, and so on every pass while the disk fails: each pass writes
 * their records first instead, before it sends anything from that file,
 * and sends nothing more while one cannot be written (spool_deliver_one).
 * The caller keeps them (spool_unrecorded_t, the mailer's for as long as
 * it runs), a few, oldest dropped first: after a restart one is sent once
 * more, the window mailer.c describes. The batch file of the first stays
 * locked by the caller meanwhile (spool_hold): the other mailers on the
 * spool know nothing of the set, and each would send the link once more. */
static char *spool_unrecorded_find(spool_unrecorded_t *ur, const char *id_hex)
{
    for (unsigned i = 0; ur && i < SPOOL_UNRECORDED_MAX && i < ur->n; i++)
        if (memcmp(ur->ids[i], id_hex, 32) == 0)
            return ur->ids[i];
    return NULL;
}

static void spool_unrecorded_add(spool_unrecorded_t *ur, const char *id_hex)
{
    if (!ur)
        return;
    char *slot = ur->ids[ur->n++ % SPOOL_UNRECORDED_MAX];
    memcpy(slot, id_hex, 32);
    slot[32] = '\0';
}

/* Handled already: unpacked before a crash (kept as it is), sent or
 * refused since, or sent from this very file: a link never goes twice. */
static int spool_handled(const spool_unpack_t *u, const spool_msg_t *m)
{
    struct stat st;

    return fstatat(u->newfd, m->id_hex, &st, 0) == 0 ||
           (u->sentfd >= 0 && fstatat(u->sentfd, m->id_hex, &st, 0) == 0) ||
           (u->failedfd >= 0 && fstatat(u->failedfd, m->id_hex, &st, 0) == 0) ||
           spool_journal_has(&u->j, m->id_hex);
}

/* Before the first link of the file in hand is sent (spool_batch_name_ok):
 * its name gets the 'j' older mailers do not know, so that one of them (a
 * rollback, an upgrade's overlap) never takes a file part of which is only
 * in a journal. The rename need not be durable: the file is ours (locked)
 * under either name, and the journal is the same. */
static int spool_is_sending(const char *name)
{
    return name[name[0] == '.'] == SPOOL_BATCH_SENDING;
}

static int spool_mark_sending(spool_unpack_t *u)
{
    int dot = u->name[0] == '.';
    char to[sizeof(u->name) + 1];

    if (spool_is_sending(u->name))
        return 0;
    snprintf(to, sizeof(to), "%.*s%c%s", dot, u->name, SPOOL_BATCH_SENDING, u->name + dot);
    if (strlen(to) >= sizeof(u->name)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (renameat(u->newfd, u->name, u->newfd, to) < 0)
        return -1;
    memcpy(u->name, to, strlen(to) + 1);
    return 0;
}

/* The link of a batch file that holds only it, sent: the file itself is
 * the record. It goes to sent/ under the link's id, where a message sent
 * from new/ goes too and where spool_handled looks, and new/ is synced:
 * one flush, where a journal costs three (its zeros and its name before
 * the send, its line after). A sign-in that comes alone, the common case
 * on a quiet server, gets a batch file of its own, so this is most mail.
 * What stops a second send is the file's absence from new/, so new/ is
 * what is synced; the rename moves the name out of new/ and into sent/ in
 * one step. Failing that, the file is removed. 0, or -1 with errno. */
static int spool_sole_sent(spool_unpack_t *u, const spool_msg_t *m)
{
    if ((u->sentfd < 0 || renameat(u->newfd, u->name, u->sentfd, m->id_hex) < 0) &&
        unlinkat(u->newfd, u->name, 0) < 0 && errno != ENOENT)
        return -1;
    return fsync(u->newfd);
}

static int spool_count_msg(const spool_msg_t *m, const char *rec, size_t reclen, void *arg)
{
    (void)m, (void)rec, (void)reclen;
    ++*(int *)arg;
    return 0;
}

/* A link the sender did not take: deferred into new/ (retried from
 * there), refused into failed/; -3 when it stopped. */
static int spool_not_sent(spool_unpack_t *u, spool_sent_t rc, const spool_msg_t *m, const char *rec,
                          size_t reclen)
{
    if (rc == SPOOL_DEFER)
        return spool_put(u, u->newfd, m, rec, reclen, 1);
    if (rc == SPOOL_REFUSED)
        return u->failedfd < 0 ? (errno = ENOENT, -2)
                               : spool_put(u, u->failedfd, m, rec, reclen, 0);
    return -3;
}

/* spool_deliver_one for the link of a file that holds only it: no journal,
 * no rename before the send (an older mailer taking the file would send
 * the one link, which is what it is there for). */
static int spool_deliver_sole(spool_unpack_t *u, const spool_msg_t *m, const char *rec,
                              size_t reclen)
{
    char *unrecorded = spool_unrecorded_find(u->unrecorded, m->id_hex);
    spool_sent_t rc = unrecorded ? SPOOL_SENT : u->send(m, u->arg);

    switch (rc) {
    case SPOOL_SENT:
        if (spool_sole_sent(u, m) < 0) {
            snprintf(u->err, u->errsz,
                     "spool: recording %s (sent) by moving %s/new/%s to sent/: %s", m->id_hex,
                     u->dir, u->name, strerror(errno));
            if (!unrecorded)
                spool_unrecorded_add(u->unrecorded, m->id_hex);
            u->unrecorded_here = 1;
            return -2;
        }
        if (unrecorded)
            unrecorded[0] = '\0';
        u->handled++;
        return 0;
    default:
        return spool_not_sent(u, rc, m, rec, reclen);
    }
}

/* One message of a batch file: sent (and recorded), or into new/ to be
 * retried from there, or into failed/. -3: the sender stopped (the rest of
 * the file waits for the next pass); -4: the journal has no room (logged;
 * the rest of the file waits, the other files are tried); -2 with u->err
 * or errno. */
static int spool_deliver_one(const spool_msg_t *m, const char *rec, size_t reclen, void *arg)
{
    spool_unpack_t *u = arg;

    if (spool_handled(u, m))
        return 0;
    if (!u->send)
        return spool_put(u, u->newfd, m, rec, reclen, 0);
    if (u->sole)
        return spool_deliver_sole(u, m, rec, reclen);
    if (u->j.fd < 0 && spool_mark_sending(u) < 0) {
        log_error(MG_LOG_ERR, errno, "spool: rename %s/new/%s (nothing of it is sent now)", u->dir,
                  u->name);
        return -4;
    }
    /* Room for its record first: a link the relay took must be written
     * down, or the next pass sends it again. */
    if (spool_journal_reserve(&u->j) < 0) {
        log_error(MG_LOG_ERR, errno,
                  "spool: journal %s/sent/%s (nothing more is sent from its batch file now)",
                  u->dir, u->j.name);
        return -4;
    }
    char *unrecorded = spool_unrecorded_find(u->unrecorded, m->id_hex);
    if (unrecorded) { /* sent by an earlier pass, its line still to write */
        if (spool_journal_add(&u->j, m->id_hex) < 0) {
            snprintf(u->err, u->errsz, "spool: recording %s (sent) in %s/sent/%s: %s", m->id_hex,
                     u->dir, u->j.name, strerror(errno));
            u->unrecorded_here = 1;
            return -2;
        }
        unrecorded[0] = '\0';
        u->handled++;
        return 0;
    }
    spool_sent_t rc = u->send(m, u->arg);
    switch (rc) {
    case SPOOL_SENT:
        if (spool_journal_add(&u->j, m->id_hex) < 0) {
            snprintf(u->err, u->errsz, "spool: recording %s in %s/sent/%s: %s", m->id_hex, u->dir,
                     u->j.name, strerror(errno));
            spool_unrecorded_add(u->unrecorded, m->id_hex);
            u->unrecorded_here = 1;
            return -2;
        }
        u->handled++;
        return 0;
    default:
        return spool_not_sent(u, rc, m, rec, reclen);
    }
}

static char *spool_slurp(int dirfd, const char *name, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    char *buf;

    if (fd < 0)
        return NULL;
    buf = spool_read_fd(fd, SPOOL_BATCH_FILE_MAX, len);
    int e = errno;
    close(fd);
    errno = e;
    return buf;
}

static int spool_opendir_at(const char *dir, const char *sub)
{
    char p[1024];

    if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, sub) >= sizeof(p)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A batch file: 1 when it is ours to take (its lock is free: a pre-made ".bs." file's writer
 * closed it or died, and no other mailer, in an upgrade's overlap, is sending from it), 0 to
 * leave it (being written, waiting in a worker's pool, or in another mailer's hands). The lock
 * is held on *lockfd until the caller closes it. */
static int spool_take(int newfd, const char *name, int *lockfd)
{
    int fd = openat(newfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;

    if (fd < 0)
        return 0;
    /* Only a regular file: reading a FIFO under a batch file's name would
     * wait for a writer for ever, and the mailer with it. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return 0;
    }
    *lockfd = fd;
    return 1;
}

/* What to do with one batch file that is ours: 0 go on, 1 enough (the
 * walk stops), -2 or less stop with an error (-1 is the walk's own). */
typedef int (*spool_file_fn)(const char *name, void *arg);

/* The one walk over new/ of the unpack and the queue count, so which batch
 * files are ours is decided in one place: fn is called for each complete
 * one ("b.", "bs.") and each made-ahead one whose lock was free (".b.",
 * ".bs.": its writer closed it or died; held while fn runs, so a second
 * mailer in an upgrade's overlap leaves it alone). Only files taken count
 * towards max: the workers' pools (locked) would otherwise use it up and
 * leave real batches waiting. Past max, batch files are only counted into
 * *left. Returns how many files fn was called for; -1 when new/ cannot be
 * read (errno); what a negative fn returned (the walk stops there). */
static int spool_batch_files(int newfd, int max, int *left, spool_file_fn fn, void *arg,
                             const spool_unrecorded_t *ur, int *lockp)
{
    int fd = dup(newfd), taken = 0, nleft = 0, rc = 0;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (left)
        *left = 0;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        int lockfd = -1;

        if (!spool_batch_name_ok(de->d_name))
            continue;
        if (taken >= max) {
            nleft++;
            continue;
        }
        int held = ur && ur->held && strcmp(de->d_name, ur->held_name) == 0;
        if (held)
            lockfd = -1; /* ours already, under the caller's lock */
        else if (!spool_take(newfd, de->d_name, &lockfd))
            continue;
        if (lockp)
            *lockp = held ? ur->held - 1 : lockfd;
        rc = fn(de->d_name, arg);
        if (lockfd >= 0)
            close(lockfd);
        if (rc < 0)
            break;
        taken++;
        if (rc > 0)
            break;
    }
    closedir(d);
    if (left)
        *left = nleft;
    return rc < 0 ? rc : taken;
}

/* After a pass over the batch file `name` (its name when the walk met it):
 * one that has a link sent and not written down is kept locked, past the
 * walk, by a descriptor of the caller's (spool_unrecorded_t); another
 * mailer on the spool would find no record and send that link again. It
 * is let go of once a pass over it writes every record it owes. */
static void spool_hold(spool_unpack_t *u, const char *name)
{
    spool_unrecorded_t *ur = u->unrecorded;
    int ours = ur && ur->held && strcmp(ur->held_name, name) == 0;

    if (!ur)
        return;
    if (ours && !u->unrecorded_here) {
        close(ur->held - 1);
        ur->held = 0;
        ur->held_name[0] = '\0';
    } else if (ours) {
        snprintf(ur->held_name, sizeof(ur->held_name), "%s", u->name);
    } else if (u->unrecorded_here && !ur->held && u->lockfd >= 0) {
        int fd = fcntl(u->lockfd, F_DUPFD_CLOEXEC, 0); /* the same lock */
        if (fd >= 0) {
            ur->held = fd + 1;
            snprintf(ur->held_name, sizeof(ur->held_name), "%s", u->name);
        }
    }
}

/* One batch file, ours (spool_batch_files): each message sent, or into a
 * file of its own, then the batch out of new/. 1 when the sender stopped
 * (the file stays, and so does the rest of the walk); -2 with u->err. */
static int spool_unpack_file(const char *name, void *arg)
{
    spool_unpack_t *u = arg;
    size_t len = 0;
    char *text = spool_slurp(u->newfd, name, &len);
    int rc, torn = 0;

    if (!text) {
        if (errno == ENOENT) {
            u->unrecorded_here = 0;
            spool_hold(u, name); /* gone (an operator): not held any more */
            return 0;            /* another mailer took it */
        }
        snprintf(u->err, u->errsz, "spool: read %s/new/%s: %s", u->dir, name, strerror(errno));
        return -2;
    }
    if (name[0] == '.' && spool_batch_len(text, len) == 0) {
        /* Made ahead by a worker that died before using it (we hold its
         * lock): nothing in it was ever acknowledged. */
        free(text);
        unlinkat(u->newfd, name, 0);
        return 0;
    }
    snprintf(u->name, sizeof(u->name), "%s", name); /* it may be renamed (spool_mark_sending) */
    /* A journal that cannot be read (or made, below) stops this file and
     * no other: each file has its own, and one an operator must fix
     * (a directory or a file of someone else's in its place) would
     * otherwise hold up every batch file the walk meets after it. */
    /* Without sent/ (removed, a file in its place) no journal can be read
     * or written, but a file never sent from needs none when it holds one
     * link (spool_sole_sent): that one goes, the others wait. */
    int nojournal = u->sentfd < 0 && !spool_is_sending(u->name);
    if (nojournal) {
        memset(&u->j, 0, sizeof(u->j));
        u->j.sentfd = u->j.fd = -1;
    } else if (spool_journal_open(&u->j, u->sentfd, u->name) < 0) {
        log_error(MG_LOG_ERR, errno,
                  "spool: journal of %s/new/%s in %s/sent/ cannot be read; nothing of it is sent",
                  u->dir, u->name, u->dir);
        free(text);
        return 0;
    }
    u->queued = u->failed = 0;
    u->err[0] = '\0';
    u->sole = 0;
    u->unrecorded_here = 0;
    if (u->send && u->j.nids == 0 && len <= SPOOL_SOLE_MAX) {
        int n = 0;
        u->sole = spool_batch_parse(text, len, spool_count_msg, &n, NULL) >= 0 && n == 1;
    }
    if (nojournal && !u->sole) {
        log_err("spool: %s/sent/ cannot be opened: no journal for %s/new/%s; nothing of it is "
                "sent",
                u->dir, u->dir, u->name);
        free(text);
        return 0;
    }
    rc = spool_batch_parse(text, len, spool_deliver_one, u, &torn);
    spool_hold(u, name);
    spool_journal_close(&u->j);
    free(text);
    /* What went to new/ and failed/ must be there for good before the
     * batch file (the only other copy) goes, or when it stays. */
    if ((u->queued && fsync(u->newfd) < 0) || (u->failed && fsync(u->failedfd) < 0)) {
        snprintf(u->err, u->errsz, "spool: fsync %s/new, %s/failed: %s", u->dir, u->dir,
                 strerror(errno));
        return -2;
    }
    if (rc == -3) {
        u->stopped = 1;
        return 1;
    }
    if (rc == -4)
        return 0;
    if (rc == -2) {
        if (!u->err[0])
            snprintf(u->err, u->errsz, "spool: unpacking %s/new/%s: %s", u->dir, u->name,
                     strerror(errno));
        return -2;
    }
    if (rc == -1 || torn) {
        if (torn)
            log_err("spool: batch file %s/new/%s ends in a torn or malformed batch (written "
                    "before a crash, never acknowledged; the %d links before it were queued); "
                    "moved to failed/",
                    u->dir, u->name, rc);
        else
            log_err("spool: batch %s/new/%s is torn or malformed (written before a crash, "
                    "never acknowledged); moved to failed/",
                    u->dir, u->name);
        if (u->failedfd < 0 || renameat(u->newfd, u->name, u->failedfd, u->name) < 0)
            unlinkat(u->newfd, u->name, 0);
        if (u->failedfd >= 0)
            fsync(u->failedfd);
    } else if (unlinkat(u->newfd, u->name, 0) < 0 && errno != ENOENT) {
        snprintf(u->err, u->errsz, "spool: unlink %s/new/%s: %s", u->dir, u->name, strerror(errno));
        return -2;
    }
    /* The removal need not be durable: a batch file that comes back after
     * a crash has every link of it in its journal, new/ or failed/. It is
     * synced anyway when something left it for new/, so the files there
     * and the batch's absence are seen together. */
    if (u->queued && fsync(u->newfd) < 0) {
        snprintf(u->err, u->errsz, "spool: fsync %s/new: %s", u->dir, strerror(errno));
        return -2;
    }
    return 0;
}

typedef struct {
    spool_unpack_t u; /* its dirs and journal, for spool_handled */
    int *links;       /* NULL: only whether there is a file to take */
    int ready;
} spool_pending_t;

/* A message of a batch file sent from before: still waiting unless it is
 * in the journal, or was deferred into new/ (counted there) or refused. */
static int spool_pending_one(const spool_msg_t *m, const char *rec, size_t reclen, void *arg)
{
    spool_pending_t *p = arg;

    (void)rec, (void)reclen;
    if (!spool_handled(&p->u, m))
        (*p->links)++;
    return 0;
}

/* One batch file, ours (spool_batch_files): counted, or the answer. */
static int spool_pending_file(const char *name, void *arg)
{
    spool_pending_t *p = arg;
    size_t len = 0;
    char *text;
    int torn = 0, n, counted = 0;

    if (!p->links) {
        p->ready = 1;
        return 1; /* only whether there is one */
    }
    text = spool_slurp(p->u.newfd, name, &len);
    if (!text)
        return 0; /* another mailer took it, or unreadable: the unpack says so */
    p->ready = 1; /* even an empty leftover: the unpack removes it */
    /* A file never sent from (its name has no 'j', spool_mark_sending)
     * has every link waiting: counted without a look at each. One sent
     * from before (the relay went away half-way) is counted link by link. */
    if (spool_is_sending(name) && p->u.sentfd >= 0 &&
        spool_journal_open(&p->u.j, p->u.sentfd, name) == 0) {
        spool_batch_parse(text, len, spool_pending_one, p, &torn);
        spool_journal_close(&p->u.j);
        counted = 1;
    }
    if (!counted && (n = spool_batch_parse(text, len, NULL, NULL, &torn)) > 0)
        *p->links += n;
    free(text);
    return 0;
}

int spool_batch_pending(const char *spool_dir, int *links)
{
    spool_pending_t p = {.links = links};

    p.u.newfd = spool_opendir_at(spool_dir, "new");
    p.u.sentfd = p.u.failedfd = -1;
    if (links)
        *links = 0;
    if (p.u.newfd < 0)
        return 0;
    if (links) {
        p.u.sentfd = spool_opendir_at(spool_dir, "sent");
        p.u.failedfd = spool_opendir_at(spool_dir, "failed");
    }
    spool_batch_files(p.u.newfd, INT_MAX, NULL, spool_pending_file, &p, NULL, NULL);
    close(p.u.newfd);
    if (p.u.sentfd >= 0)
        close(p.u.sentfd);
    if (p.u.failedfd >= 0)
        close(p.u.failedfd);
    return p.ready;
}

/* A batch file let go of with links still to send (the sender stopped:
 * the mailer is stopping, or its session broke), its lock released: the
 * other mailers on the spool (smtp_connections, a reload's or an upgrade's
 * next generation) may have passed it by while it was held, and sleep
 * until something in new/ changes. A close after a write open is such a
 * change (inotify's IN_CLOSE_WRITE), and changes nothing in the file. */
static void spool_wake(int newfd, const char *name)
{
    int fd = openat(newfd, name, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0)
        close(fd);
}

int spool_deliver(const char *spool_dir, int max_files, int *left, spool_send_fn send, void *arg,
                  spool_unrecorded_t *unrecorded, char *err, size_t errsz)
{
    spool_unpack_t u = {.dir = spool_dir,
                        .send = send,
                        .arg = arg,
                        .unrecorded = unrecorded,
                        .err = err,
                        .errsz = errsz};
    int rc = -1;

    u.newfd = spool_opendir_at(spool_dir, "new");
    u.tmpfd = spool_opendir_at(spool_dir, "tmp");
    u.failedfd = spool_opendir_at(spool_dir, "failed");
    u.sentfd = spool_opendir_at(spool_dir, "sent");
    if (left)
        *left = 0;
    if (u.newfd < 0 || u.tmpfd < 0)
        snprintf(err, errsz, "spool: open %s/new, %s/tmp: %s", spool_dir, spool_dir,
                 strerror(errno));
    else if ((rc = spool_batch_files(u.newfd, max_files, left, spool_unpack_file, &u, unrecorded,
                                     &u.lockfd)) == -1)
        snprintf(err, errsz, "spool: opendir %s/new: %s", spool_dir, strerror(errno));
    if (u.stopped)
        spool_wake(u.newfd, u.name);
    if (u.newfd >= 0)
        close(u.newfd);
    if (u.tmpfd >= 0)
        close(u.tmpfd);
    if (u.failedfd >= 0)
        close(u.failedfd);
    if (u.sentfd >= 0)
        close(u.sentfd);
    return rc < 0 ? -1 : u.handled;
}

int spool_unpack(const char *spool_dir, int max_files, int *left, char *err, size_t errsz)
{
    return spool_deliver(spool_dir, max_files, left, NULL, NULL, NULL, err, errsz);
}
