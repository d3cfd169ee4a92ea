/*
 * body.c - POST body fields (see body.h).
 *
 * JSON is parsed with jansson into a tree and dropped at once (a body is at
 * most max_body_size); a urlencoded form is read in place by
 * http_form_value. A body with a type we do not read is refused rather
 * than guessed at, so a form posted as text/plain cannot slip past the
 * CSRF header check of a browser's simple request.
 */
#include "app/body.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "app/email.h"

int body_ctype_is(const http_request_t *req, const char *type)
{
    size_t n = strlen(type);
    return req->content_type.n >= n && !strncasecmp(req->content_type.p, type, n) &&
           (req->content_type.n == n || req->content_type.p[n] == ';' ||
            req->content_type.p[n] == ' ');
}

int body_email(const http_request_t *req, char *out, size_t outsz)
{
    char raw[512];
    if (body_ctype_is(req, "application/json")) {
        json_error_t je;
        json_t *root = json_loadb(req->body, req->body_len, 0, &je);
        const char *s = root ? json_string_value(json_object_get(root, "email")) : NULL;
        int ok = s && email_normalize(s, strlen(s), out, outsz) >= 0;
        json_decref(root);
        return ok;
    }
    if (req->body_len && !body_ctype_is(req, "application/x-www-form-urlencoded"))
        return -1;
    if (http_form_value(req->body, req->body_len, "email", raw, sizeof raw) != 1)
        return 0;
    return email_normalize(raw, strlen(raw), out, outsz) >= 0;
}

int body_text(const http_request_t *req, const char *name, char *out, size_t outsz)
{
    out[0] = 0;
    if (body_ctype_is(req, "application/json")) {
        json_t *root = json_loadb(req->body, req->body_len, 0, NULL);
        json_t *v = root ? json_object_get(root, name) : NULL;
        int r = 0;
        if (json_is_string(v)) {
            size_t n = json_string_length(v);
            const char *s = json_string_value(v);
            r = n < outsz && !memchr(s, 0, n) ? 1 : -1;
            if (r == 1) {
                memcpy(out, s, n);
                out[n] = 0;
            }
        }
        json_decref(root);
        return r;
    }
    if (req->body_len && !body_ctype_is(req, "application/x-www-form-urlencoded"))
        return -1;
    int r = http_form_value(req->body, req->body_len, name, out, outsz);
    if (r != 1)
        out[0] = 0;
    return r;
}
