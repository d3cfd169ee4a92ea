/*
 * smtp-sink.c - an SMTP server that takes every message as fast as it can,
 * for tools/bench-mailer.sh: what the benchmark measures is how fast the
 * mailer delivers, so the relay it delivers to must not be the bound.
 *
 * One thread, one epoll loop, 127.0.0.1 only. It answers EHLO (advertising
 * PIPELINING, CHUNKING and 8BITMIME, nothing else; -P leaves out
 * PIPELINING, so a client waits for each reply, -C CHUNKING) and HELO,
 * MAIL, RCPT, DATA (354, then the message up to the line ".", then 250),
 * BDAT (below), RSET, NOOP and QUIT; anything else gets 502. Pipelined
 * commands are answered in order, the replies to one read together.
 * Little is checked beyond the verbs: it is a sink, not a relay.
 *
 * BDAT SIZE [LAST] (CHUNKING, RFC 3030; with -C it gets 502 like any
 * unknown verb): the SIZE octets after the command line's LF are message
 * data as they are, no dot-stuffing, no line structure (whatever the
 * octets hold: a ".", a "BDAT"); the next command follows right after
 * them. Each chunk gets 250 once its last octet was read; the one with
 * LAST ends the message, which counts and is recorded as one that came by
 * DATA. BDAT needs MAIL and then RCPT before it (MAIL and RCPT themselves
 * always get 250; a RCPT before any MAIL does not count), or it gets 503,
 * and so does DATA after a BDAT chunk of the same message; a refused BDAT
 * still has its SIZE octets read and dropped. A bad line ("BDAT x") gets
 * 501 and nothing after it is taken for data. MAIL, RSET, EHLO and HELO
 * drop a message that came in chunks without LAST. DATA is not checked.
 *
 * -d MS stands in for a relay MS milliseconds away (a round trip; loopback
 * has none, and netem is not everywhere): every reply is held for MS from
 * the read that brought the line calling for it (the greeting: from the
 * accept), and the replies to one read go out together, as one round trip.
 * Held replies queue per connection behind a due time and leave in order;
 * one timerfd, armed at the earliest due time of all connections, brings
 * the loop back. A connection's input is still read and acted on while its
 * replies wait (up to SINK_SEGS reads' worth, and what fits in its output
 * buffer; lines held back by that are timed from the latest read: later,
 * never earlier).
 *
 * For every message it accepts it writes the value of the message's
 * Message-ID header as one line to IDFILE ("-" when there is none), so the
 * caller can count duplicates and losses. It times on CLOCK_MONOTONIC, from
 * its first connection to the COUNT-th message.
 *
 *   cc -O2 -o smtp-sink tools/smtp-sink.c
 *   ./smtp-sink -p PORT [-o IDFILE] [-n COUNT] [-q QUIET_MS] [-t SECONDS] [-d MS] [-P] [-C]
 *
 * It prints "listening 127.0.0.1:PORT" once connections are accepted (-p 0:
 * a free port). With -n it exits 0 once COUNT messages were accepted and
 * none came for QUIET_MS after that (default 1000: duplicates that follow
 * the count are still caught); it exits 1 when SECONDS (default 120) pass
 * first, and 0 on TERM or INT. At exit it prints one line:
 *
 *   messages M connections C ready_to_first_ms A first_to_count_ms B first_to_last_ms L cpu_ms U
 *
 * (ready: when it started listening; first: its first connection; count:
 * the COUNT-th message, -1 if it never came; last: the last message; cpu:
 * its own user + system time, so a caller can tell whether the sink was
 * the bound; with -d, count and last are when the final dot, or the last
 * octet of the LAST chunk, was read, its 250 goes MS later). A measuring
 * tool, not part of the server.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SINK_IN 65536 /* a command line, or a piece of a message */
#define SINK_OUT 8192
#define SINK_REPLY_MAX 128 /* the longest reply (EHLO's four lines) fits */
#define SINK_ID_MAX 256
#define SINK_HLINE 512 /* BDAT: a header line is looked at up to here */
#define SINK_SEGS 16   /* reads whose replies are held (-d) at once */

