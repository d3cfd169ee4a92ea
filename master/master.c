/*
 * master.c - the master process.
 *
 * The master never serves a request. It owns what must outlive any child:
 * the configuration, the listening sockets, the shared-memory zone, the pid
 * file and the error log, and it keeps the right set of children alive:
 * worker_processes workers of the current generation, a profiler and, with
 * `delivery smtp`, smtp_connections mailers.
 *
 * It is a loop around sigtimedwait(): every signal the master cares about is
 * blocked and taken synchronously, so there are no async handlers and no
 * races between a signal and the state it changes. Each turn reaps exited
 * children, acts on the signals received (nginx semantics), respawns what is
 * missing (with back-off for a child that keeps crashing), and ticks the
 * periodic work (sd_notify STATUS and watchdog, shutdown deadline).
 *
 *   HUP   reload: parse the file again; if it is bad, log why and keep
 *         running; if good, start a new generation of workers, then QUIT
 *         the old ones, which finish what they have. The profiler is kept
 *         while its socket is (profiles span the reload; what it takes
 *         from the config follows through prof_ctl in shm).
 *   QUIT  graceful stop (children finish in-flight requests, bounded by
 *         shutdown_timeout, after which they are killed).
 *   TERM, INT  fast stop.
 *   USR1  reopen logs (master and children).
 *   USR2  binary upgrade: start the new binary with our listening sockets;
 *   WINCH gracefully stop our workers (after USR2), keeping the master.
 *   CHLD  reap; a crashed child is replaced and its shm slot and any lock it
 *         held are released.
 */
#include "master/master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/child_exit.h"
#include "core/clock.h"
#include "core/conf_check.h"
#include "core/handoff.h"
#include "core/log.h"
#include "core/proctitle.h"
#include "core/sd_notify.h"
#include "core/shm.h"
#include "master/children.h"
#include "master/listen.h"
#include "master/pidfile.h"
#include "master/preflight.h"
#include "master/privileges.h"
#include "master/upgrade.h"
#include "core/ratelimit.h"
#include "core/revoke.h"
#include "core/sesslive.h"

#define STATUS_EVERY_MS 5000

