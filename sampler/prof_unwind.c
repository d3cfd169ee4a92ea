/*
 * prof_unwind.c - libunwind stack capture for the samplers.
 *
 * Safety in a signal handler. libunwind's local unwinder allocates from its
 * own mmap'd pools (never malloc), and with UNW_CACHE_PER_THREAD its caches
 * take no lock. Two hazards remain, and both are closed here:
 *
 *  - Re-entering libunwind: a SIGPROF that lands while ordinary code is
 *    inside libunwind (the heap sampler unwinding) would corrupt its
 *    per-thread cache. prof_unwind_here() therefore runs with SIGPROF and the
 *    goroutine-dump signal blocked (they are delivered right after).
 *  - The dynamic loader: libunwind finds unwind tables with
 *    dl_iterate_phdr(), which takes the loader's dl_load_write_lock. glibc
 *    takes that lock recursively, so the same thread cannot deadlock on it,
 *    but a signal landing inside ld.so while it rewires the link map (dlopen)
 *    would walk a half-updated list. The handler records only the leaf PC
 *    when the interrupted PC is in ld.so's text (counted as "skipped").
 *
 * The warm-up unwind at init makes libunwind build its address-space state
 * and caches before the first signal, so no first-use work (and no mmap)
 * happens inside a handler under load.
 */
#define UNW_LOCAL_ONLY
#include "sampler/prof_unwind.h"

#include <libunwind.h>
#include <link.h>
#include <string.h>

#define PROF_WARM_DEPTH 64

int prof_gor_signo;
static uint64_t ld_lo, ld_hi;

static int unw_find_ld(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "/ld-linux"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            ld_lo = info->dlpi_addr + ph->p_vaddr;
            ld_hi = ld_lo + ph->p_memsz;
        }
    }
    return 1;
}

void prof_unwind_init(void)
{
    uint64_t pcs[PROF_WARM_DEPTH];
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    dl_iterate_phdr(unw_find_ld, NULL);
    /* Warm up both paths the samplers use: unw_backtrace() (ordinary code)
     * and init + step (signal handlers), so their per-thread caches and
     * any lazily mapped state exist before the first signal. */
    sigset_t old;
    prof_unwind_block_signals(&old);
    unw_context_t ctx;
    unw_cursor_t cur;
    if (unw_getcontext(&ctx) == 0 && unw_init_local(&cur, &ctx) == 0) {
        int n = 0;
        while (n++ < PROF_WARM_DEPTH && unw_step(&cur) > 0)
            ;
    }
    prof_unwind_restore_signals(&old);
    prof_unwind_here(pcs, PROF_WARM_DEPTH, 0);
}

void prof_unwind_block_signals(sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPROF);
    if (prof_gor_signo)
        sigaddset(&s, prof_gor_signo);
    sigprocmask(SIG_BLOCK, &s, old);
}

void prof_unwind_restore_signals(const sigset_t *old)
{
    sigprocmask(SIG_SETMASK, old, NULL);
}

int prof_unwind_signal(void *ucontext, uint64_t *pcs, int max, int *in_loader)
{
    unw_cursor_t cur;
    unw_word_t ip;
    int n = 0;
    *in_loader = 0;
    /* On x86-64 unw_context_t is ucontext_t, so the kernel's saved context
     * is the starting point. */
    if (unw_init_local2(&cur, (unw_context_t *)ucontext, UNW_INIT_SIGNAL_FRAME) < 0)
        return 0;
    if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0)
        return 0;
    pcs[n++] = ip;
    if (ip >= ld_lo && ip < ld_hi) {
        *in_loader = 1;
        return n;
    }
    while (n < max && unw_step(&cur) > 0) {
        if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        pcs[n++] = ip - 1;
    }
    return n;
}

int prof_unwind_here(uint64_t *pcs, int max, int skip)
{
    void *ips[128];
    sigset_t old;
    if (max > 128 - skip - 1)
        max = 128 - skip - 1;
    prof_unwind_block_signals(&old);
    int n = unw_backtrace(ips, max + skip + 1);
    prof_unwind_restore_signals(&old);
    int out = 0;
    /* ips[0] is inside this function. */
    for (int i = skip + 1; i < n && out < max; i++)
        pcs[out++] = (uint64_t)(uintptr_t)ips[i] - 1;
    return out;
}
