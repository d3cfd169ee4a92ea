/*
 * test_delivery.c - links leaving the worker: the outbox's JSON lines (real
 * file, parsed back with jansson), the log line, the smtp spool hand-off,
 * response mode, reopen after rotation, and decoys (same length as the
 * real line, nothing to send, nothing in the spool's new/). The JSON
 * escaping, which scans eight bytes at a time, is held to the byte-at-a-
 * time escaping it replaced, on every byte in every lane.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/conf.h"
#include "core/log.h"
#include "app/delivery.h"
#include "tests/unit/unit.h"

static char dir[256];

static char *slurp(const char *path)
{
    static char buf[65536];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0)
        close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static void test_line(void)
{
    uint8_t id[16];
    char line[512];
    json_error_t je;
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(i * 17);
    int n = deliver_outbox_line("a@b.co", "http://h/magic/verify/x\"\\\n\x01\xc3\xa9", 1700000900,
                                id, NULL, line, sizeof(line));
    CHECK(n > 0 && (size_t)n == strlen(line) && line[n - 1] == '\n');
    CHECK(strchr(line, '\n') == line + n - 1); /* one line, whatever the input */
    json_t *j = json_loadb(line, (size_t)n, 0, &je);
    CHECK(j != NULL);
    if (j) {
        CHECK(strcmp(json_string_value(json_object_get(j, "to")), "a@b.co") == 0);
        CHECK(strcmp(json_string_value(json_object_get(j, "link")),
                     "http://h/magic/verify/x\"\\\n\x01\xc3\x83\xc2\xa9") == 0);
        CHECK(json_integer_value(json_object_get(j, "expires")) == 1700000900);
        CHECK(strcmp(json_string_value(json_object_get(j, "id")),
                     "00112233445566778899aabbccddeeff") == 0);
        json_decref(j);
    }
    CHECK(deliver_outbox_line("a@b.co", "http://h/", 1, id, NULL, line, 40) == -1);
    /* with the mail's meta: code, language, who asked; empty ones left out */
    spool_meta_t meta = {.code = "042917", .lang = "de", .ip = "127.0.0.1", .ua = ""};
    n = deliver_outbox_line("a@b.co", "http://h/", 1, id, &meta, line, sizeof(line));
    j = n > 0 ? json_loadb(line, (size_t)n, 0, &je) : NULL;
    CHECK(j != NULL);
    if (j) {
        CHECK(strcmp(json_string_value(json_object_get(j, "code")), "042917") == 0);
        CHECK(strcmp(json_string_value(json_object_get(j, "lang")), "de") == 0);
        CHECK(strcmp(json_string_value(json_object_get(j, "ip")), "127.0.0.1") == 0);
        CHECK(json_object_get(j, "ua") == NULL);
        json_decref(j);
    }
    CHECK(deliver_outbox_line("a@b.co", "http://h/", 1, id, &meta, line, 90) == -1);
}

/* A JSON string as the outbox wrote it before runs were copied eight bytes
 * at a time: a backslash before '"' and '\\', \u00XX for a control byte
 * and for every byte from 0x7f up, anything else as it is. */
static void ref_json(char *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    *out++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            memcpy(out, "\\u00", 4);
            out[4] = hex[c >> 4];
            out[5] = hex[c & 15];
            out += 6;
        } else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    *out = '\0';
}

/* The escaping of every field an attacker chooses (the address, the
 * User-Agent) against the reference: each byte value at each place of a
 * 24-byte string (all eight lanes of a word, and the tail after the
 * words), then random strings of random bytes. A byte that got through
 * unescaped would end the string early or split the line. */
