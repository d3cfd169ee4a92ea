/*
 * test_spool_unrecorded - a link the relay accepted whose journal line
 * cannot be written (ENOSPC over the zeros, as on a file system that
 * allocates on every write, or EIO) is not sent again on every pass while
 * the disk fails, and its line is written once it can be.
 *
 * pwrite is interposed (the real one through RTLD_NEXT otherwise): while
 * lines_fail is set, a journal line's write (38 bytes) fails with ENOSPC
 * and the zeros' writes do not: each pass makes room again (the unused
 * zeros are cut off when a journal is closed), and on a file system that
 * allocates on every write, the room for the zeros can be there and not
 * the room for the line over them. (A line written whose fdatasync fails
 * is in the page cache and read back by the next pass: that link is not
 * sent again either way.)
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/spool.h"
#include "core/spool_batch.h"
#include "core/spool_journal.h"
#include "../unit.h"

static int lines_fail;

ssize_t pwrite(int fd, const void *p, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (lines_fail && n == 38) {
        errno = ENOSPC;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "pwrite");
    return real ? real(fd, p, n, off) : -1;
}

static int calls[2];

static spool_sent_t sender(const spool_msg_t *m, void *arg)
{
    (void)arg;
    calls[m->id_hex[31] - '1']++;
    return SPOOL_SENT;
}

int main(void)
{
    char tmpl[] = "/tmp/test_spool_unrecorded.XXXXXX", err[256], p[300], buf[4096];
    char *dir = mkdtemp(tmpl);
    size_t n = sizeof(SPOOL_BATCH_MAGIC) - 1;
    int left;
    spool_unrecorded_t ur = {0}; /* the mailer keeps it across its passes */

    CHECK(dir != NULL && spool_init(dir, err, sizeof err) == 0, "%s", err);
    if (!dir)
        return unit_done("test_spool_unrecorded");
    /* One batch of two links, ids ...1 and ...2. */
    memcpy(buf, SPOOL_BATCH_MAGIC, n);
    for (int i = 0; i < 2; i++) {
        spool_msg_t m = {.expires_s = 2000000000u, .created_s = 1700000000u};
        snprintf(m.id_hex, sizeof m.id_hex, "%032x", i + 1);
        snprintf(m.to, sizeof m.to, "u%d@example.com", i);
        snprintf(m.url, sizeof m.url, "https://login.example.com/magic/verify/t%d", i);
        n += (size_t)spool_batch_put_msg(buf + n, sizeof buf - n, &m);
    }
    n += (size_t)spool_batch_put_end(buf + n, sizeof buf - n, buf, n, 2);
    snprintf(p, sizeof p, "%s/new/b.00000000000000ab.1", dir);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0 && write(fd, buf, n) == (ssize_t)n);
    close(fd);

    /* The journal's zeros are written, the first link's line is not: the
     * relay has it, the journal does not. */
    lines_fail = 1;
    CHECK(spool_deliver(dir, 64, &left, sender, NULL, &ur, err, sizeof err) == -1);
    CHECK(calls[0] == 1 && calls[1] == 0, "calls %d %d", calls[0], calls[1]);

    /* The disk still fails: the next passes send nothing, least of all
     * the link the relay has already. */
    for (int pass = 0; pass < 3; pass++)
        CHECK(spool_deliver(dir, 64, &left, sender, NULL, &ur, err, sizeof err) == -1);
    CHECK(calls[0] == 1, "a link whose line could not be written was sent %d times", calls[0]);
    CHECK(calls[1] == 0, "sent while the journal could not be written");

    /* A second mailer on the spool (smtp_connections, an upgrade's
     * overlap), with its own set: the file is not its to take while the
     * first holds a link of it sent and not written down. It took the
     * file once the first let go of it, found no line and sent the link
     * again, each of N mailers once. */
    spool_unrecorded_t other = {0};
    CHECK(spool_deliver(dir, 64, &left, sender, NULL, &other, err, sizeof err) == 0, "%s", err);
    CHECK(calls[0] == 1, "another mailer sent the link the first had sent: %d times", calls[0]);
    CHECK(calls[1] == 0, "another mailer sent from the file the first holds");

    /* The disk is back: its line is written without a second send, then
     * the rest goes. */
    lines_fail = 0;
    CHECK(spool_deliver(dir, 64, &left, sender, NULL, &ur, err, sizeof err) == 2, "%s", err);
    CHECK(calls[0] == 1 && calls[1] == 1, "calls %d %d", calls[0], calls[1]);
    snprintf(p, sizeof p, "%s/sent", dir);
    int sentfd = open(p, O_RDONLY | O_DIRECTORY);
    CHECK(spool_journal_count(sentfd, "b.00000000000000ab.1") == 2);
    close(sentfd);
    CHECK(ur.held == 0, "the file is still held once its lines are written");

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return unit_done("test_spool_unrecorded");
}
