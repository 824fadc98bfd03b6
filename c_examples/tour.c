/* tour: what librmap adds to mmap, in three short acts (make demo runs it).
 *   1. the errno contract: wrong calls through libc and librmap, side by side
 *   2. the registry: rmap_query, rmap_foreach and rmap_stats on two mappings
 *   3. checked mode, switched on by the program itself: a double unmap
 * (mistakes.c shows the rest: rmap_read turns SIGBUS into EIO, and checked
 * mode's other reports.) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rmap.h"

static const char *name_of(int rc_failed, int e) { return rc_failed ? strerrorname_np(e) : "success"; }

/* One wrong call, made through libc and through librmap. */
#define SIDE_BY_SIDE(what, libc_call, rmap_call, failed)                                          \
    do {                                                                                         \
        errno = 0;                                                                               \
        int libc_failed = (libc_call) failed, libc_errno = errno;                                \
        errno = 0;                                                                               \
        int rmap_failed = (rmap_call) failed, rmap_errno = errno;                                \
        printf("  %-52s libc %-8s librmap %s\n", what, name_of(libc_failed, libc_errno),          \
               name_of(rmap_failed, rmap_errno));                                                \
    } while (0)

static void errno_contract(void)
{
    size_t pg = rmap_pagesize();
    char *p = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    puts("1. The errno contract: the same wrong calls through libc and through librmap");
    SIDE_BY_SIDE("map 0 bytes", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                 rmap_map(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), == MAP_FAILED);
    SIDE_BY_SIDE("map a file at offset 1 (not page aligned)", mmap(NULL, pg, PROT_READ, MAP_SHARED, 0, 1),
                 rmap_map(NULL, pg, PROT_READ, MAP_SHARED, 0, 1), == MAP_FAILED);
    SIDE_BY_SIDE("map fd -1 without MAP_ANONYMOUS", mmap(NULL, pg, PROT_READ, MAP_SHARED, -1, 0),
                 rmap_map(NULL, pg, PROT_READ, MAP_SHARED, -1, 0), == MAP_FAILED);
    SIDE_BY_SIDE("sync with both MS_SYNC and MS_ASYNC", msync(p, pg, MS_SYNC | MS_ASYNC),
                 rmap_sync(p, pg, MS_SYNC | MS_ASYNC), != 0);
    SIDE_BY_SIDE("unmap at an address that is not page aligned", munmap(p + 1, pg), rmap_unmap(p + 1, pg), != 0);
    puts("  Each is an ERRORS entry of rmap.h (man rmap_map), proven against the kernel by make check.\n");
    munmap(p, 2 * pg);
}

static int print_one(const struct rmap_info *info, void *ctx)
{
    (void)ctx;
    printf("    %p  %6zu bytes  prot %c%c%c  %s, offset %lld\n", info->start, info->length,
           info->prot & PROT_READ ? 'r' : '-', info->prot & PROT_WRITE ? 'w' : '-', info->prot & PROT_EXEC ? 'x' : '-',
           info->ino ? "file" : "anonymous", (long long)info->offset);
    return 0;
}

static void registry(void)
{
    size_t pg = rmap_pagesize();
    puts("2. The registry: librmap records every mapping, as the kernel keeps it");
    char *anon = rmap_map(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FILE *tmp = tmpfile();
    if (anon == RMAP_FAILED || !tmp || ftruncate(fileno(tmp), (off_t)(4 * pg)) != 0) exit(1);
    char *file = rmap_map(NULL, 2 * pg, PROT_READ, MAP_SHARED, fileno(tmp), (off_t)pg);
    if (file == RMAP_FAILED) exit(1);
    printf("  anon = rmap_map(3 pages of anonymous memory)          -> %p\n", (void *)anon);
    printf("  file = rmap_map(2 pages of a 4-page file, at offset %zu) -> %p\n", pg, (void *)file);
    struct rmap_info info;
    if (rmap_query(anon + pg + 123, &info) == 0)
        printf("  rmap_query(anon + %zu), an address inside anon's second page: the mapping at %p, %zu bytes\n",
               pg + 123, info.start, info.length);
    rmap_unmap(anon + pg, pg);
    puts("  after rmap_unmap of its middle page, rmap_foreach sees the split:");
    rmap_foreach(print_one, NULL);
    struct rmap_stats st;
    rmap_stats(&st);
    printf("  rmap_stats: live_mappings %zu, live_bytes %zu; maps %llu, unmaps %llu so far\n\n", st.live_mappings,
           st.live_bytes, (unsigned long long)st.maps, (unsigned long long)st.unmaps);
    rmap_unmap(anon, 3 * pg);
    rmap_unmap(file, 2 * pg);
    fclose(tmp);
}

static void checked_mode(void)
{
    size_t pg = rmap_pagesize();
    puts("3. Checked mode (RMAP_CHECK=1, or rmap_set_check): a double unmap");
    rmap_set_check(RMAP_CHECK_REPORT);
    char *p = rmap_map(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("  rmap_unmap(p) -> %d\n", rmap_unmap(p, pg));
    fflush(stdout);
    int rc = rmap_unmap(p, pg);
    printf("  rmap_unmap(p) again -> %d, errno %s: refused, with the line above on stderr\n", rc,
           rc ? strerrorname_np(errno) : "-");
    puts("  (munmap returns 0 here, and would unmap whatever was mapped at p since)");
    rmap_set_check(RMAP_CHECK_OFF);
}

int main(void)
{
    setbuf(stdout, NULL);
    errno_contract();
    registry();
    checked_mode();
    return 0;
}
