/*
 * prof_sym.h - turn program counters into functions, files and lines.
 *
 * The profiler is forked from the master without exec, as the workers are,
 * so a PC recorded in a worker means the same thing in the profiler's own
 * address space. prof_sym reads /proc/self/maps for the mappings (for
 * profile.proto's Mapping table, the magicd binary first) and asks elfutils
 * libdwfl for DWARF: the function (inlined calls become extra frames, as Go
 * reports them), the source file and line, and the function's first line.
 * Results are cached per module, and modules are kept by build id, so
 * re-reading the maps after a worker loads a library costs nothing for the
 * modules already seen.
 */
#ifndef MG_PROF_SYM_H
#define MG_PROF_SYM_H

#include <stddef.h>
#include <stdint.h>

#define PROF_SYM_MAX_INLINE 8
/* PCs at or above this are the kernel's (perf_event callchains): named
 * from /proc/kallsyms, in a "[kernel.kallsyms]" mapping. */
#define PROF_SYM_KERNEL_MIN 0xffff800000000000ull

typedef struct {
    const char *func; /* never NULL; "0x..." when nothing is known */
    const char *file; /* "" when unknown */
    int64_t line;
    int64_t start_line;
} prof_frame_t;

typedef struct {
    uint64_t start, limit, offset; /* the executable mapping */
    const char *path;
    const char *build_id; /* hex, "" when none */
    int has_functions;    /* DWARF or .symtab: every function has a name */
    int has_lines;        /* DWARF: files, lines, inlined frames */
} prof_mapping_t;

typedef struct prof_sym prof_sym_t;

/* Read the maps of this process. NULL on failure. */
prof_sym_t *prof_sym_new(void);
void prof_sym_free(prof_sym_t *s);
/* Re-read /proc/self/maps (cheap; caches are kept per build id). */
void prof_sym_refresh(prof_sym_t *s);

/*
 * Frames for pc, innermost (possibly inlined) first; returns their number
 * (>= 1) and sets *mapping to an index into prof_sym_mapping() or -1. A PC
 * nothing names (inside a stripped library's internal function) is one
 * frame whose func is "0x..." (prof_sym_known() is false).
 * The frames stay valid until prof_sym_free().
 */
int prof_sym_lookup(prof_sym_t *s, uint64_t pc, const prof_frame_t **frames, int *mapping);

/* Offset of pc from the start of its ELF symbol (for "func+0x1c" in the
 * text forms); 0 when unknown. */
static inline int prof_sym_known(const prof_frame_t *f)
{
    return !(f->func[0] == '0' && f->func[1] == 'x');
}

uint64_t prof_sym_offset(prof_sym_t *s, uint64_t pc);

int prof_sym_nmappings(const prof_sym_t *s);
const prof_mapping_t *prof_sym_mapping(const prof_sym_t *s, int i);

#endif
