/*
 * test_spool_batch - the batch file format, the mailer's unpacking, and the
 * worker's group committer on a real event loop and a real directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/event.h"
#include "core/spool.h"
#include "core/spool_batch.h"
#include "core/spool_commit.h"
#include "core/spool_journal.h"
#include "../unit.h"

static spool_msg_t msg(int i)
{
    spool_msg_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.id_hex, sizeof m.id_hex, "%032x", i + 1);
    snprintf(m.to, sizeof m.to, "user%d@example.com", i);
    snprintf(m.url, sizeof m.url, "https://login.example.com/magic/verify/tok%d", i);
    m.expires_s = 2000000000u;
    m.created_s = 1700000000u;
    return m;
}

/* One batch of messages first..first+nmsg-1 and some decoys. */
static size_t build_from(char *buf, size_t cap, int first, int nmsg, int decoys)
{
    size_t n = sizeof(SPOOL_BATCH_MAGIC) - 1;
    memcpy(buf, SPOOL_BATCH_MAGIC, n);
    for (int i = first; i < first + nmsg; i++) {
        spool_msg_t m = msg(i);
        int w = spool_batch_put_msg(buf + n, cap - n, &m);
        CHECK(w > 0);
        n += (size_t)w;
    }
    for (int i = 0; i < decoys; i++) {
        int w = spool_batch_put_decoy(buf + n, cap - n, 300);
        CHECK(w == 300, "decoy of %d bytes, want 300", w);
        n += (size_t)w;
    }
    int w = spool_batch_put_end(buf + n, cap - n, buf, n, (unsigned)(nmsg + decoys));
    CHECK(w > 0);
    return n + (size_t)w;
}

static size_t build(char *buf, size_t cap, int nmsg, int decoys)
{
    return build_from(buf, cap, 0, nmsg, decoys);
}

static int seen_mask;
static int collect(const spool_msg_t *m, const char *rec, size_t reclen, void *arg)
{
    spool_msg_t again;
    (void)arg;
    CHECK(spool_parse(rec, reclen, &again) == 0 && strcmp(again.to, m->to) == 0);
    seen_mask |= 1 << (int)strtol(m->id_hex + 24, NULL, 16);
    return 0;
}

static void test_format(void)
{
    char buf[16384];
    size_t n = build(buf, sizeof buf, 3, 2);

    seen_mask = 0;
    CHECK(spool_batch_parse(buf, n, collect, NULL, NULL) == 3);
    CHECK(seen_mask == ((1 << 1) | (1 << 2) | (1 << 3)), "seen %x", seen_mask);
    /* Torn anywhere: refused whole, nothing delivered. */
    for (size_t cut = 1; cut < n; cut += 7) {
        seen_mask = 0;
        CHECK(spool_batch_parse(buf, n - cut, collect, NULL, NULL) == -1, "cut %zu accepted", cut);
        CHECK(seen_mask == 0);
    }
    /* Written over a zero-filled file made ahead: the zeros after the
     * trailer are no part of it; torn there, still refused. */
    {
        static char pad[16384 + 8192];
        memcpy(pad, buf, n);
        memset(pad + n, 0, 8192);
        seen_mask = 0;
        CHECK(spool_batch_len(pad, n + 8192) == n);
        CHECK(spool_batch_parse(pad, n + 8192, collect, NULL, NULL) == 3);
        CHECK(seen_mask == ((1 << 1) | (1 << 2) | (1 << 3)));
        memset(pad + n - 30, 0, 30); /* the trailer's page never reached the disk */
        CHECK(spool_batch_parse(pad, n + 8192, collect, NULL, NULL) == -1);
        memset(pad, 0, 4096); /* the first page never did */
        memcpy(pad + n - 30, buf + n - 30, 30);
        CHECK(spool_batch_parse(pad, n + 8192, collect, NULL, NULL) == -1);
        memset(pad, 0, sizeof pad);
        CHECK(spool_batch_len(pad, sizeof pad) == 0);
        CHECK(spool_batch_parse(pad, sizeof pad, collect, NULL, NULL) == -1);
    }
    /* One flipped byte: checksum. */
    buf[40] ^= 1;
    CHECK(spool_batch_parse(buf, n, collect, NULL, NULL) == -1);
    buf[40] ^= 1;
    /* A wrong count. */
    char b2[16384];
    memcpy(b2, buf, n);
    size_t body = n;
    while (body > 0 && b2[body - 1 - 1] != '\n')
        body--;
    body--; /* start of the "end" line */
    int w = spool_batch_put_end(b2 + body, sizeof b2 - body, b2, body, 4);
    CHECK(spool_batch_parse(b2, body + (size_t)w, collect, NULL, NULL) == -1);
    /* Only decoys. */
    n = build(buf, sizeof buf, 0, 3);
    CHECK(spool_batch_parse(buf, n, collect, NULL, NULL) == 0);
    /* Names. */
    CHECK(spool_batch_name_ok("b.0123456789abcdef.1"));
    CHECK(spool_batch_name_ok(".b.0123456789abcdef.1"));
    CHECK(spool_batch_name_ok("bs.0123456789abcdef.1"));
    CHECK(spool_batch_name_ok(".bs.0123456789abcdef.12"));
    CHECK(!spool_batch_name_ok("bx.0123456789abcdef.1"));
    CHECK(!spool_batch_name_ok("bs0123456789abcdef.1"));
    CHECK(spool_batch_name_ok("b.0123456789abcdef.18446744073709551615"));
    CHECK(!spool_batch_name_ok("b.0123456789abcdef."));
    CHECK(!spool_batch_name_ok("b.0123456789ABCDEF.1"));
    CHECK(!spool_batch_name_ok("b.0123456789abcdef.1x"));
    CHECK(!spool_batch_name_ok("0123456789abcdef0123456789abcdef"));
    CHECK(!spool_name_ok("b.0123456789abcdef.1"));
}

