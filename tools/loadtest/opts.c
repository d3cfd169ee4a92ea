/*
 * opts.c - the load generator's command line.
 *
 *   loadtest [options] [SCENARIO] URL
 *
 * Everything is checked before any thread starts: a bad flag, a duration
 * that does not parse, a URL that is not http://, a host that does not
 * resolve or an --emails file that cannot be read is one line on stderr and
 * exit status 2 - never a crash, never a half-started run.
 */
#include "tools/loadtest/loadtest.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lt_usage(FILE *f)
{
    fprintf(f, "usage: loadtest [options] [SCENARIO] URL\n"
               "\n"
               "HTTP/1.1 keep-alive load generator for magicd (and any HTTP server).\n"
               "\n"
               "scenarios:\n"
               "  generate   GET /login for the CSRF cookie and token, then POST /magic/generate\n"
               "             with the header, the cookie and a form email, repeatedly (default)\n"
               "  login      the whole flow: generate, take the link from the answer\n"
               "             (`delivery response`) or the outbox (--outbox), verify it,\n"
               "             open the secure page; repeat\n"
               "  original   the article's request: POST /magic/generate with a random\n"
               "             X-CSRF-Token, no cookie, no body (the server answers 403)\n"
               "  get        GET the URL's path\n"
               "\n"
               "options:\n"
               "  -c, --connections N   concurrent connections (default 500)\n"
               "  -d, --duration T      run time: 60, 60s, 1m, 500ms (default 60s)\n"
               "  -t, --threads N       threads, each with its own epoll loop\n"
               "                        (default: one per CPU, at most one per connection)\n"
               "  -R, --rate R          open loop: R requests/s in total, latency measured\n"
               "                        from each request's intended start (default: closed loop)\n"
               "      --poisson         with -R: Poisson arrivals (exponential gaps, mean 1/R)\n"
               "                        instead of one request every 1/R s\n"
               "      --timeout T       per request and per connect (default 5s)\n"
               "  -s, --scenario NAME   same as the SCENARIO argument\n"
               "      --emails FILE     emails to use, one a line (default: generated\n"
               "                        user<N>@loadtest.example)\n"
               "      --outbox FILE     login: when the answer has no link, wait for it in this\n"
               "                        outbox file (magicd `delivery outbox FILE`); each flow\n"
               "                        needs its own address: generated ones with `signup on`,\n"
               "                        or --emails with one known user per connection\n"
               "      --json FILE       also write the report as JSON ('-' for stdout)\n"
               "  -q, --quiet           no progress line each second\n"
               "  -h, --help            this text\n"
               "\n"
               "exit status: 0 run completed with responses, 1 no response at all\n"
               "(target unreachable), 2 bad usage.\n");
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "loadtest: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(try loadtest --help)\n");
    return -1;
}

/* "60", "60s", "1.5m", "500ms", "1h" -> seconds; -1 when malformed. */
static double parse_duration(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -1;
    if (*end == 0 || strcmp(end, "s") == 0)
        return v;
    if (strcmp(end, "ms") == 0)
        return v / 1000;
    if (strcmp(end, "us") == 0)
        return v / 1e6;
    if (strcmp(end, "m") == 0)
        return v * 60;
    if (strcmp(end, "h") == 0)
        return v * 3600;
    return -1;
}

static long parse_int(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    return v;
}

static int set_scenario(lt_opts_t *o, const char *s)
{
    static const struct {
        const char *name;
        lt_scenario_kind k;
    } tab[] = {
        {"generate", SC_GENERATE}, {"login", SC_LOGIN}, {"original", SC_ORIGINAL}, {"get", SC_GET}};
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strcmp(s, tab[i].name) == 0) {
            o->scenario = tab[i].k;
            o->scenario_name = tab[i].name;
            return 0;
        }
    return -1;
}

static int parse_url(lt_opts_t *o, const char *url)
{
    char hostname[256], port[16] = "80";
    if (strncmp(url, "https://", 8) == 0)
        return bad("https is not supported (use a plain http:// URL): %s", url);
    if (strncmp(url, "http://", 7) != 0)
        return bad("URL must start with http:// : %s", url);
    const char *h = url + 7, *e;
    if (*h == '[') {
        e = strchr(h, ']');
        if (!e || (size_t)(e - h - 1) >= sizeof(hostname))
            return bad("bad IPv6 address in URL: %s", url);
        memcpy(hostname, h + 1, (size_t)(e - h - 1));
        hostname[e - h - 1] = 0;
        e++;
    } else {
        e = h + strcspn(h, ":/?");
        if (e == h || (size_t)(e - h) >= sizeof(hostname))
            return bad("no host in URL: %s", url);
        memcpy(hostname, h, (size_t)(e - h));
        hostname[e - h] = 0;
    }
    const char *hp_end = e;
    if (*e == ':') {
        const char *p = e + 1;
        size_t n = strcspn(p, "/?");
        if (n == 0 || n >= sizeof(port))
            return bad("bad port in URL: %s", url);
        memcpy(port, p, n);
        port[n] = 0;
        if (parse_int(port, 1, 65535) < 0)
            return bad("bad port in URL: %s", url);
        hp_end = p + n;
    }
    if ((size_t)(hp_end - h) >= sizeof(o->host))
        return bad("host too long: %s", url);
    memcpy(o->host, h, (size_t)(hp_end - h));
    o->host[hp_end - h] = 0;
    const char *path = *hp_end ? hp_end : "/";
    if (*path == '?') {
        snprintf(o->path, sizeof(o->path), "/%s", path);
    } else {
        if (strlen(path) >= sizeof(o->path) - 1)
            return bad("path too long: %s", url);
        snprintf(o->path, sizeof(o->path), "%s", path);
    }
    for (const char *p = o->path; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return bad("URL has spaces or control characters: %s", url);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(hostname, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "loadtest: cannot resolve %s: %s\n", hostname, gai_strerror(rc));
        return -1;
    }
    memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
    o->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void urlencode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = 0;
}

