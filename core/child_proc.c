/*
 * child_proc.c - signals as events for child processes (see child_proc.h).
 *
 * The handler sets a bit in `cproc_pending` and writes a byte to the
 * self-pipe; cproc_handle swaps the bits out atomically and acts: USR1
 * reopens, QUIT starts the drain (once), TERM/INT stop. Reading the pipe
 * empty before swapping the bits means a signal that lands in between
 * leaves both a bit and a byte, so it is never lost, only seen one turn
 * later at worst.
 */
#include "core/child_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

enum { P_QUIT = 1, P_TERM = 2, P_REOPEN = 4 };

static volatile sig_atomic_t cproc_pending;
static int cproc_pipe[2] = {-1, -1};

static void cproc_on_signal(int sig)
{
    int saved = errno;
    cproc_pending |= sig == SIGQUIT ? P_QUIT : sig == SIGUSR1 ? P_REOPEN : P_TERM;
    if (cproc_pipe[1] >= 0 && write(cproc_pipe[1], "s", 1) < 0) {
        /* full pipe: a wake-up is already pending */
    }
    errno = saved;
}

int cproc_init(cproc_t *cp, const cproc_ops_t *ops)
{
    struct sigaction sa;
    static const int handled[] = {SIGQUIT, SIGTERM, SIGINT, SIGUSR1};
    static const int ignored[] = {SIGHUP, SIGUSR2, SIGWINCH, SIGPIPE};

    memset(cp, 0, sizeof *cp);
    cp->ops = *ops;
    cp->io.fd = -1;
    if (cproc_pipe[0] < 0 && pipe2(cproc_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    cproc_pending = 0;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = cproc_on_signal; /* no SA_RESTART: blocking calls see EINTR */
    for (size_t i = 0; i < sizeof handled / sizeof *handled; i++)
        sigaction(handled[i], &sa, NULL);
    sa.sa_handler = SIG_IGN;
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
        sigaction(ignored[i], &sa, NULL);
    return 0;
}

static void cproc_on_pipe(ev_loop_t *loop, ev_io_t *io, uint32_t events)
{
    (void)events;
    cproc_handle(io->data, ev_now(loop));
}

int cproc_watch(cproc_t *cp, ev_loop_t *loop)
{
    cp->io.fd = cproc_pipe[0];
    cp->io.cb = cproc_on_pipe;
    cp->io.data = cp;
    return ev_io_add(loop, &cp->io, EPOLLIN);
}

int cproc_fd(const cproc_t *cp)
{
    (void)cp;
    return cproc_pipe[0];
}

void cproc_handle(cproc_t *cp, uint64_t now_ms)
{
    char buf[64];
    while (read(cproc_pipe[0], buf, sizeof buf) > 0) {
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    int p = cproc_pending;
    cproc_pending = 0;
    sigprocmask(SIG_SETMASK, &old, NULL);

    if (p & P_REOPEN) {
        if (log_reopen() < 0)
            log_error(MG_LOG_ALERT, errno, "%s: cannot reopen the error log", cp->ops.name);
        if (cp->ops.reopen)
            cp->ops.reopen(cp->ops.ctx);
    }
    if (p & P_TERM)
        cp->stop = 1;
    if ((p & P_QUIT) && !cp->draining) {
        log_notice("%s: gracefully shutting down", cp->ops.name);
        cp->draining = 1;
        cp->deadline_ms = now_ms + (cp->ops.drain_ms ? cp->ops.drain_ms : 10000);
        if (cp->ops.drain)
            cp->ops.drain(cp->ops.ctx);
    }
}

int cproc_done(cproc_t *cp, uint64_t now_ms)
{
    if (cp->stop)
        return 1;
    if (!cp->draining)
        return 0;
    int busy = cp->ops.busy ? cp->ops.busy(cp->ops.ctx) : 0;
    if (busy && now_ms < cp->deadline_ms)
        return 0;
    if (busy)
        log_warn("%s: shutdown_timeout: giving up on %d in flight", cp->ops.name, busy);
    return 1;
}

int cproc_stopping(const cproc_t *cp)
{
    return cp->stop || cp->draining || (cproc_pending & (P_QUIT | P_TERM));
}
