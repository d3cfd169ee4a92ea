/*
 * main.c - loadtest: an HTTP/1.1 load generator that measures the server,
 * not itself.
 *
 * The article's client (and hey) spend more CPU per request than a C server
 * does, so they measure themselves. This one keeps every connection on an
 * edge-triggered epoll loop, one loop per thread (one thread per core by
 * default), reuses each connection's buffers for every request and reads
 * each response with an incremental parser: a request costs a few syscalls
 * and no allocation.
 *
 * main() checks the command line, raises the open-file limit to fit the
 * connections, makes one plain connect to the target so an unreachable
 * server is reported at once in one line (exit 1) rather than as a minute of
 * errors, starts the threads on a common clock, prints a progress line each
 * second, and at the end merges the threads' counters into the report.
 */
#include "tools/loadtest/loadtest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void on_signal(int sig)
{
    (void)sig;
    lt_stop = 1;
}

static int raise_nofile(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur >= (rlim_t)need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)need) {
        fprintf(stderr,
                "loadtest: %d connections need %d open files, the hard limit is %llu "
                "(raise it with ulimit -n)\n",
                need - 64, need, (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = (rlim_t)need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "loadtest: cannot raise the open-file limit to %d: %s\n", need,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* One blocking-with-timeout connect: 0, or the errno why not. */
static int probe(const lt_opts_t *o)
{
    int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int err = 0;
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n = poll(&p, 1, (int)(o->timeout * 1000));
            if (n == 0) {
                err = ETIMEDOUT;
            } else {
                socklen_t l = sizeof(err);
                err = 0;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
            }
        }
    }
    close(fd);
    return err;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
                          .tv_nsec = (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !lt_stop) {
    }
}

static void snapshot(lt_stats_t *s, lt_thread_t *ts, int n)
{
    memset(s, 0, sizeof(*s));
    lt_hist_init(&s->hist);
    for (int i = 0; i < n; i++)
        lt_stats_snapshot(s, &ts[i].st);
}

/* The run proper: probe, threads, progress, report. Returns the exit status. */
static int run(lt_opts_t *o, lt_stats_t *now, lt_stats_t *prev, lt_thread_t *ts)
{
    int err = probe(o);
    if (err) {
        char msg[512];
        snprintf(msg, sizeof(msg), "cannot connect to %s: %s", o->url, strerror(err));
        fprintf(stderr, "loadtest: %s\n", msg);
        snapshot(now, ts, 0);
        now->err[err == ETIMEDOUT ? ER_TIMEOUT : ER_CONNECT] = 1;
        if (o->json_file)
            lt_report_json(o->json_file, o, now, 0, msg);
        return 1;
    }

    uint64_t t0 = lt_now() + 1000000; /* 1 ms to start every thread on the same clock */
    for (int i = 0; i < o->threads; i++) {
        int share = o->connections / o->threads + (i < o->connections % o->threads);
        if (lt_thread_init(&ts[i], o, i, share, t0) < 0) {
            fprintf(stderr, "loadtest: cannot set up thread %d: %s\n", i, strerror(errno));
            return 2;
        }
    }
    if (!o->quiet)
        fprintf(stderr, "loadtest: %s %s, %d connections, %d threads, %.1fs%s\n", o->scenario_name,
                o->url, o->connections, o->threads, o->duration, o->rate > 0 ? ", open loop" : "");
    for (int i = 0; i < o->threads; i++) {
        if (pthread_create(&ts[i].tid, NULL, lt_thread_run, &ts[i]) != 0) {
            fprintf(stderr, "loadtest: cannot start thread %d\n", i);
            lt_stop = 1;
            for (int j = 0; j < i; j++)
                pthread_join(ts[j].tid, NULL);
            return 2;
        }
    }

    uint64_t end = t0 + (uint64_t)(o->duration * 1e9);
    snapshot(prev, ts, 0);
    uint64_t last = t0;
    for (uint64_t tick = t0 + 1000000000ull; !lt_stop; tick += 1000000000ull) {
        if (tick > end)
            tick = end;
        sleep_until(tick);
        if (lt_stop)
            break;
        uint64_t t = lt_now();
        snapshot(now, ts, o->threads);
        if (!o->quiet && tick < end)
            lt_progress(o, (double)(t - t0) / 1e9, now, prev, (double)(t - last) / 1e9);
        lt_stats_t *x = prev;
        prev = now;
        now = x;
        last = t;
        if (tick >= end)
            break;
    }
    uint64_t stop = lt_now();
    for (int i = 0; i < o->threads; i++)
        pthread_join(ts[i].tid, NULL);
    if (stop > end)
        stop = end;
    double secs = stop > t0 ? (double)(stop - t0) / 1e9 : 0;

    snapshot(now, ts, o->threads);
    lt_report(stdout, o, now, secs);
    fflush(stdout);
    const char *error = NULL;
    if (now->requests == 0)
        error = "no response from the server";
    if (o->json_file && lt_report_json(o->json_file, o, now, secs, error) < 0)
        return 2;
    if (error) {
        fprintf(stderr, "loadtest: %s at %s\n", error, o->url);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static lt_opts_t o;
    if (lt_opts_parse(&o, argc, argv) < 0)
        return 2;
    if (raise_nofile(o.connections + 64) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    lt_stats_t *now = calloc(1, sizeof(*now)), *prev = calloc(1, sizeof(*prev));
    lt_thread_t *ts = calloc((size_t)o.threads, sizeof(*ts));
    int rc = 2;
    if (!now || !prev || !ts) {
        fprintf(stderr, "loadtest: out of memory\n");
    } else {
        for (int i = 0; i < o.threads; i++)
            ts[i].ep = ts[i].tfd = ts[i].obx_fd = ts[i].obx_ino = -1;
        rc = run(&o, now, prev, ts);
        for (int i = 0; i < o.threads; i++)
            lt_thread_free(&ts[i]);
    }
    free(ts);
    free(now);
    free(prev);
    for (size_t i = 0; i < o.nemails; i++) {
        free(o.emails[i]);
        free(o.emails_enc[i]);
    }
    free(o.emails);
    free(o.emails_enc);
    return rc;
}
