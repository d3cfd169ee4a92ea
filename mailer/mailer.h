/*
 * mailer.h - the mailer process: delivers the mail spool over SMTP.
 *
 * With `delivery smtp HOST:PORT;` workers append each magic link to the
 * spool (spool.h) and return at once; this process, forked and supervised
 * by the master like the profiler ("magicd: mailer process"), sends them.
 */
#ifndef MG_MAILER_H
#define MG_MAILER_H

#include <stddef.h>

#include "core/conf.h"
#include "core/shm.h"

/* The process main; shm carries the mail counters of /metrics (may be
 * NULL). Returns the exit status: 0 after QUIT/TERM/INT. */
int mailer_main(const conf_t *c, shm_t *shm);

/* The spool directory for c: smtp_spool, or "spool" next to users_db when
 * unset. Workers and the mailer must agree, so both use this. */
int mailer_spool_dir(const conf_t *c, char *out, size_t outsz);

/* Split "host:port", "[v6]:port" or "host" (port 25). 0 or -1. */
int mailer_split_hostport(const char *s, char *host, size_t hostsz, char *port, size_t portsz);

/* Delay before retry number `attempt` (0-based): base * 2^attempt, capped. */
unsigned long mailer_backoff_ms(unsigned attempt, unsigned long base_ms, unsigned long cap_ms);

#endif
