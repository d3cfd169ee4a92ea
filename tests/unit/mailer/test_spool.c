/*
 * test_smtp_spool.c - the mail spool: enqueue is durable and atomic (only
 * complete files appear in new/), idempotent per link id, refuses header
 * injection, and round-trips through spool_read; spool_move and the name
 * and format checks.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailer/mailer.h"
#include "core/spool.h"
#include "tests/unit/unit.h"

static int count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void rm_rf(const char *dir)
{
    static const char *const subs[] = {"tmp", "new", "sent", "failed"};
    char p[700], f[1000];

    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, subs[i]);
        DIR *d = opendir(p);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
            unlink(f);
        }
        if (d)
            closedir(d);
        rmdir(p);
    }
    rmdir(dir);
}

/* What may go on a link's "url:" line: no control byte, space, quote or
 * angle bracket (a newline would start a line of its own in the file). */
static void test_url_ok(void)
{
    char longu[SPOOL_URL_MAX + 8];

    CHECK(spool_url_ok("https://login.example.com/magic/verify/abc-_DEF123"));
    CHECK(spool_url_ok("https://l.example/v?t=\xc3\xa9&x=1#f"));
    CHECK(!spool_url_ok(""));
    CHECK(!spool_url_ok(NULL));
    for (const char *bad = " \t\r\n\x01\x7f\"<>"; *bad; bad++) {
        char u[64];
        snprintf(u, sizeof u, "https://x.example/%cy", *bad);
        CHECK(!spool_url_ok(u), "byte 0x%02x accepted", (unsigned char)*bad);
    }
    memset(longu, 'a', sizeof longu - 1);
    longu[sizeof longu - 1] = '\0';
    CHECK(!spool_url_ok(longu));
    longu[SPOOL_URL_MAX - 1] = '\0';
    CHECK(spool_url_ok(longu));
}

/* A deferred message's due time on its file, for every mailer: its
 * mtime, the delay before it mtime - ctime; each delay doubles the one
 * before, up to the cap; an mtime far ahead (the clock went back) is
 * taken for due. */
static void test_retry(void)
{
    char path[] = "/tmp/test_spool_retry.XXXXXX";
    int fd = mkstemp(path);
    struct stat st;

    CHECK(fd >= 0);
    CHECK(fstat(fd, &st) == 0 && spool_retry_wait_ms(&st, 600000) == 0, "a fresh file not due");
    CHECK(spool_retry_next(&st, 600000) == SPOOL_RETRY_FIRST_MS);
    CHECK(spool_retry_set(fd, 5000) == 0 && fstat(fd, &st) == 0);
    unsigned long w = spool_retry_wait_ms(&st, 600000);
    CHECK(w > 4000 && w <= 5000, "due in %lu ms, want 5000", w);
    unsigned long d = spool_retry_next(&st, 600000);
    CHECK(d >= 9900 && d <= 10000, "next delay %lu ms, want 10000", d);
    CHECK(spool_retry_set(fd, d) == 0 && fstat(fd, &st) == 0);
    d = spool_retry_next(&st, 600000);
    CHECK(d >= 19800 && d <= 20000, "next delay %lu ms, want 20000", d);
    CHECK(spool_retry_next(&st, 15000) == 15000, "the cap");
    CHECK(spool_retry_wait_ms(&st, 5000) == 0, "an mtime past the cap is due");
    close(fd);
    unlink(path);
}

