/*
 * conf.c - nginx-style configuration parser (see conf.h).
 *
 * The file is split into statements by a small tokenizer (words, quoted
 * strings, `;`, `#` comments), each statement is looked up in a directive
 * table and its handler stores the values into conf_t. `include` recurses
 * with glob expansion, with a depth limit against include loops. Every error
 * carries FILE:LINE of the statement that caused it, so `magicd -t` points
 * the operator at the line to fix. Nothing here touches the running server:
 * the master parses into a fresh conf_t and swaps it in only when valid.
 */
#include "core/conf.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "core/return_url.h"

#define MAX_ARGS 8
#define MAX_DEPTH 8

typedef struct {
    conf_t *c;
    const char *file;
    int line;
    char *err;
    size_t errsz;
    int depth;
    int listen_set;
} parse_t;

/* Copy with truncation, without tripping -Wformat-truncation. */
static void copy_str(char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    if (l >= n)
        l = n - 1;
    memcpy(dst, src, l);
    dst[l] = 0;
}

static int perr(parse_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(parse_t *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Line 0 is "before the file": the main file itself could not be read,
     * and the message already names it. */
    if (p->line > 0)
        snprintf(p->err, p->errsz, "%s in %s:%d", msg, p->file, p->line);
    else
        snprintf(p->err, p->errsz, "%s", msg);
    return -1;
}

int64_t conf_parse_duration_ms(const char *s)
{
    if (!*s)
        return -1;
    int64_t total = 0;
    while (*s) {
        if (!isdigit((unsigned char)*s))
            return -1;
        int64_t v = 0;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (*s++ - '0');
            if (v > (int64_t)1e12)
                return -1;
        }
        int64_t mul;
        if (s[0] == 'm' && s[1] == 's') {
            mul = 1;
            s += 2;
        } else if (*s == 's' || *s == 0) {
            mul = 1000;
            s += *s ? 1 : 0;
        } else if (*s == 'm') {
            mul = 60000;
            s++;
        } else if (*s == 'h') {
            mul = 3600000;
            s++;
        } else if (*s == 'd') {
            mul = 86400000;
            s++;
        } else {
            return -1;
        }
        total += v * mul;
    }
    return total;
}

int64_t conf_parse_size(const char *s)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    int64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s++ - '0');
        if (v > (int64_t)1 << 40)
            return -1;
    }
    switch (tolower((unsigned char)*s)) {
    case 0:
        return v;
    case 'k':
        v <<= 10;
        break;
    case 'm':
        v <<= 20;
        break;
    case 'g':
        v <<= 30;
        break;
    default:
        return -1;
    }
    return s[1] == 0 ? v : -1;
}

int conf_parse_addr(const char *s, conf_addr_t *out)
{
    memset(out, 0, sizeof *out);
    const char *port;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof out->host)
            return -1;
        memcpy(out->host, s + 1, (size_t)(e - s - 1));
        port = e + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon) {
            if (strchr(s, ':') != colon || (size_t)(colon - s) >= sizeof out->host)
                return -1;
            memcpy(out->host, s, (size_t)(colon - s));
            port = colon + 1;
        } else {
            snprintf(out->host, sizeof out->host, "*");
            port = s;
        }
    }
    if (!*port || strlen(port) >= sizeof out->port)
        return -1;
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    snprintf(out->port, sizeof out->port, "%ld", p);
    if (!out->host[0])
        snprintf(out->host, sizeof out->host, "*");
    return 0;
}

/* ---- directive handlers ---- */

typedef int (*handler_fn)(parse_t *p, int argc, char **argv);

static int want_args(parse_t *p, int argc, int lo, int hi, const char *name)
{
    if (argc - 1 < lo || argc - 1 > hi)
        return perr(p, "invalid number of arguments in \"%s\" directive", name);
    return 0;
}

static int set_str(parse_t *p, char *dst, size_t n, const char *v, const char *name)
{
    if (strlen(v) >= n)
        return perr(p, "value too long in \"%s\" directive", name);
    copy_str(dst, n, v);
    return 0;
}

static int parse_flag(parse_t *p, const char *v, int *out, const char *name)
{
    if (!strcmp(v, "on"))
        *out = 1;
    else if (!strcmp(v, "off"))
        *out = 0;
    else
        return perr(p, "invalid value \"%s\" in \"%s\" directive, it must be \"on\" or \"off\"", v,
                    name);
    return 0;
}

static int parse_int(parse_t *p, const char *v, long lo, long hi, int *out, const char *name)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi)
        return perr(p, "invalid number \"%s\" in \"%s\" directive (%ld..%ld)", v, name, lo, hi);
    *out = (int)x;
    return 0;
}

static int parse_dur(parse_t *p, const char *v, uint64_t *out, const char *name)
{
    int64_t ms = conf_parse_duration_ms(v);
    if (ms < 0)
        return perr(p, "invalid time \"%s\" in \"%s\" directive", v, name);
    *out = (uint64_t)ms;
    return 0;
}

static int parse_sz(parse_t *p, const char *v, size_t *out, const char *name)
{
    int64_t n = conf_parse_size(v);
    if (n < 0)
        return perr(p, "invalid size \"%s\" in \"%s\" directive", v, name);
    *out = (size_t)n;
    return 0;
}

static int d_worker_processes(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    if (!strcmp(argv[1], "auto")) {
        /* One per CPU, up to the 16 a number may ask for (the master runs
         * no more): -T and the logs then say what runs. */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p->c->proc.worker_processes = n > 16 ? 16 : n > 0 ? (int)n : 1;
        p->c->proc.worker_processes_auto = 1;
        return 0;
    }
    p->c->proc.worker_processes_auto = 0;
    return parse_int(p, argv[1], 1, 16, &p->c->proc.worker_processes, argv[0]);
}

static int d_user(parse_t *p, int argc, char **argv)
{
    if (set_str(p, p->c->proc.user, sizeof p->c->proc.user, argv[1], argv[0]) < 0)
        return -1;
    return set_str(p, p->c->proc.group, sizeof p->c->proc.group, argc > 2 ? argv[2] : "", argv[0]);
}

