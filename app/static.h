/*
 * static.h - the files under html/static/, served from memory.
 */
#ifndef MG_STATIC_H
#define MG_STATIC_H

#include <stddef.h>

#include "core/http_conn.h"

typedef struct static_file static_file_t;

typedef struct {
    static_file_t *files;
    int n;
} static_set_t;

/* Load every regular file in DIR (one level, no dot files). */
int static_load(static_set_t *s, const char *dir, char *err, size_t errsz);
void static_free(static_set_t *s);
/* Serve NAME (the path after /static/); 404 if unknown. Honours
 * If-None-Match with the file's ETag. */
void static_serve(const static_set_t *s, http_conn_t *c, const http_request_t *req,
                  const char *name, size_t n);

#endif
