/*
 * profiler.h - the profiler process's entry point, for the master.
 *
 * The master forks the profiler process, which runs profiler_main(): its
 * own event loop and HTTP server on profiler_listen, draining the sample
 * rings the workers' samplers (sampler/) write into shm and answering
 * /debug/pprof/ requests. If it dies, workers keep serving and the master respawns
 * it.
 */
#ifndef MG_PROFILER_H
#define MG_PROFILER_H

#include "core/conf.h"
#include "core/shm.h"

int profiler_main(const conf_t *c, shm_t *shm, int listen_fd);

#endif
