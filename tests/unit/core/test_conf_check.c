/*
 * test_conf_check.c - the hardening directives (real_ip_from,
 * real_ip_header, rate_limit_ipv6_prefix, rate_limit_email_fold_tags,
 * profiler_listen ... public, profiler_auth_token_file) and the rules
 * conf_check() enforces before a config is served: public_url for links,
 * verified TLS for smtp_auth, no profiler off loopback by accident, a sound
 * token file. -T never prints the token.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/conf_check.h"
#include "core/log.h"
#include "tests/unit/unit.h"

static conf_t c;
static char err[1024];

static int load(const char *text)
{
    conf_defaults(&c);
    snprintf(c.prefix, sizeof c.prefix, "/srv/m");
    err[0] = 0;
    return conf_load_string(&c, "t.conf", text, err, sizeof err);
}

/* load + conf_check: 0 / -1 */
static int check(const char *text)
{
    if (load(text) < 0)
        return -2;
    return conf_check(&c, err, sizeof err);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            perror("write");
        fchmod(fd, mode);
        close(fd);
    }
}

/* check(text) with the log in a file of dir: whether a line in it holds
 * needle (a warning conf_check logged). -1 when the config was refused. */
static int warns(const char *dir, const char *text, const char *needle)
{
    char path[256], buf[4096] = "";
    snprintf(path, sizeof path, "%s/warn.log", dir);
    unlink(path);
    if (log_open(path, MG_LOG_NOTICE) < 0)
        return -1;
    int rc = check(text);
    log_open("stderr", MG_LOG_NOTICE);
    FILE *f = fopen(path, "r");
    if (f) {
        buf[fread(buf, 1, sizeof buf - 1, f)] = 0;
        fclose(f);
    }
    unlink(path);
    return rc < 0 ? -1 : strstr(buf, needle) != NULL;
}

static void test_directives(void)
{
    CHECK(load("") == 0 && c.rate.ipv6_prefix == 64 && c.rate.email_fold_tags == 0 &&
          c.http.realip.nfrom == 0 && c.http.realip.header == REALIP_HEADER_X_REAL_IP &&
          c.prof.listen_public == 0 && !c.prof.auth_token_file[0]);
    CHECK(load("real_ip_from 10.0.0.0/8; real_ip_from ::1; real_ip_from 192.168.1.7;"
               "real_ip_header x-forwarded-for; rate_limit_ipv6_prefix 56;"
               "rate_limit_email_fold_tags on;") == 0,
          "%s", err);
    CHECK(c.http.realip.nfrom == 3 && c.http.realip.header == REALIP_HEADER_XFF &&
          c.rate.ipv6_prefix == 56 && c.rate.email_fold_tags == 1);
    CHECK(load("real_ip_from 10.0.0.0/33;") < 0 && strstr(err, "real_ip_from") &&
              strstr(err, "t.conf:1"),
          "%s", err);
    CHECK(load("real_ip_from example.com;") < 0);
    CHECK(load("real_ip_header Forwarded;") < 0 && strstr(err, "X-Forwarded-For"), "%s", err);
    CHECK(load("rate_limit_ipv6_prefix 0;") < 0 && load("rate_limit_ipv6_prefix 129;") < 0);
    char many[2048] = "";
    for (int i = 0; i <= REALIP_MAX_FROM; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "real_ip_from 10.0.%d.0/24;", i);
    CHECK(load(many) < 0 && strstr(err, "too many"), "%s", err);
    CHECK(load("profiler_listen 0.0.0.0:6060 public;") == 0 && c.prof.listen_public == 1);
    CHECK(load("profiler_listen 0.0.0.0:6060 open;") < 0 && strstr(err, "public"), "%s", err);
    CHECK(load("profiler_auth_token_file tok;") == 0 &&
          !strcmp(c.prof.auth_token_file, "/srv/m/tok"));
}

