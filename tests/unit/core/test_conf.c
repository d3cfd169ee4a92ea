/*
 * test_conf.c - the nginx-style configuration parser: values, defaults,
 * include, and errors that name FILE:LINE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conf.h"
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

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    CHECK(conf_parse_duration_ms("15m") == 900000, "15m");
    CHECK(conf_parse_duration_ms("500ms") == 500, "500ms");
    CHECK(conf_parse_duration_ms("10") == 10000, "bare seconds");
    CHECK(conf_parse_duration_ms("1h30m") == 5400000, "1h30m");
    CHECK(conf_parse_duration_ms("1x") == -1, "bad unit");
    CHECK(conf_parse_duration_ms("") == -1, "empty");
    CHECK(conf_parse_size("512k") == 524288, "512k");
    CHECK(conf_parse_size("1m") == 1048576, "1m");
    CHECK(conf_parse_size("64") == 64, "64");
    CHECK(conf_parse_size("1q") == -1, "bad size");
    conf_addr_t a;
    CHECK(conf_parse_addr("127.0.0.1:8080", &a) == 0 && !strcmp(a.host, "127.0.0.1") &&
              !strcmp(a.port, "8080"),
          "ipv4");
    CHECK(conf_parse_addr("[::1]:6060", &a) == 0 && !strcmp(a.host, "::1"), "ipv6");
    CHECK(conf_parse_addr("8080", &a) == 0 && !strcmp(a.host, "*"), "port only");
    CHECK(conf_parse_addr("h:99999", &a) == -1, "port range");

    /* an empty file is valid and means the defaults */
    CHECK(load("") == 0, "empty: %s", err);
    CHECK(c.auth.link_ttl_ms == 15 * 60000 && c.auth.session_ttl_ms == 60 * 60000, "ttl defaults");
    CHECK(c.proc.worker_connections == 1024 && c.prof.hz == 100, "defaults");
    CHECK(c.smtp.connections == 1, "one SMTP session by default: %d", c.smtp.connections);
    CHECK(c.prof.heap_sample_bytes == 512 * 1024, "heap default");
    CHECK(!strcmp(c.auth.users_db, "/srv/m/run/users.db"), "relative path resolved: %s",
          c.auth.users_db);
    CHECK(!strcmp(c.auth.default_return_url, "/secure/1") && c.auth.nallowed_return_urls == 0 &&
              c.auth.nallow_email_domains == 0 && !c.auth.cookie_domain[0],
          "access and return-to defaults");

    /* access rules and return-to: repeatable, checked, lower-cased */
    CHECK(load("allowed_return_urls https://*.example.com/* /app/*;\n"
               "allowed_return_urls http://127.0.0.1:*;\n"
               "allow_email_domain Example.COM corp.example.org;\nallow_email_domain x.io;\n"
               "default_return_url HTTPS://App.Example.com;\ncookie_domain .Example.com;\n") == 0,
          "access: %s", err);
    CHECK(c.auth.nallowed_return_urls == 3 &&
          !strcmp(c.auth.allowed_return_urls[2], "http://127.0.0.1:*"));
    CHECK(c.auth.nallow_email_domains == 3 &&
          !strcmp(c.auth.allow_email_domains[0], "example.com") &&
          !strcmp(c.auth.allow_email_domains[2], "x.io"));
    CHECK(!strcmp(c.auth.default_return_url, "https://app.example.com/"), "%s",
          c.auth.default_return_url);
    CHECK(!strcmp(c.auth.cookie_domain, "example.com"), "%s", c.auth.cookie_domain);
    CHECK(load("allowed_return_urls //evil.com;\n") < 0 && strstr(err, "allowed_return_urls") &&
              strstr(err, "t.conf:1"),
          "%s", err);
    CHECK(load("default_return_url https:evil.com;\n") < 0 && strstr(err, "default_return_url"),
          "%s", err);
    CHECK(load("allow_email_domain @evil.com;\n") < 0 && strstr(err, "allow_email_domain"), "%s",
          err);
    CHECK(load("cookie_domain a..b;\n") < 0 && strstr(err, "cookie_domain"), "%s", err);
    CHECK(load("public_url https://login.other.org;\ncookie_domain example.com;\n") < 0 &&
              strstr(err, "does not cover"),
          "%s", err);
    CHECK(load("public_url https://login.example.com:8443/x;\ncookie_domain example.com;\n") == 0,
          "%s", err);

    CHECK(load("worker_processes 3;\n# comment ; here\nlisten 127.0.0.1:9000;\nlisten [::1]:9001;\n"
               "link_ttl 5m; session_ttl 2h;\ndelivery outbox /var/spool/out.jsonl;\n"
               "access_log off;\nerror_log stderr debug;\nrate_limit_email 3 10m;\n"
               "rate_limit_ip 100 1m;\nsmtp_from \"Magic Login <a@b.c>\";\n"
               "block_profile_rate 10us;\nprofile_continuous on;\nsignup on;\n") == 0,
          "full: %s", err);
    CHECK(c.proc.worker_processes == 3 && !c.proc.worker_processes_auto, "workers");
    CHECK(c.http.nlisten == 2 && !strcmp(c.http.listen[1].host, "::1"),
          "listen list replaces default");
    CHECK(c.auth.link_ttl_ms == 300000 && c.auth.session_ttl_ms == 7200000, "ttls");
    CHECK(c.smtp.delivery == DELIVERY_OUTBOX &&
              !strcmp(c.smtp.delivery_arg, "/var/spool/out.jsonl"),
          "outbox");
    CHECK(!strcmp(c.log.access_log, "off"), "access off");
    CHECK(c.log.error_log_level == MG_LOG_DEBUG, "level");
    CHECK(c.rate.email_n == 3 && c.rate.email_window_ms == 600000, "email rate");
    CHECK(c.rate.ip_n == 100, "ip rate");
    CHECK(!strcmp(c.smtp.from, "Magic Login <a@b.c>"), "quoted: %s", c.smtp.from);
    CHECK(c.prof.block_profile_rate_ns == 10000, "block rate");
    CHECK(c.prof.continuous == 1 && c.auth.signup == 1, "flags");

    /* errors name the file and line */
    CHECK(load("worker_processes 2;\n\nbogus 1;\n") < 0 &&
              strstr(err, "unknown directive \"bogus\" in t.conf:3"),
          "unknown: %s", err);
    CHECK(load("link_ttl 5x;") < 0 && strstr(err, "invalid time \"5x\"") && strstr(err, "t.conf:1"),
          "bad time: %s", err);
    CHECK(load("signup maybe;") < 0 && strstr(err, "must be \"on\" or \"off\""), "flag: %s", err);
    CHECK(load("worker_processes;") < 0 && strstr(err, "invalid number of arguments"), "argc: %s",
          err);
    CHECK(load("listen 1.2.3.4:8080") < 0 && strstr(err, "unexpected end of file"), "eof: %s", err);
    CHECK(load("delivery carrier-pigeon;") < 0 && strstr(err, "delivery"), "delivery: %s", err);
    CHECK(load("worker_connections 5;") < 0 && strstr(err, "16..1000000"), "range: %s", err);
    CHECK(load("smtp_connections 0;") < 0 && strstr(err, "1..16"), "sessions: %s", err);
    CHECK(load("smtp_connections 17;") < 0 && strstr(err, "1..16"), "sessions: %s", err);
    CHECK(load("smtp_connections 4;") == 0 && c.smtp.connections == 4, "sessions: %s", err);
    CHECK(load("server {") < 0 && strstr(err, "unexpected \"{\""), "block: %s", err);
    CHECK(load("listen 8080;\nlisten 127.0.0.1:9;\nlisten *:8080;") < 0 &&
              strstr(err, "duplicate listen") && strstr(err, "t.conf:3"),
          "duplicate listen: %s", err);
    /* found by the fuzzer: a statement with more words than argv holds */
    CHECK(load("a b c d e f g h i j k;") < 0 && strstr(err, "too many arguments"), "args: %s", err);
    CHECK(load("smtp_from \"unterminated;") < 0 && strstr(err, "unterminated"), "quote: %s", err);
    /* A quote left open in a real file runs into the lines after it, longer
     * than any argument: said as the open quote, at its line (it was
     * "argument too long" at a line further down). */
    {
        static char text[8192];
        size_t n = (size_t)snprintf(text, sizeof text,
                                    "worker_processes 2;\nsmtp_from \"magicd <a@b.c>;\n");
        while (n + 64 < sizeof text)
            n += (size_t)snprintf(text + n, sizeof text - n, "%-60s\n", "keepalive_timeout 75s;");
        CHECK(load(text) < 0 && strstr(err, "unterminated quoted string") &&
                  strstr(err, "t.conf:2"),
              "long open quote: %s", err);
    }

    /* include: relative to the including file, globs, and errors in the
     * included file name that file */
    char dir[] = "/tmp/magicd-conf-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char p1[256], p2[256], p3[256], d2[256];
    snprintf(p1, sizeof p1, "%s/main.conf", dir);
    snprintf(d2, sizeof d2, "%s/conf.d", dir);
    mkdir(d2, 0755);
    snprintf(p2, sizeof p2, "%s/conf.d/a.conf", dir);
    snprintf(p3, sizeof p3, "%s/conf.d/b.conf", dir);
    write_file(p1, "worker_processes 1;\ninclude conf.d/*.conf;\nlink_ttl 1m;\n");
    write_file(p2, "signup on;\n");
    write_file(p3, "session_ttl 3h;\n");
    conf_defaults(&c);
    CHECK(conf_load(&c, p1, err, sizeof err) == 0, "include: %s", err);
    CHECK(c.auth.signup == 1 && c.auth.session_ttl_ms == 3 * 3600000 && c.auth.link_ttl_ms == 60000,
          "included values");
    CHECK(!strcmp(c.prefix, dir), "prefix is the file's directory: %s", c.prefix);
    write_file(p3, "\n\nnope on;\n");
    conf_defaults(&c);
    CHECK(conf_load(&c, p1, err, sizeof err) < 0 && strstr(err, "b.conf:3"), "nested error: %s",
          err);
    write_file(p1, "include missing.conf;\n");
    conf_defaults(&c);
    CHECK(conf_load(&c, p1, err, sizeof err) < 0 && strstr(err, "main.conf:1") &&
              strstr(err, "missing.conf"),
          "missing include: %s", err);
    write_file(p1, "include main.conf;\n");
    conf_defaults(&c);
    CHECK(conf_load(&c, p1, err, sizeof err) < 0 && strstr(err, "nested too deeply"),
          "include loop: %s", err);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    rmdir(d2);
    rmdir(dir);

    /* the shipped config parses and matches the documented defaults */
    conf_t shipped, defs;
    conf_defaults(&shipped);
    conf_defaults(&defs);
    snprintf(shipped.prefix, sizeof shipped.prefix, "/srv/m");
    snprintf(defs.prefix, sizeof defs.prefix, "/srv/m");
    CHECK(conf_load(&shipped, "conf/magicd.conf", err, sizeof err) == 0, "shipped: %s", err);
    CHECK(conf_load_string(&defs, "empty", "", err, sizeof err) == 0, "defaults");
    CHECK(shipped.auth.link_ttl_ms == defs.auth.link_ttl_ms &&
              shipped.prof.heap_sample_bytes == defs.prof.heap_sample_bytes &&
              shipped.prof.block_profile_rate_ns == defs.prof.block_profile_rate_ns &&
              shipped.prof.mutex_profile_fraction == defs.prof.mutex_profile_fraction &&
              shipped.rate.email_n == defs.rate.email_n &&
              shipped.http.keepalive_timeout_ms == defs.http.keepalive_timeout_ms &&
              shipped.http.max_body_size == defs.http.max_body_size,
          "shipped file documents the defaults");
    if (unit_failures)
        fprintf(stderr, "%d failures\n", unit_failures);
    else
        printf("conf: all checks passed\n");
    return unit_failures != 0;
}
