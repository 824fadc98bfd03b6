/* From the article on mmap for interprocess communication: after fork, a malloc'd counter is not shared; for contrast, the
 * same loop on a MAP_SHARED|MAP_ANONYMOUS counter is.
 * The original (malloc only) never calls mmap; the shared half is added so
 * the lesson shows both sides. The parent's sleep(1) became a waitpid. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "rmap.h"

int *a = NULL;

int main(void)
{
    int fork_rv, i;
    int *shared;

    a = malloc(sizeof(int));
    if (a == NULL) {
        perror("malloc");
        exit(1);
    }
    *a = 1;
    shared = rmap_map(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == RMAP_FAILED) {
        perror("rmap_map");
        exit(1);
    }
    *shared = 1;
    setbuf(stdout, NULL);

    fork_rv = fork();
    if (fork_rv < 0) {
        perror("fork error");
        exit(1);
    }
    if (fork_rv == 0) { // child
        for (i = 0; i < 3; i++) {
            printf("child: %d\n", (*a)++);
            (*shared)++;
        }
        exit(0);
    } else { // parent
        waitpid(fork_rv, NULL, 0);
        printf("a: %d\n", *a);
        printf("shared: %d\n", *shared);
    }
    return rmap_unmap(shared, sizeof(int)) == 0 ? 0 : 1;
}
