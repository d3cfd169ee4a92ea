/*
 * mailer.c - the mailer process: spool in, SMTP out, nothing lost.
 *
 * The loop is simple on purpose:
 *
 *   send from the workers' batch files in DIR/new (each accepted link a
 *   line in the file's journal, core/spool_journal.h; a deferred one into
 *   a file of its own) -> scan DIR/new for those files: for each message
 *   that is due, build the mail, send it over the same SMTP session -> on
 *   the relay's 250 to the final dot, move the file to DIR/sent -> sleep
 *   until the next message is due or inotify says a worker added one.
 *
 * Nothing leaves new/ before the relay has accepted it (a batch file goes
 * once each of its links is in its journal, new/ or failed/), so a crash,
 * a restart or a relay outage can delay a link but not lose it. Sending
 * from the batch file is what lets the mailer keep up with the workers: a
 * link costs the disk one data write and flush (its journal line), where a
 * file of its own cost a file, a rename and two directory syncs.
 * The Message-ID is derived from the link id, so in the one unavoidable
 * window (the relay said 250, we died before recording it) the duplicate
 * carries the same Message-ID and mail systems can drop it.
 *
 * A message is sent only under its file's lock (a batch file's, or the
 * message file's in new/, mailer_take), so two mailers on one spool (a
 * binary upgrade's overlap, a reload's) never both send it. The same is
 * what lets `smtp_connections N` run N of these processes at once, one
 * SMTP session each: against a distant relay a session is a round trip
 * per mail, and the way past that is sessions side by side. Each walks
 * new/ and takes what nobody holds, so they split the work by files, with
 * no state shared but the spool and the /metrics counters.
 *
 * Failures back off exponentially at two levels. When the relay cannot be
 * reached (connect, greeting, TLS, AUTH) every message waits on a relay
 * back-off (1 s doubling to 60 s), so a dead relay costs one connection
 * attempt per period, not one per message. A temporary refusal of one
 * message (4xx) delays that message only (5 s doubling to 10 min). A
 * permanent refusal (5xx to RCPT or DATA) moves it to failed/, as does a
 * link that expired while waiting: sending a dead link helps nobody.
 *
 * Retry state lives in memory, and on a deferred message's file for the
 * other mailers on the spool (its mtime says when it is due, core/spool.h
 * spool_retry_next): N mailers try a deferred message once per delay, not
 * N times. After a restart (or a reload) every message is tried once at
 * once, which is what an operator who just fixed the relay wants.
 *
 * Signals (the child-process skeleton, core/child_proc.h): QUIT, TERM and
 * INT stop the loop. They are installed without SA_RESTART so a blocking
 * SMTP read returns EINTR at once; the message in flight stays in new/
 * and is sent by the next mailer. Once its data went out, though, its
 * answer is waited for (mailer/smtp.c, smtp_held): the relay may have
 * taken it, and the next mailer would send it again. A batch file left
 * with links to send is touched as it is let go of (spool_deliver), so
 * the mailers that passed it by while it was held look again. USR1
 * reopens the error log.
 */
#include "mailer/mailer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/mail.h"
#include "core/child_exit.h"
#include "core/child_proc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/shm.h"
#include "mailer/smtp.h"
#include "core/spool.h"
#include "core/spool_batch.h"
#include "core/spool_journal.h"

#define MAILER_MAX_TRACKED 4096
#define MAILER_RELAY_BASE_MS 1000ul
#define MAILER_RELAY_CAP_MS 60000ul
#define MAILER_MSG_BASE_MS SPOOL_RETRY_FIRST_MS
#define MAILER_MSG_CAP_MS 600000ul
#define MAILER_TIMEOUT_MS 30000
#define MAILER_IDLE_MS 60000ul
#define MAILER_SENT_KEEP_S (7 * 86400)
#define MAILER_MSG_MAX 16384
#define MAILER_UNPACK_FILES 8 /* batch files sent from per pass */

typedef struct {
    char name[33];
    unsigned attempts;
    uint64_t next_ms; /* monotonic; 0 = due now */
    int seen;         /* still in new/ on the last scan */
    int sent;         /* the relay took it; only its leaving new/ failed */
} mailer_retry_t;

