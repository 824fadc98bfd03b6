/* unload_helper LIBRMAP: a program that does not link librmap (fault_safe
 * runs it). It installs its own SIGSEGV handler, then dlopens librmap, makes
 * one faulting rmap_read (which installs librmap's handler, chaining to the
 * program's), dlcloses it, and faults again: its own handler must still run
 * (exit 0), not a handler left pointing into unloaded code (a crash).
 * librmap is linked with -z nodelete, so dlclose leaves it loaded. */
#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static sigjmp_buf jump;
static volatile sig_atomic_t own_faults;
static volatile char sink; /* a load valgrind cannot drop */

static void own_handler(int sig)
{
    (void)sig;
    own_faults++;
    siglongjmp(jump, 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0) return 2;
    char *no_access = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib || no_access == MAP_FAILED) return 3;
    int (*rmap_read)(void *, const void *, size_t);
    /* POSIX's way to turn dlsym's object pointer into a function pointer. */
    *(void **)&rmap_read = dlsym(lib, "rmap_read");
    char buf[8];
    int rc = rmap_read ? rmap_read(buf, no_access, sizeof buf) : 0;
    dlclose(lib);
    void *still = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
    if (sigsetjmp(jump, 1) == 0) sink = *(volatile char *)no_access;
    printf("rmap_read -> %d; after dlclose librmap is %s; own handler saw %d fault(s)\n", rc,
           still ? "still loaded" : "unloaded", (int)own_faults);
    return rc == -1 && own_faults == 1 ? 0 : 1;
}