/* A file the committer filled with several batches, one after the other
 * over its zeros: every batch counts; a torn last one loses only itself. */
static void test_segments(void)
{
    static char buf[32768];
    size_t a = build_from(buf, sizeof buf, 0, 3, 1);
    size_t b = build_from(buf + a, sizeof buf - a, 3, 2, 0);
    size_t c = build_from(buf + a + b, sizeof buf - a - b, 5, 2, 1);
    size_t n = a + b + c;
    int torn = -1;

    memset(buf + n, 0, 4096);
    seen_mask = 0;
    CHECK(spool_batch_parse(buf, n + 4096, collect, NULL, &torn) == 7 && torn == 0);
    CHECK(seen_mask == 0xfe, "seen %x", seen_mask);
    /* The last batch cut short (its sync never returned): the two before it
     * still count, and the caller is told. */
    for (size_t cut = 1; cut < c; cut += 13) {
        memset(buf + n - cut, 0, cut);
        seen_mask = 0;
        torn = 0;
        CHECK(spool_batch_parse(buf, n + 4096, collect, NULL, &torn) == 5 && torn == 1, "cut %zu",
              cut);
        CHECK(seen_mask == 0x3e, "cut %zu: seen %x", cut, seen_mask);
        CHECK(spool_batch_parse(buf, n + 4096, collect, NULL, NULL) == -1);
        build_from(buf + a + b, sizeof buf - a - b, 5, 2, 1);
    }
    /* A flipped byte in the middle batch: the first still counts, nothing after it. */
    buf[a + 40] ^= 1;
    seen_mask = 0;
    CHECK(spool_batch_parse(buf, n, collect, NULL, &torn) == 3 && torn == 1);
    CHECK(seen_mask == 0x0e, "seen %x", seen_mask);
    buf[a + 40] ^= 1;
    /* As the committer writes them: each batch at the next 4 KiB block,
     * zeros in between. */
    {
        static char al[3 * 4096 + 4096];
        memset(al, 0, sizeof al);
        size_t x = build_from(al, 4096, 0, 3, 1);
        size_t y = build_from(al + 4096, 4096, 3, 2, 0);
        build_from(al + 8192, 4096, 5, 2, 1);
        (void)x;
        (void)y;
        seen_mask = 0;
        CHECK(spool_batch_parse(al, sizeof al, collect, NULL, &torn) == 7 && torn == 0);
        CHECK(seen_mask == 0xfe, "seen %x", seen_mask);
        al[8192 + 40] ^= 1; /* the last one torn: the two before it count */
        CHECK(spool_batch_parse(al, sizeof al, collect, NULL, &torn) == 5 && torn == 1);
    }
    /* Garbage where the next batch should start. */
    memcpy(buf + a, "garbage\n", 8);
    CHECK(spool_batch_parse(buf, n, collect, NULL, &torn) == 3 && torn == 1);
}

static int count_dir(const char *dir, const char *sub, int batches)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    DIR *d = opendir(p);
    struct dirent *de;
    int n = 0;
    if (!d)
        return -1;
    while ((de = readdir(d)))
        n += batches ? spool_batch_name_ok(de->d_name) : spool_name_ok(de->d_name);
    closedir(d);
    return n;
}

/* Batch files in DIR/new a mailer of the release before journals would
 * take: its names were "b." and "bs.", with or without the dot, and it
 * unpacked every link of such a file, knowing nothing of a journal. */
static int count_old_mailer_takes(const char *dir)
{
    char p[600];
    snprintf(p, sizeof p, "%s/new", dir);
    DIR *d = opendir(p);
    struct dirent *de;
    int n = 0;
    if (!d)
        return -1;
    while ((de = readdir(d))) {
        const char *nm = de->d_name + (de->d_name[0] == '.');
        n += spool_batch_name_ok(de->d_name) &&
             (strncmp(nm, "b.", 2) == 0 || strncmp(nm, "bs.", 3) == 0);
    }
    closedir(d);
    return n;
}

static void write_file(const char *path, const char *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
    close(fd);
}

