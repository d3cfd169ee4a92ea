/*
 * conf_check.c - the rules a config must meet before a server runs it.
 *
 * conf_load() checks each directive on its own; some mistakes only show in
 * how directives combine, and those are the ones that hand an attacker a
 * way in. They are refused here, by `magicd -t`, at start and on reload
 * (a reload that fails them keeps the old config), each with a message
 * that says what to set:
 *
 *   - links are built from public_url only. Every delivery but `response`
 *     (which links relatively in the page) mails or logs a full URL, so it
 *     needs public_url, and the value must be a plain http(s)://host[:port]
 *     [/path] base, since it ends up in every mail.
 *   - smtp_auth sends a password: only with `smtp_starttls required`,
 *     which verifies the relay's certificate and name. `on` upgrades when
 *     offered, and a man in the middle simply does not offer it.
 *   - cookie_secure auto (the default) becomes on exactly when public_url
 *     is https://; an explicit off with an https public_url is warned of.
 *   - real_ip_from covering every address (0.0.0.0/0, ::/0) is warned of:
 *     any client could name its own address, and the per-address limits
 *     would hold for nobody.
 *   - delivery log (the default) with an https public_url, a served site
 *     rather than make run, is warned of: links go to the log, not to
 *     anybody's mailbox.
 *   - smtp_auth in a config file every user may read is warned of.
 *   - an allowed_return_urls pattern whose host anyone can have (*, *NAME,
 *     *.TLD) is warned of: an open redirect of the operator's making.
 *   - delivery smtp with an smtp_from no mailbox takes (the default's
 *     login@localhost, a bare word) is warned of.
 *   - the profiler shows code, memory and request lines: a non-loopback
 *     profiler_listen needs either `public` written after the address (the
 *     operator says they mean it) or profiler_auth_token_file.
 *   - profiler_listen must not be one of the `listen` addresses (or a
 *     wildcard of the same family and port as one): the second bind
 *     failed at start with a bare "Address already in use", naming no
 *     other program because there is none.
 *   - link_ttl and session_ttl of 0 are refused: every link would be
 *     expired when it arrived, every session when its cookie was set.
 *   - `user USER [GROUP]` must name a user and group that exist when the
 *     master runs as root (as in nginx, the line means nothing otherwise):
 *     every child looks them up after fork, and would die on it, again and
 *     again, while the port accepted connections no worker answered.
 *
 * It also loads the profiler's bearer token, in the master, so the
 * profiler process inherits it by fork whatever user it runs as.
 */
#include "core/conf_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

static int cc_public_url_ok(const char *u)
{
    const char *host;

    if (!strncasecmp(u, "https://", 8))
        host = u + 8;
    else if (!strncasecmp(u, "http://", 7))
        host = u + 7;
    else
        return 0;
    if (!*host || *host == '/' || *host == ':')
        return 0;
    for (const char *p = host; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch >= 0x7f || strchr("\"'<>\\^`{|}?#@", ch))
            return 0;
    }
    return 1;
}

int conf_check_loopback(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;

    if (!strcmp(host, "localhost"))
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0; /* "*", a wildcard or a name: not loopback */
}

static int cc_token(conf_t *c, char *err, size_t errsz)
{
    const char *path = c->prof.auth_token_file;
    struct stat st;
    char buf[CONF_TOKEN_MAX + 2];
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errsz, "cannot open profiler_auth_token_file \"%s\": %s", path,
                 strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 0007)) {
        snprintf(err, errsz,
                 "profiler_auth_token_file \"%s\" must be a regular file not accessible to "
                 "others (chmod 0600)",
                 path);
        close(fd);
        return -1;
    }
    n = read(fd, buf, sizeof buf);
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    if (n < CONF_TOKEN_MIN || n > CONF_TOKEN_MAX) {
        snprintf(err, errsz,
                 "profiler_auth_token_file \"%s\": the token must be %d to %d characters "
                 "(e.g. openssl rand -base64 32)",
                 path, CONF_TOKEN_MIN, CONF_TOKEN_MAX);
        return -1;
    }
    for (ssize_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f) {
            snprintf(err, errsz,
                     "profiler_auth_token_file \"%s\": the token must be printable ASCII "
                     "without spaces",
                     path);
            return -1;
        }
    memcpy(c->prof.auth_token, buf, (size_t)n);
    c->prof.auth_token[n] = '\0';
    memset(buf, 0, sizeof buf);
    return 0;
}

