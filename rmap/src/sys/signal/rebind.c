/* Rebinding: every loaded object's calls to the C library's signal
 * functions go to librmap's.
 *
 * librmap exports sigaction, signal, sigprocmask and the rest, which keep
 * its SIGBUS/SIGSEGV handler in front of the program's. That holds for an
 * object whose symbols resolve to librmap's first. It does not hold for an
 * object that was bound to the C library's before librmap was loaded, or
 * that cannot see librmap at all: the Python interpreter, which loads
 * librmap through an extension module with dlopen(RTLD_LOCAL), and whose
 * faulthandler and signal modules call the C library's sigaction directly;
 * any host loading librmap as a plugin (JNI, Node add-ons). So when librmap
 * installs its handler it rewrites, in every loaded object but the C
 * library and the loader, the GOT entries (the architecture's JUMP_SLOT
 * and GLOB_DAT relocations: GOT_RELOCATION below) of those functions to
 * point at librmap's (handler.c's rmap_sys_rebound_*: the C library's
 * signatures over the same functions librmap's exported ones reach). That
 * includes the object that holds librmap: a Rust program, which links the
 * librmap crate into its executable and calls libc::sigaction itself (there only __sigaction, the
 * name librmap calls the C library's by, is left). Objects loaded later are
 * rewritten at the next checkpoint of any thread (guarded.rs), not by hooking
 * dlopen: the loader resolves a dlopen'ed name with the calling object's
 * search path, which a wrapper would replace by librmap's. Entries in the
 * read-only-after-relocation segment (PT_GNU_RELRO) are made writable for
 * the write and read-only again.
 *
 * The same rewriting sends the functions that set the mask from memory
 * (siglongjmp, setcontext, swapcontext) through handler.c's, which mark the
 * thread for a new mask check first.
 *
 * What this cannot reach: a system call made directly (rt_sigaction,
 * rt_sigprocmask), a function pointer fetched with dlsym, the C library's
 * own internal calls (posix_spawn, the setcontext that ends a makecontext
 * context). The checkpoint catches
 * those at each thread's next checkpoint (docs/fault-handling.md).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "protocol.h"

int rmap_sys_rebound_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
__sighandler_t rmap_sys_rebound_signal(int sig, __sighandler_t handler);
__sighandler_t rmap_sys_rebound_sysv_signal(int sig, __sighandler_t handler);
int rmap_sys_rebound_sigprocmask(int how, const sigset_t *set, sigset_t *old);
int rmap_sys_rebound_pthread_sigmask(int how, const sigset_t *set, sigset_t *old);
__sighandler_t rmap_sys_rebound_sigset(int sig, __sighandler_t disposition);
int rmap_sys_rebound_sigignore(int sig);
int rmap_sys_rebound_sighold(int sig);
int rmap_sys_rebound_sigrelse(int sig);
void rmap_sys_rebound_siglongjmp(struct __jmp_buf_tag env[1], int val);
void rmap_sys_rebound_longjmp_chk(struct __jmp_buf_tag env[1], int val);
int rmap_sys_rebound_setcontext(const ucontext_t *to);
int rmap_sys_rebound_swapcontext(ucontext_t *from, const ucontext_t *to);
/* mask.c (and the assembly of each architecture, for the three that save
 * the mask and return twice). */