static int d_error_log(parse_t *p, int argc, char **argv)
{
    if (set_str(p, p->c->log.error_log, sizeof p->c->log.error_log, argv[1], argv[0]) < 0)
        return -1;
    if (argc > 2) {
        int lv = log_level_parse(argv[2]);
        if (lv < 0)
            return perr(p, "unknown log level \"%s\"", argv[2]);
        p->c->log.error_log_level = lv;
    }
    return 0;
}

static int d_access_log(parse_t *p, int argc, char **argv)
{
    conf_t *c = p->c;
    if (set_str(p, c->log.access_log, sizeof c->log.access_log, argv[1], argv[0]) < 0)
        return -1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "combined"))
            c->log.access_log_format = ACCESS_LOG_COMBINED;
        else if (!strcmp(argv[i], "json"))
            c->log.access_log_format = ACCESS_LOG_JSON;
        else if (!strncmp(argv[i], "buffer=", 7)) {
            if (parse_sz(p, argv[i] + 7, &c->log.access_log_buffer, argv[0]) < 0)
                return -1;
        } else if (!strncmp(argv[i], "flush=", 6)) {
            if (parse_dur(p, argv[i] + 6, &c->log.access_log_flush_ms, argv[0]) < 0)
                return -1;
        } else
            return perr(p, "invalid parameter \"%s\" in \"access_log\" directive", argv[i]);
    }
    return 0;
}

static int d_listen(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    conf_t *c = p->c;
    if (!p->listen_set) {
        c->http.nlisten = 0;
        p->listen_set = 1;
    }
    if (c->http.nlisten >= CONF_MAX_LISTEN)
        return perr(p, "too many \"listen\" directives (at most %d)", CONF_MAX_LISTEN);
    if (conf_parse_addr(argv[1], &c->http.listen[c->http.nlisten]) < 0)
        return perr(p, "invalid address \"%s\" in \"listen\" directive", argv[1]);
    for (int i = 0; i < c->http.nlisten; i++)
        if (!strcmp(c->http.listen[i].host, c->http.listen[c->http.nlisten].host) &&
            !strcmp(c->http.listen[i].port, c->http.listen[c->http.nlisten].port))
            return perr(p, "duplicate listen \"%s\"", argv[1]);
    c->http.nlisten++;
    return 0;
}

static int d_profiler_listen(parse_t *p, int argc, char **argv)
{
    if (conf_parse_addr(argv[1], &p->c->prof.listen) < 0)
        return perr(p, "invalid address \"%s\" in \"profiler_listen\" directive", argv[1]);
    p->c->prof.listen_public = 0;
    if (argc == 3) {
        if (strcmp(argv[2], "public"))
            return perr(p, "invalid parameter \"%s\" in \"profiler_listen\" (only \"public\")",
                        argv[2]);
        p->c->prof.listen_public = 1;
    }
    return 0;
}

static int d_real_ip_from(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    realip_conf_t *rc = &p->c->http.realip;
    if (rc->nfrom >= REALIP_MAX_FROM)
        return perr(p, "too many \"real_ip_from\" directives (at most %d)", REALIP_MAX_FROM);
    if (realip_parse_cidr(argv[1], &rc->from[rc->nfrom]) < 0)
        return perr(p, "invalid network \"%s\" in \"real_ip_from\" (ADDRESS or ADDRESS/BITS)",
                    argv[1]);
    rc->nfrom++;
    return 0;
}

static int d_real_ip_header(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    if (!strcasecmp(argv[1], "X-Forwarded-For"))
        p->c->http.realip.header = REALIP_HEADER_XFF;
    else if (!strcasecmp(argv[1], "X-Real-IP"))
        p->c->http.realip.header = REALIP_HEADER_X_REAL_IP;
    else
        return perr(p,
                    "invalid value \"%s\" in \"real_ip_header\" directive (X-Forwarded-For or "
                    "X-Real-IP)",
                    argv[1]);
    return 0;
}

static int d_delivery(parse_t *p, int argc, char **argv)
{
    conf_t *c = p->c;
    const char *m = argv[1];
    c->smtp.delivery_arg[0] = 0;
    if (!strcmp(m, "log") || !strcmp(m, "response")) {
        if (argc != 2)
            return perr(p, "\"delivery %s\" takes no argument", m);
        c->smtp.delivery = m[0] == 'l' ? DELIVERY_LOG : DELIVERY_RESPONSE;
        return 0;
    }
    if (!strcmp(m, "outbox") || !strcmp(m, "smtp")) {
        if (argc != 3)
            return perr(p, "\"delivery %s\" needs one argument", m);
        if (m[0] == 's') {
            conf_addr_t a;
            if (conf_parse_addr(argv[2], &a) < 0 || !strcmp(a.host, "*"))
                return perr(p, "invalid relay \"%s\" in \"delivery smtp\" (HOST:PORT)", argv[2]);
        }
        c->smtp.delivery = m[0] == 'o' ? DELIVERY_OUTBOX : DELIVERY_SMTP;
        return set_str(p, c->smtp.delivery_arg, sizeof c->smtp.delivery_arg, argv[2], argv[0]);
    }
    return perr(p,
                "invalid value \"%s\" in \"delivery\" directive (log|outbox FILE|smtp "
                "HOST:PORT|response)",
                m);
}

static int d_rate(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    int *n = argv[0][11] == 'e' ? &p->c->rate.email_n : &p->c->rate.ip_n;
    uint64_t *w = argv[0][11] == 'e' ? &p->c->rate.email_window_ms : &p->c->rate.ip_window_ms;
    if (parse_int(p, argv[1], 1, 1000000000, n, argv[0]) < 0 ||
        parse_dur(p, argv[2], w, argv[0]) < 0)
        return -1;
    if (*w == 0)
        return perr(p, "window must be positive in \"%s\" directive", argv[0]);
    return 0;
}

