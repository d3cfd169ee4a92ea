/*
 * check.h - the application's files, checked before anything serves.
 *
 * `magicd -t`, the master's start-up check and every reload run this on the
 * configuration: every template under html_root parses (its partials
 * included), the static directory loads, every /static/NAME a page refers
 * to is there, the mail templates under html_root/mail load (every
 * language folder complete), the access log and the outbox can be opened,
 * and the smtp spool's directories exist (each created when missing, as a
 * worker or the mailer would). A wrong html_root is then a configuration error with the
 * file's name, reported before the master says "started", instead of
 * workers that die at start while the port accepts connections.
 */
#ifndef MG_APP_CHECK_H
#define MG_APP_CHECK_H

#include <stddef.h>

#include "core/conf.h"

/* 0, or -1 with the first problem in err. Reads the files and frees them.
 * With create, the files and folders a worker writes (access log, outbox,
 * smtp_spool) are made when missing, as at start; without (`magicd -t`),
 * only asked whether they could be, and nothing is left behind. */
int app_check_files(const conf_t *c, int create, char *err, size_t errsz);

/* Whether the file `what` at path could be opened read-write (or made)
 * without making anything (core/path.h path_writable): 0, or -1 with
 * "cannot open WHAT "PATH": why" in err. For `magicd -t`. */
int app_check_writable(const char *path, const char *what, char *err, size_t errsz);

#endif
