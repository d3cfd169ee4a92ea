/*
 * spool.c - the maildir-style mail spool (see spool.h for the layout).
 *
 * Durability is the classic maildir recipe: write the whole file under tmp/
 * with a name no one else uses (the id plus our pid), fsync it, rename(2) it
 * into new/ (atomic on one file system), then fsync new/ so the rename
 * itself survives a power cut. The mailer only ever looks in new/, so it
 * never sees a half-written file.
 *
 * The file body is a few "key: value" lines rather than the mail itself: the
 * mailer builds the message at send time from the current configuration
 * (smtp_from), and the file stays small and easy to inspect by hand.
 *
 *   id: 00112233445566778899aabbccddeeff
 *   to: someone@example.com
 *   url: https://login.example.com/magic/verify/...
 *   expires: 1764093601
 *   created: 1764092701
 *   code: 042917
 *   lang: de
 *   ip: 203.0.113.7
 *   ua: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0
 *
 * The last four carry what the mail tells its reader (the sign-in code,
 * the language the browser asked for, who asked); files without them,
 * from before they existed, still parse.
 *
 * Worker side, this is a few small synchronous writes; they go through the
 * page cache except for the fsyncs, which is the price of not losing a link.
 */
#include "core/spool.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/strcat.h"

static const char *const spool_subdirs[] = {"tmp", "new", "sent", "failed"};

static int spool_mkdir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

