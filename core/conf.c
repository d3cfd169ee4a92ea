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
    snprintf(p->err, p->errsz, "%s in %s:%d", msg, p->file, p->line);
    return -1;
}

void conf_defaults(conf_t *c)
{
    memset(c, 0, sizeof *c);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->worker_processes = ncpu > 0 ? (int)ncpu : 1;
    c->worker_processes_auto = 1;
    c->worker_connections = 1024;
    snprintf(c->pid_file, sizeof c->pid_file, "run/magicd.pid");
    c->shutdown_timeout_ms = 10000;
    snprintf(c->error_log, sizeof c->error_log, "run/error.log");
    c->error_log_level = MG_LOG_NOTICE;
    snprintf(c->access_log, sizeof c->access_log, "run/access.log");
    c->access_log_format = ACCESS_LOG_COMBINED;
    c->access_log_buffer = 64 * 1024;
    c->access_log_flush_ms = 1000;
    snprintf(c->listen[0].host, sizeof c->listen[0].host, "127.0.0.1");
    snprintf(c->listen[0].port, sizeof c->listen[0].port, "8080");
    c->nlisten = 1;
    c->listen_backlog = 511;
    snprintf(c->html_root, sizeof c->html_root, "html");
    c->max_request_line = 8 * 1024;
    c->max_header_size = 16 * 1024;
    c->max_headers = 64;
    c->max_body_size = 16 * 1024;
    c->header_timeout_ms = 10000;
    c->body_timeout_ms = 10000;
    c->keepalive_timeout_ms = 75000;
    c->send_timeout_ms = 10000;
    c->keepalive_requests = 10000;
    snprintf(c->key_file, sizeof c->key_file, "run/magicd.key");
    c->link_ttl_ms = 15 * 60 * 1000;
    c->session_ttl_ms = 60 * 60 * 1000;
    snprintf(c->users_db, sizeof c->users_db, "run/users.db");
    snprintf(c->default_return_url, sizeof c->default_return_url, "/secure/1");
    c->delivery = DELIVERY_LOG;
    snprintf(c->smtp_from, sizeof c->smtp_from, "magicd <login@localhost>");
    snprintf(c->smtp_spool, sizeof c->smtp_spool, "run/spool");
    c->smtp_starttls = 1;
    c->rate_email_n = 5;
    c->rate_email_window_ms = 15 * 60 * 1000;
    c->rate_ip_n = 30;
    c->rate_ip_window_ms = 60 * 1000;
    c->ratelimit_entries = 65536;
    c->profiler_enabled = 1;
    snprintf(c->profiler_listen.host, sizeof c->profiler_listen.host, "127.0.0.1");
    snprintf(c->profiler_listen.port, sizeof c->profiler_listen.port, "6060");
    c->profile_hz = 100;
    c->profile_max_seconds = 300;
    c->heap_sample_bytes = 512 * 1024;
    c->block_profile_rate_ns = 1000000;
    c->mutex_profile_fraction = 10;
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
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p->c->worker_processes = n > 0 ? (int)n : 1;
        p->c->worker_processes_auto = 1;
        return 0;
    }
    p->c->worker_processes_auto = 0;
    return parse_int(p, argv[1], 1, 16, &p->c->worker_processes, argv[0]);
}

static int d_user(parse_t *p, int argc, char **argv)
{
    if (set_str(p, p->c->user, sizeof p->c->user, argv[1], argv[0]) < 0)
        return -1;
    return set_str(p, p->c->group, sizeof p->c->group, argc > 2 ? argv[2] : "", argv[0]);
}

static int d_error_log(parse_t *p, int argc, char **argv)
{
    if (set_str(p, p->c->error_log, sizeof p->c->error_log, argv[1], argv[0]) < 0)
        return -1;
    if (argc > 2) {
        int lv = log_level_parse(argv[2]);
        if (lv < 0)
            return perr(p, "unknown log level \"%s\"", argv[2]);
        p->c->error_log_level = lv;
    }
    return 0;
}

