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
 * F_OWNER_TID so it is this thread that is interrupted. The user part of
 * the sample is the libunwind walk the handler does, as for the other
 * sources. The kernel raises the signal from irq_work right after the
 * overflow; it is delivered on the way back to user space, so time spent in
 * a system call lands on its libc wrapper, as perf's and ITIMER_PROF's
 * samples do - and, where the kernel allows it, under the kernel frames of
 * the overflow: the event then samples PERF_SAMPLE_CALLCHAIN with
 * exclude_callchain_user into a ring of TM_RING_PAGES pages mapped from its
 * fd, and the handler takes the newest record's chain (an overflow in user
 * mode has none). A worker gets them only when it is itself allowed: they
 * are kernel addresses, and a worker serves untrusted input, so nothing is
 * opened for it before it drops privileges.
 */
#include "sampler/prof_timer.h"
#include "sampler/prof_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#define TM_RING_PAGES 4 /* data pages (a power of two): 64 records of 30 frames */

static int tm_perf_open(int exclude_kernel, int signo, int callchain)
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
    if (callchain) {
        a.sample_type = PERF_SAMPLE_CALLCHAIN;
        a.exclude_callchain_user = 1; /* the handler unwinds user space */
        a.sample_max_stack = PROF_KSTACK_DEPTH + 1;
    }
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

/* The sample ring of a callchain event; -1 when it cannot be mapped. */
static int tm_map_ring(prof_timer_t *t)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)pg * (1 + TM_RING_PAGES);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, t->perf_fd, 0);
    if (m == MAP_FAILED)
        return -1;
    t->ring = m;
    t->ring_size = (size_t)pg * TM_RING_PAGES;
    return 0;
}

int prof_timer_open(prof_timer_t *t, int signo)
{
    memset(t, 0, sizeof *t);
    t->perf_fd = -1;
    t->kernel_why = PROF_KERNEL_NO_PERF;
    if ((t->perf_fd = tm_perf_open(0, signo, 1)) >= 0) {
        t->src = PROF_TIMER_PERF;
        t->kernel_why = PROF_KERNEL_ON;
        if (tm_map_ring(t) < 0) {
            /* allowed, but no ring (perf_event_mlock_kb): time without frames */
            close(t->perf_fd);
            t->perf_fd = tm_perf_open(0, signo, 0);
            t->kernel_why = PROF_KERNEL_NO_RING;
        }
        if (t->perf_fd >= 0)
            return t->src;
    }
    if ((t->perf_fd = tm_perf_open(0, signo, 0)) >= 0) {
        t->src = PROF_TIMER_PERF;
        t->kernel_why = PROF_KERNEL_NO_RING;
    } else if ((t->perf_fd = tm_perf_open(1, signo, 0)) >= 0) {
        t->src = PROF_TIMER_PERF_USER;
        t->kernel_why = PROF_KERNEL_REFUSED;
    } else if (tm_posix_open(t, signo) == 0) {
        t->src = PROF_TIMER_POSIX;
    } else {
        t->src = PROF_TIMER_ITIMER;
    }
    return t->src;
}

/* n bytes at ring position pos (free-running), across the wrap. */
static void tm_ring_read(const prof_timer_t *t, const char *data, uint64_t pos, void *out, size_t n)
{
    size_t off = (size_t)(pos & (t->ring_size - 1));
    size_t first = n < t->ring_size - off ? n : t->ring_size - off;
    memcpy(out, data + off, first);
    if (first < n)
        memcpy((char *)out + first, data, n - first);
}

int prof_timer_kernel_frames(prof_timer_t *t, uint64_t *ips, int max)
{
    if (!t->ring)
        return 0;
    struct perf_event_mmap_page *mp = t->ring;
    const char *data =
        (const char *)t->ring + (mp->data_offset ? mp->data_offset : t->ring_size / TM_RING_PAGES);
    uint64_t head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = mp->data_tail;
    int got = 0;
    while (head - tail >= sizeof(struct perf_event_header)) {
        struct perf_event_header h;
        tm_ring_read(t, data, tail, &h, sizeof h);
        if (h.size < sizeof h || h.size > head - tail)
            break;
        if (h.type == PERF_RECORD_SAMPLE && h.size >= sizeof h + 8) {
            uint64_t nr;
            tm_ring_read(t, data, tail + sizeof h, &nr, 8);
            if (nr > (h.size - sizeof h - 8) / 8)
                nr = (h.size - sizeof h - 8) / 8;
            got = 0;
            for (uint64_t i = 0; i < nr && got < max; i++) {
                uint64_t ip;
                tm_ring_read(t, data, tail + sizeof h + 8 + i * 8, &ip, 8);
                if (ip >= (uint64_t)PERF_CONTEXT_MAX)
                    continue; /* PERF_CONTEXT_KERNEL and the like */
                ips[got++] = ip;
            }
        }
        tail += h.size;
    }
    __atomic_store_n(&mp->data_tail, head, __ATOMIC_RELEASE);
    return got;
}

const char *prof_timer_kernel_why(int why)
{
    switch (why) {
    case PROF_KERNEL_ON:
        return "perf_event callchains ([kernel.kallsyms] frames, label mode=kernel)";
    case PROF_KERNEL_REFUSED:
        return "not allowed here (perf_event_paranoid > 1 and no CAP_PERFMON for the workers): "
               "time in the kernel is charged to the system call's user-space caller";
    case PROF_KERNEL_NO_RING:
        return "allowed, but the sample ring could not be mapped (perf_event_mlock_kb): time in "
               "the kernel is charged to the system call's user-space caller";
    default:
        return "not available without perf_event (tick-checked timer): time in the kernel is "
               "charged to the system call's user-space caller";
    }
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
    if (t->ring)
        munmap(t->ring, t->ring_size + t->ring_size / TM_RING_PAGES);
    t->ring = NULL;
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
