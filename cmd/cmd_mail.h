/*
 * cmd_mail.h - `magicd mail preview`: the sign-in mail, rendered to stdout.
 */
#ifndef MG_CMD_MAIL_H
#define MG_CMD_MAIL_H

#include "core/conf.h"

/* argv after "mail": preview [--lang TAG] [--html|--text]. Exit code. */
int cmd_mail(const conf_t *c, int argc, char **argv);

#endif