typedef struct conn {
    int fd;
    int data;            /* between DATA's 354 and the final "." */
    int headers;         /* ... and still in the header block */
    int midline;         /* the buffer was full without a line end: the rest of a line */
    int closing;         /* close once the replies are out (QUIT) */
    int txn;             /* 1: after MAIL, 2: and RCPT (BDAT may follow), 0: neither */
    int chunks;          /* BDAT chunks of this message so far */
    int bdat;            /* in a BDAT chunk's octets */
    int last;            /* ... and it has LAST */
    const char *refused; /* ... its reply when it is refused (read, dropped) */
    uint64_t size, left; /* ... its size, and its octets still to come */
    size_t hlen;         /* BDAT, in the headers: the line so far (may be > SINK_HLINE) */
    uint32_t events;     /* registered for (EPOLLIN, EPOLLOUT) */
    size_t inlen, outlen, outoff;
    size_t ready;  /* out[outoff..ready) may be sent now; the rest is held */
    uint64_t t_in; /* the latest read (or the accept): held replies count from it */
    int nseg;      /* held replies: out[..seg[i].end) goes at seg[i].due */
    struct {
        size_t end;
        uint64_t due;
    } seg[SINK_SEGS];
    struct conn *prev, *next; /* all connections, for the timer */
    char id[SINK_ID_MAX];
    char hline[SINK_HLINE];
    char in[SINK_IN];
    char out[SINK_OUT];
} conn_t;

static int ep, tfd = -1, pipelining = 1, chunking = 1;
static char ehlo[SINK_REPLY_MAX];
static uint64_t delay_ns, armed; /* -d; the timerfd's due time (0: disarmed) */
static conn_t *conns;
static FILE *ids;
static unsigned long messages, connections, count;
static uint64_t t_ready, t_first, t_count, t_last;
/* epoll's data.ptr for the fds that are no connection */
static int listen_tag, signal_tag, timer_tag;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "smtp-sink: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void reply(conn_t *c, const char *s)
{
    size_t n = strlen(s);

    if (c->outlen + n > SINK_OUT) { /* process() keeps room: never */
        c->closing = 1;
        return;
    }
    memcpy(c->out + c->outlen, s, n);
    c->outlen += n;
}

/* The replies added since the last call are due DELAY after the latest
 * read; those of one read share a due time, so they go out together. */
static void hold(conn_t *c)
{
    uint64_t due = c->t_in + delay_ns;

    if (!delay_ns) {
        c->ready = c->outlen;
    } else if (c->nseg && c->seg[c->nseg - 1].due == due) {
        c->seg[c->nseg - 1].end = c->outlen;
    } else if (c->outlen > (c->nseg ? c->seg[c->nseg - 1].end : c->ready)) {
        c->seg[c->nseg].end = c->outlen; /* process() keeps a slot free */
        c->seg[c->nseg++].due = due;
    }
}

static void conn_close(conn_t *c)
{
    close(c->fd); /* also leaves the epoll set */
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* The message is complete (the final dot, or the LAST chunk). */
static void message(conn_t *c)
{
    c->data = c->headers = c->chunks = c->txn = 0;
    messages++;
    t_last = now_ns();
    if (messages == count)
        t_count = t_last;
    if (ids)
        fprintf(ids, "%s\n", c->id[0] ? c->id : "-");
    reply(c, "250 2.0.0 queued\r\n");
}

/* A header line (without its CR LF): the empty one ends the headers. */
static void header_line(conn_t *c, const char *p, size_t n)
{
    if (n == 0) {
        c->headers = 0;
    } else if (n > 11 && strncasecmp(p, "Message-ID:", 11) == 0) {
        p += 11, n -= 11;
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && p[n - 1] == ' ')
            n--;
        if (n >= sizeof(c->id))
            n = sizeof(c->id) - 1;
        memcpy(c->id, p, n);
        c->id[n] = '\0';
    }
}

/* One whole message line (without its LF; a CR before it is kept). */
static void data_line(conn_t *c, const char *p, size_t n)
{
    if (n && p[n - 1] == '\r')
        n--;
    if (n == 1 && p[0] == '.')
        message(c);
    else if (c->headers)
        header_line(c, p, n);
}

