/*
 * prof_sym.c - symbolization with elfutils libdwfl (see prof_sym.h).
 *
 * A lookup goes: the mapping that holds the PC (from /proc/self/maps) ->
 * the cache, keyed by the module's build id and the PC's offset in the
 * module -> on a miss, libdwfl: the CU DIE for the PC, dwarf_getscopes() for
 * the chain of inlined subroutines up to the enclosing subprogram, the line
 * table for the innermost file:line, and each inlined call's DW_AT_call_file
 * / DW_AT_call_line for the lines of the frames that inlined it. Without
 * DWARF (a stripped library) the ELF symbol table still names the function.
 * All strings are interned, so the profile builder can compare pointers.
 */
#include "profiler/prof_sym.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *bid; /* interned build id (or path when none) */
    uint64_t off;    /* pc - mapping start + file offset */
    int used;
    int nframes;
    int mapping;
    prof_frame_t *frames;
} sym_entry_t;

typedef struct {
    char **v;
    size_t n, cap;
} sym_intern_t;

struct prof_sym {
    Dwfl *dwfl;
    Dwfl_Callbacks cb;
    prof_mapping_t *maps;
    int nmaps;
    sym_entry_t *tab;
    size_t tabcap, tabn;
    sym_intern_t strs;
    char *debuginfo_path;
};

static uint64_t sym_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static const char *sym_intern(prof_sym_t *s, const char *str)
{
    sym_intern_t *t = &s->strs;
    if (t->n * 2 >= t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        char **nv = calloc(ncap, sizeof *nv);
        if (!nv)
            return "";
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->v[i])
                continue;
            size_t j = sym_hash_str(t->v[i]) & (ncap - 1);
            while (nv[j])
                j = (j + 1) & (ncap - 1);
            nv[j] = t->v[i];
        }
        free(t->v);
        t->v = nv;
        t->cap = ncap;
    }
    size_t j = sym_hash_str(str) & (t->cap - 1);
    while (t->v[j]) {
        if (strcmp(t->v[j], str) == 0)
            return t->v[j];
        j = (j + 1) & (t->cap - 1);
    }
    char *d = strdup(str);
    if (!d)
        return "";
    t->v[j] = d;
    t->n++;
    return d;
}

static void sym_report(prof_sym_t *s)
{
    if (s->dwfl)
        dwfl_end(s->dwfl);
    s->dwfl = dwfl_begin(&s->cb);
    if (!s->dwfl)
        return;
    dwfl_report_begin(s->dwfl);
    dwfl_linux_proc_report(s->dwfl, getpid());
    dwfl_report_end(s->dwfl, NULL, NULL);
}

static const char *sym_build_id(prof_sym_t *s, uint64_t addr)
{
    Dwfl_Module *m = s->dwfl ? dwfl_addrmodule(s->dwfl, addr) : NULL;
    const unsigned char *bits;
    GElf_Addr vaddr;
    Dwarf_Addr bias;
    if (m)
        dwfl_module_getelf(m, &bias); /* the build id is read with the ELF */
    int n = m ? dwfl_module_build_id(m, &bits, &vaddr) : -1;
    if (n <= 0)
        return "";
    char hex[2 * 64 + 1];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", bits[i]);
    return sym_intern(s, hex);
}

/* Whether the module can name its own functions: DWARF (found by libdwfl
 * in the file or in a debug file it located, e.g. under
 * /usr/lib/debug/.build-id) or an ELF .symtab. A stripped library has
 * neither - only .dynsym, which names the exported functions and none of
 * the internal ones - and its mapping says so (HasFunctions false and the
 * rest), so pprof tries the debug files of the machine that reads it. */
static void sym_module_kind(prof_sym_t *s, uint64_t addr, int *funcs, int *lines)
{
    *funcs = *lines = 0;
    Dwfl_Module *m = s->dwfl ? dwfl_addrmodule(s->dwfl, addr) : NULL;
    if (!m)
        return;
    Dwarf_Addr bias;
    if (dwfl_module_getdwarf(m, &bias)) {
        *funcs = *lines = 1;
        return;
    }
    Elf *e = dwfl_module_getelf(m, &bias);
    Elf_Scn *scn = NULL;
    while (e && (scn = elf_nextscn(e, scn))) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB && sh.sh_size > 0) {
            *funcs = 1;
            return;
        }
    }
}

