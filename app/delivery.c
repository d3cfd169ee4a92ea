/*
 * delivery.c - the four ways a link leaves the worker (see delivery.h).
 *
 * The outbox is the mode the tests and an external mailer use, and it sits
 * on the benchmarked POST /magic/generate path: the JSON line is formatted
 * into a stack buffer by hand (the fields are a few known strings and
 * numbers; no printf) and the lines of one loop iteration are appended with
 * one write(2) to a descriptor opened once with O_APPEND, before any of
 * their requests is answered (app/outbox_group.h). It is not fsynced: the outbox is a
 * hand-off to a mailer on the same machine, and a worker that fsynced per
 * request would serialise on the disk; `delivery smtp` is the durable path
 * (the spool fsyncs).
 *
 * A full disk must not cost a link that was already promised. A write(2)
 * that runs out of space mid-line leaves a partial line; left there, the
 * next link would be glued to it and unreadable. So each append runs under
 * the shared-memory outbox lock (every worker appends to the same file):
 * note the size, write, and on a short write ftruncate back to that size,
 * all before any other worker can append. The lock is held for one write,
 * a few microseconds; a worker that dies holding it is forgiven by the
 * master, like the rate-limit lock.
 *
 * Decoys (no account enumeration): for an address without an account the
 * caller asks for deliver_decoy(), which does the same work as a real
 * delivery and fails the same way: in the outbox a line of exactly the
 * length the real one would have had, marked "decoy":true and carrying no
 * address and no link (a mailer skips it; a mailer that does not know the
 * mark finds nobody to send to); in the smtp group commit a decoy record in
 * the same batch (deliver_decoy_async); on the synchronous spool path the
 * same file write, fsync and directory fsync, with the file unlinked
 * instead of renamed into new/, so the mailer never sees it; in the log a
 * line of the same kind.
 *
 * JSON escaping: quotes, backslashes and control characters are escaped;
 * bytes >= 0x80 are written as \u00XX so the line is valid JSON whatever a
 * Host header contained (addresses are ASCII by email_normalize already).
 *
 * smtp: the hook below hands the message to the mail spool (core/spool.h),
 * which the mailer process delivers with retries; the worker only pays for a
 * small file write and its fsync.
 */
#include "app/delivery.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "app/outbox_group.h"
#include "core/log.h"
#include "core/prof_hooks.h"
#include "core/shmtx.h"
#include "core/spool.h"
#include "core/spool_commit.h"
#include "core/strcat.h"
#include "core/swar.h"

#define DELIVER_LINE_MAX 8192

struct deliver {
    delivery_t mode;
    int fd;                    /* outbox */
    shmtx_t *lock;             /* outbox appends, shared by the workers; may be NULL */
    spool_committer_t *commit; /* smtp, from the first link on */
    outbox_group_t *group;     /* outbox, from the first link on */
    char path[CONF_PATH_MAX];  /* outbox file or spool directory */
    char err[CONF_PATH_MAX + 256];
    char group_err[CONF_PATH_MAX + 256]; /* the last failed outbox group's */
};

static const char deliver_hex[] = "0123456789abcdef";

/* A byte that goes into a JSON string as itself. */
static int deliver_json_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* How many of the n bytes at s go into a JSON string as they are: eight
 * at a time while a word has no control byte, no byte from 0x7f up, no
 * quote and no backslash (a link has none: the whole of it in a few
 * steps), then byte by byte. */
static size_t deliver_json_run(const char *s, size_t n)
{
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w = swar_load(s + k);
        if (swar_has_below(w, 0x20) | swar_has_byte(w, '"') | swar_has_byte(w, '\\') |
            swar_has_byte(w, 0x7f) | (w & SWAR_HIGHS))
            break;
    }
    while (k < n && deliver_json_plain((unsigned char)s[k]))
        k++;
    return k;
}

/* Append s as a JSON string (with quotes). Returns the new position, or NULL
 * when it does not fit. Runs of plain bytes are copied whole: this runs
 * for every link. */