typedef struct {
    const conf_t *conf;
    char spool[CONF_PATH_MAX];
    char host[256];
    char port[16];
    char helo[256];
    char from_addr[SPOOL_ADDR_MAX];
    const char *from;
    smtp_relay_t relay;
    smtp_session_t *session;
    unsigned relay_failures;
    uint64_t relay_next_ms;
    mailer_retry_t retry[MAILER_MAX_TRACKED];
    spool_unrecorded_t unrecorded; /* sent, record not written (core/spool_batch.h) */
    int nretry;
    cproc_t cp;             /* signals, QUIT and TERM both finish the message in hand */
    mail_set_t mail;        /* the templates under html/mail/ */
    mx_global_t *mx;        /* /metrics counters in shm (NULL: not counted) */
    int left;               /* the message just handled left new/ */
    int batch_links;        /* links waiting in batch files (not sent yet) */
    uint64_t done_at_count; /* mailer_done when batch_links was counted */
    int batches_left;       /* the last pass left batch files for the next one */
    int relay_lost;         /* the session broke under the last message */
    int busy;               /* the last scan left a file another mailer held */
    int batch_stopped;      /* the last spool_deliver stopped before its end */
    unsigned long defer_ms; /* the delay of the last message deferred */
    int64_t started_ms;     /* wall clock, when this mailer started */
} mailer_t;

unsigned long mailer_backoff_ms(unsigned attempt, unsigned long base_ms, unsigned long cap_ms)
{
    unsigned long d = base_ms;

    while (attempt-- > 0 && d < cap_ms)
        d *= 2;
    return d < cap_ms ? d : cap_ms;
}

int mailer_split_hostport(const char *s, char *host, size_t hostsz, char *port, size_t portsz)
{
    const char *h = s, *colon;
    size_t hn;

    if (!s || !*s)
        return -1;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb)
            return -1;
        h = s + 1;
        hn = (size_t)(rb - h);
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (rb[1] && !colon)
            return -1;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon)
            return -1; /* bare IPv6 needs brackets */
        hn = colon ? (size_t)(colon - s) : strlen(s);
    }
    if (hn == 0 || hn >= hostsz)
        return -1;
    memcpy(host, h, hn);
    host[hn] = '\0';
    const char *p = colon ? colon + 1 : "25";
    size_t pn = strlen(p);
    if (pn == 0 || pn >= portsz || strspn(p, "0123456789") != pn)
        return -1;
    memcpy(port, p, pn + 1);
    return 0;
}

