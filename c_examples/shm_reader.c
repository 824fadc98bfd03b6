/* From the article "mmap basics" (mmap基础用例), "process A": watches a shared file mapping for changes.
 * Changes from the original: mmap renamed to rmap_map; errors end the
 * program; the endless 2-second loop is bounded: it polls every 10 ms, prints
 * the content each time it changes, and stops when byte 20 becomes the
 * character given as STOP, or after 10 seconds.
 * Usage: shm_reader FILE STOP */
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "rmap.h"

int main(int argc, char **argv)
{
    int fd;
    struct stat sb;
    char *mapped;

    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE STOP\n", argv[0]);
        return 2;
    }
    setbuf(stdout, NULL);

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
    if ((mapped = (char *)rmap_map(NULL, sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == RMAP_FAILED) {
        perror("rmap_map");
        return 1;
    }

    /* 文件已在内存, 关闭文件也可以操纵内存 */
    close(fd);

    /* 查看存储映射区是否被修改 (bounded: 1000 polls of 10 ms) */
    char last[256] = "";
    size_t n = (size_t)sb.st_size < sizeof last - 1 ? (size_t)sb.st_size : sizeof last - 1;
    for (int i = 0; i < 1000; i++) {
        if (memcmp(last, mapped, n) != 0) {
            memcpy(last, mapped, n);
            printf("%.*s\n", (int)n, last);
        }
        if (mapped[20] == argv[2][0])
            return 0;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    fprintf(stderr, "shm_reader: no '%c' at offset 20 after 10 s\n", argv[2][0]);
    return 1;
}