int main(void)
{
    test_retry();
    char base[] = "/tmp/magicd-spool-XXXXXX", dir[600], sub[700], err[256];
    uint8_t id[16], id2[16];
    spool_msg_t m;
    struct stat st;

    for (int i = 0; i < 16; i++) {
        id[i] = (uint8_t)(i * 17);
        id2[i] = (uint8_t)(255 - i);
    }
    test_url_ok();
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    /* enqueue creates the spool when missing */
    snprintf(dir, sizeof(dir), "%s/spool", base);
    CHECK(spool_enqueue(dir, "demo@example.com", "http://h/magic/verify/t1", 2000000000, id, NULL,
                        err, sizeof(err)) == 0);
    snprintf(sub, sizeof(sub), "%s/new", dir);
    CHECK(count_dir(sub) == 1);
    snprintf(sub, sizeof(sub), "%s/tmp", dir);
    CHECK(count_dir(sub) == 0);
    snprintf(sub, sizeof(sub), "%s/new/00112233445566778899aabbccddeeff", dir);
    CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(sub, sizeof(sub), "%s", dir);
    CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0700);

    /* same link id again: still one message (a retried request does not
     * produce two mails) */
    CHECK(spool_enqueue(dir, "demo@example.com", "http://h/magic/verify/t1", 2000000000, id, NULL,
                        err, sizeof(err)) == 0);
    snprintf(sub, sizeof(sub), "%s/new", dir);
    CHECK(count_dir(sub) == 1);
    CHECK(spool_enqueue(dir, "other@example.com", "http://h/magic/verify/t2", 2000000001, id2, NULL,
                        err, sizeof(err)) == 0);
    CHECK(count_dir(sub) == 2);

    /* round trip */
    CHECK(spool_read(dir, "00112233445566778899aabbccddeeff", &m, err, sizeof(err)) == 0);
    CHECK(strcmp(m.to, "demo@example.com") == 0);
    CHECK(strcmp(m.url, "http://h/magic/verify/t1") == 0);
    CHECK(m.expires_s == 2000000000);
    CHECK(m.created_s > 1700000000);
    CHECK(strcmp(m.id_hex, "00112233445566778899aabbccddeeff") == 0);
    CHECK(m.code[0] == '\0' && m.lang[0] == '\0'); /* no meta given */

    /* meta round trip, cleaned: nothing that could break a line or a mail */
    {
        uint8_t id3[16];
        memset(id3, 0x33, 16);
        spool_meta_t meta = {.code = "04 29-17",
                             .lang = "de\nX",
                             .ip = "127.0.0.1\r",
                             .ua = "Mozilla/5.0 \x01(X11)\n\xc3\xa9 Firefox/128.0"};
        CHECK(spool_enqueue(dir, "demo@example.com", "http://h/magic/verify/t3", 2000000000, id3,
                            &meta, err, sizeof(err)) == 0);
        CHECK(spool_read(dir, "33333333333333333333333333333333", &m, err, sizeof(err)) == 0);
        CHECK(strcmp(m.code, "042917") == 0);
        CHECK(strcmp(m.lang, "deX") == 0);
        CHECK(strcmp(m.ip, "127.0.0.1") == 0);
        CHECK(strcmp(m.ua, "Mozilla/5.0 (X11) Firefox/128.0") == 0);
        CHECK(spool_move(dir, "33333333333333333333333333333333", NULL) == 0);
    }

    /* header injection and junk are refused before anything is written */
    CHECK(spool_enqueue(dir, "a@b.c\r\nBcc: x@y.z", "http://h/", 1, id, NULL, err, sizeof(err)) ==
          -1);
    CHECK(spool_enqueue(dir, "a@b.c", "http://h/\nX: y", 1, id, NULL, err, sizeof(err)) == -1);
    CHECK(spool_enqueue(dir, "no-at", "http://h/", 1, id, NULL, err, sizeof(err)) == -1);
    CHECK(spool_enqueue(dir, "a@b@c", "http://h/", 1, id, NULL, err, sizeof(err)) == -1);
    CHECK(spool_enqueue(dir, "<a@b.c>", "http://h/", 1, id, NULL, err, sizeof(err)) == -1);
    CHECK(count_dir(sub) == 2);

    /* format/parse */
    {
        char text[4096];
        spool_msg_t a, b;
        memset(&a, 0, sizeof(a));
        strcpy(a.id_hex, "ffeeddccbbaa99887766554433221100");
        strcpy(a.to, "x@y.z");
        strcpy(a.url, "https://l.example/magic/verify/abc");
        a.expires_s = 42;
        a.created_s = 7;
        int n = spool_format(&a, text, sizeof(text));
        CHECK(n > 0);
        CHECK(spool_parse(text, (size_t)n, &b) == 0 && memcmp(&a, &b, sizeof(a)) == 0);
        CHECK(spool_parse("id: zz\n", 7, &b) == -1);
        CHECK(spool_parse(text, (size_t)n - 20, &b) == -1); /* truncated */
        CHECK(spool_name_ok("ffeeddccbbaa99887766554433221100"));
        CHECK(!spool_name_ok("ffeeddccbbaa99887766554433221100.123"));
        CHECK(!spool_name_ok("FFEEDDCCBBAA99887766554433221100"));
        CHECK(!spool_name_ok(".."));
    }

    /* move to sent/ and to failed/, delete */
    CHECK(spool_move(dir, "00112233445566778899aabbccddeeff", "sent") == 0);
    CHECK(count_dir(sub) == 1);
    snprintf(sub, sizeof(sub), "%s/sent", dir);
    CHECK(count_dir(sub) == 1);
    CHECK(spool_move(dir, "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0", "failed") == 0);
    snprintf(sub, sizeof(sub), "%s/failed", dir);
    CHECK(count_dir(sub) == 1);
    CHECK(spool_move(dir, "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0", NULL) == -1);
    CHECK(spool_read(dir, "00112233445566778899aabbccddeeff", &m, err, sizeof(err)) == -1);

    /* mailer_spool_dir: explicit, or next to the user store */
    {
        static conf_t c;
        char out[CONF_PATH_MAX];
        memset(&c, 0, sizeof(c));
        strcpy(c.auth.users_db, "/var/lib/magicd/users.db");
        CHECK(mailer_spool_dir(&c, out, sizeof(out)) == 0 &&
              strcmp(out, "/var/lib/magicd/spool") == 0);
        strcpy(c.smtp.spool, "/srv/spool");
        CHECK(mailer_spool_dir(&c, out, sizeof(out)) == 0 && strcmp(out, "/srv/spool") == 0);
    }

    rm_rf(dir);
    rmdir(base);
    if (unit_failures)
        return 1;
    printf("ok\n");
    return 0;
}
