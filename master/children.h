/*
 * children.h - the master's table of child processes.
 *
 * The master state (master_t) lives here because supervision is most of
 * what the master does: which children exist, which generation they belong
 * to, which shm slot each uses, and when a crashed one may be respawned.
 */
#ifndef MG_CHILDREN_H
#define MG_CHILDREN_H

#include <stdint.h>
#include <sys/types.h>

#include "core/conf.h"
#include "core/keyfile.h"
#include "core/shm.h"
#include "master/backoff.h"

#define MAX_CHILDREN (SHM_MAX_SLOTS + 8)
#define MAX_WORKERS 16
#define MAX_MAILERS 16 /* smtp_connections' upper bound */
#define MAX_OF_KIND 16 /* the most children of one kind */

typedef enum { CHILD_WORKER = 0, CHILD_PROFILER, CHILD_MAILER, CHILD_KINDS } child_type_t;

typedef struct {
    pid_t pid; /* 0 = free entry */
    child_type_t type;
    int slot; /* shm slot (workers), -1 otherwise */
    int worker_no;
    unsigned generation;
    int quitting; /* was told to stop: its exit is expected */
    uint64_t started_ms;
    uint64_t kill_at_ms; /* retired: SIGKILL after this (shutdown_timeout) */
} child_t;

typedef struct master {
    conf_t *conf;
    keyring_t keys; /* read as root; children inherit them */
    shm_t shm;
    int argc;
    char **argv;
    int lfds[CONF_MAX_LISTEN];
    int nl;
    int pfd;     /* profiler socket or -1 */
    int hofd[2]; /* connection hand-off channel (core/handoff.h), -1 none */
    int inherited[CONF_MAX_LISTEN + 1];
    int ninherited;
    unsigned generation;
    child_t children[MAX_CHILDREN];
    backoff_t backoff[CHILD_KINDS][MAX_OF_KIND]; /* [type][worker_no] */
    int quitting, terminating, winched;
    int exit_code; /* of the master: 1 after a child's configuration failure */
    uint64_t deadline_ms;
    pid_t new_binary;
    uint64_t last_status_ms, last_requests, retired_requests;
    uint64_t watchdog_ms, last_watchdog_ms;
} master_t;

const char *child_kind(const child_t *ch);
child_t *children_find(master_t *m, pid_t pid);
/* Count live children of a type (-1: any); current: only the current
 * generation and not quitting. */
int children_count(master_t *m, int type, int current);
/* Fork whatever the current config wants and is missing (respecting the
 * crash back-off). */
void children_spawn_missing(master_t *m);
/* QUIT every child of an older generation (after a reload). */
void children_retire_old(master_t *m);
/* QUIT every worker (WINCH). */
void children_retire_workers(master_t *m);
void children_signal_all(master_t *m, int sig);
/* Bookkeeping after a child exited: free the slot, plan a respawn. */
void children_exited(master_t *m, child_t *ch, int crashed);
/* Earliest planned respawn (0 if none). */
uint64_t children_next_respawn(master_t *m);
/* SIGKILL retired children past their shutdown timeout. */
void children_kill_overdue(master_t *m, uint64_t now);
/* Wait until every worker has published its pid as ready: 0, -1 (timed
 * out) or CHILDREN_EXITED. */
int children_wait_ready(master_t *m, int timeout_ms);
#define CHILDREN_EXITED 1 /* children_wait_ready: a worker exited before it was ready */
/* Apply config-dependent state (profiler control block) after load/reload. */
void children_config_changed(master_t *m);
/* After a reload that kept the profiler socket: keep the profiler too. */
void children_adopt_profiler(master_t *m);

#endif
