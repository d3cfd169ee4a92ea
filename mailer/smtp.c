/*
 * smtp.c - SMTP client (RFC 5321) with STARTTLS and AUTH, and the message.
 *
 * A session is a socket, optionally wrapped in an OpenSSL connection after
 * STARTTLS, and a small line buffer for replies. Every socket operation is
 * bounded by SO_RCVTIMEO/SO_SNDTIMEO, so a relay that stops answering costs
 * the mailer at most one timeout per command, and a signal (QUIT/TERM to
 * the mailer, installed without SA_RESTART) interrupts a wait at once,
 * except the wait for a message's answer once its data went out: the relay
 * may have it already (smtp_held).
 *
 * STARTTLS: SMTP_TLS_OPPORTUNISTIC upgrades when the relay offers it and, as
 * MTAs do for opportunistic TLS, does not insist on a verifiable
 * certificate (it logs the verification result instead); SMTP_TLS_REQUIRED
 * refuses a relay without STARTTLS and verifies the certificate against the
 * system's trust store (SSL_CERT_FILE/SSL_CERT_DIR apply) and the relay's
 * host name. AUTH PLAIN is preferred, AUTH LOGIN is the fallback; both
 * only when the relay advertises them. What the relay advertised before
 * STARTTLS is forgotten once TLS is up.
 *
 * Round trips: a relay is usually a network away, and the mailer sends one
 * message at a time, so what a message costs is its round trips. With
 * PIPELINING (RFC 2920) MAIL, RCPT and DATA go in one write, then the
 * message after the 354: two. With CHUNKING as well (RFC 3030) the message
 * goes in that same write as "BDAT size LAST" and its octets, with no 354
 * to wait for: one. Without either, four.
 *
 * Replies are matched to commands by their order alone (one reply a
 * command, or a group's in turn under PIPELINING), so a relay that says
 * more than it is asked is out of step for the rest of the session: before
 * a message's data, after its final reply and when a session opens, any
 * reply nobody asked for drops the session (smtp_unsolicited), rather
 * than let a stale 250 stand for the answer to a message.
 *
 * The message itself is rendered from the templates under html/mail/ by
 * app/mail.c (UTF-8, quoted-printable parts, so every line stays under 77
 * octets); links longer than SMTP_URL_LINE_MAX are refused.
 */
#include "mailer/smtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define SMTP_URL_LINE_MAX 900
#define SMTP_LINE_MAX 1024

struct smtp_session {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    int dead;
    int tls;
    int hold; /* a message's data went out: its reply is waited for through signals */
    /* EHLO capabilities */
    int cap_starttls, cap_auth_plain, cap_auth_login, cap_pipelining, cap_chunking;
    char rbuf[4096];
    size_t rlen;
    char last[SMTP_LINE_MAX]; /* last reply line, for error messages */
};

/* ---- pure helpers ---------------------------------------------------- */

int smtp_parse_reply_line(const char *line, size_t n, int *code, int *more)
{
    if (n < 3)
        return -1;
    for (int i = 0; i < 3; i++)
        if (line[i] < '0' || line[i] > '9')
            return -1;
    if (line[0] < '2' || line[0] > '5')
        return -1;
    *code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (n == 3 || line[3] == ' ' || line[3] == '\r')
        *more = 0;
    else if (line[3] == '-')
        *more = 1;
    else
        return -1;
    return 0;
}

long smtp_wire(const char *in, size_t n, char *out, size_t outsz, int stuff)
{
    size_t o = 0;
    int bol = 1;

#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o >= outsz)                                                                            \
            return -1;                                                                             \
        out[o++] = (c);                                                                            \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '\r' && i + 1 < n && in[i + 1] == '\n')
            continue; /* the LF that follows writes the CRLF */
        if (c == '\n' || c == '\r') {
            PUT('\r');
            PUT('\n');
            bol = 1;
            continue;
        }
        if (stuff && bol && c == '.')
            PUT('.');
        PUT(c);
        bol = 0;
    }
    if (!bol) {
        PUT('\r');
        PUT('\n');
    }
#undef PUT
    return (long)o;
}