/* Executable mappings of /proc/self/maps, the main binary first (pprof
 * treats mapping 1 as the program), and the vDSO ("[vdso]": its
 * functions, e.g. clock_gettime, have names; pprof knows not to look for
 * a file). */
static void sym_read_maps(prof_sym_t *s)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    char exe[512] = "";
    ssize_t en = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[en > 0 ? en : 0] = 0;
    free(s->maps);
    s->maps = NULL;
    s->nmaps = 0;
    int cap = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        uint64_t lo, hi, off;
        char perms[8], path[600] = "";
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %599[^\n]", &lo, &hi,
                   perms, &off, path) < 4)
            continue;
        int vdso = strcmp(path, "[vdso]") == 0;
        if (perms[2] != 'x' || (path[0] != '/' && !vdso))
            continue;
        if (s->nmaps == cap) {
            cap = cap ? cap * 2 : 32;
            prof_mapping_t *nm = realloc(s->maps, cap * sizeof *nm);
            if (!nm)
                break;
            s->maps = nm;
        }
        prof_mapping_t *m = &s->maps[s->nmaps++];
        memset(m, 0, sizeof *m);
        m->start = lo;
        m->limit = hi;
        m->offset = off;
        m->path = sym_intern(s, path);
        m->build_id = sym_build_id(s, lo);
        sym_module_kind(s, lo, &m->has_functions, &m->has_lines);
        if (vdso)
            m->has_functions = 1; /* its .dynsym is all it has: nothing to add */
        if (strcmp(path, exe) == 0 && s->nmaps > 1) {
            prof_mapping_t t = *m;
            memmove(&s->maps[1], &s->maps[0], (s->nmaps - 1) * sizeof *m);
            s->maps[0] = t;
        }
    }
    fclose(f);
}

prof_sym_t *prof_sym_new(void)
{
    prof_sym_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cb.find_elf = dwfl_linux_proc_find_elf;
    s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    s->cb.debuginfo_path = &s->debuginfo_path;
    sym_report(s);
    sym_read_maps(s);
    return s;
}

void prof_sym_refresh(prof_sym_t *s)
{
    sym_report(s);
    sym_read_maps(s);
}

void prof_sym_free(prof_sym_t *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    for (size_t i = 0; i < s->tabcap; i++)
        free(s->tab[i].frames);
    free(s->tab);
    for (size_t i = 0; i < s->strs.cap; i++)
        free(s->strs.v[i]);
    free(s->strs.v);
    free(s->maps);
    free(s);
}

int prof_sym_nmappings(const prof_sym_t *s)
{
    return s->nmaps;
}

const prof_mapping_t *prof_sym_mapping(const prof_sym_t *s, int i)
{
    return &s->maps[i];
}

static int sym_find_map(const prof_sym_t *s, uint64_t pc)
{
    for (int i = 0; i < s->nmaps; i++)
        if (pc >= s->maps[i].start && pc < s->maps[i].limit)
            return i;
    return -1;
}

/* Lexically clean an absolute path in place ("a/./b" -> "a/b",
 * "a/x/../b" -> "a/b", no "//"), as Go's filepath.Clean does. */
static void sym_clean(char *p)
{
    char *out = p, *in = p;
    while (*in) {
        while (*in == '/')
            in++;
        char *seg = in;
        while (*in && *in != '/')
            in++;
        size_t n = (size_t)(in - seg);
        if (n == 0 || (n == 1 && seg[0] == '.'))
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > p && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        memmove(out, seg, n);
        out += n;
    }
    if (out == p)
        *out++ = '/';
    *out = 0;
}

/* A source file name from the line table or an inlined call, made
 * absolute against the CU's compilation directory and cleaned: the
 * compiler writes "app/route.c", "./core/clock.h" or
 * "../sysdeps/x86_64/strlen.S" relative to where it ran, and pprof's -list
 * (with -source_path / -trim_path for a copy elsewhere) wants one
 * consistent, absolute name per file. */