static char *deliver_json_str(char *p, char *end, const char *s)
{
    size_t left = strlen(s);
    if (p >= end)
        return NULL;
    *p++ = '"';
    for (;;) {
        size_t n = deliver_json_run(s, left);
        if ((size_t)(end - p) < n)
            return NULL;
        memcpy(p, s, n);
        p += n;
        s += n;
        left -= n;
        if (!left)
            break;
        unsigned char c = (unsigned char)*s++;
        left--;
        if (end - p < 6)
            return NULL;
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else {
            memcpy(p, "\\u00", 4);
            p[4] = deliver_hex[c >> 4];
            p[5] = deliver_hex[c & 15];
            p += 6;
        }
    }
    if (end - p < 1)
        return NULL;
    *p++ = '"';
    return p;
}

static char *deliver_lit(char *p, char *end, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(end - p) < n)
        return NULL;
    memcpy(p, s, n);
    return p + n;
}

/* ,"key":"value" for a non-empty meta value. */
static char *deliver_meta(char *p, char *end, const char *key, const char *v)
{
    if (!p || !v || !*v)
        return p;
    if (!(p = deliver_lit(p, end, ",\"")) || !(p = deliver_lit(p, end, key)) ||
        !(p = deliver_lit(p, end, "\":")))
        return NULL;
    return deliver_json_str(p, end, v);
}

int deliver_outbox_line(const char *email, const char *link_url, uint64_t expires_s,
                        const uint8_t id[16], const spool_meta_t *meta, char *out, size_t outsz)
{
    char *p = out, *end = out + outsz, num[24], hex[33];

    for (int i = 0; i < 16; i++) {
        hex[2 * i] = deliver_hex[id[i] >> 4];
        hex[2 * i + 1] = deliver_hex[id[i] & 15];
    }
    hex[32] = '\0';
    sc_t ns = sc_init(num, sizeof(num)); /* per link: no printf */
    sc_u64(&ns, expires_s);
    if (!(p = deliver_lit(p, end, "{\"to\":")) || !(p = deliver_json_str(p, end, email)) ||
        !(p = deliver_lit(p, end, ",\"link\":")) || !(p = deliver_json_str(p, end, link_url)) ||
        !(p = deliver_lit(p, end, ",\"expires\":")) || !(p = deliver_lit(p, end, num)) ||
        !(p = deliver_lit(p, end, ",\"id\":\"")) || !(p = deliver_lit(p, end, hex)) ||
        !(p = deliver_lit(p, end, "\"")))
        return -1;
    if (meta) {
        p = deliver_meta(p, end, "code", meta->code);
        p = deliver_meta(p, end, "lang", meta->lang);
        p = deliver_meta(p, end, "ip", meta->ip);
        p = deliver_meta(p, end, "ua", meta->ua);
    }
    if (!p || !(p = deliver_lit(p, end, "}\n")) || p == end)
        return -1;
    *p = '\0'; /* callers may treat the line as a C string */
    return (int)(p - out);
}

static int deliver_open_outbox(deliver_t *d)
{
    int fd = open(d->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600); /* read: the last byte */

    if (fd < 0) {
        snprintf(d->err, sizeof(d->err), "cannot open outbox %s: %s", d->path, strerror(errno));
        return -1;
    }
    if (d->fd >= 0)
        close(d->fd);
    d->fd = fd;
    return 0;
}

deliver_t *deliver_open(const conf_t *c, char *err, size_t errsz)
{
    deliver_t *d = calloc(1, sizeof(*d));

    if (!d) {
        snprintf(err, errsz, "delivery: out of memory");
        return NULL;
    }
    d->mode = c->smtp.delivery;
    d->fd = -1;
    switch (d->mode) {
    case DELIVERY_OUTBOX:
        if (!c->smtp.delivery_arg[0]) {
            snprintf(err, errsz, "delivery outbox needs a file name");
            free(d);
            return NULL;
        }
        snprintf(d->path, sizeof(d->path), "%s", c->smtp.delivery_arg);
        if (deliver_open_outbox(d) < 0) {
            snprintf(err, errsz, "%s", d->err);
            free(d);
            return NULL;
        }
        break;
    case DELIVERY_SMTP:
        snprintf(d->path, sizeof(d->path), "%s", c->smtp.spool);
        break;
    case DELIVERY_LOG:
    case DELIVERY_RESPONSE:
        break;
    }
    return d;
}

