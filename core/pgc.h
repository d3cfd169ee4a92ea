/*
 * pgc.h - an asynchronous PostgreSQL client for an event loop.
 *
 * A worker must never wait on the network inside its loop (core/event.h),
 * so it talks to PostgreSQL through this pool: a few non-blocking libpq
 * connections registered in the loop, each running one prepared statement
 * at a time (PQsendQueryPrepared, PQflush, PQconsumeInput, PQisBusy), and a
 * FIFO of queries waiting for a free connection. A query's callback runs
 * from the loop with its result or an error message, exactly once.
 *
 * Faults are bounded in time, never a hang:
 *   - every query has a deadline (timeout_ms): the server enforces it as
 *     statement_timeout, and a client timer a little later drops a
 *     connection that does not answer at all (a stopped or partitioned
 *     server) and fails its query;
 *   - a query queued while every connection is down fails at once;
 *   - a lost connection reconnects by itself with back-off (PGC_RETRY_MIN_MS
 *     doubling to PGC_RETRY_MAX_MS), so service resumes within about a
 *     second of the server's return.
 *
 * Statements are registered with pgc_prepare before pgc_start; each
 * connection prepares them all after connecting and only then takes
 * queries.
 */
#ifndef MG_PGC_H
#define MG_PGC_H

#include <libpq-fe.h>

#include "core/event.h"

#define PGC_POOL_MAX 16
#define PGC_STMT_MAX 32
#define PGC_QUEUE_MAX 1024
#define PGC_RETRY_MIN_MS 50
#define PGC_RETRY_MAX_MS 1000

typedef struct pgc pgc_t;

/* res is the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK) and err NULL, or
 * res NULL and err says why. res is freed when the callback returns. */
typedef void (*pgc_cb)(void *arg, const PGresult *res, const char *err);

/* A pool of size connections to url (a libpq URL or conninfo). Nothing
 * connects before pgc_start. NULL on bad arguments or no memory. */
pgc_t *pgc_new(ev_loop_t *loop, const char *url, int size, int timeout_ms);
void pgc_free(pgc_t *p);

/* Register a statement; returns its handle (>= 0) or -1. */
int pgc_prepare(pgc_t *p, const char *sql, int nparams);
/* Start connecting (and reconnecting, forever). 0 / -1. */
int pgc_start(pgc_t *p);

/* Run statement stmt with text parameters (lens NULL) or binary ones
 * (lens[i] > 0: binary of that length). Parameters are copied. 0 queued
 * (cb will run), -1 refused now (cb will not run): every connection is
 * down, the queue is full, or bad arguments. */
int pgc_query(pgc_t *p, int stmt, int nparams, const char *const *vals, const int *lens, pgc_cb cb,
              void *arg);

/* Hooks for a pool that LISTENs (a LISTEN lasts as long as its
 * connection): ready runs each time a connection has (re)connected and is
 * about to take queries, so the caller can LISTEN again and read what it
 * missed; notify runs for each NOTIFY any of its connections received.
 * Either may be NULL. */
typedef void (*pgc_ready_fn)(void *arg);
typedef void (*pgc_notify_fn)(void *arg, const char *channel, const char *payload);
void pgc_on_events(pgc_t *p, pgc_ready_fn ready, pgc_notify_fn notify, void *arg);

/* Connections ready for queries now, and queries waiting. */
int pgc_up(const pgc_t *p);
int pgc_queued(const pgc_t *p);
/* The last connection error (for logs and /healthz). */
const char *pgc_error(const pgc_t *p);

#endif