int spool_init(const char *spool_dir, char *err, size_t errsz)
{
    char p[1024];
    size_t i;

    if (!spool_dir || !*spool_dir) {
        snprintf(err, errsz, "no spool directory configured");
        return -1;
    }
    if (spool_mkdir(spool_dir) < 0) {
        snprintf(err, errsz, "mkdir %s: %s", spool_dir, strerror(errno));
        return -1;
    }
    for (i = 0; i < sizeof(spool_subdirs) / sizeof(spool_subdirs[0]); i++) {
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", spool_dir, spool_subdirs[i]) >= sizeof(p)) {
            snprintf(err, errsz, "spool path too long");
            return -1;
        }
        if (spool_mkdir(p) < 0) {
            snprintf(err, errsz, "mkdir %s: %s", p, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int spool_addr_ok(const char *a)
{
    const char *at;
    size_t n;

    if (!a)
        return 0;
    n = strlen(a);
    if (n < 3 || n >= SPOOL_ADDR_MAX)
        return 0;
    for (const char *p = a; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch == 0x7f || ch == '<' || ch == '>' || ch == '(' || ch == ')' ||
            ch == ',' || ch == ';' || ch == '"' || ch == '\\')
            return 0;
    }
    at = strrchr(a, '@');
    return at && at != a && at[1] != '\0' && strchr(a, '@') == at;
}

int spool_url_ok(const char *u)
{
    size_t n;

    if (!u)
        return 0;
    n = strlen(u);
    if (n == 0 || n >= SPOOL_URL_MAX)
        return 0;
    /* One table load per byte: every link a worker spools passes here. */
    static const unsigned char bad[256] = {
        [0 ... ' '] = 1, ['"'] = 1, ['<'] = 1, ['>'] = 1, [0x7f] = 1};
    for (size_t i = 0; i < n; i++)
        if (bad[(unsigned char)u[i]])
            return 0;
    return 1;
}

int spool_name_ok(const char *name)
{
    size_t i;

    for (i = 0; name[i]; i++) {
        char ch = name[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return 0;
    }
    return i == 32;
}

int spool_format(const spool_msg_t *m, char *out, size_t outsz)
{
    /* Without printf: a worker formats one of these per link on its loop. */
    sc_t s = sc_init(out, outsz);

    sc_str(&s, "id: ");
    sc_str(&s, m->id_hex);
    sc_str(&s, "\nto: ");
    sc_str(&s, m->to);
    sc_str(&s, "\nurl: ");
    sc_str(&s, m->url);
    sc_str(&s, "\nexpires: ");
    sc_u64(&s, m->expires_s);
    sc_str(&s, "\ncreated: ");
    sc_u64(&s, m->created_s);
    sc_str(&s, "\ncode: ");
    sc_str(&s, m->code);
    sc_str(&s, "\nlang: ");
    sc_str(&s, m->lang);
    sc_str(&s, "\nip: ");
    sc_str(&s, m->ip);
    sc_str(&s, "\nua: ");
    sc_str(&s, m->ua);
    sc_str(&s, "\n");
    return sc_ok(&s) ? (int)sc_len(&s) : -1;
}

char *spool_clean(char *dst, size_t dstsz, const char *src, const char *allowed)
{
    size_t o = 0;

    if (!dstsz)
        return dst;
    for (const char *p = src ? src : ""; *p && o + 1 < dstsz; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch >= 0x7f || (allowed && !strchr(allowed, ch)))
            continue;
        dst[o++] = (char)ch;
    }
    dst[o] = '\0';
    return dst;
}

void spool_msg_meta(spool_msg_t *m, const spool_meta_t *meta)
{
    static const spool_meta_t none;

    if (!meta)
        meta = &none;
    spool_clean(m->code, sizeof(m->code), meta->code, "0123456789");
    spool_clean(m->lang, sizeof(m->lang), meta->lang,
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
    spool_clean(m->ip, sizeof(m->ip), meta->ip, "0123456789abcdefABCDEF.:[]");
    spool_clean(m->ua, sizeof(m->ua), meta->ua, NULL);
}

static int spool_copy_val(char *dst, size_t dstsz, const char *v, size_t vn)
{
    if (vn >= dstsz)
        return -1;
    memcpy(dst, v, vn);
    dst[vn] = '\0';
    return 0;
}

static int spool_copy_cut(char *dst, size_t dstsz, const char *v, size_t vn)
{
    if (vn >= dstsz)
        vn = dstsz - 1;
    memcpy(dst, v, vn);
    dst[vn] = '\0';
    return 0;
}

static int spool_parse_u64(const char *v, size_t vn, uint64_t *out)
{
    uint64_t x = 0;

    if (vn == 0 || vn > 19)
        return -1;
    for (size_t i = 0; i < vn; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

static int spool_parse_line(const char *k, size_t kn, const char *v, size_t vn, spool_msg_t *m,
                            unsigned *seen)
{
#define KEY(s) (kn == sizeof(s) - 1 && memcmp(k, s, kn) == 0)
    if (KEY("id")) {
        *seen |= 1;
        return spool_copy_val(m->id_hex, sizeof(m->id_hex), v, vn);
    }
    if (KEY("to")) {
        *seen |= 2;
        return spool_copy_val(m->to, sizeof(m->to), v, vn);
    }
    if (KEY("url")) {
        *seen |= 4;
        return spool_copy_val(m->url, sizeof(m->url), v, vn);
    }
    if (KEY("expires")) {
        *seen |= 8;
        return spool_parse_u64(v, vn, &m->expires_s);
    }
    if (KEY("created")) {
        *seen |= 16;
        return spool_parse_u64(v, vn, &m->created_s);
    }
    /* Optional (older files lack them); too long a value is cut, not an
     * error: the mail is still worth sending. */
    if (KEY("code"))
        return spool_copy_cut(m->code, sizeof(m->code), v, vn);
    if (KEY("lang"))
        return spool_copy_cut(m->lang, sizeof(m->lang), v, vn);
    if (KEY("ip"))
        return spool_copy_cut(m->ip, sizeof(m->ip), v, vn);
    if (KEY("ua"))
        return spool_copy_cut(m->ua, sizeof(m->ua), v, vn);
#undef KEY
    return 0; /* unknown keys are ignored: newer writers may add some */
}

int spool_parse(const char *text, size_t len, spool_msg_t *m)
{
    const char *p = text, *end = text + len;
    unsigned seen = 0;

    memset(m, 0, sizeof(*m));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            const char *v = colon + 1;
            while (v < le && *v == ' ')
                v++;
            if (spool_parse_line(p, (size_t)(colon - p), v, (size_t)(le - v), m, &seen) < 0)
                return -1;
        } else if (le != p) {
            return -1;
        }
        p = nl ? nl + 1 : end;
    }
    if (seen != 31 || !spool_name_ok(m->id_hex) || !spool_addr_ok(m->to) || !spool_url_ok(m->url))
        return -1;
    return 0;
}

static int spool_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int spool_thread_start(pthread_t *th, void *(*fn)(void *), void *arg, const char *name)
{
    sigset_t all, old;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(th, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        pthread_setname_np(*th, name); /* cosmetic: a failure changes nothing */
    return rc;
}

/* write(2) (off < 0) or pwrite(2) at off, past EINTR and short writes. */
static int spool_write_at(int fd, const char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t w = off < 0 ? write(fd, p, n) : pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        if (off >= 0)
            off += w;
    }
    return 0;
}

char *spool_read_fd(int fd, size_t max, size_t *len)
{
    struct stat st;
    size_t got = 0;
    char *buf;

    if (fstat(fd, &st) < 0)
        return NULL;
    if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > max) {
        errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return NULL;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) { /* EIO: not a torn file; the caller tries again later */
            int e = errno;
            free(buf);
            errno = e;
            return NULL;
        }
        if (n == 0)
            break; /* cut shorter since the fstat: what is there */
        got += (size_t)n;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

int spool_write_all(int fd, const char *p, size_t n)
{
    return spool_write_at(fd, p, n, -1);
}

int spool_pwrite_all(int fd, const char *p, size_t n, off_t off)
{
    return off < 0 ? (errno = EINVAL, -1) : spool_write_at(fd, p, n, off);
}

static void spool_hex(const uint8_t id[16], char out[33])
{
    static const char hx[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[id[i] >> 4];
        out[2 * i + 1] = hx[id[i] & 15];
    }
    out[32] = '\0';
}

/* The maildir step both writers share: body goes to tmp/HEX.PID (the
 * spool's folders are made first if they are missing), is fsynced, and then
 * either renamed into new/HEX (keep) or unlinked (a decoy), and the folder
 * that changed is fsynced, so a decoy costs what a message costs. 0 / -1
 * with err; on failure no file is left under tmp/ or new/. */
static int spool_put(const char *spool_dir, const char *hex, const char *body, size_t n, int keep,
                     char *err, size_t errsz)
{
    char tmp[1024], dst[1024], dir[1024];
    int fd;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/tmp/%s.%ld", spool_dir, hex, (long)getpid()) >=
            sizeof(tmp) ||
        (size_t)snprintf(dir, sizeof(dir), "%s/%s", spool_dir, keep ? "new" : "tmp") >=
            sizeof(dir) ||
        (keep && (size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, hex) >= sizeof(dst))) {
        snprintf(err, errsz, "spool: path too long");
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT && spool_init(spool_dir, err, errsz) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errsz, "spool: open %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (spool_write_all(fd, body, n) < 0 || fsync(fd) < 0) {
        snprintf(err, errsz, "spool: write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (keep ? rename(tmp, dst) < 0 : unlink(tmp) < 0) {
        snprintf(err, errsz, "spool: %s %s: %s", keep ? "rename" : "unlink", tmp, strerror(errno));
        if (keep)
            unlink(tmp);
        return -1;
    }
    if (spool_fsync_dir(dir) < 0) {
        snprintf(err, errsz, "spool: fsync %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int spool_enqueue(const char *spool_dir, const char *to, const char *link_url, uint64_t expires_s,
                  const uint8_t id[16], const spool_meta_t *meta, char *err, size_t errsz)
{
    spool_msg_t m;
    char body[sizeof(m) + 128];
    int n;

    if (!spool_addr_ok(to)) {
        snprintf(err, errsz, "spool: refusing malformed address");
        return -1;
    }
    if (!spool_url_ok(link_url)) {
        snprintf(err, errsz, "spool: refusing malformed link");
        return -1;
    }
    memset(&m, 0, sizeof(m));
    spool_hex(id, m.id_hex);
    snprintf(m.to, sizeof(m.to), "%s", to);
    snprintf(m.url, sizeof(m.url), "%s", link_url);
    m.expires_s = expires_s;
    m.created_s = (uint64_t)time(NULL);
    spool_msg_meta(&m, meta);
    n = spool_format(&m, body, sizeof(body));
    if (n < 0) {
        snprintf(err, errsz, "spool: message too large");
        return -1;
    }
    return spool_put(spool_dir, m.id_hex, body, (size_t)n, 1, err, errsz);
}

int spool_enqueue_decoy(const char *spool_dir, size_t to_len, size_t url_len, const uint8_t id[16],
                        char *err, size_t errsz)
{
    char body[sizeof(spool_msg_t) + 128], hex[33];
    size_t n;

    if (to_len >= SPOOL_ADDR_MAX || url_len >= SPOOL_URL_MAX) {
        snprintf(err, errsz, "spool: message too large");
        return -1;
    }
    /* The bytes a real message for these lengths takes (spool_format). */
    n = strlen("id: \nto: \nurl: \nexpires: \ncreated: \n") + 32 + to_len + url_len + 10 + 10;
    memset(body, 'x', n);
    body[n - 1] = '\n';
    spool_hex(id, hex);
    return spool_put(spool_dir, hex, body, n, 0, err, errsz);
}

int spool_read(const char *spool_dir, const char *name, spool_msg_t *m, char *err, size_t errsz)
{
    char path[1024], buf[sizeof(spool_msg_t) + 256];
    ssize_t n;
    size_t got = 0;
    int fd;

    if ((size_t)snprintf(path, sizeof(path), "%s/new/%s", spool_dir, name) >= sizeof(path)) {
        snprintf(err, errsz, "spool: path too long");
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsz, "spool: open %s: %s", path, strerror(errno));
        return -1;
    }
    while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errsz, "spool: read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    if (got == sizeof(buf) || spool_parse(buf, got, m) < 0 || strcmp(m->id_hex, name) != 0) {
        snprintf(err, errsz, "spool: malformed message %s", path);
        return -1;
    }
    return 0;
}

static int64_t spool_ts_ms(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

unsigned long spool_retry_next(const struct stat *st, unsigned long cap_ms)
{
    int64_t prev = spool_ts_ms(&st->st_mtim) - spool_ts_ms(&st->st_ctim);

    if (prev <= 0 || (uint64_t)prev > cap_ms)
        return SPOOL_RETRY_FIRST_MS < cap_ms ? SPOOL_RETRY_FIRST_MS : cap_ms;
    /* The rename into new/ after the mtime was set moved ctime on by a
     * little: the delay before this one was never shorter than the first. */
    if ((uint64_t)prev < SPOOL_RETRY_FIRST_MS)
        prev = SPOOL_RETRY_FIRST_MS;
    return (uint64_t)prev * 2 < cap_ms ? (unsigned long)prev * 2 : cap_ms;
}

int spool_retry_set(int fd, unsigned long delay_ms)
{
    struct timespec now, ts[2];

    clock_gettime(CLOCK_REALTIME, &now);
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT; /* atime: as it is */
    ts[1].tv_sec = now.tv_sec + (time_t)(delay_ms / 1000);
    ts[1].tv_nsec = now.tv_nsec + (long)(delay_ms % 1000) * 1000000L;
    if (ts[1].tv_nsec >= 1000000000L) {
        ts[1].tv_sec++;
        ts[1].tv_nsec -= 1000000000L;
    }
    return futimens(fd, ts);
}

unsigned long spool_retry_wait_ms(const struct stat *st, unsigned long cap_ms)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    int64_t d = spool_ts_ms(&st->st_mtim) - spool_ts_ms(&now);
    return d <= 0 || (uint64_t)d > cap_ms ? 0 : (unsigned long)d;
}

int spool_move(const char *spool_dir, const char *name, const char *subdir)
{
    char src[1024], dst[1024], dir[1024];

    if ((size_t)snprintf(src, sizeof(src), "%s/new/%s", spool_dir, name) >= sizeof(src))
        return -1;
    if (!subdir) {
        if (unlink(src) < 0)
            return -1;
    } else {
        if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", spool_dir, subdir) >= sizeof(dir) ||
            (size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= sizeof(dst))
            return -1;
        if (rename(src, dst) < 0)
            return -1;
        spool_fsync_dir(dir);
    }
    snprintf(dir, sizeof(dir), "%s/new", spool_dir);
    return spool_fsync_dir(dir);
}
