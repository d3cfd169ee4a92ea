/*
 * test_access_log.c - the access log writing a real file in a temporary
 * directory, from requests parsed by the real parser.
 *
 * Formats: `combined` is byte for byte nginx's line; `json` is one object a
 * line with the timings, parsed back here field by field. Escaping: a
 * target, referer or user agent with quotes, backslashes or control bytes
 * cannot forge a line or break the JSON. Buffering: lines wait in memory
 * until the buffer passes its size or access_log_flush() runs (the
 * worker's flush timer), then land with one write; close flushes. Reopen
 * (USR1 after logrotate moved the file): the next lines go to a new file at
 * the configured path. "off" and an unopenable path.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/access_log.h"
#include "core/http.h"
#include "tests/unit/unit.h"

static char dir[] = "/tmp/magicd-test-access-log.XXXXXX";

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char data[1 << 16];
    size_t n = fread(data, 1, sizeof data - 1, f);
    fclose(f);
    data[n] = 0;
    return data;
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static void parse(http_request_t *req, const char *raw)
{
    http_limits_t lim = {.max_request_line = 8192, .max_header_bytes = 16384, .max_headers = 64};
    const char *why = NULL;
    int r = http_parse_request(raw, strlen(raw), &lim, req, &why);
    CHECK(r > 0, "request parses: %d %s", r, why ? why : "");
}

static const char *RAW = "GET /login?rd=%2Fsecure HTTP/1.1\r\n"
                         "Host: 127.0.0.1\r\n"
                         "Referer: http://127.0.0.1/\r\n"
                         "User-Agent: curl/8.0\r\n\r\n";

static void test_combined(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/access.log", dir);
    char err[256] = "";
    access_log_t *al = access_log_open(path, ACCESS_LOG_COMBINED, 64 * 1024, err, sizeof err);
    CHECK(al != NULL, "open: %s", err);
    if (!al)
        return;
    http_request_t req;
    parse(&req, RAW);
    time_t before = time(NULL);
    snprintf(req.request_id, sizeof req.request_id, "req-7");
    access_log_write(al, "127.0.0.1", &req, 200, 1234, 567);
    CHECK(access_log_pending(al) > 0 && file_size(path) == 0,
          "buffered: %zu bytes pending, %zu in the file", access_log_pending(al), file_size(path));
    CHECK(access_log_flush(al) == 0 && access_log_pending(al) == 0);
    char *got = slurp(path);
    /* 127.0.0.1 - - [01/Dec/2026:10:00:00 +0000] "GET ... HTTP/1.1" 200 1234 "ref" "ua" "id" */
    char when[40];
    struct tm tm;
    localtime_r(&before, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
    char want[512];
    snprintf(want, sizeof want,
             "127.0.0.1 - - [%s] \"GET /login?rd=%%2Fsecure HTTP/1.1\" 200 1234 "
             "\"http://127.0.0.1/\" \"curl/8.0\" \"req-7\"\n",
             when);
    CHECK(got && (strcmp(got, want) == 0 || time(NULL) != before), "combined line:\n%s\nwant:\n%s",
          got ? got : "(none)", want);
    CHECK(got && got[strlen(got) - 1] == '\n' && strchr(got, '\n') == got + strlen(got) - 1,
          "one line");

    /* No request (a 400 before the request line parsed): "-" fields. */
    access_log_write(al, "::1", NULL, 400, 0, 0);
    access_log_flush(al);
    got = slurp(path);
    CHECK(got && strstr(got, "\n::1 - - [") && strstr(got, "] \"-\" 400 0 \"-\" \"-\" \"-\"\n"),
          "no request: %s", got ? got : "");

    /* A hostile user agent cannot start a new line or close the quote. */
    http_request_t evil;
    parse(&evil, "GET /x HTTP/1.0\r\nUser-Agent: a\"b\\c\xe9\r\n\r\n");
    access_log_write(al, "10.0.0.1", &evil, 404, 9, 1);
    access_log_close(al); /* flushes */
    got = slurp(path);
    const char *line = got ? strstr(got, "10.0.0.1 ") : NULL;
    CHECK(line && strstr(line, "\"GET /x HTTP/1.0\" 404 9 \"-\" \"a\\x22b\\x5cc\\xe9\" \"-\"\n"),
          "escaped: %s", line ? line : "");
    int lines = 0;
    for (const char *p = got; p && *p; p++)
        lines += *p == '\n';
    CHECK(lines == 3, "three lines, got %d", lines);
}

/* The value of "key": in a JSON line (string or number, as text). */
static int json_field(const char *line, const char *key, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    size_t i = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && i + 1 < n; p++) {
            if (*p == '\\' && p[1])
                out[i++] = *p++;
            out[i++] = *p;
        }
    } else {
        while (*p && *p != ',' && *p != '}' && i + 1 < n)
            out[i++] = *p++;
    }
    out[i] = 0;
    return 0;
}