int mailer_spool_dir(const conf_t *c, char *out, size_t outsz)
{
    const char *slash;
    int n;

    if (c->smtp.spool[0]) {
        n = snprintf(out, outsz, "%s", c->smtp.spool);
    } else {
        slash = strrchr(c->auth.users_db, '/');
        if (slash)
            n = snprintf(out, outsz, "%.*s/spool", (int)(slash - c->auth.users_db),
                         c->auth.users_db);
        else
            n = snprintf(out, outsz, "spool");
    }
    return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

static mailer_retry_t *mailer_retry_get(mailer_t *m, const char *name)
{
    for (int i = 0; i < m->nretry; i++)
        if (strcmp(m->retry[i].name, name) == 0)
            return &m->retry[i];
    if (m->nretry == MAILER_MAX_TRACKED)
        return NULL; /* untracked: retried every round, still correct */
    mailer_retry_t *r = &m->retry[m->nretry++];
    memset(r, 0, sizeof(*r));
    memcpy(r->name, name, 32); /* spool_name_ok: exactly 32 hex digits */
    r->name[32] = '\0';
    return r;
}

/* Forget messages that left new/ (sent by us, or removed by an operator). */
static void mailer_retry_sweep(mailer_t *m)
{
    int j = 0;

    for (int i = 0; i < m->nretry; i++) {
        if (m->retry[i].seen) {
            m->retry[i].seen = 0;
            m->retry[j++] = m->retry[i];
        }
    }
    m->nretry = j;
}

static void mailer_close_session(mailer_t *m)
{
    smtp_close(m->session);
    m->session = NULL;
}

static int mailer_ensure_session(mailer_t *m)
{
    char err[512];

    if (m->session && smtp_session_ok(m->session))
        return 0;
    mailer_close_session(m);
    if (clock_mono_ms() < m->relay_next_ms)
        return -1;
    m->session = smtp_open(&m->relay, err, sizeof(err));
    if (m->session) {
        if (m->relay_failures)
            log_notice("mailer: relay %s:%s reachable again", m->host, m->port);
        m->relay_failures = 0;
        m->relay_next_ms = 0;
        return 0;
    }
    unsigned long d =
        mailer_backoff_ms(m->relay_failures, MAILER_RELAY_BASE_MS, MAILER_RELAY_CAP_MS);
    m->relay_failures++;
    m->relay_next_ms = clock_mono_ms() + d;
    log_warn("mailer: relay %s:%s: %s; retrying in %lu ms", m->host, m->port, err, d);
    return -1;
}

/* Count on /metrics (m->mx NULL: not counted). */
#define MAILER_COUNT(m, field)                                                                     \
    do {                                                                                           \
        if ((m)->mx)                                                                               \
            mx_global_inc(&(m)->mx->field);                                                        \
    } while (0)

/* Give up on a message: failed/ and counted. */
static void mailer_fail(mailer_t *m, const char *name)
{
    spool_move(m->spool, name, "failed");
    m->left = 1;
    MAILER_COUNT(m, mails_failed);
}

/* What became of one message (mailer_send). */
typedef enum { MAILER_SENT, MAILER_DEFERRED, MAILER_FAILED, MAILER_DOWN } mailer_outcome_t;

/* Send one message, from new/NAME (st: its file's) or from a batch file
 * (name: its id, st NULL). MAILER_DOWN: the relay is unusable (or we are
 * stopping), nothing was sent; MAILER_DEFERRED: a 4xx, its retry entry
 * backed off (by the delay its file says, spool_retry_next; the first
 * from a batch file), m->defer_ms that delay, and m->relay_lost set when
 * the session did not survive it. Counted and logged here; where the
 * message goes is the caller's. */
static mailer_outcome_t mailer_send(mailer_t *m, const spool_msg_t *msg, const char *name,
                                    const struct stat *st)
{
    char err[512], *text;
    int len, rc;

    if ((uint64_t)time(NULL) >= msg->expires_s) {
        log_warn("mailer: link %s for %s expired before delivery; moved to failed/", name, msg->to);
        MAILER_COUNT(m, mails_failed);
        return MAILER_FAILED;
    }
    if (cproc_stopping(&m->cp) || mailer_ensure_session(m) < 0) {
        MAILER_COUNT(m, mails_deferred);
        return MAILER_DOWN;
    }
    text = malloc(MAILER_MSG_MAX);
    if (!text)
        return MAILER_DOWN;
    len = smtp_format_message(&m->mail, msg, m->from, text, MAILER_MSG_MAX);
    if (len < 0) {
        free(text);
        log_err("mailer: message %s cannot be formatted (link too long); moved to failed/", name);
        MAILER_COUNT(m, mails_failed);
        return MAILER_FAILED;
    }
    rc = smtp_send(m->session, m->from_addr, msg->to, text, (size_t)len, err, sizeof(err));
    free(text);
    if (rc == SMTP_OK) {
        MAILER_COUNT(m, mails_sent);
        log_info("mailer: delivered %s to %s via %s:%s%s", name, msg->to, m->host, m->port,
                 smtp_session_tls(m->session) ? " (TLS)" : "");
        return MAILER_SENT;
    }
    if (rc == SMTP_PERMFAIL) {
        log_err("mailer: relay refused %s for %s: %s; moved to failed/", name, msg->to, err);
        MAILER_COUNT(m, mails_failed);
        return MAILER_FAILED;
    }
    MAILER_COUNT(m, mails_deferred);
    mailer_retry_t *r = mailer_retry_get(m, name);
    /* Tried before its file said (this mailer just started: mailer_deliver),
     * it starts over from the first delay, as a mailer with nothing in
     * memory did; doubled from the file's, a mailer respawned a few times
     * put a link 160 s off in 10 s of a flaky relay. */
    unsigned long d = st && spool_retry_wait_ms(st, MAILER_MSG_CAP_MS) == 0
                          ? spool_retry_next(st, MAILER_MSG_CAP_MS)
                          : MAILER_MSG_BASE_MS;
    m->defer_ms = d;
    if (r) {
        r->attempts++;
        r->next_ms = clock_mono_ms() + d;
    }
    log_warn("mailer: %s for %s deferred: %s; retry in %lu ms", name, msg->to, err, d);
    if (!smtp_session_ok(m->session)) {
        mailer_close_session(m);
        m->relay_lost = 1; /* the round stops after this message */
    }
    return MAILER_DEFERRED;
}

/* A message file of new/ to send: its lock, held until it has left new/
 * or been let go of, or -1 when it is not ours now (m->busy: another
 * mailer holds it; m->left: it is gone). Two mailers run on one spool
 * during a binary upgrade (the old master's until the old master quits)
 * and for a moment at a reload; both would read a message and send it,
 * and the second to be done would find it gone and fail it. So each
 * takes the file's lock first and, holding it, makes sure the name still
 * leads to the file it locked: the other may have moved it to sent/ (or
 * failed/) between our readdir and our lock. */
static int mailer_take(mailer_t *m, const char *name, struct stat *st)
{
    char p[CONF_PATH_MAX + 8 + 260];
    struct stat b, *a = st;
    int fd;

    snprintf(p, sizeof(p), "%s/new/%s", m->spool, name);
    fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        m->left = errno == ENOENT;
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        m->busy = 1;
        close(fd);
        return -1;
    }
    if (fstat(fd, a) < 0 || stat(p, &b) < 0 || a->st_ino != b.st_ino || a->st_dev != b.st_dev) {
        m->left = 1;
        close(fd);
        return -1;
    }
    if (!S_ISREG(a->st_mode)) { /* a FIFO would block its read, and the mailer, for ever */
        close(fd);
        return -1;
    }
    return fd;
}

