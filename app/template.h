/*
 * template.h - the page templates in html/ with {{name}} placeholders.
 *
 * Templates are read and split into literal and placeholder segments once
 * per worker (after `{{> name}}` lines are replaced by the shared partial
 * html/_name.html); rendering is a walk over the segments appending to a buffer.
 * Values are HTML-escaped unless passed as raw (only for markup the worker
 * built itself from escaped parts, such as the demo-mode link).
 */
#ifndef MG_TEMPLATE_H
#define MG_TEMPLATE_H

#include <stddef.h>

#include "core/buf.h"

typedef struct {
    const char *name;
    const char *value;
    int raw; /* 1: insert as is (already safe markup) */
} tpl_var_t;

typedef struct tpl_seg tpl_seg_t;

typedef struct {
    char *text; /* the file's bytes; segments point into it */
    tpl_seg_t *segs;
    int nsegs;
} tpl_t;

enum { TPL_INDEX, TPL_LOGIN, TPL_SENT, TPL_VERIFY, TPL_SECURE, TPL_ERROR, TPL_COUNT };

typedef struct {
    tpl_t t[TPL_COUNT];
} tpl_set_t;

int tpl_parse(tpl_t *t, char *text, char *err, size_t errsz);
int tpl_load_set(tpl_set_t *set, const char *html_root, char *err, size_t errsz);
/* The file template i is read from ("login.html"). */
const char *tpl_file_name(int i);
void tpl_free_set(tpl_set_t *set);
int tpl_render(const tpl_t *t, buf_t *out, const tpl_var_t *vars, int nvars);
/* Append s HTML-escaped (& < > " '). */
int html_escape(buf_t *out, const char *s, size_t n);

#endif