/* Octets of a BDAT chunk: lines may end in a later read or chunk. */
static void chunk_data(conn_t *c, const char *p, size_t n)
{
    while (c->headers && !c->refused && n) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        if (c->hlen < SINK_HLINE)
            memcpy(c->hline + c->hlen, p, k < SINK_HLINE - c->hlen ? k : SINK_HLINE - c->hlen);
        c->hlen += k;
        if (!nl)
            return;
        size_t len = c->hlen < SINK_HLINE ? c->hlen : SINK_HLINE;
        if (len && c->hline[len - 1] == '\r' && c->hlen <= SINK_HLINE)
            len--;
        header_line(c, c->hline, len);
        c->hlen = 0;
        p += k + 1, n -= k + 1;
    }
}

/* The chunk's last octet was read (or it had none). */
static void chunk_end(conn_t *c)
{
    char r[64];

    c->bdat = 0;
    if (c->refused) {
        reply(c, c->refused);
    } else if (c->last) {
        if (c->headers && c->hlen) /* a last header line without its LF */
            chunk_data(c, "\n", 1);
        message(c);
    } else {
        snprintf(r, sizeof(r), "250 2.0.0 %llu octets\r\n", (unsigned long long)c->size);
        reply(c, r);
    }
}

/* BDAT's arguments (what follows the verb): " SIZE [LAST]". */
static void bdat(conn_t *c, const char *p, size_t n)
{
    uint64_t size = 0;
    size_t i = 0, digits;

    if (n && p[n - 1] == '\r')
        n--;
    while (i < n && p[i] == ' ')
        i++;
    for (digits = i; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        if (size > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
            break; /* too large to tell how many octets are its */
        size = size * 10 + (uint64_t)(p[i] - '0');
    }
    /* "BDATX", "BDAT x", "BDAT 3x", a size past 64 bits: no octets are its */
    if (digits == 0 || i == digits || (i < n && p[i] != ' ')) {
        reply(c, "501 5.5.4 BDAT SIZE [LAST]\r\n");
        return;
    }
    while (i < n && p[i] == ' ')
        i++;
    c->last = n - i >= 4 && strncasecmp(p + i, "LAST", 4) == 0;
    for (i += c->last ? 4 : 0; i < n && p[i] == ' ';)
        i++;
    c->refused = i < n         ? "501 5.5.4 BDAT SIZE [LAST]\r\n"
                 : c->txn != 2 ? "503 5.5.1 MAIL and RCPT first\r\n"
                               : NULL;
    if (!c->refused && c->chunks++ == 0) {
        c->headers = 1;
        c->hlen = 0;
        c->id[0] = '\0';
    }
    c->bdat = 1;
    c->size = c->left = size;
    if (size == 0)
        chunk_end(c);
}

static void command(conn_t *c, const char *p, size_t n)
{
    char verb[5] = {0};

    memcpy(verb, p, n < 4 ? n : 4);
    if (strcasecmp(verb, "EHLO") == 0) {
        c->txn = c->chunks = 0;
        reply(c, ehlo);
    } else if (strcasecmp(verb, "HELO") == 0) {
        c->txn = c->chunks = 0;
        reply(c, "250 sink\r\n");
    } else if (strcasecmp(verb, "MAIL") == 0) {
        c->txn = 1;
        c->chunks = 0;
        reply(c, "250 2.1.0 ok\r\n");
    } else if (strcasecmp(verb, "RCPT") == 0) {
        c->txn = c->txn ? 2 : 0;
        reply(c, "250 2.1.5 ok\r\n");
    } else if (strcasecmp(verb, "DATA") == 0 && c->chunks) {
        reply(c, "503 5.5.1 DATA after BDAT: BDAT LAST or RSET\r\n");
    } else if (strcasecmp(verb, "DATA") == 0) {
        c->data = c->headers = 1;
        c->id[0] = '\0';
        reply(c, "354 end with <CRLF>.<CRLF>\r\n");
    } else if (chunking && strcasecmp(verb, "BDAT") == 0) {
        bdat(c, p + 4, n - 4);
    } else if (strcasecmp(verb, "RSET") == 0) {
        c->txn = c->chunks = 0;
        reply(c, "250 2.0.0 ok\r\n");
    } else if (strcasecmp(verb, "NOOP") == 0) {
        reply(c, "250 2.0.0 ok\r\n");
    } else if (strcasecmp(verb, "QUIT") == 0) {
        reply(c, "221 2.0.0 bye\r\n");
        c->closing = 1;
    } else {
        reply(c, "502 5.5.2 not implemented\r\n");
    }
}

/* Act on every whole line in the input while there is room for replies. */
static void process(conn_t *c)
{
    size_t off = 0;

    if (c->nseg == SINK_SEGS || c->outlen + SINK_REPLY_MAX > SINK_OUT)
        return;
    while (!c->closing && c->outlen + SINK_REPLY_MAX <= SINK_OUT) {
        if (c->bdat) { /* a chunk's octets, as many as came */
            size_t n = c->inlen - off;
            if (n == 0)
                break;
            if (n > c->left)
                n = (size_t)c->left;
            chunk_data(c, c->in + off, n);
            off += n;
            if ((c->left -= n) == 0)
                chunk_end(c);
            continue;
        }
        char *nl = memchr(c->in + off, '\n', c->inlen - off);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (c->in + off));
        if (c->midline)
            c->midline = 0; /* the end of a line too long to look at */
        else if (c->data)
            data_line(c, c->in + off, n);
        else
            command(c, c->in + off, n);
        off += n + 1;
    }
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
    if (!c->bdat && c->inlen == SINK_IN && !memchr(c->in, '\n', c->inlen)) { /* one line */
        if (!c->data) {
            reply(c, "500 5.5.2 line too long\r\n");
            c->closing = 1;
        }
        c->inlen = 0;
        c->midline = 1;
    }
    hold(c);
}