int rmap_sys_rebound_sigblock(int mask);
int rmap_sys_rebound_sigsetmask(int mask);
int rmap_sys_rebound_siggetmask(void);
int rmap_sys_rebound_sigsuspend(const sigset_t *mask);
int rmap_sys_rebound_sigpause(int mask);
int rmap_sys_rebound___sigpause(int sig_or_mask, int is_sig);
int rmap_sys_rebound_xpg_sigpause(int sig);
void rmap_sys_rebound_pselect(void);
void rmap_sys_rebound_ppoll(void);
void rmap_sys_rebound_ppoll_chk(void);
void rmap_sys_rebound_epoll_pwait(void);
void rmap_sys_rebound_epoll_pwait2(void);
void rmap_sys_rebound_pthread_create(void);
void rmap_sys_rebound_posix_spawn(void);
void rmap_sys_rebound_posix_spawnp(void);
void rmap_sys_rebound_system(void);
void rmap_sys_rebound_popen(void);
void rmap_sys_rebound_execve(void);
void rmap_sys_rebound_execv(void);
void rmap_sys_rebound_execvp(void);
void rmap_sys_rebound_execvpe(void);
void rmap_sys_rebound_fexecve(void);
void rmap_sys_rebound_execveat(void);
void rmap_sys_rebound_execl(void);
void rmap_sys_rebound_execlp(void);
void rmap_sys_rebound_execle(void);
void rmap_sys_rebound_sigsetjmp(void);
void rmap_sys_rebound_setjmp(void);
void rmap_sys_rebound_getcontext(void);

/* The relocations that fill a GOT entry with a function's address. */
#if defined(__x86_64__)
#define GOT_RELOCATION(type) ((type) == R_X86_64_JUMP_SLOT || (type) == R_X86_64_GLOB_DAT)
#elif defined(__aarch64__)
#define GOT_RELOCATION(type) ((type) == R_AARCH64_JUMP_SLOT || (type) == R_AARCH64_GLOB_DAT)
#else
#error "GOT relocations of this architecture"
#endif

static const struct {
    const char *name;
    void *target;
} REBOUND[] = {
    {"sigaction", (void *)rmap_sys_rebound_sigaction},
    {"__sigaction", (void *)rmap_sys_rebound_sigaction},
    {"signal", (void *)rmap_sys_rebound_signal},
    {"bsd_signal", (void *)rmap_sys_rebound_signal},
    {"sysv_signal", (void *)rmap_sys_rebound_sysv_signal},
    {"__sysv_signal", (void *)rmap_sys_rebound_sysv_signal},
    {"sigprocmask", (void *)rmap_sys_rebound_sigprocmask},
    {"pthread_sigmask", (void *)rmap_sys_rebound_pthread_sigmask},
    {"sigset", (void *)rmap_sys_rebound_sigset},
    {"sigignore", (void *)rmap_sys_rebound_sigignore},
    {"sighold", (void *)rmap_sys_rebound_sighold},
    {"sigrelse", (void *)rmap_sys_rebound_sigrelse},
    /* They set the mask from memory (handler.c). */
    {"siglongjmp", (void *)rmap_sys_rebound_siglongjmp},
    {"longjmp", (void *)rmap_sys_rebound_siglongjmp},
    {"__longjmp_chk", (void *)rmap_sys_rebound_longjmp_chk},
    {"setcontext", (void *)rmap_sys_rebound_setcontext},
    {"swapcontext", (void *)rmap_sys_rebound_swapcontext},
    /* They ask for, change, save, wait with or pass on the mask the
     * program set (mask.c). */
    {"sigblock", (void *)rmap_sys_rebound_sigblock},
    {"sigsetmask", (void *)rmap_sys_rebound_sigsetmask},
    {"siggetmask", (void *)rmap_sys_rebound_siggetmask},
    {"sigsuspend", (void *)rmap_sys_rebound_sigsuspend},
    {"sigpause", (void *)rmap_sys_rebound_sigpause},
    {"__sigpause", (void *)rmap_sys_rebound___sigpause},
    {"__xpg_sigpause", (void *)rmap_sys_rebound_xpg_sigpause},
    {"pselect", (void *)rmap_sys_rebound_pselect},
    {"ppoll", (void *)rmap_sys_rebound_ppoll},
    {"__ppoll_chk", (void *)rmap_sys_rebound_ppoll_chk},
    {"epoll_pwait", (void *)rmap_sys_rebound_epoll_pwait},
    {"epoll_pwait2", (void *)rmap_sys_rebound_epoll_pwait2},
    {"__sigsetjmp", (void *)rmap_sys_rebound_sigsetjmp},
    {"setjmp", (void *)rmap_sys_rebound_setjmp},
    {"getcontext", (void *)rmap_sys_rebound_getcontext},
    {"pthread_create", (void *)rmap_sys_rebound_pthread_create},
    {"posix_spawn", (void *)rmap_sys_rebound_posix_spawn},
    {"posix_spawnp", (void *)rmap_sys_rebound_posix_spawnp},
    {"system", (void *)rmap_sys_rebound_system},
    {"popen", (void *)rmap_sys_rebound_popen},
    {"execve", (void *)rmap_sys_rebound_execve},
    {"execv", (void *)rmap_sys_rebound_execv},
    {"execvp", (void *)rmap_sys_rebound_execvp},
    {"execvpe", (void *)rmap_sys_rebound_execvpe},
    {"fexecve", (void *)rmap_sys_rebound_fexecve},
    {"execveat", (void *)rmap_sys_rebound_execveat},
    {"execl", (void *)rmap_sys_rebound_execl},
    {"execlp", (void *)rmap_sys_rebound_execlp},
    {"execle", (void *)rmap_sys_rebound_execle},
};
enum { REBOUND_COUNT = sizeof REBOUND / sizeof *REBOUND };

