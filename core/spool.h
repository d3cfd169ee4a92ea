/*
 * spool.h - the durable mail spool between workers and the mailer process.
 *
 * A worker must never wait on an SMTP relay, and a link must survive a
 * restart or a relay outage, so a worker only writes a small file here and
 * the mailer process (mailer.c) does the sending. The directory is laid out
 * like a maildir:
 *
 *   DIR/tmp/   files being written (never read by the mailer)
 *   DIR/new/   complete messages waiting for delivery
 *   DIR/sent/  a short record of what was delivered (for operators; pruned):
 *              messages sent from new/, and the journals of the batch files
 *              the mailer sent from (spool_journal.h)
 *   DIR/failed/ messages the relay rejected for good, or whose link expired
 *
 * A message file is named after the link's 16-byte id in hex, so enqueueing
 * the same link twice is idempotent and the Message-ID derived from that id
 * is stable across retries: a relay or a mailbox can drop a duplicate.
 */
#ifndef MG_SPOOL_H
#define MG_SPOOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SPOOL_ADDR_MAX 320
#define SPOOL_URL_MAX 2048

#define SPOOL_UA_MAX 200

/* What the request told us that the mail repeats back: the sign-in code,
 * the language chosen from Accept-Language, and who asked (IP, browser).
 * Any field may be NULL or "". Values are cleaned when spooled: the file is
 * line-based and they end up in a mail. */
typedef struct {
    const char *code;
    const char *lang;
    const char *ip;
    const char *ua;
} spool_meta_t;

/* One spooled message: what is needed to build the mail at send time. */
typedef struct {
    char id_hex[33];
    char to[SPOOL_ADDR_MAX];
    char url[SPOOL_URL_MAX];
    uint64_t expires_s; /* unix time the link stops working */
    uint64_t created_s; /* unix time of enqueue: the Date header */
    char code[12];      /* "" in files spooled before codes existed */
    char lang[16];      /* "" = the default language */
    char ip[64];
    char ua[SPOOL_UA_MAX + 1];
} spool_msg_t;

/* Create DIR and its subdirectories (mode 0700) if missing. */
int spool_init(const char *spool_dir, char *err, size_t errsz);

/* Durably add a message: write tmp/ID.PID, fsync, rename to new/ID, fsync
 * new/. Returns 0, or -1 with a message in err. `to` and `link_url` must not
 * contain control characters (they end up in mail headers). */
int spool_enqueue(const char *spool_dir, const char *to, const char *link_url, uint64_t expires_s,
                  const uint8_t id[16], const spool_meta_t *meta, char *err, size_t errsz);

/* Copy a meta value into dst (dstsz bytes) keeping only what is safe in a
 * spool line and a mail: printable ASCII, at most dstsz-1 bytes; `allowed`
 * (when not NULL) narrows the set further. Returns dst. */
char *spool_clean(char *dst, size_t dstsz, const char *src, const char *allowed);
/* Fill m's code, lang, ip and ua from meta (NULL: all empty), cleaned. */
void spool_msg_meta(spool_msg_t *m, const spool_meta_t *meta);

/* A decoy (no account enumeration): the same work and the same failures as
 * spool_enqueue for an address of to_len and a link of url_len bytes (a
 * file of that size written under tmp/ and fsynced), but the file is
 * unlinked instead of renamed into new/, and tmp/ is fsynced instead of
 * new/: the mailer never sees it.
 * 0 / -1 with err. */
int spool_enqueue_decoy(const char *spool_dir, size_t to_len, size_t url_len, const uint8_t id[16],
                        char *err, size_t errsz);

/* Serialise / parse a message file body (exposed for unit tests). */
int spool_format(const spool_msg_t *m, char *out, size_t outsz);
int spool_parse(const char *text, size_t len, spool_msg_t *m);

/* Read DIR/new/NAME into m. */
int spool_read(const char *spool_dir, const char *name, spool_msg_t *m, char *err, size_t errsz);

/* Move DIR/new/NAME to DIR/SUBDIR/NAME ("sent" or "failed"), fsyncing the
 * directories, or unlink it when subdir is NULL. */
int spool_move(const char *spool_dir, const char *name, const char *subdir);

/* When a message of new/ the relay deferred is due again, kept on its
 * file where every mailer on the spool sees it (smtp_connections N, an
 * upgrade's overlap): its mtime is the time it is due, set when it was
 * deferred, so its ctime is when that was (a rename into new/ moves
 * ctime on, a little). Each mailer's own back-off alone let N mailers try
 * a deferred link N times as often, each at once after another's 451.
 * A fresh file's mtime is no later than its ctime: due now, and the first
 * delay is SPOOL_RETRY_FIRST_MS; each one after doubles the one before
 * (mtime - ctime), up to cap_ms. */
#define SPOOL_RETRY_FIRST_MS 5000ul
/* The delay after one more deferral of the file st is of. */
unsigned long spool_retry_next(const struct stat *st, unsigned long cap_ms);
/* Mark the open file fd due again delay_ms from now. 0, or -1 with errno. */
int spool_retry_set(int fd, unsigned long delay_ms);
/* How long until the file st is of is due: 0 when it is, or when its
 * mtime is further ahead than cap_ms (the clock went back; or an mtime
 * not of ours). */
unsigned long spool_retry_wait_ms(const struct stat *st, unsigned long cap_ms);

/* A usable spool file name: 32 hex digits, nothing else. */
int spool_name_ok(const char *name);

/* write(2) all of p, past EINTR and short writes: 0, or -1 with errno. */
int spool_write_all(int fd, const char *p, size_t n);
/* The same with pwrite(2) at off (the file position does not move). */
int spool_pwrite_all(int fd, const char *p, size_t n, off_t off);
/* All of the open file fd (read from where it is), NUL-terminated, in
 * malloc'd memory; *len its length. A regular file only (a FIFO under a
 * spool name would wait for a writer for ever) of at most max bytes. fd
 * stays open. NULL with errno: EINVAL not a regular file, EFBIG too
 * large, or read(2)'s. */
char *spool_read_fd(int fd, size_t max, size_t *len);

/* Start a thread of the spool (the sync thread, the batch file pool) with
 * every signal blocked in it, so SIGPROF and the master's signals stay with
 * the loop's thread, named `name` (at most 15 bytes: what top -H and
 * /proc/PID/task/TID/comm show). 0, or pthread_create's error number. */
int spool_thread_start(pthread_t *th, void *(*fn)(void *), void *arg, const char *name);

/* Rejects empty strings, control characters and, for addresses, anything
 * that is not local@domain without spaces or angle brackets. */
int spool_addr_ok(const char *addr);
int spool_url_ok(const char *url);

#endif
