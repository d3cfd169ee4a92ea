/*
 * handoff.h - passing a client connection to another worker (SCM_RIGHTS).
 *
 * On a reload or a binary upgrade the workers of the old generation must
 * go, but closing a keep-alive connection races with the client's next
 * request: the request may already be on the wire when the FIN leaves, and
 * a client that does not retry sees an error. So a retiring worker does not
 * close its connections: at a request boundary (idle, or part of the next
 * request read) it sends the socket, with the bytes it has already read
 * from it, to a worker of the new generation, which carries on as if it
 * had accepted it. Bytes the client sent meanwhile are still in the
 * socket's kernel buffer and travel with it.
 *
 * The channel is a SOCK_DGRAM socketpair the master makes once and every
 * worker inherits (and a new binary inherits across USR2): retiring workers
 * send on one end, current workers read the other with EPOLLEXCLUSIVE, so
 * one of them takes each connection. A datagram is one connection: a small
 * header, the buffered bytes, one descriptor in SCM_RIGHTS. Both calls are
 * non-blocking; a full channel (EAGAIN) means "try again in a moment".
 */
#ifndef MG_HANDOFF_H
#define MG_HANDOFF_H

#include <stddef.h>

/* Largest number of buffered bytes a hand-off carries; a connection holding
 * more (the middle of a big body) finishes its request first. */
#define HANDOFF_MAX_BYTES (64 * 1024)

/* The master's channel: fds[0] is read by current workers, fds[1] written by
 * retiring ones. 0 or -1 with errno. */
int handoff_channel(int fds[2]);
/* Is fd usable as one end of a channel (an AF_UNIX datagram socket)? */
int handoff_valid(int fd);

/* Send connection fd and its buffered bytes. 0 sent (the caller closes its
 * copy), -1 with errno (EAGAIN: the channel is full, try later). */
int handoff_send(int chan, int fd, const void *bytes, size_t n);
/* Receive one connection: *fd (close-on-exec, non-blocking) and up to cap
 * buffered bytes in buf, *n of them. 0, or -1 with errno (EAGAIN: none). */
int handoff_recv(int chan, int *fd, void *buf, size_t cap, size_t *n);

#endif
