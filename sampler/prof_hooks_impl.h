/*
 * prof_hooks_impl.h - installing the block, mutex and off-CPU samplers
 * (worker side).
 */
#ifndef MG_PROF_HOOKS_IMPL_H
#define MG_PROF_HOOKS_IMPL_H

#include <stdint.h>

/* Point prof_hooks at the samplers (rate/fraction 0 uninstalls one). */
void prof_hooks_install(void *area, uint64_t block_rate_ns, uint32_t mutex_fraction);
/* From the loop: record the off-CPU time no wait accounts for
 * (preemption) since the last call; looks at most every 10 ms. */
void prof_hooks_preempt_poll(uint64_t now_ms);

#endif
