/*
 * spool_journal.c - the mailer's record of what it sent from a batch file
 * (see spool_journal.h for the format and why it is written over zeros).
 *
 * Reading: the whole file, its zero padding dropped; every complete
 * "sent <32 hex>\n" line is a link not to send again. A line cut short by
 * a crash (the relay had accepted it, the record did not reach the disk)
 * is ignored: that link is sent again, with the same Message-ID, which is
 * the one window a mailer cannot close (mailer.c). The next line is
 * written where the last complete one ends, over whatever was cut short;
 * lines have one length, so nothing of the old one is left behind.
 *
 * The journal is never opened through a symbolic link (O_NOFOLLOW): one
 * in its place would have its lines written over the file it names. Nor
 * is anything but a regular file read (a FIFO would block the mailer).
 *
 * The ids are kept sorted for a binary search: a batch file of a busy
 * worker holds thousands of links, and each is looked up once.
 */
#include "core/spool_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/spool.h"
#include "core/spool_batch.h"

#define SPOOL_JOURNAL_LINE 38                          /* "sent " + 32 hex + "\n" */
#define SPOOL_JOURNAL_FIRST 4096                       /* the first zeros: one block, 107 lines */
#define SPOOL_JOURNAL_CHUNK (SPOOL_JOURNAL_LINE * 432) /* then ~16 KiB at a time */
#define SPOOL_JOURNAL_MAX (16u << 20)

static int spool_journal_path(char *out, size_t outsz, const char *batch)
{
    if (batch[0] == '.')
        batch++;
    if (batch[0] == SPOOL_BATCH_SENDING)
        batch++; /* renamed before it was sent from: one journal under both names */
    int n = snprintf(out, outsz, "%s%s", batch, SPOOL_JOURNAL_SUFFIX);
    if (n < 0 || (size_t)n >= outsz) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static int spool_journal_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* The complete lines of text[0..len): their ids into j, and j->off just
 * past the last one. */
static void spool_journal_scan(const char *text, size_t len, spool_journal_t *j)
{
    size_t p = 0;

    j->off = 0;
    while (len - p >= SPOOL_JOURNAL_LINE && memcmp(text + p, "sent ", 5) == 0 &&
           text[p + SPOOL_JOURNAL_LINE - 1] == '\n') {
        char *id = j->ids[j->nids];
        memcpy(id, text + p + 5, 32);
        id[32] = '\0';
        if (!spool_name_ok(id))
            break;
        j->nids++;
        p += SPOOL_JOURNAL_LINE;
        j->off = (off_t)p;
    }
}

/* The journal's bytes (NULL with *len 0 and *err 0 when it does not
 * exist). Never through a symbolic link: its lines would go over whatever
 * file it named. */
static char *spool_journal_read(int sentfd, const char *name, size_t *len, int *err)
{
    int fd = openat(sentfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    char *buf;

    *len = 0;
    *err = 0;
    if (fd < 0) {
        if (errno != ENOENT)
            *err = errno;
        return NULL;
    }
    buf = spool_read_fd(fd, SPOOL_JOURNAL_MAX, len);
    if (!buf) {
        *err = errno;
        *len = 0;
    }
    close(fd);
    return buf;
}

int spool_journal_open(spool_journal_t *j, int sentfd, const char *batch)
{
    size_t len;
    int err;
    char *text;

    memset(j, 0, sizeof(*j));
    j->sentfd = sentfd;
    j->fd = -1;
    if (spool_journal_path(j->name, sizeof(j->name), batch) < 0)
        return -1;
    text = spool_journal_read(sentfd, j->name, &len, &err);
    if (err) {
        errno = err;
        return -1;
    }
    if (!text)
        return 0;
    j->ids = malloc((len / SPOOL_JOURNAL_LINE + 1) * sizeof(*j->ids));
    if (!j->ids) {
        free(text);
        errno = ENOMEM;
        return -1;
    }
    spool_journal_scan(text, len, j);
    free(text);
    j->zeroed = (off_t)len;
    qsort(j->ids, j->nids, sizeof(*j->ids), spool_journal_cmp);
    return 0;
}

int spool_journal_has(const spool_journal_t *j, const char *id_hex)
{
    return j->nids && bsearch(id_hex, j->ids, j->nids, sizeof(*j->ids), spool_journal_cmp);
}

/* Zeros from j->zeroed for another chunk of lines, synced. */
static int spool_journal_grow(spool_journal_t *j)
{
    static const char zeros[SPOOL_JOURNAL_CHUNK];
    /* A quiet worker's batch file holds one link, and its journal stays a
     * week: a block, not 16 KiB, until more is needed. */
    size_t n = j->zeroed < SPOOL_JOURNAL_FIRST ? SPOOL_JOURNAL_FIRST : sizeof(zeros);

    if (spool_pwrite_all(j->fd, zeros, n, j->zeroed) < 0 || fdatasync(j->fd) < 0)
        return -1;
    j->zeroed += (off_t)n;
    return 0;
}

int spool_journal_reserve(spool_journal_t *j)
{
    if (j->fd < 0) {
        int created = 0;
        j->fd = openat(j->sentfd, j->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (j->fd < 0 && errno == ENOENT) {
            j->fd = openat(j->sentfd, j->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                           0600);
            created = 1;
        }
        if (j->fd < 0)
            return -1;
        if (created) {
            j->off = j->zeroed = 0;
            if (spool_journal_grow(j) < 0 || fsync(j->sentfd) < 0) {
                int e = errno;
                close(j->fd);
                j->fd = -1;
                unlinkat(j->sentfd, j->name, 0);
                errno = e;
                return -1;
            }
        }
    }
    if (j->off + SPOOL_JOURNAL_LINE > j->zeroed)
        return spool_journal_grow(j);
    return 0;
}

int spool_journal_add(spool_journal_t *j, const char *id_hex)
{
    char line[SPOOL_JOURNAL_LINE + 1];

    if (spool_journal_reserve(j) < 0)
        return -1;
    snprintf(line, sizeof(line), "sent %.32s\n", id_hex);
    if (spool_pwrite_all(j->fd, line, SPOOL_JOURNAL_LINE, j->off) < 0 || fdatasync(j->fd) < 0)
        return -1;
    j->off += SPOOL_JOURNAL_LINE;
    return 0;
}

void spool_journal_close(spool_journal_t *j)
{
    /* The zeros not used are given back (a journal stays a week in sent/).
     * Not synced: after a crash the file has them or not, and reads the
     * same either way. */
    if (j->fd >= 0 && j->off < j->zeroed && ftruncate(j->fd, j->off) < 0)
        log_error(MG_LOG_WARN, errno, "spool: trimming journal sent/%s", j->name);
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    free(j->ids);
    j->ids = NULL;
    j->nids = 0;
}

int spool_journal_name_ok(const char *name)
{
    size_t n = strlen(name), sl = strlen(SPOOL_JOURNAL_SUFFIX);
    char base[96];

    if (name[0] == '.' || name[0] == SPOOL_BATCH_SENDING || n <= sl || n - sl >= sizeof(base) ||
        strcmp(name + n - sl, SPOOL_JOURNAL_SUFFIX) != 0)
        return 0;
    memcpy(base, name, n - sl);
    base[n - sl] = '\0';
    return spool_batch_name_ok(base);
}

int spool_journal_count(int sentfd, const char *batch)
{
    spool_journal_t j;
    int n;

    if (spool_journal_open(&j, sentfd, batch) < 0)
        return 0;
    n = (int)j.nids;
    spool_journal_close(&j);
    return n;
}