static const char *sym_file(prof_sym_t *s, Dwarf_Die *cu, const char *f)
{
    if (!f || !*f)
        return "";
    char buf[1024];
    if (f[0] == '/') {
        snprintf(buf, sizeof buf, "%s", f);
    } else {
        Dwarf_Attribute a;
        const char *dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &a));
        if (!dir || dir[0] != '/')
            return sym_intern(s, f); /* nothing to anchor it to */
        snprintf(buf, sizeof buf, "%s/%s", dir, f);
    }
    sym_clean(buf);
    return sym_intern(s, buf);
}

static const char *sym_callfile(prof_sym_t *s, Dwarf_Die *cu, Dwarf_Die *inl)
{
    Dwarf_Attribute a;
    Dwarf_Word idx;
    Dwarf_Files *files;
    size_t nfiles;
    if (!dwarf_attr(inl, DW_AT_call_file, &a) || dwarf_formudata(&a, &idx) != 0)
        return "";
    if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || idx >= nfiles)
        return "";
    return sym_file(s, cu, dwarf_filesrc(files, idx, NULL, NULL));
}

static int64_t sym_attr_int(Dwarf_Die *d, int name)
{
    Dwarf_Attribute a;
    Dwarf_Word v;
    if (!dwarf_attr(d, name, &a) || dwarf_formudata(&a, &v) != 0)
        return 0;
    return (int64_t)v;
}

/* The CU DIE that holds pc. libdwfl finds it through .debug_aranges, which
 * clang does not emit by default; then look at each CU's ranges. */
static Dwarf_Die *sym_find_cu(Dwfl_Module *mod, uint64_t pc, Dwarf_Addr *bias)
{
    Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, bias);
    if (cu)
        return cu;
    for (cu = dwfl_module_nextcu(mod, NULL, bias); cu; cu = dwfl_module_nextcu(mod, cu, bias))
        if (dwarf_haspc(cu, pc - *bias) > 0)
            return cu;
    return NULL;
}

/* DWARF frames (innermost first) for pc; 0 when the module has none. */
static int sym_dwarf(prof_sym_t *s, Dwfl_Module *mod, uint64_t pc, prof_frame_t *out, int max)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = sym_find_cu(mod, pc, &bias);
    if (!cu)
        return 0;
    Dwarf_Die *scopes = NULL;
    int ns = dwarf_getscopes(cu, pc - bias, &scopes);
    if (ns <= 0)
        return 0;
    const char *file = "";
    int64_t line = 0;
    Dwarf_Line *l = dwarf_getsrc_die(cu, pc - bias);
    if (l) {
        int ln = 0;
        const char *f = dwarf_linesrc(l, NULL, NULL);
        if (f && dwarf_lineno(l, &ln) == 0) {
            file = sym_file(s, cu, f);
            line = ln;
        }
    }
    /* dwarf_getscopes() gives the innermost function-like scope; each
     * inlined instance's callers come from its own containing scopes
     * (dwarf_getscopes_die), which walk the concrete tree, not the abstract
     * definition the instance was inlined from. */
    Dwarf_Die cur;
    int found = 0;
    for (int i = 0; i < ns; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram) {
            cur = scopes[i];
            found = 1;
            break;
        }
    }
    free(scopes);
    int n = 0;
    while (found && n < max) {
        int tag = dwarf_tag(&cur);
        const char *name = dwarf_diename(&cur);
        int dl = 0;
        dwarf_decl_line(&cur, &dl);
        out[n].func = sym_intern(s, name ? name : "??");
        out[n].file = file;
        out[n].line = line;
        out[n].start_line = dl;
        n++;
        if (tag != DW_TAG_inlined_subroutine)
            break;
        /* The frame that inlined this one is at the call site. */
        file = sym_callfile(s, cu, &cur);
        line = sym_attr_int(&cur, DW_AT_call_line);
        Dwarf_Die *up = NULL;
        int nu = dwarf_getscopes_die(&cur, &up);
        found = 0;
        for (int i = 1; i < nu; i++) {
            int t = dwarf_tag(&up[i]);
            if (t == DW_TAG_inlined_subroutine || t == DW_TAG_subprogram) {
                cur = up[i];
                found = 1;
                break;
            }
        }
        free(up);
    }
    return n;
}

