/*
 * static.c - /static/ files from memory (see static.h).
 *
 * The page assets are a handful of small files, so each worker reads them
 * once at start: serving them never touches the disk (no blocking read on
 * the event loop) and a request for anything else — "..", encoded slashes,
 * dot files — simply is not in the table. Each file gets a strong ETag from
 * a hash of its bytes, so browsers revalidate with 304s.
 */
#include "app/static.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STATIC_MAX_FILES 64
#define STATIC_MAX_SIZE (1 << 20)

struct static_file {
    char name[128];
    char *data;
    size_t len;
    const char *ctype;
    char etag[24];
};

static const char *ctype_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".html", "text/html; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"},
        {".json", "application/json"},
        {".woff2", "font/woff2"},
    };
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

int static_load(static_set_t *s, const char *dir, char *err, size_t errsz)
{
    memset(s, 0, sizeof *s);
    s->files = calloc(STATIC_MAX_FILES, sizeof *s->files);
    if (!s->files)
        return -1;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errsz, "cannot open static directory \"%s\": %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) && s->n < STATIC_MAX_FILES) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof s->files[0].name)
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_SIZE)
            continue;
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static_file_t *sf = &s->files[s->n];
        sf->data = malloc((size_t)st.st_size + 1);
        if (!sf->data || fread(sf->data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            free(sf->data);
            sf->data = NULL;
            fclose(f);
            continue;
        }
        fclose(f);
        sf->len = (size_t)st.st_size;
        memcpy(sf->name, e->d_name, strlen(e->d_name) + 1); /* length checked above */
        sf->ctype = ctype_of(sf->name);
        snprintf(sf->etag, sizeof sf->etag, "\"%016llx\"",
                 (unsigned long long)fnv1a(sf->data, sf->len));
        s->n++;
    }
    closedir(d);
    return 0;
}

void static_free(static_set_t *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->files[i].data);
    free(s->files);
    memset(s, 0, sizeof *s);
}

void static_serve(const static_set_t *s, http_conn_t *c, const http_request_t *req,
                  const char *name, size_t n)
{
    for (int i = 0; i < s->n; i++) {
        const static_file_t *f = &s->files[i];
        if (strlen(f->name) != n || memcmp(f->name, name, n))
            continue;
        const http_str_t *inm = http_header(req, "If-None-Match");
        http_reply_start(c, 200);
        http_reply_header(c, "ETag", "%s", f->etag);
        http_reply_header(c, "Cache-Control", "public, max-age=300");
        http_reply_header(c, "X-Content-Type-Options", "nosniff");
        if (inm && inm->n == strlen(f->etag) && !memcmp(inm->p, f->etag, inm->n)) {
            http_reply(c, 304, NULL, NULL, 0);
            return;
        }
        http_reply(c, 200, f->ctype, f->data, f->len);
        return;
    }
    http_reply_error(c, 404, "no such file");
}
