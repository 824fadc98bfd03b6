/* From the article "mmap basics" (mmap基础用例): access beyond the file size in a 2-page mapping of a short file.
 * The original's comments mislabel the faults. What Linux really does, for a
 * file shorter than one page:
 *   p_map[sb.st_size] = '9'  inside the last page: works, never reaches the file;
 *   p_map[pagesize]  = '9'   first page wholly past end of file: SIGBUS;
 *   p_map[2*pagesize]        past the mapping: SIGSEGV.
 * Each access runs on its own (ACCESS picks one), so a harness can check the
 * outcome of each. Calls renamed to rmap_*; errors checked; the page after
 * the mapping is unmapped on purpose, so "past the mapping" is a real hole.
 * eof-page-tolerant (librmap's addition): the same write after
 * rmap_tolerate: the program goes on, and librmap tells what was lost.
 * Usage: past_eof FILE inside|eof-page|past-mapping|eof-page-tolerant */
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "rmap.h"

int main(int argc, char **argv)
{
    int fd;
    long pagesize;
    char *p_map;
    struct stat sb;

    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE inside|eof-page|past-mapping|eof-page-tolerant\n", argv[0]);
        return 2;
    }
    setbuf(stdout, NULL);

    /* 取得page size */
    pagesize = sysconf(_SC_PAGESIZE);
    printf("pagesize is %ld\n", pagesize);

    /* 打开文件 */
    fd = open(argv[1], O_RDWR, 00777);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        perror(argv[1]);
        return 1;
    }
    printf("file size is %zd\n", (size_t)sb.st_size);
    if (sb.st_size >= pagesize) {
        fprintf(stderr, "the file must be shorter than one page\n");
        return 1;
    }

    /* Three pages, then drop the third: a hole right after our two pages. */
    p_map = (char *)rmap_map(NULL, pagesize * 3, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p_map == RMAP_FAILED || rmap_unmap(p_map + pagesize * 2, pagesize) != 0) {
        perror("rmap_map");
        return 1;
    }
    close(fd);

    if (strcmp(argv[2], "inside") == 0) {
        p_map[sb.st_size] = '9'; /* inside the last page: no fault */
        if (rmap_sync(p_map, pagesize, MS_SYNC) != 0) {
            perror("rmap_sync");
            return 1;
        }
        printf("wrote '9' at offset %zd, inside the last page: no fault\n", (size_t)sb.st_size);
    } else if (strcmp(argv[2], "eof-page") == 0) {
        printf("writing offset %ld, the first page wholly past end of file\n", pagesize);
        p_map[pagesize] = '9'; /* SIGBUS */
    } else if (strcmp(argv[2], "eof-page-tolerant") == 0) {
        if (rmap_tolerate(p_map, pagesize * 2) != 0) {
            perror("rmap_tolerate");
            return 1;
        }
        printf("rmap_tolerate(p_map, 2 pages); writing offset %ld, the first page wholly past end of file\n",
               pagesize);
        p_map[pagesize] = '9'; /* no SIGBUS: the page is replaced by zeros, then written */
        printf("the program goes on: p_map[%ld] is '%c' (in memory only)\n", pagesize, p_map[pagesize]);
        struct rmap_info info;
        off_t lost[2];
        ssize_t n = rmap_losses(p_map, pagesize * 2, lost, 2);
        int synced = rmap_sync(p_map, pagesize * 2, MS_SYNC), sync_errno = errno;
        if (rmap_query(p_map, &info) != 0 || n != 1) {
            perror("rmap_query");
            return 1;
        }
        printf("librmap says: file offset %lld was lost; rmap_query flags %s; rmap_sync -> %d (%s)\n",
               (long long)lost[0], info.flags & RMAP_INFO_DAMAGED ? "RMAP_INFO_DAMAGED" : "-", synced,
               synced ? strerror(sync_errno) : "ok");
    } else if (strcmp(argv[2], "past-mapping") == 0) {
        printf("writing offset %ld, past the mapping\n", pagesize * 2);
        p_map[pagesize * 2] = '9'; /* SIGSEGV */
    } else {
        fprintf(stderr, "unknown access %s\n", argv[2]);
        return 2;
    }

    rmap_unmap(p_map, pagesize * 2);
    return 0;
}
