/* From the article "mmap basics" (mmap基础用例), example 2: a private mapping cannot modify the file.
 * The original is a fragment of example 1 with MAP_PRIVATE; completed here
 * the same way (calls renamed to rmap_*, errors checked).
 * Usage: private_modify FILE (FILE must be at least 21 bytes long). */
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "rmap.h"

int main(int argc, char *argv[])
{
    int fd;
    struct stat sb;
    char *mapped;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    if ((fd = open(argv[1], O_RDWR)) < 0) {
        perror("open");
        return 1;
    }
    if ((fstat(fd, &sb)) == -1) {
        perror("fstat");
        return 1;
    }

    /* 将文件私有映射到进程的地址空间 */
    if ((mapped = (char *)rmap_map(NULL, sb.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)) == RMAP_FAILED) {
        perror("rmap_map");
        return 1;
    }

    mapped[20] = '9';
    if ((rmap_sync((void *)mapped, sb.st_size, MS_SYNC)) == -1) {
        perror("rmap_sync");
        return 1;
    }
    printf("private copy now has '%c' at offset 20\n", mapped[20]);
    if ((rmap_unmap((void *)mapped, sb.st_size)) == -1) {
        perror("rmap_unmap");
        return 1;
    }
    return 0;
}
