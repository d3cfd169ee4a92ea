/*
 * body.h - reading the fields of a POST body: a urlencoded form or a JSON
 * object, whichever the Content-Type says.
 *
 * Pure over the parsed request (no connection, no app), so the fuzz target
 * reaches exactly what the handlers run.
 */
#ifndef MG_BODY_H
#define MG_BODY_H

#include <stddef.h>

#include "core/http.h"

/* Does the request's Content-Type name this media type (parameters after
 * ';' ignored, case-insensitive)? */
int body_ctype_is(const http_request_t *req, const char *type);

/* The `email` field, normalized (email_normalize): 1 ok, 0 missing or
 * invalid, -1 unsupported media type (415). */
int body_email(const http_request_t *req, char *out, size_t outsz);

/* A text field as it was sent (percent-decoded for a form; a JSON string
 * without NUL bytes), NUL-terminated in out: 1 found, 0 absent (or not a
 * string), -1 longer than outsz-1, badly encoded or an unreadable media
 * type. out is "" unless 1. */
int body_text(const http_request_t *req, const char *name, char *out, size_t outsz);

#endif
