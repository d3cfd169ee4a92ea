/*
 * sd_notify.h - the systemd notification protocol, without libsystemd.
 *
 * Under a `Type=notify` unit systemd passes NOTIFY_SOCKET (a filesystem path,
 * or '@name' for an abstract socket) and, with WatchdogSec=, WATCHDOG_USEC and
 * WATCHDOG_PID. The service reports its state by sending datagrams such as
 * "READY=1" to that socket. sd_notify_init() reads the variables once, in the
 * master, and removes them from the environment so workers, the profiler and
 * a new binary started by an upgrade do not inherit a socket that is not
 * theirs. Every other call is a cheap no-op (returning 0) when magicd does
 * not run under systemd.
 */
#ifndef MG_SD_NOTIFY_H
#define MG_SD_NOTIFY_H

#include <stdint.h>

/* Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID; unsetenv them.
 * Returns 1 when notifications will be sent, 0 when not under systemd,
 * -1 when NOTIFY_SOCKET is set but unusable (errno set). */
int sd_notify_init(void);

/* Send one datagram built from fmt (e.g. "READY=1\nSTATUS=%s").
 * Returns 0 when not under systemd, 1 when sent, -1 on error (errno). */
int sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval in microseconds when WatchdogSec= applies to this
 * process, else 0. Send sd_notify_watchdog() at half of it. */
uint64_t sd_watchdog_usec(void);

int sd_notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC), as Type=notify-reload
 * expects; send sd_notify_ready() when the reload is done. */
int sd_notify_reloading(void);
int sd_notify_stopping(void);
int sd_notify_watchdog(void);
/* STATUS=<workers> workers, <conns> connections, <rps> requests/s */
int sd_notify_status(int workers, long conns, double rps);
/* The NOTIFY_SOCKET value read by sd_notify_init() (NULL when none), so a
 * binary upgrade can hand it to the new master, which then announces itself
 * with MAINPID= (the unit needs NotifyAccess=all for that). */
const char *sd_notify_socket_path(void);

/* MAINPID=pid: tell systemd that another process (a new binary after an
 * upgrade) is now the service's main process. */
int sd_notify_mainpid(long pid);

#endif