/* ---- smtp hook --------------------------------------------------------
 * Hands the link to the mail spool; the mailer process does the SMTP. This
 * is the one place the worker touches mail: change it here only. */
static int deliver_smtp(deliver_t *d, const char *email, const char *link_url, uint64_t expires_s,
                        const uint8_t id[16], const spool_meta_t *meta)
{
    prof_block_t t = prof_block_begin();
    int rc = spool_enqueue(d->path, email, link_url, expires_s, id, meta, d->err, sizeof(d->err));
    prof_block_end(t, "spool_enqueue");
    return rc;
}
/* ---- end of smtp hook ---------------------------------------------- */

/* Append one whole line or nothing: on a short write the partial line is
 * cut off again before the lock is released. */
static int deliver_outbox_append(deliver_t *d, const char *line, size_t n)
{
    struct stat st;
    ssize_t w;
    int rc = 0, err = 0;
    prof_block_t t;

    if (d->fd < 0 && deliver_open_outbox(d) < 0)
        return -1;
    t = prof_block_begin();
    if (d->lock)
        shmtx_lock(d->lock);
    if (fstat(d->fd, &st) < 0) {
        err = errno;
        rc = -1;
    } else {
        /* A roll-back that failed (any worker's) left a partial line at
         * the end: start on a line of our own, or the first link here
         * would be glued to it and unreadable. */
        char last = '\n';
        struct iovec iov[2] = {{"\n", 1}, {(void *)line, n}};
        if (st.st_size > 0 && pread(d->fd, &last, 1, st.st_size - 1) != 1)
            last = '\n';
        int skip = last == '\n';
        size_t want = n + (skip ? 0 : 1);
        do
            w = writev(d->fd, iov + skip, 2 - skip);
        while (w < 0 && errno == EINTR);
        if (w != (ssize_t)want) {
            err = w < 0 ? errno : ENOSPC;
            rc = -1;
            if (w > 0 && ftruncate(d->fd, st.st_size) < 0)
                err = errno; /* could not roll back: say so below */
        }
    }
    if (d->lock)
        shmtx_unlock(d->lock);
    prof_block_end(t, "write");
    if (rc < 0)
        snprintf(d->err, sizeof(d->err), "cannot write outbox %s: %s", d->path, strerror(err));
    return rc;
}

/* The outbox line of a link, or (decoy) a decoy line of exactly its
 * length, in line; its length, or -1 with d->err. One formatter for the
 * synchronous append and the group write. */
static int deliver_outbox_text(deliver_t *d, int decoy, const char *email, const char *link_url,
                               uint64_t expires_s, const uint8_t id[16], const spool_meta_t *meta,
                               char line[DELIVER_LINE_MAX])
{
    char real[DELIVER_LINE_MAX];
    int n = deliver_outbox_line(email, link_url, expires_s, id, meta, decoy ? real : line,
                                DELIVER_LINE_MAX);

    if (n >= 0 && decoy)
        n = deliver_decoy_line((size_t)n, expires_s, id, line, DELIVER_LINE_MAX);
    if (n < 0)
        snprintf(d->err, sizeof(d->err), "outbox %s: link too long", d->path);
    return n;
}

static int deliver_outbox(deliver_t *d, int decoy, const char *email, const char *link_url,
                          uint64_t expires_s, const uint8_t id[16], const spool_meta_t *meta)
{
    char line[DELIVER_LINE_MAX];
    int n = deliver_outbox_text(d, decoy, email, link_url, expires_s, id, meta, line);

    return n < 0 ? -1 : deliver_outbox_append(d, line, (size_t)n);
}