static int d_smtp_auth(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    if (set_str(p, p->c->smtp.auth_user, sizeof p->c->smtp.auth_user, argv[1], argv[0]) < 0)
        return -1;
    return set_str(p, p->c->smtp.auth_password, sizeof p->c->smtp.auth_password, argv[2], argv[0]);
}

static int d_smtp_starttls(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    if (!strcmp(argv[1], "required")) {
        p->c->smtp.starttls = 2;
        return 0;
    }
    return parse_flag(p, argv[1], &p->c->smtp.starttls, argv[0]);
}

/* auth_store_down closed|open: what GET /auth answers for a session the
 * shared revocation set cannot vouch for when the store is not asked. */
static int d_auth_store_down(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    if (strcmp(argv[1], "closed") && strcmp(argv[1], "open"))
        return perr(p,
                    "invalid value \"%s\" in \"%s\" directive, it must be \"closed\" or "
                    "\"open\"",
                    argv[1], argv[0]);
    p->c->auth.store_down_open = !strcmp(argv[1], "open");
    return 0;
}

/* allowed_return_urls PATTERN...; repeatable (core/return_url.h). */
static int d_return_urls(parse_t *p, int argc, char **argv)
{
    conf_auth_t *a = &p->c->auth;
    for (int i = 1; i < argc; i++) {
        const char *why = "";
        if (a->nallowed_return_urls >= CONF_MAX_RETURN_URLS)
            return perr(p, "too many \"allowed_return_urls\" patterns (at most %d)",
                        CONF_MAX_RETURN_URLS);
        if (strlen(argv[i]) >= CONF_PATTERN_MAX || return_url_pattern_check(argv[i], &why) < 0)
            return perr(p,
                        "invalid pattern \"%s\" in \"allowed_return_urls\" directive: %s "
                        "(write e.g. https://*.example.com/* or /app/*)",
                        argv[i], strlen(argv[i]) >= CONF_PATTERN_MAX ? "too long" : why);
        copy_str(a->allowed_return_urls[a->nallowed_return_urls++], CONF_PATTERN_MAX, argv[i]);
    }
    return 0;
}

static int d_default_return_url(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    const char *why = "";
    if (return_url_canon(argv[1], strlen(argv[1]), p->c->auth.default_return_url,
                         sizeof p->c->auth.default_return_url, &why) < 0)
        return perr(p,
                    "invalid URL \"%s\" in \"default_return_url\" directive: %s (write a path "
                    "such as /secure/1 or an http(s):// URL)",
                    argv[1], why);
    return 0;
}

/* A domain name: labels of [a-z0-9-] separated by dots; lower-cased into
 * out. A leading dot (".example.com", the old cookie spelling) is dropped. */
static int domain_name(const char *in, char *out, size_t outsz)
{
    if (in[0] == '.')
        in++;
    size_t n = strlen(in);
    if (n == 0 || n >= outsz || n > 253 || in[0] == '.' || in[n - 1] == '.' || strstr(in, ".."))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = (char)tolower((unsigned char)in[i]);
        if (!(isalnum((unsigned char)ch) || ch == '-' || ch == '.'))
            return -1;
        out[i] = ch;
    }
    out[n] = 0;
    return 0;
}

static int d_cookie_domain(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    if (!argv[1][0]) {
        p->c->auth.cookie_domain[0] = 0;
        return 0;
    }
    if (domain_name(argv[1], p->c->auth.cookie_domain, sizeof p->c->auth.cookie_domain) < 0)
        return perr(p, "invalid domain \"%s\" in \"cookie_domain\" directive (e.g. example.com)",
                    argv[1]);
    return 0;
}

/* cookie_secure on | off | auto. auto (the default) is on exactly when
 * public_url is https:// (resolved by conf_check, which sees the whole
 * config): a site served over TLS gets Secure, __Host- cookies without
 * having to remember a second directive. */
static int d_cookie_secure(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    static const char *const v[] = {"off", "on", "auto"};
    for (int i = 0; i < 3; i++)
        if (strcmp(argv[1], v[i]) == 0) {
            p->c->auth.cookie_secure = i == 2 ? CONF_COOKIE_SECURE_AUTO : i;
            return 0;
        }
    return perr(p,
                "invalid value \"%s\" in \"cookie_secure\" directive, it must be on, off or "
                "auto",
                argv[1]);
}

/* rate_limit_store off | redis://HOST:PORT: where the per-email and per-IP
 * limits are kept so that every node enforces the same ones
 * (core/rlstore.h). A bare port or a path is refused: the URL names the
 * engine, so a later one can be told apart. */
static int d_rate_store(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    conf_rate_t *r = &p->c->rate;
    const char *v = argv[1];

    if (!strcmp(v, "off")) {
        r->store_on = 0;
        memset(&r->store, 0, sizeof r->store);
        return 0;
    }
    if (strncmp(v, "redis://", 8) || strchr(v + 8, '/') || strchr(v + 8, '@') ||
        conf_parse_addr(v + 8, &r->store) < 0 || !strcmp(r->store.host, "*") ||
        !strcmp(r->store.port, "0"))
        return perr(p,
                    "invalid \"rate_limit_store\" \"%s\" (off, or redis://HOST:PORT, e.g. "
                    "redis://127.0.0.1:6379)",
                    v);
    r->store_on = 1;
    return 0;
}

/* allow_email_domain DOMAIN...; repeatable. */
static int d_email_domains(parse_t *p, int argc, char **argv)
{
    conf_auth_t *a = &p->c->auth;
    for (int i = 1; i < argc; i++) {
        if (a->nallow_email_domains >= CONF_MAX_EMAIL_DOMAINS)
            return perr(p, "too many \"allow_email_domain\" domains (at most %d)",
                        CONF_MAX_EMAIL_DOMAINS);
        char *d = a->allow_email_domains[a->nallow_email_domains];
        if (argv[i][0] == '.' || domain_name(argv[i], d, sizeof a->allow_email_domains[0]) < 0)
            return perr(p,
                        "invalid domain \"%s\" in \"allow_email_domain\" directive (e.g. "
                        "example.com)",
                        argv[i]);
        a->nallow_email_domains++;
    }
    return 0;
}

