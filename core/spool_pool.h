/*
 * spool_pool.h - batch files made ahead of need, for a worker's sync thread.
 *
 * A group commit (spool_commit.h) is worth only what its one flush costs.
 * Writing a batch into a new file makes that flush carry metadata too (the
 * file's size, its newly allocated blocks), which on ext4 means a journal
 * commit that waits for every other process's metadata on the file system.
 * Written over a file whose blocks are already allocated, written with
 * zeros and synced, the same fdatasync carries no metadata: a data write
 * and a cache flush. So the files a commit uses are made here ahead of
 * time, by a thread of their own, so that making them (create, lock,
 * rename into new/, zero-fill, fsync, fsync new/) is never on a commit's
 * path unless the pool ran dry.
 *
 * Every file handed out is: named DIR/new/.b.TAG.SEQ with that name
 * durable, zeros on stable storage (half again what the largest recent
 * file held, spool_pool_hint, between SPOOL_POOL_FILE_MIN and _MAX: the
 * zeros are disk writes too, so they are sized by need: a quiet worker
 * closes a file after a link or two, a busy one fills each), and flock()ed
 * by this process (so the mailer leaves it alone until it is closed).
 * Created in tmp/ and locked there before it is renamed into new/: a mailer
 * must never see it unlocked (it would remove it as a dead worker's
 * leftover, and a batch written into it would be in no directory).
 *
 * The thread takes no signal (all blocked), calls no allocator, and logs
 * nothing; its errors come back to the caller of spool_pool_take.
 */
#ifndef MG_SPOOL_POOL_H
#define MG_SPOOL_POOL_H

#include <stddef.h>

#define SPOOL_POOL_FILE_MIN (16u << 10) /* zero-filled bytes per file, at least */
#define SPOOL_POOL_FILE_MAX (1u << 20)  /* ... and at most */
#define SPOOL_POOL_NAME_MAX 48

typedef struct spool_pool spool_pool_t;

/* Start making files in the spool whose new/ and tmp/ are open as newfd
 * and tmpfd (not owned), named after tag (16 hex, random per process).
 * NULL with err on failure. */
spool_pool_t *spool_pool_new(int newfd, int tmpfd, const char *tag, char *err, size_t errsz);

/* A ready file (blocks until one is, if the pool ran dry): 0 with its fd
 * (the caller closes it, which drops the lock) and name; -1 when the pool
 * could not make one, with the failed step in *op, errno in *err and the
 * file concerned in name. The next take tries again. */
int spool_pool_take(spool_pool_t *p, int *fd, char name[SPOOL_POOL_NAME_MAX], int *err,
                    const char **op);

/* The file just closed held n bytes: files made from now on are sized
 * for fills like it (the largest recent one, decaying slowly). */
void spool_pool_hint(spool_pool_t *p, size_t n);

/* Stop the thread, remove the files not taken, free. */
void spool_pool_free(spool_pool_t *p);

#endif