static int d_access_log(parse_t *p, int argc, char **argv)
{
    conf_t *c = p->c;
    if (set_str(p, c->access_log, sizeof c->access_log, argv[1], argv[0]) < 0)
        return -1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "combined"))
            c->access_log_format = ACCESS_LOG_COMBINED;
        else if (!strcmp(argv[i], "json"))
            c->access_log_format = ACCESS_LOG_JSON;
        else if (!strncmp(argv[i], "buffer=", 7)) {
            if (parse_sz(p, argv[i] + 7, &c->access_log_buffer, argv[0]) < 0)
                return -1;
        } else if (!strncmp(argv[i], "flush=", 6)) {
            if (parse_dur(p, argv[i] + 6, &c->access_log_flush_ms, argv[0]) < 0)
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
        c->nlisten = 0;
        p->listen_set = 1;
    }
    if (c->nlisten >= CONF_MAX_LISTEN)
        return perr(p, "too many \"listen\" directives (at most %d)", CONF_MAX_LISTEN);
    if (conf_parse_addr(argv[1], &c->listen[c->nlisten]) < 0)
        return perr(p, "invalid address \"%s\" in \"listen\" directive", argv[1]);
    for (int i = 0; i < c->nlisten; i++)
        if (!strcmp(c->listen[i].host, c->listen[c->nlisten].host) &&
            !strcmp(c->listen[i].port, c->listen[c->nlisten].port))
            return perr(p, "duplicate listen \"%s\"", argv[1]);
    c->nlisten++;
    return 0;
}

static int d_profiler_listen(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    if (conf_parse_addr(argv[1], &p->c->profiler_listen) < 0)
        return perr(p, "invalid address \"%s\" in \"profiler_listen\" directive", argv[1]);
    return 0;
}

static int d_delivery(parse_t *p, int argc, char **argv)
{
    conf_t *c = p->c;
    const char *m = argv[1];
    c->delivery_arg[0] = 0;
    if (!strcmp(m, "log") || !strcmp(m, "response")) {
        if (argc != 2)
            return perr(p, "\"delivery %s\" takes no argument", m);
        c->delivery = m[0] == 'l' ? DELIVERY_LOG : DELIVERY_RESPONSE;
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
        c->delivery = m[0] == 'o' ? DELIVERY_OUTBOX : DELIVERY_SMTP;
        return set_str(p, c->delivery_arg, sizeof c->delivery_arg, argv[2], argv[0]);
    }
    return perr(p,
                "invalid value \"%s\" in \"delivery\" directive (log|outbox FILE|smtp "
                "HOST:PORT|response)",
                m);
}

static int d_rate(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    int *n = argv[0][11] == 'e' ? &p->c->rate_email_n : &p->c->rate_ip_n;
    uint64_t *w = argv[0][11] == 'e' ? &p->c->rate_email_window_ms : &p->c->rate_ip_window_ms;
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
    if (set_str(p, p->c->smtp_auth_user, sizeof p->c->smtp_auth_user, argv[1], argv[0]) < 0)
        return -1;
    return set_str(p, p->c->smtp_auth_password, sizeof p->c->smtp_auth_password, argv[2], argv[0]);
}

static int d_smtp_starttls(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    if (!strcmp(argv[1], "required")) {
        p->c->smtp_starttls = 2;
        return 0;
    }
    return parse_flag(p, argv[1], &p->c->smtp_starttls, argv[0]);
}

/* allowed_return_urls PATTERN...; repeatable (core/return_url.h). */
static int d_return_urls(parse_t *p, int argc, char **argv)
{
    conf_t *c = p->c;
    for (int i = 1; i < argc; i++) {
        const char *why = "";
        if (c->nallowed_return_urls >= CONF_MAX_RETURN_URLS)
            return perr(p, "too many \"allowed_return_urls\" patterns (at most %d)",
                        CONF_MAX_RETURN_URLS);
        if (strlen(argv[i]) >= CONF_PATTERN_MAX || return_url_pattern_check(argv[i], &why) < 0)
            return perr(p,
                        "invalid pattern \"%s\" in \"allowed_return_urls\" directive: %s "
                        "(write e.g. https://*.example.com/* or /app/*)",
                        argv[i], strlen(argv[i]) >= CONF_PATTERN_MAX ? "too long" : why);
        copy_str(c->allowed_return_urls[c->nallowed_return_urls++], CONF_PATTERN_MAX, argv[i]);
    }
    return 0;
}

static int d_default_return_url(parse_t *p, int argc, char **argv)
{
    (void)argc; /* checked against the directive table */
    const char *why = "";
    if (return_url_canon(argv[1], strlen(argv[1]), p->c->default_return_url,
                         sizeof p->c->default_return_url, &why) < 0)
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
        p->c->cookie_domain[0] = 0;
        return 0;
    }
    if (domain_name(argv[1], p->c->cookie_domain, sizeof p->c->cookie_domain) < 0)
        return perr(p, "invalid domain \"%s\" in \"cookie_domain\" directive (e.g. example.com)",
                    argv[1]);
    return 0;
}

