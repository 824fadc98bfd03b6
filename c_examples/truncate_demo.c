/* The problem rmap_read solves: another process truncates a mapped file.
 * Usage: truncate_demo FILE plain|guarded
 * plain:   reads the mapping through a pointer -> the process dies of SIGBUS;
 * guarded: reads it with rmap_read -> an EIO error, and the program goes on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "rmap.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE plain|guarded\n", argv[0]);
        return 2;
    }
    setbuf(stdout, NULL);
    int fd = open(argv[1], O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        perror(argv[1]);
        return 1;
    }
    size_t len = (size_t)st.st_size;
    char *map = rmap_map(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (map == RMAP_FAILED) {
        perror("rmap_map");
        return 1;
    }
    printf("mapped %zu bytes; another process truncates the file to 0\n", len);
    if (fork() == 0)
        _exit(ftruncate(fd, 0) == 0 ? 0 : 1);
    wait(NULL);

    char buf[64];
    if (strcmp(argv[2], "plain") == 0) {
        memcpy(buf, map, sizeof buf); /* SIGBUS: the process dies here */
        printf("read through a pointer: unreachable\n");
    } else if (rmap_read(buf, map, sizeof buf) == -1) {
        printf("rmap_read: %s at byte %zu; the program goes on\n", strerror(errno), rmap_copied());
    }
    return rmap_unmap(map, len) == 0 ? 0 : 1;
}
