/*
 * test_template.c - page templates: parsing into text and {{name}}
 * segments, rendering with escaping (and raw values for markup the code
 * built), the escaping against a byte-at-a-time reference, placeholders with no value, bad
 * placeholders, partials spliced from _NAME.html, and loading a whole tree: the shipped html/ and a
 * temporary one with a page or a partial missing, whose errors name the
 * file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/template.h"
#include "core/buf.h"
#include "tests/unit/unit.h"

static char dir[] = "/tmp/magicd-test-template.XXXXXX";

static int eq(const buf_t *b, const char *s)
{
    return b->len == strlen(s) && memcmp(b->data, s, b->len) == 0;
}

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "create %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_render(void)
{
    char err[256] = "";
    tpl_t t;
    char *text = strdup("<p>Hello {{name}}, {{markup}}! {{missing}}{{name}}</p>\n{{ not a var");
    CHECK(tpl_parse(&t, text, err, sizeof err) == 0, "parse: %s", err);
    buf_t out = {0};
    tpl_var_t vars[] = {{"name", "<b>&\"x'</b>", 0}, {"markup", "<i>ok</i>", 1}};
    CHECK(tpl_render(&t, &out, vars, 2) == 0);
    CHECK(eq(&out, "<p>Hello &lt;b&gt;&amp;&quot;x&#39;&lt;/b&gt;, <i>ok</i>! "
                   "&lt;b&gt;&amp;&quot;x&#39;&lt;/b&gt;</p>\n{{ not a var"),
          "render: %.*s", (int)out.len, out.data);
    /* No values at all: placeholders vanish, text stays. */
    buf_reset(&out);
    CHECK(tpl_render(&t, &out, NULL, 0) == 0 && eq(&out, "<p>Hello , ! </p>\n{{ not a var"),
          "no values: %.*s", (int)out.len, out.data);
    /* A NULL value is an empty one. */
    buf_reset(&out);
    tpl_var_t nul[] = {{"name", NULL, 0}};
    CHECK(tpl_render(&t, &out, nul, 1) == 0 && eq(&out, "<p>Hello , ! </p>\n{{ not a var"));
    /* Rendering into a capped buffer fails instead of overflowing. */
    buf_t small = {.max = 8};
    CHECK(tpl_render(&t, &small, vars, 2) == -1, "capped output");
    buf_free(&small);
    free(t.text);
    free(t.segs);
    buf_free(&out);

    /* A template without placeholders, and an empty one. */
    char *plain = strdup("just text");
    CHECK(tpl_parse(&t, plain, err, sizeof err) == 0);
    buf_t o2 = {0};
    CHECK(tpl_render(&t, &o2, vars, 2) == 0 && eq(&o2, "just text"));
    free(t.text);
    free(t.segs);
    char *empty = strdup("");
    CHECK(tpl_parse(&t, empty, err, sizeof err) == 0);
    buf_reset(&o2);
    CHECK(tpl_render(&t, &o2, vars, 2) == 0 && o2.len == 0);
    free(t.text);
    free(t.segs);
    buf_free(&o2);
}

static void test_bad_placeholder(void)
{
    static const char *const bad[] = {"{{Name}}", "{{na-me}}", "{{na me}}", "{{x1}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256] = "";
        tpl_t t = {0};
        char *text = strdup(bad[i]);
        CHECK(tpl_parse(&t, text, err, sizeof err) < 0 && strstr(err, "bad placeholder"), "%s: %s",
              bad[i], err);
        free(t.segs);
        free(text);
    }
}

static void test_escape(void)
{
    buf_t b = {0};
    CHECK(html_escape(&b, "a<b>c&d\"e'f", 11) == 0 && eq(&b, "a&lt;b&gt;c&amp;d&quot;e&#39;f"));
    buf_reset(&b);
    CHECK(html_escape(&b, "plain", 5) == 0 && eq(&b, "plain"));
    buf_reset(&b);
    CHECK(html_escape(&b, "<<", 1) == 0 && eq(&b, "&lt;"), "only n bytes");
    buf_free(&b);
}

/* The escaping as it was first written, one switch a byte: the table that
 * replaced it must agree with it on every byte value, wherever the byte
 * sits, and on random strings of any bytes (NUL, >= 0x80 and the five
 * markup characters included). */
static void ref_escape(buf_t *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&':
            buf_puts(out, "&amp;");
            break;
        case '<':
            buf_puts(out, "&lt;");
            break;
        case '>':
            buf_puts(out, "&gt;");
            break;
        case '"':
            buf_puts(out, "&quot;");
            break;
        case '\'':
            buf_puts(out, "&#39;");
            break;
        default:
            buf_append(out, s + i, 1);
        }
    }
}