long smtp_dot_stuff(const char *in, size_t n, char *out, size_t outsz)
{
    return smtp_wire(in, n, out, outsz, 1);
}

int smtp_addr_spec(const char *from, char *out, size_t outsz)
{
    const char *lt = strrchr(from, '<'), *gt;
    const char *s = from;
    size_t n;

    if (lt) {
        gt = strchr(lt, '>');
        if (!gt)
            return -1;
        s = lt + 1;
        n = (size_t)(gt - s);
    } else {
        while (*s == ' ')
            s++;
        n = strlen(s);
        while (n > 0 && s[n - 1] == ' ')
            n--;
    }
    if (n == 0 || n >= outsz)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return spool_addr_ok(out) ? 0 : -1;
}

int smtp_message_id(const char *id_hex, const char *from, char *out, size_t outsz)
{
    char addr[SPOOL_ADDR_MAX];
    const char *domain = "magicd.invalid";
    int n;

    if (from && smtp_addr_spec(from, addr, sizeof(addr)) == 0)
        domain = strchr(addr, '@') + 1;
    n = snprintf(out, outsz, "<%s@%s>", id_hex, domain);
    return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

int smtp_date(uint64_t unix_s, char *out, size_t outsz)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)unix_s;
    struct tm tm;
    int n;

    if (!gmtime_r(&t, &tm))
        return -1;
    n = snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday,
                 mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

int smtp_format_message(const mail_set_t *set, const spool_msg_t *m, const char *from, char *out,
                        size_t outsz)
{
    char date[64], mid[SPOOL_ADDR_MAX + 40];
    buf_t b = {0};
    int n = -1;

    if (strlen(m->url) > SMTP_URL_LINE_MAX || smtp_date(m->created_s, date, sizeof(date)) < 0 ||
        smtp_message_id(m->id_hex, from, mid, sizeof(mid)) < 0)
        return -1;
    if (mail_format(set, m, from, date, mid, &b) == 0 && b.len < outsz) {
        memcpy(out, b.data, b.len);
        out[b.len] = '\0';
        n = (int)b.len;
    }
    buf_free(&b);
    return n;
}

/* ---- session I/O ----------------------------------------------------- */

