/*
 * mail.c - loading, choosing and rendering the sign-in mail (see mail.h).
 *
 * Loading scans HTML_ROOT/mail/ once per process (worker: only to learn
 * which languages exist; mailer and `mail preview`: to render). A folder
 * whose name is not a language tag is ignored; a language folder that is
 * incomplete is an error, so a half-added language is noticed at start
 * rather than when someone's mail goes out in the wrong language.
 *
 * Language negotiation follows RFC 9110's Accept-Language with RFC 4647
 * "lookup" matching, reduced to what a login mail needs: the highest q
 * wins, earlier ranges win ties, a range matches a shipped tag when one is
 * a prefix of the other at a '-' boundary, "*" stands for the default, and
 * q=0 never chooses. It runs on the generate path, so it does not allocate.
 *
 * Rendering fills the template placeholders: in the text parts as they
 * are, in the HTML part escaped. Every value comes from the spool file,
 * which holds only printable ASCII (spool_clean), so no value can break a
 * header or a line. The message is then put together by hand: headers,
 * the multipart/alternative frame, each part quoted-printable. The
 * boundary starts with "=_", which quoted-printable text can never
 * contain, so it cannot collide with the body.
 */
#include "app/mail.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

static const char *const mail_files[MAIL_PARTS] = {"subject.txt", "body.txt", "body.html"};

