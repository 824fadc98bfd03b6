/* sweep: the cross product of awkward arguments (combined faults included),
 * called through libc and through librmap in this one process; every result
 * (return class and errno) must agree.
 *
 * Under valgrind, which emulates mmap itself, every tuple runs and nothing
 * is compared.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

static unsigned long sweep_count, sweep_mismatch;

static void sweep_report(const char *call, outcome_t l, outcome_t r, const char *args)
{
    sweep_count++;
    if (same(l, r)) return;
    sweep_mismatch++;
    char a[64], b[64];
    if (sweep_mismatch <= 20)
        printf("     sweep mismatch: %s(%s): libc %s, rmap %s\n", call, args, describe(l, a, sizeof a), describe(r, b, sizeof b));
}

static outcome_t sweep_map(const api_t *a, void *addr, size_t len, int prot, int flags, int fd, off_t off, char *region, size_t region_len)
{
    errno = 0;
    char *p = a->map(addr, len, prot, flags, fd, off);
    outcome_t o = of_map(p);
    if (p != MAP_FAILED) munmap(p, len);
    /* MAP_FIXED may have replaced part of the region: restore it. */
    if (mmap(region, region_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != region) die("restore region");
    return o;
}

/* Lays out the region: pages 1-2 a shared file mapping, 3 a hole, 4-5 anonymous. */
static void layout(const fixture_t *fx, char *region, size_t region_pages)
{
    munmap(region, region_pages * PG);
    if (mmap(region + PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fx->rw, 0) == MAP_FAILED ||
        mmap(region + 4 * PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
        die("layout");
}

/* protect, advise, unlock and resident over the same starts and lengths:
 * each call through libc, then the layout again, then through librmap. */
static void sweep_new_calls(const fixture_t *fx, char *region, size_t region_pages, char *const *starts, size_t nstarts,
                            const size_t *lens, size_t nlens)
{
    const int prots[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_GROWSDOWN,
                         PROT_READ | PROT_GROWSUP, PROT_GROWSDOWN | PROT_GROWSUP, 0x40, PROT_READ | 0x8, -1};
    const int advice[] = {MADV_NORMAL, MADV_WILLNEED, MADV_DONTNEED, MADV_DONTFORK, MADV_DOFORK, 9999, -1};
    static unsigned char vec[1 << 20];
    char args[200];
    for (size_t si = 0; si < nstarts; si++)
    for (size_t li = 0; li < nlens; li++) {
        char *at = starts[si];
        size_t len = lens[li];
        /* protect and advise change what they reach (up to the first hole, or
         * everywhere mapped): run only ranges inside the region, below it where
         * nothing is mapped, or wrapping (which the kernel refuses first). */
        int inside = (at && (uintptr_t)at < USER_SPACE_END && len <= (size_t)(region + region_pages * PG - at)) ||
                     (!at && len <= region_pages * PG) || (uintptr_t)at + len + PG - 1 < (uintptr_t)at;
        for (size_t pi = 0; pi < sizeof prots / sizeof *prots; pi++) {
            if (!inside) continue;
            snprintf(args, sizeof args, "%p, %zu, %#x", (void *)at, len, prots[pi]);
            layout(fx, region, region_pages);
            errno = 0;
            outcome_t l = of_rc(LIBC.protect(at, len, prots[pi]));
            layout(fx, region, region_pages);
            errno = 0;
            outcome_t r = of_rc(RMAP.protect(at, len, prots[pi]));
            sweep_report("protect", l, r, args);
        }
        for (size_t ai = 0; ai < sizeof advice / sizeof *advice; ai++) {
            if (!inside) continue;
            snprintf(args, sizeof args, "%p, %zu, %d", (void *)at, len, advice[ai]);
            layout(fx, region, region_pages);
            errno = 0;
            outcome_t l = of_rc(LIBC.advise(at, len, advice[ai]));
            layout(fx, region, region_pages);
            errno = 0;
            outcome_t r = of_rc(RMAP.advise(at, len, advice[ai]));
            sweep_report("advise", l, r, args);
        }
        for (size_t off = 0; off < 2 && !under_asan(); off++) { /* ASan stubs munlock */
            snprintf(args, sizeof args, "%p, %zu", (void *)(at + off), len);
            layout(fx, region, region_pages);
            errno = 0;
            outcome_t l = of_rc(LIBC.unlock(at + off, len));
            errno = 0;
            outcome_t r = of_rc(RMAP.unlock(at + off, len));
            sweep_report("unlock", l, r, args);
        }
        unsigned char *vecs[] = {vec, (unsigned char *)hole(1), (unsigned char *)(UINTPTR_MAX - 10)};
        for (size_t vi = 0; vi < sizeof vecs / sizeof *vecs; vi++) {
            if (len / PG > sizeof vec && vi == 0) continue;
            snprintf(args, sizeof args, "%p, %zu, vec#%zu", (void *)at, len, vi);
            layout(fx, region, region_pages);
            errno = 0;
            outcome_t l = of_rc(LIBC.resident(at, len, vecs[vi]));
            errno = 0;
            outcome_t r = of_rc(RMAP.resident(at, len, vecs[vi]));
            sweep_report("resident", l, r, args);
        }
    }
}

static void sweep(void)
{
    fixture_t fx = fixture();
    const size_t region_pages = 16;
    char *region = mmap(NULL, region_pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) die("region");
    const size_t lens[] = {0, 1, PG - 1, PG, PG + 1, 3 * PG, (size_t)1 << 46, (size_t)1 << 47,
                           SIZE_MAX - 2 * PG, SIZE_MAX - PG + 1, SIZE_MAX};
    const off_t offs[] = {0, 1, (off_t)PG, (off_t)PG - 1, -1, -(off_t)PG,
                          (off_t)((INT64_MAX - (int64_t)PG + 1) & ~((int64_t)PG - 1)), INT64_MIN};
    const int prots[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC, 0x10};
    const int types[] = {0, MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, 0x04, MAP_DROPPABLE, 0x0f};
    const int extras[] = {0, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_ANONYMOUS | MAP_FIXED,
                          MAP_HUGETLB, MAP_ANONYMOUS | MAP_HUGETLB, MAP_GROWSDOWN, MAP_SYNC, MAP_NORESERVE};
    const int fds[] = {fx.rw, fx.ro, fx.wo, fx.small, fx.empty, fx.pipe_r, fx.dir, fx.devzero,
                       fx.memfd, fx.sealed, fx.closed, fx.opath, -1};
    char args[200];
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
    for (size_t oi = 0; oi < sizeof offs / sizeof *offs; oi++)
    for (size_t pi = 0; pi < sizeof prots / sizeof *prots; pi++)
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
    for (size_t ei = 0; ei < sizeof extras / sizeof *extras; ei++)
    for (size_t fi = 0; fi < sizeof fds / sizeof *fds; fi++) {
        size_t len = lens[li];
        int flags = types[ti] | extras[ei];
        /* MAP_FIXED only inside our region, or where the kernel must refuse. */
        void *addrs[3] = {NULL, NULL, NULL};
        int naddr = 1;
        if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
            naddr = 0;
            if (len <= region_pages * PG) {
                addrs[naddr++] = region + PG;
                addrs[naddr++] = region + 7;
            }
            addrs[naddr++] = (void *)(uintptr_t)(0 - 64 * PG + 3);
        }
        /* Keep the sweep cheap: prot varies only for the common flag sets. */
        if (pi != 1 && pi != 2 && ei > 1) continue;
        for (int ai = 0; ai < naddr; ai++) {
            snprintf(args, sizeof args, "%p, %zu, %#x, %#x, fd#%zu, %lld", addrs[ai], len, prots[pi], flags, fi,
                     (long long)offs[oi]);
            outcome_t l = sweep_map(&LIBC, addrs[ai], len, prots[pi], flags, fds[fi], offs[oi], region, region_pages * PG);
            outcome_t r = sweep_map(&RMAP, addrs[ai], len, prots[pi], flags, fds[fi], offs[oi], region, region_pages * PG);
            sweep_report("map", l, r, args);
        }
    }

    /* sync and unmap: ranges inside a mapped/unmapped layout of the region. */
    const int sflags[] = {0, MS_ASYNC, MS_SYNC, MS_INVALIDATE, MS_ASYNC | MS_SYNC, MS_SYNC | MS_INVALIDATE,
                          MS_ASYNC | MS_INVALIDATE, 0x100, -1};
    const size_t slens[] = {0, 1, PG, 2 * PG, 5 * PG, SIZE_MAX - PG, SIZE_MAX, (size_t)1 << 47};
    char *starts[] = {region + PG, region + PG + 1, region + 4 * PG, NULL, (char *)OUTSIDE_USER_SPACE,
                      (char *)(uintptr_t)(0 - 2 * PG)};
    for (size_t si = 0; si < sizeof starts / sizeof *starts; si++)
    for (size_t li = 0; li < sizeof slens / sizeof *slens; li++) {
        /* Layout: pages 1-2 a shared file mapping, 3 a hole, 4-5 anonymous. */
        munmap(region, region_pages * PG);
        if (mmap(region + PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fx.rw, 0) == MAP_FAILED ||
            mmap(region + 4 * PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
            die("layout");
        for (size_t fi = 0; fi < sizeof sflags / sizeof *sflags; fi++) {
            snprintf(args, sizeof args, "%p, %zu, %#x", (void *)starts[si], slens[li], sflags[fi]);
            errno = 0;
            outcome_t l = of_rc(LIBC.sync(starts[si], slens[li], sflags[fi]));
            errno = 0;
            outcome_t r = of_rc(RMAP.sync(starts[si], slens[li], sflags[fi]));
            sweep_report("sync", l, r, args);
        }
        /* Unmapping must not reach past the region unless the kernel refuses. */
        int inside = starts[si] && (uintptr_t)starts[si] < USER_SPACE_END &&
                     slens[li] <= (size_t)(region + region_pages * PG - starts[si]);
        int refused = !starts[si] ? 0 : (uintptr_t)starts[si] >= USER_SPACE_END || ((uintptr_t)starts[si] % PG);
        if (!inside && !refused && !(starts[si] == NULL && slens[li] <= 16 * PG)) continue;
        snprintf(args, sizeof args, "%p, %zu", (void *)starts[si], slens[li]);
        errno = 0;
        outcome_t l = of_rc(LIBC.unmap(starts[si], slens[li]));
        if (mmap(region, region_pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != region) die("region");
        errno = 0;
        outcome_t r = of_rc(RMAP.unmap(starts[si], slens[li]));
        sweep_report("unmap", l, r, args);
    }
    if (mmap(region, region_pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != region) die("region");
    /* valgrind 3.19 itself crashes (an internal SIGSEGV) on some of these
     * ranges with holes; the conformance cases run the calls under it. */
    if (under_valgrind())
        printf("skip the sweep of protect, advise, lock, unlock, remap, resident: valgrind crashes on ranges with holes\n");
    else
        sweep_new_calls(&fx, region, region_pages, starts, sizeof starts / sizeof *starts, slens,
                        sizeof slens / sizeof *slens);
}


int main(void)
{
    harness_init();
    sweep();
    if (under_valgrind()) {
        printf("ran  sweep: %lu argument tuples (not compared under valgrind)\n", sweep_count);
        return finish("sweep", 0, 0, 1);
    }
    if (sweep_mismatch == 0) {
        printf("ok   sweep: %lu argument tuples, libc and rmap agree on every one\n", sweep_count);
        return finish("sweep", 1, 0, 0);
    }
    printf("FAIL sweep: %lu of %lu argument tuples disagree\n", sweep_mismatch, sweep_count);
    return finish("sweep", 0, 1, 0);
}
