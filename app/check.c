/*
 * check.c - templates and static files checked as a set (see check.h).
 *
 * It loads them exactly as a worker does (tpl_load_set, static_load), so
 * the check cannot drift from what serving needs, then looks for
 * "/static/NAME" in each page's text and finds NAME in the loaded set: a
 * page whose script or style sheet is missing would load, and then fail
 * in the browser.
 */
#include "app/check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/path.h"
#include "app/mail.h"
#include "app/static.h"
#include "app/template.h"
#include "core/spool.h"

static int refs_present(const tpl_set_t *tpl, const static_set_t *st, const char *root, char *err,
                        size_t errsz)
{
    static const char mark[] = "/static/";
    for (int i = 0; i < TPL_COUNT; i++) {
        const char *text = tpl->t[i].text;
        for (const char *p = text ? strstr(text, mark) : NULL; p; p = strstr(p + 1, mark)) {
            const char *name = p + sizeof mark - 1;
            size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789._-");
            if (n == 0 || static_find(st, name, n))
                continue;
            snprintf(err, errsz,
                     "page \"%s/%s\" refers to /static/%.*s, which is not in \"%s/static\"", root,
                     tpl_file_name(i), (int)n, name, root);
            return -1;
        }
    }
    return 0;
}

int app_check_writable(const char *path, const char *what, char *err, size_t errsz)
{
    char why[300];

    if (path_writable(path, why, sizeof why) == 0)
        return 0;
    snprintf(err, errsz, "cannot open %s \"%s\": %s", what, path, why);
    return -1;
}

/* A file every worker opens for appending (created if missing, as the
 * worker would, and with the mode the worker would give it: the access log
 * and the outbox hold tokens): a directory that does not exist is found
 * here, not by each worker in turn. Without create, only asked. */
static int appendable(const char *path, const char *what, mode_t mode, int create, char *err,
                      size_t errsz)
{
    if (!path[0] || !strcmp(path, "off") || !strcmp(path, "stderr"))
        return 0;
    if (!create)
        return app_check_writable(path, what, err, errsz);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errsz, "cannot open %s \"%s\": %s", what, path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* The spool's folders (workers write, the mailer reads): made, or without
 * create asked whether the folder is there and writable or could be made. */
static int spool_ready(const char *spool, int create, char *err, size_t errsz)
{
    char why[512];
    int rc;

    if (create) {
        rc = spool_init(spool, why, sizeof why);
    } else {
        struct stat st;
        if (stat(spool, &st) == 0) {
            rc = access(spool, W_OK | X_OK);
            if (rc < 0)
                snprintf(why, sizeof why, "%s", strerror(errno));
        } else {
            rc = path_writable(spool, why, sizeof why);
        }
    }
    if (rc < 0)
        snprintf(err, errsz,
                 "cannot make the smtp_spool directory \"%s\": %s (its parent must exist "
                 "and be writable)",
                 spool, why);
    return rc;
}

int app_check_files(const conf_t *c, int create, char *err, size_t errsz)
{
    if (appendable(c->log.access_log, "access log", LOG_FILE_MODE, create, err, errsz) < 0)
        return -1;
    if (c->smtp.delivery == DELIVERY_OUTBOX &&
        appendable(c->smtp.delivery_arg, "outbox", 0600, create, err, errsz) < 0)
        return -1;
    if (c->smtp.delivery == DELIVERY_SMTP && spool_ready(c->smtp.spool, create, err, errsz) < 0)
        return -1;
    tpl_set_t tpl;
    if (tpl_load_set(&tpl, c->http.html_root, err, errsz) < 0)
        return -1;
    static_set_t st;
    char dir[CONF_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/static", c->http.html_root);
    int rc = static_load(&st, dir, err, errsz);
    if (rc == 0) {
        rc = refs_present(&tpl, &st, c->http.html_root, err, errsz);
        static_free(&st);
    }
    tpl_free_set(&tpl);
    if (rc < 0)
        return rc;
    /* The mail templates: every worker loads them at start, whatever the
     * delivery (a missing html_root/mail stopped the server after -t had
     * said ok). */
    mail_set_t *mail = malloc(sizeof *mail);
    if (!mail) {
        snprintf(err, errsz, "mail templates: out of memory");
        return -1;
    }
    rc = mail_load(mail, c->http.html_root, err, errsz);
    if (rc == 0)
        mail_free(mail);
    free(mail);
    return rc;
}
