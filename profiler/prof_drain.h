/*
 * prof_drain.h - moving CPU samples from the workers' rings into jobs.
 *
 * prof_drain() empties every live worker's CPU ring and hands each sample
 * to the CPU jobs whose time window holds it; samples nobody wants are
 * dropped, so the rings never fill while nobody is looking. Only the
 * process named in prof_ctl.consumer_pid drains (the rings are
 * single-consumer). prof_cpu_want() tells the workers until when samples
 * are wanted: the latest end among the CPU jobs plus slack for the last
 * drain.
 */
#ifndef MG_PROF_DRAIN_H
#define MG_PROF_DRAIN_H

typedef struct prof_srv prof_srv_t;

void prof_drain(prof_srv_t *s);
/* profile_continuous: advance the CPU history's windows (close the one
 * whose 10 s are over, open the next, follow the limits), charge ring
 * drops to it; with continuous off, close the open window. Called before
 * each drain tick's prof_drain(). */
void prof_drain_history(prof_srv_t *s);
void prof_cpu_want(prof_srv_t *s);

#endif
