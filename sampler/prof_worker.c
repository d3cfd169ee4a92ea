/*
 * prof_worker.c - the samplers inside a worker process.
 *
 * prof_worker_init() claims the slot's prof area (clearing what a previous
 * worker in the slot left), installs the SIGPROF and goroutine-dump
 * handlers, does the warm-up unwind, and turns on the heap, block and mutex
 * samplers at the configured rates. It also opens the CPU-time clock that
 * sends SIGPROF (prof_timer.h: a perf_event task-clock where the kernel
 * allows one, else timer_create, else ITIMER_PROF) and publishes which one
 * it got. prof_worker_poll() reconciles the worker with prof_ctl: the timer
 * runs exactly while a CPU profile wants samples (or always with
 * profile_continuous), at profile_hz; rates follow a reload; a heap?gc=1
 * request is answered with malloc_trim(0).
 *
 * The SIGPROF handler: save errno, unwind from the signal context, read the
 * route this worker is executing from its shm slot (one relaxed load), put
 * the record in the CPU ring (or count a drop), restore errno. No malloc, no
 * lock, nothing that ordinary code can hold.
 */
#include "sampler/sampler.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/request_id.h"
#include "sampler/prof_heap.h"
#include "sampler/prof_hooks_impl.h"
#include "sampler/prof_ring.h"
#include "sampler/prof_timer.h"
#include "sampler/prof_unwind.h"

static struct {
    shm_t *shm;
    prof_ctl_t *ctl;
    void *area;
    prof_slot_t *slot;
    shm_worker_t *me;
    uint32_t conf_seq, gc_seq;
    uint32_t hz;
    uint64_t period_ns;
    uint64_t last_cpu_ns; /* process CPU time at the last sample */
    uint64_t mi_ms;       /* when malloc statistics were last published */
    prof_timer_t timer;   /* the CPU-time clock that sends SIGPROF */
    int sampling;
} pw;

/* The worker's CPU time. The thread clock, not the process clock: the
 * worker is one thread, and while an ITIMER_PROF is armed the kernel answers
 * CLOCK_PROCESS_CPUTIME_ID from the group timer's accumulator, which only
 * moves at ticks and context switches - too coarse to time a handler. */
static uint64_t pw_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* node_name, or the host name when it is not set. */
static void prof_node_name(const conf_t *c, char *out, size_t n)
{
    if (c->prof.node_name[0])
        snprintf(out, n, "%s", c->prof.node_name);
    else if (gethostname(out, n - 1) != 0)
        snprintf(out, n, "localhost");
    out[n - 1] = 0;
}

void prof_ctl_init(shm_t *shm, const conf_t *c)
{
    prof_ctl_t *ctl = prof_ctl(shm);
    int on = c->prof.enabled;
    atomic_store(&ctl->hz, (uint32_t)(c->prof.hz > 0 ? c->prof.hz : 100));
    atomic_store(&ctl->continuous, (uint32_t)(on && c->prof.continuous));
    atomic_store(&ctl->heap_rate, on ? (uint64_t)c->prof.heap_sample_bytes : 0);
    atomic_store(&ctl->block_rate_ns, on ? c->prof.block_profile_rate_ns : 0);
    atomic_store(&ctl->mutex_fraction, on ? (uint32_t)c->prof.mutex_profile_fraction : 0);
    atomic_store(&ctl->gor_sig, (uint32_t)(SIGRTMIN + 2));
    atomic_store(&ctl->max_seconds, (uint32_t)c->prof.max_seconds);
    atomic_store(&ctl->history_ms, c->prof.history_ms);
    atomic_store(&ctl->history_bytes, (uint64_t)c->prof.history_max_size);
    prof_node_name(c, ctl->node, sizeof ctl->node);
    atomic_fetch_add(&ctl->conf_seq, 1);
    /* Say it when the rate cannot be had here, rather than cap it quietly:
     * the samples still add up to the CPU time (each is weighed by what it
     * stands for) but there are fewer of them. */
    int src = prof_timer_probe();
    uint32_t max = prof_timer_max_hz(src);
    if (on && (uint32_t)c->prof.hz > max)
        log_warn("profile_hz %d is above the %u Hz the CPU timer here delivers (%s): CPU "
                 "profiles will hold fewer samples, each weighed by the CPU time it stands for",
                 c->prof.hz, max, prof_timer_name(src));
}

void prof_master_init(const conf_t *c)
{
    if (c->prof.enabled && c->prof.heap_sample_bytes)
        prof_heap_master((uint64_t)c->prof.heap_sample_bytes);
}

void prof_child_init(void)
{
    prof_heap_off();
}

static void pw_itimer(uint32_t hz)
{
    pw.period_ns = hz ? 1000000000ull / hz : 0;
    pw.last_cpu_ns = pw_cpu_ns();
    prof_timer_arm(&pw.timer, hz);
    pw.hz = hz;
    atomic_store_explicit(&pw.slot->hz, hz, memory_order_relaxed);
    atomic_store_explicit(&pw.slot->sampling, hz != 0, memory_order_relaxed);
}