static void test_json_reference(void)
{
    uint8_t id[16] = {0};
    char ua[64], line[1024], want[1024], enc[512];
    spool_meta_t meta = {.code = "", .lang = "", .ip = "", .ua = ua};

    for (int c = 1; c < 256; c++)
        for (int at = 0; at < 24; at++) {
            memset(ua, 'u', 24);
            ua[24] = '\0';
            ua[at] = (char)c;
            int n = deliver_outbox_line("a@b.co", "http://h/", 1, id, &meta, line, sizeof line);
            ref_json(enc, ua);
            snprintf(want, sizeof want,
                     "{\"to\":\"a@b.co\",\"link\":\"http://h/\",\"expires\":1,"
                     "\"id\":\"00000000000000000000000000000000\",\"ua\":%s}\n",
                     enc);
            CHECK(n > 0 && strcmp(line, want) == 0, "byte 0x%02x at %d: %s", c, at, line);
        }
    srand(11);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand() % 60);
        for (size_t i = 0; i < len; i++) {
            ua[i] = (char)(1 + rand() % 255);
            if (round & 1 && rand() % 2) /* mostly plain, one odd byte here and there */
                ua[i] = 'a';
        }
        ua[len] = '\0';
        int n = deliver_outbox_line(ua, "http://h/", 1, id, NULL, line, sizeof line);
        ref_json(enc, ua);
        snprintf(want, sizeof want,
                 "{\"to\":%s,\"link\":\"http://h/\",\"expires\":1,"
                 "\"id\":\"00000000000000000000000000000000\"}\n",
                 enc);
        CHECK(n > 0 && strcmp(line, want) == 0, "round %d: %s", round, line);
    }
}

static void test_outbox(void)
{
    conf_t c;
    char path[400], rotated[400], err[512];
    uint8_t id[16];
    struct stat st;

    memset(&c, 0, sizeof(c));
    c.smtp.delivery = DELIVERY_OUTBOX;
    snprintf(path, sizeof(path), "%s/outbox.jsonl", dir);
    snprintf(c.smtp.delivery_arg, sizeof(c.smtp.delivery_arg), "%s", path);
    deliver_t *d = deliver_open(&c, err, sizeof(err));
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    memset(id, 0xab, 16);
    CHECK(deliver_send(d, "demo@example.com", "http://127.0.0.1:8080/magic/verify/TOKEN1",
                       1700000900, id, NULL) == 0);
    memset(id, 0xcd, 16);
    CHECK(deliver_send(d, "other@example.com", "http://127.0.0.1:8080/magic/verify/TOKEN2",
                       1700000901, id, NULL) == 0);
    {
        char *text = slurp(path), *nl = strchr(text, '\n');
        json_error_t je;
        CHECK(nl != NULL);
        json_t *j = nl ? json_loadb(text, (size_t)(nl - text), 0, &je) : NULL;
        CHECK(j && strcmp(json_string_value(json_object_get(j, "to")), "demo@example.com") == 0);
        CHECK(j && strcmp(json_string_value(json_object_get(j, "link")),
                          "http://127.0.0.1:8080/magic/verify/TOKEN1") == 0);
        CHECK(j && strlen(json_string_value(json_object_get(j, "id"))) == 32);
        json_decref(j);
        j = nl ? json_loads(nl + 1, 0, &je) : NULL;
        CHECK(j && json_integer_value(json_object_get(j, "expires")) == 1700000901);
        json_decref(j);
    }
    /* Rotation: rename, reopen, the next line goes to a new file. */
    snprintf(rotated, sizeof(rotated), "%s/outbox.jsonl.1", dir);
    CHECK(rename(path, rotated) == 0);
    CHECK(deliver_reopen(d) == 0);
    CHECK(deliver_send(d, "demo@example.com", "http://x/magic/verify/T3", 1, id, NULL) == 0);
    CHECK(strstr(slurp(path), "T3") && !strstr(slurp(path), "TOKEN1"));
    CHECK(strstr(slurp(rotated), "TOKEN2") && !strstr(slurp(rotated), "T3"));
    deliver_close(d);

    /* An outbox that cannot be opened is an error at open time. */
    snprintf(c.smtp.delivery_arg, sizeof(c.smtp.delivery_arg), "%s/missing/dir/outbox", dir);
    err[0] = '\0';
    CHECK(deliver_open(&c, err, sizeof(err)) == NULL && strstr(err, "missing/dir"));
}