static int d_include(parse_t *p, int argc, char **argv);

/*
 * The directive table: the one place a directive is described. Each row
 * gives the name, the argument count, how the value is parsed and stored
 * (a kind and the field it lands in, or a handler), the default as a user
 * would write it (conf_defaults() parses these strings, so a default cannot
 * disagree with what the parser accepts), and how -T prints it (the kind's
 * printer, or a dump function for the compound ones). Rows are grouped by
 * the section of conf_t they fill, which is what each subsystem is handed.
 */
enum { K_STR, K_FLAG, K_INT, K_DUR, K_SIZE, K_FN };
enum { D_PATH = 1 }; /* a relative path, resolved against the prefix */

typedef struct directive directive_t;
typedef void (*dump_fn)(const conf_t *c, int fd, const directive_t *d);

struct directive {
    const char *name;
    int lo, hi; /* argument count */
    int kind;
    size_t off;
    size_t len;    /* K_STR: buffer size */
    long min, max; /* K_INT range */
    handler_fn fn; /* K_FN */
    dump_fn dump;  /* K_FN: prints the value; NULL prints nothing */
    const char *def;
    unsigned flags;
};

static int d_block_rate(parse_t *p, int argc, char **argv);
static void dump_worker_processes(const conf_t *c, int fd, const directive_t *d);
static void dump_user(const conf_t *c, int fd, const directive_t *d);
static void dump_error_log(const conf_t *c, int fd, const directive_t *d);
static void dump_access_log(const conf_t *c, int fd, const directive_t *d);
static void dump_listen(const conf_t *c, int fd, const directive_t *d);
static void dump_profiler_listen(const conf_t *c, int fd, const directive_t *d);
static void dump_real_ip_from(const conf_t *c, int fd, const directive_t *d);
static void dump_real_ip_header(const conf_t *c, int fd, const directive_t *d);
static void dump_delivery(const conf_t *c, int fd, const directive_t *d);
static void dump_smtp_auth(const conf_t *c, int fd, const directive_t *d);
static void dump_smtp_starttls(const conf_t *c, int fd, const directive_t *d);
static void dump_rate(const conf_t *c, int fd, const directive_t *d);
static void dump_auth_store_down(const conf_t *c, int fd, const directive_t *d);
static void dump_block_rate(const conf_t *c, int fd, const directive_t *d);
static void dump_cookie_domain(const conf_t *c, int fd, const directive_t *d);
static int d_cookie_secure(parse_t *p, int argc, char **argv);
static void dump_cookie_secure(const conf_t *c, int fd, const directive_t *d);
static int d_rate_store(parse_t *p, int argc, char **argv);
static void dump_rate_store(const conf_t *c, int fd, const directive_t *d);
static void dump_email_domains(const conf_t *c, int fd, const directive_t *d);
static void dump_return_urls(const conf_t *c, int fd, const directive_t *d);
static void dump_default_return_url(const conf_t *c, int fd, const directive_t *d);

#define F(field) offsetof(conf_t, field), sizeof(((conf_t *)0)->field)
#define O(field) offsetof(conf_t, field), 0
#define FN(fn, dump) K_FN, 0, 0, 0, 0, fn, dump
/* a handler whose first argument is a path kept in `field` */
#define FNP(fn, dump, field) K_FN, F(field), 0, 0, fn, dump
#define STR(field) K_STR, F(field), 0, 0, NULL, NULL
#define FLAG(field) K_FLAG, O(field), 0, 0, NULL, NULL
#define INT(field, lo, hi) K_INT, O(field), lo, hi, NULL, NULL
#define DUR(field) K_DUR, O(field), 0, 0, NULL, NULL
#define SIZE(field) K_SIZE, O(field), 0, 0, NULL, NULL

