/* From the article on mmap for interprocess communication (after UNP vol. 2): a process-shared semaphore and a counter in a
 * MAP_SHARED file mapping; parent and child increment 3 times each.
 * Changes from the original: mmap renamed to rmap_map; the fixed path
 * /tmp/shared became argv[1]; open, write, map, sem_init and fork are
 * checked; the parent waits for the child and prints the final count (the
 * original exited first, so the child's lines could come after the shell
 * prompt). */
#include <stdio.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <semaphore.h>
#include "rmap.h"

struct shared {
    sem_t mutex; /* the mutex: a Posix memory-based semaphore */
    int count;   /* and the counter */
} shared;

int main(int argc, char **argv)
{
    int fd, i, nloop;
    struct shared *ptr;
    nloop = 3;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    /* open file, initialize to 0, map into memory */
    fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        exit(1);
    }
    if (write(fd, &shared, sizeof(struct shared)) != (ssize_t)sizeof(struct shared)) {
        perror("write");
        exit(1);
    }
    ptr = rmap_map(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ptr == RMAP_FAILED) {
        perror("rmap_map");
        exit(1);
    }
    close(fd);

    /* initialize semaphore that is shared between processes */
    if (sem_init(&ptr->mutex, 1, 1) != 0) {
        perror("sem_init");
        exit(1);
    }

    setbuf(stdout, NULL); /* stdout is unbuffered */
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) { /* child */
        for (i = 0; i < nloop; i++) {
            sem_wait(&ptr->mutex);
            printf("child: %d\n", ptr->count++);
            sem_post(&ptr->mutex);
        }
        exit(0);
    }

    /* parent */
    for (i = 0; i < nloop; i++) {
        sem_wait(&ptr->mutex);
        printf("parent: %d\n", ptr->count++);
        sem_post(&ptr->mutex);
    }
    waitpid(pid, NULL, 0);
    printf("final count: %d\n", ptr->count);
    exit(0);
}