static void test_rules(const char *dir)
{
    char tok[600], text[2048];

    /* public_url: every delivery but response. */
    CHECK(check("delivery log;") == -1 && strstr(err, "public_url"), "%s", err);
    CHECK(check("delivery outbox /tmp/o;") == -1 && strstr(err, "public_url"));
    CHECK(check("delivery smtp 127.0.0.1:25;") == -1 && strstr(err, "public_url"));
    CHECK(check("delivery response;") == 0, "%s", err);
    CHECK(check("public_url https://login.example.com;") == 0, "%s", err);
    CHECK(check("public_url http://127.0.0.1:8080/auth/;") == 0, "%s", err);
    CHECK(check("public_url login.example.com;") == -1 && strstr(err, "http(s)://"), "%s", err);
    CHECK(check("public_url https://;") == -1);
    CHECK(check("public_url https://a.example/?x=1;") == -1);
    CHECK(check("public_url https://evil@a.example;") == -1);
    CHECK(check("public_url \"https://a.example/ x\";") == -1);

    /* smtp_auth only with smtp_starttls required. */
    const char *u = "public_url https://a.example; delivery smtp 127.0.0.1:25; smtp_auth u p;";
    snprintf(text, sizeof text, "%s", u);
    CHECK(check(text) == -1 && strstr(err, "smtp_starttls required"), "%s", err);
    snprintf(text, sizeof text, "%s smtp_starttls on;", u);
    CHECK(check(text) == -1);
    snprintf(text, sizeof text, "%s smtp_starttls off;", u);
    CHECK(check(text) == -1);
    snprintf(text, sizeof text, "%s smtp_starttls required;", u);
    CHECK(check(text) == 0, "%s", err);

    /* The profiler off loopback: public, or a token. */
    const char *p = "public_url https://a.example;";
    snprintf(text, sizeof text, "%s profiler_listen 0.0.0.0:6060;", p);
    CHECK(check(text) == -1 && strstr(err, "profiler_auth_token_file") && strstr(err, "public"),
          "%s", err);
    snprintf(text, sizeof text, "%s profiler_listen *:6060;", p);
    CHECK(check(text) == -1);
    snprintf(text, sizeof text, "%s profiler_listen [::]:6060;", p);
    CHECK(check(text) == -1);
    snprintf(text, sizeof text, "%s profiler_listen 0.0.0.0:6060; profiler off;", p);
    CHECK(check(text) == 0, "a disabled profiler binds nothing");
    snprintf(text, sizeof text, "%s profiler_listen 127.0.0.2:6060;", p);
    CHECK(check(text) == 0);
    snprintf(text, sizeof text, "%s profiler_listen [::1]:6060;", p);
    CHECK(check(text) == 0);
    snprintf(text, sizeof text, "%s profiler_listen 0.0.0.0:6060 public;", p);
    CHECK(check(text) == 0);

    snprintf(tok, sizeof tok, "%s/token", dir);
    write_file(tok, "0123456789abcdef0123456789abcdef\n", 0600);
    snprintf(text, sizeof text, "%s profiler_listen 0.0.0.0:6060; profiler_auth_token_file %s;", p,
             tok);
    CHECK(check(text) == 0, "%s", err);
    CHECK(!strcmp(c.prof.auth_token, "0123456789abcdef0123456789abcdef"), "%s", c.prof.auth_token);
    {
        /* -T shows the file, never the token. */
        char out[400];
        snprintf(out, sizeof out, "%s/dump", dir);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        conf_dump(&c, fd);
        close(fd);
        FILE *f = fopen(out, "r");
        static char all[65536];
        size_t n = f ? fread(all, 1, sizeof all - 1, f) : 0;
        all[n] = 0;
        if (f)
            fclose(f);
        CHECK(strstr(all, "profiler_auth_token_file") && !strstr(all, "0123456789abcdef"));
        CHECK(strstr(all, "rate_limit_ipv6_prefix 64;") && strstr(all, "real_ip_header"));
        unlink(out);
    }
    write_file(tok, "short\n", 0600);
    CHECK(check(text) == -1 && strstr(err, "16 to 128"), "%s", err);
    write_file(tok, "", 0600);
    CHECK(check(text) == -1);
    write_file(tok, "0123456789abcdef 0123456789abcdef", 0600);
    CHECK(check(text) == -1 && strstr(err, "without spaces"), "%s", err);
    write_file(tok, "0123456789abcdef0123456789abcdef", 0604);
    CHECK(check(text) == -1 && strstr(err, "0600"), "%s", err);
    unlink(tok);
    CHECK(check(text) == -1 && strstr(err, "cannot open"), "%s", err);
}

/* cookie_secure auto follows public_url's scheme; on and off are kept. */
static void test_cookie_secure(void)
{
    CHECK(check("public_url https://login.example.com;") == 0 && c.auth.cookie_secure == 1,
          "auto with https: on");
    CHECK(check("public_url http://127.0.0.1:8080;") == 0 && c.auth.cookie_secure == 0,
          "auto with http: off");
    CHECK(check("public_url https://login.example.com;\ncookie_secure off;") == 0 &&
              c.auth.cookie_secure == 0,
          "an explicit off is kept (and warned of)");
    CHECK(check("public_url http://127.0.0.1:8080;\ncookie_secure on;") == 0 &&
          c.auth.cookie_secure == 1);
    CHECK(load("cookie_secure maybe;") < 0 && strstr(err, "on, off or auto"), "%s", err);
}

/* real_ip_from that covers every address (0.0.0.0/0, ::/0) lets any
 * client name its own address in the header: served, and warned of. */