/* A message of new/ the relay took leaves new/: that is what stops a
 * second send; sent/ only records it. When it cannot go to sent/ (the
 * directory removed, a file in its place, no room for the entry) it is
 * removed instead; when even that fails (new/ cannot be written) it is
 * marked, so this mailer tries to move it again but never sends it again. */
static void mailer_sent(mailer_t *m, const char *name, mailer_retry_t *r)
{
    if (spool_move(m->spool, name, "sent") == 0) {
        m->left = 1;
        return;
    }
    log_error(MG_LOG_ERR, errno, "mailer: moving %s (sent) to sent/; removing it from new/", name);
    if (spool_move(m->spool, name, NULL) == 0) {
        m->left = 1;
        return;
    }
    log_error(MG_LOG_ERR, errno, "mailer: removing %s (sent) from new/; it is not sent again",
              name);
    if (r)
        r->sent = 1;
}

/* Deliver one message of new/. Returns -1 when the relay is unusable (stop
 * the round), 0 otherwise; m->left says whether it left new/. */
static int mailer_deliver(mailer_t *m, const char *name)
{
    spool_msg_t msg;
    char err[512];
    int lock, rc = 0;
    struct stat st;
    unsigned long wait;

    m->left = 0;
    m->relay_lost = 0;
    if ((lock = mailer_take(m, name, &st)) < 0)
        return 0;
    mailer_retry_t *r = mailer_retry_get(m, name);
    /* Deferred by another mailer on the spool since this one started: due
     * when its file says (deferred before, it is tried once at once). */
    int64_t deferred_ms = (int64_t)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000;
    if (deferred_ms >= m->started_ms && (wait = spool_retry_wait_ms(&st, MAILER_MSG_CAP_MS)) > 0) {
        if (r)
            r->next_ms = clock_mono_ms() + wait;
        close(lock);
        return 0;
    }
    if (spool_read(m->spool, name, &msg, err, sizeof(err)) < 0) {
        log_err("mailer: %s; moved to failed/", err);
        mailer_fail(m, name);
        close(lock);
        return 0;
    }
    if (r && r->sent) { /* sent before; only its leaving new/ failed */
        mailer_sent(m, name, r);
        close(lock);
        return 0;
    }
    switch (mailer_send(m, &msg, name, &st)) {
    case MAILER_SENT:
        mailer_sent(m, name, r);
        break;
    case MAILER_FAILED:
        spool_move(m->spool, name, "failed");
        m->left = 1;
        break;
    case MAILER_DEFERRED:
        /* Due again then for every mailer (spool_retry_set): failing, for
         * the others it is due now, a retry early. */
        if (spool_retry_set(lock, m->defer_ms) < 0)
            log_error(MG_LOG_WARN, errno, "mailer: marking %s due in %lu ms", name, m->defer_ms);
        rc = m->relay_lost ? -1 : 0;
        break;
    default:
        rc = -1;
    }
    close(lock);
    return rc;
}

