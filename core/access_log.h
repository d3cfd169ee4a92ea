/*
 * access_log.h - buffered access log in `combined` or `json` format.
 *
 * Each worker appends lines to a private buffer and writes it out with one
 * write(2) when it fills or when the flush interval passes (the caller arms
 * a timer that calls access_log_flush), so logging costs a memcpy per
 * request rather than a syscall. The file is O_APPEND, so whole buffers from
 * several workers interleave without tearing lines (each buffer ends on a
 * line boundary). access_log_reopen() is USR1: flush, then reopen the path
 * (logrotate's `create` mode moves the old file away first).
 */
#ifndef MG_ACCESS_LOG_H
#define MG_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "core/http.h"

typedef struct access_log access_log_t;

/* NULL path or "off": returns NULL (logging disabled) with *err unset. */
access_log_t *access_log_open(const char *path, access_log_format_t fmt, size_t bufsize, char *err,
                              size_t errsz);
void access_log_write(access_log_t *al, const char *peer, const http_request_t *req,
                      const char *request_id, int status, size_t bytes, uint64_t usec);
int access_log_flush(access_log_t *al);
int access_log_reopen(access_log_t *al);
void access_log_close(access_log_t *al);
/* Bytes waiting in the buffer (for tests). */
size_t access_log_pending(const access_log_t *al);

#endif