/* Whether smtp_from ("Name <a@b.c>" or "a@b.c") names an address whose
 * domain has a dot: not @localhost, not a bare word. */
static int cc_from_ok(const char *from)
{
    const char *a = strchr(from, '<'), *end;
    a = a ? a + 1 : from;
    end = strchr(a, '>');
    if (!end)
        end = a + strlen(a);
    const char *at = memchr(a, '@', (size_t)(end - a));
    return at && at > a && memchr(at + 1, '.', (size_t)(end - at - 1)) != NULL && end[-1] != '.' &&
           at[1] != '.';
}

/* Why a return-to pattern's host lets anyone in, or NULL: "*" alone (any
 * host), "*" glued to a name ("*example.com" matches evilexample.com), or
 * "*." before a single label ("*.com"). */
static const char *cc_pattern_open(const char *pat)
{
    const char *h = strstr(pat, "://");
    if (!h)
        return NULL;
    h += 3;
    size_t n = strcspn(h, "/:");
    if (n == 1 && h[0] == '*')
        return "matches any host";
    if (h[0] == '*' && n > 1 && h[1] != '.')
        return "has a * glued to a name, which matches any host ending in it (write *.NAME "
               "for its subdomains)";
    if (h[0] == '*' && n > 2 && !memchr(h + 2, '.', n - 2))
        return "matches any host under a top-level domain";
    return NULL;
}

/* The `user` line names a user and group of this system (see the top). */
static int cc_user(const conf_t *c, char *err, size_t errsz)
{
    if (!c->proc.user[0] || geteuid() != 0)
        return 0;
    if (!getpwnam(c->proc.user)) {
        snprintf(err, errsz,
                 "user \"%s\" in %s does not exist on this system: the children drop to it "
                 "when started as root; create it (useradd --system %s) or name another in "
                 "the `user` line",
                 c->proc.user, c->file, c->proc.user);
        return -1;
    }
    if (c->proc.group[0] && !getgrnam(c->proc.group)) {
        snprintf(err, errsz,
                 "group \"%s\" in %s does not exist on this system: create it (groupadd "
                 "--system %s) or name another in the `user` line (or only the user, for its "
                 "own group)",
                 c->proc.group, c->file, c->proc.group);
        return -1;
    }
    return 0;
}

/* Whether two listening addresses would take the same port: the same
 * host, or a wildcard ("*" is IPv4's) of the other's family. Port 0 asks
 * the kernel for a free one and never collides. */
static int cc_addr_overlap(const conf_addr_t *a, const conf_addr_t *b)
{
    if (strcmp(a->port, b->port) || !strcmp(a->port, "0"))
        return 0;
    if (!strcasecmp(a->host, b->host))
        return 1;
    int a6 = strchr(a->host, ':') != NULL, b6 = strchr(b->host, ':') != NULL;
    if (a6 != b6)
        return 0;
    const char *any = a6 ? "::" : "0.0.0.0";
    return !strcmp(a->host, any) || !strcmp(b->host, any) || !strcmp(a->host, "*") ||
           !strcmp(b->host, "*");
}

