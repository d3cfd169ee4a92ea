/*
 * spool_journal.h - which links of a batch file the mailer has sent.
 *
 * The mailer sends straight from a worker's batch file (spool_batch.h)
 * instead of first copying each link into a file of its own. What it must
 * remember durably is which links the relay has accepted, so that a mailer
 * killed half-way through a file neither loses the rest nor sends the first
 * part twice: one line per accepted link, "sent ID\n", in DIR/sent/NAME.sent
 * (NAME: the batch file's name without its leading dot, nor the 'j' it
 * gets when sending from it begins, spool_batch.h).
 *
 * Each line is written over zero bytes the journal was filled with ahead
 * of time and then fdatasync()ed: an overwrite inside the file's size
 * changes no metadata, so the sync is one data write and one flush (the
 * same reasoning as spool_commit.c's batch files), where a file per link
 * and a rename into sent/ cost a journal commit each. The zeros are added
 * a chunk at a time (one block first: a quiet worker's batch file holds a
 * single link), before the link they make room for is sent, so a full
 * disk stops the sending rather than the recording; what is left of them
 * is cut off when the file is closed.
 *
 * The journal outlives its batch file in sent/ as the operator's record of
 * what was delivered, and is pruned with the other files there.
 */
#ifndef MG_SPOOL_JOURNAL_H
#define MG_SPOOL_JOURNAL_H

#include <stddef.h>
#include <sys/types.h>

#define SPOOL_JOURNAL_SUFFIX ".sent"

typedef struct {
    int sentfd;      /* DIR/sent, not owned */
    char name[96];   /* NAME.sent */
    int fd;          /* -1 until the first link is recorded */
    off_t off;       /* where the next line goes */
    off_t zeroed;    /* the file's size: zeros from off to here */
    char (*ids)[33]; /* the links recorded before this open, sorted */
    size_t nids;
} spool_journal_t;

/* The journal of batch file `batch` (its name in new/, with or without the
 * leading dot) under the directory sentfd: read what an earlier mailer
 * recorded, if anything. 0, or -1 with errno (a journal that cannot be
 * read: nothing of its batch may be sent). */
int spool_journal_open(spool_journal_t *j, int sentfd, const char *batch);

/* 1 when link id_hex was recorded before this open. */
int spool_journal_has(const spool_journal_t *j, const char *id_hex);

/* Make room for one more line (create the file, add zeros, fsync them and
 * sent/ when it is new): call before sending, so a link the relay accepted
 * can always be recorded. 0, or -1 with errno. */
int spool_journal_reserve(spool_journal_t *j);

/* Record id_hex as sent: its line over the zeros, then fdatasync. 0 / -1. */
int spool_journal_add(spool_journal_t *j, const char *id_hex);

void spool_journal_close(spool_journal_t *j);

/* A journal's name: a batch file's name without its dot and 'j', then
 * ".sent". */
int spool_journal_name_ok(const char *name);

/* How many links a journal records (for a reader of sent/); 0 when there
 * is none. */
int spool_journal_count(int sentfd, const char *batch);

#endif
