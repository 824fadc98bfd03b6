/* From the article "mmap basics" (mmap基础用例), "process B": changes byte 20 of a file mapping.
 * The original always used MAP_PRIVATE (so process A never sees the change);
 * here MODE picks MAP_PRIVATE or MAP_SHARED so both halves of the lesson run.
 * Calls renamed to rmap_*; errors end the program.
 * Usage: shm_writer FILE private|shared CHAR */
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "rmap.h"

int main(int argc, char **argv)
{
    int fd;
    struct stat sb;
    char *mapped;

    if (argc != 4 || (strcmp(argv[2], "private") != 0 && strcmp(argv[2], "shared") != 0)) {
        fprintf(stderr, "usage: %s FILE private|shared CHAR\n", argv[0]);
        return 2;
    }
    int flags = strcmp(argv[2], "shared") == 0 ? MAP_SHARED : MAP_PRIVATE;

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
    /* 私有文件映射将无法修改文件 */
    if ((mapped = (char *)rmap_map(NULL, sb.st_size, PROT_READ | PROT_WRITE, flags, fd, 0)) == RMAP_FAILED) {
        perror("rmap_map");
        return 1;
    }

    /* 映射完后, 关闭文件也可以操纵内存 */
    close(fd);

    /* 修改一个字符 */
    mapped[20] = argv[3][0];
    printf("%s mapping: wrote '%c' at offset 20\n", argv[2], argv[3][0]);

    return 0;
}