int deliver_decoy_line(size_t len, uint64_t expires_s, const uint8_t id[16], char *out,
                       size_t outsz)
{
    char num[24], hex[33];
    int n;

    for (int i = 0; i < 16; i++) {
        hex[2 * i] = deliver_hex[id[i] >> 4];
        hex[2 * i + 1] = deliver_hex[id[i] & 15];
    }
    hex[32] = '\0';
    snprintf(num, sizeof(num), "%llu", (unsigned long long)expires_s);
    n = snprintf(
        out, outsz,
        "{\"decoy\":true,\"to\":\"\",\"link\":\"\",\"expires\":%s,\"id\":\"%s\",\"pad\":\"", num,
        hex);
    if (n < 0 || (size_t)n + 3 > len || len >= outsz)
        return -1;
    memset(out + n, 'x', len - (size_t)n - 3);
    memcpy(out + len - 3, "\"}\n", 4); /* with the NUL */
    return (int)len;
}

int deliver_send(deliver_t *d, const char *email, const char *link_url, uint64_t expires_s,
                 const uint8_t id[16], const spool_meta_t *meta)
{
    int rc = 0;

    if (!d || !email || !link_url || !id)
        return -1;
    d->err[0] = '\0';
    switch (d->mode) {
    case DELIVERY_LOG:
        if (meta && meta->code && *meta->code)
            log_notice("magic link for %s: %s (code %s)", email, link_url, meta->code);
        else
            log_notice("magic link for %s: %s", email, link_url);
        break;
    case DELIVERY_OUTBOX:
        rc = deliver_outbox(d, 0, email, link_url, expires_s, id, meta);
        break;
    case DELIVERY_SMTP:
        rc = deliver_smtp(d, email, link_url, expires_s, id, meta);
        break;
    case DELIVERY_RESPONSE:
        break;
    }
    return rc; /* the caller logs deliver_error(d), with its own context */
}

int deliver_decoy(deliver_t *d, const char *email, const char *link_url, uint64_t expires_s,
                  const uint8_t id[16], const spool_meta_t *meta)
{
    int rc = 0;
    prof_block_t t;

    if (!d || !email || !link_url || !id)
        return -1;
    d->err[0] = '\0';
    switch (d->mode) {
    case DELIVERY_LOG:
        log_notice("sign-in link asked for %s: no account, nothing sent", email);
        break;
    case DELIVERY_OUTBOX:
        rc = deliver_outbox(d, 1, email, link_url, expires_s, id, meta);
        break;
    case DELIVERY_SMTP:
        t = prof_block_begin();
        rc = spool_enqueue_decoy(d->path, strlen(email), strlen(link_url), id, d->err,
                                 sizeof(d->err));
        prof_block_end(t, "spool_enqueue");
        break;
    case DELIVERY_RESPONSE:
        break;
    }
    return rc;
}

void deliver_set_lock(deliver_t *d, shmtx_t *lock)
{
    if (d)
        d->lock = lock;
}

int deliver_is_async(const deliver_t *d)
{
    return d && (d->mode == DELIVERY_SMTP || d->mode == DELIVERY_OUTBOX);
}

static int deliver_outbox_write(void *ctx, const char *buf, size_t n)
{
    deliver_t *d = ctx;
    int rc = deliver_outbox_append(d, buf, n);

    /* Kept apart from err: the group's callbacks may queue new lines
     * (which clear err) before the last of them logs why it failed. */
    if (rc < 0)
        snprintf(d->group_err, sizeof(d->group_err), "%s", d->err);
    return rc;
}

static outbox_group_t *deliver_group(deliver_t *d, ev_loop_t *loop)
{
    if (!d->group && !(d->group = outbox_group_new(loop, deliver_outbox_write, d)))
        snprintf(d->err, sizeof(d->err), "outbox %s: out of memory", d->path);
    return d->group;
}

/* The outbox line (or the decoy of its length) joins this iteration's
 * group write (app/outbox_group.h). */