/* Send what is due; -1: the connection is gone. */
static int flush(conn_t *c)
{
    uint64_t now = c->nseg ? now_ns() : 0;
    int due = 0;

    while (due < c->nseg && c->seg[due].due <= now)
        c->ready = c->seg[due++].end;
    c->nseg -= due;
    memmove(c->seg, c->seg + due, (size_t)c->nseg * sizeof(c->seg[0]));
    while (c->outoff < c->ready) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->ready - c->outoff, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        if (w < 0)
            return -1;
        c->outoff += (size_t)w;
    }
    if (c->outoff > 0) { /* what is held moves down to make room */
        memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
        c->outlen -= c->outoff, c->ready -= c->outoff;
        for (int i = 0; i < c->nseg; i++)
            c->seg[i].end -= c->outoff;
        c->outoff = 0;
    }
    /* Read on while replies wait for their time, not while they wait for
     * the client: replies the socket does not take are the backpressure. */
    uint32_t want = c->ready > 0 ? EPOLLOUT : c->inlen < SINK_IN ? EPOLLIN : 0;
    if (want != c->events) {
        struct epoll_event ev = {.events = want, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
            return -1;
        c->events = want;
    }
    return c->closing && c->outlen == 0 ? -1 : 0;
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                perror("smtp-sink: accept");
            return;
        }
        conn_t *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->events = EPOLLIN;
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            conn_close(c);
            continue;
        }
        c->t_in = now_ns();
        if (connections++ == 0)
            t_first = c->t_in;
        reply(c, "220 sink ESMTP\r\n");
        hold(c);
        if (flush(c) < 0)
            conn_close(c);
    }
}

/* Its socket is ready (events), or its held replies may be due (0); -1:
 * closed. */
static int on_conn(conn_t *c, uint32_t events)
{
    if (events & EPOLLIN) {
        ssize_t r = c->inlen < SINK_IN ? read(c->fd, c->in + c->inlen, SINK_IN - c->inlen) : -1;
        if (r == 0 || (r < 0 && c->inlen < SINK_IN && errno != EINTR && errno != EAGAIN)) {
            conn_close(c);
            return -1;
        }
        if (r > 0) {
            c->inlen += (size_t)r;
            if (delay_ns)
                c->t_in = now_ns();
        }
    } else if (events & (EPOLLERR | EPOLLHUP)) {
        conn_close(c);
        return -1;
    }
    /* Replies first, then the lines they made room for, until neither moves. */
    for (;;) {
        if (flush(c) < 0) {
            conn_close(c);
            return -1;
        }
        if (c->ready > 0)
            return 0; /* EPOLLOUT will bring us back */
        size_t in = c->inlen, out = c->outlen;
        process(c);
        if (c->outlen == out && c->inlen == in)
            return 0;
    }
}