static void test_unpack(const char *dir)
{
    char err[256], buf[16384], p[700];
    int left = -1;
    size_t n = build(buf, sizeof buf, 3, 1);

    CHECK(spool_init(dir, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/new/b.0000000000000001.1", dir);
    write_file(p, buf, n);
    snprintf(p, sizeof p, "%s/new/b.0000000000000001.2", dir);
    write_file(p, buf, n / 2); /* torn */
    CHECK(spool_unpack(dir, 64, &left, err, sizeof err) == 3, "%s", err);
    CHECK(left == 0);
    CHECK(count_dir(dir, "new", 0) == 3);
    CHECK(count_dir(dir, "new", 1) == 0, "batches left in new/");
    CHECK(count_dir(dir, "failed", 1) == 1, "the torn batch is not in failed/");
    spool_msg_t m;
    CHECK(spool_read(dir, "00000000000000000000000000000002", &m, err, sizeof err) == 0, "%s", err);
    CHECK(strcmp(m.to, "user1@example.com") == 0);
    /* Unpacking again after a crash keeps what is there. */
    snprintf(p, sizeof p, "%s/new/b.0000000000000001.3", dir);
    write_file(p, buf, n);
    CHECK(spool_unpack(dir, 64, &left, err, sizeof err) == 0, "%s", err);
    CHECK(count_dir(dir, "new", 0) == 3 && count_dir(dir, "new", 1) == 0);
    /* max_files */
    snprintf(p, sizeof p, "%s/new/b.0000000000000002.1", dir);
    write_file(p, buf, n);
    snprintf(p, sizeof p, "%s/new/b.0000000000000002.2", dir);
    write_file(p, buf, n);
    CHECK(spool_unpack(dir, 1, &left, err, sizeof err) == 0 && left == 1);
    CHECK(count_dir(dir, "new", 1) == 1);
    CHECK(spool_unpack(dir, 64, &left, err, sizeof err) == 0 && left == 0);
    /* Files made ahead by a worker: locked ones are left alone, an empty
     * one whose owner died is removed, a complete one is taken. */
    snprintf(p, sizeof p, "%s/new/.b.0000000000000003.1", dir);
    write_file(p, "", 0);
    snprintf(p, sizeof p, "%s/new/.b.0000000000000003.2", dir);
    int held = open(p, O_WRONLY | O_CREAT, 0600);
    CHECK(held >= 0 && flock(held, LOCK_EX) == 0);
    CHECK(write(held, buf, n) == (ssize_t)n);
    snprintf(p, sizeof p, "%s/new/.b.0000000000000003.3", dir);
    memset(buf + 30, 'z', 10); /* corrupted: fails its checksum */
    write_file(p, buf, n);
    CHECK(spool_unpack(dir, 64, &left, err, sizeof err) == 0, "%s", err);
    CHECK(count_dir(dir, "new", 1) == 1, "%d batch files in new/, want the locked one",
          count_dir(dir, "new", 1));
    CHECK(count_dir(dir, "failed", 1) == 2, "the corrupted batch is not in failed/");
    close(held);
    CHECK(spool_unpack(dir, 64, &left, err, sizeof err) == 0, "%s", err); /* ids already there */
    CHECK(count_dir(dir, "new", 1) == 0);
    /* Zero-filled files made ahead: one never written whose owner died is
     * removed (not failed), one written is taken without its padding. */
    static char zeros[8192];
    snprintf(p, sizeof p, "%s/new/.b.0000000000000004.1", dir);
    write_file(p, zeros, sizeof zeros);
    snprintf(p, sizeof p, "%s/new/.b.0000000000000004.2", dir);
    n = build(buf, sizeof buf, 3, 1);
    memset(buf + n, 0, 4096);
    write_file(p, buf, n + 4096); /* ids 1-3, unpacked above: kept as they are */
    CHECK(spool_unpack(dir, 64, &left, err, sizeof err) == 0, "%s", err);
    CHECK(count_dir(dir, "new", 1) == 0, "%d batch files left", count_dir(dir, "new", 1));
    CHECK(count_dir(dir, "failed", 1) == 2, "a zero-filled file went to failed/");
    /* A file of several batches whose last one is torn: the whole ones are
     * queued, the file goes to failed/. */
    {
        static char seg[32768];
        size_t a = build_from(seg, sizeof seg, 10, 2, 0);
        size_t b = build_from(seg + a, sizeof seg - a, 12, 3, 1);
        size_t c = build_from(seg + a + b, sizeof seg - a - b, 15, 2, 0);
        memset(seg + a + b + c - 20, 0, 20 + 4096);
        snprintf(p, sizeof p, "%s/new/.b.0000000000000005.1", dir);
        write_file(p, seg, a + b + c + 4096);
        CHECK(spool_unpack(dir, 64, &left, err, sizeof err) == 5, "%s", err);
        CHECK(count_dir(dir, "new", 0) == 8, "%d messages in new/", count_dir(dir, "new", 0));
        CHECK(count_dir(dir, "failed", 1) == 3, "the torn file is not in failed/");
        char tp[700];
        snprintf(tp, sizeof tp, "%s/tmp", dir);
        DIR *td = opendir(tp);
        struct dirent *de;
        int stray = 0;
        while (td && (de = readdir(td)))
            stray += de->d_name[0] != '.';
        if (td)
            closedir(td);
        CHECK(stray == 0, "%d files left in tmp/", stray);
        CHECK(spool_read(dir, "0000000000000000000000000000000f", &m, err, sizeof err) == 0, "%s",
              err);
        CHECK(spool_read(dir, "00000000000000000000000000000010", &m, err, sizeof err) < 0,
              "a link of the torn batch was queued");
    }
}

/* The mailer's look at new/ while the relay is down: the batch files it
 * would take, and the links in them; locked files are not its yet. */
/* A sender scripted per message id (the last hex digit): what it answers
 * and how often it was asked. */
typedef struct {
    spool_sent_t answer[32];
    int calls[32];
} script_t;

static spool_sent_t scripted(const spool_msg_t *m, void *arg)
{
    script_t *sc = arg;
    int i = (int)strtol(m->id_hex + 24, NULL, 16) - 1;
    if (i < 0 || i >= 32)
        return SPOOL_STOP;
    sc->calls[i]++;
    return sc->answer[i];
}

/* Sending straight from a batch file: what the sender accepted goes in
 * the journal, what it deferred into new/, what it refused into failed/;
 * a stop leaves the file for the next pass, which sends only the rest. */
static void test_deliver(const char *dir)
{
    char err[256], buf[16384], p[700];
    int left = -1, links = -1;
    size_t n = build(buf, sizeof buf, 6, 2); /* ids 1-6, two decoys */
    script_t sc = {
        .answer = {SPOOL_SENT, SPOOL_DEFER, SPOOL_REFUSED, SPOOL_SENT, SPOOL_STOP, SPOOL_SENT}};

    CHECK(spool_init(dir, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/new/.bs.00000000000000aa.1", dir);
    write_file(p, buf, n);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 4, "%s", err);
    CHECK(sc.calls[4] == 1 && sc.calls[5] == 0, "the sender was asked past its stop");
    CHECK(count_dir(dir, "new", 1) == 1, "the stopped batch file left new/");
    /* Half sent, it is no longer under a name an older mailer takes (a
     * rollback, an upgrade's overlap): one would send ids 1 and 4 again. */
    CHECK(count_old_mailer_takes(dir) == 0,
          "a batch file half sent is still named for older mailers");
    CHECK(count_dir(dir, "new", 0) == 1, "the deferred link is not in new/");
    CHECK(count_dir(dir, "failed", 0) == 1, "the refused link is not in failed/");
    /* Waiting in the batch file: ids 5 and 6. Not the deferred one (new/
     * counts it: the queue depth would hold it twice), nor the refused. */
    CHECK(spool_batch_pending(dir, &links) == 1 && links == 2, "%d links waiting, want 2", links);
    spool_msg_t m;
    CHECK(spool_read(dir, "00000000000000000000000000000002", &m, err, sizeof err) == 0, "%s", err);

    /* The next pass: only ids 5 and 6 are asked for; then the file goes,
     * its journal stays in sent/. */
    sc.answer[4] = SPOOL_SENT;
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 2, "%s", err);
    for (int i = 0; i < 6; i++)
        CHECK(sc.calls[i] == (i == 4 ? 2 : 1), "link %d asked %d times", i + 1, sc.calls[i]);
    CHECK(count_dir(dir, "new", 1) == 0, "the batch file was not removed");
    char sd[700];
    snprintf(sd, sizeof sd, "%s/sent", dir);
    int sfd = open(sd, O_RDONLY | O_DIRECTORY);
    CHECK(spool_journal_count(sfd, "bs.00000000000000aa.1") == 4);

    /* The batch file back after a crash (its removal not yet on disk):
     * nothing of it is sent again. */
    snprintf(p, sizeof p, "%s/new/bs.00000000000000aa.1", dir);
    write_file(p, buf, n);
    memset(&sc.calls, 0, sizeof sc.calls);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 6; i++)
        CHECK(sc.calls[i] == 0, "link %d sent again", i + 1);
    CHECK(count_dir(dir, "new", 1) == 0);

    /* A batch file another mailer holds (an upgrade's overlap) is left
     * alone, even under a complete name. */
    snprintf(p, sizeof p, "%s/new/b.00000000000000bb.1", dir);
    n = build_from(buf, sizeof buf, 20, 2, 0);
    write_file(p, buf, n);
    int held = open(p, O_RDONLY);
    CHECK(held >= 0 && flock(held, LOCK_EX) == 0);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(sc.calls[20] == 0 && count_dir(dir, "new", 1) == 1, "a locked batch file was sent from");
    close(held);
    sc.answer[20] = sc.answer[21] = SPOOL_SENT;
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 2, "%s", err);
    CHECK(sc.calls[20] == 1 && sc.calls[21] == 1 && count_dir(dir, "new", 1) == 0);

    /* A journal that cannot be read or made (a directory in its place):
     * nothing is sent, the file stays. */
    snprintf(p, sizeof p, "%s/new/b.00000000000000cc.1", dir);
    n = build_from(buf, sizeof buf, 25, 1, 0);
    write_file(p, buf, n);
    char jp[800];
    snprintf(jp, sizeof jp, "%s/b.00000000000000cc.1.sent", sd);
    CHECK(mkdir(jp, 0700) == 0);
    sc.answer[25] = SPOOL_SENT;
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(sc.calls[25] == 0 && count_dir(dir, "new", 1) == 1, "sent without a journal");
    CHECK(rmdir(jp) == 0);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 1, "%s", err);
    close(sfd);
}