static void test_log_response_smtp(void)
{
    conf_t c;
    char logp[400], err[512], spool[400];
    uint8_t id[16];

    memset(id, 0x42, 16);
    snprintf(logp, sizeof(logp), "%s/error.log", dir);
    CHECK(log_open(logp, MG_LOG_INFO) == 0);
    memset(&c, 0, sizeof(c));
    c.smtp.delivery = DELIVERY_LOG;
    deliver_t *d = deliver_open(&c, err, sizeof(err));
    CHECK(d &&
          deliver_send(d, "demo@example.com", "http://h/magic/verify/LOGTOKEN", 1, id, NULL) == 0);
    CHECK(strstr(slurp(logp), "[notice]") &&
          strstr(slurp(logp), "magic link for demo@example.com: http://h/magic/verify/LOGTOKEN"));
    spool_meta_t lm = {.code = "123456"};
    CHECK(d && deliver_send(d, "demo@example.com", "http://h/magic/verify/LOG2", 1, id, &lm) == 0);
    CHECK(strstr(slurp(logp), "http://h/magic/verify/LOG2 (code 123456)") != NULL);
    deliver_close(d);

    c.smtp.delivery = DELIVERY_RESPONSE;
    d = deliver_open(&c, err, sizeof(err));
    CHECK(d && deliver_send(d, "demo@example.com", "http://h/magic/verify/R", 1, id, NULL) == 0);
    deliver_close(d);

    c.smtp.delivery = DELIVERY_SMTP;
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    snprintf(c.smtp.spool, sizeof(c.smtp.spool), "%s", spool);
    d = deliver_open(&c, err, sizeof(err));
    CHECK(d != NULL);
    CHECK(d && deliver_send(d, "demo@example.com", "http://h/magic/verify/SMTPTOKEN", 4000000000u,
                            id, NULL) == 0);
    {
        char msg[500];
        snprintf(msg, sizeof(msg), "%s/new/42424242424242424242424242424242", spool);
        CHECK(access(msg, F_OK) == 0);
        CHECK(strstr(slurp(msg), "SMTPTOKEN") != NULL);
    }
    /* A header-injection attempt is refused by the spool and reported. */
    CHECK(d && deliver_send(d, "demo@example.com\r\nBcc: x@evil.example", "http://h/x", 4000000000u,
                            id, NULL) == -1);
    CHECK(d && strlen(deliver_error(d)) > 0);
    deliver_close(d);
    log_open(NULL, MG_LOG_NOTICE);
}

static void test_decoys(void)
{
    conf_t c;
    char path[400], err[512], spool[400], real[2048], line[2048];
    uint8_t id[16];
    const char *url = "https://login.example.com/magic/verify/TOKENTOKENTOKEN";

    memset(id, 0x5a, 16);
    /* A decoy line is exactly as long as the real one and valid JSON. */
    int n =
        deliver_outbox_line("nobody@example.com", url, 1700000000, id, NULL, real, sizeof(real));
    CHECK(n > 0 && deliver_decoy_line((size_t)n, 1700000000, id, line, sizeof(line)) == n);
    CHECK((int)strlen(line) == n && line[n - 1] == '\n');
    json_error_t je;
    json_t *j = json_loadb(line, (size_t)n, 0, &je);
    CHECK(j && json_is_true(json_object_get(j, "decoy")), "%s", line);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "to")), "") &&
          !strcmp(json_string_value(json_object_get(j, "link")), ""));
    json_decref(j);
    CHECK(deliver_decoy_line(20, 1, id, line, sizeof(line)) == -1);
    CHECK(deliver_decoy_line(4000, 1, id, line, 100) == -1);

    memset(&c, 0, sizeof(c));
    c.smtp.delivery = DELIVERY_OUTBOX;
    snprintf(path, sizeof(path), "%s/decoy.jsonl", dir);
    snprintf(c.smtp.delivery_arg, sizeof(c.smtp.delivery_arg), "%s", path);
    deliver_t *d = deliver_open(&c, err, sizeof(err));
    CHECK(d && deliver_decoy(d, "nobody@example.com", url, 1700000000, id, NULL) == 0);
    char *text = slurp(path);
    CHECK(text && (int)strlen(text) == n && strstr(text, "\"decoy\":true") &&
          !strstr(text, "nobody") && !strstr(text, "TOKEN"));
    deliver_close(d);

    c.smtp.delivery = DELIVERY_SMTP;
    snprintf(spool, sizeof(spool), "%s/decoyspool", dir);
    snprintf(c.smtp.spool, sizeof(c.smtp.spool), "%s", spool);
    d = deliver_open(&c, err, sizeof(err));
    CHECK(d && deliver_decoy(d, "nobody@example.com", url, 4000000000u, id, NULL) == 0);
    char sub[500];
    snprintf(sub, sizeof(sub), "%s/new/5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", spool);
    CHECK(access(sub, F_OK) != 0, "a decoy reached new/");
    snprintf(sub, sizeof(sub), "%s/tmp/5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a.%ld", spool,
             (long)getpid());
    CHECK(access(sub, F_OK) != 0, "a decoy was left in tmp/");
    deliver_close(d);
}