static const directive_t directives[] = {
    {"include", 1, 1, FN(d_include, NULL), NULL, 0},

    /* proc: processes */
    {"worker_processes", 1, 1, FN(d_worker_processes, dump_worker_processes), "auto", 0},
    {"worker_connections", 1, 1, INT(proc.worker_connections, 16, 1000000), "1024", 0},
    {"user", 1, 2, FN(d_user, dump_user), NULL, 0},
    {"pid", 1, 1, STR(proc.pid_file), "run/magicd.pid", D_PATH},
    {"shutdown_timeout", 1, 1, DUR(proc.shutdown_timeout_ms), "10s", 0},

    /* log */
    {"error_log", 1, 2, FNP(d_error_log, dump_error_log, log.error_log), "run/error.log notice",
     D_PATH},
    {"access_log", 1, 4, FNP(d_access_log, dump_access_log, log.access_log),
     "run/access.log combined buffer=64k flush=1s", D_PATH},

    /* http */
    {"listen", 1, 1, FN(d_listen, dump_listen), "127.0.0.1:8080", 0},
    {"listen_backlog", 1, 1, INT(http.listen_backlog, 1, 65535), "511", 0},
    {"html_root", 1, 1, STR(http.html_root), "html", D_PATH},
    {"public_url", 1, 1, STR(http.public_url), NULL, 0},
    {"max_request_line", 1, 1, SIZE(http.max_request_line), "8k", 0},
    {"max_header_size", 1, 1, SIZE(http.max_header_size), "16k", 0},
    {"max_headers", 1, 1, INT(http.max_headers, 1, 64), "64", 0},
    {"max_body_size", 1, 1, SIZE(http.max_body_size), "16k", 0},
    {"header_timeout", 1, 1, DUR(http.header_timeout_ms), "10s", 0},
    {"body_timeout", 1, 1, DUR(http.body_timeout_ms), "10s", 0},
    {"body_deadline", 1, 1, DUR(http.body_deadline_ms), "30s", 0},
    {"max_connections_per_ip", 1, 1, INT(http.max_connections_per_ip, 0, 1000000), "512", 0},
    {"worker_connection_memory", 1, 1, SIZE(http.worker_connection_memory), "16m", 0},
    {"keepalive_timeout", 1, 1, DUR(http.keepalive_timeout_ms), "75s", 0},
    {"send_timeout", 1, 1, DUR(http.send_timeout_ms), "10s", 0},
    {"keepalive_requests", 1, 1, INT(http.keepalive_requests, 0, 100000000), "10000", 0},
    {"real_ip_from", 1, 1, FN(d_real_ip_from, dump_real_ip_from), NULL, 0},
    {"real_ip_header", 1, 1, FN(d_real_ip_header, dump_real_ip_header), "X-Real-IP", 0},

    /* auth */
    {"key_file", 1, 1, STR(auth.key_file), "run/magicd.key", D_PATH},
    {"previous_key_file", 1, 1, STR(auth.previous_key_file), NULL, D_PATH},
    {"link_ttl", 1, 1, DUR(auth.link_ttl_ms), "15m", 0},
    {"session_ttl", 1, 1, DUR(auth.session_ttl_ms), "60m", 0},
    {"session_idle_timeout", 1, 1, DUR(auth.session_idle_timeout_ms), "30m", 0},
    {"cookie_secure", 1, 1, FN(d_cookie_secure, dump_cookie_secure), "auto", 0},
    {"cookie_domain", 1, 1, FN(d_cookie_domain, dump_cookie_domain), NULL, 0},
    {"users_db", 1, 1, STR(auth.users_db), "run/users.db", D_PATH},
    {"users_db_pool", 1, 1, INT(auth.users_db_pool, 1, 16), "4", 0},
    {"users_db_timeout", 1, 1, DUR(auth.users_db_timeout_ms), "3s", 0},
    {"auth_store_down", 1, 1, FN(d_auth_store_down, dump_auth_store_down), "closed", 0},
    {"signup", 1, 1, FLAG(auth.signup), "off", 0},
    {"allow_email_domain", 1, MAX_ARGS - 1, FN(d_email_domains, dump_email_domains), NULL, 0},
    {"allowed_return_urls", 1, MAX_ARGS - 1, FN(d_return_urls, dump_return_urls), NULL, 0},
    {"default_return_url", 1, 1, FN(d_default_return_url, dump_default_return_url), "/secure/1", 0},

    /* smtp: delivery of links */
    {"delivery", 1, 2, FN(d_delivery, dump_delivery), "log", 0},
    {"smtp_from", 1, 1, STR(smtp.from), "\"magicd <login@localhost>\"", 0},
    {"smtp_auth", 2, 2, FN(d_smtp_auth, dump_smtp_auth), NULL, 0},
    {"smtp_spool", 1, 1, STR(smtp.spool), "run/spool", D_PATH},
    {"smtp_starttls", 1, 1, FN(d_smtp_starttls, dump_smtp_starttls), "on", 0},
    {"smtp_connections", 1, 1, INT(smtp.connections, 1, 16), "1", 0},

    /* rate */
    {"rate_limit_email", 2, 2, FN(d_rate, dump_rate), "5 15m", 0},
    {"rate_limit_ip", 2, 2, FN(d_rate, dump_rate), "30 1m", 0},
    {"rate_limit_entries", 1, 1, INT(rate.entries, 64, 16777216), "65536", 0},
    {"rate_limit_ipv6_prefix", 1, 1, INT(rate.ipv6_prefix, 1, 128), "64", 0},
    {"rate_limit_email_fold_tags", 1, 1, FLAG(rate.email_fold_tags), "off", 0},
    {"rate_limit_store", 1, 1, FN(d_rate_store, dump_rate_store), "off", 0},
    {"rate_limit_store_timeout", 1, 1, DUR(rate.store_timeout_ms), "100ms", 0},

    /* prof */
    {"profiler", 1, 1, FLAG(prof.enabled), "on", 0},
    {"profiler_listen", 1, 2, FN(d_profiler_listen, dump_profiler_listen), "127.0.0.1:6060", 0},
    {"profiler_auth_token_file", 1, 1, STR(prof.auth_token_file), NULL, D_PATH},
    {"profile_hz", 1, 1, INT(prof.hz, 1, 1000), "100", 0},
    {"profile_continuous", 1, 1, FLAG(prof.continuous), "off", 0},
    {"profile_max_seconds", 1, 1, INT(prof.max_seconds, 1, 86400), "300", 0},
    {"profile_history", 1, 1, DUR(prof.history_ms), "1h", 0},
    {"profile_history_max_size", 1, 1, SIZE(prof.history_max_size), "16m", 0},
    {"heap_sample_bytes", 1, 1, SIZE(prof.heap_sample_bytes), "512k", 0},
    {"block_profile_rate", 1, 1, FN(d_block_rate, dump_block_rate), "1ms", 0},
    {"mutex_profile_fraction", 1, 1, INT(prof.mutex_profile_fraction, 0, 1000000), "10", 0},
    {"node_name", 1, 1, STR(prof.node_name), NULL, 0},

    {NULL, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0},
};

/* block_profile_rate is a duration with sub-millisecond precision: "10us",
 * "1ms", "0" (off). */
static int d_block_rate(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    const char *v = argv[1];
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v)
        return perr(p, "invalid time \"%s\" in \"block_profile_rate\" directive", v);
    uint64_t mul;
    if (!strcmp(end, "ns") || (!*end && x == 0))
        mul = 1;
    else if (!strcmp(end, "us"))
        mul = 1000;
    else if (!strcmp(end, "ms"))
        mul = 1000000;
    else if (!strcmp(end, "s"))
        mul = 1000000000ull;
    else
        return perr(p, "invalid time \"%s\" in \"block_profile_rate\" directive (ns|us|ms|s)", v);
    p->c->prof.block_profile_rate_ns = x * mul;
    return 0;
}