/* The objects rewritten so far, by load address (the loader never reuses
 * one while the object stays loaded; after an unload, dlpi_subs changes and
 * the list starts again). An object past the list's end is rewritten at
 * every scan: correct, only slower. */
enum { REMEMBERED = 1024 };
static uintptr_t rewritten[REMEMBERED];
static size_t rewritten_count;
static unsigned long long unloads_seen;
static atomic_flag scanning = ATOMIC_FLAG_INIT;

static int already_rewritten(uintptr_t base)
{
    for (size_t i = 0; i < rewritten_count; i++)
        if (rewritten[i] == base) return 1;
    return 0;
}

static const char *file_name(const char *path)
{
    const char *base = strrchr(path, '/');
    return base ? base + 1 : path;
}

static int is_libc(const char *path) { return strncmp(file_name(path), "libc.so", 7) == 0; }

static int skipped(const char *path)
{
    /* The C library and the loader call their own functions directly;
     * the vDSO has no relocations of these. */
    const char *base = file_name(path);
    return is_libc(path) || strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "linux-vdso", 10) == 0;
}

/* Seen by a scan: the C library is a shared object, so the program's and
 * its libraries' calls of it go through GOT entries the rebinding
 * rewrites (not so where it is linked in statically). */
static atomic_int libc_is_shared;
int rmap_sys_rebinding_reaches_libc(void) { return atomic_load_explicit(&libc_is_shared, memory_order_relaxed); }

/* A d_ptr of the dynamic section: the loader has made most of them
 * absolute, the vDSO's and some others are still offsets. */
static uintptr_t absolute(uintptr_t base, uintptr_t ptr) { return ptr < base ? base + ptr : ptr; }

static void rewrite_slot(uintptr_t slot, void *target, uintptr_t relro_start, uintptr_t relro_end)
{
    void **entry = (void **)slot;
    /* NULL: a weak reference the loader did not find, which the object
     * tests before calling. */
    if (*entry == target || *entry == NULL) return;
    int read_only = slot >= relro_start && slot < relro_end;
    uintptr_t page = slot & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
    size_t len = (size_t)(slot + sizeof(void *) - page);
    if (read_only && rmap_sys_raw_mprotect((void *)page, len, PROT_READ | PROT_WRITE) != 0) return;
    __atomic_store_n(entry, target, __ATOMIC_RELAXED);
    if (read_only) rmap_sys_raw_mprotect((void *)page, len, PROT_READ);
}

