/*
 * child_proc.h - the skeleton every child process runs on: signals as an
 * event in its loop, log reopening, and a graceful drain with a deadline.
 *
 * The worker, the profiler and the mailer are different programs with the
 * same life: the master forks them, they serve until told otherwise, and
 * the master speaks to them only with signals, nginx's way:
 *
 *   QUIT        graceful: stop taking new work, finish what is in flight,
 *               exit when nothing is left or when the drain deadline passes
 *   TERM, INT   exit now (at the next turn of the loop)
 *   USR1        reopen log files (and whatever else the process writes)
 *   HUP, USR2, WINCH, PIPE   ignored: reload and upgrade are the master's
 *
 * A signal handler does only two async-signal-safe things: it sets a bit
 * and writes one byte to a self-pipe. The pipe's read end is an fd in the
 * process's event loop (cproc_watch for the ev loop, cproc_fd for a poll
 * loop), so a signal wakes the loop like any other event and is acted on in
 * ordinary code (cproc_handle), never in the handler. Handlers are
 * installed without SA_RESTART, so a blocking call (the mailer's SMTP
 * exchange) returns EINTR and its caller can look at cproc_stopping().
 *
 * The self-pipe is a per-process singleton because a signal handler cannot
 * be handed a context; it is created after fork and never crosses a reload
 * (a reload replaces the child process, not its state).
 */
#ifndef MG_CHILD_PROC_H
#define MG_CHILD_PROC_H

#include <stdint.h>

#include "core/event.h"

typedef struct {
    const char *name; /* "worker", "profiler", "mailer": for the log */
    void *ctx;
    void (*reopen)(void *ctx); /* USR1; the error log is reopened first */
    void (*drain)(void *ctx);  /* QUIT: stop taking new work */
    int (*busy)(void *ctx);    /* work still in flight (0 lets a drain end) */
    uint64_t drain_ms;         /* the drain's deadline after QUIT (0: 10 s) */
} cproc_ops_t;

typedef struct {
    cproc_ops_t ops;
    ev_io_t io;
    uint64_t deadline_ms; /* while draining */
    int draining;
    int stop; /* exit at the next turn of the loop */
} cproc_t;

/* Install the handlers and the self-pipe. 0, or -1 with errno. */
int cproc_init(cproc_t *cp, const cproc_ops_t *ops);

/* Register the self-pipe in an ev loop; signals are then handled there. */
int cproc_watch(cproc_t *cp, ev_loop_t *loop);

/* The self-pipe's read end, for a process that waits in poll(). */
int cproc_fd(const cproc_t *cp);

/* Act on the signals that arrived (drains the pipe). */
void cproc_handle(cproc_t *cp, uint64_t now_ms);

/* 1 when the process should leave its loop: TERM, or a drain that is
 * finished or past its deadline (logged). */
int cproc_done(cproc_t *cp, uint64_t now_ms);

/* 1 once QUIT or TERM arrived (for code deep in a blocking exchange). */
int cproc_stopping(const cproc_t *cp);

#endif
