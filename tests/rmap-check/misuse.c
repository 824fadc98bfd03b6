/* A plain C program (no librmap in its build) that misuses mappings three
 * ways: a double unmap, a leak, a write+exec mapping. Under rmap-check each
 * is reported with its line; without it nothing is said. The lines marked
 * LINE: are the ones the reports must name (run.sh finds them). */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

int main(void)
{
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
