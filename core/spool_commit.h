/*
 * spool_commit.h - a worker's group commit of spool messages, off its loop.
 *
 * `delivery smtp` promises two things that pull against each other: a link
 * is on stable storage before its 200 is sent, and the worker's event loop
 * never waits for the disk. A committer keeps both: the loop only formats
 * records into memory and parks the request; one sync thread per worker
 * writes every record that arrived while the previous commit was syncing
 * into one batch file (core/spool_batch.h), fsyncs it and its directory, and
 * wakes the loop through an eventfd, which then answers every parked
 * request of that batch. Under load a batch holds all the links that came
 * in during one sync, so the disk costs one commit per batch, not per link.
 *
 * Callbacks run on the loop, never on the sync thread. A decoy entry rides
 * in a batch like a message (same wait, about the same bytes) and sends
 * nothing: for answers that must not reveal whether an address is known.
 */
#ifndef MG_SPOOL_COMMIT_H
#define MG_SPOOL_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/spool.h"

typedef struct spool_committer spool_committer_t;

/* rc 0: the entry is durable; -1: the batch could not be written (why: in
 * spool_committer_error()). */
typedef void (*spool_done_fn)(void *arg, int rc);

/* Create the spool directories if needed, open them, start the sync thread
 * (with every signal blocked, so signals stay with the loop's thread).
 * NULL with err on failure. */
spool_committer_t *spool_committer_new(ev_loop_t *loop, const char *spool_dir, char *err,
                                       size_t errsz);

/* Queue a message; done(arg, rc) runs on the loop once its batch is durable.
 * -1 (done never called) when the message is malformed or the batch in
 * formation is full (SPOOL_COMMIT_MAX_BYTES). */
int spool_commit_add(spool_committer_t *q, const char *to, const char *link_url, uint64_t expires_s,
                     const uint8_t id[16], const spool_meta_t *meta, spool_done_fn done, void *arg);

/* Queue a decoy of about len bytes (0: the size of a typical link). */
int spool_commit_decoy(spool_committer_t *q, size_t len, spool_done_fn done, void *arg);

/* The waiter for arg went away (its connection closed): its entry is still
 * committed, done(arg) is not called. */
void spool_commit_cancel(spool_committer_t *q, void *arg);

/* Entries waiting (in formation + syncing), and batches committed so far. */
size_t spool_committer_pending(const spool_committer_t *q);
uint64_t spool_committer_batches(const spool_committer_t *q);
const char *spool_committer_error(const spool_committer_t *q);

/* Finish the batch in flight and the one in formation (their callbacks run),
 * stop the thread, free. */
void spool_committer_free(spool_committer_t *q);

#define SPOOL_COMMIT_MAX_BYTES (8u << 20)

#endif
