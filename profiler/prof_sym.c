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

/* The kernel's text symbols (/proc/kallsyms), sorted, loaded the first
 * time a kernel PC is looked up. */
typedef struct {
    int loaded;
    uint64_t *addr;
    uint32_t *name; /* offsets into names */
    size_t n;
    char *names;
    uint64_t lo; /* lowest text address */
    char bid[2 * 64 + 1];
} sym_kernel_t;

struct prof_sym {
    sym_kernel_t kern;
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

/* The running kernel's GNU build id, from its ELF notes. */
static void sym_kernel_build_id(sym_kernel_t *k)
{
    FILE *f = fopen("/sys/kernel/notes", "rb");
    unsigned char b[4096];
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
        fclose(f);
    for (size_t i = 0; i + 12 <= n;) {
        uint32_t nsz, dsz, type;
        memcpy(&nsz, b + i, 4);
        memcpy(&dsz, b + i + 4, 4);
        memcpy(&type, b + i + 8, 4);
        size_t name = i + 12, desc = name + ((nsz + 3) & ~3u);
        if (desc + dsz > n)
            break;
        if (type == 3 && nsz == 4 && !memcmp(b + name, "GNU", 4) && dsz <= 64) {
            for (uint32_t j = 0; j < dsz; j++)
                snprintf(k->bid + 2 * j, 3, "%02x", b[desc + j]);
            return;
        }
        i = desc + ((dsz + 3) & ~3u);
    }
}

static int sym_kcmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Text symbols of /proc/kallsyms ("ADDR t NAME [module]"); all addresses
 * read 0 where kptr_restrict hides them, and then nothing is kept. */
static void sym_kernel_load(sym_kernel_t *k)
{
    k->loaded = 1;
    FILE *f = fopen("/proc/kallsyms", "r");
    if (!f)
        return;
    size_t cap = 0, ncap = 0, nlen = 0;
    uint64_t *pairs = NULL; /* (addr, name offset) */
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char type, name[400];
        uint64_t a;
        if (sscanf(line, "%" SCNx64 " %c %399s", &a, &type, name) != 3 || a == 0)
            continue;
        if (type != 't' && type != 'T' && type != 'w' && type != 'W')
            continue;
        size_t l = strlen(name) + 1;
        if (k->n == cap) {
            cap = cap ? cap * 2 : 65536;
            uint64_t *np = realloc(pairs, cap * 2 * sizeof *np);
            if (!np)
                break;
            pairs = np;
        }
        if (nlen + l > ncap) {
            ncap = ncap ? ncap * 2 : 1 << 20;
            char *nn = realloc(k->names, ncap);
            if (!nn)
                break;
            k->names = nn;
        }
        memcpy(k->names + nlen, name, l);
        pairs[2 * k->n] = a;
        pairs[2 * k->n + 1] = nlen;
        nlen += l;
        k->n++;
    }
    fclose(f);
    if (!k->n) {
        free(pairs);
        return;
    }
    qsort(pairs, k->n, 2 * sizeof *pairs, sym_kcmp);
    k->addr = malloc(k->n * sizeof *k->addr);
    k->name = malloc(k->n * sizeof *k->name);
    if (!k->addr || !k->name) {
        k->n = 0;
        free(pairs);
        return;
    }
    for (size_t i = 0; i < k->n; i++) {
        k->addr[i] = pairs[2 * i];
        k->name[i] = (uint32_t)pairs[2 * i + 1];
    }
    free(pairs);
    k->lo = k->addr[0];
}

/* The kernel as a mapping, as perf names it; pprof knows not to look for
 * a file. Appended after the maps (re-read ones too) once the kernel's
 * symbols were asked for. */
static void sym_kernel_mapping(prof_sym_t *s)
{
    sym_kernel_t *k = &s->kern;
    if (!k->loaded)
        return;
    prof_mapping_t *nm = realloc(s->maps, (size_t)(s->nmaps + 1) * sizeof *nm);
    if (!nm)
        return;
    s->maps = nm;
    prof_mapping_t *m = &s->maps[s->nmaps++];
    memset(m, 0, sizeof *m);
    m->start = k->n ? k->lo : PROF_SYM_KERNEL_MIN;
    m->limit = UINT64_MAX;
    m->offset = 0;
    m->path = sym_intern(s, "[kernel.kallsyms]");
    m->build_id = sym_intern(s, k->bid);
    m->has_functions = k->n > 0;
}

static const char *sym_kernel_name(prof_sym_t *s, uint64_t pc)
{
    sym_kernel_t *k = &s->kern;
    if (!k->n || pc < k->addr[0])
        return NULL;
    size_t lo = 0, hi = k->n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (k->addr[mid] <= pc)
            lo = mid;
        else
            hi = mid;
    }
    return sym_intern(s, k->names + k->name[lo]);
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
    sym_kernel_mapping(s);
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
    free(s->kern.addr);
    free(s->kern.name);
    free(s->kern.names);
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
    if (pc >= PROF_SYM_KERNEL_MIN) {
        const char *name = sym_kernel_name(s, pc);
        if (name) {
            out[0] = (prof_frame_t){name, "", 0, 0};
            return 1;
        }
    }
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
    if (pc >= PROF_SYM_KERNEL_MIN && !s->kern.loaded) {
        sym_kernel_load(&s->kern);
        sym_kernel_build_id(&s->kern);
        sym_kernel_mapping(s);
    }
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