static int load_emails(lt_opts_t *o, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "loadtest: cannot read --emails %s: %s\n", file, strerror(errno));
        return -1;
    }
    char line[512];
    size_t cap = 0;
    while (fgets(line, sizeof(line), f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strcspn(s, "\r\n");
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        s[n] = 0;
        if (n == 0 || *s == '#')
            continue;
        if (o->nemails == cap) {
            cap = cap ? cap * 2 : 64;
            char **a = realloc(o->emails, cap * sizeof(char *));
            char **b = realloc(o->emails_enc, cap * sizeof(char *));
            if (!a || !b) {
                fclose(f);
                fprintf(stderr, "loadtest: out of memory reading %s\n", file);
                return -1;
            }
            o->emails = a;
            o->emails_enc = b;
        }
        char enc[256];
        urlencode(s, enc, sizeof(enc));
        o->emails[o->nemails] = strdup(s);
        o->emails_enc[o->nemails] = strdup(enc);
        o->nemails++;
    }
    fclose(f);
    if (o->nemails == 0) {
        fprintf(stderr, "loadtest: no email in %s\n", file);
        return -1;
    }
    return 0;
}

int lt_opts_parse(lt_opts_t *o, int argc, char **argv)
{
    enum { OPT_TIMEOUT = 256, OPT_EMAILS, OPT_JSON, OPT_OUTBOX, OPT_POISSON };
    static const struct option lo[] = {{"connections", required_argument, 0, 'c'},
                                       {"duration", required_argument, 0, 'd'},
                                       {"threads", required_argument, 0, 't'},
                                       {"rate", required_argument, 0, 'R'},
                                       {"scenario", required_argument, 0, 's'},
                                       {"timeout", required_argument, 0, OPT_TIMEOUT},
                                       {"emails", required_argument, 0, OPT_EMAILS},
                                       {"json", required_argument, 0, OPT_JSON},
                                       {"outbox", required_argument, 0, OPT_OUTBOX},
                                       {"poisson", no_argument, 0, OPT_POISSON},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    long v;
    int ch;
    memset(o, 0, sizeof(*o));
    o->connections = 500;
    o->duration = 60;
    o->timeout = 5;
    o->scenario = SC_GENERATE;
    o->scenario_name = "generate";
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":c:d:t:R:s:qh", lo, NULL)) != -1) {
        switch (ch) {
        case 'c':
            if ((v = parse_int(optarg, 1, 1000000)) < 0)
                return bad("-c wants a number of connections from 1 to 1000000, not '%s'", optarg);
            o->connections = (int)v;
            break;
        case 'd':
            if ((o->duration = parse_duration(optarg)) <= 0)
                return bad("-d wants a duration such as 60, 60s, 1m or 500ms, not '%s'", optarg);
            break;
        case 't':
            if ((v = parse_int(optarg, 1, 1024)) < 0)
                return bad("-t wants a number of threads from 1 to 1024, not '%s'", optarg);
            o->threads = (int)v;
            break;
        case 'R': {
            char *end;
            o->rate = strtod(optarg, &end);
            if (end == optarg || *end || !isfinite(o->rate) || o->rate <= 0 || o->rate > 1e8)
                return bad("-R wants a rate in requests per second, not '%s'", optarg);
            break;
        }
        case 's':
            if (set_scenario(o, optarg) < 0)
                return bad("unknown scenario '%s' (generate, login, original, get)", optarg);
            break;
        case OPT_TIMEOUT:
            if ((o->timeout = parse_duration(optarg)) <= 0)
                return bad("--timeout wants a duration such as 5s or 500ms, not '%s'", optarg);
            break;
        case OPT_POISSON:
            o->poisson = 1;
            break;
        case OPT_EMAILS:
            o->emails_file = optarg;
            break;
        case OPT_JSON:
            o->json_file = optarg;
            break;
        case OPT_OUTBOX:
            o->outbox = optarg;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            lt_usage(stdout);
            exit(0);
        case ':':
            return bad("option %s needs a value", argv[optind - 1]);
        default:
            return bad("unknown option %s", argv[optind - 1]);
        }
    }
    int left = argc - optind;
    if (left == 2) {
        if (set_scenario(o, argv[optind]) < 0)
            return bad("unknown scenario '%s' (generate, login, original, get)", argv[optind]);
        optind++;
    } else if (left != 1) {
        return bad("%s", left == 0 ? "no URL given" : "too many arguments");
    }
    o->url = argv[optind];
    if (parse_url(o, o->url) < 0)
        return -1;
    if (o->scenario != SC_GET)
        snprintf(o->path, sizeof(o->path), "/");
    if (o->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads = n > 0 ? (int)n : 1;
    }
    if (o->threads > o->connections)
        o->threads = o->connections;
    if (o->emails_file && load_emails(o, o->emails_file) < 0)
        return -1;
    return 0;
}
