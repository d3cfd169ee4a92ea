/*
 * children.c - forking, tracking, retiring and respawning children.
 *
 * Children are forked, never exec'd: they inherit the parsed config, the
 * listening sockets and the shm mapping at the same addresses (which the
 * profiler relies on to symbolize worker PCs with its own mappings). Right
 * after fork a child unblocks signals, takes its title, closes what it must
 * not hold, drops privileges and runs its main function.
 *
 * Back-off: a child that keeps dying right after it starts is respawned
 * with a growing delay (master/backoff.h has the rule), so a broken
 * deployment logs a few lines a minute instead of forking thousands of
 * times. A child that cannot start for a configuration reason is not
 * respawned at all: the master stops (master.c).
 */
#include "master/children.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/proctitle.h"
#include "core/shmtx.h"
#include "mailer/mailer.h"
#include "master/privileges.h"
#include "profiler/profiler.h"
#include "sampler/sampler.h"
#include "worker/worker.h"

/* ---- the table of child kinds ---- */

static int run_worker(master_t *m, int slot, int worker_no)
{
    return worker_main(m->conf, &m->keys, &m->shm, (unsigned)slot, worker_no, m->lfds, m->nl,
                       m->hofd);
}

static int run_profiler(master_t *m, int slot, int worker_no)
{
    (void)slot, (void)worker_no;
    return profiler_main(m->conf, &m->shm, m->pfd);
}

static int run_mailer(master_t *m, int slot, int worker_no)
{
    (void)slot, (void)worker_no;
    return mailer_main(m->conf, &m->shm);
}

static int want_workers(const master_t *m)
{
    int n = m->conf->proc.worker_processes;
    return m->winched ? 0 : n < MAX_WORKERS ? n : MAX_WORKERS;
}

static int want_profiler(const master_t *m)
{
    return m->conf->prof.enabled && m->pfd >= 0;
}

/* One SMTP session each: against a relay a network away, a mail costs a
 * round trip or more, and sessions side by side are what raise the rate.
 * They share the spool as two mailers of an upgrade's overlap do: each
 * batch file and message file is sent only under its lock. */
static int want_mailer(const master_t *m)
{
    int n = m->conf->smtp.connections;
    return m->conf->smtp.delivery != DELIVERY_SMTP ? 0 : n < MAX_MAILERS ? n : MAX_MAILERS;
}

/*
 * One row per kind of child: what it is called in logs and `ps`, which of
 * the master's descriptors it keeps, how many the current config wants,
 * and the function it runs after fork. Adding a process is adding a row.
 */
typedef struct {
    const char *name;
    const char *title;
    int keep_listen, keep_pfd;
    int (*count)(const master_t *m);
    int (*run)(master_t *m, int slot, int worker_no);
} child_kind_t;

static const child_kind_t kinds[] = {
    [CHILD_WORKER] = {"worker", "magicd: worker process", 1, 0, want_workers, run_worker},
    [CHILD_PROFILER] = {"profiler", "magicd: profiler process", 0, 1, want_profiler, run_profiler},
    [CHILD_MAILER] = {"mailer", "magicd: mailer process", 0, 0, want_mailer, run_mailer},
};

#define NKINDS (sizeof kinds / sizeof kinds[0])
_Static_assert(NKINDS == CHILD_KINDS, "a row for each kind of child");
_Static_assert(MAX_WORKERS <= MAX_OF_KIND && MAX_MAILERS <= MAX_OF_KIND, "a back-off for each");

const char *child_kind(const child_t *ch)
{
    return ch->type < NKINDS ? kinds[ch->type].name : "child";
}

child_t *children_find(master_t *m, pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (m->children[i].pid == pid)
            return &m->children[i];
    return NULL;
}

int children_count(master_t *m, int type, int current)
{
    int n = 0;
    for (int i = 0; i < MAX_CHILDREN; i++) {
        child_t *ch = &m->children[i];
        if (ch->pid <= 0 || (type >= 0 && (int)ch->type != type))
            continue;
        if (current && (ch->quitting || ch->generation != m->generation))
            continue;
        n++;
    }
    return n;
}

static child_t *new_entry(master_t *m)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (m->children[i].pid == 0)
            return &m->children[i];
    return NULL;
}

static backoff_t *backoff_of(master_t *m, child_type_t type, int worker_no)
{
    return &m->backoff[type][worker_no];
}

