/*
 * spool_batch.h - many spool messages in one file, made durable together.
 *
 * A worker group-commits its links (core/spool_commit.h): every link that
 * arrived while the previous commit was syncing goes into one batch file,
 * which costs one file write and one fsync however many links it holds. The
 * mailer sends straight from batch files (spool_deliver), recording what
 * the relay accepted in a journal per file (spool_journal.h); a message it
 * must retry, or could not send, gets the one-file-per-message layout of
 * spool.h, so retries, failed/ and idempotent names are unchanged.
 *
 * A batch file is text, so an operator can read it:
 *
 *   magicd-spool-batch 1
 *   record
 *   id: 00112233445566778899aabbccddeeff      (spool_format's lines)
 *   ...
 *   record
 *   decoy: xxxxxxxxxxxxxxxx                     (costs the same, sends nothing)
 *   end 2 5c1b0e6f3a2d9e47
 *
 * The last line counts the records and carries a 64-bit FNV-1a checksum of
 * every byte before it. A batch that fails that check was cut short by a
 * crash of the machine before its fsync returned, so no client was told its
 * link was sent: the mailer moves the file to failed/ and logs it.
 *
 * A file may hold several batches, one after the other: a busy worker's
 * sync thread writes each commit after the last one in the same file
 * (spool_commit.c), and a batch is written only once the one before it is
 * synced, so only the last batch of a file can be torn; the whole ones
 * before it are delivered.
 *
 * A file may go on after its trailer with zero bytes: the sync thread
 * writes each batch over a file it zero-filled and synced ahead of time
 * (spool_commit.c: an overwrite of allocated blocks within the file's size
 * changes no metadata, so its fdatasync needs no journal commit). Readers
 * drop the zeros first (spool_batch_len); a file that is nothing but zeros
 * is a file made ahead and never used. The text itself never holds a zero
 * byte, so the two cannot be confused.
 *
 * Names: DIR/new/.b.<16 hex, random per process>.<sequence> (made empty
 * and locked ahead of time by a worker's sync thread, see spool_commit.c;
 * the mailer takes one only when it can lock it) or b.<...> (complete when
 * it appears, e.g. renamed in by a tool). They never pass spool_name_ok,
 * so a mailer that does not know batches ignores them.
 */
#ifndef MG_SPOOL_BATCH_H
#define MG_SPOOL_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/spool.h"

#define SPOOL_BATCH_MAGIC "magicd-spool-batch 1\n"
#define SPOOL_BATCH_PREFIX "b."    /* one batch (older releases, tools) */
#define SPOOL_BATCHES_PREFIX "bs." /* one batch or several (spool_commit.c) */
#define SPOOL_BATCH_SENDING 'j'    /* before the prefix: sent from, see spool_batch_name_ok */
/* The most a record takes in a batch file (a message's lines + "record\n"). */
#define SPOOL_BATCH_RECORD_MAX (sizeof(spool_msg_t) + 128)

/* A batch file name: "b.", ".b.", "bs." or ".bs.", then 16 lowercase hex
 * digits, ".", 1-20 digits. Files that may hold several batches are named
 * "bs.": a mailer of an older release (during a binary upgrade's overlap,
 * or after a rollback) does not know that format and would fail such a
 * file as torn; it does not know the name either, so it leaves the file
 * alone for a current mailer. For the same reason a file is renamed with
 * a 'j' before its prefix (".jbs.", ".jb.") before the first of its links
 * is sent from it: an older mailer knows nothing of its journal
 * (spool_journal.h) and would send the links recorded there again. */
int spool_batch_name_ok(const char *name);

/* Append a message record / a decoy record of about `len` bytes to out
 * (at most outsz bytes). Return the bytes written, -1 when it does not fit
 * or the message is malformed (spool_addr_ok / spool_url_ok). */
int spool_batch_put_msg(char *out, size_t outsz, const spool_msg_t *m);
int spool_batch_put_decoy(char *out, size_t outsz, size_t len);

/* The trailer for body[0..n): "end COUNT CHECKSUM\n". Returns its length,
 * -1 when it does not fit. */
int spool_batch_put_end(char *out, size_t outsz, const char *body, size_t n, unsigned count);

/* The length of a batch file's text: len without the zero bytes that pad
 * it (0: the file was made ahead and never written). */