/* A batch file that holds one link (and decoys) needs no journal: sent,
 * the file itself goes to sent/ under the link's id; back in new/ after a
 * crash, it is not sent again; deferred, the link gets its file in new/. */
static void test_deliver_sole(const char *dir)
{
    char err[256], buf[16384], p[700], q[800];
    int left = -1;
    size_t n = build_from(buf, sizeof buf, 0, 1, 2); /* id 1, two decoys */
    script_t sc = {.answer = {SPOOL_SENT, SPOOL_DEFER}};
    struct stat st;

    CHECK(spool_init(dir, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/new/bs.00000000000000dd.1", dir);
    write_file(p, buf, n);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 1, "%s", err);
    CHECK(sc.calls[0] == 1, "the link was asked for %d times", sc.calls[0]);
    CHECK(count_dir(dir, "new", 1) == 0, "the batch file stayed in new/");
    snprintf(q, sizeof q, "%s/sent/bs.00000000000000dd.1.sent", dir);
    CHECK(stat(q, &st) < 0 && errno == ENOENT, "a journal for a file of one link");
    snprintf(q, sizeof q, "%s/sent/00000000000000000000000000000001", dir);
    CHECK(stat(q, &st) == 0 && (size_t)st.st_size == n, "the batch file is not sent/ID");

    /* Back under its name after a crash: nothing is sent again. */
    write_file(p, buf, n);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(sc.calls[0] == 1, "the link was sent again");
    CHECK(count_dir(dir, "new", 1) == 0);

    /* Deferred: into new/ as a message of its own, the batch file gone. */
    n = build_from(buf, sizeof buf, 1, 1, 0); /* id 2 */
    write_file(p, buf, n);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 1, "%s", err);
    CHECK(sc.calls[1] == 1 && count_dir(dir, "new", 1) == 0 && count_dir(dir, "new", 0) == 1,
          "a deferred link of its own file is not in new/");
    /* Due again after the first delay, for every mailer (spool_retry_set). */
    snprintf(q, sizeof q, "%s/new/00000000000000000000000000000002", dir);
    CHECK(stat(q, &st) == 0 && spool_retry_wait_ms(&st, 600000) > 4000,
          "a deferred link is due again at once");
}