/* allow_email_domain DOMAIN...; repeatable. */
static int d_email_domains(parse_t *p, int argc, char **argv)
{
    conf_t *c = p->c;
    for (int i = 1; i < argc; i++) {
        if (c->nallow_email_domains >= CONF_MAX_EMAIL_DOMAINS)
            return perr(p, "too many \"allow_email_domain\" domains (at most %d)",
                        CONF_MAX_EMAIL_DOMAINS);
        char *d = c->allow_email_domains[c->nallow_email_domains];
        if (domain_name(argv[i], d, sizeof c->allow_email_domains[0]) < 0 || argv[i][0] == '.')
            return perr(p,
                        "invalid domain \"%s\" in \"allow_email_domain\" directive (e.g. "
                        "example.com)",
                        argv[i]);
        c->nallow_email_domains++;
    }
    return 0;
}

static int d_include(parse_t *p, int argc, char **argv);

/* Generic handlers driven by the table's offset and kind. */
enum { K_STR, K_FLAG, K_INT, K_DUR, K_SIZE, K_FN };

typedef struct {
    const char *name;
    int lo, hi; /* argument count */
    int kind;
    size_t off;
    size_t len;    /* K_STR: buffer size */
    long min, max; /* K_INT range */
    handler_fn fn;
} directive_t;

#define F(field) offsetof(conf_t, field), sizeof(((conf_t *)0)->field)
#define O(field) offsetof(conf_t, field), 0

static const directive_t directives[] = {
    {"include", 1, 1, K_FN, 0, 0, 0, 0, d_include},
    {"worker_processes", 1, 1, K_FN, 0, 0, 0, 0, d_worker_processes},
    {"worker_connections", 1, 1, K_INT, O(worker_connections), 16, 1000000, NULL},
    {"user", 1, 2, K_FN, 0, 0, 0, 0, d_user},
    {"pid", 1, 1, K_STR, F(pid_file), 0, 0, NULL},
    {"shutdown_timeout", 1, 1, K_DUR, O(shutdown_timeout_ms), 0, 0, NULL},
    {"error_log", 1, 2, K_FN, 0, 0, 0, 0, d_error_log},
    {"access_log", 1, 4, K_FN, 0, 0, 0, 0, d_access_log},
    {"listen", 1, 1, K_FN, 0, 0, 0, 0, d_listen},
    {"listen_backlog", 1, 1, K_INT, O(listen_backlog), 1, 65535, NULL},
    {"html_root", 1, 1, K_STR, F(html_root), 0, 0, NULL},
    {"public_url", 1, 1, K_STR, F(public_url), 0, 0, NULL},
    {"max_request_line", 1, 1, K_SIZE, O(max_request_line), 0, 0, NULL},
    {"max_header_size", 1, 1, K_SIZE, O(max_header_size), 0, 0, NULL},
    {"max_headers", 1, 1, K_INT, O(max_headers), 1, 64, NULL},
    {"max_body_size", 1, 1, K_SIZE, O(max_body_size), 0, 0, NULL},
    {"header_timeout", 1, 1, K_DUR, O(header_timeout_ms), 0, 0, NULL},
    {"body_timeout", 1, 1, K_DUR, O(body_timeout_ms), 0, 0, NULL},
    {"keepalive_timeout", 1, 1, K_DUR, O(keepalive_timeout_ms), 0, 0, NULL},
    {"send_timeout", 1, 1, K_DUR, O(send_timeout_ms), 0, 0, NULL},
    {"keepalive_requests", 1, 1, K_INT, O(keepalive_requests), 0, 100000000, NULL},
    {"key_file", 1, 1, K_STR, F(key_file), 0, 0, NULL},
    {"previous_key_file", 1, 1, K_STR, F(previous_key_file), 0, 0, NULL},
    {"link_ttl", 1, 1, K_DUR, O(link_ttl_ms), 0, 0, NULL},
    {"session_ttl", 1, 1, K_DUR, O(session_ttl_ms), 0, 0, NULL},
    {"cookie_secure", 1, 1, K_FLAG, O(cookie_secure), 0, 0, NULL},
    {"cookie_domain", 1, 1, K_FN, 0, 0, 0, 0, d_cookie_domain},
    {"users_db", 1, 1, K_STR, F(users_db), 0, 0, NULL},
    {"signup", 1, 1, K_FLAG, O(signup), 0, 0, NULL},
    {"allow_email_domain", 1, MAX_ARGS - 1, K_FN, 0, 0, 0, 0, d_email_domains},
    {"allowed_return_urls", 1, MAX_ARGS - 1, K_FN, 0, 0, 0, 0, d_return_urls},
    {"default_return_url", 1, 1, K_FN, 0, 0, 0, 0, d_default_return_url},
    {"delivery", 1, 2, K_FN, 0, 0, 0, 0, d_delivery},
    {"smtp_from", 1, 1, K_STR, F(smtp_from), 0, 0, NULL},
    {"smtp_auth", 2, 2, K_FN, 0, 0, 0, 0, d_smtp_auth},
    {"smtp_spool", 1, 1, K_STR, F(smtp_spool), 0, 0, NULL},
    {"smtp_starttls", 1, 1, K_FN, 0, 0, 0, 0, d_smtp_starttls},
    {"rate_limit_email", 2, 2, K_FN, 0, 0, 0, 0, d_rate},
    {"rate_limit_ip", 2, 2, K_FN, 0, 0, 0, 0, d_rate},
    {"rate_limit_entries", 1, 1, K_INT, O(ratelimit_entries), 64, 16777216, NULL},
    {"profiler", 1, 1, K_FLAG, O(profiler_enabled), 0, 0, NULL},
    {"profiler_listen", 1, 1, K_FN, 0, 0, 0, 0, d_profiler_listen},
    {"profile_hz", 1, 1, K_INT, O(profile_hz), 1, 1000, NULL},
    {"profile_continuous", 1, 1, K_FLAG, O(profile_continuous), 0, 0, NULL},
    {"profile_max_seconds", 1, 1, K_INT, O(profile_max_seconds), 1, 86400, NULL},
    {"heap_sample_bytes", 1, 1, K_SIZE, O(heap_sample_bytes), 0, 0, NULL},
    {"block_profile_rate", 1, 1, K_FN, 0, 0, 0, 0, NULL},
    {"mutex_profile_fraction", 1, 1, K_INT, O(mutex_profile_fraction), 0, 1000000, NULL},
    {NULL, 0, 0, 0, 0, 0, 0, 0, NULL},
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
    p->c->block_profile_rate_ns = x * mul;
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
        return d->fn ? d->fn(p, argc, argv) : d_block_rate(p, argc, argv);
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
        return perr(p, "cannot open \"%s\": %s", path, strerror(errno));
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
            char q = ch;
            s++;
            while (*s && *s != q) {
                char c = *s;
                if (c == '\\' && s[1]) {
                    s++;
                    c = *s;
                }
                if (c == '\n')
                    p->line++;
                if (n + 1 >= CONF_PATH_MAX)
                    return perr(p, "argument too long");
                w[n++] = c;
                s++;
            }
            if (!*s)
                return perr(p, "unterminated quoted string");
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
    const char *h = strstr(c->public_url, "://");
    if (!c->cookie_domain[0] || !h)
        return 0;
    h += 3;
    size_t hn = strcspn(h, ":/?#"), dn = strlen(c->cookie_domain);
    int covered = hn == dn ? !strncasecmp(h, c->cookie_domain, dn)
                           : hn > dn && h[hn - dn - 1] == '.' &&
                                 !strncasecmp(h + hn - dn, c->cookie_domain, dn);
    if (covered)
        return 0;
    snprintf(err, errsz,
             "cookie_domain %s does not cover the host of public_url %s: browsers would refuse "
             "the cookies (in %s)",
             c->cookie_domain, c->public_url, c->file);
    return -1;
}

