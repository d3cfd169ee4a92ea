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

static int load_one(static_file_t *sf, const char *path, const char *name, size_t size, char *err,
                    size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "cannot read static file \"%s\": %s", path, strerror(errno));
        return -1;
    }
    sf->data = malloc(size + 1);
    if (!sf->data || fread(sf->data, 1, size, f) != size) {
        snprintf(err, errsz, "cannot read static file \"%s\"", path);
        free(sf->data);
        sf->data = NULL;
        fclose(f);
        return -1;
    }
    fclose(f);
    sf->len = size;
    size_t nl = strnlen(name, sizeof sf->name - 1); /* length checked by the caller */
    memcpy(sf->name, name, nl);
    sf->name[nl] = '\0';
    sf->ctype = ctype_of(sf->name);
    snprintf(sf->etag, sizeof sf->etag, "\"%016llx\"",
             (unsigned long long)fnv1a(sf->data, sf->len));
    return 0;
}

int static_load(static_set_t *s, const char *dir, char *err, size_t errsz)
{
    memset(s, 0, sizeof *s);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errsz, "cannot open static directory \"%s\": %s", dir, strerror(errno));
        return -1;
    }
    s->files = calloc(STATIC_MAX_FILES, sizeof *s->files);
    if (!s->files) {
        closedir(d);
        snprintf(err, errsz, "out of memory loading \"%s\"", dir);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0) {
            snprintf(err, errsz, "cannot read static file \"%s\": %s", path, strerror(errno));
            rc = -1;
        } else if (!S_ISREG(st.st_mode)) {
            continue; /* a subdirectory: not served */
        } else if (strlen(e->d_name) >= sizeof s->files[0].name) {
            snprintf(err, errsz, "static file name \"%s\" is too long", path);
            rc = -1;
        } else if (st.st_size > STATIC_MAX_SIZE) {
            snprintf(err, errsz, "static file \"%s\" is larger than %d bytes", path,
                     STATIC_MAX_SIZE);
            rc = -1;
        } else if (s->n >= STATIC_MAX_FILES) {
            snprintf(err, errsz, "more than %d files in static directory \"%s\"", STATIC_MAX_FILES,
                     dir);
            rc = -1;
        } else {
            rc = load_one(&s->files[s->n], path, e->d_name, (size_t)st.st_size, err, errsz);
            if (rc == 0)
                s->n++;
        }
    }
    closedir(d);
    if (rc < 0)
        static_free(s);
    return rc;
}

const static_file_t *static_find(const static_set_t *s, const char *name, size_t n)
{
    for (int i = 0; i < s->n; i++) {
        const static_file_t *f = &s->files[i];
        if (strlen(f->name) == n && memcmp(f->name, name, n) == 0)
            return f;
    }
    return NULL;
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
    const static_file_t *f = static_find(s, name, n);
    if (!f) {
        http_reply_error(c, 404, "no such file");
        return;
    }
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
}
