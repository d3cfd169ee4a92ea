/*
 * delivery.h - getting a magic link to its owner.
 *
 * Chosen by the `delivery` directive:
 *   log       the link goes to the error log at notice level (development)
 *   outbox    one JSON line per link appended to a file, for an external
 *             mailer: {"to":..,"link":..,"expires":..,"id":..,"code":..,
 *             "lang":..,"ip":..,"ua":..} (the last four when known); lines
 *             with "decoy":true carry nothing to send (deliver_decoy)
 *   smtp      the link is queued in the durable mail spool (smtp_spool) and
 *             the mailer process sends it; a worker never talks SMTP
 *   response  nothing to do here: the page shows the link (demo mode)
 *
 * Each worker opens its own deliverer after fork.
 */
#ifndef MG_DELIVERY_H
#define MG_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "core/shmtx.h"
#include "core/event.h"
#include "core/spool.h"

typedef struct deliver deliver_t;

/* NULL with err when the outbox cannot be opened, etc. */
deliver_t *deliver_open(const conf_t *c, char *err, size_t errsz);

/* Deliver one link, with what the mail should say about it (meta: the
 * sign-in code, language, requesting IP and browser; may be NULL). 0 ok / -1 error (not logged
 * here; deliver_error says why). */
int deliver_send(deliver_t *d, const char *email, const char *link_url, uint64_t expires_s,
                 const uint8_t id[16], const spool_meta_t *meta);

/* The same work as deliver_send for the same arguments, and the same
 * failures, without delivering anything: for an address that has no
 * account, so the answer does not tell (see delivery.c). 0 / -1. */
int deliver_decoy(deliver_t *d, const char *email, const char *link_url, uint64_t expires_s,
                  const uint8_t id[16], const spool_meta_t *meta);

/* The lock every worker takes around an outbox append (shm); NULL: none. */
void deliver_set_lock(deliver_t *d, shmtx_t *lock);

/* smtp: the answer must wait until the link is durable, without blocking
 * the loop, so links go through the worker's group commit
 * (core/spool_commit.h) and the caller parks its request. outbox: the
 * answer waits for the end of the loop iteration, whose lines are written
 * with one write (app/outbox_group.h). 1 when the caller must use
 * deliver_send_async / deliver_decoy_async. */
int deliver_is_async(const deliver_t *d);

/* Queue the link in this worker's group commit (started on `loop` on first
 * use); done(arg, 0) runs on the loop once it is on stable storage (smtp)
 * or in the outbox file (outbox), done(arg, -1) when its batch could not
 * be written. -1 (done never runs)
 * when it cannot be queued; deliver_error says why. */
int deliver_send_async(deliver_t *d, ev_loop_t *loop, const char *email, const char *link_url,
                       uint64_t expires_s, const uint8_t id[16], const spool_meta_t *meta,
                       void (*done)(void *, int), void *arg);

/* The same wait and about the same bytes in the same batch, and nothing is
 * sent: the answer for an address without an account looks and takes the
 * same as for one with an account. */
int deliver_decoy_async(deliver_t *d, ev_loop_t *loop, const char *email, const char *link_url,
                        uint64_t expires_s, const uint8_t id[16], const spool_meta_t *meta,
                        void (*done)(void *, int), void *arg);

/* The request waiting with arg went away: its entry is still committed, its
 * done is not called. */
void deliver_cancel(deliver_t *d, void *arg);

/* Why the last batch failed (for a done(arg, -1)). */
const char *deliver_async_error(const deliver_t *d);

/* USR1: reopen the outbox file (after rotation). 0 / -1. */
int deliver_reopen(deliver_t *d);

void deliver_close(deliver_t *d);

/* The last error of deliver_send/deliver_reopen. */
const char *deliver_error(const deliver_t *d);

/* The JSON line for the outbox (exposed for tests): returns its length
 * including the final '\n', or -1 when it does not fit in outsz. */
int deliver_outbox_line(const char *email, const char *link_url, uint64_t expires_s,
                        const uint8_t id[16], const spool_meta_t *meta, char *out, size_t outsz);

/* A decoy outbox line of exactly len bytes (>= about 100), with "decoy":true
 * and no address or link; -1 when it cannot be that long. */
int deliver_decoy_line(size_t len, uint64_t expires_s, const uint8_t id[16], char *out,
                       size_t outsz);

#endif
