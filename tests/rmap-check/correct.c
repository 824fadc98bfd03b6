/* A plain C program (no librmap in its build) that uses every mapping call
 * correctly, in the ways that stress an interposer: mprotect splitting a
 * mapping, mremap growing one (moving it), madvise, msync, mlock, mincore,
 * calls on memory it did not map (the C library's heap, its stack), a
 * mapping made in a constructor before main, calls from a library loaded
 * with dlopen, from four threads at once, from a signal handler, and from a
 * forked child. Under rmap-check it must get no report and the same
 * results as without it.
 *
 * usage: correct PLUGIN.so [PROGRAM]   (PROGRAM: run it in a forked child
 * with exec at the end, to check that the checker follows it) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (ok) passed++;
    else failed++;
}

static char *anon(size_t len, int prot)
{
    char *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Mapped before main runs. */
static char *early;
__attribute__((constructor)) static void map_early(void) { early = anon(4096, PROT_READ | PROT_WRITE); }

static void split_and_merge(size_t page)
{
    char *p = anon(3 * page, PROT_READ | PROT_WRITE);
    memset(p, 7, 3 * page);
    int split = mprotect(p + page, page, PROT_READ);
    int merged = mprotect(p + page, page, PROT_READ | PROT_WRITE);
    p[page] = 8;
    int whole = munmap(p, 3 * page);
    check(p && split == 0 && merged == 0 && whole == 0, "mprotect splits a mapping and merges it back; munmap of the whole");
    char *q = anon(4 * page, PROT_READ | PROT_WRITE);
    int head = munmap(q, page), tail = munmap(q + 3 * page, page), middle = munmap(q + page, 2 * page);
    check(q && head == 0 && tail == 0 && middle == 0, "munmap in pieces: head, tail, then the middle");
}

static void grow(size_t page)
{
    char *p = anon(page, PROT_READ | PROT_WRITE);
    strcpy(p, "kept across mremap");
    /* A neighbour makes growing in place impossible, so the mapping moves. */
    char *fence = mmap(p + page, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    char *q = mremap(p, page, 16 * page, MREMAP_MAYMOVE);
    check(q != MAP_FAILED && strcmp(q, "kept across mremap") == 0, "mremap grows a mapping (MREMAP_MAYMOVE) and keeps its bytes");
    char *r = mremap(q, 16 * page, 2 * page, 0);
    check(r == q, "mremap shrinks it in place");
    check(munmap(r, 2 * page) == 0 && (fence == MAP_FAILED || munmap(fence, page) == 0), "munmap after mremap");
}

static void file_mapping(size_t page)
{
    FILE *f = tmpfile();
    int fd = f ? fileno(f) : -1;
    int sized = fd >= 0 ? ftruncate(fd, 2 * (off_t)page) : -1;
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(sized == 0 && p != MAP_FAILED, "mmap of a 2-page file");
    if (p == MAP_FAILED) return;
    memcpy(p, "written", 8);
    check(msync(p, 2 * page, MS_SYNC) == 0, "msync(MS_SYNC)");
    char back[8] = {0};
    check(pread(fd, back, 8, 0) == 8 && strcmp(back, "written") == 0, "the file holds what was written");
    check(madvise(p, 2 * page, MADV_WILLNEED) == 0 && madvise(p, page, MADV_DONTNEED) == 0, "madvise WILLNEED, DONTNEED");
    unsigned char vec[2];
    check(mincore(p, 2 * page, vec) == 0, "mincore");
    int locked = mlock(p, page);
    check(locked == 0 || errno == EPERM || errno == ENOMEM, "mlock (or the limit refuses it, as without the checker)");
    check(locked != 0 || munlock(p, page) == 0, "munlock");
    check(munmap(p, 2 * page) == 0, "munmap of the file mapping");
    fclose(f);
}

static void foreign_memory(size_t page)
{
    /* Memory the program did not map itself: allowed, and not librmap's to refuse. */
    char *heap = aligned_alloc(page, 4 * page);
    memset(heap, 1, 4 * page);
    check(heap && madvise(heap, 4 * page, MADV_DONTNEED) == 0, "madvise of heap memory (aligned_alloc)");
    check(mprotect(heap, page, PROT_READ) == 0 && mprotect(heap, page, PROT_READ | PROT_WRITE) == 0,
          "mprotect of heap memory, and back");
    heap[0] = 2;
    free(heap);
    char local[64];
    unsigned char vec[1];
    check(mincore((void *)((unsigned long)local & ~(page - 1)), page, vec) == 0, "mincore of the stack");
}

static void *thread_body(void *arg)
{
    size_t page = *(size_t *)arg;
    long bad = 0;
    for (int i = 0; i < 300; i++) {
        char *p = anon(2 * page, PROT_READ | PROT_WRITE);
        if (!p) { bad++; continue; }
        p[0] = 1;
        if (mprotect(p, page, PROT_READ) != 0) bad++;
        if (munmap(p, 2 * page) != 0) bad++;
    }
    return (void *)bad;
}

static void threads(size_t page)
{
    pthread_t ids[4];
    long bad = 0;
    for (int i = 0; i < 4; i++) pthread_create(&ids[i], NULL, thread_body, &page);
    for (int i = 0; i < 4; i++) {
        void *result;
        pthread_join(ids[i], &result);
        bad += (long)result;
    }
    check(bad == 0, "4 threads x 300 mmap, mprotect, munmap");
}

static volatile sig_atomic_t handler_bad = 0, handler_runs = 0;

static void on_signal(int sig)
{
    (void)sig;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || munmap(p, 4096) != 0) handler_bad = 1;
    handler_runs++;
}

