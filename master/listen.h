/*
 * listen.h - creating the listening sockets the master hands to children.
 */
#ifndef MG_LISTEN_H
#define MG_LISTEN_H

#include "core/conf.h"

/* Bind and listen on addr (non-blocking, close-on-exec, SO_REUSEADDR).
 * Returns the fd, or -1 with a message in err that names the directive
 * (`listen`, `profiler_listen`) the address came from. */
int listen_open(const conf_addr_t *addr, const char *directive, int backlog, char *err,
                size_t errsz);
/* Is fd a listening socket bound to addr? (for reload and inherited fds) */
int listen_matches(int fd, const conf_addr_t *addr);
/* "127.0.0.1:8080" / "[::1]:8080" / "*:8080" */
void listen_addr_str(const conf_addr_t *a, char *out, size_t n);
/* Is the address loopback-only? (the profiler warns otherwise) */
int listen_is_loopback(const conf_addr_t *a);

#endif
