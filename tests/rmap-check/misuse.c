/* A plain C program (no librmap in its build) that misuses mappings three
 * ways: a double unmap, a leak, a write+exec mapping. Under rmap-check each
 * is reported with its line; without it nothing is said. The lines marked
 * LINE: are the ones the reports must name (run.sh finds them). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* misuse past-eof FILE: maps 2 pages of FILE (100 bytes) and reads the
 * second, which has no file behind it: SIGBUS. */
static int past_eof(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return perror(path), 1;
    volatile char *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0); /* LINE: past eof */
    if (p == MAP_FAILED) return perror("mmap"), 1;
    printf("misuse: reading byte 4096 of a 2-page mapping of a 100-byte file\n");
    fflush(stdout);
    return p[4096];
}

/* misuse no-space DIR: on a small file system mounted at DIR, a 2 MiB
 * sparse file mapped shared, the disk then filled, and a store into a hole
 * of the mapping: the file system has no block for it (SIGBUS). */
static int no_space(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sparse", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ftruncate(fd, 2 << 20) != 0) return perror(path), 1;
    volatile char *p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); /* LINE: no space */
    if (p == MAP_FAILED) return perror("mmap"), 1;
    snprintf(path, sizeof path, "%s/filler", dir);
    int filler = open(path, O_WRONLY | O_CREAT, 0600);
    static char block[4096];
    while (filler >= 0 && write(filler, block, sizeof block) == (ssize_t)sizeof block) {
    }
    printf("misuse: the disk is full; writing byte 8192 of the sparse file through the mapping\n");
    fflush(stdout);
    p[8192] = 1;
    return 0;
}

/* misuse behind-back: a mapping unmapped with syscall(SYS_munmap), behind
 * the C library's munmap, and another made there the same way; then munmap
 * of the address, which is not the program's first mapping any more. */
static int behind_back(void)
{
    char *p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return perror("mmap"), 1;
    syscall(SYS_munmap, p, 8192);
    long q = syscall(SYS_mmap, p, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if ((char *)q != p) return perror("syscall(SYS_mmap)"), 1;
    int rc = munmap(p, 8192);
    p[0] = 1; /* still mapped when the munmap was refused */
    printf("misuse: munmap of the replaced mapping returned %d\n", rc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "past-eof") == 0) return past_eof(argv[2]);
    if (argc == 2 && strcmp(argv[1], "behind-back") == 0) return behind_back();
    if (argc == 3 && strcmp(argv[1], "no-space") == 0) return no_space(argv[2]);
    /* misuse exit N, misuse sleep N: rmap-check passes on a status and a signal. */
    if (argc == 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
    if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
        printf("sleeping\n");
        fflush(stdout);
        sleep((unsigned)atoi(argv[2]));
        return 0;
    }
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return perror("mmap"), 1;
    page[0] = 1;
    munmap(page, 4096); /* LINE: first unmap */
    int again = munmap(page, 4096); /* LINE: double unmap */
    char *kept = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* LINE: leak */
    char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* LINE: write-exec */
    if (kept == MAP_FAILED || code == MAP_FAILED) return perror("mmap"), 1;
    munmap(code, 4096);
    printf("misuse: second munmap returned %d; 8192 bytes left mapped\n", again);
    return 0;
}