/* Links sent or given up by every mailer on this server (/metrics). */
static uint64_t mailer_done(const mailer_t *m)
{
    return m->mx ? atomic_load(&m->mx->mails_sent) + atomic_load(&m->mx->mails_failed) : 0;
}

/* The links still in batch files, for the queue depth. Counted at the
 * relay's outage, then brought down by what this mailer sent from them;
 * with smtp_connections N the other mailers send from them too (one
 * waiting out its relay's back-off while the others send: a relay that
 * takes fewer sessions than N), so there it is what every mailer sent or
 * gave up since the count that brings it down. (An old count written on
 * every pass put the gauge back to it: 291 waiting, it said, with 84.) */
static int mailer_batch_depth(const mailer_t *m)
{
    if (m->conf->smtp.connections <= 1)
        return m->batch_links;
    uint64_t since = mailer_done(m) - m->done_at_count;
    return since >= (uint64_t)m->batch_links ? 0 : m->batch_links - (int)since;
}

/* One pass over new/. Returns the monotonic time of the next due message. */
static uint64_t mailer_scan(mailer_t *m)
{
    char dir[CONF_PATH_MAX + 8];
    uint64_t now = clock_mono_ms(), next = now + MAILER_IDLE_MS;
    int relay_down = 0;
    int64_t pending = 0;
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/new", m->spool);
    d = opendir(dir);
    if (!d) {
        log_error(MG_LOG_ERR, errno, "mailer: opendir %s", dir);
        return now + MAILER_RELAY_CAP_MS;
    }
    m->busy = 0;
    while (!cproc_stopping(&m->cp) && (de = readdir(d)) != NULL) {
        if (!spool_name_ok(de->d_name))
            continue;
        pending++;
        mailer_retry_t *r = mailer_retry_get(m, de->d_name);
        if (r)
            r->seen = 1;
        if (relay_down || (r && r->next_ms > now)) {
            uint64_t due = relay_down ? m->relay_next_ms : r->next_ms;
            if (due < next)
                next = due;
            continue;
        }
        int rc = mailer_deliver(m, de->d_name);
        pending -= m->left;
        if (rc < 0) {
            relay_down = 1;
            if (m->relay_next_ms < next)
                next = m->relay_next_ms;
        } else if (r && r->next_ms > now && r->next_ms < next) {
            next = r->next_ms;
        }
    }
    closedir(d);
    /* A file another mailer held: it may let go of it unsent (deferred),
     * with nothing in new/ to wake us; look again soon. */
    if (m->busy && now + MAILER_RELAY_BASE_MS < next)
        next = now + MAILER_RELAY_BASE_MS;
    if (m->mx && !cproc_stopping(&m->cp))
        atomic_store(&m->mx->mail_queue, pending + mailer_batch_depth(m));
    if (!cproc_stopping(&m->cp))
        mailer_retry_sweep(m);
    return next;
}

/* The sender of spool_deliver: one message of a batch file. */
static spool_sent_t mailer_batch_send(const spool_msg_t *msg, void *arg)
{
    mailer_t *m = arg;
    spool_sent_t rc = SPOOL_STOP;

    if (!m->relay_lost) {
        switch (mailer_send(m, msg, msg->id_hex, NULL)) {
        case MAILER_SENT:
            rc = SPOOL_SENT;
            break;
        case MAILER_FAILED:
            rc = SPOOL_REFUSED;
            break;
        case MAILER_DEFERRED:
            rc = SPOOL_DEFER; /* into new/, retried from there after its back-off */
            break;
        default:
            break;
        }
    }
    if (rc == SPOOL_STOP)
        m->batch_stopped = 1;
    return rc;
}

/* Workers group-commit links into batch files (core/spool_batch.h); the
 * mailer sends straight from them, and only a message the relay defers
 * gets a file of its own in new/. While the relay is down there is no
 * hurry: the batches stay as they are (one file per thousand links, not a
 * thousand files) until it is back, so the relay is asked first.
 *
 * The links are counted (the queue depth) only while the relay is down:
 * reading every batch file on every pass would cost the disk while it
 * catches up. A retry of a relay that was down counts in the same look at
 * new/ that asks whether there is anything; only the pass that finds an
 * up relay gone looks a second time, once an outage. */