static int run_directive(parse_t *p, int argc, char **argv)
{
    const directive_t *d = directives;
    while (d->name && strcmp(d->name, argv[0]))
        d++;
    if (!d->name)
        return perr(p, "unknown directive \"%s\"", argv[0]);
    if (want_args(p, argc, d->lo, d->hi, d->name) < 0)
        return -1;
    char *base = (char *)p->c;
    switch (d->kind) {
    case K_STR:
        return set_str(p, base + d->off, d->len, argv[1], d->name);
    case K_FLAG:
        return parse_flag(p, argv[1], (int *)(base + d->off), d->name);
    case K_INT:
        return parse_int(p, argv[1], d->min, d->max, (int *)(base + d->off), d->name);
    case K_DUR:
        return parse_dur(p, argv[1], (uint64_t *)(base + d->off), d->name);
    case K_SIZE:
        return parse_sz(p, argv[1], (size_t *)(base + d->off), d->name);
    default:
        return d->fn(p, argc, argv);
    }
}

/* ---- tokenizer ---- */

static int parse_text(parse_t *p, const char *text);

static int parse_file(parse_t *p, const char *path)
{
    if (p->depth >= MAX_DEPTH)
        return perr(p, "includes nested too deeply (loop?) at \"%s\"", path);
    FILE *f = fopen(path, "r");
    if (!f)
        return perr(p, "cannot open %s\"%s\": %s", p->depth ? "" : "configuration file ", path,
                    strerror(errno));
    char *text = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 24)) {
                fclose(f);
                free(text);
                return perr(p, "\"%s\" is too large", path);
            }
            char *t = realloc(text, cap);
            if (!t) {
                fclose(f);
                free(text);
                return perr(p, "out of memory reading \"%s\"", path);
            }
            text = t;
        }
        size_t n = fread(text + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    text[len] = 0;
    parse_t sub = *p;
    sub.file = path;
    sub.line = 1;
    sub.depth = p->depth + 1;
    int r = parse_text(&sub, text);
    p->listen_set = sub.listen_set;
    free(text);
    return r;
}