/* en, de, pt-br, zh-hant: 2-3 letters, then -subtags of letters/digits. */
static int mail_tag_ok(const char *t)
{
    size_t n = strlen(t), i = 0;

    if (n == 0 || n >= MAIL_TAG_MAX)
        return 0;
    while (i < n && t[i] >= 'a' && t[i] <= 'z')
        i++;
    if (i < 2 || i > 3)
        return 0;
    while (i < n) {
        size_t k = 0;
        if (t[i++] != '-')
            return 0;
        while (i < n && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9')))
            i++, k++;
        if (k == 0 || k > 8)
            return 0;
    }
    return 1;
}

static char *mail_read(const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    long n;

    if (!f) {
        snprintf(err, errsz, "cannot open mail template \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 20) &&
        fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1)) &&
        fread(s, 1, (size_t)n, f) == (size_t)n) {
        s[n] = '\0';
    } else {
        snprintf(err, errsz, "cannot read mail template \"%s\"", path);
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

static void mail_free_lang(mail_lang_t *l)
{
    for (int p = 0; p < MAIL_PARTS; p++) {
        free(l->part[p].text);
        free(l->part[p].segs);
        memset(&l->part[p], 0, sizeof l->part[p]);
    }
}

static int mail_load_lang(mail_lang_t *l, const char *dir, const char *tag, char *err, size_t errsz)
{
    memset(l, 0, sizeof *l);
    if ((size_t)snprintf(l->tag, sizeof l->tag, "%s", tag) >= sizeof l->tag) {
        snprintf(err, errsz, "mail templates: language tag \"%s\" too long", tag);
        return -1;
    }
    for (int p = 0; p < MAIL_PARTS; p++) {
        char path[1200], perr[256];
        if ((size_t)snprintf(path, sizeof path, "%s/%s/%s", dir, tag, mail_files[p]) >=
            sizeof path) {
            snprintf(err, errsz, "mail templates: path too long under \"%s\"", dir);
            mail_free_lang(l);
            return -1;
        }
        char *text = mail_read(path, err, errsz);
        if (!text) {
            mail_free_lang(l);
            return -1;
        }
        if (tpl_parse(&l->part[p], text, perr, sizeof perr) < 0) {
            snprintf(err, errsz, "mail template \"%s\": %s", path, perr);
            if (!l->part[p].text)
                free(text);
            mail_free_lang(l);
            return -1;
        }
    }
    return 0;
}

static int mail_cmp(const void *a, const void *b)
{
    return strcmp(((const mail_lang_t *)a)->tag, ((const mail_lang_t *)b)->tag);
}

int mail_load(mail_set_t *s, const char *html_root, char *err, size_t errsz)
{
    char dir[1024];
    struct dirent *de;
    DIR *d;

    memset(s, 0, sizeof *s);
    snprintf(dir, sizeof dir, "%s/mail", html_root);
    d = opendir(dir);
    if (!d) {
        snprintf(err, errsz, "mail templates: cannot open \"%s\": %s", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        char path[1100];
        struct stat st;
        if (!mail_tag_ok(de->d_name))
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path ||
            stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (s->n == MAIL_LANGS_MAX) {
            snprintf(err, errsz, "mail templates: more than %d languages in \"%s\"", MAIL_LANGS_MAX,
                     dir);
            break;
        }
        if (mail_load_lang(&s->lang[s->n], dir, de->d_name, err, errsz) < 0)
            break;
        s->n++;
    }
    int failed = de != NULL;
    closedir(d);
    if (!failed && s->n == 0) {
        snprintf(err, errsz, "mail templates: no language folder (like en/) in \"%s\"", dir);
        failed = 1;
    }
    if (failed) {
        mail_free(s);
        return -1;
    }
    qsort(s->lang, (size_t)s->n, sizeof s->lang[0], mail_cmp);
    int en = mail_lang_index(s, "en");
    s->def = en >= 0 ? en : 0;
    return 0;
}

void mail_free(mail_set_t *s)
{
    for (int i = 0; i < s->n; i++)
        mail_free_lang(&s->lang[i]);
    s->n = 0;
}

int mail_lang_index(const mail_set_t *s, const char *tag)
{
    for (int i = 0; i < s->n; i++)
        if (!strcasecmp(s->lang[i].tag, tag))
            return i;
    return -1;
}

/* ---- Accept-Language ------------------------------------------------ */

/* Does range r (lowercase) match shipped tag t? */
static int mail_range_match(const char *r, size_t rn, const char *t)
{
    size_t tn = strlen(t), n = rn < tn ? rn : tn;

    if (memcmp(r, t, n) != 0)
        return 0;
    return rn == tn || (rn > tn && r[tn] == '-') || (tn > rn && t[rn] == '-');
}

/* q from "q=0.8" (RFC 9110: 0, 1, up to three decimals), in thousandths;
 * -1 when malformed. */
static int mail_qvalue(const char *p, size_t n)
{
    int q = 0, digits = 0;

    if (n < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' || (p[2] != '0' && p[2] != '1'))
        return -1;
    q = (p[2] - '0') * 1000;
    if (n == 3)
        return q;
    if (p[3] != '.')
        return -1;
    for (size_t i = 4; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || ++digits > 3)
            return -1;
        q += (p[i] - '0') * (digits == 1 ? 100 : digits == 2 ? 10 : 1);
    }
    return q > 1000 ? -1 : q;
}

const char *mail_negotiate(const mail_set_t *s, const char *hdr, size_t n)
{
    int best = -1, best_q = 0, items = 0;
    const char *p = hdr, *end = hdr ? hdr + n : hdr;

    if (!s->n)
        return "en";
    while (hdr && p < end && items++ < 32) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end, *semi;
        char range[MAIL_TAG_MAX * 2];
        size_t rn = 0;
        int q = 1000, ok = 1;

        while (p < ie && (*p == ' ' || *p == '\t'))
            p++;
        semi = memchr(p, ';', (size_t)(ie - p));
        for (const char *c = p; c < (semi ? semi : ie); c++) {
            if (*c == ' ' || *c == '\t')
                continue;
            if (rn + 1 >= sizeof range || !(isalnum((unsigned char)*c) || *c == '-' || *c == '*'))
                ok = 0;
            else
                range[rn++] = (char)tolower((unsigned char)*c);
        }
        if (semi) {
            const char *v = semi + 1, *ve = ie;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            q = mail_qvalue(v, (size_t)(ve - v));
        }
        p = comma ? comma + 1 : end;
        if (!ok || rn == 0 || q <= best_q)
            continue;
        if (rn == 1 && range[0] == '*') {
            best = s->def, best_q = q;
            continue;
        }
        for (int i = 0; i < s->n; i++)
            if (mail_range_match(range, rn, s->lang[i].tag)) {
                best = i, best_q = q;
                break;
            }
    }
    return s->lang[best >= 0 ? best : s->def].tag;
}

/* ---- User-Agent ----------------------------------------------------- */

uint64_t mail_ttl_minutes(uint64_t ttl_s)
{
    uint64_t m = (ttl_s + 30) / 60;
    return m ? m : 1;
}

void mail_browser(const char *ua, char *out, size_t outsz)
{
    static const char *const br[][2] = {
        {"Edg/", "Edge"},
        {"EdgA/", "Edge"},
        {"OPR/", "Opera"},
        {"SamsungBrowser/", "Samsung Internet"},
        {"Firefox/", "Firefox"},
        {"FxiOS/", "Firefox"},
        {"CriOS/", "Chrome"},
        {"Chromium/", "Chromium"},
        {"Chrome/", "Chrome"},
        {"Safari/", "Safari"},
        {"curl/", "curl"},
        {"Wget/", "Wget"},
        {"python-requests/", "Python requests"},
        {"Python-urllib/", "Python"},
    };
    static const char *const os[][2] = {
        {"Windows", "Windows"}, {"Android", "Android"}, {"iPhone", "iOS"},  {"iPad", "iPadOS"},
        {"CrOS", "ChromeOS"},   {"Mac OS X", "macOS"},  {"Linux", "Linux"},
    };
    const char *b = NULL, *o = NULL;

    if (!ua || !*ua) {
        snprintf(out, outsz, "an unknown browser");
        return;
    }
    for (size_t i = 0; i < sizeof br / sizeof br[0] && !b; i++)
        if (strstr(ua, br[i][0]))
            b = br[i][1];
    for (size_t i = 0; i < sizeof os / sizeof os[0] && !o; i++)
        if (strstr(ua, os[i][0]))
            o = os[i][1];
    /* Only names from the tables above: whoever asks for a link chooses
     * the User-Agent, and its text must not become words in a genuine mail
     * to somebody else ("reply with this code to ..."). */
    if (b && o)
        snprintf(out, outsz, "%s on %s", b, o);
    else if (b)
        snprintf(out, outsz, "%s", b);
    else if (o)
        snprintf(out, outsz, "a browser on %s", o);
    else
        snprintf(out, outsz, "an unknown browser");
}

/* ---- rendering ------------------------------------------------------ */

int mail_render(const mail_set_t *s, int part, const spool_msg_t *m, buf_t *out)
{
    char ttl[24], until[48], browser[128];
    int li = m->lang[0] ? mail_lang_index(s, m->lang) : -1;
    time_t exp = (time_t)m->expires_s;
    struct tm tm;

    if (!s->n || part < 0 || part >= MAIL_PARTS)
        return -1;
    if (li < 0)
        li = s->def;
    uint64_t ttl_s = m->expires_s > m->created_s ? m->expires_s - m->created_s : 0;
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)mail_ttl_minutes(ttl_s));
    if (!gmtime_r(&exp, &tm))
        return -1;
    snprintf(until, sizeof until, "%04d-%02d-%02d %02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min);
    mail_browser(m->ua, browser, sizeof browser);
    int raw = part != MAIL_HTML;
    tpl_var_t v[] = {
        {"email", m->to, raw},
        {"link", m->url, raw},
        {"code", m->code[0] ? m->code : "------", raw},
        {"ttl_minutes", ttl, raw},
        {"expires_at", until, raw},
        {"ip", m->ip[0] ? m->ip : "?", raw},
        {"browser", browser, raw},
    };
    return tpl_render(&s->lang[li].part[part], out, v, (int)(sizeof v / sizeof v[0]));
}

int mail_qp_encode(const char *in, size_t n, buf_t *out)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t col = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\n') {
            if (buf_append(out, "\n", 1) < 0)
                return -1;
            col = 0;
            continue;
        }
        if (c == '\r')
            continue;
        int last = i + 1 == n || in[i + 1] == '\n' || in[i + 1] == '\r';
        int enc = c == '=' || (c < 32 && c != '\t') || c > 126 || ((c == ' ' || c == '\t') && last);
        char tok[3] = {(char)c, 0, 0};
        size_t tn = 1;
        if (enc) {
            tok[0] = '=', tok[1] = hx[c >> 4], tok[2] = hx[c & 15];
            tn = 3;
        }
        /* 76 characters per line at most, the soft break's '=' included */
        if (col + tn > 75 && !(last && col + tn <= 76)) {
            if (buf_append(out, "=\n", 2) < 0)
                return -1;
            col = 0;
        }
        if (buf_append(out, tok, tn) < 0)
            return -1;
        col += tn;
    }
    return 0;
}

