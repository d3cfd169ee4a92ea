/*
 * master.h - the master process: supervision, signals, reload.
 */
#ifndef MG_MASTER_H
#define MG_MASTER_H

#include <sys/types.h>

#include "core/conf.h"

/* Run the master with the parsed config until it stops; returns the exit
 * code. argv is kept for the binary upgrade (USR2). */
int master_run(conf_t *conf, int argc, char **argv);

#endif