/* -d: every connection whose held replies are due sends them; the timer
 * is armed at the earliest that is not. */
static void release(void)
{
    uint64_t now = now_ns(), next = 0;

    for (conn_t *c = conns, *n; c; c = n) {
        n = c->next;
        if (c->nseg && c->seg[0].due <= now && on_conn(c, 0) < 0)
            continue;
        if (c->nseg && (!next || c->seg[0].due < next))
            next = c->seg[0].due;
    }
    if (next != armed) {
        struct itimerspec it = {.it_value = {.tv_sec = (time_t)(next / 1000000000u),
                                             .tv_nsec = (long)(next % 1000000000u)}};
        if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL) < 0)
            die("timerfd_settime");
        armed = next;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: smtp-sink -p PORT [-o IDFILE] [-n COUNT] [-q QUIET_MS] [-t SECONDS] "
                    "[-d MS] [-P] [-C]\n");
    return 2;
}

static double ms(uint64_t a, uint64_t b)
{
    return a && b ? (double)(b - a) / 1e6 : -1;
}

int main(int argc, char **argv)
{
    int port = -1, quiet_ms = 1000, seconds = 120, o;
    const char *idfile = NULL;

    while ((o = getopt(argc, argv, "p:o:n:q:t:d:PC")) != -1) {
        switch (o) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'o':
            idfile = optarg;
            break;
        case 'n':
            count = strtoul(optarg, NULL, 10);
            break;
        case 'q':
            quiet_ms = atoi(optarg);
            break;
        case 't':
            seconds = atoi(optarg);
            break;
        case 'd':
            delay_ns = strtoull(optarg, NULL, 10) * 1000000u;
            break;
        case 'P':
            pipelining = 0;
            break;
        case 'C':
            chunking = 0;
            break;
        default:
            return usage();
        }
    }
    if (port < 0 || port > 65535 || optind != argc)
        return usage();
    snprintf(ehlo, sizeof(ehlo), "250-sink\r\n%s%s250 8BITMIME\r\n",
             pipelining ? "250-PIPELINING\r\n" : "", chunking ? "250-CHUNKING\r\n" : "");
    if (idfile && !(ids = fopen(idfile, "w")))
        die(idfile);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t salen = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 512) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
        die("listen");
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listen_tag};
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &signal_tag};
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = &timer_tag};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev) < 0)
        die("epoll");
    if (delay_ns && ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
                     epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) < 0))
        die("timerfd");
    t_ready = now_ns();
    printf("listening 127.0.0.1:%d\n", ntohs(sa.sin_port));
    fflush(stdout);

    uint64_t hard = t_ready + (uint64_t)seconds * 1000000000u;
    int rc = 0;
    for (;;) {
        uint64_t now = now_ns(), until = hard;
        if (count && messages >= count) {
            uint64_t q = t_last + (uint64_t)quiet_ms * 1000000u;
            if (now >= q)
                break;
            if (q < until)
                until = q;
        }
        if (now >= hard) {
            fprintf(stderr, "smtp-sink: %d s passed with %lu of %lu messages\n", seconds, messages,
                    count);
            rc = 1;
            break;
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, (int)((until - now) / 1000000u) + 1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        int stop = 0;
        uint64_t expired;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listen_tag)
                on_accept(lfd);
            else if (evs[i].data.ptr == &signal_tag)
                stop = 1;
            else if (evs[i].data.ptr != &timer_tag)
                on_conn(evs[i].data.ptr, evs[i].events);
            else if (read(tfd, &expired, sizeof(expired)) < 0 && errno != EAGAIN)
                die("timerfd"); /* expired: release() below sends and rearms */
        }
        if (stop)
            break;
        if (delay_ns)
            release();
    }
    if (ids && fclose(ids) != 0)
        die(idfile);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    printf("messages %lu connections %lu ready_to_first_ms %.1f first_to_count_ms %.1f "
           "first_to_last_ms %.1f cpu_ms %.1f\n",
           messages, connections, ms(t_ready, t_first), ms(t_first, t_count), ms(t_first, t_last),
           cpu_ms);
    return rc;
}