int conf_check(conf_t *c, char *err, size_t errsz)
{
    if (cc_user(c, err, errsz) < 0)
        return -1;
    if (!c->auth.link_ttl_ms || !c->auth.session_ttl_ms) {
        snprintf(err, errsz,
                 "%s 0 in %s: every %s would have expired when it was made; give it a "
                 "lifetime (the defaults: link_ttl 15m, session_ttl 60m)",
                 !c->auth.link_ttl_ms ? "link_ttl" : "session_ttl", c->file,
                 !c->auth.link_ttl_ms ? "link" : "session");
        return -1;
    }
    for (int i = 0; c->prof.enabled && i < c->http.nlisten; i++)
        if (cc_addr_overlap(&c->http.listen[i], &c->prof.listen)) {
            snprintf(err, errsz,
                     "profiler_listen %s:%s and listen %s:%s in %s take the same port: the "
                     "profiler needs a port of its own (the shipped one is 127.0.0.1:6060)",
                     c->prof.listen.host, c->prof.listen.port, c->http.listen[i].host,
                     c->http.listen[i].port, c->file);
            return -1;
        }
    if (c->smtp.delivery != DELIVERY_RESPONSE && !c->http.public_url[0]) {
        snprintf(err, errsz,
                 "public_url is not set in %s: links are built from it, never from the "
                 "request's Host; set `public_url https://login.example.com;` (the address "
                 "users reach this server at), or use `delivery response` for a demo",
                 c->file);
        return -1;
    }
    if (c->http.public_url[0] && !cc_public_url_ok(c->http.public_url)) {
        snprintf(err, errsz,
                 "invalid public_url \"%s\" in %s: it must be http(s)://HOST[:PORT][/PATH], "
                 "without query, fragment or user",
                 c->http.public_url, c->file);
        return -1;
    }
    int https = strncasecmp(c->http.public_url, "https://", 8) == 0;
    if (c->auth.cookie_secure == CONF_COOKIE_SECURE_AUTO)
        c->auth.cookie_secure = https;
    else if (https && !c->auth.cookie_secure)
        log_warn("cookie_secure off with an https public_url in %s: the cookies lose Secure "
                 "and their __Host- names, so a sibling subdomain or a plain-HTTP "
                 "man in the middle can plant them; remove the line (auto) unless you mean it",
                 c->file);
    for (int i = 0; i < c->http.realip.nfrom; i++) {
        const realip_cidr_t *r = &c->http.realip.from[i];
        static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (r->bits == 0 || (r->bits <= 96 && !memcmp(r->net.a, v4, sizeof v4))) {
            log_warn("real_ip_from %s in %s trusts every address: any client names its own "
                     "address in %s, and the per-address limits (rate_limit_ip, the sign-in "
                     "code's, max_connections_per_ip) stop holding; name the proxies "
                     "(e.g. real_ip_from 127.0.0.1; for nginx on this host)",
                     r->bits == 0 ? "::/0" : "0.0.0.0/0", c->file,
                     c->http.realip.header == REALIP_HEADER_XFF ? "X-Forwarded-For" : "X-Real-IP");
            break;
        }
    }
    if (c->smtp.delivery == DELIVERY_LOG && https)
        log_warn("delivery log with an https public_url in %s: every magic link is written to "
                 "the error log and mailed to nobody (the sign-in page still says a link was "
                 "sent); set `delivery smtp HOST:PORT;` and smtp_from for real mail",
                 c->file);
    if (c->smtp.delivery == DELIVERY_SMTP && !cc_from_ok(c->smtp.from))
        log_warn("smtp_from \"%s\" in %s has no address at a domain of yours (the default is "
                 "login@localhost): relays and mailboxes refuse or file away mail from it; set "
                 "`smtp_from \"Example <login@example.com>\";`",
                 c->smtp.from, c->file);
    for (int i = 0; i < c->auth.nallowed_return_urls; i++) {
        const char *why = cc_pattern_open(c->auth.allowed_return_urls[i]);
        if (why)
            log_warn("allowed_return_urls %s in %s %s: a link made to sign in there sends the "
                     "browser, signed in, to a site anyone can run (an open redirect); name "
                     "your hosts",
                     c->auth.allowed_return_urls[i], c->file, why);
    }
    struct stat fst;
    if (c->smtp.auth_user[0] && stat(c->file, &fst) == 0 && (fst.st_mode & S_IROTH))
        log_warn("smtp_auth is set and %s is readable by every user of this machine (mode "
                 "%04o): the relay's password is in it; chmod 640 it (owner root, group the "
                 "service's, e.g. chown root:magicd)",
                 c->file, (unsigned)(fst.st_mode & 07777));
    if (c->smtp.auth_user[0] && c->smtp.starttls != 2) {
        snprintf(err, errsz,
                 "smtp_auth needs `smtp_starttls required;` in %s: the password is sent only "
                 "over TLS with a verified certificate",
                 c->file);
        return -1;
    }
    c->prof.auth_token[0] = '\0';
    if (c->prof.auth_token_file[0] && cc_token(c, err, errsz) < 0)
        return -1;
    if (c->prof.enabled && !conf_check_loopback(c->prof.listen.host) && !c->prof.listen_public &&
        !c->prof.auth_token[0]) {
        snprintf(err, errsz,
                 "profiler_listen %s:%s is not a loopback address in %s: profiles show code, "
                 "memory and request lines; set profiler_auth_token_file FILE, or write "
                 "`profiler_listen %s:%s public;` to expose it without a token",
                 c->prof.listen.host, c->prof.listen.port, c->file, c->prof.listen.host,
                 c->prof.listen.port);
        return -1;
    }
    return 0;
}