int mail_header_value(const char *in, buf_t *out)
{
    size_t n = strlen(in);
    int plain = 1;

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)in[i] < 32 || (unsigned char)in[i] > 126)
            plain = 0;
    if (plain)
        return buf_puts(out, in);
    /* Encoded words of at most 45 input bytes (60 of base64, 72 with the
     * frame: under RFC 2047's 75), cut only between UTF-8 characters, one
     * per folded line. */
    for (size_t i = 0; i < n;) {
        size_t k = n - i > 45 ? 45 : n - i;
        while (k > 0 && i + k < n && ((unsigned char)in[i + k] & 0xC0) == 0x80)
            k--;
        if (k == 0)
            k = n - i > 45 ? 45 : n - i;
        unsigned char b64[64];
        int bn = EVP_EncodeBlock(b64, (const unsigned char *)in + i, (int)k);
        if (bn < 0 || (i && buf_puts(out, "\n ") < 0) || buf_puts(out, "=?utf-8?B?") < 0 ||
            buf_append(out, b64, (size_t)bn) < 0 || buf_puts(out, "?=") < 0)
            return -1;
        i += k;
    }
    return 0;
}

int mail_format(const mail_set_t *s, const spool_msg_t *m, const char *from, const char *date,
                const char *message_id, buf_t *out)
{
    buf_t part = {0};
    int li = m->lang[0] ? mail_lang_index(s, m->lang) : -1;
    const char *tag = s->lang[li >= 0 ? li : s->def].tag;
    int ok;

    /* The subject: one line, whatever the template holds. */
    ok = mail_render(s, MAIL_SUBJECT, m, &part) == 0 && buf_append(&part, "", 1) == 0;
    if (ok) {
        for (char *c = part.data; *c; c++)
            if (*c == '\n' || *c == '\r' || *c == '\t')
                *c = ' ';
        for (size_t l = strlen(part.data); l && part.data[l - 1] == ' '; l--)
            part.data[l - 1] = '\0';
    }
    ok = ok && buf_printf(out, "From: %s\nTo: <%s>\nSubject: ", from, m->to) >= 0 &&
         mail_header_value(part.data, out) == 0 &&
         buf_printf(out,
                    "\nDate: %s\n"
                    "Message-ID: %s\n"
                    "MIME-Version: 1.0\n"
                    "Auto-Submitted: auto-generated\n"
                    "Content-Language: %s\n"
                    "Content-Type: multipart/alternative;\n boundary=\"=_magicd_%s\"\n"
                    "\n"
                    "This is a multi-part message in MIME format.\n",
                    date, message_id, tag, m->id_hex) >= 0;
    static const char *const types[] = {"text/plain", "text/html"};
    for (int p = MAIL_TEXT; ok && p <= MAIL_HTML; p++) {
        part.len = 0;
        ok = mail_render(s, p, m, &part) == 0 &&
             buf_printf(out,
                        "\n--=_magicd_%s\n"
                        "Content-Type: %s; charset=utf-8\n"
                        "Content-Transfer-Encoding: quoted-printable\n"
                        "\n",
                        m->id_hex, types[p - MAIL_TEXT]) >= 0 &&
             mail_qp_encode(part.data ? part.data : "", part.len, out) == 0;
        if (ok && out->len && out->data[out->len - 1] != '\n')
            ok = buf_append(out, "\n", 1) == 0;
    }
    ok = ok && buf_printf(out, "\n--=_magicd_%s--\n", m->id_hex) >= 0;
    buf_free(&part);
    return ok ? 0 : -1;
}