/* In the child right after fork: a clean signal state. */
static void child_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    int sigs[] = {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        signal(sigs[i], SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void close_except(master_t *m, int keep_listen, int keep_pfd)
{
    if (!keep_listen)
        for (int i = 0; i < m->nl; i++)
            close(m->lfds[i]);
    if (!keep_pfd && m->pfd >= 0)
        close(m->pfd);
    if (!keep_listen)
        for (int i = 0; i < 2; i++)
            if (m->hofd[i] >= 0)
                close(m->hofd[i]);
}

static pid_t spawn(master_t *m, child_type_t type, int worker_no)
{
    child_t *ch = new_entry(m);
    if (!ch) {
        log_alert("no room for another child process");
        return -1;
    }
    int slot = -1;
    if (type == CHILD_WORKER) {
        slot = shm_slot_claim(&m->shm);
        if (slot < 0) {
            log_alert("no free shared-memory slot for a worker (old workers still draining?)");
            return -1;
        }
        shm_worker_t *w = shm_slot(&m->shm, (unsigned)slot);
        w->started_ms = 0;
        atomic_store(&w->generation, m->generation);
        atomic_store(&w->worker_no, (uint32_t)worker_no);
        atomic_store(&w->draining, 0);
        atomic_store(&w->handoff, 0);
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error(MG_LOG_ALERT, errno, "fork() failed");
        if (slot >= 0)
            shm_slot_release(&m->shm, (unsigned)slot);
        return -1;
    }
    if (pid == 0) {
        child_signals();
        shmtx_process_init();
        /* If the master is killed outright, children must not live on as
         * orphans holding the port: they stop gracefully. */
        pid_t master = getppid();
        prctl(PR_SET_PDEATHSIG, SIGQUIT);
        if (getppid() != master)
            _exit(1);
        int rc = 1;
        const child_kind_t *k = &kinds[type];
        if (type == CHILD_WORKER)
            atomic_store(&shm_slot(&m->shm, (unsigned)slot)->pid, getpid());
        else
            prof_child_init(); /* the heap sampler is the workers' */
        proctitle_set("%s", k->title);
        close_except(m, k->keep_listen, k->keep_pfd);
        if (priv_drop(m->conf) == 0)
            rc = k->run(m, slot, worker_no);
        _exit(rc);
    }
    if (slot >= 0)
        atomic_store(&shm_slot(&m->shm, (unsigned)slot)->pid, pid);
    if (type == CHILD_PROFILER)
        atomic_store(&m->shm.hdr->profiler_pid, pid);
    *ch = (child_t){.pid = pid,
                    .type = type,
                    .slot = slot,
                    .worker_no = worker_no,
                    .generation = m->generation,
                    .started_ms = clock_mono_ms()};
    log_info("started %s process %d", child_kind(ch), (int)pid);
    return pid;
}

static int have_current(master_t *m, child_type_t type, int worker_no)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        child_t *ch = &m->children[i];
        if (ch->pid > 0 && ch->type == type && !ch->quitting && ch->generation == m->generation &&
            ch->worker_no == worker_no)
            return 1;
    }
    return 0;
}

static void maybe_spawn(master_t *m, child_type_t type, int worker_no, uint64_t now)
{
    if (have_current(m, type, worker_no))
        return;
    backoff_t *b = backoff_of(m, type, worker_no);
    if (!backoff_ready(b, now))
        return;
    spawn(m, type, worker_no);
}

void children_spawn_missing(master_t *m)
{
    uint64_t now = clock_mono_ms();
    for (child_type_t t = 0; t < NKINDS; t++) {
        int n = kinds[t].count(m);
        for (int i = 0; i < n; i++)
            maybe_spawn(m, t, i, now);
    }
}

/* Retire a child. With handoff, a new generation (ours after HUP, or the
 * new binary's after USR2) serves in its place, so a worker hands its
 * connections to it instead of closing them; without (WINCH with no new
 * binary: nobody will read the channel) it closes them. */
static void retire(master_t *m, child_t *ch, int handoff)
{
    if (ch->quitting)
        return;
    ch->quitting = 1;
    ch->kill_at_ms = clock_mono_ms() + m->conf->proc.shutdown_timeout_ms + 1000;
    if (ch->slot >= 0) {
        shm_worker_t *w = shm_slot(&m->shm, (unsigned)ch->slot);
        atomic_store(&w->handoff, handoff && m->hofd[1] >= 0);
        atomic_store(&w->draining, 1);
    }
    kill(ch->pid, SIGQUIT);
}