static void test_json(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/access.json", dir);
    char err[256] = "";
    access_log_t *al = access_log_open(path, ACCESS_LOG_JSON, 64 * 1024, err, sizeof err);
    CHECK(al != NULL, "open: %s", err);
    if (!al)
        return;
    http_request_t req;
    parse(&req, RAW);
    access_log_write(al, "127.0.0.1", &req, 303, 42, 1500);
    http_request_t evil;
    parse(&evil, "POST /a\"b HTTP/1.1\r\nHost: x\r\nUser-Agent: q\"\\\r\n\r\n");
    access_log_write(al, "127.0.0.2", &evil, 403, 7, 3);
    access_log_flush(al);
    char *got = slurp(path);
    char *second = got ? strchr(got, '\n') : NULL;
    CHECK(second && second[1] && strchr(second + 1, '\n'), "two lines: %s", got ? got : "");
    if (!second)
        return;
    *second = 0;
    char v[256];
    static const struct {
        const char *key, *want;
    } f[] = {{"remote_addr", "127.0.0.1"},
             {"method", "GET"},
             {"uri", "/login?rd=%2Fsecure"},
             {"protocol", "HTTP/1.1"},
             {"status", "303"},
             {"bytes_sent", "42"},
             {"request_time_us", "1500"},
             {"referer", "http://127.0.0.1/"},
             {"user_agent", "curl/8.0"}};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        CHECK(json_field(got, f[i].key, v, sizeof v) == 0 && strcmp(v, f[i].want) == 0,
              "%s: \"%s\", want \"%s\"", f[i].key, v, f[i].want);
    }
    CHECK(json_field(got, "time", v, sizeof v) == 0 && strlen(v) == 24 && v[10] == 'T',
          "ISO time: %s", v);
    CHECK(got[0] == '{' && got[strlen(got) - 1] == '}', "an object a line");
    const char *l2 = second + 1;
    CHECK(strstr(l2, "\"uri\":\"/a\\u0022b\"") && strstr(l2, "\"user_agent\":\"q\\u0022\\u005c\""),
          "JSON escapes: %s", l2);
    CHECK(strstr(l2, "\"referer\":\"\""), "absent referer is an empty string: %s", l2);
    access_log_close(al);
}

static void test_buffer_threshold(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/small.log", dir);
    char err[256] = "";
    /* A 300-byte buffer: the second ~120-byte line stays, the third flushes. */
    access_log_t *al = access_log_open(path, ACCESS_LOG_COMBINED, 300, err, sizeof err);
    CHECK(al != NULL, "open: %s", err);
    if (!al)
        return;
    http_request_t req;
    parse(&req, RAW);
    access_log_write(al, "127.0.0.1", &req, 200, 1, 1);
    size_t one = access_log_pending(al);
    CHECK(one > 80 && one < 150 && file_size(path) == 0, "one line pending (%zu bytes)", one);
    access_log_write(al, "127.0.0.1", &req, 200, 1, 1);
    CHECK(file_size(path) == 0, "under the buffer size: nothing written");
    access_log_write(al, "127.0.0.1", &req, 200, 1, 1);
    CHECK(access_log_pending(al) == 0 && file_size(path) == 3 * one,
          "past it: one write of whole lines (%zu bytes in the file)", file_size(path));
    access_log_flush(al);
    CHECK(access_log_flush(al) == 0, "an empty flush is fine");

    /* bufsize 0: every line is written at once. */
    char p0[128];
    snprintf(p0, sizeof p0, "%s/unbuffered.log", dir);
    access_log_t *u = access_log_open(p0, ACCESS_LOG_COMBINED, 0, err, sizeof err);
    access_log_write(u, "127.0.0.1", &req, 200, 1, 1);
    CHECK(u && access_log_pending(u) == 0 && file_size(p0) == one, "unbuffered");
    access_log_close(u);

    /* Reopen after the file was moved away: new lines go to a new file. */
    access_log_write(al, "127.0.0.1", &req, 201, 1, 1);
    char moved[160];
    snprintf(moved, sizeof moved, "%s.1", path);
    CHECK(rename(path, moved) == 0);
    CHECK(access_log_reopen(al) == 0);
    CHECK(file_size(moved) == 4 * one, "the pending line went to the old file before reopening");
    access_log_write(al, "127.0.0.1", &req, 202, 1, 1);
    access_log_close(al);
    char *got = slurp(path);
    CHECK(got && strstr(got, "\" 202 ") && !strstr(got, "\" 201 "), "new file: %s",
          got ? got : "(none)");
}

static void test_off_and_errors(void)
{
    char err[256] = "unset";
    CHECK(access_log_open("off", ACCESS_LOG_COMBINED, 1024, err, sizeof err) == NULL &&
              strcmp(err, "unset") == 0,
          "off: disabled, no error");
    CHECK(access_log_open(NULL, ACCESS_LOG_COMBINED, 1024, err, sizeof err) == NULL);
    access_log_write(NULL, "127.0.0.1", NULL, 200, 0, 0); /* disabled: a no-op */
    CHECK(access_log_flush(NULL) == 0 && access_log_pending(NULL) == 0);
    char path[160];
    snprintf(path, sizeof path, "%s/no/such/dir/access.log", dir);
    CHECK(access_log_open(path, ACCESS_LOG_COMBINED, 1024, err, sizeof err) == NULL);
    CHECK(strstr(err, path) && strstr(err, "No such file"), "names the path: %s", err);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_combined();
    test_json();
    test_buffer_threshold();
    test_off_and_errors();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!unit_failures && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return unit_done("test_access_log");
}
