/* From the article "mmap basics" (mmap基础用例), example 1: modify a file through a shared mapping, then MS_SYNC.
 * Changes from the original: mmap/msync/munmap renamed to rmap_*; the offset
 * `o` typed for 0; the missing brace after the msync check; errors now end
 * the program instead of falling through; unused `nread` removed.
 * Usage: shared_modify FILE (FILE must be at least 21 bytes long). */
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
    /* 打开文件 */
    if ((fd = open(argv[1], O_RDWR)) < 0) {
        perror("open");
        return 1;
    }

    /* 获取文件的属性 */
    if ((fstat(fd, &sb)) == -1) {
        perror("fstat");
        return 1;
    }

    /* 将文件映射至进程的地址空间 */
    if ((mapped = rmap_map(NULL, sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == RMAP_FAILED) {
        perror("rmap_map");
        return 1;
    }

    /* 修改一个字符，同步到磁盘文件 */
    mapped[20] = '9';
    if ((rmap_sync((void *)mapped, sb.st_size, MS_SYNC)) == -1) {
        perror("rmap_sync");
        return 1;
    }

    /* 释放存储映射区 */
    if ((rmap_unmap((void *)mapped, sb.st_size)) == -1) {
        perror("rmap_unmap");
        return 1;
    }
    printf("wrote '9' at offset 20 through MAP_SHARED and synced\n");
    return 0;
}
