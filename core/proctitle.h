/*
 * proctitle.h - nginx-style process titles ("magicd: worker process").
 *
 * proctitle_init() must run first thing in main(): it moves the environment
 * out of the way so the memory after argv[0] can hold a longer title. After
 * that, proctitle_set() rewrites what ps and /proc/PID/cmdline show.
 */
#ifndef MG_PROCTITLE_H
#define MG_PROCTITLE_H

void proctitle_init(int argc, char **argv);
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