static int async_rc[4], async_n;
static void async_done(void *arg, int rc)
{
    async_rc[(long)arg] = rc;
    async_n++;
}

/* The outbox through the loop: the lines of one iteration land together,
 * before their requests hear back; a partial line some failed roll-back
 * left at the end of the file does not swallow the next link. */
static void test_outbox_async(void)
{
    conf_t c;
    char path[400], err[512];
    uint8_t id[16];
    ev_loop_t *l = ev_loop_new();

    memset(&c, 0, sizeof(c));
    c.smtp.delivery = DELIVERY_OUTBOX;
    snprintf(path, sizeof(path), "%s/outbox-async.jsonl", dir);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs("{\"to\":\"cut@example.com\",\"li", f) >= 0); /* no newline */
    if (f)
        fclose(f);
    snprintf(c.smtp.delivery_arg, sizeof(c.smtp.delivery_arg), "%s", path);
    deliver_t *d = deliver_open(&c, err, sizeof(err));
    CHECK(d != NULL && l != NULL && deliver_is_async(d));
    if (!d || !l)
        return;
    memset(id, 0x11, 16);
    CHECK(deliver_send_async(d, l, "a@example.com", "http://h/magic/verify/A1", 1, id, NULL,
                             async_done, (void *)1L) == 0);
    CHECK(deliver_decoy_async(d, l, "b@example.com", "http://h/magic/verify/B1", 1, id, NULL,
                              async_done, (void *)2L) == 0);
    CHECK(async_n == 0 && !strstr(slurp(path), "A1"), "answered or written before the loop ran");
    ev_run_once(l, 0);
    CHECK(async_n == 2 && async_rc[1] == 0 && async_rc[2] == 0);
    char *text = slurp(path);
    char *a = strstr(text, "{\"to\":\"a@example.com\"");
    CHECK(a && a > text && a[-1] == '\n', "the link was glued to the partial line: %s", text);
    CHECK(strstr(text, "\"decoy\":true") != NULL);
    json_error_t je;
    json_t *j = a ? json_loadb(a, (size_t)(strchr(a, '\n') - a), 0, &je) : NULL;
    CHECK(j &&
          strcmp(json_string_value(json_object_get(j, "link")), "http://h/magic/verify/A1") == 0);
    json_decref(j);
    deliver_close(d);
    ev_loop_free(l);
}

int main(void)
{
    char cmd[300];
    snprintf(dir, sizeof(dir), "%s/test_delivery.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_line();
    test_json_reference();
    test_outbox();
    test_outbox_async();
    test_log_response_smtp();
    test_decoys();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    if (unit_failures) {
        fprintf(stderr, "test_delivery: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_delivery: ok\n");
    return 0;
}