static int sym_resolve(prof_sym_t *s, uint64_t pc, prof_frame_t *out, int max)
{
    Dwfl_Module *mod = s->dwfl ? dwfl_addrmodule(s->dwfl, pc) : NULL;
    if (mod) {
        int n = sym_dwarf(s, mod, pc, out, max);
        if (n > 0)
            return n;
        GElf_Off off;
        GElf_Sym sym;
        const char *name = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
        if (name) {
            out[0].func = sym_intern(s, name);
            out[0].file = "";
            out[0].line = 0;
            out[0].start_line = 0;
            return 1;
        }
    }
    char hex[32];
    snprintf(hex, sizeof hex, "0x%" PRIx64, pc);
    out[0].func = sym_intern(s, hex);
    out[0].file = "";
    out[0].line = 0;
    out[0].start_line = 0;
    return 1;
}

static uint64_t sym_key_hash(const char *bid, uint64_t off)
{
    uint64_t h = (uint64_t)(uintptr_t)bid * 0x9e3779b97f4a7c15ull ^ off;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static int sym_tab_grow(prof_sym_t *s)
{
    size_t ncap = s->tabcap ? s->tabcap * 2 : 4096;
    sym_entry_t *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return -1;
    for (size_t i = 0; i < s->tabcap; i++) {
        sym_entry_t *e = &s->tab[i];
        if (!e->used)
            continue;
        size_t j = sym_key_hash(e->bid, e->off) & (ncap - 1);
        while (nt[j].used)
            j = (j + 1) & (ncap - 1);
        nt[j] = *e;
    }
    free(s->tab);
    s->tab = nt;
    s->tabcap = ncap;
    return 0;
}

int prof_sym_lookup(prof_sym_t *s, uint64_t pc, const prof_frame_t **frames, int *mapping)
{
    int mi = sym_find_map(s, pc);
    const char *bid = "";
    uint64_t off = pc;
    if (mi >= 0) {
        const prof_mapping_t *m = &s->maps[mi];
        bid = m->build_id[0] ? m->build_id : m->path;
        off = pc - m->start + m->offset;
    }
    if ((s->tabn + 1) * 2 > s->tabcap && sym_tab_grow(s) < 0)
        goto fail;
    size_t j = sym_key_hash(bid, off) & (s->tabcap - 1);
    while (s->tab[j].used) {
        if (s->tab[j].bid == bid && s->tab[j].off == off) {
            *frames = s->tab[j].frames;
            *mapping = mi;
            return s->tab[j].nframes;
        }
        j = (j + 1) & (s->tabcap - 1);
    }
    prof_frame_t tmp[PROF_SYM_MAX_INLINE];
    int n = sym_resolve(s, pc, tmp, PROF_SYM_MAX_INLINE);
    /* No symbol (an internal function of a stripped library): the frame
     * stays "0x...", and the profile builder emits the location as an
     * address in its mapping, for pprof to symbolize from a debug file. */
    sym_entry_t *e = &s->tab[j];
    e->frames = malloc(n * sizeof *tmp);
    if (!e->frames)
        goto fail;
    memcpy(e->frames, tmp, n * sizeof *tmp);
    e->used = 1;
    e->bid = bid;
    e->off = off;
    e->nframes = n;
    e->mapping = mi;
    s->tabn++;
    *frames = e->frames;
    *mapping = mi;
    return n;
fail:;
    static prof_frame_t unknown = {"??", "", 0, 0};
    *frames = &unknown;
    *mapping = mi;
    return 1;
}

uint64_t prof_sym_offset(prof_sym_t *s, uint64_t pc)
{
    Dwfl_Module *mod = s->dwfl ? dwfl_addrmodule(s->dwfl, pc) : NULL;
    GElf_Off off = 0;
    GElf_Sym sym;
    if (!mod || !dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL))
        return 0;
    return off;
}