static void rewrite_relocations(uintptr_t base, const ElfW(Rela) * rela, size_t size, const ElfW(Sym) * symbols,
                                const char *strings, uintptr_t relro_start, uintptr_t relro_end, int own)
{
    for (size_t i = 0; i < size / sizeof *rela; i++) {
        unsigned long type = ELF64_R_TYPE(rela[i].r_info);
        if (!GOT_RELOCATION(type)) continue;
        const char *name = strings + symbols[ELF64_R_SYM(rela[i].r_info)].st_name;
        /* librmap's own calls of the C library's sigaction go through
         * __sigaction (handler.c): in the object that holds librmap, that one
         * entry stays the C library's. */
        if (own && strcmp(name, "__sigaction") == 0) continue;
        for (int k = 0; k < REBOUND_COUNT; k++) {
            if (name[0] == REBOUND[k].name[0] && strcmp(name, REBOUND[k].name) == 0) {
                if (rmap_sys_has_next(name))
                    rewrite_slot(base + rela[i].r_offset, REBOUND[k].target, relro_start, relro_end);
                break;
            }
        }
    }
}

static int rewrite_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t own = (uintptr_t)data, base = info->dlpi_addr;
    const ElfW(Phdr) *dynamic = NULL;
    uintptr_t relro_start = 0, relro_end = 0;
    int contains_own = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC) dynamic = ph;
        if (ph->p_type == PT_GNU_RELRO) relro_start = base + ph->p_vaddr, relro_end = relro_start + ph->p_memsz;
        if (ph->p_type == PT_LOAD && own - (base + ph->p_vaddr) < ph->p_memsz) contains_own = 1;
    }
    if (dynamic && is_libc(info->dlpi_name)) atomic_store_explicit(&libc_is_shared, 1, memory_order_relaxed);
    if (!dynamic || skipped(info->dlpi_name) || already_rewritten(base)) return 0;
    const ElfW(Sym) *symbols = NULL;
    const char *strings = NULL;
    const ElfW(Rela) *plt = NULL, *rela = NULL;
    size_t plt_size = 0, rela_size = 0;
    for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(base + dynamic->p_vaddr); d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symbols = (const ElfW(Sym) *)absolute(base, d->d_un.d_ptr); break;
        case DT_STRTAB: strings = (const char *)absolute(base, d->d_un.d_ptr); break;
        case DT_JMPREL: plt = (const ElfW(Rela) *)absolute(base, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: plt_size = d->d_un.d_val; break;
        case DT_RELA: rela = (const ElfW(Rela) *)absolute(base, d->d_un.d_ptr); break;
        case DT_RELASZ: rela_size = d->d_un.d_val; break;
        }
    }
    if (symbols && strings) {
        if (plt) rewrite_relocations(base, plt, plt_size, symbols, strings, relro_start, relro_end, contains_own);
        if (rela) rewrite_relocations(base, rela, rela_size, symbols, strings, relro_start, relro_end, contains_own);
    }
    if (rewritten_count < REMEMBERED) rewritten[rewritten_count++] = base;
    return 0;
}

/* The unloads counter of the loader, from the first object. */
static int count_unloads(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    *(unsigned long long *)data = info->dlpi_subs;
    return 1;
}

/* Rewrites every loaded object not rewritten yet. One scan at a time, with
 * every signal blocked: a handler that interrupted a scan and copied (its
 * copy's checkpoint scans) would wait for its own thread. */
void rmap_sys_rebind(void)
{
    sigset_t all, saved;
    sigfillset(&all);
    rmap_sys_real_mask(SIG_SETMASK, &all, &saved);
    while (atomic_flag_test_and_set_explicit(&scanning, memory_order_acquire)) {}
    unsigned long long unloads = 0;
    dl_iterate_phdr(count_unloads, &unloads);
    if (unloads != unloads_seen) rewritten_count = 0, unloads_seen = unloads;
    dl_iterate_phdr(rewrite_object, (void *)(uintptr_t)rmap_sys_rebind);
    atomic_flag_clear_explicit(&scanning, memory_order_release);
    rmap_sys_real_mask(SIG_SETMASK, &saved, NULL);
}
