/*
 * test_static.c - the /static/ set and the html_root check.
 *
 * static_load reads a real directory: regular files are in the set with
 * their bytes, content type and a strong ETag that follows the bytes; dot
 * files and subdirectories are not; a name that is not in the set ("..",
 * a prefix, a path) is not found; a file too large, too many files, or a
 * missing directory is an error naming it (the alternative is a page whose
 * script silently 404s). app_check_files checks a whole html_root: pages,
 * partials, the static directory, and every /static/NAME a page refers to,
 * and that the access log can be opened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/check.h"
#include "app/static.h"
#include "core/conf.h"
#include "tests/unit/unit.h"

static char dir[] = "/tmp/magicd-test-static.XXXXXX";

static void put(const char *sub, const char *name, const char *text, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "create %s", path);
    if (f) {
        fwrite(text, 1, n, f);
        fclose(f);
    }
}
#define PUT(sub, name, lit) put(sub, name, lit, sizeof lit - 1)

static const static_file_t *find(const static_set_t *s, const char *name)
{
    return static_find(s, name, strlen(name));
}

static void test_load(void)
{
    char sdir[256];
    snprintf(sdir, sizeof sdir, "%s/static", dir);
    mkdir(sdir, 0755);
    PUT("static", "app.js", "console.log(1);\n");
    PUT("static", "style.css", "body{}");
    PUT("static", "logo.svg", "<svg/>");
    PUT("static", "data.bin", "\x00\x01\x02");
    PUT("static", ".secret", "no");
    char sub[300];
    snprintf(sub, sizeof sub, "%s/nested", sdir);
    mkdir(sub, 0755);
    PUT("static/nested", "deep.js", "no");

    static_set_t s;
    char err[512] = "";
    CHECK(static_load(&s, sdir, err, sizeof err) == 0, "load: %s", err);
    CHECK(s.n == 4, "four files: %d", s.n);
    const static_file_t *js = find(&s, "app.js"), *css = find(&s, "style.css"),
                        *svg = find(&s, "logo.svg"), *bin = find(&s, "data.bin");
    CHECK(js && js->len == 16 && memcmp(js->data, "console.log(1);\n", 16) == 0, "app.js bytes");
    CHECK(js && strcmp(js->ctype, "text/javascript; charset=utf-8") == 0);
    CHECK(css && strcmp(css->ctype, "text/css; charset=utf-8") == 0);
    CHECK(svg && strcmp(svg->ctype, "image/svg+xml") == 0);
    CHECK(bin && bin->len == 3 && bin->data[0] == 0 &&
              strcmp(bin->ctype, "application/octet-stream") == 0,
          "binary, unknown type");
    CHECK(js && strlen(js->etag) == 18 && js->etag[0] == '"' && js->etag[17] == '"',
          "strong quoted ETag: %s", js ? js->etag : "");
    CHECK(js && css && strcmp(js->etag, css->etag) != 0, "ETags differ with the bytes");
    static const char *const absent[] = {
        ".secret", "nested", "nested/deep.js", "../static/app.js", "app.j",
        "app.js/", "",       "APP.JS"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
        CHECK(find(&s, absent[i]) == NULL, "\"%s\" is not served", absent[i]);
    char etag[24];
    snprintf(etag, sizeof etag, "%s", js ? js->etag : "");
    static_free(&s);
    CHECK(s.n == 0 && s.files == NULL, "freed");

    /* Same bytes, same ETag after a reload; new bytes, a new one. */
    CHECK(static_load(&s, sdir, err, sizeof err) == 0);
    CHECK(find(&s, "app.js") && strcmp(find(&s, "app.js")->etag, etag) == 0, "stable ETag");
    static_free(&s);
    PUT("static", "app.js", "console.log(2);\n");
    CHECK(static_load(&s, sdir, err, sizeof err) == 0);
    CHECK(find(&s, "app.js") && strcmp(find(&s, "app.js")->etag, etag) != 0, "ETag follows bytes");
    static_free(&s);
}

static void test_errors(void)
{
    static_set_t s;
    char err[512] = "";
    char sdir[256];
    snprintf(sdir, sizeof sdir, "%s/missing", dir);
    CHECK(static_load(&s, sdir, err, sizeof err) < 0 && strstr(err, sdir) &&
              strstr(err, "No such file"),
          "missing directory: %s", err);

    /* A file over the limit is an error, not a silent 404 later. */
    snprintf(sdir, sizeof sdir, "%s/big", dir);
    mkdir(sdir, 0755);
    char *big = calloc(1, STATIC_MAX_SIZE + 1);
    put("big", "huge.js", big, STATIC_MAX_SIZE + 1);
    free(big);
    CHECK(static_load(&s, sdir, err, sizeof err) < 0 && strstr(err, "huge.js") &&
              strstr(err, "larger"),
          "too large: %s", err);

    /* More files than the table holds. */
    snprintf(sdir, sizeof sdir, "%s/many", dir);
    mkdir(sdir, 0755);
    for (int i = 0; i <= STATIC_MAX_FILES; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%02d.txt", i);
        PUT("many", name, "x");
    }
    CHECK(static_load(&s, sdir, err, sizeof err) < 0 && strstr(err, "more than"), "too many: %s",
          err);

    /* An unreadable file (not testable as root, who reads everything). */
    if (geteuid() != 0) {
        snprintf(sdir, sizeof sdir, "%s/locked", dir);
        mkdir(sdir, 0755);
        PUT("locked", "app.js", "x");
        char p[300];
        snprintf(p, sizeof p, "%s/app.js", sdir);
        chmod(p, 0);
        CHECK(static_load(&s, sdir, err, sizeof err) < 0 && strstr(err, "app.js"), "unreadable: %s",
              err);
    }
}

