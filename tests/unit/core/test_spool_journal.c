/*
 * test_spool_journal - the mailer's record of what it sent from a batch
 * file: written over zeros, read back across a reopen, a line cut short by
 * a crash ignored and written over, a symbolic link in its place not
 * followed nor a FIFO read, names checked.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/spool_journal.h"
#include "../unit.h"

static void id(char *out, int i)
{
    snprintf(out, 33, "%032x", i);
}

int main(void)
{
    char tmpl[] = "/tmp/test_spool_journal.XXXXXX", p[200], a[33], b[33], c[33];
    char *dir = mkdtemp(tmpl);
    spool_journal_t j;
    struct stat st;

    CHECK(dir != NULL);
    if (!dir)
        return unit_done("test_spool_journal");
    int sentfd = open(dir, O_RDONLY | O_DIRECTORY);
    id(a, 1), id(b, 2), id(c, 3);

    /* Nothing yet: no file until a link is recorded. */
    CHECK(spool_journal_open(&j, sentfd, ".bs.0123456789abcdef.7") == 0);
    CHECK(!spool_journal_has(&j, a));
    snprintf(p, sizeof p, "%s/bs.0123456789abcdef.7.sent", dir);
    CHECK(stat(p, &st) < 0, "a journal made before anything was sent");
    CHECK(spool_journal_add(&j, a) == 0 && spool_journal_add(&j, b) == 0);
    CHECK(stat(p, &st) == 0 && st.st_size == 4096, "the journal is not a block of zeros ahead: %ld",
          (long)st.st_size);
    spool_journal_close(&j);
    CHECK(stat(p, &st) == 0 && st.st_size == 2 * 38, "the unused zeros stay: %ld",
          (long)st.st_size);
    CHECK(spool_journal_count(sentfd, ".bs.0123456789abcdef.7") == 2);
    CHECK(spool_journal_count(sentfd, "bs.0123456789abcdef.7") == 2, "dot or not, one journal");

    /* Reopened: what was recorded is known; more goes after it. */
    CHECK(spool_journal_open(&j, sentfd, "bs.0123456789abcdef.7") == 0);
    CHECK(spool_journal_has(&j, a) && spool_journal_has(&j, b) && !spool_journal_has(&j, c));
    CHECK(spool_journal_add(&j, c) == 0);
    spool_journal_close(&j);
    CHECK(stat(p, &st) == 0 && st.st_size == 3 * 38, "size %ld, want %d", (long)st.st_size, 3 * 38);
    CHECK(spool_journal_count(sentfd, "bs.0123456789abcdef.7") == 3);

    /* A line cut short by a crash: not a record, and written over. */
    int fd = open(p, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, "sent 0000000000000000000000000000000", 37, 38 * 3) == 37);
    close(fd);
    CHECK(spool_journal_count(sentfd, "bs.0123456789abcdef.7") == 3);
    CHECK(spool_journal_open(&j, sentfd, "bs.0123456789abcdef.7") == 0);
    char d[33];
    id(d, 4);
    CHECK(!spool_journal_has(&j, d) && spool_journal_add(&j, d) == 0);
    spool_journal_close(&j);
    CHECK(spool_journal_open(&j, sentfd, "bs.0123456789abcdef.7") == 0);
    CHECK(spool_journal_has(&j, d) && spool_journal_has(&j, c) && j.nids == 4, "%zu ids", j.nids);
    spool_journal_close(&j);

    /* Past the first chunk of zeros: the file grows, every line is kept. */
    CHECK(spool_journal_open(&j, sentfd, "bs.1111111111111111.1") == 0);
    for (int i = 100; i < 1100; i++) {
        char x[33];
        id(x, i);
        CHECK(spool_journal_add(&j, x) == 0);
    }
    spool_journal_close(&j);
    CHECK(spool_journal_count(sentfd, "bs.1111111111111111.1") == 1000);
    CHECK(spool_journal_open(&j, sentfd, "bs.1111111111111111.1") == 0);
    char x[33];
    id(x, 777);
    CHECK(spool_journal_has(&j, x) && j.nids == 1000);
    spool_journal_close(&j);

    /* A symbolic link in a journal's place is not followed: the lines
     * would go over whatever file it names. */
    char victim[250], link[250], vb[64] = "";
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(link, sizeof link, "%s/bs.2222222222222222.1.sent", dir);
    fd = open(victim, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0 && write(fd, "precious\n", 9) == 9);
    close(fd);
    CHECK(symlink(victim, link) == 0);
    if (spool_journal_open(&j, sentfd, "bs.2222222222222222.1") == 0) {
        spool_journal_add(&j, a);
        spool_journal_close(&j);
    }
    fd = open(victim, O_RDONLY);
    CHECK(fd >= 0 && read(fd, vb, sizeof vb) == 9 && memcmp(vb, "precious\n", 9) == 0,
          "written through a symbolic link: \"%.20s\"", vb);
    close(fd);
    CHECK(fstatat(sentfd, "bs.2222222222222222.1.sent", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode));

    /* Nor is anything but a file read: a FIFO would wait for a writer
     * (alarm: the test fails rather than hangs). */
    CHECK(mkfifo(link, 0600) == 0 || (unlink(link) == 0 && mkfifo(link, 0600) == 0));
    alarm(10);
    CHECK(spool_journal_open(&j, sentfd, "bs.2222222222222222.1") < 0);
    alarm(0);

    /* Names. */
    CHECK(spool_journal_name_ok("bs.0123456789abcdef.7.sent"));
    CHECK(spool_journal_name_ok("b.0123456789abcdef.12.sent"));
    CHECK(!spool_journal_name_ok(".bs.0123456789abcdef.7.sent"));
    CHECK(!spool_journal_name_ok("bs.0123456789abcdef.7"));
    CHECK(!spool_journal_name_ok("0123456789abcdef0123456789abcdef"));
    CHECK(!spool_journal_name_ok(".sent"));

    close(sentfd);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return unit_done("test_spool_journal");
}