static int finish(conf_t *c, char *err, size_t errsz)
{
    absolutize(c, c->pid_file, sizeof c->pid_file);
    absolutize(c, c->error_log, sizeof c->error_log);
    absolutize(c, c->access_log, sizeof c->access_log);
    absolutize(c, c->html_root, sizeof c->html_root);
    absolutize(c, c->key_file, sizeof c->key_file);
    absolutize(c, c->previous_key_file, sizeof c->previous_key_file);
    absolutize(c, c->users_db, sizeof c->users_db);
    absolutize(c, c->smtp_spool, sizeof c->smtp_spool);
    if (c->delivery == DELIVERY_OUTBOX)
        absolutize(c, c->delivery_arg, sizeof c->delivery_arg);
    if (c->max_body_size > (64u << 20)) {
        snprintf(err, errsz, "max_body_size must be at most 64m in %s", c->file);
        return -1;
    }
    if (c->max_request_line < 64 || c->max_header_size < 256) {
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

void conf_dump(const conf_t *c, int fd)
{
    static const char *dl[] = {"log", "outbox", "smtp", "response"};
    dprintf(fd, "# effective configuration of %s (prefix %s)\n", c->file, c->prefix);
    if (c->worker_processes_auto)
        dprintf(fd, "worker_processes auto; # = %d\n", c->worker_processes);
    else
        dprintf(fd, "worker_processes %d;\n", c->worker_processes);
    dprintf(fd, "worker_connections %d;\n", c->worker_connections);
    if (c->user[0])
        dprintf(fd, "user %s %s;\n", c->user, c->group);
    dprintf(fd, "pid %s;\n", c->pid_file);
    dump_dur(fd, "shutdown_timeout", c->shutdown_timeout_ms);
    dprintf(fd, "error_log %s %s;\n", c->error_log, level_name(c->error_log_level));
    if (!strcmp(c->access_log, "off"))
        dprintf(fd, "access_log off;\n");
    else
        dprintf(fd, "access_log %s %s buffer=%zu flush=%llums;\n", c->access_log,
                c->access_log_format == ACCESS_LOG_JSON ? "json" : "combined", c->access_log_buffer,
                (unsigned long long)c->access_log_flush_ms);
    for (int i = 0; i < c->nlisten; i++)
        dprintf(fd, strchr(c->listen[i].host, ':') ? "listen [%s]:%s;\n" : "listen %s:%s;\n",
                c->listen[i].host, c->listen[i].port);
    dprintf(fd, "listen_backlog %d;\n", c->listen_backlog);
    dprintf(fd, "html_root %s;\npublic_url \"%s\";\n", c->html_root, c->public_url);
    dprintf(fd, "max_request_line %zu;\nmax_header_size %zu;\nmax_headers %d;\n",
            c->max_request_line, c->max_header_size, c->max_headers);
    dprintf(fd, "max_body_size %zu;\n", c->max_body_size);
    dump_dur(fd, "header_timeout", c->header_timeout_ms);
    dump_dur(fd, "body_timeout", c->body_timeout_ms);
    dump_dur(fd, "keepalive_timeout", c->keepalive_timeout_ms);
    dump_dur(fd, "send_timeout", c->send_timeout_ms);
    dprintf(fd, "keepalive_requests %d;\n", c->keepalive_requests);
    dprintf(fd, "key_file %s;\n", c->key_file);
    if (c->previous_key_file[0])
        dprintf(fd, "previous_key_file %s;\n", c->previous_key_file);
    dump_dur(fd, "link_ttl", c->link_ttl_ms);
    dump_dur(fd, "session_ttl", c->session_ttl_ms);
    dprintf(fd, "cookie_secure %s;\ncookie_domain \"%s\";\nusers_db %s;\nsignup %s;\n",
            onoff(c->cookie_secure), c->cookie_domain, c->users_db, onoff(c->signup));
    for (int i = 0; i < c->nallow_email_domains; i++)
        dprintf(fd, "allow_email_domain %s;\n", c->allow_email_domains[i]);
    for (int i = 0; i < c->nallowed_return_urls; i++)
        dprintf(fd, "allowed_return_urls %s;\n", c->allowed_return_urls[i]);
    dprintf(fd, "default_return_url %s;\n", c->default_return_url);
    dprintf(fd, "delivery %s%s%s;\n", dl[c->delivery], c->delivery_arg[0] ? " " : "",
            c->delivery_arg);
    if (c->delivery == DELIVERY_SMTP) {
        dprintf(fd, "smtp_from \"%s\";\nsmtp_spool %s;\nsmtp_starttls %s;\n", c->smtp_from,
                c->smtp_spool, c->smtp_starttls == 2 ? "required" : onoff(c->smtp_starttls));
        if (c->smtp_auth_user[0])
            dprintf(fd, "smtp_auth %s ********;\n", c->smtp_auth_user);
    }
    dprintf(fd, "rate_limit_email %d %llums;\n", c->rate_email_n,
            (unsigned long long)c->rate_email_window_ms);
    dprintf(fd, "rate_limit_ip %d %llums;\n", c->rate_ip_n,
            (unsigned long long)c->rate_ip_window_ms);
    dprintf(fd, "rate_limit_entries %d;\n", c->ratelimit_entries);
    dprintf(fd, "profiler %s;\n", onoff(c->profiler_enabled));
    dprintf(fd,
            strchr(c->profiler_listen.host, ':') ? "profiler_listen [%s]:%s;\n"
                                                 : "profiler_listen %s:%s;\n",
            c->profiler_listen.host, c->profiler_listen.port);
    dprintf(fd, "profile_hz %d;\nprofile_continuous %s;\nprofile_max_seconds %d;\n", c->profile_hz,
            onoff(c->profile_continuous), c->profile_max_seconds);
    dprintf(fd, "heap_sample_bytes %zu;\nblock_profile_rate %lluns;\nmutex_profile_fraction %d;\n",
            c->heap_sample_bytes, (unsigned long long)c->block_profile_rate_ns,
            c->mutex_profile_fraction);
}
