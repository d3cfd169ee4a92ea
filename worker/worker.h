/*
 * worker.h - the worker process entry point.
 */
#ifndef MG_WORKER_H
#define MG_WORKER_H

#include "core/conf.h"
#include "core/keyfile.h"
#include "core/shm.h"

/* Runs the worker until it is told to stop; returns the exit code.
 * lfds: the master's listening sockets (shared by every worker). */
int worker_main(const conf_t *c, const keyring_t *keys, shm_t *shm, unsigned slot, int worker_no,
                const int *lfds, int nlfds, const int hofd[2]);

#endif
