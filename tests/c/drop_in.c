/* drop_in: code written for <sys/mman.h> becomes librmap's by renaming.
 *
 * Below the #defines, this file calls mmap, mprotect, madvise, mlock,
 * munlock, mremap (with four arguments and with five), mincore, msync and
 * munmap exactly as it would call libc. It must build with
 * -std=c11 -Wall -Wextra -Wpedantic -Werror, and every call must have gone
 * to librmap: its registry knows the results.
 */
#include <errno.h>
#include <linux/mman.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define mmap rmap_map
#define msync rmap_sync
#define munmap rmap_unmap
#define mprotect rmap_protect
#define madvise rmap_advise
#define mlock rmap_lock
#define munlock rmap_unlock
#define mremap rmap_remap
#define mincore rmap_resident

static int recorded(void *p, size_t len, int prot)
{
    struct rmap_info info;
    return rmap_query(p, &info) == 0 && info.start == p && info.length == len && info.prot == prot;
}

static int calls_written_for_libc(void)
{
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    strcpy(p, "renamed");
    int ok = check(recorded(p, PG, PROT_READ | PROT_WRITE), "mmap went to librmap");
    char *q = mremap(p, PG, 3 * PG, MREMAP_MAYMOVE);
    ok &= check(q != MAP_FAILED && recorded(q, 3 * PG, PROT_READ | PROT_WRITE) && strcmp(q, "renamed") == 0,
                "mremap with four arguments grew it, through librmap");
    char *t = hole(4);
    char *r = mremap(q, 3 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
    ok &= check(r == t && recorded(t, 3 * PG, PROT_READ | PROT_WRITE) && strcmp(t, "renamed") == 0,
                "mremap with five arguments moved it to the fifth");
    ok &= check(mprotect(t, PG, PROT_READ) == 0 && recorded(t, PG, PROT_READ), "mprotect split the record");
    ok &= check(madvise(t, 3 * PG, MADV_WILLNEED) == 0, "madvise");
    ok &= check(mlock(t, PG) == 0 && munlock(t, PG) == 0, "mlock and munlock");
    unsigned char vec[3];
    ok &= check(mincore(t, 3 * PG, vec) == 0 && (vec[0] & 1), "mincore: the written page is resident");
    ok &= check(msync(t, 3 * PG, MS_ASYNC) == 0, "msync");
    ok &= check(munmap(t, 3 * PG) == 0 && rmap_query(t, &(struct rmap_info){0}) == -1 && errno == ENOENT,
                "munmap forgot it");
    printf("     nine calls written for libc, renamed by #define, all answered by librmap\n");
    return ok ? 0 : 1;
}

static const test_t TESTS[] = {
    K(calls_written_for_libc),
};

int main(int argc, char **argv)
{
    harness_init();
    return run_tests("drop_in", TESTS, sizeof TESTS / sizeof *TESTS, argc > 1 ? argv[1] : NULL);
}