static int same(const buf_t *a, const buf_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void test_escape_reference(void)
{
    buf_t got = {0}, want = {0};
    char s[40];
    for (int c = 0; c < 256; c++)
        for (size_t at = 0; at < 3; at++) {
            memset(s, 'x', 3);
            s[at] = (char)c;
            buf_reset(&got);
            buf_reset(&want);
            ref_escape(&want, s, 3);
            CHECK(html_escape(&got, s, 3) == 0 && same(&got, &want), "byte 0x%02x at %zu", c, at);
        }
    /* Random strings, half of them made of the bytes that matter: the
     * same output, and no quote or angle bracket left bare in it. */
    srand(7);
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand() % (int)sizeof s);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(round & 1 ? "<>&\"'`a\x00\x80\xff"[rand() % 10] : rand() % 256);
        buf_reset(&got);
        buf_reset(&want);
        ref_escape(&want, s, n);
        CHECK(html_escape(&got, s, n) == 0 && same(&got, &want), "round %d", round);
        for (size_t i = 0; i < got.len; i++) {
            char ch = got.data[i];
            CHECK(ch != '<' && ch != '>' && ch != '"' && ch != '\'', "round %d", round);
        }
    }
    buf_free(&got);
    buf_free(&want);
}

static const char *const pages[] = {"index.html",  "login.html",  "sent.html",
                                    "verify.html", "secure.html", "error.html"};

static void test_load_tree(void)
{
    put("_head.html", "<head>\n\t  <title>{{title}}</title>\n</head>\n");
    for (int i = 0; i < TPL_COUNT; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "<html>\n{{> head}}\n<body>\n    <p>%s {{msg}}  x</p>\n  \n</body></html>\n",
                 pages[i]);
        put(pages[i], text);
        CHECK(strcmp(tpl_file_name(i), pages[i]) == 0, "file name %d", i);
    }
    tpl_set_t set;
    char err[512] = "";
    CHECK(tpl_load_set(&set, dir, err, sizeof err) == 0, "load: %s", err);
    buf_t out = {0};
    tpl_var_t vars[] = {{"title", "T<", 0}, {"msg", "m", 0}};
    CHECK(tpl_render(&set.t[TPL_LOGIN], &out, vars, 2) == 0);
    CHECK(eq(&out, "<html>\n<head>\n<title>T&lt;</title>\n</head>\n<body>\n<p>login.html m  "
                   "x</p>\n\n</body></html>\n"),
          "partial spliced, its placeholders filled, indentation (only) dropped: %.*s",
          (int)out.len, out.data);
    buf_free(&out);
    tpl_free_set(&set);

    /* A page missing: the error names it. */
    char path[256], away[256];
    snprintf(path, sizeof path, "%s/verify.html", dir);
    snprintf(away, sizeof away, "%s/verify.away", dir);
    CHECK(rename(path, away) == 0);
    CHECK(tpl_load_set(&set, dir, err, sizeof err) < 0 && strstr(err, path), "missing page: %s",
          err);
    CHECK(rename(away, path) == 0);
    /* A partial missing. */
    snprintf(path, sizeof path, "%s/_head.html", dir);
    CHECK(unlink(path) == 0);
    CHECK(tpl_load_set(&set, dir, err, sizeof err) < 0 && strstr(err, "_head.html"),
          "missing partial: %s", err);
    put("_head.html", "<head></head>\n");
    /* A bad placeholder names the page it is in. */
    put("secure.html", "{{Bad}}");
    CHECK(tpl_load_set(&set, dir, err, sizeof err) < 0 && strstr(err, "secure.html") &&
              strstr(err, "bad placeholder"),
          "bad placeholder: %s", err);
    /* A malformed partial reference. */
    put("secure.html", "{{> }}");
    CHECK(tpl_load_set(&set, dir, err, sizeof err) < 0 && strstr(err, "bad partial"),
          "bad partial: %s", err);
    CHECK(tpl_load_set(&set, "/nonexistent-dir", err, sizeof err) < 0 && strstr(err, "index.html"),
          "no tree: %s", err);
}

static void test_shipped(void)
{
    /* The shipped pages (tests run from the repository root). */
    tpl_set_t set;
    char err[512] = "";
    CHECK(tpl_load_set(&set, "html", err, sizeof err) == 0, "html/: %s", err);
    buf_t out = {0};
    tpl_var_t vars[] = {{"csrf_token", "tok<en", 0}};
    CHECK(tpl_render(&set.t[TPL_LOGIN], &out, vars, 1) == 0);
    buf_append(&out, "", 1);
    CHECK(strstr(out.data, "tok&lt;en") && !strstr(out.data, "{{"),
          "login page renders the token escaped, no placeholder left");
    buf_free(&out);
    tpl_free_set(&set);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_render();
    test_bad_placeholder();
    test_escape();
    test_escape_reference();
    test_load_tree();
    test_shipped();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return unit_done("test_template");
}
