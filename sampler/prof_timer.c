/*
 * prof_timer.c - the CPU-time clock behind SIGPROF (see prof_timer.h).
 *
 * Why not ITIMER_PROF alone: the kernel checks process CPU timers on
 * scheduler ticks that find the process running (HZ=250 on a typical
 * kernel) and charges a whole tick to whoever it finds. A worker whose
 * requests are phase-locked to the tick - an open-loop client sending one
 * every millisecond, a timer-driven flush - is never found running and is
 * never sampled, and one that is over-weighted. A perf_event task-clock is
 * an hrtimer armed only while the thread runs and re-armed with the
 * remainder when it is scheduled back, so its overflow comes after exactly
 * one period of the thread's CPU time, whatever the shape of the load.
 *
 * The overflow becomes a signal through the file-descriptor machinery:
 * O_ASYNC on the event fd, F_SETSIG SIGPROF (so the handler gets a
 * siginfo, and SIGIO's default action never applies), F_SETOWN_EX with
 * F_OWNER_TID so it is this thread that is interrupted. No ring buffer is
 * mapped: the sample itself is the libunwind walk the handler does, as for
 * the other sources. The kernel raises the signal from irq_work right after
 * the overflow; it is delivered on the way back to user space, so time
 * spent in a system call lands on its libc wrapper, as perf's and
 * ITIMER_PROF's samples do.
 */
#include "sampler/prof_timer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

static int tm_perf_open(int exclude_kernel, int signo)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.sample_period = 10000000; /* set for real when armed */
    a.disabled = 1;
    a.exclude_hv = 1;
    a.exclude_kernel = exclude_kernel ? 1 : 0;
    a.wakeup_events = 1;
    int fd =
        (int)syscall(SYS_perf_event_open, &a, 0 /* this thread */, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0)
        return -1;
    struct f_owner_ex own = {F_OWNER_TID, (pid_t)syscall(SYS_gettid)};
    if (fcntl(fd, F_SETOWN_EX, &own) < 0 || fcntl(fd, F_SETSIG, signo) < 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC | O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int tm_posix_open(prof_timer_t *t, int signo)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = signo;
    sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    return timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t->tid);
}

int prof_timer_open(prof_timer_t *t, int signo)
{
    memset(t, 0, sizeof *t);
    t->perf_fd = -1;
    if ((t->perf_fd = tm_perf_open(0, signo)) >= 0)
        t->src = PROF_TIMER_PERF;
    else if ((t->perf_fd = tm_perf_open(1, signo)) >= 0)
        t->src = PROF_TIMER_PERF_USER;
    else if (tm_posix_open(t, signo) == 0)
        t->src = PROF_TIMER_POSIX;
    else
        t->src = PROF_TIMER_ITIMER;
    return t->src;
}

void prof_timer_arm(prof_timer_t *t, uint32_t hz)
{
    uint64_t period_ns = hz ? 1000000000ull / hz : 0;
    switch (t->src) {
    case PROF_TIMER_PERF:
    case PROF_TIMER_PERF_USER:
        ioctl(t->perf_fd, PERF_EVENT_IOC_DISABLE, 0);
        if (hz) {
            ioctl(t->perf_fd, PERF_EVENT_IOC_PERIOD, &period_ns);
            ioctl(t->perf_fd, PERF_EVENT_IOC_RESET, 0);
            ioctl(t->perf_fd, PERF_EVENT_IOC_ENABLE, 0);
        }
        break;
    case PROF_TIMER_POSIX: {
        struct itimerspec its;
        memset(&its, 0, sizeof its);
        its.it_interval.tv_sec = (time_t)(period_ns / 1000000000ull);
        its.it_interval.tv_nsec = (long)(period_ns % 1000000000ull);
        its.it_value = its.it_interval;
        timer_settime(t->tid, 0, &its, NULL);
        break;
    }
    default: {
        struct itimerval it;
        memset(&it, 0, sizeof it);
        if (hz) {
            it.it_interval.tv_usec = hz >= 1000000 ? 1 : (suseconds_t)(1000000 / hz);
            it.it_value = it.it_interval;
        }
        setitimer(ITIMER_PROF, &it, NULL);
        break;
    }
    }
    t->hz = hz;
}

void prof_timer_close(prof_timer_t *t)
{
    prof_timer_arm(t, 0);
    if (t->perf_fd >= 0)
        close(t->perf_fd);
    if (t->src == PROF_TIMER_POSIX)
        timer_delete(t->tid);
    t->perf_fd = -1;
    t->src = PROF_TIMER_NONE;
}

const char *prof_timer_name(int src)
{
    switch (src) {
    case PROF_TIMER_PERF:
        return "perf_event task-clock (user and kernel time)";
    case PROF_TIMER_PERF_USER:
        return "perf_event task-clock, user time only (perf_event_paranoid: kernel time is "
               "charged to the user code that follows it)";
    case PROF_TIMER_POSIX:
        return "timer_create(CLOCK_THREAD_CPUTIME_ID) (perf_event_open not allowed; checked on "
               "scheduler ticks)";
    case PROF_TIMER_ITIMER:
        return "setitimer(ITIMER_PROF) fallback (perf_event_open and timer_create not allowed; "
               "checked on scheduler ticks)";
    default:
        return "none";
    }
}

static long tm_read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* The kernel's tick rate (CONFIG_HZ), which bounds tick-checked timers. */
static uint32_t tm_tick_hz(void)
{
    static uint32_t hz;
    if (hz)
        return hz;
    char path[300], line[256];
    struct utsname u;
    gzFile g = gzopen("/proc/config.gz", "rb");
    if (!g && uname(&u) == 0) {
        snprintf(path, sizeof path, "/boot/config-%s", u.release);
        g = gzopen(path, "rb"); /* reads plain files too */
    }
    while (g && gzgets(g, line, sizeof line))
        if (!strncmp(line, "CONFIG_HZ=", 10)) {
            hz = (uint32_t)strtoul(line + 10, NULL, 10);
            break;
        }
    if (g)
        gzclose(g);
    if (!hz)
        hz = 100; /* the lowest common tick rate: promise no more */
    return hz;
}

uint32_t prof_timer_max_hz(int src)
{
    if (src == PROF_TIMER_PERF || src == PROF_TIMER_PERF_USER) {
        /* hrtimer-based software events have a 10 us floor; the kernel
         * may lower perf_event_max_sample_rate when sampling is costly */
        long m = tm_read_long("/proc/sys/kernel/perf_event_max_sample_rate");
        return m > 0 && m < 100000 ? (uint32_t)m : 100000;
    }
    return tm_tick_hz();
}

int prof_timer_probe(void)
{
    prof_timer_t t;
    int src = prof_timer_open(&t, SIGPROF);
    prof_timer_close(&t);
    return src;
}