static void test_check_files(void)
{
    conf_t *c = calloc(1, sizeof *c);
    conf_defaults(c);
    char err[1024] = "";
    /* An access log in a directory that does not exist. */
    snprintf(c->http.html_root, sizeof c->http.html_root, "html");
    snprintf(c->log.access_log, sizeof c->log.access_log, "%s/no/such/access.log", dir);
    CHECK(app_check_files(c, 1, err, sizeof err) < 0 && strstr(err, "access log") &&
              strstr(err, "No such file"),
          "access log: %s", err);
    snprintf(c->log.access_log, sizeof c->log.access_log, "%s/access.log", dir);
    CHECK(app_check_files(c, 1, err, sizeof err) == 0, "access log: %s", err);
    struct stat st;
    CHECK(stat(c->log.access_log, &st) == 0, "created, as a worker would");
    /* Without create (magicd -t): asked, never made. */
    snprintf(c->log.access_log, sizeof c->log.access_log, "%s/t-access.log", dir);
    CHECK(app_check_files(c, 0, err, sizeof err) == 0, "access log: %s", err);
    CHECK(stat(c->log.access_log, &st) < 0, "magicd -t created the access log");
    snprintf(c->log.access_log, sizeof c->log.access_log, "%s/no/such/access.log", dir);
    CHECK(app_check_files(c, 0, err, sizeof err) < 0 && strstr(err, "cannot create it there"),
          "access log: %s", err);
    c->smtp.delivery = DELIVERY_SMTP;
    snprintf(c->log.access_log, sizeof c->log.access_log, "off");
    snprintf(c->smtp.spool, sizeof c->smtp.spool, "%s/t-spool", dir);
    CHECK(app_check_files(c, 0, err, sizeof err) == 0, "spool: %s", err);
    CHECK(stat(c->smtp.spool, &st) < 0, "magicd -t made the spool");
    snprintf(c->smtp.spool, sizeof c->smtp.spool, "%s/no/such/spool", dir);
    CHECK(app_check_files(c, 0, err, sizeof err) < 0 && strstr(err, "smtp_spool"), "spool: %s",
          err);
    c->smtp.delivery = DELIVERY_OUTBOX;
    snprintf(c->smtp.delivery_arg, sizeof c->smtp.delivery_arg, "%s/t-outbox.jsonl", dir);
    CHECK(app_check_files(c, 0, err, sizeof err) == 0, "outbox: %s", err);
    CHECK(stat(c->smtp.delivery_arg, &st) < 0, "magicd -t created the outbox");
    snprintf(c->log.access_log, sizeof c->log.access_log, "off");
    /* The shipped tree passes. */
    snprintf(c->http.html_root, sizeof c->http.html_root, "html");
    CHECK(app_check_files(c, 1, err, sizeof err) == 0, "shipped html/: %s", err);

    /* A copy of it whose page refers to a script that is not there. */
    char root[256];
    snprintf(root, sizeof root, "%s/site", dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp -r html %s", root);
    CHECK(system(cmd) == 0);
    snprintf(c->http.html_root, sizeof c->http.html_root, "%s", root);
    CHECK(app_check_files(c, 1, err, sizeof err) == 0, "copy passes: %s", err);
    char js[300];
    snprintf(js, sizeof js, "%s/static/app.js", root);
    CHECK(unlink(js) == 0);
    CHECK(app_check_files(c, 1, err, sizeof err) < 0 && strstr(err, "/static/app.js") &&
              strstr(err, ".html"),
          "a missing script a page refers to: %s", err);
    snprintf(cmd, sizeof cmd, "rm -rf %s/static", root);
    CHECK(system(cmd) == 0);
    CHECK(app_check_files(c, 1, err, sizeof err) < 0 && strstr(err, "static directory"),
          "no static directory: %s", err);
    snprintf(c->http.html_root, sizeof c->http.html_root, "%s/nowhere", dir);
    CHECK(app_check_files(c, 1, err, sizeof err) < 0 && strstr(err, "index.html"),
          "wrong html_root: %s", err);
    free(c);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_load();
    test_errors();
    test_check_files();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return unit_done("test_static");
}
