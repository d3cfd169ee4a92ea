/*
 * cmd_health.h - `magicd health`: is the server answering /healthz?
 */
#ifndef MG_CMD_HEALTH_H
#define MG_CMD_HEALTH_H

#include "core/conf.h"

/* Exit code: 0 when GET /healthz answers 200 within timeout_ms, else 1
 * (with the reason on stderr). url may be NULL (first `listen` address). */
int cmd_health(const conf_t *c, const char *url, int timeout_ms);

#endif