void children_retire_old(master_t *m)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        child_t *ch = &m->children[i];
        if (ch->pid > 0 && ch->generation != m->generation)
            retire(m, ch, 1);
    }
}

void children_retire_workers(master_t *m)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        child_t *ch = &m->children[i];
        if (ch->pid > 0 && ch->type == CHILD_WORKER)
            retire(m, ch, m->new_binary > 0);
    }
}

void children_signal_all(master_t *m, int sig)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        child_t *ch = &m->children[i];
        if (ch->pid <= 0)
            continue;
        if (sig == SIGQUIT || sig == SIGTERM || sig == SIGKILL)
            ch->quitting = 1;
        kill(ch->pid, sig);
    }
}

void children_exited(master_t *m, child_t *ch, int crashed)
{
    uint64_t now = clock_mono_ms();
    if (ch->slot >= 0) {
        shm_worker_t *w = shm_slot(&m->shm, (unsigned)ch->slot);
        m->retired_requests += atomic_load(&w->requests);
        shm_slot_release(&m->shm, (unsigned)ch->slot);
    }
    if (ch->type == CHILD_PROFILER)
        atomic_store(&m->shm.hdr->profiler_pid, 0);
    if (!ch->quitting && ch->generation == m->generation) {
        backoff_t *b = backoff_of(m, ch->type, ch->worker_no);
        if (ch->type == CHILD_WORKER) /* it will be started again: /metrics counts it */
            mx_global_inc(&m->shm.hdr->metrics.worker_restarts);
        uint64_t d = backoff_exited(b, ch->started_ms, now, crashed);
        if (d)
            log_warn("%s process crashed %d time(s) in a row, respawning in %llu ms",
                     child_kind(ch), b->crashes, (unsigned long long)d);
    }
    memset(ch, 0, sizeof *ch);
}

uint64_t children_next_respawn(master_t *m)
{
    uint64_t next = 0;
    for (size_t k = 0; k < NKINDS; k++)
        for (int i = 0; i < MAX_OF_KIND; i++) {
            const backoff_t *b = &m->backoff[k][i];
            if (b->crashes && b->not_before_ms && (!next || b->not_before_ms < next))
                next = b->not_before_ms;
        }
    return next;
}

void children_kill_overdue(master_t *m, uint64_t now)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        child_t *ch = &m->children[i];
        if (ch->pid > 0 && ch->quitting && ch->kill_at_ms && now >= ch->kill_at_ms) {
            log_warn("%s process %d did not finish within shutdown_timeout, killing it",
                     child_kind(ch), (int)ch->pid);
            kill(ch->pid, SIGKILL);
            ch->kill_at_ms = 0;
        }
    }
}

int children_wait_ready(master_t *m, int timeout_ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)timeout_ms;
    while (clock_mono_ms() < end) {
        int ready = 1;
        for (int i = 0; i < MAX_CHILDREN; i++) {
            child_t *ch = &m->children[i];
            if (ch->pid > 0 && ch->type == CHILD_WORKER &&
                shm_slot(&m->shm, (unsigned)ch->slot)->started_ms == 0) {
                /* Dead before ready: say so now rather than wait it out.
                 * WNOWAIT leaves the child for the main loop to reap. */
                siginfo_t si = {0};
                if (waitid(P_PID, (id_t)ch->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                    si.si_pid == ch->pid)
                    return CHILDREN_EXITED;
                ready = 0;
            }
        }
        if (ready)
            return 0;
        usleep(5000);
    }
    return -1;
}

/* The profiler outlives a reload when its socket does: a CPU profile
 * running across the HUP keeps sampling the old and the new workers, and
 * its archive of exited workers' records stays. Making it part of the new
 * generation is all it takes: retire_old passes it by. */
void children_adopt_profiler(master_t *m)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        child_t *ch = &m->children[i];
        if (ch->pid > 0 && ch->type == CHILD_PROFILER && !ch->quitting)
            ch->generation = m->generation;
    }
}

void children_config_changed(master_t *m)
{
    prof_ctl_init(&m->shm, m->conf);
}