static void from_signal_handler(size_t page)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < 50; i++) {
        char *p = anon(page, PROT_READ | PROT_WRITE);
        raise(SIGUSR1);
        if (!p || munmap(p, page) != 0) handler_bad = 1;
    }
    check(handler_runs == 50 && !handler_bad, "mmap and munmap from a signal handler, between the program's own");
}

static void loaded_library(const char *path, size_t page)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    void *(*map)(size_t) = NULL;
    int (*unmap)(void *, size_t) = NULL;
    if (lib) { /* POSIX's way to store dlsym's answer in a function pointer */
        *(void **)&map = dlsym(lib, "plugin_map");
        *(void **)&unmap = dlsym(lib, "plugin_unmap");
    }
    if (!map || !unmap) {
        check(0, "dlopen of the plugin");
        return;
    }
    char *p = map(page);
    check(p != MAP_FAILED && unmap(p, page) == 0, "mmap and munmap from a library loaded with dlopen");
    char *q = map(page);
    check(q != MAP_FAILED && munmap(q, page) == 0, "munmap by the program of the library's mapping");
    dlclose(lib);
}

static void forked_child(size_t page)
{
    char *shared = anon(page, PROT_READ | PROT_WRITE);
    fflush(NULL); /* the child ends with exit, which flushes its copy of stdout */
    pid_t pid = fork();
    if (pid == 0) {
        char *mine = anon(page, PROT_READ | PROT_WRITE);
        int ok = mine && munmap(mine, page) == 0 && munmap(shared, page) == 0;
        exit(ok ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child maps and unmaps (its copy of the parent's mapping too)");
    check(munmap(shared, page) == 0, "the parent unmaps its own copy");
}

static void exec_child(const char *program)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl(program, program, (char *)NULL);
        _exit(127);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork and exec of another program, which exits 0");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN.so [PROGRAM]\n", argv[0]);
        return 2;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    check(early && munmap(early, 4096) == 0, "munmap in main of a mapping made by a constructor");
    split_and_merge(page);
    grow(page);
    file_mapping(page);
    foreign_memory(page);
    threads(page);
    from_signal_handler(page);
    loaded_library(argv[1], page);
    forked_child(page);
    if (argc > 2) exec_child(argv[2]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