/* A batch file let go of with links still to send (the sender stopped)
 * is a change in new/ for inotify, once its lock is free: another mailer
 * that passed it by while it was held sleeps until new/ changes. */
static void test_deliver_wake(const char *dir)
{
    char err[256], buf[16384], p[700], nd[700], ev[4096];
    int left = -1;
    script_t sc = {.answer = {[10] = SPOOL_SENT, [11] = SPOOL_STOP}};

    CHECK(spool_init(dir, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/new/bs.00000000000000f3.1", dir);
    size_t n = build_from(buf, sizeof buf, 10, 3, 0); /* ids 11-13 */
    write_file(p, buf, n);
    snprintf(nd, sizeof nd, "%s/new", dir);
    int ifd = inotify_init1(IN_NONBLOCK);
    CHECK(ifd >= 0 && inotify_add_watch(ifd, nd, IN_CLOSE_WRITE) >= 0);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 1, "%s", err);
    CHECK(read(ifd, ev, sizeof ev) > 0, "a batch file let go of unsent is no change in new/");
    snprintf(p, sizeof p, "%s/new/jbs.00000000000000f3.1", dir);
    int fd = open(p, O_RDONLY);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0, "the stopped file is still locked");
    if (fd >= 0)
        close(fd);
    /* Sent to the end: nothing to wake anyone for. */
    sc.answer[11] = sc.answer[12] = SPOOL_SENT;
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 2, "%s", err);
    CHECK(read(ifd, ev, sizeof ev) < 0, "a batch file sent to the end woke the mailers");
    close(ifd);
}

/* Without sent/ (a file in its place): a file of one link needs no
 * journal and is sent, and leaves new/; one of two links waits (its
 * journal cannot be made) and nothing of it is sent. */