static void mailer_batches(mailer_t *m)
{
    char err[512];
    int left = 0, n, links = 0, down = m->relay_failures > 0;

    if (m->relay_next_ms > clock_mono_ms())
        return;
    /* A batch file this mailer holds (a link of it sent, its line not
     * written: spool_unrecorded_t) is one the look at new/ cannot take, and
     * only a pass of ours writes that line. */
    if (!spool_batch_pending(m->spool, down ? &links : NULL) && !m->unrecorded.held) {
        m->batch_links = 0;
        return;
    }
    if (down) {
        m->batch_links = links;
        m->done_at_count = mailer_done(m);
    }
    if (mailer_ensure_session(m) < 0) {
        if (!down) { /* it was up when last asked */
            spool_batch_pending(m->spool, &links);
            m->batch_links = links;
            m->done_at_count = mailer_done(m);
        }
        if (links > 0)
            MAILER_COUNT(m, mails_deferred);
        return;
    }
    /* A few files a pass: a file can hold thousands of links, and the
     * retries in new/ wait until the pass is over. */
    m->relay_lost = m->batch_stopped = 0;
    n = spool_deliver(m->spool, MAILER_UNPACK_FILES, &left, mailer_batch_send, m, &m->unrecorded,
                      err, sizeof(err));
    /* Stopped half-way (the session broke): the next pass picks up the
     * rest at once, or after the relay's back-off. */
    m->batches_left = n >= 0 && (left > 0 || m->batch_stopped);
    if (n < 0)
        log_err("mailer: %s", err);
    else if (n > 0)
        log_info("mailer: %d links from batch files sent or queued (%d batch files left)", n, left);
    if (left == 0 && !m->batch_stopped)
        m->batch_links = 0; /* every batch file was taken */
    else if (n > 0 && m->conf->smtp.connections <= 1)
        m->batch_links = m->batch_links > n ? m->batch_links - n : 0; /* else mailer_batch_depth */
}

/* sent/ keeps a week of what was delivered: a file per message sent from
 * new/, a journal per batch file (core/spool_journal.h). A journal whose
 * batch file is still in new/ (the relay went away half-way, for a week)
 * is what keeps the first part of it from going twice: it stays. */
static void mailer_prune_sent(mailer_t *m)
{
    char dir[CONF_PATH_MAX + 8], path[CONF_PATH_MAX + 8 + 260], batch[CONF_PATH_MAX + 8 + 260];
    time_t cutoff = time(NULL) - MAILER_SENT_KEEP_S;
    struct dirent *de;
    struct stat st;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/sent", m->spool);
    d = opendir(dir);
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        int journal = spool_journal_name_ok(de->d_name);
        if (!spool_name_ok(de->d_name) && !journal)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) < 0 || st.st_mtime >= cutoff)
            continue;
        if (journal) {
            /* Its batch file under any of its names: with or without the
             * dot, and the 'j' of one sent from (spool_batch_name_ok). */
            static const char *const form[] = {"", ".", "j", ".j"};
            int n = (int)(strlen(de->d_name) - strlen(SPOOL_JOURNAL_SUFFIX)), in_new = 0;
            for (size_t i = 0; i < sizeof(form) / sizeof(form[0]) && !in_new; i++) {
                snprintf(batch, sizeof(batch), "%s/new/%s%.*s", m->spool, form[i], n, de->d_name);
                in_new = stat(batch, &st) == 0;
            }
            if (in_new)
                continue;
        }
        unlink(path);
    }
    closedir(d);
}

/* The configuration names a spool or relay the mailer cannot use: every
 * restart would fail the same way, so the master is told why and stops
 * (core/child_exit.h) instead of respawning the mailer in a loop. */
static int setup_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int setup_failed(const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    log_emerg("%s", why);
    child_exit_tell("%s", why);
    return -1;
}