static int d_include(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    char pat[CONF_PATH_MAX * 2];
    if (argv[1][0] == '/') {
        snprintf(pat, sizeof pat, "%s", argv[1]);
    } else {
        char dir[CONF_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", p->file);
        snprintf(pat, sizeof pat, "%s/%s", dirname(dir), argv[1]);
    }
    glob_t g;
    int gr = glob(pat, GLOB_ERR, NULL, &g);
    if (gr == GLOB_NOMATCH) {
        if (strpbrk(argv[1], "*?["))
            return 0; /* an empty conf.d/ is fine, as in nginx */
        return perr(p, "cannot open \"%s\": No such file or directory", pat);
    }
    if (gr != 0)
        return perr(p, "cannot read \"%s\"", pat);
    int r = 0;
    for (size_t i = 0; i < g.gl_pathc && r == 0; i++)
        r = parse_file(p, g.gl_pathv[i]);
    globfree(&g);
    return r;
}

static int parse_text(parse_t *p, const char *s)
{
    char *argv[MAX_ARGS + 1];
    char words[MAX_ARGS + 1][CONF_PATH_MAX];
    int argc = 0, stmt_line = p->line;
    while (*s) {
        char ch = *s;
        if (ch == '\n') {
            p->line++;
            s++;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\r') {
            s++;
            continue;
        }
        if (ch == '#') {
            while (*s && *s != '\n')
                s++;
            continue;
        }
        if (ch == ';') {
            if (argc == 0)
                return perr(p, "unexpected \";\"");
            int saved = p->line;
            p->line = stmt_line;
            argv[argc] = NULL;
            int r = run_directive(p, argc, argv);
            p->line = saved;
            if (r < 0)
                return -1;
            argc = 0;
            s++;
            continue;
        }
        if (ch == '{' || ch == '}')
            return perr(p, "unexpected \"%c\" (magicd has no blocks)", ch);
        if (argc >= MAX_ARGS)
            return perr(p, "too many arguments in \"%s\" directive", words[0]);
        if (argc == 0)
            stmt_line = p->line;
        size_t n = 0;
        char *w = words[argc];
        if (ch == '"' || ch == '\'') {
            /* A quote left open swallows the lines after it: past an
             * argument's length with a line break inside, or at the end of
             * the file, that is what to say, at the quote's own line. */
            char q = ch;
            int qline = p->line, multiline = 0;
            s++;
            while (*s && *s != q) {
                char c = *s;
                if (c == '\\' && s[1]) {
                    s++;
                    c = *s;
                }
                if (c == '\n') {
                    p->line++;
                    multiline = 1;
                }
                if (n + 1 >= CONF_PATH_MAX) {
                    if (!multiline)
                        return perr(p, "argument too long");
                    p->line = qline;
                    return perr(p, "unterminated quoted string (%c opened here, never closed)", q);
                }
                w[n++] = c;
                s++;
            }
            if (!*s) {
                p->line = qline;
                return perr(p, "unterminated quoted string (%c opened here, never closed)", q);
            }
            s++;
        } else {
            while (*s && !strchr(" \t\r\n;#", *s)) {
                if (n + 1 >= CONF_PATH_MAX)
                    return perr(p, "argument too long");
                w[n++] = *s++;
            }
        }
        w[n] = 0;
        argv[argc++] = w;
    }
    if (argc > 0) {
        p->line = stmt_line;
        return perr(p, "unexpected end of file, expecting \";\"");
    }
    return 0;
}

/* ---- entry points ---- */

static void absolutize(const conf_t *c, char *path, size_t n)
{
    if (!path[0] || path[0] == '/' || !strcmp(path, "stderr") || !strcmp(path, "off"))
        return;
    if (strstr(path, "://")) /* a URL, not a path: users_db postgresql://... */
        return;
    char tmp[CONF_PATH_MAX * 2];
    snprintf(tmp, sizeof tmp, "%s/%s", c->prefix, path);
    if (strlen(tmp) < n)
        copy_str(path, n, tmp);
}

/* A browser drops a cookie whose Domain does not cover the host that sets
 * it, and magicd's pages are served from public_url's host: say so now
 * rather than let every sign-in fail without a cookie. */
static int check_cookie_domain(const conf_t *c, char *err, size_t errsz)
{
    const char *h = strstr(c->http.public_url, "://"), *dom = c->auth.cookie_domain;
    if (!dom[0] || !h)
        return 0;
    h += 3;
    size_t hn = strcspn(h, ":/?#"), dn = strlen(dom);
    int covered = hn == dn ? !strncasecmp(h, dom, dn)
                           : hn > dn && h[hn - dn - 1] == '.' && !strncasecmp(h + hn - dn, dom, dn);
    if (covered)
        return 0;
    snprintf(err, errsz,
             "cookie_domain %s does not cover the host of public_url %s: browsers would refuse "
             "the cookies (in %s)",
             dom, c->http.public_url, c->file);
    return -1;
}

static int finish(conf_t *c, char *err, size_t errsz)
{
    for (const directive_t *d = directives; d->name; d++)
        if (d->flags & D_PATH)
            absolutize(c, (char *)c + d->off, d->len);
    if (c->smtp.delivery == DELIVERY_OUTBOX)
        absolutize(c, c->smtp.delivery_arg, sizeof c->smtp.delivery_arg);
    if (c->http.max_body_size > (64u << 20)) {
        snprintf(err, errsz, "max_body_size must be at most 64m in %s", c->file);
        return -1;
    }
    if (c->http.max_request_line < 64 || c->http.max_header_size < 256) {
        snprintf(err, errsz,
                 "max_request_line (>= 64) or max_header_size (>= 256) too small "
                 "in %s",
                 c->file);
        return -1;
    }
    return check_cookie_domain(c, err, errsz);
}

static void set_prefix(conf_t *c, const char *file)
{
    if (c->prefix[0])
        return;
    char tmp[CONF_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", file);
    char *d = dirname(tmp);
    char abs[PATH_MAX];
    if (realpath(d, abs))
        copy_str(c->prefix, sizeof c->prefix, abs);
    else
        copy_str(c->prefix, sizeof c->prefix, d);
}

int conf_load(conf_t *c, const char *file, char *err, size_t errsz)
{
    parse_t p = {.c = c, .file = file, .line = 0, .err = err, .errsz = errsz};
    snprintf(c->file, sizeof c->file, "%s", file);
    set_prefix(c, file);
    if (parse_file(&p, file) < 0)
        return -1;
    if (c->cmdline[0]) { /* -g directives, applied after the file (and on every reload) */
        parse_t g = {.c = c, .file = "command line", .line = 1, .err = err, .errsz = errsz};
        if (parse_text(&g, c->cmdline) < 0)
            return -1;
    }
    return finish(c, err, errsz);
}

int conf_load_string(conf_t *c, const char *name, const char *text, char *err, size_t errsz)
{
    parse_t p = {.c = c, .file = name, .line = 1, .err = err, .errsz = errsz};
    if (!c->file[0])
        copy_str(c->file, sizeof c->file, name);
    if (!c->prefix[0]) {
        char cwd[CONF_PATH_MAX];
        copy_str(c->prefix, sizeof c->prefix, getcwd(cwd, sizeof cwd) ? cwd : ".");
    }
    if (parse_text(&p, text) < 0)
        return -1;
    return finish(c, err, errsz);
}

/* ---- defaults: the table's strings, through the parser ---- */

void conf_defaults(conf_t *c)
{
    char err[512], text[CONF_PATH_MAX + 64];
    memset(c, 0, sizeof *c);
    for (const directive_t *d = directives; d->name; d++) {
        if (!d->def)
            continue;
        parse_t p = {
            .c = c, .file = "the built-in defaults", .line = 1, .err = err, .errsz = sizeof err};
        snprintf(text, sizeof text, "%s %s;", d->name, d->def);
        if (parse_text(&p, text) < 0) { /* a bad row in the table: a bug, not a user error */
            fprintf(stderr, "magicd: %s\n", err);
            abort();
        }
    }
}

/* ---- -T: every directive prints itself ---- */

static const char *onoff(int v)
{
    return v ? "on" : "off";
}

static void dump_dur(int fd, const char *name, uint64_t ms)
{
    if (ms % 1000)
        dprintf(fd, "%s %llums;\n", name, (unsigned long long)ms);
    else
        dprintf(fd, "%s %llus;\n", name, (unsigned long long)(ms / 1000));
}

static const char *level_name(int lv)
{
    static const char *n[] = {"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"};
    return lv >= 0 && lv < 8 ? n[lv] : "notice";
}

static void dump_addr(int fd, const char *name, const conf_addr_t *a)
{
    dprintf(fd, strchr(a->host, ':') ? "%s [%s]:%s;\n" : "%s %s:%s;\n", name, a->host, a->port);
}

static void dump_worker_processes(const conf_t *c, int fd, const directive_t *d)
{
    if (c->proc.worker_processes_auto)
        dprintf(fd, "%s auto; # = %d\n", d->name, c->proc.worker_processes);
    else
        dprintf(fd, "%s %d;\n", d->name, c->proc.worker_processes);
}

static void dump_user(const conf_t *c, int fd, const directive_t *d)
{
    if (c->proc.user[0])
        dprintf(fd, "%s %s %s;\n", d->name, c->proc.user, c->proc.group);
}

static void dump_error_log(const conf_t *c, int fd, const directive_t *d)
{
    dprintf(fd, "%s %s %s;\n", d->name, c->log.error_log, level_name(c->log.error_log_level));
}

static void dump_access_log(const conf_t *c, int fd, const directive_t *d)
{
    if (!strcmp(c->log.access_log, "off"))
        dprintf(fd, "%s off;\n", d->name);
    else
        dprintf(fd, "%s %s %s buffer=%zu flush=%llums;\n", d->name, c->log.access_log,
                c->log.access_log_format == ACCESS_LOG_JSON ? "json" : "combined",
                c->log.access_log_buffer, (unsigned long long)c->log.access_log_flush_ms);
}

static void dump_listen(const conf_t *c, int fd, const directive_t *d)
{
    for (int i = 0; i < c->http.nlisten; i++)
        dump_addr(fd, d->name, &c->http.listen[i]);
}

static void dump_rate_store(const conf_t *c, int fd, const directive_t *d)
{
    const conf_addr_t *a = &c->rate.store;
    if (!c->rate.store_on)
        dprintf(fd, "%s off;\n", d->name);
    else
        dprintf(fd, strchr(a->host, ':') ? "%s redis://[%s]:%s;\n" : "%s redis://%s:%s;\n", d->name,
                a->host, a->port);
}

static void dump_cookie_secure(const conf_t *c, int fd, const directive_t *d)
{
    int v = c->auth.cookie_secure;
    dprintf(fd, "%s %s;\n", d->name, v == CONF_COOKIE_SECURE_AUTO ? "auto" : v ? "on" : "off");
}

static void dump_cookie_domain(const conf_t *c, int fd, const directive_t *d)
{
    dprintf(fd, "%s \"%s\";\n", d->name, c->auth.cookie_domain);
}

static void dump_email_domains(const conf_t *c, int fd, const directive_t *d)
{
    for (int i = 0; i < c->auth.nallow_email_domains; i++)
        dprintf(fd, "%s %s;\n", d->name, c->auth.allow_email_domains[i]);
}

static void dump_return_urls(const conf_t *c, int fd, const directive_t *d)
{
    for (int i = 0; i < c->auth.nallowed_return_urls; i++)
        dprintf(fd, "%s %s;\n", d->name, c->auth.allowed_return_urls[i]);
}

static void dump_default_return_url(const conf_t *c, int fd, const directive_t *d)
{
    dprintf(fd, "%s %s;\n", d->name, c->auth.default_return_url);
}

static void dump_profiler_listen(const conf_t *c, int fd, const directive_t *d)
{
    const conf_addr_t *a = &c->prof.listen;
    dprintf(fd, strchr(a->host, ':') ? "%s [%s]:%s%s;\n" : "%s %s:%s%s;\n", d->name, a->host,
            a->port, c->prof.listen_public ? " public" : "");
}

static void dump_real_ip_from(const conf_t *c, int fd, const directive_t *d)
{
    for (int i = 0; i < c->http.realip.nfrom; i++) {
        const realip_cidr_t *r = &c->http.realip.from[i];
        char t[64];
        int v4 = r->bits >= 96 && !memcmp(r->net.a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
        realip_format(&r->net, t, sizeof t);
        dprintf(fd, "%s %s/%d;\n", d->name, t, v4 ? r->bits - 96 : r->bits);
    }
}

static void dump_real_ip_header(const conf_t *c, int fd, const directive_t *d)
{
    dprintf(fd, "%s %s;\n", d->name,
            c->http.realip.header == REALIP_HEADER_XFF ? "X-Forwarded-For" : "X-Real-IP");
}

static void dump_delivery(const conf_t *c, int fd, const directive_t *d)
{
    static const char *dl[] = {"log", "outbox", "smtp", "response"};
    dprintf(fd, "%s %s%s%s;\n", d->name, dl[c->smtp.delivery], c->smtp.delivery_arg[0] ? " " : "",
            c->smtp.delivery_arg);
}

static void dump_smtp_auth(const conf_t *c, int fd, const directive_t *d)
{
    if (c->smtp.auth_user[0]) /* never the password */
        dprintf(fd, "%s %s ********;\n", d->name, c->smtp.auth_user);
}

static void dump_auth_store_down(const conf_t *c, int fd, const directive_t *d)
{
    dprintf(fd, "%s %s;\n", d->name, c->auth.store_down_open ? "open" : "closed");
}

static void dump_smtp_starttls(const conf_t *c, int fd, const directive_t *d)
{
    dprintf(fd, "%s %s;\n", d->name, c->smtp.starttls == 2 ? "required" : onoff(c->smtp.starttls));
}

static void dump_rate(const conf_t *c, int fd, const directive_t *d)
{
    int email = d->name[11] == 'e';
    dprintf(fd, "%s %d %llums;\n", d->name, email ? c->rate.email_n : c->rate.ip_n,
            (unsigned long long)(email ? c->rate.email_window_ms : c->rate.ip_window_ms));
}

static void dump_block_rate(const conf_t *c, int fd, const directive_t *d)
{
    dprintf(fd, "%s %lluns;\n", d->name, (unsigned long long)c->prof.block_profile_rate_ns);
}

static void dump_one(const conf_t *c, int fd, const directive_t *d)
{
    const char *v = (const char *)c + d->off;
    switch (d->kind) {
    case K_STR:
        if (*v || d->def)
            dprintf(fd, strpbrk(v, " \t;#") || !*v ? "%s \"%s\";\n" : "%s %s;\n", d->name, v);
        break;
    case K_FLAG:
        dprintf(fd, "%s %s;\n", d->name, onoff(*(const int *)v));
        break;
    case K_INT:
        dprintf(fd, "%s %d;\n", d->name, *(const int *)v);
        break;
    case K_DUR:
        dump_dur(fd, d->name, *(const uint64_t *)v);
        break;
    case K_SIZE:
        dprintf(fd, "%s %zu;\n", d->name, *(const size_t *)v);
        break;
    default:
        if (d->dump)
            d->dump(c, fd, d);
    }
}

void conf_dump(const conf_t *c, int fd)
{
    dprintf(fd, "# effective configuration of %s (prefix %s)\n", c->file, c->prefix);
    for (const directive_t *d = directives; d->name; d++)
        dump_one(c, fd, d);
}