static void test_deliver_no_sent(const char *dir)
{
    char err[256], buf[16384], p[700], sd[700];
    int left = -1;
    script_t sc = {.answer = {[28] = SPOOL_SENT, [29] = SPOOL_SENT, [30] = SPOOL_SENT}};

    CHECK(spool_init(dir, err, sizeof err) == 0, "%s", err);
    snprintf(sd, sizeof sd, "%s/sent", dir);
    CHECK(rmdir(sd) == 0);
    write_file(sd, "x\n", 2);
    snprintf(p, sizeof p, "%s/new/bs.00000000000000f1.1", dir);
    size_t n = build_from(buf, sizeof buf, 28, 1, 1); /* id 29 and a decoy */
    write_file(p, buf, n);
    snprintf(p, sizeof p, "%s/new/bs.00000000000000f2.1", dir);
    n = build_from(buf, sizeof buf, 29, 2, 0); /* ids 30, 31 */
    write_file(p, buf, n);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 1, "%s", err);
    CHECK(sc.calls[28] == 1, "the link alone in its file was asked for %d times", sc.calls[28]);
    CHECK(sc.calls[29] == 0 && sc.calls[30] == 0, "sent from a file with no journal");
    CHECK(count_dir(dir, "new", 1) == 1, "%d batch files in new/, want the one of two links",
          count_dir(dir, "new", 1));
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(sc.calls[28] == 1 && sc.calls[29] == 0, "sent again");
}

/* One batch file whose journal is unusable, one whose journal is fine:
 * the second is sent all the same, whichever of the two new/ lists first
 * (bad says which: the walk meets them in an order of the file system's
 * own, the same for both runs, so in one of them the bad one comes
 * first). */
