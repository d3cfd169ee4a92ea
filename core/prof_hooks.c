/*
 * prof_hooks.c - the one definition of prof_hooks (see prof_hooks.h).
 *
 * The variable lives in core, not in the sampler that fills it, so every
 * layer can bracket its blocking calls and still link without the
 * profiler: with the hooks unset (tools, unit tests, the master) the
 * brackets cost one load and a branch.
 */
#include "core/prof_hooks.h"

prof_hooks_t prof_hooks;