static void pw_on_sigprof(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    int saved = errno;
    if (!pw.slot) {
        errno = saved;
        return;
    }
    /* Weigh the sample by the CPU time that passed since the last one
     * (clock_gettime is async-signal-safe), in whole periods, carrying the
     * remainder, so the weights add up to the CPU time. With the
     * perf_event task-clock each signal comes after one period of CPU time
     * and weighs about 1; two overflows merged into one pending SIGPROF
     * weigh 2. The tick-checked fallbacks need it more: the kernel checks
     * them on scheduler ticks that find this thread running and advances
     * the timer by one period per check. A worker running in short bursts
     * between I/O waits falls behind (its periods would be lost if every
     * signal counted one), then catches up one signal per tick; those
     * catch-up signals stand for periods a weighted sample already
     * counted, so they weigh 0 and cost no unwind. */
    uint64_t now = pw_cpu_ns(), w = 1;
    if (pw.period_ns) {
        w = now > pw.last_cpu_ns ? (now - pw.last_cpu_ns) / pw.period_ns : 0;
        pw.last_cpu_ns += w * pw.period_ns;
    }
    /* The kernel's part first (leaf first): where the overflow came, when
     * it came inside a system call; then the user stack from the signal
     * context, whose leaf is the system call's caller. */
    uint64_t pcs[PROF_STACK_MAX];
    int nk = prof_timer_kernel_frames(&pw.timer, pcs, PROF_KSTACK_DEPTH);
    if (w == 0) {
        atomic_fetch_add_explicit(&pw.slot->cpu_caught_up, 1, memory_order_relaxed);
        errno = saved;
        return;
    }
    for (int i = 1; i < nk; i++)
        pcs[i] -= 1; /* return addresses: the call's instruction */
    if (nk)
        atomic_fetch_add_explicit(&pw.slot->cpu_kernel_samples, 1, memory_order_relaxed);
    int in_loader = 0;
    int n = prof_unwind_signal(uc, pcs + nk, PROF_CPU_DEPTH, &in_loader);
    if (in_loader)
        atomic_fetch_add_explicit(&pw.slot->cpu_skipped, 1, memory_order_relaxed);
    if (n == 0) {
        /* libunwind could not start: keep the sample with its PC */
        const ucontext_t *u = uc;
        pcs[nk + n++] = (uint64_t)u->uc_mcontext.gregs[REG_RIP];
    }
    n += nk;
    unsigned route = atomic_load_explicit(&pw.me->route, memory_order_relaxed);
    char rid[PROF_RID_BYTES];
    int have_rid = request_id_read(pw.me, rid);
    prof_ring_put(pw.slot, prof_ring(pw.area), route, (unsigned)w, clock_mono_ns(),
                  have_rid ? rid : NULL, pcs, (unsigned)n);
    /* what sampling costs this worker, measured rather than estimated */
    atomic_fetch_add_explicit(&pw.slot->cpu_handler_ns, pw_cpu_ns() - now, memory_order_relaxed);
    errno = saved;
}

/* Goroutine dump: the worker's live stack into the slot's mailbox. */
static void pw_on_gor(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    int saved = errno;
    if (pw.slot) {
        uint32_t req = atomic_load_explicit(&pw.slot->gor_req, memory_order_acquire);
        uint64_t pcs[PROF_GOR_DEPTH];
        int in_loader = 0;
        int n = prof_unwind_signal(uc, pcs, PROF_GOR_DEPTH, &in_loader);
        memcpy(pw.slot->gor_pcs, pcs, (size_t)n * sizeof *pcs);
        atomic_store_explicit(&pw.slot->gor_n, (uint32_t)n, memory_order_relaxed);
        atomic_store_explicit(&pw.slot->gor_ack, req, memory_order_release);
    }
    errno = saved;
}

static void pw_rates(void)
{
    uint64_t heap = atomic_load(&pw.ctl->heap_rate);
    if (heap != atomic_load(&pw.slot->heap_rate)) {
        prof_heap_set_rate(heap);
        atomic_store(&pw.slot->heap_rate, heap);
    }
    uint32_t mf = atomic_load(&pw.ctl->mutex_fraction);
    atomic_store(&pw.slot->mutex_fraction, mf);
    prof_hooks_install(pw.area, atomic_load(&pw.ctl->block_rate_ns), mf);
    pw.conf_seq = atomic_load(&pw.ctl->conf_seq);
}