size_t spool_batch_len(const char *text, size_t len);

typedef int (*spool_batch_fn)(const spool_msg_t *m, const char *rec, size_t reclen, void *arg);

/* Walk a whole batch file: one or more batches one after the other, then
 * maybe zero padding. Each batch's magic, trailer, count and checksum are
 * verified before fn is called for any of its message records (decoys are
 * skipped). Returns the number of messages, or what a negative fn returned
 * (the walk stops there). A torn batch (only the last one of a file can
 * be: a batch is written only after the one before it was synced): with
 * torn NULL, or when it is the first, -1; otherwise *torn is set and the
 * messages of the whole batches before it count. */
int spool_batch_parse(const char *text, size_t len, spool_batch_fn fn, void *arg, int *torn);

/* Mailer side: unpack up to max_files batch files of DIR/new into one
 * message file each (tmp/ + fsync + rename, then fsync new/), then remove
 * each batch (and fsync new/ again), so a message is never both sent and
 * still in a batch. A message file that exists already is left alone (a
 * crash during an earlier unpack). A ".b." file is taken only when its
 * lock is free (its writer closed it or died); one never written (empty
 * or only zeros) whose writer died is removed. Torn batches go to failed/ (a file whose
 * last batch is torn, once the whole batches before it are queued). Returns the
 * number of messages unpacked, -1 with err on an I/O error. *left gets how
 * many batch files were not looked at (max_files reached). */
int spool_unpack(const char *spool_dir, int max_files, int *left, char *err, size_t errsz);

/* What the mailer's sender did with one message of a batch file. */
typedef enum {
    SPOOL_SENT,    /* the relay accepted it: recorded in the file's journal */
    SPOOL_DEFER,   /* try again later: into new/ID, retried from there */
    SPOOL_REFUSED, /* for good (refused, expired): into failed/ID */
    SPOOL_STOP     /* not sent, and nothing more now (relay gone, stopping) */
} spool_sent_t;

typedef spool_sent_t (*spool_send_fn)(const spool_msg_t *m, void *arg);

/* Links the relay accepted whose record could not be written (the disk
 * failed just then): the caller keeps this, zeroed at first, across its
 * spool_deliver calls, so the passes that follow write their records
 * instead of sending them again. */
#define SPOOL_UNRECORDED_MAX 16
typedef struct {
    char ids[SPOOL_UNRECORDED_MAX][33];
    unsigned n; /* how many were ever added */
    /* The batch file of the first of them, kept locked (its descriptor
     * + 1; 0: none) until their lines are written: another mailer on the
     * spool would find no line and send them again. spool_batch_pending
     * cannot take it: while it is held, the caller calls spool_deliver
     * whatever that says. */
    int held;
    char held_name[96];
} spool_unrecorded_t;

/* Mailer side, with the relay up: the same walk as spool_unpack, but each
 * message not handled before (not in new/, sent/, failed/ or the batch
 * file's journal, core/spool_journal.h) is given to send, and only the
 * ones it defers or refuses get a file. On SPOOL_STOP the batch file stays
 * as it is (what was sent from it is in its journal) and the walk ends.
 * Every batch file is locked while it is read, so two mailers never send
 * from the same one. A file whose journal cannot be read, or has no room
 * for one more line, is logged and left as it is, and the walk goes on to
 * the next. Returns the messages handled (sent, queued, failed), -1 with
 * err on an I/O error (send is not called after one). With send NULL it
 * is spool_unpack. unrecorded: see spool_unrecorded_t (NULL: none kept). */
int spool_deliver(const char *spool_dir, int max_files, int *left, spool_send_fn send, void *arg,
                  spool_unrecorded_t *unrecorded, char *err, size_t errsz);

/* 1 when DIR/new holds a batch file spool_unpack would take (complete, or
 * made ahead and no longer locked by its writer), 0 otherwise. With links
 * not NULL, every such file is read and *links gets the number of links
 * in them (the mailer's queue depth counts them while they wait there);
 * with NULL it stops at the first. Links of a file sent from before are
 * not counted when they are in its journal, nor when they were deferred
 * into new/ (the mailer counts them there) or refused into failed/. */
int spool_batch_pending(const char *spool_dir, int *links);

#endif
