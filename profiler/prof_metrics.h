/*
 * prof_metrics.h - the Prometheus /metrics endpoint of the profiler.
 */
#ifndef MG_PROF_METRICS_H
#define MG_PROF_METRICS_H

#include "core/buf.h"
#include "core/conf.h"
#include "core/http_conn.h"
#include "core/shm.h"

/* Append the exposition text for everything counted in shm. 0 / -1. */
int prof_metrics_write(const shm_t *shm, const conf_t *conf, buf_t *out);

/* Answer GET /metrics on c. */
void prof_metrics_serve(const shm_t *shm, const conf_t *conf, http_conn_t *c);

#endif