void prof_worker_init(const conf_t *c, shm_t *shm, unsigned slot)
{
    pw.shm = shm;
    pw.ctl = prof_ctl(shm);
    /* Rates come from prof_ctl, which the master refreshes on reload; if it
     * was never initialised, start from this worker's config. */
    if (atomic_load(&pw.ctl->conf_seq) == 0)
        prof_ctl_init(shm, c);
    pw.area = shm_slot_prof(shm, slot);
    pw.me = shm_slot(shm, slot);

    /* Handlers first: the default action of the dump signal is to end the
     * process, and the profiler may send it as soon as the slot is
     * published below. Until pw.slot is set they do nothing. */
    prof_gor_signo = (int)atomic_load(&pw.ctl->gor_sig);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = pw_on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (prof_gor_signo)
        sigaddset(&sa.sa_mask, prof_gor_signo);
    sigaction(SIGPROF, &sa, NULL);
    if (prof_gor_signo) {
        sa.sa_sigaction = pw_on_gor;
        sigemptyset(&sa.sa_mask);
        sigaddset(&sa.sa_mask, SIGPROF);
        sigaction(prof_gor_signo, &sa, NULL);
    }
    prof_unwind_init();

    prof_slot_t *s = prof_slot(pw.area);
    atomic_store(&s->pid, 0); /* not ours yet: the profiler skips the slot */
    if (atomic_load(&s->magic) == PROF_SLOT_MAGIC) {
        /* A previous worker used this slot: forget its samples. */
        memset(prof_buckets(pw.area), 0, PROF_NBUCKETS * sizeof(prof_bucket_t));
    }
    uint64_t head = atomic_load(&s->cpu_head);
    memset(s, 0, sizeof *s);
    /* keep the ring positions monotonic so a reader can tell a reset */
    atomic_store(&s->cpu_head, head);
    atomic_store(&s->cpu_tail, head);
    int src = prof_timer_open(&pw.timer, SIGPROF);
    atomic_store(&s->cpu_timer, (uint32_t)src);
    atomic_store(&s->cpu_timer_max, prof_timer_max_hz(src));
    atomic_store(&s->cpu_kernel, (uint32_t)pw.timer.kernel_why);
    pw.slot = s;
    prof_heap_enable(pw.area, atomic_load(&pw.ctl->heap_rate));
    atomic_store(&s->heap_rate, atomic_load(&pw.ctl->heap_rate));
    pw_rates();
    pw.gc_seq = atomic_load(&pw.ctl->gc_seq);
    atomic_store(&s->magic, PROF_SLOT_MAGIC);
    atomic_store(&s->pid, (int32_t)getpid()); /* published: the profiler may use it */
    prof_worker_poll(clock_mono_ms());
}

/* malloc's totals for heap?debug=1 (Go prints runtime.MemStats there). */
static void pw_mallinfo(uint64_t now_ms)
{
    struct mallinfo2 m = mallinfo2();
    atomic_store_explicit(&pw.slot->mi[0], m.arena, memory_order_relaxed);
    atomic_store_explicit(&pw.slot->mi[1], m.hblkhd, memory_order_relaxed);
    atomic_store_explicit(&pw.slot->mi[2], m.uordblks + m.hblkhd, memory_order_relaxed);
    atomic_store_explicit(&pw.slot->mi[3], m.fordblks, memory_order_relaxed);
    pw.mi_ms = now_ms;
}

void prof_worker_poll(uint64_t now_ms)
{
    if (!pw.slot)
        return;
    if (atomic_load_explicit(&pw.ctl->conf_seq, memory_order_relaxed) != pw.conf_seq)
        pw_rates();
    uint32_t hz = atomic_load_explicit(&pw.ctl->hz, memory_order_relaxed);
    int want = atomic_load_explicit(&pw.ctl->continuous, memory_order_relaxed) ||
               now_ms < atomic_load_explicit(&pw.ctl->cpu_until_ms, memory_order_relaxed);
    if (!want)
        hz = 0;
    if (hz != pw.hz)
        pw_itimer(hz);
    uint32_t gc = atomic_load_explicit(&pw.ctl->gc_seq, memory_order_acquire);
    if (gc != pw.gc_seq) {
        malloc_trim(0);
        pw_mallinfo(now_ms);
        pw.gc_seq = gc;
        atomic_store_explicit(&pw.slot->gc_ack, gc, memory_order_release);
    }
    if (now_ms - pw.mi_ms >= 1000)
        pw_mallinfo(now_ms);
    prof_hooks_preempt_poll(now_ms);
    uint32_t req = atomic_load_explicit(&pw.slot->gor_req, memory_order_acquire);
    if (req != atomic_load_explicit(&pw.slot->gor_ack, memory_order_relaxed)) {
        /* The signal did not come (or came before the request was visible):
         * answer with the stack of the loop. */
        uint64_t pcs[PROF_GOR_DEPTH];
        int n = prof_unwind_here(pcs, PROF_GOR_DEPTH, 0);
        memcpy(pw.slot->gor_pcs, pcs, (size_t)n * sizeof *pcs);
        atomic_store_explicit(&pw.slot->gor_n, (uint32_t)n, memory_order_relaxed);
        atomic_store_explicit(&pw.slot->gor_ack, req, memory_order_release);
    }
}