static int mailer_setup(mailer_t *m, const conf_t *c)
{
    char err[512];

    m->conf = c;
    if (mailer_spool_dir(c, m->spool, sizeof(m->spool)) < 0)
        return setup_failed("mailer: spool path too long");
    if (spool_init(m->spool, err, sizeof(err)) < 0)
        return setup_failed("mailer: %s", err);
    if (mailer_split_hostport(c->smtp.delivery_arg, m->host, sizeof(m->host), m->port,
                              sizeof(m->port)) < 0)
        return setup_failed("mailer: bad relay address \"%s\" (want HOST:PORT)",
                            c->smtp.delivery_arg);
    m->from = c->smtp.from[0] ? c->smtp.from : "magicd <magicd@localhost>";
    if (smtp_addr_spec(m->from, m->from_addr, sizeof(m->from_addr)) < 0)
        return setup_failed("mailer: bad smtp_from \"%s\"", m->from);
    if (gethostname(m->helo, sizeof(m->helo)) < 0 || !m->helo[0] || strchr(m->helo, ' '))
        snprintf(m->helo, sizeof(m->helo), "localhost");
    m->relay.host = m->host;
    m->relay.port = m->port;
    m->relay.helo = m->helo;
    m->relay.starttls = c->smtp.starttls;
    m->relay.user = c->smtp.auth_user;
    m->relay.password = c->smtp.auth_password;
    m->relay.timeout_ms = MAILER_TIMEOUT_MS;
    if (mail_load(&m->mail, c->http.html_root, err, sizeof(err)) < 0)
        return setup_failed("mailer: %s", err);
    return 0;
}

static int mailer_watch(const char *spool)
{
    char dir[CONF_PATH_MAX + 8];
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

    if (fd < 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s/new", spool);
    if (inotify_add_watch(fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void mailer_wait(mailer_t *m, int ifd, uint64_t next_ms)
{
    uint64_t now = clock_mono_ms();
    int timeout = next_ms > now ? (int)(next_ms - now > INT_MAX ? INT_MAX : next_ms - now) : 0;
    char buf[4096];

    struct pollfd p[2] = {{.fd = cproc_fd(&m->cp), .events = POLLIN},
                          {.fd = ifd, .events = POLLIN}};
    int n = 2;

    if (ifd < 0) {
        /* No inotify: look at the directory once a second. */
        n = 1;
        if (timeout > 1000)
            timeout = 1000;
    }
    if (poll(p, (nfds_t)n, timeout) <= 0)
        return;
    while (n == 2 && p[1].revents && read(ifd, buf, sizeof(buf)) > 0) {
    }
}

int mailer_main(const conf_t *c, shm_t *shm)
{
    static mailer_t m; /* the retry table is large: keep it off the stack */
    uint64_t next_prune = 0;
    int ifd;

    memset(&m, 0, sizeof(m));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    m.started_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    m.mx = shm && shm->hdr ? &shm->hdr->metrics : NULL;
    cproc_ops_t ops = {.name = "mailer", .drain_ms = c->proc.shutdown_timeout_ms};
    if (cproc_init(&m.cp, &ops) < 0) {
        log_error(MG_LOG_EMERG, errno, "mailer: signal pipe");
        return 1;
    }
    if (mailer_setup(&m, c) < 0)
        return CHILD_EXIT_CONFIG;
    ifd = mailer_watch(m.spool);
    if (ifd < 0)
        log_error(MG_LOG_WARN, errno, "mailer: inotify on %s/new; polling instead", m.spool);
    log_notice("mailer: delivering %s via %s:%s (starttls %s)", m.spool, m.host, m.port,
               c->smtp.starttls == SMTP_TLS_REQUIRED ? "required"
               : c->smtp.starttls                    ? "when offered"
                                                     : "off");
    for (;;) {
        cproc_handle(&m.cp, clock_mono_ms()); /* reopen, or the order to stop */
        if (cproc_stopping(&m.cp))
            break;
        if (clock_mono_ms() >= next_prune) {
            mailer_prune_sent(&m);
            next_prune = clock_mono_ms() + 3600 * 1000ull;
        }
        m.batches_left = 0;
        mailer_batches(&m);
        uint64_t next = mailer_scan(&m);
        if (m.batches_left && m.relay_next_ms <= clock_mono_ms())
            next = clock_mono_ms(); /* more batch files to send from: no sleep */
        /* The session lasts while there is work (a pass takes a few batch
         * files: reconnecting for each, TLS and AUTH included, cost more
         * round trips than the mails). Idle ones are closed before the
         * wait: relays drop them anyway, and a message sent on a session
         * the relay had dropped would wait out a retry. */
        if (next > clock_mono_ms())
            mailer_close_session(&m);
        if (!cproc_stopping(&m.cp))
            mailer_wait(&m, m.relay_next_ms > clock_mono_ms() ? -1 : ifd, next);
    }
    mailer_close_session(&m);
    mail_free(&m.mail);
    if (ifd >= 0)
        close(ifd);
    log_notice("mailer: exiting");
    return 0;
}
