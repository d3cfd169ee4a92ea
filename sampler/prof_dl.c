/*
 * prof_dl.c - dlopen() and dlclose() with the profiling signals blocked.
 *
 * The SIGPROF handler unwinds with libunwind, which walks the loaded
 * objects with dl_iterate_phdr(). glibc takes the loader's lock there
 * recursively, so a handler interrupting a thread that holds it cannot
 * deadlock on it; the one real hazard is a handler walking the list of
 * loaded objects while dlopen() or dlclose() is in the middle of changing
 * it. Those are the only two calls that change it, so magicd defines them
 * (libraries such as OpenSSL and NSS resolve to the executable's
 * definition first) and runs glibc's with SIGPROF and the goroutine-dump
 * signal blocked: a sample that falls due meanwhile is delivered when the
 * call returns. The SIGPROF handler also keeps only the leaf PC when the
 * interrupted PC is inside ld.so (prof_unwind.c), which covers the loader's
 * own lazy binding. Outside workers the extra cost is two sigprocmask calls
 * per dlopen, which magicd makes a handful of times at most.
 *
 * Not built under AddressSanitizer, which intercepts these itself.
 */
#include <dlfcn.h>
#include <signal.h>

#include "sampler/prof_unwind.h"

#if defined(__SANITIZE_ADDRESS__)
#define PROF_DL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROF_DL_OFF 1
#endif
#endif

#ifndef PROF_DL_OFF

typedef void *(*dl_open_fn)(const char *, int);
typedef int (*dl_close_fn)(void *);

void *dlopen(const char *file, int mode)
{
    static dl_open_fn real;
    sigset_t old;
    prof_unwind_block_signals(&old);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "dlopen");
    void *h = real ? real(file, mode) : NULL;
    prof_unwind_restore_signals(&old);
    return h;
}

int dlclose(void *handle)
{
    static dl_close_fn real;
    sigset_t old;
    prof_unwind_block_signals(&old);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "dlclose");
    int rc = real ? real(handle) : -1;
    prof_unwind_restore_signals(&old);
    return rc;
}

#endif