static void smtp_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void smtp_err(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

static int smtp_unsolicited(const smtp_session_t *s);

/* A signal (the mailer's QUIT or TERM) breaks a wait on the relay at
 * once, except while a message's data is going out or its reply is
 * awaited (s->hold): the relay may have taken the message at its final
 * dot, and a mailer that hangs up before the answer leaves it unrecorded,
 * to be sent again by the next (RFC 1047). That wait stays bounded: each
 * read or write by the socket's timeout, the retries after a signal by
 * SMTP_HOLD_EINTR, and the mailer by the master's shutdown_timeout. */
#define SMTP_HOLD_EINTR 16
static int smtp_held(smtp_session_t *s)
{
    if (errno != EINTR || s->hold <= 0 || s->hold > SMTP_HOLD_EINTR)
        return 0;
    s->hold++;
    return 1;
}

static int smtp_write(smtp_session_t *s, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;
        errno = 0;
        if (s->ssl) {
            int r = SSL_write(s->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
            w = r > 0 ? r : -1;
        } else {
            w = send(s->fd, p, n, MSG_NOSIGNAL);
        }
        if (w < 0 && smtp_held(s))
            continue;
        if (w <= 0) {
            s->dead = 1;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static ssize_t smtp_read_some(smtp_session_t *s, char *p, size_t n)
{
    for (;;) {
        ssize_t r;
        errno = 0;
        if (s->ssl) {
            int k = SSL_read(s->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
            r = k > 0 ? k : -1;
        } else {
            r = recv(s->fd, p, n, 0);
        }
        if (r >= 0 || !smtp_held(s))
            return r;
    }
}

/* One CRLF-terminated line into line (without CRLF). */
static int smtp_read_line(smtp_session_t *s, char *line, size_t linesz, size_t *len)
{
    for (;;) {
        char *nl = memchr(s->rbuf, '\n', s->rlen);
        if (nl) {
            size_t n = (size_t)(nl - s->rbuf);
            size_t keep = n;
            if (keep > 0 && s->rbuf[keep - 1] == '\r')
                keep--;
            if (keep >= linesz)
                keep = linesz - 1;
            memcpy(line, s->rbuf, keep);
            line[keep] = '\0';
            *len = keep;
            memmove(s->rbuf, nl + 1, s->rlen - n - 1);
            s->rlen -= n + 1;
            return 0;
        }
        if (s->rlen == sizeof(s->rbuf)) {
            s->dead = 1; /* a line longer than any relay sends */
            return -1;
        }
        ssize_t r = smtp_read_some(s, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen);
        if (r <= 0) {
            s->dead = 1;
            return -1;
        }
        s->rlen += (size_t)r;
    }
}

/* Read a whole (possibly multi-line) reply. For EHLO, record capabilities. */
static int smtp_reply(smtp_session_t *s, int ehlo)
{
    char line[SMTP_LINE_MAX];
    size_t n;
    int code = 0, more = 1, first = 1;

    while (more) {
        int c;
        if (smtp_read_line(s, line, sizeof(line), &n) < 0)
            return -1;
        if (smtp_parse_reply_line(line, n, &c, &more) < 0 || (!first && c != code)) {
            s->dead = 1;
            return -1;
        }
        code = c;
        first = 0;
        snprintf(s->last, sizeof(s->last), "%s", line);
        if (ehlo && n > 4) {
            const char *kw = line + 4;
            if (strcasecmp(kw, "STARTTLS") == 0)
                s->cap_starttls = 1;
            if (strcasecmp(kw, "PIPELINING") == 0)
                s->cap_pipelining = 1;
            if (strcasecmp(kw, "CHUNKING") == 0)
                s->cap_chunking = 1;
            if (strncasecmp(kw, "AUTH", 4) == 0 && (kw[4] == ' ' || kw[4] == '=')) {
                char caps[SMTP_LINE_MAX], *tok, *save = NULL;
                snprintf(caps, sizeof(caps), "%s", kw + 5);
                for (tok = strtok_r(caps, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                    if (strcasecmp(tok, "PLAIN") == 0)
                        s->cap_auth_plain = 1;
                    if (strcasecmp(tok, "LOGIN") == 0)
                        s->cap_auth_login = 1;
                }
            }
        }
    }
    return code;
}

static int smtp_cmd(smtp_session_t *s, int ehlo, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Send one command line and read the reply: the reply code, or -1. */
static int smtp_cmd(smtp_session_t *s, int ehlo, const char *fmt, ...)
{
    char line[SMTP_LINE_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        return -1;
    line[n++] = '\r';
    line[n++] = '\n';
    if (smtp_write(s, line, (size_t)n) < 0)
        return -1;
    return smtp_reply(s, ehlo);
}

static int smtp_connect(const smtp_relay_t *r, char *err, size_t errsz)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct timeval tv;
    int fd = -1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(r->host, r->port, &hints, &res);
    if (rc != 0) {
        smtp_err(err, errsz, "resolve %s: %s", r->host, gai_strerror(rc));
        return -1;
    }
    tv.tv_sec = r->timeout_ms / 1000;
    tv.tv_usec = (r->timeout_ms % 1000) * 1000;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        /* SO_SNDTIMEO also bounds connect(2) on Linux. */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        smtp_err(err, errsz, "connect %s:%s: %s", r->host, r->port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* The name the certificate must carry: a DNS name, or for a relay given
 * as an address literal, an IP subjectAltName. */
static int smtp_tls_expect_name(SSL *ssl, const char *host)
{
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    unsigned char ip[16];

    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 ? 0 : -1;
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1 ? 0 : -1;
}

static int smtp_starttls(smtp_session_t *s, const smtp_relay_t *r, char *err, size_t errsz)
{
    int code = smtp_cmd(s, 0, "STARTTLS");
    long vr;

    if (code != 220) {
        smtp_err(err, errsz, "STARTTLS refused: %s", s->last);
        return -1;
    }
    s->ctx = SSL_CTX_new(TLS_client_method());
    if (!s->ctx)
        goto tls_err;
    SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(s->ctx);
    if (r->starttls == SMTP_TLS_REQUIRED)
        SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
    s->ssl = SSL_new(s->ctx);
    if (!s->ssl)
        goto tls_err;
    {
        unsigned char ip[16];
        /* SNI carries host names only, never address literals (RFC 6066). */
        if (inet_pton(AF_INET, r->host, ip) != 1 && inet_pton(AF_INET6, r->host, ip) != 1)
            SSL_set_tlsext_host_name(s->ssl, r->host);
    }
    if (r->starttls == SMTP_TLS_REQUIRED && smtp_tls_expect_name(s->ssl, r->host) < 0)
        goto tls_err;
    SSL_set_fd(s->ssl, s->fd);
    if (s->rlen != 0) {
        /* Bytes after the 220 would be a plaintext injection (CVE-2011-0411). */
        smtp_err(err, errsz, "relay sent data after 220 to STARTTLS");
        return -1;
    }
    if (SSL_connect(s->ssl) != 1)
        goto tls_err;
    vr = SSL_get_verify_result(s->ssl);
    if (vr != X509_V_OK)
        log_info("mailer: relay %s certificate not verified (%s); opportunistic TLS", r->host,
                 X509_verify_cert_error_string(vr));
    s->tls = 1;
    /* What the relay said before TLS is forgotten (RFC 3207): anyone in
     * between could have written it. */
    s->cap_starttls = s->cap_auth_plain = s->cap_auth_login = 0;
    s->cap_pipelining = s->cap_chunking = 0;
    code = smtp_cmd(s, 1, "EHLO %s", r->helo ? r->helo : "localhost");
    if (code != 250) {
        smtp_err(err, errsz, "EHLO after STARTTLS: %s", code < 0 ? "connection lost" : s->last);
        return -1;
    }
    return 0;

tls_err : {
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    smtp_err(err, errsz, "TLS with %s: %s", r->host, e ? buf : "handshake failed");
    ERR_clear_error();
    s->dead = 1;
    return -1;
}
}

static int smtp_b64(const char *in, size_t n, char *out, size_t outsz)
{
    if (4 * ((n + 2) / 3) + 1 > outsz)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
    return 0;
}

static int smtp_auth(smtp_session_t *s, const smtp_relay_t *r, char *err, size_t errsz)
{
    char raw[512], enc[700];
    size_t un = strlen(r->user), pn = strlen(r->password ? r->password : "");
    int code;

    /* Credentials go only over TLS whose certificate and host name were
     * verified: a relay (or whoever sits in between) that offers no
     * STARTTLS, or a certificate nobody vouches for, never sees them. The
     * config check already insists on smtp_starttls required; this is
     * the last line. */
    if (!s->tls || r->starttls != SMTP_TLS_REQUIRED) {
        smtp_err(err, errsz,
                 "not sending SMTP credentials to %s without a verified TLS connection "
                 "(smtp_starttls required)",
                 r->host);
        return -1;
    }
    if (s->cap_auth_plain) {
        if (un + pn + 2 > sizeof(raw))
            return -1;
        raw[0] = '\0';
        memcpy(raw + 1, r->user, un);
        raw[1 + un] = '\0';
        memcpy(raw + 2 + un, r->password, pn);
        if (smtp_b64(raw, un + pn + 2, enc, sizeof(enc)) < 0)
            return -1;
        code = smtp_cmd(s, 0, "AUTH PLAIN %s", enc);
    } else if (s->cap_auth_login) {
        code = smtp_cmd(s, 0, "AUTH LOGIN");
        if (code == 334 && smtp_b64(r->user, un, enc, sizeof(enc)) == 0)
            code = smtp_cmd(s, 0, "%s", enc);
        if (code == 334 && smtp_b64(r->password, pn, enc, sizeof(enc)) == 0)
            code = smtp_cmd(s, 0, "%s", enc);
    } else {
        smtp_err(err, errsz, "relay %s offers no AUTH PLAIN or LOGIN", r->host);
        return -1;
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(enc, sizeof(enc));
    if (code != 235) {
        smtp_err(err, errsz, "AUTH failed: %s", code < 0 ? "connection lost" : s->last);
        return -1;
    }
    return 0;
}

smtp_session_t *smtp_open(const smtp_relay_t *r, char *err, size_t errsz)
{
    smtp_session_t *s = calloc(1, sizeof(*s));
    int code;

    if (!s) {
        smtp_err(err, errsz, "out of memory");
        return NULL;
    }
    s->fd = smtp_connect(r, err, errsz);
    if (s->fd < 0)
        goto fail;
    code = smtp_reply(s, 0);
    if (code != 220) {
        smtp_err(err, errsz, "greeting from %s: %s", r->host, code < 0 ? "none" : s->last);
        goto fail;
    }
    code = smtp_cmd(s, 1, "EHLO %s", r->helo ? r->helo : "localhost");
    if (code != 250) {
        smtp_err(err, errsz, "EHLO: %s", code < 0 ? "connection lost" : s->last);
        goto fail;
    }
    if (r->starttls != SMTP_TLS_OFF && s->cap_starttls) {
        if (smtp_starttls(s, r, err, errsz) < 0)
            goto fail;
    } else if (r->starttls == SMTP_TLS_REQUIRED) {
        smtp_err(err, errsz, "relay %s does not offer STARTTLS (smtp_starttls required)", r->host);
        goto fail;
    }
    if (r->user && *r->user && smtp_auth(s, r, err, errsz) < 0)
        goto fail;
    if (smtp_unsolicited(s)) {
        /* Out of step before the first message (smtp_unsolicited): as
         * unusable as one that does not answer, and retried as slowly. */
        smtp_err(err, errsz, "%s replied more often than asked", r->host);
        goto fail;
    }
    return s;
fail:
    s->dead = 1;
    smtp_close(s);
    return NULL;
}

/* Bytes from the relay that answer nothing we sent: in the buffer after
 * the last reply read, or already in the socket. A relay that replies more
 * often than it is asked is out of step with us, and the reply it owes to
 * our next command would be taken from what it said before: a 250 meant
 * for something else taken as the answer to a message's final dot counts
 * a message as delivered that the relay may have refused (its own answer
 * is then read as the reply to the next command). Under TLS only what the
 * TLS layer holds counts: the socket may carry a record that is no reply
 * (a TLS 1.3 session ticket). */
static int smtp_unsolicited(const smtp_session_t *s)
{
    char c;

    if (s->rlen > 0)
        return 1;
    if (s->ssl)
        return SSL_pending(s->ssl) > 0;
    return recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

int smtp_session_ok(const smtp_session_t *s)
{
    return s && !s->dead && !smtp_unsolicited(s);
}

int smtp_session_tls(const smtp_session_t *s)
{
    return s && s->tls;
}

static int smtp_classify(smtp_session_t *s, int code)
{
    if (code < 0 || s->dead)
        return SMTP_TEMPFAIL;
    return code >= 500 ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
}

/* The next reply, its text into why ("connection lost" when there is
 * none): the code, or -1. */
static int smtp_reply_why(smtp_session_t *s, char why[SMTP_LINE_MAX])
{
    int code = s->dead ? -1 : smtp_reply(s, 0);

    snprintf(why, SMTP_LINE_MAX, "%s", code < 0 ? "connection lost" : s->last);
    return code;
}

/* The envelope: MAIL, RCPT and `third` (DATA, or a BDAT whose octets,
 * data[0..datalen), follow it). With PIPELINING (RFC 2920) all of it goes
 * in one write and the three replies are read together, one round trip;
 * without it each command waits for its reply and the first refusal ends
 * it (code[i] 0: not sent). Octets go only with PIPELINING. why[i] gets
 * each reply's text. */
static void smtp_envelope(smtp_session_t *s, const char *from_addr, const char *to,
                          const char *third, const char *data, size_t datalen, int code[3],
                          char why[3][SMTP_LINE_MAX])
{
    char cmd[3][SMTP_LINE_MAX + 8];
    int n[3];

    n[0] = snprintf(cmd[0], sizeof(cmd[0]), "MAIL FROM:<%s>\r\n", from_addr);
    n[1] = snprintf(cmd[1], sizeof(cmd[1]), "RCPT TO:<%s>\r\n", to);
    n[2] = snprintf(cmd[2], sizeof(cmd[2]), "%s\r\n", third);
    for (int i = 0; i < 3; i++) {
        code[i] = 0;
        snprintf(why[i], SMTP_LINE_MAX, "connection lost");
        if (n[i] < 0 || (size_t)n[i] >= sizeof(cmd[i]))
            n[i] = -1;
    }
    if (n[0] < 0 || n[1] < 0 || n[2] < 0) {
        code[0] = -1;
        return;
    }
    if (s->cap_pipelining) {
        /* One buffer, one write: a second write could wait out Nagle and
         * the relay's delayed ACK, a round trip of its own. */
        size_t len = (size_t)n[0] + (size_t)n[1] + (size_t)n[2] + datalen, off = 0;
        char *all = malloc(len);
        if (!all) {
            code[0] = -1;
            snprintf(why[0], SMTP_LINE_MAX, "out of memory");
            return;
        }
        for (int i = 0; i < 3; i++) {
            memcpy(all + off, cmd[i], (size_t)n[i]);
            off += (size_t)n[i];
        }
        if (datalen)
            memcpy(all + off, data, datalen);
        int w = smtp_write(s, all, len);
        free(all);
        if (w < 0) {
            code[0] = -1;
            return;
        }
        for (int i = 0; i < 3; i++)
            code[i] = smtp_reply_why(s, why[i]);
        return;
    }
    for (int i = 0; i < 3; i++) {
        code[i] = smtp_write(s, cmd[i], (size_t)n[i]) < 0 ? -1 : smtp_reply_why(s, why[i]);
        if (code[i] != (i == 2 ? 354 : 250) && !(i == 1 && code[i] == 251))
            return;
    }
}

/* Which reply of an envelope refused it: 0 MAIL, 1 RCPT, 2 the third
 * (DATA's 354, or BDAT's 250 when the message went along); -1 none. */
static int smtp_env_refused(const int code[3], int third_ok)
{
    return code[0] != 250 ? 0 : code[1] != 250 && code[1] != 251 ? 1 : code[2] != third_ok ? 2 : -1;
}

/* The transaction refused at step `bad` with code: said in err, the
 * session reset for the next message. A refused sender is the relay's
 * policy or our config, not this message: kept and retried. Returns
 * SMTP_TEMPFAIL or SMTP_PERMFAIL. */
static int smtp_refused(smtp_session_t *s, int bad, int code, const char *step, const char *why,
                        char *err, size_t errsz)
{
    int rc;

    smtp_err(err, errsz, "%s: %s", step, why);
    if (bad == 0 && code >= 500)
        code = 451;
    rc = smtp_classify(s, code);
    if (!s->dead && smtp_cmd(s, 0, "RSET") != 250)
        s->dead = 1;
    return rc;
}

/* With PIPELINING and CHUNKING (RFC 3030) the whole transaction is one
 * write and one round trip: MAIL, RCPT and "BDAT size LAST" followed by the
 * message itself, which needs no dot-stuffing and no end marker, so there
 * is no 354 to wait for. A refused envelope makes the relay refuse the BDAT
 * too (after reading its octets), and nothing is delivered. */
static int smtp_send_bdat(smtp_session_t *s, const char *from_addr, const char *to, const char *msg,
                          size_t len, char *err, size_t errsz)
{
    static const char *const what[3] = {"MAIL FROM", "RCPT TO", "BDAT"};
    char *data = malloc(len * 2 + 2), why[3][SMTP_LINE_MAX], bdat[48];
    int code[3], bad;
    long dn;

    if (!data) {
        smtp_err(err, errsz, "out of memory");
        return SMTP_TEMPFAIL;
    }
    dn = smtp_wire(msg, len, data, len * 2 + 2, 0);
    if (dn < 0) {
        free(data);
        smtp_err(err, errsz, "message too large");
        return SMTP_TEMPFAIL;
    }
    snprintf(bdat, sizeof(bdat), "BDAT %ld LAST", dn);
    s->hold = 1; /* the message goes out with its envelope: smtp_held */
    smtp_envelope(s, from_addr, to, bdat, data, (size_t)dn, code, why);
    s->hold = 0;
    free(data);
    bad = smtp_env_refused(code, 250);
    if (bad >= 0)
        return smtp_refused(s, bad, code[bad], what[bad], why[bad], err, errsz);
    /* More than three replies: which was the BDAT's cannot be told (no
     * 354 came between the envelope and the message to check at), and a
     * 4xx after a stray 250 would be a message lost. Retried instead: at
     * worst a second copy, with the same Message-ID. */
    if (smtp_unsolicited(s)) {
        s->dead = 1;
        smtp_err(err, errsz, "BDAT: relay replied out of turn (more replies than commands)");
        return SMTP_TEMPFAIL;
    }
    return SMTP_OK;
}

int smtp_send(smtp_session_t *s, const char *from_addr, const char *to, const char *msg, size_t len,
              char *err, size_t errsz)
{
    size_t cap = len * 2 + 8;
    char *data, why[3][SMTP_LINE_MAX];
    long dn;
    int code, env[3];

    if (s->dead || smtp_unsolicited(s)) {
        s->dead = 1;
        smtp_err(err, errsz, "session closed");
        return SMTP_TEMPFAIL;
    }
    if (s->cap_pipelining && s->cap_chunking)
        return smtp_send_bdat(s, from_addr, to, msg, len, err, errsz);
    smtp_envelope(s, from_addr, to, "DATA", NULL, 0, env, why);
    int bad = smtp_env_refused(env, 354);
    if (bad >= 0) {
        static const char *const what[3] = {"MAIL FROM", "RCPT TO", "DATA"};
        /* A relay that said 354 to DATA after refusing the envelope (RFC
         * 2920 says it must not) is waiting for a message: end it empty,
         * it has no recipient to go to. */
        if (env[2] == 354 && !s->dead && (smtp_write(s, ".\r\n", 3) < 0 || smtp_reply(s, 0) < 0))
            s->dead = 1;
        return smtp_refused(s, bad, env[bad], what[bad], why[bad], err, errsz);
    }
    /* Nothing may follow the 354 before we send the message: see
     * smtp_unsolicited. The message is not sent; it is retried on a new
     * session. */
    if (smtp_unsolicited(s)) {
        s->dead = 1;
        smtp_err(err, errsz, "DATA: relay replied out of turn (more replies than commands)");
        return SMTP_TEMPFAIL;
    }
    data = malloc(cap);
    if (!data) {
        /* Mid-DATA we cannot back out cleanly: drop the session. */
        s->dead = 1;
        smtp_err(err, errsz, "out of memory");
        return SMTP_TEMPFAIL;
    }
    dn = smtp_dot_stuff(msg, len, data, cap - 3);
    if (dn < 0) {
        free(data);
        s->dead = 1;
        smtp_err(err, errsz, "message too large");
        return SMTP_TEMPFAIL;
    }
    memcpy(data + dn, ".\r\n", 3);
    s->hold = 1; /* the message and its reply: smtp_held */
    if (smtp_write(s, data, (size_t)dn + 3) < 0) {
        s->hold = 0;
        free(data);
        smtp_err(err, errsz, "DATA: connection lost");
        return SMTP_TEMPFAIL;
    }
    free(data);
    code = smtp_reply(s, 0);
    s->hold = 0;
    if (code != 250) {
        smtp_err(err, errsz, "end of DATA: %s", code < 0 ? "connection lost" : s->last);
        return smtp_classify(s, code);
    }
    /* More after the 250: which of its replies was the answer we cannot
     * tell, and the next command's would not be its own; this message
     * counts as delivered, the next goes over a new session. */
    if (smtp_unsolicited(s))
        s->dead = 1;
    return SMTP_OK;
}

void smtp_close(smtp_session_t *s)
{
    if (!s)
        return;
    if (!s->dead && s->fd >= 0)
        smtp_cmd(s, 0, "QUIT");
    if (s->ssl) {
        if (!s->dead)
            SSL_shutdown(s->ssl);
        SSL_free(s->ssl);
    }
    if (s->ctx)
        SSL_CTX_free(s->ctx);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}