static void test_real_ip_everyone(const char *dir)
{
    static const struct {
        const char *conf;
        int warned;
    } cases[] = {
        {"real_ip_from 0.0.0.0/0;", 1},
        {"real_ip_from ::/0;", 1},
        {"real_ip_from 10.0.0.0/8;\nreal_ip_from 0.0.0.0/0;", 1},
        {"real_ip_from 127.0.0.1;", 0},
        {"real_ip_from 10.0.0.0/8;", 0},
        {"real_ip_from ::1;\nreal_ip_from fd00::/8;", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[256];
        snprintf(text, sizeof text, "public_url http://127.0.0.1:8080;\n%s", cases[i].conf);
        int warned = warns(dir, text, "every address");
        CHECK(warned == cases[i].warned, "%s: warned %d", cases[i].conf, warned);
    }
}

/* delivery smtp with a From no mailbox will take (the default's
 * @localhost, no domain at all): served, and warned of. */
static void test_smtp_from(const char *dir)
{
    static const struct {
        const char *conf;
        int warned;
    } cases[] = {
        {"delivery smtp 127.0.0.1:25;", 1},
        {"delivery smtp 127.0.0.1:25;\nsmtp_from \"magicd <login@localhost>\";", 1},
        {"delivery smtp 127.0.0.1:25;\nsmtp_from notanaddress;", 1},
        {"delivery smtp 127.0.0.1:25;\nsmtp_from \"x <login@example>\";", 1},
        {"delivery smtp 127.0.0.1:25;\nsmtp_from \"magicd <login@example.com>\";", 0},
        {"delivery smtp 127.0.0.1:25;\nsmtp_from login@example.com;", 0},
        {"delivery log;", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[256];
        snprintf(text, sizeof text, "public_url http://127.0.0.1:8080;\n%s", cases[i].conf);
        int warned = warns(dir, text, "smtp_from");
        CHECK(warned == cases[i].warned, "%s: warned %d", cases[i].conf, warned);
    }
}

/* delivery log behind an https public_url (a served site, not make run):
 * the links go to the error log and nobody gets a mail. Served, warned. */
static void test_delivery_log(const char *dir)
{
    static const struct {
        const char *conf;
        int warned;
    } cases[] = {
        {"public_url https://login.example.com;\ndelivery log;", 1},
        {"public_url https://login.example.com;", 1},
        {"public_url http://127.0.0.1:8080;\ndelivery log;", 0},
        {"public_url https://login.example.com;\ndelivery smtp 127.0.0.1:25;\n"
         "smtp_from login@example.com;",
         0},
        {"public_url https://login.example.com;\ndelivery outbox /tmp/o.jsonl;", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int warned = warns(dir, cases[i].conf, "delivery log");
        CHECK(warned == cases[i].warned, "%s: warned %d", cases[i].conf, warned);
    }
}

/* smtp_auth's password in a config file others may read: served, and
 * warned of (the installed file is 0644). */
static void test_smtp_auth_file(const char *dir)
{
    char path[256], conf[256], buf[4096];
    snprintf(path, sizeof path, "%s/warn.log", dir);
    snprintf(conf, sizeof conf, "%s/auth.conf", dir);
    static const struct {
        mode_t mode;
        int auth, warned;
    } cases[] = {{0644, 1, 1}, {0604, 1, 1}, {0640, 1, 0}, {0600, 1, 0}, {0644, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "public_url http://127.0.0.1:8080;\ndelivery smtp 127.0.0.1:25;\n"
                 "smtp_from login@example.com;\nsmtp_starttls required;\n%s",
                 cases[i].auth ? "smtp_auth user pass;\n" : "");
        write_file(conf, text, cases[i].mode);
        unlink(path);
        CHECK(log_open(path, MG_LOG_NOTICE) == 0, "log_open");
        conf_defaults(&c);
        err[0] = 0;
        CHECK(conf_load(&c, conf, err, sizeof err) == 0 && conf_check(&c, err, sizeof err) == 0,
              "%s", err);
        log_open("stderr", MG_LOG_NOTICE);
        buf[0] = 0;
        FILE *f = fopen(path, "r");
        if (f) {
            buf[fread(buf, 1, sizeof buf - 1, f)] = 0;
            fclose(f);
        }
        int warned = strstr(buf, "smtp_auth") != NULL;
        CHECK(warned == cases[i].warned, "mode %o auth %d: warned %d: %s", cases[i].mode,
              cases[i].auth, warned, buf);
    }
    unlink(conf);
    unlink(path);
}

/* allowed_return_urls whose host any attacker can have: "*" alone (any
 * host), or "*" glued to a name ("*example.com" takes evilexample.com).
 * Served, and warned of. */
static void test_return_url_hosts(const char *dir)
{
    static const struct {
        const char *pats;
        int warned;
    } cases[] = {
        {"https://*/*", 1},
        {"http://*", 1},
        {"https://*:8443/app/*", 1},
        {"https://*example.com/*", 1},
        {"https://app.example.com/* https://*example.org", 1},
        {"https://*.example.com/*", 0},
        {"https://app.example.com", 0},
        {"http://127.0.0.1:*/app/*", 0},
        {"/app/*", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text, "public_url http://127.0.0.1:8080;\nallowed_return_urls %s;",
                 cases[i].pats);
        int warned = warns(dir, text, "allowed_return_urls");
        CHECK(warned == cases[i].warned, "%s: warned %d", cases[i].pats, warned);
    }
}

int main(void)
{
    char dir[] = "/tmp/magicd-confcheck-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    umask(022);
    test_directives();
    test_rules(dir);
    test_cookie_secure();
    test_real_ip_everyone(dir);
    test_smtp_from(dir);
    test_delivery_log(dir);
    test_smtp_auth_file(dir);
    test_return_url_hosts(dir);
    rmdir(dir);
    return unit_done("test_conf_check");
}
