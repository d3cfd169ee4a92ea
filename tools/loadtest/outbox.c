/*
 * outbox.c - the login scenario's second way to get a link: from the outbox
 * file magicd writes with `delivery outbox FILE`, one JSON line per link:
 *   {"to":"a@b.c","link":"http://host/magic/verify/TOKEN","expires":N,"id":"..."}
 *
 * A connection whose generate answer carried no link waits (ST_WAIT_LINK)
 * and sends nothing. Each thread follows the file on its own, from where it
 * ended when the run began, and gives every new line's link to the
 * connection of this thread whose generate used that address (the line may
 * arrive before the answer does); lines for other threads' connections are
 * skipped. A link is bound to the browser that asked for it,
 * so an address must not be in two flows at once: use generated addresses
 * (with `signup on`) or an --emails list at least as long as -c. A wait
 * longer than --timeout is a no_link flow error and the flow starts over.
 *
 * The file is read while some connection waits, when inotify says it grew
 * (and on the loop's 10 ms tick), with plain read(2) of what was appended
 * since the last look: reading a local regular file does not wait for
 * anything, so the event loop stays non-blocking in practice.
 */
#include "tools/loadtest/loadtest.h"

#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#define INC(p) __atomic_store_n((p), *(p) + 1, __ATOMIC_RELAXED)

static void watch(lt_thread_t *t)
{
    if (t->obx_ino < 0 || t->obx_watched)
        return;
    if (inotify_add_watch(t->obx_ino, t->o->outbox, IN_MODIFY) >= 0)
        t->obx_watched = 1;
}

void lt_outbox_open(lt_thread_t *t)
{
    t->obx_fd = open(t->o->outbox, O_RDONLY | O_CLOEXEC);
    if (t->obx_fd >= 0)
        lseek(t->obx_fd, 0, SEEK_END);
    t->obx_len = 0;
    t->obx_ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (t->obx_ino >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LT_OUTBOX_ID};
        epoll_ctl(t->ep, EPOLL_CTL_ADD, t->obx_ino, &ev);
    }
    watch(t);
}

void lt_outbox_event(lt_thread_t *t, uint64_t now)
{
    char buf[4096];
    while (read(t->obx_ino, buf, sizeof(buf)) > 0) {
    }
    if (t->nwaiting)
        lt_outbox_poll(t, now);
}

/* The string value of "key" in a flat JSON line (no escapes expected in an
 * address or a URL). */
static int json_field(const char *l, size_t n, const char *key, const char **v, size_t *vl)
{
    char pat[32];
    size_t pl = (size_t)snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *m = memmem(l, n, pat, pl);
    if (!m)
        return 0;
    m += pl;
    const char *e = memchr(m, '"', (size_t)(l + n - m));
    if (!e)
        return 0;
    *v = m;
    *vl = (size_t)(e - m);
    return 1;
}

static void stop_waiting(lt_conn_t *c, int step, uint64_t now)
{
    c->step = step;
    c->t->nwaiting--;
    lt_conn_resume(c, now);
}

static void take_line(lt_thread_t *t, const char *l, size_t n, uint64_t now)
{
    const char *to, *link;
    size_t tl, ll;
    if (!json_field(l, n, "to", &to, &tl) || !json_field(l, n, "link", &link, &ll))
        return;
    const char *p = memmem(link, ll, "/magic/verify/", 14);
    if (!p)
        return;
    size_t pl = (size_t)(link + ll - p);
    for (int i = 0; i < t->nconns; i++) {
        lt_conn_t *c = &t->conns[i];
        if ((c->step != ST_WAIT_LINK && c->step != ST_GENERATE) || c->link_ready ||
            strlen(c->email_raw) != tl || memcmp(c->email_raw, to, tl) != 0 ||
            pl >= sizeof(c->link))
            continue;
        memcpy(c->link, p, pl);
        c->link[pl] = 0;
        /* The server writes the link before it answers: the line can come
         * before the answer, and then waits in the connection. */
        c->link_ready = 1;
        if (c->step == ST_WAIT_LINK)
            stop_waiting(c, ST_VERIFY, now);
        return;
    }
}

void lt_outbox_poll(lt_thread_t *t, uint64_t now)
{
    if (t->obx_fd < 0) {
        /* magicd creates the file with the first link */
        t->obx_fd = open(t->o->outbox, O_RDONLY | O_CLOEXEC);
        watch(t);
    }
    while (t->obx_fd >= 0) {
        ssize_t r = read(t->obx_fd, t->obx_buf + t->obx_len, sizeof(t->obx_buf) - t->obx_len);
        if (r <= 0)
            break;
        t->obx_len += (size_t)r;
        size_t off = 0;
        for (;;) {
            char *nl = memchr(t->obx_buf + off, '\n', t->obx_len - off);
            if (!nl)
                break;
            take_line(t, t->obx_buf + off, (size_t)(nl - (t->obx_buf + off)), now);
            off = (size_t)(nl - t->obx_buf) + 1;
        }
        if (off == 0 && t->obx_len == sizeof(t->obx_buf))
            off = t->obx_len; /* a line longer than the buffer: not a link line */
        memmove(t->obx_buf, t->obx_buf + off, t->obx_len - off);
        t->obx_len -= off;
    }
    uint64_t limit = (uint64_t)(t->o->timeout * 1e9);
    for (int i = 0; i < t->nconns && t->nwaiting; i++) {
        lt_conn_t *c = &t->conns[i];
        if (c->step == ST_WAIT_LINK && now > c->wait_since && now - c->wait_since > limit) {
            INC(&t->st.flow[FL_NO_LINK]);
            stop_waiting(c, ST_GENERATE, now);
        }
    }
}
