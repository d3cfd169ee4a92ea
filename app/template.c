/*
 * template.c - page templates (see template.h).
 *
 * A template is read once per worker: its partials spliced in, each line's
 * indentation dropped, then cut into text and placeholder segments that
 * tpl_render walks for every page. The indentation is for whoever edits
 * the files; HTML renders a run of blanks after a line break the same
 * without it (there is no <pre> or <textarea> in the pages), and a
 * reply's bytes cost CPU on their way out (the copies into the reply and
 * the kernel's send path: 0.4-0.8 ns a byte in the 0.5 CPU box,
 * docs/results.md), so they are not sent: 90 of the 1,425 bytes of the
 * answer to POST /magic/generate were indentation.
 */
#include "app/template.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tpl_seg {
    const char *p;
    size_t n;
    int is_var;
};

static const char *const files[TPL_COUNT] = {
    [TPL_INDEX] = "index.html",   [TPL_LOGIN] = "login.html",   [TPL_SENT] = "sent.html",
    [TPL_VERIFY] = "verify.html", [TPL_SECURE] = "secure.html", [TPL_ERROR] = "error.html",
};

int tpl_parse(tpl_t *t, char *text, char *err, size_t errsz)
{
    int cap = 16;
    t->text = text;
    t->nsegs = 0;
    t->segs = malloc((size_t)cap * sizeof *t->segs);
    if (!t->segs)
        return -1;
    const char *p = text;
    while (*p) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (t->nsegs + 2 > cap) {
            cap *= 2;
            tpl_seg_t *s = realloc(t->segs, (size_t)cap * sizeof *s);
            if (!s)
                return -1;
            t->segs = s;
        }
        if (!open || !close) {
            t->segs[t->nsegs++] = (tpl_seg_t){p, strlen(p), 0};
            break;
        }
        if (open > p)
            t->segs[t->nsegs++] = (tpl_seg_t){p, (size_t)(open - p), 0};
        const char *name = open + 2;
        size_t n = (size_t)(close - name);
        for (size_t i = 0; i < n; i++)
            if (!(name[i] == '_' || (name[i] >= 'a' && name[i] <= 'z'))) {
                snprintf(err, errsz, "bad placeholder \"{{%.*s}}\"", (int)n, name);
                return -1;
            }
        t->segs[t->nsegs++] = (tpl_seg_t){name, n, 1};
        p = close + 2;
    }
    return 0;
}

static char *read_file(const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "cannot open template \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 && n < (1 << 20) ? malloc((size_t)n + 1) : NULL;
    if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) {
        snprintf(err, errsz, "cannot read template \"%s\"", path);
        free(s);
        fclose(f);
        return NULL;
    }
    fclose(f);
    s[n] = 0;
    return s;
}

/* Splice partials: each `{{> name}}` line becomes the text of ROOT/_name.html
 * (the shared <head>, scripts and brand of the pages). One level deep: a
 * partial's own placeholders are ordinary {{name}}s. Returns a new string. */
static char *expand_partials(const char *root, char *text, char *err, size_t errsz)
{
    buf_t out = {0};
    const char *p = text;
    for (;;) {
        const char *open = strstr(p, "{{> ");
        if (!open)
            break;
        const char *close = strstr(open, "}}");
        size_t n = close ? (size_t)(close - open - 4) : 0;
        if (!close || n == 0 || n > 32) {
            snprintf(err, errsz, "bad partial in a template under \"%s\"", root);
            buf_free(&out);
            return NULL;
        }
        char path[1200];
        snprintf(path, sizeof path, "%s/_%.*s.html", root, (int)n, open + 4);
        char *part = read_file(path, err, errsz);
        if (!part) {
            buf_free(&out);
            return NULL;
        }
        const char *after = close + 2;
        if (*after == '\n') /* the partial brings its own line ends */
            after++;
        buf_append(&out, p, (size_t)(open - p));
        buf_puts(&out, part);
        free(part);
        p = after;
    }
    if (buf_puts(&out, p) < 0 || buf_append(&out, "", 1) < 0) {
        buf_free(&out);
        snprintf(err, errsz, "out of memory loading templates");
        return NULL;
    }
    return out.data;
}

/* Drop the blanks (spaces, tabs) that start each line of text, in place. */
static void drop_indent(char *text)
{
    char *w = text;
    int bol = 1; /* at the beginning of a line */
    for (const char *r = text; *r; r++) {
        if (bol && (*r == ' ' || *r == '\t'))
            continue;
        bol = *r == '\n';
        *w++ = *r;
    }
    *w = 0;
}

int tpl_load_set(tpl_set_t *set, const char *root, char *err, size_t errsz)
{
    memset(set, 0, sizeof *set);
    for (int i = 0; i < TPL_COUNT; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", root, files[i]);
        char *raw = read_file(path, err, errsz);
        char *text = raw ? expand_partials(root, raw, err, errsz) : NULL;
        free(raw);
        if (!text) {
            tpl_free_set(set);
            return -1;
        }
        drop_indent(text);
        char why[256] = "out of memory";
        if (tpl_parse(&set->t[i], text, why, sizeof why) < 0) {
            snprintf(err, errsz, "%s in template \"%s\"", why, path);
            if (!set->t[i].text)
                free(text);
            tpl_free_set(set);
            return -1;
        }
    }
    return 0;
}

const char *tpl_file_name(int i)
{
    return i >= 0 && i < TPL_COUNT ? files[i] : "?";
}

void tpl_free_set(tpl_set_t *set)
{
    for (int i = 0; i < TPL_COUNT; i++) {
        free(set->t[i].text);
        free(set->t[i].segs);
    }
    memset(set, 0, sizeof *set);
}

/* Which bytes html_escape replaces, and with what. A page's values are
 * mostly tokens and addresses with nothing to escape, so the scan is one
 * table load a byte and the text goes out in as few appends as possible. */
static const char *const html_rep[256] = {
    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
};
static const uint8_t html_rep_len[256] = {
    ['&'] = 5, ['<'] = 4, ['>'] = 4, ['"'] = 6, ['\''] = 5,
};

int html_escape(buf_t *out, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!html_rep_len[ch])
            continue;
        if (buf_append(out, s + start, i - start) < 0 ||
            buf_append(out, html_rep[ch], html_rep_len[ch]) < 0)
            return -1;
        start = i + 1;
    }
    return buf_append(out, s + start, n - start);
}

int tpl_render(const tpl_t *t, buf_t *out, const tpl_var_t *vars, int nvars)
{
    for (int i = 0; i < t->nsegs; i++) {
        const tpl_seg_t *s = &t->segs[i];
        if (!s->is_var) {
            if (buf_append(out, s->p, s->n) < 0)
                return -1;
            continue;
        }
        for (int k = 0; k < nvars; k++) {
            /* The placeholder's bytes, then the end of name (strncmp stops
             * at a shorter name's NUL): no strlen per lookup. */
            if (strncmp(vars[k].name, s->p, s->n) || vars[k].name[s->n])
                continue;
            const char *v = vars[k].value ? vars[k].value : "";
            if ((vars[k].raw ? buf_puts(out, v) : html_escape(out, v, strlen(v))) < 0)
                return -1;
            break;
        }
    }
    return 0;
}