static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    int sigs[] = {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(set, sigs[i]);
    sigprocmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Listening sockets: keep the ones the new config still names, open the
 * new ones, close the rest. On failure nothing changes. */
static int sockets_sync(master_t *m, const conf_t *c, char *err, size_t errsz)
{
    int fds[CONF_MAX_LISTEN];
    int used[CONF_MAX_LISTEN] = {0};
    for (int i = 0; i < c->http.nlisten; i++) {
        fds[i] = -1;
        for (int j = 0; j < m->nl; j++)
            if (!used[j] && m->lfds[j] >= 0 && listen_matches(m->lfds[j], &c->http.listen[i])) {
                fds[i] = m->lfds[j];
                used[j] = 1;
                break;
            }
        for (int j = 0; fds[i] < 0 && j < m->ninherited; j++)
            if (m->inherited[j] >= 0 && listen_matches(m->inherited[j], &c->http.listen[i])) {
                fds[i] = m->inherited[j];
                m->inherited[j] = -1;
            }
        if (fds[i] < 0)
            fds[i] = listen_open(&c->http.listen[i], "listen", c->http.listen_backlog, err, errsz);
        if (fds[i] < 0) {
            for (int k = 0; k < i; k++) {
                int mine = 0;
                for (int j = 0; j < m->nl; j++)
                    mine |= m->lfds[j] == fds[k];
                if (!mine)
                    close(fds[k]);
            }
            return -1;
        }
    }
    for (int j = 0; j < m->nl; j++)
        if (!used[j] && m->lfds[j] >= 0)
            close(m->lfds[j]);
    memcpy(m->lfds, fds, sizeof fds);
    m->nl = c->http.nlisten;

    /* The profiler's socket is kept across reloads and respawns. */
    if (c->prof.enabled) {
        if (m->pfd >= 0 && !listen_matches(m->pfd, &c->prof.listen)) {
            close(m->pfd);
            m->pfd = -1;
        }
        for (int j = 0; m->pfd < 0 && j < m->ninherited; j++)
            if (m->inherited[j] >= 0 && listen_matches(m->inherited[j], &c->prof.listen)) {
                m->pfd = m->inherited[j];
                m->inherited[j] = -1;
            }
        if (m->pfd < 0) {
            m->pfd = listen_open(&c->prof.listen, "profiler_listen", 128, err, errsz);
            if (m->pfd < 0)
                return -1;
        }
    } else if (m->pfd >= 0) {
        close(m->pfd);
        m->pfd = -1;
    }
    return 0;
}

static int open_logs(const conf_t *c)
{
    if (log_open(c->log.error_log, c->log.error_log_level) < 0) {
        fprintf(stderr, "magicd: [emerg] cannot open error log \"%s\": %s\n", c->log.error_log,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* A socket's identity: the same fd number may be a new socket. */
static ino_t sock_ino(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static void reload(master_t *m)
{
    log_notice("reconfiguring (signal HUP)");
    sd_notify_reloading();
    conf_t *nc = malloc(sizeof *nc);
    char err[1024] = "out of memory";
    keyring_t nk;
    int have_keys = 0;
    if (!nc)
        goto fail;
    conf_defaults(nc);
    snprintf(nc->prefix, sizeof nc->prefix, "%s", m->conf->prefix);
    snprintf(nc->cmdline, sizeof nc->cmdline, "%s", m->conf->cmdline);
    if (conf_load(nc, m->conf->file, err, sizeof err) < 0 || conf_check(nc, err, sizeof err) < 0 ||
        priv_check_state(nc, err, sizeof err) < 0)
        goto fail;
    if (preflight_run(nc, &nk, err, sizeof err) < 0)
        goto fail;
    have_keys = 1;
    int pfd0 = m->pfd;
    ino_t pino0 = sock_ino(m->pfd);
    if (sockets_sync(m, nc, err, sizeof err) < 0)
        goto fail;
    keyring_wipe(&m->keys);
    m->keys = nk; /* a rotated key file takes effect on HUP */
    if (strcmp(nc->log.error_log, m->conf->log.error_log) ||
        nc->log.error_log_level != m->conf->log.error_log_level)
        open_logs(nc);
    free(m->conf);
    m->conf = nc;
    m->generation++;
    atomic_store(&m->shm.hdr->generation, m->generation);
    children_config_changed(m);
    if (m->pfd >= 0 && m->pfd == pfd0 && sock_ino(m->pfd) == pino0)
        children_adopt_profiler(m);
    /* New generation first, then retire the old one: the listening sockets
     * never lack an accepting worker. */
    children_spawn_missing(m);
    children_retire_old(m);
    log_notice("reconfigured: generation %u, %d worker processes", m->generation,
               nc->proc.worker_processes);
    sd_notify_ready();
    return;
fail:
    log_err("reload failed, still running with the old configuration: %s", err);
    if (have_keys)
        keyring_wipe(&nk);
    free(nc);
    sd_notify_ready();
}

static void reopen_logs(master_t *m)
{
    log_notice("reopening logs (signal USR1)");
    if (log_reopen() < 0)
        log_error(MG_LOG_ALERT, errno, "reopening error log \"%s\"", m->conf->log.error_log);
    /* A log the reopen made is root's, and one the children make again
     * may be in a directory of root's: as `user` they could do neither
     * (they went on writing into the moved file, or lost the lines). */
    priv_reopen_files(m->conf);
    children_signal_all(m, SIGUSR1);
}

static void start_upgrade(master_t *m)
{
    if (m->new_binary > 0) {
        log_warn("binary upgrade already in progress (new master %d)", (int)m->new_binary);
        return;
    }
    char old[CONF_PATH_MAX + 16];
    snprintf(old, sizeof old, "%s.oldbin", m->conf->proc.pid_file);
    if (rename(m->conf->proc.pid_file, old) < 0) {
        log_error(MG_LOG_ALERT, errno, "rename(\"%s\", \"%s\") failed", m->conf->proc.pid_file,
                  old);
        return;
    }
    int fds[CONF_MAX_LISTEN + 3], n = 0;
    for (int i = 0; i < m->nl; i++)
        fds[n++] = m->lfds[i];
    if (m->pfd >= 0)
        fds[n++] = m->pfd;
    /* The new master's workers read the same hand-off channel, so our
     * workers, retired by WINCH, hand their connections to them. */
    if (m->hofd[0] >= 0 && m->hofd[1] >= 0) {
        fds[n++] = m->hofd[0];
        fds[n++] = m->hofd[1];
    }
    pid_t pid = upgrade_spawn(m->argv, fds, n);
    if (pid < 0) {
        log_error(MG_LOG_ALERT, errno, "starting the new binary failed");
        rename(old, m->conf->proc.pid_file);
        return;
    }
    m->new_binary = pid;
    log_notice("binary upgrade: started new master %d (signal USR2)", (int)pid);
}

/* The new binary (USR2) exited: it failed, so we stay in charge. */
static void upgrade_failed(master_t *m, int status)
{
    char old[CONF_PATH_MAX + 16];
    snprintf(old, sizeof old, "%s.oldbin", m->conf->proc.pid_file);
    log_alert("new binary %d exited (status %d): upgrade failed, the old master keeps serving",
              (int)m->new_binary, status);
    m->new_binary = 0;
    rename(old, m->conf->proc.pid_file);
    if (!m->quitting && !m->terminating && m->winched) {
        m->winched = 0;
        children_spawn_missing(m);
    }
}

static void begin_stop(master_t *m, int fast);

/* A child of the current generation could not start because of the
 * configuration (core/child_exit.h): every respawn would fail the same way,
 * so stop, saying why, on the terminal as well as in the log. */
static void config_failure(master_t *m, child_t *ch, pid_t pid)
{
    char why[600];
    child_exit_reason(pid, why, sizeof why);
    if (!why[0])
        snprintf(why, sizeof why, "see the error log");
    log_emerg("%s process %d cannot start: %s; stopping (fix the configuration and start again)",
              child_kind(ch), (int)pid, why);
    fprintf(stderr, "magicd: [emerg] %s process cannot start: %s; stopping\n", child_kind(ch), why);
    m->exit_code = 1;
    begin_stop(m, 1);
}

static void reap(master_t *m)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        if (pid == m->new_binary) {
            upgrade_failed(m, status);
            continue;
        }
        child_t *ch = children_find(m, pid);
        if (!ch)
            continue;
        int crashed = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
        if (WIFSIGNALED(status))
            log_error(ch->quitting ? MG_LOG_NOTICE : MG_LOG_ALERT, 0,
                      "%s process %d exited on signal %d%s", child_kind(ch), (int)pid,
                      WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
        else
            log_error(crashed && !ch->quitting ? MG_LOG_ALERT : MG_LOG_NOTICE, 0,
                      "%s process %d exited with code %d", child_kind(ch), (int)pid,
                      WEXITSTATUS(status));
        int config = WIFEXITED(status) && WEXITSTATUS(status) == CHILD_EXIT_CONFIG &&
                     !ch->quitting && ch->generation == m->generation;
        if (config && !m->quitting && !m->terminating)
            config_failure(m, ch, pid);
        /* A dead child may hold the rate-limit, revocation or outbox lock:
         * take them back. */
        rl_force_unlock(shm_ratelimit_zone(&m->shm), pid);
        revoke_force_unlock(shm_revoke_zone(&m->shm), pid);
        sesslive_force_unlock(shm_sesslive_zone(&m->shm), pid);
        shmtx_force_unlock(&m->shm.hdr->outbox_lock, pid);
        children_exited(m, ch, crashed);
    }
}

static void status_tick(master_t *m, uint64_t now)
{
    if (now - m->last_status_ms < STATUS_EVERY_MS)
        return;
    uint64_t total = 0;
    long conns = 0;
    for (unsigned i = 0; i < m->shm.hdr->nslots; i++) {
        shm_worker_t *w = shm_slot(&m->shm, i);
        if (atomic_load(&w->pid) == 0)
            continue;
        total += atomic_load(&w->requests);
        conns += (long)atomic_load(&w->active);
    }
    total += m->retired_requests;
    double rps = m->last_status_ms ? (double)(total - m->last_requests) * 1000.0 /
                                         (double)(now - m->last_status_ms)
                                   : 0.0;
    atomic_store(&m->shm.hdr->total_requests, total);
    m->last_requests = total;
    m->last_status_ms = now;
    if (m->new_binary <= 0) /* after USR2 the new master reports */
        sd_notify_status(children_count(m, CHILD_WORKER, 1), conns, rps);
}

static int wait_timeout_ms(master_t *m, uint64_t now)
{
    uint64_t next = now + 1000;
    uint64_t r = children_next_respawn(m);
    if (r && r < next)
        next = r;
    if ((m->quitting || m->terminating) && m->deadline_ms && m->deadline_ms < next)
        next = m->deadline_ms;
    if (m->watchdog_ms && m->last_watchdog_ms + m->watchdog_ms / 2 < next)
        next = m->last_watchdog_ms + m->watchdog_ms / 2;
    return next > now ? (int)(next - now) : 0;
}

static void begin_stop(master_t *m, int fast)
{
    if (fast) {
        if (!m->terminating)
            log_notice("exiting (fast shutdown)");
        m->terminating = 1;
        m->deadline_ms = clock_mono_ms() + 5000;
        children_signal_all(m, SIGTERM);
    } else if (!m->quitting && !m->terminating) {
        log_notice("gracefully shutting down (signal QUIT)");
        m->quitting = 1;
        m->deadline_ms = clock_mono_ms() + m->conf->proc.shutdown_timeout_ms + 1000;
        children_signal_all(m, SIGQUIT);
    }
    /* After USR2 the new master owns the service: our STOPPING=1 would make
     * systemd stop the unit it is serving. */
    if (m->new_binary <= 0)
        sd_notify_stopping();
}

static void handle_signal(master_t *m, int sig)
{
    switch (sig) {
    case SIGHUP:
        if (!m->quitting && !m->terminating)
            reload(m);
        break;
    case SIGQUIT:
        begin_stop(m, 0);
        break;
    case SIGTERM:
    case SIGINT:
        begin_stop(m, 1);
        break;
    case SIGUSR1:
        reopen_logs(m);
        break;
    case SIGUSR2:
        start_upgrade(m);
        break;
    case SIGWINCH:
        if (m->new_binary > 0 || getppid() > 1) {
            log_notice("gracefully shutting down worker processes (signal WINCH)");
            m->winched = 1;
            children_retire_workers(m);
        }
        break;
    case SIGCHLD:
        break;
    }
}

int master_run(conf_t *conf, int argc, char **argv)
{
    master_t m0 = {.conf = conf, .argc = argc, .argv = argv, .pfd = -1, .hofd = {-1, -1}};
    master_t *m = &m0;
    char err[1024];
    sigset_t set;
    block_signals(&set);
    upgrade_init();
    sd_notify_init();
    m->watchdog_ms = sd_watchdog_usec() / 1000;
    m->ninherited = upgrade_inherited(m->inherited, CONF_MAX_LISTEN + 1, m->hofd);
    if (m->ninherited < 0)
        m->ninherited = 0;
    if ((m->hofd[0] < 0 || m->hofd[1] < 0) && handoff_channel(m->hofd) < 0) {
        log_error(MG_LOG_WARN, errno,
                  "no connection hand-off channel: reloads close idle keep-alive connections");
        m->hofd[0] = m->hofd[1] = -1;
    }

    if (open_logs(conf) < 0)
        return 1;
    if (child_exit_open() < 0) {
        log_error(MG_LOG_EMERG, errno, "pipe() failed");
        return 1;
    }
    if (conf_check(conf, err, sizeof err) < 0 || priv_check_state(conf, err, sizeof err) < 0 ||
        preflight_run(conf, &m->keys, err, sizeof err) < 0) {
        log_emerg("%s", err);
        fprintf(stderr, "magicd: [emerg] %s\n", err);
        return 1;
    }
    if (priv_root_warning(conf, err, sizeof err))
        log_warn("%s", err);
    priv_chown_state(conf);
    pid_t other = pidfile_read(conf->proc.pid_file);
    if (other > 0 && other != getpid() && kill(other, 0) == 0 && m->ninherited == 0) {
        log_emerg("magicd is already running (pid %d, from \"%s\")", (int)other,
                  conf->proc.pid_file);
        fprintf(stderr, "magicd: already running (pid %d from %s)\n", (int)other,
                conf->proc.pid_file);
        return 1;
    }
    if (sockets_sync(m, conf, err, sizeof err) < 0) {
        log_emerg("%s", err);
        fprintf(stderr, "magicd: [emerg] %s\n", err);
        return 1;
    }
    for (int j = 0; j < m->ninherited; j++)
        if (m->inherited[j] >= 0)
            close(m->inherited[j]); /* inherited but no longer configured */
    if (shm_create(&m->shm, (uint32_t)conf->proc.worker_connections,
                   rl_zone_size(conf->rate.entries)) < 0) {
        log_error(MG_LOG_EMERG, errno, "cannot create shared memory");
        return 1;
    }
    rl_zone_init(shm_ratelimit_zone(&m->shm), m->shm.hdr->rl_size, conf->rate.entries);
    atomic_store(&m->shm.hdr->master_pid, getpid());
    m->generation = 1;
    atomic_store(&m->shm.hdr->generation, 1);
    children_config_changed(m);

    if (pidfile_write(conf->proc.pid_file, getpid()) < 0) {
        log_error(MG_LOG_EMERG, errno, "cannot write pid file \"%s\"", conf->proc.pid_file);
        fprintf(stderr, "magicd: [emerg] cannot write pid file \"%s\": %s\n", conf->proc.pid_file,
                strerror(errno));
        return 1;
    }
    proctitle_set("magicd: master process %s -c %s", argv[0], conf->file);
    children_spawn_missing(m);
    /* "started" is said once the workers serve, or are at least not dead:
     * a worker that cannot start for a configuration reason stops the
     * master here (reap), and the log then says why instead of "started". */
    int ready = children_wait_ready(m, 5000);
    if (ready == CHILDREN_EXITED)
        reap(m);
    if (!m->terminating) {
        log_notice("magicd started: master %d, %d worker processes, listening on %s:%s",
                   (int)getpid(), conf->proc.worker_processes, conf->http.listen[0].host,
                   conf->http.listen[0].port);
        if (conf->smtp.delivery == DELIVERY_RESPONSE)
            log_warn(
                "\"delivery response\" shows magic links in the page (the original demo's "
                "behaviour): anyone who can type an address can sign in as it. Development only.");
        if (!conf->http.public_url[0] && conf->smtp.delivery != DELIVERY_RESPONSE)
            log_notice("public_url is not set: links are built from the request's Host header");
        if (ready != -1) /* ready, or a crashed worker being replaced */
            sd_notifyf("READY=1\nSTATUS=%d workers started\nMAINPID=%d",
                       children_count(m, CHILD_WORKER, 1), (int)getpid());
        else
            log_warn("not every child reported ready within 5 s");
    }

    while (!((m->quitting || m->terminating) && children_count(m, -1, 0) == 0)) {
        uint64_t now = clock_mono_ms();
        int wait = wait_timeout_ms(m, now);
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &ts);
        if (sig > 0)
            handle_signal(m, sig);
        reap(m);
        now = clock_mono_ms();
        if (m->quitting || m->terminating) {
            if (m->deadline_ms && now >= m->deadline_ms) {
                log_warn("shutdown timeout: killing remaining children");
                children_signal_all(m, SIGKILL);
                m->deadline_ms = now + 2000;
            }
            continue;
        }
        children_spawn_missing(m);
        children_kill_overdue(m, now);
        status_tick(m, now);
        if (m->watchdog_ms && m->new_binary <= 0 &&
            now - m->last_watchdog_ms >= m->watchdog_ms / 2) {
            sd_notify_watchdog();
            m->last_watchdog_ms = now;
        }
    }
    /* After an upgrade our pid lives in PID.oldbin; remove whichever file
     * still names us (never the new master's). */
    char oldbin[CONF_PATH_MAX + 16];
    snprintf(oldbin, sizeof oldbin, "%s.oldbin", m->conf->proc.pid_file);
    pidfile_remove(m->conf->proc.pid_file, getpid());
    pidfile_remove(oldbin, getpid());
    log_notice("exit");
    shm_destroy(&m->shm);
    keyring_wipe(&m->keys);
    free(m->conf);
    child_exit_close();
    return m->exit_code;
}