static int deliver_outbox_async(deliver_t *d, ev_loop_t *loop, int decoy, const char *email,
                                const char *link_url, uint64_t expires_s, const uint8_t id[16],
                                const spool_meta_t *meta, void (*done)(void *, int), void *arg)
{
    char line[DELIVER_LINE_MAX];
    int n = deliver_outbox_text(d, decoy, email, link_url, expires_s, id, meta, line);
    outbox_group_t *g;

    if (n < 0 || !(g = deliver_group(d, loop)))
        return -1;
    if (outbox_group_add(g, line, (size_t)n, done, arg) < 0) {
        snprintf(d->err, sizeof(d->err), "outbox %s: out of memory", d->path);
        return -1;
    }
    return 0;
}

static spool_committer_t *deliver_committer(deliver_t *d, ev_loop_t *loop)
{
    if (!d->commit)
        d->commit = spool_committer_new(loop, d->path, d->err, sizeof(d->err));
    return d->commit;
}

int deliver_send_async(deliver_t *d, ev_loop_t *loop, const char *email, const char *link_url,
                       uint64_t expires_s, const uint8_t id[16], const spool_meta_t *meta,
                       void (*done)(void *, int), void *arg)
{
    spool_committer_t *q;

    if (!d || !email || !link_url || !id || !done || !deliver_is_async(d))
        return -1;
    d->err[0] = '\0';
    if (d->mode == DELIVERY_OUTBOX)
        return deliver_outbox_async(d, loop, 0, email, link_url, expires_s, id, meta, done, arg);
    if (!(q = deliver_committer(d, loop)))
        return -1;
    if (spool_commit_add(q, email, link_url, expires_s, id, meta, done, arg) < 0) {
        snprintf(d->err, sizeof(d->err), "%s", spool_committer_error(q));
        return -1;
    }
    return 0;
}

int deliver_decoy_async(deliver_t *d, ev_loop_t *loop, const char *email, const char *link_url,
                        uint64_t expires_s, const uint8_t id[16], const spool_meta_t *meta,
                        void (*done)(void *, int), void *arg)
{
    spool_committer_t *q;
    /* What the real record would take: its keys, the id, two timestamps. */
    size_t len = strlen(email) + strlen(link_url) + 96;

    if (!d || !email || !link_url || !id || !done || !deliver_is_async(d))
        return -1;
    d->err[0] = '\0';
    if (d->mode == DELIVERY_OUTBOX)
        return deliver_outbox_async(d, loop, 1, email, link_url, expires_s, id, meta, done, arg);
    if (!(q = deliver_committer(d, loop)))
        return -1;
    if (spool_commit_decoy(q, len, done, arg) < 0) {
        snprintf(d->err, sizeof(d->err), "%s", spool_committer_error(q));
        return -1;
    }
    return 0;
}

void deliver_cancel(deliver_t *d, void *arg)
{
    if (d && d->commit)
        spool_commit_cancel(d->commit, arg);
    if (d && d->group)
        outbox_group_cancel(d->group, arg);
}

const char *deliver_async_error(const deliver_t *d)
{
    if (d && d->mode == DELIVERY_OUTBOX)
        return d->group_err; /* why the group's write failed */
    return d && d->commit ? spool_committer_error(d->commit) : "";
}

int deliver_reopen(deliver_t *d)
{
    if (!d || d->mode != DELIVERY_OUTBOX)
        return 0;
    if (deliver_open_outbox(d) < 0) {
        /* Keep writing to the old descriptor rather than losing links. */
        log_err("%s", d->err);
        return -1;
    }
    return 0;
}

void deliver_close(deliver_t *d)
{
    if (!d)
        return;
    outbox_group_free(d->group); /* writes what is gathered: before the close */
    if (d->fd >= 0)
        close(d->fd);
    spool_committer_free(d->commit);
    free(d);
}

const char *deliver_error(const deliver_t *d)
{
    return d ? d->err : "no deliverer";
}
