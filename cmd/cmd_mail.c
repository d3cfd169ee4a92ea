/*
 * cmd_mail.c - `magicd mail preview [--lang TAG] [--html|--text]`.
 *
 * Renders the sign-in mail from the templates the running server would use
 * (html_root/mail/ of the configuration) with sample values, so whoever
 * edits or adds a language can look at the result without sending a mail:
 *
 *   magicd mail preview                  the whole message, as the relay gets it
 *   magicd mail preview --text           the text/plain part, decoded
 *   magicd mail preview --html > m.html  the text/html part, to open in a browser
 *
 * The sample link is built like a real one (public_url, or the first
 * listen address) but carries no valid token; the code is 123456 and the
 * request comes from a documentation address (RFC 5737).
 */
#include "cmd/cmd_mail.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/mail.h"
#include "mailer/smtp.h"

static int cmd_mail_usage(void)
{
    fprintf(stderr, "usage: magicd mail preview [--lang TAG] [--html|--text]\n");
    return 2;
}

static void cmd_mail_sample(const conf_t *c, const char *lang, spool_msg_t *m)
{
    char base[300];
    memset(m, 0, sizeof *m);
    if (c->http.public_url[0])
        snprintf(base, sizeof base, "%s", c->http.public_url);
    else
        snprintf(base, sizeof base, "http://%s:%s",
                 c->http.nlisten ? c->http.listen[0].host : "127.0.0.1",
                 c->http.nlisten ? c->http.listen[0].port : "8080");
    size_t bl = strlen(base);
    if (bl && base[bl - 1] == '/')
        base[bl - 1] = '\0';
    snprintf(m->id_hex, sizeof m->id_hex, "%s", "0123456789abcdef0123456789abcdef");
    snprintf(m->to, sizeof m->to, "you@example.com");
    snprintf(m->url, sizeof m->url, "%s/magic/verify/PREVIEW-NOT-A-REAL-TOKEN", base);
    m->created_s = (uint64_t)time(NULL);
    m->expires_s = m->created_s + c->auth.link_ttl_ms / 1000;
    snprintf(m->code, sizeof m->code, "123456");
    snprintf(m->lang, sizeof m->lang, "%s", lang);
    snprintf(m->ip, sizeof m->ip, "203.0.113.7");
    snprintf(m->ua, sizeof m->ua, "%s",
             "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0");
}

int cmd_mail(const conf_t *c, int argc, char **argv)
{
    const char *lang = NULL;
    int part = -1; /* -1: the whole message */

    if (argc < 1 || strcmp(argv[0], "preview") != 0)
        return cmd_mail_usage();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lang") && i + 1 < argc)
            lang = argv[++i];
        else if (!strcmp(argv[i], "--html"))
            part = MAIL_HTML;
        else if (!strcmp(argv[i], "--text"))
            part = MAIL_TEXT;
        else
            return cmd_mail_usage();
    }
    static mail_set_t set;
    char err[1024];
    if (mail_load(&set, c->http.html_root, err, sizeof err) < 0) {
        fprintf(stderr, "magicd: %s\n", err);
        return 1;
    }
    if (lang && mail_lang_index(&set, lang) < 0) {
        fprintf(stderr, "magicd: no mail templates for language \"%s\" in %s/mail (have:", lang,
                c->http.html_root);
        for (int i = 0; i < set.n; i++)
            fprintf(stderr, " %s", set.lang[i].tag);
        fprintf(stderr, ")\n");
        mail_free(&set);
        return 1;
    }
    spool_msg_t m;
    cmd_mail_sample(c, lang ? lang : set.lang[set.def].tag, &m);
    buf_t out = {0};
    int rc = 0;
    if (part >= 0) {
        rc = mail_render(&set, part, &m, &out);
    } else {
        static char msg[65536];
        int n = smtp_format_message(&set, &m,
                                    c->smtp.from[0] ? c->smtp.from : "magicd <magicd@localhost>",
                                    msg, sizeof msg);
        rc = n < 0 ? -1 : buf_append(&out, msg, (size_t)n);
    }
    if (rc < 0 || fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        fprintf(stderr, "magicd: cannot render the mail\n");
        rc = -1;
    }
    buf_free(&out);
    mail_free(&set);
    return rc < 0 ? 1 : 0;
}