static void test_deliver_bad_journal(const char *dir, int bad)
{
    char err[256], buf[16384], p[700], jp[800];
    int left = -1;
    script_t sc = {.answer = {[26] = SPOOL_SENT, [27] = SPOOL_SENT}};

    CHECK(spool_init(dir, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/new/b.00000000000000d%d.1", dir, i);
        size_t n = build_from(buf, sizeof buf, 26 + i, 1, 0);
        write_file(p, buf, n);
    }
    snprintf(jp, sizeof jp, "%s/sent/b.00000000000000d%d.1.sent", dir, bad);
    CHECK(mkdir(jp, 0700) == 0);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 1, "%s", err);
    CHECK(sc.calls[26 + !bad] == 1, "a batch file waits behind another's unusable journal");
    CHECK(sc.calls[26 + bad] == 0 && count_dir(dir, "new", 1) == 1, "sent without a journal");

    /* A FIFO under a batch file's name is no batch file: reading it would
     * wait for a writer (alarm: the test fails rather than hangs). */
    snprintf(p, sizeof p, "%s/new/b.00000000000000e0.1", dir);
    CHECK(mkfifo(p, 0600) == 0);
    alarm(10);
    CHECK(spool_deliver(dir, 64, &left, scripted, &sc, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(spool_batch_pending(dir, NULL) == 1); /* the bad journal's file */
    alarm(0);
}

static void test_pending(const char *dir)
{
    static char buf[32768];
    char err[256], p[700];
    int links = -1, left;

    CHECK(spool_init(dir, err, sizeof err) == 0, "%s", err);
    CHECK(spool_batch_pending(dir, NULL) == 0);
    CHECK(spool_batch_pending(dir, &links) == 0 && links == 0);
    size_t n = build_from(buf, sizeof buf, 0, 3, 1);
    snprintf(p, sizeof p, "%s/new/.bs.0000000000000006.1", dir);
    int held = open(p, O_WRONLY | O_CREAT, 0600);
    CHECK(held >= 0 && flock(held, LOCK_EX) == 0 && write(held, buf, n) == (ssize_t)n);
    CHECK(spool_batch_pending(dir, NULL) == 0, "a locked file counts as waiting");
    CHECK(spool_batch_pending(dir, &links) == 0 && links == 0, "%d links", links);
    n = build_from(buf, sizeof buf, 3, 2, 1);
    snprintf(p, sizeof p, "%s/new/b.0000000000000006.2", dir);
    write_file(p, buf, n);
    CHECK(spool_batch_pending(dir, NULL) == 1);
    CHECK(spool_batch_pending(dir, &links) == 1 && links == 2, "%d links, want 2", links);
    /* Made ahead and closed: whole batches count, a torn last one and
     * the zeros do not; one never written is waiting (to be removed). */
    size_t a = build_from(buf, sizeof buf, 5, 2, 0);
    size_t b = build_from(buf + a, sizeof buf - a, 7, 2, 0);
    memset(buf + a + b - 10, 0, 10 + 4096);
    snprintf(p, sizeof p, "%s/new/.bs.0000000000000006.3", dir);
    write_file(p, buf, a + b + 4096);
    snprintf(p, sizeof p, "%s/new/.bs.0000000000000006.4", dir);
    write_file(p, buf + a + b, 4096);
    CHECK(spool_batch_pending(dir, &links) == 1 && links == 4, "%d links, want 4", links);
    close(held);
    CHECK(spool_batch_pending(dir, &links) == 1 && links == 7, "%d links, want 7", links);
    CHECK(spool_unpack(dir, 64, &left, err, sizeof err) == 7 && left == 0, "%s", err);
    CHECK(count_dir(dir, "new", 0) == 7 && count_dir(dir, "new", 1) == 0);
    CHECK(spool_batch_pending(dir, &links) == 0 && links == 0, "%d links", links);
}

/* ---- the committer on a real loop ---- */

static int done_ok, done_fail, order_bad;
static void on_done(void *arg, int rc)
{
    int *slot = arg;
    if (rc == 0)
        done_ok++;
    else
        done_fail++;
    if (*slot != 0)
        order_bad++; /* called twice */
    *slot = rc == 0 ? 1 : -1;
}

static void run_until(ev_loop_t *l, int *counter, int want)
{
    for (int i = 0; i < 2000 && *counter < want; i++)
        ev_run_once(l, 5);
}

static void test_committer(const char *dir)
{
    char err[256];
    ev_loop_t *l = ev_loop_new();
    spool_committer_t *q = spool_committer_new(l, dir, err, sizeof err);
    int slots[300];
    uint8_t id[16];

    CHECK(q != NULL, "%s", err);
    if (!q)
        return;
    memset(slots, 0, sizeof slots);
    /* One link alone: its own batch. */
    memset(id, 0xa0, sizeof id);
    CHECK(spool_commit_add(q, "one@example.com", "https://x.example/magic/verify/t", 2000000000u,
                           id, NULL, on_done, &slots[0]) == 0);
    run_until(l, &done_ok, 1);
    CHECK(done_ok == 1 && slots[0] == 1);
    CHECK(spool_committer_batches(q) == 1);
    /* 200 links and 50 decoys queued in one go: a handful of batches. */
    for (int i = 1; i <= 250; i++) {
        memset(id, 0, sizeof id);
        id[14] = (uint8_t)(i >> 8);
        id[15] = (uint8_t)i;
        if (i > 200)
            CHECK(spool_commit_decoy(q, 0, on_done, &slots[i]) == 0);
        else
            CHECK(spool_commit_add(q, "many@example.com", "https://x.example/magic/verify/t",
                                   2000000000u, id, NULL, on_done, &slots[i]) == 0);
    }
    /* The waiter of #7 goes away: not called, still committed. */
    spool_commit_cancel(q, &slots[7]);
    run_until(l, &done_ok, 250);
    CHECK(done_ok == 250 && done_fail == 0, "ok %d fail %d", done_ok, done_fail);
    CHECK(slots[7] == 0, "a cancelled waiter was called");
    CHECK(order_bad == 0);
    CHECK(spool_committer_batches(q) <= 3, "%llu batches",
          (unsigned long long)spool_committer_batches(q));
    CHECK(spool_committer_pending(q) == 0);
    /* While the committer lives, the files it made ahead stay locked and
     * untouched, and so does the file it writes into until it has been idle
     * for a moment (then it is closed for the mailer): unpacking takes the
     * 201 written links only, once that file is closed. */
    {
        char e2[256];
        int l2, got = 0, rc = 0;
        for (int i = 0; i < 1000 && got < 201 && rc >= 0; i++) { /* up to 10 s: a busy disk */
            rc = spool_unpack(dir, 1000, &l2, e2, sizeof e2);
            got += rc > 0 ? rc : 0;
            if (got < 201)
                usleep(10000);
        }
        CHECK(rc >= 0 && got == 201, "%d unpacked: %s", got, e2);
        CHECK(count_dir(dir, "new", 1) > 0, "the files made ahead are gone");
    }
    /* Malformed: refused at once. */
    CHECK(spool_commit_add(q, "bad address", "https://x", 1, id, NULL, on_done, &slots[299]) < 0);
    /* Queued at exit: written by free, nobody called. */
    id[0] = 0xee;
    CHECK(spool_commit_add(q, "last@example.com", "https://x.example/magic/verify/t", 2000000000u,
                           id, NULL, on_done, &slots[298]) == 0);
    spool_committer_free(q);
    CHECK(slots[298] == 0);
    char err2[256];
    int left;
    /* The last one, written at exit; the unused files are gone. */
    CHECK(spool_unpack(dir, 1000, &left, err2, sizeof err2) == 1, "%s", err2);
    CHECK(count_dir(dir, "new", 1) == 0, "batch files left in new/");
    CHECK(count_dir(dir, "new", 0) == 202, "%d", count_dir(dir, "new", 0));
    CHECK(count_dir(dir, "tmp", 1) == 0, "batch files left in tmp/");
    ev_loop_free(l);
}

/* Empty new/ and remove it, retrying while the pool thread is still
 * making files in it. 0 when it is gone. */
static int remove_new(const char *dir)
{
    char p[700], f[1000];
    snprintf(p, sizeof p, "%s/new", dir);
    for (int i = 0; i < 500; i++) {
        DIR *d = opendir(p);
        struct dirent *de;
        if (!d)
            return 0;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                snprintf(f, sizeof f, "%s/%s", p, de->d_name);
                unlink(f);
            }
        closedir(d);
        if (rmdir(p) == 0)
            return 0;
        usleep(2000);
    }
    return -1;
}

static void test_committer_error(const char *dir)
{
    char err[256];
    ev_loop_t *l = ev_loop_new();
    spool_committer_t *q = spool_committer_new(l, dir, err, sizeof err);
    static int slots[100];
    uint8_t id[16] = {1};
    int i;

    CHECK(q != NULL, "%s", err);
    if (!q)
        return;
    /* new/ gone (an operator's mistake): once the files made ahead are
     * used up, a batch fails and its waiter hears why. */
    CHECK(remove_new(dir) == 0, "new/ could not be removed");
    done_ok = done_fail = 0;
    memset(slots, 0, sizeof slots);
    for (i = 0; i < 100 && done_fail == 0; i++) {
        id[15] = (uint8_t)i;
        CHECK(spool_commit_add(q, "x@example.com", "https://x.example/v", 2000000000u, id, NULL,
                               on_done, &slots[i]) == 0);
        for (int k = 0; k < 2000 && done_ok + done_fail < i + 1; k++)
            ev_run_once(l, 5);
    }
    CHECK(done_fail == 1 && slots[i - 1] == -1, "no batch failed in %d commits", i);
    CHECK(strstr(spool_committer_error(q), "/new") != NULL, "%s", spool_committer_error(q));
    spool_committer_free(q);
    ev_loop_free(l);
}

/* A mailer unpacking in a tight loop beside a committer that commits one
 * link per batch (so it makes new files ahead all the time): every link
 * acknowledged is unpacked, none is lost with a file the mailer took for
 * an empty leftover while it was being made. */
static void test_committer_vs_mailer(const char *dir)
{
    enum { LINKS = 1500 };
    char err[256];
    ev_loop_t *l = ev_loop_new();
    spool_committer_t *q = spool_committer_new(l, dir, err, sizeof err);
    static int slots[LINKS];
    uint8_t id[16];
    pid_t pid;
    int left, st;

    CHECK(q != NULL, "%s", err);
    if (!q)
        return;
    pid = fork();
    if (pid == 0) {
        for (;;) { /* until killed */
            char e[256];
            int lf;
            spool_unpack(dir, 1000, &lf, e, sizeof e);
        }
    }
    CHECK(pid > 0);
    done_ok = done_fail = 0;
    memset(slots, 0, sizeof slots);
    for (int i = 0; i < LINKS; i++) {
        memset(id, 0x5a, sizeof id);
        id[14] = (uint8_t)(i >> 8);
        id[15] = (uint8_t)i;
        CHECK(spool_commit_add(q, "race@example.com", "https://x.example/magic/verify/t",
                               2000000000u, id, NULL, on_done, &slots[i]) == 0);
        run_until(l, &done_ok, i + 1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    spool_committer_free(q);
    CHECK(done_ok == LINKS && done_fail == 0, "ok %d fail %d", done_ok, done_fail);
    CHECK(spool_unpack(dir, 100000, &left, err, sizeof err) >= 0, "%s", err);
    CHECK(count_dir(dir, "new", 0) == LINKS, "%d of %d acknowledged links in new/",
          count_dir(dir, "new", 0), LINKS);
    ev_loop_free(l);
}

int main(void)
{
    char tmpl[] = "/tmp/test_spool_batch.XXXXXX", d1[100], d2[100], d3[100], d4[100], d5[100];
    char d6[100], d7[100], d8[100], d9[100], d10[100], d11[100];
    char *root = mkdtemp(tmpl);

    CHECK(root != NULL);
    if (!root)
        return unit_done("test_spool_batch");
    snprintf(d1, sizeof d1, "%s/a", root);
    snprintf(d2, sizeof d2, "%s/b", root);
    snprintf(d3, sizeof d3, "%s/c", root);
    snprintf(d4, sizeof d4, "%s/d", root);
    snprintf(d5, sizeof d5, "%s/e", root);
    snprintf(d6, sizeof d6, "%s/f", root);
    snprintf(d7, sizeof d7, "%s/g", root);
    snprintf(d8, sizeof d8, "%s/h", root);
    snprintf(d9, sizeof d9, "%s/i", root);
    snprintf(d10, sizeof d10, "%s/j", root);
    snprintf(d11, sizeof d11, "%s/k", root);
    test_format();
    test_segments();
    test_unpack(d1);
    test_pending(d5);
    test_deliver(d6);
    test_deliver_sole(d9);
    test_deliver_no_sent(d10);
    test_deliver_wake(d11);
    test_deliver_bad_journal(d7, 0);
    test_deliver_bad_journal(d8, 1);
    test_committer(d2);
    test_committer_error(d3);
    test_committer_vs_mailer(d4);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return unit_done("test_spool_batch");
}
