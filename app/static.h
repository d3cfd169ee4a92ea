/*
 * static.h - the files under html/static/, served from memory.
 */
#ifndef MG_STATIC_H
#define MG_STATIC_H

#include <stddef.h>

#include "core/http_conn.h"

#define STATIC_MAX_FILES 64
#define STATIC_MAX_SIZE (1 << 20)

typedef struct static_file {
    char name[128];
    char *data;
    size_t len;
    const char *ctype;
    char etag[24]; /* "\"<16 hex digits>\"", a hash of the bytes */
} static_file_t;

typedef struct {
    static_file_t *files;
    int n;
} static_set_t;

/* Load every regular file in DIR (one level; dot files and directories are
 * not served and are skipped). A file that cannot be read, is larger than
 * STATIC_MAX_SIZE or has a name longer than 127 bytes, or more than
 * STATIC_MAX_FILES files, is an error naming it: the alternative is a page
 * whose script silently 404s. */
int static_load(static_set_t *s, const char *dir, char *err, size_t errsz);
/* The file NAME (n bytes, the path after /static/), or NULL. */
const static_file_t *static_find(const static_set_t *s, const char *name, size_t n);
void static_free(static_set_t *s);
/* Serve NAME (the path after /static/); 404 if unknown. Honours
 * If-None-Match with the file's ETag. */
void static_serve(const static_set_t *s, http_conn_t *c, const http_request_t *req,
                  const char *name, size_t n);

#endif
