/*
 * access_log.c - buffered access log (see access_log.h).
 *
 * The local time string is rebuilt at most once a second; everything else
 * is appended straight into the buffer. Strings taken from the request
 * (target, referer, user agent) are escaped so a client cannot forge log
 * lines: `"`, `\` and control bytes become \xHH, as nginx does.
 */
#include "core/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"

struct access_log {
    char path[CONF_PATH_MAX];
    int fd;
    access_log_format_t fmt;
    buf_t buf;
    size_t flush_at;
    time_t tsec;
    char tlocal[40]; /* 25/Nov/2026:16:40:01 +0000 */
    char tiso[40];   /* 2026-11-25T16:40:01+00:00 */
};

access_log_t *access_log_open(const char *path, access_log_format_t fmt, size_t bufsize, char *err,
                              size_t errsz)
{
    if (!path || !*path || !strcmp(path, "off"))
        return NULL;
    access_log_t *al = calloc(1, sizeof *al);
    if (!al) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    snprintf(al->path, sizeof al->path, "%s", path);
    al->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, LOG_FILE_MODE);
    if (al->fd < 0) {
        snprintf(err, errsz, "cannot open access log \"%s\": %s", path, strerror(errno));
        free(al);
        return NULL;
    }
    al->fmt = fmt;
    al->flush_at = bufsize ? bufsize : 1;
    return al;
}

static void update_time(access_log_t *al)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec == al->tsec)
        return;
    al->tsec = tv.tv_sec;
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    strftime(al->tlocal, sizeof al->tlocal, "%d/%b/%Y:%H:%M:%S %z", &tm);
    strftime(al->tiso, sizeof al->tiso, "%Y-%m-%dT%H:%M:%S%z", &tm);
}

/* Append s escaped for a quoted log field (json=1: JSON string rules).
 * Runs of safe bytes are copied in one append: this is per request. */
static void put_escaped(buf_t *b, const char *s, size_t n, int json)
{
    if (!s || n == 0) {
        if (!json)
            buf_append(b, "-", 1);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        int plain = !(ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) || (json && ch >= 0x80);
        if (plain)
            continue;
        buf_append(b, s + run, i - run);
        run = i + 1;
        char e[6];
        if (json) {
            memcpy(e, "\\u00", 4);
            e[4] = hex[ch >> 4];
            e[5] = hex[ch & 15];
            buf_append(b, e, 6);
        } else {
            e[0] = '\\';
            e[1] = 'x';
            e[2] = hex[ch >> 4];
            e[3] = hex[ch & 15];
            buf_append(b, e, 4);
        }
    }
    buf_append(b, s + run, n - run);
}

void access_log_write(access_log_t *al, const char *peer, const http_request_t *req, int status,
                      size_t bytes, uint64_t usec)
{
    if (!al)
        return;
    update_time(al);
    buf_t *b = &al->buf;
    int json = al->fmt == ACCESS_LOG_JSON;
    int have_req = req && req->method_str.n;
    if (!json) {
        buf_puts(b, peer);
        buf_append(b, " - - [", 6);
        buf_puts(b, al->tlocal);
        buf_append(b, "] \"", 3);
        if (have_req) {
            put_escaped(b, req->method_str.p, req->method_str.n, 0);
            buf_append(b, " ", 1);
            put_escaped(b, req->target.p, req->target.n, 0);
            buf_append(b, req->version_minor ? " HTTP/1.1" : " HTTP/1.0", 9);
        } else {
            buf_append(b, "-", 1);
        }
        buf_append(b, "\" ", 2);
        buf_put_u64(b, (uint64_t)status);
        buf_append(b, " ", 1);
        buf_put_u64(b, bytes);
        buf_append(b, " \"", 2);
        put_escaped(b, have_req ? req->referer.p : NULL, have_req ? req->referer.n : 0, 0);
        buf_append(b, "\" \"", 3);
        put_escaped(b, have_req ? req->user_agent.p : NULL, have_req ? req->user_agent.n : 0, 0);
        /* nginx's combined, then the request id as nginx's $request_id is
         * usually logged: a last quoted field ("-" when there is none) */
        buf_append(b, "\" \"", 3);
        if (have_req && req->request_id[0])
            buf_puts(b, req->request_id);
        else
            buf_append(b, "-", 1);
        buf_append(b, "\"\n", 2);
    } else {
        buf_printf(b, "{\"time\":\"%s\",\"remote_addr\":\"%s\",\"method\":\"", al->tiso, peer);
        if (have_req)
            put_escaped(b, req->method_str.p, req->method_str.n, 1);
        buf_puts(b, "\",\"uri\":\"");
        if (have_req)
            put_escaped(b, req->target.p, req->target.n, 1);
        buf_printf(b,
                   "\",\"protocol\":\"HTTP/1.%d\",\"status\":%d,\"bytes_sent\":%zu,"
                   "\"request_time_us\":%llu,\"referer\":\"",
                   have_req ? req->version_minor : 1, status, bytes, (unsigned long long)usec);
        if (have_req)
            put_escaped(b, req->referer.p, req->referer.n, 1);
        buf_puts(b, "\",\"user_agent\":\"");
        if (have_req)
            put_escaped(b, req->user_agent.p, req->user_agent.n, 1);
        buf_puts(b, "\",\"request_id\":\"");
        if (have_req)
            buf_puts(b, req->request_id); /* a sane token: nothing to escape */
        buf_puts(b, "\"}\n");
    }
    if (b->len >= al->flush_at)
        access_log_flush(al);
}

int access_log_flush(access_log_t *al)
{
    if (!al || al->buf.len == 0)
        return 0;
    size_t off = 0;
    int rc = 0;
    while (off < al->buf.len) {
        ssize_t n = write(al->fd, al->buf.data + off, al->buf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            log_error(MG_LOG_ALERT, errno, "write() to access log \"%s\" failed, %zu bytes lost",
                      al->path, al->buf.len - off);
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    al->buf.len = 0;
    return rc;
}

int access_log_reopen(access_log_t *al)
{
    if (!al)
        return 0;
    access_log_flush(al);
    int fd = open(al->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, LOG_FILE_MODE);
    if (fd < 0) {
        log_error(MG_LOG_ALERT, errno, "reopening access log \"%s\"", al->path);
        return -1;
    }
    dup2(fd, al->fd);
    close(fd);
    return 0;
}

void access_log_close(access_log_t *al)
{
    if (!al)
        return;
    access_log_flush(al);
    close(al->fd);
    buf_free(&al->buf);
    free(al);
}

size_t access_log_pending(const access_log_t *al)
{
    return al ? al->buf.len : 0;
}
