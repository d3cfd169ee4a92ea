/*
 * mail.h - the sign-in mail: templates, language, MIME.
 *
 * Templates live under HTML_ROOT/mail/, one folder per language, named by
 * its tag (en, de, pt-br ...), each with three files:
 *
 *   subject.txt   one line
 *   body.txt      the text/plain part
 *   body.html     the text/html part (inline styles: mail clients drop
 *                 style sheets)
 *
 * and the placeholders {{email}} {{link}} {{code}} {{ttl_minutes}}
 * {{expires_at}} {{ip}} {{browser}}. Adding a language is adding a folder;
 * nothing else changes. "en" is the default when it is shipped.
 *
 * The worker picks the language when the link is asked for, from the
 * request's Accept-Language (mail_negotiate), and spools the tag with the
 * link; the mailer renders the mail at send time (mail_format) in that
 * language. `magicd mail preview` renders the same way.
 *
 * The message is multipart/alternative, UTF-8, both parts quoted-printable
 * (safe through any relay, no line over 76 characters), the subject
 * RFC 2047-encoded when it is not plain ASCII.
 */
#ifndef MG_MAIL_H
#define MG_MAIL_H

#include <stddef.h>

#include "app/template.h"
#include "core/buf.h"
#include "core/spool.h"

#define MAIL_LANGS_MAX 32
#define MAIL_TAG_MAX 16

enum { MAIL_SUBJECT, MAIL_TEXT, MAIL_HTML, MAIL_PARTS };

typedef struct {
    char tag[MAIL_TAG_MAX];
    tpl_t part[MAIL_PARTS];
} mail_lang_t;

typedef struct {
    mail_lang_t lang[MAIL_LANGS_MAX];
    int n;
    int def; /* index of the default language */
} mail_set_t;

/* Load every language under html_root/mail. -1 with err when there is none,
 * or a language folder lacks a file or has a bad template. */
int mail_load(mail_set_t *s, const char *html_root, char *err, size_t errsz);
void mail_free(mail_set_t *s);

/* Index of language `tag` (case-insensitive), or -1. */
int mail_lang_index(const mail_set_t *s, const char *tag);

/* The shipped language an Accept-Language value prefers (q-values, ranges
 * like "de-DE" matching "de" and "pt" matching "pt-br", "*"); the default
 * when nothing matches or the header is malformed. Never NULL. */
const char *mail_negotiate(const mail_set_t *s, const char *hdr, size_t n);

/* "Firefox on Linux" from a User-Agent; a cut-down UA when unknown. */
void mail_browser(const char *ua, char *out, size_t outsz);

/* A link's lifetime as the pages and mails say it ({{ttl_minutes}}): to the
 * nearest minute, and never 0 (a link_ttl of seconds, as tests use, reads
 * "1 minutes" rather than "expires in 0 minutes"). */
uint64_t mail_ttl_minutes(uint64_t ttl_s);

/* Render one part of m in m->lang (the default when unknown) onto out. */
int mail_render(const mail_set_t *s, int part, const spool_msg_t *m, buf_t *out);

/* The whole message with LF line ends (smtp_dot_stuff makes them CRLF):
 * headers (From, To, Subject, Date, Message-ID given by the caller), then
 * the two parts. 0 or -1. */
int mail_format(const mail_set_t *s, const spool_msg_t *m, const char *from, const char *date,
                const char *message_id, buf_t *out);

/* Exposed for tests: quoted-printable body encoding (LF line ends in and
 * out), and a header value, RFC 2047 "B"-encoded (and folded) when it is
 * not printable ASCII. */
int mail_qp_encode(const char *in, size_t n, buf_t *out);
int mail_header_value(const char *in, buf_t *out);

#endif
